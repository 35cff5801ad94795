/* The JSON API for instances, jobs and runs, from outside, against a real server and database:
 * validation that names fields, secrets that never come back, lookups by id or name. */
#include <libpq-fe.h>
#include <unistd.h>

#include "harness.h"
#include "test.h"

static cJSON *call(struct spec_server *s, const char *method, const char *path, const char *body,
                   long expect_status)
{
    struct spec_resp r;
    CHECK(spec_api(s, method, path, body, &r) == 0);
    CHECKF(r.status == expect_status, "%s %s: expected %ld, saw %ld: %s", method, path,
           expect_status, r.status, r.body);
    cJSON *j = spec_resp_json(&r);
    spec_resp_free(&r);
    return j;
}

static const char *str(const cJSON *o, const char *key)
{
    return cJSON_GetStringValue(cJSON_GetObjectItem(o, key));
}

static const char *error_field(const cJSON *o)
{
    return str(cJSON_GetObjectItem(o, "detail"), "field");
}

static const char district[] =
    "{\"name\":\"district\",\"url\":\"https://hmis.example.org/dhis\","
    "\"auth\":{\"type\":\"basic\",\"username\":\"sync\",\"password\":\"S3cret-pass!\"}}";
static const char national[] =
    "{\"name\":\"national\",\"url\":\"https://dhis2.example.gov\","
    "\"auth\":{\"type\":\"pat\",\"token\":\"d2pat_abcdefghijklmnopqrstuvwxyz0123451234567890\"}}";

TEST(instances_keep_secrets_write_only_and_encrypted_at_rest)
{
    char *db = spec_new_db();
    struct spec_server s;
    CHECK(spec_server_start(&s, db, NULL) == 0);
    cJSON *a = call(&s, "POST", "/api/instances", district, 201);
    CHECK_STR(str(a, "name"), "district");
    CHECK_STR(str(cJSON_GetObjectItem(a, "auth"), "type"), "basic");
    CHECK_STR(str(cJSON_GetObjectItem(a, "auth"), "username"), "sync");
    char *text = cJSON_PrintUnformatted(a);
    CHECK(!strstr(text, "S3cret-pass!") && !strstr(text, "password"));
    cJSON *b = call(&s, "POST", "/api/instances", national, 201);
    text = cJSON_PrintUnformatted(b);
    CHECK(!strstr(text, "d2pat_") && !strstr(text, "token"));

    struct spec_resp r;
    spec_api(&s, "GET", "/api/instances", NULL, &r);
    CHECK_INT(r.status, 200);
    CHECK(!strstr(r.body, "S3cret-pass!") && !strstr(r.body, "d2pat_"));
    cJSON *list = spec_resp_json(&r);
    CHECK_INT(cJSON_GetArraySize(cJSON_GetObjectItem(list, "instances")), 2);
    CHECK_INT(cJSON_GetNumberValue(cJSON_GetObjectItem(cJSON_GetObjectItem(list, "pager"), "total")), 2);
    spec_resp_free(&r);

    /* by name and by id */
    cJSON *by_name = call(&s, "GET", "/api/instances/national", NULL, 200);
    char path[64];
    snprintf(path, sizeof path, "/api/instances/%d", (int)cJSON_GetNumberValue(cJSON_GetObjectItem(by_name, "id")));
    cJSON *by_id = call(&s, "GET", path, NULL, 200);
    CHECK_STR(str(by_id, "name"), "national");

    /* stored sealed: neither secret is in the table in clear */
    PGconn *c = PQconnectdb(db);
    PGresult *res = PQexec(c, "SELECT string_agg(secret, ' ') FROM instances");
    CHECK(!strstr(PQgetvalue(res, 0, 0), "S3cret-pass!") && !strstr(PQgetvalue(res, 0, 0), "d2pat_"));
    PQclear(res);

    /* a rename keeps the secret; changing the kind of auth needs the new secret */
    res = PQexec(c, "SELECT secret FROM instances WHERE name = 'district'");
    char *before = strdup(PQgetvalue(res, 0, 0));
    PQclear(res);
    cJSON *renamed = call(&s, "PATCH", "/api/instances/district", "{\"name\":\"district-2\"}", 200);
    CHECK_STR(str(renamed, "name"), "district-2");
    res = PQexec(c, "SELECT secret FROM instances WHERE name = 'district-2'");
    CHECK_STR(PQgetvalue(res, 0, 0), before);
    PQclear(res);
    cJSON *bad = call(&s, "PATCH", "/api/instances/district-2", "{\"auth\":{\"type\":\"pat\"}}", 422);
    CHECK_STR(error_field(bad), "auth.token");
    PQfinish(c);
}

TEST(instance_input_errors_name_the_field)
{
    struct spec_server s;
    CHECK(spec_server_start(&s, spec_new_db(), NULL) == 0);
    struct {
        const char *body, *field;
    } cases[] = {
        {"{\"url\":\"https://x.org\",\"auth\":{\"type\":\"pat\",\"token\":\"t\"}}", "name"},
        {"{\"name\":\"a\",\"url\":\"ftp://x.org\",\"auth\":{\"type\":\"pat\",\"token\":\"t\"}}", "url"},
        {"{\"name\":\"a\",\"url\":\"https://user:pw@x.org\",\"auth\":{\"type\":\"pat\",\"token\":\"t\"}}", "url"},
        {"{\"name\":\"a\",\"url\":\"https://x.org\"}", "auth"},
        {"{\"name\":\"a\",\"url\":\"https://x.org\",\"auth\":{\"type\":\"oauth\"}}", "auth.type"},
        {"{\"name\":\"a\",\"url\":\"https://x.org\",\"auth\":{\"type\":\"basic\",\"username\":\"u\"}}", "auth.password"},
        {"{\"name\":42,\"url\":\"https://x.org\",\"auth\":{\"type\":\"pat\",\"token\":\"t\"}}", "name"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        cJSON *j = call(&s, "POST", "/api/instances", cases[i].body, 422);
        CHECKF(error_field(j) && strcmp(error_field(j), cases[i].field) == 0,
               "case %zu: expected field %s, saw %s", i, cases[i].field,
               error_field(j) ? error_field(j) : "(none)");
        CHECK(str(j, "error") != NULL);
    }
    cJSON *j = call(&s, "POST", "/api/instances", "{\"name\": \"unterminated", 400);
    CHECK_CONTAINS(str(j, "error"), "not valid JSON");
    call(&s, "POST", "/api/instances", district, 201);
    j = call(&s, "POST", "/api/instances", district, 409);
    CHECK_STR(error_field(j), "name");
    /* names are free text: unicode and quotes survive the round trip */
    j = call(&s, "POST", "/api/instances",
             "{\"name\":\"Région \\\"Nord\\\" 北\",\"url\":\"https://x.org\",\"auth\":{\"type\":\"pat\",\"token\":\"t\"}}", 201);
    CHECK_STR(str(j, "name"), "Région \"Nord\" 北");
}

static void make_instances(struct spec_server *s)
{
    cJSON_Delete(call(s, "POST", "/api/instances", district, 201));
    cJSON_Delete(call(s, "POST", "/api/instances", national, 201));
}

static const char job_body[] =
    "{\"name\":\"district-to-national\",\"source\":\"district\",\"target\":\"national\","
    "\"mapping\":\"district_to_national\",\"dataSets\":[\"BfMAe6Itzgt\"],\"dataElementGroups\":[],"
    "\"orgUnits\":[\"ImspTQPwCqd\"],\"children\":true,\"periods\":{\"last\":12,\"type\":\"monthly\"},"
    "\"incremental\":true,\"deletions\":true,"
    "\"importOptions\":{\"importStrategy\":\"CREATE_AND_UPDATE\",\"idScheme\":\"UID\",\"dryRun\":false,\"batchSize\":5000},"
    "\"schedule\":\"0 2 * * *\",\"enabled\":false}";

TEST(jobs_are_validated_stored_and_addressed_by_id_or_name)
{
    struct spec_server s;
    CHECK(spec_server_start(&s, spec_new_db(), NULL) == 0);
    make_instances(&s);
    cJSON *j = call(&s, "POST", "/api/jobs", job_body, 201);
    CHECK_STR(str(j, "source"), "district");
    CHECK_STR(str(j, "target"), "national");
    CHECK_STR(str(cJSON_GetObjectItem(j, "periods"), "type"), "Monthly");
    CHECK(cJSON_IsTrue(cJSON_GetObjectItem(j, "children")));
    CHECK(cJSON_IsFalse(cJSON_GetObjectItem(j, "enabled")));
    CHECK(str(j, "nextRunAt") != NULL);
    int id = (int)cJSON_GetNumberValue(cJSON_GetObjectItem(j, "id"));

    cJSON *patched = call(&s, "PATCH", "/api/jobs/district-to-national",
                          "{\"importOptions\":{\"batchSize\":250},\"schedule\":null}", 200);
    cJSON *opts = cJSON_GetObjectItem(patched, "importOptions");
    CHECK_INT(cJSON_GetNumberValue(cJSON_GetObjectItem(opts, "batchSize")), 250);
    CHECK_STR(str(opts, "importStrategy"), "CREATE_AND_UPDATE");
    CHECK(cJSON_IsNull(cJSON_GetObjectItem(patched, "schedule")));
    CHECK(cJSON_IsTrue(cJSON_GetObjectItem(patched, "incremental")));

    char path[64];
    snprintf(path, sizeof path, "/api/jobs/%d", id);
    cJSON *by_id = call(&s, "GET", path, NULL, 200);
    CHECK_STR(str(by_id, "name"), "district-to-national");
    call(&s, "GET", "/api/jobs/no-such-job", NULL, 404);

    struct {
        const char *patch, *field;
    } cases[] = {
        {"{\"periods\":{\"last\":12,\"type\":\"Fortnightly\"}}", "periods.type"},
        {"{\"periods\":{\"fixed\":[\"202413\"]}}", "periods.fixed"},
        {"{\"periods\":{\"start\":\"2024-02-01\",\"end\":\"2024-01-01\"}}", "periods.end"},
        {"{\"periods\":{\"last\":3,\"type\":\"Monthly\",\"fixed\":[\"202401\"]}}", "periods"},
        {"{\"schedule\":\"61 * * * *\"}", "schedule"},
        {"{\"source\":\"nowhere\"}", "source"},
        {"{\"dataSets\":[\"not-a-uid\"]}", "dataSets"},
        {"{\"dataSets\":[],\"dataElementGroups\":[]}", "dataSets"},
        {"{\"orgUnits\":[]}", "orgUnits"},
        {"{\"mapping\":\"../etc/passwd\"}", "mapping"},
        {"{\"importOptions\":{\"importStrategy\":\"MERGE\"}}", "importOptions.importStrategy"},
        {"{\"importOptions\":{\"batchSize\":0}}", "importOptions.batchSize"},
        {"{\"importOptions\":{\"idScheme\":\"ATTRIBUTE:x\"}}", "importOptions.idScheme"},
        {"{\"incremental\":\"yes\"}", "incremental"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        cJSON *e = call(&s, "PATCH", "/api/jobs/district-to-national", cases[i].patch, 422);
        CHECKF(error_field(e) && strcmp(error_field(e), cases[i].field) == 0,
               "case %zu (%s): expected field %s, saw %s (%s)", i, cases[i].patch, cases[i].field,
               error_field(e) ? error_field(e) : "(none)", str(e, "error"));
    }
    /* a rejected change changed nothing */
    cJSON *still = call(&s, "GET", "/api/jobs/district-to-national", NULL, 200);
    CHECK_STR(str(cJSON_GetObjectItem(still, "periods"), "type"), "Monthly");

    /* an instance a job uses cannot be deleted; the job can */
    cJSON *used = call(&s, "DELETE", "/api/instances/district", NULL, 409);
    CHECK_CONTAINS(str(used, "error"), "district-to-national");
    struct spec_resp r;
    spec_api(&s, "DELETE", "/api/jobs/district-to-national", NULL, &r);
    CHECK_INT(r.status, 204);
    spec_resp_free(&r);
    spec_api(&s, "DELETE", "/api/instances/district", NULL, &r);
    CHECK_INT(r.status, 204);
    spec_resp_free(&r);
}

TEST(a_run_of_an_unreachable_source_fails_with_the_reason)
{
    struct spec_server s;
    CHECK(spec_server_start(&s, spec_new_db(), NULL) == 0);
    int dead_port = spec_free_port();
    char body[512];
    snprintf(body, sizeof body,
             "{\"name\":\"src\",\"url\":\"http://127.0.0.1:%d\",\"auth\":{\"type\":\"basic\","
             "\"username\":\"admin\",\"password\":\"district\"}}", dead_port);
    cJSON_Delete(call(&s, "POST", "/api/instances", body, 201));
    cJSON_Delete(call(&s, "POST", "/api/instances", national, 201));
    cJSON_Delete(call(&s, "POST", "/api/jobs",
                      "{\"name\":\"j\",\"source\":\"src\",\"target\":\"national\",\"dataSets\":[\"BfMAe6Itzgt\"],"
                      "\"orgUnits\":[\"ImspTQPwCqd\"],\"periods\":{\"fixed\":[\"202401\"]},"
                      "\"retryWindow\":2}", 201));
    cJSON *run = call(&s, "POST", "/api/jobs/j/run?dryRun=true", "{}", 202);
    CHECK(cJSON_IsTrue(cJSON_GetObjectItem(run, "dryRun")));
    int id = (int)cJSON_GetNumberValue(cJSON_GetObjectItem(run, "id"));
    char path[64];
    snprintf(path, sizeof path, "/api/runs/%d", id);
    const char *status = NULL;
    cJSON *got = NULL;
    for (int i = 0; i < 300; i++) {
        got = call(&s, "GET", path, NULL, 200);
        status = str(got, "status");
        if (strcmp(status, "queued") && strcmp(status, "running"))
            break;
        usleep(100000);
    }
    CHECK_STR(status, "failed");
    CHECK_CONTAINS(str(got, "error"), "instance 'src' unreachable for 2 s");
    CHECK(str(got, "finishedAt") != NULL);

    cJSON *list = call(&s, "GET", "/api/runs?job=j&status=failed", NULL, 200);
    CHECK_INT(cJSON_GetArraySize(cJSON_GetObjectItem(list, "runs")), 1);
    call(&s, "GET", "/api/runs?status=weird", NULL, 400);
    call(&s, "GET", "/api/runs?pageSize=0", NULL, 400);
    call(&s, "GET", "/api/runs/999999/conflicts", NULL, 404);
    cJSON *conf = call(&s, "GET", "/api/runs/1/conflicts", NULL, 200);
    CHECK_INT(cJSON_GetArraySize(cJSON_GetObjectItem(conf, "conflicts")), 0);
    /* a finished run cannot be cancelled */
    snprintf(path, sizeof path, "/api/runs/%d/cancel", id);
    call(&s, "POST", path, NULL, 409);
}
