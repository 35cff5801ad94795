/* web_util.h — what the browser tests' drivers share (defined in spec/web_test.c): DHIS2
 * emulators of their own and a spec/browser/ script run under node against a server. */
#ifndef DHIS2SYNC_WEB_UTIL_H
#define DHIS2SYNC_WEB_UTIL_H

#include <sys/types.h>

#include "harness.h"

struct emulator {
    pid_t pid;
    char base[64];
};

/* Starts an emulator with `--generate generate` on a free port, its log in dir. */
void emulator_start(struct emulator *em, const char *generate, const char *dir);
/* Runs spec/browser/<script> with the server's address and login (plus extra "K=V" entries,
 * NULL-terminated, may be NULL) and fails the test unless it exits 0. */
void run_browser_script(const char *script, struct spec_server *s, char *const extra[]);

#endif
