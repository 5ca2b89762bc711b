/*
 * server.c -- slipway.server.core: an HTTP/1.1 server on libuv.
 *
 * Requests are parsed by Debian's http-parser (never by hand) into buffers
 * owned by the connection; when one is complete the parser is paused and a
 * task is spawned for it running the Lua driver (scripts/slipway/server.lua)
 * with an "exchange" object, through which the driver reads the request and
 * writes the response. One request per connection is handled at a time;
 * pipelined requests wait, unparsed, until the response before them is done.
 * While a handler runs the connection keeps reading, so a client that goes
 * away (EOF or error) is noticed at once and its handler task is cancelled.
 *
 *   srv, port = listen(host, port, driver, {max_body=, max_header=, idle_ms=,
 *                                          max_connections=})
 *   tasks = close(srv)       stop accepting, close idle connections; the
 *                            handler tasks still running (not the caller's)
 *   abort_all(srv)           cancel those handlers, close their connections
 *   t = stats(srv)           {connections=, inflight=, requests=, refused=}
 *   req = request(ex)        {method, target, path, raw_query, query,
 *                            headers, body, version, remote}
 *   respond(ex, status, headers, body, default_type)
 *   ok = start(ex, status, headers)   head of a streamed body; false when
 *                            no body may follow (HEAD, 204, 304, gone)
 *   ok = write(ex, data)     one piece of it; waits while the client is
 *                            slow; false when the client has gone
 *   finish(ex)               end of the streamed body
 *   ok, err = sendfile(ex, status, headers, path, offset, length, default_type)
 *                            the whole answer with the body read from a
 *                            file (sendfile(2)); waits until it is out
 *   abort(ex)                close the connection without finishing
 *   s = state(ex)            "open", "started", "done" or "closed"
 *   release(ex)              the driver is done (also __close)
 *   path = realpath(p); st = stat(p)   for serve_files (synchronous)
 *
 * Memory: a connection is freed when both its handles (tcp, timer) have
 * run their close callbacks; the server when its listener has closed and
 * its last connection is freed. An exchange (userdata) and its connection
 * point at each other until either goes away.
 */
#include "slipway.h"

#include <arpa/inet.h>
#include <errno.h>
#include <http_parser.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <fcntl.h>
#include <sys/resource.h>
#include <sys/sendfile.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#define SERVER_MT "slipway.server"
#define EXCHANGE_MT "slipway.server.exchange"

#define DEFAULT_MAX_BODY (16u << 20)   /* 413 above this */
#define DEFAULT_MAX_HEADER (32u << 10) /* 431 above this (request line too);
                                        * below http-parser's own 80 KiB */
#define MAX_HEADERS 256                /* 431 above this many fields */
#define DEFAULT_IDLE_MS 30000          /* keep-alive / slow request timeout */
/* Connections served at once; lowered to half the open-file limit (the
 * handlers need descriptors too). Beyond it a client gets a 503. */
#define DEFAULT_MAX_CONNECTIONS 1000
/* Refused connections still being answered; beyond this many a new one is
 * closed at once (a flood: the 503s must not use up the descriptors). */
#define MAX_REFUSING 64
#define LINGER_MS 2000                 /* after our FIN, drain what the client
                                        * still sends so it reads our answer
                                        * instead of a reset */
/* A streaming handler's write waits while more than this is queued for a
 * slow client, and resumes once it has drained to a quarter of it. */
#define HIGH_WATER (64u << 10)
/* Pipelined bytes buffered while a request is handled, beyond which the
 * connection stops reading until the handler is done. */
#define MAX_BACKLOG (256u << 10)

typedef struct server server;
typedef struct conn conn;
typedef struct exchange { conn *c; } exchange;

typedef struct {
  char *p;
  size_t len, cap;
} sbuf;

typedef struct {
  size_t name, name_len, value, value_len;  /* offsets into conn.hdr */
} header;

typedef struct drain_op {
  sw_wait w;
  conn *c;  /* NULL once the connection has closed */
} drain_op;

/* A file body on its way (sendfile): the handler waits in sendfile() */
typedef struct file_op {
  sw_wait w;
  conn *c;         /* NULL once the connection has closed or it has ended */
  int fd;
  int ok;          /* the whole body went out */
  int yielded;     /* the handler waits (else sendfile() returns at once) */
  int64_t off, left;
} file_op;

typedef struct {
  uv_write_t req;
  conn *c;
  size_t len;
  char data[];
} write_op;

enum { C_READING, C_HANDLING, C_CLOSING };
enum { R_NONE, R_STARTED, R_DONE };
enum { FR_LENGTH, FR_CHUNKED, FR_CLOSE };  /* how a streamed body is framed */
/* Which callback paused the parser (see conn_parse: strict framing). */
enum { PZ_MESSAGE, PZ_HEAD, PZ_CHUNK_HEAD, PZ_CHUNK_DONE };

struct conn {
  uv_tcp_t tcp;
  uv_timer_t timer;
  int nhandles;       /* handles whose close callback has not run yet */
  server *s;
  conn *next, *prev;
  http_parser parser;
  int state;
  int closed;         /* uv_close called */
  int reading;        /* uv_read_start in effect */
  int in_message;     /* between message_begin and message_complete */
  int last_was_value; /* header callbacks: which came last */
  int in_trailers;    /* after the head: fields are checked, not kept */
  int err_status;     /* 413 / 431 chosen by a callback */
  int expect_continue;
  int keep_alive;     /* of the request being handled */
  int head_only;      /* HEAD request */
  int http_minor, http_major;
  unsigned method;
  int resp;           /* R_* */
  int framing;        /* FR_* of a streamed body */
  int paused_by;      /* PZ_* */
  char last[2];       /* the last two bytes the parser consumed */
  size_t head_bytes;  /* request line + header bytes so far */
  sbuf in;            /* received, not parsed yet */
  sbuf url, hdr, body;
  header *headers;
  int nheaders, cap_headers;
  size_t queued;      /* bytes in uv_write requests not completed */
  int nwrites;
  int next_after_drain; /* handle pipelined input once writes drain */
  int shut_done;      /* our FIN is out (C_CLOSING) */
  drain_op *drain;    /* a handler waiting in write() */
  file_op *file;      /* a file body being sent */
  exchange *ex;       /* of the request being handled */
  sw_task *task;      /* its handler task, kept alive by task_ref */
  int task_ref;
  uv_shutdown_t shut;
  int refused;        /* over max_connections: answered 503 */
  char peer[64];
};

struct server {
  uv_tcp_t tcp;
  server **udp;       /* the userdata's slot, NULL once it is collected */
  server *next_all;
  conn *conns;
  int nconns;         /* allocated, not yet freed */
  int nserved;        /* of them, not refused */
  int nrefusing;      /* of them, refused (503 on its way) */
  int max_conns;
  lua_Integer refused;
  int closing;
  int listener_closed;
  int self_ref, driver_ref;
  size_t max_body, max_header;
  uint64_t idle_ms;
  lua_Integer requests;
};

static server *all_servers;
static int hook_armed;
static char read_buf[64 * 1024];  /* one loop, one read at a time */
/* A piece of a file queued when the socket is full: small, since it only
 * waits for room (sendfile sends the rest) and is copied twice. */
static char file_buf[8 * 1024];

static void conn_close(conn *c, int cancel);
static void conn_parse(conn *c);
static void conn_end_gracefully(conn *c);
static void conn_next(conn *c);
static void conn_fail(conn *c, int status);
static void file_pump(conn *c);
static void file_end(conn *c, int ok);

/* ---- small buffers ------------------------------------------------------ */

static int sbuf_add(sbuf *b, const char *s, size_t n) {
  if (n > SIZE_MAX / 2 - b->len) return -1;
  if (b->len + n > b->cap) {
    size_t cap = b->cap ? b->cap : 256;
    while (cap < b->len + n) cap *= 2;
    char *p = realloc(b->p, cap);
    if (p == NULL) return -1;
    b->p = p;
    b->cap = cap;
  }
  if (n) memcpy(b->p + b->len, s, n);
  b->len += n;
  return 0;
}

static void sbuf_free(sbuf *b) {
  free(b->p);
  b->p = NULL;
  b->len = b->cap = 0;
}

/* ---- writing ------------------------------------------------------------ */

static void on_uv_write(uv_write_t *req, int status) {
  write_op *w = (write_op *)req;
  conn *c = w->c;
  c->nwrites--;
  c->queued -= w->len;
  free(w);
  if (status < 0) {  /* the client has gone (or we closed): stop */
    conn_close(c, 1);
    return;
  }
  if (c->drain && c->queued <= HIGH_WATER / 4) {
    drain_op *op = c->drain;
    c->drain = NULL;
    sw_wait_done(&op->w);
  }
  if (c->file && c->nwrites == 0) file_pump(c);  /* the socket has room again */
  if (c->nwrites == 0 && c->next_after_drain && !c->closed) {
    c->next_after_drain = 0;
    conn_next(c);
  }
}

/* Send bufs in order after what is queued; 0, or a libuv error. */
static int conn_send(conn *c, uv_buf_t *bufs, int n) {
  size_t total = 0, skip = 0;
  if (c->closed) return UV_EPIPE;
  for (int i = 0; i < n; i++) total += bufs[i].len;
  if (total == 0) return 0;
  if (c->nwrites == 0) {
    int r = uv_try_write((uv_stream_t *)&c->tcp, bufs, (unsigned)n);
    if (r < 0 && r != UV_EAGAIN) return r;
    if (r > 0) skip = (size_t)r;
    if (skip == total) return 0;
  }
  write_op *w = malloc(sizeof *w + (total - skip));
  if (w == NULL) return UV_ENOMEM;
  size_t off = 0;
  for (int i = 0; i < n; i++) {
    size_t len = bufs[i].len;
    const char *p = bufs[i].base;
    if (skip >= len) { skip -= len; continue; }
    p += skip;
    len -= skip;
    skip = 0;
    memcpy(w->data + off, p, len);
    off += len;
  }
  w->c = c;
  w->len = off;
  uv_buf_t b = uv_buf_init(w->data, (unsigned)off);
  int r = uv_write(&w->req, (uv_stream_t *)&c->tcp, &b, 1, on_uv_write);
  if (r < 0) {
    free(w);
    return r;
  }
  c->nwrites++;
  c->queued += off;
  return 0;
}

/* ---- closing -------------------------------------------------------------- */

static void server_maybe_free(server *s) {
  if (!s->listener_closed || s->nconns > 0) return;
  for (server **pp = &all_servers; *pp; pp = &(*pp)->next_all)
    if (*pp == s) { *pp = s->next_all; break; }
  if (s->udp) *s->udp = NULL;
  free(s);
}

static void on_uv_conn_closed(uv_handle_t *h) {
  conn *c = h->data;
  if (--c->nhandles > 0) return;
  server *s = c->s;
  sbuf_free(&c->in);
  sbuf_free(&c->url);
  sbuf_free(&c->hdr);
  sbuf_free(&c->body);
  free(c->headers);
  if (c->refused) s->nrefusing--; else s->nserved--;
  free(c);
  s->nconns--;
  server_maybe_free(s);
}

/* Forget the handler: its exchange no longer reaches the connection. */
static sw_task *conn_detach(conn *c) {
  sw_task *t = c->task;
  if (c->ex) {
    c->ex->c = NULL;
    c->ex = NULL;
  }
  if (c->task_ref != LUA_NOREF) {
    luaL_unref(sw_main_state(), LUA_REGISTRYINDEX, c->task_ref);
    c->task_ref = LUA_NOREF;
  }
  c->task = NULL;
  return t;
}

/* Close at once; with cancel, the handler task (if any) is cancelled. The
 * task object stays alive until the cancellation is delivered because the
 * task is still in the scheduler's list of live tasks. */
static void conn_close(conn *c, int cancel) {
  if (c->closed) return;
  c->closed = 1;
  sw_task *t = c->task;
  if (t && cancel) sw_task_cancel(t);  /* frees c->drain via its cancel */
  conn_detach(c);
  if (c->drain) {  /* only when the task was not cancelled */
    drain_op *op = c->drain;
    c->drain = NULL;
    op->c = NULL;
    sw_wait_done(&op->w);
  }
  if (c->file) file_end(c, 0);  /* likewise */
  if (c->prev) c->prev->next = c->next; else c->s->conns = c->next;
  if (c->next) c->next->prev = c->prev;
  c->next = c->prev = NULL;
  uv_close((uv_handle_t *)&c->tcp, on_uv_conn_closed);
  uv_close((uv_handle_t *)&c->timer, on_uv_conn_closed);
}

/* idle too long, a request that takes too long to arrive, or lingering */
static void on_uv_timer(uv_timer_t *h) {
  conn *c = h->data;
  if (c->state == C_READING && c->in_message) conn_fail(c, 408);
  else conn_close(c, 1);
}

/* Everything is written and our FIN is out: linger a little, then close. */
static void on_uv_shutdown(uv_shutdown_t *req, int status) {
  conn *c = req->data;
  if (status < 0) {
    conn_close(c, 1);
    return;
  }
  c->shut_done = 1;
  if (!c->closed) sw_timer_start(&c->timer, on_uv_timer, LINGER_MS, 0);
}

/* Finish the connection after what is queued (however long a slow reader
 * takes; abort_all bounds it): FIN, then drain the client's remaining bytes
 * until its EOF (or LINGER_MS), then close. */
static void conn_end_gracefully(conn *c) {
  if (c->closed || c->state == C_CLOSING) return;
  c->state = C_CLOSING;
  conn_detach(c);
  uv_timer_stop(&c->timer);
  c->shut.data = c;
  if (uv_shutdown(&c->shut, (uv_stream_t *)&c->tcp, on_uv_shutdown) < 0) conn_close(c, 1);
}

/* ---- responses ------------------------------------------------------------ */

static void http_date(char out[40]) {
  static const char *const days[] = {"Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat"};
  static const char *const months[] = {"Jan", "Feb", "Mar", "Apr", "May", "Jun",
                                       "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"};
  static time_t cached;
  static char buf[40];
  time_t now = time(NULL);
  if (now != cached) {
    struct tm tm;
    gmtime_r(&now, &tm);
    snprintf(buf, sizeof buf, "%s, %02d %s %04d %02d:%02d:%02d GMT", days[tm.tm_wday],
             tm.tm_mday, months[tm.tm_mon], tm.tm_year + 1900, tm.tm_hour, tm.tm_min,
             tm.tm_sec);
    cached = now;
  }
  memcpy(out, buf, sizeof buf);
}

static const char *reason(int status) {
  const char *r = http_status_str((enum http_status)status);
  if (r == NULL || strcmp(r, "<unknown>") == 0) return "Status";
  return r;
}

/* A complete error response from C (400, 413, 431, 500), then close. */
static void conn_fail(conn *c, int status) {
  char head[256], date[40];
  const char *msg = reason(status);
  http_date(date);
  int n = snprintf(head, sizeof head,
                   "HTTP/1.1 %d %s\r\nDate: %s\r\nContent-Type: text/plain; "
                   "charset=utf-8\r\nContent-Length: %zu\r\nConnection: close\r\n\r\n%s\n",
                   status, msg, date, strlen(msg) + 1, msg);
  uv_buf_t b = uv_buf_init(head, (unsigned)n);
  if (c->resp == R_NONE && conn_send(c, &b, 1) == 0) conn_end_gracefully(c);
  else conn_close(c, 1);
}

static int is_token_char(unsigned char ch) {
  return ch > 32 && ch < 127 && !strchr("()<>@,;:\\\"/[]?={}", ch);
}

static void check_header(lua_State *L, const char *name, size_t nlen, const char *v,
                         size_t vlen) {
  if (nlen == 0) luaL_error(L, "empty response header name");
  for (size_t i = 0; i < nlen; i++)
    if (!is_token_char((unsigned char)name[i]))
      luaL_error(L, "invalid response header name '%s'", name);
  for (size_t i = 0; i < vlen; i++)
    if (v[i] == '\r' || v[i] == '\n' || v[i] == '\0')
      luaL_error(L, "response header '%s' has a CR, LF or NUL in its value", name);
}

static int name_is(const char *name, size_t n, const char *lit) {
  return strlen(lit) == n && strncasecmp(name, lit, n) == 0;
}

typedef struct {
  int has_type, has_length, has_date, conn_close;
} head_info;

/* Push the user's headers (table at idx: name -> string|number|list) as one
 * string of "Name: value\r\n" lines; notes what they set in hi. */
static void push_user_headers(lua_State *L, int idx, head_info *hi, int skip_length) {
  int np = 0, parts;
  lua_newtable(L);
  parts = lua_gettop(L);
  if (!lua_isnoneornil(L, idx)) {
    if (lua_type(L, idx) != LUA_TTABLE) luaL_error(L, "response headers must be a table");
    lua_pushnil(L);
    while (lua_next(L, idx)) {
      size_t nlen, vlen;
      if (lua_type(L, -2) != LUA_TSTRING) luaL_error(L, "response header names must be strings");
      const char *name = lua_tolstring(L, -2, &nlen);
      int skip = 0;
      if (name_is(name, nlen, "transfer-encoding"))
        luaL_error(L, "the server sets transfer-encoding itself; do not set it");
      if (name_is(name, nlen, "content-type")) hi->has_type = 1;
      if (name_is(name, nlen, "date")) hi->has_date = 1;
      if (name_is(name, nlen, "content-length")) {
        hi->has_length = 1;
        skip = skip_length;
      }
      int n = 1, list = lua_type(L, -1) == LUA_TTABLE;
      if (list) n = (int)luaL_len(L, -1);
      for (int i = 1; i <= n && !skip; i++) {
        if (list) lua_rawgeti(L, -1, i); else lua_pushvalue(L, -1);
        if (lua_type(L, -1) != LUA_TSTRING && lua_type(L, -1) != LUA_TNUMBER)
          luaL_error(L, "response header '%s' must be a string, a number or a list of them",
                     name);
        const char *v = lua_tolstring(L, -1, &vlen);
        check_header(L, name, nlen, v, vlen);
        if (name_is(name, nlen, "connection")) {
          if (strncasecmp(v, "close", 5) == 0) hi->conn_close = 1;
        } else {
          lua_pushfstring(L, "%s: %s\r\n", name, v);
          lua_rawseti(L, parts, ++np);
        }
        lua_pop(L, 1);
      }
      lua_pop(L, 1);
    }
  }
  luaL_checkstack(L, np + 2, "too many response headers");
  for (int i = 1; i <= np; i++) lua_rawgeti(L, parts, i);
  if (np == 0) lua_pushliteral(L, "");
  else lua_concat(L, np);
  lua_remove(L, parts);
}

static conn *check_live(lua_State *L, exchange **out) {
  exchange *ex = luaL_checkudata(L, 1, EXCHANGE_MT);
  if (out) *out = ex;
  return ex->c;
}

static int check_status(lua_State *L, int idx) {
  lua_Integer st = luaL_optinteger(L, idx, 200);
  luaL_argcheck(L, st >= 200 && st <= 999, idx, "status must be an integer 200..999");
  return (int)st;
}

#define BODY_STREAM (-1)  /* push_head: a streamed body follows */
#define BODY_NONE (-2)    /* push_head: no body given */

/* Push the response head. body_len: the body's length, BODY_STREAM or
 * BODY_NONE. Decides the framing of a streamed body and keep-alive. */
static void push_head(lua_State *L, conn *c, int status, int hidx, long long body_len,
                      const char *default_type) {
  head_info hi = {0, 0, 0, 0};
  char tail[512], date[40];
  size_t k = 0;
  int no_body = status == 204 || status == 304;
  lua_pushfstring(L, "HTTP/1.1 %d %s\r\n", status, reason(status));
  push_user_headers(L, hidx, &hi, body_len >= 0);
  if (hi.conn_close || c->s->closing) c->keep_alive = 0;
#define ADD(...) k += (size_t)snprintf(tail + k, sizeof tail - k, __VA_ARGS__)
  if (!hi.has_date) {
    http_date(date);
    ADD("Date: %s\r\n", date);
  }
  if (!hi.has_type && default_type && !no_body && body_len != 0 && body_len != BODY_NONE &&
      strlen(default_type) < 200)
    ADD("Content-Type: %s\r\n", default_type);
  if (body_len >= 0) {
    if (!no_body) ADD("Content-Length: %lld\r\n", body_len);
  } else if (body_len == BODY_NONE) {
    if (!no_body && !hi.has_length) ADD("Content-Length: 0\r\n");
  } else if (no_body || hi.has_length) {
    c->framing = FR_LENGTH;
  } else if (c->http_major == 1 && c->http_minor >= 1) {
    c->framing = FR_CHUNKED;
    ADD("Transfer-Encoding: chunked\r\n");
  } else {
    c->framing = FR_CLOSE;
    c->keep_alive = 0;
  }
  if (!c->keep_alive) ADD("Connection: close\r\n");
  else if (c->http_major == 1 && c->http_minor == 0) ADD("Connection: keep-alive\r\n");
  ADD("\r\n");
#undef ADD
  lua_pushlstring(L, tail, k);
  lua_concat(L, 3);
}

/* respond(ex, status, headers, body, default_type) */
static int l_respond(lua_State *L) {
  conn *c = check_live(L, NULL);
  int status = check_status(L, 2);
  size_t blen = 0;
  const char *body = luaL_optlstring(L, 4, NULL, &blen);
  const char *dtype = luaL_optstring(L, 5, "text/plain; charset=utf-8");
  if (c == NULL) return 0;  /* the client has gone: nothing to answer */
  if (c->resp != R_NONE) luaL_error(L, "the response has been sent already");
  lua_settop(L, 5);
  push_head(L, c, status, 3, body ? (long long)blen : BODY_NONE, dtype);
  size_t hlen;
  const char *head = lua_tolstring(L, -1, &hlen);
  uv_buf_t bufs[2] = {uv_buf_init((char *)head, (unsigned)hlen),
                      uv_buf_init((char *)(body ? body : ""), (unsigned)blen)};
  int nb = (body && !c->head_only && status != 204 && status != 304) ? 2 : 1;
  c->resp = R_DONE;
  if (conn_send(c, bufs, nb) < 0) conn_close(c, 0);
  return 0;
}

/* ok = start(ex, status, headers) */
static int l_start(lua_State *L) {
  conn *c = check_live(L, NULL);
  int status = check_status(L, 2);
  if (c == NULL) { lua_pushboolean(L, 0); return 1; }
  if (c->resp != R_NONE) luaL_error(L, "the response has been sent already");
  lua_settop(L, 3);
  push_head(L, c, status, 3, BODY_STREAM, "text/plain; charset=utf-8");
  size_t hlen;
  const char *head = lua_tolstring(L, -1, &hlen);
  uv_buf_t buf = uv_buf_init((char *)head, (unsigned)hlen);
  int body = !c->head_only && status != 204 && status != 304;
  c->resp = body ? R_STARTED : R_DONE;
  if (conn_send(c, &buf, 1) < 0) {
    conn_close(c, 0);
    body = 0;
  }
  lua_pushboolean(L, body);
  return 1;
}

static void drain_cancel(sw_wait *w) {
  drain_op *op = (drain_op *)w;
  if (op->c) op->c->drain = NULL;
  free(op);
}

static int drain_push(lua_State *L, sw_wait *w) {
  drain_op *op = (drain_op *)w;
  lua_pushboolean(L, op->c != NULL);
  free(op);
  return 1;
}

/* ok = write(ex, data) */
static int l_write(lua_State *L) {
  size_t len;
  conn *c = check_live(L, NULL);
  const char *data = luaL_checklstring(L, 2, &len);
  if (c == NULL) { lua_pushboolean(L, 0); return 1; }
  if (c->resp != R_STARTED) luaL_error(L, "write: the response is not being streamed");
  if (len > 0) {
    char size[24];
    uv_buf_t bufs[3];
    int n = 0;
    if (c->framing == FR_CHUNKED) {
      int k = snprintf(size, sizeof size, "%zx\r\n", len);
      bufs[n++] = uv_buf_init(size, (unsigned)k);
    }
    bufs[n++] = uv_buf_init((char *)data, (unsigned)len);
    if (c->framing == FR_CHUNKED) bufs[n++] = uv_buf_init("\r\n", 2);
    if (conn_send(c, bufs, n) < 0) {
      conn_close(c, 0);
      lua_pushboolean(L, 0);
      return 1;
    }
  }
  if (c->queued <= HIGH_WATER) {
    lua_pushboolean(L, 1);
    return 1;
  }
  sw_check_yieldable(L, "write");
  drain_op *op = calloc(1, sizeof *op);
  if (op == NULL) return luaL_error(L, "not enough memory");
  op->c = c;
  op->w.cancel = drain_cancel;
  op->w.push = drain_push;
  c->drain = op;
  return sw_wait_yield(L, &op->w);
}

/* finish(ex) */
static int l_finish(lua_State *L) {
  conn *c = check_live(L, NULL);
  if (c == NULL || c->resp != R_STARTED) return 0;
  c->resp = R_DONE;
  if (c->framing == FR_CHUNKED) {
    uv_buf_t b = uv_buf_init("0\r\n\r\n", 5);
    if (conn_send(c, &b, 1) < 0) conn_close(c, 0);
  }
  return 0;
}

/* ---- file bodies: sendfile(2) from the file to the socket ----------------
 *
 * The loop thread calls sendfile on the non-blocking socket until the body
 * is out. When the socket is full (EAGAIN), one piece is read and queued
 * through libuv instead: its completion (on_uv_write) says the socket has
 * room again, and file_pump goes on from there. No Lua string holds the
 * file; a slow client holds one piece. */

/* The file op has ended (ok: every byte is out or queued): close the file,
 * wake the handler. */
static void file_end(conn *c, int ok) {
  file_op *op = c->file;
  c->file = NULL;
  op->c = NULL;
  close(op->fd);
  op->fd = -1;
  op->ok = ok;
  if (ok) c->resp = R_DONE;
  if (op->yielded) sw_wait_done(&op->w);
}

static void file_pump(conn *c) {
  file_op *op = c->file;
  uv_os_fd_t sock;
  if (uv_fileno((uv_handle_t *)&c->tcp, &sock) != 0) {
    file_end(c, 0);
    conn_close(c, 1);
    return;
  }
  while (op->left > 0 && c->nwrites == 0) {
    off_t off = (off_t)op->off;
    size_t want = op->left > (1 << 30) ? (size_t)1 << 30 : (size_t)op->left;
    ssize_t n = sendfile(sock, op->fd, &off, want);
    if (n > 0) {
      op->off += n;
      op->left -= n;
      continue;
    }
    if (n < 0 && errno == EINTR) continue;
    if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
      size_t k = op->left < (int64_t)sizeof file_buf ? (size_t)op->left : sizeof file_buf;
      ssize_t got = pread(op->fd, file_buf, k, (off_t)op->off);
      if (got > 0) {
        uv_buf_t b = uv_buf_init(file_buf, (unsigned)got);
        op->off += got;
        op->left -= got;
        if (conn_send(c, &b, 1) == 0) continue;  /* queued: wait for on_uv_write */
      }
    }
    /* the file is shorter than announced, or unreadable, or the client has
     * gone: the answer cannot be completed, so the connection ends */
    file_end(c, 0);
    conn_close(c, 1);
    return;
  }
  if (op->left == 0) file_end(c, 1);
}

static void file_cancel(sw_wait *w) {
  file_op *op = (file_op *)w;
  if (op->c) op->c->file = NULL;
  if (op->fd >= 0) close(op->fd);
  free(op);
}

static int file_push(lua_State *L, sw_wait *w) {
  file_op *op = (file_op *)w;
  lua_pushboolean(L, op->ok);
  free(op);
  return 1;
}

/* Send the head with MSG_MORE when nothing is queued (the body follows at
 * once); what the socket does not take goes through conn_send. */
static int send_head(conn *c, const char *head, size_t hlen, int more) {
  uv_os_fd_t sock;
  if (c->closed) return UV_EPIPE;
  if (more && c->nwrites == 0 && uv_fileno((uv_handle_t *)&c->tcp, &sock) == 0) {
    ssize_t n;
    do n = send(sock, head, hlen, MSG_MORE | MSG_NOSIGNAL);
    while (n < 0 && errno == EINTR);
    if (n < 0 && errno != EAGAIN && errno != EWOULDBLOCK) return -errno;  /* libuv errors are -errno on Unix */
    if (n > 0) {
      head += n;
      hlen -= (size_t)n;
    }
  }
  uv_buf_t b = uv_buf_init((char *)head, (unsigned)hlen);
  return conn_send(c, &b, 1);
}

/* ok, err = sendfile(ex, status, headers, path, offset, length, default_type):
 * answer with status and headers and, as the body, length bytes of the file
 * from offset (length nil: to its end). Waits until the body is out; ok is
 * false when the client has gone. nil, message when the file cannot be
 * opened or is shorter than offset + length (nothing was sent then). */
static int l_sendfile(lua_State *L) {
  conn *c = check_live(L, NULL);
  int status = check_status(L, 2);
  const char *path = luaL_checkstring(L, 4);
  lua_Integer off = luaL_optinteger(L, 5, 0);
  lua_Integer len = luaL_optinteger(L, 6, -1);
  const char *dtype = luaL_optstring(L, 7, "application/octet-stream");
  struct stat st;
  luaL_argcheck(L, off >= 0, 5, "offset must be >= 0");
  if (c == NULL) { lua_pushboolean(L, 0); return 1; }
  if (c->resp != R_NONE) luaL_error(L, "the response has been sent already");
  int body = !c->head_only && status != 204 && status != 304;
  if (body) sw_check_yieldable(L, "sendfile");
  int fd = open(path, O_RDONLY | O_CLOEXEC);
  if (fd < 0 || fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
    int e = fd < 0 ? errno : EISDIR;
    if (fd >= 0) close(fd);
    lua_pushnil(L);
    lua_pushfstring(L, "%s: %s", path, strerror(e));
    return 2;
  }
  if (len < 0) len = (lua_Integer)st.st_size > off ? (lua_Integer)st.st_size - off : 0;
  if (off > (lua_Integer)st.st_size || len > (lua_Integer)st.st_size - off) {
    close(fd);
    lua_pushnil(L);
    lua_pushfstring(L, "%s: shorter than %I bytes (it changed)", path, off + len);
    return 2;
  }
  lua_settop(L, 7);
  push_head(L, c, status, 3, (long long)len, dtype);
  size_t hlen;
  const char *head = lua_tolstring(L, -1, &hlen);
  if (!body || len == 0) {
    close(fd);
    c->resp = R_DONE;
    if (send_head(c, head, hlen, 0) < 0) conn_close(c, 0);
    lua_pushboolean(L, !c->closed);
    return 1;
  }
  file_op *op = calloc(1, sizeof *op);
  if (op == NULL) {
    close(fd);
    return luaL_error(L, "not enough memory");
  }
  c->resp = R_STARTED;
  if (send_head(c, head, hlen, 1) < 0) {
    close(fd);
    free(op);
    conn_close(c, 0);
    lua_pushboolean(L, 0);
    return 1;
  }
  op->c = c;
  op->fd = fd;
  op->off = off;
  op->left = len;
  op->w.cancel = file_cancel;
  op->w.push = file_push;
  c->file = op;
  file_pump(c);
  if (op->c == NULL) {  /* ended already */
    lua_pushboolean(L, op->ok);
    free(op);
    return 1;
  }
  op->yielded = 1;
  return sw_wait_yield(L, &op->w);
}

static int l_state(lua_State *L) {
  conn *c = check_live(L, NULL);
  static const char *const names[] = {"open", "started", "done"};
  lua_pushstring(L, c ? names[c->resp] : "closed");
  return 1;
}

/* abort(ex): close the connection now (a broken response) */
static int l_abort(lua_State *L) {
  conn *c = check_live(L, NULL);
  if (c) {
    conn_detach(c);
    conn_close(c, 0);
  }
  return 0;
}

/* release(ex): the driver is done with the request. */
static int l_release(lua_State *L) {
  conn *c = check_live(L, NULL);
  if (c == NULL) return 0;
  int complete = c->resp == R_DONE;
  conn_detach(c);
  if (!complete) {
    conn_close(c, 0);  /* no (complete) answer: the client sees the close */
  } else if (!c->keep_alive) {
    conn_end_gracefully(c);
  } else if (c->queued > HIGH_WATER) {
    c->next_after_drain = 1;  /* let a slow reader catch up first */
  } else {
    conn_next(c);
  }
  return 0;
}

static int exchange_gc(lua_State *L) {
  exchange *ex = luaL_checkudata(L, 1, EXCHANGE_MT);
  if (ex->c && sw_loop_alive()) {
    conn *c = ex->c;
    conn_detach(c);
    conn_close(c, 0);
  }
  ex->c = NULL;
  return 0;
}

/* ---- requests ------------------------------------------------------------- */

static int hexval(int ch) {
  if (ch >= '0' && ch <= '9') return ch - '0';
  if (ch >= 'a' && ch <= 'f') return ch - 'a' + 10;
  if (ch >= 'A' && ch <= 'F') return ch - 'A' + 10;
  return -1;
}

/* Push s percent-decoded; plus_space turns '+' into ' ' (query strings). */
static void push_decoded(lua_State *L, const char *s, size_t n, int plus_space) {
  luaL_Buffer b;
  luaL_buffinit(L, &b);
  for (size_t i = 0; i < n; i++) {
    int hi, lo;
    if (s[i] == '%' && i + 2 < n && (hi = hexval((unsigned char)s[i + 1])) >= 0 &&
        (lo = hexval((unsigned char)s[i + 2])) >= 0) {
      luaL_addchar(&b, (char)(hi * 16 + lo));
      i += 2;
    } else if (plus_space && s[i] == '+') {
      luaL_addchar(&b, ' ');
    } else {
      luaL_addchar(&b, s[i]);
    }
  }
  luaL_pushresult(&b);
}

/* table: name -> value (the first of repeated names wins) */
static void push_query(lua_State *L, const char *q, size_t n) {
  lua_newtable(L);
  size_t i = 0;
  while (i < n) {
    size_t j = i;
    while (j < n && q[j] != '&') j++;
    if (j > i) {
      size_t eq = i;
      while (eq < j && q[eq] != '=') eq++;
      push_decoded(L, q + i, eq - i, 1);
      if (lua_rawget(L, -2), lua_isnil(L, -1)) {
        lua_pop(L, 1);
        push_decoded(L, q + i, eq - i, 1);
        if (eq < j) push_decoded(L, q + eq + 1, j - eq - 1, 1);
        else lua_pushliteral(L, "");
        lua_rawset(L, -3);
      } else {
        lua_pop(L, 1);
      }
    }
    i = j + 1;
  }
}

/* req = request(ex) */
static int l_request(lua_State *L) {
  conn *c = check_live(L, NULL);
  if (c == NULL) {
    sw_error_push(L, "closed", "the client closed the connection");
    return lua_error(L);
  }
  const char *url = c->url.p ? c->url.p : "";
  size_t ulen = c->url.len;
  struct http_parser_url u;
  lua_createtable(L, 0, 10);
  lua_pushstring(L, http_method_str((enum http_method)c->method));
  lua_setfield(L, -2, "method");
  lua_pushlstring(L, url, ulen);
  lua_setfield(L, -2, "target");
  http_parser_url_init(&u);
  if (ulen && http_parser_parse_url(url, ulen, c->method == HTTP_CONNECT, &u) == 0) {
    if (u.field_set & (1 << UF_PATH))
      push_decoded(L, url + u.field_data[UF_PATH].off, u.field_data[UF_PATH].len, 0);
    else
      lua_pushliteral(L, "/");
    lua_setfield(L, -2, "path");
    if (u.field_set & (1 << UF_QUERY)) {
      const char *q = url + u.field_data[UF_QUERY].off;
      size_t qn = u.field_data[UF_QUERY].len;
      lua_pushlstring(L, q, qn);
      lua_setfield(L, -2, "raw_query");
      push_query(L, q, qn);
    } else {
      lua_pushliteral(L, "");
      lua_setfield(L, -2, "raw_query");
      lua_newtable(L);
    }
    lua_setfield(L, -2, "query");
  } else {
    push_decoded(L, url, ulen, 0);
    lua_setfield(L, -2, "path");
    lua_pushliteral(L, "");
    lua_setfield(L, -2, "raw_query");
    lua_newtable(L);
    lua_setfield(L, -2, "query");
  }
  lua_createtable(L, 0, c->nheaders);
  for (int i = 0; i < c->nheaders; i++) {
    header *h = &c->headers[i];
    luaL_Buffer b;
    luaL_buffinit(L, &b);
    for (size_t k = 0; k < h->name_len; k++) {
      char ch = c->hdr.p[h->name + k];
      luaL_addchar(&b, (char)(ch >= 'A' && ch <= 'Z' ? ch + 32 : ch));
    }
    luaL_pushresult(&b);
    /* the value without the whitespace after it (RFC 9110 5.5; http-parser
     * drops only the whitespace before it) */
    size_t vlen = h->value_len;
    while (vlen > 0 && (c->hdr.p[h->value + vlen - 1] == ' ' ||
                        c->hdr.p[h->value + vlen - 1] == '\t'))
      vlen--;
    lua_pushvalue(L, -1);
    if (lua_rawget(L, -3) == LUA_TSTRING) {  /* repeated: join with ", " */
      lua_pushliteral(L, ", ");
      lua_pushlstring(L, c->hdr.p + h->value, vlen);
      lua_concat(L, 3);
    } else {
      lua_pop(L, 1);
      lua_pushlstring(L, c->hdr.p + h->value, vlen);
    }
    lua_rawset(L, -3);
  }
  lua_setfield(L, -2, "headers");
  lua_pushlstring(L, c->body.p ? c->body.p : "", c->body.len);
  lua_setfield(L, -2, "body");
  sbuf_free(&c->body);
  lua_pushfstring(L, "%d.%d", c->http_major, c->http_minor);
  lua_setfield(L, -2, "version");
  lua_pushstring(L, c->peer);
  lua_setfield(L, -2, "remote");
  return 1;
}

/* ---- parsing ------------------------------------------------------------- */

static int too_big_head(conn *c, size_t n) {
  c->head_bytes += n;
  if (c->head_bytes > c->s->max_header) {
    c->err_status = 431;
    return -1;
  }
  return 0;
}

/* Strict framing. Debian's http-parser is built lenient (not
 * HTTP_PARSER_STRICT): where a line must end in CR LF it takes any byte for
 * the LF after the CR of the empty line ending the head or the trailers and
 * of a chunk-size line, and any two bytes for the CR LF after a chunk's
 * data ("5\r\nhelloXX0\r\n\r\n"). Its callbacks at those points pause it,
 * and conn_parse looks at the bytes there (check_pause). */
static int pause_for_check(http_parser *p, int why) {
  conn *c = p->data;
  c->paused_by = why;
  http_parser_pause(p, 1);
  return 0;
}

static int cb_message_begin(http_parser *p) {
  conn *c = p->data;
  c->in_message = 1;
  c->url.len = c->hdr.len = 0;
  sbuf_free(&c->body);
  c->nheaders = 0;
  c->head_bytes = 0;
  c->last_was_value = 1;
  c->in_trailers = 0;
  c->expect_continue = 0;
  c->err_status = 0;
  return 0;
}

static int cb_url(http_parser *p, const char *at, size_t n) {
  conn *c = p->data;
  if (too_big_head(c, n)) return -1;
  /* RFC 9112 3.2: no whitespace or controls in a request-target (the
   * lenient parser takes a TAB or FF, which a proxy may split at) */
  for (size_t i = 0; i < n; i++)
    if ((unsigned char)at[i] <= 32 || at[i] == 127) return c->err_status = 400, -1;
  return sbuf_add(&c->url, at, n) ? (c->err_status = 500, -1) : 0;
}

/* RFC 9112 5.1: no whitespace before the colon; a name is a token */
static int name_ok(const char *at, size_t n) {
  for (size_t i = 0; i < n; i++)
    if (!is_token_char((unsigned char)at[i])) return 0;
  return 1;
}

/* RFC 9110 5.5: no NUL or other control but HTAB in a field value (the
 * lenient parser passes them on) */
static int value_ok(const char *at, size_t n) {
  for (size_t i = 0; i < n; i++) {
    unsigned char ch = (unsigned char)at[i];
    if ((ch < 32 && ch != '\t') || ch == 127) return 0;
  }
  return 1;
}

static int cb_header_field(http_parser *p, const char *at, size_t n) {
  conn *c = p->data;
  if (too_big_head(c, n + 4)) return -1;
  if (!name_ok(at, n)) return c->err_status = 400, -1;
  /* trailer fields (RFC 9110 6.5.1) are not merged into the headers: a
   * Content-Length or Host there would contradict the framing */
  if (c->in_trailers) return 0;
  if (c->last_was_value) {  /* a new field */
    if (c->nheaders >= MAX_HEADERS) {
      c->err_status = 431;
      return -1;
    }
    if (c->nheaders == c->cap_headers) {
      int cap = c->cap_headers ? c->cap_headers * 2 : 16;
      header *h = realloc(c->headers, (size_t)cap * sizeof *h);
      if (h == NULL) return c->err_status = 500, -1;
      c->headers = h;
      c->cap_headers = cap;
    }
    header *h = &c->headers[c->nheaders++];
    h->name = c->hdr.len;
    h->name_len = 0;
    h->value = c->hdr.len;
    h->value_len = 0;
    c->last_was_value = 0;
  }
  header *h = &c->headers[c->nheaders - 1];
  if (sbuf_add(&c->hdr, at, n)) return c->err_status = 500, -1;
  h->name_len += n;
  h->value = c->hdr.len;
  return 0;
}

static int cb_header_value(http_parser *p, const char *at, size_t n) {
  conn *c = p->data;
  if (too_big_head(c, n)) return -1;
  if (!value_ok(at, n)) return c->err_status = 400, -1;
  if (c->in_trailers) return 0;
  if (c->nheaders == 0) return -1;
  header *h = &c->headers[c->nheaders - 1];
  c->last_was_value = 1;
  if (sbuf_add(&c->hdr, at, n)) return c->err_status = 500, -1;
  h->value_len += n;
  return 0;
}

static int cb_headers_complete(http_parser *p) {
  conn *c = p->data;
  /* a request line without a version (HTTP/0.9, which has no headers, yet
   * the parser reads some) or a version other than 1.x */
  if (p->http_major != 1) {
    c->err_status = p->http_major == 0 ? 400 : 505;
    return -1;
  }
  if ((p->flags & F_CONTENTLENGTH) && p->content_length > c->s->max_body) {
    c->err_status = 413;
    return -1;
  }
  for (int i = 0; i < c->nheaders; i++) {
    header *h = &c->headers[i];
    if (name_is(c->hdr.p + h->name, h->name_len, "expect") &&
        name_is(c->hdr.p + h->value, h->value_len, "100-continue"))
      c->expect_continue = 1;
  }
  if (c->expect_continue && p->http_major == 1 && p->http_minor >= 1) {
    uv_buf_t b = uv_buf_init("HTTP/1.1 100 Continue\r\n\r\n", 25);
    conn_send(c, &b, 1);
  }
  c->in_trailers = 1;
  return pause_for_check(p, PZ_HEAD);
}

static int cb_chunk_header(http_parser *p) {
  return pause_for_check(p, PZ_CHUNK_HEAD);
}

static int cb_chunk_complete(http_parser *p) {
  return pause_for_check(p, PZ_CHUNK_DONE);
}

static int cb_body(http_parser *p, const char *at, size_t n) {
  conn *c = p->data;
  if (c->body.len + n > c->s->max_body) {
    c->err_status = 413;
    return -1;
  }
  return sbuf_add(&c->body, at, n) ? (c->err_status = 500, -1) : 0;
}

static int cb_message_complete(http_parser *p) {
  conn *c = p->data;
  c->in_message = 0;
  c->keep_alive = http_should_keep_alive(p) && !p->upgrade;
  c->http_major = p->http_major;
  c->http_minor = p->http_minor;
  c->method = p->method;
  c->head_only = p->method == HTTP_HEAD;
  return pause_for_check(p, PZ_MESSAGE);
}

static const http_parser_settings settings = {
  .on_message_begin = cb_message_begin,
  .on_url = cb_url,
  .on_header_field = cb_header_field,
  .on_header_value = cb_header_value,
  .on_headers_complete = cb_headers_complete,
  .on_body = cb_body,
  .on_message_complete = cb_message_complete,
  .on_chunk_header = cb_chunk_header,
  .on_chunk_complete = cb_chunk_complete,
};

/* (in a protected call on the main state) spawn the handler task */
static int spawn_handler(lua_State *L) {
  conn *c = lua_touserdata(L, 1);
  lua_rawgeti(L, LUA_REGISTRYINDEX, c->s->driver_ref);
  exchange *ex = lua_newuserdatauv(L, sizeof *ex, 0);
  ex->c = NULL;
  luaL_setmetatable(L, EXCHANGE_MT);
  sw_task *t = sw_spawn(L, 2, 1);
  c->task_ref = luaL_ref(L, LUA_REGISTRYINDEX);
  c->task = t;
  ex->c = c;
  c->ex = ex;
  return 0;
}

static void start_request(conn *c) {
  lua_State *L = sw_main_state();
  c->state = C_HANDLING;
  c->resp = R_NONE;
  c->framing = FR_LENGTH;
  c->s->requests++;
  uv_timer_stop(&c->timer);
  if (c->s->closing) c->keep_alive = 0;
  /* the program is ending: a new task would not be cancelled with the rest */
  if (sw_sched_stopping() || !lua_checkstack(L, 8)) {
    conn_fail(c, 503);
    return;
  }
  lua_pushcfunction(L, spawn_handler);
  lua_pushlightuserdata(L, c);
  if (lua_pcall(L, 1, 0, 0) != LUA_OK) {
    lua_pop(L, 1);
    if (c->task) {  /* spawned, but could not be linked: let it find nothing */
      conn_detach(c);
    }
    conn_fail(c, 500);
  }
}

/* The parser paused after consuming n bytes of c->in (c->last updated):
 * are the line ends at that point CR LF (see pause_for_check)? */
static int framing_ok(conn *c, size_t n) {
  const char *next = n < c->in.len ? c->in.p + n : NULL;
  switch (c->paused_by) {
  case PZ_HEAD:  /* at the CR of the empty line; its LF comes next */
    return next && *next == '\n';
  case PZ_CHUNK_HEAD:  /* the chunk-size line's LF consumed */
    return c->last[1] == '\n';
  case PZ_CHUNK_DONE:
    if (c->parser.flags & F_TRAILING)  /* the end of the trailers: as PZ_HEAD */
      return next && *next == '\n';
    return c->last[0] == '\r' && c->last[1] == '\n';  /* after a chunk's data */
  default:
    return 1;
  }
}

/* Parse what is buffered in c->in, up to the end of one request. */
static void conn_parse(conn *c) {
  while (!c->closed && c->state == C_READING && c->in.len > 0) {
    size_t n = http_parser_execute(&c->parser, &settings, c->in.p, c->in.len);
    enum http_errno e = HTTP_PARSER_ERRNO(&c->parser);
    if (n > c->in.len) n = c->in.len;
    if (n >= 2) {
      c->last[0] = c->in.p[n - 2];
      c->last[1] = c->in.p[n - 1];
    } else if (n == 1) {
      c->last[0] = c->last[1];
      c->last[1] = c->in.p[0];
    }
    int checkpoint = e == HPE_PAUSED && c->paused_by != PZ_MESSAGE;
    if (checkpoint && !framing_ok(c, n)) {
      c->in.len = 0;
      conn_fail(c, 400);
      return;
    }
    memmove(c->in.p, c->in.p + n, c->in.len - n);
    c->in.len -= n;
    if (checkpoint) {
      http_parser_pause(&c->parser, 0);
      continue;
    }
    if (e == HPE_PAUSED) {
      start_request(c);
      return;
    }
    if (e != HPE_OK) {
      int status = c->err_status ? c->err_status
                 : e == HPE_HEADER_OVERFLOW ? 431 : 400;
      c->in.len = 0;
      conn_fail(c, status);
      return;
    }
    if (c->in.len > 0) {  /* stopped without an error: an upgrade etc. */
      conn_fail(c, 400);
      return;
    }
  }
  if (c->in.cap > 4 * 65536 && c->in.len == 0) sbuf_free(&c->in);
}

static void on_uv_alloc(uv_handle_t *h, size_t suggested, uv_buf_t *buf) {
  (void)h;
  (void)suggested;
  buf->base = read_buf;
  buf->len = sizeof read_buf;
}

static void on_uv_read(uv_stream_t *st, ssize_t nread, const uv_buf_t *buf) {
  conn *c = st->data;
  if (c->closed) return;
  if (nread < 0) {  /* EOF or an error: the client has gone */
    conn_close(c, 1);
    return;
  }
  if (nread == 0) return;
  if (c->state == C_CLOSING) return;  /* lingering: discard */
  if (sbuf_add(&c->in, buf->base, (size_t)nread)) {
    conn_fail(c, 500);
    return;
  }
  if (c->state == C_HANDLING) {
    if (c->in.len > MAX_BACKLOG) {
      uv_read_stop(st);
      c->reading = 0;
    }
    return;
  }
  /* a new request starts: it has idle_ms to arrive completely */
  if (!c->in_message && c->in.len == (size_t)nread)
    sw_timer_start(&c->timer, on_uv_timer, c->s->idle_ms, 0);
  conn_parse(c);
}

/* The response is done and the connection stays: next request. */
static void conn_next(conn *c) {
  if (c->closed || c->state == C_CLOSING) return;
  c->state = C_READING;
  c->resp = R_NONE;
  http_parser_pause(&c->parser, 0);
  if (c->s->closing) {
    conn_end_gracefully(c);
    return;
  }
  sw_timer_start(&c->timer, on_uv_timer, c->s->idle_ms, 0);
  if (!c->reading) {
    if (uv_read_start((uv_stream_t *)&c->tcp, on_uv_alloc, on_uv_read) < 0) {
      conn_close(c, 1);
      return;
    }
    c->reading = 1;
  }
  conn_parse(c);
}

/* ---- the server ------------------------------------------------------------ */

static void on_uv_connection(uv_stream_t *ls, int status) {
  server *s = ls->data;
  if (status < 0 || s->closing) return;
  conn *c = calloc(1, sizeof *c);
  if (c == NULL) return;
  c->s = s;
  c->task_ref = LUA_NOREF;
  uv_tcp_init(sw_loop(), &c->tcp);
  uv_timer_init(sw_loop(), &c->timer);
  c->tcp.data = c;
  c->timer.data = c;
  c->nhandles = 2;
  s->nconns++;
  c->refused = s->nserved >= s->max_conns;
  if (c->refused) s->nrefusing++; else s->nserved++;
  c->next = s->conns;
  if (s->conns) s->conns->prev = c;
  s->conns = c;
  if (uv_accept(ls, (uv_stream_t *)&c->tcp) < 0) {
    conn_close(c, 0);
    return;
  }
  uv_tcp_nodelay(&c->tcp, 1);
  struct sockaddr_storage sa;
  int salen = sizeof sa;
  if (uv_tcp_getpeername(&c->tcp, (struct sockaddr *)&sa, &salen) == 0) {
    char ip[48] = "";
    int port = 0;
    if (sa.ss_family == AF_INET6) {
      uv_ip6_name((struct sockaddr_in6 *)&sa, ip, sizeof ip);
      port = ntohs(((struct sockaddr_in6 *)&sa)->sin6_port);
      snprintf(c->peer, sizeof c->peer, "[%s]:%d", ip, port);
    } else {
      uv_ip4_name((struct sockaddr_in *)&sa, ip, sizeof ip);
      port = ntohs(((struct sockaddr_in *)&sa)->sin_port);
      snprintf(c->peer, sizeof c->peer, "%s:%d", ip, port);
    }
  }
  http_parser_init(&c->parser, HTTP_REQUEST);
  c->parser.data = c;
  c->state = C_READING;
  sw_timer_start(&c->timer, on_uv_timer, s->idle_ms, 0);
  if (uv_read_start((uv_stream_t *)&c->tcp, on_uv_alloc, on_uv_read) < 0) {
    conn_close(c, 0);
    return;
  }
  c->reading = 1;
  if (c->refused) {  /* over max_connections: 503, then close */
    s->refused++;
    if (s->nrefusing > MAX_REFUSING) conn_close(c, 0);
    else conn_fail(c, 503);
  }
}

static void on_uv_listener_closed(uv_handle_t *h) {
  server *s = h->data;
  s->listener_closed = 1;
  server_maybe_free(s);
}

/* Stop accepting; close connections that have no request in flight. */
static void server_close(server *s) {
  if (s->closing) return;
  s->closing = 1;
  lua_State *L = sw_main_state();
  luaL_unref(L, LUA_REGISTRYINDEX, s->self_ref);
  luaL_unref(L, LUA_REGISTRYINDEX, s->driver_ref);
  s->self_ref = s->driver_ref = LUA_NOREF;
  uv_close((uv_handle_t *)&s->tcp, on_uv_listener_closed);
  for (conn *c = s->conns, *next; c; c = next) {
    next = c->next;
    if (c->state == C_READING) conn_close(c, 1);
  }
}

static void on_shutdown(void *arg) {
  (void)arg;
  hook_armed = 0;
  for (server *s = all_servers; s; s = s->next_all) {
    server_close(s);
    for (conn *c = s->conns, *next; c; c = next) {
      next = c->next;
      conn_close(c, 1);
    }
  }
}

static server *check_server(lua_State *L) {
  server **p = luaL_checkudata(L, 1, SERVER_MT);
  if (*p == NULL) luaL_error(L, "attempt to use a closed server");
  return *p;
}

static lua_Integer opt_field(lua_State *L, int idx, const char *name, lua_Integer def,
                             lua_Integer max) {
  lua_Integer v = def;
  if (lua_getfield(L, idx, name) != LUA_TNIL) {
    int ok;
    v = lua_tointegerx(L, -1, &ok);
    if (!ok || v <= 0 || v > max)
      luaL_error(L, "option '%s' must be a positive integer (at most %I)", name, max);
  }
  lua_pop(L, 1);
  return v;
}

/* srv, port = listen(host, port, driver, opts) */
static int l_listen(lua_State *L) {
  const char *host = luaL_checkstring(L, 1);
  lua_Integer port = luaL_checkinteger(L, 2);
  struct sockaddr_storage sa;
  int r;
  luaL_argcheck(L, port >= 0 && port <= 65535, 2, "port must be 0..65535");
  luaL_checktype(L, 3, LUA_TFUNCTION);
  luaL_checktype(L, 4, LUA_TTABLE);
  if (strchr(host, ':')) r = uv_ip6_addr(host, (int)port, (struct sockaddr_in6 *)&sa);
  else r = uv_ip4_addr(host, (int)port, (struct sockaddr_in *)&sa);
  if (r < 0) return luaL_argerror(L, 1, "not a numeric IP address");
  size_t max_body = (size_t)opt_field(L, 4, "max_body", DEFAULT_MAX_BODY, (lua_Integer)1 << 40);
  size_t max_header = (size_t)opt_field(L, 4, "max_header", DEFAULT_MAX_HEADER, 64 << 10);
  lua_Integer idle = opt_field(L, 4, "idle_ms", DEFAULT_IDLE_MS, 86400000);
  lua_Integer max_conns = DEFAULT_MAX_CONNECTIONS;
  struct rlimit rl;
  if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur != RLIM_INFINITY &&
      rl.rlim_cur / 2 < (rlim_t)max_conns)
    max_conns = rl.rlim_cur / 2 > 16 ? (lua_Integer)(rl.rlim_cur / 2) : 16;
  max_conns = opt_field(L, 4, "max_connections", max_conns, 1 << 20);

  server **ud = lua_newuserdatauv(L, sizeof *ud, 0);
  *ud = NULL;
  luaL_setmetatable(L, SERVER_MT);
  server *s = calloc(1, sizeof *s);
  if (s == NULL) return luaL_error(L, "not enough memory");
  s->self_ref = s->driver_ref = LUA_NOREF;
  s->max_body = max_body;
  s->max_header = max_header;
  s->idle_ms = (uint64_t)idle;
  s->max_conns = (int)max_conns;
  uv_tcp_init(sw_loop(), &s->tcp);
  s->tcp.data = s;
  *ud = s;
  s->udp = ud;
  s->next_all = all_servers;
  all_servers = s;
  r = uv_tcp_bind(&s->tcp, (struct sockaddr *)&sa, 0);
  if (r == 0) r = uv_listen((uv_stream_t *)&s->tcp, 511, on_uv_connection);
  if (r < 0) {
    s->closing = 1;
    uv_close((uv_handle_t *)&s->tcp, on_uv_listener_closed);
    return sw_raise_uv(L, r, "cannot listen on %s port %d", host, (int)port);
  }
  int salen = sizeof sa;
  uv_tcp_getsockname(&s->tcp, (struct sockaddr *)&sa, &salen);
  int bound = ntohs(sa.ss_family == AF_INET6 ? ((struct sockaddr_in6 *)&sa)->sin6_port
                                             : ((struct sockaddr_in *)&sa)->sin_port);
  lua_pushvalue(L, 3);
  s->driver_ref = luaL_ref(L, LUA_REGISTRYINDEX);
  lua_pushvalue(L, -1);
  s->self_ref = luaL_ref(L, LUA_REGISTRYINDEX);
  if (!hook_armed) {
    hook_armed = 1;
    sw_at_shutdown(on_shutdown, NULL);
  }
  lua_pushinteger(L, bound);
  return 2;
}

/* tasks = close(srv) */
static int l_close(lua_State *L) {
  server **p = luaL_checkudata(L, 1, SERVER_MT);
  sw_task *self = sw_current_task(L);
  int i = 0;
  lua_newtable(L);
  if (*p == NULL) return 1;
  server_close(*p);
  for (conn *c = (*p)->conns; c; c = c->next) {
    if (c->task && c->task != self && c->task_ref != LUA_NOREF) {
      lua_rawgeti(L, LUA_REGISTRYINDEX, c->task_ref);
      lua_rawseti(L, -2, ++i);
    }
  }
  return 1;
}

/* abort_all(srv) */
static int l_abort_all(lua_State *L) {
  server **p = luaL_checkudata(L, 1, SERVER_MT);
  sw_task *self = sw_current_task(L);
  if (*p == NULL) return 0;
  server_close(*p);
  for (conn *c = (*p)->conns, *next; c; c = next) {
    next = c->next;
    if (c->task == self && self != NULL) c->keep_alive = 0;
    else if (c->state != C_CLOSING) conn_close(c, 1);
    else if (!c->shut_done)  /* still flushing a finished answer: not for ever */
      sw_timer_start(&c->timer, on_uv_timer, LINGER_MS, 0);
  }
  return 0;
}

static int l_stats(lua_State *L) {
  server *s = check_server(L);
  int inflight = 0, conns = 0;
  for (conn *c = s->conns; c; c = c->next) {
    conns++;
    if (c->state == C_HANDLING) inflight++;
  }
  lua_createtable(L, 0, 4);
  lua_pushinteger(L, conns);
  lua_setfield(L, -2, "connections");
  lua_pushinteger(L, s->nconns);
  lua_setfield(L, -2, "allocated");
  lua_pushinteger(L, inflight);
  lua_setfield(L, -2, "inflight");
  lua_pushinteger(L, s->requests);
  lua_setfield(L, -2, "requests");
  lua_pushinteger(L, s->refused);
  lua_setfield(L, -2, "refused");
  return 1;
}

static int server_gc(lua_State *L) {
  server **p = luaL_checkudata(L, 1, SERVER_MT);
  server *s = *p;
  if (s == NULL) return 0;
  s->udp = NULL;
  *p = NULL;
  if (sw_loop_alive()) {
    server_close(s);
    for (conn *c = s->conns, *next; c; c = next) {
      next = c->next;
      conn_close(c, 1);
    }
  }
  return 0;
}

/* ---- files (for serve_files) ----------------------------------------------- */

/* path = realpath(p) or nil */
static int l_realpath(lua_State *L) {
  const char *p = luaL_checkstring(L, 1);
  char *r = realpath(p, NULL);
  if (r == NULL) return 0;
  lua_pushstring(L, r);
  free(r);
  return 1;
}

/* st = stat(p) or nil: {type="file"|"directory"|"other", size, mtime, mtime_ns} */
static int l_stat(lua_State *L) {
  struct stat st;
  if (stat(luaL_checkstring(L, 1), &st) != 0) return 0;
  lua_createtable(L, 0, 4);
  lua_pushstring(L, S_ISREG(st.st_mode) ? "file" : S_ISDIR(st.st_mode) ? "directory" : "other");
  lua_setfield(L, -2, "type");
  lua_pushinteger(L, (lua_Integer)st.st_size);
  lua_setfield(L, -2, "size");
  lua_pushinteger(L, (lua_Integer)st.st_mtim.tv_sec);
  lua_setfield(L, -2, "mtime");
  lua_pushinteger(L, (lua_Integer)st.st_mtim.tv_nsec);
  lua_setfield(L, -2, "mtime_ns");
  return 1;
}

int luaopen_slipway_server_core(lua_State *L) {
  static const luaL_Reg fns[] = {
    {"listen", l_listen}, {"close", l_close}, {"abort_all", l_abort_all},
    {"stats", l_stats}, {"request", l_request}, {"respond", l_respond},
    {"start", l_start}, {"write", l_write}, {"finish", l_finish},
    {"sendfile", l_sendfile},
    {"abort", l_abort}, {"state", l_state}, {"release", l_release},
    {"realpath", l_realpath}, {"stat", l_stat}, {NULL, NULL}};
  if (luaL_newmetatable(L, SERVER_MT)) {
    lua_pushcfunction(L, server_gc);
    lua_setfield(L, -2, "__gc");
  }
  lua_pop(L, 1);
  if (luaL_newmetatable(L, EXCHANGE_MT)) {
    lua_pushcfunction(L, exchange_gc);
    lua_setfield(L, -2, "__gc");
    lua_pushcfunction(L, l_release);
    lua_setfield(L, -2, "__close");
  }
  lua_pop(L, 1);
  luaL_newlib(L, fns);
  return 1;
}
