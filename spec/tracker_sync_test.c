/* tracker_sync_test.c — the tracker kind of job: its fields, the query and the three answer
 * shapes of DHIS2's tracker API, the import report, and whole runs between two emulators. */
#include <signal.h>
#include <stdlib.h>
#include <sys/wait.h>
#include <unistd.h>

#include "harness.h"
#include "sched_util.h"
#include "test.h"
#include "tracker_job.h"
#include "tracker_sync_util.h"
#include "tracker_read.h"
#include "tracker_report.h"

static cJSON *parse(const char *json)
{
    cJSON *j = cJSON_Parse(json);
    if (!j)
        test_fail(__FILE__, __LINE__, "bad JSON in test: %s", json);
    return j;
}

TEST_TIMEOUT(a_tracker_job_is_normalised_with_its_defaults, 10)
{
    cJSON *body = parse("{\"programs\":[\"eBAyeGv0exc\"],\"orgUnits\":[\"ImspTQPwCqd\"],"
                        "\"children\":true,\"occurredAfter\":\"2024-01-01\",\"deletions\":true}");
    cJSON *spec = cJSON_CreateObject();
    struct err e = {0};
    CHECK_INT(tracker_job_validate(body, spec, &e), 0);
    char *text = cJSON_PrintUnformatted(spec);
    CHECK_STR(text, "{\"programs\":[\"eBAyeGv0exc\"],\"orgUnits\":[\"ImspTQPwCqd\"],\"children\":true,"
                    "\"occurredAfter\":\"2024-01-01\","
                    "\"importOptions\":{\"atomicMode\":\"OBJECT\",\"batchSize\":500,\"dryRun\":false,"
                    "\"async\":false}}");
    struct tracker_job job;
    CHECK_INT(tracker_job_read(spec, &job, &e), 0);
    CHECK_STR(job.programs[0], "eBAyeGv0exc");
    CHECK(job.programs[1] == NULL);
    CHECK(job.children && !job.atomic_all);
    CHECK_INT(job.batch_size, 500);
    CHECK_STR(job.occurred_after, "2024-01-01");
    tracker_job_free(&job);
    free(text);
    cJSON_Delete(spec);
    cJSON_Delete(body);
    CHECK_NO_LEAKS();
}

TEST_TIMEOUT(a_tracker_job_reports_every_field_error_at_once, 10)
{
    cJSON *body = parse("{\"programs\":[],\"orgUnits\":[\"not-an-id\"],\"occurredAfter\":\"2024-02-30\","
                        "\"importOptions\":{\"atomicMode\":\"SOME\",\"batchSize\":0}}");
    cJSON *spec = cJSON_CreateObject();
    struct err_fields fields = {.labels = tracker_job_labels};
    struct err e = {.fields = &fields};
    CHECK_INT(tracker_job_validate(body, spec, &e), ERR_INPUT);
    char all[2048] = "";
    for (int i = 0; i < fields.n; i++)
        snprintf(all + strlen(all), sizeof all - strlen(all), "%s: %s\n", fields.v[i].field, fields.v[i].msg);
    CHECK_CONTAINS(all, "programs:");
    CHECK_CONTAINS(all, "orgUnits:");
    CHECK_CONTAINS(all, "occurredAfter:");
    CHECK_CONTAINS(all, "importOptions.atomicMode:");
    CHECK_CONTAINS(all, "importOptions.batchSize:");
    cJSON_Delete(spec);
    cJSON_Delete(body);
}

TEST_TIMEOUT(tracker_reads_name_the_program_order_and_org_unit_mode_per_version, 10)
{
    struct tracker_query q = {.type = TRACKER_TRACKED_ENTITY, .program = "IpHINAT79UW",
                              .org_unit = "ImspTQPwCqd", .children = true,
                              .updated_after = "2024-02-03T10:11:12.000", .occurred_after = "2024-01-01",
                              .include_deleted = true, .page_size = 500, .minor = 40};
    char *s = tracker_read_query(&q, 3);
    CHECK_STR(s, "program=IpHINAT79UW&orgUnit=ImspTQPwCqd&ouMode=DESCENDANTS"
                 "&updatedAfter=2024-02-03T10%3A11%3A12.000&includeDeleted=true"
                 "&order=updatedAt%3Aasc%2CtrackedEntity%3Aasc"
                 "&fields=%2A%2C%21relationships%2C%21enrollments%2C%21events%2C%21programOwners"
                 "&page=3&pageSize=500&totalPages=false");
    free(s);
    q.minor = 41;
    s = tracker_read_query(&q, 1);
    CHECK_CONTAINS(s, "&orgUnits=ImspTQPwCqd&orgUnitMode=DESCENDANTS&");
    free(s);
    q.type = TRACKER_EVENT;
    q.children = false;
    q.include_deleted = false;
    q.minor = 43;
    s = tracker_read_query(&q, 1);
    CHECK_CONTAINS(s, "program=IpHINAT79UW&orgUnit=ImspTQPwCqd&orgUnitMode=SELECTED&");
    CHECK_CONTAINS(s, "&occurredAfter=2024-01-01&order=updatedAt%3Aasc%2Cevent%3Aasc&");
    CHECK(!strstr(s, "includeDeleted"));
    free(s);
}

/* One page of each answer shape: how many items, and whether another page is asked for. */
static void page_shape(int line, const char *body, enum tracker_type t, int page, int page_size,
                       int items, bool more)
{
    cJSON *b = parse(body);
    bool m = !more;
    struct err e = {0};
    cJSON *list = tracker_page_items(b, t, page, page_size, &m, &e);
    if (!list)
        test_fail(__FILE__, line, "no items read: %s", e.msg);
    if (cJSON_GetArraySize(list) != items || m != more)
        test_fail(__FILE__, line, "expected %d items and more=%d, saw %d and %d", items, more,
                  cJSON_GetArraySize(list), m);
    cJSON_Delete(b);
}

TEST_TIMEOUT(tracker_pages_of_2_40_2_41_and_2_42_are_all_read, 10)
{
    /* 2.40: instances, paging at the top */
    page_shape(__LINE__, "{\"page\":1,\"pageSize\":2,\"instances\":[{\"event\":\"a\"},{\"event\":\"b\"}]}",
               TRACKER_EVENT, 1, 2, 2, true);
    page_shape(__LINE__, "{\"page\":2,\"pageSize\":2,\"pageCount\":2,\"total\":4,"
                         "\"instances\":[{\"event\":\"a\"},{\"event\":\"b\"}]}",
               TRACKER_EVENT, 2, 2, 2, false);
    /* 2.41: pager plus the deprecated top-level fields */
    page_shape(__LINE__, "{\"page\":1,\"pageSize\":2,\"pager\":{\"page\":1,\"pageSize\":2},"
                         "\"trackedEntities\":[{\"trackedEntity\":\"a\"}]}",
               TRACKER_TRACKED_ENTITY, 1, 2, 1, false);
    /* 2.42+: pager only */
    page_shape(__LINE__, "{\"pager\":{\"page\":1,\"pageSize\":2,\"nextPage\":\"x\"},"
                         "\"enrollments\":[{\"enrollment\":\"a\"},{\"enrollment\":\"b\"}]}",
               TRACKER_ENROLLMENT, 1, 2, 2, true);
    page_shape(__LINE__, "{\"pager\":{\"page\":3,\"pageSize\":2},\"events\":[]}", TRACKER_EVENT, 3, 2, 0, false);
    cJSON *b = parse("{\"pager\":{},\"httpStatus\":\"OK\"}");
    bool more;
    struct err e = {0};
    CHECK(tracker_page_items(b, TRACKER_EVENT, 1, 2, &more, &e) == NULL);
    CHECK_CONTAINS(e.msg, "neither `events` nor `instances`");
    cJSON_Delete(b);
}

TEST_TIMEOUT(a_tracker_report_names_each_refused_object_once_with_its_code, 10)
{
    /* a refused tracked entity and its enrollment's own error; the bundle report repeats one */
    cJSON *b = parse(
        "{\"httpStatus\":\"Conflict\",\"status\":\"ERROR\",\"response\":{\"status\":\"ERROR\","
        "\"validationReport\":{\"errorReports\":["
        "{\"message\":\"no access\",\"errorCode\":\"E1000\",\"trackerType\":\"TRACKED_ENTITY\",\"uid\":\"PQfMcpmXeFE\"},"
        "{\"message\":\"not enrolled\",\"errorCode\":\"E1029\",\"trackerType\":\"ENROLLMENT\",\"uid\":\"Kd7bW8gNK7L\"}]},"
        "\"stats\":{\"created\":3,\"updated\":1,\"deleted\":0,\"ignored\":2,\"total\":6},"
        "\"bundleReport\":{\"typeReportMap\":{\"EVENT\":{\"trackerType\":\"EVENT\",\"objectReports\":["
        "{\"trackerType\":\"EVENT\",\"uid\":\"Yt8hVYfOU3P\",\"errorReports\":[{\"message\":\"gone\",\"errorCode\":\"E1082\"}]}]},"
        "\"TRACKED_ENTITY\":{\"objectReports\":[{\"uid\":\"PQfMcpmXeFE\",\"errorReports\":["
        "{\"message\":\"no access\",\"errorCode\":\"E1000\",\"trackerType\":\"TRACKED_ENTITY\",\"uid\":\"PQfMcpmXeFE\"}]}]}}}}}");
    struct tracker_report r;
    struct err e = {0};
    CHECK_INT(tracker_report_parse(b, &r, &e), 0);
    CHECK_STR(r.status, "ERROR");
    CHECK_INT(r.created, 3);
    CHECK_INT(r.updated, 1);
    CHECK_INT(r.ignored, 2);
    CHECK_INT(r.n_errors, 3);
    CHECK_INT(r.errors[0].type, TRACKER_TRACKED_ENTITY);
    CHECK_STR(r.errors[0].uid, "PQfMcpmXeFE");
    CHECK_INT(r.errors[1].type, TRACKER_ENROLLMENT);
    CHECK_STR(r.errors[1].code, "E1029");
    CHECK_STR(r.errors[1].message, "not enrolled");
    CHECK_INT(r.errors[2].type, TRACKER_EVENT);
    CHECK_STR(r.errors[2].uid, "Yt8hVYfOU3P");
    CHECK(tracker_error_already_deleted(r.errors[2].code));
    CHECK(!tracker_error_already_deleted(r.errors[1].code));
    tracker_report_free(&r);
    cJSON_Delete(b);
    b = parse("{\"message\":\"Tracker job added\",\"response\":{\"id\":\"x\"}}");
    CHECK_INT(tracker_report_parse(b, &r, &e), ERR_NET);
    cJSON_Delete(b);
    CHECK_NO_LEAKS();
}

/* ---- whole runs between two emulators (helpers in tracker_sync_util.h) --------------------- */

TEST_TIMEOUT(a_tracker_job_copies_events_and_tracked_entities_exactly, 300)
{
    struct spec_server s;
    struct tu_emu src, dst;
    const struct tk_pair pair = {.events = 3000, .tracked_entities = 300, .seed = 41};
    tk_start_pair(&s, &src, &dst, &pair);
    tk_add_job(&s, "copy", &src, "\"importOptions\":{\"batchSize\":250}");
    cJSON *run = tk_run_succeeded(__LINE__, &s, "copy", NULL);
    int total = tk_check_same(__LINE__, &src, &dst, 41);
    CHECK(total > 3000);
    CHECK_INT(tk_counted(run, "fetched"), total);
    CHECK_INT(tk_counted(run, "sent"), total);
    CHECK_INT(tk_counted(run, "imported"), total);
    CHECK_INT(tk_counted(run, "conflicts"), 0);
    cJSON_Delete(run);
}

/* The first n live events of program under root at the source, as the source answers them. */
static cJSON *some_events(struct tu_emu *m, const char *program, int n)
{
    char path[512];
    snprintf(path, sizeof path, "/api/tracker/events?program=%s&orgUnit=%s&orgUnitMode=DESCENDANTS"
             "&pageSize=%d&order=occurredAt:asc&fields=*", program, m->root, n);
    cJSON *body = tu_call(m, "GET", path, NULL, 200);
    cJSON *events = cJSON_DetachItemFromObject(body, "events");
    cJSON_Delete(body);
    CHECKF(cJSON_GetArraySize(events) == n, "expected %d events of %s at the source", n, program);
    return events;
}

static void source_import(struct tu_emu *m, const char *strategy, const char *key, cJSON *list)
{
    cJSON *payload = cJSON_CreateObject();
    cJSON_AddItemToObject(payload, key, list);
    char *body = cJSON_PrintUnformatted(payload), path[128];
    snprintf(path, sizeof path, "/api/tracker?importStrategy=%s&async=false", strategy);
    cJSON *report = tu_call(m, "POST", path, body, 200);
    CHECKF(report && strcmp(su_str(report, "status"), "OK") == 0, "the source refused the edit");
    cJSON_Delete(report);
    cJSON_Delete(payload);
    free(body);
}

/* How many objects of both programs the source holds (deleted ones too) updated since `since`. */
static int changed_since(struct tu_emu *m, const char *since)
{
    CHECK(since != NULL);
    int n = 0;
    for (int t = 0; t < TRACKER_TYPES; t++) {
        for (int which = t == TRACKER_EVENT ? 0 : 1; which < 2; which++) {
            char path[512];
            snprintf(path, sizeof path, "/api/tracker/%s?program=%s&%s=%s&orgUnitMode=DESCENDANTS"
                     "&updatedAfter=%s&includeDeleted=true&pageSize=100000&fields=%s",
                     tracker_type_collection(t), which ? m->tracker_program : m->event_program,
                     t == TRACKER_EVENT ? "orgUnit" : "orgUnits", m->root, since, tracker_type_name(t));
            cJSON *body = tu_call(m, "GET", path, NULL, 200);
            n += cJSON_GetArraySize(cJSON_GetObjectItem(body, tracker_type_collection(t)));
            cJSON_Delete(body);
        }
    }
    return n;
}

TEST_TIMEOUT(an_incremental_tracker_run_sends_only_edits_and_deletions, 300)
{
    struct spec_server s;
    struct tu_emu src, dst;
    /* no read-back overlap, so that the second run's counts prove the watermark works */
    char *env[] = {"DHIS2SYNC_WATERMARK_OVERLAP=0", NULL};
    const struct tk_pair pair = {.events = 1500, .tracked_entities = 150, .seed = 43,
                                 .env = env};
    tk_start_pair(&s, &src, &dst, &pair);
    tk_add_job(&s, "inc", &src, "\"incremental\":true,\"deletions\":true");
    cJSON *run = tk_run_succeeded(__LINE__, &s, "inc", NULL);
    int before = tk_check_same(__LINE__, &src, &dst, 41);
    cJSON_Delete(run);
    sleep(1); /* the source's clock must pass the watermark before the edits */

    /* at the source: 3 events of each program get a new value, 2 of the event program go */
    int edited = 0;
    for (int which = 0; which < 2; which++) {
        cJSON *events = some_events(&src, which ? src.tracker_program : src.event_program, 5);
        cJSON *edits = cJSON_CreateArray(), *gone = cJSON_CreateArray();
        for (int i = 0; i < 5; i++) {
            cJSON *ev = cJSON_GetArrayItem(events, i);
            if (i < 3) {
                cJSON *dv = cJSON_GetArrayItem(cJSON_GetObjectItem(ev, "dataValues"), 0);
                CHECKF(dv != NULL, "a generated event has no data value");
                cJSON_ReplaceItemInObject(dv, "value", cJSON_CreateString("77"));
                cJSON_AddItemReferenceToArray(edits, ev);
                edited++;
            } else if (!which) {
                cJSON *uid = cJSON_CreateObject();
                cJSON_AddStringToObject(uid, "event", su_str(ev, "event"));
                cJSON_AddItemToArray(gone, uid);
            }
        }
        source_import(&src, "CREATE_AND_UPDATE", "events", edits);
        if (cJSON_GetArraySize(gone))
            source_import(&src, "DELETE", "events", gone);
        else
            cJSON_Delete(gone);
        cJSON_Delete(events);
    }

    /* what changed since the watermark, as the source itself tells it: the edits, the
     * deletions, and the enrollments and tracked entities an edit of their events touched */
    cJSON *job = su_call(&s, "GET", "/api/jobs/inc", NULL, 200);
    int changed = changed_since(&src, su_str(job, "watermark"));
    CHECKF(changed >= edited + 2 && changed <= 3 * edited + 2, "%d objects changed at the source", changed);
    cJSON_Delete(job);

    run = tk_run_succeeded(__LINE__, &s, "inc", NULL);
    CHECK_INT(tk_counted(run, "fetched"), changed);
    CHECK_INT(tk_counted(run, "sent"), changed);
    CHECK_INT(tk_counted(run, "updated"), changed - 2);
    CHECK_INT(tk_counted(run, "deleted"), 2);
    CHECK_INT(tk_check_same(__LINE__, &src, &dst, 41), before - 2);
    cJSON_Delete(run);
}

TEST_TIMEOUT(the_same_tracker_job_runs_against_2_40_2_41_and_2_43, 600)
{
    /* 2500 events: more than one page (2000) of each version's shape */
    static const char *const versions[] = {"2.40.4", "2.41.1", "2.43.0"};
    for (int v = 0; v < 3; v++) {
        struct spec_server s;
        struct tu_emu src, dst;
        const struct tk_pair pair = {.events = 2500, .tracked_entities = 60, .seed = 47,
                                     .version = versions[v]};
        tk_start_pair(&s, &src, &dst, &pair);
        char job[32];
        snprintf(job, sizeof job, "versions-%s", versions[v]);
        tk_add_job(&s, job, &src, "\"importOptions\":{\"batchSize\":50}");
        cJSON *run = tk_run_succeeded(__LINE__, &s, job, NULL);
        int total = tk_check_same(__LINE__, &src, &dst, atoi(versions[v] + 2));
        CHECKF(tk_counted(run, "fetched") == total, "%s: fetched %lld of %d", versions[v],
               tk_counted(run, "fetched"), total);
        cJSON_Delete(run);
        spec_server_stop(&s);
        tu_emu_stop(&src);
        tu_emu_stop(&dst);
    }
}

TEST_TIMEOUT(a_tracker_run_killed_mid_way_and_run_again_loses_and_doubles_nothing, 300)
{
    struct spec_server s;
    struct tu_emu src, dst;
    const struct tk_pair pair = {.events = 3000, .tracked_entities = 200, .seed = 53};
    tk_start_pair(&s, &src, &dst, &pair);
    tk_add_job(&s, "killed", &src, "\"incremental\":true,\"importOptions\":{\"batchSize\":100}");
    /* slow imports, so that the run is still under way when its process dies */
    cJSON_Delete(tu_call(&dst, "POST", "/emulator/faults", "{\"delayMs\":200}", 200));
    long long id = tk_queue_run(&s, "killed", NULL);
    char path[64];
    snprintf(path, sizeof path, "/api/runs/%lld", id);
    for (int i = 0; i < 300; i++) {
        cJSON *r = su_call(&s, "GET", path, NULL, 200);
        long long sent = tk_counted(r, "sent");
        cJSON_Delete(r);
        if (sent > 0)
            break;
        usleep(100000);
    }
    kill(s.pid, SIGKILL);
    waitpid(s.pid, NULL, 0);
    s.pid = 0;
    cJSON_Delete(tu_call(&dst, "POST", "/emulator/faults", "{\"reset\":true}", 200));

    /* the next process marks the orphan interrupted and runs it once more */
    struct spec_server again;
    CHECK(spec_server_start(&again, s.db, NULL) == 0);
    cJSON *first = tk_wait_done(&again, id, 60);
    CHECK_STR(su_str(first, "status"), "interrupted");
    cJSON *retry = tk_wait_done(&again, id + 1, 300);
    CHECKF(strcmp(su_str(retry, "status"), "succeeded") == 0, "retry: %s", cJSON_PrintUnformatted(retry));
    int total = tk_check_same(__LINE__, &src, &dst, 41);
    /* the retry read from where the killed run did (no watermark yet); what the killed run had
     * sent came again as updates of the same uids, so each line above is there once */
    CHECK(cJSON_IsNull(cJSON_GetObjectItem(retry, "since")));
    CHECK_INT(tk_counted(retry, "fetched"), total);
    cJSON_Delete(first);
    cJSON_Delete(retry);
}

/* The id of the metadata object of `collection` whose code is `code`. */
static void id_by_code(struct tu_emu *m, const char *collection, const char *code, char out[16])
{
    char path[256];
    snprintf(path, sizeof path, "/api/%s?fields=id&filter=code:eq:%s&paging=false", collection, code);
    cJSON *body = tu_call(m, "GET", path, NULL, 200);
    const char *id = su_str(cJSON_GetArrayItem(cJSON_GetObjectItem(body, collection), 0), "id");
    CHECKF(id != NULL, "no %s with code %s", collection, code);
    snprintf(out, 16, "%s", id);
    cJSON_Delete(body);
}

struct renaming {
    char stage[16], element[16], dropped_stage[16];
    int dropped;
};

/* What the mapping below must make of a source object. */
static bool renamed(cJSON *obj, void *ud)
{
    struct renaming *rn = ud;
    cJSON *stage = cJSON_GetObjectItem(obj, "programStage");
    if (!cJSON_IsString(stage))
        return true;
    if (strcmp(stage->valuestring, rn->dropped_stage) == 0) {
        rn->dropped++;
        return false;
    }
    if (strcmp(stage->valuestring, rn->stage) == 0)
        cJSON_SetValuestring(stage, "NewCaseStge");
    const cJSON *dv;
    cJSON_ArrayForEach(dv, cJSON_GetObjectItem(obj, "dataValues"))
    {
        cJSON *de = cJSON_GetObjectItem(dv, "dataElement");
        if (strcmp(de->valuestring, rn->element) == 0)
            cJSON_SetValuestring(de, "NewTempElmt");
    }
    return true;
}

TEST_TIMEOUT(a_mapping_renames_a_stage_and_a_data_element_and_drops_an_event_type_exactly, 300)
{
    /* the ids the target knows instead, from the source's by their codes (seed 61) */
    struct tu_emu probe;
    tu_emu_generate(&probe, 1, 1, 61, NULL);
    struct renaming rn = {0};
    id_by_code(&probe, "programStages", "PS_CASE", rn.stage);
    id_by_code(&probe, "programStages", "PS_FOLLOWUP", rn.dropped_stage);
    id_by_code(&probe, "dataElements", "EV_TEMP", rn.element);
    tu_emu_stop(&probe);

    struct spec_server s;
    struct tu_emu src, dst;
    const char *renames[] = {rn.stage, "NewCaseStge", rn.element, "NewTempElmt", NULL};
    const struct tk_pair pair = {.events = 800, .tracked_entities = 120, .seed = 61, .renames = renames};
    tk_start_pair(&s, &src, &dst, &pair);
    char path[PATH_MAX + 64];
    snprintf(path, sizeof path, "%s/mappings/cases.lua", s.dir);
    FILE *f = fopen(path, "w");
    CHECK(f != NULL);
    fprintf(f,
            "return {\n"
            "  unmapped = \"keep\",\n"
            "  programStages = { %s = \"NewCaseStge\" },\n"
            "  dataElements = { %s = \"NewTempElmt\" },\n"
            "  event = function(ev)\n"
            "    if ev.programStage == \"%s\" then return nil end\n"
            "    return ev\n"
            "  end,\n"
            "}\n",
            rn.stage, rn.element, rn.dropped_stage);
    fclose(f);
    for (int i = 0; i < 100; i++) { /* hot reload picks the new file up */
        struct spec_resp r;
        CHECK(spec_api(&s, "GET", "/api/mappings/cases", NULL, &r) == 0);
        long status = r.status;
        spec_resp_free(&r);
        if (status == 200)
            break;
        usleep(100000);
    }
    tk_add_job(&s, "mapped", &src, "\"mapping\":\"cases\"");
    cJSON *run = tk_run_succeeded(__LINE__, &s, "mapped", NULL);

    int total = tk_check_expected(__LINE__, &src, &dst, 41, renamed, &rn);
    CHECK(rn.dropped > 0);
    CHECK_INT(tk_counted(run, "skipped"), rn.dropped);
    CHECK_INT(tk_counted(run, "imported"), total);
    /* each dropped event is listed with its type and uid */
    cJSON *entries = su_call(&s, "GET", "/api/runs/1/conflicts?pageSize=1", NULL, 200);
    const cJSON *first = cJSON_GetArrayItem(cJSON_GetObjectItem(entries, "conflicts"), 0);
    CHECK_STR(su_str(cJSON_GetObjectItem(first, "item"), "type"), "event");
    CHECK(su_str(cJSON_GetObjectItem(first, "item"), "id") != NULL);
    CHECK_INT((long long)su_num(cJSON_GetObjectItem(entries, "pager"), "total"), rn.dropped);
    cJSON_Delete(entries);
    cJSON_Delete(run);
}

TEST_TIMEOUT(refused_tracker_objects_are_listed_each_with_its_type_uid_and_code, 300)
{
    /* the org unit of one tracked entity is unknown to the target (seed 67) */
    struct tu_emu probe;
    tu_emu_generate(&probe, 20, 20, 67, NULL);
    char path[512], te[16], ou[16];
    snprintf(path, sizeof path, "/api/tracker/trackedEntities?program=%s&orgUnits=%s&orgUnitMode=DESCENDANTS"
             "&pageSize=1&order=trackedEntity:asc&fields=trackedEntity,orgUnit", probe.tracker_program, probe.root);
    cJSON *one = tu_call(&probe, "GET", path, NULL, 200);
    const cJSON *first = cJSON_GetArrayItem(cJSON_GetObjectItem(one, "trackedEntities"), 0);
    snprintf(te, sizeof te, "%s", su_str(first, "trackedEntity"));
    snprintf(ou, sizeof ou, "%s", su_str(first, "orgUnit"));
    cJSON_Delete(one);
    tu_emu_stop(&probe);

    struct spec_server s;
    struct tu_emu src, dst;
    const char *renames[] = {ou, "GoneOrgUnit", NULL};
    const struct tk_pair pair = {.events = 20, .tracked_entities = 20, .seed = 67, .renames = renames};
    tk_start_pair(&s, &src, &dst, &pair);
    tk_add_job(&s, "refused", &src, "\"incremental\":true");
    cJSON *run = tk_run_once(&s, "refused", NULL);
    CHECK_STR(su_str(run, "status"), "partial");
    CHECK(tk_counted(run, "refused") >= 3);
    CHECK(tk_counted(run, "conflicts") >= tk_counted(run, "refused"));

    /* the tracked entity and its enrollment are each listed, with their own codes */
    cJSON *entries = su_call(&s, "GET", "/api/runs/1/conflicts?pageSize=1000", NULL, 200);
    bool te_listed = false, enrollment_listed = false;
    const cJSON *entry;
    cJSON_ArrayForEach(entry, cJSON_GetObjectItem(entries, "conflicts"))
    {
        const cJSON *item = cJSON_GetObjectItem(entry, "item");
        const char *type = su_str(item, "type"), *code = su_str(entry, "errorCode");
        CHECKF(code && code[0] == 'E' && su_str(entry, "message"), "an entry without code or message");
        CHECK(strcmp(su_str(item, "id"), su_str(entry, "object")) == 0);
        if (strcmp(type, "trackedEntity") == 0 && strcmp(su_str(item, "id"), te) == 0)
            te_listed = true;
        if (strcmp(type, "enrollment") == 0) {
            const cJSON *source = cJSON_GetObjectItem(entry, "source");
            enrollment_listed |= source && strcmp(su_str(source, "trackedEntity"), te) == 0;
        }
    }
    CHECKF(te_listed && enrollment_listed, "the refused tracked entity %s or its enrollment is not listed: %s",
           te, cJSON_PrintUnformatted(entries));
    cJSON_Delete(entries);
    /* a partial run keeps the watermark where it was: the next run reads everything again */
    cJSON *job = su_call(&s, "GET", "/api/jobs/refused", NULL, 200);
    CHECK(su_str(job, "watermark") == NULL);
    cJSON_Delete(job);
    cJSON_Delete(run);
}

TEST_TIMEOUT(a_tracker_dry_run_stores_nothing_and_the_preflight_names_unknown_programs, 180)
{
    struct spec_server s;
    struct tu_emu src, dst;
    const struct tk_pair pair = {.events = 300, .tracked_entities = 30, .seed = 71};
    tk_start_pair(&s, &src, &dst, &pair);
    /* the event program only: a dry run validates each type against what the target holds,
     * so enrollments of tracked entities it was only shown would be refused (docs/tracker.md) */
    char body[512];
    snprintf(body, sizeof body,
             "{\"name\":\"dry\",\"kind\":\"tracker\",\"source\":\"src\",\"target\":\"dst\","
             "\"programs\":[\"%s\"],\"orgUnits\":[\"%s\"],\"children\":true,\"incremental\":true}",
             src.event_program, src.root);
    cJSON_Delete(su_call(&s, "POST", "/api/jobs", body, 201));
    cJSON *run = tk_run_succeeded(__LINE__, &s, "dry", "?dryRun=true");
    CHECK(cJSON_IsTrue(cJSON_GetObjectItem(run, "dryRun")));
    CHECK_INT(tk_counted(run, "sent"), 300);
    int n;
    free(tk_state(&dst, src.event_program, src.root, TRACKER_EVENT, 41, NULL, NULL, &n));
    CHECK_INT(n, 0);
    cJSON *job = su_call(&s, "GET", "/api/jobs/dry", NULL, 200);
    CHECK(su_str(job, "watermark") == NULL);
    cJSON_Delete(job);
    cJSON_Delete(run);

    snprintf(body, sizeof body,
             "{\"name\":\"check\",\"kind\":\"tracker\",\"source\":\"src\",\"target\":\"dst\","
             "\"programs\":[\"%s\",\"NoSuchProg1\"],\"orgUnits\":[\"%s\"]}", src.event_program, src.root);
    cJSON *check = su_call(&s, "POST", "/api/jobs/check", body, 200);
    char *text = cJSON_PrintUnformatted(cJSON_GetObjectItem(check, "problems"));
    CHECK_CONTAINS(text, "\"level\":\"error\",\"field\":\"programs\"");
    CHECK_CONTAINS(text, "has no program NoSuchProg1");
    CHECK(!strstr(text, src.event_program));
    free(text);
    cJSON_Delete(check);
}
