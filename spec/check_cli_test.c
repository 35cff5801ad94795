/* `dhis2sync check` as a user runs it: the binary, a mapping file, a sample file. */
#include <stdio.h>

#include "harness.h"
#include "test.h"

static int check(char *const argv_tail[], char **out)
{
    char *bin = spec_bin("dhis2sync");
    char *argv[8] = {bin, "check"};
    int n = 2;
    for (int i = 0; argv_tail[i] && n < 7; i++)
        argv[n++] = argv_tail[i];
    argv[n] = NULL;
    /* 2>&1: the errors go to stderr, and they are what this test reads */
    char *cmd = NULL, *quoted = NULL;
    size_t len = 0;
    FILE *m = open_memstream(&quoted, &len);
    for (int i = 0; argv[i]; i++)
        fprintf(m, "'%s' ", argv[i]);
    fclose(m);
    if (asprintf(&cmd, "%s 2>&1", quoted) < 0)
        abort();
    char *sh[] = {"/bin/sh", "-c", cmd, NULL};
    char *env[] = {"DATABASE_URL=postgresql://nobody@127.0.0.1:1/none", NULL};
    return spec_run(sh, env, NULL, out);
}

TEST(check_shows_what_a_mapping_does_to_sample_values_without_a_database)
{
    char *out = NULL;
    char *args[] = {"mappings/age_bands.lua", "--sample", "spec/fixtures/mappings/age_bands_sample.json", NULL};
    CHECK_INT(check(args, &out), 0);
    CHECK_CONTAINS(out, "4 mapped, 1 skipped, 0 errors");
    CHECK_CONTAINS(out, "no categoryOptionCombos entry for 'unknownCOC1'");
    CHECK_CONTAINS(out, "= 13");

    char *json_args[] = {"mappings/age_bands.lua", "--sample", "spec/fixtures/mappings/age_bands_sample.json", "--json", NULL};
    CHECK_INT(check(json_args, &out), 0);
    cJSON *j = cJSON_Parse(strchr(out, '{'));
    CHECK(j != NULL);
    CHECK_INT(cJSON_GetNumberValue(cJSON_GetObjectItem(cJSON_GetObjectItem(j, "counts"), "mapped")), 4);
}

TEST(check_names_file_and_line_of_a_broken_mapping_and_exits_1)
{
    char *dir = spec_test_dir("broken");
    char path[PATH_MAX + 16];
    snprintf(path, sizeof path, "%s/broken.lua", dir);
    FILE *f = fopen(path, "w");
    fputs("return {\n  transform = function(dv)\n    return dv.value +\n  end }\n", f);
    fclose(f);
    char *out = NULL;
    char *args[] = {path, NULL};
    CHECK_INT(check(args, &out), 1);
    CHECK_CONTAINS(out, "broken.lua:4:");

    /* a runtime error on some values only: those are listed with their line, exit 1 */
    snprintf(path, sizeof path, "%s/some.lua", dir);
    f = fopen(path, "w");
    fputs("return {\n  transform = function(dv)\n    if dv.value == '8' then error('eight is not allowed') end\n    return dv end }\n", f);
    fclose(f);
    char *args2[] = {path, "--sample", "spec/fixtures/mappings/age_bands_sample.json", NULL};
    CHECK_INT(check(args2, &out), 1);
    CHECK_CONTAINS(out, "some.lua:3: eight is not allowed");
}

/* Sample values given as JSON numbers: whole ones print whole, and one far past any integer
 * (1e300) prints as it is, where a cast to an integer would be undefined (UBSan catches it). */
TEST(check_takes_sample_values_given_as_numbers_of_any_size)
{
    char *dir = spec_test_dir("numbers");
    char path[PATH_MAX + 16];
    snprintf(path, sizeof path, "%s/numbers.json", dir);
    FILE *f = fopen(path, "w");
    CHECK(f != NULL);
    fputs("{\"dataValues\":["
          "{\"dataElement\":\"a\",\"period\":\"202401\",\"orgUnit\":\"o\",\"value\":1e300},"
          "{\"dataElement\":\"b\",\"period\":\"202401\",\"orgUnit\":\"o\",\"value\":12.0},"
          "{\"dataElement\":\"c\",\"period\":\"202401\",\"orgUnit\":\"o\",\"value\":-0.0}]}", f);
    fclose(f);
    char *out = NULL;
    char *args[] = {"mappings/identity.lua", "--sample", path, "--json", NULL};
    CHECK_INT(check(args, &out), 0);
    cJSON *j = cJSON_Parse(strchr(out, '{'));
    const cJSON *results = cJSON_GetObjectItem(j, "results");
    const char *want[] = {"1e+300", "12", "0"};
    for (int i = 0; i < 3; i++) {
        const cJSON *value = cJSON_GetObjectItem(
            cJSON_GetObjectItem(cJSON_GetArrayItem(results, i), "output"), "value");
        CHECKF(cJSON_IsString(value) && strcmp(value->valuestring, want[i]) == 0,
               "value %d: expected \"%s\" in %s", i, want[i], out);
    }
    cJSON_Delete(j);
    free(out);
    free(dir);
}
