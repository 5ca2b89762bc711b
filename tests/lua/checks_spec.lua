-- slipway.checks against a FAKE of BinderHub, JupyterHub, the federation
-- redirector and the static host on 127.0.0.1 (tests/lua/lib/fakebinder.lua,
-- the shapes of the real services): a launch to `ready`, the started
-- server's API with the token of the ready event, its shutdown; URLs from
-- the merged values; ${VAR}; `has`, `when`, skipped Lua tests.
local T = require "slipway.testing"
local fs = require "slipway.fs"
local checks = require "slipway.checks"
local manifest = require "slipway.manifest"
local environments = require "slipway.environments"
local core = require "slipway.core"
local FB = require "fakebinder"

-- a repository with slipway.yaml (one environment `staging` with `checks`)
-- and values files pointing at the fake: the real tests' URL keys
local function repo(fake, checks_yaml, extra)
  local dir = fs.tempdir()
  fs.mkdir(dir .. "/mybinder")
  fs.mkdir(dir .. "/config")
  fs.write(dir .. "/mybinder/values.yaml", "binderhubEnabled: true\nfederationRedirect:\n  enabled: false\n" ..
    "binderhub:\n  config:\n    KubernetesBuildExecutor:\n      build_image: " .. fake.build_image .. "\n")
  fs.write(dir .. "/config/staging.yaml", string.format(
    "binderhub:\n  config:\n    BinderHub:\n      hub_url: %s\n  ingress:\n    hosts:\n      - %s\n" ..
    "federationRedirect:\n  enabled: true\n  host: %s\nstatic:\n  ingress:\n    hosts: [%s]\n",
    fake.hub_url, fake.binder_url:gsub("^http://", ""), fake.federation_url:gsub("^http://", ""),
    fake.static_url:gsub("^http://", "")))
  fs.write(dir .. "/checks.env", "SCHEME=http\n")
  for name, text in pairs(extra or {}) do
    fs.mkdir(fs.dirname(dir .. "/" .. name))
    fs.write(dir .. "/" .. name, text)
  end
  fs.write(dir .. "/slipway.yaml", "name: t\nenv_files: [checks.env]\nenvironments:\n  staging:\n" ..
    "    chart: mybinder\n    values: [config/staging.yaml]\n    url: http://127.0.0.1:9\n" ..
    "    checks:\n" .. checks_yaml)
  local m = manifest.load(dir)
  return environments.load(m).by_name.staging, dir
end

local function run(env)
  local by = {}
  for _, r in ipairs(checks.run(nil, env, {})) do by[r.name] = r end
  return by
end

local BINDER = '"${SCHEME}://{{values.binderhub.ingress.hosts[0]}}'
local LAUNCH = [[
      - name: launch
        launch: ]] .. BINDER .. [[/build/gh/binder-examples/requirements/50533eb"
        then: {get: api, has: [version]}
        stop: true
        deadline: 20
]]

T.test("launch: ready, the server's API with the ready event's token, then its shutdown", function()
  local fake = FB.start()
  local env = repo(fake, LAUNCH)
  local r = run(env).launch
  T.truthy(r.ok, r.detail)
  T.eq(r.detail, "launch reached phase ready; GET api: 200; stopped (POST api/shutdown: 200)")
  T.eq(fake:running(), {}, "no server left behind")
  T.eq(fake.launches, 1)
  T.eq(fake.stops, 1)
  -- in this order, the API call carrying the token (the fake answers 403 without it)
  local seen = {}
  for _, l in ipairs(fake.log) do
    if not l:find("^binder GET /build/") or #seen == 0 then seen[#seen + 1] = l end
  end
  T.eq(seen, {"binder GET /build/gh/binder-examples/requirements/50533eb",
              "hub GET /user/binder-examples-requirements-1/api",
              "hub POST /user/binder-examples-requirements-1/api/shutdown"})
  fake:close()
end)

T.test("launch: a failing server API call fails the check, and the server is still stopped", function()
  local fake = FB.start()
  fake.api_status = 500
  local r = run(repo(fake, LAUNCH)).launch
  T.falsy(r.ok)
  T.eq(r.detail, "launch reached phase ready; GET api: status 500, expected 200; stopped (POST api/shutdown: 200)")
  T.eq(fake:running(), {})
  fake:close()
end)

T.test("launch: an answer without the expected key fails naming it", function()
  local fake = FB.start()
  local env = repo(fake, (LAUNCH:gsub("has: %[version%]", "has: [kernels]")))
  local r = run(env).launch
  T.falsy(r.ok)
  T.match(r.detail, "GET api: no kernels in the answer")
  T.eq(fake:running(), {})
  fake:close()
end)

T.test("launch: a shutdown that fails fails the check, saying the server may still run", function()
  local fake = FB.start()
  fake.shutdown_status = 503
  local r = run(repo(fake, LAUNCH)).launch
  T.falsy(r.ok)
  T.eq(r.detail, "launch reached phase ready; GET api: 200; stop POST api/shutdown: status 503, expected 200 " ..
    "(the server may still run)")
  T.eq(#fake:running(), 1)
  fake:close()
end)

T.test("launch: a stream that ends before ready fails; nothing was started", function()
  local fake = FB.start()
  fake.launch_phase = "failed"
  local r = run(repo(fake, LAUNCH)).launch
  T.falsy(r.ok)
  T.match(r.detail, "^launch failed: Launch attempt 1 failed")
  T.eq(fake.log[#fake.log], "binder GET /build/gh/binder-examples/requirements/50533eb")
  fake:close()
end)

T.test("the token of the ready event is a secret: redacted from details and errors", function()
  local fake = FB.start()
  fake.api_status = 500
  local env = repo(fake, LAUNCH)
  run(env)
  local token = fake.tokens[1]
  T.truthy(token)
  T.eq(core.redact("x " .. token .. " y"), "x *** y")
  fake:close()
end)

T.test("stop as the hub's API: DELETE /hub/api/users/NAME/server, the name from the server URL", function()
  local fake = FB.start()
  local env = repo(fake, [[
      - name: launch
        launch: ]] .. BINDER .. [[/build/gh/binder-examples/requirements/50533eb"
        stop: {method: DELETE, path: "{{values.binderhub.config.BinderHub.hub_url}}/hub/api/users/{{server.user}}/server"}
        deadline: 20
]])
  local r = run(env).launch
  -- the fake hub has no such endpoint: the check says what differed
  T.falsy(r.ok)
  T.eq(r.detail, "launch reached phase ready; stop DELETE {{values.binderhub.config.BinderHub.hub_url}}" ..
    "/hub/api/users/{{server.user}}/server: status 404, expected 204 (the server may still run)")
  T.eq(fake.log[#fake.log], "hub DELETE /hub/api/users/binder-examples-requirements-1/server")
  fake:close()
end)

T.test("versions and health in the real services' shapes; URLs from the merged values", function()
  local fake = FB.start{build_image = "quay.io/jupyterhub/repo2docker:2025.08.0"}
  local yaml_checks = [[
      - name: versions
        get: ]] .. BINDER .. [[/versions"
        has: [binderhub]
        json: {builder_info.build_image: "{{values.binderhub.config.KubernetesBuildExecutor.build_image}}"}
      - name: binder-health
        get: ]] .. BINDER .. [[/health"
        json: {"checks[service=Hub].ok": true}
      - {name: hub-health, get: "{{values.binderhub.config.BinderHub.hub_url}}/hub/api/health"}
      - name: active-hosts
        get: "${SCHEME}://{{values.federationRedirect.host}}/active_hosts"
        has: active_hosts
        when: values.federationRedirect.enabled
      - {name: static, get: "${SCHEME}://{{values.static.ingress.hosts[0]}}/badge.svg"}
]]
  local env = repo(fake, yaml_checks)
  local by = run(env)
  for _, n in ipairs{"versions", "binder-health", "hub-health", "active-hosts", "static"} do
    T.truthy(by[n].ok, n .. ": " .. tostring(by[n].detail))
  end
  -- a version mismatch: the check names the key, what it is and what was expected
  fake.build_image = "quay.io/jupyterhub/repo2docker:2024.07.0"
  fake.healthy = false
  by = run(env)
  T.falsy(by.versions.ok)
  T.eq(by.versions.detail, 'GET http://{{values.binderhub.ingress.hosts[0]}}/versions: builder_info.build_image is ' ..
    '"quay.io/jupyterhub/repo2docker:2024.07.0", expected "quay.io/jupyterhub/repo2docker:2025.08.0"')
  T.falsy(by["binder-health"].ok)
  T.match(by["binder-health"].detail, "status 503, expected 200")
  fake:close()
end)

T.test("when: a check whose values path is false is skipped, reported as skipped (table, JUnit)", function()
  local fake = FB.start()
  local env, dir = repo(fake, [[
      - {name: federation, get: "${SCHEME}://{{values.federationRedirect.host}}/active_hosts", when: values.federationRedirect.enabled}
      - {name: other, get: "${SCHEME}://{{values.federationRedirect.host}}/active_hosts", when: values.nothing.here}
]])
  fs.write(dir .. "/config/staging.yaml", (fs.read(dir .. "/config/staging.yaml"):gsub("enabled: true", "enabled: false")))
  local rs = checks.run(nil, env, {})
  T.truthy(rs[1].ok and rs[1].skipped, rs[1].detail)
  T.eq(rs[1].detail, "skipped: values.federationRedirect.enabled is false")
  T.eq(rs[2].detail, "skipped: values.nothing.here is not set")
  T.truthy(checks.passed(rs))
  T.match(checks.table(rs, "staging"), "\nstaging%s+federation%s+skip%s")
  local x = checks.junit{staging = rs}
  T.match(x, 'tests="2" failures="0" skipped="2"')
  T.match(x, '<skipped message="skipped: values.federationRedirect.enabled is false"/>')
  for _, l in ipairs(fake.log) do error("no request expected: " .. l) end
  fake:close()
end)

T.test("${VAR}: from env_files, read when the check runs; unset is a failure naming the key", function()
  local fake = FB.start()
  local env, dir = repo(fake, [[
      - {name: home, get: "${SCHEME}://{{values.binderhub.ingress.hosts[0]}}/", contains: GitHub}
      - {name: unset, get: "${NO_SUCH_VARIABLE_HERE}/", contains: GitHub}
]])
  local by = run(env)
  T.truthy(by.home.ok, by.home.detail)
  T.falsy(by.unset.ok)
  T.match(by.unset.detail, "environments%.staging%.checks%[1%]%.get: %${NO_SUCH_VARIABLE_HERE} is not set")
  -- read when used: a changed env file changes the next run
  fs.write(dir .. "/checks.env", "SCHEME=gopher\n")
  by = run(env)
  T.falsy(by.home.ok)
  fake:close()
end)

T.test("{{values.X}} that is not in the merged values fails naming the path", function()
  local fake = FB.start()
  local by = run(repo(fake, [[
      - {name: hub, get: "{{values.binderhub.config.BinderHub.hub_urll}}/hub/api/health"}
]]))
  T.falsy(by.hub.ok)
  T.match(by.hub.detail, '{{values%.binderhub%.config%.BinderHub%.hub_urll}}: no key "hub_urll"')
  fake:close()
end)

T.test("a Lua test: t.launch as the launch check runs it, t.skip reports skipped (not passed)", function()
  local fake = FB.start()
  local env = repo(fake, "      []\n", {["tests/build.lua"] = [[
local t = ...
if not require("slipway.fs").exists(t.root .. "/key") then t.skip("no deploy key") end
return t.launch(t.template("${SCHEME}://{{values.binderhub.ingress.hosts[0]}}/build/gh/x/y/1"),
  {["then"] = {get = "api", has = {"version"}}, stop = true, deadline = 20})
]]})
  env.checks = checks.validate({{name = "build", lua = "tests/build.lua"}}, "tests")
  local r = checks.run(nil, env, {})[1]
  T.truthy(r.ok and r.skipped, r.detail)
  T.eq(r.detail, "skipped: no deploy key")
  T.eq(r.attempts, 1)
  fs.write(env.manifest.root .. "/key", "x")
  r = checks.run(nil, env, {})[1]
  T.truthy(r.ok and not r.skipped, r.detail)
  T.eq(r.detail, "launch reached phase ready; GET api: 200; stopped (POST api/shutdown: 200)")
  fake.api_status = 502
  r = checks.run(nil, env, {})[1]
  T.falsy(r.ok)
  T.match(r.detail, "GET api: status 502, expected 200; stopped")
  T.eq(fake:running(), {})
  fake:close()
end)

T.test("bad then/stop/has/when keys are errors naming slipway.yaml's key", function()
  local function err(list)
    local ok, e = pcall(checks.validate, list, "environments.s.checks", {path = "slipway.yaml"})
    T.falsy(ok)
    return e.message
  end
  T.eq(err{{get = "/", stop = true}}, "slipway.yaml: environments.s.checks[0].stop: only a launch check starts a server")
  T.eq(err{{launch = "/b", stop = {method = "PUT"}}}, "slipway.yaml: environments.s.checks[0].stop.method: must be POST or DELETE")
  T.eq(err{{launch = "/b", ["then"] = {get = "api", sttus = 200}}},
    "slipway.yaml: environments.s.checks[0].then[0].sttus: unknown key (known: get, status, contains, json, has, headers)")
  T.match(err{{get = "/", has = {"a..b"}}}, "^slipway%.yaml: environments%.s%.checks%[0%]%.has%[0%]: ")
  T.match(err{{get = "/", when = 3}}, "when: must be a path")
end)

T.test("JUnit: control characters and bad UTF-8 from a server still give XML a strict parser reads", function()
  -- a detail is what a server answered: ANSI colours, a NUL, a vertical tab,
  -- a byte that is not UTF-8 and U+FFFF are none of them allowed in XML 1.0
  local nasty = "\27[31mred\27[0m nul\0 vt\v ff\255 nonchar\u{FFFF} ok <&>"
  local x = checks.junit{staging = {
    {name = "check " .. nasty, ok = false, detail = "failed: " .. nasty, duration = 0.1},
    {name = "fine", ok = true, duration = 0.2},
  }}
  local r = require("slipway.proc").run({"python3", "-c", [[
import sys, xml.etree.ElementTree as E
root = E.fromstring(sys.stdin.buffer.read())
case = root.find("testsuite/testcase")
print(case.get("name"))
print(case.find("failure").get("message"))]]}, {stdin = x, check = false, echo = false})
  T.eq(r.code, 0, "expat parses the JUnit file: " .. r.stderr)
  T.match(r.stdout, "^check \u{FFFD}%[31mred\u{FFFD}%[0m nul\u{FFFD} vt\u{FFFD} ff\u{FFFD} nonchar\u{FFFD} ok <&>\n",
          "each character XML cannot hold is shown as U+FFFD, the rest kept")
end)

T.run()
