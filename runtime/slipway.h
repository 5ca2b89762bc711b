/*
 * slipway.h -- what the files of the C host share.
 *
 * Private to runtime/: nothing here is a public C API. Each binding is one
 * file (proc.c, http.c, yaml.c, fs.c, digest.c, ...) exposing one luaopen_ function; the
 * scheduler (sched.c) owns the loop and the tasks; error.c owns the error
 * convention and redaction of secrets; policy.c the process-wide settings
 * made once at start-up; embed.c the files compiled in from scripts/;
 * state.c the Lua state's set-up (main.c's and the fuzz harnesses').
 * main.c is on top: nothing calls into it.
 *
 * THE YIELD RECIPE -- every C function that waits on libuv follows it:
 *
 *   1. sw_check_yieldable(L, "proc.run")   raise a clear error where the caller
 *                                          cannot yield (no task, a metamethod,
 *                                          a require'd chunk's top level, ...)
 *   2. try the operation synchronously where it can finish at once
 *   3. allocate the operation with a sw_wait embedded in it; set wait.cancel
 *      (stop the timer / kill the process / remove the transfer) and
 *      wait.push (push the results onto the task's stack)
 *   4. start the libuv work, then  return sw_wait_yield(L, &op->wait);
 *   5. when the work completes (in a libuv callback, never a curl/yaml one):
 *      sw_wait_done(&op->wait) -- the scheduler resumes the task from its one
 *      run queue, and the continuation calls wait.push.
 *
 * Cancellation: sw_task_cancel calls wait.cancel once; the operation must then
 * never call sw_wait_done for that wait (or may: done after cancel is ignored).
 * The task is resumed with the cancellation error raised inside it, so its
 * to-be-closed variables and pcall-based cleanup run. After push or cancel the
 * scheduler no longer touches the sw_wait: free it in the libuv close
 * callback, never before.
 */
#ifndef SLIPWAY_H
#define SLIPWAY_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include <lua.h>
#include <lauxlib.h>
#include <uv.h>

/* SLIPWAY_VERSION comes from CMakeLists.txt's project(VERSION) */
#ifndef SLIPWAY_VERSION
#error "SLIPWAY_VERSION is defined by CMakeLists.txt (project VERSION)"
#endif

/* ---- the loop and the scheduler (sched.c) ------------------------------ */

typedef struct sw_task sw_task;
typedef struct sw_wait sw_wait;

struct sw_wait {
  sw_task *task;                          /* NULL once done or cancelled */
  void (*cancel)(sw_wait *w);             /* stop the pending operation */
  int (*push)(lua_State *L, sw_wait *w);  /* push results, return count */
};

/* The process-wide loop; created by sw_sched_init. */
uv_loop_t *sw_loop(void);

/* Main state (for callbacks that need the registry, never to run Lua). */
lua_State *sw_main_state(void);

/* Raise "NAME: cannot wait here (...)" unless L is a task that may yield. */
void sw_check_yieldable(lua_State *L, const char *name);

/* The task running L (NULL when L is not a task). */
sw_task *sw_current_task(lua_State *L);

/* Park the current task on w and yield; resumes via w->push. */
int sw_wait_yield(lua_State *L, sw_wait *w);

/* The operation behind w finished: queue its task for resumption. */
void sw_wait_done(sw_wait *w);

/* Start/stop the scheduler; run the loop until the main task ends. */
int sw_sched_init(lua_State *L);
int sw_sched_run(lua_State *L, int nargs, int *status);
void sw_sched_shutdown(lua_State *L);

/* Spawn fn (at fnidx, its nargs arguments above it) as a new task started on
 * the next loop turn; pushes the task object and returns the task. Keep a
 * reference to the pushed object for as long as you keep the pointer. */
sw_task *sw_spawn(lua_State *L, int fnidx, int nargs);

/* Cancel t (see Cancellation above); a no-op once t has ended. */
void sw_task_cancel(sw_task *t);

/* Cancel every task (SIGINT/SIGTERM, os.exit). */
void sw_sched_cancel_all(void);

/* Hooks for modules that own long-lived things outside tasks (children,
 * servers, the curl multi handle). on_signal runs when slipway receives
 * SIGINT/SIGTERM (and with SIGKILL on a second SIGINT) so that proc can
 * forward it to child process groups; at_shutdown runs once every task has
 * ended, before the loop is closed: close your handles there. */
void sw_on_signal(void (*fn)(int signum));
void sw_at_shutdown(void (*fn)(void *arg), void *arg);

/* False once the loop is closed: a __gc must not touch libuv then. */
int sw_loop_alive(void);

/* True once the program is ending (the main task has ended, a signal or
 * os.exit cancelled every task): do not start new work such as tasks. */
int sw_sched_stopping(void);

/* ---- process-wide policy (policy.c) ------------------------------------ */

/* Read the umask; raise RLIMIT_NOFILE; malloc thresholds; child subreaper;
 * ignore SIGPIPE. main() calls it first, once, before any thread exists. */
void sw_policy_init(void);

/* The umask slipway started with. Never change the umask after start-up:
 * children spawn on pool threads and would inherit the flipped value. */
mode_t sw_umask(void);

/* Monotonic clock in seconds. */
double sw_now(void);

/* uv_timer_start for every timer of slipway: refreshes the loop's cached
 * time first (after busy work it lags behind, and a timer armed from it
 * fires early) and adds the millisecond the loop's clock truncates, so the
 * callback runs no earlier than timeout_ms after this call (0: next turn). */
int sw_timer_start(uv_timer_t *t, uv_timer_cb cb, uint64_t timeout_ms, uint64_t repeat_ms);

/* ---- errors and secrets (error.c) -------------------------------------- */

/*
 * The error convention (docs/errors.md):
 *   misuse of an API        -> luaL_argerror / luaL_error (plain string)
 *   a failure of the world  -> sw_raise: a structured error, a table with
 *                              metatable "slipway.error": {message=, code=,
 *                              op=, ...}; tostring() gives the message.
 * `code` is a short stable word ("ENOENT", "timeout", "exit", "http", ...).
 */

/* Push a new structured error {message, code} (message redacted). */
void sw_error_push(lua_State *L, const char *code, const char *fmt, ...);

/* Push and raise it, with the caller's file:line in front of the message. */
int sw_raise(lua_State *L, const char *code, const char *fmt, ...);

/* Like sw_raise for an errno / libuv error number: code is its name. */
int sw_raise_uv(lua_State *L, int uverr, const char *fmt, ...);

/* ---- file descriptors (fs.c) ------------------------------------------ */

/* read(2), again when a signal interrupted it: bytes read, 0 at the end,
 * -1 with errno set. */
ssize_t sw_read(int fd, void *buf, size_t n);

/* Write all n bytes (again after a signal or a short write): 0, or -1 with
 * errno set (some bytes may have been written). */
int sw_write_all(int fd, const void *buf, size_t n);

/* Secrets shorter than this are masked only where a whole string (a value
 * of the journal, a message, an argument) equals them, never as a part of
 * longer text (docs/errors.md). */
#define SW_SECRET_MIN 6

/* Register a secret value: from now on it is masked in every output. */
void sw_secret_add(const char *s, size_t len);

/* Push s with every registered secret replaced by "***". */
void sw_redact_push(lua_State *L, const char *s, size_t len);

/* Text cut at its end (at_end) or start: the length of the longest part of
 * it at the cut that is the start (at_end) or the end of a registered secret
 * whose rest was cut off; mask that many bytes, or the cut shows a piece. */
size_t sw_secret_cut(const char *s, size_t len, int at_end);

/* Allocation that raises "not enough memory" on failure. */
void *sw_xmalloc(lua_State *L, size_t n);

/* ---- libraries loaded on first use (dl.c) ------------------------------ */

/* A function to resolve: the address of the function pointer to set, and
 * the symbol's name. A table of them ends with {NULL, NULL}. */
typedef struct {
  void *fn;
  const char *name;
} sw_dl_sym;

/* dlopen the file named by the environment variable env (when env is not
 * NULL and the variable is set and not empty: tests name a missing file) or
 * else soname, RTLD_NOW | RTLD_LOCAL, and resolve every symbol of syms.
 * Returns the handle; or NULL with err holding "cannot load WHAT
 * (DLERROR); install Debian's PACKAGE package" or "WHAT has no symbol NAME"
 * (the library closed again: use none of the pointers). The caller keeps its own state (loaded or failed, and why) and
 * raises with err: libcurl (http.c) and Nettle (digest.c) load this way. */
void *sw_dl_load(const char *env, const char *soname, const char *what,
                 const char *package, const sw_dl_sym *syms, char *err, size_t errlen);

/* luaopen functions of the bindings (one file each). */
int luaopen_slipway_task_core(lua_State *L);  /* sched.c */
int luaopen_slipway_core(lua_State *L);       /* error.c: errors, secrets */
int luaopen_slipway_build_core(lua_State *L); /* build.c: version, commit, libraries */
int luaopen_slipway_fs_core(lua_State *L);    /* fs.c */
int luaopen_slipway_proc_core(lua_State *L);  /* proc.c */
int luaopen_slipway_http_core(lua_State *L);  /* http.c */
int luaopen_slipway_server_core(lua_State *L);/* server.c */
int luaopen_slipway_yaml_core(lua_State *L);  /* yaml.c */
int luaopen_slipway_json_core(lua_State *L);  /* json.c: lua-cjson */
int luaopen_slipway_digest_core(lua_State *L);/* digest.c: SHA-256 on Nettle */

/* ---- the Lua state (state.c) ------------------------------------------ */

/* Set up a new state as slipway runs Lua: standard libraries, the C
 * bindings in package.preload, the searchers (user paths, then the
 * embedded scripts/), slipway.runtime (argv0 its program name), a print
 * that redacts, os.exit through the scheduler. Raises on memory errors:
 * call it in a protected call. Then sw_sched_init before running tasks. */
void sw_state_open(lua_State *L, const char *argv0);

/* The user module path (registry "slipway.userpath"): the directory of
 * script (NULL: none) and SLIPWAY_PATH. */
void sw_set_userpath(lua_State *L, const char *script);

/* ---- embedded files (table generated into embedded.c, lookup embed.c) -- */

typedef struct {
  const char *path;          /* below scripts/, e.g. "slipway/log.lua" */
  const unsigned char *src;  /* contents (NUL-terminated too) */
  size_t len;
} sw_embedded;

extern const sw_embedded sw_embedded_files[];  /* ends with {NULL} */
/* the Lua files among them as bytecode (embedded_bc.c, runtime/tools) */
extern const sw_embedded sw_embedded_bytecode[];

/* The embedded file at path, or NULL (embed.c). */
const sw_embedded *sw_embedded_find(const char *path);
/* Load the embedded Lua file m as a chunk (its bytecode when there is) with
 * the chunk name "=[slipway]/PATH"; lua_load's status (embed.c). */
int sw_embedded_load(lua_State *L, const sw_embedded *m);

/* Add core.embedded and core.embedded_list to the table on top (embed.c). */
void sw_embedded_open(lua_State *L);

#endif
