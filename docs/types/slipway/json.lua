---@meta slipway.json
-- JSON (docs/json.md): decoding on lua-cjson, stable encoding.

---@class slipway.json
---@field null lightuserdata the sentinel for JSON null
local json = {}

---Decode; raises code "json" with fields line, column, snippet on bad input.
---@param s string
---@param opts? {name?: string}
---@return any
function json.decode(s, opts) end

---Encode (keys sorted by default; indent = spaces or a string).
---@param v any
---@param opts? {indent?: integer|string, sort?: boolean}
---@return string
function json.encode(v, opts) end

---`json.decode(fs.read(path), {name = path})`.
---@param path string
---@return any
function json.read(path) end

---A deep copy of v as a JSON record of it reads back; nil when v cannot be encoded.
---@param v any
---@return any
function json.snapshot(v) end

---Encode (indent 2), add "\n", write atomically.
---@param path string
---@param v any
---@param opts? {indent?: integer|string, sort?: boolean, mode?: integer, redact?: boolean}
function json.write(path, v, opts) end

---Mark t (default {}) so it encodes as an array, also when empty.
---@generic T: table
---@param t? T
---@return T
function json.array(t) end

---Whether t was marked with json.array.
---@param t table
---@return boolean
function json.is_array(t) end

return json
