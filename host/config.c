#include "config.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

static const char *env_or(const char *name, const char *fallback)
{
    const char *v = getenv(name);
    return v && *v ? v : fallback;
}

static int env_long(const char *name, long fallback, long min, long max, long *out, struct err *e)
{
    const char *v = getenv(name);
    if (!v || !*v) {
        *out = fallback;
        return 0;
    }
    char *end;
    errno = 0;
    long n = strtol(v, &end, 10);
    if (errno || *end || n < min || n > max)
        return err_set(e, ERR_INPUT, "%s must be a whole number from %ld to %ld, not '%s'", name,
                       min, max, v);
    *out = n;
    return 0;
}

int config_load(struct config *c, struct err *e)
{
    memset(c, 0, sizeof *c);
    long port, max_body, threads, workers, overlap;
    int rc;
    if ((rc = env_long("DHIS2SYNC_PORT", 4999, 1, 65535, &port, e)) ||
        (rc = env_long("DHIS2SYNC_MAX_BODY", 10L * 1024 * 1024, 1024, 1L << 30, &max_body, e)) ||
        (rc = env_long("DHIS2SYNC_HTTP_THREADS", 4, 1, 64, &threads, e)) ||
        (rc = env_long("DHIS2SYNC_WORKERS", 2, 0, 64, &workers, e)) ||
        (rc = env_long("DHIS2SYNC_WATERMARK_OVERLAP", 300, 0, 86400, &overlap, e)))
        return rc;
    c->port = (int)port;
    c->max_body = (size_t)max_body;
    c->http_threads = (int)threads;
    c->workers = (int)workers;
    c->watermark_overlap_s = (int)overlap;
    c->database_url = env_or("DATABASE_URL", NULL);
    c->mappings_dir = env_or("DHIS2SYNC_MAPPINGS", "mappings");
    c->secret_key = env_or("DHIS2SYNC_SECRET_KEY", NULL);
    if (c->secret_key && strlen(c->secret_key) < 16)
        return err_set(e, ERR_INPUT, "DHIS2SYNC_SECRET_KEY must be at least 16 characters long");
    c->admin_user = env_or("DHIS2SYNC_ADMIN_USER", "admin");
    c->admin_password = env_or("DHIS2SYNC_ADMIN_PASSWORD", NULL);
    c->log_level = env_or("DHIS2SYNC_LOG", "info");
    c->log_format = env_or("DHIS2SYNC_LOG_FORMAT", "text");
    long metrics_public;
    if ((rc = env_long("DHIS2SYNC_METRICS_PUBLIC", 0, 0, 1, &metrics_public, e)))
        return rc;
    c->metrics_public = (int)metrics_public;
    c->var_dir = "var";
    c->db_dir = "db";
    c->web_dir = "web";
    c->scripts_dir = "scripts";
    return 0;
}
