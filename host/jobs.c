#include "jobs.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cron.h"
#include "db.h"
#include "instances.h"
#include "mapping_registry.h"
#include "notify.h"
#include "period.h"
#include "validate.h"

static const char *const import_strategies[] = {"CREATE_AND_UPDATE", "CREATE", "UPDATE", "DELETE", NULL};

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
    int rc = v_enum(opts, "importOptions.", "importStrategy", import_strategies, "CREATE_AND_UPDATE",
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

static int resolve_instance_field(PGconn *c, const cJSON *body, const char *key, long long *id,
                                  struct err *e)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(body, key);
    char ref[32];
    const char *text = NULL;
    if (cJSON_IsString(v)) {
        text = v->valuestring;
    } else if (cJSON_IsNumber(v) && v->valuedouble >= 1) {
        snprintf(ref, sizeof ref, "%.0f", v->valuedouble);
        text = ref;
    }
    if (!text)
        return err_field(e, key, "is required: an instance's name or id");
    if (!c)
        return 0;  /* job_validate_body: the shape only */
    struct err why = {0};
    int rc = instance_resolve(c, text, id, &why);
    if (rc == ERR_NOT_FOUND)
        return err_field(e, key, "names no instance '%.100s'", text);
    if (rc) { /* the database's failure, not the input's */
        why.fields = e->fields;
        *e = why;
    }
    return rc;
}

const char *const job_field_labels[][2] = {
    {"name", "Name"}, {"source", "Source"}, {"target", "Target"}, {"mapping", "Mapping"},
    {"dataSets", "Data sets"}, {"dataElementGroups", "Data element groups"},
    {"orgUnits", "Org units"}, {"children", "Children"}, {"periods", "Periods"},
    {"periods.last", "The number of periods"}, {"periods.type", "Period type"},
    {"periods.fixed", "Fixed periods"}, {"periods.start", "Start date"}, {"periods.end", "End date"},
    {"incremental", "Incremental"}, {"deletions", "Deletions"}, {"enabled", "Enabled"},
    {"schedule", "Schedule"}, {"retryWindow", "Retry window"}, {"importOptions", "Import options"},
    {"importOptions.importStrategy", "Import strategy"}, {"importOptions.dryRun", "Dry run"},
    {"importOptions.skipExistingCheck", "Skip existing check"}, {"importOptions.async", "Async"},
    {"importOptions.batchSize", "Batch size"}, {"importOptions.asyncTimeout", "Async timeout"},
    {"importOptions.idScheme", "ID scheme"},
    {"importOptions.dataElementIdScheme", "Data element ID scheme"},
    {"importOptions.orgUnitIdScheme", "Org unit ID scheme"},
    {"importOptions.categoryOptionComboIdScheme", "Category option combo ID scheme"},
    {NULL, NULL},
};

/* Of two results, the one to report: a failure that is not the input's (the database, memory)
 * over an input error, an input error over success. */
static int worse(int a, int b)
{
    if (a && a != ERR_INPUT)
        return a;
    return b ? b : a;
}

/* c NULL: source and target are checked to be a name or an id, not looked up. */
static int validate(PGconn *c, const cJSON *body, struct job_input *out, struct err *e)
{
    memset(out, 0, sizeof *out);
    cJSON *spec = cJSON_CreateObject();
    if (!spec)
        return err_set(e, ERR_INTERNAL, "out of memory");
    const cJSON *data_sets, *groups, *org_units;
    bool children = false, incremental = false, deletions = false, enabled = true;
    long retry_window = 0;
    /* every check runs, so that a form can show all its errors at once */
    int rc = v_string(body, "", "name", true, 1, 200, &out->name, e);
    rc = worse(rc, resolve_instance_field(c, body, "source", &out->source_id, e));
    rc = worse(rc, resolve_instance_field(c, body, "target", &out->target_id, e));
    rc = worse(rc, v_string(body, "", "mapping", false, 1, 100, &out->mapping, e));
    if (out->mapping && !mapping_name_valid(out->mapping))
        rc = worse(rc, err_field(e, "mapping", "must be a mapping file name: letters, digits, _ and -"));
    int lists = v_uid_array(body, "", "dataSets", &data_sets, e);
    lists = worse(lists, v_uid_array(body, "", "dataElementGroups", &groups, e));
    if (lists == 0 && cJSON_GetArraySize(data_sets) + cJSON_GetArraySize(groups) == 0)
        lists = err_field(e, "dataSets", "must name at least one data set or data element group");
    int roots = v_uid_array(body, "", "orgUnits", &org_units, e);
    if (roots == 0 && cJSON_GetArraySize(org_units) == 0)
        roots = err_field(e, "orgUnits", "must name at least one org unit");
    rc = worse(worse(rc, lists), roots);
    if (lists == 0 && roots == 0) {
        cJSON_AddItemToObject(spec, "dataSets", data_sets ? cJSON_Duplicate(data_sets, 1) : cJSON_CreateArray());
        cJSON_AddItemToObject(spec, "dataElementGroups", groups ? cJSON_Duplicate(groups, 1) : cJSON_CreateArray());
        cJSON_AddItemToObject(spec, "orgUnits", cJSON_Duplicate(org_units, 1));
    }
    rc = worse(rc, v_bool(body, "", "children", false, &children, e));
    rc = worse(rc, normalise_periods(body, spec, e));
    rc = worse(rc, v_bool(body, "", "incremental", false, &incremental, e));
    rc = worse(rc, v_bool(body, "", "deletions", false, &deletions, e));
    rc = worse(rc, normalise_import_options(body, spec, e));
    rc = worse(rc, v_bool(body, "", "enabled", true, &enabled, e));
    rc = worse(rc, v_string(body, "", "schedule", false, 1, 100, &out->schedule, e));
    rc = worse(rc, v_int(body, "", "retryWindow", JOB_RETRY_WINDOW_S, 0, 86400, &retry_window, e));
    cJSON_AddNumberToObject(spec, "retryWindow", (double)retry_window);
    cJSON_AddBoolToObject(spec, "children", children);
    cJSON_AddBoolToObject(spec, "incremental", incremental);
    cJSON_AddBoolToObject(spec, "deletions", deletions);
    const cJSON *notify = cJSON_GetObjectItemCaseSensitive(body, "notify");
    if (notify && !cJSON_IsNull(notify)) {
        cJSON *checked = notify_validate(notify, e);
        if (checked)
            cJSON_AddItemToObject(spec, "notify", checked);
        else
            rc = worse(rc, e->code);
    }
    out->enabled = enabled;
    if (out->schedule) {
        struct cron cron;
        struct err ce = {0};
        if (cron_parse(out->schedule, &cron, &ce) != 0)
            rc = worse(rc, err_field(e, "schedule", "is not a cron expression: %s", ce.msg));
        else if ((out->next_run = cron_next(&cron, time(NULL))) == -1)
            rc = worse(rc, err_field(e, "schedule", "'%s' is never due (no such day in the next ten years)",
                                     out->schedule));
    }
    if (rc)
        goto fail;
    out->spec = spec;
    return 0;
fail:
    cJSON_Delete(spec);
    return rc;
}

int job_validate(PGconn *c, const cJSON *body, struct job_input *out, struct err *e)
{
    return validate(c, body, out, e);
}

int job_validate_body(const cJSON *body, struct job_input *out, struct err *e)
{
    return validate(NULL, body, out, e);
}

cJSON *job_as_input(PGconn *c, long long id, struct err *e)
{
    char idtext[24];
    snprintf(idtext, sizeof idtext, "%lld", id);
    const char *params[] = {idtext};
    PGresult *r = db_query(c,
                           "SELECT (spec || jsonb_build_object('name', name, 'source', source_id::text,"
                           " 'target', target_id::text, 'mapping', mapping, 'schedule', schedule,"
                           " 'enabled', enabled))::text FROM jobs WHERE id = $1",
                           1, params, e);
    if (!r)
        return NULL;
    cJSON *out = PQntuples(r) == 1 ? cJSON_Parse(PQgetvalue(r, 0, 0)) : NULL;
    if (!out)
        err_set(e, ERR_NOT_FOUND, "no job with id %lld", id);
    PQclear(r);
    return out;
}

int job_resolve(PGconn *c, const char *ref, long long *id, struct err *e)
{
    return db_find_id(c,
                      "SELECT id FROM jobs WHERE name = $1 OR "
                      "(id::text = $1 AND $1 ~ '^[0-9]{1,18}$') "
                      "ORDER BY (id::text = $1) DESC LIMIT 1",
                      ref, "job", id, e);
}

int job_load(PGconn *c, long long id, struct job *out, struct err *e)
{
    memset(out, 0, sizeof *out);
    char idtext[24];
    snprintf(idtext, sizeof idtext, "%lld", id);
    const char *params[] = {idtext};
    PGresult *r = db_query(c,
                           "SELECT name, source_id, target_id, mapping, spec::text, schedule, enabled "
                           "FROM jobs WHERE id = $1",
                           1, params, e);
    if (!r)
        return e->code;
    int rc = 0;
    if (PQntuples(r) != 1) {
        rc = err_set(e, ERR_NOT_FOUND, "no job with id %lld", id);
        goto out;
    }
    out->id = id;
    out->name = strdup(PQgetvalue(r, 0, 0));
    out->source_id = strtoll(PQgetvalue(r, 0, 1), NULL, 10);
    out->target_id = strtoll(PQgetvalue(r, 0, 2), NULL, 10);
    out->mapping = db_value(r, 0, 3) ? strdup(db_value(r, 0, 3)) : NULL;
    out->spec = cJSON_Parse(PQgetvalue(r, 0, 4));
    out->schedule = db_value(r, 0, 5) ? strdup(db_value(r, 0, 5)) : NULL;
    out->enabled = strcmp(PQgetvalue(r, 0, 6), "t") == 0;
    if (!out->name || !out->spec || (db_value(r, 0, 3) && !out->mapping) ||
        (db_value(r, 0, 5) && !out->schedule)) {
        rc = err_set(e, ERR_INTERNAL, "out of memory loading job %lld", id);
        job_free(out);
    }
out:
    PQclear(r);
    return rc;
}

void job_free(struct job *j)
{
    free(j->name);
    free(j->mapping);
    free(j->schedule);
    cJSON_Delete(j->spec);
    memset(j, 0, sizeof *j);
}
