/* /api/runs — run history, live progress, cancel, and every refused or skipped value. */
#include <stdio.h>
#include <string.h>

#include "api.h"
#include "app.h"
#include "db.h"
#include "jobs.h"
#include "validate.h"

static const char *const statuses[] = {"queued", "running", "succeeded", "partial", "failed",
                                       "cancelled", "interrupted", NULL};

void api_runs_list(struct app *app, struct http_req *rq, struct http_resp *rs)
{
    char limit[24], offset[24], page[24], job_id[24] = "";
    if (api_paging_params(rq, rs, limit, offset, page) != 0)
        return;
    const char *status = http_query(rq, "status");
    if (status && *status) {
        int known = 0;
        for (int i = 0; statuses[i]; i++)
            known |= strcmp(status, statuses[i]) == 0;
        if (!known) {
            http_reply_error(rs, 400, NULL, "status must be one of queued, running, succeeded, "
                                            "partial, failed, cancelled, interrupted");
            return;
        }
    } else {
        status = NULL;
    }
    const char *job = http_query(rq, "job");
    if (job && *job) {
        struct err e = {0};
        long long id;
        PGconn *c = db_acquire(app->db, &e);
        int rc = c ? job_resolve(c, job, &id, &e) : e.code;
        if (c)
            db_release(app->db, c);
        if (rc) {
            http_reply_err(rs, &e);
            return;
        }
        snprintf(job_id, sizeof job_id, "%lld", id);
    }
    const char *params[] = {limit, offset, page, job_id[0] ? job_id : NULL, status};
    api_reply_query(app, rs, 200,
                    "WITH chosen AS (SELECT * FROM runs WHERE ($4::bigint IS NULL OR job_id = $4)"
                    "   AND ($5::text IS NULL OR status = $5))"
                    "SELECT json_build_object("
                    " 'runs', coalesce((SELECT json_agg(run_json(r) ORDER BY r.created_at DESC, r.id DESC)"
                    "   FROM runs r WHERE r.id IN (SELECT id FROM chosen ORDER BY created_at DESC, id DESC"
                    "   LIMIT $1::bigint OFFSET $2::bigint)), '[]'),"
                    " 'pager', json_build_object('page', $3::bigint, 'pageSize', $1::bigint,"
                    "   'total', (SELECT count(*) FROM chosen)))",
                    5, params, NULL);
}

static int run_id_param(const struct http_req *rq, struct http_resp *rs)
{
    const char *p = rq->params[0];
    if (strspn(p, "0123456789") != strlen(p) || strlen(p) > 18) {
        http_reply_error(rs, 404, NULL, "no such run");
        return -1;
    }
    return 0;
}

void api_runs_get(struct app *app, struct http_req *rq, struct http_resp *rs)
{
    if (run_id_param(rq, rs))
        return;
    const char *params[] = {rq->params[0]};
    api_reply_query(app, rs, 200, "SELECT run_json(r) FROM runs r WHERE r.id = $1", 1, params,
                    "no such run");
}

void api_runs_cancel(struct app *app, struct http_req *rq, struct http_resp *rs)
{
    if (run_id_param(rq, rs))
        return;
    struct err e = {0};
    const char *params[] = {rq->params[0]};
    PGconn *c = db_acquire(app->db, &e);
    PGresult *r = c ? db_query(c,
                               /* a queued run is cancelled at once; a running one at its next
                                  batch boundary, by its worker */
                               "UPDATE runs SET cancel_requested = true,"
                               " status = CASE WHEN status = 'queued' THEN 'cancelled' ELSE status END,"
                               " finished_at = CASE WHEN status = 'queued' THEN now() ELSE finished_at END,"
                               " error = CASE WHEN status = 'queued' THEN 'cancelled before it started' ELSE error END"
                               " WHERE id = $1 AND status IN ('queued', 'running') RETURNING id",
                               1, params, &e)
                    : NULL;
    if (c)
        db_release(app->db, c);
    if (!r) {
        http_reply_err(rs, &e);
        return;
    }
    int changed = PQntuples(r) == 1;
    PQclear(r);
    if (!changed) {
        api_reply_query(app, rs, 409,
                        "SELECT json_build_object('error', 'the run is not queued or running (it is '"
                        " || status || ')', 'detail', run_json(r)) FROM runs r WHERE r.id = $1",
                        1, params, "no such run");
        return;
    }
    api_reply_query(app, rs, 202, "SELECT run_json(r) FROM runs r WHERE r.id = $1", 1, params,
                    "no such run");
}

void api_runs_conflicts(struct app *app, struct http_req *rq, struct http_resp *rs)
{
    if (run_id_param(rq, rs))
        return;
    char limit[24], offset[24], page[24];
    if (api_paging_params(rq, rs, limit, offset, page) != 0)
        return;
    const char *kind = http_query(rq, "kind");
    if (kind && strcmp(kind, "conflict") && strcmp(kind, "skipped") && strcmp(kind, "error")) {
        http_reply_error(rs, 400, NULL, "kind must be conflict, skipped or error");
        return;
    }
    const char *params[] = {rq->params[0], limit, offset, page, kind};
    api_reply_query(app, rs, 200,
                    "SELECT json_build_object("
                    " 'conflicts', coalesce((SELECT json_agg(json_build_object('kind', c.kind,"
                    "   'object', c.object, 'value', c.value, 'errorCode', c.error_code,"
                    "   'message', c.message, 'dataValue', c.data_value) ORDER BY c.id)"
                    "   FROM (SELECT * FROM run_conflicts WHERE run_id = $1"
                    "         AND ($5::text IS NULL OR kind = $5) ORDER BY id"
                    "         LIMIT $2::bigint OFFSET $3::bigint) c), '[]'),"
                    " 'pager', json_build_object('page', $4::bigint, 'pageSize', $2::bigint,"
                    "   'total', (SELECT count(*) FROM run_conflicts WHERE run_id = $1"
                    "             AND ($5::text IS NULL OR kind = $5))))"
                    " FROM runs WHERE id = $1",
                    5, params, "no such run");
}
