--- slipway.state.git: the record of deploys in the deployment repository,
-- under refs/slipway/state: a chain of commits whose tree is
--   format.json             {"format": 1}
--   envs/NAME.json          {"format": 1, "env": NAME, "state": {...}}
--   runs/ID.json            {"format": 1, "run": {...summary...}}
-- written with plumbing only (fast-import, update-ref): HEAD, the index
-- and the working tree never move. A write reads and writes only the files
-- it changes (the tree of runs/ grows with every run). The remote's copy is
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
-- timeout = 60, keep_runs = 1000, log = fn(level, fmt, ...)} -> store
-- (the tree keeps the newest keep_runs runs; older ones stay in the ref's
-- history)
function M.open(opts)
  if type(opts.root) ~= "string" then error("bad argument to 'state.open' (git: root expected)", 3) end
  local ref = opts.ref or "refs/slipway/state"
  local leaf = ref:match("^refs/slipway/([%w][%w%.%-_/]*)$")
  if not leaf then error("bad argument to 'state.open' (git: ref must be under refs/slipway/, got " .. tostring(ref) .. ")", 3) end
  local remote = opts.remote or "origin"
  local self = setmetatable({
    root = opts.root, ref = ref, remote = remote,
    track = "refs/slipway-remotes/" .. remote .. "/" .. leaf,
    retries = opts.retries or 10, timeout = opts.timeout or 60, keep = opts.keep_runs or 1000,
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
  if r.code ~= 0 and tostring(r.stderr):find("not a git repository", 1, true) then
    R.fail("git", self.root, "not a git repository: " .. tail(r.stderr),
      "run slipway in the deployment repository, or set `state: local` in slipway.yaml")
  end
  if o.check ~= false and r.code ~= 0 then
    -- (named by its subcommand: `-c KEY=VALUE` options come before it)
    local i = 1
    while args[i] == "-c" do i = i + 2 end
    R.fail("git", self:where(), "git " .. tostring(args[i]) .. " failed (exit " .. r.code .. "): " .. tail(r.stderr),
      "check the repository at " .. self.root .. " (git fsck), then run again")
  end
  return r
end

function Store:where()
  if self.has_remote == false then return self.root .. ", " .. self.ref .. " (no remote)" end
  return "remote " .. self.remote .. ", " .. self.ref
end

local function out1(r) return (r.stdout:gsub("%s+$", "")) end

-- the repository's remotes and identity keys (remote.*, user.name,
-- user.email), read once per store by one `git config`
function Store:config()
  if self.cfg then return self.cfg end
  local r = self:git({"config", "-z", "--get-regexp", "^(remote\\..+|user\\.name|user\\.email)$"},
    {check = false})
  if r.code ~= 0 and r.code ~= 1 then
    R.fail("git", self.root, "cannot read the repository's configuration: " .. tail(r.stderr),
      "run slipway in the deployment repository, or set `state: local` in slipway.yaml")
  end
  local cfg = {remotes = {}}
  for key, v in r.stdout:gmatch("([^\n%z]+)\n?([^%z]*)%z") do
    local name = key:match("^remote%.(.+)%.[^.]+$")
    if name then cfg.remotes[name] = true
    elseif v ~= "" then cfg[key] = v end
  end
  self.cfg = cfg
  return cfg
end

-- does the named remote exist? (logs once per repository when it does not)
-- (a remote only in the legacy .git/remotes/ files is asked `git remote`)
function Store:remote_exists()
  if self.has_remote ~= nil then return self.has_remote end
  local has = self:config().remotes[self.remote] == true
  if not has then
    local r = self:git({"remote"}, {check = false})
    for l in r.stdout:gmatch("[^\n]+") do if l == self.remote then has = true end end
  end
  self.has_remote = has
  if not self.has_remote and not said_local[self.root] then
    said_local[self.root] = true
    self.log("info", "state: %s has no remote %q; the record of deploys stays in %s of this " ..
      "repository (it is pushed there once the remote exists)", self.root, self.remote, self.ref)
  end
  return self.has_remote
end

-- the commits of the tracking ref and the local ref (nil: none), in one git
-- process; a ref that names anything but a commit is a damaged record
function Store:tips()
  local r = self:git({"for-each-ref", "--format=%(objectname) %(objecttype) %(refname)", self.track, self.ref})
  local found = {}
  for oid, typ, name in r.stdout:gmatch("(%x+) (%S+) ([^\n]+)") do
    if name == self.track or name == self.ref then
      if typ ~= "commit" then
        R.fail("git", self:where(), name .. " names a " .. typ .. ", not a commit: the record is damaged",
          "point it back at the record's last commit (`git reflog " .. name .. "`), or delete it to start anew")
      end
      found[name] = oid
    end
  end
  return found[self.track], found[self.ref]
end

function Store:is_ancestor(a, b)
  return self:git({"merge-base", "--is-ancestor", a, b}, {check = false}).code == 0
end

-- fetch the remote's refs/slipway/* into refs/slipway-remotes/REMOTE/*;
-- returns the remote's tip (nil when it has no record yet) and the local one
-- (two fetches into one clone at once -- a run's heartbeat and its revert, or
-- two processes -- race for the tracking ref: git refuses the loser with
-- "cannot lock ref"; it is fetched again, a bounded number of times)
function Store:fetch()
  local r
  for attempt = 1, 5 do
    -- (no automatic maintenance after this refs-only fetch: it would start
    -- one more git process on every record write; the repository's own
    -- fetches and commits run it)
    r = self:git({"-c", "maintenance.auto=false", "fetch", "--no-tags", "--prune", "--quiet", self.remote,
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
  return self:tips()
end

-- ---- reading a commit's record ------------------------------------------------

local function damaged_todo(self, commit, path)
  return string.format("inspect it with `git -C %s show %s:%s`; to go back to the record before it: " ..
    "`git push --force %s %s^:%s` (runs recorded since are lost), or repair the file and push a new commit",
    self.root, commit:sub(1, 12), path, self.remote, commit:sub(1, 12), self.ref)
end

--- git.batch(out, names) -> the objects of `git cat-file --batch`'s output
-- for names (one a line on its stdin), in order: {oid, type, text} each,
-- false for a name git says is missing; nil, the name, where the output
-- cannot be read. (build.lua reads its outputs' committed texts with it.)
function M.batch(out, names)
  local res, pos = {}, 1
  for i, name in ipairs(names) do
    local header_end = out:find("\n", pos, true)
    if not header_end then return nil, name end
    local header = out:sub(pos, header_end - 1)
    local oid, typ, size = header:match("^(%x+) (%a+) (%d+)$")
    size = tonumber(size)
    if size then
      res[i] = {oid = oid, type = typ, text = out:sub(header_end + 1, header_end + size)}
      pos = header_end + size + 2
    elseif header:sub(-8) == " missing" then
      res[i], pos = false, header_end + 1
    else
      return nil, name
    end
  end
  return res
end

-- the blobs (and trees) named (object ids, or COMMIT:PATH), in one `git
-- cat-file --batch`: {oid, text, tree} each, false for a name that is not
-- there; what(name) for anything else
function Store:blobs(names, what)
  if #names == 0 then return {} end
  local res, bad = M.batch(self:git({"cat-file", "--batch"}, {stdin = table.concat(names, "\n") .. "\n"}).stdout,
    names)
  if not res then what(bad) end
  for i, o in ipairs(res) do
    if o then
      if o.type ~= "blob" and o.type ~= "tree" then what(names[i]) end
      o.tree = o.type == "tree" or nil
    end
  end
  return res
end

-- the doc stored in commit and its files {path = {oid, text}}: the whole
-- record, or (paths given) only those files
function Store:load(commit, paths)
  local names = {}
  if paths then
    for i, p in ipairs(paths) do names[i] = commit .. ":" .. p end
  else
    paths = {}
    for e in self:git({"ls-tree", "-r", "-z", "--full-tree", commit}).stdout:gmatch("([^%z]+)%z") do
      local typ, oid, path = e:match("^%d+ (%w+) (%x+)\t(.+)$")
      if typ == "blob" then paths[#paths + 1] = path; names[#names + 1] = oid end
    end
  end
  local got = self:blobs(names, function(name)
    local path = paths[1]
    for i, n in ipairs(names) do if n == name then path = paths[i] end end
    R.fail("git", self:where(), "cannot read " .. path .. " of commit " .. commit:sub(1, 12),
      damaged_todo(self, commit, path))
  end)
  local files = {}
  for i, path in ipairs(paths) do
    if got[i] then files[path] = got[i] end
  end
  -- a directory asked for (runs/): the names in it, from the tree object
  -- ("MODE NAME\0" and the raw object id, 20 bytes for sha1, 32 for sha256)
  local trees = {}
  for path, f in pairs(files) do if f.tree then trees[path] = f end end
  for path, f in pairs(trees) do
    files[path] = nil
    local names, pos, idlen = {}, 1, #f.oid // 2
    while pos <= #f.text do
      local z = f.text:find("\0", pos, true)
      if not z then break end
      names[#names + 1] = f.text:sub(pos, z - 1):match("^%d+ (.*)$")
      pos = z + 1 + idlen
    end
    files[path .. "/"] = {names = names}
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

-- The record to build on: the remote's tip, or the local one the remote
-- lacks (written while there was no remote), or both. Returns the base, the
-- second parent (nil unless the two diverged) and the two tips; fetches
-- unless `known` gives the tips this store saw last.
function Store:base(known)
  local remote_tip, local_tip
  if known then
    remote_tip, local_tip = known.remote, known["local"]
  elseif self:remote_exists() then
    remote_tip, local_tip = self:fetch()
  else
    local _
    _, local_tip = self:tips()
  end
  local base, extra = remote_tip or local_tip, nil
  if remote_tip and local_tip and remote_tip ~= local_tip and not self:is_ancestor(local_tip, remote_tip) then
    if self:is_ancestor(remote_tip, local_tip) then base = local_tip else extra = local_tip end
  end
  return base, extra, remote_tip, local_tip
end

-- The current record (the whole of it, or of paths), merged from the
-- remote's and the local tip; its files (of the base commit) and the
-- parents of the next commit.
function Store:current(paths, known)
  local base, extra, remote_tip, local_tip = self:base(known)
  if not base then return R.empty(), {}, {}, remote_tip, local_tip end
  if extra then paths = nil end  -- the local-only records join in whole
  local doc, files = self:load(base, paths)
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

-- the committer, as git itself would pick it: GIT_COMMITTER_NAME and
-- GIT_COMMITTER_EMAIL, else user.name and user.email, else slipway@HOST
function Store:identity()
  if self.ident then return self.ident end
  local function env(k)
    local v = os.getenv(k)
    return v ~= "" and v or nil
  end
  local name, email = env("GIT_COMMITTER_NAME"), env("GIT_COMMITTER_EMAIL")
  if not (name and email) then
    local cfg = self:config()
    name, email = name or cfg["user.name"], email or cfg["user.email"]
  end
  if not email then
    local f = io.open("/proc/sys/kernel/hostname", "r")
    local h = f and f:read("l")
    if f then f:close() end
    email = "slipway@" .. (h or "localhost")
  end
  -- (fast-import takes `NAME <EMAIL>`: no angle brackets or newlines inside)
  local function clean(v) return (v:gsub("[<>\n]", "")) end
  self.ident = string.format("%s <%s>", clean(name or "slipway"), clean(email))
  return self.ident
end

-- the paths of the record a delta writes
local function delta_paths(delta)
  local paths = {"format.json"}
  for name in pairs(delta.envs) do paths[#paths + 1] = "envs/" .. name .. ".json" end
  for id in pairs(delta.runs) do paths[#paths + 1] = "runs/" .. id .. ".json" end
  if next(delta.runs) then paths[#paths + 1] = "runs" end  -- to keep the newest keep_runs
  return paths
end

-- the runs beyond the newest `keep` (by id: ids begin with their start
-- time) that the tree holds, never those delta writes
local function to_drop(doc, files, delta, keep)
  local listing = files["runs/"]
  local ids, seen = {}, {}
  local function add(id) if not seen[id] then seen[id] = true; ids[#ids + 1] = id end end
  if listing then
    for _, n in ipairs(listing.names) do
      local id = n:match("^(.+)%.json$")
      if id then add(id) end
    end
  end
  for id in pairs(doc.runs) do add(id) end
  if #ids <= keep then return {} end
  table.sort(ids, function(a, b) return a > b end)
  local drop = {}
  for i = keep + 1, #ids do
    if not delta.runs[ids[i]] then drop[#drop + 1] = ids[i] end
  end
  return drop
end

-- a commit holding doc on top of parents, where doc's files differ from
-- files (those of parents[1]); the files doc does not hold stay as they are.
-- One `git fast-import` writes the blobs, trees and the commit (no ref:
-- the ref it needs is dropped again before it ends); parents[1] when
-- nothing changed.
function Store:commit(doc, files, parents, message, drop)
  local changes = {}
  local function put(path, text)
    if not (files[path] and files[path].text == text) then changes[#changes + 1] = {path, text} end
  end
  put("format.json", R.encode_format())
  for name, st in pairs(doc.envs) do put("envs/" .. name .. ".json", R.encode_env(name, st)) end
  local dropped = {}
  for _, id in ipairs(drop or {}) do dropped[id] = true end
  for id, s in pairs(doc.runs) do
    if not dropped[id] then put("runs/" .. id .. ".json", R.encode_run(s)) end
  end
  for id in pairs(dropped) do changes[#changes + 1] = {"runs/" .. id .. ".json"} end
  if #changes == 0 and #parents == 1 then return parents[1] end
  table.sort(changes, function(a, b) return a[1] < b[1] end)
  local scratch = "refs/slipway-tmp/" .. self.ref:sub(#"refs/slipway/" + 1)
  local s = {"commit ", scratch, "\nmark :1\ncommitter ", self:identity(), " ", tostring(os.time()),
             " +0000\ndata ", tostring(#message), "\n", message, "\n"}
  if parents[1] then s[#s + 1] = "from " .. parents[1] .. "\n" end
  if parents[2] then s[#s + 1] = "merge " .. parents[2] .. "\n" end
  for _, c in ipairs(changes) do
    if c[2] then
      s[#s + 1] = string.format("M 100644 inline %s\ndata %d\n", c[1], #c[2])
      s[#s + 1] = c[2]
      s[#s + 1] = "\n"
    else
      s[#s + 1] = "D " .. c[1] .. "\n"
    end
  end
  s[#s + 1] = "\nget-mark :1\nreset " .. scratch .. "\n\ndone\n"
  -- (its objects stay in one small pack: unpacking them runs one more
  -- process, and gc --auto folds the packs together in time)
  local commit = out1(self:git({"-c", "fastimport.unpackLimit=0", "fast-import", "--quiet", "--done"},
    {stdin = table.concat(s)}))
  if not commit:match("^%x+$") then
    R.fail("git", self:where(), "git fast-import gave no commit: " .. tail(commit),
      "check the repository at " .. self.root .. " (git fsck), then run again")
  end
  return commit
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
-- `retries` times. doc holds what the write touched (the environments and
-- runs of delta, as stored). A write after this store's last one builds on
-- the tip it left and fetches only when the push says another runner wrote.
function Store:write(delta)
  local message = describe(delta)
  local paths = delta_paths(delta)
  for attempt = 1, self.retries do
    local known = attempt == 1 and self.known or nil
    self.known = nil
    local doc, files, parents, remote_tip, local_tip = self:current(paths, known)
    R.merge(doc, delta)
    local drop = next(delta.runs) and to_drop(doc, files, delta, self.keep) or nil
    for _, id in ipairs(drop or {}) do doc.runs[id] = nil end
    local commit = self:commit(doc, files, parents, message, drop)
    if self.has_remote then
      if commit == remote_tip or self:push(commit) == "ok" then
        -- the tracking ref takes the commit; the local ref follows (unless
        -- someone moved it meanwhile: then the next write merges it), in a
        -- second transaction of the same git process
        local r = self:git({"update-ref", "-m", "slipway state", "--stdin"}, {check = false, stdin = string.format(
          "start\nupdate %s %s\nprepare\ncommit\nstart\nupdate %s %s %s\nprepare\ncommit\n",
          self.track, commit, self.ref, commit, local_tip or ZERO)})
        if not r.stdout:find("commit: ok", 1, true) then
          R.fail("git", self:where(), "git update-ref failed (exit " .. r.code .. "): " .. tail(r.stderr),
            "check the repository at " .. self.root .. " (git fsck), then run again")
        end
        -- (the next write builds on this commit without a fetch, unless
        -- the local ref had moved: then it fetches and merges)
        if r.code == 0 then self.known = {remote = commit, ["local"] = commit} end
        return doc
      end
    else
      if commit == local_tip then return doc end
      local r = self:git({"update-ref", "-m", "slipway state", self.ref, commit, local_tip or ZERO}, {check = false})
      if r.code == 0 then return doc end
    end
    -- another writer got there first: wait a little (more each time) and merge again
    if not known then task.sleep(math.random() * 0.05 * attempt) end
  end
  R.fail("git", self:where(), string.format("gave up writing the record after %d attempts: other runners " ..
    "kept writing at the same time", self.retries),
    "run again; the run's journal in the state directory still has everything")
end

return M
