/* meta_sync.c — the metadata kind: a run's steps (meta_walk.c reads, this file writes) and the
 * sync_kind entry the harness calls. */
#include "meta_sync.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "dhis2.h"
#include "jobs.h"
#include "mapping.h"
#include "meta_import.h"
#include "meta_run.h"

/* A payload being built as text ({"categories":[…],"dataElements":[…]}): a few hundred bytes
 * an object, where a cJSON tree of it would take several times that. */
struct payload {
    FILE *f;
    char *buf;
    size_t len;
    const struct meta_type *open; /* the type whose array is open */
    long n;
};

static int payload_add(struct payload *p, const struct meta_type *t, const char *obj)
{
    if (!p->f && !(p->f = open_memstream(&p->buf, &p->len)))
        return -1;
    int rc = 0;
    if (p->open != t)
        rc = fprintf(p->f, "%s\"%s\":[", p->open ? "]," : "{", t->name) < 0;
    else
        rc = fputc(',', p->f) == EOF;
    p->open = t;
    p->n++;
    return rc || fputs(obj, p->f) < 0 ? -1 : 0;
}

/* Ends the payload: p->buf holds p->len bytes (free it with payload_clear). */
static int payload_end(struct payload *p)
{
    int rc = fputs("]}", p->f) < 0;
    rc |= fclose(p->f) != 0;
    p->f = NULL;
    return rc ? -1 : 0;
}

static void payload_clear(struct payload *p)
{
    if (p->f)
        fclose(p->f);
    free(p->buf);
    memset(p, 0, sizeof *p);
}

/* ---- posting ---------------------------------------------------------------------------- */

static void on_refused(void *ud, const char *klass, const char *uid, const char *code,
                       const char *message, const cJSON *errors)
{
    (void)errors;
    struct meta_run *mr = ud;
    const struct meta_type *t = meta_type_by_klass(klass);
    cJSON *item = cJSON_CreateObject();
    cJSON_AddStringToObject(item, "type", t ? t->name : klass ? klass : "unknown");
    if (uid)
        cJSON_AddStringToObject(item, "id", uid);
    char *text = cJSON_PrintUnformatted(item);
    sync_list(mr->r, RUN_ITEM_CONFLICT, text, NULL, uid, NULL, code, message);
    free(text);
    cJSON_Delete(item);
}

static int post(struct meta_run *mr, struct payload *p, const char *strategy, bool atomic_all,
                struct err *e)
{
    if (!p->n)
        return 0;
    struct meta_import_options o = {.strategy = strategy,
                                    .atomic_all = atomic_all,
                                    .dry_run = sync_dry_run(mr->r),
                                    .async = mr->job.async,
                                    .async_timeout_s = mr->job.async_timeout_s};
    struct meta_report rep;
    long n = p->n;
    int rc = payload_end(p) ? err_set(e, ERR_INTERNAL, "out of memory building a payload")
                            : meta_import_post(mr->dst, p->buf, p->len, &o, &rep, on_refused, mr, e);
    payload_clear(p);
    if (rc)
        return rc;
    struct run_counts d = {.sent = n,
                           .imported = rep.created,
                           .updated = rep.updated,
                           .deleted = rep.deleted,
                           .ignored = rep.ignored,
                           .conflicts = rep.errors,
                           .refused = rep.refused};
    sync_add_counts(mr->r, &d);
    sync_progress(mr->r, false);
    return 0;
}

/* ---- one object on its way out ---------------------------------------------------------- */

static const char *const sharing_keys[] = {"sharing", "publicAccess", "externalAccess",
                                           "userAccesses", "userGroupAccesses", NULL};
static const char *const user_keys[] = {"user", "createdBy", "lastUpdatedBy", NULL};

static void strip(const struct meta_run *mr, const struct meta_type *t, cJSON *obj)
{
    /* `access` is what the reading user may do there: meaningless at the target */
    cJSON_DeleteItemFromObjectCaseSensitive(obj, "access");
    cJSON_DeleteItemFromObjectCaseSensitive(obj, "href");
    for (size_t i = 0; mr->job.strip_sharing && sharing_keys[i]; i++)
        cJSON_DeleteItemFromObjectCaseSensitive(obj, sharing_keys[i]);
    for (size_t i = 0; mr->job.strip_users && user_keys[i]; i++)
        cJSON_DeleteItemFromObjectCaseSensitive(obj, user_keys[i]);
    if (mr->job.strip_org_units && strcmp(t->name, "organisationUnits") != 0)
        cJSON_DeleteItemFromObjectCaseSensitive(obj, "organisationUnits");
}

struct rewrite {
    struct meta_run *mr;
    struct mapping *m;
    const struct meta_type *to;  /* the type referred to */
    bool check_target;           /* drop references the target lacks (org units not copied) */
    long long dropped_absent;
    struct err why;              /* a mapping error on one reference */
};

static const char *rewrite_ref(void *ud, const char *id)
{
    struct rewrite *w = ud;
    if (w->check_target && !meta_target_has(w->mr, id)) {
        w->dropped_absent++;
        return NULL;
    }
    if (!mapping_has_table(w->m, w->to->table))
        return id;
    const char *out = id;
    struct err why = {0};
    switch (mapping_map_id(w->m, w->to->table, id, &out, &why)) {
    case MAP_OK: return out;
    case MAP_SKIP: return NULL;
    default:
        if (!w->why.code)
            w->why = why;
        return id;
    }
}

struct collect {
    const char **ids;
    size_t n, cap;
};

static int collect_ref(void *ud, const char *id)
{
    struct collect *c = ud;
    if (c->n == c->cap) {
        size_t cap = c->cap ? c->cap * 2 : 64;
        const char **grown = realloc(c->ids, cap * sizeof *grown);
        if (!grown)
            return -1;
        c->ids = grown;
        c->cap = cap;
    }
    c->ids[c->n++] = id;
    return 0;
}

/* References to org units the job does not copy are kept only where the target has them:
 * otherwise DHIS2 refuses the whole object (E5002) for an assignment. */
static bool checks_org_units(const struct meta_run *mr, const struct meta_ref *ref)
{
    return strcmp(ref->type, "organisationUnits") == 0 && !mr->copy_org_units &&
           !mr->job.strip_org_units;
}

static int rewrite_refs(struct meta_run *mr, const struct meta_type *t, cJSON *obj,
                        long long *dropped, struct err *why, struct err *e)
{
    struct mapping *m = sync_mapping(mr->r);
    for (const struct meta_ref *ref = t->refs; ref->path; ref++) {
        struct rewrite w = {.mr = mr, .m = m, .to = meta_type_find(ref->type),
                            .check_target = checks_org_units(mr, ref)};
        if (w.check_target) {
            struct collect c = {0};
            int rc = meta_ref_each(obj, ref, collect_ref, &c) ? err_set(e, ERR_INTERNAL, "out of memory")
                     : c.n ? meta_target_check(mr, w.to, c.ids, c.n, e) : 0;
            free(c.ids);
            if (rc)
                return rc;
        }
        if (!w.check_target && !mapping_has_table(m, w.to->table))
            continue;
        if (meta_ref_rewrite(obj, ref, rewrite_ref, &w) < 0)
            return err_set(e, ERR_INTERNAL, "out of memory");
        *dropped += w.dropped_absent;
        if (w.why.code) {
            *why = w.why;
            return 0;
        }
    }
    return 0;
}

/* The id the object will have at the target; MAP_SKIP/MAP_ERROR from the mapping's table. */
static enum map_result target_id(struct meta_run *mr, const struct meta_type *t, const char *id,
                                 const char **out, struct err *why)
{
    struct mapping *m = sync_mapping(mr->r);
    *out = id;
    if (!mapping_has_table(m, t->table))
        return MAP_OK;
    return mapping_map_id(m, t->table, id, out, why);
}

static void list_item(struct meta_run *mr, enum run_item_kind kind, const struct meta_type *t,
                      const char *id, const char *source, const struct err *why)
{
    cJSON *item = cJSON_CreateObject();
    cJSON_AddStringToObject(item, "type", t->name);
    cJSON_AddStringToObject(item, "id", id);
    char *text = cJSON_PrintUnformatted(item);
    sync_list(mr->r, kind, text, source, id, NULL, NULL, why->msg);
    free(text);
    cJSON_Delete(item);
}

struct writer {
    struct payload p;
    long long dropped_org_units; /* assignments to org units the target lacks */
    long long cocs_left_out;
    long long handled;           /* objects read back from the spools, for progress */
};

/* Whether a part may end after an object of type t. A combo and its option combos travel in
 * one part: a target given the combo alone makes option combos of its own, and the posted
 * ones would then be duplicates. */
static bool splittable(const struct meta_type *t)
{
    return strcmp(t->name, "categoryCombos") != 0 && strcmp(t->name, "categoryOptionCombos") != 0;
}

/* Maps, strips and adds one object (obj, read back from line; deleted here) to the payload;
 * posts a part when it is full. */
static int send_object(struct meta_run *mr, struct writer *w, const struct meta_type *t,
                       cJSON *obj, const char *line, struct err *e)
{
    const cJSON *idv = cJSON_GetObjectItemCaseSensitive(obj, "id");
    char id[64];
    snprintf(id, sizeof id, "%s", cJSON_IsString(idv) ? idv->valuestring : "");
    struct err why = {0};
    struct run_counts d = {0};
    const char *to = id;
    enum map_result res = target_id(mr, t, id, &to, &why);
    int rc = 0;
    if (res == MAP_OK && strcmp(to, id) != 0)
        cJSON_ReplaceItemInObjectCaseSensitive(obj, "id", cJSON_CreateString(to));
    if (res == MAP_OK) {
        strip(mr, t, obj);
        if ((rc = rewrite_refs(mr, t, obj, &w->dropped_org_units, &why, e)) != 0)
            goto out;
        res = why.code ? MAP_ERROR : MAP_OK;
    }
    struct mapping *m = sync_mapping(mr->r);
    if (res == MAP_OK && mapping_has_function(m, "metadata"))
        res = mapping_apply_object(m, "metadata", &obj, t->name, sync_lookup(mr->r), &why);
    if (res == MAP_SKIP) {
        d.skipped = 1;
        list_item(mr, RUN_ITEM_SKIPPED, t, id, line, &why);
    } else if (res == MAP_ERROR) {
        d.errors = 1;
        list_item(mr, RUN_ITEM_ERROR, t, id, line, &why);
    } else {
        char *text = cJSON_PrintUnformatted(obj);
        if (!text || payload_add(&w->p, t, text) != 0)
            rc = err_set(e, ERR_INTERNAL, "out of memory building a payload");
        free(text);
        d.mapped = 1;
    }
    sync_add_counts(mr->r, &d);
    if (rc == 0 && !mr->job.atomic_all && w->p.n >= mr->job.batch_size && splittable(t))
        rc = post(mr, &w->p, mr->job.import_strategy, false, e);
out:
    cJSON_Delete(obj);
    return rc;
}

/* Whether an incremental run must send the object whatever the target holds. */
static bool changed(const struct meta_run *mr, const cJSON *obj)
{
    const cJSON *at = cJSON_GetObjectItemCaseSensitive(obj, "lastUpdated");
    if (!mr->since || !cJSON_IsString(at))
        return true;
    /* both are the source's timestamps (yyyy-MM-ddTHH:mm:ss.SSS): text order is time order */
    size_t n = strlen(mr->since) < 23 ? strlen(mr->since) : 23;
    return strncmp(at->valuestring, mr->since, n) >= 0;
}

/* The object of one spooled line; NULL (with e) when it cannot be read back. */
static cJSON *read_back(const struct meta_type *t, const char *line, struct err *e)
{
    cJSON *obj = cJSON_Parse(line);
    if (!obj)
        err_set(e, ERR_INTERNAL, "out of memory reading back a fetched %s", t->name);
    return obj;
}

/* Unchanged objects of an incremental run, held until the target says which it lacks. */
struct unchanged {
    char *lines[META_CHUNK];
    char *ids[META_CHUNK];
    size_t n;
};

static void unchanged_clear(struct unchanged *u)
{
    for (size_t i = 0; i < u->n; i++) {
        free(u->lines[i]);
        free(u->ids[i]);
    }
    u->n = 0;
}

static int send_lacking(struct meta_run *mr, struct writer *w, const struct meta_type *t,
                        struct unchanged *u, struct err *e)
{
    int rc = meta_target_check(mr, t, (const char *const *)u->ids, u->n, e);
    for (size_t i = 0; rc == 0 && i < u->n; i++) {
        if (meta_target_has(mr, u->ids[i]))
            continue;
        cJSON *obj = read_back(t, u->lines[i], e);
        rc = obj ? send_object(mr, w, t, obj, u->lines[i], e) : e->code;
    }
    unchanged_clear(u);
    return rc;
}

/* Holds an unchanged object (obj, read back from line; deleted here) until a chunk of them can
 * be checked at the target. */
static int hold_unchanged(struct meta_run *mr, struct writer *w, const struct meta_type *t,
                          struct unchanged *u, cJSON *obj, const char *line, struct err *e)
{
    const cJSON *idv = cJSON_GetObjectItemCaseSensitive(obj, "id");
    const char *to = NULL;
    struct err why = {0};
    /* a skipped or failing id goes to send_object, which says why */
    if (!cJSON_IsString(idv) || target_id(mr, t, idv->valuestring, &to, &why) != MAP_OK)
        return send_object(mr, w, t, obj, line, e);
    u->lines[u->n] = strdup(line);
    u->ids[u->n] = strdup(to);
    cJSON_Delete(obj);
    if (!u->lines[u->n] || !u->ids[u->n]) {
        free(u->lines[u->n]);
        free(u->ids[u->n]);
        return err_set(e, ERR_INTERNAL, "out of memory");
    }
    return ++u->n == META_CHUNK ? send_lacking(mr, w, t, u, e) : 0;
}

static int obj_depth(const struct meta_run *mr, const cJSON *obj)
{
    const cJSON *id = cJSON_GetObjectItemCaseSensitive(obj, "id");
    return cJSON_IsString(id) ? meta_org_unit_depth(mr, id->valuestring) : 0;
}

static int write_type(struct meta_run *mr, struct writer *w, struct meta_type_run *tr,
                      struct err *e)
{
    const struct meta_type *t = tr->type;
    if (!tr->spool)
        return 0;
    if (strcmp(t->name, "categoryOptionCombos") == 0 && mr->cocs_generated) {
        w->cocs_left_out += tr->spooled;
        return 0;
    }
    struct unchanged *u = calloc(1, sizeof *u);
    char *line = NULL;
    size_t cap = 0;
    ssize_t len;
    int rc = u ? 0 : err_set(e, ERR_INTERNAL, "out of memory");
    /* org units go level by level (one read of the spool each), parents before children */
    bool by_level = strcmp(t->name, "organisationUnits") == 0, deeper = true;
    for (int depth = 0; rc == 0 && deeper; depth++) {
        deeper = false;
        rewind(tr->spool);
        while (rc == 0 && (len = getline(&line, &cap, tr->spool)) > 0) {
            if (line[len - 1] == '\n')
                line[len - 1] = '\0';
            cJSON *obj = read_back(t, line, e);
            if (!obj) {
                rc = e->code;
                break;
            }
            int d = by_level ? obj_depth(mr, obj) : 0;
            deeper |= d > depth;
            if (d != depth) {
                cJSON_Delete(obj);
                continue;
            }
            if (sync_should_stop(mr->r)) {
                cJSON_Delete(obj);
                rc = err_set(e, ERR_CANCELLED, "stopped while sending metadata");
            } else if (changed(mr, obj)) {
                rc = send_object(mr, w, t, obj, line, e);
            } else {
                rc = hold_unchanged(mr, w, t, u, obj, line, e);
            }
            if (++w->handled % 1000 == 0) {
                sync_progress_add(mr->r, 1000);
                sync_set_steps(mr->r, w->handled, mr->fetched_total);
                sync_progress(mr->r, false);
            }
        }
        if (rc == 0 && u->n)
            rc = send_lacking(mr, w, t, u, e);
    }
    if (u)
        unchanged_clear(u);
    free(u);
    free(line);
    return rc;
}

static int write_all(struct meta_run *mr, struct err *e)
{
    struct writer w = {0};
    int rc = 0;
    for (size_t i = 0; rc == 0 && i < meta_n_types; i++)
        rc = write_type(mr, &w, &mr->t[i], e);
    if (rc == 0)
        rc = post(mr, &w.p, mr->job.import_strategy, mr->job.atomic_all, e);
    payload_clear(&w.p);
    /* the steps now count objects written back, out of those fetched */
    sync_set_steps(mr->r, w.handled + w.cocs_left_out, mr->fetched_total);
    if (w.dropped_org_units)
        sync_warn(mr->r, "%lld org unit assignments left out: the target lacks those org units "
                  "and the job does not copy organisationUnits", w.dropped_org_units);
    if (w.cocs_left_out)
        sync_warn(mr->r, "%lld category option combos left out: the target (DHIS2 2.43+) makes "
                  "them from their category combos itself (E1130-E1132); their ids there may "
                  "differ, map them with the mapping's categoryOptionCombos table",
                  w.cocs_left_out);
    return rc;
}

/* ---- deletions ---------------------------------------------------------------------------- */

struct deletions {
    struct meta_run *mr;
    const struct meta_type *t;
    const struct meta_selection *sel;
    char *ids[META_CHUNK];
    size_t n;
    struct payload p;
};

static bool selected_id(const struct meta_selection *s, const char *id)
{
    if (!s || s->how != META_SELECT_IDS)
        return true;
    const cJSON *v;
    cJSON_ArrayForEach(v, s->list)
    {
        if (strcmp(v->valuestring, id) == 0)
            return true;
    }
    return false;
}

/* Sends the chunk's ids the target holds as {"type":[{"id"}]} with importStrategy=DELETE. */
static int delete_chunk(struct deletions *d, struct err *e)
{
    struct meta_run *mr = d->mr;
    int rc = meta_target_check(mr, d->t, (const char *const *)d->ids, d->n, e);
    for (size_t i = 0; rc == 0 && i < d->n; i++) {
        if (!meta_target_has(mr, d->ids[i]))
            continue;
        char obj[96];
        snprintf(obj, sizeof obj, "{\"id\":\"%s\"}", d->ids[i]);
        if (payload_add(&d->p, d->t, obj) != 0)
            rc = err_set(e, ERR_INTERNAL, "out of memory");
        else if (d->p.n >= mr->job.batch_size)
            rc = post(mr, &d->p, "DELETE", false, e);
    }
    for (size_t i = 0; i < d->n; i++)
        free(d->ids[i]);
    d->n = 0;
    return rc;
}

static int on_deleted(struct deletions *d, const cJSON *item, struct err *e)
{
    const cJSON *uid = cJSON_GetObjectItemCaseSensitive(item, "uid");
    const char *to = NULL;
    struct err why = {0};
    if (!cJSON_IsString(uid) || !selected_id(d->sel, uid->valuestring) ||
        target_id(d->mr, d->t, uid->valuestring, &to, &why) != MAP_OK)
        return 0;
    if (!(d->ids[d->n] = strdup(to)))
        return err_set(e, ERR_INTERNAL, "out of memory");
    struct run_counts c = {.fetched = 1};
    sync_add_counts(d->mr->r, &c);
    return ++d->n == META_CHUNK ? delete_chunk(d, e) : 0;
}

static int read_deletions(struct deletions *d, struct err *e)
{
    int rc = 0;
    for (long page = 1; rc == 0; page++) {
        char *q = NULL, num[24];
        snprintf(num, sizeof num, "%ld", page);
        int bad = dhis2_query_add(&q, "klass", d->t->klass);
        bad |= dhis2_query_add(&q, "deletedAt", d->mr->since);
        bad |= dhis2_query_add(&q, "fields", "uid,klass");
        bad |= dhis2_query_add(&q, "page", num);
        bad |= dhis2_query_add(&q, "pageSize", "1000");
        cJSON *answer = NULL;
        rc = bad ? err_set(e, ERR_INTERNAL, "out of memory")
                 : dhis2_get(d->mr->src, "/api/deletedObjects", q, &answer, e);
        free(q);
        const cJSON *list = cJSON_GetObjectItemCaseSensitive(answer, "deletedObjects"), *item;
        cJSON_ArrayForEach(item, list)
        {
            if (rc == 0)
                rc = on_deleted(d, item, e);
        }
        const cJSON *pager = cJSON_GetObjectItemCaseSensitive(answer, "pager");
        const cJSON *count = cJSON_GetObjectItemCaseSensitive(pager, "pageCount");
        bool last = cJSON_GetArraySize(list) == 0 || !cJSON_IsNumber(count) ||
                    (double)page >= count->valuedouble;
        cJSON_Delete(answer);
        if (last)
            break;
    }
    if (rc == 0 && d->n)
        rc = delete_chunk(d, e);
    return rc;
}

static void reach(const struct meta_run *mr, bool *in, const char *type, bool follow, bool *grew)
{
    const struct meta_type *t = meta_type_find(type);
    if (t && !in[meta_type_index(t)] && meta_follows(mr, type, follow))
        in[meta_type_index(t)] = *grew = true;
}

/* The types a run of the job may copy: those it selects and, with dependencies, every type
 * their rules reach (whether or not this run met an object of it: a deleted section is no
 * longer reached from its data set). */
static void job_types(const struct meta_run *mr, bool *in)
{
    for (size_t i = 0; i < mr->job.n_sel; i++)
        in[meta_type_index(mr->job.sel[i].type)] = true;
    for (bool grew = true; grew;) {
        grew = false;
        for (size_t i = 0; i < meta_n_types; i++) {
            for (const struct meta_ref *r = meta_types[i].refs; in[i] && r->path; r++)
                reach(mr, in, r->type, r->follow, &grew);
            for (const struct meta_owned *o = meta_types[i].owned; in[i] && o && o->type; o++)
                reach(mr, in, o->type, true, &grew);
        }
    }
}

/* Deletions at the source since the watermark, for every type the job copies, dependents
 * first (a data set goes before the data elements it held). */
static int send_deletions(struct meta_run *mr, struct err *e)
{
    int rc = 0;
    bool *in = calloc(meta_n_types, sizeof *in);
    if (!in)
        return err_set(e, ERR_INTERNAL, "out of memory");
    job_types(mr, in);
    for (size_t i = meta_n_types; rc == 0 && i-- > 0;) {
        struct meta_type_run *tr = &mr->t[i];
        if (!in[i])
            continue;
        struct deletions d = {.mr = mr, .t = tr->type, .sel = meta_job_selects(&mr->job, tr->type)};
        rc = read_deletions(&d, e);
        if (rc == 0)
            rc = post(mr, &d.p, "DELETE", false, e);
        for (size_t k = 0; k < d.n; k++)
            free(d.ids[k]);
        payload_clear(&d.p);
    }
    free(in);
    return rc;
}

/* ---- the kind ----------------------------------------------------------------------------- */

static void run_free(struct meta_run *mr)
{
    for (size_t i = 0; mr->t && i < meta_n_types; i++) {
        strmap_free(&mr->t[i].seen);
        free(mr->t[i].pending);
        if (mr->t[i].spool)
            fclose(mr->t[i].spool);
    }
    free(mr->t);
    strmap_free(&mr->target_has);
    strmap_free(&mr->parents);
    arena_free(&mr->ids);
}

static int meta_run(struct sync_run *r, struct err *e)
{
    struct meta_run mr = {.r = r, .src = sync_source_client(r), .dst = sync_target_client(r),
                          .since = sync_since(r)};
    int rc = meta_job_read(sync_job(r)->spec, &mr.job, e);
    if (rc)
        return rc;
    const struct dhis2_system_info *ti = sync_target_info(r);
    mr.cocs_generated = ti && (ti->major > 2 || (ti->major == 2 && ti->minor >= 43));
    mr.copy_org_units = meta_job_selects(&mr.job, meta_type_find("organisationUnits")) != NULL;
    if (!mr.job.incremental)
        mr.since = NULL;
    if (!(mr.t = calloc(meta_n_types, sizeof *mr.t))) {
        rc = err_set(e, ERR_INTERNAL, "out of memory");
        goto out;
    }
    for (size_t i = 0; i < meta_n_types; i++)
        mr.t[i].type = &meta_types[i];
    rc = meta_walk(&mr, e);
    if (rc == 0)
        rc = write_all(&mr, e);
    if (rc == 0 && mr.job.deletions && mr.since)
        rc = send_deletions(&mr, e);
    sync_progress(r, true);
out:
    run_free(&mr);
    return rc;
}

const struct sync_kind sync_kind_metadata = {
    .name = "metadata",
    .validate = meta_job_validate,
    .labels = meta_job_labels,
    .preflight = NULL,
    .run = meta_run,
};
