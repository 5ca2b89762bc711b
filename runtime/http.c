/*
 * http.c -- slipway.http.core: libcurl's multi interface on the libuv loop.
 *
 * libcurl is NOT linked: it is loaded with dlopen("libcurl.so.4") the first
 * time a playbook makes a request, and every function used is resolved into
 * the table `C` below. Linking it would load OpenSSL, nghttp2, GSSAPI and
 * LDAP at every start of slipway, HTTP or not (docs/http.md, "Start-up").
 *
 * One multi handle drives every transfer, so connections are reused across
 * requests to the same host. It follows libcurl's socket/timer protocol:
 * cb_socket keeps one uv_poll per socket, cb_timer (re)arms one uv_timer;
 * curl_multi_socket_action is only ever called from libuv callbacks
 * (on_uv_poll, on_uv_timeout), never from inside a curl callback, and
 * after every call after_action() drains curl_multi_info_read, copies what
 * it needs and only then removes the handle. Tasks are woken from there too,
 * never from inside a curl callback.
 *
 * The Lua layer (scripts/slipway/http.lua) validates options, retries,
 * builds messages and the response object. This file only does one attempt:
 *
 *   res | nil, err = core.request(spec)   a buffered request or a download
 *   s   | nil, err = core.open(spec)      a stream, once its headers arrived
 *   chunk | nil | false, err = s:read()   data as it arrives; nil at the end
 *   s:close()                             stop the transfer
 *   info = core.version()                 libcurl's version and features
 *   core.loaded()                         whether libcurl is loaded yet
 *
 * spec: {method, url, headers = {"Name: value", ...}, body, timeout,
 *        connect_timeout, idle_timeout (seconds), follow, max_redirects,
 *        max_body, insecure, ca, user_agent, compressed, noproxy,
 *        path (download)}
 * res:  {status, reason, headers = {name = value}, body, url,
 *        timings = {dns, connect, tls, first_byte, total}, bytes}
 * err:  {code, reason, status?, timings, bytes, curl = CURLcode}
 */
#include "slipway.h"

#include <ctype.h>
#include <curl/curl.h>
#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#ifdef __GLIBC__
#endif
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#define STREAM_MT "slipway.http.stream"

/* A stream stops reading from the socket (CURL_WRITEFUNC_PAUSE) while this
 * much is buffered and unread, so a slow reader cannot exhaust memory. */
#define STREAM_PAUSE_AT (64 * 1024)
/* A stream's buffer: what it holds before pausing plus one delivery of
 * libcurl (CURLOPT_BUFFERSIZE), so that it never grows. */
#define STREAM_CURL_BUF (64 * 1024)
#define STREAM_BUF (STREAM_PAUSE_AT + STREAM_CURL_BUF + 1)

/* ---- libcurl, loaded on first use --------------------------------------- */

static struct {
  void *dl;
  CURLcode (*global_init)(long);
  void (*global_cleanup)(void);
  curl_version_info_data *(*version_info)(CURLversion);
  CURL *(*easy_init)(void);
  CURLcode (*easy_setopt)(CURL *, CURLoption, ...);
  CURLcode (*easy_getinfo)(CURL *, CURLINFO, ...);
  void (*easy_cleanup)(CURL *);
  void (*easy_reset)(CURL *);
  const char *(*easy_strerror)(CURLcode);
  CURLcode (*easy_pause)(CURL *, int);
  CURLM *(*multi_init)(void);
  CURLMcode (*multi_setopt)(CURLM *, CURLMoption, ...);
  CURLMcode (*multi_add_handle)(CURLM *, CURL *);
  CURLMcode (*multi_remove_handle)(CURLM *, CURL *);
  CURLMcode (*multi_socket_action)(CURLM *, curl_socket_t, int, int *);
  CURLMsg *(*multi_info_read)(CURLM *, int *);
  CURLMcode (*multi_assign)(CURLM *, curl_socket_t, void *);
  CURLMcode (*multi_cleanup)(CURLM *);
  const char *(*multi_strerror)(CURLMcode);
  struct curl_slist *(*slist_append)(struct curl_slist *, const char *);
  void (*slist_free_all)(struct curl_slist *);
} C;

typedef struct xfer xfer;
typedef struct stream_ud { xfer *x; } stream_ud;

typedef struct sock_ctx {
  uv_poll_t poll;
  curl_socket_t fd;
  int events;   /* what curl asked for */
  int closing;  /* CURL_POLL_REMOVE came: freed in the close callback */
  struct sock_ctx *next, *prev;
} sock_ctx;

enum { K_BUFFER, K_STREAM, K_DOWNLOAD };

struct xfer {
  sw_wait wait;
  CURL *easy;
  struct curl_slist *req_headers;
  int kind;
  int in_multi;      /* added to the multi handle, not yet removed */
  int done;          /* finished (result valid) */
  int headers_done;  /* stream: the final response's headers are complete */
  int paused;        /* stream: the write callback returned PAUSE */
  int reading;       /* stream: a task waits in read() */
  int opening;       /* stream: a task waits in open() */
  int woken;         /* on the wake list */
  int saw_location;  /* the current response has a Location header */
  int read_wanted;   /* libcurl asked to poll one of its sockets for reading */
  int follow;
  int https;
  int too_large;
  int idle_expired;  /* aborted by the idle check */
  int counted_idle;  /* counted in n_idle */
  int write_errno;   /* download: write() failed */
  CURLcode result;
  long status;
  curl_off_t max_body;
  char *body;        /* body (buffer) or unread data (stream) */
  size_t body_len, body_cap, body_off;
  curl_off_t received;  /* body bytes received in total */
  char *hdr;         /* header lines of the current response */
  size_t hdr_len, hdr_cap;
  int fd;            /* download: the temporary file */
  char *path, *tmp;  /* download: destination and temporary path */
  double timeout_s, connect_timeout_s, idle_s;
  double last_data;  /* sw_now() when bytes last arrived (idle check) */
  /* copied when the transfer ends */
  double t_dns, t_connect, t_tls, t_first, t_total;
  curl_off_t content_length;
  long os_errno;
  long num_connects;
  char *url;         /* effective URL */
  stream_ud *ud;     /* stream: its userdata, NULL once closed */
  xfer *next, *prev;    /* every live transfer */
  xfer *wake_next;
  char errbuf[CURL_ERROR_SIZE];
};

static int curl_state;  /* 0 not loaded, 1 loaded, -1 failed */
static char load_error[512];
static CURLM *multi;
static uv_timer_t timer;
static uv_timer_t idle_timer;  /* checks transfers with an idle timeout */
static int n_idle;             /* how many live transfers have one */
static xfer *xfers;
static sock_ctx *socks;
static xfer *wake_head;
static char user_agent[96];

/* ---- pools: easy handles and large body buffers, reused ----------------- */

/* Making an easy handle allocates its state and a receive buffer; a body of
 * a megabyte costs page faults when its memory is fresh. Both are kept for
 * the next request (bounded), which is what makes many small requests and
 * a few large ones cheap. */
#define EASY_POOL 64
#define BUF_POOL 8
#define BUF_POOL_MIN (64 * 1024)
#define BUF_POOL_BYTES (32 * 1024 * 1024)

static CURL *easy_pool[EASY_POOL];
static int n_easy_pool;
static struct { char *p; size_t cap; } buf_pool[BUF_POOL];
static int n_buf_pool;
static size_t buf_pool_bytes;

static CURL *easy_get(void) {
  return n_easy_pool ? easy_pool[--n_easy_pool] : C.easy_init();
}

static void easy_put(CURL *e) {
  if (n_easy_pool < EASY_POOL && multi) {
    C.easy_reset(e);
    easy_pool[n_easy_pool++] = e;
  } else {
    C.easy_cleanup(e);
  }
}

/* A pooled buffer of at least n bytes, or NULL. */
static char *buf_get(size_t n, size_t *cap) {
  for (int i = 0; i < n_buf_pool; i++) {
    if (buf_pool[i].cap >= n) {
      char *p = buf_pool[i].p;
      *cap = buf_pool[i].cap;
      buf_pool_bytes -= *cap;
      buf_pool[i] = buf_pool[--n_buf_pool];
      return p;
    }
  }
  return NULL;
}

static void buf_put(char *p, size_t cap) {
  if (p && cap >= BUF_POOL_MIN && n_buf_pool < BUF_POOL && multi &&
      buf_pool_bytes + cap <= BUF_POOL_BYTES) {
    buf_pool[n_buf_pool].p = p;
    buf_pool[n_buf_pool++].cap = cap;
    buf_pool_bytes += cap;
  } else {
    free(p);
  }
}

static void pools_free(void) {
  while (n_easy_pool) C.easy_cleanup(easy_pool[--n_easy_pool]);
  while (n_buf_pool) free(buf_pool[--n_buf_pool].p);
  buf_pool_bytes = 0;
}

/* ---- growable buffers --------------------------------------------------- */

static int buf_add(char **b, size_t *len, size_t *cap, const char *s, size_t n) {
  if (*len + n + 1 > *cap) {
    size_t c = *cap ? *cap : 1024;
    while (c < *len + n + 1) c *= 2;
    char *p = realloc(*b, c);
    if (p == NULL) return -1;
    *b = p;
    *cap = c;
  }
  memcpy(*b + *len, s, n);
  *len += n;
  (*b)[*len] = '\0';
  return 0;
}

/* ---- the transfer list and waking tasks --------------------------------- */

static void wake(xfer *x) {
  if (x->woken) return;
  x->woken = 1;
  x->wake_next = wake_head;
  wake_head = x;
}

static void unwake(xfer *x) {
  if (!x->woken) return;
  for (xfer **pp = &wake_head; *pp; pp = &(*pp)->wake_next)
    if (*pp == x) { *pp = x->wake_next; break; }
  x->woken = 0;
}

static void xfer_free(xfer *x) {
  unwake(x);
  if (x->counted_idle) n_idle--;
  if (x->in_multi) {
    C.multi_remove_handle(multi, x->easy);
    x->in_multi = 0;
  }
  if (x->easy) easy_put(x->easy);
  if (x->req_headers) C.slist_free_all(x->req_headers);
  if (x->fd >= 0) close(x->fd);
  if (x->tmp) unlink(x->tmp);
  if (x->ud) x->ud->x = NULL;
  if (x->prev) x->prev->next = x->next; else if (xfers == x) xfers = x->next;
  if (x->next) x->next->prev = x->prev;
  buf_put(x->body, x->body_cap);
  free(x->hdr);
  free(x->path);
  free(x->tmp);
  free(x->url);
  free(x);
}

/* ---- completion --------------------------------------------------------- */

static double info_time(CURL *e, CURLINFO what) {
  curl_off_t us = 0;
  if (C.easy_getinfo(e, what, &us) != CURLE_OK) return 0;
  return (double)us / 1e6;
}

/* The transfer ended: copy what push needs, then take it out of the multi. */
static void finish(xfer *x, CURLcode result) {
  char *u = NULL;
  x->done = 1;
  x->result = result;
  C.easy_getinfo(x->easy, CURLINFO_RESPONSE_CODE, &x->status);
  C.easy_getinfo(x->easy, CURLINFO_OS_ERRNO, &x->os_errno);
  C.easy_getinfo(x->easy, CURLINFO_NUM_CONNECTS, &x->num_connects);
  C.easy_getinfo(x->easy, CURLINFO_CONTENT_LENGTH_DOWNLOAD_T, &x->content_length);
  x->t_dns = info_time(x->easy, CURLINFO_NAMELOOKUP_TIME_T);
  x->t_connect = info_time(x->easy, CURLINFO_CONNECT_TIME_T);
  x->t_tls = info_time(x->easy, CURLINFO_APPCONNECT_TIME_T);
  x->t_first = info_time(x->easy, CURLINFO_STARTTRANSFER_TIME_T);
  x->t_total = info_time(x->easy, CURLINFO_TOTAL_TIME_T);
  if (C.easy_getinfo(x->easy, CURLINFO_EFFECTIVE_URL, &u) == CURLE_OK && u) {
    free(x->url);
    x->url = strdup(u);
  }
  if (x->in_multi) {
    C.multi_remove_handle(multi, x->easy);
    x->in_multi = 0;
  }
  wake(x);
}

static void flush_wakes(void);

/* After every curl_multi_socket_action: collect finished transfers, then
 * wake the tasks waiting on them (outside any curl callback). */
static void after_action(void) {
  CURLMsg *m;
  int left;
  while ((m = C.multi_info_read(multi, &left)) != NULL) {
    if (m->msg != CURLMSG_DONE) continue;
    char *p = NULL;
    CURL *e = m->easy_handle;
    CURLcode result = m->data.result;  /* m is invalid after remove_handle */
    C.easy_getinfo(e, CURLINFO_PRIVATE, &p);
    if (p) finish((xfer *)p, result);
  }
  flush_wakes();
}

static void flush_wakes(void) {
  while (wake_head) {
    xfer *x = wake_head;
    wake_head = x->wake_next;
    x->woken = 0;
    if (x->wait.task) sw_wait_done(&x->wait);
  }
}

/* ---- idle timeouts ------------------------------------------------------- */

/* A stream or download that receives nothing for idle_s seconds is aborted
 * (libcurl's LOW_SPEED_* options average over several seconds, too coarse).
 * Runs in a libuv timer, so removing the handle here is allowed. */
static void on_uv_idle_check(uv_timer_t *h) {
  double now = sw_now();
  for (xfer *x = xfers; x; x = x->next) {
    if (x->idle_s <= 0 || !x->in_multi || x->paused) continue;
    if (now - x->last_data >= x->idle_s) {
      x->idle_expired = 1;
      finish(x, CURLE_OPERATION_TIMEDOUT);
    }
  }
  flush_wakes();
  if (n_idle == 0) uv_timer_stop(h);
}

/* ---- libcurl's socket and timer callbacks, libuv's events --------------- */

static void on_uv_sock_close(uv_handle_t *h) { free(h->data); }

static void sock_close(sock_ctx *sc) {
  if (sc->prev) sc->prev->next = sc->next; else socks = sc->next;
  if (sc->next) sc->next->prev = sc->prev;
  sc->closing = 1;
  uv_close((uv_handle_t *)&sc->poll, on_uv_sock_close);
}

static void on_uv_poll(uv_poll_t *h, int status, int events) {
  sock_ctx *sc = h->data;
  int flags = 0, running = 0;
  if (status < 0) {
    /* libuv saw POLLERR and stopped the handle. Tell curl (ERR), and let it
     * read or write so that it finds the socket's own error ("connection
     * reset by peer") instead of a bare "select/poll returned error". */
    flags = CURL_CSELECT_ERR | CURL_CSELECT_IN | CURL_CSELECT_OUT;
  } else {
    if (events & UV_READABLE) flags |= CURL_CSELECT_IN;
    if (events & UV_WRITABLE) flags |= CURL_CSELECT_OUT;
  }
  C.multi_socket_action(multi, sc->fd, flags, &running);
  if (status < 0 && !sc->closing)  /* curl kept the socket: watch it again */
    uv_poll_start(&sc->poll, sc->events, on_uv_poll);
  after_action();
}

static void on_uv_timeout(uv_timer_t *h) {
  int running = 0;
  (void)h;
  C.multi_socket_action(multi, CURL_SOCKET_TIMEOUT, 0, &running);
  after_action();
}

static int cb_socket(CURL *e, curl_socket_t s, int what, void *userp, void *socketp) {
  sock_ctx *sc = socketp;
  int ev = 0;
  (void)userp;
  if ((what & CURL_POLL_IN) && e) {
    char *p = NULL;
    C.easy_getinfo(e, CURLINFO_PRIVATE, &p);
    if (p) ((xfer *)p)->read_wanted = 1;
  }
  if (what == CURL_POLL_REMOVE) {
    if (sc) {
      C.multi_assign(multi, s, NULL);
      sock_close(sc);  /* the fd may be reused at once: a new sock_ctx then */
    }
    return 0;
  }
  if (sc == NULL) {
    sc = calloc(1, sizeof *sc);
    if (sc == NULL) return -1;
    if (uv_poll_init_socket(sw_loop(), &sc->poll, s) != 0) {
      free(sc);
      return -1;
    }
    sc->fd = s;
    sc->poll.data = sc;
    sc->next = socks;
    if (socks) socks->prev = sc;
    socks = sc;
    C.multi_assign(multi, s, sc);
  }
  if (what & CURL_POLL_IN) ev |= UV_READABLE;
  if (what & CURL_POLL_OUT) ev |= UV_WRITABLE;
  sc->events = ev;
  uv_poll_start(&sc->poll, ev, on_uv_poll);
  return 0;
}

/* -1 stops the timer; 0 means "call socket_action soon" -- but not from
 * inside this callback, so a 0 ms libuv timer defers it to the loop. */
static int cb_timer(CURLM *m, long timeout_ms, void *userp) {
  (void)m;
  (void)userp;
  if (timeout_ms < 0) uv_timer_stop(&timer);
  else sw_timer_start(&timer, on_uv_timeout, (uint64_t)timeout_ms, 0);
  return 0;
}

/* ---- curl's data callbacks (no Lua, no multi calls in here) ------------- */

static size_t cb_header(char *data, size_t size, size_t n, void *p) {
  xfer *x = p;
  size_t len = size * n;
  x->last_data = sw_now();
  if (len >= 5 && memcmp(data, "HTTP/", 5) == 0) {  /* a new response */
    x->hdr_len = 0;
    x->saw_location = 0;
  }
  if (len >= 9 && strncasecmp(data, "location:", 9) == 0) x->saw_location = 1;
  if (buf_add(&x->hdr, &x->hdr_len, &x->hdr_cap, data, len) != 0) return 0;
  if (x->kind == K_STREAM && (len == 2 || len == 1) && (data[0] == '\r' || data[0] == '\n')) {
    long code = 0;
    C.easy_getinfo(x->easy, CURLINFO_RESPONSE_CODE, &code);
    if (code >= 200 && !(x->follow && code >= 300 && code < 400 && x->saw_location)) {
      x->headers_done = 1;
      wake(x);
    }
  }
  return len;
}

static size_t cb_write(char *data, size_t size, size_t n, void *p) {
  xfer *x = p;
  size_t len = size * n;
  x->last_data = sw_now();
  if (x->max_body >= 0 && x->received + (curl_off_t)len > x->max_body) {
    x->too_large = 1;
    return 0;
  }
  switch (x->kind) {
  case K_DOWNLOAD:
    if (sw_write_all(x->fd, data, len) != 0) {
      x->write_errno = errno;
      return 0;
    }
    break;
  case K_STREAM:
    if (x->body_len - x->body_off >= STREAM_PAUSE_AT) {
      x->paused = 1;
      return CURL_WRITEFUNC_PAUSE;  /* delivered again once unpaused */
    }
    if (x->body_off > 0 && x->body_off == x->body_len) x->body_len = x->body_off = 0;
    if (x->body == NULL) {  /* one buffer of its final size, from the pool if it can */
      x->body = buf_get(STREAM_BUF, &x->body_cap);
      if (x->body == NULL && (x->body = malloc(STREAM_BUF)) != NULL) x->body_cap = STREAM_BUF;
    }
    if (buf_add(&x->body, &x->body_len, &x->body_cap, data, len) != 0) return 0;
    x->headers_done = 1;
    wake(x);
    break;
  default:
    if (x->body_cap == 0) {  /* reserve the announced length, within bounds */
      curl_off_t cl = -1;
      C.easy_getinfo(x->easy, CURLINFO_CONTENT_LENGTH_DOWNLOAD_T, &cl);
      if (cl > 0 && cl < (curl_off_t)64 << 20 && (x->max_body < 0 || cl <= x->max_body)) {
        x->body = buf_get((size_t)cl + 1, &x->body_cap);
        if (x->body == NULL) {
          x->body = malloc((size_t)cl + 1);
          if (x->body) x->body_cap = (size_t)cl + 1;
        }
      }
    }
    if (buf_add(&x->body, &x->body_len, &x->body_cap, data, len) != 0) return 0;
  }
  x->received += (curl_off_t)len;
  return len;
}

/* ---- loading libcurl ---------------------------------------------------- */

static void http_shutdown(void *arg);

static int load_curl(void) {
  static const sw_dl_sym syms[] = {
      {&C.global_init, "curl_global_init"},
      {&C.global_cleanup, "curl_global_cleanup"},
      {&C.version_info, "curl_version_info"},
      {&C.easy_init, "curl_easy_init"},
      {&C.easy_setopt, "curl_easy_setopt"},
      {&C.easy_getinfo, "curl_easy_getinfo"},
      {&C.easy_cleanup, "curl_easy_cleanup"},
      {&C.easy_reset, "curl_easy_reset"},
      {&C.easy_strerror, "curl_easy_strerror"},
      {&C.easy_pause, "curl_easy_pause"},
      {&C.multi_init, "curl_multi_init"},
      {&C.multi_setopt, "curl_multi_setopt"},
      {&C.multi_add_handle, "curl_multi_add_handle"},
      {&C.multi_remove_handle, "curl_multi_remove_handle"},
      {&C.multi_socket_action, "curl_multi_socket_action"},
      {&C.multi_info_read, "curl_multi_info_read"},
      {&C.multi_assign, "curl_multi_assign"},
      {&C.multi_cleanup, "curl_multi_cleanup"},
      {&C.multi_strerror, "curl_multi_strerror"},
      {&C.slist_append, "curl_slist_append"},
      {&C.slist_free_all, "curl_slist_free_all"},
      {NULL, NULL}};
  curl_version_info_data *v;
  C.dl = sw_dl_load("SLIPWAY_LIBCURL", "libcurl.so.4", "libcurl", "libcurl4", syms,
                    load_error, sizeof load_error);
  if (C.dl == NULL) return -1;
  v = C.version_info(CURLVERSION_NOW);
  if (v == NULL || v->version_num < 0x075500) {
    snprintf(load_error, sizeof load_error, "libcurl %s is too old (7.85 or newer needed)",
             v ? v->version : "?");
    goto fail;
  }
  if (C.global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK) {
    snprintf(load_error, sizeof load_error, "curl_global_init failed");
    goto fail;
  }
  multi = C.multi_init();
  if (multi == NULL) {
    C.global_cleanup();
    snprintf(load_error, sizeof load_error, "curl_multi_init failed");
    goto fail;
  }
  C.multi_setopt(multi, CURLMOPT_SOCKETFUNCTION, cb_socket);
  C.multi_setopt(multi, CURLMOPT_TIMERFUNCTION, cb_timer);
  uv_timer_init(sw_loop(), &timer);
  uv_timer_init(sw_loop(), &idle_timer);
  uv_unref((uv_handle_t *)&idle_timer);  /* the transfers keep the loop alive */
  snprintf(user_agent, sizeof user_agent, "slipway/%s libcurl/%s", SLIPWAY_VERSION,
           v->version);
  sw_at_shutdown(http_shutdown, NULL);
  return 0;
fail:
  dlclose(C.dl);
  C.dl = NULL;
  return -1;
}

static void need_curl(lua_State *L) {
  if (curl_state == 0) curl_state = load_curl() == 0 ? 1 : -1;
  if (curl_state < 0) sw_raise(L, "unavailable", "http: %s", load_error);
}

/* Close everything: sw_at_shutdown runs this once every task has ended. */
static void http_shutdown(void *arg) {
  (void)arg;
  while (xfers) xfer_free(xfers);
  pools_free();
  while (socks) {
    C.multi_assign(multi, socks->fd, NULL);
    sock_close(socks);
  }
  uv_timer_stop(&timer);
  uv_close((uv_handle_t *)&timer, NULL);
  uv_close((uv_handle_t *)&idle_timer, NULL);
  C.multi_cleanup(multi);
  multi = NULL;
  C.global_cleanup();
  curl_state = -1;
  snprintf(load_error, sizeof load_error, "slipway is shutting down");
}

/* ---- building a transfer from a spec ------------------------------------ */

static const char *opt_str(lua_State *L, int t, const char *k) {
  const char *s;
  lua_getfield(L, t, k);
  s = lua_tostring(L, -1);
  lua_pop(L, 1);  /* the spec table keeps the string alive */
  return s;
}

static double opt_num(lua_State *L, int t, const char *k, double def) {
  double v;
  lua_getfield(L, t, k);
  v = lua_isnumber(L, -1) ? lua_tonumber(L, -1) : def;
  lua_pop(L, 1);
  return v;
}

static int opt_bool(lua_State *L, int t, const char *k) {
  int v;
  lua_getfield(L, t, k);
  v = lua_toboolean(L, -1);
  lua_pop(L, 1);
  return v;
}

static long ms(double s) { return s > 0 ? (long)(s * 1000.0 + 0.5) : 0; }

/* A new transfer from the spec at index 1 (already validated by http.lua). */
static xfer *xfer_new(lua_State *L, int kind) {
  const char *method = opt_str(L, 1, "method");
  const char *url = opt_str(L, 1, "url");
  const char *ca = opt_str(L, 1, "ca");
  const char *ua = opt_str(L, 1, "user_agent");
  const char *noproxy = opt_str(L, 1, "noproxy");
  size_t bodylen = 0;
  const char *body;
  xfer *x;
  CURL *e;

  luaL_argcheck(L, method && url, 1, "method and url are required");
  /* http.lua checks these; a method is what curl writes into the request
   * line as given, so never anything but a token (RFC 9110) */
  for (const char *m = method; *m; m++)
    luaL_argcheck(L, isalnum((unsigned char)*m) || strchr("!#$%&'*+-.^_`|~", *m), 1,
                  "method must be a token");
  luaL_argcheck(L, *method, 1, "method must be a token");
  need_curl(L);
  x = calloc(1, sizeof *x);
  if (x == NULL) luaL_error(L, "not enough memory");
  x->fd = -1;
  x->kind = kind;
  x->max_body = (curl_off_t)opt_num(L, 1, "max_body", -1);
  x->timeout_s = opt_num(L, 1, "timeout", 0);
  x->connect_timeout_s = opt_num(L, 1, "connect_timeout", 0);
  x->idle_s = opt_num(L, 1, "idle_timeout", 0);
  x->follow = opt_bool(L, 1, "follow");
  x->https = strncasecmp(url, "https:", 6) == 0;
  x->url = strdup(url);
  x->easy = e = easy_get();
  if (x->url == NULL || e == NULL) {
    xfer_free(x);
    luaL_error(L, "not enough memory");
  }
  x->next = xfers;
  if (xfers) xfers->prev = x;
  xfers = x;

  C.easy_setopt(e, CURLOPT_PRIVATE, (char *)x);
  C.easy_setopt(e, CURLOPT_URL, url);
  C.easy_setopt(e, CURLOPT_NOSIGNAL, 1L);
  C.easy_setopt(e, CURLOPT_ERRORBUFFER, x->errbuf);
  C.easy_setopt(e, CURLOPT_PROTOCOLS_STR, "http,https");
  C.easy_setopt(e, CURLOPT_REDIR_PROTOCOLS_STR, "http,https");
  C.easy_setopt(e, CURLOPT_WRITEFUNCTION, cb_write);
  C.easy_setopt(e, CURLOPT_WRITEDATA, x);
  C.easy_setopt(e, CURLOPT_HEADERFUNCTION, cb_header);
  C.easy_setopt(e, CURLOPT_HEADERDATA, x);
  C.easy_setopt(e, CURLOPT_USERAGENT, ua ? ua : user_agent);
  C.easy_setopt(e, CURLOPT_TCP_KEEPALIVE, 1L);
  /* as the curl tool: fewer reads; a stream hands on smaller pieces */
  C.easy_setopt(e, CURLOPT_BUFFERSIZE, kind == K_STREAM ? (long)STREAM_CURL_BUF : 128L * 1024);
  C.easy_setopt(e, CURLOPT_TIMEOUT_MS, ms(x->timeout_s));
  C.easy_setopt(e, CURLOPT_CONNECTTIMEOUT_MS, ms(x->connect_timeout_s));
  if (x->follow) {
    C.easy_setopt(e, CURLOPT_FOLLOWLOCATION, 1L);
    C.easy_setopt(e, CURLOPT_MAXREDIRS, (long)opt_num(L, 1, "max_redirects", 10));
    /* Authorization and Cookie headers given by us are not sent to another
     * host (libcurl >= 7.83.1 also compares the port): the default, kept. */
    C.easy_setopt(e, CURLOPT_UNRESTRICTED_AUTH, 0L);
  }
  if (opt_bool(L, 1, "insecure")) {
    C.easy_setopt(e, CURLOPT_SSL_VERIFYPEER, 0L);
    C.easy_setopt(e, CURLOPT_SSL_VERIFYHOST, 0L);
  }
  if (ca) C.easy_setopt(e, CURLOPT_CAINFO, ca);
  if (noproxy) C.easy_setopt(e, CURLOPT_NOPROXY, noproxy);
  if (opt_bool(L, 1, "compressed")) C.easy_setopt(e, CURLOPT_ACCEPT_ENCODING, "");

  lua_getfield(L, 1, "headers");
  if (lua_istable(L, -1)) {
    for (lua_Integer i = 1;; i++) {
      if (lua_rawgeti(L, -1, i) != LUA_TSTRING) { lua_pop(L, 1); break; }
      struct curl_slist *l = C.slist_append(x->req_headers, lua_tostring(L, -1));
      lua_pop(L, 1);
      if (l == NULL) {
        xfer_free(x);
        luaL_error(L, "not enough memory");
      }
      x->req_headers = l;
    }
  }
  lua_pop(L, 1);
  if (x->req_headers) C.easy_setopt(e, CURLOPT_HTTPHEADER, x->req_headers);

  lua_getfield(L, 1, "body");
  body = lua_tolstring(L, -1, &bodylen);
  if (strcmp(method, "HEAD") == 0) {
    C.easy_setopt(e, CURLOPT_NOBODY, 1L);
  } else if (strcmp(method, "GET") == 0 && body == NULL) {
    C.easy_setopt(e, CURLOPT_HTTPGET, 1L);
  } else {
    if (strcmp(method, "POST") != 0) C.easy_setopt(e, CURLOPT_CUSTOMREQUEST, method);
    if (body || strcmp(method, "POST") == 0) {
      C.easy_setopt(e, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)bodylen);
      if (C.easy_setopt(e, CURLOPT_COPYPOSTFIELDS, body ? body : "") != CURLE_OK) {
        lua_pop(L, 1);
        xfer_free(x);
        luaL_error(L, "not enough memory");
      }
    }
  }
  lua_pop(L, 1);
  return x;
}

static int start(lua_State *L, xfer *x) {
  CURLMcode mc = C.multi_add_handle(multi, x->easy);
  if (mc != CURLM_OK) {
    xfer_free(x);
    return luaL_error(L, "http: cannot start the transfer: %s", C.multi_strerror(mc));
  }
  x->in_multi = 1;
  x->last_data = sw_now();
  if (x->idle_s > 0) {
    x->counted_idle = 1;
    if (n_idle++ == 0) sw_timer_start(&idle_timer, on_uv_idle_check, 250, 250);
  }
  return 0;
}

/* ---- results ------------------------------------------------------------ */

static void push_timings(lua_State *L, xfer *x) {
  lua_createtable(L, 0, 5);
  lua_pushnumber(L, x->t_dns);
  lua_setfield(L, -2, "dns");
  lua_pushnumber(L, x->t_connect);
  lua_setfield(L, -2, "connect");
  lua_pushnumber(L, x->t_tls);
  lua_setfield(L, -2, "tls");
  lua_pushnumber(L, x->t_first);
  lua_setfield(L, -2, "first_byte");
  lua_pushnumber(L, x->t_total);
  lua_setfield(L, -2, "total");
}

/* The status line's reason and the headers as {lower-case name = value}:
 * repeated headers are joined with ", " (set-cookie with "\n"). */
static void push_headers(lua_State *L, xfer *x) {
  const char *p = x->hdr ? x->hdr : "", *end = p + x->hdr_len;
  char name[128];
  lua_createtable(L, 0, 8);  /* headers */
  lua_pushliteral(L, "");    /* reason */
  while (p < end) {
    const char *eol = memchr(p, '\n', (size_t)(end - p));
    const char *line = p, *lend = eol ? eol : end;
    p = eol ? eol + 1 : end;
    while (lend > line && (lend[-1] == '\r' || lend[-1] == '\n')) lend--;
    if (lend == line) continue;
    if (lend - line >= 5 && memcmp(line, "HTTP/", 5) == 0) {
      const char *sp = memchr(line, ' ', (size_t)(lend - line));
      if (sp) sp = memchr(sp + 1, ' ', (size_t)(lend - sp - 1));
      lua_pop(L, 1);
      if (sp) lua_pushlstring(L, sp + 1, (size_t)(lend - sp - 1));
      else lua_pushliteral(L, "");
      continue;
    }
    const char *colon = memchr(line, ':', (size_t)(lend - line));
    size_t nlen = colon ? (size_t)(colon - line) : 0;
    if (nlen == 0 || nlen >= sizeof name) continue;
    for (size_t i = 0; i < nlen; i++)
      name[i] = (line[i] >= 'A' && line[i] <= 'Z') ? (char)(line[i] + 32) : line[i];
    const char *v = colon + 1;
    while (v < lend && (*v == ' ' || *v == '\t')) v++;
    lua_pushlstring(L, name, nlen);
    lua_pushvalue(L, -1);
    if (lua_rawget(L, -4) == LUA_TSTRING) {  /* seen before: join */
      lua_pushstring(L, nlen == 10 && memcmp(name, "set-cookie", 10) == 0 ? "\n" : ", ");
      lua_pushlstring(L, v, (size_t)(lend - v));
      lua_concat(L, 3);
    } else {
      lua_pop(L, 1);
      lua_pushlstring(L, v, (size_t)(lend - v));
    }
    lua_rawset(L, -4);
  }
}

/* The response (without body) into a new table on the stack. */
static void push_response(lua_State *L, xfer *x) {
  lua_createtable(L, 0, 8);
  lua_pushinteger(L, x->status);
  lua_setfield(L, -2, "status");
  push_headers(L, x);
  lua_setfield(L, -3, "reason");
  lua_setfield(L, -2, "headers");
  lua_pushstring(L, x->url ? x->url : "");
  lua_setfield(L, -2, "url");
  lua_pushinteger(L, (lua_Integer)x->received);
  lua_setfield(L, -2, "bytes");
}

/* A duration for people: "850 ms", "1.2 s", "30 s". */
static void fmt_secs(char *buf, size_t n, double s) {
  if (s < 0.001) snprintf(buf, n, "<1 ms");
  else if (s < 1) snprintf(buf, n, "%d ms", (int)(s * 1000 + 0.5));
  else snprintf(buf, n, "%.3g s", s);
}

/* Lower-case the first letter of curl's messages ("Connection refused"). */
static void push_lc(lua_State *L, const char *s) {
  char b[CURL_ERROR_SIZE + 64];
  snprintf(b, sizeof b, "%s", s);
  if (b[0] >= 'A' && b[0] <= 'Z' && !(b[1] >= 'A' && b[1] <= 'Z')) b[0] += 'a' - 'A';
  lua_pushstring(L, b);
}

/* What failed, in an operator's words: pushes the code and the reason. */
static void push_reason(lua_State *L, xfer *x) {
  char a[32], b[32], c[32], idle[32], conn[48];
  const char *eb = x->errbuf[0] ? x->errbuf : C.easy_strerror(x->result);
  const char *code = "transfer";
  fmt_secs(a, sizeof a, x->t_total);
  fmt_secs(b, sizeof b, x->t_connect);
  fmt_secs(c, sizeof c, x->t_first);
  fmt_secs(idle, sizeof idle, x->idle_s);
  if (x->num_connects > 0) snprintf(conn, sizeof conn, "connect %s", b);
  else snprintf(conn, sizeof conn, "reused connection");
  if (x->too_large) {
    lua_pushliteral(L, "too_large");
    lua_pushfstring(L, "response body larger than max_body (%I bytes)",
                    (lua_Integer)x->max_body);
    return;
  }
  if (x->write_errno) {
    lua_pushstring(L, uv_err_name(-x->write_errno));
    lua_pushfstring(L, "cannot write %s: %s", x->tmp ? x->tmp : "?",
                    strerror(x->write_errno));
    return;
  }
  switch (x->result) {
  case CURLE_OPERATION_TIMEDOUT:
    code = "timeout";
    /* libcurl 7.88 sets CONNECT_TIME only once TLS is done too; that it
     * waited to read on the socket tells the TLS handshake from TCP */
    if (x->https && x->t_tls == 0 && x->t_dns > 0 && x->read_wanted &&
        x->num_connects > 0 && x->t_first == 0)
      lua_pushfstring(L, "timed out after %s in the TLS handshake (connect %s)", a, b);
    else if (strstr(eb, "Connection time") || strstr(eb, "Failed to connect") ||
             strstr(eb, "Resolving timed out") || (x->t_connect == 0 && x->num_connects > 0))
      lua_pushfstring(L, "timed out after %s while connecting (no connection)", a);
    else if (x->idle_expired)
      lua_pushfstring(L, "no data for %s (%s%s, %I bytes of the body received)",
                      idle, conn, x->t_first > 0 ? "" : ", no response",
                      (lua_Integer)x->received);
    else if (x->t_first == 0)
      lua_pushfstring(L, "timed out after %s (%s, no response)", a, conn);
    else
      lua_pushfstring(L, "timed out after %s (%s, first byte %s, %I bytes of the body "
                      "received)", a, conn, c, (lua_Integer)x->received);
    break;
  case CURLE_COULDNT_RESOLVE_HOST:
  case CURLE_COULDNT_RESOLVE_PROXY:
    code = "dns";
    push_lc(L, eb);
    break;
  case CURLE_COULDNT_CONNECT:
    code = "connect";
    if (x->os_errno)
      lua_pushfstring(L, "cannot connect (%s)", strerror((int)x->os_errno));
    else
      push_lc(L, eb);
    break;
  case CURLE_PEER_FAILED_VERIFICATION: {
    const char *why = eb, *k = strstr(eb, "SSL certificate problem: ");
    if (k) why = k + strlen("SSL certificate problem: ");
    else if (strncmp(eb, "SSL: ", 5) == 0) why = eb + 5;
    code = "tls";
    lua_pushfstring(L, "TLS certificate verify failed (%s)", why);
    break;
  }
  case CURLE_SSL_CONNECT_ERROR:
  case CURLE_SSL_CERTPROBLEM:
  case CURLE_SSL_CIPHER:
  case CURLE_SSL_CACERT_BADFILE:
  case CURLE_SSL_ISSUER_ERROR:
  case CURLE_SSL_PINNEDPUBKEYNOTMATCH:
  case CURLE_SSL_INVALIDCERTSTATUS:
  case CURLE_SSL_CRL_BADFILE:
  case CURLE_USE_SSL_FAILED:
  case CURLE_SSL_ENGINE_NOTFOUND:
  case CURLE_SSL_ENGINE_SETFAILED:
  case CURLE_SSL_ENGINE_INITFAILED:
  case CURLE_SSL_SHUTDOWN_FAILED:
    code = "tls";
    lua_pushfstring(L, "TLS error (%s)", eb);
    break;
  case CURLE_GOT_NOTHING:
    lua_pushliteral(L, "the server closed the connection without a response");
    break;
  case CURLE_PARTIAL_FILE:
    if (x->content_length > 0)
      lua_pushfstring(L, "connection closed after %I of %I bytes of the body",
                      (lua_Integer)x->received, (lua_Integer)x->content_length);
    else
      lua_pushfstring(L, "connection closed after %I bytes of the body (%s)",
                      (lua_Integer)x->received, eb);
    break;
  case CURLE_RECV_ERROR:
  case CURLE_SEND_ERROR:
    if (x->os_errno)
      lua_pushfstring(L, "connection broken %s (%s; %I bytes of the body received)",
                      x->result == CURLE_RECV_ERROR ? "while receiving" : "while sending",
                      strerror((int)x->os_errno), (lua_Integer)x->received);
    else
      lua_pushfstring(L, "connection broken (%s)", eb);
    break;
  case CURLE_TOO_MANY_REDIRECTS:
    code = "redirect";
    push_lc(L, eb);
    break;
  case CURLE_UNSUPPORTED_PROTOCOL:
  case CURLE_URL_MALFORMAT:
    code = "url";
    push_lc(L, eb);
    break;
  default:
    push_lc(L, eb);
  }
  lua_pushstring(L, code);
  lua_insert(L, -2);
}

/* nil, {code, reason, status, timings, bytes, curl} */
static int push_error(lua_State *L, xfer *x) {
  lua_pushnil(L);
  lua_createtable(L, 0, 6);
  push_reason(L, x);
  lua_setfield(L, -3, "reason");
  lua_setfield(L, -2, "code");
  if (x->status > 0) {
    lua_pushinteger(L, x->status);
    lua_setfield(L, -2, "status");
  }
  push_timings(L, x);
  lua_setfield(L, -2, "timings");
  lua_pushinteger(L, (lua_Integer)x->received);
  lua_setfield(L, -2, "bytes");
  lua_pushinteger(L, (lua_Integer)x->result);
  lua_setfield(L, -2, "curl");
  lua_pushstring(L, x->errbuf[0] ? x->errbuf : C.easy_strerror(x->result));
  lua_setfield(L, -2, "detail");
  return 2;
}

/* nil, {code = errno name, reason} for a failed file operation */
static int push_errno(lua_State *L, int err, const char *what, const char *path) {
  lua_pushnil(L);
  lua_createtable(L, 0, 2);
  lua_pushstring(L, uv_err_name(-err));
  lua_setfield(L, -2, "code");
  lua_pushfstring(L, "%s %s: %s", what, path, strerror(err));
  lua_setfield(L, -2, "reason");
  return 2;
}

/* ---- core.request: buffered requests and downloads ---------------------- */

static void request_cancel(sw_wait *w) { xfer_free((xfer *)w); }

static int download_commit(lua_State *L, xfer *x) {
  if (x->status < 200 || x->status > 299) {
    lua_pushnil(L);
    lua_createtable(L, 0, 4);
    lua_pushliteral(L, "http");
    lua_setfield(L, -2, "code");
    lua_pushfstring(L, "HTTP %d", (int)x->status);
    lua_setfield(L, -2, "reason");
    lua_pushinteger(L, x->status);
    lua_setfield(L, -2, "status");
    push_timings(L, x);
    lua_setfield(L, -2, "timings");
    return 2;
  }
  if (fsync(x->fd) != 0) return push_errno(L, errno, "cannot write", x->tmp);
  if (close(x->fd) != 0) { x->fd = -1; return push_errno(L, errno, "cannot write", x->tmp); }
  x->fd = -1;
  if (rename(x->tmp, x->path) != 0) return push_errno(L, errno, "cannot rename to", x->path);
  free(x->tmp);
  x->tmp = NULL;
  push_response(L, x);
  push_timings(L, x);
  lua_setfield(L, -2, "timings");
  lua_pushstring(L, x->path);
  lua_setfield(L, -2, "path");
  return 1;
}

static int request_push(lua_State *L, sw_wait *w) {
  xfer *x = (xfer *)w;
  int n;
  if (x->result != CURLE_OK || x->too_large || x->write_errno) {
    n = push_error(L, x);
  } else if (x->kind == K_DOWNLOAD) {
    n = download_commit(L, x);
  } else {
    push_response(L, x);
    push_timings(L, x);
    lua_setfield(L, -2, "timings");
    lua_pushlstring(L, x->body ? x->body : "", x->body_len);
    lua_setfield(L, -2, "body");
    n = 1;
  }
  xfer_free(x);
  return n;
}

/* res | nil, err = core.request(spec) */
static int l_request(lua_State *L) {
  const char *path;
  xfer *x;
  luaL_checktype(L, 1, LUA_TTABLE);
  sw_check_yieldable(L, "http.request");
  path = opt_str(L, 1, "path");
  x = xfer_new(L, path ? K_DOWNLOAD : K_BUFFER);
  if (path) {
    size_t n = strlen(path);
    x->path = strdup(path);
    x->tmp = malloc(n + 32);
    if (x->path == NULL || x->tmp == NULL) {
      xfer_free(x);
      return luaL_error(L, "not enough memory");
    }
    snprintf(x->tmp, n + 32, "%s.part-XXXXXX", path);
    x->fd = mkstemp(x->tmp);
    if (x->fd < 0) {
      int err = errno;
      free(x->tmp);
      x->tmp = NULL;
      xfer_free(x);
      return push_errno(L, err, "cannot create a file next to", path);
    }
    fchmod(x->fd, 0666 & ~sw_umask());  /* mkstemp made it 0600 */
  }
  x->wait.cancel = request_cancel;
  x->wait.push = request_push;
  start(L, x);
  return sw_wait_yield(L, &x->wait);
}

/* ---- streams ------------------------------------------------------------ */

static void stream_open_cancel(sw_wait *w) { xfer_free((xfer *)w); }

static void stream_unpause(xfer *x) {
  if (x->paused && x->in_multi) {
    x->paused = 0;
    x->last_data = sw_now();
    C.easy_pause(x->easy, CURLPAUSE_CONT);  /* may call cb_write again */
    after_action();
  }
}

static int stream_open_push(lua_State *L, sw_wait *w) {
  xfer *x = (xfer *)w;
  x->opening = 0;
  if (!x->headers_done && x->done && (x->result != CURLE_OK || x->too_large)) {
    int n = push_error(L, x);
    xfer_free(x);
    return n;
  }
  if (!x->done) {  /* the transfer goes on: what is known so far */
    char *u = NULL;
    C.easy_getinfo(x->easy, CURLINFO_RESPONSE_CODE, &x->status);
    if (C.easy_getinfo(x->easy, CURLINFO_EFFECTIVE_URL, &u) == CURLE_OK && u) {
      char *copy = strdup(u);
      if (copy) { free(x->url); x->url = copy; }
    }
  }
  stream_ud *ud = lua_newuserdatauv(L, sizeof *ud, 0);
  ud->x = x;
  x->ud = ud;
  luaL_setmetatable(L, STREAM_MT);
  push_response(L, x);
  return 2;
}

/* s, res | nil, err = core.open(spec): once the final headers arrived */
static int l_open(lua_State *L) {
  xfer *x;
  luaL_checktype(L, 1, LUA_TTABLE);
  sw_check_yieldable(L, "http.stream");
  x = xfer_new(L, K_STREAM);
  x->opening = 1;
  x->wait.cancel = stream_open_cancel;
  x->wait.push = stream_open_push;
  start(L, x);
  return sw_wait_yield(L, &x->wait);
}

static xfer *check_stream(lua_State *L) {
  stream_ud *ud = luaL_checkudata(L, 1, STREAM_MT);
  if (ud->x == NULL) luaL_error(L, "attempt to use a closed http stream");
  return ud->x;
}

/* The unread data, the end (nil) or the error (false, err). */
static int stream_take(lua_State *L, xfer *x) {
  if (x->body_len > x->body_off) {
    lua_pushlstring(L, x->body + x->body_off, x->body_len - x->body_off);
    x->body_len = x->body_off = 0;
    stream_unpause(x);
    return 1;
  }
  if (x->result != CURLE_OK || x->too_large) {
    push_error(L, x);
    lua_pushboolean(L, 0);
    lua_replace(L, -3);
    return 2;
  }
  lua_pushnil(L);
  return 1;
}

static void stream_read_cancel(sw_wait *w) { ((xfer *)w)->reading = 0; }

static int stream_read_push(lua_State *L, sw_wait *w) {
  xfer *x = (xfer *)w;
  x->reading = 0;
  if (x->ud == NULL) {  /* closed by another task meanwhile */
    xfer_free(x);
    lua_pushnil(L);
    return 1;
  }
  return stream_take(L, x);
}

/* chunk | nil | false, err = s:read() */
static int l_stream_read(lua_State *L) {
  xfer *x = check_stream(L);
  if (x->reading) return luaL_error(L, "http stream: another task is reading it");
  if (x->body_len > x->body_off || x->done) return stream_take(L, x);
  sw_check_yieldable(L, "http.stream");
  x->reading = 1;
  x->wait.cancel = stream_read_cancel;
  x->wait.push = stream_read_push;
  return sw_wait_yield(L, &x->wait);
}

static void stream_close(stream_ud *ud) {
  xfer *x = ud->x;
  if (x == NULL) return;
  ud->x = NULL;
  x->ud = NULL;
  if (x->reading && x->wait.task) {  /* a reader waits: it frees it */
    if (x->in_multi) {
      C.multi_remove_handle(multi, x->easy);
      x->in_multi = 0;
    }
    x->done = 1;
    sw_wait_done(&x->wait);
    return;
  }
  xfer_free(x);
}

static int l_stream_close(lua_State *L) {
  stream_close(luaL_checkudata(L, 1, STREAM_MT));
  return 0;
}

static int l_stream_gc(lua_State *L) {
  stream_ud *ud = luaL_checkudata(L, 1, STREAM_MT);
  if (ud->x && sw_loop_alive()) stream_close(ud);
  return 0;
}

/* ---- module ------------------------------------------------------------- */

/* core.version(): {version, ssl, features = {name = true}, resolver} */
static int l_version(lua_State *L) {
  static const struct { int bit; const char *name; } feats[] = {
    {CURL_VERSION_ASYNCHDNS, "asynchdns"}, {CURL_VERSION_HTTP2, "http2"},
    {CURL_VERSION_HTTP3, "http3"}, {CURL_VERSION_SSL, "ssl"},
    {CURL_VERSION_LIBZ, "libz"}, {CURL_VERSION_BROTLI, "brotli"},
    {CURL_VERSION_ZSTD, "zstd"}, {CURL_VERSION_IPV6, "ipv6"},
    {CURL_VERSION_HTTPS_PROXY, "https_proxy"}, {CURL_VERSION_GSSAPI, "gssapi"},
    {CURL_VERSION_THREADSAFE, "threadsafe"}, {0, NULL}};
  curl_version_info_data *v;
  need_curl(L);
  v = C.version_info(CURLVERSION_NOW);
  lua_createtable(L, 0, 5);
  lua_pushstring(L, v->version);
  lua_setfield(L, -2, "version");
  lua_pushstring(L, v->ssl_version ? v->ssl_version : "");
  lua_setfield(L, -2, "ssl");
  lua_newtable(L);
  for (int i = 0; feats[i].name; i++) {
    lua_pushboolean(L, (v->features & feats[i].bit) != 0);
    lua_setfield(L, -2, feats[i].name);
  }
  lua_setfield(L, -2, "features");
  if (v->ares) lua_pushfstring(L, "c-ares %s", v->ares);
  else if (v->features & CURL_VERSION_ASYNCHDNS) lua_pushliteral(L, "threaded");
  else lua_pushliteral(L, "blocking");
  lua_setfield(L, -2, "resolver");
  lua_pushstring(L, user_agent);
  lua_setfield(L, -2, "user_agent");
  return 1;
}

static int l_loaded(lua_State *L) {
  lua_pushboolean(L, curl_state == 1);
  return 1;
}

int luaopen_slipway_http_core(lua_State *L) {
  static const luaL_Reg fns[] = {
    {"request", l_request}, {"open", l_open}, {"version", l_version},
    {"loaded", l_loaded}, {NULL, NULL}};
  static const luaL_Reg meth[] = {
    {"read", l_stream_read}, {"close", l_stream_close}, {NULL, NULL}};
  if (luaL_newmetatable(L, STREAM_MT)) {
    luaL_newlib(L, meth);
    lua_setfield(L, -2, "__index");
    lua_pushcfunction(L, l_stream_gc);
    lua_setfield(L, -2, "__gc");
    lua_pushcfunction(L, l_stream_close);
    lua_setfield(L, -2, "__close");
  }
  lua_pop(L, 1);
  luaL_newlib(L, fns);
  return 1;
}
