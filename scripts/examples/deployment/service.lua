-- The example service: a tiny BinderHub look-alike on slipway's HTTP server.
--
-- Started by the local driver (slipway.yaml: local.command) as
--   slipway service.lua
-- with SLIPWAY_RELEASE (the release description: env, versions, chart,
-- values), SLIPWAY_READY_FILE (where to write our URL once we listen) and
-- SLIPWAY_PORT (0 = any free port) in the environment.
--
-- What it runs is what it was deployed with: the binderhub version comes from
-- the chart's dependencies and the builder image from the merged values,
-- exactly as a real deployment would get them. Whether that version works
-- comes from known-issues.yaml (upstream's release notes, next to this file):
-- a version listed there misbehaves the way the notes say, nothing else.
--
--   GET /                   200, the home page (mentions GitHub)
--   GET /health             200 {"status": "ok", ...} or 503 while starting / broken
--   GET /versions           {"binderhub": ..., "builder": ...} like BinderHub
--   GET /active_hosts       the federation members and their weights
--   GET /user/NAME          424 (no such user), as the hub answers
--   GET /build/PROVIDER/... text/event-stream of launch phases up to "ready",
--                           whose url and token are a started user server's:
--   GET /user/NAME/api      that server's API ({"version"}), with
--                           "Authorization: token TOKEN" (else 403)
--   POST /user/NAME/api/shutdown   stops it (the user is gone afterwards)
local server = require "slipway.server"
local json = require "slipway.json"
local yaml = require "slipway.yaml"
local fs = require "slipway.fs"
local task = require "slipway.task"
local version = require "slipway.version"

local release_path = assert(os.getenv("SLIPWAY_RELEASE"), "SLIPWAY_RELEASE is not set")
local release = json.decode(fs.read(release_path))
local values = release.values or {}
local svc = values.service or {}

local function dig(t, ...)
  for _, k in ipairs{...} do
    if type(t) ~= "table" then return nil end
    t = t[k]
  end
  return t
end

-- the versions we run, from what was deployed
local binderhub_version
for _, d in ipairs(dig(release, "chart", "dependencies") or {}) do
  if d.name == "binderhub" then binderhub_version = d.version end
end
local builder = dig(values, "binderhub", "config", "KubernetesBuildExecutor", "build_image")
local builder_tag = builder and builder:match(":([^:/]+)$")

-- known issues of those versions (the release notes)
local here = (arg and arg[0] or "service.lua"):match("^(.*)/[^/]*$") or "."
local issues = {}
local notes_path = here .. "/known-issues.yaml"
if fs.exists(notes_path) then
  local notes = yaml.load_file(notes_path) or {}
  local function check(component, v, scheme)
    for _, entry in ipairs(notes[component] or {}) do
      local ok, hit = pcall(function()
        return version.constraint(entry.versions, scheme):check(v, true)
      end)
      if ok and hit then
        issues[#issues + 1] = {component = component, version = v, affects = entry.affects,
                               note = entry.note}
      end
    end
  end
  if binderhub_version then check("binderhub", binderhub_version, "semver") end
  if builder_tag then check("repo2docker", builder_tag, {"pep440", "gitdescribe"}) end
end
local function affected(what)
  for _, i in ipairs(issues) do if i.affects == what then return i end end
end

local started = task.now()
local base_url     -- where we listen (set once serving)
local delay = tonumber(svc.startup_delay) or 0
local launch_time = tonumber(svc.launch_time) or 0.2
-- (tests) not healthy / no launch past "fetching" until this file exists
-- ("{revision}" in its name: this release's revision): a rollout or a launch
-- held for as long as a test needs, not for a guess of seconds that a loaded
-- machine may outrun
local hold = type(svc.hold_until) == "table" and svc.hold_until or {}
local function held(what)
  if hold[what] == nil then return false end
  return not fs.exists((tostring(hold[what]):gsub("{revision}", tostring(release.revision))))
end

local function reply(status, body, ctype)
  return {status = status, headers = {["Content-Type"] = ctype or "application/json"}, body = body}
end

-- the user servers launches started: name -> token
local servers, launches = {}, 0

local function user_server(req, name, rest)
  if req.headers["authorization"] ~= "token " .. servers[name] then
    return reply(403, json.encode{message = "Forbidden"})
  end
  if rest == "/api" and req.method == "GET" then
    return reply(200, json.encode{version = "2.14.2"})
  elseif rest == "/api/shutdown" and req.method == "POST" then
    servers[name] = nil
    return reply(200, "")
  end
  return reply(404, json.encode{message = "not found"})
end

local function handler(req)
  local path = req.path
  local user, rest = path:match("^/user/([^/]+)(/.*)$")
  if user and servers[user] then return user_server(req, user, rest) end
  if path == "/" then
    return reply(200, "<html><body><h1>Binder</h1><p>Turn a GitHub repo into a " ..
      "collection of interactive notebooks</p></body></html>", "text/html")
  elseif path == "/health" then
    local bad = affected("health")
    if task.now() - started < delay or held("health") then
      return reply(503, json.encode{status = "starting"})
    elseif bad then
      return reply(503, json.encode{status = "error", checks = {{service = "Hub", ok = false,
        note = bad.note}}})
    end
    return reply(200, json.encode{status = "ok", checks = {{service = "Hub", ok = true},
      {service = "Pod quota", ok = true}}})
  elseif path == "/versions" then
    return reply(200, json.encode{binderhub = binderhub_version or json.null,
                                  builder = builder or json.null})
  elseif path == "/active_hosts" then
    return reply(200, json.encode{[release.env] = {weight = 100,
      url = dig(values, "binderhub", "config", "BinderHub", "badge_base_url") or json.null}})
  elseif path:match("^/user/") then
    return reply(424, json.encode{message = "no such user"})
  elseif path:match("^/build/") then
    -- a launch, streamed as server-sent events while it goes (as BinderHub does)
    return {status = 200, headers = {["Content-Type"] = "text/event-stream",
                                     ["Cache-Control"] = "no-cache"},
      stream = function(write)
        local function ev(t) write("data: " .. json.encode(t) .. "\n\n") end
        ev{phase = "waiting", message = "Waiting for build to start...\n"}
        ev{phase = "fetching", message = "Fetching " .. path:sub(8) .. "\n"}
        while held("launch") do task.sleep(0.02) end
        task.sleep(launch_time / 2)
        ev{phase = "building", message = "Building with " .. tostring(builder) .. "\n"}
        task.sleep(launch_time / 2)
        local bad = affected("launch")
        if bad then
          ev{phase = "failed", message = string.format("%s %s: %s\n", bad.component, bad.version, bad.note)}
        else
          ev{phase = "launching", message = "Launching server...\n"}
          launches = launches + 1
          local name = "example-" .. launches
          servers[name] = string.format("%08x%08x", math.random(0, 0x7fffffff), launches)
          ev{phase = "ready", message = "server running\n", url = base_url .. "/user/" .. name .. "/",
             token = servers[name]}
        end
      end}
  end
  return reply(404, json.encode{message = "not found"})
end

local srv = server.serve{host = "127.0.0.1", port = tonumber(os.getenv("SLIPWAY_PORT") or "0") or 0,
                         handler = handler}
local url = srv:url():gsub("/+$", "")
base_url = url
local ready = os.getenv("SLIPWAY_READY_FILE")
if ready then fs.write(ready, url .. "\n") end
io.stderr:write(string.format("example service: env %s binderhub %s builder %s on %s%s\n",
  tostring(release.env), tostring(binderhub_version), tostring(builder), url,
  #issues > 0 and (" (known issue: " .. issues[1].note .. ")") or ""))
-- serve until SIGTERM
while true do task.sleep(3600) end
