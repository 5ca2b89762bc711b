--- slipway.state: the record of deploys that outlives the machine, and the
-- deploy locks. One protocol, three stores (docs/state.md):
--
--   local state = require "slipway.state"
--   local st = state.open({backend = "git"}, {root = repo, state_dir = repo .. "/.slipway"})
--   st:write{runs = {summary}, envs = {staging = {tested = {...}, good = {...}}}}
--   local doc = st:read("staging")        -- {format, envs = {...}, runs = {...}}
--   state.runs(doc, {env = "staging"})    -- summaries, newest first
--
--   local lk <close> = state.lock{kind = "kubernetes", namespace = "staging",
--                                 name = "slipway-lock-staging", info = {...}}
--   lk:acquire{wait = 60}                 -- renewed in the background
--
-- Stores: "git" (refs/slipway/state in the deployment repository and its
-- remote), "kubernetes" (a ConfigMap per environment), "local" (the state
-- directory). A record that a newer slipway wrote, a damaged one and an
-- unreachable store raise code "state" naming the store and what to do:
-- never an empty record in their place. Storage only: nothing here prints
-- (a `log` function may be given) or knows about commands.
local R = require "slipway.state.record"

local M = {}

--- The record format this slipway writes (and the newest it reads).
M.FORMAT = R.FORMAT

local BACKENDS = {git = "slipway.state.git", kubernetes = "slipway.state.kubernetes",
                  ["local"] = "slipway.state.local"}

local Store = {}
Store.__index = Store

local function default_log(level, fmt, ...)
  local log = require "slipway.log"
  log[level](fmt, ...)
end

--- state.open(cfg, opts) -> store. cfg: the `state:` setting, a backend
-- name or a table {backend = "git"|"kubernetes"|"local", ...options};
-- nil means "local". opts (what slipway knows): root (the deployment
-- repository), state_dir, envs (kubernetes: {NAME = {namespace, kubectl,
-- context, env}}), log (fn(level, fmt, ...), default slipway.log).
-- Options per backend: git: remote ("origin"), ref ("refs/slipway/state"),
-- retries (10), timeout (60), keep_runs (1000); kubernetes: prefix ("slipway-state-"),
-- keep_runs (100), home (env of runs without one), retries; local: wait (30).
function M.open(cfg, opts)
  opts = opts or {}
  if cfg == nil then cfg = "local" end
  if type(cfg) == "string" then cfg = {backend = cfg} end
  if type(cfg) ~= "table" then error("bad argument #1 to 'state.open' (backend name or table expected)", 2) end
  local mod = BACKENDS[cfg.backend]
  if not mod then
    error(string.format("bad argument #1 to 'state.open' (state backend must be git, kubernetes or local, got %s)",
      tostring(cfg.backend)), 2)
  end
  local o = {}
  for k, v in pairs(opts) do o[k] = v end
  for k, v in pairs(cfg) do if k ~= "backend" then o[k] = v end end
  o.log = o.log or default_log
  if cfg.backend == "local" and not o.state_dir and o.root then o.state_dir = o.root .. "/.slipway" end
  local impl = require(mod).open(o)
  return setmetatable({impl = impl, backend = cfg.backend}, Store)
end

--- store:where() -> text naming where the record lives
function Store:where() return self.backend .. ": " .. self.impl:where() end

--- store:read([env]) -> doc {format, envs = {NAME = {FIELD = {...}}},
-- runs = {ID = summary}}; with env, only that environment and its runs.
function Store:read(env)
  if env ~= nil then R.check_name(env, "an environment", "read") end
  local doc = self.impl:read(env)
  if env then return R.filter(doc, env) end
  return doc
end

--- store:write{runs = {summary, ...}, envs = {NAME = {FIELD = {...}}}} ->
-- doc after the write. Runs are stamped `updated`, env fields `at` (when
-- missing: now). Concurrent writers are merged, never lost.
function Store:write(delta)
  return self.impl:write(R.delta(delta, "write"))
end

--- store:append_run(summary) -> the summary as stored.
function Store:append_run(summary)
  local d = R.delta({runs = {summary}}, "append_run")
  local doc = self.impl:write(d)
  return doc.runs[summary.id]
end

--- store:update_env(env, fields) -> the environment's state after the write.
-- fields: {good = {sha, versions, run, at}, tested = {...}, deployed = {...}}.
function Store:update_env(env, fields)
  local d = R.delta({envs = {[env] = fields}}, "update_env")
  local doc = self.impl:write(d)
  return doc.envs[env]
end

-- ---- reading a record ------------------------------------------------------------

--- state.runs(doc [, {env =, limit =}]) -> summaries, newest first (by
-- start time, then id).
function M.runs(doc, opts)
  opts = opts or {}
  local out = {}
  for _, s in pairs(doc.runs or {}) do
    local keep = true
    if opts.env then
      keep = false
      for _, e in ipairs(s.envs or {}) do if e == opts.env then keep = true end end
    end
    if keep then out[#out + 1] = s end
  end
  table.sort(out, function(a, b)
    local ta, tb = tonumber(a.started) or 0, tonumber(b.started) or 0
    if ta ~= tb then return ta > tb end
    return a.id > b.id
  end)
  if opts.limit then for i = #out, opts.limit + 1, -1 do out[i] = nil end end
  return out
end

--- state.find_run(doc, id) -> the summary whose id is id, or starts with id
-- (the newest of those); nil when none.
function M.find_run(doc, id)
  if doc.runs[id] then return doc.runs[id] end
  for _, s in ipairs(M.runs(doc)) do
    if s.id:sub(1, #id) == id then return s end
  end
  return nil
end

--- state.ci_url([getenv]) -> the URL of this CI run (GitHub Actions:
-- GITHUB_SERVER_URL/GITHUB_REPOSITORY/actions/runs/GITHUB_RUN_ID), or nil.
function M.ci_url(getenv)
  getenv = getenv or os.getenv
  local server, repo, id = getenv("GITHUB_SERVER_URL"), getenv("GITHUB_REPOSITORY"), getenv("GITHUB_RUN_ID")
  if not (server and repo and id) or server == "" or repo == "" or id == "" then return nil end
  local url = server:gsub("/+$", "") .. "/" .. repo .. "/actions/runs/" .. id
  local attempt = getenv("GITHUB_RUN_ATTEMPT")
  if attempt and attempt ~= "" and attempt ~= "1" then url = url .. "/attempts/" .. attempt end
  return url
end

-- ---- locks ---------------------------------------------------------------------

local FileLock = {}
FileLock.__index = FileLock

--- state.lock(cfg) -> lock, not yet acquired. cfg.kind:
--   "kubernetes": a Lease (namespace, name, kubectl, context, env, duration
--     = 120, renew = 30, poll = 2, identity, info = {user, host, pid, run,
--     command}, log); renewed in the background while the process lives.
--   "file": the flock of path (dies with its holder; cannot be broken).
-- Every lock: lock:acquire{wait =, break_lock =, give_up =} -> lock (raises "locked"
-- with field holder when busy; lock.broke is the holder it broke, for the
-- caller to journal), lock:holder() -> holder or nil, lock:renew(),
-- lock:release() (also at the end of a `<close>` scope).
function M.lock(cfg)
  if type(cfg) ~= "table" then error("bad argument #1 to 'state.lock' (table expected)", 2) end
  if cfg.kind == "kubernetes" then
    local o = {}
    for k, v in pairs(cfg) do o[k] = v end
    o.log = o.log or default_log
    return require("slipway.state.kubernetes").lease(o)
  elseif cfg.kind == "file" then
    if type(cfg.path) ~= "string" then error("bad argument #1 to 'state.lock' (file: path expected)", 2) end
    return setmetatable({path = cfg.path, note = cfg.note, kind = "file"}, FileLock)
  end
  error("bad argument #1 to 'state.lock' (kind must be kubernetes or file, got " .. tostring(cfg.kind) .. ")", 2)
end

function FileLock:acquire(opts)
  opts = opts or {}
  if opts.break_lock then
    error(require("slipway.core").error("usage", "a file lock (" .. self.path .. ") cannot be broken: " ..
      "it is released when its holder's process ends"), 0)
  end
  self.lk = require("slipway.fs").lock(self.path, {wait = opts.wait, note = self.note, give_up = opts.give_up})
  return self
end

function FileLock:holder()
  if self.lk and self.lk:held() then return {pid = require("slipway.proc.core").pid(), note = self.note} end
  local ok, err = pcall(require("slipway.fs").lock, self.path, {note = "probe"})
  if ok then err:unlock(); return nil end
  if type(err) == "table" and err.code == "locked" then return err.holder end
  error(err, 0)
end

function FileLock:renew() end

function FileLock:release()
  if self.lk then self.lk:unlock(); self.lk = nil end
end
FileLock.__close = FileLock.release

return M
