#include "tracker_read.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "dhis2.h"

static const char *const names[TRACKER_TYPES] = {"trackedEntity", "enrollment", "event"};
static const char *const collections[TRACKER_TYPES] = {"trackedEntities", "enrollments", "events"};
static const char *const report_names[TRACKER_TYPES] = {"TRACKED_ENTITY", "ENROLLMENT", "EVENT"};
/* Relationships are not synced, and children are read on their own (each with its own
 * updatedAt), so a parent is read without them. */
static const char *const fields[TRACKER_TYPES] = {
    "*,!relationships,!enrollments,!events,!programOwners",
    "*,!relationships,!events",
    "*,!relationships",
};

const char *tracker_type_name(enum tracker_type t)
{
    return names[t];
}

const char *tracker_type_collection(enum tracker_type t)
{
    return collections[t];
}

int tracker_type_from_report(const char *tracker_type)
{
    for (int t = 0; tracker_type && t < TRACKER_TYPES; t++)
        if (strcmp(tracker_type, report_names[t]) == 0)
            return t;
    return -1;
}

char *tracker_read_query(const struct tracker_query *q, int page)
{
    char num[16], size[16], order[64];
    snprintf(num, sizeof num, "%d", page);
    snprintf(size, sizeof size, "%d", q->page_size);
    /* updatedAt alone leaves ties in any order from one page to the next; the uid breaks them */
    snprintf(order, sizeof order, "updatedAt:asc,%s:asc", names[q->type]);
    /* 2.41 renamed ouMode and made the org unit of tracked entities and enrollments a list */
    bool renamed = q->minor >= 41;
    const char *ou_key = q->type != TRACKER_EVENT && renamed ? "orgUnits" : "orgUnit";
    char *s = NULL;
    if (dhis2_query_add(&s, "program", q->program) ||
        dhis2_query_add(&s, ou_key, q->org_unit) ||
        dhis2_query_add(&s, renamed ? "orgUnitMode" : "ouMode",
                        q->children ? "DESCENDANTS" : "SELECTED") ||
        dhis2_query_add(&s, "updatedAfter", q->updated_after) ||
        dhis2_query_add(&s, "occurredAfter", q->type == TRACKER_EVENT ? q->occurred_after : NULL) ||
        dhis2_query_add(&s, "includeDeleted", q->include_deleted ? "true" : NULL) ||
        dhis2_query_add(&s, "order", order) || dhis2_query_add(&s, "fields", fields[q->type]) ||
        dhis2_query_add(&s, "page", num) || dhis2_query_add(&s, "pageSize", size) ||
        dhis2_query_add(&s, "totalPages", "false")) {
        free(s);
        return NULL;
    }
    return s;
}

cJSON *tracker_page_items(cJSON *body, enum tracker_type t, int page, int page_size, bool *more,
                          struct err *e)
{
    /* 2.41+ name the list after the collection; 2.40 calls every list `instances` */
    cJSON *items = cJSON_GetObjectItemCaseSensitive(body, collections[t]);
    if (!cJSON_IsArray(items))
        items = cJSON_GetObjectItemCaseSensitive(body, "instances");
    if (!cJSON_IsArray(items)) {
        err_set(e, ERR_NET, "the answer to /api/tracker/%s has neither `%s` nor `instances`",
                collections[t], collections[t]);
        return NULL;
    }
    int n = cJSON_GetArraySize(items);
    *more = n > 0 && n >= page_size;
    /* a pager (2.41+) or the top-level fields (2.40) that count pages settle it */
    const cJSON *pager = cJSON_GetObjectItemCaseSensitive(body, "pager");
    const cJSON *count = cJSON_GetObjectItemCaseSensitive(cJSON_IsObject(pager) ? pager : body,
                                                          "pageCount");
    if (cJSON_IsNumber(count) && count->valuedouble >= 0)
        *more = *more && page < count->valuedouble;
    return items;
}

int tracker_read(struct dhis2_client *c, const struct tracker_query *q, tracker_page_fn fn,
                 void *ud, struct err *e)
{
    char path[64];
    snprintf(path, sizeof path, "/api/tracker/%s", collections[q->type]);
    bool more = true;
    int rc = 0;
    for (int page = 1; more && rc == 0; page++) {
        char *query = tracker_read_query(q, page);
        if (!query)
            return err_set(e, ERR_INTERNAL, "out of memory");
        cJSON *body = NULL;
        rc = dhis2_get(c, path, query, &body, e);
        free(query);
        if (rc)
            break;
        cJSON *items = tracker_page_items(body, q->type, page, q->page_size, &more, e);
        rc = items ? fn(ud, items, e) : ERR_NET;
        cJSON_Delete(body);
    }
    return rc;
}
