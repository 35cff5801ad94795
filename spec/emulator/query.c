/* query.c — GET /api/dataValueSets: checks the selection the way DHIS2 does (E2001-E2009),
 * collects the matching value indexes under the read lock (org unit subtree by DFS range, then
 * data element, period, combo and lastUpdated masks), and streams the JSON out in chunks,
 * taking the read lock again for each chunk, so a million values never sit in one buffer and an
 * import can run between two chunks. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "emu.h"
#include "http.h"

enum { CHUNK = 256 * 1024 };

enum id_scheme scheme_from_name(const char *s, enum id_scheme dflt)
{
    if (!s || !*s)
        return dflt;
    if (!strcasecmp(s, "CODE"))
        return SCHEME_CODE;
    if (!strcasecmp(s, "NAME"))
        return SCHEME_NAME;
    return SCHEME_UID; /* UID, ID, and ATTRIBUTE:x which the emulator does not model */
}

/* Calls fn for each value of a repeatable parameter, splitting comma-separated lists as Spring
 * does when it binds a Set<String>. */
static int each_value(const struct request *r, const char *key, int (*fn)(void *, const char *, size_t),
                      void *ctx)
{
    for (int i = 0; i < r->n_params; i++) {
        if (strcmp(r->params[i].key, key) || !r->params[i].value)
            continue;
        const char *p = r->params[i].value;
        while (*p) {
            const char *end = strchr(p, ',');
            size_t n = end ? (size_t)(end - p) : strlen(p);
            if (n && fn(ctx, p, n))
                return -1;
            p = end ? end + 1 : p + n;
        }
    }
    return 0;
}

struct idset {
    const struct metadata *md;
    enum md_kind kind;
    enum id_scheme scheme;
    int *ids;
    int n;
    int asked; /* how many were named, known or not */
};

static int add_id(void *ctx, const char *s, size_t n)
{
    struct idset *set = ctx;
    char id[256];
    snprintf(id, sizeof id, "%.*s", (int)n, s);
    set->asked++;
    int idx = metadata_find(set->md, set->kind, set->scheme, id);
    if (idx < 0 && set->scheme != SCHEME_UID)
        idx = metadata_find(set->md, set->kind, SCHEME_UID, id);
    if (idx < 0)
        return 0; /* unknown ids are dropped silently */
    int *grown = realloc(set->ids, (size_t)(set->n + 1) * sizeof *grown);
    if (!grown)
        return -1;
    set->ids = grown;
    set->ids[set->n++] = idx;
    return 0;
}

struct strlist {
    char **s;
    int n;
};

static int add_str(void *ctx, const char *s, size_t n)
{
    struct strlist *l = ctx;
    char **grown = realloc(l->s, (size_t)(l->n + 1) * sizeof *grown);
    if (!grown)
        return -1;
    l->s = grown;
    if (!(l->s[l->n] = strndup(s, n)))
        return -1;
    l->n++;
    return 0;
}

static void strlist_free(struct strlist *l)
{
    for (int i = 0; i < l->n; i++)
        free(l->s[i]);
    free(l->s);
}

/* "10d", "2h", "30m", "45s" (DHIS2 DateUtils.getDuration) -> ms; -1 when invalid. */
static int64_t duration_ms(const char *s)
{
    char *end;
    long n = strtol(s, &end, 10);
    if (end == s || n < 0 || end[0] == '\0' || end[1] != '\0')
        return -1;
    switch (*end) {
    case 'd': return n * 86400000LL;
    case 'h': return n * 3600000LL;
    case 'm': return n * 60000LL;
    case 's': return n * 1000LL;
    default: return -1;
    }
}

struct stream {
    struct emu *emu;
    uint32_t *ids;
    size_t n, next;
    struct dv_format fmt;
    bool csv;
    struct buf out;
    size_t out_pos;
    bool footer_done;
    uint64_t drop_after; /* 0 = never */
};

static ssize_t stream_read(void *cls, uint64_t pos, char *dst, size_t max)
{
    struct stream *s = cls;
    if (s->drop_after && pos >= s->drop_after)
        return MHD_CONTENT_READER_END_WITH_ERROR;
    if (s->out_pos == s->out.len) {
        s->out.len = s->out_pos = 0;
        if (s->next < s->n) {
            struct store *st = &s->emu->st;
            pthread_rwlock_rdlock(&st->lock);
            while (s->next < s->n && s->out.len < CHUNK) {
                const struct dv *v = &st->v[s->ids[s->next]];
                if (s->csv) {
                    store_write_value_csv(&s->out, st, &s->emu->md, v, &s->fmt);
                } else {
                    if (s->next)
                        buf_putc(&s->out, ',');
                    store_write_value(&s->out, st, &s->emu->md, v, &s->fmt);
                }
                s->next++;
            }
            pthread_rwlock_unlock(&st->lock);
        } else if (!s->footer_done) {
            if (!s->csv)
                buf_put(&s->out, "]}", 2);
            s->footer_done = true;
        } else {
            return MHD_CONTENT_READER_END_OF_STREAM;
        }
        if (s->out.oom)
            return MHD_CONTENT_READER_END_WITH_ERROR;
    }
    size_t n = s->out.len - s->out_pos;
    if (n > max)
        n = max;
    if (s->drop_after && pos + n > s->drop_after)
        n = (size_t)(s->drop_after - pos);
    memcpy(dst, s->out.data + s->out_pos, n);
    s->out_pos += n;
    return (ssize_t)n;
}

static void stream_free(void *cls)
{
    struct stream *s = cls;
    free(s->ids);
    buf_free(&s->out);
    free(s);
}

static int conflict(struct request *r, const char *code, const char *msg)
{
    return http_webmessage(r, 409, "ERROR", msg, code);
}

static int dvs_get_locked(struct request *r);

/* The selection is resolved under the read lock: a metadata import rebuilds the indexes it
 * reads. The chunks that stream the answer take the lock again, each on its own. */
int api_dvs_get(struct request *r)
{
    pthread_rwlock_rdlock(&r->emu->st.lock);
    int rc = dvs_get_locked(r);
    pthread_rwlock_unlock(&r->emu->st.lock);
    return rc;
}

static int dvs_get_locked(struct request *r)
{
    struct emu *emu = r->emu;
    struct metadata *md = &emu->md;
    struct store *st = &emu->st;
    int rc;
    enum id_scheme in_scheme = scheme_from_name(req_param(r, "inputIdScheme"), SCHEME_UID);
    struct idset ds = {md, MD_DS, scheme_from_name(req_param(r, "inputDataSetIdScheme"), in_scheme), NULL, 0, 0};
    struct idset de = {md, MD_DE, scheme_from_name(req_param(r, "inputDataElementIdScheme"), in_scheme), NULL, 0, 0};
    struct idset deg = {md, MD_DEG, in_scheme, NULL, 0, 0};
    struct idset ou = {md, MD_OU, scheme_from_name(req_param(r, "inputOrgUnitIdScheme"), in_scheme), NULL, 0, 0};
    struct idset aoc = {md, MD_COC, in_scheme, NULL, 0, 0};
    struct strlist pe = {0}, oug = {0};
    struct stream *s = NULL;
    uint8_t *de_mask = NULL, *ou_seen = NULL;
    int8_t *pe_ok = NULL;
    char msg[512];

    if (each_value(r, "dataSet", add_id, &ds) || each_value(r, "dataElement", add_id, &de) ||
        each_value(r, "dataElementGroup", add_id, &deg) || each_value(r, "orgUnit", add_id, &ou) ||
        each_value(r, "attributeOptionCombo", add_id, &aoc) || each_value(r, "period", add_str, &pe) ||
        each_value(r, "orgUnitGroup", add_str, &oug))
        goto oom;

    const char *start = req_param(r, "startDate"), *end = req_param(r, "endDate");
    const char *lu = req_param(r, "lastUpdated"), *lud = req_param(r, "lastUpdatedDuration");
    const char *limit_s = req_param(r, "limit");
    bool children = req_flag(r, "children", false);
    int32_t start_day = 0, end_day = 0;
    bool has_dates = start && end && *start && *end;
    if (has_dates && (date_parse(start, &start_day) || date_parse(end, &end_day))) {
        snprintf(msg, sizeof msg, "Invalid date: %s", date_parse(start, &start_day) ? start : end);
        rc = http_webmessage(r, 400, "ERROR", msg, NULL);
        goto out;
    }
    int64_t since = INT64_MIN;
    bool has_lu = lu && *lu, has_lud = lud && *lud;
    if (has_lu && timestamp_parse(lu, &since)) {
        snprintf(msg, sizeof msg, "Invalid date: %s", lu);
        rc = http_webmessage(r, 400, "ERROR", msg, NULL);
        goto out;
    }
    /* The checks and their order follow DHIS2's DataValueSetService.validate. */
    if (!ds.n && !de.n && !deg.n) {
        rc = conflict(r, "E2001", "At least one data element, data set or data element group must be specified");
        goto out;
    }
    if (!pe.n && !has_dates && !has_lu && !has_lud) {
        rc = conflict(r, "E2002", "At least one period, start/end dates, last updated or last updated duration must be specified");
        goto out;
    }
    if (pe.n && has_dates) {
        rc = conflict(r, "E2003", "Both periods and start/end date cannot be specified");
        goto out;
    }
    if (has_dates && start_day > end_day) {
        rc = conflict(r, "E2004", "Start date must be before end date");
        goto out;
    }
    if (has_lud) {
        int64_t d = duration_ms(lud);
        if (d < 0) {
            snprintf(msg, sizeof msg, "Duration is not valid: `%s`", lud);
            rc = conflict(r, "E2005", msg);
            goto out;
        }
        int64_t from = now_ms() - d;
        if (from > since)
            since = from;
    }
    if (!ou.n && !oug.n) {
        rc = conflict(r, "E2006", "At least one organisation unit or organisation unit group must be specified");
        goto out;
    }
    if (children && oug.n) {
        rc = conflict(r, "E2007", "Organisation unit children cannot be included for organisation unit groups");
        goto out;
    }
    if (children && !ou.n) {
        rc = conflict(r, "E2008", "At least one organisation unit must be specified when children are included");
        goto out;
    }
    long limit = -1;
    if (limit_s && *limit_s) {
        limit = strtol(limit_s, NULL, 10);
        if (limit < 0) {
            snprintf(msg, sizeof msg, "Limit cannot be less than zero: `%s`", limit_s);
            rc = conflict(r, "E2009", msg);
            goto out;
        }
    }
    bool include_deleted = req_flag(r, "includeDeleted", false);

    /* org unit groups: their members, as if named one by one */
    struct md_collection *groups = metadata_collection(md, "organisationUnitGroups");
    for (int i = 0; groups && i < oug.n; i++) {
        int g = strmap_get(&groups->by_uid, oug.s[i]);
        const cJSON *members = g >= 0 ? cJSON_GetObjectItemCaseSensitive(groups->at[g],
                                                                         "organisationUnits")
                                      : NULL;
        const cJSON *it;
        cJSON_ArrayForEach(it, members) {
            const cJSON *uid = cJSON_GetObjectItemCaseSensitive(it, "id");
            if (cJSON_IsString(uid) && add_id(&ou, uid->valuestring, strlen(uid->valuestring)))
                goto oom;
        }
    }

    de_mask = calloc((size_t)md->n_de + 1, 1);
    ou_seen = calloc((size_t)md->n_ou + 1, 1);
    s = calloc(1, sizeof *s);
    if (!de_mask || !ou_seen || !s)
        goto oom;
    for (int i = 0; i < ds.n; i++)
        for (int k = 0; k < md->ds[ds.ids[i]].n_des; k++)
            de_mask[md->ds[ds.ids[i]].des[k]] = 1;
    for (int i = 0; i < deg.n; i++)
        for (int k = 0; k < md->deg[deg.ids[i]].n_des; k++)
            de_mask[md->deg[deg.ids[i]].des[k]] = 1;
    for (int i = 0; i < de.n; i++)
        de_mask[de.ids[i]] = 1;

    enum id_scheme out_scheme = scheme_from_name(req_param(r, "idScheme"), SCHEME_UID);
    s->emu = emu;
    s->fmt.de = scheme_from_name(req_param(r, "dataElementIdScheme"), out_scheme);
    s->fmt.ou = scheme_from_name(req_param(r, "orgUnitIdScheme"), out_scheme);
    s->fmt.coc = scheme_from_name(req_param(r, "categoryOptionComboIdScheme"), out_scheme);
    s->fmt.aoc = scheme_from_name(req_param(r, "attributeOptionComboIdScheme"), s->fmt.coc);
    /* 2.43 writes a single (childless) org unit once, at the root. */
    bool ou_at_root = (emu->cfg.major > 2 || emu->cfg.minor >= 43) && ou.n == 1 && !children && !oug.n;
    s->fmt.with_ou = !ou_at_root;

    pe_ok = calloc((size_t)st->n_pe + 1, 1);
    if (!pe_ok)
        goto oom;
    if (pe.n) {
        for (int i = 0; i < pe.n; i++) {
            int idx = store_period_find(st, pe.s[i]);
            struct period p;
            char canon[PERIOD_ISO_MAX];
            if (idx < 0 && period_parse(pe.s[i], &p) == 0 && period_format(&p, canon, sizeof canon) > 0)
                idx = store_period_find(st, canon);
            if (idx >= 0)
                pe_ok[idx] = 1;
        }
    } else {
        for (int i = 0; i < st->n_pe; i++)
            pe_ok[i] = !has_dates || period_within(&st->pe[i], start_day, end_day);
    }
    size_t cap = 0;
    for (int i = 0; i < ou.n; i++) {
        const struct md_ou *o = &md->ou[ou.ids[i]];
        int first = o->pre, last = children ? o->last : o->pre;
        for (int p = first; p <= last; p++) {
            int u = md->ou_by_pre[p];
            if (ou_seen[u])
                continue;
            ou_seen[u] = 1;
            const struct ou_list *l = &st->by_ou[u];
            for (uint32_t k = 0; k < l->n; k++) {
                const struct dv *v = &st->v[l->ids[k]];
                if (!de_mask[v->de] || !pe_ok[v->pe] || v->updated < since ||
                    (v->deleted && !include_deleted))
                    continue;
                if (aoc.n) {
                    bool hit = false;
                    for (int a = 0; a < aoc.n && !hit; a++)
                        hit = aoc.ids[a] == v->aoc;
                    if (!hit)
                        continue;
                }
                if (limit >= 0 && s->n >= (size_t)limit)
                    break;
                if (s->n == cap) {
                    cap = cap ? cap * 2 : 1024;
                    uint32_t *grown = realloc(s->ids, cap * sizeof *grown);
                    if (!grown)
                        goto oom;
                    s->ids = grown;
                }
                s->ids[s->n++] = l->ids[k];
            }
        }
    }

    const char *accept = req_header(r, "Accept");
    s->csv = r->csv || (accept && strstr(accept, "csv") && !strstr(accept, "json"));
    if (s->csv) {
        s->fmt.with_ou = true;
        buf_puts(&s->out, "dataelement,period,orgunit,categoryoptioncombo,attributeoptioncombo,value,"
                          "storedby,lastupdated,comment,followup,deleted\n");
        goto respond;
    }
    /* The header DHIS2 adds when exactly one data set, period and org unit were asked for. */
    buf_putc(&s->out, '{');
    bool single = ds.n == 1 && pe.n == 1 && ou.n == 1 && !de.n && !deg.n && !oug.n;
    if (single) {
        buf_puts(&s->out, "\"dataSet\":");
        buf_json_str(&s->out, metadata_id(&md->ds[ds.ids[0]].id, out_scheme));
        struct period p;
        char canon[PERIOD_ISO_MAX];
        buf_puts(&s->out, ",\"period\":");
        buf_json_str(&s->out, period_parse(pe.s[0], &p) == 0 && period_format(&p, canon, sizeof canon) > 0
                                  ? canon : pe.s[0]);
        buf_putc(&s->out, ',');
    }
    if (single || ou_at_root) {
        buf_puts(&s->out, "\"orgUnit\":");
        buf_json_str(&s->out, metadata_id(&md->ou[ou.ids[0]].id, s->fmt.ou));
        buf_putc(&s->out, ',');
    }
    buf_puts(&s->out, "\"dataValues\":[");
respond:
    if (s->out.oom)
        goto oom;
    if (r->fault_drop)
        s->drop_after = (s->n * 150 + s->out.len) / 2 + 1;
    bool s_csv = s->csv;
    struct MHD_Response *resp =
        MHD_create_response_from_callback(MHD_SIZE_UNKNOWN, 64 * 1024, stream_read, s, stream_free);
    if (!resp)
        goto oom;
    s = NULL;
    MHD_add_response_header(resp, "Content-Type", s_csv ? "application/csv;charset=UTF-8"
                                                        : "application/json;charset=UTF-8");
    rc = http_queue(r, 200, resp);
    goto out;
oom:
    rc = http_webmessage(r, 500, "ERROR", "Out of memory", NULL);
out:
    if (s)
        stream_free(s);
    free(de_mask);
    free(ou_seen);
    free(pe_ok);
    free(ds.ids);
    free(de.ids);
    free(deg.ids);
    free(ou.ids);
    free(aoc.ids);
    strlist_free(&pe);
    strlist_free(&oug);
    return rc;
}
