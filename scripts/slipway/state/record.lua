--- slipway.state.record: the record of deploys as data, shared by every
-- store (git, kubernetes, local): its format number, how two copies merge,
-- how its parts are encoded, and the one error a store raises when the
-- record cannot be read. Stores require it; playbooks use slipway.state.
--
-- A record (a "doc") is
--   {format = 1,
--    envs = {NAME = {FIELD = {at = T, run = ID, ...}, ...}, ...},
--    runs = {ID = SUMMARY, ...}}
-- Merging is what makes concurrent writers safe: runs are kept per id (a
-- finished summary beats an unfinished one, then the later `updated`), and
-- every env field is last-writer-wins by its `at` (then by run id), so
-- merging in either order gives the same record and nothing is lost.
local core = require "slipway.core"
local json = require "slipway.json"
local fscore = require "slipway.fs.core"

local M = {}

--- The format this slipway writes and the newest it reads.
M.FORMAT = 1

--- Names of environments, fields and run ids: they become file names,
-- ConfigMap keys and object names.
M.NAME = "^[%w][%w%.%-_]*$"

function M.now() return math.floor(fscore.wallclock() * 1000 + 0.5) / 1000 end

function M.empty() return {format = M.FORMAT, envs = {}, runs = {}} end

--- Raise the store's error: code "state", fields backend and where. The
-- message names the store, what failed and what to do.
function M.fail(backend, where, what, todo, fields)
  fields = fields or {}
  fields.backend, fields.where = backend, where
  local msg = string.format("state (%s: %s): %s", backend, where, what)
  if todo then msg = msg .. "\n  What to do: " .. todo end
  error(core.error("state", core.redact(msg), fields), 0)
end

-- ---- merging ---------------------------------------------------------------

-- b replaces a (env fields): the later `at`, then the greater run id
local function field_newer(a, b)
  if a == nil then return true end
  local ta, tb = tonumber(a.at) or 0, tonumber(b.at) or 0
  if ta ~= tb then return tb > ta end
  return tostring(b.run or "") > tostring(a.run or "")
end

-- b replaces a (run summaries of one id): finished beats unfinished, then
-- the later `updated`
local function run_newer(a, b)
  if a == nil then return true end
  local fa, fb = a.ended ~= nil, b.ended ~= nil
  if fa ~= fb then return fb end
  return (tonumber(b.updated) or 0) > (tonumber(a.updated) or 0)
end

--- merge(into, from) -> into: from's runs and env fields merged into into.
function M.merge(into, from)
  into.envs = into.envs or {}
  into.runs = into.runs or {}
  for name, fields in pairs(from.envs or {}) do
    local e = into.envs[name] or {}
    into.envs[name] = e
    for f, v in pairs(fields) do
      if field_newer(e[f], v) then e[f] = v end
    end
  end
  for id, s in pairs(from.runs or {}) do
    if run_newer(into.runs[id], s) then into.runs[id] = s end
  end
  return into
end

--- A copy of doc with only env `name` and the runs that touched it.
function M.filter(doc, name)
  local out = {format = doc.format, envs = {}, runs = {}}
  out.envs[name] = doc.envs[name]
  for id, s in pairs(doc.runs) do
    for _, e in ipairs(s.envs or {}) do
      if e == name then out.runs[id] = s; break end
    end
  end
  return out
end

-- ---- checking what callers give --------------------------------------------

local function check_name(v, what, fname)
  if type(v) ~= "string" or not v:match(M.NAME) then
    error(string.format("bad argument to '%s' (%s must be a name of letters, digits, '.', '-' or '_', got %s)",
      fname, what, type(v) == "string" and string.format("%q", v) or type(v)), 3)
  end
end
M.check_name = check_name

--- A delta (a doc with the runs and env fields to write), checked and
-- stamped: runs get `updated`, env fields get `at` when missing.
function M.delta(d, fname)
  if type(d) ~= "table" then error("bad argument #1 to '" .. fname .. "' (table expected)", 3) end
  local out = {format = M.FORMAT, envs = {}, runs = {}}
  local t = M.now()
  for name, fields in pairs(d.envs or {}) do
    check_name(name, "an environment", fname)
    if type(fields) ~= "table" then error("bad argument to '" .. fname .. "' (envs." .. name .. " must be a table)", 3) end
    local e = {}
    for f, v in pairs(fields) do
      check_name(f, "an environment field", fname)
      if type(v) ~= "table" then
        error("bad argument to '" .. fname .. "' (envs." .. name .. "." .. f .. " must be a table)", 3)
      end
      local c = {}
      for k, x in pairs(v) do c[k] = x end
      c.at = c.at or t
      e[f] = c
    end
    out.envs[name] = e
  end
  for _, s in ipairs(d.runs or {}) do
    if type(s) ~= "table" then error("bad argument to '" .. fname .. "' (a run summary must be a table)", 3) end
    check_name(s.id, "run id", fname)
    if type(s.command) ~= "string" then
      error("bad argument to '" .. fname .. "' (run " .. s.id .. " has no command)", 3)
    end
    local c = {}
    for k, x in pairs(s) do c[k] = x end
    c.updated = t
    c.envs = json.array(c.envs or {})
    for _, e in ipairs(c.envs) do check_name(e, "an environment of run " .. s.id, fname) end
    out.runs[s.id] = c
  end
  return out
end

-- ---- encoding --------------------------------------------------------------
-- Every stored part carries the format: {"format":1, ...}. A part that is
-- not JSON is torn; a newer format is refused (never read as "nothing").

local function decode(text, backend, where, todo)
  local ok, v = pcall(json.decode, text)
  if not ok or type(v) ~= "table" then
    local why = ok and ("a JSON " .. type(v)) or tostring(type(v) == "table" and v.message or v)
    M.fail(backend, where, "the record is damaged (not a JSON object: " .. why:gsub("\n.*", "") .. ")", todo)
  end
  return M.check_format(v, backend, where, todo)
end

--- check_format(v, ...) -> v: v.format is a format this slipway reads.
function M.check_format(v, backend, where, todo)
  local f = v.format
  if type(f) == "string" then local n = tonumber(f); f = n and math.tointeger(n) end
  if math.type(f) ~= "integer" then
    M.fail(backend, where, "the record is damaged (no format number)", todo)
  end
  if f > M.FORMAT then
    M.fail(backend, where, string.format("the record was written by a newer slipway (format %d; " ..
      "this slipway reads format %d)", f, M.FORMAT),
      "upgrade slipway on this machine to the version the other runners use; do not write " ..
      "to this record with an older slipway")
  end
  return v
end
M.decode = decode

function M.encode_format() return json.encode({format = M.FORMAT}) .. "\n" end
function M.encode_env(name, st)
  return json.encode({format = M.FORMAT, env = name, state = st}, {indent = 2}) .. "\n"
end
function M.encode_run(s) return json.encode({format = M.FORMAT, run = s}, {indent = 2}) .. "\n" end
function M.encode_doc(doc)
  return json.encode({format = M.FORMAT, envs = doc.envs, runs = doc.runs}, {indent = 2}) .. "\n"
end

-- decode a part and check its shape (ok(v) -> true), else it is damaged
local function part(text, backend, where, todo, ok, missing)
  local v = decode(text, backend, where, todo)
  if not ok(v) then M.fail(backend, where, "the record is damaged (" .. missing .. ")", todo) end
  return v
end

--- Decode one env part: name, state.
function M.decode_env(text, backend, where, todo)
  local v = part(text, backend, where, todo, function(x)
    return type(x.env) == "string" and type(x.state) == "table" end, "an environment part without env and state")
  return v.env, v.state
end

--- Decode one run part: the summary.
function M.decode_run(text, backend, where, todo)
  return part(text, backend, where, todo, function(x)
    return type(x.run) == "table" and type(x.run.id) == "string" end, "a run part without a run id").run
end

--- Decode a whole doc (the local store's one file).
function M.decode_doc(text, backend, where, todo)
  local v = part(text, backend, where, todo, function(x)
    return type(x.envs) == "table" and type(x.runs) == "table" end, "no envs or runs")
  return {format = M.FORMAT, envs = v.envs, runs = v.runs}
end

--- The last lines of a command's stderr, on one line, for messages (a URL's
-- credentials masked).
function M.tail(s)
  s = (s or ""):gsub("%s+$", "")
  local lines = {}
  for l in s:gmatch("[^\n]+") do lines[#lines + 1] = l end
  local out = table.concat(lines, "; ", math.max(1, #lines - 2))
  return (out:gsub("(%a[%w+.-]*://)[^/@%s]+@", "%1***@"))
end

return M
