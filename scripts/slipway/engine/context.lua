--- slipway.engine.context: the run context (ctx) every step receives --
-- ctx:run, ctx:request, ctx:write, ctx:mutate journalled, and under a dry run
-- turned into a plan (with diffs) instead of changes.
--
-- It does not open a journal, find a repository or read slipway.yaml: the
-- caller (slipway.playbook) injects the journal and the logger, and the
-- repository's fields (root, manifest, sha, dirty, state_dir) are plain
-- fields of the table it passes.
--
--   local ctx = context.new{journal = j, log = require "slipway.log", root = dir,
--                           args = {}, dry_run = false}
--
-- Three modes: a normal run changes things; a dry run (dry_run = true) runs
-- what is marked read-only and plans the rest; a read-only context
-- (readonly = true: `slipway status`, `history`) runs what is marked
-- read-only and refuses the rest (code "refused") -- it plans nothing.
local core = require "slipway.core"
local task = require "slipway.task"
local proc = require "slipway.proc"
local http = require "slipway.http"
local fs = require "slipway.fs"
local diff = require "slipway.diff"
local errors = require "slipway.errors"

local errmsg = errors.message

local M = {}

local Ctx = {}
Ctx.__index = Ctx

--- A command as text: shell-quoted where needed, secrets masked.
function M.argv_text(argv)
  local t = {}
  for i, a in ipairs(argv) do
    a = tostring(a)
    if a:find("[%s'\"\\$]") or a == "" then a = "'" .. a:gsub("'", "'\\''") .. "'" end
    t[i] = a
  end
  return core.redact(table.concat(t, " "))
end
local argv_text = M.argv_text

-- a read-only context refuses what would change something
local function refuse(self, what)
  errors.fail("refused", string.format("%s is read-only: refused to %s", self.command or "this command", what))
end

--- Log a line at level (debug/info/warn/error) and journal it.
function Ctx:log(level, fmt, ...)
  local msg = select("#", ...) > 0 and string.format(fmt, ...) or fmt
  local log = self._log
  local prefix = self.prefix and ("[" .. self.prefix .. "] ") or ""
  ;(log[level] or log.info)("%s", prefix .. msg)
  if level ~= "debug" then
    self.journal:record{type = "log", level = level, step = self.step, message = msg}
  end
end

--- Add a plan entry: in a dry run it is printed with the plan; it is
-- journalled either way.
function Ctx:plan(text, fields)
  local rec = {type = "plan", step = self.step, text = text}
  for k, v in pairs(fields or {}) do rec[k] = v end
  self.journal:record(rec)
  self._plan[#self._plan + 1] = {step = self.step, text = core.redact(text)}
  if self.dry_run then self:log("info", "would %s", text) end
end

--- Add a diff (before -> after) to the dry-run plan.
function Ctx:diff(label, before, after)
  self._diffs[#self._diffs + 1] = {label = label, before = before or "", after = after or ""}
end

--- Count `seconds` as time spent waiting on the world (a child process, a
-- request, a rollout); ctx:child_time() sums it.
function Ctx:waited(seconds)
  self._child_time = self._child_time + seconds
end

--- Run a command (proc.run) and journal it. Under --dry-run, commands not
-- marked readonly = true are planned, not run.
function Ctx:run(argv, opts)
  opts = opts or {}
  local rec = {type = "cmd", step = self.step, argv = argv_text(argv), cwd = opts.cwd,
               readonly = opts.readonly or nil}
  if self.readonly and not opts.readonly then refuse(self, "run " .. rec.argv) end
  if self.dry_run and not opts.readonly then
    rec.planned = true
    self.journal:record(rec)
    self._plan[#self._plan + 1] = {step = self.step, text = "run " .. rec.argv}
    self:log("info", "would run: %s", rec.argv)
    return {code = 0, stdout = "", stderr = "", duration = 0, planned = true}
  end
  self._log.debug("%s$ %s", self.prefix and ("[" .. self.prefix .. "] ") or "", rec.argv)
  local t0 = task.now()
  local ok, res = pcall(proc.run, argv, opts)
  rec.duration = task.now() - t0
  self:waited(rec.duration)
  if ok then
    rec.code, rec.signal = res.code, res.signal
  else
    rec.error = errmsg(res)
    rec.code = type(res) == "table" and res.code or "error"
  end
  self.journal:record(rec)
  if not ok then error(res, 0) end
  return res
end

--- An HTTP request (http.request), journalled. Under --dry-run only GET and
-- HEAD are sent; others are planned and return {status = 0, planned = true}.
-- Inside a step with `retries`, the step's attempts are the one retry
-- budget: the request is made once (retries = 0) unless opts.retries says
-- otherwise; elsewhere http's own retries apply (docs/playbook.md).
function Ctx:request(opts)
  if opts.retries == nil and (self.step_retries or 0) > 0 then
    local o = {}
    for k, v in pairs(opts) do o[k] = v end
    o.retries = 0
    opts = o
  end
  local method = (opts.method or "GET"):upper()
  local rec = {type = "http", step = self.step, method = method,
               url = http.redact_url(opts.url)}
  local reads = method == "GET" or method == "HEAD"
  if self.readonly and not reads then refuse(self, "send " .. method .. " " .. rec.url) end
  if self.dry_run and not reads then
    rec.planned = true
    self.journal:record(rec)
    self._plan[#self._plan + 1] = {step = self.step, text = method .. " " .. rec.url}
    self:log("info", "would send %s %s", method, rec.url)
    return {status = 0, body = "", headers = {}, planned = true, json = function() return nil end}
  end
  local t0 = task.now()
  local ok, res = pcall(http.request, opts)
  rec.duration = task.now() - t0
  self:waited(rec.duration)
  if ok then rec.status = res.status else rec.error = errmsg(res) end
  self.journal:record(rec)
  if not ok then error(res, 0) end
  return res
end

--- ctx:request with method GET.
function Ctx:get(url, opts)
  local o = {}
  for k, v in pairs(opts or {}) do o[k] = v end
  o.method, o.url = "GET", url
  return self:request(o)
end

--- Write a file atomically (fs.write), journalled; under --dry-run the
-- change is planned and shown as a diff.
function Ctx:write(path, data, opts)
  if self.readonly then refuse(self, "write " .. path) end
  if self.dry_run then
    local before = fs.exists(path) and fs.read(path) or ""
    self.journal:record{type = "write", step = self.step, path = path, planned = true}
    if before ~= data then
      local label = path
      if path:sub(1, #self.root + 1) == self.root .. "/" then label = path:sub(#self.root + 2) end
      self._plan[#self._plan + 1] = {step = self.step, text = "write " .. label}
      self:diff(label, before, data)
    end
    return
  end
  local dir = fs.dirname(path)
  if not fs.exists(dir) then fs.mkdir(dir) end
  fs.write(path, data, opts)
  self.journal:record{type = "write", step = self.step, path = path}
end

--- Any other mutation (stopping a process, removing a file): under
-- --dry-run a plan entry, otherwise fn() runs and is journalled.
function Ctx:mutate(text, fn, ...)
  if self.readonly then refuse(self, text) end
  if self.dry_run then
    self:plan(text)
    return nil
  end
  self.journal:record{type = "action", step = self.step, text = text}
  return fn(...)
end

--- Time spent waiting on children and requests so far (seconds).
function Ctx:child_time() return self._child_time end

--- Print the plan of a dry run: the planned actions, then the unified diff
-- of every file and rendered manifest that would change.
function Ctx:print_plan(out)
  out = out or io.stdout
  out:write("\nPlan (dry run, nothing was changed):\n")
  if #self._plan == 0 then out:write("  (no changes)\n") end
  for i, p in ipairs(self._plan) do
    out:write(string.format("  %2d. [%s] %s\n", i, p.step or "-", p.text))
  end
  for _, d in ipairs(self._diffs) do
    local text = diff.unified(d.before, d.after, "a/" .. d.label, "b/" .. d.label)
    if text ~= "" then out:write("\n", core.redact(text)) end
  end
  out:flush()
end

--- A context. fields: journal and log (required: injected), args, dry_run,
-- readonly, command, and whatever the caller adds (root, manifest, sha,
-- dirty, state_dir, run_id: copied as they are).
function M.new(fields)
  assert(fields.journal, "context.new: journal required")
  assert(fields.log, "context.new: log required")
  local self = setmetatable({}, Ctx)
  for k, v in pairs(fields) do
    if k ~= "log" then self[k] = v end
  end
  self.args = fields.args or {}
  self.dry_run = (not fields.readonly) and (fields.dry_run or self.args.dry_run or false) or false
  self.readonly = fields.readonly or nil
  self.vars = fields.vars or {}
  self.run_id = fields.run_id or fields.journal.id
  self._plan, self._diffs = {}, {}
  self._log = fields.log
  self._child_time = 0
  return self
end

return M
