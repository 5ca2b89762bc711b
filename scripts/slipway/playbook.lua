--- slipway.playbook: defining, loading and running playbooks.
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
-- This module composes the engine's parts (docs/ARCHITECTURE.md):
--   slipway.engine.runner   steps, retries, timeouts, revert hooks, resume
--   slipway.engine.context  ctx:run/request/write/mutate/plan/diff/log, dry run
--   slipway.engine.repo     root, git state, slipway.yaml
-- and adds the journal (slipway.journal), the log (slipway.log) and, for a
-- run that changes things, the GitHub Actions and progress display.
-- Exit statuses: slipway.exit (docs/deploy.md).
local core = require "slipway.core"
local exit = require "slipway.exit"
local errors = require "slipway.errors"
local task = require "slipway.task"
local proc = require "slipway.proc"
local log = require "slipway.log"
local diff = require "slipway.diff"
local journal = require "slipway.journal"
local gha = require "slipway.gha"
local progress = require "slipway.progress"
local runner = require "slipway.engine.runner"
local context = require "slipway.engine.context"
local repo = require "slipway.engine.repo"

local raise = errors.fail
local errmsg = errors.message

local M = {}

M.errmsg = errmsg
M.fmt_dur = runner.fmt_dur
M.argv_text = context.argv_text
M.git_state = repo.git_state
M.cwd = repo.cwd

--- The value a step's revert hook returns to decline reverting (e.g. under
-- --no-revert): the run then fails with exit 1, not 3 or 4.
M.decline = runner.decline

--- Unified diff of two texts (3 lines of context), "" when equal.
function M.diff(a, b, label_a, label_b)
  return diff.unified(a, b, label_a or "before", label_b or "after")
end

-- ---- command line ----------------------------------------------------------

--- The engine's own options, added to every playbook's (slipway.args
-- declarations; a deploy command declares them too).
M.engine_options = {
  {name = "dry-run", short = "n", type = "boolean", help = "run read-only work for real, " ..
   "plan every change (nothing is written, not even the journal), end with the diffs"},
  {name = "resume", optional_value = true, metavar = "RUN", help = "continue the last failed " ..
   "or killed run of this command (or RUN) from the step that did not finish; same commit required"},
  {name = "journal", metavar = "FILE", help = "write the journal there instead of STATE_DIR/journal/"},
  {name = "state-dir", metavar = "DIR", help = "the state directory (default: slipway.yaml's state_dir)"},
}

--- The command-line parser of a playbook definition: its declared options
-- and positionals, the engine's options and the global ones.
function M.parser(def)
  local args = require "slipway.args"
  return args.parser{prog = "slipway run " .. tostring(def.where or def.name),
    description = def.description,
    options = args.concat(M.engine_options, def.options or {}, args.GLOBAL),
    positionals = def.positionals}
end

-- ---- the context -----------------------------------------------------------

-- the GitHub Actions output and the live progress line follow every journal
-- of this process once a run that changes things starts
local display_attached = false
local function attach_display()
  if display_attached then return end
  display_attached = true
  if gha.enabled() then journal.observe(gha.observer()) end
  if progress.enabled() then journal.observe(progress.observer()) end
end

--- Make a context. opts: root (deployment repository; default: the directory
-- holding slipway.yaml, searched upward from the cwd, else the cwd),
-- manifest (loaded when root has slipway.yaml unless no_manifest),
-- state_dir, args, argv, dry_run, readonly (status, history: commands not
-- marked read-only are refused, nothing is planned or displayed), command,
-- playbook (path), journal_path, resume_of, journal_best_effort (a journal
-- that cannot be written is a warning: journal.open's best_effort).
function M.context(opts)
  opts = opts or {}
  local args = opts.args or {}
  local readonly = opts.readonly or false
  local dry_run = (not readonly) and (opts.dry_run or args.dry_run) or false
  local r = repo.open{root = opts.root, manifest = opts.manifest, no_manifest = opts.no_manifest,
                      state_dir = opts.state_dir}
  local command = opts.command or "run"
  local info = {command = command, args = opts.argv or {}, sha = r.sha, dirty = r.dirty,
                dry_run = dry_run or nil, playbook = opts.playbook, root = r.root,
                resume_of = opts.resume_of, cwd = repo.cwd()}
  if not readonly then attach_display() end
  -- a dry run changes nothing, not even the state directory
  local j = journal.open(r.state_dir, info,
    {path = opts.journal_path, memory = (dry_run or readonly) and not opts.journal_path,
     best_effort = opts.journal_best_effort})
  return context.new{journal = j, log = log, args = args, dry_run = dry_run, readonly = readonly,
                     command = command, root = r.root, manifest = r.manifest, sha = r.sha,
                     dirty = r.dirty, state_dir = r.state_dir}
end

-- ---- loading and defining playbooks ---------------------------------------

local validate = runner.validate

-- the declared options must make a parser (a playbook error otherwise)
local function check_options(def)
  local ok, err = pcall(M.parser, def)
  if not ok then raise("playbook", def.where .. ": " .. tostring(err):gsub("^[^:]*:%d+: ", "")) end
  return def
end

--- Load a playbook file, or with opts.embedded the one compiled into slipway
-- ("playbooks/deploy.lua"); returns the validated definition.
function M.load(path, opts)
  local chunk, err
  if opts and opts.embedded then
    local text = core.embedded(path)
    if not text then raise("playbook", "no embedded playbook " .. path) end
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
  return check_options(validate(pb, path))
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
  local def = check_options(validate(pb, (src:gsub("^[@=]", ""))))
  def._playbook = true
  if not M._loading and rt.script and src == "@" .. rt.script then
    local status = M.main(def, {table.unpack(arg or {})})
    if status ~= 0 then os.exit(status) end
  end
  return def
end

-- ---- running ---------------------------------------------------------------

-- the run being resumed (`which`: true for the newest of this command, or a
-- run id or its prefix): the steps it finished; restores its ctx.vars.
-- hooks.lookup(ctx, which, target) may give another target (from a record
-- beyond the local journals: {id, ok, sha, command, done, vars});
-- hooks.moved(ctx, target) may accept a target whose commit is not HEAD.
local function resume(ctx, which, hooks)
  local target
  for _, s in ipairs(journal.runs(ctx.state_dir)) do
    if s.id ~= ctx.run_id and not s.dry_run then
      if which == true then
        if s.command == ctx.command then target = s; break end
      elseif s.id == which or s.id:sub(1, #which) == which then
        target = s; break
      end
    end
  end
  if hooks.lookup then target = hooks.lookup(ctx, which, target) end
  if not target then
    raise("resume", "--resume: no earlier run of '" .. ctx.command .. "' in " .. ctx.state_dir)
  end
  if target.ok then
    raise("resume", "--resume: run " .. target.id .. " succeeded; nothing to resume")
  end
  if target.sha ~= ctx.sha and not (hooks.moved and hooks.moved(ctx, target)) then
    raise("resume", string.format(
      "--resume: run %s was at commit %s, the repository is now at %s; refusing to mix them",
      target.id, tostring(target.sha), tostring(ctx.sha)))
  end
  local done, vars
  if target.records then done, vars = runner.finished_steps(target.records)
  else done, vars = target.done or {}, target.vars end
  if vars then ctx.vars = vars end
  ctx.journal:record{type = "resume", of = target.id}
  log.info("resuming run %s from its first unfinished step", target.id)
  return done
end

--- Run a playbook definition. opts: everything M.context takes, or ctx (an
-- existing context), resume (true or a run id), resume_lookup(ctx, which,
-- target) (the run to resume when it is not in the local journals: a
-- summary {id, ok, sha, command, done = {step = true}, vars}),
-- resume_moved(ctx, target) (true accepts a run at another commit). Returns a result
-- {ok, status, outcome, run_id, failed_step, error, ctx, steps = {...}} --
-- it never raises for a step's failure.
function M.run(def, opts)
  opts = opts or {}
  local t0 = task.now()
  local ctx = opts.ctx or M.context(opts)
  -- under --dry-run, even a proc.run a step makes directly (not through
  -- ctx:run) only runs when marked readonly = true
  local prev_hook
  if ctx.dry_run then prev_hook = proc.set_dry_run(true) end
  local okr, done = pcall(function()
    return opts.resume and resume(ctx, opts.resume, {lookup = opts.resume_lookup, moved = opts.resume_moved}) or {}
  end)
  local result
  if okr then
    result = runner.run(def, ctx, {journal = ctx.journal, log = log, done = done})
  else
    result = {ok = false, error = done, status = exit.for_error(done), outcome = "error", steps = {}}
    log.error("%s", errmsg(done))
  end
  if ctx.dry_run then proc.set_dry_run(prev_hook) end
  result.run_id, result.ctx = ctx.run_id, ctx
  if result.outcome == "error" then  -- resume or setup refused: no step ran
    ctx.journal:finish{ok = false, status = result.status, outcome = result.outcome,
                       error = errmsg(result.error)}
    return result
  end
  if ctx.dry_run then ctx:print_plan() end
  result.duration = task.now() - t0
  result.child_time = ctx:child_time()
  -- slipway's own CPU time (this process only): on one event loop, the rest
  -- of the wall time is waiting on children, requests and timers
  result.cpu = os.clock()
  ctx.journal:finish{ok = result.ok, status = result.status, outcome = result.outcome,
                     failed_step = result.failed_step,
                     error = result.error and errmsg(result.error) or nil,
                     child_time = result.child_time, cpu = result.cpu}
  return result
end

--- Print the plan of a dry run: the planned actions, then the unified diff
-- of every file and rendered manifest that would change.
function M.print_plan(ctx, out)
  ctx:print_plan(out)
end

--- Run a playbook with a command line (what `slipway run FILE ARGS` does),
-- parsed by M.parser(def): --help prints the playbook's help and runs
-- nothing; bad input exits 2 before anything runs. Returns the exit status.
function M.main(def, argv, opts)
  opts = opts or {}
  local p = M.parser(def)
  local okp, args = pcall(p.parse, p, argv)
  if not okp then
    io.stderr:write(errmsg(args), "\ntry: ", p.prog, " --help\n")
    return exit.usage
  end
  if args.help then
    io.stdout:write(p:help(), "\n")
    return exit.ok
  end
  require("slipway.args").set_global(args)
  local okc, ctx = pcall(M.context, {args = args, argv = argv, dry_run = args.dry_run,
    command = opts.command or def.name, playbook = def.where, journal_path = args.journal,
    state_dir = args.state_dir, root = opts.root})
  if not okc then
    io.stderr:write("slipway: ", errmsg(ctx), "\n")
    return exit.for_error(ctx)
  end
  local r = M.run(def, {ctx = ctx, resume = args.resume})
  -- the closing line names the run, as `slipway deploy`'s does (`slipway
  -- history RUN` shows it)
  local line = string.format("slipway run %s: %s (exit %d, run %s, %s)", tostring(ctx.command),
    tostring(r.outcome), r.status, tostring(r.run_id), M.fmt_dur(r.duration or 0))
  if r.ok then log.info("%s", line) else log.error("%s%s", line, r.error and (": " .. errmsg(r.error)) or "") end
  return r.status
end

return M
