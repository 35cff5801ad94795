/* lua_bounds_test.c — the library calls of the sandbox that run in C are held to the call's
 * budget; the read-only tables cannot be unwrapped; a slow mapping blocks nobody else. */
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <time.h>
#include <unistd.h>

#include "harness.h"
#include "mapping.h"
#include "sched_util.h"
#include "test.h"

static const struct datavalue sample = {
    .data_element = "fbfJHSPpUQD", .period = "202401", .org_unit = "DiszpKrYNg8",
    .category_option_combo = "pq2XI5kz2BY", .attribute_option_combo = "HllvX50cXC0",
    .value = "12",
};

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}

static struct mapping *compile(const char *src, struct err *e)
{
    char *dir = spec_test_dir("m");
    struct mapping *m = NULL;
    err_clear(e);
    mapping_compile_source("bounds", dir, "scripts", src, strlen(src), NULL, &m, e);
    free(dir);
    return m;
}

/* A transform whose line 2 is `body`. */
static struct mapping *compile_transform(const char *body, struct err *e)
{
    char src[1024];
    snprintf(src, sizeof src, "return { transform = function(dv)\n%s\nreturn dv end }\n", body);
    return compile(src, e);
}

/* `body` in a transform must fail with an error containing `needle`, and stop far
 * sooner than a hang would (the limit is 500 ms; the bound only catches hangs). The state is
 * still usable afterwards. */
static void expect_call_error(const char *body, const char *needle)
{
    struct err e;
    struct mapping *m = compile_transform(body, &e);
    CHECKF(m != NULL, "`%s`: compile failed: %s", body, e.msg);
    if (!m)
        return;
    struct arena a = {0};
    struct datavalue out;
    double t0 = now_s();
    enum map_result r = mapping_apply(m, &sample, &out, &a, NULL, &e);
    double took = now_s() - t0;
    CHECKF(r == MAP_ERROR, "`%s` did not fail", body);
    CHECKF(took < 5.0, "`%s` ran %.1f s", body, took);
    CHECKF(strstr(e.msg, needle) != NULL, "`%s`: expected \"%s\", saw \"%s\"", body, needle,
           e.msg);
    struct mapping *ok = compile_transform("local x = ('ab'):rep(3):gsub('b', 'c')", &e);
    CHECK_INT(mapping_apply(ok, &sample, &out, &a, NULL, &e), MAP_OK);
    mapping_release(ok);
    mapping_release(m);
    arena_free(&a);
}

#define STOPPED "bounds.lua:2: stopped: " /* the instruction budget or the time limit */
#define OVER_CAP "bounds.lua: memory cap of 64 MiB per mapping exceeded"

TEST_TIMEOUT(lua_bounds_the_issue_examples_stop_within_the_call_budget, 120)
{
    expect_call_error("table.move({}, 1, 1 << 30, 1, {})", STOPPED);
    expect_call_error("local s = ('a'):rep(40) s:match(('a?'):rep(40) .. ('a'):rep(40))", STOPPED);
    expect_call_error("local s = ('a'):rep(1 << 20) s:match(('a'):rep(1 << 19) .. 'b')", STOPPED);
    expect_call_error("local s = ('a'):rep(1 << 20) s:gsub(('a'):rep(1 << 19) .. 'b', '')", STOPPED);
    expect_call_error("string.rep('x', 1 << 40)", OVER_CAP);
    expect_call_error("string.rep('', 1 << 40, 'x')", OVER_CAP);
    /* an empty result is made at once (Lua's own rep loops 2^40 times to make it) */
    struct err e;
    struct mapping *m = compile_transform("dv.value = 'x' .. string.rep('', 1 << 40) .. ('').rep('', 1 << 50)", &e);
    CHECKF(m != NULL, "compile failed: %s", e.msg);
    struct arena a = {0};
    struct datavalue out;
    CHECK_INT(mapping_apply(m, &sample, &out, &a, NULL, &e), MAP_OK);
    CHECK_STR(out.value, "x");
    mapping_release(m);
    arena_free(&a);
}

TEST_TIMEOUT(lua_bounds_every_long_library_call_pays_for_its_work, 180)
{
    /* backtracking in each pattern function, directly and through a string's methods */
    expect_call_error("local s = ('a'):rep(100000) s:find('.-.-.-.-b')", STOPPED);
    expect_call_error("local s = ('a'):rep(100000) string.match(s, '(.*)(.*)(.*)b')", STOPPED);
    expect_call_error("for w in ('a'):rep(1000000):gmatch('a-b') do end", STOPPED);
    expect_call_error("('a'):rep(100000):gsub('a*a*a*b', '%0')", STOPPED);
    expect_call_error("for i = 1, 1e9 do ('('):rep(100000):find('%b()') end", STOPPED); /* the balance is paid per byte */
    expect_call_error("pcall(string.find, ('a'):rep(100000), '.-.-.-.-b') error('after')", STOPPED);
    /* table functions: the range is paid before the loop */
    expect_call_error("table.concat(setmetatable({}, {__index = function() return '' end}), '', 1, 1 << 40)", STOPPED);
    expect_call_error("table.concat({}, '', 1, 1 << 40)", STOPPED);
    expect_call_error("table.unpack({}, 1, 1 << 40)", STOPPED);
    expect_call_error("table.unpack(setmetatable({}, {__len = function() return 1 << 40 end}))", STOPPED);
    expect_call_error("table.move({}, math.mininteger, -2, 1)", STOPPED);
    expect_call_error("table.insert(setmetatable({}, {__len = function() return 1 << 40 end}), 1, 'x')", "bounds.lua:2: table.insert/remove/sort do not take a table with a __len");
    expect_call_error("table.remove(setmetatable({}, {__len = function() return 1 << 40 end}), 1)", "bounds.lua:2: table.insert/remove/sort do not take a table with a __len");
    expect_call_error("table.sort(setmetatable({}, {__len = function() return 1 << 40 end, __index = rawlen}))", "bounds.lua:2: table.insert/remove/sort do not take a table with a __len");
    /* functions linear in the bytes they handle, in loops the hook alone would let run for
     * minutes (it counts each call as one instruction) */
    expect_call_error("local s = ('x'):rep(1 << 24) for i = 1, 1e9 do local _ = s:upper() end", STOPPED);
    expect_call_error("local s = ('x'):rep(1 << 24) for i = 1, 1e9 do local _ = s:sub(2) end", STOPPED);
    expect_call_error("local s = ('x'):rep(1 << 24) for i = 1, 1e9 do utf8.len(s) end", STOPPED);
    expect_call_error("local s = ('1'):rep(1 << 24) for i = 1, 1e9 do tonumber(s) end", STOPPED);
    expect_call_error("local t = {('x'):rep(1 << 23), 'y'} for i = 1, 1e9 do table.concat(t) end", STOPPED);
    expect_call_error("local s = ('x'):rep(1 << 22) for i = 1, 1e9 do s:format() end", STOPPED);
    /* format widths are refused by Lua itself */
    expect_call_error("string.format('%099999d', 1)", "bounds.lua:2: invalid conversion");
    /* a long pcall'ed series of cheap-looking calls still ends */
    expect_call_error("local s = ('ab'):rep(50000) for i = 1, 1e9 do pcall(s.find, s, 'b', 1, true) end", STOPPED);

    /* ordinary uses pass unchanged */
    struct err e;
    struct mapping *m = compile(
        "local s = ('a'):rep(1000000)\n"
        "assert(s:find('b', 1, true) == nil and s:find('[,\\n]') == nil)\n"
        "assert(('  x  '):match('^%s*(.-)%s*$') == 'x')\n"
        "assert(('202401'):match('^(%d%d%d%d)(%d%d)$') == '2024')\n"
        "assert(select(2, ('a,b,c'):gsub(',', ';')) == 2 and ('a,b,c'):gsub(',', ';') == 'a;b;c')\n"
        "assert(('hello world'):gsub('(%w+)', '<%1>') == '<hello> <world>')\n"
        "assert(('abc'):gsub('%w', {a = 1, b = false}) == '1bc')\n"
        "assert(('x = 1, y = 2'):gsub('(%w+) = (%w+)', '%2 = %1') == '1 = x, 2 = y')\n"
        "assert(('THE (quick) fox'):find('%((%a+)%)') == 5)\n"
        "assert(select(3, ('THE (quick) fox'):find('%((%a+)%)')) == 'quick')\n"
        "assert(('f(a(b)c)d'):match('%b()') == '(a(b)c)')\n"
        "assert(('THE (quick) fox'):find('%f[%a]%a+%f[%A]', 5) == 6)\n"
        "assert(('hello'):match('()ll()') == 3)\n"
        "assert(('aaa'):match('^(a-)a$') == 'aa')\n"
        "assert(('abcabc'):match('(abc)%1') == 'abc')\n"
        "assert(('key=val'):match('(%w+)=(%w*)$') == 'key')\n"
        "assert(('x'):find('') == 1 and ('x'):find('', 10) == nil and ('abc'):find('c', -1) == 3)\n"
        "local n = 0 for k, v in ('a=1,b=2'):gmatch('(%w)=(%w)') do n = n + v end assert(n == 3)\n"
        "local w = {} for x in ('one two'):gmatch('%a+') do w[#w + 1] = x end assert(#w == 2)\n"
        "assert(('abc'):gsub('', '-') == '-a-b-c-')\n"
        "assert(('hello world'):gsub('o', '0', 1) == 'hell0 world')\n"
        "assert(not pcall(string.find, 'a', '(') and not pcall(string.gsub, 'a', 'a', '%2'))\n"
        "assert(('ab'):rep(3, ',') == 'ab,ab,ab' and ('ab'):rep(1, ',') == 'ab' and ('ab'):rep(0) == '')\n"
        "local t = {3, 1, 2} table.sort(t) assert(table.concat(t, ',') == '1,2,3')\n"
        "table.sort(t, function(a, b) return a > b end) assert(table.concat(t) == '321')\n"
        "table.insert(t, 4) table.insert(t, 1, 0) assert(table.concat(t) == '03214')\n"
        "assert(table.remove(t) == 4 and table.remove(t, 1) == 0 and #t == 3)\n"
        "assert(select('#', table.unpack({1, 2, 3})) == 3 and table.unpack({1, 2, 3}, 2, 3) == 2)\n"
        "assert(table.concat(table.move({1, 2, 3}, 1, 3, 2, {}), ',', 2, 4) == '1,2,3')\n"
        "assert(table.concat({1, 2, 3}, '-', 2) == '2-3')\n"
        "return {}\n",
        &e);
    CHECKF(m != NULL, "compile failed: %s", e.msg);
    mapping_release(m);
}

TEST(lua_bounds_read_only_tables_cannot_be_unwrapped)
{
    struct err e;
    struct mapping *m = compile(
        "seen = 0\n"
        "return { transform = function(dv)\n"
        "  if dv.value == 'env' then local _, G = pairs(_ENV) G.seen = 1 end\n"
        "  if dv.value == 'string' then local _, S = pairs(string) S.upper = nil end\n"
        "  if dv.value == 'raw' then local _, S = pairs(string) rawset(S, 'upper', nil) end\n"
        "  if dv.value == 'meta' then getmetatable('').__index.upper = nil end\n"
        "  if dv.value == 'table' then local _, T = pairs(table) T.concat = nil end\n"
        "  if dv.value == 'next' then local f, s = pairs(_G) assert(s ~= nil) f(s, nil) rawset(s, 'seen', 2) end\n"
        "  dv.comment = tostring(seen) .. (('a'):upper()) .. table.concat({'b'})\n"
        "  local n = 0 for k, v in pairs(string) do n = n + 1 end\n"
        "  assert(n > 10 and getmetatable('') == false)\n"
        "  return dv end }\n",
        &e);
    CHECKF(m != NULL, "compile failed: %s", e.msg);
    struct arena a = {0};
    struct datavalue in = sample, out;
    const char *attacks[] = {"env", "string", "raw", "meta", "table", "next"};
    for (size_t i = 0; i < sizeof attacks / sizeof attacks[0]; i++) {
        in.value = attacks[i];
        CHECKF(mapping_apply(m, &in, &out, &a, NULL, &e) == MAP_ERROR, "attack '%s' did not fail",
               attacks[i]);
        /* nothing leaked into the next call */
        CHECK_INT(mapping_apply(m, &sample, &out, &a, NULL, &e), MAP_OK);
        CHECK_STR(out.comment, "0Ab");
    }
    mapping_release(m);
    arena_free(&a);
}

static int log_contains(const char *path, const char *needle)
{
    FILE *f = fopen(path, "r");
    if (!f)
        return 0;
    char line[4096];
    int found = 0;
    while (!found && fgets(line, sizeof line, f))
        found = strstr(line, needle) != NULL;
    fclose(f);
    return found;
}

struct put {
    struct spec_server *s;
    const char *name, *source;
    long status;
    char body[300];
    atomic_int done;
};

static void put_mapping(struct put *p)
{
    char url[256], auth[200];
    snprintf(url, sizeof url, "%s/api/mappings/%s", p->s->base, p->name);
    snprintf(auth, sizeof auth, "Authorization: Bearer %s", p->s->token);
    const char *headers[] = {auth, "Content-Type: text/x-lua", NULL};
    struct spec_resp r = {0};
    p->status = spec_http("PUT", url, headers, p->source, strlen(p->source), &r) == 0 ? r.status : -1;
    snprintf(p->body, sizeof p->body, "%s", r.body ? r.body : "");
    spec_resp_free(&r);
    atomic_store(&p->done, 1);
}

static void *put_thread(void *arg)
{
    put_mapping(arg);
    return NULL;
}

/* Compiling a mapping holds no lock another mapping, a run or a request needs: while a PUT of
 * a mapping whose file takes seconds to load is compiling, a PUT of another mapping and the
 * list of mappings are answered. */
TEST_TIMEOUT(lua_bounds_a_slow_mapping_put_does_not_hold_up_another, 120)
{
    struct spec_server s;
    CHECK(spec_server_start(&s, spec_new_db(), NULL) == 0);
    struct put slow = {.s = &s, .name = "slow",
                       .source = "print('slow mapping: compiling')\n"
                                 "local t0 = os.time() while os.time() - t0 < 3 do local _ = ('x'):rep(100000) end\n"
                                 "return {}\n"};
    struct put other = {.s = &s, .name = "other",
                        .source = "return { dataElements = { a = 'b' } }\n"};
    pthread_t t;
    CHECK(pthread_create(&t, NULL, put_thread, &slow) == 0);
    double t0 = now_s();
    while (!log_contains(s.log_path, "slow mapping: compiling") && now_s() - t0 < 30)
        usleep(20000);
    CHECKF(log_contains(s.log_path, "slow mapping: compiling"), "the slow PUT never started");
    put_mapping(&other);
    CHECKF(other.status == 200, "PUT other: %ld %s", other.status, other.body);
    struct spec_resp r = {0};
    CHECK(spec_api(&s, "GET", "/api/mappings", NULL, &r) == 0);
    CHECK_INT(r.status, 200);
    CHECK_CONTAINS(r.body, "\"other\"");
    spec_resp_free(&r);
    CHECKF(!atomic_load(&slow.done), "the other PUT waited for the slow one to finish");
    pthread_join(t, NULL);
    CHECKF(slow.status == 200, "PUT slow: %ld %s", slow.status, slow.body);
    spec_server_stop(&s);
}

/* `dhis2sync check` on a mapping stuck in a library call answers at once, naming the mapping
 * and the line, and exits 1. */
TEST_TIMEOUT(lua_bounds_check_names_the_mapping_and_line_of_a_stuck_call, 120)
{
    const char *stuck[] = {
        "table.move({}, 1, 1 << 30, 1, {})",
        "local s = ('x'):rep(1 << 40)",
        "local s = ('a'):rep(40) s:match(('a?'):rep(40) .. ('a'):rep(40))",
        "local s = ('a'):rep(1 << 20) s:find(('a'):rep(1 << 19) .. 'b.')",
    };
    const char *expect[] = {"stuck0.lua:3: stopped", "stuck1.lua: memory cap",
                            "stuck2.lua:3: stopped", "stuck3.lua:3: stopped"};
    char *dir = spec_test_dir("check");
    char *bin = spec_bin("dhis2sync");
    for (size_t i = 0; i < sizeof stuck / sizeof stuck[0]; i++) {
        char path[PATH_MAX + 32], *cmd = NULL, *out = NULL;
        snprintf(path, sizeof path, "%s/stuck%zu.lua", dir, i);
        FILE *f = fopen(path, "w");
        CHECK(f != NULL);
        fprintf(f, "return {\n  transform = function(dv)\n    %s\n    return dv end }\n", stuck[i]);
        fclose(f);
        if (asprintf(&cmd, "'%s' check '%s' --sample spec/fixtures/mappings/age_bands_sample.json 2>&1",
                     bin, path) < 0)
            abort();
        char *sh[] = {"/bin/sh", "-c", cmd, NULL};
        char *env[] = {"DATABASE_URL=postgresql://nobody@127.0.0.1:1/none", NULL};
        CHECK_INT(spec_run(sh, env, NULL, &out), 1);
        CHECKF(out && strstr(out, expect[i]), "check of `%s`: expected \"%s\" in:\n%s", stuck[i],
               expect[i], out ? out : "");
        free(out);
        free(cmd);
    }
    free(bin);
    free(dir);
}

/* A run whose mapping spends each value's whole time limit (400 values: minutes) ends
 * `cancelled` soon after a cancel: the call in progress sees the request, not only the end of
 * the batch of values it is in. */
TEST_TIMEOUT(lua_bounds_a_cancelled_run_with_a_stuck_mapping_ends_cancelled, 180)
{
    struct su_emu src, dst;
    su_emu_start(&src, 400, 5, 17);
    su_emu_start(&dst, 0, 5, 17);
    char *db = spec_new_db();
    struct spec_server s;
    char *const env[] = {"DHIS2SYNC_WORKERS=1", "DHIS2SYNC_HEARTBEAT_MS=200", NULL};
    CHECK(spec_server_start(&s, db, env) == 0);
    PGconn *c = su_db(db);
    su_instance(&s, "src", src.url);
    su_instance(&s, "dst", dst.url);
    struct put stuck = {.s = &s, .name = "stuck",
                        .source = "return {\n"
                                  "  sample = { dataElement = 'a', period = '202401', orgUnit = 'b', value = 'canary' },\n"
                                  "  transform = function(dv)\n"
                                  "    if dv.value == 'canary' then return dv end\n"
                                  "    while true do local _ = ('x'):rep(1000) end\n"
                                  "  end }\n"};
    put_mapping(&stuck);
    CHECKF(stuck.status == 200, "PUT stuck: %ld %s", stuck.status, stuck.body);
    /* one date window: one chunk, all 400 values in one batch */
    char body[1024];
    snprintf(body, sizeof body,
             "{\"name\":\"stuck\",\"source\":\"src\",\"target\":\"dst\",\"mapping\":\"stuck\","
             "\"dataSets\":[\"%s\"],\"orgUnits\":[\"%s\"],\"children\":true,"
             "\"periods\":{\"start\":\"2000-01-01\",\"end\":\"2035-12-31\"}}",
             src.ds_monthly, src.root);
    cJSON *job = su_call(&s, "POST", "/api/jobs", body, 201);
    char path[64];
    snprintf(path, sizeof path, "/api/jobs/%d/run", (int)su_num(job, "id"));
    cJSON_Delete(job);
    cJSON *run = su_call(&s, "POST", path, "{}", 202);
    int id = (int)su_num(run, "id");
    cJSON_Delete(run);
    su_wait_sql(c, 60000, "running", "SELECT status FROM runs WHERE id = %d", id);
    sleep(2); /* the values are fetched in milliseconds: the run is in its transforms now */
    snprintf(path, sizeof path, "/api/runs/%d/cancel", id);
    cJSON_Delete(su_call(&s, "POST", path, NULL, 202));
    /* without the call seeing it: the rest of the batch first, ~400 x 500 ms */
    su_wait_sql(c, 30000, "cancelled", "SELECT status FROM runs WHERE id = %d", id);
    snprintf(path, sizeof path, "/api/runs/%d", id);
    cJSON *got = su_call(&s, "GET", path, NULL, 200);
    CHECK_STR(su_str(got, "error"), "cancelled on request");
    cJSON_Delete(got);
    PQfinish(c);
    spec_server_stop(&s);
    su_emu_stop(&src);
    su_emu_stop(&dst);
}
