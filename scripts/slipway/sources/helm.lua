--- slipway.sources.helm: versions from a Helm chart repository's index.yaml.
--
--   local helm = require "slipway.sources.helm"
--   local idx = helm.index(ctx, "https://jupyterhub.github.io/helm-chart/")
--   local list = helm.candidates(component, ctx)
--
-- The index is fetched over HTTP(S) with a conditional request (ETag /
-- Last-Modified) against a copy cached on disk in
-- <state_dir>/cache/helm/<url>/ and parsed once per context, however many
-- components share it. An `oci://` repository is an OCI registry: the chart
-- is the image <repo>/<chart> and slipway.sources.registry lists its tags.
local core = require "slipway.core"
local fs = require "slipway.fs"
local M = {}

-- response headers are case-insensitive (slipway.http)
local function header(res, name) return res.headers[name] end
M.header = header

local function index_url(repo)
  return (repo:gsub("/+$", "")) .. "/index.yaml"
end

local function cache_dir(ctx, url)
  if not ctx.state_dir then return nil end
  local safe = url:gsub("^%a+://", ""):gsub("[^%w._-]", "_")
  return fs.join(ctx.state_dir, "cache", "helm", safe)
end

local function errmsg(e) return type(e) == "table" and e.message or tostring(e) end

-- the text of index.yaml: fresh, or the cached copy when the server says 304
local function fetch(ctx, url)
  local http = require "slipway.http"
  local json = require "slipway.json"
  local dir = cache_dir(ctx, url)
  local meta, cached
  if dir and fs.isfile(fs.join(dir, "index.yaml")) and fs.isfile(fs.join(dir, "meta.json")) then
    local ok, m = pcall(function() return json.decode(fs.read(fs.join(dir, "meta.json"))) end)
    if ok and type(m) == "table" and m.url == url then meta = m end
  end
  local headers = {["Accept"] = "application/x-yaml, text/yaml, */*"}
  if meta then
    if meta.etag then headers["If-None-Match"] = meta.etag end
    if meta.last_modified then headers["If-Modified-Since"] = meta.last_modified end
  end
  local ok, res = pcall(http.get, url, {headers = headers, timeout = ctx.timeout or 60, retries = ctx.retries})
  if not ok then
    core.raise(type(res) == "table" and res.code or "http",
      "chart repository " .. url .. " unreachable: " .. errmsg(res), {url = url}, 0)
  end
  if res.status == 304 and meta then
    cached = fs.read(fs.join(dir, "index.yaml"))
    return cached, "cache"
  end
  if res.status ~= 200 then
    core.raise("http", string.format("chart repository %s answered HTTP %d", url, res.status),
               {url = url, status = res.status}, 0)
  end
  if dir then
    -- the cache is an optimisation: failing to write it must not fail a bump
    pcall(function()
      fs.mkdir(dir)
      fs.write(fs.join(dir, "index.yaml"), res.body)
      fs.write(fs.join(dir, "meta.json"), json.encode({url = url, etag = header(res, "ETag"),
        last_modified = header(res, "Last-Modified")}, {sort = true}))
    end)
  end
  return res.body, "network"
end

--- helm.index(ctx, repo) -> {url=, entries = {chart -> list of entries}, from = "network"|"cache"}
-- Fetched and parsed once per ctx (ctx.indexes caches by URL). Raises code
-- "http"/"connect"/"timeout"/... when the repository cannot be reached and
-- "source" when the answer is not a chart repository index.
function M.index(ctx, repo)
  ctx.indexes = ctx.indexes or {}
  local url = index_url(repo)
  local have = ctx.indexes[url]
  if have then return have end
  local text, from = fetch(ctx, url)
  local yaml = require "slipway.yaml"
  local ok, doc = pcall(yaml.load, text)
  if not ok then
    core.raise("source", url .. " is not a chart repository index (not YAML: " .. errmsg(doc) .. ")", {url = url}, 0)
  end
  if type(doc) ~= "table" or type(doc.entries) ~= "table" then
    core.raise("source", url .. " is not a chart repository index (no entries)", {url = url}, 0)
  end
  have = {url = url, entries = doc.entries, from = from, api_version = doc.apiVersion, generated = doc.generated}
  ctx.indexes[url] = have
  return have
end

--- helm.candidates(component, ctx) -> list of {version, created, app_version,
-- digest, urls}: every entry of the chart, unfiltered (slipway.bump filters).
function M.candidates(comp, ctx)
  local src = comp.source
  if src.repo:find("^oci://") then
    local reg = require "slipway.sources.registry"
    local image = (src.repo:gsub("^oci://", ""):gsub("/+$", "")) .. "/" .. src.chart
    local items, info = reg.candidates(comp, ctx, {image = image, plain_http = src.plain_http,
      username_env = src.username_env, password_env = src.password_env})
    -- helm push writes "+" (build metadata) as "_" in OCI tags
    for _, it in ipairs(items) do
      if it.version:find("_", 1, true) then it.tag = it.version; it.version = it.version:gsub("_", "+") end
    end
    return items, info
  end
  local idx = M.index(ctx, src.repo)
  local list = idx.entries[src.chart]
  if list == nil then
    core.raise("source", string.format("chart %s is not in %s", src.chart, idx.url), {url = idx.url}, 0)
  end
  if type(list) ~= "table" then
    core.raise("source", string.format("%s: entries.%s is not a list", idx.url, src.chart), {url = idx.url}, 0)
  end
  local out = {}
  for _, e in ipairs(list) do
    if type(e) == "table" and type(e.version) == "string" then
      out[#out + 1] = {version = e.version, created = e.created, app_version = e.appVersion,
                       digest = e.digest, urls = e.urls}
    elseif type(e) == "table" and e.version ~= nil then
      -- a YAML number such as `version: 1.0` is not a version string
      out[#out + 1] = {version = tostring(e.version), created = e.created, app_version = e.appVersion,
                       digest = e.digest, urls = e.urls}
    end
  end
  return out, {url = idx.url, from = idx.from}
end

return M
