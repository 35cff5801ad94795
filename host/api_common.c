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
