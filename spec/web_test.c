/* web_test.c — the web admin in a real browser: each test starts a real server (and, for the
 * full flow, two DHIS2 emulators), then runs one script of spec/browser/ under node, which
 * drives Debian's headless Chromium through playwright-core. The script's output is printed,
 * and the test fails when the script does.
 *
 * Needs: node, /usr/bin/chromium (or $CHROMIUM) and spec/browser/node_modules (npm ci), all
 * installed by .ci/deps.sh. SCREENSHOTS=1 in the environment keeps screenshots of the main
 * pages in the test's directory (SPEC_KEEP=1 keeps the directory). */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "harness.h"
#include "test.h"
#include "web_util.h"

static const char *node_path(void)
{
    static const char *const candidates[] = {"/usr/bin/node", "/usr/local/bin/node", "/usr/bin/nodejs"};
    const char *env = getenv("NODE");
    if (env && access(env, X_OK) == 0)
        return env;
    for (size_t i = 0; i < sizeof candidates / sizeof candidates[0]; i++)
        if (access(candidates[i], X_OK) == 0)
            return candidates[i];
    return NULL;
}

/* Fails the test, saying what to install, when the browser tooling is missing. */
static const char *require_browser(void)
{
    const char *node = node_path();
    const char *chromium = getenv("CHROMIUM") ? getenv("CHROMIUM") : "/usr/bin/chromium";
    struct stat st;
    CHECKF(node, "node is not installed: run `make deps` (.ci/deps.sh installs nodejs and npm)");
    CHECKF(access(chromium, X_OK) == 0,
           "%s is missing: run `make deps` (.ci/deps.sh installs Debian's chromium)", chromium);
    CHECKF(stat("spec/browser/node_modules/playwright-core/package.json", &st) == 0,
           "spec/browser/node_modules has no playwright-core: run `make deps` "
           "(or `npm ci --prefix spec/browser`)");
    return node;
}

void emulator_start(struct emulator *em, const char *generate, const char *dir)
{
    char *bin = spec_bin("dhis2-emulator");
    char port[16], log_path[1024];
    int p = spec_free_port();
    snprintf(port, sizeof port, "%d", p);
    snprintf(em->base, sizeof em->base, "http://127.0.0.1:%d", p);
    snprintf(log_path, sizeof log_path, "%s/emulator-%d.log", dir, p);
    char *argv[] = {bin, "--port", port, "--generate", (char *)generate, NULL};
    em->pid = spec_spawn(argv, NULL, log_path);
    char faults[128];
    snprintf(faults, sizeof faults, "%s/emulator/faults", em->base);
    CHECKF(spec_wait_status(faults, 200, 15000) == 0, "the DHIS2 emulator on %s did not come up (log: %s)",
           em->base, log_path);
    free(bin);
}

/* Runs spec/browser/<script> with the server's address and login (plus extra "K=V" entries)
 * and fails the test unless it exits 0. */
void run_browser_script(const char *script, struct spec_server *s, char *const extra[])
{
    const char *node = require_browser();
    char *dir = spec_test_dir("web");
    char path[256], url[128], artifacts[1024];
    snprintf(path, sizeof path, "spec/browser/%s", script);
    snprintf(url, sizeof url, "DHIS2SYNC_URL=%s", s->base);
    snprintf(artifacts, sizeof artifacts, "WEB_ARTIFACTS=%s/artifacts", dir);
    char *env[16] = {url, "DHIS2SYNC_USER=admin", "DHIS2SYNC_PASSWORD=spec-admin-password", artifacts};
    int n = 4;
    for (int i = 0; extra && extra[i] && n < 15; i++)
        env[n++] = extra[i];
    env[n] = NULL;
    char *argv[] = {(char *)node, path, NULL};
    char *out = NULL;
    int rc = spec_run(argv, env, NULL, &out);
    printf("---- node %s (exit %d)\n%s", path, rc, out ? out : "");
    fflush(stdout);
    free(out);
    free(dir);
    CHECKF(rc == 0, "the browser test %s failed (its output is above; screenshots in the test's "
                    "artifacts directory, kept with SPEC_KEEP=1)", script);
}

/* Runs spec/browser/<script> against a fresh server and a source emulator made by
 * source_gen (SOURCE_URL), plus a target made by target_gen (TARGET_URL) unless NULL. */
static void run_with_emulators(const char *script, const char *source_gen, const char *target_gen)
{
    require_browser();
    char *dir = spec_test_dir("emu");
    struct emulator source, target = {0};
    emulator_start(&source, source_gen, dir);
    if (target_gen)
        emulator_start(&target, target_gen, dir);
    struct spec_server s;
    char *db = spec_new_db();
    CHECK(spec_server_start(&s, db, NULL) == 0);
    char src[96], tgt[96];
    snprintf(src, sizeof src, "SOURCE_URL=%s", source.base);
    snprintf(tgt, sizeof tgt, "TARGET_URL=%s", target.base);
    char *extra[] = {src, target_gen ? tgt : NULL, NULL};
    run_browser_script(script, &s, extra);
    spec_server_stop(&s);
    spec_stop(source.pid, 5000);
    if (target_gen)
        spec_stop(target.pid, 5000);
    free(db);
    free(dir);
}

TEST_TIMEOUT(web_login_redirects_errors_csrf_and_logout, 120)
{
    require_browser();
    struct spec_server s;
    char *db = spec_new_db();
    CHECK(spec_server_start(&s, db, NULL) == 0);
    run_browser_script("login.mjs", &s, NULL);
    spec_server_stop(&s);
    free(db);
}

TEST_TIMEOUT(web_full_flow_instances_job_run_conflicts_dashboard, 180)
{
    run_with_emulators("flow.mjs", "values=2000,orgunits=50,seed=5", "values=0,orgunits=50,seed=5");
}

TEST_TIMEOUT(web_mapping_editor_checks_drafts_and_marks_compile_errors, 120)
{
    require_browser();
    struct spec_server s;
    char *db = spec_new_db();
    CHECK(spec_server_start(&s, db, NULL) == 0);
    run_browser_script("mapping.mjs", &s, NULL);
    spec_server_stop(&s);
    free(db);
}

TEST_TIMEOUT(web_mapping_editor_tries_object_functions_on_events, 120)
{
    require_browser();
    struct spec_server s;
    char *db = spec_new_db();
    CHECK(spec_server_start(&s, db, NULL) == 0);
    run_browser_script("mapobj.mjs", &s, NULL);
    spec_server_stop(&s);
    free(db);
}

TEST_TIMEOUT(web_editor_keeps_files_changed_on_disk_and_unsaved_edits, 120)
{
    require_browser();
    struct spec_server s;
    char *db = spec_new_db();
    CHECK(spec_server_start(&s, db, NULL) == 0);
    char dir[1100];
    snprintf(dir, sizeof dir, "MAPPINGS_DIR=%s/mappings", s.dir);
    char *extra[] = {dir, NULL};
    run_browser_script("editor.mjs", &s, extra);
    spec_server_stop(&s);
    free(db);
}

TEST_TIMEOUT(web_forms_show_every_problem_keep_instance_health_and_ask_before_leaving, 150)
{
    require_browser();
    char *dir = spec_test_dir("emu");
    struct emulator source;
    emulator_start(&source, "values=0,orgunits=20,seed=5", dir);
    struct spec_server s;
    char *db = spec_new_db();
    CHECK(spec_server_start(&s, db, NULL) == 0);
    char src[96];
    snprintf(src, sizeof src, "SOURCE_URL=%s", source.base);
    char *extra[] = {src, NULL};
    run_browser_script("forms.mjs", &s, extra);
    spec_server_stop(&s);
    spec_stop(source.pid, 5000);
    free(db);
    free(dir);
}

TEST_TIMEOUT(web_accounts_tokens_shown_once_and_revoked_users_added_disabled_removed_password_changed, 120)
{
    require_browser();
    struct spec_server s;
    char *db = spec_new_db();
    CHECK(spec_server_start(&s, db, NULL) == 0);
    run_browser_script("accounts.mjs", &s, NULL);
    spec_server_stop(&s);
    free(db);
}

/* The route behind the job pickers, without a browser. */
TEST_TIMEOUT(web_metadata_route_lists_what_a_job_can_select, 60)
{
    char *dir = spec_test_dir("emu");
    struct emulator source;
    emulator_start(&source, "values=0,orgunits=50,seed=5", dir);
    struct spec_server s;
    char *db = spec_new_db();
    CHECK(spec_server_start(&s, db, NULL) == 0);
    char body[512];
    snprintf(body, sizeof body,
             "{\"name\":\"district\",\"url\":\"%s\",\"auth\":{\"type\":\"basic\",\"username\":\"admin\","
             "\"password\":\"district\"}}", source.base);
    struct spec_resp r;
    spec_api(&s, "POST", "/api/instances", body, &r);
    CHECK_INT(r.status, 201);
    spec_resp_free(&r);

    spec_api(&s, "GET", "/api/instances/district/metadata/dataSets", NULL, &r);
    CHECK_INT(r.status, 200);
    cJSON *j = spec_resp_json(&r);
    cJSON *list = cJSON_GetObjectItemCaseSensitive(j, "dataSets");
    CHECK_INT(cJSON_GetArraySize(list), 2);
    cJSON *first = cJSON_GetArrayItem(list, 0);
    CHECK(cJSON_IsString(cJSON_GetObjectItemCaseSensitive(first, "id")));
    CHECK(cJSON_IsString(cJSON_GetObjectItemCaseSensitive(first, "displayName")));
    CHECK(cJSON_IsString(cJSON_GetObjectItemCaseSensitive(first, "periodType")));
    CHECK(cJSON_IsFalse(cJSON_GetObjectItemCaseSensitive(j, "truncated")));
    cJSON_Delete(j);
    spec_resp_free(&r);

    /* filters pass through, repeated ones ANDed; org units carry level and path */
    spec_api(&s, "GET", "/api/instances/district/metadata/organisationUnits?filter=level:le:2&filter=displayName:ilike:region", NULL, &r);
    CHECK_INT(r.status, 200);
    j = spec_resp_json(&r);
    list = cJSON_GetObjectItemCaseSensitive(j, "organisationUnits");
    CHECKF(cJSON_GetArraySize(list) >= 1, "regions at level 2, saw %s", r.body);
    cJSON *ou;
    cJSON_ArrayForEach(ou, list)
    {
        CHECK_INT(cJSON_GetObjectItemCaseSensitive(ou, "level")->valuedouble, 2);
        CHECK(cJSON_IsString(cJSON_GetObjectItemCaseSensitive(ou, "path")));
    }
    cJSON_Delete(j);
    spec_resp_free(&r);

    /* parent= lists the units right below one: the regions below the root */
    spec_api(&s, "GET", "/api/instances/district/metadata/organisationUnits?filter=level:eq:1", NULL, &r);
    j = spec_resp_json(&r);
    char parent[128];
    snprintf(parent, sizeof parent, "/api/instances/district/metadata/organisationUnits?parent=%s",
             cJSON_GetObjectItemCaseSensitive(
                 cJSON_GetArrayItem(cJSON_GetObjectItemCaseSensitive(j, "organisationUnits"), 0), "id")
                 ->valuestring);
    cJSON_Delete(j);
    spec_resp_free(&r);
    spec_api(&s, "GET", parent, NULL, &r);
    CHECK_INT(r.status, 200);
    j = spec_resp_json(&r);
    list = cJSON_GetObjectItemCaseSensitive(j, "organisationUnits");
    CHECKF(cJSON_GetArraySize(list) >= 1, "the regions below the root, saw %s", r.body);
    cJSON_ArrayForEach(ou, list)
    {
        CHECK_INT(cJSON_GetObjectItemCaseSensitive(ou, "level")->valuedouble, 2);
    }
    cJSON_Delete(j);
    spec_resp_free(&r);
    spec_api(&s, "GET", "/api/instances/district/metadata/organisationUnits?parent=x%27%20or", NULL, &r);
    CHECK_INT(r.status, 400);
    CHECK_CONTAINS(r.body, "parent");
    spec_resp_free(&r);
    spec_api(&s, "GET", "/api/instances/district/metadata/dataSets?parent=ImspTQPwCqd", NULL, &r);
    CHECK_INT(r.status, 400);
    spec_resp_free(&r);

    spec_api(&s, "GET", "/api/instances/district/metadata/dataElementGroups?fields=id", NULL, &r);
    CHECK_INT(r.status, 200);
    CHECK(!strstr(r.body, "displayName"));
    spec_resp_free(&r);

    spec_api(&s, "GET", "/api/instances/district/metadata/users", NULL, &r);
    CHECK_INT(r.status, 404);
    spec_resp_free(&r);
    spec_api(&s, "GET", "/api/instances/district/metadata/dataSets?fields=id,%7Bx%7D", NULL, &r);
    CHECK_INT(r.status, 400);
    spec_resp_free(&r);
    spec_api(&s, "GET", "/api/instances/nowhere/metadata/dataSets", NULL, &r);
    CHECK_INT(r.status, 404);
    spec_resp_free(&r);

    /* a source that is gone: 502 with the reason */
    spec_stop(source.pid, 5000);
    spec_api(&s, "GET", "/api/instances/district/metadata/dataSets", NULL, &r);
    CHECK_INT(r.status, 502);
    CHECK_CONTAINS(r.body, "district");
    spec_resp_free(&r);

    /* no credentials, no list */
    char url[160];
    snprintf(url, sizeof url, "%s/api/instances/district/metadata/dataSets", s.base);
    spec_http("GET", url, NULL, NULL, 0, &r);
    CHECK_INT(r.status, 401);
    spec_resp_free(&r);
    spec_server_stop(&s);
    free(db);
    free(dir);
}

/* The OpenAPI document (web/openapi.json) validated by a maintained validator, served as is,
 * and held to a live server: every operation is called and answers a documented status with
 * a body its schema accepts (spec/browser/openapi.mjs). */
TEST_TIMEOUT(openapi_document_validates_and_every_operation_answers_as_documented, 120)
{
    struct spec_server s;
    char *db = spec_new_db();
    CHECK(spec_server_start(&s, db, NULL) == 0);
    char *dir = spec_test_dir("openapi");
    struct emulator src, dst;
    emulator_start(&src, "values=300,seed=5", dir);
    emulator_start(&dst, "values=0,seed=5", dir);
    char token[192], source[96], target[96];
    snprintf(token, sizeof token, "DHIS2SYNC_TOKEN=%s", s.token);
    snprintf(source, sizeof source, "SOURCE_URL=%s", src.base);
    snprintf(target, sizeof target, "TARGET_URL=%s", dst.base);
    char *extra[] = {"OPENAPI_DOC=web/openapi.json", token, source, target, NULL};
    run_browser_script("openapi.mjs", &s, extra);
    spec_server_stop(&s);
    spec_stop(src.pid, 5000);
    spec_stop(dst.pid, 5000);
    free(dir);
    free(db);
}

TEST_TIMEOUT(web_runs_progress_refused_groups_csv_warnings_and_chart, 240)
{
    run_with_emulators("runs.mjs", "values=2000,orgunits=50,seed=5", "values=0,orgunits=50,seed=5");
}

TEST_TIMEOUT(web_run_page_shows_what_a_run_waits_for_during_an_outage, 180)
{
    run_with_emulators("outage.mjs", "values=2000,orgunits=50,seed=5", "values=0,orgunits=50,seed=5");
}

TEST_TIMEOUT(web_every_page_works_at_390_by_844, 180)
{
    run_with_emulators("narrow.mjs", "values=2000,orgunits=50,seed=5", "values=0,orgunits=50,seed=5");
}

TEST_TIMEOUT(web_org_unit_picker_is_a_lazy_tree_over_20000_units, 180)
{
    run_with_emulators("picker.mjs", "values=0,orgunits=20000,seed=5", NULL);
}
