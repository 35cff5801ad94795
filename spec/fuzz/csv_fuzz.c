/* csv_fuzz.c — the CSV lookup tables a mapping reads with t.csv (scripts/d2/tables.lua, run in
 * the sandbox of lua_host.c). Input: one byte choosing t.csv's options, then the file. Files
 * come from mapping authors, who are trusted to run sandboxed code but whose tables may be
 * exported from anywhere; a table must fail with a message, never crash or hang the host.
 * Runs from the repository's root (scripts/ is read from there). */
#include <sys/stat.h>
#include <unistd.h>

#include "fuzz.h"
#include "lua_host.h"

/* The mapping's folder: named once, made again for each input and removed after it (the
 * suite's test processes end without atexit); mkdir fails if anyone else took the name. */
static char dir[64], path[96];

static void write_table(const uint8_t *data, size_t size)
{
    if (!dir[0]) {
        snprintf(dir, sizeof dir, "/tmp/dhis2sync-fuzz-csv-XXXXXX");
        FUZZ_ASSERT(mkdtemp(dir));
        snprintf(path, sizeof path, "%s/t.csv", dir);
    } else {
        FUZZ_ASSERT(mkdir(dir, 0700) == 0);
    }
    FILE *f = fopen(path, "wb");
    FUZZ_ASSERT(f);
    FUZZ_ASSERT(fwrite(data, 1, size, f) == size || size == 0);
    FUZZ_ASSERT(fclose(f) == 0);
}

int fuzz_csv(const uint8_t *data, size_t size)
{
    if (size < 1)
        return 0;
    static const char *const header[] = {"nil", "true", "false", "nil"};
    static const char *const column[] = {"nil", "1", "2", "3", "'source'", "'to'", "'x'", "0"};
    unsigned o = data[0];
    char src[256];
    snprintf(src, sizeof src,
             "local t = require \"d2.tables\"\n"
             "local m = t.csv(\"t.csv\", {header = %s, from = %s, to = %s})\n"
             "local n = 0\n"
             "for k, v in pairs(m) do assert(type(k) == \"string\") n = n + 1 end\n"
             "return n\n",
             header[o & 3], column[o >> 2 & 7], column[o >> 5 & 7]);
    write_table(data + 1, size - 1);
    struct err e = {0};
    /* one state for every input, as a mapping's state serves a whole run */
    static struct lua_host *h;
    if (!h) {
        struct lua_host_limits lim;
        lua_host_default_limits(&lim);
        /* well inside libFuzzer's -timeout, so that a slow table is a script error, as in a run */
        lim.load_instructions = 20000000;
        lim.load_ms = 2000;
        FUZZ_ASSERT((h = lua_host_new("fuzz", dir, "scripts", &lim, &e)));
    }
    if (lua_host_run_chunk(h, "fuzz.lua", src, strlen(src), &e) == 0)
        lua_pop(lua_host_state(h), 1);
    else
        FUZZ_ASSERT(e.msg[0] && !strstr(e.msg, "attempt to")); /* t.csv's own bugs show as these */
    /* frees this input's garbage now: libFuzzer looks for leaks after any input that mallocs
     * more than it frees, and that search is slow */
    lua_gc(lua_host_state(h), LUA_GCCOLLECT);
    unlink(path);
    rmdir(dir);
    return 0;
}
