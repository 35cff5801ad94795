#include "http.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <microhttpd.h>
#include <netinet/in.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

#include "app.h"
#include "auth.h"
#include "log.h"
#include "metrics.h"

struct http_server {
    struct MHD_Daemon *daemon;
    struct app *app;
};

/* Per-request state kept by MHD between calls of the access handler. */
struct request_ctx {
    char *body;
    size_t len, cap;
    bool too_large;
};

static const char *const security_headers[][2] = {
    {"X-Content-Type-Options", "nosniff"},
    {"X-Frame-Options", "DENY"},
    {"Referrer-Policy", "no-referrer"},
};

static const char content_security_policy[] =
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "connect-src 'self'; object-src 'none'; base-uri 'none'; frame-ancestors 'none'; "
    "form-action 'self'";

static bool is_loopback(const struct sockaddr *sa)
{
    if (sa->sa_family == AF_INET)
        return (ntohl(((const struct sockaddr_in *)sa)->sin_addr.s_addr) >> 24) == 127;
    if (sa->sa_family == AF_INET6) {
        const struct in6_addr *a = &((const struct sockaddr_in6 *)sa)->sin6_addr;
        return IN6_IS_ADDR_LOOPBACK(a) || (IN6_IS_ADDR_V4MAPPED(a) && a->s6_addr[12] == 127);
    }
    return false;
}

static const struct sockaddr *peer_of(const struct http_req *rq)
{
    const union MHD_ConnectionInfo *ci =
        MHD_get_connection_info(rq->conn, MHD_CONNECTION_INFO_CLIENT_ADDRESS);
    return ci ? ci->client_addr : NULL;
}

void http_peer_address(const struct http_req *rq, char *out, size_t size)
{
    snprintf(out, size, "unknown");
    const struct sockaddr *sa = peer_of(rq);
    if (sa && sa->sa_family == AF_INET)
        inet_ntop(AF_INET, &((const struct sockaddr_in *)sa)->sin_addr, out, (socklen_t)size);
    else if (sa && sa->sa_family == AF_INET6)
        inet_ntop(AF_INET6, &((const struct sockaddr_in6 *)sa)->sin6_addr, out, (socklen_t)size);
}

bool http_from_trusted_proxy(const struct app *app, const struct http_req *rq)
{
    const struct sockaddr *sa = peer_of(rq);
    if (!sa)
        return false;
    if (is_loopback(sa))
        return true;
    char peer[INET6_ADDRSTRLEN];
    http_peer_address(rq, peer, sizeof peer);
    size_t len = strlen(peer);
    for (const char *p = app->cfg.trusted_proxies; p && *p;) {
        p += strspn(p, " ,");
        size_t n = strcspn(p, " ,");
        if (n == len && strncmp(p, peer, n) == 0)
            return true;
        p += n;
    }
    return false;
}

const char *http_query(const struct http_req *rq, const char *name)
{
    return MHD_lookup_connection_value(rq->conn, MHD_GET_ARGUMENT_KIND, name);
}

const char *http_header(const struct http_req *rq, const char *name)
{
    return MHD_lookup_connection_value(rq->conn, MHD_HEADER_KIND, name);
}

void http_add_header(struct http_resp *rs, const char *name, const char *value)
{
    if (rs->n_extra >= (int)(sizeof rs->extra_headers / sizeof rs->extra_headers[0]))
        return;
    char *h = NULL;
    if (asprintf(&h, "%s: %s", name, value) >= 0)
        rs->extra_headers[rs->n_extra++] = h;
}

void http_reply_json(struct http_resp *rs, int status, cJSON *json)
{
    free(rs->body);
    rs->body = json ? cJSON_PrintUnformatted(json) : NULL;
    cJSON_Delete(json);
    if (!rs->body) {
        rs->status = 500;
        rs->body = strdup("{\"error\":\"out of memory\",\"detail\":null}");
    } else {
        rs->status = status;
    }
    rs->len = rs->body ? strlen(rs->body) : 0;
    rs->content_type = "application/json";
}

void http_reply_json_text(struct http_resp *rs, int status, const char *json)
{
    free(rs->body);
    rs->body = strdup(json ? json : "null");
    rs->status = rs->body ? status : 500;
    rs->len = rs->body ? strlen(rs->body) : 0;
    rs->content_type = "application/json";
}

static int query_long(const struct http_req *rq, const char *name, long fallback, long min,
                      long max, long *out)
{
    const char *v = http_query(rq, name);
    if (!v || !*v) {
        *out = fallback;
        return 0;
    }
    char *end;
    long n = strtol(v, &end, 10);
    if (*end || n < min || n > max)
        return -1;
    *out = n;
    return 0;
}

int http_paging(const struct http_req *rq, struct http_resp *rs, long *page, long *page_size)
{
    if (query_long(rq, "page", 1, 1, 1000000000L, page) != 0) {
        http_reply_error(rs, 400, NULL, "page must be a whole number from 1");
        return -1;
    }
    if (query_long(rq, "pageSize", 50, 1, 1000, page_size) != 0) {
        http_reply_error(rs, 400, NULL, "pageSize must be a whole number from 1 to 1000");
        return -1;
    }
    return 0;
}

void http_reply_error(struct http_resp *rs, int status, cJSON *detail, const char *fmt, ...)
{
    char msg[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    cJSON *o = cJSON_CreateObject();
    if (o) {
        cJSON_AddStringToObject(o, "error", msg);
        cJSON_AddItemToObject(o, "detail", detail ? detail : cJSON_CreateNull());
    } else {
        cJSON_Delete(detail);
    }
    http_reply_json(rs, status, o);
}

void http_reply_err(struct http_resp *rs, const struct err *e)
{
    int status;
    switch (e->code) {
    case ERR_INPUT: status = 422; break;
    case ERR_NOT_FOUND: status = 404; break;
    case ERR_CONFLICT: status = 409; break;
    case ERR_AUTH: status = 401; break;
    case ERR_FORBIDDEN: status = 403; break;
    case ERR_TOO_LARGE: status = 413; break;
    case ERR_DB: status = 503; break;
    case ERR_NET: status = 502; break;
    default: status = 500; break;
    }
    cJSON *detail = NULL;
    if (e->field[0] && (detail = cJSON_CreateObject()))
        cJSON_AddStringToObject(detail, "field", e->field);
    http_reply_error(rs, status, detail, "%s", e->msg[0] ? e->msg : "internal error");
}

cJSON *http_body_json(const struct http_req *rq, struct http_resp *rs)
{
    const char *end = NULL;
    cJSON *json = cJSON_ParseWithLengthOpts(rq->body, rq->body_len, &end, 0);
    if (!json) {
        long offset = end ? (long)(end - rq->body) : 0;
        cJSON *detail = cJSON_CreateObject();
        cJSON_AddNumberToObject(detail, "offset", (double)offset);
        http_reply_error(rs, 400, detail, "the request body is not valid JSON (near byte %ld)", offset);
        return NULL;
    }
    if (!cJSON_IsObject(json)) {
        cJSON_Delete(json);
        http_reply_error(rs, 400, NULL, "the request body must be a JSON object");
        return NULL;
    }
    return json;
}

/* "/api/jobs/{}/run" against "/api/jobs/7/run": 1 and params = {"7"}. */
static int route_matches(const char *pattern, const char *path, struct http_req *rq)
{
    int n = 0;
    while (*pattern && *path) {
        if (pattern[0] == '{' && pattern[1] == '}') {
            size_t seg = strcspn(path, "/");
            if (seg == 0 || seg >= sizeof rq->params[0] || n >= HTTP_MAX_PARAMS)
                return 0;
            memcpy(rq->params[n], path, seg);
            rq->params[n][seg] = '\0';
            n++;
            path += seg;
            pattern += 2;
        } else if (*pattern++ != *path++) {
            return 0;
        }
    }
    if (*pattern || *path)
        return 0;
    rq->n_params = n;
    return 1;
}

static const char *content_type_for(const char *path)
{
    static const char *const types[][2] = {
        {".html", "text/html; charset=utf-8"}, {".js", "text/javascript; charset=utf-8"},
        {".mjs", "text/javascript; charset=utf-8"}, {".css", "text/css; charset=utf-8"},
        {".json", "application/json"}, {".svg", "image/svg+xml"}, {".png", "image/png"},
        {".ico", "image/x-icon"}, {".woff2", "font/woff2"}, {".txt", "text/plain; charset=utf-8"},
        {".map", "application/json"},
    };
    const char *dot = strrchr(path, '.');
    for (size_t i = 0; dot && i < sizeof types / sizeof types[0]; i++)
        if (strcmp(dot, types[i][0]) == 0)
            return types[i][1];
    return "application/octet-stream";
}

static int read_whole(const char *path, char **out, size_t *len)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return -1;
    struct stat st;
    char *buf = NULL;
    int rc = -1;
    if (fstat(fd, &st) == 0 && S_ISREG(st.st_mode) && (buf = malloc((size_t)st.st_size + 1))) {
        size_t got = 0;
        ssize_t n;
        while (got < (size_t)st.st_size && (n = read(fd, buf + got, (size_t)st.st_size - got)) > 0)
            got += (size_t)n;
        if (got == (size_t)st.st_size) {
            buf[got] = '\0';
            *out = buf;
            *len = got;
            buf = NULL;
            rc = 0;
        }
    }
    free(buf);
    close(fd);
    return rc;
}

int http_reply_file(struct http_resp *rs, const char *file)
{
    char *body;
    size_t len;
    if (read_whole(file, &body, &len) != 0)
        return -1;
    free(rs->body);
    rs->status = 200;
    rs->body = body;
    rs->len = len;
    rs->content_type = content_type_for(file);
    return 0;
}

/* The web admin: a file of web/ when the path names one, else index.html for page routes
 * (paths without an extension), so the single-page app can route in the browser. */
static void serve_static(struct app *app, const char *path, struct http_resp *rs)
{
    if (strstr(path, "..") || strchr(path, '\\')) {
        http_reply_error(rs, 404, NULL, "not found");
        return;
    }
    char file[4096];
    const char *last = strrchr(path, '/');
    int is_page = !strchr(last ? last : path, '.');
    if (is_page)
        snprintf(file, sizeof file, "%s/index.html", app->cfg.web_dir);
    else
        snprintf(file, sizeof file, "%s%s", app->cfg.web_dir, path);
    if (http_reply_file(rs, file) != 0) {
        http_reply_error(rs, 404, NULL, "not found: %s", path);
        return;
    }
    /* pages must always be fresh (they name the current assets); assets may be revalidated */
    http_add_header(rs, "Cache-Control", is_page ? "no-store" : "no-cache");
}

static void dispatch(struct app *app, struct http_req *rq, struct http_resp *rs)
{
    int path_matched = 0, path_needs_auth = 0;
    for (const struct route *r = http_routes; r->pattern; r++) {
        if (!route_matches(r->pattern, rq->path, rq))
            continue;
        path_matched = 1;
        path_needs_auth |= r->auth == ROUTE_AUTH;
        if (strcmp(r->method, rq->method) != 0 &&
            !(strcmp(r->method, "GET") == 0 && strcmp(rq->method, "HEAD") == 0))
            continue;
        if (r->auth == ROUTE_AUTH) {
            struct err e = {0};
            if (auth_check(app, rq, &e) != 0) {
                http_reply_err(rs, &e);
                if (e.code == ERR_AUTH)
                    http_add_header(rs, "WWW-Authenticate", "Bearer realm=\"dhis2sync\"");
                return;
            }
        }
        r->handler(app, rq, rs);
        return;
    }
    struct err e = {0};
    if (path_matched) {
        /* who may call comes before what they may call: no route list for strangers */
        if (path_needs_auth && auth_check(app, rq, &e) != 0)
            http_reply_err(rs, &e);
        else
            http_reply_error(rs, 405, NULL, "method %s is not allowed on %s", rq->method, rq->path);
    } else if (strncmp(rq->path, "/api/", 5) == 0 || strcmp(rq->path, "/api") == 0) {
        /* unknown API paths look the same as known ones to a caller without credentials */
        if (auth_check(app, rq, &e) != 0)
            http_reply_err(rs, &e);
        else
            http_reply_error(rs, 404, NULL, "no such API route: %s %s", rq->method, rq->path);
    } else if (strcmp(rq->method, "GET") == 0 || strcmp(rq->method, "HEAD") == 0) {
        serve_static(app, rq->path, rs);
    } else {
        http_reply_error(rs, 405, NULL, "method %s is not allowed on %s", rq->method, rq->path);
    }
}

static enum MHD_Result send_response(struct MHD_Connection *conn, struct http_resp *rs,
                                     const char *path)
{
    struct MHD_Response *resp = MHD_create_response_from_buffer(
        rs->len, rs->body ? rs->body : (char *)"", rs->body ? MHD_RESPMEM_MUST_FREE : MHD_RESPMEM_PERSISTENT);
    rs->body = NULL;
    if (!resp)
        return MHD_NO;
    MHD_add_response_header(resp, "Content-Type", rs->content_type ? rs->content_type : "application/json");
    for (size_t i = 0; i < sizeof security_headers / sizeof security_headers[0]; i++)
        MHD_add_response_header(resp, security_headers[i][0], security_headers[i][1]);
    MHD_add_response_header(resp, "Content-Security-Policy", content_security_policy);
    int has_cache_control = 0;
    for (int i = 0; i < rs->n_extra; i++) {
        char *h = rs->extra_headers[i];
        char *colon = strchr(h, ':');
        if (colon) {
            *colon = '\0';
            has_cache_control |= strcasecmp(h, "Cache-Control") == 0;
            MHD_add_response_header(resp, h, colon + 2);
        }
        free(h);
    }
    rs->n_extra = 0;
    if (!has_cache_control && strncmp(path, "/api/", 5) == 0)
        MHD_add_response_header(resp, "Cache-Control", "no-store");
    enum MHD_Result ok = MHD_queue_response(conn, (unsigned)rs->status, resp);
    MHD_destroy_response(resp);
    return ok;
}

static enum MHD_Result reply_now(struct MHD_Connection *conn, int status, const char *path,
                                 const char *fmt, ...) __attribute__((format(printf, 4, 5)));
static enum MHD_Result reply_now(struct MHD_Connection *conn, int status, const char *path,
                                 const char *fmt, ...)
{
    char msg[256];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    struct http_resp rs = {0};
    http_reply_error(&rs, status, NULL, "%s", msg);
    return send_response(conn, &rs, path);
}

static enum MHD_Result on_request(void *cls, struct MHD_Connection *conn, const char *url,
                                  const char *method, const char *version, const char *upload,
                                  size_t *upload_size, void **con_cls)
{
    (void)version;
    struct http_server *s = cls;
    size_t cap = s->app->cfg.max_body;
    struct request_ctx *ctx = *con_cls;
    if (!ctx) {
        /* the cap is decided from Content-Length before anything else looks at the request */
        const char *cl = MHD_lookup_connection_value(conn, MHD_HEADER_KIND, "Content-Length");
        if (cl && strtoull(cl, NULL, 10) > cap) {
            metrics_http_request(method, 413);
            return reply_now(conn, 413, url, "request body over the %zu-byte limit", cap);
        }
        if (!(ctx = calloc(1, sizeof *ctx)))
            return MHD_NO;
        *con_cls = ctx;
        return MHD_YES;
    }
    if (*upload_size) {
        if (!ctx->too_large && ctx->len + *upload_size > cap) {
            ctx->too_large = true;
            free(ctx->body);
            ctx->body = NULL;
        }
        if (!ctx->too_large) {
            if (ctx->len + *upload_size + 1 > ctx->cap) {
                size_t want = (ctx->len + *upload_size + 1) * 2;
                char *grown = realloc(ctx->body, want > cap + 1 ? cap + 1 : want);
                if (!grown)
                    return MHD_NO;
                ctx->body = grown;
                ctx->cap = want > cap + 1 ? cap + 1 : want;
            }
            memcpy(ctx->body + ctx->len, upload, *upload_size);
            ctx->len += *upload_size;
        }
        *upload_size = 0;
        return MHD_YES;
    }
    if (ctx->too_large) {
        metrics_http_request(method, 413);
        return reply_now(conn, 413, url, "request body over the %zu-byte limit", cap);
    }

    struct http_req rq = {.conn = conn, .method = method, .path = url,
                          .body = ctx->body ? ctx->body : "", .body_len = ctx->len};
    if (ctx->body)
        ctx->body[ctx->len] = '\0';
    const char *proto = MHD_lookup_connection_value(conn, MHD_HEADER_KIND, "X-Forwarded-Proto");
    rq.secure = proto && strcasecmp(proto, "https") == 0 && http_from_trusted_proxy(s->app, &rq);
    struct http_resp rs = {.status = 500};
    dispatch(s->app, &rq, &rs);
    log_debug("%s %s -> %d", method, url, rs.status);
    metrics_http_request(method, rs.status);
    return send_response(conn, &rs, url);
}

static void on_completed(void *cls, struct MHD_Connection *conn, void **con_cls,
                         enum MHD_RequestTerminationCode toe)
{
    (void)cls;
    (void)conn;
    (void)toe;
    struct request_ctx *ctx = *con_cls;
    if (ctx) {
        free(ctx->body);
        free(ctx);
        *con_cls = NULL;
    }
}

int http_start(struct http_server **out, struct app *app, struct err *e)
{
    struct http_server *s = calloc(1, sizeof *s);
    if (!s)
        return err_set(e, ERR_INTERNAL, "out of memory");
    s->app = app;
    s->daemon = MHD_start_daemon(
        MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_EPOLL | MHD_USE_ITC | MHD_USE_ERROR_LOG,
        (uint16_t)app->cfg.port, NULL, NULL, on_request, s,
        MHD_OPTION_THREAD_POOL_SIZE, (unsigned)app->cfg.http_threads,
        MHD_OPTION_CONNECTION_TIMEOUT, (unsigned)60,
        MHD_OPTION_CONNECTION_LIMIT, (unsigned)512,
        MHD_OPTION_CONNECTION_MEMORY_LIMIT, (size_t)(256 * 1024),
        MHD_OPTION_NOTIFY_COMPLETED, on_completed, s,
        MHD_OPTION_END);
    if (!s->daemon) {
        free(s);
        return err_set(e, ERR_INTERNAL, "cannot listen on port %d (in use, or not allowed)",
                       app->cfg.port);
    }
    *out = s;
    return 0;
}

void http_stop(struct http_server *s)
{
    if (!s)
        return;
    /* stop accepting first; MHD_stop_daemon then waits for the requests in flight */
    MHD_quiesce_daemon(s->daemon);
    MHD_stop_daemon(s->daemon);
    free(s);
}
