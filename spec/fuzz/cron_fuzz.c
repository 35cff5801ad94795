/* cron_fuzz.c — cron_parse on any text (a job's `schedule`), and cron_next on what it accepts:
 * the minute it returns lies after the start and matches every field. */
#include <time.h>

#include "cron.h"
#include "fuzz.h"

static int due(const struct cron *c, time_t t)
{
    struct tm tm;
    if (!gmtime_r(&t, &tm))
        return 0;
    int mday = c->mdays >> tm.tm_mday & 1, wday = c->wdays >> tm.tm_wday & 1;
    int day = c->mday_star || c->wday_star ? mday && wday : mday || wday;
    return (c->minutes >> tm.tm_min & 1) && (c->hours >> tm.tm_hour & 1) &&
           (c->months >> (tm.tm_mon + 1) & 1) && day && tm.tm_sec == 0;
}

int fuzz_cron(const uint8_t *data, size_t size)
{
    char *expr = fuzz_text(data, size);
    struct cron c;
    struct err e = {0};
    if (cron_parse(expr, &c, &e) == 0) {
        /* a leap day, the turn of a year, and the epoch */
        static const time_t starts[] = {1709164800, 1767225599, 0};
        for (size_t i = 0; i < sizeof starts / sizeof starts[0]; i++) {
            time_t next = cron_next(&c, starts[i]);
            FUZZ_ASSERT(next == -1 || (next > starts[i] && due(&c, next)));
        }
    } else {
        FUZZ_ASSERT(e.msg[0]);
    }
    free(expr);
    return 0;
}
