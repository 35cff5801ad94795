#include "auth.h"

#include <openssl/evp.h>
#include <openssl/rand.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "app.h"
#include "db.h"
#include "http.h"

static void sha256_hex(const char *s, char out[65])
{
    unsigned char md[32];
    unsigned int len = 0;
    EVP_Digest(s, strlen(s), md, &len, EVP_sha256(), NULL);
    for (int i = 0; i < 32; i++)
        sprintf(out + 2 * i, "%02x", md[i]);
}

static int bearer_lookup(struct app *app, const char *token, struct http_req *rq, struct err *e)
{
    char hash[65];
    sha256_hex(token, hash);
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
    unsigned char raw[32];
    if (RAND_bytes(raw, sizeof raw) != 1)
        return err_set(e, ERR_INTERNAL, "no randomness available for a token");
    char b64[64];
    EVP_EncodeBlock((unsigned char *)b64, raw, sizeof raw);
    /* base64url without padding: tokens go in headers and shell commands */
    for (char *p = b64; *p; p++) {
        if (*p == '+') *p = '-';
        else if (*p == '/') *p = '_';
        else if (*p == '=') *p = '\0';
    }
    char *token = NULL;
    if (asprintf(&token, "d2s_%s", b64) < 0)
        return err_set(e, ERR_INTERNAL, "out of memory");
    char hash[65];
    sha256_hex(token, hash);
    const char *params[] = {name, hash};
    int rc = db_exec(c, "INSERT INTO api_tokens (name, token_hash) VALUES ($1, decode($2, 'hex'))",
                     2, params, e);
    if (rc) {
        free(token);
        return rc;
    }
    *token_out = token;
    return 0;
}
