/* emulator_meta_test.c — the emulator's metadata import and export from the outside, over real
 * HTTP: POST /api/metadata (ImportReport, atomic modes, VALIDATE, E-codes, 2.43's option combo
 * rules, async tasks, version shapes), GET /api/metadata, /api/deletedObjects, the 414 on a long
 * URL, and exports in DHIS2's own shape (spec/fixtures/emulator/metadata). Expected texts come
 * from dhis2-core's ErrorCode.java and MetadataImportExportController. */
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "harness.h"
#include "http.h"
#include "test.h"

#define AUTH "Authorization: Basic YWRtaW46ZGlzdHJpY3Q=" /* admin:district */
#define FIXTURES "spec/fixtures/emulator/metadata"

struct emu {
    pid_t pid;
    char base[64];
};

/* An emulator with the given arguments (NULL-terminated, may be NULL), ready to answer. */
static void start(struct emu *e, const char *const args[])
{
    char port[16], url[128];
    char *argv[24];
    int n = 0, p = spec_free_port();
    snprintf(port, sizeof port, "%d", p);
    snprintf(e->base, sizeof e->base, "http://127.0.0.1:%d", p);
    argv[n++] = spec_bin("dhis2-emulator");
    argv[n++] = "--port";
    argv[n++] = port;
    while (args && *args && n < 22)
        argv[n++] = (char *)*args++;
    argv[n] = NULL;
    e->pid = spec_spawn(argv, NULL, NULL);
    snprintf(url, sizeof url, "%s/emulator/state", e->base);
    CHECKF(spec_wait_status(url, 200, 15000) == 0, "the emulator did not start");
    free(argv[0]);
}

static void start_version(struct emu *e, const char *version)
{
    const char *args[] = {"--version", version, NULL};
    start(e, args);
}

static void stop(struct emu *e)
{
    CHECK_INT(spec_stop(e->pid, 5000), 0);
}

/* method path [body] -> JSON answer, checking the HTTP status. */
static cJSON *call(struct emu *e, const char *method, const char *path, const char *body, long status)
{
    size_t n = strlen(e->base) + strlen(path) + 1;
    char *url = malloc(n);
    CHECK(url != NULL);
    snprintf(url, n, "%s%s", e->base, path);
    const char *h[] = {AUTH, "Content-Type: application/json", NULL};
    struct spec_resp r;
    CHECKF(spec_http(method, url, h, body, body ? strlen(body) : 0, &r) == 0, "%s %.200s failed", method, path);
    free(url);
    CHECKF(r.status == status, "%s %.200s: expected HTTP %ld, saw %ld: %.3000s", method, path, status, r.status,
           r.body ? r.body : "");
    cJSON *j = spec_resp_json(&r);
    CHECKF(j != NULL, "%s %.200s: not JSON: %.500s", method, path, r.body ? r.body : "");
    spec_resp_free(&r);
    return j;
}

static const cJSON *at(const cJSON *o, const char *path)
{
    char key[128];
    while (o && *path) {
        const char *dot = strchr(path, '.');
        size_t n = dot ? (size_t)(dot - path) : strlen(path);
        snprintf(key, sizeof key, "%.*s", (int)n, path);
        o = cJSON_IsArray(o) ? cJSON_GetArrayItem(o, atoi(key)) : cJSON_GetObjectItemCaseSensitive(o, key);
        path += n + (dot ? 1 : 0);
    }
    return o;
}

static const char *str_at(const cJSON *o, const char *path)
{
    const cJSON *v = at(o, path);
    return cJSON_IsString(v) ? v->valuestring : NULL;
}

static int int_at(const cJSON *o, const char *path)
{
    const cJSON *v = at(o, path);
    return cJSON_IsNumber(v) ? v->valueint : -1;
}

/* created/updated/deleted/ignored of an ImportReport */
static void check_stats(const cJSON *report, int created, int updated, int deleted, int ignored)
{
    CHECKF(int_at(report, "stats.created") == created && int_at(report, "stats.updated") == updated &&
               int_at(report, "stats.deleted") == deleted && int_at(report, "stats.ignored") == ignored,
           "expected created/updated/deleted/ignored %d/%d/%d/%d, saw %d/%d/%d/%d", created, updated, deleted,
           ignored, int_at(report, "stats.created"), int_at(report, "stats.updated"),
           int_at(report, "stats.deleted"), int_at(report, "stats.ignored"));
}

/* The n-th error report of the whole ImportReport (in type, object, error order). */
static const cJSON *error_report(const cJSON *report, int n)
{
    const cJSON *tr, *orp, *er;
    cJSON_ArrayForEach(tr, cJSON_GetObjectItemCaseSensitive(report, "typeReports"))
        cJSON_ArrayForEach(orp, cJSON_GetObjectItemCaseSensitive(tr, "objectReports"))
            cJSON_ArrayForEach(er, cJSON_GetObjectItemCaseSensitive(orp, "errorReports"))
                if (n-- == 0)
                    return er;
    return NULL;
}

static bool has_object(struct emu *e, const char *collection, const char *id)
{
    char path[256];
    snprintf(path, sizeof path, "/api/%s?filter=id:eq:%s&fields=id", collection, id);
    cJSON *j = call(e, "GET", path, NULL, 200);
    bool found = cJSON_GetArraySize(cJSON_GetObjectItemCaseSensitive(j, collection)) == 1;
    cJSON_Delete(j);
    return found;
}

static char *read_fixture(const char *name)
{
    char path[256], *text = NULL;
    size_t len;
    snprintf(path, sizeof path, FIXTURES "/%s", name);
    CHECKF(http_read_file(path, &text, &len) == 0, "cannot read %s", path);
    return text;
}

#define SEX_TYPES                                                                                        \
    "\"categoryOptions\":[{\"id\":\"oMale000001\",\"name\":\"Male\",\"shortName\":\"Male\"},"              \
    "{\"id\":\"oFemale0001\",\"name\":\"Female\",\"shortName\":\"Female\"}],"                              \
    "\"categories\":[{\"id\":\"gSexCateg01\",\"name\":\"Sex\",\"shortName\":\"Sex\","                      \
    "\"dataDimensionType\":\"DISAGGREGATION\",\"categoryOptions\":[{\"id\":\"oMale000001\"},{\"id\":\"oFemale0001\"}]}]," \
    "\"categoryCombos\":[{\"id\":\"gSexCombo01\",\"name\":\"Sex\",\"dataDimensionType\":\"DISAGGREGATION\","  \
    "\"categories\":[{\"id\":\"gSexCateg01\"}]}]"
#define SEX_PAYLOAD "{" SEX_TYPES "}"

#define DE(id, name, cc)                                                                                 \
    "{\"id\":\"" id "\",\"name\":\"" name "\",\"shortName\":\"" name "\",\"code\":\"" id "\","             \
    "\"valueType\":\"INTEGER\",\"aggregationType\":\"SUM\",\"domainType\":\"AGGREGATE\","                  \
    "\"categoryCombo\":{\"id\":\"" cc "\"}}"

TEST_TIMEOUT(emulator_meta_starts_with_dhis2_defaults_only, 30)
{
    struct emu e;
    start(&e, NULL);
    cJSON *all = call(&e, "GET", "/api/metadata", NULL, 200);
    static const char *types[][2] = {{"categoryOptions", "xYerKDKCefk"}, {"categories", "GLevLNI9wkl"},
                                     {"categoryCombos", "bjDvmb4bfuf"}, {"categoryOptionCombos", "HllvX50cXC0"}};
    int arrays = 0;
    const cJSON *it;
    cJSON_ArrayForEach(it, all)
        arrays += cJSON_IsArray(it);
    CHECK_INT(arrays, 4);
    for (int i = 0; i < 4; i++) {
        const cJSON *a = cJSON_GetObjectItemCaseSensitive(all, types[i][0]);
        CHECKF(cJSON_GetArraySize(a) == 1, "%s: expected only the default", types[i][0]);
        CHECK_STR(str_at(a, "0.id"), types[i][1]);
        CHECK_STR(str_at(a, "0.name"), "default");
        CHECK(str_at(a, "0.created") && str_at(a, "0.lastUpdated"));
    }
    CHECK_STR(str_at(all, "categoryOptionCombos.0.categoryCombo.id"), "bjDvmb4bfuf");
    CHECK_STR(str_at(all, "categoryCombos.0.categories.0.id"), "GLevLNI9wkl");
    CHECK(str_at(all, "system.version") != NULL);
    cJSON_Delete(all);
    all = call(&e, "GET", "/api/metadata?defaults=EXCLUDE", NULL, 200);
    arrays = 0;
    cJSON_ArrayForEach(it, all)
        arrays += cJSON_IsArray(it);
    CHECK_INT(arrays, 0);
    cJSON_Delete(all);
    stop(&e);
}

/* Every object of the source equals its copy in the target, key by key (timestamps aside). */
static void check_same(const cJSON *src, const cJSON *dst)
{
    const cJSON *arr;
    cJSON_ArrayForEach(arr, src) {
        if (!cJSON_IsArray(arr))
            continue;
        const cJSON *copy = cJSON_GetObjectItemCaseSensitive(dst, arr->string);
        CHECKF(cJSON_GetArraySize(copy) == cJSON_GetArraySize(arr), "%s: %d objects at the source, %d at the target",
               arr->string, cJSON_GetArraySize(arr), cJSON_GetArraySize(copy));
        const cJSON *o;
        cJSON_ArrayForEach(o, arr) {
            const char *id = str_at(o, "id");
            const cJSON *t = NULL, *c;
            cJSON_ArrayForEach(c, copy)
                if (id && str_at(c, "id") && !strcmp(str_at(c, "id"), id))
                    t = c;
            CHECKF(t != NULL, "%s %s is missing at the target", arr->string, id ? id : "?");
            const cJSON *kv;
            cJSON_ArrayForEach(kv, o) {
                if (!strcmp(kv->string, "created") || !strcmp(kv->string, "lastUpdated"))
                    continue;
                char *a = cJSON_PrintUnformatted(kv), *b = cJSON_PrintUnformatted(cJSON_GetObjectItemCaseSensitive(t, kv->string));
                CHECKF(b && !strcmp(a, b), "%s %s.%s: source %.300s, target %.300s", arr->string, id, kv->string, a,
                       b ? b : "(absent)");
                free(a);
                free(b);
            }
        }
    }
}

TEST_TIMEOUT(emulator_meta_export_import_round_trip_is_equal, 60)
{
    struct emu src, dst;
    const char *gen[] = {"--generate", "values=0,orgunits=60,seed=7", NULL};
    start(&src, gen);
    start(&dst, NULL);
    const char *q = "/api/metadata?fields=:owner&defaults=EXCLUDE&skipSharing=true";
    cJSON *exp = call(&src, "GET", q, NULL, 200);
    CHECK(cJSON_GetArraySize(cJSON_GetObjectItemCaseSensitive(exp, "organisationUnits")) == 60);
    CHECK(cJSON_GetArraySize(cJSON_GetObjectItemCaseSensitive(exp, "dataSets")) == 2);
    char *body = cJSON_PrintUnformatted(exp);
    cJSON *rep = call(&dst, "POST", "/api/metadata", body, 200);
    CHECK_STR(str_at(rep, "status"), "OK");
    CHECK_STR(str_at(rep, "response.responseType"), "ImportReport");
    CHECK_STR(str_at(rep, "response.status"), "OK");
    int total = int_at(rep, "response.stats.created");
    CHECKF(total > 60, "created %d", total);
    cJSON *back = call(&dst, "GET", q, NULL, 200);
    check_same(exp, back);
    check_same(back, exp);
    cJSON_Delete(rep);
    /* the same payload again: everything is an update, nothing changes */
    rep = call(&dst, "POST", "/api/metadata", body, 200);
    check_stats(at(rep, "response"), 0, total, 0, 0);
    cJSON_Delete(rep);
    cJSON *again = call(&dst, "GET", q, NULL, 200);
    check_same(exp, again);
    /* the typed indexes follow: data values for the imported set are accepted */
    const char *ds = str_at(exp, "dataSets.0.id"), *de = str_at(exp, "dataSets.0.dataSetElements.0.dataElement.id");
    const char *ou = str_at(exp, "dataSets.0.organisationUnits.0.id");
    char dv[512];
    snprintf(dv, sizeof dv, "{\"dataSet\":\"%s\",\"dataValues\":[{\"dataElement\":\"%s\",\"period\":\"202401\","
             "\"orgUnit\":\"%s\",\"value\":\"5\"}]}", ds, de, ou);
    cJSON *s = call(&dst, "POST", "/api/dataValueSets", dv, 200);
    CHECK_INT(int_at(s, "response.importCount.imported"), 1);
    cJSON_Delete(s);
    free(body);
    cJSON_Delete(exp);
    cJSON_Delete(back);
    cJSON_Delete(again);
    stop(&src);
    stop(&dst);
}

TEST_TIMEOUT(emulator_meta_export_selects_types_fields_and_filters, 30)
{
    struct emu e;
    const char *gen[] = {"--generate", "values=0,orgunits=20,seed=3", NULL};
    start(&e, gen);
    cJSON *j = call(&e, "GET", "/api/metadata?dataElements=true&dataElements:fields=id,code&"
                               "dataElements:filter=code:like:ANC&dataSets=true&dataSets:fields=id,name", NULL, 200);
    int arrays = 0;
    const cJSON *it;
    cJSON_ArrayForEach(it, j)
        arrays += cJSON_IsArray(it);
    CHECK_INT(arrays, 2);
    CHECK_INT(cJSON_GetArraySize(cJSON_GetObjectItemCaseSensitive(j, "dataElements")), 2);
    CHECK(at(j, "dataElements.0.code") && !at(j, "dataElements.0.name"));
    CHECK(at(j, "dataSets.1.name") && !at(j, "dataSets.1.periodType"));
    char path[256];
    snprintf(path, sizeof path, "/api/metadata?filter=id:in:[%s,%s]", str_at(j, "dataElements.0.id"),
             str_at(j, "dataSets.0.id"));
    cJSON *k = call(&e, "GET", path, NULL, 200);
    CHECK_INT(cJSON_GetArraySize(cJSON_GetObjectItemCaseSensitive(k, "dataElements")), 1);
    CHECK_INT(cJSON_GetArraySize(cJSON_GetObjectItemCaseSensitive(k, "dataSets")), 1);
    CHECK(at(k, "dataSets.0.dataSetElements") != NULL); /* :owner by default */
    CHECK(at(k, "organisationUnits") == NULL);
    cJSON_Delete(j);
    cJSON_Delete(k);
    stop(&e);
}

TEST_TIMEOUT(emulator_meta_atomic_all_imports_nothing_none_imports_the_valid, 30)
{
    struct emu e;
    start(&e, NULL);
    const char *payload = "{\"dataElements\":[" DE("dGood000001", "Good", "bjDvmb4bfuf") ","
                          DE("dBad0000001", "Bad", "nOSuchCombo") "]}";
    cJSON *rep = call(&e, "POST", "/api/metadata", payload, 409);
    CHECK_STR(str_at(rep, "httpStatus"), "Conflict");
    CHECK_STR(str_at(rep, "status"), "WARNING");
    CHECK_STR(str_at(rep, "message"), "One or more errors occurred, please see full details in import report.");
    CHECK_STR(str_at(rep, "response.status"), "ERROR");
    check_stats(at(rep, "response"), 0, 0, 0, 2);
    CHECK_STR(str_at(rep, "response.typeReports.0.klass"), "org.hisp.dhis.dataelement.DataElement");
    CHECK_INT(cJSON_GetArraySize(at(rep, "response.typeReports.0.objectReports")), 1); /* ERRORS mode */
    CHECK_INT(int_at(rep, "response.typeReports.0.objectReports.0.index"), 1);
    CHECK(!has_object(&e, "dataElements", "dGood000001"));
    cJSON_Delete(rep);
    rep = call(&e, "POST", "/api/metadata?atomicMode=NONE", payload, 409);
    CHECK_STR(str_at(rep, "response.status"), "WARNING");
    check_stats(at(rep, "response"), 1, 0, 0, 1);
    CHECK(has_object(&e, "dataElements", "dGood000001"));
    CHECK(!has_object(&e, "dataElements", "dBad0000001"));
    cJSON_Delete(rep);
    stop(&e);
}

TEST_TIMEOUT(emulator_meta_validate_reports_and_changes_nothing, 30)
{
    struct emu e;
    start(&e, NULL);
    cJSON *rep = call(&e, "POST", "/api/metadata?importMode=VALIDATE", SEX_PAYLOAD, 200);
    CHECK_STR(str_at(rep, "response.importParams.importMode"), "VALIDATE");
    check_stats(at(rep, "response"), 4, 0, 0, 0);
    cJSON_Delete(rep);
    CHECK(!has_object(&e, "categoryCombos", "gSexCombo01"));
    cJSON *all = call(&e, "GET", "/api/metadata?defaults=EXCLUDE", NULL, 200);
    CHECK(at(all, "categoryOptions") == NULL && at(all, "categoryOptionCombos") == NULL);
    cJSON_Delete(all);
    /* a refused object under VALIDATE: the report says so, and still nothing changes */
    rep = call(&e, "POST", "/api/metadata?importMode=VALIDATE&atomicMode=NONE",
               "{\"dataElements\":[" DE("dBad0000001", "Bad", "nOSuchCombo") "]}", 409);
    CHECK_STR(str_at(error_report(at(rep, "response"), 0), "errorCode"), "E5002");
    cJSON_Delete(rep);
    stop(&e);
}

static void expect_error(struct emu *e, const char *query, const char *payload, const char *code,
                         const char *message)
{
    char path[256];
    snprintf(path, sizeof path, "/api/metadata?%s", query);
    cJSON *rep = call(e, "POST", path, payload, 409);
    const cJSON *er = error_report(at(rep, "response"), 0);
    CHECKF(er != NULL, "%s: no error report in %s", code, cJSON_PrintUnformatted(rep));
    CHECK_STR(str_at(er, "errorCode"), code);
    CHECK_STR(str_at(er, "message"), message);
    cJSON_Delete(rep);
}

TEST_TIMEOUT(emulator_meta_error_codes_are_dhis2s, 60)
{
    struct emu e;
    const char *gen[] = {"--generate", "values=300,orgunits=20,seed=5", NULL};
    start(&e, gen);
    cJSON_Delete(call(&e, "POST", "/api/metadata", "{\"dataElements\":[" DE("dOne0000001", "One", "bjDvmb4bfuf") "]}", 200));
    expect_error(&e, "", "{\"dataElements\":[" DE("dTwo0000001", "Two", "nOSuchCombo") "]}", "E5002",
                 "Invalid reference [nOSuchCombo] (CategoryCombo) on object Two [dTwo0000001] (DataElement) for "
                 "association `categoryCombo`");
    expect_error(&e, "", "{\"dataElements\":[{\"id\":\"dTwo0000001\",\"name\":\"Two\",\"shortName\":\"Two\","
                         "\"aggregationType\":\"SUM\",\"domainType\":\"AGGREGATE\"}]}",
                 "E4000", "Missing required property `valueType`");
    expect_error(&e, "", "{\"dataElements\":[" DE("dTwo0000001", "One", "bjDvmb4bfuf") "]}", "E5003",
                 "Property `name` with value `One` on object One [dTwo0000001] (DataElement) already exists on "
                 "object One [dOne0000001] (DataElement)");
    expect_error(&e, "importStrategy=CREATE", "{\"dataElements\":[" DE("dOne0000001", "One", "bjDvmb4bfuf") "]}",
                 "E5000", "Found matching object for reference, but import strategy is CREATE. Identifier was UID, "
                          "and object was One [dOne0000001] (DataElement).");
    expect_error(&e, "importStrategy=UPDATE", "{\"dataElements\":[" DE("dTwo0000001", "Two", "bjDvmb4bfuf") "]}",
                 "E5001", "No matching object for reference. Identifier was UID, and object was Two [dTwo0000001] "
                          "(DataElement).");
    expect_error(&e, "", "{\"dataElements\":[" DE("bad-uid", "Three", "bjDvmb4bfuf") "]}", "E4014",
                 "Invalid UID `bad-uid` for property `id`");
    /* a data element of a data set, and an option combo that data values use */
    cJSON *des = call(&e, "GET", "/api/dataElements?filter=code:eq:DE_WEIGHT&fields=id", NULL, 200);
    char payload[256];
    snprintf(payload, sizeof payload, "{\"dataElements\":[{\"id\":\"%s\"}]}", str_at(des, "dataElements.0.id"));
    expect_error(&e, "importStrategy=DELETE", payload, "E4030",
                 "Object could not be deleted because it is associated with another object: DataSet");
    cJSON *cocs = call(&e, "GET", "/api/categoryOptionCombos?filter=code:eq:COC_M_1&fields=id", NULL, 200);
    snprintf(payload, sizeof payload, "{\"categoryOptionCombos\":[{\"id\":\"%s\"}]}",
             str_at(cocs, "categoryOptionCombos.0.id"));
    expect_error(&e, "importStrategy=DELETE", payload, "E4030",
                 "Object could not be deleted because it is associated with another object: DataValue");
    CHECK(has_object(&e, "dataElements", str_at(des, "dataElements.0.id")));
    cJSON_Delete(des);
    cJSON_Delete(cocs);
    stop(&e);
}

TEST_TIMEOUT(emulator_meta_references_resolve_in_any_order, 30)
{
    struct emu e;
    start(&e, NULL);
    /* data elements before their combo, a data set after: DHIS2 sorts by dependency */
    cJSON *rep = call(&e, "POST", "/api/metadata",
                      "{\"dataElements\":[" DE("dSex0000001", "By sex", "gSexCombo01") "]," SEX_TYPES ",\"dataSets\":"
                      "[{\"id\":\"sNew0000001\",\"name\":\"New\",\"periodType\":\"Monthly\",\"dataSetElements\":"
                      "[{\"dataElement\":{\"id\":\"dSex0000001\"}}]}]}", 200);
    check_stats(at(rep, "response"), 6, 0, 0, 0);
    CHECK_STR(str_at(rep, "response.typeReports.0.klass"), "org.hisp.dhis.category.CategoryOption");
    CHECK_STR(str_at(rep, "response.typeReports.4.klass"), "org.hisp.dhis.dataset.DataSet");
    cJSON_Delete(rep);
    /* a refused object takes its referrers along under atomicMode=NONE */
    rep = call(&e, "POST", "/api/metadata?atomicMode=NONE",
               "{\"dataElements\":[" DE("dRef0000001", "Refers", "gBadCombo01") "],\"dataSets\":[{\"id\":"
               "\"sRef0000001\",\"name\":\"Refers\",\"periodType\":\"Monthly\",\"dataSetElements\":"
               "[{\"dataElement\":{\"id\":\"dRef0000001\"}}]}]}", 409);
    check_stats(at(rep, "response"), 0, 0, 0, 2);
    CHECK_STR(str_at(error_report(at(rep, "response"), 1), "message"),
              "Invalid reference [dRef0000001] (DataElement) on object Refers [sRef0000001] (DataSet) for "
              "association `dataSetElements`");
    cJSON_Delete(rep);
    stop(&e);
}

TEST_TIMEOUT(emulator_meta_option_combos_generated_and_2_43_rules, 60)
{
    struct emu old, e;
    start_version(&old, "2.41.0");
    start_version(&e, "2.43.0");
    /* a combo imported without its option combos gets them, on every version */
    cJSON_Delete(call(&e, "POST", "/api/metadata", SEX_PAYLOAD, 200));
    cJSON *cocs = call(&e, "GET", "/api/categoryOptionCombos?filter=categoryCombo.id:eq:gSexCombo01&fields=id,name,"
                                  "categoryOptions&order=name:asc", NULL, 200);
    CHECK_INT(cJSON_GetArraySize(at(cocs, "categoryOptionCombos")), 2);
    CHECK_STR(str_at(cocs, "categoryOptionCombos.0.name"), "Female");
    CHECK_STR(str_at(cocs, "categoryOptionCombos.1.categoryOptions.0.id"), "oMale000001");
    cJSON *combo = call(&e, "GET", "/api/categoryCombos/gSexCombo01?fields=categoryOptionCombos", NULL, 200);
    CHECK_INT(cJSON_GetArraySize(at(combo, "categoryOptionCombos")), 2);
    cJSON_Delete(combo);
    /* E1132: the same option set again under a new id */
    char payload[1024];
    snprintf(payload, sizeof payload,
             "{\"categoryOptionCombos\":[{\"id\":\"cDupFemale1\",\"name\":\"F\",\"categoryCombo\":{\"id\":\"gSexCombo01\"},"
             "\"categoryOptions\":[{\"id\":\"oFemale0001\"}]},{\"id\":\"cDupMale001\",\"name\":\"M\",\"categoryCombo\":"
             "{\"id\":\"gSexCombo01\"},\"categoryOptions\":[{\"id\":\"oMale000001\"}]}]}");
    char msg[512];
    snprintf(msg, sizeof msg, "Provided CategoryOptionCombo cDupFemale1 cannot be processed (potential duplicate). An "
             "existing CategoryOptionCombo %s has the same CategoryCombo gSexCombo01 and same CategoryOptions "
             "[oFemale0001]", str_at(cocs, "categoryOptionCombos.0.id"));
    expect_error(&e, "", payload, "E1132", msg);
    cJSON_Delete(cocs);
    /* E1130: one option combo of two; E1131: two, one of them not a combination of the combo */
    const char *one = "{\"categoryOptions\":[{\"id\":\"oAaaaaaaaa1\",\"name\":\"A\",\"shortName\":\"A\"},{\"id\":"
                      "\"oBbbbbbbbb1\",\"name\":\"B\",\"shortName\":\"B\"}],\"categories\":[{\"id\":\"gAbCateg001\","
                      "\"name\":\"AB\",\"shortName\":\"AB\",\"categoryOptions\":[{\"id\":\"oAaaaaaaaa1\"},{\"id\":"
                      "\"oBbbbbbbbb1\"}]}],\"categoryCombos\":[{\"id\":\"gAbCombo001\",\"name\":\"AB\",\"categories\":"
                      "[{\"id\":\"gAbCateg001\"}]}],\"categoryOptionCombos\":[{\"id\":\"cAaaaaaaaa1\",\"name\":\"A\","
                      "\"categoryCombo\":{\"id\":\"gAbCombo001\"},\"categoryOptions\":[{\"id\":\"oAaaaaaaaa1\"}]}%s]}";
    snprintf(payload, sizeof payload, one, "");
    expect_error(&e, "", payload, "E1130",
                 "Importing 1 CategoryOptionCombos does not match the expected amount of 2 for CategoryCombo gAbCombo001");
    cJSON_Delete(call(&old, "POST", "/api/metadata", payload, 200)); /* 2.41 takes it, and adds the missing one */
    cJSON *c41 = call(&old, "GET", "/api/categoryOptionCombos?filter=categoryCombo.id:eq:gAbCombo001", NULL, 200);
    CHECK_INT(cJSON_GetArraySize(at(c41, "categoryOptionCombos")), 2);
    cJSON_Delete(c41);
    snprintf(payload, sizeof payload, one,
             ",{\"id\":\"cMmmmmmmmm1\",\"name\":\"M\",\"categoryCombo\":{\"id\":\"gAbCombo001\"},"
             "\"categoryOptions\":[{\"id\":\"oMale000001\"}]}");
    expect_error(&e, "", payload, "E1131",
                 "Unexpected CategoryOptionCombo provided with CategoryOptions: [oMale000001] for CategoryCombo: "
                 "gAbCombo001. Missing expected CategoryOptionCombos with CategoryOption sets: [[oAaaaaaaaa1], "
                 "[oBbbbbbbbb1]]");
    stop(&old);
    stop(&e);
}

/* An empty instance with data elements dOne0000001 (One) and dTwo0000001 (Two). */
static void start_with_two_elements(struct emu *e)
{
    start(e, NULL);
    cJSON_Delete(call(e, "POST", "/api/metadata", "{\"dataElements\":[" DE("dOne0000001", "One", "bjDvmb4bfuf") ","
                      DE("dTwo0000001", "Two", "bjDvmb4bfuf") "]}", 200));
}

TEST_TIMEOUT(emulator_meta_deleted_objects_record_deletions, 30)
{
    struct emu e;
    start_with_two_elements(&e);
    cJSON *none = call(&e, "GET", "/api/deletedObjects", NULL, 200);
    CHECK_INT(int_at(none, "pager.total"), 0);
    cJSON_Delete(none);
    cJSON *rep = call(&e, "POST", "/api/metadata?importStrategy=DELETE", "{\"dataElements\":[{\"id\":\"dOne0000001\"}]}", 200);
    check_stats(at(rep, "response"), 0, 0, 1, 0);
    cJSON_Delete(rep);
    cJSON *one = call(&e, "DELETE", "/api/dataElements/dTwo0000001", NULL, 200);
    CHECK_STR(str_at(one, "response.responseType"), "ObjectReport");
    cJSON_Delete(one);
    cJSON_Delete(call(&e, "DELETE", "/api/dataElements/dTwo0000001", NULL, 404));
    CHECK(!has_object(&e, "dataElements", "dOne0000001") && !has_object(&e, "dataElements", "dTwo0000001"));
    cJSON *d = call(&e, "GET", "/api/deletedObjects?klass=DataElement&deletedAt=2020-01-01", NULL, 200);
    CHECK_INT(int_at(d, "pager.total"), 2);
    CHECK_STR(str_at(d, "deletedObjects.0.klass"), "DataElement");
    CHECK_STR(str_at(d, "deletedObjects.0.uid"), "dOne0000001");
    CHECK_STR(str_at(d, "deletedObjects.0.code"), "dOne0000001");
    CHECK(str_at(d, "deletedObjects.1.deletedAt") != NULL);
    cJSON_Delete(d);
    d = call(&e, "GET", "/api/deletedObjects?klass=DataSet", NULL, 200);
    CHECK_INT(int_at(d, "pager.total"), 0);
    cJSON_Delete(d);
    d = call(&e, "GET", "/api/deletedObjects?deletedAt=2999-01-01&pageSize=1", NULL, 200);
    CHECK_INT(int_at(d, "pager.total"), 0);
    cJSON_Delete(d);
    d = call(&e, "GET", "/api/deletedObjects?pageSize=1&page=2", NULL, 200);
    CHECK_INT(int_at(d, "pager.pageCount"), 2);
    CHECK_STR(str_at(d, "deletedObjects.0.uid"), "dTwo0000001");
    cJSON_Delete(d);
    stop(&e);
}

TEST_TIMEOUT(emulator_meta_long_url_is_414, 30)
{
    struct emu e;
    start(&e, NULL);
    const char *head = "/api/metadata?fields=:owner&filter=id:in:[";
    char *url = malloc(strlen(head) + 800 * 12 + 2);
    CHECK(url != NULL);
    char *p = url + sprintf(url, "%s", head);
    for (int i = 0; i < 800; i++)
        p += sprintf(p, "%sa%010d", i ? "," : "", i);
    strcpy(p, "]");
    size_t n = strlen(e.base) + strlen(url) + 1;
    char *full = malloc(n);
    snprintf(full, n, "%s%s", e.base, url);
    const char *h[] = {AUTH, NULL};
    struct spec_resp r;
    CHECK(spec_http("GET", full, h, NULL, 0, &r) == 0);
    CHECK_INT(r.status, 414);
    spec_resp_free(&r);
    /* a few hundred ids pass */
    url[strlen("/api/metadata?fields=:owner&filter=id:in:[") + 300 * 12 - 1] = '\0';
    snprintf(full, n, "%s%s]", e.base, url);
    CHECK(spec_http("GET", full, h, NULL, 0, &r) == 0);
    CHECK_INT(r.status, 200);
    spec_resp_free(&r);
    free(full);
    free(url);
    stop(&e);
}

/* Polls the async job until its notifications say completed; returns its task summary. */
static cJSON *wait_task(struct emu *e, const char *id)
{
    char path[256];
    snprintf(path, sizeof path, "/api/system/tasks/METADATA_IMPORT/%s", id);
    for (int i = 0; i < 300; i++) {
        cJSON *n = call(e, "GET", path, NULL, 200);
        bool done = cJSON_IsTrue(at(n, "0.completed"));
        cJSON_Delete(n);
        if (done) {
            snprintf(path, sizeof path, "/api/system/taskSummaries/METADATA_IMPORT/%s", id);
            return call(e, "GET", path, NULL, 200);
        }
        usleep(20000);
    }
    test_fail(__FILE__, __LINE__, "metadata import task %s never completed", id);
}

TEST_TIMEOUT(emulator_meta_async_import_is_a_task, 30)
{
    struct emu e, old;
    start(&e, NULL);
    start_version(&old, "2.40.2");
    cJSON *job = call(&e, "POST", "/api/metadata?async=true", SEX_PAYLOAD, 200);
    CHECK_CONTAINS(str_at(job, "message"), "Initiated METADATA_IMPORT (");
    CHECK_STR(str_at(job, "response.jobType"), "METADATA_IMPORT");
    char endpoint[128];
    snprintf(endpoint, sizeof endpoint, "/api/system/tasks/METADATA_IMPORT/%s", str_at(job, "response.id"));
    CHECK_STR(str_at(job, "response.relativeNotifierEndpoint"), endpoint);
    cJSON *summary = wait_task(&e, str_at(job, "response.id"));
    CHECK_STR(str_at(summary, "status"), "OK");
    check_stats(summary, 4, 0, 0, 0);
    CHECK(has_object(&e, "categoryCombos", "gSexCombo01"));
    cJSON_Delete(summary);
    cJSON_Delete(job);
    job = call(&old, "POST", "/api/metadata?async=true", SEX_PAYLOAD, 200);
    CHECK_STR(str_at(job, "message"), "Initiated metadataImport");
    CHECK_STR(str_at(job, "response.responseType"), "JobConfigurationWebMessageResponse");
    cJSON_Delete(wait_task(&old, str_at(job, "response.id")));
    cJSON_Delete(job);
    stop(&e);
    stop(&old);
}

TEST_TIMEOUT(emulator_meta_version_shapes_and_merge_mode, 30)
{
    struct emu v40, v41;
    start_version(&v40, "2.40.2");
    start_version(&v41, "2.41.0");
    const char *first = "{\"dataElements\":[{\"id\":\"dOne0000001\",\"name\":\"One\",\"shortName\":\"One\","
                        "\"description\":\"kept by MERGE\",\"valueType\":\"INTEGER\",\"aggregationType\":\"SUM\","
                        "\"domainType\":\"AGGREGATE\"}]}";
    const char *second = "{\"dataElements\":[" DE("dOne0000001", "One", "bjDvmb4bfuf") "]}";
    struct emu *both[] = {&v40, &v41};
    for (int i = 0; i < 2; i++) {
        cJSON_Delete(call(both[i], "POST", "/api/metadata", first, 200));
        cJSON *rep = call(both[i], "POST", "/api/metadata?mergeMode=MERGE", second, 200);
        CHECK_STR(str_at(rep, "response.responseType"), "ImportReport");
        CHECK(i == 0 ? at(rep, "response.importParams.mergeMode") != NULL : !at(rep, "response.importParams.mergeMode"));
        cJSON_Delete(rep);
        cJSON *de = call(both[i], "GET", "/api/dataElements/dOne0000001?fields=description", NULL, 200);
        if (i == 0)
            CHECK_STR(str_at(de, "description"), "kept by MERGE");
        else
            CHECK(at(de, "description") == NULL); /* 2.41 dropped mergeMode: the object is replaced */
        cJSON_Delete(de);
    }
    /* /api/37/ answers the bare report, conflicts included */
    cJSON *bare = call(&v41, "POST", "/api/37/metadata", "{\"dataElements\":[" DE("dTwo0000001", "Two", "nOSuchCombo") "]}", 409);
    CHECK_STR(str_at(bare, "status"), "ERROR");
    CHECK(at(bare, "httpStatus") == NULL && at(bare, "typeReports") != NULL);
    cJSON_Delete(bare);
    stop(&v40);
    stop(&v41);
}

TEST_TIMEOUT(emulator_meta_incremental_list_by_last_updated, 30)
{
    struct emu e;
    start_with_two_elements(&e);
    cJSON *info = call(&e, "GET", "/api/system/info", NULL, 200);
    char since[64];
    snprintf(since, sizeof since, "%s", str_at(info, "serverDate"));
    cJSON_Delete(info);
    usleep(20000); /* lastUpdated has millisecond resolution */
    cJSON_Delete(call(&e, "POST", "/api/metadata", "{\"dataElements\":[" DE("dTwo0000001", "Two renamed", "bjDvmb4bfuf") "]}", 200));
    char path[256];
    snprintf(path, sizeof path, "/api/dataElements?fields=id,name,lastUpdated&filter=lastUpdated:gt:%s&paging=false", since);
    cJSON *j = call(&e, "GET", path, NULL, 200);
    CHECK_INT(cJSON_GetArraySize(at(j, "dataElements")), 1);
    CHECK_STR(str_at(j, "dataElements.0.name"), "Two renamed");
    cJSON_Delete(j);
    stop(&e);
}

TEST_TIMEOUT(emulator_meta_real_exports_import, 60)
{
    static const char *files[] = {"dataset_with_sections.json", "options_and_indicators.json", "org_unit_hierarchy.json"};
    static const char *versions[] = {"2.40.2", "2.41.0", "2.43.0"};
    for (int v = 0; v < 3; v++) {
        struct emu e;
        start_version(&e, versions[v]);
        for (int f = 0; f < 3; f++) {
            char *body = read_fixture(files[f]);
            cJSON *rep = call(&e, "POST", "/api/metadata", body, 200);
            CHECKF(int_at(rep, "response.stats.created") > 3, "%s on %s: %s", files[f], versions[v], cJSON_PrintUnformatted(rep));
            cJSON_Delete(rep);
            free(body);
        }
        CHECK(has_object(&e, "sections", "sCases00001") && has_object(&e, "users", "Kq3xW8nR2tU"));
        CHECK(has_object(&e, "indicators", "iPosRate001") && has_object(&e, "organisationUnitGroupSets", "tTypeSet001"));
        /* the export's own default combo is the target's */
        cJSON *de = call(&e, "GET", "/api/dataElements/eTested0001?fields=categoryCombo", NULL, 200);
        CHECK_STR(str_at(de, "categoryCombo.id"), "bjDvmb4bfuf");
        cJSON_Delete(de);
        CHECK(!has_object(&e, "categoryCombos", "p0KPaWEg3cf"));
        cJSON *ou = call(&e, "GET", "/api/organisationUnits/uFacSouth01?fields=path,level", NULL, 200);
        CHECK_STR(str_at(ou, "path"), "/uNational01/uDistSouth1/uFacSouth01");
        CHECK_INT(int_at(ou, "level"), 3);
        cJSON_Delete(ou);
        /* data values flow for what was imported */
        cJSON *s = call(&e, "POST", "/api/dataValueSets",
                        "{\"dataValues\":[{\"dataElement\":\"mCasesSex01\",\"categoryOptionCombo\":\"cMale000001\","
                        "\"period\":\"202401\",\"orgUnit\":\"rRepublic01\",\"value\":\"3\"}]}", 200);
        CHECK_INT(int_at(s, "response.importCount.imported"), 1);
        cJSON_Delete(s);
        stop(&e);
    }
}

TEST_TIMEOUT(emulator_meta_generate_many_objects, 60)
{
    struct emu e;
    const char *gen[] = {"--generate", "values=0,orgunits=100,objects=5000,seed=2", NULL};
    start(&e, gen);
    cJSON *all = call(&e, "GET", "/api/metadata?fields=id", NULL, 200);
    int total = 0;
    const cJSON *it;
    cJSON_ArrayForEach(it, all)
        total += cJSON_IsArray(it) ? cJSON_GetArraySize(it) : 0;
    CHECKF(total >= 5000 && total < 5100, "expected about 5000 objects, saw %d", total);
    cJSON_Delete(all);
    cJSON *ds = call(&e, "GET", "/api/dataSets?filter=code:eq:DS_BULK&fields=dataSetElements", NULL, 200);
    CHECKF(cJSON_GetArraySize(at(ds, "dataSets.0.dataSetElements")) > 4800, "the bulk data set holds the extra elements");
    cJSON_Delete(ds);
    stop(&e);
}

TEST_TIMEOUT(emulator_meta_save_keeps_imported_metadata, 30)
{
    char *dir = spec_test_dir("meta-save");
    const char *args[] = {"--data", dir, "--save", NULL};
    struct emu e;
    start(&e, args);
    cJSON_Delete(call(&e, "POST", "/api/metadata", SEX_PAYLOAD, 200));
    stop(&e);
    start(&e, args);
    CHECK(has_object(&e, "categoryCombos", "gSexCombo01"));
    cJSON *cocs = call(&e, "GET", "/api/categoryOptionCombos?filter=categoryCombo.id:eq:gSexCombo01", NULL, 200);
    CHECK_INT(cJSON_GetArraySize(at(cocs, "categoryOptionCombos")), 2);
    cJSON_Delete(cocs);
    stop(&e);
    free(dir);
}
