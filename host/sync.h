/* sync.h — one run of a sync job, of any kind: the harness that loads the run, its job, both
 * instances and the mapping version, hands the work to the job's kind (sync_kind.h: data
 * values in dv_sync.c, metadata, tracker data), and stores how it ended.
 * Every count and each refused, skipped or failed object is stored with the run. The job's
 * incremental watermark moves only after a run that succeeded (and was not a dry run), to the
 * source's serverDate taken at the run's start.
 * Never: loses an object silently (each is sent, or listed as skipped/failed/refused). */
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
    /* who runs it, as runs.worker names it ("host:pid") */
    const char *worker;
    /* whether a cancel was asked for the run (the heartbeat reads it); may be NULL */
    bool (*cancel_requested)(long long run_id);
    /* set non-zero (by another thread or a signal) to stop at the next batch boundary; the
     * run is then `interrupted` (its process is going away) */
    atomic_int *shutdown;
    /* called from the run thread as progress is written; may be NULL */
    void (*on_progress)(void *ud, const struct sync_progress *p);
    void *ud;
};

/* Runs a run that is already claimed (status running). Always leaves it finished with a
 * status; returns 0, or the error that stopped it (also stored on the run). *status gets the
 * final status ("succeeded", "partial", "failed", "cancelled", "interrupted"). */
int sync_run(struct app *app, long long run_id, const struct sync_options *opt,
             const char **status, struct err *e);

#endif
