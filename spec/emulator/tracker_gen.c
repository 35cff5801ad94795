/* tracker_gen.c — tracker metadata and data for --generate ...,events=N,trackedEntities=M:
 * an event program (WITHOUT_REGISTRATION, one stage) that gets N events, and a tracker
 * program (WITH_REGISTRATION, a Person type with four attributes, a birth stage and a
 * repeatable follow-up stage) that gets M tracked entities, each enrolled once with a birth
 * event and zero to two follow-ups. Ids derive from the seed and a label, so two emulators
 * with the same seed share metadata and events=0,trackedEntities=0 is an empty twin. The data
 * goes straight into the compact store: no JSON on the way. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "log.h"
#include "tracker.h"

static void label_uid(uint64_t seed, const char *label, char out[12])
{
    static const char alnum[] = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789";
    uint64_t h = 1469598103934665603ULL ^ (seed * 0x9E3779B97F4A7C15ULL);
    for (const char *p = label; *p; p++)
        h = (h ^ (unsigned char)*p) * 1099511628211ULL;
    for (int i = 0; i < 11; i++) {
        h ^= h >> 33;
        h *= 0xFF51AFD7ED558CCDULL;
        h ^= h >> 29;
        out[i] = alnum[i ? h % 62 : h % 52];
    }
    out[11] = '\0';
}

/* Builders: each returns the new object (NULL once memory ran out; *bad then stays set). */
static cJSON *add_obj(cJSON *arr, bool *bad, uint64_t seed, const char *label, const char *name)
{
    char id[12];
    label_uid(seed, label, id);
    cJSON *o = cJSON_CreateObject();
    if (!o || !arr || !cJSON_AddItemToArray(arr, o)) {
        cJSON_Delete(o);
        *bad = true;
        return NULL;
    }
    if (!cJSON_AddStringToObject(o, "id", id) || !cJSON_AddStringToObject(o, "code", label) ||
        !cJSON_AddStringToObject(o, "name", name) || !cJSON_AddStringToObject(o, "shortName", name))
        *bad = true;
    return o;
}

static void set_str(cJSON *o, bool *bad, const char *key, const char *v)
{
    if (o && !cJSON_AddStringToObject(o, key, v))
        *bad = true;
}

/* {"key":{"id":id}} on o, or appended to the array o when key is NULL; wrap puts the
 * reference one level down: {"wrap":{"id":id}}. */
static void add_ref_id(cJSON *o, bool *bad, const char *key, const char *wrap, const char *id)
{
    if (!o)
        return;
    cJSON *r = cJSON_CreateObject(), *inner = r;
    if (r && wrap) {
        inner = cJSON_CreateObject();
        if (!inner || !cJSON_AddItemToObject(r, wrap, inner)) {
            cJSON_Delete(inner);
            inner = NULL;
        }
    }
    bool ok = r && inner && cJSON_AddStringToObject(inner, "id", id) &&
              (key ? cJSON_AddItemToObject(o, key, r) : cJSON_AddItemToArray(o, r));
    if (!ok) {
        cJSON_Delete(r);
        *bad = true;
    }
}

static void add_ref(cJSON *o, bool *bad, const char *key, const char *wrap, uint64_t seed, const char *label)
{
    char id[12];
    label_uid(seed, label, id);
    add_ref_id(o, bad, key, wrap, id);
}

static cJSON *array(cJSON *o, bool *bad, const char *key)
{
    cJSON *a = cJSON_GetObjectItemCaseSensitive(o, key);
    if (!a && o)
        a = cJSON_AddArrayToObject(o, key);
    if (!a)
        *bad = true;
    return a;
}

static const struct {
    const char *label, *name, *vt, *option_set;
} gen_des[] = {
    {"EV_TEMP", "Body temperature", "NUMBER", NULL},
    {"EV_FEVER", "Fever", "BOOLEAN", NULL},
    {"EV_OUTCOME", "Outcome", "TEXT", "OS_OUTCOME"},
    {"EV_NOTE", "Clinical note", "LONG_TEXT", NULL},
    {"EV_WEIGHT", "Weight in grams", "INTEGER_POSITIVE", NULL},
    {"EV_VISITS", "Visits since last", "INTEGER_ZERO_OR_POSITIVE", NULL},
}, gen_teas[] = {
    {"TEA_FIRST", "First name", "TEXT", NULL},
    {"TEA_LAST", "Last name", "TEXT", NULL},
    {"TEA_SEX", "Sex", "TEXT", "OS_SEX"},
    {"TEA_DOB", "Date of birth", "DATE", NULL},
};
/* generate.c's default category combo: tracker objects use it too */
#define DEFAULT_CC "bjDvmb4bfuf"
static const char *outcome_codes[] = {"CURED", "REFERRED", "DIED"};
static const char *sex_codes[] = {"MALE", "FEMALE"};
/* stage label, program label, data element indexes into gen_des (-1 ends) */
static const struct {
    const char *label, *name, *program;
    int des[5];
} gen_stages[] = {
    {"PS_CASE", "Case report", "P_CASE", {0, 1, 2, 3, -1}},
    {"PS_BIRTH", "Birth", "P_CHILD", {4, 1, -1}},
    {"PS_FOLLOWUP", "Follow-up", "P_CHILD", {4, 5, 2, -1}},
};

static void option_set(cJSON *root, bool *bad, uint64_t seed, const char *label, const char *name,
                       const char **codes, int n)
{
    cJSON *os = add_obj(array(root, bad, "optionSets"), bad, seed, label, name);
    set_str(os, bad, "valueType", "TEXT");
    cJSON *list = array(os, bad, "options");
    char olabel[64];
    for (int i = 0; i < n; i++) {
        snprintf(olabel, sizeof olabel, "%s_%s", label, codes[i]);
        cJSON *o = add_obj(array(root, bad, "options"), bad, seed, olabel, codes[i]);
        if (o)
            cJSON_ReplaceItemInObjectCaseSensitive(o, "code", cJSON_CreateString(codes[i]));
        add_ref(o, bad, "optionSet", NULL, seed, label);
        add_ref(list, bad, NULL, NULL, seed, olabel);
    }
}

/* The org units that are nobody's parent: where events happen. */
static cJSON *facility_refs(cJSON *root, bool *bad)
{
    cJSON *ous = cJSON_GetObjectItemCaseSensitive(root, "organisationUnits");
    struct strmap parents = {0};
    cJSON *refs = cJSON_CreateArray(), *o;
    if (!refs)
        *bad = true;
    cJSON_ArrayForEach(o, ous) {
        cJSON *p = cJSON_GetObjectItemCaseSensitive(cJSON_GetObjectItemCaseSensitive(o, "parent"), "id");
        if (cJSON_IsString(p) && strmap_put(&parents, p->valuestring, 1))
            *bad = true;
    }
    cJSON_ArrayForEach(o, ous) {
        cJSON *id = cJSON_GetObjectItemCaseSensitive(o, "id");
        if (!refs || !cJSON_IsString(id) || strmap_get(&parents, id->valuestring) >= 0)
            continue;
        cJSON *r = cJSON_CreateObject();
        if (!r || !cJSON_AddStringToObject(r, "id", id->valuestring) || !cJSON_AddItemToArray(refs, r)) {
            cJSON_Delete(r);
            *bad = true;
        }
    }
    strmap_free(&parents);
    return refs;
}

int tracker_generate_metadata(const struct emu_config *cfg, cJSON *root, struct err *e)
{
    if (cfg->gen_events < 0 && cfg->gen_tracked_entities < 0)
        return 0;
    uint64_t seed = cfg->gen_seed;
    bool bad = false;
    option_set(root, &bad, seed, "OS_OUTCOME", "Outcome", outcome_codes, 3);
    option_set(root, &bad, seed, "OS_SEX", "Sex", sex_codes, 2);
    cJSON *des = array(root, &bad, "dataElements");
    for (size_t i = 0; i < sizeof gen_des / sizeof gen_des[0]; i++) {
        cJSON *o = add_obj(des, &bad, seed, gen_des[i].label, gen_des[i].name);
        set_str(o, &bad, "valueType", gen_des[i].vt);
        set_str(o, &bad, "domainType", "TRACKER");
        set_str(o, &bad, "aggregationType", "NONE");
        add_ref_id(o, &bad, "categoryCombo", NULL, DEFAULT_CC);
        if (gen_des[i].option_set)
            add_ref(o, &bad, "optionSet", NULL, seed, gen_des[i].option_set);
    }
    cJSON *tet = add_obj(array(root, &bad, "trackedEntityTypes"), &bad, seed, "TET_PERSON", "Person");
    cJSON *tet_attrs = array(tet, &bad, "trackedEntityTypeAttributes");
    cJSON *teas = array(root, &bad, "trackedEntityAttributes");
    for (size_t i = 0; i < sizeof gen_teas / sizeof gen_teas[0]; i++) {
        cJSON *o = add_obj(teas, &bad, seed, gen_teas[i].label, gen_teas[i].name);
        set_str(o, &bad, "valueType", gen_teas[i].vt);
        set_str(o, &bad, "aggregationType", "NONE");
        if (gen_teas[i].option_set)
            add_ref(o, &bad, "optionSet", NULL, seed, gen_teas[i].option_set);
        add_ref(tet_attrs, &bad, NULL, "trackedEntityAttribute", seed, gen_teas[i].label);
    }
    cJSON *prs = array(root, &bad, "programs");
    cJSON *facilities = facility_refs(root, &bad);
    for (int k = 0; k < 2; k++) {
        const char *label = k ? "P_CHILD" : "P_CASE";
        cJSON *p = add_obj(prs, &bad, seed, label, k ? "Child programme" : "Malaria case report");
        set_str(p, &bad, "programType", k ? "WITH_REGISTRATION" : "WITHOUT_REGISTRATION");
        add_ref_id(p, &bad, "categoryCombo", NULL, DEFAULT_CC);
        if (k) {
            add_ref(p, &bad, "trackedEntityType", NULL, seed, "TET_PERSON");
            cJSON *ptea = array(p, &bad, "programTrackedEntityAttributes");
            for (size_t i = 0; i < sizeof gen_teas / sizeof gen_teas[0]; i++)
                add_ref(ptea, &bad, NULL, "trackedEntityAttribute", seed, gen_teas[i].label);
        }
        cJSON *stages = array(p, &bad, "programStages");
        for (size_t s = 0; s < sizeof gen_stages / sizeof gen_stages[0]; s++)
            if (!strcmp(gen_stages[s].program, label))
                add_ref(stages, &bad, NULL, NULL, seed, gen_stages[s].label);
        cJSON *copy = facilities ? cJSON_Duplicate(facilities, true) : NULL;
        if (!p || !copy || !cJSON_AddItemToObject(p, "organisationUnits", copy)) {
            cJSON_Delete(copy);
            bad = true;
        }
    }
    cJSON_Delete(facilities);
    cJSON *pss = array(root, &bad, "programStages");
    for (size_t s = 0; s < sizeof gen_stages / sizeof gen_stages[0]; s++) {
        cJSON *o = add_obj(pss, &bad, seed, gen_stages[s].label, gen_stages[s].name);
        add_ref(o, &bad, "program", NULL, seed, gen_stages[s].program);
        if (o && !cJSON_AddBoolToObject(o, "repeatable", s == 2))
            bad = true;
        cJSON *psde = array(o, &bad, "programStageDataElements");
        for (int i = 0; gen_stages[s].des[i] >= 0; i++)
            add_ref(psde, &bad, NULL, "dataElement", seed, gen_des[gen_stages[s].des[i]].label);
    }
    return bad ? err_set(e, ERR_INTERNAL, "generate: out of memory") : 0;
}

/* ---- data ---- */

struct rng {
    uint64_t s;
};

/* xorshift64*: deterministic on every machine, never zero state. */
static uint64_t rnd(struct rng *r)
{
    r->s ^= r->s >> 12;
    r->s ^= r->s << 25;
    r->s ^= r->s >> 27;
    return r->s * 0x2545F4914F6CDD1DULL;
}

static uint64_t rnd_below(struct rng *r, uint64_t n) { return n ? rnd(r) % n : 0; }

struct gen {
    struct tk_store *s;
    const struct metadata *md;
    struct rng r;
    int64_t now;
    const char *who[2];
    int *ous;
    int n_ous;
    bool oom;
};

static const char *first_names[] = {"Amina", "John", "Fatou", "Peter", "Grace", "Musa", "Aisha", "David", "Mary", "Ibrahim"};
static const char *last_names[] = {"Kamara", "Banda", "Diallo", "Okello", "Mensah", "Phiri", "Sesay", "Mwangi"};
static const char *notes[] = {"stable", "referred to hospital", "follow-up in two weeks", "improving", "no complaints"};

static int32_t new_uid(struct gen *g, enum tk_type t)
{
    static const char alnum[] = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789";
    char uid[12];
    do {
        uint64_t x = rnd(&g->r);
        uid[0] = alnum[x % 52];
        x /= 52;
        for (int i = 1; i < 11; i++) {
            if (i == 6)
                x = rnd(&g->r);
            uid[i] = alnum[x % 62];
            x /= 62;
        }
        uid[11] = '\0';
    } while (tk_find(g->s, t, uid) >= 0);
    int32_t i = tk_add(g->s, t, uid);
    if (i < 0)
        g->oom = true;
    return i;
}

static const char *gen_value(struct gen *g, int de)
{
    const struct md_de *d = &g->md->de[de];
    int os = g->s->md.de_option_set[de];
    char v[32];
    if (os >= 0)
        return outcome_codes[rnd_below(&g->r, 3)];
    switch (d->vt) {
    case VT_NUMBER:
        snprintf(v, sizeof v, "%d.%d", 36 + (int)rnd_below(&g->r, 4), (int)rnd_below(&g->r, 10));
        break;
    case VT_BOOLEAN:
        return rnd_below(&g->r, 2) ? "true" : "false";
    case VT_LONG_TEXT:
    case VT_TEXT:
        return notes[rnd_below(&g->r, sizeof notes / sizeof notes[0])];
    case VT_INTEGER_POSITIVE:
        snprintf(v, sizeof v, "%d", 2000 + (int)rnd_below(&g->r, 2500));
        break;
    default:
        snprintf(v, sizeof v, "%d", (int)rnd_below(&g->r, 5));
    }
    const char *t = tk_text(g->s, v);
    if (!t)
        g->oom = true;
    return t;
}

/* Dates of events fall on local midnights, as DHIS2's capture apps write them. */
static int64_t day_start(int64_t ms)
{
    int64_t local = ms + tk_local_offset(ms);
    return ms - local % 86400000;
}

static int32_t gen_event(struct gen *g, int program, int stage, int ou, int32_t enr, int64_t occurred)
{
    int32_t i = new_uid(g, TK_EV);
    const struct tk_stage *ps = &g->s->md.ps[stage];
    int64_t first = i < 0 ? -1 : tk_values_reserve(g->s, (size_t)ps->n_des);
    if (first < 0) {
        g->oom = true;
        return -1;
    }
    struct tk_ev *v = &g->s->ev[i];
    v->program = program;
    v->stage = stage;
    v->ou = ou;
    v->enr = enr;
    v->next_in_enr = TK_NONE;
    v->occurred = day_start(occurred);
    v->scheduled = v->occurred;
    v->created = v->occurred + (int64_t)(1 + rnd_below(&g->r, 72 * 3600)) * 1000;
    if (v->created > g->now - 60000)
        v->created = g->now - 60000 - (int64_t)rnd_below(&g->r, 3600) * 1000;
    v->updated = v->created;
    if (rnd_below(&g->r, 5) == 0)
        v->updated += (int64_t)rnd_below(&g->r, 30 * 86400) * 1000;
    if (v->updated > g->now - 1000)
        v->updated = g->now - 1000;
    v->status = rnd_below(&g->r, 10) < 7 ? EV_COMPLETED : EV_ACTIVE;
    v->completed = v->status == EV_COMPLETED ? v->updated : TK_NULL_TIME;
    v->stored_by = g->who[rnd_below(&g->r, 4) == 0];
    v->completed_by = v->status == EV_COMPLETED ? v->stored_by : NULL;
    v->val_first = (uint32_t)first;
    for (int k = 0; k < ps->n_des; k++) {
        if (rnd_below(&g->r, 10) >= 8)
            continue;
        struct tk_value *x = &g->s->val[first + v->n_val++];
        x->id = ps->des[k];
        x->provided_elsewhere = false;
        x->value = gen_value(g, ps->des[k]);
        x->created = v->created;
        x->updated = v->updated;
    }
    return i;
}

static int pick_ou(struct gen *g) { return g->ous[rnd_below(&g->r, (uint64_t)g->n_ous)]; }

/* The org units a program is assigned to (every one when it names none). */
static int program_ous(struct gen *g, const struct tk_program *p)
{
    g->n_ous = 0;
    for (int u = 0; u < g->md->n_ou; u++)
        if (tk_ou_assigned(p, u) && (p->ou_bits || g->md->ou[u].last == g->md->ou[u].pre))
            g->ous[g->n_ous++] = u;
    return g->n_ous;
}

static void gen_tracked_entity(struct gen *g, int program, int64_t day_ms)
{
    const struct tk_program *p = &g->s->md.pr[program];
    struct tk_store *s = g->s;
    int32_t t = new_uid(g, TK_TE);
    int64_t first = t < 0 ? -1 : tk_values_reserve(s, (size_t)s->md.n_tea);
    if (first < 0) {
        g->oom = true;
        return;
    }
    struct tk_te *te = &s->te[t];
    te->tet = p->tet;
    te->ou = pick_ou(g);
    te->created = g->now - (int64_t)(1 + rnd_below(&g->r, 3 * 365)) * day_ms;
    te->updated = te->created;
    te->first_enr = TK_NONE;
    te->val_first = (uint32_t)first;
    char dob[16];
    for (int a = 0; a < s->md.n_tea; a++) {
        const char *v = NULL;
        switch (a % 4) { /* the generated attributes, in gen_teas order */
        case 0: v = first_names[rnd_below(&g->r, sizeof first_names / sizeof first_names[0])]; break;
        case 1: v = last_names[rnd_below(&g->r, sizeof last_names / sizeof last_names[0])]; break;
        case 2: v = sex_codes[rnd_below(&g->r, 2)]; break;
        default: {
            struct buf b = {0};
            buf_timestamp(&b, te->created - (int64_t)rnd_below(&g->r, 5 * 365) * day_ms, false);
            snprintf(dob, sizeof dob, "%.10s", b.data ? b.data : "2020-01-01");
            buf_free(&b);
            v = tk_text(s, dob);
        }
        }
        struct tk_value *x = &s->val[first + te->n_val++];
        x->id = a;
        x->provided_elsewhere = false;
        x->value = v;
        x->created = x->updated = te->created;
    }
    int32_t n = new_uid(g, TK_ENR);
    if (n < 0)
        return;
    te = &s->te[t];
    struct tk_enr *en = &s->enr[n];
    en->program = program;
    en->te = t;
    en->ou = te->ou;
    en->next_in_te = TK_NONE;
    en->first_ev = TK_NONE;
    te->first_enr = n;
    en->enrolled = en->occurred = day_start(te->created);
    en->created = te->created;
    en->status = rnd_below(&g->r, 4) == 0 ? ENR_COMPLETED : ENR_ACTIVE;
    en->stored_by = g->who[0];
    int32_t *tail = &en->first_ev;
    int follow_ups = (int)rnd_below(&g->r, 3);
    for (int k = 0; k <= follow_ups && k < p->n_stages * 3; k++) {
        int stage = p->stages[k == 0 ? 0 : p->n_stages - 1];
        int64_t when = en->enrolled + (int64_t)k * (28 + (int64_t)rnd_below(&g->r, 14)) * day_ms;
        if (when > g->now - day_ms)
            break;
        int32_t v = gen_event(g, program, stage, te->ou, n, when);
        if (v < 0)
            return;
        *tail = v;
        tail = &s->ev[v].next_in_enr;
    }
    en = &s->enr[n];
    en->updated = en->created;
    for (int32_t v = en->first_ev; v != TK_NONE; v = s->ev[v].next_in_enr)
        if (s->ev[v].updated > en->updated)
            en->updated = s->ev[v].updated;
    s->te[t].updated = en->updated;
}

int tracker_generate_data(struct emu *emu, struct tk_store *s, struct err *e)
{
    long n_ev = emu->cfg.gen_events, n_te = emu->cfg.gen_tracked_entities;
    if (n_ev <= 0 && n_te <= 0)
        return 0;
    const int64_t day_ms = 86400000;
    struct gen g = {.s = s, .md = &emu->md, .r = {emu->cfg.gen_seed * 0x9E3779B97F4A7C15ULL + 7}, .now = now_ms()};
    int event_program = -1, tracker_program = -1;
    for (int i = 0; i < s->md.n_pr; i++) {
        if (s->md.pr[i].n_stages == 0)
            continue;
        if (!s->md.pr[i].registration && event_program < 0)
            event_program = i;
        if (s->md.pr[i].registration && s->md.pr[i].tet >= 0 && tracker_program < 0)
            tracker_program = i;
    }
    if (!(g.ous = malloc((size_t)emu->md.n_ou * sizeof(int))))
        return err_set(e, ERR_INTERNAL, "generate: out of memory");
    g.who[0] = tk_who(s, "admin");
    g.who[1] = tk_who(s, "data.clerk");
    g.oom = !g.who[0] || !g.who[1];
    int64_t t0 = now_ms();
    if (n_ev > 0 && event_program >= 0 && program_ous(&g, &s->md.pr[event_program]))
        for (long i = 0; i < n_ev && !g.oom; i++)
            gen_event(&g, event_program, s->md.pr[event_program].stages[0], pick_ou(&g), TK_NONE,
                      g.now - (int64_t)(1 + rnd_below(&g.r, 730)) * day_ms);
    if (n_te > 0 && tracker_program >= 0 && program_ous(&g, &s->md.pr[tracker_program]))
        for (long i = 0; i < n_te && !g.oom; i++)
            gen_tracked_entity(&g, tracker_program, day_ms);
    free(g.ous);
    if (g.oom)
        return err_set(e, ERR_INTERNAL, "generate: out of memory");
    log_info("generated %zu events, %zu tracked entities, %zu enrollments in %lld ms", s->n_ev, s->n_te,
             s->n_enr, (long long)(now_ms() - t0));
    return 0;
}
