---@meta slipway.core
-- The primitives under the friendly modules (docs/errors.md).

---@class slipway.core
local core = {}

---Raise a structured error; `level` picks the frame whose "file:line: " goes
---in front of the message (default: the first frame outside slipway).
---@param code string
---@param message string
---@param fields? table extra fields of the error
---@param level? integer
function core.raise(code, message, fields, level) end

---Build a structured error without raising it.
---@param code string
---@param message string
---@param fields? table
---@return slipway.Error
function core.error(code, message, fields) end

---Whether `x` is a structured error.
---@param x any
---@return boolean
function core.is_error(x) end

---"file:line: " of the frame `level` (or of the first user frame).
---@param level? integer
---@return string
function core.where(level) end

---Register a secret: from now on it is written as *** in every output.
---@param value string
---@return string value
function core.secret(value) end

---`s` with every registered secret replaced by ***.
---@param s string
---@return string
function core.redact(s) end

---`s` as valid UTF-8: bytes that are not part of a valid sequence become U+FFFD.
---@param s string
---@return string
function core.utf8(s) end

---`s` safe for a terminal: control characters and bytes that are not UTF-8
---escaped (\n, \r, \xNN, \u{NN}); a newline becomes `newline` when given.
---@param s string
---@param newline? string
---@return string
function core.escape(s, newline) end

---The text of a file compiled into the binary from scripts/
---("examples/deployment/slipway.yaml"), or nil.
---@param path string
---@return string?
function core.embedded(path) end

---The paths of the embedded files under `prefix`, sorted.
---@param prefix? string
---@return string[]
function core.embedded_list(prefix) end

return core
