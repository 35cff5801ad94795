/* forms_test.c — the API behind the admin's editor and forms (issue 16): a mapping file
 * changed on disk is never overwritten unseen (ETag / If-Match), instance bodies list every
 * field error at once, instances keep their last connection test, cron expressions in words. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "harness.h"
#include "sched_util.h"
#include "test.h"

/* The value of response header `name` (case-insensitive) in a static buffer, "" if absent. */
static const char *resp_header(const struct spec_resp *r, const char *name)
{
    static char value[256];
    value[0] = '\0';
    size_t n = strlen(name);
    for (const char *p = r->headers; p && *p; p = strchr(p, '\n') ? strchr(p, '\n') + 1 : "") {
        if (strncasecmp(p, name, n) == 0 && p[n] == ':') {
            p += n + 1;
            p += strspn(p, " ");
            size_t len = strcspn(p, "\r\n");
            snprintf(value, sizeof value, "%.*s", (int)len, p);
            break;
        }
    }
    return value;
}

/* PUT /api/mappings/NAME with a Lua body and, unless NULL, an If-Match header. */
static void put_mapping(struct spec_server *s, const char *name, const char *src,
                        const char *if_match, struct spec_resp *r)
{
    char url[256], auth[200], cond[128];
    snprintf(url, sizeof url, "%s/api/mappings/%s", s->base, name);
    snprintf(auth, sizeof auth, "Authorization: Bearer %s", s->token);
    snprintf(cond, sizeof cond, "If-Match: %s", if_match ? if_match : "");
    const char *headers[] = {auth, "Content-Type: text/x-lua", if_match ? cond : NULL, NULL};
    spec_http("PUT", url, headers, src, strlen(src), r);
}

static void get_mapping(struct spec_server *s, const char *name, int json, struct spec_resp *r)
{
    char url[256], auth[200];
    snprintf(url, sizeof url, "%s/api/mappings/%s", s->base, name);
    snprintf(auth, sizeof auth, "Authorization: Bearer %s", s->token);
    const char *headers[] = {auth, json ? "Accept: application/json" : "Accept: text/x-lua", NULL};
    spec_http("GET", url, headers, NULL, 0, r);
}

static char *slurp(const char *path)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        return NULL;
    char *buf = calloc(1, 65536);
    if (buf)
        buf[fread(buf, 1, 65535, f)] = '\0';
    fclose(f);
    return buf;
}

static const char GOOD[] = "return { unmapped = \"keep\" }\n";
/* line 2 lacks the comma before it */
static const char BROKEN[] = "return {\n  dataElements = {}\n  unmapped = \"keep\",\n}\n";

TEST_TIMEOUT(forms_mapping_changed_on_disk_is_shown_and_not_overwritten_unseen, 90)
{
    struct spec_server s;
    char *db = spec_new_db();
    CHECK(spec_server_start(&s, db, NULL) == 0);
    struct spec_resp r;
    put_mapping(&s, "ondisk", GOOD, NULL, &r);
    CHECK_INT(r.status, 200);
    char first_etag[64];
    snprintf(first_etag, sizeof first_etag, "%s", resp_header(&r, "ETag"));
    CHECKF(first_etag[0] == '"', "PUT answers the ETag of what it wrote, saw '%s'", first_etag);
    spec_resp_free(&r);

    get_mapping(&s, "ondisk", 0, &r);
    CHECK_STR(resp_header(&r, "ETag"), first_etag);
    spec_resp_free(&r);

    /* someone edits the file on disk and breaks it: the watcher keeps the good version */
    char path[1024];
    snprintf(path, sizeof path, "%s/mappings/ondisk.lua", s.dir);
    FILE *f = fopen(path, "w");
    CHECK(f != NULL);
    fputs(BROKEN, f);
    fclose(f);
    cJSON *j = NULL;
    for (int i = 0; i < 100; i++) {
        get_mapping(&s, "ondisk", 1, &r);
        cJSON_Delete(j);
        j = spec_resp_json(&r);
        const char *state = cJSON_GetStringValue(cJSON_GetObjectItem(j, "state"));
        if (state && strcmp(state, "error") == 0)
            break;
        spec_resp_free(&r);
        usleep(100000);
    }
    CHECKF(r.status == 200 && j, "GET after the broken edit, saw %ld %s", r.status, r.body);
    CHECK_STR(cJSON_GetStringValue(cJSON_GetObjectItem(j, "state")), "error");
    CHECK_STR(cJSON_GetStringValue(cJSON_GetObjectItem(j, "source")), GOOD);
    cJSON *disk = cJSON_GetObjectItem(j, "disk");
    CHECKF(cJSON_IsObject(disk), "a \"disk\" object beside the version in use, saw %s", r.body);
    CHECK_STR(cJSON_GetStringValue(cJSON_GetObjectItem(disk, "source")), BROKEN);
    CHECK_INT(cJSON_GetNumberValue(cJSON_GetObjectItem(cJSON_GetObjectItem(disk, "error"), "line")), 3);
    char disk_etag[64];
    snprintf(disk_etag, sizeof disk_etag, "%s", resp_header(&r, "ETag"));
    CHECKF(disk_etag[0] == '"' && strcmp(disk_etag, first_etag) != 0,
           "the ETag follows the file on disk, saw '%s' then '%s'", first_etag, disk_etag);
    cJSON_Delete(j);
    spec_resp_free(&r);

    get_mapping(&s, "ondisk", 0, &r);
    CHECK_STR(r.body, BROKEN);
    CHECK_STR(resp_header(&r, "ETag"), disk_etag);
    spec_resp_free(&r);

    /* an editor that read the first version cannot save over the edit on disk */
    put_mapping(&s, "ondisk", "return {}\n", first_etag, &r);
    CHECKF(r.status == 412, "412 for a stale If-Match, saw %ld %s", r.status, r.body);
    CHECK_CONTAINS(r.body, "changed on disk");
    spec_resp_free(&r);
    char *now = slurp(path);
    CHECK_STR(now, BROKEN);
    free(now);

    /* with the ETag of the file on disk (the editor saw it), the save goes through */
    put_mapping(&s, "ondisk", GOOD, disk_etag, &r);
    CHECK_INT(r.status, 200);
    CHECK_STR(resp_header(&r, "ETag"), first_etag);
    spec_resp_free(&r);
    get_mapping(&s, "ondisk", 1, &r);
    j = spec_resp_json(&r);
    CHECK(cJSON_IsNull(cJSON_GetObjectItem(j, "disk")));
    CHECK_STR(cJSON_GetStringValue(cJSON_GetObjectItem(j, "state")), "loaded");
    cJSON_Delete(j);
    spec_resp_free(&r);

    /* a new mapping has no file to match */
    put_mapping(&s, "brand_new", GOOD, first_etag, &r);
    CHECK_INT(r.status, 412);
    spec_resp_free(&r);
    spec_server_stop(&s);
    free(db);
}

/* The message the 422 gives for field f, or NULL. */
static const char *field_message(const cJSON *answer, const char *f)
{
    const cJSON *item;
    cJSON_ArrayForEach(item, cJSON_GetObjectItem(cJSON_GetObjectItem(answer, "detail"), "errors"))
    {
        if (strcmp(su_str(item, "field"), f) == 0)
            return su_str(item, "message");
    }
    return NULL;
}

TEST_TIMEOUT(forms_instance_body_lists_every_field_error_in_words, 60)
{
    struct spec_server s;
    char *db = spec_new_db();
    CHECK(spec_server_start(&s, db, NULL) == 0);
    cJSON *j = su_call(&s, "POST", "/api/instances", "{}", 422);
    CHECK_STR(su_str(j, "error"), "Name is required");
    CHECK_STR(su_str(cJSON_GetObjectItem(j, "detail"), "field"), "name");
    CHECK_STR(field_message(j, "url"), "Base URL is required");
    CHECK(field_message(j, "auth") != NULL);
    cJSON_Delete(j);

    j = su_call(&s, "POST", "/api/instances",
                "{\"name\":\"  \",\"url\":\"ftp://x\",\"auth\":{\"type\":\"basic\"}}", 422);
    CHECK_STR(field_message(j, "name"), "Name is required");
    CHECK_STR(field_message(j, "url"), "Base URL must start with https:// (or http://)");
    CHECK_STR(field_message(j, "auth.username"), "User name is required");
    CHECK_STR(field_message(j, "auth.password"), "Password is required");
    CHECK_INT(cJSON_GetArraySize(cJSON_GetObjectItem(cJSON_GetObjectItem(j, "detail"), "errors")), 4);
    cJSON_Delete(j);
    j = su_call(&s, "GET", "/api/instances", NULL, 200);
    CHECK_INT(su_num(cJSON_GetObjectItem(j, "pager"), "total"), 0);
    cJSON_Delete(j);
    spec_server_stop(&s);
    free(db);
}

TEST_TIMEOUT(forms_instances_keep_their_last_connection_test, 90)
{
    struct su_emu emu;
    su_emu_start(&emu, 0, 10, 3);
    struct spec_server s;
    char *db = spec_new_db();
    CHECK(spec_server_start(&s, db, NULL) == 0);
    char body[512];
    snprintf(body, sizeof body,
             "{\"name\":\"up\",\"url\":\"%s\",\"auth\":{\"type\":\"basic\",\"username\":\"admin\","
             "\"password\":\"district\"}}", emu.url);
    cJSON *j = su_call(&s, "POST", "/api/instances", body, 201);
    cJSON *t = cJSON_GetObjectItem(j, "lastTest");
    CHECKF(cJSON_IsObject(t), "a new instance is tested, saw lastTest %s", cJSON_PrintUnformatted(j));
    CHECK(cJSON_IsTrue(cJSON_GetObjectItem(t, "ok")));
    CHECK(su_str(t, "version")[0] == '2');
    CHECK(cJSON_IsNumber(cJSON_GetObjectItem(t, "latencyMs")));
    CHECK(cJSON_IsNull(cJSON_GetObjectItem(t, "error")));
    cJSON_Delete(j);

    /* a server that does not answer: saved all the same, the failure shown */
    int closed = spec_free_port();
    snprintf(body, sizeof body,
             "{\"name\":\"down\",\"url\":\"http://127.0.0.1:%d\",\"auth\":{\"type\":\"pat\","
             "\"token\":\"d2pat_abc\"}}", closed);
    j = su_call(&s, "POST", "/api/instances", body, 201);
    t = cJSON_GetObjectItem(j, "lastTest");
    CHECK(cJSON_IsFalse(cJSON_GetObjectItem(t, "ok")));
    CHECK(cJSON_IsNull(cJSON_GetObjectItem(t, "version")));
    CHECK(su_str(t, "error")[0] != '\0');
    char at[64];
    snprintf(at, sizeof at, "%s", su_str(t, "at"));
    cJSON_Delete(j);

    /* a new name does not test again; a new url does */
    j = su_call(&s, "PUT", "/api/instances/down", "{\"name\":\"down2\"}", 200);
    CHECK_STR(su_str(cJSON_GetObjectItem(j, "lastTest"), "at"), at);
    cJSON_Delete(j);
    snprintf(body, sizeof body, "{\"url\":\"%s\",\"auth\":{\"type\":\"basic\",\"username\":\"admin\","
             "\"password\":\"district\"}}", emu.url);
    j = su_call(&s, "PUT", "/api/instances/down2", body, 200);
    CHECK(cJSON_IsTrue(cJSON_GetObjectItem(cJSON_GetObjectItem(j, "lastTest"), "ok")));
    cJSON_Delete(j);

    /* the list carries it; a failed test button press is stored too */
    su_emu_stop(&emu);
    cJSON_Delete(su_call(&s, "POST", "/api/instances/up/test", "{}", 502));
    j = su_call(&s, "GET", "/api/instances", NULL, 200);
    const cJSON *inst;
    int seen = 0;
    cJSON_ArrayForEach(inst, cJSON_GetObjectItem(j, "instances"))
    {
        if (strcmp(su_str(inst, "name"), "up") == 0) {
            CHECK(cJSON_IsFalse(cJSON_GetObjectItem(cJSON_GetObjectItem(inst, "lastTest"), "ok")));
            seen = 1;
        }
    }
    CHECK(seen);
    cJSON_Delete(j);
    spec_server_stop(&s);
    free(db);
}

TEST_TIMEOUT(forms_schedule_in_words_help_and_samples_from_a_jobs_source, 90)
{
    struct su_emu emu;
    su_emu_start(&emu, 3000, 20, 7);
    struct spec_server s;
    char *db = spec_new_db();
    CHECK(spec_server_start(&s, db, NULL) == 0);

    /* the scheduler's own cron code, in words, with the next five times */
    cJSON *j = su_call(&s, "GET", "/api/schedule?cron=0%202%20*%20*%20*", NULL, 200);
    CHECK_STR(su_str(j, "description"), "At 02:00 UTC, every day.");
    cJSON *next = cJSON_GetObjectItem(j, "next");
    CHECK_INT(cJSON_GetArraySize(next), 5);
    CHECK(strstr(cJSON_GetStringValue(cJSON_GetArrayItem(next, 0)), "T02:00:00Z") != NULL);
    cJSON_Delete(j);
    j = su_call(&s, "GET", "/api/schedule?cron=*/15%20*%20*%20*%201-5", NULL, 200);
    CHECK_STR(su_str(j, "description"), "Every 15 minutes, on weekdays (Monday to Friday).");
    cJSON_Delete(j);
    j = su_call(&s, "GET", "/api/schedule?cron=99%20*%20*%20*%20*", NULL, 422);
    CHECK_CONTAINS(su_str(j, "error"), "minute");
    cJSON_Delete(j);

    /* the mapping reference the editor links to, behind the login */
    struct spec_resp r;
    spec_api(&s, "GET", "/docs/mappings.md", NULL, &r);
    CHECK_INT(r.status, 200);
    CHECK_CONTAINS(r.body, "transform");
    spec_resp_free(&r);
    char url[160];
    snprintf(url, sizeof url, "%s/docs/mappings.md", s.base);
    spec_http("GET", url, NULL, NULL, 0, &r);
    CHECK_INT(r.status, 401);
    spec_resp_free(&r);

    /* a few values of a job's selection, from its source */
    su_instance(&s, "src", emu.url);
    su_instance(&s, "dst", emu.url);
    char body[1024];
    snprintf(body, sizeof body,
             "{\"name\":\"sampled\",\"source\":\"src\",\"target\":\"dst\",\"dataSets\":[\"%s\"],"
             "\"orgUnits\":[\"%s\"],\"children\":true,\"periods\":{\"last\":24,\"type\":\"Monthly\"}}",
             emu.ds_monthly, emu.root);
    cJSON_Delete(su_call(&s, "POST", "/api/jobs", body, 201));
    j = su_call(&s, "GET", "/api/jobs/sampled/sample?n=5", NULL, 200);
    cJSON *values = cJSON_GetObjectItem(j, "dataValues");
    CHECKF(cJSON_GetArraySize(values) == 5, "5 values, saw %d", cJSON_GetArraySize(values));
    cJSON *first = cJSON_GetArrayItem(values, 0);
    CHECK(strlen(su_str(first, "dataElement")) == 11);
    CHECK(su_str(first, "period")[0] == '2');
    CHECK(su_str(first, "value")[0] != '\0');
    cJSON_Delete(j);
    cJSON_Delete(su_call(&s, "GET", "/api/jobs/sampled/sample?n=0", NULL, 400));
    cJSON_Delete(su_call(&s, "GET", "/api/jobs/nothing/sample", NULL, 404));
    spec_server_stop(&s);
    su_emu_stop(&emu);
    free(db);
}
