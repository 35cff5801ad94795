/* auth.h — who is calling: `Authorization: Bearer TOKEN` (API tokens, stored as SHA-256
 * hashes) or a session cookie (with its CSRF token on unsafe methods). Also makes tokens for
 * `dhis2sync token add`. Never logs or returns a stored secret. */
#ifndef DHIS2SYNC_AUTH_H
#define DHIS2SYNC_AUTH_H

#include <libpq-fe.h>

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

#endif
