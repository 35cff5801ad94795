/* tracker_sync_util.h — helpers of the tracker job tests (spec/tracker_sync_test.c and the long
 * run's 100 k case): a source and a target emulator (tracker_util.h) and a server, tracker jobs
 * and their runs, and the state of a target compared with its source's through DHIS2's own
 * tracker API. */
#ifndef DHIS2SYNC_TRACKER_SYNC_UTIL_H
#define DHIS2SYNC_TRACKER_SYNC_UTIL_H

#include <stdbool.h>

#include "harness.h"
#include "sched_util.h"
#include "tracker_read.h"
#include "tracker_util.h"

struct tk_pair {
    long events, tracked_entities; /* the source's generated data */
    unsigned long seed;
    const char *version;           /* both emulators' --version, or NULL */
    char *const *env;              /* the server's extra environment, or NULL */
    const char *const *renames;    /* uid pairs (old, new, ..., NULL) renamed in the target's
                                    * metadata, or NULL */
};
/* A generated source (its programs and root in src), a target with the same metadata and no
 * data, a server with both as instances "src" and "dst". */
void tk_start_pair(struct spec_server *s, struct tu_emu *src, struct tu_emu *dst, const struct tk_pair *o);
/* A tracker job `name` from src to dst of the source's two programs under its root, with
 * children; extra: more JSON members, or NULL. */
void tk_add_job(struct spec_server *s, const char *name, const struct tu_emu *src, const char *extra);
long long tk_queue_run(struct spec_server *s, const char *job, const char *query);
/* Waits until the run has ended; its JSON (caller deletes). */
cJSON *tk_wait_done(struct spec_server *s, long long id, int timeout_s);
cJSON *tk_run_once(struct spec_server *s, const char *job, const char *query);
/* A run of job that must succeed (else the test fails at line, printing the run). */
cJSON *tk_run_succeeded(int line, struct spec_server *s, const char *job, const char *query);
long long tk_counted(const cJSON *run, const char *key);
/* Every live object of type t of the program under the root, as sorted lines of what a copy
 * keeps (uids, times, org units, values, attributes); *n gets their number. minor: the
 * emulator's version, 2.<minor>. edit, unless NULL, may change each object first, or leave it
 * out by returning false. Caller frees. */
char *tk_state(struct tu_emu *m, const char *program, const char *root, enum tracker_type t,
               int minor, bool (*edit)(cJSON *item, void *ud), void *ud, int *n);
/* Fails the test (at line) unless the target holds exactly the source's live objects of both
 * programs; returns how many there are. */
int tk_check_same(int line, struct tu_emu *src, struct tu_emu *dst, int minor);
/* The same, where the target must hold the source's objects as edit changes them. */
int tk_check_expected(int line, struct tu_emu *src, struct tu_emu *dst, int minor,
                      bool (*edit)(cJSON *item, void *ud), void *ud);

#endif
