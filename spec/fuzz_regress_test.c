/* fuzz_regress_test.c — replays, through the ordinary build of the fuzz harnesses, every seed
 * of spec/fuzz/corpus/NAME/ and every input a fuzzer once crashed on, kept in
 * spec/fuzz/regress/NAME/ after its fix. Under `make asan test` a regression is an ASan/UBSan
 * report; in any build, a broken harness property aborts the test. */
#include <dirent.h>
#include <sys/stat.h>

#include "backup.h"
#include "dhis2.h"
#include "fuzz/fuzz.h"
#include "test.h"

typedef int (*fuzz_fn)(const uint8_t *, size_t);

static size_t replay_dir(const char *dir, fuzz_fn fn)
{
    DIR *d = opendir(dir);
    if (!d)
        return 0;
    size_t n = 0;
    struct dirent *ent;
    while ((ent = readdir(d))) {
        if (ent->d_name[0] == '.')
            continue;
        char path[512];
        snprintf(path, sizeof path, "%s/%s", dir, ent->d_name);
        FILE *f = fopen(path, "rb");
        CHECKF(f, "cannot open %s", path);
        static uint8_t buf[1 << 20];
        size_t len = fread(buf, 1, sizeof buf, f);
        CHECKF(!ferror(f) && feof(f), "cannot read %s whole (1 MB at most)", path);
        fclose(f);
        fprintf(stderr, "replaying %s\n", path);
        fn(buf, len);
        n++;
    }
    closedir(d);
    return n;
}

static void replay(const char *name, fuzz_fn fn)
{
    char dir[128];
    snprintf(dir, sizeof dir, "spec/fuzz/corpus/%s", name);
    size_t seeds = replay_dir(dir, fn);
    CHECKF(seeds > 0, "no seeds in %s", dir);
    snprintf(dir, sizeof dir, "spec/fuzz/regress/%s", name);
    replay_dir(dir, fn);
    CHECK_NO_LEAKS();
}

TEST(fuzz_regress_dvstream) { replay("dvstream", fuzz_dvstream); }
TEST(fuzz_regress_import_summary) { replay("import_summary", fuzz_import_summary); }
TEST(fuzz_regress_job_body) { replay("job_body", fuzz_job_body); }
TEST(fuzz_regress_period) { replay("period", fuzz_period); }
TEST(fuzz_regress_cron) { replay("cron", fuzz_cron); }
TEST(fuzz_regress_csv) { replay("csv", fuzz_csv); }
TEST(fuzz_regress_backup) { replay("backup", fuzz_backup); }

/* The backup seed must pass every check, or the fuzzer never gets past the first refusal. */
TEST(fuzz_backup_seed_is_a_whole_archive)
{
    struct config cfg = {.db_dir = "db"};
    struct err e = {0};
    int rc = backup_check(&cfg, "spec/fuzz/corpus/backup/valid", &e);
    CHECKF(rc == 0, "backup_check: %s", e.msg);
}

/* Found by the import_summary harness: a count or index beyond what an integer holds was cast
 * anyway (undefined; on x86 a count read as LONG_MIN, an index as 2^63). Now such a number is
 * no count (0) and no index (left out). */
TEST(fuzz_import_summary_numbers_out_of_range)
{
    struct dhis2_import_summary s;
    struct err e = {0};
    CHECK_INT(dhis2_parse_import_summary(
                  "{\"responseType\":\"ImportSummary\",\"status\":\"WARNING\","
                  "\"importCount\":{\"imported\":1e300,\"updated\":-1e300,\"ignored\":2,\"deleted\":0},"
                  "\"conflicts\":[{\"object\":\"x\",\"value\":\"v\",\"indexes\":[0,1.1e120,2]}],"
                  "\"rejectedIndexes\":[-1,1e20,3]}",
                  &s, &e),
              0);
    CHECK_INT(s.imported, 0);
    CHECK_INT(s.updated, 0);
    CHECK_INT(s.ignored, 2);
    CHECK_INT(s.n_conflicts, 1);
    CHECK_INT(s.conflicts[0].n_indexes, 2);
    CHECK_INT(s.conflicts[0].indexes[1], 2);
    CHECK_INT(s.n_rejected, 1);
    CHECK_INT(s.rejected_indexes[0], 3);
    dhis2_import_summary_free(&s);
}
