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
                      4, params, e)) ||
        (rc = db_exec(c, "UPDATE users SET last_login_at = now() WHERE id = $1", 1, params + 1, e)))
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
                           /* a user disabled while logging in may have got a session
                            * after its sessions were ended: it is refused all the same */
                           "SELECT s.user_id, s.csrf_token, s.expires_at > now() FROM sessions s "
                           "JOIN users u ON u.id = s.user_id AND u.disabled_at IS NULL "
                           "WHERE s.id_hash = decode($1, 'hex')",
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

int session_end_user(PGconn *c, long long user_id, const char *keep_cookie, struct err *e)
{
    char uid[32], hash[CRYPTO_HASH_HEX_LEN + 1] = "";
    snprintf(uid, sizeof uid, "%lld", user_id);
    if (keep_cookie)
        crypto_sha256_hex(keep_cookie, hash);
    const char *params[] = {uid, hash};
    return db_exec(c,
                   "DELETE FROM sessions WHERE user_id = $1 AND id_hash <> decode($2, 'hex')",
                   2, params, e);
}

/* The 15-minute window as SQL text parameters share. */
static void window_text(char out[32])
{
    snprintf(out, 32, "%d", SESSION_LOGIN_WINDOW_S);
}

int session_login_delay(PGconn *c, const char *username, long *delay_ms, struct err *e)
{
    char user_key[CRYPTO_HASH_HEX_LEN + 1], window[32];
    crypto_sha256_hex(username, user_key);
    window_text(window);
    const char *params[] = {user_key, window};
    PGresult *r = db_query(c,
                           "SELECT count(*) FROM login_failures "
                           "WHERE user_key = $1 AND at > now() - $2::int * interval '1 second'",
                           2, params, e);
    if (!r)
        return e->code;
    long failures = strtol(PQgetvalue(r, 0, 0), NULL, 10);
    PQclear(r);
    /* doubling from the limit on: 250 ms, 500 ms, 1 s, ... (shifts past 10 are over the cap) */
    long over = failures - SESSION_LOGIN_MAX_FAILURES;
    *delay_ms = over < 0 ? 0 : over > 10 ? SESSION_LOGIN_DELAY_MAX_MS : SESSION_LOGIN_DELAY_MS << over;
    if (*delay_ms > SESSION_LOGIN_DELAY_MAX_MS)
        *delay_ms = SESSION_LOGIN_DELAY_MAX_MS;
    return 0;
}

/* Any constant: the first key of the two-key advisory locks on login addresses (a key space
 * apart from the one-key locks of migrate.c and scheduler.c). */
#define LOGIN_LOCK_CLASS "1701"

int session_login_begin(PGconn *c, const char *username, const char *address,
                        long *retry_after, struct err *e)
{
    char user_key[CRYPTO_HASH_HEX_LEN + 1], window[32], pair_max[32], address_max[32];
    crypto_sha256_hex(username, user_key);
    window_text(window);
    snprintf(pair_max, sizeof pair_max, "%d", SESSION_LOGIN_MAX_FAILURES);
    snprintf(address_max, sizeof address_max, "%d", SESSION_LOGIN_ADDRESS_MAX_FAILURES);
    const char *params[] = {user_key, address, window, pair_max, address_max};
    PGresult *r = NULL;
    int rc;
    *retry_after = 0;
    /* the lock makes count and insert one step for an address: the next attempt's count,
     * taken after the lock, sees this one's row */
    if ((rc = db_exec(c, "BEGIN", 0, NULL, e)) ||
        (rc = db_exec(c, "SELECT pg_advisory_xact_lock(" LOGIN_LOCK_CLASS ", hashtext($1))", 1,
                      params + 1, e)))
        goto out;
    /* for the pair and for the address: when the max-th most recent failure leaves the window,
     * a login may be tried again */
    r = db_query(c,
                 "SELECT greatest("
                 " (SELECT ceil(extract(epoch FROM at + $3::int * interval '1 second' - now())) "
                 "  FROM login_failures WHERE user_key = $1 AND address = $2 "
                 "   AND at > now() - $3::int * interval '1 second' "
                 "  ORDER BY at DESC OFFSET $4::int - 1 LIMIT 1),"
                 " (SELECT ceil(extract(epoch FROM at + $3::int * interval '1 second' - now())) "
                 "  FROM login_failures WHERE address = $2 "
                 "   AND at > now() - $3::int * interval '1 second' "
                 "  ORDER BY at DESC OFFSET $5::int - 1 LIMIT 1),"
                 " 0)::bigint",
                 5, params, e);
    if (!r) {
        rc = e->code;
        goto out;
    }
    *retry_after = strtol(PQgetvalue(r, 0, 0), NULL, 10);
    if (*retry_after == 0 &&
        (rc = db_exec(c, "INSERT INTO login_failures (user_key, address) VALUES ($1, $2)", 2,
                      params, e)))
        goto out;
    /* failures that no longer count are deleted as new attempts come in: the table stays small */
    if ((rc = db_exec(c, "DELETE FROM login_failures WHERE at <= now() - $1::int * interval '1 second'",
                      1, params + 2, e)))
        goto out;
out:
    PQclear(r);
    return db_finish(c, rc, e);
}

int session_login_succeeded(PGconn *c, const char *username, const char *address,
                            struct err *e)
{
    char user_key[CRYPTO_HASH_HEX_LEN + 1];
    crypto_sha256_hex(username, user_key);
    const char *params[] = {user_key, address};
    return db_exec(c, "DELETE FROM login_failures WHERE user_key = $1 AND address = $2", 2,
                   params, e);
}
