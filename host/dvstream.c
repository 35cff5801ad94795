#include "dvstream.h"

#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

enum {
    DEFAULT_BATCH = 1000,
    KEY_MAX = 32,                 /* root keys longer than this are none we care about */
    ROOT_MAX = 256,               /* a root id, e.g. orgUnit, longer than this is refused */
    OBJECT_MAX = 8 * 1024 * 1024, /* one data value: values and comments are <= 50 000 chars */
};

enum state {
    ST_START,       /* before the root `{` */
    ST_KEY_OR_END,  /* in the root object, expecting a key or `}` */
    ST_KEY,         /* inside a root key string */
    ST_COLON,       /* after a root key */
    ST_VALUE,       /* expecting a root value */
    ST_ROOT_STRING, /* inside a root string value we keep (orgUnit, period, ...) */
    ST_SKIP,        /* inside a root value we do not need */
    ST_AFTER_VALUE, /* expecting `,` or `}` in the root object */
    ST_ARRAY,       /* in `dataValues`, expecting `{`, `,` or `]` */
    ST_OBJECT,      /* inside one data value object */
    ST_DONE,        /* after the root `}` */
};

enum root_field { ROOT_NONE, ROOT_ORG_UNIT, ROOT_PERIOD, ROOT_AOC };

struct root_value {
    char text[ROOT_MAX];
    bool seen;          /* given at the root of the response */
    bool fallback_used; /* some value took the caller's fallback instead */
};

struct dvstream {
    dvstream_fn fn;
    void *ud;
    size_t batch;
    char *fallback_org_unit, *fallback_period;

    enum state st;
    size_t offset; /* of the chunk being fed, for error messages */

    char key[KEY_MAX];
    size_t key_len;
    bool esc; /* the previous byte was a backslash inside a string (key, root string, skip) */
    enum root_field field;
    char rstr[ROOT_MAX];
    size_t rstr_len;
    struct root_value root_ou, root_pe, root_aoc;

    int depth;   /* nesting inside the skipped root value or the current object */
    bool in_str; /* inside a string within them */
    char *obj;   /* the current object when it spans chunks */
    size_t obj_len, obj_cap;

    struct datavalue *vals;
    size_t n;
    struct arena arena;
    struct dvstream_stats stats;
};

static char *dup_or_null(const char *s, bool *failed)
{
    char *d = s ? strdup(s) : NULL;
    if (s && !d)
        *failed = true;
    return d;
}

struct dvstream *dvstream_new(const struct dvstream_options *opt, dvstream_fn fn, void *ud)
{
    struct dvstream *s = calloc(1, sizeof *s);
    if (!s)
        return NULL;
    bool failed = false;
    s->fn = fn;
    s->ud = ud;
    s->batch = opt && opt->batch ? opt->batch : DEFAULT_BATCH;
    s->fallback_org_unit = dup_or_null(opt ? opt->fallback_org_unit : NULL, &failed);
    s->fallback_period = dup_or_null(opt ? opt->fallback_period : NULL, &failed);
    s->vals = calloc(s->batch, sizeof *s->vals);
    /* arena_reset keeps the arena's first block: making that one block big enough for a
     * typical batch (2.41 values hold ~250 bytes of text) means a batch rarely needs a fresh
     * block, and the stream does not fault in new pages for every batch. */
    if (failed || !s->vals || !arena_alloc(&s->arena, s->batch * 320)) {
        dvstream_free(s);
        return NULL;
    }
    arena_reset(&s->arena);
    return s;
}

void dvstream_free(struct dvstream *s)
{
    if (!s)
        return;
    free(s->fallback_org_unit);
    free(s->fallback_period);
    free(s->obj);
    free(s->vals);
    arena_free(&s->arena);
    free(s);
}

void dvstream_stats(const struct dvstream *s, struct dvstream_stats *out) { *out = s->stats; }

/* ---- JSON strings ---------------------------------------------------------------------- */

static int hex4(const char *p)
{
    int v = 0;
    for (int i = 0; i < 4; i++) {
        char c = p[i];
        v <<= 4;
        if (c >= '0' && c <= '9')
            v |= c - '0';
        else if (c >= 'a' && c <= 'f')
            v |= c - 'a' + 10;
        else if (c >= 'A' && c <= 'F')
            v |= c - 'A' + 10;
        else
            return -1;
    }
    return v;
}

static char *put_utf8(char *o, uint32_t cp)
{
    if (cp < 0x80) {
        *o++ = (char)cp;
    } else if (cp < 0x800) {
        *o++ = (char)(0xC0 | cp >> 6);
        *o++ = (char)(0x80 | (cp & 0x3F));
    } else if (cp < 0x10000) {
        *o++ = (char)(0xE0 | cp >> 12);
        *o++ = (char)(0x80 | (cp >> 6 & 0x3F));
        *o++ = (char)(0x80 | (cp & 0x3F));
    } else {
        *o++ = (char)(0xF0 | cp >> 18);
        *o++ = (char)(0x80 | (cp >> 12 & 0x3F));
        *o++ = (char)(0x80 | (cp >> 6 & 0x3F));
        *o++ = (char)(0x80 | (cp & 0x3F));
    }
    return o;
}

/* Decodes the body of a JSON string (without its quotes) into out, which has room for len + 1
 * bytes (decoding never grows text). Returns the decoded length, or -1 on a bad escape.
 * A lone surrogate becomes U+FFFD rather than an error: DHIS2 can store such text. */
static long unescape(const char *raw, size_t len, char *out)
{
    const char *p = raw, *end = raw + len;
    char *o = out;
    while (p < end) {
        const char *bs = memchr(p, '\\', (size_t)(end - p));
        size_t plain = (size_t)((bs ? bs : end) - p);
        memmove(o, p, plain);
        o += plain;
        p += plain;
        if (!bs)
            break;
        if (end - p < 2)
            return -1;
        char c = p[1];
        p += 2;
        switch (c) {
        case '"': *o++ = '"'; break;
        case '\\': *o++ = '\\'; break;
        case '/': *o++ = '/'; break;
        case 'b': *o++ = '\b'; break;
        case 'f': *o++ = '\f'; break;
        case 'n': *o++ = '\n'; break;
        case 'r': *o++ = '\r'; break;
        case 't': *o++ = '\t'; break;
        case 'u': {
            int cp = end - p >= 4 ? hex4(p) : -1;
            if (cp < 0)
                return -1;
            p += 4;
            uint32_t u = (uint32_t)cp;
            if (u >= 0xD800 && u <= 0xDBFF && end - p >= 6 && p[0] == '\\' && p[1] == 'u') {
                int lo = hex4(p + 2);
                if (lo >= 0xDC00 && lo <= 0xDFFF) {
                    u = 0x10000 + ((u - 0xD800) << 10) + ((uint32_t)lo - 0xDC00);
                    p += 6;
                }
            }
            if (u >= 0xD800 && u <= 0xDFFF)
                u = 0xFFFD;
            o = put_utf8(o, u);
            break;
        }
        default: return -1;
        }
    }
    *o = '\0';
    return o - out;
}

/* ---- one data value object ----------------------------------------------------------- */

/* Parsing is a single pass over the bytes: it records where each wanted field's text lies
 * (spans), then copies all of them into the arena with one allocation. A parse that runs off
 * the end of the bytes it was given says INCOMPLETE, so the stream can try it straight on a
 * chunk and only buffer the rare object that straddles two chunks. */
enum { INCOMPLETE = 1 };

enum dv_field {
    F_NONE = -1,
    F_DATA_ELEMENT,
    F_PERIOD,
    F_ORG_UNIT,
    F_COC,
    F_AOC,
    F_VALUE,
    F_COMMENT,
    F_STORED_BY,
    F_CREATED,
    F_LAST_UPDATED,
    N_TEXT_FIELDS, /* the fields above hold text */
    F_FOLLOWUP = N_TEXT_FIELDS,
    F_DELETED,
};

static const char *const field_names[] = {
    [F_DATA_ELEMENT] = "dataElement", [F_PERIOD] = "period",
    [F_ORG_UNIT] = "orgUnit",         [F_COC] = "categoryOptionCombo",
    [F_AOC] = "attributeOptionCombo", [F_VALUE] = "value",
    [F_COMMENT] = "comment",          [F_STORED_BY] = "storedBy",
    [F_CREATED] = "created",          [F_LAST_UPDATED] = "lastUpdated",
    [F_FOLLOWUP] = "followup",        [F_DELETED] = "deleted",
};

static enum dv_field lookup_field(const char *k, size_t len)
{
    /* the one candidate by length and a letter, then one compare (of a length the compiler
     * knows in each case, so inlined): this runs for every key of every value */
#define IS(f) (memcmp(k, field_names[f], len) == 0 ? (f) : F_NONE)
    switch (len) {
    case 5: return IS(F_VALUE);
    case 6: return IS(F_PERIOD);
    case 7: return k[0] == 'o' ? IS(F_ORG_UNIT) : k[0] == 'd' ? IS(F_DELETED)
                   : k[1] == 'o' ? IS(F_COMMENT) : IS(F_CREATED);
    case 8: return k[0] == 's' ? IS(F_STORED_BY) : IS(F_FOLLOWUP);
    case 11: return k[0] == 'd' ? IS(F_DATA_ELEMENT) : IS(F_LAST_UPDATED);
    case 19: return IS(F_COC);
    case 20: return IS(F_AOC);
    default: return F_NONE;
    }
#undef IS
}

struct span {
    const char *raw; /* NULL = absent or null */
    size_t len;
    bool escaped;
};

struct parsed {
    struct span text[N_TEXT_FIELDS];
    bool followup, deleted;
};

struct cursor {
    const char *p, *end, *start;
};

static void skip_ws(struct cursor *c)
{
    while (c->p < c->end && (*c->p == ' ' || *c->p == '\n' || *c->p == '\r' || *c->p == '\t'))
        c->p++;
}

static int syntax(struct cursor *c, struct err *e, const char *what)
{
    int shown = c->end - c->p < 20 ? (int)(c->end - c->p) : 20;
    return err_set(e, ERR_NET,
                   "malformed data value in the dataValueSets response: %s at byte %ld of "
                   "'%.*s'",
                   what, (long)(c->p - c->start), shown, c->p);
}

/* Whether any byte of w is a quote or a backslash (the classic has-zero-byte test on w XOR each). */
static inline bool word_has_quote_or_backslash(uint64_t w)
{
    const uint64_t ones = 0x0101010101010101ULL, highs = 0x8080808080808080ULL;
    uint64_t q = w ^ (ones * '"'), b = w ^ (ones * '\\');
    return (((q - ones) & ~q) | ((b - ones) & ~b)) & highs;
}

/* At an opening quote: finds the closing one and fills sp with the body. Eight bytes at a time
 * while no quote or backslash is among them: timestamps and comments are most of the text.
 * Inlined so that sp stays in registers: a span stored by a call and read back at once as one
 * wider load stalled the parser's store forwarding. */
static inline __attribute__((always_inline)) int scan_string(struct cursor *c, struct span *sp)
{
    const char *p = c->p + 1;
    sp->escaped = false;
    for (;;) {
        uint64_t w;
        while (c->end - p >= 8 && (memcpy(&w, p, 8), !word_has_quote_or_backslash(w)))
            p += 8;
        while (p < c->end && *p != '"' && *p != '\\')
            p++;
        if (p >= c->end)
            return INCOMPLETE;
        if (*p == '"')
            break;
        sp->escaped = true;
        p += 2;
    }
    sp->raw = c->p + 1;
    sp->len = (size_t)(p - sp->raw);
    c->p = p + 1;
    return 0;
}

/* Skips a nested object or array (not expected in a data value, but harmless). Each bracket
 * must close with its own kind: the stream finds the end of an object that straddles chunks
 * by counting braces alone, so a `{` closed by `]` here would end the object at one place when
 * it is parsed in place and at another when it straddles. */
static int skip_nested(struct cursor *c, struct err *e)
{
    uint64_t arrays = 0; /* bit d set: nesting level d is an array */
    int depth = 0;
    while (c->p < c->end) {
        char ch = *c->p;
        if (ch == '"') {
            struct span sp;
            if (scan_string(c, &sp))
                return INCOMPLETE;
            continue;
        }
        if (ch == '{' || ch == '[') {
            if (depth == 64)
                return syntax(c, e, "nested too deeply");
            arrays = ch == '[' ? arrays | 1ull << depth : arrays & ~(1ull << depth);
            depth++;
        } else if (ch == '}' || ch == ']') {
            if ((ch == ']') != (bool)(arrays >> (depth - 1) & 1))
                return syntax(c, e, "mismatched bracket");
            depth--;
        }
        c->p++;
        if (depth == 0)
            return 0;
    }
    return INCOMPLETE;
}

/* Parses the flat object at c->p (which must be '{') up to its closing brace. Returns 0 with
 * c->p just past it, INCOMPLETE when the bytes end first, or a syntax error. */
static int parse_flat(struct cursor *c, struct parsed *out, struct err *e)
{
    for (int i = 0; i < N_TEXT_FIELDS; i++) /* raw alone says absent; a memset costs more */
        out->text[i].raw = NULL;
    out->followup = out->deleted = false;
    c->p++; /* the '{' */
    skip_ws(c);
    if (c->p < c->end && *c->p == '}') {
        c->p++;
        return 0;
    }
    for (;;) {
        skip_ws(c);
        if (c->p >= c->end)
            return INCOMPLETE;
        if (*c->p != '"')
            return syntax(c, e, "expected a key");
        struct span key;
        if (scan_string(c, &key))
            return INCOMPLETE;
        char key_buf[KEY_MAX];
        if (key.escaped && key.len < sizeof key_buf) { /* keys never need it, JSON allows it */
            long n = unescape(key.raw, key.len, key_buf);
            if (n < 0)
                return syntax(c, e, "bad escape in a key");
            key.raw = key_buf;
            key.len = (size_t)n;
        }
        enum dv_field f = key.len ? lookup_field(key.raw, key.len) : F_NONE;
        skip_ws(c);
        if (c->p >= c->end)
            return INCOMPLETE;
        if (*c->p != ':')
            return syntax(c, e, "expected ':'");
        c->p++;
        skip_ws(c);
        if (c->p >= c->end)
            return INCOMPLETE;
        struct span *slot = f >= 0 && f < N_TEXT_FIELDS ? &out->text[f] : NULL;
        char ch = *c->p;
        if (ch == '"') {
            struct span sp;
            if (scan_string(c, &sp))
                return INCOMPLETE;
            if (slot)
                *slot = sp;
            else if (f == F_FOLLOWUP) /* lenient: some writers quote booleans */
                out->followup = sp.len == 4 && memcmp(sp.raw, "true", 4) == 0;
            else if (f == F_DELETED)
                out->deleted = sp.len == 4 && memcmp(sp.raw, "true", 4) == 0;
        } else if (ch == 't' || ch == 'f' || ch == 'n') {
            const char *word = ch == 't' ? "true" : ch == 'f' ? "false" : "null";
            size_t wl = strlen(word), have = (size_t)(c->end - c->p);
            if (memcmp(c->p, word, have < wl ? have : wl) != 0)
                return syntax(c, e, "unknown literal");
            if (have <= wl) /* at the end we cannot know the literal is over */
                return INCOMPLETE;
            if (f == F_FOLLOWUP)
                out->followup = ch == 't';
            else if (f == F_DELETED)
                out->deleted = ch == 't';
            else if (slot && ch != 'n') /* a boolean where text belongs: keep its text */
                *slot = (struct span){c->p, wl, false};
            c->p += wl;
        } else if (ch == '-' || (ch >= '0' && ch <= '9')) {
            const char *start = c->p;
            while (c->p < c->end && ((*c->p >= '0' && *c->p <= '9') || *c->p == '-' ||
                                     *c->p == '+' || *c->p == '.' || *c->p == 'e' || *c->p == 'E'))
                c->p++;
            if (c->p >= c->end)
                return INCOMPLETE;
            if (slot) /* numbers belong in strings, but keep the text of one anyway */
                *slot = (struct span){start, (size_t)(c->p - start), false};
        } else if (ch == '{' || ch == '[') {
            int rc = skip_nested(c, e);
            if (rc)
                return rc;
        } else {
            return syntax(c, e, "unexpected character");
        }
        skip_ws(c);
        if (c->p >= c->end)
            return INCOMPLETE;
        if (*c->p == ',') {
            c->p++;
            continue;
        }
        if (*c->p == '}') {
            c->p++;
            return 0;
        }
        return syntax(c, e, "expected ',' or '}'");
    }
}

/* Copies the recorded fields into the arena (one allocation) and fills dv. */
static int commit(const struct parsed *pv, struct arena *arena, struct datavalue *dv, struct err *e)
{
    const char **slots[N_TEXT_FIELDS] = {
        [F_DATA_ELEMENT] = &dv->data_element,
        [F_PERIOD] = &dv->period,
        [F_ORG_UNIT] = &dv->org_unit,
        [F_COC] = &dv->category_option_combo,
        [F_AOC] = &dv->attribute_option_combo,
        [F_VALUE] = &dv->value,
        [F_COMMENT] = &dv->comment,
        [F_STORED_BY] = &dv->stored_by,
        [F_CREATED] = &dv->created,
        [F_LAST_UPDATED] = &dv->last_updated,
    };
    *dv = (struct datavalue){.followup = pv->followup, .deleted = pv->deleted};
    size_t total = 0;
    for (int i = 0; i < N_TEXT_FIELDS; i++)
        if (pv->text[i].raw)
            total += pv->text[i].len + 1; /* decoding never makes text longer */
    char *out = total ? arena_alloc(arena, total) : NULL;
    if (total && !out)
        return err_set(e, ERR_INTERNAL, "out of memory reading data values");
    for (int i = 0; i < N_TEXT_FIELDS; i++) {
        const struct span *sp = &pv->text[i];
        if (!sp->raw)
            continue;
        size_t len = sp->len;
        if (sp->escaped) {
            long n = unescape(sp->raw, sp->len, out);
            if (n < 0)
                return err_set(e, ERR_NET,
                               "malformed data value in the dataValueSets response: "
                               "bad escape in its %s",
                               field_names[i]);
            len = (size_t)n;
        } else {
            memcpy(out, sp->raw, len);
            out[len] = '\0';
        }
        *slots[i] = out;
        out += len + 1;
    }
    return 0;
}

int dvstream_parse_object(const char *p, size_t len, struct arena *arena, struct datavalue *dv,
                          struct err *e)
{
    struct cursor c = {p, p + len, p};
    struct parsed pv;
    *dv = (struct datavalue){0};
    skip_ws(&c);
    if (c.p >= c.end || *c.p != '{')
        return syntax(&c, e, "expected '{'");
    int rc = parse_flat(&c, &pv, e);
    if (rc == INCOMPLETE)
        return syntax(&c, e, "unterminated object");
    if (rc)
        return rc;
    skip_ws(&c);
    if (c.p != c.end)
        return syntax(&c, e, "trailing text after the object");
    return commit(&pv, arena, dv, e);
}

/* ---- the stream ------------------------------------------------------------------------ */

static int flush(struct dvstream *s, struct err *e)
{
    size_t held = s->arena.used_bytes + s->obj_cap + s->batch * sizeof *s->vals;
    if (held > s->stats.peak_bytes)
        s->stats.peak_bytes = held;
    int rc = 0;
    if (s->n)
        rc = s->fn(s->ud, s->vals, s->n, e);
    s->stats.values += s->n;
    s->n = 0;
    arena_reset(&s->arena);
    return rc;
}

/* Fills what the value left out from the root or the caller's fallback. */
static int complete_value(struct dvstream *s, struct datavalue *dv, struct err *e)
{
    if (!dv->data_element)
        return err_set(e, ERR_NET, "a data value in the dataValueSets response has no dataElement");
    if (!dv->org_unit) {
        if (s->root_ou.seen) {
            dv->org_unit = s->root_ou.text;
        } else if (s->fallback_org_unit) {
            dv->org_unit = s->fallback_org_unit;
            s->root_ou.fallback_used = true;
        } else {
            return err_set(e, ERR_NET,
                           "a data value in the dataValueSets response has no orgUnit "
                           "and the response gives none before it");
        }
    }
    if (!dv->period) {
        if (s->root_pe.seen) {
            dv->period = s->root_pe.text;
        } else if (s->fallback_period) {
            dv->period = s->fallback_period;
            s->root_pe.fallback_used = true;
        } else {
            return err_set(e, ERR_NET,
                           "a data value in the dataValueSets response has no period "
                           "and the response gives none before it");
        }
    }
    if (!dv->attribute_option_combo && s->root_aoc.seen)
        dv->attribute_option_combo = s->root_aoc.text;
    return 0;
}

/* Takes s->vals[s->n], just filled, into the batch. */
static int push_value(struct dvstream *s, struct err *e)
{
    int rc = complete_value(s, &s->vals[s->n], e);
    if (rc)
        return rc;
    if (++s->n == s->batch)
        return flush(s, e);
    return 0;
}

/* An object that straddled chunks, reassembled in s->obj. */
static int emit_object(struct dvstream *s, const char *p, size_t len, struct err *e)
{
    int rc = dvstream_parse_object(p, len, &s->arena, &s->vals[s->n], e);
    return rc ? rc : push_value(s, e);
}

static int append_obj(struct dvstream *s, const char *p, size_t n, struct err *e)
{
    if (s->obj_len + n > s->obj_cap) {
        size_t cap = s->obj_cap ? s->obj_cap : 4096;
        while (cap < s->obj_len + n)
            cap *= 2;
        if (cap > OBJECT_MAX)
            return err_set(e, ERR_NET,
                           "a data value in the dataValueSets response is larger "
                           "than %d MB",
                           OBJECT_MAX >> 20);
        char *obj = realloc(s->obj, cap);
        if (!obj)
            return err_set(e, ERR_INTERNAL, "out of memory reading data values");
        s->obj = obj;
        s->obj_cap = cap;
    }
    memcpy(s->obj + s->obj_len, p, n);
    s->obj_len += n;
    return 0;
}

static int root_string_done(struct dvstream *s, struct err *e)
{
    struct root_value *rv = s->field == ROOT_ORG_UNIT ? &s->root_ou
                            : s->field == ROOT_PERIOD ? &s->root_pe
                                                      : &s->root_aoc;
    const char *name = s->field == ROOT_ORG_UNIT ? "orgUnit"
                       : s->field == ROOT_PERIOD ? "period"
                                                 : "attributeOptionCombo";
    if (s->rstr_len >= ROOT_MAX)
        return err_set(e, ERR_NET, "the dataValueSets response's root %s is too long", name);
    if (unescape(s->rstr, s->rstr_len, rv->text) < 0)
        return err_set(e, ERR_NET, "the dataValueSets response's root %s has a bad escape", name);
    rv->seen = true;
    const char *fallback = s->field == ROOT_ORG_UNIT ? s->fallback_org_unit
                           : s->field == ROOT_PERIOD ? s->fallback_period
                                                     : NULL;
    /* values before it took the fallback: they are only right if the root agrees */
    if (rv->fallback_used && fallback && strcmp(fallback, rv->text) != 0)
        return err_set(e, ERR_NET,
                       "the dataValueSets response names %s '%s' at its root, after values that "
                       "were taken to be for '%s'",
                       name, rv->text, fallback);
    return 0;
}

static bool is_ws(char c) { return c == ' ' || c == '\n' || c == '\r' || c == '\t'; }

static int bad(struct dvstream *s, size_t i, struct err *e, const char *what)
{
    return err_set(e, ERR_NET,
                   "the dataValueSets response is not the JSON expected: %s at byte %zu", what,
                   s->offset + i);
}

int dvstream_feed(struct dvstream *s, const char *buf, size_t n, struct err *e)
{
    size_t i = 0;
    int rc = 0;
    size_t obj_start = 0; /* where the current object began in buf, when it began in buf */
    bool obj_here = false;
    while (i < n) {
        char c = buf[i];
        switch (s->st) {
        case ST_START:
            if (c == '{')
                s->st = ST_KEY_OR_END;
            else if (!is_ws(c))
                return bad(s, i, e, "the body is not a JSON object");
            i++;
            break;
        case ST_KEY_OR_END:
            if (c == '"') {
                s->st = ST_KEY;
                s->key_len = 0;
                s->esc = false;
            } else if (c == '}') {
                s->st = ST_DONE;
            } else if (!is_ws(c)) {
                return bad(s, i, e, "expected a key");
            }
            i++;
            break;
        case ST_KEY:
            if (s->esc) {
                s->esc = false;
            } else if (c == '\\') {
                s->esc = true;
            } else if (c == '"') {
                s->st = ST_COLON;
                i++;
                break;
            }
            if (s->key_len < KEY_MAX) /* longer keys are none we look for */
                s->key[s->key_len++] = c;
            i++;
            break;
        case ST_COLON:
            if (c == ':')
                s->st = ST_VALUE;
            else if (!is_ws(c))
                return bad(s, i, e, "expected ':'");
            i++;
            break;
        case ST_VALUE: {
            if (is_ws(c)) {
                i++;
                break;
            }
#define KEY_IS(lit) (s->key_len == sizeof lit - 1 && memcmp(s->key, lit, sizeof lit - 1) == 0)
            if (KEY_IS("dataValues") && c == '[') {
                s->st = ST_ARRAY;
                i++;
                break;
            }
            s->field = c != '"'                         ? ROOT_NONE
                       : KEY_IS("orgUnit")              ? ROOT_ORG_UNIT
                       : KEY_IS("period")               ? ROOT_PERIOD
                       : KEY_IS("attributeOptionCombo") ? ROOT_AOC
                                                        : ROOT_NONE;
#undef KEY_IS
            if (s->field != ROOT_NONE) {
                s->st = ST_ROOT_STRING;
                s->rstr_len = 0;
                s->esc = false;
                i++;
            } else {
                s->st = ST_SKIP; /* the skipper sees this first byte itself */
                s->depth = 0;
                s->in_str = false;
                s->esc = false;
            }
            break;
        }
        case ST_ROOT_STRING:
            if (s->esc) {
                s->esc = false;
            } else if (c == '\\') {
                s->esc = true;
            } else if (c == '"') {
                if ((rc = root_string_done(s, e)) != 0)
                    return rc;
                s->st = ST_AFTER_VALUE;
                i++;
                break;
            }
            if (s->rstr_len < ROOT_MAX)
                s->rstr[s->rstr_len] = c;
            s->rstr_len++;
            i++;
            break;
        case ST_SKIP:
            if (s->in_str) {
                if (s->esc)
                    s->esc = false;
                else if (c == '\\')
                    s->esc = true;
                else if (c == '"') {
                    s->in_str = false;
                    if (s->depth == 0)
                        s->st = ST_AFTER_VALUE;
                }
            } else if (c == '"') {
                s->in_str = true;
            } else if (c == '{' || c == '[') {
                s->depth++;
            } else if (c == '}' || c == ']' || c == ',') {
                if (s->depth == 0) { /* the end of a number or literal: not ours to eat */
                    s->st = ST_AFTER_VALUE;
                    break;
                }
                if (c != ',' && --s->depth == 0)
                    s->st = ST_AFTER_VALUE;
            }
            i++;
            break;
        case ST_AFTER_VALUE:
            if (c == ',')
                s->st = ST_KEY_OR_END;
            else if (c == '}')
                s->st = ST_DONE;
            else if (!is_ws(c))
                return bad(s, i, e, "expected ',' or '}'");
            i++;
            break;
        case ST_ARRAY:
            if (c == '{') {
                /* most objects lie wholly inside the chunk: parse them in place, in one pass */
                struct cursor cur = {buf + i, buf + n, buf + i};
                struct parsed pv;
                rc = parse_flat(&cur, &pv, e);
                if (rc == 0) {
                    if ((rc = commit(&pv, &s->arena, &s->vals[s->n], e)) != 0 ||
                        (rc = push_value(s, e)) != 0)
                        return rc;
                    i = (size_t)(cur.p - buf);
                    break;
                }
                if (rc != INCOMPLETE)
                    return rc;
                /* it goes on in the next chunk: find its end by scanning, keep it whole */
                s->st = ST_OBJECT;
                s->depth = 1;
                s->in_str = false;
                s->esc = false;
                obj_start = i;
                obj_here = true;
            } else if (c == ']') {
                s->st = ST_AFTER_VALUE;
            } else if (c != ',' && !is_ws(c)) {
                return bad(s, i, e, "dataValues holds something other than objects");
            }
            i++;
            break;
        case ST_OBJECT: {
            /* the hot loop: find the object's closing brace, minding strings */
            size_t j = i;
            int depth = s->depth;
            bool in_str = s->in_str, done = false;
            if (s->esc) { /* a backslash ended the previous chunk */
                s->esc = false;
                j++;
            }
            while (j < n) {
                if (in_str) {
                    while (j < n && buf[j] != '"' && buf[j] != '\\')
                        j++;
                    if (j == n)
                        break;
                    if (buf[j] == '\\') {
                        if (j + 1 == n) {
                            s->esc = true;
                            j++;
                            break;
                        }
                        j += 2;
                        continue;
                    }
                    in_str = false;
                    j++;
                    continue;
                }
                char ch = buf[j++];
                if (ch == '"')
                    in_str = true;
                else if (ch == '{')
                    depth++;
                else if (ch == '}' && --depth == 0) {
                    done = true;
                    break;
                }
            }
            s->depth = depth;
            s->in_str = in_str;
            if (done) {
                if (obj_here) {
                    rc = emit_object(s, buf + obj_start, j - obj_start, e);
                } else {
                    rc = append_obj(s, buf, j, e);
                    if (rc == 0)
                        rc = emit_object(s, s->obj, s->obj_len, e);
                    s->obj_len = 0;
                }
                if (rc)
                    return rc;
                obj_here = false;
                s->st = ST_ARRAY;
            } else {
                /* the object goes on in the next chunk: keep what we have of it */
                size_t from = obj_here ? obj_start : 0;
                if ((rc = append_obj(s, buf + from, n - from, e)) != 0)
                    return rc;
                obj_here = false;
            }
            i = j;
            break;
        }
        case ST_DONE:
            if (!is_ws(c))
                return bad(s, i, e, "text after the end of the JSON document");
            i++;
            break;
        }
    }
    /* a `{` that was the chunk's last byte starts an object the loop never looked into */
    if (obj_here && (rc = append_obj(s, buf + obj_start, n - obj_start, e)) != 0)
        return rc;
    s->offset += n;
    s->stats.bytes += n;
    return 0;
}

int dvstream_finish(struct dvstream *s, struct err *e)
{
    if (s->st != ST_DONE)
        return err_set(e, ERR_NET, "the dataValueSets response ended early (after %zu bytes)",
                       s->offset);
    return flush(s, e);
}
