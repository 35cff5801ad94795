#include "sync.h"

#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "app.h"
#include "db.h"
#include "dhis2.h"
#include "instances.h"
#include "jobs.h"
#include "log.h"
#include "mapping_registry.h"
#include "outage.h"
#include "period.h"
#include "strmap.h"
#include "sync_kind.h"

/* Progress is written (and a cancel request read) every PROGRESS_EVERY objects or half a
 * second, whichever comes first; listed entries are flushed ITEMS_FLUSH_AT at a time. */
enum { PROGRESS_EVERY = 20000, ITEMS_FLUSH_AT = 5000 };

/* STOP_LOST: another process marked the run interrupted after a silence; it is not ours. */
enum stop_reason { STOP_NONE, STOP_CANCEL, STOP_SHUTDOWN, STOP_FAILED, STOP_LOST };

struct sync_run {
    struct app *app;
    const struct sync_options *opt;
    const struct sync_kind *kind;
    long long run_id;
    bool dry_run, full;
    struct job job;
    struct instance src, dst;
    struct dhis2_client *src_client, *dst_client;
    struct dhis2_system_info src_info, dst_info;
    struct mapping *mapping;
    PGconn *conn;                /* the run thread's */
    pthread_t run_thread;
    long long retry_window_ms;   /* the job's retryWindow */
    struct outages outages;
    struct waiting_hook { struct sync_run *r; enum outage_of of; } hooks[2];
    char since_text[48];
    const char *since;           /* since_text, or NULL for a full read */

    pthread_mutex_t lock;        /* counts, items, failure */
    struct run_counts counts;
    struct run_items *items;
    struct err failure;
    atomic_int stop;

    long long since_progress;
    double last_report_s;        /* when progress was last written, since started */
    struct timespec started;
    long long steps_done, steps_total;

    /* lookups for Lua functions: the target's ids by code or name, asked once each */
    struct mapping_lookup lookup;
    struct dhis2_client *meta_client;
    struct strmap lookups;       /* "code|dataElements|X" -> id, or NULL: not found */
    struct arena lookup_strings;
};

static double elapsed_since(const struct timespec *t0)
{
    struct timespec now;
    clock_gettime(CLOCK_MONOTONIC, &now);
    return (double)(now.tv_sec - t0->tv_sec) + (double)(now.tv_nsec - t0->tv_nsec) / 1e9;
}

static void stop_for(struct sync_run *r, enum stop_reason why)
{
    int none = STOP_NONE;
    atomic_compare_exchange_strong(&r->stop, &none, why);
}

/* ---- what a kind reads ------------------------------------------------------------------- */

long long sync_run_id(const struct sync_run *r) { return r->run_id; }
const struct job *sync_job(const struct sync_run *r) { return &r->job; }
const struct instance *sync_source(const struct sync_run *r) { return &r->src; }
const struct instance *sync_target(const struct sync_run *r) { return &r->dst; }
struct dhis2_client *sync_source_client(struct sync_run *r) { return r->src_client; }
struct dhis2_client *sync_target_client(struct sync_run *r) { return r->dst_client; }
const struct dhis2_system_info *sync_source_info(const struct sync_run *r) { return &r->src_info; }
const struct dhis2_system_info *sync_target_info(const struct sync_run *r) { return &r->dst_info; }
struct mapping *sync_mapping(struct sync_run *r) { return r->mapping; }
const struct mapping_lookup *sync_lookup(struct sync_run *r) { return &r->lookup; }
bool sync_dry_run(const struct sync_run *r) { return r->dry_run; }
const char *sync_since(const struct sync_run *r) { return r->since; }
PGconn *sync_conn(struct sync_run *r) { return r->conn; }

/* ---- stopping ---------------------------------------------------------------------------- */

bool sync_should_stop(struct sync_run *r)
{
    if (r->opt && r->opt->cancel_requested && r->opt->cancel_requested(r->run_id))
        stop_for(r, STOP_CANCEL);
    if (r->opt && r->opt->shutdown && atomic_load(r->opt->shutdown))
        stop_for(r, STOP_SHUTDOWN);
    return atomic_load(&r->stop) != STOP_NONE;
}

int sync_stop_check(void *run) { return sync_should_stop(run); }

void sync_fail(struct sync_run *r, const struct err *e)
{
    pthread_mutex_lock(&r->lock);
    if (!r->failure.code)
        r->failure = *e;
    pthread_mutex_unlock(&r->lock);
    stop_for(r, STOP_FAILED);
}

/* ---- outages ------------------------------------------------------------------------------ */

/* A client's waiting hook. On the run thread the request itself is what waits, so the run
 * says so now rather than at its next progress. */
static void client_waiting(void *ud, long long since)
{
    struct waiting_hook *h = ud;
    if (since)
        log_warn("run %lld: the %s does not answer; retrying for up to %lld s", h->r->run_id,
                 outage_name(h->of), h->r->retry_window_ms / 1000);
    outage_note(&h->r->outages, h->of, since);
    if (pthread_equal(pthread_self(), h->r->run_thread))
        sync_progress(h->r, true);
}

/* After a statement on the run's connection failed with rc: whether PostgreSQL went away (the
 * connection broke, as a restart breaks it), in which case the outage clock runs. */
static bool database_away(struct sync_run *r, int rc)
{
    if (rc != ERR_DB || PQstatus(r->conn) != CONNECTION_BAD)
        return false;
    outage_note(&r->outages, OUTAGE_DATABASE, (long long)time(NULL));
    return true;
}

/* One try at reconnecting while PostgreSQL is away: 0 when it is back (or never left), 1 while
 * the window lasts, ERR_DB once the window is gone. */
static int database_back(struct sync_run *r, struct err *e)
{
    if (!outage_lasted_ms(&r->outages, OUTAGE_DATABASE))
        return 0;
    struct err why = {0};
    if (db_revive(r->conn, &why) == 0) {
        outage_note(&r->outages, OUTAGE_DATABASE, 0);
        return 0;
    }
    if (outage_lasted_ms(&r->outages, OUTAGE_DATABASE) < r->retry_window_ms)
        return 1;
    return err_set(e, ERR_DB, "the database unreachable for %lld s: %s", r->retry_window_ms / 1000,
                   why.msg);
}

/* The run's end must be stored: waits for PostgreSQL to come back, within the window (a
 * shutdown does not wait: the next process finds the run orphaned). 0 when it is back. */
static int await_database(struct sync_run *r, struct err *e)
{
    int rc;
    while ((rc = database_back(r, e)) == 1 &&
           !(r->opt->shutdown && atomic_load(r->opt->shutdown))) {
        struct timespec second = {1, 0};
        nanosleep(&second, NULL);
    }
    return rc == 1 ? err_set(e, ERR_DB, "the database is away and the process is stopping") : rc;
}

/* Shows the outage the run waits out now, and says in its warnings how long each one that
 * ended lasted. Run thread, with the database there. */
static void show_outages(struct sync_run *r)
{
    const char *what;
    long long since;
    struct err e = {0};
    if (outage_current(&r->outages, &what, &since) &&
        run_set_waiting(r->conn, r->run_id, r->opt->worker, what, since, &e) != 0)
        log_warn("run %lld: cannot show what it waits for: %s", r->run_id, e.msg);
    char note[OUTAGE_NOTE_SIZE];
    while (outage_take_note(&r->outages, note, sizeof note)) {
        log_info("run %lld: %s", r->run_id, note);
        if (run_add_warning(r->conn, r->run_id, note, &e) != 0)
            log_warn("run %lld: cannot store a warning: %s", r->run_id, e.msg);
    }
}

/* A post whose answer was lost was sent again: the run says so, since its counts describe the
 * second write (what the lost attempt imported shows as ignored). */
static void note_resent(struct sync_run *r)
{
    long resent = r->dst_client ? dhis2_client_resent(r->dst_client) : 0;
    if (!resent)
        return;
    char said[300];
    struct err e = {0};
    snprintf(said, sizeof said, "%ld post%s to the target got no usable answer and %s sent again: "
             "what a lost attempt imported counts as ignored, not imported", resent,
             resent == 1 ? "" : "s", resent == 1 ? "was" : "were");
    log_info("run %lld: %s", r->run_id, said);
    if (run_add_warning(r->conn, r->run_id, said, &e) != 0)
        log_warn("run %lld: cannot store a warning: %s", r->run_id, e.msg);
}

/* ---- counts, entries, progress ------------------------------------------------------------ */

void sync_add_counts(struct sync_run *r, const struct run_counts *d)
{
    pthread_mutex_lock(&r->lock);
    struct run_counts *c = &r->counts;
    c->fetched += d->fetched;
    c->mapped += d->mapped;
    c->skipped += d->skipped;
    c->errors += d->errors;
    c->sent += d->sent;
    c->imported += d->imported;
    c->updated += d->updated;
    c->ignored += d->ignored;
    c->deleted += d->deleted;
    c->conflicts += d->conflicts;
    c->refused += d->refused;
    pthread_mutex_unlock(&r->lock);
}

void sync_list(struct sync_run *r, enum run_item_kind kind, const char *item_json,
               const char *source_json, const char *object, const char *value,
               const char *error_code, const char *message)
{
    /* a data value names itself: its entry keeps it as the value, and the API shows it as the
     * item; other kinds keep {"type","id"} */
    bool data_value = strcmp(r->kind->name, "dataValues") == 0;
    struct err e = {0};
    pthread_mutex_lock(&r->lock);
    int rc = run_items_add(r->items, kind, object, value, error_code, message,
                           data_value ? item_json : NULL, source_json,
                           data_value ? NULL : item_json, &e);
    pthread_mutex_unlock(&r->lock);
    if (rc)
        sync_fail(r, &e);
}

static int flush_items(struct sync_run *r, struct err *e)
{
    pthread_mutex_lock(&r->lock);
    int rc = run_items_flush(r->conn, r->items, e);
    pthread_mutex_unlock(&r->lock);
    return rc;
}

void sync_set_steps(struct sync_run *r, long long done, long long total)
{
    r->steps_done = done;
    r->steps_total = total;
}

void sync_progress_add(struct sync_run *r, long long objects) { r->since_progress += objects; }

void sync_progress(struct sync_run *r, bool force)
{
    if (!force && r->since_progress < PROGRESS_EVERY && elapsed_since(&r->started) - r->last_report_s < 0.5)
        return;
    r->since_progress = 0;
    r->last_report_s = elapsed_since(&r->started);
    struct sync_progress p = {.chunks_done = r->steps_done, .chunks_total = r->steps_total,
                              .elapsed_s = r->last_report_s};
    pthread_mutex_lock(&r->lock);
    p.counts = r->counts;
    pthread_mutex_unlock(&r->lock);
    struct err e = {0};
    bool cancel = false;
    int rc = database_back(r, &e);
    if (rc < 0)
        sync_fail(r, &e);
    if (rc)
        goto told; /* the progress waits in memory, the listed entries too */
    rc = run_progress(r->conn, r->run_id, r->opt->worker, r->steps_done, r->steps_total, &p.counts,
                      &cancel, &e);
    if (rc == ERR_CONFLICT) {
        log_error("run %lld: %s; stopping it", r->run_id, e.msg);
        stop_for(r, STOP_LOST);
    } else if (database_away(r, rc)) {
        log_warn("run %lld: PostgreSQL went away (%s); retrying", r->run_id, e.msg);
        goto told;
    } else if (rc) {
        log_warn("run %lld: cannot store progress: %s", r->run_id, e.msg);
    }
    show_outages(r);
    if (cancel)
        stop_for(r, STOP_CANCEL);
    pthread_mutex_lock(&r->lock);
    bool many = run_items_pending(r->items) >= ITEMS_FLUSH_AT;
    pthread_mutex_unlock(&r->lock);
    if (many && (rc = flush_items(r, &e)) != 0 && !database_away(r, rc))
        sync_fail(r, &e);
told:
    outage_current(&r->outages, &p.waiting_for, &p.waiting_since);
    if (r->opt->on_progress)
        r->opt->on_progress(r->opt->ud, &p);
}

int sync_warn(struct sync_run *r, const char *fmt, ...)
{
    char said[600];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(said, sizeof said, fmt, ap);
    va_end(ap);
    log_warn("run %lld: %s", r->run_id, said);
    struct err e = {0};
    return run_add_warning(r->conn, r->run_id, said, &e);
}

/* ---- lookups for Lua functions ------------------------------------------------------------- */

static int first_id(void *ud, const cJSON *item, struct err *e)
{
    (void)e;
    char *out = ud;
    const char *id = cJSON_GetStringValue(cJSON_GetObjectItem(item, "id"));
    if (id && !out[0])
        snprintf(out, 16, "%s", id);
    return 0;
}

/* The target's id of the `kind` (dataElements, organisationUnits...) whose code or name is
 * key; called by Lua functions through d2.meta, in the run thread. */
static int lookup_target(struct sync_run *r, const char *field, const char *kind, const char *key,
                         char *out, size_t size)
{
    if (strspn(kind, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ") != strlen(kind) ||
        strlen(kind) > 40)
        return -1;
    char cache_key[600];
    snprintf(cache_key, sizeof cache_key, "%s|%s|%s", field, kind, key);
    const struct strmap_slot *hit = strmap_find(&r->lookups, cache_key);
    const char *id = hit ? hit->val : NULL;
    if (!hit) {
        struct err e = {0};
        struct dhis2_config cfg;
        instance_dhis2_config(&r->dst, &cfg);
        cfg.max_retries = 3;
        if (!r->meta_client) {
            if (!(r->meta_client = dhis2_client_new(&cfg, &e))) {
                snprintf(out, size, "%s", e.msg);
                return -2;
            }
            dhis2_client_set_cancel(r->meta_client, sync_stop_check, r);
        }
        char found[16] = "", filter[560];
        snprintf(filter, sizeof filter, "%s:eq:%s", field, key);
        const char *filters[] = {filter, NULL};
        if (dhis2_list(r->meta_client, kind, "id", filters, 0, first_id, found, &e) != 0) {
            /* not cached: the next object asks again, and this one fails rather than going
             * out unmapped */
            snprintf(out, size, "%s", e.msg);
            return -2;
        }
        id = found[0] ? arena_strdup(&r->lookup_strings, found) : NULL;
        const char *stored_key = arena_strdup(&r->lookup_strings, cache_key);
        if (stored_key)
            strmap_put(&r->lookups, stored_key, id);
    }
    if (!id)
        return -1;
    snprintf(out, size, "%s", id);
    return 0;
}

static int lookup_by_code(void *ud, const char *kind, const char *code, char *out, size_t size)
{
    return lookup_target(ud, "code", kind, code, out, size);
}

static int lookup_by_name(void *ud, const char *kind, const char *name, char *out, size_t size)
{
    return lookup_target(ud, "name", kind, name, out, size);
}

/* ---- the run ------------------------------------------------------------------------------ */

/* Subtracts the overlap from a DHIS2 timestamp ("2024-02-03T10:11:12.000", maybe with a zone).
 * An incremental run reads back that far before its watermark because objects written in
 * transactions still open when the source's clock was read carry an earlier lastUpdated;
 * re-sent objects cost nothing but an `ignored`. */
static void watermark_minus_overlap(const char *wm, int overlap_s, char *out, size_t size)
{
    int y, mo, d, h, mi, s, used = 0;
    if (sscanf(wm, "%d-%d-%dT%d:%d:%d%n", &y, &mo, &d, &h, &mi, &s, &used) != 6) {
        snprintf(out, size, "%s", wm);
        return;
    }
    long long t = (long long)days_from_civil(y, mo, d) * 86400 + h * 3600 + mi * 60 + s - overlap_s;
    int32_t days = (int32_t)(t / 86400);
    long rem = (long)(t % 86400);
    civil_from_days(days, &y, &mo, &d);
    /* the milliseconds stay as the source wrote them */
    const char *millis = wm[used] == '.' ? wm + used : "";
    snprintf(out, size, "%04d-%02d-%02dT%02ld:%02ld:%02ld%.4s", y, mo, d, rem / 3600, rem / 60 % 60,
             rem % 60, millis);
}

/* A client for one side of the run: retries within the job's window, its waits shown on the
 * run, and every request ended early once the run must stop. */
static struct dhis2_client *open_client(struct sync_run *r, const struct instance *in, int max_retries,
                                        struct waiting_hook *hook, struct err *e)
{
    struct dhis2_config cfg;
    instance_dhis2_config(in, &cfg);
    cfg.max_retries = max_retries;
    cfg.retry_window_s = r->retry_window_ms / 1000;
    cfg.backoff_max_ms = r->app->cfg.retry_max_delay_ms;
    struct dhis2_client *c = dhis2_client_new(&cfg, e);
    if (c) {
        dhis2_client_set_waiting(c, client_waiting, hook);
        dhis2_client_set_cancel(c, sync_stop_check, r);
    }
    return c;
}

static int open_clients(struct sync_run *r, struct err *e)
{
    const cJSON *window = cJSON_GetObjectItem(r->job.spec, "retryWindow");
    long window_s = cJSON_IsNumber(window) ? (long)window->valuedouble : JOB_RETRY_WINDOW_S;
    r->retry_window_ms = window_s * 1000LL;
    r->hooks[0] = (struct waiting_hook){r, OUTAGE_SOURCE};
    r->hooks[1] = (struct waiting_hook){r, OUTAGE_TARGET};
    if (!(r->src_client = open_client(r, &r->src, 4, &r->hooks[0], e)) ||
        !(r->dst_client = open_client(r, &r->dst, 5, &r->hooks[1], e)))
        return e->code;
    return 0;
}

static int load(struct sync_run *r, struct err *e)
{
    char id[24];
    snprintf(id, sizeof id, "%lld", r->run_id);
    const char *params[] = {id};
    PGresult *res = db_query(r->conn, "SELECT job_id, dry_run, full_run FROM runs WHERE id = $1", 1, params, e);
    if (!res)
        return e->code;
    if (PQntuples(res) != 1) {
        PQclear(res);
        return err_set(e, ERR_NOT_FOUND, "no run %lld", r->run_id);
    }
    long long job_id = strtoll(PQgetvalue(res, 0, 0), NULL, 10);
    r->dry_run = strcmp(PQgetvalue(res, 0, 1), "t") == 0;
    r->full = strcmp(PQgetvalue(res, 0, 2), "t") == 0;
    PQclear(res);
    int rc;
    if ((rc = job_load(r->conn, job_id, &r->job, e)) ||
        (rc = instance_load(r->conn, &r->app->secret_key, r->job.source_id, &r->src, e)) ||
        (rc = instance_load(r->conn, &r->app->secret_key, r->job.target_id, &r->dst, e)))
        return rc;
    const char *kind = cJSON_GetStringValue(cJSON_GetObjectItem(r->job.spec, "kind"));
    if (!(r->kind = sync_kind_find(kind)))
        return err_set(e, ERR_INPUT, "job '%s' is of a kind this version does not know ('%s')",
                       r->job.name, kind);
    if (!r->job.mapping) {
        r->mapping = mapping_identity();
    } else if (!r->app->mappings) {
        return err_set(e, ERR_INTERNAL, "no mapping registry in this process");
    } else if (!(r->mapping = mapping_registry_acquire(r->app->mappings, r->job.mapping, e))) {
        char msg[256];
        snprintf(msg, sizeof msg, "mapping '%s': %s", r->job.mapping, e->msg);
        return err_set(e, e->code, "%s", msg);
    }
    return 0;
}

/* Works out what an incremental run reads from: the watermark minus the overlap. */
static int decide_since(struct sync_run *r, struct err *e)
{
    bool incremental = cJSON_IsTrue(cJSON_GetObjectItem(r->job.spec, "incremental")) && !r->full;
    if (!incremental || (r->kind->incremental && !r->kind->incremental(r)))
        return 0;
    char id[24];
    snprintf(id, sizeof id, "%lld", r->job.id);
    const char *params[] = {id};
    PGresult *res = db_query(r->conn, "SELECT last_updated FROM watermarks WHERE job_id = $1", 1, params, e);
    if (!res)
        return e->code;
    if (PQntuples(res) == 1) {
        watermark_minus_overlap(PQgetvalue(res, 0, 0), r->app->cfg.watermark_overlap_s, r->since_text,
                                sizeof r->since_text);
        r->since = r->since_text;
    }
    PQclear(res);
    return 0;
}

static const char *decide_status(struct sync_run *r)
{
    switch (atomic_load(&r->stop)) {
    case STOP_CANCEL: return "cancelled";
    case STOP_SHUTDOWN:
    case STOP_LOST: return "interrupted";
    case STOP_FAILED: return "failed";
    default: break;
    }
    if (r->counts.conflicts || r->counts.errors)
        return "partial";
    return "succeeded";
}

/* Stores how the run ended, queues it again after a shutdown, and moves the watermark after a
 * run that succeeded. */
static const char *finish(struct sync_run *r, struct err *e)
{
    const char *status = decide_status(r);
    const char *error = NULL;
    char error_text[300];
    struct err local = {0};
    if (strcmp(status, "failed") == 0) {
        snprintf(error_text, sizeof error_text, "%s", r->failure.msg[0] ? r->failure.msg : e->msg);
        error = error_text;
    } else if (strcmp(status, "cancelled") == 0) {
        error = "cancelled on request";
    } else if (strcmp(status, "interrupted") == 0) {
        error = "the process was stopped before the run finished";
    }
    int stored;
    while ((stored = r->items ? flush_items(r, &local) : 0) != 0 && database_away(r, stored) &&
           await_database(r, &local) == 0)
        ;
    if (stored == 0) {
        show_outages(r);
        note_resent(r);
    } else {
        /* the objects went out, but the list of what was refused or skipped did not: the run
         * must not pass for complete, nor move the watermark */
        log_error("run %lld: %s", r->run_id, local.msg);
        snprintf(error_text, sizeof error_text, "the list of refused and skipped objects could not "
                 "be stored: %s", local.msg);
        error = error_text;
        if (strcmp(status, "succeeded") == 0)
            status = "partial";
    }
    int finished;
    while ((finished = run_finish(r->conn, r->run_id, r->opt->worker, status, &r->counts, error,
                                  &local)) != 0 &&
           database_away(r, finished) && await_database(r, &local) == 0)
        ;
    if (finished != 0)
        log_error("run %lld: cannot store its end: %s", r->run_id, local.msg);
    else if (atomic_load(&r->stop) == STOP_SHUTDOWN && run_requeue_once(r->conn, r->run_id, &local) != 0)
        log_error("run %lld: cannot queue it again: %s", r->run_id, local.msg);
    if (finished == 0 && strcmp(status, "succeeded") == 0 && !r->dry_run && r->src_info.server_date[0]) {
        char id[24], run[24];
        snprintf(id, sizeof id, "%lld", r->job.id);
        snprintf(run, sizeof run, "%lld", r->run_id);
        const char *params[] = {id, r->src_info.server_date, run};
        if (db_exec(r->conn,
                    "INSERT INTO watermarks (job_id, last_updated, run_id) VALUES ($1, $2, $3)"
                    " ON CONFLICT (job_id) DO UPDATE SET last_updated = $2, run_id = $3, updated_at = now()",
                    3, params, &local) != 0)
            log_error("run %lld: the watermark did not move: %s", r->run_id, local.msg);
    }
    log_info("run %lld %s: fetched %lld, mapped %lld, skipped %lld, errors %lld, sent %lld, "
             "imported %lld, updated %lld, ignored %lld, deleted %lld, conflicts %lld in %.1fs%s%s",
             r->run_id, status, r->counts.fetched, r->counts.mapped, r->counts.skipped, r->counts.errors,
             r->counts.sent, r->counts.imported, r->counts.updated, r->counts.ignored,
             r->counts.deleted, r->counts.conflicts, elapsed_since(&r->started),
             error ? ": " : "", error ? error : "");
    return status;
}

static void run_free(struct sync_run *r)
{
    run_items_free(r->items);
    dhis2_client_free(r->src_client);
    dhis2_client_free(r->dst_client);
    dhis2_client_free(r->meta_client);
    if (r->mapping)
        mapping_release(r->mapping);
    instance_free(&r->src);
    instance_free(&r->dst);
    job_free(&r->job);
    strmap_free(&r->lookups);
    arena_free(&r->lookup_strings);
    outages_free(&r->outages);
    pthread_mutex_destroy(&r->lock);
    free(r);
}

int sync_run(struct app *app, long long run_id, const struct sync_options *opt,
             const char **status_out, struct err *e)
{
    struct sync_run *r = calloc(1, sizeof *r);
    if (!r)
        return err_set(e, ERR_INTERNAL, "out of memory starting run %lld", run_id);
    r->app = app;
    r->opt = opt;
    r->run_id = run_id;
    r->lookup = (struct mapping_lookup){.by_code = lookup_by_code, .by_name = lookup_by_name,
                                        .stop = sync_stop_check, .ud = r};
    pthread_mutex_init(&r->lock, NULL);
    outages_init(&r->outages);
    r->run_thread = pthread_self();
    r->retry_window_ms = JOB_RETRY_WINDOW_S * 1000LL;
    clock_gettime(CLOCK_MONOTONIC, &r->started);
    const char *status = "failed";
    int rc;

    if (!(r->conn = db_acquire(app->db, e)))
        goto done_no_db;
    if (!(r->items = run_items_new(run_id))) {
        rc = err_set(e, ERR_INTERNAL, "out of memory");
        goto finish;
    }
    if ((rc = load(r, e)) || (rc = open_clients(r, e)) ||
        (rc = dhis2_system_info(r->src_client, &r->src_info, e)) ||
        (rc = dhis2_system_info(r->dst_client, &r->dst_info, e)) || (rc = decide_since(r, e)) ||
        (rc = run_set_info(r->conn, run_id, mapping_version(r->mapping), r->since,
                           r->src_info.server_date, e)))
        goto finish;
    log_info("run %lld of job '%s' (%s): %s -> %s, mapping %s%s%s", run_id, r->job.name,
             r->kind->name, r->src.name, r->dst.name, mapping_version(r->mapping),
             r->since ? ", changes since " : "", r->since ? r->since : "");
    rc = r->kind->run(r, e);

finish:
    if (rc && rc != ERR_CANCELLED)
        sync_fail(r, e);
    status = finish(r, e);
    db_release(app->db, r->conn);
done_no_db:
    /* without the database the run cannot even be marked: it stays running until the orphan
     * check of a live process finds it */
    if (strcmp(status, "failed") == 0 && r->failure.code && e->code == 0)
        *e = r->failure;
    rc = strcmp(status, "failed") == 0 ? (e->code ? e->code : ERR_INTERNAL) : 0;
    if (status_out)
        *status_out = status;
    run_free(r);
    return rc;
}
