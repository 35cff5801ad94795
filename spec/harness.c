#include "harness.h"

#include <arpa/inet.h>
#include <curl/curl.h>
#include <errno.h>
#include <fcntl.h>
#include <libpq-fe.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "pgembed.h"
#include "test.h"

extern char **environ;

static char tmp_root[PATH_MAX];
static char repo_root[PATH_MAX];
static struct pgembed suite_pg;
static char current_test[128] = "suite";

int spec_suite_setup(void)
{
    if (!getcwd(repo_root, sizeof repo_root))
        return -1;
    snprintf(tmp_root, sizeof tmp_root, "/tmp/dhis2sync-spec-XXXXXX");
    if (!mkdtemp(tmp_root)) {
        perror("mkdtemp");
        return -1;
    }
    chmod(tmp_root, 0755);
    curl_global_init(CURL_GLOBAL_ALL);
    char pgdir[PATH_MAX + 8];
    snprintf(pgdir, sizeof pgdir, "%s/pg", tmp_root);
    struct err e = {0};
    if (pgembed_init(&suite_pg, pgdir, &e) || pgembed_start(&suite_pg, &e)) {
        fprintf(stderr, "suite PostgreSQL: %s\n", e.msg);
        return -1;
    }
    return 0;
}

void spec_suite_teardown(void)
{
    struct err e = {0};
    if (pgembed_stop(&suite_pg, &e))
        fprintf(stderr, "suite PostgreSQL: %s\n", e.msg);
    if (!getenv("SPEC_KEEP")) {
        char *argv[] = {"/bin/rm", "-rf", tmp_root, NULL};
        spec_run(argv, NULL, NULL, NULL);
    }
}

void spec_set_current_test(const char *name)
{
    snprintf(current_test, sizeof current_test, "%s", name);
}

const char *spec_tmp_root(void) { return tmp_root; }

char *spec_test_dir(const char *suffix)
{
    static int seq;
    char *dir = NULL;
    /* short names: a private PostgreSQL's socket path must stay under ~100 bytes */
    if (asprintf(&dir, "%s/%d-%s%d", tmp_root, (int)getpid(), suffix ? suffix : "dir", ++seq) < 0)
        return NULL;
    if (mkdir(dir, 0755) != 0 && errno != EEXIST)
        test_fail(__FILE__, __LINE__, "mkdir %s: %s", dir, strerror(errno));
    return dir;
}

char *spec_bin(const char *name)
{
    const char *build = getenv("DHIS2SYNC_BUILD");
    char *path = NULL;
    if (asprintf(&path, "%s/%s/%s", repo_root, build && *build ? build : "build", name) < 0)
        return NULL;
    return path;
}

char *spec_admin_conninfo(void) { return pgembed_conninfo(&suite_pg, "postgres"); }

char *spec_new_db(void)
{
    static int seq;
    char name[160];
    /* the sequence first: the name is cut to PostgreSQL's length, and must stay unique */
    snprintf(name, sizeof name, "t%d_%d_%s", ++seq, (int)getpid(), current_test);
    for (char *p = name; *p; p++)
        if (!(*p >= 'a' && *p <= 'z') && !(*p >= '0' && *p <= '9'))
            *p = '_';
    name[60] = '\0';
    struct err e = {0};
    if (pgembed_ensure_db(&suite_pg, name, &e))
        test_fail(__FILE__, __LINE__, "creating test database: %s", e.msg);
    return pgembed_conninfo(&suite_pg, name);
}

int spec_free_port(void)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t len = sizeof a;
    if (fd < 0 || bind(fd, (struct sockaddr *)&a, sizeof a) != 0 ||
        getsockname(fd, (struct sockaddr *)&a, &len) != 0)
        test_fail(__FILE__, __LINE__, "no free port: %s", strerror(errno));
    close(fd);
    return ntohs(a.sin_port);
}

static void child_setup(char *const env[], const char *log_path, int out_fd)
{
    /* a suite started in the background (`make test &`) ignores SIGINT and SIGQUIT, and a
     * shell cannot trap a signal ignored when it started: programs under test get the
     * defaults, as from a terminal, so a test can interrupt them as a user would */
    signal(SIGINT, SIG_DFL);
    signal(SIGQUIT, SIG_DFL);
    for (int i = 0; env && env[i]; i++)
        putenv(env[i]);
    if (log_path) {
        int fd = open(log_path, O_WRONLY | O_CREAT | O_APPEND, 0644);
        if (fd >= 0) {
            dup2(fd, STDERR_FILENO);
            if (out_fd < 0)
                dup2(fd, STDOUT_FILENO);
            close(fd);
        }
    }
    if (out_fd >= 0)
        dup2(out_fd, STDOUT_FILENO);
}

pid_t spec_spawn(char *const argv[], char *const env[], const char *log_path)
{
    fflush(NULL);
    pid_t pid = fork();
    if (pid == 0) {
        child_setup(env, log_path, -1);
        int devnull = open("/dev/null", O_RDONLY);
        if (devnull >= 0)
            dup2(devnull, STDIN_FILENO);
        execv(argv[0], argv);
        fprintf(stderr, "exec %s: %s\n", argv[0], strerror(errno));
        _exit(127);
    }
    return pid;
}

int spec_run(char *const argv[], char *const env[], const char *stdin_text, char **out)
{
    int out_pipe[2], in_pipe[2];
    if (pipe(out_pipe) != 0 || pipe(in_pipe) != 0)
        return -1;
    fflush(NULL);
    pid_t pid = fork();
    if (pid == 0) {
        close(out_pipe[0]);
        close(in_pipe[1]);
        dup2(in_pipe[0], STDIN_FILENO);
        child_setup(env, NULL, out_pipe[1]);
        execv(argv[0], argv);
        fprintf(stderr, "exec %s: %s\n", argv[0], strerror(errno));
        _exit(127);
    }
    close(out_pipe[1]);
    close(in_pipe[0]);
    if (stdin_text && write(in_pipe[1], stdin_text, strlen(stdin_text)) < 0)
        perror("write stdin");
    close(in_pipe[1]);
    size_t len = 0, cap = 4096;
    char *buf = malloc(cap);
    ssize_t n;
    while (buf && (n = read(out_pipe[0], buf + len, cap - len - 1)) > 0) {
        len += (size_t)n;
        if (cap - len < 2) {
            char *grown = realloc(buf, cap *= 2);
            if (!grown) {
                free(buf);
                buf = NULL;
            }
            buf = grown;
        }
    }
    close(out_pipe[0]);
    if (buf)
        buf[len] = '\0';
    int status = -1;
    waitpid(pid, &status, 0);
    if (out)
        *out = buf;
    else
        free(buf);
    return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

int spec_stop(pid_t pid, int timeout_ms)
{
    int status = -1;
    kill(pid, SIGTERM);
    for (int waited = 0; waited < timeout_ms; waited += 10) {
        if (waitpid(pid, &status, WNOHANG) == pid)
            return status;
        usleep(10000);
    }
    kill(pid, SIGKILL);
    waitpid(pid, &status, 0);
    return status;
}

struct growbuf {
    char *data;
    size_t len, cap;
};

static size_t collect(char *ptr, size_t size, size_t nmemb, void *userdata)
{
    struct growbuf *b = userdata;
    size_t n = size * nmemb;
    if (b->len + n + 1 > b->cap) {
        /* doubling: answers of hundreds of MB arrive in 16 KB pieces */
        size_t cap = (b->len + n + 1) * 2;
        char *grown = realloc(b->data, cap);
        if (!grown)
            return 0;
        b->data = grown;
        b->cap = cap;
    }
    memcpy(b->data + b->len, ptr, n);
    b->len += n;
    b->data[b->len] = '\0';
    return n;
}

int spec_http(const char *method, const char *url, const char *const headers[], const char *body,
              size_t body_len, struct spec_resp *out)
{
    memset(out, 0, sizeof *out);
    CURL *c = curl_easy_init();
    if (!c)
        return -1;
    struct growbuf b = {0}, h = {0};
    struct curl_slist *hl = NULL;
    for (int i = 0; headers && headers[i]; i++)
        hl = curl_slist_append(hl, headers[i]);
    hl = curl_slist_append(hl, "Expect:");
    curl_easy_setopt(c, CURLOPT_URL, url);
    curl_easy_setopt(c, CURLOPT_CUSTOMREQUEST, method);
    curl_easy_setopt(c, CURLOPT_HTTPHEADER, hl);
    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, collect);
    curl_easy_setopt(c, CURLOPT_WRITEDATA, &b);
    curl_easy_setopt(c, CURLOPT_HEADERFUNCTION, collect);
    curl_easy_setopt(c, CURLOPT_HEADERDATA, &h);
    curl_easy_setopt(c, CURLOPT_TIMEOUT, 60L);
    curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
    /* a large body waits for the server's go-ahead (Expect: 100-continue) however slow the
     * server is: one answered from its headers alone (401, 413) then arrives before the body
     * is sent, not lost to the reset of a connection closed while the body was still coming */
    curl_easy_setopt(c, CURLOPT_EXPECT_100_TIMEOUT_MS, 30000L);
    if (body) {
        curl_easy_setopt(c, CURLOPT_POSTFIELDS, body);
        curl_easy_setopt(c, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)body_len);
    }
    CURLcode rc = curl_easy_perform(c);
    curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &out->status);
    curl_slist_free_all(hl);
    curl_easy_cleanup(c);
    out->body = b.data ? b.data : strdup("");
    out->body_len = b.len;
    out->headers = h.data ? h.data : strdup("");
    return rc == CURLE_OK ? 0 : -1;
}

void spec_resp_free(struct spec_resp *r)
{
    free(r->body);
    free(r->headers);
    memset(r, 0, sizeof *r);
}

cJSON *spec_resp_json(const struct spec_resp *r) { return r->body ? cJSON_Parse(r->body) : NULL; }

int spec_wait_status(const char *url, long status, int timeout_ms)
{
    for (int waited = 0; waited < timeout_ms; waited += 50) {
        struct spec_resp r;
        spec_http("GET", url, NULL, NULL, 0, &r);
        long got = r.status;
        spec_resp_free(&r);
        if (got == status)
            return 0;
        usleep(50000);
    }
    return -1;
}

static void link_from_repo(const char *dir, const char *name)
{
    char from[PATH_MAX * 2], to[PATH_MAX * 2];
    snprintf(from, sizeof from, "%s/%s", repo_root, name);
    snprintf(to, sizeof to, "%s/%s", dir, name);
    if (symlink(from, to) != 0 && errno != EEXIST)
        test_fail(__FILE__, __LINE__, "symlink %s: %s", to, strerror(errno));
}

static struct spec_server *live_servers[16];

static void print_log(const char *path)
{
    char *cat[] = {"/usr/bin/tail", "-n", "60", (char *)path, NULL};
    char *log = NULL;
    spec_run(cat, NULL, NULL, &log);
    fprintf(stderr, "---- last lines of %s\n%s", path, log ? log : "");
    free(log);
}

int spec_server_start(struct spec_server *s, const char *db, char *const env[])
{
    memset(s, 0, sizeof *s);
    s->db = strdup(db);
    s->dir = spec_test_dir("server");
    s->port = spec_free_port();
    snprintf(s->base, sizeof s->base, "http://127.0.0.1:%d", s->port);
    snprintf(s->log_path, sizeof s->log_path, "%s/server.log", s->dir);
    link_from_repo(s->dir, "db");
    link_from_repo(s->dir, "web");
    link_from_repo(s->dir, "scripts");
    char mappings[PATH_MAX * 2];
    snprintf(mappings, sizeof mappings, "%s/mappings", s->dir);
    mkdir(mappings, 0755);

    char *bin = spec_bin("dhis2sync");
    char port[16], *dburl = NULL, *dirvar = NULL;
    snprintf(port, sizeof port, "%d", s->port);
    if (asprintf(&dburl, "DATABASE_URL=%s", db) < 0 || asprintf(&dirvar, "PWD=%s", s->dir) < 0)
        return -1;
    char *base_env[24] = {dburl, "DHIS2SYNC_SECRET_KEY=spec-secret-key-0123456789",
                          "DHIS2SYNC_LOG=debug", "DHIS2SYNC_ADMIN_PASSWORD=spec-admin-password"};
    int n = 4;
    for (int i = 0; env && env[i] && n < 23; i++)
        base_env[n++] = env[i];
    base_env[n] = NULL;

    char cwd[PATH_MAX];
    if (!getcwd(cwd, sizeof cwd) || chdir(s->dir) != 0)
        return -1;
    char *argv[] = {bin, "serve", "--port", port, NULL};
    s->pid = spec_spawn(argv, base_env, s->log_path);
    char *token_argv[] = {bin, "token", "add", "spec", NULL};
    char health[128];
    snprintf(health, sizeof health, "%s/health", s->base);
    int rc = spec_wait_status(health, 200, 30000);
    char *token = NULL;
    if (rc == 0 && spec_run(token_argv, base_env, NULL, &token) == 0 && token) {
        token[strcspn(token, "\r\n")] = '\0';
        snprintf(s->token, sizeof s->token, "%s", token);
    } else {
        rc = -1;
    }
    free(token);
    if (chdir(cwd) != 0)
        rc = -1;
    free(bin);
    free(dburl);
    free(dirvar);
    if (rc != 0) {
        fprintf(stderr, "server did not come up\n");
        print_log(s->log_path);
        return rc;
    }
    for (size_t i = 0; i < sizeof live_servers / sizeof live_servers[0]; i++) {
        if (!live_servers[i]) {
            live_servers[i] = s;
            break;
        }
    }
    return 0;
}


int spec_server_stop(struct spec_server *s)
{
    if (!s->pid)
        return 0;
    int status = spec_stop(s->pid, 20000);
    s->pid = 0;
    for (size_t i = 0; i < sizeof live_servers / sizeof live_servers[0]; i++)
        if (live_servers[i] == s)
            live_servers[i] = NULL;
    /* a clean SIGTERM shutdown exits 0; sanitizer reports (leaks included) make it non-zero */
    if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
        print_log(s->log_path);
        test_fail(__FILE__, __LINE__, "dhis2sync serve did not shut down cleanly (status 0x%x)", status);
    }
    return status;
}

void spec_test_cleanup(void)
{
    for (size_t i = 0; i < sizeof live_servers / sizeof live_servers[0]; i++)
        if (live_servers[i])
            spec_server_stop(live_servers[i]);
}

void spec_login(struct spec_server *s, const char *user, const char *password,
                const char *const extra[], struct spec_resp *out)
{
    char url[256];
    snprintf(url, sizeof url, "%s/api/session", s->base);
    cJSON *o = cJSON_CreateObject();
    cJSON_AddStringToObject(o, "username", user);
    cJSON_AddStringToObject(o, "password", password);
    char *body = cJSON_PrintUnformatted(o);
    cJSON_Delete(o);
    const char *headers[8] = {"Content-Type: application/json"};
    int n = 1;
    for (int i = 0; extra && extra[i] && n < 7; i++)
        headers[n++] = extra[i];
    headers[n] = NULL;
    CHECK(body && spec_http("POST", url, headers, body, strlen(body), out) == 0);
    free(body);
}

int spec_api(struct spec_server *s, const char *method, const char *path, const char *json_body,
             struct spec_resp *out)
{
    char url[1024], auth[200];
    snprintf(url, sizeof url, "%s%s", s->base, path);
    snprintf(auth, sizeof auth, "Authorization: Bearer %s", s->token);
    const char *headers[] = {auth, "Content-Type: application/json", NULL};
    return spec_http(method, url, headers, json_body, json_body ? strlen(json_body) : 0, out);
}
