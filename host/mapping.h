/* mapping.h — one compiled version of a mapping (mappings/NAME.lua) and applying it.
 *
 * Owns: compiling a mapping file in a fresh sandboxed Lua state (lua_host.h), copying its
 * lookup tables (dataElements, categoryOptionCombos, attributeOptionCombos, orgUnits, periods)
 * into C hash tables at load, the per-value fast path (no Lua unless `transform` is defined),
 * calling `transform`, `aggregate = "sum"`, and the version's refcount.
 * Never: reads files other than the mapping, its CSV files and scripts/ modules; talks to
 * DHIS2 (metadata lookups come from the caller through struct mapping_lookup).
 *
 * A compiled version is immutable. Thread-safety: any number of threads may call
 * mapping_apply on the same version at once; values that need no `transform` never lock
 * anything; `transform` calls into the version's single Lua state are serialised by a mutex
 * (one state per version, not per run: a transform costs ~1 µs, so the lock is short, and
 * memory stays one state per mapping). */
#ifndef DHIS2SYNC_MAPPING_H
#define DHIS2SYNC_MAPPING_H

#include <cJSON.h>
#include <stdbool.h>
#include <stddef.h>

#include "datavalue.h"
#include "err.h"
#include "lua_host.h"

struct mapping;

/* Compiles the mapping in `path` (a file NAME.lua; its CSV files are read from its directory)
 * with modules from scripts_dir. name is the mapping's name (used in messages). lim may be
 * NULL (defaults). On success *out holds one reference. Errors: ERR_NOT_FOUND (no such file),
 * ERR_SCRIPT ("district.lua:12: message"). */
int mapping_compile(const char *name, const char *path, const char *scripts_dir,
                    struct mapping **out, struct err *e);
/* The same with limits other than the defaults (lim may be NULL). */
int mapping_compile_with(const char *name, const char *path, const char *scripts_dir,
                         const struct lua_host_limits *lim, struct mapping **out, struct err *e);
/* The same from source text held by the caller (e.g. a PUT body not yet written): dir is
 * where its CSV files are. */
int mapping_compile_source(const char *name, const char *dir, const char *scripts_dir,
                           const char *src, size_t len, const struct lua_host_limits *lim,
                           struct mapping **out, struct err *e);

/* The identity mapping (no tables, no transform) for jobs with no mapping; static, retain and
 * release are no-ops on it. */
struct mapping *mapping_identity(void);

struct mapping *mapping_retain(struct mapping *m);
void mapping_release(struct mapping *m);

const char *mapping_name(const struct mapping *m);
/* A short content hash (12 hex digits) of the source and of every file it read (modules, CSV
 * files): equal versions behave the same. "identity" for mapping_identity(). */
const char *mapping_version(const struct mapping *m);
/* The source text of this version (NUL-terminated), for GET /api/mappings/{name}. */
const char *mapping_source(const struct mapping *m, size_t *len);

enum map_unmapped { MAP_UNMAPPED_SKIP, MAP_UNMAPPED_KEEP, MAP_UNMAPPED_ERROR };
enum map_kind { MAP_DE, MAP_COC, MAP_AOC, MAP_OU, MAP_PE, MAP_KINDS };

struct mapping_stats {
    long table_size[MAP_KINDS];  /* -1: table not declared (ids pass unchanged) */
    int has_transform;
    int aggregate_sum;
    enum map_unmapped unmapped;
    size_t lua_memory;           /* bytes held by the Lua state */
};
void mapping_stats(const struct mapping *m, struct mapping_stats *st);
/* Calls fn with each target id the table of kind k maps to (repeats included; none when the
 * table is not declared), stopping at fn's first non-zero return, which it returns. */
int mapping_table_targets(const struct mapping *m, enum map_kind k,
                          int (*fn)(void *ud, const char *target), void *ud);
/* "dataElements", "categoryOptionCombos", ... */
const char *mapping_kind_name(enum map_kind k);

enum map_result { MAP_OK, MAP_SKIP, MAP_ERROR };

/* Maps one value. out receives the mapped value; its strings point into `in`'s strings, into
 * this version's tables or into arena `a`: keep `in`'s arena and a reference to the version
 * until out is used. lookup may be NULL (lookups in transform then find nothing).
 * MAP_SKIP: dropped on purpose (unmapped id with unmapped="skip", an id mapped to false,
 * transform returned nil), why says which. MAP_ERROR: why holds "district.lua:12: message"
 * (or the unmapped id with unmapped="error"). why may be NULL. */
enum map_result mapping_apply(struct mapping *m, const struct datavalue *in, struct datavalue *out,
                              struct arena *a, const struct mapping_lookup *lookup,
                              struct err *why);

/* ---- objects: metadata and tracker data ---------------------------------------------------
 * The same file may declare, beside the data value keys, the id tables programs,
 * programStages, trackedEntityAttributes, options (dataElements, orgUnits and
 * categoryOptionCombos apply to every kind) and the functions metadata(obj, type, ctx),
 * event(ev, ctx) and trackedEntity(te, ctx). The tables are read at compile into C hash
 * tables like the data value ones; a function sees the object as Lua tables made by lua_json.h
 * (null is ctx.null, arrays and objects are marked so [] and {} come back as they went in) and
 * an object it returns unchanged comes back equal, key order included. */

/* The target id of source id `id` in the table named `table` ("programs", "dataElements",
 * "orgUnits", "categoryOptionCombos", ...). MAP_OK with *out set: the table maps it, or it is not
 * declared (*out = id), or unmapped = "keep". MAP_SKIP: unmapped = "skip" (the default) or an
 * id mapped to false. MAP_ERROR: unmapped = "error"; why names the table and the id. *out
 * points into the version's tables or is id. Lock-free. */
enum map_result mapping_map_id(const struct mapping *m, const char *table, const char *id,
                               const char **out, struct err *why);
/* Whether the mapping declares the id table `table`. "organisationUnits" (the metadata API's
 * name) means the orgUnits table, here and in mapping_map_id. */
bool mapping_has_table(const struct mapping *m, const char *table);
/* Whether the mapping defines the function fn ("metadata", "event", "trackedEntity"). */
bool mapping_has_function(const struct mapping *m, const char *fn);
/* Calls the mapping's function fn with *obj as a Lua table (type, when not NULL, as second
 * argument; then ctx, as transform gets it), with the budgets of a transform call. MAP_OK: *obj
 * is replaced by the object it returned (a new cJSON; the old one deleted), or left as it is
 * when the mapping does not define fn. MAP_SKIP: it returned nil (why says so). MAP_ERROR: why
 * holds "file.lua:12: message" (a result JSON cannot hold names the function's line and where
 * in the object: "file.lua:3: event returned a function, which JSON cannot hold (at .x)"); on
 * MAP_SKIP and MAP_ERROR *obj is left as it was. lookup as for mapping_apply; its stop ends a
 * stuck function. Converting the object both ways is charged to the call's instruction budget.
 * Thread-safe as mapping_apply (calls into the version's Lua state take its mutex). */
enum map_result mapping_apply_object(struct mapping *m, const char *fn, cJSON **obj,
                                     const char *type, const struct mapping_lookup *lookup,
                                     struct err *why);

/* Runs `transform` once on a sample value (the mapping's `sample` field if it declares one,
 * else one made from its tables) as a reload canary. 0, or ERR_SCRIPT with why filled. */
int mapping_canary(struct mapping *m, struct err *why);

/* With aggregate = "sum": combines the values of vals[0..n) that share a target key
 * (dataElement, period, orgUnit, categoryOptionCombo, attributeOptionCombo) into the first of
 * them, in place, keeping the order of first appearance; returns the new count. Numeric values
 * are summed (integers stay integers); deleted values do not count; if a key has a non-numeric
 * value, the last value for that key is kept and `note` says so (note->code = ERR_INPUT; note
 * may be NULL). Without aggregate, returns n and changes nothing. New strings go to `a`. */
size_t mapping_aggregate(const struct mapping *m, struct datavalue *vals, size_t n,
                         struct arena *a, struct err *note);

#endif
