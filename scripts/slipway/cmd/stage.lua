--- slipway stage ENV: deploy the working tree's versions to one environment.
local deploy = require "slipway.deploy"

return {
  summary = "deploy to one environment: lock, record, deploy, wait for the rollout",
  description = [==[
Takes ENV's deploy lock, records what runs there now (git sha, versions,
revision) in the journal, deploys through ENV's driver and waits until the
rollout is complete.]==],
  options = deploy.options(),
  positionals = {{name = "env", optional = true, help = "the environment (default: stages.staging)"}},
  epilog = deploy.exit_help,
  run = deploy.env_command("stage", deploy.stage),
}
