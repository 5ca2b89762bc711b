---@meta slipway.path
-- The one reader of slipway's path syntax (docs/path.md).

---@class slipway.PathSegment
---@field key? string a mapping key (also set for a bare number)
---@field index? integer a 0-based sequence index (negative: from the end)
---@field num? integer a bare number: an index on a sequence, the key on a mapping
---@field filter? [string, string] the one item whose key reads the value

---@alias slipway.Path string|(string|integer|slipway.PathSegment)[]

---@class slipway.path
local path = {}

---The segments of a path; raises code "path" (fields path, column, reason) when malformed.
---@param p slipway.Path
---@return slipway.PathSegment[]
function path.parse(p) end

---nil when p parses, else the reason (no file:line in front) and the 1-based column.
---@param p slipway.Path
---@return string? reason
---@return integer? column
function path.check(p) end

---The text of segments (the first upto of them); parse(format(s)) equals s.
---@param segs slipway.Path|slipway.PathSegment[]
---@param upto? integer
---@return string
function path.format(segs, upto) end

---The text of one segment with its leading "." or brackets.
---@param seg slipway.PathSegment
---@return string
function path.segment(seg) end

---The value at p in a loaded tree (editor semantics), or nil and why.
---@param tree any
---@param p slipway.Path
---@return any value
---@return string? why
function path.get(tree, p) end

return path
