/* sync_kind.h — one kind of job (data values, metadata, tracker data) and the run harness it
 * runs in.
 *
 * The harness (sync.c) does what every kind shares: it loads the run, its job, both instances
 * and the mapping version, opens the two clients (retries, cancel wired in), reads both
 * servers' system info, works out the incremental window, writes progress and counts, hears
 * cancel and shutdown, lists conflicts, decides the final status and moves the watermark after
 * a run that succeeded. A kind reads from the source, maps, writes to the target, and tells the
 * harness what happened through the calls below. A kind never touches the runs table itself.
 *
 * Counts mean the same for every kind: fetched/sent count the kind's objects (data values,
 * metadata objects, events, tracked entities), imported what the target created, updated,
 * deleted and ignored what it reported so, conflicts its error entries and refused the objects
 * it would not take. A run whose conflicts or errors are non-zero ends `partial`.
 *
 * Threads: run() is called on the run's thread. The calls marked "any thread" may be made from
 * helper threads a kind starts (a posting thread); the rest only from the run's thread. */
#ifndef DHIS2SYNC_SYNC_KIND_H
#define DHIS2SYNC_SYNC_KIND_H

#include <cJSON.h>
#include <libpq-fe.h>
#include <stdbool.h>

#include "err.h"
#include "runs.h"

struct sync_run;
struct dhis2_client;
struct dhis2_system_info;
struct mapping;
struct mapping_lookup;
struct instance;
struct job;

/* What a preflight (POST /api/jobs/check) gives a kind: the job as validated, both clients
 * (either NULL when it could not be opened; the common problems are already listed), and
 * where to say what it found. */
struct sync_preflight {
    const cJSON *spec;           /* the normalised job spec (kind fields included) */
    const char *mapping;         /* the job's mapping name, or NULL */
    struct dhis2_client *source, *target;
    cJSON *problems;             /* add with sync_problem() */
    cJSON *estimate;             /* the kind adds its own keys ("values", "objects", ...) */
    struct mapping *mapping_version; /* acquired for the check, or NULL when none/broken */
};

struct sync_kind {
    const char *name;            /* the job's "kind": "dataValues", "metadata", "tracker" */
    /* Checks the kind's own fields of a posted job (everything but name, kind, source, target,
     * mapping, schedule, enabled, notify) and writes them, normalised with their defaults, into
     * spec. Reports every field error with err_field (e->fields collects them all); returns 0
     * or the first error's code. */
    int (*validate)(const cJSON *body, cJSON *spec, struct err *e);
    /* {field, label} pairs for the kind's fields, NULL-terminated: the words a form shows. */
    const char *const (*labels)[2];
    /* Whether this run may read only what changed since the watermark (a summing mapping must
     * read everything). NULL: always. Called before run(); sync_since() is NULL when false. */
    bool (*incremental)(struct sync_run *r);
    /* Adds the kind's own preflight problems and estimate. May be NULL. */
    void (*preflight)(struct sync_preflight *p);
    /* Moves the run's content. Returns 0 when it got to the end (refusals are counted and
     * listed, not returned), ERR_CANCELLED when it stopped because sync_should_stop() said so,
     * or the error that stopped the run (the harness stores it and marks the run failed). */
    int (*run)(struct sync_run *r, struct err *e);
};

/* The kind named name ("dataValues" when name is NULL), or NULL when there is no such kind. */
const struct sync_kind *sync_kind_find(const char *name);
/* "dataValues, metadata or tracker", for messages. */
const char *sync_kind_names(void);
/* Adds {"level","field","message"} to a preflight's problems. level: "error" or "warning". */
void sync_problem(cJSON *problems, const char *level, const char *field, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

/* ---- what the harness gives a kind ---------------------------------------------------- */

long long sync_run_id(const struct sync_run *r);
const struct job *sync_job(const struct sync_run *r);        /* job->spec: normalised fields */
const struct instance *sync_source(const struct sync_run *r);
const struct instance *sync_target(const struct sync_run *r);
/* The clients for the run: retries with backoff, and every request ends early once the run
 * must stop (it then fails with ERR_CANCELLED). */
struct dhis2_client *sync_source_client(struct sync_run *r);
struct dhis2_client *sync_target_client(struct sync_run *r);
const struct dhis2_system_info *sync_source_info(const struct sync_run *r);
const struct dhis2_system_info *sync_target_info(const struct sync_run *r);
/* The mapping version this run keeps from start to end; never NULL (the identity mapping for
 * a job without one). */
struct mapping *sync_mapping(struct sync_run *r);
/* Lookups of the target's ids by code or name for Lua functions (d2.meta), cached for the run;
 * also carries the stop check that cuts a Lua call short. Run thread only. */
const struct mapping_lookup *sync_lookup(struct sync_run *r);
bool sync_dry_run(const struct sync_run *r);
/* For an incremental run: the watermark minus the overlap, as the source writes timestamps
 * ("2024-02-03T10:11:12.000"), i.e. read what changed since then. NULL for a full read (first
 * run, `--full`, a job that is not incremental, or the kind's incremental() said no). */
const char *sync_since(const struct sync_run *r);
/* The run thread's database connection, e.g. to store kind-specific state. Run thread only. */
PGconn *sync_conn(struct sync_run *r);

/* True once the run must stop: a cancel, a shutdown, a failure on another thread, or the run
 * taken over by another process. Cheap: call it per object. Any thread. */
bool sync_should_stop(struct sync_run *r);
/* The same, for dhis2_client_set_cancel and struct mapping_lookup (ud = the run). */
int sync_stop_check(void *run);
/* Records the error that stops the run (the first one wins) and makes sync_should_stop()
 * true. Any thread. */
void sync_fail(struct sync_run *r, const struct err *e);
/* Adds delta to the run's counts. Any thread. */
void sync_add_counts(struct sync_run *r, const struct run_counts *delta);
/* Lists one entry on the run: a conflict the target reported, or an object the mapping skipped
 * or failed on. item_json: the object concerned as JSON text ({"type":"dataElements","id":"…"}
 * for metadata, {"type":"event","id":"…"} for tracker data, the value as sent for data values);
 * source_json: the object as read from the source, before the mapping. object: the id DHIS2
 * names, value: the value concerned; any of those may be NULL. Does not count: counts go
 * through sync_add_counts. A failure to store fails the run. Any thread. */
void sync_list(struct sync_run *r, enum run_item_kind kind, const char *item_json,
               const char *source_json, const char *object, const char *value,
               const char *error_code, const char *message);
/* How far the run is, in whatever units the kind counts its steps (chunks, pages, types). */
void sync_set_steps(struct sync_run *r, long long done, long long total);
/* Writes progress and counts when due (every 20 000 objects counted or half a second; force:
 * now), flushes listed entries, and reads a cancel request. Run thread only. */
void sync_progress(struct sync_run *r, bool force);
/* Notes objects handled since the last sync_progress, toward its "every 20 000". Run thread. */
void sync_progress_add(struct sync_run *r, long long objects);
/* A sentence shown in the run's `warnings` (what the run read beyond or apart from what the
 * job says, or left out). Logged too. Run thread only. */
int sync_warn(struct sync_run *r, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

#endif
