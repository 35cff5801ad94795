/* emulator_test.c — the DHIS2 emulator from the outside: each test starts build/dhis2-emulator
 * on a free port (fixture data from spec/fixtures/emulator/basic, or generated) and talks to it
 * over real HTTP. Expected shapes come from dhis2-api.md (and dhis2-core where it is quoted). */
#include <arpa/inet.h>
#include <ifaddrs.h>
#include <netinet/in.h>
#include <signal.h>
#include <time.h>
#include <sys/wait.h>
#include <unistd.h>
#include <zlib.h>

#include "harness.h"
#include "period.h"
#include "test.h"

#define FIXTURE "spec/fixtures/emulator/basic"
#define AUTH "Authorization: Basic YWRtaW46ZGlzdHJpY3Q=" /* admin:district */

struct emu {
    pid_t pid;
    int port;
    char base[64];
};

/* Starts the emulator with the given extra arguments (NULL-terminated) and waits until it
 * answers on its own state route (which injected faults leave alone). */
static void emu_start(struct emu *e, const char *const extra[])
{
    char *argv[32];
    char port[16];
    int n = 0;
    e->port = spec_free_port();
    snprintf(port, sizeof port, "%d", e->port);
    snprintf(e->base, sizeof e->base, "http://127.0.0.1:%d", e->port);
    argv[n++] = spec_bin("dhis2-emulator");
    argv[n++] = "--port";
    argv[n++] = port;
    for (int i = 0; extra && extra[i] && n < 30; i++)
        argv[n++] = (char *)extra[i];
    argv[n] = NULL;
    e->pid = spec_spawn(argv, NULL, NULL);
    char url[128];
    snprintf(url, sizeof url, "%s/emulator/state", e->base);
    CHECKF(spec_wait_status(url, 200, 15000) == 0, "emulator did not start: %s", argv[0]);
    free(argv[0]);
}

static void emu_fixture(struct emu *e, const char *version)
{
    const char *args[] = {"--data", FIXTURE, "--version", version ? version : "2.41.0", NULL};
    emu_start(e, args);
}

static int emu_stop(struct emu *e)
{
    return spec_stop(e->pid, 5000);
}

/* A request with admin credentials; path is appended to the base URL. */
static void req(struct emu *e, const char *method, const char *path, const char *body, struct spec_resp *r)
{
    char url[4096];
    snprintf(url, sizeof url, "%s%s", e->base, path);
    const char *h[] = {AUTH, "Content-Type: application/json", NULL};
    CHECKF(spec_http(method, url, h, body, body ? strlen(body) : 0, r) == 0, "%s %s failed", method, path);
}

static cJSON *get_json(struct emu *e, const char *path, long expect_status)
{
    struct spec_resp r;
    req(e, "GET", path, NULL, &r);
    CHECKF(r.status == expect_status, "GET %s: expected HTTP %ld, saw %ld: %.500s", path, expect_status,
           r.status, r.body ? r.body : "");
    cJSON *j = spec_resp_json(&r);
    CHECKF(j != NULL, "GET %s: not JSON: %.500s", path, r.body ? r.body : "");
    spec_resp_free(&r);
    return j;
}

static cJSON *post_json(struct emu *e, const char *path, const char *body, long expect_status)
{
    struct spec_resp r;
    req(e, "POST", path, body, &r);
    CHECKF(r.status == expect_status, "POST %s: expected HTTP %ld, saw %ld: %.1500s", path, expect_status,
           r.status, r.body ? r.body : "");
    cJSON *j = spec_resp_json(&r);
    CHECKF(j != NULL, "POST %s: not JSON: %.500s", path, r.body ? r.body : "");
    spec_resp_free(&r);
    return j;
}

static const char *jstr(const cJSON *o, const char *path)
{
    /* "a.b.c" through objects */
    char key[128];
    const cJSON *cur = o;
    while (cur && *path) {
        const char *dot = strchr(path, '.');
        size_t n = dot ? (size_t)(dot - path) : strlen(path);
        snprintf(key, sizeof key, "%.*s", (int)n, path);
        cur = cJSON_GetObjectItemCaseSensitive(cur, key);
        path += n + (dot ? 1 : 0);
    }
    return cJSON_IsString(cur) ? cur->valuestring : NULL;
}

static double jnum(const cJSON *o, const char *path)
{
    char key[128];
    const cJSON *cur = o;
    while (cur && *path) {
        const char *dot = strchr(path, '.');
        size_t n = dot ? (size_t)(dot - path) : strlen(path);
        snprintf(key, sizeof key, "%.*s", (int)n, path);
        cur = cJSON_GetObjectItemCaseSensitive(cur, key);
        path += n + (dot ? 1 : 0);
    }
    return cJSON_IsNumber(cur) ? cur->valuedouble : -1;
}

static int count_values(struct emu *e, const char *query)
{
    char path[2048];
    snprintf(path, sizeof path, "/api/dataValueSets?%s", query);
    cJSON *j = get_json(e, path, 200);
    int n = cJSON_GetArraySize(cJSON_GetObjectItemCaseSensitive(j, "dataValues"));
    cJSON_Delete(j);
    return n;
}

static void check_counts(cJSON *summary_wm, int imported, int updated, int ignored, int deleted)
{
    const cJSON *s = cJSON_GetObjectItemCaseSensitive(summary_wm, "response");
    if (!s)
        s = summary_wm;
    CHECKF(jnum(s, "importCount.imported") == imported && jnum(s, "importCount.updated") == updated &&
               jnum(s, "importCount.ignored") == ignored && jnum(s, "importCount.deleted") == deleted,
           "expected imported/updated/ignored/deleted %d/%d/%d/%d, saw %g/%g/%g/%g", imported, updated,
           ignored, deleted, jnum(s, "importCount.imported"), jnum(s, "importCount.updated"),
           jnum(s, "importCount.ignored"), jnum(s, "importCount.deleted"));
}

/* ---------------------------------------------------------------- system, auth */

TEST_TIMEOUT(emulator_auth_basic_token_and_401, 30)
{
    struct emu e;
    const char *args[] = {"--data", FIXTURE, "--pat", "d2p_TESTTOKEN123", NULL};
    emu_start(&e, args);
    char url[256];
    struct spec_resp r;
    snprintf(url, sizeof url, "%s/api/system/info", e.base);
    CHECK(spec_http("GET", url, NULL, NULL, 0, &r) == 0);
    CHECK_INT(r.status, 401);
    cJSON *j = spec_resp_json(&r);
    CHECK_STR(jstr(j, "httpStatus"), "Unauthorized");
    CHECK_INT(jnum(j, "httpStatusCode"), 401);
    CHECK_STR(jstr(j, "status"), "ERROR");
    CHECK_CONTAINS(r.headers, "application/json");
    cJSON_Delete(j);
    spec_resp_free(&r);
    const char *wrong[] = {"Authorization: Basic YWRtaW46d3Jvbmc=", NULL};
    CHECK(spec_http("GET", url, wrong, NULL, 0, &r) == 0);
    CHECK_INT(r.status, 401);
    spec_resp_free(&r);
    const char *pat[] = {"Authorization: ApiToken d2p_TESTTOKEN123", NULL};
    CHECK(spec_http("GET", url, pat, NULL, 0, &r) == 0);
    CHECK_INT(r.status, 200);
    spec_resp_free(&r);
    const char *badpat[] = {"Authorization: ApiToken d2p_OTHER", NULL};
    CHECK(spec_http("GET", url, badpat, NULL, 0, &r) == 0);
    CHECK_INT(r.status, 401);
    spec_resp_free(&r);
    emu_stop(&e);
}

TEST_TIMEOUT(emulator_system_info_and_me, 30)
{
    struct emu e;
    emu_fixture(&e, "2.40.3");
    cJSON *j = get_json(&e, "/api/system/info", 200);
    CHECK_STR(jstr(j, "version"), "2.40.3");
    CHECK(jstr(j, "revision") && jstr(j, "buildTime") && jstr(j, "systemId") && jstr(j, "systemName"));
    CHECK(jstr(j, "contextPath"));
    /* serverDate: yyyy-MM-dd'T'HH:mm:ss.SSS, today (UTC) */
    const char *sd = jstr(j, "serverDate");
    CHECK(sd && strlen(sd) == 23 && sd[10] == 'T' && sd[19] == '.');
    char today[11];
    date_format(date_today(), today);
    CHECKF(strncmp(sd, today, 10) == 0, "serverDate %s is not today %s", sd, today);
    cJSON_Delete(j);
    j = get_json(&e, "/api/40/system/info", 200); /* versioned path */
    CHECK_STR(jstr(j, "version"), "2.40.3");
    cJSON_Delete(j);
    j = get_json(&e, "/api/me", 200);
    CHECK_STR(jstr(j, "username"), "admin");
    CHECK(jstr(j, "id") && jstr(j, "name"));
    CHECK(cJSON_GetArraySize(cJSON_GetObjectItemCaseSensitive(j, "organisationUnits")) == 1);
    cJSON_Delete(j);
    emu_stop(&e);
}

/* ---------------------------------------------------------------- metadata lists */

TEST_TIMEOUT(emulator_metadata_lists_fields_filters_paging, 30)
{
    struct emu e;
    emu_fixture(&e, NULL);
    cJSON *j = get_json(&e, "/api/dataElements", 200);
    /* default fields are id and displayName; the pager comes first */
    CHECK_STR(cJSON_GetObjectItemCaseSensitive(j, "pager") == j->child ? "pager" : "x", "pager");
    CHECK_INT(jnum(j, "pager.total"), 9);
    CHECK_INT(jnum(j, "pager.page"), 1);
    CHECK_INT(jnum(j, "pager.pageCount"), 1);
    CHECK_INT(jnum(j, "pager.pageSize"), 50);
    cJSON *first = cJSON_GetArrayItem(cJSON_GetObjectItemCaseSensitive(j, "dataElements"), 0);
    CHECK_STR(jstr(first, "id"), "fbfJHSPpUQD");
    CHECK_STR(jstr(first, "displayName"), "ANC 1st visit");
    CHECK(!cJSON_GetObjectItemCaseSensitive(first, "valueType"));
    cJSON_Delete(j);

    j = get_json(&e, "/api/dataElements.json?pageSize=4&page=2&fields=id", 200);
    CHECK_INT(jnum(j, "pager.page"), 2);
    CHECK_INT(jnum(j, "pager.pageCount"), 3);
    CHECK_INT(jnum(j, "pager.total"), 9);
    CHECK_INT(jnum(j, "pager.pageSize"), 4);
    CHECK_CONTAINS(jstr(j, "pager.nextPage"), "page=3");
    CHECK_INT(cJSON_GetArraySize(cJSON_GetObjectItemCaseSensitive(j, "dataElements")), 4);
    cJSON_Delete(j);

    j = get_json(&e, "/api/dataElements?paging=false&fields=id", 200);
    CHECK(!cJSON_GetObjectItemCaseSensitive(j, "pager"));
    CHECK_INT(cJSON_GetArraySize(cJSON_GetObjectItemCaseSensitive(j, "dataElements")), 9);
    cJSON_Delete(j);

    j = get_json(&e, "/api/dataElements?fields=id,code,name,valueType,categoryCombo%5Bid%5D&filter=code:eq:DE_MALARIA", 200);
    cJSON *de = cJSON_GetArrayItem(cJSON_GetObjectItemCaseSensitive(j, "dataElements"), 0);
    CHECK_INT(jnum(j, "pager.total"), 1);
    CHECK_STR(jstr(de, "id"), "Jtf34kNZhzP");
    CHECK_STR(jstr(de, "valueType"), "INTEGER");
    CHECK_STR(jstr(de, "categoryCombo.id"), "CCsex000001");
    CHECK(!cJSON_GetObjectItemCaseSensitive(cJSON_GetObjectItemCaseSensitive(de, "categoryCombo"), "name"));
    cJSON_Delete(j);

    /* several filters are ANDed; in, ilike, ne, !null */
    j = get_json(&e, "/api/dataElements?paging=false&filter=valueType:in:%5BINTEGER,NUMBER%5D&filter=name:ilike:ANC", 200);
    CHECK_INT(cJSON_GetArraySize(cJSON_GetObjectItemCaseSensitive(j, "dataElements")), 1);
    cJSON_Delete(j);
    j = get_json(&e, "/api/dataElements?paging=false&filter=name:like:visit&filter=code:ne:DE_ANC1", 200);
    CHECK_INT(cJSON_GetArraySize(cJSON_GetObjectItemCaseSensitive(j, "dataElements")), 1);
    cJSON_Delete(j);
    j = get_json(&e, "/api/organisationUnits?paging=false&filter=parent:!null&fields=id", 200);
    CHECK_INT(cJSON_GetArraySize(cJSON_GetObjectItemCaseSensitive(j, "organisationUnits")), 5);
    cJSON_Delete(j);

    j = get_json(&e, "/api/organisationUnits?filter=id:eq:DiszpKrYNg8&fields=id,path,level,parent%5Bid%5D", 200);
    cJSON *ou = cJSON_GetArrayItem(cJSON_GetObjectItemCaseSensitive(j, "organisationUnits"), 0);
    CHECK_STR(jstr(ou, "path"), "/ImspTQPwCqd/O6uvpzGd5pu/DiszpKrYNg8");
    CHECK_INT(jnum(ou, "level"), 3);
    CHECK_STR(jstr(ou, "parent.id"), "O6uvpzGd5pu");
    cJSON_Delete(j);

    j = get_json(&e, "/api/dataSets?fields=id,periodType,dataSetElements%5BdataElement%5Bid%5D%5D,organisationUnits%5Bid%5D,categoryCombo%5Bid%5D&filter=periodType:eq:Quarterly", 200);
    cJSON *ds = cJSON_GetArrayItem(cJSON_GetObjectItemCaseSensitive(j, "dataSets"), 0);
    CHECK_STR(jstr(ds, "id"), "QX4ZTUbOt3a");
    CHECK_STR(jstr(ds, "categoryCombo.id"), "CCfund00001");
    cJSON *dse = cJSON_GetArrayItem(cJSON_GetObjectItemCaseSensitive(ds, "dataSetElements"), 0);
    CHECK_STR(jstr(dse, "dataElement.id"), "deHiv000001");
    CHECK(!cJSON_GetObjectItemCaseSensitive(dse, "dataSet"));
    CHECK_STR(jstr(cJSON_GetArrayItem(cJSON_GetObjectItemCaseSensitive(ds, "organisationUnits"), 0), "id"), "DiszpKrYNg8");
    cJSON_Delete(j);

    /* the option combos of a combo, and of a combo by its back reference */
    j = get_json(&e, "/api/categoryCombos/CCsex000001?fields=id,categoryOptionCombos%5Bid%5D", 200);
    CHECK_INT(cJSON_GetArraySize(cJSON_GetObjectItemCaseSensitive(j, "categoryOptionCombos")), 2);
    cJSON_Delete(j);
    j = get_json(&e, "/api/categoryOptionCombos?paging=false&fields=id,categoryCombo%5Bid%5D&filter=categoryCombo.id:eq:CCfund00001", 200);
    CHECK_INT(cJSON_GetArraySize(cJSON_GetObjectItemCaseSensitive(j, "categoryOptionCombos")), 2);
    cJSON_Delete(j);
    j = get_json(&e, "/api/dataElementGroups?fields=id,dataElements%5Bid%5D", 200);
    CHECK_INT(cJSON_GetArraySize(cJSON_GetObjectItemCaseSensitive(cJSON_GetArrayItem(cJSON_GetObjectItemCaseSensitive(j, "dataElementGroups"), 0), "dataElements")), 2);
    cJSON_Delete(j);

    /* one object: all fields by default; unknown id is a 404 WebMessage */
    j = get_json(&e, "/api/dataElements/f7n9E0hX8qk", 200);
    CHECK_STR(jstr(j, "code"), "DE_WEIGHT");
    CHECK_STR(jstr(j, "valueType"), "NUMBER");
    cJSON_Delete(j);
    j = get_json(&e, "/api/dataElements/xYzUnknown1", 404);
    CHECK_STR(jstr(j, "status"), "ERROR");
    CHECK_INT(jnum(j, "httpStatusCode"), 404);
    CHECK_CONTAINS(jstr(j, "message"), "xYzUnknown1");
    cJSON_Delete(j);
    emu_stop(&e);
}

/* ---------------------------------------------------------------- reading data values */

TEST_TIMEOUT(emulator_dvs_get_shape_matches_dhis2, 30)
{
    struct emu e;
    emu_fixture(&e, NULL);
    struct spec_resp r;
    req(&e, "GET", "/api/dataValueSets?dataSet=BfMAe6Itzgt&period=202401&orgUnit=DiszpKrYNg8", NULL, &r);
    CHECK_INT(r.status, 200);
    /* exactly one data set, period and org unit: the header, then the values with every field
     * in DHIS2's order, null comment written as null, followup always a boolean */
    CHECK_STR(r.body,
              "{\"dataSet\":\"BfMAe6Itzgt\",\"period\":\"202401\",\"orgUnit\":\"DiszpKrYNg8\",\"dataValues\":["
              "{\"dataElement\":\"fbfJHSPpUQD\",\"period\":\"202401\",\"orgUnit\":\"DiszpKrYNg8\","
              "\"categoryOptionCombo\":\"HllvX50cXC0\",\"attributeOptionCombo\":\"HllvX50cXC0\",\"value\":\"12\","
              "\"storedBy\":\"admin\",\"created\":\"2024-02-03T10:11:12.000+0000\","
              "\"lastUpdated\":\"2024-02-03T10:11:12.000+0000\",\"comment\":\"checked\",\"followup\":false},"
              "{\"dataElement\":\"Jtf34kNZhzP\",\"period\":\"202401\",\"orgUnit\":\"DiszpKrYNg8\","
              "\"categoryOptionCombo\":\"COCmale0001\",\"attributeOptionCombo\":\"HllvX50cXC0\",\"value\":\"3\","
              "\"storedBy\":\"admin\",\"created\":\"2024-02-03T10:11:12.000+0000\","
              "\"lastUpdated\":\"2024-02-03T10:11:12.000+0000\",\"comment\":null,\"followup\":false}]}");
    spec_resp_free(&r);
    /* several periods: no header */
    req(&e, "GET", "/api/dataValueSets.json?dataSet=BfMAe6Itzgt&period=202401&period=202402&orgUnit=DiszpKrYNg8", NULL, &r);
    CHECK(strncmp(r.body, "{\"dataValues\":[", 15) == 0);
    spec_resp_free(&r);
    /* deleted values only with includeDeleted, and then with "deleted":true last */
    CHECK_INT(count_values(&e, "dataSet=BfMAe6Itzgt&period=202403&orgUnit=DiszpKrYNg8"), 0);
    req(&e, "GET", "/api/dataValueSets?dataSet=BfMAe6Itzgt&period=202403&orgUnit=DiszpKrYNg8&includeDeleted=true", NULL, &r);
    CHECK_CONTAINS(r.body, "\"comment\":null,\"followup\":false,\"deleted\":true}");
    spec_resp_free(&r);
    emu_stop(&e);
}

TEST_TIMEOUT(emulator_dvs_get_selectors, 30)
{
    struct emu e;
    emu_fixture(&e, NULL);
    /* children: the whole subtree by path */
    CHECK_INT(count_values(&e, "dataSet=BfMAe6Itzgt&period=202401&orgUnit=ImspTQPwCqd"), 0);
    CHECK_INT(count_values(&e, "dataSet=BfMAe6Itzgt&period=202401&orgUnit=ImspTQPwCqd&children=true"), 4);
    CHECK_INT(count_values(&e, "dataSet=BfMAe6Itzgt&period=202401&orgUnit=O6uvpzGd5pu&children=true"), 3);
    CHECK_INT(count_values(&e, "dataSet=BfMAe6Itzgt&period=202401&orgUnit=DiszpKrYNg8&orgUnit=Rp268JB6Ne4"), 3);
    CHECK_INT(count_values(&e, "dataSet=BfMAe6Itzgt&period=202401,202402&orgUnit=DiszpKrYNg8"), 3);
    /* an org unit group stands for its members */
    CHECK_INT(count_values(&e, "dataSet=BfMAe6Itzgt&period=202401&orgUnitGroup=CXw2yu5fodb"), 3);
    /* several data sets; a group */
    CHECK_INT(count_values(&e, "dataSet=BfMAe6Itzgt&dataSet=QX4ZTUbOt3a&startDate=2024-01-01&endDate=2024-12-31&orgUnit=DiszpKrYNg8"), 4);
    CHECK_INT(count_values(&e, "dataElementGroup=qfxEYY9xAl6&startDate=2024-01-01&endDate=2024-12-31&orgUnit=ImspTQPwCqd&children=true"), 3);
    /* start/end: periods wholly inside (2024Q1 ends on March 31st) */
    CHECK_INT(count_values(&e, "dataSet=QX4ZTUbOt3a&startDate=2024-01-01&endDate=2024-03-30&orgUnit=DiszpKrYNg8"), 0);
    CHECK_INT(count_values(&e, "dataSet=QX4ZTUbOt3a&startDate=2024-01-01&endDate=2024-03-31&orgUnit=DiszpKrYNg8"), 1);
    /* lastUpdated (>=), date or timestamp, alone as the time selector */
    CHECK_INT(count_values(&e, "dataSet=BfMAe6Itzgt&lastUpdated=2024-03-01&orgUnit=ImspTQPwCqd&children=true"), 2);
    CHECK_INT(count_values(&e, "dataSet=BfMAe6Itzgt&lastUpdated=2024-03-01T12:30:00.000&orgUnit=ImspTQPwCqd&children=true"), 2);
    CHECK_INT(count_values(&e, "dataSet=BfMAe6Itzgt&lastUpdated=2024-03-01T12:30:00.001&orgUnit=ImspTQPwCqd&children=true"), 1);
    CHECK_INT(count_values(&e, "dataSet=BfMAe6Itzgt&lastUpdatedDuration=1d&orgUnit=ImspTQPwCqd&children=true"), 0);
    /* limit, attribute option combo */
    CHECK_INT(count_values(&e, "dataSet=BfMAe6Itzgt&startDate=2024-01-01&endDate=2024-12-31&orgUnit=ImspTQPwCqd&children=true&limit=2"), 2);
    CHECK_INT(count_values(&e, "dataSet=QX4ZTUbOt3a&period=2024Q1&orgUnit=DiszpKrYNg8&attributeOptionCombo=AOCdonorB01"), 0);
    CHECK_INT(count_values(&e, "dataSet=QX4ZTUbOt3a&period=2024Q1&orgUnit=DiszpKrYNg8&attributeOptionCombo=AOCdonorA01"), 1);
    /* unknown ids are dropped silently */
    CHECK_INT(count_values(&e, "dataSet=BfMAe6Itzgt&dataSet=xYzUnknown1&period=202401&orgUnit=DiszpKrYNg8&orgUnit=xYzUnknown2"), 2);
    /* id schemes for the output */
    cJSON *j = get_json(&e, "/api/dataValueSets?dataSet=BfMAe6Itzgt&period=202401&orgUnit=g8upMTyEZGZ&idScheme=CODE", 200);
    cJSON *v = cJSON_GetArrayItem(cJSON_GetObjectItemCaseSensitive(j, "dataValues"), 0);
    CHECK_STR(jstr(v, "dataElement"), "DE_MALARIA");
    CHECK_STR(jstr(v, "orgUnit"), "OU_167609");
    CHECK_STR(jstr(v, "categoryOptionCombo"), "COC_FEMALE");
    CHECK_STR(jstr(j, "orgUnit"), "OU_167609");
    cJSON_Delete(j);
    j = get_json(&e, "/api/dataValueSets?dataSet=BfMAe6Itzgt&period=202401&orgUnit=g8upMTyEZGZ&orgUnitIdScheme=NAME", 200);
    v = cJSON_GetArrayItem(cJSON_GetObjectItemCaseSensitive(j, "dataValues"), 0);
    CHECK_STR(jstr(v, "orgUnit"), "Njandama MCHP");
    CHECK_STR(jstr(v, "dataElement"), "Jtf34kNZhzP");
    cJSON_Delete(j);
    emu_stop(&e);
}

static void check_e200x(struct emu *e, const char *query, const char *code, const char *message)
{
    char path[1024];
    snprintf(path, sizeof path, "/api/dataValueSets?%s", query);
    cJSON *j = get_json(e, path, 409);
    CHECK_STR(jstr(j, "httpStatus"), "Conflict");
    CHECK_INT(jnum(j, "httpStatusCode"), 409);
    CHECK_STR(jstr(j, "status"), "ERROR");
    CHECK_STR(jstr(j, "errorCode"), code);
    CHECK_STR(jstr(j, "message"), message);
    cJSON_Delete(j);
}

TEST_TIMEOUT(emulator_dvs_get_e200x_errors, 30)
{
    struct emu e;
    emu_fixture(&e, NULL);
    check_e200x(&e, "period=202401&orgUnit=DiszpKrYNg8", "E2001",
                "At least one data element, data set or data element group must be specified");
    check_e200x(&e, "dataSet=xYzUnknown1&period=202401&orgUnit=DiszpKrYNg8", "E2001",
                "At least one data element, data set or data element group must be specified");
    check_e200x(&e, "dataSet=BfMAe6Itzgt&orgUnit=DiszpKrYNg8", "E2002",
                "At least one period, start/end dates, last updated or last updated duration must be specified");
    check_e200x(&e, "dataSet=BfMAe6Itzgt&period=202401&startDate=2024-01-01&endDate=2024-02-01&orgUnit=DiszpKrYNg8",
                "E2003", "Both periods and start/end date cannot be specified");
    check_e200x(&e, "dataSet=BfMAe6Itzgt&startDate=2024-03-01&endDate=2024-02-01&orgUnit=DiszpKrYNg8", "E2004",
                "Start date must be before end date");
    check_e200x(&e, "dataSet=BfMAe6Itzgt&lastUpdatedDuration=10x&orgUnit=DiszpKrYNg8", "E2005",
                "Duration is not valid: `10x`");
    check_e200x(&e, "dataSet=BfMAe6Itzgt&period=202401", "E2006",
                "At least one organisation unit or organisation unit group must be specified");
    check_e200x(&e, "dataSet=BfMAe6Itzgt&period=202401&orgUnitGroup=xYzUnknown1&children=true", "E2007",
                "Organisation unit children cannot be included for organisation unit groups");
    check_e200x(&e, "dataSet=BfMAe6Itzgt&period=202401&orgUnit=DiszpKrYNg8&limit=-1", "E2009",
                "Limit cannot be less than zero: `-1`");
    emu_stop(&e);
}

TEST_TIMEOUT(emulator_2_43_single_org_unit_at_root, 30)
{
    struct emu e;
    emu_fixture(&e, "2.43.0");
    cJSON *j = get_json(&e, "/api/dataValueSets?dataSet=BfMAe6Itzgt&period=202401&period=202402&orgUnit=DiszpKrYNg8", 200);
    CHECK_STR(jstr(j, "orgUnit"), "DiszpKrYNg8");
    cJSON *vals = cJSON_GetObjectItemCaseSensitive(j, "dataValues");
    CHECK_INT(cJSON_GetArraySize(vals), 3);
    cJSON *v;
    cJSON_ArrayForEach(v, vals) CHECK(!cJSON_GetObjectItemCaseSensitive(v, "orgUnit"));
    cJSON_Delete(j);
    /* several org units: on every value, none at the root */
    j = get_json(&e, "/api/dataValueSets?dataSet=BfMAe6Itzgt&period=202401&orgUnit=DiszpKrYNg8&orgUnit=g8upMTyEZGZ", 200);
    CHECK(!cJSON_GetObjectItemCaseSensitive(j, "orgUnit"));
    cJSON_ArrayForEach(v, cJSON_GetObjectItemCaseSensitive(j, "dataValues")) CHECK(jstr(v, "orgUnit") != NULL);
    cJSON_Delete(j);
    emu_stop(&e);

    /* 2.41 keeps orgUnit on every value */
    emu_fixture(&e, "2.41.2");
    j = get_json(&e, "/api/dataValueSets?dataSet=BfMAe6Itzgt&period=202401&period=202402&orgUnit=DiszpKrYNg8", 200);
    CHECK(!cJSON_GetObjectItemCaseSensitive(j, "orgUnit"));
    cJSON_ArrayForEach(v, cJSON_GetObjectItemCaseSensitive(j, "dataValues")) CHECK(jstr(v, "orgUnit") != NULL);
    cJSON_Delete(j);
    emu_stop(&e);
}

/* ---------------------------------------------------------------- importing */

static const char *IMPORT_OPTIONS =
    "\"importOptions\":{\"idSchemes\":{},\"dryRun\":false,\"async\":false,"
    "\"importStrategy\":\"CREATE_AND_UPDATE\",\"mergeMode\":\"REPLACE\",\"reportMode\":\"FULL\","
    "\"skipExistingCheck\":false,\"sharing\":false,\"skipNotifications\":false,\"skipAudit\":false,"
    "\"datasetAllowsPeriods\":false,\"strictPeriods\":false,\"strictDataElements\":false,"
    "\"strictCategoryOptionCombos\":false,\"strictAttributeOptionCombos\":false,"
    "\"strictOrganisationUnits\":false,\"strictDataSetApproval\":false,"
    "\"strictDataSetLocking\":false,\"strictDataSetInputPeriods\":false,"
    "\"requireCategoryOptionCombo\":false,"
    "\"requireAttributeOptionCombo\":false,\"skipPatternValidation\":false,"
    "\"ignoreEmptyCollection\":false,\"force\":false,\"firstRowIsHeader\":true,"
    "\"skipLastUpdated\":false,\"mergeDataValues\":false,\"skipCache\":false}";

TEST_TIMEOUT(emulator_import_summary_is_dhis2s_exactly, 30)
{
    struct emu e;
    emu_fixture(&e, NULL);
    struct spec_resp r;
    req(&e, "POST", "/api/dataValueSets",
        "{\"dataValues\":["
        "{\"dataElement\":\"fbfJHSPpUQD\",\"period\":\"202405\",\"orgUnit\":\"DiszpKrYNg8\",\"value\":\"5\"},"
        "{\"dataElement\":\"fbfJHSPpUQD\",\"period\":\"202406\",\"orgUnit\":\"DiszpKrYNg8\",\"value\":\"6\"},"
        "{\"dataElement\":\"fbfJHSPpUQD\",\"period\":\"202401\",\"orgUnit\":\"DiszpKrYNg8\",\"value\":\"13\"},"
        "{\"dataElement\":\"xYzUnknown1\",\"period\":\"202401\",\"orgUnit\":\"DiszpKrYNg8\",\"value\":\"1\"}]}",
        &r);
    CHECK_INT(r.status, 409);
    char expect[4096];
    snprintf(expect, sizeof expect,
             "{\"httpStatus\":\"Conflict\",\"httpStatusCode\":409,\"status\":\"WARNING\","
             "\"message\":\"One more conflicts encountered, please check import summary.\","
             "\"response\":{\"responseType\":\"ImportSummary\",\"status\":\"WARNING\",%s,"
             "\"description\":\"Import process completed successfully\","
             "\"importCount\":{\"imported\":2,\"updated\":1,\"ignored\":1,\"deleted\":0},"
             "\"conflicts\":[{\"object\":\"xYzUnknown1\",\"objects\":{\"dataElement\":\"xYzUnknown1\"},"
             "\"value\":\"Data element not found or not accessible: `xYzUnknown1`\","
             "\"errorCode\":\"E7610\",\"property\":\"dataElement\",\"indexes\":[3]}],"
             "\"rejectedIndexes\":[3],\"dataSetComplete\":\"false\"}}",
             IMPORT_OPTIONS);
    CHECK_STR(r.body, expect);
    spec_resp_free(&r);

    /* all accepted: 200, SUCCESS, empty conflicts and rejectedIndexes still there */
    req(&e, "POST", "/api/dataValueSets",
        "{\"dataValues\":[{\"dataElement\":\"fbfJHSPpUQD\",\"period\":\"202407\",\"orgUnit\":\"DiszpKrYNg8\",\"value\":\"7\"}]}",
        &r);
    CHECK_INT(r.status, 200);
    snprintf(expect, sizeof expect,
             "{\"httpStatus\":\"OK\",\"httpStatusCode\":200,\"status\":\"OK\",\"message\":\"Import was successful.\","
             "\"response\":{\"responseType\":\"ImportSummary\",\"status\":\"SUCCESS\",%s,"
             "\"description\":\"Import process completed successfully\","
             "\"importCount\":{\"imported\":1,\"updated\":0,\"ignored\":0,\"deleted\":0},"
             "\"conflicts\":[],\"rejectedIndexes\":[],\"dataSetComplete\":\"false\"}}",
             IMPORT_OPTIONS);
    CHECK_STR(r.body, expect);
    spec_resp_free(&r);

    /* the import changed what GET answers; storedBy defaults to the user, lastUpdated is now */
    cJSON *j = get_json(&e, "/api/dataValueSets?dataSet=BfMAe6Itzgt&period=202401&orgUnit=DiszpKrYNg8", 200);
    cJSON *v = cJSON_GetArrayItem(cJSON_GetObjectItemCaseSensitive(j, "dataValues"), 0);
    CHECK_STR(jstr(v, "value"), "13");
    CHECK_STR(jstr(v, "created"), "2024-02-03T10:11:12.000+0000");
    char today[11];
    date_format(date_today(), today);
    CHECK(strncmp(jstr(v, "lastUpdated"), today, 10) == 0);
    CHECK(jstr(v, "comment") == NULL); /* the update replaced the comment */
    cJSON_Delete(j);
    emu_stop(&e);
}

/* Payloads built like dhis2-core's dataValueSetB* fixtures: 3 data elements x 2 org units x
 * 2 periods = 12 values. */
static const char *B_DE[] = {"fbfJHSPpUQD", "cYeuwXTCPkU", "f7n9E0hX8qk"};
static const char *B_OU[] = {"DiszpKrYNg8", "g8upMTyEZGZ"};
static const char *B_PE[] = {"201201", "201202"};

static void b_value(char *out, size_t n, int i, int value, bool deleted, bool comma)
{
    snprintf(out + strlen(out), n - strlen(out),
             "%s{\"dataElement\":\"%s\",\"period\":\"%s\",\"orgUnit\":\"%s\",\"value\":\"%d\"%s}",
             comma ? "," : "", B_DE[i % 3], B_PE[(i / 3) % 2], B_OU[(i / 6) % 2], value,
             deleted ? ",\"deleted\":true" : "");
}

static void b_new(char *out, size_t n, int k, bool comma)
{
    snprintf(out + strlen(out), n - strlen(out),
             "%s{\"dataElement\":\"%s\",\"period\":\"201203\",\"orgUnit\":\"DiszpKrYNg8\",\"value\":\"%d\"}",
             comma ? "," : "", B_DE[k], 50 + k);
}

enum b_kind { SET_B, SET_B_UPDATE, SET_B_DELETED, SET_B_NEW_DELETED };

static char *b_set(enum b_kind kind)
{
    static char buf[8192];
    snprintf(buf, sizeof buf, "{\"dataValues\":[");
    bool comma = false;
    for (int i = 0; i < 12; i++) {
        if (kind == SET_B) {
            b_value(buf, sizeof buf, i, 10 + i, false, comma);
        } else if (kind == SET_B_UPDATE) {
            if (i >= 4)
                continue;
            b_value(buf, sizeof buf, i, 110 + i, false, comma);
        } else if (kind == SET_B_DELETED) {
            b_value(buf, sizeof buf, i, 10 + i, i < 4, comma);
        } else {
            if (i >= 10)
                continue;
            b_value(buf, sizeof buf, i, 10 + i, i < 4, comma);
        }
        comma = true;
    }
    if (kind == SET_B_UPDATE || kind == SET_B_NEW_DELETED) {
        b_new(buf, sizeof buf, 0, true);
        b_new(buf, sizeof buf, 1, true);
    }
    strcat(buf, "]}");
    return buf;
}

static int live_b(struct emu *e)
{
    return count_values(e, "dataSet=BfMAe6Itzgt&startDate=2012-01-01&endDate=2012-12-31&orgUnit=ImspTQPwCqd&children=true");
}

static void import_expect(struct emu *e, const char *path, const char *body, int imported, int updated,
                          int ignored, int deleted)
{
    cJSON *j = post_json(e, path, body, 200);
    check_counts(j, imported, updated, ignored, deleted);
    cJSON_Delete(j);
}

TEST_TIMEOUT(emulator_import_counts_match_dhis2_core_oracle, 60)
{
    struct emu e;
    const char *url = "/api/dataValueSets";
    /* set B alone: 12/0/0 */
    emu_fixture(&e, NULL);
    import_expect(&e, url, b_set(SET_B), 12, 0, 0, 0);
    CHECK_INT(live_b(&e), 12);
    /* B then BUpdate: 2 imported, 4 updated */
    import_expect(&e, url, b_set(SET_B_UPDATE), 2, 4, 0, 0);
    CHECK_INT(live_b(&e), 14);
    emu_stop(&e);

    /* BDeleted into an empty database: 12 imported, 8 live; then B: 4/0/0/8 */
    emu_fixture(&e, NULL);
    import_expect(&e, url, b_set(SET_B_DELETED), 12, 0, 0, 0);
    CHECK_INT(live_b(&e), 8);
    import_expect(&e, url, b_set(SET_B), 4, 0, 8, 0);
    CHECK_INT(live_b(&e), 12);
    emu_stop(&e);

    /* B then BDeleted: 0/0/4 deleted, 8 ignored */
    emu_fixture(&e, NULL);
    import_expect(&e, url, b_set(SET_B), 12, 0, 0, 0);
    import_expect(&e, url, b_set(SET_B_DELETED), 0, 0, 8, 4);
    CHECK_INT(live_b(&e), 8);
    emu_stop(&e);

    /* B then BNewDeleted: 2 imported, 4 deleted, 6 ignored */
    emu_fixture(&e, NULL);
    import_expect(&e, url, b_set(SET_B), 12, 0, 0, 0);
    import_expect(&e, url, b_set(SET_B_NEW_DELETED), 2, 0, 6, 4);
    CHECK_INT(live_b(&e), 10);
    emu_stop(&e);

    /* B with DELETE: 0/0/12, then nothing left; DELETE again: all ignored */
    emu_fixture(&e, NULL);
    import_expect(&e, url, b_set(SET_B), 12, 0, 0, 0);
    import_expect(&e, "/api/dataValueSets?importStrategy=DELETE", b_set(SET_B), 0, 0, 0, 12);
    CHECK_INT(live_b(&e), 0);
    import_expect(&e, "/api/dataValueSets?importStrategy=DELETE", b_set(SET_B), 0, 0, 12, 0);
    /* deletions are soft: still there with includeDeleted */
    CHECK_INT(count_values(&e, "dataSet=BfMAe6Itzgt&startDate=2012-01-01&endDate=2012-12-31&orgUnit=ImspTQPwCqd&children=true&includeDeleted=true"), 12);
    /* CREATE on existing -> ignored; UPDATE on absent -> ignored */
    import_expect(&e, url, b_set(SET_B), 12, 0, 0, 0);
    import_expect(&e, "/api/dataValueSets?importStrategy=CREATE", b_set(SET_B_UPDATE), 2, 0, 4, 0);
    import_expect(&e, "/api/dataValueSets?importStrategy=UPDATE",
                  "{\"dataValues\":[{\"dataElement\":\"fbfJHSPpUQD\",\"period\":\"201212\",\"orgUnit\":\"DiszpKrYNg8\",\"value\":\"1\"},"
                  "{\"dataElement\":\"fbfJHSPpUQD\",\"period\":\"201201\",\"orgUnit\":\"DiszpKrYNg8\",\"value\":\"99\"}]}",
                  0, 1, 1, 0);
    emu_stop(&e);
}

static cJSON *conflict_at(cJSON *wm, int i)
{
    return cJSON_GetArrayItem(cJSON_GetObjectItemCaseSensitive(cJSON_GetObjectItemCaseSensitive(wm, "response"), "conflicts"), i);
}

static void check_conflict(cJSON *c, const char *code, const char *object, const char *property, const char *value,
                           const char *indexes)
{
    CHECKF(c != NULL, "expected a %s conflict", code);
    CHECK_STR(jstr(c, "errorCode"), code);
    CHECK_STR(jstr(c, "object"), object);
    if (property)
        CHECK_STR(jstr(c, "property"), property);
    CHECK_STR(jstr(c, "value"), value);
    char *idx = cJSON_PrintUnformatted(cJSON_GetObjectItemCaseSensitive(c, "indexes"));
    CHECK_STR(idx, indexes);
    free(idx);
}

TEST_TIMEOUT(emulator_import_conflicts_in_validation_order, 30)
{
    struct emu e;
    emu_fixture(&e, NULL);
    cJSON *j = post_json(&e, "/api/dataValueSets",
        "{\"dataValues\":["
        /* 0 */ "{\"dataElement\":\"xYzUnknown1\",\"period\":\"202413\",\"orgUnit\":\"DiszpKrYNg8\",\"value\":\"1\"},"
        /* 1 */ "{\"dataElement\":\"fbfJHSPpUQD\",\"period\":\"202413\",\"orgUnit\":\"xYzUnknownO\",\"value\":\"1\"},"
        /* 2 */ "{\"dataElement\":\"xYzUnknown1\",\"period\":\"202401\",\"orgUnit\":\"DiszpKrYNg8\",\"value\":\"2\"},"
        /* 3 */ "{\"dataElement\":\"fbfJHSPpUQD\",\"period\":\"202401\",\"orgUnit\":\"xYzUnknownO\",\"value\":\"1\"},"
        /* 4 */ "{\"dataElement\":\"fbfJHSPpUQD\",\"period\":\"202401\",\"orgUnit\":\"DiszpKrYNg8\",\"categoryOptionCombo\":\"xYzUnknownC\",\"value\":\"1\"},"
        /* 5 */ "{\"dataElement\":\"fbfJHSPpUQD\",\"period\":\"202401\",\"orgUnit\":\"DiszpKrYNg8\",\"attributeOptionCombo\":\"xYzUnknownA\",\"value\":\"1\"},"
        /* 6 */ "{\"dataElement\":\"fbfJHSPpUQD\",\"period\":\"202408\",\"orgUnit\":\"DiszpKrYNg8\"},"
        /* 7 */ "{\"dataElement\":\"f7n9E0hX8qk\",\"period\":\"202408\",\"orgUnit\":\"DiszpKrYNg8\",\"value\":\"12a\"},"
        /* 8 */ "{\"dataElement\":\"fbfJHSPpUQD\",\"period\":\"202408\",\"orgUnit\":\"DiszpKrYNg8\",\"value\":\"-3\"},"
        /* 9 */ "{\"dataElement\":\"deBool00001\",\"period\":\"202408\",\"orgUnit\":\"DiszpKrYNg8\",\"value\":\"T\"},"
        /* 10 */ "{\"dataElement\":\"fbfJHSPpUQD\",\"period\":\"202408\",\"orgUnit\":\"DiszpKrYNg8\",\"comment\":\"comment only\"}"
        "]}", 409);
    CHECK_STR(jstr(j, "status"), "WARNING");
    CHECK_STR(jstr(j, "response.status"), "WARNING");
    check_counts(j, 2, 0, 9, 0);
    /* a value stops at its first conflict: unknown data element beats a bad period */
    check_conflict(conflict_at(j, 0), "E7610", "xYzUnknown1", "dataElement",
                   "Data element not found or not accessible: `xYzUnknown1`", "[0,2]");
    check_conflict(conflict_at(j, 1), "E7611", "202413", "period", "Period not valid: `202413`", "[1]");
    check_conflict(conflict_at(j, 2), "E7612", "xYzUnknownO", "orgUnit",
                   "Organisation unit not found or not accessible: `xYzUnknownO`", "[3]");
    CHECK_STR(jstr(conflict_at(j, 2), "objects.organisationUnit"), "xYzUnknownO");
    check_conflict(conflict_at(j, 3), "E7613", "xYzUnknownC", "categoryOptionCombo",
                   "Category option combo not found or not accessible for writing data: `xYzUnknownC`", "[4]");
    check_conflict(conflict_at(j, 4), "E7615", "xYzUnknownA", "attributeOptionCombo",
                   "Attribute option combo not found or not accessible for writing data: `xYzUnknownA`", "[5]");
    check_conflict(conflict_at(j, 5), "E7618", "fbfJHSPpUQD", "value",
                   "Data value or comment not specified for data element: `fbfJHSPpUQD`", "[6]");
    check_conflict(conflict_at(j, 6), "E7619", "f7n9E0hX8qk", "value",
                   "Value must match value type of data element `f7n9E0hX8qk`: `Data value is not numeric`", "[7]");
    CHECK_STR(jstr(conflict_at(j, 6), "objects.dataElement"), "f7n9E0hX8qk");
    CHECK_STR(jstr(conflict_at(j, 6), "objects.value"), "value_not_numeric");
    check_conflict(conflict_at(j, 7), "E7619", "fbfJHSPpUQD", "value",
                   "Value must match value type of data element `fbfJHSPpUQD`: `Data value is not zero or positive integer`", "[8]");
    CHECK(conflict_at(j, 8) == NULL);
    char *rej = cJSON_PrintUnformatted(cJSON_GetObjectItemCaseSensitive(cJSON_GetObjectItemCaseSensitive(j, "response"), "rejectedIndexes"));
    CHECK_STR(rej, "[0,1,2,3,4,5,6,7,8]");
    free(rej);
    cJSON_Delete(j);
    /* booleans are stored normalised; a comment alone is a value */
    j = get_json(&e, "/api/dataValueSets?dataSet=BfMAe6Itzgt&period=202408&orgUnit=DiszpKrYNg8", 200);
    cJSON *v;
    int seen = 0;
    cJSON_ArrayForEach(v, cJSON_GetObjectItemCaseSensitive(j, "dataValues")) {
        if (!strcmp(jstr(v, "dataElement"), "deBool00001")) {
            CHECK_STR(jstr(v, "value"), "true");
            seen++;
        } else {
            CHECK_STR(jstr(v, "comment"), "comment only");
            CHECK(jstr(v, "value") == NULL);
            seen++;
        }
    }
    CHECK_INT(seen, 2);
    cJSON_Delete(j);
    emu_stop(&e);
}

TEST_TIMEOUT(emulator_import_strict_checks, 30)
{
    struct emu e;
    emu_fixture(&e, NULL);
    const char *body =
        "{\"dataValues\":["
        "{\"dataElement\":\"fbfJHSPpUQD\",\"period\":\"202401\",\"orgUnit\":\"g8upMTyEZGZ\",\"categoryOptionCombo\":\"COCmale0001\",\"value\":\"1\"},"
        "{\"dataElement\":\"deHiv000001\",\"period\":\"2024Q2\",\"orgUnit\":\"g8upMTyEZGZ\",\"attributeOptionCombo\":\"AOCdonorA01\",\"value\":\"1\"},"
        "{\"dataElement\":\"deHiv000001\",\"period\":\"202405\",\"orgUnit\":\"DiszpKrYNg8\",\"attributeOptionCombo\":\"AOCdonorA01\",\"value\":\"1\"}]}";
    /* not checked unless asked */
    import_expect(&e, "/api/dataValueSets?dryRun=true", body, 3, 0, 0, 0);
    cJSON *j = post_json(&e, "/api/dataValueSets?strictCategoryOptionCombos=true&strictOrganisationUnits=true&strictPeriods=true", body, 409);
    check_counts(j, 0, 0, 3, 0);
    check_conflict(conflict_at(j, 0), "E7634", "COCmale0001", "categoryOptionCombo",
                   "Category option combo: `COCmale0001` must be part of category combo of data element: `fbfJHSPpUQD`", "[0]");
    check_conflict(conflict_at(j, 1), "E7636", "g8upMTyEZGZ", "orgUnit",
                   "Data element: `deHiv000001` must be assigned through data sets to organisation unit: `g8upMTyEZGZ`", "[1]");
    CHECK_STR(jstr(conflict_at(j, 1), "objects.organisationUnit"), "g8upMTyEZGZ");
    CHECK_STR(jstr(conflict_at(j, 1), "objects.dataElement"), "deHiv000001");
    check_conflict(conflict_at(j, 2), "E7632", "202405", NULL,
                   "Period type of period: `202405` not valid for data element: `deHiv000001`", "[2]");
    CHECK(cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(cJSON_GetObjectItemCaseSensitive(cJSON_GetObjectItemCaseSensitive(j, "response"), "importOptions"), "strictOrganisationUnits")));
    cJSON_Delete(j);
    /* a data-set-level failure aborts the import: ERROR, nothing counted */
    j = post_json(&e, "/api/dataValueSets",
                  "{\"dataSet\":\"xYzUnknownD\",\"dataValues\":[{\"dataElement\":\"fbfJHSPpUQD\",\"period\":\"202409\",\"orgUnit\":\"DiszpKrYNg8\",\"value\":\"1\"}]}",
                  409);
    CHECK_STR(jstr(j, "status"), "ERROR");
    CHECK_STR(jstr(j, "message"), "An error occurred, please check import summary.");
    CHECK_STR(jstr(j, "response.status"), "ERROR");
    CHECK_STR(jstr(j, "response.description"), "Import process was aborted");
    check_counts(j, 0, 0, 0, 0);
    CHECK_STR(jstr(conflict_at(j, 0), "errorCode"), "E7600");
    cJSON_Delete(j);
    /* an unreadable body */
    j = post_json(&e, "/api/dataValueSets", "{\"dataValues\":[{\"dataElement\":", 409);
    CHECK_STR(jstr(j, "response.status"), "ERROR");
    CHECK_CONTAINS(jstr(j, "response.description"), "The import process failed");
    cJSON_Delete(j);
    emu_stop(&e);
}

TEST_TIMEOUT(emulator_import_zero_values_and_deletions, 30)
{
    struct emu e;
    emu_fixture(&e, NULL);
    /* a zero for a data element that does not store zeros: dropped (new) or a deletion */
    import_expect(&e, "/api/dataValueSets",
                  "{\"dataValues\":[{\"dataElement\":\"fbfJHSPpUQD\",\"period\":\"202409\",\"orgUnit\":\"DiszpKrYNg8\",\"value\":\"0\"},"
                  "{\"dataElement\":\"deZero00001\",\"period\":\"202409\",\"orgUnit\":\"DiszpKrYNg8\",\"value\":\"0\"}]}",
                  1, 0, 1, 0);
    import_expect(&e, "/api/dataValueSets",
                  "{\"dataValues\":[{\"dataElement\":\"fbfJHSPpUQD\",\"period\":\"202401\",\"orgUnit\":\"DiszpKrYNg8\",\"value\":\"0\"}]}",
                  0, 0, 0, 1);
    CHECK_INT(count_values(&e, "dataSet=BfMAe6Itzgt&period=202401&orgUnit=DiszpKrYNg8"), 1);
    CHECK_INT(count_values(&e, "dataSet=BfMAe6Itzgt&period=202409&orgUnit=DiszpKrYNg8"), 1);
    /* "deleted":true needs no value; it shows with includeDeleted and a fresh lastUpdated */
    import_expect(&e, "/api/dataValueSets",
                  "{\"dataValues\":[{\"dataElement\":\"Jtf34kNZhzP\",\"period\":\"202401\",\"orgUnit\":\"DiszpKrYNg8\",\"categoryOptionCombo\":\"COCmale0001\",\"deleted\":true}]}",
                  0, 0, 0, 1);
    char today[11], since[256];
    date_format(date_today(), today);
    snprintf(since, sizeof since, "dataSet=BfMAe6Itzgt&lastUpdated=%s&orgUnit=ImspTQPwCqd&children=true&includeDeleted=true", today);
    CHECK_INT(count_values(&e, since), 3);
    snprintf(since, sizeof since, "dataSet=BfMAe6Itzgt&lastUpdated=%s&orgUnit=ImspTQPwCqd&children=true", today);
    CHECK_INT(count_values(&e, since), 1);
    /* a value brought back from deletion is counted as imported */
    import_expect(&e, "/api/dataValueSets",
                  "{\"dataValues\":[{\"dataElement\":\"fbfJHSPpUQD\",\"period\":\"202403\",\"orgUnit\":\"DiszpKrYNg8\",\"value\":\"9\"}]}",
                  1, 0, 0, 0);
    emu_stop(&e);
}

static char *gzip_text(const char *s, size_t *out_len)
{
    size_t len = strlen(s);
    uLong cap = compressBound(len) + 64;
    char *out = malloc(cap);
    z_stream z = {0};
    CHECK(out && deflateInit2(&z, 6, Z_DEFLATED, 16 + MAX_WBITS, 8, Z_DEFAULT_STRATEGY) == Z_OK);
    z.next_in = (Bytef *)s;
    z.avail_in = (uInt)len;
    z.next_out = (Bytef *)out;
    z.avail_out = (uInt)cap;
    CHECK(deflate(&z, Z_FINISH) == Z_STREAM_END);
    *out_len = z.total_out;
    deflateEnd(&z);
    return out;
}

TEST_TIMEOUT(emulator_import_gzip_csv_schemes_and_overrides, 30)
{
    struct emu e;
    emu_fixture(&e, NULL);
    /* gzip detected from the magic bytes */
    size_t zl;
    char *z = gzip_text("{\"dataValues\":[{\"dataElement\":\"fbfJHSPpUQD\",\"period\":\"202410\",\"orgUnit\":\"DiszpKrYNg8\",\"value\":\"4\"}]}", &zl);
    char url[256];
    snprintf(url, sizeof url, "%s/api/dataValueSets", e.base);
    const char *h[] = {AUTH, "Content-Type: application/json", NULL};
    struct spec_resp r;
    CHECK(spec_http("POST", url, h, z, zl, &r) == 0);
    free(z);
    CHECK_INT(r.status, 200);
    cJSON *j = spec_resp_json(&r);
    check_counts(j, 1, 0, 0, 0);
    cJSON_Delete(j);
    spec_resp_free(&r);
    /* and so is a metadata import's */
    z = gzip_text("{\"dataElements\":[{\"id\":\"GzipDe00001\",\"name\":\"Sent gzipped\",\"shortName\":\"Gzipped\","
                  "\"valueType\":\"NUMBER\",\"domainType\":\"AGGREGATE\",\"aggregationType\":\"SUM\"}]}", &zl);
    char md_url[256];
    snprintf(md_url, sizeof md_url, "%s/api/metadata", e.base);
    CHECK(spec_http("POST", md_url, h, z, zl, &r) == 0);
    free(z);
    CHECKF(r.status == 200, "gzip metadata import: %ld %.300s", r.status, r.body);
    j = spec_resp_json(&r);
    CHECK_INT((long long)cJSON_GetNumberValue(cJSON_GetObjectItem(
                  cJSON_GetObjectItem(cJSON_GetObjectItem(j, "response"), "stats"), "created")), 1);
    cJSON_Delete(j);
    spec_resp_free(&r);
    /* CSV with a header row */
    const char *csv = "dataelement,period,orgunit,categoryoptioncombo,attributeoptioncombo,value,storedby,lastupdated,comment,followup,deleted\n"
                      "fbfJHSPpUQD,202411,DiszpKrYNg8,,,8,clerk,,\"a, quoted\"\"comment\",false,\n";
    const char *hc[] = {AUTH, "Content-Type: application/csv", NULL};
    CHECK(spec_http("POST", url, hc, csv, strlen(csv), &r) == 0);
    CHECK_INT(r.status, 200);
    j = spec_resp_json(&r);
    check_counts(j, 1, 0, 0, 0);
    cJSON_Delete(j);
    spec_resp_free(&r);
    j = get_json(&e, "/api/dataValueSets?dataSet=BfMAe6Itzgt&period=202411&orgUnit=DiszpKrYNg8", 200);
    cJSON *v = cJSON_GetArrayItem(cJSON_GetObjectItemCaseSensitive(j, "dataValues"), 0);
    CHECK_STR(jstr(v, "comment"), "a, quoted\"comment");
    CHECK_STR(jstr(v, "storedBy"), "clerk");
    cJSON_Delete(j);
    /* and read back as CSV */
    req(&e, "GET", "/api/dataValueSets.csv?dataSet=BfMAe6Itzgt&period=202411&orgUnit=DiszpKrYNg8", NULL, &r);
    CHECK_INT(r.status, 200);
    CHECK_CONTAINS(r.headers, "application/csv");
    const char *head = "dataelement,period,orgunit,categoryoptioncombo,attributeoptioncombo,value,storedby,lastupdated,comment,followup,deleted\n"
                       "fbfJHSPpUQD,202411,DiszpKrYNg8,HllvX50cXC0,HllvX50cXC0,8,clerk,";
    CHECKF(strncmp(r.body, head, strlen(head)) == 0, "CSV: %s", r.body);
    CHECK_CONTAINS(r.body, ",\"a, quoted\"\"comment\",false,false\n");
    spec_resp_free(&r);
    /* CODE id scheme from the URL; org unit and period at the top of the body */
    import_expect(&e, "/api/dataValueSets?idScheme=CODE",
                  "{\"orgUnit\":\"OU_559\",\"period\":\"202412\",\"dataValues\":[{\"dataElement\":\"DE_MALARIA\",\"categoryOptionCombo\":\"COC_FEMALE\",\"value\":\"6\"}]}",
                  1, 0, 0, 0);
    j = get_json(&e, "/api/dataValueSets?dataSet=BfMAe6Itzgt&period=202412&orgUnit=DiszpKrYNg8", 200);
    v = cJSON_GetArrayItem(cJSON_GetObjectItemCaseSensitive(j, "dataValues"), 0);
    CHECK_STR(jstr(v, "categoryOptionCombo"), "COCfemale01");
    cJSON_Delete(j);
    /* the body's dryRun and idScheme override the URL's */
    j = post_json(&e, "/api/dataValueSets?dryRun=false",
                  "{\"dryRun\":true,\"idScheme\":\"CODE\",\"dataValues\":[{\"dataElement\":\"DE_ANC1\",\"period\":\"202301\",\"orgUnit\":\"OU_559\",\"value\":\"1\"}]}",
                  200);
    check_counts(j, 1, 0, 0, 0);
    CHECK(cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(cJSON_GetObjectItemCaseSensitive(cJSON_GetObjectItemCaseSensitive(j, "response"), "importOptions"), "dryRun")));
    cJSON_Delete(j);
    CHECK_INT(count_values(&e, "dataSet=BfMAe6Itzgt&period=202301&orgUnit=DiszpKrYNg8"), 0);
    emu_stop(&e);
}

TEST_TIMEOUT(emulator_import_versions_2_43_and_2_37, 30)
{
    struct emu e;
    const char *bad = "{\"dataValues\":[{\"dataElement\":\"xYzUnknown1\",\"period\":\"202401\",\"orgUnit\":\"DiszpKrYNg8\",\"value\":\"1\"}]}";
    emu_fixture(&e, "2.43.0");
    cJSON *j = post_json(&e, "/api/dataValueSets", bad, 200);
    CHECK_STR(jstr(j, "status"), "WARNING");
    CHECK_STR(jstr(j, "message"), "Import completed with warnings, please check import summary.");
    CHECK_STR(jstr(j, "response.status"), "WARNING");
    cJSON_Delete(j);
    emu_stop(&e);
    emu_fixture(&e, "2.41.0");
    /* /api/37/: the bare ImportSummary with HTTP 200 and conflicts of only object and value */
    j = post_json(&e, "/api/37/dataValueSets", bad, 200);
    CHECK_STR(jstr(j, "responseType"), "ImportSummary");
    CHECK_STR(jstr(j, "status"), "WARNING");
    cJSON *c = cJSON_GetArrayItem(cJSON_GetObjectItemCaseSensitive(j, "conflicts"), 0);
    CHECK_STR(jstr(c, "object"), "xYzUnknown1");
    CHECK(jstr(c, "value") && !cJSON_GetObjectItemCaseSensitive(c, "errorCode"));
    cJSON_Delete(j);
    emu_stop(&e);
}

/* ---------------------------------------------------------------- async imports */

static void async_flow(const char *version, const char *message_prefix, bool response_type)
{
    struct emu e;
    emu_fixture(&e, version);
    struct spec_resp r;
    req(&e, "POST", "/api/dataValueSets?async=true",
        "{\"dataValues\":[{\"dataElement\":\"fbfJHSPpUQD\",\"period\":\"202405\",\"orgUnit\":\"DiszpKrYNg8\",\"value\":\"5\"},"
        "{\"dataElement\":\"xYzUnknown1\",\"period\":\"202405\",\"orgUnit\":\"DiszpKrYNg8\",\"value\":\"5\"}]}",
        &r);
    CHECK_INT(r.status, 200);
    CHECK_CONTAINS(r.headers, "/api/system/tasks/DATAVALUE_IMPORT");
    cJSON *j = spec_resp_json(&r);
    spec_resp_free(&r);
    CHECK_STR(jstr(j, "httpStatus"), "OK");
    CHECK_CONTAINS(jstr(j, "message"), message_prefix);
    CHECK(response_type == (jstr(j, "response.responseType") != NULL));
    CHECK_STR(jstr(j, "response.jobType"), "DATAVALUE_IMPORT");
    char id[32], path[256];
    snprintf(id, sizeof id, "%s", jstr(j, "response.id"));
    char expect_ep[128];
    snprintf(expect_ep, sizeof expect_ep, "/api/system/tasks/DATAVALUE_IMPORT/%s", id);
    CHECK_STR(jstr(j, "response.relativeNotifierEndpoint"), expect_ep);
    cJSON_Delete(j);
    snprintf(path, sizeof path, "/api/system/tasks/DATAVALUE_IMPORT/%s", id);
    bool done = false;
    for (int i = 0; i < 100 && !done; i++) {
        j = get_json(&e, path, 200);
        cJSON *first = cJSON_GetArrayItem(j, 0);
        CHECK(first && jstr(first, "uid") && jstr(first, "time") && jstr(first, "message"));
        CHECK_STR(jstr(first, "category"), "DATAVALUE_IMPORT");
        done = cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(first, "completed"));
        if (done)
            CHECK_STR(jstr(first, "message"), "Import complete with status WARNING, 1 created, 0 updated, 0 deleted, 1 ignored");
        cJSON_Delete(j);
        if (!done)
            usleep(20000);
    }
    CHECK(done);
    snprintf(path, sizeof path, "/api/system/taskSummaries/DATAVALUE_IMPORT/%s", id);
    j = get_json(&e, path, 200);
    CHECK_STR(jstr(j, "responseType"), "ImportSummary");
    CHECK_STR(jstr(j, "status"), "WARNING");
    check_counts(j, 1, 0, 1, 0);
    CHECK(cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(cJSON_GetObjectItemCaseSensitive(j, "importOptions"), "async")));
    cJSON_Delete(j);
    CHECK_INT(count_values(&e, "dataSet=BfMAe6Itzgt&period=202405&orgUnit=DiszpKrYNg8"), 1);
    emu_stop(&e);
}

TEST_TIMEOUT(emulator_async_import_flow_2_41, 30)
{
    async_flow("2.41.1", "Initiated DATAVALUE_IMPORT (", false);
}

TEST_TIMEOUT(emulator_async_import_flow_2_40, 30)
{
    async_flow("2.40.4", "Initiated dataValueImport", true);
}

/* ---------------------------------------------------------------- faults */

static void set_faults(struct emu *e, const char *json)
{
    char url[256];
    snprintf(url, sizeof url, "%s/emulator/faults", e->base);
    struct spec_resp r;
    CHECK(spec_http("POST", url, NULL, json, strlen(json), &r) == 0);
    CHECKF(r.status == 200, "POST /emulator/faults %s: %ld %s", json, r.status, r.body);
    spec_resp_free(&r);
}

TEST_TIMEOUT(emulator_faults_fail_delay_drop_conflict_hang, 60)
{
    struct emu e;
    const char *args[] = {"--data", FIXTURE, "--fail-next", "1", "--fail-status", "502", NULL};
    emu_start(&e, args);
    struct spec_resp r;
    /* from the flags: the next request fails with 502 (an HTML page, as proxies answer) */
    req(&e, "GET", "/api/system/info", NULL, &r);
    CHECK_INT(r.status, 502);
    CHECK_CONTAINS(r.headers, "text/html");
    spec_resp_free(&r);
    req(&e, "GET", "/api/system/info", NULL, &r);
    CHECK_INT(r.status, 200);
    spec_resp_free(&r);
    /* only imports fail; others pass */
    set_faults(&e, "{\"failNext\":2,\"failStatus\":503,\"importOnly\":true}");
    req(&e, "GET", "/api/me", NULL, &r);
    CHECK_INT(r.status, 200);
    spec_resp_free(&r);
    const char *one = "{\"dataValues\":[{\"dataElement\":\"fbfJHSPpUQD\",\"period\":\"202405\",\"orgUnit\":\"DiszpKrYNg8\",\"value\":\"5\"}]}";
    for (int i = 0; i < 2; i++) {
        req(&e, "POST", "/api/dataValueSets", one, &r);
        CHECK_INT(r.status, 503);
        spec_resp_free(&r);
    }
    req(&e, "POST", "/api/dataValueSets", one, &r);
    CHECK_INT(r.status, 200);
    spec_resp_free(&r);
    /* a share of requests */
    set_faults(&e, "{\"reset\":true,\"failRate\":0.5,\"failStatus\":500}");
    int failed = 0;
    for (int i = 0; i < 40; i++) {
        req(&e, "GET", "/api/system/info", NULL, &r);
        failed += r.status == 500;
        spec_resp_free(&r);
    }
    CHECKF(failed > 5 && failed < 35, "failRate 0.5: %d of 40 failed", failed);
    /* slow answers */
    set_faults(&e, "{\"reset\":true,\"delayMs\":300}");
    struct timespec t0, t1;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    req(&e, "GET", "/api/system/info", NULL, &r);
    clock_gettime(CLOCK_MONOTONIC, &t1);
    spec_resp_free(&r);
    long ms = (t1.tv_sec - t0.tv_sec) * 1000 + (t1.tv_nsec - t0.tv_nsec) / 1000000;
    CHECKF(ms >= 290, "delayMs 300: answered in %ld ms", ms);
    /* a body cut halfway: the client sees a transfer error */
    set_faults(&e, "{\"reset\":true,\"dropNext\":1}");
    char url[256];
    snprintf(url, sizeof url, "%s/api/dataValueSets?dataSet=BfMAe6Itzgt&startDate=2024-01-01&endDate=2024-12-31&orgUnit=ImspTQPwCqd&children=true", e.base);
    const char *h[] = {AUTH, NULL};
    CHECK(spec_http("GET", url, h, NULL, 0, &r) != 0);
    spec_resp_free(&r);
    CHECK(spec_http("GET", url, h, NULL, 0, &r) == 0 && r.status == 200);
    spec_resp_free(&r);
    snprintf(url, sizeof url, "%s/api/system/info", e.base);
    set_faults(&e, "{\"dropNext\":1}");
    CHECK(spec_http("GET", url, h, NULL, 0, &r) != 0);
    spec_resp_free(&r);
    /* chosen ids are refused with conflicts */
    set_faults(&e, "{\"reset\":true,\"conflictIds\":[\"fbfJHSPpUQD\"]}");
    cJSON *j = post_json(&e, "/api/dataValueSets", one, 409);
    CHECK_STR(jstr(conflict_at(j, 0), "errorCode"), "E7610");
    cJSON_Delete(j);
    /* the state endpoint */
    snprintf(url, sizeof url, "%s/emulator/state", e.base);
    CHECK(spec_http("GET", url, NULL, NULL, 0, &r) == 0 && r.status == 200);
    j = spec_resp_json(&r);
    CHECK(jnum(j, "values") >= 8);
    cJSON_Delete(j);
    spec_resp_free(&r);
    /* a request that never gets an answer (the client's timeout ends it) */
    set_faults(&e, "{\"reset\":true,\"hangNext\":1}");
    pid_t child = fork();
    if (child == 0) {
        alarm(20);
        req(&e, "GET", "/api/system/info", NULL, &r); /* blocks until the emulator stops */
        _exit(0);
    }
    usleep(500000);
    CHECK_INT(waitpid(child, NULL, WNOHANG), 0);
    req(&e, "GET", "/api/system/info", NULL, &r); /* others still answered */
    CHECK_INT(r.status, 200);
    spec_resp_free(&r);
    /* and the emulator still stops cleanly */
    int st = emu_stop(&e);
    CHECKF(WIFEXITED(st) && WEXITSTATUS(st) == 0, "emulator exit status %d", st);
    kill(child, SIGKILL);
    waitpid(child, NULL, 0);
}

/* The first IPv4 address of this host that is not loopback, or NULL. */
static const char *outside_address(char *buf, size_t n)
{
    struct ifaddrs *ifs = NULL, *i;
    const char *found = NULL;
    if (getifaddrs(&ifs) != 0)
        return NULL;
    for (i = ifs; i && !found; i = i->ifa_next) {
        if (!i->ifa_addr || i->ifa_addr->sa_family != AF_INET)
            continue;
        const struct in_addr *a = &((const struct sockaddr_in *)i->ifa_addr)->sin_addr;
        if ((ntohl(a->s_addr) >> 24) != 127 && inet_ntop(AF_INET, a, buf, (socklen_t)n))
            found = buf;
    }
    freeifaddrs(ifs);
    return found;
}

TEST_TIMEOUT(emulator_admin_routes_answer_loopback_only, 30)
{
    char addr[64];
    if (!outside_address(addr, sizeof addr)) {
        printf("no non-loopback address here: nothing to check\n");
        return;
    }
    struct emu e;
    emu_fixture(&e, NULL);
    char url[256];
    struct spec_resp r;
    snprintf(url, sizeof url, "http://%s:%d/emulator/faults", addr, e.port);
    const char *body = "{\"failNext\":5}";
    CHECK(spec_http("POST", url, NULL, body, strlen(body), &r) == 0);
    CHECK_INT(r.status, 403);
    spec_resp_free(&r);
    /* the DHIS2 API itself answers any address, with credentials */
    snprintf(url, sizeof url, "http://%s:%d/api/system/info", addr, e.port);
    const char *h[] = {AUTH, NULL};
    CHECK(spec_http("GET", url, h, NULL, 0, &r) == 0);
    CHECK_INT(r.status, 200);
    spec_resp_free(&r);
    emu_stop(&e);
}

/* ---------------------------------------------------------------- generation, persistence */

TEST_TIMEOUT(emulator_generate_is_deterministic, 60)
{
    struct emu a, b;
    const char *ga[] = {"--generate", "values=5000,orgunits=300,seed=42", NULL};
    const char *gb[] = {"--generate", "values=0,orgunits=300,seed=42", NULL};
    emu_start(&a, ga);
    emu_start(&b, gb);
    cJSON *ja = get_json(&a, "/api/dataElements?paging=false&fields=id,code,valueType,categoryCombo%5Bid%5D", 200);
    cJSON *jb = get_json(&b, "/api/dataElements?paging=false&fields=id,code,valueType,categoryCombo%5Bid%5D", 200);
    char *sa = cJSON_PrintUnformatted(ja), *sb = cJSON_PrintUnformatted(jb);
    CHECK_STR(sa, sb);
    CHECK_CONTAINS(sa, "\"INTEGER\"");
    CHECK_CONTAINS(sa, "\"BOOLEAN\"");
    CHECK_CONTAINS(sa, "\"TEXT\"");
    CHECK_CONTAINS(sa, "\"NUMBER\"");
    free(sa);
    free(sb);
    cJSON_Delete(ja);
    cJSON_Delete(jb);
    cJSON *ou = get_json(&a, "/api/organisationUnits?paging=false&fields=id,level&filter=level:eq:1", 200);
    const char *root = jstr(cJSON_GetArrayItem(cJSON_GetObjectItemCaseSensitive(ou, "organisationUnits"), 0), "id");
    CHECK(root != NULL);
    cJSON *levels = get_json(&a, "/api/organisationUnits?paging=false&fields=id&filter=level:eq:4", 200);
    CHECK(cJSON_GetArraySize(cJSON_GetObjectItemCaseSensitive(levels, "organisationUnits")) > 200);
    cJSON_Delete(levels);
    cJSON *ds = get_json(&a, "/api/dataSets?paging=false&fields=id,periodType", 200);
    char q[512] = "";
    cJSON *it;
    cJSON_ArrayForEach(it, cJSON_GetObjectItemCaseSensitive(ds, "dataSets")) {
        strcat(q, "dataSet=");
        strcat(q, jstr(it, "id"));
        strcat(q, "&");
    }
    cJSON_Delete(ds);
    char query[1024];
    snprintf(query, sizeof query, "%sstartDate=1900-01-01&endDate=2100-01-01&orgUnit=%s&children=true", q, root);
    CHECK_INT(count_values(&a, query), 5000);
    CHECK_INT(count_values(&b, query), 0);
    /* the values lie before today: the last 12 months hold some */
    struct period last[12];
    period_last_n(PERIOD_MONTHLY, date_today(), 12, last);
    char s[11], en[11];
    date_format(last[0].start, s);
    date_format(last[11].end, en);
    snprintf(query, sizeof query, "%sstartDate=%s&endDate=%s&orgUnit=%s&children=true", q, s, en, root);
    CHECK(count_values(&a, query) > 1000);
    cJSON_Delete(ou);
    emu_stop(&a);
    emu_stop(&b);
}

TEST_TIMEOUT(emulator_save_writes_values_back, 30)
{
    char *dir = spec_test_dir("save");
    /* a copy of the fixture, since --save writes into it */
    char *argv[] = {"/bin/cp", FIXTURE "/metadata.json", FIXTURE "/dataValues.json", dir, NULL};
    CHECK_INT(spec_run(argv, NULL, NULL, NULL), 0);
    struct emu e;
    const char *args[] = {"--data", dir, "--save", NULL};
    emu_start(&e, args);
    import_expect(&e, "/api/dataValueSets",
                  "{\"dataValues\":[{\"dataElement\":\"fbfJHSPpUQD\",\"period\":\"202409\",\"orgUnit\":\"DiszpKrYNg8\",\"value\":\"31\",\"comment\":\"é \\\"quoted\\\"\"}]}",
                  1, 0, 0, 0);
    int st = emu_stop(&e);
    CHECK(WIFEXITED(st) && WEXITSTATUS(st) == 0);
    emu_start(&e, args);
    cJSON *j = get_json(&e, "/api/dataValueSets?dataSet=BfMAe6Itzgt&period=202409&orgUnit=DiszpKrYNg8", 200);
    cJSON *v = cJSON_GetArrayItem(cJSON_GetObjectItemCaseSensitive(j, "dataValues"), 0);
    CHECK_STR(jstr(v, "value"), "31");
    CHECK_STR(jstr(v, "comment"), "é \"quoted\"");
    cJSON_Delete(j);
    /* deleted values survive the round trip as deleted */
    CHECK_INT(count_values(&e, "dataSet=BfMAe6Itzgt&period=202403&orgUnit=DiszpKrYNg8&includeDeleted=true"), 1);
    CHECK_INT(count_values(&e, "dataSet=BfMAe6Itzgt&period=202403&orgUnit=DiszpKrYNg8"), 0);
    emu_stop(&e);
    free(dir);
}
