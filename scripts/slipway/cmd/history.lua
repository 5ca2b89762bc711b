--- slipway history [ENV]: past runs from the journal.
local journal = require "slipway.journal"
local playbook = require "slipway.playbook"
local deploy = require "slipway.deploy"

local function short(v)
  local t = {}
  local keys = {}
  for k in pairs(v or {}) do keys[#keys + 1] = k end
  table.sort(keys)
  for _, k in ipairs(keys) do t[#t + 1] = k .. "=" .. tostring(v[k]) end
  return #t > 0 and table.concat(t, ",") or "-"
end

return {
  summary = "list past runs (all, or those that touched ENV)",
  description = [==[
One line per run, newest first: run id, start (UTC), command, who@host,
commit, outcome (success, failed, reverted, revert-failed, unfinished),
versions before -> after, duration. --json prints the summaries as JSON
lines. Journals live in STATE_DIR/journal/ (slipway.yaml: state_dir).]==],
  options = {
    {name = "limit", type = "integer", default = 50, metavar = "N", help = "at most N runs"},
    {name = "json", type = "boolean", help = "one JSON object per run"},
  },
  positionals = {{name = "env", optional = true, help = "only runs that touched ENV"}},
  run = function(args)
    local ok, ctx = pcall(playbook.context, {args = args, dry_run = true, command = "history"})
    if not ok then io.stderr:write("slipway history: ", playbook.errmsg(ctx), "\n"); return 2 end
    local runs = journal.runs(ctx.state_dir, {env = args.env, limit = args.limit})
    if args.json then
      local json = require "slipway.json"
      for _, s in ipairs(runs) do
        s.records = nil
        io.stdout:write(json.encode(s), "\n")
      end
      return 0
    end
    if #runs == 0 then io.stdout:write("no runs recorded in ", ctx.state_dir, "\n"); return 0 end
    local local_driver = require "slipway.drivers.local"
    for _, s in ipairs(runs) do
      local outcome = s.outcome or "?"
      if not s.finished then
        outcome = local_driver.alive(s.pid) and "running" or "unfinished (killed?)"
      end
      io.stdout:write(string.format("%-25s %s  %-8s %-20s %-12s %-22s %s -> %s  %s%s\n",
        s.id or "?", s.started and os.date("!%Y-%m-%d %H:%M:%S", math.floor(s.started)) or "?",
        s.command or "?", tostring(s.user) .. "@" .. tostring(s.host),
        s.sha and s.sha:sub(1, 12) or "-", outcome .. (s.failed_step and (" @" .. s.failed_step) or ""),
        short(s.versions_before), short(s.versions_after),
        s.duration and playbook.fmt_dur(s.duration) or "-",
        #s.envs > 0 and ("  [" .. table.concat(s.envs, ",") .. "]") or ""))
    end
    return 0
  end,
}
