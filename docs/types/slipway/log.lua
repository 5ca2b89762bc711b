---@meta slipway.log
-- Logging to stderr (docs/log.md); every line is redacted.

---@class slipway.log
---@field levels table<slipway.LogLevel, integer>
local log = {}

---@class slipway.LogRecord
---@field time number epoch seconds
---@field level slipway.LogLevel
---@field message string
---@field fields table

---A step started with log.step.
---@class slipway.LogStep
local LogStep = {}

---Log "name (duration)" with status "done"; returns the duration in seconds.
---@param fields? table
---@return number
function LogStep:done(fields) end

---Log at level error with status "failed" and the error.
---@param err any
---@param fields? table
function LogStep:fail(err, fields) end

---`string.format(fmt, ...)` when there are arguments; a trailing plain table is fields.
---@param fmt string
---@param ... any
function log.debug(fmt, ...) end

---@param fmt string
---@param ... any
function log.info(fmt, ...) end

---@param fmt string
---@param ... any
function log.warn(fmt, ...) end

---@param fmt string
---@param ... any
function log.error(fmt, ...) end

---The primitive behind debug/info/warn/error.
---@param level slipway.LogLevel
---@param message string
---@param fields? table
function log.write(level, message, fields) end

---Log `name` (status "start") and return a step to end with :done() or :fail().
---@param name string
---@param fields? table
---@return slipway.LogStep
function log.step(name, fields) end

---Register a secret (masked as *** everywhere); returns it.
---@param value string
---@return string
function log.secret(value) end

---Call fn(record) for every record that passes the level; returns a remover.
---@param fn fun(rec: slipway.LogRecord)
---@return fun()
function log.add_sink(fn) end

---Whether that level is written.
---@param level slipway.LogLevel
---@return boolean
function log.enabled(level) end

---Override what the command line and environment chose.
---@param opts {level?: slipway.LogLevel, format?: "text"|"json", stream?: file*|false, human?: boolean, color?: boolean}
function log.configure(opts) end

---Forget configure: read the options and environment again.
function log.reset() end

return log
