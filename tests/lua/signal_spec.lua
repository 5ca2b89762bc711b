-- SIGINT/SIGTERM: a real slipway (env SLIPWAY_BIN) started with proc.spawn,
-- signalled with its process group; its tasks' cleanup must run, its own
-- children get the signal forwarded, and it exits 130/143.
local T = require "slipway.testing"
local fs = require "slipway.fs"
local proc = require "slipway.proc"
local task = require "slipway.task"
local sync = require "sync"

local BIN = os.getenv("SLIPWAY_BIN") or "build/slipway"
local dir = fs.tempdir()
local n = 0

local function wait_for(path)
  return (pcall(sync.wait_file, path))
end

-- what slipway prints when its tasks' cleanup outlasts the grace period
-- (10 s) and it exits anyway: an exit that waited shows it
local GRACE_EXPIRED = "did not finish their cleanup"

-- Start `code` as a script in a fresh directory (arg[1] = that directory).
local function start(code)
  n = n + 1
  local d = dir .. "/run" .. n
  fs.mkdir(d)
  fs.write(d .. "/script.lua", code)
  local h = proc.spawn({BIN, d .. "/script.lua", d}, {echo = false, check = false})
  return h, d
end

local SLEEPER = [[
  local task = require "slipway.task"
  local function mark(name) io.open(arg[1] .. "/" .. name, "w"):close() end
  local child = task.spawn(function()
    local c <close> = setmetatable({}, {__close = function() mark("child-cleanup") end})
    mark("child-ready")  -- a task cancelled before it first ran never runs
    task.sleep(3600)
  end)
  local m <close> = setmetatable({}, {__close = function() mark("main-cleanup") end})
  mark("ready")
  task.sleep(3600)
  mark("not-cancelled")
]]

for _, case in ipairs{{"INT", 130}, {"TERM", 143}} do
  local sig, want = case[1], case[2]
  T.test("SIG" .. sig .. ": every task's cleanup runs, exit " .. want, function()
    local h, d = start(SLEEPER)
    T.truthy(wait_for(d .. "/ready") and wait_for(d .. "/child-ready"), "the script started")
    h:kill(sig)
    local r = h:wait()
    T.eq(r.code, want, r.stderr)
    T.nomatch(r.stderr, GRACE_EXPIRED, "exited once its tasks ended, not at the grace's end")
    T.truthy(fs.exists(d .. "/child-cleanup"), "child task's <close> ran")
    T.truthy(fs.exists(d .. "/main-cleanup"), "main task's <close> ran")
    T.falsy(fs.exists(d .. "/not-cancelled"))
  end)
end

T.test("the signal is forwarded to child process groups", function()
  local h, d = start([[
    local proc = require "slipway.proc"
    local dir = arg[1]
    -- the child writes which signal it got; it runs in its own process group,
    -- so only slipway's forwarding can reach it
    proc.run({"sh", "-c", "trap 'echo TERM > got; kill $!; exit 0' TERM; trap 'echo INT > got; kill $!; exit 0' INT; " ..
      ": > ready; sleep 30 & wait"}, {cwd = dir, echo = false})
  ]])
  T.truthy(wait_for(d .. "/ready"), "the grandchild started")
  h:kill("TERM")
  local r = h:wait()
  T.eq(r.code, 143, r.stderr)
  T.truthy(wait_for(d .. "/got"), "the child got a signal")
  T.eq(fs.read(d .. "/got"), "TERM\n")
  -- and SIGINT is forwarded as SIGINT
  h, d = start([[
    require("slipway.proc").run({"sh", "-c", "trap 'echo INT > got; kill $!; exit 0' INT; : > ready; sleep 30 & wait"},
      {cwd = arg[1], echo = false})
  ]])
  T.truthy(wait_for(d .. "/ready"))
  h:kill("INT")
  r = h:wait()
  T.eq(r.code, 130, r.stderr)
  T.truthy(wait_for(d .. "/got"))
  T.eq(fs.read(d .. "/got"), "INT\n")
end)

T.test("a second SIGINT exits at once, even while cleanup still runs", function()
  local h, d = start([[
    local task = require "slipway.task"
    local function mark(name) io.open(arg[1] .. "/" .. name, "w"):close() end
    mark("ready")
    local ok, err = pcall(task.sleep, 3600)
    mark("cleanup-started")
    task.sleep(30)          -- a slow cleanup (helm rolling back, say)
    mark("cleanup-finished")
  ]])
  T.truthy(wait_for(d .. "/ready"))
  h:kill("INT")
  T.truthy(wait_for(d .. "/cleanup-started"), "the first SIGINT cancelled the task")
  task.sleep(0.1)
  h:kill("INT")
  local r = h:wait()
  T.eq(r.code, 130, r.stderr)
  -- neither the cleanup's end (30 s) nor the grace's (10 s)
  T.falsy(fs.exists(d .. "/cleanup-finished"), "did not wait for the cleanup")
  T.nomatch(r.stderr, GRACE_EXPIRED, "nor for the grace period")
end)

T.test("a signal while nothing waits still exits 130", function()
  local h, d = start([[
    local task = require "slipway.task"
    io.open(arg[1] .. "/ready", "w"):close()
    local x = 0
    local t0 = task.now()
    while task.now() - t0 < 20 do  -- busy, yielding now and then
      for i = 1, 1e5 do x = x + i end
      task.yield()
    end
  ]])
  T.truthy(wait_for(d .. "/ready"))
  h:kill("INT")
  local r = h:wait()
  T.eq(r.code, 130, r.stderr)
end)

T.test("a task stuck in a Lua loop that never waits is still interrupted", function()
  for _, case in ipairs{{"INT", 130}, {"TERM", 143}} do
    local h, d = start([[
      local c <close> = setmetatable({}, {__close = function()
        io.open(arg[1] .. "/cleanup", "w"):close() end})
      io.open(arg[1] .. "/ready", "w"):close()
      local x = 0
      while true do x = x + 1 end
    ]])
    T.truthy(wait_for(d .. "/ready"))
    task.sleep(0.05)
    h:kill(case[1])
    local r = h:wait()
    T.eq(r.code, case[2], r.stderr)
    T.truthy(fs.exists(d .. "/cleanup"), "its <close> ran: the loop was interrupted")
    T.nomatch(r.stderr, GRACE_EXPIRED)
  end
end)

T.test("a second SIGINT exits even while the cleanup spins", function()
  local h, d = start([[
    io.open(arg[1] .. "/ready", "w"):close()
    local ok, e = pcall(function() while true do end end)
    io.open(arg[1] .. "/caught-" .. tostring(e.code), "w"):close()
    -- a cleanup that swallows every further interrupt: only the second
    -- SIGINT's exit can end it
    while true do pcall(function() while true do end end) end
  ]])
  T.truthy(wait_for(d .. "/ready"))
  h:kill("INT")
  T.truthy(wait_for(d .. "/caught-cancelled"), "the loop was interrupted with code cancelled")
  h:kill("INT")
  local r = h:wait()
  T.eq(r.code, 130)
  T.nomatch(r.stderr, GRACE_EXPIRED, "the second SIGINT ended it, not the grace")
end)

T.run()
