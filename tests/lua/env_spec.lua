-- slipway.env: variables, required ones, secrets. Children get their own
-- environment through the real binary.
local T = require "slipway.testing"
local env = require "slipway.env"
local sw = require "slipway.core"
local cmd = require "slipway_cmd"

T.test("get returns the value or the default", function()
  T.eq(env.get("HOME"), os.getenv("HOME"))
  T.eq(env.get("SLIPWAY_SURELY_UNSET_VAR"), nil)
  T.eq(env.get("SLIPWAY_SURELY_UNSET_VAR", "dflt"), "dflt")
  T.raises(function() env.get(nil) end, "bad argument #1 to 'get'")
  T.raises(function() env.get("A=B") end, "a variable name expected")
end)

T.test("require names the missing variable in a structured error", function()
  T.eq(env.require("HOME"), os.getenv("HOME"))
  local err = T.raises(function() env.require("SLIPWAY_SURELY_UNSET_VAR", "the deploy target") end)
  T.truthy(sw.is_error(err))
  T.eq(err.code, "env")
  T.eq(err.name, "SLIPWAY_SURELY_UNSET_VAR")
  T.match(err.message, "env_spec.lua:%d+: environment variable SLIPWAY_SURELY_UNSET_VAR is not set %(the deploy target%)")
end)

T.test("an empty variable counts as unset for require", function()
  local r = cmd.run({"-e", [[
    local ok, e = pcall(require("slipway.env").require, "EMPTY_ONE")
    print(e.code, e.message)
  ]]}, {env = {EMPTY_ONE = ""}})
  T.eq(r.code, 0, r.stderr)
  T.match(r.stdout, "^env\t%(command line%):1: environment variable EMPTY_ONE is empty\n$")
end)

T.test("secret returns the value and masks it in later output", function()
  local r = cmd.run({"-e", [[
    local env = require "slipway.env"
    local t = env.secret("GRAFANA_TOKEN")
    print("value", t, #t)
    print(env.secret("NOT_SET_SECRET", {optional = true}))
    local ok, e = pcall(env.secret, "NOT_SET_SECRET")
    print(e.code)
  ]]}, {env = {GRAFANA_TOKEN = "glsa_abc123XYZ"}})
  T.eq(r.code, 0, r.stderr)
  T.eq(r.stdout, "value\t***\t14\nnil\nenv\n")
end)

T.run()
