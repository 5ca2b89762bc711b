/*
 * error.c -- structured errors and the one place secrets are redacted.
 *
 * Lua API (slipway.core, wrapped by slipway.errors / slipway.env / slipway.log):
 *   err = core.error(code, message [, fields])  a structured error (not raised)
 *   core.raise(code, message [, fields])        raise one, with file:line of the caller
 *   core.is_error(v)                            true for a structured error
 *   core.secret(value)                          register a secret; returns value
 *   s = core.redact(s)                          s with every secret as "***"
 *   s = core.utf8(s)                            s as valid UTF-8 (bad bytes U+FFFD)
 *   s = core.escape(s [, newline])              s safe for a terminal (\n, \x1b...)
 *   core.where(level)                           "file:line:" of a user frame
 *   core.embedded(path), core.embedded_list(prefix)   see embed.c
 */
#include "slipway.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define ERROR_MT "slipway.error"

typedef struct {
  char *s;
  size_t len;
} secret;

static secret *secrets;
static size_t nsecrets, capsecrets;

void *sw_xmalloc(lua_State *L, size_t n) {
  void *p = malloc(n ? n : 1);
  if (p == NULL) luaL_error(L, "not enough memory");
  return p;
}

/* ---- secrets ------------------------------------------------------------ */

static void secret_add_one(const char *s, size_t len) {
  if (len == 0) return;
  for (size_t i = 0; i < nsecrets; i++)
    if (secrets[i].len == len && memcmp(secrets[i].s, s, len) == 0) return;
  if (nsecrets == capsecrets) {
    size_t cap = capsecrets ? capsecrets * 2 : 8;
    secret *p = realloc(secrets, cap * sizeof *p);
    if (p == NULL) abort();  /* cannot promise redaction: stop, loudly */
    secrets = p;
    capsecrets = cap;
  }
  char *copy = malloc(len);
  if (copy == NULL) abort();
  memcpy(copy, s, len);
  /* keep longest first, so a secret containing another is masked whole */
  size_t i = nsecrets++;
  while (i > 0 && secrets[i - 1].len < len) { secrets[i] = secrets[i - 1]; i--; }
  secrets[i].s = copy;
  secrets[i].len = len;
}

/* A multi-line secret is also registered line by line (lines of
 * SW_SECRET_MIN bytes or more, a trailing CR dropped): a child's output read
 * line by line, or a tail cut at a line, shows it one line at a time. */
void sw_secret_add(const char *s, size_t len) {
  secret_add_one(s, len);
  const char *nl = memchr(s, '\n', len);
  if (nl == NULL) return;
  for (const char *p = s, *end = s + len; p < end;) {
    const char *e = memchr(p, '\n', (size_t)(end - p));
    size_t n = (size_t)((e ? e : end) - p);
    size_t m = n > 0 && p[n - 1] == '\r' ? n - 1 : n;
    if (m >= SW_SECRET_MIN) secret_add_one(p, m);
    p += n + 1;
  }
}

/* Masking: a secret of SW_SECRET_MIN bytes or more is masked wherever it
 * occurs; a shorter one ("ok", "true", "1") only when it is the whole
 * string -- as a substring it would mask ordinary words and, worse, the
 * syntax of whatever text it is part of. */
void sw_redact_push(lua_State *L, const char *s, size_t len) {
  luaL_Buffer b;
  size_t i = 0, start = 0;
  if (nsecrets == 0) { lua_pushlstring(L, s, len); return; }
  for (size_t k = 0; k < nsecrets; k++)
    if (secrets[k].len == len && memcmp(s, secrets[k].s, len) == 0) {
      lua_pushliteral(L, "***");
      return;
    }
  luaL_buffinit(L, &b);
  while (i < len) {
    size_t k;
    for (k = 0; k < nsecrets && secrets[k].len >= SW_SECRET_MIN; k++) {
      const secret *x = &secrets[k];
      if (x->len <= len - i && s[i] == x->s[0] && memcmp(s + i, x->s, x->len) == 0)
        break;
    }
    if (k < nsecrets && secrets[k].len >= SW_SECRET_MIN) {
      luaL_addlstring(&b, s + start, i - start);
      luaL_addstring(&b, "***");
      i += secrets[k].len;
      start = i;
    } else {
      i++;
    }
  }
  luaL_addlstring(&b, s + start, len - start);
  luaL_pushresult(&b);
}

size_t sw_secret_cut(const char *s, size_t len, int at_end) {
  size_t best = 0;
  for (size_t k = 0; k < nsecrets && secrets[k].len >= SW_SECRET_MIN; k++) {
    const secret *x = &secrets[k];
    size_t n = x->len - 1 < len ? x->len - 1 : len;  /* a proper part */
    for (; n > best; n--) {
      if (at_end ? memcmp(s + len - n, x->s, n) == 0
                 : memcmp(s, x->s + x->len - n, n) == 0) {
        best = n;
        break;
      }
    }
  }
  return best;
}

static void free_secrets(void) {
  for (size_t i = 0; i < nsecrets; i++) free(secrets[i].s);
  free(secrets);
  secrets = NULL;
  nsecrets = capsecrets = 0;
}

/* ---- structured errors -------------------------------------------------- */

/* "file:line: " of the first frame outside slipway's own library; nothing
 * when there is none (a standard command: the message names its subject). */
static void push_where(lua_State *L, int level) {
  lua_Debug ar;
  for (int lv = level; lua_getstack(L, lv, &ar); lv++) {
    if (!lua_getinfo(L, "Sl", &ar) || ar.currentline <= 0) continue;
    if (strncmp(ar.source, "=[slipway]", 10) != 0) {
      lua_pushfstring(L, "%s:%d: ", ar.short_src, ar.currentline);
      return;
    }
  }
  lua_pushliteral(L, "");
}

/* Push the formatted message, whatever its length (a command's stderr tail
 * can be long), redacted. */
static void push_vformat(lua_State *L, const char *fmt, va_list ap) {
  char small[512];
  va_list copy;
  va_copy(copy, ap);
  int n = vsnprintf(small, sizeof small, fmt, copy);
  va_end(copy);
  if (n < 0) {
    lua_pushstring(L, fmt);
  } else if ((size_t)n < sizeof small) {
    sw_redact_push(L, small, (size_t)n);
  } else {
    luaL_Buffer b;
    char *p = luaL_buffinitsize(L, &b, (size_t)n + 1);
    vsnprintf(p, (size_t)n + 1, fmt, ap);
    luaL_pushresultsize(&b, (size_t)n);
    size_t len;
    const char *s = lua_tolstring(L, -1, &len);
    sw_redact_push(L, s, len);
    lua_remove(L, -2);
  }
}

static void push_error_v(lua_State *L, const char *code, int where,
                         const char *fmt, va_list ap) {
  lua_createtable(L, 0, 3);
  if (where) push_where(L, 1);
  push_vformat(L, fmt, ap);
  if (where) lua_concat(L, 2);
  lua_setfield(L, -2, "message");
  lua_pushstring(L, code);
  lua_setfield(L, -2, "code");
  luaL_setmetatable(L, ERROR_MT);
}

void sw_error_push(lua_State *L, const char *code, const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  push_error_v(L, code, 0, fmt, ap);
  va_end(ap);
}

int sw_raise(lua_State *L, const char *code, const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  push_error_v(L, code, 1, fmt, ap);
  va_end(ap);
  return lua_error(L);
}

int sw_raise_uv(lua_State *L, int uverr, const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  push_vformat(L, fmt, ap);
  va_end(ap);
  return sw_raise(L, uv_err_name(uverr), "%s: %s", lua_tostring(L, -1),
                  uv_strerror(uverr));
}

/* err = core.error(code, message [, fields]) */
static int l_error(lua_State *L) {
  size_t len;
  const char *code = luaL_checkstring(L, 1);
  const char *msg = luaL_checklstring(L, 2, &len);
  lua_createtable(L, 0, 4);
  if (lua_istable(L, 3)) {
    lua_pushnil(L);
    while (lua_next(L, 3)) {
      lua_pushvalue(L, -2);
      lua_insert(L, -2);
      lua_settable(L, -4);
    }
  }
  sw_redact_push(L, msg, len);
  lua_setfield(L, -2, "message");
  lua_pushstring(L, code);
  lua_setfield(L, -2, "code");
  luaL_setmetatable(L, ERROR_MT);
  return 1;
}

/* core.raise(code, message [, fields [, level]]) */
static int l_raise(lua_State *L) {
  int level = (int)luaL_optinteger(L, 4, 1);
  lua_settop(L, 3);
  l_error(L);
  push_where(L, level);
  lua_getfield(L, -2, "message");
  lua_concat(L, 2);
  lua_setfield(L, -2, "message");
  return lua_error(L);
}

static int l_is_error(lua_State *L) {
  int r = 0;
  if (lua_getmetatable(L, 1)) {
    luaL_getmetatable(L, ERROR_MT);
    r = lua_rawequal(L, -1, -2);
  }
  lua_pushboolean(L, r);
  return 1;
}

static int l_secret(lua_State *L) {
  size_t len;
  const char *s = luaL_checklstring(L, 1, &len);
  sw_secret_add(s, len);
  lua_settop(L, 1);
  return 1;
}

static int l_redact(lua_State *L) {
  size_t len;
  const char *s = luaL_checklstring(L, 1, &len);
  sw_redact_push(L, s, len);
  return 1;
}

/* ---- text from outside: UTF-8 and control characters -------------------- */

/* Length of the valid UTF-8 sequence at s (RFC 3629: no overlong forms, no
 * surrogates, nothing past U+10FFFF), or 0. *cp gets the code point. */
static size_t utf8_seq(const unsigned char *s, size_t len, unsigned *cp) {
  unsigned c = s[0];
  size_t n;
  unsigned min;
  if (c < 0x80) { *cp = c; return 1; }
  if (c >= 0xC2 && c <= 0xDF) { n = 2; c &= 0x1F; min = 0x80; }
  else if (c >= 0xE0 && c <= 0xEF) { n = 3; c &= 0x0F; min = 0x800; }
  else if (c >= 0xF0 && c <= 0xF4) { n = 4; c &= 0x07; min = 0x10000; }
  else return 0;
  if (n > len) return 0;
  for (size_t i = 1; i < n; i++) {
    if ((s[i] & 0xC0) != 0x80) return 0;
    c = (c << 6) | (s[i] & 0x3F);
  }
  if (c < min || c > 0x10FFFF || (c >= 0xD800 && c <= 0xDFFF)) return 0;
  *cp = c;
  return n;
}

/* s = core.utf8(s): every byte that is not part of valid UTF-8 becomes
 * U+FFFD, so strict JSON readers take what the journal writes. */
static int l_utf8(lua_State *L) {
  size_t len, i = 0, start = 0;
  const unsigned char *s = (const unsigned char *)luaL_checklstring(L, 1, &len);
  luaL_Buffer b;
  luaL_buffinit(L, &b);
  while (i < len) {
    unsigned cp;
    size_t n = utf8_seq(s + i, len - i, &cp);
    if (n) { i += n; continue; }
    luaL_addlstring(&b, (const char *)s + start, i - start);
    luaL_addstring(&b, "\xEF\xBF\xBD");
    start = ++i;
  }
  if (start == 0) { lua_settop(L, 1); return 1; }  /* valid already */
  luaL_addlstring(&b, (const char *)s + start, len - start);
  luaL_pushresult(&b);
  return 1;
}

/* s = core.escape(s [, newline]): s with nothing a terminal would act on.
 * Control characters (C0 but TAB, DEL, the C1 range) are written as \n, \r
 * or \xNN (\u{NN} for C1 code points), the line and paragraph separators
 * and the bidirectional controls (U+061C, U+200E-F, U+202A-E, U+2066-9) as
 * \u{NNNN}, bytes that are not UTF-8 as \xNN;
 * a newline becomes `newline` when given (a message's continuation: "\n  "),
 * else \n. Printable text, TAB and backslashes are left as they are. */
static int l_escape(lua_State *L) {
  size_t len, nllen = 0, i = 0;
  const unsigned char *s = (const unsigned char *)luaL_checklstring(L, 1, &len);
  const char *nl = luaL_optlstring(L, 2, NULL, &nllen);
  luaL_Buffer b;
  luaL_buffinit(L, &b);
  while (i < len) {
    unsigned cp;
    size_t n = utf8_seq(s + i, len - i, &cp);
    char esc[16];
    if (n == 0) {
      snprintf(esc, sizeof esc, "\\x%02X", s[i]);
      luaL_addstring(&b, esc);
      i++;
    } else if (cp == '\n') {
      if (nl) luaL_addlstring(&b, nl, nllen); else luaL_addstring(&b, "\\n");
      i++;
    } else if (cp == '\r') {
      luaL_addstring(&b, "\\r");
      i++;
    } else if ((cp < 0x20 && cp != '\t') || cp == 0x7F) {
      snprintf(esc, sizeof esc, "\\x%02X", cp);
      luaL_addstring(&b, esc);
      i++;
    } else if (cp >= 0x80 && cp <= 0x9F) {
      snprintf(esc, sizeof esc, "\\u{%02X}", cp);
      luaL_addstring(&b, esc);
      i += n;
    } else if (cp == 0x2028 || cp == 0x2029 || cp == 0x061C || cp == 0x200E || cp == 0x200F ||
               (cp >= 0x202A && cp <= 0x202E) || (cp >= 0x2066 && cp <= 0x2069)) {
      /* line and paragraph separators (a line break to some terminals) and
       * the bidirectional controls, which reorder what follows them on the
       * line ("Trojan Source"): shown, not obeyed */
      snprintf(esc, sizeof esc, "\\u{%04X}", cp);
      luaL_addstring(&b, esc);
      i += n;
    } else {
      luaL_addlstring(&b, (const char *)s + i, n);
      i += n;
    }
  }
  luaL_pushresult(&b);
  return 1;
}

static int l_where(lua_State *L) {
  push_where(L, (int)luaL_optinteger(L, 1, 1) + 1);
  return 1;
}

static int error_tostring(lua_State *L) {
  lua_getfield(L, 1, "message");
  if (!lua_isstring(L, -1)) lua_pushliteral(L, "(error without a message)");
  return 1;
}

static int secrets_gc(lua_State *L) {
  (void)L;
  free_secrets();
  return 0;
}

int luaopen_slipway_core(lua_State *L) {
  static const luaL_Reg fns[] = {
    {"error", l_error}, {"raise", l_raise}, {"is_error", l_is_error},
    {"secret", l_secret}, {"redact", l_redact}, {"where", l_where},
    {"utf8", l_utf8}, {"escape", l_escape},
    {NULL, NULL}};
  if (luaL_newmetatable(L, ERROR_MT)) {
    lua_pushcfunction(L, error_tostring);
    lua_setfield(L, -2, "__tostring");
    lua_pushliteral(L, "slipway.error");
    lua_setfield(L, -2, "__name");
  }
  lua_pop(L, 1);
  luaL_newlib(L, fns);
  sw_embedded_open(L);
  /* free the secret list when the state closes */
  lua_newuserdatauv(L, 1, 0);
  lua_createtable(L, 0, 1);
  lua_pushcfunction(L, secrets_gc);
  lua_setfield(L, -2, "__gc");
  lua_setmetatable(L, -2);
  lua_setfield(L, -2, "_secrets");
  return 1;
}
