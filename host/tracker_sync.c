#include "tracker_sync.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "dhis2.h"
#include "jobs.h"
#include "mapping.h"
#include "tracker_job.h"
#include "tracker_read.h"
#include "tracker_report.h"

/* Objects read per page when the batch size is smaller: each page costs the source a sort of
 * every object in the window, so a page holds several batches (a few MB in memory). */
enum { TRACKER_PAGE = 2000 };

struct tsync {
    struct sync_run *r;
    struct tracker_job job;
    struct mapping *m;
    struct dhis2_client *dst;
    struct tracker_import upsert, remove;
    enum tracker_type type; /* of the pages being read */
    bool options;           /* the mapping declares `options`: values may be option codes */
};

/* The references of each type that the id tables rewrite. */
struct ref {
    const char *key, *table;
};
static const struct ref refs[TRACKER_TYPES][5] = {
    [TRACKER_TRACKED_ENTITY] = {{"orgUnit", "orgUnits"}},
    [TRACKER_ENROLLMENT] = {{"program", "programs"}, {"orgUnit", "orgUnits"}},
    [TRACKER_EVENT] = {{"program", "programs"}, {"programStage", "programStages"},
                       {"orgUnit", "orgUnits"}, {"attributeOptionCombo", "attributeOptionCombos"}},
};
/* Each type's list of values: the key of the list, of the id in each entry, and its table. */
static const struct {
    const char *list, *key, *table;
} value_lists[TRACKER_TYPES] = {
    [TRACKER_TRACKED_ENTITY] = {"attributes", "attribute", "trackedEntityAttributes"},
    [TRACKER_ENROLLMENT] = {"attributes", "attribute", "trackedEntityAttributes"},
    [TRACKER_EVENT] = {"dataValues", "dataElement", "dataElements"},
};
/* The mapping's function for each type; enrollments have none. */
static const char *const functions[TRACKER_TYPES] = {"trackedEntity", NULL, "event"};

static const char *str(const cJSON *o, const char *key)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, key);
    return cJSON_IsString(v) ? v->valuestring : NULL;
}

/* Rewrites the string at o[key] through table; an absent key is left alone. */
static enum map_result map_string(struct mapping *m, cJSON *o, const char *key, const char *table,
                                  struct err *why)
{
    cJSON *v = cJSON_GetObjectItemCaseSensitive(o, key);
    if (!cJSON_IsString(v))
        return MAP_OK;
    const char *to = NULL;
    enum map_result res = mapping_map_id(m, table, v->valuestring, &to, why);
    if (res == MAP_OK && to != v->valuestring && strcmp(to, v->valuestring) != 0 &&
        !cJSON_SetValuestring(v, to)) {
        err_set(why, ERR_INTERNAL, "out of memory");
        return MAP_ERROR;
    }
    return res;
}

/* A data value or attribute whose id the table skips is left out of its object, not the whole
 * object; an option code the `options` table does not know is a plain value and stays. */
static enum map_result map_values(struct tsync *t, enum tracker_type type, cJSON *obj,
                                  struct err *why)
{
    cJSON *list = cJSON_GetObjectItemCaseSensitive(obj, value_lists[type].list);
    cJSON *v = list ? list->child : NULL;
    while (v) {
        cJSON *next = v->next;
        enum map_result res = map_string(t->m, v, value_lists[type].key, value_lists[type].table, why);
        if (res == MAP_ERROR)
            return res;
        if (res == MAP_SKIP) {
            cJSON_Delete(cJSON_DetachItemViaPointer(list, v));
        } else if (t->options) {
            struct err not_option = {0};
            if (map_string(t->m, v, "value", "options", &not_option) == MAP_ERROR &&
                not_option.code == ERR_INTERNAL) {
                err_set(why, ERR_INTERNAL, "out of memory");
                return MAP_ERROR;
            }
        }
        v = next;
    }
    return MAP_OK;
}

static enum map_result map_object(struct tsync *t, enum tracker_type type, cJSON **obj,
                                  const struct mapping_lookup *lookup, struct err *why)
{
    for (const struct ref *ref = refs[type]; ref < refs[type] + 5 && ref->key; ref++) {
        enum map_result res = map_string(t->m, *obj, ref->key, ref->table, why);
        if (res != MAP_OK)
            return res;
    }
    enum map_result res = map_values(t, type, *obj, why);
    if (res != MAP_OK || !functions[type] || !mapping_has_function(t->m, functions[type]))
        return res;
    return mapping_apply_object(t->m, functions[type], obj, NULL, lookup, why);
}

/* {"type":"event","id":"…"}: how a conflict names a tracker object. */
static void item_json(char *buf, size_t size, const char *type, const char *uid)
{
    snprintf(buf, size, "{\"type\":\"%s\",\"id\":\"%s\"}", type, uid);
}

static const cJSON *find_source(const cJSON *items, const char *key, const char *uid)
{
    const cJSON *it;
    cJSON_ArrayForEach(it, items)
    {
        const char *id = str(it, key);
        if (id && strcmp(id, uid) == 0)
            return it;
    }
    return NULL;
}

static void list_object(struct tsync *t, enum run_item_kind kind, const char *type,
                        const char *uid, const cJSON *source, const char *code, const char *message)
{
    char item[96];
    item_json(item, sizeof item, type, uid);
    char *src = source ? cJSON_PrintUnformatted(source) : NULL;
    sync_list(t->r, kind, item, src, uid, NULL, code, message);
    free(src);
}

static long long distinct_objects(const struct tracker_report *rep, const bool *counted)
{
    long long n = 0;
    for (size_t i = 0; i < rep->n_errors; i++) {
        if (!counted[i])
            continue;
        bool before = false;
        for (size_t j = 0; j < i && !before; j++)
            before = counted[j] && rep->errors[j].type == rep->errors[i].type &&
                     strcmp(rep->errors[j].uid, rep->errors[i].uid) == 0;
        n += !before;
    }
    return n;
}

/* Imports one payload (the list is consumed) and turns its report into counts and conflicts:
 * one conflict per error report, so that a refused tracked entity does not hide its
 * enrollments' own errors. */
static int import(struct tsync *t, const struct tracker_import *opt, cJSON *list,
                  const cJSON *sources, struct err *e)
{
    int n = cJSON_GetArraySize(list);
    cJSON *payload = cJSON_CreateObject();
    if (!payload || n == 0) {
        cJSON_Delete(list);
        cJSON_Delete(payload);
        return n == 0 ? 0 : err_set(e, ERR_INTERNAL, "out of memory");
    }
    cJSON_AddItemToObject(payload, tracker_type_collection(t->type), list);
    char *json = cJSON_PrintUnformatted(payload);
    cJSON_Delete(payload);
    if (!json)
        return err_set(e, ERR_INTERNAL, "out of memory");
    struct tracker_report rep;
    int rc = tracker_import(t->dst, opt, json, strlen(json), &rep, e);
    free(json);
    if (rc)
        return rc;
    bool deleting = opt == &t->remove;
    struct run_counts c = {.sent = n, .imported = rep.created, .updated = rep.updated,
                           .deleted = rep.deleted, .ignored = rep.ignored};
    bool *counted = calloc(rep.n_errors + 1, sizeof *counted);
    if (!counted) {
        tracker_report_free(&rep);
        return err_set(e, ERR_INTERNAL, "out of memory");
    }
    for (size_t i = 0; i < rep.n_errors; i++) {
        const struct tracker_error *er = &rep.errors[i];
        if (deleting && tracker_error_already_deleted(er->code)) {
            /* gone already (deleted at the target, or with its parent): the deletion is done */
            c.deleted++;
            c.ignored -= c.ignored > 0;
            continue;
        }
        counted[i] = true;
        c.conflicts++;
        const char *type = er->type >= 0 ? tracker_type_name(er->type) : "relationship";
        const cJSON *src = er->type == (int)t->type ? find_source(sources, type, er->uid) : NULL;
        list_object(t, RUN_ITEM_CONFLICT, type, er->uid, src, er->code, er->message);
    }
    c.refused = distinct_objects(&rep, counted);
    free(counted);
    tracker_report_free(&rep);
    sync_add_counts(t->r, &c);
    return 0;
}

/* Imports list (consumed) batch_size objects at a time, in its order. */
static int import_batches(struct tsync *t, const struct tracker_import *opt, cJSON *list,
                          const cJSON *sources, struct err *e)
{
    int rc = 0;
    while (rc == 0 && list->child) {
        cJSON *batch = cJSON_CreateArray();
        if (!batch) {
            rc = err_set(e, ERR_INTERNAL, "out of memory");
            break;
        }
        for (int i = 0; i < t->job.batch_size && list->child; i++)
            cJSON_AddItemToArray(batch, cJSON_DetachItemViaPointer(list, list->child));
        rc = import(t, opt, batch, sources, e);
    }
    cJSON_Delete(list);
    return rc;
}

static int on_page(void *ud, cJSON *items, struct err *e)
{
    struct tsync *t = ud;
    const char *key = tracker_type_name(t->type);
    const struct mapping_lookup *lookup = sync_lookup(t->r);
    cJSON *removals = cJSON_CreateArray(), *upserts = cJSON_CreateArray();
    if (!removals || !upserts) {
        cJSON_Delete(removals);
        cJSON_Delete(upserts);
        return err_set(e, ERR_INTERNAL, "out of memory");
    }
    struct run_counts c = {0};
    int rc = 0;
    const cJSON *item;
    cJSON_ArrayForEach(item, items)
    {
        c.fetched++;
        const char *uid = str(item, key);
        if (!uid) {
            c.errors++;
            list_object(t, RUN_ITEM_ERROR, key, "", item, NULL, "the source sent it without a uid");
            continue;
        }
        if (cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(item, "deleted"))) {
            cJSON *gone = cJSON_CreateObject();
            if (!gone || !cJSON_AddStringToObject(gone, key, uid) ||
                !cJSON_AddItemToArray(removals, gone)) {
                cJSON_Delete(gone);
                rc = err_set(e, ERR_INTERNAL, "out of memory");
                break;
            }
            continue;
        }
        cJSON *copy = cJSON_Duplicate(item, 1);
        if (!copy) {
            rc = err_set(e, ERR_INTERNAL, "out of memory");
            break;
        }
        struct err why = {0};
        enum map_result res = map_object(t, t->type, &copy, lookup, &why);
        if (res == MAP_OK) {
            cJSON_AddItemToArray(upserts, copy);
            c.mapped++;
            continue;
        }
        cJSON_Delete(copy);
        if (why.code == ERR_INTERNAL || why.code == ERR_CANCELLED) {
            rc = err_set(e, why.code, "%s", why.msg);
            break;
        }
        if (res == MAP_SKIP)
            c.skipped++;
        else
            c.errors++;
        list_object(t, res == MAP_SKIP ? RUN_ITEM_SKIPPED : RUN_ITEM_ERROR, key, uid, item, NULL,
                    why.msg[0] ? why.msg : "left out by the mapping");
    }
    sync_add_counts(t->r, &c);
    if (rc) {
        cJSON_Delete(removals);
        cJSON_Delete(upserts);
        return rc;
    }
    rc = import_batches(t, &t->remove, removals, items, e);
    if (rc == 0)
        rc = import_batches(t, &t->upsert, upserts, items, e);
    else
        cJSON_Delete(upserts);
    sync_progress_add(t->r, c.fetched);
    sync_progress(t->r, false);
    if (rc == 0 && sync_should_stop(t->r))
        rc = err_set(e, ERR_CANCELLED, "stopped");
    return rc;
}

/* Whether the program has registration (tracked entities and enrollments) or only events. */
static int program_registration(struct dhis2_client *c, const char *program, bool *registration,
                                struct err *e)
{
    char path[64];
    snprintf(path, sizeof path, "/api/programs/%s", program);
    cJSON *p = NULL;
    int rc = dhis2_get(c, path, "fields=id,programType", &p, e);
    if (rc == ERR_NOT_FOUND)
        return err_set(e, ERR_INPUT, "%s has no program %s", dhis2_client_base_url(c), program);
    if (rc)
        return rc;
    const char *type = str(p, "programType");
    *registration = type && strcmp(type, "WITH_REGISTRATION") == 0;
    cJSON_Delete(p);
    return 0;
}

static size_t count(const char *const *list)
{
    size_t n = 0;
    while (list[n])
        n++;
    return n;
}

static int sync_program(struct tsync *t, struct dhis2_client *src, int minor, const char *program,
                        bool registration, long long *steps, long long total, struct err *e)
{
    struct tracker_query q = {
        .program = program,
        .children = t->job.children,
        .updated_after = sync_since(t->r),
        .occurred_after = t->job.occurred_after,
        .include_deleted = t->job.deletions,
        .page_size = t->job.batch_size > TRACKER_PAGE ? t->job.batch_size : TRACKER_PAGE,
        .minor = minor,
    };
    for (int type = registration ? TRACKER_TRACKED_ENTITY : TRACKER_EVENT; type < TRACKER_TYPES; type++) {
        t->type = q.type = (enum tracker_type)type;
        for (const char *const *ou = t->job.org_units; *ou; ou++) {
            q.org_unit = *ou;
            int rc = tracker_read(src, &q, on_page, t, e);
            if (rc)
                return rc;
            sync_set_steps(t->r, ++*steps, total);
        }
    }
    return 0;
}

static int tracker_run(struct sync_run *r, struct err *e)
{
    struct tsync t = {.r = r, .m = sync_mapping(r), .dst = sync_target_client(r)};
    int rc = tracker_job_read(sync_job(r)->spec, &t.job, e);
    if (rc)
        return rc;
    t.options = mapping_has_table(t.m, "options");
    t.upsert = (struct tracker_import){.strategy = "CREATE_AND_UPDATE", .atomic_all = t.job.atomic_all,
                                       .dry_run = sync_dry_run(r), .async = t.job.async};
    t.remove = t.upsert;
    t.remove.strategy = "DELETE";
    struct dhis2_client *src = sync_source_client(r);
    int minor = sync_source_info(r)->major == 2 ? sync_source_info(r)->minor : 99;
    size_t n = count(t.job.programs), roots = count(t.job.org_units);
    bool *registration = calloc(n + 1, sizeof *registration);
    if (!registration) {
        tracker_job_free(&t.job);
        return err_set(e, ERR_INTERNAL, "out of memory");
    }
    long long total = 0, steps = 0;
    for (size_t i = 0; i < n && rc == 0; i++) {
        rc = program_registration(src, t.job.programs[i], &registration[i], e);
        total += (long long)roots * (registration[i] ? TRACKER_TYPES : 1);
    }
    if (rc == 0)
        sync_set_steps(r, 0, total);
    for (size_t i = 0; i < n && rc == 0; i++)
        rc = sync_program(&t, src, minor, t.job.programs[i], registration[i], &steps, total, e);
    sync_progress(r, true);
    free(registration);
    tracker_job_free(&t.job);
    return rc;
}

/* Each program must be known to the source (else a run fails at once) and, once mapped, to
 * the target (else every object of it is refused). */
static void tracker_preflight(struct sync_preflight *p)
{
    struct tracker_job job;
    struct err e = {0};
    if (tracker_job_read(p->spec, &job, &e) != 0)
        return;
    for (const char *const *prog = job.programs; *prog; prog++) {
        bool registration;
        e = (struct err){0};
        if (p->source && program_registration(p->source, *prog, &registration, &e) != 0)
            sync_problem(p->problems, "error", "programs", "%s", e.msg);
        const char *to = *prog;
        struct err why = {0};
        if (p->mapping_version &&
            mapping_map_id(p->mapping_version, "programs", *prog, &to, &why) != MAP_OK) {
            sync_problem(p->problems, "warning", "programs",
                         "the mapping leaves out program %s: %s", *prog, why.msg);
            continue;
        }
        e = (struct err){0};
        if (p->target && program_registration(p->target, to, &registration, &e) != 0)
            sync_problem(p->problems, "warning", "programs",
                         "%s: the target would refuse every object of it", e.msg);
    }
    /* the tracker API counts only at a price (totalPages=true): no estimate */
    cJSON_AddNullToObject(p->estimate, "objects");
    tracker_job_free(&job);
}

const struct sync_kind sync_kind_tracker = {
    .name = "tracker",
    .validate = tracker_job_validate,
    .labels = tracker_job_labels,
    .preflight = tracker_preflight,
    .run = tracker_run,
};
