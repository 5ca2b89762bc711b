/*
 * build.c -- slipway.build.core: what this binary is and what it runs with.
 *
 *   core.version    the version of CMakeLists.txt's project(VERSION)
 *   core.commit     the git commit it was built from ("-dirty" when the work
 *                   tree had changes, "unknown" outside git), written at
 *                   build time by runtime/commit.cmake
 *   core.libs()     {lua =, libuv =, libyaml =, http_parser =, lua_cjson =,
 *                    nettle =, libcurl = version or nil, libcurl_error = why not}
 *   core.describe() the text of `slipway --version`
 *
 * libs() loads libcurl (through slipway.http.core, the loader HTTP uses), so
 * nothing pays for it unless asked: start-up stays without OpenSSL.
 */
#include "slipway.h"

#include <string.h>

#include <http_parser.h>
#include <nettle/version.h>
#include <yaml.h>

extern const char sw_build_commit[];  /* build/build_commit.c */

/* 1 when Lua, libyaml, http-parser and Nettle are linked from static archives
 * (CMakeLists.txt, option SLIPWAY_STATIC_LIBS) */
#ifndef SLIPWAY_STATIC_LIBS
#define SLIPWAY_STATIC_LIBS 0
#endif

#ifndef SLIPWAY_CJSON_VERSION
#define SLIPWAY_CJSON_VERSION "?"
#endif

/* push {lua=, libuv=, ...}; libcurl only when it loads */
static int l_libs(lua_State *L) {
  unsigned long hp = http_parser_version();
  lua_createtable(L, 0, 8);
  lua_pushstring(L, &LUA_RELEASE[4]);  /* "Lua 5.4.6" -> "5.4.6" */
  lua_setfield(L, -2, "lua");
  lua_pushstring(L, uv_version_string());
  lua_setfield(L, -2, "libuv");
  lua_pushstring(L, yaml_get_version_string());
  lua_setfield(L, -2, "libyaml");
  lua_pushfstring(L, "%d.%d.%d", (int)((hp >> 16) & 255), (int)((hp >> 8) & 255),
                  (int)(hp & 255));
  lua_setfield(L, -2, "http_parser");
  lua_pushliteral(L, SLIPWAY_CJSON_VERSION);
  lua_setfield(L, -2, "lua_cjson");
  /* Nettle says major.minor only ("3.8") */
  lua_pushfstring(L, "%d.%d", nettle_version_major(), nettle_version_minor());
  lua_setfield(L, -2, "nettle");

  /* libcurl: ask the HTTP binding, which dlopens it the way requests do */
  int t = lua_gettop(L);
  lua_getglobal(L, "require");
  lua_pushliteral(L, "slipway.http.core");
  lua_call(L, 1, 1);
  lua_getfield(L, -1, "version");
  if (lua_pcall(L, 0, 1, 0) == LUA_OK) {
    lua_getfield(L, -1, "version");
    lua_setfield(L, t, "libcurl");
    lua_getfield(L, -1, "ssl");
    lua_setfield(L, t, "libcurl_ssl");
  } else {
    /* "FILE:LINE: http: cannot load libcurl (...)": keep what follows "http: " */
    const char *msg = luaL_tolstring(L, -1, NULL);
    const char *why = strstr(msg, "http: ");
    lua_pushstring(L, why ? why + 6 : msg);
    lua_setfield(L, t, "libcurl_error");
  }
  lua_settop(L, t);
  return 1;
}

/* push "\n  LABEL VERSION" for libs[field] when it is set; returns 1 or 0 */
static int push_lib(lua_State *L, const char *field, const char *label) {
  if (lua_getfield(L, 1, field) != LUA_TSTRING) {
    lua_pop(L, 1);
    return 0;
  }
  lua_pushfstring(L, "\n  %s %s", label, lua_tostring(L, -1));
  lua_remove(L, -2);
  return 1;
}

/* "slipway 0.1.0 (commit 0123abcd...)\n  Lua 5.4.4\n  libuv ...", one
 * library a line, no newline at the end */
static int l_describe(lua_State *L) {
  int n = 1;
  lua_settop(L, 0);
  l_libs(L);
  lua_pushfstring(L, "slipway %s (commit %s)", SLIPWAY_VERSION, sw_build_commit);
  /* the libraries linked in; "(static)" for those inside the binary */
  static const struct { const char *field, *label; int is_static; } linked[] = {
      {"lua", "Lua", SLIPWAY_STATIC_LIBS},
      {"libuv", "libuv", 0},
      {"libyaml", "libyaml", SLIPWAY_STATIC_LIBS},
      {"http_parser", "http-parser", SLIPWAY_STATIC_LIBS},
      {"lua_cjson", "lua-cjson", 1},
      {"nettle", "Nettle", SLIPWAY_STATIC_LIBS},
  };
  for (size_t i = 0; i < sizeof linked / sizeof linked[0]; i++) {
    if (!push_lib(L, linked[i].field, linked[i].label)) continue;
    n++;
    if (linked[i].is_static) {
      lua_pushliteral(L, " (static)");
      n++;
    }
  }
  if (push_lib(L, "libcurl", "libcurl")) {
    const char *ssl = (lua_getfield(L, 1, "libcurl_ssl"), lua_tostring(L, -1));
    if (ssl && *ssl) lua_pushfstring(L, " (%s, loaded on first HTTP use)", ssl);
    else lua_pushliteral(L, " (loaded on first HTTP use)");
    lua_remove(L, -2);
    n += 2;
  } else {
    lua_getfield(L, 1, "libcurl_error");
    lua_pushfstring(L, "\n  libcurl not loadable: %s", lua_tostring(L, -1));
    lua_remove(L, -2);
    n++;
  }
  lua_concat(L, n);
  return 1;
}

int luaopen_slipway_build_core(lua_State *L) {
  static const luaL_Reg fns[] = {{"libs", l_libs}, {"describe", l_describe}, {NULL, NULL}};
  luaL_newlib(L, fns);
  lua_pushliteral(L, SLIPWAY_VERSION);
  lua_setfield(L, -2, "version");
  lua_pushstring(L, sw_build_commit);
  lua_setfield(L, -2, "commit");
  return 1;
}
