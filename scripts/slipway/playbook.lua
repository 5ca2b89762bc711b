--- slipway.playbook: the engine that runs a playbook's steps.
--
-- A playbook is a Lua file that returns its steps, in order:
--
--   local playbook = require "slipway.playbook"
--   return playbook.define{
--     name = "hello",
--     steps = {
--       {name = "build", run = function(ctx) ctx:run{"make"} end},
--       {name = "ship", retries = 2, retry_delay = 1, timeout = 60,
--        when = function(ctx) return not ctx.args.skip_ship end,
--        run = function(ctx) ctx:request{method = "POST", url = ctx.args.url} end,
--        revert = function(ctx, err) ctx:run{"make", "unship"} end},
--     },
--   }
--
-- `slipway run hello.lua [--dry-run] [--resume [RUN]] [ARGS]` runs it (define()
-- notices that the file is the main script); the standard commands (deploy,
-- stage, test, promote, revert) load their playbooks with playbook.load() and
-- call playbook.run(): one engine for both.
--
-- Each step is logged at start and end with its duration and journalled
-- (slipway.journal). A step may be retried (`retries`, `retry_delay` seconds
-- between attempts), has a deadline (`timeout` seconds, default none), is
-- skipped when `when(ctx)` returns false, and when it fails for good its
-- `revert(ctx, err)` runs (only that step's: a revert is a rescue, e.g. the
-- standard playbook's test step reverts the commits and redeploys staging).
--
-- THE CONTEXT (ctx) every step receives:
--   ctx.args      parsed command line: flags (--dry-run -> dry_run = true,
--                 --to=X -> to = "X") and positionals ctx.args[1..n]
--   ctx.vars      a table the steps share; saved (as JSON) with each finished
--                 step, restored on --resume
--   ctx.dry_run   true under --dry-run
--   ctx.run_id, ctx.journal, ctx.manifest (or nil), ctx.root, ctx.state_dir,
--   ctx.sha (git HEAD of root or nil), ctx.step (the running step's name)
--   ctx:run(argv, opts)      proc.run, journalled; under --dry-run only
--                            commands marked readonly = true run, the others
--                            become plan entries and return {code = 0,
--                            stdout = "", stderr = "", planned = true}
--   ctx:write(path, data)    fs.write, journalled; under --dry-run a plan
--                            entry and a diff of the file
--   ctx:request(opts)        http.request; under --dry-run only GET/HEAD run
--   ctx:get(url, opts)       ctx:request with method GET
--   ctx:plan(text, fields)   add a plan entry (dry run) / a journal note
--   ctx:diff(label, before, after)  add a diff to the dry-run plan
--   ctx:mutate(text, fn, ...)  any other change (kill a process, remove a
--                            file): planned under --dry-run, else fn(...)
--   ctx:log(level, fmt, ...) log and journal a line
--
-- EXIT STATUS (playbook.EXIT, the same for every command; docs/deploy.md):
--   0 ok, 1 failed, 2 bad input (usage, slipway.yaml, refused), 3 a test
--   failed and the revert succeeded, 4 the revert failed, 5 lock busy,
--   130/143 interrupted by SIGINT/SIGTERM.
local core = require "slipway.core"

-- errors of the world, without a library file:line in front (the message
-- names the environment, step or file itself)
local function raise(code, msg, fields) error(core.error(code, msg, fields), 0) end
local task = require "slipway.task"
local journal = require "slipway.journal"
local json = require "slipway.json"

local M = {}

M.EXIT = {ok = 0, failed = 1, bad_input = 2, reverted = 3, revert_failed = 4, locked = 5}

-- error codes that mean "the request was wrong", not "the world failed"
local BAD_INPUT = {manifest = true, usage = true, refused = true, resume = true,
                   bad_input = true, driver = true, playbook = true}

--- The exit status for an error raised by a step or a command.
function M.status_for(err)
  local code = type(err) == "table" and err.code
  if code == "locked" then return M.EXIT.locked end
  if code and BAD_INPUT[code] then return M.EXIT.bad_input end
  if code == "cancelled" then return 130 end
  if code == "revert_failed" then return M.EXIT.revert_failed end
  return M.EXIT.failed
end

-- ---- logging -------------------------------------------------------------

local function logger()
  local ok, log = pcall(require, "slipway.log")
  if ok and type(log) == "table" and log.info then return log end
  local function w(level)
    return function(fmt, ...)
      io.stderr:write(core.redact(level .. ": " .. string.format(fmt, ...)), "\n")
    end
  end
  return {debug = function() end, info = w("info"), warn = w("warn"), error = w("error")}
end
M.logger = logger

local function errmsg(err)
  if type(err) == "table" then return tostring(err.message or err) end
  return tostring(err)
end
M.errmsg = errmsg

local function fmt_dur(s)
  if s < 1 then return string.format("%.0f ms", s * 1000) end
  return string.format("%.2f s", s)
end
M.fmt_dur = fmt_dur

-- ---- unified diff (for the dry-run plan) ---------------------------------

--- Unified diff of two texts (3 lines of context), "" when equal.
function M.diff(a, b, label_a, label_b)
  return require("slipway.diff").unified(a, b, label_a or "before", label_b or "after")
end

-- ---- command line ----------------------------------------------------------

--- Parse args: "--flag" -> flag = true, "--key=value" and "--key value" (for
-- keys listed in takes_value) -> key = value, "--no-flag" -> flag = false;
-- dashes become underscores; the rest are positionals. "--" ends the flags.
function M.parse_args(argv, takes_value)
  takes_value = takes_value or {}
  local out = {}
  local i = 1
  while i <= #argv do
    local a = argv[i]
    if a == "--" then
      for k = i + 1, #argv do out[#out + 1] = argv[k] end
      break
    end
    local k, v = a:match("^%-%-([%w][%w-]*)=(.*)$")
    if k then
      out[k:gsub("-", "_")] = v
    elseif a:match("^%-%-[%w]") then
      local name = a:sub(3):gsub("-", "_")
      if takes_value[name] then
        local nxt = argv[i + 1]
        if takes_value[name] == "optional" and (nxt == nil or nxt:sub(1, 1) == "-") then
          out[name] = true
        else
          if nxt == nil then raise("usage", "option --" .. a:sub(3) .. " needs a value") end
          out[name] = nxt
          i = i + 1
        end
      elseif name:match("^no_") then
        out[name:sub(4)] = false
      else
        out[name] = true
      end
    else
      out[#out + 1] = a
    end
    i = i + 1
  end
  return out
end

-- ---- git helpers -----------------------------------------------------------

--- git HEAD of dir (nil when dir is not in a git work tree) and whether the
-- tree is dirty (state_dir excluded: it is git-ignored).
function M.git_state(dir)
  local proc = require "slipway.proc"
  local ok, r = pcall(proc.run, {"git", "-C", dir, "rev-parse", "HEAD"}, {check = false, readonly = true})
  if not ok or r.code ~= 0 then return nil, nil end
  local sha = r.stdout:gsub("%s+$", "")
  local st = proc.run({"git", "-C", dir, "status", "--porcelain", "--untracked-files=no"},
    {check = false, readonly = true})
  return sha, st.code == 0 and st.stdout ~= ""
end

--- The absolute current directory (fs.cwd(): not $PWD, which a parent may
-- have left behind when it started us elsewhere).
function M.cwd()
  return require("slipway.fs").cwd()
end

-- ---- the context -----------------------------------------------------------

local Ctx = {}
Ctx.__index = Ctx

local function argv_text(argv)
  local t = {}
  for i, a in ipairs(argv) do
    a = tostring(a)
    if a:find("[%s'\"\\$]") or a == "" then a = "'" .. a:gsub("'", "'\\''") .. "'" end
    t[i] = a
  end
  return core.redact(table.concat(t, " "))
end
M.argv_text = argv_text

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

--- Run a command (proc.run) and journal it. Under --dry-run, commands not
-- marked readonly = true are planned, not run.
function Ctx:run(argv, opts)
  opts = opts or {}
  local proc = require "slipway.proc"
  local rec = {type = "cmd", step = self.step, argv = argv_text(argv), cwd = opts.cwd,
               readonly = opts.readonly or nil}
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
  self._child_time = self._child_time + rec.duration
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
function Ctx:request(opts)
  local http = require "slipway.http"
  local method = (opts.method or "GET"):upper()
  local rec = {type = "http", step = self.step, method = method,
               url = http.redact_url(opts.url)}
  if self.dry_run and method ~= "GET" and method ~= "HEAD" then
    rec.planned = true
    self.journal:record(rec)
    self._plan[#self._plan + 1] = {step = self.step, text = method .. " " .. rec.url}
    self:log("info", "would send %s %s", method, rec.url)
    return {status = 0, body = "", headers = {}, planned = true, json = function() return nil end}
  end
  local t0 = task.now()
  local ok, res = pcall(http.request, opts)
  rec.duration = task.now() - t0
  self._child_time = self._child_time + rec.duration
  if ok then rec.status = res.status else rec.error = errmsg(res) end
  self.journal:record(rec)
  if not ok then error(res, 0) end
  return res
end

function Ctx:get(url, opts)
  local o = {}
  for k, v in pairs(opts or {}) do o[k] = v end
  o.method, o.url = "GET", url
  return self:request(o)
end

--- Write a file atomically (fs.write), journalled; under --dry-run the
-- change is planned and shown as a diff.
function Ctx:write(path, data, opts)
  local fs = require "slipway.fs"
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
  if self.dry_run then
    self:plan(text)
    return nil
  end
  self.journal:record{type = "action", step = self.step, text = text}
  return fn(...)
end

--- Time spent waiting on children and requests so far (seconds).
function Ctx:child_time() return self._child_time end

--- Make a context. opts: root (deployment repository; default: the directory
-- holding slipway.yaml, searched upward from the cwd, else the cwd),
-- manifest (loaded when root has slipway.yaml), state_dir, args, dry_run,
-- command, playbook (path), journal_path, journal_memory, quiet.
function M.context(opts)
  opts = opts or {}
  local fs = require "slipway.fs"
  local self = setmetatable({}, Ctx)
  self.args = opts.args or {}
  self.dry_run = opts.dry_run or self.args.dry_run or false
  self.vars = {}
  self._plan, self._diffs = {}, {}
  self._log = logger()
  self._child_time = 0
  self.manifest = opts.manifest
  local root = opts.root
  if not root and self.manifest then root = self.manifest.root end
  if not root then
    local cwd = M.cwd()
    local d = cwd
    while d and d ~= "" do
      if fs.exists(d .. "/slipway.yaml") then root = d; break end
      if d == "/" then break end
      d = fs.dirname(d)
    end
    root = root or cwd
  end
  self.root = root
  if not self.manifest and not opts.no_manifest and fs.exists(root .. "/slipway.yaml") then
    self.manifest = require("slipway.environments").load_manifest(root)
  end
  self.state_dir = opts.state_dir or (self.manifest and self.manifest.state_dir) or (root .. "/.slipway")
  self.sha, self.dirty = M.git_state(root)
  self.command = opts.command or "run"
  local info = {command = self.command, args = opts.argv or {}, sha = self.sha, dirty = self.dirty,
                dry_run = self.dry_run or nil, playbook = opts.playbook, root = root,
                resume_of = opts.resume_of, cwd = M.cwd()}
  -- a dry run changes nothing, not even the state directory
  local jopts = {path = opts.journal_path, memory = self.dry_run and not opts.journal_path}
  self.journal = journal.open(self.state_dir, info, jopts)
  self.run_id = self.journal.id
  return self
end

-- ---- loading and defining playbooks ---------------------------------------

local function validate(pb, where)
  if type(pb) ~= "table" then
    raise("playbook", where .. ": a playbook returns a table of steps, got " .. type(pb))
  end
  local steps = pb.steps or pb
  if type(steps) ~= "table" or #steps == 0 then
    raise("playbook", where .. ": no steps (return {steps = {{name =, run =}, ...}})")
  end
  local seen = {}
  for i, s in ipairs(steps) do
    local w = where .. ": step " .. i
    if type(s) ~= "table" then raise("playbook", w .. " is not a table") end
    if type(s.name) ~= "string" or s.name == "" then raise("playbook", w .. " has no name") end
    w = where .. ": step '" .. s.name .. "'"
    if seen[s.name] then raise("playbook", w .. " is defined twice") end
    seen[s.name] = true
    if type(s.run) ~= "function" then raise("playbook", w .. ": run must be a function") end
    for _, f in ipairs{"revert", "when"} do
      if s[f] ~= nil and type(s[f]) ~= "function" then
        raise("playbook", w .. ": " .. f .. " must be a function")
      end
    end
    for _, f in ipairs{"retries", "timeout", "retry_delay"} do
      if s[f] ~= nil and (type(s[f]) ~= "number" or s[f] < 0) then
        raise("playbook", w .. ": " .. f .. " must be a number >= 0")
      end
    end
  end
  return {name = pb.name or where:match("([^/]+)%.lua$") or "playbook", steps = steps,
          takes_value = pb.takes_value, setup = pb.setup, finish = pb.finish, where = where}
end

--- Load a playbook file (or an embedded one: "playbooks/deploy.lua");
-- returns the validated definition.
function M.load(path)
  local chunk, err
  local text = core.embedded(path)
  if text and not io.open(path, "r") then
    chunk, err = load(text, "=[slipway]/" .. path, "t")
  else
    chunk, err = loadfile(path, "t")
  end
  if not chunk then raise("playbook", tostring(err)) end
  M._loading = true
  local ok, pb = pcall(chunk)
  M._loading = false
  if not ok then error(pb, 0) end
  if type(pb) == "table" and pb._playbook then return pb end
  return validate(pb, path)
end

--- Define a playbook (the value a playbook file returns). When the file is
-- the script slipway was started with (`slipway run FILE ARGS`), it is run
-- at once with the command line and the process exits with its status.
function M.define(pb)
  local rt = require "slipway.runtime"
  local info = debug.getinfo(2, "S")
  -- `return playbook.define{...}` is a tail call: the caller's frame is gone,
  -- and the caller is the chunk being run (or loaded by M.load)
  local src = info and info.source or ("@" .. tostring(rt.script or "playbook"))
  local def = validate(pb, (src:gsub("^[@=]", "")))
  def._playbook = true
  if not M._loading and rt.script and src == "@" .. rt.script then
    local status = M.main(def, {table.unpack(arg or {})})
    if status ~= 0 then os.exit(status) end
  end
  return def
end

-- ---- running ---------------------------------------------------------------

local function deep_copy_json(v)
  local ok, s = pcall(json.encode, v)
  if not ok then return nil end
  return json.decode(s)
end

-- steps already done by the run being resumed (and its own resumed chain)
local function resume_plan(ctx, command, which)
  local runs = journal.runs(ctx.state_dir)
  local target
  for _, s in ipairs(runs) do
    if s.id ~= ctx.run_id and not s.dry_run then
      if which == true then
        if s.command == command then target = s; break end
      elseif s.id == which or s.id:sub(1, #which) == which then
        target = s; break
      end
    end
  end
  if not target then
    raise("resume", "--resume: no earlier run of '" .. command .. "' in " .. ctx.state_dir)
  end
  if target.ok then
    raise("resume", "--resume: run " .. target.id .. " succeeded; nothing to resume")
  end
  if target.sha ~= ctx.sha then
    raise("resume", string.format(
      "--resume: run %s was at commit %s, the repository is now at %s; refusing to mix them",
      target.id, tostring(target.sha), tostring(ctx.sha)))
  end
  local done, vars = {}, nil
  for _, r in ipairs(target.records) do
    if r.type == "step_end" and r.ok then
      done[r.step] = true
      vars = r.vars or vars
    end
  end
  return target, done, vars
end

--- Run a playbook definition. opts: everything M.context takes, or ctx (an
-- existing context), resume (true or a run id), quiet. Returns a result
-- {ok, status, outcome, run_id, failed_step, error, ctx, steps = {...}} --
-- it never raises for a step's failure.
function M.run(def, opts)
  opts = opts or {}
  local t0 = task.now()
  local ctx = opts.ctx or M.context(opts)
  local log = ctx._log
  local result = {ok = true, status = 0, outcome = "success", run_id = ctx.run_id, ctx = ctx, steps = {}}
  local done = {}
  -- under --dry-run, even a proc.run a step makes directly (not through
  -- ctx:run) only runs when marked readonly = true
  local proc_mod = ctx.dry_run and require("slipway.proc")
  local prev_hook = proc_mod and proc_mod.set_dry_run and proc_mod.set_dry_run(true)
  local ok_all, perr = pcall(function()
    if opts.resume then
      local target, d, vars = resume_plan(ctx, ctx.command, opts.resume)
      done = d
      if vars then ctx.vars = vars end
      ctx.journal:record{type = "resume", of = target.id}
      log.info("resuming run %s from its first unfinished step", target.id)
    end
    if def.setup then def.setup(ctx) end
  end)
  if not ok_all then
    result.ok, result.error = false, perr
    result.status = M.status_for(perr)
    result.outcome = "error"
    log.error("%s", errmsg(perr))
    ctx.journal:finish{ok = false, status = result.status, outcome = result.outcome, error = errmsg(perr)}
    if proc_mod and proc_mod.set_dry_run then proc_mod.set_dry_run(prev_hook) end
    return result
  end
  for _, step in ipairs(def.steps) do
    ctx.step = step.name
    local srec = {name = step.name}
    result.steps[#result.steps + 1] = srec
    if done[step.name] then
      srec.ok, srec.skipped = true, "done in the resumed run"
      ctx.journal:record{type = "step_end", step = step.name, ok = true, skipped = "resumed",
                         vars = deep_copy_json(ctx.vars)}
      log.info("--- %s: done in the run being resumed, skipped", step.name)
      goto continue
    end
    if step.when then
      local okw, go = pcall(step.when, ctx)
      if okw and not go then
        srec.ok, srec.skipped = true, "when"
        ctx.journal:record{type = "step_end", step = step.name, ok = true, skipped = "when"}
        log.info("--- %s: skipped (when)", step.name)
        goto continue
      elseif not okw then
        srec.ok, srec.error = false, go
      end
    end
    if srec.ok == nil then
      local st0 = task.now()
      ctx.journal:record{type = "step_start", step = step.name}
      log.info("==> %s", step.name)
      local attempts = (step.retries or 0) + 1
      local okr, err
      for attempt = 1, attempts do
        srec.attempts = attempt
        okr, err = pcall(function()
          if step.timeout and step.timeout > 0 then
            return task.timeout(step.timeout, step.run, ctx)
          end
          return step.run(ctx)
        end)
        if okr or (type(err) == "table" and err.code == "cancelled") then break end
        if attempt < attempts then
          log.warn("%s: attempt %d/%d failed: %s; retrying", step.name, attempt, attempts, errmsg(err))
          ctx.journal:record{type = "retry", step = step.name, attempt = attempt, error = errmsg(err)}
          task.sleep(step.retry_delay or 1)
        end
      end
      srec.duration = task.now() - st0
      srec.ok, srec.error = okr, (not okr) and err or nil
      ctx.journal:record{type = "step_end", step = step.name, ok = okr, duration = srec.duration,
                         attempts = srec.attempts, error = (not okr) and errmsg(err) or nil,
                         code = (not okr and type(err) == "table") and err.code or nil,
                         vars = deep_copy_json(ctx.vars)}
      if okr then
        log.info("<== %s ok (%s)", step.name, fmt_dur(srec.duration))
      else
        log.error("<== %s FAILED (%s): %s", step.name, fmt_dur(srec.duration), errmsg(err))
      end
    end
    if not srec.ok then
      local err = srec.error
      result.ok, result.failed_step, result.error = false, step.name, err
      result.status = M.status_for(err)
      result.outcome = result.status == 130 and "interrupted" or "failed"
      if step.revert and result.status ~= 130 and result.status ~= M.EXIT.locked
         and result.status ~= M.EXIT.bad_input then
        ctx.journal:record{type = "revert_start", step = step.name}
        log.warn("==> reverting after %s failed", step.name)
        local rt0 = task.now()
        local okv, verr = pcall(step.revert, ctx, err)
        ctx.journal:record{type = "revert_end", step = step.name, ok = okv,
                           duration = task.now() - rt0, error = (not okv) and errmsg(verr) or nil}
        if okv then
          result.status, result.outcome = M.EXIT.reverted, "reverted"
          log.warn("<== revert done: %s failed and was reverted", step.name)
        else
          result.status, result.outcome, result.revert_error = M.EXIT.revert_failed, "revert-failed", verr
          log.error("!!! REVERT FAILED after %s failed: %s", step.name, errmsg(verr))
          log.error("!!! the environment may be broken: act now (slipway status; slipway revert)")
        end
      end
      break
    end
    ::continue::
  end
  ctx.step = nil
  if def.finish then
    local okf, ferr = pcall(def.finish, ctx, result)
    if not okf then log.warn("finish: %s", errmsg(ferr)) end
  end
  if proc_mod and proc_mod.set_dry_run then proc_mod.set_dry_run(prev_hook) end
  if ctx.dry_run then M.print_plan(ctx) end
  result.duration = task.now() - t0
  result.child_time = ctx._child_time
  -- slipway's own CPU time (this process only): on one event loop, the rest
  -- of the wall time is waiting on children, requests and timers
  result.cpu = os.clock()
  ctx.journal:finish{ok = result.ok, status = result.status, outcome = result.outcome,
                     failed_step = result.failed_step,
                     error = result.error and errmsg(result.error) or nil,
                     child_time = ctx._child_time, cpu = result.cpu}
  return result
end

--- Print the plan of a dry run: the planned actions, then the unified diff
-- of every file and rendered manifest that would change.
function M.print_plan(ctx, out)
  out = out or io.stdout
  out:write("\nPlan (dry run, nothing was changed):\n")
  if #ctx._plan == 0 then out:write("  (no changes)\n") end
  for i, p in ipairs(ctx._plan) do
    out:write(string.format("  %2d. [%s] %s\n", i, p.step or "-", p.text))
  end
  for _, d in ipairs(ctx._diffs) do
    local text = M.diff(d.before, d.after, "a/" .. d.label, "b/" .. d.label)
    if text ~= "" then out:write("\n", core.redact(text)) end
  end
  out:flush()
end

--- Run a playbook with a command line (what `slipway run FILE ARGS` does):
-- --dry-run, --resume [RUN], --journal FILE, then the playbook's own args.
-- Returns the exit status.
function M.main(def, argv, opts)
  opts = opts or {}
  local tv = {resume = "optional", journal = true, state_dir = true}
  for k, v in pairs(def.takes_value or {}) do tv[k] = v end
  local okp, args = pcall(M.parse_args, argv, tv)
  if not okp then
    io.stderr:write("slipway: ", errmsg(args), "\n")
    return M.EXIT.bad_input
  end
  local okc, ctx = pcall(M.context, {args = args, argv = argv, dry_run = args.dry_run,
    command = opts.command or def.name, playbook = def.where, journal_path = args.journal,
    state_dir = args.state_dir, root = opts.root})
  if not okc then
    io.stderr:write("slipway: ", errmsg(ctx), "\n")
    return M.status_for(ctx)
  end
  local r = M.run(def, {ctx = ctx, resume = args.resume})
  return r.status
end

return M
