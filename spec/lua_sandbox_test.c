/* lua_sandbox_test.c — the mapping sandbox: what a script cannot reach, budgets, memory cap,
 * errors with file:line. */
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
