/* /api/session — logging in and out with a user name and password (people, the web admin).
 * POST is public (it is how one gets a session); GET and DELETE need the session itself. */
#include <arpa/inet.h>
#include <microhttpd.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>

#include "api.h"
#include "app.h"
#include "auth.h"
#include "db.h"
#include "log.h"
#include "session.h"
#include "users.h"

/* One answer for a wrong password and an unknown name alike, so that the answer does not
 * tell which names exist. */
static const char bad_login[] = "wrong user name or password";

/* The address the failed-login limit counts against. It is the connection's peer, except
 * that a trusted reverse proxy's X-Forwarded-For is believed: the last entry, the one that
 * proxy added itself (entries before it were sent by the client and can be anything). A header
 * from any other peer is ignored, since anyone could send one to escape the limit or to lock
 * out someone else's address. */
static void client_address(const struct app *app, const struct http_req *rq,
                           char out[INET6_ADDRSTRLEN])
{
    http_peer_address(rq, out, INET6_ADDRSTRLEN);
    const char *xff = http_header(rq, "X-Forwarded-For");
    if (!xff || !http_from_trusted_proxy(app, rq))
        return;
    const char *last = strrchr(xff, ',');
    last = last ? last + 1 : xff;
    while (*last == ' ' || *last == '\t')
        last++;
    char candidate[INET6_ADDRSTRLEN];
    size_t len = strcspn(last, " \t");
    if (len == 0 || len >= sizeof candidate)
        return;
    memcpy(candidate, last, len);
    candidate[len] = '\0';
    /* only a well-formed address replaces the peer's: the value goes into the database */
    unsigned char buf[sizeof(struct in6_addr)];
    if (inet_pton(AF_INET, candidate, buf) == 1 || inet_pton(AF_INET6, candidate, buf) == 1)
        memcpy(out, candidate, len + 1);
}

static void set_cookie(struct http_req *rq, struct http_resp *rs, const char *value, int max_age)
{
    char cookie[256];
    /* HttpOnly: page scripts never see it; SameSite=Strict: other sites' pages do not make
     * the browser send it; Secure only behind TLS, so login still works on plain
     * http://127.0.0.1 during setup */
    snprintf(cookie, sizeof cookie, "%s=%s; Path=/; Max-Age=%d; HttpOnly; SameSite=Strict%s",
             SESSION_COOKIE, value, max_age, rq->secure ? "; Secure" : "");
    http_add_header(rs, "Set-Cookie", cookie);
}

static void reply_session(struct http_resp *rs, long long user_id, const char *name,
                          const char *csrf)
{
    cJSON *o = cJSON_CreateObject(), *user = cJSON_CreateObject();
    if (!o || !user || !cJSON_AddItemToObject(o, "user", user)) {
        cJSON_Delete(o);
        cJSON_Delete(user);
        http_reply_error(rs, 500, NULL, "out of memory");
        return;
    }
    if (!cJSON_AddNumberToObject(user, "id", (double)user_id) ||
        !cJSON_AddStringToObject(user, "name", name) ||
        !cJSON_AddStringToObject(o, "csrfToken", csrf)) {
        cJSON_Delete(o);
        http_reply_error(rs, 500, NULL, "out of memory");
        return;
    }
    http_reply_json(rs, 200, o);
}

/* Login CSRF (another site logging the browser in as the attacker's user): browsers say where
 * a request comes from. Sec-Fetch-Site is believed first (a proxy that rewrites Host leaves it
 * alone); else Origin must name the host the request was sent to (Host, or a trusted proxy's
 * X-Forwarded-Host). A caller sending neither is not a browser (curl, scripts). */
static bool login_from_this_site(const struct app *app, const struct http_req *rq)
{
    const char *site = http_header(rq, "Sec-Fetch-Site");
    if (site)
        return strcasecmp(site, "same-origin") == 0 || strcasecmp(site, "none") == 0;
    const char *origin = http_header(rq, "Origin");
    if (!origin)
        return true;
    const char *authority = strstr(origin, "://"); /* none in "null": sandboxed and file: pages */
    if (!authority)
        return false;
    authority += 3;
    const char *host = http_header(rq, "Host");
    const char *forwarded = http_from_trusted_proxy(app, rq) ? http_header(rq, "X-Forwarded-Host") : NULL;
    return (host && strcasecmp(authority, host) == 0) ||
           (forwarded && strcasecmp(authority, forwarded) == 0);
}

/* application/json, with or without parameters: the one type another origin cannot post
 * without a CORS preflight (which this server never grants). */
static bool is_json(const char *type)
{
    return type && strncasecmp(type, "application/json", 16) == 0 &&
           (type[16] == '\0' || type[16] == ';' || type[16] == ' ');
}

void api_session_create(struct app *app, struct http_req *rq, struct http_resp *rs)
{
    if (!login_from_this_site(app, rq)) {
        http_reply_error(rs, 403, NULL, "log in from this server's own pages: this request comes from another site");
        return;
    }
    if (!is_json(http_header(rq, "Content-Type"))) {
        http_reply_error(rs, 415, NULL, "send the login as Content-Type: application/json");
        return;
    }
    cJSON *body = http_body_json(rq, rs);
    if (!body)
        return;
    PGconn *c = NULL;
    struct err e = {0};
    const char *username = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(body, "username"));
    const char *password = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(body, "password"));
    if (!username || !*username || !password || !*password) {
        cJSON *detail = cJSON_CreateObject();
        cJSON_AddStringToObject(detail, "field", !username || !*username ? "username" : "password");
        http_reply_error(rs, 422, detail, "send {\"username\":\"…\",\"password\":\"…\"}");
        goto out;
    }
    char address[INET6_ADDRSTRLEN];
    client_address(app, rq, address);

    if (!(c = db_acquire(app->db, &e)))
        goto fail;
    if (!rq->delayed) {
        long delay = 0;
        if (session_login_delay(c, username, &delay, &e))
            goto fail;
        if (delay > 0) {
            log_info("login slowed down by %ld ms: many failed logins for this name (client %s)",
                     delay, address);
            rs->delay_ms = delay;
            goto out;
        }
    }
    long retry_after = 0;
    if (session_login_begin(c, username, address, &retry_after, &e))
        goto fail;
    if (retry_after > 0) {
        char secs[32];
        snprintf(secs, sizeof secs, "%ld", retry_after);
        http_reply_error(rs, 429, NULL, "too many failed logins: try again in %ld seconds", retry_after);
        http_add_header(rs, "Retry-After", secs);
        log_warn("login refused for a while: too many failed logins (client %s)", address);
        goto out;
    }
    long long user_id = 0;
    char hash[CRYPTO_PWHASH_MAX];
    int found = users_find(c, username, &user_id, hash, &e);
    if (found == ERR_INPUT || found == ERR_NOT_FOUND) {
        /* a name that is not valid text for the database cannot exist either */
        found = ERR_NOT_FOUND;
        err_clear(&e);
    } else if (found) {
        goto fail;
    }
    /* yescrypt takes a while: the connection goes back to the pool meanwhile */
    db_release(app->db, c);
    c = NULL;
    /* an unknown name costs one yescrypt too (against a dummy hash): timing tells nothing */
    bool ok = crypto_password_verify(password, found == 0 ? hash : NULL);
    if (!(c = db_acquire(app->db, &e)))
        goto fail;
    if (!ok) {
        /* session_login_begin has counted it already */
        log_info("failed login (client %s)", address);
        http_reply_error(rs, 401, NULL, "%s", bad_login);
        goto out;
    }
    char cookie[CRYPTO_RANDOM_ID_LEN + 1], csrf[CRYPTO_RANDOM_ID_LEN + 1];
    if (session_login_succeeded(c, username, address, &e) || session_create(c, user_id, cookie, csrf, &e))
        goto fail;
    /* a session this browser had before is replaced, not left behind */
    const char *previous = auth_session_cookie(rq);
    if (previous && session_delete(c, previous, &e))
        goto fail;
    log_info("user %lld logged in (client %s)", user_id, address);
    reply_session(rs, user_id, username, csrf); /* names match exactly: it is the user's name */
    set_cookie(rq, rs, cookie, SESSION_TTL_S);
    goto out;
fail:
    http_reply_err(rs, &e);
out:
    if (c)
        db_release(app->db, c);
    cJSON_Delete(body);
}

void api_session_get(struct app *app, struct http_req *rq, struct http_resp *rs)
{
    if (!rq->user_id) {
        http_reply_error(rs, 401, NULL, "no session: this request carries an API token; "
                                        "log in with POST /api/session");
        return;
    }
    struct err e = {0};
    char name[1024];
    PGconn *c = db_acquire(app->db, &e);
    if (!c) {
        http_reply_err(rs, &e);
        return;
    }
    int rc = users_name(c, rq->user_id, name, sizeof name, &e);
    db_release(app->db, c);
    if (rc) {
        /* the user was deleted after the session's lookup */
        http_reply_error(rs, 401, NULL, "the session is not valid: log in again");
        return;
    }
    reply_session(rs, rq->user_id, name, rq->csrf_token);
}

void api_session_delete(struct app *app, struct http_req *rq, struct http_resp *rs)
{
    const char *cookie = auth_session_cookie(rq);
    if (!rq->user_id || !cookie) {
        http_reply_error(rs, 401, NULL, "no session to log out of: this request carries an API token");
        return;
    }
    struct err e = {0};
    PGconn *c = db_acquire(app->db, &e);
    if (!c || session_delete(c, cookie, &e)) {
        if (c)
            db_release(app->db, c);
        http_reply_err(rs, &e);
        return;
    }
    db_release(app->db, c);
    log_info("user %lld logged out", rq->user_id);
    free(rs->body);
    rs->body = NULL;
    rs->len = 0;
    rs->status = 204;
    set_cookie(rq, rs, "", 0);
}
