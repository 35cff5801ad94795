/* period_test.c — unit tests of host/period.c: every DHIS2 ISO form, the ISO week edge cases,
 * relative windows and invalid strings. */
#include "period.h"
#include "test.h"

static int32_t D(const char *ymd)
{
    int32_t d = 0;
    if (date_parse(ymd, &d) != 0)
        test_fail(__FILE__, __LINE__, "bad date in test: %s", ymd);
    return d;
}

/* Parses iso, checks type and [start, end], and that formatting gives `canonical` back. */
static void check_period(int line, const char *iso, enum period_type type, const char *start,
                         const char *end, const char *canonical)
{
    struct period p;
    if (period_parse(iso, &p) != 0)
        test_fail(__FILE__, line, "%s: expected it to parse", iso);
    char s[11], e[11], buf[PERIOD_ISO_MAX];
    date_format(p.start, s);
    date_format(p.end, e);
    if (p.type != type)
        test_fail(__FILE__, line, "%s: expected type %s, saw %s", iso, period_type_name(type),
                  period_type_name(p.type));
    if (strcmp(s, start) != 0 || strcmp(e, end) != 0)
        test_fail(__FILE__, line, "%s: expected %s..%s, saw %s..%s", iso, start, end, s, e);
    if (period_format(&p, buf, sizeof buf) < 0 || strcmp(buf, canonical) != 0)
        test_fail(__FILE__, line, "%s: expected to format as %s, saw %s", iso, canonical, buf);
}
#define PERIOD(iso, type, start, end, canon) check_period(__LINE__, iso, type, start, end, canon)

TEST_TIMEOUT(period_parses_every_form, 10)
{
    PERIOD("20240131", PERIOD_DAILY, "2024-01-31", "2024-01-31", "20240131");
    PERIOD("2024-01-31", PERIOD_DAILY, "2024-01-31", "2024-01-31", "20240131");
    PERIOD("20240229", PERIOD_DAILY, "2024-02-29", "2024-02-29", "20240229");
    PERIOD("2024W5", PERIOD_WEEKLY, "2024-01-29", "2024-02-04", "2024W5");
    PERIOD("2024W05", PERIOD_WEEKLY, "2024-01-29", "2024-02-04", "2024W5");
    PERIOD("2024WedW5", PERIOD_WEEKLY_WEDNESDAY, "2024-01-31", "2024-02-06", "2024WedW5");
    PERIOD("2024ThuW5", PERIOD_WEEKLY_THURSDAY, "2024-02-01", "2024-02-07", "2024ThuW5");
    PERIOD("2024SatW5", PERIOD_WEEKLY_SATURDAY, "2024-01-27", "2024-02-02", "2024SatW5");
    PERIOD("2024SunW5", PERIOD_WEEKLY_SUNDAY, "2024-01-28", "2024-02-03", "2024SunW5");
    PERIOD("2024BiW3", PERIOD_BI_WEEKLY, "2024-01-29", "2024-02-11", "2024BiW3");
    PERIOD("202401", PERIOD_MONTHLY, "2024-01-01", "2024-01-31", "202401");
    PERIOD("2024-02", PERIOD_MONTHLY, "2024-02-01", "2024-02-29", "202402");
    PERIOD("202401B", PERIOD_BI_MONTHLY, "2024-01-01", "2024-02-29", "202401B");
    PERIOD("202402B", PERIOD_BI_MONTHLY, "2024-03-01", "2024-04-30", "202402B");
    PERIOD("202406B", PERIOD_BI_MONTHLY, "2024-11-01", "2024-12-31", "202406B");
    PERIOD("2024Q1", PERIOD_QUARTERLY, "2024-01-01", "2024-03-31", "2024Q1");
    PERIOD("2024Q4", PERIOD_QUARTERLY, "2024-10-01", "2024-12-31", "2024Q4");
    PERIOD("2024NovQ1", PERIOD_QUARTERLY_NOV, "2023-11-01", "2024-01-31", "2024NovQ1");
    PERIOD("2024NovQ4", PERIOD_QUARTERLY_NOV, "2024-08-01", "2024-10-31", "2024NovQ4");
    PERIOD("2024S1", PERIOD_SIX_MONTHLY, "2024-01-01", "2024-06-30", "2024S1");
    PERIOD("2024S2", PERIOD_SIX_MONTHLY, "2024-07-01", "2024-12-31", "2024S2");
    PERIOD("2024AprilS1", PERIOD_SIX_MONTHLY_APRIL, "2024-04-01", "2024-09-30", "2024AprilS1");
    PERIOD("2024AprilS2", PERIOD_SIX_MONTHLY_APRIL, "2024-10-01", "2025-03-31", "2024AprilS2");
    PERIOD("2024NovS1", PERIOD_SIX_MONTHLY_NOV, "2023-11-01", "2024-04-30", "2024NovS1");
    PERIOD("2024NovS2", PERIOD_SIX_MONTHLY_NOV, "2024-05-01", "2024-10-31", "2024NovS2");
    PERIOD("2024", PERIOD_YEARLY, "2024-01-01", "2024-12-31", "2024");
    PERIOD("2024April", PERIOD_FINANCIAL_APRIL, "2024-04-01", "2025-03-31", "2024April");
    PERIOD("2024July", PERIOD_FINANCIAL_JULY, "2024-07-01", "2025-06-30", "2024July");
    PERIOD("2024Oct", PERIOD_FINANCIAL_OCT, "2024-10-01", "2025-09-30", "2024Oct");
    PERIOD("2024Nov", PERIOD_FINANCIAL_NOV, "2023-11-01", "2024-10-31", "2024Nov");
    PERIOD("2024Sep", PERIOD_FINANCIAL_SEP, "2024-09-01", "2025-08-31", "2024Sep");
}

TEST_TIMEOUT(period_iso_week_edges, 10)
{
    /* 2020 has 53 ISO weeks; its week 53 ends in 2021. 2021 has 52. */
    PERIOD("2020W53", PERIOD_WEEKLY, "2020-12-28", "2021-01-03", "2020W53");
    struct period p;
    CHECK(period_parse("2021W53", &p) != 0);
    PERIOD("2015W53", PERIOD_WEEKLY, "2015-12-28", "2016-01-03", "2015W53");
    /* Week 1 may start in the previous year. */
    PERIOD("2026W1", PERIOD_WEEKLY, "2025-12-29", "2026-01-04", "2026W1");
    PERIOD("2020W1", PERIOD_WEEKLY, "2019-12-30", "2020-01-05", "2020W1");
    PERIOD("2021W1", PERIOD_WEEKLY, "2021-01-04", "2021-01-10", "2021W1");
    /* Jan 1st-3rd 2021 belong to 2020W53. */
    CHECK_INT(period_containing(PERIOD_WEEKLY, D("2021-01-02"), &p), 0);
    char buf[PERIOD_ISO_MAX];
    period_format(&p, buf, sizeof buf);
    CHECK_STR(buf, "2020W53");
    /* Dec 30th 2025 is in 2026W1. */
    period_containing(PERIOD_WEEKLY, D("2025-12-30"), &p);
    period_format(&p, buf, sizeof buf);
    CHECK_STR(buf, "2026W1");
    /* Sunday weeks: 2024 starts on a Monday; the Sunday week holding Jan 4th starts Dec 31st. */
    PERIOD("2024SunW1", PERIOD_WEEKLY_SUNDAY, "2023-12-31", "2024-01-06", "2024SunW1");
    period_containing(PERIOD_WEEKLY_WEDNESDAY, D("2024-01-02"), &p);
    period_format(&p, buf, sizeof buf);
    CHECK_STR(buf, "2023WedW52");
    /* A 53-week year has 27 bi-weeks, a 52-week one 26. */
    PERIOD("2020BiW27", PERIOD_BI_WEEKLY, "2020-12-28", "2021-01-10", "2020BiW27");
    CHECK(period_parse("2021BiW27", &p) != 0);
}

TEST_TIMEOUT(period_rejects_invalid_strings, 10)
{
    static const char *bad[] = {
        "202413", "202400", "2024Q5", "2024Q0", "2024W0", "2024W54", "2024S3", "2024NovS3",
        "202407B", "202400B", "20240230", "2024-02-30", "2024-13", "2024BiW0", "2024Apr",
        "2024AprilS0", "2024Nov1", "2024Q", "24", "abcd", "", "2024W", "2024Q1x", "2024-1-1",
        "2024WedW0", "0000", "2024Q11",
    };
    struct period p;
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
        CHECKF(period_parse(bad[i], &p) != 0, "expected \"%s\" to be invalid", bad[i]);
    CHECK(period_parse(NULL, &p) != 0);
}

TEST_TIMEOUT(period_type_names_any_case, 10)
{
    CHECK_INT(period_type_from_name("Monthly"), PERIOD_MONTHLY);
    CHECK_INT(period_type_from_name("monthly"), PERIOD_MONTHLY);
    CHECK_INT(period_type_from_name("MONTHLY"), PERIOD_MONTHLY);
    CHECK_INT(period_type_from_name("FinancialApril"), PERIOD_FINANCIAL_APRIL);
    CHECK_INT(period_type_from_name("weeklywednesday"), PERIOD_WEEKLY_WEDNESDAY);
    CHECK_INT(period_type_from_name("BiMonthly"), PERIOD_BI_MONTHLY);
    CHECK_INT(period_type_from_name("SixMonthlyNov"), PERIOD_SIX_MONTHLY_NOV);
    CHECK_INT(period_type_from_name("Fortnightly"), PERIOD_INVALID);
    CHECK_INT(period_type_from_name(NULL), PERIOD_INVALID);
    for (int t = 0; t < PERIOD_TYPE_COUNT; t++)
        CHECK_INT(period_type_from_name(period_type_name((enum period_type)t)), t);
}

static const char *fmt(const struct period *p)
{
    static char buf[4][PERIOD_ISO_MAX];
    static int i;
    char *b = buf[i++ % 4];
    if (period_format(p, b, PERIOD_ISO_MAX) < 0)
        return "(invalid)";
    return b;
}

TEST_TIMEOUT(period_containing_next_prev, 10)
{
    struct period p, q;
    int32_t day = D("2024-05-17");
    struct {
        enum period_type t;
        const char *expect, *next, *prev;
    } cases[] = {
        {PERIOD_DAILY, "20240517", "20240518", "20240516"},
        {PERIOD_WEEKLY, "2024W20", "2024W21", "2024W19"},
        {PERIOD_BI_WEEKLY, "2024BiW10", "2024BiW11", "2024BiW9"},
        {PERIOD_MONTHLY, "202405", "202406", "202404"},
        {PERIOD_BI_MONTHLY, "202403B", "202404B", "202402B"},
        {PERIOD_QUARTERLY, "2024Q2", "2024Q3", "2024Q1"},
        {PERIOD_QUARTERLY_NOV, "2024NovQ3", "2024NovQ4", "2024NovQ2"},
        {PERIOD_SIX_MONTHLY, "2024S1", "2024S2", "2023S2"},
        {PERIOD_SIX_MONTHLY_APRIL, "2024AprilS1", "2024AprilS2", "2023AprilS2"},
        {PERIOD_SIX_MONTHLY_NOV, "2024NovS2", "2025NovS1", "2024NovS1"},
        {PERIOD_YEARLY, "2024", "2025", "2023"},
        {PERIOD_FINANCIAL_APRIL, "2024April", "2025April", "2023April"},
        {PERIOD_FINANCIAL_JULY, "2023July", "2024July", "2022July"},
        {PERIOD_FINANCIAL_OCT, "2023Oct", "2024Oct", "2022Oct"},
        {PERIOD_FINANCIAL_NOV, "2024Nov", "2025Nov", "2023Nov"},
        {PERIOD_FINANCIAL_SEP, "2023Sep", "2024Sep", "2022Sep"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        CHECK_INT(period_containing(cases[i].t, day, &p), 0);
        CHECK_STR(fmt(&p), cases[i].expect);
        CHECK(p.start <= day && day <= p.end);
        CHECK_INT(period_next(&p, &q), 0);
        CHECK_STR(fmt(&q), cases[i].next);
        CHECK_INT(q.start, p.end + 1);
        CHECK_INT(period_prev(&p, &q), 0);
        CHECK_STR(fmt(&q), cases[i].prev);
        CHECK_INT(q.end, p.start - 1);
    }
    /* Across a 53-week year's end. */
    period_parse("2020W52", &p);
    period_next(&p, &q);
    CHECK_STR(fmt(&q), "2020W53");
    period_next(&q, &q);
    CHECK_STR(fmt(&q), "2021W1");
    period_prev(&q, &q);
    CHECK_STR(fmt(&q), "2020W53");
    CHECK_INT(period_containing(PERIOD_INVALID, day, &p), -1);
}

TEST_TIMEOUT(period_last_n_excludes_current, 10)
{
    struct period out[12];
    CHECK_INT(period_last_n(PERIOD_MONTHLY, D("2024-03-15"), 12, out), 0);
    CHECK_STR(fmt(&out[0]), "202303");
    CHECK_STR(fmt(&out[11]), "202402");
    CHECK_INT(period_last_n(PERIOD_QUARTERLY, D("2024-01-01"), 4, out), 0);
    CHECK_STR(fmt(&out[0]), "2023Q1");
    CHECK_STR(fmt(&out[3]), "2023Q4");
    CHECK_INT(period_last_n(PERIOD_WEEKLY, D("2021-01-06"), 2, out), 0);
    CHECK_STR(fmt(&out[0]), "2020W52");
    CHECK_STR(fmt(&out[1]), "2020W53");
    CHECK_INT(period_last_n(PERIOD_FINANCIAL_NOV, D("2024-11-02"), 1, out), 0);
    CHECK_STR(fmt(&out[0]), "2024Nov");
    CHECK_INT(period_last_n(PERIOD_MONTHLY, D("2024-03-15"), 0, out), 0);
    CHECK_INT(period_last_n(PERIOD_INVALID, D("2024-03-15"), 1, out), -1);
}

TEST_TIMEOUT(period_within_range, 10)
{
    struct period p;
    period_parse("202402", &p);
    CHECK(period_within(&p, D("2024-02-01"), D("2024-02-29")));
    CHECK(period_within(&p, D("2024-01-01"), D("2024-12-31")));
    CHECK(!period_within(&p, D("2024-02-02"), D("2024-12-31")));
    CHECK(!period_within(&p, D("2024-01-01"), D("2024-02-28")));
    period_parse("2024", &p);
    CHECK(!period_within(&p, D("2024-01-01"), D("2024-06-30")));
}

TEST_TIMEOUT(period_dates, 10)
{
    CHECK_INT(days_from_civil(1970, 1, 1), 0);
    CHECK_INT(D("2000-03-01") - D("2000-02-28"), 2);
    CHECK_INT(D("1900-03-01") - D("1900-02-28"), 1);
    CHECK_INT(day_of_week(D("2024-01-01")), 0);
    CHECK_INT(day_of_week(D("1969-12-28")), 6);
    char buf[11];
    date_format(D("1969-12-31"), buf);
    CHECK_STR(buf, "1969-12-31");
    int32_t d;
    CHECK(date_parse("2024-02-30", &d) != 0);
    CHECK(date_parse("2024-02-03T10:11:12.000", &d) == 0);
    CHECK(date_today() > D("2024-01-01"));
}
