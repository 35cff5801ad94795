/* sync_bench.c — `make bench`: one table of what a data value sync costs on this machine.
 * For 100 k, 1 M and 10 M generated values (BENCH_MAX=N leaves out larger sizes; arguments give
 * other sizes) between two DHIS2 emulators, every sync into an empty target:
 *   - `dhis2sync run` without a mapping, and with a transforming one (every id through a lookup
 *     table, and a transform): wall time, values/s, CPU (user+sys of the dhis2sync process),
 *     peak RSS;
 *   - bench/reference_sync.py, the Python script an implementer writes, on the same job;
 *   - the floor: the GET dhis2sync makes and the POST bodies it sends (JSON as
 *     dhis2_datavalues_json writes it, uncompressed, prepared before the clock), by libcurl
 *     one request after the other with no processing; and those POSTs alone, the target's
 *     import time: the physical limit of this setup;
 *   - a second run of the (incremental) job with nothing changed at the source.
 * Then `/health` and `/api/jobs` (bearer token) requests/s of `dhis2sync serve` under
 * `wrk -c64 -t2 -d10s`. A row whose target did not end with every value says so.
 * The table goes to stdout, and as JSON to bench/results.json (BENCH_JSON=path) so that runs
 * can be compared. It prints figures; it asserts nothing. */
#include <cJSON.h>
#include <curl/curl.h>
#include <fcntl.h>
#include <libpq-fe.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/utsname.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "crypto.h"
#include "dhis2.h"
#include "instances.h"
#include "pgembed.h"

enum {
    BATCH = 5000,
    MAX_SIZES = 16,
    ROWS_PER_SIZE = 7,
    MAX_ROWS = MAX_SIZES * ROWS_PER_SIZE + 2,
    MAX_DATA_SETS = 8
};

/* One line of the table. n counts values (requests for the wrk rows). */
struct row {
    char what[64];
    long n;
    double wall_s;
    double cpu_s;           /* < 0: not measured */
    long rss_kb;            /* 0: not measured */
    const struct row *base; /* the dhis2sync row the ratios divide by, or NULL */
    char note[128];         /* what went wrong, or "" */
};

/* Ctrl-C or SIGTERM: what is running is ended, what is left is skipped, and the cluster, the
 * emulators and the temporary directory are cleaned up as at a normal end. */
static volatile sig_atomic_t stopping;

static void on_signal(int sig)
{
    (void)sig;
    stopping = 1;
}

static struct row rows[MAX_ROWS];
static int n_rows, n_printed;

static void rows_print(void);

/* A new row; the rows before it are complete, and are printed as the table grows. */
static struct row *row_add(const char *what, long n, const struct row *base)
{
    rows_print();
    struct row *r = &rows[n_rows++];
    memset(r, 0, sizeof *r);
    snprintf(r->what, sizeof r->what, "%s", what);
    r->n = n;
    r->cpu_s = -1;
    r->base = base;
    return r;
}

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

static double cpu_of(const struct rusage *ru)
{
    return (double)ru->ru_utime.tv_sec + (double)ru->ru_utime.tv_usec / 1e6 + (double)ru->ru_stime.tv_sec +
           (double)ru->ru_stime.tv_usec / 1e6;
}

/* This thread's CPU, for the libcurl floor that runs in the bench itself. */
static double thread_cpu_s(void)
{
    struct rusage ru;
    getrusage(RUSAGE_THREAD, &ru);
    return cpu_of(&ru);
}

/* A port nobody listens on now (the kernel's pick); other benches may run beside this one. */
static int free_port(void)
{
    int s = socket(AF_INET, SOCK_STREAM, 0), port = 0;
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t len = sizeof a;
    if (s >= 0 && bind(s, (struct sockaddr *)&a, sizeof a) == 0 &&
        getsockname(s, (struct sockaddr *)&a, &len) == 0)
        port = ntohs(a.sin_port);
    if (s >= 0)
        close(s);
    return port;
}

/* ---- processes ------------------------------------------------------------------------- */

/* Starts argv with stdout to out_path (NULL: /dev/null) and stderr to /dev/null. */
static pid_t spawn(char *const argv[], const char *out_path)
{
    pid_t pid = fork();
    if (pid == 0) {
        int out = open(out_path ? out_path : "/dev/null", O_WRONLY | O_CREAT | O_TRUNC, 0600);
        int null = open("/dev/null", O_WRONLY);
        if (out < 0 || null < 0)
            _exit(127);
        dup2(out, 1);
        dup2(null, 2);
        execvp(argv[0], argv);
        _exit(127);
    }
    return pid;
}

struct usage {
    int code; /* exit status, or -1 */
    double wall_s, cpu_s;
    long rss_kb;
};

/* Runs argv to its end (stdout to out_path, NULL: /dev/null). */
static struct usage run_to_end(char *const argv[], const char *out_path)
{
    struct usage u = {.code = -1};
    double t0 = now_s();
    pid_t pid = spawn(argv, out_path);
    int status = 0;
    struct rusage ru;
    if (pid > 0 && stopping)
        kill(pid, SIGTERM);
    while (pid > 0 && wait4(pid, &status, 0, &ru) < 0) {
        if (!stopping)
            return u;
        kill(pid, SIGTERM); /* the launcher was told to stop: so is what it runs */
    }
    if (pid < 0)
        return u;
    u.wall_s = now_s() - t0;
    u.cpu_s = cpu_of(&ru);
    u.rss_kb = ru.ru_maxrss;
    u.code = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
    return u;
}

static int read_all(int fd, void *buf, size_t n)
{
    for (size_t got = 0; got < n;) {
        ssize_t k = read(fd, (char *)buf + got, n - got);
        if (k <= 0)
            return -1;
        got += (size_t)k;
    }
    return 0;
}

/* The programs whose peak RSS is measured are started by a launcher forked at the start, while
 * this process is small: a forked child's peak RSS counts the pages of its parent, and Linux
 * keeps that figure across exec, so a child forked from the grown bench would report ours. */
static struct {
    pid_t pid;
    int to, from; /* requests: size_t len, then out_path and argv as NUL-ended strings */
} launcher = {-1, -1, -1};

enum { LAUNCH_MAX = 16384, LAUNCH_ARGS = 32 };

static void launcher_loop(int from, int to)
{
    static char buf[LAUNCH_MAX];
    size_t len;
    while (read_all(from, &len, sizeof len) == 0 && len <= sizeof buf && read_all(from, buf, len) == 0) {
        char *argv[LAUNCH_ARGS];
        int k = 0;
        for (char *p = buf + strlen(buf) + 1; p < buf + len && k < LAUNCH_ARGS - 1; p += strlen(p) + 1)
            argv[k++] = p;
        argv[k] = NULL;
        struct usage u = run_to_end(argv, buf[0] ? buf : NULL);
        if (write(to, &u, sizeof u) != (ssize_t)sizeof u)
            break;
    }
    _exit(0);
}

static int launcher_start(void)
{
    int req[2], ans[2];
    if (pipe(req) != 0)
        return -1;
    if (pipe(ans) != 0 || (launcher.pid = fork()) < 0) {
        close(req[0]);
        close(req[1]);
        return -1;
    }
    if (launcher.pid == 0) {
        close(req[1]);
        close(ans[0]);
        launcher_loop(req[0], ans[1]);
    }
    close(req[0]);
    close(ans[1]);
    launcher.to = req[1];
    launcher.from = ans[0];
    return 0;
}

static void launcher_stop(void)
{
    if (launcher.pid > 0) {
        if (stopping)
            kill(launcher.pid, SIGTERM); /* it ends what it runs */
        close(launcher.to);              /* its read ends, and so does it */
        close(launcher.from);
        waitpid(launcher.pid, NULL, 0);
    }
}

/* Runs argv to its end through the launcher and fills r's wall time, CPU and peak RSS; the
 * exit status, or -1. */
static int measure(char *const argv[], const char *out_path, struct row *r)
{
    char buf[LAUNCH_MAX];
    size_t len = (size_t)snprintf(buf, sizeof buf, "%s", out_path ? out_path : "") + 1;
    for (int i = 0; argv[i] && len < sizeof buf; i++)
        len += (size_t)snprintf(buf + len, sizeof buf - len, "%s", argv[i]) + 1;
    struct usage u = {.code = -1};
    if (stopping || len > sizeof buf || write(launcher.to, &len, sizeof len) != (ssize_t)sizeof len ||
        write(launcher.to, buf, len) != (ssize_t)len || read_all(launcher.from, &u, sizeof u) != 0)
        return -1;
    r->wall_s = u.wall_s;
    r->cpu_s = u.cpu_s;
    r->rss_kb = u.rss_kb;
    return u.code;
}

static void stop(pid_t pid)
{
    if (pid > 0) {
        kill(pid, SIGTERM);
        waitpid(pid, NULL, 0);
    }
}

/* ---- HTTP by libcurl ------------------------------------------------------------------- */

struct body {
    char *p;
    size_t len;
};

static size_t keep(char *p, size_t size, size_t n, void *ud)
{
    struct body *b = ud;
    char *grown = realloc(b->p, b->len + size * n + 1);
    if (!grown)
        return 0;
    b->p = grown;
    memcpy(b->p + b->len, p, size * n);
    b->len += size * n;
    b->p[b->len] = '\0';
    return size * n;
}

/* The floor reads answers and keeps nothing. */
static size_t drop(char *p, size_t size, size_t n, void *ud)
{
    (void)p;
    (void)ud;
    return size * n;
}

/* One request on handle c (reused, so the connection is kept alive as dhis2sync keeps it).
 * out NULL: the answer is dropped. Returns the HTTP status, 0 when there was none. */
static long http(CURL *c, const char *url, const char *body, size_t len, struct body *out)
{
    struct curl_slist *h = curl_slist_append(NULL, "Content-Type: application/json");
    struct curl_slist *h2 = h ? curl_slist_append(h, "Expect:") : NULL;
    long status = 0;
    if (!h2) {
        curl_slist_free_all(h);
        return 0;
    }
    curl_easy_reset(c);
    curl_easy_setopt(c, CURLOPT_URL, url);
    curl_easy_setopt(c, CURLOPT_USERPWD, "admin:district");
    curl_easy_setopt(c, CURLOPT_HTTPHEADER, h2);
    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, out ? keep : drop);
    curl_easy_setopt(c, CURLOPT_WRITEDATA, out);
    if (body) {
        curl_easy_setopt(c, CURLOPT_POSTFIELDS, body);
        curl_easy_setopt(c, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)len);
    }
    if (curl_easy_perform(c) == CURLE_OK)
        curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &status);
    curl_slist_free_all(h2);
    return status;
}

/* ---- emulators ------------------------------------------------------------------------- */

struct emulator {
    pid_t pid;
    int port;
    char url[64];
};

/* The emulator's own count of live values, -1 when it does not answer. */
static long emulator_live(CURL *c, const struct emulator *em)
{
    char url[128];
    snprintf(url, sizeof url, "%s/emulator/state", em->url);
    struct body b = {0};
    long live = -1;
    if (http(c, url, NULL, 0, &b) == 200) {
        cJSON *st = cJSON_Parse(b.p);
        cJSON *l = cJSON_GetObjectItem(st, "live");
        live = cJSON_IsNumber(l) ? (long)l->valuedouble : -1;
        cJSON_Delete(st);
    }
    free(b.p);
    return live;
}

/* An emulator generated with values=n (0: the empty twin of any size's source). */
static int emulator_start(CURL *c, long n, struct emulator *em)
{
    char gen[96], port[16], bin[256];
    if (stopping)
        return -1;
    em->port = free_port();
    snprintf(port, sizeof port, "%d", em->port);
    snprintf(gen, sizeof gen, "values=%ld,orgunits=2000,seed=7", n);
    snprintf(bin, sizeof bin, "%s/dhis2-emulator", build_dir());
    snprintf(em->url, sizeof em->url, "http://127.0.0.1:%d", em->port);
    char *argv[] = {bin, "--port", port, "--generate", gen, NULL};
    em->pid = spawn(argv, NULL);
    for (int i = 0; i < 1200 && em->pid > 0; i++) {
        if (emulator_live(c, em) >= 0)
            return 0;
        if (waitpid(em->pid, NULL, WNOHANG) == em->pid)
            break;
        usleep(100000);
    }
    fprintf(stderr, "sync_bench: the emulator (%s) did not start\n", bin);
    return -1;
}

/* A fresh empty target for each sync, so every row imports new values. */
static int target_renew(CURL *c, struct emulator *dst)
{
    stop(dst->pid);
    return emulator_start(c, 0, dst);
}

/* Notes on r when the target does not hold every value. */
static void check_target(CURL *c, const struct emulator *dst, struct row *r, int exit_code)
{
    long live = emulator_live(c, dst);
    size_t used = strlen(r->note);
    if (exit_code != 0)
        used += (size_t)snprintf(r->note + used, sizeof r->note - used, "exit %d; ", exit_code);
    if (live != r->n && used < sizeof r->note)
        snprintf(r->note + used, sizeof r->note - used, "target holds %ld of %ld", live, r->n);
}

/* Adds the error of a failed `dhis2sync run --json` (its stdout in path) to r's note. */
static void note_run_error(const char *path, struct row *r)
{
    char text[65536];
    FILE *f = fopen(path, "r");
    size_t len = f ? fread(text, 1, sizeof text - 1, f) : 0, used = strlen(r->note);
    if (f)
        fclose(f);
    text[len] = '\0';
    cJSON *run = cJSON_Parse(text);
    const char *error = cJSON_GetStringValue(cJSON_GetObjectItem(run, "error"));
    if (error && used < sizeof r->note)
        snprintf(r->note + used, sizeof r->note - used, "; %s", error);
    cJSON_Delete(run);
}

/* ---- the source: what the job selects, the mapping, the floor's bodies ------------------- */

struct source {
    char root[16];
    cJSON *data_sets;   /* ["id", …] */
    cJSON *tables;      /* {"dataElements":{id:id}, "categoryOptionCombos", "orgUnits"} */
    char weight_de[16]; /* the NUMBER data element the transform converts from kg to g */
    int first_year, last_year;
    char start[16], end[16]; /* the job's window: the years that hold values */
};

static void source_free(struct source *s)
{
    cJSON_Delete(s->data_sets);
    cJSON_Delete(s->tables);
}

/* Every id of a metadata list into table (id -> id: the target is the source's twin). */
static int table_of(struct dhis2_client *c, const char *kind, const char *fields, cJSON *tables,
                    const char *name, struct source *s, struct err *e)
{
    char path[64], query[128];
    snprintf(path, sizeof path, "/api/%s", kind);
    snprintf(query, sizeof query, "fields=%s&paging=false", fields);
    cJSON *list = NULL, *item;
    int rc = dhis2_get(c, path, query, &list, e);
    cJSON *table = rc ? NULL : cJSON_AddObjectToObject(tables, name);
    if (rc == 0 && !table)
        rc = err_set(e, ERR_INTERNAL, "out of memory");
    cJSON *items = table ? cJSON_GetObjectItem(list, kind) : NULL;
    cJSON_ArrayForEach(item, items) {
        const char *id = cJSON_GetStringValue(cJSON_GetObjectItem(item, "id"));
        const char *code = cJSON_GetStringValue(cJSON_GetObjectItem(item, "code"));
        cJSON *level = cJSON_GetObjectItem(item, "level");
        if (!id)
            continue;
        if (!cJSON_AddStringToObject(table, id, id))
            rc = err_set(e, ERR_INTERNAL, "out of memory");
        if (code && !strcmp(code, "DE_WEIGHT"))
            snprintf(s->weight_de, sizeof s->weight_de, "%s", id);
        if (cJSON_IsNumber(level) && level->valueint == 1)
            snprintf(s->root, sizeof s->root, "%s", id);
    }
    cJSON_Delete(list);
    return rc;
}

static int source_read(struct dhis2_client *c, struct source *s, struct err *e)
{
    cJSON *ds = NULL, *item;
    int rc = dhis2_get(c, "/api/dataSets", "fields=id&paging=false", &ds, e);
    if (rc == 0 && (!(s->data_sets = cJSON_CreateArray()) || !(s->tables = cJSON_CreateObject())))
        rc = err_set(e, ERR_INTERNAL, "out of memory");
    cJSON *items = rc ? NULL : cJSON_GetObjectItem(ds, "dataSets");
    cJSON_ArrayForEach(item, items) {
        if (!cJSON_AddItemToArray(s->data_sets,
                                  cJSON_CreateString(cJSON_GetStringValue(cJSON_GetObjectItem(item, "id")))))
            rc = err_set(e, ERR_INTERNAL, "out of memory");
    }
    cJSON_Delete(ds);
    if (rc == 0)
        rc = table_of(c, "dataElements", "id,code", s->tables, "dataElements", s, e);
    if (rc == 0)
        rc = table_of(c, "categoryOptionCombos", "id", s->tables, "categoryOptionCombos", s, e);
    if (rc == 0)
        rc = table_of(c, "organisationUnits", "id,level", s->tables, "orgUnits", s, e);
    if (rc == 0 && (!s->root[0] || !s->weight_de[0] || cJSON_GetArraySize(s->data_sets) == 0))
        rc = err_set(e, ERR_INPUT, "the source has no root org unit, DE_WEIGHT or data set");
    return rc;
}

/* The bodies dhis2sync would post, one after the other in a file: (size_t len, bytes). */
struct bodies {
    FILE *f;
    struct source *s;
};

static int body_out(void *ud, const struct datavalue *vals, size_t n, struct err *e)
{
    struct bodies *b = ud;
    size_t len = 0;
    char *json = dhis2_datavalues_json(vals, n, &len);
    int rc = 0;
    if (!json || fwrite(&len, sizeof len, 1, b->f) != 1 || fwrite(json, 1, len, b->f) != len)
        rc = err_set(e, ERR_INTERNAL, "writing the floor's bodies failed");
    free(json);
    for (size_t i = 0; i < n; i++) {
        int year = 0;
        sscanf(vals[i].period, "%4d", &year); /* ISO periods start with their year */
        if (!b->s->first_year || year < b->s->first_year)
            b->s->first_year = year;
        if (year > b->s->last_year)
            b->s->last_year = year;
    }
    return rc;
}

/* One untimed pass over everything at the source: the floor's POST bodies, and the span of
 * years the job's window (and the Python script's chunks) then covers. */
static int source_bodies(struct dhis2_client *c, struct source *s, const char *path, struct err *e)
{
    const char **ds = calloc((size_t)cJSON_GetArraySize(s->data_sets) + 1, sizeof *ds);
    const char *roots[] = {s->root, NULL};
    struct bodies b = {.f = fopen(path, "wb"), .s = s};
    int rc = 0, i = 0;
    cJSON *item;
    if (!ds || !b.f)
        rc = err_set(e, ERR_INTERNAL, "cannot prepare the floor's bodies in %s", path);
    cJSON *items = rc ? NULL : s->data_sets;
    cJSON_ArrayForEach(item, items)
        ds[i++] = item->valuestring;
    struct dhis2_dv_query q = {.data_sets = ds,
                               .org_units = roots,
                               .children = true,
                               .start_date = "1900-01-01",
                               .end_date = "2100-12-31",
                               .batch = BATCH};
    if (rc == 0)
        rc = dhis2_fetch_datavalues(c, &q, body_out, &b, NULL, e);
    if (b.f && fclose(b.f) != 0 && rc == 0)
        rc = err_set(e, ERR_INTERNAL, "writing %s failed", path);
    free(ds);
    snprintf(s->start, sizeof s->start, "%04d-01-01", s->first_year);
    snprintf(s->end, sizeof s->end, "%04d-12-31", s->last_year);
    return rc;
}

/* The job's GET, as a URL: all data sets, the root with children, the window. */
static void dv_url(const struct emulator *src, const struct source *s, char *url, size_t size)
{
    size_t len = (size_t)snprintf(url, size, "%s/api/dataValueSets?", src->url);
    cJSON *item;
    cJSON_ArrayForEach(item, s->data_sets)
        len += (size_t)snprintf(url + len, len < size ? size - len : 0, "dataSet=%s&", item->valuestring);
    snprintf(url + len, len < size ? size - len : 0, "orgUnit=%s&children=true&startDate=%s&endDate=%s",
             s->root, s->start, s->end);
}

/* The mapping as dhis2sync reads it (Lua) and as the Python script reads it (JSON). */
static int write_mappings(const struct source *s, const char *lua_path, const char *json_path)
{
    FILE *lua = fopen(lua_path, "w"), *json = fopen(json_path, "w");
    cJSON *m = cJSON_Duplicate(s->tables, 1), *kg = cJSON_AddArrayToObject(m, "gramsFromKilograms"), *table,
          *pair;
    char *text = NULL;
    int rc = -1;
    if (!lua || !json || !kg || !cJSON_AddItemToArray(kg, cJSON_CreateString(s->weight_de)) ||
        !(text = cJSON_PrintUnformatted(m)) || fputs(text, json) < 0)
        goto out;
    fprintf(lua,
            "-- bench_transform (written by bench/sync_bench.c): every id through a table (onto\n"
            "-- itself: the target is the source's twin), birth weights from kg to g.\n"
            "local KG = { [\"%s\"] = true }\nreturn {\n",
            s->weight_de);
    cJSON_ArrayForEach(table, s->tables) {
        fprintf(lua, "  %s = {\n", table->string);
        cJSON_ArrayForEach(pair, table)
            fprintf(lua, "    [\"%s\"] = \"%s\",\n", pair->string, pair->valuestring);
        fprintf(lua, "  },\n");
    }
    fprintf(lua, "  transform = function(dv)\n"
                 "    if KG[dv.dataElement] and dv.value then\n"
                 "      dv.value = string.format(\"%%d\", math.floor(tonumber(dv.value) * 1000 + 0.5))\n"
                 "    end\n"
                 "    return dv\n"
                 "  end,\n}\n");
    rc = ferror(lua) ? -1 : 0;
out:
    if (lua && fclose(lua) != 0)
        rc = -1;
    if (json && fclose(json) != 0)
        rc = -1;
    free(text);
    cJSON_Delete(m);
    return rc;
}

/* ---- the jobs -------------------------------------------------------------------------- */

static int exec_sql(PGconn *c, const char *sql, int n, const char *const *params)
{
    PGresult *r = PQexecParams(c, sql, n, NULL, params, NULL, NULL, 0);
    int ok = PQresultStatus(r) == PGRES_COMMAND_OK || PQresultStatus(r) == PGRES_TUPLES_OK;
    if (!ok)
        fprintf(stderr, "sync_bench: sql: %s", PQresultErrorMessage(r));
    PQclear(r);
    return ok ? 0 : -1;
}

/* The source, and a target instance for each target port; the job `job` (incremental) and
 * `job`-transform with the bench mapping. Instances point at the target's port of the moment:
 * it is updated when the target is renewed. */
static int jobs_store(PGconn *c, const char *sealed, const struct emulator *src, const struct source *s,
                      const char *job)
{
    cJSON *spec = cJSON_CreateObject(), *periods, *opts;
    char *plain = NULL, *incremental = NULL;
    int rc = -1;
    if (!spec || !cJSON_AddItemReferenceToObject(spec, "dataSets", s->data_sets) ||
        !cJSON_AddArrayToObject(spec, "dataElementGroups") ||
        !cJSON_AddItemToObject(spec, "orgUnits",
                               cJSON_CreateStringArray((const char *const[]){s->root}, 1)) ||
        !cJSON_AddTrueToObject(spec, "children") || !(periods = cJSON_AddObjectToObject(spec, "periods")) ||
        !cJSON_AddStringToObject(periods, "start", s->start) ||
        !cJSON_AddStringToObject(periods, "end", s->end) ||
        !(opts = cJSON_AddObjectToObject(spec, "importOptions")) ||
        !cJSON_AddStringToObject(opts, "importStrategy", "CREATE_AND_UPDATE") ||
        !cJSON_AddNumberToObject(opts, "batchSize", BATCH) || !(plain = cJSON_PrintUnformatted(spec)) ||
        !cJSON_AddTrueToObject(spec, "incremental") || !(incremental = cJSON_PrintUnformatted(spec)))
        goto out;
    const char *p1[] = {src->url, sealed, job};
    const char *p2[] = {job, incremental, plain};
    rc = exec_sql(c, "DELETE FROM runs", 0, NULL) || exec_sql(c, "DELETE FROM jobs", 0, NULL) ||
                 exec_sql(c, "DELETE FROM instances", 0, NULL) ||
                 exec_sql(
                     c,
                     "INSERT INTO instances (name, url, auth_type, username, secret) VALUES"
                     " ('src-' || $3, $1, 'basic', 'admin', $2), ('dst-' || $3, $1, 'basic', 'admin', $2)",
                     3, p1) ||
                 exec_sql(c,
                          "INSERT INTO jobs (name, source_id, target_id, mapping, spec)"
                          " SELECT $1 || suffix, (SELECT id FROM instances WHERE name = 'src-' || $1),"
                          " (SELECT id FROM instances WHERE name = 'dst-' || $1), mapping, spec::jsonb"
                          " FROM (VALUES ('', NULL, $2), ('-transform', 'bench_transform', $3))"
                          " AS j(suffix, mapping, spec)",
                          3, p2)
             ? -1
             : 0;
out:
    free(plain);
    free(incremental);
    cJSON_Delete(spec);
    return rc;
}

static int target_point(PGconn *c, const struct emulator *dst, const char *job)
{
    const char *p[] = {dst->url, job};
    return exec_sql(c, "UPDATE instances SET url = $1 WHERE name = 'dst-' || $2", 2, p);
}

/* ---- the rows of one size -------------------------------------------------------------- */

struct size_ctx {
    long n;
    CURL *curl;
    PGconn *db;
    struct emulator src, dst;
    struct source s;
    const char *dir, *job;
};

static struct row *sync_row(struct size_ctx *x, const char *what, const char *job, const struct row *base,
                            int renew)
{
    char bin[256], out[256];
    snprintf(bin, sizeof bin, "%s/dhis2sync", build_dir());
    snprintf(out, sizeof out, "%s/run.json", x->dir);
    struct row *r = row_add(what, x->n, base);
    if (renew && (target_renew(x->curl, &x->dst) || target_point(x->db, &x->dst, x->job))) {
        snprintf(r->note, sizeof r->note, "no target");
        return r;
    }
    char *argv[] = {bin, "run", (char *)job, "--json", NULL};
    int code = measure(argv, out, r);
    check_target(x->curl, &x->dst, r, code);
    if (code != 0)
        note_run_error(out, r);
    return r;
}

static struct row *python_row(struct size_ctx *x, const char *what, const char *mapping,
                              const struct row *base)
{
    char out[256];
    snprintf(out, sizeof out, "%s/python.json", x->dir);
    struct row *r = row_add(what, x->n, base);
    if (target_renew(x->curl, &x->dst)) {
        snprintf(r->note, sizeof r->note, "no target");
        return r;
    }
    char *argv[12 + 2 * MAX_DATA_SETS + 3] = {"python3",  "bench/reference_sync.py",
                                              x->src.url, x->dst.url,
                                              "--auth",   "admin:district",
                                              "--root",   x->s.root,
                                              "--start",  x->s.start,
                                              "--end",    x->s.end};
    int k = 12;
    cJSON *ds;
    cJSON_ArrayForEach(ds, x->s.data_sets)
        if (k < 12 + 2 * MAX_DATA_SETS) {
            argv[k++] = "--data-set";
            argv[k++] = ds->valuestring;
        }
    if (mapping) {
        argv[k++] = "--mapping";
        argv[k++] = (char *)mapping;
    }
    argv[k] = NULL;
    check_target(x->curl, &x->dst, r, measure(argv, out, r));
    return r;
}

/* The floor (the job's GET, then the prepared bodies POSTed) and the POSTs alone. */
static void floor_rows(struct size_ctx *x, const char *bodies_path, const struct row *base)
{
    char url[1024], note[64] = "";
    FILE *f = NULL;
    char *body = NULL;
    double get_s = 0, get_cpu = 0, post_s = 0, post_cpu = 0;
    long bad = 0;
    int renewed = target_renew(x->curl, &x->dst);
    if (renewed == 0) {
        dv_url(&x->src, &x->s, url, sizeof url);
        double c0 = thread_cpu_s(), t0 = now_s();
        long st = http(x->curl, url, NULL, 0, NULL);
        get_s = now_s() - t0;
        get_cpu = thread_cpu_s() - c0;
        if (st != 200)
            snprintf(note, sizeof note, "GET: HTTP %ld", st);
        snprintf(url, sizeof url, "%s/api/dataValueSets", x->dst.url);
        f = fopen(bodies_path, "rb");
    }
    size_t len;
    while (!stopping && f && fread(&len, sizeof len, 1, f) == 1) {
        char *grown = realloc(body, len);
        if (!grown)
            break;
        body = grown;
        if (fread(body, 1, len, f) != len)
            break;
        double c0 = thread_cpu_s(), t0 = now_s();
        bad += http(x->curl, url, body, len, NULL) != 200;
        post_s += now_s() - t0;
        post_cpu += thread_cpu_s() - c0;
    }
    if (f)
        fclose(f);
    free(body);
    struct row *fl = row_add("curl floor: the same GET, then POSTs", x->n, base);
    fl->wall_s = get_s + post_s;
    fl->cpu_s = get_cpu + post_cpu;
    snprintf(fl->note, sizeof fl->note, "%s", renewed ? "no target" : note);
    struct row *imp = row_add("  target's import alone (the POSTs)", x->n, base);
    imp->wall_s = post_s;
    imp->cpu_s = post_cpu;
    if (bad)
        snprintf(imp->note, sizeof imp->note, "%ld POSTs not answered 200; ", bad);
    if (renewed == 0)
        check_target(x->curl, &x->dst, imp, 0);
}

/* All rows of one size. */
static int bench_size(long n, PGconn *db, const char *sealed, const char *dir, CURL *curl)
{
    struct size_ctx x = {.n = n, .curl = curl, .db = db, .dir = dir, .job = "bench"};
    char bodies[256], lua[256], json[256];
    snprintf(bodies, sizeof bodies, "%s/bodies", dir);
    snprintf(lua, sizeof lua, "%s/mappings/bench_transform.lua", dir);
    snprintf(json, sizeof json, "%s/bench_transform.json", dir);
    struct err e = {0};
    int rc = emulator_start(curl, n, &x.src);
    struct dhis2_config cfg = {.name = "source",
                               .base_url = x.src.url,
                               .auth_type = "basic",
                               .username = "admin",
                               .secret = "district"};
    struct dhis2_client *c = rc ? NULL : dhis2_client_new(&cfg, &e);
    if (!c || source_read(c, &x.s, &e) || source_bodies(c, &x.s, bodies, &e) ||
        write_mappings(&x.s, lua, json) || jobs_store(db, sealed, &x.src, &x.s, x.job)) {
        fprintf(stderr, "sync_bench: %ld values: %s\n", n, e.msg[0] ? e.msg : "setting up failed");
        rc = -1;
        goto out;
    }
    const struct row *plain = sync_row(&x, "dhis2sync run, no mapping", "bench", NULL, 1);
    sync_row(&x, "  again, incremental, nothing changed", "bench", plain, 0)->n = 0;
    python_row(&x, "  python reference, no mapping", NULL, plain);
    const struct row *mapped = sync_row(&x, "dhis2sync run, transform", "bench-transform", NULL, 1);
    python_row(&x, "  python reference, transform", json, mapped);
    floor_rows(&x, bodies, plain);
out:
    dhis2_client_free(c);
    source_free(&x.s);
    unlink(bodies);
    stop(x.src.pid);
    stop(x.dst.pid);
    return rc;
}

/* ---- the HTTP server under wrk --------------------------------------------------------- */

/* utime + stime of a live process, from /proc. */
static double proc_cpu_s(pid_t pid)
{
    char path[64], text[1024];
    snprintf(path, sizeof path, "/proc/%d/stat", (int)pid);
    FILE *f = fopen(path, "r");
    size_t len = f ? fread(text, 1, sizeof text - 1, f) : 0;
    if (f)
        fclose(f);
    text[len] = '\0';
    char *p = strrchr(text, ')'); /* the name may hold spaces; the fields follow it */
    unsigned long long ut = 0, stime = 0;
    if (!p || sscanf(p + 2, "%*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %llu %llu", &ut, &stime) != 2)
        return -1;
    return (double)(ut + stime) / (double)sysconf(_SC_CLK_TCK);
}

static long proc_hwm_kb(pid_t pid)
{
    char path[64], line[256];
    long kb = 0;
    snprintf(path, sizeof path, "/proc/%d/status", (int)pid);
    FILE *f = fopen(path, "r");
    while (f && fgets(line, sizeof line, f))
        if (sscanf(line, "VmHWM: %ld", &kb) == 1)
            break;
    if (f)
        fclose(f);
    return kb;
}

static void wrk_row(pid_t serve, const char *what, const char *url, const char *header)
{
    struct row *r = row_add(what, 0, NULL);
    char cmd[1024], line[512];
    int secs = getenv("BENCH_WRK_S") ? atoi(getenv("BENCH_WRK_S")) : 0; /* 1 in the suite */
    snprintf(cmd, sizeof cmd, "wrk -c64 -t2 -d%ds %s%s%s '%s' 2>&1", secs > 0 ? secs : 10,
             header ? "-H '" : "", header ? header : "", header ? "'" : "", url);
    double c0 = proc_cpu_s(serve), t0 = now_s();
    FILE *p = popen(cmd, "r");
    long non2xx = 0, errors = 0;
    while (p && fgets(line, sizeof line, p)) {
        long a, b, c2, d;
        sscanf(line, " %ld requests in", &r->n);
        sscanf(line, " Non-2xx or 3xx responses: %ld", &non2xx);
        if (sscanf(line, " Socket errors: connect %ld, read %ld, write %ld, timeout %ld", &a, &b, &c2, &d) ==
            4)
            errors = a + b + c2 + d;
    }
    int status = p ? pclose(p) : -1;
    r->wall_s = now_s() - t0;
    r->cpu_s = proc_cpu_s(serve) - c0;
    r->rss_kb = proc_hwm_kb(serve);
    if (status != 0 || r->n == 0)
        snprintf(r->note, sizeof r->note, "wrk did not run (apt-get install wrk)");
    else if (non2xx || errors)
        snprintf(r->note, sizeof r->note, "%ld answers not 2xx, %ld socket errors", non2xx, errors);
}

static void bench_http(CURL *curl, const char *dir)
{
    char bin[256], port[16], url[128], token_path[256], token[256] = "", header[300];
    snprintf(bin, sizeof bin, "%s/dhis2sync", build_dir());
    snprintf(token_path, sizeof token_path, "%s/token", dir);
    char *add[] = {bin, "token", "add", "bench", NULL};
    struct row scratch;
    FILE *f = measure(add, token_path, &scratch) == 0 ? fopen(token_path, "r") : NULL;
    if (f && fgets(token, sizeof token, f))
        token[strcspn(token, "\r\n")] = '\0';
    if (f)
        fclose(f);
    snprintf(port, sizeof port, "%d", free_port());
    setenv("DHIS2SYNC_PORT", port, 1);
    char *argv[] = {bin, "serve", NULL};
    pid_t serve = spawn(argv, NULL);
    snprintf(url, sizeof url, "http://127.0.0.1:%s/health", port);
    for (int i = 0; i < 300 && http(curl, url, NULL, 0, NULL) != 200; i++)
        usleep(100000);
    wrk_row(serve, "wrk /health, 64 connections", url, NULL);
    snprintf(url, sizeof url, "http://127.0.0.1:%s/api/jobs", port);
    snprintf(header, sizeof header, "Authorization: Bearer %s", token);
    wrk_row(serve, "wrk /api/jobs (bearer), 64 connections", url, header);
    stop(serve);
}

/* ---- the table ------------------------------------------------------------------------- */

static double ratio(double a, double b)
{
    return a > 0 && b > 0 ? a / b : -1;
}

static void cell(char *out, size_t size, const char *fmt, double v)
{
    if (v < 0)
        snprintf(out, size, "-");
    else
        snprintf(out, size, fmt, v);
}

/* Fills the printable cells of r: n, wall s, CPU s, n/s, CPU µs/n, RSS MB, wall ×, CPU ×. */
static void cells(const struct row *r, char c[8][24])
{
    double per_s = r->n > 0 && r->wall_s > 0 ? r->n / r->wall_s : -1,
           us = r->n > 0 && r->cpu_s >= 0 ? r->cpu_s * 1e6 / r->n : -1;
    cell(c[0], 24, "%.0f", r->n > 0 ? (double)r->n : -1);
    cell(c[1], 24, "%.2f", r->wall_s);
    cell(c[2], 24, "%.2f", r->cpu_s);
    cell(c[3], 24, "%.0f", per_s);
    cell(c[4], 24, "%.2f", us);
    cell(c[5], 24, "%.1f", r->rss_kb ? r->rss_kb / 1024.0 : -1);
    cell(c[6], 24, "%.2f", r->base ? ratio(r->wall_s, r->base->wall_s) : -1);
    cell(c[7], 24, "%.2f", r->base ? ratio(r->cpu_s, r->base->cpu_s) : -1);
}

static void machine(char *out, size_t size)
{
    char line[256], model[128] = "?";
    FILE *f = fopen("/proc/cpuinfo", "r");
    while (f && fgets(line, sizeof line, f))
        if (sscanf(line, "model name : %127[^\n]", model) == 1)
            break;
    if (f)
        fclose(f);
    double load[3] = {0};
    getloadavg(load, 3);
    struct utsname u;
    uname(&u);
    snprintf(out, size, "%ld cores (%s), %.0f GB, Linux %s, load average %.1f at the start",
             sysconf(_SC_NPROCESSORS_ONLN), model,
             (double)sysconf(_SC_PHYS_PAGES) * (double)sysconf(_SC_PAGESIZE) / 1e9, u.release, load[0]);
}

static void table_head(const char *date, const char *where)
{
    printf("make bench, %s, %s\n", date, where);
    printf("%-42s %9s %8s %8s %9s %10s %9s %8s %8s  %s\n", "case", "n", "wall s", "CPU s", "n/s", "CPU µs/n",
           "RSS MB", "wall ×", "CPU ×", "");
    fflush(stdout);
}

static void rows_print(void)
{
    if (stopping) /* the row under way was cut short */
        n_rows = n_printed;
    for (; n_printed < n_rows; n_printed++) {
        const struct row *r = &rows[n_printed];
        char c[8][24];
        cells(r, c);
        printf("%-42s %9s %8s %8s %9s %9s %9s %7s %7s  %s\n", r->what, c[0], c[1], c[2], c[3], c[4], c[5],
               c[6], c[7], r->note);
    }
    fflush(stdout);
}

static void table_foot(void)
{
    rows_print();
    double load[3] = {0};
    getloadavg(load, 3);
    printf("load average %.1f at the end: a figure measured beside other work is slower in wall time\n",
           load[0]);
    printf(
        "n: values synced (requests, for wrk); CPU: user+sys of the dhis2sync process (run or serve),\n"
        "of python3, or of the bench's own libcurl calls (floor); RSS: peak resident set of that process.\n"
        "wall × and CPU ×: the row's figure divided by that of the dhis2sync run it is indented under\n"
        "(python 6.0 = the script took six times as long; floor 1.5 = dhis2sync beat moving the bytes).\n");
}

static int write_json(const char *path, const char *date, const char *where)
{
    cJSON *doc = cJSON_CreateObject(), *arr = cJSON_AddArrayToObject(doc, "rows");
    cJSON_AddStringToObject(doc, "date", date);
    cJSON_AddStringToObject(doc, "machine", where);
    static const char *keys[] = {"n",           "wall_s",     "cpu_s",    "per_s", "cpu_us_per_n",
                                 "peak_rss_mb", "wall_ratio", "cpu_ratio"};
    for (int i = 0; i < n_rows && arr; i++) {
        char c[8][24];
        cells(&rows[i], c);
        cJSON *o = cJSON_CreateObject();
        cJSON_AddItemToArray(arr, o);
        cJSON_AddStringToObject(o, "case", rows[i].what + strspn(rows[i].what, " "));
        for (int k = 0; k < 8; k++)
            if (strcmp(c[k], "-"))
                cJSON_AddNumberToObject(o, keys[k], atof(c[k]));
        if (rows[i].note[0])
            cJSON_AddStringToObject(o, "note", rows[i].note);
    }
    char *text = cJSON_Print(doc);
    FILE *f = text ? fopen(path, "w") : NULL;
    int rc = f && fputs(text, f) >= 0 && fputc('\n', f) != EOF ? 0 : -1;
    if (f && fclose(f) != 0)
        rc = -1;
    free(text);
    cJSON_Delete(doc);
    return rc;
}

int main(int argc, char **argv)
{
    static const long all[] = {100000, 1000000, 10000000};
    const char *max_text = getenv("BENCH_MAX");
    long max = max_text && *max_text ? atol(max_text) : 10000000, sizes[MAX_SIZES];
    int n_sizes = 0;
    for (int i = 1; i < argc && n_sizes < MAX_SIZES; i++)
        sizes[n_sizes++] = atol(argv[i]);
    for (int i = 0; argc == 1 && i < 3; i++)
        if (all[i] <= max)
            sizes[n_sizes++] = all[i];
    if (n_sizes == 0)
        sizes[n_sizes++] = max;

    curl_global_init(CURL_GLOBAL_ALL);
    signal(SIGPIPE, SIG_IGN);
    struct sigaction sa = {.sa_handler = on_signal}; /* no SA_RESTART: a blocked wait ends */
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);
    char dir[] = "/tmp/dhis2sync-bench-XXXXXX", sub[128], date[32], where[256];
    if (!mkdtemp(dir)) {
        perror("mkdtemp");
        return 1;
    }
    chmod(dir, 0755);
    time_t now = time(NULL);
    strftime(date, sizeof date, "%Y-%m-%d %H:%M UTC", gmtime(&now));
    machine(where, sizeof where);
    snprintf(sub, sizeof sub, "%s/mappings", dir);
    mkdir(sub, 0755);
    setenv("DHIS2SYNC_MAPPINGS", sub, 1);
    snprintf(sub, sizeof sub, "%s/pg", dir);
    struct pgembed pg;
    struct err e = {0};
    if (pgembed_init(&pg, sub, &e) || pgembed_start(&pg, &e) || pgembed_ensure_db(&pg, "bench", &e)) {
        fprintf(stderr, "sync_bench: %s\n", e.msg);
        return 1;
    }
    char *conninfo = pgembed_conninfo(&pg, "bench");
    setenv("DATABASE_URL", conninfo, 1);
    setenv("DHIS2SYNC_SECRET_KEY", "bench-secret-key-0123456789", 1);
    setenv("DHIS2SYNC_LOG", "warn", 1);
    setenv("DHIS2SYNC_ADMIN_PASSWORD", "bench-admin-password", 1); /* else serve writes one to var/ */
    struct crypto_key key;
    char *sealed = NULL, bin[256];
    snprintf(bin, sizeof bin, "%s/dhis2sync", build_dir());
    char *migrate[] = {bin, "migrate", NULL};
    struct row scratch;
    PGconn *db = NULL;
    CURL *curl = NULL;
    int rc = 0;
    if (launcher_start() != 0 || crypto_key_load(&key, getenv("DHIS2SYNC_SECRET_KEY"), NULL, &e) ||
        crypto_seal(&key, "district", 8, INSTANCE_SECRET_AAD, &sealed, &e) ||
        measure(migrate, NULL, &scratch) != 0 || PQstatus(db = PQconnectdb(conninfo)) != CONNECTION_OK ||
        !(curl = curl_easy_init())) {
        fprintf(stderr, "sync_bench: setting up failed %s\n", e.msg);
        rc = 1;
        goto out;
    }
    table_head(date, where);
    for (int i = 0; i < n_sizes && !stopping; i++)
        rc |= bench_size(sizes[i], db, sealed, dir, curl);
    if (!stopping)
        bench_http(curl, dir);
    table_foot();
    const char *json = getenv("BENCH_JSON") ? getenv("BENCH_JSON") : "bench/results.json";
    if (stopping)
        printf("(stopped: the rows after the last one were not measured; %s is left as it was)\n", json);
    else if (write_json(json, date, where))
        fprintf(stderr, "sync_bench: could not write %s\n", json);
    else
        printf("(also in %s)\n", json);
out:
    launcher_stop();
    PQfinish(db);
    curl_easy_cleanup(curl);
    pgembed_stop(&pg, &e);
    char cmd[128];
    snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
    if (system(cmd) != 0)
        fprintf(stderr, "sync_bench: could not remove %s\n", dir);
    free(sealed);
    free(conninfo);
    return rc ? 1 : 0;
}
