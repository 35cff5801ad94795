#include "auth.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "app.h"
#include "crypto.h"
#include "db.h"
#include "http.h"

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

int auth_check(struct app *app, struct http_req *rq, struct err *e)
{
    const char *authz = http_header(rq, "Authorization");
    if (authz && strncasecmp(authz, "Bearer ", 7) == 0) {
        const char *token = authz + 7;
        while (*token == ' ')
            token++;
        return bearer_lookup(app, token, rq, e);
    }
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
