/* The command line: --help for every command, usage errors exit 2, `run --json` and `status`
 * for a terminal without a browser. */
#include <unistd.h>

#include "harness.h"
#include "sched_util.h"
#include "test.h"

/* dhis2sync with args (NULL-terminated, at most 6) and env; its stdout (caller frees). */
static int cli(char *const env[], char **out, const char *a0, const char *a1, const char *a2,
               const char *a3)
{
    char *bin = spec_bin("dhis2sync");
    char *argv[] = {bin, (char *)a0, (char *)a1, (char *)a2, (char *)a3, NULL};
    int rc = spec_run(argv, env, NULL, out);
    free(bin);
    return rc;
}

TEST(every_command_answers_help_with_its_options_and_unknown_ones_exit_2)
{
    static const struct {
        const char *args[3];
        const char *mentions[4];
    } cases[] = {
        {{"serve", "--help"}, {"usage: dhis2sync serve", "--port", "DHIS2SYNC_PORT", "DATABASE_URL"}},
        {{"worker", "--help"}, {"usage: dhis2sync worker", "DHIS2SYNC_WORKERS", "DATABASE_URL"}},
        {{"migrate", "-h"}, {"usage: dhis2sync migrate", "DATABASE_URL"}},
        {{"run", "--help"}, {"usage: dhis2sync run JOB", "--dry-run", "--full", "--json"}},
        {{"run", "some job", "--help"}, {"usage: dhis2sync run JOB", "--json"}},
        {{"check", "--help"}, {"usage: dhis2sync check MAPPING", "--sample", "--json", "--scripts"}},
        {{"user", "add", "--help"}, {"usage: dhis2sync user add NAME", "stdin", "DATABASE_URL"}},
        {{"token", "--help"}, {"token add NAME", "--expires", "token list", "token revoke"}},
        {{"token", "revoke", "--help"}, {"token revoke NAME|ID"}},
        {{"backup", "--help"}, {"usage: dhis2sync backup FILE", "DHIS2SYNC_MAPPINGS"}},
        {{"restore", "--help"}, {"usage: dhis2sync restore FILE", "--force"}},
        {{"status", "--help"}, {"usage: dhis2sync status", "--json", "DATABASE_URL"}},
        {{"help", "status"}, {"usage: dhis2sync status", "--json"}},
        {{"--help"}, {"usage: dhis2sync COMMAND", "status [--json]", "token revoke", "restore FILE"}},
        {{"help"}, {"usage: dhis2sync COMMAND", "run JOB"}},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        char *out = NULL;
        int rc = cli(NULL, &out, cases[i].args[0], cases[i].args[1], cases[i].args[2], NULL);
        CHECKF(rc == 0, "dhis2sync %s %s: exit %d", cases[i].args[0],
               cases[i].args[1] ? cases[i].args[1] : "", rc);
        for (int k = 0; k < 4 && cases[i].mentions[k]; k++)
            CHECKF(out && strstr(out, cases[i].mentions[k]), "dhis2sync %s %s does not mention %s: %s",
                   cases[i].args[0], cases[i].args[1] ? cases[i].args[1] : "",
                   cases[i].mentions[k], out ? out : "(nothing)");
        free(out);
    }
    static const char *const bad[][3] = {
        {"frobnicate"}, {"help", "frobnicate"}, {"run", "job", "--bogus"}, {"status", "--bogus"},
        {"serve", "--bogus"}, {"worker", "extra"}, {"migrate", "extra"}, {"token", "frob"},
        {"user", "del", "x"}, {"restore"}, {NULL},
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        char *out = NULL;
        int rc = cli(NULL, &out, bad[i][0], bad[i][1], bad[i][2], NULL);
        CHECKF(rc == 2, "dhis2sync %s %s: exit %d, not 2", bad[i][0] ? bad[i][0] : "",
               bad[i][1] ? bad[i][1] : "", rc);
        CHECKF(!out || !*out, "usage went to stdout: %s", out);
        free(out);
    }
}

/* A server with src and dst emulators and the job "north/ANC" between them. */
static void start_job(struct spec_server *s, struct su_emu *src, struct su_emu *dst)
{
    su_emu_start(src, 40, 5, 41);
    su_emu_start(dst, 0, 5, 41);
    CHECK(spec_server_start(s, spec_new_db(), NULL) == 0);
    su_instance(s, "src", src->url);
    su_instance(s, "dst", dst->url);
    char body[1024];
    snprintf(body, sizeof body,
             "{\"name\":\"north/ANC\",\"source\":\"src\",\"target\":\"dst\",\"dataSets\":[\"%s\"],"
             "\"orgUnits\":[\"%s\"],\"children\":true,\"schedule\":\"0 3 * * *\","
             "\"periods\":{\"start\":\"1900-01-01\",\"end\":\"2100-12-31\"}}",
             src->ds_monthly, src->root);
    cJSON_Delete(su_call(s, "POST", "/api/jobs", body, 201));
    CHECK(chdir(s->dir) == 0);
}

static char **db_env(const struct spec_server *s)
{
    static char dburl[1024];
    static char *env[] = {dburl, "DHIS2SYNC_SECRET_KEY=spec-secret-key-0123456789", NULL};
    snprintf(dburl, sizeof dburl, "DATABASE_URL=%s", s->db);
    return env;
}

TEST_TIMEOUT(run_json_prints_the_finished_run_or_an_error_as_one_json_document, 180)
{
    struct spec_server s;
    struct su_emu src, dst;
    start_job(&s, &src, &dst);
    char *out = NULL;
    CHECK_INT(cli(db_env(&s), &out, "run", "north/ANC", "--json", NULL), 0);
    cJSON *run = cJSON_Parse(out);
    CHECKF(run, "stdout is not JSON: %s", out);
    CHECK_STR(su_str(run, "status"), "succeeded");
    CHECK_STR(su_str(run, "job"), "north/ANC");
    CHECK_STR(su_str(run, "trigger"), "cli");
    CHECK(su_num(cJSON_GetObjectItem(run, "counts"), "fetched") > 0);
    /* the same document as the API's */
    char path[64];
    snprintf(path, sizeof path, "/api/runs/%.0f", su_num(run, "id"));
    cJSON *api = su_call(&s, "GET", path, NULL, 200);
    CHECK_STR(su_str(api, "finishedAt"), su_str(run, "finishedAt"));
    cJSON_Delete(api);
    cJSON_Delete(run);
    free(out);

    out = NULL;
    CHECK_INT(cli(db_env(&s), &out, "run", "no such job", "--json", NULL), 1);
    cJSON *err = cJSON_Parse(out);
    CHECKF(err && su_str(err, "error"), "stdout is not an error document: %s", out);
    CHECK_CONTAINS(su_str(err, "error"), "no such job");
    cJSON_Delete(err);
    free(out);
    su_emu_stop(&src);
    su_emu_stop(&dst);
}

TEST_TIMEOUT(status_lists_jobs_their_last_and_next_run_the_leader_and_the_processes, 180)
{
    struct spec_server s;
    struct su_emu src, dst;
    start_job(&s, &src, &dst);
    cJSON *queued = su_call(&s, "POST", "/api/jobs/north%2FANC/run", "{}", 202);
    long long id = (long long)su_num(queued, "id");
    cJSON_Delete(queued);
    PGconn *db = su_db(s.db);
    su_wait_sql(db, 60000, "succeeded", "SELECT status FROM runs WHERE id = %lld", id);
    PQfinish(db);

    /* the serve takes the scheduler lock on its first tick */
    char serve[64];
    snprintf(serve, sizeof serve, "dhis2sync serve:%d", (int)s.pid);
    cJSON *st = NULL;
    char *out = NULL;
    for (int tries = 0; tries < 100; tries++) {
        cJSON_Delete(st);
        free(out);
        out = NULL;
        CHECK_INT(cli(db_env(&s), &out, "status", "--json", NULL, NULL), 0);
        st = cJSON_Parse(out);
        CHECKF(st, "status --json is not JSON: %s", out);
        if (cJSON_IsObject(cJSON_GetObjectItem(st, "leader")))
            break;
        usleep(100000);
    }
    CHECK_STR(su_str(cJSON_GetObjectItem(st, "leader"), "process"), serve);
    cJSON *job = cJSON_GetArrayItem(cJSON_GetObjectItem(st, "jobs"), 0);
    CHECK_STR(su_str(job, "name"), "north/ANC");
    CHECK(cJSON_IsTrue(cJSON_GetObjectItem(job, "enabled")));
    CHECK_STR(su_str(job, "schedule"), "0 3 * * *");
    CHECK(su_str(job, "nextRunAt"));
    CHECK_STR(su_str(cJSON_GetObjectItem(job, "lastRun"), "status"), "succeeded");
    CHECK_INT((long long)su_num(cJSON_GetObjectItem(job, "lastRun"), "id"), id);
    int seen_serve = 0;
    const cJSON *p;
    cJSON_ArrayForEach(p, cJSON_GetObjectItem(st, "processes"))
    {
        seen_serve |= strcmp(su_str(p, "process"), serve) == 0;
        CHECKF(strncmp(su_str(p, "process"), "dhis2sync status:", 17) != 0, "lists itself: %s", out);
    }
    CHECKF(seen_serve, "%s is not among the processes: %s", serve, out);
    CHECK(cJSON_IsArray(cJSON_GetObjectItem(st, "runs")));
    cJSON_Delete(st);
    free(out);

    out = NULL;
    CHECK_INT(cli(db_env(&s), &out, "status", NULL, NULL, NULL), 0);
    CHECK_CONTAINS(out, "north/ANC\tyes\t0 3 * * *\tsucceeded\t");
    CHECK_CONTAINS(out, "SCHEDULER LEADER\tdhis2sync serve:");
    CHECK_CONTAINS(out, serve);
    free(out);

    char *unreachable[] = {"DATABASE_URL=postgresql://127.0.0.1:1/none?connect_timeout=5", NULL};
    out = NULL;
    CHECK_INT(cli(unreachable, &out, "status", NULL, NULL, NULL), 1);
    CHECKF(!out || !*out, "stdout without a database: %s", out);
    free(out);
    su_emu_stop(&src);
    su_emu_stop(&dst);
}
