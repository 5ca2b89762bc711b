/*
 * digest.c -- slipway.digest.core: SHA-256 on GNU Nettle.
 *
 * Nettle is NOT linked: it is loaded with dlopen("libnettle.so.8", Debian's
 * libnettle8) the first time a digest is asked for, and the few functions
 * used are resolved into the table `N` below (sw_dl_load, as http.c loads
 * libcurl). Start-up maps no further library, and nothing of Nettle (LGPL-3+
 * or GPL-2+) is inside slipway's binary: nettle-dev's headers give only the
 * types (struct sha256_ctx) and sizes. Debian builds Nettle "fat": when it is
 * loaded it picks the fastest code for the CPU (the x86-64 SHA extensions
 * where there are). The Lua layer is scripts/slipway/digest.lua.
 *
 *   hex = sha256(s)           64 lowercase hex digits of the string s
 *   hex = sha256_file(path)   the same of a file's content, read in chunks
 *                             (never whole in memory); `nil, CODE, STRERROR`
 *                             when it cannot be read, CODE the errno name
 *                             ("ENOENT"), as fs.c reports failures
 *   info = version()          {version = "3.8"}: Nettle's (loads it)
 *   loaded()                  whether Nettle is loaded yet
 *
 * A Nettle that cannot be loaded raises a structured error, code
 * "unavailable": "digest: cannot load Nettle (...); install Debian's
 * libnettle8 package" (SLIPWAY_LIBNETTLE names another file: tests name a
 * missing one). Both digests run on the calling task without yielding, as
 * fs.c's reads do.
 */
#include "slipway.h"

#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <string.h>
#include <unistd.h>

#include <nettle/sha2.h>
#include <nettle/version.h>

/* ---- Nettle, loaded on first use ---------------------------------------- */

typedef void init_fn(struct sha256_ctx *);
typedef void update_fn(struct sha256_ctx *, size_t, const uint8_t *);
typedef void digest_fn(struct sha256_ctx *, size_t, uint8_t *);
typedef int version_fn(void);

/* the types are sha2.h's and version.h's prototypes: checked by the compiler
 * (an unevaluated _Generic names the functions without linking them) */
#define SAME_TYPE(fn, type) \
  _Static_assert(_Generic(&fn, type *: 1, default: 0), #fn " is not a " #type)
SAME_TYPE(nettle_sha256_init, init_fn);
SAME_TYPE(nettle_sha256_update, update_fn);
SAME_TYPE(nettle_sha256_digest, digest_fn);
SAME_TYPE(nettle_version_major, version_fn);
SAME_TYPE(nettle_version_minor, version_fn);

static struct {
  void *dl;
  init_fn *init;
  update_fn *update;
  digest_fn *digest;
  version_fn *version_major, *version_minor;
} N;

static int nettle_state;  /* 0 not loaded, 1 loaded, -1 failed */
static char load_error[512];

static void need_nettle(lua_State *L) {
  static const sw_dl_sym syms[] = {
      {&N.init, "nettle_sha256_init"},
      {&N.update, "nettle_sha256_update"},
      {&N.digest, "nettle_sha256_digest"},
      {&N.version_major, "nettle_version_major"},
      {&N.version_minor, "nettle_version_minor"},
      {NULL, NULL}};
  if (nettle_state == 0) {
    N.dl = sw_dl_load("SLIPWAY_LIBNETTLE", "libnettle.so.8", "Nettle", "libnettle8", syms,
                      load_error, sizeof load_error);
    nettle_state = N.dl ? 1 : -1;
  }
  if (nettle_state < 0) sw_raise(L, "unavailable", "digest: %s", load_error);
}

/* bytes read(2) asks for at a time in sha256_file, on the C stack */
#define CHUNK (64 * 1024)

/* finish ctx and push its digest in lowercase hex */
static int push_hex(lua_State *L, struct sha256_ctx *ctx) {
  static const char digits[] = "0123456789abcdef";
  uint8_t d[SHA256_DIGEST_SIZE];
  char hex[2 * SHA256_DIGEST_SIZE];
  N.digest(ctx, sizeof d, d);
  for (size_t i = 0; i < sizeof d; i++) {
    hex[2 * i] = digits[d[i] >> 4];
    hex[2 * i + 1] = digits[d[i] & 15];
  }
  lua_pushlstring(L, hex, sizeof hex);
  return 1;
}

/* hex = sha256(s) */
static int l_sha256(lua_State *L) {
  size_t len;
  const char *s = luaL_checklstring(L, 1, &len);
  struct sha256_ctx ctx;
  need_nettle(L);
  N.init(&ctx);
  N.update(&ctx, len, (const uint8_t *)s);
  return push_hex(L, &ctx);
}

/* nil, "EXXX", "strerror" for the Lua layer (fs.c's convention) */
static int fail(lua_State *L, int err) {
  lua_pushnil(L);
  lua_pushstring(L, uv_err_name(-err));
  lua_pushstring(L, strerror(err));
  return 3;
}

/* hex = sha256_file(path). A directory fails with EISDIR (read(2) says so). */
static int l_sha256_file(lua_State *L) {
  const char *path = luaL_checkstring(L, 1);
  uint8_t buf[CHUNK];
  struct sha256_ctx ctx;
  need_nettle(L);
  int fd = open(path, O_RDONLY | O_CLOEXEC);
  if (fd < 0) return fail(L, errno);
  N.init(&ctx);
  for (;;) {
    ssize_t r = sw_read(fd, buf, sizeof buf);
    if (r < 0) {
      int e = errno;
      close(fd);
      return fail(L, e);
    }
    if (r == 0) break;
    N.update(&ctx, (size_t)r, buf);
  }
  close(fd);
  return push_hex(L, &ctx);
}

/* {version = "3.8"}: Nettle says major.minor only */
static int l_version(lua_State *L) {
  need_nettle(L);
  lua_createtable(L, 0, 1);
  lua_pushfstring(L, "%d.%d", N.version_major(), N.version_minor());
  lua_setfield(L, -2, "version");
  return 1;
}

static int l_loaded(lua_State *L) {
  lua_pushboolean(L, nettle_state == 1);
  return 1;
}

int luaopen_slipway_digest_core(lua_State *L) {
  static const luaL_Reg fns[] = {
      {"sha256", l_sha256}, {"sha256_file", l_sha256_file}, {"version", l_version},
      {"loaded", l_loaded}, {NULL, NULL}};
  luaL_newlib(L, fns);
  return 1;
}
