/* tracker_job.h — the fields of a tracker job ("kind":"tracker"): checking what a user posts
 * and reading the normalised spec back for a run. Owns the shape PRODUCT.md gives (programs,
 * orgUnits, children, occurredAfter, importOptions {atomicMode, batchSize, dryRun, async});
 * incremental and deletions are every kind's (jobs.c). Never talks to DHIS2 or the database. */
#ifndef DHIS2SYNC_TRACKER_JOB_H
#define DHIS2SYNC_TRACKER_JOB_H

#include <cJSON.h>
#include <stdbool.h>

#include "err.h"

/* A job's batch size when it names none: DHIS2's own tracker sync posts 500 at a time. */
enum { TRACKER_BATCH_DEFAULT = 500, TRACKER_BATCH_MAX = 10000 };

struct tracker_job {
    const char *const *programs;  /* NULL-terminated; strings point into the spec */
    const char *const *org_units; /* NULL-terminated */
    bool children, deletions;
    const char *occurred_after;   /* yyyy-MM-dd, or NULL */
    bool atomic_all;              /* atomicMode=ALL (else OBJECT) */
    int batch_size;
    bool dry_run, async;
};

/* The {field, label} pairs of a tracker job's own fields, NULL-terminated. */
extern const char *const tracker_job_labels[][2];

/* sync_kind.validate: checks body's tracker fields, every error through err_field, and writes
 * them with their defaults into spec. 0 or the first error's code. */
int tracker_job_validate(const cJSON *body, cJSON *spec, struct err *e);
/* Reads a spec tracker_job_validate wrote. The lists are malloc'd: tracker_job_free. */
int tracker_job_read(const cJSON *spec, struct tracker_job *out, struct err *e);
void tracker_job_free(struct tracker_job *j);

#endif
