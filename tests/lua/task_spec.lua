-- The scheduler: ordering, results, errors, cancellation, timeouts.
local T = require "slipway.testing"
local task = require "slipway.task"

-- A sleep that only a cancellation ends in time: the cancel comes a few ms
-- in. A cancellation that waited for the sleep to end is seen by order, not
-- by a clock: `sooner(fn)` runs fn while a reference task sleeps LONG,
-- started first; fn must be done while the reference still sleeps. LONG is
-- below the harness' 60 s timeout, which cancels the same way: such a
-- regression fails here instead of hanging the harness.
local LONG = 40
local function sooner(fn)
  local ref = task.spawn(task.sleep, LONG)
  task.yield()  -- its timer is armed before fn's
  fn()
  local before = not ref:done()
  ref:cancel()
  return before
end

T.test("spawned tasks run in order of readiness", function()
  local log, due = {}, {}
  -- each task notes when its timer is due: a machine that stops this
  -- process for 20 ms between arming a's timer and b's makes a due first
  local function sleeper(name, s)
    return function() due[name] = task.now() + s; task.sleep(s); log[#log + 1] = name end
  end
  local a = task.spawn(sleeper("a", 0.03))
  local b = task.spawn(sleeper("b", 0.01))
  local c = task.spawn(function() log[#log + 1] = "c" end)
  a:wait(); b:wait(); c:wait()
  if math.abs(due.a - due.b) > 0.002 then  -- else (a tie to the ms) either order
    T.eq(log, due.b < due.a and {"c", "b", "a"} or {"c", "a", "b"})
  end
  T.eq(log[1], "c", "ready at once, before either timer")
end)

T.test("wait returns ok and results like coroutine.resume", function()
  local t = task.spawn(function(x, y) return x + y, "s", nil end, 1, 2)
  local r = table.pack(t:wait())
  T.eq(r.n, 4)
  T.eq(r[1], true); T.eq(r[2], 3); T.eq(r[3], "s"); T.eq(r[4], nil)
  -- waiting again gives the same results
  T.eq(select(2, t:wait()), 3)
end)

T.test("a child's error stays in the child until waited for", function()
  local t = task.spawn(function() error("child broke") end)
  task.sleep(0.01)
  T.eq(t:status(), "failed")
  local ok, err = t:wait()
  T.falsy(ok)
  T.match(tostring(err), "child broke")
  T.raises(function() t:join() end, "child broke")
end)

T.test("the main task may yield at top level (no wrapper needed)", function()
  local t0 = task.now()
  task.sleep(0.02)
  T.truthy(task.now() - t0 >= 0.019)
end)

T.test("cancel runs to-be-closed variables and pcall cleanup", function()
  local closed, cleaned = false, false
  local t, ok, err
  T.truthy(sooner(function()
    t = task.spawn(function()
      local guard <close> = setmetatable({}, {__close = function() closed = true end})
      local ok2, err2 = pcall(task.sleep, LONG)
      cleaned = not ok2 and err2.code == "cancelled"
      error(err2, 0)
    end)
    task.sleep(0.01)
    T.eq(t:status(), "waiting")
    t:cancel()
    ok, err = t:wait()
  end), "cancelled at once, not at the end of the sleep")
  T.falsy(ok)
  T.eq(err.code, "cancelled")
  T.eq(t:status(), "cancelled")
  T.truthy(closed, "to-be-closed ran")
  T.truthy(cleaned, "pcall saw the cancellation, not the end of the sleep")
end)

T.test("cancelling a task before it starts never runs it", function()
  local ran = false
  local t = task.spawn(function() ran = true end)
  t:cancel()
  local ok, err = t:wait()
  T.falsy(ok); T.eq(err.code, "cancelled"); T.falsy(ran)
end)

T.test("a cancelled sleep is never resumed later", function()
  local resumed = 0
  local t = task.spawn(function() task.sleep(0.05); resumed = resumed + 1 end)
  task.sleep(0.01)
  t:cancel()
  t:wait()
  task.sleep(0.1)
  T.eq(resumed, 0)
end)

T.test("all: results in order; first error cancels the rest", function()
  local r = task.all{
    function() task.sleep(0.02); return "x" end,
    function() return "y" end,
  }
  T.eq(r, {"x", "y"})
  local slow = "running"
  T.truthy(sooner(function() T.raises(function()
    task.all{
      function()
        local ok, err = pcall(task.sleep, LONG)
        slow = ok and "finished" or err.code
      end,
      function() task.sleep(0.01); error("fast failure") end,
    }
  end, "fast failure") end), "raised at the first error, not after the slow task's sleep")
  T.eq(slow, "cancelled", "the slow task was cancelled and had ended when all raised")
end)

T.test("all: tasks failing together -- the first raised, the others attached, none unwaited", function()
  local cmd = require "slipway_cmd"
  local r = cmd.run({"-e", [[
    local task = require "slipway.task"
    local sw = require "slipway.core"
    local ok, err = pcall(task.all, {
      function() sw.raise("one", "first failure") end,
      function() error("second failure") end,
      function() task.sleep(5) end,
    })
    assert(not ok)
    print("raised: " .. tostring(err))
    print("others: " .. #err.others .. " " .. tostring(err.others[1]))
    local ok2, err2 = pcall(task.all, {function() error("a", 0) end, function() error("b", 0) end})
    print("strings: " .. err2.code .. " " .. tostring(err2.error) .. " " .. tostring(err2.others[1]))
    local i = task.race{function() return 1 end, function() error("late too") end}
    print("race: " .. i)
    collectgarbage(); collectgarbage()
    task.sleep(0.01)
    print("main done")
  ]]})
  T.eq(r.code, 0, r.stderr)
  T.match(r.stdout, "raised: [^\n]*first failure")
  T.match(r.stdout, "others: 1 [^\n]*second failure")
  T.match(r.stdout, "strings: task a b")
  T.match(r.stdout, "race: 1")
  T.match(r.stdout, "main done")
  T.nomatch(r.stderr, "nobody waited")
end)

T.test("any returns the first success; race the first to end", function()
  local late = "running"
  local i, v
  T.truthy(sooner(function()
    i, v = task.any{
      function() error("no") end,
      function()  -- "early" wins, and this one is cancelled
        local ok, err = pcall(task.sleep, LONG)
        late = ok and "finished" or err.code
        return "late"
      end,
      function() task.sleep(0.01); return "early" end,
    }
  end), "returned at the first success, not after the other's sleep")
  T.eq(i, 3); T.eq(v, "early")
  T.eq(late, "cancelled")
  T.raises(function() task.any{function() error("a") end, function() error("b") end} end, "[ab]")
  local j = task.race{function() task.sleep(1) end, function() return 1 end}
  T.eq(j, 2)
end)

T.test("timeout raises code timeout and cancels the work", function()
  local finished = false
  local err = T.raises(function()
    task.timeout(0.02, function() task.sleep(1); finished = true end)
  end, "timed out after 0.02 s")
  T.eq(err.code, "timeout")
  T.falsy(finished)
  T.eq(task.timeout(1, function(a) return a end, 7), 7)
end)

T.test("waiting where Lua cannot yield is a clear error", function()
  T.raises(function()
    table.sort({3, 2, 1}, function(a, b) task.sleep(0); return a < b end)
  end, "cannot wait here: the caller cannot yield")
  local co = coroutine.wrap(function() task.sleep(0) end)
  T.raises(co, "not in a slipway task")
end)

T.test("many tasks: 10,000 spawned and joined", function()
  local ts = {}
  for i = 1, 10000 do ts[i] = task.spawn(function(x) task.yield(); return x end, i) end
  local sum = 0
  for i = 1, 10000 do sum = sum + select(2, ts[i]:wait()) end
  T.eq(sum, 10000 * 10001 // 2)
end)

T.test("a plain coroutine.yield in a task acts like yield()", function()
  local t = task.spawn(function() coroutine.yield(); return "after" end)
  T.eq(select(2, t:wait()), "after")
end)

T.test("a cancelled waiter is not resumed when its target ends later", function()
  local target = task.spawn(function() task.sleep(0.05); return 1 end)
  local resumed = 0
  local waiter = task.spawn(function() target:wait(); resumed = resumed + 1 end)
  task.sleep(0.01)
  waiter:cancel()
  local ok, err = waiter:wait()
  T.falsy(ok); T.eq(err.code, "cancelled")
  T.eq(select(2, target:wait()), 1)
  task.sleep(0.01)
  T.eq(resumed, 0)
end)

T.test("a task cannot wait for itself", function()
  local me
  me = task.spawn(function() me:wait() end)
  local ok, err = me:wait()
  T.falsy(ok)
  T.match(tostring(err), "a task cannot wait for itself")
end)

-- the per-task cost (issue 17): a finished task keeps its results, not its
-- thread; task.yield is a plain requeue that cancellation still reaches
T.test("a finished task lets its thread go and keeps 0, 1 or many results", function()
  local threads = setmetatable({}, {__mode = "k"})
  local t0 = task.spawn(function() threads[coroutine.running()] = true end)
  local t1 = task.spawn(function() threads[coroutine.running()] = true; return nil end)
  local t3 = task.spawn(function() threads[coroutine.running()] = true; return 1, nil, "x" end)
  local tf = task.spawn(function() threads[coroutine.running()] = true; error({code = "x"}) end)
  T.eq(table.pack(t0:wait()), {n = 1, true})
  T.eq(table.pack(t1:wait()), {n = 2, true, nil})
  T.eq(table.pack(t3:wait()), {n = 4, true, 1, nil, "x"})
  local ok, err = tf:wait()
  T.falsy(ok); T.eq(err.code, "x")
  collectgarbage(); collectgarbage()
  T.eq(next(threads), nil, "the threads of finished tasks were collected")
  T.eq(select(2, t3:wait()), 1)
  T.match(tostring(t3), "^task %d+ %(.*task_spec%.lua:%d+%)$")
end)

T.test("a task cancelled while it yields is resumed with the cancellation", function()
  local closed, after = false, false
  local t = task.spawn(function()
    local _ <close> = setmetatable({}, {__close = function() closed = true end})
    while true do task.yield() end
  end)
  local u = task.spawn(function() task.yield(); after = true end)
  task.yield(); task.yield()
  t:cancel()
  local ok, err = t:wait()
  T.falsy(ok); T.eq(err.code, "cancelled"); T.truthy(closed)
  T.truthy(select(1, u:wait())); T.truthy(after)
  T.raises(function() coroutine.wrap(function() task.yield() end)() end, "not in a slipway task")
end)

T.test("info names where a task was spawned and keeps its traceback", function()
  local t = task.spawn(function() error("broken here") end)  -- this line
  t:wait()
  local i = t:info()
  T.match(i.where, "task_spec.lua:%d+$")
  T.eq(type(i.id), "number")
  T.eq(i.parent, task.current():info().id)
  T.match(i.traceback, "broken here")
  T.match(i.traceback, "stack traceback:")
end)

T.test("timeout passes fn's own error through; all{} is empty", function()
  local err = T.raises(function() task.timeout(1, function() error({code = "mine"}) end) end)
  T.eq(err.code, "mine")
  T.eq(task.all{}, {})
end)

T.test("cancelling a task does not cancel the tasks it spawned", function()
  local child
  local parent = task.spawn(function()
    child = task.spawn(function() task.sleep(0.03); return "child ok" end)
    task.sleep(10)
  end)
  task.sleep(0.01)
  parent:cancel()
  T.eq(select(2, parent:wait()).code, "cancelled")
  T.eq(select(2, child:wait()), "child ok")
end)

-- issue 15.2: timers were armed from the loop's cached time, which does not
-- move during busy work: task.sleep(0.05) after 30 ms of work returned in
-- 19 ms. A lower bound (sleeping is "at least"), measured on the monotonic
-- clock; no upper bound.
local function busy(seconds)
  local t0 = task.now()
  while task.now() - t0 < seconds do end
end

T.test("after busy work, sleep and timeout still wait at least as long as asked", function()
  for _ = 1, 5 do
    busy(0.03)
    local t0 = task.now()
    task.sleep(0.05)
    local d = task.now() - t0
    T.truthy(d >= 0.05, string.format("task.sleep(0.05) returned after %.4f s", d))
    busy(0.03)
    t0 = task.now()
    local ok = pcall(task.timeout, 0.05, function() task.sleep(10) end)
    d = task.now() - t0
    T.falsy(ok)
    T.truthy(d >= 0.05, string.format("task.timeout(0.05) fired after %.4f s", d))
  end
end)

T.test("every timer in runtime/ is armed through sw_timer_start", function()
  local SRC = os.getenv("SLIPWAY_SRC") or "."
  local fs = require "slipway.fs"
  for _, path in ipairs(fs.glob(SRC .. "/runtime/*.c")) do
    local n = 0
    for line in io.lines(path) do
      n = n + 1
      if line:find("uv_timer_start%(") and not line:find("return uv_timer_start%(t, cb,") then
        error(path .. ":" .. n .. ": uv_timer_start outside sw_timer_start: " .. line)
      end
    end
  end
end)

T.run()
