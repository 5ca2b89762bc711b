---@meta slipway.demo
-- `slipway demo` (docs/demo.md).

---@class slipway.demo
local demo = {}

---Run the demo: bump, deploy, a broken bump reverted by itself, history.
---Returns an exit status (1 when one of its own checks failed).
---@param opts? {keep?: boolean, dir?: string}
---@return integer
function demo.run(opts) end

return demo
