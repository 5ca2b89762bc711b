--- slipway.task: tasks on the event loop.
--
-- Every playbook's main chunk runs as a task. Functions that wait
-- (`task.sleep`, `proc.run`, `http.get`, ...) suspend only the calling task;
-- other tasks run meanwhile.
--
--   local task = require "slipway.task"
--   local t = task.spawn(function(x) task.sleep(0.1); return x * 2 end, 21)
--   local ok, v = t:wait()          --> true, 42 (like coroutine.resume)
--   local a, b = task.all{f, g}     --> results of f and g, or the first error
--
-- Cancellation (`t:cancel()`, `task.timeout`, SIGINT) raises an error with
-- code "cancelled" inside the task at the point where it waits, so its
-- to-be-closed variables and pcall-based cleanup run; its pending operation
-- (timer, process, transfer) is stopped, never resumed later.
local core = require "slipway.task.core"
local sw = require "slipway.core"

local M = {}
local Task = {}
core.task_mt.__index = Task

--- Start `fn(...)` in a new task; returns the task. It starts on the next
-- loop turn. An error in it stays in it until someone waits for it.
function M.spawn(fn, ...)
  if type(fn) ~= "function" then
    error("bad argument #1 to 'spawn' (function expected, got " .. type(fn) .. ")", 2)
  end
  return core.spawn(fn, ...)
end

--- Wait until the task ends; returns `true, results...` or `false, err`.
function Task:wait() return core.wait(self) end

--- Wait and return its results, re-raising its error.
function Task:join()
  local r = table.pack(self:wait())
  if not r[1] then error(r[2], 0) end
  return table.unpack(r, 2, r.n)
end

--- Cancel the task (no-op when it has ended).
function Task:cancel() core.cancel(self) end

--- "ready", "running", "waiting", "done", "failed" or "cancelled".
function Task:status() return core.status(self) end

--- Whether the task has ended (in any way).
function Task:done()
  local s = core.status(self)
  return s == "done" or s == "failed" or s == "cancelled"
end

--- {id, parent, where, traceback}
function Task:info() return core.info(self) end

M.sleep = core.sleep
M.now = core.now
M.current = core.current

--- Yield to the other ready tasks, then continue.
function M.yield() core.yield() end

local function spawn_all(fns)
  local tasks = {}
  for i, f in ipairs(fns) do tasks[i] = core.spawn(f) end
  return tasks
end

-- Cancel every task of `tasks` but `except`, wait until each has ended and
-- consume its outcome (so none is reported as "failed and nobody waited for
-- it"); returns the errors of those that failed (not by our cancellation).
local function settle_rest(tasks, except)
  for _, t in ipairs(tasks) do if t ~= except then core.cancel(t) end end
  local errs = {}
  for _, t in ipairs(tasks) do
    if t ~= except then
      if not t:done() then core.waitany({t}) end
      local ok, e = core.result(t)
      if not ok and not (type(e) == "table" and e.code == "cancelled") then errs[#errs + 1] = e end
    end
  end
  return errs
end

--- Run every function concurrently; return a list of their first results.
-- Fails fast: the first error cancels the others and is raised, after every
-- other task has ended. Others that failed too (not by that cancellation)
-- are attached as `err.others` (a list of their errors); a first error that
-- is a string is then raised as a structured error (code "task", field
-- `error`: the string) so that they can be.
function M.all(fns)
  local tasks = spawn_all(fns)
  local results = {}
  local pending = {}
  for i, t in ipairs(tasks) do pending[i] = t end
  local failed, err
  local ok, werr = pcall(function()
    while #pending > 0 do
      local i = core.waitany(pending)
      local t = table.remove(pending, i)
      local r = table.pack(core.result(t))
      if not r[1] then failed, err = t, r[2]; return end
      for k, tk in ipairs(tasks) do
        if tk == t then results[k] = r[2] end
      end
    end
  end)
  if not ok then  -- we were cancelled ourselves: so are they
    settle_rest(tasks)
    error(werr, 0)
  end
  if failed then
    local others = settle_rest(tasks, failed)
    if #others > 0 then
      if type(err) ~= "table" then
        err = sw.error("task", tostring(err), {error = err})
      end
      err.others = others
    end
    error(err, 0)
  end
  return results
end

--- Run every function concurrently; return the index and results of the
-- first that succeeds, cancelling the rest. When all fail, raise the last error.
function M.any(fns)
  local tasks = spawn_all(fns)
  local pending = {}
  for i, t in ipairs(tasks) do pending[i] = t end
  local last
  while #pending > 0 do
    local t = table.remove(pending, core.waitany(pending))
    local r = table.pack(core.result(t))
    if r[1] then
      settle_rest(tasks, t)
      local idx
      for k, tk in ipairs(tasks) do if tk == t then idx = k end end
      return idx, table.unpack(r, 2, r.n)
    end
    last = r[2]
  end
  error(last, 0)
end

--- The first function to end (success or error) wins; the rest are cancelled.
function M.race(fns)
  local tasks = spawn_all(fns)
  local t = tasks[core.waitany(tasks)]
  settle_rest(tasks, t)
  local r = table.pack(core.result(t))
  if not r[1] then error(r[2], 0) end
  local idx
  for k, tk in ipairs(tasks) do if tk == t then idx = k end end
  return idx, table.unpack(r, 2, r.n)
end

--- Run fn(...) with a deadline; raises an error with code "timeout" when it
-- does not finish in time (fn's task is cancelled first).
function M.timeout(seconds, fn, ...)
  local t = core.spawn(fn, ...)
  local timer = core.spawn(core.sleep, seconds)
  local ok, which = pcall(core.waitany, {t, timer})
  if not ok then  -- we were cancelled ourselves
    core.cancel(t); core.cancel(timer)
    error(which, 0)
  end
  if which == 2 and not t:done() then
    core.cancel(t)
    core.waitany({t})
    core.result(t)
    error(sw.error("timeout", sw.where(2) .. "timed out after " .. seconds .. " s",
      {seconds = seconds, retryable = true}), 0)
  end
  core.cancel(timer)
  local r = table.pack(core.result(t))
  if not r[1] then error(r[2], 0) end
  return table.unpack(r, 2, r.n)
end

return M
