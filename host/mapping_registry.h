/* mapping_registry.h — the set of mappings in the mappings directory, hot-reloaded.
 *
 * Owns: one entry per mappings/NAME.lua (NAME = [A-Za-z0-9_-]+), the version in use for new
 * runs (refcounted: runs keep the version they acquired; an old version is freed when its last
 * holder releases it), the last load error of each file, reload/error counters, an inotify
 * thread over the mappings directory and scripts/ (debounced), and atomic writes for
 * PUT /api/mappings/{name}.
 * A change is compiled in a new Lua state and given a canary call; only then does it replace
 * the version in use. A failed compile keeps the last good version and records the error.
 * Compiles hold no lock: a mapping that takes seconds to load holds up no other mapping, no
 * run acquiring a version and no request; of two compiles of one mapping, the one that read
 * the newer text wins.
 * Never: exposes a half-loaded version, or writes a file that does not compile.
 * All functions are thread-safe. */
#ifndef DHIS2SYNC_MAPPING_REGISTRY_H
#define DHIS2SYNC_MAPPING_REGISTRY_H

#include <stddef.h>
#include <time.h>

#include "err.h"
#include "mapping.h"

struct mapping_registry_config {
    const char *dir;          /* the mappings directory (NULL = "mappings"); created if absent */
    const char *scripts_dir;  /* modules for require (NULL = "scripts") */
    int watch;                /* 1: start the inotify thread (hot reload) */
    int debounce_ms;          /* quiet time before a change is compiled (0 = 250) */
    const struct lua_host_limits *limits; /* NULL = lua_host_default_limits */
};

struct mapping_info {
    char name[128];
    int loaded;               /* a good version is in use */
    char version[16];         /* the version in use, "" if none */
    int has_error;            /* the file on disk failed its last compile (or canary) */
    char error[256];          /* full message: "district.lua:12: message" */
    char error_file[128];     /* "district.lua" (or the CSV/module file the error is in) */
    int error_line;           /* 0 if the error has no line */
    char error_message[256];  /* the message without file:line */
    unsigned long reloads;    /* new versions taken in after the first load */
    unsigned long errors;     /* failed compiles */
    time_t loaded_at;         /* when the version in use was loaded */
    time_t error_at;          /* when the last error happened (0: none) */
};

struct mapping_registry;

/* Opens the directory, compiles every NAME.lua in it (failures are recorded, not fatal) and,
 * with cfg->watch, starts the watcher thread. */
int mapping_registry_open(const struct mapping_registry_config *cfg, struct mapping_registry **out,
                          struct err *e);
/* Stops the watcher and drops the registry's references (runs keep theirs). */
void mapping_registry_close(struct mapping_registry *r);

/* The version in use for mapping `name`, retained (release it with mapping_release).
 * NULL with ERR_NOT_FOUND (no such mapping), ERR_INPUT (bad name) or ERR_SCRIPT (the file
 * never compiled: e holds its error). */
struct mapping *mapping_registry_acquire(struct mapping_registry *r, const char *name,
                                         struct err *e);

/* Every mapping, sorted by name; *out is malloc'ed (caller frees). */
int mapping_registry_list(struct mapping_registry *r, struct mapping_info **out, size_t *n,
                          struct err *e);
/* One mapping's info: 0, or ERR_NOT_FOUND. */
int mapping_registry_info(struct mapping_registry *r, const char *name, struct mapping_info *out,
                          struct err *e);

/* Validates (compiles + canary) source as mapping `name`, then writes it atomically to
 * DIR/NAME.lua (temp file + fsync + rename) and makes it the version in use. ERR_INPUT (bad
 * name), ERR_SCRIPT (does not compile: nothing written, e holds "NAME.lua:LINE: message"),
 * ERR_INTERNAL (cannot write). */
int mapping_registry_write(struct mapping_registry *r, const char *name, const char *source,
                           size_t len, struct err *e);

/* mapping_registry_write, only if DIR/NAME.lua is still the file the writer read: its ETag
 * is in if_match (an HTTP If-Match value: "*" or ETags, comma-separated; NULL: no condition).
 * Else ERR_CONFLICT and nothing is written. The check and the write hold the registry's load
 * lock, so two editors saving at once cannot both win; an editor outside dhis2sync can still
 * race the rename. */
int mapping_registry_write_if(struct mapping_registry *r, const char *name, const char *source,
                              size_t len, const char *if_match, struct err *e);

/* The file DIR/NAME.lua as it is on disk now (which may differ from the version in use):
 * its text (*src malloc'ed, NUL-terminated) and ETag. ERR_NOT_FOUND if there is no file. */
#define MAPPING_ETAG_SIZE 24
int mapping_registry_read_file(struct mapping_registry *r, const char *name, char **src,
                               size_t *len, char etag[MAPPING_ETAG_SIZE], struct err *e);
/* The ETag of a mapping file's text: a quoted hash of its bytes. */
void mapping_etag(const char *src, size_t len, char out[MAPPING_ETAG_SIZE]);

/* Compiles `name` (NULL: every mapping) from disk now, as the watcher would. For tests,
 * SIGHUP and registries opened without watch. */
void mapping_registry_reload(struct mapping_registry *r, const char *name);

/* Totals for /metrics: reloads and errors over the registry's life. */
void mapping_registry_counters(struct mapping_registry *r, unsigned long *reloads,
                               unsigned long *errors);

const char *mapping_registry_dir(const struct mapping_registry *r);
const char *mapping_registry_scripts_dir(const struct mapping_registry *r);

/* 1 if name is a valid mapping name: [A-Za-z0-9_-]+, at most 100 characters. */
int mapping_name_valid(const char *name);

#endif
