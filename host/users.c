#include "users.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "app.h"
#include "crypto.h"
#include "db.h"
#include "log.h"
#include "session.h"

/* Characters (code points) in s, or -1 when s is not valid UTF-8 or holds a control
 * character (a name with a newline or an escape sequence would garble logs and lists). */
static long utf8_chars(const char *s, int allow_controls)
{
    const unsigned char *p = (const unsigned char *)s;
    long n = 0;
    while (*p) {
        unsigned c = *p;
        int extra;
        unsigned cp;
        if (c < 0x80) {
            if (!allow_controls && (c < 0x20 || c == 0x7f))
                return -1;
            p++;
            n++;
            continue;
        } else if ((c & 0xe0) == 0xc0) {
            extra = 1;
            cp = c & 0x1f;
        } else if ((c & 0xf0) == 0xe0) {
            extra = 2;
            cp = c & 0x0f;
        } else if ((c & 0xf8) == 0xf0) {
            extra = 3;
            cp = c & 0x07;
        } else {
            return -1;
        }
        p++;
        for (int i = 0; i < extra; i++, p++) {
            if ((*p & 0xc0) != 0x80)
                return -1;
            cp = cp << 6 | (*p & 0x3f);
        }
        /* overlong forms, surrogates and values past U+10FFFF are not UTF-8 */
        if ((extra == 1 && cp < 0x80) || (extra == 2 && cp < 0x800) ||
            (extra == 3 && cp < 0x10000) || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff))
            return -1;
        if (!allow_controls && cp >= 0x80 && cp <= 0x9f)
            return -1;
        n++;
    }
    return n;
}

int users_check_name(const char *name, struct err *e)
{
    long n = name ? utf8_chars(name, 0) : 0;
    if (n < 0)
        return err_set(e, ERR_INPUT, "a user name must be UTF-8 text without control characters");
    if (n == 0)
        return err_set(e, ERR_INPUT, "a user name must not be empty");
    if (n > USERS_NAME_MAX)
        return err_set(e, ERR_INPUT, "a user name is at most %d characters long (this one has %ld)",
                       USERS_NAME_MAX, n);
    return 0;
}

int users_check_password(const char *password, struct err *e)
{
    long n = password ? utf8_chars(password, 1) : 0;
    if (n == 0)
        return err_set(e, ERR_INPUT, "the password is empty");
    if (n < 0)
        return err_set(e, ERR_INPUT, "the password must be UTF-8 text");
    if (n < USERS_PASSWORD_MIN)
        return err_set(e, ERR_INPUT, "the password is too short: use at least %d characters",
                       USERS_PASSWORD_MIN);
    return 0;
}

int users_create(PGconn *c, const char *name, const char *password, long long *id,
                 struct err *e)
{
    char hash[CRYPTO_PWHASH_MAX];
    int rc;
    if ((rc = users_check_name(name, e)) || (rc = users_check_password(password, e)) ||
        (rc = crypto_password_hash(password, hash, e)))
        return rc;
    const char *params[] = {name, hash};
    PGresult *r = db_query(c, "INSERT INTO users (name, password_hash) VALUES ($1, $2) RETURNING id",
                           2, params, e);
    if (!r) {
        /* the database's own message would not name the user; ours does */
        if (e->code == ERR_CONFLICT)
            return err_set(e, ERR_CONFLICT, "a user named '%s' already exists", name);
        return e->code;
    }
    if (id)
        *id = strtoll(PQgetvalue(r, 0, 0), NULL, 10);
    PQclear(r);
    return 0;
}

/* One row of (id, password_hash) from sql with its one parameter. */
static int find_hash(PGconn *c, const char *sql, const char *param, long long *id,
                     char hash[CRYPTO_PWHASH_MAX], struct err *e)
{
    const char *params[] = {param};
    PGresult *r = db_query(c, sql, 1, params, e);
    if (!r)
        return e->code;
    int rc = 0;
    if (PQntuples(r) != 1 || (size_t)PQgetlength(r, 0, 1) >= CRYPTO_PWHASH_MAX) {
        rc = err_set(e, ERR_NOT_FOUND, "no such user");
    } else {
        *id = strtoll(PQgetvalue(r, 0, 0), NULL, 10);
        memcpy(hash, PQgetvalue(r, 0, 1), (size_t)PQgetlength(r, 0, 1) + 1);
    }
    PQclear(r);
    return rc;
}

int users_find(PGconn *c, const char *name, long long *id, char hash[CRYPTO_PWHASH_MAX],
               struct err *e)
{
    return find_hash(c, "SELECT id, password_hash FROM users WHERE name = $1 AND disabled_at IS NULL",
                     name, id, hash, e);
}

int users_hash(PGconn *c, long long id, char hash[CRYPTO_PWHASH_MAX], struct err *e)
{
    char idtext[32];
    long long found;
    snprintf(idtext, sizeof idtext, "%lld", id);
    return find_hash(c, "SELECT id, password_hash FROM users WHERE id = $1", idtext, &found, hash, e);
}

int users_resolve(PGconn *c, const char *ref, long long *id, struct err *e)
{
    /* an id wins over a name made of digits, as for instances */
    return db_find_id(c,
                      "SELECT id FROM users WHERE name = $1 OR "
                      "(id::text = $1 AND $1 ~ '^[0-9]{1,18}$') "
                      "ORDER BY (id::text = $1) DESC LIMIT 1",
                      ref, "user", id, e);
}

int users_set_password(PGconn *c, long long id, const char *password, const char *keep_cookie,
                       struct err *e)
{
    char hash[CRYPTO_PWHASH_MAX], idtext[32];
    int rc;
    if ((rc = users_check_password(password, e)) || (rc = crypto_password_hash(password, hash, e)))
        return rc;
    snprintf(idtext, sizeof idtext, "%lld", id);
    const char *params[] = {hash, idtext};
    if ((rc = db_exec(c, "BEGIN", 0, NULL, e)))
        return rc;
    rc = db_exec(c, "UPDATE users SET password_hash = $1 WHERE id = $2", 2, params, e);
    if (!rc)
        rc = session_end_user(c, id, keep_cookie, e);
    return db_finish(c, rc, e);
}

/* In a new transaction, locks every enabled user (in id order, so that two callers cannot
 * deadlock) and refuses with ERR_CONFLICT when user id is the only one: taking it away would
 * leave nobody who can log in. A caller that waited for the lock counts what the other one
 * left. On failure the transaction is rolled back. */
static int begin_keeping_one_enabled(PGconn *c, long long id, const char *doing, struct err *e)
{
    char idtext[32];
    snprintf(idtext, sizeof idtext, "%lld", id);
    const char *params[] = {idtext};
    int rc = db_exec(c, "BEGIN", 0, NULL, e);
    if (rc)
        return rc;
    PGresult *r = db_query(c,
                           "SELECT bool_or(id = $1::bigint) AND count(*) = 1 FROM "
                           "(SELECT id FROM users WHERE disabled_at IS NULL ORDER BY id FOR UPDATE) u",
                           1, params, e);
    if (!r)
        return db_finish(c, e->code, e);
    if (strcmp(PQgetvalue(r, 0, 0), "t") == 0)
        rc = err_set(e, ERR_CONFLICT,
                     "cannot %s the last enabled user: nobody could log in any more; add or "
                     "enable another user first", doing);
    PQclear(r);
    return rc ? db_finish(c, rc, e) : 0;
}

int users_set_enabled(PGconn *c, long long id, bool enabled, struct err *e)
{
    char idtext[32];
    snprintf(idtext, sizeof idtext, "%lld", id);
    const char *params[] = {idtext};
    if (enabled)
        return db_exec(c, "UPDATE users SET disabled_at = NULL WHERE id = $1", 1, params, e);
    int rc = begin_keeping_one_enabled(c, id, "disable", e);
    if (rc)
        return rc;
    rc = db_exec(c, "UPDATE users SET disabled_at = coalesce(disabled_at, now()) WHERE id = $1", 1,
                 params, e);
    if (!rc)
        rc = session_end_user(c, id, NULL, e);
    return db_finish(c, rc, e);
}

int users_delete(PGconn *c, long long id, struct err *e)
{
    char idtext[32];
    snprintf(idtext, sizeof idtext, "%lld", id);
    const char *params[] = {idtext};
    int rc = begin_keeping_one_enabled(c, id, "remove", e);
    if (rc)
        return rc;
    /* its sessions go with it (ON DELETE CASCADE) */
    return db_finish(c, db_exec(c, "DELETE FROM users WHERE id = $1", 1, params, e), e);
}

int users_name(PGconn *c, long long id, char *out, size_t size, struct err *e)
{
    char idtext[32];
    snprintf(idtext, sizeof idtext, "%lld", id);
    const char *params[] = {idtext};
    PGresult *r = db_query(c, "SELECT name FROM users WHERE id = $1", 1, params, e);
    if (!r)
        return e->code;
    int rc = 0;
    if (PQntuples(r) != 1)
        rc = err_set(e, ERR_NOT_FOUND, "user %lld does not exist", id);
    else
        snprintf(out, size, "%s", PQgetvalue(r, 0, 0));
    PQclear(r);
    return rc;
}

/* A fresh install with nothing configured still gets someone who can log in: the admin's
 * random password goes to a file only this user can read, never to the log. */
static int first_admin_with_random_password(struct app *app, PGconn *c, const char *name,
                                            struct err *e)
{
    char path[4096], password[CRYPTO_RANDOM_ID_LEN + 1];
    snprintf(path, sizeof path, "%s/admin-password", app->cfg.var_dir);
    int rc = crypto_random_id(password, e);
    if (rc)
        return rc;
    int fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
    if (fd < 0) {
        log_warn("there is no user yet, so nobody can log in to the web admin: create one with "
                 "`dhis2sync user add NAME` (the password is read from stdin), or set "
                 "DHIS2SYNC_ADMIN_PASSWORD (and DHIS2SYNC_ADMIN_USER, default admin) and restart "
                 "(%s could not be written: %s)", path, strerror(errno));
        return 0;
    }
    size_t len = strlen(password);
    int written = write(fd, password, len) == (ssize_t)len && write(fd, "\n", 1) == 1;
    close(fd);
    long long id;
    if (written)
        rc = users_create(c, name, password, &id, e);
    else
        rc = err_set(e, ERR_INTERNAL, "cannot write %s", path);
    explicit_bzero(password, sizeof password);
    if (rc) {
        unlink(path);
        if (rc != ERR_CONFLICT)
            return rc;
        err_clear(e); /* another process starting at the same time made the first admin */
        return 0;
    }
    log_warn("created the admin user '%s' with a random password, written to %s (readable only "
             "by this system user); log in with it at /login, or make other users with "
             "`dhis2sync user add NAME`", name, path);
    return 0;
}

int users_ensure_first_admin(struct app *app, struct err *e)
{
    const char *name = app->cfg.admin_user, *password = app->cfg.admin_password;
    PGconn *c = db_acquire(app->db, e);
    if (!c)
        return e->code;
    int rc = 0;
    PGresult *r = NULL;
    if (password) {
        const char *params[] = {name};
        if (!(r = db_query(c, "SELECT 1 FROM users WHERE name = $1", 1, params, e))) {
            rc = e->code;
            goto out;
        }
        if (PQntuples(r) > 0)
            goto out; /* DHIS2SYNC_ADMIN_PASSWORD only creates; it never resets a password */
        long long id;
        rc = users_create(c, name, password, &id, e);
        if (rc == ERR_CONFLICT) {
            rc = 0; /* another process starting at the same time made it */
            err_clear(e);
        } else if (rc) {
            char why[sizeof e->msg];
            snprintf(why, sizeof why, "%s", e->msg);
            err_set(e, rc, "DHIS2SYNC_ADMIN_USER / DHIS2SYNC_ADMIN_PASSWORD: %s", why);
        } else {
            log_info("created the admin user '%s' from DHIS2SYNC_ADMIN_USER and "
                     "DHIS2SYNC_ADMIN_PASSWORD", name);
        }
        goto out;
    }
    if (!(r = db_query(c, "SELECT 1 FROM users LIMIT 1", 0, NULL, e))) {
        rc = e->code;
        goto out;
    }
    if (PQntuples(r) == 0)
        rc = first_admin_with_random_password(app, c, name, e);
out:
    PQclear(r);
    db_release(app->db, c);
    return rc;
}
