-- The revert, finished, and the lock held through the run: real slipway
-- processes, real git, the example deployment on the local driver.
local T = require "slipway.testing"
local D = require "deploytest"
local fs = require "slipway.fs"
local proc = require "slipway.proc"
local task = require "slipway.task"
local json = require "slipway.json"
local http = require "slipway.http"

local GOOD = "1.0.0-0.dev.git.3503.ha8a2e19"
local BROKEN = "1.0.0-0.dev.git.3601.h0b4d0b4d"  -- listed in known-issues.yaml

local function trim(s) return (s:gsub("%s+$", "")) end
local function head(dir) return trim(D.git(dir, "rev-parse", "HEAD").stdout) end
local function versions_of(url) return json.decode(http.get(url .. "/versions", {timeout = 5}).body) end

-- staging's releases held per revision (D.hold_service): 1 (green) and 2
-- (the bump) go through, 3 (the revert's redeploy) is held until the kill
local HELD = D.hold_service("staging", "health", true)
local function release(dir, ...) D.release_hold(dir, "staging", ...) end

-- the journal of the newest deploy run holds a record of type `kind`
local function journal_has(dir, kind)
  local recs = D.last_run(dir, "deploy")
  for _, r in ipairs(recs or {}) do if r.type == kind then return true end end
  return false
end

-- a deploy of a broken bump killed with kill -9 after its revert commit,
-- during the redeploy of staging
local function killed_during_revert(dir)
  release(dir, 1, 2)
  local first = D.slipway(dir, {"deploy"})
  T.eq(first.code, 0, "the green deploy\n" .. first.stderr)
  local good = head(dir)
  D.commit_edit(dir, "mybinder/Chart.yaml", GOOD, BROKEN, "Bump binderhub to 3601")
  local bad = head(dir)
  local h = D.spawn(dir, {"deploy"})
  local deadline = task.now() + 60
  -- revision 3 is the redeploy of the revert (1: green, 2: the bump)
  local pidfile = dir .. "/.slipway/envs/staging/releases/000003/pid"
  while not (journal_has(dir, "revert") and fs.exists(pidfile)) and task.now() < deadline do
    task.sleep(0.05)
  end
  T.truthy(fs.exists(pidfile), "the revert's redeploy started")
  h:kill("KILL")
  T.eq(h:wait().signal, 9)
  release(dir, 3, 4, 5, 6)  -- (what finishes it redeploys)
  T.truthy(head(dir) ~= bad, "the revert commit was made")
  T.eq(trim(D.git(dir, "rev-parse", "HEAD^").stdout), bad)
  return good, bad
end

T.test("a run killed during its revert is finished by --resume", function()
  D.with_repo(HELD, function(dir)
    local good = killed_during_revert(dir)
    local rc = head(dir)
    local r = D.slipway(dir, {"deploy", "--resume"})
    T.eq(r.code, 3, "the resumed run finishes the revert\n" .. r.stderr)
    T.nomatch(r.stderr, "refusing to mix them")
    T.match(r.stderr, "stopped during its revert")
    T.match(r.stderr, "REVERTED")
    T.eq(head(dir), rc, "no second revert commit")
    local cur = D.current(dir, "staging")
    T.eq(cur.sha, rc)
    T.eq(versions_of(cur.url).binderhub, GOOD)
    T.match(fs.read(dir .. "/mybinder/Chart.yaml"), GOOD:gsub("%p", "%%%0"))
    T.eq(D.git(dir, "status", "--porcelain", "--untracked-files=no").stdout, "")
    T.truthy(good)
  end)
end, {timeout = 150})

T.test("a run killed during its revert is finished by a plain `slipway revert`", function()
  D.with_repo(HELD, function(dir)
    killed_during_revert(dir)
    local rc = head(dir)
    local r = D.slipway(dir, {"revert"})
    T.eq(r.code, 0, "revert finishes it\n" .. r.stderr)
    T.nomatch(r.stderr, "nothing to commit")
    T.match(r.stderr, "finishing the revert of run")
    T.eq(head(dir), rc, "no second revert commit")
    T.eq(D.current(dir, "staging").sha, rc)
    -- asked again: nothing left to do
    r = D.slipway(dir, {"revert"})
    T.eq(r.code, 0, r.stderr)
    T.match(r.stderr, "nothing to revert")
  end)
end, {timeout = 150})

T.test("a revert failing half way leaves a clean working tree and says how to go on", function()
  D.with_repo(function(dir)
    -- poison.txt goes through a smudge filter that refuses the word POISON:
    -- reverting the commit that removed it fails while writing the tree
    fs.write(dir .. "/poison.txt", "POISON\n")
    fs.write(dir .. "/.gitattributes", "poison.txt filter=poison\n")
  end, function(dir)
    D.git(dir, "config", "filter.poison.clean", "cat")
    D.git(dir, "config", "filter.poison.smudge",
      "sh -c 't=$(mktemp); cat >\"$t\"; if grep -q POISON \"$t\"; then rm -f \"$t\"; exit 1; fi; cat \"$t\"; rm -f \"$t\"'")
    D.git(dir, "config", "filter.poison.required", "true")
    T.eq(D.slipway(dir, {"deploy"}).code, 0)
    fs.write(dir .. "/poison.txt", "fine\n")
    D.git(dir, "commit", "-q", "-am", "Remove the poison")
    D.commit_edit(dir, "mybinder/Chart.yaml", GOOD, BROKEN, "Bump binderhub to 3601")
    local bad = head(dir)
    local r = D.slipway(dir, {"deploy"})
    T.eq(r.code, 4, "the revert failed\n" .. r.stderr)
    T.match(r.stderr, "git revert %x+ failed")
    T.match(r.stderr, "The working tree is clean again at HEAD " .. bad:sub(1, 12))
    T.match(r.stderr, "What to do: revert by hand")
    T.eq(head(dir), bad, "nothing committed")
    T.eq(D.git(dir, "status", "--porcelain", "--untracked-files=no").stdout, "", "clean tree")
    T.falsy(fs.exists(dir .. "/.git/REVERT_HEAD"), "no revert in progress")
  end)
end, {timeout = 120})

T.test("an unreadable shared record is a clear error naming the store, never 'no good deploy'", function()
  D.with_repo(nil, function(dir)
    T.eq(D.slipway(dir, {"deploy"}).code, 0)
    -- a newer slipway wrote the record: format.json says format 99
    local blob = trim(proc.run({"git", "-C", dir, "hash-object", "-w", "--stdin"},
      {stdin = {data = '{"format": 99}\n'}, echo = false}).stdout)
    local tree = D.git(dir, "ls-tree", "refs/slipway/state").stdout
      :gsub("(%d+ blob )%x+(\tformat%.json)", "%1" .. blob .. "%2")
    local newtree = trim(proc.run({"git", "-C", dir, "mktree"}, {stdin = {data = tree}, echo = false}).stdout)
    local commit = trim(D.git(dir, "commit-tree", newtree, "-p", "refs/slipway/state", "-m", "newer").stdout)
    D.git(dir, "update-ref", "refs/slipway/state", commit)
    D.commit_edit(dir, "mybinder/Chart.yaml", GOOD, BROKEN, "Bump binderhub to 3601")
    local before = head(dir)
    for _, args in ipairs{{"deploy"}, {"promote"}, {"revert"}, {"history"}} do
      local r = D.slipway(dir, args)
      T.eq(r.code, 1, args[1] .. "\n" .. r.stderr)
      T.match(r.stderr, "state %(git: [^\n]*format%.json%): the record was written by a newer slipway", args[1])
      T.match(r.stderr, "What to do: upgrade slipway", args[1])
      T.nomatch(r.stderr, "no good deploy", args[1])
    end
    T.eq(head(dir), before, "nothing reverted")
    T.eq(D.current(dir, "staging").revision, 1, "nothing staged")
  end)
end, {timeout = 120})

-- the first deploy is held in its test step by a check that waits for the
-- spec (D.held): it used to be held by a 6 s launch, which a loaded machine
-- outran before the second deploy reached the lock (exit 0, not 5)
T.test("the deploy lock is held through test: a second deploy during ==> test gets exit 5", function()
  local hold = fs.tempdir() .. "/hold"
  fs.write(hold, "held\n")
  D.with_repo(D.held(hold), function(dir)
    local argv = {D.BIN, "deploy"}
    local h = proc.spawn(argv, {cwd = dir, stdin = "null", stdout = "discard", stderr = "capture",
                                env = {NO_COLOR = "1", GIT_AUTHOR_NAME = "T", GIT_AUTHOR_EMAIL = "t@example.org",
                                       GIT_COMMITTER_NAME = "T", GIT_COMMITTER_EMAIL = "t@example.org"}})
    local testing = false
    local rest = task.spawn(function()
      for line in h:lines("stderr") do
        if line:find("==> test", 1, true) then testing = true end
      end
    end)
    local ok, err = pcall(function()
      T.truthy(D.wait_file(hold .. ".reached"), "the first deploy reached its held check")
      T.truthy(testing, "in ==> test")
      local r = D.slipway(dir, {"deploy"})
      T.eq(r.code, 5, "the second deploy finds the lock held\n" .. r.stderr)
      T.match(r.stderr, "locked by pid " .. h.pid)
    end)
    fs.remove(hold, {missing_ok = true})  -- the first deploy goes on
    rest:join()
    local first = h:wait()
    if not ok then error(err, 0) end
    T.eq(first.code, 0, "the first deploy is not disturbed")
    T.eq(D.git(dir, "log", "--format=%s", "-1").stdout, "Example deployment\n", "nothing reverted")
  end)
end, {timeout = 120})

T.run()
