/* config.h — the process configuration, read once from the environment (PRODUCT.md lists the
 * variables). Nothing else reads getenv for settings. */
#ifndef DHIS2SYNC_CONFIG_H
#define DHIS2SYNC_CONFIG_H

#include <stddef.h>

#include "err.h"

#define DHIS2SYNC_VERSION "0.1.0"

struct config {
    int port;                   /* DHIS2SYNC_PORT, 4999 */
    const char *database_url;   /* DATABASE_URL; NULL = private cluster under var/pg */
    const char *mappings_dir;   /* DHIS2SYNC_MAPPINGS, ./mappings */
    const char *secret_key;     /* DHIS2SYNC_SECRET_KEY; NULL = var/secret.key */
    const char *admin_user;     /* DHIS2SYNC_ADMIN_USER, admin */
    const char *admin_password; /* DHIS2SYNC_ADMIN_PASSWORD; NULL = no first admin */
    const char *log_level;      /* DHIS2SYNC_LOG */
    const char *log_format;     /* DHIS2SYNC_LOG_FORMAT */
    size_t max_body;            /* DHIS2SYNC_MAX_BODY, bytes, 10 MB */
    int metrics_public;         /* DHIS2SYNC_METRICS_PUBLIC=1: GET /metrics without auth */
    int http_threads;           /* DHIS2SYNC_HTTP_THREADS, 4 */
    int workers;                /* DHIS2SYNC_WORKERS: concurrent runs per process, 2 */
    int watermark_overlap_s;    /* DHIS2SYNC_WATERMARK_OVERLAP: seconds an incremental run
                                   reads back before its watermark, 300 */
    const char *var_dir;        /* var */
    const char *db_dir;         /* db */
    const char *web_dir;        /* web */
    const char *scripts_dir;    /* scripts */
};

/* Fills c from the environment; an invalid value is an error naming the variable. */
int config_load(struct config *c, struct err *e);

#endif
