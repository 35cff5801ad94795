/* cron.h — 5-field cron expressions (minute hour day-of-month month day-of-week), in UTC.
 * Owns parsing and "when is it next due"; it never sleeps, schedules or reads the clock.
 *
 * Syntax (Vixie cron): `*`, numbers, ranges `1-5`, steps `1-30/5`, `5/10` (= 5-max/10) and a
 * star followed by /15 (a literal star-slash would end this comment),
 * lists `1,15,30`, month names JAN..DEC and day names SUN..SAT (any case, also in ranges),
 * day-of-week 0 or 7 = Sunday, and @hourly @daily @midnight @weekly @monthly @yearly
 * @annually. When both day-of-month and day-of-week are restricted (neither field starts with
 * `*`), a day matching EITHER is due, as in Vixie cron and POSIX crontab. */
#ifndef DHIS2SYNC_CRON_H
#define DHIS2SYNC_CRON_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <time.h>

#include "err.h"

struct cron {
    uint64_t minutes; /* bit n = minute n (0-59) */
    uint32_t hours;   /* bit n = hour n (0-23) */
    uint32_t mdays;   /* bit n = day of month n (1-31) */
    uint16_t months;  /* bit n = month n (1-12) */
    uint8_t wdays;    /* bit n = weekday n (0 = Sunday .. 6) */
    bool mday_star;   /* the day-of-month field started with `*` */
    bool wday_star;   /* the day-of-week field started with `*` */
};

/* Parses expr into out. On error fills e (ERR_INPUT) with a message naming the bad field,
 * e.g. "cron expression '61 * * * *': minute value 61 is out of range 0-59". */
int cron_parse(const char *expr, struct cron *out, struct err *e);

/* The first due minute strictly after `after` (UTC), or -1 when none comes within the next
 * ten years (e.g. `0 0 31 2 *`). Ten years covers 29 February across a skipped leap year. */
time_t cron_next(const struct cron *c, time_t after);

/* expr in words, for people: "At 02:00 UTC, every day.", "Every 15 minutes, on weekdays
 * (Monday to Friday).". Fails as cron_parse does. */
int cron_describe(const char *expr, char *out, size_t size, struct err *e);

#endif
