/* mdimport.h — what POST /api/metadata's parts share (mdimport.c: reading, validating,
 * applying, reporting; mdcombos.c: the option combos a category combo generates). Internal to
 * the emulator's metadata import. */
#ifndef DHIS2SYNC_EMU_MDIMPORT_H
#define DHIS2SYNC_EMU_MDIMPORT_H

#include "emu.h"

struct item {
    const char *col;
    const struct md_type *type;
    int rank, index;   /* index: position in its posted array */
    cJSON *obj;        /* in the payload tree */
    cJSON *parent;     /* the posted array */
    const char *uid;
    cJSON *existing;   /* the stored object, NULL when new */
    bool is_new;       /* when the import began */
    cJSON *errors;     /* errorReports, NULL while valid */
};

struct ctx {
    struct emu *emu;
    struct metadata *md;
    const struct md_import_opts *o;
    bool v43;
    struct item *items;
    int n;
    struct strmap by_key; /* "col/uid" -> item */
    char **keys;
    cJSON *defaults;      /* payload uid of a `default` object -> the store's uid */
    struct strmap refd;   /* DELETE: "col/uid" of what stored objects reference -> item of a referrer's type */
    char **refd_keys;
    int n_refd_keys;
    char **refd_by;       /* short class of the referrer, per refd value */
    uint8_t *used[3];     /* DELETE: data elements, org units, option combos that values name */
    bool oom;
};

/* The stored object col/uid, or NULL. */
cJSON *mdi_stored(struct ctx *c, const char *col, const char *uid);
/* The payload item for col/uid, or -1. */
int mdi_posted(struct ctx *c, const char *col, const char *uid);
/* The store's array for col, made when missing. */
cJSON *mdi_store_array(struct metadata *md, const char *col);
/* Adds an errorReport to it (refusing it) with DHIS2's fields. */
void mdi_add_error(struct ctx *c, struct item *it, const char *code, const char *error_col,
                   const char *property, const char *value, const char *fmt, ...)
    __attribute__((format(printf, 7, 8)));

/* mdcombos.c: 2.43's rules for posted option combos (E1130-E1132). */
void mdi_check_coc_43(struct ctx *c, struct item *it);
/* mdcombos.c: the option combos that combos touched by the import lack, made as DHIS2 does. */
int mdi_generate_cocs(struct ctx *c, const char *now);

#endif
