---@meta slipway.digest
-- SHA-256 of strings and files on GNU Nettle (docs/digest.md).

---@class slipway.digest
local digest = {}

---The SHA-256 of the string s (any bytes): 64 lowercase hex digits. A non-string raises.
---@param s string
---@return string
function digest.sha256(s) end

---The SHA-256 of a file's content, read in chunks. A file that cannot be read raises a structured error (code the errno name, fields path, op), as fs.read does.
---@param path string
---@return string hex
function digest.sha256_file(path) end

return digest
