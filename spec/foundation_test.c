/* The host from outside: health, the database coming and going, body caps, authentication,
 * migrations, the private cluster, shutdown. */
#include <libpq-fe.h>
#include <signal.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "harness.h"
#include "pgembed.h"
#include "test.h"

static char *server_url(struct spec_server *s, const char *path)
{
    char *url = NULL;
    if (asprintf(&url, "%s%s", s->base, path) < 0)
        abort();
    return url;
}

TEST(health_reports_ok_and_the_version)
{
    struct spec_server s;
    CHECK(spec_server_start(&s, spec_new_db(), NULL) == 0);
    struct spec_resp r;
    char *url = server_url(&s, "/health");
    CHECK(spec_http("GET", url, NULL, NULL, 0, &r) == 0);
    CHECK_INT(r.status, 200);
    cJSON *j = spec_resp_json(&r);
    CHECK(j);
    CHECK_STR(cJSON_GetStringValue(cJSON_GetObjectItem(j, "status")), "ok");
    CHECK_STR(cJSON_GetStringValue(cJSON_GetObjectItem(j, "db")), "ok");
    CHECK(cJSON_GetStringValue(cJSON_GetObjectItem(j, "version")) != NULL);
    CHECK_CONTAINS(r.headers, "Content-Type: application/json");
    spec_server_stop(&s);
}

TEST_TIMEOUT(health_is_503_while_postgres_is_down_and_recovers_without_restart, 180)
{
    char *dir = spec_test_dir("pg");
    struct pgembed pg;
    struct err e = {0};
    CHECKF(pgembed_init(&pg, dir, &e) == 0 && pgembed_start(&pg, &e) == 0 &&
               pgembed_ensure_db(&pg, "app", &e) == 0,
           "own cluster: %s", e.msg);
    struct spec_server s;
    CHECK(spec_server_start(&s, pgembed_conninfo(&pg, "app"), NULL) == 0);
    char *health = server_url(&s, "/health");

    CHECK(pgembed_stop(&pg, &e) == 0);
    struct spec_resp r;
    /* /health/ too: the earlier app's URL, which monitors may still probe */
    char *with_slash = server_url(&s, "/health/");
    const char *urls[] = {health, with_slash};
    for (int i = 0; i < 2; i++) {
        CHECK(spec_http("GET", urls[i], NULL, NULL, 0, &r) == 0);
        CHECKF(r.status == 503, "%s: expected 503, saw %ld", urls[i], r.status);
        cJSON *j = spec_resp_json(&r);
        CHECK_STR(cJSON_GetStringValue(cJSON_GetObjectItem(j, "db")), "unreachable");
        cJSON_Delete(j);
        spec_resp_free(&r);
    }

    CHECK(pgembed_start(&pg, &e) == 0);
    CHECKF(spec_wait_status(health, 200, 15000) == 0, "health did not come back to 200");
    /* every pooled connection, not only the first one, must have recovered */
    for (int i = 0; i < 20; i++) {
        CHECK(spec_http("GET", health, NULL, NULL, 0, &r) == 0);
        CHECK_INT(r.status, 200);
        spec_resp_free(&r);
    }
    CHECK(kill(s.pid, 0) == 0);
    spec_server_stop(&s);
    pgembed_stop(&pg, &e);
}

TEST(a_20_mb_body_gets_413_before_authentication)
{
    struct spec_server s;
    CHECK(spec_server_start(&s, spec_new_db(), NULL) == 0);
    size_t size = 20u * 1024 * 1024;
    char *body = malloc(size);
    CHECK(body);
    memset(body, 'x', size);
    char *url = server_url(&s, "/api/jobs");
    struct spec_resp r;
    spec_http("POST", url, NULL, body, size, &r);
    CHECK_INT(r.status, 413);
    CHECK_CONTAINS(r.body, "limit");
    spec_resp_free(&r);

    /* a chunked body has no Content-Length: it is cut when it passes the cap */
    const char *chunked[] = {"Transfer-Encoding: chunked", NULL};
    spec_http("POST", url, chunked, body, size, &r);
    CHECK_INT(r.status, 413);
    spec_resp_free(&r);

    char *health = server_url(&s, "/health");
    CHECK(spec_http("GET", health, NULL, NULL, 0, &r) == 0);
    CHECK_INT(r.status, 200);
    free(body);
}

TEST(api_routes_answer_401_without_a_valid_token)
{
    struct spec_server s;
    CHECK(spec_server_start(&s, spec_new_db(), NULL) == 0);
    const char *paths[] = {"/api/instances", "/api/jobs", "/api/runs", "/api/mappings", "/api/nothing-here"};
    for (size_t i = 0; i < sizeof paths / sizeof paths[0]; i++) {
        char *url = server_url(&s, paths[i]);
        struct spec_resp r;
        spec_http("GET", url, NULL, NULL, 0, &r);
        CHECKF(r.status == 401, "%s without credentials: expected 401, saw %ld", paths[i], r.status);
        cJSON *j = spec_resp_json(&r);
        CHECKF(j && cJSON_IsString(cJSON_GetObjectItem(j, "error")), "%s: error body %s", paths[i], r.body);
        spec_resp_free(&r);
        const char *bad[] = {"Authorization: Bearer d2s_not-a-real-token", NULL};
        spec_http("GET", url, bad, NULL, 0, &r);
        CHECKF(r.status == 401, "%s with a wrong token: expected 401, saw %ld", paths[i], r.status);
        spec_resp_free(&r);
        free(url);
    }
    /* the token made by `token add` is accepted */
    struct spec_resp r;
    spec_api(&s, "GET", "/api/nothing-here", NULL, &r);
    CHECK_INT(r.status, 404);
}

TEST(migrations_run_once_even_when_two_processes_start_together)
{
    char *db = spec_new_db();
    char *bin = spec_bin("dhis2sync");
    char *dbenv = NULL;
    CHECK(asprintf(&dbenv, "DATABASE_URL=%s", db) > 0);
    char *env[] = {dbenv, NULL};
    char *argv[] = {bin, "migrate", NULL};
    pid_t a = spec_spawn(argv, env, NULL), b = spec_spawn(argv, env, NULL);
    int sa, sb;
    waitpid(a, &sa, 0);
    waitpid(b, &sb, 0);
    CHECK(WIFEXITED(sa) && WEXITSTATUS(sa) == 0);
    CHECK(WIFEXITED(sb) && WEXITSTATUS(sb) == 0);
    CHECK_INT(spec_run(argv, env, NULL, NULL), 0);

    PGconn *c = PQconnectdb(db);
    CHECK(PQstatus(c) == CONNECTION_OK);
    PGresult *r = PQexec(c, "SELECT version, count(*) FROM schema_migrations GROUP BY version HAVING count(*) > 1");
    CHECK_INT(PQntuples(r), 0);
    PQclear(r);
    r = PQexec(c, "SELECT count(*) FROM schema_migrations WHERE version = '001_init.sql'");
    CHECK_STR(PQgetvalue(r, 0, 0), "1");
    PQclear(r);
    r = PQexec(c, "SELECT count(*) FROM information_schema.tables WHERE table_name IN "
                  "('users','sessions','api_tokens','instances','jobs','runs','run_conflicts','watermarks')");
    CHECK_STR(PQgetvalue(r, 0, 0), "8");
    PQclear(r);
    PQfinish(c);
}

TEST(token_add_prints_the_token_alone_and_stores_only_its_hash)
{
    char *db = spec_new_db();
    char *bin = spec_bin("dhis2sync");
    char *dbenv = NULL;
    CHECK(asprintf(&dbenv, "DATABASE_URL=%s", db) > 0);
    char *env[] = {dbenv, NULL};
    char *argv[] = {bin, "token", "add", "ci robot", NULL};
    char *out = NULL;
    CHECK_INT(spec_run(argv, env, NULL, &out), 0);
    CHECK(strncmp(out, "d2s_", 4) == 0);
    CHECK(strchr(out, '\n') == out + strlen(out) - 1);
    out[strlen(out) - 1] = '\0';

    PGconn *c = PQconnectdb(db);
    const char *params[] = {out};
    PGresult *r = PQexecParams(c, "SELECT count(*) FROM api_tokens WHERE name = 'ci robot' AND "
                                  "position(convert_to($1, 'UTF8') in token_hash) = 0 AND "
                                  "token_hash = sha256(convert_to($1, 'UTF8'))",
                               1, NULL, params, NULL, NULL, 0);
    CHECKF(PQresultStatus(r) == PGRES_TUPLES_OK, "%s", PQresultErrorMessage(r));
    CHECK_STR(PQgetvalue(r, 0, 0), "1");
    PQclear(r);
    PQfinish(c);

    char *bad[] = {bin, "token", "add", NULL};
    CHECK_INT(spec_run(bad, env, NULL, NULL), 2);
}

TEST_TIMEOUT(serve_without_database_url_runs_its_own_postgres_under_var_pg, 180)
{
    char *dir = spec_test_dir("home");
    char cwd[PATH_MAX];
    CHECK(getcwd(cwd, sizeof cwd));
    char db_link[PATH_MAX * 2], web_link[PATH_MAX * 2], repo_db[PATH_MAX + 8], repo_web[PATH_MAX + 8];
    snprintf(repo_db, sizeof repo_db, "%s/db", cwd);
    snprintf(repo_web, sizeof repo_web, "%s/web", cwd);
    snprintf(db_link, sizeof db_link, "%s/db", dir);
    snprintf(web_link, sizeof web_link, "%s/web", dir);
    CHECK(symlink(repo_db, db_link) == 0 && symlink(repo_web, web_link) == 0);
    char *bin = spec_bin("dhis2sync");
    int port = spec_free_port();
    char portarg[16];
    snprintf(portarg, sizeof portarg, "%d", port);
    CHECK(chdir(dir) == 0);
    unsetenv("DATABASE_URL");
    char *argv[] = {bin, "serve", "--port", portarg, NULL};
    char log[PATH_MAX * 2];
    snprintf(log, sizeof log, "%s/serve.log", dir);
    pid_t pid = spec_spawn(argv, NULL, log);
    char health[128];
    snprintf(health, sizeof health, "http://127.0.0.1:%d/health", port);
    CHECKF(spec_wait_status(health, 200, 60000) == 0, "no 200 from %s", health);

    struct stat st;
    CHECK(stat("var/pg/data/PG_VERSION", &st) == 0);
    CHECK(stat("var/pg/run/.s.PGSQL.5432", &st) == 0);
    /* no TCP port: listen_addresses is empty */
    char *cat[] = {"/bin/grep", "-c", "listening on IPv", "var/pg/postgres.log", NULL};
    char *count = NULL;
    spec_run(cat, NULL, NULL, &count);
    CHECK_STR(count, "0\n");

    /* a second command against the same private cluster while serve runs */
    char *tok[] = {bin, "token", "add", "second", NULL};
    CHECK_INT(spec_run(tok, NULL, NULL, NULL), 0);

    int status = spec_stop(pid, 30000);
    CHECK(WIFEXITED(status) && WEXITSTATUS(status) == 0);
    CHECKF(stat("var/pg/run/.s.PGSQL.5432", &st) != 0, "the private PostgreSQL is still running after serve stopped");
}

TEST(page_routes_serve_the_admin_and_unknown_files_are_404)
{
    struct spec_server s;
    CHECK(spec_server_start(&s, spec_new_db(), NULL) == 0);
    const char *pages[] = {"/", "/login", "/admin/", "/auto-sync/dashboard/", "/jobs/12"};
    for (size_t i = 0; i < sizeof pages / sizeof pages[0]; i++) {
        char *url = server_url(&s, pages[i]);
        struct spec_resp r;
        spec_http("GET", url, NULL, NULL, 0, &r);
        CHECKF(r.status == 200, "%s: expected 200, saw %ld", pages[i], r.status);
        CHECK_CONTAINS(r.headers, "text/html");
        CHECK_CONTAINS(r.headers, "Content-Security-Policy: default-src 'self'");
        spec_resp_free(&r);
    }
    const char *missing[] = {"/missing.js", "/../db/001_init.sql", "/%2e%2e/db/001_init.sql"};
    for (size_t i = 0; i < sizeof missing / sizeof missing[0]; i++) {
        char *url = server_url(&s, missing[i]);
        struct spec_resp r;
        spec_http("GET", url, NULL, NULL, 0, &r);
        CHECKF(r.status == 404, "%s: expected 404, saw %ld", missing[i], r.status);
        CHECK(!strstr(r.body, "CREATE TABLE"));
        spec_resp_free(&r);
    }
}

TEST(json_log_format_writes_one_json_object_per_line)
{
    struct spec_server s;
    char *env[] = {"DHIS2SYNC_LOG_FORMAT=json", NULL};
    CHECK(spec_server_start(&s, spec_new_db(), env) == 0);
    spec_server_stop(&s);
    FILE *f = fopen(s.log_path, "r");
    CHECK(f);
    char line[4096];
    int lines = 0;
    while (fgets(line, sizeof line, f)) {
        cJSON *j = cJSON_Parse(line);
        CHECKF(j && cJSON_IsString(cJSON_GetObjectItem(j, "level")) &&
                   cJSON_IsString(cJSON_GetObjectItem(j, "msg")) &&
                   cJSON_IsString(cJSON_GetObjectItem(j, "time")),
               "not a JSON log line: %s", line);
        cJSON_Delete(j);
        lines++;
    }
    fclose(f);
    CHECK(lines >= 2);
}

TEST(an_older_dhis2sync_refuses_a_database_a_newer_one_migrated)
{
    char *db = spec_new_db();
    char *bin = spec_bin("dhis2sync");
    char *dbenv = NULL;
    CHECK(asprintf(&dbenv, "DATABASE_URL=%s", db) > 0);
    char *env[] = {dbenv, NULL};
    char *argv[] = {bin, "migrate", NULL};
    CHECK_INT(spec_run(argv, env, NULL, NULL), 0);
    PGconn *c = PQconnectdb(db);
    PGresult *r = PQexec(c, "INSERT INTO schema_migrations (version) VALUES ('999_from_the_future.sql')");
    CHECK(PQresultStatus(r) == PGRES_COMMAND_OK);
    PQclear(r);
    PQfinish(c);
    char *sh_cmd = NULL;
    CHECK(asprintf(&sh_cmd, "'%s' migrate 2>&1", bin) > 0);
    char *sh[] = {"/bin/sh", "-c", sh_cmd, NULL};
    char *out = NULL;
    CHECK_INT(spec_run(sh, env, NULL, &out), 1);
    CHECK_CONTAINS(out, "999_from_the_future.sql");
    CHECK_CONTAINS(out, "newer dhis2sync");
}
