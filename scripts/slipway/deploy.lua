--- slipway.deploy: the steps of the standard playbook, as a library.
--
-- `slipway deploy` = stage -> test -> promote, and revert when test fails
-- (scripts/playbooks/deploy.lua, the file operators copy). Each step is also
-- a command (`slipway stage ENV`, `test ENV`, `promote`, `revert`) and a
-- function here that a playbook of your own can call:
--
--   local deploy = require "slipway.deploy"
--   deploy.setup(ctx)                    -- ctx.envs from slipway.yaml
--   deploy.stage(ctx, "staging")         -- lock, record, deploy, wait
--   deploy.test(ctx, "staging")          -- checks; raises code "test" on failure
--   deploy.promote(ctx)                  -- tested commit -> production, in parallel
--   deploy.revert(ctx, {to = sha|run})   -- git revert since the last good deploy,
--                                        -- redeploy + retest staging
--
-- Everything is journalled through ctx (slipway.playbook); docs/deploy.md.
local errors = require "slipway.errors"
local exit = require "slipway.exit"
local log = require "slipway.log"
local task = require "slipway.task"
local journal = require "slipway.journal"
local environments = require "slipway.environments"
local drivers = require "slipway.drivers"
local checks = require "slipway.checks"
local notify = require "slipway.notify"
local fs = require "slipway.fs"
local playbook = require "slipway.playbook"

local M = {}

local raise, errmsg = errors.fail, errors.message

--- Load the environments of ctx.manifest into ctx.envs (idempotent).
function M.setup(ctx)
  if ctx.envs then return ctx.envs end
  if not ctx.manifest then
    raise("manifest", "no slipway.yaml in " .. ctx.root .. " or its parents")
  end
  ctx.envs = environments.load(ctx.manifest)
  for _, e in ipairs(ctx.envs.list) do drivers.check(e) end  -- every driver's options
  ctx.vars.staged = ctx.vars.staged or {}
  ctx.vars.tested = ctx.vars.tested or {}
  return ctx.envs
end

-- a view of ctx whose log lines carry the environment's name
local function for_env(ctx, name)
  return setmetatable({prefix = name}, {__index = ctx, __newindex = function(_, k, v)
    rawset(ctx, k, v)
  end})
end

local function same_versions(a, b)
  a, b = a or {}, b or {}
  for k, v in pairs(a) do if b[k] ~= v then return false end end
  for k, v in pairs(b) do if a[k] ~= v then return false end end
  return true
end
M.same_versions = same_versions

local function show_versions(v)
  local keys = {}
  for k in pairs(v or {}) do keys[#keys + 1] = k end
  table.sort(keys)
  local t = {}
  for _, k in ipairs(keys) do t[#t + 1] = k .. " " .. tostring(v[k]) end
  return #t > 0 and table.concat(t, ", ") or "(none)"
end
M.show_versions = show_versions

-- ---- stage -----------------------------------------------------------------

--- Stage env `name`: take its deploy lock, record the current state, deploy
-- through the driver and wait for the rollout. Returns {revision, versions, url}.
function M.stage(ctx, name)
  M.setup(ctx)
  local env = environments.get(ctx.envs, name)
  local driver = drivers.of(env)
  local ectx = for_env(ctx, name)
  local lock = driver.lock(ectx, env, {break_lock = ctx.args.break_lock,
                                       wait = tonumber(ctx.args.lock_wait)})
  local ok, res = pcall(function()
    local before = driver.status(ectx, env)
    ctx.journal:record{type = "state", env = name, before = {versions = before.versions,
      revision = before.revision, sha = before.sha, running = before.running}, sha = ctx.sha}
    local versions = environments.versions(ctx.manifest)
    ectx:log("info", "deploying %s at %s: %s (running: %s)", name, tostring(ctx.sha and ctx.sha:sub(1, 12)),
      show_versions(versions), before.running and show_versions(before.versions) or "nothing")
    if ctx.dry_run then
      -- the diff of what the driver would apply: before (deployed) -> after
      local after = driver.render(ectx, env)
      if after then
        local before = driver.rendered and driver.rendered(ectx, env) or ""
        ectx:diff("[" .. name .. "] " .. (env.driver == "local" and "release" or "manifests"),
          before or "", after)
      end
    end
    local r = driver.deploy(ectx, env)
    if not ctx.dry_run then
      ctx.journal:record{type = "deployed", env = name, sha = ctx.sha, dirty = ctx.dirty,
        versions = r.versions, revision = r.revision, url = r.url,
        before = {versions = before.versions, revision = before.revision}}
      ectx:log("info", "%s: revision %s is live%s", name, tostring(r.revision),
        r.url and (" at " .. r.url) or "")
    end
    ctx.vars.staged[name] = {sha = ctx.sha, versions = r.versions, revision = r.revision,
                             url = r.url, planned = r.planned}
    return r
  end)
  lock:unlock()
  if not ok then error(res, 0) end
  return res
end

-- ---- test ------------------------------------------------------------------

--- Run env's checks concurrently against what runs there. Prints the table,
-- journals a "tested" record (env, sha, versions, ok), writes JUnit XML when
-- ctx.args.junit names a file, and raises code "test" when a check failed.
-- Under --dry-run the checks run (they only read) but cannot fail the run.
function M.test(ctx, name, opts)
  opts = opts or {}
  M.setup(ctx)
  local env = environments.get(ctx.envs, name)
  local driver = drivers.of(env)
  local ectx = for_env(ctx, name)
  local staged = ctx.vars.staged[name]
  local st = driver.status(ectx, env)
  local url = (staged and not staged.planned and staged.url) or st.url or env.url
  local versions = (staged and not staged.planned and staged.versions) or st.versions or {}
  local sha = (staged and not staged.planned and staged.sha) or st.sha
  if not st.running and not ctx.dry_run then
    raise("test", name .. ": nothing is running (stage it first)", {env = name})
  end
  ectx:log("info", "testing %s at %s (%d checks)", name, tostring(url), #env.checks)
  local results = checks.run(ectx, env, {url = url, versions = versions})
  local passed = checks.passed(results)
  io.stdout:write(checks.table(results, name))
  io.stdout:flush()
  local failed = {}
  for _, r in ipairs(results) do if not r.ok then failed[#failed + 1] = r.name end end
  ctx.journal:record{type = "tested", env = name, sha = sha, versions = versions, ok = passed,
                     failed = failed, dry_run = ctx.dry_run or nil}
  ctx.vars.tested[name] = {ok = passed, sha = sha, versions = versions}
  ctx._junit = ctx._junit or {}
  ctx._junit[name] = results
  if ctx.args.junit and not opts.no_junit then
    local xml = checks.junit(ctx._junit)
    if ctx.dry_run then ctx:plan("write JUnit XML to " .. ctx.args.junit)
    else fs.write(ctx.args.junit, xml) end
  end
  if not passed then
    local msg = string.format("%s: %d of %d checks failed: %s", name, #failed, #results,
      table.concat(failed, ", "))
    if ctx.dry_run then
      ectx:log("warn", "%s (dry run: against what runs now, not what would be staged)", msg)
    else
      raise("test", msg, {env = name, failed = failed})
    end
  end
  return results
end

-- ---- promote ---------------------------------------------------------------

--- The last "tested" record of env (any run, newest first).
function M.last_tested(ctx, env_name, pred)
  for i = #ctx.journal.records, 1, -1 do
    local r = ctx.journal.records[i]
    if r.type == "tested" and r.env == env_name and not r.dry_run and (not pred or pred(r)) then
      return r
    end
  end
  return journal.last(ctx.state_dir, function(r)
    return r.type == "tested" and r.env == env_name and not r.dry_run and (not pred or pred(r))
  end)
end

--- Promote the commit that passed test on staging to every production
-- environment, in parallel and isolated (one member failing does not stop
-- the others), then test each. Refuses (code "refused") unless HEAD and the
-- versions of the working tree are exactly those of the last passed test on
-- staging. Experimental members' failures are reported, not raised.
function M.promote(ctx)
  M.setup(ctx)
  local stages = ctx.envs.stages
  local staging = stages.staging
  local versions = environments.versions(ctx.manifest)
  if #stages.production == 0 then
    raise("refused", "promote: stages.production lists no environment")
  end
  if staging then
    local last = M.last_tested(ctx, staging)
    local why
    if ctx.dirty then
      why = "the working tree has uncommitted changes"
    elseif not last then
      why = "nothing has been tested on " .. staging .. " yet"
    elseif not last.ok then
      why = string.format("the last test on %s (run %s) failed", staging, last.run)
    elseif last.sha ~= ctx.sha then
      why = string.format("%s passed test at commit %s, but HEAD is %s", staging,
        tostring(last.sha), tostring(ctx.sha))
    elseif not same_versions(last.versions, versions) then
      why = string.format("%s passed test with %s, the repository has %s", staging,
        show_versions(last.versions), show_versions(versions))
    end
    if why then
      if ctx.dry_run then
        ctx:plan("promote requires a passed test on " .. staging .. " (" .. why .. ")")
      else
        raise("refused", "promote refused: " .. why, {env = staging})
      end
    else
      ctx:log("info", "promoting %s (%s), tested on %s in run %s", tostring(ctx.sha):sub(1, 12),
        show_versions(versions), staging, tostring(last.run))
    end
  end
  local fns, names = {}, {}
  for i, name in ipairs(stages.production) do
    names[i] = name
    fns[i] = function()
      local ok, err = pcall(function()
        M.stage(ctx, name)
        M.test(ctx, name, {no_junit = true})
      end)
      if not ok and type(err) == "table" and err.code == "cancelled" then error(err, 0) end
      return {name = name, ok = ok, error = (not ok) and err or nil}
    end
  end
  local results = task.all(fns)
  if ctx.args.junit and not ctx.dry_run then
    fs.write(ctx.args.junit, checks.junit(ctx._junit or {}))
  end
  local bad, warned = {}, {}
  for _, r in ipairs(results) do
    local env = ctx.envs.by_name[r.name]
    ctx.journal:record{type = "promoted", env = r.name, ok = r.ok, sha = ctx.sha,
                       error = r.error and errmsg(r.error) or nil, experimental = env.experimental or nil}
    if not r.ok then
      if env.experimental then
        warned[#warned + 1] = r.name
        ctx:log("warn", "%s (experimental) failed: %s", r.name, errmsg(r.error))
      else
        bad[#bad + 1] = r.name .. ": " .. errmsg(r.error)
      end
    end
  end
  if #bad > 0 then
    raise("promote", "promote failed on " .. table.concat(bad, "; "))
  end
  return results
end

-- ---- revert ----------------------------------------------------------------

local function git(ctx, args, opts)
  local argv = {"git", "-C", ctx.root}
  for _, a in ipairs(args) do argv[#argv + 1] = a end
  return ctx:run(argv, opts)
end

local function git_read(ctx, args)
  local r = git(ctx, args, {readonly = true, check = false})
  if r.code ~= 0 then return nil, r end
  return (r.stdout:gsub("%s+$", ""))
end

--- The last commit known good on staging: the sha of the newest passed test.
function M.last_good(ctx)
  M.setup(ctx)
  local staging = ctx.envs.stages.staging
  local r = M.last_tested(ctx, staging, function(rec) return rec.ok and rec.sha end)
  return r and r.sha, r
end

--- Revert the commits since the last good deploy of staging (or since
-- opts.to: a sha or a run id) with one `git revert` commit, push it when
-- stages.revert.push is set, redeploy and retest staging. Raises code
-- "revert_failed" when any of that fails: the loudest outcome.
function M.revert(ctx, opts)
  opts = opts or {}
  M.setup(ctx)
  local staging = ctx.envs.stages.staging
  if not staging then raise("revert_failed", "revert: no staging environment") end
  local nothing = false
  local ok, err = pcall(function()
    local good, why = nil, nil
    local to = opts.to or ctx.args.to
    if to then
      local s = journal.find(ctx.state_dir, to)
      if s then
        for _, r in ipairs(select(2, journal.find(ctx.state_dir, to))) do
          if (r.type == "tested" and r.ok) or r.type == "deployed" then good = r.sha end
        end
        good = good or s.sha
        why = "run " .. s.id
      else
        good = git_read(ctx, {"rev-parse", "--verify", to .. "^{commit}"})
        if not good then raise("usage", "revert --to " .. to .. ": neither a run nor a commit") end
        why = "commit " .. to
      end
    else
      local rec
      good, rec = M.last_good(ctx)
      why = rec and ("the last passed test on " .. staging .. " (run " .. rec.run .. ")")
    end
    local commits
    if good then
      local anc = git(ctx, {"merge-base", "--is-ancestor", good, "HEAD"}, {readonly = true, check = false})
      if anc.code ~= 0 then
        raise("revert_failed", "revert: " .. good .. " is not an ancestor of HEAD")
      end
      local list = git_read(ctx, {"rev-list", "--first-parent", good .. "..HEAD"}) or ""
      commits = {}
      for sha in list:gmatch("%x+") do commits[#commits + 1] = sha end
    else
      -- guessing would be worse than stopping: the operator picks with --to
      raise("revert_failed", string.format("revert: no good deploy of %s on record " ..
        "(no passed test in the journal); nothing known to revert to -- use " ..
        "`slipway revert --to SHA`", staging))
    end
    if #commits == 0 then
      if opts.manual then  -- asked by hand: nothing to do is not a failure
        ctx:log("info", "nothing to revert: HEAD is %s (%s)", tostring(good):sub(1, 12), why or "")
        nothing = true
        return
      end
      raise("revert_failed", string.format(
        "revert: HEAD is the last good commit (%s); nothing to revert, the failure is elsewhere",
        tostring(good)))
    end
    ctx:log("warn", "reverting %d commit(s) back to %s: %s", #commits, why,
      table.concat(commits, " "):gsub("(%x%x%x%x%x%x%x%x%x%x%x%x)%x+", "%1"))
    local subjects = {}
    for _, sha in ipairs(commits) do  -- newest first
      local parents = git_read(ctx, {"rev-list", "--parents", "-n", "1", sha}) or ""
      local n = select(2, parents:gsub("%x+", ""))
      local args = {"revert", "--no-edit", "--no-commit"}
      if n > 2 then args[#args + 1] = "-m"; args[#args + 1] = "1" end
      args[#args + 1] = sha
      local r = git(ctx, args, {check = false})
      if r.code ~= 0 then
        git(ctx, {"revert", "--abort"}, {check = false})
        raise("revert_failed", "git revert " .. sha .. " failed: " .. (r.stderr or ""))
      end
      subjects[#subjects + 1] = "  " .. sha:sub(1, 12) .. " " ..
        (git_read(ctx, {"log", "-1", "--format=%s", sha}) or "")
    end
    local reason = opts.reason and errmsg(opts.reason) or ctx.args.reason or "by hand"
    local msg = string.format("Revert to %s\n\nslipway run %s: %s\n\nReverted:\n%s\n",
      good and good:sub(1, 12) or "before HEAD", ctx.run_id, reason, table.concat(subjects, "\n"))
    git(ctx, {"-c", "user.name=" .. (os.getenv("GIT_AUTHOR_NAME") or "slipway"),
              "-c", "user.email=" .. (os.getenv("GIT_AUTHOR_EMAIL") or "slipway@localhost"),
              "commit", "--no-verify", "-m", msg})
    local new_sha = ctx.dry_run and ctx.sha or git_read(ctx, {"rev-parse", "HEAD"})
    ctx.journal:record{type = "revert", from = ctx.sha, to = new_sha, good = good,
                       commits = commits, reason = reason}
    ctx.sha = new_sha
    ctx.dirty = false
    local rv = ctx.envs.stages.revert
    if rv.push then
      local ref = rv.branch and ("HEAD:" .. rv.branch) or "HEAD"
      git(ctx, {"push", rv.remote, ref})
    end
    ctx:log("warn", "revert commit %s; redeploying %s", tostring(new_sha):sub(1, 12), staging)
    M.stage(ctx, staging)
    if ctx.dry_run then
      ctx:plan("test " .. staging .. " after the redeploy")
    else
      M.test(ctx, staging)
    end
  end)
  if not ok and type(err) == "table" and err.code == "usage" then error(err, 0) end
  if not ok then
    ctx.journal:record{type = "revert_failed", error = errmsg(err)}
    if type(err) == "table" and err.code == "cancelled" then
      io.stderr:write("\n!!! REVERT INTERRUPTED: staging may be broken; run `slipway revert` again\n\n")
      error(err, 0)
    end
    if type(err) == "table" and err.code == "revert_failed" then error(err, 0) end
    raise("revert_failed", "REVERT FAILED: " .. errmsg(err), {cause = errmsg(err)})
  end
  if nothing then return false end
  if ctx.dry_run then
    io.stderr:write(string.format("\n*** dry run: %s would be reverted and redeployed; nothing was changed ***\n\n",
      staging))
  elseif opts.manual then
    io.stderr:write(string.format("\n*** %s was REVERTED by hand to %s and passed its tests; production was not touched ***\n\n",
      staging, tostring(ctx.sha):sub(1, 12)))
  else
    io.stderr:write(string.format("\n*** %s failed its tests and was REVERTED to %s; production was not touched ***\n\n",
      staging, tostring(ctx.sha):sub(1, 12)))
  end
  return true
end

-- ---- playbooks ---------------------------------------------------------------

--- The standard playbook's steps: stage -> test (revert on failure) ->
-- promote, on stages.staging. scripts/playbooks/deploy.lua is these steps;
-- a playbook of your own may take them and add its own. The test step's
-- revert declines (exit 1, staging left as it is) under --no-revert
-- (ctx.args.revert == false) or when opts.revert is false.
function M.steps(opts)
  opts = opts or {}
  local function staging(ctx) return M.setup(ctx).stages.staging end
  return {
    {name = "stage", run = function(ctx) M.stage(ctx, staging(ctx)) end},
    {name = "test", run = function(ctx) M.test(ctx, staging(ctx)) end,
     revert = function(ctx, err)
       if opts.revert == false or ctx.args.revert == false then
         return playbook.decline("--no-revert")
       end
       M.revert(ctx, {reason = err})
     end},
    {name = "promote", run = function(ctx) M.promote(ctx) end},
  }
end

--- Notifications (slipway.yaml notify) around a playbook run: returns a
-- `finish(result)` function. Never fails the run.
function M.notifier(ctx, info)
  if not ctx.manifest or not ctx.manifest.notify or ctx.dry_run then return function() end end
  local ok, n = pcall(notify.new, ctx.manifest.notify)
  if not ok then
    ctx:log("warn", "notify: %s", errmsg(n))
    return function() end
  end
  info.run_id = ctx.run_id
  info.versions = info.versions or (ctx.manifest and environments.versions(ctx.manifest))
  pcall(n.start, n, info)
  return function(result)
    pcall(n.finish, n, {outcome = result.outcome == "success" and "success" or result.outcome,
      summary = result.error and errmsg(result.error) or result.outcome, run_id = ctx.run_id})
  end
end

-- ---- commands ------------------------------------------------------------------

--- The options of the deploy steps (slipway.args declarations): every
-- deploy command declares them after playbook.engine_options, and so does
-- the standard playbook.
M.common_options = {
  {name = "junit", metavar = "FILE", help = "write the checks' results as JUnit XML"},
  {name = "lock-wait", type = "number", metavar = "SECS", help = "wait for a busy deploy lock " ..
   "instead of failing at once"},
  {name = "break-lock", type = "boolean", help = "take over a deploy lock whose holder is gone " ..
   "(drivers with remote locks; the local driver's flock cannot go stale)"},
}

--- The options a deploy command declares: the engine's, the deploy steps'
-- and its own (a list of slipway.args declarations).
function M.options(own)
  local args = require "slipway.args"
  return args.concat(playbook.engine_options, M.common_options, own or {})
end

--- The run function of a command on one environment (`stage ENV`, `test
-- ENV`; default stages.staging): step(ctx, env) is its one step.
function M.env_command(command, step)
  return function(a, argv)
    return M.run_command(command, a, function(ctx)
      local env = a.env or ctx.envs.stages.staging
      if not env then raise("usage", command .. ": which environment?") end
      return {{name = command, run = function(c) step(c, env) end}}
    end, {argv = argv})
  end
end

--- The end of every deploy command's --help: the exit statuses.
M.exit_help = [==[
Exit status: 0 ok, 1 failed, 2 bad input or refused, 3 test failed and the
revert succeeded, 4 the revert failed, 5 deploy lock busy, 130/143 interrupted.]==]

--- Run a deploy command: args are its parsed options (slipway.args), argv
-- the words they came from (for the journal); build the context, run the
-- steps that build(ctx, args) returns through the playbook engine, notify,
-- print the outcome. opts: argv, playbook, env, journal_best_effort (stop: a
-- journal that cannot be written is a warning). Returns the exit status.
function M.run_command(command, args, build, opts)
  opts = opts or {}
  local argv = opts.argv or {}
  local okc, ctx = pcall(function()
    local c = playbook.context{args = args, argv = argv, command = command, dry_run = args.dry_run,
                               journal_path = args.journal, state_dir = args.state_dir,
                               playbook = opts.playbook,
                               journal_best_effort = opts.journal_best_effort}
    M.setup(c)
    return c
  end)
  if not okc then
    io.stderr:write("slipway ", command, ": ", errmsg(ctx), "\n")
    return exit.for_error(ctx)
  end
  local okb, def = pcall(build, ctx, args)
  if not okb then
    io.stderr:write("slipway ", command, ": ", errmsg(def), "\n")
    ctx.journal:finish{ok = false, status = exit.for_error(def), outcome = "error", error = errmsg(def)}
    return exit.for_error(def)
  end
  if def.steps == nil then def = {name = command, steps = def} end
  local finish = M.notifier(ctx, {command = command, env = opts.env or args[1]})
  local r = playbook.run(def, {ctx = ctx, resume = args.resume})
  finish(r)
  local line = string.format("slipway %s: %s (exit %d, run %s, %s)", command, r.outcome, r.status,
    r.run_id, playbook.fmt_dur(r.duration or 0))
  if r.ok then log.info("%s", line)
  elseif r.status == exit.revert_failed then
    log.error("%s", line)
    io.stderr:write("\n!!! REVERT FAILED: ", errmsg(r.revert_error or r.error), "\n",
      "!!! staging may be broken; production was not touched. See `slipway history` and the journal:\n",
      "!!! ", tostring(ctx.journal.path or "(in memory)"), "\n\n")
  else
    log.error("%s: %s", line, errmsg(r.error))
  end
  return r.status
end

return M
