--- slipway test ENV: run an environment's checks.
local deploy = require "slipway.deploy"

return {
  summary = "run an environment's checks (HTTP, launch, Lua) and report them",
  usage = [==[
usage: slipway test ENV [--junit FILE]

Runs ENV's checks from slipway.yaml concurrently against what runs there,
prints a table, journals the results and, with --junit, writes JUnit XML.
Exit 1 when a check failed.
]==] .. deploy.common_usage,
  run = function(argv)
    return deploy.run_command("test", argv, function(ctx, args)
      local env = args[1] or ctx.envs.stages.staging
      if not env then require("slipway.core").raise("usage", "test: which environment?") end
      return {{name = "test", run = function(c) deploy.test(c, env) end}}
    end)
  end,
}
