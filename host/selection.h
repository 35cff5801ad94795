/* selection.h — what a job's `periods` select for each of its data sets and data element
 * groups. DHIS2 answers a data set asked with periods of another type with nothing at all, so
 * a window ("last 12 Monthly") becomes, for every period type the job's data sets and groups
 * have at the source, the periods of that type overlapping the window. Whatever the run
 * selects beyond or apart from the literal window, or cannot select, is said in warnings. */
#ifndef DHIS2SYNC_SELECTION_H
#define DHIS2SYNC_SELECTION_H

#include <cJSON.h>
#include <stddef.h>
#include <stdint.h>

#include "dhis2.h"
#include "err.h"

/* The data sets and groups asked together with one list of periods. */
struct sel_part {
    const char **data_sets; /* NULL-terminated, borrowed from the job's spec */
    const char **groups;    /* NULL-terminated, borrowed */
    char **periods;         /* NULL-terminated ISO periods, or NULL: the job's date window */
};

struct selection {
    struct sel_part *parts;
    size_t n_parts;
    cJSON *warnings;  /* array of sentences for the run */
    cJSON *refusals;  /* array of {"field","message"}: data sets a fixed list serves no period
                         of; each message reads after the words "Fixed periods" */
};

/* GET /api/<kind>?fields=…&filter=<path>:in:[…] over every id of items (objects with "id", or
 * strings), a hundred at a time to keep URLs short; fn gets each item found. */
int selection_list_in(struct dhis2_client *src, const char *kind, const char *fields,
                      const char *path, const cJSON *items, dhis2_item_fn fn, void *ud,
                      struct err *e);
/* A NULL-terminated list of arr's strings (borrowed from arr); caller frees the list. */
const char **selection_strings(const cJSON *arr);
/* Plans spec's selection (a normalised job spec) as of `today`, asking src for the period types
 * of the job's data sets and of the data sets holding its groups' data elements. A date window
 * needs no question. ERR_INPUT when a data set is not at the source; ERR_NET and friends from
 * src. */
int selection_plan(struct dhis2_client *src, const cJSON *spec, int32_t today,
                   struct selection *out, struct err *e);
void selection_free(struct selection *s);

#endif
