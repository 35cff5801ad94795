/* lua_json.h — JSON objects (cJSON) as Lua values for the mapping functions metadata, event and
 * trackedEntity, and back.
 *
 * Owns: the one conversion between cJSON and Lua tables, the `null` sentinel, the marks that
 * keep arrays and objects apart (so an empty [] stays [] and an empty {} stays {}), and the
 * bounds of a conversion (depth, cycles, keys that JSON cannot have). Every node converted is
 * charged to the current call's instruction budget (lua_host_spend), so a giant object ends
 * the call with a budget error instead of holding the host.
 * Never: calls the mapping, or keeps anything between calls.
 *
 * The shapes a mapping sees (documented in docs/mappings.md):
 *   object  -> table with string keys, marked as an object (getmetatable(t) == "object")
 *   array   -> sequence 1..n, marked as an array (getmetatable(t) == "array")
 *   string, boolean -> themselves
 *   number  -> an integer when the JSON number is whole and within ±2^53, else a float
 *   null    -> ctx.null (a light userdata), so nulls in arrays and objects round-trip
 * and back: a marked table keeps its kind; an unmarked table (one the function made) is an
 * object if it has string keys, an array if its keys are 1..n, and an array when empty; use
 * ctx.object({}) for an empty object. An array with holes, a key that is neither (or a mix),
 * NaN or infinity, a string with a NUL byte, a function, a cycle or nesting deeper than
 * LUA_JSON_MAX_DEPTH raise an error naming where in the object it is.
 *
 * All functions raise Lua errors: call them inside a protected call of lua_host. */
#ifndef DHIS2SYNC_LUA_JSON_H
#define DHIS2SYNC_LUA_JSON_H

#include <cJSON.h>
#include <lua.h>

enum { LUA_JSON_MAX_DEPTH = 200 };

/* Adds null, array(t) and object(t) (they mark t and return it) to the table at idx. */
void lua_json_add_helpers(lua_State *L, int idx);

/* Pushes v as a Lua value. origin: the absolute index of a table in which each object's Lua
 * table is recorded with its cJSON node, so lua_json_read can keep the original key order
 * (0: none). v must stay alive until that lua_json_read. */
void lua_json_push(lua_State *L, const cJSON *v, int origin);

/* Converts the Lua value at idx into a new cJSON tree in *out. *out is set before the first
 * child is added and every node is attached as soon as it is made, so after an error the
 * caller deletes *out and nothing leaks. origin as for lua_json_push (0: none). where starts
 * every error message ("district.lua:12: event returned"). */
void lua_json_read(lua_State *L, int idx, int origin, cJSON **out, const char *where);

#endif
