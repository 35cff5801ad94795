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
    const char *trusted_proxies; /* DHIS2SYNC_TRUSTED_PROXIES: addresses (comma-separated) of
                                    reverse proxies whose X-Forwarded-* headers are believed,
                                    besides loopback */
    int watermark_overlap_s;    /* DHIS2SYNC_WATERMARK_OVERLAP: seconds an incremental run
                                   reads back before its watermark, 300 */
    int sched_tick_ms;          /* DHIS2SYNC_SCHED_TICK_MS: how often the scheduler looks, 1000 */
    int heartbeat_ms;           /* DHIS2SYNC_HEARTBEAT_MS: run heartbeat and orphan check, 5000 */
    int orphan_after_s;         /* DHIS2SYNC_ORPHAN_AFTER_S: a run silent this long is orphaned, 60 */
    const char *smtp_url;       /* DHIS2SYNC_SMTP_URL: smtp://host:port or smtps://; NULL = no e-mail */
    const char *smtp_from;      /* DHIS2SYNC_SMTP_FROM; NULL = dhis2sync@<hostname> */
    const char *smtp_user;      /* DHIS2SYNC_SMTP_USER; NULL = no SMTP authentication */
    const char *smtp_password;  /* DHIS2SYNC_SMTP_PASSWORD */
    const char *public_url;     /* DHIS2SYNC_PUBLIC_URL: base of links in notifications; NULL = none */
    int notify_retry_ms;        /* DHIS2SYNC_NOTIFY_RETRY_MS: first backoff between attempts, 2000 */
    long retry_max_delay_ms;    /* DHIS2SYNC_RETRY_MAX_DELAY_MS: the longest single wait of a run
                                   riding out an outage, 30000 (tests make it short) */
    const char *var_dir;        /* var */
    const char *db_dir;         /* db */
    const char *web_dir;        /* web */
    const char *scripts_dir;    /* scripts */
};

/* Fills c from the environment; an invalid value is an error naming the variable. */
int config_load(struct config *c, struct err *e);

#endif
