/* The README's first commands on a fresh machine: `make deps run` and `make deps test` in a
 * copy of the repository where the packages appear only once `make deps` has called the
 * package manager. Shims early in PATH play the machine: pkg-config finds nothing until the
 * apt-get shim has been asked to install (then it passes through to the real one); apt-get and
 * npm only record their calls; sudo is absent, as on a fresh Debian used as root. */
#include <signal.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "harness.h"
#include "test.h"

static const char *const shims[][2] = {
    {"pkg-config",
     "#!/bin/sh\n"
     "echo \"pkg-config $*\" >> \"$SHIMS/calls\"\n"
     "if [ -e \"$SHIMS/installed\" ]; then PATH=${PATH#\"$SHIMS:\"} exec pkg-config \"$@\"; fi\n"
     "echo \"Package lua5.4 was not found in the pkg-config search path.\" >&2\n"
     "exit 1\n"},
    {"apt-get",
     "#!/bin/sh\n"
     "echo \"apt-get $*\" >> \"$SHIMS/calls\"\n"
     "if [ \"$1\" = install ] || [ \"$2\" = install ]; then touch \"$SHIMS/installed\"; fi\n"},
    {"npm", "#!/bin/sh\necho \"npm $*\" >> \"$SHIMS/calls\"\n"},
    {"sudo",
     "#!/bin/sh\n"
     "echo \"sudo $*\" >> \"$SHIMS/calls\"\n"
     "if [ \"$(id -u)\" = 0 ]; then echo 'sudo: command not found' >&2; exit 127; fi\n"
     "exec \"$@\"\n"},
};

static void write_script(const char *dir, const char *name, const char *text)
{
    char path[PATH_MAX];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    FILE *f = fopen(path, "w");
    CHECKF(f, "cannot write %s", path);
    CHECK(fputs(text, f) >= 0);
    CHECK(fclose(f) == 0 && chmod(path, 0755) == 0);
}

static char *read_text(const char *path)
{
    char *cat[] = {"/bin/cat", (char *)path, NULL}, *text = NULL;
    spec_run(cat, NULL, NULL, &text);
    return text ? text : strdup("");
}

/* Starts `make ARGS` in dir as a newcomer would: not under our own make (no MAKEFLAGS), with
 * no DATABASE_URL, the shims first in PATH. */
static pid_t start_make(const char *dir, const char *shim_dir, const char *args, int port,
                        const char *log)
{
    char *script = NULL, *shims_env = NULL, *path_env = NULL, *port_env = NULL;
    CHECK(asprintf(&script,
                   "unset MAKEFLAGS MFLAGS MAKELEVEL MAKEOVERRIDES DATABASE_URL DHIS2SYNC_BUILD;"
                   " cd \"$0\" && exec make %s",
                   args) > 0);
    CHECK(asprintf(&shims_env, "SHIMS=%s", shim_dir) > 0);
    CHECK(asprintf(&path_env, "PATH=%s:%s", shim_dir, getenv("PATH")) > 0);
    CHECK(asprintf(&port_env, "DHIS2SYNC_PORT=%d", port) > 0);
    char *env[] = {shims_env, path_env, port_env, NULL};
    char *argv[] = {"/bin/sh", "-c", script, (char *)dir, NULL};
    return spec_spawn(argv, env, log);
}

static void print_tail(const char *path)
{
    char *tail[] = {"/usr/bin/tail", "-n", "40", (char *)path, NULL}, *text = NULL;
    spec_run(tail, NULL, NULL, &text);
    fprintf(stderr, "---- last lines of %s\n%s", path, text ? text : "");
    free(text);
}

/* Waits for the make to exit; its exit status, or -1 after timeout_s. */
static int wait_make(pid_t pid, int timeout_s)
{
    int status = 0;
    for (int i = 0; waitpid(pid, &status, WNOHANG) != pid; i++) {
        if (i >= timeout_s * 10)
            return -1;
        usleep(100000);
    }
    return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
}

TEST_TIMEOUT(make_deps_run_and_make_deps_test_work_the_first_time_on_a_fresh_machine, 600)
{
    /* the README's commands, and CI runs the test one */
    char *readme = read_text("README.md"), *ci = read_text(".ci/run");
    CHECK_CONTAINS(readme, "make deps run ");
    CHECK_CONTAINS(readme, "make deps test ");
    CHECK_CONTAINS(ci, "\nmake deps test\n");

    /* a clean checkout: the files git knows (as they are now), nothing built or installed */
    char *dir = spec_test_dir("inst"), *shim_dir = spec_test_dir("shims");
    char *copy[] = {"/bin/sh", "-c",
                    "git ls-files -z --cached --others --exclude-standard | "
                    "tar --null --ignore-failed-read -T - -cf - | tar -xf - -C \"$0\"",
                    dir, NULL};
    CHECK_INT(spec_run(copy, NULL, NULL, NULL), 0);
    for (size_t i = 0; i < sizeof shims / sizeof shims[0]; i++)
        write_script(shim_dir, shims[i][0], shims[i][1]);

    /* `make deps run`, with -j2 so that deps and the compiles could overlap */
    char log[PATH_MAX], health[64], installed[PATH_MAX], calls[PATH_MAX];
    snprintf(log, sizeof log, "%s/run.log", shim_dir);
    snprintf(installed, sizeof installed, "%s/installed", shim_dir);
    snprintf(calls, sizeof calls, "%s/calls", shim_dir);
    int port = spec_free_port();
    snprintf(health, sizeof health, "http://127.0.0.1:%d/health", port);
    pid_t make = start_make(dir, shim_dir, "-j2 deps run", port, log);
    int up = -1, exited = -1;
    for (int waited = 0; waited < 400 && exited < 0 && up != 0; waited += 2) {
        up = spec_wait_status(health, 200, 2000);
        if (up != 0)
            exited = wait_make(make, 0);
    }
    /* stopped before any check can fail: the server's private PostgreSQL must not outlive it.
     * SIGTERM to make reaches serve, which stops the cluster it started. */
    int status = exited < 0 ? spec_stop(make, 60000) : 0;
    if (up != 0)
        print_tail(log);
    CHECKF(up == 0, "make deps run: no 200 from %s (make %s %d)", health,
           exited < 0 ? "still running, stopped with status" : "exited", exited < 0 ? status : exited);
    struct stat st;
    char pg_socket[PATH_MAX];
    snprintf(pg_socket, sizeof pg_socket, "%s/var/pg/run/.s.PGSQL.5432", dir);
    CHECKF(stat(pg_socket, &st) != 0, "the private PostgreSQL outlived make run");
    char pg_version[PATH_MAX];
    snprintf(pg_version, sizeof pg_version, "%s/var/pg/data/PG_VERSION", dir);
    CHECKF(stat(pg_version, &st) == 0, "serve did not use the private cluster under var/pg");
    char *recorded = read_text(calls);
    CHECK_CONTAINS(recorded, "apt-get install -y --no-install-recommends build-essential");
    CHECK_CONTAINS(recorded, "npm ci --prefix spec/browser");
    CHECKF(!strstr(recorded, "sudo "), "deps called sudo as root: %s", recorded);

    /* the half of `make deps test` that differs from `make deps run`: the emulator and the
     * suite build from the same state (the suite itself is what runs this test) */
    CHECK(unlink(installed) == 0);
    snprintf(log, sizeof log, "%s/test.log", shim_dir);
    make = start_make(dir, shim_dir, "-j2 deps all", port, log);
    exited = wait_make(make, 400);
    if (exited != 0)
        print_tail(log);
    CHECKF(exited == 0, "make deps all exited %d", exited);
    char bin[PATH_MAX];
    snprintf(bin, sizeof bin, "%s/build/spec/run", dir);
    CHECK(access(bin, X_OK) == 0);
    snprintf(bin, sizeof bin, "%s/build/dhis2-emulator", dir);
    CHECK(access(bin, X_OK) == 0);
}
