/* import.c — POST /api/dataValueSets: import options, the body (JSON, gzip, CSV), the per-value
 * validation in DHIS2's order (DataValueSetImportValidator: ids first, then value, then the
 * strict constraints; a value stops at its first conflict), the counting rules of 2.41, and the
 * ImportSummary in the form each server version writes. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <zlib.h>

#include "datavalue.h"
#include "emu.h"
#include "http.h"

enum { MAX_VALUE_LEN = 50000, MAX_COMMENT_LEN = 50000, MAX_STORED_BY_LEN = 255 };

static const char *strategy_names[] = {"CREATE_AND_UPDATE", "CREATE", "UPDATE", "DELETE"};

static int strategy_from_name(const char *s)
{
    static const struct {
        const char *name;
        enum import_strategy st;
    } names[] = {
        {"CREATE_AND_UPDATE", STRATEGY_CREATE_AND_UPDATE}, {"NEW_AND_UPDATES", STRATEGY_CREATE_AND_UPDATE},
        {"CREATE", STRATEGY_CREATE}, {"NEW", STRATEGY_CREATE},
        {"UPDATE", STRATEGY_UPDATE}, {"UPDATES", STRATEGY_UPDATE},
        {"DELETE", STRATEGY_DELETE}, {"DELETES", STRATEGY_DELETE},
    };
    for (size_t i = 0; i < sizeof names / sizeof names[0]; i++)
        if (!strcasecmp(s, names[i].name))
            return (int)names[i].st;
    return -1;
}

static int scheme_param(const struct request *r, const char *key)
{
    const char *v = req_param(r, key);
    return v && *v ? (int)scheme_from_name(v, SCHEME_UID) : -1;
}

int import_opts_parse(const struct request *r, struct import_opts *o, char *msg, size_t n)
{
    memset(o, 0, sizeof *o);
    const char *st = req_param(r, "importStrategy");
    if (!st)
        st = req_param(r, "strategy");
    if (st && *st) {
        int s = strategy_from_name(st);
        if (s < 0) {
            snprintf(msg, n, "Value '%s' is not valid for parameter importStrategy. Valid values are: "
                             "[CREATE, UPDATE, CREATE_AND_UPDATE, DELETE]", st);
            return -1;
        }
        o->strategy = (enum import_strategy)s;
    }
    o->dry_run = req_flag(r, "dryRun", false);
    o->async = req_flag(r, "async", false);
    o->skip_existing_check = req_flag(r, "skipExistingCheck", false);
    o->skip_audit = req_flag(r, "skipAudit", false);
    o->force = req_flag(r, "force", false);
    o->first_row_is_header = req_flag(r, "firstRowIsHeader", true);
    o->preheat_cache_set = req_param(r, "preheatCache") != NULL;
    o->preheat_cache = req_flag(r, "preheatCache", false);
    o->strict_periods = req_flag(r, "strictPeriods", false);
    o->strict_data_elements = req_flag(r, "strictDataElements", false);
    o->strict_cocs = req_flag(r, "strictCategoryOptionCombos", false);
    o->strict_aocs = req_flag(r, "strictAttributeOptionCombos", false);
    o->strict_org_units = req_flag(r, "strictOrganisationUnits", false);
    o->require_coc = req_flag(r, "requireCategoryOptionCombo", false);
    o->require_aoc = req_flag(r, "requireAttributeOptionCombo", false);
    o->id_scheme = scheme_param(r, "idScheme");
    o->de_scheme = scheme_param(r, "dataElementIdScheme");
    o->ou_scheme = scheme_param(r, "orgUnitIdScheme");
    o->coc_scheme = scheme_param(r, "categoryOptionComboIdScheme");
    o->ds_scheme = scheme_param(r, "dataSetIdScheme");
    snprintf(o->user, sizeof o->user, "%s", r->emu->cfg.user);
    return 0;
}

/* ---- the parsed body: one shape for JSON and CSV ---- */

struct dvs_in_value *dvs_in_push(struct dvs_in *s)
{
    if (s->n == s->cap) {
        size_t cap = s->cap ? s->cap * 2 : 1024;
        struct dvs_in_value *v = realloc(s->v, cap * sizeof *v);
        if (!v)
            return NULL;
        s->v = v;
        s->cap = cap;
    }
    struct dvs_in_value *v = &s->v[s->n++];
    memset(v, 0, sizeof *v);
    v->followup = -1;
    return v;
}

/* Reads one CSV field (RFC 4180 quoting) into the arena; advances *p past the separator. */
static const char *csv_field(struct dvs_in *s, const char **p, const char *end, bool *eol)
{
    struct buf b = {0};
    const char *q = *p;
    if (q < end && *q == '"') {
        q++;
        while (q < end) {
            if (*q == '"') {
                if (q + 1 < end && q[1] == '"') {
                    buf_putc(&b, '"');
                    q += 2;
                    continue;
                }
                q++;
                break;
            }
            buf_putc(&b, *q++);
        }
    }
    while (q < end && *q != ',' && *q != '\n' && *q != '\r')
        buf_putc(&b, *q++);
    *eol = q >= end || *q == '\n' || *q == '\r';
    if (q < end && *q == ',')
        q++;
    else
        while (q < end && (*q == '\r' || *q == '\n')) {
            q++;
            if (q[-1] == '\n')
                break;
        }
    *p = q;
    const char *out = b.len ? arena_strndup(&s->arena, b.data, b.len) : NULL;
    buf_free(&b);
    return out;
}

static int parse_csv(struct dvs_in *s, const char *p, size_t len, bool header, char *msg, size_t n)
{
    const char *end = p + len;
    bool first = true;
    while (p < end) {
        const char *cols[11] = {0};
        int c = 0;
        bool eol = false;
        while (!eol && p < end) {
            const char *f = csv_field(s, &p, end, &eol);
            if (c < 11)
                cols[c] = f;
            c++;
        }
        if (first && header) {
            first = false;
            continue;
        }
        first = false;
        if (c == 1 && !cols[0])
            continue; /* blank line */
        struct dvs_in_value *v = dvs_in_push(s);
        if (!v) {
            snprintf(msg, n, "The import process failed: out of memory");
            return -1;
        }
        v->de = cols[0];
        v->pe = cols[1];
        v->ou = cols[2];
        v->coc = cols[3];
        v->aoc = cols[4];
        v->value = cols[5];
        v->stored_by = cols[6];
        v->comment = cols[8];
        if (cols[9])
            v->followup = !strcasecmp(cols[9], "true");
        v->deleted = cols[10] && !strcasecmp(cols[10], "true");
    }
    return 0;
}

char *gunzip(const char *in, size_t len, size_t *out_len)
{
    z_stream z = {0};
    if (inflateInit2(&z, 16 + MAX_WBITS) != Z_OK)
        return NULL;
    size_t cap = len * 4 + 1024, used = 0;
    char *out = malloc(cap);
    z.next_in = (Bytef *)in;
    z.avail_in = (uInt)len;
    int zr = Z_OK;
    while (out && zr != Z_STREAM_END) {
        if (cap - used < 64 * 1024) {
            char *grown = realloc(out, cap * 2);
            if (!grown) {
                free(out);
                out = NULL;
                break;
            }
            out = grown;
            cap *= 2;
        }
        z.next_out = (Bytef *)out + used;
        z.avail_out = (uInt)(cap - used - 1);
        zr = inflate(&z, Z_NO_FLUSH);
        used = cap - 1 - z.avail_out;
        if (zr != Z_OK && zr != Z_STREAM_END) {
            free(out);
            out = NULL;
        }
    }
    inflateEnd(&z);
    if (out) {
        out[used] = '\0';
        *out_len = used;
    }
    return out;
}

/* ---- conflicts ---- */

struct obj_ref {
    const char *kind, *id;
};

struct conflict {
    const char *code, *object, *value, *property;
    struct obj_ref objects[2];
    int n_objects;
    int *indexes;
    size_t n_idx, cap_idx;
};

struct conflicts {
    struct arena arena;
    struct conflict *c;
    size_t n, cap;
    struct strmap by_key;
    long *rejected;
    size_t n_rejected, cap_rejected;
};

static int conflicts_add(struct conflicts *cs, long index, const char *code, const char *property,
                         const char *value, struct obj_ref o1, struct obj_ref o2)
{
    char key[1024];
    snprintf(key, sizeof key, "%s|%s|%s|%s", code, o1.id ? o1.id : "", o2.id ? o2.id : "", value);
    int ci = strmap_get(&cs->by_key, key);
    if (ci < 0) {
        if (cs->n == cs->cap) {
            size_t cap = cs->cap ? cs->cap * 2 : 16;
            struct conflict *c = realloc(cs->c, cap * sizeof *c);
            if (!c)
                return -1;
            cs->c = c;
            cs->cap = cap;
        }
        struct conflict *c = &cs->c[cs->n];
        memset(c, 0, sizeof *c);
        c->code = code;
        c->property = property;
        c->object = arena_strdup(&cs->arena, o1.id);
        c->value = arena_strdup(&cs->arena, value);
        if (o1.kind)
            c->objects[c->n_objects++] = (struct obj_ref){o1.kind, c->object};
        if (o2.kind)
            c->objects[c->n_objects++] = (struct obj_ref){o2.kind, arena_strdup(&cs->arena, o2.id)};
        const char *k = arena_strdup(&cs->arena, key);
        if (!k || !c->value || strmap_put(&cs->by_key, k, (int32_t)cs->n))
            return -1;
        ci = (int)cs->n++;
    }
    struct conflict *c = &cs->c[ci];
    if (index >= 0) {
        if (c->n_idx == c->cap_idx) {
            size_t cap = c->cap_idx ? c->cap_idx * 2 : 4;
            int *idx = realloc(c->indexes, cap * sizeof *idx);
            if (!idx)
                return -1;
            c->indexes = idx;
            c->cap_idx = cap;
        }
        c->indexes[c->n_idx++] = (int)index;
        if (cs->n_rejected == cs->cap_rejected) {
            size_t cap = cs->cap_rejected ? cs->cap_rejected * 2 : 16;
            long *rj = realloc(cs->rejected, cap * sizeof *rj);
            if (!rj)
                return -1;
            cs->rejected = rj;
            cs->cap_rejected = cap;
        }
        cs->rejected[cs->n_rejected++] = index;
    }
    return 0;
}

static void conflicts_free(struct conflicts *cs)
{
    for (size_t i = 0; i < cs->n; i++)
        free(cs->c[i].indexes);
    free(cs->c);
    free(cs->rejected);
    strmap_free(&cs->by_key);
    arena_free(&cs->arena);
}

/* ---- value rules (dhis2-core ValidationUtils) ---- */

static bool match_int(const char *s, bool allow_neg, bool allow_zero, bool allow_pos)
{
    if (!strcmp(s, "0"))
        return allow_zero;
    bool neg = *s == '-';
    if (neg) {
        if (!allow_neg)
            return false;
        s++;
    } else if (!allow_pos) {
        return false;
    }
    if (*s < '1' || *s > '9')
        return false;
    for (s++; *s; s++)
        if (*s < '0' || *s > '9')
            return false;
    return true;
}

/* ^(-?0|-?[1-9]\d*)(\.\d+)?$ */
static bool match_number(const char *s)
{
    if (*s == '-')
        s++;
    if (*s == '0')
        s++;
    else if (*s >= '1' && *s <= '9')
        while (*s >= '0' && *s <= '9')
            s++;
    else
        return false;
    if (*s == '.') {
        s++;
        if (*s < '0' || *s > '9')
            return false;
        while (*s >= '0' && *s <= '9')
            s++;
    }
    return *s == '\0';
}

static int bool_form(const char *s)
{
    static const char *t[] = {"true", "True", "TRUE", "t", "T", "1"};
    static const char *f[] = {"false", "False", "FALSE", "f", "F", "0"};
    for (int i = 0; i < 6; i++) {
        if (!strcmp(s, t[i]))
            return 1;
        if (!strcmp(s, f[i]))
            return 0;
    }
    return -1;
}

static bool is_uid(const char *s)
{
    if (strlen(s) != 11 || !((*s >= 'a' && *s <= 'z') || (*s >= 'A' && *s <= 'Z')))
        return false;
    for (int i = 1; i < 11; i++)
        if (!((s[i] >= 'a' && s[i] <= 'z') || (s[i] >= 'A' && s[i] <= 'Z') || (s[i] >= '0' && s[i] <= '9')))
            return false;
    return true;
}

const char *value_problem(const char *v, enum value_type vt)
{
    if (strlen(v) > MAX_VALUE_LEN)
        return "value_length_greater_than_max_length";
    switch (vt) {
    case VT_NUMBER:
        return match_number(v) && strlen(v) < 250 ? NULL : "value_not_numeric";
    case VT_UNIT_INTERVAL:
        return match_number(v) && strtod(v, NULL) >= 0 && strtod(v, NULL) <= 1 ? NULL : "value_not_unit_interval";
    case VT_PERCENTAGE:
        return match_number(v) && strtod(v, NULL) >= 0 && strtod(v, NULL) <= 100 ? NULL : "value_not_percentage";
    case VT_INTEGER:
        return match_int(v, true, true, true) ? NULL : "value_not_integer";
    case VT_INTEGER_POSITIVE:
        return match_int(v, false, false, true) ? NULL : "value_not_positive_integer";
    case VT_INTEGER_NEGATIVE:
        return match_int(v, true, false, false) ? NULL : "value_not_negative_integer";
    case VT_INTEGER_ZERO_OR_POSITIVE:
        return match_int(v, false, true, true) ? NULL : "value_not_zero_or_positive_integer";
    case VT_BOOLEAN:
        return bool_form(v) >= 0 ? NULL : "value_not_bool";
    case VT_TRUE_ONLY:
        return bool_form(v) == 1 ? NULL : "value_not_true_only";
    case VT_DATE:
    case VT_AGE: {
        int32_t d;
        return strlen(v) == 10 && date_parse(v, &d) == 0 ? NULL : "value_not_valid_date";
    }
    case VT_DATETIME: {
        int64_t t;
        return timestamp_parse(v, &t) == 0 ? NULL : "value_not_valid_datetime";
    }
    case VT_LETTER:
        return strlen(v) == 1 && ((*v >= 'a' && *v <= 'z') || (*v >= 'A' && *v <= 'Z')) ? NULL : "value_not_valid_letter";
    case VT_FILE_RESOURCE:
        return is_uid(v) ? NULL : "value_not_valid_file_resource_uid";
    case VT_ORGANISATION_UNIT:
        return is_uid(v) ? NULL : "value_not_valid_organisation_unit_uid";
    default:
        return NULL;
    }
}

static const char *i18n(const char *key)
{
    static const struct {
        const char *key, *text;
    } t[] = {
        {"value_length_greater_than_max_length", "Data value length is greater than maximum length"},
        {"value_not_numeric", "Data value is not numeric"},
        {"value_not_unit_interval", "Data value is not a unit interval"},
        {"value_not_percentage", "Data value is not a percentage"},
        {"value_not_integer", "Data value is not an integer"},
        {"value_not_positive_integer", "Data value is not a positive integer"},
        {"value_not_negative_integer", "Data value is not a negative integer"},
        {"value_not_zero_or_positive_integer", "Data value is not zero or positive integer"},
        {"value_not_bool", "Data value is not boolean"},
        {"value_not_true_only", "Data value is not true (true-only value type)"},
        {"value_not_valid_date", "Data value is not a valid date"},
        {"value_not_valid_datetime", "Data value is not a valid date and time"},
        {"value_not_valid_letter", "Data value is not a valid letter"},
        {"value_not_valid_file_resource_uid", "Data value is not a valid file resource uid"},
        {"value_not_valid_organisation_unit_uid", "Data value is not a valid organisation unit uid"},
        {"comment_length_greater_than_max_length", "Comment length is greater than maximum length"},
        {"stored_by_length_greater_than_max_length", "Stored by length is greater than maximum length"},
    };
    for (size_t i = 0; i < sizeof t / sizeof t[0]; i++)
        if (!strcmp(t[i].key, key))
            return t[i].text;
    return key;
}

static bool is_numeric_type(enum value_type vt)
{
    return vt == VT_NUMBER || vt == VT_INTEGER || vt == VT_INTEGER_POSITIVE ||
           vt == VT_INTEGER_NEGATIVE || vt == VT_INTEGER_ZERO_OR_POSITIVE ||
           vt == VT_PERCENTAGE || vt == VT_UNIT_INTERVAL;
}

static bool is_zero(const char *v)
{
    if (!match_number(v))
        return false;
    for (; *v; v++)
        if (*v != '0' && *v != '-' && *v != '.')
            return false;
    return true;
}

static bool same_str(const char *a, const char *b)
{
    return (!a && !b) || (a && b && !strcmp(a, b));
}

/* ---- the import ---- */

struct ctx {
    struct emu *emu;
    const struct import_opts *o;
    struct dvs_in in;
    struct conflicts cs;
    struct import_totals t;
    enum id_scheme de_s, ou_s, coc_s, ds_s;
    enum import_strategy strategy;
    bool dry_run;
    const char *description;
    int ds; /* the body's data set, -1 if none */
};

static int lookup(struct ctx *c, enum md_kind kind, enum id_scheme scheme, const char *id)
{
    if (!id || faults_conflict_id(&c->emu->faults, id))
        return -1;
    return metadata_find(&c->emu->md, kind, scheme, id);
}

#define OBJ(kind, id) ((struct obj_ref){kind, id})
#define NOOBJ ((struct obj_ref){NULL, NULL})

/* Validates value i and applies it; a conflict rejects it (counted as ignored). */
/* The stored copies of a written value's texts; -1 when out of memory. */
static int store_texts(struct store *st, const char *value, const char *comment, const char *who_in,
                       const char **nv, const char **nc, const char **who)
{
    bool oom = false;
    *nv = store_text(st, value, &oom);
    *nc = store_text(st, comment, &oom);
    *who = store_who(st, who_in);
    return oom || !*who ? -1 : 0;
}

static int import_one(struct ctx *c, size_t i, int64_t now)
{
    struct emu *emu = c->emu;
    struct metadata *md = &emu->md;
    struct store *st = &emu->st;
    const struct dvs_in_value *in = &c->in.v[i];
    char msg[1024];
    const char *de_id = in->de, *pe_id = in->pe ? in->pe : c->in.period;
    const char *ou_id = in->ou ? in->ou : c->in.org_unit;
    const char *coc_id = in->coc && *in->coc ? in->coc : NULL;
    const char *aoc_id = in->aoc && *in->aoc ? in->aoc : (c->in.aoc && *c->in.aoc ? c->in.aoc : NULL);
    long idx = (long)i;

#define REJECT(code, prop, o1, o2)                                                    \
    do {                                                                              \
        c->t.ignored++;                                                               \
        return conflicts_add(&c->cs, idx, code, prop, msg, o1, o2);                   \
    } while (0)

    int de = lookup(c, MD_DE, c->de_s, de_id);
    if (de < 0) {
        snprintf(msg, sizeof msg, "Data element not found or not accessible: `%s`", de_id ? de_id : "null");
        REJECT("E7610", "dataElement", OBJ("dataElement", de_id), NOOBJ);
    }
    int pe = pe_id && !faults_conflict_id(&emu->faults, pe_id) ? store_period(st, pe_id) : -1;
    if (pe < 0) {
        snprintf(msg, sizeof msg, "Period not valid: `%s`", pe_id ? pe_id : "null");
        REJECT("E7611", "period", OBJ("period", pe_id), NOOBJ);
    }
    int ou = lookup(c, MD_OU, c->ou_s, ou_id);
    if (ou < 0) {
        snprintf(msg, sizeof msg, "Organisation unit not found or not accessible: `%s`", ou_id ? ou_id : "null");
        REJECT("E7612", "orgUnit", OBJ("organisationUnit", ou_id), NOOBJ);
    }
    int coc = md->default_coc;
    if (coc_id && (coc = lookup(c, MD_COC, c->coc_s, coc_id)) < 0) {
        snprintf(msg, sizeof msg, "Category option combo not found or not accessible for writing data: `%s`", coc_id);
        REJECT("E7613", "categoryOptionCombo", OBJ("categoryOptionCombo", coc_id), NOOBJ);
    }
    int aoc = md->default_coc;
    if (aoc_id && (aoc = lookup(c, MD_COC, c->coc_s, aoc_id)) < 0) {
        snprintf(msg, sizeof msg, "Attribute option combo not found or not accessible for writing data: `%s`", aoc_id);
        REJECT("E7615", "attributeOptionCombo", OBJ("categoryOptionCombo", aoc_id), NOOBJ);
    }
    const struct md_de *d = &md->de[de];
    const char *de_uid = d->id.uid;
    const char *value = in->value && *in->value ? in->value : NULL;
    const char *comment = in->comment && *in->comment ? in->comment : NULL;
    bool deletion = in->deleted || c->strategy == STRATEGY_DELETE;
    if (!value && !comment && !deletion) {
        snprintf(msg, sizeof msg, "Data value or comment not specified for data element: `%s`", de_uid);
        REJECT("E7618", "value", OBJ("dataElement", de_uid), NOOBJ);
    }
    char normal[8];
    if (value) {
        const char *problem = value_problem(value, d->vt);
        if (problem) {
            snprintf(msg, sizeof msg, "Value must match value type of data element `%s`: `%s`", de_uid, i18n(problem));
            REJECT("E7619", "value", OBJ("dataElement", de_uid), OBJ("value", problem));
        }
        if (d->vt == VT_BOOLEAN || d->vt == VT_TRUE_ONLY) {
            snprintf(normal, sizeof normal, "%s", bool_form(value) ? "true" : "false");
            value = normal;
        }
    }
    if (comment && strlen(comment) > MAX_COMMENT_LEN) {
        snprintf(msg, sizeof msg, "Invalid comment: %s", i18n("comment_length_greater_than_max_length"));
        REJECT("E7620", "comment", OBJ("value", "comment_length_greater_than_max_length"), NOOBJ);
    }
    if (c->o->strict_periods) {
        bool ok = false;
        for (int k = 0; k < d->n_ds && !ok; k++)
            ok = md->ds[d->ds[k]].pt == st->pe[pe].type;
        if (!ok) {
            snprintf(msg, sizeof msg, "Period type of period: `%s` not valid for data element: `%s`", st->pe_iso[pe], de_uid);
            REJECT("E7632", NULL, OBJ("period", st->pe_iso[pe]), OBJ("dataElement", de_uid));
        }
    }
    if (c->o->strict_data_elements && c->ds >= 0) {
        bool ok = false;
        for (int k = 0; k < d->n_ds && !ok; k++)
            ok = d->ds[k] == c->ds;
        if (!ok) {
            snprintf(msg, sizeof msg, "Data element: `%s` is not part of dataset: `%s`", de_uid, md->ds[c->ds].id.uid);
            REJECT("E7633", "dataElement", OBJ("dataElement", de_uid), OBJ("dataSet", md->ds[c->ds].id.uid));
        }
    }
    if (c->o->strict_cocs && md->coc[coc].cc != d->cc) {
        snprintf(msg, sizeof msg, "Category option combo: `%s` must be part of category combo of data element: `%s`",
                 md->coc[coc].id.uid, de_uid);
        REJECT("E7634", "categoryOptionCombo", OBJ("categoryOptionCombo", md->coc[coc].id.uid), OBJ("dataElement", de_uid));
    }
    if (c->o->strict_aocs) {
        bool ok = d->n_ds == 0 && aoc == md->default_coc;
        for (int k = 0; k < d->n_ds && !ok; k++)
            ok = md->ds[d->ds[k]].cc == md->coc[aoc].cc;
        if (!ok) {
            snprintf(msg, sizeof msg, "Attribute option combo: `%s` must be part of category combo of data sets of data element: `%s`",
                     md->coc[aoc].id.uid, de_uid);
            REJECT("E7635", "attributeOptionCombo", OBJ("categoryOptionCombo", md->coc[aoc].id.uid), OBJ("dataElement", de_uid));
        }
    }
    if (c->o->strict_org_units) {
        bool ok = false;
        for (int k = 0; k < d->n_ds && !ok; k++)
            ok = (md->ds[d->ds[k]].ou_bits[ou / 8] >> (ou % 8)) & 1;
        if (!ok) {
            snprintf(msg, sizeof msg, "Data element: `%s` must be assigned through data sets to organisation unit: `%s`",
                     de_uid, md->ou[ou].id.uid);
            REJECT("E7636", "orgUnit", OBJ("organisationUnit", md->ou[ou].id.uid), OBJ("dataElement", de_uid));
        }
    }
    /* A zero the data element does not store deletes an existing value and is dropped
     * otherwise (no conflict: DHIS2 skips it quietly). */
    bool zero_drop = value && !d->zero_significant && is_numeric_type(d->vt) && is_zero(value);
    const char *who_in = in->stored_by && *in->stored_by ? in->stored_by : c->o->user;
    if (strlen(who_in) > MAX_STORED_BY_LEN) {
        snprintf(msg, sizeof msg, "Invalid storedBy: %s", i18n("stored_by_length_greater_than_max_length"));
        REJECT("E7637", "storedBy", OBJ("value", "stored_by_length_greater_than_max_length"), NOOBJ);
    }
#undef REJECT

    struct dv_key key = {de, pe, ou, coc, aoc};
    int64_t found = store_find(st, &key);
    struct dv *cur = found >= 0 ? &st->v[found] : NULL;
    bool live = cur && !cur->deleted;

    if (live) {
        if (c->strategy == STRATEGY_CREATE) {
            c->t.ignored++;
            return 0;
        }
        if (deletion || zero_drop) {
            c->t.deleted++;
            if (!c->dry_run) {
                cur->deleted = true;
                cur->updated = now;
            }
            return 0;
        }
        bool followup = in->followup < 0 ? cur->followup : in->followup;
        if (same_str(cur->value, value) && same_str(cur->comment, comment) && followup == cur->followup) {
            c->t.ignored++;
            return 0;
        }
        if (c->o->skip_existing_check)
            c->t.imported++;
        else
            c->t.updated++;
        if (c->dry_run)
            return 0;
        const char *nv, *nc, *who;
        if (store_texts(st, value, comment, who_in, &nv, &nc, &who) != 0)
            return -1;
        cur->value = nv;
        cur->comment = nc;
        cur->followup = followup;
        cur->stored_by = who;
        cur->updated = now;
        return 0;
    }
    /* Absent, or soft-deleted (which a new value brings back). */
    if (c->strategy == STRATEGY_UPDATE || c->strategy == STRATEGY_DELETE || zero_drop) {
        c->t.ignored++;
        return 0;
    }
    c->t.imported++;
    if (c->dry_run)
        return 0;
    const char *nv, *nc, *who;
    if (store_texts(st, value, comment, who_in, &nv, &nc, &who) != 0)
        return -1;
    if (cur) {
        cur->value = nv;
        cur->comment = nc;
        cur->followup = in->followup > 0;
        cur->deleted = in->deleted;
        cur->stored_by = who;
        cur->created = cur->updated = now;
        return 0;
    }
    struct dv v = {de, pe, ou, coc, aoc, in->followup > 0, in->deleted, nv, nc, who, now, now};
    return store_add(st, &v);
}

/* Data-set level checks: a failure aborts the whole import with status ERROR. */
static bool abort_data_set(struct ctx *c)
{
    struct metadata *md = &c->emu->md;
    char msg[512];
    c->ds = -1;
    if (c->in.data_set && *c->in.data_set) {
        c->ds = metadata_find(md, MD_DS, c->ds_s, c->in.data_set);
        if (c->ds < 0) {
            snprintf(msg, sizeof msg, "Data set not found or not accessible: `%s`", c->in.data_set);
            conflicts_add(&c->cs, -1, "E7600", "dataSet", msg, OBJ("dataSet", c->in.data_set), NOOBJ);
            return true;
        }
    }
    if (c->ds < 0 && c->o->strict_data_elements) {
        conflicts_add(&c->cs, -1, "E7602", NULL, "A valid dataset is required",
                      OBJ(NULL, "DATA_IMPORT_STRICT_DATA_ELEMENTS"), NOOBJ);
        return true;
    }
    if (c->in.org_unit && *c->in.org_unit && lookup(c, MD_OU, c->ou_s, c->in.org_unit) < 0) {
        snprintf(msg, sizeof msg, "Org unit not found or not accessible: `%s`", c->in.org_unit);
        conflicts_add(&c->cs, -1, "E7603", "orgUnit", msg, OBJ("organisationUnit", c->in.org_unit), NOOBJ);
        return true;
    }
    if (c->in.aoc && *c->in.aoc && lookup(c, MD_COC, c->coc_s, c->in.aoc) < 0) {
        snprintf(msg, sizeof msg, "Attribute option combo not found or not accessible: `%s`", c->in.aoc);
        conflicts_add(&c->cs, -1, "E7604", "attributeOptionCombo", msg, OBJ("categoryOptionCombo", c->in.aoc), NOOBJ);
        return true;
    }
    return false;
}

static void write_scheme(struct buf *b, bool *first, const char *name, int scheme)
{
    static const char *names[] = {"UID", "CODE", "NAME"};
    if (scheme < 0)
        return;
    buf_printf(b, "%s\"%s\":{\"type\":\"%s\"}", *first ? "" : ",", name, names[scheme]);
    *first = false;
}

static void write_options(struct buf *b, const struct ctx *c)
{
    const struct import_opts *o = c->o;
    bool first = true;
#define B(x) ((x) ? "true" : "false")
    buf_puts(b, "\"importOptions\":{\"idSchemes\":{");
    write_scheme(b, &first, "dataElementIdScheme", c->in.de_scheme >= 0 ? c->in.de_scheme : o->de_scheme);
    write_scheme(b, &first, "orgUnitIdScheme", c->in.ou_scheme >= 0 ? c->in.ou_scheme : o->ou_scheme);
    write_scheme(b, &first, "categoryOptionComboIdScheme", o->coc_scheme);
    write_scheme(b, &first, "dataSetIdScheme", c->in.ds_scheme >= 0 ? c->in.ds_scheme : o->ds_scheme);
    write_scheme(b, &first, "idScheme", c->in.id_scheme >= 0 ? c->in.id_scheme : o->id_scheme);
    buf_printf(b, "},\"dryRun\":%s,", B(c->dry_run));
    if (o->preheat_cache_set)
        buf_printf(b, "\"preheatCache\":%s,", B(o->preheat_cache));
    buf_printf(b,
               "\"async\":%s,\"importStrategy\":\"%s\",\"mergeMode\":\"REPLACE\",\"reportMode\":\"FULL\","
               "\"skipExistingCheck\":%s,\"sharing\":false,\"skipNotifications\":false,\"skipAudit\":%s,"
               "\"datasetAllowsPeriods\":false,\"strictPeriods\":%s,\"strictDataElements\":%s,"
               "\"strictCategoryOptionCombos\":%s,\"strictAttributeOptionCombos\":%s,"
               "\"strictOrganisationUnits\":%s,\"strictDataSetApproval\":false,"
               "\"strictDataSetLocking\":false,\"strictDataSetInputPeriods\":false,"
               "\"requireCategoryOptionCombo\":%s,\"requireAttributeOptionCombo\":%s,"
               "\"skipPatternValidation\":false,\"ignoreEmptyCollection\":false,\"force\":%s,"
               "\"firstRowIsHeader\":%s,\"skipLastUpdated\":false,\"mergeDataValues\":false,"
               "\"skipCache\":false}",
               B(o->async), strategy_names[c->strategy], B(o->skip_existing_check), B(o->skip_audit),
               B(o->strict_periods), B(o->strict_data_elements), B(o->strict_cocs), B(o->strict_aocs),
               B(o->strict_org_units), B(o->require_coc), B(o->require_aoc), B(o->force),
               B(o->first_row_is_header));
#undef B
}

static const char *status_name(enum import_status s)
{
    return s == IMPORT_SUCCESS ? "SUCCESS" : s == IMPORT_WARNING ? "WARNING" : "ERROR";
}

static int cmp_long(const void *a, const void *b)
{
    long x = *(const long *)a, y = *(const long *)b;
    return (x > y) - (x < y);
}

static char *write_summary(struct ctx *c, bool bare)
{
    struct buf b = {0};
    buf_printf(&b, "{\"responseType\":\"ImportSummary\",\"status\":\"%s\",", status_name(c->t.status));
    write_options(&b, c);
    buf_puts(&b, ",\"description\":");
    buf_json_str(&b, c->description);
    buf_printf(&b, ",\"importCount\":{\"imported\":%ld,\"updated\":%ld,\"ignored\":%ld,\"deleted\":%ld},\"conflicts\":[",
               c->t.imported, c->t.updated, c->t.ignored, c->t.deleted);
    for (size_t i = 0; i < c->cs.n; i++) {
        const struct conflict *k = &c->cs.c[i];
        buf_puts(&b, i ? ",{\"object\":" : "{\"object\":");
        buf_json_str(&b, k->object);
        if (bare) {
            buf_puts(&b, ",\"value\":");
            buf_json_str(&b, k->value);
            buf_putc(&b, '}');
            continue;
        }
        buf_puts(&b, ",\"objects\":{");
        for (int o = 0; o < k->n_objects; o++) {
            if (o)
                buf_putc(&b, ',');
            buf_key(&b, k->objects[o].kind);
            buf_json_str(&b, k->objects[o].id);
        }
        buf_puts(&b, "},\"value\":");
        buf_json_str(&b, k->value);
        buf_puts(&b, ",\"errorCode\":");
        buf_json_str(&b, k->code);
        if (k->property) {
            buf_puts(&b, ",\"property\":");
            buf_json_str(&b, k->property);
        }
        buf_puts(&b, ",\"indexes\":[");
        for (size_t x = 0; x < k->n_idx; x++)
            buf_printf(&b, x ? ",%d" : "%d", k->indexes[x]);
        buf_puts(&b, "]}");
    }
    buf_putc(&b, ']');
    if (!bare) {
        if (c->cs.n_rejected)
            qsort(c->cs.rejected, c->cs.n_rejected, sizeof *c->cs.rejected, cmp_long);
        buf_puts(&b, ",\"rejectedIndexes\":[");
        for (size_t x = 0; x < c->cs.n_rejected; x++)
            buf_printf(&b, x ? ",%ld" : "%ld", c->cs.rejected[x]);
        buf_putc(&b, ']');
    }
    buf_puts(&b, ",\"dataSetComplete\":");
    buf_json_str(&b, c->ds >= 0 && c->in.complete_date && *c->in.complete_date ? c->in.complete_date : "false");
    buf_putc(&b, '}');
    return buf_take(&b);
}

static enum id_scheme pick(int body, int url, int body_all, int url_all)
{
    if (body >= 0) return (enum id_scheme)body;
    if (url >= 0) return (enum id_scheme)url;
    if (body_all >= 0) return (enum id_scheme)body_all;
    if (url_all >= 0) return (enum id_scheme)url_all;
    return SCHEME_UID;
}

char *import_execute(struct emu *emu, const char *body, size_t len, bool csv,
                     const struct import_opts *o, int api_version, struct import_totals *t)
{
    struct ctx c = {0};
    c.emu = emu;
    c.o = o;
    c.ds = -1;
    c.in.id_scheme = c.in.de_scheme = c.in.ou_scheme = c.in.ds_scheme = -1;
    c.in.dry_run = -1;
    c.strategy = o->strategy;
    c.dry_run = o->dry_run;
    c.description = "Import process completed successfully";
    char msg[512] = "";
    char *plain = NULL, *out = NULL;
    bool failed = false;
    bool bare = api_version && api_version <= 37;
    if (!bare && emu->cfg.major == 2 && emu->cfg.minor <= 37)
        bare = true;

    if (IS_GZIP(body, len)) {
        if (!(plain = gunzip(body, len, &len))) {
            snprintf(msg, sizeof msg, "The import process failed: the gzip body cannot be read");
            failed = true;
        }
        body = plain;
    }
    if (!failed) {
        /* A body that does not look like JSON is read as CSV, whatever the URL said. */
        const char *p = body;
        while (p < body + len && (*p == ' ' || *p == '\n' || *p == '\r' || *p == '\t'))
            p++;
        if (p < body + len && *p == '<') {
            snprintf(msg, sizeof msg, "The import process failed: XML bodies are not supported by the emulator");
            failed = true;
        } else if (csv || (p < body + len && *p != '{' && *p != '[')) {
            failed = parse_csv(&c.in, body, len, o->first_row_is_header, msg, sizeof msg) != 0;
        } else {
            char why[256];
            if (dvs_json_read(&c.in, body, len, why, sizeof why)) {
                snprintf(msg, sizeof msg, "The import process failed: %s", why);
                failed = true;
            }
        }
    }
    if (c.in.dry_run >= 0)
        c.dry_run = c.in.dry_run;
    if (c.in.strategy_name && strategy_from_name(c.in.strategy_name) >= 0)
        c.strategy = (enum import_strategy)strategy_from_name(c.in.strategy_name);
    c.de_s = pick(c.in.de_scheme, o->de_scheme, c.in.id_scheme, o->id_scheme);
    c.ou_s = pick(c.in.ou_scheme, o->ou_scheme, c.in.id_scheme, o->id_scheme);
    c.coc_s = pick(-1, o->coc_scheme, c.in.id_scheme, o->id_scheme);
    c.ds_s = pick(c.in.ds_scheme, o->ds_scheme, c.in.id_scheme, o->id_scheme);

    if (failed) {
        c.t.status = IMPORT_ERROR;
        c.description = msg;
    } else {
        int64_t now = now_ms();
        pthread_rwlock_wrlock(&emu->st.lock);
        if (!c.dry_run && store_reserve(&emu->st, c.in.n)) {
            c.t.status = IMPORT_ERROR;
            c.description = "The import process failed: out of memory";
        } else if (abort_data_set(&c)) {
            c.t.status = IMPORT_ERROR;
            c.description = "Import process was aborted";
        } else {
            for (size_t i = 0; i < c.in.n; i++)
                if (import_one(&c, i, now)) {
                    c.t.status = IMPORT_ERROR;
                    c.description = "The import process failed: out of memory";
                    break;
                }
        }
        pthread_rwlock_unlock(&emu->st.lock);
        if (c.t.status != IMPORT_ERROR)
            c.t.status = c.cs.n ? IMPORT_WARNING : IMPORT_SUCCESS;
    }
    c.t.conflicts = (long)c.cs.n;
    atomic_fetch_add(&emu->imports, 1);
    /* conflicts may point at metadata ids, which a metadata import can replace meanwhile */
    pthread_rwlock_rdlock(&emu->st.lock);
    out = write_summary(&c, bare);
    pthread_rwlock_unlock(&emu->st.lock);
    *t = c.t;
    free(plain);
    free(c.in.v);
    arena_free(&c.in.arena);
    conflicts_free(&c.cs);
    return out;
}

int api_dvs_post(struct request *r)
{
    struct emu *emu = r->emu;
    struct import_opts o;
    char msg[512];
    if (import_opts_parse(r, &o, msg, sizeof msg))
        return http_webmessage(r, 400, "ERROR", msg, NULL);
    const char *ct = req_header(r, "Content-Type");
    bool csv = r->csv || (ct && (strstr(ct, "csv") != NULL));
    if (o.async) {
        char *body = malloc(r->body_len + 1);
        if (!body)
            return http_webmessage(r, 500, "ERROR", "Out of memory", NULL);
        if (r->body_len)
            memcpy(body, r->body, r->body_len);
        body[r->body_len] = '\0';
        return tasks_start(r, body, r->body_len, csv, &o, NULL);
    }
    struct import_totals t;
    char *summary = import_execute(emu, r->body ? r->body : "", r->body_len, csv, &o, r->api_version, &t);
    if (!summary)
        return http_webmessage(r, 500, "ERROR", "Out of memory", NULL);
    bool bare = (r->api_version && r->api_version <= 37) || (emu->cfg.major == 2 && emu->cfg.minor <= 37);
    if (bare)
        return http_send(r, 200, "application/json;charset=UTF-8", summary, strlen(summary));
    bool v43 = emu->cfg.major > 2 || emu->cfg.minor >= 43;
    int status = 200;
    const char *wm_status = "OK", *message = "Import was successful.";
    if (t.status == IMPORT_ERROR) {
        status = 409;
        wm_status = "ERROR";
        message = "An error occurred, please check import summary.";
    } else if (t.status == IMPORT_WARNING) {
        status = v43 ? 200 : 409;
        wm_status = "WARNING";
        message = v43 ? "Import completed with warnings, please check import summary."
                      : "One more conflicts encountered, please check import summary.";
    }
    struct buf b = {0};
    webmessage_head(&b, status, wm_status, message);
    buf_puts(&b, ",\"response\":");
    buf_puts(&b, summary);
    buf_putc(&b, '}');
    free(summary);
    size_t len = b.len;
    char *text = buf_take(&b);
    if (!text)
        return http_webmessage(r, 500, "ERROR", "Out of memory", NULL);
    return http_send(r, status, "application/json;charset=UTF-8", text, len);
}
