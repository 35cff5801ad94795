/* selection_test.c — what a job's periods select per period type: the periods of each type that
 * overlap a window, across weeks, financial years and half years. */
#include "period.h"
#include "test.h"

static int32_t D(const char *ymd)
{
    int32_t d = 0;
    if (date_parse(ymd, &d) != 0)
        test_fail(__FILE__, __LINE__, "bad date in test: %s", ymd);
    return d;
}

/* The ISO periods of `type` overlapping [start, end], space-separated. */
static void overlapping(int line, enum period_type type, const char *start, const char *end,
                        const char *expect)
{
    struct period ps[64];
    int n = period_overlapping(type, D(start), D(end), ps, 64);
    char got[512] = "";
    for (int i = 0; i < n && i < 64; i++) {
        char iso[PERIOD_ISO_MAX];
        period_format(&ps[i], iso, sizeof iso);
        snprintf(got + strlen(got), sizeof got - strlen(got), "%s%s", i ? " " : "", iso);
    }
    if (strcmp(got, expect) != 0)
        test_fail(__FILE__, line, "%s %s..%s: expected \"%s\", saw \"%s\"", period_type_name(type), start,
                  end, expect, got);
}
#define OVERLAP(type, start, end, expect) overlapping(__LINE__, type, start, end, expect)

TEST_TIMEOUT(selection_takes_every_period_of_a_type_that_overlaps_the_window, 10)
{
    /* last 12 months as of 2026-12-03 */
    OVERLAP(PERIOD_QUARTERLY, "2025-12-01", "2026-11-30", "2025Q4 2026Q1 2026Q2 2026Q3 2026Q4");
    OVERLAP(PERIOD_YEARLY, "2025-12-01", "2026-11-30", "2025 2026");
    OVERLAP(PERIOD_FINANCIAL_APRIL, "2025-12-01", "2026-11-30", "2025April 2026April");
    OVERLAP(PERIOD_FINANCIAL_NOV, "2025-12-01", "2026-11-30", "2026Nov 2027Nov");
    OVERLAP(PERIOD_SIX_MONTHLY_APRIL, "2025-12-01", "2026-11-30", "2025AprilS2 2026AprilS1 2026AprilS2");
    OVERLAP(PERIOD_SIX_MONTHLY, "2025-12-01", "2026-11-30", "2025S2 2026S1 2026S2");
    OVERLAP(PERIOD_MONTHLY, "2026-01-01", "2026-03-31", "202601 202602 202603");
    /* a window of two weeks read by the other weekly types: each overlapping week, across the
     * turn of the year (2026W53 exists: 2026 starts on a Thursday) */
    OVERLAP(PERIOD_WEEKLY, "2026-12-28", "2027-01-10", "2026W53 2027W1");
    OVERLAP(PERIOD_WEEKLY_WEDNESDAY, "2026-12-28", "2027-01-10", "2026WedW52 2027WedW1 2027WedW2");
    OVERLAP(PERIOD_WEEKLY_SUNDAY, "2026-12-28", "2027-01-10", "2026SunW52 2027SunW1 2027SunW2");
    OVERLAP(PERIOD_BI_WEEKLY, "2026-12-28", "2027-01-10", "2026BiW27 2027BiW1");
    OVERLAP(PERIOD_DAILY, "2026-02-27", "2026-03-01", "20260227 20260228 20260301");
    /* a monthly window read as weeks: the weeks at both ends stick out of it */
    OVERLAP(PERIOD_WEEKLY, "2026-02-01", "2026-02-28", "2026W5 2026W6 2026W7 2026W8 2026W9");

    struct period ps[2];
    CHECK_INT(period_overlapping(PERIOD_MONTHLY, D("2026-01-01"), D("2026-12-31"), ps, 2), 12);
    CHECK_INT(period_overlapping(PERIOD_MONTHLY, D("2026-02-01"), D("2026-01-01"), ps, 2), -1);
    CHECK_INT(period_overlapping(PERIOD_INVALID, D("2026-01-01"), D("2026-01-02"), ps, 2), -1);
}
