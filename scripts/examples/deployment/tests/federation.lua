-- A Lua check (slipway.yaml: tests): anything a declarative check cannot say.
-- Called with {url, versions, env, ctx, get}; raise to fail, return a detail.
local t = ...
local res = t.get("/active_hosts")
if res.status ~= 200 then error("/active_hosts: status " .. res.status) end
local hosts = require("slipway.json").decode(res.body)
if type(hosts) ~= "table" or not hosts[t.env.name] then
  error("/active_hosts does not list " .. t.env.name)
end
return "federation lists " .. t.env.name .. " with weight " .. tostring(hosts[t.env.name].weight)
