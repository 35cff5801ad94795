/* worker.h — the threads that run queued runs in this process. Each claims the oldest queued
 * run with FOR UPDATE SKIP LOCKED (so any number of processes on one database never take the
 * same run), runs it with sync_run, sends its notifications, and looks again; idle threads are
 * woken by NOTIFY dhis2sync_runs and poll every second besides. A heartbeat thread keeps the
 * runs of this process alive in the database; runs whose process died are found and marked
 * `interrupted`, and queued again once. */
#ifndef DHIS2SYNC_WORKER_H
#define DHIS2SYNC_WORKER_H

#include <libpq-fe.h>
#include <stdatomic.h>
#include <stdbool.h>

#include "err.h"

struct app;

/* "host:pid", how runs name the process that runs them. */
const char *worker_id(void);
/* Starts n run threads, a thread that LISTENs for queued runs (n > 0), and the heartbeat
 * thread that also finds orphans (every DHIS2SYNC_HEARTBEAT_MS; a run is orphaned when its
 * pid on this host is gone, or after DHIS2SYNC_ORPHAN_AFTER_S without a heartbeat anywhere).
 * n may be 0: heartbeat and orphan checks only. After each run, its notifications (notify.h)
 * are sent from the run thread. */
int worker_start(struct app *app, int n, struct err *e);
/* The runs this process is running (worker_track after claiming, worker_untrack when it has
 * ended): the heartbeat keeps exactly these alive. `dhis2sync run` tracks its own run. */
void worker_track(long long run_id);
void worker_untrack(long long run_id);
/* Whether the heartbeat has seen a cancel request for this tracked run. */
bool worker_cancel_requested(long long run_id);
/* Wakes idle run threads now (a run was just queued; NOTIFY dhis2sync_runs also wakes them). */
void worker_wake(void);
/* Asks running runs to stop at their next batch boundary (they end `interrupted`), and joins
 * every thread. */
void worker_stop(void);
/* The flag worker_stop raises; `dhis2sync run` raises it from its signal handler too. */
extern atomic_int worker_shutdown;

/* Marks `interrupted` the runs that are `running` but whose process is gone (on this host: a
 * pid that no longer exists; anywhere: no heartbeat for stale_s seconds), and queues each of
 * them again once (a retry is not retried). Returns how many were found, or negative. */
int worker_reap_orphans(PGconn *c, int stale_s, struct err *e);

#endif
