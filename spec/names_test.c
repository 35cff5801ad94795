/* Names with '/', spaces, '%', '?', '#' and any UTF-8 address instances, jobs and runs when
 * percent-encoded in the path; bad encodings are 400; encoded dots do not leave web/. */
#include <arpa/inet.h>
#include <ctype.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include "harness.h"
#include "sched_util.h"
#include "test.h"

#define SOURCE_NAME "Source / R\xC3\xA9gion 100% ?#"
#define JOB_NAME "R\xC3\xA9gion Nord / ANC ?x=1#top %41"

/* RFC 3986 percent-encoding of everything but the unreserved characters. */
static void encode(const char *in, char *out, size_t size)
{
    size_t n = 0;
    for (const unsigned char *p = (const unsigned char *)in; *p && n + 4 < size; p++) {
        if (isalnum(*p) || strchr("-._~", *p))
            out[n++] = (char)*p;
        else
            n += (size_t)snprintf(out + n, size - n, "%%%02X", *p);
    }
    out[n] = '\0';
}

/* An API path: fmt's one %s gets name percent-encoded. */
static const char *path_of(char *buf, size_t size, const char *fmt, const char *name)
{
    char enc[1024];
    encode(name, enc, sizeof enc);
    snprintf(buf, size, fmt, enc);
    return buf;
}

/* The status line's code of a request sent byte for byte as written (no client cleans it). */
static int raw_get_status(int port, const char *target, char **body)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port),
                            .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    CHECK(fd >= 0 && connect(fd, (struct sockaddr *)&a, sizeof a) == 0);
    char req[1024];
    int len = snprintf(req, sizeof req, "GET %s HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n", target);
    CHECK(write(fd, req, (size_t)len) == len);
    size_t cap = 1 << 16, got = 0;
    char *buf = malloc(cap + 1);
    CHECK(buf);
    ssize_t n;
    while (got < cap && (n = read(fd, buf + got, cap - got)) > 0)
        got += (size_t)n;
    buf[got] = '\0';
    close(fd);
    int status = 0;
    sscanf(buf, "HTTP/1.%*d %d", &status);
    *body = buf;
    return status;
}

TEST_TIMEOUT(names_with_slashes_and_utf8_address_instances_jobs_and_runs_when_percent_encoded, 180)
{
    struct su_emu src, dst;
    struct spec_server s;
    su_emu_start(&src, 40, 5, 31);
    su_emu_start(&dst, 0, 5, 31);
    CHECK(spec_server_start(&s, spec_new_db(), NULL) == 0);
    su_instance(&s, SOURCE_NAME, src.url);
    su_instance(&s, "dst", dst.url);
    char path[1200], body[1024];

    cJSON *got = su_call(&s, "GET", path_of(path, sizeof path, "/api/instances/%s", SOURCE_NAME), NULL, 200);
    CHECK_STR(su_str(got, "name"), SOURCE_NAME);
    cJSON_Delete(got);
    snprintf(body, sizeof body, "{\"url\":\"%s\"}", src.url);
    cJSON_Delete(su_call(&s, "PATCH", path, body, 200));

    snprintf(body, sizeof body,
             "{\"name\":\"%s\",\"source\":\"%s\",\"target\":\"dst\",\"dataSets\":[\"%s\"],"
             "\"orgUnits\":[\"%s\"],\"children\":true,"
             "\"periods\":{\"start\":\"1900-01-01\",\"end\":\"2100-12-31\"}}",
             JOB_NAME, SOURCE_NAME, src.ds_monthly, src.root);
    cJSON_Delete(su_call(&s, "POST", "/api/jobs", body, 201));
    got = su_call(&s, "GET", path_of(path, sizeof path, "/api/jobs/%s", JOB_NAME), NULL, 200);
    CHECK_STR(su_str(got, "name"), JOB_NAME);
    CHECK_STR(su_str(got, "source"), SOURCE_NAME);
    cJSON_Delete(got);
    got = su_call(&s, "PATCH", path, "{\"schedule\":\"0 3 * * *\"}", 200);
    CHECK_STR(su_str(got, "schedule"), "0 3 * * *");
    cJSON_Delete(got);

    cJSON *queued = su_call(&s, "POST", path_of(path, sizeof path, "/api/jobs/%s/run", JOB_NAME), "{}", 202);
    long long id = (long long)su_num(queued, "id");
    cJSON_Delete(queued);
    PGconn *db = su_db(s.db);
    su_wait_sql(db, 60000, "succeeded", "SELECT status FROM runs WHERE id = %lld", id);
    cJSON *runs = su_call(&s, "GET", path_of(path, sizeof path, "/api/runs?job=%s", JOB_NAME), NULL, 200);
    cJSON *first = cJSON_GetArrayItem(cJSON_GetObjectItem(runs, "runs"), 0);
    CHECK_INT((long long)su_num(first, "id"), id);
    CHECK_STR(su_str(first, "job"), JOB_NAME);
    cJSON_Delete(runs);

    /* the CLI takes the name as it is, '/' and all */
    char *bin = spec_bin("dhis2sync"), *dburl = NULL;
    CHECK(asprintf(&dburl, "DATABASE_URL=%s", s.db) > 0);
    char *env[] = {dburl, "DHIS2SYNC_SECRET_KEY=spec-secret-key-0123456789", NULL};
    char *argv[] = {bin, "run", JOB_NAME, "--dry-run", NULL};
    char *out = NULL;
    CHECK(chdir(s.dir) == 0);
    CHECK_INT(spec_run(argv, env, NULL, &out), 0);
    cJSON *run = cJSON_Parse(out);
    CHECK_STR(su_str(run, "job"), JOB_NAME);
    CHECK_STR(su_str(run, "status"), "succeeded");
    cJSON_Delete(run);
    free(out);

    /* encodings that are not: 400 once the caller is known, 401 before */
    static const char *const bad[] = {"/api/jobs/a%2", "/api/jobs/a%zz", "/api/jobs/a%00b",
                                      "/api/instances/%G1"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
        cJSON_Delete(su_call(&s, "GET", bad[i], NULL, 400));
    char url[1300];
    snprintf(url, sizeof url, "%s/api/jobs/a%%2", s.base);
    struct spec_resp r;
    CHECK(spec_http("GET", url, NULL, NULL, 0, &r) == 0);
    CHECK_INT(r.status, 401);
    spec_resp_free(&r);

    cJSON_Delete(su_call(&s, "DELETE", path_of(path, sizeof path, "/api/jobs/%s", JOB_NAME), NULL, 204));
    cJSON_Delete(su_call(&s, "GET", path, NULL, 404));
    cJSON_Delete(su_call(&s, "DELETE", path_of(path, sizeof path, "/api/instances/%s", SOURCE_NAME), NULL, 204));
    cJSON_Delete(su_call(&s, "GET", path, NULL, 404));
    PQfinish(db);
    free(dburl);
    su_emu_stop(&src);
    su_emu_stop(&dst);
}

TEST(encoded_dots_do_not_lead_out_of_web)
{
    struct spec_server s;
    CHECK(spec_server_start(&s, spec_new_db(), NULL) == 0);
    /* db/ sits next to web/ in the server's directory: a way out would serve its SQL */
    static const char *const targets[] = {"/%2e%2e/db/001_init.sql", "/%2E%2E%2Fdb%2F001_init.sql",
                                          "/..%2fdb/001_init.sql", "/.%2e/db/001_init.sql"};
    for (size_t i = 0; i < sizeof targets / sizeof targets[0]; i++) {
        char *body = NULL;
        int status = raw_get_status(s.port, targets[i], &body);
        CHECKF(status == 404 && !strstr(body, "CREATE TABLE"), "GET %s: %d %.300s", targets[i],
               status, body);
        free(body);
    }
    char *body = NULL;
    CHECKF(raw_get_status(s.port, "/app.css", &body) == 200, "web/app.css is not served: %.300s", body);
    free(body);
}
