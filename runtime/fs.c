/* fs.c -- placeholder until the binding lands (see its issue). */
#include "slipway.h"

int luaopen_slipway_fs_core(lua_State *L) {
  lua_newtable(L);
  return 1;
}
