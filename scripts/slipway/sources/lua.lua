--- slipway.sources.lua: versions from a Lua function, for anything else.
--
--   source: {lua: {module: mysources, fn: versions}}
--
-- require(module)[fn](component, ctx) must return a list of version strings
-- or of tables {version = "...", created =, app_version =, digest =, sha =}.
-- The function may wait (http.get, proc.run): it runs in the bump's task.
local core = require "slipway.core"
local M = {}

--- lua.candidates(component, ctx) -> list of {version, ...}
function M.candidates(comp, ctx)
  local src = comp.source
  local ok, mod = pcall(require, src.module)
  if not ok then
    core.raise("source", "cannot load Lua source module " .. src.module .. ": " .. tostring(mod), {}, 0)
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
