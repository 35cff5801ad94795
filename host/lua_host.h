/* lua_host.h — one sandboxed Lua 5.4 state: its environment, budgets and error reports.
 *
 * Owns: the state (custom allocator with a memory cap), the sandbox environment (built by
 * adding allowed functions to fresh tables, frozen after load), the restricted `require`
 * (modules under scripts/ only), the restricted file read for CSV tables beside the mapping,
 * the per-call instruction budget and wall-clock deadline, and turning any failure into
 * `file.lua:LINE: message`.
 * Never: touches the network, reads a file outside scripts/ or the mapping's own directory,
 * loads bytecode, or lets a script error escape as a panic.
 *
 * A struct lua_host is NOT thread-safe: one thread at a time (mapping.c serialises calls with
 * a mutex). Everything Lua-facing is documented in scripts/README.md. */
#ifndef DHIS2SYNC_LUA_HOST_H
#define DHIS2SYNC_LUA_HOST_H

#include <lua.h>
#include <stddef.h>
#include <stdint.h>

#include "err.h"

/* Metadata lookups the sync engine offers to mappings during a run (d2.meta, ctx.byCode).
 * kind is a table name: "dataElements", "categoryOptionCombos", "attributeOptionCombos",
 * "orgUnits", "categoryCombos", "dataSets"... Each function writes the target instance's id
 * into out_id (NUL-terminated) and returns 0, returns -1 when there is no such object, or
 * returns -2 when it could not ask (the target did not answer) with the reason in out_id —
 * that raises an error in the mapping, so the value fails visibly instead of being treated as
 * unknown. A function may be NULL (= nothing found). Called from the thread that runs the mapping,
 * once per Lua call (no caching on the Lua side): keep it an in-memory lookup. */
struct mapping_lookup {
    int (*by_code)(void *ud, const char *kind, const char *code, char *out_id, size_t size);
    int (*by_name)(void *ud, const char *kind, const char *name, char *out_id, size_t size);
    /* Nonzero once the run was asked to stop (cancel, shutdown): polled with the call's clock
     * (about every 1000 instructions and in long library calls), it ends the call with
     * "stopped: the run was cancelled", so a mapping stuck in a call does not hold the run.
     * May be NULL. */
    int (*stop)(void *ud);
    void *ud;
};

struct lua_host_limits {
    size_t mem_cap;          /* bytes per state (default 64 MiB) */
    long call_instructions;  /* VM instructions per call, e.g. one transform (default 5M) */
    int call_ms;             /* wall clock per call (default 500 ms) */
    long load_instructions;  /* for running the mapping file itself (default 500M) */
    int load_ms;             /* default 10 s */
};

/* The defaults above. */
void lua_host_default_limits(struct lua_host_limits *lim);

struct lua_host;

/* A fresh sandboxed state for mapping `name` whose file lives in mapping_dir (CSV files are
 * read from there) with modules from scripts_dir. lim may be NULL (defaults). NULL on failure
 * (e filled). */
struct lua_host *lua_host_new(const char *name, const char *mapping_dir, const char *scripts_dir,
                              const struct lua_host_limits *lim, struct err *e);
void lua_host_free(struct lua_host *h);

/* The raw state, for the caller's own marshaling (mapping.c). */
lua_State *lua_host_state(struct lua_host *h);
const char *lua_host_name(const struct lua_host *h);

/* Compiles src (text only, never bytecode) as file `chunkname` (e.g. "district.lua") in the
 * sandbox and runs it under the load budget. On success its first result is left on the stack
 * and 0 is returned; else ERR_SCRIPT with "district.lua:12: message". */
int lua_host_run_chunk(struct lua_host *h, const char *chunkname, const char *src, size_t len,
                       struct err *e);

/* Calls fn(args) — the function below nargs arguments on the stack — under the call budget,
 * memory cap and a traceback handler; nresults results are left on the stack on success
 * (nothing on failure). A script that hits a budget or the cap fails even if it catches the
 * error itself with pcall. Returns 0 or ERR_SCRIPT (e: "district.lua:12: message"). */
int lua_host_call(struct lua_host *h, int nargs, int nresults, struct err *e);

/* For C functions the sandbox can call whose work is not made of VM instructions (pattern
 * matching, table.move...): charges `cost` instructions to the current call's budget, checks
 * its clock and the run's stop flag, and raises the call's stop error when one is over. */
void lua_host_spend(lua_State *L, long cost);

/* Makes the environment read-only: later assignments to globals raise. Call after load. */
void lua_host_freeze(struct lua_host *h);

/* Pushes the (frozen proxy of the) sandbox environment. */
void lua_host_push_env(struct lua_host *h);
/* Pushes the table of host functions handed to scripts/ modules (read, byCode, byName, log,
 * mapping). */
void lua_host_push_hostlib(struct lua_host *h);
/* Replaces the table on top of the stack with a read-only proxy of it. */
void lua_host_make_readonly(struct lua_host *h);

/* The lookups in effect for the next calls (may be NULL: lookups find nothing and say so). */
void lua_host_set_lookup(struct lua_host *h, const struct mapping_lookup *lk);

/* FNV-1a 64 of every file the state read (modules and CSV files), in read order. */
uint64_t lua_host_files_digest(const struct lua_host *h);
/* Bytes the state holds now. */
size_t lua_host_memory(const struct lua_host *h);

/* Splits "district.lua:12: message" into file, line and message (pointer into msg). Returns 0
 * if msg starts with such a location, -1 otherwise (file = "", line = 0, *rest = msg). */
int lua_host_error_location(const char *msg, char *file, size_t size, int *line,
                            const char **rest);

/* FNV-1a 64, the hash used for versions (seed: 0 for a fresh hash). */
uint64_t lua_host_fnv1a(uint64_t seed, const void *data, size_t len);

#endif
