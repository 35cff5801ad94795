/* emulator_tracker_test.c — the emulator's /api/tracker from the outside, over real HTTP:
 * generated programs and data, paging and order, the answer shape of each DHIS2 version,
 * the import report with DHIS2's error codes, async jobs, atomic modes, deletions, time zones,
 * and payloads written the way dhis2-core's own tests write them. Shapes and codes come from
 * dhis2-core (TrackerImportController, ImportReport, ValidationCode, view/Page). */
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "http.h"
#include "test.h"
#include "tracker_util.h"

#define FIXTURES "spec/fixtures/emulator/tracker"

static char *slurp(const char *path)
{
    char *text = NULL;
    size_t len;
    CHECKF(http_read_file(path, &text, &len) == 0, "cannot read %s", path);
    return text;
}

/* A synchronous import that must answer expect; the ImportReport. */
static cJSON *import(struct tu_emu *e, const char *query, const char *body, long expect)
{
    char path[512];
    snprintf(path, sizeof path, "/api/tracker?async=false%s%s", *query ? "&" : "", query);
    return tu_call(e, "POST", path, body, expect);
}

static void check_stats(const cJSON *report, int created, int updated, int deleted, int ignored)
{
    CHECKF(tu_num(report, "stats.created") == created && tu_num(report, "stats.updated") == updated &&
               tu_num(report, "stats.deleted") == deleted && tu_num(report, "stats.ignored") == ignored &&
               tu_num(report, "stats.total") == created + updated + deleted + ignored,
           "expected created/updated/deleted/ignored %d/%d/%d/%d, saw %g/%g/%g/%g", created, updated, deleted,
           ignored, tu_num(report, "stats.created"), tu_num(report, "stats.updated"),
           tu_num(report, "stats.deleted"), tu_num(report, "stats.ignored"));
}

static void check_error(const cJSON *report, int index, const char *code, const char *uid, const char *message)
{
    char path[64];
    snprintf(path, sizeof path, "validationReport.errorReports.%d", index);
    const cJSON *er = tu_at(report, path);
    CHECKF(er != NULL, "no error report %d; expected %s", index, code);
    CHECKF(tu_str(er, "errorCode") && !strcmp(tu_str(er, "errorCode"), code), "expected %s, saw %s: %s", code,
           tu_str(er, "errorCode"), tu_str(er, "message"));
    CHECK_STR(tu_str(er, "uid"), uid);
    if (message)
        CHECK_STR(tu_str(er, "message"), message);
}

static const cJSON *items(const cJSON *page, const char *key)
{
    const cJSON *list = cJSON_GetObjectItemCaseSensitive(page, key);
    CHECKF(cJSON_IsArray(list), "no \"%s\" list in the answer", key);
    return list;
}

TEST(emulator_tracker_generates_programs_and_data)
{
    struct tu_emu a, b, plain;
    tu_emu_generate(&a, 300, 40, 7, NULL);
    cJSON *j = tu_call(&a, "GET", "/api/programs?fields=id,programType,trackedEntityType[id],programStages[id]&paging=false", NULL, 200);
    CHECK_INT(cJSON_GetArraySize(items(j, "programs")), 2);
    CHECK_STR(tu_str(j, "programs.0.programType"), "WITHOUT_REGISTRATION");
    CHECK_STR(tu_str(j, "programs.1.programType"), "WITH_REGISTRATION");
    CHECK_STR(tu_str(j, "programs.1.trackedEntityType.id"), a.tet);
    CHECK_INT(cJSON_GetArraySize(tu_at(j, "programs.1.programStages")), 2);
    cJSON_Delete(j);
    j = tu_call(&a, "GET", "/api/trackedEntityAttributes?fields=id,valueType,optionSet[id]&paging=false", NULL, 200);
    CHECK_INT(cJSON_GetArraySize(items(j, "trackedEntityAttributes")), 4);
    cJSON_Delete(j);
    j = tu_call(&a, "GET", "/api/programStages?fields=id,programStageDataElements[dataElement[id]]&paging=false", NULL, 200);
    CHECK_INT(cJSON_GetArraySize(items(j, "programStages")), 3);
    cJSON_Delete(j);

    char path[512];
    snprintf(path, sizeof path, "/api/tracker/events?program=%s&totalPages=true&pageSize=1", a.event_program);
    j = tu_call(&a, "GET", path, NULL, 200);
    CHECK_INT((int)tu_num(j, "pager.total"), 300);
    cJSON_Delete(j);
    snprintf(path, sizeof path, "/api/tracker/trackedEntities?program=%s&totalPages=true&pageSize=5"
                                "&fields=trackedEntity,attributes,enrollments[enrollment,events[event,dataValues]]",
             a.tracker_program);
    j = tu_call(&a, "GET", path, NULL, 200);
    CHECK_INT((int)tu_num(j, "pager.total"), 40);
    CHECK_INT(cJSON_GetArraySize(tu_at(j, "trackedEntities.0.attributes")), 4);
    CHECK_INT(cJSON_GetArraySize(tu_at(j, "trackedEntities.0.enrollments")), 1);
    CHECK(cJSON_GetArraySize(tu_at(j, "trackedEntities.0.enrollments.0.events")) >= 1);
    CHECK(tu_str(j, "trackedEntities.0.enrollments.0.events.0.event") != NULL);
    CHECK(tu_at(j, "trackedEntities.0.createdAt") == NULL); /* not asked for */
    cJSON_Delete(j);

    /* the same seed makes the same data; events=0 the same programs with nothing in them */
    tu_emu_generate(&b, 300, 40, 7, NULL);
    cJSON *da = tu_digest(&a), *db = tu_digest(&b);
    CHECK_STR(tu_str(da, "events.digest"), tu_str(db, "events.digest"));
    CHECK_STR(tu_str(da, "trackedEntities.digest"), tu_str(db, "trackedEntities.digest"));
    CHECK(tu_num(da, "events.live") > 300);
    cJSON_Delete(da);
    cJSON_Delete(db);
    tu_emu_stop(&b);
    tu_emu_generate(&b, 0, 0, 7, NULL);
    CHECK_STR(b.event_program, a.event_program);
    db = tu_digest(&b);
    CHECK_INT((int)tu_num(db, "events.live"), 0);
    cJSON_Delete(db);

    /* without events/trackedEntities, --generate makes the aggregate instance alone */
    const char *args[] = {"--generate", "values=10,orgunits=20,seed=7", NULL};
    tu_emu_start(&plain, args);
    j = tu_call(&plain, "GET", "/api/dataElements?paging=false&fields=id", NULL, 200);
    CHECK_INT(cJSON_GetArraySize(items(j, "dataElements")), 10);
    cJSON_Delete(j);
    tu_call(&plain, "GET", "/api/programs", NULL, 404);
    tu_emu_stop(&plain);
    tu_emu_stop(&b);
    tu_emu_stop(&a);
}

TEST(emulator_tracker_paging_is_stable_with_order)
{
    struct tu_emu e;
    tu_emu_generate(&e, 95, 0, 11, NULL);
    char path[512], seen[200][12];
    int n = 0;
    char last[32] = "";
    for (int page = 1; page < 30; page++) {
        snprintf(path, sizeof path, "/api/tracker/events?program=%s&order=updatedAt:asc&page=%d&pageSize=10"
                                    "&fields=event,updatedAt", e.event_program, page);
        cJSON *j = tu_call(&e, "GET", path, NULL, 200);
        const cJSON *list = items(j, "events"), *ev;
        int count = cJSON_GetArraySize(list);
        cJSON_ArrayForEach(ev, list) {
            const char *at = tu_str(ev, "updatedAt");
            CHECKF(strcmp(at, last) >= 0, "page %d: updatedAt %s comes after %s", page, at, last);
            snprintf(last, sizeof last, "%s", at);
            for (int k = 0; k < n; k++)
                CHECKF(strcmp(seen[k], tu_str(ev, "event")), "event %s on two pages", seen[k]);
            snprintf(seen[n++], 12, "%s", tu_str(ev, "event"));
        }
        cJSON_Delete(j);
        if (count < 10)
            break;
    }
    CHECK_INT(n, 95);
    /* descending, and the same order asked twice gives the same first page */
    snprintf(path, sizeof path, "/api/tracker/events?program=%s&order=occurredAt:desc&pageSize=5&fields=event,occurredAt",
             e.event_program);
    cJSON *x = tu_call(&e, "GET", path, NULL, 200), *y = tu_call(&e, "GET", path, NULL, 200);
    CHECK(cJSON_Compare(x, y, true));
    CHECK(strcmp(tu_str(x, "events.0.occurredAt"), tu_str(x, "events.4.occurredAt")) >= 0);
    cJSON_Delete(x);
    cJSON_Delete(y);
    /* a write shows on the next page asked, even of a query already paged through */
    snprintf(path, sizeof path, "/api/tracker/events?program=%s&order=updatedAt:asc&page=10&pageSize=10"
                                "&totalPages=true&fields=event", e.event_program);
    cJSON *before = tu_call(&e, "GET", path, NULL, 200);
    CHECK_INT((int)tu_num(before, "pager.total"), 95);
    cJSON_Delete(before);
    char body[512];
    snprintf(body, sizeof body, "{\"events\":[{\"event\":\"EvLatest001\",\"program\":\"%s\",\"orgUnit\":\"%s\","
                                "\"occurredAt\":\"2026-01-01\"}]}", e.event_program, e.facility);
    cJSON_Delete(import(&e, "", body, 200));
    cJSON *after = tu_call(&e, "GET", path, NULL, 200);
    CHECK_INT((int)tu_num(after, "pager.total"), 96);
    CHECK_STR(tu_str(after, "events.5.event"), "EvLatest001");
    cJSON_Delete(after);
    snprintf(path, sizeof path, "/api/tracker/events?program=%s&order=colour:asc", e.event_program);
    cJSON_Delete(tu_call(&e, "GET", path, NULL, 400));
    tu_emu_stop(&e);
}

TEST(emulator_tracker_answer_shape_follows_the_version)
{
    static const char *versions[] = {"2.40.4", "2.41.2", "2.42.1", "2.43.0"};
    for (int v = 0; v < 4; v++) {
        struct tu_emu e;
        tu_emu_generate(&e, 12, 3, 5, versions[v]);
        char path[512];
        snprintf(path, sizeof path, "/api/tracker/events?program=%s&pageSize=5&totalPages=true", e.event_program);
        cJSON *j = tu_call(&e, "GET", path, NULL, 200);
        const char *key = v == 0 ? "instances" : "events";
        CHECKF(cJSON_GetArraySize(items(j, key)) == 5, "%s: 5 %s", versions[v], key);
        CHECKF((tu_at(j, "pager") != NULL) == (v >= 1), "%s: pager", versions[v]);
        CHECKF((tu_at(j, "page") != NULL) == (v <= 1), "%s: top-level page", versions[v]);
        CHECKF((tu_at(j, "instances") != NULL) == (v == 0), "%s: instances", versions[v]);
        CHECK_INT((int)tu_num(j, v >= 1 ? "pager.total" : "total"), 12);
        CHECK_INT((int)tu_num(j, v >= 1 ? "pager.pageCount" : "pageCount"), 3);
        if (v >= 2)
            CHECK_CONTAINS(tu_str(j, "pager.nextPage"), "page=2");
        cJSON_Delete(j);
        snprintf(path, sizeof path, "/api/tracker/trackedEntities?program=%s&paging=false", e.tracker_program);
        if (v == 0)
            snprintf(path, sizeof path, "/api/tracker/trackedEntities?program=%s&skipPaging=true", e.tracker_program);
        j = tu_call(&e, "GET", path, NULL, 200);
        CHECKF(cJSON_GetArraySize(items(j, v == 0 ? "instances" : "trackedEntities")) == 3, "%s: 3 tracked entities",
               versions[v]);
        CHECK(tu_at(j, "pager") == NULL && tu_at(j, "page") == NULL);
        cJSON_Delete(j);
        snprintf(path, sizeof path, "/api/tracker/enrollments?program=%s", e.tracker_program);
        j = tu_call(&e, "GET", path, NULL, 200);
        CHECK_INT(cJSON_GetArraySize(items(j, v == 0 ? "instances" : "enrollments")), 3);
        cJSON_Delete(j);
        /* 2.43 wants the program */
        cJSON_Delete(tu_call(&e, "GET", "/api/tracker/events", NULL, v == 3 ? 400 : 200));
        tu_emu_stop(&e);
    }
}

/* One event of the generated event program at the facility, with one data value. */
static void event_json(char *out, size_t n, const struct tu_emu *e, const char *uid, const char *ou,
                       const char *data_element, const char *value)
{
    snprintf(out, n,
             "{\"event\":\"%s\",\"program\":\"%s\",\"programStage\":\"%s\",\"orgUnit\":\"%s\","
             "\"occurredAt\":\"2026-10-01T00:00:00.000\",\"status\":\"COMPLETED\","
             "\"dataValues\":[{\"dataElement\":\"%s\",\"value\":\"%s\"}]}",
             uid, e->event_program, e->event_stage, ou, data_element, value);
}

/* The id of the generated data element with this code. */
static void data_element(struct tu_emu *e, const char *code, char out[12])
{
    char path[256];
    snprintf(path, sizeof path, "/api/dataElements?fields=id&filter=code:eq:%s", code);
    cJSON *j = tu_call(e, "GET", path, NULL, 200);
    snprintf(out, 12, "%s", tu_str(j, "dataElements.0.id"));
    cJSON_Delete(j);
}

/* Generated programs with no data; temp gets the event program's temperature element. */
static void start_empty(struct tu_emu *e, char temp[12])
{
    tu_emu_generate(e, 0, 0, 3, NULL);
    data_element(e, "EV_TEMP", temp);
}

TEST(emulator_tracker_import_report_and_atomic_modes)
{
    struct tu_emu e;
    char temp[12], body[4096], ev1[1024], ev2[1024];
    start_empty(&e, temp);
    event_json(ev1, sizeof ev1, &e, "EvGood00001", e.facility, temp, "37.2");
    event_json(ev2, sizeof ev2, &e, "EvBadOu0001", "NoSuchOu001", temp, "37.2");
    snprintf(body, sizeof body, "{\"events\":[%s,%s]}", ev1, ev2);

    /* ALL: one error and nothing is written, HTTP 409 */
    cJSON *r = import(&e, "", body, 409);
    CHECK_STR(tu_str(r, "status"), "ERROR");
    check_stats(r, 0, 0, 0, 2);
    check_error(r, 0, "E1011", "EvBadOu0001", "Could not find OrganisationUnit: `NoSuchOu001`, linked to Event.");
    CHECK_STR(tu_str(r, "validationReport.errorReports.0.trackerType"), "EVENT");
    CHECK(tu_at(r, "bundleReport") == NULL);
    cJSON_Delete(r);
    cJSON_Delete(tu_call(&e, "GET", "/api/tracker/events/EvGood00001", NULL, 404));

    /* OBJECT: the valid one is written, status OK */
    r = import(&e, "atomicMode=OBJECT", body, 200);
    CHECK_STR(tu_str(r, "status"), "OK");
    check_stats(r, 1, 0, 0, 1);
    CHECK_INT((int)tu_num(r, "bundleReport.typeReportMap.EVENT.stats.created"), 1);
    CHECK_STR(tu_str(r, "bundleReport.typeReportMap.EVENT.objectReports.0.uid"), "EvGood00001");
    cJSON_Delete(r);
    r = tu_call(&e, "GET", "/api/tracker/events/EvGood00001", NULL, 200);
    CHECK_STR(tu_str(r, "dataValues.0.value"), "37.2");
    CHECK_STR(tu_str(r, "status"), "COMPLETED");
    CHECK_STR(tu_str(r, "occurredAt"), "2026-10-01T00:00:00.000");
    cJSON_Delete(r);

    /* CREATE_AND_UPDATE updates, CREATE refuses what exists, UPDATE what does not */
    event_json(ev1, sizeof ev1, &e, "EvGood00001", e.facility, temp, "38.0");
    snprintf(body, sizeof body, "{\"events\":[%s]}", ev1);
    r = import(&e, "", body, 200);
    check_stats(r, 0, 1, 0, 0);
    cJSON_Delete(r);
    r = import(&e, "importStrategy=CREATE", body, 409);
    check_error(r, 0, "E1030", "EvGood00001", "Event: `EvGood00001` already exists.");
    cJSON_Delete(r);
    event_json(ev2, sizeof ev2, &e, "EvNew000001", e.facility, temp, "36.6");
    snprintf(body, sizeof body, "{\"events\":[%s]}", ev2);
    r = import(&e, "importStrategy=UPDATE", body, 409);
    check_error(r, 0, "E1032", "EvNew000001", "Event: `EvNew000001` do not exist.");
    cJSON_Delete(r);
    /* importMode=VALIDATE writes nothing */
    r = import(&e, "importMode=VALIDATE", body, 200);
    check_stats(r, 0, 0, 0, 0);
    cJSON_Delete(r);
    cJSON_Delete(tu_call(&e, "GET", "/api/tracker/events/EvNew000001", NULL, 404));
    cJSON *got = tu_call(&e, "GET", "/api/tracker/events/EvGood00001", NULL, 200);
    CHECK_STR(tu_str(got, "dataValues.0.value"), "38.0");
    cJSON_Delete(got);
    tu_emu_stop(&e);
}

TEST(emulator_tracker_validation_codes)
{
    struct tu_emu e;
    char temp[12], outcome[12], weight[12], dob[12], outcome_set[12];
    start_empty(&e, temp);
    data_element(&e, "EV_OUTCOME", outcome);
    data_element(&e, "EV_WEIGHT", weight);
    cJSON *j = tu_call(&e, "GET", "/api/trackedEntityAttributes?fields=id&filter=code:eq:TEA_DOB", NULL, 200);
    snprintf(dob, sizeof dob, "%s", tu_str(j, "trackedEntityAttributes.0.id"));
    cJSON_Delete(j);
    j = tu_call(&e, "GET", "/api/optionSets?fields=id&filter=code:eq:OS_OUTCOME", NULL, 200);
    snprintf(outcome_set, sizeof outcome_set, "%s", tu_str(j, "optionSets.0.id"));
    cJSON_Delete(j);
    struct {
        const char *code, *uid;
        char body[1024];
    } cases[12];
    int n = 0;
#define CASE(c, u, ...) (cases[n].code = (c), cases[n].uid = (u), snprintf(cases[n++].body, 1024, __VA_ARGS__))
    CASE("E1010", "EvCode00001", "{\"events\":[{\"event\":\"EvCode00001\",\"program\":\"NoProgram01\",\"orgUnit\":\"%s\",\"occurredAt\":\"2026-01-01\"}]}", e.facility);
    CASE("E1013", "EvCode00002", "{\"events\":[{\"event\":\"EvCode00002\",\"program\":\"%s\",\"programStage\":\"NoStage0001\",\"orgUnit\":\"%s\",\"occurredAt\":\"2026-01-01\"}]}", e.event_program, e.facility);
    CASE("E1089", "EvCode00003", "{\"events\":[{\"event\":\"EvCode00003\",\"program\":\"%s\",\"programStage\":\"%s\",\"orgUnit\":\"%s\",\"occurredAt\":\"2026-01-01\"}]}", e.event_program, e.birth_stage, e.facility);
    CASE("E1033", "EvCode00004", "{\"events\":[{\"event\":\"EvCode00004\",\"program\":\"%s\",\"programStage\":\"%s\",\"orgUnit\":\"%s\",\"occurredAt\":\"2026-01-01\"}]}", e.tracker_program, e.birth_stage, e.facility);
    CASE("E1302", "EvCode00005", "{\"events\":[{\"event\":\"EvCode00005\",\"program\":\"%s\",\"orgUnit\":\"%s\",\"occurredAt\":\"2026-01-01\",\"dataValues\":[{\"dataElement\":\"%s\",\"value\":\"warm\"}]}]}", e.event_program, e.facility, temp);
    CASE("E1125", "EvCode00006", "{\"events\":[{\"event\":\"EvCode00006\",\"program\":\"%s\",\"orgUnit\":\"%s\",\"occurredAt\":\"2026-01-01\",\"dataValues\":[{\"dataElement\":\"%s\",\"value\":\"ESCAPED\"}]}]}", e.event_program, e.facility, outcome);
    CASE("E1305", "EvCode00007", "{\"events\":[{\"event\":\"EvCode00007\",\"program\":\"%s\",\"orgUnit\":\"%s\",\"occurredAt\":\"2026-01-01\",\"dataValues\":[{\"dataElement\":\"%s\",\"value\":\"3000\"}]}]}", e.event_program, e.facility, weight);
    CASE("E1031", "EvCode00008", "{\"events\":[{\"event\":\"EvCode00008\",\"program\":\"%s\",\"orgUnit\":\"%s\",\"status\":\"ACTIVE\"}]}", e.event_program, e.facility);
    CASE("E1005", "TeCode00001", "{\"trackedEntities\":[{\"trackedEntity\":\"TeCode00001\",\"trackedEntityType\":\"NoType00001\",\"orgUnit\":\"%s\"}]}", e.facility);
    CASE("E1049", "TeCode00002", "{\"trackedEntities\":[{\"trackedEntity\":\"TeCode00002\",\"trackedEntityType\":\"%s\",\"orgUnit\":\"NoOrgUnit01\"}]}", e.tet);
    CASE("E1007", "TeCode00003", "{\"trackedEntities\":[{\"trackedEntity\":\"TeCode00003\",\"trackedEntityType\":\"%s\",\"orgUnit\":\"%s\",\"attributes\":[{\"attribute\":\"%s\",\"value\":\"yesterday\"}]}]}", e.tet, e.facility, dob);
    CASE("E1068", "EnCode00001", "{\"enrollments\":[{\"enrollment\":\"EnCode00001\",\"trackedEntity\":\"NoPerson001\",\"program\":\"%s\",\"orgUnit\":\"%s\",\"enrolledAt\":\"2026-01-01\"}]}", e.tracker_program, e.facility);
#undef CASE
    for (int i = 0; i < n; i++) {
        cJSON *r = import(&e, "", cases[i].body, 409);
        check_error(r, 0, cases[i].code, cases[i].uid, NULL);
        cJSON_Delete(r);
    }
    /* the texts are dhis2-core's */
    cJSON *r = import(&e, "", cases[5].body, 409);
    char expect[256];
    snprintf(expect, sizeof expect, "Value `ESCAPED` is not a valid option code in OptionSet `%s`.", outcome_set);
    check_error(r, 0, "E1125", "EvCode00006", expect);
    cJSON_Delete(r);
    r = import(&e, "", cases[4].body, 409);
    check_error(r, 0, "E1302", "EvCode00005", "DataElement `NUMBER` is not valid: `Value type is NUMBER but the value `warm` is not.`.");
    cJSON_Delete(r);
    tu_emu_stop(&e);
}

TEST(emulator_tracker_async_job_and_report)
{
    struct tu_emu e;
    char temp[12], ev[1024], body[2048], path[256];
    start_empty(&e, temp);
    event_json(ev, sizeof ev, &e, "EvAsync0001", e.facility, temp, "36.9");
    snprintf(body, sizeof body, "{\"events\":[%s]}", ev);
    /* async is DHIS2's default */
    cJSON *wm = tu_call(&e, "POST", "/api/tracker", body, 200);
    CHECK_STR(tu_str(wm, "message"), "Tracker job added");
    const char *id = tu_str(wm, "response.id");
    CHECK(id && strlen(id) == 11);
    CHECK_CONTAINS(tu_str(wm, "response.location"), "/api/tracker/jobs/");
    snprintf(path, sizeof path, "/api/tracker/jobs/%s", id);
    bool completed = false;
    for (int i = 0; i < 100 && !completed; i++) {
        cJSON *notes = tu_call(&e, "GET", path, NULL, 200);
        completed = cJSON_IsTrue(tu_at(notes, "0.completed"));
        cJSON_Delete(notes);
        if (!completed)
            usleep(50000);
    }
    CHECK(completed);
    snprintf(path, sizeof path, "/api/tracker/jobs/%s/report", id);
    cJSON *r = tu_call(&e, "GET", path, NULL, 200);
    CHECK_STR(tu_str(r, "status"), "OK");
    check_stats(r, 1, 0, 0, 0);
    cJSON_Delete(r);
    cJSON_Delete(wm);
    cJSON_Delete(tu_call(&e, "GET", "/api/tracker/jobs/NoSuchJob01/report", NULL, 404));
    /* an async import that fails keeps its report for the asking */
    snprintf(body, sizeof body, "{\"events\":[{\"event\":\"EvAsync0002\",\"program\":\"NoProgram01\",\"orgUnit\":\"%s\","
                                "\"occurredAt\":\"2026-01-01\"}]}", e.facility);
    wm = tu_call(&e, "POST", "/api/tracker?async=true", body, 200);
    snprintf(path, sizeof path, "/api/tracker/jobs/%s/report", tu_str(wm, "response.id"));
    struct spec_resp resp = {0};
    char url[512];
    snprintf(url, sizeof url, "%s%s", e.url, path);
    const char *auth[] = {"Authorization: Basic YWRtaW46ZGlzdHJpY3Q=", NULL};
    for (int i = 0; i < 100; i++) {
        spec_resp_free(&resp);
        CHECK(spec_http("GET", url, auth, NULL, 0, &resp) == 0);
        if (resp.status == 200)
            break;
        usleep(50000);
    }
    r = spec_resp_json(&resp);
    CHECK_STR(tu_str(r, "status"), "ERROR");
    check_error(r, 0, "E1010", "EvAsync0002", NULL);
    cJSON_Delete(r);
    spec_resp_free(&resp);
    cJSON_Delete(wm);
    tu_emu_stop(&e);
}

TEST(emulator_tracker_deletions_stay_readable)
{
    struct tu_emu e;
    tu_emu_generate(&e, 5, 3, 9, NULL);
    char path[512], body[512];
    snprintf(path, sizeof path, "/api/tracker/events?program=%s&fields=event,updatedAt&order=createdAt:asc", e.event_program);
    cJSON *before = tu_call(&e, "GET", path, NULL, 200);
    char ev[12], updated[32];
    snprintf(ev, sizeof ev, "%s", tu_str(before, "events.0.event"));
    snprintf(updated, sizeof updated, "%s", tu_str(before, "events.0.updatedAt"));
    cJSON_Delete(before);
    snprintf(body, sizeof body, "{\"events\":[{\"event\":\"%s\"}]}", ev);
    cJSON *r = import(&e, "importStrategy=DELETE", body, 200);
    check_stats(r, 0, 0, 1, 0);
    cJSON_Delete(r);
    snprintf(path, sizeof path, "/api/tracker/events?program=%s&totalPages=true", e.event_program);
    r = tu_call(&e, "GET", path, NULL, 200);
    CHECK_INT((int)tu_num(r, "pager.total"), 4);
    cJSON_Delete(r);
    snprintf(path, sizeof path, "/api/tracker/events?program=%s&events=%s&includeDeleted=true&fields=event,deleted,updatedAt",
             e.event_program, ev);
    r = tu_call(&e, "GET", path, NULL, 200);
    CHECK(cJSON_IsTrue(tu_at(r, "events.0.deleted")));
    CHECKF(strcmp(tu_str(r, "events.0.updatedAt"), updated) > 0, "updatedAt stayed %s", updated);
    /* updatedAfter finds the deletion */
    char after[400];
    snprintf(after, sizeof after, "/api/tracker/events?program=%s&includeDeleted=true&updatedAfter=%s&fields=event",
             e.event_program, tu_str(r, "events.0.updatedAt"));
    cJSON *since = tu_call(&e, "GET", after, NULL, 200);
    CHECK_INT(cJSON_GetArraySize(items(since, "events")), 1);
    cJSON_Delete(since);
    cJSON_Delete(r);
    r = import(&e, "importStrategy=DELETE", body, 409);
    check_error(r, 0, "E1082", ev, NULL);
    cJSON_Delete(r);
    r = import(&e, "", body, 409); /* no update of what is deleted either */
    check_error(r, 0, "E1082", ev, NULL);
    cJSON_Delete(r);

    /* a tracked entity takes its enrollment and events along */
    snprintf(path, sizeof path, "/api/tracker/trackedEntities?program=%s&fields=trackedEntity,enrollments[enrollment]"
                                "&order=createdAt:asc", e.tracker_program);
    r = tu_call(&e, "GET", path, NULL, 200);
    char te[12], en[12];
    snprintf(te, sizeof te, "%s", tu_str(r, "trackedEntities.0.trackedEntity"));
    snprintf(en, sizeof en, "%s", tu_str(r, "trackedEntities.0.enrollments.0.enrollment"));
    cJSON_Delete(r);
    snprintf(body, sizeof body, "{\"trackedEntities\":[{\"trackedEntity\":\"%s\"}]}", te);
    r = import(&e, "importStrategy=DELETE", body, 200);
    check_stats(r, 0, 0, 1, 0);
    cJSON_Delete(r);
    snprintf(path, sizeof path, "/api/tracker/enrollments?program=%s&enrollments=%s&includeDeleted=true", e.tracker_program, en);
    r = tu_call(&e, "GET", path, NULL, 200);
    CHECK(cJSON_IsTrue(tu_at(r, "enrollments.0.deleted")));
    cJSON_Delete(r);
    snprintf(path, sizeof path, "/api/tracker/events?program=%s&trackedEntity=%s&includeDeleted=true&fields=deleted",
             e.tracker_program, te);
    r = tu_call(&e, "GET", path, NULL, 200);
    const cJSON *x;
    CHECK(cJSON_GetArraySize(items(r, "events")) >= 1);
    cJSON_ArrayForEach(x, items(r, "events"))
        CHECK(cJSON_IsTrue(tu_at(x, "deleted")));
    cJSON_Delete(r);
    r = import(&e, "importStrategy=DELETE", body, 409);
    check_error(r, 0, "E1114", te, NULL);
    cJSON_Delete(r);
    tu_emu_stop(&e);
}

TEST(emulator_tracker_org_unit_modes_and_time_zone)
{
    struct tu_emu e;
    char gen[] = "values=0,orgunits=50,seed=4,events=60,trackedEntities=0";
    const char *args[] = {"--generate", gen, "--timezone", "Asia/Kolkata", NULL};
    tu_emu_start(&e, args);
    cJSON *info = tu_call(&e, "GET", "/api/system/info", NULL, 200);
    CHECK_STR(tu_str(info, "serverTimeZoneId"), "Asia/Kolkata");
    cJSON_Delete(info);
    cJSON *p = tu_call(&e, "GET", "/api/programs?fields=id&filter=code:eq:P_CASE", NULL, 200);
    cJSON *root = tu_call(&e, "GET", "/api/organisationUnits?fields=id&filter=level:eq:1", NULL, 200);
    char path[512], program[12];
    snprintf(program, sizeof program, "%s", tu_str(p, "programs.0.id"));
    snprintf(path, sizeof path, "/api/tracker/events?program=%s&orgUnit=%s&orgUnitMode=DESCENDANTS&totalPages=true",
             program, tu_str(root, "organisationUnits.0.id"));
    cJSON *all = tu_call(&e, "GET", path, NULL, 200);
    CHECK_INT((int)tu_num(all, "pager.total"), 60);
    const char *ou = tu_str(all, "events.0.orgUnit");
    snprintf(path, sizeof path, "/api/tracker/events?program=%s&orgUnit=%s&orgUnitMode=SELECTED&totalPages=true", program,
             tu_str(root, "organisationUnits.0.id"));
    cJSON *none = tu_call(&e, "GET", path, NULL, 200);
    CHECK_INT((int)tu_num(none, "pager.total"), 0);
    snprintf(path, sizeof path, "/api/tracker/events?program=%s&orgUnit=%s&fields=orgUnit&paging=false", program, ou);
    cJSON *one = tu_call(&e, "GET", path, NULL, 200);
    const cJSON *x;
    CHECK(cJSON_GetArraySize(items(one, "events")) >= 1);
    cJSON_ArrayForEach(x, items(one, "events"))
        CHECK_STR(tu_str(x, "orgUnit"), ou);
    cJSON_Delete(one);

    /* times go in and out in the server's zone, without an offset */
    char body[1024];
    snprintf(body, sizeof body, "{\"events\":[{\"event\":\"EvZone00001\",\"program\":\"%s\",\"orgUnit\":\"%s\","
                                "\"occurredAt\":\"2026-07-01T10:00:00.000\"}]}", program, ou);
    cJSON_Delete(import(&e, "", body, 200));
    cJSON *got = tu_call(&e, "GET", "/api/tracker/events/EvZone00001?fields=occurredAt", NULL, 200);
    CHECK_STR(tu_str(got, "occurredAt"), "2026-07-01T10:00:00.000");
    cJSON_Delete(got);
    snprintf(path, sizeof path, "/api/tracker/events?program=%s&occurredAfter=2026-07-01T09:59:00&occurredBefore=2026-07-01T10:01:00&fields=event",
             program);
    got = tu_call(&e, "GET", path, NULL, 200);
    CHECK_INT(cJSON_GetArraySize(items(got, "events")), 1);
    cJSON_Delete(got);
    snprintf(path, sizeof path, "/api/tracker/events?program=%s&occurredAfter=2026-07-01T04:29:00Z&occurredBefore=2026-07-01T04:31:00Z&fields=event",
             program);
    got = tu_call(&e, "GET", path, NULL, 200);
    CHECK_INT(cJSON_GetArraySize(items(got, "events")), 1);
    cJSON_Delete(got);
    cJSON_Delete(all);
    cJSON_Delete(none);
    cJSON_Delete(root);
    cJSON_Delete(p);
    tu_emu_stop(&e);
}

/* Imports a payload file of FIXTURES synchronously; it must create and update so many. */
static void import_fixture(struct tu_emu *e, const char *name, int created, int updated)
{
    char path[256];
    snprintf(path, sizeof path, "%s/%s", FIXTURES, name);
    char *body = slurp(path);
    cJSON *r = import(e, "", body, 200);
    check_stats(r, created, updated, 0, 0);
    free(body);
    cJSON_Delete(r);
}

TEST(emulator_tracker_accepts_dhis2_core_payloads)
{
    struct tu_emu e;
    const char *args[] = {"--data", FIXTURES, NULL};
    tu_emu_start(&e, args);
    /* dhis2-core's test form (te_enrollment_event.json): ids as {"idScheme","identifier"},
     * import options in the body, the three types flat */
    import_fixture(&e, "core_te_enrollment_event.json", 3, 0);
    cJSON *r = tu_call(&e, "GET", "/api/tracker/trackedEntities/AaCoreTe001?fields=*,enrollments[*,events[*]]", NULL, 200);
    CHECK_STR(tu_str(r, "enrollments.0.enrollment"), "AaCoreEn001");
    CHECK_STR(tu_str(r, "enrollments.0.events.0.event"), "AaCoreEv001");
    CHECK_STR(tu_str(r, "enrollments.0.enrolledAt"), "2019-03-28T12:05:00.000");
    CHECK_STR(tu_str(r, "enrollments.0.events.0.scheduledAt"), "2019-01-28T12:10:38.100");
    cJSON_Delete(r);
    /* the web API's nested form, with attributes, notes and two events */
    import_fixture(&e, "api_nested_tracked_entity.json", 4, 0);
    import_fixture(&e, "api_nested_tracked_entity.json", 0, 4); /* the same again: every object updated */
    r = tu_call(&e, "GET", "/api/tracker/events?program=AaChildProg&trackedEntity=AaApiTe0001"
                           "&fields=event,notes,dataValues&order=occurredAt:asc", NULL, 200);
    CHECK_INT(cJSON_GetArraySize(items(r, "events")), 2);
    CHECK_STR(tu_str(r, "events.0.event"), "AaApiEv0001");
    CHECK_STR(tu_str(r, "events.1.notes.0.value"), "Referred for follow-up");
    cJSON_Delete(r);
    r = tu_call(&e, "GET", "/api/tracker/trackedEntities?trackedEntityType=AaPersonTet&orgUnit=AaRootOu001"
                           "&orgUnitMode=CHILDREN&fields=trackedEntity,attributes[attribute,value]&order=createdAt:asc",
                NULL, 200);
    CHECK_INT(cJSON_GetArraySize(items(r, "trackedEntities")), 2);
    CHECK_STR(tu_str(r, "trackedEntities.1.attributes.0.value"), "Aminata");
    cJSON_Delete(r);
    /* an event program's single event (one_single_event.json) */
    import_fixture(&e, "core_single_event.json", 1, 0);
    r = tu_call(&e, "GET", "/api/tracker/events/AaCoreSng01", NULL, 200);
    CHECK_STR(tu_str(r, "dataValues.0.value"), "15.0");
    CHECK_STR(tu_str(r, "occurredAt"), "2022-04-20T06:00:38.343");
    cJSON_Delete(r);
    /* a program's org units bound where its events may be */
    r = import(&e, "", "{\"events\":[{\"event\":\"AaWrongOu01\",\"program\":\"AaCaseProgr\","
                       "\"orgUnit\":\"AaFacility2\",\"occurredAt\":\"2026-01-01\"}]}", 409);
    check_error(r, 0, "E1029", "AaWrongOu01", "Event OrganisationUnit: `AaFacility2` and Program: `AaCaseProgr`, do not match.");
    cJSON_Delete(r);
    tu_emu_stop(&e);
}

/* A metadata import renumbers data elements and org units: the tracker data already stored
 * must still name the same ones afterwards. */
TEST(emulator_tracker_data_survives_a_metadata_import)
{
    struct tu_emu e;
    tu_emu_generate(&e, 50, 10, 7, NULL);
    cJSON *before = tu_digest(&e);
    cJSON_Delete(tu_call(&e, "POST", "/api/metadata?atomicMode=ALL",
                         "{\"dataElements\":[{\"id\":\"AaaaaaaaaA1\",\"name\":\"A new one\","
                         "\"shortName\":\"A new one\",\"valueType\":\"NUMBER\",\"domainType\":\"TRACKER\","
                         "\"aggregationType\":\"SUM\"}],"
                         "\"organisationUnits\":[{\"id\":\"AaaaaaaaaO1\",\"name\":\"A new unit\","
                         "\"shortName\":\"A new unit\",\"openingDate\":\"2020-01-01\"}]}",
                         200));
    cJSON *after = tu_digest(&e);
    CHECK(cJSON_Compare(before, after, 1));
    char path[160];
    snprintf(path, sizeof path, "/api/tracker/events?program=%s&pageSize=1&fields=orgUnit,dataValues", e.event_program);
    cJSON *page = tu_call(&e, "GET", path, NULL, 200);
    const cJSON *ev = cJSON_GetArrayItem(items(page, "events"), 0);
    CHECK(ev && cJSON_GetArraySize(cJSON_GetObjectItem(ev, "dataValues")) > 0);
    cJSON_Delete(page);
    cJSON_Delete(before);
    cJSON_Delete(after);
    tu_emu_stop(&e);
}
