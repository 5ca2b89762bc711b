-- CI runners that share nothing but the remote: a bare repository as the
-- remote, each runner a plain `git clone` (as CI checkouts are: no custom
-- refs fetched) with an empty HOME and no .slipway/, real git, real slipway
-- processes, the example deployment (state: git) with the local driver.
-- What one runner did, the next one sees through refs/slipway/state.
local T = require "slipway.testing"
local D = require "deploytest"
local fs = require "slipway.fs"
local proc = require "slipway.proc"
local json = require "slipway.json"

local GOOD = "1.0.0-0.dev.git.3503.ha8a2e19"
local BROKEN = "1.0.0-0.dev.git.3601.h0b4d0b4d"  -- listed in known-issues.yaml

local function trim(s) return (s:gsub("%s+$", "")) end

-- git with no identity from the environment: only what a runner has
local function git(dir, ...)
  local r = proc.run({"git", "-C", dir, ...}, {check = false, echo = false,
                     env = {HOME = dir .. "/../home", GIT_CONFIG_NOSYSTEM = "1"}})
  assert(r.code == 0, "git " .. table.concat({...}, " ") .. ": " .. r.stderr)
  return trim(r.stdout)
end

-- the remote: the example deployment with revert pushes on, pushed to a bare repository
local function remote(edit)
  local seed = D.repo(function(dir)
    local p = dir .. "/slipway.yaml"
    fs.write(p, (fs.read(p):gsub("push: false ", "push: true  ")))
    if edit then edit(dir) end
  end)
  local bare = fs.tempdir() .. "/remote.git"
  D.git(seed, "init", "-q", "--bare", "-b", "main", bare)
  D.git(seed, "push", "-q", bare, "main")
  return bare
end

-- a fresh runner: a plain clone, an empty HOME, the repository's identity
-- set the way a workflow does (`git config user.name ...`)
local function runner(bare)
  local base = fs.tempdir()
  fs.mkdir(base .. "/home")
  local dir = base .. "/work"
  local r = proc.run({"git", "clone", "-q", bare, dir}, {check = false, echo = false,
                     env = {HOME = base .. "/home", GIT_CONFIG_NOSYSTEM = "1"}})
  assert(r.code == 0, r.stderr)
  git(dir, "config", "user.name", "CI Bot")
  git(dir, "config", "user.email", "ci@example.org")
  T.eq(git(dir, "for-each-ref", "refs/slipway"), "", "a plain clone has no record refs")
  T.falsy(fs.exists(dir .. "/.slipway"), "no .slipway/ on a fresh runner")
  return dir, base .. "/home"
end

local function slipway(dir, home, args, env)
  local argv = {D.BIN}
  for _, a in ipairs(args) do argv[#argv + 1] = a end
  local e = {HOME = home, NO_COLOR = "1", GIT_CONFIG_NOSYSTEM = "1"}
  for k, v in pairs(env or {}) do e[k] = v end
  return proc.run(argv, {cwd = dir, check = false, env = e, timeout = 180, echo = false})
end

local function bump(dir, msg)
  local p = dir .. "/mybinder/Chart.yaml"
  fs.write(p, (fs.read(p):gsub(GOOD:gsub("%p", "%%%0"), BROKEN)))
  git(dir, "commit", "-q", "-am", msg or "Bump binderhub to 3601")
  return git(dir, "rev-parse", "HEAD")
end

local function with_runners(fn)
  local dirs = {}
  local ok, err = xpcall(fn, debug.traceback, function(d) dirs[#dirs + 1] = d end)
  for _, d in ipairs(dirs) do pcall(D.cleanup, d) end
  if not ok then error(err, 0) end
end

T.test("four runners: green, broken bump reverted on the remote, the promote gate, history", function()
  with_runners(function(track)
    local bare = remote()
    local W = {GITHUB_ACTIONS = "", GITHUB_SERVER_URL = "https://github.example", GITHUB_REPOSITORY = "o/r"}

    -- runner 1: deploys green
    local r1, h1 = runner(bare); track(r1)
    W.GITHUB_RUN_ID = "101"
    local r = slipway(r1, h1, {"deploy"}, W)
    T.eq(r.code, 0, "runner 1 deploys green\n" .. r.stderr)
    local good = git(r1, "rev-parse", "HEAD")
    T.truthy(git(bare, "rev-parse", "refs/slipway/state") ~= "", "the record is on the remote")

    -- runner 2: a broken bump, pushed to main as a merge would, then deployed
    local r2, h2 = runner(bare); track(r2)
    local bad = bump(r2)
    git(r2, "push", "-q", "origin", "main")
    W.GITHUB_RUN_ID = "102"
    r = slipway(r2, h2, {"deploy", "--junit", r2 .. "/../junit.xml"}, W)
    T.eq(r.code, 3, "runner 2: test failed, reverted\n" .. r.stderr)
    T.match(r.stdout, "launch%s+FAIL")
    T.nomatch(r.stderr, "no good deploy")
    -- the revert commit is on the remote's main, reverting to runner 1's commit
    local head2 = git(r2, "rev-parse", "HEAD")
    T.eq(git(bare, "rev-parse", "main"), head2, "the revert commit reached the remote")
    T.eq(git(bare, "rev-parse", "main^"), bad)
    local msg = git(bare, "log", "-1", "--format=%B", "main")
    T.match(msg, "^Revert to " .. good:sub(1, 12))
    -- author and committer: the repository's git identity
    T.eq(git(bare, "log", "-1", "--format=%an <%ae> / %cn <%ce>", "main"),
      "CI Bot <ci@example.org> / CI Bot <ci@example.org>")
    -- JUnit keeps the failing checks before the revert and the retest
    local xml = fs.read(r2 .. "/../junit.xml")
    T.match(xml, '<testsuite name="staging" tests="6" failures="[1-9]"')
    T.match(xml, '<testsuite name="staging %(retest after revert%)" tests="6" failures="0"')
    T.match(xml, 'name="launch"[^\n]*>\n%s*<failure')

    -- runner 3: refuses a commit staging never tested, promotes the one it did
    local r3, h3 = runner(bare); track(r3)
    T.eq(git(r3, "rev-parse", "HEAD"), head2)
    local p = r3 .. "/config/prod-b.yaml"
    fs.write(p, (fs.read(p):gsub("pod_quota: 50", "pod_quota: 60")))
    git(r3, "commit", "-q", "-am", "Raise prod-b quota (never tested)")
    W.GITHUB_RUN_ID = "103"
    r = slipway(r3, h3, {"promote"}, W)
    T.eq(r.code, 2, "untested commit refused\n" .. r.stderr)
    T.match(r.stderr, "staging passed test at commit " .. head2 .. ", but HEAD is %x+")
    r = slipway(r3, h3, {"promote", "--only", "prod"}, W)
    T.eq(r.code, 2, "--only refuses it too\n" .. r.stderr)
    T.falsy(D.current(r3, "prod"), "production untouched")
    git(r3, "reset", "-q", "--hard", "origin/main")
    r = slipway(r3, h3, {"promote", "--only", "nowhere"}, W)
    T.eq(r.code, 2)
    T.match(r.stderr, "promote %-%-only nowhere: not a member of stages%.production %(prod, prod%-b%)")
    r = slipway(r3, h3, {"promote", "--only", "prod"}, W)
    T.eq(r.code, 0, "the tested commit is promoted (one member)\n" .. r.stderr)
    T.truthy(D.current(r3, "prod"), "prod deployed")
    T.falsy(D.current(r3, "prod-b"), "prod-b is another job's")
    r = slipway(r3, h3, {"promote", "--only", "prod-b"}, W)
    T.eq(r.code, 0, r.stderr)
    T.truthy(D.current(r3, "prod-b"))

    -- runner 4: sees all of it
    local r4, h4 = runner(bare); track(r4)
    r = slipway(r4, h4, {"history"})
    T.eq(r.code, 0, r.stderr)
    local lines = {}
    for l in r.stdout:gmatch("[^\n]+") do lines[#lines + 1] = l end
    T.eq(#lines, 8, "a header, seven runs: deploy x2, promote x5 (three refused)\n" .. r.stdout)
    T.match(lines[1], "^RUN%s+COMMAND%s+OUTCOME%s+WHERE: WHAT$")
    T.match(lines[8], "deploy%s+success%s+staging")
    T.match(lines[7], "deploy%s+reverted @test%s+staging: binderhub [%d→]*3601 %(reverted to 3503%)$")
    for i = 4, 6 do T.match(lines[i], "promote.*failed @promote") end
    T.match(lines[3], "promote%s+success%s+prod: ")
    T.match(lines[2], "promote%s+success%s+prod%-b: ")
    local id2 = lines[7]:match("^(%S+)")
    r = slipway(r4, h4, {"history", id2})
    T.eq(r.code, 0, r.stderr)
    local out = r.stdout
    T.match(out, "outcome   reverted %(exit 3%), failed step test")
    T.match(out, "CI run    https://github%.example/o/r/actions/runs/102")
    T.match(out, "commit    " .. bad)
    T.match(out, "attempted binderhub=" .. BROKEN:gsub("%p", "%%%0"))
    T.match(out, "failed test binderhub=" .. BROKEN:gsub("%p", "%%%0"))
    T.match(out, "final     binderhub=" .. GOOD:gsub("%p", "%%%0"))
    T.match(out, "\n    stage%s+ok")
    T.match(out, "\n    test%s+FAILED")
    T.match(out, "\n    staging%s+launch%s+FAIL")
    T.match(out, "\n    staging%s+launch%s+ok%s+%S+ %S+%s+%(retest%)")
    T.match(out, "revert    revert commit " .. head2:sub(1, 12) .. " undoes " .. bad:sub(1, 12) .. ": the tree of " .. good:sub(1, 12))
    T.match(out, "why: staging: 1 of 6 checks failed: launch")
    T.match(out, "pushed to main")
    T.match(out, "by        %S+@%S+")
    T.match(out, "%(not on this machine%)")
    -- on runner 2, the same run shows its journal too
    r = slipway(r2, h2, {"history", id2})
    T.match(r.stdout, "from the local journal:")
    T.match(r.stdout, "%$ git %-C %S+ revert %-%-no%-edit %-%-no%-commit " .. bad)
    -- status on runner 4: the last run per environment, from the record
    r = slipway(r4, h4, {"status"})
    T.eq(r.code, 0, r.stderr)
    T.match(r.stdout, "staging%s+local%s+stopped.*last: " .. id2:gsub("%p", "%%%0") .. " deploy reverted")
  end)
end, {timeout = 300})

T.test("a protected branch refuses the revert: exit 6, the revert on slipway/revert-RUN, said in the job summary", function()
  with_runners(function(track)
    local bare = remote()
    fs.write(bare .. "/hooks/pre-receive", "#!/bin/sh\nwhile read old new ref; do\n" ..
      "  if [ \"$ref\" = refs/heads/main ]; then echo \"protected branch: $ref\" >&2; exit 1; fi\ndone\nexit 0\n")
    proc.run({"chmod", "+x", bare .. "/hooks/pre-receive"})
    local r1, h1 = runner(bare); track(r1)
    local r = slipway(r1, h1, {"deploy"})
    T.eq(r.code, 0, r.stderr)
    local bad = bump(r1)
    local summary = r1 .. "/../summary.md"
    r = slipway(r1, h1, {"deploy"}, {GITHUB_ACTIONS = "true", GITHUB_STEP_SUMMARY = summary})
    T.eq(r.code, 6, "reverted, but the branch refused it\n" .. r.stderr)
    local id = r.stderr:match("%(exit 6, run (%S+),")
    T.truthy(id, "the run id is printed")
    local side = "slipway/revert-" .. id
    T.match(r.stderr, "protected branch")
    T.match(r.stderr, "it is on branch " .. side:gsub("%p", "%%%0"))
    T.eq(git(bare, "rev-parse", "refs/heads/" .. side), git(r1, "rev-parse", "HEAD"), "the side branch holds the revert")
    T.eq(git(bare, "rev-parse", "main"), git(r1, "rev-parse", "HEAD~2"), "main refused the revert")
    T.eq(git(r1, "rev-parse", "HEAD~1"), bad)
    local md = fs.read(summary)
    T.match(md, "The revert commit is not on `origin/main`")
    T.match(md, "pushed to branch `" .. side:gsub("%p", "%%%0") .. "`")
    -- the record says so on any machine
    local r2, h2 = runner(bare); track(r2)
    r = slipway(r2, h2, {"history", id})
    T.match(r.stdout, "outcome   revert%-unpushed %(exit 6%)")
    T.match(r.stdout, "NOT on main: on branch " .. side:gsub("%p", "%%%0"))
  end)
end, {timeout = 240})

T.test("an SRE's runbook run on one machine is in the next machine's history: arguments, who confirmed, what changed", function()
  with_runners(function(track)
    local bare = remote(function(dir)
      fs.mkdir(dir .. "/runbooks")
      fs.write(dir .. "/runbooks/note.lua", D.NOTE_RUNBOOK)
    end)
    local r1, h1 = runner(bare); track(r1)
    local r = slipway(r1, h1, {"runbook", "note", "staging", "--text=drain b", "--yes"})
    T.eq(r.code, 0, r.stderr)
    -- a dry run is not recorded (it changed nothing)
    r = slipway(r1, h1, {"runbook", "note", "prod", "--dry-run"})
    T.eq(r.code, 0, r.stderr)
    local r2, h2 = runner(bare); track(r2)
    r = slipway(r2, h2, {"-q", "history"})
    T.eq(r.code, 0, r.stderr)
    local lines = {}
    for l in r.stdout:gmatch("[^\n]+") do lines[#lines + 1] = l end
    T.eq(#lines, 2, r.stdout)
    T.match(lines[2], "runbook%s+done%s+note staging '%-%-text=drain b'; yes by ")
    local id = lines[2]:match("^(%S+)")
    r = slipway(r2, h2, {"history", id})
    T.eq(r.code, 0, r.stderr)
    T.match(r.stdout, "changed\n    %- noted drain b for staging")
    T.match(r.stdout, "confirm Write the note for staging%?: yes, by %S+ %(%-%-yes%)")
    T.match(r.stdout, "%(not on this machine%)")
  end)
end, {timeout = 120})

T.run()
