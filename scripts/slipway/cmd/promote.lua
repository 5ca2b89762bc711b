--- slipway promote: the tested commit to every production environment.
local deploy = require "slipway.deploy"

return {
  summary = "deploy the commit that passed test on staging to production, in parallel",
  description = [==[
Refuses (exit 2) unless HEAD and the versions in the working tree are exactly
those that last passed test on the staging environment, as the shared record
says (slipway.yaml `state:`), so a fresh CI runner refuses what staging never
tested. Deploys every environment of stages.production in parallel, each
isolated, then tests each; a failing `experimental: true` member is reported
only. --only MEMBER (repeatable) promotes those members alone: one CI job per
member, each with the same gate.]==],
  options = deploy.options{
    {name = "only", metavar = "MEMBER", repeatable = true,
     help = "promote only this member of stages.production (repeatable)"},
  },
  epilog = deploy.exit_help,
  run = function(a, argv)
    return deploy.run_command("promote", a, function()
      return {{name = "promote", run = function(c) deploy.promote(c) end}}
    end, {argv = argv})
  end,
}
