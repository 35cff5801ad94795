/* sched_util.h — helpers shared by the scheduler, notification and scale-out tests (and the
 * long acceptance run): SQL on the test database, polling for a state, DHIS2 emulators, extra
 * `dhis2sync worker` processes, and comparing a target's values with its source's. */
#ifndef DHIS2SYNC_SCHED_UTIL_H
#define DHIS2SYNC_SCHED_UTIL_H

#include <libpq-fe.h>
#include <stdbool.h>
#include <sys/types.h>

#include "harness.h"

/* The API call that must answer expect_status; the body as JSON (caller deletes). */
cJSON *su_call(struct spec_server *s, const char *method, const char *path, const char *body,
               long expect_status);
const char *su_str(const cJSON *o, const char *key);
double su_num(const cJSON *o, const char *key);

PGconn *su_db(const char *conninfo);
/* The first column of the first row of a printf-formatted query as text (NULL for none or
 * SQL NULL); fails the test on an error. Caller frees. */
char *su_sql(PGconn *c, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
long long su_sql_int(PGconn *c, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
void su_sql_exec(PGconn *c, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* Polls the query (every 100 ms, up to timeout_ms) until its text equals expect; returns 0 when
 * it does, else fails the test printing the last value seen. */
int su_wait_sql(PGconn *c, int timeout_ms, const char *expect, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

/* The whole file (NULL if absent); caller frees. */
char *su_read_file(const char *path);
/* Polls the file until it contains needle; 0 when it does, -1 after timeout_ms. */
int su_wait_file(const char *path, const char *needle, int timeout_ms);

struct su_emu {
    pid_t pid;
    int port;
    char url[64];
    char ds_monthly[16], ds_quarterly[16], root[16];
};
/* A generated emulator (values, orgunits, seed); waits until it answers and reads the ids of
 * its data sets and its root org unit. */
void su_emu_start(struct su_emu *emu, long values, long orgunits, unsigned long seed);
/* GET path (with its query) as admin, expecting 200 with JSON (caller deletes). */
cJSON *su_emu_get(struct su_emu *emu, const char *path);
/* POST /emulator/faults with json (e.g. {"delayMs":300}); DELETE when json is NULL. */
void su_emu_faults(struct su_emu *emu, const char *json);
/* Every value of the monthly and quarterly data sets under the root as sorted lines
 * "de pe ou coc aoc value"; *n gets the count. Caller frees. */
char *su_emu_values(struct su_emu *emu, const char *data_set, long *n);
void su_emu_stop(struct su_emu *emu);

/* An instance named `name` for the emulator (admin:district). */
void su_instance(struct spec_server *s, const char *name, const char *url);

struct su_worker {
    pid_t pid;
    char log_path[4096];
    char id[300];   /* host:pid, how runs name it */
};
/* `dhis2sync worker` on db with extra env entries (NULL-terminated, may be NULL). */
void su_worker_start(struct su_worker *w, const char *db, char *const env[]);
/* SIGTERM; fails the test unless it exits 0 within 20 s. */
void su_worker_stop(struct su_worker *w);
void su_worker_kill(struct su_worker *w);

#endif
