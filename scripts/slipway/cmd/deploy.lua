--- slipway deploy: stage -> test -> promote, revert when test fails.
local deploy = require "slipway.deploy"
local playbook = require "slipway.playbook"

return {
  summary = "stage, test and promote the repository's versions; revert when test fails",
  usage = [==[
usage: slipway deploy [--dry-run] [--resume [RUN]] [--junit FILE] [--no-revert]
                      [--playbook FILE]

Runs the standard playbook (scripts/playbooks/deploy.lua, or FILE): stage
the staging environment, test it, and promote to production (stages.production
in slipway.yaml, in parallel). When staging's test fails, the commits since the
last good deploy are reverted with `git revert`, staging is redeployed and
tested again; production is never touched then.
]==] .. deploy.common_usage,
  run = function(argv)
    return deploy.run_command("deploy", argv, function(ctx, args)
      local path = args.playbook or "playbooks/deploy.lua"
      return playbook.load(path)
    end)
  end,
}
