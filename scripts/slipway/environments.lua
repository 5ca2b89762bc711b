--- slipway.environments: the `environments` and `stages` of slipway.yaml.
--
--   local environments = require "slipway.environments"
--   local m = environments.load_manifest(dir)       -- slipway.manifest + envs
--   local envs = environments.load(m)               -- {by_name=, list=, stages=}
--   local env = envs.by_name.staging
--   environments.merged_values(env)                 -- helm-style merge of values
--   environments.versions(m)                        -- {binderhub = "1.0.0-...", ...}
--
-- An environment (docs/environments.md):
--   environments:
--     staging:
--       driver: local                 # local (default) | kubernetes | your own
--       chart: mybinder               # chart directory (relative to the repo)
--       values: [mybinder/values.yaml, config/staging.yaml]  # merged in order
--       url: http://127.0.0.1:18081   # optional for local (the driver knows it)
--       context: ..., namespace: ..., release: ...   # kubernetes (default: name)
--       experimental: false           # a failure here does not fail the run
--       checks: [...]                 # slipway.checks
--       local: {command: [...], health: /health, ...}   # the driver's options
--   stages:
--     staging: staging                # tested before promotion
--     production: [prod, prod-b]      # promoted together, in parallel
--     revert: {push: false, remote: origin, branch: null}
--
-- Strings may use ${VAR} and ${VAR:-default} (the process environment; an
-- unset VAR without default is an error naming the key).
local manifest = require "slipway.manifest"
local json = require "slipway.json"
local yaml = require "slipway.yaml"
local raise = require("slipway.errors").fail

local M = {}
local load_kubernetes   -- (below)

M.DRIVER_KEYS = {["local"] = true, kubernetes = true}
local KNOWN = {driver = true, chart = true, values = true, url = true, context = true,
               namespace = true, release = true, experimental = true, checks = true,
               tests = true, timeout = true, description = true, template = true,
               releases = true, hooks = true, login = true}
local RELEASE_KEYS = {name = true, chart = true, version = true, repo = true, namespace = true,
                      values = true, set = true, flags = true, wait = true, cleanup_on_fail = true,
                      before = true, after = true, description = true}
local HOOK_KEYS = {name = true, run = true, lua = true, fn = true, dry_run = true, description = true}

-- raise code "manifest" for keypath (a path string, or a list of keys) of
-- manifest m, naming slipway.yaml's line and column when m has its text
local manifest_mod
local function fail(m, keypath, msg)
  manifest_mod = manifest_mod or require "slipway.manifest"
  manifest_mod.fail(m or {}, keypath, msg)
end

--- The variables of the manifest's `env_files` (KEY=value files such as
-- cert-manager.env), read now from the working tree: {NAME = value}; a later
-- file wins over an earlier one. A missing file raises code "manifest".
function M.file_vars(m)
  local out = {}
  for _, f in ipairs((m and m.env_files) or {}) do
    local fs = require "slipway.fs"
    if not fs.exists(f.file) then
      raise("manifest", (m.display or "slipway.yaml") .. ": env_files: " .. f.relfile .. " does not exist")
    end
    for k, v in pairs((require("slipway.env").read_file(f.file))) do out[k] = v end
  end
  return out
end

--- Expand ${VAR} and ${VAR:-default} in s; `where` names the key in errors.
-- VAR comes from the manifest's env_files first (what is committed is what
-- is deployed), then the process environment.
function M.expand(s, where, m)
  if type(s) ~= "string" then return s end
  local file_vars
  return (s:gsub("%${([%w_]+)(:?%-?)([^}]*)}", function(name, op, default)
    file_vars = file_vars or M.file_vars(m)
    local v = file_vars[name]
    if v == nil then v = os.getenv(name) end
    if (v == nil or v == "") and op == ":-" then return default end
    if v == nil then
      if op == ":-" then return default end
      fail(m or {}, where, "${" .. name .. "} is not set (write ${" .. name .. ":-default} for a default)")
    end
    return v
  end))
end

local function expand_deep(v, where, m)
  if type(v) == "string" then return M.expand(v, where, m) end
  if type(v) ~= "table" then return v end
  local out = {}
  for k, x in pairs(v) do out[k] = expand_deep(x, where .. "." .. tostring(k), m) end
  return out
end
M.expand_deep = expand_deep

local function isabs(p) return p:sub(1, 1) == "/" end

--- Load slipway.yaml of the repository at dir: slipway.manifest's result
-- (root, path, state_dir, components, environments, stages, notify, raw).
function M.load_manifest(dir)
  return manifest.load(dir)
end

--- Validate the environments and stages of a loaded manifest. Returns
-- {list = {env...} (sorted by name), by_name = {}, stages = {staging = name,
-- production = {names}, revert = {push, remote, branch}}}.
function M.load(m)
  local raw = m.environments
  if raw == nil then fail(m, "environments", "missing (slipway deploy needs at least one)") end
  if type(raw) ~= "table" then fail(m, "environments", "must be a mapping of name -> environment") end
  local out = {list = {}, by_name = {}}
  -- in name order, so that the first mistake reported is always the same
  local names = {}
  for name in pairs(raw) do names[#names + 1] = name end
  table.sort(names, function(a, b) return tostring(a) < tostring(b) end)
  for _, name in ipairs(names) do
    local e = raw[name]
    local kp = "environments." .. tostring(name)
    if type(name) ~= "string" or not name:match("^[%w][%w_.%-]*$") then
      fail(m, kp, "bad environment name (letters, digits, - _ .)")
    end
    if type(e) ~= "table" then fail(m, kp, "must be a mapping") end
    e = M.apply_templates(m, name, e)
    for k in pairs(e) do
      if not KNOWN[k] and not M.DRIVER_KEYS[k] and k ~= e.driver then
        fail(m, kp .. "." .. tostring(k), "unknown key (known: driver, chart, values, url, context, " ..
          "namespace, release, experimental, checks, tests, timeout, local, kubernetes)")
      end
    end
    local env = {name = name, raw = e}
    env.driver = e.driver or "local"
    if type(env.driver) ~= "string" then fail(m, kp .. ".driver", "must be a string") end
    local chart = M.expand(e.chart or ".", kp .. ".chart", m)
    env.chart = isabs(chart) and chart or (m.root .. "/" .. chart)
    env.chart_rel = chart
    local values = e.values or {}
    if type(values) == "string" then values = {values} end
    if type(values) ~= "table" then fail(m, kp .. ".values", "must be a list of files") end
    env.values, env.values_rel = {}, {}
    for i, v in ipairs(values) do
      if type(v) == "table" and type(v.file) == "string" then
        -- {file, optional}: listed when it exists (resolved again at deploy time)
        local f = M.expand(v.file, kp .. ".values", m)
        local abs = isabs(f) and f or (m.root .. "/" .. f)
        if not v.optional or require("slipway.fs").exists(abs) then
          env.values_rel[#env.values_rel + 1] = f
          env.values[#env.values + 1] = abs
        end
      elseif type(v) ~= "string" then
        fail(m, kp .. ".values[" .. (i - 1) .. "]", "must be a file name")
      else
        v = M.expand(v, kp .. ".values", m)
        if v:find("[*?%[]") then
          for _, p in ipairs(require("slipway.fs").glob(isabs(v) and v or (m.root .. "/" .. v))) do
            env.values[#env.values + 1] = p
            env.values_rel[#env.values_rel + 1] = p:sub(#m.root + 2)
          end
        else
          env.values_rel[#env.values_rel + 1] = v
          env.values[#env.values + 1] = isabs(v) and v or (m.root .. "/" .. v)
        end
      end
    end
    env.url = e.url and M.expand(e.url, kp .. ".url", m)
    if env.url and not env.url:match("^https?://") then fail(m, kp .. ".url", "must be an http(s) URL") end
    env.url = env.url and env.url:gsub("/+$", "")
    env.context = e.context and M.expand(e.context, kp .. ".context", m)
    env.namespace = M.expand(e.namespace or name, kp .. ".namespace", m)
    env.release = M.expand(e.release or name, kp .. ".release", m)
    env.experimental = e.experimental == true
    if e.experimental ~= nil and type(e.experimental) ~= "boolean" then
      fail(m, kp .. ".experimental", "must be true or false")
    end
    env.timeout = e.timeout or 600
    if type(env.timeout) ~= "number" then fail(m, kp .. ".timeout", "must be seconds") end
    env.options = expand_deep(e[env.driver] or {}, kp .. "." .. env.driver, m)
    local checks = require "slipway.checks"
    env.checks = checks.validate(e.checks or {}, kp .. ".checks", m)
    local tests = e.tests or {}
    if type(tests) == "string" then tests = {tests} end
    for _, t in ipairs(tests) do
      env.checks[#env.checks + 1] = checks.validate({{name = t, lua = t}}, kp .. ".tests", m)[1]
    end
    if env.driver == "kubernetes" or e.releases or e.hooks or e.login then
      load_kubernetes(m, name, e, env)
    end
    env.manifest = m
    out.by_name[name] = env
    out.list[#out.list + 1] = env
  end
  table.sort(out.list, function(a, b) return a.name < b.name end)
  -- stages
  local st = m.stages or {}
  if type(st) ~= "table" then fail(m, "stages", "must be a mapping") end
  local stages = {}
  stages.staging = st.staging
  if stages.staging == nil then
    if out.by_name.staging then stages.staging = "staging"
    elseif #out.list == 1 then stages.staging = out.list[1].name end
  end
  if stages.staging ~= nil and not out.by_name[stages.staging] then
    fail(m, "stages.staging", "'" .. tostring(stages.staging) .. "' is not an environment")
  end
  local prod = st.production
  if prod == nil then
    prod = {}
    for _, e in ipairs(out.list) do if e.name ~= stages.staging then prod[#prod + 1] = e.name end end
  elseif type(prod) == "string" then
    prod = {prod}
  elseif type(prod) ~= "table" then
    fail(m, "stages.production", "must be a list of environments")
  end
  for i, n in ipairs(prod) do
    if not out.by_name[n] then
      fail(m, "stages.production[" .. (i - 1) .. "]", "'" .. tostring(n) .. "' is not an environment")
    end
    if n == stages.staging then fail(m, "stages.production", "staging cannot also be production") end
  end
  stages.production = prod
  local rv = st.revert or {}
  if type(rv) ~= "table" then fail(m, "stages.revert", "must be a mapping") end
  stages.revert = {push = rv.push == true, remote = rv.remote or "origin", branch = rv.branch}
  out.stages = stages
  return out
end

-- ---- templates, releases, hooks, login ----------------------------------------


local function is_list(t)
  if type(t) ~= "table" then return false end
  if t[1] ~= nil then return true end
  return getmetatable(t) == require("slipway.yaml").sequence_mt
end

-- a template merge: maps key by key, lists and scalars replace
local function tmerge(a, b)
  if type(a) ~= "table" or type(b) ~= "table" or is_list(a) or is_list(b) then return b end
  local out = {}
  for k, v in pairs(a) do out[k] = v end
  for k, v in pairs(b) do out[k] = tmerge(out[k], v) end
  return out
end

local function subst_env(v, name)
  if type(v) == "string" then return (v:gsub("{{%s*env%s*}}", function() return name end)) end
  if type(v) ~= "table" then return v end
  local out = setmetatable({}, getmetatable(v))
  for k, x in pairs(v) do out[k] = subst_env(x, name) end
  return out
end

--- environments.apply_templates(m, name, e) -> the environment e of
-- slipway.yaml with its `template:` (a name or a list of names under the
-- top-level `templates:`, each of which may name templates too) merged
-- under its own keys -- maps merge key by key, lists and scalars replace --
-- and `{{env}}` replaced by the environment's name in every string.
function M.apply_templates(m, name, e)
  local templates = m.templates or (m.raw and m.raw.templates) or {}
  local function resolve(keys, t, seen)
    if t == nil then return {} end
    local names = type(t) == "string" and {t} or t
    if type(names) ~= "table" then fail(m, keys, "expected a template name or a list of them") end
    local out = {}
    for i, tn in ipairs(names) do
      local tpl = type(tn) == "string" and templates[tn]
      if type(tpl) ~= "table" then
        local known = {}
        for k in pairs(templates) do known[#known + 1] = k end
        table.sort(known)
        fail(m, type(t) == "string" and keys or {table.unpack(keys), i},
          "no template '" .. tostring(tn) .. "' (known: " .. (#known > 0 and table.concat(known, ", ") or "none") .. ")")
      end
      if seen[tn] then fail(m, {"templates", tn, "template"}, "templates name each other in a cycle") end
      seen[tn] = true
      local base = resolve({"templates", tn, "template"}, tpl.template, seen)
      seen[tn] = nil
      local own = {}
      for k, v in pairs(tpl) do if k ~= "template" then own[k] = v end end
      out = tmerge(out, tmerge(base, own))
    end
    return out
  end
  if e.template == nil then return subst_env(e, name) end
  local merged = resolve({"environments", name, "template"}, e.template, {})
  local own = {}
  for k, v in pairs(e) do if k ~= "template" then own[k] = v end end
  return subst_env(tmerge(merged, own), name)
end

-- a command: a list of strings
local function check_argv(m, keys, v)
  if not is_list(v) or #v == 0 then fail(m, keys, "expected a command: a list of strings ([prog, arg, ...])") end
  for i, a in ipairs(v) do
    if type(a) == "number" then v[i] = tostring(a)
    elseif type(a) ~= "string" then fail(m, {table.unpack(keys), i}, "expected a string") end
  end
  return v
end

local function keys_plus(keys, ...)
  local out = {table.unpack(keys)}
  for _, k in ipairs({...}) do out[#out + 1] = k end
  return out
end

-- hooks: a list of commands ([prog, args]) or {name, run | lua + fn, dry_run}
local function check_hooks(m, keys, list)
  if list == nil then return {} end
  if not is_list(list) then fail(m, keys, "expected a list of hooks") end
  local out = {}
  for i, h in ipairs(list) do
    local hk = keys_plus(keys, i)
    local hook
    if is_list(h) then
      hook = {argv = check_argv(m, hk, h)}
    elseif type(h) == "table" then
      for k in pairs(h) do
        if not HOOK_KEYS[k] then fail(m, keys_plus(hk, tostring(k)), "unknown key (known: name, run, lua, fn, dry_run, description)") end
      end
      if (h.run == nil) == (h.lua == nil) then fail(m, hk, "needs exactly one of run (a command) and lua (a Lua file)") end
      hook = {name = h.name, dry_run = h.dry_run == true, description = h.description}
      if h.dry_run ~= nil and type(h.dry_run) ~= "boolean" then fail(m, keys_plus(hk, "dry_run"), "expected true or false") end
      if h.name ~= nil and type(h.name) ~= "string" then fail(m, keys_plus(hk, "name"), "expected a string") end
      if h.run ~= nil then hook.argv = check_argv(m, keys_plus(hk, "run"), h.run) end
      if h.lua ~= nil then
        if type(h.lua) ~= "string" or h.lua:find("^/") or h.lua:find("%.%.") then
          fail(m, keys_plus(hk, "lua"), "expected a Lua file inside the repository")
        end
        if h.fn ~= nil and (type(h.fn) ~= "string" or not h.fn:find("^[%a_][%w_]*$")) then
          fail(m, keys_plus(hk, "fn"), "expected a function name")
        end
        hook.lua, hook.fn = h.lua, h.fn or "run"
      elseif h.fn ~= nil then
        fail(m, keys_plus(hk, "fn"), "fn names a function of the `lua` file")
      end
    else
      fail(m, hk, "expected a command (a list) or a mapping {name, run | lua, fn, dry_run}")
    end
    hook.keys = hk
    hook.name = hook.name or (hook.argv and table.concat(hook.argv, " ", 1, math.min(#hook.argv, 3)))
      or (hook.lua .. ":" .. hook.fn)
    out[#out + 1] = hook
  end
  return out
end

-- values entries: "file", "glob/*.yaml", {file: F, optional: true}
local function check_values(m, keys, v)
  if v == nil then return {} end
  if type(v) == "string" then v = {v} end
  if not is_list(v) and next(v) ~= nil then fail(m, keys, "expected a list of values files") end
  local out = {}
  for i, x in ipairs(v) do
    local vk = keys_plus(keys, i)
    if type(x) == "string" then
      out[i] = {file = x, keys = vk}
    elseif type(x) == "table" and not is_list(x) then
      for k in pairs(x) do
        if k ~= "file" and k ~= "optional" then fail(m, keys_plus(vk, tostring(k)), "unknown key (known: file, optional)") end
      end
      if type(x.file) ~= "string" then fail(m, keys_plus(vk, "file"), "expected a file name") end
      if x.optional ~= nil and type(x.optional) ~= "boolean" then fail(m, keys_plus(vk, "optional"), "expected true or false") end
      out[i] = {file = x.file, optional = x.optional == true, keys = vk}
    else
      fail(m, vk, "expected a file name, a glob or {file, optional}")
    end
  end
  return out
end

local function check_release(m, keys, r, env)
  if type(r) ~= "table" or is_list(r) then fail(m, keys, "expected a mapping {chart, namespace, name, values, ...}") end
  for k in pairs(r) do
    if not RELEASE_KEYS[k] then
      fail(m, keys_plus(keys, tostring(k)), "unknown key (known: name, chart, version, repo, namespace, " ..
        "values, set, flags, wait, cleanup_on_fail, before, after, description)")
    end
  end
  local rel = {keys = keys}
  for _, k in ipairs{"chart", "name", "namespace", "version", "repo", "description"} do
    local v = r[k]
    if type(v) == "number" then v = tostring(v) end
    if v ~= nil and (type(v) ~= "string" or v == "") then fail(m, keys_plus(keys, k), "expected a non-empty string") end
    rel[k] = v
  end
  if not rel.chart then fail(m, keys, "chart is required (a directory, oci://..., or a chart of `repo`)") end
  rel.name = rel.name or env.release
  rel.namespace = rel.namespace or env.namespace
  rel.values = check_values(m, keys_plus(keys, "values"), r.values)
  rel.set = {}
  if r.set ~= nil then
    if is_list(r.set) then
      for i, x in ipairs(r.set) do
        if type(x) ~= "string" or not x:find("=", 1, true) then fail(m, keys_plus(keys, "set", i), "expected KEY=VALUE") end
        rel.set[i] = x
      end
    elseif type(r.set) == "table" then
      local names = {}
      for k in pairs(r.set) do names[#names + 1] = k end
      table.sort(names)
      for _, k in ipairs(names) do
        local v = r.set[k]
        if type(v) == "table" then fail(m, keys_plus(keys, "set", k), "expected a scalar (write lists as {a,b})") end
        rel.set[#rel.set + 1] = k .. "=" .. tostring(v)
      end
    else
      fail(m, keys_plus(keys, "set"), "expected a map KEY: VALUE or a list of KEY=VALUE")
    end
  end
  rel.flags = r.flags and check_argv(m, keys_plus(keys, "flags"), r.flags) or {}
  for _, k in ipairs{"wait", "cleanup_on_fail"} do
    if r[k] ~= nil and type(r[k]) ~= "boolean" then fail(m, keys_plus(keys, k), "expected true or false") end
  end
  rel.wait = r.wait ~= false
  rel.cleanup_on_fail = r.cleanup_on_fail ~= false
  rel.before = check_hooks(m, keys_plus(keys, "before"), r.before)
  rel.after = check_hooks(m, keys_plus(keys, "after"), r.after)
  return rel
end

-- Validate the kubernetes keys of environment e (after templates): its
-- `releases` (or the one release `chart` + `values` make), `hooks` and
-- `login`, into env.releases, env.hooks = {before, after} and env.login =
-- {kubeconfig, run}. Strings stay unexpanded (${VAR} and globs are resolved
-- when the driver uses them: after the hooks that write generated files).
load_kubernetes = function(m, name, e, env)
  local keys = {"environments", name}
  if e.releases ~= nil then
    if e.chart ~= nil then fail(m, keys_plus(keys, "chart"), "give either chart (one release) or releases, not both") end
    if not is_list(e.releases) or #e.releases == 0 then fail(m, keys_plus(keys, "releases"), "expected a list of releases") end
    env.releases = {}
    local seen = {}
    for i, r in ipairs(e.releases) do
      local rel = check_release(m, keys_plus(keys, "releases", i), r, env)
      local id = rel.namespace .. "/" .. rel.name
      if seen[id] then fail(m, keys_plus(keys, "releases", i), "release " .. rel.name .. " in namespace " .. rel.namespace .. " twice") end
      seen[id] = true
      env.releases[i] = rel
    end
  elseif e.chart ~= nil then
    env.releases = {{keys = keys, chart = e.chart, name = env.release, namespace = env.namespace,
                     values = check_values(m, keys_plus(keys, "values"), e.values), set = {}, flags = {},
                     wait = true, cleanup_on_fail = true, before = {}, after = {}, implicit = true}}
  end
  local hooks = e.hooks or {}
  if type(hooks) ~= "table" or is_list(hooks) then fail(m, keys_plus(keys, "hooks"), "expected {before: [...], after: [...]}") end
  for k in pairs(hooks) do
    if k ~= "before" and k ~= "after" then fail(m, keys_plus(keys, "hooks", tostring(k)), "unknown key (known: before, after)") end
  end
  env.hooks = {before = check_hooks(m, keys_plus(keys, "hooks", "before"), hooks.before),
               after = check_hooks(m, keys_plus(keys, "hooks", "after"), hooks.after)}
  local login = e.login
  env.login = {run = {}}
  if login ~= nil then
    if type(login) ~= "table" or is_list(login) then fail(m, keys_plus(keys, "login"), "expected {kubeconfig, context, run}") end
    for k in pairs(login) do
      if k ~= "kubeconfig" and k ~= "run" and k ~= "context" then
        fail(m, keys_plus(keys, "login", tostring(k)), "unknown key (known: kubeconfig, context, run)")
      end
    end
    if login.kubeconfig ~= nil then
      if type(login.kubeconfig) ~= "string" then fail(m, keys_plus(keys, "login", "kubeconfig"), "expected a file name") end
      local kc = M.expand(login.kubeconfig, "environments." .. name .. ".login.kubeconfig", m)
      env.login.kubeconfig = isabs(kc) and kc or (m.root .. "/" .. kc)
      env.login.kubeconfig_rel = kc
    end
    if login.context ~= nil then
      if type(login.context) ~= "string" then fail(m, keys_plus(keys, "login", "context"), "expected a string") end
      env.context = env.context or M.expand(login.context, "environments." .. name .. ".login.context", m)
    end
    env.login.run = check_hooks(m, keys_plus(keys, "login", "run"), login.run)
  end
end

--- environments.resolve_values(m, entries, where) -> absolute paths of a
-- release's values files, in order, now: ${VAR} expanded, a glob (`*`, `?`,
-- `[`) gives its matches sorted (none is fine), an entry with optional:
-- true only when the file exists; a plain file that does not exist raises
-- code "manifest" naming the key in slipway.yaml.
function M.resolve_values(m, entries, where)
  local fs = require "slipway.fs"
  local out = {}
  for _, v in ipairs(entries or {}) do
    local f = M.expand(v.file, where or "values", m)
    local abs = isabs(f) and f or (m.root .. "/" .. f)
    if f:find("[*?%[]") then
      for _, p in ipairs(fs.glob(abs)) do out[#out + 1] = p end
    elseif fs.exists(abs) then
      out[#out + 1] = abs
    elseif not v.optional then
      fail(m, v.keys or {}, "values file " .. f .. " does not exist (mark it optional: true if it may be missing)")
    end
  end
  return out
end

--- The environment `name`, or raise code "usage" listing the known ones.
function M.get(envs, name)
  local e = envs.by_name[name]
  if not e then
    local names = {}
    for _, x in ipairs(envs.list) do names[#names + 1] = x.name end
    raise("usage", "no environment '" .. tostring(name) .. "' in slipway.yaml (known: " ..
      table.concat(names, ", ") .. ")")
  end
  return e
end

-- ---- values and versions ---------------------------------------------------

local function is_map(t)
  if type(t) ~= "table" then return false end
  if json.is_array(t) then return false end
  if next(t) == nil then return true end
  return t[1] == nil
end

--- Helm's merge: maps merge key by key, lists and scalars replace, a null
-- (yaml.null) deletes the key. Returns a new table.
function M.merge(a, b)
  local null = yaml.null
  if not is_map(a) or not is_map(b) then return b end
  local out = {}
  for k, v in pairs(a) do out[k] = v end
  for k, v in pairs(b) do
    if v == null then out[k] = nil
    elseif is_map(out[k]) and is_map(v) then out[k] = M.merge(out[k], v)
    else out[k] = v end
  end
  return out
end

--- The environment's values files merged in order (as helm -f a -f b).
function M.merged_values(env)
  local yaml = require "slipway.yaml"
  local out = {}
  for _, path in ipairs(env.values) do
    local v = yaml.load_file(path)
    if v ~= nil and v ~= yaml.null then
      if type(v) ~= "table" then raise("manifest", path .. ": values must be a mapping") end
      out = M.merge(out, v)
    end
  end
  return out
end

--- The chart's Chart.yaml as a table (nil when the chart has none).
function M.chart(env)
  local fs = require "slipway.fs"
  local p = env.chart .. "/Chart.yaml"
  if not fs.exists(p) then return nil end
  return require("slipway.yaml").load_file(p)
end

--- Get the value at a bump location path ("dependencies[name=binderhub].version")
-- in a loaded document: slipway.path's reading (docs/path.md), the one bump
-- edits with. nil when nothing is there.
function M.get_path(doc, path)
  return (require("slipway.path").get(doc, path))
end

--- Apply a location's `part` to an image reference: tag, image (name
-- without tag), or nil (the whole string).
function M.part(value, part)
  if type(value) ~= "string" or not part then return value end
  local name, tag = value:match("^(.-):([^:/]+)$")
  if part == "tag" then return tag or value end
  if part == "image" or part == "name" then return name or value end
  return value
end

--- The version of every component, read from its first location in the
-- working tree: {component = "version"}.
function M.versions(m)
  local yaml = require "slipway.yaml"
  local out = {}
  local cache = {}
  for name, c in pairs(m.components or {}) do
    local loc = c.locations and c.locations[1]
    if loc and loc.file and loc.path and loc.format == "env" then
      local p = isabs(loc.file) and loc.file or (m.root .. "/" .. loc.file)
      local ok, vars = pcall(require("slipway.env").read_file, p)
      if ok and vars[loc.path] ~= nil then out[name] = M.part(vars[loc.path], loc.part) end
    elseif loc and loc.file and loc.path then
      local p = isabs(loc.file) and loc.file or (m.root .. "/" .. loc.file)
      if cache[p] == nil then
        local ok, doc = pcall(yaml.load_file, p)
        cache[p] = ok and doc or false
      end
      if cache[p] then
        local v = M.get_path(cache[p], loc.path)
        if v ~= nil then out[name] = M.part(tostring(v), loc.part) end
      end
    end
  end
  return out
end

return M
