/* dv_sync.h — the data values kind of job: dv_sync.c runs it (fetch, map, post in batches),
 * dv_job.c reads its fields and checks it before a save. */
#ifndef DHIS2SYNC_DV_SYNC_H
#define DHIS2SYNC_DV_SYNC_H

#include "sync_kind.h"

extern const struct sync_kind sync_kind_data_values;

/* The kind's validate, labels and preflight (sync_kind.h). */
int dv_job_validate(const cJSON *body, cJSON *spec, struct err *e);
extern const char *const dv_job_labels[][2];
void dv_job_preflight(struct sync_preflight *p);

#endif
