--- slipway.state.local: the record of deploys in this machine's state
-- directory (`state_dir` of slipway.yaml, default .slipway/): one file,
-- STATE_DIR/state.json, replaced atomically (slipway.fs write: temp +
-- rename) under STATE_DIR/state.lock (flock), so two runs on one machine
-- merge their writes. Nothing leaves the machine.
local fs = require "slipway.fs"
local R = require "slipway.state.record"

local M = {}
local Store = {}
Store.__index = Store

--- open{state_dir =, wait = 30} -> store
function M.open(opts)
  if type(opts.state_dir) ~= "string" then
    error("bad argument to 'state.open' (local: state_dir expected)", 3)
  end
  return setmetatable({dir = opts.state_dir, path = opts.state_dir .. "/state.json",
                       wait = opts.wait or 30, backend = "local"}, Store)
end

function Store:where() return self.path end

function Store:read()
  if not fs.exists(self.path) then return R.empty() end
  return R.decode_doc(fs.read(self.path), "local", self.path,
    "look at " .. self.path .. " (the journals in " .. self.dir .. "/journal/ hold every run); " ..
    "move it away to start a new record")
end

--- store:write(delta) -> doc
function Store:write(delta)
  fs.mkdir(self.dir)
  local lk <close> = fs.lock(self.dir .. "/state.lock", {wait = self.wait, note = "slipway state write"})
  local doc = self:read()
  R.merge(doc, delta)
  fs.write(self.path, R.encode_doc(doc))
  return doc
end

return M
