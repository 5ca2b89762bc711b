/*
 * json.c -- slipway.json.core: lua-cjson, linked statically from Debian's
 * lua-cjson-dev. The Lua layer (scripts/slipway/json.lua) adds the null
 * sentinel, sorted keys and indentation for files written to disk.
 */
#include "slipway.h"

#include <lua-cjson.h>

int luaopen_slipway_json_core(lua_State *L) {
  return luaopen_cjson(L);
}
