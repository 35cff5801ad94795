/* dvs_json.c — reads a posted dataValueSets JSON body straight into flat records, strings in an
 * arena. A general JSON tree (cJSON) costs about thirty small allocations per data value, which
 * caps imports far below what a sync benchmark pushes; this reader makes none per value. It
 * accepts any valid JSON, skipping what it does not know, and reports the first syntax error by
 * offset. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "datavalue.h"
#include "emu.h"

struct jp {
    const char *start, *p, *end;
    struct arena *a;
    char *err;
    size_t err_size;
    bool failed, oom;
};

static void fail(struct jp *j)
{
    if (!j->failed)
        snprintf(j->err, j->err_size, "Unexpected character at offset %ld", (long)(j->p - j->start));
    j->failed = true;
}

static void ws(struct jp *j)
{
    while (j->p < j->end && (*j->p == ' ' || *j->p == '\n' || *j->p == '\r' || *j->p == '\t'))
        j->p++;
}

static bool eat(struct jp *j, char c)
{
    ws(j);
    if (j->p < j->end && *j->p == c) {
        j->p++;
        return true;
    }
    return false;
}

static int hex4(const char *p)
{
    int v = 0;
    for (int i = 0; i < 4; i++) {
        char c = p[i];
        v <<= 4;
        if (c >= '0' && c <= '9') v |= c - '0';
        else if (c >= 'a' && c <= 'f') v |= c - 'a' + 10;
        else if (c >= 'A' && c <= 'F') v |= c - 'A' + 10;
        else return -1;
    }
    return v;
}

static void put_utf8(struct buf *b, unsigned cp)
{
    char o[4];
    if (cp < 0x80) {
        buf_putc(b, (char)cp);
    } else if (cp < 0x800) {
        o[0] = (char)(0xC0 | (cp >> 6));
        o[1] = (char)(0x80 | (cp & 0x3F));
        buf_put(b, o, 2);
    } else if (cp < 0x10000) {
        o[0] = (char)(0xE0 | (cp >> 12));
        o[1] = (char)(0x80 | ((cp >> 6) & 0x3F));
        o[2] = (char)(0x80 | (cp & 0x3F));
        buf_put(b, o, 3);
    } else {
        o[0] = (char)(0xF0 | (cp >> 18));
        o[1] = (char)(0x80 | ((cp >> 12) & 0x3F));
        o[2] = (char)(0x80 | ((cp >> 6) & 0x3F));
        o[3] = (char)(0x80 | (cp & 0x3F));
        buf_put(b, o, 4);
    }
}

/* A string at j->p (after ws). Returns it in the arena, or into `small` (size n) when given, so
 * that keys cost nothing. */
static const char *string(struct jp *j, char *small, size_t n)
{
    if (!eat(j, '"')) {
        fail(j);
        return NULL;
    }
    const char *s = j->p;
    const char *q = memchr(s, '"', (size_t)(j->end - s));
    const char *bs = q ? memchr(s, '\\', (size_t)(q - s)) : NULL;
    if (q && !bs) { /* the common case: nothing to unescape */
        j->p = q + 1;
        size_t len = (size_t)(q - s);
        if (small) {
            if (len >= n)
                len = n - 1;
            memcpy(small, s, len);
            small[len] = '\0';
            return small;
        }
        const char *out = arena_strndup(j->a, s, len);
        if (!out)
            j->oom = j->failed = true;
        return out;
    }
    struct buf b = {0};
    while (j->p < j->end && *j->p != '"') {
        char c = *j->p++;
        if ((unsigned char)c < 0x20) {
            j->p--;
            goto bad;
        }
        if (c != '\\') {
            buf_putc(&b, c);
            continue;
        }
        if (j->p >= j->end)
            goto bad;
        c = *j->p++;
        switch (c) {
        case '"': case '\\': case '/': buf_putc(&b, c); break;
        case 'b': buf_putc(&b, '\b'); break;
        case 'f': buf_putc(&b, '\f'); break;
        case 'n': buf_putc(&b, '\n'); break;
        case 'r': buf_putc(&b, '\r'); break;
        case 't': buf_putc(&b, '\t'); break;
        case 'u': {
            if (j->end - j->p < 4)
                goto bad;
            int cp = hex4(j->p);
            if (cp < 0)
                goto bad;
            j->p += 4;
            if (cp >= 0xD800 && cp < 0xDC00 && j->end - j->p >= 6 && j->p[0] == '\\' && j->p[1] == 'u') {
                int lo = hex4(j->p + 2);
                if (lo >= 0xDC00 && lo < 0xE000) {
                    cp = 0x10000 + ((cp - 0xD800) << 10) + (lo - 0xDC00);
                    j->p += 6;
                }
            }
            put_utf8(&b, (unsigned)cp);
            break;
        }
        default:
            j->p--;
            goto bad;
        }
    }
    if (j->p >= j->end)
        goto bad;
    j->p++;
    const char *out;
    if (small) {
        snprintf(small, n, "%s", b.data ? b.data : "");
        out = small;
    } else {
        out = arena_strndup(j->a, b.data ? b.data : "", b.len);
        if (!out || b.oom)
            j->oom = j->failed = true;
    }
    buf_free(&b);
    return out;
bad:
    buf_free(&b);
    fail(j);
    return NULL;
}

enum jkind { J_NULL, J_STRING, J_NUMBER, J_TRUE, J_FALSE, J_OTHER };

static bool literal(struct jp *j, const char *word)
{
    size_t n = strlen(word);
    if ((size_t)(j->end - j->p) >= n && memcmp(j->p, word, n) == 0) {
        j->p += n;
        return true;
    }
    fail(j);
    return false;
}

static void skip_value(struct jp *j);

/* A scalar's text (strings unescaped, numbers as written); objects and arrays are skipped and
 * give J_OTHER. */
static enum jkind scalar(struct jp *j, const char **text)
{
    *text = NULL;
    ws(j);
    if (j->p >= j->end) {
        fail(j);
        return J_OTHER;
    }
    char c = *j->p;
    if (c == '"') {
        *text = string(j, NULL, 0);
        return J_STRING;
    }
    if (c == '-' || (c >= '0' && c <= '9')) {
        const char *s = j->p;
        while (j->p < j->end && (strchr("+-.eE", *j->p) || (*j->p >= '0' && *j->p <= '9')))
            j->p++;
        *text = arena_strndup(j->a, s, (size_t)(j->p - s));
        if (!*text)
            j->oom = j->failed = true;
        return J_NUMBER;
    }
    if (c == 't') {
        literal(j, "true");
        *text = "true";
        return J_TRUE;
    }
    if (c == 'f') {
        literal(j, "false");
        *text = "false";
        return J_FALSE;
    }
    if (c == 'n') {
        literal(j, "null");
        return J_NULL;
    }
    skip_value(j);
    return J_OTHER;
}

static void skip_value(struct jp *j)
{
    ws(j);
    if (j->p >= j->end) {
        fail(j);
        return;
    }
    char c = *j->p;
    if (c == '{' || c == '[') {
        char close = c == '{' ? '}' : ']';
        j->p++;
        if (eat(j, close))
            return;
        do {
            if (c == '{') {
                char key[8];
                string(j, key, sizeof key);
                if (!eat(j, ':')) {
                    fail(j);
                    return;
                }
            }
            skip_value(j);
            if (j->failed)
                return;
        } while (eat(j, ','));
        if (!eat(j, close))
            fail(j);
        return;
    }
    const char *t;
    scalar(j, &t);
}

static bool is_true(enum jkind k, const char *t)
{
    return k == J_TRUE || (k == J_STRING && t && !strcmp(t, "true"));
}

static void value_object(struct jp *j, struct dvs_in_value *v)
{
    if (!eat(j, '{')) {
        skip_value(j); /* not an object: a value with no fields, refused later */
        return;
    }
    if (eat(j, '}'))
        return;
    do {
        char key[32];
        if (!string(j, key, sizeof key) || !eat(j, ':')) {
            fail(j);
            return;
        }
        const char *t;
        enum jkind k = scalar(j, &t);
        if (j->failed)
            return;
        if (k == J_OTHER)
            continue;
        switch (key[0]) {
        case 'd':
            if (!strcmp(key, "dataElement")) v->de = t;
            else if (!strcmp(key, "deleted")) v->deleted = is_true(k, t);
            break;
        case 'p':
            if (!strcmp(key, "period")) v->pe = t;
            break;
        case 'o':
            if (!strcmp(key, "orgUnit")) v->ou = t;
            break;
        case 'c':
            if (!strcmp(key, "categoryOptionCombo")) v->coc = t;
            else if (!strcmp(key, "comment")) v->comment = t;
            break;
        case 'a':
            if (!strcmp(key, "attributeOptionCombo")) v->aoc = t;
            break;
        case 'v':
            if (!strcmp(key, "value")) v->value = t;
            break;
        case 's':
            if (!strcmp(key, "storedBy")) v->stored_by = t;
            break;
        case 'f':
            if (!strcmp(key, "followup")) v->followup = k == J_NULL ? -1 : is_true(k, t);
            break;
        }
    } while (eat(j, ','));
    if (!eat(j, '}'))
        fail(j);
}

int dvs_json_read(struct dvs_in *in, const char *body, size_t len, char *err, size_t err_size)
{
    struct jp j = {body, body, body + len, &in->arena, err, err_size, false, false};
    if (!eat(&j, '{')) {
        fail(&j);
        return -1;
    }
    if (eat(&j, '}'))
        goto end;
    do {
        char key[64];
        if (!string(&j, key, sizeof key) || !eat(&j, ':')) {
            fail(&j);
            break;
        }
        if (!strcmp(key, "dataValues")) {
            ws(&j);
            if (!eat(&j, '[')) {
                skip_value(&j);
                continue;
            }
            if (eat(&j, ']'))
                continue;
            do {
                struct dvs_in_value *v = dvs_in_push(in);
                if (!v) {
                    j.oom = j.failed = true;
                    break;
                }
                value_object(&j, v);
            } while (!j.failed && eat(&j, ','));
            if (!j.failed && !eat(&j, ']'))
                fail(&j);
            continue;
        }
        const char *t;
        enum jkind k = scalar(&j, &t);
        if (j.failed)
            break;
        if (k == J_OTHER || k == J_NULL)
            continue;
        if (!strcmp(key, "dataSet")) in->data_set = t;
        else if (!strcmp(key, "completeDate")) in->complete_date = t;
        else if (!strcmp(key, "period")) in->period = t;
        else if (!strcmp(key, "orgUnit")) in->org_unit = t;
        else if (!strcmp(key, "attributeOptionCombo")) in->aoc = t;
        else if (!strcmp(key, "idScheme")) in->id_scheme = (int)scheme_from_name(t, SCHEME_UID);
        else if (!strcmp(key, "dataElementIdScheme")) in->de_scheme = (int)scheme_from_name(t, SCHEME_UID);
        else if (!strcmp(key, "orgUnitIdScheme")) in->ou_scheme = (int)scheme_from_name(t, SCHEME_UID);
        else if (!strcmp(key, "dataSetIdScheme")) in->ds_scheme = (int)scheme_from_name(t, SCHEME_UID);
        else if (!strcmp(key, "dryRun")) in->dry_run = is_true(k, t);
        else if (!strcmp(key, "strategy") || !strcmp(key, "importStrategy")) in->strategy_name = t;
    } while (!j.failed && eat(&j, ','));
    if (!j.failed && !eat(&j, '}'))
        fail(&j);
end:
    if (!j.failed) {
        ws(&j);
        if (j.p != j.end)
            fail(&j);
    }
    if (j.oom)
        snprintf(err, err_size, "out of memory");
    return j.failed ? -1 : 0;
}
