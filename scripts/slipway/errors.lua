--- slipway.errors: raising and reading the structured errors of runtime/error.c
-- from Lua, the same way in every module (docs/errors.md).
--
--   local errors = require "slipway.errors"
--   errors.fail("manifest", "slipway.yaml: stages.staging names no environment",
--               {file = path})
--   errors.message(err)   -- the text of any error, structured or not
--
-- core.raise puts the playbook's file:line in front of the message: right for
-- a function a playbook calls with a wrong value. errors.fail does not: right
-- for a failure whose message already names its subject (an environment, a
-- step, a file), which is what slipway's own modules raise.
local core = require "slipway.core"

local M = {}

--- Raise a structured error {code, message, fields...} as it is, without a
-- file:line in front (level 0).
function M.fail(code, msg, fields)
  error(core.error(code, msg, fields), 0)
end

--- The message of an error: a structured error's `message`, anything else
-- as a string.
function M.message(err)
  if type(err) == "table" then return tostring(err.message or err) end
  return tostring(err)
end

return M
