/*
 * digest.c -- slipway.digest.core: SHA-256 on GNU Nettle (Debian's
 * nettle-dev, linked statically from libnettle.a unless built with
 * -DSLIPWAY_STATIC_LIBS=OFF). Debian builds Nettle "fat": it picks the
 * fastest code for the CPU once (the x86-64 SHA extensions where there
 * are). The Lua layer is scripts/slipway/digest.lua.
 *
 *   hex = sha256(s)           64 lowercase hex digits of the string s
 *   hex = sha256_file(path)   the same of a file's content, read in chunks
 *                             (never whole in memory); `nil, CODE, STRERROR`
 *                             when it cannot be read, CODE the errno name
 *                             ("ENOENT"), as fs.c reports failures
 *
 * Both run on the calling task without yielding, as fs.c's reads do.
 */
#include "slipway.h"

#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <string.h>
#include <unistd.h>

#include <nettle/base16.h>
#include <nettle/sha2.h>

/* bytes read(2) asks for at a time in sha256_file, on the C stack */
#define CHUNK (64 * 1024)

/* finish ctx and push its digest in lowercase hex */
static int push_hex(lua_State *L, struct sha256_ctx *ctx) {
  uint8_t d[SHA256_DIGEST_SIZE];
  char hex[BASE16_ENCODE_LENGTH(SHA256_DIGEST_SIZE)];
  sha256_digest(ctx, sizeof d, d);
  base16_encode_update(hex, sizeof d, d);
  lua_pushlstring(L, hex, sizeof hex);
  return 1;
}

/* hex = sha256(s) */
static int l_sha256(lua_State *L) {
  size_t len;
  const char *s = luaL_checklstring(L, 1, &len);
  struct sha256_ctx ctx;
  sha256_init(&ctx);
  sha256_update(&ctx, len, (const uint8_t *)s);
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
  int fd = open(path, O_RDONLY | O_CLOEXEC);
  if (fd < 0) return fail(L, errno);
  sha256_init(&ctx);
  for (;;) {
    ssize_t r = read(fd, buf, sizeof buf);
    if (r < 0) {
      if (errno == EINTR) continue;
      int e = errno;
      close(fd);
      return fail(L, e);
    }
    if (r == 0) break;
    sha256_update(&ctx, (size_t)r, buf);
  }
  close(fd);
  return push_hex(L, &ctx);
}

int luaopen_slipway_digest_core(lua_State *L) {
  static const luaL_Reg fns[] = {
      {"sha256", l_sha256}, {"sha256_file", l_sha256_file}, {NULL, NULL}};
  luaL_newlib(L, fns);
  return 1;
}
