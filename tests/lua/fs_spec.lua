-- slipway.fs: real files in a private temp directory.
local T = require "slipway.testing"
local fs = require "slipway.fs"
local task = require "slipway.task"
local sw = require "slipway.core"
local proc = require "slipway.proc"
local cmd = require "slipway_cmd"
local sync = require "sync"

local root = fs.tempdir()
local n = 0
local function dir()
  n = n + 1
  local d = root .. "/t" .. n
  fs.mkdir(d)
  return d
end

-- run argv (a list, no shell); true when it exited 0
local function run(argv)
  return proc.run(argv, {check = false, echo = false, timeout = 30}).code == 0
end

local is_root = proc.run({"id", "-u"}, {echo = false}).stdout == "0\n"

T.test("write then read, binary safe, no temp file left", function()
  local d = dir()
  local data = "a\0b\nc" .. string.rep("x", 100000)
  fs.write(d .. "/f", data)
  T.eq(fs.read(d .. "/f"), data)
  T.eq(fs.list(d), {"f"})
  fs.write(d .. "/f", "")
  T.eq(fs.read(d .. "/f"), "")
end)

T.test("read: a file of any size whole, and files whose size fstat does not know", function()
  local d = dir()
  for _, size in ipairs({0, 1, 8191, 8192, 8193, 3 * 1024 * 1024 + 7}) do
    local data = ("0123456789abcdef\0"):rep(size // 17 + 1):sub(1, size)
    fs.write(d .. "/f", data)
    T.eq(fs.read(d .. "/f"), data, "size " .. size)
  end
  -- /proc files have size 0 in fstat and content when read
  T.truthy(fs.read("/proc/self/status"):find("VmRSS", 1, true))
end)

T.test("write sets the mode, and a rewrite keeps it", function()
  local d = dir()
  fs.write(d .. "/s", "x", {mode = tonumber("600", 8)})
  T.eq(fs.stat(d .. "/s").mode, tonumber("600", 8))
  fs.write(d .. "/s", "y")
  T.eq(fs.stat(d .. "/s").mode, tonumber("600", 8))
  fs.write(d .. "/o", "x", {mode = "0640"})
  T.eq(fs.stat(d .. "/o").mode, tonumber("640", 8))
  T.raises(function() fs.write(d .. "/o", "x", {mode = "rw-r--r--"}) end, "octal string")
  T.raises(function() fs.write(d .. "/o", "x", {mode = 6.5}) end, "mode must be")
  fs.write(d .. "/x", "#!/bin/sh\n", {mode = tonumber("755", 8)})
  fs.write(d .. "/x", "#!/bin/sh\nexit 0\n")
  T.eq(fs.stat(d .. "/x").mode, tonumber("755", 8))
end)

T.test("write through a symlink replaces the target, keeps the link", function()
  local d = dir()
  fs.write(d .. "/real", "old")
  T.truthy(run{"ln", "-s", "real", d .. "/link"})
  fs.write(d .. "/link", "new")
  T.eq(fs.stat(d .. "/link", {follow = false}).type, "link")
  T.eq(fs.read(d .. "/real"), "new")
end)

T.test("a reader never sees a half-written file", function()
  local d = dir()
  local a, b = string.rep("a", 300000), string.rep("b", 300000)
  fs.write(d .. "/f", a)
  local writer = task.spawn(function()
    for i = 1, 20 do fs.write(d .. "/f", i % 2 == 0 and a or b); task.yield() end
  end)
  for _ = 1, 20 do
    local s = fs.read(d .. "/f")
    T.truthy(s == a or s == b, "whole old or whole new contents")
    task.yield()
  end
  writer:join()
end)

T.test("write into a read-only directory fails and leaves the old file", function()
  local d = dir()
  local ro = d .. "/ro"
  fs.mkdir(ro)
  fs.write(ro .. "/f", "old")
  local undo
  if is_root then
    -- root ignores permission bits: use a read-only mount instead
    if not run{"mount", "-t", "tmpfs", "-o", "size=64k", "tmpfs", ro} then
      T.skip("running as root and cannot mount a tmpfs to make a read-only directory")
    end
    fs.write(ro .. "/f", "old")
    T.truthy(run{"mount", "-o", "remount,ro", ro}, "remount read-only")
    undo = function() run{"umount", ro} end
  else
    T.truthy(run{"chmod", "555", ro})
    undo = function() run{"chmod", "755", ro} end
  end
  local ok, err = pcall(fs.write, ro .. "/f", "new")
  local listing = fs.list(ro)
  local content = fs.read(ro .. "/f")
  undo()
  T.falsy(ok)
  T.truthy(sw.is_error(err), "a structured error")
  T.truthy(err.code == "EROFS" or err.code == "EACCES", "code " .. tostring(err.code))
  T.eq(err.path, ro .. "/f")
  T.match(err.message, "fs_spec.lua:%d+: fs.write: cannot write " .. ro:gsub("%p", "%%%0") .. "/f")
  T.eq(content, "old")
  T.eq(listing, {"f"}, "no temp file left behind")
end)

T.test("a full disk (ENOSPC) leaves the old file intact", function()
  local d = dir()
  local mnt = d .. "/small"
  fs.mkdir(mnt)
  if not run{"mount", "-t", "tmpfs", "-o", "size=64k", "tmpfs", mnt} then
    T.skip("cannot mount a 64k tmpfs here (needs root): ENOSPC not tested")
  end
  local ok, err = pcall(function()
    fs.write(mnt .. "/state.json", "{\"old\": true}\n")
    fs.write(mnt .. "/state.json", string.rep("z", 200 * 1024))
  end)
  local content = fs.read(mnt .. "/state.json")
  local listing = fs.list(mnt)
  local aok, aerr = pcall(fs.append, mnt .. "/journal", string.rep("j", 200 * 1024))
  run{"umount", mnt}
  T.falsy(ok)
  T.eq(err.code, "ENOSPC")
  T.match(err.message, "state.json: No space left on device")
  T.eq(content, "{\"old\": true}\n")
  T.eq(listing, {"state.json"}, "the temp file was removed")
  T.falsy(aok)
  T.eq(aerr.code, "ENOSPC")
end)

T.test("append adds at the end, creates the file, masks secrets", function()
  local d = dir()
  fs.append(d .. "/j", "one\n")
  fs.append(d .. "/j", "two\n", {sync = true})
  T.eq(fs.read(d .. "/j"), "one\ntwo\n")
  sw.secret("fs-spec-secret-value")
  fs.append(d .. "/j", "token=fs-spec-secret-value\n")
  fs.append(d .. "/raw", "fs-spec-secret-value", {redact = false})
  T.eq(fs.read(d .. "/j"), "one\ntwo\ntoken=***\n")
  T.eq(fs.read(d .. "/raw"), "fs-spec-secret-value")
  fs.write(d .. "/report", "token fs-spec-secret-value", {redact = true})
  T.eq(fs.read(d .. "/report"), "token ***")
end)

T.test("appends from two processes interleave by whole lines", function()
  local d = dir()
  local script = d .. "/app.lua"
  fs.write(script, [[
    local fs = require "slipway.fs"
    for i = 1, 200 do fs.append(arg[1], arg[2] .. string.rep("x", 100) .. "\n") end
  ]])
  local p1, h1 = cmd.start({script, d .. "/j", "A"})
  local p2, h2 = cmd.start({script, d .. "/j", "B"})
  T.truthy(p1 and p2)
  h1:wait(); h2:wait()
  local count = {A = 0, B = 0}
  for line in fs.read(d .. "/j"):gmatch("[^\n]+") do
    T.eq(#line, 101)
    count[line:sub(1, 1)] = count[line:sub(1, 1)] + 1
  end
  T.eq(count, {A = 200, B = 200})
end)

T.test("exists, stat, isdir/isfile", function()
  local d = dir()
  T.falsy(fs.exists(d .. "/nope"))
  fs.write(d .. "/f", "12345")
  T.truthy(fs.exists(d .. "/f"))
  local st = fs.stat(d .. "/f")
  T.eq(st.type, "file"); T.eq(st.size, 5)
  T.truthy(math.abs(st.mtime - os.time()) < 100)
  T.eq(fs.stat(d).type, "directory")
  T.truthy(fs.isdir(d)); T.falsy(fs.isdir(d .. "/f"))
  T.truthy(fs.isfile(d .. "/f")); T.falsy(fs.isfile(d))
  T.truthy(run{"ln", "-s", "nowhere", d .. "/broken"})
  T.falsy(fs.exists(d .. "/broken"))
  T.eq(fs.stat(d .. "/broken", {follow = false}).type, "link")
  local err = T.raises(function() fs.stat(d .. "/nope") end)
  T.eq(err.code, "ENOENT")
  T.eq(err.op, "stat")
  T.match(err.message, "^.-fs_spec.lua:%d+: fs.stat: cannot stat .*/nope: No such file")
end)

T.test("list is sorted; glob expands patterns and braces", function()
  local d = dir()
  for _, name in ipairs{"b.yaml", "a.yaml", "c.txt", ".hidden"} do fs.write(d .. "/" .. name, "") end
  fs.mkdir(d .. "/sub")
  T.eq(fs.list(d), {".hidden", "a.yaml", "b.yaml", "c.txt", "sub"})
  T.eq(fs.glob(d .. "/*.yaml"), {d .. "/a.yaml", d .. "/b.yaml"})
  T.eq(fs.glob(d .. "/{c.txt,a.yaml}"), {d .. "/a.yaml", d .. "/c.txt"})
  T.eq(fs.glob(d .. "/*.nothing"), {})
  T.eq(T.raises(function() fs.list(d .. "/a.yaml") end).code, "ENOTDIR")
end)

T.test("mkdir -p, and its errors", function()
  local d = dir()
  fs.mkdir(d .. "/a/b//c/")
  T.truthy(fs.isdir(d .. "/a/b/c"))
  fs.mkdir(d .. "/a/b/c")  -- exists: fine
  fs.write(d .. "/file", "")
  local err = T.raises(function() fs.mkdir(d .. "/file/x") end)
  T.eq(err.code, "ENOTDIR")
  T.eq(T.raises(function() fs.mkdir(d .. "/file") end).code, "ENOTDIR")
  fs.mkdir(d .. "/m", {mode = tonumber("700", 8)})
  T.eq(fs.stat(d .. "/m").mode, tonumber("700", 8))
end)

T.test("remove: files, empty dirs, recursive trees; never follows links", function()
  local d = dir()
  fs.mkdir(d .. "/keep")
  fs.write(d .. "/keep/precious", "p")
  fs.mkdir(d .. "/tree/x/y")
  fs.write(d .. "/tree/x/y/f", "")
  fs.write(d .. "/tree/g", "")
  T.truthy(run{"ln", "-s", "../keep", d .. "/tree/link"})
  T.eq(T.raises(function() fs.remove(d .. "/tree") end).code, "ENOTEMPTY")
  fs.remove(d .. "/tree", {recursive = true})
  T.falsy(fs.exists(d .. "/tree"))
  T.eq(fs.read(d .. "/keep/precious"), "p", "the link's target survived")
  fs.remove(d .. "/keep/precious")
  fs.remove(d .. "/keep")
  T.eq(fs.list(d), {})
  T.eq(T.raises(function() fs.remove(d .. "/gone") end).code, "ENOENT")
  fs.remove(d .. "/gone", {missing_ok = true})
end)

T.test("misuse raises a plain error naming the argument", function()
  T.raises(function() fs.read(nil) end, "bad argument #1 to 'read' %(path expected, got nil%)")
  T.raises(function() fs.write("x", 42) end, "bad argument #2 to 'write'")
  T.raises(function() fs.lock("x", {wait = -1}) end, "wait must be")
  T.raises(function() fs.remove("//", {recursive = true}) end, "refusing to remove /")
end)

T.test("tempdir is private and removed at exit unless kept", function()
  local d = dir()
  local script = d .. "/t.lua"
  fs.write(script, [[
    local fs = require "slipway.fs"
    local a = fs.tempdir({dir = arg[1]})
    local b = fs.tempdir({dir = arg[1], keep = true})
    fs.mkdir(a .. "/deep/er")
    fs.write(a .. "/deep/er/f", "x")
    print(a) print(b)
    print(string.format("%o", fs.stat(a).mode))
  ]])
  local r = cmd.run({script, d})
  T.eq(r.code, 0, r.stderr)
  local a, b, mode = r.stdout:match("^(%S+)\n(%S+)\n(%d+)\n$")
  T.truthy(a, r.stdout)
  T.eq(mode, "700")
  T.falsy(fs.exists(a), "removed at exit")
  T.truthy(fs.isdir(b), "kept")
  -- also after an error ends the script
  fs.write(script, [[
    local fs = require "slipway.fs"
    print(fs.tempdir({dir = arg[1]}))
    error("boom")
  ]])
  r = cmd.run({script, d})
  T.eq(r.code, 1)
  T.falsy(fs.exists(r.stdout:match("%S+")))
end)

T.test("lock: a second lock in this process reports the holder", function()
  local d = dir()
  local lk = fs.lock(d .. "/lock", {note = "deploy staging"})
  T.truthy(lk:held())
  local err = T.raises(function() fs.lock(d .. "/lock") end)
  T.eq(err.code, "locked")
  T.eq(err.path, d .. "/lock")
  T.eq(type(err.holder.pid), "number")
  T.eq(err.holder.note, "deploy staging")
  T.truthy(math.abs(err.holder.since - os.time()) < 100)
  T.match(err.message, "fs_spec.lua:%d+: fs.lock: .*/lock is locked by pid %d+ on .* since %d%d%d%d%-")
  T.match(err.message, "%(deploy staging%)")
  T.eq(lk:unlock(), true)
  T.eq(lk:unlock(), false)
  local lk2 = fs.lock(d .. "/lock")
  lk2:unlock()
end)

T.test("lock with wait gets it once released; <close> releases", function()
  local d = dir()
  local first = fs.lock(d .. "/lock")
  task.spawn(function() task.sleep(0.2); first:unlock() end)
  local t0 = task.now()
  do
    local lk <close> = fs.lock(d .. "/lock", {wait = 5})
    T.truthy(task.now() - t0 >= 0.15)
    T.truthy(lk:held())
  end
  local lk3 = fs.lock(d .. "/lock")  -- free again after the scope
  lk3:unlock()
  local busy = fs.lock(d .. "/lock")
  t0 = task.now()
  local err = T.raises(function() fs.lock(d .. "/lock", {wait = 0.3}) end)
  T.eq(err.code, "locked")
  T.match(err.message, "gave up after 0.3 s")
  T.truthy(task.now() - t0 >= 0.29)
  busy:unlock()
end)

T.test("lock with wait: an error give_up returns ends the wait, raised as it is", function()
  local d = dir()
  local busy = fs.lock(d .. "/lock")
  -- another task fails while the lock is awaited; the wait would otherwise
  -- last 600 s and end in "locked", with the other failure unsaid
  local other = task.spawn(function() task.sleep(0.05); error(sw.error("hook", "the hook failed"), 0) end)
  local asked = 0
  local err = T.raises(function()
    fs.lock(d .. "/lock", {wait = 600, give_up = function()
      asked = asked + 1
      if other:done() then
        local ok, e = other:wait()
        if not ok then return e end
      end
    end})
  end)
  T.eq(err.code, "hook")
  T.eq(err.message, "the hook failed")
  T.truthy(asked >= 1)
  T.truthy(busy:held(), "the holder's lock is untouched")
  -- a give_up that returns nothing lets the wait go on to the lock
  task.spawn(function() task.sleep(0.05); busy:unlock() end)
  local lk = fs.lock(d .. "/lock", {wait = 600, give_up = function() end})
  T.truthy(lk:held())
  lk:unlock()
  T.raises(function() fs.lock(d .. "/lock", {give_up = true}) end, "give_up must be a function")
end)

T.test("lock contention between two slipway processes", function()
  local d = dir()
  local script = d .. "/holder.lua"
  -- the holder keeps the lock until told to let go (arg[3] appears): held
  -- however long the checks below take on a loaded machine
  fs.write(script, [[
    local fs = require "slipway.fs"
    local task = require "slipway.task"
    local lk = fs.lock(arg[1], {note = "holder process"})
    fs.write(arg[2], "ready")
    while not fs.exists(arg[3]) do task.sleep(0.01) end
    lk:unlock()
  ]])
  local pid, h = cmd.start({script, d .. "/lock", d .. "/ready", d .. "/release"})
  sync.wait_file(d .. "/ready")
  local err = T.raises(function() fs.lock(d .. "/lock") end)
  T.eq(err.code, "locked")
  T.eq(err.holder.pid, pid)
  T.eq(err.holder.note, "holder process")
  -- and a second real process sees the same
  local r = cmd.run({"-e", [[
    local ok, e = pcall(require("slipway.fs").lock, arg[1])
    print(e.code, e.holder.pid)
  ]], d .. "/lock"})
  T.eq(r.stdout, "locked\t" .. pid .. "\n")
  fs.write(d .. "/release", "")
  local lk = fs.lock(d .. "/lock", {wait = sync.SAFETY})
  T.truthy(lk:held())
  lk:unlock()
  T.eq(h:wait().code, 0)
end)

T.test("a holder killed with SIGKILL releases the lock", function()
  local d = dir()
  local script = d .. "/holder.lua"
  fs.write(script, [[
    local fs = require "slipway.fs"
    local lk = fs.lock(arg[1])
    fs.write(arg[2], "ready")
    require("slipway.task").sleep(3600)
  ]])
  local pid, h = cmd.start({script, d .. "/lock", d .. "/ready"}, {check = false})
  sync.wait_file(d .. "/ready")
  T.eq(T.raises(function() fs.lock(d .. "/lock") end).holder.pid, pid)
  proc.kill(pid, "KILL")
  T.eq(h:wait().signal, 9)
  local lk = fs.lock(d .. "/lock", {wait = sync.SAFETY})
  T.truthy(lk:held())
  lk:unlock()
end)

T.test("cwd is the kernel's working directory, not $PWD", function()
  local here = fs.cwd()
  T.match(here, "^/")
  T.eq(here, (proc.run({"pwd", "-P"}, {echo = false}).stdout:gsub("\n$", "")), "as pwd -P")
  T.eq(fs.cwd(), here, "stable")
  -- a child started elsewhere with a stale PWD still knows where it is
  local d = dir()
  fs.mkdir(d .. "/sub")
  T.truthy(run{"ln", "-s", "sub", d .. "/link"})
  local r = cmd.run({"-e", "print(require('slipway.fs').cwd())"},
    {cwd = d .. "/link", env = {PWD = here}})
  T.eq(r.code, 0, r.stderr)
  T.eq(r.stdout, fs.realpath(d) .. "/sub\n", "the link resolved, $PWD ignored")
  -- a removed working directory is ENOENT
  r = cmd.run({"-e", [[
    local fs = require "slipway.fs"
    fs.remove(arg[1])
    local ok, e = pcall(fs.cwd)
    print(ok, e.code, e.op, e.message)
  ]], d .. "/sub"}, {cwd = d .. "/sub"})
  T.eq(r.code, 0, r.stderr)
  T.match(r.stdout, "^false\tENOENT\tcwd\t%(command line%):%d+: fs%.cwd: cannot get the current directory: No such file or directory\n$")
end)

T.test("realpath resolves symlinks, . and .., relative to cwd", function()
  local d = dir()
  local real = fs.realpath(d)
  T.match(real, "^/")
  fs.mkdir(d .. "/a/b/c")
  fs.write(d .. "/a/b/c/f", "x")
  T.truthy(run{"ln", "-s", "a/b", d .. "/l"})
  T.truthy(run{"ln", "-s", real .. "/l/c/f", d .. "/abs"})
  T.eq(fs.realpath(d .. "/l/c"), real .. "/a/b/c")
  T.eq(fs.realpath(d .. "/a/./b/../b/c/f"), real .. "/a/b/c/f")
  T.eq(fs.realpath(d .. "/l/.."), real .. "/a", "'..' after a link: the target's parent")
  T.eq(fs.realpath(d .. "/abs"), real .. "/a/b/c/f", "a chain of links")
  T.eq(fs.realpath("/"), "/")
  T.eq(fs.realpath("tests/lua"), fs.cwd() .. "/tests/lua", "relative to the cwd")
  T.eq(fs.realpath("/proc/self/exe"), fs.realpath(cmd.bin), "the running binary")
  -- failures are structured, with the errno name
  local err = T.raises(function() fs.realpath(d .. "/missing/x") end)
  T.eq(err.code, "ENOENT"); T.eq(err.op, "realpath"); T.eq(err.path, d .. "/missing/x")
  T.match(err.message, "^[^\n]*fs_spec%.lua:%d+: fs%.realpath: cannot resolve "
    .. (d .. "/missing/x"):gsub("%p", "%%%0") .. ": No such file or directory$")
  T.eq(T.raises(function() fs.realpath(d .. "/a/b/c/f/g") end).code, "ENOTDIR")
  T.truthy(run{"ln", "-s", "loop2", d .. "/loop1"})
  T.truthy(run{"ln", "-s", "loop1", d .. "/loop2"})
  T.eq(T.raises(function() fs.realpath(d .. "/loop1") end).code, "ELOOP")
  T.eq(type(T.raises(function() fs.realpath(42) end)), "string", "misuse is a plain error")
  T.raises(function() fs.realpath("") end, "path expected")
end)

T.test("path helpers", function()
  T.eq(fs.join("a", "b", "c.yaml"), "a/b/c.yaml")
  T.eq(fs.join("a/", "/abs", "x"), "/abs/x")
  T.eq(fs.dirname("/a/b/c"), "/a/b"); T.eq(fs.dirname("c"), "."); T.eq(fs.dirname("/c"), "/")
  T.eq(fs.dirname("/"), "/")
  T.eq(fs.basename("/a/b/c.yaml"), "c.yaml"); T.eq(fs.basename("a/b/"), "b")
end)

T.run()
