/*
 * fuzz_host.c -- the Lua state the harnesses share (see fuzz_host.h).
 */
#include "fuzz_host.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>

static lua_State *state;

/* Lua-level coverage for libFuzzer. The Lua VM is Debian's (not built with
 * coverage), so without this a Lua harness would only be guided by the C
 * of the runtime: a line hook hashes (chunk, line, previous line) -- an
 * edge between lines -- into counters that libFuzzer reads as its "extra
 * counters". Threads (tasks) inherit the hook from the state that creates
 * them. */
#define LUA_COV_SIZE (1u << 16)
__attribute__((used, section("__libfuzzer_extra_counters")))
static uint8_t lua_cov[LUA_COV_SIZE];
static uint32_t lua_cov_prev;

static void cov_hook(lua_State *L, lua_Debug *ar) {
  if (!lua_getinfo(L, "S", ar)) return;
  /* the source string is interned: its address names the chunk */
  uint32_t loc = (uint32_t)(((uintptr_t)ar->source >> 4) * 2654435761u) ^
                 (uint32_t)ar->currentline * 40503u;
  uint32_t i = (loc ^ lua_cov_prev) & (LUA_COV_SIZE - 1);
  if (lua_cov[i] < 255) lua_cov[i]++;
  lua_cov_prev = loc >> 1;
}

const char *fuzz_dir(void) {
  const char *d = getenv("SLIPWAY_FUZZ_DIR");  /* another checkout's */
  return d && *d ? d : FUZZ_SOURCE_DIR;
}

void fuzz_fail(const char *fmt, ...) {
  va_list ap;
  fputs("invariant violated: ", stderr);
  va_start(ap, fmt);
  vfprintf(stderr, fmt, ap);
  va_end(ap);
  fputc('\n', stderr);
  abort();
}

static int boot(lua_State *L) {
  sw_state_open(L, "slipway-fuzz");
  /* harness modules (fuzzlib.lua) resolve like a script's neighbours */
  lua_pushfstring(L, "%s/harness.lua", fuzz_dir());
  sw_set_userpath(L, lua_tostring(L, -1));
  lua_pop(L, 1);
  return 0;
}

lua_State *fuzz_state(void) {
  if (state) return state;
  sw_policy_init();  /* as main(): SIGPIPE ignored, descriptors raised */
  lua_State *L = luaL_newstate();
  if (L == NULL) fuzz_fail("cannot create a Lua state");
  lua_pushcfunction(L, boot);
  if (lua_pcall(L, 0, 0, 0) != LUA_OK) fuzz_fail("boot: %s", lua_tostring(L, -1));
  if (sw_sched_init(L) != 0) fuzz_fail("cannot start the event loop");
  if (!getenv("SLIPWAY_FUZZ_NO_LUA_COVERAGE")) lua_sethook(L, cov_hook, LUA_MASKLINE, 0);
  state = L;
  return L;
}

void fuzz_run_task(lua_State *L, int nargs) {
  int status = 0;
  sw_sched_run(L, nargs, &status);  /* prints the traceback of a failure */
  if (status != 0) {
    fprintf(stderr, "the harness task failed (status %d): see the traceback above\n",
            status);
    abort();
  }
}
