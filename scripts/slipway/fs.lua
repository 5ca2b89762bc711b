--- slipway.fs: local files.
--
--   local fs = require "slipway.fs"
--   fs.write("out/state.json", text)         -- atomic: temp + fsync + rename
--   fs.append(".slipway/journal", line)      -- append + flush (secrets masked)
--   for _, p in ipairs(fs.glob("config/*.yaml")) do ... end
--   local lk <close> = fs.lock(".slipway/lock", {wait = 30})
--
-- Files are read and written synchronously (local files are fast). A
-- failure raises a structured error (docs/errors.md) whose code is the errno
-- name ("ENOENT", "EACCES", "ENOSPC", ...), with fields `path` and `op`;
-- its message names the path. Misuse (a number where a path belongs) raises
-- a plain error.
local core = require "slipway.fs.core"
local sw = require "slipway.core"
local errors = require "slipway.errors"

local M = {}

local function check_path(p, fname, n)
  if type(p) ~= "string" or p == "" then
    error(string.format("bad argument #%d to '%s' (path expected, got %s)",
      n or 1, fname, p == "" and "empty string" or type(p)), 3)
  end
end

local function check_opts(o, fname, n)
  if o ~= nil and type(o) ~= "table" then
    error(string.format("bad argument #%d to '%s' (table expected, got %s)",
      n, fname, type(o)), 3)
  end
  return o or {}
end

-- a mode as a number (420, tonumber("644", 8)) or an octal string ("0644")
local function mode_of(m, fname, n)
  if m == nil or math.type(m) == "integer" then return m end
  if type(m) == "string" and m:match("^0?[0-7][0-7][0-7][0-7]?$") then
    return tonumber(m, 8)
  end
  error(string.format("bad argument #%d to '%s' (mode must be an integer or an octal string such as \"0644\", got %s)",
    n, fname, tostring(m)), 3)
end

local verbs = {
  read = "cannot read", write = "cannot write", append = "cannot append to",
  stat = "cannot stat", list = "cannot list", glob = "cannot expand",
  mkdir = "cannot create directory", remove = "cannot remove",
  tempdir = "cannot create a temporary directory in", lock = "cannot lock",
  cwd = "cannot get the current directory", realpath = "cannot resolve",
}

-- Raise the structured error for core's `nil, code, strerror`.
local function check(op, path, ok, code, msg, ...)
  if ok == nil then
    sw.raise(code, string.format("fs.%s: %s%s: %s", op, verbs[op],
      path and " " .. path or "", msg), {path = path, op = op,
      retryable = errors.retryable_code(code)})
  end
  return ok, code, msg, ...
end

--- fs.read(path) -> string: the whole file.
function M.read(path)
  check_path(path, "read")
  return (check("read", path, core.read(path)))
end

--- fs.write(path, data [, opts]): replace the file atomically. The data goes
-- to a temp file in the same directory, is fsync'ed and renamed over path,
-- so readers see the old or the new contents, never a mix, and a failure
-- (full disk, no permission) leaves the old file as it was. opts.mode sets
-- the permission bits, as a number or an octal string ("0600") (default:
-- the existing file's, else 0666 & ~umask);
-- opts.redact = true masks registered secrets in data first (for reports
-- and state files meant for people). A symlink is followed.
function M.write(path, data, opts)
  check_path(path, "write")
  if type(data) ~= "string" then
    error("bad argument #2 to 'write' (string expected, got " .. type(data) .. ")", 2)
  end
  opts = check_opts(opts, "write", 3)
  if opts.redact then data = sw.redact(data) end
  check("write", path, core.write(path, data, mode_of(opts.mode, "write", 3)))
end

--- fs.append(path, data [, opts]): append data at the end (creating the
-- file), with one write(2) so there is no buffer left to flush; for journals
-- and logs. Registered secrets are masked unless opts.redact == false.
-- opts.sync = true also fsyncs.
function M.append(path, data, opts)
  check_path(path, "append")
  if type(data) ~= "string" then
    error("bad argument #2 to 'append' (string expected, got " .. type(data) .. ")", 2)
  end
  opts = check_opts(opts, "append", 3)
  if opts.redact ~= false then data = sw.redact(data) end
  check("append", path, core.append(path, data, opts.sync))
end

--- fs.exists(path) -> boolean (a broken symlink does not exist).
function M.exists(path)
  check_path(path, "exists")
  return core.stat(path, true) ~= nil
end

--- fs.stat(path [, {follow = false}]) -> {type, size, mode, mtime, uid, gid}.
-- type is "file", "directory", "link" (only with follow = false), "fifo",
-- "socket", "device" or "other"; mode the permission bits (0644 = 420);
-- mtime seconds since the epoch (with fractions). Raises ENOENT when missing.
function M.stat(path, opts)
  check_path(path, "stat")
  opts = check_opts(opts, "stat", 2)
  return (check("stat", path, core.stat(path, opts.follow ~= false)))
end

--- fs.isdir(path), fs.isfile(path) -> boolean
function M.isdir(path)
  local st = core.stat(path, true)
  return st ~= nil and st.type == "directory"
end
function M.isfile(path)
  local st = core.stat(path, true)
  return st ~= nil and st.type == "file"
end

--- fs.list(dir) -> sorted list of names in dir (no "." or "..").
function M.list(path)
  check_path(path, "list")
  return (check("list", path, core.list(path)))
end

--- fs.glob(pattern) -> sorted list of matching paths ({} when none).
-- Shell patterns of glob(3): *, ?, [abc], {a,b}, ~. No "**".
function M.glob(pattern)
  check_path(pattern, "glob")
  local paths = check("glob", pattern, core.glob(pattern))
  table.sort(paths)  -- glob(3) keeps brace alternatives in the order given
  return paths
end

--- fs.mkdir(path [, {mode = 0755}]): create path and missing parents
-- (mkdir -p); an existing directory is fine, an existing file is ENOTDIR.
function M.mkdir(path, opts)
  check_path(path, "mkdir")
  opts = check_opts(opts, "mkdir", 2)
  check("mkdir", path, core.mkdir(path, mode_of(opts.mode, "mkdir", 2)))
end

--- fs.remove(path [, {recursive = true, missing_ok = true}]): remove a file,
-- a symlink (never what it points to) or an empty directory; with recursive
-- a directory and everything below it. A missing path raises ENOENT unless
-- missing_ok.
function M.remove(path, opts)
  check_path(path, "remove")
  opts = check_opts(opts, "remove", 2)
  if opts.recursive and path:match("^/+$") then
    error("bad argument #1 to 'remove' (refusing to remove / recursively)", 2)
  end
  local ok, code, msg = core.remove(path, opts.recursive)
  if ok == nil and not (code == "ENOENT" and opts.missing_ok) then
    check("remove", path, ok, code, msg)
  end
end

--- fs.tempdir([{keep = true, dir = base}]) -> path of a new private directory
-- (mode 0700) under dir (default $TMPDIR or /tmp). It is removed with its
-- contents when slipway exits (after every task ended) unless keep.
function M.tempdir(opts)
  opts = check_opts(opts, "tempdir", 1)
  local base = opts.dir or os.getenv("TMPDIR") or "/tmp"
  if base == "" then base = "/tmp" end
  return (check("tempdir", base, core.tempdir(base, opts.keep)))
end

local function iso(t)
  return t and os.date("!%Y-%m-%dT%H:%M:%SZ", t) or "?"
end

--- fs.lock(path [, {wait = seconds, note = "why", give_up = fn}]) -> lock: an exclusive
-- lock (flock) on path, created if needed. The file records the holder
-- (pid, host, since, note). When another process (or another lock object
-- in this one) holds it, raises a structured error with code "locked" and
-- field `holder = {pid, host, since, note}`; with wait, first retries
-- (task.sleep) for up to that many seconds; give_up() is called before
-- each pause, and an error value it returns is raised instead of waiting
-- on (another task's failure ends the wait). The lock is released by
-- lock:unlock(), at the end of a `local lk <close> = fs.lock(...)` scope,
-- when the lock object is garbage collected, or when the process exits.
-- lock:held() tells whether it is still held.
function M.lock(path, opts)
  check_path(path, "lock")
  opts = check_opts(opts, "lock", 2)
  local wait = opts.wait or 0
  if type(wait) ~= "number" or wait < 0 then
    error("bad argument #2 to 'lock' (wait must be a number of seconds >= 0)", 2)
  end
  if opts.give_up ~= nil and type(opts.give_up) ~= "function" then
    error("bad argument #2 to 'lock' (give_up must be a function)", 2)
  end
  local task
  local deadline, pause
  while true do
    local lk, holder, msg = core.lock(path, opts.note)
    if lk then return lk end
    if lk == nil then check("lock", path, nil, holder, msg) end
    if wait > 0 then
      task = task or require "slipway.task"
      deadline = deadline or task.now() + wait
      pause = math.min((pause or 0.025) * 2, 0.5)
    end
    if not deadline or task.now() >= deadline then
      local who = string.format("pid %s on %s since %s", tostring(holder.pid or "?"),
        tostring(holder.host or "?"), iso(holder.since))
      if holder.note and holder.note ~= "" then who = who .. " (" .. holder.note .. ")" end
      sw.raise("locked", string.format("fs.lock: %s is locked by %s%s", path, who,
        wait > 0 and string.format("; gave up after %g s", wait) or ""),
        {path = path, op = "lock", holder = holder})
    end
    local stop = opts.give_up and opts.give_up()
    if stop then error(stop, 0) end
    task.sleep(math.min(pause, math.max(deadline - task.now(), 0.001)))
  end
end

--- fs.cwd() -> the absolute current directory, as the kernel knows it
-- (getcwd(3): symlinks resolved). Not $PWD, which is only what the parent
-- believed and is stale when a program started slipway elsewhere. Raises
-- ENOENT when the directory was removed.
function M.cwd()
  return (check("cwd", nil, core.cwd()))
end

--- fs.realpath(path) -> the absolute path of path with every symlink, "."
-- and ".." resolved (realpath(3)); relative paths start at fs.cwd(). The
-- path must exist: raises ENOENT (or ENOTDIR, EACCES, ELOOP, ...) otherwise.
function M.realpath(path)
  check_path(path, "realpath")
  return (check("realpath", path, core.realpath(path)))
end

-- ---- path helpers (pure string work) ----

--- fs.join(a, b, ...) -> "a/b/..." (an absolute part restarts the path).
function M.join(...)
  local out = ""
  for i = 1, select("#", ...) do
    local p = select(i, ...)
    if p:sub(1, 1) == "/" or out == "" then out = p
    elseif out:sub(-1) == "/" then out = out .. p
    else out = out .. "/" .. p end
  end
  return out
end

--- fs.dirname(path), fs.basename(path): like the shell commands.
function M.dirname(path)
  if path:match("^/+$") then return "/" end
  local d = path:gsub("/+$", ""):match("^(.*)/[^/]*$")
  if d == nil then return "." end
  if d == "" then return "/" end
  return d
end
function M.basename(path)
  return path:gsub("/+$", ""):match("[^/]*$")
end

return M
