/* The HTTP front door from outside: /health/ (the earlier app's URL) is /health, HEAD included,
 * a request is answered from its headers alone, before its body is sent, whenever the caller
 * is not allowed to send one, and a login held back by the throttle is not left hanging by a
 * shutdown. */
#include <arpa/inet.h>
#include <libpq-fe.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <sys/wait.h>
#include <unistd.h>

#include "harness.h"
#include "test.h"

/* Sends request (a whole head, maybe no body) on a fresh connection and returns everything
 * the server sends until it closes the connection (caller frees). A server that waits for a
 * body never sent closes only at its 60-second idle timeout, and with nothing said. */
static char *raw_exchange(int port, const char *request)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    CHECK(fd >= 0);
    struct sockaddr_in to = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
    to.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    CHECK(connect(fd, (struct sockaddr *)&to, sizeof to) == 0);
    struct timeval limit = {.tv_sec = 90};
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &limit, sizeof limit);
    CHECK(write(fd, request, strlen(request)) == (ssize_t)strlen(request));
    size_t len = 0, cap = 4096;
    char *got = malloc(cap);
    CHECK(got);
    ssize_t n;
    while ((n = read(fd, got + len, cap - len - 1)) > 0) {
        len += (size_t)n;
        if (len + 1 == cap)
            CHECK((got = realloc(got, cap *= 2)));
    }
    got[len] = '\0';
    close(fd);
    return got;
}

/* "POST path" with Content-Length: length and the given extra header lines, body not sent. */
static char *post_without_body(struct spec_server *s, const char *path, long length,
                               const char *extra)
{
    char request[1024];
    snprintf(request, sizeof request,
             "POST %s HTTP/1.1\r\nHost: 127.0.0.1:%d\r\nContent-Type: application/json\r\n"
             "Content-Length: %ld\r\n%s\r\n",
             path, s->port, length, extra);
    return raw_exchange(s->port, request);
}

static void check_status_line(const char *answer, const char *status)
{
    CHECKF(strncmp(answer, status, strlen(status)) == 0,
           "expected an answer starting \"%s\" before the body was sent, saw \"%.300s\"", status,
           answer);
}

TEST(health_with_a_slash_is_health_for_get_and_head)
{
    struct spec_server s;
    CHECK(spec_server_start(&s, spec_new_db(), NULL) == 0);
    char url[128];
    snprintf(url, sizeof url, "%s/health/", s.base);
    struct spec_resp r;
    CHECK(spec_http("GET", url, NULL, NULL, 0, &r) == 0);
    CHECK_INT(r.status, 200);
    CHECK_CONTAINS(r.headers, "Content-Type: application/json");
    cJSON *j = spec_resp_json(&r);
    CHECKF(j, "/health/ answered no JSON: %.200s", r.body);
    CHECK_STR(cJSON_GetStringValue(cJSON_GetObjectItem(j, "db")), "ok");
    cJSON_Delete(j);
    spec_resp_free(&r);
    /* HEAD: the status and the headers, no body */
    const char *paths[] = {"/health", "/health/"};
    for (size_t i = 0; i < 2; i++) {
        char request[256];
        snprintf(request, sizeof request, "HEAD %s HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
                 paths[i]);
        char *answer = raw_exchange(s.port, request);
        check_status_line(answer, "HTTP/1.1 200");
        CHECK_CONTAINS(answer, "Content-Type: application/json");
        const char *end = strstr(answer, "\r\n\r\n");
        CHECKF(end && end[4] == '\0', "HEAD %s sent a body: %s", paths[i], answer);
        free(answer);
    }
    spec_server_stop(&s);
}

TEST(a_caller_without_credentials_is_answered_before_sending_its_body)
{
    struct spec_server s;
    CHECK(spec_server_start(&s, spec_new_db(), NULL) == 0);
    /* 5 MB announced (under the 10 MB cap), none sent: the answer must not wait for them */
    char *answer = post_without_body(&s, "/api/jobs", 5L * 1024 * 1024, "");
    check_status_line(answer, "HTTP/1.1 401");
    CHECK_CONTAINS(answer, "authentication required");
    free(answer);
    answer = post_without_body(&s, "/api/jobs", 5L * 1024 * 1024,
                               "Authorization: Bearer d2s_not-a-token\r\n");
    check_status_line(answer, "HTTP/1.1 401");
    free(answer);
    /* unknown API paths too: a stranger learns nothing and sends nothing */
    answer = post_without_body(&s, "/api/no-such-thing", 5L * 1024 * 1024, "");
    check_status_line(answer, "HTTP/1.1 401");
    free(answer);

    /* a session without its CSRF token: 403, also before the body */
    char url[128];
    snprintf(url, sizeof url, "%s/api/session", s.base);
    const char *json[] = {"Content-Type: application/json", NULL};
    const char *login = "{\"username\":\"admin\",\"password\":\"spec-admin-password\"}";
    struct spec_resp r;
    CHECK(spec_http("POST", url, json, login, strlen(login), &r) == 0);
    CHECKF(r.status == 200, "login: %ld %s", r.status, r.body);
    const char *set = strstr(r.headers, "Set-Cookie: ");
    CHECK(set);
    char cookie[256];
    snprintf(cookie, sizeof cookie, "Cookie: %.*s\r\n", (int)strcspn(set + 12, ";"), set + 12);
    spec_resp_free(&r);
    answer = post_without_body(&s, "/api/jobs", 5L * 1024 * 1024, cookie);
    check_status_line(answer, "HTTP/1.1 403");
    CHECK_CONTAINS(answer, "X-CSRF-Token");
    free(answer);

    /* the public login route takes a small body only: more is 413 at once */
    answer = post_without_body(&s, "/api/session", 5000, "");
    check_status_line(answer, "HTTP/1.1 413");
    free(answer);
    /* and the cap over everything still comes first */
    answer = post_without_body(&s, "/api/jobs", 20L * 1024 * 1024, "");
    check_status_line(answer, "HTTP/1.1 413");
    free(answer);
    /* a chunked body is read to its end, none of it kept, since only then can it be over the
     * cap (413, as foundation_test checks); under the cap, the stranger's answer follows */
    char jobs[128];
    snprintf(jobs, sizeof jobs, "%s/api/jobs", s.base);
    const char *chunked[] = {"Transfer-Encoding: chunked", "Content-Type: application/json", NULL};
    CHECK(spec_http("POST", jobs, chunked, "{}", 2, &r) == 0);
    CHECK_INT(r.status, 401);
    spec_resp_free(&r);
    spec_server_stop(&s);
}

/* Whether the server's log has needle yet. */
static int log_has(const struct spec_server *s, const char *needle)
{
    char *cat[] = {"/bin/cat", (char *)s->log_path, NULL};
    char *log = NULL;
    spec_run(cat, NULL, NULL, &log);
    int found = log && strstr(log, needle);
    free(log);
    return found;
}

TEST(a_shutdown_answers_a_login_held_back_by_the_throttle)
{
    struct spec_server s;
    CHECK(spec_server_start(&s, spec_new_db(), NULL) == 0);
    /* ten recent failures for the name from ten addresses: the next login is held 8 s */
    PGconn *c = PQconnectdb(s.db);
    PGresult *r = PQexec(c, "INSERT INTO login_failures (user_key, address) "
                            "SELECT encode(sha256('ghost'), 'hex'), '198.51.100.' || i "
                            "FROM generate_series(1, 10) i");
    CHECKF(PQresultStatus(r) == PGRES_COMMAND_OK, "%s", PQresultErrorMessage(r));
    PQclear(r);
    PQfinish(c);
    pid_t kid = fork();
    CHECK(kid >= 0);
    if (kid == 0) {
        const char *body = "{\"username\":\"ghost\",\"password\":\"wrong-password\"}";
        char request[512];
        snprintf(request, sizeof request,
                 "POST /api/session HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
                 "Content-Length: %zu\r\nConnection: close\r\n\r\n%s",
                 strlen(body), body);
        char *answer = raw_exchange(s.port, request);
        _exit(strncmp(answer, "HTTP/1.1 401", 12) == 0 ? 0 : 1);
    }
    while (!log_has(&s, "login slowed down by 8000 ms"))
        usleep(50000);
    /* stopping resumes the held login at once: it is answered, and the server exits cleanly */
    spec_server_stop(&s);
    int st;
    CHECK(waitpid(kid, &st, 0) == kid);
    CHECKF(WIFEXITED(st) && WEXITSTATUS(st) == 0, "the held login got no 401 (status 0x%x)", st);
}
