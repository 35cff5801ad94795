#include "jobs.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cron.h"
#include "db.h"
#include "instances.h"
#include "mapping_registry.h"
#include "notify.h"
#include "sync_kind.h"
#include "validate.h"

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
    {"name", "Name"}, {"kind", "Kind"}, {"source", "Source"}, {"target", "Target"},
    {"mapping", "Mapping"}, {"incremental", "Incremental"}, {"deletions", "Deletions"},
    {"retryWindow", "Retry window"}, {"enabled", "Enabled"}, {"schedule", "Schedule"},
    {NULL, NULL},
};

/* c NULL: source and target are checked to be a name or an id, not looked up. */
static int validate(PGconn *c, const cJSON *body, struct job_input *out, struct err *e)
{
    memset(out, 0, sizeof *out);
    cJSON *spec = cJSON_CreateObject();
    if (!spec)
        return err_set(e, ERR_INTERNAL, "out of memory");
    bool incremental = false, deletions = false, enabled = true;
    long retry_window = 0;
    const char *kind_name = NULL;
    /* every check runs, so that a form can show all its errors at once */
    int rc = v_string(body, "", "name", true, 1, 200, &out->name, e);
    int kind_rc = v_string(body, "", "kind", false, 1, 40, &kind_name, e);
    const struct sync_kind *kind = kind_rc ? NULL : sync_kind_find(kind_name);
    if (kind_rc == 0 && !kind)
        kind_rc = err_field(e, "kind", "must be %s, not '%.40s'", sync_kind_names(), kind_name);
    rc = v_worse(rc, kind_rc);
    rc = v_worse(rc, resolve_instance_field(c, body, "source", &out->source_id, e));
    rc = v_worse(rc, resolve_instance_field(c, body, "target", &out->target_id, e));
    rc = v_worse(rc, v_string(body, "", "mapping", false, 1, 100, &out->mapping, e));
    if (out->mapping && !mapping_name_valid(out->mapping))
        rc = v_worse(rc, err_field(e, "mapping", "must be a mapping file name: letters, digits, _ and -"));
    if (kind) {
        cJSON_AddStringToObject(spec, "kind", kind->name);
        if (e->fields)
            e->fields->more_labels = kind->labels;
        rc = v_worse(rc, kind->validate(body, spec, e));
    }
    rc = v_worse(rc, v_bool(body, "", "incremental", false, &incremental, e));
    rc = v_worse(rc, v_bool(body, "", "deletions", false, &deletions, e));
    /* a nightly job must ride out a DHIS2 restart (2-5 minutes is normal) by itself */
    rc = v_worse(rc, v_int(body, "", "retryWindow", JOB_RETRY_WINDOW_S, 0, 86400, &retry_window, e));
    rc = v_worse(rc, v_bool(body, "", "enabled", true, &enabled, e));
    rc = v_worse(rc, v_string(body, "", "schedule", false, 1, 100, &out->schedule, e));
    cJSON_AddBoolToObject(spec, "incremental", incremental);
    cJSON_AddBoolToObject(spec, "deletions", deletions);
    cJSON_AddNumberToObject(spec, "retryWindow", (double)retry_window);
    const cJSON *notify = cJSON_GetObjectItemCaseSensitive(body, "notify");
    if (notify && !cJSON_IsNull(notify)) {
        cJSON *checked = notify_validate(notify, e);
        if (checked)
            cJSON_AddItemToObject(spec, "notify", checked);
        else
            rc = v_worse(rc, e->code);
    }
    out->enabled = enabled;
    if (out->schedule) {
        struct cron cron;
        struct err ce = {0};
        if (cron_parse(out->schedule, &cron, &ce) != 0)
            rc = v_worse(rc, err_field(e, "schedule", "is not a cron expression: %s", ce.msg));
        else if ((out->next_run = cron_next(&cron, time(NULL))) == -1)
            rc = v_worse(rc, err_field(e, "schedule", "'%s' is never due (no such day in the next ten years)",
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
