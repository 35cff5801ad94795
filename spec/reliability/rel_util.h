/* rel_util.h — what the reliability cases share (the short ones in `make test`, the long ones in
 * `make soak`): a generated source, an empty target and a dhis2sync server between them (on the
 * suite's PostgreSQL, or on a private cluster a case may restart), jobs, runs, and the checks
 * every case ends with: the target equal to the source, no run left running. */
#ifndef DHIS2SYNC_REL_UTIL_H
#define DHIS2SYNC_REL_UTIL_H

#include <stdbool.h>

#include "../sched_util.h"
#include "pgembed.h"

struct rel {
    struct su_emu src, dst;
    struct spec_server s;
    bool own_pg;
    struct pgembed pg;
    char *db;
};

/* Starts both emulators (values generated into the source, none in the target) and the server,
 * with the instances "src" and "dst". own_pg: on a PostgreSQL cluster of the case's own, which
 * rel_restart_postgres may restart. Each single retry waits at most max_delay_ms. */
void rel_start(struct rel *t, long values, unsigned long seed, bool own_pg, long max_delay_ms);
/* Stops PostgreSQL (fast shutdown: every connection is cut), waits down_ms, starts it again. */
void rel_restart_postgres(struct rel *t, int down_ms);
/* A job `name` over both data sets of the source under its root, in batches of 100; extra: more
 * JSON members ("\"retryWindow\":30"), or NULL. */
void rel_job(struct rel *t, const char *name, const char *extra);
/* Queues a run of job; with until_sent, waits until it has sent something. Returns its id. */
long long rel_run_start(struct rel *t, const char *job, bool until_sent);
/* Starts a run of job that posts slowly (each post held 100 ms), and once it has sent something
 * applies fault (JSON, e.g. {"downFor":6}) to the target, or restarts PostgreSQL when fault is
 * NULL (down pg_down_ms). Returns the run's id. */
long long rel_run_into(struct rel *t, const char *job, const char *fault, int pg_down_ms);
cJSON *rel_run_get(struct rel *t, long long id);
/* Waits until the run has ended; fails the test after timeout_s. */
cJSON *rel_run_wait(struct rel *t, long long id, int timeout_s);
/* Waits until the running run shows it waits for `what`; returns the run. */
cJSON *rel_run_waiting(struct rel *t, long long id, const char *what, int timeout_s);
long long rel_count(const cJSON *run, const char *key);
/* Whether one of the run's warnings contains needle. */
bool rel_warned(const cJSON *run, const char *needle);
/* The target holds exactly the source's values, of both data sets; n: how many (-1: any). */
void rel_check_same(struct rel *t, long n);
/* No run of the server's database is queued or running. */
void rel_check_none_running(struct rel *t);
void rel_stop(struct rel *t);
/* How every case ends: faults cleared, the target equal to the source, no run left queued or
 * running, everything stopped. */
void rel_end(struct rel *t);

#endif
