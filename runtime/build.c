/*
 * build.c -- slipway.build.core: what this binary is and what it runs with.
 *
 *   core.version    the version of CMakeLists.txt's project(VERSION)
 *   core.commit     the git commit it was built from ("-dirty" when the work
 *                   tree had changes, "unknown" outside git), written at
 *                   build time by runtime/commit.cmake
 *   core.libs()     {lua =, libuv =, libyaml =, http_parser =, lua_cjson =,
 *                    libcurl = version or nil, libcurl_error = why not,
 *                    nettle = version or nil, nettle_error = why not}
 *   core.describe() the text of `slipway --version`
 *
 * libs() loads libcurl and Nettle (through slipway.http.core and
 * slipway.digest.core, the loaders HTTP and digests use), so nothing pays for
 * them unless asked: start-up maps neither.
 */
#include "slipway.h"

#include <string.h>

#include <http_parser.h>
#include <yaml.h>

extern const char sw_build_commit[];  /* build/build_commit.c */

/* 1 when Lua, libyaml and http-parser are linked from static archives
 * (CMakeLists.txt, option SLIPWAY_STATIC_LIBS) */
#ifndef SLIPWAY_STATIC_LIBS
#define SLIPWAY_STATIC_LIBS 0
#endif

#ifndef SLIPWAY_CJSON_VERSION
#define SLIPWAY_CJSON_VERSION "?"
#endif

/* t[field] = MODULE.version().version when the library it loads on first use
 * loads, else t[field .. "_error"] = why not (the message after "PREFIX: ");
 * leaves the version table on top, or nothing; returns whether it loaded */
static int loaded_lib(lua_State *L, int t, const char *module, const char *field,
                      const char *prefix) {
  lua_getglobal(L, "require");
  lua_pushstring(L, module);
  lua_call(L, 1, 1);
  lua_getfield(L, -1, "version");
  lua_remove(L, -2);
  if (lua_pcall(L, 0, 1, 0) == LUA_OK) {
    lua_getfield(L, -1, "version");
    lua_setfield(L, t, field);
    return 1;
  }
  /* "FILE:LINE: PREFIX: cannot load ... (...)": keep what follows "PREFIX: " */
  const char *msg = luaL_tolstring(L, -1, NULL);
  const char *why = strstr(msg, prefix);
  lua_pushfstring(L, "%s_error", field);
  lua_pushstring(L, why ? why + strlen(prefix) : msg);
  lua_settable(L, t);
  lua_pop(L, 2);
  return 0;
}

/* push {lua=, libuv=, ...}; libcurl and Nettle only when they load */
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

  /* loaded with dlopen the way requests and digests load them */
  int t = lua_gettop(L);
  if (loaded_lib(L, t, "slipway.http.core", "libcurl", "http: ")) {
    lua_getfield(L, -1, "ssl");
    lua_setfield(L, t, "libcurl_ssl");
  }
  lua_settop(L, t);
  loaded_lib(L, t, "slipway.digest.core", "nettle", "digest: ");
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
  };
  for (size_t i = 0; i < sizeof linked / sizeof linked[0]; i++) {
    if (!push_lib(L, linked[i].field, linked[i].label)) continue;
    n++;
    if (linked[i].is_static) {
      lua_pushliteral(L, " (static)");
      n++;
    }
  }
  /* the libraries loaded on first use (dlopen), or why they cannot be */
  static const struct { const char *field, *label, *use; } on_use[] = {
      {"libcurl", "libcurl", "HTTP"},
      {"nettle", "Nettle", "digest"},
  };
  for (size_t i = 0; i < sizeof on_use / sizeof on_use[0]; i++) {
    const char *field = on_use[i].field;
    if (push_lib(L, field, on_use[i].label)) {
      lua_pushfstring(L, "%s_ssl", field);
      const char *ssl = (lua_gettable(L, 1), lua_tostring(L, -1));
      if (ssl && *ssl) lua_pushfstring(L, " (%s, loaded on first %s use)", ssl, on_use[i].use);
      else lua_pushfstring(L, " (loaded on first %s use)", on_use[i].use);
      lua_remove(L, -2);
      n += 2;
    } else {
      lua_pushfstring(L, "%s_error", field);
      lua_gettable(L, 1);
      lua_pushfstring(L, "\n  %s not loadable: %s", on_use[i].label, lua_tostring(L, -1));
      lua_remove(L, -2);
      n++;
    }
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
