-- The kubernetes driver: the real helm for `dependency update`, `template`
-- and `lint` of a mybinder-like chart that depends on the real BinderHub
-- chart (served on 127.0.0.1), and the recording stand-in (tests/standin/)
-- on PATH as `kubectl` and `helm` for the commands that need a cluster.
local T = require "slipway.testing"
local fs = require "slipway.fs"
local json = require "slipway.json"
local task = require "slipway.task"
local core = require "slipway.core"
local playbook = require "slipway.playbook"
local k8s = require "slipway.drivers.kubernetes"
local S = require "standin"
local sync = require "sync"

local HELM, why = S.helm()
local need_helm = (not HELM) and ("no real helm: " .. tostring(why)) or nil

-- one chart repository server and one dependency-updated deployment copy
-- shared by the tests (helm dependency update runs once per context)
local shared
local function setup()
  if shared then return shared end
  local k = S.new()
  local url, stop = S.chart_repo(HELM, k.env)
  local dir = S.deployment(url)
  shared = {url = url, stop = stop, dir = dir}
  return shared
end

local function env_for(dir, k, extra)
  local e = {
    name = "staging", driver = "kubernetes",
    chart = dir .. "/mybinder",
    values = {dir .. "/config/staging.yaml"},
    options = {helm = k.helm, kubectl = k.kubectl, env = k.env, rollout_timeout = "10m"},
  }
  for key, v in pairs(extra or {}) do e[key] = v end
  return e
end

local function context(dir, opts)
  opts = opts or {}
  return playbook.context{root = dir, no_manifest = true, dry_run = opts.dry_run,
                          command = "deploy", journal_path = dir .. "/journal-" .. (opts.name or "x") .. ".jsonl"}
end

local function joined(argv) return table.concat(argv, " ") end

T.test("render: the real helm template of the chart and its BinderHub dependency, Secrets masked", function()
  local sh = setup()
  local k = S.new()
  local ctx = context(sh.dir, {name = "render"})
  local text = k8s.render(ctx, env_for(sh.dir, k))
  -- the real chart's workloads are there
  local kinds = {}
  for kind in text:gmatch("\nkind: (%w+)") do kinds[kind] = (kinds[kind] or 0) + 1 end
  T.eq(kinds.Deployment, 6, "deployments (4 from binderhub, 2 from the chart)")
  T.eq(kinds.DaemonSet, 1)
  T.eq(kinds.StatefulSet, 1)
  T.eq(kinds.Secret, 3)
  T.match(text, "name: binder\n")
  T.match(text, "staging%.mybinder%.example", "staging values applied (federation-redirect ConfigMap)")
  T.nomatch(text, "pod_quota", "binderhub config lives in a Secret, masked")
  -- no secret value survives, in any form
  T.nomatch(text, "staging%-grafana%-key", "stringData value")
  T.nomatch(text, "c3RhZ2luZy1ncmFmYW5hLWtleS1kby1ub3QtcHJpbnQ=", "data value (base64)")
  T.nomatch(text, "MDAwMDAwMDAwMDAwMDAwMDAwMDAwMDAwMDAwMDAwMDAwMDAwMDAwMDAwMDAwMDAwMDAwMDAwMDAwMDAwMDAwMQ==")
  T.match(text, "grafana%-api%-key: '<masked #1>'")
  T.match(text, "config.json: '<masked #1>'")
  T.match(text, "hub.config.JupyterHub.cookie_secret: '<masked #1>'")
  -- and the values are now redacted from anything printed or journalled
  T.eq(core.redact("key=staging-grafana-key-do-not-print"), "key=***")
  -- the commands: dependency update then template, both to the real helm
  local helm_calls = k:argvs("helm")
  T.eq(helm_calls[1], {"dependency", "update", sh.dir .. "/mybinder"})
  T.eq(helm_calls[2], {"template", "staging", sh.dir .. "/mybinder", "--namespace", "staging",
                       "-f", sh.dir .. "/config/staging.yaml"})
  T.truthy(fs.exists(sh.dir .. "/mybinder/charts/binderhub-1.0.0-0.dev.git.3503.ha8a2e19.tgz"),
    "dependency downloaded from the loopback chart repository")
end, {skip = need_helm})

T.test("lint: the real helm lint passes the chart, and fails a broken values file", function()
  local sh = setup()
  local k = S.new()
  local ctx = context(sh.dir, {name = "lint"})
  local out = k8s.lint(ctx, env_for(sh.dir, k))
  T.match(out, "1 chart%(s%) linted, 0 chart%(s%) failed")
  local bad = sh.dir .. "/config/broken.yaml"
  fs.write(bad, "static:\n  replicas: [unclosed\n")
  local err = T.raises(function()
    k8s.lint(ctx, env_for(sh.dir, k, {values = {bad}}))
  end)
  T.eq(err.code, "deploy")
  T.match(err.message, "helm lint of staging failed")
end, {skip = need_helm})

T.test("deploy: exact helm/kubectl argv, no --wait, every rollout watched concurrently", function()
  local sh = setup()
  local k = S.new()
  -- every rollout status is answered only once all 7 are running: had they
  -- been watched one after the other, the first would wait for the others
  local rollouts_at_once = sync.proc_barrier(7, "kubectl rollout status calls")
  k:gate("rollout\\ status\\ *", rollouts_at_once)
  local ctx = context(sh.dir, {name = "deploy"})
  local env = env_for(sh.dir, k)
  local r = k8s.deploy(ctx, env)
  rollouts_at_once:check()
  k:gate()
  T.eq(r.revision, 1)
  local upgrades = k:argvs("helm", "upgrade")
  T.eq(#upgrades, 1)
  T.eq(upgrades[1], {"upgrade", "--install", "--cleanup-on-fail", "--create-namespace",
                     "--namespace", "staging", "staging", sh.dir .. "/mybinder",
                     "-f", sh.dir .. "/config/staging.yaml"})
  T.nomatch(joined(upgrades[1]), "%-%-wait", "no --wait (field notes: a cancelled --wait skipped cleanup)")
  T.eq(k:argvs("kubectl", "get"), {{"get", "deployments,daemonsets", "-o", "name", "--namespace=staging"}})
  local rollouts = k:argvs("kubectl", "rollout")
  T.eq(#rollouts, 7)
  local seen = {}
  for _, a in ipairs(rollouts) do
    T.eq(#a, 6)
    T.eq({a[1], a[2], a[3], a[4], a[6]}, {"rollout", "status", "--timeout=10m", "--watch", "--namespace=staging"})
    seen[a[5]] = true
  end
  for _, w in ipairs{"deployment.apps/hub", "deployment.apps/binder", "deployment.apps/proxy",
                     "deployment.apps/static", "deployment.apps/federation-redirect",
                     "deployment.apps/user-scheduler", "daemonset.apps/staging-image-cleaner"} do
    T.truthy(seen[w], "rollout status for " .. w)
  end
  T.eq(#r.detail.workloads, 7)
  -- the journal has every command
  local cmds = 0
  for _, rec in ipairs(ctx.journal.records) do if rec.type == "cmd" then cmds = cmds + 1 end end
  T.truthy(cmds >= 9, "journalled commands: " .. cmds)
  -- a second deploy is revision 2; status reads it back
  T.eq(k8s.deploy(ctx, env).revision, 2)
  local st = k8s.status(ctx, env)
  T.eq(st.running, true)
  T.eq(st.revision, 2)
  T.truthy(st.since and math.abs(st.since - os.time()) < 3600, "since parsed from last_deployed")
end, {skip = need_helm})

T.test("deploy: a rollout timeout raises code timeout naming the workload", function()
  local sh = setup()
  local k = S.new{outcome = "rollout-timeout:hub"}
  local ctx = context(sh.dir, {name = "timeout"})
  local err = T.raises(function() k8s.deploy(ctx, env_for(sh.dir, k)) end)
  T.eq(err.code, "timeout")
  T.match(err.message, "1 of 7 workloads")
  T.match(err.message, "deployment.apps/hub: error: timed out waiting for the condition")
  T.nomatch(err.message, "binder:", "only the failed one is named")
  -- every rollout was still watched to its end
  T.eq(#k:argvs("kubectl", "rollout"), 7)
end, {skip = need_helm})

T.test("deploy: Helm's 'another operation is in progress' is recognised and says what to do", function()
  local sh = setup()
  local k = S.new{outcome = "helm-busy"}
  local ctx = context(sh.dir, {name = "busy"})
  local err = T.raises(function() k8s.deploy(ctx, env_for(sh.dir, k)) end)
  T.eq(err.code, "deploy")
  T.eq(err.reason, "helm_busy")
  T.match(err.message, "another operation %(install/upgrade/rollback%) is in progress")
  T.match(err.message, "helm history staging %-%-namespace staging")
  T.match(err.message, "helm rollback staging <REVISION> %-%-namespace staging")
  -- no rollout was waited for after a failed upgrade
  T.eq(#k:argvs("kubectl", "rollout"), 0)
  -- any other helm failure is a plain deploy error with helm's message
  k:set{outcome = "helm-fail"}
  err = T.raises(function() k8s.deploy(ctx, env_for(sh.dir, k)) end)
  T.eq(err.code, "deploy")
  T.eq(err.reason, nil)
  T.match(err.message, "nil pointer evaluating")
end, {skip = need_helm})

-- the Lease as the stand-in (the API server) holds it
local function lease(k)
  local proc = require "slipway.proc"
  local r = proc.run({k.kubectl, "get", "lease", "slipway-lock-staging", "-o", "json", "--ignore-not-found",
                      "--namespace=staging"}, {env = k.env, echo = false})
  if r.stdout:match("^%s*$") then return nil end
  return json.decode(r.stdout)
end

local function journalled_break(ctx)
  for _, r in ipairs(ctx.journal.records) do
    if r.type == "driver" and r.action == "break_lock" then return r end
  end
end

T.test("lock: a Lease in the namespace; busy raises locked with the holder; --break-lock journalled", function()
  local k = S.new{helm = false}
  local dir = fs.tempdir()
  local env = env_for(dir, k, {chart = dir})
  local ctx1 = context(dir, {name = "lock1"})
  local lock = k8s.lock(ctx1, env, {})
  local l = T.truthy(lease(k), "a Lease in the namespace")
  T.eq(l.kind, "Lease")
  T.eq(l.spec.leaseDurationSeconds, 120)
  T.match(l.spec.holderIdentity, ctx1.run_id:gsub("%p", "%%%0"))
  -- a second deployer is refused, with who holds it
  local ctx2 = context(dir, {name = "lock2"})
  local err = T.raises(function() k8s.lock(ctx2, env, {}) end)
  T.eq(err.code, "locked")
  T.eq(err.holder.run, ctx1.run_id)
  T.truthy(err.holder.pid)
  T.match(err.message, "%-%-break%-lock")
  -- waiting gives up after the wait
  T.raises(function() k8s.lock(ctx2, env, {wait = 0.3}) end, "locked")
  -- --break-lock takes it over, logged and journalled
  local lock2 = k8s.lock(ctx2, env, {break_lock = true})
  local broke = T.truthy(journalled_break(ctx2), "break_lock journalled")
  T.eq(broke.holder.run, ctx1.run_id)
  T.eq(broke.forced, true)
  -- the old holder's unlock leaves the new holder's lease alone
  lock:unlock()
  T.raises(function() k8s.lock(context(dir, {name = "lock3"}), env, {}) end, "locked")
  lock2:unlock()
  local after = k8s.lock(context(dir, {name = "lock4"}), env, {})
  after:unlock()
  T.eq(lease(k), nil, "released: the Lease is deleted")
end)

T.test("lock: a Lease create answered 'namespace not found' creates the namespace and tries again (no endless retry)", function()
  local dir = fs.tempdir()
  -- the API server's answer to a create in a namespace that does not exist
  -- (the stand-in keeps no namespaces: the rule answers every try)
  local rules = dir .. "/rules"
  fs.write(rules, "kubectl create -f - *--namespace=fresh\t1\t-\t" ..
    'Error from server (NotFound): error when creating "STDIN": namespaces "fresh" not found\n')
  local k = S.new{helm = false, scenario = rules}
  local env = env_for(dir, k, {chart = dir, namespace = "fresh"})
  local err = T.raises(function() k8s.lock(context(dir, {name = "ns"}), env, {}) end)
  T.eq(err.code, "state")
  T.match(err.message, 'namespaces "fresh" not found')
  local seen = {}
  for _, c in ipairs(k:calls()) do seen[#seen + 1] = c.argv[1] .. " " .. c.argv[2] end
  T.eq(seen, {"create -f", "create namespace", "create -f"}, "create, the namespace, create again")
end)

T.test("lock: a lease whose holder stopped renewing expires and is taken over; a dry run only reads", function()
  local k = S.new{helm = false}
  local dir = fs.tempdir()
  local env = env_for(dir, k, {chart = dir})
  env.options.lock_duration, env.options.lock_renew = 2, 0.5
  local old = k8s.lock(context(dir, {name = "e1"}), env, {})
  old.lease:stop()   -- the holder "dies": no more renewals
  local ctx = context(dir, {name = "e2"})
  T.raises(function() k8s.lock(ctx, env, {}) end, "locked")
  local new = k8s.lock(ctx, env, {wait = 30})
  local took = T.truthy(journalled_break(ctx), "expired lease taken over, journalled")
  T.eq(took.expired, true)
  T.falsy(took.forced)
  new:unlock()
  -- dry run: reads with kubectl get, writes nothing
  k:clear()
  local dctx = context(dir, {name = "dry", dry_run = true})
  local l = k8s.lock(dctx, env, {})
  l:unlock()
  for _, c in ipairs(k:calls()) do T.eq(c.argv[1], "get", "dry-run lock only reads") end
end)

T.test("dry run: helm template before and after, unified diff with Secret data masked, no upgrade", function()
  local sh = setup()
  local k = S.new()
  local dir = S.deployment(sh.url)
  local env = env_for(dir, k)
  -- deploy once for real (the stand-in keeps the release's manifest)
  k8s.deploy(context(dir, {name = "first"}), env)
  -- change a replica count and the secret
  local cfg = dir .. "/config/staging.yaml"
  fs.write(cfg, fs.read(cfg):gsub("staging%-grafana%-key%-do%-not%-print", "rotated-grafana-key-0001") ..
    "static:\n  replicas: 3\n")
  k:clear()
  local ctx = context(dir, {name = "dry", dry_run = true})
  local before = k8s.rendered(ctx, env)
  local r = k8s.deploy(ctx, env)
  local after = k8s.render(ctx, env)
  T.eq(r.planned, true)
  T.eq(r.revision, nil)
  local diff = playbook.diff(before, after, "staging (deployed)", "staging (this commit)")
  -- (the order of - and + lines within a hunk is the diff's business)
  T.match(diff, "\n%-  replicas: 1\n")
  T.match(diff, "\n%+  replicas: 3\n")
  T.match(diff, "\n%-  grafana%-api%-key: '<masked #1>'\n")
  T.match(diff, "\n%+  grafana%-api%-key: '<masked #2>'\n")
  T.nomatch(diff, "rotated%-grafana", "new secret value")
  T.nomatch(diff, "staging%-grafana", "old secret value")
  T.nomatch(diff, "cookie_secret", "unchanged secrets are not in the diff")
  -- nothing that changes the cluster ran
  for _, c in ipairs(k:calls()) do
    T.truthy(c.argv[1] == "get" or c.argv[1] == "template" or c.argv[1] == "dependency",
      "dry run ran only read-only commands, got " .. joined(c.argv))
  end
  local planned
  for _, rec in ipairs(ctx.journal.records) do
    if rec.type == "cmd" and rec.planned and rec.argv:find("helm upgrade", 1, true) then planned = rec end
  end
  T.truthy(planned, "the upgrade is a plan entry")
end, {skip = need_helm})

-- the calls of a stage beyond the deploy's own (helm dependency update and
-- upgrade, kubectl get deployments,daemonsets, the rollout waits), as
-- "TOOL ARGV..."
local function own_calls(k)
  local out = {}
  for _, c in ipairs(k:calls()) do
    local a = c.argv
    local deploy = (c.tool == "helm" and (a[1] == "upgrade" or a[1] == "dependency"))
      or (c.tool == "kubectl" and (a[1] == "rollout" or (a[1] == "get" and a[2] == "deployments,daemonsets")))
    if not deploy then out[#out + 1] = c.tool .. " " .. joined(a) end
  end
  return out
end

-- slipway.yaml of the deployment at dir: staging through this driver on the
-- stand-in k, with the extra fields of the environment given (hooks, login)
local function k8s_manifest(dir, k, extra)
  local env = {driver = "kubernetes", chart = "mybinder", values = {"config/staging.yaml"},
               kubernetes = {helm = k.helm, kubectl = k.kubectl, env = k.env}}
  for key, v in pairs(extra or {}) do env[key] = v end
  fs.write(dir .. "/slipway.yaml", require("slipway.yaml").dump({name = "k8s-test", environments = {staging = env}}))
end

-- what a deployment repository ignores (and `more`, more lines)
local function ignored(more) return ".slipway/\nmybinder/charts/\nmybinder/Chart.lock\n" .. (more or "") end

-- a deployment repository at dir with the .gitignore given, committed; returns
-- git(...) and stage(args...) (the slipway binary run there)
local function committed_repo(dir, ignore)
  local proc = require "slipway.proc"
  fs.write(dir .. "/.gitignore", ignore)
  local genv = {GIT_AUTHOR_NAME = "T", GIT_AUTHOR_EMAIL = "t@example.org", GIT_COMMITTER_NAME = "T",
                GIT_COMMITTER_EMAIL = "t@example.org", PWD = dir, NO_COLOR = "1"}
  local function git(...) return proc.run({"git", "-C", dir, ...}, {env = genv}) end
  git("init", "-q", "-b", "main"); git("add", "-A"); git("commit", "-q", "-m", "initial")
  local function stage(...)
    return proc.run({os.getenv("SLIPWAY_BIN"), "stage", ...}, {cwd = dir, env = genv, check = false, timeout = 120})
  end
  return git, stage
end

T.test("slipway stage through the kubernetes driver: lock, upgrade, rollouts; --dry-run prints the masked diff", function()
  local sh = setup()
  local k = S.new()
  local dir = S.deployment(sh.url)
  k8s_manifest(dir, k)
  local git, stage = committed_repo(dir, ignored())
  local r = stage("staging")
  T.eq(r.code, 0, r.stderr)
  T.eq(#k:argvs("helm", "upgrade"), 1)
  T.eq(#k:argvs("kubectl", "rollout"), 7)
  -- the cluster calls of the stage beyond the deploy's own (what deploy.py
  -- makes too): the lock taken (one create), what ran before (helm status),
  -- the lock released (one guarded delete) -- each a kubectl/helm process
  T.eq(own_calls(k), {
    "kubectl create -f - -o json --namespace=staging",
    "helm status staging --namespace staging -o json",
    "kubectl delete --raw /apis/coordination.k8s.io/v1/namespaces/staging/leases/slipway-lock-staging -f - " ..
      "--namespace=staging"}, "the stage's own calls, in order")
  local calls = k:calls()
  T.eq(calls[1].argv[1], "create", "the lock first")
  T.eq(calls[#calls].argv[1], "delete", "released last")
  T.eq(lease(k), nil, "the Lease is gone: released")
  -- again, now that the release exists: the same three calls
  k:clear()
  r = stage("staging")
  T.eq(r.code, 0, r.stderr)
  T.eq(#own_calls(k), 3, table.concat(own_calls(k), "\n"))
  T.eq(#k:calls(), 3 + 1 + 1 + 7, "lock, status, upgrade, workloads, 7 rollouts, release")
  -- a second staged change, rehearsed
  fs.write(dir .. "/config/staging.yaml", fs.read(dir .. "/config/staging.yaml")
    :gsub("staging%-grafana%-key%-do%-not%-print", "rotated-grafana-key-0001") .. "static:\n  replicas: 2\n")
  git("commit", "-q", "-am", "two static replicas, new key")
  k:clear()
  r = stage("staging", "--dry-run")
  T.eq(r.code, 0, r.stderr)
  local out = r.stdout .. r.stderr
  T.match(out, "%+  replicas: 2")
  T.match(out, "%-  replicas: 1")
  T.match(out, "grafana%-api%-key: '<masked #%d>'")
  T.nomatch(out, "rotated%-grafana%-key")
  T.nomatch(out, "staging%-grafana%-key")
  for _, c in ipairs(k:calls()) do
    T.truthy(c.argv[1] == "get" or c.argv[1] == "template" or c.argv[1] == "dependency" or c.argv[1] == "status",
      "dry run ran only read-only commands, got " .. joined(c.argv))
  end
end, {skip = need_helm})

T.test("stage: the before hooks marked dry_run run while the lock is taken; the others after it, each after the hooks before it", function()
  local sh = setup()
  local k = S.new()
  local dir = S.deployment(sh.url)
  -- the Lease create is answered only once the dry_run hook is running too
  -- (had the hook waited for the lock, the create would wait for it for ever);
  -- then the dry_run hook waits for the hook listed before it (not marked
  -- dry_run: it runs once the lock is held, beside the dry_run hook)
  local both = sync.proc_barrier(2, "the Lease create and the dry_run hook")
  local beside = sync.proc_barrier(2, "the dry_run hook and the hook listed before it")
  k:gate("create\\ *", both)
  -- each hook logs its name, how many Lease creates and helm status calls
  -- the stand-in had seen start by then, and how many hooks had logged
  local seen = string.format([[$(grep -c '"argv": *\["create"' '%s') $(grep -c '"argv": *\["status"' '%s') ]] ..
    [[$(cat hooks.log 2>/dev/null | wc -l)]], k.log, k.log)
  local function hook(name, first)
    return {name = name, run = {"sh", "-c", (first or "") .. "echo " .. name .. " " .. seen .. " >> hooks.log"}}
  end
  local function manifest(barriers)
    local bans = hook("bans", barriers and (both.sh .. "; " .. beside.sh .. "; ") or nil)
    bans.dry_run = true
    k8s_manifest(dir, k, {hooks = {before = {hook("coredns", barriers and (beside.sh .. "; ") or nil), bans,
                                             hook("after-bans")}}})
  end
  manifest(true)
  local git, stage = committed_repo(dir, ignored("hooks.log\n"))
  local r = stage("staging")
  both:check()
  beside:check()
  k:gate()
  T.eq(r.code, 0, r.stderr)
  local lines = {}
  for line in fs.read(dir .. "/hooks.log"):gmatch("[^\n]+") do lines[#lines + 1] = line end
  T.eq(#lines, 3, "each hook once")
  T.match(lines[1] .. "|" .. lines[2], "coredns 1 1 [01]", "the hook before the dry_run one: after the lock and helm status")
  T.eq(lines[3], "after-bans 1 1 2", "the hook after the dry_run one: after it and every hook before it")
  -- the lock held elsewhere: the run stops there; no hook that needs it ran
  fs.remove(dir .. "/hooks.log")
  manifest(false)
  git("commit", "-q", "-am", "no barrier")
  local other = k8s.lock(context(dir, {name = "other"}), env_for(sh.dir, k), {})
  r = stage("staging")
  other:unlock()
  T.ne(r.code, 0)
  T.match(r.stderr, "is locked")
  T.nomatch(fs.isfile(dir .. "/hooks.log") and fs.read(dir .. "/hooks.log") or "", "coredns",
    "a hook not marked dry_run ran without the lock")
end, {skip = need_helm})

T.test("stage --lock-wait: a dry_run hook that fails ends the wait for another run's lock, with its own error", function()
  local sh = setup()
  local k = S.new()
  local dir = S.deployment(sh.url)
  k8s_manifest(dir, k, {hooks = {before = {{name = "bans", dry_run = true,
                                            run = {"sh", "-c", "echo 'cannot fetch the ban list' >&2; exit 3"}}}}})
  local _, stage = committed_repo(dir, ignored())
  -- another run holds the lock for longer than the wait: without giving up,
  -- the stage would wait 30 s and say "is locked", the hook's failure unsaid
  local other = k8s.lock(context(dir, {name = "other"}), env_for(sh.dir, k), {})
  k:clear()
  local r = stage("staging", "--lock-wait", "30")
  other:unlock()
  T.ne(r.code, 0)
  T.match(r.stderr, "cannot fetch the ban list")
  T.nomatch(r.stderr, "is locked")
  T.eq(#k:argvs("helm", "upgrade"), 0, "nothing deployed")
  T.eq(#k:argvs("kubectl", "create"), 1, "one try at the lock, no second")
end, {skip = need_helm})

T.test("stage: the lock and the dry_run hooks both wait for the one login", function()
  local sh = setup()
  local k = S.new()
  local dir = S.deployment(sh.url)
  -- the login waits (a safety net of 3 s) for a line a hook writes: a hook
  -- that did not wait for the login would write it while the login runs
  local login = [[echo login >> order.log; i=0; while [ $i -lt 30 ] && ! grep -q hook order.log; do ]] ..
    [[sleep 0.1; i=$((i+1)); done; echo login-done >> order.log]]
  k8s_manifest(dir, k, {login = {run = {{"sh", "-c", login}}},
    hooks = {before = {{name = "bans", run = {"sh", "-c", "echo hook >> order.log"}, dry_run = true}}}})
  local _, stage = committed_repo(dir, ignored("order.log\n"))
  local r = stage("staging")
  T.eq(r.code, 0, r.stderr)
  T.eq(fs.read(dir .. "/order.log"), "login\nlogin-done\nhook\n", "the hook after the whole login, which ran once")
  local first = k:calls()[1]
  T.eq(first.argv[1], "create", "the lock, after the login")
end, {skip = need_helm})

T.test("status and stop: nothing deployed is not an error; stop is idempotent", function()
  local k = S.new{helm = false}
  local dir = fs.tempdir()
  local env = env_for(dir, k, {chart = dir})
  local ctx = context(dir, {name = "st"})
  T.eq(k8s.status(ctx, env).running, false)
  k8s.stop(ctx, env)
  k8s.stop(ctx, env)
  T.eq(#k:argvs("helm", "uninstall"), 2)
end)

T.test("the loopback chart repository stops: its port refuses connections", function()
  if not shared then T.skip("not started") end
  shared.stop()
  local port = shared.url:match(":(%d+)/")
  shared = nil
  local r = require("slipway.proc").run({"bash", "-c", "exec 3<>/dev/tcp/127.0.0.1/" .. port},
    {check = false, timeout = 5, stderr = "discard"})
  T.ne(r.code, 0, "connecting to the stopped server")
end, {skip = need_helm})

T.run()
