/* meta_bench — peak memory of a metadata run: `dhis2sync run` of a job that copies N org units
 * (a four-level tree, default 50 000) plus a data set of 500 data elements from one emulator to
 * an empty one, in parts (atomicMode NONE) and as one payload (ALL). Prints the wall time, the
 * objects sent and the peak RSS of the dhis2sync process (from wait4); the goal is under
 * 100 MB at 50 000 objects. It prints figures; it asserts nothing.
 *   build/bench/meta_bench [N]
 * Jobs and instances are made through the API of a `dhis2sync serve` started for the purpose,
 * so the bench does not depend on how jobs are stored. */
#include <cJSON.h>
#include <curl/curl.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "pgembed.h"
#include "bench_common.h"

static size_t discard(char *p, size_t size, size_t n, void *ud)
{
    (void)p;
    (void)ud;
    return size * n;
}

/* A request; returns the HTTP status (0 when none came). auth: a header line or NULL. */
static long call(const char *method, const char *url, const char *auth, const char *body)
{
    CURL *c = curl_easy_init();
    struct curl_slist *h = curl_slist_append(NULL, "Content-Type: application/json");
    if (auth)
        h = curl_slist_append(h, auth);
    curl_easy_setopt(c, CURLOPT_URL, url);
    curl_easy_setopt(c, CURLOPT_CUSTOMREQUEST, method);
    curl_easy_setopt(c, CURLOPT_HTTPHEADER, h);
    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, discard);
    if (body)
        curl_easy_setopt(c, CURLOPT_POSTFIELDS, body);
    long status = 0;
    if (curl_easy_perform(c) == CURLE_OK)
        curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &status);
    curl_slist_free_all(h);
    curl_easy_cleanup(c);
    return status;
}

static int next_port = 24000;

static pid_t spawn(char *const argv[], const char *ready_url)
{
    pid_t pid = fork();
    if (pid == 0) {
        freopen("/dev/null", "w", stdout);
        freopen("/dev/null", "w", stderr);
        execv(argv[0], argv);
        _exit(127);
    }
    for (int i = 0; ready_url && i < 600 && call("GET", ready_url, NULL, NULL) != 200; i++)
        usleep(100000);
    return pid;
}

/* A uid from a number: a letter then ten characters. */
static void uid(char out[12], char kind, long n)
{
    static const char digits[] = "0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ";
    out[0] = kind;
    for (int i = 10; i >= 1; i--, n /= 62)
        out[i] = digits[n % 62];
    out[11] = '\0';
}

/* metadata.json of n org units (root, 50, 1000, the rest) and a data set of 500 elements. */
static int write_source(const char *path, long n)
{
    FILE *f = fopen(path, "w");
    if (!f)
        return -1;
    char id[12], parent[12];
    fputs("{\"organisationUnits\":[", f);
    for (long i = 0; i < n; i++) {
        long p = i == 0 ? -1 : i <= 50 ? 0 : i <= 1050 ? 1 + (i - 51) % 50 : 51 + (i - 1051) % 1000;
        uid(id, 'O', i);
        fprintf(f, "%s{\"id\":\"%s\",\"name\":\"Unit %ld\",\"shortName\":\"Unit %ld\",\"code\":\"OU%ld\","
                "\"openingDate\":\"2000-01-01T00:00:00.000\",\"lastUpdated\":\"2020-01-01T00:00:00.000\"",
                i ? "," : "", id, i, i, i);
        if (p >= 0) {
            uid(parent, 'O', p);
            fprintf(f, ",\"parent\":{\"id\":\"%s\"}", parent);
        }
        fputc('}', f);
    }
    fputs("],\"dataElements\":[", f);
    for (long i = 0; i < 500; i++) {
        uid(id, 'D', i);
        fprintf(f, "%s{\"id\":\"%s\",\"name\":\"Element %ld\",\"shortName\":\"Element %ld\",\"code\":\"DE%ld\","
                "\"valueType\":\"NUMBER\",\"aggregationType\":\"SUM\",\"domainType\":\"AGGREGATE\"}",
                i ? "," : "", id, i, i, i);
    }
    fputs("],\"dataSets\":[{\"id\":\"DsBench0001\",\"name\":\"Bench\",\"shortName\":\"Bench\","
          "\"periodType\":\"Monthly\",\"dataSetElements\":[", f);
    for (long i = 0; i < 500; i++) {
        uid(id, 'D', i);
        fprintf(f, "%s{\"dataElement\":{\"id\":\"%s\"}}", i ? "," : "", id);
    }
    fputs("]}]}", f);
    return fclose(f);
}

static pid_t emulator(int port, const char *data_dir)
{
    char bin[256], portarg[16], ready[128];
    snprintf(bin, sizeof bin, "%s/dhis2-emulator", build_dir());
    snprintf(portarg, sizeof portarg, "%d", port);
    snprintf(ready, sizeof ready, "http://127.0.0.1:%d/emulator/state", port);
    char *argv[] = {bin, "--port", portarg, data_dir ? "--data" : NULL, (char *)data_dir, NULL};
    return spawn(argv, ready);
}

static void stop(pid_t pid)
{
    kill(pid, SIGTERM);
    waitpid(pid, NULL, 0);
}

/* A bearer token from `dhis2sync token add`, as an Authorization header. */
static int token(char auth[256])
{
    char cmd[300];
    snprintf(cmd, sizeof cmd, "%s/dhis2sync token add bench 2>/dev/null", build_dir());
    FILE *p = popen(cmd, "r");
    char t[200] = "";
    if (!p || !fgets(t, sizeof t, p)) {
        if (p)
            pclose(p);
        return -1;
    }
    pclose(p);
    t[strcspn(t, "\n")] = '\0';
    snprintf(auth, 256, "Authorization: Bearer %s", t);
    return 0;
}

static void bench_one(long n, const char *work, const char *atomic, const char *auth)
{
    int src_port = next_port += 7, dst_port = next_port += 7;
    pid_t src = emulator(src_port, work), dst = emulator(dst_port, NULL);
    char bin[256], serve_port[16], url[256], body[512];
    snprintf(bin, sizeof bin, "%s/dhis2sync", build_dir());
    int api_port = next_port += 7;
    snprintf(serve_port, sizeof serve_port, "%d", api_port);
    snprintf(url, sizeof url, "http://127.0.0.1:%d/health", api_port);
    char *serve_argv[] = {bin, "serve", "--port", serve_port, NULL};
    pid_t serve = spawn(serve_argv, url);
    const char *names[] = {"src", "dst"};
    int ports[] = {src_port, dst_port};
    snprintf(url, sizeof url, "http://127.0.0.1:%d/api/instances", api_port);
    for (int i = 0; i < 2; i++) {
        snprintf(body, sizeof body,
                 "{\"name\":\"%s-%s\",\"url\":\"http://127.0.0.1:%d\",\"auth\":{\"type\":\"basic\","
                 "\"username\":\"admin\",\"password\":\"district\"}}", names[i], atomic, ports[i]);
        call("POST", url, auth, body);
    }
    snprintf(url, sizeof url, "http://127.0.0.1:%d/api/jobs", api_port);
    snprintf(body, sizeof body,
             "{\"name\":\"meta-%s\",\"kind\":\"metadata\",\"source\":\"src-%s\",\"target\":\"dst-%s\","
             "\"objects\":{\"organisationUnits\":\"all\",\"dataSets\":[\"DsBench0001\"]},"
             "\"importOptions\":{\"atomicMode\":\"%s\",\"batchSize\":5000}}",
             atomic, atomic, atomic, atomic);
    long created = call("POST", url, auth, body);
    stop(serve);
    if (created != 201) {
        fprintf(stderr, "the job was not made (HTTP %ld)\n", created);
        goto out;
    }
    char job[32], out_path[PATH_MAX];
    snprintf(job, sizeof job, "meta-%s", atomic);
    snprintf(out_path, sizeof out_path, "%s/run-%s.json", work, atomic);
    double t0 = now_s();
    pid_t pid = fork();
    if (pid == 0) {
        freopen("/dev/null", "w", stderr);
        freopen(out_path, "w", stdout);
        execl(bin, bin, "run", job, "--json", (char *)NULL);
        _exit(127);
    }
    int status;
    struct rusage ru;
    wait4(pid, &status, 0, &ru);
    double run_s = now_s() - t0;
    /* the finished run, as `run --json` prints it */
    FILE *f = fopen(out_path, "r");
    char text[8192] = "";
    size_t got = f ? fread(text, 1, sizeof text - 1, f) : 0;
    text[got] = '\0';
    if (f)
        fclose(f);
    cJSON *run = cJSON_Parse(text);
    const cJSON *counts = cJSON_GetObjectItem(run, "counts");
    const char *err = cJSON_GetStringValue(cJSON_GetObjectItem(run, "error"));
    printf("%8ld objects  atomicMode %-4s  run %7.2f s  peak RSS %6.1f MB  %s, sent %.0f, "
           "imported %.0f%s%.200s\n", n + 501, atomic, run_s, (double)ru.ru_maxrss / 1024.0,
           cJSON_GetStringValue(cJSON_GetObjectItem(run, "status")) ?: "no run",
           cJSON_GetNumberValue(cJSON_GetObjectItem(counts, "sent")),
           cJSON_GetNumberValue(cJSON_GetObjectItem(counts, "imported")), err ? "  error: " : "",
           err ? err : "");
    fflush(stdout);
    cJSON_Delete(run);
out:
    stop(src);
    stop(dst);
}

int main(int argc, char **argv)
{
    long n = argc > 1 ? atol(argv[1]) : 49499;
    curl_global_init(CURL_GLOBAL_ALL);
    char dir[] = "/tmp/dhis2sync-meta-bench-XXXXXX";
    if (!mkdtemp(dir)) {
        perror("mkdtemp");
        return 1;
    }
    chmod(dir, 0755);
    char path[128], pgdir[128];
    snprintf(path, sizeof path, "%s/metadata.json", dir);
    snprintf(pgdir, sizeof pgdir, "%s/pg", dir);
    struct pgembed pg;
    struct err e = {0};
    if (write_source(path, n) || pgembed_init(&pg, pgdir, &e) || pgembed_start(&pg, &e) ||
        pgembed_ensure_db(&pg, "bench", &e)) {
        fprintf(stderr, "setting up: %s\n", e.msg[0] ? e.msg : "cannot write the source's metadata");
        return 1;
    }
    char *conninfo = pgembed_conninfo(&pg, "bench");
    setenv("DATABASE_URL", conninfo, 1);
    setenv("DHIS2SYNC_SECRET_KEY", "bench-secret-key-0123456789", 1);
    setenv("DHIS2SYNC_LOG", "warn", 1);
    char cmd[256], auth[256];
    snprintf(cmd, sizeof cmd, "%s/dhis2sync migrate >/dev/null 2>&1", build_dir());
    int rc = system(cmd) != 0 || token(auth) != 0;
    if (rc) {
        fprintf(stderr, "migrate or token add failed\n");
    } else {
        printf("meta_bench: a metadata job of %ld org units and a data set of 500 elements\n", n);
        fflush(stdout); /* before the children inherit the buffer */
        bench_one(n, dir, "NONE", auth);
        bench_one(n, dir, "ALL", auth);
    }
    pgembed_stop(&pg, &e);
    snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
    if (system(cmd) != 0)
        fprintf(stderr, "could not remove %s\n", dir);
    free(conninfo);
    return rc;
}
