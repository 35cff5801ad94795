/* tracker_import.c — POST /api/tracker and its jobs, as dhis2-core's TrackerImportController:
 *   - body {"trackedEntities":[{..,"enrollments":[{..,"events":[..]}]}],"enrollments":[..],
 *     "events":[..]}, nested and flat alike; ids as strings, or as dhis2-core's internal
 *     {"idScheme":"UID","identifier":".."} objects (its test payloads use those);
 *   - importStrategy CREATE_AND_UPDATE (default) | CREATE | UPDATE | DELETE (uids suffice),
 *     atomicMode ALL (default: one error and nothing is written, status ERROR) | OBJECT (the
 *     valid objects are written, status OK), importMode COMMIT | VALIDATE, validationMode
 *     FULL | FAIL_FAST (SKIP validates too), reportMode ERRORS | WARNINGS | FULL;
 *   - async=true (DHIS2's default): {"message":"Tracker job added","response":{"id","location"}},
 *     then GET tracker/jobs/<id> (notifications, newest first, the first "completed":true when
 *     done) and tracker/jobs/<id>/report; async=false answers the report, 409 when ERROR.
 * Validation uses dhis2-core's ValidationCode codes and texts, stops at an object's first
 * error (DHIS2 may list several), and knows no sharing, ownership, program rules, unique
 * attributes, relationships or category option combos. Deleting is soft and cascades (a
 * tracked entity takes its enrollments and their events along); a change to an enrollment or
 * event moves its tracked entity's updatedAt, as DHIS2 does. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "http.h"
#include "tracker.h"

enum strategy { TS_CREATE_AND_UPDATE, TS_CREATE, TS_UPDATE, TS_DELETE };
/* validationMode=SKIP is read as FULL: the store needs valid references. */
enum validation { TV_FULL, TV_FAIL_FAST };

struct tk_opts {
    enum strategy strategy;
    enum validation validation;
    bool atomic_all, commit, async, warnings;
    char user[128];
};

/* One object of the payload. */
struct item {
    enum tk_type type;
    const cJSON *j;
    char uid[12];
    char parent[12];    /* the tracked entity of a nested enrollment, the enrollment of a nested event */
    int parent_program; /* the program of the enrollment an event is nested in, or -1 */
    int32_t existing;   /* store index, -1 when new */
    bool failed;
    int program, stage, ou, tet;
};

struct import {
    struct emu *emu;
    struct tk_store *s;
    const struct tk_opts *o;
    struct item *items;
    size_t n, cap;
    struct strmap in_payload[TK_TYPES]; /* uid -> item index */
    struct buf errors;
    long n_errors;
    long created[TK_TYPES], updated[TK_TYPES], deleted[TK_TYPES], size[TK_TYPES];
    struct buf done[TK_TYPES]; /* objectReports of the persisted objects */
    int64_t now;
    bool oom;
};

/* ---- reading the payload ---- */

/* An id as a string, or dhis2-core's {"idScheme":"UID","identifier":"..."} (or {"id":..}). */
static const char *id_of(const cJSON *o, const char *key)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, key);
    if (cJSON_IsObject(v)) {
        const cJSON *x = cJSON_GetObjectItemCaseSensitive(v, "identifier");
        v = x ? x : cJSON_GetObjectItemCaseSensitive(v, "id");
    }
    return cJSON_IsString(v) && *v->valuestring ? v->valuestring : NULL;
}

static const char *text_of(const cJSON *o, const char *key)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, key);
    return cJSON_IsString(v) ? v->valuestring : NULL;
}

static void push(struct import *im, enum tk_type t, const cJSON *j, const char *parent, int parent_program)
{
    if (im->n == im->cap) {
        size_t c = im->cap ? im->cap * 2 : 256;
        struct item *g = realloc(im->items, c * sizeof *g);
        if (!g) {
            im->oom = true;
            return;
        }
        im->items = g;
        im->cap = c;
    }
    struct item *it = &im->items[im->n++];
    memset(it, 0, sizeof *it);
    it->type = t;
    it->j = j;
    it->parent_program = parent_program;
    it->program = it->stage = it->ou = it->tet = -1;
    static const char *const uid_keys[TK_TYPES] = {"trackedEntity", "enrollment", "event"};
    const char *uid = id_of(j, uid_keys[t]);
    if (uid)
        snprintf(it->uid, sizeof it->uid, "%s", uid);
    else
        make_uid(it->uid); /* DHIS2 gives new objects an id */
    if (parent)
        snprintf(it->parent, sizeof it->parent, "%s", parent);
    im->size[t]++;
}

/* Flattens the payload: tracked entities first, then enrollments, then events, each type in
 * payload order (nested objects after the flat ones of their type), as DHIS2's bundle does. */
static void flatten(struct import *im, const cJSON *root)
{
    const cJSON *te, *en, *ev;
    cJSON_ArrayForEach(te, cJSON_GetObjectItemCaseSensitive(root, "trackedEntities"))
        push(im, TK_TE, te, NULL, -1);
    size_t n_te = im->n;
    cJSON_ArrayForEach(en, cJSON_GetObjectItemCaseSensitive(root, "enrollments"))
        push(im, TK_ENR, en, NULL, -1);
    for (size_t i = 0; i < n_te; i++)
        cJSON_ArrayForEach(en, cJSON_GetObjectItemCaseSensitive(im->items[i].j, "enrollments"))
            push(im, TK_ENR, en, im->items[i].uid, -1);
    size_t n_enr_end = im->n;
    cJSON_ArrayForEach(ev, cJSON_GetObjectItemCaseSensitive(root, "events"))
        push(im, TK_EV, ev, NULL, -1);
    for (size_t i = n_te; i < n_enr_end && !im->oom; i++) {
        const char *p = id_of(im->items[i].j, "program");
        int program = p ? strmap_get(&im->s->md.pr_map, p) : -1;
        cJSON_ArrayForEach(ev, cJSON_GetObjectItemCaseSensitive(im->items[i].j, "events"))
            push(im, TK_EV, ev, im->items[i].uid, program);
    }
    for (size_t i = 0; i < im->n && !im->oom; i++)
        if (strmap_get(&im->in_payload[im->items[i].type], im->items[i].uid) < 0 &&
            strmap_put(&im->in_payload[im->items[i].type], im->items[i].uid, (int32_t)i))
            im->oom = true;
}

/* ---- errors ---- */

static const struct {
    const char *code, *text;
} codes[] = {
    {"E1002", "TrackedEntity: `{0}`, already exists."},
    {"E1005", "Could not find TrackedEntityType: `{0}`."},
    {"E1006", "Attribute: `{0}` does not exist."},
    {"E1007", "Error validating attribute value type: `{0}`; Error: `{1}`."},
    {"E1010", "Could not find Program: `{0}`, linked to Event."},
    {"E1011", "Could not find OrganisationUnit: `{0}`, linked to Event."},
    {"E1013", "Could not find ProgramStage: `{0}`, linked to Event."},
    {"E1014", "Provided Program: `{0}` is a Program without registration. An Enrollment cannot be created into Program without registration."},
    {"E1022", "TrackedEntity: `{0}` must have same TrackedEntityType as Program `{1}`."},
    {"E1025", "Property enrolledAt is null."},
    {"E1029", "Event OrganisationUnit: `{0}` and Program: `{1}`, do not match."},
    {"E1030", "Event: `{0}` already exists."},
    {"E1031", "Event occurredAt date is missing."},
    {"E1032", "Event: `{0}` do not exist."},
    {"E1033", "Event: `{0}` Enrollment value is null."},
    {"E1041", "Enrollment OrganisationUnit: `{0}` and Program: `{1}` do not match."},
    {"E1049", "Could not find OrganisationUnit: `{0}` linked to TrackedEntity."},
    {"E1050", "Event ScheduledAt date is missing."},
    {"E1063", "TrackedEntity: `{0}`, does not exist."},
    {"E1068", "Could not find TrackedEntity: `{0}` linked to Enrollment."},
    {"E1069", "Could not find Program: `{0}` linked to Enrollment."},
    {"E1070", "Could not find OrganisationUnit: `{0}` linked to Enrollment."},
    {"E1079", "Event: `{0}`, program: `{1}` is different from program defined in enrollment `{2}`."},
    {"E1080", "Enrollment: `{0}`, already exists."},
    {"E1081", "Enrollment: `{0}`, do not exist."},
    {"E1082", "Event: `{0}`, is already deleted and cannot be modified."},
    {"E1089", "Event: `{0}`, references a Program Stage `{1}` that does not belong to Program `{2}`."},
    {"E1113", "Enrollment: `{0}` is already deleted and cannot be modified."},
    {"E1114", "TrackedEntity: `{0}` is already deleted and cannot be modified."},
    {"E1121", "Missing required trackedEntity property: `{0}`."},
    {"E1122", "Missing required enrollment property: `{0}`."},
    {"E1123", "Missing required event property: `{0}`."},
    {"E1125", "Value `{0}` is not a valid option code in OptionSet `{1}`."},
    {"E1126", "Not allowed to update trackedEntity property: {0}."},
    {"E1302", "DataElement `{0}` is not valid: `{1}`."},
    {"E1304", "DataElement `{0}` is not a valid DataElement."},
    {"E1305", "DataElement `{0}` is not part of ProgramStage `{1}`."},
    {"E1313", "Event `{0}` of an Enrollment does not reference a TrackedEntity."},
    {"E5000", "{0} `{1}` cannot be created because {2} `{3}` referenced by it could not be created."},
};

/* Reports an error on item i; the args fill {0}..{3} of the code's text. Returns -1. */
static int fail(struct import *im, size_t i, const char *code, const char *a0, const char *a1,
                const char *a2, const char *a3)
{
    const char *args[4] = {a0, a1, a2, a3};
    const char *text = "N/A.";
    for (size_t k = 0; k < sizeof codes / sizeof codes[0]; k++)
        if (!strcmp(codes[k].code, code))
            text = codes[k].text;
    char msg[1024];
    size_t n = 0;
    for (const char *p = text; *p && n < sizeof msg - 1; p++) {
        if (p[0] == '{' && p[1] >= '0' && p[1] <= '3' && p[2] == '}') {
            n += (size_t)snprintf(msg + n, sizeof msg - n, "%s", args[p[1] - '0'] ? args[p[1] - '0'] : "null");
            if (n >= sizeof msg)
                n = sizeof msg - 1;
            p += 2;
        } else {
            msg[n++] = *p;
        }
    }
    msg[n] = '\0';
    struct item *it = &im->items[i];
    struct buf *b = &im->errors;
    if (im->n_errors++)
        buf_putc(b, ',');
    buf_puts(b, "{\"message\":");
    buf_json_str(b, msg);
    buf_printf(b, ",\"errorCode\":\"%s\",\"trackerType\":\"%s\",\"uid\":\"%s\",\"args\":[", code,
               tk_type_names[it->type], it->uid);
    for (int k = 0; k < 4 && args[k]; k++) {
        if (k)
            buf_putc(b, ',');
        buf_json_str(b, args[k]);
    }
    buf_puts(b, "]}");
    it->failed = true;
    return -1;
}

/* ---- validation ---- */

static const char *const deleted_codes[TK_TYPES] = {"E1114", "E1113", "E1082"};
static const char *const exists_codes[TK_TYPES] = {"E1002", "E1080", "E1030"};
static const char *const missing_codes[TK_TYPES] = {"E1063", "E1081", "E1032"};

static bool is_deleted(const struct tk_store *s, enum tk_type t, int32_t i)
{
    return t == TK_TE ? s->te[i].deleted : t == TK_ENR ? s->enr[i].deleted : s->ev[i].deleted;
}

static int check_existence(struct import *im, size_t i)
{
    struct item *it = &im->items[i];
    it->existing = tk_find(im->s, it->type, it->uid);
    if (it->existing >= 0 && is_deleted(im->s, it->type, it->existing))
        return fail(im, i, deleted_codes[it->type], it->uid, NULL, NULL, NULL);
    if (it->existing >= 0 && im->o->strategy == TS_CREATE)
        return fail(im, i, exists_codes[it->type], it->uid, NULL, NULL, NULL);
    if (it->existing < 0 && (im->o->strategy == TS_UPDATE || im->o->strategy == TS_DELETE))
        return fail(im, i, missing_codes[it->type], it->uid, NULL, NULL, NULL);
    return 0;
}

/* A reference to an object of type t: in the store (alive), or valid earlier in the payload.
 * Returns 1 found, 0 absent, -1 in the payload but refused (E5000 already reported). */
static int reference(struct import *im, size_t i, enum tk_type t, const char *uid)
{
    int32_t k = strmap_get(&im->in_payload[t], uid);
    if (k >= 0 && im->items[k].failed) {
        fail(im, i, "E5000", tk_type_names[im->items[i].type], im->items[i].uid, tk_type_names[t], uid);
        return -1;
    }
    if (k >= 0 && im->o->strategy != TS_DELETE)
        return 1;
    int32_t x = tk_find(im->s, t, uid);
    return x >= 0 && !is_deleted(im->s, t, x);
}

/* Checks one value against its type and option set; code is E1007 (attributes) or E1302. */
static int check_value(struct import *im, size_t i, const char *code, enum value_type vt, const char *vt_name,
                       int option_set, const char *value)
{
    if (!value || !*value)
        return 0;
    if (value_problem(value, vt)) {
        char why[400];
        snprintf(why, sizeof why, "Value type is %s but the value `%.300s` is not.", vt_name, value);
        return fail(im, i, code, vt_name, why, NULL, NULL);
    }
    if (option_set >= 0 && strmap_get(&im->s->md.os[option_set].codes, value) < 0)
        return fail(im, i, "E1125", value, im->s->md.os[option_set].uid, NULL, NULL);
    return 0;
}

static int check_attributes(struct import *im, size_t i, const cJSON *list)
{
    const struct tk_md *md = &im->s->md;
    const cJSON *a;
    cJSON_ArrayForEach(a, list) {
        const char *id = id_of(a, "attribute");
        int k = id ? strmap_get(&md->tea_map, id) : -1;
        if (k < 0)
            return fail(im, i, "E1006", id, NULL, NULL, NULL);
        if (check_value(im, i, "E1007", md->tea[k].vt, md->tea[k].vt_name, md->tea[k].option_set, text_of(a, "value")))
            return -1;
    }
    return 0;
}

static int find_ou(struct import *im, const char *id)
{
    return id ? metadata_find(&im->emu->md, MD_OU, SCHEME_UID, id) : -1;
}

static int check_tracked_entity(struct import *im, size_t i)
{
    struct item *it = &im->items[i];
    const char *tet = id_of(it->j, "trackedEntityType"), *ou = id_of(it->j, "orgUnit");
    if (!tet)
        return fail(im, i, "E1121", "trackedEntityType", NULL, NULL, NULL);
    if (!ou)
        return fail(im, i, "E1121", "orgUnit", NULL, NULL, NULL);
    if ((it->tet = strmap_get(&im->s->md.tet_map, tet)) < 0)
        return fail(im, i, "E1005", tet, NULL, NULL, NULL);
    if ((it->ou = find_ou(im, ou)) < 0)
        return fail(im, i, "E1049", ou, NULL, NULL, NULL);
    if (it->existing >= 0 && im->s->te[it->existing].tet != it->tet)
        return fail(im, i, "E1126", "trackedEntityType", NULL, NULL, NULL);
    return check_attributes(im, i, cJSON_GetObjectItemCaseSensitive(it->j, "attributes"));
}

static int check_enrollment(struct import *im, size_t i)
{
    struct item *it = &im->items[i];
    const char *pr = id_of(it->j, "program"), *ou = id_of(it->j, "orgUnit");
    const char *te = *it->parent ? it->parent : id_of(it->j, "trackedEntity");
    if (!ou)
        return fail(im, i, "E1122", "orgUnit", NULL, NULL, NULL);
    if (!pr)
        return fail(im, i, "E1122", "program", NULL, NULL, NULL);
    if (!te)
        return fail(im, i, "E1122", "trackedEntity", NULL, NULL, NULL);
    if ((it->ou = find_ou(im, ou)) < 0)
        return fail(im, i, "E1070", ou, NULL, NULL, NULL);
    if ((it->program = strmap_get(&im->s->md.pr_map, pr)) < 0)
        return fail(im, i, "E1069", pr, NULL, NULL, NULL);
    const struct tk_program *p = &im->s->md.pr[it->program];
    if (!p->registration)
        return fail(im, i, "E1014", pr, NULL, NULL, NULL);
    int ref = reference(im, i, TK_TE, te);
    if (ref < 0)
        return -1;
    if (!ref)
        return fail(im, i, "E1068", te, NULL, NULL, NULL);
    if (te != it->parent)
        snprintf(it->parent, sizeof it->parent, "%s", te);
    int32_t k = strmap_get(&im->in_payload[TK_TE], te);
    int tet = k >= 0 ? im->items[k].tet : im->s->te[tk_find(im->s, TK_TE, te)].tet;
    if (p->tet >= 0 && tet != p->tet)
        return fail(im, i, "E1022", te, pr, NULL, NULL);
    if (!tk_ou_assigned(p, it->ou))
        return fail(im, i, "E1041", ou, pr, NULL, NULL);
    int64_t t;
    if (tk_time_parse(text_of(it->j, "enrolledAt"), &t))
        return fail(im, i, "E1025", NULL, NULL, NULL, NULL);
    return check_attributes(im, i, cJSON_GetObjectItemCaseSensitive(it->j, "attributes"));
}

static int check_event(struct import *im, size_t i)
{
    struct item *it = &im->items[i];
    const struct tk_md *md = &im->s->md;
    const char *pr = id_of(it->j, "program"), *ps = id_of(it->j, "programStage"), *ou = id_of(it->j, "orgUnit");
    if (!ou)
        return fail(im, i, "E1123", "orgUnit", NULL, NULL, NULL);
    if ((it->ou = find_ou(im, ou)) < 0)
        return fail(im, i, "E1011", ou, NULL, NULL, NULL);
    if (pr && (it->program = strmap_get(&md->pr_map, pr)) < 0)
        return fail(im, i, "E1010", pr, NULL, NULL, NULL);
    if (!pr && it->parent_program >= 0)
        it->program = it->parent_program;
    if (ps && (it->stage = strmap_get(&md->ps_map, ps)) < 0)
        return fail(im, i, "E1013", ps, NULL, NULL, NULL);
    /* DHIS2 fills the program from the stage, and the stage of an event program from it */
    if (it->program < 0 && it->stage >= 0)
        it->program = md->ps[it->stage].program;
    if (it->stage < 0 && it->program >= 0 && !md->pr[it->program].registration && md->pr[it->program].n_stages == 1)
        it->stage = md->pr[it->program].stages[0];
    if (it->stage < 0)
        return fail(im, i, "E1123", "programStage", NULL, NULL, NULL);
    if (it->program < 0)
        return fail(im, i, "E1123", "program", NULL, NULL, NULL);
    const struct tk_program *p = &md->pr[it->program];
    if (md->ps[it->stage].program != it->program)
        return fail(im, i, "E1089", it->uid, md->ps[it->stage].uid, p->uid, NULL);
    if (p->registration) {
        const char *en = *it->parent ? it->parent : id_of(it->j, "enrollment");
        if (!en)
            return fail(im, i, "E1033", it->uid, NULL, NULL, NULL);
        int ref = reference(im, i, TK_ENR, en);
        if (ref < 0)
            return -1;
        if (!ref)
            return fail(im, i, "E1313", it->uid, NULL, NULL, NULL);
        int32_t k = strmap_get(&im->in_payload[TK_ENR], en);
        int en_program = k >= 0 ? im->items[k].program : im->s->enr[tk_find(im->s, TK_ENR, en)].program;
        if (en_program != it->program)
            return fail(im, i, "E1079", it->uid, p->uid, en, NULL);
        if (en != it->parent)
            snprintf(it->parent, sizeof it->parent, "%s", en);
    }
    if (!tk_ou_assigned(p, it->ou))
        return fail(im, i, "E1029", ou, p->uid, NULL, NULL);
    const char *status = text_of(it->j, "status");
    int st = status ? tk_status_find(tk_ev_status_names, EV_STATUSES, status) : EV_ACTIVE;
    int64_t t;
    bool planned = st == EV_SCHEDULE || st == EV_SKIPPED || st == EV_OVERDUE;
    if (!planned && tk_time_parse(text_of(it->j, "occurredAt"), &t))
        return fail(im, i, "E1031", NULL, NULL, NULL, NULL);
    if (st == EV_SCHEDULE && tk_time_parse(text_of(it->j, "scheduledAt"), &t))
        return fail(im, i, "E1050", NULL, NULL, NULL, NULL);
    const struct tk_stage *stage = &md->ps[it->stage];
    const struct metadata *amd = &im->emu->md;
    const cJSON *dv;
    cJSON_ArrayForEach(dv, cJSON_GetObjectItemCaseSensitive(it->j, "dataValues")) {
        const char *de = id_of(dv, "dataElement");
        int k = de ? metadata_find(amd, MD_DE, SCHEME_UID, de) : -1;
        if (k < 0)
            return fail(im, i, "E1304", de, NULL, NULL, NULL);
        bool in_stage = false;
        for (int x = 0; x < stage->n_des && !in_stage; x++)
            in_stage = stage->des[x] == k;
        if (!in_stage)
            return fail(im, i, "E1305", de, stage->uid, NULL, NULL);
        const cJSON *vn = cJSON_GetObjectItemCaseSensitive(dv, "value");
        char num[64];
        const char *value = text_of(dv, "value");
        if (cJSON_IsNumber(vn) || cJSON_IsBool(vn)) {
            /* some clients send numbers and booleans unquoted; DHIS2 reads them as text */
            if (cJSON_IsBool(vn))
                snprintf(num, sizeof num, "%s", cJSON_IsTrue(vn) ? "true" : "false");
            else
                snprintf(num, sizeof num, "%.15g", vn->valuedouble);
            value = num;
        }
        if (check_value(im, i, "E1302", amd->de[k].vt, md->de_vt_name[k], md->de_option_set[k], value))
            return -1;
    }
    return 0;
}

/* ---- writing ---- */

/* The old values (attributes or data values) merged with the payload's list into a new run at
 * the end of s->val; a value that is null or "" removes it, as DHIS2 does. */
static int merge_values(struct import *im, uint32_t *first, uint16_t *n, const cJSON *list, bool attributes)
{
    struct tk_store *s = im->s;
    size_t most = (size_t)*n + (size_t)cJSON_GetArraySize(list);
    if (most > UINT16_MAX)
        most = UINT16_MAX;
    int64_t at = tk_values_reserve(s, most);
    if (at < 0)
        return -1;
    uint16_t count = 0;
    for (uint16_t k = 0; k < *n; k++)
        s->val[at + count++] = s->val[*first + k];
    const cJSON *x;
    cJSON_ArrayForEach(x, list) {
        const char *id = id_of(x, attributes ? "attribute" : "dataElement");
        int32_t ref = attributes ? strmap_get(&s->md.tea_map, id)
                                 : metadata_find(&im->emu->md, MD_DE, SCHEME_UID, id);
        if (ref < 0)
            continue;
        const cJSON *vn = cJSON_GetObjectItemCaseSensitive(x, "value");
        char num[64];
        const char *value = cJSON_IsString(vn) ? vn->valuestring : NULL;
        if (cJSON_IsNumber(vn))
            snprintf(num, sizeof num, "%.15g", vn->valuedouble), value = num;
        else if (cJSON_IsBool(vn))
            value = cJSON_IsTrue(vn) ? "true" : "false";
        uint16_t k = 0;
        while (k < count && s->val[at + k].id != ref)
            k++;
        if (!value || !*value) {
            if (k < count)
                s->val[at + k] = s->val[at + --count];
            continue;
        }
        if (k == count) {
            if (count == most)
                continue;
            count++;
            s->val[at + k].id = ref;
            s->val[at + k].created = im->now;
        }
        struct tk_value *v = &s->val[at + k];
        v->value = tk_text(s, value);
        v->provided_elsewhere = cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(x, "providedElsewhere"));
        v->updated = im->now;
        if (!v->value)
            return -1;
    }
    s->n_val = (size_t)at + count;
    *first = (uint32_t)at;
    *n = count;
    return 0;
}

static const char *notes_of(struct import *im, const cJSON *j, const char *old)
{
    const cJSON *notes = cJSON_GetObjectItemCaseSensitive(j, "notes");
    if (!cJSON_GetArraySize(notes))
        return old;
    char *text = cJSON_PrintUnformatted(notes);
    const char *kept = tk_text(im->s, text);
    free(text);
    return kept;
}

static void touch_te(struct import *im, int32_t te)
{
    if (te >= 0)
        im->s->te[te].updated = im->now;
}

static void delete_events(struct import *im, int32_t first)
{
    for (int32_t v = first; v != TK_NONE; v = im->s->ev[v].next_in_enr)
        if (!im->s->ev[v].deleted) {
            im->s->ev[v].deleted = true;
            im->s->ev[v].updated = im->now;
        }
}

static void delete_enrollment(struct import *im, int32_t n)
{
    struct tk_enr *en = &im->s->enr[n];
    if (!en->deleted) {
        en->deleted = true;
        en->updated = im->now;
    }
    delete_events(im, en->first_ev);
}

static int commit_te(struct import *im, struct item *it)
{
    struct tk_store *s = im->s;
    int32_t t = it->existing;
    if (im->o->strategy == TS_DELETE) {
        s->te[t].deleted = true;
        s->te[t].updated = im->now;
        for (int32_t n = s->te[t].first_enr; n != TK_NONE; n = s->enr[n].next_in_te)
            delete_enrollment(im, n);
        return 0;
    }
    if (t < 0) {
        if ((t = tk_add(s, TK_TE, it->uid)) < 0)
            return -1;
        s->te[t].created = im->now;
        s->te[t].first_enr = TK_NONE;
        s->te[t].tet = it->tet;
    }
    struct tk_te *te = &s->te[t];
    te->ou = it->ou;
    te->inactive = cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(it->j, "inactive"));
    te->updated = im->now;
    return merge_values(im, &s->te[t].val_first, &s->te[t].n_val, cJSON_GetObjectItemCaseSensitive(it->j, "attributes"), true);
}

static int64_t time_or(const cJSON *j, const char *key, int64_t dflt)
{
    int64_t t;
    return tk_time_parse(text_of(j, key), &t) ? dflt : t;
}

static int commit_enrollment(struct import *im, struct item *it)
{
    struct tk_store *s = im->s;
    int32_t n = it->existing;
    if (im->o->strategy == TS_DELETE) {
        delete_enrollment(im, n);
        touch_te(im, s->enr[n].te);
        return 0;
    }
    int32_t te = tk_find(s, TK_TE, it->parent);
    if (n < 0) {
        if ((n = tk_add(s, TK_ENR, it->uid)) < 0)
            return -1;
        struct tk_enr *en = &s->enr[n];
        en->created = im->now;
        en->te = te;
        en->first_ev = TK_NONE;
        en->next_in_te = s->te[te].first_enr;
        s->te[te].first_enr = n;
    }
    struct tk_enr *en = &s->enr[n];
    en->program = it->program;
    en->ou = it->ou;
    int st = tk_status_find(tk_enr_status_names, ENR_STATUSES, text_of(it->j, "status"));
    en->status = (uint8_t)(st >= 0 ? st : ENR_ACTIVE);
    en->enrolled = time_or(it->j, "enrolledAt", im->now);
    en->occurred = time_or(it->j, "occurredAt", en->enrolled);
    en->follow_up = cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(it->j, "followUp"));
    en->stored_by = tk_who(s, text_of(it->j, "storedBy") ? text_of(it->j, "storedBy") : im->o->user);
    en->notes = notes_of(im, it->j, en->notes);
    en->updated = im->now;
    touch_te(im, te);
    /* enrollment attributes belong to the tracked entity */
    const cJSON *attrs = cJSON_GetObjectItemCaseSensitive(it->j, "attributes");
    if (cJSON_GetArraySize(attrs) && merge_values(im, &s->te[te].val_first, &s->te[te].n_val, attrs, true))
        return -1;
    return en->stored_by ? 0 : -1;
}

static int commit_event(struct import *im, struct item *it)
{
    struct tk_store *s = im->s;
    int32_t v = it->existing;
    if (im->o->strategy == TS_DELETE) {
        s->ev[v].deleted = true;
        s->ev[v].updated = im->now;
        if (s->ev[v].enr >= 0)
            touch_te(im, s->enr[s->ev[v].enr].te);
        return 0;
    }
    int32_t en = *it->parent ? tk_find(s, TK_ENR, it->parent) : TK_NONE;
    if (v < 0) {
        if ((v = tk_add(s, TK_EV, it->uid)) < 0)
            return -1;
        s->ev[v].created = im->now;
        s->ev[v].enr = en;
        s->ev[v].next_in_enr = TK_NONE;
        s->ev[v].completed = TK_NULL_TIME;
        if (en >= 0) {
            int32_t *tail = &s->enr[en].first_ev;
            while (*tail != TK_NONE)
                tail = &s->ev[*tail].next_in_enr;
            *tail = v;
        }
    }
    struct tk_ev *e = &s->ev[v];
    e->program = it->program;
    e->stage = it->stage;
    e->ou = it->ou;
    int st = tk_status_find(tk_ev_status_names, EV_STATUSES, text_of(it->j, "status"));
    uint8_t status = (uint8_t)(st >= 0 ? st : EV_ACTIVE);
    if (status == EV_COMPLETED && e->status != EV_COMPLETED) {
        e->completed = time_or(it->j, "completedAt", im->now);
        e->completed_by = tk_who(s, text_of(it->j, "completedBy") ? text_of(it->j, "completedBy") : im->o->user);
    } else if (status != EV_COMPLETED) {
        e->completed = TK_NULL_TIME;
        e->completed_by = NULL;
    }
    e->status = status;
    e->occurred = time_or(it->j, "occurredAt", TK_NULL_TIME);
    e->scheduled = time_or(it->j, "scheduledAt", e->occurred);
    e->follow_up = cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(it->j, "followUp"));
    e->stored_by = tk_who(s, text_of(it->j, "storedBy") ? text_of(it->j, "storedBy") : im->o->user);
    e->notes = notes_of(im, it->j, e->notes);
    e->updated = im->now;
    if (e->enr >= 0)
        touch_te(im, s->enr[e->enr].te);
    if (!e->stored_by)
        return -1;
    return merge_values(im, &s->ev[v].val_first, &s->ev[v].n_val, cJSON_GetObjectItemCaseSensitive(it->j, "dataValues"), false);
}

static void commit(struct import *im)
{
    for (size_t i = 0; i < im->n && !im->oom; i++) {
        struct item *it = &im->items[i];
        if (it->failed)
            continue;
        bool create = it->existing < 0;
        int rc = it->type == TK_TE ? commit_te(im, it) : it->type == TK_ENR ? commit_enrollment(im, it)
                                                                           : commit_event(im, it);
        if (rc) {
            im->oom = true;
            return;
        }
        enum tk_type t = it->type;
        if (im->o->strategy == TS_DELETE)
            im->deleted[t]++;
        else if (create)
            im->created[t]++;
        else
            im->updated[t]++;
        struct buf *b = &im->done[t];
        buf_printf(b, "%s{\"trackerType\":\"%s\",\"uid\":\"%s\",\"errorReports\":[]}", b->len ? "," : "",
                   tk_type_names[t], it->uid);
    }
}

/* ---- the report ---- */

struct tk_summary {
    bool error;
    long created, updated, deleted, ignored;
};

static void stats(struct buf *b, long created, long updated, long deleted, long ignored)
{
    buf_printf(b, "{\"created\":%ld,\"updated\":%ld,\"deleted\":%ld,\"ignored\":%ld,\"total\":%ld}", created,
               updated, deleted, ignored, created + updated + deleted + ignored);
}

static char *report(struct import *im, struct tk_summary *sum)
{
    long total = im->size[TK_TE] + im->size[TK_ENR] + im->size[TK_EV];
    bool abort = im->n_errors && im->o->atomic_all;
    struct buf b = {0};
    *sum = (struct tk_summary){.error = abort};
    buf_printf(&b, "{\"status\":\"%s\",\"validationReport\":{\"errorReports\":[", abort ? "ERROR" : "OK");
    buf_put(&b, im->errors.data ? im->errors.data : "", im->errors.len);
    buf_puts(&b, "],\"warningReports\":[]},\"stats\":");
    if (abort) {
        sum->ignored = total;
        stats(&b, 0, 0, 0, total);
        buf_putc(&b, '}');
        return buf_take(&b);
    }
    if (!im->o->commit) {
        /* importMode=VALIDATE: DHIS2 persists nothing and counts only the refused */
        sum->ignored = im->n_errors;
        stats(&b, 0, 0, 0, im->n_errors);
        buf_puts(&b, ",\"bundleReport\":{\"typeReportMap\":{}}}");
        return buf_take(&b);
    }
    for (int t = 0; t < TK_TYPES; t++) {
        sum->created += im->created[t];
        sum->updated += im->updated[t];
        sum->deleted += im->deleted[t];
    }
    sum->ignored = total - sum->created - sum->updated - sum->deleted;
    stats(&b, sum->created, sum->updated, sum->deleted, sum->ignored);
    buf_puts(&b, ",\"bundleReport\":{\"typeReportMap\":{");
    for (int t = 0; t < TK_TYPES; t++) {
        long done = im->created[t] + im->updated[t] + im->deleted[t];
        buf_printf(&b, "\"%s\":{\"trackerType\":\"%s\",\"stats\":", tk_type_names[t], tk_type_names[t]);
        stats(&b, im->created[t], im->updated[t], im->deleted[t], im->size[t] - done);
        buf_puts(&b, ",\"objectReports\":[");
        buf_put(&b, im->done[t].data ? im->done[t].data : "", im->done[t].len);
        buf_puts(&b, "]},");
    }
    buf_puts(&b, "\"RELATIONSHIP\":{\"trackerType\":\"RELATIONSHIP\",\"stats\":");
    stats(&b, 0, 0, 0, 0);
    buf_puts(&b, ",\"objectReports\":[]}}}}");
    return buf_take(&b);
}

/* Validates and (unless refused or VALIDATE) writes root; the ImportReport as JSON text, or
 * NULL when memory ran out. */
static char *import_tracker(struct emu *emu, const cJSON *root, const struct tk_opts *o, struct tk_summary *sum)
{
    struct import im = {.emu = emu, .s = emu->tk, .o = o, .now = now_ms()};
    pthread_rwlock_rdlock(&emu->st.lock); /* metadata imports write under it */
    pthread_rwlock_wrlock(&im.s->lock);
    flatten(&im, root);
    for (size_t i = 0; i < im.n && !im.oom; i++) {
        if (o->validation == TV_FAIL_FAST && im.n_errors)
            im.items[i].failed = true;
        else if (!check_existence(&im, i) && o->strategy != TS_DELETE)
            (void)(im.items[i].type == TK_TE ? check_tracked_entity(&im, i)
                   : im.items[i].type == TK_ENR ? check_enrollment(&im, i) : check_event(&im, i));
    }
    if (!im.oom && o->commit && !(im.n_errors && o->atomic_all)) {
        commit(&im);
        im.s->version++;
    }
    pthread_rwlock_unlock(&im.s->lock);
    pthread_rwlock_unlock(&emu->st.lock);
    char *text = im.oom || im.errors.oom ? NULL : report(&im, sum);
    for (int t = 0; t < TK_TYPES; t++) {
        strmap_free(&im.in_payload[t]);
        buf_free(&im.done[t]);
    }
    buf_free(&im.errors);
    free(im.items);
    return text;
}

/* ---- the routes ---- */

struct tk_job {
    struct tk_job *next;
    struct emu *emu;
    pthread_t thread;
    char id[12];
    int64_t created, finished;
    cJSON *payload;
    struct tk_opts opts;
    bool done;
    char *report;
    struct tk_summary sum;
};

/* Reads an enum parameter: the index of its value in names, dflt when absent, -1 when bad. */
static int enum_param(struct request *r, const char *key, const char *const *names, int n, int dflt)
{
    const char *v = req_param(r, key);
    if (!v || !*v)
        return dflt;
    for (int i = 0; i < n; i++)
        if (!strcasecmp(v, names[i]))
            return i;
    return -1;
}

static int parse_opts(struct request *r, struct tk_opts *o, char *msg, size_t n)
{
    static const char *const strategies[] = {"CREATE_AND_UPDATE", "CREATE", "UPDATE", "DELETE"};
    static const char *const atomic[] = {"ALL", "OBJECT"};
    static const char *const modes[] = {"COMMIT", "VALIDATE"};
    static const char *const validation[] = {"FULL", "FAIL_FAST", "SKIP"};
    static const char *const reports[] = {"ERRORS", "WARNINGS", "FULL"};
    struct {
        const char *key;
        const char *const *names;
        int n, value;
    } p[] = {{"importStrategy", strategies, 4, 0}, {"atomicMode", atomic, 2, 0}, {"importMode", modes, 2, 0},
             {"validationMode", validation, 3, 0}, {"reportMode", reports, 3, 0}};
    for (size_t i = 0; i < sizeof p / sizeof p[0]; i++)
        if ((p[i].value = enum_param(r, p[i].key, p[i].names, p[i].n, 0)) < 0) {
            snprintf(msg, n, "Value %s is not a valid %s", req_param(r, p[i].key), p[i].key);
            return -1;
        }
    o->strategy = (enum strategy)p[0].value;
    o->atomic_all = p[1].value == 0;
    o->commit = p[2].value == 0;
    o->validation = p[3].value == 1 ? TV_FAIL_FAST : TV_FULL;
    o->warnings = p[4].value > 0;
    o->async = req_flag(r, "async", true);
    snprintf(o->user, sizeof o->user, "%s", r->emu->cfg.user);
    return 0;
}

static void *run_job(void *arg)
{
    struct tk_job *j = arg;
    struct tk_summary sum = {0};
    char *text = import_tracker(j->emu, j->payload, &j->opts, &sum);
    pthread_mutex_lock(&j->emu->jobs_mu);
    j->report = text;
    j->sum = sum;
    j->finished = now_ms();
    j->done = true;
    cJSON_Delete(j->payload);
    j->payload = NULL;
    pthread_mutex_unlock(&j->emu->jobs_mu);
    return NULL;
}

static int start_job(struct request *r, cJSON *payload, const struct tk_opts *o)
{
    struct emu *emu = r->emu;
    struct tk_job *j = calloc(1, sizeof *j);
    if (!j) {
        cJSON_Delete(payload);
        return http_webmessage(r, 500, "ERROR", "Out of memory", NULL);
    }
    j->emu = emu;
    j->payload = payload;
    j->opts = *o;
    j->created = now_ms();
    make_uid(j->id);
    pthread_mutex_lock(&emu->jobs_mu);
    if (pthread_create(&j->thread, NULL, run_job, j) != 0) {
        pthread_mutex_unlock(&emu->jobs_mu);
        cJSON_Delete(payload);
        free(j);
        return http_webmessage(r, 500, "ERROR", "Cannot start the import job", NULL);
    }
    j->next = emu->tk_jobs;
    emu->tk_jobs = j;
    pthread_mutex_unlock(&emu->jobs_mu);
    const char *host = req_header(r, "Host");
    struct buf b = {0};
    webmessage_head(&b, 200, "OK", "Tracker job added");
    buf_printf(&b, ",\"response\":{\"responseType\":\"TrackerJobWebMessageResponse\",\"id\":\"%s\","
                   "\"location\":\"http://%s/api/tracker/jobs/%s\"}}", j->id, host ? host : "localhost", j->id);
    char location[64];
    snprintf(location, sizeof location, "/tracker/jobs/%s", j->id);
    return tk_send(r, &b, location);
}

int api_tracker_post(struct request *r)
{
    struct tk_opts o;
    char msg[256];
    if (parse_opts(r, &o, msg, sizeof msg))
        return http_webmessage(r, 400, "ERROR", msg, NULL);
    cJSON *payload = cJSON_ParseWithLength(r->body ? r->body : "", r->body_len);
    if (!cJSON_IsObject(payload)) {
        cJSON_Delete(payload);
        return http_webmessage(r, 400, "ERROR", "JSON parse error: the body is not a tracker payload object", NULL);
    }
    if (o.async)
        return start_job(r, payload, &o);
    struct tk_summary sum;
    char *text = import_tracker(r->emu, payload, &o, &sum);
    cJSON_Delete(payload);
    if (!text)
        return http_webmessage(r, 500, "ERROR", "Out of memory", NULL);
    return http_send(r, sum.error ? 409 : 200, "application/json;charset=UTF-8", text, strlen(text));
}

/* GET tracker/jobs/<id> (notifications, newest first) and tracker/jobs/<id>/report. */
int api_tracker_jobs(struct request *r)
{
    struct emu *emu = r->emu;
    const char *rest = r->path + strlen("tracker/jobs/");
    char id[12];
    size_t n = strcspn(rest, "/");
    bool want_report = !strcmp(rest + n, "/report");
    if (n != 11 || (rest[n] && !want_report))
        return http_webmessage(r, 404, "ERROR", "Not Found", NULL);
    snprintf(id, sizeof id, "%.11s", rest);
    struct buf b = {0};
    pthread_mutex_lock(&emu->jobs_mu);
    struct tk_job *j = emu->tk_jobs;
    while (j && strcmp(j->id, id) != 0)
        j = j->next;
    if (want_report && !(j && j->done && j->report)) {
        pthread_mutex_unlock(&emu->jobs_mu);
        char msg[96];
        snprintf(msg, sizeof msg, "Summary for job %s does not exist", id);
        return http_webmessage(r, 404, "ERROR", msg, NULL);
    }
    if (want_report) {
        buf_puts(&b, j->report);
    } else {
        char uid[12];
        buf_putc(&b, '[');
        if (j && j->done) {
            make_uid(uid);
            buf_printf(&b, "{\"uid\":\"%s\",\"level\":\"INFO\",\"category\":\"TRACKER_IMPORT_JOB\",\"time\":\"", uid);
            buf_timestamp(&b, j->finished, false);
            buf_printf(&b, "\",\"message\":\"(TRACKER_IMPORT_JOB) Import complete with status %s, %ld created, "
                           "%ld updated, %ld deleted, %ld ignored\",\"completed\":true},",
                       j->sum.error ? "ERROR" : "OK", j->sum.created, j->sum.updated, j->sum.deleted, j->sum.ignored);
        }
        if (j) {
            make_uid(uid);
            buf_printf(&b, "{\"uid\":\"%s\",\"level\":\"INFO\",\"category\":\"TRACKER_IMPORT_JOB\",\"time\":\"", uid);
            buf_timestamp(&b, j->created, false);
            buf_puts(&b, "\",\"message\":\"(TRACKER_IMPORT_JOB) Tracker import started\",\"completed\":false}");
        }
        buf_putc(&b, ']');
    }
    pthread_mutex_unlock(&emu->jobs_mu);
    return tk_send(r, &b, NULL);
}

void tracker_jobs_free(struct emu *emu)
{
    struct tk_job *j = emu->tk_jobs;
    while (j) {
        struct tk_job *next = j->next;
        pthread_join(j->thread, NULL);
        cJSON_Delete(j->payload);
        free(j->report);
        free(j);
        j = next;
    }
    emu->tk_jobs = NULL;
}
