/*
 * proc.c -- child processes: the C core of slipway.proc.
 *
 * Children are started with posix_spawn, which glibc implements with
 * clone(CLONE_VM|CLONE_VFORK): its cost does not grow with slipway's heap, as
 * fork's does (docs/proc.md has the measurements). Each child gets its own
 * session and process group (POSIX_SPAWN_SETSID), so kill(-pid, sig) reaches
 * its grandchildren too. slipway is a child subreaper (PR_SET_CHILD_SUBREAPER,
 * set at start-up with the rest of the process-wide policy, policy.c):
 * orphaned grandchildren are re-parented to it instead of to PID 1 (which, in
 * containers, often never reaps them), and one SIGCHLD watcher on the loop
 * reaps every child with waitpid(-1): the exits of our children are recorded,
 * adopted orphans are simply reaped. So slipway.proc owns the reaping of
 * child processes: nothing else in slipway may wait for children
 * asynchronously (io.popen's exit status can be lost; os.execute is fine).
 * stdout and stderr are pipes owned by libuv. A process is *finished* once it
 * has exited AND every output pipe has reached EOF; only then is its result
 * complete.
 *
 * Lua API (wrapped by scripts/slipway/proc.lua):
 *   h = core.spawn(spec)           start; a handle, or nil, errname, message
 *                                  (spec.detach: returns the pid instead)
 *   out, err, done = core.poll(h, mask)  next whole lines of "lines" streams
 *   res = core.wait(h)             wait until finished; the result table
 *   ok, errname, msg = core.write(h, data)   write to stdin, wait until written
 *   core.close_stdin(h)
 *   core.signal(h, signum)         send a signal to the process group
 *   core.terminate(h)              SIGTERM, then SIGKILL after the grace period
 *   core.lines(h, i)               stream i (1 stdout, 2 stderr) becomes "lines"
 *   pid, finished = core.info(h)
 *   core.check_wait(name)          raise unless the caller may wait
 *   path = core.which(name, PATH)  an executable file on PATH, or nil
 *   t = core.environ()             the environment as {NAME = value}
 *   n = core.signum(name)          "TERM", "SIGKILL", 9 -> signal number
 *   ok, errname, msg = core.kill(pid, signum)   kill(2) on any pid (not 0, -1)
 *   pid = core.pid()               getpid()
 */
#include "slipway.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <signal.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

extern char **environ;

#define PROC_MT "slipway.proc"

/* Captured output kept per stream unless spec.max_output says otherwise:
 * past it, the first half (head) and the last half (tail) are kept. */
#define DEFAULT_MAX_OUTPUT ((size_t)4 << 20)
/* A "lines" stream stops reading while this much is unconsumed, so that a
 * slow consumer makes the child wait instead of growing our memory. */
#define LINES_HIGH_WATER ((size_t)1 << 20)
/* At exit, after the last SIGKILL: how long to wait for pipes to close. */
#define SHUTDOWN_EXTRA_MS 2000
/* At exit: how long to wait for killed orphans to die, so they are reaped. */
#define ORPHAN_REAP_MS 1000

enum { M_CAPTURE = 1, M_LINES, M_INHERIT, M_DISCARD, M_FD };
enum { IN_NULL = 1, IN_INHERIT, IN_PIPE, IN_DATA, IN_FD };

typedef struct proc proc;

typedef struct {
  uv_pipe_t pipe;  /* first: a uv_stream_t* is an ostream* */
  proc *p;
  int mode;
  int open;        /* the pipe handle is open */
  int reading;
  int discard;     /* "lines" nobody reads any more: drop the data */
  char *buf;       /* capture: the head; lines: unread data */
  size_t len, alloc;
  char *ring;      /* capture past the cap: the tail */
  size_t rsize, rpos, rlen;
  size_t total;    /* bytes read */
  size_t limit;
} ostream;

typedef struct {
  uv_write_t req;
  proc *p;
  int user;        /* from core.write: wakes p->ww */
  char data[];
} wreq;

struct proc {
  sw_wait rw;          /* a task in poll or wait */
  sw_wait ww;          /* a task in write */
  int rw_mask;         /* poll: streams it wants lines of (0: the end only) */
  pid_t pid;
  uv_timer_t timer;    /* the timeout, then the kill grace period */
  uv_pipe_t in;
  int timer_open, in_open, in_mode;
  int in_writes, close_in_after, user_writing, wstatus;
  ostream out[2];
  int exited, status;  /* status: as from waitpid, -1 when unknown */
  int timed_out, killing, signalled;
  uint64_t t0, t1;
  uint64_t timeout_ms, grace_ms;
  uv_timer_t ptimer;   /* pipe_grace: armed when the leader exits, pipes open */
  int ptimer_open;
  int64_t pipe_grace_ms;  /* < 0: wait for EOF however long it takes */
  int pipes_cut;       /* streams closed after pipe_grace (1 stdout, 2 stderr) */
  int detached, has_ud, nhandles, finished, live;
  int spawning;        /* a spawn request on the pool refers to it */
  proc *next, *prev;
};

static proc *procs;          /* every child not yet finished */
static int nrunning;         /* children not yet exited (not detached) */
static uv_signal_t chld_h;   /* SIGCHLD: reap */
static int chld_started, hooks_added;
static int killed_groups;    /* a group was signalled: orphans may be dying */
static int devnull = -1;
static int spawns_in_flight; /* spawn requests on libuv's thread pool */
/* 1: on the pool when other children run; SLIPWAY_PROC_SPAWN=sync: never
 * (0), =thread: always (2) -- for measurements */
static int spawn_threaded = 1;

/* Exits reaped while spawn requests were on the pool, of pids no registered
 * child had: a child whose spawn has not come back yet (after_spawn looks
 * here), or an adopted orphan. Never overwritten (a lost exit hangs its run
 * for ever, its timeout included): room for one more is made BEFORE each
 * reap, so without memory the child stays a zombie until a spawn lands and
 * reap_all runs again. Emptied once no spawn is in flight. */
static struct early_exit { pid_t pid; int status; uint64_t t; } *early;  /* t: reaped at */
static size_t nearly, capearly;

#define PROC_OF(w, field) ((proc *)((char *)(w) - offsetof(proc, field)))

/* ---- lifetime ------------------------------------------------------------ */

static void maybe_free(proc *p) {
  if (p->has_ud || p->nhandles > 0 || p->live || p->spawning) return;
  for (int i = 0; i < 2; i++) {
    free(p->out[i].buf);
    free(p->out[i].ring);
  }
  free(p);
}

static void live_remove(proc *p) {
  if (!p->live) return;
  if (p->prev) p->prev->next = p->next; else procs = p->next;
  if (p->next) p->next->prev = p->prev;
  p->next = p->prev = NULL;
  p->live = 0;
}

static void on_close(uv_handle_t *h) {
  proc *p = h->data;
  p->nhandles--;
  maybe_free(p);
}

static void close_timer(proc *p) {
  if (!p->timer_open) return;
  p->timer_open = 0;
  uv_close((uv_handle_t *)&p->timer, on_close);
}

static void close_ptimer(proc *p) {
  if (!p->ptimer_open) return;
  p->ptimer_open = 0;
  uv_close((uv_handle_t *)&p->ptimer, on_close);
}

static void close_stdin_now(proc *p) {
  if (!p->in_open) return;
  p->in_open = 0;
  uv_close((uv_handle_t *)&p->in, on_close);
}

static void close_out(ostream *o) {
  if (!o->open) return;
  o->open = 0;
  o->reading = 0;
  uv_close((uv_handle_t *)&o->pipe, on_close);
}

/* ---- killing --------------------------------------------------------------- */

static void on_uv_timer(uv_timer_t *t);

/*
 * Whether kill(-pid) can still only reach our command's group. Once the
 * leader is reaped its pid is free -- but Linux does not hand out a pid that
 * is still some group's id, so if a process named pid exists again, our
 * group has no members left and the id may be about to name someone else's
 * group (every child slipway starts leads its own): leave it alone.
 */
static int group_is_ours(proc *p) {
  if (p->finished) return 0;
  if (!p->exited) return 1;  /* the leader (maybe a zombie) holds the id */
  return !(kill(p->pid, 0) == 0 || errno == EPERM);
}

static void signal_group(proc *p, int sig) {
  if (!group_is_ours(p)) return;
  killed_groups = 1;
  kill(-p->pid, sig);
}

/* SIGTERM to the group (unless slipway already forwarded a signal to it),
 * then SIGKILL once the grace period is over. */
static void start_kill(proc *p) {
  if (p->finished || p->killing || p->detached) return;
  p->killing = 1;
  if (!p->signalled) signal_group(p, SIGTERM);
  if (p->timer_open) sw_timer_start(&p->timer, on_uv_timer, p->grace_ms, 0);
}

static int reap_all(void);
static void exited(proc *p, int status);

static void on_uv_timer(uv_timer_t *t) {
  proc *p = t->data;
  /* timers run before the loop reads SIGCHLD: an exit that already happened
   * is collected first, and ends the run instead of timing it out */
  reap_all();
  if (p->finished) return;
  if (!p->killing) {  /* the timeout */
    p->timed_out = 1;
    start_kill(p);
  } else {            /* the grace period is over */
    signal_group(p, SIGKILL);
    /* no process has the pid any more, not even a zombie: its exit was
     * taken by someone else and no SIGCHLD will tell us; do not wait */
    if (!p->exited && kill(p->pid, 0) != 0 && errno == ESRCH) exited(p, -1);
  }
}

/* ---- finishing --------------------------------------------------------------- */

static int lines_ready(ostream *o) {
  if (o->mode != M_LINES || o->discard || o->len == 0) return 0;
  return !o->open || o->len >= LINES_HIGH_WATER || memchr(o->buf, '\n', o->len) != NULL;
}

static int poll_ready(proc *p, int mask) {
  if (((mask & 1) && lines_ready(&p->out[0])) || ((mask & 2) && lines_ready(&p->out[1])))
    return 1;
  return p->finished;
}

static void wake_reader(proc *p) {
  if (p->rw.task && poll_ready(p, p->rw_mask)) sw_wait_done(&p->rw);
}

static void check_finished(proc *p) {
  if (p->finished || !p->exited || p->out[0].open || p->out[1].open) return;
  /* what is left of the group outlived its command: it goes too (use
   * detach for processes that must stay) -- unless it kept the pipes open
   * past pipe_grace: a daemon, left running (the result says so) */
  if (!p->detached && !p->pipes_cut && group_is_ours(p) && kill(-p->pid, 0) == 0) {
    killed_groups = 1;
    kill(-p->pid, SIGKILL);
  }
  p->finished = 1;
  p->t1 = uv_hrtime();
  close_timer(p);
  close_ptimer(p);
  if (p->in_writes == 0) close_stdin_now(p); else p->close_in_after = 1;
  live_remove(p);
  wake_reader(p);
  maybe_free(p);
}

/* pipe_grace is over: what still holds the pipes (a daemon the command
 * started) is not waited for any longer, nor killed */
static void on_uv_pipe_grace(uv_timer_t *t) {
  proc *p = t->data;
  for (int i = 0; i < 2; i++)
    if (p->out[i].open) {
      p->pipes_cut |= 1 << i;
      close_out(&p->out[i]);
    }
  wake_reader(p);
  check_finished(p);
}

static void exited(proc *p, int status) {
  p->exited = 1;
  p->status = status;
  if (!p->detached && --nrunning == 0 && chld_started)
    uv_unref((uv_handle_t *)&chld_h);  /* nothing to wait for any more */
  check_finished(p);
  if (!p->finished && p->pipe_grace_ms >= 0 && !p->ptimer_open &&
      uv_timer_init(sw_loop(), &p->ptimer) == 0) {
    p->ptimer.data = p;
    p->ptimer_open = 1;
    p->nhandles++;
    sw_timer_start(&p->ptimer, on_uv_pipe_grace, (uint64_t)p->pipe_grace_ms, 0);
  }
}

static int early_reserve(void) {
  if (nearly < capearly) return 0;
  size_t cap = capearly ? capearly * 2 : 64;
  struct early_exit *e = realloc(early, cap * sizeof *e);
  if (e == NULL) return -1;
  early = e;
  capearly = cap;
  return 0;
}

static void early_clear(void) {
  free(early);
  early = NULL;
  nearly = capearly = 0;
}

/* The exit of a child whose spawn just landed, if it was reaped already. */
static int early_take(pid_t pid, int *status, uint64_t *t) {
  for (size_t i = 0; i < nearly; i++)
    if (early[i].pid == pid) {
      *status = early[i].status;
      *t = early[i].t;
      early[i] = early[--nearly];
      return 1;
    }
  return 0;
}

/* Reap every child that has ended: ours are recorded, orphans adopted as
 * subreaper are just reaped. Returns how many. */
static int reap_all(void) {
  int st, n = 0;
  pid_t r;
  for (;;) {
    if (spawns_in_flight > 0 && early_reserve() != 0) return n;  /* see early */
    r = waitpid(-1, &st, WNOHANG);
    if (r < 0 && errno == EINTR) continue;
    if (r <= 0) return n;
    n++;
    proc *p;
    for (p = procs; p; p = p->next)
      if (p->pid == r && !p->exited) {
        exited(p, st);
        break;
      }
    if (p == NULL && spawns_in_flight > 0) {  /* maybe one being registered */
      early[nearly].pid = r;
      early[nearly].status = st;
      early[nearly].t = uv_hrtime();
      nearly++;
    }
  }
}

static void on_uv_sigchld(uv_signal_t *h, int signum) {
  (void)h;
  (void)signum;
  reap_all();
}

/* ---- reading ------------------------------------------------------------------ */

static void on_uv_alloc(uv_handle_t *h, size_t suggested, uv_buf_t *buf) {
  /* read_cb runs right after, for this buffer only: one buffer serves all */
  static char chunk[65536];
  (void)h;
  (void)suggested;
  buf->base = chunk;
  buf->len = sizeof chunk;
}

static int buf_append(ostream *o, const char *d, size_t n, size_t max) {
  if (o->len + n > o->alloc) {
    size_t a = o->alloc ? o->alloc * 2 : 4096;
    if (a < o->len + n) a = o->len + n;
    if (max && a > max && o->len + n <= max) a = max;
    char *nb = realloc(o->buf, a);
    if (nb == NULL) return -1;  /* counted as dropped */
    o->buf = nb;
    o->alloc = a;
  }
  memcpy(o->buf + o->len, d, n);
  o->len += n;
  return 0;
}

static void ring_add(ostream *o, const char *d, size_t n) {
  if (n >= o->rsize) {
    memcpy(o->ring, d + n - o->rsize, o->rsize);
    o->rpos = 0;
    o->rlen = o->rsize;
    return;
  }
  size_t first = o->rsize - o->rpos;
  if (first > n) first = n;
  memcpy(o->ring + o->rpos, d, first);
  memcpy(o->ring, d + first, n - first);
  o->rpos = (o->rpos + n) % o->rsize;
  o->rlen = o->rlen + n > o->rsize ? o->rsize : o->rlen + n;
}

static void capture_add(ostream *o, const char *d, size_t n) {
  size_t head = o->limit / 2;
  if (o->ring == NULL) {
    if (o->len + n <= o->limit) {
      buf_append(o, d, n, o->limit);
      return;
    }
    if (o->limit < 2) return;
    /* past the cap: the first half stays as the head, the rest is a ring */
    if (o->len < head) {
      size_t k = head - o->len;
      if (buf_append(o, d, k, o->limit) != 0) return;
      d += k;
      n -= k;
    }
    o->rsize = o->limit - head;
    o->ring = malloc(o->rsize);
    if (o->ring == NULL) return;
    ring_add(o, o->buf + head, o->len - head);
    o->len = head;
  }
  ring_add(o, d, n);
}

static void on_uv_read(uv_stream_t *s, ssize_t n, const uv_buf_t *buf) {
  ostream *o = (ostream *)s;
  proc *p = o->p;
  if (n > 0) {
    o->total += (size_t)n;
    if (o->mode == M_CAPTURE) {
      capture_add(o, buf->base, (size_t)n);
    } else if (!o->discard) {
      buf_append(o, buf->base, (size_t)n, 0);
      if (o->len >= LINES_HIGH_WATER) {
        uv_read_stop(s);
        o->reading = 0;
      }
      wake_reader(p);
    }
  } else if (n < 0) {  /* EOF or an error: no more data either way */
    close_out(o);
    wake_reader(p);
    check_finished(p);
  }
}

static void resume_reading(ostream *o) {
  if (o->open && !o->reading && (o->discard || o->len < LINES_HIGH_WATER)) {
    if (uv_read_start((uv_stream_t *)&o->pipe, on_uv_alloc, on_uv_read) == 0)
      o->reading = 1;
    else
      close_out(o);
  }
}

/* ---- writing ------------------------------------------------------------------ */

static void on_uv_write(uv_write_t *r, int status) {
  wreq *w = (wreq *)r;
  proc *p = w->p;
  p->in_writes--;
  if (w->user) {
    p->user_writing = 0;
    p->wstatus = status;
    if (p->ww.task) sw_wait_done(&p->ww);
  }
  free(w);
  if (p->in_writes == 0 && p->close_in_after) close_stdin_now(p);
}

/* Write data to stdin: at once when the pipe takes it, else queued (copied).
 * Returns 1 when queued, 0 when written, a libuv error. */
static int stdin_write(proc *p, const char *d, size_t n, int user) {
  uv_buf_t b;
  int r = 0;
  if (p->in_writes == 0) {
    b.base = (char *)d;
    b.len = n;
    r = uv_try_write((uv_stream_t *)&p->in, &b, 1);
    if (r >= 0 && (size_t)r == n) return 0;
    if (r < 0 && r != UV_EAGAIN) return r;
    if (r < 0) r = 0;
  }
  wreq *w = malloc(sizeof *w + (n - (size_t)r));
  if (w == NULL) return UV_ENOMEM;
  memcpy(w->data, d + r, n - (size_t)r);
  w->p = p;
  w->user = user;
  b.base = w->data;
  b.len = n - (size_t)r;
  int e = uv_write(&w->req, (uv_stream_t *)&p->in, &b, 1, on_uv_write);
  if (e != 0) {
    free(w);
    return e;
  }
  p->in_writes++;
  return 1;
}

/* ---- signals and exit ------------------------------------------------------ */

static void on_slipway_signal(int sig) {
  for (proc *p = procs; p; p = p->next) {
    if (p->detached || p->finished) continue;
    signal_group(p, sig);
    p->signalled = 1;
  }
}

static int shutdown_expired;
static void on_uv_deadline(uv_timer_t *t) {
  (void)t;
  shutdown_expired = 1;
}

static int unfinished(void) {
  for (proc *p = procs; p; p = p->next)
    if (!p->detached && !p->finished) return 1;
  return 0;
}

static void close_all_handles(proc *p) {
  close_timer(p);
  close_ptimer(p);
  close_stdin_now(p);
  close_out(&p->out[0]);
  close_out(&p->out[1]);
}

/* Every task has ended: terminate what is still running (detached processes
 * excepted), wait for it within the grace periods, then close everything. */
static void at_shutdown(void *arg) {
  uint64_t longest = 0;
  (void)arg;
  while (spawns_in_flight > 0) uv_run(sw_loop(), UV_RUN_ONCE);  /* let them land */
  for (proc *p = procs; p; p = p->next) {
    if (p->detached || p->finished) continue;
    start_kill(p);
    if (p->grace_ms > longest) longest = p->grace_ms;
  }
  if (unfinished()) {
    static uv_timer_t deadline;
    uv_timer_init(sw_loop(), &deadline);
    sw_timer_start(&deadline, on_uv_deadline, longest + SHUTDOWN_EXTRA_MS, 0);
    shutdown_expired = 0;
    while (unfinished() && !shutdown_expired) uv_run(sw_loop(), UV_RUN_ONCE);
    uv_close((uv_handle_t *)&deadline, NULL);
  }
  for (proc *p = procs; p; p = p->next)
    if (!p->detached && !p->exited) kill(-p->pid, SIGKILL);  /* stuck */
  reap_all();
  while (procs) {
    proc *p = procs;
    if (!p->detached && !p->exited) {  /* killed above: give it a moment */
      for (int i = 0; i < 100 && !p->exited; i++) {
        usleep(10000);
        reap_all();
      }
    }
    live_remove(p);
    close_all_handles(p);
    maybe_free(p);
  }
  /* killed orphans (adopted) die within moments: reap them before leaving,
   * or they stay zombies of a PID 1 that may never reap */
  if (killed_groups) {
    uint64_t t0 = uv_hrtime(), quiet = t0;
    while (uv_hrtime() - t0 < (uint64_t)ORPHAN_REAP_MS * 1000000) {
      errno = 0;
      if (reap_all() > 0) quiet = uv_hrtime();
      else if (errno == ECHILD || uv_hrtime() - quiet > 50 * 1000000ull) break;
      usleep(2000);
    }
  }
  if (chld_started) {
    chld_started = 0;
    uv_close((uv_handle_t *)&chld_h, NULL);
  }
  if (devnull >= 0) {
    close(devnull);
    devnull = -1;
  }
}

static void setup_once(void) {
  if (hooks_added) return;
  hooks_added = 1;
  sw_on_signal(on_slipway_signal);
  sw_at_shutdown(at_shutdown, NULL);
  const char *m = getenv("SLIPWAY_PROC_SPAWN");
  if (m && strcmp(m, "sync") == 0) spawn_threaded = 0;
  if (m && strcmp(m, "thread") == 0) spawn_threaded = 2;  /* always */
  if (uv_signal_init(sw_loop(), &chld_h) == 0) {
    uv_signal_start(&chld_h, on_uv_sigchld, SIGCHLD);
    uv_unref((uv_handle_t *)&chld_h);
    chld_started = 1;
  }
}

/* ---- spawning -------------------------------------------------------------------- */

static proc *check_proc(lua_State *L, int idx) {
  proc **ud = luaL_checkudata(L, idx, PROC_MT);
  if (*ud == NULL) luaL_error(L, "attempt to use a released process handle");
  return *ud;
}

/* fd >= 3 and close-on-exec, so that it never collides with 0..2 */
static int high_fd(int fd) {
  if (fd < 0 || fd >= 3) return fd;
  int h = fcntl(fd, F_DUPFD_CLOEXEC, 3);
  close(fd);
  return h;
}

static int get_devnull(void) {
  if (devnull < 0) devnull = high_fd(open("/dev/null", O_RDWR | O_CLOEXEC));
  return devnull;
}

typedef struct {
  const char *path, *cwd;
  int detach;
  int in_mode, out_mode[2];
  const char *in_file, *out_file[2];
  FILE *in_fh, *out_fh[2];
  size_t limit;
  double timeout, grace, pipe_grace;  /* pipe_grace < 0: none */
} spec_t;

static const char *opt_string(lua_State *L, const char *key) {
  const char *s = NULL;
  if (lua_getfield(L, 1, key) == LUA_TSTRING) s = lua_tostring(L, -1);
  lua_pop(L, 1);  /* the spec table keeps the string alive */
  return s;
}

static double opt_number(lua_State *L, const char *key, double dflt) {
  double v = dflt;
  if (lua_getfield(L, 1, key) == LUA_TNUMBER) v = lua_tonumber(L, -1);
  lua_pop(L, 1);
  return v;
}

static int mode_of(const char *s, int dflt) {
  if (s == NULL) return dflt;
  if (strcmp(s, "capture") == 0) return M_CAPTURE;
  if (strcmp(s, "lines") == 0) return M_LINES;
  if (strcmp(s, "inherit") == 0) return M_INHERIT;
  if (strcmp(s, "discard") == 0) return M_DISCARD;
  if (strcmp(s, "file") == 0) return M_FD;
  return -1;
}

static FILE *opt_fh(lua_State *L, const char *key) {
  FILE *f = NULL;
  lua_getfield(L, 1, key);
  luaL_Stream *s = luaL_testudata(L, -1, LUA_FILEHANDLE);
  if (s) {
    if (s->closef == NULL) luaL_error(L, "proc: %s is a closed file", key);
    f = s->f;
  }
  lua_pop(L, 1);
  return f;
}

static void read_spec(lua_State *L, spec_t *s) {
  static const char *const in_modes[] = {"null", "inherit", "pipe", "data", "file", NULL};
  static const char *const names[2][3] = {{"stdout", "stdout_file", "stdout_handle"},
                                          {"stderr", "stderr_file", "stderr_handle"}};
  memset(s, 0, sizeof *s);
  luaL_checktype(L, 1, LUA_TTABLE);
  s->path = opt_string(L, "path");
  if (s->path == NULL) luaL_error(L, "proc: spec.path missing");
  s->cwd = opt_string(L, "cwd");
  if (lua_getfield(L, 1, "argv") != LUA_TTABLE || luaL_len(L, -1) < 1)
    luaL_error(L, "proc: spec.argv missing");
  lua_pop(L, 1);
  lua_getfield(L, 1, "detach");
  s->detach = lua_toboolean(L, -1);
  lua_pop(L, 1);

  lua_getfield(L, 1, "stdin");
  s->in_mode = luaL_checkoption(L, -1, "null", in_modes) + 1;
  lua_pop(L, 1);
  if (s->in_mode == IN_DATA) {
    if (lua_getfield(L, 1, "stdin_data") != LUA_TSTRING)
      luaL_error(L, "proc: spec.stdin_data missing");
    lua_pop(L, 1);
  } else if (s->in_mode == IN_FD) {
    s->in_file = opt_string(L, "stdin_file");
    s->in_fh = opt_fh(L, "stdin_handle");
    if (!s->in_file && !s->in_fh) luaL_error(L, "proc: stdin file missing");
  }
  for (int i = 0; i < 2; i++) {
    s->out_mode[i] = mode_of(opt_string(L, names[i][0]), M_CAPTURE);
    if (s->out_mode[i] < 0) luaL_error(L, "proc: bad %s mode", names[i][0]);
    if (s->out_mode[i] == M_FD) {
      s->out_file[i] = opt_string(L, names[i][1]);
      s->out_fh[i] = opt_fh(L, names[i][2]);
      if (!s->out_file[i] && !s->out_fh[i]) luaL_error(L, "proc: %s file missing", names[i][0]);
    }
    if (s->detach && (s->out_mode[i] == M_CAPTURE || s->out_mode[i] == M_LINES))
      s->out_mode[i] = M_DISCARD;
  }
  if (s->detach && s->in_mode != IN_FD && s->in_mode != IN_INHERIT) s->in_mode = IN_NULL;
  double lim = opt_number(L, "max_output", (double)DEFAULT_MAX_OUTPUT);
  s->limit = lim < 0 ? 0 : lim > (double)(SIZE_MAX / 4) ? SIZE_MAX / 4 : (size_t)lim;
  s->timeout = opt_number(L, "timeout", 0);
  s->grace = opt_number(L, "kill_grace", 5);
  if (s->grace < 0) s->grace = 0;
  s->pipe_grace = opt_number(L, "pipe_grace", -1);
}

static uint64_t to_ms(double s) {
  if (!(s > 0)) return 0;
  if (s > 1e9) s = 1e9;
  return (uint64_t)(s * 1000.0 + 0.5);
}

/* Error out of spawn: nil, "ENAME", message. */
static int spawn_fail(lua_State *L, int err, const char *what) {
  int uverr = uv_translate_sys_error(err);
  const char *name, *msg;
  if (err == ENOEXEC) {  /* libuv knows no name: "Unknown system error -8" (leaked) */
    name = "ENOEXEC";
    msg = "exec format error: not a binary and no #! line";
  } else {
    name = uv_err_name(uverr);
    msg = uv_strerror(uverr);
  }
  lua_pushnil(L);
  lua_pushstring(L, name);
  if (what) lua_pushfstring(L, "%s: %s", what, msg);
  else lua_pushstring(L, msg);
  return 3;
}

#define MAXFDS 12

typedef struct {
  int fd[MAXFDS];
  int n;
} fdlist;

static int keep_fd(fdlist *l, int fd) {
  if (fd >= 0) l->fd[l->n++] = fd;
  return fd;
}

static void close_fds(fdlist *l) {
  for (int i = 0; i < l->n; i++) close(l->fd[i]);
  l->n = 0;
}

static int open_out_file(const char *path) {
  return high_fd(open(path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644));
}

static int dup_fh(FILE *f) {
  fflush(f);
  return fcntl(fileno(f), F_DUPFD_CLOEXEC, 3);
}

/*
 * One spawn request: what posix_spawn needs, owned here (strings copied), so
 * that it can run on a thread of libuv's pool while the loop goes on. With
 * glibc, posix_spawn returns only once the child has exec'd (CLONE_VFORK):
 * done on the loop thread, the spawns of concurrent runs would queue behind
 * each other's exec (docs/proc.md has the measurements).
 */
typedef struct {
  uv_work_t work;
  sw_wait w;
  proc *p;
  int cancelled;
  posix_spawnattr_t attr;
  posix_spawn_file_actions_t fa;
  int have_attr, have_fa;
  const char *path, *cwd;
  char **argv, **envp;
  pid_t pid;
  int err;
  uint64_t called, t0;  /* uv_hrtime: core.spawn was called; the spawn ran */
  fdlist parent, child;
  int in_w, out_r[2];
  spec_t s;
  char mem[];  /* the pointer arrays, then the strings */
} spawn_req;


static size_t list_size(lua_State *L, const char *key, lua_Integer *n) {
  size_t total = 0;
  *n = 0;
  if (lua_getfield(L, 1, key) == LUA_TTABLE) {
    *n = luaL_len(L, -1);
    for (lua_Integer i = 1; i <= *n; i++) {
      if (lua_rawgeti(L, -1, i) != LUA_TSTRING)
        luaL_error(L, "proc: %s[%d] must be a string", key, (int)i);
      size_t len;
      const char *v = lua_tolstring(L, -1, &len);
      if (memchr(v, '\0', len))  /* proc.lua says which; the child would see less */
        luaL_error(L, "proc: %s[%d] contains a NUL byte", key, (int)i);
      total += len + 1;
      lua_pop(L, 1);
    }
  }
  lua_pop(L, 1);
  return total;
}

static char *copy_str(char **at, const char *src, size_t n) {
  char *d = *at;
  memcpy(d, src, n);
  d[n] = '\0';
  *at += n + 1;
  return d;
}

static void copy_list(lua_State *L, const char *key, char **arr, lua_Integer n, char **at) {
  lua_getfield(L, 1, key);
  for (lua_Integer i = 1; i <= n; i++) {
    size_t len;
    lua_rawgeti(L, -1, i);
    const char *v = lua_tolstring(L, -1, &len);
    arr[i - 1] = copy_str(at, v, len);
    lua_pop(L, 1);
  }
  arr[n] = NULL;
  lua_pop(L, 1);
}

/* A request with copies of path, cwd, argv and env (NULL: no memory). */
static spawn_req *new_req(lua_State *L, const spec_t *s) {
  lua_Integer argc, envc;
  size_t strings = list_size(L, "argv", &argc) + list_size(L, "env", &envc);
  int has_env = lua_getfield(L, 1, "env") == LUA_TTABLE;
  lua_pop(L, 1);
  strings += strlen(s->path) + 1 + (s->cwd ? strlen(s->cwd) + 1 : 0);
  size_t ptrs = ((size_t)argc + 1 + (size_t)envc + 1) * sizeof(char *);
  spawn_req *r = calloc(1, sizeof *r + ptrs + strings);
  if (r == NULL) return NULL;
  char *at = r->mem + ptrs;
  r->argv = (char **)r->mem;
  r->envp = has_env ? r->argv + argc + 1 : environ;
  r->path = copy_str(&at, s->path, strlen(s->path));
  r->cwd = s->cwd ? copy_str(&at, s->cwd, strlen(s->cwd)) : NULL;
  copy_list(L, "argv", r->argv, argc, &at);
  if (has_env) copy_list(L, "env", r->envp, envc, &at);
  r->s = *s;
  r->in_w = r->out_r[0] = r->out_r[1] = -1;
  return r;
}

/* Open the child's stdio (here, so that errors are clear) and prepare the
 * spawn attributes. Returns 0 or an errno, with *what saying what failed. */
static int prepare(lua_State *L, spawn_req *r, const char **what) {
  static const int default_sigs[] = {SIGPIPE, SIGINT, SIGQUIT, SIGTERM, SIGHUP,
                                     SIGCHLD, SIGUSR1, SIGUSR2, SIGALRM, SIGTSTP,
                                     SIGTTIN, SIGTTOU, SIGXFSZ};
  const spec_t *s = &r->s;
  int child_fd[3] = {-1, -1, -1}, e;
  sigset_t mask, dflt;

  switch (s->in_mode) {
  case IN_NULL: child_fd[0] = get_devnull(); break;
  case IN_PIPE: case IN_DATA: {
    int fds[2];
    if (pipe2(fds, O_CLOEXEC) != 0) { *what = "pipe"; return errno; }
    child_fd[0] = keep_fd(&r->child, high_fd(fds[0]));
    r->in_w = keep_fd(&r->parent, high_fd(fds[1]));
    if (child_fd[0] < 0 || r->in_w < 0) { *what = "pipe"; return errno; }
    break;
  }
  case IN_FD:
    child_fd[0] = s->in_fh ? dup_fh(s->in_fh)
                           : high_fd(open(s->in_file, O_RDONLY | O_CLOEXEC));
    if (keep_fd(&r->child, child_fd[0]) < 0) {
      *what = s->in_file ? lua_pushfstring(L, "cannot open stdin file '%s'", s->in_file)
                         : "stdin";
      return errno;
    }
    break;
  default: break;
  }
  for (int i = 0; i < 2; i++) {
    switch (s->out_mode[i]) {
    case M_CAPTURE: case M_LINES: {
      int fds[2];
      if (pipe2(fds, O_CLOEXEC) != 0) { *what = "pipe"; return errno; }
      r->out_r[i] = keep_fd(&r->parent, high_fd(fds[0]));
      child_fd[i + 1] = keep_fd(&r->child, high_fd(fds[1]));
      if (child_fd[i + 1] < 0 || r->out_r[i] < 0) { *what = "pipe"; return errno; }
      break;
    }
    case M_DISCARD: child_fd[i + 1] = get_devnull(); break;
    case M_FD:
      child_fd[i + 1] = s->out_fh[i] ? dup_fh(s->out_fh[i]) : open_out_file(s->out_file[i]);
      if (keep_fd(&r->child, child_fd[i + 1]) < 0) {
        *what = s->out_file[i] ? lua_pushfstring(L, "cannot open %s file '%s'",
                                                 i ? "stderr" : "stdout", s->out_file[i])
                               : (i ? "stderr" : "stdout");
        return errno;
      }
      break;
    default: break;
    }
  }
  if ((s->in_mode == IN_NULL || s->out_mode[0] == M_DISCARD || s->out_mode[1] == M_DISCARD)
      && devnull < 0) {
    *what = "/dev/null";
    return errno;
  }

  sigemptyset(&mask);
  sigemptyset(&dflt);
  for (size_t i = 0; i < sizeof default_sigs / sizeof *default_sigs; i++)
    sigaddset(&dflt, default_sigs[i]);
  if ((e = posix_spawnattr_init(&r->attr)) != 0) return e;
  r->have_attr = 1;
  posix_spawnattr_setsigmask(&r->attr, &mask);
  posix_spawnattr_setsigdefault(&r->attr, &dflt);
  posix_spawnattr_setflags(&r->attr, POSIX_SPAWN_SETSID | POSIX_SPAWN_SETSIGMASK |
                                         POSIX_SPAWN_SETSIGDEF);
  if ((e = posix_spawn_file_actions_init(&r->fa)) != 0) return e;
  r->have_fa = 1;
  for (int i = 0; i < 3 && e == 0; i++)
    if (child_fd[i] >= 0) e = posix_spawn_file_actions_adddup2(&r->fa, child_fd[i], i);
  /* nothing else of ours leaks into the child (lock files, sockets, ...) */
  if (e == 0) e = posix_spawn_file_actions_addclosefrom_np(&r->fa, 3);
  if (e == 0 && r->cwd) e = posix_spawn_file_actions_addchdir_np(&r->fa, r->cwd);
  return e;
}

/* Runs on the loop thread or on a thread of the pool: no Lua, no libuv. */
static void do_spawn(spawn_req *r) {
  r->t0 = uv_hrtime();
  r->err = posix_spawn(&r->pid, r->path, &r->fa, &r->attr, r->argv, r->envp);
}

static void on_pool_spawn(uv_work_t *w) { do_spawn((spawn_req *)w); }

/* Done with the request's resources; on success, watch the process. */
static void after_spawn(spawn_req *r) {
  proc *p = r->p;
  if (r->have_fa) posix_spawn_file_actions_destroy(&r->fa);
  if (r->have_attr) posix_spawnattr_destroy(&r->attr);
  r->have_fa = r->have_attr = 0;
  close_fds(&r->child);
  if (r->err) {
    close_fds(&r->parent);
    return;
  }
  r->parent.n = 0;  /* owned by the pipes from now on */
  p->pid = r->pid;
  p->t0 = r->t0;
  p->detached = r->s.detach;
  p->timeout_ms = to_ms(r->s.timeout);
  p->grace_ms = to_ms(r->s.grace);
  p->pipe_grace_ms = r->s.pipe_grace < 0 ? -1 : (int64_t)to_ms(r->s.pipe_grace);
  p->in_mode = r->s.in_mode;
  p->live = 1;
  p->next = procs;
  if (procs) procs->prev = p;
  procs = p;
  uv_loop_t *loop = sw_loop();
  if (!p->detached && nrunning++ == 0 && chld_started)
    uv_ref((uv_handle_t *)&chld_h);  /* an exit to wait for */
  uv_timer_init(loop, &p->timer);
  p->timer.data = p;
  p->timer_open = 1;
  p->nhandles++;
  for (int i = 0; i < 2; i++) {
    ostream *o = &p->out[i];
    o->p = p;
    o->mode = r->s.out_mode[i];
    o->limit = r->s.limit;
    if (r->out_r[i] < 0) continue;
    uv_pipe_init(loop, &o->pipe, 0);
    o->pipe.data = p;
    p->nhandles++;
    o->open = 1;
    if (uv_pipe_open(&o->pipe, r->out_r[i]) != 0) {
      close(r->out_r[i]);
      close_out(o);
    } else {
      resume_reading(o);
    }
  }
  if (r->in_w >= 0) {
    uv_pipe_init(loop, &p->in, 0);
    p->in.data = p;
    p->nhandles++;
    p->in_open = 1;
    if (uv_pipe_open(&p->in, r->in_w) != 0) {
      close(r->in_w);
      close_stdin_now(p);
    }
  }
  /* the timeout counts from the call, not from here: on a congested pool
   * (or a loop thread busy elsewhere) the spawn may land long after it ran,
   * the command finished or its deadline past. An exit reaped after the
   * deadline, or a deadline past before the spawn landed, is a timeout. */
  int timed = p->timeout_ms && !p->detached;
  uint64_t deadline = r->called + p->timeout_ms * 1000000u;
  int st;
  uint64_t reaped;
  if (early_take(p->pid, &st, &reaped)) {
    if (timed && reaped > deadline) p->timed_out = 1;
    exited(p, st);
  } else if (timed) {
    uint64_t now = uv_hrtime();
    if (now >= deadline) {
      p->timed_out = 1;
      start_kill(p);
    } else {
      sw_timer_start(&p->timer, on_uv_timer, (deadline - now + 999999u) / 1000000u, 0);
    }
  }
}

/* On the task: the handle (or pid), or nil, errname, message. Frees r. */
static int spawn_result(lua_State *L, spawn_req *r) {
  proc **ud = luaL_checkudata(L, 2, PROC_MT);
  proc *p = r->p;
  if (r->err) {
    int e = r->err;
    const char *what = NULL;
    struct stat st;
    if (r->cwd && (stat(r->cwd, &st) != 0 || !S_ISDIR(st.st_mode))) {
      e = stat(r->cwd, &st) == 0 ? ENOTDIR : errno;
      what = lua_pushfstring(L, "cannot change to directory '%s'", r->cwd);
    }
    free(r);
    *ud = NULL;
    free(p);
    return spawn_fail(L, e, what);
  }
  if (p->in_open && r->s.in_mode == IN_DATA) {
    size_t n;
    lua_getfield(L, 1, "stdin_data");
    const char *d = lua_tolstring(L, -1, &n);
    if (d == NULL || n == 0 || stdin_write(p, d, n, 0) <= 0)
      close_stdin_now(p);  /* all written (or the child is gone) */
    else
      p->close_in_after = 1;
  }
  free(r);
  if (p->detached) {  /* nobody holds it: it frees itself once reaped */
    *ud = NULL;
    p->has_ud = 0;
    lua_pushinteger(L, p->pid);
    maybe_free(p);
    return 1;
  }
  lua_settop(L, 2);
  return 1;
}

static int spawn_push(lua_State *L, sw_wait *w) {
  return spawn_result(L, (spawn_req *)((char *)w - offsetof(spawn_req, w)));
}

static void spawn_cancel(sw_wait *w) {
  ((spawn_req *)((char *)w - offsetof(spawn_req, w)))->cancelled = 1;
}

static void on_uv_spawned(uv_work_t *w, int status) {
  spawn_req *r = (spawn_req *)w;
  proc *p = r->p;
  (void)status;
  spawns_in_flight--;
  after_spawn(r);
  if (spawns_in_flight == 0) early_clear();  /* no stale entry may match a reused pid */
  reap_all();  /* exits left unreaped for want of memory (see early) */
  p->spawning = 0;
  if (!r->cancelled) {
    sw_wait_done(&r->w);
    return;
  }
  /* the task is gone: stop what it started */
  if (!r->err) {
    close_stdin_now(p);
    start_kill(p);
  }
  free(r);
  maybe_free(p);
}

/* h = core.spawn(spec) -- see proc.lua for the fields of spec. In a task,
 * the spawn itself runs on libuv's thread pool and the task waits. */
static int l_spawn(lua_State *L) {
  spec_t s;
  const char *what = NULL;
  int e;
  read_spec(L, &s);
  setup_once();
  sw_task *t = sw_current_task(L);
  /* alone, the spawn is quickest here; next to running children (concurrent
   * runs), on the pool, where spawns overlap each other's exec */
  int threaded = spawn_threaded && t && lua_isyieldable(L) &&
                 (nrunning > 0 || spawns_in_flight > 0 || spawn_threaded > 1);
  if (threaded) sw_check_yieldable(L, "proc.spawn");  /* raises if cancelled */
  spawn_req *r = new_req(L, &s);
  if (r == NULL) return luaL_error(L, "not enough memory");
  r->called = uv_hrtime();
  lua_settop(L, 1);
  proc **ud = lua_newuserdatauv(L, sizeof(proc *), 1);  /* index 2 */
  *ud = NULL;
  luaL_setmetatable(L, PROC_MT);
  proc *p = calloc(1, sizeof *p);
  if (p == NULL) {
    free(r);
    return luaL_error(L, "not enough memory");
  }
  *ud = p;
  p->status = -1;
  p->has_ud = 1;
  r->p = p;

  if ((e = prepare(L, r, &what)) != 0) {
    r->err = e;
    after_spawn(r);
    free(r);
    *ud = NULL;
    free(p);
    return spawn_fail(L, e, what);
  }
  if (threaded &&
      uv_queue_work(sw_loop(), &r->work, on_pool_spawn, on_uv_spawned) == 0) {
    spawns_in_flight++;
    p->spawning = 1;
    r->w.cancel = spawn_cancel;
    r->w.push = spawn_push;
    return sw_wait_yield(L, &r->w);
  }
  do_spawn(r);
  after_spawn(r);
  return spawn_result(L, r);
}

/* ---- results ----------------------------------------------------------------- */

static void push_output(lua_State *L, ostream *o) {
  if (o->mode != M_CAPTURE) {
    lua_pushliteral(L, "");
    return;
  }
  if (o->ring == NULL) {
    lua_pushlstring(L, o->buf ? o->buf : "", o->len);
    return;
  }
  luaL_Buffer b;
  size_t dropped = o->total - o->len - o->rlen;
  size_t start = (o->rpos + o->rsize - o->rlen) % o->rsize;
  size_t first = o->rsize - start < o->rlen ? o->rsize - start : o->rlen;
  /* the tail in one piece, to see what the drop cut off at its start */
  lua_pushlstring(L, o->ring + start, first);
  lua_pushlstring(L, o->ring, o->rlen - first);
  lua_concat(L, 2);
  size_t tlen;
  const char *tail = lua_tolstring(L, -1, &tlen);
  /* a secret cut by the drop leaves its head before the marker and its end
   * after it: neither part is a whole secret, so mask them here */
  size_t hcut = sw_secret_cut(o->buf, o->len, 1);
  size_t tcut = sw_secret_cut(tail, tlen, 0);
  luaL_buffinit(L, &b);
  luaL_addlstring(&b, o->buf, o->len - hcut);
  if (hcut) luaL_addstring(&b, "***");
  lua_pushfstring(L, "\n[... %I bytes dropped ...]\n", (lua_Integer)dropped);
  luaL_addvalue(&b);
  if (tcut) luaL_addstring(&b, "***");
  luaL_addlstring(&b, tail + tcut, tlen - tcut);
  luaL_pushresult(&b);
  lua_remove(L, -2);  /* the tail */
}

static size_t dropped_of(ostream *o) {
  if (o->mode != M_CAPTURE) return 0;
  return o->total - o->len - o->rlen;
}

/* The result table, built once (kept as the handle's user value) */
static void push_result(lua_State *L, int udidx, proc *p) {
  if (lua_getiuservalue(L, udidx, 1) == LUA_TTABLE) return;
  lua_pop(L, 1);
  int code = -1, sig = 0;
  if (p->status != -1 && WIFEXITED(p->status)) code = WEXITSTATUS(p->status);
  else if (p->status != -1 && WIFSIGNALED(p->status)) {
    sig = WTERMSIG(p->status);
    code = 128 + sig;
  }
  if (p->timed_out) code = 124;  /* as coreutils timeout(1) */
  lua_createtable(L, 0, 10);
  lua_pushinteger(L, code);
  lua_setfield(L, -2, "code");
  lua_pushinteger(L, sig);
  lua_setfield(L, -2, "signal");
  push_output(L, &p->out[0]);
  lua_setfield(L, -2, "stdout");
  push_output(L, &p->out[1]);
  lua_setfield(L, -2, "stderr");
  lua_pushinteger(L, (lua_Integer)dropped_of(&p->out[0]));
  lua_setfield(L, -2, "stdout_dropped");
  lua_pushinteger(L, (lua_Integer)dropped_of(&p->out[1]));
  lua_setfield(L, -2, "stderr_dropped");
  lua_pushnumber(L, (double)(p->t1 - p->t0) / 1e9);
  lua_setfield(L, -2, "duration");
  lua_pushboolean(L, p->timed_out);
  lua_setfield(L, -2, "timed_out");
  lua_pushinteger(L, p->pid);
  lua_setfield(L, -2, "pid");
  if (p->pipes_cut) {  /* {"stdout", "stderr"}: closed after pipe_grace */
    int n = 0;
    lua_createtable(L, 2, 0);
    for (int i = 0; i < 2; i++)
      if (p->pipes_cut & (1 << i)) {
        lua_pushstring(L, i ? "stderr" : "stdout");
        lua_rawseti(L, -2, ++n);
      }
    lua_setfield(L, -2, "pipes_cut");
  }
  lua_pushvalue(L, -1);
  lua_setiuservalue(L, udidx, 1);
  /* the table has the output now */
  for (int i = 0; i < 2; i++) {
    ostream *o = &p->out[i];
    if (o->mode != M_CAPTURE) continue;
    free(o->buf);
    free(o->ring);
    o->buf = o->ring = NULL;
    o->len = o->alloc = o->rlen = 0;
  }
}

/* ---- Lua API ---------------------------------------------------------------- */

static void rw_cancel(sw_wait *w) { start_kill(PROC_OF(w, rw)); }
static void ww_cancel(sw_wait *w) { start_kill(PROC_OF(w, ww)); }

static void push_chunk(lua_State *L, ostream *o) {
  size_t n = 0;
  if (!lines_ready(o)) {
    lua_pushnil(L);
    return;
  }
  for (size_t i = o->len; i > 0; i--)
    if (o->buf[i - 1] == '\n') { n = i; break; }
  if (n == 0) n = o->len;  /* EOF, or a line longer than the high-water mark */
  lua_pushlstring(L, o->buf, n);
  memmove(o->buf, o->buf + n, o->len - n);
  o->len -= n;
  resume_reading(o);
}

static int push_poll(lua_State *L, proc *p, int mask) {
  if (mask & 1) push_chunk(L, &p->out[0]); else lua_pushnil(L);
  if (mask & 2) push_chunk(L, &p->out[1]); else lua_pushnil(L);
  lua_pushboolean(L, p->finished && !((mask & 1) && lines_ready(&p->out[0])) &&
                         !((mask & 2) && lines_ready(&p->out[1])));
  return 3;
}

static int poll_push(lua_State *L, sw_wait *w) {
  proc *p = PROC_OF(w, rw);
  return push_poll(L, p, p->rw_mask);
}

static void busy(lua_State *L, proc *p) {
  if (p->rw.task) luaL_error(L, "proc: another task is already waiting on process %d", (int)p->pid);
}

/* out, err, done = core.poll(h, mask): whole lines of the "lines" streams in
 * mask (1 stdout, 2 stderr), waiting for some; done once all is delivered. */
static int l_poll(lua_State *L) {
  proc *p = check_proc(L, 1);
  int mask = (int)luaL_optinteger(L, 2, 3) & 3;
  if (poll_ready(p, mask)) return push_poll(L, p, mask);
  sw_check_yieldable(L, "proc: reading output");
  busy(L, p);
  p->rw_mask = mask;
  p->rw.cancel = rw_cancel;
  p->rw.push = poll_push;
  return sw_wait_yield(L, &p->rw);
}

static int wait_push(lua_State *L, sw_wait *w) {
  push_result(L, 1, PROC_OF(w, rw));
  return 1;
}

static void drop_lines(proc *p) {
  for (int i = 0; i < 2; i++) {
    ostream *o = &p->out[i];
    if (o->mode != M_LINES) continue;
    o->discard = 1;
    o->len = 0;
    resume_reading(o);
  }
}

/* res = core.wait(h): closes stdin (after pending writes), drops unread
 * lines, waits until the process has finished. */
static int l_wait(lua_State *L) {
  proc *p = check_proc(L, 1);
  lua_settop(L, 1);
  if (p->finished) {
    push_result(L, 1, p);
    return 1;
  }
  sw_check_yieldable(L, "proc: wait");
  busy(L, p);
  drop_lines(p);
  if (p->in_writes == 0) close_stdin_now(p); else p->close_in_after = 1;
  p->rw_mask = 0;
  p->rw.cancel = rw_cancel;
  p->rw.push = wait_push;
  return sw_wait_yield(L, &p->rw);
}

static int write_push(lua_State *L, sw_wait *w) {
  proc *p = PROC_OF(w, ww);
  if (p->wstatus == 0) {
    lua_pushboolean(L, 1);
    return 1;
  }
  lua_pushnil(L);
  lua_pushstring(L, uv_err_name(p->wstatus));
  lua_pushstring(L, uv_strerror(p->wstatus));
  return 3;
}

/* ok | nil, errname, message = core.write(h, data) */
static int l_write(lua_State *L) {
  proc *p = check_proc(L, 1);
  size_t n;
  const char *d = luaL_checklstring(L, 2, &n);
  if (p->in_mode != IN_PIPE) luaL_error(L, "proc: stdin is not a pipe (spawn with stdin = \"pipe\")");
  if (!p->in_open || p->close_in_after) {
    lua_pushnil(L);
    lua_pushliteral(L, "EPIPE");
    lua_pushliteral(L, "stdin is closed");
    return 3;
  }
  if (n == 0) {
    lua_pushboolean(L, 1);
    return 1;
  }
  sw_check_yieldable(L, "proc: write");
  if (p->user_writing || p->ww.task)
    luaL_error(L, "proc: another task is writing to process %d", (int)p->pid);
  int r = stdin_write(p, d, n, 1);
  if (r == 0) {
    lua_pushboolean(L, 1);
    return 1;
  }
  if (r < 0) {
    lua_pushnil(L);
    lua_pushstring(L, uv_err_name(r));
    lua_pushstring(L, uv_strerror(r));
    return 3;
  }
  p->user_writing = 1;
  p->ww.cancel = ww_cancel;
  p->ww.push = write_push;
  return sw_wait_yield(L, &p->ww);
}

static int l_close_stdin(lua_State *L) {
  proc *p = check_proc(L, 1);
  if (p->in_writes == 0) close_stdin_now(p); else p->close_in_after = 1;
  return 0;
}

static int l_signal(lua_State *L) {
  proc *p = check_proc(L, 1);
  int sig = (int)luaL_checkinteger(L, 2);
  lua_pushboolean(L, !p->finished && kill(-p->pid, sig) == 0);
  return 1;
}

static int l_terminate(lua_State *L) {
  start_kill(check_proc(L, 1));
  return 0;
}

static int l_lines(lua_State *L) {
  proc *p = check_proc(L, 1);
  int i = (int)luaL_checkinteger(L, 2);
  luaL_argcheck(L, i == 1 || i == 2, 2, "1 (stdout) or 2 (stderr)");
  ostream *o = &p->out[i - 1];
  if (o->mode == M_LINES) return 0;
  if (o->mode != M_CAPTURE || lua_getiuservalue(L, 1, 1) == LUA_TTABLE)
    luaL_error(L, "proc: %s is not captured", i == 1 ? "stdout" : "stderr");
  if (o->ring) {  /* head + tail, in order */
    size_t start = (o->rpos + o->rsize - o->rlen) % o->rsize;
    size_t first = o->rsize - start < o->rlen ? o->rsize - start : o->rlen;
    char *r = o->ring;
    o->ring = NULL;
    if (buf_append(o, r + start, first, 0) != 0 ||
        buf_append(o, r, o->rlen - first, 0) != 0) {
      free(r);
      luaL_error(L, "not enough memory");
    }
    free(r);
  }
  o->mode = M_LINES;
  o->discard = 0;
  if (o->len >= LINES_HIGH_WATER && o->reading) {
    uv_read_stop((uv_stream_t *)&o->pipe);
    o->reading = 0;
  }
  return 0;
}

static int l_info(lua_State *L) {
  proc *p = check_proc(L, 1);
  lua_pushinteger(L, p->pid);
  lua_pushboolean(L, p->finished);
  return 2;
}

static int l_check_wait(lua_State *L) {
  sw_check_yieldable(L, luaL_checkstring(L, 1));
  return 0;
}

/* path = core.which(name, PATH): name itself when it has a slash */
static int l_which(lua_State *L) {
  size_t n;
  const char *name = luaL_checklstring(L, 1, &n);
  const char *path = luaL_optstring(L, 2, "/usr/local/bin:/usr/bin:/bin");
  struct stat st;
  if (n == 0) return 0;
  if (strchr(name, '/')) {
    if (access(name, X_OK) == 0 && stat(name, &st) == 0 && S_ISREG(st.st_mode)) {
      lua_pushvalue(L, 1);
      return 1;
    }
    return 0;
  }
  while (1) {
    const char *end = strchr(path, ':');
    size_t dl = end ? (size_t)(end - path) : strlen(path);
    char buf[4096];
    if (dl + n + 2 <= sizeof buf) {
      if (dl == 0) memcpy(buf, ".", (dl = 1));
      else memcpy(buf, path, dl);
      buf[dl] = '/';
      memcpy(buf + dl + 1, name, n + 1);
      if (access(buf, X_OK) == 0 && stat(buf, &st) == 0 && S_ISREG(st.st_mode)) {
        lua_pushstring(L, buf);
        return 1;
      }
    }
    if (!end) return 0;
    path = end + 1;
  }
}

static int l_environ(lua_State *L) {
  lua_newtable(L);
  for (char **e = environ; *e; e++) {
    const char *eq = strchr(*e, '=');
    if (eq == NULL || eq == *e) continue;
    lua_pushlstring(L, *e, (size_t)(eq - *e));
    lua_pushstring(L, eq + 1);
    lua_rawset(L, -3);
  }
  return 1;
}

static const struct { const char *name; int num; } signals[] = {
  {"HUP", SIGHUP}, {"INT", SIGINT}, {"QUIT", SIGQUIT}, {"KILL", SIGKILL},
  {"USR1", SIGUSR1}, {"USR2", SIGUSR2}, {"PIPE", SIGPIPE}, {"ALRM", SIGALRM},
  {"TERM", SIGTERM}, {"CHLD", SIGCHLD}, {"CONT", SIGCONT}, {"STOP", SIGSTOP},
  {"TSTP", SIGTSTP}, {"WINCH", SIGWINCH}, {NULL, 0}};

static int l_signum(lua_State *L) {
  if (lua_type(L, 1) == LUA_TNUMBER) {
    lua_Integer n = luaL_checkinteger(L, 1);
    luaL_argcheck(L, n > 0 && n < 65, 1, "not a signal number");
    lua_pushinteger(L, n);
    return 1;
  }
  const char *s = luaL_checkstring(L, 1);
  if (strncmp(s, "SIG", 3) == 0) s += 3;
  for (int i = 0; signals[i].name; i++)
    if (strcmp(s, signals[i].name) == 0) {
      lua_pushinteger(L, signals[i].num);
      return 1;
    }
  return luaL_argerror(L, 1, lua_pushfstring(L, "unknown signal '%s'", lua_tostring(L, 1)));
}

/* true, or nil, errname, message = core.kill(pid, signum): kill(2) for any
 * process (a negative pid is a process group). 0 and -1 are refused: they
 * would signal slipway's own group or every process the user may signal. */
static int l_kill(lua_State *L) {
  lua_Integer pid = luaL_checkinteger(L, 1);
  lua_Integer sig = luaL_checkinteger(L, 2);
  luaL_argcheck(L, pid != 0 && pid != -1, 1,
                "0 and -1 are not processes (they name whole groups of them)");
  luaL_argcheck(L, pid > -(lua_Integer)INT_MAX && pid <= INT_MAX, 1, "not a process id");
  luaL_argcheck(L, sig >= 0 && sig < 65, 2, "not a signal number");
  if (kill((pid_t)pid, (int)sig) != 0) {
    int e = errno;
    lua_pushnil(L);
    lua_pushstring(L, uv_err_name(-e));
    lua_pushstring(L, strerror(e));
    return 3;
  }
  lua_pushboolean(L, 1);
  return 1;
}

static int l_pid(lua_State *L) {
  lua_pushinteger(L, (lua_Integer)getpid());
  return 1;
}

static int l_signame(lua_State *L) {
  lua_Integer n = luaL_checkinteger(L, 1);
  for (int i = 0; signals[i].name; i++)
    if (signals[i].num == n) {
      lua_pushfstring(L, "SIG%s", signals[i].name);
      return 1;
    }
  lua_pushfstring(L, "signal %d", (int)n);
  return 1;
}

static int proc_gc(lua_State *L) {
  proc **ud = luaL_checkudata(L, 1, PROC_MT);
  proc *p = *ud;
  if (p == NULL) return 0;
  *ud = NULL;
  p->has_ud = 0;
  if (!sw_loop_alive()) {
    if (p->nhandles == 0 && !p->live) maybe_free(p);
    return 0;  /* else: leaked rather than touching a closed loop */
  }
  drop_lines(p);  /* nobody will read them: do not let the child block */
  maybe_free(p);
  return 0;
}

int luaopen_slipway_proc_core(lua_State *L) {
  static const luaL_Reg fns[] = {
    {"spawn", l_spawn}, {"poll", l_poll}, {"wait", l_wait}, {"write", l_write},
    {"close_stdin", l_close_stdin}, {"signal", l_signal},
    {"terminate", l_terminate}, {"lines", l_lines}, {"info", l_info},
    {"check_wait", l_check_wait}, {"which", l_which}, {"environ", l_environ},
    {"signum", l_signum}, {"signame", l_signame}, {"kill", l_kill},
    {"pid", l_pid}, {NULL, NULL}};
  luaL_newlib(L, fns);
  if (luaL_newmetatable(L, PROC_MT)) {
    lua_pushcfunction(L, proc_gc);
    lua_setfield(L, -2, "__gc");
  }
  lua_setfield(L, -2, "proc_mt");  /* the Lua layer adds the methods */
  return 1;
}
