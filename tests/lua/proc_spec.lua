-- slipway.proc with real programs: exit codes, signals, timeouts, group
-- kills without survivors, cancellation, stdin, output caps, concurrency,
-- SIGINT of a real slipway, detached processes, env and cwd, dry runs.
local T = require "slipway.testing"
local task = require "slipway.task"
local proc = require "slipway.proc"
local fs = require "slipway.fs"
local sw = require "slipway.core"
local sync = require "sync"

local SRC = os.getenv("SLIPWAY_SRC") or "."
local BIN = os.getenv("SLIPWAY_BIN")
local FIX = SRC .. "/tests/fixtures/proc"
local quiet = {echo = false}

local function q(opts)  -- opts without the echo line
  opts = opts or {}
  opts.echo = false
  return opts
end

local function read(path)
  local f = io.open(path)
  if not f then return nil end
  local s = f:read("a")
  f:close()
  return s
end

-- wait until path exists (written atomically by the fixtures); its contents
local function wait_file(path, seconds)
  sync.wait_until(function() local s = read(path) return s and s ~= "" end, path, seconds)
  return read(path)
end

local function pids_of(path)
  local a, b = wait_file(path):match("(%d+) (%d+)")
  return tonumber(a), tonumber(b)
end

-- kill -0 pid fails (retrying: a killed process takes a moment to die and
-- be reaped, longer on a loaded machine; sync.SAFETY is only a safety net)
local function gone(pid)
  local deadline = task.now() + sync.SAFETY
  repeat
    if proc.run({"kill", "-0", pid}, q{check = false, stderr = "discard"}).code ~= 0 then
      return true
    end
    task.sleep(0.02)
  until task.now() > deadline
  return false
end

local function alive(pid)
  return proc.run({"kill", "-0", pid}, q{check = false, stderr = "discard"}).code == 0
end

T.test("run captures stdout and stderr and reports the exit code", function()
  local t0 = task.now()
  local r = proc.run({"sh", "-c", "echo out; echo err >&2; exit 0"}, quiet)
  local around = task.now() - t0
  T.eq(r.code, 0); T.eq(r.signal, 0); T.eq(r.timed_out, false)
  T.eq(r.stdout, "out\n"); T.eq(r.stderr, "err\n")
  -- seconds, measured inside the call (a duration in ms would not fit)
  T.truthy(r.duration >= 0 and r.duration <= around, r.duration .. " s within the call's " .. around .. " s")
  T.truthy(r.pid > 0)
  T.eq(r.cmd, "sh -c 'echo out; echo err >&2; exit 0'")
  r = proc.run({"sh", "-c", "exit 7"}, q{check = false})
  T.eq(r.code, 7)
end)

T.test("a non-zero exit raises code exit naming the command and stderr's tail", function()
  local err = T.raises(function()
    proc.run({"sh", "-c", "for i in 1 2 3 4 5 6 7 8 9 10 11 12; do echo line$i >&2; done; exit 3"},
      quiet)
  end)
  T.eq(err.code, "exit")
  T.eq(err.exit_code, 3)
  T.match(err.message, "^[^\n]*proc_spec%.lua:%d+: command failed: sh %-c ")
  T.match(err.message, "exit code 3 after %d+%.%d+ s")
  T.match(err.message, "line12")
  T.nomatch(err.message, "line2\n", "only the last lines")
  T.eq(err.result.code, 3)
  T.match(tostring(err), "command failed")
end)

T.test("death by signal raises code signal; check=false returns it", function()
  local r = proc.run({"sh", "-c", "kill -KILL $$"}, q{check = false})
  T.eq(r.signal, 9); T.eq(r.code, 128 + 9)
  local err = T.raises(function() proc.run({"sh", "-c", "kill -TERM $$"}, quiet) end)
  T.eq(err.code, "signal")
  T.match(err.message, "killed by SIGTERM")
end)

T.test("a missing executable is its own error, not an exit code", function()
  local err = T.raises(function() proc.run({"no-such-command-xyz", "a"}, quiet) end)
  T.eq(err.code, "ENOENT")
  T.match(err.message, "no%-such%-command%-xyz: command not found in PATH=")
  err = T.raises(function() proc.run({"./no/such/file"}, quiet) end)
  T.eq(err.code, "ENOENT")
  T.eq(proc.which("no-such-command-xyz"), nil)
  T.match(proc.which("sh"), "^/.*/sh$")
  -- PATH from opts.env is the one searched
  err = T.raises(function() proc.run({"sh", "-c", "true"}, q{env = {PATH = "/nonexistent"}}) end)
  T.match(err.message, "PATH=/nonexistent")
end)

T.test("misuse is a plain error: string argv, unknown options", function()
  T.raises(function() proc.run("helm upgrade") end, "argv must be a list")
  T.raises(function() proc.run({}) end, "non%-empty list")
  T.raises(function() proc.run({"true"}, {timout = 1}) end, "unknown option 'timout'")
  T.raises(function() proc.run({"true"}, {stdout = 42}) end, "opts.stdout must be")
  T.raises(function() proc.run({"true", {}}) end, "argv%[2%] must be a string")
end)

T.test("timeout: code 124, raises code timeout, the group is killed", function()
  -- an hour's sleep: only the timeout's SIGTERM can end it
  local r = proc.run({"sleep", "3600"}, q{timeout = 0.2, check = false})
  T.eq(r.code, 124); T.eq(r.timed_out, true); T.eq(r.signal, 15)
  local err = T.raises(function() proc.run({"sleep", "3600"}, q{timeout = 0.1}) end)
  T.eq(err.code, "timeout")
  T.match(err.message, "timed out after")
end)

-- issue 15.2: the timeout was armed from the loop's cached time, stale after
-- busy work, and fired early. A lower bound only.
T.test("after busy work, a timeout still lasts at least as long as asked", function()
  for _ = 1, 5 do
    local t0 = task.now()
    while task.now() - t0 < 0.03 do end
    t0 = task.now()
    local r = proc.run({"sleep", "10"}, q{timeout = 0.05, kill_grace = 1, check = false})
    local d = task.now() - t0
    T.eq(r.timed_out, true)
    T.truthy(d >= 0.05, string.format("a timeout of 0.05 s fired after %.4f s", d))
  end
end)

T.test("timeout kills the whole group, grandchildren too, even if they ignore SIGTERM", function()
  local dir = fs.tempdir()
  local t0 = task.now()
  local r = proc.run({"sh", FIX .. "/stubborn.sh", dir .. "/pids"},
    q{timeout = 0.3, kill_grace = 0.3, check = false})
  local dt = task.now() - t0
  T.eq(r.timed_out, true); T.eq(r.code, 124)
  T.eq(r.signal, 9, "SIGTERM was ignored: SIGKILL after the grace period")
  T.truthy(dt >= 0.55, "waited the grace period: " .. dt)  -- a lower bound only
  T.eq(r.stdout, "started\n")
  local pid, gpid = pids_of(dir .. "/pids")
  T.truthy(gone(pid), "the child is gone")
  T.truthy(gone(gpid), "the grandchild is gone")
end)

T.test("what is left of a group when its command ends is killed", function()
  local dir = fs.tempdir()
  local r = proc.run({"sh", FIX .. "/leftover.sh", dir .. "/pids"}, quiet)
  T.eq(r.code, 0)
  local _, gpid = pids_of(dir .. "/pids")
  T.truthy(gone(gpid), "the background grandchild is gone")
end)

-- issue 15.5: a daemon that inherits stdout kept the run waiting for as long
-- as it lived (303 s seen). Now bounded by pipe_grace after the leader exits.
T.test("a daemon holding stdout: pipes closed after pipe_grace, said so, daemon left running", function()
  local dir = fs.tempdir()
  local warned = {}
  local log = require "slipway.log"
  local remove = log.add_sink(function(r)
    if r.level == "warn" then warned[#warned + 1] = r.message end
  end)
  local r = proc.run({"sh", "-c", 'echo started; sleep 30 & echo "$$ $!" > "$0.tmp" && mv "$0.tmp" "$0"; exit 0',
    dir .. "/pids"}, q{pipe_grace = 0.3})
  remove()
  local _, daemon = pids_of(dir .. "/pids")
  T.eq(r.code, 0)
  T.eq(r.stdout, "started\n", "output written before the exit is kept")
  T.eq(r.pipes_cut, {"stdout", "stderr"})
  T.truthy(alive(daemon), "the daemon was returned from while running, and left running")
  T.eq(#warned, 1, "one warning")
  T.match(warned[1], "^sh %-c .* exited, but processes it started kept its stdout and stderr open: "
    .. "closed after pipe_grace %(0%.3 s%) and left running %(process group " .. r.pid .. "%)$")
  -- the caller may stop them: the group is named in the result
  T.truthy(proc.kill(-r.pid, "KILL"))
  T.truthy(gone(daemon), "stopped by the caller")
end)

T.test("pipe_grace = false waits for EOF; a quick background writer is read in full", function()
  local r = proc.run({"sh", "-c", "(sleep 0.3; echo late) & exit 0"}, q{pipe_grace = false})
  T.eq(r.stdout, "late\n")
  T.eq(r.pipes_cut, nil)
  -- the default grace (5 s) is far longer than this writer needs
  r = proc.run({"sh", "-c", "(sleep 0.3; echo late) & exit 0"}, quiet)
  T.eq(r.stdout, "late\n")
  T.eq(r.pipes_cut, nil)
  T.raises(function() proc.run({"true"}, q{pipe_grace = -1}) end, "pipe_grace must be a number >= 0")
end)

T.test("cancelling the task from a sibling kills the group", function()
  local dir = fs.tempdir()
  local t = task.spawn(function()
    return proc.run({"sh", FIX .. "/stubborn.sh", dir .. "/pids"}, q{kill_grace = 0.2})
  end)
  local pid, gpid = pids_of(dir .. "/pids")
  T.truthy(alive(pid) and alive(gpid))
  t:cancel()
  local ok, err = t:wait()
  T.falsy(ok); T.eq(err.code, "cancelled")
  T.truthy(gone(pid), "child gone after cancel")
  T.truthy(gone(gpid), "grandchild gone after cancel")
end)

T.test("tasks cancelled while their spawn is under way leave nothing behind", function()
  local dir = fs.tempdir()
  -- a running child makes concurrent spawns go through libuv's thread pool
  local bg = proc.spawn({"sleep", "10"}, quiet)
  local ts = {}
  for i = 1, 10 do
    ts[i] = task.spawn(proc.run, {"sh", "-c", 'echo $$ >> "$0"; exec sleep 1000',
      dir .. "/pids"}, q{kill_grace = 0.2})
  end
  task.yield()  -- they start spawning
  for _, t in ipairs(ts) do t:cancel() end
  for _, t in ipairs(ts) do
    local ok, err = t:wait()
    T.falsy(ok); T.eq(err.code, "cancelled")
  end
  bg:kill("KILL")
  bg:wait()
  task.sleep(0.3)
  local pids = read(dir .. "/pids") or ""
  for pid in pids:gmatch("%d+") do
    T.truthy(gone(tonumber(pid)), "cancelled spawn's process gone: " .. pid)
  end
end)

T.test("task.timeout around proc.run kills the command", function()
  local dir = fs.tempdir()
  local err = T.raises(function()
    task.timeout(0.3, proc.run, {"sh", "-c", 'sleep 1000 & echo "$$ $!" > "$0"; wait',
      dir .. "/pids"}, q{kill_grace = 0.2})
  end)
  T.eq(err.code, "timeout")
  local pid, gpid = pids_of(dir .. "/pids")
  T.truthy(gone(pid)); T.truthy(gone(gpid))
end)

T.test("stdin: binary data round-trips through cat", function()
  local bytes = {}
  for i = 0, 255 do bytes[#bytes + 1] = string.char(i) end
  local data = table.concat(bytes):rep(4096)  -- 1 MiB, every byte value, NULs
  local r = proc.run({"cat"}, q{stdin = data})
  T.eq(#r.stdout, #data)
  T.truthy(r.stdout == data, "identical bytes")
  -- spawn: write in pieces, read concurrently (the pipes would fill up)
  local h = proc.spawn({"cat"}, quiet)
  for i = 1, 8 do h:write(data:sub((i - 1) * #data // 8 + 1, i * #data // 8)) end
  h:close_stdin()
  local res = h:wait()
  T.truthy(res.stdout == data, "identical bytes via write")
  -- stdin from a file
  local dir = fs.tempdir()
  local f = assert(io.open(dir .. "/in", "wb")); f:write("from file\0x"); f:close()
  T.eq(proc.run({"cat"}, q{stdin = {file = dir .. "/in"}}).stdout, "from file\0x")
  local fh = assert(io.open(dir .. "/in", "rb"))
  T.eq(proc.run({"cat"}, q{stdin = fh}).stdout, "from file\0x")
  fh:close()
  -- default stdin of run is /dev/null: cat ends at once
  T.eq(proc.run({"cat"}, quiet).stdout, "")
end)

T.test("writing to a child that closed stdin raises EPIPE", function()
  local h = proc.spawn({"sh", "-c", "exec 0<&-; sleep 0.2"}, quiet)
  task.sleep(0.05)
  local err = T.raises(function()
    for _ = 1, 100 do h:write(("x"):rep(65536)) end
  end)
  T.eq(err.code, "EPIPE")
  T.eq(h:wait().code, 0)
end)

T.test("captured output is capped: head and tail kept, the rest counted", function()
  local r = proc.run({"seq", "1", "100000"}, q{max_output = 1000})
  T.match(r.stdout, "^1\n2\n3\n")
  T.match(r.stdout, "\n99999\n100000\n$")
  T.match(r.stdout, "%[%.%.%. %d+ bytes dropped %.%.%.%]")
  local full = #proc.run({"seq", "1", "100000"}, quiet).stdout
  T.eq(r.stdout_dropped, full - 1000)
end)

T.test("a child writing 1 GiB does not exhaust memory", function()
  local r = proc.run({"head", "-c", "1073741824", "/dev/zero"}, quiet)
  T.eq(r.code, 0)
  T.eq(#r.stdout - #"\n[... 1069547520 bytes dropped ...]\n", 4 * 1024 * 1024)
  T.eq(r.stdout_dropped, 1024 * 1024 * 1024 - 4 * 1024 * 1024)
  local hwm = read("/proc/self/status"):match("VmHWM:%s*(%d+) kB")
  T.truthy(tonumber(hwm) < 400 * 1024, "peak RSS " .. hwm .. " kB")
  -- discarded: nothing kept at all
  r = proc.run({"head", "-c", "100000000", "/dev/zero"}, q{stdout = "discard"})
  T.eq(r.stdout, ""); T.eq(r.stdout_dropped, 0)
end, {timeout = 120})

T.test("200 concurrent runs", function()
  -- each command goes on only once all 200 are running: run one after the
  -- other, the first would wait for the rest
  local all_running = sync.proc_barrier(200, "commands")
  local fns = {}
  for i = 1, 200 do
    fns[i] = function()
      return proc.run({"sh", "-c", all_running.sh .. '; echo "$0"', "run" .. i}, quiet).stdout
    end
  end
  local out = task.all(fns)
  all_running:check()
  for i = 1, 200 do T.eq(out[i], "run" .. i .. "\n") end
end)

-- issue 15.1: with 16 pool threads, exits were reaped before their spawn
-- came back from the pool; past 64 of them a fixed ring overwrote some and
-- those runs waited for ever, their own timeout included (2 hangs in 6 runs).
-- Each run here is a child slipway bounded by a timeout, so a hang fails.
T.test("1000 concurrent runs with a timeout each: no exit is lost (UV_THREADPOOL_SIZE=16)", function()
  if not BIN then T.skip("SLIPWAY_BIN not set") end
  for run = 1, 5 do
    local r = proc.run({BIN, FIX .. "/many_true.lua", "1000"},
      q{check = false, timeout = 60, kill_grace = 1, env = {UV_THREADPOOL_SIZE = "16"}})
    T.eq(r.timed_out, false, "run " .. run .. " hung (stderr: " .. r.stderr .. ")")
    T.eq(r.code, 0, "run " .. run .. " (stderr: " .. r.stderr .. ")")
    T.eq(r.stdout, "ok 1000\n", "run " .. run)
  end
end)

-- issue 15 ("300 mixed runs" flaked under ASan and load): the timeout was
-- armed when the spawn came back from the thread pool, so a `sleep 1` with
-- 0.05 s could finish first and return 0. One pool thread, and a blocking
-- job holding the loop thread until the command has ended: the run is still
-- reported as timed out (code 124); one whose deadline is not past is not.
T.test("a timeout counts from proc.run, however late the pool's spawn lands", function()
  if not BIN then T.skip("SLIPWAY_BIN not set") end
  local r = proc.run({BIN, FIX .. "/late_landing.lua", fs.tempdir()},
    q{check = false, timeout = 60, env = {UV_THREADPOOL_SIZE = "1", SLIPWAY_PROC_SPAWN = "thread"}})
  T.eq(r.code, 0, r.stderr)
  T.eq(r.stdout, "late 124 true\nin-time 0 false\n")
end)

T.test("300 mixed runs, a third of them cancelled mid-way", function()
  local ts = {}
  for i = 1, 300 do
    ts[i] = task.spawn(function()
      local kind = i % 5
      if kind == 0 then
        return proc.run({"sh", "-c", "echo hi; sleep 0.0" .. (i % 9)}, quiet).stdout == "hi\n"
      elseif kind == 1 then
        return #proc.run({"cat"}, q{stdin = ("x"):rep(100000)}).stdout == 100000
      elseif kind == 2 then
        local h = proc.spawn({"sh", "-c", "for i in 1 2 3; do echo $i; sleep 0.01; done"}, quiet)
        local n = 0
        for _ in h:lines() do n = n + 1 end
        return n == 3 and h:wait().code == 0
      elseif kind == 3 then
        return proc.run({"sleep", "1"}, q{timeout = 0.05, check = false, kill_grace = 0.05}).code == 124
      else
        local h = proc.spawn({"cat"}, quiet)
        h:write(("y"):rep(200000))
        return #h:wait().stdout == 200000
      end
    end)
  end
  task.sleep(0.02)
  for i = 1, 300, 3 do ts[i]:cancel() end
  local good, cancelled = 0, 0
  for i = 1, 300 do
    local ok, r = ts[i]:wait()
    if ok then
      T.eq(r, true, "run " .. i)
      good = good + 1
    else
      T.eq(r.code, "cancelled", "run " .. i .. ": " .. tostring(r))
      cancelled = cancelled + 1
    end
  end
  T.eq(good + cancelled, 300)
  T.truthy(cancelled > 0)
end)

T.test("stdout/stderr functions get each line; lines() iterates as they come", function()
  local got, errs = {}, {}
  local r = proc.run({"sh", "-c", "echo a; echo e1 >&2; printf 'b\\n\\nc'; exit 0"},
    q{stdout = function(l) got[#got + 1] = l end, stderr = function(l) errs[#errs + 1] = l end})
  T.eq(got, {"a", "b", "", "c"}); T.eq(errs, {"e1"})
  T.eq(r.stdout, ""); T.eq(r.code, 0)
  -- a failing command with a stderr function still names the last lines
  local err = T.raises(function()
    proc.run({"sh", "-c", "echo bad thing >&2; exit 2"}, q{stderr = function() end})
  end)
  T.match(err.message, "bad thing")
  -- lines() waits between lines: another task runs meanwhile -- the one
  -- that lets the command go on to its second line (a lines() that held
  -- the loop would wait for that line for ever)
  local h = proc.spawn({"sh", "-c", "echo one; read -r go; echo two $go"}, quiet)
  local other = task.spawn(function() h:write("go\n") end)
  local lines = {}
  for l in h:lines() do lines[#lines + 1] = l end
  T.eq(lines, {"one", "two go"})
  T.truthy(other:done())
  T.eq(h:wait().code, 0)
end)

T.test("spawn: pid, kill, wait; kill(sig) signals the group", function()
  local h = proc.spawn({"sleep", "10"}, quiet)
  T.truthy(h.pid > 0)
  T.truthy(alive(h.pid))
  T.truthy(h:kill())
  local r = h:wait()
  T.eq(r.signal, 15, "killed by us: no error")
  h = proc.spawn({"sleep", "10"}, quiet)
  T.truthy(h:kill("KILL"))
  T.eq(h:wait().signal, 9)
  T.eq(h:wait().signal, 9, "wait again: the same result")
  -- an unknown signal name is misuse
  T.raises(function() h:kill("NOPE") end, "unknown signal")
end)

T.test("an error in a line function stops the command; wait closes stdin", function()
  local dir = fs.tempdir()
  -- the command would sleep an hour: run returns only because it was stopped
  T.raises(function()
    proc.run({"sh", "-c", 'echo "$$" > "$0"; echo first; exec sleep 3600', dir .. "/pid"},
      q{stdout = function(line) error("handler broke on " .. line) end, kill_grace = 0.2})
  end, "handler broke on first")
  T.truthy(gone(tonumber(wait_file(dir .. "/pid"))))
  -- cat ends once wait() closes its stdin
  local h = proc.spawn({"cat"}, quiet)
  h:write("abc")
  T.eq(h:wait().stdout, "abc")
end)

T.test("a to-be-closed handle is terminated when its scope ends", function()
  local pid
  do
    local h <close> = proc.spawn({"sleep", "10"}, quiet)
    pid = h.pid
  end
  T.truthy(gone(pid))
end)

T.test("env is merged into the parent's; clear_env; false unsets", function()
  local r = proc.run({"sh", "-c", 'echo "$FOO:$HOME"'}, q{env = {FOO = "bar"}})
  T.eq(r.stdout, "bar:" .. os.getenv("HOME") .. "\n")
  r = proc.run({"sh", "-c", 'echo "${HOME-unset}"'}, q{env = {HOME = false}})
  T.eq(r.stdout, "unset\n")
  r = proc.run({"/usr/bin/env"}, q{clear_env = true, env = {ONLY = "1", N = 2}})
  local lines = {}
  for l in r.stdout:gmatch("[^\n]+") do lines[#lines + 1] = l end
  table.sort(lines)
  T.eq(lines, {"N=2", "ONLY=1"})
end)

T.test("cwd; a missing cwd is a clear error", function()
  local dir = fs.tempdir()
  local r = proc.run({"pwd"}, q{cwd = dir})
  T.eq(r.stdout, dir .. "\n")
  local err = T.raises(function() proc.run({"pwd"}, q{cwd = dir .. "/nope"}) end)
  T.match(err.message, "cannot change to directory")
  T.match(err.message, "/nope")
end)

T.test("git: a real repository", function()
  if not proc.which("git") then T.skip("no git") end
  local dir = fs.tempdir()
  local env = {GIT_AUTHOR_NAME = "t", GIT_AUTHOR_EMAIL = "t@example.org",
    GIT_COMMITTER_NAME = "t", GIT_COMMITTER_EMAIL = "t@example.org",
    GIT_CONFIG_GLOBAL = "/dev/null"}
  proc.run({"git", "init", "-q", "-b", "main", dir}, q{env = env})
  local f = assert(io.open(dir .. "/a.txt", "w")); f:write("hi\n"); f:close()
  proc.run({"git", "add", "a.txt"}, q{cwd = dir, env = env})
  proc.run({"git", "commit", "-q", "-m", "first"}, q{cwd = dir, env = env})
  local r = proc.run({"git", "log", "--format=%s"}, q{cwd = dir, env = env})
  T.eq(r.stdout, "first\n")
  local err = T.raises(function()
    proc.run({"git", "rev-parse", "no-such-ref"}, q{cwd = dir, env = env})
  end)
  T.eq(err.code, "exit")
  T.match(err.message, "git rev%-parse no%-such%-ref")
end)

T.test("secrets are redacted in the command shown and in errors", function()
  sw.secret("s3cr3t-value")
  T.eq(proc.quote({"helm", "--set", "token=s3cr3t-value", "it's"}),
    "helm --set token=*** 'it'\"'\"'s'")
  local err = T.raises(function()
    proc.run({"sh", "-c", 'echo "bad $0" >&2; exit 1', "s3cr3t-value"}, quiet)
  end)
  T.nomatch(err.message, "s3cr3t")
  T.match(err.message, "bad %*%*%*")
end)

T.test("dry runs: dry_run = true and the set_dry_run hook", function()
  local dir = fs.tempdir()
  local r = proc.run({"touch", dir .. "/x"}, q{dry_run = true})
  T.eq(r.dry_run, true); T.eq(r.code, 0)
  T.falsy(read(dir .. "/x"), "not run")
  local prev = proc.set_dry_run(true)
  local ok, e = pcall(function()
    proc.run({"touch", dir .. "/y"}, quiet)
    T.falsy(read(dir .. "/y"), "not readonly: a dry-run entry")
    T.eq(proc.run({"echo", "hi"}, q{readonly = true}).stdout, "hi\n", "readonly runs")
    local h = proc.spawn({"touch", dir .. "/z"}, quiet)
    T.eq(h:wait().dry_run, true)
    T.falsy(read(dir .. "/z"))
  end)
  proc.set_dry_run(prev)
  if not ok then error(e, 0) end
  T.raises(function() proc.set_dry_run(42) end, "function, boolean or nil")
end)

T.test("stdout to a file (appended), inherit and discard", function()
  local dir = fs.tempdir()
  proc.run({"echo", "one"}, q{stdout = {file = dir .. "/log"}})
  proc.run({"sh", "-c", "echo two >&2"}, q{stderr = {file = dir .. "/log"}})
  T.eq(read(dir .. "/log"), "one\ntwo\n")
  local r = proc.run({"echo", "gone"}, q{stdout = "discard"})
  T.eq(r.stdout, "")
  local err = T.raises(function() proc.run({"echo"}, q{stdout = {file = dir .. "/no/such/dir"}}) end)
  T.match(err.message, "cannot open stdout file")
end)

T.test("a detached process outlives slipway and is not killed", function()
  if not BIN then T.skip("SLIPWAY_BIN not set") end
  local dir = fs.tempdir()
  proc.run({BIN, FIX .. "/detach.lua", dir}, quiet)
  local pid = tonumber(wait_file(dir .. "/detached.pid"))
  T.truthy(alive(pid), "still running after slipway exited")
  T.eq(wait_file(dir .. "/detached.out"), "running\n")
  T.eq(proc.kill(pid, "KILL"), true)
  T.truthy(gone(pid))
  -- and here, in this process
  local p2 = proc.spawn({"sleep", "5"}, q{detach = true})
  T.eq(math.type(p2), "integer")
  T.truthy(alive(p2))
  T.eq(proc.kill(p2, "KILL"), true)
  T.truthy(gone(p2))
end)

T.test("at exit, children nobody waited for are terminated with their groups", function()
  if not BIN then T.skip("SLIPWAY_BIN not set") end
  local dir = fs.tempdir()
  local t0 = task.now()
  local r = proc.run({BIN, FIX .. "/atexit.lua", dir}, q{check = false})
  T.eq(r.code, 0, "exit status (stderr: " .. r.stderr .. ")")
  T.truthy(task.now() - t0 >= 0.3, "waited the grace period")
  local pid, gpid = pids_of(dir .. "/pids")
  T.truthy(gone(pid)); T.truthy(gone(gpid))
end)

T.test("SIGINT to slipway: children and grandchildren gone, cleanup ran, exit 130", function()
  if not BIN then T.skip("SLIPWAY_BIN not set") end
  local dir = fs.tempdir()
  local h = proc.spawn({BIN, FIX .. "/sigint.lua", dir}, q{stderr = "capture"})
  wait_file(dir .. "/ready")
  local pids = {}
  for i = 1, 3 do
    local a, b = pids_of(dir .. "/pids." .. i)
    pids[#pids + 1] = a; pids[#pids + 1] = b
  end
  for _, p in ipairs(pids) do T.truthy(alive(p), "running before SIGINT: " .. p) end
  T.truthy(h:kill("INT"))
  local r = h:wait()
  T.eq(r.code, 130, "exit status 130 (stderr: " .. r.stderr .. ")")
  for i = 1, 3 do T.eq(read(dir .. "/cleanup." .. i), "cancelled", "cleanup " .. i) end
  for _, p in ipairs(pids) do T.truthy(gone(p), "gone after slipway exited: " .. p) end
end)

T.test("cwd sets the child's PWD, as a shell's cd would", function()
  local r = proc.run({"sh", "-c", 'printf %s "$PWD"'}, {cwd = "/usr/lib", echo = false})
  T.eq(r.stdout, "/usr/lib")
  local e = proc.run({"printenv", "PWD"}, {cwd = "/usr", env = {PWD = "/x"}, echo = false})
  T.eq(e.stdout, "/x\n", "an explicit PWD wins")
  T.eq(proc.run({"printenv", "PWD"}, {cwd = "/usr/lib", echo = false}).stdout, "/usr/lib\n")
end)

T.test("a relative cwd: the child's PWD starts at $PWD if it is true, else at getcwd", function()
  if not BIN then T.skip("SLIPWAY_BIN not set") end
  local d = fs.tempdir()
  fs.mkdir(d .. "/real/sub")
  proc.run({"ln", "-s", "real", d .. "/link"}, quiet)
  local script = [[print((require("slipway.proc").run({"printenv", "PWD"}, {cwd = "sub", echo = false}).stdout:gsub("\n$", "")))]]
  -- $PWD names the current directory through a link: kept, as a shell's cd
  local r = proc.run({BIN, "-e", script}, q{cwd = d .. "/link", env = {PWD = d .. "/link"}})
  T.eq(r.stdout, d .. "/link/sub\n")
  -- a stale $PWD (another directory): the kernel's cwd instead
  r = proc.run({BIN, "-e", script}, q{cwd = d .. "/link", env = {PWD = SRC == "." and "/" or SRC}})
  T.eq(r.stdout, fs.realpath(d) .. "/real/sub\n")
  r = proc.run({BIN, "-e", script}, q{cwd = d .. "/real", env = {PWD = "relative/x"}})
  T.eq(r.stdout, fs.realpath(d) .. "/real/sub\n")
end)

T.test("proc.pid is slipway's own process id", function()
  local pid = proc.pid()
  T.eq(math.type(pid), "integer")
  T.eq(pid, tonumber(read("/proc/self/stat"):match("^(%d+)")))
  -- a child's parent is slipway itself (posix_spawn, no shell in between)
  T.eq(proc.run({"sh", "-c", "echo $PPID"}, quiet).stdout, pid .. "\n")
end)

T.test("proc.kill signals a pid or a process group; signal 0 probes", function()
  local h = proc.spawn({"sleep", "30"}, q{check = false})
  T.eq(proc.kill(h.pid, 0), true, "signal 0: the process exists")
  T.truthy(alive(h.pid))
  T.eq(proc.kill(tostring(h.pid), "SIGTERM"), true, "a pid read from a file is a string")
  local r = h:wait()
  T.eq(r.signal, 15)
  local err = T.raises(function() proc.kill(h.pid, 0) end)
  T.eq(err.code, "ESRCH")
  T.eq(err.pid, h.pid); T.eq(err.signal, 0)
  T.match(err.message, "^[^\n]*proc_spec%.lua:%d+: proc%.kill: cannot send signal 0 to process "
    .. h.pid .. ": No such process$")
  -- -pid: the whole group, the shell and its background child
  local g = proc.spawn({"sh", "-c", "sleep 30 & echo $!; wait"}, q{check = false})
  local child = tonumber(g:lines()())
  T.truthy(child and alive(child), "the grandchild runs")
  T.eq(proc.kill(-g.pid, 9), true)
  T.eq(g:wait().signal, 9)
  T.truthy(gone(child), "the grandchild got the signal too")
  err = T.raises(function() proc.kill(-g.pid) end)
  T.eq(err.code, "ESRCH"); T.eq(err.pid, -g.pid); T.eq(err.signal, 15)
  T.match(err.message, "cannot send SIGTERM to process group " .. g.pid)
  -- a process we may not signal (unless we are root, who may)
  if proc.run({"id", "-u"}, quiet).stdout == "0\n" then
    T.eq(proc.kill(1, 0), true)
  else
    T.eq(T.raises(function() proc.kill(1, 0) end).code, "EPERM")
  end
end)

T.test("proc.kill refuses what is not one process or group", function()
  for _, bad in ipairs({0, -1}) do
    local err = T.raises(function() proc.kill(bad, "TERM") end, "is not a process")
    T.eq(type(err), "string", "misuse is a plain error")
  end
  T.raises(function() proc.kill("12x") end, "process id expected")
  T.raises(function() proc.kill(nil) end, "process id expected")
  T.raises(function() proc.kill(1.5) end, "process id expected")
  T.raises(function() proc.kill(2^40) end, "process id expected")
  T.raises(function() proc.kill(proc.pid(), "BOGUS") end, "unknown signal BOGUS")
  T.raises(function() proc.kill(proc.pid(), 99) end, "unknown signal 99")
end)

T.run()
