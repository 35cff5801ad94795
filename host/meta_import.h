/* meta_import.h — posting a metadata payload to DHIS2 (`POST /api/metadata`) and reading the
 * ImportReport it answers.
 *
 * Owns: the import's query (importStrategy, atomicMode, identifier=UID,
 * importReportMode=ERRORS, importMode=VALIDATE for a dry run, async with polling of
 * /api/system/tasks/METADATA_IMPORT/{id}), and the report in both shapes: bare (2.40 and the
 * async task summary) or wrapped in a WebMessage (2.41+). Never sends `mergeMode` (gone in
 * 2.41; 2.40's default REPLACE is what a sync wants). Never touches the run. */
#ifndef DHIS2SYNC_META_IMPORT_H
#define DHIS2SYNC_META_IMPORT_H

#include <cJSON.h>
#include <stdbool.h>
#include <stddef.h>

#include "err.h"

struct dhis2_client;

struct meta_import_options {
    const char *strategy;  /* CREATE_AND_UPDATE | CREATE | UPDATE | DELETE */
    bool atomic_all;       /* atomicMode=ALL, else NONE */
    bool dry_run;          /* importMode=VALIDATE */
    bool async;
    long async_timeout_s;
};

struct meta_report {
    char status[16];     /* "OK", "WARNING", "ERROR" as DHIS2 wrote it */
    long created, updated, deleted, ignored, total;
    long errors;         /* error reports (one object may have several) */
    long refused;        /* objects with at least one error report */
};

/* Called per refused object: klass as DHIS2 writes it ("org.hisp.dhis.dataelement.DataElement"
 * or "DataElement"), its uid (may be NULL), the first error's code and message, and all its
 * error reports. */
typedef void (*meta_refused_fn)(void *ud, const char *klass, const char *uid, const char *code,
                                const char *message, const cJSON *error_reports);

/* Posts json (len bytes: {"dataElements":[…],…}) and reads the report into out, calling fn
 * per refused object (fn may be NULL). 0 whenever a report was read, whatever its status. */
int meta_import_post(struct dhis2_client *c, const char *json, size_t len,
                     const struct meta_import_options *o, struct meta_report *out,
                     meta_refused_fn fn, void *ud, struct err *e);

/* Reads an ImportReport answer (either shape). Exposed for tests. */
int meta_import_parse(const cJSON *answer, struct meta_report *out, meta_refused_fn fn, void *ud,
                      struct err *e);

#endif
