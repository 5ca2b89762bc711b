--- slipway test ENV: run an environment's checks.
local deploy = require "slipway.deploy"

return {
  summary = "run an environment's checks (HTTP, launch, Lua) and report them",
  description = [==[
Runs ENV's checks from slipway.yaml concurrently against what runs there,
prints a table, journals the results and, with --junit, writes JUnit XML.
Exit 1 when a check failed.]==],
  options = deploy.options(),
  positionals = {{name = "env", optional = true, help = "the environment (default: stages.staging)"}},
  epilog = deploy.exit_help,
  run = function(a, argv)
    return deploy.run_command("test", a, function(ctx)
      local env = a.env or ctx.envs.stages.staging
      if not env then require("slipway.core").raise("usage", "test: which environment?") end
      return {{name = "test", run = function(c) deploy.test(c, env) end}}
    end, {argv = argv})
  end,
}
