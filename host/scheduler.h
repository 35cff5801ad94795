/* scheduler.h — the scheduler (not sched.h: -Ihost would shadow the system <sched.h>): turns the jobs' cron schedules into queued runs (trigger
 * 'schedule'). It owns jobs.next_run_at once a job is stored, and nothing else: it never runs
 * a run and never waits for one (workers do, see worker.h).
 *
 * Leader: every `serve` has a scheduler thread, but only the process holding a PostgreSQL
 * session-level advisory lock, taken on a connection of its own, queues runs. The others try
 * the lock at each tick, so when the holder dies its session ends, the lock goes with it and
 * another process takes over within a tick. Each pass runs on the locked connection itself,
 * so a process that lost its session cannot queue anything.
 *
 * Due times: a job is due when enabled, scheduled and jobs.next_run_at <= now() (the
 * database's clock, so hosts with skewed clocks agree). A due job gets one run and
 * next_run_at = the first cron slot after now: slots missed while no scheduler ran are caught
 * up with one run, not one each. A job whose previous run is still queued or running is not
 * given a second one (the unique index on runs says so): the slot is skipped — logged, counted
 * in jobs.schedule_skipped / last_skipped_at — and next_run_at moves on (coalescing). */
#ifndef DHIS2SYNC_SCHED_H
#define DHIS2SYNC_SCHED_H

#include <libpq-fe.h>
#include <stdbool.h>

#include "err.h"

struct app;

/* The advisory lock that makes one process the scheduler (any constant; per database). Also
 * read by /metrics, which finds the leader of every process in pg_locks. */
#define SCHED_LOCK_KEY "7235419734212143459"
/* SQL: true for the pg_locks row (alias l) of the process holding that lock on this database
 * (advisory locks are per database, but pg_locks shows the whole cluster's). */
#define SCHED_LEADER_LOCK_SQL(l)                                                            \
    l ".locktype = 'advisory' AND " l ".granted AND " l ".objsubid = 1 AND ((" l              \
    ".classid::bigint << 32) | " l ".objid::bigint) = " SCHED_LOCK_KEY " AND " l                \
    ".database = (SELECT oid FROM pg_database WHERE datname = current_database())"

/* Starts the scheduler thread; it looks every app->cfg.sched_tick_ms. */
int sched_start(struct app *app, struct err *e);
/* Stops the thread and closes its connection (which gives up the lock). Safe if not started. */
void sched_stop(void);
/* True while this process holds the scheduler lock. */
bool sched_is_leader(void);

/* One pass over the due jobs on c, in one transaction: queues their runs, skips the busy ones,
 * moves next_run_at. The caller holds the lock. Counts what it did in *queued and *skipped
 * (either may be NULL). Returns 0 or a negative error. */
int sched_tick(PGconn *c, int *queued, int *skipped, struct err *e);

#endif
