/* tracker_read.h — reading events, enrollments and tracked entities from a DHIS2 source, a
 * page at a time. Owns the query (program always set, org unit mode, updatedAfter,
 * includeDeleted, an explicit order so that paging is stable) and the three answer shapes:
 * 2.40's `instances` with top-level paging, 2.41's `pager` beside the deprecated top-level
 * fields, 2.42+'s `pager` alone. Never maps, posts or counts: the caller does, page by page,
 * so that memory holds one page whatever the number of objects. */
#ifndef DHIS2SYNC_TRACKER_READ_H
#define DHIS2SYNC_TRACKER_READ_H

#include <cJSON.h>
#include <stdbool.h>

#include "err.h"

struct dhis2_client;

/* In the order a target must see them: a parent before its children. */
enum tracker_type { TRACKER_TRACKED_ENTITY, TRACKER_ENROLLMENT, TRACKER_EVENT, TRACKER_TYPES };

/* "trackedEntity", "enrollment", "event": the object's uid key and the conflict item's type. */
const char *tracker_type_name(enum tracker_type t);
/* "trackedEntities", "enrollments", "events": the API collection and the payload key. */
const char *tracker_type_collection(enum tracker_type t);
/* From DHIS2's trackerType ("TRACKED_ENTITY", "ENROLLMENT", "EVENT"); -1 for others. */
int tracker_type_from_report(const char *tracker_type);

struct tracker_query {
    enum tracker_type type;
    const char *program;        /* always sent: 2.43 requires it */
    const char *org_unit;       /* one root */
    bool children;              /* DESCENDANTS, else SELECTED */
    const char *updated_after;  /* source timestamp, or NULL for everything */
    const char *occurred_after; /* yyyy-MM-dd, events only; NULL = none */
    bool include_deleted;
    int page_size;
    int minor;                  /* the source's version, 2.<minor> */
};

/* The query string of page `page` (1-based); malloc'd, NULL when out of memory. */
char *tracker_read_query(const struct tracker_query *q, int page);

/* The objects of one answered page, whatever its shape (NULL when the body has none: an error
 * names the shape), and whether another page may follow. Points into body. */
cJSON *tracker_page_items(cJSON *body, enum tracker_type t, int page, int page_size, bool *more,
                          struct err *e);

/* Called with each page's array of objects (the caller may take items out of it; the rest is
 * freed after the call). Return 0 to go on. */
typedef int (*tracker_page_fn)(void *ud, cJSON *items, struct err *e);

/* GET /api/tracker/<collection> for q, page after page until a short or empty page. */
int tracker_read(struct dhis2_client *c, const struct tracker_query *q, tracker_page_fn fn,
                 void *ud, struct err *e);

#endif
