#include "validate.h"

#include <stdio.h>
#include <string.h>

bool uid_valid(const char *s)
{
    if (!s || strlen(s) != 11)
        return false;
    for (int i = 0; i < 11; i++) {
        char c = s[i];
        bool letter = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z');
        if (!letter && (i == 0 || c < '0' || c > '9'))
            return false;
    }
    return true;
}

/* Counts UTF-8 characters; -1 for invalid UTF-8 or a control character. */
static long utf8_chars(const char *s)
{
    long n = 0;
    const unsigned char *p = (const unsigned char *)s;
    while (*p) {
        int len = *p < 0x80 ? 1 : (*p & 0xE0) == 0xC0 ? 2 : (*p & 0xF0) == 0xE0 ? 3 : (*p & 0xF8) == 0xF0 ? 4 : 0;
        if (len == 0 || (len == 2 && *p < 0xC2))
            return -1;
        if (len == 1 && (*p < 0x20 || *p == 0x7F))
            return -1;
        for (int i = 1; i < len; i++)
            if ((p[i] & 0xC0) != 0x80)
                return -1;
        p += len;
        n++;
    }
    return n;
}

static const cJSON *field(const cJSON *o, const char *key)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, key);
    return v && !cJSON_IsNull(v) ? v : NULL;
}

static int bad(struct err *e, const char *prefix, const char *key, const char *problem)
{
    char name[64];
    snprintf(name, sizeof name, "%s%s", prefix, key);
    return err_field(e, name, "%s", problem);
}

int v_string(const cJSON *o, const char *prefix, const char *key, bool required, size_t min_chars,
             size_t max_chars, const char **out, struct err *e)
{
    const cJSON *v = field(o, key);
    *out = NULL;
    if (!v)
        return required ? bad(e, prefix, key, "is required") : 0;
    if (!cJSON_IsString(v))
        return bad(e, prefix, key, "must be a string");
    long n = utf8_chars(v->valuestring);
    if (n < 0)
        return bad(e, prefix, key, "must be UTF-8 text without control characters");
    if ((size_t)n < min_chars || (size_t)n > max_chars) {
        char problem[96];
        snprintf(problem, sizeof problem, "must be %zu to %zu characters long", min_chars, max_chars);
        return bad(e, prefix, key, problem);
    }
    *out = v->valuestring;
    return 0;
}

int v_bool(const cJSON *o, const char *prefix, const char *key, bool fallback, bool *out,
           struct err *e)
{
    const cJSON *v = field(o, key);
    if (!v) {
        *out = fallback;
        return 0;
    }
    if (!cJSON_IsBool(v))
        return bad(e, prefix, key, "must be true or false");
    *out = cJSON_IsTrue(v);
    return 0;
}

int v_int(const cJSON *o, const char *prefix, const char *key, long fallback, long min, long max,
          long *out, struct err *e)
{
    const cJSON *v = field(o, key);
    if (!v) {
        *out = fallback;
        return 0;
    }
    double d = cJSON_IsNumber(v) ? v->valuedouble : 0;
    /* the range first: casting a number beyond long's is undefined */
    if (!cJSON_IsNumber(v) || !(d >= (double)min && d <= (double)max) || d != (double)(long)d) {
        char problem[96];
        snprintf(problem, sizeof problem, "must be a whole number from %ld to %ld", min, max);
        return bad(e, prefix, key, problem);
    }
    *out = (long)d;
    return 0;
}

int v_enum(const cJSON *o, const char *prefix, const char *key, const char *const *allowed,
           const char *fallback, const char **out, struct err *e)
{
    const cJSON *v = field(o, key);
    if (!v) {
        *out = fallback;
        return 0;
    }
    for (int i = 0; cJSON_IsString(v) && allowed[i]; i++) {
        if (strcmp(v->valuestring, allowed[i]) == 0) {
            *out = allowed[i];
            return 0;
        }
    }
    char problem[200] = "must be one of";
    for (int i = 0; allowed[i]; i++) {
        size_t len = strlen(problem);
        snprintf(problem + len, sizeof problem - len, "%s %s", i ? "," : "", allowed[i]);
    }
    return bad(e, prefix, key, problem);
}

int v_uid_array(const cJSON *o, const char *prefix, const char *key, const cJSON **out,
                struct err *e)
{
    const cJSON *v = field(o, key);
    *out = NULL;
    if (!v)
        return 0;
    if (!cJSON_IsArray(v))
        return bad(e, prefix, key, "must be an array of DHIS2 ids");
    const cJSON *item;
    cJSON_ArrayForEach(item, v)
    {
        if (!cJSON_IsString(item) || !uid_valid(item->valuestring)) {
            char problem[120];
            snprintf(problem, sizeof problem, "'%.20s' is not a DHIS2 id (11 letters and digits, "
                     "starting with a letter)", cJSON_IsString(item) ? item->valuestring : "?");
            return bad(e, prefix, key, problem);
        }
    }
    *out = v;
    return 0;
}

int v_worse(int a, int b)
{
    if (a && a != ERR_INPUT)
        return a;
    return b ? b : a;
}
