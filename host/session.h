/* session.h — sessions for people and the failed-login rate limit, both in PostgreSQL.
 *
 * Sessions: the cookie value is a random 256-bit id; the database keeps only its SHA-256
 * (sessions.id_hash), so a database dump cannot be replayed as a cookie. Each session has its
 * own random CSRF token. Expiry is fixed, not sliding: SESSION_TTL_S after login, the same as
 * the cookie's Max-Age; then the user logs in again. Expired rows are deleted when one is met
 * and at each login.
 *
 * Rate limit: SESSION_LOGIN_MAX_FAILURES failed logins within SESSION_LOGIN_WINDOW_S for one
 * user name, or separately from one client address, refuse further logins for that name or
 * address (even with the right password) until the oldest of those failures leaves the
 * window. A successful login clears the name's failures (not the address's). Names that exist
 * and names that do not are counted alike, so a 429 reveals nothing about which exist. The
 * count is kept in the table login_failures, so all processes on one database share it;
 * concurrent attempts may pass the check together, so the bound is N plus the number of
 * requests in flight at once. Never logs a password, a cookie or a CSRF token. */
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

/* A new session for user_id: cookie (the only copy of the id) and csrf filled. */
int session_create(PGconn *c, long long user_id, char cookie[CRYPTO_RANDOM_ID_LEN + 1],
                   char csrf[CRYPTO_RANDOM_ID_LEN + 1], struct err *e);
/* The live session whose cookie value is cookie: *user_id and csrf (csrf_size bytes) filled.
 * ERR_AUTH when there is none or it has expired (expired rows are deleted then). */
int session_lookup(PGconn *c, const char *cookie, long long *user_id, char *csrf,
                   size_t csrf_size, struct err *e);
/* Ends the session of cookie (nothing to do is not an error). */
int session_delete(PGconn *c, const char *cookie, struct err *e);

/* 0 and *retry_after = 0 when a login for username from address may be tried; otherwise
 * *retry_after is the number of seconds until it may (at least 1). */
int session_login_allowed(PGconn *c, const char *username, const char *address,
                          long *retry_after, struct err *e);
/* Records a failed login for username and for address. */
int session_login_failed(PGconn *c, const char *username, const char *address, struct err *e);
/* Clears username's failures after a successful login. */
int session_login_succeeded(PGconn *c, const char *username, struct err *e);

#endif
