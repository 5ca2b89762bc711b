-- slipway bump end to end: mybinder.org-deploy's real files in a temporary
-- git repository, the real chart index (plus newer builds) served on
-- 127.0.0.1, a registry stand-in for the repo2docker image, the real git.
local T = require "slipway.testing"
local B = require "bumptest"
local fs = require "slipway.fs"
local manifest = require "slipway.manifest"
local bump = require "slipway.bump"

local BIN = os.getenv("SLIPWAY_BIN") or "build/slipway"
local OLD_BH = "1.0.0-0.dev.git.3983.h383374de"
local NEW_BH = "1.0.0-0.dev.git.4001.h1a2b3c4d"
local OLD_R2D = "2026.4.1.dev44-g97bb4e45a"
local NEW_R2D = "2026.4.1.dev50-gabcdef12"

-- the real index with two newer binderhub builds in front, the way the
-- chart repository grows (4001 is the semver pick; 3999 was built later)
local function index_text()
  local real = fs.read(B.INDEX)
  local extra = table.concat({
    "  binderhub:",
    "  - apiVersion: v2",
    "    appVersion: 1.0.0-dev",
    '    created: "2026-01-01T10:00:00.000000000Z"',
    "    digest: 4001aaaabbbbccccddddeeeeffff000011112222333344445555666677778888",
    "    name: binderhub",
    "    urls:",
    "    - https://jupyterhub.github.io/helm-chart/binderhub-" .. NEW_BH .. ".tgz",
    "    version: " .. NEW_BH,
    "  - apiVersion: v2",
    '    created: "2026-01-02T10:00:00Z"',
    "    name: binderhub",
    "    urls:",
    "    - https://jupyterhub.github.io/helm-chart/binderhub-1.0.0-0.dev.git.3999.h99999999.tgz",
    "    version: 1.0.0-0.dev.git.3999.h99999999",
    ""}, "\n")
  local out, n = real:gsub("\n  binderhub:\n", "\n" .. extra, 1)
  assert(n == 1)
  return out
end

local R2D_TAGS = {"2024.07.0", "2024.07.0-12.gdef5678", "2025.8.0.dev3-g1a2b3c4", OLD_R2D, NEW_R2D,
                  "latest", "97bb4e45a"}

local function manifest_text(chart_url, reg_host, extra)
  return string.format([[
name: mybinder-test
components:
  binderhub:
    source:
      helm: {repo: "%s/", chart: binderhub}
      devel: true
      constraint: ">=1.0.0-0"
    repository: https://github.com/jupyterhub/binderhub
    locations:
      - {file: mybinder/Chart.yaml, path: "dependencies[name=binderhub].version"}
  repo2docker:
    scheme: [pep440, gitdescribe]
    source:
      registry: {image: "%s/jupyterhub/repo2docker", plain_http: true}
      devel: true
    repository: https://github.com/jupyterhub/repo2docker
    locations:
      - {file: mybinder/values.yaml, path: binderhub.config.KubernetesBuildExecutor.build_image, part: tag}
%s]], chart_url, reg_host, extra or "")
end

-- servers shared by the tests of this file
local chart_dir = fs.tempdir()
fs.write(chart_dir .. "/index.yaml", index_text())
fs.mkdir(chart_dir .. "/garbage")
fs.write(chart_dir .. "/garbage/index.yaml", "<!DOCTYPE html><html>: : [</html>\n")
local srv = B.serve(chart_dir)
local reg = B.standin(R2D_TAGS)

local function repo(extra)
  return B.git_repo(manifest_text(srv.url, reg.host, extra))
end

local function snapshot(dir)
  return {chart = fs.read(dir .. "/mybinder/Chart.yaml"), values = fs.read(dir .. "/mybinder/values.yaml"),
          head = B.git(dir, {"rev-parse", "HEAD"})}
end

local function cli(dir, args)
  local argv = {BIN, "bump"}
  for _, a in ipairs(args) do argv[#argv + 1] = a end
  return B.run(argv, {cwd = dir, check = false, env = {NO_COLOR = "1"}})
end

T.test("--dry-run reports the bumps and writes nothing", function()
  local dir = repo()
  local before = snapshot(dir)
  local r = cli(dir, {"--dry-run"})
  T.eq(r.code, 0, r.stderr)
  T.match(r.stdout, "binderhub " .. OLD_BH:gsub("%p", "%%%0") .. " → " .. NEW_BH:gsub("%p", "%%%0") .. " %(dry run%)")
  T.match(r.stdout, "repo2docker " .. OLD_R2D:gsub("%p", "%%%0") .. " → " .. NEW_R2D:gsub("%p", "%%%0"))
  -- exit 7 (exit.changes) only when asked, as git diff --exit-code
  T.eq(cli(dir, {"-n", "--exit-code"}).code, 7)
  T.eq(snapshot(dir), before, "files and HEAD untouched")
  T.eq(B.git(dir, {"status", "--porcelain"}), "")
  -- the Lua API says the same
  local m = manifest.load(dir)
  local res = bump.run(m, {dry_run = true})
  T.eq(res[1].component, "binderhub"); T.eq(res[1].old, OLD_BH); T.eq(res[1].new, NEW_BH)
  T.eq(res[1].changed, true); T.eq(res[1].files, {"mybinder/Chart.yaml"})
  T.match(res[1].diff, "\n%-    version: \"" .. OLD_BH:gsub("%p", "%%%0") .. "\"\n%+    version: \"" .. NEW_BH:gsub("%p", "%%%0") .. "\"\n")
  T.eq(res[2].new, NEW_R2D)
  T.eq(snapshot(dir), before)
end)

T.test("bump --commit: one-line diffs, one commit per component with compare links", function()
  local dir = repo()
  local base = B.git(dir, {"rev-parse", "HEAD"}):match("%x+")
  local summary = dir .. "/../summary-" .. tostring(math.random(1e6)) .. ".md"
  local r = cli(dir, {"--commit", "--summary", summary})
  T.eq(r.code, 0, r.stderr)
  T.match(r.stdout, "^binderhub " .. OLD_BH:gsub("%p", "%%%0") .. " → " .. NEW_BH:gsub("%p", "%%%0") .. " %(%x+%)\n")
  -- two commits, binderhub first
  local log = B.git(dir, {"log", "--format=%B--", base .. "..HEAD"})
  T.eq(select(2, log:gsub("%-%-\n", "")), 2, log)
  T.match(log, "binderhub: " .. OLD_BH:gsub("%p", "%%%0") .. "%.%.%." .. NEW_BH:gsub("%p", "%%%0") ..
    "\n\nhttps://github%.com/jupyterhub/binderhub/compare/383374de%.%.%.1a2b3c4d\n")
  T.match(log, "repo2docker: " .. OLD_R2D:gsub("%p", "%%%0") .. "%.%.%." .. NEW_R2D:gsub("%p", "%%%0") ..
    "\n\nhttps://github%.com/jupyterhub/repo2docker/compare/97bb4e45a%.%.%.abcdef12\n")
  -- each commit touches one file, one line
  for _, rev in ipairs({"HEAD~1", "HEAD"}) do
    local stat = B.git(dir, {"show", "--numstat", "--format=", rev})
    T.match(stat, "^1\t1\tmybinder/[%w.]+\n$", rev .. " is a one-line change")
  end
  T.match(B.git(dir, {"show", "HEAD~1"}), '\n%+    version: "' .. NEW_BH:gsub("%p", "%%%0") .. '"\n')
  T.match(B.git(dir, {"show", "HEAD"}), "\n%+      build_image: quay%.io/jupyterhub/repo2docker:" .. NEW_R2D:gsub("%p", "%%%0") .. "\n")
  T.eq(B.git(dir, {"status", "--porcelain"}), "")
  -- the pull-request body
  local md = fs.read(summary)
  T.match(md, "## binderhub: `" .. OLD_BH:gsub("%p", "%%%0") .. "` → `" .. NEW_BH:gsub("%p", "%%%0") .. "`")
  T.match(md, "| version | `" .. OLD_BH:gsub("%p", "%%%0") .. "` | `" .. NEW_BH:gsub("%p", "%%%0") .. "` |")
  T.match(md, "| appVersion |  | `1%.0%.0%-dev` |")
  T.match(md, "| chart digest |  | `4001aaaa")
  T.match(md, "| image digest | `sha256:%x+` | `sha256:%x+` |")
  T.match(md, "https://github%.com/jupyterhub/binderhub/compare/383374de%.%.%.1a2b3c4d")
  -- run again: up to date, exit 0, nothing committed
  local head = B.git(dir, {"rev-parse", "HEAD"})
  local r2 = cli(dir, {"--commit"})
  T.eq(r2.code, 0, r2.stderr)
  T.match(r2.stdout, "binderhub " .. NEW_BH:gsub("%p", "%%%0") .. " up to date\n")
  T.match(r2.stdout, "repo2docker " .. NEW_R2D:gsub("%p", "%%%0") .. " up to date\n")
  T.eq(B.git(dir, {"rev-parse", "HEAD"}), head)
end)

T.test("never a downgrade unless --to; --to must name an offered version", function()
  local dir = repo()
  local m = manifest.load(dir)
  -- the real index alone (newest 3506) is older than the 3983 in Chart.yaml
  local p = bump.pick(m, "binderhub", {ctx = bump.context(m)})
  T.eq(p.latest, NEW_BH)
  local only_old = fs.tempdir()
  fs.write(only_old .. "/index.yaml", fs.read(B.INDEX))
  local s2 = B.serve(only_old)
  local ok, err = pcall(function()
    local dir2 = B.git_repo(manifest_text(s2.url, reg.host))
    local r = cli(dir2, {"binderhub", "--exit-code"})
    T.eq(r.code, 0, r.stderr)
    T.match(r.stdout, "^binderhub " .. OLD_BH:gsub("%p", "%%%0") .. " up to date %(newest offered: 1%.0%.0%-0%.dev%.git%.3506%.hba24eb2a%)\n$")
    local r2 = cli(dir2, {"binderhub", "--to", "1.0.0-0.dev.git.3506.hba24eb2a", "--commit", "--exit-code"})
    T.eq(r2.code, 7, r2.stderr)
    T.match(B.git(dir2, {"log", "-1", "--format=%s"}), "^binderhub: " .. OLD_BH:gsub("%p", "%%%0") .. "%.%.%.1%.0%.0%-0%.dev%.git%.3506%.hba24eb2a")
    local before = snapshot(dir2)
    local r3 = cli(dir2, {"binderhub", "--to", "9.9.9"})
    T.eq(r3.code, 1)
    T.match(r3.stderr, "9%.9%.9 is not offered by")
    T.eq(snapshot(dir2), before)
    T.eq(cli(dir2, {"--to", "1.0.0"}).code, 2, "--to without a component is a usage error")
  end)
  s2.stop()
  if not ok then error(err, 0) end
end)

T.test("semantic-version order and build time disagree: said, and order: created follows time", function()
  local dir = repo()
  local m = manifest.load(dir)
  local p = bump.pick(m, "binderhub", {ctx = bump.context(m)})
  T.eq(p.latest, NEW_BH)
  T.match(p.note, "semantic%-version order picks " .. NEW_BH:gsub("%p", "%%%0"))
  T.match(p.note, "newest build by created time is 1%.0%.0%-0%.dev%.git%.3999%.h99999999")
  m.components.binderhub.source.order = "created"
  local p2 = bump.pick(m, "binderhub", {ctx = bump.context(m)})
  T.eq(p2.latest, "1.0.0-0.dev.git.3999.h99999999")
  -- the 0.2 series of the real index: n1011 (built later) sorts before n988
  m.components.binderhub.source.order = "version"
  m.components.binderhub.source.constraint = "<1.0.0-0"
  local p3 = bump.pick(m, "binderhub", {ctx = bump.context(m)})
  T.eq(p3.latest, "0.2.0-n988.h72e1852")
  T.match(p3.note, "newest build by created time is 0%.2%.0%-0%.dev%.git%.2789%.h39980f0")
  -- n1011 was built after n988 and still sorts before it
  local created = {}
  for _, it in ipairs(p3.candidates) do created[it.version] = it.created end
  local version = require "slipway.version"
  T.truthy(version.timestamp(created["0.2.0-n1011.hb49edf6"]) > version.timestamp(created["0.2.0-n988.h72e1852"]))
  T.eq(p3.newer, false, "never a downgrade")
end)

T.test("failures: unreachable, garbage, no qualifying tag, a missing path; no file touched", function()
  local cases = {
    {"unreachable", function(dir)
      fs.write(dir .. "/slipway.yaml", manifest_text("http://127.0.0.1:1", reg.host))
    end, "binderhub", "unreachable"},
    {"garbage", function(dir)
      fs.write(dir .. "/slipway.yaml", manifest_text(srv.url .. "/garbage", reg.host))
    end, "binderhub", "not a chart repository index"},
    {"no qualifying tag", function(dir)
      fs.write(dir .. "/slipway.yaml", (manifest_text(srv.url, reg.host):gsub("scheme: %[pep440, gitdescribe%]", "scheme: semver")))
    end, "repo2docker", "no version from .* qualifies %(7 listed, skipped: 7 unreadable%)"},
    {"a path that does not exist", function(dir)
      fs.write(dir .. "/slipway.yaml", (manifest_text(srv.url, reg.host):gsub("KubernetesBuildExecutor", "KubernetesBuildExecuter")))
    end, "repo2docker", "KubernetesBuildExecuter%.build_image does not exist"},
    {"a file that does not exist", function(dir)
      fs.write(dir .. "/slipway.yaml", (manifest_text(srv.url, reg.host):gsub("mybinder/Chart.yaml", "mybinder/Chart.yml")))
    end, "binderhub", "file mybinder/Chart%.yml does not exist"},
  }
  for _, c in ipairs(cases) do
    local what, setup, name, pat = c[1], c[2], c[3], c[4]
    local dir = repo()
    setup(dir)
    B.git(dir, {"commit", "-q", "-a", "-m", "manifest"})
    local before = snapshot(dir)
    local r = cli(dir, {name, "--commit"})
    T.eq(r.code, 1, what .. ": exit 1 (" .. r.stdout .. r.stderr .. ")")
    T.match(r.stdout, name .. " failed", what)
    T.match(r.stderr, pat, what)
    T.eq(snapshot(dir), before, what .. ": nothing written, nothing committed")
    -- the Lua API raises, with every result attached
    local m = manifest.load(dir)
    local e = T.raises(function() bump.run(m, {components = {name}, ctx = {retries = 0, state_dir = m.state_dir}}) end, pat)
    T.eq(e.code, "bump")
    T.eq(#e.results, 1)
    T.truthy(e.results[1].error)
  end
end)

T.test("one failing component does not stop the others", function()
  local dir = repo()
  fs.write(dir .. "/slipway.yaml", manifest_text(srv.url .. "/garbage", reg.host))
  local r = cli(dir, {})
  T.eq(r.code, 1)
  T.match(r.stdout, "binderhub failed\nrepo2docker " .. OLD_R2D:gsub("%p", "%%%0") .. " → ")
  T.match(fs.read(dir .. "/mybinder/values.yaml"), NEW_R2D:gsub("%p", "%%%0"))
end)

T.test("a federation: every location moves together, or none", function()
  local dir = repo([[
  r2d-federation:
    scheme: [pep440, gitdescribe]
    source:
      registry: {image: "]] .. reg.host .. [[/jupyterhub/repo2docker", plain_http: true}
      devel: true
    locations:
      - {file: mybinder/values.yaml, path: binderhub.config.KubernetesBuildExecutor.build_image, part: tag}
      - {file: config/member.yaml, path: binderhub.config.KubernetesBuildExecutor.build_image, part: tag}
]])
  fs.write(dir .. "/config/member.yaml", "# a federation member\nbinderhub:\n  config:\n    KubernetesBuildExecutor:\n" ..
    "      build_image: 'quay.io/jupyterhub/repo2docker:" .. OLD_R2D .. "'  # keep in step\n")
  B.git(dir, {"add", "-A"}); B.git(dir, {"commit", "-q", "-m", "member"})
  local m = manifest.load(dir)
  local res = bump.run(m, {components = {"r2d-federation"}})
  T.eq(res[1].files, {"mybinder/values.yaml", "config/member.yaml"})
  T.eq(fs.read(dir .. "/config/member.yaml"), "# a federation member\nbinderhub:\n  config:\n    KubernetesBuildExecutor:\n" ..
    "      build_image: 'quay.io/jupyterhub/repo2docker:" .. NEW_R2D .. "'  # keep in step\n")
  -- drift between members is refused, nothing written
  B.git(dir, {"checkout", "-q", "--", "."})
  fs.write(dir .. "/config/member.yaml", "binderhub:\n  config:\n    KubernetesBuildExecutor:\n      build_image: quay.io/jupyterhub/repo2docker:2024.07.0\n")
  local values = fs.read(dir .. "/mybinder/values.yaml")
  local e = T.raises(function() bump.run(m, {components = {"r2d-federation"}}) end, "the locations disagree")
  T.eq(e.code, "bump")
  T.eq(fs.read(dir .. "/mybinder/values.yaml"), values)
  -- a second location whose path is missing: the first file is not written either
  fs.write(dir .. "/config/member.yaml", "binderhub: {}\n")
  T.raises(function() bump.run(m, {components = {"r2d-federation"}}) end, "does not exist")
  T.eq(fs.read(dir .. "/mybinder/values.yaml"), values)
end)

T.test("Helm 2 requirements.yaml (1-space list indent) and a Lua source from the repository", function()
  local dir = repo([[
  prometheus:
    source:
      lua: {module: bumpsources.prometheus, fn: versions}
    locations:
      - {file: mybinder/requirements.yaml, path: "dependencies[name=prometheus].version"}
]])
  fs.write(dir .. "/mybinder/requirements.yaml", fs.read(B.MYBINDER .. "/history/requirements-2020.yaml"))
  fs.mkdir(dir .. "/bumpsources")
  fs.write(dir .. "/bumpsources/prometheus.lua",
    'return {versions = function() return {"11.16.9", "11.16.10", "12.0.0-rc.1", "11.2.0"} end}\n')
  B.git(dir, {"add", "-A"}); B.git(dir, {"commit", "-q", "-m", "helm 2"})
  local r = cli(dir, {"prometheus", "--commit"})
  T.eq(r.code, 0, r.stderr)
  T.match(r.stdout, "^prometheus 11%.16%.9 → 11%.16%.10 %(%x+%)\n$")
  T.match(B.git(dir, {"show", "--format=%s", "HEAD"}), "^prometheus: 11%.16%.9%.%.%.11%.16%.10\n.*\n%-   version: 11%.16%.9\n%+   version: 11%.16%.10\n")
  T.eq(B.git(dir, {"show", "--numstat", "--format=", "HEAD"}), "1\t1\tmybinder/requirements.yaml\n")
end)

T.test("one index fetch for components sharing a repository; the next run revalidates (304)", function()
  local server = require "slipway.server"
  local text = index_text()
  local etag = '"idx-1"'
  local seen = {}
  local counter = server.serve{port = 0, handler = function(req)
    seen[#seen + 1] = {path = req.path, inm = req.headers["if-none-match"]}
    if req.path ~= "/index.yaml" then return {status = 404, body = "no"} end
    if req.headers["if-none-match"] == etag then return {status = 304, headers = {ETag = etag}} end
    return {status = 200, headers = {ETag = etag, ["Content-Type"] = "application/x-yaml"}, body = text}
  end}
  local ok, err = pcall(function()
    local url = counter:url():gsub("/$", "")
    local dir = B.git_repo(manifest_text(url, reg.host, [[
  binderhub-member:
    source:
      helm: {repo: "]] .. url .. [[", chart: binderhub}
      devel: true
    locations:
      - {file: mybinder/Chart.yaml, path: "dependencies[name=binderhub].version"}
]]))
    local m = manifest.load(dir)
    local res = bump.run(m, {components = {"binderhub", "binderhub-member"}, dry_run = true})
    T.eq(res[1].new, NEW_BH); T.eq(res[2].new, NEW_BH)
    T.eq(#seen, 1, "one request for two components")
    T.eq(seen[1].inm, nil)
    local res2 = bump.run(m, {components = {"binderhub"}, dry_run = true})
    T.eq(res2[1].new, NEW_BH, "the cached copy answers after a 304")
    T.eq(#seen, 2)
    T.eq(seen[2].inm, etag, "the second run sends the cached ETag")
  end)
  counter:close()
  if not ok then error(err, 0) end
end)

T.test("usage errors exit 2", function()
  local dir = repo()
  T.eq(cli(dir, {"--bogus"}).code, 2)
  T.eq(cli(dir, {"nosuchcomponent"}).code, 2)
  T.eq(cli(dir, {"--dry-run", "--commit"}).code, 2)
  fs.write(dir .. "/slipway.yaml", "components: [\n")
  local r = cli(dir, {})
  T.eq(r.code, 2)
  T.match(r.stderr, "slipway%.yaml")
end)

T.test("image references: the tag part", function()
  T.eq({bump._split_tag("quay.io/jupyterhub/repo2docker:2026.4.1.dev44-g97bb4e45a")},
       {"quay.io/jupyterhub/repo2docker:", "2026.4.1.dev44-g97bb4e45a"})
  T.eq({bump._split_tag("127.0.0.1:5000/app:1.0")}, {"127.0.0.1:5000/app:", "1.0"})
  T.eq({bump._split_tag("repo2docker:1.0")}, {"repo2docker:", "1.0"})
  T.eq(bump._split_tag("127.0.0.1:5000/app"), nil)
  T.eq(bump._split_tag("quay.io/a/b:1.0@sha256:abc"), nil)
end)

T.run()
srv.stop()
reg.stop()
