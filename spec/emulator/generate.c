/* generate.c — a realistic, deterministic instance from --generate values=N,orgunits=M,seed=S:
 * a country -> regions -> districts -> facilities hierarchy, a Monthly and a Quarterly data
 * set (the latter with a funding attribute combo), sex x age disaggregation, several value
 * types, and N values spread over facilities and the periods before today. The metadata
 * depends only on orgunits and seed, so values=0 with the same seed is an empty twin (a sync
 * target). Values are drawn with selection sampling (Knuth's algorithm S): exactly N, evenly
 * spread, in one pass. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "emu.h"
#include "log.h"

struct rng {
    uint64_t s;
};

/* splitmix64: tiny, fast, and the same sequence on every machine. */
static uint64_t next(struct rng *r)
{
    uint64_t z = (r->s += 0x9E3779B97F4A7C15ULL);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ULL;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBULL;
    return z ^ (z >> 31);
}

static uint64_t below(struct rng *r, uint64_t n) { return n ? next(r) % n : 0; }

static const char *uid(struct rng *r, char out[12])
{
    static const char alnum[] = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789";
    out[0] = alnum[below(r, 52)];
    for (int i = 1; i < 11; i++)
        out[i] = alnum[below(r, 62)];
    out[11] = '\0';
    return out;
}

/* Helpers that keep the construction below readable; any allocation failure sets *bad. */
static cJSON *obj(cJSON *arr, bool *bad, const char *id, const char *code, const char *name)
{
    cJSON *o = cJSON_CreateObject();
    if (!o || !cJSON_AddItemToArray(arr, o)) {
        cJSON_Delete(o);
        *bad = true;
        return NULL;
    }
    if (!cJSON_AddStringToObject(o, "id", id) || (code && !cJSON_AddStringToObject(o, "code", code)) ||
        !cJSON_AddStringToObject(o, "name", name) || !cJSON_AddStringToObject(o, "shortName", name))
        *bad = true;
    return o;
}

static void ref(cJSON *o, bool *bad, const char *key, const char *id)
{
    if (!o)
        return;
    cJSON *r = cJSON_CreateObject();
    if (!r || !cJSON_AddStringToObject(r, "id", id) || !cJSON_AddItemToObject(o, key, r)) {
        cJSON_Delete(r); /* not attached: ours to free */
        *bad = true;
    }
}

static cJSON *refs(cJSON *o, bool *bad, const char *key)
{
    cJSON *a = o ? cJSON_AddArrayToObject(o, key) : NULL;
    if (!a)
        *bad = true;
    return a;
}

static void add_ref(cJSON *arr, bool *bad, const char *id)
{
    if (!arr)
        return;
    cJSON *r = cJSON_CreateObject();
    if (!r || !cJSON_AddStringToObject(r, "id", id) || !cJSON_AddItemToArray(arr, r)) {
        cJSON_Delete(r);
        *bad = true;
    }
}

static void add_str(cJSON *o, bool *bad, const char *key, const char *v)
{
    if (!o || !cJSON_AddStringToObject(o, key, v))
        *bad = true;
}

struct combo_def {
    char cc[12];
    char coc[8][12];
    int n;
};

/* objects=K: data elements (with the default combo, in one data set and one group) until the
 * instance holds K metadata objects, so that a metadata sync of that size can be measured. */
static void add_bulk(cJSON *root, cJSON *dss, cJSON *des, cJSON *degs, long want, struct rng *r, bool *bad)
{
    long have = 0;
    const cJSON *a;
    cJSON_ArrayForEach(a, root)
        have += cJSON_GetArraySize(a);
    have += 4; /* the default option and category metadata_load adds, the bulk data set and group */
    if (want <= have)
        return;
    char id[12], name[64], code[64];
    cJSON *ds = obj(dss, bad, uid(r, id), "DS_BULK", "Bulk Report");
    add_str(ds, bad, "periodType", "Monthly");
    ref(ds, bad, "categoryCombo", MD_DEFAULT_COMBO);
    cJSON *dse = refs(ds, bad, "dataSetElements");
    cJSON *group = refs(obj(degs, bad, uid(r, id), "DEG_BULK", "Bulk"), bad, "dataElements");
    for (long i = 0; i < want - have && !*bad; i++) {
        snprintf(name, sizeof name, "Bulk element %ld", i + 1);
        snprintf(code, sizeof code, "DE_BULK_%ld", i + 1);
        cJSON *o = obj(des, bad, uid(r, id), code, name);
        add_str(o, bad, "valueType", "INTEGER");
        add_str(o, bad, "aggregationType", "SUM");
        add_str(o, bad, "domainType", "AGGREGATE");
        ref(o, bad, "categoryCombo", MD_DEFAULT_COMBO);
        add_ref(group, bad, id);
        cJSON *x = cJSON_CreateObject();
        if (!x || !cJSON_AddItemToArray(dse, x)) {
            cJSON_Delete(x);
            *bad = true;
            return;
        }
        ref(x, bad, "dataElement", id);
    }
}

int generate_metadata(struct emu_config *cfg, cJSON **out, struct err *e)
{
    struct rng r = {cfg->gen_seed * 0x2545F4914F6CDD1DULL + 17};
    bool bad = false;
    char id[12], name[128], code[64];
    cJSON *root = cJSON_CreateObject();
    if (!root)
        return err_set(e, ERR_INTERNAL, "generate: out of memory");
    cJSON *cats = cJSON_AddArrayToObject(root, "categories");
    cJSON *opts = cJSON_AddArrayToObject(root, "categoryOptions");
    cJSON *ccs = cJSON_AddArrayToObject(root, "categoryCombos");
    cJSON *cocs = cJSON_AddArrayToObject(root, "categoryOptionCombos");
    cJSON *des = cJSON_AddArrayToObject(root, "dataElements");
    cJSON *degs = cJSON_AddArrayToObject(root, "dataElementGroups");
    cJSON *dss = cJSON_AddArrayToObject(root, "dataSets");
    cJSON *ous = cJSON_AddArrayToObject(root, "organisationUnits");
    if (!cats || !opts || !ccs || !cocs || !des || !degs || !dss || !ous) {
        cJSON_Delete(root);
        return err_set(e, ERR_INTERNAL, "generate: out of memory");
    }

    /* Combos: default, sex x age (disaggregation), funding (attribute). */
    struct combo_def def = {"bjDvmb4bfuf", {"HllvX50cXC0"}, 1}, sexage = {0}, funding = {0};
    cJSON *o = obj(ccs, &bad, def.cc, "default", "default");
    add_str(o, &bad, "dataDimensionType", "DISAGGREGATION");
    o = obj(cocs, &bad, def.coc[0], "default", "default");
    ref(o, &bad, "categoryCombo", def.cc);

    static const char *sex[] = {"Male", "Female"}, *age[] = {"<5", "5-14", "15+"};
    static const char *donors[] = {"Donor A", "Donor B"};
    char sex_ids[2][12], age_ids[3][12], donor_ids[2][12], cat_ids[3][12];
    for (int i = 0; i < 2; i++) {
        snprintf(code, sizeof code, "SEX_%c", sex[i][0]);
        obj(opts, &bad, uid(&r, sex_ids[i]), code, sex[i]);
    }
    for (int i = 0; i < 3; i++) {
        snprintf(code, sizeof code, "AGE_%d", i + 1);
        obj(opts, &bad, uid(&r, age_ids[i]), code, age[i]);
    }
    for (int i = 0; i < 2; i++) {
        snprintf(code, sizeof code, "DONOR_%c", 'A' + i);
        obj(opts, &bad, uid(&r, donor_ids[i]), code, donors[i]);
    }
    static const char *cat_names[] = {"Sex", "Age", "Funding"};
    for (int i = 0; i < 3; i++) {
        snprintf(code, sizeof code, "CAT_%s", cat_names[i]);
        o = obj(cats, &bad, uid(&r, cat_ids[i]), code, cat_names[i]);
        add_str(o, &bad, "dataDimensionType", i == 2 ? "ATTRIBUTE" : "DISAGGREGATION");
        cJSON *co = refs(o, &bad, "categoryOptions");
        for (int k = 0; k < (i == 1 ? 3 : 2); k++)
            add_ref(co, &bad, i == 0 ? sex_ids[k] : i == 1 ? age_ids[k] : donor_ids[k]);
    }
    o = obj(ccs, &bad, uid(&r, sexage.cc), "CC_SEX_AGE", "Sex and Age");
    add_str(o, &bad, "dataDimensionType", "DISAGGREGATION");
    cJSON *cl = refs(o, &bad, "categories");
    add_ref(cl, &bad, cat_ids[0]);
    add_ref(cl, &bad, cat_ids[1]);
    for (int s = 0; s < 2; s++)
        for (int a = 0; a < 3; a++) {
            snprintf(name, sizeof name, "%s, %s", sex[s], age[a]);
            snprintf(code, sizeof code, "COC_%c_%d", sex[s][0], a + 1);
            o = obj(cocs, &bad, uid(&r, sexage.coc[sexage.n]), code, name);
            ref(o, &bad, "categoryCombo", sexage.cc);
            cJSON *co = refs(o, &bad, "categoryOptions");
            add_ref(co, &bad, sex_ids[s]);
            add_ref(co, &bad, age_ids[a]);
            sexage.n++;
        }
    o = obj(ccs, &bad, uid(&r, funding.cc), "CC_FUNDING", "Funding");
    add_str(o, &bad, "dataDimensionType", "ATTRIBUTE");
    add_ref(refs(o, &bad, "categories"), &bad, cat_ids[2]);
    for (int i = 0; i < 2; i++) {
        snprintf(code, sizeof code, "AOC_DONOR_%c", 'A' + i);
        o = obj(cocs, &bad, uid(&r, funding.coc[funding.n]), code, donors[i]);
        ref(o, &bad, "categoryCombo", funding.cc);
        add_ref(refs(o, &bad, "categoryOptions"), &bad, donor_ids[i]);
        funding.n++;
    }

    /* Data elements: which set, value type, combo, zero significance. */
    static const struct {
        const char *code, *name, *vt;
        bool disagg, zero, quarterly;
        int group; /* 0 ANC, 1 Malaria, 2 HIV, -1 none */
    } de_defs[] = {
        {"DE_ANC1", "ANC 1st visit", "INTEGER_ZERO_OR_POSITIVE", false, false, false, 0},
        {"DE_ANC4", "ANC 4th visit", "INTEGER_ZERO_OR_POSITIVE", false, false, false, 0},
        {"DE_MAL_CASES", "Malaria cases", "INTEGER", true, false, false, 1},
        {"DE_MAL_DEATHS", "Malaria deaths", "INTEGER_ZERO_OR_POSITIVE", true, true, false, 1},
        {"DE_WEIGHT", "Average birth weight", "NUMBER", false, false, false, -1},
        {"DE_STOCKOUT", "Stock-out reported", "BOOLEAN", false, false, false, -1},
        {"DE_REMARKS", "Supervisor remarks", "TEXT", false, false, false, -1},
        {"DE_OPD", "OPD visits", "INTEGER", true, false, false, -1},
        {"DE_HIV_TESTS", "HIV tests", "INTEGER_ZERO_OR_POSITIVE", false, false, true, 2},
        {"DE_HIV_POS", "HIV positive", "INTEGER_ZERO_OR_POSITIVE", true, false, true, 2},
    };
    enum { N_DE = sizeof de_defs / sizeof de_defs[0] };
    char de_ids[N_DE][12];
    for (int i = 0; i < N_DE; i++) {
        o = obj(des, &bad, uid(&r, de_ids[i]), de_defs[i].code, de_defs[i].name);
        add_str(o, &bad, "valueType", de_defs[i].vt);
        add_str(o, &bad, "aggregationType", "SUM");
        add_str(o, &bad, "domainType", "AGGREGATE");
        if (o && !cJSON_AddBoolToObject(o, "zeroIsSignificant", de_defs[i].zero))
            bad = true;
        ref(o, &bad, "categoryCombo", de_defs[i].disagg ? sexage.cc : def.cc);
    }
    static const char *groups[] = {"ANC", "Malaria", "HIV"};
    for (int g = 0; g < 3; g++) {
        snprintf(code, sizeof code, "DEG_%s", groups[g]);
        o = obj(degs, &bad, uid(&r, id), code, groups[g]);
        cJSON *l = refs(o, &bad, "dataElements");
        for (int i = 0; i < N_DE; i++)
            if (de_defs[i].group == g)
                add_ref(l, &bad, de_ids[i]);
    }

    /* Org units: at least a country, a region, a district and a facility. */
    long m = cfg->gen_orgunits < 4 ? 4 : cfg->gen_orgunits;
    long regions = m / 200 < 1 ? 1 : m / 200 > 12 ? 12 : m / 200;
    long districts = m / 20 < 1 ? 1 : m / 20 > 400 ? 400 : m / 20;
    if (districts < regions)
        districts = regions;
    long facilities = m - 1 - regions - districts;
    if (facilities < 1) {
        regions = districts = 1;
        facilities = m - 3;
    }
    char (*ou_ids)[12] = calloc((size_t)m, 12);
    if (!ou_ids) {
        cJSON_Delete(root);
        return err_set(e, ERR_INTERNAL, "generate: out of memory");
    }
    long k = 0;
    o = obj(ous, &bad, uid(&r, ou_ids[k++]), "OU_COUNTRY", "Emulatia");
    add_str(o, &bad, "openingDate", "1990-01-01T00:00:00.000");
    for (long i = 0; i < regions; i++, k++) {
        snprintf(name, sizeof name, "Region %ld", i + 1);
        snprintf(code, sizeof code, "OU_R%ld", i + 1);
        o = obj(ous, &bad, uid(&r, ou_ids[k]), code, name);
        add_str(o, &bad, "openingDate", "1990-01-01T00:00:00.000");
        ref(o, &bad, "parent", ou_ids[0]);
    }
    for (long i = 0; i < districts; i++, k++) {
        long reg = i % regions;
        snprintf(name, sizeof name, "District %ld.%ld", reg + 1, i / regions + 1);
        snprintf(code, sizeof code, "OU_D%ld", i + 1);
        o = obj(ous, &bad, uid(&r, ou_ids[k]), code, name);
        add_str(o, &bad, "openingDate", "1990-01-01T00:00:00.000");
        ref(o, &bad, "parent", ou_ids[1 + reg]);
    }
    long first_facility = k;
    for (long i = 0; i < facilities; i++, k++) {
        long dist = i % districts;
        snprintf(name, sizeof name, "Facility %ld", i + 1);
        snprintf(code, sizeof code, "OU_F%ld", i + 1);
        o = obj(ous, &bad, uid(&r, ou_ids[k]), code, name);
        add_str(o, &bad, "openingDate", "1990-01-01T00:00:00.000");
        ref(o, &bad, "parent", ou_ids[1 + regions + dist]);
    }

    static const struct {
        const char *code, *name, *pt;
        bool quarterly;
    } ds_defs[] = {
        {"DS_MONTHLY", "Facility Monthly Report", "Monthly", false},
        {"DS_QUARTERLY", "Quarterly Programme Report", "Quarterly", true},
    };
    for (int d = 0; d < 2; d++) {
        o = obj(dss, &bad, uid(&r, id), ds_defs[d].code, ds_defs[d].name);
        add_str(o, &bad, "periodType", ds_defs[d].pt);
        ref(o, &bad, "categoryCombo", ds_defs[d].quarterly ? funding.cc : def.cc);
        cJSON *dse = refs(o, &bad, "dataSetElements");
        for (int i = 0; i < N_DE; i++) {
            if (de_defs[i].quarterly != ds_defs[d].quarterly)
                continue;
            cJSON *x = cJSON_CreateObject();
            if (!x || !cJSON_AddItemToArray(dse, x)) {
                cJSON_Delete(x);
                bad = true;
                continue;
            }
            ref(x, &bad, "dataElement", de_ids[i]);
        }
        cJSON *l = refs(o, &bad, "organisationUnits");
        for (long f = first_facility; f < k; f++)
            add_ref(l, &bad, ou_ids[f]);
    }
    free(ou_ids);
    add_bulk(root, dss, des, degs, cfg->gen_objects, &r, &bad);
    if (bad) {
        cJSON_Delete(root);
        return err_set(e, ERR_INTERNAL, "generate: out of memory");
    }
    *out = root;
    return 0;
}

static const char *words[] = {"ok", "checked", "late report", "stock received", "verified",
                              "estimated", "supervision visit", "power outage", "recount"};

static const char *make_value(struct store *st, struct rng *r, const struct md_de *de, bool *oom)
{
    char v[64];
    switch (de->vt) {
    case VT_NUMBER:
        snprintf(v, sizeof v, "%d.%d", 2 + (int)below(r, 3), (int)below(r, 10));
        break;
    case VT_BOOLEAN:
        snprintf(v, sizeof v, "%s", below(r, 2) ? "true" : "false");
        break;
    case VT_TEXT:
    case VT_LONG_TEXT:
        snprintf(v, sizeof v, "%s", words[below(r, sizeof words / sizeof words[0])]);
        break;
    default:
        /* zero only where it is significant: DHIS2 would not have stored it otherwise */
        snprintf(v, sizeof v, "%d", (int)below(r, de->zero_significant ? 20 : 500) + (de->zero_significant ? 0 : 1));
    }
    return store_text(st, v, oom);
}

struct gen_set {
    int ds;
    int *facilities, n_fac;
    int first_pe, n_pe;   /* interned period indexes, consecutive */
    long slots_per_pe_fac;
};

int generate_values(struct emu *emu, struct err *e)
{
    struct metadata *md = &emu->md;
    struct store *st = &emu->st;
    long n = emu->cfg.gen_values;
    if (n <= 0 || md->n_ds == 0)
        return 0;
    struct rng r = {emu->cfg.gen_seed ^ 0xD1B54A32D192ED03ULL};
    struct gen_set *sets = calloc((size_t)md->n_ds, sizeof *sets);
    int rc = -1;
    if (!sets)
        goto oom;
    /* Slots per day of history, to size the history so that N values fill ~80% of it. */
    double per_day = 0;
    for (int d = 0; d < md->n_ds; d++) {
        struct gen_set *g = &sets[d];
        const struct md_ds *ds = &md->ds[d];
        g->ds = d;
        if (!(g->facilities = calloc((size_t)md->n_ou + 1, sizeof(int))))
            goto oom;
        for (int u = 0; u < md->n_ou; u++)
            if (md->ou[u].last == md->ou[u].pre && ((ds->ou_bits[u / 8] >> (u % 8)) & 1))
                g->facilities[g->n_fac++] = u;
        for (int i = 0; i < ds->n_des; i++)
            g->slots_per_pe_fac += md->cc[md->de[ds->des[i]].cc].n_cocs;
        g->slots_per_pe_fac *= md->cc[ds->cc].n_cocs;
        struct period p;
        period_containing(ds->pt, date_today(), &p);
        per_day += (double)g->n_fac * (double)g->slots_per_pe_fac / (p.end - p.start + 1);
    }
    if (per_day <= 0) {
        rc = 0;
        goto out;
    }
    double days = (double)n * 1.25 / per_day;
    if (days < 365)
        days = 365;
    if (days > 36500)
        days = 36500;
    long total = 0;
    for (int d = 0; d < md->n_ds; d++) {
        struct gen_set *g = &sets[d];
        struct period p;
        period_containing(md->ds[d].pt, date_today(), &p);
        int k = (int)(days / (p.end - p.start + 1)) + 1;
        struct period *list = calloc((size_t)k, sizeof *list);
        if (!list)
            goto oom;
        period_last_n(md->ds[d].pt, date_today(), k, list);
        g->first_pe = st->n_pe;
        for (int i = 0; i < k; i++) {
            char iso[PERIOD_ISO_MAX];
            period_format(&list[i], iso, sizeof iso);
            if (store_period(st, iso) < 0) {
                free(list);
                goto oom;
            }
        }
        free(list);
        g->n_pe = st->n_pe - g->first_pe;
        total += (long)g->n_pe * g->n_fac * g->slots_per_pe_fac;
    }
    if (n > total) {
        log_warn("generate: only %ld value slots exist for %d org units; generating %ld values", total,
                 md->n_ou, total);
        n = total;
    }
    if (store_reserve(st, (size_t)n))
        goto oom;
    int64_t now = now_ms();
    const char *who[2] = {store_who(st, "admin"), store_who(st, "data.clerk")};
    if (!who[0] || !who[1])
        goto oom;
    long seen = 0, chosen = 0;
    for (int d = 0; d < md->n_ds; d++) {
        const struct gen_set *g = &sets[d];
        const struct md_ds *ds = &md->ds[d];
        const struct md_cc *acc = &md->cc[ds->cc];
        for (int pi = 0; pi < g->n_pe; pi++) {
            int pe = g->first_pe + pi;
            /* entered within ten days after the period ended, but never in the future */
            int64_t base = ((int64_t)st->pe[pe].end + 1) * 86400000LL;
            for (int f = 0; f < g->n_fac; f++)
                for (int i = 0; i < ds->n_des; i++) {
                    const struct md_de *de = &md->de[ds->des[i]];
                    const struct md_cc *cc = &md->cc[de->cc];
                    for (int c = 0; c < cc->n_cocs; c++)
                        for (int a = 0; a < acc->n_cocs; a++) {
                            /* algorithm S: choose with probability (needed / remaining) */
                            long remaining = total - seen++;
                            if ((long)below(&r, (uint64_t)remaining) >= n - chosen)
                                continue;
                            chosen++;
                            struct dv v = {0};
                            v.de = ds->des[i];
                            v.pe = pe;
                            v.ou = g->facilities[f];
                            v.coc = cc->cocs[c];
                            v.aoc = acc->cocs[a];
                            v.stored_by = who[below(&r, 4) == 0];
                            v.created = base + (int64_t)below(&r, 10 * 86400) * 1000;
                            if (v.created > now - 60000)
                                v.created = now - 60000 - (int64_t)below(&r, 3600) * 1000;
                            v.updated = v.created;
                            bool oom = false;
                            if (below(&r, 50) == 0)
                                v.comment = words[below(&r, sizeof words / sizeof words[0])];
                            v.followup = below(&r, 200) == 0;
                            v.value = make_value(st, &r, de, &oom);
                            if (oom || store_add(st, &v))
                                goto oom;
                        }
                }
        }
    }
    rc = 0;
    goto out;
oom:
    err_set(e, ERR_INTERNAL, "generate: out of memory");
out:
    for (int d = 0; sets && d < md->n_ds; d++)
        free(sets[d].facilities);
    free(sets);
    return rc;
}
