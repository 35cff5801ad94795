/* mapping_object_test.c — mappings for objects (metadata, tracker data): the id tables
 * programs, programStages, trackedEntityAttributes, options (and the data value ones) through
 * mapping_map_id, and the functions metadata/event/trackedEntity through mapping_apply_object:
 * the JSON <-> Lua round trip, errors with file:line, budgets, cancel; `dhis2sync check` and
 * POST /api/mappings/{name}/check with object samples. */
#include <pthread.h>
#include <stdatomic.h>
#include <unistd.h>

#include "harness.h"
#include "http.h"
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
    char *text = NULL;
    size_t len = 0;
    CHECKF(http_read_file(path, &text, &len) == 0, "cannot read %s", path);
    cJSON *j = cJSON_ParseWithLength(text, len);
    CHECKF(j != NULL, "%s is not JSON", path);
    free(text);
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

static enum map_result apply_event(struct mapping *m, const char *json, struct err *why,
                                   char **result)
{
    cJSON *o = cJSON_Parse(json);
    CHECK(o != NULL);
    enum map_result r = mapping_apply_object(m, "event", &o, NULL, NULL, why);
    if (result)
        *result = cJSON_PrintUnformatted(o);
    cJSON_Delete(o);
    return r;
}

/* What a function may return: ctx.null, ctx.array, ctx.object mark what Lua cannot say itself;
 * a table it makes is an object with string keys, an array with keys 1..n, an array when empty. */
TEST(mapobj_tables_a_function_makes_become_json_by_their_keys)
{
    struct mapping *m = compile(
        "return { event = function(ev, ctx)\n"
        "  assert(ev.gone == ctx.null and ev.gone ~= nil)\n"
        "  assert(getmetatable(ev.notes) == 'array' and getmetatable(ev) == 'object')\n"
        "  assert(math.type(ev.n) == 'integer' and math.type(ev.f) == 'float')\n"
        "  ev.newList = {}\n"
        "  ev.newObject = ctx.object({})\n"
        "  ev.seq = { 'a', 'b', 3, true }\n"
        "  ev.obj = { x = 1.25, y = { } }\n"
        "  ev.emptied = ctx.array({})\n"
        "  ev.explicitNull = ctx.null\n"
        "  ev.half = ev.n / 2\n"
        "  ev.dropped = nil\n"
        "  table.remove(ev.list, 1)\n"
        "  return ev end }\n");
    char *out = NULL;
    struct err why = {0};
    CHECKF(apply_event(m, "{\"gone\":null,\"notes\":[],\"n\":3,\"f\":1.5,\"dropped\":{},"
                          "\"list\":[1,2,3]}", &why, &out) == MAP_OK, "%s", why.msg);
    cJSON *got = cJSON_Parse(out);
    cJSON *want = cJSON_Parse("{\"gone\":null,\"notes\":[],\"n\":3,\"f\":1.5,\"list\":[2,3],"
                              "\"newList\":[],\"newObject\":{},\"seq\":[\"a\",\"b\",3,true],"
                              "\"obj\":{\"x\":1.25,\"y\":[]},\"emptied\":[],"
                              "\"explicitNull\":null,\"half\":1.5}");
    CHECKF(cJSON_Compare(got, want, 1), "saw %s", out);
    /* the original fields keep their order, added ones follow */
    const char *prefix = "{\"gone\":null,\"notes\":[],\"n\":3,\"f\":1.5,\"list\":[2,3],";
    CHECKF(strncmp(out, prefix, strlen(prefix)) == 0, "saw %s", out);
    cJSON_Delete(got);
    cJSON_Delete(want);
    free(out);
    mapping_release(m);
}

TEST(mapobj_results_json_cannot_hold_are_errors_with_file_line_and_place)
{
    static const struct {
        const char *body, *msg;
    } cases[] = {
        {"ev.made = { a = 1, [true] = 2 }", "demo.lua:2: event returned a table with a key of type boolean; a table is an array (keys 1..n) or an object (string keys) (at .made)"},
        {"ev.made = { 1, 2, [4] = 4 }", "demo.lua:2: event returned an array with holes (remove elements with table.remove) (at .made)"},
        {"ev.made = { 1, x = 2 }", "a table with a key of type number; a table is an array (keys 1..n) or an object (string keys) (at .made)"},
        {"ev.dataValues[1][7] = 1", "demo.lua:2: event returned a key of type number in an object; JSON object keys are strings (at .dataValues[1])"},
        {"ev.dataValues.x = 1", "a key of type string in an array (at .dataValues)"},
        {"ev.dataValues[3] = {}", "an array with holes"},
        {"ev.loop = ev", "a table that contains itself (a cycle) (at .loop)"},
        {"ev.f = print", "a function, which JSON cannot hold (at .f)"},
        {"ev.v = 0/0", "a number that JSON cannot hold (NaN)"},
        {"ev.v = math.huge", "a number that JSON cannot hold (infinity)"},
        {"ev.v = 'a\\0b'", "a string with a NUL byte (at .v)"},
        {"ev['a\\0b'] = 1", "a key with a NUL byte"},
        {"local t = {} for i = 1, 300 do t = { t } end ev.deep = t", "nested deeper than 200 levels"},
        {"do return 'ev' end", "demo.lua:2: event must return the object (a table) or nil, not a string"},
        {"setmetatable(ev.dataValues, nil)", "cannot change a protected metatable"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        char src[512];
        snprintf(src, sizeof src, "return {\n  event = function(ev, ctx)\n    %s\n    return ev\n  end }\n",
                 cases[i].body);
        struct mapping *m = compile(src);
        struct err why = {0};
        enum map_result r = apply_event(m, "{\"dataValues\":[{\"value\":\"1\"}]}", &why, NULL);
        CHECKF(r == MAP_ERROR, "%s: expected an error, saw %d", cases[i].body, r);
        CHECK_CONTAINS(why.msg, cases[i].msg);
        mapping_release(m);
    }
    CHECK_NO_LEAKS();
}

/* A giant object, or one the function makes cheaply that is giant as JSON (a table shared
 * 2^40 times), ends the call with the budget error: the conversion is charged to the call. */
TEST_TIMEOUT(mapobj_giant_objects_exhaust_the_budget_instead_of_hanging, 60)
{
    struct lua_host_limits lim;
    lua_host_default_limits(&lim);
    lim.call_instructions = 200000;
    lim.call_ms = 60000;
    struct mapping *m = compile_with("return { event = function(ev) return ev end,\n"
                                     "  trackedEntity = function(te)\n"
                                     "    local t = { 'x' }\n"
                                     "    for i = 1, 40 do t = { t, t } end\n"
                                     "    te.huge = t\n"
                                     "    return te end }\n", &lim);
    cJSON *big = cJSON_CreateObject();
    cJSON *list = cJSON_AddArrayToObject(big, "dataValues");
    for (int i = 0; i < 100000; i++)
        cJSON_AddItemToArray(list, cJSON_CreateNumber(i));
    struct err why = {0};
    CHECK_INT(mapping_apply_object(m, "event", &big, NULL, NULL, &why), MAP_ERROR);
    CHECK_CONTAINS(why.msg, "instruction budget of 200000 per call exhausted");
    CHECK_INT(mapping_apply_object(m, "trackedEntity", &big, NULL, NULL, &why), MAP_ERROR);
    CHECK_CONTAINS(why.msg, "instruction budget of 200000 per call exhausted");
    /* a small object still goes through afterwards */
    cJSON *small = cJSON_Parse("{\"a\":[1,2]}");
    CHECKF(mapping_apply_object(m, "event", &small, NULL, NULL, &why) == MAP_OK, "%s", why.msg);
    cJSON_Delete(small);
    cJSON_Delete(big);
    mapping_release(m);
    CHECK_NO_LEAKS();
}

static atomic_int cancelled;
static int stop_flag(void *ud)
{
    (void)ud;
    return atomic_load(&cancelled);
}

static void *cancel_later(void *arg)
{
    (void)arg;
    usleep(200 * 1000);
    atomic_store(&cancelled, 1);
    return NULL;
}

TEST_TIMEOUT(mapobj_cancel_reaches_a_stuck_function, 60)
{
    struct lua_host_limits lim;
    lua_host_default_limits(&lim);
    lim.call_instructions = 1L << 60; /* only the cancel can end it within the test's time */
    lim.call_ms = 3600 * 1000;
    struct mapping *m = compile_with("return { metadata = function(obj, type)\n"
                                     "  while true do end\n"
                                     "end }\n", &lim);
    struct mapping_lookup lk = {.stop = stop_flag};
    pthread_t th;
    CHECK(pthread_create(&th, NULL, cancel_later, NULL) == 0);
    cJSON *o = cJSON_Parse("{\"id\":\"fbfJHSPpUQD\"}");
    struct err why = {0};
    CHECK_INT(mapping_apply_object(m, "metadata", &o, "dataElements", &lk, &why), MAP_ERROR);
    pthread_join(th, NULL);
    CHECK_CONTAINS(why.msg, "demo.lua:2: stopped: the run was cancelled");
    cJSON_Delete(o);
    mapping_release(m);
}

struct worker {
    struct mapping *m;
    int bad;
};

static void *apply_many(void *arg)
{
    struct worker *w = arg;
    for (int i = 0; i < 300; i++) {
        char text[128];
        snprintf(text, sizeof text, "{\"trackedEntity\":\"te%d\",\"attributes\":[{\"value\":\"%d\"}]}", i, i);
        cJSON *o = cJSON_Parse(text);
        struct err why = {0};
        if (mapping_apply_object(w->m, "trackedEntity", &o, NULL, NULL, &why) != MAP_OK)
            w->bad++;
        else if (atoi(cJSON_GetArrayItem(cJSON_GetObjectItem(o, "attributes"), 0)
                          ->child->valuestring) != i + 1)
            w->bad++;
        cJSON_Delete(o);
    }
    return NULL;
}

TEST(mapobj_threads_share_one_version)
{
    struct mapping *m = compile("return { trackedEntity = function(te)\n"
                                "  local a = te.attributes[1]\n"
                                "  a.value = tostring(tonumber(a.value) + 1)\n"
                                "  return te end }\n");
    struct worker w[4];
    pthread_t th[4];
    for (int i = 0; i < 4; i++) {
        w[i] = (struct worker){m, 0};
        CHECK(pthread_create(&th[i], NULL, apply_many, &w[i]) == 0);
    }
    for (int i = 0; i < 4; i++) {
        pthread_join(th[i], NULL);
        CHECK_INT(w[i].bad, 0);
    }
    mapping_release(m);
}

static const char *object_mapping =
    "return {\n"
    "  event = function(ev, ctx)\n"
    "    if ev.orgUnit == 'unknownOU01' then return nil end\n"
    "    ev.program = 'Xh88p1nyefp'\n"
    "    return ev\n"
    "  end,\n"
    "  metadata = function(obj, type, ctx)\n"
    "    if type == 'options' then error('options stay at home') end\n"
    "    obj.sharing = nil\n"
    "    return obj\n"
    "  end,\n"
    "}\n";

static int run_check(const char *mapping_path, const char *sample, int json, char **out)
{
    char *cmd = NULL;
    if (asprintf(&cmd, "'%s' check '%s' --sample '%s' %s 2>&1", spec_bin("dhis2sync"),
                 mapping_path, sample, json ? "--json" : "") < 0)
        abort();
    char *sh[] = {"/bin/sh", "-c", cmd, NULL};
    char *env[] = {"DATABASE_URL=postgresql://nobody@127.0.0.1:1/none", NULL};
    return spec_run(sh, env, NULL, out);
}

TEST(mapobj_check_command_shows_what_the_functions_do_to_object_samples)
{
    char *dir = spec_test_dir("check");
    char path[4096];
    snprintf(path, sizeof path, "%s/objects.lua", dir);
    FILE *f = fopen(path, "w");
    CHECK(f != NULL);
    fputs(object_mapping, f);
    fclose(f);
    char *out = NULL;
    CHECK_INT(run_check(path, "spec/fixtures/mappings/events_sample.json", 0, &out), 0);
    CHECK_CONTAINS(out, "for metadata and tracker data: metadata() event()");
    CHECK_CONTAINS(out, "   1 mapped   event ZwwuwNp6gVd\n              -> {\"event\":\"ZwwuwNp6gVd\"");
    CHECK_CONTAINS(out, "\"program\":\"Xh88p1nyefp\"");
    CHECK_CONTAINS(out, "   2 skipped  event a1B2c3D4e5F\n              event returned nil");
    CHECK_CONTAINS(out, "2 object(s): 1 mapped, 1 skipped, 0 errors");

    /* no trackedEntity function: they pass unchanged, and the output says so */
    CHECK_INT(run_check(path, "spec/fixtures/mappings/tracked_entities_sample.json", 1, &out), 0);
    cJSON *j = cJSON_Parse(strchr(out, '{'));
    CHECK(j != NULL);
    CHECK_CONTAINS(cJSON_GetObjectItem(j, "note")->valuestring,
                   "no trackedEntity function: trackedEntities pass unchanged");
    cJSON *r0 = cJSON_GetArrayItem(cJSON_GetObjectItem(j, "results"), 0);
    CHECK_STR(cJSON_GetObjectItem(r0, "type")->valuestring, "trackedEntity");
    CHECK(cJSON_Compare(cJSON_GetObjectItem(r0, "input"), cJSON_GetObjectItem(r0, "output"), 1));
    cJSON_Delete(j);

    /* an error on any object: listed with its line, exit 1 */
    CHECK_INT(run_check(path, "spec/fixtures/mappings/metadata_sample.json", 0, &out), 1);
    CHECK_CONTAINS(out, "   1 mapped   dataElements fbfJHSPpUQD");
    CHECK_CONTAINS(out, "   2 error    options Fhbi5ABCdef\n              objects.lua:8: options stay at home");
    CHECK_CONTAINS(out, "2 object(s): 1 mapped, 0 skipped, 1 error");
    CHECK(!strstr(out, "\"sharing\""));

    /* data value samples print as before */
    CHECK_INT(run_check(path, "spec/fixtures/mappings/age_bands_sample.json", 0, &out), 0);
    CHECK_CONTAINS(out, "value(s):");
    free(dir);
}

TEST(mapobj_check_route_answers_mapped_objects_and_errors_per_object)
{
    struct spec_server s;
    CHECK(spec_server_start(&s, spec_new_db(), NULL) == 0);
    cJSON *body = read_json("spec/fixtures/mappings/metadata_sample.json");
    cJSON *events = read_json("spec/fixtures/mappings/events_sample.json");
    cJSON_AddItemToObject(body, "events", cJSON_DetachItemFromObject(events, "events"));
    cJSON_Delete(events);
    cJSON_AddStringToObject(body, "source", object_mapping);
    char *text = cJSON_PrintUnformatted(body);
    struct spec_resp r;
    CHECK(spec_api(&s, "POST", "/api/mappings/objects/check", text, &r) == 0);
    CHECKF(r.status == 200, "status %ld: %s", r.status, r.body);
    cJSON *j = spec_resp_json(&r);
    cJSON *c = cJSON_GetObjectItem(j, "counts");
    CHECK_INT(cJSON_GetNumberValue(cJSON_GetObjectItem(c, "objects")), 4);
    CHECK_INT(cJSON_GetNumberValue(cJSON_GetObjectItem(c, "mapped")), 2);
    CHECK_INT(cJSON_GetNumberValue(cJSON_GetObjectItem(c, "skipped")), 1);
    CHECK_INT(cJSON_GetNumberValue(cJSON_GetObjectItem(c, "errors")), 1);
    cJSON *res = cJSON_GetObjectItem(j, "results");
    cJSON *ev = cJSON_GetArrayItem(res, 0);
    CHECK_STR(cJSON_GetObjectItem(ev, "type")->valuestring, "event");
    CHECK_STR(cJSON_GetObjectItem(ev, "status")->valuestring, "mapped");
    CHECK_STR(cJSON_GetObjectItem(cJSON_GetObjectItem(ev, "output"), "program")->valuestring,
              "Xh88p1nyefp");
    cJSON *err = cJSON_GetArrayItem(res, 3);
    CHECK_STR(cJSON_GetObjectItem(err, "type")->valuestring, "options");
    CHECK_STR(cJSON_GetObjectItem(err, "status")->valuestring, "error");
    cJSON *where = cJSON_GetObjectItem(err, "error");
    CHECK_STR(cJSON_GetObjectItem(where, "file")->valuestring, "objects.lua");
    CHECK_INT(cJSON_GetNumberValue(cJSON_GetObjectItem(where, "line")), 8);
    CHECK_STR(cJSON_GetObjectItem(where, "message")->valuestring, "options stay at home");
    cJSON_Delete(j);
    spec_resp_free(&r);

    /* a sample in no known shape is refused, saying which shapes are known */
    CHECK(spec_api(&s, "POST", "/api/mappings/objects/check",
                   "{\"source\":\"return {}\",\"events\":{\"event\":\"x\"}}", &r) == 0);
    CHECKF(r.status == 400 || r.status == 422, "status %ld", r.status);
    CHECK_CONTAINS(r.body, "events must be a list of objects");
    spec_resp_free(&r);
    cJSON_Delete(body);
    free(text);
    spec_server_stop(&s);
}
