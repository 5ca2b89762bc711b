-- The local driver's hold on its processes: a fresh service is never taken
-- for dead (tmpfs state directories), a service whose record cannot be
-- written does not run on untracked, `stop` works when the state directory
-- cannot take a journal. Real slipway processes, real services, real git.
local T = require "slipway.testing"
local D = require "deploytest"
local fs = require "slipway.fs"
local proc = require "slipway.proc"
local task = require "slipway.task"
local sync = require "sync"

-- live processes whose environment names a release directory under `under`
local services_under = D.service_pids

local function gone(under)
  local deadline = task.now() + sync.SAFETY
  while #services_under(under) > 0 and task.now() < deadline do task.sleep(0.05) end
  return services_under(under)
end

-- a scratch directory on tmpfs when there is one (where the race showed)
local function tmpfs_dir()
  if fs.exists("/dev/shm") then
    local ok, d = pcall(fs.tempdir, {dir = "/dev/shm"})
    if ok then return d end
  end
  return fs.tempdir()
end

T.test("a process just spawned is alive, named by pid and start time", function()
  local dir = tmpfs_dir()
  local dead = {}
  local pids = {}
  for i = 1, 50 do
    local rdir = dir .. "/r" .. i
    local pid = proc.spawn({"sleep", "30"}, {detach = true, echo = false,
      env = {SLIPWAY_RELEASE_DIR = rdir}, stdout = {file = dir .. "/log"}})
    local start = proc.started(pid)
    pids[#pids + 1] = pid
    if not (start and proc.alive(pid, start)) then dead[#dead + 1] = pid end
    -- another start time is another process, whatever the pid
    T.falsy(proc.alive(pid, (start or 0) + 1), "a different start time is not this process")
  end
  for _, pid in ipairs(pids) do proc.kill(pid, "KILL") end
  T.eq(dead, {}, "every fresh process detected alive")
  T.eq(gone(dir), {})
  T.eq(proc.started(pids[1]), nil, "no start time for a process that is gone")
end)

T.test("deploys with the state directory on tmpfs: each healthy, none left behind", function()
  local state = tmpfs_dir()
  D.with_repo(function(dir)
    local p = dir .. "/slipway.yaml"
    fs.write(p, (fs.read(p):gsub("state_dir: %.slipway", "state_dir: " .. state)))
  end, function(dir)
    for i = 1, 4 do
      local r = D.slipway(dir, {"stage", "staging"})
      T.eq(r.code, 0, "stage " .. i .. "\n" .. r.stderr)
      T.nomatch(r.stderr, "did not become healthy")
    end
    T.truthy(fs.exists(state .. "/envs/staging/current.json"))
    T.eq(#services_under(state .. "/"), 1, "only the current release runs")
    local s = D.slipway(dir, {"status"})
    T.match(s.stdout, "staging%s+local%s+running")
    T.eq(D.slipway(dir, {"stop", "--all"}).code, 0)
    T.eq(gone(state .. "/"), {})
  end)
end, {timeout = 120})

-- A tmpfs of `inodes` inodes at a new directory (nil when mounting is not
-- permitted here): creating a file past them fails with ENOSPC, as on a
-- full disk, and at the same point every time.
local function small_tmpfs(inodes)
  local at = fs.tempdir()
  local m = proc.run({"mount", "-t", "tmpfs", "-o", "nr_inodes=" .. inodes .. ",size=4m",
                      "tmpfs", at}, {check = false, echo = false})
  if m.code ~= 0 then return nil, m.stderr end
  return at
end

T.test("a pid file that cannot be written (full tmpfs): the service is stopped, the deploy fails", function()
  D.with_repo(nil, function(dir)
    -- the first inode count at which the state directory fills up exactly at
    -- the pid file (earlier counts fail earlier, at other files)
    local hit
    for inodes = 8, 40 do
      local state, why = small_tmpfs(inodes)
      if not state then T.skip("mount -t tmpfs not permitted here: " .. tostring(why)) end
      local ok, err = pcall(function()
        local r = D.slipway(dir, {"stage", "staging", "--state-dir", state})
        if r.stderr:find("pid file could not be written", 1, true) then
          hit = inodes
          T.eq(r.code, 1, r.stderr)
          T.match(r.stderr, "revision 1 stopped again: its pid file could not be written")
          T.match(r.stderr, "No space left on device")
          T.eq(gone(state .. "/"), {}, "no service runs untracked")
        else
          T.eq(#services_under(state .. "/"), r.code == 0 and 1 or 0, "a failed stage leaves nothing")
          D.slipway(dir, {"stop", "--all", "--state-dir", state})
          T.eq(gone(state .. "/"), {})
        end
      end)
      -- a service left running holds its log open: umount would be refused
      for _, pid in ipairs(services_under(state .. "/")) do pcall(proc.kill, pid, "KILL") end
      gone(state .. "/")
      proc.run({"umount", state}, {check = false, echo = false})
      if not ok then error(err, 0) end
      if hit then break end
    end
    T.truthy(hit, "some inode count fails exactly at the pid file")
  end)
end, {timeout = 120})

T.test("a service without its pid file (killed before the write) is found and stopped", function()
  D.with_repo(nil, function(dir)
    T.eq(D.slipway(dir, {"stage", "staging"}).code, 0)
    local pidfile = dir .. "/.slipway/envs/staging/releases/000001/pid"
    fs.remove(pidfile)
    T.eq(#services_under(dir .. "/.slipway/"), 1)
    local r = D.slipway(dir, {"stop", "staging"})
    T.eq(r.code, 0, r.stderr)
    T.eq(gone(dir .. "/.slipway/"), {})
  end)
end, {timeout = 60})

T.test("stop works when the journal cannot be written (a warning, exit 0)", function()
  D.with_repo(nil, function(dir)
    T.eq(D.slipway(dir, {"stage", "staging"}).code, 0)
    T.eq(#services_under(dir .. "/.slipway/"), 1)
    -- a file where the journal directory must go
    fs.remove(dir .. "/.slipway/journal", {recursive = true})
    fs.write(dir .. "/.slipway/journal", "not a directory\n")
    local r = D.slipway(dir, {"stop", "--all"})
    T.eq(r.code, 0, r.stderr)
    T.match(r.stderr, "journal")
    T.eq(gone(dir .. "/.slipway/"), {}, "the service was stopped")
    T.falsy(D.current(dir, "staging"))
    fs.remove(dir .. "/.slipway/journal")
  end)
end, {timeout = 60})

T.test("stop works on a read-only state directory (bind mount, when permitted)", function()
  D.with_repo(nil, function(dir)
    T.eq(D.slipway(dir, {"stage", "staging"}).code, 0)
    local state = dir .. "/.slipway"
    local m = proc.run({"mount", "--bind", state, state}, {check = false, echo = false})
    if m.code ~= 0 then
      proc.run({"umount", state}, {check = false, echo = false})
      T.skip("mount --bind not permitted here: " .. m.stderr)
    end
    local ok, err = pcall(function()
      proc.run({"mount", "-o", "remount,bind,ro", state}, {echo = false})
      local r = D.slipway(dir, {"stop", "--all"})
      T.eq(r.code, 0, r.stderr)
      T.match(r.stderr, "WARN  the journal cannot be written")
      T.eq(gone(state .. "/"), {}, "the service was stopped")
    end)
    proc.run({"umount", state}, {check = false, echo = false})
    if not ok then error(err, 0) end
  end)
end, {timeout = 60})

local BAD_OPTIONS = [[
name: options
environments:
  staging:
    chart: mybinder
    values: [mybinder/values.yaml, config/staging.yaml]
    local:
      command: ["$SLIPWAY", "service.lua"]
      %s
stages:
  staging: staging
]]

T.test("local: options are validated when slipway.yaml loads, before anything starts", function()
  for _, case in ipairs{
    {"helth: /x", "slipway.yaml:8:7: environments.staging.local.helth: unknown option "
      .. "(did you mean 'health'?); known: command, health, keep, port, startup_timeout, stop_timeout"},
    {"startup_timeout: -5", "slipway.yaml:8:7: environments.staging.local.startup_timeout: "
      .. "must be a number > 0, got -5"},
    {"port: zero", "slipway.yaml:8:7: environments.staging.local.port: must be an integer "
      .. ">= 0 and <= 65535, got \"zero\""},
    {"startup_timeout: \"abc\"", "slipway.yaml:8:7: environments.staging.local.startup_timeout: "
      .. "must be a number > 0, got \"abc\""},
    {"health: health", "environments.staging.local.health: must be a path starting with /"},
  } do
    D.with_repo(function(dir)
      fs.write(dir .. "/slipway.yaml", string.format(BAD_OPTIONS, case[1]))
    end, function(dir)
      for _, cmd in ipairs{{"status"}, {"stage", "staging"}} do
        local r = D.slipway(dir, cmd)
        T.eq(r.code, 2, case[1] .. ": " .. cmd[1] .. "\n" .. r.stderr)
        T.match(r.stderr, case[2]:gsub("%p", "%%%0"), case[1])
      end
      T.eq(#services_under(dir .. "/"), 0, "nothing was started")
    end)
  end
  -- numbers from ${VAR} arrive as strings: accepted as numbers
  D.with_repo(function(dir)
    fs.write(dir .. "/slipway.yaml", string.format(BAD_OPTIONS, "startup_timeout: ${STARTUP:-30}"))
  end, function(dir)
    local r = D.slipway(dir, {"stage", "staging"})
    T.eq(r.code, 0, r.stderr)
  end)
end, {timeout = 120})

T.run()
