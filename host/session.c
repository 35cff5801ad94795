#include "session.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "db.h"

int session_create(PGconn *c, long long user_id, char cookie[CRYPTO_RANDOM_ID_LEN + 1],
                   char csrf[CRYPTO_RANDOM_ID_LEN + 1], struct err *e)
{
    char hash[CRYPTO_HASH_HEX_LEN + 1], uid[32], ttl[32];
    int rc;
    if ((rc = crypto_random_id(cookie, e)) || (rc = crypto_random_id(csrf, e)))
        return rc;
    crypto_sha256_hex(cookie, hash);
    snprintf(uid, sizeof uid, "%lld", user_id);
    snprintf(ttl, sizeof ttl, "%d", SESSION_TTL_S);
    const char *params[] = {hash, uid, csrf, ttl};
    if ((rc = db_exec(c,
                      "INSERT INTO sessions (id_hash, user_id, csrf_token, expires_at) "
                      "VALUES (decode($1, 'hex'), $2, $3, now() + $4::int * interval '1 second')",
                      4, params, e)))
        return rc;
    /* a login is a good moment to forget sessions nobody will use again */
    return db_exec(c, "DELETE FROM sessions WHERE expires_at <= now()", 0, NULL, e);
}

int session_lookup(PGconn *c, const char *cookie, long long *user_id, char *csrf,
                   size_t csrf_size, struct err *e)
{
    char hash[CRYPTO_HASH_HEX_LEN + 1];
    crypto_sha256_hex(cookie, hash);
    const char *params[] = {hash};
    PGresult *r = db_query(c,
                           "SELECT user_id, csrf_token, expires_at > now() FROM sessions "
                           "WHERE id_hash = decode($1, 'hex')",
                           1, params, e);
    if (!r)
        return e->code;
    int rc = 0;
    if (PQntuples(r) != 1) {
        rc = err_set(e, ERR_AUTH, "the session is not valid (logged out or expired): log in again");
    } else if (strcmp(PQgetvalue(r, 0, 2), "t") != 0) {
        rc = err_set(e, ERR_AUTH, "the session has expired: log in again");
        struct err ignored = {0};
        /* this one and any other expired session: they can never be used again */
        db_exec(c, "DELETE FROM sessions WHERE expires_at <= now()", 0, NULL, &ignored);
    } else {
        *user_id = strtoll(PQgetvalue(r, 0, 0), NULL, 10);
        snprintf(csrf, csrf_size, "%s", PQgetvalue(r, 0, 1));
    }
    PQclear(r);
    return rc;
}

int session_delete(PGconn *c, const char *cookie, struct err *e)
{
    char hash[CRYPTO_HASH_HEX_LEN + 1];
    crypto_sha256_hex(cookie, hash);
    const char *params[] = {hash};
    return db_exec(c, "DELETE FROM sessions WHERE id_hash = decode($1, 'hex')", 1, params, e);
}

int session_login_allowed(PGconn *c, const char *username, const char *address,
                          long *retry_after, struct err *e)
{
    char user_key[CRYPTO_HASH_HEX_LEN + 1], window[32], max[32];
    crypto_sha256_hex(username, user_key);
    snprintf(window, sizeof window, "%d", SESSION_LOGIN_WINDOW_S);
    snprintf(max, sizeof max, "%d", SESSION_LOGIN_MAX_FAILURES);
    const char *params[] = {user_key, address, window, max};
    /* for each kind with at least max failures in the window: when the max-th most recent one
     * leaves the window, a login may be tried again */
    PGresult *r = db_query(
        c,
        "SELECT coalesce(max(ceil(extract(epoch FROM at + $3::int * interval '1 second' - now()))), 0)::bigint "
        "FROM (SELECT at, row_number() OVER (PARTITION BY kind ORDER BY at DESC) AS n "
        "      FROM login_failures "
        "      WHERE ((kind = 'user' AND key = $1) OR (kind = 'address' AND key = $2)) "
        "        AND at > now() - $3::int * interval '1 second') recent "
        "WHERE n = $4::int",
        4, params, e);
    if (!r)
        return e->code;
    long wait = strtol(PQgetvalue(r, 0, 0), NULL, 10);
    PQclear(r);
    *retry_after = wait > 0 ? wait : 0;
    return 0;
}

int session_login_failed(PGconn *c, const char *username, const char *address, struct err *e)
{
    char user_key[CRYPTO_HASH_HEX_LEN + 1], window[32];
    crypto_sha256_hex(username, user_key);
    snprintf(window, sizeof window, "%d", SESSION_LOGIN_WINDOW_S);
    const char *params[] = {user_key, address};
    int rc = db_exec(c,
                     "INSERT INTO login_failures (kind, key) VALUES ('user', $1), ('address', $2)",
                     2, params, e);
    if (rc)
        return rc;
    /* failures that no longer count are deleted as new ones come in: the table stays small */
    const char *old[] = {window};
    return db_exec(c, "DELETE FROM login_failures WHERE at <= now() - $1::int * interval '1 second'",
                   1, old, e);
}

int session_login_succeeded(PGconn *c, const char *username, struct err *e)
{
    char user_key[CRYPTO_HASH_HEX_LEN + 1];
    crypto_sha256_hex(username, user_key);
    const char *params[] = {user_key};
    return db_exec(c, "DELETE FROM login_failures WHERE kind = 'user' AND key = $1", 1, params, e);
}
