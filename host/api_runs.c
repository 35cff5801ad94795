/* /api/runs — run history, live progress, cancel, and every refused or skipped value. */
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "api.h"
#include "app.h"
#include "db.h"
#include "jobs.h"
#include "validate.h"

/* A growing text for a reply body. */
struct buf_out {
    char *data;
    size_t len, cap;
};

static int out_put(struct buf_out *b, const char *s, size_t n)
{
    if (b->len + n + 1 > b->cap) {
        size_t cap = (b->len + n + 1) * 2;
        char *grown = realloc(b->data, cap);
        if (!grown)
            return -1;
        b->data = grown;
        b->cap = cap;
    }
    memcpy(b->data + b->len, s, n);
    b->len += n;
    b->data[b->len] = '\0';
    return 0;
}

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

/* The CSV columns of a conflict entry: its own, then the value as sent and as read. */
static const char *const csv_columns[] = {
    "kind", "errorCode", "object", "value", "message",
    "dataElement", "period", "orgUnit", "categoryOptionCombo", "attributeOptionCombo", "sentValue",
    "sourceDataElement", "sourcePeriod", "sourceOrgUnit", "sourceCategoryOptionCombo",
    "sourceAttributeOptionCombo", "sourceValue", "itemType", "itemId", NULL,
};

static int csv_field(struct buf_out *b, const char *v, bool last)
{
    int rc = 0;
    if (v && strpbrk(v, ",\"\r\n")) {
        rc |= out_put(b, "\"", 1);
        for (const char *q; (q = strchr(v, '"')); v = q + 1)
            rc |= out_put(b, v, (size_t)(q - v + 1)) | out_put(b, "\"", 1);
        rc |= out_put(b, v, strlen(v)) | out_put(b, "\"", 1);
    } else if (v) {
        rc |= out_put(b, v, strlen(v));
    }
    return rc | out_put(b, last ? "\r\n" : ",", last ? 2 : 1);
}

/* Every entry of a run, oldest first, as CSV with a header row. Rows come from the database one
 * at a time (single-row mode), so only the text itself is held. */
static void conflicts_csv(struct app *app, const char *run_id, const char *kind, struct http_resp *rs)
{
    struct err e = {0};
    struct buf_out b = {0};
    PGconn *c = db_acquire(app->db, &e);
    if (!c) {
        http_reply_err(rs, &e);
        return;
    }
    const char *params[] = {run_id, kind};
    PGresult *exists = db_query(c, "SELECT 1 FROM runs WHERE id = $1", 1, params, &e);
    int found = exists ? PQntuples(exists) : -1;
    PQclear(exists);
    if (found != 1) {
        db_release(app->db, c);
        if (found == 0)
            http_reply_error(rs, 404, NULL, "no such run");
        else
            http_reply_err(rs, &e);
        return;
    }
    int rc = 0;
    for (int i = 0; csv_columns[i]; i++)
        rc |= csv_field(&b, csv_columns[i], !csv_columns[i + 1]);
    static const char sql[] =
        "SELECT CASE kind WHEN 'conflict' THEN 'refused' WHEN 'skipped' THEN 'skipped' ELSE 'failed' END,"
        " error_code, object, value, message,"
        " data_value->>'dataElement', data_value->>'period', data_value->>'orgUnit',"
        " data_value->>'categoryOptionCombo', data_value->>'attributeOptionCombo', data_value->>'value',"
        " source->>'dataElement', source->>'period', source->>'orgUnit',"
        " source->>'categoryOptionCombo', source->>'attributeOptionCombo', source->>'value',"
        " item->>'type', item->>'id'"
        " FROM run_conflicts WHERE run_id = $1 AND ($2::text IS NULL OR kind = $2) ORDER BY id";
    bool sent = PQsendQueryParams(c, sql, 2, NULL, params, NULL, NULL, 0) == 1 && PQsetSingleRowMode(c) == 1;
    bool failed = !sent;
    PGresult *r;
    while (sent && (r = PQgetResult(c))) {
        ExecStatusType st = PQresultStatus(r);
        if (st == PGRES_SINGLE_TUPLE) {
            int n = PQnfields(r);
            for (int i = 0; i < n; i++)
                rc |= csv_field(&b, db_value(r, 0, i), i == n - 1);
        } else if (st != PGRES_TUPLES_OK) {
            failed = true;
        }
        PQclear(r);
    }
    db_release(app->db, c);
    if (failed || rc) {
        free(b.data);
        http_reply_error(rs, failed ? 503 : 500, NULL, failed ? "database: cannot read the run's entries"
                                                               : "out of memory writing the entries");
        return;
    }
    rs->status = 200;
    rs->body = b.data;
    rs->len = b.len;
    rs->content_type = "text/csv; charset=utf-8";
    char disposition[96];
    snprintf(disposition, sizeof disposition, "attachment; filename=\"run-%s-conflicts.csv\"", run_id);
    http_add_header(rs, "Content-Disposition", disposition);
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
    const char *format = http_query(rq, "format");
    if (format && strcmp(format, "csv") == 0) {
        conflicts_csv(app, rq->params[0], kind, rs);
        return;
    }
    if (format && strcmp(format, "json") != 0) {
        http_reply_error(rs, 400, NULL, "format must be json or csv");
        return;
    }
    const char *params[] = {rq->params[0], limit, offset, page, kind};
    api_reply_query(app, rs, 200,
                    "SELECT json_build_object("
                    " 'conflicts', coalesce((SELECT json_agg(json_build_object('kind', c.kind,"
                    "   'object', c.object, 'value', c.value, 'errorCode', c.error_code,"
                    "   'message', c.message, 'dataValue', c.data_value, 'source', c.source,"
                    "   'item', coalesce(c.item, c.data_value)) ORDER BY c.id)"
                    "   FROM (SELECT * FROM run_conflicts WHERE run_id = $1"
                    "         AND ($5::text IS NULL OR kind = $5) ORDER BY id"
                    "         LIMIT $2::bigint OFFSET $3::bigint) c), '[]'),"
                    " 'pager', json_build_object('page', $4::bigint, 'pageSize', $2::bigint,"
                    "   'total', (SELECT count(*) FROM run_conflicts WHERE run_id = $1"
                    "             AND ($5::text IS NULL OR kind = $5))))"
                    " FROM runs WHERE id = $1",
                    5, params, "no such run");
}

/* The entries grouped by what went wrong and to which ids, biggest group first, with a sample
 * of the org units and periods concerned and their counts. */
void api_runs_conflict_groups(struct app *app, struct http_req *rq, struct http_resp *rs)
{
    if (run_id_param(rq, rs))
        return;
    const char *params[] = {rq->params[0]};
    api_reply_query(app, rs, 200,
                    "WITH e AS ("
                    " SELECT id, created_at, message,"
                    "  CASE kind WHEN 'conflict' THEN 'refused' WHEN 'skipped' THEN 'skipped' ELSE 'failed' END AS kind,"
                    "  error_code,"
                    "  CASE WHEN source IS NOT NULL THEN jsonb_build_object('dataElement', source->>'dataElement',"
                    "   'categoryOptionCombo', source->>'categoryOptionCombo',"
                    "   'attributeOptionCombo', source->>'attributeOptionCombo') END AS src,"
                    "  CASE WHEN kind = 'conflict' AND data_value IS NOT NULL THEN jsonb_build_object("
                    "   'dataElement', data_value->>'dataElement',"
                    "   'categoryOptionCombo', data_value->>'categoryOptionCombo',"
                    "   'attributeOptionCombo', data_value->>'attributeOptionCombo') END AS dst,"
                    "  coalesce(data_value->>'orgUnit', source->>'orgUnit') AS ou,"
                    "  coalesce(data_value->>'period', source->>'period') AS pe"
                    " FROM run_conflicts WHERE run_id = $1),"
                    " g AS ("
                    " SELECT kind, error_code, src, dst, count(*) AS n, min(id) AS first_id,"
                    "  (array_agg(message ORDER BY id))[1] AS message,"
                    "  (array_agg(DISTINCT ou) FILTER (WHERE ou IS NOT NULL))[1:20] AS ous,"
                    "  count(DISTINCT ou) AS n_ou,"
                    "  (array_agg(DISTINCT pe) FILTER (WHERE pe IS NOT NULL))[1:20] AS pes,"
                    "  count(DISTINCT pe) AS n_pe,"
                    "  min(created_at) AS first_seen, max(created_at) AS last_seen"
                    " FROM e GROUP BY kind, error_code, src, dst)"
                    "SELECT json_build_object('groups', coalesce((SELECT json_agg(json_build_object("
                    "  'kind', kind, 'errorCode', error_code, 'message', message, 'source', src,"
                    "  'target', dst, 'count', n, 'orgUnits', coalesce(to_json(ous), '[]'),"
                    "  'orgUnitCount', n_ou, 'periods', coalesce(to_json(pes), '[]'), 'periodCount', n_pe,"
                    "  'firstSeen', iso_utc(first_seen), 'lastSeen', iso_utc(last_seen))"
                    "  ORDER BY n DESC, first_id) FROM g), '[]'))"
                    " FROM runs WHERE id = $1",
                    1, params, "no such run");
}
