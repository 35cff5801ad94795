/* auth.h — who is calling: `Authorization: Bearer TOKEN` (API tokens, stored as SHA-256
 * hashes) or a session cookie (with its CSRF token on unsafe methods). Also makes tokens for
 * `dhis2sync token add`, lists, expires and revokes them. Never logs or returns a stored
 * secret, and keeps no cache: a revoked or expired token is refused at its next request. */
#ifndef DHIS2SYNC_AUTH_H
#define DHIS2SYNC_AUTH_H

#include <cJSON.h>
#include <libpq-fe.h>
#include <time.h>

#include "err.h"

struct app;
struct http_req;

/* Who is calling, decided before any handler looks at the body:
 * - `Authorization: Bearer TOKEN`: the API token (rq->token_id set, user_id 0); no CSRF token
 *   is needed. A wrong token is 401 even when a session cookie comes along.
 * - else the session cookie (SESSION_COOKIE, session.h): a live session sets rq->user_id and
 *   rq->csrf_token; a method other than GET, HEAD or OPTIONS must also carry `X-CSRF-Token`
 *   equal to the session's (compared in constant time), else ERR_FORBIDDEN (403) with
 *   "missing or wrong X-CSRF-Token". An unknown or expired session is ERR_AUTH.
 * - neither: ERR_AUTH (401).
 * Returns 0, ERR_AUTH, ERR_FORBIDDEN or ERR_DB (503). */
int auth_check(struct app *app, struct http_req *rq, struct err *e);

/* The session cookie's value in rq, or NULL when there is none. */
const char *auth_session_cookie(const struct http_req *rq);

/* Creates an API token labelled name; *token_out (caller frees) is the only copy of it. */
int auth_token_create(PGconn *c, const char *name, char **token_out, struct err *e);
/* The same, expiring at expires_at (a time_t; 0 = never); *id_out (may be NULL) gets its id. */
int auth_token_create_expiring(PGconn *c, const char *name, time_t expires_at, char **token_out,
                               long long *id_out, struct err *e);
/* When a token made at now with expiry spec expires: "90d", "12h", "30m" (days, hours,
 * minutes from now), "2027-01-31" (that day's start, UTC) or "2027-01-31T12:00:00Z".
 * ERR_INPUT for another form or a time that is not in the future; the message reads after
 * the name of the option or field ("--expires: …"). */
int auth_token_expiry(const char *spec, time_t now, time_t *out, struct err *e);
/* Every token, oldest first: [{"id","name","createdAt","lastUsedAt","expiresAt","expired"}]
 * (times ISO 8601 UTC or null); never the token nor its hash. NULL on error. */
cJSON *auth_token_list(PGconn *c, struct err *e);
/* Deletes the token whose id (digits) or label is ref; its next request is refused. A label
 * that several tokens share is ERR_CONFLICT (revoke by id); none is ERR_NOT_FOUND.
 * *revoked_id gets the id. */
int auth_token_revoke(PGconn *c, const char *ref, long long *revoked_id, struct err *e);

#endif
