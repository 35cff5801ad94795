#include "notify.h"

#include <curl/curl.h>
#include <openssl/evp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "app.h"
#include "config.h"
#include "db.h"
#include "log.h"
#include "validate.h"

static const char *const statuses[] = {"succeeded", "partial", "failed", "cancelled", "interrupted", NULL};
enum { MAX_RECIPIENTS = 20, MAX_URL = 2000 };

/* ---- validation --------------------------------------------------------------------------- */

static bool is_status(const char *s)
{
    for (int i = 0; statuses[i]; i++)
        if (strcmp(s, statuses[i]) == 0)
            return true;
    return false;
}

/* A plain address: local@domain, no spaces, quotes, brackets or separators (nothing that could
 * end an SMTP command or a header). */
static bool address_valid(const char *a)
{
    size_t n = strlen(a);
    const char *at = strchr(a, '@');
    if (n < 3 || n > 254 || !at || at == a || !at[1] || strchr(at + 1, '@') || at[1] == '.' ||
        a[n - 1] == '.')
        return false;
    for (const unsigned char *p = (const unsigned char *)a; *p; p++)
        if (*p <= ' ' || *p >= 0x7f || strchr("<>()[],;:\"\\", *p))
            return false;
    return true;
}

static bool webhook_valid(const char *u)
{
    if (strncmp(u, "http://", 7) != 0 && strncmp(u, "https://", 8) != 0)
        return false;
    const char *host = u + (u[4] == 's' ? 8 : 7);
    if (!*host || *host == '/')
        return false;
    for (const unsigned char *p = (const unsigned char *)u; *p; p++)
        if (*p <= ' ' || *p == 0x7f)
            return false;
    return strlen(u) <= MAX_URL;
}

cJSON *notify_validate(const cJSON *notify, struct err *e)
{
    if (!cJSON_IsObject(notify)) {
        err_field(e, "notify", "must be an object: {\"on\":[\"failed\",\"partial\"],"
                               "\"webhook\":\"https://…\",\"email\":[\"ops@example.org\"]}");
        return NULL;
    }
    cJSON *out = cJSON_CreateObject(), *on = out ? cJSON_AddArrayToObject(out, "on") : NULL;
    if (!on)
        goto oom;
    const cJSON *item;
    cJSON_ArrayForEach(item, notify)
    {
        if (strcmp(item->string, "on") && strcmp(item->string, "webhook") && strcmp(item->string, "email")) {
            err_field(e, "notify", "has an unknown key '%.60s' (on, webhook, email)", item->string);
            goto fail;
        }
    }
    const cJSON *list = cJSON_GetObjectItemCaseSensitive(notify, "on");
    if (list && !cJSON_IsNull(list)) {
        if (!cJSON_IsArray(list) || cJSON_GetArraySize(list) == 0) {
            err_field(e, "notify.on", "must be a list of run statuses (succeeded, partial, failed, "
                                      "cancelled, interrupted)");
            goto fail;
        }
        cJSON_ArrayForEach(item, list)
        {
            if (!cJSON_IsString(item) || !is_status(item->valuestring)) {
                err_field(e, "notify.on", "'%.40s' is not a run status (succeeded, partial, failed, "
                          "cancelled, interrupted)", cJSON_IsString(item) ? item->valuestring : "?");
                goto fail;
            }
            if (!cJSON_AddItemToArray(on, cJSON_CreateString(item->valuestring)))
                goto oom;
        }
    } else if (!cJSON_AddItemToArray(on, cJSON_CreateString("failed")) ||
               !cJSON_AddItemToArray(on, cJSON_CreateString("partial"))) {
        goto oom;
    }
    const char *hook;
    if (v_string(notify, "notify.", "webhook", false, 1, MAX_URL, &hook, e))
        goto fail;
    if (hook) {
        if (!webhook_valid(hook)) {
            err_field(e, "notify.webhook", "must be an http:// or https:// URL");
            goto fail;
        }
        if (!cJSON_AddStringToObject(out, "webhook", hook))
            goto oom;
    }
    list = cJSON_GetObjectItemCaseSensitive(notify, "email");
    if (list && !cJSON_IsNull(list)) {
        if (cJSON_IsString(list) || !cJSON_IsArray(list) || cJSON_GetArraySize(list) < 1 ||
            cJSON_GetArraySize(list) > MAX_RECIPIENTS) {
            err_field(e, "notify.email", "must be a list of 1 to %d e-mail addresses", MAX_RECIPIENTS);
            goto fail;
        }
        cJSON *to = cJSON_AddArrayToObject(out, "email");
        if (!to)
            goto oom;
        cJSON_ArrayForEach(item, list)
        {
            if (!cJSON_IsString(item) || !address_valid(item->valuestring)) {
                err_field(e, "notify.email", "'%.80s' is not an e-mail address (name@example.org)",
                          cJSON_IsString(item) ? item->valuestring : "?");
                goto fail;
            }
            if (!cJSON_AddItemToArray(to, cJSON_CreateString(item->valuestring)))
                goto oom;
        }
    }
    return out;
oom:
    err_set(e, ERR_INTERNAL, "out of memory");
fail:
    cJSON_Delete(out);
    return NULL;
}

/* ---- delivery ------------------------------------------------------------------------------ */

struct attempt {
    long http_status;
    char error[200];
};

struct outbox {
    const char *data;
    size_t len, pos;
};

static size_t read_out(char *buf, size_t size, size_t nmemb, void *ud)
{
    struct outbox *o = ud;
    size_t n = size * nmemb, left = o->len - o->pos;
    if (n > left)
        n = left;
    memcpy(buf, o->data + o->pos, n);
    o->pos += n;
    return n;
}

static size_t discard(char *ptr, size_t size, size_t nmemb, void *ud)
{
    (void)ptr;
    (void)ud;
    return size * nmemb;
}

static int abort_on_stop(void *ud, curl_off_t a, curl_off_t b, curl_off_t c, curl_off_t d)
{
    (void)a;
    (void)b;
    (void)c;
    (void)d;
    atomic_int *stop = ud;
    return stop && atomic_load(stop) ? 1 : 0;
}

static void common_options(CURL *h, char *errbuf, atomic_int *stop)
{
    curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(h, CURLOPT_ERRORBUFFER, errbuf);
    curl_easy_setopt(h, CURLOPT_CONNECTTIMEOUT, 10L);
    curl_easy_setopt(h, CURLOPT_TIMEOUT, 30L);
    curl_easy_setopt(h, CURLOPT_NOPROGRESS, 0L);
    curl_easy_setopt(h, CURLOPT_XFERINFOFUNCTION, abort_on_stop);
    curl_easy_setopt(h, CURLOPT_XFERINFODATA, stop);
}

static void curl_failure(struct attempt *a, CURLcode rc, const char *errbuf)
{
    if (rc == CURLE_ABORTED_BY_CALLBACK)
        snprintf(a->error, sizeof a->error, "stopped: the process was shutting down");
    else
        snprintf(a->error, sizeof a->error, "%s", errbuf[0] ? errbuf : curl_easy_strerror(rc));
}

/* One POST; 0 delivered, 1 worth retrying, -1 not (a 4xx other than 408/429). */
static int post_webhook(const char *url, const char *body, atomic_int *stop, struct attempt *a)
{
    char errbuf[CURL_ERROR_SIZE] = "";
    CURL *h = curl_easy_init();
    struct curl_slist *hdr = curl_slist_append(NULL, "Content-Type: application/json");
    struct curl_slist *more = hdr ? curl_slist_append(hdr, "User-Agent: dhis2sync/" DHIS2SYNC_VERSION) : NULL;
    struct curl_slist *all = more ? curl_slist_append(more, "Expect:") : NULL;
    int verdict = 1;
    if (!h || !all) {
        snprintf(a->error, sizeof a->error, "out of memory");
        curl_slist_free_all(all ? all : more ? more : hdr);
        curl_easy_cleanup(h);
        return 1;
    }
    common_options(h, errbuf, stop);
    curl_easy_setopt(h, CURLOPT_URL, url);
    curl_easy_setopt(h, CURLOPT_PROTOCOLS_STR, "http,https");
    curl_easy_setopt(h, CURLOPT_HTTPHEADER, all);
    curl_easy_setopt(h, CURLOPT_POSTFIELDS, body);
    curl_easy_setopt(h, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)strlen(body));
    curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, discard);
    CURLcode rc = curl_easy_perform(h);
    a->http_status = 0;
    if (rc != CURLE_OK) {
        curl_failure(a, rc, errbuf);
    } else {
        curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &a->http_status);
        if (a->http_status >= 200 && a->http_status < 300) {
            verdict = 0;
        } else {
            snprintf(a->error, sizeof a->error, "the webhook answered HTTP %ld", a->http_status);
            if (a->http_status >= 400 && a->http_status < 500 && a->http_status != 408 &&
                a->http_status != 429)
                verdict = -1;
        }
    }
    curl_slist_free_all(all);
    curl_easy_cleanup(h);
    return verdict;
}

static int send_mail(const struct config *cfg, const char *from, const cJSON *to, const char *message,
                     atomic_int *stop, struct attempt *a)
{
    char errbuf[CURL_ERROR_SIZE] = "", bracketed[300];
    CURL *h = curl_easy_init();
    struct curl_slist *rcpt = NULL;
    int verdict = 1;
    const cJSON *addr;
    cJSON_ArrayForEach(addr, to)
    {
        snprintf(bracketed, sizeof bracketed, "<%s>", addr->valuestring);
        struct curl_slist *grown = curl_slist_append(rcpt, bracketed);
        if (!grown) {
            snprintf(a->error, sizeof a->error, "out of memory");
            goto out;
        }
        rcpt = grown;
    }
    if (!h) {
        snprintf(a->error, sizeof a->error, "out of memory");
        goto out;
    }
    struct outbox box = {message, strlen(message), 0};
    common_options(h, errbuf, stop);
    curl_easy_setopt(h, CURLOPT_URL, cfg->smtp_url);
    curl_easy_setopt(h, CURLOPT_PROTOCOLS_STR, "smtp,smtps");
    snprintf(bracketed, sizeof bracketed, "<%s>", from);
    curl_easy_setopt(h, CURLOPT_MAIL_FROM, bracketed);
    curl_easy_setopt(h, CURLOPT_MAIL_RCPT, rcpt);
    curl_easy_setopt(h, CURLOPT_UPLOAD, 1L);
    curl_easy_setopt(h, CURLOPT_READFUNCTION, read_out);
    curl_easy_setopt(h, CURLOPT_READDATA, &box);
    curl_easy_setopt(h, CURLOPT_INFILESIZE_LARGE, (curl_off_t)box.len);
    if (cfg->smtp_user) {
        curl_easy_setopt(h, CURLOPT_USERNAME, cfg->smtp_user);
        curl_easy_setopt(h, CURLOPT_PASSWORD, cfg->smtp_password ? cfg->smtp_password : "");
        /* credentials never cross the network in clear */
        curl_easy_setopt(h, CURLOPT_USE_SSL, (long)CURLUSESSL_ALL);
    } else {
        curl_easy_setopt(h, CURLOPT_USE_SSL, (long)CURLUSESSL_TRY);
    }
    CURLcode rc = curl_easy_perform(h);
    if (rc == CURLE_OK) {
        verdict = 0;
    } else {
        curl_failure(a, rc, errbuf);
        /* a setting that is wrong stays wrong; anything else may pass on a later attempt */
        verdict = rc == CURLE_LOGIN_DENIED || rc == CURLE_USE_SSL_FAILED || rc == CURLE_URL_MALFORMAT ||
                          rc == CURLE_UNSUPPORTED_PROTOCOL
                      ? -1 : 1;
    }
out:
    curl_slist_free_all(rcpt);
    curl_easy_cleanup(h);
    return verdict;
}

/* Sleeps ms in small steps; false when stop was raised meanwhile. */
static bool backoff(int ms, atomic_int *stop)
{
    for (int slept = 0; slept < ms; slept += 50) {
        if (stop && atomic_load(stop))
            return false;
        usleep(50000);
    }
    return !(stop && atomic_load(stop));
}

static void iso_now(char *buf, size_t size)
{
    time_t t = time(NULL);
    struct tm tm;
    gmtime_r(&t, &tm);
    strftime(buf, size, "%Y-%m-%dT%H:%M:%SZ", &tm);
}

/* Runs one channel with retries; returns its outcome object (NULL when out of memory). */
static cJSON *deliver(const char *channel, long long run_id, int retry_ms, atomic_int *stop,
                      int (*once)(void *ctx, struct attempt *a), void *ctx)
{
    struct attempt a = {0};
    int attempts = 0, verdict = 1;
    bool stopped = false;
    while (attempts < NOTIFY_ATTEMPTS && verdict == 1) {
        if (attempts > 0 && !backoff(retry_ms << (attempts - 1), stop)) {
            stopped = true;
            break;
        }
        memset(&a, 0, sizeof a);
        attempts++;
        verdict = once(ctx, &a);
        if (verdict != 0)
            log_warn("run %lld: %s notification, attempt %d of %d: %s", run_id, channel, attempts,
                     NOTIFY_ATTEMPTS, a.error);
    }
    if (stopped)
        snprintf(a.error, sizeof a.error, "%s (the process stopped before the next attempt)",
                 a.error[0] ? a.error : "not sent");
    char at[32];
    iso_now(at, sizeof at);
    cJSON *o = cJSON_CreateObject();
    if (!o || !cJSON_AddStringToObject(o, "status", verdict == 0 ? "delivered" : "failed") ||
        !cJSON_AddNumberToObject(o, "attempts", attempts) || !cJSON_AddStringToObject(o, "at", at) ||
        (a.http_status && !cJSON_AddNumberToObject(o, "httpStatus", (double)a.http_status)) ||
        (verdict != 0 && !cJSON_AddStringToObject(o, "error", a.error))) {
        cJSON_Delete(o);
        return NULL;
    }
    if (verdict == 0)
        log_info("run %lld: %s notification delivered (attempt %d)", run_id, channel, attempts);
    return o;
}

/* ---- the message --------------------------------------------------------------------------- */

struct webhook_ctx {
    const char *url, *body;
    atomic_int *stop;
};

static int webhook_once(void *ctx, struct attempt *a)
{
    struct webhook_ctx *w = ctx;
    return post_webhook(w->url, w->body, w->stop, a);
}

struct mail_ctx {
    const struct config *cfg;
    const char *from, *message;
    const cJSON *to;
    atomic_int *stop;
};

static int mail_once(void *ctx, struct attempt *a)
{
    struct mail_ctx *m = ctx;
    return send_mail(m->cfg, m->from, m->to, m->message, m->stop, a);
}

/* The run as the API shows it, minus what only the admin needs, plus a link. */
static cJSON *payload(const cJSON *run, const char *public_url)
{
    static const char *const keep[] = {"id", "job", "jobId", "status", "dryRun", "trigger", "counts",
                                       "error", "createdAt", "startedAt", "finishedAt", "durationMs", NULL};
    cJSON *p = cJSON_CreateObject();
    if (!p || !cJSON_AddStringToObject(p, "event", "run.finished"))
        goto oom;
    for (int i = 0; keep[i]; i++) {
        const cJSON *v = cJSON_GetObjectItemCaseSensitive(run, keep[i]);
        cJSON *copy = v ? cJSON_Duplicate(v, 1) : cJSON_CreateNull();
        if (!copy || !cJSON_AddItemToObject(p, strcmp(keep[i], "id") == 0 ? "runId" : keep[i], copy)) {
            cJSON_Delete(copy);
            goto oom;
        }
    }
    if (public_url) {
        char link[MAX_URL + 64];
        size_t n = strlen(public_url);
        while (n > 0 && public_url[n - 1] == '/')
            n--;
        snprintf(link, sizeof link, "%.*s/runs/%.0f", (int)n, public_url,
                 cJSON_GetNumberValue(cJSON_GetObjectItem(run, "id")));
        if (!cJSON_AddStringToObject(p, "link", link))
            goto oom;
    } else if (!cJSON_AddNullToObject(p, "link")) {
        goto oom;
    }
    return p;
oom:
    cJSON_Delete(p);
    return NULL;
}

struct text {
    char *s;
    size_t len, cap;
    bool bad;
};

static void put(struct text *t, const char *s, size_t n)
{
    if (t->bad)
        return;
    if (t->len + n + 1 > t->cap) {
        size_t cap = (t->len + n + 1) * 2;
        char *grown = realloc(t->s, cap);
        if (!grown) {
            t->bad = true;
            return;
        }
        t->s = grown;
        t->cap = cap;
    }
    memcpy(t->s + t->len, s, n);
    t->len += n;
    t->s[t->len] = '\0';
}

static void puts_text(struct text *t, const char *s) { put(t, s, strlen(s)); }

static void putf(struct text *t, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static void putf(struct text *t, const char *fmt, ...)
{
    char buf[1024];
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(buf, sizeof buf, fmt, ap);
    va_end(ap);
    if (n > 0)
        put(t, buf, (size_t)n < sizeof buf ? (size_t)n : sizeof buf - 1);
}

/* Body text: CR LF line ends, no lone CR or LF from the data. */
static void put_body_text(struct text *t, const char *s)
{
    for (; s && *s; s++) {
        if (*s == '\n')
            put(t, "\r\n", 2);
        else if (*s != '\r')
            put(t, s, 1);
    }
}

/* A header value: control characters become spaces; non-ASCII text is sent as RFC 2047
 * encoded words (UTF-8, base64), each whole characters and at most 45 bytes before encoding. */
static void put_header_text(struct text *t, const char *s)
{
    bool ascii = true;
    for (const unsigned char *p = (const unsigned char *)s; *p; p++)
        if (*p >= 0x80)
            ascii = false;
    if (ascii) {
        for (const unsigned char *p = (const unsigned char *)s; *p; p++)
            put(t, *p < ' ' || *p == 0x7f ? " " : (const char *)p, 1);
        return;
    }
    const unsigned char *p = (const unsigned char *)s;
    bool first = true;
    while (*p) {
        unsigned char chunk[48];
        size_t n = 0;
        while (*p) {
            size_t clen = *p < 0x80 ? 1 : (*p & 0xE0) == 0xC0 ? 2 : (*p & 0xF0) == 0xE0 ? 3 : 4;
            if (n + clen > 45)
                break;
            for (size_t i = 0; i < clen && *p; i++, p++)
                chunk[n++] = *p < ' ' || *p == 0x7f ? ' ' : *p;
        }
        if (n == 0)
            break;
        unsigned char b64[80];
        int len = EVP_EncodeBlock(b64, chunk, (int)n);
        put(t, first ? "=?UTF-8?B?" : "\r\n =?UTF-8?B?", first ? 10 : 13);
        put(t, (const char *)b64, (size_t)len);
        put(t, "?=", 2);
        first = false;
    }
}

static char *mail_message(const cJSON *p, const char *from, const cJSON *to)
{
    struct text t = {0};
    char date[64], host[256] = "localhost";
    time_t now = time(NULL);
    struct tm tm;
    gmtime_r(&now, &tm);
    strftime(date, sizeof date, "%a, %d %b %Y %H:%M:%S +0000", &tm);
    gethostname(host, sizeof host - 1);
    const char *job = cJSON_GetStringValue(cJSON_GetObjectItem(p, "job"));
    const char *status = cJSON_GetStringValue(cJSON_GetObjectItem(p, "status"));
    const char *error = cJSON_GetStringValue(cJSON_GetObjectItem(p, "error"));
    const char *link = cJSON_GetStringValue(cJSON_GetObjectItem(p, "link"));
    double id = cJSON_GetNumberValue(cJSON_GetObjectItem(p, "runId"));
    putf(&t, "Date: %s\r\nFrom: dhis2sync <%s>\r\nTo: ", date, from);
    const cJSON *addr;
    bool first = true;
    cJSON_ArrayForEach(addr, to)
    {
        putf(&t, "%s%s", first ? "" : ",\r\n ", addr->valuestring);
        first = false;
    }
    putf(&t, "\r\nMessage-ID: <dhis2sync.run%.0f.%lld.%d@%s>\r\n", id, (long long)now, (int)getpid(),
         strspn(host, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789.-") == strlen(host)
             ? host : "localhost");
    puts_text(&t, "Subject: ");
    char subject[600];
    snprintf(subject, sizeof subject, "[dhis2sync] job '%s': run %.0f %s", job ? job : "?", id,
             status ? status : "?");
    put_header_text(&t, subject);
    puts_text(&t, "\r\nMIME-Version: 1.0\r\nContent-Type: text/plain; charset=UTF-8\r\n"
                  "Content-Transfer-Encoding: 8bit\r\nAuto-Submitted: auto-generated\r\n\r\n");
    putf(&t, "Run %.0f of the sync job '", id);
    put_body_text(&t, job);
    putf(&t, "' finished: %s.\r\n\r\n", status ? status : "?");
    if (error) {
        puts_text(&t, "Error: ");
        put_body_text(&t, error);
        put(&t, "\r\n\r\n", 4);
    }
    const cJSON *counts = cJSON_GetObjectItem(p, "counts"), *c;
    puts_text(&t, "Counts:\r\n");
    cJSON_ArrayForEach(c, counts) putf(&t, "  %-10s %.0f\r\n", c->string, cJSON_GetNumberValue(c));
    const char *started = cJSON_GetStringValue(cJSON_GetObjectItem(p, "startedAt"));
    const char *finished = cJSON_GetStringValue(cJSON_GetObjectItem(p, "finishedAt"));
    const char *trigger = cJSON_GetStringValue(cJSON_GetObjectItem(p, "trigger"));
    putf(&t, "\r\nStarted:  %s\r\nFinished: %s\r\nTrigger:  %s%s\r\n", started ? started : "-",
         finished ? finished : "-", trigger ? trigger : "-",
         cJSON_IsTrue(cJSON_GetObjectItem(p, "dryRun")) ? " (dry run)" : "");
    if (link)
        putf(&t, "\r\nDetails and refused values: %s\r\n", link);
    puts_text(&t, "\r\n-- \r\ndhis2sync " DHIS2SYNC_VERSION "\r\n");
    if (t.bad) {
        free(t.s);
        return NULL;
    }
    return t.s;
}

static bool listed(const cJSON *on, const char *status)
{
    const cJSON *s;
    cJSON_ArrayForEach(s, on) if (cJSON_IsString(s) && strcmp(s->valuestring, status) == 0) return true;
    return false;
}

int notify_run(struct app *app, long long run_id, atomic_int *stop, struct err *e)
{
    char id[24];
    snprintf(id, sizeof id, "%lld", run_id);
    const char *params[] = {id};
    cJSON *run = NULL, *notify = NULL, *msg = NULL, *outcome = NULL;
    char *body = NULL, *message = NULL, *outcome_text = NULL;
    int rc = 0;
    PGconn *c = db_acquire(app->db, e);
    if (!c)
        return e->code;
    PGresult *r = db_query(c,
                           "SELECT run_json(r)::text, j.spec->'notify' FROM runs r"
                           " JOIN jobs j ON j.id = r.job_id WHERE r.id = $1",
                           1, params, e);
    db_release(app->db, c);
    if (!r)
        return e->code;
    if (PQntuples(r) != 1 || PQgetisnull(r, 0, 1)) {
        PQclear(r);
        return 0;
    }
    run = cJSON_Parse(PQgetvalue(r, 0, 0));
    notify = cJSON_Parse(PQgetvalue(r, 0, 1));
    PQclear(r);
    if (!run || !notify) {
        rc = err_set(e, ERR_INTERNAL, "run %lld: cannot read its notification settings", run_id);
        goto out;
    }
    const char *status = cJSON_GetStringValue(cJSON_GetObjectItem(run, "status"));
    const cJSON *on = cJSON_GetObjectItem(notify, "on");
    /* a setting stored before `on` was validated has no list: failed and partial */
    bool wanted = status && (on ? listed(on, status)
                                : strcmp(status, "failed") == 0 || strcmp(status, "partial") == 0);
    if (!wanted)
        goto out;
    const char *hook = cJSON_GetStringValue(cJSON_GetObjectItem(notify, "webhook"));
    const cJSON *to = cJSON_GetObjectItem(notify, "email");
    if (!hook && cJSON_GetArraySize(to) == 0)
        goto out;
    if (!(msg = payload(run, app->cfg.public_url)) || !(outcome = cJSON_CreateObject())) {
        rc = err_set(e, ERR_INTERNAL, "out of memory");
        goto out;
    }
    if (hook) {
        if (!(body = cJSON_PrintUnformatted(msg))) {
            rc = err_set(e, ERR_INTERNAL, "out of memory");
            goto out;
        }
        struct webhook_ctx w = {hook, body, stop};
        cJSON *res = deliver("webhook", run_id, app->cfg.notify_retry_ms, stop, webhook_once, &w);
        if (!res || !cJSON_AddItemToObject(outcome, "webhook", res)) {
            cJSON_Delete(res);
            rc = err_set(e, ERR_INTERNAL, "out of memory");
            goto out;
        }
    }
    if (cJSON_GetArraySize(to) > 0) {
        cJSON *res = NULL;
        char from[300];
        char host[256] = "localhost";
        gethostname(host, sizeof host - 1);
        snprintf(from, sizeof from, "%s", app->cfg.smtp_from ? app->cfg.smtp_from : "");
        if (!from[0])
            snprintf(from, sizeof from, "dhis2sync@%s", host);
        if (!app->cfg.smtp_url) {
            res = cJSON_CreateObject();
            if (res && (!cJSON_AddStringToObject(res, "status", "failed") ||
                        !cJSON_AddNumberToObject(res, "attempts", 0) ||
                        !cJSON_AddStringToObject(res, "error", "no SMTP server: set DHIS2SYNC_SMTP_URL"))) {
                cJSON_Delete(res);
                res = NULL;
            }
            log_warn("run %lld: an e-mail is asked for but DHIS2SYNC_SMTP_URL is not set", run_id);
        } else if ((message = mail_message(msg, from, to))) {
            struct mail_ctx m = {&app->cfg, from, message, to, stop};
            res = deliver("e-mail", run_id, app->cfg.notify_retry_ms, stop, mail_once, &m);
            if (res)
                cJSON_AddNumberToObject(res, "recipients", cJSON_GetArraySize(to));
        }
        if (!res || !cJSON_AddItemToObject(outcome, "email", res)) {
            cJSON_Delete(res);
            rc = err_set(e, ERR_INTERNAL, "out of memory");
            goto out;
        }
    }
    if (!(outcome_text = cJSON_PrintUnformatted(outcome))) {
        rc = err_set(e, ERR_INTERNAL, "out of memory");
        goto out;
    }
    if (!(c = db_acquire(app->db, e))) {
        rc = e->code;
        goto out;
    }
    const char *up[] = {id, outcome_text};
    rc = db_exec(c, "UPDATE runs SET notification = $2::jsonb WHERE id = $1", 2, up, e);
    db_release(app->db, c);
out:
    cJSON_Delete(run);
    cJSON_Delete(notify);
    cJSON_Delete(msg);
    cJSON_Delete(outcome);
    free(body);
    free(message);
    free(outcome_text);
    return rc;
}
