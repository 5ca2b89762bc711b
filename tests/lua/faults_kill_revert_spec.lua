-- Fault matrix, kill -9 during the revert (docs/testing.md, "The fault
-- matrix"): a broken bump's `slipway deploy` killed with SIGKILL when its
-- revert starts (the journal's revert_start) and between `git revert
-- --no-commit` and the revert commit (the journal's record of that
-- command: the revert is staged, not committed), then finished by `slipway
-- deploy --resume` (exit 3) or a plain `slipway revert` (exit 0). Each case
-- checks the exit status, the journals, the shared record, history, what
-- runs where and that no process is left.
local T = require "slipway.testing"
local D = require "deploytest"
local F = require "faulttest"
local fs = require "slipway.fs"
local proc = require "slipway.proc"
local task = require "slipway.task"

local ALL = {"staging", "prod", "prod-b"}

-- The kill points. AT_START: the journal's revert_start. AT_STAGED: the
-- revert is staged (`git revert --no-commit` done) and its commit not made:
-- a prepare-commit-msg hook (git runs it under --no-verify too), armed for
-- one commit, holds `git commit` until the test has killed slipway, then
-- fails it -- what a kill between the two commands leaves, every time.
local HOOK = [[#!/bin/sh
[ -e .git/fault-armed ] || exit 0
rm -f .git/fault-armed
: > .git/fault-blocked
while [ ! -e .git/fault-release ]; do sleep 0.02; done
rm -f .git/fault-blocked
exit 1
]]

local AT_START = {arm = function() end, wait = function(dir, h, before)
  return F.wait_record(dir, h, before, F.is("revert_start"), "revert_start")
end, after = function() end}

local AT_STAGED = {
  arm = function(dir)
    fs.write(dir .. "/.git/hooks/prepare-commit-msg", HOOK)
    proc.run({"chmod", "+x", dir .. "/.git/hooks/prepare-commit-msg"}, {echo = false})
    fs.write(dir .. "/.git/fault-armed", "")
  end,
  wait = function(dir, h, before)
    local rec = F.wait_record(dir, h, before, function(r)
      return r.type == "cmd" and tostring(r.argv):find(" revert --no-edit --no-commit ", 1, true) ~= nil
    end, "git revert --no-commit")
    local deadline = task.now() + 30
    while not fs.exists(dir .. "/.git/fault-blocked") and task.now() < deadline do task.sleep(0.01) end
    T.truthy(fs.exists(dir .. "/.git/fault-blocked"), "git commit reached the hook")
    return rec
  end,
  after = function(dir, bad)
    fs.write(dir .. "/.git/fault-release", "")
    local deadline = task.now() + 30
    while (fs.exists(dir .. "/.git/fault-blocked") or fs.exists(dir .. "/.git/index.lock"))
      and task.now() < deadline do task.sleep(0.01) end
    T.eq(F.head(dir), bad, "no revert commit was made")
    T.match(D.git(dir, "status", "--porcelain", "--untracked-files=no").stdout, "^M  mybinder/Chart%.yaml",
      "the revert is staged")
  end,
}

-- staging's releases held per revision (D.hold_service): 1 (green) and 2
-- (the bump) go through, 3 (the revert's redeploy) is held until the kill
local function release(dir, ...) D.release_hold(dir, "staging", ...) end

-- a green deploy, a broken bump, its deploy killed -9 at `at`
local function killed_at_revert(dir, track, at)
  release(dir, 1, 2)
  local r = D.slipway(dir, {"deploy"})
  T.eq(r.code, 0, r.stderr)
  local good = F.head(dir)
  local bad = F.bump_broken(dir)
  at.arm(dir)
  local h, before = F.start(dir, {"deploy"})
  track(h.pid)
  local rec = at.wait(dir, h, before)
  F.kill9(h)
  release(dir, 3, 4, 5, 6)  -- (what finishes it redeploys)
  at.after(dir, bad)
  local runs = F.check_journals(dir, {rec.run})
  F.check_record(dir, runs)
  F.check_history(dir, runs, {[rec.run] = "abandoned"})
  return rec.run, good, bad
end

-- after the revert: staging back on the good versions at a revert commit of
-- bad, production untouched, the working tree clean
local function reverted(dir, good, bad, prod_before)
  T.eq(F.trim(D.git(dir, "rev-parse", "HEAD^").stdout), bad, "one revert commit on top of the bump")
  T.match(D.git(dir, "log", "-1", "--format=%B").stdout, "^Revert to " .. good:sub(1, 12))
  T.eq(D.git(dir, "status", "--porcelain", "--untracked-files=no").stdout, "", "a clean working tree")
  T.eq(D.current(dir, "staging").sha, F.head(dir), "staging runs the revert commit")
  T.eq(D.current(dir, "prod"), prod_before, "production untouched")
  F.check_settled(dir, {"staging"})
  F.check_envs(dir, {staging = F.GOOD, prod = F.GOOD, ["prod-b"] = F.GOOD})
  F.only_current(dir, ALL)
end

local HELD_STAGING = D.hold_service("staging", "health", true)

-- each kill point, finished by --resume of the killed run or by a plain revert
for _, point in ipairs{{AT_START, "at the start of the revert"},
                       {AT_STAGED, "after git revert, before its commit"}} do
  local at, what = point[1], point[2]

  T.test("kill -9 " .. what .. ", then deploy --resume: reverted (exit 3)", function()
    F.case(HELD_STAGING, function(dir, track)
      local killed, good, bad = killed_at_revert(dir, track, at)
      local prod_before = D.current(dir, "prod")
      local r = D.slipway(dir, {"deploy", "--resume"})
      T.eq(r.code, 3, "the resumed run reverts\n" .. r.stderr)
      T.match(r.stderr, "REVERTED")
      local runs = F.check_journals(dir, {killed})
      F.check_record(dir, runs)
      F.check_history(dir, runs, {[killed] = "abandoned"})
      reverted(dir, good, bad, prod_before)
      local doc = F.record(dir)
      T.eq(doc.envs.staging.good.sha, F.head(dir), "the record's good deploy is the revert commit")
    end)
  end, {timeout = 150})

  T.test("kill -9 " .. what .. ", then a plain slipway revert (exit 0)", function()
    F.case(HELD_STAGING, function(dir, track)
      local killed, good, bad = killed_at_revert(dir, track, at)
      local prod_before = D.current(dir, "prod")
      local r = D.slipway(dir, {"revert"})
      T.eq(r.code, 0, "revert\n" .. r.stderr)
      local runs = F.check_journals(dir, {killed})
      F.check_record(dir, runs)
      F.check_history(dir, runs, {[killed] = "abandoned"})
      reverted(dir, good, bad, prod_before)
      -- and the killed deploy is not resumed into a second revert afterwards
      r = D.slipway(dir, {"revert"})
      T.eq(r.code, 0, r.stderr)
      T.match(r.stderr, "nothing to revert")
      T.eq(F.trim(D.git(dir, "rev-parse", "HEAD^").stdout), bad)
    end)
  end, {timeout = 150})
end

T.run()
