/*
 * main.c -- the slipway command: parse the command line, set up the Lua
 * state inside a protected call (as lua.c does), run the main chunk as the
 * first task, and turn the outcome into an exit status.
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

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <lualib.h>

static const char *progname = "slipway";

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
  {NULL, NULL}};

const sw_embedded *sw_embedded_find(const char *path) {
  for (const sw_embedded *m = sw_embedded_files; m->path; m++)
    if (strcmp(m->path, path) == 0) return m;
  return NULL;
}

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
  const char *chunk = lua_pushfstring(L, "=[slipway]/%s", m->path);
  if (luaL_loadbufferx(L, (const char *)m->src, m->len, chunk, "t") != LUA_OK)
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

static void setup_loaders(lua_State *L, const char *script) {
  luaL_Buffer b;
  luaL_getsubtable(L, LUA_REGISTRYINDEX, LUA_PRELOAD_TABLE);
  for (const luaL_Reg *m = c_modules; m->name; m++) {
    lua_pushcfunction(L, m->func);
    lua_setfield(L, -2, m->name);
  }
  lua_pop(L, 1);

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

/* ---- globals the runtime documents: arg, print (redacted), os.exit ------ */

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

static void create_arg(lua_State *L, char **argv, int argc, int script) {
  lua_createtable(L, argc - script - 1, script + 1);
  for (int i = 0; i < argc; i++) {
    lua_pushstring(L, argv[i]);
    lua_rawseti(L, -2, i - script);
  }
  lua_setglobal(L, "arg");
}

/* runtime information for the standard library: slipway.runtime */
static void set_runtime(lua_State *L, const char *script) {
  luaL_getsubtable(L, LUA_REGISTRYINDEX, LUA_LOADED_TABLE);
  lua_createtable(L, 0, 4);
  lua_pushliteral(L, SLIPWAY_VERSION);
  lua_setfield(L, -2, "version");
  lua_pushstring(L, progname);
  lua_setfield(L, -2, "argv0");
  lua_newtable(L);  /* filled by slipway.cli.parse_global */
  lua_setfield(L, -2, "options");
  if (script) {
    lua_pushstring(L, script);
    lua_setfield(L, -2, "script");
  }
  lua_setfield(L, -2, "slipway.runtime");
  lua_pop(L, 1);
}

/* ---- the protected main ------------------------------------------------- */

typedef struct {
  int argc;
  char **argv;
  int status;
} args;

static void usage(FILE *f) {
  fprintf(f,
          "usage: %s FILE [ARGS...]       run a Lua playbook or script\n"
          "       %s run FILE [ARGS...]   the same\n"
          "       %s -e CODE [ARGS...]    run a string of Lua\n"
          "       %s COMMAND [ARGS...]    a standard command (see below)\n"
          "       %s --version | --help\n"
          "\n"
          "`%s help COMMAND` or `%s COMMAND --help` shows one command's options.\n\n",
          progname, progname, progname, progname, progname, progname, progname);
}

/* A path (has a slash or ends in .lua) or an existing regular file; a
 * directory named like a command (deploy/, test/) must not shadow it. */
static int is_file_arg(const char *a) {
  size_t n = strlen(a);
  struct stat st;
  return strchr(a, '/') != NULL || (n > 4 && strcmp(a + n - 4, ".lua") == 0) ||
         (stat(a, &st) == 0 && S_ISREG(st.st_mode));
}

/* Global options (slipway.cli documents them) may come before any form. */
static int is_global_opt(const char *a) {
  return strncmp(a, "--log-format=", 13) == 0 || strncmp(a, "--log-level=", 12) == 0 ||
         strcmp(a, "-v") == 0 || strcmp(a, "--verbose") == 0 || strcmp(a, "-q") == 0 ||
         strcmp(a, "--quiet") == 0 || strcmp(a, "--no-color") == 0;
}

/* Hand argv[1..n] to slipway.cli's parser, which fills runtime.options. */
static void parse_global_opts(lua_State *L, char **argv, int n) {
  lua_getglobal(L, "require");
  lua_pushliteral(L, "slipway.cli");
  lua_call(L, 1, 1);
  lua_getfield(L, -1, "parse_global");
  lua_createtable(L, n, 0);
  for (int k = 1; k <= n; k++) {
    lua_pushstring(L, argv[k]);
    lua_rawseti(L, -2, k);
  }
  lua_call(L, 1, 0);
  lua_pop(L, 1);
}

static int pmain(lua_State *L) {
  args *a = (args *)lua_touserdata(L, 1);
  int argc = a->argc, i = 1, nargs;
  char **argv = a->argv;
  const char *code = NULL, *script = NULL, *command = NULL;
  int first_arg;

  while (i < argc && is_global_opt(argv[i])) i++;

  if (i < argc && strcmp(argv[i], "-e") == 0) {
    if (i + 1 >= argc) {
      fprintf(stderr, "%s: '-e' needs an argument\n", progname);
      usage(stderr);
      a->status = 2;
      return 0;
    }
    code = argv[i + 1];
    first_arg = i + 2;
  } else if (i + 1 < argc && strcmp(argv[i], "run") == 0 &&
             (strcmp(argv[i + 1], "--help") == 0 || strcmp(argv[i + 1], "-h") == 0)) {
    command = "slipway.cli";  /* `slipway run --help`: the usage, from slipway.cli */
    first_arg = 1;
  } else if (i < argc && strcmp(argv[i], "run") == 0) {
    if (i + 1 >= argc) {
      fprintf(stderr, "%s: 'run' needs a FILE\n", progname);
      a->status = 2;
      return 0;
    }
    script = argv[i + 1];
    first_arg = i + 2;
  } else if (i < argc && argv[i][0] != '-' && is_file_arg(argv[i])) {
    script = argv[i];
    first_arg = i + 1;
  } else {
    command = "slipway.cli";  /* every other form: the Lua command line */
    first_arg = 1;
  }

  luaL_openlibs(L);
  setup_loaders(L, script);
  set_runtime(L, script);
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

  if (sw_sched_init(L) != 0) {
    fprintf(stderr, "%s: cannot start the event loop\n", progname);
    a->status = 1;
    return 0;
  }

  create_arg(L, argv, argc, script ? first_arg - 1 : (code ? first_arg - 1 : 0));
  int st;
  if (!command && i > 1) parse_global_opts(L, argv, i - 1);
  if (code) st = luaL_loadbuffer(L, code, strlen(code), "=(command line)");
  else if (script) st = luaL_loadfilex(L, script, "t");
  else {
    lua_getglobal(L, "require");
    lua_pushstring(L, command);
    st = lua_pcall(L, 1, 1, 0);
    if (st == LUA_OK) {
      lua_getfield(L, -1, "main");
      lua_remove(L, -2);
    }
  }
  if (st != LUA_OK) {
    size_t len;
    const char *msg = luaL_tolstring(L, -1, &len);
    sw_redact_push(L, msg, len);
    fprintf(stderr, "%s: %s\n", progname, lua_tostring(L, -1));
    a->status = (script && st == LUA_ERRFILE) ? 2 : 1;
    sw_sched_shutdown(L);
    return 0;
  }
  nargs = argc - first_arg;
  luaL_checkstack(L, nargs + 4, "too many arguments");
  for (int k = first_arg; k < argc; k++) lua_pushstring(L, argv[k]);
  sw_sched_run(L, nargs, &a->status);
  sw_sched_shutdown(L);
  return 0;
}

int main(int argc, char **argv) {
  args a = {argc, argv, 0};
  lua_State *L;
  /* -v alone is the version (as lua -v); before a file or command, verbose */
  if (argc > 1 && (strcmp(argv[1], "--version") == 0 ||
                   (strcmp(argv[1], "-v") == 0 && argc == 2))) {
    printf("slipway %s (%s, libuv %s)\n", SLIPWAY_VERSION, LUA_RELEASE,
           uv_version_string());
    return 0;
  }
  /* the list of commands comes from the Lua side; hargv must outlive pmain */
  char *hargv[] = {argv[0], "help", NULL};
  if (argc > 1 && (strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0) &&
      argc == 2) {
    usage(stdout);
    fflush(stdout);
    a.argc = 2;
    a.argv = hargv;
  }
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
