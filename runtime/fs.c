/*
 * fs.c -- slipway.fs.core: local files, synchronously.
 *
 * Local file operations finish in microseconds, so they run on the calling
 * task without the yield recipe. The friendly API and the structured errors
 * live in scripts/slipway/fs.lua: every function here returns its results,
 * or `nil, CODE, STRERROR` on a failure of the world (CODE is the errno name,
 * "ENOENT"), which the Lua layer raises with the user's file:line and path.
 *
 *   s = read(path)
 *   write(path, data, mode|nil)        atomic: temp + fsync + rename + fsync(dir)
 *   append(path, data, sync)           O_APPEND, one write(2) loop, fsync if sync
 *   t = stat(path, follow)             {type, size, mode, mtime, uid, gid}
 *   names = list(path)                 sorted, without "." and ".."
 *   paths = glob(pattern)              glob(3) with braces, sorted
 *   mkdir(path, mode)                  with parents (mkdir -p)
 *   remove(path, recursive)            never follows symlinks
 *   dir = tempdir(base, keep)          mkdtemp; removed at shutdown unless keep
 *   lk = lock(path, note)              flock(LOCK_EX|LOCK_NB); or false, holder
 *   lk:unlock()                        also __close and __gc
 *   dir = cwd()                        getcwd(3): the physical working directory
 *   p = realpath(path)                 realpath(3): absolute, no symlinks, no . or ..
 *   b = isatty(fd)                     for slipway.log: colour on a terminal
 *   n = columns(fd)                    the terminal's width (TIOCGWINSZ), or nil
 *   t = wallclock()                    seconds since the epoch, with fractions
 */
#include "slipway.h"

#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <glob.h>
#include <limits.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <time.h>
#include <dirent.h>
#include <unistd.h>

#define LOCK_MT "slipway.fs.lock"

static mode_t file_umask;

/* nil, "EXXX", "strerror" for the Lua layer */
static int fail(lua_State *L, int err) {
  lua_pushnil(L);
  lua_pushstring(L, uv_err_name(-err));
  lua_pushstring(L, strerror(err));
  return 3;
}

ssize_t sw_read(int fd, void *buf, size_t n) {
  ssize_t r;
  do r = read(fd, buf, n);
  while (r < 0 && errno == EINTR);
  return r;
}

int sw_write_all(int fd, const void *buf, size_t n) {
  const char *p = buf;
  while (n > 0) {
    ssize_t w = write(fd, p, n);
    if (w < 0) {
      if (errno == EINTR) continue;
      return -1;
    }
    p += w;
    n -= (size_t)w;
  }
  return 0;
}

/* ---- read, write, append ------------------------------------------------ */

/* s = read(path). A regular file is read into one buffer of its size
 * (fstat) and pushed once: the peak is the file twice, for a moment, where
 * a growing buffer took it 2.5 times. Files that are not what fstat says
 * (/proc, pipes, a file growing meanwhile) are read on to their end. */
static int l_read(lua_State *L) {
  const char *path = luaL_checkstring(L, 1);
  luaL_Buffer b;
  size_t want = LUAL_BUFFERSIZE;
  int fd = open(path, O_RDONLY | O_CLOEXEC);
  if (fd < 0) return fail(L, errno);
  struct stat st;
  if (fstat(fd, &st) == 0) {
    if (S_ISDIR(st.st_mode)) {
      close(fd);
      return fail(L, EISDIR);
    }
    /* one byte more than the size: the read that sees the end fits too */
    if (S_ISREG(st.st_mode) && st.st_size > 0 && (uintmax_t)st.st_size < (uintmax_t)SIZE_MAX / 2)
      want = (size_t)st.st_size + 1;
  }
  luaL_buffinit(L, &b);
  for (;;) {
    char *p = luaL_prepbuffsize(&b, want);
    ssize_t r = sw_read(fd, p, want);
    if (r < 0) {
      int e = errno;
      close(fd);
      return fail(L, e);
    }
    if (r == 0) break;
    luaL_addsize(&b, (size_t)r);
    want = (size_t)r < want ? want - (size_t)r : LUAL_BUFFERSIZE;
  }
  close(fd);
  luaL_pushresult(&b);
  return 1;
}

/* The directory part of path ("." when it has none), in buf. */
static void dir_of(const char *path, char *buf, size_t n) {
  const char *slash = strrchr(path, '/');
  if (slash == NULL) snprintf(buf, n, ".");
  else if (slash == path) snprintf(buf, n, "/");
  else snprintf(buf, n, "%.*s", (int)(slash - path), path);
}

static void fsync_dir(const char *dir) {
  int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (fd >= 0) {
    (void)fsync(fd);  /* some file systems refuse: the rename is done anyway */
    close(fd);
  }
}

/* write(path, data, mode|nil): atomic replace. The temp file lives in the
 * same directory (rename is atomic only within one file system); a symlink
 * is followed so that the link itself stays; without mode an existing
 * file's permission bits are kept. */
static int l_write(lua_State *L) {
  size_t len;
  const char *path = luaL_checkstring(L, 1);
  const char *data = luaL_checklstring(L, 2, &len);
  int has_mode = !lua_isnoneornil(L, 3);
  mode_t mode = has_mode ? (mode_t)luaL_checkinteger(L, 3) & 07777
                         : (0666 & ~file_umask);
  char target[PATH_MAX], dir[PATH_MAX], tmp[PATH_MAX + 32];
  struct stat st;

  if (lstat(path, &st) == 0 && S_ISLNK(st.st_mode)) {
    if (realpath(path, target) == NULL) return fail(L, errno);
  } else if (snprintf(target, sizeof target, "%s", path) >= (int)sizeof target) {
    return fail(L, ENAMETOOLONG);
  }
  if (stat(target, &st) == 0) {
    if (S_ISDIR(st.st_mode)) return fail(L, EISDIR);
    if (!has_mode) mode = st.st_mode & 07777;
  }
  dir_of(target, dir, sizeof dir);
  const char *base = strrchr(target, '/');
  base = base ? base + 1 : target;
  if (snprintf(tmp, sizeof tmp, "%s/.%s.XXXXXX", dir, base) >= (int)sizeof tmp)
    return fail(L, ENAMETOOLONG);
  int fd = mkostemp(tmp, O_CLOEXEC);
  if (fd < 0) return fail(L, errno);
  if (sw_write_all(fd, data, len) != 0 || fchmod(fd, mode) != 0 || fsync(fd) != 0) {
    int e = errno;
    close(fd);
    unlink(tmp);
    return fail(L, e);
  }
  if (close(fd) != 0 || rename(tmp, target) != 0) {
    int e = errno;
    unlink(tmp);
    return fail(L, e);
  }
  fsync_dir(dir);
  lua_pushboolean(L, 1);
  return 1;
}

/* Write all of p with O_APPEND; when that fails part way (ENOSPC after a
 * short write), take back the bytes written, so a journal never keeps a torn
 * record -- only when they are contiguous and still the file's end (no other
 * appender wrote after them: its data is never cut). */
static int append_all(int fd, const char *p, size_t n) {
  size_t done = 0;
  off_t start = -1, end = -1;
  while (done < n) {
    ssize_t w = write(fd, p + done, n - done);
    if (w < 0) {
      if (errno == EINTR) continue;
      int e = errno;
      struct stat st;
      if (done > 0 && start >= 0 && end - start == (off_t)done && fstat(fd, &st) == 0 &&
          st.st_size == end)
        (void)ftruncate(fd, start);
      errno = e;
      return -1;
    }
    off_t at = lseek(fd, 0, SEEK_CUR);  /* O_APPEND: the end of what w wrote */
    if (start < 0 && at >= 0) start = at - w;
    end = at;
    done += (size_t)w;
  }
  return 0;
}

/* append(path, data, sync): for journals. O_APPEND makes each call land at
 * the end even with other writers; there is no user-space buffer to flush.
 * A failed append leaves no part of data behind (append_all). */
static int l_append(lua_State *L) {
  size_t len;
  const char *path = luaL_checkstring(L, 1);
  const char *data = luaL_checklstring(L, 2, &len);
  int sync = lua_toboolean(L, 3);
  int fd = open(path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0666);
  if (fd < 0) return fail(L, errno);
  if (append_all(fd, data, len) != 0 || (sync && fsync(fd) != 0)) {
    int e = errno;
    close(fd);
    return fail(L, e);
  }
  if (close(fd) != 0) return fail(L, errno);
  lua_pushboolean(L, 1);
  return 1;
}

/* ---- stat, list, glob --------------------------------------------------- */

static const char *type_name(mode_t m) {
  if (S_ISREG(m)) return "file";
  if (S_ISDIR(m)) return "directory";
  if (S_ISLNK(m)) return "link";
  if (S_ISFIFO(m)) return "fifo";
  if (S_ISSOCK(m)) return "socket";
  if (S_ISCHR(m) || S_ISBLK(m)) return "device";
  return "other";
}

/* t = stat(path, follow) */
static int l_stat(lua_State *L) {
  const char *path = luaL_checkstring(L, 1);
  int follow = lua_isnoneornil(L, 2) || lua_toboolean(L, 2);
  struct stat st;
  if ((follow ? stat(path, &st) : lstat(path, &st)) != 0) return fail(L, errno);
  lua_createtable(L, 0, 6);
  lua_pushstring(L, type_name(st.st_mode));
  lua_setfield(L, -2, "type");
  lua_pushinteger(L, (lua_Integer)st.st_size);
  lua_setfield(L, -2, "size");
  lua_pushinteger(L, (lua_Integer)(st.st_mode & 07777));
  lua_setfield(L, -2, "mode");
  lua_pushnumber(L, (lua_Number)st.st_mtim.tv_sec + st.st_mtim.tv_nsec / 1e9);
  lua_setfield(L, -2, "mtime");
  lua_pushinteger(L, (lua_Integer)st.st_uid);
  lua_setfield(L, -2, "uid");
  lua_pushinteger(L, (lua_Integer)st.st_gid);
  lua_setfield(L, -2, "gid");
  return 1;
}

static int cmp_str(const void *a, const void *b) {
  return strcmp(*(char *const *)a, *(char *const *)b);
}

/* names = list(path) */
static int l_list(lua_State *L) {
  const char *path = luaL_checkstring(L, 1);
  DIR *d = opendir(path);
  struct dirent *e;
  int n = 0;
  if (d == NULL) return fail(L, errno);
  lua_newtable(L);
  errno = 0;
  while ((e = readdir(d)) != NULL) {
    if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0) continue;
    lua_pushstring(L, e->d_name);
    lua_rawseti(L, -2, ++n);
  }
  int err = errno;
  closedir(d);
  if (err) return fail(L, err);
  /* sort in C (strcmp order) so the listing is stable and byte-ordered */
  const char **v = malloc((size_t)(n ? n : 1) * sizeof *v);
  if (v == NULL) return luaL_error(L, "not enough memory");
  for (int i = 1; i <= n; i++) {
    lua_rawgeti(L, -1, i);
    v[i - 1] = lua_tostring(L, -1);
    lua_pop(L, 1);  /* still referenced by the table */
  }
  qsort(v, (size_t)n, sizeof *v, cmp_str);
  lua_createtable(L, n, 0);
  for (int i = 0; i < n; i++) {
    lua_pushstring(L, v[i]);
    lua_rawseti(L, -2, i + 1);
  }
  free(v);
  return 1;
}

/* paths = glob(pattern) */
static int l_glob(lua_State *L) {
  const char *pattern = luaL_checkstring(L, 1);
  glob_t g;
  int r = glob(pattern, GLOB_BRACE | GLOB_TILDE, NULL, &g);
  if (r == GLOB_NOMATCH) {
    globfree(&g);
    lua_newtable(L);
    return 1;
  }
  if (r != 0) {
    globfree(&g);
    return fail(L, r == GLOB_NOSPACE ? ENOMEM : EIO);
  }
  lua_createtable(L, (int)g.gl_pathc, 0);
  for (size_t i = 0; i < g.gl_pathc; i++) {
    lua_pushstring(L, g.gl_pathv[i]);
    lua_rawseti(L, -2, (lua_Integer)i + 1);
  }
  globfree(&g);
  return 1;
}

/* ---- mkdir, remove, tempdir --------------------------------------------- */

/* mkdir(path, mode): creates missing parents; an existing directory is fine */
static int l_mkdir(lua_State *L) {
  size_t len;
  const char *path = luaL_checklstring(L, 1, &len);
  mode_t mode = (mode_t)luaL_optinteger(L, 2, 0777) & 07777;
  char buf[PATH_MAX];
  struct stat st;
  if (len == 0) return fail(L, ENOENT);
  if (len >= sizeof buf) return fail(L, ENAMETOOLONG);
  memcpy(buf, path, len + 1);
  for (char *p = buf + 1;; p++) {
    if (*p == '/' || *p == '\0') {
      char c = *p;
      *p = '\0';
      if (mkdir(buf, mode) != 0) {
        int e = errno;
        if (e != EEXIST) return fail(L, e);
        if (stat(buf, &st) != 0) return fail(L, errno);
        if (!S_ISDIR(st.st_mode)) return fail(L, ENOTDIR);
      }
      *p = c;
      if (c == '\0') break;
      while (p[1] == '/') p++;
      if (p[1] == '\0') break;
    }
  }
  lua_pushboolean(L, 1);
  return 1;
}

static int rm_one(const char *path, const struct stat *st, int flag, struct FTW *ftw) {
  (void)st;
  (void)ftw;
  int r = (flag == FTW_DP) ? rmdir(path) : unlink(path);
  return (r != 0 && errno != ENOENT) ? errno : 0;
}

/* 0 or an errno: remove path, and with recursive everything below it */
static int remove_path(const char *path, int recursive) {
  struct stat st;
  if (lstat(path, &st) != 0) return errno;
  if (!S_ISDIR(st.st_mode)) return unlink(path) != 0 ? errno : 0;
  if (!recursive) return rmdir(path) != 0 ? errno : 0;
  int r = nftw(path, rm_one, 32, FTW_DEPTH | FTW_PHYS);
  if (r < 0) return errno;
  return r;
}

/* remove(path, recursive) */
static int l_remove(lua_State *L) {
  const char *path = luaL_checkstring(L, 1);
  int e = remove_path(path, lua_toboolean(L, 2));
  if (e) return fail(L, e);
  lua_pushboolean(L, 1);
  return 1;
}

/* Temporary directories not kept, removed once every task has ended. */
typedef struct tempdir {
  struct tempdir *next;
  char path[];
} tempdir;
static tempdir *tempdirs;
static int tempdir_hooked;

static void remove_tempdirs(void *arg) {
  (void)arg;
  while (tempdirs) {
    tempdir *t = tempdirs;
    tempdirs = t->next;
    (void)remove_path(t->path, 1);
    free(t);
  }
  tempdir_hooked = 0;
}

/* dir = tempdir(base, keep) */
static int l_tempdir(lua_State *L) {
  const char *base = luaL_checkstring(L, 1);
  int keep = lua_toboolean(L, 2);
  char tmpl[PATH_MAX];
  if (snprintf(tmpl, sizeof tmpl, "%s/slipway-XXXXXX", base) >= (int)sizeof tmpl)
    return fail(L, ENAMETOOLONG);
  if (mkdtemp(tmpl) == NULL) return fail(L, errno);
  if (!keep) {
    size_t n = strlen(tmpl);
    tempdir *t = malloc(sizeof *t + n + 1);
    if (t == NULL) {
      rmdir(tmpl);
      return luaL_error(L, "not enough memory");
    }
    memcpy(t->path, tmpl, n + 1);
    t->next = tempdirs;
    tempdirs = t;
    if (!tempdir_hooked) {
      tempdir_hooked = 1;
      sw_at_shutdown(remove_tempdirs, NULL);
    }
  }
  lua_pushstring(L, tmpl);
  return 1;
}

/* ---- locks -------------------------------------------------------------- */

typedef struct {
  int fd;  /* -1 once unlocked */
} lock_ud;

/* Push the holder recorded in the lock file: {pid, host, since, note}.
 * The file holds "pid=N\nhost=H\nsince=T\nnote=S\n". */
static void push_holder(lua_State *L, int fd) {
  char buf[1024];
  ssize_t n = pread(fd, buf, sizeof buf - 1, 0);
  lua_newtable(L);
  if (n <= 0) return;
  buf[n] = '\0';
  for (char *line = buf; line && *line;) {
    char *nl = strchr(line, '\n');
    if (nl) *nl = '\0';
    char *eq = strchr(line, '=');
    if (eq) {
      *eq = '\0';
      const char *k = line, *v = eq + 1;
      if (strcmp(k, "pid") == 0 || strcmp(k, "since") == 0) {
        lua_pushinteger(L, strtoll(v, NULL, 10));
        lua_setfield(L, -2, k);
      } else if (strcmp(k, "host") == 0 || strcmp(k, "note") == 0) {
        lua_pushstring(L, v);
        lua_setfield(L, -2, k);
      }
    }
    line = nl ? nl + 1 : NULL;
  }
}

/* lk = lock(path, note) | false, holder */
static int l_lock(lua_State *L) {
  const char *path = luaL_checkstring(L, 1);
  const char *note = luaL_optstring(L, 2, "");
  lock_ud *lk = lua_newuserdatauv(L, sizeof *lk, 0);
  lk->fd = -1;
  luaL_setmetatable(L, LOCK_MT);
  int fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0666);
  if (fd < 0) return fail(L, errno);
  if (flock(fd, LOCK_EX | LOCK_NB) != 0) {
    int e = errno;
    if (e != EWOULDBLOCK) {
      close(fd);
      return fail(L, e);
    }
    /* the holder may be between flock and writing its record: give it 20 ms */
    for (int i = 0; i < 20; i++) {
      struct stat st;
      if (fstat(fd, &st) == 0 && st.st_size > 0) break;
      struct timespec ts = {0, 1000000};
      nanosleep(&ts, NULL);
    }
    lua_pushboolean(L, 0);
    push_holder(L, fd);
    close(fd);
    return 2;
  }
  lk->fd = fd;
  char host[256] = "";
  char rec[1024];
  if (gethostname(host, sizeof host) != 0) snprintf(host, sizeof host, "?");
  host[sizeof host - 1] = '\0';
  int n = snprintf(rec, sizeof rec, "pid=%ld\nhost=%s\nsince=%lld\nnote=%s\n",
                   (long)getpid(), host, (long long)time(NULL), note);
  if (n >= (int)sizeof rec) n = (int)sizeof rec - 1;
  if (ftruncate(fd, 0) != 0 || pwrite(fd, rec, (size_t)n, 0) != n) {
    int e = errno;
    close(fd);
    lk->fd = -1;
    return fail(L, e);
  }
  return 1;
}

static void unlock(lock_ud *lk) {
  if (lk->fd < 0) return;
  /* clear the record first, while still holding the lock; the file stays
   * (unlinking it would let two processes lock two different inodes) */
  (void)ftruncate(lk->fd, 0);
  close(lk->fd);  /* releases the flock */
  lk->fd = -1;
}

/* lk:unlock(): true if it was held */
static int l_unlock(lua_State *L) {
  lock_ud *lk = luaL_checkudata(L, 1, LOCK_MT);
  int held = lk->fd >= 0;
  unlock(lk);
  lua_pushboolean(L, held);
  return 1;
}

static int l_held(lua_State *L) {
  lock_ud *lk = luaL_checkudata(L, 1, LOCK_MT);
  lua_pushboolean(L, lk->fd >= 0);
  return 1;
}

/* ---- where we are -------------------------------------------------------- */

/* dir = cwd(): getcwd(3), growing the buffer for deep trees. Not $PWD, which
 * is only what the parent believed (stale when it started us elsewhere). The
 * buffers are userdata, so a memory error while pushing leaks nothing. */
static int l_cwd(lua_State *L) {
  for (size_t n = PATH_MAX; ; n *= 2) {
    char *buf = lua_newuserdatauv(L, n, 0);
    if (getcwd(buf, n) != NULL) {
      lua_pushstring(L, buf);
      return 1;
    }
    if (errno != ERANGE || n >= ((size_t)1 << 20)) return fail(L, errno);
    lua_pop(L, 1);
  }
}

/* p = realpath(path): absolute, symlinks resolved, no "." or ".." */
static int l_realpath(lua_State *L) {
  const char *path = luaL_checkstring(L, 1);
  char *buf = lua_newuserdatauv(L, PATH_MAX, 0);
  if (realpath(path, buf) == NULL) return fail(L, errno);
  lua_pushstring(L, buf);
  return 1;
}

/* ---- small helpers for slipway.log ------------------------------------ */

static int l_isatty(lua_State *L) {
  lua_pushboolean(L, isatty((int)luaL_checkinteger(L, 1)));
  return 1;
}

/* the width of the terminal on fd; nil when fd is not one (or says 0) */
static int l_columns(lua_State *L) {
  struct winsize ws;
  memset(&ws, 0, sizeof ws);
  if (ioctl((int)luaL_checkinteger(L, 1), TIOCGWINSZ, &ws) == 0 && ws.ws_col > 0)
    lua_pushinteger(L, ws.ws_col);
  else
    lua_pushnil(L);
  return 1;
}

static int l_wallclock(lua_State *L) {
  struct timespec ts;
  clock_gettime(CLOCK_REALTIME, &ts);
  lua_pushnumber(L, (lua_Number)ts.tv_sec + ts.tv_nsec / 1e9);
  return 1;
}

int luaopen_slipway_fs_core(lua_State *L) {
  static const luaL_Reg fns[] = {
    {"read", l_read}, {"write", l_write}, {"append", l_append},
    {"stat", l_stat}, {"list", l_list}, {"glob", l_glob},
    {"mkdir", l_mkdir}, {"remove", l_remove}, {"tempdir", l_tempdir},
    {"lock", l_lock}, {"isatty", l_isatty}, {"wallclock", l_wallclock},
    {"columns", l_columns},
    {"cwd", l_cwd}, {"realpath", l_realpath}, {NULL, NULL}};
  static const luaL_Reg lock_meth[] = {
    {"unlock", l_unlock}, {"held", l_held}, {NULL, NULL}};
  file_umask = sw_umask();
  luaL_newlib(L, fns);
  if (luaL_newmetatable(L, LOCK_MT)) {
    luaL_newlib(L, lock_meth);
    lua_setfield(L, -2, "__index");
    lua_pushcfunction(L, l_unlock);
    lua_setfield(L, -2, "__close");
    lua_pushcfunction(L, l_unlock);
    lua_setfield(L, -2, "__gc");
  }
  lua_setfield(L, -2, "lock_mt");
  return 1;
}
