/*
 * yaml.c -- slipway.yaml.core: libyaml bound two ways.
 *
 *   docs, err = core.load(text, opts)   every document of text as Lua values,
 *                                       built straight from libyaml's events
 *                                       (the fast path of yaml.load); big
 *                                       texts parsed on a second thread
 *   n = core.threads()                  parser threads started so far
 *                                       (for the specs)
 *   idx, err = core.index(text, opts)   a node index for lossless edits: every
 *                                       node's kind, style, tag, anchor, value
 *                                       and BYTE positions (libyaml counts
 *                                       characters; converted as we go).
 *   idx:count() idx:node(i) idx:children(i) idx:data(i, opts) idx:docs()
 *   ok, i, j = core.compare(a, b, i0, i1, j1)   a and b equal outside a region
 *   v = core.resolve(s, schema)         a plain scalar's value in a schema
 *   b = core.plain_ok(s, dash)          s may be written unquoted (dash: "-x" too)
 *   s = core.quote(s)                   s as a double-quoted scalar
 *   s = core.read_file(path)            core.write_file(path, data) (atomic)
 *
 * Errors of the input are returned as (nil, {problem=, line=, column=,
 * byte=, ...}) to the Lua layer (scripts/slipway/yaml.lua), which names the
 * file, shows the line with a caret and raises the structured error. Neither
 * builder calls back into Lua code; a userdata with __gc owns the parser, so
 * an error raised by the Lua API (memory) leaks nothing.
 */
#include "slipway.h"

#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <yaml.h>

enum { SCH_HELM, SCH_CORE, SCH_JSON, SCH_FAILSAFE };
enum { R_STR, R_NULL, R_BOOL, R_INT, R_FLOAT, R_BIG };

typedef struct {
  int k;
  int b;
  lua_Integer i;
  double d;
} rval;

#define NULLV() lua_pushlightuserdata(L, NULL) /* lua-cjson's null: yaml.null */

/* ---- scalar resolution --------------------------------------------------- */

static int word_in(const char *s, size_t n, const char *const *words) {
  for (; *words; words++)
    if (strlen(*words) == n && memcmp(*words, s, n) == 0) return 1;
  return 0;
}

static const char *const null_words[] = {"~", "null", "Null", "NULL", NULL};
static const char *const true11[] = {"y", "Y", "yes", "Yes", "YES", "true", "True",
                                     "TRUE", "on", "On", "ON", NULL};
static const char *const false11[] = {"n", "N", "no", "No", "NO", "false", "False",
                                      "FALSE", "off", "Off", "OFF", NULL};
static const char *const true12[] = {"true", "True", "TRUE", NULL};
static const char *const false12[] = {"false", "False", "FALSE", NULL};
static const char *const nan_words[] = {".nan", ".NaN", ".NAN", NULL};
static const char *const inf_words[] = {".inf", ".Inf", ".INF", NULL};

static int isdig(int c) { return c >= '0' && c <= '9'; }

/* [-+]?(\.[0-9]+|[0-9]+(\.[0-9]*)?)([eE][-+]?[0-9]+)? */
static int match_float(const char *s, size_t n, int sign) {
  size_t i = 0, d = 0;
  if (sign && i < n && (s[i] == '-' || s[i] == '+')) i++;
  if (i < n && s[i] == '.') {
    i++;
    while (i < n && isdig(s[i])) i++, d++;
    if (d == 0) return 0;
  } else {
    while (i < n && isdig(s[i])) i++, d++;
    if (d == 0) return 0;
    if (i < n && s[i] == '.') {
      i++;
      while (i < n && isdig(s[i])) i++;
    }
  }
  if (i < n && (s[i] == 'e' || s[i] == 'E')) {
    i++;
    d = 0;
    if (i < n && (s[i] == '-' || s[i] == '+')) i++;
    while (i < n && isdig(s[i])) i++, d++;
    if (d == 0) return 0;
  }
  return i == n;
}

static int digit_val(int c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return 99;
}

/* digits of base in s[0..n): R_INT (into *out), R_BIG on overflow, R_STR if
 * not a number */
static int parse_digits(const char *s, size_t n, int base, int neg, lua_Integer *out) {
  unsigned long long v = 0, lim = neg ? (unsigned long long)INT64_MAX + 1 : INT64_MAX;
  int big = 0;
  if (n == 0) return R_STR;
  for (size_t i = 0; i < n; i++) {
    int dv = digit_val((unsigned char)s[i]);
    if (dv >= base) return R_STR;
    if (!big) {
      if (v > (lim - (unsigned)dv) / (unsigned)base) big = 1;
      else v = v * (unsigned)base + (unsigned)dv;
    }
  }
  if (big) return R_BIG;
  *out = neg ? (lua_Integer)(0 - v) : (lua_Integer)v;
  return R_INT;
}

static int set_float(const char *s, size_t n, rval *r) {
  char buf[128];
  if (n >= sizeof buf) return R_STR;
  memcpy(buf, s, n);
  buf[n] = 0;
  r->d = strtod(buf, NULL);
  return r->k = R_FLOAT;
}

/* YAML 1.1 as Helm's go-yaml v2 reads it */
static int resolve_helm(const char *s, size_t n, rval *r) {
  char buf[128];
  size_t m = 0, i = 0;
  int neg = 0, k;
  if (n == 0) return r->k = R_NULL;
  if (n <= 5 && strchr("~nNyYtTfFoO", s[0])) {
    if (word_in(s, n, null_words)) return r->k = R_NULL;
    if (word_in(s, n, true11)) { r->b = 1; return r->k = R_BOOL; }
    if (word_in(s, n, false11)) { r->b = 0; return r->k = R_BOOL; }
  }
  if (!(isdig(s[0]) || s[0] == '-' || s[0] == '+' || s[0] == '.')) return r->k = R_STR;
  if (word_in(s, n, nan_words)) { r->d = NAN; return r->k = R_FLOAT; }
  if (word_in(s, n, inf_words) || (n > 1 && s[0] == '+' && word_in(s + 1, n - 1, inf_words))) {
    r->d = HUGE_VAL;
    return r->k = R_FLOAT;
  }
  if (n > 1 && s[0] == '-' && word_in(s + 1, n - 1, inf_words)) {
    r->d = -HUGE_VAL;
    return r->k = R_FLOAT;
  }
  if (n >= sizeof buf) {
    /* a very long run of digits: a number Helm would round */
    for (i = 0; i < n; i++)
      if (!isdig(s[i]) && s[i] != '_') return r->k = R_STR;
    return r->k = R_BIG;
  }
  for (i = 0; i < n; i++)
    if (s[i] != '_') buf[m++] = s[i];
  i = 0;
  if (i < m && (buf[i] == '+' || buf[i] == '-')) neg = buf[i++] == '-';
  if (m - i > 2 && buf[i] == '0' && (buf[i + 1] == 'x' || buf[i + 1] == 'X'))
    k = parse_digits(buf + i + 2, m - i - 2, 16, neg, &r->i);
  else if (m - i > 2 && buf[i] == '0' && (buf[i + 1] == 'o' || buf[i + 1] == 'O'))
    k = parse_digits(buf + i + 2, m - i - 2, 8, neg, &r->i);
  else if (m - i > 2 && buf[i] == '0' && (buf[i + 1] == 'b' || buf[i + 1] == 'B'))
    k = parse_digits(buf + i + 2, m - i - 2, 2, neg, &r->i);
  else if (m - i > 1 && buf[i] == '0')
    k = parse_digits(buf + i + 1, m - i - 1, 8, neg, &r->i);
  else
    k = parse_digits(buf + i, m - i, 10, neg, &r->i);
  if (k != R_STR) return r->k = k;
  if (match_float(buf, m, 1)) return set_float(buf, m, r);
  return r->k = R_STR;
}

/* YAML 1.2 core schema */
static int resolve_core(const char *s, size_t n, rval *r) {
  int k;
  if (n == 0) return r->k = R_NULL;
  if (n <= 5 && strchr("~nNtTfF", s[0])) {
    if (word_in(s, n, null_words)) return r->k = R_NULL;
    if (word_in(s, n, true12)) { r->b = 1; return r->k = R_BOOL; }
    if (word_in(s, n, false12)) { r->b = 0; return r->k = R_BOOL; }
  }
  if (!(isdig(s[0]) || s[0] == '-' || s[0] == '+' || s[0] == '.')) return r->k = R_STR;
  if (n > 2 && s[0] == '0' && s[1] == 'o') {
    k = parse_digits(s + 2, n - 2, 8, 0, &r->i);
    if (k != R_STR) return r->k = k;
  }
  if (n > 2 && s[0] == '0' && s[1] == 'x') {
    k = parse_digits(s + 2, n - 2, 16, 0, &r->i);
    if (k != R_STR) return r->k = k;
  }
  {
    size_t i = 0;
    int neg = 0;
    if (s[0] == '-' || s[0] == '+') neg = s[i++] == '-';
    k = parse_digits(s + i, n - i, 10, neg, &r->i);
    if (k != R_STR) return r->k = k;
  }
  if (word_in(s, n, nan_words)) { r->d = NAN; return r->k = R_FLOAT; }
  if (word_in(s, n, inf_words) || (n > 1 && s[0] == '+' && word_in(s + 1, n - 1, inf_words))) {
    r->d = HUGE_VAL;
    return r->k = R_FLOAT;
  }
  if (n > 1 && s[0] == '-' && word_in(s + 1, n - 1, inf_words)) {
    r->d = -HUGE_VAL;
    return r->k = R_FLOAT;
  }
  if (match_float(s, n, 1)) return set_float(s, n, r);
  return r->k = R_STR;
}

static int resolve_json(const char *s, size_t n, rval *r) {
  size_t i = 0;
  if (n == 0 || (n == 4 && memcmp(s, "null", 4) == 0)) return r->k = R_NULL;
  if (n == 4 && memcmp(s, "true", 4) == 0) { r->b = 1; return r->k = R_BOOL; }
  if (n == 5 && memcmp(s, "false", 5) == 0) { r->b = 0; return r->k = R_BOOL; }
  if (s[0] == '-') i++;
  if (i < n && s[i] == '0') {
    if (i + 1 == n) { r->i = 0; return r->k = R_INT; }
    if (s[i + 1] != '.' && s[i + 1] != 'e' && s[i + 1] != 'E') return r->k = R_STR;
  } else if (i >= n || !isdig(s[i])) {
    return r->k = R_STR;
  }
  if (parse_digits(s + i, n - i, 10, s[0] == '-', &r->i) == R_INT) return r->k = R_INT;
  {
    size_t j = i;
    while (j < n && isdig(s[j])) j++;
    if (j == n) return r->k = R_BIG;
  }
  if (match_float(s + i, n - i, 0) && s[i] != '.') return set_float(s, n, r);
  return r->k = R_STR;
}

static int resolve_plain(const char *s, size_t n, int schema, rval *r) {
  switch (schema) {
    case SCH_HELM: return resolve_helm(s, n, r);
    case SCH_CORE: return resolve_core(s, n, r);
    case SCH_JSON: return resolve_json(s, n, r);
    default: return r->k = R_STR;
  }
}

#define TAGP "tag:yaml.org,2002:"

/* Push a scalar's value. Returns 0, or -1 with *why set for a bad tagged
 * value ("!!int abc"). */
static int push_scalar(lua_State *L, const char *s, size_t n, int plain,
                       const char *tag, int schema, const char **why) {
  rval r;
  int k;
  if (tag && strcmp(tag, "!") != 0) {
    if (strncmp(tag, TAGP, sizeof TAGP - 1) == 0) {
      const char *t = tag + sizeof TAGP - 1;
      if (strcmp(t, "str") == 0) goto string;
      if (strcmp(t, "null") == 0) { NULLV(); return 0; }
      if (strcmp(t, "bool") == 0) {
        if (word_in(s, n, true11)) { lua_pushboolean(L, 1); return 0; }
        if (word_in(s, n, false11)) { lua_pushboolean(L, 0); return 0; }
        *why = "not a boolean";
        return -1;
      }
      if (strcmp(t, "int") == 0 || strcmp(t, "float") == 0) {
        k = resolve_helm(s, n, &r);
        if (k == R_STR || k == R_NULL || k == R_BOOL) k = resolve_core(s, n, &r);
        if (k == R_INT && t[0] == 'f') { lua_pushnumber(L, (lua_Number)r.i); return 0; }
        if (k == R_INT) { lua_pushinteger(L, r.i); return 0; }
        if (k == R_FLOAT) { lua_pushnumber(L, r.d); return 0; }
        if (k == R_BIG) goto string;
        *why = t[0] == 'i' ? "not an integer" : "not a float";
        return -1;
      }
    }
    goto string; /* other tags: the text */
  }
  if (plain && !tag) {
    switch (resolve_plain(s, n, schema, &r)) {
      case R_NULL: NULLV(); return 0;
      case R_BOOL: lua_pushboolean(L, r.b); return 0;
      case R_INT: lua_pushinteger(L, r.i); return 0;
      case R_FLOAT: lua_pushnumber(L, r.d); return 0;
      default: break;
    }
  }
string:
  lua_pushlstring(L, s, n);
  return 0;
}

/* Turn the value on top into a mapping key: scalars become strings (the
 * canonical text of what they resolved to, as Helm's sigs.k8s.io/yaml does);
 * collections stay tables. Returns -1 for a NaN key. */
static int keyify(lua_State *L) {
  char buf[64];
  switch (lua_type(L, -1)) {
    case LUA_TSTRING: case LUA_TTABLE: return 0;
    case LUA_TBOOLEAN:
      lua_pushstring(L, lua_toboolean(L, -1) ? "true" : "false");
      break;
    case LUA_TLIGHTUSERDATA: lua_pushliteral(L, "null"); break;
    case LUA_TNUMBER:
      if (lua_isinteger(L, -1)) {
        lua_pushfstring(L, "%I", (LUAI_UACINT)lua_tointeger(L, -1));
      } else {
        double d = lua_tonumber(L, -1);
        if (d != d) return -1;
        if (isinf(d)) {
          lua_pushstring(L, d > 0 ? ".inf" : "-.inf");
        } else {
          for (int p = 15; p <= 17; p++) {
            snprintf(buf, sizeof buf, "%.*g", p, d);
            if (strtod(buf, NULL) == d) break;
          }
          lua_pushstring(L, buf);
        }
      }
      break;
    default: return 0;
  }
  lua_remove(L, -2);
  return 0;
}

/* ---- positions: libyaml's character marks to byte offsets ---------------- */

typedef struct {
  const unsigned char *s;
  size_t len;
  size_t ch, by;  /* a known pair: character index ch is at byte by */
  size_t base;    /* bytes skipped before character 0 (a BOM) */
  int ascii;
} poscv;

static void pos_init(poscv *p, const char *s, size_t len) {
  p->s = (const unsigned char *)s;
  p->len = len;
  p->base = (len >= 3 && p->s[0] == 0xEF && p->s[1] == 0xBB && p->s[2] == 0xBF) ? 3 : 0;
  p->ch = 0;
  p->by = p->base;
  p->ascii = 1;
  for (size_t i = 0; i < len; i++)
    if (p->s[i] >= 0x80) { p->ascii = 0; break; }
}

static size_t pos_byte(poscv *p, size_t ch) {
  if (p->ascii) return ch + p->base > p->len ? p->len : ch + p->base;
  while (p->ch < ch && p->by < p->len) {
    p->by++;
    while (p->by < p->len && (p->s[p->by] & 0xC0) == 0x80) p->by++;
    p->ch++;
  }
  while (p->ch > ch && p->by > p->base) {
    p->by--;
    while (p->by > p->base && (p->s[p->by] & 0xC0) == 0x80) p->by--;
    p->ch--;
  }
  return p->by;
}

/* ---- errors of the input -------------------------------------------------- */

typedef struct {
  char problem[512];
  char context[256];
  size_t line, column;  /* 0-based */
  size_t byte;          /* 0-based */
  size_t cline, ccolumn;
  int has_context;
  size_t extra_index;  /* duplicate key: the mapping's start (char index) */
  int has_extra;
  char key[128];
  size_t first_line;   /* duplicate complex key: line of the first (1-based), 0 unknown */
} yerr;

static void err_from_parser(yaml_parser_t *p, const char *text, size_t len, yerr *e) {
  poscv pc;
  memset(e, 0, sizeof *e);
  snprintf(e->problem, sizeof e->problem, "%s", p->problem ? p->problem : "unknown error");
  if (p->error == YAML_READER_ERROR) {
    size_t off = p->problem_offset, line = 0, col = 0, i;
    if (off > len) off = len;
    if (p->problem_value != -1)
      snprintf(e->problem + strlen(e->problem), sizeof e->problem - strlen(e->problem),
               " (byte 0x%02X)", (unsigned)p->problem_value & 0xFF);
    for (i = 0; i < off; i++) {
      if (text[i] == '\n') line++, col = 0;
      else if (((unsigned char)text[i] & 0xC0) != 0x80) col++;
    }
    e->line = line;
    e->column = col;
    e->byte = off;
    return;
  }
  if (p->error == YAML_MEMORY_ERROR) snprintf(e->problem, sizeof e->problem, "out of memory");
  pos_init(&pc, text, len);
  e->line = p->problem_mark.line;
  e->column = p->problem_mark.column;
  e->byte = pos_byte(&pc, p->problem_mark.index);
  if (p->context) {
    e->has_context = 1;
    snprintf(e->context, sizeof e->context, "%s", p->context);
    e->cline = p->context_mark.line;
    e->ccolumn = p->context_mark.column;
  }
}

static void err_at(yerr *e, const char *text, size_t len, yaml_mark_t m, const char *fmt, ...) {
  va_list ap;
  poscv pc;
  memset(e, 0, sizeof *e);
  va_start(ap, fmt);
  vsnprintf(e->problem, sizeof e->problem, fmt, ap);
  va_end(ap);
  pos_init(&pc, text, len);
  e->line = m.line;
  e->column = m.column;
  e->byte = pos_byte(&pc, m.index);
}

/* push (nil, errtable) */
static int push_err(lua_State *L, yerr *e) {
  lua_pushnil(L);
  lua_createtable(L, 0, 8);
  lua_pushstring(L, e->problem);
  lua_setfield(L, -2, "problem");
  lua_pushinteger(L, (lua_Integer)e->line + 1);
  lua_setfield(L, -2, "line");
  lua_pushinteger(L, (lua_Integer)e->column + 1);
  lua_setfield(L, -2, "column");
  lua_pushinteger(L, (lua_Integer)e->byte + 1);
  lua_setfield(L, -2, "byte");
  if (e->has_context) {
    lua_pushstring(L, e->context);
    lua_setfield(L, -2, "context");
    lua_pushinteger(L, (lua_Integer)e->cline + 1);
    lua_setfield(L, -2, "context_line");
    lua_pushinteger(L, (lua_Integer)e->ccolumn + 1);
    lua_setfield(L, -2, "context_column");
  }
  if (e->has_extra) {
    lua_pushstring(L, e->key);
    lua_setfield(L, -2, "duplicate");
  }
  if (e->first_line) {
    lua_pushinteger(L, (lua_Integer)e->first_line);
    lua_setfield(L, -2, "first_line");
  }
  return 2;
}

/* ---- options -------------------------------------------------------------- */

typedef struct {
  int schema;
  int merge;
  lua_Integer max_depth;
  lua_Integer max_aliases;  /* nodes that alias expansion may copy */
  lua_Integer max_size;     /* bytes of input */
  int thread;               /* parse on a thread: 1 yes, 0 no, -1 by size */
} yopts;

static lua_Integer opt_int(lua_State *L, int t, const char *name, lua_Integer def) {
  lua_Integer v = def;
  if (lua_getfield(L, t, name) != LUA_TNIL) {
    if (!lua_isinteger(L, -1) || lua_tointeger(L, -1) < 0)
      luaL_error(L, "yaml: option '%s' must be a non-negative integer", name);
    v = lua_tointeger(L, -1);
  }
  lua_pop(L, 1);
  return v;
}

static void get_opts(lua_State *L, int t, yopts *o) {
  o->schema = SCH_HELM;
  o->merge = -1;
  o->max_depth = 1000;
  o->max_aliases = 100000;
  o->max_size = 256 * 1024 * 1024;
  o->thread = -1;
  if (lua_isnoneornil(L, t)) { o->merge = 1; return; }
  luaL_checktype(L, t, LUA_TTABLE);
  if (lua_getfield(L, t, "schema") != LUA_TNIL) {
    static const char *const names[] = {"helm", "core", "json", "failsafe", NULL};
    const char *s = lua_tostring(L, -1);
    int i;
    for (i = 0; names[i] && (!s || strcmp(s, names[i]) != 0); i++) {}
    if (!names[i]) luaL_error(L, "yaml: unknown schema '%s' (helm, core, json, failsafe)",
                              s ? s : luaL_typename(L, -1));
    o->schema = i;
  }
  lua_pop(L, 1);
  if (lua_getfield(L, t, "merge") != LUA_TNIL) o->merge = lua_toboolean(L, -1);
  lua_pop(L, 1);
  if (o->merge < 0) o->merge = o->schema == SCH_HELM;
  o->max_depth = opt_int(L, t, "max_depth", o->max_depth);
  o->max_aliases = opt_int(L, t, "max_aliases", o->max_aliases);
  o->max_size = opt_int(L, t, "max_size", o->max_size);
  if (lua_getfield(L, t, "thread") != LUA_TNIL) o->thread = lua_toboolean(L, -1);
  lua_pop(L, 1);
}

static int check_input(const char *s, size_t len, yopts *o, yerr *e) {
  const unsigned char *u = (const unsigned char *)s;
  memset(e, 0, sizeof *e);
  if ((lua_Integer)len > o->max_size) {
    snprintf(e->problem, sizeof e->problem,
             "document of %zu bytes is larger than max_size (%lld bytes)", len,
             (long long)o->max_size);
    return -1;
  }
  if ((len >= 2 && ((u[0] == 0xFE && u[1] == 0xFF) || (u[0] == 0xFF && u[1] == 0xFE))) ||
      (len >= 1 && u[0] == 0)) {
    snprintf(e->problem, sizeof e->problem,
             "input is not UTF-8 (a UTF-16/32 byte order mark or a NUL byte at the start)");
    return -1;
  }
  return 0;
}

/* ---- events: parsed in line, or on a thread for big texts ------------------ */

/*
 * Both readers of libyaml (the loader and the indexer of yaml.open) take
 * their events from an evsrc. Big texts are parsed on a thread of its own:
 * libyaml's event loop (the floor of tests/bench/yaml.sh) and the reader's
 * own work (Lua values, or the index) take about the same time, so running
 * them side by side on two cores cuts the wall time of a big load or open
 * (the CPU time stays the same). The parser thread fills batches into a
 * ring; the reader takes them in order and hands each one back when it is
 * through with it.
 *
 * A batch is a tape: each event as a small record (prec) followed by its
 * anchor, tag and value, NUL-terminated, written and read front to back.
 * libyaml's events own their strings, malloc'd one by one; handed across
 * as they are, each would travel to the reader's core and back again when
 * the parser frees it (one cache-line round trip per scalar, which doubled
 * the parser's time). The parser copies an event onto the tape and deletes
 * it at once, so libyaml's memory never leaves its thread, and the reader
 * reads only the bytes it needs, in order. Nothing else is shared: only the
 * reader touches the Lua state. Smaller texts, texts of 4 GiB or more (the
 * records hold 32-bit positions) and a machine where the thread cannot be
 * made are parsed in line.
 */
#define PIPE_MIN (256 * 1024) /* texts of this size or more use the thread */
#define PIPE_TAPE 65536       /* bytes of a batch (grown for a bigger scalar) */
#define PIPE_SLOTS 4          /* batches in the ring */

enum { P_ANCHOR = 1, P_TAG = 2, P_IMPLICIT = 4, P_QUOTED_IMPLICIT = 8 };

/* an event on the tape: every field either reader uses */
typedef struct {
  uint8_t type, style, flags, unused;
  uint32_t size;              /* bytes to the next record */
  uint32_t len;               /* a scalar's length */
  uint32_t index, line, column;
  uint32_t end_index, end_line, end_column;
} prec;                       /* then anchor\0, tag\0, value\0 as present */

/* Each batch on a cache line of its own, apart from the ring's counters
 * (the reader's place in its batch is the reader's: a field beside these
 * that it wrote at every event cost the parser a cache miss per event) */
typedef struct {
  _Alignas(64) char *tape;
  size_t used, cap;
} pbatch;

typedef struct {
  pbatch slot[PIPE_SLOTS];
  _Alignas(64) uv_mutex_t mu;  /* the rest: under mu, once a batch */
  uv_cond_t cv;
  unsigned filled, taken;     /* batches made / handed back (ring: % PIPE_SLOTS) */
  int done, stop;             /* no more batches will come; the reader quits */
  int failed;                 /* 1: the parser failed (its problem is in it), 2: memory */
  yaml_parser_t *parser;
  uv_thread_t thread;
} ppipe;

typedef struct {
  yaml_parser_t parser;
  int parser_ok;
  yaml_event_t ev;            /* the current event (a view of a record when piped) */
  int has_ev;                 /* ev was parsed in line: delete it when done */
  ppipe *pipe;                /* the parser thread, while it runs */
  pbatch *cur;                /* the reader's batch: its next record, its end */
  const char *tape, *tape_end;
} evsrc;

/* parser threads started by this process (core.threads(), for the specs:
 * only the Lua thread starts them) */
static lua_Integer pipe_started;

static int l_threads(lua_State *L) {
  lua_pushinteger(L, pipe_started);
  return 1;
}

/* Write event e onto the tape of b at *used. Returns 1; 0 when it does not
 * fit (b holds records already: e opens the next batch); -1 out of memory. */
static int tape_add(pbatch *b, size_t *used, const yaml_event_t *e) {
  const char *anchor = NULL, *tag = NULL, *value = NULL;
  size_t alen = 0, tlen = 0, need;
  prec r = {0};
  char *w;
  int implicit = 0;
  r.type = (uint8_t)e->type;
  r.index = (uint32_t)e->start_mark.index;
  r.line = (uint32_t)e->start_mark.line;
  r.column = (uint32_t)e->start_mark.column;
  r.end_index = (uint32_t)e->end_mark.index;
  r.end_line = (uint32_t)e->end_mark.line;
  r.end_column = (uint32_t)e->end_mark.column;
  switch (e->type) {
    case YAML_SCALAR_EVENT:
      anchor = (const char *)e->data.scalar.anchor;
      tag = (const char *)e->data.scalar.tag;
      value = (const char *)e->data.scalar.value;
      r.len = (uint32_t)e->data.scalar.length;
      r.style = (uint8_t)e->data.scalar.style;
      implicit = e->data.scalar.plain_implicit;
      if (e->data.scalar.quoted_implicit) r.flags |= P_QUOTED_IMPLICIT;
      break;
    case YAML_SEQUENCE_START_EVENT:
      anchor = (const char *)e->data.sequence_start.anchor;
      tag = (const char *)e->data.sequence_start.tag;
      r.style = (uint8_t)e->data.sequence_start.style;
      implicit = e->data.sequence_start.implicit;
      break;
    case YAML_MAPPING_START_EVENT:
      anchor = (const char *)e->data.mapping_start.anchor;
      tag = (const char *)e->data.mapping_start.tag;
      r.style = (uint8_t)e->data.mapping_start.style;
      implicit = e->data.mapping_start.implicit;
      break;
    case YAML_ALIAS_EVENT:
      anchor = (const char *)e->data.alias.anchor;
      break;
    case YAML_DOCUMENT_START_EVENT:
      implicit = e->data.document_start.implicit;
      break;
    case YAML_DOCUMENT_END_EVENT:
      implicit = e->data.document_end.implicit;
      break;
    default:
      break;
  }
  if (implicit) r.flags |= P_IMPLICIT;
  if (anchor) {
    alen = strlen(anchor) + 1;
    r.flags |= P_ANCHOR;
  }
  if (tag) {
    tlen = strlen(tag) + 1;
    r.flags |= P_TAG;
  }
  need = (sizeof r + alen + tlen + (value ? (size_t)r.len + 1 : 0) + 7) & ~(size_t)7;
  if (*used + need > b->cap) {
    size_t cap = need > PIPE_TAPE ? need : PIPE_TAPE;
    char *t;
    if (*used > 0) return 0;
    if (!(t = realloc(b->tape, cap))) return -1;
    b->tape = t;
    b->cap = cap;
  }
  r.size = (uint32_t)need;
  w = b->tape + *used;
  memcpy(w, &r, sizeof r);
  w += sizeof r;
  if (anchor) w = (char *)memcpy(w, anchor, alen) + alen;
  if (tag) w = (char *)memcpy(w, tag, tlen) + tlen;
  if (value) {
    memcpy(w, value, r.len);
    w[r.len] = '\0';
  }
  *used += need;
  return 1;
}

/* The parser thread: fill the free batches of the ring until the stream
 * ends, the parser fails or the reader says stop. */
static void pipe_main(void *arg) {
  ppipe *p = arg;
  yaml_event_t e;
  size_t used;
  int pending = 0, end = 0, failed = 0;
  while (!end) {
    pbatch *b;
    uv_mutex_lock(&p->mu);
    while (p->filled - p->taken == PIPE_SLOTS && !p->stop) uv_cond_wait(&p->cv, &p->mu);
    end = p->stop;
    uv_mutex_unlock(&p->mu);
    if (end) break;
    b = &p->slot[p->filled % PIPE_SLOTS];
    used = 0;
    for (;;) {
      int r, last;
      if (!pending && !yaml_parser_parse(p->parser, &e)) {
        end = failed = 1;
        break;
      }
      pending = 0;
      if ((r = tape_add(b, &used, &e)) == 0) {
        pending = 1;  /* e opens the next batch */
        break;
      }
      last = e.type == YAML_STREAM_END_EVENT;
      yaml_event_delete(&e);
      if (r < 0 || last) {
        end = 1;
        failed = r < 0 ? 2 : 0;
        break;
      }
    }
    uv_mutex_lock(&p->mu);
    b->used = used;
    if (used > 0) p->filled++;
    p->done = end;
    p->failed = failed;
    uv_cond_signal(&p->cv);
    uv_mutex_unlock(&p->mu);
  }
  if (pending) yaml_event_delete(&e);
}

/* Start parsing text into src: in line, or on the parser thread when the
 * text is big (thread: 1 always, 0 never, -1 by size) and a thread can be
 * made (every signal blocked in it: they are the loop's). Returns 0, or -1
 * when out of memory. */
static int src_open(evsrc *src, const char *text, size_t len, int thread) {
  sigset_t all, old;
  ppipe *p;
  int r;
  if (!yaml_parser_initialize(&src->parser)) return -1;
  src->parser_ok = 1;
  yaml_parser_set_input_string(&src->parser, (const unsigned char *)text, len);
  if (!(thread > 0 || (thread < 0 && len >= PIPE_MIN)) || len >= UINT32_MAX) return 0;
  if (!(p = aligned_alloc(64, (sizeof *p + 63) / 64 * 64))) return 0;
  memset(p, 0, sizeof *p);
  p->parser = &src->parser;
  if (uv_mutex_init(&p->mu)) {
    free(p);
    return 0;
  }
  if (uv_cond_init(&p->cv)) {
    uv_mutex_destroy(&p->mu);
    free(p);
    return 0;
  }
  sigfillset(&all);
  pthread_sigmask(SIG_SETMASK, &all, &old);
  r = uv_thread_create(&p->thread, pipe_main, p);
  pthread_sigmask(SIG_SETMASK, &old, NULL);
  if (r) {
    uv_cond_destroy(&p->cv);
    uv_mutex_destroy(&p->mu);
    free(p);
    return 0;
  }
  src->pipe = p;
  pipe_started++;
  return 0;
}

/* Stop and join the parser thread; free the ring. */
static void pipe_end(evsrc *src) {
  ppipe *p = src->pipe;
  if (!p) return;
  uv_mutex_lock(&p->mu);
  p->stop = 1;
  uv_cond_signal(&p->cv);
  uv_mutex_unlock(&p->mu);
  uv_thread_join(&p->thread);
  for (int i = 0; i < PIPE_SLOTS; i++) free(p->slot[i].tape);
  uv_cond_destroy(&p->cv);
  uv_mutex_destroy(&p->mu);
  free(p);
  src->pipe = NULL;
  src->cur = NULL;
  src->tape = src->tape_end = NULL;
}

/* Done with the current event (deletes it when it was parsed in line). */
static void src_done(evsrc *src) {
  if (src->has_ev) yaml_event_delete(&src->ev);
  src->has_ev = 0;
}

/* Join the thread, free the event and the parser. */
static void src_close(evsrc *src) {
  pipe_end(src);
  src_done(src);
  if (src->parser_ok) yaml_parser_delete(&src->parser);
  src->parser_ok = 0;
}

/* src->ev as a view of the record at the reader's place (its strings stay
 * on the tape) */
static void tape_view(evsrc *src) {
  const char *s = src->tape + sizeof(prec);
  yaml_event_t *ev = &src->ev;
  yaml_char_t *anchor = NULL, *tag = NULL;
  prec r;
  int implicit;
  memcpy(&r, src->tape, sizeof r);
  src->tape += r.size;
  implicit = (r.flags & P_IMPLICIT) != 0;
  ev->type = (yaml_event_type_t)r.type;
  ev->start_mark.index = r.index;
  ev->start_mark.line = r.line;
  ev->start_mark.column = r.column;
  ev->end_mark.index = r.end_index;
  ev->end_mark.line = r.end_line;
  ev->end_mark.column = r.end_column;
  if (r.flags & P_ANCHOR) {
    anchor = (yaml_char_t *)s;
    s += strlen(s) + 1;
  }
  if (r.flags & P_TAG) {
    tag = (yaml_char_t *)s;
    s += strlen(s) + 1;
  }
  switch (ev->type) {
    case YAML_SCALAR_EVENT:
      ev->data.scalar.anchor = anchor;
      ev->data.scalar.tag = tag;
      ev->data.scalar.value = (yaml_char_t *)s;
      ev->data.scalar.length = r.len;
      ev->data.scalar.plain_implicit = implicit;
      ev->data.scalar.quoted_implicit = (r.flags & P_QUOTED_IMPLICIT) != 0;
      ev->data.scalar.style = (yaml_scalar_style_t)r.style;
      break;
    case YAML_SEQUENCE_START_EVENT:
      ev->data.sequence_start.anchor = anchor;
      ev->data.sequence_start.tag = tag;
      ev->data.sequence_start.implicit = implicit;
      ev->data.sequence_start.style = (yaml_sequence_style_t)r.style;
      break;
    case YAML_MAPPING_START_EVENT:
      ev->data.mapping_start.anchor = anchor;
      ev->data.mapping_start.tag = tag;
      ev->data.mapping_start.implicit = implicit;
      ev->data.mapping_start.style = (yaml_mapping_style_t)r.style;
      break;
    case YAML_ALIAS_EVENT:
      ev->data.alias.anchor = anchor;
      break;
    case YAML_DOCUMENT_START_EVENT:  /* the directives: no reader uses them */
      ev->data.document_start.version_directive = NULL;
      ev->data.document_start.tag_directives.start = NULL;
      ev->data.document_start.tag_directives.end = NULL;
      ev->data.document_start.implicit = implicit;
      break;
    case YAML_DOCUMENT_END_EVENT:
      ev->data.document_end.implicit = implicit;
      break;
    default:
      break;
  }
}

/* The next event in src->ev: parsed here, or a view of the ring's next
 * record. Returns 1; 0 when the parser failed (its problem is in
 * src->parser, the thread joined); -1 when the parser thread ran out of
 * memory. */
static int src_next(evsrc *src, yaml_event_t **ev) {
  ppipe *p = src->pipe;
  int failed;
  *ev = &src->ev;
  if (!p) {
    if (!yaml_parser_parse(&src->parser, &src->ev)) return 0;
    src->has_ev = 1;
    return 1;
  }
  if (src->tape < src->tape_end) {
    tape_view(src);
    return 1;
  }
  uv_mutex_lock(&p->mu);
  if (src->cur) {  /* hand the batch back */
    p->taken++;
    src->cur = NULL;
    src->tape = src->tape_end = NULL;
    uv_cond_signal(&p->cv);
  }
  while (p->filled == p->taken && !p->done) uv_cond_wait(&p->cv, &p->mu);
  /* done and nothing more: the parser failed (a stream end is a record) */
  failed = p->filled == p->taken ? (p->failed ? p->failed : 1) : 0;
  if (!failed) {
    src->cur = &p->slot[p->taken % PIPE_SLOTS];
    src->tape = src->cur->tape;
    src->tape_end = src->tape + src->cur->used;
  }
  uv_mutex_unlock(&p->mu);
  if (failed) {
    pipe_end(src);
    return failed == 1 ? 0 : -1;
  }
  tape_view(src);
  return 1;
}

/* ---- the loader: events straight to Lua values ----------------------------- */

/*
 * A collection being built. While it is small its items wait on the Lua
 * stack above a placeholder slot (base) and the table is made at its end
 * with its final size: no rehash as it grows, no slack. A collection with
 * more than SPILL items, or deeper than STACK_DEPTH, gets its table early
 * and takes its items as they come, so the stack stays bounded.
 */
typedef struct {
  int kind;           /* 1 seq, 2 map */
  int table;          /* the table is at base (else: a placeholder) */
  int base;           /* stack slot of the table */
  lua_Integer n;      /* items (seq) or complete pairs (map) so far */
  int has_key;        /* map: a key waits on the stack */
  int merge_key;      /* map: the waiting key is "<<" */
  lua_Integer weight; /* nodes inside (with aliases expanded) */
  char *anchor;
  size_t pbase;       /* map, items on the stack: its first pair record */
  yaml_mark_t start, key_mark;
} lframe;

/* a pair of a map whose items wait on the stack */
typedef struct {
  yaml_mark_t key_mark;
  int merge;
} lpair;

#define SPILL 1024
#define STACK_DEPTH 64
#define KCACHE 512   /* key strings remembered (a power of 2) */
#define VCACHE 2048  /* short value strings remembered (a power of 2) */

typedef struct {
  evsrc src;
  lframe *fr;
  int nfr, capfr;
  lpair *pairs;
  size_t npairs, cappairs;
  int room;  /* the Lua stack has room up to this slot */
  struct { const char *s; uint32_t n, plain; } kc[KCACHE + VCACHE];
} loader;

static void loader_free(loader *ld) {
  src_close(&ld->src);
  for (int i = 0; i < ld->nfr; i++) free(ld->fr[i].anchor);
  free(ld->fr);
  ld->fr = NULL;
  ld->nfr = ld->capfr = 0;
  free(ld->pairs);
  ld->pairs = NULL;
  ld->npairs = ld->cappairs = 0;
}

static int loader_gc(lua_State *L) {
  loader_free((loader *)lua_touserdata(L, 1));
  return 0;
}

/* a zeroed userdata of size bytes (and nuv user values) with metatable mt,
 * whose __gc is gc: C state that a raised error must not leak */
static void *new_owned(lua_State *L, size_t size, int nuv, const char *mt, lua_CFunction gc) {
  void *p = lua_newuserdatauv(L, size, nuv);
  memset(p, 0, size);
  if (luaL_newmetatable(L, mt)) {
    lua_pushcfunction(L, gc);
    lua_setfield(L, -2, "__gc");
  }
  lua_setmetatable(L, -2);
  return p;
}

static loader *new_loader(lua_State *L) {
  return new_owned(L, sizeof(loader), 0, "slipway.yaml.loader", loader_gc);
}

/* Deep copy of the value at idx (alias expansion), counting nodes. */
static int deep_copy(lua_State *L, int idx, int depth, lua_Integer *budget) {
  idx = lua_absindex(L, idx);
  if (--*budget < 0) return -1;
  if (!lua_istable(L, idx)) { lua_pushvalue(L, idx); return 0; }
  if (depth > 10000 || !lua_checkstack(L, 4)) return -2;
  lua_createtable(L, (int)lua_rawlen(L, idx), 0);
  if (lua_getmetatable(L, idx)) lua_setmetatable(L, -2);
  lua_pushnil(L);
  while (lua_next(L, idx)) {
    int r = deep_copy(L, -1, depth + 1, budget);
    if (r) { lua_pop(L, 3); return r; }
    lua_remove(L, -2);      /* the original value */
    lua_pushvalue(L, -2);   /* key */
    lua_insert(L, -2);
    lua_rawset(L, -4);
  }
  return 0;
}

/* stack slots used by l_load */
#define S_ANCH 3   /* anchor name -> value */
#define S_WGT 4    /* anchor name -> weight */
#define S_MRG 5    /* table -> set of keys that came from a merge */
#define S_DOCS 6
#define S_CKEY 8   /* map -> canonical text of its collection keys -> line */
#define S_KEYS 9   /* the key cache's strings (loader.kc) */
#define S_CANON 10 /* table -> its canonical text (canon), once per load */

static void seq_mark(lua_State *L);

/*
 * The one merge key (<<) of both readers (the loader and the node index):
 * merge the mapping, or list of mappings, at src into the mapping at map.
 * Keys already in map win (explicit keys and earlier merges take
 * precedence); each key added is recorded in the set at mrg, so that one
 * explicit key later in the mapping may still override it, once. Returns 0,
 * or -1 with *why set.
 */
static int merge_key(lua_State *L, int map, int mrg, int src, const char **why) {
  static const char bad[] = "the value of a merge key (<<) must be a mapping or a list of mappings";
  int nsrc = 1, single = 1;
  if (!lua_istable(L, src)) { *why = bad; return -1; }
  if (lua_rawlen(L, src) > 0) { nsrc = (int)lua_rawlen(L, src); single = 0; }
  for (int i = 1; i <= nsrc; i++) {
    if (single) lua_pushvalue(L, src);
    else lua_rawgeti(L, src, i);
    if (!lua_istable(L, -1) || lua_rawlen(L, -1) > 0) {
      lua_pop(L, 1);
      *why = bad;
      return -1;
    }
    int m = lua_gettop(L);
    lua_pushnil(L);
    while (lua_next(L, m)) {
      lua_pushvalue(L, -2);
      if (lua_rawget(L, map) == LUA_TNIL) {
        lua_pushvalue(L, -3);
        lua_pushvalue(L, -3);
        lua_rawset(L, map);
        lua_pushvalue(L, -3);
        lua_pushboolean(L, 1);
        lua_rawset(L, mrg);
      }
      lua_pop(L, 2);
    }
    lua_pop(L, 1);
  }
  return 0;
}

/* ---- collection keys: equal when their canonical texts are ---------------- */

typedef struct { const char *s; size_t n; } cstr;

static int cstr_cmp(const void *a, const void *b) {
  const cstr *x = a, *y = b;
  int c = memcmp(x->s, y->s, x->n < y->n ? x->n : y->n);
  return c ? c : (x->n > y->n) - (x->n < y->n);
}

/* Push the canonical text of the loaded value at idx: flow-like, with every
 * string quoted, floats with a point or exponent and a mapping's entries sorted, so that two
 * values give the same text exactly when they are equal (sequences item by
 * item, mappings whatever their key order, scalars by type and value).
 * Returns -1 when too deep for the C stack.
 *
 * A table's text is kept in S_CANON for the rest of the load (a collection
 * key is complete when it is used, and so is all it holds): nested
 * collection keys (`? ? ? ...`, up to max_depth) reuse the texts of the
 * keys inside them instead of making them again at every level -- work and
 * garbage that grew with the cube of the depth (4 KB of input took a
 * second and a gigabyte while the collector is paused for the load). */
/* S_CANON[table at idx] = the text on top (left there) */
static void canon_keep(lua_State *L, int idx) {
  lua_pushvalue(L, idx);
  lua_pushvalue(L, -2);
  lua_rawset(L, S_CANON);
}

static int canon(lua_State *L, int idx, int depth) {
  char buf[64];
  idx = lua_absindex(L, idx);
  if (depth > 10000 || !lua_checkstack(L, 8)) return -1;
  switch (lua_type(L, idx)) {
    case LUA_TSTRING: {
      size_t n;
      const char *str = lua_tolstring(L, idx, &n);
      luaL_Buffer b;
      luaL_buffinit(L, &b);
      luaL_addchar(&b, '"');
      for (size_t i = 0; i < n; i++) {
        if (str[i] == '"' || str[i] == '\\') luaL_addchar(&b, '\\');
        luaL_addchar(&b, str[i]);
      }
      luaL_addchar(&b, '"');
      luaL_pushresult(&b);
      return 0;
    }
    case LUA_TNUMBER:
      if (lua_isinteger(L, idx)) {
        lua_pushfstring(L, "%I", (LUAI_UACINT)lua_tointeger(L, idx));
      } else {
        double d = lua_tonumber(L, idx);
        if (d != d) {
          snprintf(buf, sizeof buf, ".nan");
        } else {
          for (int p = 15; p <= 17; p++) {  /* the shortest text that reads back */
            snprintf(buf, sizeof buf, "%.*g", p, d);
            if (strtod(buf, NULL) == d) break;
          }
          if (!strpbrk(buf, ".eni")) strcat(buf, ".0");  /* never the text of an integer */
        }
        lua_pushstring(L, buf);
      }
      return 0;
    case LUA_TBOOLEAN:
      lua_pushstring(L, lua_toboolean(L, idx) ? "true" : "false");
      return 0;
    case LUA_TTABLE: {
      lua_Unsigned len = lua_rawlen(L, idx), np = 0;
      int seq = len > 0, list;
      luaL_Buffer b;
      cstr *v;
      lua_pushvalue(L, idx);
      if (lua_rawget(L, S_CANON) == LUA_TSTRING) return 0;
      lua_pop(L, 1);
      if (!seq && lua_getmetatable(L, idx)) {
        luaL_getmetatable(L, "slipway.yaml.sequence");
        seq = lua_rawequal(L, -1, -2);
        lua_pop(L, 2);
      }
      if (seq) {
        luaL_buffinit(L, &b);
        luaL_addchar(&b, '[');
        for (lua_Unsigned i = 1; i <= len; i++) {
          if (i > 1) luaL_addchar(&b, ',');
          lua_rawgeti(L, idx, (lua_Integer)i);
          if (canon(L, -1, depth + 1)) return -1;
          lua_remove(L, -2);
          luaL_addvalue(&b);
        }
        luaL_addchar(&b, ']');
        luaL_pushresult(&b);
        canon_keep(L, idx);
        return 0;
      }
      lua_newtable(L);  /* "key:value" of each entry */
      list = lua_gettop(L);
      lua_pushnil(L);
      while (lua_next(L, idx)) {
        if (canon(L, -2, depth + 1) || canon(L, -2, depth + 1)) return -1;
        lua_pushliteral(L, ":");
        lua_insert(L, -2);
        lua_concat(L, 3);
        lua_rawseti(L, list, (lua_Integer)++np);
        lua_pop(L, 1);
      }
      v = lua_newuserdatauv(L, np ? np * sizeof *v : 1, 0);  /* collected on a memory error */
      for (lua_Unsigned i = 0; i < np; i++) {
        lua_rawgeti(L, list, (lua_Integer)i + 1);  /* the strings stay in list */
        v[i].s = lua_tolstring(L, -1, &v[i].n);
        lua_pop(L, 1);
      }
      qsort(v, np, sizeof *v, cstr_cmp);
      luaL_buffinit(L, &b);
      luaL_addchar(&b, '{');
      for (lua_Unsigned i = 0; i < np; i++) {
        if (i > 0) luaL_addchar(&b, ',');
        luaL_addlstring(&b, v[i].s, v[i].n);
      }
      luaL_addchar(&b, '}');
      luaL_pushresult(&b);
      lua_replace(L, list);
      lua_pop(L, 1);
      canon_keep(L, idx);
      return 0;
    }
    default:  /* null */
      lua_pushliteral(L, "null");
      return 0;
  }
}

/* A collection key (on top, under its value: map, key, value) already in
 * map? Remembers it with its line; on a duplicate fills e and returns 1,
 * -1 when too deep. */
static int dup_collection_key(lua_State *L, int map, size_t line, yerr *e) {
  size_t n;
  const char *c;
  if (!lua_checkstack(L, 8) || canon(L, -2, 0)) return -1;
  lua_pushvalue(L, map);
  if (lua_rawget(L, S_CKEY) != LUA_TTABLE) {
    lua_pop(L, 1);
    lua_newtable(L);
    lua_pushvalue(L, map);
    lua_pushvalue(L, -2);
    lua_rawset(L, S_CKEY);
  }
  lua_pushvalue(L, -2);
  if (lua_rawget(L, -2) != LUA_TNIL) {
    size_t first = (size_t)lua_tointeger(L, -1);
    c = lua_tolstring(L, -3, &n);
    snprintf(e->problem, sizeof e->problem, "duplicate key %.*s%s", n > 200 ? 200 : (int)n, c,
             n > 200 ? "..." : "");
    snprintf(e->key, sizeof e->key, "%s", c);
    e->has_extra = 1;
    e->first_line = first;
    return 1;
  }
  lua_pop(L, 1);
  lua_pushvalue(L, -2);
  lua_pushinteger(L, (lua_Integer)line + 1);
  lua_rawset(L, -3);
  lua_pop(L, 2);
  return 0;
}

/* The loader's merge: the value on top into the mapping below the pending
 * key; the set of merged keys of each mapping is S_MRG[map]. */
static int do_merge(lua_State *L, int map, const char **why) {
  int src = lua_gettop(L);
  lua_pushvalue(L, map);
  if (lua_rawget(L, S_MRG) == LUA_TNIL) {
    lua_pop(L, 1);
    lua_newtable(L);
    lua_pushvalue(L, map);
    lua_pushvalue(L, -2);
    lua_rawset(L, S_MRG);
  }
  int r = merge_key(L, map, src + 1, src, why);
  lua_settop(L, src);
  return r;
}

static int grow_frames(loader *ld) {
  if (ld->nfr == ld->capfr) {
    int cap = ld->capfr ? ld->capfr * 2 : 32;
    lframe *p = realloc(ld->fr, (size_t)cap * sizeof *p);
    if (!p) return -1;
    ld->fr = p;
    ld->capfr = cap;
  }
  return 0;
}

static lpair *new_pair(loader *ld) {
  if (ld->npairs == ld->cappairs) {
    size_t cap = ld->cappairs ? ld->cappairs * 2 : 64;
    lpair *p = realloc(ld->pairs, cap * sizeof *p);
    if (!p) return NULL;
    ld->pairs = p;
    ld->cappairs = cap;
  }
  return &ld->pairs[ld->npairs++];
}

/* The slot of s in the string cache for keys (cache 0) or values (1), or
 * -1 when s is not cached there. Keys repeat from mapping to mapping and
 * many values do too: a direct-mapped cache hands out the string made the
 * first time, where lua_pushlstring would hash it and look it up in Lua's
 * string table (a cache miss in a big one). The strings stay referenced
 * from S_KEYS. */
static int str_slot(loader *ld, int cache, const char *s, size_t n, int *hit) {
  unsigned h;
  *hit = 0;
  if (n == 0 || n > 24) return -1;
  h = ((unsigned)n * 2654435761u) ^ ((unsigned char)s[0] * 31u) ^
      ((unsigned char)s[n - 1] * 131u) ^ ((unsigned char)s[n / 2] * 7u) ^
      ((unsigned char)s[n / 4] * 8191u);
  h = cache ? KCACHE + (h & (VCACHE - 1)) : (h & (KCACHE - 1));
  *hit = ld->kc[h].n == n && memcmp(ld->kc[h].s, s, n) == 0;
  return (int)h;
}

/* Push the string s through slot h of the cache (h from str_slot, hit
 * whether it holds s). plain: s is a plain scalar that resolved to a
 * string, so that the next plain s may skip resolving. */
static void push_cached(lua_State *L, loader *ld, int h, int hit, const char *s, size_t n,
                        int plain) {
  if (h < 0) {
    lua_pushlstring(L, s, n);
    return;
  }
  if (hit) {
    lua_rawgeti(L, S_KEYS, (lua_Integer)h + 1);
    ld->kc[h].plain |= (uint32_t)plain;
    return;
  }
  lua_pushlstring(L, s, n);
  lua_pushvalue(L, -1);
  lua_rawseti(L, S_KEYS, (lua_Integer)h + 1);  /* keeps the string (and s) alive */
  ld->kc[h].s = lua_tostring(L, -1);
  ld->kc[h].n = (uint32_t)n;
  ld->kc[h].plain = (uint32_t)plain;
}

/* Add the key and value on top of the stack to the mapping at map (pops
 * both). f is the mapping's frame. Returns 0, 1 with e filled, -1 when out
 * of memory or Lua stack. */
static int add_pair(lua_State *L, int map, int merge, yaml_mark_t key_mark, yaml_mark_t start,
                    const char *text, size_t len, yerr *e) {
  const char *why = NULL;
  if (merge) {
    if (do_merge(L, map, &why)) {
      err_at(e, text, len, key_mark, "%s", why);
      return 1;
    }
    lua_pop(L, 2);
    return 0;
  }
  if (lua_type(L, -2) == LUA_TTABLE) {
    /* a collection key (? [a]) is a new table each time: compare its
     * canonical text with the earlier ones of this mapping */
    int r = dup_collection_key(L, map, key_mark.line, e);
    if (r < 0) return -1;
    if (r > 0) {
      yerr d = *e;
      err_at(e, text, len, key_mark, "%s", d.problem);
      snprintf(e->key, sizeof e->key, "%s", d.key);
      e->has_extra = 1;
      e->first_line = d.first_line;
      return 1;
    }
  }
  lua_pushvalue(L, -2);
  if (lua_rawget(L, map) != LUA_TNIL) {
    int merged = 0;
    lua_pushvalue(L, map);
    if (lua_rawget(L, S_MRG) == LUA_TTABLE) {
      lua_pushvalue(L, -4);
      merged = lua_rawget(L, -2) != LUA_TNIL;
      lua_pop(L, 1);
      if (merged) {  /* explicit key overrides the merged one, once */
        lua_pushvalue(L, -4);
        lua_pushnil(L);
        lua_rawset(L, -3);
      }
    }
    lua_pop(L, 1);
    if (!merged) {
      int str = lua_type(L, -3) == LUA_TSTRING;
      lua_pop(L, 1);
      err_at(e, text, len, key_mark, "duplicate key %s%s%s", str ? "\"" : "",
             str ? lua_tostring(L, -2) : "(a collection)", str ? "\"" : "");
      e->has_extra = 1;
      e->extra_index = start.index;
      snprintf(e->key, sizeof e->key, "%s", str ? lua_tostring(L, -2) : "");
      return 1;
    }
  }
  lua_pop(L, 1);
  lua_rawset(L, map);
  return 0;
}

/* Make the table of frame f (its items wait on the stack above f->base)
 * with room for them, and move them in. Returns as add_pair. */
static int materialize(lua_State *L, loader *ld, lframe *f, const char *text, size_t len,
                       yerr *e) {
  int base = f->base;
  if (!lua_checkstack(L, 16)) return -1;
  if (f->kind == 1) {
    lua_createtable(L, (int)f->n, 0);
    lua_replace(L, base);
    for (lua_Integer i = f->n; i > 0; i--) lua_rawseti(L, base, i);
  } else {
    /* the usual small mapping of distinct string keys and no merge: its
     * pairs go in straight from the top of the stack; a duplicate (or
     * anything else) takes the checked way, which names it */
    const char *kp[16];
    size_t kl[16];
    int fast = f->n <= 16;
    for (int p = 0; fast && p < (int)f->n; p++) {
      if (ld->pairs[f->pbase + (size_t)p].merge || lua_type(L, base + 1 + 2 * p) != LUA_TSTRING) {
        fast = 0;
        break;
      }
      kp[p] = lua_tolstring(L, base + 1 + 2 * p, &kl[p]);
      for (int q = 0; q < p; q++)
        if (kl[q] == kl[p] && (kp[q] == kp[p] || memcmp(kp[q], kp[p], kl[p]) == 0)) { fast = 0; break; }
    }
    lua_createtable(L, 0, (int)f->n);
    lua_replace(L, base);
    if (fast) {
      for (lua_Integer p = f->n; p > 0; p--) lua_rawset(L, base);
      ld->npairs = f->pbase;
      f->table = 1;
      return 0;
    }
    for (lua_Integer p = 0; p < f->n; p++) {
      lpair *pr = &ld->pairs[f->pbase + (size_t)p];
      int r;
      lua_pushvalue(L, base + 1 + 2 * (int)p);
      lua_pushvalue(L, base + 2 + 2 * (int)p);
      if ((r = add_pair(L, base, pr->merge, pr->key_mark, f->start, text, len, e))) return r;
    }
    lua_settop(L, base);
    ld->npairs = f->pbase;
  }
  f->table = 1;
  return 0;
}

/* docs, err = core.load(text, opts) */
static int l_load(lua_State *L) {
  size_t len;
  const char *text = luaL_checklstring(L, 1, &len);
  yopts o;
  yerr e;
  loader *ld;
  lua_Integer ndocs = 0, alias_budget;
  const char *why = NULL;
  int done = 0, gc_was, r;
  lua_settop(L, 2);
  get_opts(L, 2, &o);
  alias_budget = o.max_aliases;
  if (check_input(text, len, &o, &e)) return push_err(L, &e);
  lua_newtable(L);  /* S_ANCH */
  lua_newtable(L);  /* S_WGT */
  lua_newtable(L);  /* S_MRG */
  lua_newtable(L);  /* S_DOCS */
  ld = new_loader(L);  /* slot 7 */
  lua_newtable(L);  /* S_CKEY */
  lua_createtable(L, KCACHE + VCACHE, 0);  /* S_KEYS */
  lua_newtable(L);  /* S_CANON */
  if (!lua_checkstack(L, 64)) return luaL_error(L, "yaml: out of memory");
  ld->room = lua_gettop(L) + 64;
  if (src_open(&ld->src, text, len, o.thread)) return luaL_error(L, "yaml: out of memory");
  /* The collector would traverse the growing result again and again while
   * nothing built here is garbage: pause it for the build (the Lua layer
   * restarts it if a memory error escapes). */
  gc_was = lua_gc(L, LUA_GCISRUNNING);
  if (gc_was) lua_gc(L, LUA_GCSTOP);

  while (!done) {
    yaml_event_t *ev;
    lframe *f;
    lua_Integer w = 1;
    const char *anchor = NULL;
    if ((r = src_next(&ld->src, &ev)) <= 0) {
      if (r < 0) {
        snprintf(e.problem, sizeof e.problem, "out of memory");
        goto fail;
      }
      err_from_parser(&ld->src.parser, text, len, &e);
      goto fail;
    }
    /* room for the value this event may push and what adding it takes */
    if (lua_gettop(L) + 16 > ld->room) {
      if (!lua_checkstack(L, 256)) goto deep;
      ld->room = lua_gettop(L) + 256;
    }
    switch (ev->type) {
      case YAML_STREAM_END_EVENT: done = 1; goto next;
      case YAML_DOCUMENT_START_EVENT:  /* anchors are per document */
        lua_newtable(L);
        lua_replace(L, S_ANCH);
        lua_newtable(L);
        lua_replace(L, S_WGT);
        goto next;
      case YAML_STREAM_START_EVENT: case YAML_DOCUMENT_END_EVENT:
      case YAML_NO_EVENT:
        goto next;
      case YAML_ALIAS_EVENT: {
        const char *name = (const char *)ev->data.alias.anchor;
        if (lua_getfield(L, S_ANCH, name) == LUA_TNIL) {
          lua_pop(L, 1);
          err_at(&e, text, len, ev->start_mark,
                 "alias *%s refers to an anchor that is not defined before it "
                 "(or to a node that contains the alias)", name);
          goto fail;
        }
        lua_getfield(L, S_WGT, name);
        w = lua_tointeger(L, -1);
        lua_pop(L, 1);
        alias_budget -= w;
        if (alias_budget < 0) goto too_many_aliases;
        if (lua_istable(L, -1)) {
          lua_Integer b = w + 1;
          r = deep_copy(L, -1, 0, &b);
          if (r) {
            lua_pop(L, 1);
            goto too_many_aliases;
          }
          lua_remove(L, -2);
        }
        break;
      too_many_aliases:
        err_at(&e, text, len, ev->start_mark,
               "alias expansion exceeds max_aliases (%lld nodes): a \"billion laughs\" "
               "document? (raise opts.max_aliases if it is genuine)",
               (long long)o.max_aliases);
        goto fail;
      }
      case YAML_SCALAR_EVENT: {
        yaml_char_t *v = ev->data.scalar.value;
        size_t n = ev->data.scalar.length;
        int plain = ev->data.scalar.style == YAML_PLAIN_SCALAR_STYLE;
        const char *tag = (const char *)ev->data.scalar.tag;
        int key = ld->nfr > 0 && ld->fr[ld->nfr - 1].kind == 2 && !ld->fr[ld->nfr - 1].has_key;
        if (!tag) {
          /* resolved here once: a plain scalar that read as a string
           * before (its cache slot says so) is one again */
          int hit, h = str_slot(ld, !key, (const char *)v, n, &hit);
          rval rv;
          int k = R_STR;
          if (plain && o.schema != SCH_FAILSAFE && !(hit && ld->kc[h].plain))
            k = resolve_plain((const char *)v, n, o.schema, &rv);
          switch (k) {
            case R_NULL: NULLV(); break;
            case R_BOOL: lua_pushboolean(L, rv.b); break;
            case R_INT: lua_pushinteger(L, rv.i); break;
            case R_FLOAT: lua_pushnumber(L, rv.d); break;
            default: push_cached(L, ld, h, hit, (const char *)v, n, plain); break;
          }
        } else if (push_scalar(L, (const char *)v, n, plain, tag, o.schema, &why)) {
          err_at(&e, text, len, ev->start_mark, "%s: %s", tag, why);
          goto fail;
        }
        anchor = (const char *)ev->data.scalar.anchor;
        /* a plain "<<" as a key is a merge key */
        if (o.merge && key && plain && !tag && n == 2 && v[0] == '<' && v[1] == '<')
          ld->fr[ld->nfr - 1].merge_key = 1;
        break;
      }
      case YAML_SEQUENCE_START_EVENT: case YAML_MAPPING_START_EVENT: {
        int seq = ev->type == YAML_SEQUENCE_START_EVENT;
        const char *a = (const char *)(seq ? ev->data.sequence_start.anchor
                                           : ev->data.mapping_start.anchor);
        if (ld->nfr >= o.max_depth) {
          err_at(&e, text, len, ev->start_mark,
                 "nesting deeper than max_depth (%lld levels)", (long long)o.max_depth);
          goto fail;
        }
        if (grow_frames(ld)) goto deep;
        f = &ld->fr[ld->nfr++];
        memset(f, 0, sizeof *f);
        f->kind = seq ? 1 : 2;
        f->start = ev->start_mark;
        f->weight = 1;
        f->pbase = ld->npairs;
        if (a && !(f->anchor = strdup(a))) goto deep;
        if (ld->nfr > STACK_DEPTH) {
          f->table = 1;
          if (seq) lua_createtable(L, 4, 0);
          else lua_createtable(L, 0, 4);
        } else {
          lua_pushnil(L);  /* the placeholder */
        }
        f->base = lua_gettop(L);
        goto next;
      }
      case YAML_SEQUENCE_END_EVENT: case YAML_MAPPING_END_EVENT: {
        f = &ld->fr[ld->nfr - 1];
        if (!f->table && (r = materialize(L, ld, f, text, len, &e))) {
          if (r < 0) goto deep;
          goto fail;
        }
        if (f->kind == 1 && f->n == 0) seq_mark(L);
        w = f->weight;
        if (f->anchor) {
          lua_pushvalue(L, -1);
          lua_setfield(L, S_ANCH, f->anchor);
          lua_pushinteger(L, w);
          lua_setfield(L, S_WGT, f->anchor);
          free(f->anchor);
          f->anchor = NULL;
        }
        ld->nfr--;
        break;
      }
    }
    /* a complete value is on top of the stack: add it to its parent */
    if (anchor) {
      lua_pushvalue(L, -1);
      lua_setfield(L, S_ANCH, anchor);
      lua_pushinteger(L, w);
      lua_setfield(L, S_WGT, anchor);
    }
    if (ld->nfr == 0) {
      lua_rawseti(L, S_DOCS, ++ndocs);
      goto next;
    }
    f = &ld->fr[ld->nfr - 1];
    f->weight += w;
    if (f->kind == 1) {
      if (f->table) lua_rawseti(L, f->base, ++f->n);
      else if (++f->n >= SPILL && (r = materialize(L, ld, f, text, len, &e))) goto bad;
    } else if (!f->has_key) {
      if (lua_type(L, -1) != LUA_TSTRING && keyify(L)) {
        err_at(&e, text, len, ev->start_mark, "a NaN cannot be a mapping key");
        goto fail;
      }
      f->has_key = 1;
      /* a collection key ends here: its start is in the frame just left */
      f->key_mark = (ev->type == YAML_SEQUENCE_END_EVENT || ev->type == YAML_MAPPING_END_EVENT)
                        ? ld->fr[ld->nfr].start : ev->start_mark;
    } else if (f->table) {
      if ((r = add_pair(L, f->base, f->merge_key, f->key_mark, f->start, text, len, &e))) goto bad;
      f->has_key = f->merge_key = 0;
    } else {
      lpair *pr = new_pair(ld);
      if (!pr) goto deep;
      pr->key_mark = f->key_mark;
      pr->merge = f->merge_key;
      f->has_key = f->merge_key = 0;
      if (++f->n >= SPILL / 2 && (r = materialize(L, ld, f, text, len, &e))) goto bad;
    }
  next:
    src_done(&ld->src);
    continue;
  bad:
    if (r > 0) goto fail;
  deep:
    err_at(&e, text, len, ev->start_mark, "out of memory or Lua stack (document too deep?)");
    goto fail;
  }
  loader_free(ld);
  if (gc_was) lua_gc(L, LUA_GCRESTART);
  lua_pushvalue(L, S_DOCS);
  return 1;
fail:
  loader_free(ld);
  if (gc_was) lua_gc(L, LUA_GCRESTART);
  return push_err(L, &e);
}

/* empty sequences get the metatable yaml.sequence so dump writes [] */
static void seq_mark(lua_State *L) {
  luaL_getmetatable(L, "slipway.yaml.sequence");
  lua_setmetatable(L, -2);
}

/* ---- the node index (lossless edits) --------------------------------------- */

enum { K_DOC = 1, K_SCALAR, K_SEQ, K_MAP, K_ALIAS };
enum {
  F_PLAIN_IMPL = 1, F_QUOTED_IMPL = 2, F_EXPLICIT_START = 4, F_EXPLICIT_END = 8,
  F_ANCHORS = 16,  /* a document: it has anchors or aliases */
  F_EXT = 32,      /* the node has an extension record (yext) in the arena */
  F_SRC = 64       /* a scalar's or alias's value is its own text (see nval) */
};
#define F_SEMANTIC (F_PLAIN_IMPL | F_QUOTED_IMPL | F_EXPLICIT_START | F_EXPLICIT_END)
#define COL_EXT 0xFFFF  /* the column is in the extension record */

/*
 * One node: 28 bytes, so that the index of a text costs less than the Lua
 * tree yaml.load builds from it (about one node every 10 bytes of YAML).
 * What most nodes do not need lives in an extension record in the arena,
 * made only for a node with a tag or an anchor, a column past 65534, or a
 * value that is not a slice of the text (an escape, a folded line, a block
 * scalar): a plain "image: nginx" has none, its value is text[start, stop).
 */
typedef struct {
  uint8_t ks;       /* kind (low 4 bits), style (high 4 bits) */
  uint8_t flags;
  uint16_t col;     /* of start, 0-based, in characters; COL_EXT: in the ext */
  uint32_t parent;  /* UINT32_MAX for a document */
  uint32_t end;     /* index after the subtree */
  uint32_t start, stop;  /* bytes: the node with its properties, its end */
  uint32_t line;    /* of start, 0-based */
  uint32_t ext;     /* F_EXT: arena offset of its yext */
} ynode;

/* offsets of strings relative to the record itself, positions relative to
 * the node's start: nothing in it changes when the node moves */
typedef struct {
  uint32_t voff;            /* the value starts at start + voff */
  uint32_t col;
  uint32_t val, vlen;       /* !F_SRC: the value (scalar) or name (alias) */
  uint32_t tag, tlen, anc, alen;
} yext;

#define ALIGN8(v) (((v) + 7) & ~(size_t)7)
#define KIND(n) ((n)->ks & 15)
#define STYLE(n) ((n)->ks >> 4)

typedef struct {
  ynode *n;
  uint32_t count, cap;
  char *arena;
  size_t alen, acap;
  const char *text;  /* the text the positions are in (kept alive by uservalue 1) */
  int schema, merge;
  lua_Integer max_depth, max_aliases, max_size;
} yindex;

#define IDX_MT "slipway.yaml.index"

static yext *EXT(const yindex *x, const ynode *n) { return (yext *)(void *)(x->arena + n->ext); }

static uint32_t nvstart(const yindex *x, const ynode *n) {
  return n->flags & F_EXT ? n->start + EXT(x, n)->voff : n->start;
}

static uint32_t ncol(const yindex *x, const ynode *n) {
  return n->col == COL_EXT ? EXT(x, n)->col : n->col;
}

/* where a value that is its own text sits between vstart and stop: after
 * the '*' of an alias, inside the quotes of a quoted scalar */
static void src_trim(const ynode *n, uint32_t *a, uint32_t *b) {
  *a = *b = 0;
  if (KIND(n) == K_ALIAS) *a = 1;
  else if (STYLE(n) == YAML_SINGLE_QUOTED_SCALAR_STYLE || STYLE(n) == YAML_DOUBLE_QUOTED_SCALAR_STYLE)
    *a = *b = 1;
}

/* a scalar's value or an alias's name ("" for other nodes) */
static const char *nval(const yindex *x, const ynode *n, uint32_t *len) {
  if (n->flags & F_SRC) {
    uint32_t a, b, vs = nvstart(x, n);
    src_trim(n, &a, &b);
    *len = n->stop - b - (vs + a);
    return x->text + vs + a;
  }
  if (n->flags & F_EXT) {
    yext *e = EXT(x, n);
    *len = e->vlen;
    return x->arena + n->ext + e->val;
  }
  *len = 0;
  return "";
}

static const char *ntag(const yindex *x, const ynode *n, uint32_t *len) {
  if (!(n->flags & F_EXT) || !EXT(x, n)->tlen) { *len = 0; return NULL; }
  *len = EXT(x, n)->tlen;
  return x->arena + n->ext + EXT(x, n)->tag;
}

static const char *nanc(const yindex *x, const ynode *n, uint32_t *len) {
  if (!(n->flags & F_EXT) || !EXT(x, n)->alen) { *len = 0; return NULL; }
  *len = EXT(x, n)->alen;
  return x->arena + n->ext + EXT(x, n)->anc;
}

static int idx_gc(lua_State *L) {
  yindex *x = luaL_checkudata(L, 1, IDX_MT);
  free(x->n);
  free(x->arena);
  x->n = NULL;
  x->arena = NULL;
  return 0;
}

/* room for n more bytes in the arena, aligned for a yext when align */
static int arena_room(yindex *x, size_t n, int align) {
  size_t at = align ? ALIGN8(x->alen) : x->alen;
  if (at + n > x->acap) {
    size_t cap = x->acap ? x->acap : 4096;
    while (at + n > cap) cap *= 2;
    if (cap > UINT32_MAX) return -1;
    char *p = realloc(x->arena, cap);
    if (!p) return -1;
    x->arena = p;
    x->acap = cap;
  }
  x->alen = at;
  return 0;
}

/* s (n bytes, and a NUL) into the arena at *off */
static int arena_add(yindex *x, const void *s, size_t n, uint32_t *off) {
  if (arena_room(x, n + 1, 0)) return -1;
  *off = (uint32_t)x->alen;
  if (n) memcpy(x->arena + x->alen, s, n);
  x->arena[x->alen + n] = 0;
  x->alen += n + 1;
  return 0;
}

/* skip an anchor/tag/comments/whitespace before a node's value */
static uint32_t skip_props(const char *s, size_t len, size_t i, size_t stop) {
  for (;;) {
    if (i < len && s[i] == '&') {  /* libyaml's anchor names: [0-9A-Za-z_-] */
      i++;
      while (i < len && ((s[i] >= '0' && s[i] <= '9') || (s[i] >= 'a' && s[i] <= 'z') ||
                         (s[i] >= 'A' && s[i] <= 'Z') || s[i] == '_' || s[i] == '-'))
        i++;
    } else if (i < len && s[i] == '!') {
      while (i < len && s[i] != ' ' && s[i] != '\t' && s[i] != '\n' && s[i] != '\r') i++;
    } else {
      break;
    }
    while (i < len) {
      if (s[i] == ' ' || s[i] == '\t' || s[i] == '\n' || s[i] == '\r') i++;
      else if (s[i] == '#') { while (i < len && s[i] != '\n') i++; }
      else break;
    }
  }
  if (i > stop) i = stop;
  return (uint32_t)i;
}

typedef struct {
  evsrc src;
  uint32_t *stack;
  int nst, capst;
  uint32_t end_line;  /* line of the stream end */
} indexer;

static void indexer_free(indexer *ix) {
  src_close(&ix->src);
  free(ix->stack);
  memset(ix, 0, sizeof *ix);
}

static int indexer_gc(lua_State *L) {
  indexer_free((indexer *)lua_touserdata(L, 1));
  return 0;
}

/* Index text (len bytes) into x, appending nodes. Anchors defined so far in
 * the current document are kept in the table at stack slot anch. Returns 0,
 * 1 with e filled (the text does not parse), -1 when out of memory. */
static int index_text(lua_State *L, yindex *x, indexer *ix, const char *text, size_t len,
                      const yopts *o, yerr *e, int anch) {
  poscv pc;
  int done = 0;
  pos_init(&pc, text, len);
  x->text = text;
  if (src_open(&ix->src, text, len, o->thread)) return -1;
  while (!done) {
    yaml_event_t *ev;
    ynode *nd = NULL;
    const char *anchor = NULL, *tag = NULL, *val = NULL;
    size_t vlen = 0;
    int r = src_next(&ix->src, &ev);
    if (r < 0) return -1;
    if (r == 0) {
      err_from_parser(&ix->src.parser, text, len, e);
      return 1;
    }
    switch (ev->type) {
      case YAML_STREAM_END_EVENT:
        done = 1;
        ix->end_line = (uint32_t)ev->start_mark.line;
        break;
      case YAML_STREAM_START_EVENT: case YAML_NO_EVENT: break;
      case YAML_DOCUMENT_END_EVENT: case YAML_SEQUENCE_END_EVENT: case YAML_MAPPING_END_EVENT: {
        uint32_t i = ix->stack[--ix->nst], alen;
        ynode *c = &x->n[i];
        const char *a = nanc(x, c, &alen);
        c->end = x->count;
        if (a) {  /* a collection's anchor is usable after its end */
          lua_pushboolean(L, 1);
          lua_setfield(L, anch, a);
        }
        if (ev->type == YAML_DOCUMENT_END_EVENT) {
          if (!ev->data.document_end.implicit) c->flags |= F_EXPLICIT_END;
          c->stop = (uint32_t)pos_byte(&pc, ev->end_mark.index);
        } else if (STYLE(c) == 2 /* flow */) {
          c->stop = (uint32_t)pos_byte(&pc, ev->end_mark.index);
        } else {
          /* a block collection ends with its last child (libyaml's end
           * mark is at the next token, after comments and blank lines) */
          for (uint32_t k = i + 1; k < x->count; k = x->n[k].end)
            if (x->n[k].stop > c->stop) c->stop = x->n[k].stop;
        }
        break;
      }
      default: {
        uint32_t vstart, col, kind = 0, style = 0;
        if (x->count == x->cap) {
          uint32_t cap = x->cap ? x->cap * 2 : 256;
          ynode *p = realloc(x->n, (size_t)cap * sizeof *p);
          if (!p) return -1;
          x->n = p;
          x->cap = cap;
        }
        nd = &x->n[x->count];
        memset(nd, 0, sizeof *nd);
        nd->parent = ix->nst ? ix->stack[ix->nst - 1] : UINT32_MAX;
        nd->end = x->count + 1;
        nd->start = (uint32_t)pos_byte(&pc, ev->start_mark.index);
        nd->line = (uint32_t)ev->start_mark.line;
        col = ev->start_mark.column >= COL_EXT ? COL_EXT : (uint32_t)ev->start_mark.column;
        nd->stop = (uint32_t)pos_byte(&pc, ev->end_mark.index);
        switch (ev->type) {
          case YAML_DOCUMENT_START_EVENT:
            lua_newtable(L);
            lua_replace(L, anch);
            kind = K_DOC;
            if (!ev->data.document_start.implicit) nd->flags |= F_EXPLICIT_START;
            break;
          case YAML_ALIAS_EVENT:
            if (lua_getfield(L, anch, (const char *)ev->data.alias.anchor) == LUA_TNIL) {
              err_at(e, text, len, ev->start_mark,
                     "alias *%s refers to an anchor that is not defined before it "
                     "(or to a node that contains the alias)", (const char *)ev->data.alias.anchor);
              return 1;
            }
            lua_pop(L, 1);
            kind = K_ALIAS;
            val = (const char *)ev->data.alias.anchor;
            vlen = strlen(val);
            if (ix->nst) x->n[ix->stack[0]].flags |= F_ANCHORS;
            break;
          case YAML_SCALAR_EVENT:
            kind = K_SCALAR;
            style = (uint32_t)ev->data.scalar.style;
            if (ev->data.scalar.plain_implicit) nd->flags |= F_PLAIN_IMPL;
            if (ev->data.scalar.quoted_implicit) nd->flags |= F_QUOTED_IMPL;
            if (ev->data.scalar.length >= UINT32_MAX) return -1;
            val = (const char *)ev->data.scalar.value;
            vlen = ev->data.scalar.length;
            anchor = (const char *)ev->data.scalar.anchor;
            tag = (const char *)ev->data.scalar.tag;
            if (anchor) {
              lua_pushboolean(L, 1);
              lua_setfield(L, anch, anchor);
            }
            break;
          case YAML_SEQUENCE_START_EVENT:
            kind = K_SEQ;
            style = (uint32_t)ev->data.sequence_start.style;
            if (ev->data.sequence_start.implicit) nd->flags |= F_PLAIN_IMPL;
            anchor = (const char *)ev->data.sequence_start.anchor;
            tag = (const char *)ev->data.sequence_start.tag;
            break;
          case YAML_MAPPING_START_EVENT:
            kind = K_MAP;
            style = (uint32_t)ev->data.mapping_start.style;
            if (ev->data.mapping_start.implicit) nd->flags |= F_PLAIN_IMPL;
            anchor = (const char *)ev->data.mapping_start.anchor;
            tag = (const char *)ev->data.mapping_start.tag;
            break;
          default: break;
        }
        nd->ks = (uint8_t)(kind | (style & 15) << 4);
        if (anchor && ix->nst) x->n[ix->stack[0]].flags |= F_ANCHORS;
        vstart = (anchor || tag) ? skip_props(text, len, nd->start, nd->stop) : nd->start;
        if (val) {  /* the value as a slice of the text when it is one */
          uint32_t a, b;
          src_trim(nd, &a, &b);
          if (style != YAML_LITERAL_SCALAR_STYLE && style != YAML_FOLDED_SCALAR_STYLE &&
              (size_t)vstart + a + b <= nd->stop && nd->stop - b - (vstart + a) == vlen &&
              memcmp(text + vstart + a, val, vlen) == 0)
            nd->flags |= F_SRC;
        }
        if (anchor || tag || col == COL_EXT || (val && !(nd->flags & F_SRC))) {
          uint32_t eo, vo = 0, to = 0, ao = 0;
          yext *xe;
          if (arena_room(x, sizeof(yext), 1)) return -1;
          eo = (uint32_t)x->alen;
          x->alen += sizeof(yext);
          if (val && !(nd->flags & F_SRC) && arena_add(x, val, vlen, &vo)) return -1;
          if (tag && arena_add(x, tag, strlen(tag), &to)) return -1;
          if (anchor && arena_add(x, anchor, strlen(anchor), &ao)) return -1;
          xe = (yext *)(void *)(x->arena + eo);
          memset(xe, 0, sizeof *xe);
          xe->voff = vstart - nd->start;
          xe->col = (uint32_t)(ev->start_mark.column > UINT32_MAX ? UINT32_MAX : ev->start_mark.column);
          if (vo) { xe->val = vo - eo; xe->vlen = (uint32_t)vlen; }
          if (to) { xe->tag = to - eo; xe->tlen = (uint32_t)strlen(tag); }
          if (ao) { xe->anc = ao - eo; xe->alen = (uint32_t)strlen(anchor); }
          nd->ext = eo;
          nd->flags |= F_EXT;
        }
        nd->col = (uint16_t)col;
        if (kind == K_DOC || kind == K_SEQ || kind == K_MAP) {
          if (ix->nst > o->max_depth) {
            err_at(e, text, len, ev->start_mark,
                   "nesting deeper than max_depth (%lld levels)", (long long)o->max_depth);
            return 1;
          }
          if (ix->nst == ix->capst) {
            int cap = ix->capst ? ix->capst * 2 : 64;
            uint32_t *p = realloc(ix->stack, (size_t)cap * sizeof *p);
            if (!p) return -1;
            ix->stack = p;
            ix->capst = cap;
          }
          ix->stack[ix->nst++] = x->count;
        }
        x->count++;
      }
    }
    src_done(&ix->src);
  }
  return 0;
}

static indexer *new_indexer(lua_State *L) {
  return new_owned(L, sizeof(indexer), 0, "slipway.yaml.indexer", indexer_gc);
}

/* a new empty index (userdata on top) with room for a text of len bytes */
static yindex *new_index(lua_State *L, const yopts *o, size_t len) {
  yindex *x = lua_newuserdatauv(L, sizeof *x, 1);
  memset(x, 0, sizeof *x);
  luaL_setmetatable(L, IDX_MT);
  x->schema = o->schema;
  x->merge = o->merge;
  x->max_depth = o->max_depth;
  x->max_aliases = o->max_aliases;
  x->max_size = o->max_size;
  {
    /* room for the usual density (a node every 8+ bytes, values no longer
     * than the text): no copying reallocs; untouched pages cost nothing */
    size_t cap = len / 8 + 256;
    if (cap > UINT32_MAX / 2) cap = UINT32_MAX / 2;
    x->n = malloc(cap * sizeof *x->n);
    x->arena = malloc(len + 4096);
    if (!x->n || !x->arena) luaL_error(L, "yaml: out of memory");
    x->cap = (uint32_t)cap;
    x->acap = len + 4096;
  }
  return x;
}

/* idx, err = core.index(text, opts) */
static int l_index(lua_State *L) {
  size_t len;
  const char *text = luaL_checklstring(L, 1, &len);
  yopts o;
  yerr e;
  indexer *ix;
  yindex *x;
  int r;
  lua_settop(L, 2);
  get_opts(L, 2, &o);
  if (check_input(text, len, &o, &e)) return push_err(L, &e);
  if (len >= UINT32_MAX) return luaL_error(L, "yaml: text too large to edit");
  ix = new_indexer(L);      /* 3 */
  x = new_index(L, &o, len);  /* 4 */
  lua_newtable(L);  /* 5: anchors defined so far in this document */
  r = index_text(L, x, ix, text, len, &o, &e, 5);
  indexer_free(ix);
  if (r < 0) return luaL_error(L, "yaml: out of memory");
  if (r > 0) return push_err(L, &e);
  lua_pushvalue(L, 1);
  lua_setiuservalue(L, 4, 1);  /* keep the text with its index */
  lua_pushvalue(L, 4);
  return 1;
}

static yindex *checkidx(lua_State *L, int i) {
  yindex *x = luaL_checkudata(L, i, IDX_MT);
  if (!x->n && x->count) luaL_error(L, "yaml: index is freed");
  return x;
}

static uint32_t checknode(lua_State *L, yindex *x, int arg) {
  lua_Integer i = luaL_checkinteger(L, arg);
  luaL_argcheck(L, i >= 1 && (lua_Unsigned)i <= x->count, arg, "no such node");
  return (uint32_t)(i - 1);
}

static int l_idx_count(lua_State *L) {
  lua_pushinteger(L, checkidx(L, 1)->count);
  return 1;
}

static const char *const kind_names[] = {"", "document", "scalar", "sequence", "mapping", "alias"};
static const char *const scalar_styles[] = {"any", "plain", "single", "double", "literal", "folded"};
static const char *const coll_styles[] = {"any", "block", "flow"};

/* idx:node(i) -> {kind, style, start, vstart, stop, line, col, parent, last,
 * value, tag, anchor, alias}; positions are 1-based bytes, stop inclusive */
static int l_idx_node(lua_State *L) {
  yindex *x = checkidx(L, 1);
  uint32_t i = checknode(L, x, 2);
  ynode *n = &x->n[i];
  uint32_t vl, tl, al;
  const char *v = nval(x, n, &vl), *tg = ntag(x, n, &tl), *an = nanc(x, n, &al);
  lua_createtable(L, 0, 14);
  lua_pushstring(L, kind_names[KIND(n)]);
  lua_setfield(L, -2, "kind");
  if (KIND(n) == K_SCALAR) lua_pushstring(L, scalar_styles[STYLE(n) % 6]);
  else if (KIND(n) == K_SEQ || KIND(n) == K_MAP) lua_pushstring(L, coll_styles[STYLE(n) % 3]);
  else lua_pushnil(L);
  lua_setfield(L, -2, "style");
  lua_pushinteger(L, i + 1);
  lua_setfield(L, -2, "index");
  lua_pushinteger(L, (lua_Integer)n->start + 1);
  lua_setfield(L, -2, "start");
  lua_pushinteger(L, (lua_Integer)nvstart(x, n) + 1);
  lua_setfield(L, -2, "vstart");
  lua_pushinteger(L, (lua_Integer)n->stop);
  lua_setfield(L, -2, "stop");
  lua_pushinteger(L, (lua_Integer)n->line + 1);
  lua_setfield(L, -2, "line");
  lua_pushinteger(L, (lua_Integer)ncol(x, n) + 1);
  lua_setfield(L, -2, "col");
  if (n->parent != UINT32_MAX) {
    lua_pushinteger(L, (lua_Integer)n->parent + 1);
    lua_setfield(L, -2, "parent");
  }
  lua_pushinteger(L, (lua_Integer)n->end);
  lua_setfield(L, -2, "last");
  if (KIND(n) == K_SCALAR) {
    lua_pushlstring(L, v, vl);
    lua_setfield(L, -2, "value");
  } else if (KIND(n) == K_ALIAS) {
    lua_pushlstring(L, v, vl);
    lua_setfield(L, -2, "alias");
  }
  if (tg) {
    lua_pushlstring(L, tg, tl);
    lua_setfield(L, -2, "tag");
  }
  if (an) {
    lua_pushlstring(L, an, al);
    lua_setfield(L, -2, "anchor");
  }
  if (KIND(n) == K_DOC) {
    lua_pushboolean(L, n->flags & F_EXPLICIT_START);
    lua_setfield(L, -2, "explicit_start");
    lua_pushboolean(L, n->flags & F_EXPLICIT_END);
    lua_setfield(L, -2, "explicit_end");
  }
  return 1;
}

/* idx:children(i) -> {child indices}; for a document {i of its root} */
static int l_idx_children(lua_State *L) {
  yindex *x = checkidx(L, 1);
  uint32_t i = checknode(L, x, 2), k = 0;
  lua_newtable(L);
  for (uint32_t c = i + 1; c < x->n[i].end; c = x->n[c].end) {
    lua_pushinteger(L, c + 1);
    lua_rawseti(L, -2, ++k);
  }
  return 1;
}

/* idx:docs() -> {indices of document nodes} */
static int l_idx_docs(lua_State *L) {
  yindex *x = checkidx(L, 1);
  uint32_t k = 0;
  lua_newtable(L);
  for (uint32_t c = 0; c < x->count; c = x->n[c].end) {
    lua_pushinteger(L, c + 1);
    lua_rawseti(L, -2, ++k);
  }
  return 1;
}

/* the node that alias i refers to: the last one before it with that anchor */
static int64_t alias_target(yindex *x, uint32_t i) {
  uint32_t nl, al;
  const char *name = nval(x, &x->n[i], &nl), *an;
  for (int64_t k = (int64_t)i - 1; k >= 0; k--) {
    ynode *c = &x->n[k];
    if ((an = nanc(x, c, &al)) && al == nl && memcmp(an, name, nl) == 0) {
      if (c->end > i) return -1;  /* contains the alias */
      return k;
    }
    if (KIND(c) == K_DOC) break;
  }
  return -1;
}

/* idx:target(i) -> index of the node alias i refers to, or nil */
static int l_idx_target(lua_State *L) {
  yindex *x = checkidx(L, 1);
  uint32_t i = checknode(L, x, 2);
  int64_t t;
  if (KIND(&x->n[i]) != K_ALIAS || (t = alias_target(x, i)) < 0) return 0;
  lua_pushinteger(L, t + 1);
  return 1;
}

typedef struct {
  yindex *x;
  lua_Integer budget;
  const char *why;
  uint32_t at;
} dctx;

static int push_node(lua_State *L, dctx *d, uint32_t i, int depth);

static int push_node_mrg(lua_State *L, dctx *d, uint32_t i, int depth) {
  ynode *n = &d->x->n[i];
  if (!lua_checkstack(L, 8) || depth > 10000) { d->why = "document too deep"; d->at = i; return -1; }
  if (--d->budget < 0) goto budget;
  switch (KIND(n)) {
    case K_DOC:
      if (n->end > i + 1) return push_node(L, d, i + 1, depth + 1);
      NULLV();
      return 0;
    case K_ALIAS: {
      int64_t t = alias_target(d->x, i);
      if (t < 0) { d->why = "alias refers to an undefined anchor"; d->at = i; return -1; }
      return push_node(L, d, (uint32_t)t, depth + 1);
    }
    case K_SCALAR: {
      uint32_t vl, tl;
      const char *v = nval(d->x, n, &vl), *tag = ntag(d->x, n, &tl);
      if (d->x->schema == SCH_FAILSAFE && !tag) {
        lua_pushlstring(L, v, vl);
        return 0;
      }
      if (push_scalar(L, v, vl, STYLE(n) == YAML_PLAIN_SCALAR_STYLE,
                      tag, d->x->schema, &d->why)) {
        d->at = i;
        return -1;
      }
      return 0;
    }
    case K_SEQ: {
      lua_Integer k = 0;
      lua_newtable(L);
      for (uint32_t c = i + 1; c < n->end; c = d->x->n[c].end) {
        if (push_node(L, d, c, depth + 1)) return -1;
        lua_rawseti(L, -2, ++k);
      }
      if (k == 0) seq_mark(L);
      return 0;
    }
    case K_MAP: {
      int t;
      lua_newtable(L);
      t = lua_gettop(L);
      lua_newtable(L);  /* keys from merges */
      for (uint32_t c = i + 1; c < n->end; c = d->x->n[d->x->n[c].end].end) {
        uint32_t v = d->x->n[c].end, kl, tl;
        ynode *kn = &d->x->n[c];
        const char *ks = nval(d->x, kn, &kl);
        if (d->x->merge && KIND(kn) == K_SCALAR && STYLE(kn) == YAML_PLAIN_SCALAR_STYLE &&
            !ntag(d->x, kn, &tl) && kl == 2 && memcmp(ks, "<<", 2) == 0) {
          if (push_node(L, d, v, depth + 1)) return -1;
          if (merge_key(L, t, t + 1, lua_gettop(L), &d->why)) {
            d->at = v;
            return -1;
          }
          lua_pop(L, 1);
          continue;
        }
        if (push_node(L, d, c, depth + 1)) return -1;
        if (keyify(L)) { d->why = "a NaN cannot be a mapping key"; d->at = c; return -1; }
        if (push_node(L, d, v, depth + 1)) return -1;
        lua_pushvalue(L, -2);
        if (lua_rawget(L, t) != LUA_TNIL) {
          lua_pushvalue(L, -3);
          if (lua_rawget(L, t + 1) == LUA_TNIL) {
            d->why = "duplicate key";
            d->at = c;
            return -1;
          }
          lua_pop(L, 1);
          lua_pushvalue(L, -3);
          lua_pushnil(L);
          lua_rawset(L, t + 1);
        }
        lua_pop(L, 1);
        lua_rawset(L, t);
      }
      lua_pop(L, 1);
      return 0;
    }
  }
  NULLV();
  return 0;
budget:
  d->why = "alias expansion exceeds max_aliases";
  d->at = i;
  return -1;
}

static int push_node(lua_State *L, dctx *d, uint32_t i, int depth) {
  return push_node_mrg(L, d, i, depth);
}

/* v = idx:data(i) -- the value of node i (raises a plain error on failure,
 * which a loadable text never produces except for alias expansion) */
static int l_idx_data(lua_State *L) {
  yindex *x = checkidx(L, 1);
  uint32_t i = checknode(L, x, 2);
  dctx d = {x, 0, NULL, 0};
  int top = lua_gettop(L);
  /* node count of the text plus the alias budget */
  d.budget = (lua_Integer)x->count + x->max_aliases;
  if (push_node(L, &d, i, 0)) {
    lua_settop(L, top);
    lua_pushnil(L);
    lua_pushfstring(L, "%s (line %d)", d.why, (int)x->n[d.at].line + 1);
    return 2;
  }
  return 1;
}

static int str_eq(const char *s, uint32_t n, const char *t, uint32_t m) {
  return n == m && (n == 0 || memcmp(s, t, n) == 0);
}

/* keys, merge = idx:find(map, key): the key nodes of mapping map that read
 * as key (their text, or the canonical text of the scalar they resolve to:
 * "1", "true", "null"), and the last plain "<<" key. What the editor's path
 * walk asks of every mapping on the way, without a Lua table per key. */
static int l_idx_find(lua_State *L) {
  yindex *x = checkidx(L, 1);
  uint32_t m = checknode(L, x, 2), merge = UINT32_MAX;
  size_t kl;
  const char *key = luaL_checklstring(L, 3, &kl);
  lua_Integer nf = 0;
  lua_newtable(L);
  if (KIND(&x->n[m]) != K_MAP) return 1;
  for (uint32_t c = m + 1; c < x->n[m].end && x->n[c].end < x->n[m].end; c = x->n[x->n[c].end].end) {
    ynode *kn = &x->n[c];
    uint32_t vl, tl;
    const char *v;
    int match;
    if (KIND(kn) != K_SCALAR) continue;
    v = nval(x, kn, &vl);
    if (STYLE(kn) == YAML_PLAIN_SCALAR_STYLE && vl == 2 && memcmp(v, "<<", 2) == 0) merge = c;
    match = vl == kl && memcmp(v, key, kl) == 0;
    if (!match && (STYLE(kn) == YAML_PLAIN_SCALAR_STYLE || ntag(x, kn, &tl))) {
      /* what it reads as, made a key as the loader does */
      dctx d = {x, (lua_Integer)x->count + x->max_aliases, NULL, 0};
      int top = lua_gettop(L);
      if (push_node(L, &d, c, 0) == 0 && keyify(L) == 0 && lua_type(L, -1) == LUA_TSTRING) {
        size_t sl;
        const char *sv = lua_tolstring(L, -1, &sl);
        match = sl == kl && memcmp(sv, key, kl) == 0;
      }
      lua_settop(L, top);
    }
    if (match) {
      lua_pushinteger(L, (lua_Integer)c + 1);
      lua_rawseti(L, -2, ++nf);
    }
  }
  if (merge == UINT32_MAX) return 1;
  lua_pushinteger(L, (lua_Integer)merge + 1);
  return 2;
}

static int node_eq(yindex *a, uint32_t i, yindex *b, uint32_t j) {
  ynode *p = &a->n[i], *q = &b->n[j];
  uint32_t pl, ql;
  const char *ps, *qs;
  if (p->ks != q->ks || (p->flags & F_SEMANTIC) != (q->flags & F_SEMANTIC)) return 0;
  if (p->end - i != q->end - j) return 0;
  ps = nval(a, p, &pl);
  qs = nval(b, q, &ql);
  if (!str_eq(ps, pl, qs, ql)) return 0;
  if (!(p->flags & F_EXT) && !(q->flags & F_EXT)) return 1;
  ps = ntag(a, p, &pl);
  qs = ntag(b, q, &ql);
  if ((ps == NULL) != (qs == NULL) || !str_eq(ps, pl, qs, ql)) return 0;
  ps = nanc(a, p, &pl);
  qs = nanc(b, q, &ql);
  return (ps == NULL) == (qs == NULL) && str_eq(ps, pl, qs, ql);
}

/* ok, i, j = core.compare(a, b, i0, i1, j1): nodes [1, i0) of a and b are
 * the same, a's nodes from i1 on equal b's from j1 on (same count), except
 * that ancestors of the region may differ in subtree size by i1 - j1.
 * Indices 1-based; on a difference returns false and the first differing
 * node of a and of b. */
static int l_compare(lua_State *L) {
  yindex *a = checkidx(L, 1), *b = checkidx(L, 2);
  lua_Integer i0 = luaL_checkinteger(L, 3) - 1, i1 = luaL_checkinteger(L, 4) - 1,
              j1 = luaL_checkinteger(L, 5) - 1;
  int64_t delta = (int64_t)j1 - i1;
  if (i0 < 0 || i1 < i0 || j1 < i0 || (uint64_t)i1 > a->count || (uint64_t)j1 > b->count)
    return luaL_error(L, "yaml.compare: bad region");
  if ((int64_t)a->count - i1 != (int64_t)b->count - j1) {
    lua_pushboolean(L, 0);
    lua_pushinteger(L, i1 + 1);
    lua_pushinteger(L, j1 + 1);
    return 3;
  }
  for (uint32_t k = 0; k < (uint32_t)i0; k++) {
    ynode *p = &a->n[k], *q = &b->n[k];
    int ok;
    if (p->end > (uint32_t)i0 || q->end > (uint32_t)i0) {  /* an ancestor of the region */
      ynode save = *q;
      ok = (int64_t)q->end - p->end == delta;
      q->end = p->end;
      ok = ok && node_eq(a, k, b, k);
      *q = save;
    } else {
      ok = node_eq(a, k, b, k);
    }
    if (ok) ok = p->parent == q->parent;
    if (!ok) {
      lua_pushboolean(L, 0);
      lua_pushinteger(L, k + 1);
      lua_pushinteger(L, k + 1);
      return 3;
    }
  }
  for (uint32_t k = (uint32_t)i1; k < a->count; k++) {
    uint32_t m = (uint32_t)(k + delta);
    ynode *p = &a->n[k], *q = &b->n[m];
    uint32_t pp = p->parent;
    if (pp != UINT32_MAX && pp >= (uint32_t)i1) pp = (uint32_t)(pp + delta);
    if (!node_eq(a, k, b, m) || pp != q->parent) {
      lua_pushboolean(L, 0);
      lua_pushinteger(L, k + 1);
      lua_pushinteger(L, m + 1);
      return 3;
    }
  }
  lua_pushboolean(L, 1);
  return 1;
}

/* ---- edits: index again only the part of the text an edit touched --------- */

/*
 * An edit changes a few bytes of a big text; indexing the whole new text
 * again to check it costs a full parse. core.reindex parses a window of the
 * new text instead: from a restart point at or before the change to one
 * after it, where libyaml's state is known to be the same in the old and the
 * new text, so that every event outside the window is the same as before
 * (shifted), and the index is spliced in place.
 *
 * Restart points, both at the start of a line whose bytes (and the line
 * break before them) the edit did not touch:
 *   - the "---" (or "%" directive) that starts a document, or the start of
 *     the text: between documents libyaml keeps nothing but the stream;
 *   - a key of a document's root block mapping at column 0, a one-line
 *     scalar starting with a character that is no indicator, in a document
 *     with no anchors, aliases or directives: libyaml is then inside that
 *     mapping with every deeper level closed and no flow level, exactly the
 *     state of a standalone text that starts with that key. The window is
 *     parsed as such a text and its synthetic document and mapping dropped.
 * The window must parse, and as one document with a block mapping at column
 * 0 when it starts at a key; anything else (an error included) falls back
 * to indexing the whole text, which gives the authoritative answer.
 */

typedef struct {
  uint32_t lo, hi_old, hi_new, count_old;
  int64_t dn, db, dl;
  size_t alen_old;
  ynode *saved;       /* the old nodes [lo, hi_old) */
  uint32_t anc[2];    /* the window's ancestors (UINT32_MAX: none) */
  ynode anc_old[2];
  int done;
} yundo;

#define UNDO_MT "slipway.yaml.undo"

static int undo_gc(lua_State *L) {
  yundo *u = luaL_checkudata(L, 1, UNDO_MT);
  free(u->saved);
  u->saved = NULL;
  return 0;
}

static int plain_start(unsigned char c) {
  return c > 0x20 && c < 0x7F && !strchr("-?:,[]{}#&*!|>%@`.", c);
}

/* a node with a tag or an anchor */
static int has_props(const yindex *x, const ynode *n) {
  uint32_t l;
  return ntag(x, n, &l) || nanc(x, n, &l);
}

static int restart_key(yindex *x, const char *t, size_t tl, uint32_t k, uint32_t map) {
  ynode *n = &x->n[k];
  return KIND(n) == K_SCALAR && n->parent == map && n->end == k + 1 && n->col == 0 &&
         !has_props(x, n) && n->start > 0 && n->start < tl && t[n->start - 1] == '\n' &&
         plain_start((unsigned char)t[n->start]);
}

static int restart_doc(const char *t, size_t tl, uint32_t s) {
  if (s == 0) return 1;
  if (s >= tl || t[s - 1] != '\n') return 0;
  if (t[s] == '%') return 1;
  return s + 3 <= tl && memcmp(t + s, "---", 3) == 0 &&
         (s + 3 == tl || t[s + 3] == ' ' || t[s + 3] == '\t' || t[s + 3] == '\r' || t[s + 3] == '\n');
}

static void shift_node(ynode *n, int64_t db, int64_t dl, int64_t dn, uint32_t from) {
  n->start = (uint32_t)(n->start + db);
  n->stop = (uint32_t)(n->stop + db);
  n->line = (uint32_t)(n->line + dl);
  n->end = (uint32_t)(n->end + dn);
  if (n->parent != UINT32_MAX && n->parent >= from) n->parent = (uint32_t)(n->parent + dn);
}

/* st, ... = core.reindex(idx, text, i0, i1): idx indexes the current text;
 * text is the edited one, the edit replacing nodes [i0, i1) (1-based).
 *   "full"                 no window applies: index the whole text
 *   "differs", la, lb      a node outside the edit differs (old, new line)
 *   "spliced", undo, j1    idx now indexes text (core.undo(idx, undo) puts
 *                          it back); the edit's nodes are [i0, j1) */
static int l_reindex(lua_State *L) {
  yindex *x = checkidx(L, 1);
  size_t tl, ul, p = 0, q = 0;
  const char *t, *u = luaL_checklstring(L, 2, &ul);
  lua_Integer i0a = luaL_checkinteger(L, 3) - 1, i1a = luaL_checkinteger(L, 4) - 1;
  uint32_t i0, i1, d, dnext, lo, hi_old, w0, w0line, cut, map = UINT32_MAX, skip = 0;
  int keylevel = 0, keycut = 0, r;
  yopts o;
  yerr e;
  indexer *ix;
  yindex *w;
  yundo *un;
  int64_t db, dn, dl = 0;
  uint32_t nw, hi_new;
  lua_settop(L, 4);
  lua_getiuservalue(L, 1, 1);  /* 5: the old text */
  t = lua_tolstring(L, 5, &tl);
  if (!t || i0a < 0 || i1a < i0a || (uint64_t)i1a > x->count)
    return luaL_error(L, "yaml.reindex: bad region");
  i0 = (uint32_t)i0a;
  i1 = (uint32_t)i1a;
  if ((lua_Integer)ul > x->max_size || ul >= UINT32_MAX / 2 || x->count == 0) goto full;
  /* the common prefix (p bytes) and suffix (q bytes); they may overlap
   * (an insertion next to a copy of itself): each is a fact on its own */
  while (p < tl && p < ul && t[p] == u[p]) p++;
  while (q < tl && q < ul && t[tl - 1 - q] == u[ul - 1 - q]) q++;
  db = (int64_t)ul - (int64_t)tl;
  /* the document holding the first changed byte (the one before, when the
   * change is an insertion right at the start of a document) */
  for (d = 0, dnext = x->n[0].end; dnext < x->count && x->n[dnext].start < p; d = dnext, dnext = x->n[d].end) {}
  /* a key of its root block mapping before the change */
  lo = d;
  w0 = x->n[d].start;
  w0line = x->n[d].line;
  if (!(x->n[d].flags & F_ANCHORS) && x->n[d].end > d + 1 && t[x->n[d].start] != '%') {
    ynode *m = &x->n[d + 1];
    if (KIND(m) == K_MAP && STYLE(m) == YAML_BLOCK_MAPPING_STYLE && m->col == 0 && !has_props(x, m)) {
      map = d + 1;
      for (uint32_t k = d + 2; k < m->end; k = x->n[x->n[k].end].end) {
        if (x->n[k].start + 1 > p) {
          /* the first key after the change whose line is untouched */
          if ((uint64_t)x->n[k].start >= tl - q + 1 && restart_key(x, t, tl, k, map)) {
            keycut = 1;
            cut = k;
            break;
          }
        } else if (restart_key(x, t, tl, k, map)) {
          keylevel = 1;
          lo = k;
          w0 = x->n[k].start;
          w0line = x->n[k].line;
        }
        if (x->n[k].end >= m->end) break;
      }
    }
  }
  if (!keylevel) {
    keycut = 0;
    if (d == 0) { w0 = 0; w0line = 0; }
    else if (!restart_doc(t, tl, w0) || (size_t)w0 + 4 > p) goto full;
  }
  if (!keycut) {
    cut = dnext;
    while (cut < x->count && !((uint64_t)x->n[cut].start >= tl - q + 1 && restart_doc(t, tl, x->n[cut].start)))
      cut = x->n[cut].end;
  }
  hi_old = cut;
  if (i0 < lo || i1 > hi_old) goto full;
  {
    size_t wend = (size_t)((int64_t)(cut < x->count ? x->n[cut].start : tl) + db);
    size_t wlen;
    if (wend < w0 || (wend == w0 && keylevel && !keycut)) goto full;
    wlen = wend - w0;
    memset(&o, 0, sizeof o);  /* the index's own options */
    o.schema = x->schema;
    o.merge = x->merge;
    o.max_depth = x->max_depth;
    o.max_aliases = x->max_aliases;
    o.max_size = x->max_size;  /* and thread 0: a window is parsed in line */
    ix = new_indexer(L);        /* 6 */
    w = new_index(L, &o, wlen); /* 7 */
    lua_newtable(L);            /* 8 */
    if (wlen == 0) {
      /* the edit removed the window's entries or documents: the new text
       * goes on from the same state at the same restart point */
      indexer_free(ix);
      dl = (int64_t)w0line - x->n[cut].line;
      goto mapped;
    }
    r = index_text(L, w, ix, u + w0, wlen, &o, &e, 8);
    if (r < 0) {
      indexer_free(ix);
      return luaL_error(L, "yaml: out of memory");
    }
    if (r > 0) { indexer_free(ix); goto full; }
    if (keylevel) {
      ynode *wd = &w->n[0], *wm = &w->n[1];
      if (w->count < 2 || KIND(wd) != K_DOC || (wd->flags & F_EXPLICIT_START) || wd->end != w->count ||
          KIND(wm) != K_MAP || STYLE(wm) != YAML_BLOCK_MAPPING_STYLE || wm->start != 0 || wm->col != 0 ||
          has_props(w, wm) || wm->end != w->count || (keycut && (wd->flags & F_EXPLICIT_END)))
        { indexer_free(ix); goto full; }
      skip = 2;
    } else if (w->count == 0 || KIND(&w->n[0]) != K_DOC) {
      indexer_free(ix);
      goto full;
    }
    if (cut < x->count) dl = (int64_t)w0line + ix->end_line - x->n[cut].line;
    indexer_free(ix);
  }
mapped:
  nw = w->count - skip;
  dn = (int64_t)nw - (hi_old - lo);
  hi_new = lo + nw;
  if ((int64_t)i1 + dn < i0) goto full;
  /* the window's nodes in the new index's numbering and bytes */
  for (uint32_t j = skip; j < w->count; j++) {
    ynode *n = &w->n[j];
    n->start += w0;
    n->stop += w0;
    n->line += w0line;
    n->end = lo + (n->end - skip);
    if (n->parent == UINT32_MAX) {}
    else if (keylevel && n->parent == 1) n->parent = map;
    else n->parent = lo + (n->parent - skip);
  }
  w->text = u;  /* the window's values that are slices of it, at their new places */
  /* outside the edit every node of the window must be what it was */
  for (uint32_t k = lo; k < i0; k++) {
    ynode *a = &x->n[k], *b = &w->n[k - lo + skip];
    int ok;
    if (a->end > i0 || b->end > i0) {
      uint32_t save = b->end;
      ok = (int64_t)b->end - a->end == dn;
      b->end = a->end - lo + skip;  /* node_eq compares subtree sizes */
      ok = ok && node_eq(x, k, w, k - lo + skip);
      b->end = save;
    } else {
      uint32_t save = b->end;
      b->end = b->end - lo + skip;
      ok = node_eq(x, k, w, k - lo + skip);
      b->end = save;
    }
    if (!ok || a->parent != b->parent) {
      lua_pushliteral(L, "differs");
      lua_pushinteger(L, (lua_Integer)a->line + 1);
      lua_pushinteger(L, (lua_Integer)b->line + 1);
      return 3;
    }
  }
  for (uint32_t k = i1; k < hi_old; k++) {
    uint32_t m = (uint32_t)(k + dn), pp = x->n[k].parent;
    ynode *a = &x->n[k], *b = &w->n[m - lo + skip];
    uint32_t save = b->end;
    int ok;
    if (pp != UINT32_MAX && pp >= i1) pp = (uint32_t)(pp + dn);
    b->end = b->end - lo + skip;
    ok = node_eq(x, k, w, m - lo + skip);
    b->end = save;
    if (!ok || pp != b->parent) {
      lua_pushliteral(L, "differs");
      lua_pushinteger(L, (lua_Integer)a->line + 1);
      lua_pushinteger(L, (lua_Integer)b->line + 1);
      return 3;
    }
  }
  /* room first, so that nothing fails half-way */
  if ((uint64_t)x->count + (dn > 0 ? dn : 0) > x->cap) {
    uint64_t cap = (uint64_t)x->count + (dn > 0 ? dn : 0) + 256;
    ynode *np;
    if (cap > UINT32_MAX / 2 || !(np = realloc(x->n, cap * sizeof *np))) return luaL_error(L, "yaml: out of memory");
    x->n = np;
    x->cap = (uint32_t)cap;
  }
  if (ALIGN8(x->alen) + w->alen + 1 > x->acap) {
    size_t cap = ALIGN8(x->alen) + w->alen + 4096 + x->acap / 4;
    char *na;
    if (cap > UINT32_MAX || !(na = realloc(x->arena, cap))) return luaL_error(L, "yaml: out of memory");
    x->arena = na;
    x->acap = cap;
  }
  un = new_owned(L, sizeof *un, 1, UNDO_MT, undo_gc);  /* 9 */
  if (hi_old > lo && !(un->saved = malloc((size_t)(hi_old - lo) * sizeof(ynode))))
    return luaL_error(L, "yaml: out of memory");
  if (hi_old > lo) memcpy(un->saved, x->n + lo, (size_t)(hi_old - lo) * sizeof(ynode));
  un->lo = lo;
  un->hi_old = hi_old;
  un->hi_new = hi_new;
  un->count_old = x->count;
  un->dn = dn;
  un->db = db;
  un->dl = dl;
  un->alen_old = x->alen;
  un->anc[0] = un->anc[1] = UINT32_MAX;
  lua_pushvalue(L, 5);
  lua_setiuservalue(L, 9, 1);
  /* splice: the tail moves and shifts, the window goes in, then its ancestors */
  memmove(x->n + hi_new, x->n + hi_old, (size_t)(x->count - hi_old) * sizeof(ynode));
  for (uint32_t k = hi_new; k < x->count + dn; k++) shift_node(&x->n[k], db, dl, dn, hi_old);
  {
    uint32_t base = (uint32_t)ALIGN8(x->alen);  /* keeps the yext records aligned */
    if (w->alen) memcpy(x->arena + base, w->arena, w->alen);
    x->alen = base + w->alen;
    for (uint32_t j = skip; j < w->count; j++) {
      ynode *n = &x->n[lo + j - skip];
      *n = w->n[j];
      if (n->flags & F_EXT) n->ext += base;
    }
  }
  if (keylevel) {
    uint32_t anc[2] = {map, d};
    for (int a = 0; a < 2; a++) {
      ynode *n = &x->n[anc[a]];
      un->anc[a] = anc[a];
      un->anc_old[a] = *n;
      n->end = (uint32_t)(n->end + dn);
      if (keycut) n->stop = (uint32_t)(n->stop + db);
      else n->stop = w->n[a == 0 ? 1 : 0].stop + w0;
      if (!keycut && a == 1) n->flags = (uint8_t)((n->flags & ~F_EXPLICIT_END) | (w->n[0].flags & F_EXPLICIT_END));
    }
    x->n[d].flags |= w->n[0].flags & F_ANCHORS;  /* anchors the edit wrote */
  }
  x->count = (uint32_t)(x->count + dn);
  x->text = u;
  lua_pushvalue(L, 2);
  lua_setiuservalue(L, 1, 1);
  lua_pushliteral(L, "spliced");
  lua_pushvalue(L, 9);
  lua_pushinteger(L, (lua_Integer)i1 + dn + 1);
  return 3;
full:
  lua_pushliteral(L, "full");
  return 1;
}

/* core.undo(idx, undo): idx indexes the text before the edit again */
static int l_undo(lua_State *L) {
  yindex *x = checkidx(L, 1);
  yundo *un = luaL_checkudata(L, 2, UNDO_MT);
  if (un->done) return luaL_error(L, "yaml.undo: already undone");
  un->done = 1;
  for (uint32_t k = un->hi_new; k < x->count; k++) shift_node(&x->n[k], -un->db, -un->dl, -un->dn, un->hi_new);
  memmove(x->n + un->hi_old, x->n + un->hi_new, (size_t)(x->count - un->hi_new) * sizeof(ynode));
  if (un->hi_old > un->lo) memcpy(x->n + un->lo, un->saved, (size_t)(un->hi_old - un->lo) * sizeof(ynode));
  for (int a = 0; a < 2; a++)
    if (un->anc[a] != UINT32_MAX) x->n[un->anc[a]] = un->anc_old[a];
  x->count = un->count_old;
  x->alen = un->alen_old;
  lua_getiuservalue(L, 2, 1);
  x->text = lua_tostring(L, -1);
  lua_setiuservalue(L, 1, 1);
  return 0;
}

/* ---- helpers for the dumper and the editor -------------------------------- */

static int schema_arg(lua_State *L, int i) {
  static const char *const names[] = {"helm", "core", "json", "failsafe", NULL};
  return luaL_checkoption(L, i, "helm", names);
}

/* v, kind = core.resolve(s, schema): what a plain scalar s reads as;
 * kind is "big" for an integer too large for Lua (returned as the string) */
static int l_resolve(lua_State *L) {
  size_t n;
  const char *s = luaL_checklstring(L, 1, &n);
  rval r;
  switch (resolve_plain(s, n, schema_arg(L, 2), &r)) {
    case R_NULL: NULLV(); return 1;
    case R_BOOL: lua_pushboolean(L, r.b); return 1;
    case R_INT: lua_pushinteger(L, r.i); return 1;
    case R_FLOAT: lua_pushnumber(L, r.d); return 1;
    case R_BIG: lua_pushvalue(L, 1); lua_pushliteral(L, "big"); return 2;
    default: lua_pushvalue(L, 1); return 1;
  }
}

/* length of the valid UTF-8 sequence at s (n bytes left), 0 if invalid */
static size_t utf8_len(const unsigned char *s, size_t n, unsigned *cp) {
  unsigned c = s[0];
  size_t k;
  unsigned v, min;
  if (c < 0x80) { *cp = c; return 1; }
  if (c >= 0xC2 && c <= 0xDF) { k = 2; v = c & 0x1F; min = 0x80; }
  else if (c >= 0xE0 && c <= 0xEF) { k = 3; v = c & 0x0F; min = 0x800; }
  else if (c >= 0xF0 && c <= 0xF4) { k = 4; v = c & 0x07; min = 0x10000; }
  else return 0;
  if (n < k) return 0;
  for (size_t i = 1; i < k; i++) {
    if ((s[i] & 0xC0) != 0x80) return 0;
    v = (v << 6) | (s[i] & 0x3F);
  }
  if (v < min || v > 0x10FFFF || (v >= 0xD800 && v <= 0xDFFF)) return 0;
  *cp = v;
  return k;
}

static int printable(unsigned cp) {
  return cp == 0x09 || cp == 0x0A || (cp >= 0x20 && cp <= 0x7E) || cp == 0x85 ||
         (cp >= 0xA0 && cp <= 0xD7FF) || (cp >= 0xE000 && cp <= 0xFFFD && cp != 0xFEFF) ||
         (cp >= 0x10000 && cp <= 0x10FFFF);
}

/* YAML 1.1 forms other readers (PyYAML, go-yaml's timestamps) take for
 * numbers or dates: 1:20 (base 60), 2001-12-14... */
static int looks_11(const unsigned char *s, size_t n) {
  size_t i = 0, d = 0;
  if (i < n && (s[i] == '-' || s[i] == '+')) i++;
  while (i < n && isdig(s[i])) i++, d++;
  if (d > 0 && i < n && s[i] == ':') return 1;
  if (d == 4 && i < n && s[i] == '-' && i + 1 < n && isdig(s[i + 1])) return 1;
  return 0;
}

/* ok = core.plain_ok(s, dash): s can be written as a plain scalar in block
 * and flow context and reads back as the same string under every schema.
 * With dash true a leading "-" followed by a non-space is allowed too
 * ("--log-level=info": YAML 1.1 and 1.2 read it as a plain scalar; numbers
 * such as "-5" and "-1:20" are still refused by the checks below). */
static int l_plain_ok(lua_State *L) {
  size_t n;
  const unsigned char *s = (const unsigned char *)luaL_checklstring(L, 1, &n);
  int lead_ok = lua_toboolean(L, 2) && n >= 2 && s[0] == '-' && s[1] != ' ' && s[1] != '\t';
  rval r;
  int ok = 1;
  if (n == 0 || resolve_helm((const char *)s, n, &r) != R_STR ||
      resolve_core((const char *)s, n, &r) != R_STR ||
      resolve_json((const char *)s, n, &r) != R_STR)
    ok = 0;
  else if ((!lead_ok && strchr("-?:,[]{}#&*!|>'\"%@`<= ", s[0])) || s[n - 1] == ' ' || s[n - 1] == ':')
    ok = 0;
  else if (n >= 3 && (memcmp(s, "---", 3) == 0 || memcmp(s, "...", 3) == 0))
    ok = 0;
  else if (looks_11(s, n))
    ok = 0;
  else {
    for (size_t i = 0; i < n && ok;) {
      unsigned cp;
      size_t k = utf8_len(s + i, n - i, &cp);
      if (k == 0 || cp < 0x20 || cp == 0x09 || cp == 0x7F || (cp >= 0x80 && cp <= 0x9F) || cp == 0xFEFF ||
          cp == 0x2028 || cp == 0x2029 || !printable(cp))
        ok = 0;
      else if (strchr(",[]{}", (int)cp) && cp < 0x80 && cp)
        ok = 0;
      else if (cp == ':' && (i + 1 == n || s[i + 1] == ' '))
        ok = 0;
      else if (cp == '#' && i > 0 && s[i - 1] == ' ')
        ok = 0;
      i += k ? k : 1;
    }
  }
  lua_pushboolean(L, ok);
  return 1;
}

/* s = core.quote(s): a double-quoted scalar; raises on invalid UTF-8 */
static int l_quote(lua_State *L) {
  size_t n;
  const unsigned char *s = (const unsigned char *)luaL_checklstring(L, 1, &n);
  luaL_Buffer b;
  char tmp[16];
  luaL_buffinit(L, &b);
  luaL_addchar(&b, '"');
  for (size_t i = 0; i < n;) {
    unsigned cp;
    size_t k = utf8_len(s + i, n - i, &cp);
    if (k == 0)
      return luaL_error(L, "yaml: cannot write a string that is not valid UTF-8 (byte %d)",
                        (int)i + 1);
    switch (cp) {
      case '"': luaL_addstring(&b, "\\\""); break;
      case '\\': luaL_addstring(&b, "\\\\"); break;
      case '\n': luaL_addstring(&b, "\\n"); break;
      case '\t': luaL_addstring(&b, "\\t"); break;
      case '\r': luaL_addstring(&b, "\\r"); break;
      case 0: luaL_addstring(&b, "\\0"); break;
      case 0x85: luaL_addstring(&b, "\\N"); break;
      case 0xA0: luaL_addstring(&b, "\\_"); break;
      case 0x2028: luaL_addstring(&b, "\\L"); break;
      case 0x2029: luaL_addstring(&b, "\\P"); break;
      default:
        if (cp < 0x20 || cp == 0x7F) {
          snprintf(tmp, sizeof tmp, "\\x%02X", cp);
          luaL_addstring(&b, tmp);
        } else if (!printable(cp) || (cp >= 0x80 && cp <= 0x9F)) {
          snprintf(tmp, sizeof tmp, cp > 0xFFFF ? "\\U%08X" : "\\u%04X", cp);
          luaL_addstring(&b, tmp);
        } else {
          luaL_addlstring(&b, (const char *)s + i, k);
        }
    }
    i += k;
  }
  luaL_addchar(&b, '"');
  luaL_pushresult(&b);
  return 1;
}

/* t = core.splice(s, i, j, new): s with bytes [i, j] (1-based, inclusive;
 * j = i - 1 inserts) replaced by new. One string of the final size: two
 * substrings and a concatenation would leave a copy of s behind. */
static int l_splice(lua_State *L) {
  size_t n, m;
  const char *s = luaL_checklstring(L, 1, &n);
  lua_Integer i = luaL_checkinteger(L, 2), j = luaL_checkinteger(L, 3);
  const char *t = luaL_checklstring(L, 4, &m);
  luaL_Buffer b;
  luaL_argcheck(L, i >= 1 && (lua_Unsigned)i <= n + 1, 2, "out of range");
  luaL_argcheck(L, j >= i - 1 && (lua_Unsigned)j <= n, 3, "out of range");
  if (m > (size_t)-1 / 2 - n) return luaL_error(L, "yaml.splice: result too large");
  char *p = luaL_buffinitsize(L, &b, n - (size_t)(j - i + 1) + m);
  memcpy(p, s, (size_t)i - 1);
  memcpy(p + i - 1, t, m);
  memcpy(p + (i - 1) + m, s + j, n - (size_t)j);
  luaL_pushresultsize(&b, n - (size_t)(j - i + 1) + m);
  return 1;
}

/* ok = core.utf8(s): s is valid UTF-8 with only characters YAML allows */
static int l_utf8(lua_State *L) {
  size_t n;
  const unsigned char *s = (const unsigned char *)luaL_checklstring(L, 1, &n);
  for (size_t i = 0; i < n;) {
    unsigned cp;
    size_t k = utf8_len(s + i, n - i, &cp);
    if (k == 0) { lua_pushboolean(L, 0); lua_pushinteger(L, (lua_Integer)i + 1); return 2; }
    i += k;
  }
  lua_pushboolean(L, 1);
  return 1;
}

int luaopen_slipway_yaml_core(lua_State *L) {
  static const luaL_Reg fns[] = {
    {"load", l_load}, {"threads", l_threads}, {"index", l_index}, {"compare", l_compare},
    {"reindex", l_reindex}, {"undo", l_undo},
    {"resolve", l_resolve}, {"plain_ok", l_plain_ok}, {"quote", l_quote},
    {"utf8", l_utf8}, {"splice", l_splice},
    {NULL, NULL}};
  static const luaL_Reg idx_methods[] = {
    {"count", l_idx_count}, {"node", l_idx_node}, {"children", l_idx_children},
    {"docs", l_idx_docs}, {"data", l_idx_data}, {"target", l_idx_target},
    {"find", l_idx_find},
    {NULL, NULL}};
  if (luaL_newmetatable(L, IDX_MT)) {
    luaL_newlib(L, idx_methods);
    lua_setfield(L, -2, "__index");
    lua_pushcfunction(L, idx_gc);
    lua_setfield(L, -2, "__gc");
  }
  lua_pop(L, 1);
  luaL_newlib(L, fns);
  /* the one "sequence, also when empty" marker: slipway.json uses it too */
  luaL_newmetatable(L, "slipway.yaml.sequence");
  lua_pushliteral(L, "slipway.sequence");
  lua_setfield(L, -2, "__name");
  lua_setfield(L, -2, "sequence_mt");
  lua_pushlightuserdata(L, NULL);
  lua_setfield(L, -2, "null");
  return 1;
}
