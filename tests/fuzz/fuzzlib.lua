--- fuzzlib: what the Lua harnesses of tests/fuzz/ share (docs/fuzzing.md).
--
-- A harness file NAME.lua returns function(data); fuzz_lua calls it with
-- each input as the main task. It catches what bad input legitimately
-- raises (a structured slipway error, a plain error message) and raises
-- "invariant violated: ..." (F.fail / F.check) when the code under test
-- broke a promise; that, or any error that escapes, aborts the process and
-- libFuzzer saves the input.
local sw = require "slipway.core"

local F = {}

--- Abort the run: an invariant of the code under test does not hold.
function F.fail(fmt, ...)
  error("invariant violated: " .. string.format(fmt, ...), 2)
end

function F.check(cond, fmt, ...)
  if not cond then error("invariant violated: " .. string.format(fmt, ...), 2) end
  return cond
end

-- Messages of Lua itself failing inside library code: never an answer to
-- bad input (that is a structured error or a message naming the input).
-- Matched right after the "chunk:line: " position Lua puts in front, so
-- that input quoted in an error message cannot look like one.
local RUNTIME = {
  "attempt to ", "table index is ", "invalid key to 'next'", "stack overflow",
  "number has no integer representation", "invalid order function",
  "bad argument #%d+ to '[%w_.:]+'", "string length overflow", "invalid value %(at index",
  "wrong number of arguments",
}

--- Is err a Lua runtime error (a bug) rather than a refusal of bad input?
function F.is_runtime_error(err)
  if sw.is_error(err) then return false end
  local msg = tostring(err):match("^[^\n]*")
  local rest = msg:match("^[^%s:]+:%d+: (.*)$") or msg:match("^C stack overflow") and msg
  if not rest then return false end
  for _, pat in ipairs(RUNTIME) do
    if rest:find("^" .. pat) then return true end
  end
  return false
end

local function with_traceback(e)
  if sw.is_error(e) then return e end
  return debug.traceback(tostring(e), 2)
end

--- pcall fn(...): true and its results, or false and the error when it
-- refused the input; a Lua runtime error inside it is an invariant
-- violation ("what" names the call in the report).
function F.try(what, fn, ...)
  local r = table.pack(xpcall(fn, with_traceback, ...))
  if r[1] then return table.unpack(r, 1, r.n) end
  local err = r[2]
  if F.is_runtime_error(err) then
    error("invariant violated: " .. what .. " failed with a Lua runtime error, not an " ..
      "error about its input:\n" .. tostring(err), 2)
  end
  return false, err
end

local function keytext(k)
  return type(k) == "string" and string.format("%q", k) or tostring(k)
end

--- Deep equality; NaN equals NaN, 1 is not 1.0 unless loose (json); with
-- metatables (sequence markers) compared too unless opts.nomt. Returns true,
-- or false and where they differ.
function F.equal(a, b, opts, where)
  where = where or "value"
  opts = opts or {}
  if type(a) ~= type(b) then
    return false, string.format("%s: %s vs %s", where, type(a), type(b))
  end
  if type(a) == "number" then
    if a ~= a and b ~= b then return true end
    if a == b and (opts.loose or math.type(a) == math.type(b)) then return true end
    return false, string.format("%s: %s (%s) vs %s (%s)", where, tostring(a),
      math.type(a), tostring(b), math.type(b))
  end
  if type(a) ~= "table" then
    if rawequal(a, b) then return true end
    return false, string.format("%s: %q vs %q", where, tostring(a), tostring(b))
  end
  if not opts.nomt and getmetatable(a) ~= getmetatable(b) then
    return false, where .. ": metatables differ (a sequence marker on one side only?)"
  end
  for k, v in pairs(a) do
    local ok, why = F.equal(v, rawget(b, k), opts, where .. "[" .. keytext(k) .. "]")
    if not ok then return false, why end
  end
  for k in pairs(b) do
    if rawget(a, k) == nil then return false, where .. "[" .. keytext(k) .. "]: only after" end
  end
  return true
end

--- The input cut into at most n fields at newlines (the last keeps the rest).
function F.fields(data, n)
  local out, pos = {}, 1
  while #out < n - 1 do
    local nl = data:find("\n", pos, true)
    if not nl then break end
    out[#out + 1] = data:sub(pos, nl - 1)
    pos = nl + 1
  end
  out[#out + 1] = data:sub(pos)
  return out
end

return F
