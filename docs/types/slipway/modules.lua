---@meta slipway.modules
-- Loading a module that may legitimately be absent (docs/errors.md).

---@class slipway.modules
local modules = {}

---The module (required), or nil and a message when no searcher finds it; a
---module that is found but fails to load raises.
---@param name string
---@return any?
---@return string? why
function modules.find(name) end

return modules
