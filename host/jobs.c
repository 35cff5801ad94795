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
    bool dry_run, skip_existing, async;
    long batch, async_timeout;
    int rc;
    if ((rc = v_enum(opts, "importOptions.", "importStrategy", import_strategies,
                     "CREATE_AND_UPDATE", &strategy, e)) ||
        (rc = v_bool(opts, "importOptions.", "dryRun", false, &dry_run, e)) ||
        (rc = v_bool(opts, "importOptions.", "skipExistingCheck", false, &skip_existing, e)) ||
        (rc = v_bool(opts, "importOptions.", "async", false, &async, e)) ||
        (rc = v_int(opts, "importOptions.", "batchSize", 5000, 1, 50000, &batch, e)) ||
        (rc = v_int(opts, "importOptions.", "asyncTimeout", 1800, 1, 7 * 86400, &async_timeout, e)))
        return rc;
    cJSON *out = cJSON_AddObjectToObject(spec, "importOptions");
    if (!out)
        return err_set(e, ERR_INTERNAL, "out of memory");
    cJSON_AddStringToObject(out, "importStrategy", strategy);
    for (int i = 0; i < 4; i++) {
        if ((rc = check_id_scheme(opts, scheme_keys[i], &schemes[i], e)))
            return rc;
        if (schemes[i] || i == 0)
            cJSON_AddStringToObject(out, scheme_keys[i], schemes[i] ? schemes[i] : "UID");
    }
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
        long n;
        const char *type;
        if ((rc = v_int(p, "periods.", "last", 12, 1, 1000, &n, e)) ||
            (rc = v_string(p, "periods.", "type", true, 1, 40, &type, e)))
            return rc;
        enum period_type t = period_type_from_name(type);
        if (t == PERIOD_INVALID)
            return err_field(e, "periods.type", "'%s' is not a DHIS2 period type (Monthly, Quarterly, "
                             "Weekly, Yearly, FinancialApril...)", type);
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
                return err_field(e, "periods.fixed", "'%.20s' is not a DHIS2 period (202401, 2024Q1, "
                                 "2024W5, 2024...)", cJSON_IsString(item) ? item->valuestring : "?");
            cJSON_AddItemToArray(list, cJSON_CreateString(iso));
        }
    } else {
        const char *s, *en;
        int32_t ds, de;
        if ((rc = v_string(p, "periods.", "start", true, 10, 10, &s, e)) ||
            (rc = v_string(p, "periods.", "end", true, 10, 10, &en, e)))
            return rc;
        if (date_parse(s, &ds) != 0)
            return err_field(e, "periods.start", "must be a date yyyy-MM-dd");
        if (date_parse(en, &de) != 0)
            return err_field(e, "periods.end", "must be a date yyyy-MM-dd");
        if (de < ds)
            return err_field(e, "periods.end", "must not be before periods.start");
        cJSON_AddStringToObject(out, "start", s);
        cJSON_AddStringToObject(out, "end", en);
    }
    return 0;
}

/* The name or id given for key, into ref (kept in body or ref). */
static int instance_ref(const cJSON *body, const char *key, char ref[32], const char **text,
                        struct err *e)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(body, key);
    *text = NULL;
    if (cJSON_IsString(v)) {
        *text = v->valuestring;
    } else if (cJSON_IsNumber(v) && v->valuedouble >= 1) {
        snprintf(ref, 32, "%.0f", v->valuedouble);
        *text = ref;
    }
    return *text ? 0 : err_field(e, key, "is required: an instance's name or id");
}

static int resolve_instance_field(PGconn *c, const cJSON *body, const char *key, long long *id,
                                  struct err *e)
{
    char ref[32];
    const char *text;
    int rc = instance_ref(body, key, ref, &text, e);
    if (rc)
        return rc;
    rc = instance_resolve(c, text, id, e);
    if (rc == ERR_NOT_FOUND)
        return err_field(e, key, "no instance '%.100s'", text);
    return rc;
}

int job_validate(PGconn *c, const cJSON *body, struct job_input *out, struct err *e)
{
    int rc = job_validate_body(body, out, e);
    if (!rc && ((rc = resolve_instance_field(c, body, "source", &out->source_id, e)) ||
                (rc = resolve_instance_field(c, body, "target", &out->target_id, e)))) {
        cJSON_Delete(out->spec);
        out->spec = NULL;
    }
    return rc;
}

int job_validate_body(const cJSON *body, struct job_input *out, struct err *e)
{
    memset(out, 0, sizeof *out);
    cJSON *spec = cJSON_CreateObject();
    if (!spec)
        return err_set(e, ERR_INTERNAL, "out of memory");
    const cJSON *data_sets, *groups, *org_units;
    bool children, incremental, deletions, enabled;
    char ref[32];
    const char *text;
    int rc;
    if ((rc = v_string(body, "", "name", true, 1, 200, &out->name, e)) ||
        (rc = instance_ref(body, "source", ref, &text, e)) ||
        (rc = instance_ref(body, "target", ref, &text, e)) ||
        (rc = v_string(body, "", "mapping", false, 1, 100, &out->mapping, e)))
        goto fail;
    if (out->mapping && !mapping_name_valid(out->mapping)) {
        rc = err_field(e, "mapping", "must be a mapping file name: letters, digits, _ and -");
        goto fail;
    }
    if ((rc = v_uid_array(body, "", "dataSets", &data_sets, e)) ||
        (rc = v_uid_array(body, "", "dataElementGroups", &groups, e)) ||
        (rc = v_uid_array(body, "", "orgUnits", &org_units, e)))
        goto fail;
    if (cJSON_GetArraySize(data_sets) + cJSON_GetArraySize(groups) == 0) {
        rc = err_field(e, "dataSets", "name at least one data set or data element group");
        goto fail;
    }
    if (cJSON_GetArraySize(org_units) == 0) {
        rc = err_field(e, "orgUnits", "name at least one org unit");
        goto fail;
    }
    cJSON_AddItemToObject(spec, "dataSets", data_sets ? cJSON_Duplicate(data_sets, 1) : cJSON_CreateArray());
    cJSON_AddItemToObject(spec, "dataElementGroups", groups ? cJSON_Duplicate(groups, 1) : cJSON_CreateArray());
    cJSON_AddItemToObject(spec, "orgUnits", cJSON_Duplicate(org_units, 1));
    if ((rc = v_bool(body, "", "children", false, &children, e)) ||
        (rc = normalise_periods(body, spec, e)) ||
        (rc = v_bool(body, "", "incremental", false, &incremental, e)) ||
        (rc = v_bool(body, "", "deletions", false, &deletions, e)) ||
        (rc = normalise_import_options(body, spec, e)) ||
        (rc = v_bool(body, "", "enabled", true, &enabled, e)) ||
        (rc = v_string(body, "", "schedule", false, 1, 100, &out->schedule, e)))
        goto fail;
    cJSON_AddBoolToObject(spec, "children", children);
    cJSON_AddBoolToObject(spec, "incremental", incremental);
    cJSON_AddBoolToObject(spec, "deletions", deletions);
    const cJSON *notify = cJSON_GetObjectItemCaseSensitive(body, "notify");
    if (notify && !cJSON_IsNull(notify)) {
        cJSON *checked = notify_validate(notify, e);
        if (!checked) {
            rc = e->code;
            goto fail;
        }
        cJSON_AddItemToObject(spec, "notify", checked);
    }
    out->enabled = enabled;
    if (out->schedule) {
        struct cron cron;
        struct err ce = {0};
        if (cron_parse(out->schedule, &cron, &ce) != 0) {
            rc = err_field(e, "schedule", "%s", ce.msg);
            goto fail;
        }
        out->next_run = cron_next(&cron, time(NULL));
        if (out->next_run == -1) {
            rc = err_field(e, "schedule", "'%s' is never due (no such day in the next ten years)",
                           out->schedule);
            goto fail;
        }
    }
    out->spec = spec;
    return 0;
fail:
    cJSON_Delete(spec);
    return rc;
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
