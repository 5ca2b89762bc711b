--- slipway stage ENV: deploy the working tree's versions to one environment.
local deploy = require "slipway.deploy"

return {
  summary = "deploy to one environment: lock, record, deploy, wait for the rollout",
  usage = [==[
usage: slipway stage ENV [--dry-run] [--resume [RUN]] [--lock-wait SECS]

Takes ENV's deploy lock, records what runs there now (git sha, versions,
revision) in the journal, deploys through ENV's driver and waits until the
rollout is complete.
]==] .. deploy.common_usage,
  run = function(argv)
    return deploy.run_command("stage", argv, function(ctx, args)
      local env = args[1] or ctx.envs.stages.staging
      if not env then require("slipway.core").raise("usage", "stage: which environment?") end
      return {{name = "stage", run = function(c) deploy.stage(c, env) end}}
    end)
  end,
}
