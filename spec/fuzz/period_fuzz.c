/* period_fuzz.c — the period texts that come from outside (a job's `periods`, DHIS2's values,
 * period-type names): period_parse, date_parse and period_type_from_name on any text. What
 * parses must format back to a text that parses to the same period, and its neighbours must
 * follow and precede it without a gap. */
#include "fuzz.h"
#include "period.h"

static int same(const struct period *a, const struct period *b)
{
    return a->type == b->type && a->start == b->start && a->end == b->end;
}

static void check_period(const struct period *p)
{
    char iso[PERIOD_ISO_MAX];
    struct period again, next, prev, around;
    FUZZ_ASSERT(p->type > PERIOD_INVALID && p->type < PERIOD_TYPE_COUNT && p->start <= p->end);
    FUZZ_ASSERT(period_format(p, iso, sizeof iso) > 0);
    FUZZ_ASSERT(period_parse(iso, &again) == 0 && same(p, &again));
    FUZZ_ASSERT(period_containing(p->type, p->start, &around) == 0 && same(p, &around));
    /* no gap between neighbours; they overlap only where DHIS2's do (a 53-week year's last
     * bi-week runs into the next year's first) */
    if (period_next(p, &next) == 0)
        FUZZ_ASSERT(next.type == p->type && next.start > p->start && next.start <= p->end + 1);
    if (period_prev(p, &prev) == 0)
        FUZZ_ASSERT(prev.type == p->type && prev.end < p->end && prev.end >= p->start - 1);
}

int fuzz_period(const uint8_t *data, size_t size)
{
    char *text = fuzz_text(data, size);
    struct period p;
    if (period_parse(text, &p) == 0)
        check_period(&p);
    int32_t day;
    if (date_parse(text, &day) == 0) {
        char back[11];
        date_format(day, back);
        FUZZ_ASSERT(strncmp(back, text, 10) == 0);
    }
    enum period_type t = period_type_from_name(text);
    if (t != PERIOD_INVALID) {
        FUZZ_ASSERT(period_type_from_name(period_type_name(t)) == t);
        /* the last_n windows a job of this type asks for, ending today and at the epoch */
        struct period last[3];
        FUZZ_ASSERT(period_last_n(t, 20425, 3, last) == 0);
        for (int i = 0; i < 3; i++)
            check_period(&last[i]);
    }
    free(text);
    return 0;
}
