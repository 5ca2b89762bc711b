/*
 * sched.c -- the libuv loop and the task scheduler (slipway.task's C core).
 *
 * A task is a Lua thread plus a sw_task. Tasks run until they wait on an
 * operation (see the yield recipe in slipway.h); a completed operation puts
 * its task on the one run queue, which an idle handle drains, so a task is
 * only ever resumed from here -- never from inside a libuv, curl or yaml
 * callback, and never twice for one operation.
 *
 *   t = core.spawn(fn, ...)         a new task, started on the next loop turn
 *   i = core.waitany({t1, ...})     wait until one of the tasks is done
 *   ok, ... = core.wait(t)          wait for one task, then core.result(t)
 *   ok, ... = core.result(t)        a done task's results (like coroutine.resume)
 *   core.yield()                    let the other ready tasks run first
 *   core.cancel(t)                  its wait is cancelled and it is resumed with
 *                                   a "cancelled" error raised inside it
 *   core.sleep(seconds)             wait on a timer
 *   core.current()                  the running task
 *
 * The cost of a task (issue 17: the HTTP server runs one per request) is a
 * Lua thread plus one userdata holding the sw_task (no other allocation):
 * where it was spawned is kept as the calling function and a line number
 * and only formatted when asked for; a finished task drops its thread and
 * keeps a single result as it is (a table only for several).
 *
 * The userdata's user values: 1 the thread (nil once done), 2 the results
 * (the value itself when nres is 1, else a table of them), 3 the function
 * that called spawn (for `where`).
 */
#include "slipway.h"

#include <errno.h>
#include <math.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define TASK_MT "slipway.task"
/* A failed task's metatable: TASK_MT's fields plus __gc, which frees its
 * traceback and reports it when nobody waited. Only failed tasks get it:
 * a finalizer costs every object that has one (issue 17). */
#define TASK_FAILED_MT "slipway.task.failed"

/* How long cancelled tasks get to finish their cleanup at exit, and after a
 * signal, before slipway gives up on them (helm needs a moment to clean up). */
#define CLEANUP_GRACE_MS 10000

enum { T_READY, T_RUNNING, T_WAITING, T_DONE };

typedef struct join_op join_op;
typedef struct join_link {
  join_op *op;
  sw_task *target;         /* NULL once unlinked */
  struct join_link *next;  /* in the target's list of waiters */
} join_link;

struct join_op {
  sw_wait w;
  int n, which;
  join_link links[];
};

struct sw_task {
  lua_State *co;       /* the task's thread (user value 1); NULL once done */
  int self_ref;        /* registry ref to the userdata while not done */
  int state;
  int started;
  int nargs;           /* arguments on co's stack for the first resume */
  int cancel_pending;  /* raise "cancelled" at the next resume or wait */
  int cancelled;       /* ended by cancellation */
  int ok;              /* ended without error */
  int observed;        /* someone looked at the result */
  int nres;            /* results once done (1 for a failure: the error) */
  int where_line;      /* the line of the spawn call in user value 3, or 0 */
  sw_wait *wait;       /* the pending operation, when T_WAITING */
  sw_wait *done_wait;  /* the operation that completed, until pushed */
  join_link *waiters;  /* tasks waiting for this one */
  sw_task *next_ready;
  sw_task *next_live, *prev_live;
  unsigned long id, parent;
  char *traceback;     /* of a failure */
};

typedef struct hook {
  void (*fn)(void *);
  void *arg;
  struct hook *next;
} hook;

static uv_loop_t loop;
static int loop_alive;
static uv_idle_t idle;
static uv_signal_t sigint_h, sigterm_h;
static uv_timer_t grace_h;
static lua_State *mainL;
static sw_task *ready_head, *ready_tail;
static sw_task *live;  /* every task not yet done */
static unsigned long next_id = 1;
static sw_task *main_task;
static int got_signal;
static int exit_status = -1;  /* set by os.exit */
static void (*signal_hooks[8])(int);
static int nsignal_hooks;
static hook *shutdown_hooks;
static lua_State *volatile running_co;       /* the task being resumed */
static volatile sig_atomic_t hook_armed;     /* interrupt_hook set on it */
static int stopping;  /* every task is being cancelled: the program ends */

uv_loop_t *sw_loop(void) { return &loop; }
lua_State *sw_main_state(void) { return mainL; }
int sw_loop_alive(void) { return loop_alive; }
int sw_sched_stopping(void) { return stopping; }
double sw_now(void) { return (double)uv_hrtime() / 1e9; }

int sw_timer_start(uv_timer_t *t, uv_timer_cb cb, uint64_t timeout_ms, uint64_t repeat_ms) {
  uv_update_time(t->loop);
  return uv_timer_start(t, cb, timeout_ms ? timeout_ms + 1 : 0, repeat_ms);
}

static sw_task **extra(lua_State *L) { return (sw_task **)lua_getextraspace(L); }
sw_task *sw_current_task(lua_State *L) { return *extra(L); }

void sw_on_signal(void (*fn)(int)) {
  if (nsignal_hooks < (int)(sizeof signal_hooks / sizeof *signal_hooks))
    signal_hooks[nsignal_hooks++] = fn;
}

void sw_at_shutdown(void (*fn)(void *), void *arg) {
  hook *h = malloc(sizeof *h);
  if (h == NULL) { fn(arg); return; }  /* cannot defer: do it now */
  h->fn = fn;
  h->arg = arg;
  h->next = shutdown_hooks;
  shutdown_hooks = h;
}

/* ---- run queue ---------------------------------------------------------- */

static void on_uv_idle(uv_idle_t *h);

static void make_ready(sw_task *t) {
  t->state = T_READY;
  t->next_ready = NULL;
  if (ready_tail) ready_tail->next_ready = t; else ready_head = t;
  ready_tail = t;
  if (!uv_is_active((uv_handle_t *)&idle)) uv_idle_start(&idle, on_uv_idle);
}

static volatile sig_atomic_t raw_signum;  /* the last SIGINT/SIGTERM */

/* The "cancelled" error; after SIGINT/SIGTERM it names the signal (field
 * `signal`), from which slipway.exit picks 130 or 143. */
static void push_cancelled(lua_State *L) {
  int sig = got_signal ? got_signal : raw_signum;
  sw_error_push(L, "cancelled", "task cancelled");
  if (sig == SIGINT || sig == SIGTERM) {
    lua_pushstring(L, sig == SIGINT ? "SIGINT" : "SIGTERM");
    lua_setfield(L, -2, "signal");
  }
}

/* ---- waiting ------------------------------------------------------------ */

void sw_check_yieldable(lua_State *L, const char *name) {
  sw_task *t = sw_current_task(L);
  if (t == NULL || t->co != L) {
    luaL_error(L, "%s: cannot wait here: not in a slipway task (a coroutine made "
               "with coroutine.create or coroutine.wrap cannot wait; use "
               "task.spawn)", name);
  }
  if (!lua_isyieldable(L)) {
    luaL_error(L, "%s: cannot wait here: the caller cannot yield (a require'd "
               "chunk's top level, a metamethod, a table.sort or string.gsub "
               "callback, or a pcall made from C); move the call into a "
               "function and call that from the task", name);
  }
  if (t->cancel_pending) {
    t->cancel_pending = 0;
    push_cancelled(L);
    lua_error(L);
  }
}

static int wait_k(lua_State *L, int status, lua_KContext ctx) {
  sw_task *t = sw_current_task(L);
  sw_wait *w = (sw_wait *)ctx;
  int completed = t->done_wait == w;
  (void)status;
  t->done_wait = NULL;
  if (t->cancel_pending) {
    t->cancel_pending = 0;
    /* completed before the cancel arrived: let it release what it holds;
     * otherwise it was cancelled and must never be touched again */
    if (completed) lua_pop(L, w->push(L, w));
    push_cancelled(L);
    return lua_error(L);
  }
  return w->push(L, w);
}

int sw_wait_yield(lua_State *L, sw_wait *w) {
  sw_task *t = sw_current_task(L);
  w->task = t;
  t->wait = w;
  t->state = T_WAITING;
  return lua_yieldk(L, 0, (lua_KContext)w, wait_k);
}

void sw_wait_done(sw_wait *w) {
  sw_task *t = w->task;
  if (t == NULL) return;  /* cancelled, or done already */
  w->task = NULL;
  t->wait = NULL;
  t->done_wait = w;
  make_ready(t);
}

/* ---- finishing a task --------------------------------------------------- */

static void live_remove(sw_task *t) {
  if (t->prev_live) t->prev_live->next_live = t->next_live; else live = t->next_live;
  if (t->next_live) t->next_live->prev_live = t->prev_live;
  t->next_live = t->prev_live = NULL;
}

static void wake_waiters(sw_task *t) {
  join_link *l = t->waiters;
  t->waiters = NULL;
  while (l) {
    join_link *next = l->next;
    join_op *op = l->op;
    l->next = NULL;
    l->target = NULL;
    if (op->which == 0) op->which = (int)(l - op->links) + 1;
    sw_wait_done(&op->w);
    l = next;
  }
}

static int is_error_code(lua_State *L, int idx, const char *code) {
  int r = 0;
  if (lua_type(L, idx) == LUA_TTABLE) {
    lua_getfield(L, idx, "code");
    r = lua_type(L, -1) == LUA_TSTRING && strcmp(lua_tostring(L, -1), code) == 0;
    lua_pop(L, 1);
  }
  return r;
}

/* A string for an error value (message field, __tostring, or type name). */
static const char *error_text(lua_State *L, int idx) {
  idx = lua_absindex(L, idx);
  if (lua_type(L, idx) == LUA_TTABLE) {
    lua_getfield(L, idx, "message");
    if (lua_type(L, -1) == LUA_TSTRING) return lua_tostring(L, -1);
    lua_pop(L, 1);
  }
  return luaL_tolstring(L, idx, NULL);
}

/* t has ended: its thread holds nres results (status OK) or the error. */
static void finish(sw_task *t, int status, int nres) {
  lua_State *L = mainL, *co = t->co;
  int top = lua_gettop(L);
  luaL_checkstack(L, nres + 8, "too many results");
  t->state = T_DONE;
  t->ok = status == LUA_OK;
  live_remove(t);

  lua_rawgeti(L, LUA_REGISTRYINDEX, t->self_ref);  /* ud */
  if (t->ok) {
    lua_xmove(co, L, nres);
    if (nres != 1) {  /* one result is kept as it is */
      lua_createtable(L, nres, 0);
      lua_insert(L, -(nres + 1));
      for (int i = nres; i >= 1; i--) lua_rawseti(L, -(i + 1), i);
    }
  } else {
    lua_xmove(co, L, 1);  /* the error object */
    /* os.exit's own code: a failed command's error has code "exit" */
    if (is_error_code(L, -1, "os.exit")) {
      lua_getfield(L, -1, "status");
      if (exit_status < 0) exit_status = (int)lua_tointeger(L, -1);
      lua_pop(L, 1);
      t->observed = 1;
      if (t != main_task) sw_sched_cancel_all();
    }
    t->cancelled = is_error_code(L, -1, "cancelled");
    if (!t->cancelled && exit_status < 0) {
      const char *msg = error_text(L, -1);
      luaL_traceback(L, co, msg, 0);
      size_t n;
      const char *tb = lua_tolstring(L, -1, &n);
      t->traceback = malloc(n + 1);
      if (t->traceback) memcpy(t->traceback, tb, n + 1);
      lua_pop(L, 2);
      if (t->traceback) {  /* now it needs its finalizer */
        luaL_getmetatable(L, TASK_FAILED_MT);
        if (lua_getfield(L, -1, "__index") == LUA_TNIL) {  /* slipway.task's methods */
          luaL_getmetatable(L, TASK_MT);
          lua_getfield(L, -1, "__index");
          lua_setfield(L, -4, "__index");
          lua_pop(L, 1);
        }
        lua_pop(L, 1);
        lua_setmetatable(L, -3);
      }
    }
    lua_resetthread(co);  /* close its pending to-be-closed variables */
    nres = 1;
  }
  t->nres = nres;
  lua_setiuservalue(L, -2, 2);  /* the results */
  lua_pushnil(L);
  lua_setiuservalue(L, -2, 1);  /* the thread is garbage now */
  t->co = NULL;
  luaL_unref(L, LUA_REGISTRYINDEX, t->self_ref);
  t->self_ref = LUA_NOREF;
  lua_settop(L, top);
  wake_waiters(t);
}

static void resume_task(sw_task *t) {
  lua_State *co = t->co;
  int nres = 0, status, nargs = 0;
  if (!t->started) {
    t->started = 1;
    if (t->cancel_pending) {  /* cancelled before it ever ran */
      lua_settop(co, 0);
      push_cancelled(co);
      finish(t, LUA_ERRRUN, 0);
      return;
    }
    nargs = t->nargs;
  }
  t->state = T_RUNNING;
  running_co = co;
  status = lua_resume(co, NULL, nargs, &nres);
  running_co = NULL;  /* first: a signal from now on arms no hook on co */
  if (hook_armed) {
    hook_armed = 0;
    lua_sethook(co, NULL, 0, 0);
  }
  if (status == LUA_YIELD) {
    if (t->state == T_RUNNING) {  /* a plain coroutine.yield: like sleep(0) */
      lua_pop(co, nres);
      make_ready(t);
    }
    return;
  }
  finish(t, status, nres);
}

static void on_uv_idle(uv_idle_t *h) {
  /* Run only the tasks ready now; ones made ready meanwhile go next turn,
   * so that I/O gets polled between rounds. */
  sw_task *last = ready_tail;
  while (ready_head) {
    sw_task *t = ready_head;
    ready_head = t->next_ready;
    if (ready_head == NULL) ready_tail = NULL;
    t->next_ready = NULL;
    resume_task(t);
    if (t == last) break;
  }
  if (ready_head == NULL) uv_idle_stop(h);
}

/* ---- cancellation ------------------------------------------------------- */

static void cancel_task(sw_task *t) {
  if (t->state == T_DONE) return;
  t->cancel_pending = 1;
  if (t->state == T_WAITING) {
    sw_wait *w = t->wait;
    t->wait = NULL;
    if (w) {
      w->task = NULL;
      w->cancel(w);
    }
    make_ready(t);
  }
  /* READY: raised when resumed; RUNNING: at its next wait */
}

void sw_sched_cancel_all(void) {
  stopping = 1;
  for (sw_task *t = live; t; t = t->next_live) cancel_task(t);
}

/* ---- signals ------------------------------------------------------------ */

static void on_uv_grace(uv_timer_t *h) {
  (void)h;
  fprintf(stderr, "slipway: tasks did not finish their cleanup within %d s; exiting\n",
          CLEANUP_GRACE_MS / 1000);
  for (int i = 0; i < nsignal_hooks; i++) signal_hooks[i](SIGKILL);
  _exit(got_signal ? 128 + got_signal : 1);
}

/*
 * libuv turns SIGINT/SIGTERM into loop events, which a task stuck in a Lua
 * loop that never waits would never let run: no cancellation, no grace
 * timer, and not even a second ^C would stop slipway. So a small handler of
 * our own runs first and then hands the signal on to libuv's:
 *   - while a task runs, it sets a count hook on that task (lua_sethook may
 *     be called asynchronously; lua.c does the same) which raises the
 *     "cancelled" error in it after INTERRUPT_COUNT instructions -- a task
 *     that is merely busy for a moment yields before that and is cancelled
 *     by the loop as usual;
 *   - a second SIGINT exits at once, from the handler, as on_uv_signal does
 *     when the loop is free.
 * The hook is removed as soon as the task's resume returns.
 */
#define INTERRUPT_COUNT 1000000

static volatile sig_atomic_t raw_signals;
static struct sigaction uv_sa_int, uv_sa_term;

static void interrupt_hook(lua_State *L, lua_Debug *ar) {
  (void)ar;
  lua_sethook(L, NULL, 0, 0);
  hook_armed = 0;
  push_cancelled(L);
  lua_error(L);
}

static void on_raw_signal(int signum, siginfo_t *info, void *ctx) {
  int saved = errno;
  raw_signals++;
  raw_signum = signum;
  if (raw_signals > 1 && signum == SIGINT) {
    for (int i = 0; i < nsignal_hooks; i++) signal_hooks[i](SIGKILL);
    _exit(128 + signum);
  }
  lua_State *co = running_co;
  if (co != NULL) {
    hook_armed = 1;
    lua_sethook(co, interrupt_hook, LUA_MASKCOUNT, INTERRUPT_COUNT);
  }
  errno = saved;
  struct sigaction *uv = signum == SIGINT ? &uv_sa_int : &uv_sa_term;
  if (uv->sa_flags & SA_SIGINFO) {
    if (uv->sa_sigaction) uv->sa_sigaction(signum, info, ctx);
  } else if (uv->sa_handler != SIG_DFL && uv->sa_handler != SIG_IGN) {
    uv->sa_handler(signum);
  }
}

/* Put on_raw_signal in front of the handler libuv installed for signum. */
static void chain_signal(int signum, struct sigaction *uv) {
  struct sigaction sa;
  if (sigaction(signum, NULL, uv) != 0) return;
  memset(&sa, 0, sizeof sa);
  sa.sa_sigaction = on_raw_signal;
  sa.sa_flags = SA_SIGINFO | SA_RESTART;
  sigfillset(&sa.sa_mask);
  sigaction(signum, &sa, NULL);
}

static void on_uv_signal(uv_signal_t *h, int signum) {
  (void)h;
  if (got_signal) {
    if (signum == SIGINT) {  /* second ^C: leave now */
      for (int i = 0; i < nsignal_hooks; i++) signal_hooks[i](SIGKILL);
      _exit(128 + signum);
    }
    return;
  }
  got_signal = signum;
  for (int i = 0; i < nsignal_hooks; i++) signal_hooks[i](signum);
  sw_sched_cancel_all();
  sw_timer_start(&grace_h, on_uv_grace, CLEANUP_GRACE_MS, 0);
}

/* ---- Lua API ------------------------------------------------------------ */

static sw_task *check_task(lua_State *L, int idx) {
  void *p = luaL_testudata(L, idx, TASK_MT);
  if (p == NULL) p = luaL_testudata(L, idx, TASK_FAILED_MT);
  if (p == NULL) luaL_typeerror(L, idx, "task");
  return (sw_task *)p;
}

/* The first caller outside the standard library, from `level` up: its
 * function is pushed (user value 3 of the task) and its line returned;
 * 0 (nothing pushed) when there is none. The text "file:line" is made only
 * when asked for (push_where). */
static int find_where(lua_State *L, int level) {
  lua_Debug ar;
  for (; lua_getstack(L, level, &ar); level++) {
    if (lua_getinfo(L, "Slf", &ar) && ar.currentline > 0 &&
        strncmp(ar.source, "=[slipway]", 10) != 0)
      return ar.currentline;  /* its function stays pushed */
    lua_pop(L, 1);
  }
  return 0;
}

/* push "file:line" where the task at idx was spawned ("" when unknown) */
static void push_where(lua_State *L, int idx) {
  sw_task *t = lua_touserdata(L, idx);
  lua_Debug ar;
  if (t->where_line > 0) {
    lua_getiuservalue(L, idx, 3);  /* a function, popped by getinfo */
    lua_getinfo(L, ">S", &ar);
    lua_pushfstring(L, "%s:%d", ar.short_src, t->where_line);
  } else {
    lua_pushliteral(L, "");
  }
}

/* t = spawn(fn, ...): the task object; errors stay in the task. */
static sw_task *spawn(lua_State *L, int fnidx, int nargs) {
  sw_task *t = lua_newuserdatauv(L, sizeof *t, 3);
  memset(t, 0, sizeof *t);
  luaL_setmetatable(L, TASK_MT);
  t->co = lua_newthread(L);
  lua_setiuservalue(L, -2, 1);
  *extra(t->co) = t;
  lua_pushvalue(L, fnidx);
  for (int i = 1; i <= nargs; i++) lua_pushvalue(L, fnidx + i);
  lua_xmove(L, t->co, nargs + 1);
  t->nargs = nargs;
  t->id = next_id++;
  sw_task *cur = sw_current_task(L);
  t->parent = cur ? cur->id : 0;
  t->where_line = find_where(L, 1);
  if (t->where_line > 0) lua_setiuservalue(L, -2, 3);
  lua_pushvalue(L, -1);
  t->self_ref = luaL_ref(L, LUA_REGISTRYINDEX);
  t->next_live = live;
  if (live) live->prev_live = t;
  live = t;
  make_ready(t);
  return t;
}

/* For C modules that start tasks themselves (server.c: one per request). */
sw_task *sw_spawn(lua_State *L, int fnidx, int nargs) {
  return spawn(L, lua_absindex(L, fnidx), nargs);
}

void sw_task_cancel(sw_task *t) { cancel_task(t); }

static int l_spawn(lua_State *L) {
  luaL_checktype(L, 1, LUA_TFUNCTION);
  spawn(L, 1, lua_gettop(L) - 1);
  return 1;
}

static void unlink_all(join_op *op) {
  for (int i = 0; i < op->n; i++) {
    join_link *l = &op->links[i], **pp;
    if (l->target == NULL) continue;
    for (pp = &l->target->waiters; *pp; pp = &(*pp)->next)
      if (*pp == l) { *pp = l->next; break; }
    l->target = NULL;
  }
}

static void join_cancel(sw_wait *w) {
  join_op *op = (join_op *)w;
  unlink_all(op);
  free(op);
}

static int join_push(lua_State *L, sw_wait *w) {
  join_op *op = (join_op *)w;
  int which = op->which;
  unlink_all(op);
  free(op);
  lua_pushinteger(L, which);
  return 1;
}

/* i = waitany({t1, t2, ...}): index of a done task, waiting if none is. */
static int l_waitany(lua_State *L) {
  lua_Integer n;
  join_op *op;
  sw_task *self = sw_current_task(L);
  luaL_checktype(L, 1, LUA_TTABLE);
  n = luaL_len(L, 1);
  luaL_argcheck(L, n > 0 && n < 1000000, 1, "a non-empty list of tasks");
  for (lua_Integer i = 1; i <= n; i++) {
    lua_rawgeti(L, 1, i);
    sw_task *t = check_task(L, -1);
    lua_pop(L, 1);
    if (t->state == T_DONE) { lua_pushinteger(L, i); return 1; }
    if (t == self) luaL_error(L, "a task cannot wait for itself");
  }
  sw_check_yieldable(L, "task.wait");
  op = calloc(1, sizeof *op + (size_t)n * sizeof(join_link));
  if (op == NULL) luaL_error(L, "not enough memory");
  op->n = (int)n;
  op->w.cancel = join_cancel;
  op->w.push = join_push;
  for (lua_Integer i = 1; i <= n; i++) {
    lua_rawgeti(L, 1, i);
    sw_task *t = check_task(L, -1);
    lua_pop(L, 1);
    join_link *l = &op->links[i - 1];
    l->op = op;
    l->target = t;
    l->next = t->waiters;
    t->waiters = l;
  }
  return sw_wait_yield(L, &op->w);
}

/* push ok, results... of the done task at idx (like coroutine.resume's);
 * marks it observed */
static int push_result(lua_State *L, int idx) {
  sw_task *t = lua_touserdata(L, idx);
  int n = t->nres;
  t->observed = 1;
  luaL_checkstack(L, n + 2, "too many results");
  lua_pushboolean(L, t->ok);
  lua_getiuservalue(L, idx, 2);
  if (n != 1) {
    int tbl = lua_gettop(L);
    for (int i = 1; i <= n; i++) lua_rawgeti(L, tbl, i);
    lua_remove(L, tbl);
  }
  return n + 1;
}

/* ok, ... = result(t): like coroutine.resume's results; marks it observed. */
static int l_result(lua_State *L) {
  sw_task *t = check_task(L, 1);
  if (t->state != T_DONE) luaL_error(L, "task %lu has not finished", t->id);
  return push_result(L, 1);
}

/* waiting for one task (Task:wait): the task stays at index 1 */
static int wait1_push(lua_State *L, sw_wait *w) {
  join_op *op = (join_op *)w;
  unlink_all(op);
  free(op);
  lua_settop(L, 1);
  return push_result(L, 1);
}

/* ok, ... = wait(t): result(t) once t is done, waiting for it if need be */
static int l_wait(lua_State *L) {
  sw_task *t = check_task(L, 1);
  lua_settop(L, 1);
  if (t->state == T_DONE) return push_result(L, 1);
  if (t == sw_current_task(L)) luaL_error(L, "a task cannot wait for itself");
  sw_check_yieldable(L, "task.wait");
  join_op *op = calloc(1, sizeof *op + sizeof(join_link));
  if (op == NULL) luaL_error(L, "not enough memory");
  op->n = 1;
  op->w.cancel = join_cancel;
  op->w.push = wait1_push;
  op->links[0].op = op;
  op->links[0].target = t;
  op->links[0].next = t->waiters;
  t->waiters = &op->links[0];
  return sw_wait_yield(L, &op->w);
}

static int yield_k(lua_State *L, int status, lua_KContext ctx) {
  sw_task *t = sw_current_task(L);
  (void)status;
  (void)ctx;
  if (t->cancel_pending) {
    t->cancel_pending = 0;
    push_cancelled(L);
    return lua_error(L);
  }
  return 0;
}

/* yield(): back to the end of the run queue, behind the tasks ready now
 * (resume_task requeues a task that yields without waiting) */
static int l_yield(lua_State *L) {
  sw_check_yieldable(L, "task.yield");
  return lua_yieldk(L, 0, 0, yield_k);
}

static int l_cancel(lua_State *L) {
  cancel_task(check_task(L, 1));
  return 0;
}

static int l_status(lua_State *L) {
  static const char *const names[] = {"ready", "running", "waiting", "done"};
  sw_task *t = check_task(L, 1);
  if (t->state == T_DONE)
    lua_pushstring(L, t->cancelled ? "cancelled" : t->ok ? "done" : "failed");
  else
    lua_pushstring(L, names[t->state]);
  return 1;
}

static int l_info(lua_State *L) {
  sw_task *t = check_task(L, 1);
  lua_createtable(L, 0, 4);
  lua_pushinteger(L, (lua_Integer)t->id);
  lua_setfield(L, -2, "id");
  lua_pushinteger(L, (lua_Integer)t->parent);
  lua_setfield(L, -2, "parent");
  push_where(L, 1);
  lua_setfield(L, -2, "where");
  if (t->traceback) {
    lua_pushstring(L, t->traceback);
    lua_setfield(L, -2, "traceback");
  }
  return 1;
}

static int l_current(lua_State *L) {
  sw_task *t = sw_current_task(L);
  if (t == NULL || t->self_ref == LUA_NOREF) return 0;
  lua_rawgeti(L, LUA_REGISTRYINDEX, t->self_ref);
  return 1;
}

typedef struct {
  sw_wait w;
  uv_timer_t timer;
} sleep_op;

static void sleep_close(uv_handle_t *h) { free(h->data); }

static void on_uv_sleep(uv_timer_t *h) { sw_wait_done(&((sleep_op *)h->data)->w); }

static void sleep_cancel(sw_wait *w) {
  uv_close((uv_handle_t *)&((sleep_op *)w)->timer, sleep_close);
}

static int sleep_push(lua_State *L, sw_wait *w) {
  (void)L;
  uv_close((uv_handle_t *)&((sleep_op *)w)->timer, sleep_close);
  return 0;
}

/* sleep(seconds): wait at least that long; sleep(0) lets others run. */
static int l_sleep(lua_State *L) {
  lua_Number s = luaL_checknumber(L, 1);
  sleep_op *op;
  luaL_argcheck(L, s >= 0 && s < 1e9, 1, "seconds must be >= 0");
  sw_check_yieldable(L, "task.sleep");
  op = calloc(1, sizeof *op);
  if (op == NULL) luaL_error(L, "not enough memory");
  op->w.cancel = sleep_cancel;
  op->w.push = sleep_push;
  uv_timer_init(&loop, &op->timer);
  op->timer.data = op;
  sw_timer_start(&op->timer, on_uv_sleep, (uint64_t)ceil(s * 1000.0), 0);
  return sw_wait_yield(L, &op->w);
}

static int l_now(lua_State *L) {
  lua_pushnumber(L, sw_now());
  return 1;
}

/* os.exit replacement: unwinds every task (cleanup runs), then exits. */
static int l_exit(lua_State *L) {
  int status;
  if (lua_isboolean(L, 1)) status = lua_toboolean(L, 1) ? 0 : 1;
  else status = (int)luaL_optinteger(L, 1, 0);
  sw_error_push(L, "os.exit", "os.exit(%d)", status);
  lua_pushinteger(L, status);
  lua_setfield(L, -2, "status");
  return lua_error(L);
}

static int task_gc(lua_State *L) {
  sw_task *t = luaL_checkudata(L, 1, TASK_FAILED_MT);
  if (t->state == T_DONE && !t->ok && !t->cancelled && !t->observed && t->traceback) {
    sw_redact_push(L, t->traceback, strlen(t->traceback));
    push_where(L, 1);
    fprintf(stderr, "slipway: warning: task %lu (spawned at %s) failed and nobody "
            "waited for it:\n%s\n", t->id, lua_tostring(L, -1), lua_tostring(L, -2));
    lua_pop(L, 2);
  }
  free(t->traceback);
  t->traceback = NULL;
  return 0;
}

static int task_tostring(lua_State *L) {
  sw_task *t = check_task(L, 1);
  push_where(L, 1);
  lua_pushfstring(L, "task %d (%s)", (int)t->id, lua_tostring(L, -1));
  return 1;
}

int luaopen_slipway_task_core(lua_State *L) {
  static const luaL_Reg fns[] = {
    {"spawn", l_spawn}, {"waitany", l_waitany}, {"result", l_result},
    {"wait", l_wait}, {"yield", l_yield},
    {"cancel", l_cancel}, {"status", l_status}, {"info", l_info},
    {"current", l_current}, {"sleep", l_sleep}, {"now", l_now},
    {"exit", l_exit}, {NULL, NULL}};
  luaL_newlib(L, fns);
  if (luaL_newmetatable(L, TASK_FAILED_MT)) {
    lua_pushcfunction(L, task_gc);
    lua_setfield(L, -2, "__gc");
    lua_pushcfunction(L, task_tostring);
    lua_setfield(L, -2, "__tostring");
    lua_pushliteral(L, TASK_MT);  /* the type's name in messages */
    lua_setfield(L, -2, "__name");
  }
  lua_pop(L, 1);
  if (luaL_newmetatable(L, TASK_MT)) {
    lua_pushcfunction(L, task_tostring);
    lua_setfield(L, -2, "__tostring");
  }
  lua_setfield(L, -2, "task_mt");  /* the Lua layer adds methods */
  return 1;
}

/* ---- set-up, run, shutdown ---------------------------------------------- */

int sw_sched_init(lua_State *L) {
  int r = uv_loop_init(&loop);
  if (r) return r;
  loop_alive = 1;
  stopping = 0;
  mainL = L;
  *extra(L) = NULL;  /* not a task; new threads copy this */
  uv_idle_init(&loop, &idle);
  uv_timer_init(&loop, &grace_h);
  uv_unref((uv_handle_t *)&grace_h);
  uv_signal_init(&loop, &sigint_h);
  uv_signal_init(&loop, &sigterm_h);
  uv_signal_start(&sigint_h, on_uv_signal, SIGINT);
  uv_signal_start(&sigterm_h, on_uv_signal, SIGTERM);
  chain_signal(SIGINT, &uv_sa_int);
  chain_signal(SIGTERM, &uv_sa_term);
  uv_unref((uv_handle_t *)&sigint_h);
  uv_unref((uv_handle_t *)&sigterm_h);
  return 0;
}

/* Run the loop until no task is ready and t (or, with t NULL, every task)
 * is done. Returns 0, or -1 when every task waits on something that can
 * never happen. */
static int run_until(sw_task *t) {
  for (;;) {
    if (t ? t->state == T_DONE : live == NULL) return 0;
    if (uv_run(&loop, UV_RUN_ONCE) == 0 && ready_head == NULL &&
        (t ? t->state != T_DONE : live != NULL))
      return -1;
  }
}

/*
 * Run fn (with nargs arguments above it on L's stack) as the main task.
 * Returns the process exit status; an error of the main task is printed.
 */
int sw_sched_run(lua_State *L, int nargs, int *status) {
  int fnidx = lua_gettop(L) - nargs;
  sw_task *t = spawn(L, fnidx, nargs);
  main_task = t;
  lua_pushvalue(L, -1);
  int mainref = luaL_ref(L, LUA_REGISTRYINDEX);  /* keep it for its results */
  lua_settop(L, fnidx - 1);
  if (run_until(t) < 0) {
    fprintf(stderr, "slipway: deadlock: the main task waits on something that "
            "can never happen (every task is waiting and nothing is pending)\n");
    *status = 1;
  } else if (got_signal) {
    *status = 128 + got_signal;
  } else if (exit_status >= 0) {
    *status = exit_status;
  } else if (!t->ok) {
    const char *tb = t->traceback ? t->traceback : "task cancelled";
    sw_redact_push(L, tb, strlen(tb));
    fprintf(stderr, "slipway: %s\n", lua_tostring(L, -1));
    lua_pop(L, 1);
    t->observed = 1;
    *status = 1;
  } else {
    *status = 0;
  }
  t->observed = 1;
  luaL_unref(L, LUA_REGISTRYINDEX, mainref);
  return 0;
}

static void on_uv_walk_close(uv_handle_t *h, void *arg) {
  (void)arg;
  if (!uv_is_closing(h)) uv_close(h, NULL);
}

void sw_sched_shutdown(lua_State *L) {
  (void)L;
  if (!loop_alive) return;
  stopping = 1;
  /* the program ends with its main task: cancel the rest, let them clean up */
  if (live) {
    sw_sched_cancel_all();
    uv_ref((uv_handle_t *)&grace_h);
    if (!uv_is_active((uv_handle_t *)&grace_h))
      sw_timer_start(&grace_h, on_uv_grace, CLEANUP_GRACE_MS, 0);
    run_until(NULL);
  }
  while (shutdown_hooks) {
    hook *h = shutdown_hooks;
    shutdown_hooks = h->next;
    h->fn(h->arg);
    free(h);
  }
  uv_walk(&loop, on_uv_walk_close, NULL);
  uv_run(&loop, UV_RUN_DEFAULT);
  uv_loop_close(&loop);
  loop_alive = 0;
}
