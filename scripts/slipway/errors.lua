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

-- ---- whether retrying can help ----------------------------------------------

-- By code, for errors built without a `retryable` field. true: the world may
-- change in a moment (a timeout, a refused connection, a busy resource);
-- false: the same call will fail the same way (a missing file, a denied
-- permission, bad input); codes not listed: unknown.
local BY_CODE = {
  timeout = true, connect = true, dns = true, transfer = true, locked = true,
  EAGAIN = true, EBUSY = true, EINTR = true, ETIMEDOUT = true, ECONNREFUSED = true,
  ECONNRESET = true, ECONNABORTED = true, EPIPE = true, EHOSTUNREACH = true,
  ENETUNREACH = true, ENETDOWN = true, EADDRINUSE = true,
  ENOENT = false, EACCES = false, EPERM = false, ENOTDIR = false, EISDIR = false,
  EEXIST = false, ENOTEMPTY = false, EROFS = false, EINVAL = false, ENAMETOOLONG = false,
  ELOOP = false, EXDEV = false, EBADF = false, ENOEXEC = false,
  tls = false, too_large = false, json = false, usage = false, manifest = false,
  playbook = false, refused = false, env = false, check = false,
}

--- errors.retryable_code(code [, status]) -> true, false or nil: whether an
-- error of this code (and HTTP status) can go away by trying again: 429 and
-- 5xx yes, other 4xx no; then by code (timeouts, refused or reset
-- connections yes; ENOENT, EACCES, bad input no); nil when unknown. What
-- the modules put in an error's `retryable` field when they build it.
function M.retryable_code(code, status)
  if type(status) == "number" and status >= 400 then
    return status == 429 or status >= 500
  end
  return BY_CODE[code]
end

--- errors.retryable(err) -> true, false or nil: whether retrying the call
-- that raised err can help. A structured error's `retryable` field when it
-- has one, else by its code (errors.retryable_code); a plain string that is
-- an API misuse ("bad argument ...") is false; anything else nil (unknown:
-- retried when retries are asked for).
function M.retryable(err)
  if type(err) == "table" then
    if err.retryable ~= nil then return err.retryable and true or false end
    if err.code == "cancelled" or err.code == "os.exit" then return false end
    return M.retryable_code(err.code, err.status)
  end
  if type(err) == "string" and err:find("bad argument #%d+ to '") then return false end
  return nil
end

return M
