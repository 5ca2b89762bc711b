--- slipway history [ENV|RUN]: past runs from the shared record and the
-- local journals.
local journal = require "slipway.journal"
local playbook = require "slipway.playbook"
local deploy = require "slipway.deploy"
local state = require "slipway.state"
local proc = require "slipway.proc"
local core = require "slipway.core"

-- what came from a journal or the record (names of steps, playbooks, users)
-- is printed with its control characters escaped: it must not act on the
-- terminal
local function esc(v) return core.escape(tostring(v)) end

local function short(v)
  local t = {}
  local keys = {}
  for k in pairs(v or {}) do keys[#keys + 1] = tostring(k) end
  table.sort(keys)
  for _, k in ipairs(keys) do t[#t + 1] = k .. "=" .. tostring(v[k]) end
  return #t > 0 and table.concat(t, ",") or "-"
end

local function when(t)
  return type(t) == "number" and os.date("!%Y-%m-%d %H:%M:%S", math.floor(t)) or "?"
end

local function dur(d) return type(d) == "number" and playbook.fmt_dur(d) or "-" end

-- "(line 1 unreadable)": lines journal.read skipped, and a torn last line
local function damage(s)
  if not s then return "" end
  local bad = {}
  for _, n in ipairs(s.bad_lines or {}) do bad[#bad + 1] = tostring(n) end
  if s.torn_line then bad[#bad + 1] = s.torn_line .. " (torn)" end
  if #bad == 0 then return "" end
  return "  (journal line" .. (#bad > 1 and "s " or " ") .. table.concat(bad, ", ") .. " unreadable)"
end

local ME = journal.whoami()

--- The outcome of a run as the record (or a local journal) tells it: a run
-- with no end is "running" while its lease (`expires`, renewed by its
-- heartbeat) holds and "abandoned" after; on this host its pid decides.
local function outcome_of(s)
  if s.ended or s.finished then return s.outcome or "?" end
  if s.host == ME.host and s.pid then
    return proc.alive(s.pid) and "running" or "abandoned (pid " .. tostring(s.pid) .. " is gone)"
  end
  if type(s.expires) == "number" then
    if s.expires < journal.now() then return "abandoned (no heartbeat since " .. when(s.expires) .. " UTC)" end
    return "running (on " .. tostring(s.host) .. ")"
  end
  return "unfinished"
end

-- a record summary, or a local journal's summary in the record's shape
local function from_journal(s)
  return {id = s.id, command = s.command, user = s.user, host = s.host, pid = s.pid, sha = s.sha,
          started = s.started, duration = s.duration, outcome = s.outcome, finished = s.finished,
          ended = s.finished and true or nil, status = s.status, failed_step = s.failed_step, envs = s.envs,
          steps = s.steps, versions = {before = s.versions_before, final = s.versions_after},
          journal = {host = ME.host, path = s.path}, only_local = true}
end

local function line(s, loc)
  local v = s.versions or {}
  local rv = ""
  if s.revert and s.revert.commit then
    rv = "  reverted to " .. tostring(s.revert.to or "?"):sub(1, 12) ..
      (s.revert.side_branch and (" (on branch " .. s.revert.side_branch .. ", not on " ..
        tostring(s.revert.branch) .. ")") or "")
  end
  local failed = v.failed and ("  failed: " .. short(v.failed)) or ""
  return esc(string.format("%-25s %s  %-8s %-20s %-12s %-22s %s -> %s  %s%s%s%s",
    s.id or "?", when(s.started), s.command or "?", tostring(s.user or "?") .. "@" .. tostring(s.host or "?"),
    type(s.sha) == "string" and s.sha:sub(1, 12) or "-",
    outcome_of(s) .. (s.failed_step and (" @" .. tostring(s.failed_step)) or ""),
    short(v.attempted or v.before), short(v.final), dur(s.duration),
    #(s.envs or {}) > 0 and ("  [" .. table.concat(s.envs, ",") .. "]") or "", failed, rv) .. damage(loc))
end

-- `history RUN`: the summary (any machine), then the local journal's detail
local function show_run(s, loc)
  local out = {}
  local function add(fmt, ...) out[#out + 1] = esc(string.format(fmt, ...)) end
  add("run %s: slipway %s", s.id, tostring(s.command))
  add("  outcome   %s%s%s", outcome_of(s), s.status and (" (exit " .. tostring(s.status) .. ")") or "",
    s.failed_step and (", failed step " .. tostring(s.failed_step)) or "")
  if s.error then add("  error     %s", s.error) end
  add("  by        %s@%s (pid %s)%s", tostring(s.user), tostring(s.host), tostring(s.pid),
    s.confirmed_by and (", confirmed by " .. s.confirmed_by) or "")
  if s.ci_url then add("  CI run    %s", s.ci_url) end
  add("  commit    %s%s%s", tostring(s.sha), s.dirty and " (with uncommitted changes)" or "",
    s.head and (" -> " .. s.head) or "")
  add("  started   %s UTC%s", when(s.started), s.ended and type(s.ended) == "number" and
    ("; ended " .. when(s.ended) .. " UTC (" .. dur(s.duration) .. ")") or "")
  if s.resume_of then add("  resumes   %s", s.resume_of) end
  local v = s.versions or {}
  if v.attempted or v.before then add("  versions  attempted %s", short(v.attempted or v.before)) end
  if v.failed then add("            failed test %s", short(v.failed)) end
  if v.final then add("            final     %s", short(v.final)) end
  if #(s.steps or {}) > 0 then
    add("  steps")
    for _, st in ipairs(s.steps) do
      add("    %-12s %-8s %8s%s", tostring(st.name), st.skipped and "skipped" or (st.ok and "ok" or "FAILED"),
        dur(st.duration), st.error and ("  " .. st.error) or (st.skipped and ("  (" .. tostring(st.skipped) .. ")") or ""))
    end
  end
  if #(s.checks or {}) > 0 then
    add("  checks")
    for _, c in ipairs(s.checks) do
      add("    %-10s %-12s %-5s %8s%s%s", tostring(c.env), tostring(c.name), c.ok and "ok" or "FAIL",
        dur(c.duration), c.phase and ("  (" .. c.phase .. ")") or "", (not c.ok and c.detail) and ("  " .. c.detail) or "")
    end
  end
  local r = s.revert
  if r then
    add("  revert    %s -> %s (back to %s)%s", tostring(r.from):sub(1, 12), tostring(r.commit):sub(1, 12),
      tostring(r.to):sub(1, 12), r.ok == false and ", FAILED" or "")
    if r.why then add("            why: %s", r.why) end
    if r.commits and #r.commits > 0 then
      local c = {}
      for i, x in ipairs(r.commits) do c[i] = tostring(x):sub(1, 12) end
      add("            reverted: %s", table.concat(c, " "))
    end
    if r.pushed then add("            pushed to %s", tostring(r.branch))
    elseif r.pushed == false then
      add("            NOT on %s: %s", tostring(r.branch), r.side_branch and ("on branch " .. r.side_branch) or "not pushed")
    end
    if r.error then add("            error: %s", r.error) end
  end
  if s.journal and s.journal.path then
    add("  journal   %s:%s%s", tostring(s.journal.host), tostring(s.journal.path), loc and "" or " (not on this machine)")
  end
  io.stdout:write(table.concat(out, "\n"), "\n")
  if loc and loc.records then
    io.stdout:write("\nfrom the local journal", damage(loc), ":\n")
    for _, x in ipairs(loc.records) do
      if x.type == "cmd" then
        io.stdout:write(esc(string.format("  $ %s  (exit %s, %s)%s", tostring(x.argv), tostring(x.code),
          dur(x.duration), x.planned and " planned" or "")), "\n")
      elseif x.type == "log" then
        io.stdout:write(esc(string.format("  %-5s %s", tostring(x.level), tostring(x.message))), "\n")
      elseif x.type == "check" then
        io.stdout:write(esc(string.format("  check %s/%s: %s %s", tostring(x.env), tostring(x.name),
          x.ok and "ok" or "FAIL", tostring(x.detail or ""))), "\n")
      end
    end
  end
end

return {
  summary = "list past runs (all, or those that touched ENV), or show one run",
  description = [==[
One line per run, newest first: run id, start (UTC), command, who@host,
commit, outcome (success, failed, reverted, revert-failed, revert-unpushed,
running, abandoned), versions attempted -> final, duration, environments, the
versions that failed test and the revert. Runs come from the shared record
(slipway.yaml `state:`; every machine sees them) and from this machine's
journals (STATE_DIR/journal/). A run with no end is "abandoned" once its lease
(the heartbeat it writes while it runs) has expired. `history RUN` (an id or
its prefix) shows one run: its steps, checks, versions, revert, who ran it and
the CI run; with the full commands and log when its journal is on this
machine. --json prints the summaries as JSON lines.]==],
  options = {
    {name = "limit", type = "integer", default = 50, metavar = "N", help = "at most N runs"},
    {name = "json", type = "boolean", help = "one JSON object per run"},
  },
  positionals = {{name = "target", optional = true, metavar = "ENV|RUN",
                  help = "only runs that touched ENV, or the run RUN"}},
  run = function(args)
    local ok, ctx = pcall(function()
      local c = playbook.context{args = args, readonly = true, command = "history"}
      if c.manifest then deploy.setup(c) end
      return c
    end)
    if not ok then io.stderr:write("slipway history: ", playbook.errmsg(ctx), "\n"); return 2 end
    local env, run_id
    if args.target then
      if ctx.envs and ctx.envs.by_name[args.target] then env = args.target else run_id = args.target end
    end
    local locals = {}
    for _, s in ipairs(journal.runs(ctx.state_dir)) do
      if not s.dry_run then locals[#locals + 1] = s; locals[s.id] = s end
    end
    local okr, doc = pcall(deploy.record, ctx, env)
    if not okr then
      io.stderr:write("slipway history: ", playbook.errmsg(doc), "\n")
      return 1
    end
    if run_id then
      local s = state.find_run(doc, run_id)
      local loc = s and locals[s.id]
      if not s then
        for _, l in ipairs(locals) do
          if l.id == run_id or l.id:sub(1, #run_id) == run_id then loc = l; s = from_journal(l); break end
        end
      end
      if not s then
        io.stderr:write("slipway history: no run or environment '", esc(run_id), "' (in ",
          deploy.store(ctx):where(), " or ", ctx.state_dir, ")\n")
        return 2
      end
      show_run(s, loc)
      return 0
    end
    local runs = state.runs(doc, {env = env})
    local seen = {}
    for _, s in ipairs(runs) do seen[s.id] = true end
    for _, l in ipairs(locals) do
      local keep = not seen[l.id]
      if keep and env then
        keep = false
        for _, e in ipairs(l.envs) do if e == env then keep = true end end
      end
      if keep then runs[#runs + 1] = from_journal(l) end
    end
    table.sort(runs, function(a, b)
      local ta, tb = tonumber(a.started) or 0, tonumber(b.started) or 0
      if ta ~= tb then return ta > tb end
      return tostring(a.id) > tostring(b.id)
    end)
    for i = #runs, args.limit + 1, -1 do runs[i] = nil end
    if args.json then
      local json = require "slipway.json"
      for _, s in ipairs(runs) do
        local l = locals[s.id]
        if l then s.bad_lines, s.torn_line = l.bad_lines, l.torn_line end
        s.judged = outcome_of(s)
        -- journals written before values were cleaned may hold raw bytes
        io.stdout:write(json.encode(journal.clean(s)), "\n")
      end
      return 0
    end
    if #runs == 0 then
      io.stdout:write("no runs recorded in ", deploy.store(ctx):where(), " or ", ctx.state_dir, "\n")
      return 0
    end
    for _, s in ipairs(runs) do io.stdout:write(line(s, locals[s.id]), "\n") end
    return 0
  end,
}
