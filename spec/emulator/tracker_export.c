/* tracker_export.c — GET /api/tracker/events, trackedEntities and enrollments (lists and
 * /<uid>), as dhis2-core's export controllers answer them:
 *   - filters: program (required for events from 2.43), programStage, orgUnit/orgUnits with
 *     orgUnitMode (or 2.40's ouMode) SELECTED|CHILDREN|DESCENDANTS|ACCESSIBLE|ALL,
 *     trackedEntity, trackedEntityType, events/enrollments/trackedEntities (uid lists),
 *     status, updatedAfter/Before, occurredAfter/Before, scheduledAfter/Before,
 *     enrolledAfter/Before, includeDeleted;
 *   - order=field:asc|desc,... (default: newest first, by internal id, as DHIS2);
 *   - page, pageSize (50), totalPages, paging=false (2.41+) or skipPaging=true (2.40);
 *   - fields: *, names, !exclusions and nested lists (enrollments[*,events[*]]), with the
 *     defaults of each controller;
 *   - the answer shape of the server version: 2.40 {page,pageSize[,total,pageCount],
 *     "instances"}; 2.41 {"pager":{..}, the same deprecated top-level fields, "events"|
 *     "trackedEntities"|"enrollments"}; 2.42+ {"pager":{..,prevPage,nextPage}, key} only.
 * Timestamps are server-local without an offset. Null fields are left out, as DHIS2 does. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "http.h"
#include "tracker.h"

/* ---- fields=: a small tree of wanted names ---- */

enum { FS_ITEMS = 32, FS_SELS = 12 };
struct fsel {
    bool all;
    int n;
    struct {
        char name[48];
        bool excl;
        int sub; /* index of a nested selection, -1 = every field of the child */
    } it[FS_ITEMS];
};
struct fields {
    struct fsel sel[FS_SELS];
    int n;
};

/* Parses a comma list up to ']' or the end; the selection's index, or -1 when malformed. */
static int fields_parse_list(struct fields *f, const char **p)
{
    if (f->n == FS_SELS)
        return -1;
    int idx = f->n++;
    struct fsel *s = &f->sel[idx];
    memset(s, 0, sizeof *s);
    while (**p && **p != ']') {
        if (**p == ',') {
            (*p)++;
            continue;
        }
        bool excl = **p == '!';
        if (excl)
            (*p)++;
        size_t n = strcspn(*p, ",[]");
        char name[48];
        snprintf(name, sizeof name, "%.*s", (int)n, *p);
        *p += n;
        if (!strcmp(name, "*") || !strcmp(name, ":all")) {
            s->all = true;
            continue;
        }
        if (s->n == FS_ITEMS)
            return -1;
        int k = s->n++;
        snprintf(s->it[k].name, sizeof s->it[k].name, "%s", name);
        s->it[k].excl = excl;
        s->it[k].sub = -1;
        if (**p == '[') {
            (*p)++;
            int sub = fields_parse_list(f, p);
            if (sub < 0 || **p != ']')
                return -1;
            (*p)++;
            s = &f->sel[idx];
            s->it[k].sub = sub;
        }
    }
    return idx;
}

static int fields_parse(struct fields *f, const char *text)
{
    f->n = 0;
    const char *p = text;
    return fields_parse_list(f, &p) == 0 && !*p ? 0 : -1;
}

/* Whether selection sel wants name; *sub gets the nested selection (-1: all of it). */
static bool want(const struct fields *f, int sel, const char *name, int *sub)
{
    if (sub)
        *sub = -1;
    if (sel < 0)
        return true;
    const struct fsel *s = &f->sel[sel];
    for (int i = 0; i < s->n; i++)
        if (!strcmp(s->it[i].name, name)) {
            if (sub)
                *sub = s->it[i].sub;
            return !s->it[i].excl;
        }
    return s->all;
}

/* ---- writing ---- */

struct out {
    struct buf *b;
    const struct fields *f;
    const struct tk_store *s;
    const struct metadata *md;
    bool include_deleted;
};

/* Writes `,"key":` (or without the comma for the first field) when sel wants key. */
static bool key(struct out *o, int sel, bool *first, const char *name)
{
    if (!want(o->f, sel, name, NULL))
        return false;
    if (!*first)
        buf_putc(o->b, ',');
    *first = false;
    buf_key(o->b, name);
    return true;
}

static void put_str(struct out *o, int sel, bool *first, const char *name, const char *v)
{
    if (v && key(o, sel, first, name))
        buf_json_str(o->b, v);
}

static void put_time(struct out *o, int sel, bool *first, const char *name, int64_t ms)
{
    if (ms != TK_NULL_TIME && key(o, sel, first, name))
        tk_time_write(o->b, ms);
}

static void put_bool(struct out *o, int sel, bool *first, const char *name, bool v)
{
    if (key(o, sel, first, name))
        buf_puts(o->b, v ? "true" : "false");
}

static void put_values(struct out *o, int sel, bool *first, const char *name, uint32_t from, uint16_t n,
                       bool attributes)
{
    int sub;
    if (!want(o->f, sel, name, &sub) || !key(o, sel, first, name))
        return;
    buf_putc(o->b, '[');
    for (uint16_t i = 0; i < n; i++) {
        const struct tk_value *v = &o->s->val[from + i];
        bool f1 = true;
        if (i)
            buf_putc(o->b, ',');
        buf_putc(o->b, '{');
        put_time(o, sub, &f1, "createdAt", v->created);
        put_time(o, sub, &f1, "updatedAt", v->updated);
        if (attributes) {
            put_str(o, sub, &f1, "attribute", o->s->md.tea[v->id].uid);
            if (key(o, sub, &f1, "valueType"))
                buf_json_str(o->b, o->s->md.tea[v->id].vt_name);
        } else {
            put_bool(o, sub, &f1, "providedElsewhere", v->provided_elsewhere);
            put_str(o, sub, &f1, "dataElement", o->md->de[v->id].id.uid);
        }
        put_str(o, sub, &f1, "value", v->value);
        buf_putc(o->b, '}');
    }
    buf_putc(o->b, ']');
}

static void put_empty_list(struct out *o, int sel, bool *first, const char *name)
{
    if (key(o, sel, first, name))
        buf_puts(o->b, "[]");
}

static void write_event(struct out *o, int sel, int32_t i)
{
    const struct tk_store *s = o->s;
    const struct tk_ev *v = &s->ev[i];
    bool first = true;
    buf_putc(o->b, '{');
    put_str(o, sel, &first, "event", tk_uid(&s->uids[TK_EV], i));
    put_str(o, sel, &first, "status", tk_ev_status_names[v->status]);
    put_str(o, sel, &first, "program", s->md.pr[v->program].uid);
    put_str(o, sel, &first, "programStage", s->md.ps[v->stage].uid);
    if (v->enr >= 0) {
        put_str(o, sel, &first, "enrollment", tk_uid(&s->uids[TK_ENR], v->enr));
        put_str(o, sel, &first, "trackedEntity", tk_uid(&s->uids[TK_TE], s->enr[v->enr].te));
    }
    put_str(o, sel, &first, "orgUnit", o->md->ou[v->ou].id.uid);
    put_time(o, sel, &first, "occurredAt", v->occurred);
    put_time(o, sel, &first, "scheduledAt", v->scheduled);
    put_str(o, sel, &first, "storedBy", v->stored_by);
    put_bool(o, sel, &first, "followUp", v->follow_up);
    put_bool(o, sel, &first, "deleted", v->deleted);
    put_time(o, sel, &first, "createdAt", v->created);
    put_time(o, sel, &first, "createdAtClient", v->created);
    put_time(o, sel, &first, "updatedAt", v->updated);
    put_time(o, sel, &first, "updatedAtClient", v->updated);
    if (o->md->default_coc >= 0)
        put_str(o, sel, &first, "attributeOptionCombo", o->md->coc[o->md->default_coc].id.uid);
    put_str(o, sel, &first, "completedBy", v->completed_by);
    put_time(o, sel, &first, "completedAt", v->completed);
    put_values(o, sel, &first, "dataValues", v->val_first, v->n_val, false);
    if (key(o, sel, &first, "notes"))
        buf_puts(o->b, v->notes ? v->notes : "[]");
    put_empty_list(o, sel, &first, "relationships");
    buf_putc(o->b, '}');
}

static void write_enrollment(struct out *o, int sel, int32_t i)
{
    const struct tk_store *s = o->s;
    const struct tk_enr *n = &s->enr[i];
    bool first = true;
    int sub;
    buf_putc(o->b, '{');
    put_str(o, sel, &first, "enrollment", tk_uid(&s->uids[TK_ENR], i));
    put_time(o, sel, &first, "createdAt", n->created);
    put_time(o, sel, &first, "createdAtClient", n->created);
    put_time(o, sel, &first, "updatedAt", n->updated);
    put_time(o, sel, &first, "updatedAtClient", n->updated);
    put_str(o, sel, &first, "trackedEntity", tk_uid(&s->uids[TK_TE], n->te));
    put_str(o, sel, &first, "program", s->md.pr[n->program].uid);
    put_str(o, sel, &first, "status", tk_enr_status_names[n->status]);
    put_str(o, sel, &first, "orgUnit", o->md->ou[n->ou].id.uid);
    put_time(o, sel, &first, "enrolledAt", n->enrolled);
    put_time(o, sel, &first, "occurredAt", n->occurred);
    put_bool(o, sel, &first, "followUp", n->follow_up);
    put_bool(o, sel, &first, "deleted", n->deleted);
    put_str(o, sel, &first, "storedBy", n->stored_by);
    if (want(o->f, sel, "events", &sub) && key(o, sel, &first, "events")) {
        bool none = true;
        buf_putc(o->b, '[');
        for (int32_t v = n->first_ev; v != TK_NONE; v = s->ev[v].next_in_enr) {
            if (s->ev[v].deleted && !o->include_deleted)
                continue;
            if (!none)
                buf_putc(o->b, ',');
            none = false;
            write_event(o, sub, v);
        }
        buf_putc(o->b, ']');
    }
    put_empty_list(o, sel, &first, "relationships");
    const struct tk_te *te = &s->te[n->te];
    put_values(o, sel, &first, "attributes", te->val_first, te->n_val, true);
    if (key(o, sel, &first, "notes"))
        buf_puts(o->b, n->notes ? n->notes : "[]");
    buf_putc(o->b, '}');
}

static void write_tracked_entity(struct out *o, int sel, int32_t i)
{
    const struct tk_store *s = o->s;
    const struct tk_te *t = &s->te[i];
    bool first = true;
    int sub;
    buf_putc(o->b, '{');
    put_str(o, sel, &first, "trackedEntity", tk_uid(&s->uids[TK_TE], i));
    put_str(o, sel, &first, "trackedEntityType", s->md.tet[t->tet]);
    put_time(o, sel, &first, "createdAt", t->created);
    put_time(o, sel, &first, "createdAtClient", t->created);
    put_time(o, sel, &first, "updatedAt", t->updated);
    put_time(o, sel, &first, "updatedAtClient", t->updated);
    put_str(o, sel, &first, "orgUnit", o->md->ou[t->ou].id.uid);
    put_bool(o, sel, &first, "inactive", t->inactive);
    put_bool(o, sel, &first, "deleted", t->deleted);
    put_bool(o, sel, &first, "potentialDuplicate", false);
    put_empty_list(o, sel, &first, "relationships");
    put_values(o, sel, &first, "attributes", t->val_first, t->n_val, true);
    if (want(o->f, sel, "enrollments", &sub) && key(o, sel, &first, "enrollments")) {
        bool none = true;
        buf_putc(o->b, '[');
        for (int32_t n = t->first_enr; n != TK_NONE; n = s->enr[n].next_in_te) {
            if (s->enr[n].deleted && !o->include_deleted)
                continue;
            if (!none)
                buf_putc(o->b, ',');
            none = false;
            write_enrollment(o, sub, n);
        }
        buf_putc(o->b, ']');
    }
    put_empty_list(o, sel, &first, "programOwners");
    buf_putc(o->b, '}');
}

/* ---- the query ---- */

enum ou_mode { OU_ALL, OU_SELECTED, OU_CHILDREN, OU_DESCENDANTS };

struct query {
    enum tk_type type;
    int program, stage, tet, status;
    int32_t te;                 /* trackedEntity= */
    int *ous, n_ous;            /* selected org units */
    enum ou_mode ou_mode;
    struct strmap uids;         /* events=/enrollments=/trackedEntities= */
    char *uid_text;             /* owns the keys of uids */
    int64_t after[4], before[4]; /* by enum time_field */
    bool include_deleted;
    struct {
        int field; /* enum time_field, or TF_ID */
        bool desc;
    } order[4];
    int n_order;
};

enum time_field { TF_UPDATED, TF_CREATED, TF_OCCURRED, TF_SCHEDULED, TF_ID };

static int64_t obj_time(const struct tk_store *s, enum tk_type t, int32_t i, int field)
{
    switch (t) {
    case TK_EV: {
        const struct tk_ev *v = &s->ev[i];
        return field == TF_UPDATED ? v->updated : field == TF_CREATED ? v->created
             : field == TF_OCCURRED ? v->occurred : v->scheduled;
    }
    case TK_ENR: {
        const struct tk_enr *n = &s->enr[i];
        /* enrolledAt takes the scheduled slot: enrollments have no schedule */
        return field == TF_UPDATED ? n->updated : field == TF_CREATED ? n->created
             : field == TF_OCCURRED ? n->occurred : n->enrolled;
    }
    default: {
        const struct tk_te *te = &s->te[i];
        return field == TF_CREATED ? te->created : te->updated;
    }
    }
}

static bool ou_matches(const struct metadata *md, const struct query *q, int ou)
{
    if (q->ou_mode == OU_ALL || !q->n_ous)
        return true;
    for (int k = 0; k < q->n_ous; k++) {
        int sel = q->ous[k];
        if (ou == sel || (q->ou_mode == OU_CHILDREN && md->ou[ou].parent == sel) ||
            (q->ou_mode == OU_DESCENDANTS && md->ou[ou].pre >= md->ou[sel].pre && md->ou[ou].pre <= md->ou[sel].last))
            return true;
    }
    return false;
}

static bool matches(const struct tk_store *s, const struct metadata *md, const struct query *q, int32_t i)
{
    bool deleted;
    int ou;
    switch (q->type) {
    case TK_EV: {
        const struct tk_ev *v = &s->ev[i];
        if ((q->program >= 0 && v->program != q->program) || (q->stage >= 0 && v->stage != q->stage) ||
            (q->status >= 0 && v->status != q->status) ||
            (q->te >= 0 && (v->enr < 0 || s->enr[v->enr].te != q->te)))
            return false;
        deleted = v->deleted;
        ou = v->ou;
        break;
    }
    case TK_ENR: {
        const struct tk_enr *n = &s->enr[i];
        if ((q->program >= 0 && n->program != q->program) || (q->status >= 0 && n->status != q->status) ||
            (q->te >= 0 && n->te != q->te))
            return false;
        deleted = n->deleted;
        ou = n->ou;
        break;
    }
    default: {
        const struct tk_te *t = &s->te[i];
        if (q->tet >= 0 && t->tet != q->tet)
            return false;
        if (q->program >= 0) {
            int32_t n = t->first_enr;
            while (n != TK_NONE && (s->enr[n].program != q->program || (s->enr[n].deleted && !q->include_deleted)))
                n = s->enr[n].next_in_te;
            if (n == TK_NONE)
                return false;
        }
        deleted = t->deleted;
        ou = t->ou;
    }
    }
    if (deleted && !q->include_deleted)
        return false;
    if (q->uid_text && strmap_get(&q->uids, tk_uid(&s->uids[q->type], i)) < 0)
        return false;
    for (int f = 0; f < 4; f++) {
        if (q->after[f] == TK_NULL_TIME && q->before[f] == TK_NULL_TIME)
            continue;
        int64_t t = obj_time(s, q->type, i, f);
        if (t == TK_NULL_TIME || (q->after[f] != TK_NULL_TIME && t < q->after[f]) ||
            (q->before[f] != TK_NULL_TIME && t > q->before[f]))
            return false;
    }
    return ou_matches(md, q, ou);
}

struct sort_ctx {
    const struct tk_store *s;
    const struct query *q;
};

static int compare(const void *a, const void *b, void *arg)
{
    const struct sort_ctx *c = arg;
    int32_t x = *(const int32_t *)a, y = *(const int32_t *)b;
    for (int k = 0; k < c->q->n_order; k++) {
        int f = c->q->order[k].field;
        int64_t tx = f == TF_ID ? x : obj_time(c->s, c->q->type, x, f);
        int64_t ty = f == TF_ID ? y : obj_time(c->s, c->q->type, y, f);
        if (tx != ty)
            return (tx < ty ? -1 : 1) * (c->q->order[k].desc ? -1 : 1);
    }
    return x < y ? 1 : x > y ? -1 : 0; /* then newest first, as DHIS2's primary key order */
}

/* 400 with DHIS2's WebMessage; msg names the parameter. */
static int bad_request(struct request *r, const char *msg)
{
    return http_webmessage(r, 400, "ERROR", msg, NULL);
}

static int time_param(struct request *r, const char *name, int64_t *out, char *msg, size_t n)
{
    const char *v = req_param(r, name);
    *out = TK_NULL_TIME;
    if (!v || !*v)
        return 0;
    if (tk_time_parse(v, out)) {
        snprintf(msg, n, "Invalid date %s for parameter %s", v, name);
        return -1;
    }
    return 0;
}

static int parse_order(struct query *q, const char *text, char *msg, size_t n)
{
    static const struct {
        const char *name;
        int field;
    } names[] = {{"updatedAt", TF_UPDATED}, {"lastUpdated", TF_UPDATED}, {"createdAt", TF_CREATED},
                 {"created", TF_CREATED}, {"occurredAt", TF_OCCURRED}, {"eventDate", TF_OCCURRED},
                 {"scheduledAt", TF_SCHEDULED}, {"dueDate", TF_SCHEDULED}, {"enrolledAt", TF_SCHEDULED},
                 {"enrollmentDate", TF_SCHEDULED}, {"event", TF_ID}, {"enrollment", TF_ID},
                 {"trackedEntity", TF_ID}};
    char copy[256], *save = NULL;
    snprintf(copy, sizeof copy, "%s", text);
    for (char *item = strtok_r(copy, ",", &save); item && q->n_order < 4; item = strtok_r(NULL, ",", &save)) {
        char *colon = strchr(item, ':');
        bool desc = false;
        if (colon) {
            *colon = '\0';
            if (strcasecmp(colon + 1, "desc") == 0)
                desc = true;
            else if (strcasecmp(colon + 1, "asc") != 0) {
                snprintf(msg, n, "'%s' is not a valid sort direction for %s: use asc or desc", colon + 1, item);
                return -1;
            }
        }
        size_t k = 0;
        while (k < sizeof names / sizeof names[0] && strcmp(names[k].name, item) != 0)
            k++;
        if (k == sizeof names / sizeof names[0]) {
            snprintf(msg, n, "order parameter is invalid. Cannot order by '%s'. Supported are field names "
                             "like createdAt, updatedAt, occurredAt, scheduledAt, enrolledAt", item);
            return -1;
        }
        q->order[q->n_order].field = names[k].field;
        q->order[q->n_order++].desc = desc;
    }
    return 0;
}

/* Reads every filter; 0, or -1 with msg set (a 400). */
static int parse_query(struct request *r, struct query *q, char *msg, size_t n)
{
    struct emu *emu = r->emu;
    const struct tk_md *t = &emu->tk->md;
    const char *v;
    q->program = q->stage = q->tet = q->status = -1;
    q->te = -1;
    for (int f = 0; f < 4; f++)
        q->after[f] = q->before[f] = TK_NULL_TIME;
    if ((v = req_param(r, "program")) && *v && (q->program = strmap_get(&t->pr_map, v)) < 0) {
        snprintf(msg, n, "Program is specified but does not exist: %s", v);
        return -1;
    }
    if ((v = req_param(r, "programStage")) && *v && (q->stage = strmap_get(&t->ps_map, v)) < 0) {
        snprintf(msg, n, "Program stage is specified but does not exist: %s", v);
        return -1;
    }
    if ((v = req_param(r, "trackedEntityType")) && *v && (q->tet = strmap_get(&t->tet_map, v)) < 0) {
        snprintf(msg, n, "Tracked entity type is specified but does not exist: %s", v);
        return -1;
    }
    if ((v = req_param(r, "trackedEntity")) && *v && (q->te = tk_find(emu->tk, TK_TE, v)) < 0)
        q->te = INT32_MAX; /* matches nothing */
    if ((v = req_param(r, q->type == TK_ENR ? "programStatus" : "status")) && *v) {
        q->status = q->type == TK_EV ? tk_status_find(tk_ev_status_names, EV_STATUSES, v)
                                     : tk_status_find(tk_enr_status_names, ENR_STATUSES, v);
        if (q->status < 0) {
            snprintf(msg, n, "Value %s is not a valid status", v);
            return -1;
        }
    }
    static const char *list_params[TK_TYPES] = {"trackedEntities", "enrollments", "events"};
    v = req_param(r, list_params[q->type]);
    if (!v && q->type == TK_EV)
        v = req_param(r, "event"); /* 2.40, ';'-separated */
    if (v && *v) {
        if (!(q->uid_text = strdup(v)))
            return snprintf(msg, n, "Out of memory"), -1;
        char *save = NULL;
        for (char *id = strtok_r(q->uid_text, ",;", &save); id; id = strtok_r(NULL, ",;", &save))
            if (strmap_put(&q->uids, id, 1))
                return snprintf(msg, n, "Out of memory"), -1;
    }
    const char *ou_list = req_param(r, "orgUnits");
    if (!ou_list)
        ou_list = req_param(r, "orgUnit");
    if (ou_list && *ou_list) {
        char copy[4096], *save = NULL;
        snprintf(copy, sizeof copy, "%s", ou_list);
        for (char *id = strtok_r(copy, ",;", &save); id; id = strtok_r(NULL, ",;", &save)) {
            int ou = metadata_find(&emu->md, MD_OU, SCHEME_UID, id);
            if (ou < 0) {
                snprintf(msg, n, "Organisation unit does not exist: %s", id);
                return -1;
            }
            int *g = realloc(q->ous, (size_t)(q->n_ous + 1) * sizeof *g);
            if (!g)
                return snprintf(msg, n, "Out of memory"), -1;
            q->ous = g;
            q->ous[q->n_ous++] = ou;
        }
    }
    const char *mode = req_param(r, "orgUnitMode");
    if (!mode)
        mode = req_param(r, "ouMode");
    if (!mode || !*mode)
        q->ou_mode = q->n_ous ? OU_SELECTED : OU_ALL;
    else if (!strcmp(mode, "SELECTED"))
        q->ou_mode = OU_SELECTED;
    else if (!strcmp(mode, "CHILDREN"))
        q->ou_mode = OU_CHILDREN;
    else if (!strcmp(mode, "DESCENDANTS"))
        q->ou_mode = OU_DESCENDANTS;
    else if (!strcmp(mode, "ALL") || !strcmp(mode, "ACCESSIBLE") || !strcmp(mode, "CAPTURE"))
        q->ou_mode = OU_ALL;
    else {
        snprintf(msg, n, "Value %s is not a valid orgUnitMode", mode);
        return -1;
    }
    if (q->ou_mode != OU_ALL && !q->n_ous) {
        snprintf(msg, n, "orgUnitMode %s requires at least one orgUnit", mode);
        return -1;
    }
    static const char *after[4] = {"updatedAfter", "createdAfter", "occurredAfter", "scheduledAfter"};
    static const char *before[4] = {"updatedBefore", "createdBefore", "occurredBefore", "scheduledBefore"};
    for (int f = 0; f < 4; f++) {
        const char *a = q->type == TK_ENR && f == TF_SCHEDULED ? "enrolledAfter" : after[f];
        const char *b = q->type == TK_ENR && f == TF_SCHEDULED ? "enrolledBefore" : before[f];
        if (time_param(r, a, &q->after[f], msg, n) || time_param(r, b, &q->before[f], msg, n))
            return -1;
    }
    q->include_deleted = req_flag(r, "includeDeleted", false);
    v = req_param(r, "order");
    return v && *v ? parse_order(q, v, msg, n) : 0;
}

static void query_free(struct query *q)
{
    free(q->ous);
    free(q->uid_text);
    strmap_free(&q->uids);
}

/* ---- the answer ---- */

static const char *const collection_keys[TK_TYPES] = {"trackedEntities", "enrollments", "events"};
static const char *const default_fields[TK_TYPES] = {
    "*,!relationships,!enrollments,!events,!programOwners", /* TrackedEntityRequestParams */
    "*,!relationships,!events,!attributes",                 /* EnrollmentRequestParams */
    "*,!relationships",                                      /* EventRequestParams */
};

static void write_object(struct out *o, enum tk_type t, int32_t i)
{
    if (t == TK_EV)
        write_event(o, 0, i);
    else if (t == TK_ENR)
        write_enrollment(o, 0, i);
    else
        write_tracked_entity(o, 0, i);
}

/* The request URL with page=N, for 2.42's prevPage/nextPage links. */
static void page_link(struct buf *b, struct request *r, long page)
{
    const char *host = req_header(r, "Host");
    buf_printf(b, "\"http://%s%s?", host ? host : "localhost", r->url);
    bool first = true;
    for (int i = 0; i < r->n_params; i++) {
        if (!strcmp(r->params[i].key, "page"))
            continue;
        buf_printf(b, "%s%s=", first ? "" : "&", r->params[i].key);
        for (const unsigned char *p = (const unsigned char *)(r->params[i].value ? r->params[i].value : ""); *p; p++)
            if ((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') || (*p >= '0' && *p <= '9') || strchr("-_.~,:!*", *p))
                buf_putc(b, (char)*p);
            else
                buf_printf(b, "%%%02X", *p);
        first = false;
    }
    buf_printf(b, "%spage=%ld\"", first ? "" : "&", page);
}

/* What selects and orders a list (every parameter but paging and fields), to know when a page
 * comes from the same query as the last one. NULL when out of memory. */
static char *query_key(const struct request *r, enum tk_type type)
{
    static const char *const not_in_key[] = {"page", "pageSize", "totalPages", "paging", "skipPaging", "fields"};
    struct buf b = {0};
    buf_printf(&b, "%d", (int)type);
    for (int i = 0; i < r->n_params; i++) {
        size_t k = 0;
        while (k < sizeof not_in_key / sizeof not_in_key[0] && strcmp(not_in_key[k], r->params[i].key) != 0)
            k++;
        if (k == sizeof not_in_key / sizeof not_in_key[0])
            buf_printf(&b, "&%s=%s", r->params[i].key, r->params[i].value ? r->params[i].value : "");
    }
    return buf_take(&b);
}

/* Every object the query selects, in its order; NULL when out of memory. */
static int32_t *sorted_matches(const struct tk_store *s, const struct metadata *md, const struct query *q, size_t *n)
{
    size_t n_all = q->type == TK_EV ? s->n_ev : q->type == TK_ENR ? s->n_enr : s->n_te;
    int32_t *hits = malloc((n_all + 1) * sizeof *hits);
    *n = 0;
    for (size_t i = 0; hits && i < n_all; i++)
        if (matches(s, md, q, (int32_t)i))
            hits[(*n)++] = (int32_t)i;
    if (hits) {
        struct sort_ctx ctx = {s, q};
        qsort_r(hits, *n, sizeof *hits, compare, &ctx);
    }
    return hits;
}

static long long_param(struct request *r, const char *name, long dflt)
{
    const char *v = req_param(r, name);
    return v && *v ? strtol(v, NULL, 10) : dflt;
}

static int list(struct request *r, enum tk_type type)
{
    struct emu *emu = r->emu;
    struct tk_store *s = emu->tk;
    int minor = emu->cfg.major > 2 ? 99 : emu->cfg.minor;
    char msg[512];
    if (type == TK_EV && minor >= 43 && !req_param(r, "program"))
        return bad_request(r, "Required request parameter 'program' for method parameter type UID is not present");
    if (type == TK_TE && !req_param(r, "program") && !req_param(r, "trackedEntityType") &&
        !req_param(r, "trackedEntities") && !req_param(r, "trackedEntity"))
        return bad_request(r, "Either `program`, `trackedEntityType` or `trackedEntities` should be specified");
    struct fields f;
    const char *fields = req_param(r, "fields");
    if (fields_parse(&f, fields && *fields ? fields : default_fields[type]))
        return bad_request(r, "Invalid fields parameter");
    long page = long_param(r, "page", 1), page_size = long_param(r, "pageSize", 50);
    if (page < 1 || page_size < 1)
        return bad_request(r, page < 1 ? "page must be greater than or equal to 1"
                                       : "pageSize must be greater than or equal to 1");
    bool paging = req_flag(r, "paging", true) && !req_flag(r, "skipPaging", false);
    bool totals = req_flag(r, "totalPages", false);
    struct query q = {.type = type};
    if (parse_query(r, &q, msg, sizeof msg)) {
        query_free(&q);
        return bad_request(r, msg);
    }
    char *key = query_key(r, type);
    pthread_rwlock_rdlock(&emu->st.lock); /* metadata imports write under it */
    pthread_rwlock_rdlock(&s->lock);
    pthread_mutex_lock(&s->cache_mu);
    if (!key || !s->cache_key || strcmp(key, s->cache_key) || s->cache_version != s->version) {
        free(s->cache_key);
        free(s->cache_hits);
        s->cache_key = key;
        s->cache_version = s->version;
        s->cache_hits = sorted_matches(s, &emu->md, &q, &s->cache_n);
        if (!s->cache_hits) {
            free(s->cache_key);
            s->cache_key = NULL;
        }
        key = NULL;
    }
    free(key);
    const int32_t *hits = s->cache_hits;
    size_t n_hits = s->cache_n;
    size_t from = paging ? (size_t)(page - 1) * (size_t)page_size : 0;
    size_t to = paging ? from + (size_t)page_size : n_hits;
    if (from > n_hits)
        from = n_hits;
    if (to > n_hits)
        to = n_hits;
    struct buf b = {0};
    struct out o = {&b, &f, s, &emu->md, q.include_deleted};
    const char *items_key = minor <= 40 ? "instances" : collection_keys[type];
    buf_putc(&b, '{');
    if (paging) {
        long page_count = (long)((n_hits + (size_t)page_size - 1) / (size_t)page_size);
        if (minor >= 41) {
            buf_printf(&b, "\"pager\":{\"page\":%ld,\"pageSize\":%ld", page, page_size);
            if (totals)
                buf_printf(&b, ",\"total\":%zu,\"pageCount\":%ld", n_hits, page_count);
            if (minor >= 42 && page > 1) {
                buf_puts(&b, ",\"prevPage\":");
                page_link(&b, r, page - 1);
            }
            if (minor >= 42 && to < n_hits) {
                buf_puts(&b, ",\"nextPage\":");
                page_link(&b, r, page + 1);
            }
            buf_puts(&b, "},");
        }
        if (minor <= 41) {
            buf_printf(&b, "\"page\":%ld,\"pageSize\":%ld,", page, page_size);
            if (totals)
                buf_printf(&b, "\"total\":%zu,\"pageCount\":%ld,", n_hits, page_count);
        }
    }
    buf_key(&b, items_key);
    buf_putc(&b, '[');
    for (size_t k = from; hits && k < to; k++) {
        if (k > from)
            buf_putc(&b, ',');
        write_object(&o, type, hits[k]);
    }
    buf_puts(&b, "]}");
    pthread_mutex_unlock(&s->cache_mu);
    pthread_rwlock_unlock(&s->lock);
    pthread_rwlock_unlock(&emu->st.lock);
    bool failed = !hits;
    query_free(&q);
    if (failed) {
        buf_free(&b);
        return http_webmessage(r, 500, "ERROR", "Out of memory", NULL);
    }
    return tk_send(r, &b, NULL);
}

static int one(struct request *r, enum tk_type type, const char *uid)
{
    static const char *const klass[TK_TYPES] = {"TrackedEntity", "Enrollment", "Event"};
    struct emu *emu = r->emu;
    struct tk_store *s = emu->tk;
    struct fields f;
    const char *fields = req_param(r, "fields");
    if (fields_parse(&f, fields && *fields ? fields : default_fields[type]))
        return bad_request(r, "Invalid fields parameter");
    pthread_rwlock_rdlock(&emu->st.lock); /* metadata imports write under it */
    pthread_rwlock_rdlock(&s->lock);
    int32_t i = tk_find(s, type, uid);
    bool deleted = i >= 0 && (type == TK_EV ? s->ev[i].deleted : type == TK_ENR ? s->enr[i].deleted : s->te[i].deleted);
    if (i < 0 || deleted) {
        pthread_rwlock_unlock(&s->lock);
        pthread_rwlock_unlock(&emu->st.lock);
        char msg[128];
        snprintf(msg, sizeof msg, "%s with id %s could not be found.", klass[type], uid);
        return http_webmessage(r, 404, "ERROR", msg, NULL);
    }
    struct buf b = {0};
    struct out o = {&b, &f, s, &emu->md, false};
    write_object(&o, type, i);
    pthread_rwlock_unlock(&s->lock);
    pthread_rwlock_unlock(&emu->st.lock);
    return tk_send(r, &b, NULL);
}

int api_tracker_get(struct request *r)
{
    const char *rest = r->path + strlen("tracker/");
    for (int t = 0; t < TK_TYPES; t++) {
        size_t n = strlen(collection_keys[t]);
        if (strncmp(rest, collection_keys[t], n) != 0)
            continue;
        if (!rest[n])
            return list(r, (enum tk_type)t);
        if (rest[n] == '/' && !strchr(rest + n + 1, '/'))
            return one(r, (enum tk_type)t, rest + n + 1);
    }
    return http_webmessage(r, 404, "ERROR", "Not Found", NULL);
}
