#include "period.h"

#include <stdio.h>
#include <string.h>
#include <strings.h>
#include <time.h>

/* Howard Hinnant's civil-date algorithms: exact for the proleptic Gregorian calendar. */
int32_t days_from_civil(int y, int m, int d)
{
    y -= m <= 2;
    const int era = (y >= 0 ? y : y - 399) / 400;
    const unsigned yoe = (unsigned)(y - era * 400);
    const unsigned doy = (153u * (unsigned)(m + (m > 2 ? -3 : 9)) + 2) / 5 + (unsigned)d - 1;
    const unsigned doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    return era * 146097 + (int32_t)doe - 719468;
}

void civil_from_days(int32_t z, int *y, int *m, int *d)
{
    z += 719468;
    const int era = (z >= 0 ? z : z - 146096) / 146097;
    const unsigned doe = (unsigned)(z - era * 146097);
    const unsigned yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
    const unsigned doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    const unsigned mp = (5 * doy + 2) / 153;
    *d = (int)(doy - (153 * mp + 2) / 5 + 1);
    *m = (int)(mp < 10 ? mp + 3 : mp - 9);
    *y = (int)yoe + era * 400 + (*m <= 2);
}

static int days_in_month(int y, int m)
{
    static const int dim[] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
    if (m == 2 && ((y % 4 == 0 && y % 100 != 0) || y % 400 == 0))
        return 29;
    return dim[m - 1];
}

bool date_valid(int y, int m, int d)
{
    return y >= 1 && y <= 9999 && m >= 1 && m <= 12 && d >= 1 && d <= days_in_month(y, m);
}

int day_of_week(int32_t days)
{
    /* 1970-01-01 was a Thursday (3 when Monday is 0). */
    int r = (int)((days + 3) % 7);
    return r < 0 ? r + 7 : r;
}

/* Reads exactly n decimal digits; -1 if any is not a digit. */
static int digits(const char *s, int n)
{
    int v = 0;
    for (int i = 0; i < n; i++) {
        if (s[i] < '0' || s[i] > '9')
            return -1;
        v = v * 10 + (s[i] - '0');
    }
    return v;
}

int date_parse(const char *s, int32_t *days)
{
    if (!s || strlen(s) < 10 || s[4] != '-' || s[7] != '-')
        return -1;
    int y = digits(s, 4), m = digits(s + 5, 2), d = digits(s + 8, 2);
    if (y < 0 || m < 0 || d < 0 || !date_valid(y, m, d))
        return -1;
    *days = days_from_civil(y, m, d);
    return 0;
}

void date_format(int32_t days, char *buf)
{
    int y, m, d;
    civil_from_days(days, &y, &m, &d);
    snprintf(buf, 11, "%04d-%02d-%02d", y, m, d);
}

int32_t date_today(void)
{
    time_t now = time(NULL);
    return (int32_t)(now / 86400);
}

/* What distinguishes the types. Month-based types are described by their length in months, the
 * month (0-11) one of their periods starts in, and how the label year relates to the start:
 * "Nov" types are labelled by the year they end in (2024NovQ1 starts in Nov 2023), the others
 * by the year they start in. Week-based types by their first weekday (0 = Monday). */
struct type_info {
    const char *name;
    int months;       /* 0 = day or week based */
    int anchor;       /* month a period starts in */
    int label_shift;  /* months added to the start month to reach the label's month */
    const char *tag;  /* the letters in the ISO form, e.g. "NovQ", "AprilS", "WedW" */
    int week_start;   /* weekly types: 0 Monday .. 6 Sunday */
};

static const struct type_info types[PERIOD_TYPE_COUNT] = {
    [PERIOD_DAILY] = {"Daily", 0, 0, 0, "", 0},
    [PERIOD_WEEKLY] = {"Weekly", 0, 0, 0, "W", 0},
    [PERIOD_WEEKLY_WEDNESDAY] = {"WeeklyWednesday", 0, 0, 0, "WedW", 2},
    [PERIOD_WEEKLY_THURSDAY] = {"WeeklyThursday", 0, 0, 0, "ThuW", 3},
    [PERIOD_WEEKLY_SATURDAY] = {"WeeklySaturday", 0, 0, 0, "SatW", 5},
    [PERIOD_WEEKLY_SUNDAY] = {"WeeklySunday", 0, 0, 0, "SunW", 6},
    [PERIOD_BI_WEEKLY] = {"BiWeekly", 0, 0, 0, "BiW", 0},
    [PERIOD_MONTHLY] = {"Monthly", 1, 0, 0, "", 0},
    [PERIOD_BI_MONTHLY] = {"BiMonthly", 2, 0, 0, "B", 0},
    [PERIOD_QUARTERLY] = {"Quarterly", 3, 0, 0, "Q", 0},
    [PERIOD_QUARTERLY_NOV] = {"QuarterlyNov", 3, 10, 2, "NovQ", 0},
    [PERIOD_SIX_MONTHLY] = {"SixMonthly", 6, 0, 0, "S", 0},
    [PERIOD_SIX_MONTHLY_APRIL] = {"SixMonthlyApril", 6, 3, -3, "AprilS", 0},
    [PERIOD_SIX_MONTHLY_NOV] = {"SixMonthlyNov", 6, 10, 2, "NovS", 0},
    [PERIOD_YEARLY] = {"Yearly", 12, 0, 0, "", 0},
    [PERIOD_FINANCIAL_APRIL] = {"FinancialApril", 12, 3, -3, "April", 0},
    [PERIOD_FINANCIAL_JULY] = {"FinancialJuly", 12, 6, -6, "July", 0},
    [PERIOD_FINANCIAL_OCT] = {"FinancialOct", 12, 9, -9, "Oct", 0},
    [PERIOD_FINANCIAL_NOV] = {"FinancialNov", 12, 10, 2, "Nov", 0},
    [PERIOD_FINANCIAL_SEP] = {"FinancialSep", 12, 8, -8, "Sep", 0},
};

static bool type_ok(enum period_type t) { return t >= 0 && t < PERIOD_TYPE_COUNT; }

static bool is_weekly(enum period_type t)
{
    return t >= PERIOD_WEEKLY && t <= PERIOD_WEEKLY_SUNDAY;
}

enum period_type period_type_from_name(const char *name)
{
    if (!name)
        return PERIOD_INVALID;
    for (int t = 0; t < PERIOD_TYPE_COUNT; t++)
        if (strcasecmp(name, types[t].name) == 0)
            return (enum period_type)t;
    return PERIOD_INVALID;
}

const char *period_type_name(enum period_type type)
{
    return type_ok(type) ? types[type].name : NULL;
}

/* Month arithmetic on an absolute month number: year * 12 + (month - 1). */
static int abs_month_of_day(int32_t day)
{
    int y, m, d;
    civil_from_days(day, &y, &m, &d);
    return y * 12 + m - 1;
}

static int32_t first_day_of_abs_month(int am)
{
    int y = am >= 0 ? am / 12 : (am - 11) / 12;
    return days_from_civil(y, am - y * 12 + 1, 1);
}

static void month_period(enum period_type t, int start_am, struct period *out)
{
    out->type = t;
    out->start = first_day_of_abs_month(start_am);
    out->end = first_day_of_abs_month(start_am + types[t].months) - 1;
}

/* First day of week 1 of `year` for weeks starting on week_start: the week holding Jan 4th,
 * i.e. the first week with at least four of its days in the year (ISO 8601, generalised to the
 * other start days the way DHIS2 does). */
static int32_t week1_start(int year, int week_start)
{
    int32_t jan4 = days_from_civil(year, 1, 4);
    return jan4 - ((day_of_week(jan4) - week_start + 7) % 7);
}

/* The label year of the week starting on `start`: the year holding most of its days. */
static int week_year(int32_t start)
{
    int y, m, d;
    civil_from_days(start + 3, &y, &m, &d);
    return y;
}

static int weeks_in_year(int year, int week_start)
{
    return (int)((week1_start(year + 1, week_start) - week1_start(year, week_start)) / 7);
}

static int bi_weeks_in_year(int year)
{
    return (weeks_in_year(year, 0) + 1) / 2;
}

/* Reads a decimal number of 1-2 digits that fills the rest of s. */
static int small_number(const char *s)
{
    size_t n = strlen(s);
    if (n < 1 || n > 2)
        return -1;
    return digits(s, (int)n);
}

static int parse_daily(int y, int m, int d, struct period *out)
{
    if (!date_valid(y, m, d))
        return -1;
    out->type = PERIOD_DAILY;
    out->start = out->end = days_from_civil(y, m, d);
    return 0;
}

int period_parse(const char *iso, struct period *out)
{
    if (!iso)
        return -1;
    size_t len = strlen(iso);
    if (len < 4)
        return -1;
    int year = digits(iso, 4);
    if (year < 1)
        return -1;
    const char *rest = iso + 4;
    if (len == 4) {
        month_period(PERIOD_YEARLY, year * 12, out);
        return 0;
    }
    if (len == 8 && digits(rest, 4) >= 0)
        return parse_daily(year, digits(rest, 2), digits(rest + 2, 2), out);
    if (len == 10 && rest[0] == '-' && rest[3] == '-' && digits(rest + 1, 2) >= 0 &&
        digits(rest + 4, 2) >= 0)
        return parse_daily(year, digits(rest + 1, 2), digits(rest + 4, 2), out);
    const char *mm = rest[0] == '-' ? rest + 1 : rest;
    if (digits(mm, 2) >= 0 && (len == 6 || (len == 7 && (rest[0] == '-' || rest[2] == 'B')))) {
        int n = digits(mm, 2);
        if (len == 7 && rest[2] == 'B') {
            if (n < 1 || n > 6)
                return -1;
            month_period(PERIOD_BI_MONTHLY, year * 12 + (n - 1) * 2, out);
            return 0;
        }
        if (n < 1 || n > 12)
            return -1;
        month_period(PERIOD_MONTHLY, year * 12 + n - 1, out);
        return 0;
    }
    /* Every other form is year + tag + optional number; try the tags longest first so that
     * "NovQ" is not read as "Nov" followed by junk. */
    static const enum period_type tagged[] = {
        PERIOD_SIX_MONTHLY_APRIL, PERIOD_QUARTERLY_NOV,   PERIOD_SIX_MONTHLY_NOV,
        PERIOD_WEEKLY_WEDNESDAY,  PERIOD_WEEKLY_THURSDAY, PERIOD_WEEKLY_SATURDAY,
        PERIOD_WEEKLY_SUNDAY,     PERIOD_BI_WEEKLY,       PERIOD_FINANCIAL_APRIL,
        PERIOD_FINANCIAL_JULY,    PERIOD_FINANCIAL_OCT,   PERIOD_FINANCIAL_NOV,
        PERIOD_FINANCIAL_SEP,     PERIOD_QUARTERLY,       PERIOD_SIX_MONTHLY,
        PERIOD_WEEKLY,
    };
    for (size_t i = 0; i < sizeof tagged / sizeof tagged[0]; i++) {
        enum period_type t = tagged[i];
        const struct type_info *ti = &types[t];
        size_t tl = strlen(ti->tag);
        if (strncmp(rest, ti->tag, tl) != 0)
            continue;
        const char *num = rest + tl;
        if (ti->months == 12) { /* financial years: nothing may follow the tag */
            if (*num)
                continue;
            month_period(t, year * 12 - ti->label_shift, out);
            return 0;
        }
        int n = small_number(num);
        if (n < 1)
            return -1;
        if (ti->months) {
            if (n > 12 / ti->months)
                return -1;
            month_period(t, year * 12 + (n - 1) * ti->months - ti->label_shift, out);
            return 0;
        }
        if (t == PERIOD_BI_WEEKLY) {
            if (n > bi_weeks_in_year(year))
                return -1;
            out->type = t;
            out->start = week1_start(year, 0) + (n - 1) * 14;
            out->end = out->start + 13;
            return 0;
        }
        if (n > weeks_in_year(year, ti->week_start))
            return -1;
        out->type = t;
        out->start = week1_start(year, ti->week_start) + (n - 1) * 7;
        out->end = out->start + 6;
        return 0;
    }
    return -1;
}

int period_format(const struct period *p, char *buf, size_t size)
{
    if (!p || !type_ok(p->type))
        return -1;
    const struct type_info *ti = &types[p->type];
    int n;
    if (p->type == PERIOD_DAILY) {
        int y, m, d;
        civil_from_days(p->start, &y, &m, &d);
        n = snprintf(buf, size, "%04d%02d%02d", y, m, d);
    } else if (ti->months) {
        int label = abs_month_of_day(p->start) + ti->label_shift;
        int year = label / 12, index = (label % 12) / ti->months + 1;
        if (p->type == PERIOD_MONTHLY)
            n = snprintf(buf, size, "%04d%02d", year, index);
        else if (p->type == PERIOD_BI_MONTHLY)
            n = snprintf(buf, size, "%04d%02dB", year, index);
        else if (ti->months == 12)
            n = snprintf(buf, size, "%04d%s", year, ti->tag);
        else
            n = snprintf(buf, size, "%04d%s%d", year, ti->tag, index);
    } else {
        int year = week_year(p->start);
        int32_t w1 = week1_start(year, ti->week_start);
        int index = (int)((p->start - w1) / (p->type == PERIOD_BI_WEEKLY ? 14 : 7)) + 1;
        n = snprintf(buf, size, "%04d%s%d", year, ti->tag, index);
    }
    return n > 0 && (size_t)n < size ? n : -1;
}

int period_containing(enum period_type type, int32_t day, struct period *out)
{
    if (!type_ok(type))
        return -1;
    const struct type_info *ti = &types[type];
    out->type = type;
    if (type == PERIOD_DAILY) {
        out->start = out->end = day;
    } else if (ti->months) {
        int am = abs_month_of_day(day);
        int off = ((am - ti->anchor) % ti->months + ti->months) % ti->months;
        month_period(type, am - off, out);
    } else if (is_weekly(type)) {
        out->start = day - (day_of_week(day) - ti->week_start + 7) % 7;
        out->end = out->start + 6;
    } else {
        /* Bi-weeks count from week 1 of the ISO year holding the day's week; a 53-week year's
         * last bi-week runs into the next year's first week, as DHIS2's do. */
        int32_t monday = day - day_of_week(day);
        int year = week_year(monday);
        int32_t w1 = week1_start(year, 0);
        out->start = w1 + ((monday - w1) / 14) * 14;
        out->end = out->start + 13;
    }
    return 0;
}

int period_next(const struct period *p, struct period *out)
{
    if (!p || !type_ok(p->type))
        return -1;
    return period_containing(p->type, p->end + 1, out);
}

int period_prev(const struct period *p, struct period *out)
{
    if (!p || !type_ok(p->type))
        return -1;
    return period_containing(p->type, p->start - 1, out);
}

int period_last_n(enum period_type type, int32_t today, int n, struct period *out)
{
    struct period cur;
    if (n < 0 || period_containing(type, today, &cur) != 0)
        return -1;
    for (int i = n - 1; i >= 0; i--) {
        if (period_prev(&cur, &cur) != 0)
            return -1;
        out[i] = cur;
    }
    return 0;
}

int period_overlapping(enum period_type type, int32_t start, int32_t end, struct period *out,
                       int max)
{
    struct period p;
    if (end < start || period_containing(type, start, &p) != 0)
        return -1;
    int n = 0;
    for (; p.start <= end; n++) {
        if (n < max)
            out[n] = p;
        if (period_next(&p, &p) != 0)
            return -1;
    }
    return n;
}

bool period_within(const struct period *p, int32_t start, int32_t end)
{
    return p && p->start >= start && p->end <= end;
}
