/* outage.h — what a run is waiting out: an outage of its source, its target or its database.
 * The DHIS2 clients' waiting hooks (on whichever thread uses the client) and the run thread
 * (for PostgreSQL) say when an outage begins and ends; the run thread reads which one to show
 * (runs.waiting_for / waiting_since) and, once one is over, a sentence for the run's warnings
 * saying how long it waited. It never retries anything itself, nor touches the database. */
#ifndef DHIS2SYNC_OUTAGE_H
#define DHIS2SYNC_OUTAGE_H

#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>

enum outage_of { OUTAGE_SOURCE, OUTAGE_TARGET, OUTAGE_DATABASE, OUTAGE_KINDS };

enum { OUTAGE_NOTES = 8, OUTAGE_NOTE_SIZE = 160 };

struct outages {
    pthread_mutex_t lock;
    long long since[OUTAGE_KINDS];    /* seconds since the epoch; 0: no outage */
    long long began_ms[OUTAGE_KINDS]; /* the same on the monotonic clock, for the window */
    char notes[OUTAGE_NOTES][OUTAGE_NOTE_SIZE];
    int n_notes;
    int shown;                        /* what outage_current last answered: an enum outage_of, */
    long long shown_since;            /* or -1 for none */
};

void outages_init(struct outages *o);
void outages_free(struct outages *o);
/* `of` is down since `since` (seconds since the epoch), or up again (since 0). Any thread. */
void outage_note(struct outages *o, enum outage_of of, long long since);
/* How long `of` has been down, in milliseconds; 0 when it is up. */
long long outage_lasted_ms(struct outages *o, enum outage_of of);
/* The outage to show: the oldest one under way (*what "source", "target" or "database", *since
 * when), or *what NULL for none. Returns whether that differs from what the last call answered. */
bool outage_current(struct outages *o, const char **what, long long *since);
/* Takes the oldest sentence about an outage that ended ("waited 12 s for the target from
 * 10:42:05 UTC, retrying"); false when there is none. Notes beyond OUTAGE_NOTES are counted in
 * the last one, not kept. */
bool outage_take_note(struct outages *o, char *out, size_t size);
/* "source", "target", "database". */
const char *outage_name(enum outage_of of);

#endif
