/*
 * proc_floor.c -- the floor for tests/bench/proc.sh: N runs of a command at
 * concurrency C with nothing but posix_spawn + waitpid (and, with capture,
 * a pipe read until EOF, multiplexed with poll). With "uv" instead of
 * "spawn" it uses libuv's uv_spawn (which forks) the same way, to show what
 * slipway would pay with it. HEAP_MB of touched memory makes the process big,
 * as a playbook's Lua heap does.
 *
 *   proc_floor spawn|uv N C capture|nocapture HEAP_MB CMD [ARGS...]
 *
 * Prints the seconds taken. Built by proc.sh with cc, not by CMake.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <poll.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>
#ifdef WITH_UV
#include <uv.h>
#endif

extern char **environ;

static int n, conc, capture, started, done;
static char **cmd;

static double now(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return ts.tv_sec + ts.tv_nsec / 1e9;
}

static void die(const char *what) {
  perror(what);
  exit(1);
}

/* ---- posix_spawn + waitpid ---------------------------------------------- */

typedef struct { pid_t pid; int fd; } slot;

static void start(slot *s) {
  posix_spawn_file_actions_t fa;
  int fds[2] = {-1, -1};
  posix_spawn_file_actions_init(&fa);
  if (capture) {
    if (pipe2(fds, O_CLOEXEC) != 0) die("pipe");
    posix_spawn_file_actions_adddup2(&fa, fds[1], 1);
  }
  int e = posix_spawnp(&s->pid, cmd[0], &fa, NULL, cmd, environ);
  if (e) { errno = e; die("posix_spawn"); }
  posix_spawn_file_actions_destroy(&fa);
  if (capture) close(fds[1]);
  s->fd = fds[0];
  started++;
}

static void finish(slot *s) {
  int st;
  if (waitpid(s->pid, &st, 0) != s->pid || !WIFEXITED(st) || WEXITSTATUS(st) != 0)
    die("child failed");
  s->pid = 0;
  done++;
}

static void run_spawn(void) {
  slot *slots = calloc(conc, sizeof *slots);
  struct pollfd *pfd = calloc(conc, sizeof *pfd);
  char buf[4096];
  if (!slots || !pfd) die("calloc");
  for (int i = 0; i < conc && started < n; i++) start(&slots[i]);
  while (done < n) {
    if (!capture) {  /* any child: wait, then start the next in its slot */
      int st;
      pid_t pid = waitpid(-1, &st, 0);
      if (pid < 0) die("waitpid");
      for (int i = 0; i < conc; i++)
        if (slots[i].pid == pid) {
          slots[i].pid = 0;
          done++;
          if (started < n) start(&slots[i]);
        }
      continue;
    }
    int m = 0;
    for (int i = 0; i < conc; i++) {
      pfd[i].fd = slots[i].pid ? slots[i].fd : -1;
      pfd[i].events = POLLIN;
      m += slots[i].pid != 0;
    }
    if (m == 0) break;
    if (poll(pfd, conc, -1) < 0) die("poll");
    for (int i = 0; i < conc; i++) {
      if (!slots[i].pid || !(pfd[i].revents & (POLLIN | POLLHUP))) continue;
      ssize_t r = read(slots[i].fd, buf, sizeof buf);
      if (r > 0) continue;
      close(slots[i].fd);
      finish(&slots[i]);
      if (started < n) start(&slots[i]);
    }
  }
  free(slots);
  free(pfd);
}

/* ---- libuv's uv_spawn (fork) --------------------------------------------- */

#ifdef WITH_UV
typedef struct { uv_process_t proc; uv_pipe_t out; int open; } uvslot;
static uv_loop_t *loop;
static void uv_start(uvslot *s);

static void on_close(uv_handle_t *h) {
  uvslot *s = h->data;
  if (--s->open == 0) {
    done++;
    if (started < n) uv_start(s);
  }
}
static void on_proc_exit(uv_process_t *p, int64_t st, int sig) {
  if (st || sig) { fprintf(stderr, "child failed\n"); exit(1); }
  uv_close((uv_handle_t *)p, on_close);
}
static void on_alloc(uv_handle_t *h, size_t sz, uv_buf_t *b) {
  static char buf[4096];
  (void)h; (void)sz;
  b->base = buf;
  b->len = sizeof buf;
}
static void on_read(uv_stream_t *s, ssize_t r, const uv_buf_t *b) {
  (void)b;
  if (r < 0) uv_close((uv_handle_t *)s, on_close);
}
static void uv_start(uvslot *s) {
  uv_process_options_t o;
  uv_stdio_container_t io[3];
  memset(&o, 0, sizeof o);
  memset(io, 0, sizeof io);
  io[0].flags = UV_IGNORE;
  io[2].flags = UV_IGNORE;
  s->open = 1;
  if (capture) {
    uv_pipe_init(loop, &s->out, 0);
    s->out.data = s;
    io[1].flags = UV_CREATE_PIPE | UV_WRITABLE_PIPE;
    io[1].data.stream = (uv_stream_t *)&s->out;
    s->open = 2;
  } else {
    io[1].flags = UV_IGNORE;
  }
  o.file = cmd[0];
  o.args = cmd;
  o.exit_cb = on_proc_exit;
  o.stdio = io;
  o.stdio_count = 3;
  o.flags = UV_PROCESS_DETACHED;
  s->proc.data = s;
  int e = uv_spawn(loop, &s->proc, &o);
  if (e) { fprintf(stderr, "uv_spawn: %s\n", uv_strerror(e)); exit(1); }
  if (capture) uv_read_start((uv_stream_t *)&s->out, on_alloc, on_read);
  started++;
}
static void run_uv(void) {
  uvslot *slots = calloc(conc, sizeof *slots);
  if (!slots) die("calloc");
  loop = uv_default_loop();
  for (int i = 0; i < conc && started < n; i++) uv_start(&slots[i]);
  uv_run(loop, UV_RUN_DEFAULT);
  free(slots);
}
#endif

int main(int argc, char **argv) {
  if (argc < 7) {
    fprintf(stderr, "usage: %s spawn|uv N C capture|nocapture HEAP_MB CMD [ARGS...]\n", argv[0]);
    return 2;
  }
  n = atoi(argv[2]);
  conc = atoi(argv[3]);
  capture = strcmp(argv[4], "capture") == 0;
  size_t heap = (size_t)atoi(argv[5]) << 20;
  cmd = argv + 6;
  char *mem = heap ? malloc(heap) : NULL;
  if (heap && !mem) die("malloc");
  if (mem) memset(mem, 1, heap);  /* resident, as a big Lua heap is */
  double t0 = now();
  if (strcmp(argv[1], "spawn") == 0) run_spawn();
#ifdef WITH_UV
  else if (strcmp(argv[1], "uv") == 0) run_uv();
#endif
  else { fprintf(stderr, "unknown mode %s\n", argv[1]); return 2; }
  printf("%.4f\n", now() - t0);
  free(mem);
  return done == n ? 0 : 1;
}
