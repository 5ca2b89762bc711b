/*
 * fuzz_yaml.c -- libFuzzer harness over yaml.c's loader (core.load).
 *
 * Input: the first byte picks the schema (helm, core, json, failsafe; its
 * value modulo 4), the rest is the YAML text. Every text either loads or
 * gives an error table {problem=, line=, column=}; a raise (other than
 * running out of memory) is a finding. Each loaded document that yaml.dump
 * accepts (it refuses collection keys, non-UTF-8 strings, ...) must load
 * back equal, under helm and under core, as docs/yaml.md promises. Every
 * text is also loaded through the parser thread (opts.thread = true), which
 * must give the same documents or the same error at the same place.
 */
#include "fuzz_host.h"

#include <math.h>
#include <stdio.h>
#include <string.h>

static const char *const schemas[] = {"helm", "core", "json", "failsafe"};
static int ref_load, ref_dump;

int LLVMFuzzerInitialize(int *argc, char ***argv) {
  (void)argc;
  (void)argv;
  lua_State *L = fuzz_state();
  luaL_requiref(L, "slipway.yaml.core", luaopen_slipway_yaml_core, 0);
  lua_getfield(L, -1, "load");
  ref_load = luaL_ref(L, LUA_REGISTRYINDEX);
  lua_pop(L, 1);
  lua_getglobal(L, "require");
  lua_pushliteral(L, "slipway.yaml");
  if (lua_pcall(L, 1, 1, 0) != LUA_OK) fuzz_fail("require: %s", lua_tostring(L, -1));
  lua_getfield(L, -1, "dump");
  ref_dump = luaL_ref(L, LUA_REGISTRYINDEX);
  lua_pop(L, 1);
  return 0;
}

/* Deep equality of the values at a and b (absolute indices); NaN equals
 * NaN, integers and floats are different values (1 is not 1.0). On a
 * difference, pushes a description of where and returns 0. */
static int equal(lua_State *L, int a, int b, int depth) {
  int ta = lua_type(L, a);
  luaL_checkstack(L, 8, "deep compare");
  if (ta != lua_type(L, b)) {
    lua_pushfstring(L, "%s vs %s", luaL_typename(L, a), luaL_typename(L, b));
    return 0;
  }
  if (ta == LUA_TNUMBER) {
    if (lua_isinteger(L, a) != lua_isinteger(L, b)) {
      lua_pushfstring(L, "integer vs float: %s vs %s", luaL_tolstring(L, a, NULL),
                      luaL_tolstring(L, b, NULL));
      return 0;
    }
    if (!lua_isinteger(L, a)) {
      double x = lua_tonumber(L, a), y = lua_tonumber(L, b);
      if (x == y || (isnan(x) && isnan(y))) return 1;
      lua_pushfstring(L, "%f vs %f", x, y);
      return 0;
    }
  }
  if (ta != LUA_TTABLE) {
    if (lua_rawequal(L, a, b)) return 1;
    lua_pushfstring(L, "%s vs %s", luaL_tolstring(L, a, NULL), luaL_tolstring(L, b, NULL));
    return 0;
  }
  if (depth > 2000) return 1;  /* max_depth keeps loads far below this */
  lua_getmetatable(L, a) ? (void)0 : lua_pushnil(L);
  lua_getmetatable(L, b) ? (void)0 : lua_pushnil(L);
  int same_mt = lua_rawequal(L, -1, -2);
  lua_pop(L, 2);
  if (!same_mt) {
    lua_pushliteral(L, "metatable (sequence_mt on one side only)");
    return 0;
  }
  lua_Integer na = 0, nb = 0;
  lua_pushnil(L);
  while (lua_next(L, a)) {
    na++;
    int v = lua_gettop(L), k = v - 1;
    if (lua_type(L, k) == LUA_TTABLE) {  /* dump refuses these: not reached */
      lua_pop(L, 1);
      continue;
    }
    lua_pushvalue(L, k);
    lua_rawget(L, b);
    if (lua_isnil(L, -1)) {
      lua_pushfstring(L, "key [%s] missing after the round trip", luaL_tolstring(L, k, NULL));
      return 0;
    }
    if (!equal(L, v, lua_gettop(L), depth + 1)) {
      lua_pushfstring(L, "[%s]: %s", luaL_tolstring(L, k, NULL), lua_tostring(L, -1));
      return 0;
    }
    lua_settop(L, k);
  }
  lua_pushnil(L);
  while (lua_next(L, b)) {
    nb++;
    lua_pop(L, 1);
  }
  if (na != nb) {
    lua_pushfstring(L, "%d keys vs %d", (int)na, (int)nb);
    return 0;
  }
  return 1;
}

static void round_trip(lua_State *L, int doc, const char *from) {
  lua_rawgeti(L, LUA_REGISTRYINDEX, ref_dump);
  lua_pushvalue(L, doc);
  if (lua_pcall(L, 1, 1, 0) != LUA_OK) {  /* dump refuses: nothing to compare */
    lua_pop(L, 1);
    return;
  }
  int text = lua_gettop(L);
  for (int s = 0; s < 2; s++) {
    lua_rawgeti(L, LUA_REGISTRYINDEX, ref_load);
    lua_pushvalue(L, text);
    lua_createtable(L, 0, 1);
    lua_pushstring(L, schemas[s]);
    lua_setfield(L, -2, "schema");
    if (lua_pcall(L, 2, 2, 0) != LUA_OK)
      fuzz_fail("load of yaml.dump's output raised: %s", lua_tostring(L, -1));
    if (lua_isnil(L, -2)) {
      lua_getfield(L, -1, "problem");
      fuzz_fail("a document loaded with schema %s, dumped, does not load under %s: %s\n"
                "--- dumped:\n%s", from, schemas[s], lua_tostring(L, -1),
                lua_tostring(L, text));
    }
    lua_pop(L, 1);
    lua_rawgeti(L, -1, 1);
    if (lua_rawlen(L, -2) != 1) fuzz_fail("yaml.dump wrote %d documents", (int)lua_rawlen(L, -2));
    if (!equal(L, doc, lua_gettop(L), 0))
      fuzz_fail("round trip (%s -> dump -> %s) changed the value: %s\n--- dumped:\n%s", from,
                schemas[s], lua_tostring(L, -1), lua_tostring(L, text));
    lua_settop(L, text);
  }
  lua_settop(L, text - 1);
}

/* core.load(text, {schema=, thread=}): pushes its two results; a raise
 * other than running out of memory is a finding. Returns 0 when out of
 * memory (nothing pushed). */
static int load(lua_State *L, const uint8_t *text, size_t len, const char *schema, int thread) {
  int top = lua_gettop(L);
  lua_rawgeti(L, LUA_REGISTRYINDEX, ref_load);
  lua_pushlstring(L, (const char *)text, len);
  lua_createtable(L, 0, 2);
  lua_pushstring(L, schema);
  lua_setfield(L, -2, "schema");
  lua_pushboolean(L, thread);
  lua_setfield(L, -2, "thread");
  if (lua_pcall(L, 2, 2, 0) != LUA_OK) {
    const char *msg = lua_tostring(L, -1);
    if (msg && strstr(msg, "not enough memory")) {
      lua_gc(L, LUA_GCRESTART);  /* what yaml.lua does then */
      lua_settop(L, top);
      return 0;
    }
    fuzz_fail("core.load raised instead of returning an error: %s", msg ? msg : "?");
  }
  /* the loader pauses the collector while it builds: it must restart it */
  if (!lua_gc(L, LUA_GCISRUNNING)) fuzz_fail("core.load left the garbage collector stopped");
  return 1;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  lua_State *L = fuzz_state();
  if (size < 1) return 0;
  const char *schema = schemas[data[0] % 4];
  int top = lua_gettop(L);
  if (!load(L, data + 1, size - 1, schema, 0)) return 0;
  /* the same text through the parser thread (docs/yaml.md): the same
   * values, or the same error at the same place */
  if (load(L, data + 1, size - 1, schema, 1)) {
    int a = top + 1, b = top + 3;
    if (lua_isnil(L, a) != lua_isnil(L, b))
      fuzz_fail("in line and on the parser thread disagree: %s vs %s",
                lua_isnil(L, a) ? "an error" : "documents", lua_isnil(L, b) ? "an error" : "documents");
    if (lua_isnil(L, a)) {
      static const char *const fields[] = {"problem", "line", "column", "byte"};
      for (int i = 0; i < 4; i++) {
        lua_getfield(L, a + 1, fields[i]);
        lua_getfield(L, b + 1, fields[i]);
        if (!lua_rawequal(L, -1, -2)) {
          const char *in_line = luaL_tolstring(L, -2, NULL);  /* pushes: the other is -2 now */
          const char *threaded = luaL_tolstring(L, -2, NULL);
          fuzz_fail("the parser thread's error differs in %s: %s vs %s", fields[i], in_line,
                    threaded);
        }
        lua_pop(L, 2);
      }
    } else if (!equal(L, a, b, 0)) {
      fuzz_fail("the parser thread's documents differ: %s", lua_tostring(L, -1));
    }
    lua_settop(L, top + 2);
  }
  if (lua_isnil(L, -2)) {  /* an error of the input: it must say where */
    if (!lua_istable(L, -1)) fuzz_fail("core.load returned nil without an error table");
    lua_getfield(L, -1, "problem");
    lua_getfield(L, -2, "line");
    lua_getfield(L, -3, "column");
    if (!lua_isstring(L, -3) || !lua_isinteger(L, -2) || !lua_isinteger(L, -1))
      fuzz_fail("core.load's error lacks problem, line or column");
    lua_settop(L, top);
    return 0;
  }
  lua_pop(L, 1);
  int docs = lua_gettop(L);
  lua_Integer n = (lua_Integer)lua_rawlen(L, docs);
  for (lua_Integer i = 1; i <= n; i++) {
    lua_rawgeti(L, docs, i);
    round_trip(L, lua_gettop(L), schema);
    lua_pop(L, 1);
  }
  lua_settop(L, top);
  lua_gc(L, LUA_GCSTEP, 0);
  return 0;
}
