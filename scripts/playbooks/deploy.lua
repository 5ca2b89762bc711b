-- The standard playbook: what `slipway deploy` runs. Copy it into your
-- deployment repository to change it, and run your copy with
--   slipway deploy --playbook deploy.lua      (or: slipway run deploy.lua)
--
-- stage:   lock staging, record what runs there, deploy, wait for the rollout
-- test:    run staging's checks; when they fail, revert the commits since the
--          last good deploy (git revert), redeploy staging and test again
-- promote: only the commit and versions that passed test on staging, to every
--          production environment in parallel, each tested
local playbook = require "slipway.playbook"
local deploy = require "slipway.deploy"

local function staging(ctx) return deploy.setup(ctx).stages.staging end

return playbook.define{
  name = "deploy",
  description = "stage -> test (revert on failure) -> promote",
  options = require("slipway.args").concat(deploy.common_options, {
    {name = "revert", type = "boolean", default = true,
     help = "revert when staging's test fails (--no-revert: leave staging as it is)"}}),
  setup = function(ctx) deploy.setup(ctx) end,
  steps = {
    {name = "stage",
     run = function(ctx) deploy.stage(ctx, staging(ctx)) end},
    {name = "test",
     run = function(ctx) deploy.test(ctx, staging(ctx)) end,
     -- a failed test is reverted; `--no-revert` leaves staging as it is
     revert = function(ctx, err)
       if ctx.args.revert == false then error(err, 0) end
       deploy.revert(ctx, {reason = err})
     end},
    {name = "promote",
     run = function(ctx) deploy.promote(ctx) end},
  },
}
