/* dv_sync.c — the data values kind (sync_kind.h): the job's selection is split into chunks
 * (org unit root × period, or × the date window); values stream in chunk by chunk, go through
 * the mapping (C lookup tables, then the optional Lua transform), and are posted to the target
 * in batches of the job's batch size by a second thread while the next values are fetched.
 * Memory is bounded by a few batches whatever the size of the job (with aggregate = "sum", by
 * the number of target keys: values are combined over the whole run, whichever chunks they
 * came from). Every import summary is read; its counts and each refused value go to the run. */
#include "dv_sync.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "deadline.h"
#include "dhis2.h"
#include "jobs.h"
#include "log.h"
#include "mapping.h"
#include "period.h"
#include "selection.h"

/* Batches in flight between the fetching and the posting thread. */
enum { QUEUE_DEPTH = 2 };

struct batch {
    struct datavalue *vals;
    struct datavalue *srcs; /* each value as read, to show beside a refusal; zeroed for a sum */
    size_t n, cap;
    struct arena arena;
};

struct dv_run {
    struct sync_run *h;
    struct mapping *mapping;
    bool aggregate;
    struct dhis2_import_options import;
    size_t batch_size;

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
    struct timespec last_wait_report;
    long long chunks_done, chunks_total;
};

/* ---- refused, skipped and failed values ----------------------------------------------- */

static char *datavalue_text(const struct datavalue *dv)
{
    cJSON *j = dv ? check_datavalue_json(dv) : NULL;
    char *text = j ? cJSON_PrintUnformatted(j) : NULL;
    cJSON_Delete(j);
    return text;
}

/* dv: the value concerned; src: the same value as read from the source, before the mapping. */
static void list_value(struct dv_run *r, enum run_item_kind kind, const struct datavalue *dv,
                       const struct datavalue *src, const char *object, const char *value,
                       const char *code, const char *msg)
{
    char *text = datavalue_text(dv), *src_text = datavalue_text(src);
    sync_list(r->h, kind, text, src_text, object, value, code, msg);
    free(text);
    free(src_text);
}

/* ---- the posting thread ------------------------------------------------------------------ */

static struct batch *batch_take(struct dv_run *r)
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

static void batch_give_back(struct dv_run *r, struct batch *b)
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
static void wait_for_poster(struct dv_run *r, bool until_drained)
{
    while ((until_drained ? (r->qcount > 0 || r->posting) : r->qcount == QUEUE_DEPTH) &&
           !sync_should_stop(r->h)) {
        struct timespec until = deadline_after_ms(500);
        pthread_cond_timedwait(&r->qcond, &r->qlock, &until);
        pthread_mutex_unlock(&r->qlock);
        sync_progress(r->h, false);
        pthread_mutex_lock(&r->qlock);
    }
}

/* Hands a full batch to the poster, waiting while the queue is full. */
static void enqueue(struct dv_run *r, struct batch *b)
{
    pthread_mutex_lock(&r->qlock);
    wait_for_poster(r, false);
    if (sync_should_stop(r->h)) {
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

static void record_summary(struct dv_run *r, const struct batch *b,
                           const struct dhis2_import_summary *s)
{
    const struct run_counts got = {
        .sent = (long long)b->n, .imported = s->imported, .updated = s->updated,
        .ignored = s->ignored, .deleted = s->deleted, .conflicts = (long long)s->n_conflicts,
        .refused = (long long)refused_values(s, b->n)};
    sync_add_counts(r->h, &got);
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
        sync_add_counts(r->h, &(struct run_counts){.conflicts = 1});
    }
}

static void *poster(void *arg)
{
    struct dv_run *r = arg;
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

        if (!sync_should_stop(r->h)) {
            struct dhis2_import_summary s;
            struct err e = {0};
            if (dhis2_post_datavalues(sync_target_client(r->h), b->vals, b->n, &r->import, &s, &e) == 0) {
                record_summary(r, b, &s);
                dhis2_import_summary_free(&s);
            } else if (e.code != ERR_CANCELLED) {
                sync_fail(r->h, &e);
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

/* Copies in to out, all its text into a with one allocation; sent: without the timestamps,
 * which the target sets. */
static int copy_value(struct arena *a, struct datavalue *out, const struct datavalue *in, bool sent)
{
    size_t len[DV_STRINGS], total = 0;
    *out = *in;
    if (sent)
        out->created = out->last_updated = NULL;
    for (int i = 0; i < DV_STRINGS; i++) {
        const char *s = *datavalue_string(out, (enum datavalue_string)i);
        len[i] = s ? strlen(s) + 1 : 0;
        total += len[i];
    }
    char *p = total ? arena_alloc(a, total) : NULL;
    if (total && !p)
        return -1;
    for (int i = 0; i < DV_STRINGS; i++) {
        const char **f = datavalue_string(out, (enum datavalue_string)i);
        if (len[i]) {
            memcpy(p, *f, len[i]);
            *f = p;
            p += len[i];
        }
    }
    return 0;
}

/* Copies a mapped value into b, and the value it was read as (src, NULL for a sum) when b keeps
 * those. The text is copied once: a mapped field that is the source's own string (most fields
 * of most values) points at the source's copy, and an id from a lookup table stays where it is
 * (the run keeps its mapping version until the last batch is posted). Only text a transform
 * wrote (scratch: in the call's arena) is copied besides. */
static int keep(struct batch *b, const struct datavalue *dv, const struct datavalue *src, bool scratch)
{
    struct datavalue *out = &b->vals[b->n], *kept = b->srcs ? &b->srcs[b->n] : NULL;
    if (!kept || !src) {
        if (kept)
            memset(kept, 0, sizeof *kept);
        if (copy_value(&b->arena, out, dv, true) != 0)
            return -1;
        b->n++;
        return 0;
    }
    if (copy_value(&b->arena, kept, src, false) != 0)
        return -1;
    *out = *dv;
    out->created = out->last_updated = NULL;
    for (int i = 0; i < DV_STRINGS; i++) {
        const char **f = datavalue_string(out, (enum datavalue_string)i);
        if (!*f)
            continue;
        if (*f == *datavalue_string((struct datavalue *)src, (enum datavalue_string)i))
            *f = *datavalue_string(kept, (enum datavalue_string)i);
        else if (scratch && !(*f = arena_strdup(&b->arena, *f)))
            return -1;
    }
    b->n++;
    return 0;
}

/* aggregate = "sum": values are combined over the whole run, not chunk by chunk, since one
 * target key may gather values from several chunks (two org unit roots mapped onto one, the
 * months of a quarter). When the buffer fills, what it holds is combined and copied into a fresh
 * arena, so memory follows the number of target keys, not the number of values. */
static int combine_sums(struct dv_run *r, struct err *e)
{
    struct batch *b = &r->sums;
    struct err note = {0};
    b->n = mapping_aggregate(r->mapping, b->vals, b->n, &b->arena, &note);
    if (note.code)
        log_warn("run %lld: %s", sync_run_id(r->h), note.msg);
    struct batch fresh = {.vals = malloc((b->cap ? b->cap : 1) * sizeof *b->vals), .cap = b->cap};
    if (!fresh.vals)
        return err_set(e, ERR_INTERNAL, "out of memory combining values");
    for (size_t i = 0; i < b->n; i++) {
        if (keep(&fresh, &b->vals[i], NULL, true) != 0) {
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

static int add_to_sums(struct dv_run *r, const struct datavalue *dv, struct err *e)
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
    return keep(b, dv, NULL, true) ? err_set(e, ERR_INTERNAL, "out of memory holding values to sum") : 0;
}

/* src: the value as read from the source, NULL for a sum; scratch: dv may hold text in the
 * mapping call's arena (see keep). */
static int add_mapped(struct dv_run *r, const struct datavalue *dv, const struct datavalue *src,
                      bool scratch, struct err *e)
{
    if (r->aggregate)
        return add_to_sums(r, dv, e);
    if (!r->filling && !(r->filling = batch_take(r)))
        return err_set(e, ERR_INTERNAL, "out of memory for a batch");
    if (keep(r->filling, dv, src, scratch) != 0)
        return err_set(e, ERR_INTERNAL, "out of memory for a batch");
    if (r->filling->n == r->filling->cap) {
        enqueue(r, r->filling);
        r->filling = NULL;
    }
    return 0;
}

static int on_values(void *ud, const struct datavalue *vals, size_t n, struct err *e)
{
    struct dv_run *r = ud;
    struct arena scratch = {0};
    const struct mapping_lookup *lookup = sync_lookup(r->h);
    struct run_counts got = {0};
    int rc = 0;
    for (size_t i = 0; i < n && rc == 0; i++) {
        struct datavalue out;
        struct err why = {0};
        size_t scratch_before = scratch.used_bytes;
        enum map_result res = mapping_apply(r->mapping, &vals[i], &out, &scratch, lookup, &why);
        if (res == MAP_ERROR && sync_should_stop(r->h))
            break; /* the stop cut the call short: the value did not fail, the run stopped */
        got.fetched++;
        if (res == MAP_OK) {
            got.mapped++;
            rc = add_mapped(r, &out, &vals[i], scratch.used_bytes != scratch_before, e);
        } else {
            *(res == MAP_SKIP ? &got.skipped : &got.errors) += 1;
            list_value(r, res == MAP_SKIP ? RUN_ITEM_SKIPPED : RUN_ITEM_ERROR, &vals[i], &vals[i],
                       vals[i].data_element, vals[i].value, NULL, why.msg);
        }
        if ((i & 1023) == 1023)
            arena_reset(&scratch);
    }
    arena_free(&scratch);
    sync_add_counts(r->h, &got);
    if (rc)
        return rc;
    sync_progress_add(r->h, (long long)n);
    sync_progress(r->h, false);
    if (sync_should_stop(r->h))
        return err_set(e, ERR_CANCELLED, "stopped");
    return 0;
}

/* With aggregate = "sum": after the last chunk, the sums go out in batches. */
static int send_sums(struct dv_run *r, struct err *e)
{
    if (!r->aggregate || r->sums.n == 0)
        return 0;
    int rc = combine_sums(r, e);
    r->aggregate = false; /* route the combined values into batches */
    for (size_t i = 0; i < r->sums.n && rc == 0; i++)
        rc = add_mapped(r, &r->sums.vals[i], NULL, true, e);
    r->aggregate = true;
    r->sums.n = 0;
    return rc;
}

/* The job's import options, as the poster sends them. */
static int read_options(struct dv_run *r, struct err *e)
{
    const cJSON *opts = cJSON_GetObjectItem(sync_job(r->h)->spec, "importOptions");
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
    r->import.dry_run = sync_dry_run(r->h);
    double batch = cJSON_GetNumberValue(cJSON_GetObjectItem(opts, "batchSize"));
    if (!(batch >= 1 && batch <= 50000))
        return err_set(e, ERR_INPUT, "job '%s' has no valid batch size; save it again", sync_job(r->h)->name);
    r->batch_size = (size_t)batch;
    return 0;
}


static int fetch_all(struct dv_run *r, const char *watermark_from, struct err *e)
{
    const cJSON *spec = sync_job(r->h)->spec;
    const cJSON *periods = cJSON_GetObjectItem(spec, "periods");
    const char **roots = selection_strings(cJSON_GetObjectItem(spec, "orgUnits"));
    struct selection sel;
    int rc = selection_plan(sync_source_client(r->h), spec, date_today(), &sel, e);
    if (rc == 0 && !roots)
        rc = err_set(e, ERR_INTERNAL, "out of memory");
    const cJSON *refusal;
    cJSON_ArrayForEach(refusal, sel.refusals)
    {
        if (rc == 0)
            rc = sync_warn(r->h, "Fixed periods %s",
                           cJSON_GetStringValue(cJSON_GetObjectItem(refusal, "message")));
    }
    const cJSON *warning;
    cJSON_ArrayForEach(warning, sel.warnings)
    {
        if (rc == 0)
            rc = sync_warn(r->h, "%s", cJSON_GetStringValue(warning));
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
    sync_set_steps(r->h, 0, r->chunks_total);
    sync_progress(r->h, true);
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
                rc = dhis2_fetch_datavalues(sync_source_client(r->h), &q, on_values, r, NULL, e);
                sync_set_steps(r->h, ++r->chunks_done, r->chunks_total);
                sync_progress(r->h, true);
                if (sync_should_stop(r->h))
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

/* A summing mapping must read the whole selection: a sum made from the changed values only
 * would overwrite the whole sum at the target. */
static bool reads_changes_only(struct sync_run *h)
{
    struct mapping_stats st;
    mapping_stats(sync_mapping(h), &st);
    if (st.aggregate_sum && cJSON_IsTrue(cJSON_GetObjectItem(sync_job(h)->spec, "incremental")))
        log_info("run %lld: mapping '%s' sums values, so this run reads the whole selection, not "
                 "only the values changed since the last run", sync_run_id(h), sync_job(h)->mapping);
    return !st.aggregate_sum;
}

static void dv_free(struct dv_run *r)
{
    if (r->filling)
        batch_give_back(r, r->filling);
    for (int i = 0; i < r->n_free; i++)
        batch_free(r->free_batches[i]);
    arena_free(&r->sums.arena);
    free(r->sums.vals);
    pthread_mutex_destroy(&r->qlock);
    pthread_cond_destroy(&r->qcond);
    free(r);
}

static int run_data_values(struct sync_run *h, struct err *e)
{
    struct dv_run *r = calloc(1, sizeof *r);
    if (!r)
        return err_set(e, ERR_INTERNAL, "out of memory starting the run");
    r->h = h;
    r->mapping = sync_mapping(h);
    struct mapping_stats st;
    mapping_stats(r->mapping, &st);
    r->aggregate = st.aggregate_sum;
    pthread_mutex_init(&r->qlock, NULL);
    pthread_cond_init(&r->qcond, NULL);
    pthread_t poster_thread;
    int rc = read_options(r, e);
    if (rc == 0 && pthread_create(&poster_thread, NULL, poster, r) != 0)
        rc = err_set(e, ERR_INTERNAL, "cannot start the posting thread");
    if (rc) {
        dv_free(r);
        return rc;
    }
    rc = fetch_all(r, sync_since(h), e);
    if (rc && rc != ERR_CANCELLED)
        sync_fail(h, e);
    pthread_mutex_lock(&r->qlock);
    wait_for_poster(r, true);
    r->qclosed = true;
    pthread_cond_broadcast(&r->qcond);
    pthread_mutex_unlock(&r->qlock);
    pthread_join(poster_thread, NULL);
    dv_free(r);
    return rc;
}

const struct sync_kind sync_kind_data_values = {
    .name = "dataValues",
    .validate = dv_job_validate,
    .labels = dv_job_labels,
    .incremental = reads_changes_only,
    .preflight = dv_job_preflight,
    .run = run_data_values,
};
