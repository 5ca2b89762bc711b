/*
 * state.c -- the Lua state as slipway's code expects it: the standard
 * libraries, the C bindings preloaded, the module searchers (user paths,
 * then the files compiled in from scripts/), slipway.runtime, a print that
 * redacts secrets, and os.exit through the scheduler. main.c calls it for
 * the slipway command; the fuzz harnesses (tests/fuzz/) call it too, so
 * both run the library in the same state.
 */
#include "slipway.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <lualib.h>

/* ---- module loading ----------------------------------------------------- */

static const luaL_Reg c_modules[] = {
  {"slipway.core", luaopen_slipway_core},
  {"slipway.task.core", luaopen_slipway_task_core},
  {"slipway.fs.core", luaopen_slipway_fs_core},
  {"slipway.proc.core", luaopen_slipway_proc_core},
  {"slipway.http.core", luaopen_slipway_http_core},
  {"slipway.server.core", luaopen_slipway_server_core},
  {"slipway.yaml.core", luaopen_slipway_yaml_core},
  {"slipway.json.core", luaopen_slipway_json_core},
  {"slipway.build.core", luaopen_slipway_build_core},
  {"slipway.digest.core", luaopen_slipway_digest_core},
  {NULL, NULL}};

/* searcher: modules compiled into the binary (scripts/) */
static int search_embedded(lua_State *L) {
  const char *name = luaL_checkstring(L, 1);
  const sw_embedded *m;
  luaL_gsub(L, name, ".", "/");
  const char *base = lua_tostring(L, -1);
  m = sw_embedded_find(lua_pushfstring(L, "%s.lua", base));
  if (m == NULL) m = sw_embedded_find(lua_pushfstring(L, "%s/init.lua", base));
  if (m == NULL) {
    lua_pushfstring(L, "no embedded module '%s'", name);
    return 1;
  }
  if (sw_embedded_load(L, m) != LUA_OK)
    return luaL_error(L, "error loading embedded module '%s':\n\t%s", name,
                      lua_tostring(L, -1));
  lua_pushstring(L, name);
  return 2;
}

/* searcher: the playbook's directory and SLIPWAY_PATH, before the library */
static int search_user(lua_State *L) {
  const char *name = luaL_checkstring(L, 1);
  lua_getfield(L, LUA_REGISTRYINDEX, "slipway.userpath");
  if (lua_rawlen(L, -1) == 0) return 0;  /* no user paths: no "no file ''" line */
  lua_pop(L, 1);
  lua_getfield(L, lua_upvalueindex(1), "searchpath");
  lua_pushvalue(L, 1);
  lua_getfield(L, LUA_REGISTRYINDEX, "slipway.userpath");
  lua_call(L, 2, 2);
  if (lua_isnil(L, -2)) return 1;  /* the "not found" message */
  const char *file = lua_tostring(L, -2);
  if (luaL_loadfilex(L, file, "t") != LUA_OK)
    return luaL_error(L, "error loading module '%s' from file '%s':\n\t%s", name,
                      file, lua_tostring(L, -1));
  lua_pushstring(L, file);
  return 2;
}

static void add_dir_templates(luaL_Buffer *b, const char *dir, size_t n) {
  if (n == 0) return;
  luaL_addlstring(b, dir, n);
  luaL_addstring(b, "/?.lua;");
  luaL_addlstring(b, dir, n);
  luaL_addstring(b, "/?/init.lua;");
}

/* The user search path (registry "slipway.userpath"): the script's own
 * directory (when there is a script) and SLIPWAY_PATH. slipway.cli sets it
 * again through host.use_script once it knows the script. */
void sw_set_userpath(lua_State *L, const char *script) {
  luaL_Buffer b;
  luaL_buffinit(L, &b);
  if (script) {
    const char *slash = strrchr(script, '/');
    if (slash) add_dir_templates(&b, script, (size_t)(slash - script));
    else add_dir_templates(&b, ".", 1);
  }
  const char *sp = getenv("SLIPWAY_PATH");
  while (sp && *sp) {
    const char *end = strchr(sp, ':');
    size_t n = end ? (size_t)(end - sp) : strlen(sp);
    add_dir_templates(&b, sp, n);
    sp = end ? end + 1 : NULL;
  }
  luaL_pushresult(&b);
  size_t plen;
  const char *pth = lua_tolstring(L, -1, &plen);
  if (plen > 0 && pth[plen - 1] == ';') {  /* an empty last template finds "" */
    lua_pushlstring(L, pth, plen - 1);
    lua_remove(L, -2);
  }
  lua_setfield(L, LUA_REGISTRYINDEX, "slipway.userpath");
}

static void setup_loaders(lua_State *L) {
  luaL_getsubtable(L, LUA_REGISTRYINDEX, LUA_PRELOAD_TABLE);
  for (const luaL_Reg *m = c_modules; m->name; m++) {
    lua_pushcfunction(L, m->func);
    lua_setfield(L, -2, m->name);
  }
  lua_pop(L, 1);
  sw_set_userpath(L, NULL);

  /* searchers: preload, user paths, embedded, then Lua's own path and cpath */
  lua_getglobal(L, "package");
  lua_getfield(L, -1, "searchers");
  lua_createtable(L, 6, 0);
  lua_rawgeti(L, -2, 1);
  lua_rawseti(L, -2, 1);
  lua_pushvalue(L, -3);
  lua_pushcclosure(L, search_user, 1);
  lua_rawseti(L, -2, 2);
  lua_pushcfunction(L, search_embedded);
  lua_rawseti(L, -2, 3);
  for (int i = 2; i <= 4; i++) {
    lua_rawgeti(L, -2, i);
    lua_rawseti(L, -2, i + 2);
  }
  lua_setfield(L, -3, "searchers");
  lua_pop(L, 2);
}

/* ---- globals the runtime documents: print (redacted), os.exit ----------- */

static int l_print(lua_State *L) {
  int n = lua_gettop(L);
  luaL_Buffer b;
  luaL_buffinit(L, &b);
  for (int i = 1; i <= n; i++) {
    size_t len;
    const char *s = luaL_tolstring(L, i, &len);
    if (i > 1) luaL_addchar(&b, '\t');
    luaL_addvalue(&b);
    (void)s;
    (void)len;
  }
  luaL_addchar(&b, '\n');
  luaL_pushresult(&b);
  size_t len;
  const char *s = lua_tolstring(L, -1, &len);
  sw_redact_push(L, s, len);
  s = lua_tolstring(L, -1, &len);
  fwrite(s, 1, len, stdout);
  fflush(stdout);
  return 0;
}

/* runtime information for the standard library: slipway.runtime */
static void set_runtime(lua_State *L, const char *argv0) {
  luaL_getsubtable(L, LUA_REGISTRYINDEX, LUA_LOADED_TABLE);
  lua_createtable(L, 0, 4);
  lua_pushliteral(L, SLIPWAY_VERSION);
  lua_setfield(L, -2, "version");
  lua_pushstring(L, argv0);
  lua_setfield(L, -2, "argv0");
  lua_newtable(L);  /* filled by slipway.args.set_global */
  lua_setfield(L, -2, "options");
  lua_setfield(L, -2, "slipway.runtime");
  lua_pop(L, 1);
}

void sw_state_open(lua_State *L, const char *argv0) {
  luaL_openlibs(L);
  setup_loaders(L);
  set_runtime(L, argv0);
  lua_pushcfunction(L, l_print);
  lua_setglobal(L, "print");
  luaL_requiref(L, "slipway.core", luaopen_slipway_core, 0);
  lua_pop(L, 1);
  luaL_requiref(L, "slipway.task.core", luaopen_slipway_task_core, 0);
  lua_getfield(L, -1, "exit");
  lua_getglobal(L, "os");
  lua_insert(L, -2);
  lua_setfield(L, -2, "exit");
  lua_pop(L, 2);
}
