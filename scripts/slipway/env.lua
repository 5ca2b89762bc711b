--- slipway.env: environment variables.
--
--   local env = require "slipway.env"
--   local ns = env.get("NAMESPACE", "staging")
--   local kube = env.require("KUBECONFIG")          -- raises when unset
--   local token = env.secret("GRAFANA_TOKEN")       -- and masks it everywhere
--
-- An empty variable counts as unset for require and secret (a CI system
-- that passes an undefined secret gives an empty string).
local sw = require "slipway.core"

local M = {}

local function check_name(name, fname)
  if type(name) ~= "string" or name == "" or name:find("[=%z]") then
    error(string.format("bad argument #1 to '%s' (a variable name expected, got %s)",
      fname, type(name) == "string" and string.format("%q", name) or type(name)), 3)
  end
end

--- env.get(name [, default]) -> the value, or default (nil) when unset.
function M.get(name, default)
  check_name(name, "get")
  local v = os.getenv(name)
  if v == nil then return default end
  return v
end

--- env.require(name [, why]) -> the value; raises a structured error with
-- code "env" and field `name` when it is unset or empty. why is added to the
-- message ("GRAFANA_TOKEN is not set (needed for the deploy annotation)").
function M.require(name, why)
  check_name(name, "require")
  local v = os.getenv(name)
  if v == nil or v == "" then
    sw.raise("env", string.format("environment variable %s is %s%s", name,
      v == nil and "not set" or "empty", why and " (" .. why .. ")" or ""),
      {name = name})
  end
  return v
end

--- env.secret(name [, why | {why =, optional = true}]) -> the value, like
-- env.require, and registers it as a secret: from then on it is shown as
-- *** in every output slipway produces (logs, errors, tracebacks, print,
-- echoed commands, journals). With optional, an unset or empty variable
-- gives nil instead of an error.
function M.secret(name, opts)
  check_name(name, "secret")
  if type(opts) ~= "table" then opts = {why = opts} end
  local v = os.getenv(name)
  if v == nil or v == "" then
    if opts.optional then return nil end
    sw.raise("env", string.format("environment variable %s is %s%s", name,
      v == nil and "not set" or "empty", opts.why and " (" .. opts.why .. ")" or ""),
      {name = name})
  end
  return sw.secret(v)
end

return M
