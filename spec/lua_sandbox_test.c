/* lua_sandbox_test.c — the mapping sandbox: what a script cannot reach, budgets (and what the
 * library calls that run in C pay), memory cap, read-only tables, errors with file:line. */
#include <lauxlib.h>
#include <lualib.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "harness.h"
#include "mapping.h"
#include "test.h"

static struct mapping *compile(const char *src, struct err *e)
{
    char *dir = spec_test_dir("m");
    struct mapping *m = NULL;
    err_clear(e);
    mapping_compile_source("sandbox", dir, "scripts", src, strlen(src), NULL, &m, e);
    free(dir);
    return m;
}

/* Compiling src must fail with a message containing `needle`. */
static void expect_compile_error(const char *src, const char *needle)
{
    struct err e;
    struct mapping *m = compile(src, &e);
    if (m) {
        mapping_release(m);
        test_fail(__FILE__, __LINE__, "expected `%s` to fail to compile with \"%s\"", src, needle);
    }
    CHECK_INT(e.code, ERR_SCRIPT);
    if (!strstr(e.msg, needle))
        test_fail(__FILE__, __LINE__, "`%s`: expected an error containing \"%s\", saw \"%s\"", src,
                  needle, e.msg);
}

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

TEST(lua_sandbox_has_no_io_os_debug_or_loaders)
{
    expect_compile_error("return io.open('/etc/passwd')", "global 'io'");
    expect_compile_error("local x = os.execute('touch /tmp/dhis2sync-pwned') return {}",
                         "field 'execute'");
    CHECK(access("/tmp/dhis2sync-pwned", F_OK) != 0);
    expect_compile_error("os.exit(3) return {}", "field 'exit'");
    expect_compile_error("os.getenv('HOME') return {}", "field 'getenv'");
    expect_compile_error("os.remove('x') return {}", "field 'remove'");
    expect_compile_error("return load('return {}')()", "global 'load'");
    expect_compile_error("return loadstring('return {}')()", "global 'loadstring'");
    expect_compile_error("return dofile('/etc/passwd')", "global 'dofile'");
    expect_compile_error("return loadfile('/etc/passwd')()", "global 'loadfile'");
    expect_compile_error("collectgarbage('stop') return {}", "global 'collectgarbage'");
    expect_compile_error("return debug.getregistry()", "global 'debug'");
    expect_compile_error("return package.loadlib('x', 'y')", "global 'package'");
    expect_compile_error("return coroutine.create(print)", "global 'coroutine'");
    expect_compile_error("return string.dump(function() end)", "field 'dump'");
    expect_compile_error("return (''):dump()", "method 'dump'");
    expect_compile_error("return _G.io.stdout", "field 'io'");
    expect_compile_error("return require('io')", "module 'io' not found");
    expect_compile_error("return require('os').execute('id')", "module 'os' not found");
}

TEST(lua_sandbox_rejects_bytecode)
{
    /* a real binary chunk, made by a plain Lua state */
    lua_State *L = luaL_newstate();
    luaL_openlibs(L);
    CHECK(luaL_dostring(L, "return string.dump(function() return {} end)") == LUA_OK);
    size_t len;
    const char *bc = lua_tolstring(L, -1, &len);
    CHECK(bc && len > 4 && bc[0] == 0x1b);
    char *dir = spec_test_dir("m");
    struct mapping *m = NULL;
    struct err e;
    int rc = mapping_compile_source("bytecode", dir, "scripts", bc, len, NULL, &m, &e);
    lua_close(L);
    free(dir);
    CHECK_INT(rc, ERR_SCRIPT);
    CHECK(m == NULL);
    CHECK_CONTAINS(e.msg, "bytecode.lua");
    CHECK_CONTAINS(e.msg, "binary chunk");
}

TEST(lua_sandbox_locks_string_metatable_and_shared_tables)
{
    expect_compile_error("getmetatable('').__index = {upper = function() return 'x' end} return {}",
                         "attempt to index a boolean value");
    expect_compile_error("setmetatable('', {}) return {}", "bad argument #1 to 'setmetatable'");
    expect_compile_error("string.upper = function() return 'pwned' end return {}", "read-only");
    expect_compile_error("string.foo = 1 return {}", "read-only");
    expect_compile_error("table.insert = nil return {}", "read-only");
    expect_compile_error("math.huge = 1 return {}", "read-only");
    expect_compile_error("rawset(string, 'upper', print) return {}", "read-only");
    expect_compile_error("rawset(_G, 'x', 1) return {}", "read-only");
    expect_compile_error("rawset(_ENV, 'io', {}) return {}", "read-only");
    expect_compile_error("setmetatable(_G, {}) return {}", "protected metatable");
    expect_compile_error("local mt = getmetatable(_G) mt.__index = nil return {}",
                         "attempt to index a boolean value");
    expect_compile_error("setmetatable({}, {__gc = function() while true do end end}) return {}",
                         "__gc metamethods are not allowed");

    /* what is allowed still works: globals during load, string methods, os.time/date */
    struct err e;
    struct mapping *m = compile(
        "helper = function(v) return v:upper() end\n"
        "assert(getmetatable('') == false)\n"
        "assert(getmetatable(_G) == false)\n"
        "assert(os.time{year=2024, month=1, day=1, hour=0} > 0)\n"
        "assert(os.date('!%Y', 0) == '1970')\n"
        "assert(type(os.clock()) == 'number')\n"
        "assert(utf8.len('é') == 1 and math.floor(2.5) == 2 and #table.pack(1, 2) == 2)\n"
        "local n = 0 for k in pairs(string) do n = n + 1 end assert(n > 10)\n"
        "assert(('%d'):format(3) == '3' and ('10') + 1 == 11)\n"
        "return { transform = function(dv) dv.comment = helper('ok') return dv end }\n",
        &e);
    CHECKF(m != NULL, "compile failed: %s", e.msg);
    struct arena a = {0};
    struct datavalue out;
    CHECK_INT(mapping_apply(m, &sample, &out, &a, NULL, &e), MAP_OK);
    CHECK_STR(out.comment, "OK");
    mapping_release(m);
    arena_free(&a);
}

TEST(lua_sandbox_globals_are_read_only_after_load)
{
    struct err e;
    struct mapping *m = compile("counter = 0\n"
                                "return { transform = function(dv)\n"
                                "  counter = counter + 1\n"
                                "  return dv end }\n",
                                &e);
    CHECKF(m != NULL, "compile failed: %s", e.msg);
    struct arena a = {0};
    struct datavalue out;
    CHECK_INT(mapping_apply(m, &sample, &out, &a, NULL, &e), MAP_ERROR);
    CHECK_CONTAINS(e.msg, "sandbox.lua:3:");
    CHECK_CONTAINS(e.msg, "global 'counter'");
    mapping_release(m);
    arena_free(&a);
}

TEST(lua_sandbox_require_is_limited_to_scripts)
{
    expect_compile_error("return require('../etc/passwd')", "bad module name");
    expect_compile_error("return require('/etc/passwd')", "bad module name");
    expect_compile_error("return require('d2/../../host/x')", "bad module name");
    expect_compile_error("return require('d2..tables')", "bad module name");
    expect_compile_error("return require('d2.nosuch')", "module 'd2.nosuch' not found");
    expect_compile_error("return require(nil)", "bad argument #1 to 'require'");
    /* modules are cached per state and get the same sandbox */
    struct err e;
    struct mapping *m = compile("local a = require 'd2.tables'\n"
                                "local b = require 'd2.tables'\n"
                                "assert(a == b and type(a.csv) == 'function')\n"
                                "return {}\n",
                                &e);
    CHECKF(m != NULL, "compile failed: %s", e.msg);
    mapping_release(m);
}

TEST(lua_sandbox_csv_reads_only_beside_the_mapping)
{
    expect_compile_error("local t = require 'd2.tables'\nreturn { orgUnits = t.csv('../x.csv') }",
                         "sandbox.lua:2: t.csv: '../x.csv': only plain .csv file names");
    expect_compile_error("local t = require 'd2.tables'\nreturn { orgUnits = t.csv('/etc/passwd') }",
                         "only plain .csv");
    expect_compile_error("local t = require 'd2.tables'\nreturn { orgUnits = t.csv('passwd') }",
                         "only plain .csv");
    expect_compile_error("local t = require 'd2.tables'\nreturn { orgUnits = t.csv('absent.csv') }",
                         "sandbox.lua:2: t.csv: absent.csv: No such file");
    expect_compile_error("return host.read('x.csv')", "global 'host'");
}

/* How fast it stops is measured by bench/mapping_bench; here only that it stops, with a bound
 * far above the 500 ms limit that only a hang would pass. */
TEST_TIMEOUT(lua_sandbox_stops_an_endless_loop, 60)
{
    struct err e;
    struct mapping *m = compile("return { transform = function(dv)\n"
                                "  if dv.value == 'loop' then\n"
                                "    while true do end\n"
                                "  end\n"
                                "  return dv end }\n",
                                &e);
    CHECKF(m != NULL, "compile failed: %s", e.msg);
    struct arena a = {0};
    struct datavalue in = sample, out;
    in.value = "loop";
    double t0 = now_s();
    CHECK_INT(mapping_apply(m, &in, &out, &a, NULL, &e), MAP_ERROR);
    double took = now_s() - t0;
    CHECKF(took < 10.0, "did not stop: still running after %.1f s", took);
    CHECK_CONTAINS(e.msg, "sandbox.lua:3: stopped");
    /* the state is still usable */
    CHECK_INT(mapping_apply(m, &sample, &out, &a, NULL, &e), MAP_OK);
    mapping_release(m);

    /* pcall inside the script cannot swallow the stop */
    m = compile("return { transform = function(dv)\n"
                "  for i = 1, 1e12 do pcall(function() while true do end end) end\n"
                "  return dv end }\n",
                &e);
    CHECKF(m != NULL, "compile failed: %s", e.msg);
    t0 = now_s();
    CHECK_INT(mapping_apply(m, &sample, &out, &a, NULL, &e), MAP_ERROR);
    took = now_s() - t0;
    CHECKF(took < 10.0, "did not stop: still running after %.1f s", took);
    CHECK_CONTAINS(e.msg, "stopped");
    mapping_release(m);

    /* an endless loop at load time fails the compile */
    t0 = now_s();
    expect_compile_error("while true do end", "sandbox.lua:1: stopped");
    took = now_s() - t0;
    CHECKF(took < 12.0, "took %.3f s", took);
    arena_free(&a);
}

/* A small cap and generous clocks, so the cap is what stops the bombs even on a busy host. */
static struct mapping *compile_capped(const char *src, struct err *e)
{
    struct lua_host_limits lim;
    lua_host_default_limits(&lim);
    lim.mem_cap = 8u << 20;
    lim.call_ms = lim.load_ms = 20000;
    lim.call_instructions = lim.load_instructions = 1000000000;
    char *dir = spec_test_dir("m");
    struct mapping *m = NULL;
    err_clear(e);
    mapping_compile_source("sandbox", dir, "scripts", src, strlen(src), &lim, &m, e);
    free(dir);
    return m;
}

TEST_TIMEOUT(lua_sandbox_caps_memory, 60)
{
    const char *bombs[] = {
        "local t = {} for i = 1, 1e9 do t[i] = ('x'):rep(1000) .. i end return {}",
        "local t = {} for i = 1, 1e9 do t[i] = {i, i, i} end return {}",
        "local s = ('x'):rep(1 << 30) return {}",
        "local s = 'x' while true do s = s .. s end",
    };
    struct err e;
    for (size_t i = 0; i < sizeof bombs / sizeof bombs[0]; i++) {
        struct mapping *m = compile_capped(bombs[i], &e);
        CHECKF(m == NULL, "`%s` compiled", bombs[i]);
        CHECKF(strstr(e.msg, "sandbox.lua: memory cap of 8 MiB per mapping exceeded"),
               "`%s`: %s", bombs[i], e.msg);
    }
    /* a pcall in the script catching the memory error does not save the call */
    struct mapping *m = compile_capped(
        "return { transform = function(dv)\n"
        "  if dv.value ~= 'bomb' then return dv end\n"
        "  local ok = pcall(function() local t = {} for i = 1, 1e9 do t[i] = ('x'):rep(1 << 16) .. i end end)\n"
        "  assert(not ok)\n"
        "  return dv end }\n",
        &e);
    CHECKF(m != NULL, "compile failed: %s", e.msg);
    struct arena a = {0};
    struct datavalue in = sample, out;
    in.value = "bomb";
    for (int round = 0; round < 3; round++) {
        CHECK_INT(mapping_apply(m, &in, &out, &a, NULL, &e), MAP_ERROR);
        CHECK_CONTAINS(e.msg, "memory cap of 8 MiB");
        /* the state recovers: the bomb's garbage is collected */
        CHECK_INT(mapping_apply(m, &sample, &out, &a, NULL, &e), MAP_OK);
    }
    mapping_release(m);
    arena_free(&a);
}

TEST(lua_sandbox_runtime_errors_fail_only_their_values)
{
    struct err e;
    struct mapping *m = compile("-- values 'bad' break the arithmetic\n"
                                "return { transform = function(dv)\n"
                                "  if dv.value == 'boom' then error('custom failure') end\n"
                                "  dv.value = tostring(tonumber(dv.value) * 2)\n"
                                "  return dv end }\n",
                                &e);
    CHECKF(m != NULL, "compile failed: %s", e.msg);
    struct arena a = {0};
    const char *values[] = {"1", "bad", "3", "boom", "5"};
    int errors = 0;
    for (int i = 0; i < 5; i++) {
        struct datavalue in = sample, out;
        in.value = values[i];
        enum map_result r = mapping_apply(m, &in, &out, &a, NULL, &e);
        if (i == 1) {
            CHECK_INT(r, MAP_ERROR);
            CHECK_CONTAINS(e.msg, "sandbox.lua:4: attempt to perform arithmetic on a nil value");
            errors++;
        } else if (i == 3) {
            CHECK_INT(r, MAP_ERROR);
            CHECK_STR(e.msg, "sandbox.lua:3: custom failure");
            errors++;
        } else {
            CHECK_INT(r, MAP_OK);
            char want[8];
            snprintf(want, sizeof want, "%d", atoi(values[i]) * 2);
            CHECK_STR(out.value, want);
        }
    }
    CHECK_INT(errors, 2);
    mapping_release(m);

    /* a compile error says where */
    expect_compile_error("local x = \nreturn {", "sandbox.lua:2:");
    expect_compile_error("return 42", "must return a table");
    expect_compile_error("return { dataElement = {} }", "unknown field 'dataElement'");
    expect_compile_error("return { dataElements = { a = 1 } }", "must be an id");
    expect_compile_error("return { unmapped = 'drop' }", "unmapped must be");
    expect_compile_error("error({code = 1})", "error object is a table value");
    arena_free(&a);
}

TEST_TIMEOUT(lua_sandbox_wall_clock_limit_stops_slow_c_calls, 20)
{
    /* few instructions, each a slow C call: counted as one instruction each, they would run
     * ~10 s before the hook looks at the clock */
    struct err e;
    struct mapping *m = compile("return { transform = function(dv)\n"
                                "  for i = 1, 1e6 do local s = ('x'):rep(200000) end\n"
                                "  return dv end }\n",
                                &e);
    CHECKF(m != NULL, "compile failed: %s", e.msg);
    struct arena a = {0};
    struct datavalue out;
    double t0 = now_s();
    CHECK_INT(mapping_apply(m, &sample, &out, &a, NULL, &e), MAP_ERROR);
    double took = now_s() - t0;
    CHECKF(took < 10.0, "did not stop: still running after %.1f s", took);
    CHECK_CONTAINS(e.msg, "sandbox.lua:2: stopped: ");
    mapping_release(m);
    arena_free(&a);
}

TEST(lua_sandbox_mappings_do_not_share_state)
{
    struct err e;
    struct mapping *a = compile("shared = 'from a'\n"
                                "local t = require 'd2.tables'\n"
                                "return { transform = function(dv) dv.comment = shared return dv end }\n",
                                &e);
    CHECKF(a != NULL, "compile failed: %s", e.msg);
    struct mapping *b = compile("assert(shared == nil)\n"
                                "local t = require 'd2.tables'\n"
                                "return { transform = function(dv) dv.comment = tostring(shared) return dv end }\n",
                                &e);
    CHECKF(b != NULL, "compile failed: %s", e.msg);
    struct arena ar = {0};
    struct datavalue out;
    CHECK_INT(mapping_apply(a, &sample, &out, &ar, NULL, &e), MAP_OK);
    CHECK_STR(out.comment, "from a");
    CHECK_INT(mapping_apply(b, &sample, &out, &ar, NULL, &e), MAP_OK);
    CHECK_STR(out.comment, "nil");
    mapping_release(a);
    mapping_release(b);
    arena_free(&ar);
}

/* A transform whose line 2 is `body`. */
static struct mapping *compile_transform(const char *body, struct err *e)
{
    char src[1024];
    snprintf(src, sizeof src, "return { transform = function(dv)\n%s\nreturn dv end }\n", body);
    return compile(src, e);
}

/* `body` in a transform must fail with an error containing `needle`, and stop far
 * sooner than a hang would (the limit is 500 ms; the bound only catches hangs: on a loaded
 * host, half a second of CPU can take many seconds). The state is
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
    CHECKF(took < 30.0, "`%s` ran %.1f s", body, took);
    CHECKF(strstr(e.msg, needle) != NULL, "`%s`: expected \"%s\", saw \"%s\"", body, needle,
           e.msg);
    struct mapping *ok = compile_transform("local x = ('ab'):rep(3):gsub('b', 'c')", &e);
    CHECK_INT(mapping_apply(ok, &sample, &out, &a, NULL, &e), MAP_OK);
    mapping_release(ok);
    mapping_release(m);
    arena_free(&a);
}

#define STOPPED "sandbox.lua:2: stopped: " /* the instruction budget or the time limit */
#define OVER_CAP "sandbox.lua: memory cap of 64 MiB per mapping exceeded"

TEST_TIMEOUT(lua_sandbox_the_issue_examples_stop_within_the_call_budget, 300)
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

TEST_TIMEOUT(lua_sandbox_every_long_library_call_pays_for_its_work, 600)
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
    expect_call_error("table.insert(setmetatable({}, {__len = function() return 1 << 40 end}), 1, 'x')", "sandbox.lua:2: table.insert/remove/sort do not take a table with a __len");
    expect_call_error("table.remove(setmetatable({}, {__len = function() return 1 << 40 end}), 1)", "sandbox.lua:2: table.insert/remove/sort do not take a table with a __len");
    expect_call_error("table.sort(setmetatable({}, {__len = function() return 1 << 40 end, __index = rawlen}))", "sandbox.lua:2: table.insert/remove/sort do not take a table with a __len");
    /* functions linear in the bytes they handle, in loops the hook alone would let run for
     * minutes (it counts each call as one instruction) */
    expect_call_error("local s = ('x'):rep(1 << 24) for i = 1, 1e9 do local _ = s:upper() end", STOPPED);
    expect_call_error("local s = ('x'):rep(1 << 24) for i = 1, 1e9 do local _ = s:sub(2) end", STOPPED);
    expect_call_error("local s = ('x'):rep(1 << 24) for i = 1, 1e9 do utf8.len(s) end", STOPPED);
    expect_call_error("local s = ('1'):rep(1 << 24) for i = 1, 1e9 do tonumber(s) end", STOPPED);
    expect_call_error("local t = {('x'):rep(1 << 23), 'y'} for i = 1, 1e9 do table.concat(t) end", STOPPED);
    expect_call_error("local s = ('x'):rep(1 << 22) for i = 1, 1e9 do s:format() end", STOPPED);
    /* format widths are refused by Lua itself */
    expect_call_error("string.format('%099999d', 1)", "sandbox.lua:2: invalid conversion");
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

TEST(lua_sandbox_read_only_tables_cannot_be_unwrapped)
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
