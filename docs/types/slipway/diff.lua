---@meta slipway.diff
-- Unified diffs of two texts (docs/diff.md).

---@class slipway.diff
local diff = {}

---A unified diff of two texts with 3 lines of context, "" when they are equal.
---@param old string
---@param new string
---@param label_a? string
---@param label_b? string
---@return string
function diff.unified(old, new, label_a, label_b) end

return diff
