#include "meta_job.h"

#include <stdio.h>
#include <string.h>

#include "dhis2.h"
#include "validate.h"

enum { MAX_IDS = 10000, MAX_FILTERS = 20, MAX_FILTER_CHARS = 500 };

static const char *const atomic_modes[] = {"ALL", "NONE", NULL};
static const char *const strippable[] = {"sharing", "users", "organisationUnits", NULL};

const char *const meta_job_labels[][2] = {
    {"objects", "Objects"}, {"dependencies", "Dependencies"}, {"strip", "Strip"},
    {"importOptions", "Import options"}, {"importOptions.importStrategy", "Import strategy"},
    {"importOptions.atomicMode", "Atomic mode"}, {"importOptions.dryRun", "Dry run"},
    {"importOptions.async", "Async"}, {"importOptions.asyncTimeout", "Async timeout"},
    {"importOptions.batchSize", "Batch size"}, {NULL, NULL},
};

/* A DHIS2 filter "property:operator[:value]": property a dotted path, operator letters or !. */
static bool filter_valid(const char *f)
{
    size_t prop = strspn(f, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_.");
    if (prop == 0 || f[prop] != ':')
        return false;
    size_t op = strspn(f + prop + 1, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ!$");
    char end = f[prop + 1 + op];
    return op > 0 && (end == ':' || end == '\0');
}

static int check_filters(const cJSON *v, const char *field, struct err *e)
{
    const cJSON *list = cJSON_GetObjectItemCaseSensitive(v, "filter");
    if (!cJSON_IsObject(v) || cJSON_GetArraySize(v) != 1 || !cJSON_IsArray(list) ||
        cJSON_GetArraySize(list) < 1 || cJSON_GetArraySize(list) > MAX_FILTERS)
        return err_field(e, field, "must be a list of ids, \"all\" or {\"filter\":[…]} with 1 to %d "
                         "DHIS2 filters", MAX_FILTERS);
    const cJSON *f;
    cJSON_ArrayForEach(f, list)
    {
        if (!cJSON_IsString(f) || strlen(f->valuestring) > MAX_FILTER_CHARS ||
            !filter_valid(f->valuestring))
            return err_field(e, field, "filter '%.60s' is not a DHIS2 filter (property:operator:value, "
                             "e.g. code:like:ANC)", cJSON_IsString(f) ? f->valuestring : "?");
    }
    return 0;
}

/* One entry of `objects`, copied into out when good. */
static int check_selection(const cJSON *v, cJSON *out, struct err *e)
{
    char field[64];
    snprintf(field, sizeof field, "objects.%s", v->string);
    if (!meta_type_find(v->string))
        return err_field(e, field, "is not a metadata type dhis2sync copies (dataSets, dataElements, "
                         "categoryCombos, optionSets, organisationUnits, programs, …)");
    int rc = 0;
    if (cJSON_IsString(v)) {
        if (strcmp(v->valuestring, "all") != 0)
            rc = err_field(e, field, "must be a list of ids, \"all\" or {\"filter\":[…]}");
    } else if (cJSON_IsArray(v)) {
        int n = cJSON_GetArraySize(v);
        const cJSON *id;
        cJSON_ArrayForEach(id, v)
        {
            if (!cJSON_IsString(id) || !uid_valid(id->valuestring)) {
                rc = err_field(e, field, "'%.20s' is not a DHIS2 id (11 characters, a letter first)",
                               cJSON_IsString(id) ? id->valuestring : "?");
                break;
            }
        }
        if (rc == 0 && (n < 1 || n > MAX_IDS))
            rc = err_field(e, field, "must list 1 to %d ids", MAX_IDS);
    } else {
        rc = check_filters(v, field, e);
    }
    if (rc)
        return rc;
    cJSON *copy = cJSON_Duplicate(v, 1);
    if (!copy)
        return err_set(e, ERR_INTERNAL, "out of memory");
    cJSON_AddItemToObject(out, v->string, copy);
    return 0;
}

static int check_objects(const cJSON *body, cJSON *spec, struct err *e)
{
    const cJSON *objects = cJSON_GetObjectItemCaseSensitive(body, "objects");
    if (!cJSON_IsObject(objects) || !objects->child)
        return err_field(e, "objects", "is required: the metadata to copy by type, e.g. "
                         "{\"dataSets\":[\"BfMAe6Itzgt\"],\"optionSets\":\"all\"}");
    if (cJSON_GetArraySize(objects) > META_MAX_SELECTIONS)
        return err_field(e, "objects", "names more than %d types", META_MAX_SELECTIONS);
    cJSON *out = cJSON_AddObjectToObject(spec, "objects");
    if (!out)
        return err_set(e, ERR_INTERNAL, "out of memory");
    int rc = 0;
    const cJSON *v;
    cJSON_ArrayForEach(v, objects)
    {
        if (cJSON_GetObjectItemCaseSensitive(out, v->string))
            rc = v_worse(rc, err_field(e, "objects", "names %.60s twice", v->string));
        else
            rc = v_worse(rc, check_selection(v, out, e));
    }
    return rc;
}

static int check_strip(const cJSON *body, cJSON *spec, struct err *e)
{
    const cJSON *strip = cJSON_GetObjectItemCaseSensitive(body, "strip");
    cJSON *out = cJSON_AddArrayToObject(spec, "strip");
    if (!out)
        return err_set(e, ERR_INTERNAL, "out of memory");
    if (!strip || cJSON_IsNull(strip)) {
        cJSON_AddItemToArray(out, cJSON_CreateString("sharing"));
        cJSON_AddItemToArray(out, cJSON_CreateString("users"));
        return 0;
    }
    if (!cJSON_IsArray(strip))
        return err_field(e, "strip", "must be a list of \"sharing\", \"users\", \"organisationUnits\"");
    const cJSON *s;
    cJSON_ArrayForEach(s, strip)
    {
        size_t i = 0;
        while (strippable[i] && !(cJSON_IsString(s) && strcmp(s->valuestring, strippable[i]) == 0))
            i++;
        if (!strippable[i])
            return err_field(e, "strip", "'%.30s' is none of \"sharing\", \"users\", "
                             "\"organisationUnits\"", cJSON_IsString(s) ? s->valuestring : "?");
        cJSON_AddItemToArray(out, cJSON_CreateString(strippable[i]));
    }
    return 0;
}

static int check_import_options(const cJSON *body, cJSON *spec, struct err *e)
{
    const cJSON *opts = cJSON_GetObjectItemCaseSensitive(body, "importOptions");
    if (opts && !cJSON_IsNull(opts) && !cJSON_IsObject(opts))
        return err_field(e, "importOptions", "must be an object");
    const char *strategy, *atomic;
    bool dry_run = false, async = false;
    long batch = 0, timeout = 0;
    const char *p = "importOptions.";
    int rc = v_enum(opts, p, "importStrategy", dhis2_import_strategies, "CREATE_AND_UPDATE", &strategy, e);
    rc |= v_enum(opts, p, "atomicMode", atomic_modes, "ALL", &atomic, e);
    rc |= v_bool(opts, p, "dryRun", false, &dry_run, e);
    rc |= v_bool(opts, p, "async", false, &async, e);
    rc |= v_int(opts, p, "asyncTimeout", 1800, 1, 7 * 86400, &timeout, e);
    rc |= v_int(opts, p, "batchSize", 1000, 1, 50000, &batch, e);
    if (rc)
        return ERR_INPUT;
    cJSON *out = cJSON_AddObjectToObject(spec, "importOptions");
    if (!out)
        return err_set(e, ERR_INTERNAL, "out of memory");
    cJSON_AddStringToObject(out, "importStrategy", strategy);
    cJSON_AddStringToObject(out, "atomicMode", atomic);
    cJSON_AddBoolToObject(out, "dryRun", dry_run);
    cJSON_AddBoolToObject(out, "async", async);
    cJSON_AddNumberToObject(out, "asyncTimeout", (double)timeout);
    cJSON_AddNumberToObject(out, "batchSize", (double)batch);
    return 0;
}

int meta_job_validate(const cJSON *body, cJSON *spec, struct err *e)
{
    bool dependencies = true;
    /* every check runs, so that a form can show all its errors at once; incremental and
     * deletions are every kind's, checked by jobs.c */
    int rc = check_objects(body, spec, e);
    rc = v_worse(rc, v_bool(body, "", "dependencies", true, &dependencies, e));
    rc = v_worse(rc, check_strip(body, spec, e));
    rc = v_worse(rc, check_import_options(body, spec, e));
    if (!cJSON_AddBoolToObject(spec, "dependencies", dependencies))
        return err_set(e, ERR_INTERNAL, "out of memory");
    return rc;
}

static bool flag(const cJSON *o, const char *key)
{
    return cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(o, key));
}

static long number(const cJSON *o, const char *key, long fallback)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, key);
    return cJSON_IsNumber(v) && v->valuedouble >= 1 && v->valuedouble <= 1e9 ? (long)v->valuedouble
                                                                           : fallback;
}

int meta_job_read(const cJSON *spec, struct meta_job *out, struct err *e)
{
    memset(out, 0, sizeof *out);
    const cJSON *objects = cJSON_GetObjectItemCaseSensitive(spec, "objects");
    const cJSON *opts = cJSON_GetObjectItemCaseSensitive(spec, "importOptions");
    const cJSON *v;
    cJSON_ArrayForEach(v, (cJSON_IsObject(objects) ? objects : NULL))
    {
        struct meta_selection *s = &out->sel[out->n_sel];
        if (out->n_sel == META_MAX_SELECTIONS || !(s->type = meta_type_find(v->string)))
            return err_set(e, ERR_INPUT, "the job's objects.%.60s is not a metadata type", v->string);
        s->list = v;
        s->how = cJSON_IsArray(v) ? META_SELECT_IDS : cJSON_IsString(v) ? META_SELECT_ALL
                                                                        : META_SELECT_FILTER;
        if (s->how == META_SELECT_FILTER)
            s->list = cJSON_GetObjectItemCaseSensitive(v, "filter");
        out->n_sel++;
    }
    if (!out->n_sel)
        return err_set(e, ERR_INPUT, "the job names no objects to copy");
    out->dependencies = flag(spec, "dependencies");
    out->incremental = flag(spec, "incremental");
    out->deletions = flag(spec, "deletions");
    const cJSON *s;
    cJSON_ArrayForEach(s, cJSON_GetObjectItemCaseSensitive(spec, "strip"))
    {
        const char *name = cJSON_IsString(s) ? s->valuestring : "";
        out->strip_sharing |= strcmp(name, "sharing") == 0;
        out->strip_users |= strcmp(name, "users") == 0;
        out->strip_org_units |= strcmp(name, "organisationUnits") == 0;
    }
    const cJSON *strategy = cJSON_GetObjectItemCaseSensitive(opts, "importStrategy");
    out->import_strategy = cJSON_IsString(strategy) ? strategy->valuestring : "CREATE_AND_UPDATE";
    const cJSON *atomic = cJSON_GetObjectItemCaseSensitive(opts, "atomicMode");
    out->atomic_all = !cJSON_IsString(atomic) || strcmp(atomic->valuestring, "NONE") != 0;
    out->dry_run = flag(opts, "dryRun");
    out->async = flag(opts, "async");
    out->async_timeout_s = number(opts, "asyncTimeout", 1800);
    out->batch_size = number(opts, "batchSize", 1000);
    return 0;
}

const struct meta_selection *meta_job_selects(const struct meta_job *j, const struct meta_type *t)
{
    for (size_t i = 0; i < j->n_sel; i++)
        if (j->sel[i].type == t)
            return &j->sel[i];
    return NULL;
}
