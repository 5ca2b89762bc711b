-- slipway dashboard, end to end: the example deployment in a temporary git
-- repository (a green deploy, then a broken bump that is reverted), the real
-- dashboard process, the real curl for HTTP-level checks, and Debian's
-- headless chromium driven over the DevTools protocol by playwright-core
-- (tests/tools/dashboard-browser.cjs) for what a person sees. Screenshots go
-- to build/dashboard-shots/ (SLIPWAY_SHOTS).
local T = require "slipway.testing"
local D = require "deploytest"
local S = require "standin"
local fs = require "slipway.fs"
local json = require "slipway.json"
local proc = require "slipway.proc"
local task = require "slipway.task"
local dashboard = require "slipway.dashboard"

local SRC = os.getenv("SLIPWAY_SRC") or "."
local BROKEN = "1.0.0-0.dev.git.3601.h0b4d0b4d"  -- known-issues.yaml: launches fail
local GOOD = "1.0.0-0.dev.git.3503.ha8a2e19"
local SCRIPT = "released <script>document.body.dataset.pwned='1'</script> & done"
local SHOTS = os.getenv("SLIPWAY_SHOTS") or
  ((os.getenv("SLIPWAY_BIN") and fs.dirname(os.getenv("SLIPWAY_BIN")) or "build") .. "/dashboard-shots")

-- ---- the browser -------------------------------------------------------------

local browser_why
-- node_modules holding playwright-core, or nil and why not
local function driver()
  if browser_why then return nil, browser_why end
  if not fs.isfile("/usr/bin/chromium") then
    browser_why = "/usr/bin/chromium is missing (vendor: chromium)"; return nil, browser_why
  end
  if not proc.which("node") then browser_why = "node is missing"; return nil, browser_why end
  local ok, r = pcall(proc.run, {"sh", SRC .. "/tests/tools/get-playwright"}, {check = false, timeout = 300, echo = false})
  if not ok or r.code ~= 0 then
    browser_why = "tests/tools/get-playwright failed: " .. (ok and r.stderr or tostring(r))
    return nil, browser_why
  end
  return (r.stdout:gsub("%s+$", ""))
end

-- Run the browser script; on_event(ev) is called with each JSON line as it
-- comes. Returns the events by name (the last of each) and the list.
local function browse(env, on_event)
  local mods = assert(driver())
  fs.mkdir(SHOTS)
  local e = {PLAYWRIGHT_DIR = mods, SHOTS = SHOTS, HOME = os.getenv("HOME") or "/root",
             PATH = os.getenv("PATH")}
  for k, v in pairs(env) do e[k] = v end
  local h = proc.spawn({"node", SRC .. "/tests/tools/dashboard-browser.cjs"},
    {env = e, clear_env = true, stdout = "capture", stderr = "capture", stdin = "null", echo = false,
     check = false})
  local by, all = {}, {}
  for line in h:lines("stdout") do
    local ok, ev = pcall(json.decode, line)
    if ok and type(ev) == "table" and ev.event then
      by[ev.event] = ev
      all[#all + 1] = ev
      if on_event then on_event(ev) end
    end
  end
  local res = h:wait()
  if by.error or res.code ~= 0 then
    error("the browser script failed (exit " .. tostring(res.code) .. "): " ..
      tostring(by.error and by.error.message) .. "\n" .. tostring(res.stderr), 0)
  end
  return by, all
end

-- ---- the dashboard process -----------------------------------------------------

-- start `slipway dashboard ARGS` in dir; returns the handle and its URL
local function start(dir, args, env)
  local argv = {D.BIN, "dashboard", "--listen", "127.0.0.1:0"}
  for _, a in ipairs(args or {}) do argv[#argv + 1] = a end
  local e = {NO_COLOR = "1"}
  for k, v in pairs(env or {}) do e[k] = v end
  local h = proc.spawn(argv, {cwd = dir, env = e, stdin = "null", stdout = "capture", stderr = "capture",
                             echo = false, check = false})
  for line in h:lines("stdout") do
    local url = line:match("(http://%S+/)")
    if url then return h, url end
  end
  local res = h:wait()
  error("the dashboard did not start: " .. tostring(res.stderr), 0)
end

local function stop(h)
  pcall(h.kill, h, "TERM")
  return h:wait()
end

-- curl: status, headers and body of a request
local function curl(url, opts)
  opts = opts or {}
  local argv = {"curl", "-s", "-i", "--max-time", "30"}
  for _, hd in ipairs(opts.headers or {}) do argv[#argv + 1] = "-H"; argv[#argv + 1] = hd end
  if opts.data then argv[#argv + 1] = "--data-raw"; argv[#argv + 1] = opts.data end
  if opts.method then argv[#argv + 1] = "-X"; argv[#argv + 1] = opts.method end
  argv[#argv + 1] = url
  local r = proc.run(argv, {check = false, echo = false, timeout = 40})
  local head, body = r.stdout:match("^(.-)\r\n\r\n(.*)$")
  head = head or r.stdout
  return {status = tonumber(head:match("^HTTP/%S+ (%d+)")), head = head, body = body or "",
          header = function(name) return head:match("\n" .. name .. ": ([^\r\n]*)") end}
end

-- every file of the repository (not .git) and of its state directory
local function snapshot(dir) return D.snapshot(dir) end

local function outcome_of(recs)
  for _, r in ipairs(recs) do if r.type == "run_end" then return r.outcome end end
end

local function ids_by_outcome(dir)
  local out = {}
  for _, j in ipairs(D.journals(dir, true)) do
    local o = outcome_of(j.records)
    if o then out[o] = j.records[1].run end
  end
  return out
end

-- a journal torn by a crash: a bad line in the middle, a cut last line
local function torn_journal(dir)
  local id = "20200101T000000.000Z-dead"
  local t = os.time() - 7200
  local lines = {
    json.encode{type = "run", run = id, ts = t, command = "stage", user = "night", host = "elsewhere", pid = 1, sha = string.rep("ab", 20)},
    json.encode{type = "step_start", run = id, ts = t + 1, step = "stage"},
    '{"type": "log", "run": "' .. id .. '", "ts": ',
    json.encode{type = "step_end", run = id, ts = t + 3, step = "stage", ok = true, duration = 2},
    json.encode{type = "step_start", run = id, ts = t + 3, step = "test"},
    '{"type": "check", "run": "' .. id .. '", "ts": ' .. (t + 4) .. ', "env": "staging", "name": "ho',
  }
  fs.write(dir .. "/.slipway/journal/" .. id .. ".jsonl", table.concat(lines, "\n"))
  return id
end

-- the example deployment with a check that waits while HOLD exists and
-- reports a detail holding <script> (shown as text, never run)
local function example(hold)
  return D.repo(function(dir)
    local p = dir .. "/slipway.yaml"
    fs.write(p, (fs.read(p):gsub("    checks: &checks\n",
      "    checks: &checks\n      - {name: held, lua: tests/held.lua, deadline: 600}\n", 1)))
    fs.write(dir .. "/tests/held.lua", string.format([[
local fs = require "slipway.fs"
local task = require "slipway.task"
while fs.exists(%q) do task.sleep(0.05) end
return %q
]], hold, SCRIPT))
  end)
end

local function find(list, pred)
  for _, x in ipairs(list or {}) do if pred(x) then return x end end
end

-- ---- the specs ------------------------------------------------------------------

T.test("listen addresses: loopback needs no token, elsewhere does", function()
  T.eq({dashboard.parse_listen("127.0.0.1:0")}, {"127.0.0.1", 0})
  T.eq({dashboard.parse_listen("[::1]:8470")}, {"::1", 8470})
  T.eq({dashboard.parse_listen("9000")}, {"127.0.0.1", 9000})
  T.raises(function() dashboard.parse_listen("example.org:80") end, "HOST:PORT")
  T.raises(function() dashboard.parse_listen("127.0.0.1:99999") end, "HOST:PORT")
  T.truthy(dashboard.loopback("127.0.0.1")); T.truthy(dashboard.loopback("::1"))
  T.falsy(dashboard.loopback("0.0.0.0")); T.falsy(dashboard.loopback("10.0.0.1"))
  T.eq(dashboard.html_escape([[<a href="x">'&']]), "&lt;a href=&quot;x&quot;&gt;&#39;&amp;&#39;")
  local j = dashboard.json({detail = "</script><b>&"})
  T.nomatch(j, "[<>&]")
  T.eq(json.decode(j).detail, "</script><b>&")
end)

T.test("the example deployment: runs, reverts, a live run, in chromium; HTTP-level guards; nothing written", function()
  local hold = fs.tempdir() .. "/hold"
  local dir = example(hold)
  local ok, err = xpcall(function()
    local r = D.slipway(dir, {"deploy"})
    T.eq(r.code, 0, "green deploy\n" .. r.stderr)
    D.commit_edit(dir, "mybinder/Chart.yaml", GOOD, BROKEN, "Bump binderhub to 3601")
    r = D.slipway(dir, {"deploy"})
    T.eq(r.code, 3, "the broken bump is reverted\n" .. r.stderr)
    local ids = ids_by_outcome(dir)
    T.truthy(ids.success and ids.reverted, "both runs journalled")
    local torn = torn_journal(dir)

    local before = snapshot(dir)
    local h, url = start(dir)
    local port = url:match(":(%d+)/")

    -- HTTP level (curl): Host check, 404s, escaping, read-only methods
    local c = curl(url)
    T.eq(c.status, 200)
    T.match(c.header("content%-security%-policy") or "", "script%-src 'self'")
    T.eq(curl(url, {headers = {"Host: attacker.example:" .. port}}).status, 421, "DNS rebinding refused")
    T.eq(curl(url, {headers = {"Host: 127.0.0.1:1"}}).status, 421, "another port is another host")
    T.eq(curl(url, {headers = {"Host: localhost:" .. port}}).status, 200)
    local nf = curl(url .. "runs/no-such-run%3Cscript%3Ealert(1)%3C%2Fscript%3E")
    T.eq(nf.status, 404)
    T.match(nf.body, "No such run")
    T.match(nf.body, "no%-such%-run&lt;script&gt;", "the id is shown escaped")
    T.nomatch(nf.body, "<script>alert")
    T.eq(curl(url .. "api/runs/nope").status, 404)
    T.eq(curl(url .. "api/overview", {method = "POST", data = "x=1"}).status, 405)
    T.eq(curl(url .. "api/overview", {method = "DELETE"}).status, 405)
    local ov = curl(url .. "api/overview")
    T.match(ov.header("content%-type"), "application/json")
    local data = json.decode(ov.body)
    T.eq(#data.envs, 3)
    local tr = curl(url .. "api/runs/" .. torn)
    T.eq(tr.status, 200, "a torn journal is served")
    local td = json.decode(tr.body)
    T.eq(td.bad_lines, {3}); T.eq(td.torn_line, 6)
    T.eq(#td.records, 4, "what can be read")

    -- the browser: the runs, the reverted versions, each environment, health
    if not driver() then
      print("skipped: the browser part (" .. select(2, driver()) .. ")")
    else
      local ev = browse({DASH_URL = url, SHOT_PREFIX = "local-", HEALTH = "staging",
                         RUNS = table.concat({ids.reverted, ids.success, torn}, ",")})
      local o = ev.overview
      T.eq(#o.envs, 3)
      for _, e in ipairs(o.envs) do
        T.eq(e.driver, "local")
        T.match(e.versions, "binderhub%s+" .. GOOD:gsub("%p", "%%%0"), e.name .. " runs the good version")
      end
      local green = T.truthy(find(o.runs, function(x) return x.id == ids.success end), "the green run is listed")
      T.eq(green.outcome, "success")
      local rev = T.truthy(find(o.runs, function(x) return x.id == ids.reverted end), "the reverted run is listed")
      T.eq(rev.outcome, "reverted")
      T.match(rev.versions, "tried%s+binderhub%s+" .. BROKEN:gsub("%p", "%%%0"))
      T.match(rev.versions, "reverted to%s+binderhub%s+" .. GOOD:gsub("%p", "%%%0"))
      local tornrow = T.truthy(find(o.runs, function(x) return x.id == torn end))
      T.match(tornrow.text, "journal partly unreadable")
      T.match(ev.health.text, "health")
      T.nomatch(ev.health.text, "launch:", "a launch is never run from the dashboard")
      T.match(ev.health.text, "launch %(not run%)")
      local runs = {}
      for _, x in ipairs(select(2, browse({DASH_URL = url, SHOT_PREFIX = "local-",
          RUNS = table.concat({ids.reverted, torn}, ",")}))) do
        if x.event == "run" then runs[x.id] = x end
      end
      local rp = runs[ids.reverted]
      T.eq(rp.outcome, "reverted")
      T.match(rp.revert, "Tried binderhub " .. BROKEN:gsub("%p", "%%%0"))
      T.match(rp.text, "launch")
      T.truthy(find(rp.steps, function(s) return s.name == "test" and s.state == "bad" end), "test failed")
      T.truthy(rp.cmds > 0, "commands listed")
      local tp = runs[torn]
      T.match(tp.torn, "line 3 unreadable")
      T.match(tp.torn, "line 6 torn")
      T.truthy(find(tp.steps, function(s) return s.name == "stage" and s.state == "ok" end), "what can be read is shown")
      T.eq(ev.console.errors, {}, "no console errors")
    end
    T.eq(snapshot(dir), before, "the dashboard wrote nothing")

    -- live: `slipway test staging`, held in its checks streams into its page
    if driver() then
      fs.write(hold, "held")
      local deploy_h
      local ev = browse({DASH_URL = url, SHOT_PREFIX = "local-", LIVE = "1"}, function(e)
        if e.event == "ready-for-live" then
          deploy_h = D.spawn(dir, {"deploy"})
        elseif e.event == "live-steps" then
          -- seen while running: stage done, test under way; now let it finish
          fs.remove(hold)
        end
      end)
      local res = deploy_h:wait()
      T.eq(res.code, 0, "the live deploy")
      local live = ev["live-steps"]
      T.truthy(find(live.steps, function(s) return s.name == "stage" and s.state == "ok" end), "stage shown done while running")
      T.truthy(find(live.steps, function(s) return s.name == "test" and s.state == "running" end), "test shown running")
      T.eq(live.outcome, "running")
      local ended = ev["live-ended"]
      T.eq(ended.outcome, "success")
      T.truthy(ended.streamed > 0, "records arrived over the event stream")
      local held = T.truthy(find(ended.checks, function(row) return row[2] == "held" end), "the held check")
      T.eq(held[6], SCRIPT, "a journal line holding <script> is shown as text")
      T.eq(ended.pwned, json.null, "and never run")
      T.eq(ended.scripts_in_main, 0)
      local after = ev["overview-after"]
      T.truthy(find(after.envs, function(e) return e.name == "staging" and e.last_run == live.id end),
        "the environments table moved on by itself")
      T.eq(ev.console.errors, {}, "no console errors")
    else
      print("skipped: the live browser part (" .. select(2, driver()) .. ")")
    end
    stop(h)
  end, debug.traceback)
  pcall(fs.remove, hold)
  local okc, cerr = pcall(D.cleanup, dir)
  if not ok then error(err, 0) end
  if not okc then error(cerr, 0) end
end, {timeout = 600})

T.test("a token off loopback: 401 without it, exchanged once for an HttpOnly cookie, never logged", function()
  local dir = D.repo()
  local token = "tok-" .. string.rep("7", 20)
  -- 0.0.0.0 is every address, loopback included: the test talks to 127.0.0.1
  local r = D.slipway(dir, {"dashboard", "--listen", "0.0.0.0:0"})
  T.eq(r.code, 2, "elsewhere without a token is a usage error")
  T.match(r.stderr, "needs a token")
  local h, url = start(dir, {"--listen", "0.0.0.0:0"}, {SLIPWAY_DASHBOARD_TOKEN = token})
  T.nomatch(url, "tok")
  T.eq(curl(url).status, 401)
  T.match(curl(url).body, "<form method=\"post\" action=\"/login\">")
  T.eq(curl(url .. "api/overview").status, 401)
  T.eq(curl(url .. "api/stream").status, 401)
  T.eq(curl(url .. "?token=wrong").status, 401)
  local ex = curl(url .. "runs/x?token=" .. token)
  T.eq(ex.status, 303)
  T.eq(ex.header("location"), "/runs/x", "the token is stripped from the address")
  local cookie = ex.header("set%-cookie")
  T.match(cookie, "HttpOnly"); T.match(cookie, "SameSite=Strict")
  T.nomatch(cookie, token, "the cookie is not the token")
  local pair = cookie:match("^([^;]+)")
  T.eq(curl(url .. "api/overview", {headers = {"Cookie: " .. pair}}).status, 200)
  local login = curl(url .. "login", {data = "token=" .. token})
  T.eq(login.status, 303)
  T.eq(login.header("location"), "/")
  T.eq(curl(url .. "api/overview", {headers = {"Cookie: slipway_dashboard=forged"}}).status, 401)
  local res = stop(h)
  T.nomatch(res.stdout .. res.stderr, token, "the token is never logged")
end, {timeout = 120})

-- the kubernetes driver under the recording stand-in (tests/standin: the
-- named stand-in for kubectl and the API server; helm is real)
T.test("a kubernetes-driver environment under the recording stand-in, in chromium", function()
  local helm, why = S.helm()
  if not helm then T.skip(why) end
  local k = S.new()
  local url0, stop_repo = S.chart_repo(helm, k.env)
  local dir = S.deployment(url0)
  local hold = fs.tempdir() .. "/hold"
  local yaml = require "slipway.yaml"
  fs.write(dir .. "/slipway.yaml", yaml.dump({name = "k8s-dashboard",
    components = {binderhub = {scheme = "semver", source = {git = {url = "https://github.com/jupyterhub/binderhub"}},
      locations = {{file = "mybinder/Chart.yaml", path = "dependencies[name=binderhub].version"}}}},
    environments = {staging = {
    driver = "kubernetes", chart = "mybinder", values = {"config/staging.yaml"},
    checks = {{name = "held", lua = "held.lua", deadline = 600}},
    kubernetes = {helm = k.helm, kubectl = k.kubectl, env = k.env}}}}))
  fs.write(dir .. "/held.lua", string.format("local fs = require 'slipway.fs'\nlocal task = require 'slipway.task'\n" ..
    "while fs.exists(%q) do task.sleep(0.05) end\nreturn %q\n", hold, SCRIPT))
  fs.write(dir .. "/.gitignore", ".slipway/\nmybinder/charts/\nmybinder/Chart.lock\n")
  D.git(dir, "init", "-q", "-b", "main"); D.git(dir, "add", "-A"); D.git(dir, "commit", "-q", "-m", "initial")
  local ok, err = xpcall(function()
    local r = D.slipway(dir, {"stage", "staging"})
    T.eq(r.code, 0, r.stderr)
    k:set{outcome = "rollout-timeout:hub"}
    D.commit_edit(dir, "config/staging.yaml", "pod_quota: 20", "pod_quota: 21", "A change whose rollout times out")
    r = D.slipway(dir, {"stage", "staging"})
    T.ne(r.code, 0, "the rollout timed out")
    k:set{outcome = "success"}
    local ids = {}
    for _, j in ipairs(D.journals(dir, true)) do ids[#ids + 1] = {j.records[1].run, outcome_of(j.records)} end
    T.eq(#ids, 2)
    local before = snapshot(dir)
    local h, url = start(dir)
    T.eq(curl(url .. "runs/" .. ids[1][1]).status, 200)
    if not driver() then
      print("skipped: the browser part (" .. select(2, driver()) .. ")")
      stop(h)
      return
    end
    local ev = browse({DASH_URL = url, SHOT_PREFIX = "k8s-", RUNS = ids[1][1] .. "," .. ids[2][1]})
    local env = T.truthy(find(ev.overview.envs, function(e) return e.name == "staging" end))
    T.eq(env.driver, "kubernetes")
    T.match(env.versions, "binderhub")
    for _, x in ipairs(ids) do
      local row = T.truthy(find(ev.overview.runs, function(y) return y.id == x[1] end), "run listed")
      T.eq(row.outcome, x[2])
    end
    T.eq(ev.console.errors, {})
    T.eq(snapshot(dir), before, "the dashboard wrote nothing")
    -- live: `slipway test staging`, held in its check
    fs.write(hold, "held")
    local th
    ev = browse({DASH_URL = url, SHOT_PREFIX = "k8s-", LIVE = "1"}, function(e)
      if e.event == "ready-for-live" then th = D.spawn(dir, {"test", "staging"})
      elseif e.event == "live-steps" then fs.remove(hold) end
    end)
    th:wait()
    T.truthy(find(ev["live-steps"].steps, function(s) return s.state == "running" end), "a step shown running")
    T.eq(ev["live-ended"].outcome, "success")
    T.truthy(ev["live-ended"].streamed > 0, "records arrived over the event stream")
    T.eq(ev.console.errors, {})
    stop(h)
  end, debug.traceback)
  pcall(fs.remove, hold)
  stop_repo()
  if not ok then error(err, 0) end
end, {timeout = 600})

T.run()
