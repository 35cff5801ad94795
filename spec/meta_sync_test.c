/* Metadata jobs: the job's fields, the import report, the dependency rules, and whole runs of
 * a real dhis2sync between two DHIS2 emulators, checked by what the target then holds. */
#include <limits.h>
#include <stdbool.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

#include "harness.h"
#include "meta_deps.h"
#include "meta_import.h"
#include "meta_job.h"
#include "test.h"

/* ---- pure functions ------------------------------------------------------------------------ */

static int validate(const char *body_text, cJSON **spec, struct err *e)
{
    cJSON *body = cJSON_Parse(body_text);
    CHECK(body);
    *spec = cJSON_CreateObject();
    memset(e, 0, sizeof *e);
    int rc = meta_job_validate(body, *spec, e);
    cJSON_Delete(body);
    return rc;
}

TEST(metadata_job_fields_take_their_defaults_and_name_each_bad_field)
{
    cJSON *spec;
    struct err e;
    CHECK_INT(validate("{\"objects\":{\"dataSets\":[\"BfMAe6Itzgt\"],\"optionSets\":\"all\","
                       "\"dataElements\":{\"filter\":[\"code:like:ANC\"]}}}", &spec, &e), 0);
    struct meta_job j;
    CHECK_INT(meta_job_read(spec, &j, &e), 0);
    CHECK_INT(j.n_sel, 3);
    CHECK(j.dependencies && !j.incremental && !j.deletions);
    CHECK(j.strip_sharing && j.strip_users && !j.strip_org_units);
    CHECK_STR(j.import_strategy, "CREATE_AND_UPDATE");
    CHECK(j.atomic_all && !j.dry_run && !j.async);
    CHECK_INT(j.batch_size, 1000);
    CHECK_INT(meta_job_selects(&j, meta_type_find("optionSets"))->how, META_SELECT_ALL);
    CHECK_INT(meta_job_selects(&j, meta_type_find("dataElements"))->how, META_SELECT_FILTER);
    CHECK(meta_job_selects(&j, meta_type_find("programs")) == NULL);
    cJSON_Delete(spec);

    struct err_fields fields = {0};
    cJSON *body = cJSON_Parse("{\"objects\":{\"dataThings\":\"all\",\"dataSets\":[\"nope\"],"
                              "\"options\":{\"filter\":[\"not a filter\"]}},\"strip\":[\"passwords\"],"
                              "\"importOptions\":{\"atomicMode\":\"OBJECT\",\"batchSize\":0}}");
    spec = cJSON_CreateObject();
    memset(&e, 0, sizeof e);
    e.fields = &fields;
    CHECK_INT(meta_job_validate(body, spec, &e), ERR_INPUT);
    char all[4096] = "";
    for (int i = 0; i < fields.n; i++)
        snprintf(all + strlen(all), sizeof all - strlen(all), "%s: %s\n", fields.v[i].field, fields.v[i].msg);
    CHECK_CONTAINS(all, "objects.dataThings");
    CHECK_CONTAINS(all, "objects.dataSets");
    CHECK_CONTAINS(all, "objects.options");
    CHECK_CONTAINS(all, "strip");
    CHECK_CONTAINS(all, "importOptions.atomicMode");
    CHECK_CONTAINS(all, "importOptions.batchSize");
    cJSON_Delete(body);
    cJSON_Delete(spec);

    CHECK_INT(validate("{\"objects\":{}}", &spec, &e), ERR_INPUT);
    CHECK_STR(e.field, "objects");
    cJSON_Delete(spec);
}

struct refusals {
    char text[1024];
};

static void on_refused(void *ud, const char *klass, const char *uid, const char *code,
                       const char *message, const cJSON *errors)
{
    struct refusals *r = ud;
    snprintf(r->text + strlen(r->text), sizeof r->text - strlen(r->text), "%s|%s|%s|%s|%d\n",
             meta_type_by_klass(klass) ? meta_type_by_klass(klass)->name : "?", uid, code, message,
             cJSON_GetArraySize(errors));
}

/* One report, as 2.40 answers it (bare) and as 2.41+ does (in a WebMessage). */
static const char report[] =
    "{\"responseType\":\"ImportReport\",\"status\":\"WARNING\","
    "\"stats\":{\"created\":3,\"updated\":2,\"deleted\":0,\"ignored\":1,\"total\":6},"
    "\"typeReports\":[{\"klass\":\"org.hisp.dhis.dataelement.DataElement\","
    "\"stats\":{\"created\":1,\"updated\":2,\"deleted\":0,\"ignored\":1,\"total\":4},"
    "\"objectReports\":[{\"klass\":\"org.hisp.dhis.dataelement.DataElement\",\"index\":3,"
    "\"uid\":\"DeAncVisit1\",\"errorReports\":[{\"message\":\"Property `code` with value `ANC` on "
    "object ANC visits [DeAncVisit1] (DataElement) already exists on object DeClash0001\","
    "\"mainKlass\":\"org.hisp.dhis.dataelement.DataElement\",\"errorCode\":\"E5003\","
    "\"errorProperty\":\"code\"},{\"message\":\"second\",\"errorCode\":\"E4000\"}]}]},"
    "{\"klass\":\"org.hisp.dhis.category.CategoryCombo\",\"stats\":{\"created\":2},"
    "\"objectReports\":[]}]}";

TEST(metadata_import_report_is_read_in_both_shapes_into_counts_and_one_refusal_per_object)
{
    char wrapped[sizeof report + 256];
    snprintf(wrapped, sizeof wrapped,
             "{\"httpStatus\":\"Conflict\",\"httpStatusCode\":409,\"status\":\"WARNING\","
             "\"message\":\"One or more errors occurred, please see full details in import report.\","
             "\"response\":%s}", report);
    const char *shapes[] = {report, wrapped};
    for (int i = 0; i < 2; i++) {
        cJSON *answer = cJSON_Parse(shapes[i]);
        CHECK(answer);
        struct meta_report rep;
        struct refusals r = {""};
        struct err e = {0};
        CHECK_INT(meta_import_parse(answer, &rep, on_refused, &r, &e), 0);
        CHECK_INT(rep.created, 3);
        CHECK_INT(rep.updated, 2);
        CHECK_INT(rep.ignored, 1);
        CHECK_INT(rep.errors, 2);
        CHECK_INT(rep.refused, 1);
        CHECK_STR(rep.status, "WARNING");
        CHECK_CONTAINS(r.text, "dataElements|DeAncVisit1|E5003|Property `code` with value `ANC`");
        CHECK_CONTAINS(r.text, "|2\n");
        cJSON_Delete(answer);
    }
    cJSON *none = cJSON_Parse("{\"httpStatus\":\"Internal Server Error\",\"status\":\"ERROR\","
                              "\"message\":\"boom\"}");
    struct meta_report rep;
    struct err e = {0};
    CHECK_INT(meta_import_parse(none, &rep, NULL, NULL, &e), ERR_NET);
    CHECK_CONTAINS(e.msg, "boom");
    cJSON_Delete(none);
}

static int collect(void *ud, const char *id)
{
    strcat(ud, id);
    strcat(ud, " ");
    return 0;
}

static const char *rename_or_drop(void *ud, const char *id)
{
    (void)ud;
    return strcmp(id, "DeDrop00001") == 0 ? NULL : strcmp(id, "DeAncVisit1") == 0 ? "DeNational1" : id;
}

TEST(metadata_references_are_walked_and_rewritten_per_type_rule)
{
    cJSON *ds = cJSON_Parse("{\"id\":\"DsAnc000001\",\"categoryCombo\":{\"id\":\"CcSex000001\"},"
                            "\"dataSetElements\":[{\"dataElement\":{\"id\":\"DeAncVisit1\"}},"
                            "{\"dataElement\":{\"id\":\"DeDrop00001\"},\"categoryCombo\":{\"id\":\"CcSex000001\"}}],"
                            "\"organisationUnits\":[{\"id\":\"OuRoot00001\"}]}");
    const struct meta_type *t = meta_type_find("dataSets");
    char des[256] = "", ccs[256] = "";
    for (const struct meta_ref *r = t->refs; r->path; r++) {
        if (strcmp(r->path, "dataSetElements.dataElement") == 0)
            meta_ref_each(ds, r, collect, des);
        if (strcmp(r->type, "categoryCombos") == 0)
            meta_ref_each(ds, r, collect, ccs);
    }
    CHECK_STR(des, "DeAncVisit1 DeDrop00001 ");
    CHECK_STR(ccs, "CcSex000001 CcSex000001 ");
    /* a data element refers to no data set: the rules cannot bring every data set holding it */
    for (const struct meta_ref *r = meta_type_find("dataElements")->refs; r->path; r++)
        CHECK(strcmp(r->type, "dataSets") != 0);
    CHECK(meta_type_index(meta_type_find("categoryOptions")) < meta_type_index(meta_type_find("categories")));
    CHECK(meta_type_index(meta_type_find("dataElements")) < meta_type_index(meta_type_find("dataSets")));
    CHECK(meta_type_by_klass("org.hisp.dhis.dataset.DataSet") == t);

    for (const struct meta_ref *r = t->refs; r->path; r++)
        if (strcmp(r->path, "dataSetElements.dataElement") == 0)
            CHECK_INT(meta_ref_rewrite(ds, r, rename_or_drop, NULL), 1);
    char *text = cJSON_PrintUnformatted(ds);
    CHECK_CONTAINS(text, "\"dataSetElements\":[{\"dataElement\":{\"id\":\"DeNational1\"}}]");
    free(text);
    cJSON_Delete(ds);
}

/* ---- whole runs ---------------------------------------------------------------------------- */

#define SHARING ",\"sharing\":{\"public\":\"rw------\",\"owner\":\"UsrSource01\",\"users\":{}}," \
                "\"publicAccess\":\"rw------\",\"createdBy\":{\"id\":\"UsrSource01\"}," \
                "\"lastUpdatedBy\":{\"id\":\"UsrSource01\"},\"user\":{\"id\":\"UsrSource01\"}," \
                "\"lastUpdated\":\"2020-01-01T00:00:00.000\",\"created\":\"2020-01-01T00:00:00.000\""

/* A source in the shape of a real /api/metadata export: one data set with every kind of
 * dependency, and a second data set that shares a data element with it. */
static const char source_metadata[] =
    "{\"system\":{\"version\":\"2.41.1\"},"
    "\"organisationUnits\":[{\"id\":\"OuRoot00001\",\"name\":\"Emulatia\",\"shortName\":\"Emulatia\","
    "\"openingDate\":\"2000-01-01T00:00:00.000\"" SHARING "}],"
    "\"categoryOptions\":[{\"id\":\"CoMale00001\",\"name\":\"Male\",\"shortName\":\"Male\",\"code\":\"MALE\"" SHARING "},"
    "{\"id\":\"CoFemale001\",\"name\":\"Female\",\"shortName\":\"Female\",\"code\":\"FEMALE\"" SHARING "}],"
    "\"categories\":[{\"id\":\"CatSex00001\",\"name\":\"Sex\",\"shortName\":\"Sex\",\"code\":\"SEX\","
    "\"dataDimensionType\":\"DISAGGREGATION\",\"categoryOptions\":[{\"id\":\"CoMale00001\"},{\"id\":\"CoFemale001\"}]" SHARING "}],"
    "\"categoryCombos\":[{\"id\":\"CcSex000001\",\"name\":\"Sex\",\"code\":\"SEX\",\"dataDimensionType\":\"DISAGGREGATION\","
    "\"categories\":[{\"id\":\"CatSex00001\"}]" SHARING "}],"
    "\"categoryOptionCombos\":[{\"id\":\"CocMale0001\",\"name\":\"Male\",\"categoryCombo\":{\"id\":\"CcSex000001\"},"
    "\"categoryOptions\":[{\"id\":\"CoMale00001\"}]" SHARING "},"
    "{\"id\":\"CocFemale01\",\"name\":\"Female\",\"categoryCombo\":{\"id\":\"CcSex000001\"},"
    "\"categoryOptions\":[{\"id\":\"CoFemale001\"}]" SHARING "}],"
    "\"optionSets\":[{\"id\":\"OsYesNo0001\",\"name\":\"Yes/No\",\"code\":\"YESNO\",\"valueType\":\"TEXT\","
    "\"options\":[{\"id\":\"OptYes00001\"},{\"id\":\"OptNo000001\"}]" SHARING "}],"
    "\"options\":[{\"id\":\"OptYes00001\",\"name\":\"Yes\",\"code\":\"YES\",\"sortOrder\":1,\"optionSet\":{\"id\":\"OsYesNo0001\"}" SHARING "},"
    "{\"id\":\"OptNo000001\",\"name\":\"No\",\"code\":\"NO\",\"sortOrder\":2,\"optionSet\":{\"id\":\"OsYesNo0001\"}" SHARING "}],"
    "\"legendSets\":[{\"id\":\"LsCover0001\",\"name\":\"Coverage\",\"code\":\"COVERAGE\","
    "\"legends\":[{\"id\":\"LgLow000001\",\"name\":\"Low\",\"startValue\":0,\"endValue\":50,\"color\":\"#ff0000\"}]" SHARING "}],"
    "\"dataElements\":[{\"id\":\"DeAncVisit1\",\"name\":\"ANC visits\",\"shortName\":\"ANC visits\",\"code\":\"ANC_VISITS\","
    "\"valueType\":\"INTEGER\",\"aggregationType\":\"SUM\",\"domainType\":\"AGGREGATE\","
    "\"categoryCombo\":{\"id\":\"CcSex000001\"},\"legendSets\":[{\"id\":\"LsCover0001\"}]" SHARING "},"
    "{\"id\":\"DeReferral1\",\"name\":\"Referral\",\"shortName\":\"Referral\",\"code\":\"REFERRAL\","
    "\"valueType\":\"TEXT\",\"aggregationType\":\"NONE\",\"domainType\":\"AGGREGATE\","
    "\"optionSet\":{\"id\":\"OsYesNo0001\"}" SHARING "},"
    "{\"id\":\"DeOther0001\",\"name\":\"Other\",\"shortName\":\"Other\",\"code\":\"OTHER\","
    "\"valueType\":\"NUMBER\",\"aggregationType\":\"SUM\",\"domainType\":\"AGGREGATE\"" SHARING "}],"
    "\"dataSets\":[{\"id\":\"DsAnc000001\",\"name\":\"ANC\",\"shortName\":\"ANC\",\"code\":\"ANC\","
    "\"periodType\":\"Monthly\",\"dataSetElements\":[{\"dataElement\":{\"id\":\"DeAncVisit1\"}},"
    "{\"dataElement\":{\"id\":\"DeReferral1\"}}],\"organisationUnits\":[{\"id\":\"OuRoot00001\"}]" SHARING "},"
    "{\"id\":\"DsOther0001\",\"name\":\"Other\",\"shortName\":\"Other\",\"code\":\"OTHER_DS\","
    "\"periodType\":\"Monthly\",\"dataSetElements\":[{\"dataElement\":{\"id\":\"DeOther0001\"}},"
    "{\"dataElement\":{\"id\":\"DeAncVisit1\"}}]" SHARING "}],"
    "\"sections\":[{\"id\":\"SecAnc00001\",\"name\":\"Visits\",\"sortOrder\":1,\"dataSet\":{\"id\":\"DsAnc000001\"},"
    "\"dataElements\":[{\"id\":\"DeAncVisit1\"}]" SHARING "}]}";

struct emu {
    pid_t pid;
    char url[64];
};

/* An emulator holding metadata (NULL: only DHIS2's defaults) and answering as version. */
static void emu_start(struct emu *m, const char *metadata, const char *version)
{
    int port = spec_free_port();
    snprintf(m->url, sizeof m->url, "http://127.0.0.1:%d", port);
    char port_s[16], *dir = spec_test_dir("emu"), path[PATH_MAX];
    snprintf(port_s, sizeof port_s, "%d", port);
    char *argv[10] = {spec_bin("dhis2-emulator"), "--port", port_s, "--version", (char *)version};
    if (metadata) {
        snprintf(path, sizeof path, "%s/metadata.json", dir);
        FILE *f = fopen(path, "w");
        CHECK(f && fputs(metadata, f) >= 0 && fclose(f) == 0);
        argv[5] = "--data";
        argv[6] = dir;
    }
    snprintf(path, sizeof path, "%s/emulator.log", dir);
    m->pid = spec_spawn(argv, NULL, path);
    snprintf(path, sizeof path, "%s/emulator/state", m->url);
    CHECKF(spec_wait_status(path, 200, 30000) == 0, "emulator at %s did not start", m->url);
}

static struct spec_resp emu_call(const struct emu *m, const char *method, const char *path,
                                 const char *body)
{
    char url[2048];
    snprintf(url, sizeof url, "%s%s", m->url, path);
    const char *h[] = {"Authorization: Basic YWRtaW46ZGlzdHJpY3Q=", "Content-Type: application/json", NULL};
    struct spec_resp r;
    CHECK(spec_http(method, url, h, body, body ? strlen(body) : 0, &r) == 0);
    return r;
}

/* The answer's JSON body, once its status is the one expected. */
static cJSON *answer(struct spec_resp *r, const char *method, const char *path, long expect)
{
    CHECKF(r->status == expect, "%s %s: expected %ld, saw %ld: %.500s", method, path, expect, r->status, r->body);
    cJSON *j = spec_resp_json(r);
    spec_resp_free(r);
    return j;
}

static cJSON *emu_json(const struct emu *m, const char *method, const char *path, const char *body,
                       long expect)
{
    struct spec_resp r = emu_call(m, method, path, body);
    return answer(&r, method, path, expect);
}

static cJSON *api(struct spec_server *s, const char *method, const char *path, const char *body, long expect)
{
    struct spec_resp r;
    CHECK(spec_api(s, method, path, body, &r) == 0);
    return answer(&r, method, path, expect);
}

static const char *str(const cJSON *o, const char *k) { return cJSON_GetStringValue(cJSON_GetObjectItem(o, k)); }
static long long count(const cJSON *run, const char *k)
{
    return (long long)cJSON_GetNumberValue(cJSON_GetObjectItem(cJSON_GetObjectItem(run, "counts"), k));
}

/* A source holding metadata, an empty target answering as target_version, and dhis2sync with
 * the two as instances "src" and "dst". */
static void start_with(struct spec_server *s, struct emu *src, struct emu *dst, const char *metadata,
                       const char *target_version)
{
    emu_start(src, metadata, "2.41.1");
    emu_start(dst, NULL, target_version);
    char *env[] = {"DHIS2SYNC_WATERMARK_OVERLAP=0", NULL};
    CHECK(spec_server_start(s, spec_new_db(), env) == 0);
    const struct emu *m[] = {src, dst};
    const char *names[] = {"src", "dst"};
    for (int i = 0; i < 2; i++) {
        char body[512];
        snprintf(body, sizeof body,
                 "{\"name\":\"%s\",\"url\":\"%s\",\"auth\":{\"type\":\"basic\",\"username\":\"admin\","
                 "\"password\":\"district\"}}", names[i], m[i]->url);
        cJSON_Delete(api(s, "POST", "/api/instances", body, 201));
    }
}

static void start(struct spec_server *s, struct emu *src, struct emu *dst, const char *target_version)
{
    start_with(s, src, dst, source_metadata, target_version);
}

static void add_job(struct spec_server *s, const char *name, const char *fields)
{
    char body[2048];
    snprintf(body, sizeof body, "{\"name\":\"%s\",\"kind\":\"metadata\",\"source\":\"src\",\"target\":\"dst\",%s}",
             name, fields);
    cJSON_Delete(api(s, "POST", "/api/jobs", body, 201));
}

static cJSON *run_job(struct spec_server *s, const char *job, const char *query)
{
    char path[256];
    snprintf(path, sizeof path, "/api/jobs/%s/run%s", job, query ? query : "");
    cJSON *queued = api(s, "POST", path, "{}", 202);
    snprintf(path, sizeof path, "/api/runs/%d", (int)cJSON_GetNumberValue(cJSON_GetObjectItem(queued, "id")));
    cJSON_Delete(queued);
    for (int i = 0; i < 1200; i++) {
        cJSON *run = api(s, "GET", path, NULL, 200);
        if (strcmp(str(run, "status"), "queued") && strcmp(str(run, "status"), "running"))
            return run;
        cJSON_Delete(run);
        usleep(100000);
    }
    test_fail(__FILE__, __LINE__, "run %s did not finish", path);
}

/* A run of job that must succeed; the run, as the API shows it. */
static cJSON *run_succeeds(struct spec_server *s, const char *job, const char *query)
{
    cJSON *run = run_job(s, job, query);
    CHECKF(strcmp(str(run, "status"), "succeeded") == 0, "run of %s: %s", job, cJSON_PrintUnformatted(run));
    return run;
}

static cJSON *conflicts_of(struct spec_server *s, const cJSON *run, const char *kind)
{
    char path[128];
    snprintf(path, sizeof path, "/api/runs/%d/conflicts?pageSize=1000%s%s",
             (int)cJSON_GetNumberValue(cJSON_GetObjectItem(run, "id")), kind ? "&kind=" : "", kind ? kind : "");
    return api(s, "GET", path, NULL, 200);
}

static int by_text(const void *a, const void *b) { return strcmp(*(char *const *)a, *(char *const *)b); }

/* What an instance holds of the types a data set brings, as sorted lines of ids, names, codes
 * and references; DHIS2's own `default` objects left out. */
static char *holdings(const struct emu *m)
{
    static const char *const lists[][2] = {
        {"dataSets", "id,name,code,periodType,dataSetElements[dataElement[id]]"},
        {"dataElements", "id,name,code,valueType,categoryCombo[id],optionSet[id],legendSets[id]"},
        {"categoryCombos", "id,name,code,categories[id]"},
        {"categories", "id,name,code,categoryOptions[id]"},
        {"categoryOptions", "id,name,code"},
        {"optionSets", "id,name,code"},
        {"options", "id,name,code,optionSet[id]"},
        {"legendSets", "id,name,code"},
        {"sections", "id,name,dataSet[id],dataElements[id]"},
        {"organisationUnits", "id,name"},
    };
    char *lines[256];
    int n = 0;
    for (size_t i = 0; i < sizeof lists / sizeof lists[0]; i++) {
        char path[256];
        snprintf(path, sizeof path, "/api/%s?paging=false&fields=%s", lists[i][0], lists[i][1]);
        cJSON *j = emu_json(m, "GET", path, NULL, 200);
        const cJSON *o;
        cJSON_ArrayForEach(o, cJSON_GetObjectItem(j, lists[i][0]))
        {
            if (str(o, "name") && strcmp(str(o, "name"), "default") == 0)
                continue;
            char *text = cJSON_PrintUnformatted(o), *line = NULL;
            CHECK(asprintf(&line, "%s %s", lists[i][0], text) > 0 && n < 256);
            lines[n++] = line;
            free(text);
        }
        cJSON_Delete(j);
    }
    qsort(lines, (size_t)n, sizeof *lines, by_text);
    size_t len = 1;
    for (int i = 0; i < n; i++)
        len += strlen(lines[i]) + 1;
    char *all = calloc(1, len);
    for (int i = 0; i < n; i++) {
        strcat(strcat(all, lines[i]), "\n");
        free(lines[i]);
    }
    return all;
}

/* The target holds what the source holds, but for what the job does not copy. */
static void check_equal(const struct emu *src, const struct emu *dst)
{
    char *want = holdings(src), *got = holdings(dst);
    /* the second data set and its own element do not belong to the job, nor does the org unit */
    char *drop[] = {"dataSets {\"id\":\"DsOther0001\"", "dataElements {\"id\":\"DeOther0001\"",
                    "organisationUnits {\"id\":\"OuRoot00001\""};
    for (size_t i = 0; i < 3; i++) {
        char *at = strstr(want, drop[i]);
        CHECKF(at, "the source lacks %s", drop[i]);
        char *end = strchr(at, '\n');
        memmove(at, end + 1, strlen(end + 1) + 1);
    }
    CHECKF(strcmp(want, got) == 0, "target differs from source:\nsource:\n%s\ntarget:\n%s", want, got);
    free(want);
    free(got);
}

static const char ds_job[] = "\"objects\":{\"dataSets\":[\"DsAnc000001\"]},"
                             "\"incremental\":true,\"deletions\":true";

TEST_TIMEOUT(metadata_job_copies_a_data_set_with_its_dependencies_then_only_what_changed, 240)
{
    struct emu src, dst;
    struct spec_server s;
    start(&s, &src, &dst, "2.41.1");
    add_job(&s, "meta", ds_job);

    cJSON *run = run_succeeds(&s, "meta", NULL);
    /* data set, section, 2 data elements, combo, 2 option combos, category, 2 options, option
     * set, 2 options, legend set: 14 objects (the org unit is not named by the job) */
    CHECK_INT(count(run, "fetched"), 14);
    CHECK_INT(count(run, "sent"), 14);
    CHECK_INT(count(run, "imported"), 14);
    CHECK_INT(count(run, "conflicts"), 0);
    check_equal(&src, &dst);
    /* the job does not copy org units and the target has none: the assignment is left out */
    char *warnings = cJSON_PrintUnformatted(cJSON_GetObjectItem(run, "warnings"));
    CHECK_CONTAINS(warnings, "1 org unit assignments left out");
    free(warnings);
    cJSON *de = emu_json(&dst, "GET", "/api/dataElements/DeAncVisit1?fields=:owner", NULL, 200);
    char *text = cJSON_PrintUnformatted(de);
    CHECKF(!strstr(text, "UsrSource01") && !strstr(text, "rw------"), "sharing and users not stripped: %s", text);
    free(text);
    cJSON_Delete(de);
    cJSON *cocs = emu_json(&dst, "GET", "/api/categoryOptionCombos?paging=false&fields=id&filter=categoryCombo.id:eq:CcSex000001",
                           NULL, 200);
    text = cJSON_PrintUnformatted(cocs);
    CHECK_CONTAINS(text, "CocMale0001");
    CHECK_CONTAINS(text, "CocFemale01");
    CHECK_INT(cJSON_GetArraySize(cJSON_GetObjectItem(cocs, "categoryOptionCombos")), 2);
    free(text);
    cJSON_Delete(cocs);
    cJSON_Delete(run);

    /* at the source: a data element renamed, a section deleted */
    sleep(1);
    cJSON *edit = emu_json(&src, "GET", "/api/metadata?dataElements=true&filter=id:in:[DeReferral1]&fields=:owner",
                           NULL, 200);
    cJSON *obj = cJSON_GetArrayItem(cJSON_GetObjectItem(edit, "dataElements"), 0);
    CHECK(obj);
    cJSON_ReplaceItemInObject(obj, "name", cJSON_CreateString("Referred on"));
    char *body = cJSON_PrintUnformatted(edit);
    cJSON_Delete(emu_json(&src, "POST", "/api/metadata", body, 200));
    free(body);
    cJSON_Delete(edit);
    cJSON_Delete(emu_json(&src, "DELETE", "/api/sections/SecAnc00001", NULL, 200));

    run = run_succeeds(&s, "meta", NULL);
    CHECK_INT(count(run, "sent"), 2);
    CHECK_INT(count(run, "updated"), 1);
    CHECK_INT(count(run, "deleted"), 1);
    CHECK_INT(count(run, "imported"), 0);
    check_equal(&src, &dst);
    cJSON_Delete(run);

    /* nothing changed at the source, but the target lost an object: it is sent again */
    cJSON_Delete(emu_json(&dst, "DELETE", "/api/dataSets/DsAnc000001", NULL, 200));
    run = run_succeeds(&s, "meta", NULL);
    CHECK_INT(count(run, "sent"), 1);
    CHECK_INT(count(run, "imported"), 1);
    check_equal(&src, &dst);
    cJSON_Delete(run);
}

TEST_TIMEOUT(metadata_dry_run_changes_nothing_and_reports_what_would_change, 180)
{
    struct emu src, dst;
    struct spec_server s;
    start(&s, &src, &dst, "2.41.1");
    add_job(&s, "meta", ds_job);
    cJSON *run = run_succeeds(&s, "meta", "?dryRun=true");
    CHECK(cJSON_IsTrue(cJSON_GetObjectItem(run, "dryRun")));
    CHECK_INT(count(run, "sent"), 14);
    CHECK_INT(count(run, "imported"), 14);
    struct spec_resp r = emu_call(&dst, "GET", "/api/dataSets/DsAnc000001", NULL);
    CHECK_INT(r.status, 404);
    spec_resp_free(&r);
    cJSON *des = emu_json(&dst, "GET", "/api/dataElements?paging=false&fields=id", NULL, 200);
    CHECK_INT(cJSON_GetArraySize(cJSON_GetObjectItem(des, "dataElements")), 0);
    cJSON_Delete(des);
    cJSON_Delete(run);
}

TEST_TIMEOUT(metadata_object_the_target_refuses_is_listed_with_its_error_code, 180)
{
    struct emu src, dst;
    struct spec_server s;
    start(&s, &src, &dst, "2.41.1");
    /* the target already has another data element with the same code */
    cJSON_Delete(emu_json(&dst, "POST", "/api/metadata",
                          "{\"dataElements\":[{\"id\":\"DeClash0001\",\"name\":\"ANC visits (old)\","
                          "\"shortName\":\"ANC old\",\"code\":\"ANC_VISITS\",\"valueType\":\"INTEGER\","
                          "\"aggregationType\":\"SUM\",\"domainType\":\"AGGREGATE\"}]}", 200));
    /* async: the report comes from the task summary, as DHIS2 keeps it */
    add_job(&s, "meta", "\"objects\":{\"dataElements\":[\"DeAncVisit1\",\"DeReferral1\"]},"
                        "\"importOptions\":{\"atomicMode\":\"NONE\",\"async\":true}");
    cJSON *run = run_job(&s, "meta", NULL);
    CHECK_STR(str(run, "status"), "partial");
    CHECK_INT(count(run, "refused"), 1);
    cJSON *list = conflicts_of(&s, run, NULL);
    char *text = cJSON_PrintUnformatted(list);
    CHECK_CONTAINS(text, "\"errorCode\":\"E5003\"");
    CHECK_CONTAINS(text, "DeAncVisit1");
    CHECK_CONTAINS(text, "\"type\":\"dataElements\"");
    free(text);
    cJSON_Delete(list);
    /* atomicMode NONE: the other one went in */
    cJSON_Delete(emu_json(&dst, "GET", "/api/dataElements/DeReferral1", NULL, 200));
    cJSON_Delete(run);
}

/* 2.43 makes a combo's option combos itself and refuses posted ones that differ
 * (E1130-E1132): they are left out and said so; 2.40 takes them with the source's ids. */
TEST_TIMEOUT(metadata_category_option_combos_follow_the_target_version, 240)
{
    const char *versions[] = {"2.43.0", "2.40.3"};
    for (int v = 0; v < 2; v++) {
        struct emu src, dst;
        struct spec_server s;
        start(&s, &src, &dst, versions[v]);
        add_job(&s, "meta", "\"objects\":{\"dataElements\":[\"DeAncVisit1\"]}");
        cJSON *run = run_succeeds(&s, "meta", NULL);
        CHECK_INT(count(run, "fetched"), 8); /* element, combo, category, 2 options, 2 option combos, legend set */
        cJSON *cocs = emu_json(&dst, "GET", "/api/categoryOptionCombos?paging=false&fields=id,name"
                               "&filter=categoryCombo.id:eq:CcSex000001", NULL, 200);
        CHECK_INT(cJSON_GetArraySize(cJSON_GetObjectItem(cocs, "categoryOptionCombos")), 2);
        char *text = cJSON_PrintUnformatted(cocs), *warnings = cJSON_PrintUnformatted(cJSON_GetObjectItem(run, "warnings"));
        if (v == 0) {
            CHECK(!strstr(text, "CocMale0001"));
            CHECK_CONTAINS(warnings, "category option combos left out");
            CHECK_INT(count(run, "sent"), 6);
        } else {
            CHECK_CONTAINS(text, "CocMale0001");
            CHECK_INT(count(run, "sent"), 8);
        }
        free(text);
        free(warnings);
        cJSON_Delete(cocs);
        cJSON_Delete(run);
        spec_server_stop(&s);
    }
}

static void write_mapping(struct spec_server *s, const char *name, const char *lua)
{
    char path[PATH_MAX];
    snprintf(path, sizeof path, "%s/mappings/%s.lua", s->dir, name);
    FILE *f = fopen(path, "w");
    CHECK(f && fputs(lua, f) >= 0 && fclose(f) == 0);
    snprintf(path, sizeof path, "/api/mappings/%s", name);
    for (int i = 0; i < 50; i++) {
        struct spec_resp r;
        spec_api(s, "GET", path, NULL, &r);
        long st = r.status;
        spec_resp_free(&r);
        if (st == 200)
            return;
        usleep(100000);
    }
}

TEST_TIMEOUT(metadata_mapping_renames_ids_changes_objects_and_reports_its_errors, 180)
{
    struct emu src, dst;
    struct spec_server s;
    start(&s, &src, &dst, "2.41.1");
    write_mapping(&s, "national",
                  "return {\n"
                  "  dataElements = { DeAncVisit1 = \"DeNational1\" },\n"
                  "  unmapped = \"keep\",\n"
                  "  metadata = function(obj, type)\n"
                  "    if type == \"sections\" then return nil end\n"
                  "    if type == \"dataElements\" then obj.name = obj.name .. \" (national)\" end\n"
                  "    return obj\n"
                  "  end,\n"
                  "}\n");
    add_job(&s, "meta", "\"objects\":{\"dataSets\":[\"DsAnc000001\"]},\"mapping\":\"national\"");
    cJSON *run = run_succeeds(&s, "meta", NULL);
    CHECK_INT(count(run, "skipped"), 1);
    cJSON *de = emu_json(&dst, "GET", "/api/dataElements/DeNational1?fields=id,name", NULL, 200);
    CHECK_STR(str(de, "name"), "ANC visits (national)");
    cJSON_Delete(de);
    cJSON *ds = emu_json(&dst, "GET", "/api/dataSets/DsAnc000001?fields=dataSetElements[dataElement[id]]", NULL, 200);
    char *text = cJSON_PrintUnformatted(ds);
    CHECK_CONTAINS(text, "DeNational1");
    CHECK(!strstr(text, "DeAncVisit1"));
    free(text);
    cJSON_Delete(ds);
    struct spec_resp r = emu_call(&dst, "GET", "/api/sections/SecAnc00001", NULL);
    CHECK_INT(r.status, 404);
    spec_resp_free(&r);
    cJSON *list = conflicts_of(&s, run, "skipped");
    text = cJSON_PrintUnformatted(list);
    CHECK_CONTAINS(text, "SecAnc00001");
    CHECK_CONTAINS(text, "\"type\":\"sections\"");
    free(text);
    cJSON_Delete(list);
    cJSON_Delete(run);

    /* a mapping that raises: the object is listed with the file and line, the run partial */
    write_mapping(&s, "broken",
                  "return {\n"
                  "  metadata = function(obj, type)\n"
                  "    if type == \"legendSets\" then error(\"no legends here\") end\n"
                  "    return obj\n"
                  "  end,\n"
                  "}\n");
    add_job(&s, "broken", "\"objects\":{\"legendSets\":[\"LsCover0001\"]},\"mapping\":\"broken\"");
    run = run_job(&s, "broken", NULL);
    CHECK_STR(str(run, "status"), "partial");
    CHECK_INT(count(run, "errors"), 1);
    list = conflicts_of(&s, run, NULL);
    text = cJSON_PrintUnformatted(list);
    CHECK_CONTAINS(text, "broken.lua:3:");
    CHECK_CONTAINS(text, "no legends here");
    free(text);
    cJSON_Delete(list);
    cJSON_Delete(run);
}

/* Org units named by the job bring their ancestors, never their siblings, and go level by level:
 * with one object a part, a child posted before its parent would be refused. */
TEST_TIMEOUT(metadata_org_units_bring_their_ancestors_and_go_parents_first, 180)
{
    static const char tree[] =
        "{\"organisationUnits\":["
        "{\"id\":\"OuFacil0001\",\"name\":\"Facility 1\",\"shortName\":\"F1\",\"openingDate\":\"2000-01-01T00:00:00.000\","
        "\"parent\":{\"id\":\"OuDistr0001\"}},"
        "{\"id\":\"OuFacil0002\",\"name\":\"Facility 2\",\"shortName\":\"F2\",\"openingDate\":\"2000-01-01T00:00:00.000\","
        "\"parent\":{\"id\":\"OuDistr0001\"}},"
        "{\"id\":\"OuDistr0001\",\"name\":\"District\",\"shortName\":\"D\",\"openingDate\":\"2000-01-01T00:00:00.000\","
        "\"parent\":{\"id\":\"OuRoot00001\"}},"
        "{\"id\":\"OuRoot00001\",\"name\":\"Emulatia\",\"shortName\":\"E\",\"openingDate\":\"2000-01-01T00:00:00.000\"}],"
        "\"dataSets\":[{\"id\":\"DsFacil0001\",\"name\":\"Facility form\",\"shortName\":\"Facility form\","
        "\"periodType\":\"Monthly\",\"organisationUnits\":[{\"id\":\"OuFacil0001\"}]}]}";
    struct emu src, dst;
    struct spec_server s;
    start_with(&s, &src, &dst, tree, "2.41.1");
    add_job(&s, "units", "\"objects\":{\"organisationUnits\":[\"OuFacil0001\"],\"dataSets\":[\"DsFacil0001\"]},"
                         "\"importOptions\":{\"atomicMode\":\"NONE\",\"batchSize\":1}");
    cJSON *run = run_succeeds(&s, "units", NULL);
    CHECK_INT(count(run, "fetched"), 4);
    CHECK_INT(count(run, "imported"), 4);
    CHECK_INT(count(run, "conflicts"), 0);
    cJSON *ou = emu_json(&dst, "GET", "/api/organisationUnits/OuFacil0001?fields=id,parent[id]", NULL, 200);
    CHECK_STR(cJSON_GetStringValue(cJSON_GetObjectItem(cJSON_GetObjectItem(ou, "parent"), "id")), "OuDistr0001");
    cJSON_Delete(ou);
    struct spec_resp r = emu_call(&dst, "GET", "/api/organisationUnits/OuFacil0002", NULL);
    CHECK_INT(r.status, 404);
    spec_resp_free(&r);
    cJSON *ds = emu_json(&dst, "GET", "/api/dataSets/DsFacil0001?fields=organisationUnits[id]", NULL, 200);
    char *text = cJSON_PrintUnformatted(ds);
    CHECK_CONTAINS(text, "OuFacil0001");
    free(text);
    cJSON_Delete(ds);
    cJSON_Delete(run);
}
