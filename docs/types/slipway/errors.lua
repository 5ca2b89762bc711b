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

---Whether retrying the call that raised err can help: its `retryable` field,
---else by code; false for a misuse; nil when unknown.
---@param err any
---@return boolean|nil
function errors.retryable(err) end

---Whether an error of this code (and HTTP status) can pass by trying again:
---429 and 5xx yes, other 4xx no, then by code; nil when unknown.
---@param code string
---@param status? integer
---@return boolean|nil
function errors.retryable_code(code, status) end

return errors
