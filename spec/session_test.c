/* Sessions for people from outside: logging in and out, the cookie's attributes, CSRF on
 * cookie requests, Bearer tokens beside sessions, expiry, the failed-login rate limit, and
 * login CSRF. */
#include <arpa/inet.h>
#include <ifaddrs.h>
#include <libpq-fe.h>
#include <netinet/in.h>
#include <sys/wait.h>
#include <unistd.h>

#include "harness.h"
#include "session.h"
#include "test.h"

#define ADMIN_PASSWORD "spec-admin-password"

struct session {
    char cookie[128];   /* "dhis2sync_session=VALUE", ready for a Cookie: header */
    char csrf[128];
};

/* The Set-Cookie line for the session cookie, without its line end; NULL if there is none. */
static char *set_cookie_line(const struct spec_resp *r)
{
    const char *p = r->headers ? strstr(r->headers, "Set-Cookie: dhis2sync_session=") : NULL;
    if (!p)
        return NULL;
    return strndup(p, strcspn(p, "\r\n"));
}

static void login_ok(struct spec_server *s, struct session *out)
{
    struct spec_resp r;
    spec_login(s, "admin", ADMIN_PASSWORD, NULL, &r);
    CHECKF(r.status == 200, "login: expected 200, saw %ld %s", r.status, r.body);
    char *line = set_cookie_line(&r);
    CHECKF(line, "no session cookie in %s", r.headers);
    const char *v = line + strlen("Set-Cookie: ");
    snprintf(out->cookie, sizeof out->cookie, "%.*s", (int)strcspn(v, ";"), v);
    free(line);
    cJSON *j = spec_resp_json(&r);
    const char *csrf = cJSON_GetStringValue(cJSON_GetObjectItem(j, "csrfToken"));
    CHECK(csrf);
    snprintf(out->csrf, sizeof out->csrf, "%s", csrf);
    cJSON_Delete(j);
    spec_resp_free(&r);
}

/* A request with the session cookie, and X-CSRF-Token: csrf unless csrf is NULL. */
static void with_cookie(struct spec_server *s, const struct session *ss, const char *method,
                        const char *path, const char *csrf, const char *body, struct spec_resp *r)
{
    char url[256], cookie[200], token[200];
    snprintf(url, sizeof url, "%s%s", s->base, path);
    snprintf(cookie, sizeof cookie, "Cookie: %s", ss->cookie);
    snprintf(token, sizeof token, "X-CSRF-Token: %s", csrf ? csrf : "");
    const char *headers[] = {cookie, "Content-Type: application/json", csrf ? token : NULL, NULL};
    CHECK(spec_http(method, url, headers, body, body ? strlen(body) : 0, r) == 0);
}

static PGconn *db_of(struct spec_server *s)
{
    PGconn *c = PQconnectdb(s->db);
    CHECKF(PQstatus(c) == CONNECTION_OK, "%s", PQerrorMessage(c));
    return c;
}

/* The first value of a one-row query. */
static char *sql_value(PGconn *c, const char *sql)
{
    PGresult *r = PQexec(c, sql);
    CHECKF(PQresultStatus(r) == PGRES_TUPLES_OK && PQntuples(r) == 1, "%s: %s", sql,
           PQresultErrorMessage(r));
    char *v = strdup(PQgetvalue(r, 0, 0));
    PQclear(r);
    return v;
}

static void sql_exec(PGconn *c, const char *sql)
{
    PGresult *r = PQexec(c, sql);
    CHECKF(PQresultStatus(r) == PGRES_COMMAND_OK, "%s: %s", sql, PQresultErrorMessage(r));
    PQclear(r);
}

TEST(login_answers_the_user_and_a_csrf_token_and_sets_a_strict_httponly_cookie)
{
    struct spec_server s;
    CHECK(spec_server_start(&s, spec_new_db(), NULL) == 0);
    struct spec_resp r;
    spec_login(&s, "admin", ADMIN_PASSWORD, NULL, &r);
    CHECK_INT(r.status, 200);
    cJSON *j = spec_resp_json(&r);
    cJSON *user = cJSON_GetObjectItem(j, "user");
    CHECK(cJSON_IsNumber(cJSON_GetObjectItem(user, "id")));
    CHECK_STR(cJSON_GetStringValue(cJSON_GetObjectItem(user, "name")), "admin");
    const char *csrf = cJSON_GetStringValue(cJSON_GetObjectItem(j, "csrfToken"));
    CHECK(csrf && strlen(csrf) >= 40);
    char *line = set_cookie_line(&r);
    CHECKF(line, "no session cookie in %s", r.headers);
    CHECK_CONTAINS(line, "; Path=/");
    CHECK_CONTAINS(line, "; HttpOnly");
    CHECK_CONTAINS(line, "; SameSite=Strict");
    CHECK_CONTAINS(line, "; Max-Age=43200");
    CHECKF(!strstr(line, "Secure"), "plain HTTP, yet the cookie is Secure: %s", line);
    CHECK(!strstr(r.body, ADMIN_PASSWORD));
    free(line);
    spec_resp_free(&r);

    /* behind a TLS proxy the cookie is Secure */
    const char *https[] = {"X-Forwarded-Proto: https", NULL};
    spec_login(&s, "admin", ADMIN_PASSWORD, https, &r);
    CHECK_INT(r.status, 200);
    line = set_cookie_line(&r);
    CHECK(line);
    CHECK_CONTAINS(line, "; Secure");
    CHECK_CONTAINS(line, "; HttpOnly");
    CHECK_CONTAINS(line, "; SameSite=Strict");
    spec_resp_free(&r);

    /* the database holds the SHA-256 of the cookie value, never the value */
    struct session ss;
    login_ok(&s, &ss);
    const char *value = strchr(ss.cookie, '=') + 1;
    PGconn *c = db_of(&s);
    const char *params[] = {value};
    PGresult *q = PQexecParams(c, "SELECT count(*) FILTER (WHERE id_hash = sha256(convert_to($1, 'UTF8'))), "
                                  "count(*) FILTER (WHERE position(convert_to($1, 'UTF8') in id_hash) > 0) "
                                  "FROM sessions", 1, NULL, params, NULL, NULL, 0);
    CHECKF(PQresultStatus(q) == PGRES_TUPLES_OK, "%s", PQresultErrorMessage(q));
    CHECK_STR(PQgetvalue(q, 0, 0), "1");
    CHECK_STR(PQgetvalue(q, 0, 1), "0");
    PQclear(q);
    PQfinish(c);
    spec_server_stop(&s);
}

TEST(wrong_password_and_unknown_user_get_the_same_401)
{
    struct spec_server s;
    CHECK(spec_server_start(&s, spec_new_db(), NULL) == 0);
    struct spec_resp wrong, unknown;
    spec_login(&s, "admin", "not-the-password", NULL, &wrong);
    spec_login(&s, "nobody-by-this-name", "not-the-password", NULL, &unknown);
    CHECK_INT(wrong.status, 401);
    CHECK_INT(unknown.status, 401);
    CHECK_STR(wrong.body, unknown.body);
    CHECK_CONTAINS(wrong.body, "wrong user name or password");
    CHECK(!set_cookie_line(&wrong) && !set_cookie_line(&unknown));
    spec_resp_free(&wrong);
    spec_resp_free(&unknown);

    /* a body without the fields is the caller's mistake, not a failed login */
    char url[256];
    snprintf(url, sizeof url, "%s/api/session", s.base);
    struct spec_resp r;
    const char *json[] = {"Content-Type: application/json", NULL};
    spec_http("POST", url, json, "{\"username\":\"admin\"}", 20, &r);
    CHECK_INT(r.status, 422);
    spec_resp_free(&r);
    spec_http("POST", url, json, "not json", 8, &r);
    CHECK_INT(r.status, 400);
    spec_resp_free(&r);
    /* what an HTML form on another site could send (login CSRF) is refused */
    const char *form[] = {"Content-Type: text/plain", NULL};
    char body[128];
    snprintf(body, sizeof body, "{\"username\":\"admin\",\"password\":\"%s\"}", ADMIN_PASSWORD);
    spec_http("POST", url, form, body, strlen(body), &r);
    CHECK_INT(r.status, 415);
    CHECK(!set_cookie_line(&r));
    spec_resp_free(&r);
    const char *multipart[] = {"Content-Type: multipart/form-data; boundary=x", NULL};
    spec_http("POST", url, multipart, body, strlen(body), &r);
    CHECK_INT(r.status, 415);
    spec_resp_free(&r);
    spec_server_stop(&s);
}

TEST(get_session_answers_for_a_live_cookie_and_401_otherwise)
{
    struct spec_server s;
    CHECK(spec_server_start(&s, spec_new_db(), NULL) == 0);
    struct session ss;
    login_ok(&s, &ss);
    struct spec_resp r;
    with_cookie(&s, &ss, "GET", "/api/session", NULL, NULL, &r);
    CHECK_INT(r.status, 200);
    cJSON *j = spec_resp_json(&r);
    CHECK_STR(cJSON_GetStringValue(cJSON_GetObjectItem(cJSON_GetObjectItem(j, "user"), "name")), "admin");
    CHECK_STR(cJSON_GetStringValue(cJSON_GetObjectItem(j, "csrfToken")), ss.csrf);
    spec_resp_free(&r);

    char url[256];
    snprintf(url, sizeof url, "%s/api/session", s.base);
    spec_http("GET", url, NULL, NULL, 0, &r);
    CHECK_INT(r.status, 401);
    spec_resp_free(&r);
    const char *forged[] = {"Cookie: dhis2sync_session=AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA", NULL};
    spec_http("GET", url, forged, NULL, 0, &r);
    CHECK_INT(r.status, 401);
    spec_resp_free(&r);
    /* an API token is not a session */
    spec_api(&s, "GET", "/api/session", NULL, &r);
    CHECK_INT(r.status, 401);
    spec_resp_free(&r);
    spec_server_stop(&s);
}

TEST(cookie_requests_with_unsafe_methods_need_the_csrf_token_before_the_body_is_read)
{
    struct spec_server s;
    CHECK(spec_server_start(&s, spec_new_db(), NULL) == 0);
    struct session ss;
    login_ok(&s, &ss);
    const char *methods[] = {"POST", "PUT", "PATCH", "DELETE"};
    for (size_t i = 0; i < sizeof methods / sizeof methods[0]; i++) {
        struct spec_resp r;
        with_cookie(&s, &ss, methods[i], "/api/jobs", NULL, "{not json", &r);
        CHECKF(r.status == 403, "%s without X-CSRF-Token: expected 403, saw %ld", methods[i], r.status);
        cJSON *j = spec_resp_json(&r);
        CHECK_STR(cJSON_GetStringValue(cJSON_GetObjectItem(j, "error")), "missing or wrong X-CSRF-Token");
        cJSON_Delete(j);
        spec_resp_free(&r);
        with_cookie(&s, &ss, methods[i], "/api/jobs", "wrong-token", "{not json", &r);
        CHECKF(r.status == 403, "%s with a wrong X-CSRF-Token: expected 403, saw %ld", methods[i], r.status);
        spec_resp_free(&r);
        char truncated[128];
        snprintf(truncated, sizeof truncated, "%.*s", (int)strlen(ss.csrf) - 1, ss.csrf);
        with_cookie(&s, &ss, methods[i], "/api/jobs", truncated, "{not json", &r);
        CHECKF(r.status == 403, "%s with a truncated X-CSRF-Token: expected 403, saw %ld", methods[i], r.status);
        spec_resp_free(&r);
        /* the right token passes authentication: what follows is the route's answer */
        with_cookie(&s, &ss, methods[i], "/api/no-such-route", ss.csrf, "{not json", &r);
        CHECKF(r.status == 404, "%s with the right X-CSRF-Token: expected 404, saw %ld %s",
               methods[i], r.status, r.body);
        spec_resp_free(&r);
    }
    /* safe methods need none */
    struct spec_resp r;
    with_cookie(&s, &ss, "GET", "/api/no-such-route", NULL, NULL, &r);
    CHECK_INT(r.status, 404);
    spec_resp_free(&r);
    /* logging out is unsafe too: without the token the session stays */
    with_cookie(&s, &ss, "DELETE", "/api/session", NULL, NULL, &r);
    CHECK_INT(r.status, 403);
    spec_resp_free(&r);
    with_cookie(&s, &ss, "GET", "/api/session", NULL, NULL, &r);
    CHECK_INT(r.status, 200);
    spec_resp_free(&r);
    spec_server_stop(&s);
}

TEST(bearer_requests_need_no_csrf_token_even_beside_a_cookie)
{
    struct spec_server s;
    CHECK(spec_server_start(&s, spec_new_db(), NULL) == 0);
    struct spec_resp r;
    spec_api(&s, "POST", "/api/no-such-route", "{}", &r);
    CHECK_INT(r.status, 404);
    spec_resp_free(&r);

    struct session ss;
    login_ok(&s, &ss);
    char url[256], cookie[200], auth[200];
    snprintf(url, sizeof url, "%s/api/no-such-route", s.base);
    snprintf(cookie, sizeof cookie, "Cookie: %s", ss.cookie);
    snprintf(auth, sizeof auth, "Authorization: Bearer %s", s.token);
    const char *both[] = {cookie, auth, NULL};
    spec_http("DELETE", url, both, NULL, 0, &r);
    CHECK_INT(r.status, 404);
    spec_resp_free(&r);
    /* a wrong token is not rescued by a good cookie */
    const char *bad[] = {cookie, "Authorization: Bearer d2s_wrong", NULL};
    spec_http("GET", url, bad, NULL, 0, &r);
    CHECK_INT(r.status, 401);
    spec_resp_free(&r);
    spec_server_stop(&s);
}

TEST(logout_deletes_the_session_and_clears_the_cookie)
{
    struct spec_server s;
    CHECK(spec_server_start(&s, spec_new_db(), NULL) == 0);
    struct session ss, other;
    login_ok(&s, &ss);
    login_ok(&s, &other);
    struct spec_resp r;
    with_cookie(&s, &ss, "DELETE", "/api/session", ss.csrf, NULL, &r);
    CHECK_INT(r.status, 204);
    char *line = set_cookie_line(&r);
    CHECKF(line, "logout did not clear the cookie: %s", r.headers);
    CHECK_CONTAINS(line, "dhis2sync_session=;");
    CHECK_CONTAINS(line, "Max-Age=0");
    spec_resp_free(&r);
    with_cookie(&s, &ss, "GET", "/api/session", NULL, NULL, &r);
    CHECK_INT(r.status, 401);
    spec_resp_free(&r);
    with_cookie(&s, &ss, "POST", "/api/no-such-route", ss.csrf, "{}", &r);
    CHECK_INT(r.status, 401);
    spec_resp_free(&r);
    /* another session of the same user is not affected */
    with_cookie(&s, &other, "GET", "/api/session", NULL, NULL, &r);
    CHECK_INT(r.status, 200);
    spec_resp_free(&r);
    PGconn *c = db_of(&s);
    CHECK_STR(sql_value(c, "SELECT count(*) FROM sessions"), "1");
    PQfinish(c);
    spec_server_stop(&s);
}

TEST(an_expired_session_is_refused_and_deleted)
{
    struct spec_server s;
    CHECK(spec_server_start(&s, spec_new_db(), NULL) == 0);
    struct session ss;
    login_ok(&s, &ss);
    PGconn *c = db_of(&s);
    /* fixed expiry: 12 hours after login */
    CHECK_STR(sql_value(c, "SELECT count(*) FROM sessions WHERE expires_at BETWEEN "
                           "now() + interval '11 hours 59 minutes' AND now() + interval '12 hours 1 minute'"),
              "1");
    sql_exec(c, "UPDATE sessions SET expires_at = now() - interval '1 second'");
    struct spec_resp r;
    with_cookie(&s, &ss, "GET", "/api/session", NULL, NULL, &r);
    CHECK_INT(r.status, 401);
    CHECK_CONTAINS(r.body, "expired");
    spec_resp_free(&r);
    CHECK_STR(sql_value(c, "SELECT count(*) FROM sessions"), "0");
    PQfinish(c);
    spec_server_stop(&s);
}

static void check_429(struct spec_resp *r)
{
    CHECKF(r->status == 429, "expected 429, saw %ld %s", r->status, r->body);
    const char *ra = strstr(r->headers, "Retry-After: ");
    CHECKF(ra, "no Retry-After in %s", r->headers);
    long secs = strtol(ra + 13, NULL, 10);
    CHECKF(secs >= 1 && secs <= 900, "Retry-After: %ld", secs);
    CHECK(!set_cookie_line(r));
}

TEST(failed_logins_for_a_user_from_many_addresses_slow_it_down_but_never_lock_it_out)
{
    struct spec_server s;
    CHECK(spec_server_start(&s, spec_new_db(), NULL) == 0);
    char xff[64];
    const char *headers[] = {xff, NULL};
    struct spec_resp r;
    for (int i = 0; i < SESSION_LOGIN_MAX_FAILURES + 1; i++) {
        snprintf(xff, sizeof xff, "X-Forwarded-For: 198.51.100.%d", i + 1);
        spec_login(&s, "admin", "wrong-password", headers, &r);
        CHECKF(r.status == 401, "failure %d: expected 401, saw %ld", i + 1, r.status);
        spec_resp_free(&r);
    }
    /* the right password from an address that has not failed gets in, after a wait */
    snprintf(xff, sizeof xff, "X-Forwarded-For: 198.51.100.99");
    spec_login(&s, "admin", ADMIN_PASSWORD, headers, &r);
    CHECKF(r.status == 200, "expected 200, saw %ld %s", r.status, r.body);
    spec_resp_free(&r);
    char *cat[] = {"/bin/cat", s.log_path, NULL};
    char *log = NULL;
    spec_run(cat, NULL, NULL, &log);
    CHECK_CONTAINS(log, "login slowed down by 250 ms");
    CHECK_CONTAINS(log, "login slowed down by 500 ms");
    CHECK(!strstr(log, "login refused"));
    free(log);
    spec_server_stop(&s);
}

TEST(five_failed_logins_for_a_name_from_an_address_refuse_that_pair_until_the_window_passes)
{
    struct spec_server s;
    CHECK(spec_server_start(&s, spec_new_db(), NULL) == 0);
    const char *attacker[] = {"X-Forwarded-For: 203.0.113.5", NULL};
    const char *other[] = {"X-Forwarded-For: 203.0.113.6", NULL};
    struct spec_resp r;
    for (int i = 0; i < 5; i++) {
        spec_login(&s, "admin", "wrong-password", attacker, &r);
        CHECKF(r.status == 401, "failure %d: expected 401, saw %ld", i + 1, r.status);
        spec_resp_free(&r);
    }
    spec_login(&s, "admin", ADMIN_PASSWORD, attacker, &r);
    check_429(&r);
    spec_resp_free(&r);
    spec_login(&s, "admin", ADMIN_PASSWORD, other, &r);
    CHECKF(r.status == 200, "another address: expected 200, saw %ld %s", r.status, r.body);
    spec_resp_free(&r);
    /* an unknown name gets the same treatment: 429 says nothing about which names exist */
    for (int i = 0; i < 5; i++) {
        spec_login(&s, "ghost", "wrong-password", attacker, &r);
        spec_resp_free(&r);
    }
    spec_login(&s, "ghost", "wrong-password", attacker, &r);
    check_429(&r);
    spec_resp_free(&r);

    /* names are not stored in clear in the failures table */
    PGconn *c = db_of(&s);
    CHECK_STR(sql_value(c, "SELECT count(*) FROM login_failures WHERE user_key IN ('admin', 'ghost')"), "0");
    /* the window passes */
    sql_exec(c, "UPDATE login_failures SET at = at - interval '16 minutes'");
    spec_login(&s, "admin", ADMIN_PASSWORD, attacker, &r);
    CHECKF(r.status == 200, "after the window: expected 200, saw %ld %s", r.status, r.body);
    spec_resp_free(&r);
    PQfinish(c);
    spec_server_stop(&s);
}

TEST(concurrent_failed_logins_pass_the_limit_no_more_than_it)
{
    struct spec_server s;
    CHECK(spec_server_start(&s, spec_new_db(), NULL) == 0);
    char url[256];
    snprintf(url, sizeof url, "%s/api/session", s.base);
    enum { N = 12 };
    pid_t kids[N];
    for (int i = 0; i < N; i++) {
        CHECK((kids[i] = fork()) >= 0);
        if (kids[i] == 0) {
            const char *h[] = {"Content-Type: application/json", "X-Forwarded-For: 192.0.2.77", NULL};
            const char *body = "{\"username\":\"ghost\",\"password\":\"wrong-password\"}";
            struct spec_resp r;
            spec_http("POST", url, h, body, strlen(body), &r);
            _exit(r.status == 401 ? 0 : r.status == 429 ? 1 : 2);
        }
    }
    int refused = 0, failed = 0;
    for (int i = 0; i < N; i++) {
        int st;
        CHECK(waitpid(kids[i], &st, 0) == kids[i] && WIFEXITED(st));
        failed += WEXITSTATUS(st) == 0;
        refused += WEXITSTATUS(st) == 1;
    }
    CHECKF(failed == SESSION_LOGIN_MAX_FAILURES && refused == N - failed,
           "%d concurrent attempts: expected %d tried (401) and the rest 429, saw %d and %d", N,
           SESSION_LOGIN_MAX_FAILURES, failed, refused);
    spec_server_stop(&s);
}

TEST(login_takes_only_json_and_only_from_this_site)
{
    struct spec_server s;
    CHECK(spec_server_start(&s, spec_new_db(), NULL) == 0);
    char url[256], own[128];
    snprintf(url, sizeof url, "%s/api/session", s.base);
    snprintf(own, sizeof own, "Origin: %s", s.base);
    char body[128];
    snprintf(body, sizeof body, "{\"username\":\"admin\",\"password\":\"%s\"}", ADMIN_PASSWORD);
    struct {
        const char *headers[3];
        long status;
    } cases[] = {
        /* what any page can post cross-site without a preflight */
        {{NULL}, 415}, /* curl -d: urlencoded */
        {{"Content-Type: application/x-www-form-urlencoded"}, 415},
        {{"Content-Type: application/json; charset=utf-8"}, 200},
        /* browsers say where a request comes from */
        {{"Content-Type: application/json", "Origin: http://evil.example"}, 403},
        {{"Content-Type: application/json", "Origin: null"}, 403},
        {{"Content-Type: application/json", "Sec-Fetch-Site: cross-site"}, 403},
        {{"Content-Type: application/json", "Sec-Fetch-Site: same-site"}, 403},
        {{"Content-Type: application/json", "Sec-Fetch-Site: same-origin"}, 200},
        {{"Content-Type: application/json", "Sec-Fetch-Site: none"}, 200},
        {{"Content-Type: application/json", own}, 200},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        struct spec_resp r;
        spec_http("POST", url, cases[i].headers, body, strlen(body), &r);
        CHECKF(r.status == cases[i].status, "%s %s: expected %ld, saw %ld %s",
               cases[i].headers[0] ? cases[i].headers[0] : "(no Content-Type)",
               cases[i].headers[1] ? cases[i].headers[1] : "", cases[i].status, r.status, r.body);
        CHECK((r.status == 200) == (set_cookie_line(&r) != NULL));
        spec_resp_free(&r);
    }
    spec_server_stop(&s);
}

TEST(twenty_failed_logins_from_an_address_for_any_names_refuse_it_but_not_other_addresses)
{
    struct spec_server s;
    CHECK(spec_server_start(&s, spec_new_db(), NULL) == 0);
    /* the test talks to 127.0.0.1, like a local reverse proxy: X-Forwarded-For is believed,
     * and its last entry is the one that counts */
    const char *attacker[] = {"X-Forwarded-For: 10.9.9.9, 203.0.113.7", NULL};
    const char *bystander[] = {"X-Forwarded-For: 203.0.113.7, 203.0.113.8", NULL};
    struct spec_resp r;
    for (int i = 0; i < SESSION_LOGIN_ADDRESS_MAX_FAILURES; i++) {
        char name[32];
        snprintf(name, sizeof name, "guess-%d", i);
        spec_login(&s, name, "wrong-password", attacker, &r);
        CHECK_INT(r.status, 401);
        spec_resp_free(&r);
    }
    spec_login(&s, "admin", ADMIN_PASSWORD, attacker, &r);
    check_429(&r);
    spec_resp_free(&r);
    spec_login(&s, "admin", ADMIN_PASSWORD, bystander, &r);
    CHECKF(r.status == 200, "another address: expected 200, saw %ld %s", r.status, r.body);
    spec_resp_free(&r);
    PGconn *c = db_of(&s);
    CHECK_STR(sql_value(c, "SELECT count(*) FROM login_failures WHERE address = '203.0.113.7'"), "20");
    PQfinish(c);
    spec_server_stop(&s);
}

TEST(a_successful_login_resets_the_user_failure_count)
{
    struct spec_server s;
    CHECK(spec_server_start(&s, spec_new_db(), NULL) == 0);
    char xff[64];
    const char *headers[] = {xff, NULL};
    struct spec_resp r;
    /* 4 + 4 failures for the user, from two addresses so no address reaches the limit */
    for (int round = 0; round < 2; round++) {
        snprintf(xff, sizeof xff, "X-Forwarded-For: 192.0.2.%d", round + 1);
        for (int i = 0; i < 4; i++) {
            spec_login(&s, "admin", "wrong-password", headers, &r);
            CHECK_INT(r.status, 401);
            spec_resp_free(&r);
        }
        spec_login(&s, "admin", ADMIN_PASSWORD, headers, &r);
        CHECKF(r.status == 200, "round %d: expected 200, saw %ld %s", round, r.status, r.body);
        spec_resp_free(&r);
    }
    spec_server_stop(&s);
}

/* An IPv4 address of this host other than loopback, or 0 when it has none. */
static int own_address(char out[INET_ADDRSTRLEN])
{
    struct ifaddrs *all = NULL;
    int found = 0;
    if (getifaddrs(&all) != 0)
        return 0;
    for (struct ifaddrs *i = all; i && !found; i = i->ifa_next) {
        if (!i->ifa_addr || i->ifa_addr->sa_family != AF_INET)
            continue;
        const struct in_addr *a = &((const struct sockaddr_in *)i->ifa_addr)->sin_addr;
        if ((ntohl(a->s_addr) >> 24) != 127 && inet_ntop(AF_INET, a, out, INET_ADDRSTRLEN))
            found = 1;
    }
    freeifaddrs(all);
    return found;
}

TEST(x_forwarded_for_is_ignored_unless_the_peer_is_on_loopback)
{
    char ip[INET_ADDRSTRLEN];
    if (!own_address(ip)) {
        printf("skipped: this host has no address but loopback\n");
        return;
    }
    struct spec_server s;
    CHECK(spec_server_start(&s, spec_new_db(), NULL) == 0);
    /* talk to the server over the host's own non-loopback address: the peer is not a local
     * proxy, so a client-chosen X-Forwarded-For must not let it escape the address limit */
    char base[128];
    snprintf(base, sizeof base, "http://%s:%d", ip, s.port);
    snprintf(s.base, sizeof s.base, "%s", base);
    char xff[64];
    const char *headers[] = {xff, NULL};
    struct spec_resp r;
    for (int i = 0; i < 5; i++) {
        snprintf(xff, sizeof xff, "X-Forwarded-For: 203.0.113.%d", i + 1);
        spec_login(&s, "admin", "wrong-password", headers, &r);
        CHECKF(r.status == 401, "failure %d over %s: expected 401, saw %ld", i + 1, base, r.status);
        spec_resp_free(&r);
    }
    snprintf(xff, sizeof xff, "X-Forwarded-For: 203.0.113.99");
    spec_login(&s, "admin", ADMIN_PASSWORD, headers, &r);
    check_429(&r);
    spec_resp_free(&r);
    PGconn *c = db_of(&s);
    const char *params[] = {ip};
    PGresult *q = PQexecParams(c, "SELECT count(*) FROM login_failures WHERE address = $1",
                               1, NULL, params, NULL, NULL, 0);
    CHECK_STR(PQgetvalue(q, 0, 0), "5");
    PQclear(q);
    PQfinish(c);
    spec_server_stop(&s);
}

TEST(x_forwarded_headers_count_from_a_proxy_listed_in_trusted_proxies)
{
    char ip[INET_ADDRSTRLEN];
    if (!own_address(ip)) {
        printf("skipped: this host has no address but loopback\n");
        return;
    }
    /* a proxy on another address (compose's gateway, a proxy host) is named by the operator */
    char setting[96];
    snprintf(setting, sizeof setting, "DHIS2SYNC_TRUSTED_PROXIES=192.0.2.1, %s", ip);
    char *env[] = {setting, NULL};
    struct spec_server s;
    CHECK(spec_server_start(&s, spec_new_db(), env) == 0);
    snprintf(s.base, sizeof s.base, "http://%s:%d", ip, s.port);
    char xff[64];
    const char *headers[] = {xff, "X-Forwarded-Proto: https", NULL};
    struct spec_resp r;
    for (int i = 0; i < 5; i++) {
        snprintf(xff, sizeof xff, "X-Forwarded-For: 198.51.100.%d", 7);
        spec_login(&s, "admin", "wrong-password", headers, &r);
        CHECK_INT(r.status, 401);
        spec_resp_free(&r);
    }
    /* the client behind the proxy is limited; another client of the same proxy is not */
    spec_login(&s, "admin", ADMIN_PASSWORD, headers, &r);
    check_429(&r);
    spec_resp_free(&r);
    snprintf(xff, sizeof xff, "X-Forwarded-For: 198.51.100.8");
    spec_login(&s, "admin", ADMIN_PASSWORD, headers, &r);
    CHECK_INT(r.status, 200);
    CHECK_CONTAINS(r.headers, "; Secure");
    spec_resp_free(&r);
    spec_server_stop(&s);
}
