#include "sync.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "app.h"
#include "check.h"
#include "db.h"
#include "deadline.h"
#include "dhis2.h"
#include "instances.h"
#include "jobs.h"
#include "log.h"
#include "mapping_registry.h"
#include "outage.h"
#include "period.h"
#include "selection.h"
#include "strmap.h"
#include "worker.h"

/* Batches in flight between the fetching and the posting thread. */
enum { QUEUE_DEPTH = 2 };
/* Progress is written (and a cancel request read) every PROGRESS_EVERY values or half a
 * second, whichever comes first; refused values are flushed to the run ITEMS_FLUSH_AT at a time. */
enum { PROGRESS_EVERY = 20000, ITEMS_FLUSH_AT = 5000 };

/* STOP_LOST: another process marked the run interrupted after a silence; it is not ours. */
enum stop_reason { STOP_NONE, STOP_CANCEL, STOP_SHUTDOWN, STOP_FAILED, STOP_LOST };

struct batch {
    struct datavalue *vals;
    struct datavalue *srcs; /* each value as read, to show beside a refusal; zeroed for a sum */
    size_t n, cap;
    struct arena arena;
};

struct chunk {
    const char *org_unit;
    const char *const *periods; /* NULL-terminated slice, or NULL for the date window */
    char label[64];
};

struct run_ctx {
    struct app *app;
    const struct sync_options *opt;
    long long run_id;
    bool dry_run, full;
    struct job job;
    struct instance src, dst;
    struct dhis2_client *src_client, *dst_client;
    struct mapping *mapping;
    bool aggregate;
    struct dhis2_import_options import;
    size_t batch_size;
    PGconn *conn;                /* the fetching thread's */
    pthread_t run_thread;
    long long retry_window_ms;   /* the job's retryWindow */
    struct outages outages;
    struct waiting_hook { struct run_ctx *r; enum outage_of of; } hooks[2];

    pthread_mutex_t lock;        /* counts, items, failure */
    struct run_counts counts;
    struct run_items *items;
    struct err failure;
    atomic_int stop;

    /* fetch → post */
    pthread_mutex_t qlock;
    pthread_cond_t qcond;
    struct batch *queue[QUEUE_DEPTH];
    int qhead, qcount;
    bool qclosed;
    bool posting;                /* the poster holds a batch it took from the queue */
    struct batch *free_batches[QUEUE_DEPTH + 2];
    int n_free;
    struct batch *filling;       /* the batch the fetcher is filling */
    struct batch sums;           /* aggregate = "sum": one value per target key so far */

    long long since_progress;
    double last_report_s;        /* when progress was last written, since started */
    struct timespec started;
    long long chunks_done, chunks_total;

    /* metadata lookups for transform: the target's ids by code or name, asked once each */
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

static void fail(struct run_ctx *r, const struct err *e)
{
    pthread_mutex_lock(&r->lock);
    if (!r->failure.code)
        r->failure = *e;
    pthread_mutex_unlock(&r->lock);
    int none = STOP_NONE;
    atomic_compare_exchange_strong(&r->stop, &none, STOP_FAILED);
}

static int should_stop(void *ud)
{
    struct run_ctx *r = ud;
    if (worker_cancel_requested(r->run_id)) {
        int none = STOP_NONE;
        atomic_compare_exchange_strong(&r->stop, &none, STOP_CANCEL);
    }
    if (r->opt && r->opt->shutdown && atomic_load(r->opt->shutdown)) {
        int none = STOP_NONE;
        atomic_compare_exchange_strong(&r->stop, &none, STOP_SHUTDOWN);
    }
    return atomic_load(&r->stop) != STOP_NONE;
}

/* ---- outages ------------------------------------------------------------------------------ */

static void report_progress(struct run_ctx *r, bool force);

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
        report_progress(h->r, true);
}

/* After a statement on the run's connection failed with rc: whether PostgreSQL went away (the
 * connection broke, as a restart breaks it), in which case the outage clock runs. */
static bool database_away(struct run_ctx *r, int rc)
{
    if (rc != ERR_DB || PQstatus(r->conn) != CONNECTION_BAD)
        return false;
    outage_note(&r->outages, OUTAGE_DATABASE, (long long)time(NULL));
    return true;
}

/* One try at reconnecting while PostgreSQL is away: 0 when it is back (or never left), 1 while
 * the window lasts, ERR_DB once the window is gone. */
static int database_back(struct run_ctx *r, struct err *e)
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
static int await_database(struct run_ctx *r, struct err *e)
{
    int rc;
    while ((rc = database_back(r, e)) == 1 && !(r->opt && r->opt->shutdown && atomic_load(r->opt->shutdown))) {
        struct timespec second = {1, 0};
        nanosleep(&second, NULL);
    }
    return rc == 1 ? err_set(e, ERR_DB, "the database is away and the process is stopping") : rc;
}

/* Shows the outage the run waits out now, and says in its warnings how long each one that
 * ended lasted. Run thread, with the database there. */
static void show_outages(struct run_ctx *r)
{
    const char *what;
    long long since;
    struct err e = {0};
    if (outage_current(&r->outages, &what, &since) &&
        run_set_waiting(r->conn, r->run_id, worker_id(), what, since, &e) != 0)
        log_warn("run %lld: cannot show what it waits for: %s", r->run_id, e.msg);
    char note[OUTAGE_NOTE_SIZE];
    while (outage_take_note(&r->outages, note, sizeof note)) {
        log_info("run %lld: %s", r->run_id, note);
        if (run_add_warning(r->conn, r->run_id, note, &e) != 0)
            log_warn("run %lld: cannot store a warning: %s", r->run_id, e.msg);
    }
}

/* ---- refused, skipped and failed values ----------------------------------------------- */

static char *datavalue_text(const struct datavalue *dv)
{
    cJSON *j = dv ? check_datavalue_json(dv) : NULL;
    char *text = j ? cJSON_PrintUnformatted(j) : NULL;
    cJSON_Delete(j);
    return text;
}

/* dv: the value concerned; src: the same value as read from the source, before the mapping. */
static void list_value(struct run_ctx *r, enum run_item_kind kind, const struct datavalue *dv,
                       const struct datavalue *src, const char *object, const char *value,
                       const char *code, const char *msg)
{
    char *text = datavalue_text(dv), *src_text = datavalue_text(src);
    struct err e = {0};
    pthread_mutex_lock(&r->lock);
    int rc = run_items_add(r->items, kind, object, value, code, msg, text, src_text, &e);
    pthread_mutex_unlock(&r->lock);
    free(text);
    free(src_text);
    if (rc)
        fail(r, &e);
}

static int flush_items(struct run_ctx *r, struct err *e)
{
    pthread_mutex_lock(&r->lock);
    int rc = run_items_flush(r->conn, r->items, e);
    pthread_mutex_unlock(&r->lock);
    return rc;
}

/* ---- the posting thread ------------------------------------------------------------------ */

static struct batch *batch_take(struct run_ctx *r)
{
    pthread_mutex_lock(&r->qlock);
    struct batch *b = r->n_free ? r->free_batches[--r->n_free] : NULL;
    pthread_mutex_unlock(&r->qlock);
    if (!b && (b = calloc(1, sizeof *b)) &&
        (!(b->vals = malloc(r->batch_size * sizeof *b->vals)) ||
         !(b->srcs = malloc(r->batch_size * sizeof *b->srcs)))) {
        free(b->vals);
        free(b);
        b = NULL;
    }
    if (b) {
        b->n = 0;
        b->cap = r->batch_size;
        arena_reset(&b->arena);
    }
    return b;
}

static void batch_free(struct batch *b)
{
    if (b) {
        arena_free(&b->arena);
        free(b->vals);
        free(b->srcs);
        free(b);
    }
}

static void batch_give_back(struct run_ctx *r, struct batch *b)
{
    pthread_mutex_lock(&r->qlock);
    if (r->n_free < (int)(sizeof r->free_batches / sizeof r->free_batches[0])) {
        r->free_batches[r->n_free++] = b;
        b = NULL;
    }
    pthread_mutex_unlock(&r->qlock);
    batch_free(b);
}

/* The fetching thread waits for the poster: while the queue is full (until_drained false: that
 * back-pressure is what bounds memory) or until it has posted everything. Progress is written
 * and a cancel request read about twice a second meanwhile, so a run stuck behind a slow
 * target still shows where it is and still stops when asked. Called with qlock held. */
static void wait_for_poster(struct run_ctx *r, bool until_drained)
{
    while ((until_drained ? (r->qcount > 0 || r->posting) : r->qcount == QUEUE_DEPTH) &&
           atomic_load(&r->stop) == STOP_NONE) {
        struct timespec until = deadline_after_ms(500);
        pthread_cond_timedwait(&r->qcond, &r->qlock, &until);
        if (elapsed_since(&r->started) - r->last_report_s >= 0.5) {
            pthread_mutex_unlock(&r->qlock);
            report_progress(r, true);
            should_stop(r);
            pthread_mutex_lock(&r->qlock);
        }
    }
}

/* Hands a full batch to the poster, waiting while the queue is full. */
static void enqueue(struct run_ctx *r, struct batch *b)
{
    pthread_mutex_lock(&r->qlock);
    wait_for_poster(r, false);
    if (atomic_load(&r->stop) != STOP_NONE) {
        pthread_mutex_unlock(&r->qlock);
        batch_give_back(r, b);
        return;
    }
    r->queue[(r->qhead + r->qcount++) % QUEUE_DEPTH] = b;
    pthread_cond_broadcast(&r->qcond);
    pthread_mutex_unlock(&r->qlock);
}

/* How many of a batch's n values the target refused: the rejected indexes when DHIS2 lists
 * them, else one per value a conflict names (one for a conflict naming none), or all of them
 * when the batch was refused whole. */
static size_t refused_values(const struct dhis2_import_summary *s, size_t n)
{
    if (s->n_rejected)
        return s->n_rejected;
    if (s->status == DHIS2_IMPORT_ERROR && s->n_conflicts == 0)
        return n;
    size_t k = 0;
    for (size_t i = 0; i < s->n_conflicts; i++)
        k += s->conflicts[i].n_indexes ? s->conflicts[i].n_indexes : 1;
    return k < n ? k : n;
}

static void record_summary(struct run_ctx *r, const struct batch *b,
                           const struct dhis2_import_summary *s)
{
    pthread_mutex_lock(&r->lock);
    r->counts.sent += (long long)b->n;
    r->counts.imported += s->imported;
    r->counts.updated += s->updated;
    r->counts.ignored += s->ignored;
    r->counts.deleted += s->deleted;
    r->counts.conflicts += (long long)s->n_conflicts;
    r->counts.refused += (long long)refused_values(s, b->n);
    pthread_mutex_unlock(&r->lock);
    for (size_t i = 0; i < s->n_conflicts; i++) {
        const struct dhis2_conflict *c = &s->conflicts[i];
        if (c->n_indexes == 0) {
            list_value(r, RUN_ITEM_CONFLICT, NULL, NULL, c->object, c->value, c->error_code, c->value);
            continue;
        }
        for (size_t k = 0; k < c->n_indexes; k++) {
            size_t at = c->indexes[k];
            const struct datavalue *dv = at < b->n ? &b->vals[at] : NULL;
            const struct datavalue *src = dv && b->srcs[at].data_element ? &b->srcs[at] : NULL;
            list_value(r, RUN_ITEM_CONFLICT, dv, src, c->object, dv ? dv->value : NULL, c->error_code,
                       c->value);
        }
    }
    if (s->status == DHIS2_IMPORT_ERROR && s->n_conflicts == 0) {
        /* the whole batch was refused without a conflict to show for it */
        char msg[300];
        snprintf(msg, sizeof msg, "the target refused the batch: %s", s->description);
        list_value(r, RUN_ITEM_CONFLICT, NULL, NULL, NULL, NULL, NULL, msg);
        pthread_mutex_lock(&r->lock);
        r->counts.conflicts++;
        pthread_mutex_unlock(&r->lock);
    }
}

static void *poster(void *arg)
{
    struct run_ctx *r = arg;
    for (;;) {
        pthread_mutex_lock(&r->qlock);
        while (r->qcount == 0 && !r->qclosed)
            pthread_cond_wait(&r->qcond, &r->qlock);
        if (r->qcount == 0) {
            pthread_mutex_unlock(&r->qlock);
            break;
        }
        struct batch *b = r->queue[r->qhead];
        r->qhead = (r->qhead + 1) % QUEUE_DEPTH;
        r->qcount--;
        r->posting = true;
        pthread_cond_broadcast(&r->qcond);
        pthread_mutex_unlock(&r->qlock);

        if (atomic_load(&r->stop) == STOP_NONE) {
            struct dhis2_import_summary s;
            struct err e = {0};
            if (dhis2_post_datavalues(r->dst_client, b->vals, b->n, &r->import, &s, &e) == 0) {
                record_summary(r, b, &s);
                dhis2_import_summary_free(&s);
            } else if (e.code != ERR_CANCELLED) {
                fail(r, &e);
            }
        }
        batch_give_back(r, b);
        pthread_mutex_lock(&r->qlock);
        r->posting = false;
        pthread_cond_broadcast(&r->qcond);
        pthread_mutex_unlock(&r->qlock);
    }
    return NULL;
}

/* ---- fetching and mapping --------------------------------------------------------------- */

static void report_progress(struct run_ctx *r, bool force)
{
    if (!force && r->since_progress < PROGRESS_EVERY && elapsed_since(&r->started) - r->last_report_s < 0.5)
        return;
    r->since_progress = 0;
    r->last_report_s = elapsed_since(&r->started);
    struct sync_progress p = {.chunks_done = r->chunks_done, .chunks_total = r->chunks_total,
                              .elapsed_s = elapsed_since(&r->started)};
    pthread_mutex_lock(&r->lock);
    p.counts = r->counts;
    pthread_mutex_unlock(&r->lock);
    struct err e = {0};
    bool cancel = false;
    int rc = database_back(r, &e);
    if (rc < 0)
        fail(r, &e);
    if (rc)
        goto told; /* the progress waits in memory, the listed values too */
    rc = run_progress(r->conn, r->run_id, worker_id(), r->chunks_done, r->chunks_total, &p.counts,
                      &cancel, &e);
    if (rc == ERR_CONFLICT) {
        log_error("run %lld: %s; stopping it", r->run_id, e.msg);
        int none = STOP_NONE;
        atomic_compare_exchange_strong(&r->stop, &none, STOP_LOST);
    } else if (database_away(r, rc)) {
        log_warn("run %lld: PostgreSQL went away (%s); retrying", r->run_id, e.msg);
        goto told;
    } else if (rc) {
        log_warn("run %lld: cannot store progress: %s", r->run_id, e.msg);
    }
    show_outages(r);
    if (cancel) {
        int none = STOP_NONE;
        atomic_compare_exchange_strong(&r->stop, &none, STOP_CANCEL);
    }
    pthread_mutex_lock(&r->lock);
    bool many = run_items_pending(r->items) >= ITEMS_FLUSH_AT;
    pthread_mutex_unlock(&r->lock);
    if (many && (rc = flush_items(r, &e)) != 0 && !database_away(r, rc))
        fail(r, &e);
told:
    outage_current(&r->outages, &p.waiting_for, &p.waiting_since);
    if (r->opt && r->opt->on_progress)
        r->opt->on_progress(r->opt->ud, &p);
}

/* Copies in to out, its strings into a; sent: without the timestamps, which the target sets. */
static int copy_value(struct arena *a, struct datavalue *out, const struct datavalue *in, bool sent)
{
    *out = *in;
    for (int i = 0; i < DV_STRINGS; i++) {
        const char **f = datavalue_string(out, (enum datavalue_string)i);
        if (sent && (i == DV_CREATED || i == DV_LAST_UPDATED))
            *f = NULL;
        else if (*f && !(*f = arena_strdup(a, *f)))
            return -1;
    }
    return 0;
}

/* Copies a mapped value into b, and the value it was read as (src, NULL for a sum) when b keeps
 * those. */
static int keep(struct batch *b, const struct datavalue *dv, const struct datavalue *src)
{
    if (copy_value(&b->arena, &b->vals[b->n], dv, true) != 0)
        return -1;
    if (b->srcs && src && copy_value(&b->arena, &b->srcs[b->n], src, false) != 0)
        return -1;
    if (b->srcs && !src)
        memset(&b->srcs[b->n], 0, sizeof b->srcs[b->n]);
    b->n++;
    return 0;
}

/* aggregate = "sum": values are combined over the whole run, not chunk by chunk, since one
 * target key may gather values from several chunks (two org unit roots mapped onto one, the
 * months of a quarter). When the buffer fills, what it holds is combined and copied into a fresh
 * arena, so memory follows the number of target keys, not the number of values. */
static int combine_sums(struct run_ctx *r, struct err *e)
{
    struct batch *b = &r->sums;
    struct err note = {0};
    b->n = mapping_aggregate(r->mapping, b->vals, b->n, &b->arena, &note);
    if (note.code)
        log_warn("run %lld: %s", r->run_id, note.msg);
    struct batch fresh = {.vals = malloc((b->cap ? b->cap : 1) * sizeof *b->vals), .cap = b->cap};
    if (!fresh.vals)
        return err_set(e, ERR_INTERNAL, "out of memory combining values");
    for (size_t i = 0; i < b->n; i++) {
        if (keep(&fresh, &b->vals[i], NULL) != 0) {
            arena_free(&fresh.arena);
            free(fresh.vals);
            return err_set(e, ERR_INTERNAL, "out of memory combining values");
        }
    }
    arena_free(&b->arena);
    free(b->vals);
    *b = fresh;
    return 0;
}

static int add_to_sums(struct run_ctx *r, const struct datavalue *dv, struct err *e)
{
    struct batch *b = &r->sums;
    if (b->n == b->cap) {
        int rc = b->n ? combine_sums(r, e) : 0;
        if (rc)
            return rc;
        if (b->n >= b->cap / 4 * 3) {
            size_t cap = b->cap ? b->cap * 2 : 4096;
            struct datavalue *grown = realloc(b->vals, cap * sizeof *grown);
            if (!grown)
                return err_set(e, ERR_INTERNAL, "out of memory holding values to sum");
            b->vals = grown;
            b->cap = cap;
        }
    }
    return keep(b, dv, NULL) ? err_set(e, ERR_INTERNAL, "out of memory holding values to sum") : 0;
}

/* src: the value as read from the source, NULL for a sum. */
static int add_mapped(struct run_ctx *r, const struct datavalue *dv, const struct datavalue *src,
                      struct err *e)
{
    if (r->aggregate)
        return add_to_sums(r, dv, e);
    if (!r->filling && !(r->filling = batch_take(r)))
        return err_set(e, ERR_INTERNAL, "out of memory for a batch");
    if (keep(r->filling, dv, src) != 0)
        return err_set(e, ERR_INTERNAL, "out of memory for a batch");
    if (r->filling->n == r->filling->cap) {
        enqueue(r, r->filling);
        r->filling = NULL;
    }
    return 0;
}

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
 * key; called by transform through d2.meta, in the fetching thread. */
static int lookup_target(struct run_ctx *r, const char *field, const char *kind, const char *key,
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
            dhis2_client_set_cancel(r->meta_client, should_stop, r);
        }
        char found[16] = "", filter[560];
        snprintf(filter, sizeof filter, "%s:eq:%s", field, key);
        const char *filters[] = {filter, NULL};
        if (dhis2_list(r->meta_client, kind, "id", filters, 0, first_id, found, &e) != 0) {
            /* not cached: the next value asks again, and this one fails rather than going
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

static int on_values(void *ud, const struct datavalue *vals, size_t n, struct err *e)
{
    struct run_ctx *r = ud;
    struct arena scratch = {0};
    const struct mapping_lookup lookup = {.by_code = lookup_by_code, .by_name = lookup_by_name,
                                          .stop = should_stop, .ud = r};
    for (size_t i = 0; i < n; i++) {
        struct datavalue out;
        struct err why = {0};
        enum map_result res = mapping_apply(r->mapping, &vals[i], &out, &scratch, &lookup, &why);
        if (res == MAP_ERROR && should_stop(r))
            break; /* the stop cut the call short: the value did not fail, the run stopped */
        pthread_mutex_lock(&r->lock);
        r->counts.fetched++;
        if (res == MAP_OK)
            r->counts.mapped++;
        else if (res == MAP_SKIP)
            r->counts.skipped++;
        else
            r->counts.errors++;
        pthread_mutex_unlock(&r->lock);
        if (res == MAP_OK) {
            if (add_mapped(r, &out, &vals[i], e) != 0)
                goto fail;
        } else {
            list_value(r, res == MAP_SKIP ? RUN_ITEM_SKIPPED : RUN_ITEM_ERROR, &vals[i], &vals[i],
                       vals[i].data_element, vals[i].value, NULL, why.msg);
        }
        if ((i & 1023) == 1023)
            arena_reset(&scratch);
    }
    arena_free(&scratch);
    r->since_progress += (long long)n;
    report_progress(r, false);
    if (should_stop(r))
        return err_set(e, ERR_CANCELLED, "stopped");
    return 0;
fail:
    arena_free(&scratch);
    return e->code;
}

/* With aggregate = "sum": after the last chunk, the sums go out in batches. */
static int send_sums(struct run_ctx *r, struct err *e)
{
    if (!r->aggregate || r->sums.n == 0)
        return 0;
    int rc = combine_sums(r, e);
    r->aggregate = false; /* route the combined values into batches */
    for (size_t i = 0; i < r->sums.n && rc == 0; i++)
        rc = add_mapped(r, &r->sums.vals[i], NULL, e);
    r->aggregate = true;
    r->sums.n = 0;
    return rc;
}

/* Subtracts the overlap from a DHIS2 timestamp ("2024-02-03T10:11:12.000", maybe with a zone).
 * An incremental run reads back that far before its watermark because values written in
 * transactions still open when the source's clock was read carry an earlier lastUpdated;
 * re-sent values cost nothing but an `ignored`. */
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

/* ---- the run ------------------------------------------------------------------------------ */

static int open_clients(struct run_ctx *r, struct err *e)
{
    struct dhis2_config cfg;
    const cJSON *window = cJSON_GetObjectItem(r->job.spec, "retryWindow");
    long window_s = cJSON_IsNumber(window) ? (long)window->valuedouble : JOB_RETRY_WINDOW_S;
    r->retry_window_ms = window_s * 1000LL;
    instance_dhis2_config(&r->src, &cfg);
    cfg.max_retries = 4;
    cfg.retry_window_s = window_s;
    cfg.backoff_max_ms = r->app->cfg.retry_max_delay_ms;
    if (!(r->src_client = dhis2_client_new(&cfg, e)))
        return e->code;
    instance_dhis2_config(&r->dst, &cfg);
    cfg.max_retries = 5;
    cfg.retry_window_s = window_s;
    cfg.backoff_max_ms = r->app->cfg.retry_max_delay_ms;
    if (!(r->dst_client = dhis2_client_new(&cfg, e)))
        return e->code;
    r->hooks[0] = (struct waiting_hook){r, OUTAGE_SOURCE};
    r->hooks[1] = (struct waiting_hook){r, OUTAGE_TARGET};
    dhis2_client_set_waiting(r->src_client, client_waiting, &r->hooks[0]);
    dhis2_client_set_waiting(r->dst_client, client_waiting, &r->hooks[1]);
    dhis2_client_set_cancel(r->src_client, should_stop, r);
    dhis2_client_set_cancel(r->dst_client, should_stop, r);
    return 0;
}

static int load(struct run_ctx *r, struct err *e)
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
    if (!r->job.mapping) {
        r->mapping = mapping_identity();
    } else if (!r->app->mappings) {
        return err_set(e, ERR_INTERNAL, "no mapping registry in this process");
    } else if (!(r->mapping = mapping_registry_acquire(r->app->mappings, r->job.mapping, e))) {
        char msg[256];
        snprintf(msg, sizeof msg, "mapping '%s': %s", r->job.mapping, e->msg);
        return err_set(e, e->code, "%s", msg);
    }
    struct mapping_stats st;
    mapping_stats(r->mapping, &st);
    r->aggregate = st.aggregate_sum;

    const cJSON *opts = cJSON_GetObjectItem(r->job.spec, "importOptions");
    r->import.import_strategy = cJSON_GetStringValue(cJSON_GetObjectItem(opts, "importStrategy"));
    r->import.id_scheme = cJSON_GetStringValue(cJSON_GetObjectItem(opts, "idScheme"));
    r->import.data_element_id_scheme = cJSON_GetStringValue(cJSON_GetObjectItem(opts, "dataElementIdScheme"));
    r->import.org_unit_id_scheme = cJSON_GetStringValue(cJSON_GetObjectItem(opts, "orgUnitIdScheme"));
    r->import.category_option_combo_id_scheme =
        cJSON_GetStringValue(cJSON_GetObjectItem(opts, "categoryOptionComboIdScheme"));
    r->import.skip_existing_check = cJSON_IsTrue(cJSON_GetObjectItem(opts, "skipExistingCheck"));
    r->import.async = cJSON_IsTrue(cJSON_GetObjectItem(opts, "async"));
    /* jobs saved before asyncTimeout existed have none: the client's default applies */
    double async_timeout = cJSON_GetNumberValue(cJSON_GetObjectItem(opts, "asyncTimeout"));
    r->import.async_timeout_s = async_timeout >= 1 ? (long)async_timeout : 0;
    r->import.dry_run = r->dry_run;
    double batch = cJSON_GetNumberValue(cJSON_GetObjectItem(opts, "batchSize"));
    if (!(batch >= 1 && batch <= 50000))
        return err_set(e, ERR_INPUT, "job '%s' has no valid batch size; save it again", r->job.name);
    r->batch_size = (size_t)batch;
    return 0;
}

static const char *decide_status(struct run_ctx *r)
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

static int fetch_all(struct run_ctx *r, const char *watermark_from, struct err *e)
{
    const cJSON *spec = r->job.spec;
    const cJSON *periods = cJSON_GetObjectItem(spec, "periods");
    const char **roots = selection_strings(cJSON_GetObjectItem(spec, "orgUnits"));
    struct selection sel;
    int rc = selection_plan(r->src_client, spec, date_today(), &sel, e);
    if (rc == 0 && !roots)
        rc = err_set(e, ERR_INTERNAL, "out of memory");
    const cJSON *refusal;
    cJSON_ArrayForEach(refusal, sel.refusals)
    {
        char said[600];
        snprintf(said, sizeof said, "Fixed periods %s", cJSON_GetStringValue(cJSON_GetObjectItem(refusal, "message")));
        cJSON *w = cJSON_CreateString(said);
        if (!w || !cJSON_AddItemToArray(sel.warnings, w)) {
            cJSON_Delete(w);
            rc = rc ? rc : err_set(e, ERR_INTERNAL, "out of memory");
        }
    }
    if (rc == 0 && cJSON_GetArraySize(sel.warnings) > 0) {
        for (int i = 0; i < cJSON_GetArraySize(sel.warnings); i++)
            log_warn("run %lld: %s", r->run_id, cJSON_GetStringValue(cJSON_GetArrayItem(sel.warnings, i)));
        rc = run_set_warnings(r->conn, r->run_id, sel.warnings, e);
    }
    if (rc)
        goto out;
    size_t n_roots = 0;
    while (roots[n_roots])
        n_roots++;
    r->chunks_total = 0;
    for (size_t k = 0; k < sel.n_parts; k++) {
        size_t n = sel.parts[k].periods ? 0 : 1; /* a date window is one chunk per root */
        while (sel.parts[k].periods && sel.parts[k].periods[n])
            n++;
        r->chunks_total += (long long)(n_roots * n);
    }
    report_progress(r, true);
    for (size_t k = 0; k < sel.n_parts && rc == 0; k++) {
        const struct sel_part *part = &sel.parts[k];
        bool window = !part->periods;
        for (size_t o = 0; o < n_roots && rc == 0; o++) {
            for (size_t p = 0; (window ? p < 1 : part->periods[p] != NULL) && rc == 0; p++) {
                const char *one_period[] = {window ? NULL : part->periods[p], NULL};
                const char *one_root[] = {roots[o], NULL};
                struct dhis2_dv_query q = {
                    .data_sets = part->data_sets[0] ? part->data_sets : NULL,
                    .data_element_groups = part->groups[0] ? part->groups : NULL,
                    .org_units = one_root,
                    .children = cJSON_IsTrue(cJSON_GetObjectItem(spec, "children")),
                    .periods = window ? NULL : one_period,
                    .start_date = window ? cJSON_GetStringValue(cJSON_GetObjectItem(periods, "start")) : NULL,
                    .end_date = window ? cJSON_GetStringValue(cJSON_GetObjectItem(periods, "end")) : NULL,
                    .last_updated = watermark_from,
                    .include_deleted = cJSON_IsTrue(cJSON_GetObjectItem(spec, "deletions")),
                    .batch = 1000,
                };
                rc = dhis2_fetch_datavalues(r->src_client, &q, on_values, r, NULL, e);
                r->chunks_done++;
                report_progress(r, true);
                if (should_stop(r))
                    rc = rc ? rc : ERR_CANCELLED;
            }
        }
    }
    if (rc == 0)
        rc = send_sums(r, e);
    if (rc == 0 && r->filling) {
        enqueue(r, r->filling);
        r->filling = NULL;
    }
out:
    free(roots);
    selection_free(&sel);
    return rc;
}

int sync_run(struct app *app, long long run_id, const struct sync_options *opt,
             const char **status_out, struct err *e)
{
    struct run_ctx *r = calloc(1, sizeof *r);
    if (!r)
        return err_set(e, ERR_INTERNAL, "out of memory starting run %lld", run_id);
    r->app = app;
    r->opt = opt;
    r->run_id = run_id;
    pthread_mutex_init(&r->lock, NULL);
    pthread_mutex_init(&r->qlock, NULL);
    pthread_cond_init(&r->qcond, NULL);
    outages_init(&r->outages);
    r->run_thread = pthread_self();
    r->retry_window_ms = JOB_RETRY_WINDOW_S * 1000LL;
    clock_gettime(CLOCK_MONOTONIC, &r->started);
    const char *status = "failed";
    char wm_from[48] = "", *wm_from_p = NULL;
    struct dhis2_system_info src_info, dst_info;
    bool poster_started = false;
    pthread_t poster_thread;
    struct err local = {0};
    int rc;

    if (!(r->conn = db_acquire(app->db, e)))
        goto done_no_db;
    if (!(r->items = run_items_new(run_id))) {
        rc = err_set(e, ERR_INTERNAL, "out of memory");
        goto finish;
    }
    if ((rc = load(r, e)) || (rc = open_clients(r, e)) ||
        (rc = dhis2_system_info(r->src_client, &src_info, e)) ||
        (rc = dhis2_system_info(r->dst_client, &dst_info, e)))
        goto finish;

    bool incremental = cJSON_IsTrue(cJSON_GetObjectItem(r->job.spec, "incremental")) && !r->full;
    /* a sum made from the changed values only would overwrite the whole sum at the target */
    if (incremental && r->aggregate)
        log_info("run %lld: mapping '%s' sums values, so this run reads the whole selection, not "
                 "only the values changed since the last run", run_id, r->job.mapping);
    else if (incremental) {
        char id[24];
        snprintf(id, sizeof id, "%lld", r->job.id);
        const char *params[] = {id};
        PGresult *res = db_query(r->conn, "SELECT last_updated FROM watermarks WHERE job_id = $1", 1, params, e);
        if (!res) {
            rc = e->code;
            goto finish;
        }
        if (PQntuples(res) == 1) {
            watermark_minus_overlap(PQgetvalue(res, 0, 0), app->cfg.watermark_overlap_s, wm_from,
                                    sizeof wm_from);
            wm_from_p = wm_from;
        }
        PQclear(res);
    }
    if ((rc = run_set_info(r->conn, run_id, mapping_version(r->mapping), wm_from_p,
                           src_info.server_date, e)))
        goto finish;
    log_info("run %lld of job '%s': %s -> %s, mapping %s%s%s", run_id, r->job.name, r->src.name,
             r->dst.name, mapping_version(r->mapping), wm_from_p ? ", values updated since " : "",
             wm_from_p ? wm_from_p : "");

    if (pthread_create(&poster_thread, NULL, poster, r) != 0) {
        rc = err_set(e, ERR_INTERNAL, "cannot start the posting thread");
        goto finish;
    }
    poster_started = true;
    rc = fetch_all(r, wm_from_p, e);
    if (rc && rc != ERR_CANCELLED)
        fail(r, e);
    pthread_mutex_lock(&r->qlock);
    wait_for_poster(r, true);
    pthread_mutex_unlock(&r->qlock);

finish:
    if (rc && rc != ERR_CANCELLED && !poster_started)
        fail(r, e);
    if (poster_started) {
        pthread_mutex_lock(&r->qlock);
        r->qclosed = true;
        pthread_cond_broadcast(&r->qcond);
        pthread_mutex_unlock(&r->qlock);
        pthread_join(poster_thread, NULL);
    }
    status = decide_status(r);
    const char *error = NULL;
    char error_text[300];
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
    if (stored == 0)
        show_outages(r);
    long resent = r->dst_client ? dhis2_client_resent(r->dst_client) : 0;
    if (stored == 0 && resent) {
        char said[300];
        snprintf(said, sizeof said, "%ld post%s to the target got no usable answer and %s sent again: "
                 "what a lost attempt imported counts as ignored, not imported", resent,
                 resent == 1 ? "" : "s", resent == 1 ? "was" : "were");
        log_info("run %lld: %s", run_id, said);
        if (run_add_warning(r->conn, run_id, said, &local) != 0)
            log_warn("run %lld: cannot store a warning: %s", run_id, local.msg);
    }
    if (stored != 0) {
        /* the values went out, but the list of what was refused or skipped did not: the run
         * must not pass for complete, nor move the watermark */
        log_error("run %lld: %s", run_id, local.msg);
        snprintf(error_text, sizeof error_text, "the list of refused and skipped values could not "
                 "be stored: %s", local.msg);
        error = error_text;
        if (strcmp(status, "succeeded") == 0)
            status = "partial";
    }
    int finished;
    while ((finished = run_finish(r->conn, run_id, worker_id(), status, &r->counts, error, &local)) != 0 &&
           database_away(r, finished) && await_database(r, &local) == 0)
        ;
    if (finished != 0)
        log_error("run %lld: cannot store its end: %s", run_id, local.msg);
    else if (atomic_load(&r->stop) == STOP_SHUTDOWN && run_requeue_once(r->conn, run_id, &local) != 0)
        log_error("run %lld: cannot queue it again: %s", run_id, local.msg);
    if (finished == 0 && strcmp(status, "succeeded") == 0 && !r->dry_run) {
        char id[24], run[24];
        snprintf(id, sizeof id, "%lld", r->job.id);
        snprintf(run, sizeof run, "%lld", run_id);
        const char *params[] = {id, src_info.server_date, run};
        if (db_exec(r->conn,
                    "INSERT INTO watermarks (job_id, last_updated, run_id) VALUES ($1, $2, $3)"
                    " ON CONFLICT (job_id) DO UPDATE SET last_updated = $2, run_id = $3, updated_at = now()",
                    3, params, &local) != 0)
            log_error("run %lld: the watermark did not move: %s", run_id, local.msg);
    }
    log_info("run %lld %s: fetched %lld, mapped %lld, skipped %lld, errors %lld, sent %lld, "
             "imported %lld, updated %lld, ignored %lld, deleted %lld, conflicts %lld in %.1fs%s%s",
             run_id, status, r->counts.fetched, r->counts.mapped, r->counts.skipped, r->counts.errors,
             r->counts.sent, r->counts.imported, r->counts.updated, r->counts.ignored,
             r->counts.deleted, r->counts.conflicts, elapsed_since(&r->started),
             error ? ": " : "", error ? error : "");
    db_release(app->db, r->conn);
done_no_db:
    /* without the database the run cannot even be marked: it stays running until the orphan
     * check of a live process finds it */
    if (strcmp(status, "failed") == 0 && r->failure.code && e->code == 0)
        *e = r->failure;
    rc = strcmp(status, "failed") == 0 ? (e->code ? e->code : ERR_INTERNAL) : 0;
    if (status_out)
        *status_out = status;

    if (r->filling)
        batch_give_back(r, r->filling);
    for (int i = 0; i < r->n_free; i++)
        batch_free(r->free_batches[i]);
    arena_free(&r->sums.arena);
    free(r->sums.vals);
    run_items_free(r->items);
    dhis2_client_free(r->src_client);
    dhis2_client_free(r->dst_client);
    if (r->mapping)
        mapping_release(r->mapping);
    instance_free(&r->src);
    instance_free(&r->dst);
    job_free(&r->job);
    dhis2_client_free(r->meta_client);
    strmap_free(&r->lookups);
    arena_free(&r->lookup_strings);
    outages_free(&r->outages);
    pthread_mutex_destroy(&r->lock);
    pthread_mutex_destroy(&r->qlock);
    pthread_cond_destroy(&r->qcond);
    free(r);
    return rc;
}
