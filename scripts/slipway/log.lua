--- slipway.log: levelled logging to stderr, with secrets masked.
--
--   local log = require "slipway.log"
--   log.info("deploying %s to %s", chart, env)
--   log.warn("retrying", {attempt = 2})          -- a trailing table = fields
--   local s = log.step("helm upgrade staging")    -- logs the start
--   ... s:done()  or  s:fail(err)                 -- logs the duration
--   log.add_sink(function(rec) ... end)          -- other outputs subscribe
--
-- Output (stderr) depends on the format: `--log-format=json` (or
-- SLIPWAY_LOG_FORMAT=json) writes one JSON object per line
-- ({"level", "message", "time", fields...}); otherwise a terminal gets short
-- coloured lines (no colour with NO_COLOR or --no-color) and anything else
-- plain lines with a UTC timestamp. The level threshold comes from
-- --log-level / -v / -q or SLIPWAY_LOG_LEVEL (default "info").
--
-- Every line, and every string in the record handed to sinks, goes through
-- the redaction point: registered secrets (log.secret, env.secret) are
-- written as ***.
local sw = require "slipway.core"
local fscore = require "slipway.fs.core"
local runtime = require "slipway.runtime"

local M = {}

local LEVELS = {debug = 10, info = 20, warn = 30, error = 40}
M.levels = LEVELS

local cfg            -- resolved lazily: options are set before the script runs
local sinks = {}

local function resolve()
  local o = runtime.options or {}
  local level = o.log_level or os.getenv("SLIPWAY_LOG_LEVEL") or "info"
  if not LEVELS[level] then level = "info" end
  local format = o.log_format or os.getenv("SLIPWAY_LOG_FORMAT") or "text"
  if format ~= "json" then format = "text" end
  local tty = fscore.isatty(2)
  local nc = os.getenv("NO_COLOR")
  cfg = {
    level = level, format = format, stream = io.stderr,
    human = tty, color = tty and not o.no_color and (nc == nil or nc == ""),
  }
  return cfg
end

--- log.configure{level =, format = "text"|"json", stream = file|false,
-- human = bool, color = bool}: override what the command line and the
-- environment chose. stream = false silences the default output (sinks
-- still get records). Returns the resulting settings.
function M.configure(opts)
  local c = cfg or resolve()
  for k, v in pairs(opts or {}) do
    if k == "level" and not LEVELS[v] then
      error("bad argument #1 to 'configure' (unknown level '" .. tostring(v) .. "')", 2)
    end
    if k == "format" and v ~= "text" and v ~= "json" then
      error("bad argument #1 to 'configure' (format is text or json)", 2)
    end
    c[k] = v
  end
  return c
end

--- log.reset(): forget configure(); read options and environment again.
function M.reset() cfg = nil end

--- log.enabled(level) -> whether records at that level are written.
function M.enabled(level)
  local c = cfg or resolve()
  return (LEVELS[level] or 0) >= LEVELS[c.level]
end

--- log.secret(value) -> value: mask value in every output from now on.
function M.secret(value)
  if type(value) ~= "string" then
    error("bad argument #1 to 'secret' (string expected, got " .. type(value) .. ")", 2)
  end
  return sw.secret(value)
end

--- log.add_sink(fn) -> remove: fn(record) is called for every record that
-- passes the level threshold, after redaction. record = {time (epoch s),
-- level, message, fields = {...}}. An error in a sink is reported once on
-- stderr and the sink removed. Call remove() to unsubscribe.
function M.add_sink(fn)
  if type(fn) ~= "function" then
    error("bad argument #1 to 'add_sink' (function expected, got " .. type(fn) .. ")", 2)
  end
  local entry = {fn = fn}
  sinks[#sinks + 1] = entry
  return function()
    for i, e in ipairs(sinks) do
      if e == entry then table.remove(sinks, i); return end
    end
  end
end

-- ---- rendering ----

local function redact_deep(v, depth)
  local t = type(v)
  if t == "string" then return sw.redact(v) end
  if t ~= "table" or depth > 20 then return v end
  if sw.is_error(v) then return sw.redact(tostring(v)) end
  local out = {}
  for k, x in pairs(v) do out[redact_deep(k, depth + 1)] = redact_deep(x, depth + 1) end
  return setmetatable(out, getmetatable(v))
end

local function iso_time(t, with_date)
  local s = math.floor(t)
  local ms = math.floor((t - s) * 1000)
  if with_date then return os.date("!%Y-%m-%dT%H:%M:%S", s) .. string.format(".%03dZ", ms) end
  return os.date("%H:%M:%S", s)
end

-- Text lines are for terminals: whatever a playbook, a child or a journal
-- put in a message or a field is written with its control characters
-- escaped (sw.escape: ESC, CR, ... as \x1B, \r), so it can neither move
-- the cursor, set a title, clear lines nor start a line that looks like
-- slipway's own. A newline in a message (a traceback, a stderr tail)
-- starts an indented continuation line; in a field value it is \n.
local CONTINUATION = "\n    "

local function show_value(v)
  local s = tostring(v)
  if type(v) == "string" then
    local e = sw.escape(s)
    if e == "" or e ~= s or e:find("[%s\"=]") then s = '"' .. e:gsub('"', '\\"') .. '"' end
  end
  return s
end

local function fields_text(fields)
  local keys, show = {}, {}
  for k, v in pairs(fields) do
    local name = sw.escape(tostring(k))
    keys[#keys + 1] = name
    show[name] = show_value(v)
  end
  if #keys == 0 then return "" end
  table.sort(keys)
  local parts = {}
  for i, k in ipairs(keys) do parts[i] = k .. "=" .. show[k] end
  return " " .. table.concat(parts, " ")
end

local COLOR = {debug = "\27[90m", info = "\27[36m", warn = "\27[33m", error = "\27[31m"}
local RESET, BOLD, GREEN, RED = "\27[0m", "\27[1m", "\27[32m", "\27[31m"

local function fmt_duration(d)
  if d < 1 then return string.format("%d ms", math.floor(d * 1000 + 0.5)) end
  if d < 60 then return string.format("%.2f s", d) end
  return string.format("%dm%02ds", math.floor(d / 60), math.floor(d % 60))
end

local function text_line(c, rec)
  local f = rec.fields
  if c.human then
    -- short lines for people: steps as "▶ name" / "✓ name (1.20 s)"
    local lvl = rec.level
    local head = iso_time(rec.time, false) .. " "
    local label = string.format("%-5s", lvl)
    if c.color then label = COLOR[lvl] .. label .. RESET end
    local rest = {}
    for k, v in pairs(f) do
      if k ~= "step" and k ~= "status" and k ~= "duration" and k ~= "error" then rest[k] = v end
    end
    local msg = sw.escape(rec.message, CONTINUATION)
    if f.step and f.status then
      local mark = ({start = "▶", done = "✓", failed = "✗"})[f.status] or "·"
      if c.color then
        mark = (f.status == "done" and GREEN or f.status == "failed" and RED or BOLD)
          .. mark .. RESET
      end
      msg = mark .. " " .. msg
    end
    return head .. label .. " " .. msg .. fields_text(rest) .. "\n"
  end
  if f.step and f.status == "failed" then  -- the message has the error already
    local g = {}
    for k, v in pairs(f) do if k ~= "error" then g[k] = v end end
    f = g
  end
  return iso_time(rec.time, true) .. " " .. string.format("%-5s", rec.level:upper())
    .. " " .. sw.escape(rec.message, CONTINUATION) .. fields_text(f) .. "\n"
end

local json_line
do
  local json
  json_line = function(rec)
    json = json or require "slipway.json"
    local obj = {}
    for k, v in pairs(rec.fields) do
      if type(v) ~= "string" and type(v) ~= "number" and type(v) ~= "boolean"
         and type(v) ~= "table" then v = tostring(v) end
      obj[k] = v
    end
    obj.time = iso_time(rec.time, true)
    obj.level = rec.level
    obj.message = sw.utf8(rec.message)  -- strict JSON readers take the line
    local ok, s = pcall(json.encode, obj)
    if not ok then
      s = json.encode({time = obj.time, level = obj.level, message = obj.message,
        fields_error = tostring(s)})
    end
    return s .. "\n"
  end
end

local function format_message(fmt, ...)
  if select("#", ...) == 0 then return tostring(fmt) end
  if type(fmt) ~= "string" then
    local parts = {tostring(fmt)}
    for i = 1, select("#", ...) do parts[#parts + 1] = tostring((select(i, ...))) end
    return table.concat(parts, " ")
  end
  local args = table.pack(...)
  for i = 1, args.n do
    local a = args[i]
    if type(a) ~= "number" and type(a) ~= "string" then args[i] = tostring(a) end
  end
  local ok, s = pcall(string.format, fmt, table.unpack(args, 1, args.n))
  if ok then return s end
  return fmt .. " [log format error: " .. tostring(s) .. "]"
end

--- log.write(level, message [, fields]): the primitive the helpers use.
function M.write(level, message, fields)
  local c = cfg or resolve()
  local lv = LEVELS[level]
  if not lv then
    error("bad argument #1 to 'write' (unknown level '" .. tostring(level) .. "')", 2)
  end
  if lv < LEVELS[c.level] then return end
  local rec = {
    time = fscore.wallclock(), level = level,
    message = sw.redact(tostring(message)),
    fields = redact_deep(fields or {}, 0),
  }
  if c.stream then
    local line = c.format == "json" and json_line(rec) or text_line(c, rec)
    local live = c.human and package.loaded["slipway.progress"]
    if live then live.clear() end  -- the live status line goes below
    c.stream:write(sw.redact(line))
    c.stream:flush()
    if live then live.draw() end
  end
  local i = 1
  while i <= #sinks do
    local e = sinks[i]
    local ok, err = pcall(e.fn, rec)
    if ok then
      i = i + 1
    else
      table.remove(sinks, i)
      io.stderr:write(sw.redact("slipway: log sink removed after an error: "
        .. tostring(err) .. "\n"))
    end
  end
end

local function split_fields(...)
  local n = select("#", ...)
  if n > 1 then
    local last = select(n, ...)
    if type(last) == "table" and getmetatable(last) == nil then
      return last, n - 1
    end
  end
  return nil, n
end

local function make_level(level)
  --- log.LEVEL(fmt, ...): string.format(fmt, ...) when there are arguments
  -- (tables and errors are shown with tostring); a final plain table is
  -- taken as structured fields.
  return function(fmt, ...)
    local c = cfg or resolve()
    if LEVELS[level] < LEVELS[c.level] then return end
    local fields, n = split_fields(fmt, ...)
    local msg
    if fields then
      msg = format_message(table.unpack(table.pack(fmt, ...), 1, n))
    else
      msg = format_message(fmt, ...)
    end
    M.write(level, msg, fields)
  end
end

M.debug = make_level("debug")
M.info = make_level("info")
M.warn = make_level("warn")
M.error = make_level("error")

-- ---- steps ----

local Step = {}
Step.__index = Step

local clock = require("slipway.task.core").now

--- log.step(name [, fields]) -> step: logs "name" with status "start" and
-- returns an object; step:done([fields]) logs "name" with status "done" and
-- the duration in seconds (field `duration`), step:fail(err) at level error
-- with status "failed". Only the first done/fail counts. Also usable as
-- `local s <close> = log.step(...)`: leaving the scope by an error fails it,
-- otherwise it is done.
function M.step(name, fields)
  if type(name) ~= "string" then
    error("bad argument #1 to 'step' (string expected, got " .. type(name) .. ")", 2)
  end
  local s = setmetatable({name = name, t0 = clock(), fields = fields or {}}, Step)
  local f = {}
  for k, v in pairs(s.fields) do f[k] = v end
  f.step, f.status = name, "start"
  M.write("info", name, f)
  return s
end

local function finish(s, level, status, extra, err)
  if s.finished then return end
  s.finished = true
  s.duration = clock() - s.t0
  local f = {}
  for k, v in pairs(s.fields) do f[k] = v end
  for k, v in pairs(extra or {}) do f[k] = v end
  f.step, f.status = s.name, status
  f.duration = math.floor(s.duration * 1000 + 0.5) / 1000
  local msg = s.name .. " (" .. fmt_duration(s.duration) .. ")"
  if err ~= nil then
    f.error = tostring(err)
    msg = msg .. ": " .. tostring(err)
  end
  M.write(level, msg, f)
end

--- step:done([fields]) -> duration in seconds
function Step:done(extra)
  finish(self, "info", "done", extra)
  return self.duration
end

--- step:fail(err [, fields]) -> duration in seconds
function Step:fail(err, extra)
  finish(self, "error", "failed", extra, err == nil and "failed" or err)
  return self.duration
end

function Step:__close(err)
  if err ~= nil then self:fail(err) else self:done() end
end

return M
