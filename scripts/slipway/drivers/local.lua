--- slipway.drivers.local: environments as processes on this machine.
--
-- The embedded default driver (docs/deploy.md, "The local driver"). Each
-- environment is a process on 127.0.0.1 started from a command in slipway.yaml:
--
--   environments:
--     staging:
--       driver: local
--       values: [mybinder/values.yaml, config/staging.yaml]
--       local:
--         command: ["$SLIPWAY", "service.lua"]   # argv, run in the repository
--         health: /health         # GET until 200 before the old one stops
--         port: 0                 # 0: the service picks a free port
--         startup_timeout: 60     # seconds for ready + healthy
--         stop_timeout: 10        # SIGTERM, then SIGKILL after this long
--         keep: 5                 # releases kept (values, description, log)
--
-- In the command, $SLIPWAY is the running slipway binary, $VALUES the merged
-- values (JSON), $RELEASE the release description (JSON: env, revision, sha,
-- versions, chart, values), $READY the file where the service writes its URL
-- once it listens, $PORT the port to use (0 = any), $ENV the environment name.
-- The same are in the process environment as SLIPWAY_VALUES, SLIPWAY_RELEASE,
-- SLIPWAY_READY_FILE, SLIPWAY_PORT, SLIPWAY_ENV.
--
-- deploy: writes STATE/envs/ENV/releases/REV/{values.json,release.json},
-- starts the new version detached (it outlives slipway: its pid is in the
-- release's `pid` file), waits for $READY and then for health, makes it
-- current (STATE/envs/ENV/current.json) and only then stops the old one. A
-- release that never became healthy is stopped and the old one stays. Leftover
-- processes of an interrupted deploy (kill -9 of slipway) are stopped by the
-- next deploy. With a fixed port (port: N) the old version must stop first.
-- The lock is an flock on STATE/envs/ENV/lock (released if the holder dies).

local raise = require("slipway.errors").fail
local task = require "slipway.task"
local json = require "slipway.json"
local fs = require "slipway.fs"
local environments = require "slipway.environments"

local M = {}

M.defaults = {health = "/health", port = 0, startup_timeout = 60, stop_timeout = 10, keep = 5}

--- The `local:` options (manifest.check_options validates them when
-- slipway.yaml is loaded: drivers.check).
M.options = {
  command = {type = "list", of = "string", nonempty = true},
  health = {type = "string", pattern = "^/", pattern_text = "must be a path starting with /"},
  port = {type = "integer", min = 0, max = 65535},
  startup_timeout = {type = "number", above = 0},
  stop_timeout = {type = "number", min = 0},
  keep = {type = "integer", min = 1},
}

local function opt(env, k)
  local v = env.options[k]
  if v == nil then return M.defaults[k] end
  return v
end

local function env_dir(ctx, env) return ctx.state_dir .. "/envs/" .. env.name end

local function read_json(path)
  if not fs.exists(path) then return nil end
  local ok, v = pcall(json.decode, fs.read(path))
  if ok then return v end
  return nil
end

-- ---- processes -------------------------------------------------------------

-- a file's text, or nil when it cannot be read (a process gone, no pid file)
local function read_file(path)
  local ok, s = pcall(fs.read, path)
  return ok and s or nil
end

--- Whether pid is a live process (zombies count as dead) that is the one
-- meant: `mark` is its start time (a number, recorded at spawn) or a text
-- its command line or environment contains: proc.alive.
M.alive = require("slipway.proc").alive

-- A release's process: its pid and the mark that tells it from a later
-- process with the same pid. The pid file holds "PID START" (START: the
-- start time read right after the spawn, proc.started); an older one only
-- PID, and then the release directory (in the service's environment as
-- SLIPWAY_RELEASE_DIR) is the mark. Without a pid file (slipway killed
-- between the spawn and its write), the service is looked for by that
-- environment variable.
local function record_of(dir)
  local pid, start = (read_file(dir .. "/pid") or ""):match("^(%d+)%s*(%d*)")
  if pid then return tonumber(pid), tonumber(start) or dir end
  local want = "SLIPWAY_RELEASE_DIR=" .. dir .. "\0"
  for _, p in ipairs(fs.glob("/proc/[0-9]*/environ")) do
    local envs = read_file(p)
    if envs and envs:find(want, 1, true) then
      local n = tonumber(p:match("^/proc/(%d+)/"))
      return n, require("slipway.proc").started(n) or dir
    end
  end
  return nil
end

-- the process group first (the service and its children), then the pid
local function signal(pid, sig)
  local proc = require "slipway.proc"
  pid = math.tointeger(tonumber(pid))
  if not pcall(proc.kill, -pid, sig) then pcall(proc.kill, pid, sig) end
end

--- Stop pid (SIGTERM, then SIGKILL after `grace` seconds); waits until gone.
function M.kill(pid, mark, grace)
  if not M.alive(pid, mark) then return false end
  signal(pid, "TERM")
  local deadline = task.now() + (grace or 10)
  while M.alive(pid, mark) and task.now() < deadline do task.sleep(0.02) end
  if M.alive(pid, mark) then
    signal(pid, "KILL")
    local d2 = task.now() + 5
    while M.alive(pid, mark) and task.now() < d2 do task.sleep(0.02) end
  end
  return true
end

local slipway_bin
--- The running slipway binary (for $SLIPWAY).
function M.slipway_bin()
  if slipway_bin then return slipway_bin end
  local ok, path = pcall(fs.realpath, "/proc/self/exe")
  slipway_bin = ok and path or os.getenv("SLIPWAY_BIN") or "slipway"
  return slipway_bin
end

-- ---- releases --------------------------------------------------------------

local function releases(ctx, env)
  local dir = env_dir(ctx, env) .. "/releases"
  local out = {}
  if fs.exists(dir) then
    for _, n in ipairs(fs.list(dir)) do
      if type(n) == "table" then n = n.name end
      if tonumber(n) then out[#out + 1] = tonumber(n) end
    end
  end
  table.sort(out)
  return out
end

local function release_dir(ctx, env, rev)
  return env_dir(ctx, env) .. "/releases/" .. string.format("%06d", rev)
end

-- the release description deploy writes and render shows
local function describe(ctx, env, rev)
  local chart = environments.chart(env)
  local deps = {}
  if chart and type(chart.dependencies) == "table" then
    for _, d in ipairs(chart.dependencies) do
      deps[#deps + 1] = {name = d.name, version = d.version, repository = d.repository}
    end
  end
  return {
    env = env.name, revision = rev, sha = ctx.sha,
    versions = environments.versions(ctx.manifest or {components = {}, root = ctx.root}),
    chart = chart and {name = chart.name, version = chart.version,
                       dependencies = json.array(deps)} or nil,
    command = env.options.command,
    values = environments.merged_values(env),
  }
end

local function render_text(desc)
  if not desc then return nil end
  local d = {}
  for k, v in pairs(desc) do d[k] = v end
  d.revision, d.sha, d.started, d.pid, d.url = nil, nil, nil, nil, nil
  return json.encode(d, {indent = 2}) .. "\n"
end

--- driver.render: what deploy would run (release description, JSON).
function M.render(ctx, env)
  return render_text(describe(ctx, env, 0))
end

--- driver.rendered: what runs now, in render's form.
function M.rendered(ctx, env)
  local cur = read_json(env_dir(ctx, env) .. "/current.json")
  if not cur then return nil end
  return render_text(read_json(release_dir(ctx, env, cur.revision) .. "/release.json"))
end

--- driver.status
function M.status(ctx, env)
  local cur = read_json(env_dir(ctx, env) .. "/current.json")
  if not cur then return {running = false} end
  local rel = read_json(release_dir(ctx, env, cur.revision) .. "/release.json") or {}
  local dir = release_dir(ctx, env, cur.revision)
  return {running = M.alive(cur.pid, cur.start or dir), revision = cur.revision, versions = rel.versions,
          url = cur.url, since = cur.started, sha = rel.sha,
          detail = {pid = cur.pid, dir = dir, log = dir .. "/log"}}
end

--- driver.lock: an flock on STATE/envs/ENV/lock. opts: wait (seconds),
-- best_effort (a state directory that is read-only or full: a warning and
-- no lock, for stop).
function M.lock(ctx, env, opts)
  opts = opts or {}
  local path = env_dir(ctx, env) .. "/lock"
  if ctx.dry_run then
    ctx:plan("take the deploy lock of " .. env.name)
    return {unlock = function() end}
  end
  local ok, lk = pcall(function()
    fs.mkdir(env_dir(ctx, env))
    return fs.lock(path, {wait = opts.wait, give_up = opts.give_up, note = string.format("run %s: slipway %s %s",
      tostring(ctx.run_id), tostring(ctx.command), env.name)})
  end)
  if ok then return lk end
  -- opts.best_effort (stop): on a read-only or full state directory nobody
  -- can deploy, and stopping must still work
  local code = type(lk) == "table" and lk.code
  if opts.best_effort and (code == "EROFS" or code == "ENOSPC" or code == "EDQUOT") then
    ctx:log("warn", "%s: going on without the deploy lock: %s", env.name,
      require("slipway.errors").message(lk))
    return {unlock = function() end}
  end
  error(lk, 0)
end

local function stop_release(ctx, env, rev, why)
  local dir = release_dir(ctx, env, rev)
  local pid, mark = record_of(dir)
  if pid and M.alive(pid, mark) then
    ctx:mutate(string.format("stop %s revision %d (pid %d, %s)", env.name, rev, pid, why), function()
      M.kill(pid, mark, opt(env, "stop_timeout"))
      ctx:log("info", "%s: stopped revision %d (pid %d, %s)", env.name, rev, pid, why)
    end)
  end
end

local function log_tail(path, n)
  local s = read_file(path) or ""
  local lines = {}
  for l in s:gmatch("[^\n]+") do lines[#lines + 1] = l end
  return table.concat(lines, "\n", math.max(1, #lines - (n or 10) + 1))
end

--- driver.deploy
function M.deploy(ctx, env)
  local cmd = env.options.command
  if type(cmd) ~= "table" or #cmd == 0 then
    raise("manifest", string.format("environments.%s.local.command: a command (list) is needed",
      env.name))
  end
  local edir = env_dir(ctx, env)
  local cur = read_json(edir .. "/current.json")
  local revs = releases(ctx, env)
  local rev = math.max(cur and cur.revision or 0, revs[#revs] or 0) + 1
  local dir = release_dir(ctx, env, rev)
  local desc = describe(ctx, env, rev)
  if ctx.dry_run then
    ctx:plan(string.format("start %s revision %d: %s", env.name, rev, table.concat(cmd, " ")))
    return {planned = true, versions = desc.versions, revision = rev}
  end
  -- leftovers of an interrupted deploy: processes of releases that never became current
  for _, r in ipairs(revs) do
    if not cur or r ~= cur.revision then stop_release(ctx, env, r, "left over") end
  end
  fs.mkdir(dir)
  desc.started = os.time()
  ctx:write(dir .. "/values.json", json.encode(desc.values, {indent = 2}) .. "\n")
  ctx:write(dir .. "/release.json", json.encode(desc, {indent = 2}) .. "\n")
  local ready = dir .. "/ready"
  local port = tostring(opt(env, "port"))
  local subst = {SLIPWAY = M.slipway_bin(), VALUES = dir .. "/values.json",
                 RELEASE = dir .. "/release.json", READY = ready, PORT = port, ENV = env.name}
  local argv = {}
  for i, a in ipairs(cmd) do
    argv[i] = tostring(a):gsub("%$(%u+)", function(k) return subst[k] end)
  end
  local fixed = tonumber(port) ~= 0
  if fixed and cur then
    -- a fixed port cannot be shared: the old version has to go first
    stop_release(ctx, env, cur.revision, "fixed port " .. port)
  end
  local proc = require "slipway.proc"
  local penv = {SLIPWAY_VALUES = subst.VALUES, SLIPWAY_RELEASE = subst.RELEASE,
                SLIPWAY_READY_FILE = ready, SLIPWAY_PORT = port, SLIPWAY_ENV = env.name,
                SLIPWAY_RELEASE_DIR = dir, SLIPWAY_BIN = subst.SLIPWAY}
  ctx:log("info", "%s: starting revision %d: %s", env.name, rev, table.concat(argv, " "))
  local t0 = task.now()
  local pid, start = ctx:mutate("start " .. table.concat(argv, " "), function()
    local h = proc.spawn(argv, {detach = true, cwd = ctx.root, env = penv,
                                stdout = {file = dir .. "/log"}, stderr = {file = dir .. "/log"}})
    local n = type(h) == "table" and h.pid or h
    -- read at once: the process is slipway's child, not reaped before the
    -- loop runs again, so this is its start time (0 when it is gone)
    return n, proc.started(n) or 0
  end)
  -- no record, no service: one that nothing could find again is stopped
  local wrote, werr = pcall(fs.write, dir .. "/pid", pid .. " " .. start .. "\n")
  if not wrote then
    M.kill(pid, start, 2)
    raise(type(werr) == "table" and werr.code or "deploy", string.format(
      "%s: revision %d stopped again: its pid file could not be written: %s",
      env.name, rev, require("slipway.errors").message(werr)), {env = env.name, revision = rev})
  end
  ctx.journal:record{type = "driver", driver = "local", env = env.name, revision = rev,
                     action = "started", pid = pid}
  -- ready file, then health
  local deadline = t0 + opt(env, "startup_timeout")
  local url
  local function give_up(why)
    M.kill(pid, start, 2)
    -- an empty log (a service that could not even write it: a full state
    -- directory) is named, so the message still says where to look
    local tail = log_tail(dir .. "/log")
    if tail == "" then tail = "(its log " .. dir .. "/log is empty)" end
    raise("deploy", string.format("%s: revision %d did not become healthy: %s\n%s",
      env.name, rev, why, tail), {env = env.name, revision = rev})
  end
  local function wait_healthy()
    while true do
      if fs.exists(ready) then
        url = (fs.read(ready):gsub("%s+$", ""))
        if url ~= "" then break end
      end
      if not M.alive(pid, start) then give_up("the process exited") end
      if task.now() > deadline then give_up("no URL in " .. ready .. " after " .. opt(env, "startup_timeout") .. " s") end
      task.sleep(0.02)
    end
    local http = require "slipway.http"
    local health = opt(env, "health")
    local last = "no answer"
    while true do
      local ok, res = pcall(http.request, {method = "GET", url = url .. health, timeout = 5})
      if not ok and type(res) == "table" and res.code == "cancelled" then error(res, 0) end
      if ok and res.status == 200 then break end
      last = ok and ("status " .. res.status) or tostring(res.message or res)
      if not M.alive(pid, start) then give_up("the process exited (" .. last .. ")") end
      if task.now() > deadline then give_up(health .. ": " .. last) end
      task.sleep(0.05)
    end
  end
  local ok, err = pcall(wait_healthy)
  if not ok then
    -- interrupted anywhere while waiting: the new version never became current
    if type(err) == "table" and err.code == "cancelled" then M.kill(pid, start, 2) end
    error(err, 0)
  end
  ctx:waited(task.now() - t0)
  ctx.journal:record{type = "driver", driver = "local", env = env.name, revision = rev,
                     action = "healthy", url = url, wait = task.now() - t0}
  -- switch, then stop the old one
  local switched, serr = pcall(fs.write, edir .. "/current.json", json.encode({revision = rev,
    pid = pid, start = start, url = url, started = desc.started, sha = ctx.sha}, {indent = 2}) .. "\n")
  if not switched then  -- the old one stays current: the new one must not linger
    M.kill(pid, start, 2)
    error(serr, 0)
  end
  ctx.journal:record{type = "write", path = edir .. "/current.json"}
  if cur and not fixed then stop_release(ctx, env, cur.revision, "replaced by " .. rev) end
  -- keep the last `keep` releases (values, description, log) for inspection
  revs[#revs + 1] = rev
  local keep = opt(env, "keep")
  for i = 1, #revs - keep do
    local old = release_dir(ctx, env, revs[i])
    if revs[i] ~= rev and not M.alive(record_of(old)) then
      ctx:mutate("remove " .. old, fs.remove, old, {recursive = true, missing_ok = true})
    end
  end
  return {revision = rev, versions = desc.versions, url = url, detail = {pid = pid, dir = dir}}
end

--- driver.stop: end the environment's processes (idempotent).
function M.stop(ctx, env)
  for _, r in ipairs(releases(ctx, env)) do stop_release(ctx, env, r, "stop") end
  local cur = env_dir(ctx, env) .. "/current.json"
  if not fs.exists(cur) then return end
  -- the processes are stopped: a record that cannot be removed (read-only
  -- state directory) names a process that is gone, which status tells
  local ok, err = pcall(ctx.mutate, ctx, "forget the current release of " .. env.name, fs.remove, cur)
  if not ok then
    if type(err) ~= "table" or err.code ~= "EROFS" then error(err, 0) end
    ctx:log("warn", "%s: stopped, but %s cannot be removed: %s", env.name, cur,
      require("slipway.errors").message(err))
  end
end

return M
