--- slipway.state.git: the record of deploys in the deployment repository,
-- under refs/slipway/state: a chain of commits whose tree is
--   format.json             {"format": 1}
--   envs/NAME.json          {"format": 1, "env": NAME, "state": {...}}
--   runs/ID.json            {"format": 1, "run": {...summary...}}
-- written with plumbing only (hash-object, mktree, commit-tree, update-ref):
-- HEAD, the index and the working tree never move. The remote's copy is
-- fetched into refs/slipway-remotes/REMOTE/* (CI checkouts fetch neither)
-- and a write pushes REMOTE COMMIT:refs/slipway/state; a push rejected as
-- not a fast-forward means another runner wrote: fetch, merge, push again
-- (bounded). Without the remote the ref stays local, said once.
local proc = require "slipway.proc"
local task = require "slipway.task"
local R = require "slipway.state.record"

local M = {}
local Store = {}
Store.__index = Store

local ZERO = string.rep("0", 40)
local said_local = {}

local tail = R.tail

--- open{root =, remote = "origin", ref = "refs/slipway/state", retries = 10,
-- timeout = 60, log = fn(level, fmt, ...)} -> store
function M.open(opts)
  if type(opts.root) ~= "string" then error("bad argument to 'state.open' (git: root expected)", 3) end
  local ref = opts.ref or "refs/slipway/state"
  local leaf = ref:match("^refs/slipway/([%w][%w%.%-_/]*)$")
  if not leaf then error("bad argument to 'state.open' (git: ref must be under refs/slipway/, got " .. tostring(ref) .. ")", 3) end
  local remote = opts.remote or "origin"
  local self = setmetatable({
    root = opts.root, ref = ref, remote = remote,
    track = "refs/slipway-remotes/" .. remote .. "/" .. leaf,
    retries = opts.retries or 10, timeout = opts.timeout or 60,
    log = opts.log or function() end, backend = "git",
  }, Store)
  return self
end

-- ---- running git -----------------------------------------------------------

function Store:git(args, o)
  o = o or {}
  local argv = {"git", "-C", self.root}
  for _, a in ipairs(args) do argv[#argv + 1] = a end
  local env = {GIT_TERMINAL_PROMPT = "0", LC_ALL = "C"}
  for k, v in pairs(o.env or {}) do env[k] = v end
  local r = proc.run(argv, {check = false, echo = false, readonly = true, dry_run = false,
                            stdin = o.stdin and {data = o.stdin} or nil, env = env, timeout = self.timeout})
  if o.check ~= false and r.code ~= 0 then
    R.fail("git", self:where(), "git " .. args[1] .. " failed (exit " .. r.code .. "): " .. tail(r.stderr),
      "check the repository at " .. self.root .. " (git fsck), then run again")
  end
  return r
end

function Store:where()
  if self.has_remote == false then return self.root .. ", " .. self.ref .. " (no remote)" end
  return "remote " .. self.remote .. ", " .. self.ref
end

local function out1(r) return (r.stdout:gsub("%s+$", "")) end

-- does the named remote exist? (logs once per repository when it does not)
function Store:remote_exists()
  if self.has_remote ~= nil then return self.has_remote end
  local r = self:git({"rev-parse", "--git-dir"}, {check = false})
  if r.code ~= 0 then
    R.fail("git", self.root, "not a git repository: " .. tail(r.stderr),
      "run slipway in the deployment repository, or set `state: local` in slipway.yaml")
  end
  local names = {}
  for l in self:git({"remote"}).stdout:gmatch("[^\n]+") do names[l] = true end
  self.has_remote = names[self.remote] == true
  if not self.has_remote and not said_local[self.root] then
    said_local[self.root] = true
    self.log("info", "state: %s has no remote %q; the record of deploys stays in %s of this " ..
      "repository (it is pushed there once the remote exists)", self.root, self.remote, self.ref)
  end
  return self.has_remote
end

function Store:tip(ref)
  local r = self:git({"rev-parse", "--verify", "--quiet", ref .. "^{commit}"}, {check = false})
  if r.code ~= 0 then return nil end
  return out1(r)
end

function Store:is_ancestor(a, b)
  return self:git({"merge-base", "--is-ancestor", a, b}, {check = false}).code == 0
end

-- fetch the remote's refs/slipway/* into refs/slipway-remotes/REMOTE/*;
-- returns the remote's tip (nil when it has no record yet)
-- (two fetches into one clone at once -- a run's heartbeat and its revert, or
-- two processes -- race for the tracking ref: git refuses the loser with
-- "cannot lock ref"; it is fetched again, a bounded number of times)
function Store:fetch()
  local r
  for attempt = 1, 5 do
    r = self:git({"fetch", "--no-tags", "--prune", "--quiet", self.remote,
                  "+refs/slipway/*:refs/slipway-remotes/" .. self.remote .. "/*"}, {check = false})
    if r.code == 0 or not tostring(r.stderr):find("cannot lock ref", 1, true) then break end
    task.sleep(math.random() * 0.05 * attempt)
  end
  if r.code ~= 0 then
    R.fail("git", self:where(), "cannot fetch the record from remote " .. self.remote .. ": " .. tail(r.stderr),
      "check that the remote is reachable and that this runner may fetch from it " ..
      "(git fetch " .. self.remote .. " '+refs/slipway/*:refs/slipway/*'); or set `state: local` " ..
      "in slipway.yaml to keep the record on this machine only (other runners will not see it)")
  end
  return self:tip(self.track)
end

-- ---- reading a commit's record ------------------------------------------------

local function damaged_todo(self, commit, path)
  return string.format("inspect it with `git -C %s show %s:%s`; to go back to the record before it: " ..
    "`git push --force %s %s^:%s` (runs recorded since are lost), or repair the file and push a new commit",
    self.root, commit:sub(1, 12), path, self.remote, commit:sub(1, 12), self.ref)
end

-- the doc stored in commit, and its files {path = {oid, text}}
function Store:load(commit)
  local entries = {}
  for e in self:git({"ls-tree", "-r", "-z", "--full-tree", commit}).stdout:gmatch("([^%z]+)%z") do
    local typ, oid, path = e:match("^%d+ (%w+) (%x+)\t(.+)$")
    if typ == "blob" then entries[#entries + 1] = {oid = oid, path = path} end
  end
  local files = {}
  if #entries > 0 then
    local oids = {}
    for i, e in ipairs(entries) do oids[i] = e.oid end
    local out = self:git({"cat-file", "--batch"}, {stdin = table.concat(oids, "\n") .. "\n"}).stdout
    local pos = 1
    for _, e in ipairs(entries) do
      local header_end = out:find("\n", pos, true)
      local size = header_end and tonumber(out:sub(pos, header_end - 1):match(" (%d+)$"))
      if not size then
        R.fail("git", self:where(), "cannot read " .. e.path .. " of commit " .. commit:sub(1, 12),
          damaged_todo(self, commit, e.path))
      end
      files[e.path] = {oid = e.oid, text = out:sub(header_end + 1, header_end + size)}
      pos = header_end + size + 2
    end
  end
  local doc = R.empty()
  local where = function(path) return self:where() .. " at " .. commit:sub(1, 12) .. ", " .. path end
  if not files["format.json"] then
    R.fail("git", where("format.json"), "the record is damaged (no format.json: not written by slipway?)",
      damaged_todo(self, commit, "format.json"))
  end
  R.decode(files["format.json"].text, "git", where("format.json"), damaged_todo(self, commit, "format.json"))
  for path, f in pairs(files) do
    if path:match("^envs/[^/]+%.json$") then
      local name, st = R.decode_env(f.text, "git", where(path), damaged_todo(self, commit, path))
      doc.envs[name] = st
    elseif path:match("^runs/[^/]+%.json$") then
      local s = R.decode_run(f.text, "git", where(path), damaged_todo(self, commit, path))
      doc.runs[s.id] = s
    end
  end
  return doc, files
end

-- The current record: the remote's, merged with local records the remote
-- lacks (written while there was no remote). Returns doc, files (of the
-- base commit), parents (for the next commit), remote_tip, local_tip.
function Store:current()
  local remote_tip = self:remote_exists() and self:fetch() or nil
  local local_tip = self:tip(self.ref)
  local base, extra = remote_tip or local_tip, nil
  if remote_tip and local_tip and remote_tip ~= local_tip and not self:is_ancestor(local_tip, remote_tip) then
    if self:is_ancestor(remote_tip, local_tip) then base = local_tip else extra = local_tip end
  end
  if not base then return R.empty(), {}, {}, remote_tip, local_tip end
  local doc, files = self:load(base)
  local parents = {base}
  if extra then
    R.merge(doc, (self:load(extra)))
    parents[2] = extra
  end
  return doc, files, parents, remote_tip, local_tip
end

--- store:read() -> doc (the whole record; slipway.state filters by env)
function Store:read()
  return (self:current())
end

-- ---- writing ------------------------------------------------------------------

function Store:identity()
  if self.ident then return self.ident end
  local function cfg(key)
    local r = self:git({"config", "--get", key}, {check = false})
    local v = r.code == 0 and out1(r) or ""
    return v ~= "" and v or nil
  end
  local f = io.open("/proc/sys/kernel/hostname", "r")
  local h = f and f:read("l")
  if f then f:close() end
  local name = cfg("user.name") or "slipway"
  local email = cfg("user.email") or ("slipway@" .. (h or "localhost"))
  self.ident = {GIT_AUTHOR_NAME = name, GIT_AUTHOR_EMAIL = email,
                GIT_COMMITTER_NAME = name, GIT_COMMITTER_EMAIL = email}
  return self.ident
end

function Store:blob(text, old)
  if old and old.text == text then return old.oid end
  return out1(self:git({"hash-object", "-w", "--stdin"}, {stdin = text}))
end

function Store:mktree(entries)
  local input = {}
  for _, e in ipairs(entries) do input[#input + 1] = e .. "\0" end
  return out1(self:git({"mktree", "-z"}, {stdin = table.concat(input)}))
end

-- a commit holding doc on top of parents (reusing the blobs of files)
function Store:commit(doc, files, parents, message)
  local envs, runs = {}, {}
  for name, st in pairs(doc.envs) do
    local p = "envs/" .. name .. ".json"
    envs[#envs + 1] = "100644 blob " .. self:blob(R.encode_env(name, st), files[p]) .. "\t" .. name .. ".json"
  end
  for id, s in pairs(doc.runs) do
    local p = "runs/" .. id .. ".json"
    runs[#runs + 1] = "100644 blob " .. self:blob(R.encode_run(s), files[p]) .. "\t" .. id .. ".json"
  end
  local root = {"100644 blob " .. self:blob(R.encode_format(), files["format.json"]) .. "\tformat.json"}
  if #envs > 0 then root[#root + 1] = "040000 tree " .. self:mktree(envs) .. "\tenvs" end
  if #runs > 0 then root[#root + 1] = "040000 tree " .. self:mktree(runs) .. "\truns" end
  local tree = self:mktree(root)
  if #parents == 1 and out1(self:git({"rev-parse", parents[1] .. "^{tree}"})) == tree then
    return parents[1]  -- nothing changed
  end
  local args = {"commit-tree", tree}
  for _, p in ipairs(parents) do args[#args + 1] = "-p"; args[#args + 1] = p end
  args[#args + 1] = "-m"; args[#args + 1] = message
  return out1(self:git(args, {env = self:identity()}))
end

-- push commit to the remote's ref: "ok", or "behind" (another runner wrote)
function Store:push(commit)
  local r = self:git({"push", "--porcelain", self.remote, commit .. ":" .. self.ref}, {check = false})
  if r.code == 0 then return "ok" end
  local line = r.stdout:match("\n!\t[^\n]*") or r.stdout:match("^!\t[^\n]*")
  if line and line:find("[rejected]", 1, true) then return "behind" end
  -- two pushes meeting at the remote: the loser cannot lock or update the
  -- ref (the other one moved it): as behind
  if line and (line:find("failed to update ref", 1, true) or line:find("cannot lock ref", 1, true)
               or line:find("failed to lock", 1, true)) then
    return "behind"
  end
  if line then
    R.fail("git", self:where(), "the remote refused the record: " .. tail(line:gsub("^%s*!\t", "")),
      "allow this runner to push refs/slipway/* to " .. self.remote ..
      " (branch protection and pre-receive hooks must let refs/slipway/* through)")
  end
  R.fail("git", self:where(), "cannot push the record to remote " .. self.remote .. ": " .. tail(r.stderr),
    "check that the remote is reachable and that this runner may push to it; or set `state: local` in " ..
    "slipway.yaml to keep the record on this machine only")
end

local function describe(delta)
  local parts = {}
  local ids = {}
  for id in pairs(delta.runs) do ids[#ids + 1] = id end
  table.sort(ids)
  for _, id in ipairs(ids) do
    local s = delta.runs[id]
    parts[#parts + 1] = "run " .. id .. " " .. tostring(s.command) .. (s.outcome and (" " .. s.outcome) or "")
  end
  local envs = {}
  for name, fields in pairs(delta.envs) do
    local fs = {}
    for f in pairs(fields) do fs[#fs + 1] = f end
    table.sort(fs)
    envs[#envs + 1] = name .. ": " .. table.concat(fs, ", ")
  end
  table.sort(envs)
  for _, e in ipairs(envs) do parts[#parts + 1] = e end
  return "slipway state: " .. table.concat(parts, "; ")
end

--- store:write(delta) -> doc: merge delta into the record and store it;
-- another runner's write in between is fetched and merged, up to
-- `retries` times.
function Store:write(delta)
  local message = describe(delta)
  for attempt = 1, self.retries do
    local doc, files, parents, remote_tip, local_tip = self:current()
    R.merge(doc, delta)
    local commit = self:commit(doc, files, parents, message)
    if self.has_remote then
      if commit == remote_tip or self:push(commit) == "ok" then
        self:git({"update-ref", "-m", "slipway state", self.track, commit})
        -- the local ref follows (unless someone moved it meanwhile: then
        -- the next write merges it)
        self:git({"update-ref", "-m", "slipway state", self.ref, commit, local_tip or ZERO}, {check = false})
        return doc
      end
    else
      if commit == local_tip then return doc end
      local r = self:git({"update-ref", "-m", "slipway state", self.ref, commit, local_tip or ZERO}, {check = false})
      if r.code == 0 then return doc end
    end
    -- another writer got there first: wait a little (more each time) and merge again
    task.sleep(math.random() * 0.05 * attempt)
  end
  R.fail("git", self:where(), string.format("gave up writing the record after %d attempts: other runners " ..
    "kept writing at the same time", self.retries),
    "run again; the run's journal in the state directory still has everything")
end

return M
