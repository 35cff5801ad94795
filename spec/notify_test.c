/* notify_test.c — notifications of finished runs, delivered to receivers inside the test: a tiny
 * HTTP server for webhooks and a tiny SMTP server (220, EHLO 250, MAIL/RCPT 250, DATA 354,
 * "." 250, QUIT 221) for e-mail. */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <pthread.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include "sched_util.h"
#include "test.h"

struct receiver {
    int fd, port;
    bool smtp;
    int fail_first;     /* HTTP: answer 500 to this many requests first */
    int always_status;  /* HTTP: answer this to every request (0 = 200 after fail_first) */
    pthread_t thread;
    pthread_mutex_t lock;
    int n_got;
    char *got[16];      /* each request / message as received */
};

static int read_line(int fd, char *buf, size_t size)
{
    size_t n = 0;
    while (n + 1 < size) {
        ssize_t r = read(fd, buf + n, 1);
        if (r <= 0)
            return -1;
        if (buf[n++] == '\n')
            break;
    }
    buf[n] = '\0';
    return (int)n;
}

static void say(int fd, const char *s)
{
    if (write(fd, s, strlen(s)) < 0)
        return;
}

static void record(struct receiver *r, char *text)
{
    pthread_mutex_lock(&r->lock);
    if (r->n_got < 16)
        r->got[r->n_got++] = text;
    else
        free(text);
    pthread_mutex_unlock(&r->lock);
}

static void serve_http(struct receiver *r, int fd, int nth)
{
    char line[4096], *req = NULL;
    size_t len = 0;
    long content_length = 0;
    FILE *m = open_memstream(&req, &len);
    while (read_line(fd, line, sizeof line) > 0) {
        fputs(line, m);
        if (strncasecmp(line, "Content-Length:", 15) == 0)
            content_length = atol(line + 15);
        if (strcmp(line, "\r\n") == 0)
            break;
    }
    char *body = calloc(1, (size_t)content_length + 1);
    long got = 0;
    while (got < content_length) {
        ssize_t n = read(fd, body + got, (size_t)(content_length - got));
        if (n <= 0)
            break;
        got += n;
    }
    fputs(body, m);
    fclose(m);
    free(body);
    record(r, req);
    int status = r->always_status ? r->always_status : nth < r->fail_first ? 500 : 200;
    char answer[200];
    snprintf(answer, sizeof answer, "HTTP/1.1 %d X\r\nContent-Length: 2\r\nConnection: close\r\n\r\nok", status);
    say(fd, answer);
}

static void serve_smtp(struct receiver *r, int fd)
{
    char line[4096], *msg = NULL;
    size_t len = 0;
    FILE *m = open_memstream(&msg, &len);
    say(fd, "220 fake.test ESMTP\r\n");
    while (read_line(fd, line, sizeof line) > 0) {
        fputs(line, m);
        if (strncasecmp(line, "EHLO", 4) == 0 || strncasecmp(line, "HELO", 4) == 0) {
            say(fd, "250 fake.test\r\n");
        } else if (strncasecmp(line, "MAIL FROM", 9) == 0 || strncasecmp(line, "RCPT TO", 7) == 0 ||
                   strncasecmp(line, "RSET", 4) == 0 || strncasecmp(line, "NOOP", 4) == 0) {
            say(fd, "250 ok\r\n");
        } else if (strncasecmp(line, "DATA", 4) == 0) {
            say(fd, "354 go ahead\r\n");
            while (read_line(fd, line, sizeof line) > 0 && strcmp(line, ".\r\n") != 0)
                fputs(line, m);
            say(fd, "250 queued\r\n");
        } else if (strncasecmp(line, "QUIT", 4) == 0) {
            say(fd, "221 bye\r\n");
            break;
        } else {
            say(fd, "502 not implemented\r\n");
        }
    }
    fclose(m);
    record(r, msg);
}

static void *receiver_loop(void *arg)
{
    struct receiver *r = arg;
    for (int nth = 0;; nth++) {
        int fd = accept(r->fd, NULL, NULL);
        if (fd < 0)
            return NULL;
        if (r->smtp)
            serve_smtp(r, fd);
        else
            serve_http(r, fd, nth);
        close(fd);
    }
}

static void receiver_start(struct receiver *r, bool smtp)
{
    r->smtp = smtp;
    pthread_mutex_init(&r->lock, NULL);
    r->fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t alen = sizeof a;
    int one = 1;
    setsockopt(r->fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    CHECK(bind(r->fd, (struct sockaddr *)&a, sizeof a) == 0 && listen(r->fd, 16) == 0 &&
          getsockname(r->fd, (struct sockaddr *)&a, &alen) == 0);
    r->port = ntohs(a.sin_port);
    CHECK(pthread_create(&r->thread, NULL, receiver_loop, r) == 0);
}

/* The nth thing received (waits for it); NULL after timeout. */
static const char *received(struct receiver *r, int nth, int timeout_ms)
{
    for (int waited = 0; waited <= timeout_ms; waited += 50) {
        pthread_mutex_lock(&r->lock);
        const char *got = nth < r->n_got ? r->got[nth] : NULL;
        pthread_mutex_unlock(&r->lock);
        if (got)
            return got;
        usleep(50000);
    }
    return NULL;
}

static const char src_secret[] = "S3cret-src-pass";

static void make_instances(struct spec_server *s)
{
    char body[512];
    snprintf(body, sizeof body,
             "{\"name\":\"src\",\"url\":\"http://127.0.0.1:%d\",\"auth\":{\"type\":\"basic\","
             "\"username\":\"admin\",\"password\":\"%s\"}}", spec_free_port(), src_secret);
    cJSON_Delete(su_call(s, "POST", "/api/instances", body, 201));
    cJSON_Delete(su_call(s, "POST", "/api/instances",
                         "{\"name\":\"dst\",\"url\":\"http://127.0.0.1:9\",\"auth\":{\"type\":\"pat\","
                         "\"token\":\"d2pat_notasecretbutstill0123456789abcdef\"}}", 201));
}

static int make_job(struct spec_server *s, const char *name, const char *notify)
{
    char body[2048];
    snprintf(body, sizeof body,
             "{\"name\":\"%s\",\"source\":\"src\",\"target\":\"dst\",\"dataSets\":[\"BfMAe6Itzgt\"],"
             "\"orgUnits\":[\"ImspTQPwCqd\"],\"periods\":{\"fixed\":[\"202401\"]},\"notify\":%s,"
             "\"retryWindow\":0}", /* the unreachable source fails the run at once */
             name, notify);
    cJSON *j = su_call(s, "POST", "/api/jobs", body, 201);
    int id = (int)su_num(j, "id");
    cJSON_Delete(j);
    return id;
}

/* Runs the job and waits for its notification outcome to be stored; the run as JSON. */
static cJSON *run_and_wait(struct spec_server *s, PGconn *c, int job, bool expect_outcome)
{
    char path[300];
    snprintf(path, sizeof path, "/api/jobs/%d/run", job);
    cJSON *run = su_call(s, "POST", path, "{}", 202);
    int id = (int)su_num(run, "id");
    cJSON_Delete(run);
    su_wait_sql(c, 90000, "failed", "SELECT status FROM runs WHERE id = %d", id);
    if (expect_outcome)
        su_wait_sql(c, 60000, "t", "SELECT notification IS NOT NULL FROM runs WHERE id = %d", id);
    snprintf(path, sizeof path, "/api/runs/%d", id);
    return su_call(s, "GET", path, NULL, 200);
}

TEST_TIMEOUT(a_failed_run_is_announced_by_webhook_and_email, 180)
{
    struct receiver hook = {.fail_first = 1}, smtp = {0};
    receiver_start(&hook, false);
    receiver_start(&smtp, true);
    char smtp_env[64];
    snprintf(smtp_env, sizeof smtp_env, "DHIS2SYNC_SMTP_URL=smtp://127.0.0.1:%d", smtp.port);
    char *env[] = {"DHIS2SYNC_WORKERS=1", "DHIS2SYNC_NOTIFY_RETRY_MS=100", smtp_env,
                   "DHIS2SYNC_SMTP_FROM=sync@moh.example.org",
                   "DHIS2SYNC_PUBLIC_URL=https://sync.moh.example.org/", NULL};
    char *db = spec_new_db();
    struct spec_server s;
    CHECK(spec_server_start(&s, db, env) == 0);
    PGconn *c = su_db(db);
    make_instances(&s);
    char notify[512];
    snprintf(notify, sizeof notify,
             "{\"on\":[\"failed\",\"partial\"],\"webhook\":\"http://127.0.0.1:%d/hooks/sync?token=hook-secret\","
             "\"email\":[\"ops@moh.example.org\",\"dm@moh.example.org\"]}", hook.port);
    int job_id = make_job(&s, "Région Nord", notify);
    char path[64];
    snprintf(path, sizeof path, "/api/jobs/%d", job_id);
    cJSON *job = su_call(&s, "GET", path, NULL, 200);
    CHECK_STR(cJSON_GetStringValue(cJSON_GetArrayItem(cJSON_GetObjectItem(cJSON_GetObjectItem(job, "notify"), "on"), 0)), "failed");
    cJSON_Delete(job);

    cJSON *run = run_and_wait(&s, c, job_id, true);
    int id = (int)su_num(run, "id");
    cJSON *outcome = cJSON_GetObjectItem(run, "notification");
    cJSON *wh = cJSON_GetObjectItem(outcome, "webhook"), *em = cJSON_GetObjectItem(outcome, "email");
    CHECK_STR(su_str(wh, "status"), "delivered");
    CHECK_INT(su_num(wh, "attempts"), 2);   /* the first answer was a 500 */
    CHECK_INT(su_num(wh, "httpStatus"), 200);
    CHECK_STR(su_str(em, "status"), "delivered");
    CHECK_INT(su_num(em, "attempts"), 1);
    CHECK_INT(su_num(em, "recipients"), 2);
    char *stored = cJSON_PrintUnformatted(outcome);
    CHECKF(!strstr(stored, "hook-secret") && !strstr(stored, "127.0.0.1"), "the outcome names the URL: %s", stored);

    /* the webhook: the run, and a link; twice (the 500, then the 200), the same body */
    const char *req = received(&hook, 1, 5000);
    CHECK(req != NULL);
    CHECK_CONTAINS(req, "POST /hooks/sync?token=hook-secret HTTP/1.1");
    CHECK_CONTAINS(req, "Content-Type: application/json");
    cJSON *p = cJSON_Parse(strstr(req, "\r\n\r\n") + 4);
    CHECKF(p != NULL, "webhook body is not JSON: %s", req);
    CHECK_INT(su_num(p, "runId"), id);
    CHECK_STR(su_str(p, "job"), "Région Nord");
    CHECK_STR(su_str(p, "status"), "failed");
    CHECK_STR(su_str(p, "event"), "run.finished");
    CHECK(cJSON_IsObject(cJSON_GetObjectItem(p, "counts")));
    CHECK_INT(su_num(cJSON_GetObjectItem(p, "counts"), "fetched"), 0);
    CHECK_CONTAINS(su_str(p, "error"), "src");
    char link[128];
    snprintf(link, sizeof link, "https://sync.moh.example.org/runs/%d", id);
    CHECK_STR(su_str(p, "link"), link);
    CHECKF(!strstr(req, src_secret), "the webhook carries the source's password: %s", req);

    /* the e-mail, through SMTP */
    const char *mail = received(&smtp, 0, 5000);
    CHECK(mail != NULL);
    CHECK_CONTAINS(mail, "MAIL FROM:<sync@moh.example.org>");
    CHECK_CONTAINS(mail, "RCPT TO:<ops@moh.example.org>");
    CHECK_CONTAINS(mail, "RCPT TO:<dm@moh.example.org>");
    CHECK_CONTAINS(mail, "Subject: =?UTF-8?B?");  /* the job's name is not ASCII */
    CHECK_CONTAINS(mail, "To: ops@moh.example.org,");
    CHECK_CONTAINS(mail, "' finished: failed.");
    CHECK_CONTAINS(mail, "Région Nord");
    CHECK_CONTAINS(mail, link);
    CHECKF(!strstr(mail, src_secret) && !strstr(mail, "hook-secret"), "the e-mail carries a secret: %s", mail);
    cJSON_Delete(p);
    cJSON_Delete(run);
    free(stored);
    PQfinish(c);
    spec_server_stop(&s);
}

TEST_TIMEOUT(notification_failures_are_stored_with_reason_and_attempts, 180)
{
    struct receiver hook = {.always_status = 503};
    receiver_start(&hook, false);
    char *env[] = {"DHIS2SYNC_WORKERS=1", "DHIS2SYNC_NOTIFY_RETRY_MS=100", NULL};
    char *db = spec_new_db();
    struct spec_server s;
    CHECK(spec_server_start(&s, db, env) == 0);
    PGconn *c = su_db(db);
    make_instances(&s);
    char notify[512];
    snprintf(notify, sizeof notify,
             "{\"webhook\":\"http://127.0.0.1:%d/h\",\"email\":[\"ops@example.org\"]}", hook.port);
    int down = make_job(&s, "down", notify);
    /* only successes wanted: a failed run says nothing */
    int quiet = make_job(&s, "quiet", "{\"on\":[\"succeeded\"],\"webhook\":\"http://127.0.0.1:9/\"}");

    cJSON *run = run_and_wait(&s, c, down, true);
    cJSON *outcome = cJSON_GetObjectItem(run, "notification");
    cJSON *wh = cJSON_GetObjectItem(outcome, "webhook"), *em = cJSON_GetObjectItem(outcome, "email");
    CHECK_STR(su_str(wh, "status"), "failed");
    CHECK_INT(su_num(wh, "attempts"), 3);
    CHECK_INT(su_num(wh, "httpStatus"), 503);
    CHECK_CONTAINS(su_str(wh, "error"), "HTTP 503");
    CHECK(received(&hook, 2, 1000) != NULL);
    CHECK_STR(su_str(em, "status"), "failed");
    CHECK_CONTAINS(su_str(em, "error"), "DHIS2SYNC_SMTP_URL");
    cJSON_Delete(run);

    run = run_and_wait(&s, c, quiet, false);
    int id = (int)su_num(run, "id");
    /* one worker thread: once a later run has its outcome, the quiet one's turn has passed */
    cJSON_Delete(run_and_wait(&s, c, down, true));
    CHECK_INT(su_sql_int(c, "SELECT count(*) FROM runs WHERE id = %d AND notification IS NULL", id), 1);
    cJSON_Delete(run);
    PQfinish(c);
    spec_server_stop(&s);
}

TEST(notify_settings_are_validated_naming_the_field)
{
    struct spec_server s;
    CHECK(spec_server_start(&s, spec_new_db(), (char *const[]){"DHIS2SYNC_WORKERS=0", NULL}) == 0);
    make_instances(&s);
    make_job(&s, "j", "{\"webhook\":\"https://hooks.example.org/x\"}");
    struct {
        const char *notify, *field;
    } cases[] = {
        {"\"yes\"", "notify"},
        {"{\"on\":[\"broken\"]}", "notify.on"},
        {"{\"on\":[]}", "notify.on"},
        {"{\"on\":\"failed\"}", "notify.on"},
        {"{\"webhook\":\"ftp://x.org/\"}", "notify.webhook"},
        {"{\"webhook\":\"https://\"}", "notify.webhook"},
        {"{\"webhook\":\"https://x.org/a b\"}", "notify.webhook"},
        {"{\"email\":\"ops@example.org\"}", "notify.email"},
        {"{\"email\":[\"not-an-address\"]}", "notify.email"},
        {"{\"email\":[\"a@b.org>\\r\\nRCPT TO:<x@y.org\"]}", "notify.email"},
        {"{\"email\":[\"Ops <ops@example.org>\"]}", "notify.email"},
        {"{\"slack\":\"#ops\"}", "notify"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        char body[512];
        snprintf(body, sizeof body, "{\"notify\":%s}", cases[i].notify);
        cJSON *e = su_call(&s, "PATCH", "/api/jobs/j", body, 422);
        const char *field = su_str(cJSON_GetObjectItem(e, "detail"), "field");
        CHECKF(field && strcmp(field, cases[i].field) == 0, "case %zu (%s): expected field %s, saw %s (%s)",
               i, cases[i].notify, cases[i].field, field ? field : "(none)", su_str(e, "error"));
        cJSON_Delete(e);
    }
    cJSON *j = su_call(&s, "PATCH", "/api/jobs/j", "{\"notify\":{\"on\":[\"partial\"],\"email\":[\"a@b.org\"]}}", 200);
    cJSON *n = cJSON_GetObjectItem(j, "notify");
    CHECK_INT(cJSON_GetArraySize(cJSON_GetObjectItem(n, "on")), 1);
    CHECK_STR(cJSON_GetStringValue(cJSON_GetArrayItem(cJSON_GetObjectItem(n, "email"), 0)), "a@b.org");
    cJSON_Delete(j);
    j = su_call(&s, "PATCH", "/api/jobs/j", "{\"notify\":null}", 200);
    CHECK(cJSON_IsNull(cJSON_GetObjectItem(j, "notify")));
    cJSON_Delete(j);
}

TEST_TIMEOUT(the_run_command_notifies_too, 180)
{
    struct receiver hook = {0};
    receiver_start(&hook, false);
    char *db = spec_new_db();
    struct spec_server s;
    CHECK(spec_server_start(&s, db, (char *const[]){"DHIS2SYNC_WORKERS=0", NULL}) == 0);
    PGconn *c = su_db(db);
    make_instances(&s);
    char notify[256];
    snprintf(notify, sizeof notify, "{\"webhook\":\"http://127.0.0.1:%d/cli\"}", hook.port);
    make_job(&s, "by-hand", notify);
    /* `dhis2sync run by-hand` in the server's directory, against its database */
    char *bin = spec_bin("dhis2sync"), *dburl = NULL, cwd[4096];
    CHECK(asprintf(&dburl, "DATABASE_URL=%s", db) > 0);
    char *env[] = {dburl, "DHIS2SYNC_SECRET_KEY=spec-secret-key-0123456789", "DHIS2SYNC_NOTIFY_RETRY_MS=100", NULL};
    char *argv[] = {bin, "run", "by-hand", NULL};
    char *out = NULL;
    CHECK(getcwd(cwd, sizeof cwd) && chdir(s.dir) == 0);
    int status = spec_run(argv, env, NULL, &out);
    CHECK(chdir(cwd) == 0);
    CHECK_INT(status, 1);
    CHECK_CONTAINS(out, "\"status\" : \"failed\"");
    const char *req = received(&hook, 0, 5000);
    CHECK(req != NULL);
    CHECK_CONTAINS(req, "POST /cli HTTP/1.1");
    CHECK_CONTAINS(req, "\"trigger\":\"cli\"");
    CHECK_STR(su_sql(c, "SELECT notification->'webhook'->>'status' FROM runs"), "delivered");
    free(out);
    free(bin);
    free(dburl);
    PQfinish(c);
    spec_server_stop(&s);
}
