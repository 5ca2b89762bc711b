-- Copies of the real mybinder.org-deploy (/work/shared/fixtures/
-- mybinder.org-deploy-full, secrets/ synthetic) with the port's files
-- (scripts/examples/mybinder/) added, committed, with a remote; and the
-- RECORDING STAND-IN for helm, kubectl, gcloud and aws (there is no cluster
-- and no cloud here). Used by the mybinder*_spec.lua files.
local fs = require "slipway.fs"
local proc = require "slipway.proc"
local core = require "slipway.core"
local S = require "standin"
local D = require "deploytest"

local M = {}

M.FIXTURE = S.shared .. "/fixtures/mybinder.org-deploy-full"
M.PREFIX = "examples/mybinder/"

--- The members deploy.py deploys from CI but localhost: member, deploy.py's
-- arguments as cd.yml passes them.
M.MEMBERS = {
  {"staging", {"staging"}},
  {"prod", {"prod", "prod", "--name", "prod"}},
  {"hetzner-2i2c", {"hetzner-2i2c", "hetzner-2i2c", "--name", "hetzner-2i2c"}},
  {"hetzner-gesis", {"hetzner-gesis", "hetzner-gesis", "--name", "hetzner-gesis"}},
  {"bids-ovh", {"bids-ovh", "bids-ovh", "--name", "bids-ovh"}},
  {"curvenote", {"curvenote"}},
}
local need_fixture = (not fs.exists(M.FIXTURE .. "/deploy.py")) and ("no fixture at " .. M.FIXTURE) or nil
-- (looked up on PATH without running anything: this runs at require time)
local need_python = "no python3"
for d in (os.getenv("PATH") or ""):gmatch("[^:]+") do
  if fs.exists(d .. "/python3") then need_python = nil; break end
end
--- why the mybinder specs cannot run here (nil: they can)
M.skip = need_fixture or need_python

-- stub dependency charts (name and version of each Chart.yaml dependency, no
-- templates) in CHART/charts: the chart repositories and OCI registries they
-- come from cannot be reached offline. CHART/charts is git-ignored
-- (mybinder*/charts), as `helm dependency update` leaves it.
local function stub_dependencies(dir)
  local yaml = require "slipway.yaml"
  for _, chart in ipairs(fs.glob(dir .. "/mybinder*/Chart.yaml")) do
    local meta = yaml.load_file(chart)
    for _, d in ipairs(meta.dependencies or {}) do
      local sub = fs.dirname(chart) .. "/charts/" .. d.name
      fs.mkdir(sub)
      fs.write(sub .. "/Chart.yaml", string.format(
        "apiVersion: v2\nname: %s\nversion: \"%s\"\ndescription: offline stub of %s (test)\n",
        d.name, tostring(d.version), d.repository))
    end
  end
end

-- a copy of the fixture with the port's files added, committed, with a remote
--- a copy of the fixture with the port; edit(dir) runs before the commit
function M.repository(edit)
  local dir = fs.tempdir() .. "/mybinder.org-deploy"
  proc.run({"cp", "-r", M.FIXTURE, dir}, {echo = false})
  proc.run({"chmod", "-R", "u+w", dir}, {echo = false})
  for _, p in ipairs(core.embedded_list(M.PREFIX)) do
    local rel = p:sub(#M.PREFIX + 1)
    if rel ~= "README.md" then
      fs.mkdir(fs.dirname(dir .. "/" .. rel))
      fs.write(dir .. "/" .. rel, core.embedded(p))
    end
  end
  stub_dependencies(dir)
  if edit then edit(dir) end
  D.git(dir, "init", "-q", "-b", "main")
  D.git(dir, "add", "-A")
  D.git(dir, "commit", "-q", "-m", "mybinder.org-deploy at 95860dbc with the slipway port")
  local remote = fs.dirname(dir) .. "/remote.git"
  proc.run({"git", "init", "-q", "--bare", remote}, {echo = false})
  D.git(dir, "remote", "add", "origin", remote)
  D.git(dir, "push", "-q", "origin", "main")
  return dir
end

--- cert-manager's chart is in an OCI registry on the internet: for the dry
-- run's render it is replaced by a local stub chart (name, version and one
-- Deployment), the one change to the port this case makes
function M.offline_cert_manager(dir)
  fs.mkdir(dir .. "/stubs/cert-manager/templates")
  fs.write(dir .. "/stubs/cert-manager/Chart.yaml",
    "apiVersion: v2\nname: cert-manager\nversion: v1.20.2\ndescription: offline stub (test)\n")
  fs.write(dir .. "/stubs/cert-manager/templates/deployment.yaml",
    "apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: cert-manager\n  namespace: {{ .Release.Namespace }}\n" ..
    "spec:\n  replicas: 1\n")
  local y = dir .. "/slipway.yaml"
  local text, n = fs.read(y):gsub("chart: oci://quay%.io/jetstack/charts/cert%-manager", "chart: stubs/cert-manager")
  assert(n == 1)
  fs.write(y, text)
end

--- edit(dir) for M.repository: the port's checks request mybinder.org's live
-- services; this replaces them by ONE check, a GET of the fake BinderHub's
-- /health (tests/lua/lib/fakebinder.lua) whose URL is the value `gatecheck`
-- of config/M.yaml for staging and the production members -- for specs of
-- the flow (the gate, the workflow), not of the checks (mybinder_tests_spec)
function M.one_check(fake)
  return function(dir)
    local y = dir .. "/slipway.yaml"
    local text, n = fs.read(y):gsub("\n    checks:\n.-\n\n  # members whose",
      "\n    checks:\n      - {name: binder-health, get: \"{{values.gatecheck}}\", has: [checks]}\n\n  # members whose")
    assert(n == 1, "the member template's checks")
    fs.write(y, text)
    for _, m in ipairs{"staging", "prod", "hetzner-2i2c", "hetzner-gesis", "bids-ovh"} do
      fs.append(dir .. "/config/" .. m .. ".yaml", "\ngatecheck: " .. fake.binder_url .. "/health\n")
    end
  end
end

--- a new runner's checkout of the copy's remote (main), with the stub
-- dependency charts (git-ignored, as `helm dependency update` leaves them)
function M.runner(dir, name)
  local clone = fs.dirname(dir) .. "/" .. name
  proc.run({"git", "clone", "-q", "-b", "main", fs.dirname(dir) .. "/remote.git", clone}, {echo = false})
  stub_dependencies(clone)
  return clone
end

-- the stand-in for helm, kubectl, gcloud and aws, with its own HOME
--- the stand-in (standin.lua) as helm, kubectl, gcloud and aws, with its own
-- HOME; and tests/standin/chartpress (the STAND-IN for chartpress: tags from
-- the commit, nothing built or pushed), logging to the same file
function M.standin(opts)
  local k = S.new({helm = (opts and opts.helm) or false})
  for _, name in ipairs{"gcloud", "aws"} do
    proc.run({"ln", "-s", S.src .. "/tests/standin/standin", k.bin .. "/" .. name}, {echo = false})
  end
  proc.run({"ln", "-s", S.src .. "/tests/standin/chartpress", k.bin .. "/chartpress"}, {echo = false})
  k.home = k.dir .. "/home"
  fs.mkdir(k.home)
  k.env.HOME = k.home
  k.env.KUBECONFIG = false
  k.env.TERM = false        -- deploy.py calls tput when TERM is set
  return k
end

return M
