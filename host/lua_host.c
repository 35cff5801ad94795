/* lua_host.c — sandboxed Lua states for mappings. See lua_host.h and scripts/README.md. */
#include "lua_host.h"

#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <lauxlib.h>
#include <limits.h>
#include <lualib.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "log.h"
#include "lua_bounded.h"

enum { HOOK_STEP = 1000, MAX_FORGIVEN = 8 };
enum stop_reason { STOP_NONE, STOP_BUDGET, STOP_TIME, STOP_CANCEL };

struct lua_host {
    lua_State *L;
    struct lua_host_limits lim;
    /* allocator: bytes held, refusals that were not undone by Lua's emergency GC */
    size_t used;
    int cap_hits;
    int forgiven;   /* refusals undone by an emergency GC in this call */
    int retry_armed;
    const void *retry_ptr;
    size_t retry_osize, retry_nsize;
    /* budget of the current call */
    long budget_left;
    long unchecked; /* spent by library functions since the clock was last read */
    long budget_total;
    int budget_ms;
    struct timespec deadline;
    int deadline_set;
    int stopped;
    char stop_where[200];
    int in_load;
    /* registry references */
    int env_ref;    /* the proxy every chunk gets as _ENV */
    int envmt_ref;  /* its metatable (frozen by lua_host_freeze) */
    int loaded_ref; /* modules already required */
    int hostlib_ref;/* the table handed to scripts/ modules */
    const struct mapping_lookup *lookup;
    uint64_t digest;
    char name[128];
    char chunkname[160];
    char mapping_dir[PATH_MAX];
    char scripts_dir[PATH_MAX];
};

static char loading_sentinel;

/* ---------------------------------------------------------------- small helpers */

uint64_t lua_host_fnv1a(uint64_t seed, const void *data, size_t len)
{
    uint64_t h = seed ? seed : 1469598103934665603ULL;
    const unsigned char *p = data;
    for (size_t i = 0; i < len; i++) {
        h ^= p[i];
        h *= 1099511628211ULL;
    }
    return h;
}

void lua_host_default_limits(struct lua_host_limits *lim)
{
    lim->mem_cap = 64u << 20;
    lim->call_instructions = 5000000;
    lim->call_ms = 500;
    lim->load_instructions = 500000000;
    lim->load_ms = 10000;
}

static struct lua_host *host_of(lua_State *L)
{
    void *ud = NULL;
    lua_getallocf(L, &ud);
    return ud;
}

int lua_host_error_location(const char *msg, char *file, size_t size, int *line,
                            const char **rest)
{
    if (size)
        file[0] = '\0';
    *line = 0;
    *rest = msg;
    if (!msg)
        return -1;
    for (const char *p = msg; *p && *p != '\n'; p++) {
        if (*p == ' ')
            return -1;
        if (*p != ':' || p == msg)
            continue;
        const char *d = p + 1;
        long n = 0;
        while (isdigit((unsigned char)*d) && n < 100000000)
            n = n * 10 + (*d++ - '0');
        if (d == p + 1 || *d != ':')
            continue;
        size_t flen = (size_t)(p - msg);
        if (flen >= size)
            return -1;
        memcpy(file, msg, flen);
        file[flen] = '\0';
        *line = (int)n;
        d++;
        while (*d == ' ')
            d++;
        *rest = d;
        return 0;
    }
    return -1;
}

/* ---------------------------------------------------------------- memory */

static void *host_alloc(void *ud, void *ptr, size_t osize, size_t nsize)
{
    struct lua_host *h = ud;
    size_t old = ptr ? osize : 0;
    if (nsize == 0) {
        free(ptr);
        h->used -= old;
        return NULL;
    }
    if (nsize > old && nsize - old > h->lim.mem_cap - (h->used < h->lim.mem_cap ? h->used : h->lim.mem_cap)) {
        /* Refuse. Lua then runs an emergency collection and asks again with the same
         * arguments; if that second try fits, the refusal is forgiven below. */
        int again = h->retry_armed && h->retry_ptr == ptr && h->retry_osize == osize &&
                    h->retry_nsize == nsize;
        if (!again)
            h->cap_hits++;
        /* after a few forgiven refusals, a state living at its cap would spend its time in
         * full collections: stop forgiving */
        h->retry_armed = !again && h->forgiven < MAX_FORGIVEN;
        h->retry_ptr = ptr;
        h->retry_osize = osize;
        h->retry_nsize = nsize;
        return NULL;
    }
    void *p = realloc(ptr, nsize);
    if (!p)
        return NULL;
    if (h->retry_armed) {
        if (h->retry_ptr == ptr && h->retry_osize == osize && h->retry_nsize == nsize) {
            h->cap_hits--;
            h->forgiven++;
        }
        h->retry_armed = 0;
    }
    h->used = h->used - old + nsize;
    return p;
}

static int host_panic(lua_State *L)
{
    const char *msg = lua_tostring(L, -1);
    log_error("lua: unprotected error (a bug in the host, not in the mapping): %s",
              msg ? msg : "?");
    abort();
}

static void host_warn(void *ud, const char *msg, int tocont)
{
    (void)tocont;
    struct lua_host *h = ud;
    log_warn("mapping %s: lua warning: %s", h->name, msg);
}

/* ---------------------------------------------------------------- budget */

static void now_mono(struct timespec *ts) { clock_gettime(CLOCK_MONOTONIC, ts); }

static int past(const struct timespec *deadline)
{
    struct timespec now;
    now_mono(&now);
    return now.tv_sec > deadline->tv_sec ||
           (now.tv_sec == deadline->tv_sec && now.tv_nsec >= deadline->tv_nsec);
}

static void host_hook(lua_State *L, lua_Debug *ar);

static void start_clock(struct lua_host *h)
{
    now_mono(&h->deadline);
    h->deadline.tv_sec += h->budget_ms / 1000;
    h->deadline.tv_nsec += (long)(h->budget_ms % 1000) * 1000000L;
    if (h->deadline.tv_nsec >= 1000000000L) {
        h->deadline.tv_sec++;
        h->deadline.tv_nsec -= 1000000000L;
    }
    h->deadline_set = 1;
}

/* Records where the call stopped and makes every following instruction raise, so a pcall in
 * the script cannot go on. level: the first stack level to blame (0 in a hook); C functions
 * on the way (a library call, pcall) are skipped for the Lua line that called them. */
static void stop_call(lua_State *L, struct lua_host *h, int reason, lua_Debug *ar, int level)
{
    lua_Debug local;
    h->stopped = reason;
    if (ar && !(lua_getinfo(L, "Sl", ar) && ar->currentline > 0))
        ar = NULL;
    for (; !ar && lua_getstack(L, level, &local); level++)
        if (lua_getinfo(L, "Sl", &local) && local.currentline > 0)
            ar = &local;
    if (ar)
        snprintf(h->stop_where, sizeof h->stop_where, "%s:%d:", ar->short_src, ar->currentline);
    else
        snprintf(h->stop_where, sizeof h->stop_where, "%s:", h->chunkname);
    lua_sethook(L, host_hook, LUA_MASKCOUNT, 1);
}

/* Charges cost to the call and stops it when its budget, its time or its run is over.
 * Returns the reason to stop (STOP_NONE: go on). */
static int over_budget(struct lua_host *h, long cost)
{
    h->budget_left -= cost;
    if (!h->deadline_set)
        start_clock(h); /* the call started at most HOOK_STEP instructions ago */
    if (h->budget_left <= 0)
        return STOP_BUDGET;
    if (past(&h->deadline))
        return STOP_TIME;
    if (h->lookup && h->lookup->stop && h->lookup->stop(h->lookup->ud))
        return STOP_CANCEL;
    return STOP_NONE;
}

static void host_hook(lua_State *L, lua_Debug *ar)
{
    struct lua_host *h = host_of(L);
    if (!h->stopped) {
        int reason = over_budget(h, HOOK_STEP);
        if (reason == STOP_NONE)
            return;
        stop_call(L, h, reason, ar, 0);
    }
    lua_pushstring(L, "stopped: budget exhausted");
    lua_error(L);
}

void lua_host_spend(lua_State *L, long cost)
{
    struct lua_host *h = host_of(L);
    if (!h->stopped) {
        /* the clock is read as often as the hook reads it: after HOOK_STEP worth of work */
        h->unchecked += cost;
        h->budget_left -= cost;
        if (h->unchecked < HOOK_STEP && h->budget_left > 0)
            return;
        h->unchecked = 0;
        int reason = over_budget(h, 0);
        if (reason == STOP_NONE)
            return;
        stop_call(L, h, reason, NULL, 1);
    }
    lua_pushstring(L, "stopped: budget exhausted");
    lua_error(L);
}

static void begin_call(struct lua_host *h, long instructions, int ms)
{
    h->budget_left = instructions;
    h->budget_total = instructions;
    h->unchecked = 0;
    h->budget_ms = ms;
    h->deadline_set = 0; /* the first hook starts the clock: saves a clock read per call */
    h->stopped = STOP_NONE;
    h->cap_hits = 0;
    h->forgiven = 0;
    h->retry_armed = 0;
}

/* Turns the outcome of a pcall into 0 or ERR_SCRIPT; with rc != LUA_OK the error object is on
 * top of the stack (left there for the caller to pop). */
static int end_call(struct lua_host *h, int rc, struct err *e)
{
    lua_State *L = h->L;
    int result = 0;
    if (h->stopped == STOP_BUDGET) {
        result = err_set(e, ERR_SCRIPT, "%s stopped: instruction budget of %ld per call exhausted (endless loop?)",
                         h->stop_where, h->budget_total);
    } else if (h->stopped == STOP_TIME) {
        result = err_set(e, ERR_SCRIPT, "%s stopped: time limit of %d ms per call exceeded",
                         h->stop_where, h->budget_ms);
    } else if (h->stopped == STOP_CANCEL) {
        result = err_set(e, ERR_SCRIPT, "%s stopped: the run was cancelled", h->stop_where);
    } else if (h->cap_hits > 0 || rc == LUA_ERRMEM) {
        result = err_set(e, ERR_SCRIPT, "%s: memory cap of %zu MiB per mapping exceeded",
                         h->chunkname, h->lim.mem_cap >> 20);
    } else if (rc != LUA_OK) {
        const char *msg = lua_tostring(L, -1);
        char file[128];
        int line;
        const char *rest;
        if (!msg)
            result = err_set(e, ERR_SCRIPT, "%s: error object is a %s value", h->chunkname,
                             luaL_typename(L, -1));
        else if (lua_host_error_location(msg, file, sizeof file, &line, &rest) == 0)
            result = err_set(e, ERR_SCRIPT, "%s", msg);
        else
            result = err_set(e, ERR_SCRIPT, "%s: %s", h->chunkname, msg);
    }
    if (h->stopped)
        lua_sethook(L, host_hook, LUA_MASKCOUNT, HOOK_STEP);
    if (result != 0)
        lua_gc(L, LUA_GCCOLLECT); /* give back what a runaway call piled up */
    h->stopped = STOP_NONE;
    h->cap_hits = 0;
    return result;
}

/* Message handler: make sure the message says where (file:line). */
static int host_msgh(lua_State *L)
{
    const char *msg = lua_tostring(L, 1);
    if (!msg) {
        lua_pushfstring(L, "(error object is a %s value)", luaL_typename(L, 1));
        lua_replace(L, 1);
        msg = lua_tostring(L, 1);
    }
    char file[128];
    int line;
    const char *rest;
    if (lua_host_error_location(msg, file, sizeof file, &line, &rest) == 0)
        return 1;
    lua_Debug ar;
    for (int level = 1; lua_getstack(L, level, &ar); level++) {
        if (lua_getinfo(L, "Sl", &ar) && ar.currentline > 0) {
            lua_pushfstring(L, "%s:%d: %s", ar.short_src, ar.currentline, msg);
            return 1;
        }
    }
    return 1;
}

int lua_host_call(struct lua_host *h, int nargs, int nresults, struct err *e)
{
    lua_State *L = h->L;
    int base = lua_gettop(L) - nargs;
    lua_pushcfunction(L, host_msgh);
    lua_insert(L, base);
    begin_call(h, h->lim.call_instructions, h->lim.call_ms);
    int rc = lua_pcall(L, nargs, nresults, base);
    int result = end_call(h, rc, e);
    if (rc != LUA_OK)
        lua_pop(L, 1);
    else if (result != 0)
        lua_pop(L, nresults);
    lua_remove(L, base);
    return result;
}

/* ---------------------------------------------------------------- files */

/* Reads a regular file into a new Lua string on the stack (the bytes live in a userdata first,
 * so an error leaks nothing) and adds label + content to the state's digest. Returns 0, or -1
 * with errno-style text pushed instead. */
static int push_file(lua_State *L, const char *path, const char *label, int nofollow)
{
    struct lua_host *h = host_of(L);
    struct stat st;
    if (stat(path, &st) != 0) {
        lua_pushstring(L, strerror(errno));
        return -1;
    }
    if (!S_ISREG(st.st_mode)) {
        lua_pushstring(L, "not a regular file");
        return -1;
    }
    if ((size_t)st.st_size > h->lim.mem_cap) {
        lua_pushstring(L, "file larger than the mapping's memory cap");
        return -1;
    }
    size_t cap = (size_t)st.st_size + 1;
    char *buf = lua_newuserdatauv(L, cap, 0);
    int fd = open(path, O_RDONLY | O_CLOEXEC | (nofollow ? O_NOFOLLOW : 0));
    if (fd < 0) {
        lua_pop(L, 1);
        lua_pushstring(L, strerror(errno));
        return -1;
    }
    size_t len = 0;
    for (;;) {
        ssize_t n = read(fd, buf + len, cap - len);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0) {
            int saved = errno;
            close(fd);
            lua_pop(L, 1);
            lua_pushstring(L, strerror(saved));
            return -1;
        }
        if (n == 0)
            break;
        len += (size_t)n;
        if (len == cap) {
            close(fd);
            lua_pop(L, 1);
            lua_pushstring(L, "file changed while being read");
            return -1;
        }
    }
    close(fd);
    h->digest = lua_host_fnv1a(h->digest, label, strlen(label) + 1);
    h->digest = lua_host_fnv1a(h->digest, buf, len);
    lua_pushlstring(L, buf, len);
    lua_remove(L, -2);
    return 0;
}

static int valid_module_name(const char *s)
{
    size_t n = strlen(s);
    if (n == 0 || n > 100)
        return 0;
    int seg_start = 1;
    for (const char *p = s; *p; p++) {
        if (*p == '.') {
            if (seg_start)
                return 0;
            seg_start = 1;
            continue;
        }
        if (!(isalnum((unsigned char)*p) || *p == '_'))
            return 0;
        if (seg_start && isdigit((unsigned char)*p))
            return 0;
        seg_start = 0;
    }
    return !seg_start;
}

/* A data file beside the mapping: a plain name ending in .csv, no directory part, no "..". */
static int valid_data_name(const char *s)
{
    size_t n = strlen(s);
    if (n < 5 || n > 200 || strcmp(s + n - 4, ".csv") != 0 || s[0] == '.' || strstr(s, ".."))
        return 0;
    for (const char *p = s; *p; p++)
        if (!(isalnum((unsigned char)*p) || *p == '_' || *p == '-' || *p == '.'))
            return 0;
    return 1;
}

/* ---------------------------------------------------------------- sandbox functions */

static int is_frozen(lua_State *L, int idx)
{
    if (!lua_getmetatable(L, idx))
        return 0;
    lua_pushliteral(L, "__frozen");
    int frozen = lua_rawget(L, -2) != LUA_TNIL;
    lua_pop(L, 2);
    return frozen;
}

static int sb_setmetatable(lua_State *L)
{
    int t = lua_type(L, 2);
    luaL_checktype(L, 1, LUA_TTABLE);
    luaL_argexpected(L, t == LUA_TNIL || t == LUA_TTABLE, 2, "nil or table");
    if (luaL_getmetafield(L, 1, "__metatable") != LUA_TNIL)
        return luaL_error(L, "cannot change a protected metatable");
    if (t == LUA_TTABLE) {
        lua_pushliteral(L, "__gc");
        if (lua_rawget(L, 2) != LUA_TNIL)
            return luaL_error(L, "__gc metamethods are not allowed in mappings");
        lua_pop(L, 1);
    }
    lua_settop(L, 2);
    lua_setmetatable(L, 1);
    return 1;
}

static int sb_rawset(lua_State *L)
{
    luaL_checktype(L, 1, LUA_TTABLE);
    luaL_checkany(L, 2);
    luaL_checkany(L, 3);
    if (is_frozen(L, 1))
        return luaL_error(L, "rawset: table is read-only");
    lua_settop(L, 3);
    lua_rawset(L, 1);
    return 1;
}

static int sb_print(lua_State *L)
{
    struct lua_host *h = host_of(L);
    luaL_Buffer b;
    luaL_buffinit(L, &b);
    int n = lua_gettop(L);
    for (int i = 1; i <= n; i++) {
        luaL_tolstring(L, i, NULL);
        if (i > 1)
            luaL_addchar(&b, '\t');
        luaL_addvalue(&b);
    }
    luaL_pushresult(&b);
    log_info("mapping %s: %s", h->name, lua_tostring(L, -1));
    return 0;
}

static int sb_require(lua_State *L)
{
    struct lua_host *h = host_of(L);
    const char *mod = luaL_checkstring(L, 1);
    if (!valid_module_name(mod))
        return luaL_error(L, "require: bad module name '%s' (modules are names like \"d2.tables\" "
                             "under scripts/)", mod);
    lua_settop(L, 1);
    lua_rawgeti(L, LUA_REGISTRYINDEX, h->loaded_ref); /* 2 */
    lua_pushvalue(L, 1);
    if (lua_rawget(L, 2) != LUA_TNIL) {
        if (lua_touserdata(L, -1) == &loading_sentinel)
            return luaL_error(L, "require: loop while loading module '%s'", mod);
        return 1;
    }
    lua_pop(L, 1);
    char rel[160], path[PATH_MAX + 200], chunk[200];
    snprintf(rel, sizeof rel, "%s", mod);
    for (char *p = rel; *p; p++)
        if (*p == '.')
            *p = '/';
    snprintf(path, sizeof path, "%s/%s.lua", h->scripts_dir, rel);
    snprintf(chunk, sizeof chunk, "@scripts/%s.lua", rel);
    if (push_file(L, path, chunk, 0) != 0)
        return luaL_error(L, "require: module '%s' not found (scripts/%s.lua: %s)", mod, rel,
                          lua_tostring(L, -1));
    size_t len;
    const char *src = lua_tolstring(L, -1, &len);
    if (luaL_loadbufferx(L, src, len, chunk, "t") != LUA_OK)
        return lua_error(L);
    lua_remove(L, -2);
    lua_rawgeti(L, LUA_REGISTRYINDEX, h->env_ref);
    if (!lua_setupvalue(L, -2, 1))
        lua_pop(L, 1);
    lua_pushvalue(L, 1);
    lua_pushlightuserdata(L, &loading_sentinel);
    lua_rawset(L, 2);
    lua_pushvalue(L, 1);
    lua_rawgeti(L, LUA_REGISTRYINDEX, h->hostlib_ref);
    lua_call(L, 2, 1);
    if (lua_isnil(L, -1)) {
        lua_pop(L, 1);
        lua_pushboolean(L, 1);
    }
    lua_pushvalue(L, 1);
    lua_pushvalue(L, -2);
    lua_rawset(L, 2);
    return 1;
}

/* host.read(name) -> string | nil, message — a .csv file beside the mapping. */
static int hl_read(lua_State *L)
{
    struct lua_host *h = host_of(L);
    const char *name = luaL_checkstring(L, 1);
    if (!valid_data_name(name)) {
        lua_pushnil(L);
        lua_pushfstring(L, "'%s': only plain .csv file names beside the mapping can be read "
                           "(no directories, no '..')", name);
        return 2;
    }
    char path[PATH_MAX + 210];
    snprintf(path, sizeof path, "%s/%s", h->mapping_dir, name);
    if (push_file(L, path, name, 1) != 0) {
        lua_pushnil(L);
        lua_pushfstring(L, "%s: %s", name, lua_tostring(L, -2));
        return 2;
    }
    return 1;
}

static int hl_lookup(lua_State *L, int by_name)
{
    struct lua_host *h = host_of(L);
    const char *kind = luaL_checkstring(L, 1);
    const char *key = luaL_checkstring(L, 2);
    if (h->in_load)
        return luaL_error(L, "metadata lookups work inside transform only (a mapping's tables "
                             "cannot depend on the instance of a run)");
    const struct mapping_lookup *lk = h->lookup;
    int (*fn)(void *, const char *, const char *, char *, size_t) =
        lk ? (by_name ? lk->by_name : lk->by_code) : NULL;
    char id[256];
    int rc = fn ? fn(lk->ud, kind, key, id, sizeof id) : -1;
    if (rc < -1) {
        id[sizeof id - 1] = '\0';
        return luaL_error(L, "looking up %s %s '%s' on the target failed: %s", kind,
                          by_name ? "named" : "with code", key, id);
    }
    if (rc != 0) {
        lua_pushnil(L);
        return 1;
    }
    id[sizeof id - 1] = '\0';
    lua_pushstring(L, id);
    return 1;
}

static int hl_by_code(lua_State *L) { return hl_lookup(L, 0); }
static int hl_by_name(lua_State *L) { return hl_lookup(L, 1); }

static int hl_log(lua_State *L)
{
    struct lua_host *h = host_of(L);
    log_info("mapping %s: %s", h->name, luaL_checkstring(L, 1));
    return 0;
}

static int ro_newindex(lua_State *L)
{
    return luaL_error(L, "attempt to modify a read-only table (field '%s')",
                      lua_type(L, 2) == LUA_TSTRING ? lua_tostring(L, 2) : "?");
}

static int env_frozen_newindex(lua_State *L)
{
    return luaL_error(L, "attempt to set global '%s' after load: globals are read-only once "
                         "the mapping is loaded (use a local)",
                      lua_type(L, 2) == LUA_TSTRING ? lua_tostring(L, 2) : "?");
}

/* The iterator pairs() gets for a proxy: next over the real table (upvalue 1). The state
 * pairs() hands out is the proxy itself, never the real table, which would be writable. */
static int proxy_next(lua_State *L)
{
    lua_settop(L, 2);
    if (lua_next(L, lua_upvalueindex(1)))
        return 2;
    lua_pushnil(L);
    return 1;
}

/* __pairs of a proxy: (the iterator above in upvalue 1, the proxy, nil). */
static int proxy_pairs(lua_State *L)
{
    lua_settop(L, 1);
    lua_pushvalue(L, lua_upvalueindex(1));
    lua_insert(L, 1);
    lua_pushnil(L);
    return 3;
}

/* Replaces the table on top with a read-only proxy of it: reads go to the real table through
 * __index, writes call newindex, and neither getmetatable nor pairs gives the real table out.
 * With push_mt, the proxy's metatable is left above it. */
static void make_proxy(lua_State *L, lua_CFunction newindex, int push_mt)
{
    int real = lua_gettop(L);
    lua_newtable(L); /* proxy */
    lua_createtable(L, 0, 6); /* mt */
    lua_pushvalue(L, real);
    lua_setfield(L, -2, "__index");
    lua_pushcfunction(L, newindex);
    lua_setfield(L, -2, "__newindex");
    lua_pushboolean(L, 0);
    lua_setfield(L, -2, "__metatable");
    lua_pushboolean(L, 1);
    lua_setfield(L, -2, "__frozen");
    lua_pushvalue(L, real);
    lua_pushcclosure(L, proxy_next, 1);
    lua_pushcclosure(L, proxy_pairs, 1);
    lua_setfield(L, -2, "__pairs");
    lua_pushvalue(L, -1);
    lua_setmetatable(L, -3);
    /* stack: real proxy mt */
    if (!push_mt)
        lua_pop(L, 1);
    lua_remove(L, real);
}

void lua_host_make_readonly(struct lua_host *h) { make_proxy(h->L, ro_newindex, 0); }

static void copy_fields(lua_State *L, int from, int to, const char *const names[])
{
    for (int i = 0; names[i]; i++) {
        lua_getfield(L, from, names[i]);
        lua_setfield(L, to, names[i]);
    }
}

static int build_env(lua_State *L)
{
    struct lua_host *h = lua_touserdata(L, 1);
    static const char *const base_names[] = {
        "assert", "error", "ipairs", "next", "pairs", "pcall", "xpcall", "select", "tonumber",
        "tostring", "type", "rawequal", "rawlen", "rawget", "getmetatable", "_VERSION", NULL};
    static const char *const os_names[] = {"time", "date", "clock", NULL};

    luaL_requiref(L, "_G", luaopen_base, 1); /* the real globals: never handed out */
    int base = lua_gettop(L);
    lua_newtable(L); /* G: what the sandbox sees */
    int g = lua_gettop(L);
    copy_fields(L, base, g, base_names);
    lua_pushcfunction(L, sb_setmetatable);
    lua_setfield(L, g, "setmetatable");
    lua_pushcfunction(L, sb_rawset);
    lua_setfield(L, g, "rawset");
    lua_pushcfunction(L, sb_print);
    lua_setfield(L, g, "print");
    lua_pushcfunction(L, sb_require);
    lua_setfield(L, g, "require");
    static const char *const base_reading[] = {"tonumber", "print", NULL};
    lua_bounded_meter(L, g, base_reading, 1);

    /* string: no dump, even through ("").dump; the string metatable is locked */
    luaL_requiref(L, LUA_TABLIBNAME, luaopen_table, 0);
    luaL_requiref(L, LUA_STRLIBNAME, luaopen_string, 0);
    lua_bounded_install(L, -1, -2, h->lim.mem_cap);
    lua_pushnil(L);
    lua_setfield(L, -2, "dump");
    static const char *const string_made[] = {"byte", "char", "format", "lower", "pack",
                                              "reverse", "sub", "unpack", "upper", NULL};
    lua_bounded_meter(L, -1, string_made, 0);
    lua_pushliteral(L, "");
    if (lua_getmetatable(L, -1)) {
        lua_pushboolean(L, 0);
        lua_setfield(L, -2, "__metatable");
        lua_pop(L, 1);
    }
    lua_pop(L, 1);
    lua_host_make_readonly(h);
    lua_setfield(L, g, "string");
    lua_host_make_readonly(h);
    lua_setfield(L, g, "table");
    luaL_requiref(L, LUA_MATHLIBNAME, luaopen_math, 0);
    lua_host_make_readonly(h);
    lua_setfield(L, g, "math");
    luaL_requiref(L, LUA_UTF8LIBNAME, luaopen_utf8, 0);
    static const char *const utf8_reading[] = {"len", "offset", "codepoint", NULL};
    static const char *const utf8_made[] = {"char", NULL};
    lua_bounded_meter(L, -1, utf8_reading, 1);
    lua_bounded_meter(L, -1, utf8_made, 0);
    lua_host_make_readonly(h);
    lua_setfield(L, g, "utf8");
    luaL_requiref(L, LUA_OSLIBNAME, luaopen_os, 0);
    lua_newtable(L);
    copy_fields(L, lua_gettop(L) - 1, lua_gettop(L), os_names);
    lua_remove(L, -2);
    static const char *const os_made[] = {"date", NULL};
    lua_bounded_meter(L, -1, os_made, 0);
    lua_host_make_readonly(h);
    lua_setfield(L, g, "os");

    /* the proxy every chunk sees as _ENV: reads from G, writes to G until frozen */
    lua_pushvalue(L, g);
    make_proxy(L, ro_newindex, 1); /* proxy mt */
    lua_pushvalue(L, g);
    lua_setfield(L, -2, "__newindex");
    h->envmt_ref = luaL_ref(L, LUA_REGISTRYINDEX);
    lua_pushvalue(L, -1);
    lua_setfield(L, g, "_G");
    h->env_ref = luaL_ref(L, LUA_REGISTRYINDEX);

    lua_newtable(L);
    h->loaded_ref = luaL_ref(L, LUA_REGISTRYINDEX);

    /* what scripts/ modules receive as their second argument */
    lua_newtable(L);
    static const luaL_Reg hostlib[] = {{"read", hl_read},       {"byCode", hl_by_code},
                                       {"byName", hl_by_name},  {"log", hl_log},
                                       {NULL, NULL}};
    luaL_setfuncs(L, hostlib, 0);
    lua_pushstring(L, h->name);
    lua_setfield(L, -2, "mapping");
    lua_host_make_readonly(h);
    h->hostlib_ref = luaL_ref(L, LUA_REGISTRYINDEX);
    lua_settop(L, 0);
    return 0;
}

/* ---------------------------------------------------------------- public */

struct lua_host *lua_host_new(const char *name, const char *mapping_dir, const char *scripts_dir,
                              const struct lua_host_limits *lim, struct err *e)
{
    struct lua_host *h = calloc(1, sizeof *h);
    if (!h) {
        err_set(e, ERR_INTERNAL, "out of memory");
        return NULL;
    }
    if (lim)
        h->lim = *lim;
    else
        lua_host_default_limits(&h->lim);
    snprintf(h->name, sizeof h->name, "%s", name);
    snprintf(h->chunkname, sizeof h->chunkname, "%s.lua", name);
    snprintf(h->mapping_dir, sizeof h->mapping_dir, "%s", mapping_dir && *mapping_dir ? mapping_dir : ".");
    snprintf(h->scripts_dir, sizeof h->scripts_dir, "%s", scripts_dir && *scripts_dir ? scripts_dir : "scripts");
    h->L = lua_newstate(host_alloc, h);
    if (!h->L) {
        free(h);
        err_set(e, ERR_INTERNAL, "mapping %s: cannot create a Lua state", name);
        return NULL;
    }
    lua_atpanic(h->L, host_panic);
    lua_setwarnf(h->L, host_warn, h);
    lua_pushcfunction(h->L, build_env);
    lua_pushlightuserdata(h->L, h);
    if (lua_pcall(h->L, 1, 0, 0) != LUA_OK) {
        err_set(e, ERR_INTERNAL, "mapping %s: cannot build the sandbox: %s", name,
                lua_tostring(h->L, -1) ? lua_tostring(h->L, -1) : "?");
        lua_close(h->L);
        free(h);
        return NULL;
    }
    lua_sethook(h->L, host_hook, LUA_MASKCOUNT, HOOK_STEP);
    return h;
}

void lua_host_free(struct lua_host *h)
{
    if (!h)
        return;
    lua_close(h->L);
    free(h);
}

lua_State *lua_host_state(struct lua_host *h) { return h->L; }
const char *lua_host_name(const struct lua_host *h) { return h->name; }
uint64_t lua_host_files_digest(const struct lua_host *h) { return h->digest; }
size_t lua_host_memory(const struct lua_host *h) { return h->used; }
void lua_host_set_lookup(struct lua_host *h, const struct mapping_lookup *lk) { h->lookup = lk; }

void lua_host_push_env(struct lua_host *h) { lua_rawgeti(h->L, LUA_REGISTRYINDEX, h->env_ref); }
void lua_host_push_hostlib(struct lua_host *h)
{
    lua_rawgeti(h->L, LUA_REGISTRYINDEX, h->hostlib_ref);
}

void lua_host_freeze(struct lua_host *h)
{
    lua_State *L = h->L;
    lua_rawgeti(L, LUA_REGISTRYINDEX, h->envmt_ref);
    lua_pushcfunction(L, env_frozen_newindex);
    lua_setfield(L, -2, "__newindex");
    lua_pop(L, 1);
}

int lua_host_run_chunk(struct lua_host *h, const char *chunkname, const char *src, size_t len,
                       struct err *e)
{
    lua_State *L = h->L;
    char at[sizeof h->chunkname + 1];
    snprintf(h->chunkname, sizeof h->chunkname, "%s", chunkname);
    snprintf(at, sizeof at, "@%s", chunkname);
    int base = lua_gettop(L);
    lua_pushcfunction(L, host_msgh);
    int rc = luaL_loadbufferx(L, src, len, at, "t");
    if (rc != LUA_OK) {
        const char *msg = lua_tostring(L, -1);
        char file[128];
        int line;
        const char *rest;
        if (rc == LUA_ERRMEM)
            err_set(e, ERR_SCRIPT, "%s: memory cap of %zu MiB per mapping exceeded", chunkname,
                    h->lim.mem_cap >> 20);
        else if (msg && lua_host_error_location(msg, file, sizeof file, &line, &rest) == 0)
            err_set(e, ERR_SCRIPT, "%s", msg);
        else
            err_set(e, ERR_SCRIPT, "%s: %s", chunkname, msg ? msg : "cannot load");
        lua_settop(L, base);
        return ERR_SCRIPT;
    }
    lua_host_push_env(h);
    if (!lua_setupvalue(L, -2, 1))
        lua_pop(L, 1);
    h->in_load = 1;
    begin_call(h, h->lim.load_instructions, h->lim.load_ms);
    rc = lua_pcall(L, 0, 1, base + 1);
    h->in_load = 0;
    int result = end_call(h, rc, e);
    if (result != 0) {
        lua_settop(L, base);
        return result;
    }
    lua_remove(L, base + 1);
    return 0;
}
