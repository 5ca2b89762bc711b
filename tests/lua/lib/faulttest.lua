--- faulttest: helpers for the fault matrix (tests/lua/faults_*_spec.lua):
-- waiting for a journal record of a live slipway process (the kill points),
-- and the three consistency checks every case ends with -- the journals
-- (valid JSON lines, a run_end for every run that was not killed), the
-- shared record (state: git, refs/slipway/state) against them, and no
-- process left (services, the killed processes' groups and sessions, and
-- anything re-parented to this process, the child subreaper).
local D = require "deploytest"
local T = require "slipway.testing"
local fs = require "slipway.fs"
local json = require "slipway.json"
local task = require "slipway.task"
local proc = require "slipway.proc"
local state = require "slipway.state"
local sync = require "sync"

local F = {}

F.GOOD = "1.0.0-0.dev.git.3503.ha8a2e19"
F.BROKEN = "1.0.0-0.dev.git.3601.h0b4d0b4d"  -- listed in known-issues.yaml

function F.trim(s) return (tostring(s or ""):gsub("%s+$", "")) end
function F.head(dir) return F.trim(D.git(dir, "rev-parse", "HEAD").stdout) end

--- Append `text` to config/ENV.yaml of a repository (before its first commit).
function F.config(env, text)
  return function(dir)
    local p = dir .. "/config/" .. env .. ".yaml"
    fs.write(p, fs.read(p) .. "\n" .. text .. "\n")
  end
end

--- Commit the broken BinderHub bump (test fails on it: launch).
function F.bump_broken(dir)
  D.commit_edit(dir, "mybinder/Chart.yaml", F.GOOD, F.BROKEN, "Bump binderhub to 3601")
  return F.head(dir)
end

-- the journal files of dir, as a set (to tell a new run's journal)
function F.journal_set(dir)
  local s = {}
  for _, p in ipairs(fs.glob(dir .. "/.slipway/journal/*.jsonl")) do s[p] = true end
  return s
end

--- Start `slipway ARGS` in dir (a real process in its own session) and
-- return its handle and the path of its journal once that exists. Output
-- is discarded (a killed process never drains it).
function F.start(dir, args, env)
  local before = F.journal_set(dir)
  local argv = {D.BIN}
  for _, a in ipairs(args) do argv[#argv + 1] = a end
  local e = {NO_COLOR = "1", GIT_AUTHOR_NAME = "Test", GIT_AUTHOR_EMAIL = "test@example.org",
             GIT_COMMITTER_NAME = "Test", GIT_COMMITTER_EMAIL = "test@example.org"}
  for k, v in pairs(env or {}) do e[k] = v end
  local h = proc.spawn(argv, {cwd = dir, env = e, stdin = "null", stdout = "discard",
                              stderr = "capture", echo = false, check = false})
  return h, before
end

-- records of one journal file (complete lines only)
local function read_lines(path)
  local out = {}
  local f = io.open(path, "r")
  if not f then return out end
  local text = f:read("a")
  f:close()
  for line in text:gmatch("([^\n]*)\n") do
    local ok, v = pcall(json.decode, line)
    if ok and type(v) == "table" then out[#out + 1] = v end
  end
  return out
end

--- Wait until the journal of the run that handle `h` started (a journal
-- not in `before`) holds a record for which pred(rec) is true; returns the
-- record and the journal's path. Fails when `h` exits first or after
-- `timeout` seconds (the polling waits on the journal, the event itself).
function F.wait_record(dir, h, before, pred, what, timeout)
  local deadline = task.now() + (timeout or 60)
  local path
  while task.now() < deadline do
    if not path then
      for p in pairs(F.journal_set(dir)) do
        if not before[p] then
          local first = read_lines(p)[1]
          if first and first.pid == h.pid then path = p end
        end
      end
    end
    if path then
      for _, r in ipairs(read_lines(path)) do
        if pred(r) then return r, path end
      end
    end
    if not proc.alive(h.pid) then
      local res = h:wait()
      error("slipway exited (" .. tostring(res.code) .. ") before " .. what .. "\n" .. tostring(res.stderr), 0)
    end
    task.sleep(0.01)
  end
  error("timed out waiting for " .. what, 0)
end

function F.step_start(name)
  return function(r) return r.type == "step_start" and r.step == name end
end

function F.is(kind)
  return function(r) return r.type == kind end
end

--- kill -9 `h` and reap it.
function F.kill9(h)
  h:kill("KILL")
  local res = h:wait()
  T.eq(res.signal, 9, "killed by SIGKILL")
  return res
end

-- ---- the journal ----------------------------------------------------------------

--- Every journal of dir: every line valid JSON (no torn line either: a
-- record is one write), the first a `run` record, and a `run_end` exactly
-- for the runs not in `killed` (run ids). Returns {id = {records, path, ended}}.
function F.check_journals(dir, killed)
  local killed_set = {}
  for _, id in ipairs(killed or {}) do killed_set[id] = true end
  local runs = {}
  for _, j in ipairs(D.journals(dir)) do
    local first = j.records[1]
    T.truthy(first and first.type == "run", j.path .. ": starts with a run record")
    local id = first.run
    local ends = 0
    for i, r in ipairs(j.records) do
      T.eq(r.run, id, j.path .. ":" .. i .. ": the run's id")
      if r.type == "run_end" then
        ends = ends + 1
        T.eq(i, #j.records, j.path .. ": run_end is the last record")
      end
    end
    if killed_set[id] then
      T.eq(ends, 0, j.path .. ": a killed run has no run_end")
    else
      T.eq(ends, 1, j.path .. ": a run that was not killed has its run_end")
    end
    runs[id] = {records = j.records, path = j.path, ended = j.records[#j.records].type == "run_end"
                and j.records[#j.records] or nil, command = first.command}
  end
  for id in pairs(killed_set) do T.truthy(runs[id], "the killed run " .. id .. " has a journal") end
  return runs
end

--- The run_end record of a journal's records (nil when there is none).
function F.run_end(records)
  for _, r in ipairs(records or {}) do if r.type == "run_end" then return r end end
end

-- ---- the shared record --------------------------------------------------------

--- The shared record of dir (state: git, read the way slipway reads it).
function F.record(dir)
  return state.open("git", {root = dir, state_dir = dir .. "/.slipway", log = function() end}):read()
end

--- The shared record agrees with the journals: every run of the journals
-- is in it, a finished one with the journal's outcome and status, a killed
-- one without an end; what it says is deployed on each environment is what
-- runs there (current.json). Returns the record.
function F.check_record(dir, runs)
  local doc = F.record(dir)
  T.eq(doc.format, 1, "the record's format")
  for id, run in pairs(runs) do
    local s = doc.runs[id]
    if run.records[1].dry_run then
      T.falsy(s, "a dry run is not in the record")
    else
      T.truthy(s, "run " .. id .. " (" .. tostring(run.command) .. ") is in the shared record")
      if run.ended then
        T.eq(s.status, run.ended.status, id .. ": status in the record = journal")
        T.eq(s.outcome, run.ended.outcome, id .. ": outcome in the record = journal")
        T.truthy(s.ended, id .. ": ended in the record")
      else
        T.falsy(s.ended, id .. ": a killed run has no end in the record")
      end
    end
  end
  -- an environment field is written when its run ends: the record's
  -- `deployed` is the newest `deployed` record of a run that ended (a run
  -- killed after its own deploy leaves the field as it was)
  local newest = {}
  for _, run in pairs(runs) do
    if run.ended then
      for _, x in ipairs(run.records) do
        if x.type == "deployed" and (not newest[x.env] or x.ts > newest[x.env].ts) then newest[x.env] = x end
      end
    end
  end
  for env, e in pairs(doc.envs or {}) do
    local want = newest[env]
    if want and e.deployed then
      T.eq(e.deployed.sha, want.sha, env .. ": the record's deployed sha is the last finished run's")
      T.eq(e.deployed.revision, want.revision, env .. ": the record's deployed revision is the last finished run's")
    end
  end
  return doc
end

-- the current release of env: current.json and its release.json
local function release_of(dir, env)
  local cur = T.truthy(D.current(dir, env), env .. " runs")
  return cur, json.decode(fs.read(dir .. "/.slipway/envs/" .. env .. "/releases/" ..
    string.format("%06d", cur.revision) .. "/release.json"))
end

--- Once a run has finished what a killed one started, the record says
-- what runs: each env's `deployed` field is its current release (sha,
-- revision), and `tested`/`good` of staging are at the sha staging runs.
function F.check_settled(dir, envs)
  local doc = F.record(dir)
  for _, env in ipairs(envs) do
    local cur, rel = release_of(dir, env)
    local e = T.truthy(doc.envs[env], env .. " is in the record")
    T.truthy(e.deployed, env .. ": deployed is in the record")
    T.eq(e.deployed.sha, rel.sha, env .. ": the record's deployed sha is what runs")
    T.eq(e.deployed.revision, cur.revision, env .. ": the record's deployed revision is what runs")
    T.eq(e.tested and e.tested.sha, rel.sha, env .. ": the record's tested sha is what runs")
    T.eq(e.tested and e.tested.ok, true, env .. ": tested ok")
  end
  T.eq(doc.envs.staging.good.sha, D.current(dir, "staging").sha, "the revert target is what staging runs")
  return doc
end

--- `slipway history` lists every run of the journals; the line of run id
-- matches each pattern in want[id] (e.g. "abandoned"). Returns the output.
function F.check_history(dir, runs, want)
  local r = D.slipway(dir, {"history"})
  T.eq(r.code, 0, "history\n" .. r.stderr)
  local lines = {}
  for l in r.stdout:gmatch("[^\n]+") do
    local id = l:match("^(%S+)")
    if id then lines[id] = l end
  end
  for id, run in pairs(runs) do
    if not run.records[1].dry_run then
      T.truthy(lines[id], "run " .. id .. " is in history\n" .. r.stdout)
    end
  end
  for id, pat in pairs(want or {}) do
    T.match(lines[id] or "", pat, "history of run " .. id)
  end
  return r.stdout
end

-- ---- what runs ---------------------------------------------------------------

--- {env = {binderhub = ..., sha = ..., revision = ...}} of the running
-- environments, from `slipway status --json`.
function F.status(dir)
  local r = D.slipway(dir, {"status", "--json"})
  T.eq(r.code, 0, "status\n" .. r.stderr)
  local out = {}
  for l in r.stdout:gmatch("[^\n]+") do
    local e = json.decode(l)
    local st = e.status or {}
    if st.running then
      out[e.env] = {sha = st.sha, binderhub = (st.versions or {}).binderhub, revision = st.revision}
    end
  end
  return out, r.stdout
end

--- The environments as `slipway status` shows them agree with what their
-- services answer and with `want` ({env = binderhub version, or false for
-- not running}).
function F.check_envs(dir, want)
  local st, text = F.status(dir)
  local http = require "slipway.http"
  for env, v in pairs(want) do
    if v then
      T.truthy(st[env], env .. " runs\n" .. text)
      T.eq(st[env].binderhub, v, env .. ": binderhub in status")
      local cur, rel = release_of(dir, env)
      local got = json.decode(http.get(cur.url .. "/versions", {timeout = 5}).body)
      T.eq(got.binderhub, v, env .. ": binderhub the service answers")
      T.eq(st[env].sha, rel.sha, env .. ": the sha status shows is the release's")
      T.eq(st[env].revision, cur.revision, env .. ": the revision status shows is the current one")
    else
      T.falsy(st[env], env .. " does not run\n" .. text)
    end
  end
end

-- ---- processes -----------------------------------------------------------------

local function stat(pid)
  local f = io.open("/proc/" .. pid .. "/stat", "r")
  if not f then return nil end
  local s = f:read("a") or ""
  f:close()
  -- pid (comm) state ppid pgrp session
  local st, ppid, pgrp, sid = s:match("^%d+ %b() (%S) (%d+) (%d+) (%d+)")
  if not st then return nil end
  return {state = st, ppid = tonumber(ppid), pgrp = tonumber(pgrp), sid = tonumber(sid)}
end

-- live processes that are in the group or session of one of `pids`, or
-- below this process (orphans are re-parented to it: it is a subreaper)
local function leftovers(pids)
  local me = proc.pid()
  local watch = {}
  for _, p in ipairs(pids or {}) do watch[p] = true end
  local all = {}
  for _, p in ipairs(fs.glob("/proc/[0-9]*/stat")) do
    local pid = tonumber(p:match("/proc/(%d+)/"))
    local s = stat(pid)
    if s and s.state ~= "Z" and pid ~= me then all[pid] = s end
  end
  local below = {}
  local function is_below(pid, depth)
    if depth > 64 then return false end
    local s = all[pid]
    if not s then return false end
    if s.ppid == me then return true end
    return is_below(s.ppid, depth + 1)
  end
  local out = {}
  for pid, s in pairs(all) do
    if watch[s.pgrp] or watch[s.sid] or is_below(pid, 0) then
      below[#below + 1] = pid
    end
  end
  table.sort(below)
  for _, pid in ipairs(below) do
    local f = io.open("/proc/" .. pid .. "/cmdline", "r")
    local cmd = f and (f:read("a") or ""):gsub("%z", " ") or "?"
    if f then f:close() end
    out[#out + 1] = pid .. " " .. cmd
  end
  return out, below
end

--- No process is left: none in the groups or sessions of `pids` (the
-- slipway processes a case started: each has its own session), none below
-- this process, no service of dir. Waits a little for processes being
-- stopped, then kills what is left and fails naming it.
function F.no_processes(dir, pids)
  local deadline = task.now() + sync.SAFETY
  local left, lpids = leftovers(pids)
  while (#left > 0 or #D.service_pids(dir) > 0) and task.now() < deadline do
    task.sleep(0.05)
    left, lpids = leftovers(pids)
  end
  local svc = D.service_pids(dir)
  for _, pid in ipairs(lpids) do pcall(proc.kill, pid, "KILL") end
  for _, pid in ipairs(svc) do pcall(proc.kill, pid, "KILL") end
  T.eq(left, {}, "no process left in the groups of " .. table.concat(pids or {}, ",") .. " or below the test")
  T.eq(svc, {}, "no service of " .. dir .. " left")
end

--- The services of dir that run are exactly the current releases of the
-- environments in `envs` (none untracked, none left over).
function F.only_current(dir, envs)
  local want = {}
  for _, env in ipairs(envs) do
    local cur = T.truthy(D.current(dir, env), env .. " has a current release")
    want[#want + 1] = cur.pid
  end
  table.sort(want)
  T.eq(D.service_pids(dir), want, "only the current releases of " .. table.concat(envs, ", ") .. " run")
end

--- Run fn(dir, track) on a fresh repository (edit as for D.repo); track(pid)
-- adds a slipway process whose group and session must be empty at the
-- end. Afterwards: `stop --all`, and no process left.
function F.case(edit, fn)
  local dir = D.repo(edit)
  local pids = {}
  local ok, err = xpcall(fn, debug.traceback, dir, function(pid) pids[#pids + 1] = pid end)
  D.slipway(dir, {"stop", "--all"})
  local okp, perr = pcall(F.no_processes, dir, pids)
  if not ok then error(err, 0) end
  if not okp then error(perr, 0) end
end

return F
