---@meta slipway.env
-- The process environment (docs/env.md).

---@class slipway.env
local env = {}

---The value, or `default` when unset.
---@param name string
---@param default? string
---@return string?
function env.get(name, default) end

---The value; raises code "env" when unset or empty.
---@param name string
---@param why? string added to the message
---@return string
function env.require(name, why) end

---Like require, and registers the value as a secret. With optional = true an
---unset variable gives nil.
---@param name string
---@param opts? string|{why?: string, optional?: boolean}
---@return string?
function env.secret(name, opts) end

return env
