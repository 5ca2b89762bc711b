--- slipway.kube: what every user of a Kubernetes cluster needs, whatever
-- drives it (docs/kubernetes.md): an environment's settings, kubectl and helm
-- argv, Secret masking of rendered manifests, and API server timestamps.
-- The kubernetes driver, the runbook engine and the runbooks use it; it
-- depends on no driver.
--
--   local kube = require "slipway.kube"
--   local s = kube.settings(env)           -- {kubectl, helm, namespace, context, ...}
--   kube.kubectl(s, "get", "pods")         -- {kubectl, "get", "pods", "--context=..", "--namespace=NS"}
--   kube.age(pod.metadata.creationTimestamp) -- seconds, in any local time zone
local codec = require "slipway.codec"
local core = require "slipway.core"
local version = require "slipway.version"

local M = {}

local function opt(env, name, default)
  local o = env.options or {}
  if o[name] == nil then return default end
  return o[name]
end

--- kube.settings(env) -> {helm, kubectl, namespace, release, chart, values,
-- context, rollout_timeout, lock_name, dependency_update,
-- extra_args, env}: the `kubernetes:` options of env with their defaults;
-- namespace and release default to the environment's name; rollout_timeout
-- defaults to the environment's `timeout:` (kube.duration); `env` holds
-- KUBECONFIG when the environment's login names a kubeconfig file.
function M.settings(env)
  local release = env.release or env.name
  -- the login's kubeconfig is the KUBECONFIG of every command of env
  local extra = opt(env, "env", nil)
  if env.login and env.login.kubeconfig then
    local e = {}
    for k, v in pairs(extra or {}) do e[k] = v end
    e.KUBECONFIG = env.login.kubeconfig
    extra = e
  end
  -- rollout_timeout, else the environment's `timeout:` (seconds)
  local timeout = opt(env, "rollout_timeout", nil)
  if timeout == nil then timeout = M.duration(tonumber(env.timeout) or 600) end
  return {
    helm = opt(env, "helm", "helm"),
    kubectl = opt(env, "kubectl", "kubectl"),
    namespace = env.namespace or env.name,
    release = release,
    chart = env.chart,
    values = env.values or {},
    context = env.context,
    rollout_timeout = tostring(timeout),
    lock_name = "slipway-lock-" .. release,
    dependency_update = opt(env, "dependency_update", true),
    extra_args = opt(env, "extra_args", {}),
    env = extra,
  }
end

--- kube.duration(seconds) -> a duration as kubectl and helm write it:
-- "10m" for 600, "90s" for 90, "1h" for 3600.
function M.duration(seconds)
  seconds = math.floor(seconds)
  if seconds > 0 and seconds % 3600 == 0 then return (seconds // 3600) .. "h" end
  if seconds > 0 and seconds % 60 == 0 then return (seconds // 60) .. "m" end
  return seconds .. "s"
end

--- kube.helm(s, ...) -> argv {s.helm, ..., "--kube-context=CTX"} (the
-- context only when set).
function M.helm(s, ...)
  local argv = {s.helm, ...}
  if s.context then argv[#argv + 1] = "--kube-context=" .. s.context end
  return argv
end

--- kube.kubectl(s, ...) -> argv {s.kubectl, ..., "--context=CTX",
-- "--namespace=NS"}; after a first argument `{all_namespaces = true}`
-- the --namespace is left out (cluster-wide or --all-namespaces commands).
function M.kubectl(s, ...)
  local args = {...}
  local all = false
  if type(args[1]) == "table" then all = args[1].all_namespaces; table.remove(args, 1) end
  local argv = {s.kubectl, table.unpack(args)}
  if s.context then argv[#argv + 1] = "--context=" .. s.context end
  if not all then argv[#argv + 1] = "--namespace=" .. s.namespace end
  return argv
end

--- kube.run_opts(s, opts) -> a copy of opts (for ctx:run) with s.env (the
-- `env:` option: KUBECONFIG, HELM_*) as the command's extra environment.
function M.run_opts(s, opts)
  local o = {}
  for k, v in pairs(opts or {}) do o[k] = v end
  if s.env then o.env = s.env end
  return o
end

-- ---- time ----------------------------------------------------------------------

--- kube.time(t) -> seconds since the epoch of an API server timestamp
-- (RFC 3339: "2026-12-06T10:00:00Z", offsets, fractions), or nil. Read with
-- version.timestamp: the same in every local time zone.
function M.time(t)
  return version.timestamp(t)
end

--- kube.age(t [, now]) -> seconds since timestamp t (now: default
-- os.time()), or nil when t is not a timestamp.
function M.age(t, now)
  local s = M.time(t)
  if not s then return nil end
  return (now or os.time()) - s
end

-- ---- secrets in rendered manifests ---------------------------------------------

local function register(value, encoded, block)
  if type(value) ~= "string" then return end
  -- every value: the core masks one shorter than 6 bytes ("true", "1") only
  -- where a whole string equals it (docs/errors.md)
  core.secret(value)
  -- the lines of a block scalar (a key file, a script), as a log may show them
  if block then
    for l in value:gmatch("[^\n]+") do
      local t = l:gsub("^%s+", ""):gsub("%s+$", "")
      if #t >= 8 then core.secret(t) end
    end
  end
  if encoded then
    local d = codec.unbase64(value)
    if d then register(d, false) end
  end
end

--- Mask the values of every Secret's `data` and `stringData` in a stream of
-- rendered manifests (helm template / helm get manifest output), also
-- Secrets inside a `List`'s items. Found with the YAML node index (every
-- style: plain, quoted, block scalars, flow maps), each value's bytes become
-- '<masked #N>': N numbers the distinct values seen for that Secret key in
-- `memo` (share one memo between the before and after renders, so a
-- changed secret shows as a changed line and an unchanged one does not; the
-- value itself never appears). Every value is also registered as a secret
-- (core.secret), with its base64 decoding for `data`, so it is redacted
-- from logs and errors. Text that is not YAML raises code "deploy" (without
-- the text). Returns the masked text.
function M.mask_secrets(text, memo)
  memo = memo or {}
  local idx = require("slipway.yaml.core").index(text)
  if not idx then
    core.raise("deploy", "cannot mask Secrets: the rendered manifests are not valid YAML", nil, 2)
  end
  local cuts = {}
  local function cut(i, with)
    local n = idx:node(i)
    local e = n.stop
    while e > n.vstart and text:sub(e, e):match("[ \t\r\n]") do e = e - 1 end
    cuts[#cuts + 1] = {n.vstart, e, with}
  end
  local function value_of(map, key)
    local n = idx:node(map)
    if n.kind ~= "mapping" then return nil end
    local kids = idx:children(map)
    for k = 1, #kids, 2 do
      local kn = idx:node(kids[k])
      if kn.kind == "scalar" and kn.value == key then return kids[k + 1] end
    end
    return nil
  end
  local function scalar(i)
    if not i then return nil end
    local n = idx:node(i)
    if n.kind == "alias" then return scalar(idx:target(i)) end
    return n.kind == "scalar" and n.value or nil
  end
  local function token(secret, key, value)
    local slot = secret .. "\0" .. key
    local seen = memo[slot]
    if not seen then seen = {}; memo[slot] = seen end
    for i, v in ipairs(seen) do if v == value then return i end end
    seen[#seen + 1] = value
    return #seen
  end
  local function mask_value(name, key, v, encoded)
    local n = idx:node(v)
    local src = v
    if n.kind == "alias" then
      -- mask the anchored node too (its bytes hold the value)
      src = idx:target(v)
      if not src then cut(v, "'<masked>'"); return end
      mask_value(name, key, src, encoded)
      n = idx:node(src)
    end
    if n.kind == "scalar" then
      if n.style == "plain" and (n.value == "" or n.value == "null" or n.value == "~") then return end
      register(n.value, encoded, n.style == "literal" or n.style == "folded")
      cut(v, string.format("'<masked #%d>'", token(name, key, n.value)))
    else
      -- a nested structure: every scalar in it is registered, the whole masked
      for j = src, n.last or src do
        local m = idx:node(j)
        if m.kind == "scalar" then register(m.value, encoded) end
      end
      cut(v, "'<masked>'")
    end
  end
  local function visit(i, depth)
    local n = idx:node(i)
    if n.kind ~= "mapping" or depth > 8 then return end
    local kind = scalar(value_of(i, "kind"))
    if kind == "Secret" then
      local meta = value_of(i, "metadata")
      local name = (meta and scalar(value_of(meta, "name"))) or "?"
      for _, section in ipairs{"data", "stringData"} do
        local sec = value_of(i, section)
        if sec then
          local sn = idx:node(sec)
          if sn.kind == "mapping" then
            local kids = idx:children(sec)
            for k = 1, #kids, 2 do
              mask_value(name, scalar(kids[k]) or "?", kids[k + 1], section == "data")
            end
          else
            mask_value(name, section, sec, section == "data")
          end
        end
      end
    elseif kind and kind:match("List$") then
      local items = value_of(i, "items")
      if items and idx:node(items).kind == "sequence" then
        for _, it in ipairs(idx:children(items)) do visit(it, depth + 1) end
      end
    end
  end
  for _, d in ipairs(idx:docs()) do
    local root = idx:children(d)[1]
    if root then visit(root, 0) end
  end
  if #cuts == 0 then return text end
  table.sort(cuts, function(a, b) return a[1] > b[1] end)
  local out = text
  local floor = math.huge
  for _, c in ipairs(cuts) do
    -- an alias and its anchored node may both be listed: cut each byte once
    if c[2] < floor then
      out = out:sub(1, c[1] - 1) .. c[3] .. out:sub(c[2] + 1)
      floor = c[1]
    end
  end
  return out
end

return M
