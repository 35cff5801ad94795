/* Helpers shared by the api_*.c handlers. */
#include <stdio.h>
#include <stdlib.h>

#include "api.h"
#include "app.h"
#include "db.h"

void api_reply_query(struct app *app, struct http_resp *rs, int status, const char *sql, int n,
                     const char *const *params, const char *not_found)
{
    struct err e = {0};
    PGconn *c = db_acquire(app->db, &e);
    if (!c) {
        http_reply_err(rs, &e);
        return;
    }
    PGresult *r = db_query(c, sql, n, params, &e);
    db_release(app->db, c);
    if (!r)
        http_reply_err(rs, &e);
    else if (PQntuples(r) == 0 || PQgetisnull(r, 0, 0))
        http_reply_error(rs, 404, NULL, "%s", not_found ? not_found : "not found");
    else
        http_reply_json_text(rs, status, PQgetvalue(r, 0, 0));
    PQclear(r);
}

int api_paging_params(const struct http_req *rq, struct http_resp *rs, char limit[24],
                      char offset[24], char page_text[24])
{
    long page, size;
    if (http_paging(rq, rs, &page, &size) != 0)
        return -1;
    snprintf(limit, 24, "%ld", size);
    snprintf(offset, 24, "%ld", (page - 1) * size);
    snprintf(page_text, 24, "%ld", page);
    return 0;
}

void api_reply_page(struct app *app, struct http_req *rq, struct http_resp *rs, const char *table,
                    const char *row_json)
{
    api_reply_page_as(app, rq, rs, table, table, row_json);
}

void api_reply_page_as(struct app *app, struct http_req *rq, struct http_resp *rs,
                       const char *key, const char *table, const char *row_json)
{
    char limit[24], offset[24], page[24], sql[1024];
    if (api_paging_params(rq, rs, limit, offset, page) != 0)
        return;
    snprintf(sql, sizeof sql,
             "SELECT json_build_object("
             " '%3$s', coalesce((SELECT json_agg(%2$s(t) ORDER BY t.name, t.id)"
             "   FROM %1$s t WHERE t.id IN (SELECT id FROM %1$s ORDER BY name, id"
             "   LIMIT $1::bigint OFFSET $2::bigint)), '[]'),"
             " 'pager', json_build_object('page', $3::bigint, 'pageSize', $1::bigint,"
             "   'total', (SELECT count(*) FROM %1$s)))",
             table, row_json, key);
    const char *params[] = {limit, offset, page};
    api_reply_query(app, rs, 200, sql, 3, params, NULL);
}
