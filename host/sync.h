/* sync.h — one run of a sync job: fetch from the source, map, post to the target.
 *
 * The job's selection is split into chunks (org unit root × period, or × the date window);
 * values stream in chunk by chunk, go through the mapping (C lookup tables, then the optional
 * Lua transform), and are posted to the target in batches of the job's batch size by a second
 * thread while the next values are fetched. Memory is bounded by a few batches whatever the
 * size of the job (with aggregate = "sum", by the number of target keys: values are combined
 * over the whole run, whichever chunks they came from).
 * Every import summary is read; its counts and each refused value are stored with the run.
 * The job's incremental watermark moves only after a run that succeeded (and was not a dry
 * run), to the source's serverDate taken at the run's start.
 * Never: loses a value silently (each is sent, or listed as skipped/failed/refused). */
#ifndef DHIS2SYNC_SYNC_H
#define DHIS2SYNC_SYNC_H

#include <stdatomic.h>
#include <stdbool.h>

#include "err.h"
#include "runs.h"

struct app;

struct sync_progress {
    long long chunks_done, chunks_total;
    struct run_counts counts;
    double elapsed_s;
    const char *waiting_for; /* "source", "target", "database" while the run waits one out */
    long long waiting_since; /* since when, seconds since the epoch */
};

struct sync_options {
    /* set non-zero (by another thread or a signal) to stop at the next batch boundary; the
     * run is then `interrupted` (its process is going away) */
    atomic_int *shutdown;
    /* called from the fetching thread after each chunk and every few batches; may be NULL */
    void (*on_progress)(void *ud, const struct sync_progress *p);
    void *ud;
};

/* Runs a run that is already claimed (status running). Always leaves it finished with a
 * status; returns 0, or the error that stopped it (also stored on the run). *status gets the
 * final status ("succeeded", "partial", "failed", "cancelled", "interrupted"). */
int sync_run(struct app *app, long long run_id, const struct sync_options *opt,
             const char **status, struct err *e);

#endif
