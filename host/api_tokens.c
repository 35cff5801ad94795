/* /api/tokens — the API tokens `dhis2sync token` manages (auth.h). Only their hashes are
 * stored: a new token is in the answer that makes it and nowhere else, ever. */
#include <stdlib.h>
#include <time.h>

#include "api.h"
#include "app.h"
#include "auth.h"
#include "crypto.h"
#include "db.h"
#include "validate.h"

void api_tokens_list(struct app *app, struct http_req *rq, struct http_resp *rs)
{
    api_reply_page_as(app, rq, rs, "tokens", "api_tokens", "token_json");
}

/* {"name":"ci","expires":"90d"} (expires optional, as `token add --expires`) answers 201 with
 * the token's fields and "token". */
void api_tokens_create(struct app *app, struct http_req *rq, struct http_resp *rs)
{
    cJSON *body = http_body_json(rq, rs);
    if (!body)
        return;
    struct err e = {0};
    const char *name, *expires;
    time_t expires_at = 0;
    char *token = NULL;
    long long id;
    PGconn *c = NULL;
    PGresult *r = NULL;
    cJSON *out = NULL;
    if (v_string(body, "", "name", true, 1, 200, &name, &e) ||
        v_string(body, "", "expires", false, 1, 40, &expires, &e))
        goto fail;
    struct err why = {0};
    if (expires && auth_token_expiry(expires, time(NULL), &expires_at, &why)) {
        err_field(&e, "expires", "%s", why.msg);
        goto fail;
    }
    if (!(c = db_acquire(app->db, &e)) ||
        auth_token_create_expiring(c, name, expires_at, &token, &id, &e))
        goto fail;
    char idtext[24];
    snprintf(idtext, sizeof idtext, "%lld", id);
    const char *params[] = {idtext};
    if (!(r = db_query(c, "SELECT token_json(t) FROM api_tokens t WHERE id = $1", 1, params, &e)))
        goto fail;
    if (!(out = cJSON_Parse(PQgetvalue(r, 0, 0))) || !cJSON_AddStringToObject(out, "token", token)) {
        err_set(&e, ERR_INTERNAL, "out of memory");
        goto fail;
    }
    http_reply_json(rs, 201, out);
    out = NULL;
    goto done;
fail:
    http_reply_err(rs, &e);
done:
    cJSON_Delete(out);
    PQclear(r);
    if (c)
        db_release(app->db, c);
    if (token)
        crypto_free_secret(token);
    cJSON_Delete(body);
}

void api_tokens_delete(struct app *app, struct http_req *rq, struct http_resp *rs)
{
    struct err e = {0};
    long long id;
    PGconn *c = db_acquire(app->db, &e);
    int rc = c ? auth_token_revoke(c, rq->params[0], &id, &e) : e.code;
    if (c)
        db_release(app->db, c);
    if (rc) {
        http_reply_err(rs, &e);
        return;
    }
    rs->status = 204;
    rs->content_type = "application/json";
}
