-- A FAKE of mybinder.org's public services on 127.0.0.1 (slipway.server),
-- answering in the shapes the real ones do, for the checks specs. Four
-- servers, as the real hosts are four:
--
--   binder      BinderHub: GET / (the home page, mentions GitHub), /health
--               ({"ok", "checks": [{service, ok}...]}, 503 when not ok),
--               /versions ({"builder_info": {"build_image"}, "binderhub":
--               its Python package version}), /build/PROVIDER/SPEC (an event
--               stream up to {"phase": "ready", "url": HUB/user/NAME/, "token"})
--   hub         JupyterHub: /hub/api/health, /user/NAME/api (the started
--               server's API, {"version"}: needs "Authorization: token T"),
--               POST /user/NAME/api/shutdown (stops it), /user/doesntexist
--               424 and /other/... 404, both "Binder not found"
--   federation  the federation redirector: /active_hosts ({"active_hosts":
--               {...}}, images/federation-redirect/app.py), / proxied from
--               the prime (<div id="root"></div>)
--   static      /badge.svg, /badge_logo.svg
--
--   local fake = require("fakebinder").start{build_image = "quay.io/...:2025.1.0"}
--   fake.binder_url, fake.hub_url, fake.federation_url, fake.static_url
--   fake.api_status = 500          -- knobs: api_status, shutdown_status,
--                                  -- launch_phase, binderhub_version, build_image, healthy
--   fake:running()                 -- names of the servers started and not stopped
--   fake.log                       -- "SERVER METHOD PATH" of every request, in order
--   fake.repos["org/repo"] = URL  -- builds of it need the ref there (git ls-remote); fake.built lists them
--   fake:close()
local server = require "slipway.server"
local json = require "slipway.json"

local F = {}

local function reply(status, body, ctype)
  return {status = status, headers = {["Content-Type"] = ctype or "application/json"}, body = body}
end

function F.start(opts)
  opts = opts or {}
  local fake = {build_image = opts.build_image or "quay.io/jupyterhub/repo2docker:2025.08.0",
                binderhub_version = opts.binderhub_version or "1.0.0.dev0",
                api_status = 200, shutdown_status = 200, launch_phase = "ready", healthy = true,
                servers = {}, tokens = {}, log = {}, repos = {}, built = {}, launches = 0, stops = 0}
  local srvs = {}
  local function serve(name, handler)
    srvs[name] = server.serve{host = "127.0.0.1", port = 0, handler = function(req)
      fake.log[#fake.log + 1] = name .. " " .. req.method .. " " .. req.path
      return handler(req)
    end}
    fake[name .. "_url"] = srvs[name]:url():gsub("/+$", "")
  end

  serve("binder", function(req)
    local p = req.path
    if p == "/" then
      return reply(200, "<html><body>Turn a GitHub repo into a collection of interactive notebooks</body></html>",
        "text/html")
    elseif p == "/health" then
      local checks = {{service = "Hub", ok = fake.healthy}, {service = "Pod quota", ok = true,
                      total_pods = 3, quota = 100}}
      return reply(fake.healthy and 200 or 503, json.encode{ok = fake.healthy, checks = checks})
    elseif p == "/versions" then
      return reply(200, json.encode{builder_info = {build_image = fake.build_image},
                                    binderhub = fake.binderhub_version})
    elseif p:match("^/build/") then
      -- a repository the fake knows (fake.repos[ORG/REPO] = a git URL) builds
      -- only a ref that is there, as BinderHub resolves it first
      local spec, ref = p:match("^/build/gh/(.+)/([^/]+)$")
      local remote = spec and fake.repos[spec]
      if remote then
        local r = require("slipway.proc").run({"git", "ls-remote", remote, "refs/heads/" .. ref},
          {check = false, echo = false})
        if r.stdout == "" then
          return {status = 200, headers = {["Content-Type"] = "text/event-stream"}, stream = function(write)
            write("data: " .. json.encode{phase = "failed", message = "Could not resolve ref " .. ref .. "\n"} .. "\n\n")
          end}
        end
        fake.built[#fake.built + 1] = spec .. "@" .. ref
      end
      return {status = 200, headers = {["Content-Type"] = "text/event-stream"}, stream = function(write)
        local function ev(t) write("data: " .. json.encode(t) .. "\n\n") end
        ev{phase = "waiting", message = "Waiting for build to start...\n"}
        ev{phase = "built", message = "Found built image, launching...\n", imageName = fake.build_image}
        if fake.launch_phase ~= "ready" then
          ev{phase = fake.launch_phase, message = "Launch attempt 1 failed, retrying...\n"}
          return
        end
        fake.launches = fake.launches + 1
        local name = "binder-examples-requirements-" .. fake.launches
        local token = string.format("tok%08x%08x", math.random(0, 0x7fffffff), fake.launches)
        fake.servers[name] = token
        fake.tokens[#fake.tokens + 1] = token
        ev{phase = "ready", message = "server running at " .. fake.hub_url .. "/user/" .. name .. "/\n",
           url = fake.hub_url .. "/user/" .. name .. "/", token = token, image = fake.build_image}
      end}
    end
    return reply(404, json.encode{message = "Not found"})
  end)

  serve("hub", function(req)
    local p = req.path
    if p == "/hub/api/health" then return reply(200, "") end
    local name, rest = p:match("^/user/([^/]+)(/.*)$")
    local token = fake.servers[name or ""]
    if not token then
      if p:match("^/user/") then return reply(424, "<html><h1>Binder not found</h1></html>", "text/html") end
      return reply(404, "<html><h1>Binder not found</h1></html>", "text/html")
    end
    if req.headers["authorization"] ~= "token " .. token then
      return reply(403, json.encode{message = "Forbidden"})
    end
    if rest == "/api" and req.method == "GET" then
      if fake.api_status ~= 200 then return reply(fake.api_status, json.encode{message = "server error"}) end
      return reply(200, json.encode{version = "2.14.2"})
    elseif rest == "/api/shutdown" and req.method == "POST" then
      if fake.shutdown_status ~= 200 then return reply(fake.shutdown_status, json.encode{message = "cannot stop"}) end
      fake.servers[name] = nil
      fake.stops = fake.stops + 1
      return reply(200, "")
    end
    return reply(404, json.encode{message = "Not found"})
  end)

  serve("federation", function(req)
    if req.path == "/active_hosts" then
      return reply(200, json.encode{active_hosts = {staging = {prime = true, url = fake.binder_url,
        weight = 100, health = fake.binder_url .. "/health", versions = fake.binder_url .. "/versions"}}})
    elseif req.path == "/" then
      return reply(200, '<html><body><div id="root"></div></body></html>', "text/html")
    end
    return reply(404, json.encode{message = "Not found"})
  end)

  serve("static", function(req)
    if req.path == "/badge.svg" or req.path == "/badge_logo.svg" then
      return reply(200, "<svg xmlns=\"http://www.w3.org/2000/svg\"/>", "image/svg+xml")
    end
    return reply(404, "not found", "text/plain")
  end)

  function fake:running()
    local out = {}
    for n in pairs(self.servers) do out[#out + 1] = n end
    table.sort(out)
    return out
  end
  function fake:close()
    for _, s in pairs(srvs) do s:close() end
  end
  return fake
end

return F
