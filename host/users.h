/* users.h — the people who log in to the web admin: names (free text, 1–200 characters,
 * unique), yescrypt password hashes (crypto.h), enabled or not; at least one stays enabled.
 * Creates the first admin at start-up and users for `dhis2sync user add` and /api/users. Never logs, stores or returns a password. */
#ifndef DHIS2SYNC_USERS_H
#define DHIS2SYNC_USERS_H

#include <libpq-fe.h>
#include <stdbool.h>

#include "crypto.h"
#include "err.h"

struct app;

#define USERS_NAME_MAX 200      /* characters */
#define USERS_PASSWORD_MIN 8    /* characters */

/* 0 when name is valid UTF-8 of 1 to USERS_NAME_MAX characters without control characters;
 * else ERR_INPUT with a sentence saying what is wrong. */
int users_check_name(const char *name, struct err *e);
/* 0 when password has at least USERS_PASSWORD_MIN characters; else ERR_INPUT. The message
 * never contains the password. */
int users_check_password(const char *password, struct err *e);

/* Checks name and password, hashes the password and inserts the user; *id (may be NULL) gets
 * the new id. ERR_CONFLICT when the name is taken. */
int users_create(PGconn *c, const char *name, const char *password, long long *id,
                 struct err *e);

/* The enabled user called name: *id and hash filled; ERR_NOT_FOUND when there is none (a
 * disabled user is not found: it cannot log in). */
int users_find(PGconn *c, const char *name, long long *id, char hash[CRYPTO_PWHASH_MAX],
               struct err *e);
/* The password hash of user id; ERR_NOT_FOUND when there is none. */
int users_hash(PGconn *c, long long id, char hash[CRYPTO_PWHASH_MAX], struct err *e);
/* The user whose id (digits) or name is ref; ERR_NOT_FOUND when there is none. */
int users_resolve(PGconn *c, const char *ref, long long *id, struct err *e);

/* Checks and sets the password of user id and ends its sessions but keep_cookie's (NULL:
 * all), in one transaction. */
int users_set_password(PGconn *c, long long id, const char *password, const char *keep_cookie,
                       struct err *e);
/* Enables or disables user id; disabling ends its sessions at once. Disabling and deleting
 * refuse (ERR_CONFLICT) to leave no enabled user, also when two requests race: each locks
 * the enabled users before it counts them. */
int users_set_enabled(PGconn *c, long long id, bool enabled, struct err *e);
int users_delete(PGconn *c, long long id, struct err *e);
/* The name of user id into out (size bytes); ERR_NOT_FOUND when there is none. */
int users_name(PGconn *c, long long id, char *out, size_t size, struct err *e);

/* At start-up (serve): creates cfg.admin_user with cfg.admin_password when that user does not
 * exist (an existing user's password is never changed). With no password configured and no
 * user at all, logs a warning saying how to make one. */
int users_ensure_first_admin(struct app *app, struct err *e);

#endif
