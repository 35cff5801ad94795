/* Secrets stay where they were entered: an instance's stored credentials never go to a host
 * they were not entered for (not after a PATCH of its url, not through a redirect). */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <pthread.h>
#include <sys/socket.h>
#include <unistd.h>

#include "auth.h"
#include "harness.h"
#include "sched_util.h"
#include "test.h"

/* A loopback HTTP listener that writes down every request's head and answers each with the
 * same canned response. */
struct listener {
    int fd, port;
    pthread_t thread;
    pthread_mutex_t mu;
    char seen[16384];
    size_t seen_len;
    char answer[512];
};

static void *listener_loop(void *arg)
{
    struct listener *l = arg;
    int conn;
    while ((conn = accept(l->fd, NULL, NULL)) >= 0) {
        char head[4096];
        size_t n = 0;
        ssize_t got;
        while (n < sizeof head - 1 && (got = read(conn, head + n, sizeof head - 1 - n)) > 0) {
            n += (size_t)got;
            head[n] = '\0';
            if (strstr(head, "\r\n\r\n"))
                break;
        }
        pthread_mutex_lock(&l->mu);
        size_t room = sizeof l->seen - 1 - l->seen_len;
        memcpy(l->seen + l->seen_len, head, n < room ? n : room);
        l->seen_len += n < room ? n : room;
        l->seen[l->seen_len] = '\0';
        pthread_mutex_unlock(&l->mu);
        if (write(conn, l->answer, strlen(l->answer)) < 0)
            break;
        close(conn);
    }
    return NULL;
}

static void listener_start(struct listener *l, const char *answer)
{
    memset(l, 0, sizeof *l);
    pthread_mutex_init(&l->mu, NULL);
    snprintf(l->answer, sizeof l->answer, "%s", answer);
    l->fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t len = sizeof a;
    CHECK(l->fd >= 0 && bind(l->fd, (struct sockaddr *)&a, sizeof a) == 0 &&
          listen(l->fd, 16) == 0 && getsockname(l->fd, (struct sockaddr *)&a, &len) == 0);
    l->port = ntohs(a.sin_port);
    CHECK(pthread_create(&l->thread, NULL, listener_loop, l) == 0);
}

/* What the listener has seen so far; caller frees. */
static char *listener_seen(struct listener *l)
{
    pthread_mutex_lock(&l->mu);
    char *copy = strdup(l->seen);
    pthread_mutex_unlock(&l->mu);
    return copy;
}

static void listener_stop(struct listener *l)
{
    shutdown(l->fd, SHUT_RDWR);
    pthread_join(l->thread, NULL);
    close(l->fd);
    pthread_mutex_destroy(&l->mu);
}

/* The API call answers expect_status, and a 422 names field. */
static void call_expect(struct spec_server *s, const char *method, const char *path,
                        const char *body, long expect_status, const char *field)
{
    cJSON *j = su_call(s, method, path, body, expect_status);
    if (field)
        CHECK_STR(su_str(cJSON_GetObjectItem(j, "detail"), "field"), field);
    cJSON_Delete(j);
}

TEST(stored_instance_credentials_never_reach_a_host_they_were_not_entered_for)
{
    struct spec_server s;
    CHECK(spec_server_start(&s, spec_new_db(), NULL) == 0);
    struct listener elsewhere, home;
    listener_start(&elsewhere, "HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\nConnection: close\r\n\r\n");
    char redirect[256];
    snprintf(redirect, sizeof redirect,
             "HTTP/1.1 302 Found\r\nLocation: http://127.0.0.1:%d/api/system/info\r\n"
             "Content-Length: 0\r\nConnection: close\r\n\r\n",
             elsewhere.port);
    listener_start(&home, redirect);

    char body[512];
    snprintf(body, sizeof body,
             "{\"name\":\"basic\",\"url\":\"http://127.0.0.1:%d\","
             "\"auth\":{\"type\":\"basic\",\"username\":\"sync\",\"password\":\"s3cret-basic\"}}",
             home.port);
    cJSON_Delete(su_call(&s, "POST", "/api/instances", body, 201));
    snprintf(body, sizeof body,
             "{\"name\":\"pat\",\"url\":\"http://127.0.0.1:%d\","
             "\"auth\":{\"type\":\"pat\",\"token\":\"d2pat_s3cret-token\"}}",
             home.port);
    cJSON_Delete(su_call(&s, "POST", "/api/instances", body, 201));

    /* the home host redirects elsewhere: the redirect is reported, not followed */
    cJSON_Delete(su_call(&s, "POST", "/api/instances/basic/test", "{}", 502));
    cJSON_Delete(su_call(&s, "POST", "/api/instances/pat/test", "{}", 502));
    char *seen = listener_seen(&home);
    CHECK_CONTAINS(seen, "Authorization: Basic c3luYzpzM2NyZXQtYmFzaWM="); /* sync:s3cret-basic */
    CHECK_CONTAINS(seen, "Authorization: ApiToken d2pat_s3cret-token");
    free(seen);

    /* moving an instance without entering its credentials again is refused, by PATCH or PUT */
    snprintf(body, sizeof body, "{\"url\":\"http://127.0.0.1:%d\"}", elsewhere.port);
    call_expect(&s, "PATCH", "/api/instances/basic", body, 422, "auth");
    call_expect(&s, "PATCH", "/api/instances/pat", body, 422, "auth");
    snprintf(body, sizeof body, "{\"name\":\"pat\",\"url\":\"http://127.0.0.1:%d\"}", elsewhere.port);
    call_expect(&s, "PUT", "/api/instances/pat", body, 422, "auth");
    snprintf(body, sizeof body, "{\"url\":\"http://127.0.0.1:%d\",\"auth\":{\"type\":\"basic\"}}",
             elsewhere.port);
    call_expect(&s, "PATCH", "/api/instances/basic", body, 422, "auth");
    call_expect(&s, "PATCH", "/api/instances/basic", "{\"caFile\":\"/tmp/other-ca.pem\"}", 422,
                "auth");
    cJSON_Delete(su_call(&s, "POST", "/api/instances/basic/test", "{}", 502));
    cJSON_Delete(su_call(&s, "POST", "/api/instances/pat/test", "{}", 502));
    seen = listener_seen(&elsewhere);
    CHECKF(seen[0] == '\0', "credentials or requests reached the other host:\n%s", seen);
    free(seen);

    /* a rename, or the same url again, keeps the stored secret */
    call_expect(&s, "PATCH", "/api/instances/basic", "{\"name\":\"renamed\"}", 200, NULL);
    snprintf(body, sizeof body, "{\"url\":\"http://127.0.0.1:%d\"}", home.port);
    call_expect(&s, "PATCH", "/api/instances/renamed", body, 200, NULL);

    /* with the credentials entered again, the instance moves and they go to the new host */
    snprintf(body, sizeof body,
             "{\"url\":\"http://127.0.0.1:%d\","
             "\"auth\":{\"type\":\"basic\",\"username\":\"sync\",\"password\":\"new-pass\"}}",
             elsewhere.port);
    call_expect(&s, "PATCH", "/api/instances/renamed", body, 200, NULL);
    cJSON_Delete(su_call(&s, "POST", "/api/instances/renamed/test", "{}", 502));
    seen = listener_seen(&elsewhere);
    CHECK_CONTAINS(seen, "Authorization: Basic c3luYzpuZXctcGFzcw=="); /* sync:new-pass */
    CHECKF(!strstr(seen, "s3cret"), "an old secret reached the new host:\n%s", seen);
    free(seen);
    listener_stop(&home);
    listener_stop(&elsewhere);
}

/* `dhis2sync token ARGS...` against the server's database; exit status, stdout into *out. */
static int token_cmd(struct spec_server *s, char **out, const char *a1, const char *a2,
                     const char *a3, const char *a4)
{
    char *bin = spec_bin("dhis2sync"), *dbenv = NULL;
    if (asprintf(&dbenv, "DATABASE_URL=%s", s->db) < 0)
        abort();
    char *env[] = {dbenv, "DHIS2SYNC_SECRET_KEY=spec-secret-key-0123456789", NULL};
    char *argv[] = {bin, "token", (char *)a1, (char *)a2, (char *)a3, (char *)a4, NULL};
    char *ignored = NULL;
    int rc = spec_run(argv, env, NULL, out ? out : &ignored);
    free(ignored);
    free(dbenv);
    free(bin);
    return rc;
}

/* A new token from `token add`, its trailing line end cut. */
static char *token_add(struct spec_server *s, const char *name, const char *expires)
{
    char *out = NULL;
    CHECK_INT(token_cmd(s, &out, "add", name, expires ? "--expires" : NULL, expires), 0);
    out[strcspn(out, "\r\n")] = '\0';
    CHECKF(strlen(out) >= 20, "token add printed \"%s\"", out);
    return out;
}

static long bearer_status(struct spec_server *s, const char *token)
{
    char url[128], authz[256];
    snprintf(url, sizeof url, "%s/api/instances", s->base);
    snprintf(authz, sizeof authz, "Authorization: Bearer %s", token);
    const char *h[] = {authz, NULL};
    struct spec_resp r;
    CHECK(spec_http("GET", url, h, NULL, 0, &r) == 0);
    long status = r.status;
    spec_resp_free(&r);
    return status;
}

TEST(tokens_are_listed_without_secrets_record_use_cheaply_and_die_at_revoke_or_expiry)
{
    struct spec_server s;
    CHECK(spec_server_start(&s, spec_new_db(), NULL) == 0);
    PGconn *db = su_db(s.db);
    char *robot1 = token_add(&s, "robot", "90d"), *robot2 = token_add(&s, "robot", NULL);
    char *dated = token_add(&s, "dated", "2099-01-31");
    CHECK_INT(su_sql_int(db, "SELECT count(*) FROM api_tokens WHERE name = 'robot' AND "
                             "expires_at BETWEEN now() + interval '89 days 23 hours' AND "
                             "now() + interval '90 days 1 hour'"),
              1);

    /* used: last_used_at is written once, not on every request, until a minute has passed */
    CHECK_INT(bearer_status(&s, robot1), 200);
    char id1[24];
    char *id = su_sql(db, "SELECT id FROM api_tokens WHERE token_hash = sha256('%s'::bytea)", robot1);
    snprintf(id1, sizeof id1, "%s", id);
    free(id);
    char *first = su_sql(db, "SELECT last_used_at FROM api_tokens WHERE id = %s", id1);
    CHECK(first);
    CHECK_INT(bearer_status(&s, robot1), 200);
    char *again = su_sql(db, "SELECT last_used_at FROM api_tokens WHERE id = %s", id1);
    CHECK_STR(again, first);
    su_sql_exec(db, "UPDATE api_tokens SET last_used_at = now() - interval '2 minutes' WHERE id = %s", id1);
    CHECK_INT(bearer_status(&s, robot1), 200);
    CHECK_INT(su_sql_int(db, "SELECT count(*) FROM api_tokens WHERE id = %s AND "
                             "last_used_at > now() - interval '1 minute'", id1),
              1);

    char *list = NULL;
    CHECK_INT(token_cmd(&s, &list, "list", NULL, NULL, NULL), 0);
    CHECK_CONTAINS(list, "ID\tNAME\tCREATED\tLAST USED\tEXPIRES\n");
    CHECK_CONTAINS(list, "\tdated\t");
    CHECK_CONTAINS(list, "\t2099-01-31T00:00:00.000Z\n");
    CHECK_CONTAINS(list, "\tspec\t");
    CHECKF(!strstr(list, robot1) && !strstr(list, robot2) && !strstr(list, dated),
           "token list shows a token:\n%s", list);

    /* a label two tokens share does not say which one to revoke */
    CHECK_INT(token_cmd(&s, NULL, "revoke", "robot", NULL, NULL), 1);
    CHECK_INT(token_cmd(&s, NULL, "revoke", "no-such-token", NULL, NULL), 1);
    CHECK_INT(bearer_status(&s, robot2), 200);
    char *id2 = su_sql(db, "SELECT id FROM api_tokens WHERE token_hash = sha256('%s'::bytea)", robot2);
    CHECK_INT(token_cmd(&s, NULL, "revoke", id2, NULL, NULL), 0);
    CHECK_INT(bearer_status(&s, robot2), 401);
    CHECK_INT(bearer_status(&s, robot1), 200);
    CHECK_INT(token_cmd(&s, NULL, "revoke", "dated", NULL, NULL), 0);
    CHECK_INT(bearer_status(&s, dated), 401);

    /* expiry is checked at each request */
    su_sql_exec(db, "UPDATE api_tokens SET expires_at = now() - interval '1 second' WHERE id = %s", id1);
    CHECK_INT(bearer_status(&s, robot1), 401);
    free(list);
    CHECK_INT(token_cmd(&s, &list, "list", NULL, NULL, NULL), 0);
    CHECK_CONTAINS(list, " (expired)\n");

    /* a wrong --expires is refused before anything is made */
    CHECK_INT(token_cmd(&s, NULL, "add", "bad", "--expires", "5y"), 2);
    CHECK_INT(token_cmd(&s, NULL, "add", "bad", "--expires", "2020-01-01"), 2);
    CHECK_INT(token_cmd(&s, NULL, "add", "bad", "--expires", "2099-02-31"), 2);
    CHECK_INT(su_sql_int(db, "SELECT count(*) FROM api_tokens WHERE name = 'bad'"), 0);
    free(list);
    free(first);
    free(again);
    free(id2);
    free(robot1);
    free(robot2);
    free(dated);
    PQfinish(db);
}

TEST(token_expiry_takes_durations_and_utc_dates)
{
    time_t now = 1700000000, at;
    struct err e = {0};
    CHECK_INT(auth_token_expiry("90d", now, &at, &e), 0);
    CHECK_INT(at - now, 90 * 86400);
    CHECK_INT(auth_token_expiry("12h", now, &at, &e), 0);
    CHECK_INT(at - now, 12 * 3600);
    CHECK_INT(auth_token_expiry("30m", now, &at, &e), 0);
    CHECK_INT(at - now, 30 * 60);
    CHECK_INT(auth_token_expiry("2027-01-31", now, &at, &e), 0);
    CHECK_INT(at, 1801353600);
    CHECK_INT(auth_token_expiry("2027-01-31T12:30:00Z", now, &at, &e), 0);
    CHECK_INT(at, 1801353600 + 12 * 3600 + 30 * 60);
    const char *bad[] = {"", "0d", "d", "90", "90x", "90dd", "-5d", "2027-13-01", "2027-02-30",
                         "2027-01-31T12:30", "2027-01-31 12:30:00", "2023-01-01"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
        CHECKF(auth_token_expiry(bad[i], now, &at, &e) == ERR_INPUT, "accepted \"%s\"", bad[i]);
}

/* GET or POST on an emulator as admin:district; the answer as JSON (caller deletes). */
static cJSON *emu_call(const struct su_emu *m, const char *method, const char *path, const char *body)
{
    char url[1024];
    snprintf(url, sizeof url, "%s%s", m->url, path);
    const char *h[] = {"Authorization: Basic YWRtaW46ZGlzdHJpY3Q=", "Content-Type: application/json", NULL};
    struct spec_resp r;
    CHECK(spec_http(method, url, h, body, body ? strlen(body) : 0, &r) == 0);
    CHECKF(r.status == 200, "%s %s: %ld %.300s", method, path, r.status, r.body);
    cJSON *j = spec_resp_json(&r);
    spec_resp_free(&r);
    CHECK(j);
    return j;
}

/* A run of job `name` (made with extra job fields) from src to dst over the monthly data set;
 * its final JSON. */
static cJSON *sync_monthly(struct spec_server *s, const struct su_emu *src, const char *name,
                           const char *extra)
{
    char body[1024], path[128];
    snprintf(body, sizeof body,
             "{\"name\":\"%s\",\"source\":\"src\",\"target\":\"dst\",\"dataSets\":[\"%s\"],"
             "\"orgUnits\":[\"%s\"],\"children\":true,"
             "\"periods\":{\"start\":\"1900-01-01\",\"end\":\"2100-12-31\"}%s}",
             name, src->ds_monthly, src->root, extra ? extra : "");
    cJSON_Delete(su_call(s, "POST", "/api/jobs", body, 201));
    snprintf(path, sizeof path, "/api/jobs/%s/run", name);
    cJSON *queued = su_call(s, "POST", path, "{}", 202);
    long long id = (long long)su_num(queued, "id");
    cJSON_Delete(queued);
    PGconn *db = su_db(s->db);
    su_wait_sql(db, 60000, "t", "SELECT status NOT IN ('queued', 'running') FROM runs WHERE id = %lld", id);
    PQfinish(db);
    snprintf(path, sizeof path, "/api/runs/%lld", id);
    return su_call(s, "GET", path, NULL, 200);
}

/* A source emulator with values, an empty target with the same metadata, and a server that
 * knows them as the instances src and dst. */
static void start_sync(struct su_emu *src, struct su_emu *dst, struct spec_server *s,
                       unsigned long seed)
{
    su_emu_start(src, 40, 5, seed);
    su_emu_start(dst, 0, 5, seed);
    CHECK(spec_server_start(s, spec_new_db(), NULL) == 0);
    su_instance(s, "src", src->url);
    su_instance(s, "dst", dst->url);
}

TEST_TIMEOUT(conflicts_carrying_utf8_that_postgresql_refuses_are_listed_with_replacements, 180)
{
    struct su_emu src, dst;
    struct spec_server s;
    start_sync(&src, &dst, &s, 11);
    char query[512];
    snprintf(query, sizeof query,
             "/api/dataValueSets?dataSet=%s&orgUnit=%s&children=true&startDate=1900-01-01&endDate=2100-12-31",
             src.ds_monthly, src.root);
    cJSON *all = emu_call(&src, "GET", query, NULL);
    cJSON *v = cJSON_DetachItemFromArray(cJSON_GetObjectItem(all, "dataValues"), 0);
    CHECK(v);
    /* an encoded surrogate, an overlong '/', a code point past U+10FFFF, then valid text */
    static const char comment[] = "bad:\xED\xA0\x80|\xC0\xAF|\xF4\x90\x80\x80|ok:\xC3\xA9";
    cJSON_DeleteItemFromObject(v, "comment");
    cJSON_AddStringToObject(v, "comment", comment);
    char de[16];
    snprintf(de, sizeof de, "%s", su_str(v, "dataElement"));
    cJSON *post = cJSON_CreateObject(), *list = cJSON_AddArrayToObject(post, "dataValues");
    cJSON_AddItemToArray(list, v);
    char *text = cJSON_PrintUnformatted(post);
    cJSON_Delete(emu_call(&src, "POST", "/api/dataValueSets", text));
    free(text);
    cJSON_Delete(post);
    cJSON_Delete(all);
    char faults[64];
    snprintf(faults, sizeof faults, "{\"conflictIds\":[\"%s\"]}", de);
    su_emu_faults(&dst, faults);
    cJSON *run = sync_monthly(&s, &src, "utf8", NULL);
    CHECKF(strcmp(su_str(run, "status"), "partial") == 0, "run ended %s: %s", su_str(run, "status"),
           su_str(run, "error") ? su_str(run, "error") : "");
    char path[96];
    snprintf(path, sizeof path, "/api/runs/%.0f/conflicts?kind=conflict&pageSize=1000", su_num(run, "id"));
    cJSON *listed = su_call(&s, "GET", path, NULL, 200);
    const cJSON *c;
    const char *stored = NULL;
    cJSON_ArrayForEach(c, cJSON_GetObjectItem(listed, "conflicts"))
    {
        const char *cm = su_str(cJSON_GetObjectItem(c, "dataValue"), "comment");
        if (cm && strstr(cm, "bad:"))
            stored = cm;
    }
    CHECKF(stored, "the value with the bad comment is not listed");
    CHECK_STR(stored, "bad:\xEF\xBF\xBD\xEF\xBF\xBD\xEF\xBF\xBD|\xEF\xBF\xBD\xEF\xBF\xBD|"
                      "\xEF\xBF\xBD\xEF\xBF\xBD\xEF\xBF\xBD\xEF\xBF\xBD|ok:\xC3\xA9");
    cJSON_Delete(listed);
    cJSON_Delete(run);
    su_emu_stop(&src);
    su_emu_stop(&dst);
}

TEST_TIMEOUT(an_async_import_whose_task_dhis2_lost_fails_promptly_or_at_its_deadline, 180)
{
    struct su_emu src, dst;
    struct spec_server s;
    start_sync(&src, &dst, &s, 12);
    char body[512];
    snprintf(body, sizeof body,
             "{\"name\":\"bad\",\"source\":\"src\",\"target\":\"dst\",\"dataSets\":[\"%s\"],"
             "\"periods\":{\"last\":3,\"type\":\"Monthly\"},\"orgUnits\":[\"%s\"],"
             "\"importOptions\":{\"async\":true,\"asyncTimeout\":0}}",
             src.ds_monthly, src.root);
    call_expect(&s, "POST", "/api/jobs", body, 422, "importOptions.asyncTimeout");

    /* DHIS2 answers 404 for the task: no point polling on */
    su_emu_faults(&dst, "{\"loseTasks\":404}");
    cJSON *run = sync_monthly(&s, &src, "lost", ",\"importOptions\":{\"async\":true}");
    CHECK_STR(su_str(run, "status"), "failed");
    CHECK_CONTAINS(su_str(run, "error"), "DHIS2 lost import task");
    cJSON_Delete(run);

    /* the task never finishes: the chunk fails at the job's deadline */
    su_emu_faults(&dst, "{\"loseTasks\":200}");
    run = sync_monthly(&s, &src, "stuck", ",\"importOptions\":{\"async\":true,\"asyncTimeout\":1}");
    CHECK_STR(su_str(run, "status"), "failed");
    CHECK_CONTAINS(su_str(run, "error"), "did not finish import task");
    CHECK_CONTAINS(su_str(run, "error"), "within 1 s");
    cJSON_Delete(run);
    cJSON *job = su_call(&s, "GET", "/api/jobs/lost", NULL, 200);
    CHECK_INT(su_num(cJSON_GetObjectItem(job, "importOptions"), "asyncTimeout"), 1800);
    cJSON_Delete(job);

    /* with its tasks kept, DHIS2 finishes the async imports well within the deadline */
    su_emu_faults(&dst, NULL);
    run = sync_monthly(&s, &src, "kept", ",\"importOptions\":{\"async\":true,\"asyncTimeout\":60}");
    CHECK_STR(su_str(run, "status"), "succeeded");
    cJSON_Delete(run);
    su_emu_stop(&src);
    su_emu_stop(&dst);
}

TEST(api_tokens_are_made_shown_once_listed_and_revoked_over_http)
{
    struct spec_server s;
    CHECK(spec_server_start(&s, spec_new_db(), NULL) == 0);
    cJSON *made = su_call(&s, "POST", "/api/tokens", "{\"name\":\"web\",\"expires\":\"12h\"}", 201);
    char *token = strdup(su_str(made, "token"));
    CHECK_STR(su_str(made, "name"), "web");
    CHECK(su_str(made, "expiresAt") != NULL);
    char path[64];
    snprintf(path, sizeof path, "/api/tokens/%.0f", su_num(made, "id"));
    cJSON_Delete(made);
    CHECK_INT(bearer_status(&s, token), 200);

    struct spec_resp r;
    CHECK(spec_api(&s, "GET", "/api/tokens", NULL, &r) == 0);
    CHECK_INT(r.status, 200);
    CHECKF(!strstr(r.body, token) && !strstr(r.body, s.token) && !strstr(r.body, "\"token\""),
           "the list shows a token: %s", r.body);
    cJSON *list = spec_resp_json(&r);
    spec_resp_free(&r);
    CHECK_INT(su_num(cJSON_GetObjectItem(list, "pager"), "total"), 2);
    CHECK_STR(su_str(cJSON_GetArrayItem(cJSON_GetObjectItem(list, "tokens"), 1), "name"), "web");
    cJSON_Delete(list);

    call_expect(&s, "POST", "/api/tokens", "{\"name\":\"old\",\"expires\":\"2000-01-01\"}", 422, "expires");
    call_expect(&s, "POST", "/api/tokens", "{\"expires\":\"1d\"}", 422, "name");
    cJSON_Delete(su_call(&s, "DELETE", path, NULL, 204));
    CHECK_INT(bearer_status(&s, token), 401);
    cJSON_Delete(su_call(&s, "DELETE", path, NULL, 404));
    free(token);
}
