/* dv_job.c — the fields of a data values job (data sets and data element groups, org unit
 * roots, periods, import options) and its preflight: the selection planned at the source, and
 * the ids the mapping writes looked up at the target. */
#include "dv_sync.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "dhis2.h"
#include "mapping.h"
#include "period.h"
#include "selection.h"
#include "validate.h"


static int check_id_scheme(const cJSON *opts, const char *key, const char **out, struct err *e)
{
    int rc = v_string(opts, "importOptions.", key, false, 1, 60, out, e);
    if (rc || !*out)
        return rc;
    if (strcmp(*out, "UID") == 0 || strcmp(*out, "CODE") == 0 || strcmp(*out, "NAME") == 0 ||
        (strncmp(*out, "ATTRIBUTE:", 10) == 0 && uid_valid(*out + 10)))
        return 0;
    char name[64];
    snprintf(name, sizeof name, "importOptions.%s", key);
    return err_field(e, name, "must be UID, CODE, NAME or ATTRIBUTE:<attribute id>");
}

static int normalise_import_options(const cJSON *body, cJSON *spec, struct err *e)
{
    const cJSON *opts = cJSON_GetObjectItemCaseSensitive(body, "importOptions");
    if (opts && !cJSON_IsNull(opts) && !cJSON_IsObject(opts))
        return err_field(e, "importOptions", "must be an object");
    const char *strategy, *schemes[4];
    static const char *const scheme_keys[] = {"idScheme", "dataElementIdScheme", "orgUnitIdScheme",
                                              "categoryOptionComboIdScheme"};
    bool dry_run = false, skip_existing = false, async = false;
    long batch = 0, async_timeout = 0;
    int rc = v_enum(opts, "importOptions.", "importStrategy", dhis2_import_strategies, "CREATE_AND_UPDATE",
                    &strategy, e);
    rc |= v_bool(opts, "importOptions.", "dryRun", false, &dry_run, e);
    rc |= v_bool(opts, "importOptions.", "skipExistingCheck", false, &skip_existing, e);
    rc |= v_bool(opts, "importOptions.", "async", false, &async, e);
    rc |= v_int(opts, "importOptions.", "batchSize", 5000, 1, 50000, &batch, e);
    rc |= v_int(opts, "importOptions.", "asyncTimeout", 1800, 1, 7 * 86400, &async_timeout, e);
    for (int i = 0; i < 4; i++)
        rc |= check_id_scheme(opts, scheme_keys[i], &schemes[i], e);
    if (rc)
        return ERR_INPUT;
    cJSON *out = cJSON_AddObjectToObject(spec, "importOptions");
    if (!out)
        return err_set(e, ERR_INTERNAL, "out of memory");
    cJSON_AddStringToObject(out, "importStrategy", strategy);
    for (int i = 0; i < 4; i++)
        if (schemes[i] || i == 0)
            cJSON_AddStringToObject(out, scheme_keys[i], schemes[i] ? schemes[i] : "UID");
    cJSON_AddBoolToObject(out, "dryRun", dry_run);
    cJSON_AddNumberToObject(out, "batchSize", (double)batch);
    cJSON_AddBoolToObject(out, "skipExistingCheck", skip_existing);
    cJSON_AddBoolToObject(out, "async", async);
    cJSON_AddNumberToObject(out, "asyncTimeout", (double)async_timeout);
    return 0;
}

static int normalise_periods(const cJSON *body, cJSON *spec, struct err *e)
{
    const cJSON *p = cJSON_GetObjectItemCaseSensitive(body, "periods");
    if (!p || cJSON_IsNull(p))
        return err_field(e, "periods", "is required: {\"last\":12,\"type\":\"Monthly\"}, "
                                       "{\"fixed\":[\"202401\"]} or {\"start\":\"2024-01-01\",\"end\":\"2024-12-31\"}");
    if (!cJSON_IsObject(p))
        return err_field(e, "periods", "must be an object");
    const cJSON *last = cJSON_GetObjectItemCaseSensitive(p, "last");
    const cJSON *fixed = cJSON_GetObjectItemCaseSensitive(p, "fixed");
    const cJSON *start = cJSON_GetObjectItemCaseSensitive(p, "start");
    int forms = (last != NULL) + (fixed != NULL) + (start != NULL);
    if (forms != 1)
        return err_field(e, "periods", "must have exactly one of last+type, fixed, or start+end");
    cJSON *out = cJSON_AddObjectToObject(spec, "periods");
    if (!out)
        return err_set(e, ERR_INTERNAL, "out of memory");
    int rc;
    if (last) {
        long n = 0;
        const char *type;
        /* a null `last` is no number of periods: nothing stands in for it */
        if (cJSON_IsNull(last))
            rc = err_field(e, "periods.last", "must be a whole number from 1 to 1000");
        else
            rc = v_int(p, "periods.", "last", 0, 1, 1000, &n, e);
        rc |= v_string(p, "periods.", "type", true, 1, 40, &type, e);
        enum period_type t = type ? period_type_from_name(type) : PERIOD_INVALID;
        if (type && t == PERIOD_INVALID)
            rc = err_field(e, "periods.type", "must be a DHIS2 period type (Monthly, Quarterly, Weekly, "
                           "Yearly, FinancialApril...), not '%s'", type);
        if (rc)
            return ERR_INPUT;
        cJSON_AddNumberToObject(out, "last", (double)n);
        cJSON_AddStringToObject(out, "type", period_type_name(t));
    } else if (fixed) {
        if (!cJSON_IsArray(fixed) || cJSON_GetArraySize(fixed) < 1 || cJSON_GetArraySize(fixed) > 1000)
            return err_field(e, "periods.fixed", "must be a list of 1 to 1000 DHIS2 periods");
        cJSON *list = cJSON_AddArrayToObject(out, "fixed");
        const cJSON *item;
        cJSON_ArrayForEach(item, fixed)
        {
            struct period per;
            char iso[PERIOD_ISO_MAX];
            if (!cJSON_IsString(item) || period_parse(item->valuestring, &per) != 0 ||
                period_format(&per, iso, sizeof iso) < 0)
                return err_field(e, "periods.fixed", "must be DHIS2 periods (202401, 2024Q1, 2024W5, "
                                 "2024...), not '%.20s'", cJSON_IsString(item) ? item->valuestring : "?");
            cJSON_AddItemToArray(list, cJSON_CreateString(iso));
        }
    } else {
        const char *s, *en;
        int32_t ds = 0, de = 0;
        rc = v_string(p, "periods.", "start", true, 10, 10, &s, e);
        rc |= v_string(p, "periods.", "end", true, 10, 10, &en, e);
        if (s && date_parse(s, &ds) != 0)
            rc = err_field(e, "periods.start", "must be a date yyyy-MM-dd");
        if (en && date_parse(en, &de) != 0)
            rc = err_field(e, "periods.end", "must be a date yyyy-MM-dd");
        if (rc)
            return ERR_INPUT;
        if (de < ds)
            return err_field(e, "periods.end", "must not be before the start date");
        cJSON_AddStringToObject(out, "start", s);
        cJSON_AddStringToObject(out, "end", en);
    }
    return 0;
}

const char *const dv_job_labels[][2] = {
    {"dataSets", "Data sets"}, {"dataElementGroups", "Data element groups"},
    {"orgUnits", "Org units"}, {"children", "Children"}, {"periods", "Periods"},
    {"periods.last", "The number of periods"}, {"periods.type", "Period type"},
    {"periods.fixed", "Fixed periods"}, {"periods.start", "Start date"}, {"periods.end", "End date"},
    {"importOptions", "Import options"},
    {"importOptions.importStrategy", "Import strategy"}, {"importOptions.dryRun", "Dry run"},
    {"importOptions.skipExistingCheck", "Skip existing check"}, {"importOptions.async", "Async"},
    {"importOptions.batchSize", "Batch size"}, {"importOptions.asyncTimeout", "Async timeout"},
    {"importOptions.idScheme", "ID scheme"},
    {"importOptions.dataElementIdScheme", "Data element ID scheme"},
    {"importOptions.orgUnitIdScheme", "Org unit ID scheme"},
    {"importOptions.categoryOptionComboIdScheme", "Category option combo ID scheme"},
    {NULL, NULL},
};

int dv_job_validate(const cJSON *body, cJSON *spec, struct err *e)
{
    const cJSON *data_sets, *groups, *org_units;
    bool children = false;
    int lists = v_uid_array(body, "", "dataSets", &data_sets, e);
    lists = v_worse(lists, v_uid_array(body, "", "dataElementGroups", &groups, e));
    if (lists == 0 && cJSON_GetArraySize(data_sets) + cJSON_GetArraySize(groups) == 0)
        lists = err_field(e, "dataSets", "must name at least one data set or data element group");
    int roots = v_uid_array(body, "", "orgUnits", &org_units, e);
    if (roots == 0 && cJSON_GetArraySize(org_units) == 0)
        roots = err_field(e, "orgUnits", "must name at least one org unit");
    int rc = v_worse(lists, roots);
    if (lists == 0 && roots == 0) {
        cJSON_AddItemToObject(spec, "dataSets", data_sets ? cJSON_Duplicate(data_sets, 1) : cJSON_CreateArray());
        cJSON_AddItemToObject(spec, "dataElementGroups", groups ? cJSON_Duplicate(groups, 1) : cJSON_CreateArray());
        cJSON_AddItemToObject(spec, "orgUnits", cJSON_Duplicate(org_units, 1));
    }
    rc = v_worse(rc, v_bool(body, "", "children", false, &children, e));
    rc = v_worse(rc, normalise_periods(body, spec, e));
    rc = v_worse(rc, normalise_import_options(body, spec, e));
    cJSON_AddBoolToObject(spec, "children", children);
    return rc;
}

/* ---- preflight ---------------------------------------------------------------------------- */

/* The distinct ids one kind of a mapping's tables writes, as a JSON array. */
static int add_target(void *ud, const char *id)
{
    cJSON *ids = ud;
    if (!uid_valid(id))
        return 0; /* a code or a name: the import's id scheme decides what it means */
    const cJSON *it;
    cJSON_ArrayForEach(it, ids)
    {
        if (strcmp(it->valuestring, id) == 0)
            return 0;
    }
    cJSON *s = cJSON_CreateString(id);
    return s && cJSON_AddItemToArray(ids, s) ? 0 : -1;
}

static int drop_found(void *ud, const cJSON *item, struct err *e)
{
    (void)e;
    cJSON *ids = ud;
    const char *id = cJSON_GetStringValue(cJSON_GetObjectItem(item, "id"));
    for (int i = 0; id && i < cJSON_GetArraySize(ids); i++)
        if (strcmp(cJSON_GetArrayItem(ids, i)->valuestring, id) == 0)
            cJSON_DeleteItemFromArray(ids, i--);
    return 0;
}

/* Every id the job's mapping writes must exist at the target; asked in batches. */
static void check_mapping_ids(struct mapping *m, const char *name, struct dhis2_client *dst,
                              cJSON *problems)
{
    static const struct {
        enum map_kind kind;
        const char *collection, *what;
    } kinds[] = {
        {MAP_DE, "dataElements", "data elements"},
        {MAP_COC, "categoryOptionCombos", "category option combos"},
        {MAP_AOC, "categoryOptionCombos", "attribute option combos"},
        {MAP_OU, "organisationUnits", "org units"},
    };
    struct err e = {0};
    for (size_t k = 0; k < sizeof kinds / sizeof kinds[0]; k++) {
        cJSON *ids = cJSON_CreateArray();
        int rc = ids ? mapping_table_targets(m, kinds[k].kind, add_target, ids) : -1;
        if (rc == 0 && cJSON_GetArraySize(ids) > 0)
            rc = selection_list_in(dst, kinds[k].collection, "id", "id", ids, drop_found, ids, &e);
        if (rc == 0 && cJSON_GetArraySize(ids) > 0) {
            char some[200] = "";
            for (int i = 0; i < cJSON_GetArraySize(ids) && i < 5; i++)
                snprintf(some + strlen(some), sizeof some - strlen(some), "%s%s", i ? ", " : "",
                         cJSON_GetArrayItem(ids, i)->valuestring);
            int more = cJSON_GetArraySize(ids) - 5;
            sync_problem(problems, "error", "mapping", "Mapping '%s' writes %d %s the target does not have: %s%s",
                    name, cJSON_GetArraySize(ids), kinds[k].what, some, more > 0 ? ", ..." : "");
        } else if (rc) {
            sync_problem(problems, "error", "target", "Target cannot be asked for %s: %s", kinds[k].what,
                    e.msg[0] ? e.msg : "out of memory");
        }
        cJSON_Delete(ids);
        if (rc)
            break;
    }
}

static long long chunks_of(const struct selection *sel, const cJSON *spec)
{
    long long per_root = 0;
    for (size_t k = 0; k < sel->n_parts; k++) {
        long long n = sel->parts[k].periods ? 0 : 1;
        while (sel->parts[k].periods && sel->parts[k].periods[n])
            n++;
        per_root += n;
    }
    return per_root * cJSON_GetArraySize(cJSON_GetObjectItem(spec, "orgUnits"));
}

void dv_job_preflight(struct sync_preflight *p)
{
    struct selection sel = {0};
    struct err e = {0};
    if (p->source) {
        int rc = selection_plan(p->source, p->spec, date_today(), &sel, &e);
        if (rc == ERR_INPUT)
            sync_problem(p->problems, "error", "dataSets", "%s", e.msg);
        else if (rc)
            sync_problem(p->problems, "error", "source", "Source cannot be reached: %s", e.msg);
        const cJSON *it;
        cJSON_ArrayForEach(it, sel.refusals)
        {
            sync_problem(p->problems, "error", cJSON_GetStringValue(cJSON_GetObjectItem(it, "field")),
                         "Fixed periods %s", cJSON_GetStringValue(cJSON_GetObjectItem(it, "message")));
        }
        cJSON_ArrayForEach(it, sel.warnings)
        {
            sync_problem(p->problems, "warning", "periods", "%s", it->valuestring);
        }
        if (rc == 0)
            cJSON_AddNumberToObject(p->estimate, "chunks", (double)chunks_of(&sel, p->spec));
    }
    if (!cJSON_GetObjectItem(p->estimate, "chunks"))
        cJSON_AddNullToObject(p->estimate, "chunks");
    if (p->target && p->mapping_version)
        check_mapping_ids(p->mapping_version, p->mapping, p->target, p->problems);
    selection_free(&sel);
}
