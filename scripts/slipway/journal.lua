--- slipway.journal: the record of every run, as JSON lines.
--
-- Each run writes one file, STATE_DIR/journal/RUN_ID.jsonl (STATE_DIR is
-- `state_dir` of slipway.yaml, default `.slipway/` in the deployment
-- repository, which git ignores). Every record is one JSON object on one line,
-- redacted (registered secrets become "***"), appended and flushed before the
-- run goes on, so a run killed at any moment (even `kill -9`) leaves a journal
-- whose every complete line is valid JSON; readers skip a torn last line.
--
--   local j = journal.open(state_dir, {command = "deploy", args = {...},
--                                      sha = "...", root = "..."})
--   j:record{type = "step_start", step = "stage"}
--   j:finish{ok = true, status = 0}
--   journal.runs(state_dir)          --> summaries, newest first
--   journal.read(path)               --> records (torn last line skipped)
--
-- Record types (field `type`; every record also has `run` and `ts`, the unix
-- time with milliseconds): run (the first line: command, args, user, host,
-- pid, cwd, sha, dirty, dry_run, resume_of), step_start, step_end (ok,
-- duration, error, vars, attempts), cmd (argv redacted, cwd, code, duration,
-- readonly, planned), http (method, url, status, duration, planned), write
-- (path, planned), plan (text), state (env, before/after: versions, revision),
-- deployed (env, sha, versions, revision), check (env, name, ok, detail,
-- duration, attempts), tested (env, sha, versions, ok, failed), revert (from,
-- to, commits, ok), log (level, message), run_end (ok, status, outcome,
-- duration), answer (kind, question, answer, how, user, plan), target (env,
-- driver), changed (text). docs/journal.md describes each field.
local core = require "slipway.core"

local raise = require("slipway.errors").fail
local json = require "slipway.json"

local M = {}

-- wall-clock seconds, to the millisecond
local fscore = require "slipway.fs.core"
local function now()
  return math.floor(fscore.wallclock() * 1000 + 0.5) / 1000
end
M.now = now

local function read_first_line(path)
  local f = io.open(path, "r")
  if not f then return nil end
  local l = f:read("l")
  f:close()
  return l
end

--- Who and where: {user, host, pid, cwd}.
local function user_name()
  local u = os.getenv("USER") or os.getenv("LOGNAME")
  if u and u ~= "" then return u end
  local f = io.open("/proc/self/status", "r")
  local uid
  if f then
    for l in f:lines() do uid = uid or l:match("^Uid:%s+(%d+)") end
    f:close()
  end
  local pw = uid and io.open("/etc/passwd", "r")
  if pw then
    for l in pw:lines() do
      local name, id = l:match("^([^:]*):[^:]*:(%d+):")
      if id == uid then pw:close(); return name end
    end
    pw:close()
  end
  return uid and ("uid " .. uid) or "unknown"
end

function M.whoami()
  return {
    user = os.getenv("GITHUB_ACTOR") or user_name(),
    host = read_first_line("/proc/sys/kernel/hostname") or os.getenv("HOSTNAME") or "unknown",
    pid = require("slipway.proc.core").pid(),
    cwd = (fscore.cwd()),  -- getcwd(3), not a stale $PWD; nil when removed
    ci = os.getenv("CI") and (os.getenv("GITHUB_RUN_ID") or "yes") or nil,
  }
end

--- A new run id: sortable by start time, unique enough across hosts.
function M.new_id()
  local t = fscore.wallclock()
  local sec = math.floor(t)
  return os.date("!%Y%m%dT%H%M%S", sec) .. string.format(".%03dZ-%04x",
    math.floor((t - sec) * 1000), math.random(0, 0xffff))
end

--- The directory of the journals under state_dir.
function M.dir(state_dir) return state_dir .. "/journal" end

local Journal = {}
Journal.__index = Journal

local function mkdir_p(path)
  local fs = require "slipway.fs"
  fs.mkdir(path)
end

-- (Storage only: who watches the records -- the GitHub Actions output, the
-- progress line -- is wired up by the engine, slipway.playbook.)

-- The file cannot be written: raise, or (best_effort) warn and keep the
-- records in memory from now on.
local function unwritable(self, err)
  if not self.best_effort then error(err, 0) end
  self.path, self.memory = nil, true
  require("slipway.log").warn("the journal cannot be written, this run is not recorded: %s",
    require("slipway.errors").message(err))
end

-- The file could be written when the run started but cannot be any more (the
-- state directory filled up, or was made read-only, during the run): raising
-- from wherever a record is made (a check's task, the runner between two
-- steps) would crash the run half way, without its end in the shared record
-- or its locks released. Instead the records go on in memory, the loss is
-- said once and kept in `lost`: the engine starts no further step and fails
-- the run naming the file (slipway.engine.runner).
local function lose(self, err)
  self.lost = {path = self.path, error = err}
  self.path, self.memory = nil, true
  require("slipway.log").error("the journal cannot be written any more: %s; this run starts no " ..
    "further step", require("slipway.errors").message(err))
end

--- Open a new run's journal and write its first record. info: command, args,
-- sha, dirty, dry_run, resume_of, playbook, and anything else worth keeping.
-- opts.path writes to that file instead of STATE_DIR/journal/ID.jsonl;
-- opts.memory keeps the records in memory only (dry runs that must not touch
-- the state directory). opts.best_effort: when the journal cannot be written
-- (a full or read-only state directory), warn once and go on in memory
-- (`slipway stop` must work then) instead of raising.
function M.open(state_dir, info, opts)
  opts = opts or {}
  local id = info.id or M.new_id()
  local self = setmetatable({id = id, records = {}, t0 = now(),
                             best_effort = opts.best_effort}, Journal)
  if opts.memory then
    self.memory = true
  else
    self.path = opts.path or (M.dir(state_dir) .. "/" .. id .. ".jsonl")
    if not opts.path then
      local ok, err = pcall(mkdir_p, M.dir(state_dir))
      if not ok then unwritable(self, err) end
      -- two runs started in the same millisecond with the same suffix would
      -- share one file (and one id): a new id then, a few times at most
      local fs = require "slipway.fs"
      for _ = 1, 8 do
        if info.id or not self.path or not fs.exists(self.path) then break end
        id = M.new_id()
        self.id, self.path = id, M.dir(state_dir) .. "/" .. id .. ".jsonl"
      end
    end
  end
  local rec = {type = "run"}
  for k, v in pairs(M.whoami()) do rec[k] = v end
  for k, v in pairs(info) do if k ~= "id" then rec[k] = v end end
  self:record(rec)
  self.opened = true
  return self
end

local observers = {}

--- journal.observe(fn) -> remove: fn(record) is called with a redacted copy
-- of every record any journal writes (the GitHub Actions output uses it).
-- An error in an observer is reported once and the observer removed.
function M.observe(fn)
  if type(fn) ~= "function" then
    error("bad argument #1 to 'observe' (function expected, got " .. type(fn) .. ")", 2)
  end
  observers[#observers + 1] = fn
  return function()
    for i, f in ipairs(observers) do if f == fn then table.remove(observers, i); return end end
  end
end

--- journal.clean(value) -> a copy of value as the journal writes it: in
-- every string value registered secrets are masked (core.redact: whole
-- values, and secrets of 6+ bytes inside longer text) and bytes that are not
-- UTF-8 become U+FFFD; keys are only made valid UTF-8. Values are redacted,
-- never the encoded line, so a secret such as `ok`, `true` or `"` cannot
-- change a key, a boolean or the JSON syntax.
local function clean(v, depth)
  local t = type(v)
  if t == "string" then return core.utf8(core.redact(v)) end
  if t ~= "table" or depth > 500 then return v end
  local out = {}
  for k, x in pairs(v) do
    if type(k) == "string" then k = core.utf8(k) end
    out[k] = clean(x, depth + 1)
  end
  return setmetatable(out, getmetatable(v))
end
function M.clean(value) return clean(value, 0) end

--- Append one record (a table with `type`); adds `run` and `ts`, redacts
-- and cleans its values (journal.clean), writes the line and flushes it.
-- Returns the record as given.
function Journal:record(rec)
  rec.run = self.id
  rec.ts = rec.ts or now()
  local line = json.encode(clean(rec, 0)) .. "\n"
  self.records[#self.records + 1] = rec
  -- redacted value by value above; redacting the line again would work on
  -- JSON syntax
  if self.path then
    local ok, err = pcall(require("slipway.fs").append, self.path, line, {redact = false})
    if not ok then
      if self.opened and not self.best_effort then lose(self, err) else unwritable(self, err) end
    end
  end
  local i = 1
  while i <= #observers do
    local ok, err = pcall(observers[i], json.decode(line))
    if ok then i = i + 1 else
      io.stderr:write(core.redact("slipway: journal observer removed after an error: "
        .. tostring(err) .. "\n"))
      table.remove(observers, i)
    end
  end
  return rec
end

--- The last run_end record: ok, status (exit status), outcome, summary.
function Journal:finish(info)
  local rec = {type = "run_end", duration = now() - self.t0}
  for k, v in pairs(info or {}) do rec[k] = v end
  self.finished = true
  return self:record(rec)
end

--- Read a journal file: the list of records. A torn (incomplete) last line
-- is skipped and reported as records.torn = true; any other line that is not
-- a JSON record (empty, torn by a crash, edited) is skipped too and its line
-- number listed in records.bad, so what can be read still is.
function M.read(path)
  local f, err = io.open(path, "r")
  if not f then raise("ENOENT", "cannot read journal " .. path .. ": " .. tostring(err)) end
  local text = f:read("a")
  f:close()
  local out = {}
  local last_nl = text:sub(-1) == "\n"
  local lines = {}
  for l in (last_nl and text or text .. "\n"):gmatch("([^\n]*)\n") do lines[#lines + 1] = l end
  for n, l in ipairs(lines) do
    local ok, v = pcall(json.decode, l)
    if ok and type(v) == "table" then
      out[#out + 1] = v
    elseif n == #lines and not last_nl then
      out.torn = true
    else
      out.bad = out.bad or {}
      out.bad[#out.bad + 1] = n
    end
  end
  return out
end

--- Summarise one journal's records: {id, command, args, user, host, sha,
-- started, duration, ok, status, outcome, finished, envs, versions_before,
-- versions_after, failed_step, answers (the operator's answers: kind,
-- question, answer, how, user, ts), error, changes (a runbook's summary),
-- path, bad_lines, torn_line}. envs are the environments the run touched
-- (deployed, tested, stopped, or named by a runbook: "target" records). A run without
-- run_end is "killed" (or still running when its pid is alive). bad_lines
-- lists the line numbers journal.read skipped, torn_line the torn last line;
-- without a readable run record the id comes from the file name.
function M.summary(records, path)
  local s = {path = path, envs = {}, steps = {}}
  local seen_env = {}
  for _, r in ipairs(records) do
    if r.type == "run" then
      s.id, s.command, s.args, s.user, s.host, s.pid = r.run, r.command, r.args, r.user, r.host, r.pid
      s.sha, s.started, s.dry_run, s.resume_of, s.playbook = r.sha, r.ts, r.dry_run, r.resume_of, r.playbook
      s.dirty = r.dirty
    elseif r.type == "step_end" then
      s.steps[#s.steps + 1] = {name = r.step, ok = r.ok, duration = r.duration}
      if not r.ok and not r.skipped then s.failed_step = s.failed_step or r.step end
    elseif r.type == "state" and r.env and not seen_env[r.env] then
      seen_env[r.env] = true
      s.envs[#s.envs + 1] = r.env
      s.versions_before = s.versions_before or (r.before and r.before.versions)
    elseif (r.type == "tested" or r.type == "stopped" or r.type == "target") and r.env and not seen_env[r.env] then
      seen_env[r.env] = true
      s.envs[#s.envs + 1] = r.env
    elseif r.type == "deployed" then
      s.versions_after = r.versions
      if r.env and not seen_env[r.env] then seen_env[r.env] = true; s.envs[#s.envs + 1] = r.env end
    elseif r.type == "answer" then
      s.answers = s.answers or {}
      s.answers[#s.answers + 1] = {kind = r.kind, question = r.question, answer = r.answer, how = r.how,
                                   user = r.user, ts = r.ts}
    elseif r.type == "run_end" then
      s.finished = true
      s.ok, s.status, s.outcome, s.duration = r.ok, r.status, r.outcome, r.duration
      s.error, s.changes = r.error, r.changes
    end
  end
  if not s.finished then s.outcome = "unfinished" end
  -- a run whose first line is unreadable still has its id in the file name
  if not s.id and path then s.id = path:match("([^/]+)%.jsonl$") end
  s.bad_lines = records.bad
  if records.torn then s.torn_line = #records + #(records.bad or {}) + 1 end
  return s
end

--- Paths of every journal under state_dir, oldest first (ids sort by time).
-- A journal directory that cannot be listed (a file in its place) is a
-- warning and no journals: `history` shows what can be read.
function M.paths(state_dir)
  local fs = require "slipway.fs"
  local dir = M.dir(state_dir)
  if not fs.exists(dir) then return {} end
  local okl, names = pcall(fs.list, dir)
  if not okl then
    require("slipway.log").warn("the local journals cannot be read: %s",
      require("slipway.errors").message(names))
    return {}
  end
  local out = {}
  for _, name in ipairs(names) do
    if type(name) == "table" then name = name.name end
    if name:match("%.jsonl$") then out[#out + 1] = dir .. "/" .. name end
  end
  table.sort(out)
  return out
end

--- Summaries of every run, newest first. opts.env keeps the runs that touched
-- that environment; opts.limit caps the list.
function M.runs(state_dir, opts)
  opts = opts or {}
  local paths = M.paths(state_dir)
  local out = {}
  for i = #paths, 1, -1 do
    local ok, recs = pcall(M.read, paths[i])
    if ok then
      local s = M.summary(recs, paths[i])
      s.records = recs
      local keep = true
      if opts.env then
        keep = false
        for _, e in ipairs(s.envs) do if e == opts.env then keep = true end end
        for _, r in ipairs(recs) do if r.env == opts.env then keep = true end end
      end
      if keep then out[#out + 1] = s end
      if opts.limit and #out >= opts.limit then break end
    end
  end
  return out
end

--- The records of run `id` (or of the newest run whose id starts with id).
function M.find(state_dir, id)
  local paths = M.paths(state_dir)
  for i = #paths, 1, -1 do
    local name = paths[i]:match("([^/]+)%.jsonl$")
    if name == id or name:sub(1, #id) == id then
      local recs = M.read(paths[i])
      return M.summary(recs, paths[i]), recs
    end
  end
  return nil
end

--- Scan every record of every run, newest first, and return the first record
-- (and its run summary) for which pred(record) is true.
function M.last(state_dir, pred)
  for _, s in ipairs(M.runs(state_dir)) do
    for i = #s.records, 1, -1 do
      local r = s.records[i]
      if pred(r, s) then return r, s end
    end
  end
  return nil
end

return M
