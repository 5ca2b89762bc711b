--- slipway.engine.runner: runs a playbook's steps in order -- retries,
-- timeouts, `when`, revert hooks and skipping what a resumed run finished.
--
-- It knows nothing of slipway.yaml, git or where the journal lives: the
-- caller (slipway.playbook) hands it the context the steps receive, the
-- journal to record into and the logger. It records step_start, retry,
-- step_end, revert_start and revert_end; opening and finishing the run's
-- journal is the caller's.
--
--   local result = runner.run(def, ctx, {journal = j, log = log, done = {stage = true}})
--   -- {ok, status, outcome, failed_step, error, revert_error, steps = {{name, ok, ...}}}
--
-- A step's revert(ctx, err) ends in one of three ways: it returns (the
-- failure was reverted: exit 3), it raises (the revert failed: exit 4), or it
-- returns runner.decline(reason) (it chose not to revert, e.g. --no-revert:
-- the run failed, exit 1).
local task = require "slipway.task"
local json = require "slipway.json"
local exit = require "slipway.exit"
local errors = require "slipway.errors"

local fail, errmsg = errors.fail, errors.message

local M = {}

--- "49 ms" below a second, "1.20 s" above.
function M.fmt_dur(s)
  if s < 1 then return string.format("%.0f ms", s * 1000) end
  return string.format("%.2f s", s)
end
local fmt_dur = M.fmt_dur

-- ---- declining a revert -------------------------------------------------------

local Declined = {}
Declined.__index = Declined

--- The value a revert hook returns when it chooses not to revert (the
-- reason is logged and journalled); the run then fails with exit 1.
function M.decline(reason)
  return setmetatable({reason = reason or "declined"}, Declined)
end

--- Whether v is what decline() returned.
function M.is_declined(v)
  return getmetatable(v) == Declined
end

-- ---- validating a definition ------------------------------------------------------

--- Check a playbook table ({name, steps = {...}, setup, finish} or a bare
-- list of steps); raises code "playbook" naming `where` and the step.
-- Returns the definition {name, steps, setup, finish, where, ...}.
function M.validate(pb, where)
  if type(pb) ~= "table" then
    fail("playbook", where .. ": a playbook returns a table of steps, got " .. type(pb))
  end
  local steps = pb.steps or pb
  if type(steps) ~= "table" or #steps == 0 then
    fail("playbook", where .. ": no steps (return {steps = {{name =, run =}, ...}})")
  end
  local seen = {}
  for i, s in ipairs(steps) do
    local w = where .. ": step " .. i
    if type(s) ~= "table" then fail("playbook", w .. " is not a table") end
    if type(s.name) ~= "string" or s.name == "" then fail("playbook", w .. " has no name") end
    w = where .. ": step '" .. s.name .. "'"
    if seen[s.name] then fail("playbook", w .. " is defined twice") end
    seen[s.name] = true
    if type(s.run) ~= "function" then fail("playbook", w .. ": run must be a function") end
    for _, f in ipairs{"revert", "when"} do
      if s[f] ~= nil and type(s[f]) ~= "function" then
        fail("playbook", w .. ": " .. f .. " must be a function")
      end
    end
    for _, f in ipairs{"retries", "timeout", "retry_delay"} do
      if s[f] ~= nil and (type(s[f]) ~= "number" or s[f] < 0) then
        fail("playbook", w .. ": " .. f .. " must be a number >= 0")
      end
    end
  end
  return {name = pb.name or where:match("([^/]+)%.lua$") or "playbook", steps = steps,
          description = pb.description, options = pb.options,
          positionals = pb.positionals, setup = pb.setup, finish = pb.finish, where = where}
end

-- ---- resume -----------------------------------------------------------------------

local snapshot = json.snapshot

--- What a run's journal records say it finished: the set of steps that
-- ended ok and the vars saved with the last of them.
function M.finished_steps(records)
  local done, vars = {}, nil
  for _, r in ipairs(records) do
    if r.type == "step_end" and r.ok then
      done[r.step] = true
      vars = r.vars or vars
    end
  end
  return done, vars
end

-- ---- running ----------------------------------------------------------------------

-- one attempt after another until one succeeds, the step is cancelled, the
-- error is one that retrying cannot help (errors.retryable: a missing file,
-- a denied permission, bad input, a 4xx answer) or the retries are spent
local function attempt(step, ctx, srec, journal, log)
  local attempts = (step.retries or 0) + 1
  local ok, err
  for n = 1, attempts do
    srec.attempts = n
    ok, err = pcall(function()
      if step.timeout and step.timeout > 0 then
        return task.timeout(step.timeout, step.run, ctx)
      end
      return step.run(ctx)
    end)
    if ok or (type(err) == "table" and err.code == "cancelled") then break end
    if n < attempts and errors.retryable(err) == false then
      log.warn("%s: attempt %d/%d failed: %s; not retried: retrying cannot help (%s)", step.name,
        n, attempts, errmsg(err), type(err) == "table" and ("code " .. tostring(err.code))
        or "a misuse")
      journal:record{type = "retry", step = step.name, attempt = n, error = errmsg(err),
                     skipped = "retrying cannot help"}
      break
    end
    if n < attempts then
      log.warn("%s: attempt %d/%d failed: %s; retrying", step.name, n, attempts, errmsg(err))
      journal:record{type = "retry", step = step.name, attempt = n, error = errmsg(err)}
      task.sleep(step.retry_delay or 1)
    end
  end
  return ok, err
end

-- the step's revert hook after it failed for good: sets the result's status
local function revert(step, ctx, err, result, journal, log)
  journal:record{type = "revert_start", step = step.name}
  log.warn("==> reverting after %s failed", step.name)
  local t0 = task.now()
  local ok, v = pcall(step.revert, ctx, err)
  local declined = ok and M.is_declined(v)
  journal:record{type = "revert_end", step = step.name, ok = ok and not declined,
                 declined = declined and v.reason or nil,
                 duration = task.now() - t0, error = (not ok) and errmsg(v) or nil}
  if declined then
    log.warn("<== not reverted (%s): %s failed and was left as it is", v.reason, step.name)
  elseif ok then
    result.status, result.outcome = exit.reverted, "reverted"
    log.warn("<== revert done: %s failed and was reverted", step.name)
  else
    result.status, result.outcome, result.revert_error = exit.revert_failed, "revert-failed", v
    log.error("!!! REVERT FAILED after %s failed: %s", step.name, errmsg(v))
    log.error("!!! the environment may be broken: act now (slipway status; slipway revert)")
  end
end

--- Run def's setup(ctx), its steps in order and its finish(ctx, result).
-- opts: journal (records step_start/_end, retry, revert_start/_end), log
-- (slipway.log or the like), done (a set of step names to skip: finished in
-- the run being resumed). Returns {ok, status, outcome ("success", "failed",
-- "reverted", "revert-failed", "interrupted", "error"), failed_step, error,
-- revert_error, steps}; it never raises for a step's failure.
function M.run(def, ctx, opts)
  local journal, log, done = opts.journal, opts.log, opts.done or {}
  local result = {ok = true, status = exit.ok, outcome = "success", steps = {}}
  if def.setup then
    local ok, err = pcall(def.setup, ctx)
    if not ok then
      result.ok, result.error = false, err
      result.status, result.outcome = exit.for_error(err), "error"
      log.error("%s", errmsg(err))
      return result
    end
  end
  -- a journal that could not be written any more (journal.lost: the state
  -- directory filled up during the run) fails the run: no further step
  -- starts, the error names the file
  local function journal_lost(step_name)
    if not (journal and journal.lost) or not result.ok then return false end
    result.ok, result.failed_step, result.error = false, step_name, journal.lost.error
    result.status, result.outcome = exit.for_error(journal.lost.error), "failed"
    if result.status == exit.ok then result.status = exit.failed end
    log.error("%s%s", step_name and ("--- " .. step_name .. ": not started: ") or "", errmsg(journal.lost.error))
    return true
  end
  for _, step in ipairs(def.steps) do
    if journal_lost(step.name) then break end
    ctx.step = step.name
    -- the step's retries are the one budget of what it does: ctx:request
    -- does not retry on its own inside a step that retries (context.lua)
    ctx.step_retries = step.retries or 0
    local srec = {name = step.name}
    result.steps[#result.steps + 1] = srec
    if done[step.name] then
      srec.ok, srec.skipped = true, "done in the resumed run"
      journal:record{type = "step_end", step = step.name, ok = true, skipped = "resumed",
                     vars = snapshot(ctx.vars)}
      log.info("--- %s: done in the run being resumed, skipped", step.name)
      goto continue
    end
    if step.when then
      local okw, go = pcall(step.when, ctx)
      if okw and not go then
        srec.ok, srec.skipped = true, "when"
        journal:record{type = "step_end", step = step.name, ok = true, skipped = "when"}
        log.info("--- %s: skipped (when)", step.name)
        goto continue
      elseif not okw then
        srec.ok, srec.error = false, go
      end
    end
    if srec.ok == nil then
      local t0 = task.now()
      journal:record{type = "step_start", step = step.name, retries = step.retries}
      log.info("==> %s%s", step.name, (step.retries or 0) > 0
        and string.format(" (up to %d attempts)", step.retries + 1) or "")
      local ok, err = attempt(step, ctx, srec, journal, log)
      srec.duration = task.now() - t0
      srec.ok, srec.error = ok, (not ok) and err or nil
      journal:record{type = "step_end", step = step.name, ok = ok, duration = srec.duration,
                     attempts = srec.attempts, error = (not ok) and errmsg(err) or nil,
                     code = (not ok and type(err) == "table") and err.code or nil,
                     vars = snapshot(ctx.vars)}
      if ok then
        log.info("<== %s ok (%s)", step.name, fmt_dur(srec.duration))
      else
        log.error("<== %s FAILED (%s): %s", step.name, fmt_dur(srec.duration), errmsg(err))
      end
    end
    if not srec.ok then
      local err = srec.error
      result.ok, result.failed_step, result.error = false, step.name, err
      result.status = exit.for_error(err)
      local interrupted = result.status == exit.interrupted or result.status == exit.terminated
      result.outcome = interrupted and "interrupted" or "failed"
      -- nothing to rescue when the run was stopped, refused or blocked
      if step.revert and not interrupted and result.status ~= exit.locked
         and result.status ~= exit.usage then
        revert(step, ctx, err, result, journal, log)
      end
      break
    end
    ::continue::
  end
  ctx.step, ctx.step_retries = nil, nil
  journal_lost(nil)
  if def.finish then
    local ok, err = pcall(def.finish, ctx, result)
    if not ok then log.warn("finish: %s", errmsg(err)) end
  end
  return result
end

return M
