/* mapping.c — compiled mapping versions: C hash tables for the lookup tables, the per-value
 * fast path, transform calls and aggregate = "sum". See mapping.h. */
#include "mapping.h"

#include <ctype.h>
#include <errno.h>
#include <inttypes.h>
#include <lauxlib.h>
#include <math.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "log.h"
#include "lua_json.h"
#include "strmap.h"

/* ---------------------------------------------------------------- the version */

/* The id tables and functions for metadata and tracker data, beside the data value ones. */
enum { OBJECT_TABLES = 4, OBJECT_FNS = 3 };
static const char *const object_table_names[OBJECT_TABLES] = {
    "programs", "programStages", "trackedEntityAttributes", "options"};
static const char *const object_fn_names[OBJECT_FNS] = {"metadata", "event", "trackedEntity"};

struct mapping {
    atomic_long refs;
    int is_static;
    char name[128];
    char version[16];
    char *source;
    size_t source_len;
    struct strmap *tables[MAP_KINDS];  /* NULL: the kind is not declared */
    struct arena strings; /* keys and values of the tables */
    enum map_unmapped unmapped;
    int aggregate_sum;
    struct lua_host *lua;
    pthread_mutex_t lock; /* serialises calls into lua */
    int transform_ref, dv_ref, ctx_ref, sample_ref;
    int keys_ref; /* the names of a value's fields as Lua strings (see push_keys) */
    int transform_line;
    struct strmap *object_tables[OBJECT_TABLES]; /* NULL: not declared */
    int fn_ref[OBJECT_FNS], fn_line[OBJECT_FNS];   /* LUA_NOREF: not defined */
    char fn_where[OBJECT_FNS][160];                /* "demo.lua:3: event returned" */
};

static const char *const kind_names[MAP_KINDS] = {
    "dataElements", "categoryOptionCombos", "attributeOptionCombos", "orgUnits", "periods"};

const char *mapping_kind_name(enum map_kind k)
{
    return (unsigned)k < MAP_KINDS ? kind_names[k] : "?";
}

static const char **kind_field(struct datavalue *dv, int k)
{
    switch (k) {
    case MAP_DE: return &dv->data_element;
    case MAP_COC: return &dv->category_option_combo;
    case MAP_AOC: return &dv->attribute_option_combo;
    case MAP_OU: return &dv->org_unit;
    default: return &dv->period;
    }
}

static struct mapping identity = {
    .is_static = 1,
    .name = "(none)",
    .version = "identity",
    .source = "return {}\n",
    .source_len = 10,
    .transform_ref = LUA_NOREF,
    .dv_ref = LUA_NOREF,
    .keys_ref = LUA_NOREF,
    .ctx_ref = LUA_NOREF,
    .sample_ref = LUA_NOREF,
    .fn_ref = {LUA_NOREF, LUA_NOREF, LUA_NOREF},
};

struct mapping *mapping_identity(void) { return &identity; }

struct mapping *mapping_retain(struct mapping *m)
{
    if (m && !m->is_static)
        atomic_fetch_add_explicit(&m->refs, 1, memory_order_relaxed);
    return m;
}

static void mapping_free(struct mapping *m)
{
    for (int k = 0; k < MAP_KINDS; k++)
        if (m->tables[k]) {
            strmap_free(m->tables[k]);
            free(m->tables[k]);
        }
    for (int k = 0; k < OBJECT_TABLES; k++)
        if (m->object_tables[k]) {
            strmap_free(m->object_tables[k]);
            free(m->object_tables[k]);
        }
    arena_free(&m->strings);
    lua_host_free(m->lua);
    pthread_mutex_destroy(&m->lock);
    free(m->source);
    free(m);
}

void mapping_release(struct mapping *m)
{
    if (!m || m->is_static)
        return;
    if (atomic_fetch_sub_explicit(&m->refs, 1, memory_order_acq_rel) == 1)
        mapping_free(m);
}

const char *mapping_name(const struct mapping *m) { return m->name; }
const char *mapping_version(const struct mapping *m) { return m->version; }

const char *mapping_source(const struct mapping *m, size_t *len)
{
    if (len)
        *len = m->source_len;
    return m->source;
}

int mapping_table_targets(const struct mapping *m, enum map_kind k,
                          int (*fn)(void *ud, const char *target), void *ud)
{
    const struct strmap *t = (unsigned)k < MAP_KINDS ? m->tables[k] : NULL;
    for (size_t i = 0; t && t->slots && i <= t->mask; i++) {
        int rc = t->slots[i].key && t->slots[i].val ? fn(ud, t->slots[i].val) : 0;
        if (rc)
            return rc;
    }
    return 0;
}

void mapping_stats(const struct mapping *m, struct mapping_stats *st)
{
    for (int k = 0; k < MAP_KINDS; k++)
        st->table_size[k] = m->tables[k] ? (long)m->tables[k]->count : -1;
    st->has_transform = m->transform_ref != LUA_NOREF;
    st->aggregate_sum = m->aggregate_sum;
    st->unmapped = m->unmapped;
    st->lua_memory = m->lua ? lua_host_memory(m->lua) : 0;
}

/* ---------------------------------------------------------------- compile */

/* "demo.lua:7: " for the line that declares field `name` (the first `name =` in the source),
 * or "" when there is none: once the chunk has run, a table's entries have no line of their
 * own, but the field that declares them does. */
static const char *field_where(const struct mapping *m, const char *name, char *buf, size_t size)
{
    size_t n = strlen(name);
    int line = 1;
    buf[0] = '\0';
    for (const char *p = m->source; *p; p++) {
        if (*p == '\n')
            line++;
        if (strncmp(p, name, n) != 0 ||
            (p > m->source && (isalnum((unsigned char)p[-1]) || p[-1] == '_')))
            continue;
        const char *q = p + n;
        while (*q == ' ' || *q == '\t')
            q++;
        if (*q == '=' && q[1] != '=') {
            snprintf(buf, size, "%s.lua:%d: ", m->name, line);
            break;
        }
    }
    return buf;
}

static int extract_table(lua_State *L, struct mapping *m, struct strmap **slot, const char *name,
                         int idx)
{
    char where[200];
    lua_Integer n = 0;
    lua_pushnil(L);
    while (lua_next(L, idx)) {
        n++;
        lua_pop(L, 1);
    }
    struct strmap *t = malloc(sizeof *t);
    if (!t || strmap_init(t, (size_t)n) != 0) {
        free(t);
        return luaL_error(L, "out of memory");
    }
    *slot = t;
    lua_pushnil(L);
    while (lua_next(L, idx)) {
        if (lua_type(L, -2) != LUA_TSTRING)
            return luaL_error(L, "%s%s: a key is a %s; ids are strings",
                              field_where(m, name, where, sizeof where), name,
                              luaL_typename(L, -2));
        const char *key = lua_tostring(L, -2);
        const char *val = NULL;
        if (lua_type(L, -1) == LUA_TSTRING) {
            val = arena_strdup(&m->strings, lua_tostring(L, -1));
            if (!val)
                return luaL_error(L, "out of memory");
        } else if (!(lua_type(L, -1) == LUA_TBOOLEAN && !lua_toboolean(L, -1))) {
            return luaL_error(L, "%s%s: the value for '%s' is a %s; it must be an id (a string) "
                                 "or false (drop)", field_where(m, name, where, sizeof where),
                              name, key, luaL_typename(L, -1));
        }
        const char *kcopy = arena_strdup(&m->strings, key);
        if (!kcopy)
            return luaL_error(L, "out of memory");
        if (strmap_put(t, kcopy, val) != 0)
            return luaL_error(L, "out of memory");
        lua_pop(L, 1);
    }
    return 0;
}

/* The id tables and functions for metadata and tracker data in the returned table (at 2). */
static void extract_objects(lua_State *L, struct mapping *m)
{
    for (int k = 0; k < OBJECT_TABLES; k++) {
        int t = lua_getfield(L, 2, object_table_names[k]);
        if (t == LUA_TTABLE)
            extract_table(L, m, &m->object_tables[k], object_table_names[k], lua_gettop(L));
        else if (t != LUA_TNIL)
            luaL_error(L, "%s must be a table (source id -> target id), not a %s",
                       object_table_names[k], luaL_typename(L, -1));
        lua_pop(L, 1);
    }
    static const char *const shapes[OBJECT_FNS] = {"(obj, type, ctx)", "(ev, ctx)", "(te, ctx)"};
    for (int f = 0; f < OBJECT_FNS; f++) {
        int t = lua_getfield(L, 2, object_fn_names[f]);
        if (t == LUA_TNIL) {
            lua_pop(L, 1);
            continue;
        }
        if (t != LUA_TFUNCTION)
            luaL_error(L, "%s must be a function%s, not a %s", object_fn_names[f], shapes[f],
                       luaL_typename(L, -1));
        lua_Debug ar;
        lua_pushvalue(L, -1);
        if (lua_getinfo(L, ">S", &ar))
            m->fn_line[f] = ar.linedefined;
        snprintf(m->fn_where[f], sizeof m->fn_where[f], "%s.lua:%d: %s returned", m->name,
                 m->fn_line[f], object_fn_names[f]);
        m->fn_ref[f] = luaL_ref(L, LUA_REGISTRYINDEX);
    }
}

/* Protected: (lightuserdata mapping, result table). Reads the returned table. */
static void push_new_keys(lua_State *L);

static int extract(lua_State *L)
{
    struct mapping *m = lua_touserdata(L, 1);
    if (!lua_istable(L, 2))
        return luaL_error(L, "the mapping must return a table (it returned %s)",
                          luaL_typename(L, 2));
    static const char *const known[] = {"dataElements", "categoryOptionCombos",
                                        "attributeOptionCombos", "orgUnits", "periods",
                                        "unmapped", "aggregate", "transform", "sample",
                                        "description", "programs", "programStages",
                                        "trackedEntityAttributes", "options", "metadata",
                                        "event", "trackedEntity", NULL};
    lua_pushnil(L);
    while (lua_next(L, 2)) {
        lua_pop(L, 1);
        if (lua_type(L, -1) != LUA_TSTRING)
            return luaL_error(L, "the returned table has a key of type %s; expected fields "
                                 "like dataElements, transform", luaL_typename(L, -1));
        const char *key = lua_tostring(L, -1);
        int ok = key[0] == '_';
        for (int i = 0; known[i] && !ok; i++)
            ok = strcmp(key, known[i]) == 0;
        if (!ok) {
            char list[256] = "";
            for (int i = 0; known[i]; i++)
                snprintf(list + strlen(list), sizeof list - strlen(list), "%s%s", i ? ", " : "", known[i]);
            return luaL_error(L, "unknown field '%s' in the returned table (known: %s)", key, list);
        }
    }
    for (int k = 0; k < MAP_KINDS; k++) {
        int t = lua_getfield(L, 2, kind_names[k]);
        if (t == LUA_TTABLE)
            extract_table(L, m, &m->tables[k], kind_names[k], lua_gettop(L));
        else if (t != LUA_TNIL)
            return luaL_error(L, "%s must be a table (source id -> target id), not a %s",
                              kind_names[k], luaL_typename(L, -1));
        lua_pop(L, 1);
    }
    extract_objects(L, m);
    int t = lua_getfield(L, 2, "unmapped");
    const char *s = t == LUA_TSTRING ? lua_tostring(L, -1) : NULL;
    if (t == LUA_TNIL || (s && strcmp(s, "skip") == 0))
        m->unmapped = MAP_UNMAPPED_SKIP;
    else if (s && strcmp(s, "keep") == 0)
        m->unmapped = MAP_UNMAPPED_KEEP;
    else if (s && strcmp(s, "error") == 0)
        m->unmapped = MAP_UNMAPPED_ERROR;
    else
        return luaL_error(L, "unmapped must be \"skip\", \"keep\" or \"error\"");
    lua_pop(L, 1);
    t = lua_getfield(L, 2, "aggregate");
    s = t == LUA_TSTRING ? lua_tostring(L, -1) : NULL;
    if (s && strcmp(s, "sum") == 0)
        m->aggregate_sum = 1;
    else if (!(t == LUA_TNIL || (t == LUA_TBOOLEAN && !lua_toboolean(L, -1)) ||
               (s && strcmp(s, "none") == 0)))
        return luaL_error(L, "aggregate must be \"sum\" (or absent)");
    lua_pop(L, 1);
    t = lua_getfield(L, 2, "transform");
    if (t == LUA_TFUNCTION) {
        lua_Debug ar;
        lua_pushvalue(L, -1);
        if (lua_getinfo(L, ">S", &ar))
            m->transform_line = ar.linedefined;
        m->transform_ref = luaL_ref(L, LUA_REGISTRYINDEX);
    } else if (t != LUA_TNIL) {
        return luaL_error(L, "transform must be a function(dv, ctx), not a %s", luaL_typename(L, -1));
    } else {
        lua_pop(L, 1);
    }
    t = lua_getfield(L, 2, "sample");
    if (t == LUA_TTABLE)
        m->sample_ref = luaL_ref(L, LUA_REGISTRYINDEX);
    else if (t != LUA_TNIL)
        return luaL_error(L, "sample must be a data value table");
    else
        lua_pop(L, 1);

    /* the table reused for every transform call, and the ctx handed with it */
    lua_createtable(L, 0, 12);
    m->dv_ref = luaL_ref(L, LUA_REGISTRYINDEX);
    push_new_keys(L);
    m->keys_ref = luaL_ref(L, LUA_REGISTRYINDEX);
    lua_createtable(L, 0, 4);
    lua_pushstring(L, m->name);
    lua_setfield(L, -2, "mapping");
    lua_pushstring(L, m->version);
    lua_setfield(L, -2, "version");
    lua_json_add_helpers(L, -1);
    lua_host_push_hostlib(m->lua);
    lua_getfield(L, -1, "byCode");
    lua_setfield(L, -3, "byCode");
    lua_getfield(L, -1, "byName");
    lua_setfield(L, -3, "byName");
    lua_pop(L, 1);
    lua_host_make_readonly(m->lua);
    m->ctx_ref = luaL_ref(L, LUA_REGISTRYINDEX);
    return 0;
}

int mapping_compile_source(const char *name, const char *dir, const char *scripts_dir,
                           const char *src, size_t len, const struct lua_host_limits *lim,
                           struct mapping **out, struct err *e)
{
    int rc = 0;
    *out = NULL;
    struct mapping *m = calloc(1, sizeof *m);
    if (!m)
        return err_set(e, ERR_INTERNAL, "out of memory");
    atomic_init(&m->refs, 1);
    m->keys_ref = LUA_NOREF;
    pthread_mutex_init(&m->lock, NULL);
    m->transform_ref = m->dv_ref = m->ctx_ref = m->sample_ref = LUA_NOREF;
    for (int f = 0; f < OBJECT_FNS; f++)
        m->fn_ref[f] = LUA_NOREF;
    snprintf(m->name, sizeof m->name, "%s", name);
    m->source = malloc(len + 1);
    if (!m->source) {
        rc = err_set(e, ERR_INTERNAL, "out of memory");
        goto out;
    }
    memcpy(m->source, src, len);
    m->source[len] = '\0';
    m->source_len = len;

    m->lua = lua_host_new(name, dir, scripts_dir, lim, e);
    if (!m->lua) {
        rc = e ? e->code : ERR_INTERNAL;
        goto out;
    }
    char chunk[160];
    snprintf(chunk, sizeof chunk, "%s.lua", name);
    rc = lua_host_run_chunk(m->lua, chunk, src, len, e);
    if (rc != 0)
        goto out;
    uint64_t h = lua_host_fnv1a(lua_host_fnv1a(0, src, len), &(uint64_t){lua_host_files_digest(m->lua)}, 8);
    snprintf(m->version, sizeof m->version, "%012" PRIx64, (uint64_t)(h & 0xffffffffffffULL));

    lua_State *L = lua_host_state(m->lua);
    lua_pushcfunction(L, extract);
    lua_insert(L, -2);
    lua_pushlightuserdata(L, m);
    lua_insert(L, -2);
    rc = lua_host_call(m->lua, 2, 0, e);
    if (rc != 0)
        goto out;
    lua_host_freeze(m->lua);
    lua_gc(L, LUA_GCCOLLECT);
out:
    if (rc != 0) {
        mapping_free(m);
        return rc;
    }
    *out = m;
    return 0;
}

int mapping_compile(const char *name, const char *path, const char *scripts_dir,
                    struct mapping **out, struct err *e)
{
    return mapping_compile_with(name, path, scripts_dir, NULL, out, e);
}

int mapping_compile_with(const char *name, const char *path, const char *scripts_dir,
                         const struct lua_host_limits *lim, struct mapping **out, struct err *e)
{
    *out = NULL;
    FILE *f = fopen(path, "rb");
    if (!f)
        return err_set(e, errno == ENOENT ? ERR_NOT_FOUND : ERR_INPUT, "mapping %s: cannot read %s: %s",
                       name, path, strerror(errno));
    char *buf = NULL;
    size_t len = 0, cap = 0;
    int rc = 0;
    for (;;) {
        if (len == cap) {
            cap = cap ? cap * 2 : 16384;
            char *nb = cap <= (64u << 20) ? realloc(buf, cap) : NULL;
            if (!nb) {
                rc = err_set(e, ERR_INPUT, "mapping %s: %s is too large", name, path);
                goto out;
            }
            buf = nb;
        }
        size_t n = fread(buf + len, 1, cap - len, f);
        len += n;
        if (n == 0)
            break;
    }
    if (ferror(f)) {
        rc = err_set(e, ERR_INPUT, "mapping %s: cannot read %s", name, path);
        goto out;
    }
    char dir[4096];
    snprintf(dir, sizeof dir, "%s", path);
    char *slash = strrchr(dir, '/');
    if (slash)
        *(slash == dir ? slash + 1 : slash) = '\0';
    else
        snprintf(dir, sizeof dir, ".");
    rc = mapping_compile_source(name, dir, scripts_dir, buf, len, lim, out, e);
out:
    free(buf);
    fclose(f);
    return rc;
}

/* ---------------------------------------------------------------- apply */

/* What transform sees; storedBy, created and lastUpdated pass through unchanged. */
static const enum datavalue_string transform_fields[] = {
    DV_DATA_ELEMENT, DV_PERIOD, DV_ORG_UNIT, DV_CATEGORY_OPTION_COMBO,
    DV_ATTRIBUTE_OPTION_COMBO, DV_VALUE, DV_COMMENT,
};
enum { N_STR_FIELDS = sizeof transform_fields / sizeof transform_fields[0] };

struct tcall {
    struct mapping *m;
    struct datavalue *dv;
    struct arena *a;
    int dropped;
};

/* Field names by index: transform_fields, then followup and deleted. */
enum { KEY_FOLLOWUP = N_STR_FIELDS, KEY_DELETED, N_KEYS };

static const char *key_name(int i)
{
    return i < N_STR_FIELDS ? datavalue_names[transform_fields[i]]
           : i == KEY_FOLLOWUP ? "followup"
                               : "deleted";
}

static void push_new_keys(lua_State *L)
{
    lua_createtable(L, N_KEYS, 0);
    for (int i = 0; i < N_KEYS; i++) {
        lua_pushstring(L, key_name(i));
        lua_rawseti(L, -2, i + 1);
    }
}

/* Pushes the keys table (Lua strings made once per version): lua_setfield and lua_getfield
 * with a C string look the key up in Lua's string cache, a strcmp each, which was a tenth of
 * a run with a transform. */
static int push_keys(lua_State *L, const struct mapping *m)
{
    lua_rawgeti(L, LUA_REGISTRYINDEX, m->keys_ref);
    return lua_gettop(L);
}

static void fill_table(lua_State *L, int t, int keys, const struct datavalue *dv)
{
    for (int i = 0; i < N_STR_FIELDS; i++) {
        const char *s = *datavalue_string((struct datavalue *)dv, transform_fields[i]);
        lua_rawgeti(L, keys, i + 1);
        if (s)
            lua_pushlstring(L, s, strlen(s));
        else
            lua_pushnil(L);
        lua_settable(L, t);
    }
    lua_rawgeti(L, keys, KEY_FOLLOWUP + 1);
    lua_pushboolean(L, dv->followup);
    lua_settable(L, t);
    lua_rawgeti(L, keys, KEY_DELETED + 1);
    lua_pushboolean(L, dv->deleted);
    lua_settable(L, t);
}

static const char *number_text(lua_State *L, int idx, char *buf, size_t size)
{
    if (lua_isinteger(L, idx)) {
        snprintf(buf, size, "%lld", (long long)lua_tointeger(L, idx));
    } else {
        double d = lua_tonumber(L, idx);
        if (!isfinite(d))
            return NULL;
        if (d == floor(d) && fabs(d) < 1e15)
            snprintf(buf, size, "%.0f", d);
        else
            snprintf(buf, size, "%.15g", d);
    }
    return buf;
}

/* Reads the table at index r into tc->dv; strings equal to the previous ones keep their
 * pointers, new ones are copied to the arena. */
static void read_table(lua_State *L, int r, struct tcall *tc, const char *what)
{
    struct mapping *m = tc->m;
    int keys = push_keys(L, m);
    for (int i = 0; i < N_STR_FIELDS; i++) {
        const char **f = datavalue_string(tc->dv, transform_fields[i]);
        lua_rawgeti(L, keys, i + 1);
        int t = lua_gettable(L, r);
        char num[64];
        const char *s = NULL;
        size_t len = 0;
        if (t == LUA_TSTRING) {
            s = lua_tolstring(L, -1, &len);
        } else if (t == LUA_TNUMBER && i >= 5) {
            s = number_text(L, -1, num, sizeof num);
            if (!s)
                luaL_error(L, "%s.lua:%d: %s: %s is not a finite number", m->name,
                           m->transform_line, what, datavalue_names[transform_fields[i]]);
            len = strlen(s);
        } else if (t != LUA_TNIL) {
            luaL_error(L, "%s.lua:%d: %s: %s is a %s, expected a string", m->name,
                       m->transform_line, what, datavalue_names[transform_fields[i]], luaL_typename(L, -1));
        }
        if (!s && i < 3)
            luaL_error(L, "%s.lua:%d: %s: the value has no %s", m->name, m->transform_line,
                       what, datavalue_names[transform_fields[i]]);
        if (!s) {
            *f = NULL;
        } else if (!*f || strlen(*f) != len || memcmp(*f, s, len) != 0) {
            if (!tc->a)
                luaL_error(L, "mapping_apply: transform output needs an arena");
            *f = arena_strndup(tc->a, s, len);
            if (!*f)
                luaL_error(L, "out of memory");
        }
        lua_pop(L, 1);
    }
    lua_rawgeti(L, keys, KEY_FOLLOWUP + 1);
    lua_gettable(L, r);
    tc->dv->followup = lua_toboolean(L, -1);
    lua_rawgeti(L, keys, KEY_DELETED + 1);
    lua_gettable(L, r);
    tc->dv->deleted = lua_toboolean(L, -1);
    lua_pop(L, 3);
}

/* Protected: (lightuserdata tcall). */
static int transform_call(lua_State *L)
{
    struct tcall *tc = lua_touserdata(L, 1);
    struct mapping *m = tc->m;
    lua_settop(L, 0);
    lua_rawgeti(L, LUA_REGISTRYINDEX, m->transform_ref); /* 1 */
    lua_rawgeti(L, LUA_REGISTRYINDEX, m->dv_ref);        /* 2 */
    fill_table(L, 2, push_keys(L, m), tc->dv);
    lua_pop(L, 1);
    lua_rawgeti(L, LUA_REGISTRYINDEX, m->ctx_ref); /* 3 */
    lua_call(L, 2, 1);
    int t = lua_type(L, 1);
    if (t == LUA_TNIL || (t == LUA_TBOOLEAN && !lua_toboolean(L, 1))) {
        tc->dropped = 1;
        return 0;
    }
    if (t != LUA_TTABLE)
        return luaL_error(L, "%s.lua:%d: transform must return the value (a table) or nil, "
                             "not a %s", m->name, m->transform_line, luaL_typename(L, 1));
    read_table(L, 1, tc, "transform returned a bad value");
    return 0;
}

/* Calls fn(ud) protected in the version's Lua state, holding its mutex, with lookup in effect
 * for the call. 0 or ERR_SCRIPT (why filled). */
static int call_locked(struct mapping *m, lua_CFunction fn, void *ud,
                       const struct mapping_lookup *lookup, struct err *why)
{
    pthread_mutex_lock(&m->lock);
    lua_State *L = lua_host_state(m->lua);
    lua_host_set_lookup(m->lua, lookup);
    lua_pushcfunction(L, fn);
    lua_pushlightuserdata(L, ud);
    int rc = lua_host_call(m->lua, 1, 0, why);
    lua_host_set_lookup(m->lua, NULL);
#ifndef NDEBUG
    if (lua_gettop(L) != 0) {
        log_error("mapping %s: Lua stack unbalanced after a call (%d)", m->name, lua_gettop(L));
        lua_settop(L, 0);
    }
#endif
    pthread_mutex_unlock(&m->lock);
    return rc;
}

enum map_result mapping_apply(struct mapping *m, const struct datavalue *in, struct datavalue *out,
                              struct arena *a, const struct mapping_lookup *lookup,
                              struct err *why)
{
    *out = *in;
    for (int k = 0; k < MAP_KINDS; k++) {
        const struct strmap *t = m->tables[k];
        if (!t)
            continue;
        const char **f = kind_field(out, k);
        if (!*f)
            continue; /* the default combo stays the default combo */
        const struct strmap_slot *s = strmap_find(t, *f);
        if (s) {
            if (!s->val) {
                err_set(why, 0, "%s maps '%s' to false (dropped)", kind_names[k], *f);
                return MAP_SKIP;
            }
            *f = s->val;
        } else if (m->unmapped == MAP_UNMAPPED_SKIP) {
            err_set(why, 0, "no %s entry for '%s'", kind_names[k], *f);
            return MAP_SKIP;
        } else if (m->unmapped == MAP_UNMAPPED_ERROR) {
            err_set(why, ERR_SCRIPT, "%s.lua: no %s entry for '%s' (unmapped = \"error\")",
                    m->name, kind_names[k], *f);
            return MAP_ERROR;
        }
    }
    if (m->transform_ref == LUA_NOREF)
        return MAP_OK;

    struct tcall tc = {m, out, a, 0};
    int rc = call_locked(m, transform_call, &tc, lookup, why);
    if (rc != 0)
        return MAP_ERROR;
    if (tc.dropped) {
        err_set(why, 0, "transform returned nil");
        return MAP_SKIP;
    }
    return MAP_OK;
}

/* Protected: (lightuserdata tcall) — reads the mapping's `sample` table into tc->dv. */
static int sample_call(lua_State *L)
{
    struct tcall *tc = lua_touserdata(L, 1);
    lua_rawgeti(L, LUA_REGISTRYINDEX, tc->m->sample_ref);
    read_table(L, lua_gettop(L), tc, "sample");
    return 0;
}

int mapping_canary(struct mapping *m, struct err *why)
{
    if (m->transform_ref == LUA_NOREF)
        return 0;
    struct arena a = {0};
    struct datavalue in = {
        .data_element = "canaryDE001", .period = "202401", .org_unit = "canaryOU001",
        .category_option_combo = NULL, .attribute_option_combo = NULL, .value = "1",
    }, out;
    int rc = 0;
    if (m->sample_ref != LUA_NOREF) {
        struct tcall tc = {m, &in, &a, 0};
        pthread_mutex_lock(&m->lock);
        lua_State *L = lua_host_state(m->lua);
        lua_pushcfunction(L, sample_call);
        lua_pushlightuserdata(L, &tc);
        rc = lua_host_call(m->lua, 1, 0, why);
        pthread_mutex_unlock(&m->lock);
        if (rc != 0)
            goto out;
    } else {
        /* a value whose ids the tables know, so it reaches transform */
        for (int k = 0; k < MAP_KINDS; k++) {
            const struct strmap *t = m->tables[k];
            for (size_t i = 0; t && i <= t->mask; i++) {
                if (t->slots[i].key && t->slots[i].val) {
                    *kind_field(&in, k) = t->slots[i].key;
                    break;
                }
            }
        }
    }
    struct err e;
    if (mapping_apply(m, &in, &out, &a, NULL, &e) == MAP_ERROR)
        rc = err_set(why, ERR_SCRIPT, "%s", e.msg);
out:
    arena_free(&a);
    return rc;
}

/* ---------------------------------------------------------------- aggregate */

struct agg {
    int live;       /* holds a value that is not a deletion */
    int numeric;    /* every live value so far was a number */
    int all_int;
    int members;
    int noted;      /* counted in the note as a non-numeric key */
    long long isum;
    double dsum;
};

static int parse_number(const char *s, long long *iv, double *dv, int *is_int)
{
    if (!s || !*s)
        return 0;
    const char *p = s;
    if (*p == '+' || *p == '-')
        p++;
    int digits_only = *p != '\0';
    for (const char *q = p; *q; q++)
        if (*q < '0' || *q > '9')
            digits_only = 0;
    char *end;
    if (digits_only) {
        errno = 0;
        long long v = strtoll(s, &end, 10);
        if (errno == 0 && *end == '\0') {
            *iv = v;
            *dv = (double)v;
            *is_int = 1;
            return 1;
        }
    }
    if (strpbrk(s, "xXnNiI"))
        return 0; /* no hex, nan, inf */
    errno = 0;
    double d = strtod(s, &end);
    if (end == s || *end != '\0' || !isfinite(d))
        return 0;
    *dv = d;
    *is_int = 0;
    return 1;
}

static uint64_t key_hash(const struct datavalue *v)
{
    const char *parts[5] = {v->data_element, v->period, v->org_unit, v->category_option_combo,
                            v->attribute_option_combo};
    uint64_t h = 0;
    for (int i = 0; i < 5; i++)
        h = lua_host_fnv1a(h, parts[i] ? parts[i] : "\1", parts[i] ? strlen(parts[i]) + 1 : 1);
    return h;
}

static int str_eq(const char *a, const char *b) { return a == b || (a && b && strcmp(a, b) == 0); }

static int key_eq(const struct datavalue *a, const struct datavalue *b)
{
    return str_eq(a->data_element, b->data_element) && str_eq(a->period, b->period) &&
           str_eq(a->org_unit, b->org_unit) &&
           str_eq(a->category_option_combo, b->category_option_combo) &&
           str_eq(a->attribute_option_combo, b->attribute_option_combo);
}

static void agg_start(struct agg *g, const struct datavalue *v)
{
    *g = (struct agg){.live = !v->deleted, .members = 1};
    int is_int;
    g->numeric = g->live && parse_number(v->value, &g->isum, &g->dsum, &is_int);
    g->all_int = g->numeric && is_int;
}

size_t mapping_aggregate(const struct mapping *m, struct datavalue *vals, size_t n,
                         struct arena *a, struct err *note)
{
    if (!m->aggregate_sum || n < 2)
        return n;
    size_t cap = 16;
    while (cap < n * 2)
        cap <<= 1;
    size_t *slots = malloc(cap * sizeof *slots); /* index into vals (output) + 1; 0 = empty */
    struct agg *groups = malloc(n * sizeof *groups);
    if (!slots || !groups) {
        free(slots);
        free(groups);
        err_set(note, ERR_INTERNAL, "aggregate: out of memory; values were not combined");
        return n;
    }
    memset(slots, 0, cap * sizeof *slots);
    size_t kept = 0, nonnumeric = 0;
    const struct datavalue *example = NULL;
    for (size_t i = 0; i < n; i++) {
        struct datavalue v = vals[i];
        size_t j = (size_t)key_hash(&v) & (cap - 1);
        while (slots[j] && !key_eq(&vals[slots[j] - 1], &v))
            j = (j + 1) & (cap - 1);
        if (!slots[j]) {
            slots[j] = kept + 1;
            vals[kept] = v;
            agg_start(&groups[kept], &v);
            kept++;
            continue;
        }
        size_t o = slots[j] - 1;
        struct datavalue *dst = &vals[o];
        struct agg *g = &groups[o];
        g->members++;
        if (v.deleted) {
            if (!g->live)
                *dst = v; /* only deletions so far: keep the last one */
            continue;
        }
        if (!g->live) {
            *dst = v;
            int members = g->members;
            agg_start(g, &v);
            g->members = members;
            continue;
        }
        long long iv = 0;
        double dv = 0;
        int is_int = 0;
        if (g->numeric && parse_number(v.value, &iv, &dv, &is_int)) {
            if (g->all_int && is_int && !__builtin_add_overflow(g->isum, iv, &g->isum)) {
                /* still an exact integer sum */
            } else {
                g->all_int = 0;
            }
            g->dsum += dv;
        } else {
            if (!g->noted) {
                g->noted = 1;
                nonnumeric++;
                if (!example)
                    example = dst;
            }
            g->numeric = 0;
            dst->value = v.value; /* not a number: the last value wins */
        }
        if (v.comment)
            dst->comment = v.comment;
        if (v.stored_by)
            dst->stored_by = v.stored_by;
        if (v.last_updated && (!dst->last_updated || strcmp(v.last_updated, dst->last_updated) > 0))
            dst->last_updated = v.last_updated;
        if (v.created && (!dst->created || strcmp(v.created, dst->created) < 0))
            dst->created = v.created;
        dst->followup = dst->followup || v.followup;
    }
    for (size_t o = 0; o < kept; o++) {
        struct agg *g = &groups[o];
        if (g->members < 2 || !g->live || !g->numeric)
            continue;
        char buf[64];
        if (g->all_int)
            snprintf(buf, sizeof buf, "%lld", g->isum);
        else if (g->dsum == floor(g->dsum) && fabs(g->dsum) < 1e15)
            snprintf(buf, sizeof buf, "%.0f", g->dsum);
        else
            snprintf(buf, sizeof buf, "%.15g", g->dsum);
        const char *s = arena_strdup(a, buf);
        if (s)
            vals[o].value = s;
    }
    if (nonnumeric && example)
        err_set(note, ERR_INPUT,
                "aggregate: %zu target key(s) had a non-numeric value; kept the last value "
                "(e.g. dataElement %s period %s orgUnit %s)",
                nonnumeric, example->data_element ? example->data_element : "?",
                example->period ? example->period : "?", example->org_unit ? example->org_unit : "?");
    free(slots);
    free(groups);
    return kept;
}

/* ---------------------------------------------------------------- objects */

/* The table named `table`; *declared_name gets its name as the mapping spells it. The metadata
 * API calls org units organisationUnits: that name reaches the orgUnits table too. */
static const struct strmap *table_named(const struct mapping *m, const char *table,
                                        const char **declared_name)
{
    if (strcmp(table, "organisationUnits") == 0)
        table = kind_names[MAP_OU];
    *declared_name = table;
    for (int k = 0; k < MAP_KINDS; k++)
        if (strcmp(table, kind_names[k]) == 0)
            return m->tables[k];
    for (int k = 0; k < OBJECT_TABLES; k++)
        if (strcmp(table, object_table_names[k]) == 0)
            return m->object_tables[k];
    return NULL;
}

enum map_result mapping_map_id(const struct mapping *m, const char *table, const char *id,
                               const char **out, struct err *why)
{
    const char *name;
    const struct strmap *t = table_named(m, table, &name);
    *out = id;
    if (!t)
        return MAP_OK;
    const struct strmap_slot *s = strmap_find(t, id);
    if (s) {
        if (!s->val) {
            err_set(why, 0, "%s maps '%s' to false (dropped)", name, id);
            return MAP_SKIP;
        }
        *out = s->val;
        return MAP_OK;
    }
    if (m->unmapped == MAP_UNMAPPED_KEEP)
        return MAP_OK;
    if (m->unmapped == MAP_UNMAPPED_SKIP) {
        err_set(why, 0, "no %s entry for '%s'", name, id);
        return MAP_SKIP;
    }
    err_set(why, ERR_SCRIPT, "%s.lua: no %s entry for '%s' (unmapped = \"error\")", m->name,
            name, id);
    return MAP_ERROR;
}

bool mapping_has_table(const struct mapping *m, const char *table)
{
    const char *name;
    return table_named(m, table, &name) != NULL;
}

static int fn_index(const char *fn)
{
    for (int f = 0; f < OBJECT_FNS; f++)
        if (strcmp(fn, object_fn_names[f]) == 0)
            return f;
    return -1;
}

bool mapping_has_function(const struct mapping *m, const char *fn)
{
    int f = fn_index(fn);
    return f >= 0 && m->fn_ref[f] != LUA_NOREF;
}

struct ocall {
    struct mapping *m;
    int f;
    const cJSON *in;
    const char *type;
    cJSON *out;
    int dropped;
};

/* Protected: (lightuserdata ocall). */
static int object_call(lua_State *L)
{
    struct ocall *oc = lua_touserdata(L, 1);
    struct mapping *m = oc->m;
    const char *fn = object_fn_names[oc->f];
    lua_settop(L, 0);
    lua_newtable(L); /* 1: each object's table -> its cJSON node, for the key order */
    lua_rawgeti(L, LUA_REGISTRYINDEX, m->fn_ref[oc->f]); /* 2 */
    lua_json_push(L, oc->in, 1);
    if (oc->type)
        lua_pushstring(L, oc->type);
    lua_rawgeti(L, LUA_REGISTRYINDEX, m->ctx_ref);
    lua_call(L, lua_gettop(L) - 2, 1);
    int t = lua_type(L, 2);
    if (t == LUA_TNIL || (t == LUA_TBOOLEAN && !lua_toboolean(L, 2))) {
        oc->dropped = 1;
        return 0;
    }
    if (t != LUA_TTABLE)
        return luaL_error(L, "%s.lua:%d: %s must return the object (a table) or nil, not a %s",
                          m->name, m->fn_line[oc->f], fn, luaL_typename(L, 2));
    lua_json_read(L, 2, 1, &oc->out, m->fn_where[oc->f]);
    return 0;
}

enum map_result mapping_apply_object(struct mapping *m, const char *fn, cJSON **obj,
                                     const char *type, const struct mapping_lookup *lookup,
                                     struct err *why)
{
    struct ocall oc = {.m = m, .f = fn_index(fn), .in = *obj, .type = type};
    if (oc.f < 0 || m->fn_ref[oc.f] == LUA_NOREF)
        return MAP_OK;
    if (call_locked(m, object_call, &oc, lookup, why) != 0) {
        cJSON_Delete(oc.out);
        return MAP_ERROR;
    }
    if (oc.dropped) {
        err_set(why, 0, "%s returned nil", fn);
        return MAP_SKIP;
    }
    cJSON_Delete(*obj);
    *obj = oc.out;
    return MAP_OK;
}
