-- The shared record of deploys (slipway.state) and the deploy locks.
-- git: a bare repository is the remote; runners are plain `git clone`s (no
-- custom refs fetched), real git throughout, concurrent runners are real
-- processes with their own clones and an empty HOME. kubernetes: the
-- recording stand-in (tests/standin/standin) is the API server, its state
-- directory the one cluster every runner sees.
local T = require "slipway.testing"
local fs = require "slipway.fs"
local proc = require "slipway.proc"
local json = require "slipway.json"
local task = require "slipway.task"
local state = require "slipway.state"
local S = require "standin"

local BIN = os.getenv("SLIPWAY_BIN") or "build/slipway"
local GIT_ENV = {GIT_AUTHOR_NAME = "Test", GIT_AUTHOR_EMAIL = "test@example.org",
                 GIT_COMMITTER_NAME = "Test", GIT_COMMITTER_EMAIL = "test@example.org"}

local function git(dir, ...)
  return proc.run({"git", "-C", dir, ...}, {env = GIT_ENV, echo = false})
end
local function git_out(dir, ...) return (git(dir, ...).stdout:gsub("%s+$", "")) end
local function quiet() end

-- a bare remote holding a deployment repository with one commit on main
local function remote()
  local dir = fs.tempdir()
  local bare = dir .. "/remote.git"
  proc.run({"git", "init", "-q", "--bare", "-b", "main", bare}, {echo = false})
  local seed = dir .. "/seed"
  proc.run({"git", "init", "-q", "-b", "main", seed}, {echo = false})
  fs.write(seed .. "/slipway.yaml", "environments: {}\n")
  git(seed, "add", "-A")
  git(seed, "commit", "-q", "-m", "deployment")
  git(seed, "push", "-q", bare, "main")
  return bare, dir
end

-- a runner: a plain clone, as a CI checkout makes it
local function clone(bare)
  local dir = fs.tempdir() .. "/runner"
  proc.run({"git", "clone", "-q", bare, dir}, {echo = false})
  return dir
end

local function summary(id, env, extra)
  local s = {id = id, command = "deploy", envs = {env or "staging"}, started = 100, ended = 160,
             outcome = "success", status = 0,
             steps = {{name = "stage", ok = true, duration = 1.5}, {name = "test", ok = true, duration = 2}}}
  for k, v in pairs(extra or {}) do s[k] = v end
  return s
end

local function ids(doc)
  local out = {}
  for id in pairs(doc.runs) do out[#out + 1] = id end
  table.sort(out)
  return out
end

-- ---- git ------------------------------------------------------------------------

T.test("git: a run written by runner A is read by runner B, a fresh clone; the branch never moves", function()
  local bare = remote()
  local a = clone(bare)
  git(a, "config", "user.name", "Deploy Bot")
  git(a, "config", "user.email", "bot@example.org")
  local head = git_out(a, "rev-parse", "HEAD")
  local st = state.open("git", {root = a, log = quiet})
  st:write{runs = {summary("20261206T100000.000Z-0001", "staging",
                           {ci_url = "https://github.example/o/r/actions/runs/7"})},
           envs = {staging = {tested = {sha = head, versions = {app = "1.2"}, ok = true,
                                        outputs = {image = "sha256:abc"}, run = "20261206T100000.000Z-0001"},
                              good = {sha = head, versions = {app = "1.2"}, run = "20261206T100000.000Z-0001"}}}}
  -- nothing moved on the deployed branch, nothing in the working tree
  T.eq(git_out(a, "rev-parse", "HEAD"), head, "HEAD")
  T.eq(git_out(a, "status", "--porcelain"), "", "git status")
  T.eq(git_out(a, "ls-remote", bare, "refs/heads/main"):match("^%x+"), head, "main on the remote")
  T.eq(git_out(a, "log", "-1", "--format=%an <%ae>|%cn", "refs/slipway/state"),
    "Deploy Bot <bot@example.org>|Deploy Bot", "the record's commits carry the repository's identity")
  T.falsy(proc.run({"git", "-C", a, "merge-base", "--is-ancestor", "refs/slipway/state", "HEAD"},
    {check = false, echo = false}).code == 0, "the record is not on the branch")

  local b = clone(bare)
  T.eq(proc.run({"git", "-C", b, "show-ref", "--verify", "--quiet", "refs/slipway/state"},
    {check = false, echo = false}).code, 1, "a plain clone has no record ref of its own")
  local doc = state.open("git", {root = b, log = quiet}):read("staging")
  T.eq(ids(doc), {"20261206T100000.000Z-0001"})
  local s = doc.runs["20261206T100000.000Z-0001"]
  T.eq(s.steps[2], {name = "test", ok = true, duration = 2})
  T.eq(s.ci_url, "https://github.example/o/r/actions/runs/7")
  T.eq(doc.envs.staging.tested.outputs, {image = "sha256:abc"})
  T.eq(doc.envs.staging.good.sha, head)
  T.eq(git_out(b, "status", "--porcelain"), "")
end)

T.test("git: a push rejected because another runner wrote in between is fetched, merged, pushed again", function()
  local bare = remote()
  local a, b = clone(bare), clone(bare)
  local sa = state.open("git", {root = a, log = quiet})
  local sb = state.open("git", {root = b, log = quiet})
  sa:write{runs = {summary("r0")}}
  -- B writes after A has read the record and before A pushes
  local pushes, raced = 0, false
  local orig = sa.impl.push
  sa.impl.push = function(self, commit)
    pushes = pushes + 1
    if not raced then
      raced = true
      sb:write{runs = {summary("rb")}, envs = {staging = {deployed = {sha = "bbb", at = 200, run = "rb"}}}}
    end
    return orig(self, commit)
  end
  local fetches, fetch = 0, sa.impl.fetch
  sa.impl.fetch = function(...) fetches = fetches + 1; return fetch(...) end
  sa:write{runs = {summary("ra")}, envs = {staging = {deployed = {sha = "aaa", at = 150, run = "ra"}}}}
  T.eq(pushes, 2, "the first push was rejected, the second (after the merge) went through")
  T.eq(fetches, 1, "the first attempt built on the tip A's last write left; the rejection fetched")
  local doc = state.open("git", {root = clone(bare), log = quiet}):read()
  T.eq(ids(doc), {"r0", "ra", "rb"}, "no record lost")
  T.eq(doc.envs.staging.deployed.sha, "bbb", "the env field of the later run wins, whoever pushed last")
  T.eq(git_out(a, "rev-list", "--count", "refs/slipway/state"), "3")
end)

T.test("git: reads of one clone at once (a run's heartbeat and its revert) all see the record", function()
  local bare = remote()
  local dir = clone(bare)
  state.open("git", {root = dir, log = quiet}):write{runs = {summary("r1")}}
  -- each read fetches into the same tracking ref; git refuses all but one
  -- of the fetches that overlap ("cannot lock ref")
  for _ = 1, 3 do
    local other = state.open("git", {root = clone(bare), log = quiet})
    other:write{runs = {summary("w" .. tostring(math.random(1e9)))}}
    local jobs = {}
    for i = 1, 8 do
      jobs[i] = function()
        return #ids(state.open("git", {root = dir, log = quiet}):read()) >= 2
      end
    end
    for _, ok in ipairs(task.all(jobs)) do T.truthy(ok) end
  end
end)

T.test("git: a shallow checkout (actions/checkout's depth 1) reads and writes the record", function()
  local bare = remote()
  state.open("git", {root = clone(bare), log = quiet}):write{runs = {summary("r1")}}
  local dir = fs.tempdir() .. "/shallow"
  proc.run({"git", "clone", "-q", "--depth", "1", "file://" .. bare, dir}, {echo = false})
  T.eq(git_out(dir, "rev-parse", "--is-shallow-repository"), "true")
  local st = state.open("git", {root = dir, log = quiet})
  T.eq(ids(st:read()), {"r1"})
  st:write{runs = {summary("r2")}}
  T.eq(ids(state.open("git", {root = clone(bare), log = quiet}):read()), {"r1", "r2"})
end)

-- a runner process: its own clone, empty HOME (no git identity), writes n runs
local RUNNER = [[
local state = require "slipway.state"
local root, name, n = arg[1], arg[2], tonumber(arg[3])
local st = state.open("git", {root = root, log = function() end})
for i = 1, n do
  local id = name .. "-" .. i
  st:write{runs = {{id = id, command = "deploy", envs = {"staging"}, started = i, ended = i + 1,
                    outcome = "success"}},
           envs = {staging = {deployed = {sha = id, at = 1000 + i * 10 + (name == "b" and 5 or 0), run = id}}}}
end
print("done " .. name)
]]

T.test("git: two runner processes writing at once, each in its own clone: every record survives", function()
  local bare, dir = remote()
  local script = dir .. "/runner.lua"
  fs.write(script, RUNNER)
  local home = fs.tempdir()
  local hs = {}
  for _, name in ipairs{"a", "b"} do
    local root = clone(bare)
    hs[#hs + 1] = proc.spawn({BIN, script, root, name, "6"},
      {env = {HOME = home, XDG_CONFIG_HOME = home, GIT_CONFIG_NOSYSTEM = "1"}, echo = false, timeout = 120})
  end
  for _, h in ipairs(hs) do
    local r = h:wait()
    T.match(r.stdout, "^done ")
  end
  local c = clone(bare)
  local doc = state.open("git", {root = c, log = quiet}):read()
  T.eq(ids(doc), {"a-1", "a-2", "a-3", "a-4", "a-5", "a-6", "b-1", "b-2", "b-3", "b-4", "b-5", "b-6"})
  T.eq(doc.envs.staging.deployed.sha, "b-6", "last writer by time, not by push order")
  T.eq(git_out(c, "log", "-1", "--format=%an", "refs/slipway-remotes/origin/state"), "slipway",
    "no git identity configured: the fallback")
  T.eq(git_out(c, "status", "--porcelain"), "")
end, {timeout = 180})

-- put a hand-made record on the remote: files {path = text}
local function push_record(bare, files)
  local w = clone(bare)
  local entries = {}
  for path, text in pairs(files) do
    local oid = (proc.run({"git", "-C", w, "hash-object", "-w", "--stdin"}, {stdin = {data = text}, echo = false})
      .stdout:gsub("%s+$", ""))
    local dir, name = path:match("^(.-)/?([^/]+)$")
    entries[dir] = entries[dir] or {}
    table.insert(entries[dir], "100644 blob " .. oid .. "\t" .. name)
  end
  local root = entries[""] or {}
  for d, list in pairs(entries) do
    if d ~= "" then
      local t = (proc.run({"git", "-C", w, "mktree"}, {stdin = {data = table.concat(list, "\n") .. "\n"}, echo = false})
        .stdout:gsub("%s+$", ""))
      root[#root + 1] = "040000 tree " .. t .. "\t" .. d
    end
  end
  local tree = (proc.run({"git", "-C", w, "mktree"}, {stdin = {data = table.concat(root, "\n") .. "\n"}, echo = false})
    .stdout:gsub("%s+$", ""))
  local c = (proc.run({"git", "-C", w, "commit-tree", tree, "-m", "hand-made"}, {env = GIT_ENV, echo = false})
    .stdout:gsub("%s+$", ""))
  git(w, "push", "-q", "--force", "origin", c .. ":refs/slipway/state")
  return c
end

T.test("git: the committer is the one git would use: GIT_COMMITTER_*, else user.name/email, else slipway", function()
  local bare = remote()
  local bin = BIN
  local function write_with(env, id)
    local r = clone(bare)
    local e = {HOME = fs.tempdir(), GIT_CONFIG_NOSYSTEM = "1", GIT_COMMITTER_NAME = false,
               GIT_COMMITTER_EMAIL = false, GIT_AUTHOR_NAME = false, GIT_AUTHOR_EMAIL = false}
    for k, v in pairs(env) do e[k] = v end
    local code = string.format([[require("slipway.state").open("git", {root = %q, log = function() end})
      :write{runs = {{id = %q, command = "deploy"}}}]], r, id)
    local res = proc.run({bin, "-e", code}, {env = e, check = false, echo = false})
    T.eq(res.code, 0, res.stderr)
    return git_out(r, "log", "-1", "--format=%cn <%ce> | %an <%ae>", "refs/slipway/state")
  end
  T.eq(write_with({GIT_COMMITTER_NAME = "CI Bot", GIT_COMMITTER_EMAIL = "ci@example.org"}, "r1"),
    "CI Bot <ci@example.org> | CI Bot <ci@example.org>")
  local r = clone(bare)
  git(r, "config", "user.name", "Operator"); git(r, "config", "user.email", "op@example.org")
  local res = proc.run({bin, "-e", string.format([[require("slipway.state").open("git", {root = %q,
    log = function() end}):write{runs = {{id = "r2", command = "deploy"}}}]], r)},
    {env = {HOME = fs.tempdir(), GIT_CONFIG_NOSYSTEM = "1", GIT_COMMITTER_NAME = false, GIT_COMMITTER_EMAIL = false},
     check = false, echo = false})
  T.eq(res.code, 0, res.stderr)
  T.eq(git_out(r, "log", "-1", "--format=%cn <%ce>", "refs/slipway/state"), "Operator <op@example.org>")
  T.match(write_with({}, "r3"), "^slipway <slipway@[^>]+> | slipway <slipway@")
end)

T.test("git: a record write git cannot store names the command and the repository, and writes nothing", function()
  local dir = fs.tempdir() .. "/repo"
  proc.run({"git", "init", "-q", dir}, {echo = false})
  git(dir, "commit", "-q", "--allow-empty", "-m", "x")
  -- fast-import cannot create its pack: objects/pack is a file
  proc.run({"rm", "-rf", dir .. "/.git/objects/pack"}, {echo = false})
  fs.write(dir .. "/.git/objects/pack", "")
  local err = T.raises(function()
    state.open("git", {root = dir, log = quiet}):write{runs = {summary("r1")}}
  end)
  T.eq(err.code, "state")
  T.match(err.message, "git fast%-import failed %(exit %d+%)")
  T.match(err.message, "What to do: check the repository at " .. dir:gsub("%p", "%%%0"))
  T.eq(git(dir, "for-each-ref", "refs/slipway").stdout, "", "no record ref written")
end)

T.test("git: a directory that is not a git repository is an error saying so", function()
  local dir = fs.tempdir()
  local st = state.open("git", {root = dir, log = quiet})
  local err = T.raises(function() st:write{runs = {summary("r1")}} end)
  T.eq(err.code, "state")
  T.match(err.message, "not a git repository")
  T.match(err.message, "What to do: run slipway in the deployment repository, or set `state: local`")
  err = T.raises(function() st:read() end)
  T.match(err.message, "not a git repository")
end)

T.test("git: the tree keeps the newest keep_runs runs (and those being written); older ones stay in history", function()
  local bare = remote()
  local r = clone(bare)
  local st = state.open("git", {root = r, log = quiet, keep_runs = 3})
  for i = 1, 5 do st:write{runs = {summary(string.format("2026120%dT000000.000Z-a", i))}} end
  local doc = state.open("git", {root = clone(bare), log = quiet}):read()
  T.eq(ids(doc), {"20261203T000000.000Z-a", "20261204T000000.000Z-a", "20261205T000000.000Z-a"})
  -- an old run written again (its end, late) is kept while it is written
  st:write{runs = {summary("20261201T000000.000Z-a", "staging", {outcome = "failure"})}}
  doc = state.open("git", {root = clone(bare), log = quiet}):read()
  T.eq(ids(doc), {"20261201T000000.000Z-a", "20261203T000000.000Z-a", "20261204T000000.000Z-a",
                  "20261205T000000.000Z-a"})
  -- env fields are not runs: the runs stay as they are
  st:write{envs = {staging = {good = {sha = "abc", run = "x"}}}}
  doc = state.open("git", {root = clone(bare), log = quiet}):read()
  T.eq(#ids(doc), 4)
  T.eq(doc.envs.staging.good.sha, "abc")
  -- the next new run: the newest three again
  st:write{runs = {summary("20261206T000000.000Z-a")}}
  doc = state.open("git", {root = clone(bare), log = quiet}):read()
  T.eq(ids(doc), {"20261204T000000.000Z-a", "20261205T000000.000Z-a", "20261206T000000.000Z-a"})
  -- the dropped runs are in the ref's history
  local h = clone(bare)
  git(h, "fetch", "-q", "origin", "refs/slipway/state")
  T.match(git(h, "log", "--format=%s", "FETCH_HEAD", "--", "runs/20261202T000000.000Z-a.json").stdout,
    "run 20261202T000000.000Z%-a deploy success")
end)

T.test("git: a torn record and a newer format are errors naming the store and what to do", function()
  local bare = remote()
  push_record(bare, {["format.json"] = '{"format":1}\n',
                     ["runs/r1.json"] = '{"format":1,"run":{"id":"r1","comm'})
  local r = clone(bare)
  local st = state.open("git", {root = r, log = quiet})
  local err = T.raises(function() st:read() end)
  T.eq(err.code, "state"); T.eq(err.backend, "git")
  T.match(err.message, "^state %(git: remote origin, refs/slipway/state at %x+, runs/r1%.json%): the record is damaged")
  T.match(err.message, "What to do: inspect it with `git %-C .* show %x+:runs/r1%.json`")
  -- a write reads only what it changes: one of the damaged run is refused,
  -- another run's goes in beside it and the damage stays for the reader
  T.raises(function() st:write{runs = {summary("r1")}} end, "runs/r1%.json%): the record is damaged",
    "a write does not paper over it")
  st:write{runs = {summary("r2")}}
  T.raises(function() st:read() end, "runs/r1%.json%): the record is damaged", "the damage is still said")
  git(r, "fetch", "-q", "origin", "refs/slipway/state")
  T.eq(git(r, "show", "FETCH_HEAD:runs/r1.json").stdout, '{"format":1,"run":{"id":"r1","comm', "the torn file is kept as it was")

  local bare2 = remote()
  push_record(bare2, {["format.json"] = '{"format":2}\n'})
  err = T.raises(function() state.open("git", {root = clone(bare2), log = quiet}):read("staging") end)
  T.eq(err.code, "state")
  T.match(err.message, "written by a newer slipway %(format 2; this slipway reads format 1%)")
  T.match(err.message, "What to do: upgrade slipway")
end)

T.test("git: an unreachable remote is an error, never an empty record", function()
  local bare = remote()
  local r = clone(bare)
  state.open("git", {root = r, log = quiet}):write{runs = {summary("r1")}}
  git(r, "remote", "set-url", "origin", fs.dirname(bare) .. "/gone.git")
  local st = state.open("git", {root = r, log = quiet})
  local err = T.raises(function() st:read("staging") end)
  T.eq(err.code, "state")
  T.match(err.message, "^state %(git: remote origin, refs/slipway/state%): cannot fetch the record from remote origin")
  T.match(err.message, "What to do: check that the remote is reachable")
  T.raises(function() st:write{runs = {summary("r2")}} end, "cannot fetch")
end)

T.test("git: without a remote the record stays in the repository (said once), and is pushed once there is one", function()
  local bare, dir = remote()
  local lone = dir .. "/lone"
  proc.run({"git", "init", "-q", "-b", "main", lone}, {echo = false})
  fs.write(lone .. "/x", "x\n"); git(lone, "add", "x"); git(lone, "commit", "-q", "-m", "x")
  local said = {}
  local log = function(level, fmt, ...) said[#said + 1] = level .. ": " .. string.format(fmt, ...) end
  local st = state.open("git", {root = lone, log = log})
  st:write{runs = {summary("local-1")}}
  st:write{runs = {summary("local-2")}}
  state.open("git", {root = lone, log = log}):read()
  T.eq(#said, 1, "said once")
  T.match(said[1], "^info: state: .* has no remote \"origin\"; the record of deploys stays in refs/slipway/state")
  T.eq(ids(state.open("git", {root = lone, log = log}):read()), {"local-1", "local-2"})
  -- a remote appears that already has another runner's record: merged, nothing lost
  state.open("git", {root = clone(bare), log = quiet}):write{runs = {summary("remote-1")}}
  git(lone, "remote", "add", "origin", bare)
  state.open("git", {root = lone, log = log}):write{runs = {summary("local-3")}}
  local doc = state.open("git", {root = clone(bare), log = quiet}):read()
  T.eq(ids(doc), {"local-1", "local-2", "local-3", "remote-1"})
end)

-- ---- kubernetes: the Lease -------------------------------------------------------------

local function lease_cfg(k, extra)
  local c = {kind = "kubernetes", kubectl = k.kubectl, env = k.env, namespace = "staging",
             name = "slipway-lock-staging", duration = 4, renew = 0.5, poll = 0.1, log = quiet}
  for key, v in pairs(extra or {}) do c[key] = v end
  return c
end

-- wait (for an event, with a deadline) until pred() holds
local function eventually(pred, what)
  local deadline = task.now() + 30
  while not pred() do
    if task.now() > deadline then error("never happened: " .. what, 2) end
    task.sleep(0.05)
  end
end

local function kubectl(k, stdin, ...)
  return proc.run({k.kubectl, ...}, {env = k.env, stdin = stdin and {data = stdin} or nil, check = false, echo = false})
end

T.test("stand-in: a delete-then-create lock lets two contenders win; an update with the resourceVersion read does not", function()
  local k = S.new{helm = false}
  local expired = {apiVersion = "coordination.k8s.io/v1", kind = "Lease",
    metadata = {name = "l", namespace = "staging"},
    spec = {holderIdentity = "dead", leaseDurationSeconds = 1, renewTime = "2020-01-01T00:00:00.000000Z"}}
  T.eq(kubectl(k, json.encode(expired), "create", "-f", "-").code, 0)
  -- both contenders read the expired lease
  local seen_a = json.decode(kubectl(k, nil, "get", "lease", "l", "-n", "staging", "-o", "json").stdout)
  local seen_b = json.decode(kubectl(k, nil, "get", "lease", "l", "-n", "staging", "-o", "json").stdout)
  T.eq(seen_a.metadata.resourceVersion, seen_b.metadata.resourceVersion)
  -- the naive lock: delete the expired one, create our own
  local function naive(who)
    local d = kubectl(k, nil, "delete", "lease", "l", "-n", "staging")
    local mine = {apiVersion = "coordination.k8s.io/v1", kind = "Lease", metadata = {name = "l", namespace = "staging"},
                  spec = {holderIdentity = who, leaseDurationSeconds = 60}}
    return d.code == 0 and kubectl(k, json.encode(mine), "create", "-f", "-").code == 0
  end
  local a_won, b_won = naive("a"), naive("b")
  T.truthy(a_won and b_won, "delete-then-create: both believe they hold the lock (what a spec must catch)")
  -- leader election's way: replace carrying the resourceVersion each read
  local cur = json.decode(kubectl(k, nil, "get", "lease", "l", "-n", "staging", "-o", "json").stdout)
  local function claim(who, seen)
    local o = json.decode(json.encode(seen))
    o.spec.holderIdentity = who
    local r = kubectl(k, json.encode(o), "replace", "-f", "-")
    return r.code == 0, r.stderr
  end
  local ok_a = claim("a", cur)
  local ok_b, err_b = claim("b", cur)
  T.truthy(ok_a); T.falsy(ok_b)
  T.match(err_b, "^Error from server %(Conflict%): error when replacing \"STDIN\": Operation cannot be fulfilled on leases%.coordination%.k8s%.io \"l\": the object has been modified")
  T.match(kubectl(k, json.encode(expired), "create", "-f", "-").stderr, "%(AlreadyExists%)")
end)

T.test("stand-in: a delete guarded by uid and resourceVersion (kubectl delete --raw) fails with 409 once the Lease changed", function()
  local k = S.new{helm = false}
  local path = "/apis/coordination.k8s.io/v1/namespaces/staging/leases/l"
  local mine = {apiVersion = "coordination.k8s.io/v1", kind = "Lease", metadata = {name = "l"},
                spec = {holderIdentity = "a", leaseDurationSeconds = 60}}
  local created = json.decode(kubectl(k, json.encode(mine), "create", "-f", "-", "-o", "json", "-n", "staging").stdout)
  local function delete(meta)
    return kubectl(k, json.encode{apiVersion = "v1", kind = "DeleteOptions",
      preconditions = {uid = meta.uid, resourceVersion = meta.resourceVersion}}, "delete", "--raw", path, "-f", "-")
  end
  -- someone else writes (a takeover): the holder's delete with what it wrote is refused
  local other = json.decode(json.encode(created))
  other.spec.holderIdentity = "b"
  T.eq(kubectl(k, json.encode(other), "replace", "-f", "-", "-n", "staging").code, 0)
  local stale = delete(created.metadata)
  T.eq(stale.code, 1)
  T.match(stale.stderr, "^Error from server %(Conflict%): Operation cannot be fulfilled on leases%.coordination%.k8s%.io " ..
    "\"l\": the ResourceVersion in the precondition %(%d+%) does not match")
  local now = json.decode(kubectl(k, nil, "get", "lease", "l", "-n", "staging", "-o", "json").stdout)
  T.eq(now.spec.holderIdentity, "b", "left alone")
  -- the same name created again is another object: the old uid does not delete it
  T.eq(kubectl(k, nil, "delete", "lease", "l", "-n", "staging").code, 0)
  local again = json.decode(kubectl(k, json.encode(mine), "create", "-f", "-", "-o", "json", "-n", "staging").stdout)
  T.match(delete({uid = created.metadata.uid, resourceVersion = again.metadata.resourceVersion}).stderr,
    "%(Conflict%).*Precondition failed: UID in precondition")
  -- with what is there: deleted (the API server's Status on stdout)
  local ok = delete(again.metadata)
  T.eq(ok.code, 0, ok.stderr)
  T.eq(json.decode(ok.stdout).status, "Success")
  T.eq(kubectl(k, nil, "get", "lease", "l", "-n", "staging", "-o", "json", "--ignore-not-found").stdout, "")
  T.match(delete(again.metadata).stderr, "^Error from server %(NotFound%)")
end)

T.test("lease: one create to take a free lock, one guarded delete to release it; a free Lease left behind is taken by replace", function()
  local k = S.new{helm = false}
  local a = state.lock(lease_cfg(k, {identity = "runner-a"}))
  a:acquire()
  a:release()
  local verbs = {}
  for _, c in ipairs(k:calls()) do verbs[#verbs + 1] = c.argv[1] .. (c.argv[2] == "--raw" and " --raw" or "") end
  T.eq(verbs, {"create", "delete --raw"})
  T.eq(a:holder(), nil, "released: no Lease")
  -- a Lease without a holder (as an older slipway released it): AlreadyExists, read, replace
  local free = {apiVersion = "coordination.k8s.io/v1", kind = "Lease", metadata = {name = "slipway-lock-staging"},
                spec = {leaseDurationSeconds = 1}}
  T.eq(kubectl(k, json.encode(free), "create", "-f", "-", "-n", "staging").code, 0)
  k:clear()
  local b = state.lock(lease_cfg(k, {identity = "runner-b"}))
  b:acquire()
  T.eq(b:holder().identity, "runner-b")
  b:release()
  verbs = {}
  for _, c in ipairs(k:calls()) do verbs[#verbs + 1] = c.argv[1] .. (c.argv[2] == "--raw" and " --raw" or "") end
  T.eq(verbs, {"create", "get", "replace", "get", "delete --raw"})
end)

local CONTENDER = [[
local state = require "slipway.state"
local lk = state.lock{kind = "kubernetes", kubectl = arg[1], namespace = "staging", name = "race",
                      duration = 60, renew = 20, identity = arg[2], log = function() end}
local ok, err = pcall(lk.acquire, lk)
if ok then print("won " .. arg[2]) else print((type(err) == "table" and err.code or "error") .. " " .. arg[2]) end
]]

T.test("lease: contenders acquiring at once in separate processes: exactly one wins", function()
  local k = S.new{helm = false}
  local script = k.dir .. "/contender.lua"
  fs.write(script, CONTENDER)
  local hs = {}
  for i = 1, 4 do
    hs[i] = proc.spawn({BIN, script, k.kubectl, "runner-" .. i}, {env = k.env, echo = false, timeout = 60})
  end
  local won, locked = {}, 0
  for _, h in ipairs(hs) do
    local out = h:wait().stdout
    if out:match("^won") then won[#won + 1] = out:match("won (%S+)") end
    if out:match("^locked") then locked = locked + 1 end
  end
  T.eq(#won, 1, "exactly one winner"); T.eq(locked, 3)
  local holder = state.lock(lease_cfg(k, {name = "race"})):holder()
  T.eq(holder.identity, won[1])
end)

T.test("lease: renewed while held, taken by the next runner once its holder stops renewing", function()
  local k = S.new{helm = false}
  local a = state.lock(lease_cfg(k, {identity = "runner-a", info = {run = "ra", user = "ci"}}))
  a:acquire()
  local first = a:holder()
  T.eq(first.identity, "runner-a"); T.eq(first.run, "ra"); T.eq(first.user, "ci")
  eventually(function() return a:holder().renewed > first.renewed end, "a renewal")
  local b = state.lock(lease_cfg(k, {identity = "runner-b"}))
  local err = T.raises(function() b:acquire() end)
  T.eq(err.code, "locked"); T.eq(err.holder.identity, "runner-a")
  T.match(err.message, "lease staging/slipway%-lock%-staging is held by runner%-a %(run ra")
  a:stop()  -- the holder dies: no more renewals
  b:acquire{wait = 30}
  T.eq(b:holder().identity, "runner-b")
  T.eq(b.took_expired.identity, "runner-a")
  T.eq(b:holder().transitions, 1)
  T.raises(function() a:renew() end, "taken over by runner%-b")
  a:release()
  T.eq(b:holder().identity, "runner-b", "a stale holder's release leaves the new holder alone")
  b:release()
  T.eq(b:holder(), nil, "released")
end)

local HOLDER = [[
local state = require "slipway.state"
local task = require "slipway.task"
local lk = state.lock{kind = "kubernetes", kubectl = arg[1], namespace = "staging", name = "slipway-lock-staging",
                      duration = 4, renew = 0.5, identity = "doomed", log = function() end}
lk:acquire()
print("held"); io.stdout:flush()
task.sleep(120)
]]

T.test("lease: a holder killed with kill -9 blocks the next runner only until its lease expires", function()
  local k = S.new{helm = false}
  local script = k.dir .. "/holder.lua"
  fs.write(script, HOLDER)
  local h = proc.spawn({BIN, script, k.kubectl}, {env = k.env, echo = false, timeout = 60, check = false})
  for line in h:lines("stdout") do if line == "held" then break end end
  local b = state.lock(lease_cfg(k, {identity = "next"}))
  T.eq(T.raises(function() b:acquire() end).code, "locked", "alive: busy")
  h:kill("KILL"); h:wait()
  b:acquire{wait = 30}
  T.eq(b.took_expired.identity, "doomed")
  b:release()
end)

T.test("lease: break takes a live holder's lease; the holder's renewal notices the loss", function()
  local k = S.new{helm = false}
  local lost
  local a = state.lock(lease_cfg(k, {identity = "runner-a"}))
  a:acquire()
  a:start(function(err) lost = err end)
  local b = state.lock(lease_cfg(k, {identity = "breaker"}))
  b:acquire{break_lock = true}
  T.eq(b.broke.identity, "runner-a", "the broken holder, for the caller's journal")
  T.eq(b:holder().identity, "breaker")
  eventually(function() return lost ~= nil end, "the old holder's loss")
  T.eq(lost.code, "lock_lost"); T.falsy(a.held)
  b:release()
end)

-- ---- kubernetes: the record ------------------------------------------------------------

local function kstore(k, extra)
  local cfg = {backend = "kubernetes"}
  for key, v in pairs(extra or {}) do cfg[key] = v end
  return state.open(cfg, {log = quiet, envs = {
    staging = {namespace = "staging", kubectl = k.kubectl, env = k.env},
    prod = {namespace = "prod", kubectl = k.kubectl, env = k.env}}})
end

T.test("kubernetes: the record in a ConfigMap per environment, read by another runner, concurrent writes kept", function()
  local k = S.new{helm = false}
  local a, b = kstore(k), kstore(k)
  a:write{runs = {summary("r1", "staging")}, envs = {staging = {tested = {sha = "s1", ok = true, run = "r1"}}}}
  a:write{runs = {summary("p1", "prod", {command = "promote"})}}
  local doc = b:read("staging")
  T.eq(ids(doc), {"r1"}); T.eq(doc.envs.staging.tested.sha, "s1")
  T.eq(ids(b:read()), {"p1", "r1"})
  local cm = json.decode(kubectl(k, nil, "get", "configmap", "slipway-state-staging", "-n", "staging", "-o", "json").stdout)
  T.eq(cm.data.format, "1")
  T.eq(cm.metadata.labels["app.kubernetes.io/managed-by"], "slipway")
  T.eq(json.decode(cm.data["run.r1.json"]).run.id, "r1")
  -- two runners (tasks whose kubectl calls interleave) write at once
  local fns = {}
  for _, w in ipairs{"a", "b"} do
    fns[#fns + 1] = function()
      local st = kstore(k)
      for i = 1, 4 do st:append_run(summary(w .. i, "staging")) end
    end
  end
  task.all(fns)
  T.eq(ids(b:read("staging")), {"a1", "a2", "a3", "a4", "b1", "b2", "b3", "b4", "r1"})
  -- a conflict between read and replace is retried
  local puts, raced = 0, false
  local orig = a.impl.load
  a.impl.load = function(self, env)
    local doc, obj = orig(self, env)
    puts = puts + 1
    if not raced then raced = true; b:append_run(summary("between", "staging")) end
    return doc, obj
  end
  a:append_run(summary("after", "staging"))
  T.eq(puts, 2, "read, conflict, read again")
  local got = ids(b:read("staging"))
  T.truthy(#got == 11 and got[1] == "a1", "every run kept: " .. table.concat(got, " "))
end)

T.test("kubernetes: a damaged record, a newer format and an unreachable API server are errors", function()
  local k = S.new{helm = false}
  local st = kstore(k)
  st:append_run(summary("r1", "staging"))
  T.eq(kubectl(k, nil, "patch", "configmap", "slipway-state-staging", "-n", "staging", "--type", "merge",
    "-p", '{"data":{"run.r1.json":"{\\"format\\":1,\\"ru"}}').code, 0)
  local err = T.raises(function() st:read("staging") end)
  T.eq(err.code, "state"); T.eq(err.backend, "kubernetes")
  T.match(err.message, "^state %(kubernetes: configmap staging/slipway%-state%-staging, key run%.r1%.json%): the record is damaged")
  T.match(err.message, "What to do: inspect it with `kubectl get configmap slipway%-state%-staging")
  kubectl(k, nil, "patch", "configmap", "slipway-state-staging", "-n", "staging", "--type", "merge",
    "-p", '{"data":{"run.r1.json":null,"format":"2"}}')
  T.raises(function() st:read() end, "written by a newer slipway %(format 2")
  local rules = k.dir .. "/down.rules"
  fs.write(rules, "kubectl *\t1\t-\tThe connection to the server 127.0.0.1:6443 was refused - did you specify the right host or port?\n")
  k:set{scenario = rules}
  err = T.raises(function() st:read("staging") end)
  T.eq(err.code, "state")
  T.match(err.message, "cannot read configmap slipway%-state%-staging: The connection to the server")
  T.match(err.message, "What to do: check that kubectl reaches the cluster")
end)

-- ---- local -------------------------------------------------------------------------

T.test("local: the record in the state directory, merged across writers, a torn file an error", function()
  local dir = fs.tempdir()
  local a = state.open(nil, {state_dir = dir .. "/.slipway"})
  local b = state.open({backend = "local"}, {state_dir = dir .. "/.slipway"})
  T.eq(ids(a:read()), {}, "no record yet: empty")
  a:append_run(summary("r1"))
  b:update_env("staging", {good = {sha = "g1", run = "r1", at = 10}})
  b:update_env("staging", {good = {sha = "old", run = "r0", at = 5}})
  local doc = a:read("staging")
  T.eq(ids(doc), {"r1"}); T.eq(doc.envs.staging.good.sha, "g1", "an older write does not win")
  T.eq(json.decode(fs.read(dir .. "/.slipway/state.json")).format, 1)
  T.eq(state.runs(doc)[1].id, "r1"); T.eq(state.find_run(doc, "r").id, "r1")
  fs.write(dir .. "/.slipway/state.json", '{"format":1,"envs":{')
  local err = T.raises(function() a:read() end)
  T.eq(err.code, "state"); T.match(err.message, "^state %(local: .*state%.json%): the record is damaged")
  T.raises(function() a:write{runs = {{id = "bad id", command = "deploy"}}} end, "run id must be a name")
end)

T.test("local: the file lock is the flock, held by one, not breakable", function()
  local dir = fs.tempdir()
  local a = state.lock{kind = "file", path = dir .. "/lock", note = "deploy staging"}
  a:acquire()
  local b = state.lock{kind = "file", path = dir .. "/lock"}
  local err = T.raises(function() b:acquire() end)
  T.eq(err.code, "locked"); T.eq(b:holder().note, "deploy staging")
  T.raises(function() b:acquire{break_lock = true} end, "cannot be broken")
  a:release()
  b:acquire(); b:release()
end)

-- A run's heartbeat rewrites its summary every `heartbeat` seconds. The
-- interval counted from the start of the previous write: a store slower than
-- the heartbeat (the kubernetes stand-in under load) was written back to back,
-- and another runner's final write (get, then replace with the
-- resourceVersion read) lost the race ten times and was dropped
-- (runners_kubernetes "no record is lost", under ASan). A store whose writes
-- take 0.4 s: between two beats there is at least a heartbeat of quiet.
T.test("the heartbeat leaves a heartbeat of quiet between writes to a slow store", function()
  local deploy = require "slipway.deploy"
  local writes = {}
  local store = {where = function() return "a slow store" end}
  function store:append_run(summary)
    local w = {start = task.now()}
    writes[#writes + 1] = w
    task.sleep(0.4)
    w.stop = task.now()
    return summary
  end
  local ctx = {run_id = "20260101T000000.000Z-beat", command = "deploy", vars = {}, args = {},
               manifest = {state = {backend = "local", heartbeat = 0.3}}, _store = store,
               journal = {path = "/nonexistent", records = {{type = "run", ts = 0, pid = 1}}}}
  deploy.record_start(ctx)
  while #writes < 4 do task.sleep(0.05) end
  ctx._heartbeat.stop = true
  while ctx._heartbeat.busy do task.sleep(0.02) end
  for i = 2, #writes do
    local quiet_for = writes[i].start - writes[i - 1].stop
    T.truthy(quiet_for >= 0.3, string.format("write %d began %.3f s after write %d ended", i, quiet_for, i - 1))
  end
end)

T.test("ci_url: the GitHub Actions run of this job", function()
  local vars = {GITHUB_SERVER_URL = "https://github.com", GITHUB_REPOSITORY = "jupyterhub/mybinder.org-deploy",
                GITHUB_RUN_ID = "42"}
  T.eq(state.ci_url(function(n) return vars[n] end), "https://github.com/jupyterhub/mybinder.org-deploy/actions/runs/42")
  vars.GITHUB_RUN_ATTEMPT = "2"
  T.eq(state.ci_url(function(n) return vars[n] end), "https://github.com/jupyterhub/mybinder.org-deploy/actions/runs/42/attempts/2")
  T.eq(state.ci_url(function() return nil end), nil)
end)

T.run()
