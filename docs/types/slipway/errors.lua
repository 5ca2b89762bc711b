---@meta slipway.errors
-- Raising and reading structured errors (docs/errors.md).

---@class slipway.errors
local errors = {}

---Raise a structured error as it is, without a file:line in front.
---@param code string
---@param msg string
---@param fields? table
function errors.fail(code, msg, fields) end

---The message of an error, structured or not.
---@param err any
---@return string
function errors.message(err) end

return errors
