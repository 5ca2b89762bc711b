--- slipway.sources.registry: tags from an OCI / Docker Registry HTTP API v2.
--
--   source: {registry: {image: quay.io/jupyterhub/repo2docker}}
--
-- GET /v2/<name>/tags/list?n=<page_size>, following `Link: <...>; rel="next"`
-- pages; a 401 with `WWW-Authenticate: Bearer realm=...,service=...,scope=...`
-- fetches a token from the realm (anonymously, or with Basic credentials
-- from the environment variables named by username_env/password_env; or a
-- ready token from token_env) and retries. Every credential and token is
-- registered as a secret, so it never reaches a log or an error.
-- `plain_http: true` talks http:// (a registry on 127.0.0.1 in tests).
-- Images without a registry host are on Docker Hub (registry-1.docker.io,
-- library/ for one-part names). OCI-hosted Helm charts are listed the same
-- way (slipway.sources.helm sends `oci://` repositories here).
local codec = require "slipway.codec"
local core = require "slipway.core"
local M = {}

local function errmsg(e) return type(e) == "table" and e.message or tostring(e) end

-- response headers are case-insensitive (slipway.http)
local function header(res, name) return res.headers[name] end

local base64 = codec.base64
M._base64 = base64

local function urlencode(s)
  return (s:gsub("[^%w%-._~]", function(c) return string.format("%%%02X", c:byte()) end))
end

--- registry.parse_image(ref) -> {host, name, scheme_host} for "quay.io/a/b",
-- "oci://127.0.0.1:5000/charts/binderhub", "ubuntu", "user/app".
function M.parse_image(ref)
  ref = ref:gsub("^oci://", ""):gsub("/+$", "")
  local first, rest = ref:match("^([^/]+)/(.+)$")
  local host, name
  if first and (first:find("[.:]") or first == "localhost") then
    host, name = first, rest
  else
    host, name = "registry-1.docker.io", ref
    if not name:find("/") then name = "library/" .. name end
  end
  if host == "docker.io" or host == "index.docker.io" then host = "registry-1.docker.io" end
  return {host = host, name = name}
end

-- "Bearer realm="x",service="y"" -> "bearer", {realm = "x", service = "y"}
local function parse_challenge(h)
  if type(h) == "table" then h = h[1] end
  if type(h) ~= "string" then return nil end
  local scheme, rest = h:match("^%s*(%a+)%s*(.*)$")
  if not scheme then return nil end
  local params = {}
  for k, v in rest:gmatch('([%w_-]+)%s*=%s*"([^"]*)"') do params[k:lower()] = v end
  for k, v in rest:gmatch('([%w_-]+)%s*=%s*([^",%s]+)') do params[k:lower()] = params[k:lower()] or v end
  return scheme:lower(), params
end
M._parse_challenge = parse_challenge

local function credentials(src)
  local env = require "slipway.env"
  local user = src.username_env and env.secret(src.username_env, {optional = true}) or nil
  local pass = src.password_env and env.secret(src.password_env, {optional = true}) or nil
  local token = src.token_env and env.secret(src.token_env, {optional = true}) or nil
  return user, pass, token
end

-- a registry client for one image: remembers its token
local Client = {}
Client.__index = Client

--- registry.client(src, ctx) -> client with :get(path_or_url, opts),
-- :tags(), :digest(tag). src: {image, plain_http, username_env, password_env,
-- token_env, page_size}.
function M.client(src, ctx)
  local img = M.parse_image(src.image)
  local self = setmetatable({src = src, ctx = ctx or {}, host = img.host, name = img.name,
    base = (src.plain_http and "http://" or "https://") .. img.host}, Client)
  self.user, self.pass, self.token = credentials(src)
  if self.token then self.auth = "Bearer " .. self.token end
  return self
end

function Client:request(method, url, headers)
  local http = require "slipway.http"
  headers = headers or {}
  local function send()
    local h = {}
    for k, v in pairs(headers) do h[k] = v end
    if self.auth then h["Authorization"] = self.auth end
    local ok, res = pcall(http.request, {method = method, url = url, headers = h,
      timeout = self.ctx.timeout or 60, retries = self.ctx.retries})
    if not ok then
      core.raise(type(res) == "table" and res.code or "http",
        "registry " .. self.host .. " unreachable: " .. errmsg(res), {url = url}, 0)
    end
    return res
  end
  local res = send()
  if res.status == 401 and not self.tried_auth then
    self.tried_auth = true
    local scheme, p = parse_challenge(header(res, "WWW-Authenticate"))
    if scheme == "bearer" and p.realm then
      self:fetch_token(p)
      res = send()
    elseif scheme == "basic" and self.user and self.pass then
      self.auth = "Basic " .. core.secret(base64(self.user .. ":" .. self.pass))
      res = send()
    end
  end
  return res
end

function Client:fetch_token(p)
  local http = require "slipway.http"
  local json = require "slipway.json"
  local scope = p.scope or ("repository:" .. self.name .. ":pull")
  local url = p.realm .. (p.realm:find("?", 1, true) and "&" or "?") ..
    (p.service and ("service=" .. urlencode(p.service) .. "&") or "") .. "scope=" .. urlencode(scope)
  local headers = {}
  if self.user and self.pass then
    headers["Authorization"] = "Basic " .. core.secret(base64(self.user .. ":" .. self.pass))
  end
  local ok, res = pcall(http.get, url, {headers = headers, timeout = self.ctx.timeout or 60,
    retries = self.ctx.retries})
  if not ok then
    core.raise(type(res) == "table" and res.code or "http",
      "registry token service " .. p.realm .. " unreachable: " .. errmsg(res), {}, 0)
  end
  if res.status ~= 200 then
    core.raise("auth", string.format("registry token service %s answered HTTP %d for %s",
      p.realm, res.status, scope), {status = res.status}, 0)
  end
  local okj, body = pcall(json.decode, res.body)
  local token = okj and type(body) == "table" and (body.token or body.access_token)
  if type(token) ~= "string" or token == "" then
    core.raise("auth", "registry token service " .. p.realm .. " returned no token", {}, 0)
  end
  core.secret(token)
  self.auth = "Bearer " .. token
end

--- registry.next_link(res) -> the target of the response's
-- `Link: <...>; rel="next"` header, or nil (slipway.github pages the same way).
local function next_link(res)
  local link = header(res, "Link")
  if type(link) == "table" then link = table.concat(link, ", ") end
  if type(link) ~= "string" then return nil end
  for target, params in link:gmatch("<([^>]*)>%s*([^,]*)") do
    if params:find('rel="?next"?') then return target end
  end
  return nil
end

M.next_link = next_link

--- client:tags() -> list of tag names, in the registry's order, all pages.
function Client:tags()
  local json = require "slipway.json"
  local n = self.src.page_size or 1000
  local url = self.base .. "/v2/" .. self.name .. "/tags/list?n=" .. n
  local all, seen, pages = {}, {}, 0
  while url do
    pages = pages + 1
    if pages > 10000 then core.raise("source", "registry " .. self.host .. ": more than 10000 pages of tags", {}, 0) end
    local res = self:request("GET", url, {["Accept"] = "application/json"})
    if res.status == 404 then
      core.raise("source", string.format("image %s/%s not found in the registry (HTTP 404)", self.host, self.name),
                 {status = 404}, 0)
    elseif res.status == 401 or res.status == 403 then
      core.raise("auth", string.format("registry %s refused to list %s (HTTP %d)", self.host, self.name, res.status),
                 {status = res.status}, 0)
    elseif res.status ~= 200 then
      core.raise("http", string.format("registry %s answered HTTP %d listing %s", self.host, res.status, self.name),
                 {status = res.status}, 0)
    end
    local ok, body = pcall(json.decode, res.body)
    if not ok or type(body) ~= "table" then
      core.raise("source", "registry " .. self.host .. " returned a tag list that is not JSON", {}, 0)
    end
    local tags = body.tags
    if tags == json.null then tags = nil end      -- {"tags": null}: no tags (GHCR, Harbor)
    if tags ~= nil and type(tags) ~= "table" then
      core.raise("source", "registry " .. self.host .. ": tags is not a list", {}, 0)
    end
    for _, t in ipairs(tags or {}) do
      if type(t) == "string" and not seen[t] then seen[t] = true; all[#all + 1] = t end
    end
    local nxt = next_link(res)
    if nxt and not nxt:find("^%a+://") then nxt = self.base .. (nxt:sub(1, 1) == "/" and "" or "/") .. nxt end
    if nxt == url then break end
    url = nxt
  end
  self.pages = pages
  return all
end

local MANIFEST_TYPES = table.concat({
  "application/vnd.oci.image.index.v1+json",
  "application/vnd.oci.image.manifest.v1+json",
  "application/vnd.docker.distribution.manifest.list.v2+json",
  "application/vnd.docker.distribution.manifest.v2+json",
}, ", ")

--- client:digest(tag) -> "sha256:..." of the manifest the tag points at, or nil.
function Client:digest(tag)
  local res = self:request("HEAD", self.base .. "/v2/" .. self.name .. "/manifests/" .. tag,
    {["Accept"] = MANIFEST_TYPES})
  if res.status ~= 200 then return nil end
  return header(res, "Docker-Content-Digest")
end

--- registry.candidates(component, ctx [, src]) -> list of {version = tag}
-- src defaults to component.source (the helm source passes an oci:// chart).
function M.candidates(comp, ctx, src)
  src = src or comp.source
  local c = M.client(src, ctx)
  local out = {}
  for _, t in ipairs(c:tags()) do out[#out + 1] = {version = t} end
  return out, {url = c.base .. "/v2/" .. c.name, client = c, pages = c.pages}
end

return M
