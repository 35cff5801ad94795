/* meta_job.h — the fields of a metadata job (`"kind":"metadata"`): checking what a user posts
 * and reading the normalised spec back for a run.
 *
 * Fields: `objects` {type: [ids] | "all" | {"filter":[DHIS2 filters]}} (types from
 * meta_deps.h), `dependencies` (true), `strip` (["sharing","users"]; also
 * "organisationUnits": org unit assignments), `incremental` (false), `deletions` (false),
 * `importOptions` {importStrategy CREATE_AND_UPDATE|CREATE|UPDATE|DELETE, atomicMode ALL|NONE,
 * dryRun, async, asyncTimeout (s), batchSize (objects per part with atomicMode NONE)}.
 * Never: talks to DHIS2 or the database. */
#ifndef DHIS2SYNC_META_JOB_H
#define DHIS2SYNC_META_JOB_H

#include <cJSON.h>
#include <stdbool.h>
#include <stddef.h>

#include "err.h"
#include "meta_deps.h"

enum meta_select { META_SELECT_IDS, META_SELECT_ALL, META_SELECT_FILTER };

struct meta_selection {
    const struct meta_type *type;
    enum meta_select how;
    const cJSON *list; /* the ids or the filters (strings), inside the spec */
};

enum { META_MAX_SELECTIONS = 32 };

/* A job's spec as a run reads it; pointers into the spec, which must outlive it. */
struct meta_job {
    struct meta_selection sel[META_MAX_SELECTIONS];
    size_t n_sel;
    bool dependencies, incremental, deletions;
    bool strip_sharing, strip_users, strip_org_units;
    const char *import_strategy; /* CREATE_AND_UPDATE | CREATE | UPDATE | DELETE */
    bool atomic_all;             /* atomicMode ALL: one payload */
    bool dry_run, async;
    long async_timeout_s, batch_size;
};

/* {field, label} pairs of these fields, NULL-terminated. */
extern const char *const meta_job_labels[][2];

/* Checks the metadata fields of body and writes them, with their defaults, into spec; every
 * field error goes through err_field. 0 or the first error's code. */
int meta_job_validate(const cJSON *body, cJSON *spec, struct err *e);
/* Reads a spec meta_job_validate wrote. ERR_INPUT when it is not one (a job edited by hand). */
int meta_job_read(const cJSON *spec, struct meta_job *out, struct err *e);
/* The selection of type t in j, or NULL when `objects` does not name it. */
const struct meta_selection *meta_job_selects(const struct meta_job *j, const struct meta_type *t);

#endif
