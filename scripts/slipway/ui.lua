--- slipway.ui: asking the operator, and output they can read at a glance.
--
--   local ui = require "slipway.ui"
--   if ui.confirm("Restart deployment/hub in prod?", {plan = {
--        "kubectl rollout restart deployment/hub --namespace=prod"}}) then ... end
--   local node = ui.choose("Which node?", {"node-a", "node-b"})
--   local why = ui.input("Reason for the ban", {default = "abuse"})
--   print(ui.table(rows, {"NAME", "AGE", "STATUS"}))
--
-- Who answers (ui.setup sets it; slipway runbook does it for you):
--   --yes (yes = true) or SLIPWAY_ASSUME_YES=1 (the switch for CI): every
--       question is answered yes / with its default, without asking;
--   --dry-run: the plan is shown and the answer is "yes (dry run)" so the
--       rehearsal goes through every step (the mutations are only planned);
--   a terminal on stdin: the question is asked there (a blocking read of
--       the terminal, acceptable for an interactive prompt);
--   an input function (tests): called with the prompt, returns the line;
--   none of these: the question FAILS with code "refused" and a message
--       saying to re-run with --yes or from a terminal -- it never hangs.
-- Every answer is written to the journal (type "answer": question, answer,
-- how, user, plan) when a journal is set up.
local core = require "slipway.core"
local fscore = require "slipway.fs.core"
local journal = require "slipway.journal"

local M = {}

local state = {}

local function isatty(fd) return fscore.isatty(fd) end

--- ui.setup{yes =, dry_run =, input = fn(prompt) -> line|nil, out = file,
-- journal =, tty = bool (default: stdin is a terminal), name = "runbook x"}.
-- Returns the previous settings (to restore them).
function M.setup(opts)
  local prev = state
  state = {}
  for k, v in pairs(opts or {}) do state[k] = v end
  if state.yes == nil then
    local y = os.getenv("SLIPWAY_ASSUME_YES")
    state.yes = y ~= nil and y ~= "" and y ~= "0"
  end
  if state.tty == nil then state.tty = isatty(0) end
  return prev
end

local function out() return state.out or io.stderr end

local function write(...)
  local f = out()
  f:write(core.redact(table.concat({...})))
  if f.flush then f:flush() end
end

local function user() return journal.whoami().user end

-- a structured error without a source position (the message says it all)
local function refuse(msg)
  error(core.error("refused", msg), 0)
end

local function record(kind, question, answer, how, extra)
  local rec = {type = "answer", kind = kind, question = question, answer = answer,
               how = how, user = user()}
  for k, v in pairs(extra or {}) do rec[k] = v end
  if state.journal then state.journal:record(rec) end
  state.answers = state.answers or {}
  state.answers[#state.answers + 1] = rec
  return rec
end

--- The answers given so far (records as journalled).
function M.answers() return state.answers or {} end

-- read one line: the input function, else the terminal, else refuse
local function read_line(prompt, question)
  if state.input then
    write(prompt)
    local l = state.input(prompt)
    if l ~= nil then write(l, "\n") end
    return l, "input"
  end
  if not state.tty then
    refuse(string.format(
      "%s needs an answer to %q but there is no terminal (stdin is not a tty); " ..
      "re-run with --yes to answer yes in advance (or SLIPWAY_ASSUME_YES=1 in CI), " ..
      "or --dry-run to rehearse", state.name or "this command", question))
  end
  write(prompt)
  local l = io.stdin:read("l")
  return l, "terminal"
end

-- a word as a shell reads it back
local function quote(a)
  a = tostring(a)
  if a:find("[%s'\"\\$]") or a == "" then a = "'" .. a:gsub("'", "'\\''") .. "'" end
  return a
end

local function plan_lines(plan)
  if plan == nil then return {} end
  if type(plan) == "string" then
    local t = {}
    for l in (plan .. "\n"):gmatch("(.-)\n") do t[#t + 1] = l end
    if t[#t] == "" then t[#t] = nil end
    return t
  end
  local t = {}
  for _, p in ipairs(plan) do
    if type(p) == "table" then
      -- {argv = {...}} a command, {diff = "..."} a file diff, {text = "..."}
      if p.argv then
        -- as a shell would read it: its extra environment first, quoted
        local parts = {}
        local names = {}
        for k in pairs(p.env or {}) do names[#names + 1] = k end
        table.sort(names)
        for _, k in ipairs(names) do parts[#parts + 1] = k .. "=" .. quote(p.env[k]) end
        for _, a in ipairs(p.argv) do parts[#parts + 1] = quote(a) end
        t[#t + 1] = "$ " .. table.concat(parts, " ") .. (p.cwd and ("   (in " .. p.cwd .. ")") or "")
      elseif p.diff then
        for l in (p.diff .. "\n"):gmatch("(.-)\n") do t[#t + 1] = l end
        if t[#t] == "" then t[#t] = nil end
      else
        t[#t + 1] = tostring(p.text or p[1] or "")
      end
    else
      t[#t + 1] = tostring(p)
    end
  end
  return t
end

local function show_plan(plan)
  local lines = plan_lines(plan)
  if #lines == 0 then return end
  write("This will:\n")
  for _, l in ipairs(lines) do write("  ", l, "\n") end
end

--- ui.confirm(question, {plan = lines|string|{{argv=}, {diff=}, {text=}},
-- default = false}) -> true to go ahead, false when the operator says no.
-- Prints the planned mutation first.
function M.confirm(question, opts)
  opts = opts or {}
  show_plan(opts.plan)
  local plan = plan_lines(opts.plan)
  if state.dry_run then
    write(question, " [dry run: not asking]\n")
    record("confirm", question, "yes", "dry-run", {plan = plan})
    return true
  end
  if state.yes then
    write(question, " [yes: --yes]\n")
    record("confirm", question, "yes", "--yes", {plan = plan})
    return true
  end
  for _ = 1, 5 do
    local l, how = read_line(question .. (opts.default and " [Y/n] " or " [y/N] "), question)
    if l == nil then
      record("confirm", question, "no", how .. " (end of input)", {plan = plan})
      return false
    end
    l = l:lower():gsub("^%s+", ""):gsub("%s+$", "")
    local yes
    if l == "" then yes = opts.default and true or false
    elseif l == "y" or l == "yes" then yes = true
    elseif l == "n" or l == "no" then yes = false end
    if yes ~= nil then
      record("confirm", question, yes and "yes" or "no", how, {plan = plan})
      return yes
    end
    write("Please answer y or n.\n")
  end
  record("confirm", question, "no", "no valid answer", {plan = plan})
  return false
end

--- ui.choose(question, options, {default = option}) -> the chosen option.
-- options: a list of strings (or {label =, value =} tables; the value is
-- returned). Answer with the number or the label. With --yes/--dry-run the
-- default is taken; without a default they fail (code "refused").
function M.choose(question, options, opts)
  opts = opts or {}
  if type(options) ~= "table" or #options == 0 then error("ui.choose: no options", 2) end
  local labels, values = {}, {}
  for i, o in ipairs(options) do
    if type(o) == "table" then labels[i], values[i] = tostring(o.label or o.value), o.value
    else labels[i], values[i] = tostring(o), o end
  end
  write(question, "\n")
  local default_i
  for i, l in ipairs(labels) do
    if opts.default ~= nil and (values[i] == opts.default or l == opts.default) then default_i = i end
    write(string.format("  %d) %s\n", i, l))
  end
  if state.yes or state.dry_run then
    if not default_i then
      refuse(string.format("%q has no default to take with %s; run it from a terminal",
        question, state.dry_run and "--dry-run" or "--yes"))
    end
    record("choose", question, labels[default_i], state.dry_run and "dry-run" or "--yes")
    return values[default_i]
  end
  for _ = 1, 5 do
    local l, how = read_line(default_i and string.format("Choice [%d]: ", default_i) or "Choice: ", question)
    if l == nil then refuse("no answer to " .. string.format("%q", question)) end
    l = l:gsub("^%s+", ""):gsub("%s+$", "")
    local i = tonumber(l)
    if l == "" then i = default_i end
    if not i then for k, lab in ipairs(labels) do if lab == l then i = k end end end
    if i and labels[i] then
      record("choose", question, labels[i], how)
      return values[i]
    end
    write("Please answer with a number from 1 to ", tostring(#labels), ".\n")
  end
  refuse("no valid answer to " .. string.format("%q", question))
end

--- ui.input(question, {default =, validate = fn(s) -> true|false, msg}) ->
-- the answer (a string). --yes/--dry-run take the default (refused without).
function M.input(question, opts)
  opts = opts or {}
  if state.yes or state.dry_run then
    if opts.default == nil then
      refuse(string.format("%q has no default to take with %s; pass it as an argument",
        question, state.dry_run and "--dry-run" or "--yes"))
    end
    record("input", question, opts.default, state.dry_run and "dry-run" or "--yes")
    return opts.default
  end
  for _ = 1, 5 do
    local prompt = question .. (opts.default and (" [" .. opts.default .. "]") or "") .. ": "
    local l, how = read_line(prompt, question)
    if l == nil then refuse("no answer to " .. string.format("%q", question)) end
    if l == "" and opts.default ~= nil then l = opts.default end
    local ok, msg = true, nil
    if opts.validate then ok, msg = opts.validate(l) end
    if ok and l ~= "" then
      record("input", question, l, how)
      return l
    end
    write(msg or "Please give a value.", "\n")
  end
  refuse("no valid answer to " .. string.format("%q", question))
end

--- ui.table(rows, columns) -> text: a left-aligned table with a header.
-- columns: list of names, or {{"NAME", key = "name"}, ...}; rows: tables
-- indexed by the column key (default: the name lowercased) or lists.
function M.table(rows, columns)
  local heads, keys = {}, {}
  for i, c in ipairs(columns) do
    if type(c) == "table" then heads[i], keys[i] = c[1], c.key or c[1]:lower()
    else heads[i], keys[i] = c, c:lower() end
  end
  local cells = {heads}
  for _, r in ipairs(rows) do
    local line = {}
    for i, k in ipairs(keys) do
      local v = r[k]
      if v == nil then v = r[i] end
      line[i] = v == nil and "" or tostring(v)
    end
    cells[#cells + 1] = line
  end
  local width = {}
  for _, line in ipairs(cells) do
    for i, v in ipairs(line) do width[i] = math.max(width[i] or 0, utf8.len(v) or #v) end
  end
  local out = {}
  for _, line in ipairs(cells) do
    local parts = {}
    for i, v in ipairs(line) do
      parts[i] = i < #line and (v .. string.rep(" ", width[i] - (utf8.len(v) or #v))) or v
    end
    out[#out + 1] = table.concat(parts, "   ")
  end
  return table.concat(out, "\n") .. "\n"
end

--- ui.print(...): write to the operator (stderr unless setup said otherwise),
-- redacted.
function M.print(...)
  local t = {}
  for i = 1, select("#", ...) do t[i] = tostring(select(i, ...)) end
  write(table.concat(t, " "), "\n")
end

--- ui.width([fd]) -> the width in columns of the terminal on fd (default
-- 1, stdout): the kernel's (TIOCGWINSZ), else $COLUMNS; 100 when fd is not
-- a terminal (a pipe, a file: output that is read later).
function M.width(fd)
  fd = fd or 1
  if not isatty(fd) then return 100 end
  local n = fscore.columns(fd) or math.tointeger(tonumber(os.getenv("COLUMNS") or ""))
  return (n and n > 0) and n or 100
end

--- ui.fit(s, width) -> s cut to at most width characters (UTF-8), its last
-- one an ellipsis "…" when it was cut: a line that never wraps.
function M.fit(s, width)
  s = tostring(s)
  local n = utf8.len(s)
  if not n then return s:sub(1, width) end
  if n <= width then return s end
  if width < 1 then return "" end
  return s:sub(1, utf8.offset(s, width) - 1) .. "…"
end

--- ui.age(seconds) -> "3h", "2d", "10m", "45s" (kubectl's style).
function M.age(s)
  s = math.floor(s or 0)
  if s < 120 then return s .. "s" end
  if s < 7200 then return math.floor(s / 60) .. "m" end
  if s < 172800 then return math.floor(s / 3600) .. "h" end
  return math.floor(s / 86400) .. "d"
end

return M
