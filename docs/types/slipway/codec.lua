---@meta slipway.codec
-- Small encodings several modules share (docs/codec.md).

---@class slipway.codec
local codec = {}

---Standard base64 (RFC 4648) with padding.
---@param s string
---@return string
function codec.base64(s) end

---The bytes, or nil when s is not base64 (white space is ignored).
---@param s string
---@return string?
function codec.unbase64(s) end

---Seconds since the epoch of a UTC date and time (os.time reads the local zone).
---@param y integer
---@param mo integer
---@param d integer
---@param h? integer
---@param mi? integer
---@param s? integer
---@return integer
function codec.timegm(y, mo, d, h, mi, s) end

return codec
