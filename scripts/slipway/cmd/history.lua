--- slipway history [ENV|RUN]: past runs from the shared record and the
-- local journals.
local journal = require "slipway.journal"
local playbook = require "slipway.playbook"
local deploy = require "slipway.deploy"
local state = require "slipway.state"
local proc = require "slipway.proc"
local core = require "slipway.core"
local ui = require "slipway.ui"

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
          args = s.args, answers = s.answers, error = s.error, changes = s.changes,
          journal = {host = ME.host, path = s.path}, only_local = true}
end

-- ---- one line per run ------------------------------------------------------------

-- The part of a component's versions that tells them apart: a long common
-- prefix (up to a . - + _) and a trailing build hash (.hXXXXXXX, -gXXXXXXX)
-- are left out while the rest still differs:
-- 1.0.0-0.dev.git.3506.hba24eb2a, 1.0.0-0.dev.git.3601.h0b4d0b4d -> 3506, 3601.
-- Short versions (2026.4.1) stay whole. Returns {version -> shown}.
local function shorten(values)
  local out, list, long = {}, {}, false
  for _, v in ipairs(values) do
    if not out[v] then out[v] = v; list[#list + 1] = v; long = long or #v > 12 end
  end
  if #list < 2 or not long then return out end
  local p = list[1]
  for _, v in ipairs(list) do
    while v:sub(1, #p) ~= p do p = p:sub(1, -2) end
  end
  local cut = 0
  for i = #p, 1, -1 do if p:sub(i, i):match("[%.%-%+_]") then cut = i; break end end
  local function distinct(t)
    local seen = {}
    for _, v in ipairs(list) do
      if t[v] == "" or seen[t[v]] then return false end
      seen[t[v]] = true
    end
    return true
  end
  local cutt = {}
  for _, v in ipairs(list) do cutt[v] = v:sub(cut + 1) end
  if not distinct(cutt) then return out end
  local nohash = {}
  for _, v in ipairs(list) do
    local rest, hash = cutt[v]:match("^(.-)[%.%-%+][gh](%x+)$")
    nohash[v] = (rest and #hash >= 7) and rest or cutt[v]
  end
  return distinct(nohash) and nohash or cutt
end

local REVERTED = {reverted = true, ["revert-failed"] = true, ["revert-unpushed"] = true}

--- The versions a run attempted and where it ended, per component that
-- changed: "binderhub 3506→3601 (reverted to 3506)".
local function versions_text(s)
  local v = s.versions or {}
  local a, b = v.attempted or v.final, v.before
  if type(a) ~= "table" then return "" end
  local f = type(v.final) == "table" and v.final or a
  b = type(b) == "table" and b or nil
  local names = {}
  for n in pairs(a) do names[#names + 1] = tostring(n) end
  table.sort(names)
  local changed = {}
  for _, n in ipairs(names) do
    if (b and b[n] ~= a[n]) or (not b and f[n] ~= a[n]) then changed[#changed + 1] = n end
  end
  if #changed == 0 then
    if b then return "versions unchanged" end
    changed = names  -- nothing to compare with: what it deployed
  end
  local parts = {}
  for _, n in ipairs(changed) do
    local sh = shorten({b and b[n] or a[n], a[n], f[n] or a[n]})
    local t = n .. " " .. (b and b[n] and (sh[b[n]] .. "→") or "") .. tostring(sh[a[n]])
    if f[n] ~= a[n] and f[n] then
      t = t .. (REVERTED[s.outcome] and " (reverted to " or " (ended at ") .. tostring(sh[f[n]]) .. ")"
    end
    parts[#parts + 1] = t
  end
  return table.concat(parts, ", ")
end

-- a word as a shell reads it
local function quote(a)
  a = tostring(a)
  if a == "" or a:find("[^%w%-%._/=:,@+]") then a = "'" .. a:gsub("'", "'\\''") .. "'" end
  return a
end

-- the runbook's name and arguments: "restart staging --deployment=binder"
-- (brief: without --yes, which the confirmation names)
local function invocation(s, brief)
  local t = {(tostring(s.command):gsub("^runbook ", ""))}
  for _, a in ipairs(type(s.args) == "table" and s.args or {}) do
    if not (brief and (a == "--yes" or a == "-y")) then t[#t + 1] = quote(a) end
  end
  return table.concat(t, " ")
end

-- who answered the confirmations: "yes by alice (terminal)"
local function confirmations(s)
  local t = {}
  for _, a in ipairs(s.answers or {}) do
    if a.kind == "confirm" then
      t[#t + 1] = string.format("%s by %s (%s)", tostring(a.answer), tostring(a.user), tostring(a.how))
    end
  end
  return table.concat(t, "; ")
end

local function is_runbook(s) return tostring(s.command):find("^runbook ") ~= nil end

-- the columns of the list: {header, width, key}; BY and COMMIT only when
-- the terminal is wide enough; WHAT takes the rest
local function columns(width)
  local cols = {{"RUN", 25}, {"COMMAND", 8}}
  if width >= 110 then cols[#cols + 1] = {"BY", 14} end
  if width >= 120 then cols[#cols + 1] = {"COMMIT", 8} end
  cols[#cols + 1] = {"OUTCOME", 15}
  local used = 0
  for _, c in ipairs(cols) do used = used + c[2] + 1 end
  cols[#cols + 1] = {"WHERE: WHAT", math.max(10, width - used)}
  return cols
end

local function row(cols, cells)
  local out = {}
  for i, c in ipairs(cols) do
    local v = ui.fit(cells[c[1]] or "", c[2])
    out[i] = i < #cols and (v .. string.rep(" ", c[2] - (utf8.len(v) or #v))) or v
  end
  return (table.concat(out, " "):gsub("%s+$", ""))
end

local function line(cols, s, loc)
  local judged = outcome_of(s)
  local outcome = judged:match("^%S+") .. (s.failed_step and (" @" .. tostring(s.failed_step)) or "")
  local what
  local envs = {}
  if is_runbook(s) then
    local c = confirmations(s)
    what = invocation(s, true) .. (c ~= "" and ("; " .. c) or "")
    -- the environments it acted on, unless its arguments name them
    local named = {}
    for _, a in ipairs(type(s.args) == "table" and s.args or {}) do named[a] = true end
    for _, e in ipairs(s.envs or {}) do if not named[e] then envs[#envs + 1] = e end end
  else
    what = versions_text(s)
    envs = s.envs or {}
  end
  local where = table.concat(envs, ",")
  what = where .. ((where ~= "" and what ~= "") and ": " or "") .. what
  local d = damage(loc)
  return row(cols, {RUN = esc(s.id or "?"), COMMAND = esc(is_runbook(s) and "runbook" or (s.command or "?")),
    BY = esc(tostring(s.user or "?") .. "@" .. tostring(s.host or "?")),
    COMMIT = type(s.sha) == "string" and esc(s.sha:sub(1, 8)) or "-", OUTCOME = esc(outcome),
    ["WHERE: WHAT"] = (d ~= "" and (d:gsub("^%s+", "") .. " ") or "") .. esc(what)})
end

-- ---- one run in detail -------------------------------------------------------------

-- `history RUN`: the summary (any machine), then the local journal's detail
local function show_run(s, loc)
  local out = {}
  local function add(fmt, ...) out[#out + 1] = esc(string.format(fmt, ...)) end
  add("run %s: slipway %s", s.id, is_runbook(s) and ("runbook " .. invocation(s)) or tostring(s.command))
  add("  outcome   %s%s%s", outcome_of(s), s.status and (" (exit " .. tostring(s.status) .. ")") or "",
    s.failed_step and (", failed step " .. tostring(s.failed_step)) or "")
  if s.error then add("  error     %s", s.error) end
  add("  by        %s@%s (pid %s)%s", tostring(s.user), tostring(s.host), tostring(s.pid),
    s.confirmed_by and (", confirmed by " .. s.confirmed_by) or "")
  if s.ci_url then add("  CI run    %s", s.ci_url) end
  add("  commit    %s%s%s", tostring(s.sha), s.dirty and " (with uncommitted changes)" or "",
    s.head and (" -> " .. s.head) or "")
  add("  started   %s UTC%s", when(s.started), s.ended and type(s.ended) == "number" and
    ("; ended " .. when(s.ended) .. " UTC (" .. dur(s.duration) .. ")") or
    (s.duration and ("; took " .. dur(s.duration)) or ""))
  if s.resume_of then add("  resumes   %s", s.resume_of) end
  if #(s.envs or {}) > 0 then add("  envs      %s", table.concat(s.envs, ", ")) end
  local v = s.versions or {}
  local vt = versions_text(s)
  if vt ~= "" then add("  versions  %s", vt) end
  if v.before then add("            before    %s", short(v.before)) end
  if v.attempted then add("            attempted %s", short(v.attempted)) end
  if v.failed then add("            failed test %s", short(v.failed)) end
  if v.final then add("            final     %s", short(v.final)) end
  if #(s.answers or {}) > 0 then
    add("  answers")
    for _, a in ipairs(s.answers) do
      add("    %s %s: %s, by %s (%s)", tostring(a.kind), tostring(a.question), tostring(a.answer),
        tostring(a.user), tostring(a.how))
    end
  end
  if type(s.changes) == "table" and #s.changes > 0 then
    add("  changed")
    for _, c in ipairs(s.changes) do add("    - %s", c) end
  end
  if #(s.steps or {}) > 0 then
    add("  steps")
    for _, st in ipairs(s.steps) do
      add("    %-12s %-8s %8s%s", tostring(st.name), st.skipped and "skipped" or (st.ok and "ok" or "FAILED"),
        dur(st.duration), st.error and ("  " .. st.error) or (st.skipped and ("  (" .. tostring(st.skipped) .. ")") or ""))
    end
  end
  if #(s.checks or {}) > 0 then
    add("  checks")
    local w = 12
    for _, c in ipairs(s.checks) do w = math.max(w, #tostring(c.name)) end
    for _, c in ipairs(s.checks) do
      add("    %-10s %-" .. w .. "s %-5s %8s%s%s", tostring(c.env), tostring(c.name), c.ok and "ok" or "FAIL",
        dur(c.duration), c.phase and ("  (" .. c.phase .. ")") or "", (not c.ok and c.detail) and ("  " .. c.detail) or "")
    end
  end
  local r = s.revert
  if r then
    add("  revert    revert commit %s undoes %s: the tree of %s (the last good commit)%s",
      tostring(r.commit):sub(1, 12), tostring(r.from):sub(1, 12), tostring(r.to):sub(1, 12),
      r.ok == false and ", FAILED" or "")
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
    local function put(text) io.stdout:write(esc(text), "\n") end
    for _, x in ipairs(loc.records) do
      if x.type == "step_start" then
        put(string.format("  -- step %s", tostring(x.step)))
      elseif x.type == "cmd" then
        put(string.format("  $ %s  (exit %s, %s)%s", tostring(x.argv), tostring(x.code),
          dur(x.duration), x.planned and " planned" or ""))
      elseif x.type == "log" then
        put(string.format("  %-5s %s", tostring(x.level), tostring(x.message)))
      elseif x.type == "check" then
        put(string.format("  check %s/%s: %s %s", tostring(x.env), tostring(x.name),
          x.ok and "ok" or "FAIL", tostring(x.detail or "")))
      elseif x.type == "deployed" then
        local b = x.before and x.before.versions
        local parts = {}
        local names = {}
        for n in pairs(x.versions or {}) do names[#names + 1] = tostring(n) end
        table.sort(names)
        for _, n in ipairs(names) do
          local a, o = x.versions[n], b and b[n]
          local sh = shorten({o or a, a})
          parts[#parts + 1] = n .. " " .. ((o and o ~= a) and (sh[o] .. "→" .. sh[a]) or (tostring(sh[a]) .. " (unchanged)"))
        end
        put(string.format("  deployed %s revision %s: %s", tostring(x.env), tostring(x.revision), table.concat(parts, ", ")))
      elseif x.type == "answer" then
        for _, l in ipairs(x.plan or {}) do put("  | " .. tostring(l)) end
        put(string.format("  %s %q: %s, by %s (%s)", tostring(x.kind), tostring(x.question), tostring(x.answer),
          tostring(x.user), tostring(x.how)))
      elseif x.type == "write" then
        put(string.format("  wrote %s%s", tostring(x.path), x.planned and " (planned)" or ""))
      elseif x.type == "changed" then
        put(string.format("  changed: %s%s", tostring(x.text), x.planned and " (planned)" or ""))
      end
    end
  end
end

return {
  summary = "list past runs (all, or those that touched ENV), or show one run",
  description = [==[
A header, then one line per run, newest first, cut to the terminal's width
(100 columns when stdout is not a terminal; long fields end in "…"): the run
id (its start, UTC), the command, who@host and the commit (on wider
terminals), the outcome (success, failed @STEP, reverted @test,
revert-failed, revert-unpushed, running, abandoned; a runbook: done,
declined, refused, failed), and where: what -- the environments and, per
component that changed, the versions attempted and where the run ended
("binderhub 3506→3601 (reverted to 3506)"); for a runbook its arguments and
who confirmed. Runs come from the shared record (slipway.yaml `state:`; every
machine sees them) and from this machine's journals (STATE_DIR/journal/). A
run with no end is "abandoned" once its lease (the heartbeat it writes while
it runs) has expired. `history RUN` (an id or its prefix) shows one run: its
versions, answers, steps, checks, revert, who ran it and the CI run; with the
commands, versions deployed, plans and log when its journal is on this
machine. An unknown ENV is an error (exit 2). --json prints the summaries as
JSON lines (with the answers: who confirmed what, and how).]==],
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
        local names = {}
        for _, e in ipairs(ctx.envs and ctx.envs.list or {}) do names[#names + 1] = e.name end
        local near = #names > 0 and require("slipway.args").suggest(run_id, names)
        io.stderr:write("slipway history: no environment or run '", esc(run_id), "'",
          near and ("; did you mean " .. esc(near) .. "?") or "",
          #names > 0 and ("\n  environments: " .. esc(table.concat(names, ", "))) or "",
          "\n  runs: in ", deploy.store(ctx):where(), " and ", ctx.state_dir, " (slipway history lists them)\n")
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
        if l then
          s.bad_lines, s.torn_line = l.bad_lines, l.torn_line
          s.answers = s.answers or l.answers  -- who confirmed what (the local journal)
        end
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
    local cols = columns(ui.width(1))
    local head = {}
    for _, c in ipairs(cols) do head[c[1]] = c[1] end
    io.stdout:write(row(cols, head), "\n")
    for _, s in ipairs(runs) do io.stdout:write(line(cols, s, locals[s.id]), "\n") end
    return 0
  end,
}
