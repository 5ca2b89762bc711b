--- slipway revert: git revert back to the last good deploy, redeploy staging.
local deploy = require "slipway.deploy"

return {
  summary = "revert the commits since the last good deploy and redeploy staging",
  description = [==[
Reverts (one `git revert` commit) every commit since the last commit that
passed test on staging, or since RUN's / SHA's commit with --to; pushes it
when stages.revert.push is true; redeploys staging and tests it again.
Production is never touched. Exit 4 when the revert fails (loudly); exit 0
with "nothing to revert" when HEAD is already that commit.]==],
  options = deploy.options{
    {name = "to", metavar = "RUN|SHA", help = "revert back to this run's or commit's state"},
    {name = "reason", metavar = "TEXT", help = "why (in the revert commit's message)"},
  },
  epilog = deploy.exit_help,
  run = function(a, argv)
    return deploy.run_command("revert", a, function()
      return {{name = "revert", run = function(c)
        local ok, err = pcall(deploy.revert, c, {manual = true})
        if not ok then error(err, 0) end
      end}}
    end, {argv = argv})
  end,
}
