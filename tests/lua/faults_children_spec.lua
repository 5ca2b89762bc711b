-- Fault matrix, children that do not go quietly (docs/testing.md, "The
-- fault matrix"): `slipway deploy --playbook` running a step whose command
-- ignores SIGTERM (under a step timeout; and SIGTERM to slipway meanwhile)
-- or starts a daemon that keeps its stdout open (pipe_grace; and SIGTERM to
-- slipway while it waits). Each case checks the exit status, the message,
-- the journal, the shared record and that the child's process group is gone
-- (the daemon, which is left running on purpose, is stopped by the test).
-- Short timeouts and graces (0.5-1 s) keep it quick.
local T = require "slipway.testing"
local D = require "deploytest"
local F = require "faulttest"
local fs = require "slipway.fs"
local proc = require "slipway.proc"
local task = require "slipway.task"
local sync = require "sync"

-- FAULT_CASE picks the step; FAULT_PID is where the child writes its pid
local PLAYBOOK = [=[
local playbook = require "slipway.playbook"
local deploy = require "slipway.deploy"
local pidfile = os.getenv("FAULT_PID")
-- sh writes its pid (its group: every command starts its own), ignores
-- SIGTERM (so does sleep, which inherits the ignored disposition) and waits
local STUBBORN = {"sh", "-c", 'echo $$ > "$1"; trap "" TERM; sleep 60', "sh", pidfile}
-- sh starts a daemon that inherits its stdout, writes its own pid (the
-- group's id) and the daemon's, and exits
local DAEMON = {"sh", "-c", 'sleep 120 & echo $$ $! > "$1"; echo started', "sh", pidfile}
local steps = {
  stubborn = {name = "stubborn", timeout = 1, run = function(ctx)
    ctx:run(STUBBORN, {kill_grace = 0.5}) end},
  stubborn_term = {name = "stubborn", run = function(ctx)
    ctx:run(STUBBORN, {kill_grace = 0.5}) end},
  daemon = {name = "daemon", run = function(ctx)
    local r = ctx:run(DAEMON, {pipe_grace = 0.5})
    ctx.vars.pipes_cut = r.pipes_cut
    ctx.vars.group = r.pid
  end},
  daemon_term = {name = "daemon", run = function(ctx)
    ctx:run(DAEMON, {pipe_grace = 60, kill_grace = 0.5}) end},
}
return playbook.define{
  name = "faults",
  options = deploy.common_options,
  setup = function(ctx) deploy.setup(ctx); deploy.record_start(ctx) end,
  finish = deploy.finish,
  steps = {steps[os.getenv("FAULT_CASE")], {name = "after", run = function() end}},
}
]=]

local function with_playbook(dir)
  fs.write(dir .. "/faults.lua", PLAYBOOK)  -- (committed with the rest)
end

-- run the case; returns the handle's result, the child's pid (its group's
-- id), the run's id and the daemon's pid
local function run_case(dir, track, case, signal)
  local pidfile = dir .. "/child.pid"
  local h, before = F.start(dir, {"deploy", "--playbook", "faults.lua"},
    {FAULT_CASE = case, FAULT_PID = pidfile})
  track(h.pid)
  local rec = F.wait_record(dir, h, before, F.is("step_start"), "the step's start")
  local deadline = task.now() + 30
  while not (fs.exists(pidfile) and fs.read(pidfile):match("%d+\n")) and task.now() < deadline do
    task.sleep(0.01)
  end
  local child, daemon = fs.read(pidfile):match("^(%d+) ?(%d*)")
  child, daemon = T.truthy(tonumber(child), "the child wrote its pid"), tonumber(daemon)
  track(child)  -- its group and session: the child's own (setsid per command)
  if signal then h:kill(signal) end
  return h:wait(), child, rec.run, daemon
end

local function journal_end(dir, id)
  local runs = F.check_journals(dir, {})
  F.check_record(dir, runs)
  return F.run_end(runs[id].records), runs
end

T.test("a step's command ignores SIGTERM: the step timeout kills it after kill_grace, exit 1 naming the timeout", function()
  F.case(with_playbook, function(dir, track)
    local res, child, id = run_case(dir, track, "stubborn")
    T.eq(res.code, 1, res.stderr)
    T.match(res.stderr, "<== stubborn FAILED")
    T.match(res.stderr, "timed out after 1")
    T.falsy(proc.alive(child), "the child that ignored SIGTERM is gone")
    local e = journal_end(dir, id)
    T.eq(e.status, 1)
    T.eq(e.outcome, "failed")
    T.match(e.error or "", "timed out")
    T.eq(F.record(dir).runs[id].failed_step, "stubborn")
  end)
end, {timeout = 60})

T.test("SIGTERM to slipway while a child ignores it: exit 143, the child's group gone", function()
  F.case(with_playbook, function(dir, track)
    local res, child, id = run_case(dir, track, "stubborn_term", "TERM")
    T.eq(res.code, 143, res.stderr)
    T.match(res.stderr, "interrupted %(exit 143")
    T.falsy(proc.alive(child), "the child that ignored SIGTERM is gone")
    local e = journal_end(dir, id)
    T.eq(e.status, 143)
    T.eq(e.outcome, "interrupted")
    F.check_history(dir, F.check_journals(dir, {}), {[id] = "interrupted"})
  end)
end, {timeout = 60})

T.test("a daemon keeps stdout open: the run ends after pipe_grace with a warning, exit 0", function()
  F.case(with_playbook, function(dir, track)
    local res, group, id, daemon = run_case(dir, track, "daemon")
    T.eq(res.code, 0, res.stderr)
    T.match(res.stderr, "WARN .-kept its stdout and stderr open: closed after pipe_grace %(0%.5 s%) and left running %(process group " .. group .. "%)")
    local e, runs = journal_end(dir, id)
    T.eq(e.outcome, "success")
    local vars
    for _, x in ipairs(runs[id].records) do if x.type == "step_end" and x.step == "daemon" then vars = x.vars end end
    T.eq(vars.pipes_cut, {"stdout", "stderr"})
    T.eq(vars.group, group)
    -- left running on purpose (docs/proc.md); the documented way to stop it
    T.truthy(proc.alive(daemon), "the daemon runs on")
    proc.kill(-vars.group, "TERM")
    local deadline = task.now() + sync.SAFETY
    while proc.alive(daemon) and task.now() < deadline do task.sleep(0.02) end
    T.falsy(proc.alive(daemon), "the daemon's group was stopped")
  end)
end, {timeout = 60})

T.test("SIGTERM to slipway while it waits for a daemon's pipe: exit 143, the group gone", function()
  F.case(with_playbook, function(dir, track)
    local res, _, id, daemon = run_case(dir, track, "daemon_term", "TERM")
    T.eq(res.code, 143, res.stderr)
    T.falsy(proc.alive(daemon), "the daemon holding the pipe is gone")
    local e = journal_end(dir, id)
    T.eq(e.status, 143)
    T.eq(e.outcome, "interrupted")
  end)
end, {timeout = 60})

T.run()
