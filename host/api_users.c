/* /api/users — the people who log in (users.h): list, add, disable or enable, remove, and
 * a user's own password change. At least one enabled user always remains; a session's own
 * user cannot be disabled or removed through it (another user does that), so nobody locks
 * themselves out by a slip. */
#include <stdio.h>

#include "api.h"
#include "app.h"
#include "auth.h"
#include "crypto.h"
#include "db.h"
#include "log.h"
#include "users.h"

void api_users_list(struct app *app, struct http_req *rq, struct http_resp *rs)
{
    api_reply_page_as(app, rq, rs, "users", "users", "user_json");
}

static void reply_user(struct app *app, struct http_resp *rs, int status, long long id)
{
    char idtext[32];
    snprintf(idtext, sizeof idtext, "%lld", id);
    const char *params[] = {idtext};
    api_reply_query(app, rs, status, "SELECT user_json(u) FROM users u WHERE id = $1", 1, params,
                    "no such user");
}

/* Ends a handler: gives c back, then answers e's error, or else status with user id (no body
 * for 204). */
static void answer(struct app *app, struct http_resp *rs, PGconn *c, const struct err *e,
                   int status, long long id)
{
    if (c)
        db_release(app->db, c);
    if (e->code) {
        http_reply_err(rs, e);
    } else if (status == 204) {
        rs->status = 204;
        rs->content_type = "application/json";
    } else {
        reply_user(app, rs, status, id);
    }
}

/* {"name","password"}: 201 with the user; 409 when the name is taken. */
void api_users_create(struct app *app, struct http_req *rq, struct http_resp *rs)
{
    cJSON *body = http_body_json(rq, rs);
    if (!body)
        return;
    struct err e = {0}, why = {0};
    long long id = 0;
    PGconn *c = NULL;
    const char *name = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(body, "name"));
    const char *password = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(body, "password"));
    if (users_check_name(name, &why))
        err_field(&e, "name", "%s", why.msg);
    else if (users_check_password(password, &why))
        err_field(&e, "password", "%s", why.msg);
    else if ((c = db_acquire(app->db, &e)) && !users_create(c, name, password, &id, &e))
        log_info("user %lld created user %lld", rq->user_id, id);
    answer(app, rs, c, &e, 201, id);
    cJSON_Delete(body);
}

/* The user of rq->params[0] into *id; refuses (ERR_CONFLICT) the caller's own account. */
static int other_user(PGconn *c, const struct http_req *rq, const char *doing, long long *id,
                      struct err *e)
{
    int rc = users_resolve(c, rq->params[0], id, e);
    if (!rc && *id == rq->user_id)
        rc = err_set(e, ERR_CONFLICT, "you cannot %s your own account: another user can", doing);
    return rc;
}

/* {"enabled":false|true}: disabling ends the user's sessions at once. */
void api_users_update(struct app *app, struct http_req *rq, struct http_resp *rs)
{
    cJSON *body = http_body_json(rq, rs);
    if (!body)
        return;
    struct err e = {0};
    long long id = 0;
    PGconn *c = NULL;
    const cJSON *enabled = cJSON_GetObjectItemCaseSensitive(body, "enabled");
    bool on = cJSON_IsTrue(enabled);
    if (!cJSON_IsBool(enabled))
        err_field(&e, "enabled", "enabled: send true or false");
    else if ((c = db_acquire(app->db, &e)) && !other_user(c, rq, on ? "enable" : "disable", &id, &e) &&
             !users_set_enabled(c, id, on, &e))
        log_info("user %lld %s user %lld", rq->user_id, on ? "enabled" : "disabled", id);
    answer(app, rs, c, &e, 200, id);
    cJSON_Delete(body);
}

void api_users_delete(struct app *app, struct http_req *rq, struct http_resp *rs)
{
    struct err e = {0};
    long long id = 0;
    PGconn *c = db_acquire(app->db, &e);
    if (c && !other_user(c, rq, "remove", &id, &e) && !users_delete(c, id, &e))
        log_info("user %lld removed user %lld", rq->user_id, id);
    answer(app, rs, c, &e, 204, id);
}

/* POST /api/users/me/password {"oldPassword","newPassword"}: the session's user changes its
 * own password; its other sessions end, this one stays. 204. */
void api_users_password(struct app *app, struct http_req *rq, struct http_resp *rs)
{
    if (!rq->user_id) {
        http_reply_error(rs, 403, NULL, "an API token belongs to no user, so it has no password to "
                                        "change: log in as the user and change it from that session");
        return;
    }
    cJSON *body = http_body_json(rq, rs);
    if (!body)
        return;
    struct err e = {0}, why = {0};
    char hash[CRYPTO_PWHASH_MAX];
    PGconn *c = NULL;
    const char *old = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(body, "oldPassword"));
    const char *fresh = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(body, "newPassword"));
    if (!old || !*old) {
        err_field(&e, "oldPassword", "enter your current password");
        goto out;
    }
    if (users_check_password(fresh, &why)) {
        err_field(&e, "newPassword", "%s", why.msg);
        goto out;
    }
    if (!(c = db_acquire(app->db, &e)) || users_hash(c, rq->user_id, hash, &e))
        goto out;
    /* yescrypt takes a while: the connection goes back to the pool meanwhile */
    db_release(app->db, c);
    c = NULL;
    if (!crypto_password_verify(old, hash)) {
        log_info("user %lld: password not changed, the current password was wrong", rq->user_id);
        err_field(&e, "oldPassword", "this is not your current password");
        goto out;
    }
    if ((c = db_acquire(app->db, &e)) &&
        !users_set_password(c, rq->user_id, fresh, auth_session_cookie(rq), &e))
        log_info("user %lld changed their password; their other sessions ended", rq->user_id);
out:
    answer(app, rs, c, &e, 204, 0);
    cJSON_Delete(body);
}
