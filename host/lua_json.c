/* lua_json.c — cJSON <-> Lua tables for the object functions of mappings. See lua_json.h. */
#include "lua_json.h"

#include <lauxlib.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "lua_host.h"

/* What one node costs the call's budget, in VM instructions: making a table or a cJSON node
 * and setting it is the work of a few dozen instructions. Strings add one per 16 bytes. */
enum { NODE_COST = 10, STRING_BYTES_PER_UNIT = 16 };

static const char array_mark, object_mark, null_value;

/* Pushes the marker metatable for arrays or objects, made on first use. Its __metatable field
 * answers getmetatable() with "array" or "object" and stops setmetatable() from unmarking. */
static void push_mark(lua_State *L, const char *key)
{
    if (lua_rawgetp(L, LUA_REGISTRYINDEX, key) == LUA_TTABLE)
        return;
    lua_pop(L, 1);
    lua_createtable(L, 0, 1);
    lua_pushstring(L, key == &array_mark ? "array" : "object");
    lua_setfield(L, -2, "__metatable");
    lua_pushvalue(L, -1);
    lua_rawsetp(L, LUA_REGISTRYINDEX, key);
}

/* 1: marked as an array, 2: as an object, 0: neither (no metatable or another one). */
static int mark_of(lua_State *L, int idx)
{
    if (!lua_getmetatable(L, idx))
        return 0;
    int mark = 0;
    push_mark(L, &array_mark);
    if (lua_rawequal(L, -1, -2))
        mark = 1;
    lua_pop(L, 1);
    push_mark(L, &object_mark);
    if (lua_rawequal(L, -1, -2))
        mark = 2;
    lua_pop(L, 2);
    return mark;
}

static int set_mark(lua_State *L, const char *key)
{
    luaL_checktype(L, 1, LUA_TTABLE);
    if (lua_getmetatable(L, 1) && !mark_of(L, 1))
        return luaL_error(L, "%s(t): t already has a metatable of its own",
                          key == &array_mark ? "array" : "object");
    lua_settop(L, 1);
    push_mark(L, key);
    lua_setmetatable(L, 1);
    return 1;
}

static int h_array(lua_State *L) { return set_mark(L, &array_mark); }
static int h_object(lua_State *L) { return set_mark(L, &object_mark); }

void lua_json_add_helpers(lua_State *L, int idx)
{
    idx = lua_absindex(L, idx);
    lua_pushlightuserdata(L, (void *)&null_value);
    lua_setfield(L, idx, "null");
    lua_pushcfunction(L, h_array);
    lua_setfield(L, idx, "array");
    lua_pushcfunction(L, h_object);
    lua_setfield(L, idx, "object");
}

/* ---------------------------------------------------------------- cJSON -> Lua */

/* Stack slots of the conversion: the origin table (0: none) and the two marks. */
struct pusher {
    int origin, array_mt, object_mt;
};

static void push_value(lua_State *L, const cJSON *v, const struct pusher *p, int depth)
{
    lua_host_spend(L, NODE_COST);
    if (cJSON_IsArray(v) || cJSON_IsObject(v)) {
        if (depth >= LUA_JSON_MAX_DEPTH)
            luaL_error(L, "the object is nested deeper than %d levels", LUA_JSON_MAX_DEPTH);
        luaL_checkstack(L, 4, "the object is nested too deeply");
        int is_array = cJSON_IsArray(v);
        int n = 0;
        for (const cJSON *c = v->child; c; c = c->next)
            n++;
        lua_createtable(L, is_array ? n : 0, is_array ? 0 : n);
        int t = lua_gettop(L);
        lua_pushvalue(L, is_array ? p->array_mt : p->object_mt);
        lua_setmetatable(L, t);
        lua_Integer i = 0;
        for (const cJSON *c = v->child; c; c = c->next) {
            if (!is_array)
                lua_pushstring(L, c->string ? c->string : "");
            push_value(L, c, p, depth + 1);
            if (is_array)
                lua_rawseti(L, t, ++i);
            else
                lua_rawset(L, t);
        }
        if (!is_array && p->origin) {
            lua_pushvalue(L, t);
            lua_pushlightuserdata(L, (void *)v);
            lua_rawset(L, p->origin);
        }
    } else if (cJSON_IsString(v)) {
        size_t len = strlen(v->valuestring);
        lua_host_spend(L, (long)(len / STRING_BYTES_PER_UNIT));
        lua_pushlstring(L, v->valuestring, len);
    } else if (cJSON_IsNumber(v)) {
        double d = v->valuedouble;
        /* whole numbers within the exact range of a double are Lua integers, so tostring()
         * gives "3", not "3.0", and they come back as written */
        if (d == floor(d) && fabs(d) <= 9007199254740992.0)
            lua_pushinteger(L, (lua_Integer)d);
        else
            lua_pushnumber(L, d);
    } else if (cJSON_IsBool(v)) {
        lua_pushboolean(L, cJSON_IsTrue(v));
    } else if (cJSON_IsNull(v)) {
        lua_pushlightuserdata(L, (void *)&null_value);
    } else {
        luaL_error(L, "the object holds a JSON value of unknown type");
    }
}

void lua_json_push(lua_State *L, const cJSON *v, int origin)
{
    luaL_checkstack(L, 6, "no room on the Lua stack");
    struct pusher p = {.origin = origin ? lua_absindex(L, origin) : 0};
    push_mark(L, &array_mark);
    p.array_mt = lua_gettop(L);
    push_mark(L, &object_mark);
    p.object_mt = lua_gettop(L);
    push_value(L, v, &p, 0);
    lua_replace(L, p.array_mt); /* the value where the first mark was */
    lua_pop(L, 1);
}

/* ---------------------------------------------------------------- Lua -> cJSON */

/* One step down from the top to the value being read: its key, or index in an array. */
struct step {
    const char *key;
    lua_Integer i;
};

struct reader {
    lua_State *L;
    int origin;
    cJSON **root;
    const char *where;
    const void *array_mt, *object_mt;
    int depth;                                    /* steps in path */
    struct step path[LUA_JSON_MAX_DEPTH];         /* made into text only for an error */
    const void *tables[LUA_JSON_MAX_DEPTH];       /* the tables being read, to find cycles */
};

static void read_value(struct reader *r, int idx, cJSON *parent, const char *key, int depth);

__attribute__((format(printf, 2, 3), noreturn))
static void fail(struct reader *r, const char *fmt, ...)
{
    char msg[200], at[256] = "";
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    size_t len = 0;
    for (int d = 0; d < r->depth && len < sizeof at - 1; d++) {
        int n = r->path[d].key
                    ? snprintf(at + len, sizeof at - len, ".%s", r->path[d].key)
                    : snprintf(at + len, sizeof at - len, "[%lld]", (long long)r->path[d].i);
        len += n > 0 ? (size_t)n : 0;
    }
    luaL_error(r->L, "%s %s (at %s)", r->where, msg, r->depth ? at : "the top");
    __builtin_unreachable();
}

static void attach(struct reader *r, cJSON *parent, const char *key, cJSON *node)
{
    if (!node)
        fail(r, "ran out of memory");
    int ok = 1;
    if (!parent)
        *r->root = node;
    else if (key)
        ok = cJSON_AddItemToObject(parent, key, node);
    else
        ok = cJSON_AddItemToArray(parent, node);
    if (!ok) {
        cJSON_Delete(node);
        fail(r, "ran out of memory");
    }
}

/* Reads the value on top of the stack (and pops it) as node's child `key` or `i` (key NULL). */
static void read_child(struct reader *r, cJSON *node, const char *key, lua_Integer i, int depth)
{
    r->path[depth - 1] = (struct step){key, i};
    r->depth = depth;
    read_value(r, lua_gettop(r->L), node, key, depth);
    r->depth = depth - 1;
    lua_pop(r->L, 1);
}

/* The object's fields: first those the original object had, in its order (a mapping that
 * changes a value should not reshuffle the object), then the ones the function added. */
static void read_fields(struct reader *r, int idx, cJSON *node, lua_Integer n, int depth)
{
    lua_State *L = r->L;
    const cJSON *orig = NULL;
    if (r->origin) {
        lua_pushvalue(L, idx);
        if (lua_rawget(L, r->origin) == LUA_TLIGHTUSERDATA)
            orig = lua_touserdata(L, -1);
        lua_pop(L, 1);
    }
    lua_Integer emitted = 0, n_orig = 0;
    for (const cJSON *c = orig ? orig->child : NULL; c; c = c->next, n_orig++) {
        lua_pushstring(L, c->string ? c->string : "");
        if (lua_rawget(L, idx) == LUA_TNIL) {
            lua_pop(L, 1);
            continue;
        }
        emitted++;
        read_child(r, node, c->string ? c->string : "", 0, depth);
    }
    if (emitted >= n)
        return; /* no field was added (a duplicated key in the input counts twice: ignored) */
    lua_pushnil(L);
    while (lua_next(L, idx)) {
        size_t len;
        const char *key = lua_tolstring(L, -2, &len);
        if (strlen(key) != len)
            fail(r, "a key with a NUL byte");
        if (orig) {
            lua_host_spend(L, (long)n_orig);
            if (cJSON_GetObjectItemCaseSensitive(orig, key)) {
                lua_pop(L, 1);
                continue;
            }
        }
        read_child(r, node, key, 0, depth);
    }
}

static void read_table(struct reader *r, int idx, cJSON *parent, const char *key, int depth)
{
    lua_State *L = r->L;
    idx = lua_absindex(L, idx);
    if (depth >= LUA_JSON_MAX_DEPTH)
        fail(r, "an object nested deeper than %d levels", LUA_JSON_MAX_DEPTH);
    luaL_checkstack(L, 6, "no room on the Lua stack");
    const void *self = lua_topointer(L, idx);
    for (int d = 0; d < depth; d++)
        if (r->tables[d] == self)
            fail(r, "a table that contains itself (a cycle)");
    r->tables[depth] = self;
    int mark = 0;
    if (lua_getmetatable(L, idx)) {
        const void *mt = lua_topointer(L, -1);
        mark = mt == r->array_mt ? 1 : mt == r->object_mt ? 2 : 0;
        lua_pop(L, 1);
    }
    lua_Integer n = 0, max = 0, strings = 0;
    const char *bad = NULL; /* the type of the first key that is neither a string nor 1..n */
    lua_pushnil(L);
    while (lua_next(L, idx)) {
        lua_pop(L, 1);
        n++;
        lua_host_spend(L, 1);
        if (lua_type(L, -1) == LUA_TSTRING)
            strings++;
        else if (lua_isinteger(L, -1) && lua_tointeger(L, -1) > 0)
            max = lua_tointeger(L, -1) > max ? lua_tointeger(L, -1) : max;
        else if (!bad)
            bad = luaL_typename(L, -1);
    }
    int is_array;
    if (mark == 2 || (mark == 0 && strings && strings == n)) {
        if (strings != n)
            fail(r, "a key of type %s in an object; JSON object keys are strings",
                 bad ? bad : "number");
        is_array = 0;
    } else if (mark == 1 || (strings == 0 && !bad)) {
        /* an empty table the function made is an array too: ctx.object({}) for an object */
        if (strings || bad)
            fail(r, "a key of type %s in an array", strings ? "string" : bad);
        if (max != n)
            fail(r, "an array with holes (remove elements with table.remove)");
        is_array = 1;
    } else {
        fail(r, "a table with a key of type %s; a table is an array (keys 1..n) or an object "
                "(string keys)", bad ? bad : "number");
    }
    cJSON *node = is_array ? cJSON_CreateArray() : cJSON_CreateObject();
    attach(r, parent, key, node);
    if (is_array) {
        for (lua_Integer i = 1; i <= n; i++) {
            lua_rawgeti(L, idx, i);
            read_child(r, node, NULL, i, depth + 1);
        }
    } else {
        read_fields(r, idx, node, n, depth + 1);
    }
}

static void read_value(struct reader *r, int idx, cJSON *parent, const char *key, int depth)
{
    lua_State *L = r->L;
    lua_host_spend(L, NODE_COST);
    cJSON *node = NULL;
    switch (lua_type(L, idx)) {
    case LUA_TTABLE:
        read_table(r, idx, parent, key, depth);
        return;
    case LUA_TBOOLEAN:
        node = cJSON_CreateBool(lua_toboolean(L, idx));
        break;
    case LUA_TNUMBER:
        if (lua_isinteger(L, idx)) {
            node = cJSON_CreateNumber((double)lua_tointeger(L, idx));
        } else {
            double d = lua_tonumber(L, idx);
            if (!isfinite(d))
                fail(r, "a number that JSON cannot hold (%s)", isnan(d) ? "NaN" : "infinity");
            node = cJSON_CreateNumber(d);
        }
        break;
    case LUA_TSTRING: {
        size_t len;
        const char *s = lua_tolstring(L, idx, &len);
        if (strlen(s) != len)
            fail(r, "a string with a NUL byte");
        lua_host_spend(L, (long)(len / STRING_BYTES_PER_UNIT));
        node = cJSON_CreateString(s);
        break;
    }
    case LUA_TLIGHTUSERDATA:
        if (lua_touserdata(L, idx) == &null_value) {
            node = cJSON_CreateNull();
            break;
        }
        /* fall through */
    default:
        fail(r, "a %s, which JSON cannot hold", luaL_typename(L, idx));
    }
    attach(r, parent, key, node);
}

void lua_json_read(lua_State *L, int idx, int origin, cJSON **out, const char *where)
{
    struct reader r = {.L = L, .root = out, .where = where};
    *out = NULL;
    idx = lua_absindex(L, idx);
    r.origin = origin ? lua_absindex(L, origin) : 0;
    push_mark(L, &array_mark);
    r.array_mt = lua_topointer(L, -1);
    push_mark(L, &object_mark);
    r.object_mt = lua_topointer(L, -1);
    lua_pop(L, 2); /* the registry keeps them */
    read_value(&r, idx, NULL, NULL, 0);
}
