-- CI runners deploying to one cluster with the kubernetes driver: the
-- runners are plain `git clone`s of a bare remote with empty HOMEs; the
-- cluster is the recording stand-in (tests/standin/standin, the named
-- stand-in for the API server: Lease and ConfigMap objects with
-- resourceVersion and 409 Conflict) shared by all of them; helm's offline
-- work is the real helm. The record of deploys is `state: kubernetes`
-- (ConfigMaps next to the release) and the deploy lock is a Lease.
local T = require "slipway.testing"
local fs = require "slipway.fs"
local proc = require "slipway.proc"
local json = require "slipway.json"
local task = require "slipway.task"
local yaml = require "slipway.yaml"
local S = require "standin"

local HELM, why = S.helm()
local need_helm = (not HELM) and ("no real helm: " .. tostring(why)) or nil
local BIN = os.getenv("SLIPWAY_BIN") or "build/slipway"

local function trim(s) return (s:gsub("%s+$", "")) end

local function git(dir, home, ...)
  local r = proc.run({"git", "-C", dir, ...}, {check = false, echo = false, env = {HOME = home}})
  assert(r.code == 0, "git " .. table.concat({...}, " ") .. ": " .. r.stderr)
  return trim(r.stdout)
end

-- the cluster (stand-in), a chart repository on loopback and the remote
local function cluster(duration)
  local k = S.new()
  local url, stop = S.chart_repo(HELM, k.env)
  local seed = S.deployment(url)
  local kube = {helm = k.helm, kubectl = k.kubectl, env = k.env, lock_duration = duration or 3, lock_renew = 1}
  fs.write(seed .. "/slipway.yaml", yaml.dump({
    name = "k8s-runners",
    state = {backend = "kubernetes", heartbeat = 1},
    environments = {
      staging = {driver = "kubernetes", chart = "mybinder", values = {"config/staging.yaml"}, kubernetes = kube},
      prod = {driver = "kubernetes", chart = "mybinder", values = {"config/staging.yaml"}, kubernetes = kube},
    },
    stages = {staging = "staging", production = {"prod"}},
  }))
  fs.write(seed .. "/.gitignore", ".slipway/\nmybinder/charts/\nmybinder/Chart.lock\n")
  local home = fs.tempdir()
  git(seed, home, "init", "-q", "-b", "main")
  git(seed, home, "add", "-A")
  git(seed, home, "-c", "user.name=Seed", "-c", "user.email=seed@example.org", "commit", "-q", "-m", "initial")
  local bare = fs.tempdir() .. "/remote.git"
  git(seed, home, "init", "-q", "--bare", "-b", "main", bare)
  git(seed, home, "push", "-q", bare, "main")
  return k, bare, stop
end

local function runner(bare)
  local base = fs.tempdir()
  fs.mkdir(base .. "/home")
  local dir = base .. "/work"
  local r = proc.run({"git", "clone", "-q", bare, dir}, {check = false, echo = false, env = {HOME = base .. "/home"}})
  assert(r.code == 0, r.stderr)
  return {dir = dir, home = base .. "/home"}
end

local function argv_of(args)
  local argv = {BIN}
  for _, a in ipairs(args) do argv[#argv + 1] = a end
  return argv
end

local function slipway(rn, args)
  return proc.run(argv_of(args), {cwd = rn.dir, check = false, echo = false, timeout = 180,
                                  env = {HOME = rn.home, NO_COLOR = "1"}})
end

local function spawn(rn, args)
  return proc.spawn(argv_of(args), {cwd = rn.dir, stdin = "null", stdout = "discard", stderr = "capture",
                                    env = {HOME = rn.home, NO_COLOR = "1"}})
end

-- drain a spawned run's stderr into a string (so it never blocks on a full pipe)
local function collect(h)
  local t = {text = ""}
  t.task = task.spawn(function()
    for line in h:lines("stderr") do t.text = t.text .. line .. "\n" end
  end)
  return t
end

local function lease(k, ns)
  local r = proc.run({k.kubectl, "get", "lease", "slipway-lock-" .. ns, "-o", "json", "--ignore-not-found",
                      "--namespace=" .. ns}, {env = k.env, echo = false})
  if r.stdout:match("^%s*$") then return nil end
  return json.decode(r.stdout)
end

-- wait until run `h` (pid) holds staging's Lease
local function held_by(k, pid)
  local deadline = task.now() + 60
  while task.now() < deadline do
    local l = lease(k, "staging")
    local id = l and l.spec.holderIdentity
    if type(id) == "string" and id:find("/" .. pid .. "/", 1, true) then return l end
    task.sleep(0.05)
  end
  error("run " .. pid .. " never took the lease")
end

local function history(bare)
  local rn = runner(bare)
  local r = slipway(rn, {"history"})
  T.eq(r.code, 0, r.stderr)
  return r.stdout, rn
end

T.test("two runners at once: one is refused (exit 5), one waits for the lease; no record is lost", function()
  -- a lease of 30 s, renewed every second: it is released at a's end, never
  -- left to expire here (expiry is the next spec's). With 3 s, a loaded
  -- machine (each stand-in call a few processes) missed a renewal and b
  -- took the lease over as expired: "took over the expired deploy lock"
  local k, bare, stop = cluster(30)
  -- a's rollouts wait for the file `go` (the stand-in's kubectl gated): a
  -- holds the lease until the spec lets it go on, however slow b is to come
  local go = fs.tempdir() .. "/go"
  k:gate("rollout\\ *", {sh = string.format("while [ ! -e '%s' ]; do sleep 0.05; done", go)})
  local a, b, c = runner(bare), runner(bare), runner(bare)
  local ha = spawn(a, {"deploy"})
  local ea = collect(ha)
  held_by(k, ha.pid)
  local rb = slipway(b, {"deploy"})
  T.eq(rb.code, 5, "runner b: the lease is held\n" .. rb.stderr)
  T.match(rb.stderr, "Lease staging/slipway%-lock%-staging is held by")
  T.eq(#k:argvs("kubectl", "rollout"), 0, "a's rollouts wait at the gate")
  local hc = spawn(c, {"deploy", "--lock-wait", "120"})
  local ec = collect(hc)
  fs.write(go, "")
  ea.task:join(); ec.task:join()
  T.eq(ha:wait().code, 0, "runner a\n" .. ea.text)
  T.eq(hc:wait().code, 0, "runner c waited for the lease\n" .. ec.text)
  -- c's upgrade of staging came after a's deploy ended: never two at once
  local ups = k:calls_of("helm", "upgrade")
  T.eq(#ups, 4, "staging and prod, twice")
  -- every run is in the record (the ConfigMaps in the cluster), seen by a fourth runner
  local out = history(bare)
  local n, ok, failed = 0, 0, 0
  for l in out:gmatch("[^\n]+") do
    n = n + 1
    if l:find(" success ", 1, true) then ok = ok + 1 end
    if l:find("failed @stage", 1, true) then failed = failed + 1 end
  end
  T.eq(n, 4, "a header and three runs\n" .. out)
  T.eq(ok, 2, out)
  T.eq(failed, 1, "the refused run is recorded too\n" .. out)
  stop()
end, {skip = need_helm, timeout = 300})

T.test("a runner killed with kill -9 mid-deploy: its lease is broken with --break-lock, or expires", function()
  -- a lease outlives its last renewal by 10 s here (120 s by default)
  local k, bare, stop = cluster(10)
  k:set{delay = 3}
  local d1, e, d2, f = runner(bare), runner(bare), runner(bare), runner(bare)
  local h1 = spawn(d1, {"deploy"})
  local e1 = collect(h1)
  held_by(k, h1.pid)
  h1:kill("KILL")
  e1.task:join()
  T.eq(h1:wait().signal, 9)
  k:set{delay = 0}
  -- the next runner: the lease is still live (renewed within lock_duration)...
  local r = slipway(e, {"deploy"})
  T.eq(r.code, 5, "the killed runner's lease is live for a moment\n" .. r.stderr)
  -- ...and --break-lock takes it, journalled
  r = slipway(e, {"deploy", "--break-lock"})
  T.eq(r.code, 0, r.stderr)
  T.match(r.stderr, "%-%-break%-lock: broke the deploy lock staging/slipway%-lock%-staging held by")
  local broke
  for _, p in ipairs(fs.glob(e.dir .. "/.slipway/journal/*.jsonl")) do
    for line in fs.read(p):gmatch("[^\n]+") do
      local rec = json.decode(line)
      if rec.type == "driver" and rec.action == "break_lock" then broke = rec end
    end
  end
  T.truthy(broke and broke.forced, "the break is journalled")
  T.match(broke.holder.identity, "/" .. h1.pid .. "/")
  -- killed again: the next runner waits for the lease to expire, then takes it
  k:set{delay = 3}
  local h2 = spawn(d2, {"deploy"})
  local e2 = collect(h2)
  held_by(k, h2.pid)
  h2:kill("KILL"); e2.task:join(); h2:wait()
  k:set{delay = 0}
  r = slipway(f, {"deploy", "--lock-wait", "60"})
  T.eq(r.code, 0, r.stderr)
  T.match(r.stderr, "took over the expired deploy lock staging/slipway%-lock%-staging")
  -- the killed runs are in the record with no end: abandoned
  local out = history(bare)
  local abandoned = 0
  for _ in out:gmatch("abandoned") do abandoned = abandoned + 1 end
  T.eq(abandoned, 2, out)
  stop()
end, {skip = need_helm, timeout = 300})

T.run()
