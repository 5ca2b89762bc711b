/*
 * fuzz_lua.c -- one libFuzzer binary for the harnesses written in Lua.
 *
 *   fuzz_lua --harness=NAME [libFuzzer options] [corpus...]
 *   (or SLIPWAY_FUZZ_HARNESS=NAME)
 *
 * Boots the Lua state once (fuzz_host.c), loads tests/fuzz/NAME.lua, which
 * returns a function(data), and calls it with each input as the main task,
 * so it may wait (a server, a client). The function catches the errors
 * that bad input legitimately raises; anything that escapes it (an
 * "invariant violated: ..." error, or a Lua runtime error) aborts: libFuzzer
 * reports it and saves the input. libFuzzer ignores options that start
 * with "--", so --harness passes through it.
 *
 * It also gives the Lua harnesses one primitive the library lacks on
 * purpose, a raw TCP client for the server harness:
 *   bytes, err = fuzzhost.exchange(port, data, timeout_ms)
 * connects to 127.0.0.1:port, writes data, and reads until the server
 * closes the connection (err "timeout" when it did not within timeout_ms).
 */
#include "fuzz_host.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int ref_fn;

/* ---- fuzzhost.exchange: the yield recipe of slipway.h ------------------- */

typedef struct {
  sw_wait wait;
  uv_tcp_t tcp;
  uv_timer_t timer;
  uv_connect_t connect;
  uv_write_t write;
  char *out;          /* what was sent (owned) */
  size_t out_len;
  char *in;           /* what was received */
  size_t in_len, in_cap;
  const char *err;    /* NULL: the server closed the connection */
  int done, closing, nclose;
} xop;

static void x_free(uv_handle_t *h) {
  xop *op = h->data;
  if (--op->nclose > 0) return;
  free(op->out);
  free(op->in);
  free(op);
}

static void x_close(xop *op) {
  if (op->closing) return;
  op->closing = 1;
  uv_close((uv_handle_t *)&op->tcp, x_free);
  uv_close((uv_handle_t *)&op->timer, x_free);
}

static void x_finish(xop *op, const char *err) {
  if (op->done) return;
  op->done = 1;
  op->err = err;
  uv_read_stop((uv_stream_t *)&op->tcp);
  uv_timer_stop(&op->timer);
  sw_wait_done(&op->wait);  /* x_push runs next, then closes */
}

static void x_alloc(uv_handle_t *h, size_t suggested, uv_buf_t *buf) {
  xop *op = h->data;
  if (op->in_cap - op->in_len < suggested) {
    size_t cap = op->in_cap * 2 + suggested;
    char *p = realloc(op->in, cap);
    if (p == NULL) {
      buf->base = NULL;
      buf->len = 0;
      return;
    }
    op->in = p;
    op->in_cap = cap;
  }
  buf->base = op->in + op->in_len;
  buf->len = op->in_cap - op->in_len;
}

static void x_read(uv_stream_t *s, ssize_t n, const uv_buf_t *buf) {
  xop *op = s->data;
  (void)buf;
  if (n == UV_EOF || n == UV_ECONNRESET) x_finish(op, NULL);
  else if (n == UV_ENOBUFS) x_finish(op, "out of memory");
  else if (n < 0) x_finish(op, uv_strerror((int)n));
  else op->in_len += (size_t)n;
}

static void x_written(uv_write_t *w, int status) {
  xop *op = w->data;
  /* the server may answer 400 and close before it read everything */
  if (status < 0 && status != UV_EPIPE && status != UV_ECONNRESET && status != UV_ECANCELED)
    x_finish(op, uv_strerror(status));
}

static void x_connected(uv_connect_t *c, int status) {
  xop *op = c->data;
  if (op->done) return;
  if (status < 0) {
    x_finish(op, uv_strerror(status));
    return;
  }
  uv_read_start((uv_stream_t *)&op->tcp, x_alloc, x_read);
  uv_buf_t b = uv_buf_init(op->out, (unsigned)op->out_len);
  op->write.data = op;
  if (op->out_len && uv_write(&op->write, (uv_stream_t *)&op->tcp, &b, 1, x_written) < 0)
    x_finish(op, "write failed");
}

static void x_timeout(uv_timer_t *t) { x_finish(t->data, "timeout"); }

static void x_cancel(sw_wait *w) {
  xop *op = (xop *)w;
  op->done = 1;
  x_close(op);
}

static int x_push(lua_State *L, sw_wait *w) {
  xop *op = (xop *)w;
  lua_pushlstring(L, op->in ? op->in : "", op->in_len);
  if (op->err) lua_pushstring(L, op->err); else lua_pushnil(L);
  x_close(op);
  return 2;
}

static int l_exchange(lua_State *L) {
  lua_Integer port = luaL_checkinteger(L, 1);
  size_t len;
  const char *data = luaL_checklstring(L, 2, &len);
  lua_Integer timeout = luaL_optinteger(L, 3, 10000);
  struct sockaddr_in addr;
  sw_check_yieldable(L, "fuzzhost.exchange");
  xop *op = calloc(1, sizeof *op);
  if (op == NULL || (op->out = malloc(len + 1)) == NULL) {
    free(op);
    return luaL_error(L, "not enough memory");
  }
  memcpy(op->out, data, len);
  op->out_len = len;
  op->wait.cancel = x_cancel;
  op->wait.push = x_push;
  op->tcp.data = op->timer.data = op->connect.data = op;
  op->nclose = 2;
  uv_tcp_init(sw_loop(), &op->tcp);
  uv_timer_init(sw_loop(), &op->timer);
  uv_ip4_addr("127.0.0.1", (int)port, &addr);
  int r = uv_tcp_connect(&op->connect, &op->tcp, (const struct sockaddr *)&addr, x_connected);
  if (r < 0) {
    op->done = 1;
    x_close(op);
    return luaL_error(L, "fuzzhost.exchange: %s", uv_strerror(r));
  }
  sw_timer_start(&op->timer, x_timeout, (uint64_t)timeout, 0);
  return sw_wait_yield(L, &op->wait);
}

static int luaopen_fuzzhost(lua_State *L) {
  static const luaL_Reg fns[] = {{"exchange", l_exchange}, {NULL, NULL}};
  luaL_newlib(L, fns);
  return 1;
}

/* ---- the harness ---------------------------------------------------------- */

static const char *harness_name(int argc, char **argv) {
  for (int i = 1; i < argc; i++)
    if (strncmp(argv[i], "--harness=", 10) == 0) return argv[i] + 10;
  const char *e = getenv("SLIPWAY_FUZZ_HARNESS");
  return e && *e ? e : NULL;
}

static int load_harness(lua_State *L) {
  const char *path = lua_tostring(L, 1);
  luaL_requiref(L, "fuzzhost", luaopen_fuzzhost, 0);
  lua_pop(L, 1);
  if (luaL_loadfilex(L, path, "t") != LUA_OK) return lua_error(L);
  lua_call(L, 0, 1);
  if (!lua_isfunction(L, -1)) return luaL_error(L, "%s must return a function(data)", path);
  return 1;
}

int LLVMFuzzerInitialize(int *argc, char ***argv) {
  const char *name = harness_name(*argc, *argv);
  if (name == NULL) {
    fprintf(stderr, "fuzz_lua: which harness? --harness=NAME (tests/fuzz/NAME.lua) "
            "or SLIPWAY_FUZZ_HARNESS=NAME\n");
    exit(2);
  }
  lua_State *L = fuzz_state();
  lua_pushcfunction(L, load_harness);
  lua_pushfstring(L, "%s/%s.lua", fuzz_dir(), name);
  if (lua_pcall(L, 1, 1, 0) != LUA_OK) {
    fprintf(stderr, "fuzz_lua: %s\n", lua_tostring(L, -1));
    exit(2);
  }
  ref_fn = luaL_ref(L, LUA_REGISTRYINDEX);
  return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  lua_State *L = fuzz_state();
  lua_rawgeti(L, LUA_REGISTRYINDEX, ref_fn);
  lua_pushlstring(L, (const char *)data, size);
  fuzz_run_task(L, 1);
  return 0;
}
