/* meta_deps.h — the metadata types a metadata job knows and, per type, the references it owns
 * and which of them bring the referenced object along as a dependency.
 *
 * Owns: the type table in import order (what must exist before what), each type's DHIS2 class
 * name (for /api/deletedObjects and import reports), the mapping table that rewrites its ids,
 * and the include rules: a data set brings its data elements, category combo, sections, legend
 * sets and indicators; a data element brings its category combo, option sets and legend sets;
 * an org unit brings only its parent; a data element never brings the data sets that contain
 * it (that is a reference DHIS2 keeps on the data set, not on the element). Org units come as
 * dependencies only when the job names organisationUnits in `objects`.
 * Never: talks to DHIS2 or reads a job; it only describes shapes. */
#ifndef DHIS2SYNC_META_DEPS_H
#define DHIS2SYNC_META_DEPS_H

#include <cJSON.h>
#include <stdbool.h>
#include <stddef.h>

/* One reference an object of a type owns: `path` is a key of the object holding {"id"} or a
 * list of {"id"}, or "list.key" for a list of objects each holding key:{"id"}
 * ("dataSetElements.dataElement"). */
struct meta_ref {
    const char *path;
    const char *type;  /* the collection referred to */
    bool follow;       /* a dependency: the referred object comes along */
};

/* Objects of another type that point at this one and belong with it (a data set's sections
 * say `dataSet`, not the other way round): listed with filter `<field>:in:[ids]`. */
struct meta_owned {
    const char *type;
    const char *field;   /* "dataSet.id" */
};

struct meta_type {
    const char *name;    /* API collection: "dataSets" */
    const char *klass;   /* DHIS2 class: "DataSet" */
    const char *table;   /* the mapping's id table for this type's ids ("orgUnits") */
    const struct meta_ref *refs;     /* {NULL} terminated */
    const struct meta_owned *owned;  /* {NULL} terminated, may be NULL */
};

/* Every known type, in the order an import needs them (referred types first). */
extern const struct meta_type meta_types[];
extern const size_t meta_n_types;

/* The type named name (API collection), or NULL. */
const struct meta_type *meta_type_find(const char *name);
/* The type whose class is klass ("DataElement" or "org.hisp.dhis.dataelement.DataElement"). */
const struct meta_type *meta_type_by_klass(const char *klass);
/* Position in meta_types (import order). */
size_t meta_type_index(const struct meta_type *t);

/* Calls fn for each id the object obj (of type t) refers to through r. fn may change nothing;
 * returning non-zero stops the walk with that value. */
int meta_ref_each(const cJSON *obj, const struct meta_ref *r,
                  int (*fn)(void *ud, const char *id), void *ud);

/* Rewrites or drops each reference of obj through r: fn gets the id and answers the id to
 * write (may be the same pointer), or NULL to drop the reference (a list entry is removed; a
 * single reference is removed from the object). Returns the number dropped, or -1 when out of
 * memory. */
int meta_ref_rewrite(cJSON *obj, const struct meta_ref *r,
                     const char *(*fn)(void *ud, const char *id), void *ud);

#endif
