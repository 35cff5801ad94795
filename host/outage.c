#include "outage.h"

#include <stdio.h>
#include <string.h>
#include <time.h>

#include "deadline.h"

static const char *const names[OUTAGE_KINDS] = {"source", "target", "database"};

const char *outage_name(enum outage_of of) { return names[of]; }

void outages_init(struct outages *o)
{
    memset(o, 0, sizeof *o);
    pthread_mutex_init(&o->lock, NULL);
    o->shown = -1;
}

void outages_free(struct outages *o) { pthread_mutex_destroy(&o->lock); }

/* "12 s", "4 min 10 s": how long an outage lasted. */
static void lasted_text(long long s, char *out, size_t n)
{
    if (s < 60)
        snprintf(out, n, "%lld s", s);
    else if (s % 60)
        snprintf(out, n, "%lld min %lld s", s / 60, s % 60);
    else
        snprintf(out, n, "%lld min", s / 60);
}

/* Called with the lock held: the outage of `of` that began at since ended now. */
static void add_note(struct outages *o, enum outage_of of, long long since)
{
    time_t t = (time_t)since;
    struct tm tm;
    char lasted[32], at[16] = "?";
    gmtime_r(&t, &tm);
    strftime(at, sizeof at, "%H:%M:%S", &tm);
    long long s = (long long)time(NULL) - since;
    lasted_text(s > 0 ? s : 0, lasted, sizeof lasted);
    if (o->n_notes == OUTAGE_NOTES) {
        /* a flapping server: the last note stands for the rest */
        snprintf(o->notes[OUTAGE_NOTES - 1], OUTAGE_NOTE_SIZE,
                 "more outages followed, each ridden out by retrying");
        return;
    }
    snprintf(o->notes[o->n_notes++], OUTAGE_NOTE_SIZE, "waited %s for the %s from %s UTC, retrying",
             lasted, names[of], at);
}

void outage_note(struct outages *o, enum outage_of of, long long since)
{
    pthread_mutex_lock(&o->lock);
    if (since && !o->since[of]) {
        o->since[of] = since;
        /* the monotonic start, back-dated as far as the wall clock says the outage is old */
        o->began_ms[of] = monotonic_ms() - ((long long)time(NULL) - since) * 1000;
    } else if (!since && o->since[of]) {
        add_note(o, of, o->since[of]);
        o->since[of] = 0;
        o->began_ms[of] = 0;
    }
    pthread_mutex_unlock(&o->lock);
}

long long outage_lasted_ms(struct outages *o, enum outage_of of)
{
    pthread_mutex_lock(&o->lock);
    long long ms = o->since[of] ? monotonic_ms() - o->began_ms[of] : 0;
    pthread_mutex_unlock(&o->lock);
    return ms;
}

bool outage_current(struct outages *o, const char **what, long long *since)
{
    pthread_mutex_lock(&o->lock);
    int cur = -1;
    for (int i = 0; i < OUTAGE_KINDS; i++)
        if (o->since[i] && (cur < 0 || o->since[i] < o->since[cur]))
            cur = i;
    *what = cur < 0 ? NULL : names[cur];
    *since = cur < 0 ? 0 : o->since[cur];
    bool changed = cur != o->shown || *since != o->shown_since;
    o->shown = cur;
    o->shown_since = *since;
    pthread_mutex_unlock(&o->lock);
    return changed;
}

bool outage_take_note(struct outages *o, char *out, size_t size)
{
    pthread_mutex_lock(&o->lock);
    bool any = o->n_notes > 0;
    if (any) {
        snprintf(out, size, "%s", o->notes[0]);
        memmove(o->notes[0], o->notes[1], (size_t)(o->n_notes - 1) * sizeof o->notes[0]);
        o->n_notes--;
    }
    pthread_mutex_unlock(&o->lock);
    return any;
}
