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
-- timeout (seconds per request, default 10). String values may use
-- {{versions.NAME}}, {{url}} and {{env}}.
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
              interval = true, deadline = true, timeout = true, description = true}

local function fail(m, kp, msg)
  raise("manifest", string.format("%s: %s: %s", (m and m.path) or "slipway.yaml", kp, msg))
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
    if n.kind == "http" then
      n.status = c.status or 200
      if math.type(n.status) ~= "integer" then fail(m, w .. ".status", "must be an HTTP status") end
      if c.json ~= nil and type(c.json) ~= "table" then fail(m, w .. ".json", "must map paths to values") end
      for jp in pairs(c.json or {}) do
        local bad = spath.check(tostring(jp))
        if bad then fail(m, w .. ".json." .. tostring(jp), bad) end
      end
    elseif n.kind == "launch" then
      n.phase = c.phase or "ready"
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

local function template(s, vars)
  if type(s) ~= "string" then return s end
  return (s:gsub("{{%s*([%w_.%-]+)%s*}}", function(k)
    local v = vars
    for part in k:gmatch("[^.]+") do
      if type(v) ~= "table" then v = nil; break end
      v = v[part]
    end
    if v == nil then return "{{" .. k .. "}}" end
    return tostring(v)
  end))
end
M.template = template

local function join_url(base, path)
  if path:match("^https?://") then return path end
  if not base then raise("check", "the environment has no URL for " .. path) end
  return base .. (path:sub(1, 1) == "/" and "" or "/") .. path
end

local function json_path(v, path)
  return (spath.get(v, path))
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
local function get(ctx, url, opts)
  opts = opts or {}
  local req = {method = "GET", url = url, headers = opts.headers, timeout = opts.timeout,
               retries = 0}
  if ctx then return ctx:request(req) end
  return require("slipway.http").request(req)
end

-- one attempt: returns ok, detail
local function attempt_http(ctx, c, vars)
  local url = join_url(vars.url, template(c.get, vars))
  local res = get(ctx, url, {headers = c.headers, timeout = c.timeout})
  if res.status ~= c.status then
    return false, string.format("GET %s: status %d, expected %d", c.get, res.status, c.status)
  end
  if c.contains and not (res.body or ""):find(template(c.contains, vars), 1, true) then
    return false, string.format("GET %s: body does not contain %q", c.get, template(c.contains, vars))
  end
  if c.json then
    local ok, doc = pcall(require("slipway.json").decode, res.body or "")
    if not ok then return false, "GET " .. c.get .. ": body is not JSON" end
    local keys = {}
    for k in pairs(c.json) do keys[#keys + 1] = k end
    table.sort(keys)
    for _, k in ipairs(keys) do
      local want = c.json[k]
      if type(want) == "string" then want = template(want, vars) end
      local got = json_path(doc, k)
      if got ~= want and not (type(want) ~= "table" and tostring(got) == tostring(want)
                              and type(got) ~= "table") then
        return false, string.format("GET %s: %s is %s, expected %s", c.get, k, show(got), show(want))
      end
    end
  end
  return true, string.format("GET %s: %d", c.get, res.status)
end

-- a launch: read the event stream as it arrives (http.stream, server-sent
-- events) until the phase; stops reading as soon as it is reached
local function attempt_launch(ctx, c, vars)
  local http = require "slipway.http"
  local url = join_url(vars.url, template(c.launch, vars))
  local t0 = task.now()
  local last, verdict, detail
  local ok, err = pcall(function()
    for ev in http.stream(url, {headers = {Accept = "text/event-stream"}, timeout = c.deadline,
                                idle_timeout = c.deadline, mode = "sse", retries = 0}) do
      local okj, data = pcall(ev.json, ev)
      if okj and type(data) == "table" and data.phase then
        last = data
        if data.phase == c.phase then
          verdict, detail = true, string.format("launch reached phase %s", c.phase)
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
  if verdict ~= nil then return verdict, (detail:gsub("%s+$", "")) end
  return false, string.format("launch ended in phase %s, never %s",
    last and tostring(last.phase) or "(none)", c.phase)
end

local function attempt_lua(ctx, c, vars)
  local root = (ctx and ctx.root) or "."
  local path = c.lua:sub(1, 1) == "/" and c.lua or (root .. "/" .. c.lua)
  local chunk, err = loadfile(path, "t")
  if not chunk then raise("check", tostring(err)) end
  local t = {url = vars.url, versions = vars.versions, env = vars.env_table, ctx = ctx,
             get = function(p, o) return get(ctx, join_url(vars.url, p), o) end}
  local r = chunk(t)
  return true, type(r) == "string" and r or ("lua " .. c.lua .. ": ok")
end

local ATTEMPT = {http = attempt_http, launch = attempt_launch, lua = attempt_lua}

--- Run one check with its retries and deadline: {name, ok, detail,
-- duration, attempts}.
function M.run_one(ctx, c, vars)
  local t0 = task.now()
  local deadline = t0 + c.deadline
  local r = {name = c.name, kind = c.kind, attempts = 0}
  while true do
    r.attempts = r.attempts + 1
    local left = deadline - task.now()
    local ok, a, b = pcall(task.timeout, math.max(left, 0.001), ATTEMPT[c.kind], ctx, c, vars)
    if not ok and type(a) == "table" and a.code == "cancelled" then error(a, 0) end
    if ok then r.ok, r.detail = a, b
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

--- Run every check of env concurrently. vars: url (default env.url),
-- versions (what was just deployed). Each result is journalled (type
-- "check") when ctx is given. Returns the results in declaration order.
function M.run(ctx, env, vars)
  vars = vars or {}
  local v = {url = vars.url or env.url, versions = vars.versions or {}, env = env.name, env_table = env}
  local fns = {}
  for i, c in ipairs(env.checks) do
    fns[i] = function()
      local live = progress.begin("check " .. c.name .. " (" .. env.name .. ")")
      local okr, r = pcall(M.run_one, ctx, c, v)
      progress.finish(live)
      if not okr then error(r, 0) end
      r.env = env.name
      if ctx then
        ctx.journal:record{type = "check", env = env.name, name = r.name, ok = r.ok,
                           detail = r.detail, duration = r.duration, attempts = r.attempts}
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
                       core.escape(tostring(r.name)), r.ok and "ok" or "FAIL",
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

local function xml(s)
  return (core.redact(tostring(s)):gsub("[&<>\"']", {["&"] = "&amp;", ["<"] = "&lt;",
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
    local failures, total = 0, 0
    for _, r in ipairs(results) do
      total = total + (r.duration or 0)
      if not r.ok then failures = failures + 1 end
    end
    out[#out + 1] = string.format('  <testsuite name="%s" tests="%d" failures="%d" time="%.3f">',
      xml(n), #results, failures, total)
    for _, r in ipairs(results) do
      out[#out + 1] = string.format('    <testcase classname="%s" name="%s" time="%.3f">',
        xml(n), xml(r.name), r.duration or 0)
      if not r.ok then
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
