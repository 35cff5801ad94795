/* sync_bench — end-to-end throughput and memory of `dhis2sync run` between two emulators.
 * For each size it generates a source (values=N) and an empty twin target, stores a job that
 * copies everything, runs `dhis2sync run` once and prints wall time, values/s and the peak RSS
 * of the dhis2sync process (from wait4). It prints figures; it asserts nothing.
 *   build/bench/sync_bench [N ...]      default: 100000 1000000 */
#include <cJSON.h>
#include <curl/curl.h>
#include <errno.h>
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

static int exec_sql(PGconn *c, const char *sql, int n, const char *const *params)
{
    PGresult *r = PQexecParams(c, sql, n, NULL, params, NULL, NULL, 0);
    int ok = PQresultStatus(r) == PGRES_COMMAND_OK || PQresultStatus(r) == PGRES_TUPLES_OK;
    if (!ok)
        fprintf(stderr, "sql: %s", PQresultErrorMessage(r));
    PQclear(r);
    return ok ? 0 : -1;
}

static int bench_one(long n, const char *conninfo, const struct crypto_key *key)
{
    int src_port = free_port(), dst_port = free_port();
    char gen[128];
    snprintf(gen, sizeof gen, "values=%ld,orgunits=2000,seed=7", n);
    double t0 = now_s();
    pid_t src = emulator(src_port, gen);
    double gen_s = now_s() - t0;
    pid_t dst = emulator(dst_port, "values=0,orgunits=2000,seed=7");

    char url[512];
    snprintf(url, sizeof url, "http://127.0.0.1:%d/api/dataSets?fields=id&paging=false", src_port);
    char *ds_text = get(url, NULL);
    snprintf(url, sizeof url, "http://127.0.0.1:%d/api/organisationUnits?fields=id&filter=level:eq:1", src_port);
    char *ou_text = get(url, NULL);
    cJSON *ds = cJSON_Parse(ds_text ? ds_text : ""), *ou = cJSON_Parse(ou_text ? ou_text : "");
    cJSON *ids = cJSON_CreateArray(), *item;
    char query[512] = "";
    cJSON_ArrayForEach(item, cJSON_GetObjectItem(ds, "dataSets"))
    {
        const char *id = cJSON_GetStringValue(cJSON_GetObjectItem(item, "id"));
        cJSON_AddItemToArray(ids, cJSON_CreateString(id));
        snprintf(query + strlen(query), sizeof query - strlen(query), "dataSet=%s&", id);
    }
    const char *root = cJSON_GetStringValue(cJSON_GetObjectItem(
        cJSON_GetArrayItem(cJSON_GetObjectItem(ou, "organisationUnits"), 0), "id"));
    if (!root) {
        fprintf(stderr, "the emulators did not answer\n");
        return -1;
    }

    /* how long the source takes to answer the whole set in one request */
    size_t bytes = 0;
    snprintf(url, sizeof url,
             "http://127.0.0.1:%d/api/dataValueSets?%sorgUnit=%s&children=true&startDate=1900-01-01&endDate=2100-12-31",
             src_port, query, root);
    t0 = now_s();
    free(get(url, &bytes));
    double get_s = now_s() - t0;

    PGconn *c = PQconnectdb(conninfo);
    char *sealed = NULL;
    struct err e = {0};
    crypto_seal(key, "district", 8, INSTANCE_SECRET_AAD, &sealed, &e);
    char src_url[64], dst_url[64], job[64];
    snprintf(src_url, sizeof src_url, "http://127.0.0.1:%d", src_port);
    snprintf(dst_url, sizeof dst_url, "http://127.0.0.1:%d", dst_port);
    snprintf(job, sizeof job, "bench-%ld", n);
    cJSON *spec = cJSON_CreateObject();
    cJSON_AddItemToObject(spec, "dataSets", ids);
    cJSON_AddItemToObject(spec, "dataElementGroups", cJSON_CreateArray());
    cJSON *roots = cJSON_AddArrayToObject(spec, "orgUnits");
    cJSON_AddItemToArray(roots, cJSON_CreateString(root));
    cJSON_AddBoolToObject(spec, "children", 1);
    cJSON *periods = cJSON_AddObjectToObject(spec, "periods");
    cJSON_AddStringToObject(periods, "start", "1900-01-01");
    cJSON_AddStringToObject(periods, "end", "2100-12-31");
    cJSON *opts = cJSON_AddObjectToObject(spec, "importOptions");
    cJSON_AddStringToObject(opts, "importStrategy", "CREATE_AND_UPDATE");
    cJSON_AddNumberToObject(opts, "batchSize", 5000);
    char *spec_text = cJSON_PrintUnformatted(spec);
    const char *p1[] = {src_url, sealed, dst_url, job};
    const char *p2[] = {job, spec_text};
    if (exec_sql(c, "DELETE FROM jobs; DELETE FROM instances", 0, NULL) ||
        exec_sql(c,
                 "INSERT INTO instances (name, url, auth_type, username, secret) VALUES"
                 " ('src-' || $4, $1, 'basic', 'admin', $2), ('dst-' || $4, $3, 'basic', 'admin', $2)",
                 4, p1) ||
        exec_sql(c,
                 "INSERT INTO jobs (name, source_id, target_id, spec) SELECT $1,"
                 " (SELECT id FROM instances WHERE name = 'src-' || $1),"
                 " (SELECT id FROM instances WHERE name = 'dst-' || $1), $2::jsonb",
                 2, p2))
        return -1;
    PQfinish(c);

    char bin[256];
    snprintf(bin, sizeof bin, "%s/dhis2sync", build_dir());
    t0 = now_s();
    pid_t pid = fork();
    if (pid == 0) {
        freopen("/dev/null", "w", stdout);
        execl(bin, bin, "run", job, (char *)NULL);
        _exit(127);
    }
    int status;
    struct rusage ru;
    wait4(pid, &status, 0, &ru);
    double run_s = now_s() - t0;

    snprintf(url, sizeof url, "http://127.0.0.1:%d/emulator/state", dst_port);
    char *state = get(url, NULL);
    cJSON *st = cJSON_Parse(state ? state : "");
    long live = (long)cJSON_GetNumberValue(cJSON_GetObjectItem(st, "live"));
    printf("%8ld values  run %6.2f s  %8.0f values/s  peak RSS %6.1f MB  exit %d  target holds %ld"
           "  |  source: generated in %.1f s, whole set in one GET %.2f s (%.0f MB)\n",
           n, run_s, (double)n / run_s, (double)ru.ru_maxrss / 1024.0,
           WIFEXITED(status) ? WEXITSTATUS(status) : -1, live, gen_s, get_s, (double)bytes / 1e6);
    fflush(stdout);
    kill(src, SIGTERM);
    kill(dst, SIGTERM);
    waitpid(src, NULL, 0);
    waitpid(dst, NULL, 0);
    free(state);
    cJSON_Delete(st);
    free(spec_text);
    cJSON_Delete(spec);
    free(sealed);
    free(ds_text);
    free(ou_text);
    cJSON_Delete(ds);
    cJSON_Delete(ou);
    return 0;
}

int main(int argc, char **argv)
{
    curl_global_init(CURL_GLOBAL_ALL);
    char dir[] = "/tmp/dhis2sync-bench-XXXXXX";
    if (!mkdtemp(dir)) {
        perror("mkdtemp");
        return 1;
    }
    chmod(dir, 0755);
    char pgdir[64];
    snprintf(pgdir, sizeof pgdir, "%s/pg", dir);
    struct pgembed pg;
    struct err e = {0};
    if (pgembed_init(&pg, pgdir, &e) || pgembed_start(&pg, &e) || pgembed_ensure_db(&pg, "bench", &e)) {
        fprintf(stderr, "%s\n", e.msg);
        return 1;
    }
    char *conninfo = pgembed_conninfo(&pg, "bench");
    setenv("DATABASE_URL", conninfo, 1);
    setenv("DHIS2SYNC_SECRET_KEY", "bench-secret-key-0123456789", 1);
    setenv("DHIS2SYNC_LOG", "warn", 1);
    struct crypto_key key;
    crypto_key_load(&key, getenv("DHIS2SYNC_SECRET_KEY"), NULL, &e);
    char bin[256];
    snprintf(bin, sizeof bin, "%s/dhis2sync migrate >/dev/null 2>&1", build_dir());
    if (system(bin) != 0)
        fprintf(stderr, "migrate failed\n");
    printf("sync_bench: dhis2sync run between two emulators on this machine (%ld cores)\n",
           sysconf(_SC_NPROCESSORS_ONLN));
    int rc = 0;
    if (argc > 1) {
        for (int i = 1; i < argc; i++)
            rc |= bench_one(atol(argv[i]), conninfo, &key);
    } else {
        rc |= bench_one(100000, conninfo, &key);
        rc |= bench_one(1000000, conninfo, &key);
    }
    pgembed_stop(&pg, &e);
    char cmd[128];
    snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
    if (system(cmd) != 0)
        fprintf(stderr, "could not remove %s\n", dir);
    free(conninfo);
    return rc ? 1 : 0;
}
