/* meta_run.h — the state of one metadata run, shared by its steps: meta_walk.c (which objects
 * belong to the job, fetched once and spooled) and meta_sync.c (what is sent, and deletions).
 * Memory: ids live in one arena and hash sets (about 60 bytes an id); objects live in the
 * spool files on disk between the two steps, never all at once in memory. */
#ifndef DHIS2SYNC_META_RUN_H
#define DHIS2SYNC_META_RUN_H

#include <stdio.h>

#include "datavalue.h"
#include "meta_job.h"
#include "strmap.h"
#include "sync_kind.h"

/* At most this many ids in one `id:in:[…]` filter: DHIS2 answers 414 to long URLs. */
enum { META_CHUNK = 200 };

struct meta_type_run {
    const struct meta_type *type;
    struct strmap seen;    /* ids of this type that belong to the job: val META_PENDING or META_FETCHED */
    const char **pending;  /* seen but not fetched yet: [head, n_pending), first come first
                              fetched, so that a listing's order (parents first) is kept */
    size_t head, n_pending, cap_pending;
    FILE *spool;           /* fetched objects, one JSON line each */
    long long spooled;
};

extern const char META_PENDING[], META_FETCHED[], META_HAS[], META_LACKS[];

struct meta_run {
    struct sync_run *r;
    struct meta_job job;
    struct dhis2_client *src, *dst;
    const char *since;        /* NULL: a full run */
    bool cocs_generated;      /* the target generates category option combos (2.43+) */
    bool copy_org_units;      /* the job names organisationUnits */
    struct arena ids;
    struct meta_type_run *t;  /* meta_n_types of them, in meta_types order */
    struct strmap target_has; /* target ids asked about: META_HAS or META_LACKS */
    struct strmap parents;    /* fetched org units: id -> parent id (NULL for none) */
    long long seen_total, fetched_total;
};

/* Whether a reference to type (`follow` as its rule says) brings its object along in this
 * run: the job's `dependencies`, and org units only when the job names them. */
bool meta_follows(const struct meta_run *mr, const char *type, bool follow);

/* Steps 1 and 2: the job's objects and their dependencies, fetched and spooled. */
int meta_walk(struct meta_run *mr, struct err *e);

/* Asks the target which of ids[0..n) (of type t) it holds, into mr->target_has; ids already
 * asked are not asked again. */
int meta_target_check(struct meta_run *mr, const struct meta_type *t, const char *const *ids,
                      size_t n, struct err *e);
/* How many of the org unit's ancestors the run fetched too (0: none), for sending parents
 * before their children. */
int meta_org_unit_depth(const struct meta_run *mr, const char *id);
/* Whether the target holds id (after meta_target_check). */
bool meta_target_has(const struct meta_run *mr, const char *id);

/* A filter "prop:in:[a,b,…]" of ids[0..n) (n ≤ META_CHUNK); malloc'd or NULL. */
char *meta_in_filter(const char *prop, const char *const *ids, size_t n);

#endif
