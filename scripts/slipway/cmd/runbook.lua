--- slipway runbook: run a reviewed runbook (slipway.runbook, docs/runbooks.md).
local runbook = require "slipway.runbook"

return {
  summary = "run an operations runbook (restart, clean-pods, drain-node, ban, ...): runbook --list",
  description = [[
Runs runbooks/NAME.lua of the deployment repository (the nearest directory
with slipway.yaml), or one of the runbooks shipped with slipway, with ARGS
parsed against the arguments it declares (`slipway runbook NAME --help`
lists them). A runbook shows what it is about to change and asks before
changing it; --yes answers yes in advance (CI: SLIPWAY_ASSUME_YES=1),
--dry-run rehearses without changing anything. Without a terminal and
without --yes a question fails instead of hanging. Every answer and every
command goes to the journal.

Exit status: 0 done, 1 failed or declined, 2 bad arguments or no terminal
to ask, 5 an environment is locked.]],
  options = {{name = "list", short = "l", type = "boolean", help = "list the runbooks"}},
  positionals = {{name = "name", optional = true, help = "the runbook"}},
  rest = true,
  run = function(a)
    if a.list then
      if a.name then io.stderr:write("slipway runbook: --list takes no NAME\n"); return 2 end
      io.stdout:write(runbook.list_text(runbook.root()))
      return 0
    end
    if not a.name then
      io.stderr:write("slipway runbook: which runbook? (slipway runbook --list)\n")
      return 2
    end
    return (runbook.run(a.name, a.rest))
  end,
}
