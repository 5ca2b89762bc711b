--- slipway.dashboard: the read-only web page of `slipway dashboard`
-- (docs/dashboard.md).
--
--   local dashboard = require "slipway.dashboard"
--   local d = dashboard.open(ctx)            -- ctx: a read-only playbook context
--   d:overview()                             -- environments + runs, as served
--   d:run(id)                                -- one run: summary + journal records
--   d:health("staging")                      -- GET checks, never journalled
--   local srv <close> = dashboard.serve{ctx = ctx, listen = "127.0.0.1:8470", token = nil}
--
-- Data: the shared record of deploys (slipway.state, the `state:` setting of
-- slipway.yaml, local by default) merged with this machine's journals
-- (STATE_DIR/journal), which add what the record leaves out (commands, HTTP
-- requests, plans, log lines) and show runs that are still going. Nothing
-- here writes: no journal, no record, no file.
--
-- Serving: slipway.server with the page's files embedded in the binary
-- (scripts/slipway/dashboard/www/). Every string served is redacted
-- (journal.clean: registered secrets become ***) and JSON is sent with
-- `<`, `>` and `&` escaped; the page builds its DOM with textContent, and
-- the server's own HTML (the 401 and 404 pages) escapes what it shows. The
-- Host header must name the listen address (DNS rebinding); listening
-- anywhere but loopback needs a token, exchanged once for an HttpOnly,
-- SameSite=Strict cookie.
local core = require "slipway.core"
local fs = require "slipway.fs"
local json = require "slipway.json"
local journal = require "slipway.journal"
local log = require "slipway.log"
local proc = require "slipway.proc"
local server = require "slipway.server"
local state = require "slipway.state"
local task = require "slipway.task"
local checks = require "slipway.checks"
local deploy = require "slipway.deploy"

local M = {}

--- How many runs the overview lists at most.
M.LIMIT = 500

local D = {}
D.__index = D

local function array(t) return json.array(t or {}) end

-- the `state:` setting of slipway.yaml (nil: local)
local function state_cfg(ctx)
  local m = ctx.manifest or {}
  return m.state or (m.raw and m.raw.state)
end

-- what the kubernetes store needs to find each environment's ConfigMap
local function kube_envs(envs)
  local out = {}
  for _, e in ipairs(envs.list) do
    local k = e.kubernetes or {}
    out[e.name] = {namespace = e.namespace or k.namespace or e.name, kubectl = k.kubectl,
                   context = e.context or k.context, env = k.env}
  end
  return out
end

--- dashboard.open(ctx) -> d: the dashboard's data over a read-only context
-- (playbook.context{readonly = true}); loads the environments.
function M.open(ctx)
  deploy.setup(ctx)
  local self = setmetatable({ctx = ctx, envs = ctx.envs, state_dir = ctx.state_dir,
                             host = journal.whoami().host, cache = {}}, D)
  local cfg = state_cfg(ctx)
  local ok, st = pcall(state.open, cfg, {root = ctx.root, state_dir = ctx.state_dir,
    envs = kube_envs(ctx.envs), log = function() end})
  if ok then self.store = st else self.store_error = tostring(type(st) == "table" and st.message or st) end
  return self
end

-- the record, read at most every 2 s (a git store fetches on every read)
function D:record()
  local now = task.now()
  if self.cache.doc_at and now - self.cache.doc_at < 2 then return self.cache.doc, self.cache.doc_err end
  local doc, err = {envs = {}, runs = {}}, self.store_error
  if self.store then
    local ok, d = pcall(self.store.read, self.store)
    if ok then doc = d else err = tostring(type(d) == "table" and d.message or d) end
  end
  self.cache.doc, self.cache.doc_err, self.cache.doc_at = doc, err, now
  return doc, err
end

-- is the run of this journal summary still going on this machine?
function D:live(s)
  if s.finished then return false end
  if s.host and s.host ~= self.host then return false end
  return s.pid ~= nil and proc.alive(s.pid)
end

-- one run for the table, from its journal summary and/or its record summary
local function row(js, rs, live)
  local r = {}
  if rs then
    for _, k in ipairs{"id", "command", "started", "ended", "outcome", "status", "sha", "user",
                       "host", "ci_url", "confirmed_by"} do r[k] = rs[k] end
    r.envs = rs.envs
    r.duration = (type(rs.ended) == "number" and type(rs.started) == "number") and rs.ended - rs.started or nil
    local v = rs.versions or {}
    r.versions_after = v.final
    r.versions_attempted = v.attempted
    if type(rs.revert) == "table" then r.revert = rs.revert end
    for _, st in ipairs(rs.steps or {}) do
      if st.ok == false and not st.skipped then r.failed_step = r.failed_step or st.name end
    end
  end
  if js then
    for _, k in ipairs{"id", "command", "user", "host", "sha", "started", "duration", "outcome",
                       "status", "failed_step", "versions_before", "versions_after", "dry_run",
                       "bad_lines", "torn_line"} do
      if js[k] ~= nil then r[k] = js[k] end
    end
    if #js.envs > 0 or not r.envs then r.envs = js.envs end
    for _, rec in ipairs(js.records or {}) do
      if rec.type == "revert" then
        r.revert = r.revert or {from = rec.from, to = rec.to, commits = rec.commits, why = rec.reason,
                                good = rec.good}
      elseif rec.type == "run" and rec.ci and not r.ci_url then
        r.ci = rec.ci
      elseif rec.type == "deployed" and rec.env and not r.versions_attempted then
        -- the first version a run deployed is what it tried
        r.versions_attempted = rec.versions
      end
    end
    r.journal = true
  end
  r.record = rs ~= nil
  if live then r.outcome = "running" end
  r.envs = array(r.envs)
  return r
end

-- the newest "deployed" record of each environment in the journals
local function journal_deployed(summaries)
  local out = {}
  for _, s in ipairs(summaries) do
    for _, rec in ipairs(s.records or {}) do
      if rec.type == "deployed" and type(rec.env) == "string" and not rec.planned then
        local cur = out[rec.env]
        if not cur or (rec.ts or 0) >= (cur.at or 0) then
          out[rec.env] = {sha = rec.sha, versions = rec.versions, revision = rec.revision,
                          url = rec.url, at = rec.ts, run = rec.run}
        end
      end
    end
  end
  return out
end

-- what runs in env: the newer of the record's `deployed` and the journals'
local function deployed_of(doc, jdep, name)
  local dep = ((doc.envs or {})[name] or {}).deployed
  local jd = jdep[name]
  if jd and (not dep or (jd.at or 0) >= (tonumber(dep.at) or 0)) then dep = jd end
  return dep
end

-- components whose version differs between the production members
local function skew(members)
  local diff = {}
  for i = 1, #members do
    for j = i + 1, #members do
      local a, b = members[i].versions or {}, members[j].versions or {}
      for k, v in pairs(a) do if b[k] ~= v then diff[k] = true end end
      for k, v in pairs(b) do if a[k] ~= v then diff[k] = true end end
    end
  end
  local out = {}
  for k in pairs(diff) do out[#out + 1] = k end
  table.sort(out)
  return out
end

--- d:runs() -> rows newest first (record and journals merged), and the
-- journal summaries they came from.
function D:runs()
  local doc, err = self:record()
  local summaries = journal.runs(self.state_dir, {limit = M.LIMIT})
  local by_id, out = {}, {}
  for _, s in ipairs(summaries) do by_id[s.id] = s end
  local ids, seen = {}, {}
  for id in pairs(doc.runs or {}) do ids[#ids + 1] = id; seen[id] = true end
  for id in pairs(by_id) do if not seen[id] then ids[#ids + 1] = id end end
  for _, id in ipairs(ids) do
    local js = by_id[id]
    out[#out + 1] = row(js, (doc.runs or {})[id], js and self:live(js))
  end
  table.sort(out, function(a, b)
    local sa, sb = tonumber(a.started) or 0, tonumber(b.started) or 0
    if sa ~= sb then return sa > sb end
    return tostring(a.id) > tostring(b.id)
  end)
  while #out > M.LIMIT do out[#out] = nil end
  return out, summaries, doc, err
end

--- d:overview() -> {name, envs = {row...}, runs = {row...}, record = where,
-- record_error, host, generated}: what the front page shows.
function D:overview()
  local runs, summaries, doc, err = self:runs()
  local jdep = journal_deployed(summaries)
  local stages = self.envs.stages or {}
  local prod = {}
  for _, n in ipairs(stages.production or {}) do prod[n] = true end
  local envs, members = {}, {}
  for _, e in ipairs(self.envs.list) do
    local rec = (doc.envs or {})[e.name] or {}
    local dep = deployed_of(doc, jdep, e.name)
    local last
    for _, r in ipairs(runs) do
      for _, n in ipairs(r.envs) do if n == e.name then last = r break end end
      if last then break end
    end
    local ev = {name = e.name, driver = e.driver, experimental = e.experimental or nil,
                role = (stages.staging == e.name and "staging") or (prod[e.name] and "production") or nil,
                deployed = dep, good = rec.good, tested = rec.tested,
                last = last and {id = last.id, command = last.command, outcome = last.outcome,
                                 started = last.started, user = last.user, host = last.host,
                                 ci_url = last.ci_url} or nil,
                checks = #(e.checks or {})}
    envs[#envs + 1] = ev
    if prod[e.name] and dep then members[#members + 1] = {name = e.name, versions = dep.versions} end
  end
  local skewed = skew(members)
  if #skewed > 0 then
    for _, ev in ipairs(envs) do if ev.role == "production" then ev.skew = array(skewed) end end
  end
  return {name = self.ctx.manifest and self.ctx.manifest.name or fs.basename(self.ctx.root),
          envs = array(envs), runs = array(runs), host = self.host, generated = journal.now(),
          record = self.store and self.store:where() or nil, record_error = err}
end

--- d:run(id) -> {summary, records, torn_line, bad_lines, live, journal} or
-- nil: one run by id (or unique prefix), from the journal when this machine
-- has it, else from the record.
function D:run(id)
  if type(id) ~= "string" or not id:match("^[%w._-]+$") then return nil end
  local doc = self:record()
  local path = journal.dir(self.state_dir) .. "/" .. id .. ".jsonl"
  local recs, s
  if fs.isfile(path) then
    local ok, r = pcall(journal.read, path)
    if ok then recs = r; s = journal.summary(r, path) end
  end
  local rs = (doc.runs or {})[id]
  if not recs and not rs then return nil end
  local live = s and self:live(s) or false
  if s then s.records = recs end
  local out = {summary = row(s, rs, live), record = rs, live = live}
  if recs then
    local plain = {}
    for i, r in ipairs(recs) do plain[i] = r end  -- recs also holds .bad and .torn
    out.records = array(plain)
    out.lines = #recs + #(recs.bad or {}) + (recs.torn and 1 or 0)
    out.bad_lines = recs.bad
    out.torn_line = recs.torn and out.lines or nil
  end
  return out
end

--- d:health(name) -> {env, url, results = {{name, ok, detail, duration,
-- skipped}}}: the environment's HTTP checks (`get:`), each tried once, with
-- no context, so nothing is journalled and promote never sees them; launch
-- and lua checks are listed as not run (a launch starts a build, a lua
-- check may do anything). Raises "bad_input" for an unknown environment.
function D:health(name)
  local env = self.envs.by_name[name]
  if not env then error(core.error("bad_input", "no environment " .. tostring(name)), 0) end
  local doc = self:record()
  local runs = journal.runs(self.state_dir, {env = name, limit = 50})
  local dep = deployed_of(doc, journal_deployed(runs), name)
  local url = env.url or (dep and dep.url)
  local vars = {url = url, versions = dep and dep.versions or {}, env = name, env_table = env}
  local fns, results = {}, {}
  for i, c in ipairs(env.checks or {}) do
    if c.kind ~= "http" then
      results[i] = {name = c.name, skipped = true, detail = c.kind == "launch" and
        "not run here: a launch starts a build" or "not run here: a lua check may change things"}
    elseif not url then
      results[i] = {name = c.name, ok = false, detail = "no URL known for " .. name}
    else
      fns[#fns + 1] = function()
        local once = {}
        for k, v in pairs(c) do once[k] = v end
        once.retries, once.deadline = 0, math.min(c.deadline or 15, 15)
        local ok, r = pcall(checks.run_one, nil, once, vars)
        if not ok then r = {name = c.name, ok = false, detail = tostring(type(r) == "table" and r.message or r)} end
        r.attempts, r.kind = nil, nil
        results[i] = r
      end
    end
  end
  if #fns > 0 then task.all(fns) end
  return {env = name, url = url, results = array(results), at = journal.now()}
end

-- ---- serving ------------------------------------------------------------------

local WWW = "slipway/dashboard/www/"
local TYPES = {html = "text/html; charset=utf-8", js = "text/javascript; charset=utf-8",
               css = "text/css; charset=utf-8", svg = "image/svg+xml"}

local SECURITY = {
  ["content-security-policy"] = "default-src 'none'; script-src 'self'; style-src 'self'; " ..
    "img-src 'self' data:; connect-src 'self'; form-action 'self'; base-uri 'none'; frame-ancestors 'none'",
  ["x-content-type-options"] = "nosniff",
  ["referrer-policy"] = "no-referrer",
  ["x-frame-options"] = "DENY",
  ["cache-control"] = "no-store",
}

local function headers(extra)
  local h = {}
  for k, v in pairs(SECURITY) do h[k] = v end
  for k, v in pairs(extra or {}) do h[k] = v end
  return h
end

--- dashboard.html_escape(s) -> s with & < > " ' as character references.
function M.html_escape(s)
  return (tostring(s):gsub("[&<>\"']", {["&"] = "&amp;", ["<"] = "&lt;", [">"] = "&gt;",
                                        ['"'] = "&quot;", ["'"] = "&#39;"}))
end

--- dashboard.json(v) -> JSON text of v with every string redacted and made
-- valid UTF-8 (journal.clean) and `<`, `>`, `&` escaped (\u003c ...), so no
-- served JSON can close a script element or be sniffed as HTML.
function M.json(v)
  return (json.encode(journal.clean(v)):gsub("[<>&]", {["<"] = "\\u003c", [">"] = "\\u003e",
                                                      ["&"] = "\\u0026"}))
end

local function page(status, title, body_html)
  return {status = status, headers = headers{["content-type"] = TYPES.html},
          body = core.redact(table.concat{
            "<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\">",
            "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">",
            "<title>", M.html_escape(title), " · slipway</title>",
            "<link rel=\"stylesheet\" href=\"/static/style.css\"></head><body class=\"plain\">",
            "<header class=\"top\"><a class=\"brand\" href=\"/\">slipway</a></header><main>",
            body_html, "</main></body></html>"})}
end

local function json_response(v, status)
  return {status = status or 200, headers = headers{["content-type"] = "application/json; charset=utf-8"},
          body = M.json(v)}
end

local function static(name)
  local ext = name:match("%.(%w+)$")
  local ok, body = pcall(core.embedded, WWW .. name)
  if not ok or not body or not TYPES[ext] then return nil end
  return {headers = headers{["content-type"] = TYPES[ext]}, body = body}
end

-- "HOST:PORT", "[v6]:PORT" or "PORT" -> host, port
local function parse_listen(s)
  s = tostring(s or "")
  local h, p = s:match("^%[([%x:]+)%]:(%d+)$")
  if not h then h, p = s:match("^([%d.]+):(%d+)$") end
  if not h and s:match("^%d+$") then h, p = "127.0.0.1", s end
  if not h and s:match("^localhost:%d+$") then h, p = "127.0.0.1", s:match(":(%d+)$") end
  p = tonumber(p)
  if not h or not p or p > 65535 then
    error(core.error("usage", "--listen: expected HOST:PORT (a numeric address, [::1]:PORT or PORT), got "
      .. string.format("%q", s)), 0)
  end
  return h, p
end
M.parse_listen = parse_listen

--- dashboard.loopback(host) -> whether a numeric address is a loopback one.
function M.loopback(host)
  return host == "::1" or (host:match("^127%.%d+%.%d+%.%d+$") ~= nil)
end

local function random_hex(n)
  local f = io.open("/dev/urandom", "rb")
  local bytes = f and f:read(n) or nil
  if f then f:close() end
  if not bytes or #bytes < n then error("cannot read /dev/urandom", 0) end
  return (bytes:gsub(".", function(c) return string.format("%02x", c:byte()) end))
end

-- a comparison whose time does not depend on where the strings differ
local function same_secret(a, b)
  if type(a) ~= "string" or type(b) ~= "string" then return false end
  local diff = #a ~ #b
  for i = 1, math.max(#a, #b) do diff = diff | ((a:byte(i) or 0) ~ (b:byte(i) or 0)) end
  return diff == 0
end

local function cookie_of(req, name)
  for part in (req.headers.cookie or ""):gmatch("[^;]+") do
    local k, v = part:match("^%s*([^=%s]+)=(.-)%s*$")
    if k == name then return v end
  end
end

local function form_value(body, name)
  for part in (body or ""):gmatch("[^&]+") do
    local k, v = part:match("^([^=]*)=(.*)$")
    if k == name then
      return (v:gsub("+", " "):gsub("%%(%x%x)", function(h) return string.char(tonumber(h, 16)) end))
    end
  end
end

local COOKIE = "slipway_dashboard"

local LOGIN = [[<section class="card narrow"><h1>Sign in</h1>
<p>This dashboard needs its token (<code>--token</code> or <code>SLIPWAY_DASHBOARD_TOKEN</code>).</p>
<form method="post" action="/login"><label>Token <input type="password" name="token" autocomplete="current-password" autofocus></label>
<button type="submit">Open the dashboard</button></form></section>]]

-- the journal file of a run, "" when it has none here
local function journal_file(d, id)
  local p = journal.dir(d.state_dir) .. "/" .. id .. ".jsonl"
  return fs.isfile(p) and p or nil
end

-- server-sent events: the records of run id's journal as it is written,
-- from record number `from` on; ends with `event: end` when run_end is
-- written or the run's process is gone
local function stream_run(d, id, from)
  local path = journal_file(d, id)
  return function(write)
    if not path then write("event: end\ndata: {}\n\n"); return end
    local f <close> = assert(io.open(path, "rb"))
    local buf, n, idle, offset = "", 0, 0, 0
    local pid, host
    while true do
      -- seek before every read: glibc's end of file is sticky, and the
      -- seek clears it so lines appended since are seen
      f:seek("set", offset)
      local chunk = f:read(65536)
      if chunk and #chunk > 0 then
        idle = 0
        offset = offset + #chunk
        buf = buf .. chunk
        while true do
          local nl = buf:find("\n", 1, true)
          if not nl then break end
          local line = buf:sub(1, nl - 1)
          buf = buf:sub(nl + 1)
          local ok, rec = pcall(json.decode, line)
          if ok and type(rec) == "table" then
            n = n + 1
            if rec.type == "run" then pid, host = rec.pid, rec.host end
            if n > from then write("data: " .. M.json(rec) .. "\n\n") end
            if rec.type == "run_end" then write("event: end\ndata: {}\n\n"); return end
          end
        end
      else
        -- nothing new: is the writer still there?
        if pid and ((host and host ~= d.host) or not proc.alive(pid)) then
          task.sleep(0.3)
          f:seek("set", offset)
          if not f:read(0) then write("event: end\ndata: {\"killed\":true}\n\n"); return end
        end
        idle = idle + 1
        if idle % 50 == 0 then write(": still running\n\n") end
        task.sleep(0.2)
      end
    end
  end
end

-- what changes when a run starts, writes or ends: journal names and sizes,
-- the local record's mtime
local function signature(d)
  local parts = {}
  for _, p in ipairs(journal.paths(d.state_dir)) do
    local ok, st = pcall(fs.stat, p)
    parts[#parts + 1] = p .. ":" .. (ok and st.size or "?")
  end
  local ok, st = pcall(fs.stat, d.state_dir .. "/state.json")
  parts[#parts + 1] = ok and tostring(st.mtime) or "-"
  return table.concat(parts, "\n")
end

local function stream_changes(d)
  return function(write)
    local last = signature(d)
    local ticks = 0
    write("event: hello\ndata: {}\n\n")
    while true do
      task.sleep(0.5)
      ticks = ticks + 1
      local now = signature(d)
      if now ~= last then
        last = now
        d.cache.doc_at = nil
        write("event: changed\ndata: {}\n\n")
      elseif ticks % 20 == 0 then
        write(": idle\n\n")
      end
    end
  end
end

local SSE = {["content-type"] = "text/event-stream; charset=utf-8", ["x-accel-buffering"] = "no"}

--- dashboard.handler(d, opts) -> function(req): the routes of the page
-- (opts: allowed_hosts = {["host:port"] = true} or nil for any, token).
function M.handler(d, opts)
  local token = opts.token
  local session = token and random_hex(24)
  local hosts = opts.allowed_hosts
  return function(req)
    -- DNS rebinding: a page of another name that resolves to loopback
    if hosts and not hosts[(req.headers.host or ""):lower()] then
      return page(421, "Wrong host", "<section class=\"card narrow\"><h1>Wrong host</h1><p>This dashboard " ..
        "answers only to the address it listens on.</p></section>")
    end
    local path = req.path
    if token then
      local given = req.query and req.query.token
      if req.method == "POST" and path == "/login" then given = form_value(req.body, "token") end
      if given ~= nil then
        if not same_secret(given, token) then
          return page(401, "Sign in", "<p class=\"error\">That token is not the dashboard's.</p>" .. LOGIN)
        end
        local to = (req.method == "POST" or path == "/login") and "/" or path
        if not to:match("^/[%w._~/-]*$") then to = "/" end
        return {status = 303, headers = headers{location = to, ["set-cookie"] =
          COOKIE .. "=" .. session .. "; Path=/; HttpOnly; SameSite=Strict"}, body = ""}
      end
      if not same_secret(cookie_of(req, COOKIE), session) then
        if path:sub(1, 5) == "/api/" then return json_response({error = "the dashboard's token is needed"}, 401) end
        return page(401, "Sign in", LOGIN)
      end
    end
    if req.method ~= "GET" and req.method ~= "HEAD" then
      return {status = 405, headers = headers{allow = "GET, HEAD"}, body = "read-only: GET only\n"}
    end
    if path == "/" or path == "/index.html" then return static("index.html") end
    local name = path:match("^/static/([%w_-]+%.%w+)$")
    if name then
      return static(name) or page(404, "Not found", "<h1>Not found</h1>")
    end
    local id = path:match("^/runs/(.+)$")
    if id then
      if d:run(id) then return static("index.html") end
      return page(404, "No such run", "<section class=\"card narrow\"><h1>No such run</h1><p>There is no run <code>" ..
        M.html_escape(id) .. "</code> in the record or in this machine's journals.</p>" ..
        "<p><a href=\"/\">All runs</a></p></section>")
    end
    if path == "/api/overview" then return json_response(d:overview()) end
    if path == "/api/stream" then return {headers = headers(SSE), stream = stream_changes(d)} end
    local api_id, tail = path:match("^/api/runs/([^/]+)(.*)$")
    if api_id and tail == "" then
      local r = d:run(api_id)
      if not r then return json_response({error = "no run " .. api_id}, 404) end
      return json_response(r)
    elseif api_id and tail == "/stream" then
      if not d:run(api_id) then return json_response({error = "no run " .. api_id}, 404) end
      local from = tonumber(req.query.from) or 0
      return {headers = headers(SSE), stream = stream_run(d, api_id, from)}
    end
    local env = path:match("^/api/health/([%w._-]+)$")
    if env then
      if not d.envs.by_name[env] then return json_response({error = "no environment " .. env}, 404) end
      return json_response(d:health(env))
    end
    return page(404, "Not found", "<section class=\"card narrow\"><h1>Not found</h1><p><a href=\"/\">The dashboard</a></p></section>")
  end
end

--- dashboard.serve{ctx, listen = "127.0.0.1:0", token} -> srv, d: serve
-- the dashboard of ctx's deployment. A listen address that is not loopback
-- needs a token (a "usage" error otherwise). The token is registered as a
-- secret (never in a log line). srv.url is the address to open.
function M.serve(opts)
  local host, port = parse_listen(opts.listen or "127.0.0.1:0")
  local token = opts.token
  if token == "" then token = nil end
  if not M.loopback(host) and not token then
    error(core.error("usage", "listening on " .. host .. " (not loopback) needs a token: " ..
      "--token or SLIPWAY_DASHBOARD_TOKEN"), 0)
  end
  if token then log.secret(token) end
  local d = opts.data or M.open(opts.ctx)
  local hosts
  local srv
  local h = M.handler(d, {token = token, allowed_hosts = setmetatable({}, {__index = function(_, k)
    return hosts and hosts[k] end})})
  srv = server.serve{host = host, port = port, handler = h, log = false}
  local p = srv.port
  if M.loopback(host) or not token then
    hosts = {["127.0.0.1:" .. p] = true, ["localhost:" .. p] = true, ["[::1]:" .. p] = true,
             [(host:find(":") and ("[" .. host .. "]") or host) .. ":" .. p] = true}
  else
    -- elsewhere the token is what keeps other pages out: any name may reach it
    hosts = setmetatable({}, {__index = function() return true end})
  end
  srv.url = srv:url("/")
  return srv, d
end

return M
