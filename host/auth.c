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

/* Marks the token used at most once a minute: a busy script must not turn every request into
 * a write. The UPDATE re-checks last_used_at on the row it locks, so concurrent requests
 * write once too. No cache sits in front: revoking or expiring a token takes effect at its
 * next request. */
static int bearer_lookup(struct app *app, const char *token, struct http_req *rq, struct err *e)
{
    char hash[CRYPTO_HASH_HEX_LEN + 1];
    crypto_sha256_hex(token, hash);
    PGconn *c = db_acquire(app->db, e);
    if (!c)
        return e->code;
    const char *params[] = {hash};
    PGresult *r = db_query(c,
                           "WITH t AS (SELECT id FROM api_tokens WHERE token_hash = decode($1, 'hex')"
                           "           AND (expires_at IS NULL OR expires_at > now())),"
                           " used AS (UPDATE api_tokens a SET last_used_at = now() FROM t"
                           "          WHERE a.id = t.id AND (a.last_used_at IS NULL OR"
                           "                a.last_used_at < now() - interval '1 minute'))"
                           " SELECT id FROM t",
                           1, params, e);
    db_release(app->db, c);
    if (!r)
        return e->code;
    int rc = 0;
    if (PQntuples(r) == 1)
        rq->token_id = strtoll(PQgetvalue(r, 0, 0), NULL, 10);
    else
        rc = err_set(e, ERR_AUTH, "the API token is not valid (unknown, revoked or expired)");
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
    return auth_token_create_expiring(c, name, 0, token_out, NULL, e);
}

int auth_token_create_expiring(PGconn *c, const char *name, time_t expires_at, char **token_out,
                               long long *id_out, struct err *e)
{
    char token[CRYPTO_TOKEN_LEN + 1], hash[CRYPTO_HASH_HEX_LEN + 1], when[24];
    int rc = crypto_token_new(token, e);
    if (rc)
        return rc;
    crypto_sha256_hex(token, hash);
    snprintf(when, sizeof when, "%lld", (long long)expires_at);
    const char *params[] = {name, hash, expires_at ? when : NULL};
    PGresult *r = db_query(c,
                           "INSERT INTO api_tokens (name, token_hash, expires_at) "
                           "VALUES ($1, decode($2, 'hex'), to_timestamp($3::double precision)) "
                           "RETURNING id",
                           3, params, e);
    if (!r)
        return e->code;
    if (id_out)
        *id_out = strtoll(PQgetvalue(r, 0, 0), NULL, 10);
    PQclear(r);
    if (!(*token_out = strdup(token)))
        return err_set(e, ERR_INTERNAL, "out of memory");
    return 0;
}

int auth_token_expiry(const char *spec, time_t now, time_t *out, struct err *e)
{
    static const char form[] = "takes a duration (90d, 12h, 30m) or a date "
                               "(2027-01-31 or 2027-01-31T12:00:00Z)";
    size_t digits = strspn(spec, "0123456789");
    if (digits > 0 && digits <= 9 && spec[digits] && strchr("dhm", spec[digits]) &&
        !spec[digits + 1]) {
        long long n = strtoll(spec, NULL, 10);
        long long unit = spec[digits] == 'd' ? 86400 : spec[digits] == 'h' ? 3600 : 60;
        if (n <= 0 || n > 100LL * 366 * 86400 / unit)
            return err_set(e, ERR_INPUT, "%s is not from 1 minute to 100 years", spec);
        *out = now + (time_t)(n * unit);
        return 0;
    }
    struct tm tm = {0}, back;
    const char *end = strptime(spec, "%Y-%m-%d", &tm);
    if (end && *end)
        end = strptime(end, "T%H:%M:%SZ", &tm);
    /* strptime takes 2027-02-31, which timegm quietly makes March 3rd */
    int day = tm.tm_mday;
    *out = end && !*end ? timegm(&tm) : (time_t)-1;
    if (*out == (time_t)-1 || !gmtime_r(out, &back) || back.tm_mday != day)
        return err_set(e, ERR_INPUT, "%s, not '%.40s'", form, spec);
    if (*out <= now)
        return err_set(e, ERR_INPUT, "%s is not in the future", spec);
    return 0;
}

cJSON *auth_token_list(PGconn *c, struct err *e)
{
    PGresult *r = db_query(c,
                           "SELECT coalesce(json_agg(token_json(t) ORDER BY t.id), '[]') "
                           "FROM api_tokens t",
                           0, NULL, e);
    if (!r)
        return NULL;
    cJSON *list = cJSON_Parse(PQgetvalue(r, 0, 0));
    PQclear(r);
    if (!list)
        err_set(e, ERR_INTERNAL, "out of memory listing tokens");
    return list;
}

int auth_token_revoke(PGconn *c, const char *ref, long long *revoked_id, struct err *e)
{
    /* an id wins over a label made of digits, as for instances */
    const char *params[] = {ref};
    PGresult *r = db_query(c,
                           "SELECT id, id::text = $1 FROM api_tokens WHERE name = $1 OR "
                           "(id::text = $1 AND $1 ~ '^[0-9]{1,18}$') "
                           "ORDER BY (id::text = $1) DESC, id",
                           1, params, e);
    if (!r)
        return e->code;
    int rc = 0, n = PQntuples(r);
    if (n == 0)
        rc = err_set(e, ERR_NOT_FOUND, "no API token with the id or name '%.100s'", ref);
    else if (n > 1 && strcmp(PQgetvalue(r, 0, 1), "t") != 0)
        rc = err_set(e, ERR_CONFLICT,
                     "%d API tokens are named '%.100s'; revoke one by its id (see `dhis2sync "
                     "token list`)",
                     n, ref);
    else
        *revoked_id = strtoll(PQgetvalue(r, 0, 0), NULL, 10);
    PQclear(r);
    if (rc)
        return rc;
    char idtext[24];
    snprintf(idtext, sizeof idtext, "%lld", *revoked_id);
    const char *id_param[] = {idtext};
    return db_exec(c, "DELETE FROM api_tokens WHERE id = $1", 1, id_param, e);
}
