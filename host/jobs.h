/* jobs.h — sync jobs as stored: validation of what a user posts (every error names its field),
 * lookup by id or name, and loading one for a run. A job's selection and import options live
 * in one normalised JSON document (jobs.spec), the shape PRODUCT.md shows. */
#ifndef DHIS2SYNC_JOBS_H
#define DHIS2SYNC_JOBS_H

#include <cJSON.h>
#include <libpq-fe.h>
#include <stdbool.h>
#include <time.h>

#include "err.h"

struct job {
    long long id;
    char *name;
    long long source_id, target_id;
    char *mapping;   /* NULL = ids pass unchanged */
    cJSON *spec;     /* dataSets, dataElementGroups, orgUnits, children, periods, incremental,
                        deletions, importOptions, notify — all present after normalisation */
    char *schedule;  /* cron expression or NULL */
    bool enabled;
};

/* A validated job, ready to store. Strings point into the input or into spec. */
struct job_input {
    const char *name, *mapping, *schedule;
    long long source_id, target_id;
    bool enabled;
    cJSON *spec;     /* owned: cJSON_Delete it */
    time_t next_run; /* from schedule, 0 = none */
};

/* How long a run rides out an outage of the source, the target or PostgreSQL (seconds from its
 * first failure) when the job does not say (`retryWindow`; jobs saved before it have none). */
#define JOB_RETRY_WINDOW_S 600

/* The words a person reads for each field of a job, for struct err_fields. */
extern const char *const job_field_labels[][2];
/* Validates body (a complete job). Resolves source/target names through c. With e->fields set,
 * every field error is listed there, not only the first. */
int job_validate(PGconn *c, const cJSON *body, struct job_input *out, struct err *e);
/* job_validate without the database: source and target are checked to be names or ids but
 * not looked up (their ids stay 0). What reads untrusted bytes, so the fuzz harness's entry. */
int job_validate_body(const cJSON *body, struct job_input *out, struct err *e);
/* The stored job in the shape a user posts, to merge a PATCH onto; caller deletes. */
cJSON *job_as_input(PGconn *c, long long id, struct err *e);

int job_resolve(PGconn *c, const char *ref, long long *id, struct err *e);
int job_load(PGconn *c, long long id, struct job *out, struct err *e);
void job_free(struct job *j);

#endif
