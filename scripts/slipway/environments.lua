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

M.DRIVER_KEYS = {["local"] = true, kubernetes = true}
local KNOWN = {driver = true, chart = true, values = true, url = true, context = true,
               namespace = true, release = true, experimental = true, checks = true,
               tests = true, timeout = true, description = true}

local function fail(m, keypath, msg)
  raise("manifest", string.format("%s: %s: %s", m.path or "slipway.yaml", keypath, msg))
end

--- Expand ${VAR} and ${VAR:-default} in s; `where` names the key in errors.
function M.expand(s, where, m)
  if type(s) ~= "string" then return s end
  return (s:gsub("%${([%w_]+)(:?%-?)([^}]*)}", function(name, op, default)
    local v = os.getenv(name)
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
  for name, e in pairs(raw) do
    local kp = "environments." .. tostring(name)
    if type(name) ~= "string" or not name:match("^[%w][%w_.%-]*$") then
      fail(m, kp, "bad environment name (letters, digits, - _ .)")
    end
    if type(e) ~= "table" then fail(m, kp, "must be a mapping") end
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
      if type(v) ~= "string" then fail(m, kp .. ".values[" .. (i - 1) .. "]", "must be a file name") end
      v = M.expand(v, kp .. ".values", m)
      env.values_rel[i] = v
      env.values[i] = isabs(v) and v or (m.root .. "/" .. v)
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
    if loc and loc.file and loc.path then
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
