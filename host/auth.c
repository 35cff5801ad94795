#include "auth.h"

#include <microhttpd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "app.h"
#include "crypto.h"
#include "db.h"
#include "http.h"
#include "session.h"

static int bearer_lookup(struct app *app, const char *token, struct http_req *rq, struct err *e)
{
    char hash[CRYPTO_HASH_HEX_LEN + 1];
    crypto_sha256_hex(token, hash);
    PGconn *c = db_acquire(app->db, e);
    if (!c)
        return e->code;
    const char *params[] = {hash};
    PGresult *r = db_query(c,
                           "UPDATE api_tokens SET last_used_at = now() "
                           "WHERE token_hash = decode($1, 'hex') RETURNING id",
                           1, params, e);
    db_release(app->db, c);
    if (!r)
        return e->code;
    int rc = 0;
    if (PQntuples(r) == 1)
        rq->token_id = strtoll(PQgetvalue(r, 0, 0), NULL, 10);
    else
        rc = err_set(e, ERR_AUTH, "the API token is not valid");
    PQclear(r);
    return rc;
}

const char *auth_session_cookie(const struct http_req *rq)
{
    const char *v = MHD_lookup_connection_value(rq->conn, MHD_COOKIE_KIND, SESSION_COOKIE);
    return v && *v ? v : NULL;
}

/* GET, HEAD and OPTIONS change nothing; every other method needs the CSRF token. */
static int is_unsafe(const char *method)
{
    return strcmp(method, "GET") != 0 && strcmp(method, "HEAD") != 0 &&
           strcmp(method, "OPTIONS") != 0;
}

static int cookie_lookup(struct app *app, const char *cookie, struct http_req *rq, struct err *e)
{
    PGconn *c = db_acquire(app->db, e);
    if (!c)
        return e->code;
    long long user_id = 0;
    char csrf[sizeof rq->csrf_token];
    int rc = session_lookup(c, cookie, &user_id, csrf, sizeof csrf, e);
    db_release(app->db, c);
    if (rc)
        return rc;
    /* A cross-site page can make the browser send the cookie but cannot read the token (it is
     * only in the login answer and GET /api/session, which the same-origin policy hides). */
    const char *sent = http_header(rq, "X-CSRF-Token");
    if (is_unsafe(rq->method) && (!sent || !crypto_str_equal(sent, csrf)))
        return err_set(e, ERR_FORBIDDEN, "missing or wrong X-CSRF-Token");
    rq->user_id = user_id;
    rq->token_id = 0;
    memcpy(rq->csrf_token, csrf, sizeof rq->csrf_token);
    return 0;
}

int auth_check(struct app *app, struct http_req *rq, struct err *e)
{
    /* an Authorization header wins over a cookie: a script that sends one means it */
    const char *authz = http_header(rq, "Authorization");
    if (authz && strncasecmp(authz, "Bearer ", 7) == 0) {
        const char *token = authz + 7;
        while (*token == ' ')
            token++;
        return bearer_lookup(app, token, rq, e);
    }
    const char *cookie = auth_session_cookie(rq);
    if (cookie)
        return cookie_lookup(app, cookie, rq, e);
    return err_set(e, ERR_AUTH, "authentication required: send `Authorization: Bearer TOKEN` "
                                "(make one with `dhis2sync token add NAME`) or log in");
}

int auth_token_create(PGconn *c, const char *name, char **token_out, struct err *e)
{
    char token[CRYPTO_TOKEN_LEN + 1], hash[CRYPTO_HASH_HEX_LEN + 1];
    int rc = crypto_token_new(token, e);
    if (rc)
        return rc;
    crypto_sha256_hex(token, hash);
    const char *params[] = {name, hash};
    if ((rc = db_exec(c, "INSERT INTO api_tokens (name, token_hash) VALUES ($1, decode($2, 'hex'))",
                      2, params, e)))
        return rc;
    if (!(*token_out = strdup(token)))
        return err_set(e, ERR_INTERNAL, "out of memory");
    return 0;
}
