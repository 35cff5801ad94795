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

/* The due times after `after`, in order, must be the `n` expected ones. */
static void seq(const char *expr, const char *after, int n, const char *const *expected, int line)
{
    struct cron c;
    struct err e = {0};
    if (cron_parse(expr, &c, &e) != 0)
        test_fail(__FILE__, line, "'%s' did not parse: %s", expr, e.msg);
    time_t t = utc(after);
    for (int i = 0; i < n; i++) {
        time_t got = cron_next(&c, t);
        time_t want = strcmp(expected[i], "none") == 0 ? -1 : utc(expected[i]);
        char b1[32], b2[32];
        if (got != want)
            test_fail(__FILE__, line, "'%s': due time %d after %s: expected %s, saw %s", expr, i + 1,
                      after, fmt(want, b1), fmt(got, b2));
        t = got;
    }
}
#define SEQ(expr, after, ...)                                                                  \
    do {                                                                                       \
        const char *const want_[] = {__VA_ARGS__};                                             \
        seq(expr, after, (int)(sizeof want_ / sizeof want_[0]), want_, __LINE__);              \
    } while (0)

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

/* Edge cases of lists, names, the day rule and leap years, due time after due time. */
TEST(cron_lists_of_ranges_and_steps)
{
    SEQ("0,15-20/2,45 * * * *", "2024-01-01 10:00", "2024-01-01 10:15", "2024-01-01 10:17",
        "2024-01-01 10:19", "2024-01-01 10:45", "2024-01-01 11:00");
    /* a step larger than its range leaves the range's start */
    SEQ("0-10/20 * * * *", "2024-01-01 10:00", "2024-01-01 11:00", "2024-01-01 12:00");
    SEQ("50/20 * * * *", "2024-01-01 10:00", "2024-01-01 10:50", "2024-01-01 11:50");
    /* steps count from the range's start, not from zero */
    SEQ("3-59/15 * * * *", "2024-01-01 10:00", "2024-01-01 10:03", "2024-01-01 10:18",
        "2024-01-01 10:33", "2024-01-01 10:48", "2024-01-01 11:03");
    SEQ("0 */6 * * *", "2024-01-01 00:00", "2024-01-01 06:00", "2024-01-01 12:00", "2024-01-01 18:00",
        "2024-01-02 00:00");
    SEQ("30 22-23,0-1 * * *", "2024-01-01 02:00", "2024-01-01 22:30", "2024-01-01 23:30",
        "2024-01-02 00:30", "2024-01-02 01:30", "2024-01-02 22:30");
    /* duplicates in a list are one slot */
    SEQ("5,5,1-5 * * * *", "2024-01-01 10:04", "2024-01-01 10:05", "2024-01-01 11:01");
    /* the last minute of the hour and of the day */
    SEQ("59 23 * * *", "2024-02-28 23:59", "2024-02-29 23:59", "2024-03-01 23:59");
}

TEST(cron_names_in_ranges_and_steps)
{
    SEQ("0 0 1 JAN-DEC/3 *", "2024-01-01 00:00", "2024-04-01 00:00", "2024-07-01 00:00",
        "2024-10-01 00:00", "2025-01-01 00:00");
    SEQ("0 0 1 feb,Aug *", "2024-03-01 00:00", "2024-08-01 00:00", "2025-02-01 00:00");
    /* 2024-01-01 is a Monday: Monday, Wednesday, Friday */
    SEQ("0 9 * * 1-5/2", "2024-01-01 09:00", "2024-01-03 09:00", "2024-01-05 09:00", "2024-01-08 09:00");
    SEQ("0 9 * * sat,SUN", "2024-01-01 00:00", "2024-01-06 09:00", "2024-01-07 09:00", "2024-01-13 09:00");
    /* 7 and 0 are both Sunday, also inside lists */
    SEQ("0 0 * * 0,7", "2024-01-01 00:00", "2024-01-07 00:00", "2024-01-14 00:00");
    SEQ("0 0 * * FRI-7", "2024-01-01 00:00", "2024-01-05 00:00", "2024-01-06 00:00", "2024-01-07 00:00",
        "2024-01-12 00:00");
    /* SUN is 0, so FRI-SUN runs backwards, as in Vixie cron: refused with a hint */
    struct cron c;
    struct err e = {0};
    CHECK(cron_parse("0 0 * * FRI-SUN", &c, &e) != 0);
    CHECK_CONTAINS(e.msg, "runs backwards; split it");
}

TEST(cron_day_of_month_or_day_of_week_rule)
{
    /* both restricted: the 1st, the 15th, or any Monday */
    SEQ("0 0 1,15 * MON", "2024-01-01 00:00", "2024-01-08 00:00", "2024-01-15 00:00", "2024-01-22 00:00",
        "2024-01-29 00:00", "2024-02-01 00:00", "2024-02-05 00:00");
    /* a month restriction still applies to both: February's 29th or its Mondays */
    SEQ("0 0 29 2 MON", "2025-01-01 00:00", "2025-02-03 00:00", "2025-02-10 00:00", "2025-02-17 00:00",
        "2025-02-24 00:00", "2026-02-02 00:00");
    /* a star-step in day-of-week counts as a star: both must match (1st that is a Sun/Tue/Thu/Sat) */
    SEQ("0 0 1 * */2", "2024-01-01 00:00", "2024-02-01 00:00", "2024-06-01 00:00", "2024-08-01 00:00");
    /* day-of-month restricted, day-of-week a plain star: only the day of month */
    SEQ("0 0 13 * *", "2024-01-01 00:00", "2024-01-13 00:00", "2024-02-13 00:00");
    /* Friday the 13th is not expressible: it is the 13th OR a Friday */
    SEQ("0 0 13 * 5", "2024-09-01 00:00", "2024-09-06 00:00", "2024-09-13 00:00", "2024-09-20 00:00");
}

TEST(cron_leap_years_and_year_ends)
{
    /* 2000 is a leap year (divisible by 400); 1900 and 2100 are not */
    SEQ("0 0 29 2 *", "1999-03-01 00:00", "2000-02-29 00:00", "2004-02-29 00:00");
    SEQ("0 0 29 2 *", "1897-01-01 00:00", "1904-02-29 00:00");
    SEQ("0 0 29 2 *", "2097-01-01 00:00", "2104-02-29 00:00");
    /* the last day of February, whatever the year */
    SEQ("0 0 28,29 2 *", "2023-02-01 00:00", "2023-02-28 00:00", "2024-02-28 00:00", "2024-02-29 00:00",
        "2025-02-28 00:00");
    /* the year's end and the year's start */
    SEQ("0 0 1 1 *", "2024-12-31 23:59", "2025-01-01 00:00", "2026-01-01 00:00");
    SEQ("* * * * *", "2024-12-31 23:59", "2025-01-01 00:00");
    SEQ("0 0 31 12 *", "2024-12-31 00:00", "2025-12-31 00:00");
    /* days that no month in the list has */
    SEQ("0 0 31 4,6,9,11 *", "2024-01-01 00:00", "none");
    SEQ("0 0 31 2,4 *", "2024-01-01 00:00", "none");
    /* but a list where one month has the day */
    SEQ("0 0 31 2,4,5 *", "2024-01-01 00:00", "2024-05-31 00:00", "2025-05-31 00:00");
    /* 366 days of 2024 */
    struct cron c;
    CHECK_INT(cron_parse("0 0 * * *", &c, NULL), 0);
    int days = 0;
    for (time_t t = cron_next(&c, utc("2023-12-31 23:00")); t < utc("2025-01-01 00:00"); t = cron_next(&c, t))
        days++;
    CHECK_INT(days, 366);
}

TEST(cron_more_invalid_expressions)
{
    BAD("1-60 * * * *", "minute value 60");
    BAD("*/60 * * * *", "minute field has a bad step");
    BAD("MON * * * *", "minute field");
    BAD("0 0 * JAN-FOO *", "month field");
    BAD("0 0 * * SUN-MON/x", "day-of-week field has a bad step");
    BAD("0 0 * * 3-1", "runs backwards");
    BAD("0 0 * * 1,", "empty list item");
    BAD("0 0 * * -1", "day-of-week field");
    BAD("0 0 * *", "has 4 fields");
    BAD("@every", "unknown shortcut @every");
    BAD("@every 5m", "nothing may follow @every");
}
