-- `slipway bump` in the mybinder.org port covers what
-- .github/workflows/watch-dependencies.yaml bumps: binderhub (--devel), the
-- repo2docker image, traefik from an OCI registry, prometheus, grafana and
-- cryptnono (--devel), each against a loopback source, each a diff of
-- exactly one line of the real file (mybinder/Chart.yaml, mybinder/values.yaml).
-- Sources: the real jupyterhub chart index (/work/shared/fixtures/
-- helm-chart-index) plus one newer binderhub entry (the fixture predates the
-- pinned version), small chart indexes for the other repositories, and the
-- real Debian docker-registry (images and the OCI chart pushed by skopeo).
local T = require "slipway.testing"
local fs = require "slipway.fs"
local B = require "bumptest"
local MB = require "mybindertest"

local skip = MB.skip or (not fs.exists(B.INDEX) and "no chart index fixture") or
  ((not B.have("docker-registry") or not B.have("skopeo")) and "no docker-registry/skopeo") or nil

-- an index.yaml of one chart with these versions
local function index(chart, versions)
  local t = {"apiVersion: v1", "entries:", "  " .. chart .. ":"}
  for i, v in ipairs(versions) do
    t[#t + 1] = "  - apiVersion: v2"
    t[#t + 1] = string.format('    created: "2026-0%d-01T00:00:00Z"', i)
    t[#t + 1] = "    name: " .. chart
    t[#t + 1] = '    version: "' .. v .. '"'
    t[#t + 1] = "    urls: [" .. chart .. "-" .. v .. ".tgz]"
  end
  return table.concat(t, "\n") .. "\n"
end

local function serve(text)
  local dir = fs.tempdir()
  fs.write(dir .. "/index.yaml", text)
  return B.serve(dir)
end

T.test("bump in the port: every dependency watch-dependencies.yaml watches, each one line of the real file", function()
  -- the real index, with one binderhub build newer than the pinned one
  local NEW_BH = "1.0.0-0.dev.git.4012.h1234abcd"
  local real = fs.read(B.INDEX)
  local text, n = real:gsub("\n  binderhub:\n", "\n  binderhub:\n  - apiVersion: v2\n    created: \"2026-05-01T00:00:00Z\"\n" ..
    "    name: binderhub\n    version: " .. NEW_BH .. "\n    urls: [binderhub-" .. NEW_BH .. ".tgz]\n", 1)
  assert(n == 1)
  local jupyterhub = serve(text)
  local prometheus = serve(index("prometheus", {"29.21.0", "29.22.0", "30.0.0-rc.1"}))
  local grafana = serve(index("grafana", {"10.5.15", "10.6.0"}))
  local cryptnono = serve(index("cryptnono", {"0.3.2-0.dev.git.267.h766bf8f", "0.3.2-0.dev.git.270.habc1234"}))
  local reg = B.registry()
  local img = B.oci_image(fs.tempdir())
  for _, tag in ipairs{"2026.4.1.dev44-g97bb4e45a", "2026.4.1.dev51-g0a1b2c3d4", "latest"} do
    B.push(img, reg.host .. "/jupyterhub/repo2docker:" .. tag)
  end
  for _, tag in ipairs{"41.1.1", "41.2.0"} do B.push(img, reg.host .. "/traefik/helm/traefik:" .. tag) end

  local dir = MB.repository(function(d)
    local y = d .. "/slipway.yaml"
    local s = fs.read(y)
    local function sub(from, to)
      local out, k = s:gsub(from:gsub("%p", "%%%0"), (to:gsub("%%", "%%%%")), 1)
      assert(k == 1, from)
      s = out
    end
    sub('repo: "https://jupyterhub.github.io/helm-chart", chart: binderhub',
        'repo: "' .. jupyterhub.url .. '", chart: binderhub')
    sub("registry: {image: quay.io/jupyterhub/repo2docker}",
        "registry: {image: " .. reg.host .. "/jupyterhub/repo2docker, plain_http: true}")
    sub('repo: "oci://ghcr.io/traefik/helm", chart: traefik',
        'repo: "oci://' .. reg.host .. '/traefik/helm", chart: traefik, plain_http: true')
    sub('repo: "https://prometheus-community.github.io/helm-charts"', 'repo: "' .. prometheus.url .. '"')
    sub('repo: "https://grafana.github.io/helm-charts"', 'repo: "' .. grafana.url .. '"')
    sub('repo: "https://cryptnono.github.io/cryptnono/"', 'repo: "' .. cryptnono.url .. '"')
    fs.write(y, s)
  end)
  local manifest = require "slipway.manifest"
  local bump = require "slipway.bump"
  local m = manifest.load(dir)
  local WANT = {
    binderhub = {"mybinder/Chart.yaml", '    version: "1.0.0-0.dev.git.3983.h383374de"', '    version: "' .. NEW_BH .. '"'},
    repo2docker = {"mybinder/values.yaml", "      build_image: quay.io/jupyterhub/repo2docker:2026.4.1.dev44-g97bb4e45a",
                   "      build_image: quay.io/jupyterhub/repo2docker:2026.4.1.dev51-g0a1b2c3d4"},
    traefik = {"mybinder/Chart.yaml", '    version: "41.1.1"', '    version: "41.2.0"'},
    -- not the release candidate: no --devel for prometheus
    prometheus = {"mybinder/Chart.yaml", '    version: "29.21.0"', '    version: "29.22.0"'},
    grafana = {"mybinder/Chart.yaml", '    version: "10.5.15"', '    version: "10.6.0"'},
    cryptnono = {"mybinder/Chart.yaml", '    version: "0.3.2-0.dev.git.267.h766bf8f"',
                 '    version: "0.3.2-0.dev.git.270.habc1234"'},
  }
  local ctx = bump.context(m)
  for _, name in ipairs{"binderhub", "repo2docker", "traefik", "prometheus", "grafana", "cryptnono"} do
    local want = WANT[name]
    local p = bump.pick(m, name, {ctx = ctx})
    T.truthy(p.newer, name .. ": a newer version than " .. tostring(p.current))
    local before = fs.read(dir .. "/" .. want[1])
    local files = bump.apply(m, name, p.latest)
    T.eq(files, {want[1]}, name)
    -- exactly one line of the real file changed, to the line the bot's sed writes
    local diff = B.git(dir, {"diff", "-U0", "--", want[1]})
    local minus, plus = {}, {}
    for l in diff:gmatch("[^\n]+") do
      if l:find("^%-[^%-]") or l == "-" then minus[#minus + 1] = l:sub(2) end
      if l:find("^%+[^%+]") or l == "+" then plus[#plus + 1] = l:sub(2) end
    end
    T.eq(minus, {want[2]}, name .. ": " .. diff)
    T.eq(plus, {want[3]}, name .. ": " .. diff)
    fs.write(dir .. "/" .. want[1], before)
  end
  reg.stop()
  for _, s in ipairs{jupyterhub, prometheus, grafana, cryptnono} do s.stop() end
end, {skip = skip})

T.run()
