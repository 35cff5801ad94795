/* /api/jobs — sync jobs, addressed by id or name; POST /api/jobs/{id}/run queues a run. */
#include <stdarg.h>
#include <stdio.h>
#include <strings.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "api.h"
#include "app.h"
#include "db.h"
#include "instances.h"
#include "log.h"
#include "mapping.h"
#include "mapping_registry.h"
#include "period.h"
#include "selection.h"
#include "sync_kind.h"
#include "validate.h"
#include "jobs.h"
#include "runs.h"
#include "worker.h"

static const char job_by_ref[] =
    "SELECT job_json(j) FROM jobs j WHERE j.name = $1 OR (j.id::text = $1 AND $1 ~ '^[0-9]{1,18}$') "
    "ORDER BY (j.id::text = $1) DESC LIMIT 1";

void api_jobs_list(struct app *app, struct http_req *rq, struct http_resp *rs)
{
    api_reply_page(app, rq, rs, "jobs", "job_json");
}

void api_jobs_get(struct app *app, struct http_req *rq, struct http_resp *rs)
{
    const char *params[] = {rq->params[0]};
    api_reply_query(app, rs, 200, job_by_ref, 1, params, "no such job");
}

/* A client for a stored instance, with a short timeout and no retries: a person is waiting. */
static struct dhis2_client *quick_client(struct app *app, PGconn *c, long long instance_id,
                                         struct instance *in, struct err *e)
{
    if (instance_load(c, &app->secret_key, instance_id, in, e))
        return NULL;
    struct dhis2_config cfg;
    instance_dhis2_config(in, &cfg);
    cfg.timeout_s = 20;
    cfg.max_retries = 0;
    return dhis2_client_new(&cfg, e);
}

/* Plans the job's selection against its source. */
static int plan_at_source(struct app *app, PGconn *c, long long source_id, const cJSON *spec,
                          struct selection *sel, struct err *e)
{
    struct instance in = {0};
    struct dhis2_client *src = quick_client(app, c, source_id, &in, e);
    int rc = src ? selection_plan(src, spec, date_today(), sel, e) : e->code;
    dhis2_client_free(src);
    instance_free(&in);
    return rc;
}

/* A fixed period list that serves no period of one of the job's data sets would read nothing
 * of it: refused, naming the data set. A source that cannot be asked now does not stop the
 * save; the run says what it could not read. */
static int check_fixed_periods(struct app *app, PGconn *c, const struct job_input *in, struct err *e)
{
    if (!cJSON_GetObjectItem(cJSON_GetObjectItem(in->spec, "periods"), "fixed"))
        return 0;
    struct selection sel = {0};
    struct err why = {0};
    if (plan_at_source(app, c, in->source_id, in->spec, &sel, &why) != 0) {
        log_info("job '%s': the fixed periods were not checked against the source: %s", in->name, why.msg);
    } else {
        const cJSON *r;
        cJSON_ArrayForEach(r, sel.refusals)
        {
            err_field(e, cJSON_GetStringValue(cJSON_GetObjectItem(r, "field")), "%s",
                      cJSON_GetStringValue(cJSON_GetObjectItem(r, "message")));
        }
    }
    selection_free(&sel);
    return e->code;
}

/* Validates a posted job, answering 422 with every field error when it is not valid. */
static int validated(PGconn *c, const cJSON *body, struct job_input *in, struct http_resp *rs)
{
    struct err_fields all = {.labels = job_field_labels};
    struct err e = {.fields = &all};
    if (job_validate(c, body, in, &e) == 0)
        return 0;
    http_reply_err(rs, &e);
    return -1;
}

/* Stores a validated job: INSERT when id is 0, else UPDATE; answers the job. */
static void store(struct app *app, PGconn *c, long long id, const cJSON *body, struct http_resp *rs)
{
    struct err_fields all = {.labels = job_field_labels};
    struct err e = {.fields = &all};
    struct job_input in;
    if (validated(c, body, &in, rs))
        return;
    if (check_fixed_periods(app, c, &in, &e)) {
        http_reply_err(rs, &e);
        cJSON_Delete(in.spec);
        return;
    }
    char *spec = cJSON_PrintUnformatted(in.spec);
    char src[24], dst[24], idtext[24], next[24];
    snprintf(src, sizeof src, "%lld", in.source_id);
    snprintf(dst, sizeof dst, "%lld", in.target_id);
    snprintf(idtext, sizeof idtext, "%lld", id);
    snprintf(next, sizeof next, "%lld", (long long)in.next_run);
    const char *params[] = {in.name, src, dst, in.mapping, spec, in.schedule,
                            in.enabled ? "t" : "f", in.next_run > 0 ? next : NULL, idtext};
    PGresult *r = NULL;
    if (!spec) {
        err_set(&e, ERR_INTERNAL, "out of memory");
    } else if (id == 0) {
        r = db_query(c,
                     "INSERT INTO jobs (name, source_id, target_id, mapping, spec, schedule, enabled, next_run_at)"
                     " VALUES ($1, $2, $3, $4, $5::jsonb, $6, $7, to_timestamp($8::bigint))"
                     " RETURNING job_json(jobs)",
                     8, params, &e);
    } else {
        r = db_query(c,
                     "UPDATE jobs SET name = $1, source_id = $2, target_id = $3, mapping = $4,"
                     " spec = $5::jsonb, schedule = $6, enabled = $7,"
                     /* a new schedule, or a job enabled again, is due from now on; any
                      * other change keeps the due time (and a catch-up that is owed) */
                     " next_run_at = CASE WHEN schedule IS DISTINCT FROM $6 OR NOT enabled"
                     "   OR next_run_at IS NULL THEN to_timestamp($8::bigint) ELSE next_run_at END,"
                     " updated_at = now()"
                     " WHERE id = $9 RETURNING job_json(jobs)",
                     9, params, &e);
    }
    if (r) {
        http_reply_json_text(rs, id ? 200 : 201, PQgetvalue(r, 0, 0));
    } else {
        if (e.code == ERR_CONFLICT)
            err_name_taken(&e, "a job", in.name);
        http_reply_err(rs, &e);
    }
    PQclear(r);
    free(spec);
    cJSON_Delete(in.spec);
}

/* Hands the posted job and a connection to fn. */
static void with_posted_job(struct app *app, struct http_req *rq, struct http_resp *rs,
                            void (*fn)(struct app *, PGconn *, const cJSON *, struct http_resp *))
{
    cJSON *body = http_body_json(rq, rs);
    if (!body)
        return;
    struct err e = {0};
    PGconn *c = db_acquire(app->db, &e);
    if (c) {
        fn(app, c, body, rs);
        db_release(app->db, c);
    } else {
        http_reply_err(rs, &e);
    }
    cJSON_Delete(body);
}

static void store_new(struct app *app, PGconn *c, const cJSON *body, struct http_resp *rs)
{
    store(app, c, 0, body, rs);
}

void api_jobs_create(struct app *app, struct http_req *rq, struct http_resp *rs)
{
    with_posted_job(app, rq, rs, store_new);
}

/* PUT and PATCH: the fields sent replace the stored ones (importOptions field by field), and
 * the result is validated as a whole, like a new job. */
void api_jobs_update(struct app *app, struct http_req *rq, struct http_resp *rs)
{
    cJSON *body = http_body_json(rq, rs);
    if (!body)
        return;
    struct err e = {0};
    long long id;
    cJSON *merged = NULL;
    PGconn *c = db_acquire(app->db, &e);
    if (!c || job_resolve(c, rq->params[0], &id, &e) || !(merged = job_as_input(c, id, &e))) {
        http_reply_err(rs, &e);
        goto out;
    }
    cJSON *item;
    cJSON_ArrayForEach(item, body)
    {
        cJSON *old = cJSON_GetObjectItemCaseSensitive(merged, item->string);
        if (strcmp(item->string, "importOptions") == 0 && cJSON_IsObject(item) && cJSON_IsObject(old)) {
            cJSON *opt;
            cJSON_ArrayForEach(opt, item)
            {
                cJSON_DeleteItemFromObjectCaseSensitive(old, opt->string);
                cJSON_AddItemToObject(old, opt->string, cJSON_Duplicate(opt, 1));
            }
        } else {
            cJSON_DeleteItemFromObjectCaseSensitive(merged, item->string);
            cJSON_AddItemToObject(merged, item->string, cJSON_Duplicate(item, 1));
        }
    }
    store(app, c, id, merged, rs);
out:
    if (c)
        db_release(app->db, c);
    cJSON_Delete(merged);
    cJSON_Delete(body);
}

void api_jobs_delete(struct app *app, struct http_req *rq, struct http_resp *rs)
{
    struct err e = {0};
    long long id;
    PGconn *c = db_acquire(app->db, &e);
    if (!c || job_resolve(c, rq->params[0], &id, &e))
        goto fail;
    char idtext[24];
    snprintf(idtext, sizeof idtext, "%lld", id);
    const char *params[] = {idtext};
    /* one statement: a worker cannot claim a queued run between a check and the delete */
    PGresult *r = db_query(c,
                           "DELETE FROM jobs WHERE id = $1 AND NOT EXISTS (SELECT 1 FROM runs"
                           " WHERE job_id = $1 AND status IN ('queued', 'running')) RETURNING id",
                           1, params, &e);
    if (!r)
        goto fail;
    int deleted = PQntuples(r) == 1;
    PQclear(r);
    if (!deleted) {
        err_set(&e, ERR_CONFLICT, "the job has a run queued or running; cancel it first");
        goto fail;
    }
    db_release(app->db, c);
    rs->status = 204;
    return;
fail:
    if (c)
        db_release(app->db, c);
    http_reply_err(rs, &e);
}

static int query_flag(const struct http_req *rq, const char *name, bool *out, struct http_resp *rs)
{
    const char *v = http_query(rq, name);
    if (!v)
        return 0;
    if (strcmp(v, "true") == 0 || strcmp(v, "1") == 0) {
        *out = true;
    } else if (strcmp(v, "false") == 0 || strcmp(v, "0") == 0) {
        *out = false;
    } else {
        http_reply_error(rs, 400, NULL, "%s must be true or false", name);
        return -1;
    }
    return 0;
}

void api_jobs_run(struct app *app, struct http_req *rq, struct http_resp *rs)
{
    /* the body is empty or {}: nothing in it is read, but it must be valid if present */
    if (rq->body_len) {
        cJSON *body = http_body_json(rq, rs);
        if (!body)
            return;
        cJSON_Delete(body);
    }
    bool dry_run = false, full = false;
    bool has_dry_run = http_query(rq, "dryRun") != NULL;
    if (query_flag(rq, "dryRun", &dry_run, rs) || query_flag(rq, "full", &full, rs))
        return;
    struct err e = {0};
    long long job_id, run_id;
    PGconn *c = db_acquire(app->db, &e);
    if (!c || job_resolve(c, rq->params[0], &job_id, &e) ||
        run_enqueue(c, job_id, has_dry_run ? (dry_run ? 1 : 0) : -1, full, "manual", NULL, &run_id, &e)) {
        if (c)
            db_release(app->db, c);
        http_reply_err(rs, &e);
        return;
    }
    db_release(app->db, c);
    worker_wake();
    char idtext[24];
    snprintf(idtext, sizeof idtext, "%lld", run_id);
    const char *params[] = {idtext};
    api_reply_query(app, rs, 202, "SELECT run_json(r) FROM runs r WHERE r.id = $1", 1, params, NULL);
}

/* ---- preflight: POST /api/jobs/check and /api/jobs/{id}/check ------------------------------ */

/* Two base URLs naming one server: the same but for case and a trailing slash. */
static bool same_url(const char *a, const char *b)
{
    size_t la = strlen(a), lb = strlen(b);
    while (la && a[la - 1] == '/')
        la--;
    while (lb && b[lb - 1] == '/')
        lb--;
    return la == lb && strncasecmp(a, b, la) == 0;
}

/* The values the job's last complete read of its whole selection read, or -1. */
static long long last_read_values(PGconn *c, long long job_id)
{
    char id[24];
    snprintf(id, sizeof id, "%lld", job_id);
    const char *params[] = {id};
    struct err e = {0};
    PGresult *r = db_query(c, "SELECT job_last_read($1, 9223372036854775807)", 1, params, &e);
    long long n = r && PQntuples(r) == 1 && db_value(r, 0, 0) ? strtoll(PQgetvalue(r, 0, 0), NULL, 10) : -1;
    PQclear(r);
    return n;
}

/* Checks a job (body as posted) against its instances; job_id > 0 for a stored job. */
static void preflight(struct app *app, PGconn *c, const cJSON *body, long long job_id, struct http_resp *rs)
{
    struct err e = {0};
    struct job_input in;
    if (validated(c, body, &in, rs))
        return;
    cJSON *out = cJSON_CreateObject(), *problems = cJSON_AddArrayToObject(out, "problems");
    cJSON *estimate = cJSON_AddObjectToObject(out, "estimate");
    struct instance src = {0}, dst = {0};
    struct sync_preflight p = {.spec = in.spec, .mapping = in.mapping, .problems = problems,
                               .estimate = estimate};
    if (!problems || !estimate) {
        http_reply_error(rs, 500, NULL, "out of memory");
        goto out;
    }
    if (!(p.source = quick_client(app, c, in.source_id, &src, &e)))
        sync_problem(problems, "error", "source", "Source cannot be used: %s", e.msg);
    err_clear(&e);
    if (!(p.target = quick_client(app, c, in.target_id, &dst, &e)))
        sync_problem(problems, "error", "target", "Target cannot be used: %s", e.msg);
    if (in.source_id == in.target_id || (src.url && dst.url && same_url(src.url, dst.url)))
        sync_problem(problems, "error", "target", "Target is the same DHIS2 instance as the source");
    if (p.target) {
        struct dhis2_system_info info;
        err_clear(&e);
        if (dhis2_system_info(p.target, &info, &e) != 0) {
            sync_problem(problems, "error", "target", "Target cannot be reached: %s", e.msg);
            dhis2_client_free(p.target);
            p.target = NULL;
        }
    }
    if (in.mapping) {
        err_clear(&e);
        if (!(p.mapping_version = app->mappings ? mapping_registry_acquire(app->mappings, in.mapping, &e) : NULL))
            sync_problem(problems, "error", "mapping", "Mapping '%s' cannot be used: %s", in.mapping,
                         e.msg[0] ? e.msg : "no mappings in this process");
    }
    const struct sync_kind *kind = sync_kind_find(cJSON_GetStringValue(cJSON_GetObjectItem(in.spec, "kind")));
    if (kind && kind->preflight)
        kind->preflight(&p);
    long long values = job_id > 0 ? last_read_values(c, job_id) : -1;
    if (values >= 0)
        cJSON_AddNumberToObject(estimate, "values", (double)values);
    else
        cJSON_AddNullToObject(estimate, "values");
    http_reply_json(rs, 200, out);
    out = NULL;
out:
    cJSON_Delete(out);
    if (p.mapping_version)
        mapping_release(p.mapping_version);
    dhis2_client_free(p.source);
    dhis2_client_free(p.target);
    instance_free(&src);
    instance_free(&dst);
    cJSON_Delete(in.spec);
}

static void preflight_new(struct app *app, PGconn *c, const cJSON *body, struct http_resp *rs)
{
    preflight(app, c, body, 0, rs);
}

void api_jobs_check(struct app *app, struct http_req *rq, struct http_resp *rs)
{
    with_posted_job(app, rq, rs, preflight_new);
}

void api_jobs_check_saved(struct app *app, struct http_req *rq, struct http_resp *rs)
{
    struct err e = {0};
    long long id;
    cJSON *body = NULL;
    PGconn *c = db_acquire(app->db, &e);
    if (!c || job_resolve(c, rq->params[0], &id, &e) || !(body = job_as_input(c, id, &e)))
        http_reply_err(rs, &e);
    else
        preflight(app, c, body, id, rs);
    if (c)
        db_release(app->db, c);
    cJSON_Delete(body);
}
