#include "tracker_job.h"

#include <stdlib.h>
#include <string.h>

#include "period.h"
#include "validate.h"

const char *const tracker_job_labels[][2] = {
    {"programs", "Programs"}, {"orgUnits", "Org units"}, {"children", "Children"},
    {"occurredAfter", "Occurred after"}, {"importOptions", "Import options"},
    {"importOptions.atomicMode", "Atomic mode"}, {"importOptions.batchSize", "Batch size"},
    {"importOptions.dryRun", "Dry run"}, {"importOptions.async", "Async"},
    {NULL, NULL},
};

static const char *const atomic_modes[] = {"OBJECT", "ALL", NULL};

/* Keeps the first failure: every check still runs so that a form shows all its errors. */
static int first(int rc, int next)
{
    return rc ? rc : next;
}

static int required_uids(const cJSON *body, const char *key, const char *what, cJSON *spec,
                         struct err *e)
{
    const cJSON *list;
    int rc = v_uid_array(body, "", key, &list, e);
    if (rc)
        return rc;
    if (cJSON_GetArraySize(list) == 0)
        return err_field(e, key, "must name at least one %s", what);
    cJSON *copy = cJSON_Duplicate(list, 1);
    if (!copy || !cJSON_AddItemToObject(spec, key, copy)) {
        cJSON_Delete(copy);
        return err_set(e, ERR_INTERNAL, "out of memory");
    }
    return 0;
}

static int import_options(const cJSON *body, cJSON *spec, struct err *e)
{
    const cJSON *opts = cJSON_GetObjectItemCaseSensitive(body, "importOptions");
    if (opts && !cJSON_IsNull(opts) && !cJSON_IsObject(opts))
        return err_field(e, "importOptions", "must be an object");
    const char *atomic;
    bool dry_run = false, async = false;
    long batch = 0;
    int rc = v_enum(opts, "importOptions.", "atomicMode", atomic_modes, "OBJECT", &atomic, e);
    rc = first(rc, v_int(opts, "importOptions.", "batchSize", TRACKER_BATCH_DEFAULT, 1,
                         TRACKER_BATCH_MAX, &batch, e));
    rc = first(rc, v_bool(opts, "importOptions.", "dryRun", false, &dry_run, e));
    rc = first(rc, v_bool(opts, "importOptions.", "async", false, &async, e));
    if (rc)
        return rc;
    cJSON *out = cJSON_AddObjectToObject(spec, "importOptions");
    if (!out || !cJSON_AddStringToObject(out, "atomicMode", atomic) ||
        !cJSON_AddNumberToObject(out, "batchSize", (double)batch) ||
        !cJSON_AddBoolToObject(out, "dryRun", dry_run) ||
        !cJSON_AddBoolToObject(out, "async", async))
        return err_set(e, ERR_INTERNAL, "out of memory");
    return 0;
}

int tracker_job_validate(const cJSON *body, cJSON *spec, struct err *e)
{
    int rc = required_uids(body, "programs", "event or tracker program", spec, e);
    rc = first(rc, required_uids(body, "orgUnits", "org unit", spec, e));
    bool children = false;
    int crc = v_bool(body, "", "children", false, &children, e);
    if (!crc && !cJSON_AddBoolToObject(spec, "children", children))
        crc = err_set(e, ERR_INTERNAL, "out of memory");
    rc = first(rc, crc);
    const char *after;
    int arc = v_string(body, "", "occurredAfter", false, 10, 10, &after, e);
    int32_t days;
    if (!arc && after && (date_parse(after, &days) != 0 || after[4] != '-' || after[7] != '-'))
        arc = err_field(e, "occurredAfter", "must be a date, yyyy-MM-dd");
    if (!arc && after && !cJSON_AddStringToObject(spec, "occurredAfter", after))
        arc = err_set(e, ERR_INTERNAL, "out of memory");
    rc = first(rc, arc);
    return first(rc, import_options(body, spec, e));
}

static const char **uid_list(const cJSON *spec, const char *key)
{
    const cJSON *list = cJSON_GetObjectItemCaseSensitive(spec, key);
    int n = cJSON_GetArraySize(list);
    const char **out = calloc((size_t)n + 1, sizeof *out);
    if (!out)
        return NULL;
    int i = 0;
    const cJSON *item;
    cJSON_ArrayForEach(item, list)
    {
        if (cJSON_IsString(item))
            out[i++] = item->valuestring;
    }
    return out;
}

static bool flag(const cJSON *o, const char *key)
{
    return cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(o, key));
}

int tracker_job_read(const cJSON *spec, struct tracker_job *out, struct err *e)
{
    memset(out, 0, sizeof *out);
    const char **programs = uid_list(spec, "programs");
    const char **org_units = uid_list(spec, "orgUnits");
    out->programs = programs;
    out->org_units = org_units;
    if (!programs || !org_units) {
        tracker_job_free(out);
        return err_set(e, ERR_INTERNAL, "out of memory");
    }
    if (!programs[0] || !org_units[0]) {
        tracker_job_free(out);
        return err_set(e, ERR_INPUT, "the tracker job names no program or no org unit");
    }
    out->children = flag(spec, "children");
    out->deletions = flag(spec, "deletions");
    const cJSON *after = cJSON_GetObjectItemCaseSensitive(spec, "occurredAfter");
    out->occurred_after = cJSON_IsString(after) ? after->valuestring : NULL;
    const cJSON *opts = cJSON_GetObjectItemCaseSensitive(spec, "importOptions");
    const cJSON *atomic = cJSON_GetObjectItemCaseSensitive(opts, "atomicMode");
    out->atomic_all = cJSON_IsString(atomic) && strcmp(atomic->valuestring, "ALL") == 0;
    const cJSON *batch = cJSON_GetObjectItemCaseSensitive(opts, "batchSize");
    out->batch_size = cJSON_IsNumber(batch) && batch->valueint >= 1 && batch->valueint <= TRACKER_BATCH_MAX
                          ? batch->valueint
                          : TRACKER_BATCH_DEFAULT;
    out->dry_run = flag(opts, "dryRun");
    out->async = flag(opts, "async");
    return 0;
}

void tracker_job_free(struct tracker_job *j)
{
    free((void *)j->programs);
    free((void *)j->org_units);
    j->programs = j->org_units = NULL;
}
