--- slipway deploy: stage -> test -> promote, revert when test fails.
local deploy = require "slipway.deploy"
local playbook = require "slipway.playbook"

return {
  summary = "stage, test and promote the repository's versions; revert when test fails",
  description = [==[
Runs the standard playbook (compiled into slipway; a playbooks/deploy.lua in
the current directory is NOT used), or FILE with --playbook: stage the
staging environment, test it, and promote to production (stages.production
in slipway.yaml, in parallel). When staging's test fails, the commits since
the last good deploy are reverted with `git revert`, staging is redeployed
and tested again; production is never touched then.]==],
  options = deploy.options{
    {name = "revert", type = "boolean", default = true,
     help = "revert when staging's test fails (--no-revert: leave staging as it is)"},
    {name = "playbook", metavar = "FILE", help = "run this playbook file instead of the standard one"},
  },
  epilog = deploy.exit_help,
  run = function(a, argv)
    return deploy.run_command("deploy", a, function()
      if a.playbook then return playbook.load(a.playbook) end
      return playbook.load("playbooks/deploy.lua", {embedded = true})
    end, {argv = argv})
  end,
}
