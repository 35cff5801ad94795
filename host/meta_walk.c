/* meta_walk.c — which objects belong to a metadata job: the selection, then every dependency
 * the include rules of meta_deps.c allow, each fetched once and spooled to disk. */
#include <stdlib.h>
#include <string.h>

#include "dhis2.h"
#include "meta_run.h"
#include "validate.h"

const char META_PENDING[] = "pending", META_FETCHED[] = "fetched", META_HAS[] = "has",
           META_LACKS[] = "lacks";

char *meta_in_filter(const char *prop, const char *const *ids, size_t n)
{
    size_t len = strlen(prop) + 8;
    for (size_t i = 0; i < n; i++)
        len += strlen(ids[i]) + 1;
    char *f = malloc(len + 1);
    if (!f)
        return NULL;
    char *p = f + sprintf(f, "%s:in:[", prop);
    for (size_t i = 0; i < n; i++)
        p += sprintf(p, "%s%s", i ? "," : "", ids[i]);
    strcpy(p, "]");
    return f;
}

/* Adds id to type tr's objects, to be fetched; nothing when it is known already, or when it is
 * no DHIS2 id (it would end up inside an `id:in:[…]` filter). */
static int add_id(struct meta_run *mr, struct meta_type_run *tr, const char *id, struct err *e)
{
    if (!uid_valid(id) || strmap_find(&tr->seen, id))
        return 0;
    char *key = arena_strdup(&mr->ids, id);
    if (!key || strmap_put(&tr->seen, key, META_PENDING) != 0)
        return err_set(e, ERR_INTERNAL, "out of memory holding the job's ids");
    if (tr->head && tr->head == tr->n_pending)
        tr->head = tr->n_pending = 0;
    if (tr->n_pending == tr->cap_pending) {
        size_t cap = tr->cap_pending ? tr->cap_pending * 2 : 256;
        const char **grown = realloc(tr->pending, cap * sizeof *grown);
        if (!grown)
            return err_set(e, ERR_INTERNAL, "out of memory holding the job's ids");
        tr->pending = grown;
        tr->cap_pending = cap;
    }
    tr->pending[tr->n_pending++] = key;
    mr->seen_total++;
    return 0;
}

struct add_ctx {
    struct meta_run *mr;
    struct meta_type_run *tr;
    struct err *e;
};

static int add_listed(void *ud, const cJSON *item, struct err *e)
{
    struct add_ctx *c = ud;
    const cJSON *id = cJSON_GetObjectItemCaseSensitive(item, "id");
    return cJSON_IsString(id) ? add_id(c->mr, c->tr, id->valuestring, e) : 0;
}

static int add_ref(void *ud, const char *id)
{
    struct add_ctx *c = ud;
    return add_id(c->mr, c->tr, id, c->e);
}

static struct meta_type_run *run_of(struct meta_run *mr, const char *type)
{
    const struct meta_type *t = meta_type_find(type);
    return t ? &mr->t[meta_type_index(t)] : NULL;
}

bool meta_follows(const struct meta_run *mr, const char *type, bool follow)
{
    if (!follow || !mr->job.dependencies)
        return false;
    /* option combos are read even for a target that makes its own (2.43+): the run then says
     * how many it left out */
    return strcmp(type, "organisationUnits") != 0 || (mr->copy_org_units && !mr->job.strip_org_units);
}

static int select_objects(struct meta_run *mr, struct err *e)
{
    for (size_t i = 0; i < mr->job.n_sel; i++) {
        const struct meta_selection *s = &mr->job.sel[i];
        struct add_ctx c = {mr, &mr->t[meta_type_index(s->type)], e};
        int rc = 0;
        if (s->how == META_SELECT_IDS) {
            const cJSON *id;
            cJSON_ArrayForEach(id, s->list)
            {
                if (cJSON_IsString(id) && (rc = add_id(mr, c.tr, id->valuestring, e)) != 0)
                    return rc;
            }
            continue;
        }
        const char *filters[24] = {0};
        size_t n = 0;
        const cJSON *f;
        cJSON_ArrayForEach(f, (s->how == META_SELECT_FILTER ? s->list : NULL))
        {
            if (cJSON_IsString(f) && n < sizeof filters / sizeof filters[0] - 1)
                filters[n++] = f->valuestring;
        }
        if ((rc = dhis2_list(mr->src, s->type->name, "id", filters, 1000, add_listed, &c, e)) != 0)
            return rc;
    }
    return 0;
}

/* The query of GET /api/metadata for one chunk of one type, or NULL when out of memory. */
static char *export_query(const struct meta_run *mr, const char *type, const char *filter)
{
    char *q = NULL;
    int rc = dhis2_query_add(&q, type, "true");
    /* the filter applies to every type and ids are unique across types: should a server not
     * know `<type>=true`, the answer still holds only the chunk's objects */
    rc |= dhis2_query_add(&q, "filter", filter);
    rc |= dhis2_query_add(&q, "fields", ":owner");
    rc |= dhis2_query_add(&q, "defaults", "EXCLUDE");
    if (mr->job.strip_sharing)
        rc |= dhis2_query_add(&q, "skipSharing", "true");
    if (rc) {
        free(q);
        return NULL;
    }
    return q;
}

static int note_parent(struct meta_run *mr, const char *id, const cJSON *ou)
{
    const cJSON *parent = cJSON_GetObjectItemCaseSensitive(cJSON_GetObjectItemCaseSensitive(ou, "parent"), "id");
    const char *p = cJSON_IsString(parent) ? arena_strdup(&mr->ids, parent->valuestring) : NULL;
    return (cJSON_IsString(parent) && !p) || strmap_put(&mr->parents, id, p) != 0 ? -1 : 0;
}

int meta_org_unit_depth(const struct meta_run *mr, const char *id)
{
    int depth = 0;
    const struct strmap_slot *s;
    /* DHIS2 hierarchies are a few levels deep; the bound only guards against a cycle */
    while (depth < 64 && (s = strmap_find(&mr->parents, id)) && s->val && strmap_find(&mr->parents, s->val)) {
        id = s->val;
        depth++;
    }
    return depth;
}

/* What one fetched object brings along, then the object to the spool. */
static int take_object(struct meta_run *mr, struct meta_type_run *tr, cJSON *obj, struct err *e)
{
    const cJSON *id = cJSON_GetObjectItemCaseSensitive(obj, "id");
    const struct strmap_slot *slot = cJSON_IsString(id) ? strmap_find(&tr->seen, id->valuestring) : NULL;
    if (!slot || slot->val == META_FETCHED)
        return 0; /* not asked for, or twice in the answer */
    if (strmap_put(&tr->seen, slot->key, META_FETCHED) != 0)
        return err_set(e, ERR_INTERNAL, "out of memory");
    if (strcmp(tr->type->name, "organisationUnits") == 0 && note_parent(mr, slot->key, obj) != 0)
        return err_set(e, ERR_INTERNAL, "out of memory");
    for (const struct meta_ref *ref = tr->type->refs; ref->path; ref++) {
        struct add_ctx c = {mr, run_of(mr, ref->type), e};
        int rc;
        if (c.tr && meta_follows(mr, ref->type, ref->follow) &&
            (rc = meta_ref_each(obj, ref, add_ref, &c)) != 0)
            return rc;
    }
    char *line = cJSON_PrintUnformatted(obj);
    if (!line)
        return err_set(e, ERR_INTERNAL, "out of memory");
    if (!tr->spool && !(tr->spool = tmpfile())) {
        free(line);
        return err_set(e, ERR_INTERNAL, "cannot make a temporary file for the fetched %s "
                       "(check TMPDIR's space)", tr->type->name);
    }
    /* cJSON escapes newlines inside strings, so one object is one line */
    bool ok = fputs(line, tr->spool) >= 0 && fputc('\n', tr->spool) != EOF;
    free(line);
    if (!ok)
        return err_set(e, ERR_INTERNAL, "cannot write the fetched %s to a temporary file "
                       "(check TMPDIR's space)", tr->type->name);
    tr->spooled++;
    return 0;
}

/* A server without the list (404: a DHIS2 without that module) holds none of its objects. */
static int absent_is_none(int rc, struct err *e)
{
    if (rc != ERR_NOT_FOUND)
        return rc;
    err_clear(e);
    return 0;
}

/* Objects of other types that belong with the chunk's (a data set's sections). */
static int add_owned(struct meta_run *mr, const struct meta_type_run *tr, const char *const *ids,
                     size_t n, struct err *e)
{
    for (const struct meta_owned *o = tr->type->owned; o && o->type; o++) {
        struct add_ctx c = {mr, run_of(mr, o->type), e};
        if (!c.tr || !meta_follows(mr, o->type, true))
            continue;
        char *filter = meta_in_filter(o->field, ids, n);
        if (!filter)
            return err_set(e, ERR_INTERNAL, "out of memory");
        const char *filters[] = {filter, NULL};
        int rc = absent_is_none(dhis2_list(mr->src, o->type, "id", filters, 0, add_listed, &c, e), e);
        free(filter);
        if (rc)
            return rc;
    }
    return 0;
}

static int fetch_chunk(struct meta_run *mr, struct meta_type_run *tr, const char *const *ids,
                       size_t n, struct err *e)
{
    char *filter = meta_in_filter("id", ids, n);
    char *q = filter ? export_query(mr, tr->type->name, filter) : NULL;
    cJSON *answer = NULL;
    int rc;
    long long before = tr->spooled;
    if (!q) {
        rc = err_set(e, ERR_INTERNAL, "out of memory");
        goto out;
    }
    if ((rc = dhis2_get(mr->src, "/api/metadata", q, &answer, e)) != 0)
        goto out;
    cJSON *obj;
    cJSON_ArrayForEach(obj, cJSON_GetObjectItemCaseSensitive(answer, tr->type->name))
    {
        if ((rc = take_object(mr, tr, obj, e)) != 0)
            goto out;
    }
    rc = add_owned(mr, tr, ids, n, e);
out:
    if (rc == 0) {
        struct run_counts d = {.fetched = tr->spooled - before};
        mr->fetched_total += d.fetched;
        sync_add_counts(mr->r, &d);
        sync_progress_add(mr->r, d.fetched);
        sync_set_steps(mr->r, mr->fetched_total, mr->seen_total);
        sync_progress(mr->r, false);
    }
    cJSON_Delete(answer);
    free(q);
    free(filter);
    return rc;
}

/* Fetches every pending id, type by type, until nothing new is reached. */
static int fetch_pending(struct meta_run *mr, struct err *e)
{
    for (bool more = true; more;) {
        more = false;
        for (size_t i = 0; i < meta_n_types; i++) {
            struct meta_type_run *tr = &mr->t[i];
            while (tr->head < tr->n_pending) {
                if (sync_should_stop(mr->r))
                    return err_set(e, ERR_CANCELLED, "stopped while reading the source's metadata");
                const char *chunk[META_CHUNK];
                size_t n = tr->n_pending - tr->head < META_CHUNK ? tr->n_pending - tr->head : META_CHUNK;
                memcpy(chunk, tr->pending + tr->head, n * sizeof *chunk);
                tr->head += n;
                int rc = fetch_chunk(mr, tr, chunk, n, e);
                if (rc)
                    return rc;
                more = true;
            }
        }
    }
    return 0;
}

/* Named ids the source does not have: said once per type, not silently dropped. */
static void warn_missing(struct meta_run *mr)
{
    for (size_t i = 0; i < mr->job.n_sel; i++) {
        const struct meta_selection *s = &mr->job.sel[i];
        if (s->how != META_SELECT_IDS)
            continue;
        const struct meta_type_run *tr = &mr->t[meta_type_index(s->type)];
        long missing = 0;
        const char *first = NULL;
        const cJSON *id;
        cJSON_ArrayForEach(id, s->list)
        {
            const struct strmap_slot *slot = strmap_find(&tr->seen, id->valuestring);
            if (slot && slot->val != META_FETCHED) {
                missing++;
                first = first ? first : id->valuestring;
            }
        }
        if (missing)
            sync_warn(mr->r, "objects.%s: %ld of the ids are not at the source (%s%s)",
                      s->type->name, missing, first, missing > 1 ? ", …" : "");
    }
}

int meta_walk(struct meta_run *mr, struct err *e)
{
    int rc = select_objects(mr, e);
    if (rc == 0)
        rc = fetch_pending(mr, e);
    if (rc == 0)
        warn_missing(mr);
    return rc;
}

static int mark_has(void *ud, const cJSON *item, struct err *e)
{
    struct meta_run *mr = ud;
    const cJSON *id = cJSON_GetObjectItemCaseSensitive(item, "id");
    const struct strmap_slot *slot = cJSON_IsString(id) ? strmap_find(&mr->target_has, id->valuestring) : NULL;
    if (slot && strmap_put(&mr->target_has, slot->key, META_HAS) != 0)
        return err_set(e, ERR_INTERNAL, "out of memory");
    return 0;
}

int meta_target_check(struct meta_run *mr, const struct meta_type *t, const char *const *ids,
                      size_t n, struct err *e)
{
    const char *ask[META_CHUNK];
    size_t k = 0;
    for (size_t i = 0; i <= n; i++) {
        if (i < n && !strmap_find(&mr->target_has, ids[i])) {
            char *key = arena_strdup(&mr->ids, ids[i]);
            if (!key || strmap_put(&mr->target_has, key, META_LACKS) != 0)
                return err_set(e, ERR_INTERNAL, "out of memory");
            ask[k++] = key;
        }
        if (k == META_CHUNK || (i == n && k)) {
            char *filter = meta_in_filter("id", ask, k);
            if (!filter)
                return err_set(e, ERR_INTERNAL, "out of memory");
            const char *filters[] = {filter, NULL};
            int rc = absent_is_none(dhis2_list(mr->dst, t->name, "id", filters, 0, mark_has, mr, e), e);
            free(filter);
            if (rc)
                return rc;
            k = 0;
        }
    }
    return 0;
}

bool meta_target_has(const struct meta_run *mr, const char *id)
{
    const struct strmap_slot *slot = strmap_find(&mr->target_has, id);
    return slot && slot->val == META_HAS;
}
