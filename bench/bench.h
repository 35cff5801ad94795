/* bench.h — what the end-to-end benchmarks share: a private PostgreSQL with dhis2sync's schema,
 * DHIS2 emulators on local ports, GETs against them, a job between two of them, and one
 * `dhis2sync run` timed with its peak RSS. Each bench is one translation unit (see the
 * Makefile's bench rule), so these are static. */
#ifndef DHIS2SYNC_BENCH_H
#define DHIS2SYNC_BENCH_H

#include <cJSON.h>
#include <curl/curl.h>
#include <libpq-fe.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "crypto.h"
#include "instances.h"
#include "pgembed.h"

static const char *build_dir(void)
{
    const char *b = getenv("DHIS2SYNC_BUILD");
    return b && *b ? b : "build";
}

static double now_s(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + (double)t.tv_nsec / 1e9;
}

struct buf {
    char *data;
    size_t len;
};

static size_t collect(char *p, size_t size, size_t n, void *ud)
{
    struct buf *b = ud;
    char *grown = realloc(b->data, b->len + size * n + 1);
    if (!grown)
        return 0;
    b->data = grown;
    memcpy(b->data + b->len, p, size * n);
    b->len += size * n;
    b->data[b->len] = '\0';
    return size * n;
}

/* GET with admin:district; the body (or NULL); *bytes gets its size. */
static char *get(const char *url, size_t *bytes)
{
    CURL *c = curl_easy_init();
    struct buf b = {0};
    curl_easy_setopt(c, CURLOPT_URL, url);
    curl_easy_setopt(c, CURLOPT_USERPWD, "admin:district");
    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, collect);
    curl_easy_setopt(c, CURLOPT_WRITEDATA, &b);
    long status = 0;
    if (curl_easy_perform(c) == CURLE_OK)
        curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &status);
    curl_easy_cleanup(c);
    if (bytes)
        *bytes = b.len;
    if (status != 200) {
        free(b.data);
        return NULL;
    }
    return b.data;
}

/* GET http://127.0.0.1:port/path as JSON (NULL when it fails); caller deletes. */
static cJSON *get_json(int port, const char *path)
{
    char url[512];
    snprintf(url, sizeof url, "http://127.0.0.1:%d%s", port, path);
    char *text = get(url, NULL);
    cJSON *j = text ? cJSON_Parse(text) : NULL;
    free(text);
    return j;
}

static int free_port(void)
{
    static int next = 23000;
    return next += 7;
}

static pid_t emulator(int port, const char *generate)
{
    char portarg[16], bin[256];
    snprintf(portarg, sizeof portarg, "%d", port);
    snprintf(bin, sizeof bin, "%s/dhis2-emulator", build_dir());
    pid_t pid = fork();
    if (pid == 0) {
        freopen("/dev/null", "w", stderr);
        execl(bin, bin, "--port", portarg, "--generate", generate, (char *)NULL);
        _exit(127);
    }
    char url[128];
    snprintf(url, sizeof url, "http://127.0.0.1:%d/emulator/state", port);
    for (int i = 0; i < 600; i++) {
        char *s = get(url, NULL);
        if (s) {
            free(s);
            return pid;
        }
        usleep(100000);
    }
    return pid;
}

static void emulator_stop(pid_t pid)
{
    kill(pid, SIGTERM);
    waitpid(pid, NULL, 0);
}

static int exec_sql(PGconn *c, const char *sql, int n, const char *const *params)
{
    PGresult *r = PQexecParams(c, sql, n, NULL, params, NULL, NULL, 0);
    int ok = PQresultStatus(r) == PGRES_COMMAND_OK || PQresultStatus(r) == PGRES_TUPLES_OK;
    if (!ok)
        fprintf(stderr, "sql: %s", PQresultErrorMessage(r));
    PQclear(r);
    return ok ? 0 : -1;
}

struct bench_db {
    char dir[64];
    struct pgembed pg;
    char *conninfo;
    struct crypto_key key;
};

/* A private cluster in a fresh directory, migrated; DATABASE_URL and the secret key set for
 * the dhis2sync processes the bench starts. */
static int bench_db_start(struct bench_db *db)
{
    snprintf(db->dir, sizeof db->dir, "/tmp/dhis2sync-bench-XXXXXX");
    if (!mkdtemp(db->dir)) {
        perror("mkdtemp");
        return -1;
    }
    chmod(db->dir, 0755);
    char pgdir[96];
    snprintf(pgdir, sizeof pgdir, "%s/pg", db->dir);
    struct err e = {0};
    if (pgembed_init(&db->pg, pgdir, &e) || pgembed_start(&db->pg, &e) ||
        pgembed_ensure_db(&db->pg, "bench", &e)) {
        fprintf(stderr, "%s\n", e.msg);
        return -1;
    }
    db->conninfo = pgembed_conninfo(&db->pg, "bench");
    setenv("DATABASE_URL", db->conninfo, 1);
    setenv("DHIS2SYNC_SECRET_KEY", "bench-secret-key-0123456789", 1);
    setenv("DHIS2SYNC_LOG", "warn", 1);
    crypto_key_load(&db->key, getenv("DHIS2SYNC_SECRET_KEY"), NULL, &e);
    char cmd[256];
    snprintf(cmd, sizeof cmd, "%s/dhis2sync migrate >/dev/null 2>&1", build_dir());
    if (system(cmd) != 0)
        fprintf(stderr, "migrate failed\n");
    return 0;
}

static void bench_db_stop(struct bench_db *db)
{
    struct err e = {0};
    pgembed_stop(&db->pg, &e);
    char cmd[128];
    snprintf(cmd, sizeof cmd, "rm -rf %s", db->dir);
    if (system(cmd) != 0)
        fprintf(stderr, "could not remove %s\n", db->dir);
    free(db->conninfo);
}

/* Job `job` (its normalised spec as JSON text; kind NULL = data values) from an instance on
 * src_port to one on dst_port, replacing every job and instance there was. */
static int bench_job(struct bench_db *db, const char *job, const char *kind, int src_port,
                     int dst_port, const char *spec_text)
{
    PGconn *c = PQconnectdb(db->conninfo);
    char *sealed = NULL;
    struct err e = {0};
    crypto_seal(&db->key, "district", 8, INSTANCE_SECRET_AAD, &sealed, &e);
    char src_url[64], dst_url[64];
    snprintf(src_url, sizeof src_url, "http://127.0.0.1:%d", src_port);
    snprintf(dst_url, sizeof dst_url, "http://127.0.0.1:%d", dst_port);
    const char *p1[] = {src_url, sealed, dst_url, job};
    const char *p2[] = {job, spec_text, kind};
    int rc = 0;
    if (exec_sql(c, "DELETE FROM jobs", 0, NULL) || exec_sql(c, "DELETE FROM instances", 0, NULL) ||
        exec_sql(c,
                 "INSERT INTO instances (name, url, auth_type, username, secret) VALUES"
                 " ('src-' || $4, $1, 'basic', 'admin', $2), ('dst-' || $4, $3, 'basic', 'admin', $2)",
                 4, p1) ||
        exec_sql(c,
                 "INSERT INTO jobs (name, source_id, target_id, spec) SELECT $1,"
                 " (SELECT id FROM instances WHERE name = 'src-' || $1),"
                 " (SELECT id FROM instances WHERE name = 'dst-' || $1),"
                 " CASE WHEN $3::text IS NULL THEN $2::jsonb"
                 " ELSE $2::jsonb || jsonb_build_object('kind', $3::text) END",
                 3, p2))
        rc = -1;
    PQfinish(c);
    free(sealed);
    return rc;
}

/* `dhis2sync run job`: its exit status (-1 if it did not exit), wall time and peak RSS. */
static int bench_run(const char *job, double *secs, double *rss_mb)
{
    char bin[256];
    snprintf(bin, sizeof bin, "%s/dhis2sync", build_dir());
    fflush(stdout); /* else the child's freopen prints what is buffered a second time */
    double t0 = now_s();
    pid_t pid = fork();
    if (pid == 0) {
        freopen("/dev/null", "w", stdout);
        execl(bin, bin, "run", job, (char *)NULL);
        _exit(127);
    }
    int status;
    struct rusage ru;
    wait4(pid, &status, 0, &ru);
    *secs = now_s() - t0;
    *rss_mb = (double)ru.ru_maxrss / 1024.0;
    return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

/* The main of a bench that times bench_one for each size given (default 100 k and 1 M). */
static int bench_main(int argc, char **argv, const char *title, int (*bench_one)(long n, struct bench_db *db))
{
    curl_global_init(CURL_GLOBAL_ALL);
    struct bench_db db;
    if (bench_db_start(&db))
        return 1;
    printf("%s (%ld cores)\n", title, sysconf(_SC_NPROCESSORS_ONLN));
    int rc = 0;
    if (argc > 1) {
        for (int i = 1; i < argc; i++)
            rc |= bench_one(atol(argv[i]), &db);
    } else {
        rc |= bench_one(100000, &db);
        rc |= bench_one(1000000, &db);
    }
    bench_db_stop(&db);
    return rc ? 1 : 0;
}

#endif
