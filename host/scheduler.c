#include "scheduler.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "app.h"
#include "cron.h"
#include "db.h"
#include "deadline.h"
#include "log.h"
#include "worker.h"

/* A job whose stored schedule does not parse is looked at again after this long. */
enum { BAD_SCHEDULE_RETRY_S = 3600, MAX_JOBS_PER_TICK = 500, MISSED_COUNT_CAP = 10000 };

static struct app *sched_app;
static pthread_t sched_thread;
static bool sched_running;
static atomic_bool sched_leader;
static atomic_int sched_quit;
static pthread_mutex_t sched_lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t sched_cond = PTHREAD_COND_INITIALIZER;

bool sched_is_leader(void) { return atomic_load(&sched_leader); }

static void format_utc(time_t t, char *buf, size_t size)
{
    struct tm tm;
    gmtime_r(&t, &tm);
    strftime(buf, size, "%Y-%m-%dT%H:%M:%SZ", &tm);
}

/* How many cron slots fell in [from, now], capped: for the log line of a catch-up. */
static int missed_slots(const struct cron *cron, time_t from, time_t now)
{
    int n = 1;
    for (time_t t = cron_next(cron, from); t != -1 && t <= now && n < MISSED_COUNT_CAP;
         t = cron_next(cron, t))
        n++;
    return n;
}

static int set_next(PGconn *c, const char *job_id, time_t next, struct err *e)
{
    char text[24];
    snprintf(text, sizeof text, "%lld", (long long)next);
    const char *params[] = {job_id, next == -1 ? NULL : text};
    return db_exec(c, "UPDATE jobs SET next_run_at = to_timestamp($2::bigint) WHERE id = $1", 2,
                   params, e);
}

/* A due job: one run, or a skip when one is queued or running already. */
static int queue_or_skip(PGconn *c, const char *job_id, const char *name, const struct cron *cron,
                         time_t due, time_t now, int *queued, int *skipped, struct err *e)
{
    const char *params[] = {job_id};
    PGresult *r = db_query(c,
                           "INSERT INTO runs (job_id, dry_run, trigger)"
                           " SELECT id, coalesce((spec->'importOptions'->>'dryRun')::boolean, false),"
                           "  'schedule' FROM jobs WHERE id = $1"
                           " ON CONFLICT (job_id) WHERE status IN ('queued', 'running') DO NOTHING"
                           " RETURNING id",
                           1, params, e);
    if (!r)
        return e->code;
    char due_text[32];
    format_utc(due, due_text, sizeof due_text);
    if (PQntuples(r) == 1) {
        int missed = missed_slots(cron, due, now);
        if (missed > 1)
            log_info("scheduler: queued run %s of job '%s' (due at %s; %d%s slots were missed, "
                     "caught up with this one run)", PQgetvalue(r, 0, 0), name, due_text, missed,
                     missed >= MISSED_COUNT_CAP ? "+" : "");
        else
            log_info("scheduler: queued run %s of job '%s' (due at %s)", PQgetvalue(r, 0, 0), name,
                     due_text);
        PQclear(r);
        (*queued)++;
        return 0;
    }
    PQclear(r);
    r = db_query(c,
                 "UPDATE jobs SET schedule_skipped = schedule_skipped + 1, last_skipped_at = now()"
                 " WHERE id = $1 RETURNING (SELECT id::text || ' is still ' || status FROM runs"
                 "  WHERE job_id = $1 AND status IN ('queued', 'running') LIMIT 1)",
                 1, params, e);
    if (!r)
        return e->code;
    const char *busy = db_value(r, 0, 0);
    log_warn("scheduler: job '%s': the run due at %s is skipped, run %s", name, due_text,
             busy ? busy : "of the job is still going");
    PQclear(r);
    (*skipped)++;
    return 0;
}

int sched_tick(PGconn *c, int *queued_out, int *skipped_out, struct err *e)
{
    int queued = 0, skipped = 0, rc;
    PGresult *r = NULL;
    if ((rc = db_exec(c, "BEGIN", 0, NULL, e)))
        return rc;
    char limit[16];
    snprintf(limit, sizeof limit, "%d", MAX_JOBS_PER_TICK);
    const char *lp[] = {limit};
    /* SKIP LOCKED: a job being saved right now is looked at in the next tick */
    r = db_query(c,
                 "SELECT id, name, schedule, extract(epoch FROM next_run_at)::bigint,"
                 " floor(extract(epoch FROM now()))::bigint"
                 " FROM jobs WHERE enabled AND schedule IS NOT NULL"
                 " AND (next_run_at IS NULL OR next_run_at <= now())"
                 " ORDER BY next_run_at NULLS FIRST, id LIMIT $1::int FOR UPDATE SKIP LOCKED",
                 1, lp, e);
    if (!r) {
        rc = e->code;
        goto rollback;
    }
    for (int i = 0; i < PQntuples(r); i++) {
        const char *id = PQgetvalue(r, i, 0), *name = PQgetvalue(r, i, 1);
        const char *schedule = PQgetvalue(r, i, 2), *due_text = db_value(r, i, 3);
        time_t now = (time_t)strtoll(PQgetvalue(r, i, 4), NULL, 10);
        struct cron cron;
        struct err ce = {0};
        if (cron_parse(schedule, &cron, &ce) != 0) {
            log_warn("scheduler: job '%s' is not scheduled: %s", name, ce.msg);
            if ((rc = set_next(c, id, now + BAD_SCHEDULE_RETRY_S, e)))
                goto rollback;
            continue;
        }
        time_t next = cron_next(&cron, now);
        /* no next_run_at yet (a job stored by hand): due from the next slot, not now */
        if (due_text && (rc = queue_or_skip(c, id, name, &cron, (time_t)strtoll(due_text, NULL, 10),
                                            now, &queued, &skipped, e)))
            goto rollback;
        if ((rc = set_next(c, id, next, e)))
            goto rollback;
    }
    PQclear(r);
    r = NULL;
    if ((rc = db_exec(c, "COMMIT", 0, NULL, e)))
        return rc;
    if (queued_out)
        *queued_out = queued;
    if (skipped_out)
        *skipped_out = skipped;
    return 0;
rollback:
    PQclear(r);
    PQclear(PQexec(c, "ROLLBACK"));
    return rc;
}

static void wait_tick(int ms)
{
    struct timespec until = deadline_after_ms(ms);
    pthread_mutex_lock(&sched_lock);
    if (!atomic_load(&sched_quit))
        pthread_cond_timedwait(&sched_cond, &sched_lock, &until);
    pthread_mutex_unlock(&sched_lock);
}

/* Tries the lock once on c; 1 when held, 0 when another process holds it, negative on error. */
static int try_lead(PGconn *c, struct err *e)
{
    PGresult *r = db_query(c, "SELECT pg_try_advisory_lock(" SCHED_LOCK_KEY ")", 0, NULL, e);
    if (!r)
        return e->code;
    int held = strcmp(PQgetvalue(r, 0, 0), "t") == 0;
    PQclear(r);
    return held;
}

static void *sched_loop(void *arg)
{
    (void)arg;
    PGconn *c = NULL;
    bool warned_connect = false;
    while (!atomic_load(&sched_quit)) {
        struct err e = {0};
        if (!c) {
            if (!(c = db_connect(sched_app->db, &e))) {
                if (!warned_connect)
                    log_warn("scheduler: %s; it will try again", e.msg);
                warned_connect = true;
                goto next;
            }
            warned_connect = false;
        }
        if (!atomic_load(&sched_leader)) {
            int held = try_lead(c, &e);
            if (held < 0)
                goto broken;
            if (held) {
                atomic_store(&sched_leader, true);
                log_info("scheduler: this process (%s) now queues the scheduled runs", worker_id());
            }
        }
        if (atomic_load(&sched_leader)) {
            /* the runs it queues wake the workers of every process alike, through
             * NOTIFY dhis2sync_runs (db/003_sched.sql), this one's included */
            if (sched_tick(c, NULL, NULL, &e) != 0) {
                log_warn("scheduler: %s", e.msg);
                if (PQstatus(c) != CONNECTION_OK)
                    goto broken;
            }
        }
        goto next;
    broken:
        if (atomic_load(&sched_leader))
            log_warn("scheduler: lost its database session (%s); another process may take over",
                     e.msg);
        atomic_store(&sched_leader, false);
        PQfinish(c);
        c = NULL;
    next:
        wait_tick(sched_app->cfg.sched_tick_ms);
    }
    if (c) {
        if (atomic_load(&sched_leader))
            log_info("scheduler: stopping; another process may take over");
        PQfinish(c);
    }
    atomic_store(&sched_leader, false);
    return NULL;
}

int sched_start(struct app *app, struct err *e)
{
    sched_app = app;
    atomic_store(&sched_quit, 0);
    if (pthread_create(&sched_thread, NULL, sched_loop, NULL) != 0)
        return err_set(e, ERR_INTERNAL, "cannot start the scheduler thread");
    sched_running = true;
    return 0;
}

void sched_stop(void)
{
    if (!sched_running)
        return;
    pthread_mutex_lock(&sched_lock);
    atomic_store(&sched_quit, 1);
    pthread_cond_broadcast(&sched_cond);
    pthread_mutex_unlock(&sched_lock);
    pthread_join(sched_thread, NULL);
    sched_running = false;
}
