/* mdexport.c — GET /api/metadata (DHIS2's MetadataExportController: per-type selection and
 * fields/filters, fields=:owner by default, defaults=EXCLUDE, skipSharing) and
 * GET /api/deletedObjects (what imports deleted, with klass/uid/code/deletedAt selection and
 * paging). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "emu.h"

static const char *str_of(const cJSON *o, const char *key)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, key);
    return cJSON_IsString(v) ? v->valuestring : NULL;
}

/* The value of "<col>:<suffix>" (or of "<suffix>" when col is NULL), every one of them joined
 * with commas for fields, or the i-th for filters. */
static char *param_join(const struct request *r, const char *col, const char *suffix)
{
    char key[160];
    if (col)
        snprintf(key, sizeof key, "%s:%s", col, suffix);
    else
        snprintf(key, sizeof key, "%s", suffix);
    struct buf b = {0};
    buf_puts(&b, "");
    for (int i = 0; i < r->n_params; i++)
        if (!strcmp(r->params[i].key, key) && r->params[i].value && *r->params[i].value) {
            if (b.len)
                buf_putc(&b, ',');
            buf_puts(&b, r->params[i].value);
        }
    return buf_take(&b);
}

struct filters {
    struct filter *f;
    int n;
};

static void filters_free(struct filters *fs)
{
    for (int i = 0; i < fs->n; i++) {
        free(fs->f[i].path);
        free(fs->f[i].value);
    }
    free(fs->f);
    fs->f = NULL;
    fs->n = 0;
}

/* Adds every filter= (key "filter") or <col>:filter=; -1 with the bad one in *bad. */
static int filters_add(const struct request *r, const char *key, struct filters *fs, const char **bad)
{
    for (int i = 0; i < r->n_params; i++) {
        if (strcmp(r->params[i].key, key) || !r->params[i].value)
            continue;
        struct filter *grown = realloc(fs->f, ((size_t)fs->n + 1) * sizeof *grown);
        if (!grown)
            return -1;
        fs->f = grown;
        int rc = md_filter_parse(r->params[i].value, &fs->f[fs->n]);
        fs->n++;
        if (rc || !md_op_known(fs->f[fs->n - 1].op)) {
            *bad = r->params[i].value;
            return -1;
        }
    }
    return 0;
}

static bool is_default(const char *col, const cJSON *o)
{
    const char *name = str_of(o, "name");
    return name && !strcmp(name, "default") &&
           (!strcmp(col, "categories") || !strcmp(col, "categoryOptions") || !strcmp(col, "categoryCombos") ||
            !strcmp(col, "categoryOptionCombos"));
}

/* fields=:owner: what the object owns, without what the emulator computes for the lists. */
static void drop_computed(const char *col, cJSON *o, bool skip_sharing)
{
    const struct md_type *t = md_type_of(col);
    for (int i = 0; t && i < 2 && t->computed[i]; i++)
        cJSON_DeleteItemFromObjectCaseSensitive(o, t->computed[i]);
    if (skip_sharing) {
        static const char *keys[] = {"sharing", "publicAccess", "externalAccess", "userAccesses",
                                     "userGroupAccesses"};
        for (size_t i = 0; i < sizeof keys / sizeof keys[0]; i++)
            cJSON_DeleteItemFromObjectCaseSensitive(o, keys[i]);
    }
}

static int export_locked(struct request *r, cJSON *out)
{
    struct metadata *md = &r->emu->md;
    bool any_selected = false;
    for (int i = 0; i < md->n_cols; i++)
        any_selected = any_selected || req_flag(r, md->cols[i].name, false);
    const char *defaults = req_param(r, "defaults");
    bool no_defaults = defaults && !strcasecmp(defaults, "EXCLUDE");
    bool skip_sharing = req_flag(r, "skipSharing", false);
    struct filters common = {0};
    const char *bad = NULL;
    int rc = 0;
    if (filters_add(r, "filter", &common, &bad))
        goto bad;
    for (int i = 0; i < md->n_cols && !rc; i++) {
        struct md_collection *c = &md->cols[i];
        if (any_selected && !req_flag(r, c->name, false))
            continue;
        struct filters own = {0};
        char key[160];
        snprintf(key, sizeof key, "%s:filter", c->name);
        if (filters_add(r, key, &own, &bad)) {
            filters_free(&own);
            goto bad;
        }
        char *typed = param_join(r, c->name, "fields"), *all = param_join(r, NULL, "fields");
        const char *spec = typed && *typed ? typed : all && *all ? all : ":owner";
        struct field *fields = NULL;
        int n_fields = 0;
        if (!typed || !all || md_fields_parse(&spec, &fields, &n_fields)) {
            rc = -1;
        } else {
            bool owner = false;
            for (int k = 0; k < n_fields; k++)
                owner = owner || !strcmp(fields[k].name, ":owner");
            cJSON *arr = NULL, *o;
            cJSON_ArrayForEach(o, c->items) {
                if (no_defaults && is_default(c->name, o))
                    continue;
                bool ok = true;
                for (int k = 0; k < common.n && ok; k++)
                    ok = md_filter_match(o, &common.f[k]);
                for (int k = 0; k < own.n && ok; k++)
                    ok = md_filter_match(o, &own.f[k]);
                if (!ok)
                    continue;
                cJSON *x = md_apply_fields(o, fields, n_fields);
                if (x && owner)
                    drop_computed(c->name, x, skip_sharing);
                else if (x && skip_sharing)
                    drop_computed(NULL, x, true);
                if (!x || (!arr && !(arr = cJSON_AddArrayToObject(out, c->name))) || !cJSON_AddItemToArray(arr, x)) {
                    cJSON_Delete(x);
                    rc = -1;
                    break;
                }
            }
        }
        md_fields_free(fields, n_fields);
        free(typed);
        free(all);
        filters_free(&own);
    }
    filters_free(&common);
    return rc ? http_webmessage(r, 500, "ERROR", "Out of memory", NULL) : 1;
bad:
    filters_free(&common);
    char msg[512];
    snprintf(msg, sizeof msg, "Query failed because of a syntax error (filter: %s)", bad ? bad : "");
    return bad ? http_webmessage(r, 400, "ERROR", msg, NULL) : http_webmessage(r, 500, "ERROR", "Out of memory", NULL);
}

int api_md_export(struct request *r)
{
    struct emu *emu = r->emu;
    cJSON *out = cJSON_CreateObject(), *sys = cJSON_AddObjectToObject(out, "system");
    struct buf date = {0};
    buf_timestamp(&date, now_ms(), false);
    char *now = buf_take(&date);
    if (!out || !sys || !now || !cJSON_AddStringToObject(sys, "id", emu->system_id) ||
        !cJSON_AddStringToObject(sys, "rev", "e1m2u3l") || !cJSON_AddStringToObject(sys, "version", emu->cfg.version) ||
        !cJSON_AddStringToObject(sys, "date", now)) {
        free(now);
        cJSON_Delete(out);
        return http_webmessage(r, 500, "ERROR", "Out of memory", NULL);
    }
    free(now);
    pthread_rwlock_rdlock(&emu->st.lock);
    int rc = export_locked(r, out);
    pthread_rwlock_unlock(&emu->st.lock);
    if (rc != 1) {
        cJSON_Delete(out);
        return rc;
    }
    return http_send_json(r, 200, out);
}

static bool listed(const struct request *r, const char *key, const char *v)
{
    bool asked = false;
    for (int i = 0; i < r->n_params; i++) {
        if (strcmp(r->params[i].key, key) || !r->params[i].value)
            continue;
        asked = true;
        const char *p = r->params[i].value;
        size_t n = strlen(v ? v : "");
        while (v && *p) {
            const char *end = strchr(p, ',');
            size_t len = end ? (size_t)(end - p) : strlen(p);
            if (len == n && !strncmp(p, v, n))
                return true;
            p = end ? end + 1 : p + len;
        }
    }
    return !asked;
}

int api_deleted_objects(struct request *r)
{
    struct emu *emu = r->emu;
    const char *since = req_param(r, "deletedAt");
    int64_t since_ms = 0;
    if (since && timestamp_parse(since, &since_ms))
        return http_webmessage(r, 400, "ERROR", "Invalid deletedAt: expected a date or a timestamp", NULL);
    bool paging = req_flag(r, "paging", true) && !req_flag(r, "skipPaging", false);
    const char *ps = req_param(r, "pageSize"), *pg = req_param(r, "page");
    int page_size = ps && atoi(ps) > 0 ? atoi(ps) : 50, page = pg && atoi(pg) > 0 ? atoi(pg) : 1;
    cJSON *out = cJSON_CreateObject(), *pager = NULL, *list = NULL;
    if (!out || (paging && !(pager = cJSON_AddObjectToObject(out, "pager"))) ||
        !(list = cJSON_AddArrayToObject(out, "deletedObjects")))
        goto oom;
    pthread_rwlock_rdlock(&emu->st.lock);
    int total = 0, first = (page - 1) * page_size;
    const cJSON *d;
    bool bad = false;
    cJSON_ArrayForEach(d, emu->deleted) {
        int64_t at = 0;
        if (timestamp_parse(str_of(d, "deletedAt"), &at) == 0 && since && at < since_ms)
            continue;
        if (!listed(r, "klass", str_of(d, "klass")) || !listed(r, "uid", str_of(d, "uid")) ||
            !listed(r, "code", str_of(d, "code")))
            continue;
        if (!paging || (total >= first && total < first + page_size)) {
            cJSON *x = cJSON_Duplicate(d, 1);
            if (!x || !cJSON_AddItemToArray(list, x)) {
                cJSON_Delete(x);
                bad = true;
            }
        }
        total++;
    }
    pthread_rwlock_unlock(&emu->st.lock);
    if (bad)
        goto oom;
    if (pager && (!cJSON_AddNumberToObject(pager, "page", page) ||
                  !cJSON_AddNumberToObject(pager, "pageCount", total ? (total + page_size - 1) / page_size : 1) ||
                  !cJSON_AddNumberToObject(pager, "total", total) || !cJSON_AddNumberToObject(pager, "pageSize", page_size)))
        goto oom;
    return http_send_json(r, 200, out);
oom:
    cJSON_Delete(out);
    return http_webmessage(r, 500, "ERROR", "Out of memory", NULL);
}
