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
    long port, max_body, threads, workers, overlap, tick, heartbeat, orphan, retry, backoff_max;
    int rc;
    if ((rc = env_long("DHIS2SYNC_PORT", 4999, 1, 65535, &port, e)) ||
        (rc = env_long("DHIS2SYNC_MAX_BODY", 10L * 1024 * 1024, 1024, 1L << 30, &max_body, e)) ||
        (rc = env_long("DHIS2SYNC_HTTP_THREADS", 4, 1, 64, &threads, e)) ||
        (rc = env_long("DHIS2SYNC_WORKERS", 2, 0, 64, &workers, e)) ||
        (rc = env_long("DHIS2SYNC_WATERMARK_OVERLAP", 300, 0, 86400, &overlap, e)) ||
        (rc = env_long("DHIS2SYNC_SCHED_TICK_MS", 1000, 10, 60000, &tick, e)) ||
        (rc = env_long("DHIS2SYNC_HEARTBEAT_MS", 5000, 50, 60000, &heartbeat, e)) ||
        (rc = env_long("DHIS2SYNC_ORPHAN_AFTER_S", 60, 1, 86400, &orphan, e)) ||
        (rc = env_long("DHIS2SYNC_NOTIFY_RETRY_MS", 2000, 0, 600000, &retry, e)) ||
        (rc = env_long("DHIS2SYNC_RETRY_MAX_DELAY_MS", 30000, 10, 600000, &backoff_max, e)))
        return rc;
    if (orphan * 1000 < heartbeat * 3)
        return err_set(e, ERR_INPUT, "DHIS2SYNC_ORPHAN_AFTER_S (%ld s) must be at least three "
                       "heartbeats (DHIS2SYNC_HEARTBEAT_MS %ld ms)", orphan, heartbeat);
    c->sched_tick_ms = (int)tick;
    c->heartbeat_ms = (int)heartbeat;
    c->orphan_after_s = (int)orphan;
    c->notify_retry_ms = (int)retry;
    c->retry_max_delay_ms = backoff_max;
    c->smtp_url = env_or("DHIS2SYNC_SMTP_URL", NULL);
    c->smtp_from = env_or("DHIS2SYNC_SMTP_FROM", NULL);
    c->smtp_user = env_or("DHIS2SYNC_SMTP_USER", NULL);
    c->smtp_password = env_or("DHIS2SYNC_SMTP_PASSWORD", NULL);
    c->public_url = env_or("DHIS2SYNC_PUBLIC_URL", NULL);
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
    c->trusted_proxies = env_or("DHIS2SYNC_TRUSTED_PROXIES", "");
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
