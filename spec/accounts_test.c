/* Accounts from outside, through /api/users: adding users, disabling (its sessions end, its
 * logins answer as a wrong password), removing, one's own password change (other sessions
 * end, this one stays), and that at least one enabled user always remains. */
#include <sys/wait.h>
#include <unistd.h>

#include "harness.h"
#include "test.h"

#define ADMIN_PASSWORD "spec-admin-password"

struct session {
    char cookie[128]; /* "dhis2sync_session=VALUE" */
    char csrf[128];
};

/* POST /api/session as user; on 200 fills ss (may be NULL). Returns the status; *body (may be
 * NULL) gets the answer's body, caller frees. */
static long login(struct spec_server *s, const char *user, const char *password,
                  struct session *ss, char **body)
{
    struct spec_resp r;
    spec_login(s, user, password, NULL, &r);
    if (r.status == 200 && ss) {
        const char *v = strstr(r.headers, "Set-Cookie: dhis2sync_session=");
        CHECKF(v, "no session cookie in %s", r.headers);
        v += strlen("Set-Cookie: ");
        snprintf(ss->cookie, sizeof ss->cookie, "%.*s", (int)strcspn(v, ";"), v);
        cJSON *j = spec_resp_json(&r);
        snprintf(ss->csrf, sizeof ss->csrf, "%s",
                 cJSON_GetStringValue(cJSON_GetObjectItem(j, "csrfToken")));
        cJSON_Delete(j);
    }
    if (body)
        *body = strdup(r.body ? r.body : "");
    long status = r.status;
    spec_resp_free(&r);
    return status;
}

/* A request with the session's cookie and CSRF token. */
static void as_session(struct spec_server *s, const struct session *ss, const char *method,
                       const char *path, const char *body, struct spec_resp *r)
{
    char url[256], cookie[200], csrf[200];
    snprintf(url, sizeof url, "%s%s", s->base, path);
    snprintf(cookie, sizeof cookie, "Cookie: %s", ss->cookie);
    snprintf(csrf, sizeof csrf, "X-CSRF-Token: %s", ss->csrf);
    const char *headers[] = {cookie, csrf, "Content-Type: application/json", NULL};
    CHECK(spec_http(method, url, headers, body, body ? strlen(body) : 0, r) == 0);
}

static long session_status(struct spec_server *s, const struct session *ss)
{
    struct spec_resp r;
    as_session(s, ss, "GET", "/api/session", NULL, &r);
    long status = r.status;
    spec_resp_free(&r);
    return status;
}

/* method path body with the server's token answers status; its JSON (caller deletes). */
static cJSON *api_expect(struct spec_server *s, const char *method, const char *path,
                         const char *body, long status)
{
    struct spec_resp r;
    CHECK(spec_api(s, method, path, body, &r) == 0);
    CHECKF(r.status == status, "%s %s: expected %ld, saw %ld %s", method, path, status, r.status,
           r.body);
    cJSON *j = spec_resp_json(&r);
    spec_resp_free(&r);
    return j;
}

/* The user called name in GET /api/users (a copy), or NULL. */
static cJSON *listed_user(struct spec_server *s, const char *name)
{
    cJSON *list = api_expect(s, "GET", "/api/users", NULL, 200), *u, *found = NULL;
    CHECK(cJSON_IsObject(cJSON_GetObjectItem(list, "pager")));
    cJSON_ArrayForEach(u, cJSON_GetObjectItem(list, "users")) {
        if (strcmp(cJSON_GetStringValue(cJSON_GetObjectItem(u, "name")), name) == 0)
            found = cJSON_Duplicate(u, 1);
    }
    cJSON_Delete(list);
    return found;
}

static void check_error_field(cJSON *j, const char *field)
{
    CHECKF(cJSON_IsString(cJSON_GetObjectItem(j, "error")), "an error message");
    CHECK_STR(cJSON_GetStringValue(cJSON_GetObjectItem(cJSON_GetObjectItem(j, "detail"), "field")),
              field);
}

TEST(users_api_lists_adds_and_refuses_a_taken_name_or_a_short_password)
{
    struct spec_server s;
    CHECK(spec_server_start(&s, spec_new_db(), NULL) == 0);
    cJSON *admin = listed_user(&s, "admin");
    CHECKF(admin, "admin in GET /api/users");
    CHECK(cJSON_IsNumber(cJSON_GetObjectItem(admin, "id")));
    CHECK(cJSON_IsTrue(cJSON_GetObjectItem(admin, "enabled")));
    CHECK(cJSON_IsString(cJSON_GetObjectItem(admin, "createdAt")));
    CHECK(!cJSON_GetObjectItem(admin, "passwordHash") && !cJSON_GetObjectItem(admin, "password_hash"));
    cJSON_Delete(admin);

    cJSON *alice = api_expect(&s, "POST", "/api/users",
                              "{\"name\":\"alice\",\"password\":\"alice-password\"}", 201);
    CHECK_STR(cJSON_GetStringValue(cJSON_GetObjectItem(alice, "name")), "alice");
    CHECK(cJSON_IsTrue(cJSON_GetObjectItem(alice, "enabled")));
    CHECK(cJSON_IsNull(cJSON_GetObjectItem(alice, "lastLoginAt")));
    char *shown = cJSON_PrintUnformatted(alice);
    CHECK(!strstr(shown, "alice-password"));
    free(shown);
    cJSON_Delete(alice);
    CHECK_INT(login(&s, "alice", "alice-password", NULL, NULL), 200);
    alice = listed_user(&s, "alice");
    CHECKF(cJSON_IsString(cJSON_GetObjectItem(alice, "lastLoginAt")), "lastLoginAt after a login");
    cJSON_Delete(alice);

    cJSON *j = api_expect(&s, "POST", "/api/users", "{\"name\":\"alice\",\"password\":\"another-one\"}", 409);
    CHECK_CONTAINS(cJSON_GetStringValue(cJSON_GetObjectItem(j, "error")), "alice");
    cJSON_Delete(j);
    j = api_expect(&s, "POST", "/api/users", "{\"name\":\"carol\",\"password\":\"short\"}", 422);
    check_error_field(j, "password");
    cJSON_Delete(j);
    j = api_expect(&s, "POST", "/api/users", "{\"name\":\"\",\"password\":\"long-enough\"}", 422);
    check_error_field(j, "name");
    cJSON_Delete(j);
    CHECK(!listed_user(&s, "carol"));
    spec_server_stop(&s);
}

TEST(a_disabled_user_loses_its_sessions_and_logs_in_as_with_a_wrong_password)
{
    struct spec_server s;
    CHECK(spec_server_start(&s, spec_new_db(), NULL) == 0);
    cJSON_Delete(api_expect(&s, "POST", "/api/users", "{\"name\":\"bob\",\"password\":\"bob-password\"}", 201));
    struct session bob;
    CHECK_INT(login(&s, "bob", "bob-password", &bob, NULL), 200);
    CHECK_INT(session_status(&s, &bob), 200);

    cJSON *u = api_expect(&s, "PATCH", "/api/users/bob", "{\"enabled\":false}", 200);
    CHECK(cJSON_IsFalse(cJSON_GetObjectItem(u, "enabled")));
    cJSON_Delete(u);
    CHECK_INT(session_status(&s, &bob), 401);
    char *disabled = NULL, *wrong = NULL;
    CHECK_INT(login(&s, "bob", "bob-password", NULL, &disabled), 401);
    CHECK_INT(login(&s, "bob", "not-bobs-password", NULL, &wrong), 401);
    CHECK_STR(disabled, wrong);

    cJSON *j = api_expect(&s, "PATCH", "/api/users/bob", "{}", 422);
    check_error_field(j, "enabled");
    cJSON_Delete(j);
    u = api_expect(&s, "PATCH", "/api/users/bob", "{\"enabled\":true}", 200);
    CHECK(cJSON_IsTrue(cJSON_GetObjectItem(u, "enabled")));
    cJSON_Delete(u);
    CHECK_INT(login(&s, "bob", "bob-password", &bob, NULL), 200);

    /* removing ends its sessions too */
    cJSON_Delete(api_expect(&s, "DELETE", "/api/users/bob", NULL, 204));
    CHECK_INT(session_status(&s, &bob), 401);
    CHECK(!listed_user(&s, "bob"));
    cJSON_Delete(api_expect(&s, "DELETE", "/api/users/bob", NULL, 404));
    free(disabled);
    free(wrong);
    spec_server_stop(&s);
}

TEST(the_last_enabled_user_cannot_be_disabled_or_removed_nor_oneself)
{
    struct spec_server s;
    CHECK(spec_server_start(&s, spec_new_db(), NULL) == 0);
    cJSON *j = api_expect(&s, "PATCH", "/api/users/admin", "{\"enabled\":false}", 409);
    CHECK_CONTAINS(cJSON_GetStringValue(cJSON_GetObjectItem(j, "error")), "last enabled user");
    cJSON_Delete(j);
    cJSON_Delete(api_expect(&s, "DELETE", "/api/users/admin", NULL, 409));

    /* a disabled second user does not count */
    cJSON *dave = api_expect(&s, "POST", "/api/users", "{\"name\":\"dave\",\"password\":\"dave-password\"}", 201);
    char path[64];
    snprintf(path, sizeof path, "/api/users/%d", cJSON_GetObjectItem(dave, "id")->valueint);
    cJSON_Delete(dave);
    cJSON_Delete(api_expect(&s, "PATCH", path, "{\"enabled\":false}", 200));
    cJSON_Delete(api_expect(&s, "DELETE", "/api/users/admin", NULL, 409));
    CHECK_INT(login(&s, "admin", ADMIN_PASSWORD, NULL, NULL), 200);

    /* with dave enabled again, admin could go, but not through its own session */
    cJSON_Delete(api_expect(&s, "PATCH", path, "{\"enabled\":true}", 200));
    struct session admin;
    CHECK_INT(login(&s, "admin", ADMIN_PASSWORD, &admin, NULL), 200);
    struct spec_resp r;
    as_session(&s, &admin, "DELETE", "/api/users/admin", NULL, &r);
    CHECKF(r.status == 409 && strstr(r.body, "your own account"), "409 for one's own account, saw %ld %s",
           r.status, r.body);
    spec_resp_free(&r);
    as_session(&s, &admin, "PATCH", path, "{\"enabled\":false}", &r);
    CHECK_INT(r.status, 200);
    spec_resp_free(&r);
    CHECK_INT(login(&s, "dave", "dave-password", NULL, NULL), 401);
    spec_server_stop(&s);
}

TEST(changing_ones_password_checks_the_old_one_and_ends_the_other_sessions)
{
    struct spec_server s;
    CHECK(spec_server_start(&s, spec_new_db(), NULL) == 0);
    struct session here, there;
    CHECK_INT(login(&s, "admin", ADMIN_PASSWORD, &here, NULL), 200);
    CHECK_INT(login(&s, "admin", ADMIN_PASSWORD, &there, NULL), 200);
    struct spec_resp r;
    as_session(&s, &here, "POST", "/api/users/me/password",
               "{\"oldPassword\":\"not-the-password\",\"newPassword\":\"a-new-password\"}", &r);
    CHECK_INT(r.status, 422);
    cJSON *j = spec_resp_json(&r);
    check_error_field(j, "oldPassword");
    cJSON_Delete(j);
    spec_resp_free(&r);
    as_session(&s, &here, "POST", "/api/users/me/password",
               "{\"oldPassword\":\"" ADMIN_PASSWORD "\",\"newPassword\":\"short\"}", &r);
    CHECK_INT(r.status, 422);
    j = spec_resp_json(&r);
    check_error_field(j, "newPassword");
    cJSON_Delete(j);
    spec_resp_free(&r);
    CHECK_INT(session_status(&s, &there), 200);

    as_session(&s, &here, "POST", "/api/users/me/password",
               "{\"oldPassword\":\"" ADMIN_PASSWORD "\",\"newPassword\":\"a-new-password\"}", &r);
    CHECKF(r.status == 204, "expected 204, saw %ld %s", r.status, r.body);
    spec_resp_free(&r);
    CHECK_INT(session_status(&s, &here), 200);
    CHECK_INT(session_status(&s, &there), 401);
    CHECK_INT(login(&s, "admin", ADMIN_PASSWORD, NULL, NULL), 401);
    CHECK_INT(login(&s, "admin", "a-new-password", NULL, NULL), 200);

    /* a token has no user, so no password */
    j = api_expect(&s, "POST", "/api/users/me/password",
                   "{\"oldPassword\":\"a-new-password\",\"newPassword\":\"another-password\"}", 403);
    CHECK_CONTAINS(cJSON_GetStringValue(cJSON_GetObjectItem(j, "error")), "API token");
    cJSON_Delete(j);
    spec_server_stop(&s);
}

TEST(api_index_links_users_and_tokens)
{
    struct spec_server s;
    CHECK(spec_server_start(&s, spec_new_db(), NULL) == 0);
    cJSON *j = api_expect(&s, "GET", "/api/", NULL, 200);
    cJSON *links = cJSON_GetObjectItem(j, "links");
    CHECK_STR(cJSON_GetStringValue(cJSON_GetObjectItem(links, "users")), "/api/users");
    CHECK_STR(cJSON_GetStringValue(cJSON_GetObjectItem(links, "tokens")), "/api/tokens");
    cJSON_Delete(j);
    spec_server_stop(&s);
}

/* Two requests at once, each disabling one of the two enabled users: one of them must lose. */
TEST(disabling_the_last_two_enabled_users_at_once_leaves_one_enabled)
{
    struct spec_server s;
    CHECK(spec_server_start(&s, spec_new_db(), NULL) == 0);
    cJSON_Delete(api_expect(&s, "POST", "/api/users", "{\"name\":\"fay\",\"password\":\"fay-password\"}", 201));
    const char *const names[] = {"/api/users/admin", "/api/users/fay"};
    for (int round = 0; round < 10; round++) {
        pid_t kids[2];
        for (int i = 0; i < 2; i++) {
            kids[i] = fork();
            CHECK(kids[i] >= 0);
            if (kids[i] == 0) {
                struct spec_resp r;
                int ok = spec_api(&s, "PATCH", names[i], "{\"enabled\":false}", &r) == 0;
                _exit(!ok ? 1 : r.status == 200 ? 20 : r.status == 409 ? 40 : 2);
            }
        }
        int outcomes[2];
        for (int i = 0; i < 2; i++) {
            int status;
            CHECK(waitpid(kids[i], &status, 0) == kids[i] && WIFEXITED(status));
            outcomes[i] = WEXITSTATUS(status);
        }
        CHECKF((outcomes[0] == 20 && outcomes[1] == 40) || (outcomes[0] == 40 && outcomes[1] == 20),
               "round %d: one 200 and one 409, saw exits %d and %d (20 = 200, 40 = 409)", round,
               outcomes[0], outcomes[1]);
        for (int i = 0; i < 2; i++)
            cJSON_Delete(api_expect(&s, "PATCH", names[i], "{\"enabled\":true}", 200));
    }
    spec_server_stop(&s);
}
