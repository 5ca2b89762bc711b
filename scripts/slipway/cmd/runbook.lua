--- slipway runbook: run a reviewed runbook (slipway.runbook, docs/runbooks.md).
local runbook = require "slipway.runbook"

local usage = [[
usage: slipway runbook NAME [--dry-run] [--yes] [ARGS...]
       slipway runbook --list
       slipway runbook NAME --help

Runs runbooks/NAME.lua of the deployment repository (the nearest directory
with slipway.yaml), or one of the runbooks shipped with slipway. A runbook
shows what it is about to change and asks before changing it; --yes answers
yes in advance (CI: SLIPWAY_ASSUME_YES=1), --dry-run rehearses without
changing anything. Without a terminal and without --yes a question fails
instead of hanging. Every answer and every command goes to the journal.

Exit status: 0 done, 1 failed or declined, 2 bad arguments or no terminal
to ask, 5 an environment is locked.]]

return {
  summary = "run an operations runbook (restart, clean-pods, drain-node, ban, ...): runbook --list",
  usage = usage,
  run = function(args)
    local name = args[1]
    if name == nil or name == "--help" or name == "-h" then
      io.stdout:write(usage, "\n")
      return name == nil and 2 or 0
    end
    if name == "--list" or name == "-l" then
      io.stdout:write(runbook.list_text(runbook.root()))
      return 0
    end
    return (runbook.run(name, table.move(args, 2, #args, 1, {})))
  end,
}
