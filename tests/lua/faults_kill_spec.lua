-- Fault matrix, kill -9 (docs/testing.md, "The fault matrix"): `slipway
-- deploy` killed with SIGKILL at each step of the standard playbook (the
-- kill point is the journal's step_start record of that step), then
-- finished by `slipway deploy --resume` (the revert: faults_kill_revert_spec). Each case checks the exit status, the journals,
-- the shared record (state: git), history, what runs where (status and the
-- services' own answers) and that no process is left. Real slipway
-- processes, real services on 127.0.0.1, real git.
local T = require "slipway.testing"
local D = require "deploytest"
local F = require "faulttest"
local task = require "slipway.task"

local ALL = {"staging", "prod", "prod-b"}

-- kill -9 a green deploy once the journal says `step` started, then resume.
-- The step cannot end before the kill: env's service is held (its health,
-- or a launch: D.hold_service) until the kill is done.
local function kill_at_step(step, env, what)
  F.case(D.hold_service(env, what), function(dir, track)
    local h, before = F.start(dir, {"deploy"})
    track(h.pid)
    local rec = F.wait_record(dir, h, before, F.step_start(step), "step_start " .. step)
    -- (held, the step is still there to kill however late the kill comes)
    task.sleep(0.5)
    F.kill9(h)
    D.release_hold(dir, env)
    local killed = rec.run
    -- the killed run: no end anywhere, abandoned in history (its pid is gone)
    local runs = F.check_journals(dir, {killed})
    F.check_record(dir, runs)
    F.check_history(dir, runs, {[killed] = "abandoned"})

    local r = D.slipway(dir, {"deploy", "--resume"})
    T.eq(r.code, 0, "the resumed deploy succeeds\n" .. r.stderr)
    T.match(r.stderr, "resuming run " .. killed:gsub("%p", "%%%0"))
    runs = F.check_journals(dir, {killed})
    local resumed
    for id, run in pairs(runs) do if id ~= killed then resumed = run end end
    local of
    for _, x in ipairs(resumed.records) do if x.type == "resume" then of = x.of end end
    T.eq(of, killed, "the new run names the one it resumes")
    T.eq(resumed.ended.outcome, "success")
    -- the steps the killed run finished are not run again
    local started = {}
    for _, x in ipairs(resumed.records) do
      if x.type == "step_start" then started[#started + 1] = x.step end
    end
    local want = ({stage = {"stage", "test", "promote"}, test = {"test", "promote"},
                   promote = {"promote"}})[step]
    T.eq(started, want, "steps run by the resume")
    F.check_record(dir, runs)
    F.check_history(dir, runs, {[killed] = "abandoned", [resumed.records[1].run] = "success"})
    F.check_settled(dir, ALL)
    F.check_envs(dir, {staging = F.GOOD, prod = F.GOOD, ["prod-b"] = F.GOOD})
    F.only_current(dir, ALL)
  end)
end

T.test("kill -9 during stage, then deploy --resume", function()
  kill_at_step("stage", "staging", "health")
end, {timeout = 120})

T.test("kill -9 during test, then deploy --resume", function()
  kill_at_step("test", "staging", "launch")
end, {timeout = 120})

T.test("kill -9 during promote, then deploy --resume", function()
  kill_at_step("promote", "prod", "health")
end, {timeout = 120})

T.run()
