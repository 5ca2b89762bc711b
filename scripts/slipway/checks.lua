--- slipway.checks: the tests run against an environment after a deploy.
--
-- Declared per environment in slipway.yaml (docs/environments.md):
--
--   checks:
--     - {name: home, get: /, status: 200, contains: GitHub}
--     - {name: health, get: /health, json: {status: ok}}
--     - name: versions               # /versions equals what was just staged
--       get: /versions
--       json: {binderhub: "{{versions.binderhub}}",
--              builder: "quay.io/jupyterhub/repo2docker:{{versions.repo2docker}}"}
--     - name: user-404               # slow to settle after a deploy: retried
--       get: /user/doesntexist
--       status: 424
--       retries: 10
--       interval: 1
--       deadline: 60
--     - name: launch                 # server-sent events until a phase
--       launch: /build/gh/binder-examples/requirements/HEAD
--       phase: ready
--       deadline: 120
--     - {name: custom, lua: tests/custom.lua}   # anything else, in Lua
--     - name: launch-and-use         # the started server's API, then its shutdown
--       launch: "https://{{values.binderhub.ingress.hosts[0]}}/build/gh/org/repo/ref"
--       then: {get: api, has: [version]}   # with the ready event's token
--       stop: true                   # POST api/shutdown (or {method, path, status})
--       when: values.binderhubEnabled      # skipped where false
--
-- Keys: get (path under the environment's URL, or a full URL), status
-- (default 200), contains (body substring), json (map of JSON path -> expected
-- value; paths like "a.b[0].c", docs/path.md), headers (request headers), launch + phase
-- (read `data:` JSON lines of an event stream until phase == PHASE; a
-- "failed" phase or the end of the stream fails), lua (a file, relative to
-- the repository, whose chunk is called with a table {url, versions, env,
-- ctx, get = function(path, opts)} and raises to fail; a returned string is
-- the detail), retries (extra attempts, default 0), interval (seconds between
-- attempts, default 1), deadline (seconds for all attempts, default 60),
-- timeout (seconds per request, default 10), has (JSON paths that must be
-- there), when (a path; the check is skipped where it is false), then/stop
-- (launch: requests to the started server with its token, and its
-- shutdown). String values may use ${VAR} (read when the check runs) and
-- {{PATH}}: versions.NAME, url, env, values.… (checks.values), server.url/user.
--
--   local results = checks.run(ctx, env, {url = url, versions = versions})
--   -- {{name=, ok=, detail=, duration=, attempts=}, ...}, concurrently
--   print(checks.table(results)); fs.write(file, checks.junit{staging = results})
local core = require "slipway.core"
local spath = require "slipway.path"
local progress = require "slipway.progress"

local raise = require("slipway.errors").fail
local task = require "slipway.task"

local M = {}

local KEYS = {name = true, get = true, status = true, contains = true, json = true,
              headers = true, launch = true, phase = true, lua = true, retries = true,
              interval = true, deadline = true, timeout = true, description = true,
              has = true, when = true, ["then"] = true, stop = true}
-- the keys of a launch's `then` requests (to the started server)
local THEN_KEYS = {get = true, status = true, contains = true, json = true, has = true,
                   headers = true}
local STOP_KEYS = {method = true, path = true, status = true}

local function fail(m, kp, msg)
  raise("manifest", string.format("%s: %s: %s", (m and m.path) or "slipway.yaml", kp, msg))
end

-- the response keys of a request (a check's get, a launch's then):
-- status, json paths, has paths
local function check_request(m, w, c, n)
  n.status = c.status or 200
  if math.type(n.status) ~= "integer" then fail(m, w .. ".status", "must be an HTTP status") end
  if c.json ~= nil and type(c.json) ~= "table" then fail(m, w .. ".json", "must map paths to values") end
  for jp in pairs(c.json or {}) do
    local bad = spath.check(tostring(jp))
    if bad then fail(m, w .. ".json." .. tostring(jp), bad) end
  end
  if c.has ~= nil then
    if type(c.has) == "string" then n.has = {c.has}
    elseif type(c.has) ~= "table" then fail(m, w .. ".has", "must be a list of JSON paths")
    else n.has = c.has end
    for i, jp in ipairs(n.has) do
      local bad = type(jp) ~= "string" and "must be a JSON path" or spath.check(jp)
      if bad then fail(m, w .. ".has[" .. (i - 1) .. "]", bad) end
    end
  end
  if c.headers ~= nil and type(c.headers) ~= "table" then fail(m, w .. ".headers", "must map names to values") end
end

--- Validate a list of checks (kp names it in errors); returns normalised
-- checks: {name, kind = "http"|"launch"|"lua", ...}.
function M.validate(list, kp, m)
  if type(list) ~= "table" then fail(m, kp, "must be a list of checks") end
  local out, seen = {}, {}
  for i, c in ipairs(list) do
    local w = kp .. "[" .. (i - 1) .. "]"
    if type(c) ~= "table" then fail(m, w, "must be a mapping") end
    for k in pairs(c) do
      if not KEYS[k] then fail(m, w .. "." .. tostring(k), "unknown key") end
    end
    local n = {}
    for k, v in pairs(c) do n[k] = v end
    local kinds = (c.get and 1 or 0) + (c.launch and 1 or 0) + (c.lua and 1 or 0)
    if kinds ~= 1 then fail(m, w, "needs exactly one of get, launch, lua") end
    n.kind = c.get and "http" or c.launch and "launch" or "lua"
    n.name = c.name or c.get or c.launch or c.lua
    if type(n.name) ~= "string" then fail(m, w .. ".name", "must be a string") end
    if seen[n.name] then fail(m, w .. ".name", "duplicate check name '" .. n.name .. "'") end
    seen[n.name] = true
    n.keypath = w
    if c.when ~= nil then
      if type(c.when) ~= "string" then fail(m, w .. ".when", "must be a path such as values.binderhubEnabled") end
      local bad = spath.check(c.when)
      if bad then fail(m, w .. ".when", bad) end
    end
    if n.kind == "http" then
      check_request(m, w, c, n)
    elseif n.kind == "launch" then
      n.phase = c.phase or "ready"
      local th = c["then"]
      if th ~= nil then
        if type(th) ~= "table" then fail(m, w .. ".then", "must be a request {get, status, has, ...} or a list of them") end
        if th[1] == nil then th = {th} end
        n["then"] = {}
        for i, r in ipairs(th) do
          local tw = w .. ".then[" .. (i - 1) .. "]"
          if type(r) ~= "table" then fail(m, tw, "must be a mapping {get, status, has, ...}") end
          for k in pairs(r) do
            if not THEN_KEYS[k] then fail(m, tw .. "." .. tostring(k), "unknown key (known: get, status, contains, json, has, headers)") end
          end
          if type(r.get) ~= "string" then fail(m, tw .. ".get", "must be a path under the started server's URL") end
          local q = {get = r.get, contains = r.contains, json = r.json, has = r.has, headers = r.headers}
          check_request(m, tw, r, q)
          n["then"][i] = q
        end
      end
      local st = c.stop
      if st == true then
        n.stop = {method = "POST", path = "api/shutdown", status = 200}
      elseif type(st) == "table" then
        for k in pairs(st) do
          if not STOP_KEYS[k] then fail(m, w .. ".stop." .. tostring(k), "unknown key (known: method, path, status)") end
        end
        local method = st.method or "POST"
        if method ~= "POST" and method ~= "DELETE" then fail(m, w .. ".stop.method", "must be POST or DELETE") end
        if st.path ~= nil and type(st.path) ~= "string" then fail(m, w .. ".stop.path", "must be a path or URL") end
        if st.status ~= nil and math.type(st.status) ~= "integer" then fail(m, w .. ".stop.status", "must be an HTTP status") end
        n.stop = {method = method, path = st.path or "api/shutdown", status = st.status or (method == "DELETE" and 204 or 200)}
      elseif st ~= nil and st ~= false then
        fail(m, w .. ".stop", "must be true or {method, path, status}")
      end
    end
    if n.kind ~= "launch" and (c["then"] ~= nil or c.stop ~= nil) then
      fail(m, w .. "." .. (c.stop ~= nil and "stop" or "then"), "only a launch check starts a server")
    end
    for _, k in ipairs{"retries", "interval", "deadline", "timeout"} do
      if c[k] ~= nil and (type(c[k]) ~= "number" or c[k] < 0) then fail(m, w .. "." .. k, "must be a number >= 0") end
    end
    n.retries = c.retries or 0
    n.interval = c.interval or 1
    n.deadline = c.deadline or 60
    n.timeout = c.timeout or math.min(10, n.deadline)
    out[#out + 1] = n
  end
  return out
end

-- vars.values: the merged values, loaded on first use (vars.load_values)
local function values_of(vars)
  if vars.values == nil and vars.load_values then
    local ok, v = pcall(vars.load_values)
    if not ok then raise("check", "the merged values: " .. ((type(v) == "table" and v.message) or tostring(v))) end
    vars.values = v
  end
  return vars.values
end

-- {{PATH}}: a path (docs/path.md) into {versions, url, env, values, server}.
-- An unknown {{versions.X}} stays as written; {{values.X}} that is not in the
-- merged values raises naming the path.
local function template(s, vars)
  if type(s) ~= "string" then return s end
  return (s:gsub("{{%s*(.-)%s*}}", function(k)
    local is_values = k:match("^values[.%[]") ~= nil
    if is_values then values_of(vars) end
    local ok, v, why = pcall(spath.get, vars, k)
    if ok and v ~= nil and type(v) ~= "table" then return tostring(v) end
    if is_values then
      raise("check", string.format("{{%s}}: %s", k, ok and (type(v) == "table" and "is not a scalar" or
        tostring(why or "not in the merged values")) or ((type(v) == "table" and v.message) or tostring(v))))
    end
    return "{{" .. k .. "}}"
  end))
end
M.template = template

local function join_url(base, path)
  if path:match("^https?://") then return path end
  if not base then raise("check", "the environment has no URL for " .. path) end
  return base .. (path:sub(1, 1) == "/" and "" or "/") .. path
end

local function show(v)
  if type(v) == "string" then return string.format("%q", v) end
  if type(v) == "table" then
    local ok, s = pcall(require("slipway.json").encode, v)
    return ok and s or tostring(v)
  end
  return tostring(v)
end

-- A check's `retries` is its one retry budget: every request is made once
-- (retries = 0), the check's own loop (run_one) tries again.
local function request(ctx, method, url, opts)
  opts = opts or {}
  local req = {method = method, url = url, headers = opts.headers, timeout = opts.timeout,
               retries = 0}
  if ctx then return ctx:request(req) end
  return require("slipway.http").request(req)
end
local function get(ctx, url, opts) return request(ctx, "GET", url, opts) end

local function with_templates(t, vars)
  if t == nil then return nil end
  local out = {}
  for k, v in pairs(t) do out[k] = template(v, vars) end
  return out
end

-- one request and what its answer must be (q: get, status, contains, json,
-- has, headers); url is where q.get points; extra: headers added (the token).
-- Returns ok, detail
local function probe(ctx, q, url, vars, timeout, extra)
  local headers = with_templates(q.headers, vars)
  for k, v in pairs(extra or {}) do headers = headers or {}; headers[k] = v end
  local res = get(ctx, url, {headers = headers, timeout = timeout})
  local what = "GET " .. q.get
  if res.status ~= q.status then
    return false, string.format("%s: status %d, expected %d", what, res.status, q.status)
  end
  if q.contains and not (res.body or ""):find(template(q.contains, vars), 1, true) then
    return false, string.format("%s: body does not contain %q", what, template(q.contains, vars))
  end
  if q.json or q.has then
    local ok, doc = pcall(require("slipway.json").decode, res.body or "")
    if not ok then return false, what .. ": body is not JSON" end
    for _, k in ipairs(q.has or {}) do
      local got, why = spath.get(doc, k)
      if got == nil then return false, string.format("%s: no %s in the answer (%s)", what, k, tostring(why)) end
    end
    local keys = {}
    for k in pairs(q.json or {}) do keys[#keys + 1] = k end
    table.sort(keys)
    for _, k in ipairs(keys) do
      local want = q.json[k]
      if type(want) == "string" then want = template(want, vars) end
      local got = (spath.get(doc, k))
      if got ~= want and not (type(want) ~= "table" and tostring(got) == tostring(want)
                              and type(got) ~= "table") then
        return false, string.format("%s: %s is %s, expected %s", what, k, show(got), show(want))
      end
    end
  end
  return true, string.format("%s: %d", what, res.status)
end

-- one attempt: returns ok, detail
local function attempt_http(ctx, c, vars)
  return probe(ctx, c, join_url(vars.url, template(c.get, vars)), vars, c.timeout)
end

-- under the started server's URL (the `ready` event's url)
local function server_url(base, path)
  if path:match("^https?://") then return path end
  return base:gsub("/+$", "") .. "/" .. path:gsub("^/+", "")
end

-- after `ready`: the `then` requests with the server's token, then `stop`
-- (always, so that no check leaves a server behind). Returns ok, detail.
local function use_server(ctx, c, vars, ready)
  if type(ready.url) ~= "string" or not ready.url:match("^https?://") then
    return false, "launch reached phase " .. c.phase .. " without a server url"
  end
  local token = type(ready.token) == "string" and ready.token ~= "" and core.secret(ready.token) or nil
  local auth = token and {Authorization = "token " .. token} or nil
  local sv = {}
  for k, v in pairs(vars) do sv[k] = v end
  sv.server = {url = ready.url, user = ready.url:match("/user/([^/]+)") or ""}
  local parts, ok = {"launch reached phase " .. c.phase}, true
  for _, q in ipairs(c["then"] or {}) do
    local okp, a, b = pcall(probe, ctx, q, server_url(ready.url, template(q.get, sv)), sv, c.timeout, auth)
    if not okp then a, b = false, "GET " .. q.get .. ": " .. ((type(a) == "table" and a.message) or tostring(a)) end
    parts[#parts + 1] = b
    if not a then ok = false; break end
  end
  if c.stop then
    local st = c.stop
    local what = st.method .. " " .. st.path
    local oks, res = pcall(function()
      return request(ctx, st.method, server_url(ready.url, template(st.path, sv)), {headers = auth, timeout = c.timeout})
    end)
    if not oks then
      ok = false
      parts[#parts + 1] = "stop " .. what .. ": " .. ((type(res) == "table" and res.message) or tostring(res)) ..
        " (the server may still run)"
    elseif res.status ~= st.status then
      ok = false
      parts[#parts + 1] = string.format("stop %s: status %d, expected %d (the server may still run)", what,
        res.status, st.status)
    else
      parts[#parts + 1] = string.format("stopped (%s: %d)", what, res.status)
    end
  end
  return ok, table.concat(parts, "; ")
end

-- a launch: read the event stream as it arrives (http.stream, server-sent
-- events) until the phase; stops reading as soon as it is reached, then uses
-- and stops the server when the check says so
local function attempt_launch(ctx, c, vars)
  if c.stop and ctx and ctx.dry_run then
    return true, "dry run: not launched (a launch starts a server)", true
  end
  local http = require "slipway.http"
  local url = join_url(vars.url, template(c.launch, vars))
  local t0 = task.now()
  local last, verdict, detail, ready
  local ok, err = pcall(function()
    for ev in http.stream(url, {headers = {Accept = "text/event-stream"}, timeout = c.deadline,
                                idle_timeout = c.deadline, mode = "sse", retries = 0}) do
      local okj, data = pcall(ev.json, ev)
      if okj and type(data) == "table" and data.phase then
        last = data
        if data.phase == c.phase then
          if type(data.token) == "string" and data.token ~= "" then core.secret(data.token) end
          verdict, detail, ready = true, string.format("launch reached phase %s", c.phase), data
          break
        elseif data.phase == "failed" then
          verdict, detail = false, string.format("launch failed: %s", tostring(data.message or "?"))
          break
        end
      end
    end
  end)
  if ctx then
    ctx.journal:record{type = "http", step = ctx.step, method = "GET", url = core.redact(url),
                       stream = true, duration = task.now() - t0, error = (not ok) and
                       tostring(type(err) == "table" and err.message or err) or nil}
  end
  if not ok then error(err, 0) end
  if verdict and (c["then"] or c.stop) then return use_server(ctx, c, vars, ready) end
  if verdict ~= nil then return verdict, (detail:gsub("%s+$", "")) end
  return false, string.format("launch ended in phase %s, never %s",
    last and tostring(last.phase) or "(none)", c.phase)
end

-- raised by a Lua test's t.skip(reason): the check is reported skipped
local SKIP = {}

local function attempt_lua(ctx, c, vars)
  local root = (ctx and ctx.root) or (vars.env_table and vars.env_table.manifest and
    vars.env_table.manifest.root) or "."
  local path = c.lua:sub(1, 1) == "/" and c.lua or (root .. "/" .. c.lua)
  local chunk, err = loadfile(path, "t")
  if not chunk then raise("check", tostring(err)) end
  local t = {url = vars.url, versions = vars.versions, env = vars.env_table, ctx = ctx, root = root,
             get = function(p, o) return get(ctx, join_url(vars.url, p), o) end}
  function t.skip(reason)
    error(setmetatable({reason = tostring(reason or "skipped")}, SKIP), 0)
  end
  -- the value at a path of {values, versions, url, env} (as {{...}} reads it)
  function t.value(p) return (template("{{" .. p .. "}}", vars)) end
  -- ${VAR} and {{...}} filled as in a check's strings
  -- the merged values (checks.values of the environment), as a table
  function t.values() return values_of(vars) end
  function t.template(s)
    local m = vars.env_table and vars.env_table.manifest
    return template(require("slipway.environments").expand(s, c.lua, m), vars)
  end
  -- a launch as a launch check runs it (opts: phase, then, stop, deadline,
  -- timeout); raises when it fails, returns the detail
  function t.launch(p, o)
    o = o or {}
    local lc = M.validate({{name = "launch", launch = p, phase = o.phase, ["then"] = o["then"],
      stop = o.stop, deadline = o.deadline, timeout = o.timeout}}, c.lua .. ": launch")[1]
    local ok, detail = attempt_launch(ctx, lc, vars)
    if not ok then raise("check", detail) end
    return detail
  end
  local r = chunk(t)
  return true, type(r) == "string" and r or ("lua " .. c.lua .. ": ok")
end

local ATTEMPT = {http = attempt_http, launch = attempt_launch, lua = attempt_lua}

local function falsy(v)
  return v == nil or v == false or v == "" or v == 0 or v == "false" or require("slipway.yaml").null == v
end

-- ${VAR} in a check's strings, read now (env_files, then the process environment)
local function expanded(c, vars)
  local has = false
  local function scan(t)
    for _, v in pairs(t) do
      if type(v) == "string" and v:find("${", 1, true) then has = true
      elseif type(v) == "table" then scan(v) end
    end
  end
  scan(c)
  if not has then return c end
  local m = vars.env_table and vars.env_table.manifest
  return require("slipway.environments").expand_deep(c, c.keypath or ("check " .. c.name), m)
end

--- Run one check with its retries and deadline: {name, ok, detail,
-- duration, attempts, skipped}. A check whose `when` path is false or
-- absent, a launch with `stop` under --dry-run and a Lua test that calls
-- t.skip(reason) are skipped: ok (they do not fail a run) with skipped = true.
function M.run_one(ctx, c, vars)
  local t0 = task.now()
  local deadline = t0 + c.deadline
  local r = {name = c.name, kind = c.kind, attempts = 0}
  local okc, cc = pcall(expanded, c, vars)
  if okc and c.when then
    local okw, v = pcall(function()
      if c.when:match("^values[.%[]") then values_of(vars) end
      return (spath.get(vars, c.when))
    end)
    if not okw then okc, cc = false, v
    elseif falsy(v) then
      r.ok, r.skipped, r.detail = true, true, "skipped: " .. c.when .. " is " .. (v == nil and "not set" or tostring(v))
      r.duration = task.now() - t0
      return r
    end
  end
  if not okc then
    r.ok, r.attempts, r.detail = false, 1, (type(cc) == "table" and cc.message) or tostring(cc)
    r.duration = task.now() - t0
    return r
  end
  c = cc
  while true do
    r.attempts = r.attempts + 1
    local left = deadline - task.now()
    local ok, a, b, skipped = pcall(task.timeout, math.max(left, 0.001), ATTEMPT[c.kind], ctx, c, vars)
    if not ok and type(a) == "table" and a.code == "cancelled" then error(a, 0) end
    if not ok and getmetatable(a) == SKIP then
      r.ok, r.skipped, r.detail = true, true, "skipped: " .. a.reason
      break
    end
    if ok then r.ok, r.detail, r.skipped = a, b, skipped or nil
    else r.ok, r.detail = false, (type(a) == "table" and a.message) or tostring(a) end
    if r.ok or r.attempts > c.retries then break end
    if task.now() + c.interval >= deadline then
      r.detail = r.detail .. string.format(" (deadline %g s reached)", c.deadline)
      break
    end
    task.sleep(c.interval)
  end
  r.duration = task.now() - t0
  return r
end

-- The values {{values.PATH}} and `when: values.PATH` read: as helm merges
-- them for the environment's main release (the one named as the
-- environment, else its first): the chart's own values.yaml when the chart
-- is a directory, then its values files in order.
function M.values(env)
  local environments = require "slipway.environments"
  local fs = require "slipway.fs"
  local yaml = require "slipway.yaml"
  local m = env.manifest or {}
  local files, chart = {}, nil
  local rel
  for _, x in ipairs(env.releases or {}) do
    if x.name == env.release and x.namespace == env.namespace then rel = x end
  end
  rel = rel or (env.releases or {})[1]
  if rel then
    local ch = environments.expand(rel.chart, "environments." .. env.name .. ".chart", m)
    if not rel.repo and not ch:match("^oci://") then
      chart = ch:sub(1, 1) == "/" and ch or ((m.root or ".") .. "/" .. ch)
    end
    files = environments.resolve_values(m, rel.values, "environments." .. env.name .. ".values")
  else
    chart = env.chart
    for i, f in ipairs(env.values or {}) do files[i] = f end
  end
  if chart and fs.exists(chart .. "/values.yaml") then table.insert(files, 1, chart .. "/values.yaml") end
  local out = {}
  for _, f in ipairs(files) do
    local v = yaml.load_file(f)
    if type(v) == "table" then out = environments.merge(out, v) end
  end
  return out
end

--- Run every check of env concurrently. vars: url (default env.url),
-- versions (what was just deployed), values (default: checks.values(env),
-- read when a check uses them). Each result is journalled (type "check")
-- when ctx is given. Returns the results in declaration order.
function M.run(ctx, env, vars)
  vars = vars or {}
  local v = {url = vars.url or env.url, versions = vars.versions or {}, env = env.name, env_table = env,
             values = vars.values, load_values = function() return M.values(env) end}
  local fns = {}
  for i, c in ipairs(env.checks) do
    fns[i] = function()
      local live = progress.begin("check " .. c.name .. " (" .. env.name .. ")")
      local okr, r = pcall(M.run_one, ctx, c, v)
      progress.finish(live)
      if not okr then error(r, 0) end
      r.env = env.name
      if ctx then
        -- a failure names the check's line in slipway.yaml (annotations)
        local line = not r.ok and c.keypath and env.manifest and require("slipway.manifest").line(env.manifest, c.keypath)
        ctx.journal:record{type = "check", env = env.name, name = r.name, ok = r.ok,
                           skipped = r.skipped, detail = r.detail, duration = r.duration,
                           attempts = r.attempts, file = line and env.manifest.path or nil, line = line or nil}
      end
      return r
    end
  end
  if #fns == 0 then return {} end
  return task.all(fns)
end

--- true when every result passed.
function M.passed(results)
  for _, r in ipairs(results) do if not r.ok then return false end end
  return true
end

--- The results as a text table.
function M.table(results, env_name)
  local rows = {{"env", "check", "result", "time", "tries", "detail"}}
  for _, r in ipairs(results) do
    -- names and details come from slipway.yaml and servers: escaped
    rows[#rows + 1] = {core.escape(tostring(r.env or env_name or "")),
                       core.escape(tostring(r.name)), r.skipped and "skip" or r.ok and "ok" or "FAIL",
                       string.format("%.2fs", r.duration or 0), tostring(r.attempts or 1),
                       core.escape(core.redact(tostring(r.detail or "")))}
  end
  local w = {}
  for _, row in ipairs(rows) do
    for i, c in ipairs(row) do w[i] = math.max(w[i] or 0, #c) end
  end
  local out = {}
  for _, row in ipairs(rows) do
    local cells = {}
    for i, c in ipairs(row) do
      cells[i] = i < #row and (c .. string.rep(" ", w[i] - #c)) or c
    end
    out[#out + 1] = table.concat(cells, "  ")
  end
  return table.concat(out, "\n") .. "\n"
end

-- s as XML text: redacted, valid UTF-8 (bad bytes U+FFFD), and every
-- character XML 1.0 cannot hold at all, even escaped (controls other than
-- tab, newline and return; U+FFFE and U+FFFF), as U+FFFD: a detail is what
-- a server answered, and one ANSI colour code made the whole file unreadable
-- to a CI system's strict parser
local function xml(s)
  s = core.utf8(core.redact(tostring(s)))
  s = s:gsub("[%z\1-\8\11\12\14-\31]", "\u{FFFD}"):gsub("\xEF\xBF[\xBE\xBF]", "\u{FFFD}")
  return (s:gsub("[&<>\"']", {["&"] = "&amp;", ["<"] = "&lt;",
    [">"] = "&gt;", ['"'] = "&quot;", ["'"] = "&apos;"}))
end

--- JUnit XML for results grouped by environment: {env_name = results}.
function M.junit(by_env)
  local names = {}
  for n in pairs(by_env) do names[#names + 1] = n end
  table.sort(names)
  local out = {'<?xml version="1.0" encoding="UTF-8"?>', "<testsuites>"}
  for _, n in ipairs(names) do
    local results = by_env[n]
    local failures, skipped, total = 0, 0, 0
    for _, r in ipairs(results) do
      total = total + (r.duration or 0)
      if not r.ok then failures = failures + 1 end
      if r.skipped then skipped = skipped + 1 end
    end
    out[#out + 1] = string.format('  <testsuite name="%s" tests="%d" failures="%d" skipped="%d" time="%.3f">',
      xml(n), #results, failures, skipped, total)
    for _, r in ipairs(results) do
      out[#out + 1] = string.format('    <testcase classname="%s" name="%s" time="%.3f">',
        xml(n), xml(r.name), r.duration or 0)
      if r.skipped then
        out[#out + 1] = string.format('      <skipped message="%s"/>', xml(r.detail or "skipped"))
      elseif not r.ok then
        out[#out + 1] = string.format('      <failure message="%s">%s</failure>',
          xml(r.detail or "failed"), xml(r.detail or "failed"))
      end
      out[#out + 1] = "    </testcase>"
    end
    out[#out + 1] = "  </testsuite>"
  end
  out[#out + 1] = "</testsuites>"
  return table.concat(out, "\n") .. "\n"
end

return M
