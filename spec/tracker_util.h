/* tracker_util.h — DHIS2 emulators with tracker data for the tests that need them (the
 * emulator's own tracker tests, tracker sync tests): start one with any arguments, call its
 * API expecting a status, read a JSON path, compare two emulators' tracker data. */
#ifndef DHIS2SYNC_TRACKER_UTIL_H
#define DHIS2SYNC_TRACKER_UTIL_H

#include <sys/types.h>

#include "harness.h"

struct tu_emu {
    pid_t pid;
    int port;
    char url[64];
    /* set by tu_emu_generate: the generated programs, stages and an org unit of them */
    char event_program[12], event_stage[12], tracker_program[12], birth_stage[12];
    char tet[12], facility[12], root[12];
};
/* Starts the emulator with args (NULL-terminated, after --port) and waits until it answers. */
void tu_emu_start(struct tu_emu *e, const char *const args[]);
/* --generate values=0,orgunits=50,seed=S,events=N,trackedEntities=M [--version V]; fills the
 * ids above. version may be NULL (the emulator's default). */
void tu_emu_generate(struct tu_emu *e, long events, long tracked_entities, unsigned long seed,
                     const char *version);
void tu_emu_stop(struct tu_emu *e);
/* An API call (admin:district) that must answer expect; its body as JSON (caller deletes). */
cJSON *tu_call(struct tu_emu *e, const char *method, const char *path, const char *body, long expect);
/* The value at a dotted path ("response.id", "stats.created", "events.0.event"). */
const cJSON *tu_at(const cJSON *o, const char *path);
const char *tu_str(const cJSON *o, const char *path);
double tu_num(const cJSON *o, const char *path); /* -1 when absent */
/* GET /emulator/tracker/digest (caller deletes). */
cJSON *tu_digest(struct tu_emu *e);

#endif
