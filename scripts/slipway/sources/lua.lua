--- slipway.sources.lua: versions from a Lua function, for anything else.
--
--   source: {lua: {module: mysources, fn: versions}}
--
-- require(module)[fn](component, ctx) must return a list of version strings
-- or of tables {version = "...", created =, app_version =, digest =, sha =}.
-- The function may wait (http.get, proc.run): it runs in the bump's task.
-- The module is looked for in the deployment repository first
-- (<root>/<module with dots as slashes>.lua), then with require.
local core = require "slipway.core"
local errors = require "slipway.errors"
local modules = require "slipway.modules"
local M = {}

--- lua.candidates(component, ctx) -> list of {version, ...}
function M.candidates(comp, ctx)
  local src = comp.source
  -- a module of the deployment repository first (<root>/<a/b>.lua), then require
  local mod
  local root = ctx and ctx.manifest and ctx.manifest.root
  local file = root and (root .. "/" .. src.module:gsub("%.", "/") .. ".lua")
  local f = file and io.open(file, "r")
  local why
  if f then
    f:close()
    local ok, m = pcall(dofile, file)
    if not ok then why = errors.message(m) else mod = m end
  else
    -- only "no such module" is ours to report: a module that is there but
    -- fails to load (a syntax error) raises as it is
    mod = modules.find(src.module)
    if mod == nil then why = "not found" end
  end
  if why then
    core.raise("source", "cannot load Lua source module " .. src.module .. ": " .. why, {}, 0)
  end
  local fn = type(mod) == "table" and mod[src.fn or "versions"]
  if type(fn) ~= "function" then
    core.raise("source", string.format("Lua source %s has no function %s", src.module, src.fn or "versions"), {}, 0)
  end
  local list = fn(comp, ctx)
  if type(list) ~= "table" then
    core.raise("source", string.format("Lua source %s.%s returned %s, not a list", src.module, src.fn, type(list)), {}, 0)
  end
  local out = {}
  for i, v in ipairs(list) do
    if type(v) == "string" then out[#out + 1] = {version = v}
    elseif type(v) == "table" and type(v.version) == "string" then out[#out + 1] = v
    else
      core.raise("source", string.format("Lua source %s.%s: item %d is neither a string nor {version=}",
        src.module, src.fn, i), {}, 0)
    end
  end
  return out, {module = src.module}
end

return M
