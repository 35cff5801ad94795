/* mapping_apply_test.c — compiled mappings: the fast path, unmapped ids, transform, aggregate,
 * CSV tables, period helpers, metadata lookups, versions. */
#include <sys/stat.h>
#include <unistd.h>

#include "harness.h"
#include "mapping.h"
#include "test.h"

static void write_file(const char *dir, const char *name, const char *text)
{
    char path[4096];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    FILE *f = fopen(path, "w");
    CHECKF(f != NULL, "cannot write %s", path);
    fputs(text, f);
    fclose(f);
}

static struct mapping *compile_in(const char *dir, const char *src)
{
    struct mapping *m = NULL;
    struct err e = {0};
    int rc = mapping_compile_source("demo", dir, "scripts", src, strlen(src), NULL, &m, &e);
    CHECKF(rc == 0 && m, "compile failed: %s", e.msg);
    return m;
}

static struct mapping *compile(const char *src)
{
    char *dir = spec_test_dir("m");
    struct mapping *m = compile_in(dir, src);
    free(dir);
    return m;
}

static struct datavalue dv(const char *de, const char *pe, const char *ou, const char *coc,
                           const char *value)
{
    return (struct datavalue){.data_element = de, .period = pe, .org_unit = ou,
                              .category_option_combo = coc,
                              .attribute_option_combo = "HllvX50cXC0", .value = value};
}

static const char *renames =
    "return {\n"
    "  dataElements = { fbfJHSPpUQD = 'Jtf34kNZhzP', cYeuwXTCPkU = 'hfdmMSPBgLG' },\n"
    "  categoryOptionCombos = { pq2XI5kz2BY = 'S34ULMcHMca', PT59n8BQbqM = 'fp9AzYQ5yBe' },\n"
    "  orgUnits = { DiszpKrYNg8 = 'O6uvpzGd5pu' },\n"
    "}\n";

TEST(mapping_fast_path_renames_ids)
{
    struct mapping *m = compile(renames);
    struct arena a = {0};
    struct err why;
    struct datavalue in = dv("fbfJHSPpUQD", "202401", "DiszpKrYNg8", "pq2XI5kz2BY", "12"), out;
    in.comment = "checked";
    in.followup = true;
    CHECK_INT(mapping_apply(m, &in, &out, &a, NULL, &why), MAP_OK);
    CHECK_STR(out.data_element, "Jtf34kNZhzP");
    CHECK_STR(out.category_option_combo, "S34ULMcHMca");
    CHECK_STR(out.org_unit, "O6uvpzGd5pu");
    CHECK_STR(out.attribute_option_combo, "HllvX50cXC0"); /* no table: unchanged */
    CHECK_STR(out.period, "202401");
    CHECK_STR(out.value, "12");
    CHECK_STR(out.comment, "checked");
    CHECK(out.followup);
    CHECK_INT(a.used_bytes, 0); /* the fast path copies nothing */

    /* a NULL combo (the default) passes as NULL */
    in.category_option_combo = NULL;
    CHECK_INT(mapping_apply(m, &in, &out, &a, NULL, &why), MAP_OK);
    CHECK(out.category_option_combo == NULL);

    struct mapping_stats st;
    mapping_stats(m, &st);
    CHECK_INT(st.table_size[MAP_DE], 2);
    CHECK_INT(st.table_size[MAP_AOC], -1);
    CHECK_INT(st.has_transform, 0);
    CHECK_INT(strlen(mapping_version(m)), 12);
    mapping_release(m);
    arena_free(&a);
}

TEST(mapping_identity_and_empty_table_pass_everything)
{
    struct mapping *ids[2] = {mapping_identity(), compile("return {}")};
    for (int i = 0; i < 2; i++) {
        struct datavalue in = dv("anyDE000001", "2024Q1", "anyOU000001", NULL, "x"), out;
        struct err why;
        CHECK_INT(mapping_apply(ids[i], &in, &out, NULL, NULL, &why), MAP_OK);
        CHECK(out.data_element == in.data_element && out.period == in.period &&
              out.org_unit == in.org_unit && out.category_option_combo == NULL &&
              out.attribute_option_combo == in.attribute_option_combo && out.value == in.value);
    }
    CHECK_STR(mapping_version(mapping_identity()), "identity");
    mapping_release(mapping_retain(mapping_identity()));
    mapping_release(ids[1]);
}

TEST(mapping_unmapped_skip_keep_error)
{
    const char *modes[] = {"", "unmapped = 'skip',", "unmapped = 'keep',", "unmapped = 'error',"};
    enum map_result want[] = {MAP_SKIP, MAP_SKIP, MAP_OK, MAP_ERROR};
    for (int i = 0; i < 4; i++) {
        char src[512];
        snprintf(src, sizeof src, "return { %s dataElements = { fbfJHSPpUQD = 'Jtf34kNZhzP' } }",
                 modes[i]);
        struct mapping *m = compile(src);
        struct datavalue in = dv("absentDE001", "202401", "DiszpKrYNg8", NULL, "1"), out;
        struct err why;
        err_clear(&why);
        CHECK_INT(mapping_apply(m, &in, &out, NULL, NULL, &why), want[i]);
        if (want[i] == MAP_OK)
            CHECK_STR(out.data_element, "absentDE001");
        else
            CHECK_CONTAINS(why.msg, "no dataElements entry for 'absentDE001'");
        if (want[i] == MAP_ERROR)
            CHECK_CONTAINS(why.msg, "demo.lua");
        mapping_release(m);
    }
    /* false drops an id on purpose */
    struct mapping *m = compile("return { unmapped = 'keep', dataElements = { fbfJHSPpUQD = false } }");
    struct datavalue in = dv("fbfJHSPpUQD", "202401", "DiszpKrYNg8", NULL, "1"), out;
    struct err why;
    CHECK_INT(mapping_apply(m, &in, &out, NULL, NULL, &why), MAP_SKIP);
    CHECK_CONTAINS(why.msg, "dataElements maps 'fbfJHSPpUQD' to false");
    mapping_release(m);
}

TEST(mapping_transform_converts_units_and_drops)
{
    struct mapping *m = compile(
        "return {\n"
        "  dataElements = { fbfJHSPpUQD = 'Jtf34kNZhzP', cYeuwXTCPkU = 'hfdmMSPBgLG' },\n"
        "  unmapped = 'keep',\n"
        "  transform = function(dv, ctx)\n"
        "    if dv.dataElement == 'Jtf34kNZhzP' then\n"
        "      dv.value = tonumber(dv.value) * 1000\n"
        "    elseif dv.dataElement == 'hfdmMSPBgLG' then\n"
        "      dv.value = tonumber(dv.value) / 4\n"
        "    elseif dv.dataElement == 'dropMe00001' then\n"
        "      return nil\n"
        "    end\n"
        "    dv.comment = ctx.mapping .. ':' .. (dv.comment or '-')\n"
        "    return dv\n"
        "  end,\n"
        "}\n");
    struct arena a = {0};
    struct err why;
    struct datavalue in = dv("fbfJHSPpUQD", "202401", "DiszpKrYNg8", NULL, "12"), out;
    CHECK_INT(mapping_apply(m, &in, &out, &a, NULL, &why), MAP_OK);
    CHECK_STR(out.data_element, "Jtf34kNZhzP");
    CHECK_STR(out.value, "12000");
    CHECK_STR(out.comment, "demo:-");
    CHECK(out.org_unit == in.org_unit); /* unchanged strings are not copied */
    in = dv("cYeuwXTCPkU", "202401", "DiszpKrYNg8", NULL, "5");
    CHECK_INT(mapping_apply(m, &in, &out, &a, NULL, &why), MAP_OK);
    CHECK_STR(out.value, "1.25");
    /* the reused table does not leak one value's fields into the next */
    in = dv("other000001", "202401", "DiszpKrYNg8", NULL, NULL);
    CHECK_INT(mapping_apply(m, &in, &out, &a, NULL, &why), MAP_OK);
    CHECK(out.value == NULL);
    CHECK_STR(out.comment, "demo:-");
    in = dv("dropMe00001", "202401", "DiszpKrYNg8", NULL, "1");
    CHECK_INT(mapping_apply(m, &in, &out, &a, NULL, &why), MAP_SKIP);
    CHECK_CONTAINS(why.msg, "transform returned nil");
    mapping_release(m);

    m = compile("return { transform = function(dv) return 5 end }");
    CHECK_INT(mapping_apply(m, &in, &out, &a, NULL, &why), MAP_ERROR);
    CHECK_CONTAINS(why.msg, "demo.lua:1: transform must return");
    mapping_release(m);
    m = compile("return { transform = function(dv) dv.orgUnit = nil return dv end }");
    CHECK_INT(mapping_apply(m, &in, &out, &a, NULL, &why), MAP_ERROR);
    CHECK_CONTAINS(why.msg, "no orgUnit");
    mapping_release(m);
    arena_free(&a);
}

TEST(mapping_aggregate_sums_values_on_the_same_target_key)
{
    /* age bands 0-4 and 5-14 merged into one "<15" combo */
    struct mapping *m = compile("return {\n"
                                "  categoryOptionCombos = { ageUnder5aa = 'ageUnder15a', "
                                "age5to14aaa = 'ageUnder15a', ageOver15aa = 'ageOver15aa' },\n"
                                "  aggregate = 'sum',\n"
                                "}\n");
    struct arena a = {0};
    struct datavalue in[] = {
        dv("fbfJHSPpUQD", "202401", "DiszpKrYNg8", "ageUnder5aa", "3"),
        dv("fbfJHSPpUQD", "202401", "DiszpKrYNg8", "ageOver15aa", "7"),
        dv("fbfJHSPpUQD", "202401", "DiszpKrYNg8", "age5to14aaa", "4"),
        dv("fbfJHSPpUQD", "202402", "DiszpKrYNg8", "ageUnder5aa", "1.5"),
        dv("fbfJHSPpUQD", "202402", "DiszpKrYNg8", "age5to14aaa", "2.25"),
        dv("fbfJHSPpUQD", "202403", "DiszpKrYNg8", "ageUnder5aa", "yes"),
        dv("fbfJHSPpUQD", "202403", "DiszpKrYNg8", "age5to14aaa", "no"),
        dv("fbfJHSPpUQD", "202404", "DiszpKrYNg8", "ageUnder5aa", "10"),
        dv("fbfJHSPpUQD", "202404", "DiszpKrYNg8", "age5to14aaa", "99"),
    };
    in[8].deleted = true; /* a deletion does not count in the sum */
    size_t n = sizeof in / sizeof in[0];
    struct datavalue out[16];
    for (size_t i = 0; i < n; i++) {
        struct err why;
        CHECK_INT(mapping_apply(m, &in[i], &out[i], &a, NULL, &why), MAP_OK);
    }
    struct err note;
    err_clear(&note);
    size_t k = mapping_aggregate(m, out, n, &a, &note);
    CHECK_INT(k, 5);
    CHECK_STR(out[0].category_option_combo, "ageUnder15a");
    CHECK_STR(out[0].value, "7");
    CHECK_STR(out[1].category_option_combo, "ageOver15aa");
    CHECK_STR(out[1].value, "7");
    CHECK_STR(out[2].period, "202402");
    CHECK_STR(out[2].value, "3.75");
    CHECK_STR(out[3].period, "202403");
    CHECK_STR(out[3].value, "no");
    CHECK_STR(out[4].value, "10");
    CHECK(!out[4].deleted);
    CHECK_INT(note.code, ERR_INPUT);
    CHECK_CONTAINS(note.msg, "1 target key(s) had a non-numeric value");
    CHECK_CONTAINS(note.msg, "202403");
    mapping_release(m);

    /* without aggregate nothing is combined */
    m = compile("return { categoryOptionCombos = { a = 'x', b = 'x' } }");
    struct datavalue two[] = {dv("d", "p", "o", "x", "1"), dv("d", "p", "o", "x", "2")};
    CHECK_INT(mapping_aggregate(m, two, 2, &a, NULL), 2);
    CHECK_STR(two[1].value, "2");
    mapping_release(m);
    arena_free(&a);
}

TEST(mapping_csv_tables_beside_the_mapping)
{
    char *dir = spec_test_dir("m");
    write_file(dir, "coc.csv",
               "source,target\n"
               "pq2XI5kz2BY,S34ULMcHMca\r\n"
               "\n"
               "# a comment line\n"
               "\"PT59n8BQbqM\",\"fp9AzYQ5yBe\"\n"
               " Prlt0C1RF0s , lhgI9Gt3pBh \n"
               "dropCOC0001,\n");
    write_file(dir, "ou.csv", "DiszpKrYNg8,O6uvpzGd5pu\nImspTQPwCqd,ImspTQPwCqd\n");
    write_file(dir, "named.csv", "name,to,from\nx,tgt0000001a,src0000001a\n");
    write_file(dir, "bad.csv", "a,b\nonlyone\n");
    write_file(dir, "dup.csv", "a,b\na,c\n");
    struct mapping *m = compile_in(dir, "local t = require 'd2.tables'\n"
                                        "return {\n"
                                        "  categoryOptionCombos = t.csv('coc.csv'),\n"
                                        "  orgUnits = t.csv('ou.csv'),\n"
                                        "  dataElements = t.csv('named.csv', {from = 'from', to = 'to'}),\n"
                                        "}\n");
    struct mapping_stats st;
    mapping_stats(m, &st);
    CHECK_INT(st.table_size[MAP_COC], 4);
    CHECK_INT(st.table_size[MAP_OU], 2); /* no header detected: both rows are data */
    CHECK_INT(st.table_size[MAP_DE], 1);
    struct datavalue in = dv("src0000001a", "202401", "DiszpKrYNg8", "PT59n8BQbqM", "1"), out;
    struct err why;
    CHECK_INT(mapping_apply(m, &in, &out, NULL, NULL, &why), MAP_OK);
    CHECK_STR(out.data_element, "tgt0000001a");
    CHECK_STR(out.category_option_combo, "fp9AzYQ5yBe");
    CHECK_STR(out.org_unit, "O6uvpzGd5pu");
    in.category_option_combo = "Prlt0C1RF0s";
    CHECK_INT(mapping_apply(m, &in, &out, NULL, NULL, &why), MAP_OK);
    CHECK_STR(out.category_option_combo, "lhgI9Gt3pBh");
    in.category_option_combo = "dropCOC0001";
    CHECK_INT(mapping_apply(m, &in, &out, NULL, NULL, &why), MAP_SKIP);

    /* the version follows the CSV content */
    char v1[16];
    snprintf(v1, sizeof v1, "%s", mapping_version(m));
    mapping_release(m);
    write_file(dir, "ou.csv", "DiszpKrYNg8,O6uvpzGd5pu\n");
    m = compile_in(dir, "local t = require 'd2.tables'\n"
                        "return {\n"
                        "  categoryOptionCombos = t.csv('coc.csv'),\n"
                        "  orgUnits = t.csv('ou.csv'),\n"
                        "  dataElements = t.csv('named.csv', {from = 'from', to = 'to'}),\n"
                        "}\n");
    CHECK(strcmp(v1, mapping_version(m)) != 0);
    mapping_release(m);

    const char *bad[][2] = {
        {"local t = require 'd2.tables' return { orgUnits = t.csv('bad.csv', {header = true}) }",
         "bad.csv:2: expected at least 2 columns"},
        {"local t = require 'd2.tables' return { orgUnits = t.csv('dup.csv', {header = false}) }",
         "dup.csv:2: 'a' is mapped twice"},
    };
    for (int i = 0; i < 2; i++) {
        struct mapping *b = NULL;
        struct err e;
        CHECK_INT(mapping_compile_source("demo", dir, "scripts", bad[i][0], strlen(bad[i][0]), NULL,
                                         &b, &e),
                  ERR_SCRIPT);
        CHECK_CONTAINS(e.msg, bad[i][1]);
    }
    free(dir);
}

TEST(mapping_periods_module)
{
    struct mapping *m = compile(
        "local p = require 'd2.periods'\n"
        "assert(p.toQuarterly('202402') == '2024Q1')\n"
        "assert(p.toQuarterly('202412') == '2024Q4')\n"
        "assert(p.toQuarterly('20240705') == '2024Q3')\n"
        "assert(p.toYearly('2024Q3') == '2024')\n"
        "assert(p.toSixMonthly('202407') == '2024S2')\n"
        "assert(p.type('2024W7') == 'Weekly' and p.type('2024July') == 'FinancialJuly')\n"
        "assert(p.type('202413') == nil and p.parse('x') == nil)\n"
        "assert(p.shift('202401', -1) == '202312' and p.shift('2024Q4', 1) == '2025Q1')\n"
        "assert(p.toMonthly('2024Q2') == '202404')\n"
        "return { transform = function(dv) dv.period = p.toQuarterly(dv.period) return dv end,\n"
        "         aggregate = 'sum' }\n");
    struct arena a = {0};
    struct datavalue in[3] = {dv("d", "202401", "o", NULL, "1"), dv("d", "202402", "o", NULL, "2"),
                              dv("d", "202404", "o", NULL, "4")};
    struct datavalue out[3];
    struct err why;
    for (int i = 0; i < 3; i++)
        CHECK_INT(mapping_apply(m, &in[i], &out[i], &a, NULL, &why), MAP_OK);
    CHECK_INT(mapping_aggregate(m, out, 3, &a, NULL), 2);
    CHECK_STR(out[0].period, "2024Q1");
    CHECK_STR(out[0].value, "3");
    CHECK_STR(out[1].period, "2024Q2");
    mapping_release(m);
    arena_free(&a);
}

static int by_code(void *ud, const char *kind, const char *code, char *out, size_t size)
{
    (*(int *)ud)++;
    if (strcmp(kind, "dataElements") == 0 && strcmp(code, "ANC_1ST") == 0) {
        snprintf(out, size, "Jtf34kNZhzP");
        return 0;
    }
    return -1;
}

TEST(mapping_metadata_lookups_through_the_host)
{
    struct mapping *m = compile("local meta = require 'd2.meta'\n"
                                "return { transform = function(dv, ctx)\n"
                                "  dv.dataElement = meta.byCode('dataElements', dv.dataElement)\n"
                                "    or ctx.byCode('dataElements', 'ANC_1ST') and 'fallback000'\n"
                                "    or meta.idByCode('dataElements', dv.dataElement)\n"
                                "  return dv end }\n");
    int calls = 0;
    struct mapping_lookup lk = {.by_code = by_code, .ud = &calls};
    struct arena a = {0};
    struct err why;
    struct datavalue in = dv("ANC_1ST", "202401", "o", NULL, "1"), out;
    CHECK_INT(mapping_apply(m, &in, &out, &a, &lk, &why), MAP_OK);
    CHECK_STR(out.data_element, "Jtf34kNZhzP");
    in.data_element = "OTHER";
    CHECK_INT(mapping_apply(m, &in, &out, &a, &lk, &why), MAP_OK);
    CHECK_STR(out.data_element, "fallback000");
    CHECK_INT(calls, 3);
    /* without lookups nothing is found, and idByCode says so */
    CHECK_INT(mapping_apply(m, &in, &out, &a, NULL, &why), MAP_ERROR);
    CHECK_CONTAINS(why.msg, "demo.lua:5: no dataElements with code 'OTHER'");
    mapping_release(m);
    arena_free(&a);

    /* lookups at load time are refused: tables cannot depend on a run's instance */
    struct mapping *b = NULL;
    const char *src = "local meta = require 'd2.meta'\nreturn { dataElements = { a = meta.byCode('dataElements', 'X') } }";
    CHECK_INT(mapping_compile_source("demo", ".", "scripts", src, strlen(src), NULL, &b, &why),
              ERR_SCRIPT);
    CHECK_CONTAINS(why.msg, "inside transform only");
}

TEST(mapping_canary_runs_transform_on_a_sample)
{
    struct mapping *m = compile("return { dataElements = { fbfJHSPpUQD = 'Jtf34kNZhzP' },\n"
                                "  transform = function(dv)\n"
                                "    assert(dv.dataElement == 'Jtf34kNZhzP')\n"
                                "    return dv end }\n");
    struct err why;
    CHECK_INT(mapping_canary(m, &why), 0);
    mapping_release(m);
    m = compile("return { transform = function(dv) return dv.nothing.here end }");
    CHECK_INT(mapping_canary(m, &why), ERR_SCRIPT);
    CHECK_CONTAINS(why.msg, "demo.lua:1: attempt to index a nil value");
    mapping_release(m);
    m = compile("return { sample = { dataElement = 'x', period = '202401', orgUnit = 'o', value = 'v' },\n"
                "  transform = function(dv) return { dataElement = dv.value, period = dv.period, orgUnit = 'o' } end }");
    CHECK_INT(mapping_canary(m, &why), 0);
    mapping_release(m);
}

TEST(mapping_compile_reads_a_file_and_reports_missing_ones)
{
    char *dir = spec_test_dir("m");
    write_file(dir, "district.lua", "return {\n  dataElements = { a = 'b' },\n  transform = function(dv) return dv + 1 end\n}\n");
    char path[4096];
    snprintf(path, sizeof path, "%s/district.lua", dir);
    struct mapping *m = NULL;
    struct err e;
    CHECK_INT(mapping_compile("district", path, "scripts", &m, &e), 0);
    CHECK_STR(mapping_name(m), "district");
    size_t len;
    CHECK_CONTAINS(mapping_source(m, &len), "dataElements");
    struct datavalue in = dv("a", "202401", "o", NULL, "1"), out;
    CHECK_INT(mapping_apply(m, &in, &out, NULL, NULL, &e), MAP_ERROR);
    CHECK_CONTAINS(e.msg, "district.lua:3: attempt to perform arithmetic on a table value");
    mapping_release(m);
    snprintf(path, sizeof path, "%s/absent.lua", dir);
    CHECK_INT(mapping_compile("absent", path, "scripts", &m, &e), ERR_NOT_FOUND);
    free(dir);
}
