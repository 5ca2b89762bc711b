/*
 * main.c -- the slipway command: set up the Lua state inside a protected
 * call (as lua.c does; the set-up itself is state.c's), hand argv to
 * slipway.start (which runs -e and FILE itself and hands the rest to
 * slipway.cli, the slipway.args parser) as the first task, and turn the
 * outcome into an exit status.
 *
 *   slipway FILE [ARGS...]      run a Lua file (also: slipway run FILE ...)
 *   slipway -e CODE [ARGS...]   run a string
 *   slipway COMMAND [ARGS...]   a command of the standard library
 *                               (scripts/slipway/cli.lua: deploy, bump, ...)
 *
 * Exit status: 0 success, 1 a script error, 2 misuse of the command line,
 * 128+N when stopped by signal N (130 for SIGINT, 143 for SIGTERM); commands
 * document their own.
 */
#include "slipway.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <time.h>
#include <unistd.h>


static const char *progname = "slipway";

/* arg as slipway.cli receives it: arg[0] the program, arg[1..] the rest
 * (slipway.cli renumbers it around the script or -e, as lua.c does) */
static void create_arg(lua_State *L, char **argv, int argc) {
  lua_createtable(L, argc, 1);
  for (int i = 0; i < argc; i++) {
    lua_pushstring(L, argv[i]);
    lua_rawseti(L, -2, i);
  }
  lua_setglobal(L, "arg");
}

/* host.use_script(path): the script slipway.cli is about to run; its
 * directory is searched for modules and runtime.script names it. */
static int l_use_script(lua_State *L) {
  const char *script = luaL_checkstring(L, 1);
  sw_set_userpath(L, script);
  luaL_getsubtable(L, LUA_REGISTRYINDEX, LUA_LOADED_TABLE);
  lua_getfield(L, -1, "slipway.runtime");
  lua_pushvalue(L, 1);
  lua_setfield(L, -2, "script");
  return 0;
}

/* math.random seeded from the kernel's entropy: Lua's own seed is the time
 * in seconds and the address of the state, which under ASan's allocator (or
 * without ASLR) is the same in every process -- two slipway processes
 * started in the same second then drew the same "random" run ids and retry
 * jitter. */
static void seed_random(lua_State *L) {
  uint64_t s[2];
  if (getrandom(s, sizeof s, GRND_NONBLOCK) != (ssize_t)sizeof s) {
    s[0] = (uint64_t)time(NULL) ^ ((uint64_t)getpid() << 32);
    s[1] = uv_hrtime() ^ (uint64_t)(uintptr_t)&s;
  }
  lua_getglobal(L, "math");
  lua_getfield(L, -1, "randomseed");
  lua_pushinteger(L, (lua_Integer)s[0]);
  lua_pushinteger(L, (lua_Integer)s[1]);
  lua_call(L, 2, 0);
  lua_pop(L, 1);
}

/* ---- the protected main ------------------------------------------------- */

typedef struct {
  int argc;
  char **argv;
  int status;
} args;

/* Set up the state and hand argv to slipway.start.start(host, ...), run as
 * the main task: the command line (global options, -e, FILE, commands) is
 * parsed there, by one parser (slipway.args). */
static int pmain(lua_State *L) {
  args *a = (args *)lua_touserdata(L, 1);
  int argc = a->argc;
  char **argv = a->argv;

  sw_state_open(L, progname);
  seed_random(L);

  if (sw_sched_init(L) != 0) {
    fprintf(stderr, "%s: cannot start the event loop\n", progname);
    a->status = 1;
    return 0;
  }

  create_arg(L, argv, argc);
  lua_getglobal(L, "require");
  lua_pushliteral(L, "slipway.start");
  int st = lua_pcall(L, 1, 1, 0);
  if (st != LUA_OK) {
    size_t len;
    const char *msg = luaL_tolstring(L, -1, &len);
    sw_redact_push(L, msg, len);
    fprintf(stderr, "%s: %s\n", progname, lua_tostring(L, -1));
    a->status = 1;
    sw_sched_shutdown(L);
    return 0;
  }
  lua_getfield(L, -1, "start");
  lua_remove(L, -2);
  lua_createtable(L, 0, 3);
  lua_pushcfunction(L, l_use_script);
  lua_setfield(L, -2, "use_script");
  lua_pushliteral(L, LUA_RELEASE);
  lua_setfield(L, -2, "lua");
  lua_pushstring(L, uv_version_string());
  lua_setfield(L, -2, "libuv");
  luaL_checkstack(L, argc + 4, "too many arguments");
  for (int k = 1; k < argc; k++) lua_pushstring(L, argv[k]);
  sw_sched_run(L, argc, &a->status);
  sw_sched_shutdown(L);
  return 0;
}

int main(int argc, char **argv) {
  args a = {argc, argv, 0};
  lua_State *L;
  sw_policy_init();  /* process-wide settings: once, before any thread */
  L = luaL_newstate();
  if (L == NULL) {
    fprintf(stderr, "%s: cannot create the Lua state: not enough memory\n", progname);
    return 1;
  }
  lua_pushcfunction(L, pmain);
  lua_pushlightuserdata(L, &a);
  if (lua_pcall(L, 1, 0, 0) != LUA_OK) {
    fprintf(stderr, "%s: %s\n", progname, lua_tostring(L, -1));
    a.status = 1;
    if (sw_loop_alive()) sw_sched_shutdown(L);
  }
  lua_close(L);
  return a.status;
}
