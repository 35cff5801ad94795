/* pipeline_test.c — the data value pipeline keeps every byte: a value's text (escapes,
 * control characters, UTF-8 beyond the BMP), its comment and followup arrive at the target as
 * the mapping left them, and a refused value lists the value sent beside the value as read,
 * whichever way the mapping made it: ids passed through, ids from a lookup table, text a
 * transform wrote. The run engine shares text between a value as read and as sent instead of
 * copying it twice; this is what that sharing must never change. */
#include <unistd.h>

#include "harness.h"
#include "sched_util.h"
#include "test.h"

static const char *const key_fields[] = {"dataElement", "period", "orgUnit", "categoryOptionCombo",
                                         "attributeOptionCombo"};
static const char *const text_fields[] = {"value", "comment", "storedBy", "created", "lastUpdated"};

static cJSON *emu_values(struct su_emu *emu)
{
    char path[512];
    snprintf(path, sizeof path,
             "/api/dataValueSets?dataSet=%s&dataSet=%s&orgUnit=%s&children=true"
             "&startDate=1900-01-01&endDate=2100-12-31",
             emu->ds_monthly, emu->ds_quarterly, emu->root);
    return su_emu_get(emu, path);
}

static void key_of(const cJSON *v, char *out, size_t n)
{
    out[0] = '\0';
    for (size_t i = 0; i < sizeof key_fields / sizeof key_fields[0]; i++)
        snprintf(out + strlen(out), n - strlen(out), "%s%s", i ? "|" : "", su_str(v, key_fields[i]));
}

static const cJSON *find_value(const cJSON *values, const cJSON *like)
{
    char want[256], key[256];
    key_of(like, want, sizeof want);
    const cJSON *v;
    cJSON_ArrayForEach(v, cJSON_GetObjectItem(values, "dataValues"))
    {
        key_of(v, key, sizeof key);
        if (strcmp(key, want) == 0)
            return v;
    }
    return NULL;
}

static bool same_text(const char *a, const char *b) { return a == b || (a && b && strcmp(a, b) == 0); }

/* What the mapping below makes of the source's comment: transform marks every value but
 * those of org unit `tabled`. */
static char *mapped_comment(const cJSON *src, const char *tabled)
{
    const char *c = su_str(src, "comment");
    char *out = NULL;
    if (strcmp(su_str(src, "orgUnit"), tabled) == 0)
        return c ? strdup(c) : NULL;
    if (asprintf(&out, "%s \xe2\x9c\x93", c ? c : "") < 0)
        test_fail(__FILE__, __LINE__, "out of memory");
    return out;
}

TEST_TIMEOUT(every_byte_of_a_value_arrives_and_a_refusal_shows_it_as_read_and_as_sent, 180)
{
    struct su_emu src, dst;
    su_emu_start(&src, 2500, 30, 41);
    su_emu_start(&dst, 0, 30, 41);

    /* comments with every kind of text a JSON string can carry, and followups, on the source */
    cJSON *values = emu_values(&src);
    cJSON *list = cJSON_GetObjectItem(values, "dataValues");
    int n = cJSON_GetArraySize(list);
    CHECK(n > 2000); /* more than one read batch (1000) */
    cJSON *update = cJSON_CreateObject(), *upd = cJSON_AddArrayToObject(update, "dataValues");
    for (int i = 0; i < n; i += 3) {
        cJSON *v = cJSON_Duplicate(cJSON_GetArrayItem(list, i), 1);
        char comment[200];
        snprintf(comment, sizeof comment,
                 "%d: \"quoted\" back\\slash tab\tnew\nline caf\xc3\xa9 \xf0\x9f\x98\x80 ctl\x01 {[,:]}", i);
        cJSON_DeleteItemFromObject(v, "comment");
        cJSON_AddStringToObject(v, "comment", comment);
        cJSON_DeleteItemFromObject(v, "followup");
        cJSON_AddBoolToObject(v, "followup", i % 2 == 0);
        cJSON_AddItemToArray(upd, v);
    }
    char *body = cJSON_PrintUnformatted(update);
    char url[256];
    snprintf(url, sizeof url, "%s/api/dataValueSets", src.url);
    const char *h[] = {"Authorization: Basic YWRtaW46ZGlzdHJpY3Q=", "Content-Type: application/json", NULL};
    struct spec_resp r;
    CHECK(spec_http("POST", url, h, body, strlen(body), &r) == 0);
    CHECKF(r.status == 200, "updating the source: %ld %.300s", r.status, r.body);
    spec_resp_free(&r);
    free(body);
    cJSON_Delete(update);
    cJSON_Delete(values);
    values = emu_values(&src);
    list = cJSON_GetObjectItem(values, "dataValues");

    /* org unit `tabled` goes through a lookup table and keeps its comments, the others get a
     * comment from transform (text that lives in the mapping call's scratch space, in every
     * batch), data element `refused` is refused by the target */
    char tabled[16], refused[16];
    snprintf(tabled, sizeof tabled, "%s", su_str(cJSON_GetArrayItem(list, 0), "orgUnit"));
    snprintf(refused, sizeof refused, "%s", su_str(cJSON_GetArrayItem(list, 1), "dataElement"));
    const cJSON *v;

    struct spec_server s;
    CHECK(spec_server_start(&s, spec_new_db(), NULL) == 0);
    char path[PATH_MAX + 64];
    snprintf(path, sizeof path, "%s/mappings/paths.lua", s.dir);
    FILE *f = fopen(path, "w");
    CHECK(f != NULL);
    fprintf(f, "return {\n  orgUnits = { %s = \"%s\" }, unmapped = \"keep\",\n"
               "  transform = function(dv)\n"
               "    if dv.orgUnit ~= \"%s\" then dv.comment = (dv.comment or \"\") .. \" \\u{2713}\" end\n"
               "    return dv\n  end,\n}\n", tabled, tabled, tabled);
    fclose(f);
    bool loaded = false;
    for (int i = 0; i < 50 && !loaded; i++) {
        cJSON *m = su_call(&s, "GET", "/api/mappings", NULL, 200);
        const cJSON *one;
        cJSON_ArrayForEach(one, cJSON_GetObjectItem(m, "mappings"))
            loaded = loaded || (strcmp(su_str(one, "name"), "paths") == 0 &&
                                strcmp(su_str(one, "state"), "loaded") == 0);
        cJSON_Delete(m);
        if (!loaded)
            usleep(100000);
    }
    CHECK(loaded);
    su_instance(&s, "src", src.url);
    su_instance(&s, "dst", dst.url);
    char faults[64];
    snprintf(faults, sizeof faults, "{\"conflictIds\":[\"%s\"]}", refused);
    su_emu_faults(&dst, faults);
    char job[1024];
    snprintf(job, sizeof job,
             "{\"name\":\"pipeline\",\"source\":\"src\",\"target\":\"dst\",\"mapping\":\"paths\","
             "\"dataSets\":[\"%s\",\"%s\"],\"orgUnits\":[\"%s\"],\"children\":true,"
             "\"periods\":{\"start\":\"1900-01-01\",\"end\":\"2100-12-31\"},"
             "\"importOptions\":{\"batchSize\":97}}",
             src.ds_monthly, src.ds_quarterly, src.root);
    cJSON_Delete(su_call(&s, "POST", "/api/jobs", job, 201));
    cJSON *queued = su_call(&s, "POST", "/api/jobs/pipeline/run", "{}", 202);
    int id = (int)su_num(queued, "id");
    cJSON_Delete(queued);
    cJSON *run = NULL;
    snprintf(path, sizeof path, "/api/runs/%d", id);
    for (int i = 0; i < 600; i++) {
        cJSON_Delete(run);
        run = su_call(&s, "GET", path, NULL, 200);
        if (strcmp(su_str(run, "status"), "queued") && strcmp(su_str(run, "status"), "running"))
            break;
        usleep(100000);
    }
    CHECK_STR(su_str(run, "status"), "partial");
    cJSON_Delete(run);

    /* the target holds every value not refused, byte for byte as the mapping left it */
    cJSON *target = emu_values(&dst);
    int expected = 0, n_refused = 0;
    cJSON_ArrayForEach(v, list)
    {
        const cJSON *t = find_value(target, v);
        if (strcmp(su_str(v, "dataElement"), refused) == 0) {
            CHECK(t == NULL);
            n_refused++;
            continue;
        }
        char key[256];
        key_of(v, key, sizeof key);
        CHECKF(t != NULL, "%s is missing at the target", key);
        char *comment = mapped_comment(v, tabled);
        CHECKF(same_text(su_str(t, "value"), su_str(v, "value")), "%s: value", key);
        CHECKF(same_text(su_str(t, "comment"), comment), "%s: comment '%s', expected '%s'", key,
               su_str(t, "comment"), comment);
        CHECKF(cJSON_IsTrue(cJSON_GetObjectItem(t, "followup")) == cJSON_IsTrue(cJSON_GetObjectItem(v, "followup")),
               "%s: followup", key);
        free(comment);
        expected++;
    }
    CHECK(n_refused > 0);
    CHECK_INT(cJSON_GetArraySize(cJSON_GetObjectItem(target, "dataValues")), expected);
    cJSON_Delete(target);

    /* each refusal: the value as read, every field, and the value as sent */
    snprintf(path, sizeof path, "/api/runs/%d/conflicts?kind=conflict&pageSize=1000", id);
    cJSON *listed = su_call(&s, "GET", path, NULL, 200);
    CHECK_INT(cJSON_GetArraySize(cJSON_GetObjectItem(listed, "conflicts")), n_refused);
    const cJSON *entry;
    cJSON_ArrayForEach(entry, cJSON_GetObjectItem(listed, "conflicts"))
    {
        const cJSON *read = cJSON_GetObjectItem(entry, "source"), *sent = cJSON_GetObjectItem(entry, "dataValue");
        const cJSON *orig = find_value(values, read);
        CHECK(orig != NULL);
        for (size_t i = 0; i < sizeof key_fields / sizeof key_fields[0]; i++) {
            CHECK_STR(su_str(read, key_fields[i]), su_str(orig, key_fields[i]));
            CHECK_STR(su_str(sent, key_fields[i]), su_str(orig, key_fields[i]));
        }
        for (size_t i = 0; i < sizeof text_fields / sizeof text_fields[0]; i++)
            CHECKF(same_text(su_str(read, text_fields[i]), su_str(orig, text_fields[i])),
                   "source %s: '%s', read as '%s'", text_fields[i], su_str(orig, text_fields[i]),
                   su_str(read, text_fields[i]));
        char *comment = mapped_comment(orig, tabled);
        CHECK(same_text(su_str(sent, "comment"), comment));
        CHECK(same_text(su_str(sent, "value"), su_str(orig, "value")));
        CHECK(same_text(su_str(sent, "storedBy"), su_str(orig, "storedBy")));
        /* the target sets these itself: they are not sent */
        CHECK(su_str(sent, "created") == NULL && su_str(sent, "lastUpdated") == NULL);
        free(comment);
    }
    cJSON_Delete(listed);
    cJSON_Delete(values);
    su_emu_stop(&src);
    su_emu_stop(&dst);
}
