/* datavalue.h — one aggregate data value as it moves through a run, and the arena that owns
 * the strings of a batch of them. Fetched values, mapped values and posted values all use this
 * shape; strings are NUL-terminated and owned by an arena (or by a mapping's tables), never by
 * the struct, so copying a struct copies no text. */
#ifndef DHIS2SYNC_DATAVALUE_H
#define DHIS2SYNC_DATAVALUE_H

#include <stdbool.h>
#include <stddef.h>

struct datavalue {
    const char *data_element;
    const char *period;
    const char *org_unit;
    const char *category_option_combo;  /* NULL = the default combo */
    const char *attribute_option_combo; /* NULL = the default combo */
    const char *value;                  /* NULL = none (e.g. a deletion or a comment only) */
    const char *comment;
    const char *stored_by;
    const char *created;
    const char *last_updated;
    bool followup;
    bool deleted;
};

/* The string fields by index, in the order and with the names of DHIS2's JSON, for code that
 * treats them alike (JSON in and out, Lua tables, copies). */
enum datavalue_string {
    DV_DATA_ELEMENT, DV_PERIOD, DV_ORG_UNIT, DV_CATEGORY_OPTION_COMBO, DV_ATTRIBUTE_OPTION_COMBO,
    DV_VALUE, DV_STORED_BY, DV_CREATED, DV_LAST_UPDATED, DV_COMMENT, DV_STRINGS
};
extern const char *const datavalue_names[DV_STRINGS];
/* Inline: the copies of a run call it for every field of every value. */
static inline const char **datavalue_string(struct datavalue *dv, enum datavalue_string i)
{
    static const size_t at[DV_STRINGS] = {
        offsetof(struct datavalue, data_element),
        offsetof(struct datavalue, period),
        offsetof(struct datavalue, org_unit),
        offsetof(struct datavalue, category_option_combo),
        offsetof(struct datavalue, attribute_option_combo),
        offsetof(struct datavalue, value),
        offsetof(struct datavalue, stored_by),
        offsetof(struct datavalue, created),
        offsetof(struct datavalue, last_updated),
        offsetof(struct datavalue, comment),
    };
    return (const char **)(void *)((char *)dv + at[i]);
}

/* A bump allocator: many small allocations, one free. Blocks grow as needed. */
struct arena_block;
struct arena {
    struct arena_block *head;
    struct arena_block *spare; /* blocks kept by arena_reset for reuse */
    size_t used_bytes;  /* for memory accounting in benchmarks and tests */
};

void *arena_alloc(struct arena *a, size_t size);
/* Copies s (NULL stays NULL); returns NULL only when s is non-NULL and memory ran out. */
char *arena_strdup(struct arena *a, const char *s);
char *arena_strndup(struct arena *a, const char *s, size_t len);
/* Forgets every allocation; keeps up to a few MB of blocks for reuse (fresh pages cost more
 * than the copying they hold), frees the rest. */
void arena_reset(struct arena *a);
void arena_free(struct arena *a);

#endif
