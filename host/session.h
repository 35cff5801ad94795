/* session.h — sessions for people and the failed-login rate limit, both in PostgreSQL.
 *
 * Sessions: the cookie value is a random 256-bit id; the database keeps only its SHA-256
 * (sessions.id_hash), so a database dump cannot be replayed as a cookie. Each session has its
 * own random CSRF token. Expiry is fixed, not sliding: SESSION_TTL_S after login, the same as
 * the cookie's Max-Age; then the user logs in again. Expired rows are deleted when one is met
 * and at each login.
 *
 * Failed logins: each attempt is counted against the pair (user name, client address) and is
 * refused with a wait (429 and Retry-After) when that pair has SESSION_LOGIN_MAX_FAILURES
 * failures within SESSION_LOGIN_WINDOW_S, or the address has SESSION_LOGIN_ADDRESS_MAX_FAILURES
 * (one address guessing many names). A name attacked from many addresses is never locked: its
 * logins are only slowed down (session_login_delay), so the right password from an address that
 * has not failed still gets in. An attempt is recorded as a failure before its password is
 * checked, under a lock on its address, so concurrent attempts cannot pass the count together;
 * a successful login deletes its pair's failures again. Names that exist and names that do
 * not are counted alike, so a 429 or a delay reveals nothing about which exist. The counts
 * live in the table login_failures, so all processes on one database share them. Never logs a
 * password, a cookie or a CSRF token. */
#ifndef DHIS2SYNC_SESSION_H
#define DHIS2SYNC_SESSION_H

#include <libpq-fe.h>
#include <stdbool.h>

#include "crypto.h"
#include "err.h"

#define SESSION_COOKIE "dhis2sync_session"
#define SESSION_TTL_S (12 * 3600)
#define SESSION_LOGIN_MAX_FAILURES 5
#define SESSION_LOGIN_WINDOW_S (15 * 60)
#define SESSION_LOGIN_ADDRESS_MAX_FAILURES 20
#define SESSION_LOGIN_DELAY_MS 250
#define SESSION_LOGIN_DELAY_MAX_MS 8000

/* A new session for user_id: cookie (the only copy of the id) and csrf filled. */
int session_create(PGconn *c, long long user_id, char cookie[CRYPTO_RANDOM_ID_LEN + 1],
                   char csrf[CRYPTO_RANDOM_ID_LEN + 1], struct err *e);
/* The live session whose cookie value is cookie: *user_id and csrf (csrf_size bytes) filled.
 * ERR_AUTH when there is none, it has expired (expired rows are deleted then) or its user is
 * disabled. A new session marks its user's last login. */
int session_lookup(PGconn *c, const char *cookie, long long *user_id, char *csrf,
                   size_t csrf_size, struct err *e);
/* Ends the session of cookie (nothing to do is not an error). */
int session_delete(PGconn *c, const char *cookie, struct err *e);
/* Ends every session of user_id but the one of keep_cookie (NULL: every one), at once: their
 * next request is refused. */
int session_end_user(PGconn *c, long long user_id, const char *keep_cookie, struct err *e);

/* How long (ms) to hold a login for username before trying it: 0 below
 * SESSION_LOGIN_MAX_FAILURES recent failures of the name from all addresses together, then
 * SESSION_LOGIN_DELAY_MS doubling with each further failure, at most SESSION_LOGIN_DELAY_MAX_MS. */
int session_login_delay(PGconn *c, const char *username, long *delay_ms, struct err *e);
/* Counts and claims an attempt at once: *retry_after > 0 (seconds until a login may be tried)
 * when the pair or the address is over its limit; else *retry_after = 0 and the attempt is
 * recorded as a failure until session_login_succeeded says otherwise. */
int session_login_begin(PGconn *c, const char *username, const char *address,
                        long *retry_after, struct err *e);
/* The login of username from address succeeded: forgets that pair's failures. */
int session_login_succeeded(PGconn *c, const char *username, const char *address,
                            struct err *e);

#endif
