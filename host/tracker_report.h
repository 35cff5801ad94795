/* tracker_report.h — one import into DHIS2's /api/tracker and the report it answers.
 * Owns the POST (importStrategy, atomicMode, importMode=VALIDATE for a dry run, sync or async
 * with the job polled at /api/tracker/jobs/{id} and its /report fetched) and reading the report
 * of any version (bare or WebMessage-wrapped): its status, its stats, and one entry per error
 * report, from validationReport and from bundleReport's object reports alike. Never counts,
 * lists or maps: the caller turns the report into the run's counts and conflicts. */
#ifndef DHIS2SYNC_TRACKER_REPORT_H
#define DHIS2SYNC_TRACKER_REPORT_H

#include <cJSON.h>
#include <stdbool.h>
#include <stddef.h>

#include "err.h"

struct dhis2_client;

struct tracker_error {
    int type;          /* enum tracker_type, or -1 (a relationship, an unknown type) */
    char uid[16];      /* "" when the report names none */
    char code[16];     /* "E1082" ... */
    char *message;
};

struct tracker_report {
    char status[16];   /* "OK", "WARNING", "ERROR" */
    long created, updated, deleted, ignored;
    struct tracker_error *errors;
    size_t n_errors;
};

void tracker_report_free(struct tracker_report *r);

/* Reads a report: a bare one or one inside a WebMessage's `response`. The same error (type,
 * uid, code) named by both the validation and the bundle report appears once. */
int tracker_report_parse(const cJSON *body, struct tracker_report *out, struct err *e);

/* True for the codes that say an object to delete is gone already (E1082 event, E1113
 * enrollment, E1114 tracked entity, E4017 relationship): the deletion is done. */
bool tracker_error_already_deleted(const char *code);

struct tracker_import {
    const char *strategy;   /* "CREATE_AND_UPDATE" or "DELETE" */
    bool atomic_all;        /* atomicMode=ALL, else OBJECT */
    bool dry_run;           /* importMode=VALIDATE */
    bool async;             /* post async and poll the job */
    long async_timeout_s;   /* async: give up after this long; 0 = 1800 */
};

/* POSTs json ({"events":[…]} or the like, len bytes) to /api/tracker and reads the report. */
int tracker_import(struct dhis2_client *c, const struct tracker_import *opt, const char *json,
                   size_t len, struct tracker_report *out, struct err *e);

#endif
