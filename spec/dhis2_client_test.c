/* dhis2_client_test.c — the DHIS2 client: the dataValueSets stream splitter on its own, then the
 * HTTP client against a small fake DHIS2 started in the test (libmicrohttpd on loopback). */
#include <cJSON.h>
#include <arpa/inet.h>
#include <microhttpd.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdint.h>
#include <time.h>
#include <unistd.h>
#include <zlib.h>

#include "dhis2.h"
#include "dvstream.h"
#include "harness.h"
#include "test.h"

/* ---- helpers ----------------------------------------------------------------------------- */

struct buf {
    char *p;
    size_t len, cap;
};

static void buf_add(struct buf *b, const char *s, size_t n)
{
    if (b->len + n + 1 > b->cap) {
        b->cap = (b->len + n + 1) * 2;
        b->p = realloc(b->p, b->cap);
        if (!b->p)
            test_fail(__FILE__, __LINE__, "out of memory");
    }
    memcpy(b->p + b->len, s, n);
    b->len += n;
    b->p[b->len] = '\0';
}

static void buf_printf(struct buf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void buf_printf(struct buf *b, const char *fmt, ...)
{
    char tmp[4096];
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(tmp, sizeof tmp, fmt, ap);
    va_end(ap);
    buf_add(b, tmp, (size_t)n);
}

/* Collects values as "de|pe|ou|coc|aoc|value|comment|followup|deleted" lines. */
struct collect {
    struct buf text;
    size_t values, batches;
    size_t max_arena;
    int stop_after; /* stop the stream after this many values (0 = never) */
};

static const char *s_or(const char *s) { return s ? s : "-"; }

static int collect_fn(void *ud, const struct datavalue *v, size_t n, struct err *e)
{
    struct collect *c = ud;
    c->batches++;
    for (size_t i = 0; i < n; i++) {
        buf_printf(&c->text, "%s|%s|%s|%s|%s|%s|%s|%d|%d\n", s_or(v[i].data_element),
                   s_or(v[i].period), s_or(v[i].org_unit), s_or(v[i].category_option_combo),
                   s_or(v[i].attribute_option_combo), s_or(v[i].value), s_or(v[i].comment),
                   v[i].followup, v[i].deleted);
        c->values++;
        if (c->stop_after && c->values >= (size_t)c->stop_after)
            return err_set(e, ERR_CANCELLED, "stopped by the test");
    }
    return 0;
}

/* Streams json through a dvstream in chunks of `chunk` bytes (0 = all at once). */
static int stream_json(const char *json, size_t chunk, const struct dvstream_options *opt,
                       struct collect *c, struct err *e)
{
    struct dvstream *s = dvstream_new(opt, collect_fn, c);
    CHECK(s != NULL);
    size_t len = strlen(json), step = chunk ? chunk : len;
    int rc = 0;
    for (size_t off = 0; off < len && rc == 0; off += step)
        rc = dvstream_feed(s, json + off, len - off < step ? len - off : step, e);
    if (rc == 0)
        rc = dvstream_finish(s, e);
    dvstream_free(s);
    return rc;
}

static const char tricky[] =
    "{\"dataValues\" : [\n"
    " {\"dataElement\":\"de1\",\"period\":\"202401\",\"orgUnit\":\"ou1\","
    "\"categoryOptionCombo\":\"coc1\",\"attributeOptionCombo\":\"aoc1\",\"value\":\"12\","
    "\"storedBy\":\"admin\",\"created\":\"2024-02-03T10:11:12.000+0000\","
    "\"lastUpdated\":\"2024-02-03T10:11:12.000+0000\",\"comment\":\"braces {in} [strings] "
    "\\\"quoted\\\" }\",\"followup\":false},\n"
    " {\"dataElement\":\"de2\",\"period\":\"202401\",\"orgUnit\":\"ou1\",\"value\":\"caf\\u00e9 "
    "\\ud83d\\ude00 tab\\tnl\\n back\\\\slash\",\"comment\":null,\"followup\":true,"
    "\"deleted\":true,\"extra\":{\"nested\":[1,{\"x\":\"}\"}]}},"
    " {\"dataElement\":\"de3\",\"period\":\"202402\",\"orgUnit\":\"ou2\",\"value\":\"\","
    "\"comment\":\"\\\\\",\"deleted\":false}\n"
    "],\"unused\":{\"a\":[\"]\"]},\"n\":-1.5e3 }\n";

static const char tricky_expected[] =
    "de1|202401|ou1|coc1|aoc1|12|braces {in} [strings] \"quoted\" }|0|0\n"
    "de2|202401|ou1|-|-|caf\xc3\xa9 \xf0\x9f\x98\x80 tab\tnl\n back\\slash|-|1|1\n"
    "de3|202402|ou2|-|-||\\|0|0\n";

/* ---- the splitter ------------------------------------------------------------------------ */

TEST(dvstream_tricky_json_whole)
{
    struct collect c = {0};
    struct err e = {0};
    CHECKF(stream_json(tricky, 0, NULL, &c, &e) == 0, "%s", e.msg);
    CHECK_STR(c.text.p, tricky_expected);
    free(c.text.p);
}

TEST(dvstream_tricky_json_byte_by_byte_and_every_split)
{
    struct err e = {0};
    struct collect c = {0};
    CHECKF(stream_json(tricky, 1, NULL, &c, &e) == 0, "%s", e.msg);
    CHECK_STR(c.text.p, tricky_expected);
    free(c.text.p);
    for (size_t chunk = 2; chunk < 64; chunk++) {
        struct collect c2 = {0};
        CHECKF(stream_json(tricky, chunk, NULL, &c2, &e) == 0, "chunk %zu: %s", chunk, e.msg);
        CHECKF(strcmp(c2.text.p, tricky_expected) == 0, "chunk %zu: saw %s", chunk, c2.text.p);
        free(c2.text.p);
    }
    /* every two-chunk split */
    size_t len = strlen(tricky);
    for (size_t cut = 1; cut < len; cut++) {
        struct collect c3 = {0};
        struct dvstream *s = dvstream_new(NULL, collect_fn, &c3);
        CHECK(dvstream_feed(s, tricky, cut, &e) == 0);
        CHECK(dvstream_feed(s, tricky + cut, len - cut, &e) == 0);
        CHECKF(dvstream_finish(s, &e) == 0, "cut %zu: %s", cut, e.msg);
        CHECKF(strcmp(c3.text.p, tricky_expected) == 0, "cut %zu: saw %s", cut, c3.text.p);
        dvstream_free(s);
        free(c3.text.p);
    }
}

TEST(dvstream_root_fields_of_2_43)
{
    struct err e = {0};
    /* root before the array */
    struct collect c = {0};
    CHECKF(stream_json("{\"orgUnit\":\"rootOU\",\"period\":\"202405\",\"dataValues\":["
                       "{\"dataElement\":\"a\",\"value\":\"1\"},"
                       "{\"dataElement\":\"b\",\"orgUnit\":\"own\",\"period\":\"202406\","
                       "\"value\":\"2\"}]}",
                       3, NULL, &c, &e) == 0,
           "%s", e.msg);
    CHECK_STR(c.text.p, "a|202405|rootOU|-|-|1|-|0|0\nb|202406|own|-|-|2|-|0|0\n");
    free(c.text.p);

    /* root after the array: the caller's fallback fills the values, the root confirms it */
    const char *after = "{\"dataValues\":[{\"dataElement\":\"a\",\"period\":\"202401\","
                        "\"value\":\"1\"}],\"orgUnit\":\"OU1\"}";
    struct dvstream_options opt = {.fallback_org_unit = "OU1"};
    struct collect c2 = {0};
    CHECKF(stream_json(after, 0, &opt, &c2, &e) == 0, "%s", e.msg);
    CHECK_STR(c2.text.p, "a|202401|OU1|-|-|1|-|0|0\n");
    free(c2.text.p);

    /* ... and a root that contradicts the fallback used is an error */
    struct dvstream_options wrong = {.fallback_org_unit = "OTHER"};
    struct collect c3 = {0};
    CHECK(stream_json(after, 0, &wrong, &c3, &e) != 0);
    CHECK_CONTAINS(e.msg, "names orgUnit 'OU1' at its root, after values that were taken to be "
                          "for 'OTHER'");
    free(c3.text.p);

    /* no orgUnit anywhere (yet) and no fallback: the value cannot be placed */
    struct collect c4 = {0};
    CHECK(stream_json(after, 0, NULL, &c4, &e) != 0);
    CHECK_CONTAINS(e.msg, "has no orgUnit");

    /* root attributeOptionCombo fills values without one */
    struct collect c5 = {0};
    CHECKF(stream_json("{\"attributeOptionCombo\":\"AOC\",\"dataValues\":[{\"dataElement\":\"a\","
                       "\"period\":\"p\",\"orgUnit\":\"o\",\"value\":\"1\"}]}",
                       0, NULL, &c5, &e) == 0,
           "%s", e.msg);
    CHECK_STR(c5.text.p, "a|p|o|-|AOC|1|-|0|0\n");
    free(c5.text.p);
}

TEST(dvstream_empty_and_malformed)
{
    struct err e = {0};
    struct collect c = {0};
    CHECK_INT(stream_json("{\"dataValues\":[]}", 0, NULL, &c, &e), 0);
    CHECK_INT(c.values, 0);
    CHECK_INT(stream_json("{}", 0, NULL, &c, &e), 0);
    CHECK_INT(stream_json(" { \"dataValues\" : null } ", 0, NULL, &c, &e), 0);

    CHECK(stream_json("{\"dataValues\":[{\"dataElement\":\"a\"", 0, NULL, &c, &e) != 0);
    CHECK_CONTAINS(e.msg, "ended early");
    CHECK(stream_json("<html><title>502</title></html>", 0, NULL, &c, &e) != 0);
    CHECK_CONTAINS(e.msg, "not a JSON object");
    CHECK(stream_json("{\"dataValues\":[1,2]}", 0, NULL, &c, &e) != 0);
    CHECK_CONTAINS(e.msg, "other than objects");
    CHECK(stream_json("{\"dataValues\":[{\"dataElement\" \"a\"}]}", 0, NULL, &c, &e) != 0);
    CHECK_CONTAINS(e.msg, "expected ':'");
    CHECK(stream_json("{\"dataValues\":[{\"dataElement\":\"a\\x\"}]}", 0, NULL, &c, &e) != 0);
    CHECK_CONTAINS(e.msg, "bad escape");
    CHECK(stream_json("{\"dataValues\":[]} x", 0, NULL, &c, &e) != 0);
    CHECK_CONTAINS(e.msg, "after the end");
    CHECK(stream_json("{\"dataValues\":[{\"period\":\"p\",\"orgUnit\":\"o\"}]}", 0, NULL, &c, &e) !=
          0);
    CHECK_CONTAINS(e.msg, "no dataElement");
}

TEST(dvstream_callback_error_stops_the_stream)
{
    struct err e = {0};
    struct collect c = {.stop_after = 2};
    struct dvstream_options opt = {.batch = 1};
    CHECK_INT(stream_json(tricky, 7, &opt, &c, &e), ERR_CANCELLED);
    CHECK_INT(c.values, 2);
    CHECK_STR(e.msg, "stopped by the test");
    free(c.text.p);
}

/* Writes n values of JSON, as 2.41 would, into b. */
static void make_values(struct buf *b, size_t from, size_t n)
{
    for (size_t i = from; i < from + n; i++)
        buf_printf(b,
                   "%s{\"dataElement\":\"de%07zu\",\"period\":\"2024%02zu\",\"orgUnit\":"
                   "\"ou%08zu\",\"categoryOptionCombo\":\"HllvX50cXC0\","
                   "\"attributeOptionCombo\":\"HllvX50cXC0\",\"value\":\"%zu\",\"storedBy\":"
                   "\"admin\",\"created\":\"2024-02-03T10:11:12.000+0000\",\"lastUpdated\":"
                   "\"2024-02-03T10:11:12.000+0000\",\"comment\":null,\"followup\":false}",
                   i ? "," : "", i % 1000, i % 12 + 1, i % 5000, i);
}

static int count_fn(void *ud, const struct datavalue *v, size_t n, struct err *e)
{
    (void)e;
    size_t *count = ud;
    for (size_t i = 0; i < n; i++)
        if (v[i].data_element && v[i].value)
            (*count)++;
    return 0;
}

TEST(dvstream_200k_values_in_bounded_memory)
{
    struct err e = {0};
    size_t count = 0;
    struct dvstream *s = dvstream_new(NULL, count_fn, &count);
    CHECK(dvstream_feed(s, "{\"dataValues\":[", 15, &e) == 0);
    for (size_t part = 0; part < 200; part++) {
        struct buf b = {0};
        make_values(&b, part * 1000, 1000);
        /* odd chunk sizes, as a network gives them */
        for (size_t off = 0; off < b.len; off += 1397)
            CHECKF(dvstream_feed(s, b.p + off, b.len - off < 1397 ? b.len - off : 1397, &e) == 0,
                   "%s", e.msg);
        free(b.p);
    }
    CHECK(dvstream_feed(s, "]}", 2, &e) == 0);
    CHECKF(dvstream_finish(s, &e) == 0, "%s", e.msg);
    struct dvstream_stats st;
    dvstream_stats(s, &st);
    CHECK_INT(st.values, 200000);
    CHECK_INT(count, 200000);
    CHECKF(st.peak_bytes < 1024 * 1024, "peak %zu bytes", st.peak_bytes);
    dvstream_free(s);
}

/* ---- a fake DHIS2 ------------------------------------------------------------------------ */

struct fake_req {
    int n; /* 1 for the first request */
    char method[8];
    char url[256];    /* path, no query */
    char query[2048]; /* decoded "k=v&k=v", in order */
    char auth[256];
    char accept_encoding[128];
    char content_type[128];
    struct buf body;
};

struct fake_resp {
    int status;
    const char *content_type; /* NULL = application/json;charset=UTF-8 */
    char *body;               /* malloc'd; NULL = empty */
    const char *header_name, *header_value;
    bool drop;            /* close the connection without answering */
    bool gzip;            /* compress when the client accepts gzip */
    size_t stream_values; /* > 0: answer a dataValueSets body of this many values, generated */
    int delay_ms;         /* think this long before answering */
    size_t break_after;   /* with stream_values: break the connection after this many */
};

struct fake;
typedef void (*fake_route)(struct fake *f, const struct fake_req *rq, struct fake_resp *out);

struct fake {
    struct MHD_Daemon *d;
    int port;
    char base[64];
    pthread_mutex_t mu;
    fake_route route;
    void *ud;
    int requests;
    struct fake_req last; /* a copy of the latest request (body owned here) */
};

static char *xstrdup(const char *s)
{
    char *d = strdup(s);
    if (!d)
        test_fail(__FILE__, __LINE__, "out of memory");
    return d;
}

static enum MHD_Result add_arg(void *cls, enum MHD_ValueKind kind, const char *key,
                               const char *value)
{
    (void)kind;
    struct fake_req *rq = cls;
    size_t len = strlen(rq->query);
    snprintf(rq->query + len, sizeof rq->query - len, "%s%s=%s", len ? "&" : "", key,
             value ? value : "");
    return MHD_YES;
}

static void copy_header(struct MHD_Connection *conn, const char *name, char *out, size_t n)
{
    const char *v = MHD_lookup_connection_value(conn, MHD_HEADER_KIND, name);
    snprintf(out, n, "%s", v ? v : "");
}

static char *gzip_text(const char *in, size_t n, size_t *out_len)
{
    z_stream z = {0};
    deflateInit2(&z, 6, Z_DEFLATED, 15 + 16, 8, Z_DEFAULT_STRATEGY);
    size_t cap = deflateBound(&z, n);
    char *out = malloc(cap);
    z.next_in = (Bytef *)in;
    z.avail_in = (uInt)n;
    z.next_out = (Bytef *)out;
    z.avail_out = (uInt)cap;
    deflate(&z, Z_FINISH);
    *out_len = z.total_out;
    deflateEnd(&z);
    return out;
}

static char *gunzip_text(const char *in, size_t n, size_t *out_len)
{
    z_stream z = {0};
    inflateInit2(&z, 15 + 16);
    size_t cap = n * 50 + 1024;
    char *out = malloc(cap + 1);
    z.next_in = (Bytef *)in;
    z.avail_in = (uInt)n;
    z.next_out = (Bytef *)out;
    z.avail_out = (uInt)cap;
    int zr = inflate(&z, Z_FINISH);
    CHECKF(zr == Z_STREAM_END, "gunzip: %d", zr);
    *out_len = z.total_out;
    out[*out_len] = '\0';
    inflateEnd(&z);
    return out;
}

/* A generated dataValueSets body: `{"dataValues":[` + n values + `]}`, produced as MHD asks. */
struct gen {
    size_t n, next, break_after;
    struct buf pending;
    size_t pending_off;
    bool closed;
};

static ssize_t gen_read(void *cls, uint64_t pos, char *out, size_t max)
{
    (void)pos;
    struct gen *g = cls;
    if (g->pending_off == g->pending.len) {
        g->pending.len = g->pending_off = 0;
        if (g->closed)
            return MHD_CONTENT_READER_END_OF_STREAM;
        if (g->break_after && g->next >= g->break_after)
            return MHD_CONTENT_READER_END_WITH_ERROR;
        if (g->next == 0)
            buf_add(&g->pending, "{\"dataValues\":[", 15);
        size_t k = g->n - g->next < 500 ? g->n - g->next : 500;
        make_values(&g->pending, g->next, k);
        g->next += k;
        if (g->next == g->n) {
            buf_add(&g->pending, "]}", 2);
            g->closed = true;
        }
    }
    size_t k = g->pending.len - g->pending_off < max ? g->pending.len - g->pending_off : max;
    memcpy(out, g->pending.p + g->pending_off, k);
    g->pending_off += k;
    return (ssize_t)k;
}

static void gen_free(void *cls)
{
    struct gen *g = cls;
    free(g->pending.p);
    free(g);
}

static enum MHD_Result fake_handler(void *cls, struct MHD_Connection *conn, const char *url,
                                    const char *method, const char *version,
                                    const char *upload_data, size_t *upload_data_size,
                                    void **con_cls)
{
    (void)version;
    struct fake *f = cls;
    struct fake_req *rq = *con_cls;
    if (!rq) {
        rq = calloc(1, sizeof *rq);
        *con_cls = rq;
        return MHD_YES;
    }
    if (*upload_data_size) {
        buf_add(&rq->body, upload_data, *upload_data_size);
        *upload_data_size = 0;
        return MHD_YES;
    }
    snprintf(rq->method, sizeof rq->method, "%s", method);
    snprintf(rq->url, sizeof rq->url, "%s", url);
    MHD_get_connection_values(conn, MHD_GET_ARGUMENT_KIND, add_arg, rq);
    copy_header(conn, "Authorization", rq->auth, sizeof rq->auth);
    copy_header(conn, "Accept-Encoding", rq->accept_encoding, sizeof rq->accept_encoding);
    copy_header(conn, "Content-Type", rq->content_type, sizeof rq->content_type);

    pthread_mutex_lock(&f->mu);
    rq->n = ++f->requests;
    free(f->last.body.p);
    f->last = *rq;
    f->last.body = (struct buf){0};
    if (rq->body.len)
        buf_add(&f->last.body, rq->body.p, rq->body.len);
    struct fake_resp out = {.status = 200};
    f->route(f, rq, &out);
    pthread_mutex_unlock(&f->mu);

    if (out.delay_ms) {
        struct timespec ts = {out.delay_ms / 1000, (out.delay_ms % 1000) * 1000000L};
        nanosleep(&ts, NULL);
    }
    if (out.drop) {
        free(out.body);
        return MHD_NO;
    }
    struct MHD_Response *resp;
    bool gz = out.gzip && strstr(rq->accept_encoding, "gzip");
    if (out.stream_values) {
        struct gen *g = calloc(1, sizeof *g);
        g->n = out.stream_values;
        g->break_after = out.break_after;
        resp =
            MHD_create_response_from_callback(MHD_SIZE_UNKNOWN, 32 * 1024, gen_read, g, gen_free);
    } else if (gz) {
        size_t zl;
        char *z = gzip_text(out.body ? out.body : "", out.body ? strlen(out.body) : 0, &zl);
        resp = MHD_create_response_from_buffer(zl, z, MHD_RESPMEM_MUST_FREE);
        MHD_add_response_header(resp, "Content-Encoding", "gzip");
    } else {
        const char *b = out.body ? out.body : "";
        resp = MHD_create_response_from_buffer(strlen(b), (void *)b, MHD_RESPMEM_MUST_COPY);
    }
    MHD_add_response_header(resp, "Content-Type",
                            out.content_type ? out.content_type : "application/json;charset=UTF-8");
    if (out.header_name)
        MHD_add_response_header(resp, out.header_name, out.header_value);
    enum MHD_Result r = MHD_queue_response(conn, (unsigned)out.status, resp);
    MHD_destroy_response(resp);
    free(out.body);
    return r;
}

static void fake_done(void *cls, struct MHD_Connection *conn, void **con_cls,
                      enum MHD_RequestTerminationCode toe)
{
    (void)cls, (void)conn, (void)toe;
    struct fake_req *rq = *con_cls;
    if (rq) {
        free(rq->body.p);
        free(rq);
    }
    *con_cls = NULL;
}

/* key_pem and cert_pem non-NULL: HTTPS with that certificate. */
static void fake_start_tls(struct fake *f, fake_route route, void *ud, const char *key_pem,
                           const char *cert_pem)
{
    memset(f, 0, sizeof *f);
    pthread_mutex_init(&f->mu, NULL);
    f->route = route;
    f->ud = ud;
    f->port = spec_free_port();
    struct sockaddr_in a = {.sin_family = AF_INET,
                            .sin_port = htons((uint16_t)f->port),
                            .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    unsigned flags = MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_THREAD_PER_CONNECTION;
    if (key_pem)
        f->d = MHD_start_daemon(flags | MHD_USE_TLS, (uint16_t)f->port, NULL, NULL, fake_handler, f,
                                MHD_OPTION_SOCK_ADDR, &a, MHD_OPTION_NOTIFY_COMPLETED, fake_done, f,
                                MHD_OPTION_HTTPS_MEM_KEY, key_pem, MHD_OPTION_HTTPS_MEM_CERT,
                                cert_pem, MHD_OPTION_END);
    else
        f->d = MHD_start_daemon(flags, (uint16_t)f->port, NULL, NULL, fake_handler, f,
                                MHD_OPTION_SOCK_ADDR, &a, MHD_OPTION_NOTIFY_COMPLETED, fake_done, f,
                                MHD_OPTION_END);
    CHECK(f->d != NULL);
    snprintf(f->base, sizeof f->base, "%s://127.0.0.1:%d", key_pem ? "https" : "http", f->port);
}

static void fake_start(struct fake *f, fake_route route, void *ud)
{
    fake_start_tls(f, route, ud, NULL, NULL);
}

static void fake_stop(struct fake *f)
{
    MHD_stop_daemon(f->d);
    free(f->last.body.p);
    pthread_mutex_destroy(&f->mu);
}

static struct dhis2_client *client_for(struct fake *f, const char *auth, int retries)
{
    struct dhis2_config cfg = {
        .name = "national",
        .base_url = f->base,
        .auth_type = auth,
        .username = "sync",
        .secret = strcmp(auth, "pat") == 0 ? "d2p_testtoken123" : "s3cret-pw",
        .timeout_s = 10,
        .max_retries = retries,
        .backoff_ms = 10,
    };
    struct err e = {0};
    struct dhis2_client *c = dhis2_client_new(&cfg, &e);
    CHECKF(c != NULL, "%s", e.msg);
    return c;
}

/* ---- routes ---- */

static const char system_info_json[] =
    "{\"version\":\"2.41.1\",\"revision\":\"abc123\",\"buildTime\":\"2024-01-01T00:00:00.000\","
    "\"serverDate\":\"2026-11-24T10:15:30.123\",\"contextPath\":\"https://host/dhis\","
    "\"systemId\":\"x\",\"systemName\":\"National HMIS\"}";

static void route_basic(struct fake *f, const struct fake_req *rq, struct fake_resp *out)
{
    (void)f;
    if (strcmp(rq->url, "/dhis/api/system/info") == 0 || strcmp(rq->url, "/api/system/info") == 0) {
        out->body = xstrdup(system_info_json);
        out->gzip = true;
    } else if (strstr(rq->url, "/api/me")) {
        out->body = xstrdup("{\"id\":\"M5zQapPyTZI\",\"username\":\"sync\",\"name\":\"Sync "
                            "User\",\"authorities\":[\"ALL\"]}");
    } else {
        out->status = 404;
        out->content_type = "text/html";
        out->body = xstrdup("<html><title>Not found</title></html>");
    }
}

TEST(dhis2_basic_auth_system_info_me_and_gzip)
{
    struct fake f;
    fake_start(&f, route_basic, NULL);
    struct dhis2_client *c = client_for(&f, "basic", 0);
    struct dhis2_system_info si;
    struct err e = {0};
    CHECKF(dhis2_system_info(c, &si, &e) == 0, "%s", e.msg);
    CHECK_STR(si.version, "2.41.1");
    CHECK_INT(si.major, 2);
    CHECK_INT(si.minor, 41);
    CHECK_INT(si.patch, 1);
    CHECK_STR(si.server_date, "2026-11-24T10:15:30.123");
    CHECK_STR(si.system_name, "National HMIS");
    CHECK_STR(si.context_path, "https://host/dhis");
    CHECK_STR(f.last.auth, "Basic c3luYzpzM2NyZXQtcHc="); /* sync:s3cret-pw */
    CHECK_CONTAINS(f.last.accept_encoding, "gzip");
    struct dhis2_me me;
    CHECKF(dhis2_me(c, &me, &e) == 0, "%s", e.msg);
    CHECK_STR(me.id, "M5zQapPyTZI");
    CHECK_STR(me.username, "sync");
    CHECK_STR(me.name, "Sync User");
    dhis2_client_free(c);
    fake_stop(&f);
}

TEST(dhis2_pat_auth_and_context_path)
{
    struct fake f;
    fake_start(&f, route_basic, NULL);
    char base[128];
    snprintf(base, sizeof base, "%s/dhis//", f.base);
    struct dhis2_config cfg = {
        .name = "district", .base_url = base, .auth_type = "pat", .secret = "d2p_testtoken123"};
    struct err e = {0};
    struct dhis2_client *c = dhis2_client_new(&cfg, &e);
    CHECKF(c != NULL, "%s", e.msg);
    char want[128];
    snprintf(want, sizeof want, "%s/dhis", f.base);
    CHECK_STR(dhis2_client_base_url(c), want);
    struct dhis2_system_info si;
    CHECKF(dhis2_system_info(c, &si, &e) == 0, "%s", e.msg);
    CHECK_STR(f.last.url, "/dhis/api/system/info");
    CHECK_STR(f.last.auth, "ApiToken d2p_testtoken123");
    dhis2_client_free(c);

    /* a URL copied from an API page loses its /api */
    snprintf(base, sizeof base, "%s/dhis/api/", f.base);
    cfg.base_url = base;
    c = dhis2_client_new(&cfg, &e);
    CHECK_STR(dhis2_client_base_url(c), want);
    dhis2_client_free(c);
    fake_stop(&f);
}

TEST(dhis2_config_errors_are_clear)
{
    struct err e = {0};
    struct dhis2_config cfg = {
        .name = "x", .base_url = "ftp://h", .auth_type = "pat", .secret = "t"};
    CHECK(dhis2_client_new(&cfg, &e) == NULL);
    CHECK_CONTAINS(e.msg, "instance 'x': the URL must start with https://");
    cfg.base_url = "https://user:hunter2@h.example";
    CHECK(dhis2_client_new(&cfg, &e) == NULL);
    CHECK_CONTAINS(e.msg, "not in the URL");
    CHECK(strstr(e.msg, "hunter2") == NULL);
    cfg.base_url = "not a url";
    CHECK(dhis2_client_new(&cfg, &e) == NULL);
    CHECK_CONTAINS(e.msg, "is not valid");
    cfg.base_url = "https://h.example";
    cfg.auth_type = "oauth";
    CHECK(dhis2_client_new(&cfg, &e) == NULL);
    CHECK_CONTAINS(e.msg, "auth type must be");
    cfg.auth_type = "basic";
    CHECK(dhis2_client_new(&cfg, &e) == NULL);
    CHECK_CONTAINS(e.msg, "basic auth needs a user name and a password");
    cfg.auth_type = "pat";
    cfg.secret = "a\r\nX-Evil: 1";
    CHECK(dhis2_client_new(&cfg, &e) == NULL);
}

static void route_status(struct fake *f, const struct fake_req *rq, struct fake_resp *out)
{
    (void)rq;
    const struct fake_resp *want = f->ud;
    *out = *want;
    out->body = want->body ? xstrdup(want->body) : NULL;
}

static void expect_error(struct fake_resp want, int code, const char *needle, const char *needle2)
{
    struct fake f;
    fake_start(&f, route_status, &want);
    struct dhis2_client *c = client_for(&f, "basic", 2);
    struct dhis2_me me;
    struct err e = {0};
    CHECK_INT(dhis2_me(c, &me, &e), code);
    CHECK_CONTAINS(e.msg, needle);
    if (needle2)
        CHECK_CONTAINS(e.msg, needle2);
    CHECK(strstr(e.msg, "s3cret") == NULL);
    dhis2_client_free(c);
    fake_stop(&f);
}

TEST(dhis2_http_errors_name_instance_url_and_status)
{
    expect_error(
        (struct fake_resp){.status = 401,
                           .body = "{\"httpStatus\":\"Unauthorized\",\"httpStatusCode\":"
                                   "401,\"status\":\"ERROR\",\"message\":\"Unauthorized\"}"},
        ERR_AUTH,
        "instance 'national': HTTP 401 from http://127.0.0.1:", "/api/me — check the credentials");
    expect_error((struct fake_resp){.status = 200,
                                    .content_type = "text/html; charset=utf-8",
                                    .body = "<html><head><title>DHIS 2 login</title></head>"
                                            "<body>Sign in</body></html>"},
                 ERR_NET, "is text/html; charset=utf-8, not JSON (\"DHIS 2 login\")",
                 "check the base URL");
    expect_error((struct fake_resp){.status = 502,
                                    .content_type = "text/html",
                                    .body = "<html><title>502 Bad Gateway</title></html>"},
                 ERR_NET, "HTTP 502 from", "after 3 attempts: 502 Bad Gateway");
    expect_error(
        (struct fake_resp){.status = 302,
                           .header_name = "Location",
                           .header_value = "https://h/dhis-web-commons/security/login.action",
                           .content_type = "text/html"},
        ERR_NET, "redirects to https://h/dhis-web-commons/security/login.action", NULL);
    expect_error((struct fake_resp){.status = 404, .content_type = "text/html"}, ERR_NOT_FOUND,
                 "HTTP 404", "check the base URL");
}

/* ---- import summaries ---- */

static const char summary_ok[] =
    "{\"httpStatus\":\"OK\",\"httpStatusCode\":200,\"status\":\"OK\",\"message\":\"Import was "
    "successful.\",\"response\":{\"responseType\":\"ImportSummary\",\"status\":\"SUCCESS\","
    "\"importOptions\":{\"idSchemes\":{},\"dryRun\":false},\"description\":\"Import process "
    "completed successfully\",\"importCount\":{\"imported\":2,\"updated\":1,\"ignored\":0,"
    "\"deleted\":1},\"conflicts\":[],\"rejectedIndexes\":[],\"dataSetComplete\":\"false\"}}";

static const char summary_409[] =
    "{\"httpStatus\":\"Conflict\",\"httpStatusCode\":409,\"status\":\"WARNING\",\"message\":\"One "
    "more conflicts encountered, please check import summary.\",\"response\":{\"responseType\":"
    "\"ImportSummary\",\"status\":\"WARNING\",\"importOptions\":{\"idSchemes\":{}},"
    "\"description\":\"Import process completed successfully\",\"importCount\":{\"imported\":2,"
    "\"updated\":1,\"ignored\":2,\"deleted\":0},\"conflicts\":[{\"object\":\"xYzUnknown1\","
    "\"objects\":{\"dataElement\":\"xYzUnknown1\"},\"value\":\"Data element not found or not "
    "accessible: `xYzUnknown1`\",\"errorCode\":\"E7610\",\"property\":\"dataElement\","
    "\"indexes\":[3]},{\"object\":\"f7n9E0hX8qk\",\"objects\":{\"dataElement\":\"f7n9E0hX8qk\","
    "\"value\":\"value_not_numeric\"},\"value\":\"Value must match value type of data element "
    "`f7n9E0hX8qk`: `Data value is not numeric`\",\"errorCode\":\"E7619\",\"property\":\"value\","
    "\"indexes\":[2,4]}],\"rejectedIndexes\":[2,3,4],\"dataSetComplete\":\"false\"}}";

static const char summary_error[] =
    "{\"httpStatus\":\"Conflict\",\"httpStatusCode\":409,\"status\":\"ERROR\",\"message\":\"An "
    "error occurred, please check import summary.\",\"response\":{\"responseType\":"
    "\"ImportSummary\",\"status\":\"ERROR\",\"description\":\"Import process was aborted\","
    "\"importCount\":{\"imported\":0,\"updated\":0,\"ignored\":3,\"deleted\":0},\"conflicts\":"
    "[{\"object\":\"BfMAe6Itzgt\",\"objects\":{\"dataSet\":\"BfMAe6Itzgt\"},\"value\":\"Data set "
    "not found or not accessible: `BfMAe6Itzgt`\",\"errorCode\":\"E7600\",\"property\":"
    "\"dataSet\",\"indexes\":[]}],\"rejectedIndexes\":[]}}";

static const char summary_237[] =
    "{\"responseType\":\"ImportSummary\",\"status\":\"WARNING\",\"importOptions\":{},"
    "\"description\":\"Import process completed successfully\",\"importCount\":{\"imported\":1,"
    "\"updated\":0,\"ignored\":1,\"deleted\":0},\"conflicts\":[{\"object\":\"xYzUnknown1\","
    "\"value\":\"Data element not found or not accessible\"}],\"dataSetComplete\":\"false\"}";

static const char summary_243[] =
    "{\"httpStatus\":\"OK\",\"httpStatusCode\":200,\"status\":\"WARNING\",\"message\":\"Import "
    "completed with warnings, please check import summary.\",\"response\":{\"responseType\":"
    "\"ImportSummary\",\"status\":\"WARNING\",\"importCount\":{\"imported\":3,\"updated\":0,"
    "\"ignored\":1,\"deleted\":0},\"conflicts\":[{\"object\":\"202413\",\"objects\":{\"period\":"
    "\"202413\"},\"value\":\"Period not valid: `202413`\",\"errorCode\":\"E7611\",\"property\":"
    "\"period\",\"indexes\":[0]}],\"rejectedIndexes\":[0]}}";

TEST(dhis2_import_summary_shapes)
{
    struct dhis2_import_summary s;
    struct err e = {0};
    CHECKF(dhis2_parse_import_summary(summary_ok, &s, &e) == 0, "%s", e.msg);
    CHECK_INT(s.status, DHIS2_IMPORT_SUCCESS);
    CHECK_STR(s.status_text, "SUCCESS");
    CHECK_INT(s.imported, 2);
    CHECK_INT(s.updated, 1);
    CHECK_INT(s.ignored, 0);
    CHECK_INT(s.deleted, 1);
    CHECK_INT(s.n_conflicts, 0);
    CHECK_INT(s.n_rejected, 0);
    dhis2_import_summary_free(&s);

    CHECKF(dhis2_parse_import_summary(summary_409, &s, &e) == 0, "%s", e.msg);
    CHECK_INT(s.status, DHIS2_IMPORT_WARNING);
    CHECK_INT(s.ignored, 2);
    CHECK_INT(s.n_conflicts, 2);
    CHECK_STR(s.conflicts[0].object, "xYzUnknown1");
    CHECK_STR(s.conflicts[0].error_code, "E7610");
    CHECK_STR(s.conflicts[0].property, "dataElement");
    CHECK_STR(s.conflicts[0].objects, "{\"dataElement\":\"xYzUnknown1\"}");
    CHECK_STR(s.conflicts[0].value, "Data element not found or not accessible: `xYzUnknown1`");
    CHECK_INT(s.conflicts[0].n_indexes, 1);
    CHECK_INT(s.conflicts[0].indexes[0], 3);
    CHECK_INT(s.conflicts[1].n_indexes, 2);
    CHECK_INT(s.conflicts[1].indexes[1], 4);
    CHECK_INT(s.n_rejected, 3);
    CHECK_INT(s.rejected_indexes[2], 4);
    dhis2_import_summary_free(&s);

    CHECKF(dhis2_parse_import_summary(summary_error, &s, &e) == 0, "%s", e.msg);
    CHECK_INT(s.status, DHIS2_IMPORT_ERROR);
    CHECK_STR(s.description, "Import process was aborted");
    CHECK_INT(s.n_conflicts, 1);
    CHECK_STR(s.conflicts[0].error_code, "E7600");
    CHECK_INT(s.conflicts[0].n_indexes, 0);
    dhis2_import_summary_free(&s);

    CHECKF(dhis2_parse_import_summary(summary_237, &s, &e) == 0, "%s", e.msg);
    CHECK_INT(s.status, DHIS2_IMPORT_WARNING);
    CHECK_INT(s.imported, 1);
    CHECK_INT(s.n_conflicts, 1);
    CHECK(s.conflicts[0].error_code == NULL);
    CHECK(s.conflicts[0].objects == NULL);
    CHECK_STR(s.conflicts[0].value, "Data element not found or not accessible");
    dhis2_import_summary_free(&s);

    CHECKF(dhis2_parse_import_summary(summary_243, &s, &e) == 0, "%s", e.msg);
    CHECK_INT(s.status, DHIS2_IMPORT_WARNING);
    CHECK_INT(s.imported, 3);
    CHECK_INT(s.rejected_indexes[0], 0);
    dhis2_import_summary_free(&s);

    CHECK(dhis2_parse_import_summary("{\"httpStatus\":\"Bad Request\",\"message\":\"x\"}", &s,
                                     &e) != 0);
    CHECK_CONTAINS(e.msg, "no import summary");
    CHECK(dhis2_parse_import_summary("<html>", &s, &e) != 0);
}

struct scripted {
    struct fake_resp steps[8];
    int n;
};

/* answers the scripted responses in order; the last one repeats */
static void route_script(struct fake *f, const struct fake_req *rq, struct fake_resp *out)
{
    struct scripted *s = f->ud;
    int i = rq->n - 1 < s->n ? rq->n - 1 : s->n - 1;
    *out = s->steps[i];
    out->body = s->steps[i].body ? xstrdup(s->steps[i].body) : NULL;
}

static const struct datavalue sample_values[] = {
    {.data_element = "fbfJHSPpUQD",
     .period = "202401",
     .org_unit = "DiszpKrYNg8",
     .category_option_combo = "pq2XI5kz2BY",
     .attribute_option_combo = "HllvX50cXC0",
     .value = "12",
     .comment = "say \"hi\"\n\\ {}",
     .stored_by = "admin",
     .created = "2024-01-01",
     .last_updated = "2024-01-02"},
    {.data_element = "fbfJHSPpUQD",
     .period = "202402",
     .org_unit = "DiszpKrYNg8",
     .value = "caf\xc3\xa9",
     .followup = true},
    {.data_element = "fbfJHSPpUQD", .period = "202403", .org_unit = "DiszpKrYNg8", .deleted = true},
};

static int post_script(struct scripted *s, int retries, const struct dhis2_import_options *opt,
                       struct dhis2_import_summary *out, struct err *e, int *requests,
                       struct fake_req *last)
{
    struct fake f;
    fake_start(&f, route_script, s);
    struct dhis2_client *c = client_for(&f, "pat", retries);
    int rc = dhis2_post_datavalues(c, sample_values, 3, opt, out, e);
    *requests = f.requests;
    if (last) {
        *last = f.last;
        f.last.body = (struct buf){0};
    }
    dhis2_client_free(c);
    fake_stop(&f);
    return rc;
}

TEST(dhis2_post_body_query_and_summary)
{
    struct scripted s = {.steps = {{.status = 200, .body = (char *)summary_ok}}, .n = 1};
    struct dhis2_import_options opt = {.import_strategy = "CREATE_AND_UPDATE",
                                       .dry_run = true,
                                       .id_scheme = "CODE",
                                       .org_unit_id_scheme = "UID",
                                       .skip_existing_check = true};
    struct dhis2_import_summary sum;
    struct fake_req last;
    struct err e = {0};
    int requests;
    CHECKF(post_script(&s, 0, &opt, &sum, &e, &requests, &last) == 0, "%s", e.msg);
    CHECK_INT(requests, 1);
    CHECK_INT(sum.attempts, 1);
    CHECK_INT(sum.http_status, 200);
    CHECK_INT(sum.imported, 2);
    CHECK_STR(last.method, "POST");
    CHECK_STR(last.url, "/api/dataValueSets");
    CHECK_STR(last.query, "importStrategy=CREATE_AND_UPDATE&dryRun=true&idScheme=CODE&"
                          "orgUnitIdScheme=UID&skipExistingCheck=true");
    CHECK_CONTAINS(last.content_type, "application/json");
    CHECK_STR(last.body.p,
              "{\"dataValues\":[{\"dataElement\":\"fbfJHSPpUQD\",\"period\":\"202401\","
              "\"orgUnit\":\"DiszpKrYNg8\",\"categoryOptionCombo\":\"pq2XI5kz2BY\","
              "\"attributeOptionCombo\":\"HllvX50cXC0\",\"value\":\"12\",\"comment\":\"say "
              "\\\"hi\\\"\\n\\\\ {}\",\"storedBy\":\"admin\"},"
              "{\"dataElement\":\"fbfJHSPpUQD\",\"period\":\"202402\",\"orgUnit\":"
              "\"DiszpKrYNg8\",\"value\":\"caf\xc3\xa9\",\"followup\":true},"
              "{\"dataElement\":\"fbfJHSPpUQD\",\"period\":\"202403\",\"orgUnit\":"
              "\"DiszpKrYNg8\",\"deleted\":true}]}");
    /* and it is JSON a parser agrees with */
    cJSON *j = cJSON_Parse(last.body.p);
    CHECK(j != NULL);
    cJSON_Delete(j);
    free(last.body.p);
    dhis2_import_summary_free(&sum);
}

TEST(dhis2_post_409_warning_not_retried_and_2_43_warning)
{
    struct scripted s = {.steps = {{.status = 409, .body = (char *)summary_409}}, .n = 1};
    struct dhis2_import_summary sum;
    struct err e = {0};
    int requests;
    CHECKF(post_script(&s, 3, NULL, &sum, &e, &requests, NULL) == 0, "%s", e.msg);
    CHECK_INT(requests, 1);
    CHECK_INT(sum.http_status, 409);
    CHECK_INT(sum.status, DHIS2_IMPORT_WARNING);
    CHECK_INT(sum.n_conflicts, 2);
    dhis2_import_summary_free(&sum);

    struct scripted s43 = {.steps = {{.status = 200, .body = (char *)summary_243}}, .n = 1};
    CHECKF(post_script(&s43, 3, NULL, &sum, &e, &requests, NULL) == 0, "%s", e.msg);
    CHECK_INT(sum.status, DHIS2_IMPORT_WARNING);
    CHECK_INT(sum.n_conflicts, 1);
    dhis2_import_summary_free(&sum);

    struct scripted s37 = {.steps = {{.status = 200, .body = (char *)summary_237}}, .n = 1};
    CHECKF(post_script(&s37, 3, NULL, &sum, &e, &requests, NULL) == 0, "%s", e.msg);
    CHECK_INT(sum.status, DHIS2_IMPORT_WARNING);
    CHECK_INT(sum.imported, 1);
    dhis2_import_summary_free(&sum);

    struct scripted serr = {.steps = {{.status = 409, .body = (char *)summary_error}}, .n = 1};
    CHECKF(post_script(&serr, 3, NULL, &sum, &e, &requests, NULL) == 0, "%s", e.msg);
    CHECK_INT(requests, 1);
    CHECK_INT(sum.status, DHIS2_IMPORT_ERROR);
    dhis2_import_summary_free(&sum);
}

TEST(dhis2_post_retries_503_429_and_dropped_connections)
{
    struct dhis2_import_summary sum;
    struct err e = {0};
    int requests;
    /* The drop comes first, on a fresh connection: on a reused one libcurl itself silently
     * resends a request that got nothing back, and the fake would count one more request than
     * our attempts. */
    struct scripted s = {
        .steps = {{.drop = true},
                  {.status = 503,
                   .content_type = "text/html",
                   .body = "<title>Service Unavailable</title>"},
                  {.status = 429, .header_name = "Retry-After", .header_value = "1", .body = "{}"},
                  {.status = 200, .body = (char *)summary_ok}},
        .n = 4};
    time_t t0 = time(NULL);
    CHECKF(post_script(&s, 5, NULL, &sum, &e, &requests, NULL) == 0, "%s", e.msg);
    CHECK_INT(requests, 4);
    CHECK_INT(sum.attempts, 4);
    CHECK_INT(sum.imported, 2);
    CHECK(time(NULL) - t0 >= 1); /* Retry-After: 1 was honoured */
    dhis2_import_summary_free(&sum);

    /* retries are bounded: 1 + max_retries requests, then the last error */
    struct scripted always = {.steps = {{.status = 503,
                                         .content_type = "text/html",
                                         .body = "<title>Service Unavailable</title>"}},
                              .n = 1};
    CHECK_INT(post_script(&always, 2, NULL, &sum, &e, &requests, NULL), ERR_NET);
    CHECK_INT(requests, 3);
    CHECK_INT(sum.attempts, 3);
    CHECK_CONTAINS(e.msg, "HTTP 503 from http://127.0.0.1:");
    CHECK_CONTAINS(e.msg, "/api/dataValueSets after 3 attempts: Service Unavailable");

    struct scripted dropped = {.steps = {{.drop = true}}, .n = 1};
    CHECK_INT(post_script(&dropped, 1, NULL, &sum, &e, &requests, NULL), ERR_NET);
    CHECK_INT(requests, 2);
    CHECK_CONTAINS(e.msg, "(after 2 attempts)");
}

TEST(dhis2_post_html_error_page_is_a_clear_error)
{
    struct scripted s = {.steps = {{.status = 200,
                                    .content_type = "text/html",
                                    .body = "<html><title>Proxy login</title></html>"}},
                         .n = 1};
    struct dhis2_import_summary sum;
    struct err e = {0};
    int requests;
    CHECK_INT(post_script(&s, 2, NULL, &sum, &e, &requests, NULL), ERR_NET);
    CHECK_CONTAINS(e.msg, "instance 'national': HTTP 200 from http://127.0.0.1:");
    CHECK_CONTAINS(e.msg, "/api/dataValueSets is text/html, not JSON (\"Proxy login\")");
    CHECK_INT(requests, 1);

    struct scripted s400 = {.steps = {{.status = 400,
                                       .body = "{\"httpStatus\":\"Bad Request\",\"httpStatusCode\":"
                                               "400,\"status\":\"ERROR\",\"message\":\"JSON parse "
                                               "error\"}"}},
                            .n = 1};
    CHECK_INT(post_script(&s400, 2, NULL, &sum, &e, &requests, NULL), ERR_NET);
    CHECK_CONTAINS(e.msg, "HTTP 400 from");
    CHECK_CONTAINS(e.msg, ": JSON parse error");
    CHECK_INT(requests, 1);
}

static void route_gzip_post(struct fake *f, const struct fake_req *rq, struct fake_resp *out)
{
    (void)f, (void)rq;
    out->body = xstrdup(summary_ok);
}

TEST(dhis2_post_large_body_is_gzipped)
{
    enum { N = 2000 };
    struct datavalue *vals = calloc(N, sizeof *vals);
    char(*values)[16] = calloc(N, 16);
    for (int i = 0; i < N; i++) {
        snprintf(values[i], 16, "%d", i);
        vals[i] = (struct datavalue){.data_element = "fbfJHSPpUQD",
                                     .period = "202401",
                                     .org_unit = "DiszpKrYNg8",
                                     .value = values[i],
                                     .comment = "a comment long enough to make the body big"};
    }
    struct fake f;
    fake_start(&f, route_gzip_post, NULL);
    struct dhis2_client *c = client_for(&f, "basic", 0);
    struct dhis2_import_summary sum;
    struct err e = {0};
    CHECKF(dhis2_post_datavalues(c, vals, N, NULL, &sum, &e) == 0, "%s", e.msg);
    CHECK(f.last.body.len > 2);
    CHECK((unsigned char)f.last.body.p[0] == 0x1f && (unsigned char)f.last.body.p[1] == 0x8b);
    /* the header's XFL byte: 4 = compressed with the fastest algorithm (the default level cost
     * half of a run's CPU) */
    CHECK_INT((unsigned char)f.last.body.p[8], 4);
    size_t plain_len;
    char *plain = gunzip_text(f.last.body.p, f.last.body.len, &plain_len);
    CHECK(plain_len > 64 * 1024);
    CHECK(f.last.body.len < plain_len / 5);
    cJSON *j = cJSON_Parse(plain);
    CHECK_INT(cJSON_GetArraySize(cJSON_GetObjectItem(j, "dataValues")), N);
    cJSON_Delete(j);
    free(plain);
    dhis2_import_summary_free(&sum);

    /* no_gzip sends it plain */
    struct dhis2_import_options opt = {.no_gzip = true};
    CHECKF(dhis2_post_datavalues(c, vals, N, &opt, &sum, &e) == 0, "%s", e.msg);
    CHECK(f.last.body.p[0] == '{');
    dhis2_import_summary_free(&sum);
    dhis2_client_free(c);
    fake_stop(&f);
    free(vals);
    free(values);
}

static int stop_soon(void *ud) { return time(NULL) >= *(time_t *)ud; }

TEST(dhis2_cancel_stops_retries_promptly)
{
    struct scripted s = {.steps = {{.status = 503,
                                    .header_name = "Retry-After",
                                    .header_value = "30",
                                    .body = "{}"}},
                         .n = 1};
    struct fake f;
    fake_start(&f, route_script, &s);
    struct dhis2_client *c = client_for(&f, "basic", 5);
    time_t deadline = time(NULL) + 1;
    dhis2_client_set_cancel(c, stop_soon, &deadline);
    struct dhis2_import_summary sum;
    struct err e = {0};
    time_t t0 = time(NULL);
    CHECK_INT(dhis2_post_datavalues(c, sample_values, 1, NULL, &sum, &e), ERR_CANCELLED);
    CHECK(time(NULL) - t0 <= 3);
    CHECK_INT(f.requests, 1);
    CHECK_CONTAINS(e.msg, "cancelled");
    dhis2_client_free(c);
    fake_stop(&f);
}

/* ---- fetching ---- */

struct fetch_route {
    size_t values;
    const char *body;
};

static void route_fetch(struct fake *f, const struct fake_req *rq, struct fake_resp *out)
{
    const struct fetch_route *fr = f->ud;
    (void)rq;
    out->gzip = true;
    if (fr->body)
        out->body = xstrdup(fr->body);
    else
        out->stream_values = fr->values;
}

struct peak {
    size_t values, max_batch;
};

static int peak_fn(void *ud, const struct datavalue *v, size_t n, struct err *e)
{
    (void)e;
    struct peak *p = ud;
    for (size_t i = 0; i < n; i++)
        CHECK(v[i].data_element && v[i].org_unit && v[i].period && v[i].value);
    p->values += n;
    if (n > p->max_batch)
        p->max_batch = n;
    return 0;
}

TEST_TIMEOUT(dhis2_fetch_200k_values_streams_in_bounded_memory, 60)
{
    struct fetch_route fr = {.values = 200000};
    struct fake f;
    fake_start(&f, route_fetch, &fr);
    struct dhis2_client *c = client_for(&f, "basic", 0);
    const char *ds[] = {"BfMAe6Itzgt", "QX4ZTUbOt3a", NULL};
    const char *ou[] = {"ImspTQPwCqd", NULL};
    struct dhis2_dv_query q = {.data_sets = ds,
                               .org_units = ou,
                               .children = true,
                               .start_date = "2024-01-01",
                               .end_date = "2024-12-31",
                               .last_updated = "2024-06-01T00:00:00.000",
                               .include_deleted = true,
                               .batch = 500};
    struct peak p = {0};
    struct dhis2_fetch_stats st;
    struct err e = {0};
    CHECKF(dhis2_fetch_datavalues(c, &q, peak_fn, &p, &st, &e) == 0, "%s", e.msg);
    CHECK_STR(f.last.url, "/api/dataValueSets");
    CHECK_STR(f.last.query, "dataSet=BfMAe6Itzgt&dataSet=QX4ZTUbOt3a&orgUnit=ImspTQPwCqd&"
                            "children=true&startDate=2024-01-01&endDate=2024-12-31&"
                            "lastUpdated=2024-06-01T00:00:00.000&includeDeleted=true");
    CHECK_INT(p.values, 200000);
    CHECK_INT(st.values, 200000);
    CHECK_INT(p.max_batch, 500);
    CHECK(st.bytes > 200000 * 200);
    CHECKF(st.peak_bytes < 512 * 1024, "the splitter held %zu bytes", st.peak_bytes);
    printf("200k values, %zu bytes, peak %zu bytes\n", st.bytes, st.peak_bytes);
    dhis2_client_free(c);
    fake_stop(&f);
}

TEST(dhis2_fetch_gzip_root_org_unit_and_409)
{
    struct fetch_route fr = {.body =
                                 "{\"orgUnit\":\"DiszpKrYNg8\",\"dataValues\":[{\"dataElement\":"
                                 "\"a\",\"period\":\"202401\",\"value\":\"1\"}]}"};
    struct fake f;
    fake_start(&f, route_fetch, &fr);
    struct dhis2_client *c = client_for(&f, "basic", 0);
    const char *ds[] = {"BfMAe6Itzgt", NULL};
    const char *ou[] = {"DiszpKrYNg8", NULL};
    const char *pe[] = {"202401", NULL};
    struct dhis2_dv_query q = {.data_sets = ds, .org_units = ou, .periods = pe};
    struct collect col = {0};
    struct err e = {0};
    CHECKF(dhis2_fetch_datavalues(c, &q, collect_fn, &col, NULL, &e) == 0, "%s", e.msg);
    CHECK_STR(col.text.p, "a|202401|DiszpKrYNg8|-|-|1|-|0|0\n");
    free(col.text.p);

    /* root after the array: the one org unit asked for fills in */
    fr.body = "{\"dataValues\":[{\"dataElement\":\"a\",\"value\":\"1\"}],\"orgUnit\":"
              "\"DiszpKrYNg8\",\"period\":\"202401\"}";
    struct collect col2 = {0};
    CHECKF(dhis2_fetch_datavalues(c, &q, collect_fn, &col2, NULL, &e) == 0, "%s", e.msg);
    CHECK_STR(col2.text.p, "a|202401|DiszpKrYNg8|-|-|1|-|0|0\n");
    free(col2.text.p);

    /* malformed JSON names the instance and URL */
    fr.body = "{\"dataValues\":[{\"dataElement\":\"a\",}]}";
    struct collect col3 = {0};
    CHECK_INT(dhis2_fetch_datavalues(c, &q, collect_fn, &col3, NULL, &e), ERR_NET);
    CHECK_CONTAINS(e.msg, "instance 'national': http://127.0.0.1:");
    CHECK_CONTAINS(e.msg, "/api/dataValueSets: malformed data value");
    dhis2_client_free(c);
    fake_stop(&f);

    struct scripted s = {.steps = {{.status = 409,
                                    .body = "{\"httpStatus\":\"Conflict\",\"httpStatusCode\":409,"
                                            "\"status\":\"ERROR\",\"message\":\"At least one valid "
                                            "data set or data element group must be specified\","
                                            "\"errorCode\":\"E2001\"}"}},
                         .n = 1};
    fake_start(&f, route_script, &s);
    c = client_for(&f, "basic", 3);
    struct dhis2_dv_query none = {.org_units = ou, .periods = pe};
    CHECK_INT(dhis2_fetch_datavalues(c, &none, collect_fn, &col3, NULL, &e), ERR_NET);
    CHECK_CONTAINS(e.msg, "HTTP 409 from");
    CHECK_CONTAINS(e.msg, "must be specified (E2001)");
    CHECK_INT(f.requests, 1);
    dhis2_client_free(c);
    fake_stop(&f);
}

TEST(dhis2_fetch_retries_only_before_values_were_delivered)
{
    struct scripted s = {.steps = {{.status = 503, .body = "{}"},
                                   {.status = 200,
                                    .body = "{\"dataValues\":[{\"dataElement\":\"a\",\"period\":"
                                            "\"p\",\"orgUnit\":\"o\",\"value\":\"1\"}]}"}},
                         .n = 2};
    struct fake f;
    fake_start(&f, route_script, &s);
    struct dhis2_client *c = client_for(&f, "basic", 2);
    const char *ds[] = {"BfMAe6Itzgt", NULL};
    struct dhis2_dv_query q = {.data_sets = ds};
    struct collect col = {0};
    struct err e = {0};
    CHECKF(dhis2_fetch_datavalues(c, &q, collect_fn, &col, NULL, &e) == 0, "%s", e.msg);
    CHECK_INT(f.requests, 2);
    CHECK_INT(col.values, 1);
    free(col.text.p);
    dhis2_client_free(c);
    fake_stop(&f);
}

/* ---- metadata ---- */

static void route_pages(struct fake *f, const struct fake_req *rq, struct fake_resp *out)
{
    (void)f;
    int page = 1;
    const char *p = strstr(rq->query, "page=");
    if (p && (p == rq->query || p[-1] == '&'))
        page = atoi(p + 5);
    struct buf b = {0};
    buf_printf(&b,
               "{\"pager\":{\"page\":%d,\"pageCount\":3,\"total\":5,\"pageSize\":2},"
               "\"dataElements\":[",
               page);
    for (int i = (page - 1) * 2; i < page * 2 && i < 5; i++)
        buf_printf(&b, "%s{\"id\":\"de%d\",\"code\":\"C%d\"}", i % 2 ? "," : "", i, i);
    buf_add(&b, "]}", 2);
    out->body = b.p;
}

static int list_fn(void *ud, const cJSON *item, struct err *e)
{
    (void)e;
    struct buf *b = ud;
    buf_printf(b, "%s,", cJSON_GetObjectItem(item, "id")->valuestring);
    return 0;
}

TEST(dhis2_list_follows_the_pager)
{
    struct fake f;
    fake_start(&f, route_pages, NULL);
    struct dhis2_client *c = client_for(&f, "basic", 0);
    const char *filters[] = {"code:like:C", "valueType:eq:NUMBER", NULL};
    struct buf b = {0};
    struct err e = {0};
    CHECKF(dhis2_list(c, "dataElements", "id,code", filters, 2, list_fn, &b, &e) == 0, "%s", e.msg);
    CHECK_STR(b.p, "de0,de1,de2,de3,de4,");
    CHECK_INT(f.requests, 3);
    CHECK_STR(f.last.query,
              "fields=id,code&filter=code:like:C&filter=valueType:eq:NUMBER&page=3&pageSize=2");
    CHECK_INT(dhis2_list(c, "../users", NULL, NULL, 0, list_fn, &b, &e), ERR_INPUT);
    CHECK_INT(dhis2_list(c, "dataElements", NULL, NULL, 0, list_fn, &b, &e), 0);
    CHECK_STR(f.last.query, "paging=false");
    free(b.p);
    dhis2_client_free(c);
    fake_stop(&f);
}

/* ---- async import ---- */

static void route_async(struct fake *f, const struct fake_req *rq, struct fake_resp *out)
{
    int *polls = f->ud;
    if (strcmp(rq->method, "POST") == 0) {
        out->body = xstrdup("{\"httpStatus\":\"OK\",\"httpStatusCode\":200,\"status\":\"OK\","
                            "\"message\":\"Initiated DATAVALUE_IMPORT (1732600000000)\","
                            "\"response\":{\"name\":\"dataValueImport\",\"id\":\"Jh5t6Yd2mLa\","
                            "\"created\":\"2026-11-26T09:00:00.000\",\"jobType\":"
                            "\"DATAVALUE_IMPORT\",\"relativeNotifierEndpoint\":"
                            "\"/api/system/tasks/DATAVALUE_IMPORT/Jh5t6Yd2mLa\"}}");
    } else if (strcmp(rq->url, "/api/system/tasks/DATAVALUE_IMPORT/Jh5t6Yd2mLa") == 0) {
        ++*polls;
        out->body =
            xstrdup(*polls < 3 ? "[{\"uid\":\"a\",\"level\":\"INFO\",\"message\":"
                                 "\"Importing data values\",\"completed\":false}]"
                               : "[{\"uid\":\"b\",\"level\":\"INFO\",\"message\":"
                                 "\"Import complete with status SUCCESS, 2 created\","
                                 "\"completed\":true},{\"uid\":\"a\",\"completed\":false}]");
    } else if (strcmp(rq->url, "/api/system/taskSummaries/DATAVALUE_IMPORT/Jh5t6Yd2mLa") == 0) {
        out->body = xstrdup(summary_237);
    } else {
        out->status = 404;
    }
}

TEST(dhis2_post_async_polls_the_task)
{
    int polls = 0;
    struct fake f;
    fake_start(&f, route_async, &polls);
    struct dhis2_client *c = client_for(&f, "basic", 0);
    struct dhis2_import_options opt = {.async = true};
    struct dhis2_import_summary sum;
    struct err e = {0};
    CHECKF(dhis2_post_datavalues(c, sample_values, 3, &opt, &sum, &e) == 0, "%s", e.msg);
    CHECK_INT(polls, 3);
    CHECK_INT(sum.imported, 1);
    CHECK_INT(sum.n_conflicts, 1);
    dhis2_import_summary_free(&sum);
    dhis2_client_free(c);
    fake_stop(&f);
}

TEST(dhis2_cancel_and_timeout_end_a_stalled_request)
{
    struct scripted s = {.steps = {{.status = 200, .delay_ms = 4000, .body = "{}"}}, .n = 1};
    struct fake f;
    fake_start(&f, route_script, &s);
    struct dhis2_client *c = client_for(&f, "basic", 0);
    time_t deadline = time(NULL) + 1;
    dhis2_client_set_cancel(c, stop_soon, &deadline);
    struct dhis2_system_info si;
    struct err e = {0};
    time_t t0 = time(NULL);
    CHECK_INT(dhis2_system_info(c, &si, &e), ERR_CANCELLED);
    CHECK(time(NULL) - t0 <= 3);
    dhis2_client_free(c);

    struct dhis2_config cfg = {
        .name = "slow", .base_url = f.base, .auth_type = "pat", .secret = "t", .timeout_s = 1};
    c = dhis2_client_new(&cfg, &e);
    t0 = time(NULL);
    CHECK_INT(dhis2_system_info(c, &si, &e), ERR_NET);
    CHECK(time(NULL) - t0 <= 3);
    CHECK_CONTAINS(e.msg, "instance 'slow': http://127.0.0.1:");
    CHECK_CONTAINS(e.msg, "/api/system/info: ");
    dhis2_client_free(c);
    fake_stop(&f);
}

static char *read_text(const char *path)
{
    FILE *fp = fopen(path, "r");
    CHECKF(fp != NULL, "cannot open %s", path);
    struct buf b = {0};
    char chunk[4096];
    size_t n;
    while ((n = fread(chunk, 1, sizeof chunk, fp)) > 0)
        buf_add(&b, chunk, n);
    fclose(fp);
    return b.p;
}

TEST(dhis2_tls_is_verified_and_a_ca_file_is_honoured)
{
    char *dir = spec_test_dir("tls");
    char key[512], cert[512];
    snprintf(key, sizeof key, "%s/key.pem", dir);
    snprintf(cert, sizeof cert, "%s/cert.pem", dir);
    char *argv[] = {"/usr/bin/openssl",
                    "req",
                    "-x509",
                    "-newkey",
                    "ec",
                    "-pkeyopt",
                    "ec_paramgen_curve:prime256v1",
                    "-nodes",
                    "-keyout",
                    key,
                    "-out",
                    cert,
                    "-days",
                    "2",
                    "-subj",
                    "/CN=127.0.0.1",
                    "-addext",
                    "subjectAltName=IP:127.0.0.1",
                    NULL};
    CHECK_INT(spec_run(argv, NULL, NULL, NULL), 0);
    char *key_pem = read_text(key), *cert_pem = read_text(cert);
    struct fake f;
    fake_start_tls(&f, route_basic, NULL, key_pem, cert_pem);

    /* a self-signed certificate is refused by default, and that is not worth retrying */
    struct dhis2_client *c = client_for(&f, "pat", 3);
    struct dhis2_system_info si;
    struct err e = {0};
    time_t t0 = time(NULL);
    CHECK_INT(dhis2_system_info(c, &si, &e), ERR_NET);
    CHECK_CONTAINS(e.msg, "instance 'national': https://127.0.0.1:");
    CHECK_CONTAINS(e.msg, "certificate");
    CHECK(strstr(e.msg, "attempts") == NULL);
    CHECK(time(NULL) - t0 <= 2);
    CHECK_INT(f.requests, 0);
    dhis2_client_free(c);

    /* the instance's own CA file makes it trusted */
    struct dhis2_config cfg = {
        .name = "tls", .base_url = f.base, .auth_type = "pat", .secret = "t", .ca_file = cert};
    c = dhis2_client_new(&cfg, &e);
    CHECKF(dhis2_system_info(c, &si, &e) == 0, "%s", e.msg);
    CHECK_STR(si.version, "2.41.1");
    dhis2_client_free(c);
    fake_stop(&f);
    free(key_pem);
    free(cert_pem);
    free(dir);
}

/* ---- round trip: our serialiser, cJSON and the splitter agree on arbitrary text ---------- */

static char *random_text(unsigned *seed)
{
    static const char *const pieces[] = {
        "a",       "Z",   "0",  " ",  "\"", "\\",   "{",    "}", "[",        "]",
        ",",       ":",   "\n", "\t", "\r", "\x01", "\x1f", "/", "\xc3\xa9", "\xf0\x9f\x98\x80",
        "\\u0041", "null"};
    struct buf b = {0};
    buf_add(&b, "", 0);
    int n = rand_r(seed) % 12;
    for (int i = 0; i < n; i++) {
        const char *p = pieces[rand_r(seed) % (sizeof pieces / sizeof pieces[0])];
        buf_add(&b, p, strlen(p));
    }
    return b.p;
}

struct roundtrip {
    const struct datavalue *want;
    size_t next;
};

static int roundtrip_fn(void *ud, const struct datavalue *v, size_t n, struct err *e)
{
    (void)e;
    struct roundtrip *rt = ud;
    for (size_t i = 0; i < n; i++, rt->next++) {
        const struct datavalue *w = &rt->want[rt->next];
        CHECK_STR(v[i].data_element, w->data_element);
        CHECK_STR(v[i].period, w->period);
        CHECK_STR(v[i].org_unit, w->org_unit);
        CHECK(!w->category_option_combo
                  ? !v[i].category_option_combo
                  : strcmp(v[i].category_option_combo, w->category_option_combo) == 0);
        CHECK(!w->value ? !v[i].value : strcmp(v[i].value, w->value) == 0);
        CHECK(!w->comment ? !v[i].comment : strcmp(v[i].comment, w->comment) == 0);
        CHECK_INT(v[i].followup, w->followup);
        CHECK_INT(v[i].deleted, w->deleted);
    }
    return 0;
}

TEST(dhis2_serialiser_and_splitter_round_trip_arbitrary_text)
{
    enum { N = 400 };
    unsigned seed = 12345;
    struct datavalue vals[N];
    char *owned[N][5];
    for (int i = 0; i < N; i++) {
        for (int k = 0; k < 5; k++)
            owned[i][k] = random_text(&seed);
        vals[i] = (struct datavalue){
            .data_element = owned[i][0],
            .period = owned[i][1],
            .org_unit = owned[i][2],
            .category_option_combo = i % 3 ? owned[i][3] : NULL,
            .value = i % 5 ? owned[i][4] : NULL,
            .comment = i % 2 ? owned[i][3] : NULL,
            .followup = i % 7 == 0,
            .deleted = i % 11 == 0,
        };
    }
    size_t len;
    char *json = dhis2_datavalues_json(vals, N, &len);
    CHECK(json != NULL);
    CHECK_INT(strlen(json), len);

    /* an independent parser reads back exactly what went in */
    cJSON *root = cJSON_Parse(json);
    CHECKF(root != NULL, "cJSON cannot parse our JSON near %s", cJSON_GetErrorPtr());
    const cJSON *arr = cJSON_GetObjectItem(root, "dataValues");
    CHECK_INT(cJSON_GetArraySize(arr), N);
    for (int i = 0; i < N; i++) {
        const cJSON *o = cJSON_GetArrayItem(arr, i);
        CHECK_STR(cJSON_GetObjectItem(o, "dataElement")->valuestring, vals[i].data_element);
        CHECK_STR(cJSON_GetObjectItem(o, "orgUnit")->valuestring, vals[i].org_unit);
        CHECK(!vals[i].comment == !cJSON_GetObjectItem(o, "comment"));
        CHECK(vals[i].deleted == cJSON_IsTrue(cJSON_GetObjectItem(o, "deleted")));
        CHECK(vals[i].deleted == (cJSON_GetObjectItem(o, "deleted") != NULL));
    }
    cJSON_Delete(root);

    /* and the splitter does too, whatever the chunking */
    for (int round = 0; round < 20; round++) {
        struct roundtrip rt = {vals, 0};
        struct dvstream_options opt = {.batch = (size_t)(1 + rand_r(&seed) % 50)};
        struct dvstream *s = dvstream_new(&opt, roundtrip_fn, &rt);
        struct err e = {0};
        for (size_t off = 0; off < len;) {
            size_t k = 1 + (size_t)rand_r(&seed) % (round < 10 ? 7 : 700);
            if (k > len - off)
                k = len - off;
            CHECKF(dvstream_feed(s, json + off, k, &e) == 0, "round %d: %s", round, e.msg);
            off += k;
        }
        CHECKF(dvstream_finish(s, &e) == 0, "round %d: %s", round, e.msg);
        CHECK_INT(rt.next, N);
        dvstream_free(s);
    }
    free(json);
    for (int i = 0; i < N; i++)
        for (int k = 0; k < 5; k++)
            free(owned[i][k]);
}

TEST(dhis2_fetch_is_not_retried_once_values_were_delivered)
{
    struct scripted s = {.steps = {{.status = 200, .stream_values = 50000, .break_after = 20000}},
                         .n = 1};
    struct fake f;
    fake_start(&f, route_script, &s);
    struct dhis2_client *c = client_for(&f, "basic", 3);
    const char *ds[] = {"BfMAe6Itzgt", NULL};
    struct dhis2_dv_query q = {.data_sets = ds, .batch = 1000};
    struct peak p = {0};
    struct err e = {0};
    CHECK_INT(dhis2_fetch_datavalues(c, &q, peak_fn, &p, NULL, &e), ERR_NET);
    CHECK_INT(f.requests, 1); /* a retry would hand the first values over twice */
    CHECK(p.values >= 19000 && p.values <= 20000);
    CHECK_CONTAINS(e.msg, "instance 'national': http://127.0.0.1:");

    /* the consumer stopping the stream ends it at once, with the consumer's error */
    struct scripted big = {.steps = {{.status = 200, .stream_values = 100000}}, .n = 1};
    f.ud = &big;
    struct collect col = {.stop_after = 2500};
    q.batch = 100;
    CHECK_INT(dhis2_fetch_datavalues(c, &q, collect_fn, &col, NULL, &e), ERR_CANCELLED);
    CHECK_STR(e.msg, "stopped by the test");
    CHECK_INT(col.values, 2500);
    CHECK_INT(f.requests, 2);
    free(col.text.p);
    dhis2_client_free(c);
    fake_stop(&f);
}
