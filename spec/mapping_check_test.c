/* mapping_check_test.c — `dhis2sync check` (through check_command) and the check route's
 * logic (check_sample), on the example mappings in mappings/. */
#include <fcntl.h>
#include <stdarg.h>
#include <unistd.h>

#include "check.h"
#include "harness.h"
#include "mapping_registry.h"
#include "test.h"

/* Runs check_command with stdout and stderr captured into *out (caller frees). */
static int run_check(char **out, int argc, ...)
{
    char *argv[16];
    va_list ap;
    va_start(ap, argc);
    for (int i = 0; i < argc && i < 15; i++)
        argv[i] = va_arg(ap, char *);
    va_end(ap);
    argv[argc] = NULL;
    char *dir = spec_test_dir("out");
    char path[4096];
    snprintf(path, sizeof path, "%s/out.txt", dir);
    free(dir);
    fflush(stdout);
    fflush(stderr);
    int saved_out = dup(1), saved_err = dup(2);
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0644);
    dup2(fd, 1);
    dup2(fd, 2);
    close(fd);
    int rc = check_command(argc, argv);
    fflush(stdout);
    fflush(stderr);
    dup2(saved_out, 1);
    dup2(saved_err, 2);
    close(saved_out);
    close(saved_err);
    FILE *f = fopen(path, "r");
    *out = calloc(1, 1 << 20);
    if (f) {
        size_t n = fread(*out, 1, (1 << 20) - 1, f);
        (void)n;
        fclose(f);
    }
    return rc;
}

static cJSON *load_json(const char *path)
{
    FILE *f = fopen(path, "r");
    CHECKF(f != NULL, "cannot open %s", path);
    static char buf[1 << 16];
    size_t n = fread(buf, 1, sizeof buf - 1, f);
    fclose(f);
    buf[n] = '\0';
    cJSON *j = cJSON_Parse(buf);
    CHECKF(j != NULL, "%s is not JSON", path);
    return j;
}

TEST(mapping_check_every_example_mapping_compiles)
{
    struct mapping_registry_config cfg = {.dir = "mappings", .scripts_dir = "scripts"};
    struct mapping_registry *r = NULL;
    struct err e;
    CHECK_INT(mapping_registry_open(&cfg, &r, &e), 0);
    struct mapping_info *list;
    size_t n;
    CHECK_INT(mapping_registry_list(r, &list, &n, &e), 0);
    CHECK(n >= 6);
    for (size_t i = 0; i < n; i++)
        CHECKF(list[i].loaded && !list[i].has_error, "%s: %s", list[i].name, list[i].error);
    free(list);
    mapping_registry_close(r);
}

TEST(mapping_check_command_prints_what_happens_to_each_value)
{
    setenv("DHIS2SYNC_MAPPINGS", "mappings", 1);
    char *out;
    int rc = run_check(&out, 4, "check", "district_to_national", "--sample",
                       "spec/fixtures/mappings/district_sample.json");
    CHECKF(rc == 0, "exit %d: %s", rc, out);
    CHECK_CONTAINS(out, "district_to_national: compiles (version ");
    CHECK_CONTAINS(out, "-> u8jzPde0Igx/lgLKOmxgJTe/DwkNhFdnXsi 202401 c9QeWJKY40u = 12");
    CHECK_CONTAINS(out, "-> Vpzz63FfkCz/DwkNhFdnXsi/DwkNhFdnXsi 202401 c9QeWJKY40u = 2450");
    CHECK_CONTAINS(out, "no dataElements entry for 's46m5MS0hxu'");
    CHECK_CONTAINS(out, "no orgUnits entry for 'jUb8gELQApl'");
    CHECK_CONTAINS(out, "5 value(s): 3 mapped, 2 skipped, 0 errors");
    free(out);

    /* an error on one value: the others still show, the exit code is 1 */
    rc = run_check(&out, 4, "check", "mappings/district_to_national.lua", "--sample",
                   "spec/fixtures/mappings/district_bad_sample.json");
    CHECK_INT(rc, 1);
    CHECK_CONTAINS(out, "district_to_national.lua:30: birth weight 'heavy' is not a number");
    CHECK_CONTAINS(out, "= 3100");
    CHECK_CONTAINS(out, "3 value(s): 2 mapped, 0 skipped, 1 error");
    free(out);

    /* aggregate: what would be sent */
    rc = run_check(&out, 4, "check", "age_bands", "--sample",
                   "spec/fixtures/mappings/age_bands_sample.json");
    CHECK_INT(rc, 0);
    CHECK_CONTAINS(out, "after aggregate = \"sum\": 2 value(s) to send");
    CHECK_CONTAINS(out, "s46m5MS0hxu/rESQedUStPK/HllvX50cXC0 202401 DiszpKrYNg8 = 13");
    CHECK_CONTAINS(out, "s46m5MS0hxu/R0CsTy4Qwb8/HllvX50cXC0 202401 DiszpKrYNg8 = 3");
    free(out);

    /* no sample: a summary of the tables */
    rc = run_check(&out, 2, "check", "rename_ids");
    CHECK_INT(rc, 0);
    CHECK_CONTAINS(out, "dataElements           3 entries");
    CHECK_CONTAINS(out, "unmapped = \"error\"");
    free(out);
}

TEST(mapping_check_command_fails_on_compile_errors_and_bad_input)
{
    char *dir = spec_test_dir("m");
    char path[4096];
    snprintf(path, sizeof path, "%s/broken.lua", dir);
    FILE *f = fopen(path, "w");
    fputs("return {\n  transform = function(dv)\n    return dv +\n  end\n}\n", f);
    fclose(f);
    char *out;
    int rc = run_check(&out, 2, "check", path);
    CHECK_INT(rc, 1);
    CHECK_CONTAINS(out, "broken.lua:4: unexpected symbol near 'end'");
    free(out);
    rc = run_check(&out, 3, "check", path, "--json");
    CHECK_INT(rc, 1);
    CHECK_CONTAINS(out, "\"line\":\t4");
    free(out);

    setenv("DHIS2SYNC_MAPPINGS", dir, 1);
    rc = run_check(&out, 2, "check", "absent");
    CHECK_INT(rc, 1);
    CHECK_CONTAINS(out, "cannot read");
    free(out);
    rc = run_check(&out, 1, "check");
    CHECK_INT(rc, 2);
    free(out);
    rc = run_check(&out, 4, "check", "mappings/identity.lua", "--sample", path);
    CHECK_INT(rc, 1);
    CHECK_CONTAINS(out, "is not JSON");
    free(out);
    free(dir);
}

TEST(mapping_check_sample_answers_json_for_the_api)
{
    struct mapping *m = NULL;
    struct err e;
    CHECK_INT(mapping_compile("district_to_national", "mappings/district_to_national.lua",
                              "scripts", &m, &e),
              0);
    cJSON *sample = load_json("spec/fixtures/mappings/district_bad_sample.json");
    int errors = -1;
    cJSON *res = check_sample(m, sample, NULL, &errors, &e);
    CHECKF(res != NULL, "check_sample: %s", e.msg);
    CHECK_INT(errors, 1);
    CHECK_STR(cJSON_GetObjectItem(res, "version")->valuestring, mapping_version(m));
    cJSON *counts = cJSON_GetObjectItem(res, "counts");
    CHECK_INT(cJSON_GetObjectItem(counts, "mapped")->valueint, 2);
    CHECK_INT(cJSON_GetObjectItem(counts, "errors")->valueint, 1);
    cJSON *results = cJSON_GetObjectItem(res, "results");
    CHECK_INT(cJSON_GetArraySize(results), 3);
    cJSON *r0 = cJSON_GetArrayItem(results, 0), *r1 = cJSON_GetArrayItem(results, 1);
    CHECK_STR(cJSON_GetObjectItem(r0, "status")->valuestring, "mapped");
    CHECK_STR(cJSON_GetObjectItem(cJSON_GetObjectItem(r0, "output"), "dataElement")->valuestring,
              "u8jzPde0Igx");
    CHECK_STR(cJSON_GetObjectItem(r1, "status")->valuestring, "error");
    cJSON *err = cJSON_GetObjectItem(r1, "error");
    CHECK_STR(cJSON_GetObjectItem(err, "file")->valuestring, "district_to_national.lua");
    CHECK_INT(cJSON_GetObjectItem(err, "line")->valueint, 30);
    CHECK_STR(cJSON_GetObjectItem(err, "message")->valuestring, "birth weight 'heavy' is not a number");
    cJSON_Delete(res);
    cJSON_Delete(sample);

    /* a bare array is accepted; a wrong shape is refused with where */
    sample = cJSON_Parse("[{\"dataElement\":\"fbfJHSPpUQD\",\"period\":\"202401\","
                         "\"orgUnit\":\"DiszpKrYNg8\",\"value\":12}]");
    res = check_sample(m, sample, NULL, &errors, &e);
    CHECK(res != NULL);
    cJSON_Delete(res);
    cJSON_Delete(sample);
    sample = cJSON_Parse("{\"dataValues\":[{\"dataElement\":\"x\"}]}");
    CHECK(check_sample(m, sample, NULL, &errors, &e) == NULL);
    CHECK_INT(e.code, ERR_INPUT);
    CHECK_CONTAINS(e.msg, "dataValues[0] needs dataElement, period and orgUnit");
    cJSON_Delete(sample);
    sample = cJSON_Parse("{\"values\":[]}");
    CHECK(check_sample(m, sample, NULL, &errors, &e) == NULL);
    cJSON_Delete(sample);
    mapping_release(m);

    cJSON *ej = check_error_json("district.lua:12: attempt to index a nil value");
    CHECK_INT(cJSON_GetObjectItem(ej, "line")->valueint, 12);
    CHECK_STR(cJSON_GetObjectItem(ej, "file")->valuestring, "district.lua");
    cJSON_Delete(ej);
}

TEST(mapping_check_info_json_for_the_api)
{
    char *dir = spec_test_dir("mappings");
    char path[4096];
    snprintf(path, sizeof path, "%s/district.lua", dir);
    FILE *f = fopen(path, "w");
    fputs("return {}\n", f);
    fclose(f);
    struct mapping_registry_config cfg = {.dir = dir, .scripts_dir = "scripts"};
    struct mapping_registry *r = NULL;
    struct err e;
    CHECK_INT(mapping_registry_open(&cfg, &r, &e), 0);
    f = fopen(path, "w");
    fputs("return {\n  dataElements = { a = 1 },\n}\n", f);
    fclose(f);
    mapping_registry_reload(r, "district");
    struct mapping_info info;
    CHECK_INT(mapping_registry_info(r, "district", &info, &e), 0);
    struct mapping *m = mapping_registry_acquire(r, "district", &e);
    CHECK(m != NULL);
    cJSON *j = check_info_json(&info, mapping_source(m, NULL));
    CHECK_STR(cJSON_GetObjectItem(j, "state")->valuestring, "error");
    CHECK_STR(cJSON_GetObjectItem(j, "version")->valuestring, mapping_version(m));
    CHECK(cJSON_IsTrue(cJSON_GetObjectItem(j, "loaded")));
    CHECK_STR(cJSON_GetObjectItem(j, "source")->valuestring, "return {}\n");
    cJSON *err = cJSON_GetObjectItem(j, "error");
    CHECK_STR(cJSON_GetObjectItem(err, "file")->valuestring, "district.lua");
    CHECK_CONTAINS(cJSON_GetObjectItem(err, "message")->valuestring, "must be an id");
    cJSON_Delete(j);
    mapping_release(m);
    mapping_registry_close(r);
    free(dir);
}
