/* mapping_object_test.c — mappings for objects (metadata, tracker data): the id tables
 * programs, programStages, trackedEntityAttributes, options (and the data value ones) through
 * mapping_map_id, and the functions metadata/event/trackedEntity through mapping_apply_object:
 * the JSON <-> Lua round trip, errors with file:line, budgets, cancel; `dhis2sync check` and
 * POST /api/mappings/{name}/check with object samples. */
#include <pthread.h>
#include <stdatomic.h>
#include <unistd.h>

#include "harness.h"
#include "mapping.h"
#include "test.h"

static struct mapping *compile_with(const char *src, const struct lua_host_limits *lim)
{
    char *dir = spec_test_dir("m");
    struct mapping *m = NULL;
    struct err e = {0};
    int rc = mapping_compile_source("demo", dir, "scripts", src, strlen(src), lim, &m, &e);
    CHECKF(rc == 0 && m, "compile failed: %s", e.msg);
    free(dir);
    return m;
}

static struct mapping *compile(const char *src) { return compile_with(src, NULL); }

static cJSON *read_json(const char *path)
{
    FILE *f = fopen(path, "rb");
    CHECKF(f != NULL, "cannot read %s", path);
    char buf[65536];
    size_t n = fread(buf, 1, sizeof buf - 1, f);
    fclose(f);
    buf[n] = '\0';
    cJSON *j = cJSON_Parse(buf);
    CHECKF(j != NULL, "%s is not JSON", path);
    return j;
}

/* The first element of the list `key` (inside "metadata" for metadata types), detached. */
static cJSON *sample_object(const char *path, const char *section, const char *key)
{
    cJSON *root = read_json(path);
    cJSON *parent = section ? cJSON_GetObjectItem(root, section) : root;
    cJSON *o = cJSON_DetachItemFromArray(cJSON_GetObjectItem(parent, key), 0);
    CHECK(o != NULL);
    cJSON_Delete(root);
    return o;
}

static const char *map_id(struct mapping *m, const char *table, const char *id,
                          enum map_result expect)
{
    const char *out = NULL;
    struct err why = {0};
    enum map_result r = mapping_map_id(m, table, id, &out, &why);
    CHECKF(r == expect, "%s '%s': expected result %d, saw %d (%s)", table, id, expect, r, why.msg);
    return out;
}

TEST(mapobj_every_id_table_maps_ids_and_undeclared_ones_pass)
{
    struct mapping *m = compile(
        "return {\n"
        "  programs = { eBAyeGv0exc = 'Prog0000001' },\n"
        "  programStages = { Zj7UnCAulEk = 'Stage000001' },\n"
        "  trackedEntityAttributes = { w75KJ2mc4zz = 'Attr0000001' },\n"
        "  options = { Fhbi5ABCdef = 'Opt00000001' },\n"
        "  dataElements = { qrur9Dvnyt5 = 'DE000000001' },\n"
        "  orgUnits = { DiszpKrYNg8 = 'OU000000001' },\n"
        "  categoryOptionCombos = { HllvX50cXC0 = 'COC00000001' },\n"
        "  unmapped = 'keep',\n"
        "}\n");
    CHECK_STR(map_id(m, "programs", "eBAyeGv0exc", MAP_OK), "Prog0000001");
    CHECK_STR(map_id(m, "programStages", "Zj7UnCAulEk", MAP_OK), "Stage000001");
    CHECK_STR(map_id(m, "trackedEntityAttributes", "w75KJ2mc4zz", MAP_OK), "Attr0000001");
    CHECK_STR(map_id(m, "options", "Fhbi5ABCdef", MAP_OK), "Opt00000001");
    CHECK_STR(map_id(m, "dataElements", "qrur9Dvnyt5", MAP_OK), "DE000000001");
    CHECK_STR(map_id(m, "orgUnits", "DiszpKrYNg8", MAP_OK), "OU000000001");
    /* the metadata API's name for org units reaches the same table */
    CHECK_STR(map_id(m, "organisationUnits", "DiszpKrYNg8", MAP_OK), "OU000000001");
    CHECK_STR(map_id(m, "categoryOptionCombos", "HllvX50cXC0", MAP_OK), "COC00000001");
    CHECK(mapping_has_table(m, "programs"));
    CHECK(mapping_has_table(m, "options"));
    CHECK(mapping_has_table(m, "organisationUnits"));
    CHECK(!mapping_has_table(m, "periods"));
    CHECK(!mapping_has_table(m, "indicators"));
    /* a table the mapping does not declare passes the id unchanged */
    CHECK_STR(map_id(m, "periods", "202401", MAP_OK), "202401");
    CHECK_STR(map_id(m, "indicators", "Uvn6LCg7dVU", MAP_OK), "Uvn6LCg7dVU");
    /* the data value path is unchanged by the new tables */
    struct datavalue in = {.data_element = "qrur9Dvnyt5", .period = "202401",
                           .org_unit = "DiszpKrYNg8", .value = "1"}, out;
    struct err why;
    CHECK_INT(mapping_apply(m, &in, &out, NULL, NULL, &why), MAP_OK);
    CHECK_STR(out.data_element, "DE000000001");
    mapping_release(m);

    /* the identity mapping declares nothing */
    m = mapping_identity();
    CHECK_STR(map_id(m, "programs", "eBAyeGv0exc", MAP_OK), "eBAyeGv0exc");
    CHECK(!mapping_has_table(m, "programs"));
    CHECK(!mapping_has_function(m, "event"));
}

TEST(mapobj_unmapped_skip_keep_error_and_false_drops)
{
    const char *tables = "  programs = { eBAyeGv0exc = 'Prog0000001', oldProgram1 = false },\n"
                         "  options = t.csv('options.csv'),\n";
    char *dir = spec_test_dir("csv");
    char path[4096];
    snprintf(path, sizeof path, "%s/options.csv", dir);
    FILE *f = fopen(path, "w");
    CHECK(f != NULL);
    fputs("source,target\nFhbi5ABCdef,Opt00000001\nretiredOpt1,\n", f);
    fclose(f);
    static const char *const modes[] = {"", "unmapped = 'skip'", "unmapped = 'keep'",
                                        "unmapped = 'error'"};
    static const enum map_result expect[] = {MAP_SKIP, MAP_SKIP, MAP_OK, MAP_ERROR};
    for (int i = 0; i < 4; i++) {
        char src[1024];
        snprintf(src, sizeof src, "local t = require 'd2.tables'\nreturn {\n%s  %s }\n", tables,
                 modes[i]);
        struct mapping *m = NULL;
        struct err e = {0};
        CHECKF(mapping_compile_source("demo", dir, "scripts", src, strlen(src), NULL, &m, &e) == 0,
               "compile: %s", e.msg);
        CHECK_STR(map_id(m, "programs", "eBAyeGv0exc", MAP_OK), "Prog0000001");
        CHECK_STR(map_id(m, "options", "Fhbi5ABCdef", MAP_OK), "Opt00000001");
        const char *out = NULL;
        struct err why = {0};
        enum map_result r = mapping_map_id(m, "programs", "unknownProg", &out, &why);
        CHECKF(r == expect[i], "mode %s: expected %d, saw %d (%s)", modes[i], expect[i], r, why.msg);
        if (r == MAP_OK)
            CHECK_STR(out, "unknownProg");
        else if (r == MAP_SKIP)
            CHECK_CONTAINS(why.msg, "no programs entry for 'unknownProg'");
        else
            CHECK_CONTAINS(why.msg, "demo.lua: no programs entry for 'unknownProg' (unmapped = \"error\")");
        /* false drops the id whatever unmapped says, from a Lua table or a CSV file */
        CHECK_INT(mapping_map_id(m, "programs", "oldProgram1", &out, &why), MAP_SKIP);
        CHECK_CONTAINS(why.msg, "programs maps 'oldProgram1' to false");
        CHECK_INT(mapping_map_id(m, "options", "retiredOpt1", &out, &why), MAP_SKIP);
        mapping_release(m);
    }
    free(dir);
}

TEST(mapobj_bad_new_tables_fail_to_compile_with_file_and_line)
{
    static const struct {
        const char *src, *msg;
    } cases[] = {
        {"return {\n  description = 'x',\n  programs = {\n    [1] = 'Prog0000001' },\n}\n",
         "demo.lua:3: programs: a key is a number; ids are strings"},
        {"return {\n  trackedEntityAttributes = { a = 12 },\n}\n",
         "demo.lua:2: trackedEntityAttributes: the value for 'a' is a number"},
        {"return {\n  options = 'options.csv',\n}\n", "options must be a table"},
        {"return {\n  event = { },\n}\n", "event must be a function(ev, ctx), not a table"},
        {"return {\n  metadata = 1,\n}\n", "metadata must be a function(obj, type, ctx)"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        struct mapping *m = NULL;
        struct err e = {0};
        CHECK_INT(mapping_compile_source("demo", ".", "scripts", cases[i].src,
                                         strlen(cases[i].src), NULL, &m, &e), ERR_SCRIPT);
        CHECK_CONTAINS(e.msg, cases[i].msg);
    }
}

TEST(mapobj_functions_change_drop_or_fail_objects_with_file_and_line)
{
    struct mapping *m = compile(
        "return {\n"
        "  event = function(ev, ctx)\n"
        "    if ev.orgUnit == 'unknownOU01' then return nil end\n"
        "    if ev.status == 'SCHEDULE' then error('no scheduled events') end\n"
        "    ev.program = 'Prog0000001'\n"
        "    for _, dv in ipairs(ev.dataValues) do\n"
        "      if dv.dataElement == 'qrur9Dvnyt5' then dv.value = tostring(tonumber(dv.value) * 2) end\n"
        "    end\n"
        "    ev.dataValues[#ev.dataValues + 1] = { dataElement = 'added00001', value = ctx.mapping }\n"
        "    return ev\n"
        "  end,\n"
        "  metadata = function(obj, type)\n"
        "    if type == 'options' then return nil end\n"
        "    obj.name = type .. ': ' .. obj.name\n"
        "    return obj\n"
        "  end,\n"
        "}\n");
    CHECK(mapping_has_function(m, "event"));
    CHECK(mapping_has_function(m, "metadata"));
    CHECK(!mapping_has_function(m, "trackedEntity"));
    CHECK(!mapping_has_function(m, "transform"));

    cJSON *ev = sample_object("spec/fixtures/mappings/events_sample.json", NULL, "events");
    struct err why = {0};
    CHECK_INT(mapping_apply_object(m, "event", &ev, NULL, NULL, &why), MAP_OK);
    CHECK_STR(cJSON_GetObjectItem(ev, "program")->valuestring, "Prog0000001");
    cJSON *dvs = cJSON_GetObjectItem(ev, "dataValues");
    CHECK_INT(cJSON_GetArraySize(dvs), 4);
    CHECK_STR(cJSON_GetObjectItem(cJSON_GetArrayItem(dvs, 0), "value")->valuestring, "44");
    CHECK_STR(cJSON_GetObjectItem(cJSON_GetArrayItem(dvs, 3), "value")->valuestring, "demo");
    CHECK(cJSON_IsNull(cJSON_GetObjectItem(ev, "enrollment")));

    cJSON_ReplaceItemInObject(ev, "orgUnit", cJSON_CreateString("unknownOU01"));
    CHECK_INT(mapping_apply_object(m, "event", &ev, NULL, NULL, &why), MAP_SKIP);
    CHECK_CONTAINS(why.msg, "event returned nil");
    CHECK(ev != NULL); /* a skipped object is left to the caller */

    cJSON_ReplaceItemInObject(ev, "orgUnit", cJSON_CreateString("DiszpKrYNg8"));
    cJSON_ReplaceItemInObject(ev, "status", cJSON_CreateString("SCHEDULE"));
    CHECK_INT(mapping_apply_object(m, "event", &ev, NULL, NULL, &why), MAP_ERROR);
    CHECK_CONTAINS(why.msg, "demo.lua:4: no scheduled events");

    /* a function the mapping does not define leaves the object as it is */
    cJSON *before = cJSON_Duplicate(ev, 1);
    CHECK_INT(mapping_apply_object(m, "trackedEntity", &ev, NULL, NULL, &why), MAP_OK);
    CHECK(cJSON_Compare(ev, before, 1));
    cJSON_Delete(before);
    cJSON_Delete(ev);

    cJSON *de = sample_object("spec/fixtures/mappings/metadata_sample.json", "metadata", "dataElements");
    CHECK_INT(mapping_apply_object(m, "metadata", &de, "dataElements", NULL, &why), MAP_OK);
    CHECK_STR(cJSON_GetObjectItem(de, "name")->valuestring, "dataElements: ANC 1st visit");
    CHECK_INT(mapping_apply_object(m, "metadata", &de, "options", NULL, &why), MAP_SKIP);
    cJSON_Delete(de);
    mapping_release(m);
}

/* An object the function returns unchanged comes back equal, key order included: empty arrays
 * stay arrays, empty objects objects, integers integers, nulls nulls. */
TEST(mapobj_round_trip_of_real_dhis2_objects_is_exact)
{
    struct mapping *m = compile("return {\n"
                                "  event = function(ev) return ev end,\n"
                                "  trackedEntity = function(te, ctx) return te end,\n"
                                "  metadata = function(obj, type, ctx) return obj end,\n"
                                "}\n");
    static const struct {
        const char *file, *section, *key, *fn, *type;
    } cases[] = {
        {"spec/fixtures/mappings/events_sample.json", NULL, "events", "event", NULL},
        {"spec/fixtures/mappings/tracked_entities_sample.json", NULL, "trackedEntities",
         "trackedEntity", NULL},
        {"spec/fixtures/mappings/metadata_sample.json", "metadata", "dataElements", "metadata",
         "dataElements"},
        {"spec/fixtures/mappings/metadata_sample.json", "metadata", "options", "metadata",
         "options"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        cJSON *o = sample_object(cases[i].file, cases[i].section, cases[i].key);
        char *want = cJSON_PrintUnformatted(o);
        struct err why = {0};
        CHECKF(mapping_apply_object(m, cases[i].fn, &o, cases[i].type, NULL, &why) == MAP_OK,
               "%s: %s", cases[i].fn, why.msg);
        char *saw = cJSON_PrintUnformatted(o);
        CHECK_STR(saw, want);
        free(want);
        free(saw);
        cJSON_Delete(o);
    }
    mapping_release(m);
}
