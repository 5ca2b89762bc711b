--- slipway history [ENV]: past runs from the journal.
local journal = require "slipway.journal"
local playbook = require "slipway.playbook"
local proc = require "slipway.proc"

local core = require "slipway.core"

-- what came from a journal (names of steps, playbooks, users) is printed
-- with its control characters escaped: it must not act on the terminal
local function esc(v) return core.escape(tostring(v)) end

local function short(v)
  local t = {}
  local keys = {}
  for k in pairs(v or {}) do keys[#keys + 1] = tostring(k) end
  table.sort(keys)
  for _, k in ipairs(keys) do t[#t + 1] = k .. "=" .. tostring(v[k]) end
  return #t > 0 and table.concat(t, ",") or "-"
end

-- "(line 1 unreadable)": lines journal.read skipped, and a torn last line
local function damage(s)
  local bad = {}
  for _, n in ipairs(s.bad_lines or {}) do bad[#bad + 1] = tostring(n) end
  if s.torn_line then bad[#bad + 1] = s.torn_line .. " (torn)" end
  if #bad == 0 then return "" end
  return "  (journal line" .. (#bad > 1 and "s " or " ") .. table.concat(bad, ", ") .. " unreadable)"
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
    local ok, ctx = pcall(playbook.context, {args = args, readonly = true, command = "history"})
    if not ok then io.stderr:write("slipway history: ", playbook.errmsg(ctx), "\n"); return 2 end
    local runs = journal.runs(ctx.state_dir, {env = args.env, limit = args.limit})
    if args.json then
      local json = require "slipway.json"
      for _, s in ipairs(runs) do
        s.records = nil
        -- journals written before values were cleaned may hold raw bytes
        io.stdout:write(json.encode(journal.clean(s)), "\n")
      end
      return 0
    end
    if #runs == 0 then io.stdout:write("no runs recorded in ", ctx.state_dir, "\n"); return 0 end
    for _, s in ipairs(runs) do
      local outcome = s.outcome or "?"
      if not s.finished then
        outcome = proc.alive(s.pid) and "running" or "unfinished (killed?)"
      end
      io.stdout:write(esc(string.format("%-25s %s  %-8s %-20s %-12s %-22s %s -> %s  %s%s",
        s.id or "?", type(s.started) == "number" and os.date("!%Y-%m-%d %H:%M:%S", math.floor(s.started)) or "?",
        s.command or "?", tostring(s.user or "?") .. "@" .. tostring(s.host or "?"),
        type(s.sha) == "string" and s.sha:sub(1, 12) or "-",
        outcome .. (s.failed_step and (" @" .. tostring(s.failed_step)) or ""),
        short(s.versions_before), short(s.versions_after),
        type(s.duration) == "number" and playbook.fmt_dur(s.duration) or "-",
        #s.envs > 0 and ("  [" .. table.concat(s.envs, ",") .. "]") or "") .. damage(s)), "\n")
    end
    return 0
  end,
}
