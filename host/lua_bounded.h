/* lua_bounded.h — the library functions of the mapping sandbox whose work escapes the
 * instruction hook, replaced by versions that pay for it.
 *
 * Owns: string.find/match/gmatch/gsub (a pattern matcher that charges its steps to the call's
 * budget), string.rep (refuses results over the memory cap, costs one copy per doubling), and
 * table.move/concat/unpack/insert/remove/sort (charge their range before they start; the
 * length of insert/remove/sort is read once, so a __len cannot grow it behind our back), and
 * a meter for the other functions whose work is linear in the bytes they handle.
 * Never: keeps state between calls, or allocates outside the state's allocator.
 * Every cost goes through lua_host_spend (lua_host.h), so a stuck call ends with the same
 * "stopped: ..." error as an endless loop, on time and when its run is cancelled. */
#ifndef DHIS2SYNC_LUA_BOUNDED_H
#define DHIS2SYNC_LUA_BOUNDED_H

#include <lua.h>
#include <stddef.h>

/* Replaces the functions above in the real string table at string_idx and table library at
 * table_idx (string values reach the string table through their metatable). mem_cap: the
 * state's memory cap in bytes. */
void lua_bounded_install(lua_State *L, int string_idx, int table_idx, size_t mem_cap);

/* Wraps the functions `names` (NULL-terminated) of the table at idx so that each call pays
 * for the bytes of the strings it returns, and with reads_input also for those it is given.
 * For C functions without upvalues whose work is linear in those bytes. */
void lua_bounded_meter(lua_State *L, int idx, const char *const names[], int reads_input);

#endif
