--- Real servers and fixtures for the bump tests (version/manifest/bump/
-- sources specs): a temporary git repository with mybinder.org-deploy's real
-- files, the real Debian docker-registry on 127.0.0.1 with images pushed by
-- skopeo, the registry STAND-IN (tests/fixtures/bump/registry_standin.py,
-- for pagination and the Bearer challenge), a static HTTP server for chart
-- repositories, and the real helm (vendor/get-helm).
local proc = require "slipway.proc"
local fs = require "slipway.fs"
local task = require "slipway.task"
local sync = require "sync"
local B = {}

B.SRC = os.getenv("SLIPWAY_SRC") or "."
B.SHARED = os.getenv("SLIPWAY_SHARED") or "/work/shared"
B.MYBINDER = B.SHARED .. "/fixtures/mybinder.org-deploy"
B.INDEX = B.SHARED .. "/fixtures/helm-chart-index/index.yaml"

function B.run(argv, opts)
  opts = opts or {}
  if opts.check == nil then opts.check = true end
  opts.timeout = opts.timeout or 120
  return proc.run(argv, opts)
end

function B.have(cmd)
  return proc.which(cmd) ~= nil
end

local function wait_for(path, pattern)
  local t0 = task.now()
  while task.now() - t0 < sync.SAFETY do
    if fs.isfile(path) then
      local m = fs.read(path):match(pattern)
      if m then return m end
    end
    task.sleep(0.02)
  end
  return nil
end

--- The real helm binary (vendor/get-helm installs it once).
local helm_path
function B.helm()
  if helm_path then return helm_path end
  local r = B.run({B.SRC .. "/vendor/get-helm"}, {timeout = 300})
  helm_path = r.stdout:match("([^\n]+)")
  return helm_path
end

--- helm with a private HELM_*_HOME under dir.
function B.helm_run(dir, args, opts)
  local argv = {B.helm()}
  for _, a in ipairs(args) do argv[#argv + 1] = a end
  opts = opts or {}
  opts.env = {HELM_CACHE_HOME = dir .. "/cache", HELM_CONFIG_HOME = dir .. "/config",
              HELM_DATA_HOME = dir .. "/data", HELM_REGISTRY_CONFIG = dir .. "/registry.json"}
  return B.run(argv, opts)
end

--- Serve dir over HTTP on 127.0.0.1 with slipway's own server (ETag and
-- Last-Modified). -> {url, stop}
function B.serve(dir)
  local srv = require("slipway.server").serve_files(dir)
  return {url = srv:url():gsub("/$", ""), stop = function() srv:close() end, kind = "slipway"}
end

--- The real registry (Debian docker-registry) on 127.0.0.1:<random>.
-- -> {host = "127.0.0.1:PORT", url, dir, stop}
-- opts.storage: the data directory (to restart on the same data);
-- opts.auth = {realm, service, issuer, rootcertbundle}: token auth.
function B.registry(opts)
  opts = opts or {}
  local dir = fs.tempdir()
  local conf = dir .. "/config.yml"
  local lines = {
    "version: 0.1",
    "log: {level: info}",
    "storage:",
    "  filesystem: {rootdirectory: " .. (opts.storage or (dir .. "/data")) .. "}",
    "  delete: {enabled: true}",
    "http:",
    "  addr: 127.0.0.1:0",
    "  secret: slipway-test",
  }
  if opts.auth then
    local a = opts.auth
    for _, l in ipairs({"auth:", "  token:", "    realm: " .. a.realm, "    service: " .. a.service,
                        "    issuer: " .. a.issuer, "    rootcertbundle: " .. a.rootcertbundle}) do
      lines[#lines + 1] = l
    end
  end
  lines[#lines + 1] = ""
  fs.write(conf, table.concat(lines, "\n"))
  local h = proc.spawn({"docker-registry", "serve", conf},
    {stdout = "discard", stderr = {file = dir .. "/registry.log"}})
  local port = wait_for(dir .. "/registry.log", "listening on 127%.0%.0%.1:(%d+)")
  if not port then
    h:kill()
    error("docker-registry did not start: " .. (fs.isfile(dir .. "/registry.log") and fs.read(dir .. "/registry.log") or ""))
  end
  local reg = {host = "127.0.0.1:" .. port, url = "http://127.0.0.1:" .. port, dir = dir, handle = h}
  function reg.stop() h:kill(); pcall(h.wait, h) end
  return reg
end

--- The registry stand-in (Python, see its header). tags: list of strings.
-- opts: page (server-side maximum page), user ("u:p" for the token service).
-- -> {host, url, log (path of its request log), stop}
function B.standin(tags, opts)
  opts = opts or {}
  local dir = fs.tempdir()
  fs.write(dir .. "/tags", table.concat(tags, "\n") .. "\n")
  local argv = {"python3", B.SRC .. "/tests/fixtures/bump/registry_standin.py", dir .. "/tags",
    "--page", tostring(opts.page or 100), "--log", dir .. "/requests.log"}
  if opts.user then argv[#argv + 1] = "--user"; argv[#argv + 1] = opts.user end
  local h = proc.spawn(argv, {stdout = {file = dir .. "/port"}, stderr = {file = dir .. "/stderr"}})
  local port = wait_for(dir .. "/port", "^(%d+)\n")
  if not port then h:kill(); error("registry stand-in did not start") end
  local s = {host = "127.0.0.1:" .. port, url = "http://127.0.0.1:" .. port, log = dir .. "/requests.log"}
  function s.requests() return fs.isfile(s.log) and fs.read(s.log) or "" end
  function s.stop() h:kill(); pcall(h.wait, h) end
  return s
end

local function sha256_file(path)
  return B.run({"sha256sum", path}).stdout:match("^(%x+)")
end

local function add_blob(layout, path)
  local hex = sha256_file(path)
  local size = fs.stat(path).size
  B.run({"mv", path, layout .. "/blobs/sha256/" .. hex})
  return "sha256:" .. hex, size
end

--- A tiny OCI image layout (one layer with one file) built by hand in dir;
-- returns "oci:<dir>:latest" for skopeo.
function B.oci_image(dir, content)
  fs.mkdir(dir .. "/blobs/sha256")
  fs.mkdir(dir .. "/l")
  fs.write(dir .. "/oci-layout", '{"imageLayoutVersion":"1.0.0"}')
  fs.write(dir .. "/l/hello.txt", content or "hello from slipway\n")
  B.run({"tar", "-C", dir .. "/l", "-cf", dir .. "/layer.tar", "hello.txt"})
  local ld, ls = add_blob(dir, dir .. "/layer.tar")
  fs.write(dir .. "/config.json", string.format(
    '{"architecture":"amd64","os":"linux","rootfs":{"type":"layers","diff_ids":["%s"]},"config":{}}', ld))
  local cd, cs = add_blob(dir, dir .. "/config.json")
  fs.write(dir .. "/manifest.json", string.format(
    '{"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json",' ..
    '"config":{"mediaType":"application/vnd.oci.image.config.v1+json","digest":"%s","size":%d},' ..
    '"layers":[{"mediaType":"application/vnd.oci.image.layer.v1.tar","digest":"%s","size":%d}]}', cd, cs, ld, ls))
  local md, ms = add_blob(dir, dir .. "/manifest.json")
  fs.write(dir .. "/index.json", string.format(
    '{"schemaVersion":2,"manifests":[{"mediaType":"application/vnd.oci.image.manifest.v1+json",' ..
    '"digest":"%s","size":%d,"annotations":{"org.opencontainers.image.ref.name":"latest"}}]}', md, ms))
  return "oci:" .. dir .. ":latest", md
end

--- skopeo copy src docker://ref (plain HTTP registry on loopback)
function B.push(src, ref)
  B.run({"skopeo", "copy", "--quiet", "--dest-tls-verify=false", src, "docker://" .. ref})
end

--- A temporary git repository holding copies of mybinder.org-deploy's real
-- files (mybinder/Chart.yaml, mybinder/values.yaml, config/*) and the given
-- slipway.yaml text, committed. -> dir
function B.git_repo(manifest_text)
  local dir = fs.tempdir()
  fs.mkdir(dir .. "/mybinder"); fs.mkdir(dir .. "/config")
  for _, f in ipairs({"mybinder/Chart.yaml", "mybinder/values.yaml", "config/prod.yaml", "config/staging.yaml"}) do
    fs.write(dir .. "/" .. f, fs.read(B.MYBINDER .. "/" .. f))
  end
  if manifest_text then fs.write(dir .. "/slipway.yaml", manifest_text) end
  fs.write(dir .. "/.gitignore", ".slipway/\n")
  local env = {GIT_AUTHOR_NAME = "slipway test", GIT_AUTHOR_EMAIL = "test@example.invalid",
               GIT_COMMITTER_NAME = "slipway test", GIT_COMMITTER_EMAIL = "test@example.invalid"}
  B.run({"git", "init", "-q", "-b", "main", dir})
  B.run({"git", "-C", dir, "config", "user.name", "slipway test"})
  B.run({"git", "-C", dir, "config", "user.email", "test@example.invalid"})
  B.run({"git", "-C", dir, "config", "commit.gpgsign", "false"})
  B.run({"git", "-C", dir, "add", "-A"})
  B.run({"git", "-C", dir, "commit", "-q", "-m", "initial"}, {env = env})
  return dir
end

function B.git(dir, args)
  local argv = {"git", "-C", dir}
  for _, a in ipairs(args) do argv[#argv + 1] = a end
  return B.run(argv).stdout
end

return B
