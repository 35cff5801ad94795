#include "http.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <microhttpd.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "app.h"
#include "deadline.h"
#include "auth.h"
#include "log.h"
#include "metrics.h"

/* Per-request state kept by MHD between calls of the access handler, for a request whose
 * route was chosen (and its caller authenticated) from the headers, or whose answer waits for
 * the end of a chunked body. */
struct request_ctx {
    char *raw_path;             /* the request's path before MHD decoded it; routes match this */
    bool begun;                 /* its headers were taken and its body is being read */
    struct http_req rq;
    const struct route *route;
    /* A chunked body may pass the cap only once it is under way, and that is 413 before
     * anything else (PRODUCT.md): the answer decided from the headers waits while such a body
     * is read and counted, none of it kept. */
    struct http_resp early;
    bool has_early;
    size_t max;                 /* this request's body cap */
    char *body;
    size_t len, cap;
    bool too_large;
    bool held;                  /* suspended for a handler's delay, now or before */
    long long wake_ms;          /* while suspended: when to resume */
    struct request_ctx *next_sleeper;
};

struct http_server {
    struct MHD_Daemon *daemon;
    struct app *app;
    /* handlers' delays: suspended connections, resumed by the waker thread when due */
    pthread_t waker;
    pthread_mutex_t lock;
    pthread_cond_t changed;
    struct request_ctx *sleepers;
    int held;                   /* requests suspended at some point and not yet completed */
    bool stopping;
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
    cJSON *list = detail && e->fields && e->fields->n ? cJSON_AddArrayToObject(detail, "errors") : NULL;
    for (int i = 0; list && i < e->fields->n; i++) {
        cJSON *one = cJSON_CreateObject();
        if (one && cJSON_AddItemToArray(list, one)) {
            cJSON_AddStringToObject(one, "field", e->fields->v[i].field);
            cJSON_AddStringToObject(one, "message", e->fields->v[i].msg);
        } else {
            cJSON_Delete(one);
        }
    }
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

static int hex_digit(char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    c = (char)(c | 0x20);
    return c >= 'a' && c <= 'f' ? c - 'a' + 10 : -1;
}

/* A raw path segment, percent-decoded into out: 1, 0 when it does not fit, -1 when it is not
 * valid percent-encoding or decodes to a NUL byte. */
static int segment_decode(const char *seg, size_t len, char *out, size_t size)
{
    size_t n = 0;
    for (size_t i = 0; i < len; i++) {
        int c = (unsigned char)seg[i];
        if (c == '%') {
            int hi = i + 2 < len ? hex_digit(seg[i + 1]) : -1;
            int lo = hi >= 0 ? hex_digit(seg[i + 2]) : -1;
            if (lo < 0 || (hi == 0 && lo == 0))
                return -1;
            c = hi * 16 + lo;
            i += 2;
        }
        if (n + 1 >= size)
            return 0;
        out[n++] = (char)c;
    }
    out[n] = '\0';
    return 1;
}

/* "/api/jobs/{}/run" against the raw (still percent-encoded) path "/api/jobs/a%2Fb/run": 1 and
 * params = {"a/b"}; -1 when the shape matches but a segment is not valid percent-encoding.
 * Matching before decoding is what lets a name hold a '/'. */
static int route_matches(const char *pattern, const char *path, struct http_req *rq)
{
    int n = 0, bad = 0;
    while (*pattern && *path) {
        if (pattern[0] == '{' && pattern[1] == '}') {
            size_t seg = strcspn(path, "/");
            if (seg == 0 || n >= HTTP_MAX_PARAMS)
                return 0;
            int ok = segment_decode(path, seg, rq->params[n], sizeof rq->params[n]);
            if (ok == 0)
                return 0;
            bad |= ok < 0;
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
    return bad ? -1 : 1;
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

int http_read_file(const char *path, char **out, size_t *len)
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
    if (http_read_file(file, &body, &len) != 0)
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

/* Authenticates rq for a route that needs it; on failure rs holds the answer. */
static bool authenticated(struct app *app, struct http_req *rq, struct http_resp *rs)
{
    struct err e = {0};
    if (auth_check(app, rq, &e) == 0)
        return true;
    http_reply_err(rs, &e);
    if (e.code == ERR_AUTH)
        http_add_header(rs, "WWW-Authenticate", "Bearer realm=\"dhis2sync\"");
    return false;
}

/* Decides from the request line and headers alone: 0 and *route when a handler will answer
 * once the body is in, 1 when rs already holds the whole answer (and no body is read). */
static int route_request(struct app *app, struct http_req *rq, const char *raw_path,
                         struct http_resp *rs, const struct route **route)
{
    int path_matched = 0, path_needs_auth = 0;
    for (const struct route *r = http_routes; r->pattern; r++) {
        int m = route_matches(r->pattern, raw_path, rq);
        if (!m)
            continue;
        path_matched = 1;
        path_needs_auth |= r->auth == ROUTE_AUTH;
        if (strcmp(r->method, rq->method) != 0 &&
            !(strcmp(r->method, "GET") == 0 && strcmp(rq->method, "HEAD") == 0))
            continue;
        if (r->auth == ROUTE_AUTH && !authenticated(app, rq, rs))
            return 1;
        if (m < 0) {
            http_reply_error(rs, 400, NULL, "a name in the path is not valid percent-encoding "
                                            "(%%XX, two hex digits, not %%00)");
            return 1;
        }
        *route = r;
        return 0;
    }
    if (path_matched) {
        /* who may call comes before what they may call: no route list for strangers */
        if (!path_needs_auth || authenticated(app, rq, rs))
            http_reply_error(rs, 405, NULL, "method %s is not allowed on %s", rq->method, rq->path);
    } else if (strncmp(rq->path, "/api/", 5) == 0 || strcmp(rq->path, "/api") == 0) {
        /* unknown API paths look the same as known ones to a caller without credentials */
        if (authenticated(app, rq, rs))
            http_reply_error(rs, 404, NULL, "no such API route: %s %s", rq->method, rq->path);
    } else if (strcmp(rq->method, "GET") == 0 || strcmp(rq->method, "HEAD") == 0) {
        serve_static(app, rq->path, rs);
    } else {
        http_reply_error(rs, 405, NULL, "method %s is not allowed on %s", rq->method, rq->path);
    }
    return 1;
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

/* Frees what an answer that is not sent holds. */
static void resp_discard(struct http_resp *rs)
{
    free(rs->body);
    rs->body = NULL;
    for (int i = 0; i < rs->n_extra; i++)
        free(rs->extra_headers[i]);
    rs->n_extra = 0;
}

/* Every answer goes out here: logged, counted, sent. */
static enum MHD_Result answer(struct MHD_Connection *conn, const char *method, const char *url,
                              struct http_resp *rs)
{
    log_debug("%s %s -> %d", method, url, rs->status);
    metrics_http_request(method, rs->status);
    return send_response(conn, rs, url);
}

static enum MHD_Result too_large(struct MHD_Connection *conn, const char *method,
                                 const char *url, size_t max)
{
    struct http_resp rs = {0};
    http_reply_error(&rs, 413, NULL, "request body over the %zu-byte limit", max);
    return answer(conn, method, url, &rs);
}

/* Suspends ctx's connection for delay_ms; -1 when the server is stopping (no more waits). */
static int sleep_request(struct http_server *s, struct request_ctx *ctx, long delay_ms)
{
    pthread_mutex_lock(&s->lock);
    int rc = -1;
    if (!s->stopping) {
        MHD_suspend_connection(ctx->rq.conn);
        ctx->held = true;
        s->held++;
        ctx->wake_ms = monotonic_ms() + delay_ms;
        ctx->next_sleeper = s->sleepers;
        s->sleepers = ctx;
        pthread_cond_broadcast(&s->changed);
        rc = 0;
    }
    pthread_mutex_unlock(&s->lock);
    return rc;
}

/* Resumes each suspended connection when its delay is over (all of them at once when the
 * server stops); MHD then calls on_request for it again. */
static void *waker_main(void *arg)
{
    struct http_server *s = arg;
    pthread_mutex_lock(&s->lock);
    while (!s->stopping || s->sleepers) {
        long long now = monotonic_ms(), next = -1;
        for (struct request_ctx **p = &s->sleepers; *p;) {
            struct request_ctx *ctx = *p;
            if (s->stopping || ctx->wake_ms <= now) {
                *p = ctx->next_sleeper;
                MHD_resume_connection(ctx->rq.conn);
                continue;
            }
            if (next < 0 || ctx->wake_ms < next)
                next = ctx->wake_ms;
            p = &ctx->next_sleeper;
        }
        if (s->stopping)
            continue;
        if (next < 0) {
            pthread_cond_wait(&s->changed, &s->lock);
        } else {
            struct timespec until = {.tv_sec = next / 1000, .tv_nsec = (next % 1000) * 1000000};
            pthread_cond_timedwait(&s->changed, &s->lock, &until);
        }
    }
    pthread_mutex_unlock(&s->lock);
    return NULL;
}

/* Adds an upload chunk to ctx's body; false when out of memory. */
static bool take_chunk(struct request_ctx *ctx, const char *upload, size_t size)
{
    if (!ctx->too_large && ctx->len + size > ctx->max) {
        ctx->too_large = true;
        free(ctx->body);
        ctx->body = NULL;
    }
    if (ctx->too_large)
        return true;
    if (ctx->has_early) {
        ctx->len += size;
        return true;
    }
    if (ctx->len + size + 1 > ctx->cap) {
        size_t want = (ctx->len + size + 1) * 2;
        if (want > ctx->max + 1)
            want = ctx->max + 1;
        char *grown = realloc(ctx->body, want);
        if (!grown)
            return false;
        ctx->body = grown;
        ctx->cap = want;
    }
    memcpy(ctx->body + ctx->len, upload, size);
    ctx->len += size;
    return true;
}

/* The first call, with the headers only: a request is answered right here, before its body
 * is read, unless a route was found and its caller (where the route needs one) authenticated;
 * only then is a body buffered, up to the cap that route's kind allows. */
static enum MHD_Result on_headers(struct http_server *s, struct MHD_Connection *conn,
                                  const char *url, const char *method, struct request_ctx *ctx)
{
    size_t max = s->app->cfg.max_body;
    const char *cl = MHD_lookup_connection_value(conn, MHD_HEADER_KIND, "Content-Length");
    unsigned long long length = cl ? strtoull(cl, NULL, 10) : 0;
    if (length > max)
        return too_large(conn, method, url, max);
    struct http_req rq = {.conn = conn, .method = method, .path = url, .body = ""};
    const char *proto = MHD_lookup_connection_value(conn, MHD_HEADER_KIND, "X-Forwarded-Proto");
    rq.secure = proto && strcasecmp(proto, "https") == 0 && http_from_trusted_proxy(s->app, &rq);
    struct http_resp rs = {.status = 500};
    const struct route *route = NULL;
    bool early = route_request(s->app, &rq, ctx->raw_path, &rs, &route);
    if (early && !MHD_lookup_connection_value(conn, MHD_HEADER_KIND, "Transfer-Encoding"))
        return answer(conn, method, url, &rs);
    if (!early && route->auth == ROUTE_PUBLIC && max > HTTP_PUBLIC_MAX_BODY)
        max = HTTP_PUBLIC_MAX_BODY;
    if (length > max)
        return too_large(conn, method, url, max);
    ctx->begun = true;
    ctx->rq = rq;
    ctx->route = route;
    ctx->early = rs;
    ctx->has_early = early;
    ctx->max = max;
    return MHD_YES;
}

/* MHD's first look at a request: the request line's target as sent, before it decodes it (so
 * "a%2Fb" is still one segment). What it returns is the request's context from then on. */
static void *on_uri(void *cls, const char *uri, struct MHD_Connection *conn)
{
    (void)cls;
    (void)conn;
    struct request_ctx *ctx = calloc(1, sizeof *ctx);
    if (ctx && !(ctx->raw_path = strndup(uri, strcspn(uri, "?")))) {
        free(ctx);
        ctx = NULL;
    }
    return ctx;
}

static enum MHD_Result on_request(void *cls, struct MHD_Connection *conn, const char *url,
                                  const char *method, const char *version, const char *upload,
                                  size_t *upload_size, void **con_cls)
{
    (void)version;
    struct http_server *s = cls;
    struct request_ctx *ctx = *con_cls;
    if (!ctx)
        return MHD_NO; /* out of memory in on_uri */
    if (!ctx->begun)
        return on_headers(s, conn, url, method, ctx);
    if (*upload_size) {
        if (!take_chunk(ctx, upload, *upload_size))
            return MHD_NO;
        *upload_size = 0;
        return MHD_YES;
    }
    if (ctx->too_large)
        return too_large(conn, method, url, ctx->max);
    if (ctx->has_early) {
        ctx->has_early = false;
        return answer(conn, method, url, &ctx->early);
    }

    struct http_req *rq = &ctx->rq;
    rq->body = ctx->body ? ctx->body : "";
    rq->body_len = ctx->len;
    if (ctx->body)
        ctx->body[ctx->len] = '\0';
    struct http_resp rs = {.status = 500};
    ctx->route->handler(s->app, rq, &rs);
    if (rs.delay_ms > 0 && !rq->delayed) {
        rq->delayed = true;
        if (sleep_request(s, ctx, rs.delay_ms) == 0)
            return MHD_YES;
        /* stopping: the handler goes on without its wait */
        rs = (struct http_resp){.status = 500};
        ctx->route->handler(s->app, rq, &rs);
    }
    return answer(conn, method, url, &rs);
}

static void on_completed(void *cls, struct MHD_Connection *conn, void **con_cls,
                         enum MHD_RequestTerminationCode toe)
{
    struct http_server *s = cls;
    (void)conn;
    (void)toe;
    struct request_ctx *ctx = *con_cls;
    if (ctx && ctx->held) {
        pthread_mutex_lock(&s->lock);
        s->held--;
        pthread_cond_broadcast(&s->changed);
        pthread_mutex_unlock(&s->lock);
    }
    if (ctx) {
        if (ctx->has_early)
            resp_discard(&ctx->early);
        free(ctx->body);
        free(ctx->raw_path);
        free(ctx);
        *con_cls = NULL;
    }
}

/* No more delays: the sleepers are resumed and the waker thread ends; then waits (10 s at
 * most) until they are answered, since stopping the daemon would drop them unanswered. */
static void waker_stop(struct http_server *s)
{
    pthread_mutex_lock(&s->lock);
    s->stopping = true;
    pthread_cond_broadcast(&s->changed);
    pthread_mutex_unlock(&s->lock);
    pthread_join(s->waker, NULL);
    long long until = monotonic_ms() + 10000;
    struct timespec ts = {.tv_sec = until / 1000, .tv_nsec = (until % 1000) * 1000000};
    pthread_mutex_lock(&s->lock);
    while (s->held > 0 && pthread_cond_timedwait(&s->changed, &s->lock, &ts) == 0)
        ;
    pthread_mutex_unlock(&s->lock);
}

static void waker_free(struct http_server *s)
{
    pthread_cond_destroy(&s->changed);
    pthread_mutex_destroy(&s->lock);
    free(s);
}

int http_start(struct http_server **out, struct app *app, struct err *e)
{
    struct http_server *s = calloc(1, sizeof *s);
    if (!s)
        return err_set(e, ERR_INTERNAL, "out of memory");
    s->app = app;
    pthread_condattr_t attr;
    pthread_condattr_init(&attr);
    pthread_condattr_setclock(&attr, CLOCK_MONOTONIC);
    pthread_cond_init(&s->changed, &attr);
    pthread_condattr_destroy(&attr);
    pthread_mutex_init(&s->lock, NULL);
    if (pthread_create(&s->waker, NULL, waker_main, s) != 0) {
        waker_free(s);
        return err_set(e, ERR_INTERNAL, "cannot start the HTTP server's waker thread");
    }
    s->daemon = MHD_start_daemon(
        MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_EPOLL | MHD_USE_ITC | MHD_USE_ERROR_LOG |
            MHD_ALLOW_SUSPEND_RESUME,
        (uint16_t)app->cfg.port, NULL, NULL, on_request, s,
        MHD_OPTION_THREAD_POOL_SIZE, (unsigned)app->cfg.http_threads,
        MHD_OPTION_CONNECTION_TIMEOUT, (unsigned)60,
        MHD_OPTION_CONNECTION_LIMIT, (unsigned)512,
        MHD_OPTION_CONNECTION_MEMORY_LIMIT, (size_t)(256 * 1024),
        MHD_OPTION_NOTIFY_COMPLETED, on_completed, s,
        MHD_OPTION_URI_LOG_CALLBACK, on_uri, s,
        MHD_OPTION_END);
    if (!s->daemon) {
        waker_stop(s);
        waker_free(s);
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
    /* delayed requests are resumed at once and answered; then MHD_stop_daemon waits for the
     * requests in flight. No MHD_quiesce_daemon first: with a thread pool on epoll it races a
     * worker taking the listen socket out of its epoll set and aborts the process
     * (libmicrohttpd 0.9.75 "Failed to remove listen FD from epoll set") */
    waker_stop(s);
    MHD_stop_daemon(s->daemon);
    waker_free(s);
}
