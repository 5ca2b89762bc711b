--- sync: waiting for events and proving that things overlap, with no
-- assertion on how long anything takes (tests assert order and outcome,
-- never durations: a loaded CI machine makes everything slower).
--
--   local sync = require "sync"
--   sync.wait_until(pred, what [, seconds])  -- poll pred() until true
--   sync.wait_file(path [, seconds])         -- until path exists
--       seconds (default SAFETY) is only a safety net against a hang: when it
--       passes, "timed out waiting for WHAT" is raised.
--
--   Barriers: n participants each arrive and wait until all n have arrived;
--   only then do they go on. They pass only if all n were in flight at once:
--   had they run one after the other, the first would wait for the others
--   for ever. The safety net (SAFETY from the first arrival) turns that into
--   a clear failure; it never lets a test pass.
--
--   local b = sync.barrier(n, "the /health requests")   -- tasks of this process
--   b:arrive()   -- in each participant; raises after the safety net
--   b:check()    -- in the test, afterwards: raises if it ever gave up
--
--   local pb = sync.proc_barrier(n, "kubectl rollout calls")  -- child processes
--   pb.sh        -- sh code each child runs first: it arrives, and blocks
--                -- until n have
--   pb:check()   -- after they ran: raises if they were not all in at once
local fs = require "slipway.fs"
local proc = require "slipway.proc"
local task = require "slipway.task"

local M = {}

--- Seconds a wait gives an event before it fails. Far beyond what anything
-- takes on a loaded machine, and below the testing harness' 60 s per test.
M.SAFETY = 30

function M.wait_until(pred, what, seconds)
  local deadline = task.now() + (seconds or M.SAFETY)
  while not pred() do
    if task.now() > deadline then error("timed out waiting for " .. what, 2) end
    task.sleep(0.01)
  end
end

function M.wait_file(path, seconds)
  M.wait_until(function() return fs.exists(path) end, path, seconds)
end

local function gave_up(what, arrived, n)
  return string.format("only %d of %d %s were in flight at once (waited %d s for the others)",
                       arrived, n, what, M.SAFETY)
end

-- ---- tasks of this process -------------------------------------------------

local Barrier = {}
Barrier.__index = Barrier

function M.barrier(n, what)
  return setmetatable({n = n, what = what, arrived = 0}, Barrier)
end

-- The gate is a task sleeping for the safety net: the last to arrive cancels
-- it, which wakes every waiter (wait() then returns false, "cancelled"); a
-- gate that slept to its end means they did not all come.
function Barrier:arrive()
  self.arrived = self.arrived + 1
  if not self.gate then self.gate = task.spawn(task.sleep, M.SAFETY) end
  if self.arrived >= self.n then self.gate:cancel() return end
  if self.gate:wait() then
    self.failed = self.failed or gave_up(self.what, self.arrived, self.n)
    error(self.failed, 2)
  end
end

function Barrier:check()
  if self.failed then error(self.failed, 2) end
  if self.arrived < self.n then error(gave_up(self.what, self.arrived, self.n), 2) end
end

-- ---- child processes -------------------------------------------------------

local ProcBarrier = {}
ProcBarrier.__index = ProcBarrier

--- Children announce themselves with a file in dir and block reading a line
-- from a FIFO they open read-write (which never blocks); a watcher task
-- writes the lines once n files are there -- or, after the safety net,
-- records the failure and lets them all go on.
function M.proc_barrier(n, what)
  local dir = fs.tempdir()
  proc.run({"mkfifo", dir .. "/go"}, {echo = false})
  local self = setmetatable({n = n, what = what, dir = dir}, ProcBarrier)
  self.sh = string.format([[exec 9<>'%s/go'; : > '%s/in.'$$; read -r _ <&9; exec 9<&-]], dir, dir)
  self.watcher = task.spawn(function()
    local first
    while true do
      local arrived = #fs.glob(dir .. "/in.*")
      if arrived >= n then break end
      if arrived > 0 then
        first = first or task.now()
        if task.now() - first > M.SAFETY then self.failed = gave_up(what, arrived, n) break end
      end
      task.sleep(0.01)
    end
    -- the lines stay in the FIFO while it is held open here (until check):
    -- after a failure there are lines for those still to come too
    self.fifo = assert(io.open(dir .. "/go", "r+"))
    self.fifo:write(("\n"):rep(self.failed and 64 * n or n))
    self.fifo:flush()
  end)
  return self
end

function ProcBarrier:check()
  if not self.watcher:done() then
    self.failed = gave_up(self.what, #fs.glob(self.dir .. "/in.*"), self.n)
    self.watcher:cancel()
  end
  self.watcher:wait()
  if self.fifo then self.fifo:close(); self.fifo = nil end
  if self.failed then error(self.failed, 2) end
end

return M
