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
--
-- An environment may declare several `releases` (each with chart, version,
-- namespace, values, set, flags, wait), `hooks` before and after helm, and
-- a `login` (kubeconfig file and/or commands); slipway.environments checks
-- them, this driver runs them (docs/kubernetes.md "Releases, hooks, login").
local codec = require "slipway.codec"
local core = require "slipway.core"
local task = require "slipway.task"
local json = require "slipway.json"
local kube = require "slipway.kube"
local environments = require "slipway.environments"
local journal = require "slipway.journal"

local M = {}
local version_exact

M.HELM_BUSY = "another operation (install/upgrade/rollback) is in progress"

--- The `kubernetes:` options as they are read today (kube.settings);
-- validated when slipway.yaml is loaded (drivers.check).
M.options = {
  helm = {type = "string", nonempty = true}, kubectl = {type = "string", nonempty = true},
  rollout_timeout = {type = {"string", "number"}},
  lock_duration = {type = "number", above = 0}, lock_renew = {type = "number", above = 0},
  dependency_update = {type = "boolean"}, extra_args = {type = "list", of = "string"},
  env = {type = "map", of = "string"},
}

-- ---- settings ----------------------------------------------------------------
-- (slipway.kube: settings, argv, Secret masking, timestamps; shared with the
-- runbook engine, which does not depend on this driver)

--- The resolved settings of env (kube.settings) -- the driver needs `chart`
-- or `releases`.
function M.settings(env)
  local s = kube.settings(env)
  if (type(s.chart) ~= "string" or s.chart == "") and not env.releases then
    core.raise("manifest", "environment '" .. tostring(env.name) .. "': the kubernetes driver needs `chart` or `releases`")
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

-- an exact version (1.2.3, 1.0.0-0.dev.git.3983.h383374de), not a range
function version_exact(v)
  return v:find("^v?%d+%.%d+%.%d+[%w.+-]*$") ~= nil
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

-- whether CHART/charts already holds every dependency of Chart.yaml at the
-- exact version it names (what `helm dependency update` would download): then
-- the update is skipped, so a chart whose dependencies CI fetched deploys
-- without the chart repositories. A range or a missing entry means update.
local function dependencies_present(chart)
  local fs = require "slipway.fs"
  local ok, meta = pcall(function() return require("slipway.yaml").load_file(chart .. "/Chart.yaml") end)
  if not ok or type(meta) ~= "table" or type(meta.dependencies) ~= "table" then return false end
  for _, d in ipairs(meta.dependencies) do
    local name, v = d.name, d.version and tostring(d.version)
    if type(name) ~= "string" or not v or not version_exact(v) then return false end
    local dir = chart .. "/charts/" .. name .. "/Chart.yaml"
    local found = fs.exists(chart .. "/charts/" .. name .. "-" .. v .. ".tgz")
    if not found and fs.exists(dir) then
      local ok2, sub = pcall(require("slipway.yaml").load_file, dir)
      found = ok2 and type(sub) == "table" and tostring(sub.version) == v
    end
    if not found then return false end
  end
  return true
end

local function dependencies(ctx, s)
  if not s.dependency_update then return end
  local done = deps_done[ctx]
  if not done then done = {}; deps_done[ctx] = done end
  if done[s.chart] then return end
  if dependencies_present(s.chart) then
    ctx:log("debug", "helm dependency update %s: every dependency is in charts/ at its version", s.chart)
    done[s.chart] = true
    return
  end
  local res = run(ctx, s, {s.helm, "dependency", "update", s.chart}, {readonly = true, check = false})
  if res.code ~= 0 then
    error(failed("deploy", "helm dependency update " .. s.chart .. " failed", res), 0)
  end
  done[s.chart] = true
end
M.dependencies = function(ctx, env)
  for _, r in ipairs(M.releases(ctx, env)) do
    if r.is_local then dependencies(ctx, r) end
  end
end

-- ---- releases --------------------------------------------------------------

local function copy(t)
  local o = {}
  for k, v in pairs(t) do o[k] = v end
  return o
end

local function isabs(p) return p:sub(1, 1) == "/" end

--- kubernetes.releases(ctx, env) -> the releases of env in order, each the
-- environment's settings (kube.settings) with release, namespace, chart
-- (absolute for a directory; oci://... or a `repo` chart as written),
-- repo, version, values (absolute paths, resolved now: globs, optional
-- files, ${VAR} from env_files and the environment), set ({"K=V"}), flags,
-- wait, cleanup_on_fail, before, after, is_local. An environment with only
-- `chart` has one release.
function M.releases(ctx, env)
  local s = M.settings(env)
  local base = copy(s)
  base.set, base.flags, base.before, base.after = {}, {}, {}, {}
  base.wait, base.cleanup_on_fail = true, true
  if not env.releases or not env.manifest then
    base.is_local = not (s.chart or ""):find("^oci://")
    return {base}
  end
  local envs = require "slipway.environments"
  local m = env.manifest
  local out = {}
  for i, rel in ipairs(env.releases) do
    local where = "environments." .. env.name .. (rel.implicit and "" or (".releases[" .. i .. "]"))
    local function x(v, k) return v and envs.expand(v, where .. "." .. k, m) end
    local r = copy(base)
    r.release = x(rel.name, "name")
    r.namespace = x(rel.namespace, "namespace")
    r.lock_name = s.lock_name
    r.repo = x(rel.repo, "repo")
    r.version = x(rel.version, "version")
    local chart = x(rel.chart, "chart")
    if chart:find("^oci://") or r.repo then
      r.chart, r.is_local = chart, false
    else
      r.chart, r.is_local = isabs(chart) and chart or (m.root .. "/" .. chart), true
    end
    r.values = envs.resolve_values(m, rel.values, where .. ".values")
    r.set, r.flags = {}, {}
    for j, v in ipairs(rel.set) do r.set[j] = x(v, "set") end
    for j, v in ipairs(rel.flags) do r.flags[j] = x(v, "flags") end
    r.wait, r.cleanup_on_fail = rel.wait, rel.cleanup_on_fail
    r.before, r.after = rel.before, rel.after
    r.title = rel.description
    out[i] = r
  end
  return out
end

-- chart, --repo, --version, -f ..., --set ... of a release
local function chart_args(r, argv)
  if r.repo then argv[#argv + 1] = "--repo"; argv[#argv + 1] = r.repo end
  if r.version then argv[#argv + 1] = "--version"; argv[#argv + 1] = r.version end
  return argv
end
local function set_args(r, argv)
  values_args(r, argv)
  for _, v in ipairs(r.set or {}) do argv[#argv + 1] = "--set"; argv[#argv + 1] = v end
  return argv
end

-- ---- login and hooks ---------------------------------------------------------

local prepared = setmetatable({}, {__mode = "k"})
local hooks_done = setmetatable({}, {__mode = "k"})
local lua_hooks = {}

local function root_of(ctx, env) return (env.manifest and env.manifest.root) or ctx.root end

-- the files git reports as changed or untracked (not ignored), with their
-- contents: what a dry-run hook must leave as it found it
local function tracked_state(ctx, root)
  local out, res = require("slipway.build").changes(ctx, root, {untracked = true})
  if res.code ~= 0 then
    error(failed("deploy", "cannot check what a dry-run hook writes: git status in " .. root .. " failed", res), 0)
  end
  return out
end

local function check_tracked(ctx, root, before, label)
  local after = tracked_state(ctx, root)
  local bad = {}
  for p, v in pairs(after) do if before[p] ~= v then bad[#bad + 1] = p end end
  for p in pairs(before) do if after[p] == nil then bad[#bad + 1] = p end end
  if #bad > 0 then
    table.sort(bad)
    core.raise("deploy", string.format("dry run: %s changed files the repository does not ignore: %s " ..
      "(a hook marked dry_run may write only files the repository ignores, such as generated values)",
      label, table.concat(bad, ", ")), {files = bad})
  end
end

local function load_lua_hook(root, hook)
  local path = root .. "/" .. hook.lua
  local mod = lua_hooks[path]
  if not mod then
    local chunk, err = loadfile(path)
    if not chunk then core.raise("manifest", "hook " .. hook.lua .. ": " .. tostring(err)) end
    mod = chunk()
    if type(mod) ~= "table" then core.raise("manifest", "hook " .. hook.lua .. " must return a table of functions") end
    lua_hooks[path] = mod
  end
  local fn = mod[hook.fn]
  if type(fn) ~= "function" then
    core.raise("manifest", "hook " .. hook.lua .. " has no function " .. hook.fn)
  end
  return fn
end

-- run one hook. opts: always (login: also in a dry run), release, phase
local function run_hook(ctx, env, s, hook, opts)
  local root = root_of(ctx, env)
  local label = opts.phase .. " hook " .. hook.name
  local live = (not ctx.dry_run) or hook.dry_run or opts.always
  local envs = require "slipway.environments"
  local function expand_argv(argv)
    local out = {}
    for i, a in ipairs(argv) do out[i] = envs.expand(a, "hook " .. hook.name, env.manifest) end
    return out
  end
  if not live then
    if hook.argv then
      run(ctx, s, expand_argv(hook.argv), {cwd = root, check = false})
    else
      ctx:plan(string.format("run %s (Lua %s:%s)", label, hook.lua, hook.fn))
    end
    return
  end
  local snapshot = ctx.dry_run and not opts.always and tracked_state(ctx, root)
  if ctx.dry_run then
    ctx:plan(string.format("run %s now (%s: it writes only files the repository ignores)", label,
      opts.always and "a login" or "dry_run: true"))
  end
  local readonly = ctx.dry_run and true or nil
  if hook.argv then
    local argv = expand_argv(hook.argv)
    local res = run(ctx, s, argv, {cwd = root, check = false, readonly = readonly})
    if res.code ~= 0 then
      error(failed("deploy", string.format("%s of %s failed: %s exited with %s", label, env.name,
        argv[1], tostring(res.code)), res, {hook = hook.name}), 0)
    end
  else
    local fn = load_lua_hook(root, hook)
    local h = {root = root, name = hook.name, env = s.env, release = opts.release, dry_run = ctx.dry_run,
               run = function(argv, o)
                 o = o and copy(o) or {}
                 o.cwd = o.cwd or root
                 if readonly then o.readonly = true end
                 return run(ctx, s, argv, o)
               end}
    fn(ctx, env, h)
  end
  if snapshot then check_tracked(ctx, root, snapshot, label) end
end

-- run a list of hooks once per context; only_dry: only those marked dry_run.
-- opts.after_dry: called before a hook that follows a hook marked dry_run
-- (it waits for prepare_files, which runs those)
local function run_hooks(ctx, env, s, list, phase, opts)
  opts = opts or {}
  local done = hooks_done[ctx]
  if not done then done = {}; hooks_done[ctx] = done end
  local dry_before = false
  for _, hook in ipairs(list or {}) do
    if not done[hook] and (not opts.only_dry or hook.dry_run) then
      if dry_before and opts.after_dry then opts.after_dry() end
      done[hook] = true
      run_hook(ctx, env, s, hook, {phase = phase, release = opts.release})
    end
    dry_before = dry_before or hook.dry_run
  end
end

--- kubernetes.prepare(ctx, env): the environment's login, once per context
-- (every other function calls it first): its `login.run` commands run, also
-- in a dry run (they write credentials, which the dry run needs to read the
-- cluster, and nothing in the repository); `login.kubeconfig` is the
-- KUBECONFIG of every command of env (kube.settings). Tasks of one run that
-- call it at once (stage takes the lock while prepare_files runs) all wait
-- for the one login, and all raise its error.
function M.prepare(ctx, env)
  local p = prepared[ctx]
  if not p then p = {}; prepared[ctx] = p end
  local login = p[env.name]
  if not login then
    if not env.login then p[env.name] = true; return end
    if env.login.kubeconfig and ctx.dry_run then
      ctx:plan("use KUBECONFIG=" .. (env.login.kubeconfig_rel or env.login.kubeconfig) .. " for every command (login)")
    end
    if not env.login.run or #env.login.run == 0 then p[env.name] = true; return end
    local s = kube.settings(env)
    login = task.spawn(function()
      for _, hook in ipairs(env.login.run) do
        run_hook(ctx, env, s, hook, {phase = "login", always = true})
      end
    end)
    p[env.name] = login
  end
  if login == true then return end
  local waited, ok, err = pcall(login.wait, login)
  if not waited then login:cancel(); error(ok, 0) end  -- (we were cancelled: so is the login)
  if not ok then error(err, 0) end
end

--- kubernetes.prepare_files(ctx, env): the login, then the environment's
-- `before` hooks marked dry_run (they write only files the repository
-- ignores, such as generated values, and need no lock: a dry run runs them
-- without one). stage runs it while it takes the deploy lock and passes its
-- task to deploy, which runs the other `before` hooks in their order: those
-- listed before any dry_run hook at once, the rest after prepare_files has
-- ended; the releases after it too. (A release's own hooks keep their
-- place, just before its helm upgrade.)
function M.prepare_files(ctx, env)
  M.prepare(ctx, env)
  if env.hooks then run_hooks(ctx, env, M.settings(env), env.hooks.before, "before", {only_dry = true}) end
end

-- ---- render ----------------------------------------------------------------

local function header(r)
  return string.format("# ---- release %s (namespace %s, chart %s%s)\n", r.release, r.namespace,
    r.is_local and r.chart:match("([^/]+)$") or r.chart, r.version and (" " .. r.version) or "")
end

-- the hooks whose output the render needs (marked dry_run), then the releases
local function releases_for_render(ctx, env)
  local s = M.settings(env)
  M.prepare(ctx, env)
  if env.hooks then run_hooks(ctx, env, s, env.hooks.before, "before", {only_dry = true}) end
  local list = M.releases(ctx, env)
  for _, r in ipairs(list) do
    run_hooks(ctx, env, r, r.before, "before " .. r.release, {only_dry = true, release = r})
  end
  return M.releases(ctx, env)
end

--- driver.render(ctx, env) -> the manifests `helm template` renders for env
-- (every release, each after a "# ---- release NAME" line), Secret data
-- masked. Read-only: runs in a dry run, with the hooks marked dry_run first.
function M.render(ctx, env)
  local list = releases_for_render(ctx, env)
  local parts = {}
  for _, r in ipairs(list) do
    if r.is_local then dependencies(ctx, r) end
    local argv = set_args(r, chart_args(r, helm(r, "template", r.release, r.chart, "--namespace", r.namespace)))
    local res = run(ctx, r, argv, {readonly = true, check = false})
    if res.code ~= 0 then
      error(failed("deploy", "helm template of " .. env.name .. (#list > 1 and (" release " .. r.release) or "") ..
        " failed", res), 0)
    end
    parts[#parts + 1] = (#list > 1 and header(r) or "") .. M.mask_secrets(res.stdout, memo_of(ctx))
  end
  return table.concat(parts, #list > 1 and "\n" or "")
end

--- kubernetes.lint(ctx, env) -> helm lint's output; raises code "deploy"
-- when a chart with env's values does not lint. Read-only.
function M.lint(ctx, env)
  local out = {}
  for _, r in ipairs(releases_for_render(ctx, env)) do
    if r.is_local then
      dependencies(ctx, r)
      local res = run(ctx, r, set_args(r, {r.helm, "lint", r.chart}), {readonly = true, check = false})
      if res.code ~= 0 then
        error(failed("deploy", "helm lint of " .. env.name .. " failed", res, {output = res.stdout}), 0)
      end
      out[#out + 1] = res.stdout
    end
  end
  return table.concat(out)
end

--- driver.rendered(ctx, env) -> what is deployed now (helm get manifest of
-- every release, headed as render's), Secret data masked; nil when none of
-- the releases exists.
function M.rendered(ctx, env)
  M.prepare(ctx, env)
  local list = env.releases and M.releases(ctx, env) or {M.settings(env)}
  local parts, any = {}, false
  for _, r in ipairs(list) do
    local res = run(ctx, r, helm(r, "get", "manifest", r.release, "--namespace", r.namespace),
      {readonly = true, check = false})
    local text = ""
    if res.code ~= 0 then
      if not (res.stderr or ""):find("not found", 1, true) then
        error(failed("deploy", "helm get manifest " .. r.release .. " failed", res), 0)
      end
    else
      any = true
      text = M.mask_secrets(res.stdout, memo_of(ctx))
    end
    if #list > 1 then
      r.is_local = r.is_local ~= false and not (r.chart or ""):find("^oci://")
      text = header(r) .. text
    end
    parts[#parts + 1] = text
  end
  if not any then return nil end
  return table.concat(parts, #list > 1 and "\n" or "")
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

local function workloads_in(ctx, s)
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

local function with_namespace(s, ns)
  if not ns or ns == s.namespace then return s end
  local c = copy(s)
  c.namespace = ns
  return c
end

--- The workloads of the namespace (`kubectl get deployments,daemonsets -o
-- name`): a list like {"deployment.apps/hub", "daemonset.apps/cleaner"}.
-- namespace: default the environment's.
function M.workloads(ctx, env, namespace)
  M.prepare(ctx, env)
  return workloads_in(ctx, with_namespace(M.settings(env), namespace))
end

local function wait_in(ctx, s, workloads)
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

--- Wait for every workload's rollout, concurrently (kubectl rollout status
-- --timeout --watch). Returns the list of results {name, ok, seconds,
-- output}; raises code "timeout" (a rollout timed out) or "deploy" naming
-- every workload that did not roll out. namespace: default the environment's.
function M.wait_rollouts(ctx, env, workloads, namespace)
  M.prepare(ctx, env)
  return wait_in(ctx, with_namespace(M.settings(env), namespace), workloads)
end

local function versions_of(ctx, env)
  local versions = {}
  if ctx.manifest then
    local ok2, v = pcall(environments.versions, ctx.manifest)
    if ok2 and type(v) == "table" then for k, x in pairs(v) do versions[k] = x end end
  end
  return versions
end

-- helm upgrade of one release, then its rollouts
local function deploy_release(ctx, env, r)
  run_hooks(ctx, env, r, r.before, "before " .. r.release, {release = r})
  if r.is_local then dependencies(ctx, r) end
  local argv = helm(r, "upgrade", "--install")
  if r.cleanup_on_fail then argv[#argv + 1] = "--cleanup-on-fail" end
  argv[#argv + 1] = "--create-namespace"
  for _, a in ipairs{"--namespace", r.namespace, r.release, r.chart} do argv[#argv + 1] = a end
  set_args(r, chart_args(r, argv))
  for _, a in ipairs(r.flags or {}) do argv[#argv + 1] = a end
  for _, a in ipairs(r.extra_args or {}) do argv[#argv + 1] = a end
  local res = run(ctx, r, argv, {check = false})
  local out = {release = r.release, namespace = r.namespace, chart = r.chart, version = r.version}
  if res.planned then
    if r.wait then
      ctx:plan(string.format("wait for every deployment and daemonset of namespace %s to roll out (timeout %s each)",
        r.namespace, r.rollout_timeout))
    end
    run_hooks(ctx, env, r, r.after, "after " .. r.release, {release = r})
    return out
  end
  if res.code ~= 0 then
    if (res.stderr or ""):find(M.HELM_BUSY, 1, true) then error(busy_error(r, res), 0) end
    error(failed("deploy", string.format("helm upgrade of release '%s' in namespace '%s' failed",
      r.release, r.namespace), res, {release = r.release, namespace = r.namespace}), 0)
  end
  out.revision = tonumber(res.stdout:match("REVISION:%s*(%d+)"))
  if r.wait then out.workloads = wait_in(ctx, r, workloads_in(ctx, r)) end
  run_hooks(ctx, env, r, r.after, "after " .. r.release, {release = r})
  return out
end

--- driver.deploy(ctx, env [, opts]) -> {revision, versions, detail = {release,
-- namespace, workloads, releases = {{release, namespace, chart, version,
-- revision, workloads}}}}: the login, the `before` hooks, then every release
-- in order (its own before hooks, helm upgrade, the rollouts of its
-- namespace unless wait: false, its after hooks), then the `after` hooks.
-- opts.files: the task running prepare_files (stage's): the hooks it ran
-- are skipped, and it is waited for (its error raised) before a hook listed
-- after one of them and before the releases.
-- In a dry run: the read-only commands and the hooks marked dry_run run
-- (helm dependency update, helm template for the diff), the rest are planned.
function M.deploy(ctx, env, opts)
  local s = M.settings(env)
  M.prepare(ctx, env)
  local files = opts and opts.files
  local function files_done()
    if not files then return end
    local ok, err = files:wait()
    files = nil
    if not ok then error(err, 0) end
  end
  if env.hooks then run_hooks(ctx, env, s, env.hooks.before, "before", {after_dry = files_done}) end
  files_done()
  local results, main = {}, nil
  for i, r in ipairs(M.releases(ctx, env)) do
    results[i] = deploy_release(ctx, env, r)
    if r.release == s.release and r.namespace == s.namespace then main = results[i] end
  end
  if env.hooks then run_hooks(ctx, env, s, env.hooks.after, "after") end
  main = main or results[#results]
  local versions = versions_of(ctx, env)
  local detail = {release = main.release, namespace = main.namespace, workloads = main.workloads,
                  releases = results}
  if ctx.dry_run then
    return {revision = nil, versions = versions, planned = true, detail = detail}
  end
  return {revision = main.revision, versions = versions, detail = detail}
end

-- ---- status ----------------------------------------------------------------

M.parse_time = kube.time

--- driver.status(ctx, env) -> {running, revision, versions, since, detail}
-- from `helm status RELEASE -o json`.
function M.status(ctx, env)
  local s = M.settings(env)
  M.prepare(ctx, env)
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
  M.prepare(ctx, env)
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

--- driver.lock(ctx, env, {break_lock =, wait =, give_up =}) -> lock with :unlock().
-- Busy: raises code "locked" with holder = {identity, user, host, pid, run,
-- command, since, renewed, expires}. An expired Lease is taken over (logged
-- and journalled); break_lock takes a live holder's (journalled). give_up:
-- a function called before each pause of the wait; an error it returns
-- ends the wait, raised as it is. Options: lock_duration (120), lock_renew (30).
function M.lock(ctx, env, opts)
  opts = opts or {}
  local s = M.settings(env)
  M.prepare(ctx, env)
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
  local ok, err = pcall(lk.acquire, lk, {wait = opts.wait, break_lock = opts.break_lock, give_up = opts.give_up})
  if not ok and type(err) == "table" and err.code == "state"
     and tostring(err.message):find('namespaces "' .. s.namespace .. '" not found', 1, true) then
    -- first deploy: create the namespace helm would create, then take the lock
    local r = run(ctx, s, kubectl(s, {all_namespaces = true}, "create", "namespace", s.namespace), {check = false})
    if r.code ~= 0 and not (r.stderr or ""):find("already exists", 1, true) then
      error(failed("lock", "kubectl create namespace " .. s.namespace .. " failed", r), 0)
    end
    ok, err = pcall(lk.acquire, lk, {wait = opts.wait, break_lock = opts.break_lock, give_up = opts.give_up})
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
