/* period.h — DHIS2 ISO periods: parse, format, the period of a type containing a date, next and
 * previous, relative windows ("last N months") and range checks.
 * Dates are plain integers: days since 1970-01-01 in the proleptic Gregorian calendar, with no
 * time zone or locale anywhere. A period covers [start, end], both days inclusive.
 * Owns no memory and keeps no state, so every function is thread-safe. */
#ifndef DHIS2SYNC_PERIOD_H
#define DHIS2SYNC_PERIOD_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

enum period_type {
    PERIOD_INVALID = -1,
    PERIOD_DAILY = 0,
    PERIOD_WEEKLY,           /* 2024W5: ISO week, Monday start */
    PERIOD_WEEKLY_WEDNESDAY, /* 2024WedW5 */
    PERIOD_WEEKLY_THURSDAY,  /* 2024ThuW5 */
    PERIOD_WEEKLY_SATURDAY,  /* 2024SatW5 */
    PERIOD_WEEKLY_SUNDAY,    /* 2024SunW5 */
    PERIOD_BI_WEEKLY,        /* 2024BiW3: two ISO weeks from week 1 */
    PERIOD_MONTHLY,          /* 202401 */
    PERIOD_BI_MONTHLY,       /* 202401B: Jan-Feb; the number is the bimonth, not a month */
    PERIOD_QUARTERLY,        /* 2024Q1 */
    PERIOD_QUARTERLY_NOV,    /* 2024NovQ1: Nov 2023-Jan 2024 */
    PERIOD_SIX_MONTHLY,      /* 2024S1 */
    PERIOD_SIX_MONTHLY_APRIL,/* 2024AprilS1: Apr-Sep 2024 */
    PERIOD_SIX_MONTHLY_NOV,  /* 2024NovS1: Nov 2023-Apr 2024 */
    PERIOD_YEARLY,           /* 2024 */
    PERIOD_FINANCIAL_APRIL,  /* 2024April: Apr 2024-Mar 2025 */
    PERIOD_FINANCIAL_JULY,   /* 2024July */
    PERIOD_FINANCIAL_OCT,    /* 2024Oct */
    PERIOD_FINANCIAL_NOV,    /* 2024Nov: Nov 2023-Oct 2024 */
    PERIOD_FINANCIAL_SEP,    /* 2024Sep (DHIS2 2.42+) */
    PERIOD_TYPE_COUNT
};

struct period {
    enum period_type type;
    int32_t start; /* first day, days since 1970-01-01 */
    int32_t end;   /* last day, inclusive */
};

/* Longest ISO string period_format writes, with its NUL ("2024AprilS1", "2024WedW53"). */
enum { PERIOD_ISO_MAX = 16 };

/* Calendar helpers. days_from_civil accepts any y/m/d (no range check); date_valid checks it. */
int32_t days_from_civil(int y, int m, int d);
void civil_from_days(int32_t days, int *y, int *m, int *d);
bool date_valid(int y, int m, int d);
/* 0 = Monday ... 6 = Sunday. */
int day_of_week(int32_t days);
/* Parses `yyyy-MM-dd` (anything after the 10th character is ignored, so a timestamp works too).
 * Returns 0, or -1 when it is not a real date. */
int date_parse(const char *s, int32_t *days);
/* Writes `yyyy-MM-dd` into buf (at least 11 bytes). */
void date_format(int32_t days, char *buf);
/* Today in UTC. */
int32_t date_today(void);

/* DHIS2 period-type name ("Monthly", "monthly", "FINANCIALAPRIL", "WeeklyWednesday"...) to a
 * type; PERIOD_INVALID when unknown. */
enum period_type period_type_from_name(const char *name);
/* The canonical DHIS2 name ("Monthly", "BiWeekly", "FinancialApril"...). */
const char *period_type_name(enum period_type type);

/* Parses any DHIS2 ISO form, also `2024-01-31` (Daily) and `2024-01` (Monthly).
 * Returns 0, or -1 for anything else (202413, 2024Q5, 2024W0, 2021W53...). */
int period_parse(const char *iso, struct period *out);
/* Writes the canonical ISO string; returns its length, or -1 if p is not a valid period or buf
 * is too small. */
int period_format(const struct period *p, char *buf, size_t size);
/* The period of `type` that contains `day`. Returns 0, or -1 for an invalid type. */
int period_containing(enum period_type type, int32_t day, struct period *out);
/* The period right after / right before p (same type). Return 0 or -1. */
int period_next(const struct period *p, struct period *out);
int period_prev(const struct period *p, struct period *out);
/* The n periods of `type` that precede the one containing `today`, oldest first, into out[n]
 * (DHIS2's LAST_12_MONTHS and friends leave the current period out). Returns 0 or -1. */
int period_last_n(enum period_type type, int32_t today, int n, struct period *out);
/* The periods of `type` that overlap [start, end] (days, inclusive), oldest first, into out
 * (at most max of them). Returns how many overlap, which may exceed max, or -1 for an invalid
 * type or an empty range. */
int period_overlapping(enum period_type type, int32_t start, int32_t end, struct period *out,
                       int max);
/* Whether p lies wholly inside [start, end] (days, inclusive). */
bool period_within(const struct period *p, int32_t start, int32_t end);

#endif
