/* mapping_registry_test.c — the mappings directory: load states, hot reload from disk, broken
 * files keep the last good version, atomic validated writes, reload under concurrent use. */
#include <dirent.h>
#include <pthread.h>
#include <stdatomic.h>
#include <time.h>
#include <unistd.h>

#include "harness.h"
#include "mapping_registry.h"
#include "test.h"

static void write_file(const char *dir, const char *name, const char *text)
{
    char path[4096], tmp[4200];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    snprintf(tmp, sizeof tmp, "%s/.tmp-%s", dir, name);
    FILE *f = fopen(tmp, "w"); /* the way editors save: a new file renamed over the old */
    CHECKF(f != NULL, "cannot write %s", tmp);
    fputs(text, f);
    fclose(f);
    CHECK(rename(tmp, path) == 0);
}

static void write_in_place(const char *dir, const char *name, const char *text)
{
    char path[4096];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    FILE *f = fopen(path, "w");
    CHECKF(f != NULL, "cannot write %s", path);
    fputs(text, f);
    fclose(f);
}

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}

static struct mapping_registry *open_reg(const char *dir, int watch)
{
    struct mapping_registry_config cfg = {.dir = dir, .scripts_dir = "scripts", .watch = watch};
    struct mapping_registry *r = NULL;
    struct err e;
    CHECKF(mapping_registry_open(&cfg, &r, &e) == 0, "open: %s", e.msg);
    return r;
}

/* What mapping `name` does to data element "fbfJHSPpUQD" right now (NULL: skipped/error). */
static const char *maps_to(struct mapping_registry *r, const char *name, char *buf, size_t size)
{
    struct err e;
    struct mapping *m = mapping_registry_acquire(r, name, &e);
    if (!m)
        return NULL;
    struct datavalue in = {.data_element = "fbfJHSPpUQD", .period = "202401",
                           .org_unit = "DiszpKrYNg8", .value = "1"}, out;
    struct arena a = {0};
    const char *res = NULL;
    if (mapping_apply(m, &in, &out, &a, NULL, &e) == MAP_OK) {
        snprintf(buf, size, "%s", out.data_element);
        res = buf;
    }
    arena_free(&a);
    mapping_release(m);
    return res;
}

static const char *de_to(const char *target, char *buf, size_t size)
{
    snprintf(buf, size, "return { dataElements = { fbfJHSPpUQD = '%s' } }\n", target);
    return buf;
}

TEST(mapping_registry_lists_load_states)
{
    char *dir = spec_test_dir("mappings");
    char src[256];
    write_file(dir, "district.lua", de_to("Jtf34kNZhzP", src, sizeof src));
    write_file(dir, "broken.lua", "return {\n  dataElements = { a = 'b' },\n  transform = function(dv)\n    return dv\n  edn,\n}\n");
    write_file(dir, "canary.lua", "return { transform = function(dv) return dv.x.y end }\n");
    write_file(dir, "not a mapping.lua", "return {}");
    write_file(dir, "notes.txt", "hello");
    struct mapping_registry *r = open_reg(dir, 0);
    struct mapping_info *list;
    size_t n;
    struct err e;
    CHECK_INT(mapping_registry_list(r, &list, &n, &e), 0);
    CHECK_INT(n, 3);
    CHECK_STR(list[0].name, "broken");
    CHECK_INT(list[0].loaded, 0);
    CHECK_INT(list[0].has_error, 1);
    CHECK_STR(list[0].error_file, "broken.lua");
    CHECK_INT(list[0].error_line, 5);
    CHECK_CONTAINS(list[0].error_message, "expected");
    CHECK_STR(list[1].name, "canary");
    CHECK_INT(list[1].has_error, 1);
    CHECK_CONTAINS(list[1].error, "canary.lua:1: attempt to index a nil value");
    CHECK_CONTAINS(list[1].error, "canary call");
    CHECK_STR(list[2].name, "district");
    CHECK_INT(list[2].loaded, 1);
    CHECK_INT(list[2].has_error, 0);
    CHECK_INT(strlen(list[2].version), 12);
    free(list);

    char buf[32];
    CHECK_STR(maps_to(r, "district", buf, sizeof buf), "Jtf34kNZhzP");
    CHECK(mapping_registry_acquire(r, "broken", &e) == NULL);
    CHECK_INT(e.code, ERR_SCRIPT);
    CHECK_CONTAINS(e.msg, "broken.lua:5:");
    CHECK(mapping_registry_acquire(r, "absent", &e) == NULL);
    CHECK_INT(e.code, ERR_NOT_FOUND);
    CHECK(mapping_registry_acquire(r, "../etc/passwd", &e) == NULL);
    CHECK_INT(e.code, ERR_INPUT);
    unsigned long reloads, errors;
    mapping_registry_counters(r, &reloads, &errors);
    CHECK_INT(reloads, 0);
    CHECK_INT(errors, 2);
    mapping_registry_close(r);
    free(dir);
}

/* How fast a saved file takes effect is measured by bench/mapping_bench. */
TEST_TIMEOUT(mapping_registry_hot_reloads_a_saved_file, 60)
{
    char *dir = spec_test_dir("mappings");
    char src[256], buf[32];
    write_file(dir, "district.lua", de_to("Jtf34kNZhzP", src, sizeof src));
    struct mapping_registry *r = open_reg(dir, 1);
    CHECK_STR(maps_to(r, "district", buf, sizeof buf), "Jtf34kNZhzP");
    struct err e;
    struct mapping *held = mapping_registry_acquire(r, "district", &e); /* a running run */
    CHECK(held != NULL);

    const char *targets[] = {"hfdmMSPBgLG", "Uvn6LCg7dVU"};
    for (int round = 0; round < 2; round++) {
        double t0 = now_s();
        if (round == 0)
            write_file(dir, "district.lua", de_to(targets[round], src, sizeof src));
        else
            write_in_place(dir, "district.lua", de_to(targets[round], src, sizeof src));
        const char *got = NULL;
        while (now_s() - t0 < 10) {
            got = maps_to(r, "district", buf, sizeof buf);
            if (got && strcmp(got, targets[round]) == 0)
                break;
            usleep(10000);
        }
        CHECK_STR(got, targets[round]);
    }
    /* the run that started before keeps its version */
    struct datavalue in = {.data_element = "fbfJHSPpUQD", .period = "202401", .org_unit = "o"}, out;
    CHECK_INT(mapping_apply(held, &in, &out, NULL, NULL, &e), MAP_OK);
    CHECK_STR(out.data_element, "Jtf34kNZhzP");
    mapping_release(held);

    /* a new file appears, a file goes away */
    write_file(dir, "national.lua", de_to("natDE000001", src, sizeof src));
    char path[4096];
    snprintf(path, sizeof path, "%s/district.lua", dir);
    unlink(path);
    double t0 = now_s();
    while (now_s() - t0 < 3 && (!maps_to(r, "national", buf, sizeof buf) ||
                                mapping_registry_acquire(r, "district", &e) != NULL))
        usleep(10000);
    CHECK_STR(maps_to(r, "national", buf, sizeof buf), "natDE000001");
    CHECK(mapping_registry_acquire(r, "district", &e) == NULL);
    CHECK_INT(e.code, ERR_NOT_FOUND);
    unsigned long reloads, errors;
    mapping_registry_counters(r, &reloads, &errors);
    CHECK_INT(reloads, 2);
    CHECK_INT(errors, 0);
    mapping_registry_close(r);
    free(dir);
}

TEST_TIMEOUT(mapping_registry_keeps_the_last_good_version_of_a_broken_file, 30)
{
    char *dir = spec_test_dir("mappings");
    char src[256], buf[32];
    write_file(dir, "district.lua", de_to("Jtf34kNZhzP", src, sizeof src));
    struct mapping_registry *r = open_reg(dir, 1);
    struct mapping_info info;
    struct err e;
    CHECK_INT(mapping_registry_info(r, "district", &info, &e), 0);
    char good[16];
    snprintf(good, sizeof good, "%s", info.version);

    write_file(dir, "district.lua", "return {\n  dataElements = { fbfJHSPpUQD = 'x' },\n  transform = function(dv) return dv.value + end,\n}\n");
    double t0 = now_s();
    while (now_s() - t0 < 3) {
        CHECK_INT(mapping_registry_info(r, "district", &info, &e), 0);
        if (info.has_error)
            break;
        usleep(10000);
    }
    CHECK_INT(info.has_error, 1);
    CHECK_INT(info.loaded, 1);
    CHECK_STR(info.version, good);
    CHECK_STR(info.error_file, "district.lua");
    CHECK_INT(info.error_line, 3);
    CHECK_CONTAINS(info.error_message, "unexpected symbol near 'end'");
    CHECK_INT(info.errors, 1);
    CHECK_STR(maps_to(r, "district", buf, sizeof buf), "Jtf34kNZhzP");

    /* a transform that never ends fails its canary call the same way */
    write_file(dir, "district.lua", "return { transform = function(dv) while true do end end }\n");
    t0 = now_s();
    while (now_s() - t0 < 5) {
        mapping_registry_info(r, "district", &info, &e);
        if (info.errors == 2)
            break;
        usleep(10000);
    }
    CHECK_INT(info.errors, 2);
    CHECK_CONTAINS(info.error, "stopped");
    CHECK_STR(maps_to(r, "district", buf, sizeof buf), "Jtf34kNZhzP");

    /* fixing the file clears the error */
    write_file(dir, "district.lua", de_to("hfdmMSPBgLG", src, sizeof src));
    t0 = now_s();
    while (now_s() - t0 < 3) {
        mapping_registry_info(r, "district", &info, &e);
        if (!info.has_error)
            break;
        usleep(10000);
    }
    CHECK_INT(info.has_error, 0);
    CHECK_STR(maps_to(r, "district", buf, sizeof buf), "hfdmMSPBgLG");
    mapping_registry_close(r);
    free(dir);
}

TEST(mapping_registry_write_validates_then_writes_atomically)
{
    char *dir = spec_test_dir("mappings");
    char src[256], buf[32];
    write_file(dir, "district.lua", de_to("Jtf34kNZhzP", src, sizeof src));
    struct mapping_registry *r = open_reg(dir, 0);
    struct err e;
    const char *bad = "return { dataElements = { fbfJHSPpUQD = 'x' }\n";
    CHECK_INT(mapping_registry_write(r, "district", bad, strlen(bad), &e), ERR_SCRIPT);
    CHECK_CONTAINS(e.msg, "district.lua:");
    CHECK_INT(mapping_registry_write(r, "../evil", "return {}", 9, &e), ERR_INPUT);
    CHECK_INT(mapping_registry_write(r, "a/b", "return {}", 9, &e), ERR_INPUT);
    CHECK_INT(mapping_registry_write(r, "", "return {}", 9, &e), ERR_INPUT);

    /* the file on disk is unchanged */
    char path[4096];
    snprintf(path, sizeof path, "%s/district.lua", dir);
    FILE *f = fopen(path, "r");
    char disk[512] = {0};
    CHECK(f && fread(disk, 1, sizeof disk - 1, f) > 0);
    fclose(f);
    CHECK_STR(disk, de_to("Jtf34kNZhzP", src, sizeof src));

    de_to("hfdmMSPBgLG", src, sizeof src);
    CHECK_INT(mapping_registry_write(r, "district", src, strlen(src), &e), 0);
    CHECK_STR(maps_to(r, "district", buf, sizeof buf), "hfdmMSPBgLG"); /* at once */
    f = fopen(path, "r");
    memset(disk, 0, sizeof disk);
    CHECK(f && fread(disk, 1, sizeof disk - 1, f) > 0);
    fclose(f);
    CHECK_STR(disk, src);
    /* a new mapping by write */
    CHECK_INT(mapping_registry_write(r, "new-one_2", "return {}", 9, &e), 0);
    struct mapping_info info;
    CHECK_INT(mapping_registry_info(r, "new-one_2", &info, &e), 0);
    CHECK_INT(info.loaded, 1);
    /* no temp files left behind */
    DIR *d = opendir(dir);
    struct dirent *de;
    int files = 0;
    while ((de = readdir(d))) {
        if (strcmp(de->d_name, ".") == 0 || strcmp(de->d_name, "..") == 0)
            continue;
        CHECKF(de->d_name[0] != '.', "left behind: %s", de->d_name);
        files++;
    }
    closedir(d);
    CHECK_INT(files, 2);
    mapping_registry_close(r);
    free(dir);
}

TEST_TIMEOUT(mapping_registry_reloads_when_a_csv_table_changes, 30)
{
    char *dir = spec_test_dir("mappings");
    char buf[32];
    write_file(dir, "de.csv", "source,target\nfbfJHSPpUQD,Jtf34kNZhzP\n");
    write_file(dir, "district.lua", "local t = require 'd2.tables'\nreturn { dataElements = t.csv('de.csv') }\n");
    struct mapping_registry *r = open_reg(dir, 1);
    CHECK_STR(maps_to(r, "district", buf, sizeof buf), "Jtf34kNZhzP");
    write_file(dir, "de.csv", "source,target\nfbfJHSPpUQD,hfdmMSPBgLG\n");
    double t0 = now_s();
    const char *got = NULL;
    while (now_s() - t0 < 3) {
        got = maps_to(r, "district", buf, sizeof buf);
        if (got && strcmp(got, "hfdmMSPBgLG") == 0)
            break;
        usleep(10000);
    }
    CHECK_STR(got, "hfdmMSPBgLG");
    mapping_registry_close(r);
    free(dir);
}

struct applier {
    struct mapping_registry *r;
    atomic_int stop;
    long applied, mixed, versions_seen;
    char failure[256];
};

/* Version A maps every kind to ids ending in A, version B to ids ending in B, through a
 * transform and the tables: a half-loaded version would show up as a mix. */
static const char *version_src(char v)
{
    static char src[2][512];
    char *s = src[v == 'B'];
    snprintf(s, 512,
             "local tag = '%c'\n"
             "return {\n"
             "  dataElements = { fbfJHSPpUQD = 'deeeeeeeee%c' },\n"
             "  categoryOptionCombos = { pq2XI5kz2BY = 'cocccccccc%c' },\n"
             "  orgUnits = { DiszpKrYNg8 = 'ouuuuuuuuu%c' },\n"
             "  transform = function(dv) dv.comment = tag return dv end,\n"
             "}\n",
             v, v, v, v);
    return s;
}

static void *apply_loop(void *arg)
{
    struct applier *ap = arg;
    struct arena a = {0};
    char last[16] = "";
    while (!atomic_load(&ap->stop)) {
        struct err e;
        struct mapping *m = mapping_registry_acquire(ap->r, "district", &e);
        if (!m) {
            snprintf(ap->failure, sizeof ap->failure, "acquire: %s", e.msg);
            break;
        }
        if (strcmp(last, mapping_version(m)) != 0) {
            ap->versions_seen++;
            snprintf(last, sizeof last, "%s", mapping_version(m));
        }
        for (int i = 0; i < 50; i++) {
            struct datavalue in = {.data_element = "fbfJHSPpUQD", .period = "202401",
                                   .org_unit = "DiszpKrYNg8",
                                   .category_option_combo = "pq2XI5kz2BY", .value = "1"}, out;
            if (mapping_apply(m, &in, &out, &a, NULL, &e) != MAP_OK) {
                snprintf(ap->failure, sizeof ap->failure, "apply: %s", e.msg);
                break;
            }
            char tag = out.comment[0];
            size_t l = strlen(out.data_element);
            if (out.data_element[l - 1] != tag || out.org_unit[l - 1] != tag ||
                out.category_option_combo[l - 1] != tag)
                ap->mixed++;
            ap->applied++;
        }
        mapping_release(m);
        arena_reset(&a);
    }
    arena_free(&a);
    return NULL;
}

TEST_TIMEOUT(mapping_registry_reload_under_concurrent_apply_is_never_half_loaded, 60)
{
    char *dir = spec_test_dir("mappings");
    write_file(dir, "district.lua", version_src('A'));
    struct mapping_registry_config cfg = {.dir = dir, .scripts_dir = "scripts", .watch = 1,
                                          .debounce_ms = 20};
    struct mapping_registry *r = NULL;
    struct err e;
    CHECK_INT(mapping_registry_open(&cfg, &r, &e), 0);
    struct applier ap[3] = {{.r = r}, {.r = r}, {.r = r}};
    pthread_t th[3];
    for (int i = 0; i < 3; i++)
        pthread_create(&th[i], NULL, apply_loop, &ap[i]);
    for (int i = 0; i < 40; i++) {
        const char *src = version_src(i % 2 ? 'A' : 'B');
        if (i % 4 < 2) {
            CHECK_INT(mapping_registry_write(r, "district", src, strlen(src), &e), 0);
        } else {
            write_file(dir, "district.lua", src);
            usleep(60000); /* let the watcher take it in */
        }
        usleep(5000);
    }
    for (int i = 0; i < 3; i++) {
        atomic_store(&ap[i].stop, 1);
        pthread_join(th[i], NULL);
    }
    for (int i = 0; i < 3; i++) {
        CHECKF(ap[i].failure[0] == '\0', "thread %d: %s", i, ap[i].failure);
        CHECK(ap[i].applied > 100);
        CHECK_INT(ap[i].mixed, 0);
        CHECKF(ap[i].versions_seen >= 2, "thread %d saw %ld versions", i, ap[i].versions_seen);
    }
    mapping_registry_close(r);
    free(dir);
}
