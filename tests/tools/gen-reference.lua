-- gen-reference.lua: write docs/reference.md from the running binary (the
-- commands' --help and the public modules and objects). Run from the
-- repository after changing a command's usage or a module's functions:
--
--   SLIPWAY_BIN=$PWD/build/slipway SLIPWAY_SRC=$PWD SLIPWAY_PATH=tests/lua/lib \
--     build/slipway tests/tools/gen-reference.lua
--
-- tests/lua/docs_spec.lua fails when the committed file differs.
local apidoc = require "apidoc"
local fs = require "slipway.fs"

local src = os.getenv("SLIPWAY_SRC") or "."
local top, commands = apidoc.commands()
for _, c in ipairs(commands) do
  if c.code ~= 0 then error("slipway " .. c.name .. " --help exited " .. c.code .. ": " .. c.stderr) end
end
local text = apidoc.reference(apidoc.runtime(), top, commands)
fs.write(src .. "/docs/reference.md", text)
print("wrote " .. src .. "/docs/reference.md")
