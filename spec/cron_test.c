/* cron_test.c — cron parsing and next-due computation (pure functions, UTC). */
#include <time.h>

#include "cron.h"
#include "test.h"

/* "YYYY-MM-DD HH:MM" in UTC to time_t */
static time_t utc(const char *s)
{
    struct tm tm = {0};
    if (!strptime(s, "%Y-%m-%d %H:%M", &tm))
        test_fail(__FILE__, __LINE__, "bad test time %s", s);
    return timegm(&tm);
}

static const char *fmt(time_t t, char *buf)
{
    struct tm tm;
    if (t == -1)
        return "none";
    gmtime_r(&t, &tm);
    strftime(buf, 32, "%Y-%m-%d %H:%M %a", &tm);
    return buf;
}

/* expr's next due time after `after` must be `expected` ("none" for -1) */
static void next_is(const char *expr, const char *after, const char *expected, int line)
{
    struct cron c;
    struct err e = {0};
    if (cron_parse(expr, &c, &e) != 0)
        test_fail(__FILE__, line, "'%s' did not parse: %s", expr, e.msg);
    time_t got = cron_next(&c, utc(after));
    char b1[32], b2[32];
    time_t want = strcmp(expected, "none") == 0 ? -1 : utc(expected);
    if (got != want)
        test_fail(__FILE__, line, "'%s' after %s: expected %s, saw %s", expr, after, fmt(want, b1),
                  fmt(got, b2));
}
#define NEXT(expr, after, expected) next_is(expr, after, expected, __LINE__)

static void bad(const char *expr, const char *needle, int line)
{
    struct cron c;
    struct err e = {0};
    if (cron_parse(expr, &c, &e) == 0)
        test_fail(__FILE__, line, "'%s' parsed but should not have", expr);
    if (e.code != ERR_INPUT || !strstr(e.msg, needle))
        test_fail(__FILE__, line, "'%s': expected an error naming \"%s\", saw \"%s\"", expr, needle,
                  e.msg);
}
#define BAD(expr, needle) bad(expr, needle, __LINE__)

TEST(cron_next_is_strictly_after)
{
    NEXT("* * * * *", "2024-01-01 10:00", "2024-01-01 10:01");
    NEXT("0 2 * * *", "2024-01-01 02:00", "2024-01-02 02:00");
    NEXT("0 2 * * *", "2024-01-01 01:59", "2024-01-01 02:00");
    /* seconds inside the minute: still the next whole minute */
    struct cron c;
    CHECK_INT(cron_parse("* * * * *", &c, NULL), 0);
    CHECK_INT(cron_next(&c, utc("2024-01-01 10:00") + 59), utc("2024-01-01 10:01"));
}

TEST(cron_steps_ranges_lists)
{
    NEXT("*/15 * * * *", "2024-01-01 10:01", "2024-01-01 10:15");
    NEXT("*/15 * * * *", "2024-01-01 10:45", "2024-01-01 11:00");
    NEXT("1-30/5 * * * *", "2024-01-01 10:26", "2024-01-01 11:01");
    NEXT("5/20 * * * *", "2024-01-01 10:46", "2024-01-01 11:05");
    NEXT("0 8,12,18 * * *", "2024-01-01 12:00", "2024-01-01 18:00");
    NEXT("0 9-17/4 * * *", "2024-01-01 13:00", "2024-01-01 17:00");
    NEXT("30 1 1,15 * *", "2024-01-02 00:00", "2024-01-15 01:30");
}

TEST(cron_names_and_sunday_seven)
{
    NEXT("0 0 * * MON", "2024-01-01 00:00", "2024-01-08 00:00"); /* 2024-01-01 is a Monday */
    NEXT("0 0 * * mon-fri", "2024-01-05 12:00", "2024-01-08 00:00");
    NEXT("0 0 * * 7", "2024-01-01 00:00", "2024-01-07 00:00");
    NEXT("0 0 * * 0", "2024-01-01 00:00", "2024-01-07 00:00");
    NEXT("0 0 * * 5-7", "2024-01-06 01:00", "2024-01-07 00:00");
    NEXT("0 0 1 jun *", "2024-01-01 00:00", "2024-06-01 00:00");
    NEXT("0 0 1 JAN-MAR/2 *", "2024-01-01 00:00", "2024-03-01 00:00");
}

TEST(cron_month_ends_and_leap_years)
{
    NEXT("0 0 31 * *", "2024-01-31 00:00", "2024-03-31 00:00");
    NEXT("0 0 30 * *", "2024-01-30 00:00", "2024-03-30 00:00"); /* no 30 Feb */
    NEXT("0 12 29 2 *", "2024-03-01 00:00", "2028-02-29 12:00");
    NEXT("0 12 29 2 *", "2023-06-01 00:00", "2024-02-29 12:00");
    /* 2100 is not a leap year: from 2096 the next 29 February is in 2104 */
    NEXT("0 0 29 2 *", "2096-03-01 00:00", "2104-02-29 00:00");
    NEXT("59 23 31 12 *", "2024-12-31 23:59", "2025-12-31 23:59");
    NEXT("0 0 31 2 *", "2024-01-01 00:00", "none");
    NEXT("0 0 30 2 *", "2024-01-01 00:00", "none");
}

TEST(cron_day_of_month_or_day_of_week)
{
    /* both restricted: the 13th OR a Friday, whichever comes first */
    NEXT("0 0 13 * FRI", "2024-01-01 00:00", "2024-01-05 00:00");
    NEXT("0 0 13 * FRI", "2024-01-12 00:00", "2024-01-13 00:00");
    /* day-of-week restricted only: day-of-month star does not widen it */
    NEXT("0 0 * * FRI", "2024-01-05 00:00", "2024-01-12 00:00");
    /* a star-step in day-of-month counts as a star (Vixie): both must match */
    NEXT("0 0 */2 * MON", "2024-01-01 00:00", "2024-01-15 00:00");
    NEXT("0 0 1 * 1", "2024-01-01 00:00", "2024-01-08 00:00");
}

TEST(cron_shortcuts)
{
    NEXT("@hourly", "2024-01-01 10:00", "2024-01-01 11:00");
    NEXT("@daily", "2024-01-01 10:00", "2024-01-02 00:00");
    NEXT("@midnight", "2024-01-01 10:00", "2024-01-02 00:00");
    NEXT("@weekly", "2024-01-01 10:00", "2024-01-07 00:00");
    NEXT("@monthly", "2024-01-31 10:00", "2024-02-01 00:00");
    NEXT("@yearly", "2024-01-31 10:00", "2025-01-01 00:00");
    NEXT("  @annually ", "2024-01-31 10:00", "2025-01-01 00:00");
    NEXT(" 0  2\t* * * ", "2024-01-01 02:00", "2024-01-02 02:00");
}

TEST(cron_invalid_expressions_name_the_field)
{
    BAD("", "needs 5");
    BAD("* * * *", "has 4 fields");
    BAD("* * * * * *", "more than 5 fields");
    BAD("60 * * * *", "minute value 60 is out of range 0-59");
    BAD("* 24 * * *", "hour value 24");
    BAD("* * 0 * *", "day-of-month value 0");
    BAD("* * 32 * *", "day-of-month value 32");
    BAD("* * * 13 *", "month value 13");
    BAD("* * * * 8", "day-of-week value 8");
    BAD("*/0 * * * *", "minute field has a bad step");
    BAD("*/ * * * *", "minute field has a bad step");
    BAD("* * * * MON-", "day-of-week field");
    BAD("5-1 * * * *", "runs backwards");
    BAD("1,,2 * * * *", "empty list item");
    BAD("1, * * * *", "empty list item");
    BAD("* * * FOO *", "month field has 'FOO'");
    BAD("* * * * MONDAY", "day-of-week field");
    BAD("x * * * *", "minute field");
    BAD("1-2-3 * * * *", "unexpected '-3'");
    BAD("@reboot", "unknown shortcut @reboot");
    BAD("@daily 5", "nothing may follow");
    BAD("99999999999 * * * *", "too large");
    struct cron c;
    CHECK(cron_parse(NULL, &c, NULL) != 0);
}
