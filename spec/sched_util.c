#include "sched_util.h"

#include <errno.h>
#include <limits.h>
#include <signal.h>
#include <stdarg.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "test.h"

cJSON *su_call(struct spec_server *s, const char *method, const char *path, const char *body,
               long expect_status)
{
    struct spec_resp r;
    CHECKF(spec_api(s, method, path, body, &r) == 0, "%s %s: no answer", method, path);
    CHECKF(r.status == expect_status, "%s %s: expected %ld, saw %ld: %s", method, path,
           expect_status, r.status, r.body);
    cJSON *j = spec_resp_json(&r);
    spec_resp_free(&r);
    return j;
}

const char *su_str(const cJSON *o, const char *key)
{
    return cJSON_GetStringValue(cJSON_GetObjectItem(o, key));
}

double su_num(const cJSON *o, const char *key)
{
    return cJSON_GetNumberValue(cJSON_GetObjectItem(o, key));
}

PGconn *su_db(const char *conninfo)
{
    PGconn *c = PQconnectdb(conninfo);
    CHECKF(PQstatus(c) == CONNECTION_OK, "cannot connect to the test database: %s", PQerrorMessage(c));
    PQclear(PQexec(c, "SET client_min_messages = warning"));
    return c;
}

static char *vsql(PGconn *c, bool want_value, const char *fmt, va_list ap)
{
    char *q = NULL;
    if (vasprintf(&q, fmt, ap) < 0)
        test_fail(__FILE__, __LINE__, "out of memory");
    PGresult *r = PQexec(c, q);
    ExecStatusType st = PQresultStatus(r);
    if (st != PGRES_TUPLES_OK && st != PGRES_COMMAND_OK)
        test_fail(__FILE__, __LINE__, "SQL failed: %s\n%s", q, PQresultErrorMessage(r));
    free(q);
    char *out = NULL;
    if (want_value && st == PGRES_TUPLES_OK && PQntuples(r) > 0 && !PQgetisnull(r, 0, 0))
        out = strdup(PQgetvalue(r, 0, 0));
    PQclear(r);
    return out;
}

char *su_sql(PGconn *c, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    char *v = vsql(c, true, fmt, ap);
    va_end(ap);
    return v;
}

long long su_sql_int(PGconn *c, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    char *v = vsql(c, true, fmt, ap);
    va_end(ap);
    long long n = v ? strtoll(v, NULL, 10) : 0;
    free(v);
    return n;
}

void su_sql_exec(PGconn *c, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    free(vsql(c, false, fmt, ap));
    va_end(ap);
}

int su_wait_sql(PGconn *c, int timeout_ms, const char *expect, const char *fmt, ...)
{
    char *q = NULL, *last = NULL;
    va_list ap;
    va_start(ap, fmt);
    if (vasprintf(&q, fmt, ap) < 0)
        test_fail(__FILE__, __LINE__, "out of memory");
    va_end(ap);
    for (int waited = 0;; waited += 100) {
        free(last);
        last = su_sql(c, "%s", q);
        if (last && strcmp(last, expect) == 0)
            break;
        if (waited >= timeout_ms)
            test_fail(__FILE__, __LINE__, "waited %d ms for %s to be '%s'; it is '%s'", timeout_ms, q,
                      expect, last ? last : "(null)");
        usleep(100000);
    }
    free(q);
    free(last);
    return 0;
}

char *su_read_file(const char *path)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        return NULL;
    size_t cap = 8192, len = 0;
    char *buf = malloc(cap);
    size_t n;
    while (buf && (n = fread(buf + len, 1, cap - len - 1, f)) > 0) {
        len += n;
        if (cap - len < 2) {
            char *grown = realloc(buf, cap *= 2);
            if (!grown)
                free(buf);
            buf = grown;
        }
    }
    fclose(f);
    if (buf)
        buf[len] = '\0';
    return buf;
}

int su_wait_file(const char *path, const char *needle, int timeout_ms)
{
    for (int waited = 0; waited <= timeout_ms; waited += 100) {
        char *text = su_read_file(path);
        bool found = text && strstr(text, needle);
        free(text);
        if (found)
            return 0;
        usleep(100000);
    }
    return -1;
}

cJSON *su_emu_get(struct su_emu *emu, const char *path)
{
    char url[1024];
    snprintf(url, sizeof url, "%s%s", emu->url, path);
    /* admin:district */
    const char *headers[] = {"Authorization: Basic YWRtaW46ZGlzdHJpY3Q=", NULL};
    struct spec_resp r;
    CHECKF(spec_http("GET", url, headers, NULL, 0, &r) == 0 && r.status == 200,
           "GET %s: expected 200, saw %ld: %.300s", url, r.status, r.body ? r.body : "");
    cJSON *j = spec_resp_json(&r);
    spec_resp_free(&r);
    CHECKF(j != NULL, "GET %s: not JSON", url);
    return j;
}

static void first_id(struct su_emu *emu, const char *path, char *out)
{
    cJSON *j = su_emu_get(emu, path);
    cJSON *list = j->child; /* the one collection in the answer besides pager */
    while (list && !cJSON_IsArray(list))
        list = list->next;
    const char *id = cJSON_GetStringValue(cJSON_GetObjectItem(cJSON_GetArrayItem(list, 0), "id"));
    CHECKF(id != NULL, "%s: no id in the answer", path);
    snprintf(out, 16, "%s", id);
    cJSON_Delete(j);
}

void su_emu_start(struct su_emu *emu, long values, long orgunits, unsigned long seed)
{
    memset(emu, 0, sizeof *emu);
    emu->port = spec_free_port();
    snprintf(emu->url, sizeof emu->url, "http://127.0.0.1:%d", emu->port);
    char *bin = spec_bin("dhis2-emulator"), port[16], gen[128], *dir = spec_test_dir("emu"), log[4200];
    snprintf(port, sizeof port, "%d", emu->port);
    snprintf(gen, sizeof gen, "values=%ld,orgunits=%ld,seed=%lu", values, orgunits, seed);
    snprintf(log, sizeof log, "%s/emulator.log", dir);
    char *argv[] = {bin, "--port", port, "--generate", gen, NULL};
    emu->pid = spec_spawn(argv, NULL, log);
    char ping[128];
    snprintf(ping, sizeof ping, "%s/emulator/faults", emu->url);
    CHECKF(spec_wait_status(ping, 200, 30000) == 0, "the emulator on port %d did not come up", emu->port);
    first_id(emu, "/api/dataSets?fields=id&filter=code:eq:DS_MONTHLY&paging=false", emu->ds_monthly);
    first_id(emu, "/api/dataSets?fields=id&filter=code:eq:DS_QUARTERLY&paging=false", emu->ds_quarterly);
    first_id(emu, "/api/organisationUnits?fields=id&filter=code:eq:OU_COUNTRY&paging=false", emu->root);
    free(bin);
    free(dir);
}

void su_emu_faults(struct su_emu *emu, const char *json)
{
    char url[128];
    snprintf(url, sizeof url, "%s/emulator/faults", emu->url);
    const char *headers[] = {"Content-Type: application/json", NULL};
    struct spec_resp r;
    CHECK(spec_http(json ? "POST" : "DELETE", url, headers, json, json ? strlen(json) : 0, &r) == 0);
    CHECKF(r.status / 100 == 2, "faults %s: %ld %s", json ? json : "DELETE", r.status, r.body);
    spec_resp_free(&r);
}

static int by_text(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

char *su_emu_values(struct su_emu *emu, const char *data_set, long *n_out)
{
    char path[512];
    snprintf(path, sizeof path,
             "/api/dataValueSets?dataSet=%s&orgUnit=%s&children=true&startDate=1900-01-01&endDate=2100-12-31",
             data_set, emu->root);
    cJSON *j = su_emu_get(emu, path);
    cJSON *values = cJSON_GetObjectItem(j, "dataValues");
    int n = cJSON_GetArraySize(values);
    char **lines = calloc((size_t)n + 1, sizeof *lines);
    size_t total = 1;
    int i = 0;
    cJSON *v;
    cJSON_ArrayForEach(v, values)
    {
        if (asprintf(&lines[i], "%s %s %s %s %s %s\n", su_str(v, "dataElement"), su_str(v, "period"),
                     su_str(v, "orgUnit"), su_str(v, "categoryOptionCombo"),
                     su_str(v, "attributeOptionCombo"), su_str(v, "value")) < 0)
            test_fail(__FILE__, __LINE__, "out of memory");
        total += strlen(lines[i++]);
    }
    qsort(lines, (size_t)n, sizeof *lines, by_text);
    char *out = malloc(total);
    out[0] = '\0';
    size_t len = 0;
    for (i = 0; i < n; i++) {
        size_t l = strlen(lines[i]);
        memcpy(out + len, lines[i], l + 1);
        len += l;
        free(lines[i]);
    }
    free(lines);
    cJSON_Delete(j);
    if (n_out)
        *n_out = n;
    return out;
}

void su_emu_stop(struct su_emu *emu)
{
    if (emu->pid > 0)
        spec_stop(emu->pid, 5000);
    emu->pid = 0;
}

void su_instance(struct spec_server *s, const char *name, const char *url)
{
    char body[512];
    snprintf(body, sizeof body,
             "{\"name\":\"%s\",\"url\":\"%s\",\"auth\":{\"type\":\"basic\",\"username\":\"admin\","
             "\"password\":\"district\"}}", name, url);
    cJSON_Delete(su_call(s, "POST", "/api/instances", body, 201));
}

static void link_repo(const char *dir, const char *name)
{
    char cwd[PATH_MAX], from[PATH_MAX * 2], to[PATH_MAX * 2];
    if (!getcwd(cwd, sizeof cwd))
        test_fail(__FILE__, __LINE__, "getcwd: %s", strerror(errno));
    snprintf(from, sizeof from, "%s/%s", cwd, name);
    snprintf(to, sizeof to, "%s/%s", dir, name);
    if (symlink(from, to) != 0 && errno != EEXIST)
        test_fail(__FILE__, __LINE__, "symlink %s: %s", to, strerror(errno));
}

void su_worker_start(struct su_worker *w, const char *db, char *const env[])
{
    memset(w, 0, sizeof *w);
    char *dir = spec_test_dir("worker");
    link_repo(dir, "db");
    link_repo(dir, "scripts");
    char mappings[PATH_MAX * 2];
    snprintf(mappings, sizeof mappings, "%s/mappings", dir);
    mkdir(mappings, 0755);
    snprintf(w->log_path, sizeof w->log_path, "%s/worker.log", dir);
    char *dburl = NULL, *all_env[24] = {NULL};
    if (asprintf(&dburl, "DATABASE_URL=%s", db) < 0)
        test_fail(__FILE__, __LINE__, "out of memory");
    int n = 0;
    all_env[n++] = dburl;
    all_env[n++] = "DHIS2SYNC_SECRET_KEY=spec-secret-key-0123456789";
    all_env[n++] = "DHIS2SYNC_LOG=debug";
    for (int i = 0; env && env[i] && n < 23; i++)
        all_env[n++] = env[i];
    char *bin = spec_bin("dhis2sync"), cwd[PATH_MAX];
    char *argv[] = {bin, "worker", NULL};
    if (!getcwd(cwd, sizeof cwd) || chdir(dir) != 0)
        test_fail(__FILE__, __LINE__, "chdir %s", dir);
    w->pid = spec_spawn(argv, all_env, w->log_path);
    if (chdir(cwd) != 0)
        test_fail(__FILE__, __LINE__, "chdir back");
    char host[256] = "localhost";
    gethostname(host, sizeof host - 1);
    snprintf(w->id, sizeof w->id, "%s:%d", host, (int)w->pid);
    CHECKF(su_wait_file(w->log_path, "running", 30000) == 0, "worker %d did not start:\n%s", (int)w->pid,
           su_read_file(w->log_path));
    free(bin);
    free(dburl);
    free(dir);
}

void su_worker_stop(struct su_worker *w)
{
    if (w->pid <= 0)
        return;
    int status = spec_stop(w->pid, 20000);
    w->pid = 0;
    if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
        char *log = su_read_file(w->log_path);
        size_t len = log ? strlen(log) : 0;
        test_fail(__FILE__, __LINE__, "dhis2sync worker did not shut down cleanly (status 0x%x):\n%s",
                  status, log ? log + (len > 6000 ? len - 6000 : 0) : "");
    }
}

void su_worker_kill(struct su_worker *w)
{
    if (w->pid <= 0)
        return;
    kill(w->pid, SIGKILL);
    waitpid(w->pid, NULL, 0);
    w->pid = 0;
}
