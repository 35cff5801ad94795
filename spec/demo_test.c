/* demo_test.c — `make demo` (spec/demo/run.sh) as a new user meets it: it comes up, its job's
 * run succeeds with the values the mapping takes to national ids, it prints where to look and
 * the admin password that logs in, and an interrupt stops everything it started: the server,
 * the emulators and its private PostgreSQL. */
#include <signal.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "harness.h"
#include "sched_util.h"
#include "test.h"

/* The value printed after `label` on the demo's output, up to the end of its line. */
static void printed(const char *out, const char *label, char *value, size_t size)
{
    const char *p = strstr(out, label);
    CHECKF(p, "the demo did not print \"%s\":\n%s", label, out);
    p += strlen(label);
    size_t n = strcspn(p, "\n");
    snprintf(value, size, "%.*s", (int)(n < size ? n : size - 1), p);
}

TEST_TIMEOUT(demo_comes_up_runs_its_job_and_stops_everything_on_interrupt, 180)
{
    char *dir = spec_test_dir("demo");
    char log[PATH_MAX], port_env[32], build_env[64], base[64];
    snprintf(log, sizeof log, "%s/demo.out", dir);
    int port = spec_free_port();
    snprintf(port_env, sizeof port_env, "DEMO_PORT=%d", port);
    snprintf(build_env, sizeof build_env, "BUILD=%s", getenv("DHIS2SYNC_BUILD") ? getenv("DHIS2SYNC_BUILD") : "build");
    snprintf(base, sizeof base, "http://127.0.0.1:%d", port);
    char *argv[] = {"/bin/bash", "spec/demo/run.sh", NULL};
    char *env[] = {port_env, build_env, NULL};
    pid_t demo = spec_spawn(argv, env, log);

    char *out = NULL;
    for (int i = 0; i < 1200; i++) {
        free(out);
        out = su_read_file(log);
        if ((out && strstr(out, "Ctrl-C stops everything")) || waitpid(demo, NULL, WNOHANG) == demo)
            break;
        usleep(100 * 1000);
    }
    CHECKF(out && strstr(out, "Ctrl-C stops everything"), "the demo did not come up:\n%s", out ? out : "");
    CHECK_CONTAINS(out, "The run of \"District to national\" succeeded: 3000 fetched, 104 skipped by the mapping, 2896 imported.");

    char password[128], login[256];
    printed(out, "log in as admin, password: ", password, sizeof password);
    snprintf(login, sizeof login, "{\"username\":\"admin\",\"password\":\"%s\"}", password);
    char url[128];
    snprintf(url, sizeof url, "%s/api/session", base);
    const char *json[] = {"Content-Type: application/json", NULL};
    struct spec_resp r;
    CHECK(spec_http("POST", url, json, login, strlen(login), &r) == 0);
    CHECKF(r.status == 200, "the printed password does not log in: %ld %s", r.status, r.body);
    spec_resp_free(&r);

    char district[96], national[96];
    printed(out, "District HMIS (:", district, sizeof district);
    printed(out, "National HMIS (:", national, sizeof national);
    kill(demo, SIGINT);
    int status;
    CHECK(waitpid(demo, &status, 0) == demo);
    CHECKF(WIFEXITED(status) && WEXITSTATUS(status) == 0, "the demo exited with status %d", status);
    free(out);
    out = su_read_file(log);
    CHECK_CONTAINS(out, "stopped.");

    snprintf(url, sizeof url, "%s/health", base);
    CHECKF(spec_http("GET", url, NULL, NULL, 0, &r) != 0, "dhis2sync still answers after the interrupt");
    snprintf(url, sizeof url, "http://127.0.0.1:%d/emulator/state", atoi(district));
    CHECKF(spec_http("GET", url, NULL, NULL, 0, &r) != 0, "the district emulator still answers");
    snprintf(url, sizeof url, "http://127.0.0.1:%d/emulator/state", atoi(national));
    CHECKF(spec_http("GET", url, NULL, NULL, 0, &r) != 0, "the national emulator still answers");
    struct stat st;
    CHECKF(stat("build/demo/var/pg/data/postmaster.pid", &st) != 0,
           "the demo's PostgreSQL is still running (build/demo/var/pg/data/postmaster.pid)");
    free(out);
    free(dir);
}
