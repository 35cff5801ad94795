/* worker.h — the threads that run queued runs in this process. Each claims the oldest queued
 * run with FOR UPDATE SKIP LOCKED (so any number of processes on one database never take the
 * same run), runs it with sync_run, and looks again. A heartbeat thread keeps the runs of this
 * process alive in the database; runs whose process died are found and marked `interrupted`. */
#ifndef DHIS2SYNC_WORKER_H
#define DHIS2SYNC_WORKER_H

#include <libpq-fe.h>
#include <stdatomic.h>

#include "err.h"

struct app;

/* "host:pid", how runs name the process that runs them. */
const char *worker_id(void);
/* Starts n run threads (n may be 0: heartbeat and orphan checks only). */
int worker_start(struct app *app, int n, struct err *e);
/* Wakes idle run threads now (a run was just queued by this process). */
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
