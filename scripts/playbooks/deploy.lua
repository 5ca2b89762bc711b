-- The standard playbook: what `slipway deploy` runs. Copy it into your
-- deployment repository to change it, and run your copy with
--   slipway deploy --playbook deploy.lua      (or: slipway run deploy.lua)
--
-- stage:   lock staging, record what runs there, deploy, wait for the rollout
-- test:    run staging's checks; when they fail, revert the commits since the
--          last good deploy (git revert), redeploy staging and test again;
--          `--no-revert` declines the revert and leaves staging as it is (exit 1)
-- promote: only the commit and versions that passed test on staging (read
--          from the shared record), to every production environment in
--          parallel, each tested
--
-- The steps are deploy.steps() (one definition for this file and for
-- playbooks that build on it); to change one, replace the list with your own
-- steps calling deploy.stage, deploy.test, deploy.revert and deploy.promote
-- (docs/deploy.md).
local playbook = require "slipway.playbook"
local deploy = require "slipway.deploy"

return playbook.define{
  name = "deploy",
  description = "stage -> test (revert on failure) -> promote",
  options = require("slipway.args").concat(deploy.common_options, {
    {name = "revert", type = "boolean", default = true,
     help = "revert when staging's test fails (--no-revert: leave staging as it is)"}}),
  -- the run in the shared record (slipway.yaml `state:`) from its start;
  -- at its end: the record, the deploy locks released, exit 6 for a revert
  -- its branch refused
  setup = function(ctx) deploy.setup(ctx); deploy.record_start(ctx) end,
  finish = deploy.finish,
  steps = deploy.steps(),
}
