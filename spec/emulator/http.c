/* http.c — the HTTP side: libmicrohttpd daemon, request bodies, the routing table, DHIS2
 * authentication, fault injection on the way in and out, and the response helpers every
 * handler uses. */
#include <arpa/inet.h>
#include <microhttpd.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include "emu.h"
#include "http.h"
#include "log.h"

enum { MAX_BODY = 1024 * 1024 * 1024 };

/* Requests held forever by the "hang" fault, resumed (and then closed) at shutdown. */
static pthread_mutex_t hung_mu = PTHREAD_MUTEX_INITIALIZER;
static struct MHD_Connection **hung;
static int n_hung;
static bool stopping;

const char *http_status_text(int status)
{
    switch (status) {
    case 200: return "OK";
    case 201: return "Created";
    case 202: return "Accepted";
    case 204: return "No Content";
    case 400: return "Bad Request";
    case 401: return "Unauthorized";
    case 403: return "Forbidden";
    case 404: return "Not Found";
    case 405: return "Method Not Allowed";
    case 406: return "Not Acceptable";
    case 409: return "Conflict";
    case 413: return "Payload Too Large";
    case 414: return "URI Too Long";
    case 415: return "Unsupported Media Type";
    case 500: return "Internal Server Error";
    case 502: return "Bad Gateway";
    case 503: return "Service Unavailable";
    case 504: return "Gateway Timeout";
    default: return "Unknown";
    }
}

const char *req_param(const struct request *r, const char *key)
{
    for (int i = 0; i < r->n_params; i++)
        if (strcmp(r->params[i].key, key) == 0)
            return r->params[i].value ? r->params[i].value : "";
    return NULL;
}

bool req_flag(const struct request *r, const char *key, bool dflt)
{
    const char *v = req_param(r, key);
    if (!v)
        return dflt;
    if (!*v)
        return true; /* ?dryRun alone means true, as Spring reads it */
    return strcasecmp(v, "true") == 0 || strcmp(v, "1") == 0;
}

const char *req_header(const struct request *r, const char *name)
{
    return MHD_lookup_connection_value(r->conn, MHD_HEADER_KIND, name);
}

/* ---- responses ---- */

struct cut_body {
    char *data;
    size_t len, cut; /* bytes sent before the connection is dropped */
};

static ssize_t cut_reader(void *cls, uint64_t pos, char *out, size_t max)
{
    struct cut_body *c = cls;
    if (pos >= c->cut)
        return MHD_CONTENT_READER_END_WITH_ERROR;
    size_t n = c->cut - (size_t)pos < max ? c->cut - (size_t)pos : max;
    memcpy(out, c->data + pos, n);
    return (ssize_t)n;
}

static void cut_free(void *cls)
{
    struct cut_body *c = cls;
    free(c->data);
    free(c);
}

int http_queue(struct request *r, int status, struct MHD_Response *resp)
{
    if (!resp)
        return MHD_NO;
    MHD_add_response_header(resp, "Cache-Control", "no-cache, private");
    MHD_add_response_header(resp, "X-Content-Type-Options", "nosniff");
    enum MHD_Result rc = MHD_queue_response(r->conn, (unsigned)status, resp);
    MHD_destroy_response(resp);
    return rc;
}

int http_send_with(struct request *r, int status, const char *content_type, char *body, size_t len,
                   const char *location)
{
    struct MHD_Response *resp;
    if (r->fault_drop && len > 1) {
        struct cut_body *c = malloc(sizeof *c);
        if (!c) {
            free(body);
            return MHD_NO;
        }
        *c = (struct cut_body){body, len, len / 2};
        resp = MHD_create_response_from_callback(len, 32 * 1024, cut_reader, c, cut_free);
        if (!resp)
            cut_free(c);
    } else {
        resp = MHD_create_response_from_buffer(len, body, MHD_RESPMEM_MUST_FREE);
        if (!resp)
            free(body);
    }
    if (!resp)
        return MHD_NO;
    MHD_add_response_header(resp, "Content-Type", content_type);
    if (location)
        MHD_add_response_header(resp, "Location", location);
    return http_queue(r, status, resp);
}

int http_send(struct request *r, int status, const char *content_type, char *body, size_t len)
{
    return http_send_with(r, status, content_type, body, len, NULL);
}

int http_send_json(struct request *r, int status, cJSON *json)
{
    char *text = json ? cJSON_PrintUnformatted(json) : NULL;
    cJSON_Delete(json);
    if (!text)
        return MHD_NO; /* nothing can be said without memory: close the connection */
    return http_send(r, status, "application/json;charset=UTF-8", text, strlen(text));
}

void webmessage_head(struct buf *b, int status, const char *wm_status, const char *message)
{
    buf_puts(b, "{\"httpStatus\":");
    buf_json_str(b, http_status_text(status));
    buf_printf(b, ",\"httpStatusCode\":%d,\"status\":", status);
    buf_json_str(b, wm_status);
    buf_puts(b, ",\"message\":");
    buf_json_str(b, message);
}

int http_webmessage(struct request *r, int status, const char *wm_status, const char *message,
                    const char *error_code)
{
    struct buf b = {0};
    webmessage_head(&b, status, wm_status, message);
    if (error_code) {
        buf_puts(&b, ",\"errorCode\":");
        buf_json_str(&b, error_code);
    }
    buf_putc(&b, '}');
    size_t len = b.len;
    char *text = buf_take(&b);
    if (!text)
        return MHD_NO;
    return http_send(r, status, "application/json;charset=UTF-8", text, len);
}

/* ---- authentication ---- */

static int b64_value(char c)
{
    if (c >= 'A' && c <= 'Z') return c - 'A';
    if (c >= 'a' && c <= 'z') return c - 'a' + 26;
    if (c >= '0' && c <= '9') return c - '0' + 52;
    if (c == '+' || c == '-') return 62;
    if (c == '/' || c == '_') return 63;
    return -1;
}

static int b64_decode(const char *in, char *out, size_t max)
{
    size_t o = 0;
    int bits = 0;
    unsigned acc = 0;
    for (; *in && *in != '='; in++) {
        int v = b64_value(*in);
        if (v < 0)
            return -1;
        acc = ((acc << 6) | (unsigned)v) & 0xFFFFFFu; /* only the last 24 bits matter */
        bits += 6;
        if (bits >= 8) {
            bits -= 8;
            if (o + 1 >= max)
                return -1;
            out[o++] = (char)((acc >> bits) & 0xff);
        }
    }
    out[o] = '\0';
    return (int)o;
}

static bool authenticated(struct request *r)
{
    const char *h = req_header(r, "Authorization");
    if (!h)
        return false;
    const struct emu_config *c = &r->emu->cfg;
    if (strncasecmp(h, "Basic ", 6) == 0) {
        char dec[512];
        if (b64_decode(h + 6, dec, sizeof dec) < 0)
            return false;
        char *colon = strchr(dec, ':');
        if (!colon)
            return false;
        *colon = '\0';
        return strcmp(dec, c->user) == 0 && strcmp(colon + 1, c->password) == 0;
    }
    if (strncasecmp(h, "ApiToken ", 9) == 0)
        return c->pat && strcmp(h + 9, c->pat) == 0;
    return false;
}

static bool from_loopback(struct request *r)
{
    const union MHD_ConnectionInfo *ci =
        MHD_get_connection_info(r->conn, MHD_CONNECTION_INFO_CLIENT_ADDRESS);
    if (!ci || !ci->client_addr)
        return false;
    const struct sockaddr *sa = ci->client_addr;
    if (sa->sa_family == AF_INET)
        return (ntohl(((const struct sockaddr_in *)sa)->sin_addr.s_addr) >> 24) == 127;
    if (sa->sa_family == AF_INET6) {
        const struct in6_addr *a = &((const struct sockaddr_in6 *)sa)->sin6_addr;
        return IN6_IS_ADDR_LOOPBACK(a) ||
               (IN6_IS_ADDR_V4MAPPED(a) && a->s6_addr[12] == 127);
    }
    return false;
}

/* ---- routing ---- */

struct route {
    const char *method;
    const char *prefix; /* path after /api/[NN/] */
    bool exact;
    int (*handler)(struct request *);
};

/* Every DHIS2 route needs DHIS2 authentication; /emulator/ routes are loopback-only instead. */
static const struct route routes[] = {
    {"GET", "system/info", true, api_system},
    {"GET", "system/ping", true, api_system},
    {"GET", "me", true, api_system},
    {"GET", "dataValueSets", true, api_dvs_get},
    {"POST", "dataValueSets", true, api_dvs_post},
    {"GET", "system/tasks/", false, api_tasks},
    {"GET", "system/taskSummaries/", false, api_tasks},
    {"GET", "tracker/jobs/", false, api_tracker_jobs},
    {"GET", "tracker/", false, api_tracker_get},
    {"POST", "tracker", true, api_tracker_post},
    {"GET", "metadata", true, api_md_export},
    {"POST", "metadata", true, api_md_import},
    {"GET", "deletedObjects", true, api_deleted_objects},
    {"GET", "", false, api_metadata},
    {"DELETE", "", false, api_md_delete},
};

static int route(struct request *r)
{
    bool path_known = false;
    for (size_t i = 0; i < sizeof routes / sizeof routes[0]; i++) {
        const struct route *rt = &routes[i];
        size_t n = strlen(rt->prefix);
        if (strncmp(r->path, rt->prefix, n) != 0 || (rt->exact && r->path[n]))
            continue;
        if (strcmp(r->method, rt->method) == 0)
            return rt->handler(r);
        path_known = path_known || rt->exact;
    }
    if (path_known)
        return http_webmessage(r, 405, "ERROR", "Request method not supported", NULL);
    return http_webmessage(r, 404, "ERROR", "Not Found", NULL);
}

/* Splits /api/[NN/]rest[.json|.csv] into r->path and r->api_version. */
static int parse_api_path(struct request *r, char *scratch, size_t size)
{
    const char *p = r->url + 5; /* after "/api/" */
    int version = 0;
    while (*p >= '0' && *p <= '9')
        version = version * 10 + (*p++ - '0');
    if (version && *p == '/')
        p++;
    else if (version) {
        p = r->url + 5; /* a collection whose name starts with digits: not a version */
        version = 0;
    }
    snprintf(scratch, size, "%s", p);
    size_t n = strlen(scratch);
    while (n && scratch[n - 1] == '/')
        scratch[--n] = '\0';
    if (n > 5 && strcmp(scratch + n - 5, ".json") == 0)
        scratch[n - 5] = '\0';
    else if (n > 4 && strcmp(scratch + n - 4, ".csv") == 0) {
        scratch[n - 4] = '\0';
        r->csv = true;
    }
    r->path = scratch;
    r->api_version = version;
    return 0;
}

static enum MHD_Result collect_param(void *cls, enum MHD_ValueKind kind, const char *key,
                                     const char *value)
{
    (void)kind;
    struct request *r = cls;
    struct param *grown = realloc(r->params, (size_t)(r->n_params + 1) * sizeof *grown);
    if (!grown)
        return MHD_NO;
    r->params = grown;
    r->params[r->n_params++] = (struct param){key, value};
    return MHD_YES;
}

static int hang(struct request *r)
{
    pthread_mutex_lock(&hung_mu);
    if (stopping) {
        pthread_mutex_unlock(&hung_mu);
        return MHD_NO;
    }
    struct MHD_Connection **grown = realloc(hung, (size_t)(n_hung + 1) * sizeof *grown);
    if (!grown) {
        pthread_mutex_unlock(&hung_mu);
        return MHD_NO;
    }
    hung = grown;
    hung[n_hung++] = r->conn;
    r->hung = true;
    MHD_suspend_connection(r->conn);
    pthread_mutex_unlock(&hung_mu);
    return MHD_YES;
}

/* Tomcat's default maxHttpHeaderSize (8 KB) bounds the request line: DHIS2 refuses a longer
 * URL, so a client must split long id lists. Measured as sent: each parameter as key=value&,
 * percent-encoding left aside (an id list has none to speak of). */
enum { MAX_REQUEST_LINE = 8192 };

static size_t request_line_length(const struct request *r)
{
    size_t n = strlen(r->method) + strlen(r->url) + 12; /* " " ... " HTTP/1.1" */
    for (int i = 0; i < r->n_params; i++)
        n += strlen(r->params[i].key) + (r->params[i].value ? strlen(r->params[i].value) : 0) + 2;
    return n;
}

static int dispatch(struct request *r)
{
    struct emu *emu = r->emu;
    if (strncmp(r->url, "/emulator/", 10) == 0) {
        if (!from_loopback(r))
            return http_webmessage(r, 403, "ERROR", "The emulator's admin routes answer loopback only", NULL);
        return emulator_admin(r);
    }
    atomic_fetch_add(&emu->requests, 1);
    bool is_import = strcmp(r->method, "POST") == 0 &&
                     strncmp(r->url, "/api/", 5) == 0 && strstr(r->url, "dataValueSets");
    int status = 0, delay = 0;
    enum fault_action fa = faults_decide(&emu->faults, is_import, &status, &delay);
    if (delay > 0)
        usleep((useconds_t)delay * 1000);
    if (fa == FAULT_DOWN)
        return MHD_NO; /* the connection closes unanswered, as a server going down leaves it */
    if (fa == FAULT_HANG)
        return hang(r);
    if (fa == FAULT_STATUS) {
        /* What a proxy in front of DHIS2 answers: not a WebMessage, and often HTML. */
        char *page = NULL;
        int n = asprintf(&page, "<html><body><h1>%d %s</h1></body></html>\n", status,
                         http_status_text(status));
        if (n < 0)
            return MHD_NO;
        return http_send(r, status, "text/html", page, (size_t)n);
    }
    r->fault_drop = fa == FAULT_DROP;
    if (strncmp(r->url, "/api/", 5) != 0 && strcmp(r->url, "/api") != 0)
        return http_webmessage(r, 404, "ERROR", "Not Found", NULL);
    if (request_line_length(r) > MAX_REQUEST_LINE) {
        char *page = NULL;
        int n = asprintf(&page, "<html><body><h1>HTTP Status 414 - URI Too Long</h1></body></html>\n");
        return n < 0 ? MHD_NO : http_send(r, 414, "text/html", page, (size_t)n);
    }
    if (!authenticated(r))
        return http_webmessage(r, 401, "ERROR", "Unauthorized", NULL);
    if (r->body_too_large)
        return http_webmessage(r, 413, "ERROR", "Request body too large", NULL);
    char scratch[2048];
    parse_api_path(r, scratch, sizeof scratch);
    return route(r);
}

static enum MHD_Result on_request(void *cls, struct MHD_Connection *conn, const char *url,
                                  const char *method, const char *version, const char *upload,
                                  size_t *upload_size, void **con_cls)
{
    (void)version;
    struct request *r = *con_cls;
    if (!r) {
        r = calloc(1, sizeof *r);
        if (!r)
            return MHD_NO;
        r->emu = cls;
        r->conn = conn;
        r->url = url;
        r->method = method;
        *con_cls = r;
        return MHD_YES;
    }
    if (r->hung)
        return MHD_NO; /* resumed at shutdown: close it */
    /* MHD may move the request line while it reads a large body: take it afresh each call */
    r->url = url;
    r->method = method;
    if (*upload_size) {
        if (r->body_len + *upload_size > MAX_BODY) {
            r->body_too_large = true;
        } else {
            if (r->body_len + *upload_size + 1 > r->body_cap) {
                /* the first chunk: size the buffer from Content-Length when it is sane */
                const char *cl = r->body_cap ? NULL : req_header(r, "Content-Length");
                size_t want = cl ? (size_t)strtoull(cl, NULL, 10) + 1 : 0;
                size_t cap = r->body_cap ? r->body_cap : want > 64 * 1024 && want <= MAX_BODY ? want : 64 * 1024;
                while (cap < r->body_len + *upload_size + 1)
                    cap *= 2;
                char *grown = realloc(r->body, cap);
                if (!grown)
                    return MHD_NO;
                r->body = grown;
                r->body_cap = cap;
            }
            memcpy(r->body + r->body_len, upload, *upload_size);
            r->body_len += *upload_size;
            r->body[r->body_len] = '\0';
        }
        *upload_size = 0;
        return MHD_YES;
    }
    if (MHD_get_connection_values(conn, MHD_GET_ARGUMENT_KIND, collect_param, r) < 0)
        return MHD_NO;
    return (enum MHD_Result)dispatch(r);
}

static void on_completed(void *cls, struct MHD_Connection *conn, void **con_cls,
                         enum MHD_RequestTerminationCode toe)
{
    (void)cls;
    (void)conn;
    (void)toe;
    struct request *r = *con_cls;
    if (!r)
        return;
    free(r->params);
    free(r->body);
    free(r);
    *con_cls = NULL;
}

struct MHD_Daemon *http_start(struct emu *emu, struct err *e)
{
    struct MHD_Daemon *d = MHD_start_daemon(
        MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_EPOLL | MHD_USE_ITC | MHD_ALLOW_SUSPEND_RESUME,
        (uint16_t)emu->cfg.port, NULL, NULL, on_request, emu,
        MHD_OPTION_THREAD_POOL_SIZE, (unsigned)8,
        MHD_OPTION_CONNECTION_TIMEOUT, (unsigned)300,
        MHD_OPTION_CONNECTION_LIMIT, (unsigned)1000,
        MHD_OPTION_CONNECTION_MEMORY_LIMIT, (size_t)(1024 * 1024),
        MHD_OPTION_NOTIFY_COMPLETED, on_completed, NULL,
        MHD_OPTION_END);
    if (!d)
        err_set(e, ERR_NET, "cannot listen on port %d (in use?)", emu->cfg.port);
    return d;
}

void http_stop(struct MHD_Daemon *d)
{
    pthread_mutex_lock(&hung_mu);
    stopping = true;
    for (int i = 0; i < n_hung; i++)
        MHD_resume_connection(hung[i]);
    free(hung);
    hung = NULL;
    n_hung = 0;
    pthread_mutex_unlock(&hung_mu);
    MHD_quiesce_daemon(d);
    MHD_stop_daemon(d);
}
