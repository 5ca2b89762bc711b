-- The mybinder.org port's post-deploy tests (scripts/examples/mybinder/
-- slipway.yaml `checks`, slipway/tests/*.lua) against the real ones
-- (tests/*.py of the fixture):
-- * member by member, every check requests the URL the real conftest.py
--   derives (run by python3 with a stand-in `pytest` module that only
--   provides `fixture` and `skip`: pytest is not installed here) and is
--   skipped exactly where conftest skips;
-- * `slipway test staging` in a copy staged under the RECORDING STAND-IN for
--   helm/kubectl, against a FAKE of BinderHub, hub, redirector and static host
--   on 127.0.0.1 (tests/lua/lib/fakebinder.lua, the real answer shapes): all
--   pass, the launch and the build test stop their servers, and a failing
--   server API, a failing shutdown, a version mismatch and a federation
--   version skew each fail the run naming the check and what differed.
local T = require "slipway.testing"
local fs = require "slipway.fs"
local proc = require "slipway.proc"
local json = require "slipway.json"
local yaml = require "slipway.yaml"
local checks = require "slipway.checks"
local manifest = require "slipway.manifest"
local environments = require "slipway.environments"
local D = require "deploytest"
local MB = require "mybindertest"
local FB = require "fakebinder"

-- the system's python3 (PyYAML, which conftest.py imports, is packaged there)
local PY = fs.exists("/usr/bin/python3") and "/usr/bin/python3" or "python3"
local skip = MB.skip or (os.getenv("CHECK_SCHEME") and "CHECK_SCHEME is set") or nil

local MEMBERS = {"staging", "prod", "hetzner-2i2c", "hetzner-gesis", "bids-ovh", "curvenote", "localhost"}

-- conftest.py's URL fixtures for a member (nil: conftest skips the tests using it)
local CONFTEST = [[
import json, sys, types
class Skip(Exception):
    pass
def fixture(*args, **kwargs):
    return args[0] if args and callable(args[0]) else (lambda f: f)
def skip(msg):
    raise Skip(msg)
stand_in = types.ModuleType("pytest")
stand_in.fixture, stand_in.skip = fixture, skip
sys.modules["pytest"] = stand_in
sys.path.insert(0, "tests")
import conftest
config = conftest.helm_config(sys.argv[1])
out = {}
for name in ["binder_url", "hub_url", "federation_url", "static_url"]:
    try:
        out[name] = getattr(conftest, name)(config)
    except Skip:
        out[name] = None
    except (KeyError, IndexError, TypeError) as e:
        out[name] = {"error": repr(e)}
print(json.dumps(out))
]]

-- the real test each check stands for: the fixture it uses and the path it requests
local REAL = {
  ["binder-up"] = {"binder_url", ""},              -- requests.get(binder_url)
  ["hub-health"] = {"hub_url", "/hub/api/health"},
  ["binder-health"] = {"binder_url", "/health"},
  ["hub-user-redirect"] = {"hub_url", "/user/doesntexist"},
  ["hub-other-404"] = {"hub_url", "/other/doesntexist"},
  ["static-badge.svg"] = {"static_url", "/badge.svg"},
  ["static-badge_logo.svg"] = {"static_url", "/badge_logo.svg"},
  ["versions"] = {"binder_url", "/versions"},
  ["launch"] = {"binder_url", "/build/gh/binder-examples/requirements/50533eb"},
  ["build"] = {"binder_url"},
  ["federation-active-hosts"] = {"federation_url", "/active_hosts"},
  ["federation-proxy-page"] = {"federation_url", ""},
  ["federation-versions"] = {"federation_url"},
}

T.test("every member: each check requests conftest.py's URL and is skipped where conftest skips", function()
  local dir = MB.repository()
  local envs = environments.load(manifest.load(dir))
  for _, name in ipairs(MEMBERS) do
    local r = proc.run({PY, "-c", CONFTEST, name}, {cwd = dir, check = false, echo = false})
    T.eq(r.code, 0, name .. ": " .. r.stderr)
    local want = json.decode(r.stdout)
    local env = envs.by_name[name]
    local vars = {values = checks.values(env), versions = {}, env = name}
    local seen = {}
    for _, c in ipairs(env.checks) do
      local real = REAL[c.name]
      T.truthy(real, name .. ": check " .. c.name .. " stands for no real test")
      seen[c.name] = true
      local base = want[real[1]]
      if base == json.null then base = nil end
      local runs = c.when == nil or require("slipway.path").get(vars, c.when) == true
      T.eq(runs, base ~= nil, name .. ": " .. c.name .. " runs where conftest runs " .. real[1])
      if base and real[2] then
        local target = c.get or c.launch
        local ok, url = pcall(checks.template, environments.expand(target, c.name, env.manifest), vars)
        if type(base) == "table" then
          -- conftest errors (curvenote has no config/curvenote.yaml): the check fails too, naming the path
          T.falsy(ok, name .. ": " .. c.name .. " fails where conftest raises " .. tostring(base.error))
          T.match(url.message, "^{{values%.[^}]+}}: ")
        else
          local expect = base .. real[2]
          if c.name == "binder-up" or c.name == "federation-proxy-page" then expect = base .. "/" end
          T.eq(url, expect, name .. ": " .. c.name)
        end
      end
    end
    for k in pairs(REAL) do T.truthy(seen[k], name .. ": no check " .. k) end
  end
end, {skip = skip})

-- ---- slipway test staging against the fake -------------------------------------

-- point staging's values at the fakes (the one change to the copy)
local function at_fakes(fake, other)
  return function(dir)
    local doc = yaml.open(dir .. "/config/staging.yaml")
    local host = function(u) return (u:gsub("^http://", "")) end
    doc:set("binderhub.config.BinderHub.hub_url", fake.hub_url)
    doc:set("binderhub.ingress.hosts[0]", host(fake.binder_url))
    doc:set("static.ingress.hosts[0]", host(fake.static_url))
    doc:set("federationRedirect.host", host(fake.federation_url))
    for k, u in pairs{url = "", health = "/health", versions = "/versions"} do
      doc:set("federationRedirect.hosts.staging." .. k, fake.binder_url .. u)
    end
    -- a second member in the redirector's rotation
    doc:insert("federationRedirect.hosts", "staging-b", {prime = false, url = other.binder_url, weight = 50,
      health = other.binder_url .. "/health", versions = other.binder_url .. "/versions"})
    doc:save(dir .. "/config/staging.yaml")
  end
end

-- the rows of `slipway test`'s table: {check = {result, detail}}
local function rows(out)
  local t = {}
  for l in out:gmatch("[^\n]+") do
    local check, result, detail = l:match("^staging%s+(%S+)%s+(%S+)%s+%S+s%s+%d+%s+(.*)$")
    if check then t[check] = {result, detail} end
  end
  return t
end

T.test("slipway test staging: the real tests' checks against a fake BinderHub, hub and redirector", function()
  local fake, other = FB.start(), FB.start()
  local dir = MB.repository(at_fakes(fake, other))
  local image = yaml.load_file(dir .. "/mybinder/values.yaml").binderhub.config.KubernetesBuildExecutor.build_image
  fake.build_image, other.build_image = image, image
  -- the CI repository the build test pushes to: a bare repository here
  local ci = fs.dirname(dir) .. "/cached-minimal-dockerfile.git"
  proc.run({"git", "init", "-q", "--bare", ci}, {echo = false})
  local seed = fs.dirname(dir) .. "/seed"
  proc.run({"git", "init", "-q", "-b", "main", seed}, {echo = false})
  fs.write(seed .. "/Dockerfile", "FROM scratch\n")
  D.git(seed, "add", "-A")
  D.git(seed, "commit", "-qm", "seed")
  D.git(seed, "push", "-q", ci, "main")
  fake.repos["binderhub-ci-repos/cached-minimal-dockerfile"] = ci

  local k = MB.standin()
  local s = D.slipway(dir, {"stage", "staging"}, {env = k.env})
  T.eq(s.code, 0, s.stdout .. s.stderr)
  local env = {CHECK_SCHEME = "http", BUILD_TEST_REMOTE = ci}
  for key, v in pairs(k.env) do env[key] = v end
  local function test()
    return D.slipway(dir, {"test", "staging", "--junit", dir .. "/junit.xml"}, {env = env})
  end

  local r = test()
  T.eq(r.code, 0, r.stdout .. r.stderr)
  local got = rows(r.stdout)
  for name in pairs(REAL) do
    T.eq(got[name] and got[name][1], "ok", name .. ": " .. tostring(got[name] and got[name][2]))
  end
  T.eq(got.launch[2], "launch reached phase ready; GET api: 200; stopped (POST api/shutdown: 200)")
  T.match(got.build[2], "^built binderhub%-ci%-repos/cached%-minimal%-dockerfile@[%d.]+: launch reached phase ready; " ..
    "GET api: 200; stopped %(POST api/shutdown: 200%)$")
  T.eq(got["federation-versions"][2], "2 member(s) on the prime's (staging) versions and healthy")
  T.eq(fake:running(), {}, "no user server left behind")
  T.eq(#fake.built, 1, "the pushed branch was built")
  -- and the branch is gone again
  local heads = proc.run({"git", "ls-remote", "--heads", ci}, {echo = false}).stdout
  T.eq(select(2, heads:gsub("\n", "")), 1, heads)
  T.match(heads, "\trefs/heads/main\n$")
  T.match(fs.read(dir .. "/junit.xml"), 'tests="13" failures="0" skipped="0"')

  -- failures, each naming the check and what differed
  fake.api_status = 500
  r = test()
  T.eq(r.code, 1, r.stdout .. r.stderr)
  got = rows(r.stdout)
  T.eq(got.launch, {"FAIL", "launch reached phase ready; GET api: status 500, expected 200; stopped (POST api/shutdown: 200)"})
  T.eq(got.build[1], "FAIL")
  T.match(r.stderr, "staging: 2 of 13 checks failed: launch, build")
  T.eq(fake:running(), {})
  fake.api_status = 200

  fake.shutdown_status = 500
  r = test()
  T.eq(r.code, 1)
  got = rows(r.stdout)
  T.eq(got.launch, {"FAIL", "launch reached phase ready; GET api: 200; stop POST api/shutdown: status 500, " ..
    "expected 200 (the server may still run)"})
  T.match(r.stderr, "checks failed: launch, build")
  fake.shutdown_status = 200
  fake.servers = {}

  fake.build_image = "quay.io/jupyterhub/repo2docker:2020.01.0"
  r = test()
  T.eq(r.code, 1)
  got = rows(r.stdout)
  T.eq(got.versions, {"FAIL", (string.format('GET ${CHECK_SCHEME:-https}://{{values.binderhub.ingress.hosts[0]}}/versions: ' ..
    'builder_info.build_image is "quay.io/jupyterhub/repo2docker:2020.01.0", expected "%s"', image):gsub("%${CHECK_SCHEME:%-https}", "http"))})
  -- the other member now differs from the prime: what the redirector would act on
  T.eq(got["federation-versions"][1], "FAIL")
  T.match(got["federation-versions"][2], '^staging%-b has different versions %(.*"build_image":"' ..
    image:gsub("%p", "%%%0") .. '".*%) than the prime staging %(.*2020%.01%.0')
  T.match(r.stderr, "checks failed: versions, federation%-versions")
  fake.build_image = image

  -- without the deploy key the build test is skipped, not passed
  fs.remove(dir .. "/secrets/binderhub-ci-repos-key")
  r = test()
  T.eq(r.code, 0, r.stdout .. r.stderr)
  T.eq(rows(r.stdout).build, {"skip", "skipped: no deploy key (secrets/binderhub-ci-repos-key)"})
  T.match(fs.read(dir .. "/junit.xml"), 'tests="13" failures="0" skipped="1"')
  fake:close()
  other:close()
end, {skip = skip})

T.run()
