-- slipway.manifest: the slipway.yaml of a deployment repository, validated
-- on load with errors that name the file, the key path and the line.
local T = require "slipway.testing"
local fs = require "slipway.fs"
local manifest = require "slipway.manifest"

local GOOD = [[
# the mybinder-like deployment
name: mybinder-example
state_dir: .slipway
components:
  binderhub:
    scheme: semver
    source:
      helm: {repo: "https://jupyterhub.github.io/helm-chart/", chart: binderhub}
      devel: true
      constraint: ">=1.0.0-0"
    repository: https://github.com/jupyterhub/binderhub
    locations:
      - {file: mybinder/Chart.yaml, path: "dependencies[name=binderhub].version"}
  repo2docker:
    scheme: [pep440, gitdescribe]
    source:
      registry: {image: quay.io/jupyterhub/repo2docker}
      devel: true
      exclude: "^sha"
    repository: https://github.com/jupyterhub/repo2docker
    locations:
      - file: mybinder/values.yaml
        path: binderhub.config.KubernetesBuildExecutor.build_image
        part: tag
      - file: config/prod.yaml
        path: binderhub.config.KubernetesBuildExecutor.build_image
        part: tag
environments:
  staging: {driver: local, chart: mybinder, values: [mybinder/values.yaml, config/staging.yaml]}
stages:
  staging: staging
  production: [prod]
]]

T.test("the shared design loads: components validated, the rest kept raw", function()
  local dir = fs.tempdir()
  fs.write(dir .. "/slipway.yaml", GOOD)
  local m = manifest.load(dir)
  T.eq(m.name, "mybinder-example")
  T.eq(m.root, dir)
  T.eq(m.path, dir .. "/slipway.yaml")
  T.eq(m.state_dir, dir .. "/.slipway")
  T.eq(m.order, {"binderhub", "repo2docker"})
  local b = m.components.binderhub
  T.eq(b.source.kind, "helm")
  T.eq(b.source.repo, "https://jupyterhub.github.io/helm-chart/")
  T.eq(b.source.chart, "binderhub")
  T.eq(b.source.devel, true)
  T.eq(b.source.constraint, ">=1.0.0-0")
  T.eq(b.source.order, "version")
  T.eq(b.locations[1], {file = dir .. "/mybinder/Chart.yaml", relfile = "mybinder/Chart.yaml",
                        path = "dependencies[name=binderhub].version", part = "whole"})
  local r = m.components.repo2docker
  T.eq(r.scheme, {"pep440", "gitdescribe"})
  T.eq(r.source.kind, "registry")
  T.eq(r.source.image, "quay.io/jupyterhub/repo2docker")
  T.eq(#r.locations, 2)
  T.eq(r.locations[2].part, "tag")
  T.eq(m.environments.staging.driver, "local")
  T.eq(m.stages.production, {"prod"})
  T.eq(m.raw.name, "mybinder-example")
end)

T.test("components keep the order of the file, block or flow, whatever their names", function()
  local function order(text)
    local dir = fs.tempdir()
    fs.write(dir .. "/slipway.yaml", text)
    return manifest.load(dir .. "/slipway.yaml").order
  end
  local comp = "{source: {helm: {repo: 'https://example.org/charts', chart: c}}, " ..
               "locations: [{file: Chart.yaml, path: version}]}"
  T.eq(order("components:\n  zeta: " .. comp .. "\n  # a comment\n  alpha: " .. comp ..
             "\n  'mid': " .. comp .. "\n"), {"zeta", "alpha", "mid"})
  T.eq(order("components: {zeta: " .. comp .. ",\n  alpha: " .. comp .. "}\n"), {"zeta", "alpha"},
    "a flow mapping over two lines")
  T.eq(order("components: {zeta: " .. comp .. ", alpha: " .. comp .. "}\n"), {"alpha", "zeta"},
    "on one line: by name")
end)

T.test("manifest.find walks up; load(nil) uses it; no file is a clear error", function()
  local dir = fs.tempdir()
  fs.write(dir .. "/slipway.yaml", "components: {}\n")
  fs.mkdir(dir .. "/a/b")
  T.eq(manifest.find(dir .. "/a/b"), dir .. "/slipway.yaml")
  T.eq(manifest.find(fs.tempdir()), nil)
  local e = T.raises(function() manifest.load(dir .. "/a/b/slipway.yaml") end, "cannot read")
  T.eq(e.code, "manifest")
  local m = manifest.load(dir .. "/slipway.yaml")
  T.eq(m.order, {})
  T.eq(m.state_dir, dir .. "/.slipway")
end)

-- {description, yaml text, message pattern, key, line}
local BAD = {
  {"a typo at the top level", "component:\n  x: {}\n", "unknown key", "component", 1},
  {"components not a mapping", "components:\n  - a\n", "expected a mapping", "components", 1},
  {"no source", [[
components:
  binderhub:
    locations: [{file: a.yaml, path: x}]
]], "source is required", "components.binderhub", 2},
  {"two kinds of source", [[
components:
  binderhub:
    source:
      helm: {repo: "https://x/", chart: b}
      git: {url: https://x}
    locations: [{file: a.yaml, path: x}]
]], "give one of helm, registry, git, lua", "components.binderhub.source", 3},
  {"no chart", [[
components:
  binderhub:
    source:
      helm:
        repo: https://jupyterhub.github.io/helm-chart/
    locations: [{file: a.yaml, path: x}]
]], "chart: is required", "components.binderhub.source.helm.chart", 4},
  {"a repository that is not a URL", [[
components:
  binderhub:
    source:
      helm:
        repo: jupyterhub.github.io/helm-chart
        chart: binderhub
    locations: [{file: a.yaml, path: x}]
]], "expected an http%(s%):// or oci:// URL", "components.binderhub.source.helm.repo", 5},
  {"an unknown scheme", [[
components:
  r2d:
    scheme: calver
    source: {registry: {image: quay.io/jupyterhub/repo2docker}}
    locations: [{file: a.yaml, path: x}]
]], "unknown scheme 'calver'", "components.r2d.scheme", 3},
  {"schemes that cannot be ordered together", [[
components:
  r2d:
    scheme: [semver, pep440]
    source: {registry: {image: quay.io/jupyterhub/repo2docker}}
    locations: [{file: a.yaml, path: x}]
]], "cannot be ordered", "components.r2d.scheme", 3},
  {"a malformed constraint", [[
components:
  binderhub:
    source:
      helm: {repo: "https://x/", chart: b}
      constraint: ">>1.0"
    locations: [{file: a.yaml, path: x}]
]], "constraint", "components.binderhub.source.constraint", 5},
  {"no locations", [[
components:
  binderhub:
    source: {helm: {repo: "https://x/", chart: b}}
]], "locations is required", "components.binderhub", 2},
  {"a location without a path", [[
components:
  binderhub:
    source: {helm: {repo: "https://x/", chart: b}}
    locations:
      - {file: mybinder/Chart.yaml, path: "dependencies[name=binderhub].version"}
      - file: mybinder/values.yaml
        pth: binderhub.image
]], "unknown key", "components.binderhub.locations[1].pth", 7},
  {"a file outside the repository", [[
components:
  binderhub:
    source: {helm: {repo: "https://x/", chart: b}}
    locations:
      - {file: ../other/Chart.yaml, path: version}
]], "inside the repository", "components.binderhub.locations[0].file", 5},
  {"a bad part", [[
components:
  r2d:
    source: {registry: {image: quay.io/jupyterhub/repo2docker}}
    locations:
      - {file: v.yaml, path: image, part: digest}
]], "expected whole or tag", "components.r2d.locations[0].part", 5},
  {"an image with a tag", [[
components:
  r2d:
    source: {registry: {image: "quay.io/jupyterhub/repo2docker:2024.07.0"}}
    locations: [{file: v.yaml, path: image, part: tag}]
]], "without tag", "components.r2d.source.registry.image", 3},
  {"an image on a registry with a port, with a tag", [[
components:
  r2d:
    source: {registry: {image: "127.0.0.1:5000/jupyterhub/repo2docker:2024.07.0"}}
    locations: [{file: v.yaml, path: image, part: tag}]
]], "without tag", "components.r2d.source.registry.image", 3},
  {"devel that is not a boolean", [[
components:
  r2d:
    source:
      registry: {image: quay.io/jupyterhub/repo2docker}
      devel: "yes please"
    locations: [{file: v.yaml, path: image, part: tag}]
]], "expected true or false", "components.r2d.source.devel", 5},
  {"created order on a registry", [[
components:
  r2d:
    source:
      registry: {image: quay.io/jupyterhub/repo2docker}
      order: created
    locations: [{file: v.yaml, path: image, part: tag}]
]], "needs a helm chart repository", "components.r2d.source.order", 5},
}

T.test("errors name the file, the key path and the line", function()
  local dir = fs.tempdir()
  for _, row in ipairs(BAD) do
    local what, text, pat, key, line = row[1], row[2], row[3], row[4], row[5]
    fs.write(dir .. "/slipway.yaml", text)
    local e = T.raises(function() manifest.load(dir) end, pat, what)
    T.eq(e.code, "manifest", what)
    T.eq(e.key, key, what .. ": key")
    T.eq(e.line, line, what .. ": line")
    T.truthy(math.type(e.column) == "integer" and e.column >= 1, what .. ": column")
    T.match(e.message, "^" .. dir:gsub("%p", "%%%0") .. "/slipway%.yaml:" .. line .. ":" .. e.column .. ": ",
            what .. ": message names file:line:column")
  end
end)

T.test("not YAML at all: the yaml error with its line", function()
  local dir = fs.tempdir()
  fs.write(dir .. "/slipway.yaml", "components:\n  a: [1, 2\n  b: 3\n")
  local e = T.raises(function() manifest.load(dir) end, "not valid YAML")
  T.eq(e.code, "manifest")
  T.match(e.message, "slipway%.yaml")
end)

T.test("a number where a string belongs says to quote it", function()
  local dir = fs.tempdir()
  fs.write(dir .. "/slipway.yaml", [[
components:
  c:
    source: {git: {url: https://example.invalid/x.git}}
    locations: [{file: v.yaml, path: 1.5}]
]])
  T.raises(function() manifest.load(dir) end, "quote it")
end)

T.test("relative paths start at the kernel's cwd, not a stale $PWD", function()
  local bin = os.getenv("SLIPWAY_BIN")
  if not bin then T.skip("SLIPWAY_BIN not set") end
  local dir = fs.tempdir()
  fs.write(dir .. "/slipway.yaml", "components: {}\n")
  fs.mkdir(dir .. "/sub")
  local script = [[
    local manifest = require "slipway.manifest"
    local m = manifest.load(arg[1])
    print(m.root, m.path, m.state_dir, manifest.find())]]
  -- a parent that started slipway elsewhere and left its own $PWD behind
  local stale = {PWD = os.getenv("SLIPWAY_SRC") or "/"}
  local real = fs.realpath(dir)
  local proc = require "slipway.proc"
  local r = proc.run({bin, "-e", script, "slipway.yaml"}, {cwd = dir, env = stale, echo = false})
  T.eq(r.stdout, table.concat({real, real .. "/slipway.yaml", real .. "/.slipway",
                               "slipway.yaml"}, "\t") .. "\n")
  -- from a subdirectory: find walks up from the real cwd
  r = proc.run({bin, "-e", script, "../slipway.yaml"}, {cwd = dir .. "/sub", env = stale, echo = false})
  local root, path, _, found = r.stdout:match("^(%S+)\t(%S+)\t(%S+)\t(%S+)\n$")
  T.eq(fs.realpath(root), real)
  T.eq(fs.realpath(path), real .. "/slipway.yaml")
  T.eq(found, real .. "/slipway.yaml")
end)

T.test("state: a backend name or a mapping; bad backends and keys name the line", function()
  T.eq(manifest.parse("name: x\n", "slipway.yaml").state, {backend = "local"}, "no state: is local")
  T.eq(manifest.parse("name: x\nstate: git\n", "slipway.yaml").state, {backend = "git"})
  T.eq(manifest.parse("name: x\nstate:\n  backend: git\n  remote: upstream\n  heartbeat: 5\n",
    "slipway.yaml").state, {backend = "git", remote = "upstream", heartbeat = 5})
  T.eq(manifest.parse("state: {backend: kubernetes, keep_runs: 20}\n", "slipway.yaml").state,
    {backend = "kubernetes", keep_runs = 20})
  for _, case in ipairs{
    {"name: x\nstate: gti\n", "slipway.yaml:2:1: state: unknown state backend 'gti' %(expected git, kubernetes or local%)"},
    {"name: x\nstate:\n  backend: s3\n", "slipway.yaml:3:3: state.backend: unknown state backend 's3'"},
    {"name: x\nstate:\n  remote: origin\n", "slipway.yaml:2:1: state.backend: is required"},
    {"name: x\nstate:\n  backend: local\n  remote: origin\n",
     "slipway.yaml:4:3: state.remote: unknown key for the local backend %(expected one of: backend, heartbeat, wait%)"},
    {"name: x\nstate:\n  backend: git\n  retries: -1\n", "slipway.yaml:4:3: state.retries: expected a number > 0"},
  } do
    local err = T.raises(function() manifest.parse(case[1], "slipway.yaml") end)
    T.eq(err.code, "manifest")
    T.match(err.message, case[2])
  end
end)

T.run()
