/* runs.h — the life of a run in the database: queued by the API, the CLI or the scheduler,
 * claimed by exactly one worker (FOR UPDATE SKIP LOCKED), its progress and counts written as it
 * goes, its conflicts and skipped values listed, finished with a status. A job never has two
 * runs queued or running at once (a unique index says so). */
#ifndef DHIS2SYNC_RUNS_H
#define DHIS2SYNC_RUNS_H

#include <cJSON.h>
#include <libpq-fe.h>
#include <stdbool.h>

#include "err.h"

/* Everything a run counts; the API shows the same keys. */
struct run_counts {
    long long fetched, mapped, skipped, errors, sent, imported, updated, ignored, deleted, conflicts;
    long long refused; /* values the target refused (conflicts counts DHIS2's conflict entries) */
};

/* Queues a run. dry_run: 1 or 0 to override the job's importOptions.dryRun, -1 to keep it.
 * claim_by non-NULL: the run starts out running, claimed by that worker (`dhis2sync run`), so
 * that no other process can take it first. ERR_CONFLICT when the job already has a run queued
 * or running. */
int run_enqueue(PGconn *c, long long job_id, int dry_run, bool full, const char *trigger,
                const char *claim_by, long long *run_id, struct err *e);

/* Takes the oldest queued run for this worker (marks it running); *run_id 0 when none. */
int run_claim(PGconn *c, const char *worker, long long *run_id, struct err *e);

/* Writes progress and counts of a run `worker` is running, refreshes the heartbeat; *cancel
 * set when cancel was asked. ERR_CONFLICT when the run is no longer this worker's (another
 * process found it silent and marked it interrupted): it must stop. */
int run_progress(PGconn *c, long long run_id, const char *worker, long long done,
                 long long total, const struct run_counts *counts, bool *cancel, struct err *e);
/* Says what a running run waits out (an outage of "source", "target" or "database") and since
 * when (seconds since the epoch); waiting_for NULL: nothing any more. */
int run_set_waiting(PGconn *c, long long run_id, const char *worker, const char *waiting_for,
                    long long since, struct err *e);
int run_set_info(PGconn *c, long long run_id, const char *mapping_version,
                 const char *watermark_from, const char *watermark_to, struct err *e);
/* Adds a sentence to the run's `warnings`: what it selects beyond or apart from its job's
 * literal window, or leaves out. */
int run_add_warning(PGconn *c, long long run_id, const char *warning, struct err *e);
/* Sets the final status, counts and error (NULL for none) of a run `worker` is running;
 * ERR_CONFLICT when it is no longer this worker's. */
int run_finish(PGconn *c, long long run_id, const char *worker, const char *status,
               const struct run_counts *counts, const char *error, struct err *e);
/* Queues the run once more (trigger "retry"), unless it is itself a retry or its job already
 * has a run queued or running. */
int run_requeue_once(PGconn *c, long long run_id, struct err *e);

/* The refused, skipped and failed values of a run, buffered and written with COPY, since a
 * mapping that drops a data element on purpose lists one row per value. */
enum run_item_kind { RUN_ITEM_CONFLICT, RUN_ITEM_SKIPPED, RUN_ITEM_ERROR };
struct run_items;
struct run_items *run_items_new(long long run_id);
/* Any argument but kind may be NULL. data_value_json is the value as sent (or as read, for a
 * value the mapping skipped or failed on), source_json the value or object as read from the
 * source, item_json what any other kind of job names the entry by ({"type","id"}).
 * Flush when run_items_pending grows large. */
int run_items_add(struct run_items *items, enum run_item_kind kind, const char *object,
                  const char *value, const char *error_code, const char *message,
                  const char *data_value_json, const char *source_json, const char *item_json,
                  struct err *e);
size_t run_items_pending(const struct run_items *items);
int run_items_flush(PGconn *c, struct run_items *items, struct err *e);
void run_items_free(struct run_items *items);

cJSON *run_counts_json(const struct run_counts *counts);

#endif
