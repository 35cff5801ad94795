/* run.c — the suite runner: `build/spec/run [-j N] [FILTER...]`.
 * Starts one throw-away PostgreSQL cluster for the whole suite, then runs every registered test
 * (whose name or file contains one of the FILTERs) in a forked child, in its own process group,
 * with its output captured and a timeout. Prints the captured output of failing tests, then
 * `N passed, N failed` as its last line. */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdarg.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "harness.h"
#include "test.h"

struct test_case {
    const char *name, *file;
    test_fn fn;
    int timeout_s;
};

static struct test_case *tests;
static int n_tests, cap_tests;

void test_register(const char *name, const char *file, test_fn fn, int timeout_s)
{
    if (n_tests == cap_tests) {
        cap_tests = cap_tests ? cap_tests * 2 : 64;
        tests = realloc(tests, (size_t)cap_tests * sizeof *tests);
        if (!tests) {
            perror("realloc");
            exit(2);
        }
    }
    tests[n_tests++] = (struct test_case){name, file, fn, timeout_s};
}

void test_fail(const char *file, int line, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    fprintf(stderr, "%s:%d: ", file, line);
    vfprintf(stderr, fmt, ap);
    fprintf(stderr, "\n");
    va_end(ap);
    fflush(NULL);
    _exit(1);
}

#if defined(__has_feature)
#if __has_feature(address_sanitizer)
#define SPEC_ASAN 1
#endif
#endif
#if defined(__SANITIZE_ADDRESS__)
#define SPEC_ASAN 1
#endif
#ifdef SPEC_ASAN
#include <sanitizer/lsan_interface.h>
void spec_check_leaks(const char *file, int line)
{
    if (__lsan_do_recoverable_leak_check())
        test_fail(file, line, "LeakSanitizer found leaks (report above)");
}
#else
void spec_check_leaks(const char *file, int line)
{
    (void)file;
    (void)line;
}
#endif

struct slot {
    int test;
    pid_t pid;
    time_t started;
    char out_path[PATH_MAX];
};

static int matches(const struct test_case *t, int argc, char **argv, int first)
{
    if (first >= argc)
        return 1;
    for (int i = first; i < argc; i++)
        if (strstr(t->name, argv[i]) || strstr(t->file, argv[i]))
            return 1;
    return 0;
}

static void print_file(const char *path)
{
    FILE *f = fopen(path, "r");
    if (!f)
        return;
    char buf[4096];
    size_t n;
    while ((n = fread(buf, 1, sizeof buf, f)) > 0)
        fwrite(buf, 1, n, stdout);
    fclose(f);
}

static pid_t start_test(int index, struct slot *s)
{
    snprintf(s->out_path, sizeof s->out_path, "%s/%s.log", spec_tmp_root(), tests[index].name);
    fflush(NULL);
    pid_t pid = fork();
    if (pid == 0) {
        setpgid(0, 0);
        int fd = open(s->out_path, O_WRONLY | O_CREAT | O_TRUNC, 0644);
        if (fd >= 0) {
            dup2(fd, STDOUT_FILENO);
            dup2(fd, STDERR_FILENO);
            close(fd);
        }
        spec_set_current_test(tests[index].name);
        tests[index].fn();
        spec_test_cleanup();
        fflush(NULL);
        /* _exit: the harness's own allocations are not the programs' leaks; a unit test that
         * wants LeakSanitizer's verdict on the code it drove calls CHECK_NO_LEAKS() */
        _exit(0);
    }
    s->test = index;
    s->pid = pid;
    s->started = time(NULL);
    return pid;
}

static int finish_test(struct slot *s, int status, int timed_out)
{
    const struct test_case *t = &tests[s->test];
    /* whatever the test started (servers, emulators) goes with it */
    kill(-s->pid, SIGKILL);
    int ok = !timed_out && WIFEXITED(status) && WEXITSTATUS(status) == 0;
    long secs = (long)(time(NULL) - s->started);
    if (ok) {
        printf("ok   %s (%lds)\n", t->name, secs);
    } else {
        printf("FAIL %s (%s) %s\n", t->name, t->file,
               timed_out ? "timed out" : WIFSIGNALED(status) ? strsignal(WTERMSIG(status)) : "");
        printf("---- output of %s\n", t->name);
        print_file(s->out_path);
        printf("---- end of %s\n", t->name);
    }
    fflush(stdout);
    s->pid = 0;
    return ok;
}

int main(int argc, char **argv)
{
    int jobs = 2, first = 1;
    if (argc > 2 && strcmp(argv[1], "-j") == 0) {
        jobs = atoi(argv[2]);
        first = 3;
    }
    if (jobs < 1)
        jobs = 1;
    signal(SIGPIPE, SIG_IGN);
    setvbuf(stdout, NULL, _IOLBF, 0);

    if (spec_suite_setup() != 0) {
        printf("suite setup failed\n0 passed, 1 failed\n");
        return 1;
    }
    int passed = 0, failed = 0, next = 0;
    struct slot slots[16] = {0};
    if (jobs > 16)
        jobs = 16;
    for (;;) {
        int running = 0;
        for (int i = 0; i < jobs; i++) {
            if (slots[i].pid)
                running++;
            else {
                while (next < n_tests && !matches(&tests[next], argc, argv, first))
                    next++;
                if (next < n_tests) {
                    start_test(next++, &slots[i]);
                    running++;
                }
            }
        }
        if (!running)
            break;
        int status;
        pid_t pid = waitpid(-1, &status, WNOHANG);
        if (pid > 0) {
            for (int i = 0; i < jobs; i++)
                if (slots[i].pid == pid)
                    finish_test(&slots[i], status, 0) ? passed++ : failed++;
            continue;
        }
        if (pid < 0 && errno == ECHILD)
            break;
        for (int i = 0; i < jobs; i++) {
            if (slots[i].pid && time(NULL) - slots[i].started > tests[slots[i].test].timeout_s) {
                kill(-slots[i].pid, SIGKILL);
                waitpid(slots[i].pid, &status, 0);
                finish_test(&slots[i], status, 1);
                failed++;
            }
        }
        usleep(20000);
    }
    spec_suite_teardown();
    printf("%d passed, %d failed\n", passed, failed);
    return failed ? 1 : 0;
}
