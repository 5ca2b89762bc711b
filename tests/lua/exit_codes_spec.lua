-- Every exit status of slipway.exit on a real run of the example deployment
-- (local driver: real slipway processes, real services on 127.0.0.1, real
-- git): 0, 1 (a failed test under --no-revert, through the standard playbook
-- and through a playbook of one's own built on deploy.steps()), 2, 3, 4, 5,
-- 130 and 143. (6 and 7 belong to the revert-push and bump --exit-code work.)
local T = require "slipway.testing"
local D = require "deploytest"
local fs = require "slipway.fs"
local task = require "slipway.task"
local exit = require "slipway.exit"

local GOOD = "1.0.0-0.dev.git.3503.ha8a2e19"
local BROKEN = "1.0.0-0.dev.git.3601.h0b4d0b4d"  -- listed in known-issues.yaml

local function head(dir) return (D.git(dir, "rev-parse", "HEAD").stdout:gsub("%s+$", "")) end

local function run_end(dir, cmd)
  for _, r in ipairs(D.last_run(dir, cmd) or {}) do if r.type == "run_end" then return r end end
end

-- a playbook of the operator's own, built on the library's steps
local OWN = [[
local playbook = require "slipway.playbook"
local deploy = require "slipway.deploy"
return playbook.define{name = "own", setup = deploy.setup, steps = deploy.steps()}
]]

-- a failed test under --no-revert: exit 1, no revert commit, the broken
-- version left on staging, not reported as a failed revert
local function no_revert(dir, args, what)
  local before = head(dir)
  local r = D.slipway(dir, args)
  T.eq(r.code, exit.failed, what .. ": --no-revert\n" .. r.stderr)
  T.nomatch(r.stderr, "REVERT FAILED")
  T.match(r.stderr, "not reverted %(%-%-no%-revert%)")
  T.eq(head(dir), before, what .. ": no revert commit")
  local e = T.truthy(run_end(dir, "deploy"), what .. ": run_end")
  T.eq(e.status, exit.failed); T.eq(e.outcome, "failed")
end

T.test("0, 1 (--no-revert, both ways), 2 and 3 on one repository", function()
  D.with_repo(nil, function(dir)
    -- 2: bad input -- promote refuses what never passed test on staging
    local r = D.slipway(dir, {"promote"})
    T.eq(r.code, exit.usage, r.stderr)
    -- 0: a green deploy
    r = D.slipway(dir, {"deploy"})
    T.eq(r.code, exit.ok, r.stderr)
    -- 1: a broken bump under --no-revert, the standard playbook ...
    D.commit_edit(dir, "mybinder/Chart.yaml", GOOD, BROKEN, "Bump binderhub to 3601")
    no_revert(dir, {"deploy", "--no-revert"}, "standard playbook")
    -- ... and a playbook of one's own made of deploy.steps()
    fs.write(dir .. "/own.lua", OWN)
    no_revert(dir, {"deploy", "--playbook", dir .. "/own.lua", "--no-revert"}, "deploy.steps()")
    -- 3: the same without --no-revert: reverted, production untouched
    local prod = D.current(dir, "prod")
    r = D.slipway(dir, {"deploy"})
    T.eq(r.code, exit.reverted, r.stderr)
    T.match(D.git(dir, "log", "-1", "--format=%s").stdout, "^Revert to ")
    T.eq(D.current(dir, "prod"), prod)
  end)
end, {timeout = 180})

T.test("4: the revert fails", function()
  D.with_repo(function(dir)
    -- the first deploy is broken: no good deploy to go back to
    local p = dir .. "/mybinder/Chart.yaml"
    fs.write(p, (fs.read(p):gsub(GOOD:gsub("%p", "%%%0"), BROKEN)))
  end, function(dir)
    local r = D.slipway(dir, {"deploy"})
    T.eq(r.code, exit.revert_failed, r.stderr)
    T.match(r.stderr, "REVERT FAILED")
  end)
end, {timeout = 90})

T.test("5 while another run holds the lock; 143 on SIGTERM, 130 on SIGINT", function()
  -- staging's rollout is held (never healthy) until the deploy is killed
  D.with_repo(D.hold_service("staging"), function(dir)
    local function started()
      local h = D.spawn(dir, {"deploy"})
      local deadline = task.now() + 20
      while #D.service_pids(dir) == 0 and task.now() < deadline do task.sleep(0.02) end
      T.truthy(#D.service_pids(dir) > 0, "the deploy started staging's service")
      return h
    end
    local h = started()
    local r = D.slipway(dir, {"deploy"})
    T.eq(r.code, exit.locked, r.stderr)
    h:kill("TERM")
    T.eq(h:wait().code, exit.terminated)
    h = started()
    h:kill("INT")
    T.eq(h:wait().code, exit.interrupted)
    T.eq(run_end(dir, "deploy").outcome, "interrupted")
  end)
end, {timeout = 90})

T.run()
