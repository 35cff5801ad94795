/* Secrets stay where they were entered: an instance's stored credentials never go to a host
 * they were not entered for (not after a PATCH of its url, not through a redirect). */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <pthread.h>
#include <sys/socket.h>
#include <unistd.h>

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
