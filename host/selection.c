#include "selection.h"

#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "period.h"

/* Ids per metadata request: keeps the URL well under the 8 KB servers accept. */
enum { IDS_PER_REQUEST = 100 };

/* What the source says of one data set or group of the job. */
struct source_info {
    const char *id;   /* borrowed from the spec */
    char name[200];
    uint32_t types;   /* a bit per enum period_type */
    bool found;
    cJSON *members;   /* a group's data elements: [{"id":…}] */
};

struct infos {
    struct source_info *v;
    size_t n;
};

const char **selection_strings(const cJSON *arr)
{
    int n = cJSON_GetArraySize(arr);
    const char **out = calloc((size_t)n + 1, sizeof *out);
    if (!out)
        return NULL;
    int i = 0;
    const cJSON *item;
    cJSON_ArrayForEach(item, arr) out[i++] = cJSON_GetStringValue(item);
    return out;
}

static struct source_info *info_of(struct infos *in, const cJSON *item)
{
    const char *id = cJSON_GetStringValue(cJSON_GetObjectItem(item, "id"));
    for (size_t i = 0; id && i < in->n; i++)
        if (strcmp(in->v[i].id, id) == 0)
            return &in->v[i];
    return NULL;
}

static void name_of(struct source_info *s, const cJSON *item)
{
    const char *name = cJSON_GetStringValue(cJSON_GetObjectItem(item, "name"));
    snprintf(s->name, sizeof s->name, "%s", name ? name : s->id);
}

static int on_data_set(void *ud, const cJSON *item, struct err *e)
{
    (void)e;
    struct source_info *s = info_of(ud, item);
    if (!s)
        return 0;
    s->found = true;
    name_of(s, item);
    enum period_type t = period_type_from_name(cJSON_GetStringValue(cJSON_GetObjectItem(item, "periodType")));
    if (t != PERIOD_INVALID)
        s->types = 1u << t;
    return 0;
}

static int on_group(void *ud, const cJSON *item, struct err *e)
{
    struct source_info *s = info_of(ud, item);
    if (!s)
        return 0;
    s->found = true;
    name_of(s, item);
    cJSON_Delete(s->members);
    s->members = cJSON_Duplicate(cJSON_GetObjectItem(item, "dataElements"), 1);
    return s->members ? 0 : err_set(e, ERR_INTERNAL, "out of memory");
}

/* A data set holding some of a group's data elements: its type is one of the group's. */
static int on_holder(void *ud, const cJSON *item, struct err *e)
{
    (void)e;
    struct source_info *g = ud;
    enum period_type t = period_type_from_name(cJSON_GetStringValue(cJSON_GetObjectItem(item, "periodType")));
    if (t != PERIOD_INVALID)
        g->types |= 1u << t;
    return 0;
}

int selection_list_in(struct dhis2_client *src, const char *kind, const char *fields, const char *path,
                   const cJSON *items, dhis2_item_fn fn, void *ud, struct err *e)
{
    int n = cJSON_GetArraySize(items);
    for (int from = 0; from < n; from += IDS_PER_REQUEST) {
        size_t cap = strlen(path) + 8 + IDS_PER_REQUEST * 12;
        char *filter = malloc(cap);
        if (!filter)
            return err_set(e, ERR_INTERNAL, "out of memory");
        size_t len = (size_t)snprintf(filter, cap, "%s:in:[", path);
        for (int i = from; i < n && i < from + IDS_PER_REQUEST; i++) {
            const cJSON *it = cJSON_GetArrayItem(items, i);
            const char *id = cJSON_IsString(it) ? it->valuestring
                                                : cJSON_GetStringValue(cJSON_GetObjectItem(it, "id"));
            if (id && strlen(id) == 11)
                len += (size_t)snprintf(filter + len, cap - len, "%s%s", i > from ? "," : "", id);
        }
        snprintf(filter + len, cap - len, "]");
        const char *filters[] = {filter, NULL};
        int rc = dhis2_list(src, kind, fields, filters, 0, fn, ud, e);
        free(filter);
        if (rc)
            return rc;
    }
    return 0;
}

static int load_infos(struct dhis2_client *src, const cJSON *ids, bool groups, struct infos *out,
                      struct err *e)
{
    out->n = (size_t)cJSON_GetArraySize(ids);
    if (!(out->v = calloc(out->n + 1, sizeof *out->v)))
        return err_set(e, ERR_INTERNAL, "out of memory");
    for (size_t i = 0; i < out->n; i++)
        out->v[i].id = cJSON_GetStringValue(cJSON_GetArrayItem(ids, (int)i));
    if (out->n == 0)
        return 0;
    int rc = groups ? selection_list_in(src, "dataElementGroups", "id,name,dataElements[id]", "id", ids, on_group, out, e)
                    : selection_list_in(src, "dataSets", "id,name,periodType", "id", ids, on_data_set, out, e);
    for (size_t i = 0; rc == 0 && i < out->n; i++) {
        if (!out->v[i].found)
            return err_set(e, ERR_INPUT, "%s %s is not at the source", groups ? "data element group" : "data set",
                           out->v[i].id);
        if (groups)
            rc = selection_list_in(src, "dataSets", "id,periodType", "dataSetElements.dataElement.id",
                         out->v[i].members, on_holder, &out->v[i], e);
    }
    return rc;
}

static void infos_free(struct infos *in)
{
    for (size_t i = 0; in->v && i < in->n; i++)
        cJSON_Delete(in->v[i].members);
    free(in->v);
}

static int warn(struct selection *s, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static int warn(struct selection *s, const char *fmt, ...)
{
    char msg[600];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    cJSON *str = cJSON_CreateString(msg);
    return str && cJSON_AddItemToArray(s->warnings, str) ? 0 : -1;
}

static struct sel_part *add_part(struct selection *s, size_t n_ds, size_t n_groups)
{
    struct sel_part *grown = realloc(s->parts, (s->n_parts + 1) * sizeof *grown);
    if (!grown)
        return NULL;
    s->parts = grown;
    struct sel_part *p = &s->parts[s->n_parts++];
    p->data_sets = calloc(n_ds + 1, sizeof *p->data_sets);
    p->groups = calloc(n_groups + 1, sizeof *p->groups);
    p->periods = NULL;
    return p->data_sets && p->groups ? p : NULL;
}

static char **period_strings(const struct period *ps, int n)
{
    char **out = calloc((size_t)n + 1, sizeof *out);
    for (int i = 0; out && i < n; i++) {
        char iso[PERIOD_ISO_MAX];
        period_format(&ps[i], iso, sizeof iso);
        if (!(out[i] = strdup(iso))) {
            while (i > 0)
                free(out[--i]);
            free(out);
            return NULL;
        }
    }
    return out;
}

/* "periods 2025Q4–2026Q4" or "period 2026Q4". */
static void describe(char *const *periods, char *buf, size_t size)
{
    size_t n = 0;
    while (periods[n])
        n++;
    if (n == 1)
        snprintf(buf, size, "period %s", periods[0]);
    else
        snprintf(buf, size, "periods %s\xe2\x80\x93%s", periods[0], n ? periods[n - 1] : "");
}

/* A source_info without a period type (a group whose data elements are in no data set, or a
 * data set with a type we do not know) is read with the window's own periods, and said so. */
static int untyped(struct selection *s, struct source_info *in, bool group, enum period_type wt)
{
    if (in->types)
        return 0;
    in->types = 1u << wt;
    return group ? warn(s, "data element group %s (%s): its data elements belong to no data set, so "
                           "DHIS2 gives it no period type; the window's %s periods are used",
                        in->name, in->id, period_type_name(wt))
                 : warn(s, "data set %s (%s): the source gives no period type this version knows; "
                           "the window's %s periods are used", in->name, in->id, period_type_name(wt));
}

static int plan_window(struct selection *s, const cJSON *periods, int32_t today, struct infos *ds,
                       struct infos *groups, struct err *e)
{
    int n = (int)cJSON_GetNumberValue(cJSON_GetObjectItem(periods, "last"));
    enum period_type wt = period_type_from_name(cJSON_GetStringValue(cJSON_GetObjectItem(periods, "type")));
    struct period *window = n > 0 ? calloc((size_t)n, sizeof *window) : NULL;
    if (!window || period_last_n(wt, today, n, window) != 0) {
        free(window);
        return err_set(e, ERR_INPUT, "the job's periods cannot be computed");
    }
    int32_t start = window[0].start, end = window[n - 1].end;
    free(window);
    uint32_t used = 0;
    for (size_t i = 0; i < ds->n; i++)
        if (untyped(s, &ds->v[i], false, wt) != 0)
            goto oom;
        else
            used |= ds->v[i].types;
    for (size_t i = 0; i < groups->n; i++)
        if (untyped(s, &groups->v[i], true, wt) != 0)
            goto oom;
        else
            used |= groups->v[i].types;
    for (int t = 0; t < PERIOD_TYPE_COUNT; t++) {
        if (!(used & (1u << t)))
            continue;
        struct sel_part *p = add_part(s, ds->n, groups->n);
        if (!p)
            goto oom;
        size_t k = 0;
        for (size_t i = 0; i < ds->n; i++)
            if (ds->v[i].types & (1u << t))
                p->data_sets[k++] = ds->v[i].id;
        k = 0;
        for (size_t i = 0; i < groups->n; i++)
            if (groups->v[i].types & (1u << t))
                p->groups[k++] = groups->v[i].id;
        int count = period_overlapping((enum period_type)t, start, end, NULL, 0);
        struct period *ps = count > 0 ? calloc((size_t)count, sizeof *ps) : NULL;
        if (!ps)
            goto oom;
        period_overlapping((enum period_type)t, start, end, ps, count);
        p->periods = period_strings(ps, count);
        free(ps);
        if (!p->periods)
            goto oom;
        if (t == (int)wt)
            continue;
        char which[80];
        describe(p->periods, which, sizeof which);
        for (size_t i = 0; p->data_sets[i]; i++) {
            const struct source_info *in = &ds->v[0];
            while (strcmp(in->id, p->data_sets[i]) != 0)
                in++;
            if (warn(s, "data set %s (%s): %s selected for the window last %d %s", in->name, in->id,
                     which, n, period_type_name(wt)) != 0)
                goto oom;
        }
        for (size_t i = 0; p->groups[i]; i++) {
            const struct source_info *in = &groups->v[0];
            while (strcmp(in->id, p->groups[i]) != 0)
                in++;
            if (warn(s, "data element group %s (%s): %s %s selected for the window last %d %s", in->name,
                     in->id, period_type_name((enum period_type)t), which, n, period_type_name(wt)) != 0)
                goto oom;
        }
    }
    return 0;
oom:
    return err_set(e, ERR_INTERNAL, "out of memory");
}

/* A fixed list is asked as it is; a data set none of whose periods it names is refused at save
 * and said on a run, a group likewise said on a run. */
static int plan_fixed(struct selection *s, const cJSON *fixed, struct infos *ds, struct infos *groups,
                      struct err *e)
{
    struct sel_part *p = add_part(s, ds->n, groups->n);
    int n = cJSON_GetArraySize(fixed);
    if (!p || !(p->periods = calloc((size_t)n + 1, sizeof *p->periods)))
        goto oom;
    uint32_t listed = 0;
    for (int i = 0; i < n; i++) {
        const char *iso = cJSON_GetStringValue(cJSON_GetArrayItem(fixed, i));
        struct period per;
        if (iso && period_parse(iso, &per) == 0)
            listed |= 1u << per.type;
        if (!(p->periods[i] = strdup(iso ? iso : "")))
            goto oom;
    }
    for (size_t i = 0; i < ds->n; i++) {
        const struct source_info *in = &ds->v[i];
        p->data_sets[i] = in->id;
        if (!in->types || (in->types & listed))
            continue;
        const char *type = period_type_name((enum period_type)__builtin_ctz(in->types));
        char msg[400];
        snprintf(msg, sizeof msg, "name no %s period, so nothing of data set %s (%s) would be read", type,
                 in->name, in->id);
        cJSON *r = cJSON_CreateObject();
        if (!r || !cJSON_AddItemToArray(s->refusals, r) || !cJSON_AddStringToObject(r, "field", "periods.fixed") ||
            !cJSON_AddStringToObject(r, "message", msg))
            goto oom;
    }
    for (size_t i = 0; i < groups->n; i++) {
        const struct source_info *in = &groups->v[i];
        p->groups[i] = in->id;
        if (in->types && !(in->types & listed) &&
            warn(s, "data element group %s (%s): its data sets' period types match none of the fixed "
                    "periods, so nothing of it is read", in->name, in->id) != 0)
            goto oom;
    }
    return 0;
oom:
    return err_set(e, ERR_INTERNAL, "out of memory");
}

int selection_plan(struct dhis2_client *src, const cJSON *spec, int32_t today, struct selection *out,
                   struct err *e)
{
    memset(out, 0, sizeof *out);
    out->warnings = cJSON_CreateArray();
    out->refusals = cJSON_CreateArray();
    if (!out->warnings || !out->refusals)
        return err_set(e, ERR_INTERNAL, "out of memory");
    const cJSON *ds_ids = cJSON_GetObjectItem(spec, "dataSets");
    const cJSON *group_ids = cJSON_GetObjectItem(spec, "dataElementGroups");
    const cJSON *periods = cJSON_GetObjectItem(spec, "periods");
    const cJSON *fixed = cJSON_GetObjectItem(periods, "fixed");
    if (!cJSON_GetObjectItem(periods, "last") && !fixed) {
        /* a date window: DHIS2 reads every period wholly inside it, of any type */
        struct sel_part *p = add_part(out, (size_t)cJSON_GetArraySize(ds_ids), (size_t)cJSON_GetArraySize(group_ids));
        if (!p)
            return err_set(e, ERR_INTERNAL, "out of memory");
        for (int i = 0; i < cJSON_GetArraySize(ds_ids); i++)
            p->data_sets[i] = cJSON_GetStringValue(cJSON_GetArrayItem(ds_ids, i));
        for (int i = 0; i < cJSON_GetArraySize(group_ids); i++)
            p->groups[i] = cJSON_GetStringValue(cJSON_GetArrayItem(group_ids, i));
        return 0;
    }
    struct infos ds = {0}, groups = {0};
    int rc = load_infos(src, ds_ids, false, &ds, e);
    if (rc == 0)
        rc = load_infos(src, group_ids, true, &groups, e);
    if (rc == 0)
        rc = fixed ? plan_fixed(out, fixed, &ds, &groups, e) : plan_window(out, periods, today, &ds, &groups, e);
    infos_free(&ds);
    infos_free(&groups);
    return rc;
}

void selection_free(struct selection *s)
{
    for (size_t i = 0; i < s->n_parts; i++) {
        free(s->parts[i].data_sets);
        free(s->parts[i].groups);
        for (size_t k = 0; s->parts[i].periods && s->parts[i].periods[k]; k++)
            free(s->parts[i].periods[k]);
        free(s->parts[i].periods);
    }
    free(s->parts);
    cJSON_Delete(s->warnings);
    cJSON_Delete(s->refusals);
    memset(s, 0, sizeof *s);
}
