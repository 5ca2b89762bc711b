-- Fault matrix, two deploys racing (docs/testing.md, "The fault matrix"):
-- two real `slipway deploy` processes started together on one repository
-- (state: git, no remote: both write refs/slipway/state at once). The
-- deploy lock is held from stage through test, so exactly one deploys and
-- the other gets exit 5 -- or, with --lock-wait, both deploy one after the
-- other. Neither run is lost from the journals, the shared record or
-- history; no process is left.
local T = require "slipway.testing"
local D = require "deploytest"
local F = require "faulttest"

local ALL = {"staging", "prod", "prod-b"}

-- start two deploys at once; returns both handles and, once each has its
-- journal, the runs' ids (the run record is written before the lock is taken)
local function two(dir, track, args)
  local before = F.journal_set(dir)
  local a = F.start(dir, args)
  local b = F.start(dir, args)
  track(a.pid); track(b.pid)
  local ra = F.wait_record(dir, a, before, F.is("run"), "the first deploy's run record")
  local rb = F.wait_record(dir, b, before, F.is("run"), "the second deploy's run record")
  return a, b, ra.run, rb.run
end

-- the journal's records of a run, read once it ended
local function records_of(runs, id) return T.truthy(runs[id], "the journal of " .. id).records end

local function has(records, kind)
  for _, r in ipairs(records) do if r.type == kind then return r end end
end

T.test("two deploys at once: exactly one gets exit 5, both runs on record", function()
  -- the winner holds the lock through a slow test (launch takes 4 s)
  F.case(F.config("staging", "service:\n  launch_time: 4"), function(dir, track)
    local a, b, ida, idb = two(dir, track, {"deploy"})
    local resa, resb = a:wait(), b:wait()
    local codes = {resa.code, resb.code}
    table.sort(codes)
    T.eq(codes, {0, 5}, "one deploys, one is locked out\n" .. resa.stderr .. "\n----\n" .. resb.stderr)
    local win, lose = ida, idb
    local loser_res, winner_pid = resb, a.pid
    if resa.code == 5 then win, lose, loser_res, winner_pid = idb, ida, resa, b.pid end
    T.match(loser_res.stderr, "locked by pid " .. winner_pid)
    local runs = F.check_journals(dir, {})
    T.eq(F.run_end(records_of(runs, lose)).status, 5)
    T.eq(F.run_end(records_of(runs, lose)).outcome, "failed")
    T.falsy(has(records_of(runs, lose), "deployed"), "the locked-out run deployed nothing")
    T.eq(F.run_end(records_of(runs, win)).status, 0)
    local doc = F.check_record(dir, runs)
    T.eq(doc.runs[win].status, 0)
    T.eq(doc.runs[lose].status, 5)
    F.check_history(dir, runs, {[win] = "success", [lose] = "failed"})
    F.check_settled(dir, ALL)
    F.check_envs(dir, {staging = F.GOOD, prod = F.GOOD, ["prod-b"] = F.GOOD})
    F.only_current(dir, ALL)
    T.eq(D.current(dir, "staging").revision, 1, "staged once")
  end)
end, {timeout = 120})

T.test("two deploys at once with --lock-wait: both succeed, one after the other", function()
  F.case(F.config("staging", "service:\n  launch_time: 2"), function(dir, track)
    local a, b, ida, idb = two(dir, track, {"deploy", "--lock-wait", "90"})
    local resa, resb = a:wait(), b:wait()
    T.eq(resa.code, 0, resa.stderr)
    T.eq(resb.code, 0, resb.stderr)
    local runs = F.check_journals(dir, {})
    -- one after the other: the second took the lock (its `state` record)
    -- after the first had finished its test
    local function at(id, kind)
      local r = T.truthy(has(records_of(runs, id), kind), id .. ": " .. kind)
      return r.ts
    end
    local first, second = ida, idb
    if at(idb, "state") < at(ida, "state") then first, second = idb, ida end
    T.truthy(at(second, "state") >= at(first, "tested"), "the second staged after the first's test")
    local doc = F.check_record(dir, runs)
    T.eq(doc.runs[ida].status, 0)
    T.eq(doc.runs[idb].status, 0)
    F.check_history(dir, runs, {[ida] = "success", [idb] = "success"})
    F.check_settled(dir, ALL)
    T.eq(D.current(dir, "staging").revision, 2, "staged twice")
    T.eq(doc.envs.staging.deployed.run, second, "the record's staging is the second run's")
    F.check_envs(dir, {staging = F.GOOD, prod = F.GOOD, ["prod-b"] = F.GOOD})
    F.only_current(dir, ALL)
  end)
end, {timeout = 150})

T.run()
