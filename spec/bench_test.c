/* `make bench` end to end on a tiny size: the table has every row, each sync row (dhis2sync,
 * the Python reference script, the curl floor) left its target holding every source value, and
 * the machine-readable copy says the same. Figures are printed, never compared: no timing is
 * asserted here. */
#include <unistd.h>

#include "harness.h"
#include "test.h"

static const char *const expected_rows[] = {
    "dhis2sync run, no mapping",
    "again, incremental, nothing changed",
    "python reference, no mapping",
    "dhis2sync run, transform",
    "python reference, transform",
    "curl floor: the same GET, then POSTs",
    "target's import alone (the POSTs)",
    "wrk /health, 64 connections",
    "wrk /api/jobs (bearer), 64 connections",
};

TEST_TIMEOUT(bench_table_has_every_row_and_every_target_holds_every_value, 240)
{
    char *dir = spec_test_dir("bench"), json[PATH_MAX], json_env[PATH_MAX + 16], build_env[PATH_MAX];
    snprintf(json, sizeof json, "%s/results.json", dir);
    snprintf(json_env, sizeof json_env, "BENCH_JSON=%s", json);
    const char *build = getenv("DHIS2SYNC_BUILD");
    snprintf(build_env, sizeof build_env, "DHIS2SYNC_BUILD=%s", build && *build ? build : "build");
    char *env[] = {json_env, build_env, "BENCH_WRK_S=1", NULL};
    char *bin = spec_bin("bench/sync_bench"), *out = NULL;
    char *argv[] = {bin, "3000", NULL};
    int rc = spec_run(argv, env, NULL, &out);
    CHECKF(rc == 0, "sync_bench exited %d: %.3000s", rc, out ? out : "");
    for (size_t i = 0; i < sizeof expected_rows / sizeof *expected_rows; i++)
        CHECK_CONTAINS(out, expected_rows[i]);

    FILE *f = fopen(json, "r");
    CHECKF(f, "no %s", json);
    char text[65536];
    size_t len = fread(text, 1, sizeof text - 1, f);
    fclose(f);
    text[len] = '\0';
    cJSON *doc = cJSON_Parse(text), *row;
    CHECKF(doc, "not JSON: %.2000s", text);
    CHECK_INT(cJSON_GetArraySize(cJSON_GetObjectItem(doc, "rows")),
              sizeof expected_rows / sizeof *expected_rows);
    cJSON_ArrayForEach(row, cJSON_GetObjectItem(doc, "rows")) {
        const char *what = cJSON_GetStringValue(cJSON_GetObjectItem(row, "case"));
        CHECKF(!cJSON_GetObjectItem(row, "note"), "%s: %s", what,
               cJSON_GetStringValue(cJSON_GetObjectItem(row, "note")));
        CHECKF(cJSON_IsNumber(cJSON_GetObjectItem(row, "wall_s")), "%s has no wall time", what);
        if (!strncmp(what, "wrk", 3))
            CHECKF(cJSON_GetNumberValue(cJSON_GetObjectItem(row, "n")) > 0, "%s: no request answered", what);
        else if (strcmp(what, "again, incremental, nothing changed"))
            CHECKF(cJSON_GetNumberValue(cJSON_GetObjectItem(row, "n")) == 3000, "%s: n is not 3000", what);
    }
    cJSON_Delete(doc);
    free(out);
    free(bin);
    free(dir);
}
