/* auth.h — who is calling: `Authorization: Bearer TOKEN` (API tokens, stored as SHA-256
 * hashes) or a session cookie (with its CSRF token on unsafe methods). Also makes tokens for
 * `dhis2sync token add`. Never logs or returns a stored secret. */
#ifndef DHIS2SYNC_AUTH_H
#define DHIS2SYNC_AUTH_H

#include <libpq-fe.h>

#include "err.h"

struct app;
struct http_req;

/* 0 and rq's identity filled, or ERR_AUTH (401) / ERR_FORBIDDEN (403, CSRF) / ERR_DB. */
int auth_check(struct app *app, struct http_req *rq, struct err *e);

/* Creates an API token labelled name; *token_out (caller frees) is the only copy of it. */
int auth_token_create(PGconn *c, const char *name, char **token_out, struct err *e);

#endif
