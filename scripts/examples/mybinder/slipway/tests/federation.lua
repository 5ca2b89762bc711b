-- What the federation redirector checks of every member in its rotation
-- (images/federation-redirect/app.py, health_check): /versions equals the
-- prime member's /versions, and /health answers 200 with every check ok. A
-- member that differs is taken out of the rotation -- a version skew once
-- sent no traffic to up-to-date members for nine hours -- so after a deploy
-- this says which member differs, and how, before the redirector acts on it.
local t = ...
local json = require "slipway.json"
local yaml = require "slipway.yaml"

local hosts = (t.values().federationRedirect or {}).hosts or {}
local names, prime = {}, nil
for name, h in pairs(hosts) do
  -- as get_config: null entries and zero weights are not in the rotation
  if h ~= yaml.null and type(h) == "table" and (tonumber(h.weight) or 0) > 0 then
    names[#names + 1] = name
    if h.prime then prime = name end
  end
end
table.sort(names)
if not prime then error("federationRedirect.hosts has no prime member in the rotation", 0) end

local function fetch(name, what)
  local url = hosts[name][what]
  local r = t.get(url)
  if r.status ~= 200 then error(string.format("%s: GET %s: status %d", name, url, r.status), 0) end
  local ok, doc = pcall(json.decode, r.body or "")
  if not ok then error(string.format("%s: GET %s: not JSON", name, url), 0) end
  return doc
end

local function same(a, b)
  if type(a) ~= "table" or type(b) ~= "table" then return a == b end
  for k, v in pairs(a) do if not same(v, b[k]) then return false end end
  for k in pairs(b) do if a[k] == nil then return false end end
  return true
end

local want = fetch(prime, "versions")
for _, name in ipairs(names) do
  local got = name == prime and want or fetch(name, "versions")
  if not same(got, want) then
    error(string.format("%s has different versions (%s) than the prime %s (%s)", name, json.encode(got),
      prime, json.encode(want)), 0)
  end
  for _, c in ipairs(fetch(name, "health").checks or {}) do
    if not c.ok then error(string.format("%s unhealthy: %s", name, json.encode(c)), 0) end
  end
end
return string.format("%d member(s) on the prime's (%s) versions and healthy", #names, prime)
