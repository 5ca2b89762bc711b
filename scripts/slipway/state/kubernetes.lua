--- slipway.state.kubernetes: the record of deploys and the deploy lock as
-- objects next to the release, through kubectl (argv, never a shell):
--   record  one ConfigMap per environment, PREFIX-ENV (default
--           slipway-state-ENV) in the environment's namespace, data:
--             format          "1"
--             env.json        {"format": 1, "env": ENV, "state": {...}}
--             run.ID.json     {"format": 1, "run": {...summary...}}
--           (the newest `keep_runs` runs, default 100: a ConfigMap holds
--           at most 1 MiB), readable by anyone who may read the namespace.
--   lock    a coordination.k8s.io/v1 Lease, taken and renewed as
--           Kubernetes leader election does: every update carries the
--           metadata.resourceVersion it read, so of two contenders one gets
--           409 Conflict and loses. Taken by `create` (one call when it does
--           not exist; of two, one gets AlreadyExists), released by a delete
--           guarded by the uid and resourceVersion last written (one call).
-- Every write is get -> change -> `kubectl replace -f -` with the
-- resourceVersion read (or `kubectl create -f -` when there is none);
-- Conflict and AlreadyExists mean another runner wrote: read again, merge,
-- retry (bounded).
local proc = require "slipway.proc"
local json = require "slipway.json"
local task = require "slipway.task"
local R = require "slipway.state.record"
local codec = require "slipway.codec"

local M = {}

-- ---- kubectl -----------------------------------------------------------------

-- a target: {kubectl = "kubectl", namespace =, context =, env = {}, timeout = 60}
local function kubectl(t, args, stdin)
  local argv = {t.kubectl or "kubectl"}
  if t.context then argv[#argv + 1] = "--context=" .. t.context end
  for _, a in ipairs(args) do argv[#argv + 1] = a end
  argv[#argv + 1] = "--namespace=" .. t.namespace
  return proc.run(argv, {check = false, echo = false, readonly = true, dry_run = false, env = t.env,
                         stdin = stdin and {data = stdin} or nil, timeout = t.timeout or 60})
end

local tail = R.tail

-- what the API server answered, from kubectl's stderr
local function answer(r)
  if r.code == 0 then return "ok" end
  local e = r.stderr or ""
  if e:find("(Conflict)", 1, true) or e:find("the object has been modified", 1, true) then return "conflict" end
  if e:find("(AlreadyExists)", 1, true) or e:find("already exists", 1, true) then return "exists" end
  if e:find("(NotFound)", 1, true) then return "notfound" end
  return "error"
end

local function access_todo(t, what)
  return string.format("check that kubectl reaches the cluster and may %s in namespace %s " ..
    "(kubectl auth can-i %s --namespace=%s); or set `state: local` in slipway.yaml",
    what, t.namespace, what, t.namespace)
end

-- the object KIND/NAME, or nil when there is none
local function get(t, kind, name, where)
  local r = kubectl(t, {"get", kind, name, "-o", "json", "--ignore-not-found"})
  if r.code ~= 0 then
    R.fail("kubernetes", where, "cannot read " .. kind .. " " .. name .. ": " .. tail(r.stderr),
      access_todo(t, "get " .. kind))
  end
  if r.stdout:match("^%s*$") then return nil end
  local ok, obj = pcall(json.decode, r.stdout)
  if not ok or type(obj) ~= "table" or type(obj.metadata) ~= "table" then
    R.fail("kubernetes", where, "kubectl get " .. kind .. " " .. name .. " printed no object",
      "check the kubectl in use (" .. tostring(t.kubectl or "kubectl") .. ")")
  end
  return obj
end

-- create (no resourceVersion) or replace (with the one read): "ok",
-- "conflict" (someone else wrote first) or "exists"/"notfound" (likewise);
-- with `returned`, also the object as the API server stored it (its new
-- resourceVersion). A create answered NotFound is an error: the namespace
-- is missing.
local function put(t, obj, where, returned)
  local verb = obj.metadata.resourceVersion and "replace" or "create"
  local r = kubectl(t, returned and {verb, "-f", "-", "-o", "json"} or {verb, "-f", "-"}, json.encode(obj))
  local a = answer(r)
  if a == "error" or (a == "notfound" and verb == "create") then
    R.fail("kubernetes", where, "cannot " .. verb .. " " .. obj.kind .. " " .. obj.metadata.name .. ": " ..
      tail(r.stderr), access_todo(t, verb .. " " .. obj.kind:lower() .. "s"))
  end
  if a == "ok" and returned then
    local ok, stored = pcall(json.decode, r.stdout)
    if ok and type(stored) == "table" and type(stored.metadata) == "table" then return a, stored end
    return a, nil
  end
  return a
end

local function target(opts, namespace)
  return {kubectl = opts.kubectl, namespace = namespace, context = opts.context, env = opts.env,
          timeout = opts.timeout}
end

-- ---- the record -----------------------------------------------------------------

local Store = {}
Store.__index = Store

local function dns_name(s)
  return (s:lower():gsub("[^a-z0-9.-]", "-"):gsub("^[^a-z0-9]+", ""):sub(1, 253))
end

--- open{envs = {NAME = {namespace =, kubectl =, context =, env =}}, home =
-- ENV (where runs without an environment go), prefix = "slipway-state-",
-- keep_runs = 100, retries = 10} -> store
function M.open(opts)
  if type(opts.envs) ~= "table" or next(opts.envs) == nil then
    error("bad argument to 'state.open' (kubernetes: envs = {NAME = {namespace = ...}} expected)", 3)
  end
  local names = {}
  for name, e in pairs(opts.envs) do
    R.check_name(name, "an environment", "state.open")
    if type(e.namespace) ~= "string" then
      error("bad argument to 'state.open' (kubernetes: envs." .. name .. ".namespace expected)", 3)
    end
    names[#names + 1] = name
  end
  table.sort(names)
  return setmetatable({envs = opts.envs, names = names, home = opts.home or names[1],
                       prefix = opts.prefix or "slipway-state-", keep = opts.keep_runs or 100,
                       retries = opts.retries or 10, backend = "kubernetes"}, Store)
end

function Store:unit(env)
  local e = self.envs[env]
  if not e then
    R.fail("kubernetes", "environment " .. env, "no namespace is known for environment " .. env,
      "name it in the environments of slipway.yaml")
  end
  local t = target(e, e.namespace)
  local name = dns_name(self.prefix .. env)
  return t, name, "configmap " .. e.namespace .. "/" .. name
end

function Store:where() return "configmaps " .. self.prefix .. "ENV" end

local function damaged_todo(t, name, key)
  return string.format("inspect it with `kubectl get configmap %s --namespace=%s -o json` (key %s); " ..
    "delete that key (or the ConfigMap, losing the record of that environment) to start again",
    name, t.namespace, key)
end

-- the record part of env: doc, object (nil when there is none yet)
function Store:load(env)
  local t, name, where = self:unit(env)
  local obj = get(t, "configmap", name, where)
  local doc = R.empty()
  if not obj then return doc, nil end
  local data = obj.data or {}
  R.check_format({format = data.format}, "kubernetes", where .. ", key format", damaged_todo(t, name, "format"))
  for key, text in pairs(data) do
    if key == "env.json" then
      local n, st = R.decode_env(text, "kubernetes", where .. ", key " .. key, damaged_todo(t, name, key))
      doc.envs[n] = st
    elseif key:match("^run%..+%.json$") then
      local s = R.decode_run(text, "kubernetes", where .. ", key " .. key, damaged_todo(t, name, key))
      doc.runs[s.id] = s
    end
  end
  return doc, obj
end

--- store:read([env]) -> doc (of one environment, or merged over all)
function Store:read(env)
  if env then return (self:load(env)) end
  local doc = R.empty()
  for _, name in ipairs(self.names) do R.merge(doc, (self:load(name))) end
  return doc
end

-- the delta split by the environment whose ConfigMap holds each part
function Store:split(delta)
  local parts = {}
  local function part(env)
    parts[env] = parts[env] or {format = R.FORMAT, envs = {}, runs = {}}
    return parts[env]
  end
  for env, fields in pairs(delta.envs) do part(env).envs[env] = fields end
  for id, s in pairs(delta.runs) do
    local envs = s.envs
    if #envs == 0 then envs = {self.home} end
    for _, env in ipairs(envs) do if self.envs[env] then part(env).runs[id] = s end end
  end
  return parts
end

function Store:write_unit(env, delta)
  local t, name, where = self:unit(env)
  for attempt = 1, self.retries do
    local doc, obj = self:load(env)
    R.merge(doc, delta)
    -- the newest keep runs (and always those being written)
    local ids = {}
    for id in pairs(doc.runs) do ids[#ids + 1] = id end
    table.sort(ids, function(a, b) return a > b end)
    local data = {format = tostring(R.FORMAT)}
    if doc.envs[env] then data["env.json"] = R.encode_env(env, doc.envs[env]) end
    for i, id in ipairs(ids) do
      if i <= self.keep or delta.runs[id] then data["run." .. id .. ".json"] = R.encode_run(doc.runs[id]) end
    end
    local new = obj or {apiVersion = "v1", kind = "ConfigMap",
      metadata = {name = name, labels = {["app.kubernetes.io/managed-by"] = "slipway",
                                         ["slipway.dev/record"] = "state",
                                         ["slipway.dev/environment"] = dns_name(env)}}}
    new.data = data
    if put(t, new, where) == "ok" then return doc end
    task.sleep(math.random() * 0.05 * attempt)
  end
  R.fail("kubernetes", where, string.format("gave up writing the record after %d attempts: other " ..
    "runners kept writing at the same time", self.retries),
    "run again; the run's journal in the state directory still has everything")
end

--- store:write(delta) -> doc (merged over the environments written)
function Store:write(delta)
  local doc = R.empty()
  local parts, envs = self:split(delta), {}
  for env in pairs(parts) do envs[#envs + 1] = env end
  table.sort(envs)
  for _, env in ipairs(envs) do R.merge(doc, self:write_unit(env, parts[env])) end
  return doc
end

-- ---- the Lease lock ------------------------------------------------------------

-- RFC 3339 with microseconds (the Lease's MicroTime) <-> unix seconds
local function micro(t)
  local s = math.floor(t)
  return os.date("!%Y-%m-%dT%H:%M:%S", s) .. string.format(".%06dZ", math.floor((t - s) * 1e6))
end

local function parse_time(s)
  if type(s) ~= "string" then return nil end
  local y, mo, d, h, mi, sec, frac = s:match("^(%d+)-(%d+)-(%d+)T(%d+):(%d+):(%d+)(%.?%d*)Z$")
  if not y then return nil end
  return codec.timegm(tonumber(y), tonumber(mo), tonumber(d), tonumber(h), tonumber(mi), tonumber(sec))
    + (tonumber("0" .. frac) or 0)
end

local Lease = {}
Lease.__index = Lease
M.Lease = Lease

local HOLDER = "slipway.dev/holder"

--- lease{namespace =, name =, kubectl =, context =, env =, duration = 120,
-- renew = 30, poll = 2, identity =, info = {user, host, pid, run, command},
-- log = fn(level, fmt, ...)} -> lock (not yet acquired)
function M.lease(opts)
  if type(opts.namespace) ~= "string" or type(opts.name) ~= "string" then
    error("bad argument to 'state.lock' (kubernetes: namespace and name expected)", 3)
  end
  local info = opts.info or {}
  local identity = opts.identity or string.format("%s@%s/%s/%s", tostring(info.user or "?"),
    tostring(info.host or "?"), tostring(info.pid or "?"), tostring(info.run or math.random(0, 0xffffff)))
  local self = setmetatable({
    t = target(opts, opts.namespace), name = opts.name, identity = identity, info = info,
    duration = opts.duration or 120, every = opts.renew or 30, poll = opts.poll or 2,
    log = opts.log or function() end, kind = "kubernetes",
  }, Lease)
  self.where = "lease " .. opts.namespace .. "/" .. opts.name
  if self.every >= self.duration then
    error("bad argument to 'state.lock' (renew must be shorter than duration)", 3)
  end
  return self
end

-- the holder as callers see it: {identity, user, host, pid, run, command,
-- since, renewed, expires, expired, transitions}; nil when free
local function holder_of(obj, now)
  local spec = obj and obj.spec or {}
  if not obj or spec.holderIdentity == nil or spec.holderIdentity == "" or spec.holderIdentity == json.null then
    return nil
  end
  local h = {}
  local ann = obj.metadata.annotations and obj.metadata.annotations[HOLDER]
  if type(ann) == "string" then
    local ok, v = pcall(json.decode, ann)
    if ok and type(v) == "table" then for k, x in pairs(v) do h[k] = x end end
  end
  h.identity = spec.holderIdentity
  h.since = parse_time(spec.acquireTime)
  h.renewed = parse_time(spec.renewTime) or h.since
  h.duration = tonumber(spec.leaseDurationSeconds) or 0
  h.expires = (h.renewed or 0) + h.duration
  h.expired = h.expires <= now
  h.transitions = tonumber(spec.leaseTransitions) or 0
  return h
end

function Lease:_read()
  return get(self.t, "lease", self.name, self.where)
end

--- lock:holder() -> the current holder (see holder_of) or nil
function Lease:holder()
  return holder_of(self:_read(), R.now())
end

-- the Lease object claiming the lock for us, based on obj (nil: a new one)
function Lease:_claim(obj, now, keep_acquire)
  local spec = obj and obj.spec or {}
  local new = obj or {apiVersion = "coordination.k8s.io/v1", kind = "Lease",
    metadata = {name = self.name, labels = {["app.kubernetes.io/managed-by"] = "slipway"}}}
  new.metadata.annotations = new.metadata.annotations or {}
  local info = {}
  for k, v in pairs(self.info) do info[k] = v end
  new.metadata.annotations[HOLDER] = json.encode(info)
  local transitions = tonumber(spec.leaseTransitions) or 0
  if obj and not keep_acquire then transitions = transitions + 1 end
  new.spec = {holderIdentity = self.identity, leaseDurationSeconds = math.ceil(self.duration),
              acquireTime = keep_acquire and spec.acquireTime or micro(now), renewTime = micro(now),
              leaseTransitions = transitions}
  return new
end

--- lock:acquire{wait = seconds, break_lock = false, give_up = fn} -> lock. Takes the
-- Lease when there is none, when it is free or expired, or (break_lock)
-- from a live holder -- then lock.broke is that holder, for the caller to
-- journal. Busy: waits up to `wait` seconds (polling), then raises code
-- "locked" with field holder; give_up() is called before each pause, and an
-- error it returns is raised instead of waiting on. Starts the renewal task.
-- One call when the Lease does not exist (a released lock is deleted):
-- `create` (of two, one gets AlreadyExists); else get, then `replace`
-- with the resourceVersion read (of two, one gets 409 Conflict).
function Lease:acquire(opts)
  opts = opts or {}
  local deadline = R.now() + (opts.wait or 0)
  local obj, known = nil, false   -- known: obj is what the API server has (nil: none)
  while true do
    local now = R.now()
    if not known then
      local a, stored = put(self.t, self:_claim(nil, now), self.where, true)
      if a == "ok" then return self:_taken(stored, nil, now) end
      obj = self:_read()   -- exists: someone holds it, or a free/expired Lease
    end
    known = false
    local h = holder_of(obj, now)
    local mine = h and h.identity == self.identity
    if obj and (not h or mine or h.expired or opts.break_lock) then
      local a, stored = put(self.t, self:_claim(obj, now, mine), self.where, true)
      if a == "ok" then return self:_taken(stored, (not mine) and h or nil, now) end
      -- conflict: another contender wrote first (look again); notfound: it
      -- was deleted meanwhile (create again)
      if a == "conflict" then obj, known = self:_read(), true end
    elseif obj then
      if now >= deadline then
        error(require("slipway.core").error("locked", string.format(
          "%s is held by %s (run %s, renewed %.0f s ago, expires in %.0f s unless renewed)",
          self.where, h.identity, tostring(h.run or "?"), now - (h.renewed or now), h.expires - now),
          {holder = h, where = self.where}), 0)
      end
      local stop = opts.give_up and opts.give_up()
      if stop then error(stop, 0) end
      task.sleep(math.max(0.01, math.min(self.poll, deadline - now, h.expires - now + 0.01)))
      obj, known = self:_read(), true
    end
  end
end

-- taken: remember the Lease as stored (its resourceVersion guards release),
-- the holder it was taken from (h, expired or broken), start renewing
function Lease:_taken(stored, h, now)
  if h and not h.expired then self.broke = h end
  if h and h.expired then self.took_expired = h end
  self.obj = stored
  self.renewed = now
  self.held = true
  self:start()
  self.log("info", "deploy lock %s taken", self.where)
  return self
end

-- raise code "lock_lost"
function Lease:_lost(h)
  self.held = false
  error(require("slipway.core").error("lock_lost", string.format("%s was taken over by %s",
    self.where, h and h.identity or "nobody (it was deleted)"), {holder = h, where = self.where}), 0)
end

--- lock:renew(): one renewal now (the renewal task calls it). Raises
-- "lock_lost" when someone else holds it.
function Lease:renew()
  for _ = 1, 5 do
    local now = R.now()
    local obj = self:_read()
    local h = holder_of(obj, now)
    if not h or h.identity ~= self.identity then self:_lost(h) end
    local a, stored = put(self.t, self:_claim(obj, now, true), self.where, true)
    if a == "ok" then self.renewed, self.obj = now, stored; return end
    if a == "notfound" then self:_lost(nil) end
  end
  self:_lost(self:holder())
end

--- lock:start([on_lost]): the background task renewing every `renew`
-- seconds while the process lives (acquire starts it). A failed renewal is
-- retried on the next beat; when the lock is lost (taken over, or not
-- renewed for `duration`), on_lost(err) is called and lock.lost is set.
function Lease:start(on_lost)
  if on_lost then self.on_lost = on_lost end
  if self.renewer then return end
  self.renewer = task.spawn(function()
    while self.held do
      task.sleep(self.every)
      if not self.held then break end
      local ok, err = pcall(self.renew, self)
      if not ok then
        local code = type(err) == "table" and err.code
        if code == "cancelled" then error(err, 0) end
        if code == "lock_lost" or R.now() - (self.renewed or 0) >= self.duration then
          self.held = false
          self.lost = err
          self.log("error", "deploy lock %s lost: %s", self.where, tostring(err))
          if self.on_lost then self.on_lost(err) end
          break
        end
        self.log("warn", "deploy lock %s: renewal failed, retrying: %s", self.where, tostring(err))
      end
    end
  end)
end

--- lock:stop(): stop renewing without releasing (the holder "dies": the
-- Lease expires `duration` seconds after the last renewal).
function Lease:stop()
  if self.renewer then
    local r = self.renewer
    self.renewer = nil
    if not r:done() then r:cancel() end
  end
end

-- the Lease's path on the API server (for kubectl delete --raw)
function Lease:_path()
  return string.format("/apis/coordination.k8s.io/v1/namespaces/%s/leases/%s", self.t.namespace, self.name)
end

-- delete the Lease if it is still obj (preconditions: its uid and
-- resourceVersion): "ok", "conflict" (it changed) or "notfound"
function Lease:_delete(obj)
  local r = kubectl(self.t, {"delete", "--raw", self:_path(), "-f", "-"}, json.encode{
    apiVersion = "v1", kind = "DeleteOptions",
    preconditions = {uid = obj.metadata.uid, resourceVersion = obj.metadata.resourceVersion}})
  local a = answer(r)
  if a == "error" or a == "exists" then
    R.fail("kubernetes", self.where, "cannot delete Lease " .. self.name .. ": " .. tail(r.stderr),
      access_todo(self.t, "delete leases"))
  end
  return a
end

--- lock:release(): stop renewing and free the Lease if it is still ours:
-- one delete guarded by the uid and resourceVersion of the Lease as we last
-- wrote it (409 Conflict when anyone wrote since: then it is read, and
-- left alone unless it is still ours).
function Lease:release()
  self:stop()
  if not self.held then return end
  self.held = false
  local obj = self.obj
  for _ = 1, 5 do
    if obj then
      local a = self:_delete(obj)
      if a == "ok" then
        self.log("info", "deploy lock %s released", self.where)
        return
      end
    end
    obj = self:_read()
    local h = holder_of(obj, R.now())
    if not h or h.identity ~= self.identity then
      self.log("warn", "deploy lock %s was taken over meanwhile by %s; leaving it", self.where,
        h and h.identity or "nobody")
      return
    end
  end
end
Lease.__close = Lease.release

return M
