/* harness.h — what integration tests use to drive the real programs from outside:
 * throw-away databases on the suite's PostgreSQL cluster, spawning dhis2sync and emulators,
 * HTTP over libcurl, free ports. Everything here is for tests only. */
#ifndef DHIS2SYNC_HARNESS_H
#define DHIS2SYNC_HARNESS_H

#include <cJSON.h>
#include <limits.h>
#include <stddef.h>
#include <sys/types.h>

int spec_suite_setup(void);
void spec_suite_teardown(void);
void spec_set_current_test(const char *name);

/* A directory private to the suite run (tests make their own subdirectories in it). */
const char *spec_tmp_root(void);
/* A fresh directory for the current test; caller frees. */
char *spec_test_dir(const char *suffix);
/* Path of a built program: build/NAME or build/asan/NAME, as `make test` was asked. */
char *spec_bin(const char *name);
/* A fresh, empty database for the current test on the suite's cluster; libpq conninfo. */
char *spec_new_db(void);
/* Conninfo of the suite's cluster's `postgres` database. */
char *spec_admin_conninfo(void);
/* A TCP port nobody listens on right now. */
int spec_free_port(void);

/* Starts argv[0] with extra environment entries ("K=V", NULL-terminated; may be NULL), its
 * stdout and stderr appended to log_path (may be NULL for the test's own output). */
pid_t spec_spawn(char *const argv[], char *const env[], const char *log_path);
/* Runs a command to the end; returns its exit status (or -1) and, if out is non-NULL, its
 * stdout (caller frees). stdin_text, if non-NULL, is written to its stdin. */
int spec_run(char *const argv[], char *const env[], const char *stdin_text, char **out);
/* SIGTERM, then SIGKILL after timeout_ms; returns the exit status as waitpid reports it. */
int spec_stop(pid_t pid, int timeout_ms);

struct spec_resp {
    long status;
    char *body;        /* NUL-terminated; caller frees via spec_resp_free */
    size_t body_len;
    char *headers;     /* raw response headers */
};
/* headers: NULL-terminated "Name: value" list, may be NULL. body may be NULL. */
int spec_http(const char *method, const char *url, const char *const headers[], const char *body,
              size_t body_len, struct spec_resp *out);
void spec_resp_free(struct spec_resp *r);
/* The response body as JSON (NULL if it is not); caller deletes. */
cJSON *spec_resp_json(const struct spec_resp *r);

/* A dhis2sync server of the test's own: `serve` on a free port against db. */
struct spec_server {
    pid_t pid;
    int port;
    char base[64];          /* http://127.0.0.1:PORT */
    char *db;
    char *dir;              /* its working directory (var/, mappings/ ...) */
    char log_path[PATH_MAX];
    char token[128];        /* a Bearer token made with `dhis2sync token add` */
};
/* Starts it (env: extra "K=V" entries, may be NULL) and waits for /health to answer 200. */
int spec_server_start(struct spec_server *s, const char *db, char *const env[]);
/* SIGTERM and wait; fails the test unless it exits 0 (sanitizer reports make it non-zero).
 * Servers still running when a test returns are stopped and checked the same way. */
int spec_server_stop(struct spec_server *s);
/* Called by the runner after each test. */
void spec_test_cleanup(void);
/* Waits up to timeout_ms for GET url to answer `status`. Returns 0 when it does. */
int spec_wait_status(const char *url, long status, int timeout_ms);
/* POST /api/session as a browser logs in (JSON body); extra: more headers (NULL-terminated,
 * may be NULL). Fails the test if no answer comes. */
void spec_login(struct spec_server *s, const char *user, const char *password,
                const char *const extra[], struct spec_resp *out);
/* GET/POST/... against the server with its Bearer token. */
int spec_api(struct spec_server *s, const char *method, const char *path, const char *json_body,
             struct spec_resp *out);

#endif
