--- slipway.drivers: where an environment runs, behind one small interface.
--
-- A driver is a module `slipway.drivers.NAME` (scripts/slipway/drivers/NAME.lua,
-- or a user module of that name on the playbook's path) returning a table with
-- the functions below. The standard playbook (slipway.deploy) and the commands
-- call nothing else, so a new target (kubernetes, nomad, ssh, ...) is one file.
--
-- Arguments every function receives:
--   ctx  the playbook context (slipway.playbook): ctx.manifest (slipway.manifest
--        result: root, state_dir, components, ...), ctx.dry_run, ctx.journal,
--        and the mutation helpers that honour --dry-run and journal every
--        action:  ctx:run(argv, opts)  (proc.run; pass readonly = true for
--        commands that change nothing, e.g. `helm template`, `kubectl get`),
--        ctx:write(path, data) (fs.write), ctx:request(opts) (http.request;
--        only GET/HEAD run in a dry run), ctx:plan(text) (a plan entry),
--        ctx:log(level, fmt, ...).
--        A driver must route EVERY mutation through these helpers, never call
--        proc/fs/http directly for a change: that is what makes --dry-run safe.
--   env  one validated environment (slipway.environments): env.name, env.driver,
--        env.chart (directory, absolute), env.values (absolute paths, merged in
--        order as helm -f), env.url, env.context, env.namespace, env.release,
--        env.experimental, env.checks, env.options (the driver's own table:
--        `local:` or `kubernetes:` in slipway.yaml, ${VAR} expanded), and
--        env.raw (the environment as written).
--   Helpers for drivers in slipway.environments: environments.merged_values(env)
--   (yaml.merge of env.values), environments.versions(manifest) (component ->
--   version string, read from the component locations), environments.chart(env)
--   (Chart.yaml as a table).
--
-- THE INTERFACE
--
--   driver.deploy(ctx, env, opts) -> {revision = n, versions = {component = version},
--                               url = "http://..." (optional), detail = {...}}
--       Deploy env's merged values (the working tree at ctx.sha) and return
--       only when the rollout is complete (new version healthy, old one gone)
--       or raise (code "deploy", "timeout", "exit", ...). Revision numbers grow
--       by one per deploy (helm's release revision for kubernetes). In a dry run
--       it runs only read-only commands and records plan entries; it returns
--       {revision = nil, versions = <what would be deployed>, planned = true}.
--       opts.files (stage, when the driver has prepare_files): the task
--       running it; deploy skips what it did and waits for it before
--       anything that may read what it writes.
--
--   driver.status(ctx, env) -> {running = bool, revision = n|nil,
--                               versions = {...}|nil, url = "..."|nil,
--                               since = unix time|nil, detail = {...}}
--       What runs now. Read-only; never raises for "nothing deployed"
--       (running = false), raises only when the target cannot be asked.
--
--   driver.lock(ctx, env, {break_lock = bool, wait = seconds|nil, give_up = fn|nil}) -> lock
--       The environment's deploy lock; lock:unlock() releases it. When someone
--       else holds it, raise code "locked" with field holder = {pid, host,
--       since, run_id, command} (as fs.lock does). break_lock = true takes over
--       a lock whose holder is gone or that the operator breaks on purpose.
--       give_up() is called before each pause of a wait: an error it returns
--       ends the wait, raised as it is (fs.lock's and lk:acquire's option).
--       In a dry run a driver returns a no-op lock (it must not create files)
--       after checking, read-only, whether the lock is busy.
--
--   driver.render(ctx, env) -> text|nil
--       The manifests that deploy would apply, as text (for kubernetes `helm
--       template`, Secret data masked; for local the release description:
--       command, values, versions). nil when the driver has nothing to render.
--       Used by --dry-run to print the unified diff before -> after:
--
--   driver.rendered(ctx, env) -> text|nil    (optional)
--       What is deployed now, in the same form as render (the "before" side of
--       the dry-run diff). Without it the diff shows render's output as new.
--
--   driver.stop(ctx, env)
--       End everything of env (processes, releases). Idempotent.
--
--   driver.prepare_files(ctx, env)    (optional)
--       The part of deploy that needs no deploy lock because it writes only
--       files the repository ignores (kubernetes: the `before` hooks marked
--       dry_run, which a dry run runs without a lock). stage runs it in a
--       task while it takes the lock and reads the status (not in a dry run)
--       and passes that task to deploy as opts.files; deploy skips what it
--       did (and does it itself when it was not called).
--
--   driver.options (optional): the schema of its block in slipway.yaml,
--       {NAME = {type =, min =, max =, above =, of =, ...}} as
--       manifest.check_options reads it. When declared, env.options is
--       validated against it (unknown keys with a did-you-mean, types,
--       ranges; slipway.yaml:LINE:COLUMN) before any driver function runs.
--
-- Drivers never run checks, never touch git and never write the journal
-- themselves except through ctx (ctx:run and ctx:request journal what they do;
-- ctx.journal:record{type = "driver", ...} for anything else worth keeping).

local raise = require("slipway.errors").fail
local modules = require "slipway.modules"
local manifest = require "slipway.manifest"

local M = {}

--- Names of the drivers compiled into slipway.
M.builtin = {"local", "kubernetes"}

--- The functions every driver must have.
M.required = {"deploy", "status", "lock", "render", "stop"}

local cache = {}

--- The driver module for `name` (validated), raising code "driver" when it is
-- unknown or incomplete.
function M.get(name)
  if cache[name] then return cache[name] end
  if type(name) ~= "string" or not name:match("^[%w_%-]+$") then
    raise("driver", "bad driver name " .. tostring(name))
  end
  -- not found is an unknown driver; one that fails to load raises as it is
  local mod = modules.find("slipway.drivers." .. name)
  if not mod then
    raise("driver", "unknown driver '" .. name .. "' (built in: " ..
      table.concat(M.builtin, ", ") .. ")")
  end
  for _, f in ipairs(M.required) do
    if type(mod[f]) ~= "function" then
      raise("driver", "driver '" .. name .. "' lacks " .. f .. "()")
    end
  end
  cache[name] = mod
  return mod
end

--- drivers.check(env) -> env: env.options validated against the declared
-- `options` of its driver (manifest.check_options; numbers given as
-- strings converted), once. A driver that declares none, or that cannot be
-- found (drivers.of says so when it is used), is left alone.
function M.check(env)
  if env.options_checked then return env end
  local mod = cache[env.driver]
  if not mod and type(env.driver) == "string" and env.driver:match("^[%w_%-]+$") then
    mod = modules.find("slipway.drivers." .. env.driver)
  end
  if type(mod) == "table" and type(mod.options) == "table" then
    env.options = manifest.check_options(env.manifest,
      {"environments", env.name, env.driver}, env.options, mod.options)
  end
  env.options_checked = true
  return env
end

--- The driver of an environment (its options checked: drivers.check).
function M.of(env)
  local d = M.get(env.driver)
  M.check(env)
  return d
end

return M
