/* json_out.c — the text buffer every response is written into, with the JSON string escaping
 * and DHIS2 timestamp forms. Hand-written because the big responses (a million data values)
 * must not go through a cJSON tree. */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "emu.h"

static bool reserve(struct buf *b, size_t more)
{
    if (b->oom)
        return false;
    if (b->len + more + 1 <= b->cap)
        return true;
    size_t cap = b->cap ? b->cap : 256;
    while (cap < b->len + more + 1)
        cap *= 2;
    char *d = realloc(b->data, cap);
    if (!d) {
        b->oom = true;
        return false;
    }
    b->data = d;
    b->cap = cap;
    return true;
}

void buf_put(struct buf *b, const char *s, size_t n)
{
    if (!reserve(b, n))
        return;
    memcpy(b->data + b->len, s, n);
    b->len += n;
    b->data[b->len] = '\0';
}

void buf_puts(struct buf *b, const char *s) { buf_put(b, s, strlen(s)); }

void buf_putc(struct buf *b, char c)
{
    if (!reserve(b, 1))
        return;
    b->data[b->len++] = c;
    b->data[b->len] = '\0';
}

void buf_printf(struct buf *b, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(NULL, 0, fmt, ap);
    va_end(ap);
    if (n < 0 || !reserve(b, (size_t)n))
        return;
    va_start(ap, fmt);
    vsnprintf(b->data + b->len, (size_t)n + 1, fmt, ap);
    va_end(ap);
    b->len += (size_t)n;
}

void buf_json_str(struct buf *b, const char *s)
{
    if (!s) {
        buf_put(b, "null", 4);
        return;
    }
    size_t n = strlen(s);
    /* Worst case every byte becomes \u00XX. */
    if (!reserve(b, n * 6 + 2))
        return;
    char *o = b->data + b->len;
    *o++ = '"';
    for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
        unsigned char c = *p;
        if (c >= 0x20 && c != '"' && c != '\\') {
            *o++ = (char)c;
            continue;
        }
        *o++ = '\\';
        switch (c) {
        case '"': *o++ = '"'; break;
        case '\\': *o++ = '\\'; break;
        case '\n': *o++ = 'n'; break;
        case '\r': *o++ = 'r'; break;
        case '\t': *o++ = 't'; break;
        case '\b': *o++ = 'b'; break;
        case '\f': *o++ = 'f'; break;
        default:
            o += sprintf(o, "u%04x", c);
        }
    }
    *o++ = '"';
    *o = '\0';
    b->len = (size_t)(o - b->data);
}

void buf_key(struct buf *b, const char *key)
{
    buf_putc(b, '"');
    buf_puts(b, key);
    buf_put(b, "\":", 2);
}

void buf_timestamp(struct buf *b, int64_t ms, bool with_zone)
{
    if (!reserve(b, 32))
        return;
    int64_t secs = ms >= 0 ? ms / 1000 : (ms - 999) / 1000;
    int msec = (int)(ms - secs * 1000);
    int32_t days = (int32_t)(secs >= 0 ? secs / 86400 : (secs - 86399) / 86400);
    int sod = (int)(secs - (int64_t)days * 86400);
    int y, mo, d;
    civil_from_days(days, &y, &mo, &d);
    char *o = b->data + b->len;
    int n = sprintf(o, "%04d-%02d-%02dT%02d:%02d:%02d.%03d%s", y, mo, d, sod / 3600,
                    sod / 60 % 60, sod % 60, msec, with_zone ? "+0000" : "");
    b->len += (size_t)n;
}

char *buf_take(struct buf *b)
{
    if (b->oom) {
        buf_free(b);
        return NULL;
    }
    if (!b->data && !reserve(b, 0))
        return NULL;
    if (b->len == 0)
        b->data[0] = '\0';
    char *d = b->data;
    memset(b, 0, sizeof *b);
    return d;
}

void buf_free(struct buf *b)
{
    free(b->data);
    memset(b, 0, sizeof *b);
}

int64_t now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static int num(const char *s, int n)
{
    int v = 0;
    for (int i = 0; i < n; i++) {
        if (s[i] < '0' || s[i] > '9')
            return -1;
        v = v * 10 + s[i] - '0';
    }
    return v;
}

int timestamp_parse(const char *s, int64_t *ms)
{
    int32_t day;
    if (!s || date_parse(s, &day) != 0)
        return -1;
    int64_t t = (int64_t)day * 86400000;
    const char *p = s + 10;
    if (*p == 'T' || *p == ' ') {
        p++;
        int h = num(p, 2), mi = p[2] == ':' ? num(p + 3, 2) : -1;
        if (h < 0 || h > 23 || mi < 0 || mi > 59)
            return -1;
        t += (int64_t)(h * 3600 + mi * 60) * 1000;
        p += 5;
        if (*p == ':') {
            int sec = num(p + 1, 2);
            if (sec < 0 || sec > 60)
                return -1;
            t += sec * 1000;
            p += 3;
            if (*p == '.') {
                p++;
                int frac = 0, digits = 0;
                while (*p >= '0' && *p <= '9') {
                    if (digits < 3) {
                        frac = frac * 10 + *p - '0';
                        digits++;
                    }
                    p++;
                }
                while (digits++ < 3)
                    frac *= 10;
                t += frac;
            }
        }
        if (*p == '+' || *p == '-') {
            int sign = *p == '-' ? -1 : 1;
            p++;
            int zh = num(p, 2), zm = 0;
            if (zh < 0)
                return -1;
            p += 2;
            if (*p == ':')
                p++;
            if (*p)
                zm = num(p, 2);
            if (zm < 0)
                return -1;
            t -= sign * (int64_t)(zh * 60 + zm) * 60000;
        }
    }
    *ms = t;
    return 0;
}
