--- slipway.json: JSON on lua-cjson.
--
--   local json = require "slipway.json"
--   local v = json.decode('{"replicas": 3, "image": null}')
--   v.replicas              --> 3 (an integer, math.type "integer")
--   v.image == json.null    --> true
--   json.encode({b = 1, a = {true, json.null}})   --> {"a":[true,null],"b":1}
--   json.encode(v, {indent = 2})                   -- for files: stable diffs
--
-- Decoding uses lua-cjson (fast, strict: no NaN, Infinity or hex). Debian's
-- lua-cjson 2.1.0 turns every number into a float under Lua 5.4 (1 becomes
-- 1.0); this module converts numbers with an integral value that a double
-- holds exactly (|n| <= 2^53) back to integers, so `1` and `1.0` in the text
-- both give the integer 1, and larger integers are floats (precision lost
-- beyond 2^53). JSON's `null` is `json.null`, not nil, so that arrays keep
-- their length and keys their presence.
--
-- Encoding is done here (not by cjson, which writes 2^63-1 as
-- 9.2233720368548e+18 and escapes "/"): keys are sorted by default, integers
-- are written exactly, floats with the fewest digits that read back the same
-- value, and `indent` pretty-prints. A table is an array when its keys are
-- exactly 1..#t; an empty table is `{}` unless marked with json.array()
-- (decode marks the empty arrays it reads, so `[]` round-trips; the marker
-- is yaml.sequence_mt, so empty sequences from yaml.load stay arrays too).
-- Strings are written as they are (UTF-8 is not checked).
local cjson = require "slipway.json.core"
local sw = require "slipway.core"

local M = {}

local decoder = cjson.new()
decoder.decode_invalid_numbers(false)
decoder.decode_max_depth(1000)

--- The null sentinel (lua-cjson's null).
M.null = cjson.null

-- One marker for "an array/sequence, also when empty" shared with
-- slipway.yaml (yaml.sequence_mt is this same table): an empty sequence
-- loaded from YAML encodes as [], a decoded [] dumps as YAML [].
local array_mt = require("slipway.yaml.core").sequence_mt

--- json.array([t]) -> t, marked so that it encodes as an array even when empty.
function M.array(t)
  return setmetatable(t or {}, array_mt)
end

--- json.is_array(t) -> true when t was marked with json.array.
function M.is_array(t)
  return getmetatable(t) == array_mt
end

-- ---- encoding ----

local escapes = {
  ['"'] = '\\"', ["\\"] = "\\\\", ["\b"] = "\\b", ["\f"] = "\\f",
  ["\n"] = "\\n", ["\r"] = "\\r", ["\t"] = "\\t",
}
for i = 0, 31 do
  local c = string.char(i)
  escapes[c] = escapes[c] or string.format("\\u%04x", i)
end
escapes["\127"] = "\\u007f"

local function quote(s)
  return '"' .. s:gsub('[%c"\\]', escapes) .. '"'
end

local function number(n)
  if math.type(n) == "integer" then return string.format("%d", n) end
  if n ~= n or n == math.huge or n == -math.huge then
    error("json.encode: cannot encode NaN or infinity (not JSON numbers)", 0)
  end
  local s
  for prec = 14, 17 do
    s = string.format("%." .. prec .. "g", n)
    if tonumber(s) == n then break end
  end
  if not s:find("[.eEn]") then s = s .. ".0" end
  return s
end

local function key_order(a, b)
  return a < b
end

local function encode(v, out, opts, depth, nl)
  local tv = type(v)
  if tv == "string" then
    out[#out + 1] = quote(v)
  elseif tv == "number" then
    out[#out + 1] = number(v)
  elseif tv == "boolean" then
    out[#out + 1] = v and "true" or "false"
  elseif v == nil or v == cjson.null then
    out[#out + 1] = "null"
  elseif tv == "table" then
    if depth > 500 then
      error("json.encode: nested more than 500 levels (a cycle?)", 0)
    end
    local n = #v
    local count = 0
    for _ in pairs(v) do count = count + 1 end
    local inner = nl and nl .. opts.indent or nil
    -- a marked table that only got string keys (a decoded [] filled as a
    -- map) is an object; a marked table with a mix raises below
    if (count == n and n > 0) or (getmetatable(v) == array_mt and (n > 0 or count == 0)) then
      if count ~= n then
        error("json.encode: a table marked as array has keys other than 1.." .. n, 0)
      end
      if n == 0 then out[#out + 1] = "[]"; return end
      out[#out + 1] = "["
      for i = 1, n do
        if i > 1 then out[#out + 1] = "," end
        if inner then out[#out + 1] = inner end
        encode(v[i], out, opts, depth + 1, inner)
      end
      if nl then out[#out + 1] = nl end
      out[#out + 1] = "]"
      return
    end
    if count == 0 then out[#out + 1] = "{}"; return end
    local keys = {}
    for k in pairs(v) do
      local tk = type(k)
      if tk == "number" then
        keys[#keys + 1] = k
      elseif tk == "string" then
        keys[#keys + 1] = k
      else
        error("json.encode: cannot encode a table key of type " .. tk, 0)
      end
    end
    local names = {}
    for i, k in ipairs(keys) do names[i] = type(k) == "string" and k or number(k) end
    local order = {}
    for i = 1, #keys do order[i] = i end
    if opts.sort ~= false then
      table.sort(order, function(a, b) return key_order(names[a], names[b]) end)
    end
    out[#out + 1] = "{"
    local sep = nl and ": " or ":"
    for j, i in ipairs(order) do
      if j > 1 then out[#out + 1] = "," end
      if inner then out[#out + 1] = inner end
      out[#out + 1] = quote(names[i])
      out[#out + 1] = sep
      encode(v[keys[i]], out, opts, depth + 1, inner)
    end
    if nl then out[#out + 1] = nl end
    out[#out + 1] = "}"
  else
    error("json.encode: cannot encode a value of type " .. tv, 0)
  end
end

--- json.encode(v [, {indent = 2 | "\t", sort = true}]) -> string.
-- Keys sorted (byte order) unless sort == false; with indent, one value per
-- line. Raises a plain error for values JSON cannot hold (functions, NaN,
-- cycles, mixed keys in an array-marked table).
function M.encode(v, opts)
  opts = opts or {}
  local nl
  if opts.indent then
    local ind = opts.indent
    if type(ind) == "number" then ind = string.rep(" ", ind) end
    opts = {indent = ind, sort = opts.sort}
    nl = "\n"
  end
  local out = {}
  local ok, err = pcall(encode, v, out, opts, 0, nl)
  if not ok then error(err, 2) end
  return table.concat(out)
end

-- ---- decoding ----

-- returns true when a number overflowed to an infinity (1e400)
local function fix_numbers(v, depth)
  local inf = false
  for k, x in pairs(v) do
    local tx = type(x)
    if tx == "number" then
      if math.type(x) == "float" and x == math.floor(x) and x >= -2^53 and x <= 2^53 then
        v[k] = math.tointeger(x)
      elseif x == math.huge or x == -math.huge then
        inf = true
      end
    elseif tx == "table" then
      inf = fix_numbers(x, depth + 1) or inf
    end
  end
  return inf
end

-- line, column (1-based, in bytes) of byte position pos in s
local function line_col(s, pos)
  local line, last = 1, 0
  for nlpos in s:sub(1, pos - 1):gmatch("()\n") do
    line = line + 1
    last = nlpos
  end
  return line, pos - last
end

-- lua-cjson 2.1.0 gives a plain empty table for both [] and {}. When the
-- text has an empty array, walk it once more alongside the decoded value and
-- mark the empty arrays (json.array), so that they encode back as []. A key
-- that comes twice in an object holds its last value (cjson's rule): an
-- earlier "[]" marks only a table still empty, and a later "{}" unmarks it.
local function skip_ws(s, pos)
  return s:find("[^ \t\r\n]", pos) or #s + 1
end

local function skip_string(s, pos)  -- pos at the opening quote
  local i = pos + 1
  while true do
    local j = s:find('["\\]', i)
    if not j then return #s + 1 end
    if s:byte(j) == 34 then return j + 1 end  -- "
    i = j + 2                                  -- an escape
  end
end

local function mark_arrays(s, pos, v)
  pos = skip_ws(s, pos)
  local c = s:byte(pos)
  if c == 123 then  -- {
    pos = skip_ws(s, pos + 1)
    if s:byte(pos) == 125 then
      if type(v) == "table" and getmetatable(v) == array_mt then setmetatable(v, nil) end
      return pos + 1
    end
    while true do
      local kend = skip_string(s, pos)
      local key = decoder.decode(s:sub(pos, kend - 1))
      pos = skip_ws(s, kend) + 1  -- the colon
      pos = mark_arrays(s, pos, type(v) == "table" and v[key] or nil)
      pos = skip_ws(s, pos)
      if s:byte(pos) ~= 44 then return pos + 1 end  -- "," or "}"
      pos = skip_ws(s, pos + 1)
    end
  elseif c == 91 then  -- [
    pos = skip_ws(s, pos + 1)
    if s:byte(pos) == 93 then
      if type(v) == "table" and next(v) == nil then setmetatable(v, array_mt) end
      return pos + 1
    end
    local i = 1
    while true do
      pos = mark_arrays(s, pos, type(v) == "table" and v[i] or nil)
      pos = skip_ws(s, pos)
      if s:byte(pos) ~= 44 then return pos + 1 end  -- "," or "]"
      pos = pos + 1
      i = i + 1
    end
  elseif c == 34 then
    return skip_string(s, pos)
  end
  return s:find("[,%]}%s]", pos + 1) or #s + 1  -- a number, true, false, null
end

--- json.decode(s [, {name = "file.json"}]) -> value.
-- A syntax error raises a structured error with code "json" and fields
-- line, column and snippet (the text around the error); the message reads
-- "NAME:LINE:COLUMN: ..." when a name is given.
function M.decode(s, opts)
  if type(s) ~= "string" then
    error("bad argument #1 to 'decode' (string expected, got " .. type(s) .. ")", 2)
  end
  opts = opts or {}
  local ok, v = pcall(decoder.decode, s)
  local inf
  if ok and type(v) == "number" then
    inf = v == math.huge or v == -math.huge
  elseif ok and type(v) == "table" then
    inf = fix_numbers(v, 0)
  end
  if inf then
    -- cjson reads 1e400 as an infinity, which encode refuses (not JSON):
    -- refuse it here, at the first number that overflows
    local at = 1
    for pos, tok in s:gmatch("()(%-?%d[%deE.+-]*)") do
      local n = tonumber(tok)
      if n == math.huge or n == -math.huge then at = pos; break end
    end
    ok, v = false, "number beyond the range of a double at character " .. at
  end
  if not ok then
    local reason = tostring(v):gsub("^.-:%d+: ", "")
    local pos = tonumber(reason:match("at character (%d+)")) or 1
    if pos > #s + 1 then pos = #s + 1 end
    reason = reason:gsub(" at character %d+", "")
    local line, col = line_col(s, pos)
    local from = pos - 20 > 1 and pos - 20 or 1
    local snippet = s:sub(from, pos + 20):gsub("[\r\n\t]", " ")
    local where = string.format("%s:%d:%d", opts.name or "line", line, col)
    if not opts.name then where = string.format("line %d, column %d", line, col) end
    sw.raise("json", string.format("json.decode: %s: %s near '%s'", where, reason, snippet),
      {line = line, column = col, snippet = snippet, name = opts.name})
  end
  if type(v) == "number" then
    if math.type(v) == "float" and v == math.floor(v) and v >= -2^53 and v <= 2^53 then
      v = math.tointeger(v)
    end
  elseif type(v) == "table" then
    if s:find("%[%s*%]") then mark_arrays(s, 1, v) end
  end
  return v
end

--- json.snapshot(v) -> a deep copy of v as a JSON journal record would read
-- it back (functions and cycles refused), or nil when v cannot be encoded.
function M.snapshot(v)
  local ok, s = pcall(M.encode, v)
  if not ok then return nil end
  return M.decode(s)
end

--- json.read(path) -> value: decode a file; errors name path:line:column.
function M.read(path)
  local fs = require "slipway.fs"
  return M.decode(fs.read(path), {name = path})
end

--- json.write(path, v [, opts]): encode with sorted keys and indent 2 (or
-- opts.indent), add a final newline and write atomically (fs.write; opts
-- mode and redact are passed on).
function M.write(path, v, opts)
  opts = opts or {}
  local fs = require "slipway.fs"
  local ok, text = pcall(M.encode, v, {indent = opts.indent or 2, sort = opts.sort})
  if not ok then error(text, 2) end
  fs.write(path, text .. "\n", {mode = opts.mode, redact = opts.redact})
end

return M
