/* metrics.h — the counters behind GET /metrics (Prometheus text format 0.0.4).
 * Owns the in-process counters (HTTP requests, mapping reloads) as C11 atomics, safe to bump
 * from any thread, and renders the whole exposition: those counters plus figures read from
 * the database (runs by status, values, conflicts), so that runs of every process (serve and
 * workers on other hosts) are counted. Never blocks a caller that bumps a counter. */
#ifndef DHIS2SYNC_METRICS_H
#define DHIS2SYNC_METRICS_H

#include <libpq-fe.h>
#include <stddef.h>

#include "err.h"

/* Records the process start time (called once by main before serving; idempotent). */
void metrics_init(void);
/* One finished HTTP request (http.c calls it once per response). Unknown methods count as
 * method="other", so callers cannot grow the label set. */
void metrics_http_request(const char *method, int status);
/* One hot reload of a mapping: ok = 1 compiled and swapped in, 0 failed (last good kept). */
void metrics_mapping_reload(int ok);
/* Or, instead of calling metrics_mapping_reload, a snapshot of totals kept elsewhere (e.g. the
 * mapping registry's counters, set just before rendering): reloads taken in, failed compiles. */
void metrics_mapping_totals(unsigned long long reloads_ok, unsigned long long reloads_error);
/* How many mappings are in the error state right now (set after a scan, or before rendering). */
void metrics_mapping_errors_set(long n);

/* Renders the exposition into *out (malloc-ed, caller frees). c may be NULL (database
 * unreachable): the database families are then left out and dhis2sync_db_up is 0. */
int metrics_render(PGconn *c, char **out, size_t *len, struct err *e);

#endif
