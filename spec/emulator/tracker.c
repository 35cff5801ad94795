/* tracker.c — the tracker store's primitives (uid chunks, objects, values, texts), the program
 * metadata index built from the metadata collections, server-local time, and the digest route
 * that compares two emulators without paging through their events. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "http.h"
#include "tracker.h"

const char *const tk_type_names[TK_TYPES] = {"TRACKED_ENTITY", "ENROLLMENT", "EVENT"};
const char *const tk_enr_status_names[ENR_STATUSES] = {"ACTIVE", "COMPLETED", "CANCELLED"};
const char *const tk_ev_status_names[EV_STATUSES] = {"ACTIVE", "COMPLETED", "VISITED",
                                                     "SCHEDULE", "OVERDUE", "SKIPPED"};

/* ---- store primitives ---- */

const char *tk_uid(const struct tk_uids *u, int32_t i)
{
    return u->chunks[i / TK_UID_CHUNK][i % TK_UID_CHUNK];
}

int32_t tk_find(const struct tk_store *s, enum tk_type t, const char *uid)
{
    return uid ? strmap_get(&s->uids[t].map, uid) : -1;
}

static int32_t uid_add(struct tk_uids *u, const char *uid)
{
    if (u->n == u->n_chunks * TK_UID_CHUNK) {
        char(**chunks)[12] = realloc(u->chunks, (u->n_chunks + 1) * sizeof *chunks);
        if (!chunks)
            return -1;
        u->chunks = chunks;
        if (!(chunks[u->n_chunks] = malloc(TK_UID_CHUNK * 12)))
            return -1;
        u->n_chunks++;
    }
    int32_t i = (int32_t)u->n;
    char *slot = u->chunks[i / TK_UID_CHUNK][i % TK_UID_CHUNK];
    snprintf(slot, 12, "%s", uid);
    if (strmap_put(&u->map, slot, i))
        return -1;
    u->n++;
    return i;
}

/* Grows an array of objects by one zeroed element; the new count's index or -1. */
static int grow(void **arr, size_t *n, size_t *cap, size_t size)
{
    if (*n == *cap) {
        size_t c = *cap ? *cap * 2 : 1024;
        void *g = realloc(*arr, c * size);
        if (!g)
            return -1;
        *arr = g;
        *cap = c;
    }
    memset((char *)*arr + *n * size, 0, size);
    (*n)++;
    return 0;
}

int32_t tk_add(struct tk_store *s, enum tk_type t, const char *uid)
{
    int rc;
    switch (t) {
    case TK_TE:
        rc = grow((void **)&s->te, &s->n_te, &s->cap_te, sizeof *s->te);
        break;
    case TK_ENR:
        rc = grow((void **)&s->enr, &s->n_enr, &s->cap_enr, sizeof *s->enr);
        break;
    default:
        rc = grow((void **)&s->ev, &s->n_ev, &s->cap_ev, sizeof *s->ev);
    }
    if (rc)
        return -1;
    int32_t i = uid_add(&s->uids[t], uid);
    if (i < 0) {
        /* the object stays counted but unnamed: undo it */
        if (t == TK_TE)
            s->n_te--;
        else if (t == TK_ENR)
            s->n_enr--;
        else
            s->n_ev--;
    }
    return i;
}

int64_t tk_values_reserve(struct tk_store *s, size_t n)
{
    if (s->n_val + n > s->cap_val) {
        size_t c = s->cap_val ? s->cap_val : 4096;
        while (c < s->n_val + n)
            c *= 2;
        struct tk_value *g = realloc(s->val, c * sizeof *g);
        if (!g)
            return -1;
        s->val = g;
        s->cap_val = c;
    }
    int64_t first = (int64_t)s->n_val;
    s->n_val += n;
    return first;
}

const char *tk_text(struct tk_store *s, const char *t)
{
    return t ? arena_strdup(&s->text, t) : NULL;
}

const char *tk_who(struct tk_store *s, const char *name)
{
    if (!name)
        return NULL;
    int32_t i = strmap_get(&s->who_map, name);
    if (i >= 0)
        return s->who[i];
    if (s->n_who == s->cap_who) {
        size_t c = s->cap_who ? s->cap_who * 2 : 16;
        const char **g = realloc(s->who, c * sizeof *g);
        if (!g)
            return NULL;
        s->who = g;
        s->cap_who = c;
    }
    const char *copy = arena_strdup(&s->text, name);
    if (!copy || strmap_put(&s->who_map, copy, (int32_t)s->n_who))
        return NULL;
    s->who[s->n_who++] = copy;
    return copy;
}

int tk_status_find(const char *const *names, int n, const char *s)
{
    for (int i = 0; s && i < n; i++)
        if (!strcmp(names[i], s))
            return i;
    return -1;
}

bool tk_ou_assigned(const struct tk_program *p, int ou)
{
    return !p->ou_bits || ((p->ou_bits[ou / 8] >> (ou % 8)) & 1);
}

int tk_send(struct request *r, struct buf *b, const char *location)
{
    size_t n = b->len;
    char *text = buf_take(b);
    if (!text)
        return http_webmessage(r, 500, "ERROR", "Out of memory", NULL);
    return http_send_with(r, 200, "application/json;charset=UTF-8", text, n, location);
}

/* ---- time: DHIS2 writes tracker timestamps in the server's zone, without an offset ---- */

int64_t tk_local_offset(int64_t utc_ms)
{
    time_t t = (time_t)(utc_ms / 1000);
    struct tm tm;
    if (!localtime_r(&t, &tm))
        return 0;
    return (int64_t)tm.tm_gmtoff * 1000;
}

void tk_time_write(struct buf *b, int64_t ms)
{
    buf_putc(b, '"');
    buf_timestamp(b, ms + tk_local_offset(ms), false);
    buf_putc(b, '"');
}

int tk_time_parse(const char *s, int64_t *ms)
{
    if (!s || timestamp_parse(s, ms))
        return -1;
    if (strlen(s) > 10 && !strpbrk(s + 10, "Z+") && !strchr(s + 10, '-'))
        *ms -= tk_local_offset(*ms - tk_local_offset(*ms));
    return 0;
}

/* ---- the program metadata index, read from the metadata collections ---- */

static const char *ref_id(const cJSON *o, const char *key)
{
    const cJSON *r = cJSON_GetObjectItemCaseSensitive(o, key);
    const cJSON *id = cJSON_IsObject(r) ? cJSON_GetObjectItemCaseSensitive(r, "id") : r;
    return cJSON_IsString(id) ? id->valuestring : NULL;
}

static const char *str_of(const cJSON *o, const char *key)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, key);
    return cJSON_IsString(v) ? v->valuestring : NULL;
}

/* A copy the index owns: a metadata import may free the tree the name came from. */
static const char *own(struct tk_md *t, const char *name)
{
    return name ? arena_strdup(&t->names, name) : NULL;
}

/* The items of a collection (NULL when the metadata has none) and their count. */
static cJSON *items(struct metadata *md, const char *name, int *n)
{
    struct md_collection *c = metadata_collection(md, name);
    *n = c ? cJSON_GetArraySize(c->items) : 0;
    return c ? c->items : NULL;
}

static int index_option_sets(struct metadata *md, struct tk_md *t)
{
    int n_opt = 0;
    cJSON *opts = items(md, "options", &n_opt);
    cJSON *sets = items(md, "optionSets", &t->n_os);
    if (t->n_os && !(t->os = calloc((size_t)t->n_os, sizeof *t->os)))
        return -1;
    int i = 0;
    const cJSON *o;
    cJSON_ArrayForEach(o, sets) {
        struct tk_option_set *os = &t->os[i];
        os->uid = own(t, str_of(o, "id"));
        if (!os->uid || strmap_put(&t->os_map, os->uid, i))
            return -1;
        const cJSON *x;
        cJSON_ArrayForEach(x, cJSON_GetObjectItemCaseSensitive(o, "options")) {
            const char *code = str_of(x, "code");
            if (!code && opts) {
                /* a reference: the code is on the option itself */
                struct md_collection *c = metadata_collection(md, "options");
                int32_t k = c ? strmap_get(&c->by_uid, str_of(x, "id") ? str_of(x, "id") : "") : -1;
                code = k >= 0 ? str_of(cJSON_GetArrayItem(c->items, k), "code") : NULL;
            }
            if (code && (!(code = own(t, code)) || strmap_put(&os->codes, code, 1)))
                return -1;
        }
        i++;
    }
    /* options that name their set but are not listed in it */
    cJSON_ArrayForEach(o, opts) {
        const char *set = ref_id(o, "optionSet"), *code = str_of(o, "code");
        int32_t k = set ? strmap_get(&t->os_map, set) : -1;
        if (k >= 0 && code && (!(code = own(t, code)) || strmap_put(&t->os[k].codes, code, 1)))
            return -1;
    }
    return 0;
}

static int index_programs(struct metadata *md, struct tk_md *t)
{
    cJSON *tets = items(md, "trackedEntityTypes", &t->n_tet);
    if (t->n_tet && !(t->tet = calloc((size_t)t->n_tet, sizeof *t->tet)))
        return -1;
    int i = 0;
    const cJSON *o;
    cJSON_ArrayForEach(o, tets) {
        if (!(t->tet[i] = own(t, str_of(o, "id"))) || strmap_put(&t->tet_map, t->tet[i], i))
            return -1;
        i++;
    }
    cJSON *teas = items(md, "trackedEntityAttributes", &t->n_tea);
    if (t->n_tea && !(t->tea = calloc((size_t)t->n_tea, sizeof *t->tea)))
        return -1;
    i = 0;
    cJSON_ArrayForEach(o, teas) {
        struct tk_attribute *a = &t->tea[i];
        a->uid = own(t, str_of(o, "id"));
        a->vt_name = own(t, str_of(o, "valueType") ? str_of(o, "valueType") : "TEXT");
        a->vt = value_type_from_name(a->vt_name);
        const char *os = ref_id(o, "optionSet");
        a->option_set = os ? strmap_get(&t->os_map, os) : -1;
        if (!a->uid || !a->vt_name || strmap_put(&t->tea_map, a->uid, i))
            return -1;
        i++;
    }
    cJSON *prs = items(md, "programs", &t->n_pr);
    if (t->n_pr && !(t->pr = calloc((size_t)t->n_pr, sizeof *t->pr)))
        return -1;
    i = 0;
    cJSON_ArrayForEach(o, prs) {
        struct tk_program *p = &t->pr[i];
        p->uid = own(t, str_of(o, "id"));
        const char *type = str_of(o, "programType"), *tet = ref_id(o, "trackedEntityType");
        p->registration = type ? !strcmp(type, "WITH_REGISTRATION") : tet != NULL;
        p->tet = tet ? strmap_get(&t->tet_map, tet) : -1;
        if (!p->uid || strmap_put(&t->pr_map, p->uid, i))
            return -1;
        const cJSON *ous = cJSON_GetObjectItemCaseSensitive(o, "organisationUnits");
        if (cJSON_GetArraySize(ous) > 0) {
            if (!(p->ou_bits = calloc((size_t)md->n_ou / 8 + 1, 1)))
                return -1;
            const cJSON *x;
            cJSON_ArrayForEach(x, ous) {
                int ou = metadata_find(md, MD_OU, SCHEME_UID, str_of(x, "id") ? str_of(x, "id") : "");
                if (ou >= 0)
                    p->ou_bits[ou / 8] |= (uint8_t)(1u << (ou % 8));
            }
        }
        i++;
    }
    cJSON *pss = items(md, "programStages", &t->n_ps);
    if (t->n_ps && !(t->ps = calloc((size_t)t->n_ps, sizeof *t->ps)))
        return -1;
    i = 0;
    cJSON_ArrayForEach(o, pss) {
        struct tk_stage *s = &t->ps[i];
        s->uid = own(t, str_of(o, "id"));
        const char *pr = ref_id(o, "program");
        s->program = pr ? strmap_get(&t->pr_map, pr) : -1;
        if (!s->uid || strmap_put(&t->ps_map, s->uid, i))
            return -1;
        const cJSON *psdes = cJSON_GetObjectItemCaseSensitive(o, "programStageDataElements");
        if (cJSON_GetArraySize(psdes) && !(s->des = calloc((size_t)cJSON_GetArraySize(psdes), sizeof(int))))
            return -1;
        const cJSON *x;
        cJSON_ArrayForEach(x, psdes) {
            const char *de = ref_id(x, "dataElement");
            int k = de ? metadata_find(md, MD_DE, SCHEME_UID, de) : -1;
            if (k >= 0)
                s->des[s->n_des++] = k;
        }
        if (s->program >= 0) {
            struct tk_program *p = &t->pr[s->program];
            int *g = realloc(p->stages, (size_t)(p->n_stages + 1) * sizeof *g);
            if (!g)
                return -1;
            p->stages = g;
            p->stages[p->n_stages++] = i;
        }
        i++;
    }
    return 0;
}

static int index_data_elements(struct metadata *md, struct tk_md *t)
{
    if (md->n_de && (!(t->de_option_set = malloc((size_t)md->n_de * sizeof(int))) ||
                     !(t->de_vt_name = malloc((size_t)md->n_de * sizeof(char *)))))
        return -1;
    for (int i = 0; i < md->n_de; i++) {
        t->de_option_set[i] = -1;
        t->de_vt_name[i] = "TEXT";
    }
    int n = 0;
    const cJSON *o;
    cJSON_ArrayForEach(o, items(md, "dataElements", &n)) {
        const char *os = ref_id(o, "optionSet"), *id = str_of(o, "id"), *vt = str_of(o, "valueType");
        int de = id ? metadata_find(md, MD_DE, SCHEME_UID, id) : -1;
        if (de < 0)
            continue;
        if (os)
            t->de_option_set[de] = strmap_get(&t->os_map, os);
        if (vt && !(t->de_vt_name[de] = own(t, vt)))
            return -1;
    }
    return 0;
}

static void md_free(struct tk_md *t)
{
    for (int i = 0; i < t->n_pr; i++) {
        free(t->pr[i].stages);
        free(t->pr[i].ou_bits);
    }
    for (int i = 0; i < t->n_ps; i++)
        free(t->ps[i].des);
    for (int i = 0; i < t->n_os; i++)
        strmap_free(&t->os[i].codes);
    free(t->pr);
    free(t->ps);
    free(t->tet);
    free(t->tea);
    free(t->os);
    free(t->de_option_set);
    free(t->de_vt_name);
    strmap_free(&t->pr_map);
    strmap_free(&t->ps_map);
    strmap_free(&t->tet_map);
    strmap_free(&t->tea_map);
    strmap_free(&t->os_map);
    arena_free(&t->names);
}

static int md_index(struct metadata *md, struct tk_md *t)
{
    return index_option_sets(md, t) || index_programs(md, t) || index_data_elements(md, t) ? -1 : 0;
}

int tracker_init(struct emu *emu, struct err *e)
{
    struct tk_store *s = calloc(1, sizeof *s);
    if (!s)
        return err_set(e, ERR_INTERNAL, "tracker: out of memory");
    emu->tk = s;
    pthread_rwlock_init(&s->lock, NULL);
    pthread_mutex_init(&s->cache_mu, NULL);
    if (md_index(&emu->md, &s->md))
        return err_set(e, ERR_INTERNAL, "tracker: out of memory (or a program, stage or option set without an id)");
    return tracker_generate_data(emu, s, e);
}

void tracker_free(struct emu *emu)
{
    struct tk_store *s = emu->tk;
    if (!s)
        return;
    tracker_jobs_free(emu);
    md_free(&s->md);
    for (int t = 0; t < TK_TYPES; t++) {
        for (size_t c = 0; c < s->uids[t].n_chunks; c++)
            free(s->uids[t].chunks[c]);
        free(s->uids[t].chunks);
        strmap_free(&s->uids[t].map);
    }
    free(s->te);
    free(s->enr);
    free(s->ev);
    free(s->val);
    free(s->who);
    strmap_free(&s->who_map);
    arena_free(&s->text);
    free(s->cache_key);
    free(s->cache_hits);
    pthread_mutex_destroy(&s->cache_mu);
    pthread_rwlock_destroy(&s->lock);
    free(s);
    emu->tk = NULL;
}

/* The new index of each old one, by uid (-1: gone). */
static int *remap(const struct strmap *fresh, int n, const char *(*uid)(const struct tk_md *, int), const struct tk_md *old)
{
    int *map = malloc(((size_t)n + 1) * sizeof *map);
    for (int i = 0; map && i < n; i++)
        map[i] = strmap_get(fresh, uid(old, i));
    return map;
}
static const char *pr_uid(const struct tk_md *t, int i) { return t->pr[i].uid; }
static const char *ps_uid(const struct tk_md *t, int i) { return t->ps[i].uid; }
static const char *tet_uid(const struct tk_md *t, int i) { return t->tet[i]; }
static const char *tea_uid(const struct tk_md *t, int i) { return t->tea[i].uid; }

/* Moves a reference to its new index; an object whose metadata is gone counts as deleted (DHIS2
 * refuses such deletions, the emulator does not check them). */
static void move(int32_t *ref, const int *map, bool *deleted)
{
    int32_t to = *ref >= 0 ? map[*ref] : *ref;
    if (*ref >= 0 && to < 0)
        *deleted = true;
    else
        *ref = to;
}

static void move_values(struct tk_store *s, uint32_t first, uint16_t n, const int *map, bool *deleted)
{
    for (uint16_t k = 0; k < n; k++)
        move(&s->val[first + k].id, map, deleted);
}

int tracker_metadata_reloaded(struct emu *emu, const int *de_map, const int *ou_map)
{
    struct tk_store *s = emu->tk;
    struct tk_md fresh = {0};
    int rc = -1;
    int *pr = NULL, *ps = NULL, *tet = NULL, *tea = NULL;
    pthread_rwlock_wrlock(&s->lock);
    if (md_index(&emu->md, &fresh) ||
        !(pr = remap(&fresh.pr_map, s->md.n_pr, pr_uid, &s->md)) ||
        !(ps = remap(&fresh.ps_map, s->md.n_ps, ps_uid, &s->md)) ||
        !(tet = remap(&fresh.tet_map, s->md.n_tet, tet_uid, &s->md)) ||
        !(tea = remap(&fresh.tea_map, s->md.n_tea, tea_uid, &s->md))) {
        md_free(&fresh);
        goto out;
    }
    for (size_t i = 0; i < s->n_te; i++) {
        struct tk_te *t = &s->te[i];
        move(&t->tet, tet, &t->deleted);
        move(&t->ou, ou_map, &t->deleted);
        move_values(s, t->val_first, t->n_val, tea, &t->deleted);
    }
    for (size_t i = 0; i < s->n_enr; i++) {
        struct tk_enr *n = &s->enr[i];
        move(&n->program, pr, &n->deleted);
        move(&n->ou, ou_map, &n->deleted);
    }
    for (size_t i = 0; i < s->n_ev; i++) {
        struct tk_ev *v = &s->ev[i];
        move(&v->program, pr, &v->deleted);
        move(&v->stage, ps, &v->deleted);
        move(&v->ou, ou_map, &v->deleted);
        move_values(s, v->val_first, v->n_val, de_map, &v->deleted);
    }
    md_free(&s->md);
    s->md = fresh;
    s->version++;
    rc = 0;
out:
    pthread_rwlock_unlock(&s->lock);
    free(pr);
    free(ps);
    free(tet);
    free(tea);
    return rc;
}

/* ---- /emulator/tracker/digest ---- */

static uint64_t mix(uint64_t h, const void *p, size_t n)
{
    const unsigned char *b = p;
    for (size_t i = 0; i < n; i++)
        h = (h ^ b[i]) * 1099511628211ULL;
    return h;
}

static uint64_t mix_str(uint64_t h, const char *s)
{
    return s ? mix(h, s, strlen(s) + 1) : mix(h, "\xff", 1);
}

static uint64_t mix_values(uint64_t h, const struct tk_store *s, uint32_t first, uint16_t n,
                           const char *(*name)(const struct tk_store *, int32_t, const void *),
                           const void *ctx)
{
    /* order-free: a sum of per-value hashes, since a target may store values in another order */
    uint64_t sum = 0;
    for (uint16_t i = 0; i < n; i++) {
        const struct tk_value *v = &s->val[first + i];
        sum += mix_str(mix_str(1469598103934665603ULL, name(s, v->id, ctx)), v->value);
    }
    return mix(h, &sum, sizeof sum);
}

static const char *de_name(const struct tk_store *s, int32_t id, const void *ctx)
{
    (void)s;
    return ((const struct metadata *)ctx)->de[id].id.uid;
}

static const char *tea_name(const struct tk_store *s, int32_t id, const void *ctx)
{
    (void)ctx;
    return s->md.tea[id].uid;
}

/* Digest of what a sync must carry over: ids, references, status, dates and values, not
 * created/updated stamps (the target sets its own). Deleted objects count apart. */
int emulator_tracker_digest(struct request *r)
{
    struct emu *emu = r->emu;
    struct tk_store *s = emu->tk;
    const struct metadata *md = &emu->md;
    uint64_t sums[TK_TYPES] = {0};
    size_t live[TK_TYPES] = {0}, deleted[TK_TYPES] = {0};
    pthread_rwlock_rdlock(&emu->st.lock); /* metadata imports write under it */
    pthread_rwlock_rdlock(&s->lock);
    for (size_t i = 0; i < s->n_te; i++) {
        const struct tk_te *t = &s->te[i];
        if (t->deleted) {
            deleted[TK_TE]++;
            continue;
        }
        live[TK_TE]++;
        uint64_t h = mix_str(1469598103934665603ULL, tk_uid(&s->uids[TK_TE], (int32_t)i));
        h = mix_str(h, s->md.tet[t->tet]);
        h = mix_str(h, md->ou[t->ou].id.uid);
        sums[TK_TE] += mix_values(h, s, t->val_first, t->n_val, tea_name, NULL);
    }
    for (size_t i = 0; i < s->n_enr; i++) {
        const struct tk_enr *n = &s->enr[i];
        if (n->deleted) {
            deleted[TK_ENR]++;
            continue;
        }
        live[TK_ENR]++;
        uint64_t h = mix_str(1469598103934665603ULL, tk_uid(&s->uids[TK_ENR], (int32_t)i));
        h = mix_str(h, s->md.pr[n->program].uid);
        h = mix_str(h, tk_uid(&s->uids[TK_TE], n->te));
        h = mix_str(h, md->ou[n->ou].id.uid);
        h = mix_str(h, tk_enr_status_names[n->status]);
        h = mix(h, &n->enrolled, sizeof n->enrolled);
        sums[TK_ENR] += mix(h, &n->occurred, sizeof n->occurred);
    }
    for (size_t i = 0; i < s->n_ev; i++) {
        const struct tk_ev *v = &s->ev[i];
        if (v->deleted) {
            deleted[TK_EV]++;
            continue;
        }
        live[TK_EV]++;
        uint64_t h = mix_str(1469598103934665603ULL, tk_uid(&s->uids[TK_EV], (int32_t)i));
        h = mix_str(h, s->md.pr[v->program].uid);
        h = mix_str(h, s->md.ps[v->stage].uid);
        h = mix_str(h, v->enr >= 0 ? tk_uid(&s->uids[TK_ENR], v->enr) : NULL);
        h = mix_str(h, md->ou[v->ou].id.uid);
        h = mix_str(h, tk_ev_status_names[v->status]);
        h = mix(h, &v->occurred, sizeof v->occurred);
        h = mix(h, &v->scheduled, sizeof v->scheduled);
        sums[TK_EV] += mix_values(h, s, v->val_first, v->n_val, de_name, md);
    }
    pthread_rwlock_unlock(&s->lock);
    pthread_rwlock_unlock(&emu->st.lock);
    struct buf b = {0};
    static const char *keys[TK_TYPES] = {"trackedEntities", "enrollments", "events"};
    buf_putc(&b, '{');
    for (int t = 0; t < TK_TYPES; t++)
        buf_printf(&b, "%s\"%s\":{\"live\":%zu,\"deleted\":%zu,\"digest\":\"%016llx\"}", t ? "," : "",
                   keys[t], live[t], deleted[t], (unsigned long long)sums[t]);
    buf_putc(&b, '}');
    return tk_send(r, &b, NULL);
}
