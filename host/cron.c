#include "cron.h"

#include <ctype.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

struct field {
    const char *name;
    int min, max;
    const char *const *names; /* names[i] is value min + i; NULL = numbers only */
};

static const char *const month_names[] = {"JAN", "FEB", "MAR", "APR", "MAY", "JUN",
                                          "JUL", "AUG", "SEP", "OCT", "NOV", "DEC"};
static const char *const day_names[] = {"SUN", "MON", "TUE", "WED", "THU", "FRI", "SAT"};

/* Day-of-week accepts 0-7 so that 7 means Sunday too; it is folded onto 0 after parsing. */
static const struct field fields[5] = {
    {"minute", 0, 59, NULL},          {"hour", 0, 23, NULL},
    {"day-of-month", 1, 31, NULL},    {"month", 1, 12, month_names},
    {"day-of-week", 0, 7, day_names},
};

static const struct {
    const char *name, *expr;
} macros[] = {
    {"@hourly", "0 * * * *"},   {"@daily", "0 0 * * *"},   {"@midnight", "0 0 * * *"},
    {"@weekly", "0 0 * * 0"},   {"@monthly", "0 0 1 * *"}, {"@yearly", "0 0 1 1 *"},
    {"@annually", "0 0 1 1 *"},
};

/* Reads one value (a number or a name) at *p; advances *p past it. */
static int parse_value(const char **p, const char *end, const struct field *f, int *out,
                       const char *expr, struct err *e)
{
    const char *s = *p;
    if (s < end && isdigit((unsigned char)*s)) {
        int v = 0;
        while (s < end && isdigit((unsigned char)*s)) {
            if (v > 1000)
                return err_set(e, ERR_INPUT, "cron expression '%s': %s value is too large", expr,
                               f->name);
            v = v * 10 + (*s++ - '0');
        }
        if (v < f->min || v > f->max)
            return err_set(e, ERR_INPUT, "cron expression '%s': %s value %d is out of range %d-%d",
                           expr, f->name, v, f->min, f->max);
        *out = v;
        *p = s;
        return 0;
    }
    if (f->names && end - s >= 3) {
        int count = f->max - f->min + 1;
        if (f->names == day_names)
            count = 7;
        for (int i = 0; i < count; i++) {
            if (strncasecmp(s, f->names[i], 3) == 0 &&
                (end - s == 3 || !isalpha((unsigned char)s[3]))) {
                *out = f->min + i;
                *p = s + 3;
                return 0;
            }
        }
    }
    return err_set(e, ERR_INPUT,
                   "cron expression '%s': %s field has '%.*s' where a %s was expected", expr,
                   f->name, (int)(end - s), s, f->names ? "number or name" : "number");
}

/* One field: a comma-separated list of `*`, `a`, `a-b`, each optionally followed by `/step`. */
static int parse_field(const char *s, const char *end, const struct field *f, uint64_t *bits,
                       const char *expr, struct err *e)
{
    *bits = 0;
    while (s <= end) {
        const char *item_end = memchr(s, ',', (size_t)(end - s));
        if (!item_end)
            item_end = end;
        if (item_end == s)
            return err_set(e, ERR_INPUT, "cron expression '%s': %s field has an empty list item",
                           expr, f->name);
        int lo, hi, step = 1, rc;
        const char *p = s;
        if (*p == '*') {
            lo = f->min;
            hi = f->max;
            p++;
        } else {
            if ((rc = parse_value(&p, item_end, f, &lo, expr, e)) != 0)
                return rc;
            hi = lo;
            if (p < item_end && *p == '-') {
                p++;
                if ((rc = parse_value(&p, item_end, f, &hi, expr, e)) != 0)
                    return rc;
                if (hi < lo)
                    return err_set(e, ERR_INPUT,
                                   "cron expression '%s': %s range %.*s runs backwards; split it "
                                   "into two ranges",
                                   expr, f->name, (int)(item_end - s), s);
            } else if (p < item_end && *p == '/') {
                hi = f->max; /* `5/10` = from 5 to the end in steps of 10 */
            }
        }
        if (p < item_end && *p == '/') {
            p++;
            const char *digits = p;
            step = 0;
            while (p < item_end && isdigit((unsigned char)*p) && step <= 1000)
                step = step * 10 + (*p++ - '0');
            if (p == digits || step < 1 || step > f->max)
                return err_set(e, ERR_INPUT,
                               "cron expression '%s': %s field has a bad step in '%.*s' (1-%d)",
                               expr, f->name, (int)(item_end - s), s, f->max);
        }
        if (p != item_end)
            return err_set(e, ERR_INPUT, "cron expression '%s': %s field has unexpected '%.*s'",
                           expr, f->name, (int)(item_end - p), p);
        for (int v = lo; v <= hi; v += step)
            *bits |= (uint64_t)1 << v;
        s = item_end + 1;
    }
    return 0;
}

int cron_parse(const char *expr, struct cron *out, struct err *e)
{
    if (!expr)
        return err_set(e, ERR_INPUT, "cron expression is missing");
    const char *text = expr;
    while (isspace((unsigned char)*text))
        text++;
    if (*text == '@') {
        size_t len = strcspn(text, " \t\r\n");
        for (const char *rest = text + len; *rest; rest++)
            if (!isspace((unsigned char)*rest))
                return err_set(e, ERR_INPUT, "cron expression '%s': nothing may follow %.*s", expr,
                               (int)len, text);
        for (size_t i = 0; i < sizeof macros / sizeof macros[0]; i++)
            if (strlen(macros[i].name) == len && strncasecmp(text, macros[i].name, len) == 0)
                return cron_parse(macros[i].expr, out, e);
        return err_set(e, ERR_INPUT,
                       "cron expression '%s': unknown shortcut %.*s (use @hourly, @daily, "
                       "@midnight, @weekly, @monthly, @yearly or @annually)",
                       expr, (int)len, text);
    }

    struct cron c = {0};
    uint64_t bits[5];
    const char *p = text;
    int n = 0;
    while (*p) {
        const char *start = p;
        while (*p && !isspace((unsigned char)*p))
            p++;
        if (n == 5)
            return err_set(e, ERR_INPUT,
                           "cron expression '%s' has more than 5 fields (minute hour "
                           "day-of-month month day-of-week)",
                           expr);
        int rc = parse_field(start, p, &fields[n], &bits[n], expr, e);
        if (rc)
            return rc;
        if (n == 2)
            c.mday_star = *start == '*';
        if (n == 4)
            c.wday_star = *start == '*';
        n++;
        while (isspace((unsigned char)*p))
            p++;
    }
    if (n != 5)
        return err_set(e, ERR_INPUT,
                       "cron expression '%s' has %d field%s; it needs 5 (minute hour "
                       "day-of-month month day-of-week)",
                       expr, n, n == 1 ? "" : "s");
    c.minutes = bits[0];
    c.hours = (uint32_t)bits[1];
    c.mdays = (uint32_t)bits[2];
    c.months = (uint16_t)bits[3];
    c.wdays = (uint8_t)((bits[4] | bits[4] >> 7) & 0x7f); /* 7 is Sunday as well */
    *out = c;
    return 0;
}

static bool day_due(const struct cron *c, const struct tm *tm)
{
    bool mday = c->mdays >> tm->tm_mday & 1;
    bool wday = c->wdays >> tm->tm_wday & 1;
    /* Vixie cron: a star in either day field means both must match (the star matches all,
     * or its step restricts); two restricted fields mean either may match. */
    if (c->mday_star || c->wday_star)
        return mday && wday;
    return mday || wday;
}

time_t cron_next(const struct cron *c, time_t after)
{
    time_t t = after - ((after % 60 + 60) % 60) + 60; /* next whole minute, also for t < 0 */
    const time_t limit = after + (time_t)(10 * 366) * 86400;
    struct tm tm;
    if (!gmtime_r(&t, &tm))
        return -1;
    /* Skip whole months, days and hours that cannot match before looking at minutes; each
     * step lands on the start of the next unit, so a year costs at most a few thousand steps. */
    while (t <= limit) {
        if (!(c->months >> (tm.tm_mon + 1) & 1)) {
            tm.tm_mon++;
            tm.tm_mday = 1;
            tm.tm_hour = tm.tm_min = 0;
        } else if (!day_due(c, &tm)) {
            tm.tm_mday++;
            tm.tm_hour = tm.tm_min = 0;
        } else if (!(c->hours >> tm.tm_hour & 1)) {
            tm.tm_hour++;
            tm.tm_min = 0;
        } else if (!(c->minutes >> tm.tm_min & 1)) {
            tm.tm_min++;
        } else {
            return t;
        }
        tm.tm_sec = 0;
        tm.tm_isdst = 0;
        t = timegm(&tm); /* normalises overflowing fields and sets tm_wday */
        if (t == -1)
            return -1;
    }
    return -1;
}

/* ---------------------------------------------------------------- in words */

static const char *const month_words[] = {"", "January", "February", "March", "April", "May",
                                          "June", "July", "August", "September", "October",
                                          "November", "December"};
static const char *const day_words[] = {"Sunday", "Monday", "Tuesday", "Wednesday", "Thursday",
                                        "Friday", "Saturday"};

struct words {
    char *out;
    size_t size, len;
};

static void say(struct words *w, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void say(struct words *w, const char *fmt, ...)
{
    if (w->len >= w->size)
        return;
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(w->out + w->len, w->size - w->len, fmt, ap);
    va_end(ap);
    if (n > 0)
        w->len += (size_t)n < w->size - w->len ? (size_t)n : w->size - w->len - 1;
}

static int count_bits(uint64_t bits)
{
    int n = 0;
    for (; bits; bits &= bits - 1)
        n++;
    return n;
}

/* The step when bits are min, min+step, … up to the field's end (e.g. every 15 minutes), else 0. */
static int even_step(uint64_t bits, int min, int max)
{
    if (!(bits >> min & 1) || count_bits(bits) < 2)
        return 0;
    int step = 1;
    while (!(bits >> (min + step) & 1))
        step++;
    for (int v = min; v <= max; v++)
        if ((bits >> v & 1) != ((v - min) % step == 0))
            return 0;
    return step;
}

/* "1, 5 and 10-20", with names[] for the values when given. */
static void say_list(struct words *w, uint64_t bits, int min, int max, const char *const *names)
{
    int items = 0;
    for (int v = min; v <= max; v++)
        if ((bits >> v & 1) && !(v > min && bits >> (v - 1) & 1))
            items++;
    int item = 0;
    for (int v = min; v <= max; v++) {
        if (!(bits >> v & 1) || (v > min && bits >> (v - 1) & 1))
            continue;
        int end = v;
        while (end < max && bits >> (end + 1) & 1)
            end++;
        say(w, "%s", item == 0 ? "" : item == items - 1 ? " and " : ", ");
        item++;
        if (names)
            say(w, end > v ? "%s to %s" : "%s", names[v], names[end]);
        else
            say(w, end > v ? "%d-%d" : "%d", v, end);
    }
}

int cron_describe(const char *expr, char *out, size_t size, struct err *e)
{
    struct cron c;
    int rc = cron_parse(expr, &c, e);
    if (rc)
        return rc;
    struct words w = {out, size, 0};
    out[0] = '\0';
    const uint64_t all_minutes = (1ULL << 60) - 1, all_hours = (1U << 24) - 1;
    int nmin = count_bits(c.minutes), nhour = count_bits(c.hours);
    int min_step = even_step(c.minutes, 0, 59), hour_step = even_step(c.hours, 0, 23);
    int minute = __builtin_ctzll(c.minutes);
    if (c.minutes == all_minutes) {
        say(&w, "Every minute");
    } else if (nmin == 1 && nhour <= 6) {
        say(&w, "At ");
        int item = 0;
        for (int h = 0; h < 24; h++)
            if (c.hours >> h & 1)
                say(&w, "%s%02d:%02d", item++ == 0 ? "" : item == nhour ? " and " : ", ", h, minute);
        say(&w, " UTC");
    } else if (min_step) {
        say(&w, "Every %d minutes", min_step);
    } else {
        say(&w, nmin == 1 ? "At minute " : "At minutes ");
        say_list(&w, c.minutes, 0, 59, NULL);
    }
    if (c.hours != all_hours && !(nmin == 1 && nhour <= 6)) {
        if (hour_step) { /* 2 or more: all hours were handled above */
            say(&w, ", every %d hours", hour_step);
        } else {
            say(&w, nhour == 1 ? ", during hour " : ", during hours ");
            say_list(&w, c.hours, 0, 23, NULL);
        }
        say(&w, " (UTC)");
    } else if (c.hours == all_hours && nmin == 1) {
        w.len = 0;
        say(&w, minute == 0 ? "Every hour, on the hour" : "Every hour at minute %d", minute);
    }
    const uint32_t all_mdays = ((1U << 31) - 1) << 1;
    bool mdays = !c.mday_star || c.mdays != all_mdays;
    bool wdays = !c.wday_star || c.wdays != 0x7f;
    if (mdays) {
        say(&w, count_bits(c.mdays) == 1 ? ", on day " : ", on days ");
        say_list(&w, c.mdays, 1, 31, NULL);
        say(&w, " of the month");
    }
    if (wdays) {
        say(&w, mdays ? (c.mday_star || c.wday_star ? " if it is " : " or on ") : ", on ");
        if (c.wdays == 0x3e)
            say(&w, "weekdays (Monday to Friday)");
        else
            say_list(&w, c.wdays, 0, 6, day_words);
    }
    if (!mdays && !wdays)
        say(&w, ", every day");
    if (c.months != 0x1ffe) {
        say(&w, ", in ");
        say_list(&w, c.months, 1, 12, month_words);
    }
    say(&w, ".");
    return 0;
}
