/* selection_test.c — what a job's periods select per period type: the periods of each type that
 * overlap a window, across weeks, financial years and half years; a job body's field errors,
 * all at once. */
#include "harness.h"
#include "period.h"
#include "test.h"

static int32_t D(const char *ymd)
{
    int32_t d = 0;
    if (date_parse(ymd, &d) != 0)
        test_fail(__FILE__, __LINE__, "bad date in test: %s", ymd);
    return d;
}

/* The ISO periods of `type` overlapping [start, end], space-separated. */
static void overlapping(int line, enum period_type type, const char *start, const char *end,
                        const char *expect)
{
    struct period ps[64];
    int n = period_overlapping(type, D(start), D(end), ps, 64);
    char got[512] = "";
    for (int i = 0; i < n && i < 64; i++) {
        char iso[PERIOD_ISO_MAX];
        period_format(&ps[i], iso, sizeof iso);
        snprintf(got + strlen(got), sizeof got - strlen(got), "%s%s", i ? " " : "", iso);
    }
    if (strcmp(got, expect) != 0)
        test_fail(__FILE__, line, "%s %s..%s: expected \"%s\", saw \"%s\"", period_type_name(type), start,
                  end, expect, got);
}
#define OVERLAP(type, start, end, expect) overlapping(__LINE__, type, start, end, expect)

TEST_TIMEOUT(selection_takes_every_period_of_a_type_that_overlaps_the_window, 10)
{
    /* last 12 months as of 2026-12-03 */
    OVERLAP(PERIOD_QUARTERLY, "2025-12-01", "2026-11-30", "2025Q4 2026Q1 2026Q2 2026Q3 2026Q4");
    OVERLAP(PERIOD_YEARLY, "2025-12-01", "2026-11-30", "2025 2026");
    OVERLAP(PERIOD_FINANCIAL_APRIL, "2025-12-01", "2026-11-30", "2025April 2026April");
    OVERLAP(PERIOD_FINANCIAL_NOV, "2025-12-01", "2026-11-30", "2026Nov 2027Nov");
    OVERLAP(PERIOD_SIX_MONTHLY_APRIL, "2025-12-01", "2026-11-30", "2025AprilS2 2026AprilS1 2026AprilS2");
    OVERLAP(PERIOD_SIX_MONTHLY, "2025-12-01", "2026-11-30", "2025S2 2026S1 2026S2");
    OVERLAP(PERIOD_MONTHLY, "2026-01-01", "2026-03-31", "202601 202602 202603");
    /* a window of two weeks read by the other weekly types: each overlapping week, across the
     * turn of the year (2026W53 exists: 2026 starts on a Thursday) */
    OVERLAP(PERIOD_WEEKLY, "2026-12-28", "2027-01-10", "2026W53 2027W1");
    OVERLAP(PERIOD_WEEKLY_WEDNESDAY, "2026-12-28", "2027-01-10", "2026WedW52 2027WedW1 2027WedW2");
    OVERLAP(PERIOD_WEEKLY_SUNDAY, "2026-12-28", "2027-01-10", "2026SunW52 2027SunW1 2027SunW2");
    OVERLAP(PERIOD_BI_WEEKLY, "2026-12-28", "2027-01-10", "2026BiW27 2027BiW1");
    OVERLAP(PERIOD_DAILY, "2026-02-27", "2026-03-01", "20260227 20260228 20260301");
    /* a monthly window read as weeks: the weeks at both ends stick out of it */
    OVERLAP(PERIOD_WEEKLY, "2026-02-01", "2026-02-28", "2026W5 2026W6 2026W7 2026W8 2026W9");

    struct period ps[2];
    CHECK_INT(period_overlapping(PERIOD_MONTHLY, D("2026-01-01"), D("2026-12-31"), ps, 2), 12);
    CHECK_INT(period_overlapping(PERIOD_MONTHLY, D("2026-02-01"), D("2026-01-01"), ps, 2), -1);
    CHECK_INT(period_overlapping(PERIOD_INVALID, D("2026-01-01"), D("2026-01-02"), ps, 2), -1);
}

static cJSON *api_call(struct spec_server *s, const char *method, const char *path, const char *body, long expect)
{
    struct spec_resp r;
    CHECK(spec_api(s, method, path, body, &r) == 0);
    CHECKF(r.status == expect, "%s %s: expected %ld, saw %ld: %.500s", method, path, expect, r.status, r.body);
    cJSON *j = spec_resp_json(&r);
    spec_resp_free(&r);
    return j;
}

static void add_unreachable_instance(struct spec_server *s, const char *name)
{
    char body[512];
    snprintf(body, sizeof body,
             "{\"name\":\"%s\",\"url\":\"http://127.0.0.1:%d\",\"auth\":{\"type\":\"basic\","
             "\"username\":\"admin\",\"password\":\"district\"}}", name, spec_free_port());
    cJSON_Delete(api_call(s, "POST", "/api/instances", body, 201));
}

/* The message listed for field in a 422's detail.errors, or NULL. */
static const char *error_for(const cJSON *reply, const char *field)
{
    const cJSON *one;
    cJSON_ArrayForEach(one, cJSON_GetObjectItem(cJSON_GetObjectItem(reply, "detail"), "errors"))
    {
        if (strcmp(cJSON_GetStringValue(cJSON_GetObjectItem(one, "field")), field) == 0)
            return cJSON_GetStringValue(cJSON_GetObjectItem(one, "message"));
    }
    return NULL;
}

TEST_TIMEOUT(a_job_body_answers_every_field_error_at_once_in_plain_words, 60)
{
    struct spec_server s;
    CHECK(spec_server_start(&s, spec_new_db(), NULL) == 0);
    add_unreachable_instance(&s, "a");
    add_unreachable_instance(&s, "b");
    cJSON *reply = api_call(&s, "POST", "/api/jobs",
                            "{\"source\":\"a\",\"target\":\"nowhere\",\"dataSets\":[\"BfMAe6Itzgt\"],"
                            "\"orgUnits\":[],\"periods\":{\"last\":12,\"type\":\"Fortnightly\"},"
                            "\"importOptions\":{\"batchSize\":0}}", 422);
    const cJSON *detail = cJSON_GetObjectItem(reply, "detail");
    CHECK_INT(cJSON_GetArraySize(cJSON_GetObjectItem(detail, "errors")), 5);
    CHECK_STR(cJSON_GetStringValue(cJSON_GetObjectItem(detail, "field")), "name");
    CHECK_STR(cJSON_GetStringValue(cJSON_GetObjectItem(reply, "error")), "Name is required");
    CHECK_STR(error_for(reply, "name"), "Name is required");
    CHECK_STR(error_for(reply, "target"), "Target names no instance 'nowhere'");
    CHECK_STR(error_for(reply, "orgUnits"), "Org units must name at least one org unit");
    CHECK_CONTAINS(error_for(reply, "periods.type"), "Period type must be a DHIS2 period type");
    CHECK_STR(error_for(reply, "importOptions.batchSize"), "Batch size must be a whole number from 1 to 50000");
    cJSON_Delete(reply);

    /* a missing number of periods is refused, not replaced by 12 */
    reply = api_call(&s, "POST", "/api/jobs",
                     "{\"name\":\"j\",\"source\":\"a\",\"target\":\"b\",\"dataSets\":[\"BfMAe6Itzgt\"],"
                     "\"orgUnits\":[\"ImspTQPwCqd\"],\"periods\":{\"last\":null,\"type\":\"Monthly\"}}", 422);
    CHECK_STR(error_for(reply, "periods.last"), "The number of periods must be a whole number from 1 to 1000");
    cJSON_Delete(reply);

    /* a kind this version does not know is named; a job without one moves data values */
    reply = api_call(&s, "POST", "/api/jobs",
                     "{\"name\":\"k\",\"kind\":\"reports\",\"source\":\"a\",\"target\":\"b\"}", 422);
    CHECK_CONTAINS(error_for(reply, "kind"), "Kind must be dataValues");
    CHECK_CONTAINS(error_for(reply, "kind"), "not 'reports'");
    cJSON_Delete(reply);
    reply = api_call(&s, "POST", "/api/jobs",
                     "{\"name\":\"j\",\"source\":\"a\",\"target\":\"b\",\"dataSets\":[\"BfMAe6Itzgt\"],"
                     "\"orgUnits\":[\"ImspTQPwCqd\"],\"periods\":{\"last\":3,\"type\":\"Monthly\"}}", 201);
    CHECK_STR(cJSON_GetStringValue(cJSON_GetObjectItem(reply, "kind")), "dataValues");
    cJSON_Delete(reply);
}
