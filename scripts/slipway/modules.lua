--- slipway.modules: loading a module that may legitimately not exist (a
-- driver that is not built in, a user's Lua source module).
--
-- `pcall(require, name)` cannot tell "there is no such module" from "the
-- module has a syntax error" or "it raised while loading": it swallows both.
-- modules.find asks package.searchers first and only treats "no searcher
-- found it" as absent; every other failure is raised as it is. Modules
-- compiled into slipway are never optional: require them.
local M = {}

--- The module `name` (require'd), or nil and a message when no searcher
-- finds it. A module that is found but fails to load raises.
function M.find(name)
  if package.loaded[name] ~= nil then return package.loaded[name] end
  local notes = {}
  for _, searcher in ipairs(package.searchers) do
    local loader = searcher(name)
    if type(loader) == "function" then return require(name) end
    if type(loader) == "string" then notes[#notes + 1] = "\n\t" .. loader end
  end
  return nil, "module '" .. name .. "' not found:" .. table.concat(notes)
end

return M
