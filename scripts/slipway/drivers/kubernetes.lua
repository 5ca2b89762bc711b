--- slipway.drivers.kubernetes: deploy an environment to a Kubernetes cluster
-- with helm and kubectl, the way mybinder.org's CI does (docs/kubernetes.md).
--
--   deploy:  helm dependency update CHART
--            helm upgrade --install --cleanup-on-fail --create-namespace
--                 --namespace NS RELEASE CHART -f V1 -f V2 ...   (no --wait:
--                 a cancelled --wait skipped cleanup and left "already
--                 exists" errors on the next upgrade)
--            kubectl get deployments,daemonsets -o name --namespace NS
--            kubectl rollout status --timeout=10m --watch KIND/NAME ...
--                 for every workload, concurrently
--   lock:    a Lease "slipway-lock-RELEASE" in the namespace (slipway.state.lock:
--            leader election, resourceVersion-guarded, renewed while the run
--            lives, expiring when it stops); --break-lock journalled.
--   render:  helm template (read-only, runs in a dry run too), Secret data
--            masked; rendered: helm get manifest (what is deployed now).
--   status:  helm status -o json.   stop: helm uninstall.
--
-- Options (the `kubernetes:` block of an environment in slipway.yaml):
--   helm, kubectl          commands (default "helm", "kubectl", found on PATH)
--   rollout_timeout        for kubectl rollout status (default "10m")
--   lock_duration          seconds a deploy lock (Lease) outlives its last renewal (120)
--   lock_renew             seconds between renewals (30)
--   dependency_update      run `helm dependency update` first (default true)
--   extra_args             more arguments for helm upgrade (list)
--   env                    extra environment for helm and kubectl (a map:
--                          KUBECONFIG, HELM_CACHE_HOME, ...)
-- env.namespace and env.release default to the environment's name;
-- env.context becomes --kube-context / --context.
local codec = require "slipway.codec"
local core = require "slipway.core"
local task = require "slipway.task"
local json = require "slipway.json"
local kube = require "slipway.kube"
local environments = require "slipway.environments"
local journal = require "slipway.journal"

local M = {}

M.HELM_BUSY = "another operation (install/upgrade/rollback) is in progress"

-- ---- settings ----------------------------------------------------------------
-- (slipway.kube: settings, argv, Secret masking, timestamps; shared with the
-- runbook engine, which does not depend on this driver)

--- The resolved settings of env (kube.settings) -- the driver needs `chart`.
function M.settings(env)
  local s = kube.settings(env)
  if type(s.chart) ~= "string" or s.chart == "" then
    core.raise("manifest", "environment '" .. tostring(env.name) .. "': the kubernetes driver needs `chart`")
  end
  return s
end

local helm, kubectl = kube.helm, kube.kubectl

local function values_args(s, argv)
  for _, v in ipairs(s.values) do
    argv[#argv + 1] = "-f"
    argv[#argv + 1] = v
  end
  return argv
end

-- ctx:run with the driver's environment added
local function run(ctx, s, argv, opts)
  return ctx:run(argv, kube.run_opts(s, opts))
end

local function trim(x) return (tostring(x or ""):gsub("^%s+", ""):gsub("%s+$", "")) end

-- a failed command as a structured error naming the command and its stderr
local function failed(code, what, res, fields)
  local f = fields or {}
  f.stderr = res and trim(res.stderr) or nil
  f.exit = res and res.code or nil
  local msg = what
  if f.stderr and f.stderr ~= "" then msg = msg .. ": " .. f.stderr end
  return core.error(code, msg, f)
end

-- ---- secrets in rendered manifests -----------------------------------------

M.b64decode = codec.unbase64
M.mask_secrets = kube.mask_secrets

-- one memo per context, so that before and after share their numbering
local memos = setmetatable({}, {__mode = "k"})
local function memo_of(ctx)
  local m = memos[ctx]
  if not m then m = {}; memos[ctx] = m end
  return m
end

-- ---- dependencies ----------------------------------------------------------

-- `helm dependency update` once per chart and context. It downloads the
-- chart's dependencies into CHART/charts (a build cache, like `make`'s
-- outputs) and changes nothing in any cluster, so it also runs in a dry run:
-- helm template needs it, and a dry run must not break on a missing result.
local deps_done = setmetatable({}, {__mode = "k"})
local function dependencies(ctx, s)
  if not s.dependency_update then return end
  local done = deps_done[ctx]
  if not done then done = {}; deps_done[ctx] = done end
  if done[s.chart] then return end
  local res = run(ctx, s, {s.helm, "dependency", "update", s.chart}, {readonly = true, check = false})
  if res.code ~= 0 then
    error(failed("deploy", "helm dependency update " .. s.chart .. " failed", res), 0)
  end
  done[s.chart] = true
end
M.dependencies = function(ctx, env) return dependencies(ctx, M.settings(env)) end

-- ---- render ----------------------------------------------------------------

--- driver.render(ctx, env) -> the manifests `helm template` renders for env,
-- Secret data masked. Read-only: runs in a dry run.
function M.render(ctx, env)
  local s = M.settings(env)
  dependencies(ctx, s)
  local argv = values_args(s, helm(s, "template", s.release, s.chart, "--namespace", s.namespace))
  local res = run(ctx, s, argv, {readonly = true, check = false})
  if res.code ~= 0 then
    error(failed("deploy", "helm template of " .. env.name .. " failed", res), 0)
  end
  return M.mask_secrets(res.stdout, memo_of(ctx))
end

--- kubernetes.lint(ctx, env) -> helm lint's output; raises code "deploy"
-- when the chart with env's values does not lint. Read-only.
function M.lint(ctx, env)
  local s = M.settings(env)
  dependencies(ctx, s)
  local res = run(ctx, s, values_args(s, {s.helm, "lint", s.chart}), {readonly = true, check = false})
  if res.code ~= 0 then
    error(failed("deploy", "helm lint of " .. env.name .. " failed", res, {output = res.stdout}), 0)
  end
  return res.stdout
end

--- driver.rendered(ctx, env) -> what is deployed now (helm get manifest),
-- Secret data masked; nil when the release does not exist.
function M.rendered(ctx, env)
  local s = M.settings(env)
  local res = run(ctx, s, helm(s, "get", "manifest", s.release, "--namespace", s.namespace),
    {readonly = true, check = false})
  if res.code ~= 0 then
    if (res.stderr or ""):find("not found", 1, true) then return nil end
    error(failed("deploy", "helm get manifest " .. s.release .. " failed", res), 0)
  end
  return M.mask_secrets(res.stdout, memo_of(ctx))
end

-- ---- deploy ----------------------------------------------------------------

local function busy_error(s, res)
  return failed("deploy", string.format(
    "helm upgrade of release '%s' in namespace '%s' failed: Helm says %s.\n" ..
    "  What to do: slipway holds the deploy lock, so this is not another slipway deploy.\n" ..
    "  1. See whether someone runs helm by hand: helm history %s --namespace %s --max 5\n" ..
    "  2. If the last revision stays 'pending-upgrade'/'pending-install' with nobody\n" ..
    "     deploying (a killed helm), restore it to its last deployed revision:\n" ..
    "       helm rollback %s <REVISION> --namespace %s\n" ..
    "     (this only clears Helm's stuck state; code changes are still reverted with git)\n" ..
    "  3. Run the deploy again.",
    s.release, s.namespace, M.HELM_BUSY, s.release, s.namespace, s.release, s.namespace), res,
    {reason = "helm_busy", release = s.release, namespace = s.namespace})
end

--- The workloads of the namespace (`kubectl get deployments,daemonsets -o
-- name`): a list like {"deployment.apps/hub", "daemonset.apps/cleaner"}.
function M.workloads(ctx, env)
  local s = M.settings(env)
  local res = run(ctx, s, kubectl(s, "get", "deployments,daemonsets", "-o", "name"),
    {readonly = true, check = false})
  if res.code ~= 0 then
    error(failed("deploy", "kubectl get deployments,daemonsets in " .. s.namespace .. " failed", res), 0)
  end
  local list = {}
  for l in res.stdout:gmatch("[^\n]+") do
    l = trim(l)
    if l ~= "" then list[#list + 1] = l end
  end
  return list
end

--- Wait for every workload's rollout, concurrently (kubectl rollout status
-- --timeout --watch). Returns the list of results {name, ok, seconds,
-- output}; raises code "timeout" (a rollout timed out) or "deploy" naming
-- every workload that did not roll out.
function M.wait_rollouts(ctx, env, workloads)
  local s = M.settings(env)
  local tasks = {}
  for i, w in ipairs(workloads) do
    tasks[i] = task.spawn(function()
      local t0 = task.now()
      local res = run(ctx, s, kubectl(s, "rollout", "status", "--timeout=" .. s.rollout_timeout, "--watch", w),
        {readonly = true, check = false})
      return {name = w, ok = res.code == 0, seconds = task.now() - t0,
              output = trim(res.stdout), stderr = trim(res.stderr),
              timed_out = (res.stderr or ""):find("timed out", 1, true) ~= nil}
    end)
  end
  local results, bad, timed_out = {}, {}, false
  for i, t in ipairs(tasks) do
    local ok, r = t:wait()
    if not ok then r = {name = workloads[i], ok = false, stderr = tostring(type(r) == "table" and r.message or r)} end
    results[i] = r
    if not r.ok then
      bad[#bad + 1] = r.name .. ": " .. (r.stderr ~= "" and r.stderr or r.output)
      timed_out = timed_out or r.timed_out
    end
  end
  if #bad > 0 then
    core.raise(timed_out and "timeout" or "deploy", string.format(
      "rollout of %d of %d workloads in namespace '%s' did not finish (timeout %s):\n  %s",
      #bad, #workloads, s.namespace, s.rollout_timeout, table.concat(bad, "\n  ")),
      {workloads = results, namespace = s.namespace})
  end
  return results
end

local function versions_of(ctx, env)
  local versions = {}
  if ctx.manifest then
    local ok2, v = pcall(environments.versions, ctx.manifest)
    if ok2 and type(v) == "table" then for k, x in pairs(v) do versions[k] = x end end
  end
  return versions
end

--- driver.deploy(ctx, env) -> {revision, versions, detail = {release,
-- namespace, workloads}}. In a dry run: the read-only commands run (helm
-- dependency update, helm template for the diff), the rest are planned.
function M.deploy(ctx, env)
  local s = M.settings(env)
  dependencies(ctx, s)
  local argv = helm(s, "upgrade", "--install", "--cleanup-on-fail", "--create-namespace",
    "--namespace", s.namespace, s.release, s.chart)
  values_args(s, argv)
  for _, a in ipairs(s.extra_args) do argv[#argv + 1] = a end
  local res = run(ctx, s, argv, {check = false})
  local versions = versions_of(ctx, env)
  if res.planned then
    ctx:plan(string.format("wait for every deployment and daemonset of namespace %s to roll out (timeout %s each)",
      s.namespace, s.rollout_timeout))
    return {revision = nil, versions = versions, planned = true,
            detail = {release = s.release, namespace = s.namespace}}
  end
  if res.code ~= 0 then
    if (res.stderr or ""):find(M.HELM_BUSY, 1, true) then error(busy_error(s, res), 0) end
    error(failed("deploy", string.format("helm upgrade of release '%s' in namespace '%s' failed",
      s.release, s.namespace), res, {release = s.release, namespace = s.namespace}), 0)
  end
  local revision = tonumber(res.stdout:match("REVISION:%s*(%d+)"))
  local workloads = M.workloads(ctx, env)
  local results = M.wait_rollouts(ctx, env, workloads)
  return {revision = revision, versions = versions,
          detail = {release = s.release, namespace = s.namespace, workloads = results}}
end

-- ---- status ----------------------------------------------------------------

M.parse_time = kube.time

--- driver.status(ctx, env) -> {running, revision, versions, since, detail}
-- from `helm status RELEASE -o json`.
function M.status(ctx, env)
  local s = M.settings(env)
  local res = run(ctx, s, helm(s, "status", s.release, "--namespace", s.namespace, "-o", "json"),
    {readonly = true, check = false})
  if res.code ~= 0 then
    if (res.stderr or ""):find("not found", 1, true) then
      return {running = false, detail = {release = s.release, namespace = s.namespace}}
    end
    error(failed("status", "helm status " .. s.release .. " failed", res), 0)
  end
  local st = json.decode(res.stdout, {name = "helm status " .. s.release})
  local info = st.info or {}
  local chart = st.chart and st.chart.metadata or {}
  return {
    running = info.status == "deployed",
    revision = tonumber(st.version),
    versions = {chart = chart.version, app = chart.appVersion},
    since = kube.time(info.last_deployed),
    url = env.url,
    detail = {release = s.release, namespace = s.namespace, status = info.status,
              description = info.description},
  }
end

-- ---- stop ------------------------------------------------------------------

--- driver.stop(ctx, env): helm uninstall the release; nothing installed is
-- not an error.
function M.stop(ctx, env)
  local s = M.settings(env)
  local res = run(ctx, s, helm(s, "uninstall", s.release, "--namespace", s.namespace), {check = false})
  if res.code ~= 0 and not (res.stderr or ""):find("not found", 1, true) then
    error(failed("stop", "helm uninstall " .. s.release .. " failed", res), 0)
  end
end

-- ---- the deploy lock --------------------------------------------------------
-- A coordination.k8s.io/v1 Lease "slipway-lock-RELEASE" in the namespace,
-- taken and renewed as Kubernetes leader election does (slipway.state.lock):
-- renewed every `lock_renew` seconds (30) while the run lives, expiring
-- `lock_duration` seconds (120) after its holder stops renewing (killed), every
-- update guarded by the resourceVersion read (409 Conflict: the other wins).

local function holder_text(h)
  return string.format("%s (user %s@%s, pid %s, run %s, %s; renewed %s, expires %s)", tostring(h.identity),
    tostring(h.user), tostring(h.host), tostring(h.pid), tostring(h.run), tostring(h.command),
    h.renewed and os.date("!%H:%M:%SZ", math.floor(h.renewed)) or "?",
    h.expires and os.date("!%H:%M:%SZ", math.floor(h.expires)) or "?")
end
M.holder_text = holder_text

--- driver.lock(ctx, env, {break_lock =, wait =}) -> lock with :unlock().
-- Busy: raises code "locked" with holder = {identity, user, host, pid, run,
-- command, since, renewed, expires}. An expired Lease is taken over (logged
-- and journalled); break_lock takes a live holder's (journalled). Options:
-- lock_duration (120), lock_renew (30).
function M.lock(ctx, env, opts)
  opts = opts or {}
  local s = M.settings(env)
  local state = require "slipway.state"
  local me = journal.whoami()
  local lk = state.lock{kind = "kubernetes", namespace = s.namespace, name = s.lock_name,
    kubectl = s.kubectl, context = s.context, env = s.env,
    duration = tonumber(env.options.lock_duration) or 120, renew = tonumber(env.options.lock_renew) or 30,
    info = {user = me.user, host = me.host, pid = me.pid, run = ctx.run_id, command = ctx.command,
            env = env.name},
    log = function(level, fmt, ...) ctx:log(level, fmt, ...) end}
  local where = s.namespace .. "/" .. s.lock_name
  if ctx.dry_run then
    local h = lk:holder()
    if h and not h.expired and not opts.break_lock then
      ctx:plan("wait for the deploy lock (Lease " .. where .. "), held by " .. holder_text(h))
    end
    ctx:plan("take the deploy lock: Lease " .. where)
    return {unlock = function() end}
  end
  local ok, err = pcall(lk.acquire, lk, {wait = opts.wait, break_lock = opts.break_lock})
  if not ok and type(err) == "table" and err.code == "state"
     and tostring(err.message):find('namespaces "' .. s.namespace .. '" not found', 1, true) then
    -- first deploy: create the namespace helm would create, then take the lock
    local r = run(ctx, s, kubectl(s, {all_namespaces = true}, "create", "namespace", s.namespace), {check = false})
    if r.code ~= 0 and not (r.stderr or ""):find("already exists", 1, true) then
      error(failed("lock", "kubectl create namespace " .. s.namespace .. " failed", r), 0)
    end
    ok, err = pcall(lk.acquire, lk, {wait = opts.wait, break_lock = opts.break_lock})
  end
  if not ok then
    if type(err) == "table" and err.code == "locked" then
      core.raise("locked", string.format("environment '%s' is locked: Lease %s is held by %s; wait " ..
        "(--lock-wait), or pass --break-lock if that deploy is gone (an abandoned lease expires by itself)",
        env.name, where, holder_text(err.holder)), {holder = err.holder})
    end
    error(err, 0)
  end
  local taken = lk.broke or lk.took_expired
  if taken then
    ctx:log("warn", "%s deploy lock %s held by %s", lk.broke and "--break-lock: broke the" or "took over the expired",
      where, holder_text(taken))
    ctx.journal:record{type = "driver", driver = "kubernetes", action = "break_lock", env = env.name,
                       namespace = s.namespace, lock = s.lock_name, holder = taken,
                       expired = lk.took_expired and true or nil, forced = lk.broke and true or nil}
  end
  lk:start(function(e)
    ctx:log("error", "deploy lock %s LOST: %s -- another deploy may be running", where, tostring(e and e.message or e))
  end)
  return {unlock = function() lk:release() end, lease = lk, name = s.lock_name, namespace = s.namespace}
end

return M
