#include "dhis2.h"

#include <ctype.h>
#include <curl/curl.h>
#include <libdeflate.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>

#include "deadline.h"
#include "dvstream.h"
#include "log.h"

enum {
    DEFAULT_TIMEOUT_S = 120,
    DEFAULT_BACKOFF_MS = 500,
    MAX_BACKOFF_MS = 30 * 1000,        /* the longest backoff, unless the client sets its own */
    MAX_RETRY_AFTER_S = 10 * 60,       /* the longest a server's Retry-After is obeyed */
    ERROR_BODY_CAP = 64 * 1024,        /* what we keep of an error page, for its message */
    JSON_BODY_CAP = 256 * 1024 * 1024, /* a metadata page or an import summary */
    GZIP_ABOVE = 64 * 1024,            /* post bodies larger than this are compressed */
    READ_BUFFER = 256 * 1024,          /* libcurl's receive buffer per client */
};

struct dhis2_client {
    char *name, *base, *username, *secret, *ca_file;
    bool pat;
    long timeout_s, backoff_ms, backoff_max_ms;
    long long retry_window_ms;
    int max_retries;
    /* the outage under way: when its first failed attempt began (0: none), and whether the
     * waiting hook was told */
    long long down_since_ms, down_since_epoch;
    bool told_waiting;
    long resent; /* POSTs sent more than once */
    void (*on_wait)(void *ud, long long since);
    void *wait_ud;
    CURL *h;
    struct curl_slist *auth_header; /* "Authorization: ApiToken …" for pat */
    char errbuf[CURL_ERROR_SIZE];
    int (*should_stop)(void *ud);
    void *stop_ud;
    uint64_t rng; /* jitter only: needs no cryptographic quality */
};

static void set_fixed_options(struct dhis2_client *c);

/* ---- small buffers ----------------------------------------------------------------------- */

struct sbuf {
    char *p;
    size_t len, cap;
    bool oom;
};

static void sb_reserve(struct sbuf *b, size_t more)
{
    if (b->oom || b->len + more + 1 <= b->cap)
        return;
    size_t cap = b->cap ? b->cap : 256;
    while (cap < b->len + more + 1)
        cap *= 2;
    char *p = realloc(b->p, cap);
    if (!p) {
        b->oom = true;
        return;
    }
    b->p = p;
    b->cap = cap;
}

static void sb_add(struct sbuf *b, const char *s, size_t n)
{
    sb_reserve(b, n);
    if (b->oom)
        return;
    memcpy(b->p + b->len, s, n);
    b->len += n;
    b->p[b->len] = '\0';
}

static void sb_cstr(struct sbuf *b, const char *s) { sb_add(b, s, strlen(s)); }

/* Writes s (len bytes) as a JSON string, quotes included, at o, which has room for 6 * len + 2
 * bytes; returns the end. */
static char *put_json_str(char *o, const char *s, size_t len)
{
    static const char hex[] = "0123456789abcdef";
    *o++ = '"';
    for (size_t i = 0; i < len; i++) {
        unsigned char ch = (unsigned char)s[i];
        if (ch >= 0x20 && ch != '"' && ch != '\\') {
            *o++ = (char)ch;
            continue;
        }
        *o++ = '\\';
        switch (ch) {
        case '"': *o++ = '"'; break;
        case '\\': *o++ = '\\'; break;
        case '\n': *o++ = 'n'; break;
        case '\r': *o++ = 'r'; break;
        case '\t': *o++ = 't'; break;
        case '\b': *o++ = 'b'; break;
        case '\f': *o++ = 'f'; break;
        default:
            memcpy(o, "u00", 3);
            o[3] = hex[ch >> 4];
            o[4] = hex[ch & 15];
            o += 5;
        }
    }
    *o++ = '"';
    return o;
}

/* ---- the client ------------------------------------------------------------------------ */

static char *dup_opt(const char *s, bool *failed)
{
    char *d = s ? strdup(s) : NULL;
    if (s && !d)
        *failed = true;
    return d;
}

/* Checks base_url and keeps it without trailing slashes (and without a trailing /api, a
 * common slip when copying the URL of an API page). */
static int normalise_base(struct dhis2_client *c, const char *url, struct err *e)
{
    int rc = 0;
    char *scheme = NULL, *user = NULL, *host = NULL, *query = NULL;
    CURLU *u = curl_url();
    if (!u)
        return err_set(e, ERR_INTERNAL, "out of memory");
    if (!url || !*url || curl_url_set(u, CURLUPART_URL, url, 0) != CURLUE_OK ||
        curl_url_get(u, CURLUPART_SCHEME, &scheme, 0) != CURLUE_OK ||
        curl_url_get(u, CURLUPART_HOST, &host, 0) != CURLUE_OK) {
        /* not echoed: a malformed URL may still hold a password */
        rc = err_set(e, ERR_INPUT,
                     "instance '%s': the URL is not valid (expected e.g. "
                     "https://dhis2.example.org or https://host/dhis)",
                     c->name);
        goto out;
    }
    if (strcasecmp(scheme, "http") != 0 && strcasecmp(scheme, "https") != 0) {
        rc = err_set(e, ERR_INPUT, "instance '%s': the URL must start with https:// or http://",
                     c->name);
        goto out;
    }
    if (curl_url_get(u, CURLUPART_USER, &user, 0) == CURLUE_OK) {
        /* the URL is shown in messages: credentials there would leak */
        rc = err_set(e, ERR_INPUT,
                     "instance '%s': put the user name and password in the auth "
                     "settings, not in the URL",
                     c->name);
        goto out;
    }
    if (curl_url_get(u, CURLUPART_QUERY, &query, 0) == CURLUE_OK || strchr(url, '#')) {
        rc = err_set(e, ERR_INPUT, "instance '%s': the URL must not have a query or fragment",
                     c->name);
        goto out;
    }
    size_t len = strlen(url);
    while (len > 0 && url[len - 1] == '/')
        len--;
    if (len >= 4 && strncmp(url + len - 4, "/api", 4) == 0)
        len -= 4;
    while (len > 0 && url[len - 1] == '/')
        len--;
    if (!(c->base = strndup(url, len)))
        rc = err_set(e, ERR_INTERNAL, "out of memory");
out:
    curl_free(scheme);
    curl_free(user);
    curl_free(host);
    curl_free(query);
    curl_url_cleanup(u);
    return rc;
}

struct dhis2_client *dhis2_client_new(const struct dhis2_config *cfg, struct err *e)
{
    struct dhis2_client *c = calloc(1, sizeof *c);
    bool failed = !c;
    if (failed) {
        err_set(e, ERR_INTERNAL, "out of memory");
        return NULL;
    }
    c->name = dup_opt(cfg->name ? cfg->name : "?", &failed);
    c->username = dup_opt(cfg->username, &failed);
    c->secret = dup_opt(cfg->secret, &failed);
    c->ca_file = dup_opt(cfg->ca_file && *cfg->ca_file ? cfg->ca_file : NULL, &failed);
    c->timeout_s = cfg->timeout_s > 0 ? cfg->timeout_s : DEFAULT_TIMEOUT_S;
    c->backoff_ms = cfg->backoff_ms > 0 ? cfg->backoff_ms : DEFAULT_BACKOFF_MS;
    c->max_retries = cfg->max_retries > 0 ? cfg->max_retries : 0;
    c->retry_window_ms = cfg->retry_window_s > 0 ? cfg->retry_window_s * 1000LL : 0;
    c->backoff_max_ms = cfg->backoff_max_ms > 0 ? cfg->backoff_max_ms : MAX_BACKOFF_MS;
    c->rng = (uint64_t)time(NULL) ^ (uint64_t)getpid() << 32 ^ (uint64_t)(uintptr_t)c;
    if (failed || !(c->h = curl_easy_init())) {
        err_set(e, ERR_INTERNAL, "out of memory");
        goto fail;
    }
    if (normalise_base(c, cfg->base_url, e) != 0)
        goto fail;
    const char *type = cfg->auth_type ? cfg->auth_type : "";
    if (strcmp(type, "basic") == 0) {
        if (!c->username || !*c->username || !c->secret) {
            err_set(e, ERR_INPUT, "instance '%s': basic auth needs a user name and a password",
                    c->name);
            goto fail;
        }
    } else if (strcmp(type, "pat") == 0) {
        if (!c->secret || !*c->secret || strpbrk(c->secret, "\r\n")) {
            err_set(e, ERR_INPUT, "instance '%s': a personal access token is needed (one line)",
                    c->name);
            goto fail;
        }
        c->pat = true;
        char *line = NULL;
        if (asprintf(&line, "Authorization: ApiToken %s", c->secret) < 0) {
            err_set(e, ERR_INTERNAL, "out of memory");
            goto fail;
        }
        c->auth_header = curl_slist_append(NULL, line);
        memset(line, 0, strlen(line));
        free(line);
        if (!c->auth_header) {
            err_set(e, ERR_INTERNAL, "out of memory");
            goto fail;
        }
    } else {
        err_set(e, ERR_INPUT, "instance '%s': auth type must be \"basic\" or \"pat\", not \"%s\"",
                c->name, type);
        goto fail;
    }
    set_fixed_options(c);
    return c;
fail:
    dhis2_client_free(c);
    return NULL;
}

void dhis2_client_free(struct dhis2_client *c)
{
    if (!c)
        return;
    if (c->h)
        curl_easy_cleanup(c->h);
    curl_slist_free_all(c->auth_header); /* holds the token: libcurl frees without wiping */
    if (c->secret) {
        memset(c->secret, 0, strlen(c->secret));
        free(c->secret);
    }
    free(c->name);
    free(c->base);
    free(c->username);
    free(c->ca_file);
    free(c);
}

void dhis2_client_set_cancel(struct dhis2_client *c, int (*should_stop)(void *ud), void *ud)
{
    c->should_stop = should_stop;
    c->stop_ud = ud;
}

void dhis2_client_set_waiting(struct dhis2_client *c, void (*on_wait)(void *ud, long long since),
                              void *ud)
{
    c->on_wait = on_wait;
    c->wait_ud = ud;
}

const char *dhis2_client_base_url(const struct dhis2_client *c) { return c->base; }

long dhis2_client_resent(const struct dhis2_client *c) { return c->resent; }

static bool stopped(struct dhis2_client *c) { return c->should_stop && c->should_stop(c->stop_ud); }

/* ---- one request, with retries ------------------------------------------------------------ */

/* Where a successful JSON body goes when it is not buffered (dataValueSets). */
struct sink {
    int (*start)(void *ud, struct err *e); /* before each attempt */
    int (*feed)(void *ud, const char *p, size_t n, struct err *e);
    bool (*committed)(void *ud); /* has delivered something: no retry from here */
    void *ud;
};

struct request {
    const char *method;
    const char *path;  /* "/api/…", for the URL and for messages */
    const char *query; /* "a=b&c=d" or NULL */
    const char *body;
    size_t body_len;
    bool small;      /* a small answer is expected: the total timeout applies */
    size_t body_cap; /* the most we buffer of a successful answer */
    const struct sink *sink;
};

struct response {
    CURL *h;
    long status;
    const char *content_type; /* owned by curl, valid until the next request */
    struct sbuf body;
    size_t cap;
    bool decided, streaming, overflow;
    const struct sink *sink;
    int sink_rc;
    struct err sink_err;
};

static void response_clear(struct response *r)
{
    free(r->body.p);
    memset(r, 0, sizeof *r);
}

static bool is_json(const char *ct) { return ct && strstr(ct, "json"); }

static size_t on_write(char *p, size_t size, size_t nmemb, void *ud)
{
    struct response *r = ud;
    size_t n = size * nmemb;
    if (!r->decided) {
        /* headers are in: a 200 JSON answer goes to the sink, anything else is kept whole
         * (up to a cap) to explain the error */
        curl_easy_getinfo(r->h, CURLINFO_RESPONSE_CODE, &r->status);
        curl_easy_getinfo(r->h, CURLINFO_CONTENT_TYPE, &r->content_type);
        r->streaming = r->sink && r->status == 200 && is_json(r->content_type);
        if (!(r->status >= 200 && r->status < 300) && r->status != 409)
            r->cap = ERROR_BODY_CAP;
        r->decided = true;
    }
    if (r->streaming) {
        r->sink_rc = r->sink->feed(r->sink->ud, p, n, &r->sink_err);
        return r->sink_rc ? 0 : n;
    }
    if (r->body.len + n > r->cap) {
        if (r->cap > ERROR_BODY_CAP) { /* a body we must read whole: give up */
            r->overflow = true;
            return 0;
        }
        n = r->cap - r->body.len; /* an error page: its start is enough */
    }
    sb_add(&r->body, p, n);
    return r->body.oom ? 0 : size * nmemb;
}

static int on_progress(void *ud, curl_off_t dltotal, curl_off_t dlnow, curl_off_t ultotal,
                       curl_off_t ulnow)
{
    (void)dltotal, (void)dlnow, (void)ultotal, (void)ulnow;
    return stopped(ud);
}

static void url_of(const struct dhis2_client *c, const struct request *rq, char *out, size_t n)
{
    snprintf(out, n, "%s%s", c->base, rq->path);
}

/* Options that stay the same for every request, set once: curl_easy_reset would drop them
 * along with the cookie engine that keeps DHIS2's session. */
static void set_fixed_options(struct dhis2_client *c)
{
    CURL *h = c->h;
    curl_easy_setopt(h, CURLOPT_PROTOCOLS_STR, "http,https");
    curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(h, CURLOPT_ERRORBUFFER, c->errbuf);
    curl_easy_setopt(h, CURLOPT_USERAGENT, "dhis2sync");
    curl_easy_setopt(h, CURLOPT_ACCEPT_ENCODING, ""); /* every encoding curl can decode */
    curl_easy_setopt(h, CURLOPT_COOKIEFILE, "");      /* keep DHIS2's session between requests */
    curl_easy_setopt(h, CURLOPT_TCP_KEEPALIVE, 1L);
    /* dataValueSets answers run to hundreds of MB: 16 reads of curl's default 16 KB (each
     * with a poll) cost more than one of 256 KB */
    curl_easy_setopt(h, CURLOPT_BUFFERSIZE, READ_BUFFER);
    curl_easy_setopt(h, CURLOPT_CONNECTTIMEOUT, c->timeout_s < 30 ? c->timeout_s : 30L);
    /* a stalled transfer (or a server that thinks for too long) fails after timeout_s */
    curl_easy_setopt(h, CURLOPT_LOW_SPEED_LIMIT, 1L);
    curl_easy_setopt(h, CURLOPT_LOW_SPEED_TIME, c->timeout_s);
    if (c->ca_file)
        curl_easy_setopt(h, CURLOPT_CAINFO, c->ca_file);
    /* A redirect is reported, never followed: following one would hand the credentials (our
     * ApiToken header goes out with every request of this handle) to whatever host the
     * Location names. Said explicitly so a later default or option cannot turn it on. */
    curl_easy_setopt(h, CURLOPT_FOLLOWLOCATION, 0L);
    curl_easy_setopt(h, CURLOPT_UNRESTRICTED_AUTH, 0L);
    if (!c->pat) {
        curl_easy_setopt(h, CURLOPT_HTTPAUTH, (long)CURLAUTH_BASIC);
        curl_easy_setopt(h, CURLOPT_USERNAME, c->username);
        curl_easy_setopt(h, CURLOPT_PASSWORD, c->secret);
    }
    curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, on_write);
    curl_easy_setopt(h, CURLOPT_NOPROGRESS, 0L);
    curl_easy_setopt(h, CURLOPT_XFERINFOFUNCTION, on_progress);
    curl_easy_setopt(h, CURLOPT_XFERINFODATA, c);
}

static CURLcode perform(struct dhis2_client *c, const struct request *rq, struct response *r,
                        struct curl_slist *headers, const char *url)
{
    CURL *h = c->h;
    r->h = h;
    r->sink = rq->sink;
    r->cap = rq->body_cap;
    c->errbuf[0] = '\0';
    curl_easy_setopt(h, CURLOPT_URL, url);
    curl_easy_setopt(h, CURLOPT_HTTPHEADER, headers);
    curl_easy_setopt(h, CURLOPT_TIMEOUT, rq->small ? c->timeout_s : 0L);
    if (strcmp(rq->method, "POST") == 0) {
        curl_easy_setopt(h, CURLOPT_POST, 1L);
        curl_easy_setopt(h, CURLOPT_POSTFIELDS, rq->body);
        curl_easy_setopt(h, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)rq->body_len);
    } else {
        curl_easy_setopt(h, CURLOPT_HTTPGET, 1L);
    }
    curl_easy_setopt(h, CURLOPT_WRITEDATA, r);
    CURLcode cc = curl_easy_perform(h);
    curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &r->status);
    curl_easy_getinfo(h, CURLINFO_CONTENT_TYPE, &r->content_type);
    return cc;
}

/* Errors that another attempt may cure. A certificate or a malformed URL will not change. */
static bool retryable_curl(CURLcode cc)
{
    switch (cc) {
    case CURLE_COULDNT_RESOLVE_HOST:
    case CURLE_COULDNT_CONNECT:
    case CURLE_OPERATION_TIMEDOUT:
    case CURLE_SEND_ERROR:
    case CURLE_RECV_ERROR:
    case CURLE_GOT_NOTHING:
    case CURLE_PARTIAL_FILE:
    case CURLE_HTTP2:
    case CURLE_HTTP2_STREAM:
    case CURLE_SSL_CONNECT_ERROR: return true;
    default: return false;
    }
}

static uint64_t next_random(struct dhis2_client *c)
{
    /* xorshift64* */
    c->rng ^= c->rng >> 12;
    c->rng ^= c->rng << 25;
    c->rng ^= c->rng >> 27;
    return c->rng * 0x2545F4914F6CDD1DULL;
}

/* Sleeps ms in slices, watching the cancellation hook. Returns false when cancelled. */
bool dhis2_wait(struct dhis2_client *c, long ms)
{
    while (ms > 0) {
        if (stopped(c))
            return false;
        long slice = ms < 100 ? ms : 100;
        struct timespec ts = {slice / 1000, (slice % 1000) * 1000000L};
        nanosleep(&ts, NULL);
        ms -= slice;
    }
    return !stopped(c);
}

static long backoff_delay(struct dhis2_client *c, int attempt, long retry_after_s)
{
    if (retry_after_s > 0)
        return (retry_after_s < MAX_RETRY_AFTER_S ? retry_after_s : MAX_RETRY_AFTER_S) * 1000;
    long ceiling = c->backoff_ms;
    for (int i = 0; i < attempt && ceiling < c->backoff_max_ms; i++)
        ceiling *= 2;
    if (ceiling > c->backoff_max_ms)
        ceiling = c->backoff_max_ms;
    return (long)(next_random(c) % (uint64_t)(ceiling + 1)); /* full jitter */
}

/* A failed attempt that may be retried: starts the outage clock at its first one, and tells
 * the hook once the outage outlasts one retry. */
static void outage_note(struct dhis2_client *c, int attempt, long long attempt_began_ms,
                        long long attempt_began_epoch)
{
    if (!c->down_since_ms) {
        c->down_since_ms = attempt_began_ms;
        c->down_since_epoch = attempt_began_epoch;
    }
    if (attempt >= 1 && !c->told_waiting && c->on_wait) {
        c->told_waiting = true;
        c->on_wait(c->wait_ud, c->down_since_epoch);
    }
}

/* The server answered (or failed in a way no retry cures): the outage, if any, is over. */
static void outage_over(struct dhis2_client *c)
{
    if (c->told_waiting && c->on_wait)
        c->on_wait(c->wait_ud, 0);
    c->told_waiting = false;
    c->down_since_ms = 0;
}

/* "10 min", "90 s": a retry window as people say it. */
static void window_text(long long ms, char *out, size_t n)
{
    long long s = ms / 1000;
    if (s >= 60 && s % 60 == 0)
        snprintf(out, n, "%lld min", s / 60);
    else
        snprintf(out, n, "%lld s", s);
}

/* The outage outlasted the retry window: e holds the last attempt's failure, which this
 * restates as the reason the instance is unreachable. */
static int unreachable(struct dhis2_client *c, int attempts, struct err *e)
{
    if (!e)
        return ERR_NET;
    char window[32], prefix[300], last[256];
    window_text(c->retry_window_ms, window, sizeof window);
    snprintf(prefix, sizeof prefix, "instance '%s': ", c->name);
    const char *why = e->msg;
    if (strncmp(why, prefix, strlen(prefix)) == 0)
        why += strlen(prefix);
    snprintf(last, sizeof last, "%s", why);
    return err_set(e, ERR_NET, "instance '%s' unreachable for %s (%d attempts): %s", c->name,
                   window, attempts, last);
}

/* The gist of an error body, for a message: DHIS2's WebMessage text, an HTML title, or the
 * start of the text. */
static void body_gist(const struct response *r, char *out, size_t n)
{
    out[0] = '\0';
    if (!r->body.p || !r->body.len)
        return;
    if (is_json(r->content_type)) {
        cJSON *j = cJSON_ParseWithLength(r->body.p, r->body.len);
        const cJSON *msg = cJSON_GetObjectItemCaseSensitive(j, "message");
        const cJSON *code = cJSON_GetObjectItemCaseSensitive(j, "errorCode");
        if (cJSON_IsString(msg) && cJSON_IsString(code))
            snprintf(out, n, "%s (%s)", msg->valuestring, code->valuestring);
        else if (cJSON_IsString(msg))
            snprintf(out, n, "%s", msg->valuestring);
        cJSON_Delete(j);
        if (out[0])
            return;
    }
    const char *t = strcasestr(r->body.p, "<title>");
    const char *from = t ? t + 7 : r->body.p;
    size_t len = t ? strcspn(from, "<") : strlen(from);
    size_t k = 0;
    for (size_t i = 0; i < len && k + 1 < n && k < 120; i++) /* one tidy line */
        out[k++] =
            isspace((unsigned char)from[i]) || !isprint((unsigned char)from[i]) ? ' ' : from[i];
    out[k] = '\0';
}

static int http_error(struct dhis2_client *c, const struct response *r, const char *url,
                      int attempts, struct err *e)
{
    char gist[160], tries[32] = "";
    body_gist(r, gist, sizeof gist);
    if (attempts > 1)
        snprintf(tries, sizeof tries, " after %d attempts", attempts);
    const char *sep = gist[0] ? ": " : "";
    long s = r->status;
    if (s == 401)
        return err_set(e, ERR_AUTH, "instance '%s': HTTP 401 from %s — check the credentials",
                       c->name, url);
    if (s == 403)
        return err_set(e, ERR_FORBIDDEN,
                       "instance '%s': HTTP 403 from %s — the user lacks the authority%s%s",
                       c->name, url, sep, gist);
    if (s == 404)
        return err_set(e, ERR_NOT_FOUND,
                       "instance '%s': HTTP 404 from %s — check the base URL (and its context "
                       "path)",
                       c->name, url);
    if (s == 413)
        return err_set(e, ERR_TOO_LARGE,
                       "instance '%s': HTTP 413 from %s — the request is too large for the "
                       "server or a proxy; lower the batch size",
                       c->name, url);
    if (s >= 300 && s < 400) {
        char *loc = NULL;
        curl_easy_getinfo(c->h, CURLINFO_REDIRECT_URL, &loc);
        return err_set(e, ERR_NET,
                       "instance '%s': HTTP %ld from %s redirects to %s — use that as the base "
                       "URL, or check the credentials (DHIS2 redirects to its login page)",
                       c->name, s, url, loc ? loc : "(nowhere)");
    }
    return err_set(e, ERR_NET, "instance '%s': HTTP %ld from %s%s%s%s", c->name, s, url, tries, sep,
                   gist);
}

static int not_json_error(struct dhis2_client *c, const struct response *r, const char *url,
                          struct err *e)
{
    char gist[160];
    body_gist(r, gist, sizeof gist);
    return err_set(e, ERR_NET,
                   "instance '%s': HTTP %ld from %s is %s, not JSON%s%s%s — check the base URL "
                   "(a proxy or a login page answered)",
                   c->name, r->status, url, r->content_type ? r->content_type : "untyped",
                   gist[0] ? " (\"" : "", gist, gist[0] ? "\")" : "");
}

/* Performs rq with retries. Returns 0 with r holding an HTTP answer (any status: the caller
 * judges it), or an error: network failure, cancellation, a sink's error. *attempts counts. */
static int request(struct dhis2_client *c, const struct request *rq, struct response *r,
                   int *attempts, struct err *e)
{
    char *full = NULL, msg_url[512];
    int rc = 0;
    struct curl_slist *headers = NULL, *h2;
    url_of(c, rq, msg_url, sizeof msg_url);
    if (asprintf(&full, "%s%s%s%s", c->base, rq->path, rq->query ? "?" : "",
                 rq->query ? rq->query : "") < 0) {
        full = NULL;
        rc = err_set(e, ERR_INTERNAL, "out of memory");
        goto out;
    }
    /* the auth header list's nodes are the client's: build ours on a copy of its line */
    const char *lines[] = {"Accept: application/json",
                           "Expect:", rq->body ? "Content-Type: application/json" : NULL};
    for (size_t i = 0; i < sizeof lines / sizeof lines[0]; i++) {
        if (!lines[i])
            continue;
        if (!(h2 = curl_slist_append(headers, lines[i]))) {
            rc = err_set(e, ERR_INTERNAL, "out of memory");
            goto out;
        }
        headers = h2;
    }
    if (c->auth_header) {
        if (!(h2 = curl_slist_append(headers, c->auth_header->data))) {
            rc = err_set(e, ERR_INTERNAL, "out of memory");
            goto out;
        }
        headers = h2;
    }
    for (int attempt = 0;; attempt++) {
        if (stopped(c)) {
            rc = err_set(e, ERR_CANCELLED, "instance '%s': cancelled", c->name);
            goto out;
        }
        response_clear(r);
        *attempts = attempt + 1;
        if (rq->sink && (rc = rq->sink->start(rq->sink->ud, e)) != 0)
            goto out;
        long long began_ms = monotonic_ms(), began_epoch = (long long)time(NULL);
        CURLcode cc = perform(c, rq, r, headers, full);
        bool retry = false;
        if (cc == CURLE_ABORTED_BY_CALLBACK) {
            rc = err_set(e, ERR_CANCELLED, "instance '%s': cancelled", c->name);
            goto out;
        } else if (cc == CURLE_WRITE_ERROR && r->sink_rc) {
            /* the sink refused the data (bad JSON, or its consumer stopped): say who */
            if (r->sink_rc == ERR_NET)
                rc =
                    err_set(e, ERR_NET, "instance '%s': %s: %s", c->name, msg_url, r->sink_err.msg);
            else
                rc = err_set(e, r->sink_rc, "%s", r->sink_err.msg);
            goto out;
        } else if (cc == CURLE_WRITE_ERROR && r->overflow) {
            rc = err_set(e, ERR_TOO_LARGE, "instance '%s': the answer from %s is larger than %d MB",
                         c->name, msg_url, JSON_BODY_CAP >> 20);
            goto out;
        } else if (cc != CURLE_OK) {
            retry = retryable_curl(cc);
            rc = err_set(e, ERR_NET, "instance '%s': %s: %s", c->name, msg_url,
                         c->errbuf[0] ? c->errbuf : curl_easy_strerror(cc));
        } else {
            rc = 0;
            retry = r->status == 429 || (r->status >= 500 && r->status != 501);
        }
        if (!retry) {
            outage_over(c);
            break;
        }
        outage_note(c, attempt, began_ms, began_epoch);
        if (rq->sink && rq->sink->committed(rq->sink->ud))
            break;
        long long left = c->down_since_ms + c->retry_window_ms - monotonic_ms();
        if (c->retry_window_ms && left <= 0) {
            if (cc == CURLE_OK)
                http_error(c, r, msg_url, *attempts, e);
            rc = unreachable(c, *attempts, e);
            goto out;
        }
        if (!c->retry_window_ms && attempt >= c->max_retries)
            break;
        curl_off_t retry_after = 0;
        if (cc == CURLE_OK)
            curl_easy_getinfo(c->h, CURLINFO_RETRY_AFTER, &retry_after);
        long delay = backoff_delay(c, attempt, (long)retry_after);
        if (c->retry_window_ms && delay > left)
            delay = (long)left; /* one last attempt as the window closes */
        log_debug("instance '%s': %s %s failed (%s), retrying in %ld ms", c->name, rq->method,
                  msg_url, cc != CURLE_OK ? curl_easy_strerror(cc) : "HTTP error", delay);
        if (!dhis2_wait(c, delay)) {
            rc = err_set(e, ERR_CANCELLED, "instance '%s': cancelled", c->name);
            goto out;
        }
        if (attempt == 0 && rq->body)
            c->resent++;
    }
    if (rc && *attempts > 1 && e) { /* a network error that outlived its retries */
        size_t len = strlen(e->msg);
        snprintf(e->msg + len, sizeof e->msg - len, " (after %d attempts)", *attempts);
    }
out:
    curl_slist_free_all(headers);
    free(full);
    return rc;
}

/* Appends "&name=value" (URL-encoded) to q; NULL or empty values are left out. */
static void q_add(struct sbuf *q, const char *name, const char *value)
{
    if (!value || !*value)
        return;
    char *enc = curl_easy_escape(NULL, value, 0);
    if (!enc) {
        q->oom = true;
        return;
    }
    if (q->len)
        sb_add(q, "&", 1);
    sb_cstr(q, name);
    sb_add(q, "=", 1);
    sb_cstr(q, enc);
    curl_free(enc);
}

static void q_add_list(struct sbuf *q, const char *name, const char *const *values)
{
    for (size_t i = 0; values && values[i]; i++)
        q_add(q, name, values[i]);
}

/* A request that must answer 200 with JSON: anything else becomes the error that says so. */
static int request_json(struct dhis2_client *c, struct request *rq, struct response *r,
                        const char *url, int *attempts, struct err *e)
{
    int rc = request(c, rq, r, attempts, e);
    if (rc)
        return rc;
    if (r->status != 200)
        return http_error(c, r, url, *attempts, e);
    if (!is_json(r->content_type))
        return not_json_error(c, r, url, e);
    return 0;
}

/* GET path?query, expecting a JSON answer, parsed into *out (caller deletes). */
static int get_json(struct dhis2_client *c, const char *path, const char *query, bool small,
                    cJSON **out, struct err *e)
{
    struct response r = {0};
    struct request rq = {
        .method = "GET", .path = path, .query = query, .small = small, .body_cap = JSON_BODY_CAP};
    char url[512];
    int attempts = 0, rc;
    *out = NULL;
    url_of(c, &rq, url, sizeof url);
    if ((rc = request_json(c, &rq, &r, url, &attempts, e)) != 0)
        goto out;
    if (!(*out = cJSON_ParseWithLength(r.body.p ? r.body.p : "", r.body.len))) {
        rc = err_set(e, ERR_NET, "instance '%s': the answer from %s is not valid JSON", c->name,
                     url);
        goto out;
    }
out:
    response_clear(&r);
    return rc;
}

static void copy_str(char *dst, size_t n, const cJSON *obj, const char *key)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(obj, key);
    snprintf(dst, n, "%s", cJSON_IsString(v) ? v->valuestring : "");
}

int dhis2_system_info(struct dhis2_client *c, struct dhis2_system_info *out, struct err *e)
{
    cJSON *j = NULL;
    memset(out, 0, sizeof *out);
    int rc = get_json(c, "/api/system/info", NULL, true, &j, e);
    if (rc)
        return rc;
    copy_str(out->version, sizeof out->version, j, "version");
    copy_str(out->revision, sizeof out->revision, j, "revision");
    copy_str(out->server_date, sizeof out->server_date, j, "serverDate");
    copy_str(out->system_name, sizeof out->system_name, j, "systemName");
    copy_str(out->context_path, sizeof out->context_path, j, "contextPath");
    /* "2.41.1", "2.40.4.1", "2.42-SNAPSHOT" */
    if (sscanf(out->version, "%d.%d.%d", &out->major, &out->minor, &out->patch) < 2) {
        rc = err_set(e, ERR_NET,
                     "instance '%s': %s/api/system/info gives no DHIS2 version — is this a "
                     "DHIS2 server?",
                     c->name, c->base);
    }
    cJSON_Delete(j);
    return rc;
}

int dhis2_me(struct dhis2_client *c, struct dhis2_me *out, struct err *e)
{
    cJSON *j = NULL;
    memset(out, 0, sizeof *out);
    int rc = get_json(c, "/api/me", "fields=id,username,name,userCredentials%5Busername%5D", true,
                      &j, e);
    if (rc)
        return rc;
    copy_str(out->id, sizeof out->id, j, "id");
    copy_str(out->username, sizeof out->username, j, "username");
    copy_str(out->name, sizeof out->name, j, "name");
    if (!out->username[0]) { /* before 2.3x, the user name sat in userCredentials */
        const cJSON *uc = cJSON_GetObjectItemCaseSensitive(j, "userCredentials");
        copy_str(out->username, sizeof out->username, uc, "username");
    }
    cJSON_Delete(j);
    return 0;
}

/* Whether v is a number a count or an index can be: casting one out of range is undefined. */
static bool countable(const cJSON *v)
{
    return cJSON_IsNumber(v) && v->valuedouble >= 0 && v->valuedouble <= 9007199254740992.0;
}

int dhis2_list(struct dhis2_client *c, const char *kind, const char *fields,
               const char *const *filters, int page_size, dhis2_item_fn fn, void *ud, struct err *e)
{
    char path[128];
    int rc = 0;
    if (!kind || !*kind ||
        strspn(kind, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ") != strlen(kind) ||
        strlen(kind) > 64)
        return err_set(e, ERR_INPUT, "'%s' is not a DHIS2 metadata kind (e.g. dataElements)",
                       kind ? kind : "");
    snprintf(path, sizeof path, "/api/%s", kind);
    for (long page = 1;; page++) {
        struct sbuf q = {0};
        char num[24];
        q_add(&q, "fields", fields);
        q_add_list(&q, "filter", filters);
        if (page_size > 0) {
            snprintf(num, sizeof num, "%ld", page);
            q_add(&q, "page", num);
            snprintf(num, sizeof num, "%d", page_size);
            q_add(&q, "pageSize", num);
        } else {
            q_add(&q, "paging", "false");
        }
        cJSON *j = NULL;
        if (q.oom)
            rc = err_set(e, ERR_INTERNAL, "out of memory");
        else
            rc = get_json(c, path, q.p, false, &j, e);
        free(q.p);
        if (rc)
            return rc;
        const cJSON *items = cJSON_GetObjectItemCaseSensitive(j, kind), *it;
        if (!cJSON_IsArray(items)) {
            cJSON_Delete(j);
            return err_set(e, ERR_NET, "instance '%s': the answer from %s%s has no '%s' list",
                           c->name, c->base, path, kind);
        }
        cJSON_ArrayForEach(it, items)
        {
            if ((rc = fn(ud, it, e)) != 0)
                break;
        }
        const cJSON *pager = cJSON_GetObjectItemCaseSensitive(j, "pager");
        const cJSON *count = cJSON_GetObjectItemCaseSensitive(pager, "pageCount");
        bool more = page_size > 0 && cJSON_GetArraySize(items) > 0 && countable(count) &&
                    page < (long)count->valuedouble;
        cJSON_Delete(j);
        if (rc || !more)
            return rc;
        if (stopped(c))
            return err_set(e, ERR_CANCELLED, "instance '%s': cancelled", c->name);
    }
}

/* ---- reading data values --------------------------------------------------------------- */

struct fetch {
    struct dvstream *s;
    struct dvstream_options opt;
    dhis2_values_fn fn;
    void *ud;
};

static int fetch_start(void *ud, struct err *e)
{
    struct fetch *f = ud;
    dvstream_free(f->s);
    if (!(f->s = dvstream_new(&f->opt, f->fn, f->ud)))
        return err_set(e, ERR_INTERNAL, "out of memory");
    return 0;
}

static int fetch_feed(void *ud, const char *p, size_t n, struct err *e)
{
    return dvstream_feed(((struct fetch *)ud)->s, p, n, e);
}

static bool fetch_committed(void *ud)
{
    struct dvstream_stats st;
    dvstream_stats(((struct fetch *)ud)->s, &st);
    return st.values > 0;
}

static size_t list_len(const char *const *l)
{
    size_t n = 0;
    while (l && l[n])
        n++;
    return n;
}

int dhis2_fetch_datavalues(struct dhis2_client *c, const struct dhis2_dv_query *q,
                           dhis2_values_fn fn, void *ud, struct dhis2_fetch_stats *stats,
                           struct err *e)
{
    struct sbuf qs = {0};
    struct response r = {0};
    struct fetch f = {.fn = fn, .ud = ud};
    char url[512];
    int attempts = 0, rc = 0;
    q_add_list(&qs, "dataSet", q->data_sets);
    q_add_list(&qs, "dataElementGroup", q->data_element_groups);
    q_add_list(&qs, "orgUnit", q->org_units);
    if (q->children)
        q_add(&qs, "children", "true");
    q_add_list(&qs, "period", q->periods);
    q_add(&qs, "startDate", q->start_date);
    q_add(&qs, "endDate", q->end_date);
    q_add(&qs, "lastUpdated", q->last_updated);
    if (q->include_deleted)
        q_add(&qs, "includeDeleted", "true");
    q_add(&qs, "idScheme", q->id_scheme);
    q_add(&qs, "dataElementIdScheme", q->data_element_id_scheme);
    q_add(&qs, "orgUnitIdScheme", q->org_unit_id_scheme);
    q_add(&qs, "categoryOptionComboIdScheme", q->category_option_combo_id_scheme);
    if (qs.oom) {
        rc = err_set(e, ERR_INTERNAL, "out of memory");
        goto out;
    }
    f.opt.batch = q->batch;
    /* what 2.43 may leave out of every value when one org unit / period was asked for */
    if (list_len(q->org_units) == 1 && !q->children)
        f.opt.fallback_org_unit = q->org_units[0];
    if (list_len(q->periods) == 1)
        f.opt.fallback_period = q->periods[0];
    struct sink sink = {fetch_start, fetch_feed, fetch_committed, &f};
    struct request rq = {.method = "GET",
                         .path = "/api/dataValueSets",
                         .query = qs.p,
                         .body_cap = ERROR_BODY_CAP,
                         .sink = &sink};
    url_of(c, &rq, url, sizeof url);
    if ((rc = request_json(c, &rq, &r, url, &attempts, e)) != 0)
        goto out;
    struct err se = {0};
    /* a 200 JSON answer with no body never reached the sink */
    if ((!r.streaming && dvstream_feed(f.s, r.body.p ? r.body.p : "", r.body.len, &se) != 0) ||
        dvstream_finish(f.s, &se) != 0) {
        if (se.code == ERR_NET)
            rc = err_set(e, ERR_NET, "instance '%s': %s: %s", c->name, url, se.msg);
        else
            rc = err_set(e, se.code, "%s", se.msg);
        goto out;
    }
out:
    if (stats && f.s) {
        struct dvstream_stats st;
        dvstream_stats(f.s, &st);
        *stats = (struct dhis2_fetch_stats){st.values, st.bytes, st.peak_bytes};
    } else if (stats) {
        *stats = (struct dhis2_fetch_stats){0};
    }
    dvstream_free(f.s);
    response_clear(&r);
    free(qs.p);
    return rc;
}

/* ---- writing data values --------------------------------------------------------------- */

/* The fields posted, in order; the first three are written even when NULL. */
static const struct {
    const char *key; /* with the separator before it */
    size_t len;
} posted_keys[] = {
    {",{\"dataElement\":", 16}, {",\"period\":", 10}, {",\"orgUnit\":", 11},
    {",\"categoryOptionCombo\":", 23}, {",\"attributeOptionCombo\":", 24}, {",\"value\":", 9},
    {",\"comment\":", 11}, {",\"storedBy\":", 12},
};
enum { N_POSTED = sizeof posted_keys / sizeof posted_keys[0], ALWAYS_POSTED = 3 };

/* Appends one value's JSON object, with a comma before it unless first. */
static void sb_datavalue(struct sbuf *b, const struct datavalue *v, bool first)
{
    const char *text[N_POSTED] = {v->data_element, v->period, v->org_unit,
                                  v->category_option_combo, v->attribute_option_combo,
                                  v->value, v->comment, v->stored_by};
    size_t len[N_POSTED], room = 64; /* the braces, null and the two booleans */
    for (int i = 0; i < N_POSTED; i++) {
        len[i] = text[i] ? strlen(text[i]) : 0;
        room += posted_keys[i].len + 6 * len[i] + 2;
    }
    /* one reservation per value, then plain stores: this runs for every value sent */
    sb_reserve(b, room);
    if (b->oom)
        return;
    char *o = b->p + b->len;
    for (int i = 0; i < N_POSTED; i++) {
        if (!text[i] && i >= ALWAYS_POSTED)
            continue;
        size_t skip = i == 0 && first; /* no comma before the first object */
        memcpy(o, posted_keys[i].key + skip, posted_keys[i].len - skip);
        o += posted_keys[i].len - skip;
        if (text[i]) {
            o = put_json_str(o, text[i], len[i]);
        } else {
            memcpy(o, "null", 4);
            o += 4;
        }
    }
    if (v->followup) {
        memcpy(o, ",\"followup\":true", 16);
        o += 16;
    }
    if (v->deleted) {
        memcpy(o, ",\"deleted\":true", 15);
        o += 15;
    }
    *o++ = '}';
    *o = '\0';
    b->len = (size_t)(o - b->p);
}

char *dhis2_datavalues_json(const struct datavalue *vals, size_t n, size_t *len)
{
    struct sbuf b = {0};
    sb_reserve(&b, n * 240 + 32);
    sb_cstr(&b, "{\"dataValues\":[");
    for (size_t i = 0; i < n && !b.oom; i++)
        sb_datavalue(&b, &vals[i], i == 0);
    sb_cstr(&b, "]}");
    if (b.oom) {
        free(b.p);
        return NULL;
    }
    *len = b.len;
    return b.p;
}

/* gzip of in; DHIS2 recognises a gzip body by its magic bytes. libdeflate's fastest level:
 * zlib's default level (6) took half of a run's CPU and its level 1 still a quarter, for
 * bodies 13x smaller (18x at level 6); the point is to pass a proxy's body cap and spare a slow
 * link, not to save the last bytes. */
static char *gzip_body(const char *in, size_t n, size_t *out_len)
{
    struct libdeflate_compressor *z = libdeflate_alloc_compressor(1);
    if (!z)
        return NULL;
    size_t cap = libdeflate_gzip_compress_bound(z, n);
    char *out = malloc(cap);
    if (out && !(*out_len = libdeflate_gzip_compress(z, in, n, out, cap))) {
        free(out);
        out = NULL;
    }
    libdeflate_free_compressor(z);
    return out;
}

void dhis2_import_summary_free(struct dhis2_import_summary *s)
{
    if (!s)
        return;
    for (size_t i = 0; i < s->n_conflicts; i++) {
        struct dhis2_conflict *k = &s->conflicts[i];
        free(k->object);
        free(k->objects);
        free(k->value);
        free(k->error_code);
        free(k->property);
        free(k->indexes);
    }
    free(s->conflicts);
    free(s->rejected_indexes);
    memset(s, 0, sizeof *s);
}

static long count_of(const cJSON *obj, const char *key)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(obj, key);
    return countable(v) ? (long)v->valuedouble : 0;
}

static char *str_of(const cJSON *obj, const char *key, bool *oom)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(obj, key);
    return cJSON_IsString(v) ? dup_opt(v->valuestring, oom) : NULL;
}

/* Reads a JSON array of numbers into a malloc'd array. */
static size_t *indexes_of(const cJSON *arr, size_t *n, bool *oom)
{
    *n = 0;
    int len = cJSON_GetArraySize(arr);
    if (!cJSON_IsArray(arr) || len == 0)
        return NULL;
    size_t *out = calloc((size_t)len, sizeof *out);
    if (!out) {
        *oom = true;
        return NULL;
    }
    const cJSON *it;
    cJSON_ArrayForEach(it, arr)
    {
        if (countable(it))
            out[(*n)++] = (size_t)it->valuedouble;
    }
    return out;
}

/* The ImportSummary inside a 2.38+ WebMessage (`response`), or the root itself (2.37). */
static const cJSON *find_summary(const cJSON *root)
{
    const cJSON *resp = cJSON_GetObjectItemCaseSensitive(root, "response");
    if (cJSON_IsObject(resp) && (cJSON_GetObjectItemCaseSensitive(resp, "importCount") ||
                                 cJSON_GetObjectItemCaseSensitive(resp, "responseType")))
        return resp;
    if (cJSON_GetObjectItemCaseSensitive(root, "importCount") ||
        cJSON_GetObjectItemCaseSensitive(root, "responseType"))
        return root;
    return NULL;
}

static int summary_from_json(const cJSON *root, struct dhis2_import_summary *out, struct err *e)
{
    memset(out, 0, sizeof *out);
    const cJSON *s = find_summary(root);
    if (!s)
        return err_set(e, ERR_NET, "the answer holds no import summary");
    bool oom = false;
    copy_str(out->status_text, sizeof out->status_text, s, "status");
    copy_str(out->description, sizeof out->description, s, "description");
    out->status = strcmp(out->status_text, "SUCCESS") == 0 || strcmp(out->status_text, "OK") == 0
                      ? DHIS2_IMPORT_SUCCESS
                  : strcmp(out->status_text, "WARNING") == 0 ? DHIS2_IMPORT_WARNING
                                                             : DHIS2_IMPORT_ERROR;
    const cJSON *ic = cJSON_GetObjectItemCaseSensitive(s, "importCount");
    out->imported = count_of(ic, "imported");
    out->updated = count_of(ic, "updated");
    out->ignored = count_of(ic, "ignored");
    out->deleted = count_of(ic, "deleted");
    const cJSON *conflicts = cJSON_GetObjectItemCaseSensitive(s, "conflicts"), *it;
    int nc = cJSON_IsArray(conflicts) ? cJSON_GetArraySize(conflicts) : 0;
    if (nc > 0 && !(out->conflicts = calloc((size_t)nc, sizeof *out->conflicts)))
        oom = true;
    if (out->conflicts) {
        cJSON_ArrayForEach(it, conflicts)
        {
            struct dhis2_conflict *k = &out->conflicts[out->n_conflicts++];
            k->object = str_of(it, "object", &oom);
            k->value = str_of(it, "value", &oom);
            k->error_code = str_of(it, "errorCode", &oom);
            k->property = str_of(it, "property", &oom);
            const cJSON *objects = cJSON_GetObjectItemCaseSensitive(it, "objects");
            if (cJSON_IsObject(objects) && !(k->objects = cJSON_PrintUnformatted(objects)))
                oom = true;
            k->indexes =
                indexes_of(cJSON_GetObjectItemCaseSensitive(it, "indexes"), &k->n_indexes, &oom);
        }
    }
    out->rejected_indexes =
        indexes_of(cJSON_GetObjectItemCaseSensitive(s, "rejectedIndexes"), &out->n_rejected, &oom);
    if (oom) {
        dhis2_import_summary_free(out);
        return err_set(e, ERR_INTERNAL, "out of memory reading an import summary");
    }
    return 0;
}

int dhis2_parse_import_summary(const char *body, struct dhis2_import_summary *out, struct err *e)
{
    cJSON *root = cJSON_Parse(body);
    memset(out, 0, sizeof *out);
    if (!root)
        return err_set(e, ERR_NET, "the import summary is not valid JSON");
    int rc = summary_from_json(root, out, e);
    cJSON_Delete(root);
    return rc;
}

/* A 404 for the task means DHIS2 no longer knows it (it restarted, or dropped old tasks):
 * polling on would never end, so say so at once. */
static int task_lost(struct dhis2_client *c, const char *job, int rc, struct err *e)
{
    if (rc != ERR_NOT_FOUND)
        return rc;
    return err_set(e, ERR_NET,
                   "instance '%s': DHIS2 lost import task %s (HTTP 404; was it restarted?): "
                   "whether the chunk was imported is unknown",
                   c->name, job);
}

int dhis2_await_task(struct dhis2_client *c, const char *job_type, const char *job,
                     long timeout_s, cJSON **summary, struct err *e)
{
    char path[256], summary_path[256];
    int rc;
    long delay = 250;
    long long deadline = monotonic_ms() + timeout_s * 1000LL;
    *summary = NULL;
    if (strlen(job) > 64 || strspn(job, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"
                                        "0123456789-_") != strlen(job))
        return err_set(e, ERR_NET, "instance '%s': the async import's job id is not an id",
                       c->name);
    snprintf(path, sizeof path, "/api/system/tasks/%s/%s", job_type, job);
    snprintf(summary_path, sizeof summary_path, "/api/system/taskSummaries/%s/%s", job_type, job);
    for (;;) {
        cJSON *tasks = NULL;
        if ((rc = get_json(c, path, NULL, true, &tasks, e)) != 0)
            return task_lost(c, job, rc, e);
        bool done = false;
        const cJSON *t;
        cJSON_ArrayForEach(t, tasks)
        {
            done = done || cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(t, "completed"));
        }
        cJSON_Delete(tasks);
        if (done)
            break;
        long long left = deadline - monotonic_ms();
        if (left <= 0)
            return err_set(e, ERR_NET,
                           "instance '%s': DHIS2 did not finish import task %s within %ld s "
                           "(importOptions.asyncTimeout); it may have lost the task",
                           c->name, job, timeout_s);
        if (!dhis2_wait(c, delay < left ? delay : (long)left))
            return err_set(e, ERR_CANCELLED,
                           "instance '%s': cancelled while DHIS2 imports "
                           "(the import goes on there)",
                           c->name);
        delay = delay * 3 / 2 < 5000 ? delay * 3 / 2 : 5000;
    }
    if ((rc = get_json(c, summary_path, NULL, false, summary, e)) != 0)
        return task_lost(c, job, rc, e);
    return 0;
}

static int await_import(struct dhis2_client *c, const char *job, long timeout_s,
                        struct dhis2_import_summary *out, struct err *e)
{
    cJSON *summary = NULL;
    int rc = dhis2_await_task(c, "DATAVALUE_IMPORT", job, timeout_s, &summary, e);
    if (rc)
        return rc;
    struct err se = {0};
    rc = summary_from_json(summary, out, &se);
    if (rc)
        rc = err_set(e, rc, "instance '%s': %s/api/system/taskSummaries/DATAVALUE_IMPORT/%s: %s",
                     c->name, c->base, job, se.msg);
    cJSON_Delete(summary);
    return rc;
}

/* POSTs a JSON body (gzipped above GZIP_ABOVE unless no_gzip: proxies commonly cap bodies at
 * 10 MB and JSON shrinks ~10x); the answer, whatever its status, is left in r; url gets the
 * URL for messages. */
static int post_json(struct dhis2_client *c, const char *path, const char *query, const char *json,
                     size_t len, bool no_gzip, struct response *r, char url[512], int *attempts,
                     struct err *e)
{
    char *gz = NULL;
    size_t gz_len = 0;
    if (len > GZIP_ABOVE && !no_gzip && !(gz = gzip_body(json, len, &gz_len)))
        return err_set(e, ERR_INTERNAL, "out of memory compressing a request body");
    struct request rq = {.method = "POST",
                         .path = path,
                         .query = query,
                         .body = gz ? gz : json,
                         .body_len = gz ? gz_len : len,
                         .body_cap = JSON_BODY_CAP};
    url_of(c, &rq, url, 512);
    int rc = request(c, &rq, r, attempts, e);
    free(gz);
    return rc;
}

int dhis2_post_datavalues(struct dhis2_client *c, const struct datavalue *vals, size_t n,
                          const struct dhis2_import_options *opt, struct dhis2_import_summary *out,
                          struct err *e)
{
    static const struct dhis2_import_options defaults = {0};
    struct sbuf qs = {0};
    struct response r = {0};
    char *json = NULL, url[512];
    size_t json_len = 0;
    int attempts = 0, rc = 0;
    cJSON *root = NULL;
    memset(out, 0, sizeof *out);
    if (!opt)
        opt = &defaults;
    q_add(&qs, "importStrategy", opt->import_strategy);
    if (opt->dry_run)
        q_add(&qs, "dryRun", "true");
    q_add(&qs, "idScheme", opt->id_scheme);
    q_add(&qs, "dataElementIdScheme", opt->data_element_id_scheme);
    q_add(&qs, "orgUnitIdScheme", opt->org_unit_id_scheme);
    q_add(&qs, "categoryOptionComboIdScheme", opt->category_option_combo_id_scheme);
    if (opt->skip_existing_check)
        q_add(&qs, "skipExistingCheck", "true");
    if (opt->skip_audit)
        q_add(&qs, "skipAudit", "true");
    if (opt->async)
        q_add(&qs, "async", "true");
    if (qs.oom || !(json = dhis2_datavalues_json(vals, n, &json_len))) {
        rc = err_set(e, ERR_INTERNAL, "out of memory");
        goto out;
    }
    rc = post_json(c, "/api/dataValueSets", qs.p, json, json_len, opt->no_gzip, &r, url, &attempts, e);
    out->attempts = attempts;
    if (rc)
        goto out;
    out->http_status = r.status;
    /* 200 and 409 both carry an import summary (and 2.43 says WARNING with 200) */
    if ((r.status / 100 == 2 || r.status == 409) && !is_json(r.content_type)) {
        rc = not_json_error(c, &r, url, e);
        goto out;
    }
    if (r.status / 100 == 2 || r.status == 409)
        root = cJSON_ParseWithLength(r.body.p ? r.body.p : "", r.body.len);
    const cJSON *summary = root ? find_summary(root) : NULL;
    if (!summary) {
        const cJSON *resp = cJSON_GetObjectItemCaseSensitive(root, "response");
        const cJSON *job = cJSON_GetObjectItemCaseSensitive(resp, "id");
        if (opt->async && r.status / 100 == 2 && cJSON_IsString(job)) {
            rc = await_import(c, job->valuestring,
                              opt->async_timeout_s > 0 ? opt->async_timeout_s : 1800, out, e);
            out->attempts = attempts;
            out->http_status = r.status;
        } else if (r.status / 100 == 2 || r.status == 409) {
            char gist[160];
            body_gist(&r, gist, sizeof gist);
            rc = err_set(e, ERR_NET, "instance '%s': HTTP %ld from %s holds no import summary%s%s",
                         c->name, r.status, url, gist[0] ? ": " : "", gist);
        } else {
            rc = http_error(c, &r, url, attempts, e);
        }
        goto out;
    }
    rc = summary_from_json(root, out, e);
    out->attempts = attempts;
    out->http_status = r.status;
out:
    cJSON_Delete(root);
    response_clear(&r);
    free(qs.p);
    free(json);
    return rc;
}

const char *const dhis2_import_strategies[] = {"CREATE_AND_UPDATE", "CREATE", "UPDATE", "DELETE", NULL};

/* ---- any JSON resource ---------------------------------------------------------------------- */

int dhis2_get(struct dhis2_client *c, const char *path, const char *query, cJSON **out,
              struct err *e)
{
    return get_json(c, path, query, false, out, e);
}

int dhis2_post(struct dhis2_client *c, const char *path, const char *query, const char *json,
               size_t len, bool may_gzip, long *status, cJSON **out, struct err *e)
{
    struct response r = {0};
    char url[512];
    int attempts = 0;
    *out = NULL;
    *status = 0;
    int rc = post_json(c, path, query, json, len, !may_gzip, &r, url, &attempts, e);
    if (rc == 0) {
        *status = r.status;
        bool answer = r.status / 100 == 2 || r.status == 409;
        if (!answer)
            rc = http_error(c, &r, url, attempts, e);
        else if (!is_json(r.content_type))
            rc = not_json_error(c, &r, url, e);
        else if (!(*out = cJSON_ParseWithLength(r.body.p ? r.body.p : "", r.body.len)))
            rc = err_set(e, ERR_NET, "instance '%s': the answer from %s is not valid JSON", c->name, url);
    }
    response_clear(&r);
    return rc;
}

int dhis2_query_add(char **q, const char *name, const char *value)
{
    struct sbuf b = {.p = *q, .len = *q ? strlen(*q) : 0, .cap = *q ? strlen(*q) + 1 : 0};
    q_add(&b, name, value);
    *q = b.p; /* realloc may have moved it even when a later step ran out of memory */
    return b.oom ? -1 : 0;
}
