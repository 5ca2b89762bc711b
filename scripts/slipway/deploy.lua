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
-- What must outlive the machine -- the run summaries, what staging tested
-- (the promote gate), the last good deploy (the revert target), what runs
-- where -- goes to the shared record of `state:` in slipway.yaml
-- (slipway.state; deploy.store): at a run's start (unfinished, with a
-- heartbeat), as it goes, and at its end. A deploy lock taken by stage is
-- held until the run ends (through test, revert and retest).
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
local state = require "slipway.state"
local kube = require "slipway.kube"
local json = require "slipway.json"
local build = require "slipway.build"

local M = {}

local raise, errmsg = errors.fail, errors.message

--- Load the environments of ctx.manifest into ctx.envs (idempotent).
function M.setup(ctx)
  ctx.vars.staged = ctx.vars.staged or {}
  ctx.vars.tested = ctx.vars.tested or {}
  if ctx.envs then return ctx.envs end
  if not ctx.manifest then
    raise("manifest", "no slipway.yaml in " .. ctx.root .. " or its parents")
  end
  ctx.envs = environments.load(ctx.manifest)
  for _, e in ipairs(ctx.envs.list) do drivers.check(e) end  -- every driver's options
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

-- ---- the shared record (slipway.state) ----------------------------------------

--- Seconds between two writes of a running run's summary (its heartbeat);
-- a run with no end whose `expires` (3 heartbeats after the last write) has
-- passed is "abandoned". slipway.yaml: `state: {backend: ..., heartbeat: N}`.
M.HEARTBEAT = 60

local function state_setting(ctx)
  local cfg = ctx.manifest and ctx.manifest.state or {backend = "local"}
  local c = {}
  for k, v in pairs(cfg) do if k ~= "heartbeat" then c[k] = v end end
  return c, tonumber(cfg.heartbeat) or M.HEARTBEAT
end

--- The store of the shared record of deploys (slipway.state) that
-- slipway.yaml's `state:` names (local without one), opened once per context.
function M.store(ctx)
  if ctx._store then return ctx._store end
  local cfg = state_setting(ctx)
  local envs
  if cfg.backend == "kubernetes" then
    M.setup(ctx)
    envs = {}
    for _, env in ipairs(ctx.envs.list) do
      local s = kube.settings(env)
      envs[env.name] = {namespace = s.namespace, kubectl = s.kubectl, context = s.context, env = s.env}
    end
  end
  ctx._store = state.open(cfg, {root = ctx.root, state_dir = ctx.state_dir, envs = envs})
  return ctx._store
end

--- The shared record (of env only, when given), read once per context.
-- An unreadable record or an unreachable store raises code "state" naming
-- the store and what to do: it is never read as "nothing on record".
function M.record(ctx, env)
  ctx._records = ctx._records or {}
  local key = env or "*"
  if not ctx._records[key] then ctx._records[key] = M.store(ctx):read(env) end
  return ctx._records[key]
end

local snapshot = json.snapshot

--- The summary of ctx's run for the shared record (docs/state.md, "What is
-- in it"), from its journal records; `result` (playbook.run's) once it ended,
-- nil while it runs (then it carries `expires`, its lease).
function M.run_summary(ctx, result)
  local recs = ctx.journal.records
  local info = recs[1] or {}
  local js = journal.summary(recs)
  local s = {id = ctx.run_id, command = ctx.command, args = info.args, envs = js.envs, started = info.ts,
             sha = info.sha, head = ctx.sha ~= info.sha and ctx.sha or nil, dirty = info.dirty or nil,
             user = info.user, host = info.host, pid = info.pid, ci_url = state.ci_url(),
             journal = {host = info.host, path = ctx.journal.path}, resume_of = info.resume_of,
             playbook = info.playbook, steps = {}, checks = {}, vars = snapshot(ctx.vars)}
  local phase
  local versions = {}
  local revert_failed
  for _, r in ipairs(recs) do
    if r.type == "step_end" then
      s.steps[#s.steps + 1] = {name = r.step, ok = r.ok, duration = r.duration, skipped = r.skipped,
                               error = r.error}
    elseif r.type == "revert_start" then
      phase = "retest"
      s.revert = s.revert or {}
    elseif r.type == "check" then
      s.checks[#s.checks + 1] = {env = r.env, name = r.name, ok = r.ok, detail = r.detail,
                                 duration = r.duration, phase = phase}
    elseif r.type == "state" and r.before and r.before.running and not versions.attempted then
      versions.before = versions.before or r.before.versions  -- what ran before the first deploy
    elseif r.type == "deployed" then
      versions.attempted = versions.attempted or r.versions
      versions.final = r.versions
    elseif r.type == "tested" and not r.dry_run and not r.ok then
      versions.failed = versions.failed or r.versions
    elseif r.type == "revert" then
      s.revert = s.revert or {}
      s.revert.from, s.revert.to, s.revert.commit = r.from, r.good, r.to
      s.revert.commits, s.revert.why, s.revert.resumed = r.commits, r.reason, r.finishing
      phase = "retest"
    elseif r.type == "revert_push" then
      s.revert = s.revert or {}
      s.revert.pushed, s.revert.branch, s.revert.side_branch = r.ok, r.branch, r.side_branch
      s.revert.push_error = r.error
    elseif r.type == "revert_failed" then
      revert_failed = r.error
    elseif r.type == "answer" and r.kind == "confirm" then
      s.confirmed_by = tostring(r.user) .. " (" .. tostring(r.how) .. ")"
    elseif r.type == "changed" then  -- (a runbook's summary lines)
      s.changes = s.changes or {}
      s.changes[#s.changes + 1] = r.text
    end
  end
  if next(versions) then s.versions = versions end
  -- the answers a runbook was given (who confirmed what, and how); what was
  -- typed at a prompt stays in the local journal, out of a record others read
  for _, a in ipairs(js.answers or {}) do
    s.answers = s.answers or {}
    s.answers[#s.answers + 1] = {kind = a.kind, question = a.question, user = a.user, how = a.how, ts = a.ts,
                                 answer = a.kind ~= "input" and a.answer or nil}
  end
  if s.revert and revert_failed then s.revert.ok, s.revert.error = false, revert_failed end
  if result then
    s.ended = journal.now()
    s.outcome, s.status, s.failed_step = result.outcome, result.status, result.failed_step
    s.error = result.error and errmsg(result.error) or nil
    s.duration = s.ended - (info.ts or s.ended)
    if s.revert and s.revert.ok == nil then
      s.revert.ok = result.status == exit.ok or result.status == exit.reverted
        or result.status == exit.revert_unpushed
    end
  else
    local _, hb = state_setting(ctx)
    s.expires = journal.now() + 3 * hb
  end
  return s
end

-- what the run being resumed established on env (`kind`: "tested" or
-- "staged", from ctx.vars, which --resume restores): a resumed run goes on
-- with its test and its stage as if they were its own -- for the promote
-- gate, the revert target and the record's fields. nil for this run's own
-- (its journal says those) or when nothing was.
local function inherited(ctx, kind, env)
  local v = type(ctx.vars[kind]) == "table" and ctx.vars[kind][env]
  if type(v) == "table" and v.run and v.run ~= ctx.run_id and not v.planned then return v end
  return nil
end

-- the environment fields the run's records establish: tested (the promote
-- gate), good (the revert target), deployed (what runs there) -- and those
-- of the run it resumed, which this run's own records supersede
local function env_fields(ctx)
  local envs = {}
  local function put(env, f, v)
    envs[env] = envs[env] or {}
    envs[env][f] = v
  end
  for _, kind in ipairs{"tested", "staged"} do
    for env in pairs(type(ctx.vars[kind]) == "table" and ctx.vars[kind] or {}) do
      local v = inherited(ctx, kind, env)
      if v and kind == "tested" then
        put(env, "tested", {sha = v.sha, versions = v.versions or {}, outputs = v.outputs or {}, ok = v.ok,
                            failed = v.failed or {}, dirty = v.dirty, run = v.run, at = v.at})
        if v.ok and v.sha and not v.dirty then
          put(env, "good", {sha = v.sha, versions = v.versions or {}, run = v.run, at = v.at})
        end
      elseif v then
        put(env, "deployed", {sha = v.sha, versions = v.versions or {}, revision = v.revision,
                              outputs = v.outputs, dirty = v.dirty, run = v.run, at = v.at})
      end
    end
  end
  for _, r in ipairs(ctx.journal.records) do
    if r.type == "tested" and r.env and not r.dry_run then
      put(r.env, "tested", {sha = r.sha, versions = r.versions or {}, outputs = r.outputs or {},
                            ok = r.ok, failed = r.failed or {}, dirty = r.dirty, run = ctx.run_id, at = r.ts})
      if r.ok and r.sha and not r.dirty then
        put(r.env, "good", {sha = r.sha, versions = r.versions or {}, run = ctx.run_id, at = r.ts})
      end
    elseif r.type == "deployed" and r.env then
      put(r.env, "deployed", {sha = r.sha, versions = r.versions or {}, revision = r.revision,
                              outputs = r.outputs, dirty = r.dirty, run = ctx.run_id, at = r.ts})
    end
  end
  return envs
end

-- records after which the running summary is written again at once (the
-- summary then says which steps finished, and that a revert started)
local PROGRESS = {step_end = true, revert_start = true, revert = true, revert_push = true}

local function progress_count(ctx)
  local n = 0
  for _, r in ipairs(ctx.journal.records) do if PROGRESS[r.type] then n = n + 1 end end
  return n
end

--- Write ctx's run to the shared record as unfinished (nothing under a dry
-- run or in a read-only context), then keep it current in the background:
-- after every step, when a revert starts, and every heartbeat. Idempotent.
-- A store that cannot be written raises (code "state"): the run does not start.
-- opts.overlap: the first write runs in the background instead, while the
-- run's build does (stage's build changes only the repository); the run
-- waits for it, and raises its error, at `deploy.record_started(ctx)` --
-- which taking a deploy lock calls (stage takes it after its build); the
-- end of the run waits for it too.
function M.record_start(ctx, opts)
  if ctx.dry_run or ctx.readonly or ctx._heartbeat then return end
  local _, hb = state_setting(ctx)
  local st = M.store(ctx)
  local beat = {seen = progress_count(ctx)}
  ctx._heartbeat = beat
  local first
  if opts and opts.overlap then
    first = task.spawn(function() st:append_run(M.run_summary(ctx)) end)
    ctx._start = first
  else
    st:append_run(M.run_summary(ctx))
  end
  beat.task = task.spawn(function()
    -- (the heartbeat starts once the first write is in; a first write that
    -- failed is the joiner's to raise: the heartbeat then stays quiet)
    if first and not first:wait() then return end
    local last = task.now()
    while not beat.stop do
      task.sleep(math.min(0.2, hb))
      local n = progress_count(ctx)
      if not beat.stop and (n ~= beat.seen or task.now() - last >= hb) then
        beat.busy, beat.seen = true, n
        local ok, err = pcall(st.append_run, st, M.run_summary(ctx))
        -- the next beat counts from the end of this write: counted from its
        -- start, a store slower than the heartbeat was written back to back,
        -- and other runners' writes (kubernetes: get, then replace with the
        -- resourceVersion read) lost every race to it until they gave up
        last = task.now()
        beat.busy = false
        if not ok then log.warn("state: run %s not updated in %s: %s", ctx.run_id, st:where(), errmsg(err)) end
      end
    end
  end)
end

--- Wait for the first write of ctx's run (record_start with overlap) to be
-- in the shared record; raise its error (code "state"). No-op otherwise.
function M.record_started(ctx)
  local first = ctx._start
  if not first then return end
  ctx._start = nil
  local ok, err = first:wait()
  if not ok then error(err, 0) end
end

--- Write ctx's finished run (its summary and the environment fields it
-- established) to the shared record. Returns true, or false and the error
-- (logged: the run's own outcome stands).
local function record_end(ctx, result)
  if ctx.dry_run or ctx.readonly or ctx._recorded then return true end
  ctx._recorded = true
  -- (an overlapped first write still under way ends first; its error was
  -- the run's to raise, the end is written regardless)
  local first = ctx._start
  ctx._start = nil
  if first then first:wait() end
  local beat = ctx._heartbeat
  if beat then
    beat.stop = true
    while beat.busy do task.sleep(0.02) end
  end
  local ok, err = pcall(function()
    M.store(ctx):write{runs = {M.run_summary(ctx, result)}, envs = env_fields(ctx)}
  end)
  if not ok then
    log.error("the record of run %s was NOT written to the shared record: %s", ctx.run_id, errmsg(err))
    return false, err
  end
  return true
end

-- ---- the deploy locks -----------------------------------------------------------

-- the environment's deploy lock, taken once per run and held until it ends
-- (give_up: the driver's give_up option, see stage)
local function hold_lock(ctx, env, driver, ectx, give_up)
  ctx._locks = ctx._locks or {}
  if ctx._locks[env.name] then return ctx._locks[env.name] end
  M.record_started(ctx)  -- no lock before the run is in the shared record
  local lk = driver.lock(ectx, env, {break_lock = ctx.args.break_lock, wait = tonumber(ctx.args.lock_wait),
                                     give_up = give_up})
  ctx._locks[env.name] = lk
  ctx._lock_order = ctx._lock_order or {}
  ctx._lock_order[#ctx._lock_order + 1] = env.name
  return lk
end

--- Release every deploy lock ctx holds (taken by stage; held through test,
-- revert and retest until the run ends).
local function release_locks(ctx)
  local order = ctx._lock_order or {}
  for i = #order, 1, -1 do
    local lk = ctx._locks[order[i]]
    ctx._locks[order[i]] = nil
    if lk then
      local ok, err = pcall(lk.unlock, lk)
      if not ok then log.warn("[%s] releasing the deploy lock: %s", order[i], errmsg(err)) end
    end
  end
  ctx._lock_order = {}
end

--- The end of a deploy run (the standard playbook's `finish`; every deploy
-- command calls it): a revert that could not reach its branch makes the
-- status exit.revert_unpushed; the run goes to the shared record; the locks
-- are released (after the record is written). Idempotent.
function M.finish(ctx, result)
  if ctx._finished then return end
  ctx._finished = true
  local up = ctx.vars.revert_unpushed
  if up and (result.status == exit.reverted or result.status == exit.ok) then
    result.ok, result.status, result.outcome = false, exit.revert_unpushed, "revert-unpushed"
  end
  record_end(ctx, result)
  release_locks(ctx)
end

-- ---- stage -----------------------------------------------------------------

--- Stage env `name`: run the build (slipway.yaml `build:`; once per run and
-- commit: its staging commands for stages.staging, its production ones
-- otherwise), take its deploy lock (held until the run ends: through test,
-- revert and retest), record the current state, deploy through the driver
-- and wait for the rollout. Returns {revision, versions, url}.
function M.stage(ctx, name)
  M.setup(ctx)
  local env = environments.get(ctx.envs, name)
  local driver = drivers.of(env)
  local ectx = for_env(ctx, name)
  -- (the check of what the build changed goes on while the lock is taken --
  -- unless --lock-wait may make that a long wait: a bad build is said first)
  local wait = tonumber(ctx.args.lock_wait)
  local built <close> = build.run(ctx, build.kind(ctx, name), {defer = not (wait and wait > 0)})
  -- what the driver does without the lock (files the repository ignores)
  -- runs while the lock is taken and the status read; the lock is released
  -- by the run's end whatever fails here
  local files = driver.prepare_files and not ctx.dry_run and task.spawn(driver.prepare_files, ectx, env)
  -- (it ends before the stage does: waited for by deploy, else cancelled)
  local _ <close> = setmetatable({}, {__close = function()
    if files and not files:done() then files:cancel() end
    if files then files:wait() end
  end})
  -- while --lock-wait waits for another run's lock, a failed hook ends the
  -- wait: its error then, not minutes later (or never: "locked" hid it)
  local give_up = files and wait and wait > 0 and function()
    if files:done() then
      local ok, err = files:wait()
      if not ok then return err end
    end
  end
  hold_lock(ctx, env, driver, ectx, give_up or nil)  -- (it waits for the run's start in the record)
  local before = driver.status(ectx, env)
  local outputs = built and built:settle()
  ctx.journal:record{type = "state", env = name, before = {versions = before.versions,
    revision = before.revision, sha = before.sha, running = before.running}, sha = ctx.sha}
  local versions = environments.versions(ctx.manifest)
  ectx:log("info", "deploying %s at %s: %s (running: %s)", name, tostring(ctx.sha and ctx.sha:sub(1, 12)),
    show_versions(versions), before.running and show_versions(before.versions) or "nothing")
  if ctx.dry_run then
    -- the diff of what the driver would apply: before (deployed) -> after
    local after = driver.render(ectx, env)
    if after then
      local deployed = driver.rendered and driver.rendered(ectx, env) or ""
      ectx:diff("[" .. name .. "] " .. (env.driver == "local" and "release" or "manifests"),
        deployed or "", after)
    end
  end
  local r = driver.deploy(ectx, env, {files = files or nil})
  if files then  -- (a driver's deploy waits for it; this raises its error if one did not)
    local ok, err = files:wait()
    if not ok then error(err, 0) end
  end
  if not ctx.dry_run then
    ctx.journal:record{type = "deployed", env = name, sha = ctx.sha, dirty = ctx.dirty,
      versions = r.versions, revision = r.revision, url = r.url, outputs = outputs,
      before = {versions = before.versions, revision = before.revision}}
    ectx:log("info", "%s: revision %s is live%s", name, tostring(r.revision),
      r.url and (" at " .. r.url) or "")
  end
  ctx.vars.staged[name] = {sha = ctx.sha, versions = r.versions, revision = r.revision,
                           url = r.url, planned = r.planned, outputs = outputs,
                           dirty = ctx.dirty or nil, run = ctx.run_id, at = journal.now()}
  return r
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
  local outputs = staged and not staged.planned and staged.outputs
  if not staged and not ctx.dry_run and (not st.sha or build.config(ctx.manifest)) then
    -- staged by another run (the workflow's stage step): the record's
    -- `deployed` says which commit, versions and build outputs run there
    -- when the driver cannot (kubernetes), if it is about that revision
    local e = M.record(ctx, name).envs[name]
    local d = e and e.deployed
    if d and (st.sha or d.sha) == d.sha and (st.revision == nil or st.revision == d.revision) then
      sha, outputs = d.sha, d.outputs
      if not st.sha then versions = d.versions or versions end
    end
  end
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
                     failed = failed, dry_run = ctx.dry_run or nil, dirty = ctx.dirty or nil,
                     outputs = outputs or ctx.vars.outputs}
  ctx.vars.tested[name] = {ok = passed, sha = sha, versions = versions, failed = failed,
                           outputs = outputs or ctx.vars.outputs, dirty = ctx.dirty or nil,
                           planned = ctx.dry_run or nil, run = ctx.run_id, at = journal.now()}
  ctx._junit = ctx._junit or {}
  -- a retest (after a revert) keeps the failing results before it: the
  -- report of a reverted run is not green
  local suite = name
  if ctx._junit[name] then suite = name .. " (retest after revert)" end
  ctx._junit[suite] = results
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

--- What env last tested: this run's newest `tested` record (or that of
-- the run it resumes, when it did not test env itself), else the shared record's `tested` field of env ({sha, versions, outputs, ok,
-- failed, run, at}); nil when nothing was tested. pred(t) filters this
-- run's records. A shared record that cannot be read raises (code "state").
function M.last_tested(ctx, env_name, pred)
  for i = #ctx.journal.records, 1, -1 do
    local r = ctx.journal.records[i]
    if r.type == "tested" and r.env == env_name and not r.dry_run and (not pred or pred(r)) then
      return r
    end
  end
  local own = inherited(ctx, "tested", env_name)  -- the resumed run's test
  if own and (not pred or pred(own)) then return own end
  local e = M.record(ctx, env_name).envs[env_name]
  local t = e and e.tested
  if t and (not pred or pred(t)) then return t end
  return nil
end

-- the production members to promote: stages.production, or those --only
-- names (each must be a member)
local function members(ctx)
  local production = ctx.envs.stages.production
  local only = ctx.args.only
  if type(only) ~= "table" or #only == 0 then return production end
  local want = {}
  for _, n in ipairs(only) do
    local found = false
    for _, p in ipairs(production) do if p == n then found = true end end
    if not found then
      raise("usage", string.format("promote --only %s: not a member of stages.production (%s)", n,
        table.concat(production, ", ")))
    end
    want[n] = true
  end
  local out = {}
  for _, p in ipairs(production) do if want[p] then out[#out + 1] = p end end
  return out
end

--- Promote the commit that passed test on staging to every production
-- environment (or those of ctx.args.only: `promote --only MEMBER`), in
-- parallel and isolated (one member failing does not stop the others), then
-- test each. Runs the build's production commands first (slipway.yaml
-- `build:`). Refuses (code "refused") unless HEAD, the versions of the
-- working tree and the build's outputs (or ctx.vars.outputs a playbook set)
-- are exactly those of the last test on staging, which passed -- read from
-- the shared record, so a fresh CI runner sees it.
-- Experimental members' failures are reported, not raised.
function M.promote(ctx)
  M.setup(ctx)
  local stages = ctx.envs.stages
  local staging = stages.staging
  local versions = environments.versions(ctx.manifest)
  if #stages.production == 0 then
    raise("refused", "promote: stages.production lists no environment")
  end
  local targets = members(ctx)
  local last = staging and M.last_tested(ctx, staging)
  -- the build's production commands (slipway.yaml `build:`), once the rest
  -- of the gate holds: their outputs must be those staging tested
  local built <close> = last and last.ok and not ctx.dirty and last.sha == ctx.sha and
    same_versions(last.versions, versions) and build.run(ctx, "production") or nil
  if staging then
    local why
    if ctx.dirty then
      why = "the working tree has uncommitted changes"
    elseif not last then
      why = "nothing has been tested on " .. staging .. " yet (" .. M.store(ctx):where() .. ")"
    elseif not last.ok then
      why = string.format("the last test on %s (run %s) failed", staging, tostring(last.run))
    elseif last.sha ~= ctx.sha then
      why = string.format("%s passed test at commit %s, but HEAD is %s", staging,
        tostring(last.sha), tostring(ctx.sha))
    elseif not same_versions(last.versions, versions) then
      why = string.format("%s passed test with %s, the repository has %s", staging,
        show_versions(last.versions), show_versions(versions))
    else
      local outputs = (built and built.outputs) or ctx.vars.outputs
      local differs = build.compare(last.outputs, outputs)
      if differs then
        why = string.format("%s (run %s) -- %s", staging, tostring(last.run), differs)
      elseif built and not outputs then
        ctx:plan(string.format("compare the outputs of build %s with those %s tested in run %s",
          build.config(ctx.manifest).name, staging, tostring(last.run)))
      end
    end
    if why then
      if ctx.dry_run then
        ctx:plan("promote requires a passed test on " .. staging .. " (" .. why .. ")")
      else
        raise("refused", "promote refused: " .. why, {env = staging})
      end
    else
      ctx:log("info", "promoting %s (%s) to %s, tested on %s in run %s", tostring(ctx.sha):sub(1, 12),
        show_versions(versions), table.concat(targets, ", "), staging, tostring(last.run))
    end
  end
  local fns, names = {}, {}
  for i, name in ipairs(targets) do
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

local function tail(text)
  text = tostring(text or ""):gsub("%s+$", "")
  local lines = {}
  for l in text:gmatch("[^\n]+") do lines[#lines + 1] = l end
  return table.concat(lines, "\n", math.max(1, #lines - 5))
end

--- The last commit known good on staging: this run's newest passed test
-- (or that of the run it resumes), else the shared record's `good` field of staging. Returns sha, the field.
-- A shared record that cannot be read raises (code "state").
function M.last_good(ctx)
  M.setup(ctx)
  local staging = ctx.envs.stages.staging
  for i = #ctx.journal.records, 1, -1 do
    local r = ctx.journal.records[i]
    if r.type == "tested" and r.env == staging and r.ok and r.sha and not r.dry_run and not r.dirty then
      return r.sha, r
    end
  end
  local own = inherited(ctx, "tested", staging)  -- the resumed run's test
  if own and own.ok and own.sha and not own.dirty then return own.sha, own end
  local e = M.record(ctx, staging).envs[staging]
  local g = e and e.good
  return g and g.sha, g
end

--- What a revert commit slipway made says: {good, run, commit, parent} for
-- a commit whose message is "Revert to GOOD\n\nslipway run RUN: ...", else nil.
function M.revert_commit(ctx, sha)
  local body = git_read(ctx, {"log", "-1", "--format=%B", sha})
  if not body then return nil end
  local good, run = body:match("^Revert to (%x+)%s*\n\nslipway run ([%w][%w%.%-_]*):")
  if not good then return nil end
  return {good = good, run = run, commit = git_read(ctx, {"rev-parse", sha}),
          parent = git_read(ctx, {"rev-parse", "--verify", "-q", sha .. "^"})}
end

-- a revert commit of this repository whose redeploy never finished: HEAD
-- is slipway's revert commit, and staging does not run it
local function unfinished_revert(ctx, staging)
  local rc = M.revert_commit(ctx, "HEAD")
  if not rc then return nil end
  local env = environments.get(ctx.envs, staging)
  local okst, st = pcall(drivers.of(env).status, for_env(ctx, staging), env)
  if okst and st.sha and st.sha == rc.commit and st.running then return nil end
  if not (okst and st.sha) then
    -- the driver does not say which commit runs: the record says whether
    -- that run's revert finished
    local run = state.find_run(M.record(ctx), rc.run)
    if run and run.revert and run.revert.ok then return nil end
  end
  return {run = rc.run, good = rc.good, from = rc.parent, commit = rc.commit}
end

--- The --resume check of a run whose commit is no longer HEAD: allowed when
-- HEAD is the revert commit that run made (it was killed during its revert);
-- then ctx.finish_revert is set and the test step finishes that revert.
local function resume_moved(ctx, target)
  local rc = M.revert_commit(ctx, "HEAD")
  if rc and rc.run == target.id and rc.parent == target.sha then
    ctx.finish_revert = {run = target.id, good = rc.good, from = rc.parent, commit = rc.commit}
    log.info("run %s was stopped during its revert (HEAD is its revert commit %s): finishing it",
      target.id, rc.commit:sub(1, 12))
    return true
  end
  return false
end

--- The --resume lookup: the run to resume from the local journals (target,
-- may be nil) or the shared record, whichever is newer -- so a run started
-- on another machine is resumed from its summary (the steps it finished).
local function resume_lookup(ctx, which, target)
  local doc = M.record(ctx)
  local cand
  if which == true then
    for _, s in ipairs(state.runs(doc)) do
      if s.id ~= ctx.run_id and s.command == ctx.command then cand = s; break end
    end
  else
    cand = state.find_run(doc, which)
    if cand and cand.id == ctx.run_id then cand = nil end
  end
  if cand and (not target or cand.id > target.id) then
    local done = {}
    for _, st in ipairs(cand.steps or {}) do if st.ok then done[st.name] = true end end
    return {id = cand.id, ok = cand.outcome == "success", sha = cand.sha, command = cand.command,
            done = done, vars = cand.vars}
  end
  return target
end

-- the revert commit to the remote (stages.revert.push): to its branch, or
-- when that is refused (a protected branch), to slipway/revert-RUN
local function push_revert(ctx, rv)
  if not rv.push then return end
  local branch = rv.branch or git_read(ctx, {"symbolic-ref", "-q", "--short", "HEAD"})
  if branch then
    local r = git(ctx, {"push", rv.remote, "HEAD:refs/heads/" .. branch}, {check = false})
    if r.code == 0 then
      ctx.journal:record{type = "revert_push", ok = true, remote = rv.remote, branch = branch}
      ctx:log("info", "revert commit pushed to %s/%s", rv.remote, branch)
      return
    end
    ctx:log("error", "the push of the revert commit to %s/%s was refused: %s", rv.remote, branch, tail(r.stderr))
  end
  local why = branch and ("the push to " .. rv.remote .. "/" .. branch .. " was refused")
    or "HEAD is on no branch (and stages.revert.branch is not set)"
  local side = "slipway/revert-" .. ctx.run_id
  local r2 = git(ctx, {"push", rv.remote, "HEAD:refs/heads/" .. side}, {check = false})
  local pushed_side = r2.code == 0
  ctx.vars.revert_unpushed = {remote = rv.remote, branch = branch, side_branch = pushed_side and side or nil}
  ctx.journal:record{type = "revert_push", ok = false, remote = rv.remote, branch = branch,
                     side_branch = pushed_side and side or nil, error = why,
                     side_error = (not pushed_side) and tail(r2.stderr) or nil}
  if pushed_side then
    ctx:log("error", "%s: the revert commit is on branch %s of %s instead -- merge it (a pull request); " ..
      "until then %s still holds the bad commit", why, side, rv.remote, branch or "the branch")
  else
    ctx:log("error", "%s, and the push to %s/%s failed too: %s -- the revert commit %s is only in %s",
      why, rv.remote, side, tail(r2.stderr), tostring(ctx.sha):sub(1, 12), ctx.root)
  end
end

-- one `git revert` commit of `commits` (newest first); a failure half way
-- leaves the working tree as it was (git revert --abort, reset to HEAD)
-- Uncommitted changes that are a revert of these commits stopped before its
-- commit (a run killed between `git revert --no-commit` and `git commit`):
-- the index and the working tree are the tree of the first parent of one of
-- `commits` (reverting the newest ones gives exactly that tree). That tree
-- is in the history, so resetting to HEAD loses nothing; anything else is
-- someone's work and is not touched.
local function interrupted_revert(ctx, commits)
  if git(ctx, {"diff", "--quiet"}, {readonly = true, check = false}).code ~= 0 then return nil end
  local index = git_read(ctx, {"write-tree"})
  if not index then return nil end
  for _, sha in ipairs(commits) do
    if git_read(ctx, {"rev-parse", "--verify", "-q", sha .. "^1^{tree}"}) == index then return sha end
  end
  return nil
end

local function revert_commits(ctx, commits, good, why, reason)
  if not ctx.dry_run then build.reset(ctx) end  -- the build's outputs: made again by the redeploy
  local dirty = git_read(ctx, {"status", "--porcelain", "--untracked-files=no"})
  if dirty and dirty ~= "" and not ctx.dry_run then
    local upto = interrupted_revert(ctx, commits)
    if not upto then
      raise("revert_failed", "revert: the working tree has uncommitted changes; commit or stash them, " ..
        "then run `slipway revert`")
    end
    ctx:log("warn", "the working tree holds a revert (back to %s^) that was never committed -- a run " ..
      "stopped before its commit; starting the revert again from HEAD", upto:sub(1, 12))
    git(ctx, {"reset", "-q", "--hard", "HEAD"})
  end
  ctx:log("warn", "reverting %d commit(s) back to %s: %s", #commits, why,
    (table.concat(commits, " "):gsub("(%x%x%x%x%x%x%x%x%x%x%x%x)%x+", "%1")))
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
      git(ctx, {"reset", "-q", "--hard", "HEAD"}, {check = false})
      local left = git_read(ctx, {"status", "--porcelain", "--untracked-files=no"})
      local clean = left == ""
      raise("revert_failed", string.format("git revert %s failed: %s\n" ..
        "  The working tree is %s at HEAD %s; nothing was committed or deployed.\n" ..
        "  What to do: revert by hand (git revert %s..HEAD), commit, then `slipway stage %s` and " ..
        "`slipway test %s`; or fix the cause and run `slipway revert` again.",
        sha:sub(1, 12), tail(r.stderr),
        clean and "clean again" or ("NOT clean (" .. tostring(left) .. ")"),
        tostring(ctx.sha):sub(1, 12), tostring(good):sub(1, 12), ctx.envs.stages.staging,
        ctx.envs.stages.staging), {clean = clean})
    end
    subjects[#subjects + 1] = "  " .. sha:sub(1, 12) .. " " ..
      (git_read(ctx, {"log", "-1", "--format=%s", sha}) or "")
  end
  if not ctx.dry_run and git(ctx, {"diff", "--cached", "--quiet"}, {readonly = true, check = false}).code == 0 then
    return nil  -- the changes are undone already: nothing to commit
  end
  local msg = string.format("Revert to %s\n\nslipway run %s: %s\n\nReverted:\n%s\n",
    good:sub(1, 12), ctx.run_id, reason, table.concat(subjects, "\n"))
  -- author and committer: the repository's git identity (git config) when
  -- set, else GIT_AUTHOR_* or slipway's
  local argv = {}
  if not git_read(ctx, {"config", "--get", "user.name"}) then
    argv[#argv + 1] = "-c"; argv[#argv + 1] = "user.name=" .. (os.getenv("GIT_AUTHOR_NAME") or "slipway")
  end
  if not git_read(ctx, {"config", "--get", "user.email"}) then
    argv[#argv + 1] = "-c"; argv[#argv + 1] = "user.email=" .. (os.getenv("GIT_AUTHOR_EMAIL") or "slipway@localhost")
  end
  for _, a in ipairs{"commit", "--no-verify", "-m", msg} do argv[#argv + 1] = a end
  local r = git(ctx, argv, {check = false})
  if r.code ~= 0 then
    git(ctx, {"reset", "-q", "--hard", "HEAD"}, {check = false})
    raise("revert_failed", "git commit of the revert failed: " .. tail(r.stdout .. "\n" .. r.stderr) ..
      "\n  The working tree is back at HEAD " .. tostring(ctx.sha):sub(1, 12) .. "; nothing was deployed.")
  end
  return ctx.dry_run and ctx.sha or git_read(ctx, {"rev-parse", "HEAD"})
end

--- Revert the commits since the last good deploy of staging (or since
-- opts.to: a sha or a run id) with one `git revert` commit, push it when
-- stages.revert.push is set (to slipway/revert-RUN when the branch refuses
-- it: then the run's status is exit.revert_unpushed), redeploy and retest
-- staging. A revert whose redeploy never finished (HEAD is slipway's revert
-- commit, staging does not run it: a run killed during its revert) is
-- finished instead. Raises code "revert_failed" when any of that fails: the
-- loudest outcome.
function M.revert(ctx, opts)
  opts = opts or {}
  M.setup(ctx)
  local staging = ctx.envs.stages.staging
  if not staging then raise("revert_failed", "revert: no staging environment") end
  local nothing = false
  local back_to  -- the good commit whose tree the revert commit restores
  local ok, err = pcall(function()
    local reason = opts.reason and errmsg(opts.reason) or ctx.args.reason or "by hand"
    local to = opts.to or ctx.args.to
    local finishing = ctx.finish_revert or (opts.manual and not to and unfinished_revert(ctx, staging))
    if finishing then
      ctx:log("warn", "finishing the revert of run %s: HEAD is its revert commit %s (back to %s)",
        finishing.run, tostring(finishing.commit):sub(1, 12), finishing.good)
      ctx.journal:record{type = "revert", from = finishing.from, to = finishing.commit, good = finishing.good,
                         commits = {}, reason = "finishing the revert of run " .. finishing.run,
                         finishing = finishing.run}
      ctx.sha, ctx.dirty, back_to = finishing.commit, false, finishing.good
    else
      local good, why = nil, nil
      if to then
        local s = journal.find(ctx.state_dir, to)
        local run = (not s) and state.find_run(M.record(ctx), to)
        if s then
          for _, r in ipairs(select(2, journal.find(ctx.state_dir, to))) do
            if (r.type == "tested" and r.ok) or r.type == "deployed" then good = r.sha end
          end
          good = good or s.sha
          why = "run " .. s.id
        elseif run then
          good = run.head or run.sha
          why = "run " .. run.id
        else
          good = git_read(ctx, {"rev-parse", "--verify", to .. "^{commit}"})
          if not good then raise("usage", "revert --to " .. to .. ": neither a run nor a commit") end
          why = "commit " .. to
        end
      else
        local rec
        good, rec = M.last_good(ctx)
        why = rec and ("the last passed test on " .. staging .. " (run " .. tostring(rec.run) .. ")")
      end
      if not good then
        -- guessing would be worse than stopping: the operator picks with --to
        raise("revert_failed", string.format("revert: no good deploy of %s on record " ..
          "(%s has no passed test of %s); nothing known to revert to -- use " ..
          "`slipway revert --to SHA`", staging, M.store(ctx):where(), staging))
      end
      local anc = git(ctx, {"merge-base", "--is-ancestor", good, "HEAD"}, {readonly = true, check = false})
      if anc.code ~= 0 then
        raise("revert_failed", "revert: " .. good .. " is not an ancestor of HEAD")
      end
      local list = git_read(ctx, {"rev-list", "--first-parent", good .. "..HEAD"}) or ""
      local commits = {}
      for sha in list:gmatch("%x+") do commits[#commits + 1] = sha end
      local new_sha = #commits > 0 and revert_commits(ctx, commits, good, why, reason)
      if not new_sha then
        local what = #commits == 0 and string.format("HEAD is %s (%s)", good:sub(1, 12), why or "")
          or string.format("the %d commit(s) since %s undo each other already", #commits, good:sub(1, 12))
        if opts.manual then  -- asked by hand: nothing to do is not a failure
          ctx:log("info", "nothing to revert: %s", what)
          nothing = true
          return
        end
        raise("revert_failed", string.format(
          "revert: nothing to revert (%s); the failure is elsewhere", what))
      end
      ctx.journal:record{type = "revert", from = ctx.sha, to = new_sha, good = good,
                         commits = commits, reason = reason}
      ctx.sha, back_to = new_sha, good
      ctx.dirty = false
    end
    push_revert(ctx, ctx.envs.stages.revert)
    ctx:log("warn", "revert commit %s; redeploying %s", tostring(ctx.sha):sub(1, 12), staging)
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
      io.stderr:write("\n!!! REVERT INTERRUPTED: staging may be broken; run `slipway revert` " ..
        "(or `slipway deploy --resume`) to finish it\n\n")
      error(err, 0)
    end
    if type(err) == "table" and err.code == "revert_failed" then error(err, 0) end
    raise("revert_failed", "REVERT FAILED: " .. errmsg(err), {cause = errmsg(err)})
  end
  if nothing then return false end
  local up = ctx.vars.revert_unpushed
  local where = up and string.format("; the revert commit is NOT on %s/%s%s", up.remote, tostring(up.branch or "its branch"),
    up.side_branch and (" but on branch " .. up.side_branch .. ": merge it") or " (push it by hand)") or ""
  -- "reverted to" names the good commit (as the revert commit's message
  -- does); the revert commit is named as such
  local to_what = string.format("to %s (revert commit %s)", tostring(back_to):sub(1, 12), tostring(ctx.sha):sub(1, 12))
  if ctx.dry_run then
    io.stderr:write(string.format("\n*** dry run: %s would be reverted and redeployed; nothing was changed ***\n\n",
      staging))
  elseif opts.manual then
    io.stderr:write(string.format("\n*** %s was REVERTED by hand %s and passed its tests; production was not touched%s ***\n\n",
      staging, to_what, where))
  else
    io.stderr:write(string.format("\n*** %s failed its tests and was REVERTED %s; production was not touched%s ***\n\n",
      staging, to_what, where))
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
    {name = "test", run = function(ctx)
       if ctx.finish_revert then  -- resumed: the run was stopped during its revert
         raise("test", "run " .. ctx.finish_revert.run .. " was stopped during its revert: finishing it",
           {env = staging(ctx)})
       end
       M.test(ctx, staging(ctx))
     end,
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
revert succeeded, 4 the revert failed, 5 deploy lock busy, 6 reverted but the
revert commit was refused by its branch (it is on slipway/revert-RUN),
130/143 interrupted.]==]

--- The commands whose run must reach the shared record before it starts
-- (they read it: the promote gate, the revert target, --resume).
M.RECORDED = {deploy = true, stage = true, test = true, promote = true, revert = true}

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
  local okb, def = pcall(function()
    local d = build(ctx, args)
    -- the commands that read the record do not start without it; others
    -- (stop: an emergency) go on and say so
    -- stage, and deploy's standard playbook, with a build: the first write
    -- goes on while the build runs (stage waits for it before the deploy
    -- lock; a playbook of the user's own may do anything first)
    local overlap = (command == "stage" or command == "deploy") and not args.resume
      and not args.playbook and require("slipway.build").config(ctx.manifest) ~= nil
    local okr, err = pcall(M.record_start, ctx, {overlap = overlap})
    if not okr then
      if M.RECORDED[command] then error(err, 0) end
      log.warn("the shared record cannot be written; going on without it: %s", errmsg(err))
    end
    return d
  end)
  if not okb then
    io.stderr:write("slipway ", command, ": ", errmsg(def), "\n")
    local res = {ok = false, status = exit.for_error(def), outcome = "error", error = def}
    M.finish(ctx, res)
    ctx.journal:finish{ok = false, status = res.status, outcome = "error", error = errmsg(def)}
    return res.status
  end
  if def.steps == nil then def = {name = command, steps = def} end
  -- the end of the run (shared record, locks, exit 6) after the playbook's own finish
  local d = {}
  for k, v in pairs(def) do d[k] = v end
  d.finish = function(c, result)
    if def.finish and def.finish ~= M.finish then def.finish(c, result) end
    M.finish(c, result)
  end
  local finish = M.notifier(ctx, {command = command, env = opts.env or args[1]})
  local r = playbook.run(d, {ctx = ctx, resume = args.resume, resume_lookup = resume_lookup,
                             resume_moved = resume_moved})
  M.finish(ctx, r)  -- (a resume refused: no step ran, the playbook's finish did not)
  finish(r)
  local line = string.format("slipway %s: %s (exit %d, run %s, %s)", command, r.outcome, r.status,
    r.run_id, playbook.fmt_dur(r.duration or 0))
  if r.ok then log.info("%s", line)
  elseif r.status == exit.revert_failed then
    log.error("%s", line)
    io.stderr:write("\n!!! REVERT FAILED: ", errmsg(r.revert_error or r.error), "\n",
      "!!! staging may be broken; production was not touched. See `slipway history` and the journal:\n",
      "!!! ", tostring(ctx.journal.path or "(in memory)"), "\n\n")
  elseif r.status == exit.revert_unpushed then
    local up = ctx.vars.revert_unpushed or {}
    log.error("%s", line)
    io.stderr:write("\n!!! REVERTED, but the revert commit is not on ", tostring(up.remote), "/",
      tostring(up.branch or "its branch"), ": ", up.side_branch and ("it is on branch " .. up.side_branch ..
      " -- merge it (a pull request)") or "push it by hand", ".\n",
      "!!! staging is safe; the branch still holds the bad commit.\n\n")
  else
    log.error("%s: %s", line, errmsg(r.error))
  end
  return r.status
end

return M
