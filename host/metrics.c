#include "metrics.h"

#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "config.h"
#include "cron.h"
#include "db.h"
#include "scheduler.h"

static const char *const http_methods[] = {"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE",
                                           "OPTIONS", "other"};
#define N_METHODS (sizeof http_methods / sizeof http_methods[0])
#define N_CODES 600

static atomic_ullong http_requests[N_METHODS][N_CODES];
static atomic_ullong mapping_reloads_ok, mapping_reloads_error;
static atomic_long mapping_errors;
static atomic_llong start_time;

void metrics_init(void)
{
    long long zero = 0;
    atomic_compare_exchange_strong(&start_time, &zero, (long long)time(NULL));
}

void metrics_http_request(const char *method, int status)
{
    size_t m = N_METHODS - 1;
    for (size_t i = 0; method && i + 1 < N_METHODS; i++) {
        if (strcmp(method, http_methods[i]) == 0) {
            m = i;
            break;
        }
    }
    if (status < 100 || status >= N_CODES)
        status = 0;  /* not a valid status: kept apart as code="0" rather than dropped */
    atomic_fetch_add_explicit(&http_requests[m][status], 1, memory_order_relaxed);
}

void metrics_mapping_reload(int ok)
{
    atomic_fetch_add_explicit(ok ? &mapping_reloads_ok : &mapping_reloads_error, 1,
                              memory_order_relaxed);
}

void metrics_mapping_totals(unsigned long long reloads_ok, unsigned long long reloads_error)
{
    atomic_store_explicit(&mapping_reloads_ok, reloads_ok, memory_order_relaxed);
    atomic_store_explicit(&mapping_reloads_error, reloads_error, memory_order_relaxed);
}

void metrics_mapping_errors_set(long n)
{
    atomic_store_explicit(&mapping_errors, n, memory_order_relaxed);
}

/* A growing text buffer; a failed allocation sticks, so callers check once at the end. */
struct buf {
    char *data;
    size_t len, cap;
    int failed;
};

static void buf_printf(struct buf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void buf_printf(struct buf *b, const char *fmt, ...)
{
    if (b->failed)
        return;
    for (;;) {
        va_list ap;
        va_start(ap, fmt);
        int n = vsnprintf(b->data ? b->data + b->len : NULL, b->data ? b->cap - b->len : 0, fmt, ap);
        va_end(ap);
        if (n < 0) {
            b->failed = 1;
            return;
        }
        if (b->data && b->len + (size_t)n < b->cap) {
            b->len += (size_t)n;
            return;
        }
        size_t want = (b->cap ? b->cap : 4096);
        while (want <= b->len + (size_t)n)
            want *= 2;
        char *grown = realloc(b->data, want);
        if (!grown) {
            b->failed = 1;
            return;
        }
        b->data = grown;
        b->cap = want;
    }
}

/* A label value as the format wants it: backslash, double quote and line feed escaped. */
static void buf_label_value(struct buf *b, const char *v)
{
    for (; *v; v++) {
        if (*v == '\\')
            buf_printf(b, "\\\\");
        else if (*v == '"')
            buf_printf(b, "\\\"");
        else if (*v == '\n')
            buf_printf(b, "\\n");
        else
            buf_printf(b, "%c", *v);
    }
}

static void family(struct buf *b, const char *name, const char *type, const char *help)
{
    buf_printf(b, "# HELP %s %s\n# TYPE %s %s\n", name, help, name, type);
}

static const char *const finished_statuses[] = {"succeeded", "partial", "failed", "cancelled",
                                                "interrupted"};
static const char *const value_kinds[] = {"fetched", "mapped",  "skipped", "errors", "sent",
                                          "imported", "updated", "ignored", "deleted"};
#define N_KINDS (sizeof value_kinds / sizeof value_kinds[0])

/* Runs by status, running/queued gauges, values and conflicts: one statement, one snapshot. */
static int render_db(PGconn *c, struct buf *b, struct err *e)
{
    static const char sql[] =
        "SELECT 'status', status, count(*)::text FROM runs GROUP BY status "
        "UNION ALL "
        "SELECT 'count', k.key, sum((k.value #>> '{}')::numeric)::text "
        "  FROM runs r, jsonb_each(r.counts) k "
        " WHERE NOT r.dry_run AND jsonb_typeof(k.value) = 'number' "
        "   AND k.key IN ('fetched','mapped','skipped','errors','sent','imported','updated',"
        "                 'ignored','deleted','conflicts') "
        " GROUP BY k.key";
    PGresult *r = db_query(c, sql, 0, NULL, e);
    if (!r)
        return e->code;
    long long by_status[7] = {0}, running = 0, queued = 0;
    char kinds[N_KINDS][32] = {{0}}, conflicts[32] = "0";
    for (int i = 0; i < PQntuples(r); i++) {
        const char *what = db_value(r, i, 0), *key = db_value(r, i, 1), *val = db_value(r, i, 2);
        if (!what || !key || !val)
            continue;
        if (strcmp(what, "status") == 0) {
            long long n = atoll(val);
            if (strcmp(key, "running") == 0)
                running = n;
            else if (strcmp(key, "queued") == 0)
                queued = n;
            for (size_t s = 0; s < sizeof finished_statuses / sizeof *finished_statuses; s++)
                if (strcmp(key, finished_statuses[s]) == 0)
                    by_status[s] = n;
        } else if (strcmp(key, "conflicts") == 0) {
            snprintf(conflicts, sizeof conflicts, "%s", val);
        } else {
            for (size_t k = 0; k < N_KINDS; k++)
                if (strcmp(key, value_kinds[k]) == 0)
                    snprintf(kinds[k], sizeof kinds[k], "%s", val);
        }
    }
    PQclear(r);

    family(b, "dhis2sync_runs_total", "counter",
           "Finished runs by status, from the database (every process's runs).");
    for (size_t s = 0; s < sizeof finished_statuses / sizeof *finished_statuses; s++)
        buf_printf(b, "dhis2sync_runs_total{status=\"%s\"} %lld\n", finished_statuses[s],
                   by_status[s]);
    family(b, "dhis2sync_runs_running", "gauge", "Runs running now, in any process.");
    buf_printf(b, "dhis2sync_runs_running %lld\n", running);
    family(b, "dhis2sync_runs_queued", "gauge", "Runs waiting for a worker.");
    buf_printf(b, "dhis2sync_runs_queued %lld\n", queued);
    family(b, "dhis2sync_values_total", "counter",
           "Data values by stage, summed over the counts of all runs that are not dry runs.");
    for (size_t k = 0; k < N_KINDS; k++)
        buf_printf(b, "dhis2sync_values_total{kind=\"%s\"} %s\n", value_kinds[k],
                   kinds[k][0] ? kinds[k] : "0");
    family(b, "dhis2sync_conflicts_total", "counter",
           "Conflicts reported by target servers, summed over all runs that are not dry runs.");
    buf_printf(b, "dhis2sync_conflicts_total %s\n", conflicts);
    return 0;
}

/* The longest gap between the next few slots of a schedule: what "twice its schedule" means
 * for an alert on a stale job, even for schedules with uneven gaps (weekdays only, say). */
static long long schedule_interval(const char *expr, time_t now)
{
    struct cron cr;
    if (!expr || !*expr || cron_parse(expr, &cr, NULL) != 0)
        return 0;
    long long widest = 0;
    time_t t = cron_next(&cr, now);
    for (int i = 0; i < 8 && t > 0; i++) {
        time_t next = cron_next(&cr, t);
        if (next <= t)
            break;
        if (next - t > widest)
            widest = next - t;
        t = next;
    }
    return widest;
}

/* One series set per job, labelled by its name, and the scheduler leader as pg_locks sees
 * it, so that alerts can find a stale job or a database with no scheduler from any scrape. */
static int render_jobs(PGconn *c, struct buf *b, struct err *e)
{
    static const char sql[] =
        "SELECT j.name, j.enabled AND j.schedule IS NOT NULL, j.schedule,"
        "       extract(epoch FROM coalesce((SELECT max(r.finished_at) FROM runs r"
        "                                     WHERE r.job_id = j.id AND r.status = 'succeeded'"
        "                                       AND NOT r.dry_run), j.created_at))::bigint,"
        "       (SELECT r.status FROM runs r WHERE r.job_id = j.id AND r.finished_at IS NOT NULL"
        "         ORDER BY r.finished_at DESC, r.id DESC LIMIT 1)"
        "  FROM jobs j ORDER BY j.name";
    static const char leader_sql[] =
        "SELECT count(*) FROM pg_locks l WHERE " SCHED_LEADER_LOCK_SQL("l");
    PGresult *r = db_query(c, sql, 0, NULL, e);
    if (!r)
        return e->code;
    PGresult *leader = db_query(c, leader_sql, 0, NULL, e);
    if (!leader) {
        PQclear(r);
        return e->code;
    }
    time_t now = time(NULL);
    int n = PQntuples(r);
    family(b, "dhis2sync_job_last_success_timestamp_seconds", "gauge",
           "When the job's last run that was not a dry run succeeded (its creation if none has).");
    for (int i = 0; i < n; i++) {
        buf_printf(b, "dhis2sync_job_last_success_timestamp_seconds{job_name=\"");
        buf_label_value(b, db_value(r, i, 0));
        buf_printf(b, "\"} %s\n", db_value(r, i, 3) ? db_value(r, i, 3) : "0");
    }
    family(b, "dhis2sync_job_schedule_interval_seconds", "gauge",
           "The widest gap between the next slots of an enabled job's schedule (absent if none).");
    for (int i = 0; i < n; i++) {
        const char *scheduled = db_value(r, i, 1);
        long long every = scheduled && *scheduled == 't' ? schedule_interval(db_value(r, i, 2), now) : 0;
        if (every <= 0)
            continue;
        buf_printf(b, "dhis2sync_job_schedule_interval_seconds{job_name=\"");
        buf_label_value(b, db_value(r, i, 0));
        buf_printf(b, "\"} %lld\n", every);
    }
    family(b, "dhis2sync_job_last_run_status", "gauge",
           "1 for the status of the job's latest finished run (absent before its first).");
    for (int i = 0; i < n; i++) {
        const char *status = db_value(r, i, 4);
        if (!status)
            continue;
        buf_printf(b, "dhis2sync_job_last_run_status{job_name=\"");
        buf_label_value(b, db_value(r, i, 0));
        buf_printf(b, "\",status=\"");
        buf_label_value(b, status);
        buf_printf(b, "\"} 1\n");
    }
    family(b, "dhis2sync_scheduler_leader", "gauge",
           "Processes holding the scheduler lock on this database: 1 is healthy, 0 queues nothing.");
    buf_printf(b, "dhis2sync_scheduler_leader %s\n", db_value(leader, 0, 0) ? db_value(leader, 0, 0) : "0");
    PQclear(leader);
    PQclear(r);
    return 0;
}

int metrics_render(PGconn *c, char **out, size_t *len, struct err *e)
{
    struct buf b = {0};
    int db_ok = 0;
    if (c) {
        struct err dbe = {0};
        db_ok = render_db(c, &b, &dbe) == 0 && render_jobs(c, &b, &dbe) == 0;
        if (!db_ok) {
            /* keep the process's own figures: a scrape during a database outage still answers */
            free(b.data);
            memset(&b, 0, sizeof b);
        }
    }
    family(&b, "dhis2sync_http_requests_total", "counter",
           "HTTP requests answered by this process, by method and status code.");
    for (size_t m = 0; m < N_METHODS; m++) {
        for (int s = 0; s < N_CODES; s++) {
            unsigned long long n = atomic_load_explicit(&http_requests[m][s], memory_order_relaxed);
            if (!n)
                continue;
            buf_printf(&b, "dhis2sync_http_requests_total{method=\"");
            buf_label_value(&b, http_methods[m]);
            buf_printf(&b, "\",code=\"%d\"} %llu\n", s, n);
        }
    }
    family(&b, "dhis2sync_mapping_reloads_total", "counter",
           "Mapping hot reloads in this process: ok = swapped in, error = last good version kept.");
    buf_printf(&b, "dhis2sync_mapping_reloads_total{result=\"ok\"} %llu\n",
               (unsigned long long)atomic_load(&mapping_reloads_ok));
    buf_printf(&b, "dhis2sync_mapping_reloads_total{result=\"error\"} %llu\n",
               (unsigned long long)atomic_load(&mapping_reloads_error));
    family(&b, "dhis2sync_mapping_errors", "gauge", "Mappings whose current file does not compile.");
    buf_printf(&b, "dhis2sync_mapping_errors %ld\n", atomic_load(&mapping_errors));
    family(&b, "dhis2sync_build_info", "gauge", "Always 1; the version is in the label.");
    buf_printf(&b, "dhis2sync_build_info{version=\"");
    buf_label_value(&b, DHIS2SYNC_VERSION);
    buf_printf(&b, "\"} 1\n");
    family(&b, "dhis2sync_up", "gauge", "Always 1 while this process answers.");
    buf_printf(&b, "dhis2sync_up 1\n");
    family(&b, "dhis2sync_db_up", "gauge", "1 when this scrape could read the database, else 0.");
    buf_printf(&b, "dhis2sync_db_up %d\n", db_ok);
    family(&b, "process_start_time_seconds", "gauge", "Start time of the process, Unix seconds.");
    buf_printf(&b, "process_start_time_seconds %lld\n", (long long)atomic_load(&start_time));
    if (b.failed) {
        free(b.data);
        return err_set(e, ERR_INTERNAL, "out of memory while rendering metrics");
    }
    *out = b.data;
    *len = b.len;
    return 0;
}
