/* emulator_bench.c — how fast the DHIS2 emulator serves and takes data values.
 * Starts two emulators (a generated source with BENCH_VALUES values, default 1,000,000, and an
 * empty twin as target), then measures: the whole data value set in one GET, chunked GETs (one
 * district subtree x three months), and POSTs of the fetched values to the target in batches
 * of BENCH_BATCH (default 10,000), plain and gzip-compressed. Prints figures, asserts nothing. */
#include <cJSON.h>
#include <curl/curl.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>
#include <zlib.h>

struct mem {
    char *data;
    size_t len, cap;
};

static size_t collect(char *p, size_t size, size_t n, void *ud)
{
    struct mem *m = ud;
    size_t k = size * n;
    if (m->len + k + 1 > m->cap) {
        size_t cap = m->cap ? m->cap : 65536;
        while (cap < m->len + k + 1)
            cap *= 2;
        char *grown = realloc(m->data, cap);
        if (!grown)
            return 0;
        m->data = grown;
        m->cap = cap;
    }
    memcpy(m->data + m->len, p, k);
    m->len += k;
    m->data[m->len] = '\0';
    return k;
}

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* Counts the bytes and keeps nothing: times the server, not the client's copying. */
static size_t discard(char *p, size_t size, size_t n, void *ud)
{
    (void)p;
    ((struct mem *)ud)->len += size * n;
    return size * n;
}

static long http(CURL *c, const char *method, const char *url, const char *body, size_t len,
                 bool gzip, struct mem *out)
{
    struct curl_slist *h = NULL;
    h = curl_slist_append(h, "Expect:");
    h = curl_slist_append(h, "Content-Type: application/json");
    if (gzip)
        h = curl_slist_append(h, "Content-Encoding: gzip");
    curl_easy_reset(c);
    curl_easy_setopt(c, CURLOPT_URL, url);
    curl_easy_setopt(c, CURLOPT_CUSTOMREQUEST, method);
    curl_easy_setopt(c, CURLOPT_USERPWD, "admin:district");
    curl_easy_setopt(c, CURLOPT_HTTPHEADER, h);
    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, out->data == (char *)-1 ? discard : collect);
    curl_easy_setopt(c, CURLOPT_WRITEDATA, out);
    if (body) {
        curl_easy_setopt(c, CURLOPT_POSTFIELDS, body);
        curl_easy_setopt(c, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)len);
    }
    long status = 0;
    if (curl_easy_perform(c) == CURLE_OK)
        curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &status);
    curl_slist_free_all(h);
    return status;
}

static pid_t spawn(const char *bin, int port, const char *gen)
{
    char p[16];
    snprintf(p, sizeof p, "%d", port);
    pid_t pid = fork();
    if (pid == 0) {
        execl(bin, bin, "--port", p, "--generate", gen, (char *)NULL);
        _exit(127);
    }
    return pid;
}

static int wait_up(CURL *c, int port)
{
    char url[128];
    snprintf(url, sizeof url, "http://127.0.0.1:%d/api/system/info", port);
    for (int i = 0; i < 600; i++) {
        struct mem m = {0};
        long st = http(c, "GET", url, NULL, 0, false, &m);
        free(m.data);
        if (st == 200)
            return 0;
        usleep(50000);
    }
    return -1;
}

static char *gz(const char *in, size_t len, size_t *out_len)
{
    uLong cap = compressBound(len) + 64;
    char *out = malloc(cap);
    z_stream z = {0};
    if (!out || deflateInit2(&z, 1, Z_DEFLATED, 16 + MAX_WBITS, 8, Z_DEFAULT_STRATEGY) != Z_OK) {
        free(out);
        return NULL;
    }
    z.next_in = (Bytef *)in;
    z.avail_in = (uInt)len;
    z.next_out = (Bytef *)out;
    z.avail_out = (uInt)cap;
    deflate(&z, Z_FINISH);
    *out_len = z.total_out;
    deflateEnd(&z);
    return out;
}

int main(void)
{
    const char *build = getenv("DHIS2SYNC_BUILD");
    char bin[512];
    snprintf(bin, sizeof bin, "%s/dhis2-emulator", build && *build ? build : "build");
    long values = getenv("BENCH_VALUES") ? atol(getenv("BENCH_VALUES")) : 1000000;
    int batch = getenv("BENCH_BATCH") ? atoi(getenv("BENCH_BATCH")) : 10000;
    int sport = 18000 + (int)(getpid() % 1000) * 2, tport = sport + 1;
    char gen[128];
    curl_global_init(CURL_GLOBAL_ALL);
    CURL *c = curl_easy_init();
    double t0 = now_s();
    snprintf(gen, sizeof gen, "values=%ld,orgunits=2000,seed=11", values);
    pid_t src = spawn(bin, sport, gen);
    pid_t dst = spawn(bin, tport, "values=0,orgunits=2000,seed=11");
    if (wait_up(c, sport) || wait_up(c, tport)) {
        fprintf(stderr, "emulators did not start (%s)\n", bin);
        return 1;
    }
    printf("start with %ld generated values: %.2f s\n", values, now_s() - t0);

    char url[1024];
    struct mem m = {0};
    snprintf(url, sizeof url, "http://127.0.0.1:%d/api/organisationUnits?paging=false&fields=id,level", sport);
    http(c, "GET", url, NULL, 0, false, &m);
    cJSON *ous = cJSON_Parse(m.data);
    free(m.data);
    memset(&m, 0, sizeof m);
    snprintf(url, sizeof url, "http://127.0.0.1:%d/api/dataSets?paging=false&fields=id", sport);
    http(c, "GET", url, NULL, 0, false, &m);
    cJSON *dss = cJSON_Parse(m.data);
    free(m.data);
    const char *root = NULL;
    cJSON *it;
    cJSON_ArrayForEach(it, cJSON_GetObjectItem(ous, "organisationUnits"))
        if (cJSON_GetObjectItem(it, "level")->valueint == 1)
            root = cJSON_GetObjectItem(it, "id")->valuestring;
    char ds_params[256] = "";
    cJSON_ArrayForEach(it, cJSON_GetObjectItem(dss, "dataSets")) {
        size_t l = strlen(ds_params);
        snprintf(ds_params + l, sizeof ds_params - l, "dataSet=%s&", cJSON_GetObjectItem(it, "id")->valuestring);
    }

    memset(&m, 0, sizeof m);
    snprintf(url, sizeof url,
             "http://127.0.0.1:%d/api/dataValueSets?%sstartDate=1900-01-01&endDate=2100-12-31&orgUnit=%s&children=true",
             sport, ds_params, root);
    struct mem counted = {(char *)-1, 0, 0};
    t0 = now_s();
    long st = http(c, "GET", url, NULL, 0, false, &counted);
    double dt = now_s() - t0;
    printf("GET whole data value set: HTTP %ld, %.1f MB in %.2f s (%.0f MB/s)\n", st, counted.len / 1e6,
           dt, counted.len / 1e6 / dt);
    http(c, "GET", url, NULL, 0, false, &m); /* again, kept, for the POSTs below */

    /* Chunked: every district (level 3) x the three months before last. */
    int chunks = 0;
    double ct = 0;
    size_t cbytes = 0;
    cJSON_ArrayForEach(it, cJSON_GetObjectItem(ous, "organisationUnits")) {
        if (cJSON_GetObjectItem(it, "level")->valueint != 3 || chunks >= 200)
            continue;
        struct mem cm = {0};
        time_t now = time(NULL);
        struct tm tm;
        gmtime_r(&now, &tm);
        int y = tm.tm_year + 1900, mo = tm.tm_mon + 1 - 3;
        while (mo < 1) {
            mo += 12;
            y--;
        }
        snprintf(url, sizeof url,
                 "http://127.0.0.1:%d/api/dataValueSets?%speriod=%04d%02d&period=%04d%02d&period=%04d%02d&orgUnit=%s&children=true",
                 sport, ds_params, y, mo, mo == 12 ? y + 1 : y, mo % 12 + 1, mo >= 11 ? y + 1 : y,
                 (mo + 1) % 12 + 1, cJSON_GetObjectItem(it, "id")->valuestring);
        double s0 = now_s();
        http(c, "GET", url, NULL, 0, false, &cm);
        ct += now_s() - s0;
        cbytes += cm.len;
        chunks++;
        free(cm.data);
    }
    printf("GET chunks (district subtree x 3 months): %d requests, %.2f ms each, %.1f KB each\n", chunks,
           chunks ? ct / chunks * 1000 : 0, chunks ? cbytes / 1024.0 / chunks : 0);

    /* Batches from the fetched values, serialised before the clock starts. */
    cJSON *set = cJSON_Parse(m.data);
    free(m.data);
    cJSON *dvs = cJSON_GetObjectItem(set, "dataValues");
    int n = cJSON_GetArraySize(dvs), nb = (n + batch - 1) / batch;
    char **bodies = calloc((size_t)nb, sizeof *bodies);
    size_t *lens = calloc((size_t)nb, sizeof *lens);
    cJSON *dv = dvs ? dvs->child : NULL;
    for (int b = 0; b < nb; b++) {
        cJSON *part = cJSON_CreateObject(), *arr = cJSON_AddArrayToObject(part, "dataValues");
        for (int k = 0; k < batch && dv; k++, dv = dv->next)
            cJSON_AddItemToArray(arr, cJSON_Duplicate(dv, 1));
        bodies[b] = cJSON_PrintUnformatted(part);
        lens[b] = strlen(bodies[b]);
        cJSON_Delete(part);
    }
    cJSON_Delete(set);
    for (int pass = 0; pass < 3; pass++) {
        const char *label[] = {"POST batches (new values)", "POST batches again (all unchanged)",
                               "POST batches gzip (DELETE strategy)"};
        snprintf(url, sizeof url, "http://127.0.0.1:%d/api/dataValueSets%s", tport,
                 pass == 2 ? "?importStrategy=DELETE" : "");
        long ok = 0;
        size_t bytes = 0;
        double busy = 0;
        for (int b = 0; b < nb; b++) {
            size_t zl = 0;
            char *z = pass == 2 ? gz(bodies[b], lens[b], &zl) : NULL;
            struct mem r = {0};
            double s0 = now_s();
            st = http(c, "POST", url, z ? z : bodies[b], z ? zl : lens[b], z != NULL, &r);
            busy += now_s() - s0;
            bytes += z ? zl : lens[b];
            ok += st == 200;
            free(z);
            free(r.data);
        }
        printf("%s: %d values in %d requests (%ld HTTP 200), %.2f s, %.0f values/s, %.1f MB sent\n",
               label[pass], n, nb, ok, busy, n / busy, bytes / 1e6);
    }
    for (int b = 0; b < nb; b++)
        free(bodies[b]);
    free(bodies);
    free(lens);
    cJSON_Delete(ous);
    cJSON_Delete(dss);
    curl_easy_cleanup(c);
    kill(src, SIGTERM);
    kill(dst, SIGTERM);
    waitpid(src, NULL, 0);
    waitpid(dst, NULL, 0);
    return 0;
}
