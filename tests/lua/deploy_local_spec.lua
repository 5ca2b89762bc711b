-- The whole flow on the local driver, against the example deployment (as
-- compiled into the binary) in a temporary git repository: real slipway
-- processes, real services on 127.0.0.1, real git.
local T = require "slipway.testing"
local D = require "deploytest"
local fs = require "slipway.fs"
local json = require "slipway.json"
local http = require "slipway.http"
local task = require "slipway.task"

local GOOD = "1.0.0-0.dev.git.3503.ha8a2e19"
local BROKEN = "1.0.0-0.dev.git.3601.h0b4d0b4d"  -- listed in known-issues.yaml

local function versions_of(url)
  return json.decode(http.get(url .. "/versions", {timeout = 5}).body)
end

local function outcome(records)
  for _, r in ipairs(records) do if r.type == "run_end" then return r end end
end

T.test("green deploy, then a broken bump fails test and is reverted", function()
  D.with_repo(nil, function(dir)
    local r = D.slipway(dir, {"deploy", "--junit", dir .. "/.slipway/junit.xml"})
    T.eq(r.code, 0, "green deploy exit status\n" .. r.stderr)
    T.match(r.stdout, "launch%s+ok")
    for _, env in ipairs{"staging", "prod", "prod-b"} do
      local cur = T.truthy(D.current(dir, env), env .. " is deployed")
      T.eq(versions_of(cur.url).binderhub, GOOD)
    end
    T.match(fs.read(dir .. "/.slipway/junit.xml"), '<testsuite name="staging" tests="6" failures="0"')
    local prod_before = D.current(dir, "prod")

    D.commit_edit(dir, "mybinder/Chart.yaml", GOOD, BROKEN, "Bump binderhub to 3601")
    local bump_sha = D.git(dir, "rev-parse", "HEAD").stdout:gsub("%s+$", "")
    r = D.slipway(dir, {"deploy"})
    T.eq(r.code, 3, "test failed and reverted\n" .. r.stderr)
    T.match(r.stdout, "launch%s+FAIL")
    T.match(r.stderr, "REVERTED")
    -- the revert commit is there and undoes the bump
    local log = D.git(dir, "log", "--format=%s", "-3").stdout
    T.match(log, "^Revert to ")
    T.match(log, "Bump binderhub to 3601")
    T.match(D.git(dir, "show", "-s", "--format=%B", "HEAD").stdout, bump_sha:sub(1, 12))
    T.match(fs.read(dir .. "/mybinder/Chart.yaml"), GOOD:gsub("%p", "%%%0"))
    T.eq(D.git(dir, "status", "--porcelain", "--untracked-files=no").stdout, "")
    -- staging runs the good version again; production was not touched
    local st = D.current(dir, "staging")
    T.eq(versions_of(st.url).binderhub, GOOD)
    T.eq(D.current(dir, "prod"), prod_before)
    T.eq(versions_of(prod_before.url).binderhub, GOOD)
    -- the journal: valid JSON lines for both runs (no torn line), outcomes recorded
    T.truthy(#D.journals(dir) >= 2)
    local recs = D.last_run(dir, "deploy")
    T.eq(outcome(recs).outcome, "reverted")
    T.eq(outcome(recs).status, 3)
    local kinds = {}
    for _, x in ipairs(recs) do kinds[x.type] = (kinds[x.type] or 0) + 1 end
    T.truthy(kinds.check and kinds.check >= 12, "each check journalled")
    T.truthy(kinds.revert == 1, "one revert record")
    -- history and status read it back
    local h = D.slipway(dir, {"history"})
    T.eq(h.code, 0)
    T.match(h.stdout, "deploy%s+reverted @test%s+staging: binderhub 3503→3601 %(reverted to 3503%)\n")
    T.match(h.stdout, "success")
    local s = D.slipway(dir, {"status"})
    T.match(s.stdout, "staging%s+local%s+running")
    -- promote now refuses: HEAD (the revert) has not passed test... it has,
    -- in the revert; so promote goes through with the good versions
    local p = D.slipway(dir, {"promote"})
    T.eq(p.code, 0, "promote of the tested revert\n" .. p.stderr)
  end)
end, {timeout = 120})

T.test("slipway revert by hand: back to the last good deploy, pushed when configured", function()
  D.with_repo(function(dir)
    local p = dir .. "/slipway.yaml"
    fs.write(p, (fs.read(p):gsub("push: false ", "push: true  ")))
  end, function(dir)
    local bare = fs.tempdir()
    D.git(bare, "init", "-q", "--bare")
    D.git(dir, "remote", "add", "origin", bare)
    local r = D.slipway(dir, {"deploy"})
    T.eq(r.code, 0, r.stderr)
    local good = D.git(dir, "rev-parse", "HEAD").stdout:gsub("%s+$", "")
    D.commit_edit(dir, "config/staging.yaml", "pod_quota: 20", "pod_quota: 25", "Raise staging quota")
    D.commit_edit(dir, "config/staging.yaml", "pod_quota: 25", "pod_quota: 30", "Raise it again")
    T.eq(D.slipway(dir, {"stage", "staging"}).code, 0)
    r = D.slipway(dir, {"revert", "--reason", "quota too high"})
    T.eq(r.code, 0, r.stderr)
    T.match(fs.read(dir .. "/config/staging.yaml"), "pod_quota: 20")
    local msg = D.git(dir, "show", "-s", "--format=%B", "HEAD").stdout
    T.match(msg, "^Revert to " .. good:sub(1, 12))
    T.match(msg, "quota too high")
    T.match(msg, "Raise staging quota"); T.match(msg, "Raise it again")
    -- pushed: the remote has the revert commit
    local head = D.git(dir, "rev-parse", "HEAD").stdout
    T.eq(D.git(bare, "rev-parse", "main").stdout, head)
    -- staging runs the reverted commit
    T.eq(D.current(dir, "staging").sha, (head:gsub("%s+$", "")))
    T.match(r.stderr, "REVERTED by hand")
    -- asked again: nothing to revert is not a failure, and changes nothing
    r = D.slipway(dir, {"revert"})
    T.eq(r.code, 0, r.stderr)
    T.match(r.stderr, "nothing to revert")
    T.nomatch(r.stderr, "REVERT FAILED")
    T.eq(D.git(dir, "rev-parse", "HEAD").stdout, head)
    -- --to a commit that is not an ancestor fails loudly
    r = D.slipway(dir, {"revert", "--to", "0000000"})
    T.eq(r.code, 2)
    T.match(r.stderr, "neither a run nor a commit")
  end)
end, {timeout = 60})

T.test("promote refuses what did not pass test on staging", function()
  D.with_repo(nil, function(dir)
    local r = D.slipway(dir, {"promote"})
    T.eq(r.code, 2)
    T.match(r.stderr, "nothing has been tested on staging")
    local r1 = D.slipway(dir, {"stage", "staging"})
    T.eq(r1.code, 0, r1.stderr)
    r1 = D.slipway(dir, {"test", "staging"})
    T.eq(r1.code, 0, r1.stdout .. r1.stderr)
    D.commit_edit(dir, "config/prod-b.yaml", "pod_quota: 50", "pod_quota: 60", "Raise quota")
    r = D.slipway(dir, {"promote"})
    T.eq(r.code, 2)
    T.match(r.stderr, "passed test at commit %x+, but HEAD is %x+")
    T.falsy(D.current(dir, "prod"), "production untouched")
  end)
end, {timeout = 60})

T.test("kill -9 in the middle of stage, then --resume", function()
  -- a held rollout: the service answers /health only once the spec lets it
  D.with_repo(D.hold_service("staging"), function(dir)
    local h = D.spawn(dir, {"stage", "staging"})
    local deadline = task.now() + 20
    local pidfile = dir .. "/.slipway/envs/staging/releases/000001/pid"
    while not fs.exists(pidfile) and task.now() < deadline do task.sleep(0.02) end
    T.truthy(fs.exists(pidfile), "the stage started a service")
    -- (not a sleep: the journal has the start; stage waits for health)
    local started = false
    while not started and task.now() < deadline do
      for _, x in ipairs(D.last_run(dir, "stage") or {}) do
        if x.type == "driver" and x.action == "started" then started = true end
      end
      if not started then task.sleep(0.02) end
    end
    T.truthy(started, "the start is journalled")
    h:kill("KILL")
    local res = h:wait()
    T.eq(res.signal, 9)
    D.release_hold(dir, "staging")  -- (for the resume)
    -- the killed run's journal is valid JSON lines and has no end
    D.journals(dir)
    local recs = D.last_run(dir, "stage")
    T.falsy(outcome(recs), "no run_end after kill -9")
    T.truthy(#recs >= 2)
    local hist = D.slipway(dir, {"history"}).stdout
    T.match(hist, " stage%s+abandoned")
    local one = D.slipway(dir, {"history", hist:match("\n(%S+) stage")}).stdout
    T.match(one, "outcome   abandoned %(pid %d+ is gone%)")
    -- the orphaned service of the killed run is still there
    T.eq(#D.service_pids(dir), 1)
    local r = D.slipway(dir, {"stage", "staging", "--resume"})
    T.eq(r.code, 0, "resume\n" .. r.stderr)
    T.match(r.stderr, "resuming run")
    local cur = T.truthy(D.current(dir, "staging"))
    T.eq(cur.revision, 2)
    T.eq(versions_of(cur.url).binderhub, GOOD)
    T.eq(D.service_pids(dir), {cur.pid}, "the leftover was stopped")
    local recs2 = D.last_run(dir, "stage")
    local resumed
    for _, x in ipairs(recs2) do if x.type == "resume" then resumed = x.of end end
    T.eq(resumed, recs[1].run)
    -- a run that succeeded cannot be resumed; a moved HEAD refuses
    T.eq(D.slipway(dir, {"stage", "staging", "--resume"}).code, 2)
  end)
end, {timeout = 90})

T.test("SIGTERM in the middle of stage: journal ends 'interrupted', nothing half-started", function()
  D.with_repo(D.hold_service("staging"), function(dir)
    local h = D.spawn(dir, {"deploy"})
    local pidfile = dir .. "/.slipway/envs/staging/releases/000001/pid"
    local deadline = task.now() + 20
    while not fs.exists(pidfile) and task.now() < deadline do task.sleep(0.02) end
    -- at once: wherever the wait for health is (ready file, health polls),
    -- the half-started version is stopped (a sleep here made it pass only
    -- when the service was quick to listen, which a loaded machine is not)
    h:kill("TERM")
    local res = h:wait()
    T.eq(res.code, 143)
    local e = T.truthy(outcome(D.last_run(dir, "deploy")), "run_end written")
    T.eq(e.outcome, "interrupted")
    -- journal, printed outcome and exit status agree (it once said 130)
    T.eq(e.status, 143)
    T.match(res.stderr, "interrupted %(exit 143")
    T.eq(#D.service_pids(dir), 0, "the half-started version was stopped")
    T.falsy(D.current(dir, "staging"))
  end)
end, {timeout = 60})

T.test("resume refuses when the repository moved", function()
  D.with_repo(D.hold_service("staging"), function(dir)
    local h = D.spawn(dir, {"stage", "staging"})
    local pidfile = dir .. "/.slipway/envs/staging/releases/000001/pid"
    local deadline = task.now() + 20
    while not fs.exists(pidfile) and task.now() < deadline do task.sleep(0.02) end
    h:kill("KILL"); h:wait()
    D.commit_edit(dir, "config/prod-b.yaml", "pod_quota: 50", "pod_quota: 70", "Raise quota")
    local r = D.slipway(dir, {"stage", "staging", "--resume"})
    T.eq(r.code, 2)
    T.match(r.stderr, "refusing to mix them")
  end)
end, {timeout = 60})

-- the first deploy is held in its test step by a check that waits for the
-- spec (D.held), not by a slow service: a loaded machine outran a 1.5 s
-- startup before the second deploy reached the lock
T.test("two deploys at once: the second reports the lock and its holder", function()
  local hold = fs.tempdir() .. "/hold"
  fs.write(hold, "held\n")
  D.with_repo(D.held(hold), function(dir)
    local h = D.spawn(dir, {"deploy"})
    local ok, err = pcall(function()
      T.truthy(D.wait_file(hold .. ".reached"), "the first deploy reached its held check")
      local r = D.slipway(dir, {"deploy"})
      T.eq(r.code, 5, "lock busy\n" .. r.stderr)
      T.match(r.stderr, "locked by pid " .. h.pid)
      T.match(r.stderr, "slipway deploy staging")
    end)
    fs.remove(hold, {missing_ok = true})  -- the first deploy goes on
    local first = h:wait()
    if not ok then error(err, 0) end
    T.eq(first.code, 0)
    -- the refused run is journalled as such
    local recs = D.last_run(dir, "deploy")
    T.truthy(outcome(recs))
  end)
end, {timeout = 60})

T.test("--dry-run changes nothing and shows the plan with diffs", function()
  D.with_repo(nil, function(dir)
    local r0 = D.slipway(dir, {"deploy"})
    T.eq(r0.code, 0, r0.stdout .. r0.stderr)
    D.commit_edit(dir, "mybinder/Chart.yaml", GOOD, BROKEN, "Bump binderhub to 3601")
    local pids = D.service_pids(dir)
    local before = D.snapshot(dir)
    local r = D.slipway(dir, {"deploy", "--dry-run"})
    T.eq(r.code, 0, "dry run\n" .. r.stderr)
    T.eq(D.snapshot(dir), before, "repository and state directory unchanged")
    T.eq(D.service_pids(dir), pids, "no process started or stopped")
    T.match(r.stdout, "Plan %(dry run, nothing was changed%)")
    T.match(r.stdout, "start staging revision 2")
    T.match(r.stdout, "%-%-%- a/%[staging%] release")
    T.match(r.stdout, '\n%-%s+"version": "1%.0%.0%-0%.dev%.git%.3503%.ha8a2e19"')
    T.match(r.stdout, '\n%+%s+"version": "1%.0%.0%-0%.dev%.git%.3601%.h0b4d0b4d"')
    T.match(r.stdout, "promote requires a passed test on staging")
    -- a revert in a dry run is planned, not made
    local rv = D.slipway(dir, {"revert", "--dry-run"})
    T.eq(rv.code, 0, rv.stderr)
    T.match(rv.stdout, "run git %-C %S+ revert")
    T.eq(D.snapshot(dir), before)
  end)
end, {timeout = 90})

T.test("a revert that cannot restore staging is the loudest outcome", function()
  local server = require "slipway.server"
  local got = {}
  local srv = server.serve{host = "127.0.0.1", port = 0, handler = function(req)
    got[#got + 1] = json.decode(req.body)
    return {status = 200, body = "ok"}
  end}
  D.with_repo(function(dir)
    -- the very first deploy is broken: there is no good deploy to go back to
    local p = dir .. "/mybinder/Chart.yaml"
    fs.write(p, (fs.read(p):gsub(GOOD:gsub("%p", "%%%0"), BROKEN)))
    p = dir .. "/slipway.yaml"
    fs.write(p, fs.read(p) .. "\nnotify:\n  - {type: webhook, url_env: SLIPWAY_TEST_HOOK}\n")
  end, function(dir)
    local r = D.slipway(dir, {"deploy"}, {env = {SLIPWAY_TEST_HOOK = srv:url() .. "/hook"}})
    T.eq(r.code, 4, "revert failed\n" .. r.stderr)
    T.match(r.stderr, "REVERT FAILED")
    T.match(r.stderr, "no good deploy of staging on record")
    local recs = D.last_run(dir, "deploy")
    local rf
    for _, x in ipairs(recs) do if x.type == "revert_failed" then rf = x end end
    T.truthy(rf, "journal entry for the failed revert")
    T.eq(outcome(recs).outcome, "revert-failed")
    T.eq(#got, 1, "one notification")
    T.eq(got[1].outcome, "revert-failed")
    T.falsy(D.current(dir, "prod"), "production untouched")
  end)
  srv:close()
end, {timeout = 60})

T.test("an experimental member failing does not fail the promotion", function()
  D.with_repo(function(dir)
    -- prod-b runs another builder than the repository's: version skew
    local p = dir .. "/config/prod-b.yaml"
    fs.write(p, fs.read(p) .. "    KubernetesBuildExecutor:\n" ..
      "      build_image: quay.io/jupyterhub/repo2docker:2025.1.0\n")
  end, function(dir)
    local r = D.slipway(dir, {"deploy"})
    T.eq(r.code, 0, r.stderr)
    T.match(r.stdout, "prod%-b%s+versions%s+FAIL")
    T.match(r.stderr, "prod%-b %(experimental%) failed")
    local recs = D.last_run(dir, "deploy")
    local promoted = {}
    for _, x in ipairs(recs) do if x.type == "promoted" then promoted[x.env] = x.ok end end
    T.eq(promoted, {prod = true, ["prod-b"] = false})
  end)
end, {timeout = 60})

T.test("bad input: clear errors naming the file and key, exit 2", function()
  D.with_repo(function(dir)
    local p = dir .. "/slipway.yaml"
    fs.write(p, (fs.read(p):gsub("production: %[prod, prod%-b%]", "production: [prod, nowhere]")))
  end, function(dir)
    local r = D.slipway(dir, {"deploy"})
    T.eq(r.code, 2)
    T.match(r.stderr, "slipway%.yaml:%d+:%d+: stages%.production%[1%]: 'nowhere' is not an environment")
    r = D.slipway(dir, {"stage", "qa"})
    T.eq(r.code, 2)
  end)
  local fx = os.getenv("SLIPWAY_SRC") .. "/tests/fixtures/deploy"
  for _, case in ipairs{
    {"bad-check.yaml", "environments.staging.checks%[0%]: needs exactly one of get, launch, lua"},
    {"bad-key.yaml", "environments.staging.valuse: unknown key"},
    {"bad-url.yaml", "environments.staging.url: must be an http%(s%) URL"},
  } do
    local dir = fs.tempdir()
    fs.write(dir .. "/slipway.yaml", fs.read(fx .. "/" .. case[1]))
    local r = D.slipway(dir, {"status"})
    T.eq(r.code, 2, case[1])
    T.match(r.stderr, case[2], case[1])
  end
end, {timeout = 60})

T.run()
