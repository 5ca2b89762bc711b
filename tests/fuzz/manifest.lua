-- Fuzz the manifest: slipway.yaml text through manifest.parse and then the
-- environments' validation (environments.load), as `slipway deploy` reads
-- it. Bad text must give an error that names the file (a structured
-- error or a message), never a Lua runtime error such as "attempt to
-- index a nil value" from a check that assumed a type.
local manifest = require "slipway.manifest"
local environments = require "slipway.environments"
local F = require "fuzzlib"

return function(data)
  local ok, m = F.try("manifest.parse", manifest.parse, data, "slipway.yaml")
  if not ok then
    F.check(tostring(m):find("slipway.yaml", 1, true),
      "manifest.parse's error does not name the file: %s", tostring(m))
    return
  end
  F.check(type(m) == "table" and type(m.components) == "table" and type(m.order) == "table",
    "manifest.parse returned no components/order")
  for _, name in ipairs(m.order) do
    F.check(m.components[name], "order names %q, which is not a component", tostring(name))
  end
  local eok, envs = F.try("environments.load", environments.load, m)
  if eok then
    F.check(type(envs) == "table" and type(envs.list) == "table", "environments.load returned no list")
  end
end
