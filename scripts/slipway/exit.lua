--- slipway.exit: the exit statuses of every slipway command, in one table.
--
-- CI reads these; docs/deploy.md has the same table for people. A command
-- returns one of these numbers (or exits with it); nothing else picks its own.
--
--   0   ok             success (bump: whether or not it changed anything)
--   1   failed         a step, check or command failed
--   2   usage          bad input: unknown option, invalid slipway.yaml, refused
--   3   reverted       staging's test failed, the change was reverted,
--                      production untouched
--   4   revert_failed  the revert failed: act now
--   5   locked         another run holds the lock
--   6   revert_unpushed reverted, but the revert commit could not reach the
--                      deployed branch (pushed to a side branch: a person must
--                      merge it)
--   7   changes        changes found (`bump --exit-code` only, as
--                      `git diff --exit-code`)
--   130 interrupted    SIGINT
--   143 terminated     SIGTERM
local M = {
  ok = 0,
  failed = 1,
  usage = 2,
  reverted = 3,
  revert_failed = 4,
  locked = 5,
  revert_unpushed = 6,
  changes = 7,
  interrupted = 130,
  terminated = 143,
}

-- error codes that mean "the request was wrong", not "the world failed"
local USAGE_CODES = {manifest = true, usage = true, refused = true, resume = true,
                     bad_input = true, driver = true, playbook = true}

--- The exit status for an error raised by a step or a command: a structured
-- error's code decides (usage-like codes 2, "locked" 5, "cancelled" 130 or
-- 143 by the signal that cancelled, "revert_failed" 4), anything else 1.
function M.for_error(err)
  local code = type(err) == "table" and err.code
  if code == "locked" then return M.locked end
  if code and USAGE_CODES[code] then return M.usage end
  if code == "cancelled" then
    return (type(err) == "table" and err.signal == "SIGTERM") and M.terminated or M.interrupted
  end
  if code == "revert_failed" then return M.revert_failed end
  if code == "revert_unpushed" then return M.revert_unpushed end
  return M.failed
end

return M
