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
  run = deploy.env_command("test", deploy.test),
}
