--- deploytest: helpers for the deploy tests -- a temporary git copy of the
-- example deployment, running slipway commands in it, hashing it, and
-- checking that no service process is left behind.
local core = require "slipway.core"
local fs = require "slipway.fs"
local proc = require "slipway.proc"
local json = require "slipway.json"
local task = require "slipway.task"
local sync = require "sync"

local D = {}
D.BIN = os.getenv("SLIPWAY_BIN") or "build/slipway"
D.PREFIX = "examples/deployment/"

local GIT_ENV = {GIT_AUTHOR_NAME = "Test", GIT_AUTHOR_EMAIL = "test@example.org",
                 GIT_COMMITTER_NAME = "Test", GIT_COMMITTER_EMAIL = "test@example.org"}

function D.git(dir, ...)
  return proc.run({"git", "-C", dir, ...}, {env = GIT_ENV, echo = false})
end

--- A temporary git repository holding the example deployment as compiled
-- into the binary (core.embedded_list), committed. edit(dir) may change
-- files before the first commit.
function D.repo(edit)
  local dir = fs.tempdir()
  local files = core.embedded_list(D.PREFIX)
  assert(#files > 5, "the example deployment is not embedded")
  for _, p in ipairs(files) do
    local rel = p:sub(#D.PREFIX + 1)
    local path = dir .. "/" .. rel
    fs.mkdir(fs.dirname(path))
    fs.write(path, core.embedded(p))
  end
  if edit then edit(dir) end
  D.git(dir, "init", "-q", "-b", "main")
  D.git(dir, "add", "-A")
  D.git(dir, "commit", "-q", "-m", "Example deployment")
  return dir
end

--- Replace `from` by `to` in a file of the repository and commit.
function D.commit_edit(dir, file, from, to, msg)
  local p = dir .. "/" .. file
  local s = fs.read(p)
  local a, b = s:find(from, 1, true)
  assert(a, file .. " does not contain " .. from)
  fs.write(p, s:sub(1, a - 1) .. to .. s:sub(b + 1))
  D.git(dir, "commit", "-q", "-am", msg or ("Change " .. file))
end

--- An edit for D.repo / D.with_repo (then(dir) runs after it): the
-- example's checks (every environment's) start with one more, `held`: while
-- the file `hold` exists it writes `hold .. ".reached"` and waits. A run is
-- held in its test step until the spec removes `hold` -- an event to wait
-- for (D.wait_file), where a slow service is not slow enough on a loaded
-- machine and needlessly slow on an idle one.
function D.held(hold, then_edit)
  return function(dir)
    local p = dir .. "/slipway.yaml"
    local text, n = fs.read(p):gsub("    checks: &checks\n",
      "    checks: &checks\n      - {name: held, lua: tests/held.lua, deadline: 600}\n", 1)
    assert(n == 1, "slipway.yaml: no checks: &checks")
    fs.write(p, text)
    fs.write(dir .. "/tests/held.lua", string.format([[
local fs = require "slipway.fs"
local task = require "slipway.task"
if fs.exists(%q) then fs.write(%q, "held\n") end
while fs.exists(%q) do task.sleep(0.05) end
return "released"
]], hold, hold .. ".reached", hold))
    if then_edit then then_edit(dir) end
  end
end

-- the file whose creation releases a hold of env's service (in .git/: no
-- change to the working tree); of one revision, when held per revision
local function hold_file(dir, env, revision)
  return dir .. "/.git/hold-" .. env .. (revision and ("-" .. revision) or "")
end

--- An edit for D.repo / D.with_repo: env's example service answers /health
-- 503 "starting" (what = "health", the default) or holds a launch after
-- "fetching" (what = "launch") until D.release_hold(dir, env) (its
-- service.hold_until in the values): a rollout held for as long as the
-- spec needs -- killed inside it, however late the kill -- not a guess of
-- seconds (startup_delay) that a loaded machine may outrun. With
-- per_revision, each release (local driver revision) of env is held until
-- D.release_hold(dir, env, revision).
function D.hold_service(env, what, per_revision)
  return function(dir)
    local p = dir .. "/config/" .. env .. ".yaml"
    fs.write(p, fs.read(p) .. string.format("\nservice:\n  hold_until: {%s: '%s'}\n", what or "health",
      hold_file(dir, env, per_revision and "{revision}" or nil)))
  end
end

--- Release what D.hold_service(env) holds at dir: everything, or (held per
-- revision) the releases of the revisions given.
function D.release_hold(dir, env, ...)
  local revs = table.pack(...)
  if revs.n == 0 then fs.write(hold_file(dir, env), "") end
  for i = 1, revs.n do fs.write(hold_file(dir, env, revs[i]), "") end
end

--- A repository runbook (runbooks/note.lua) that asks before it acts:
-- `note ENV [--text=T]` confirms, then says "noted T for ENV" as its change.
D.NOTE_RUNBOOK = [[
return {
  description = "write a note for an environment",
  args = {{name = "env", positional = true, required = true}, {name = "text", default = "hello"}},
  run = function(rb, args)
    local env = rb:environment(args.env)
    if not rb:confirm("Write the note for " .. env.name .. "?", {plan = {{text = "write note"}}}) then
      return false
    end
    rb:changed("noted " .. args.text .. " for " .. env.name)
  end,
}
]]

--- Wait until path exists (an event another process makes); `seconds` (60)
-- is only a safety net against a hang. Returns whether it appeared.
function D.wait_file(path, seconds)
  local deadline = task.now() + (seconds or 60)
  while not fs.exists(path) do
    if task.now() > deadline then return false end
    task.sleep(0.02)
  end
  return true
end

--- Run `slipway ARGS...` in dir; returns the proc result (never raises).
function D.slipway(dir, args, opts)
  opts = opts or {}
  local argv = {D.BIN}
  for _, a in ipairs(args) do argv[#argv + 1] = a end
  local env = {NO_COLOR = "1"}
  for k, v in pairs(GIT_ENV) do env[k] = v end
  for k, v in pairs(opts.env or {}) do env[k] = v end
  return proc.run(argv, {cwd = dir, check = false, env = env, timeout = opts.timeout or 120,
                         echo = false})
end

function D.spawn(dir, args)
  local argv = {D.BIN}
  for _, a in ipairs(args) do argv[#argv + 1] = a end
  local env = {NO_COLOR = "1"}
  for k, v in pairs(GIT_ENV) do env[k] = v end
  return proc.spawn(argv, {cwd = dir, env = env, stdin = "null", echo = false})
end

--- Records of every journal in dir's state directory, checking that every
-- line is valid JSON (a torn last line is an error too unless allow_torn).
function D.journals(dir, allow_torn)
  local out = {}
  for _, p in ipairs(fs.glob(dir .. "/.slipway/journal/*.jsonl")) do
    local text = fs.read(p)
    local recs = {}
    local n = 0
    for line in text:gmatch("([^\n]*)\n") do
      n = n + 1
      local ok, v = pcall(json.decode, line)
      assert(ok and type(v) == "table", p .. ":" .. n .. ": not a JSON object: " .. line)
      recs[#recs + 1] = v
    end
    if text ~= "" and text:sub(-1) ~= "\n" and not allow_torn then
      error(p .. ": torn last line")
    end
    out[#out + 1] = {path = p, records = recs}
  end
  return out
end

--- The journal records of the newest run whose command is cmd.
function D.last_run(dir, cmd)
  local js = D.journals(dir, true)
  for i = #js, 1, -1 do
    local r = js[i].records[1]
    if r and r.command == cmd then return js[i].records, js[i].path end
  end
end

-- pids of live processes whose environment mentions dir (our services)
function D.service_pids(dir)
  local out = {}
  for _, p in ipairs(fs.glob("/proc/[0-9]*/environ")) do
    local f = io.open(p, "r")
    if f then
      local env = f:read("a") or ""
      f:close()
      if env:find("SLIPWAY_RELEASE_DIR=" .. dir, 1, true) then
        local pid = tonumber(p:match("/proc/(%d+)/"))
        local st = io.open("/proc/" .. pid .. "/stat", "r")
        local s = st and st:read("a") or ""
        if st then st:close() end
        if not s:match("^%d+ %b() Z") and s ~= "" then out[#out + 1] = pid end
      end
    end
  end
  table.sort(out)
  return out
end

--- Stop every environment of dir and check no service process is left.
function D.cleanup(dir)
  D.slipway(dir, {"stop", "--all"})
  local deadline = task.now() + sync.SAFETY
  while #D.service_pids(dir) > 0 and task.now() < deadline do task.sleep(0.05) end
  local left = D.service_pids(dir)
  if #left > 0 then
    for _, pid in ipairs(left) do pcall(proc.kill, pid, "KILL") end
    error("processes left behind: " .. table.concat(left, " "))
  end
end

--- Run fn(dir) with a fresh repository; always stops its environments and
-- fails when a process is left behind.
function D.with_repo(edit, fn)
  local dir = D.repo(edit)
  local ok, err = xpcall(fn, debug.traceback, dir)
  local okc, cerr = pcall(D.cleanup, dir)
  if not ok then error(err, 0) end
  if not okc then error(cerr, 0) end
end

--- Every file under dir (but .git/) with its contents, as one string: two
-- equal results mean nothing changed. Plus HEAD.
function D.snapshot(dir)
  local r = proc.run({"find", dir, "-path", dir .. "/.git", "-prune", "-o", "-print"},
    {echo = false})
  local paths = {}
  for p in r.stdout:gmatch("[^\n]+") do paths[#paths + 1] = p end
  table.sort(paths)
  local parts = {}
  for _, p in ipairs(paths) do
    local st = fs.stat(p, {follow = false})
    parts[#parts + 1] = p .. " " .. st.type .. " " .. tostring(st.mode) .. " " .. tostring(st.mtime)
    if st.type == "file" then parts[#parts + 1] = fs.read(p) end
  end
  parts[#parts + 1] = D.git(dir, "rev-parse", "HEAD").stdout
  parts[#parts + 1] = D.git(dir, "status", "--porcelain").stdout
  return table.concat(parts, "\n")
end

function D.current(dir, env)
  local p = dir .. "/.slipway/envs/" .. env .. "/current.json"
  if not fs.exists(p) then return nil end
  return json.decode(fs.read(p))
end

return D
