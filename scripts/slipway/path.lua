--- slipway.path: the one reader of slipway's path syntax (docs/path.md),
-- shared by the YAML editor, environments (the journalled versions),
-- checks (JSON paths), bump and manifest validation, and runbooks.
--
--   local path = require "slipway.path"
--   path.parse('metadata.annotations["example.com/v"]')
--     --> {{key = "metadata"}, {key = "annotations"}, {key = "example.com/v"}}
--   path.format(path.parse("containers[-1].image"))   --> "containers[-1].image"
--   path.get(tree, "dependencies[name=binderhub].version")
--
-- Segments: {key = "k"} a mapping key; {index = n} a sequence index
-- (0-based, negative counts from the end: -1 is the last item); {num = n,
-- key = "n"} a bare numeric segment (`list.3`): an index on a sequence, the
-- key "n" on a mapping; {filter = {k, v}} the one item of a sequence whose
-- key k reads v.
local score = require "slipway.core"

local M = {}

-- the canonical text of a loaded scalar (as YAML keys compare)
local function keystr(v)
  return require("slipway.yaml")._keystr(v)
end

local function bad(p, col, why, level)
  local msg = string.format("bad path %q at column %d: %s", p, col, why)
  score.raise("path", msg, {path = p, column = col, reason = msg}, level + 1)
end

--- path.parse(p) -> a list of segments. p is a path string or a table of
-- segments ({"spec", "containers", 0, "image"}: strings are keys, integers
-- indices). A malformed path raises code "path" (fields path, column:
-- the 1-based column of the bad character, reason: the message without a
-- file:line in front).
function M.parse(p)
  if type(p) == "table" then
    local segs = {}
    for i, s in ipairs(p) do
      if math.type(s) == "integer" then segs[i] = {index = s}
      elseif type(s) == "string" then segs[i] = {key = s}
      elseif type(s) == "table" and (s.key or s.index or s.filter) then segs[i] = s
      else error("path: bad segment #" .. i .. " (a string key or an integer index expected)", 2) end
    end
    return segs
  end
  if type(p) ~= "string" then error("path: a path must be a string or a table, got " .. type(p), 2) end
  local segs, i, n = {}, 1, #p
  local function quoted()
    local q, start = p:sub(i, i), i
    local out = {}
    i = i + 1
    while i <= n do
      local c = p:sub(i, i)
      if c == q then i = i + 1; return table.concat(out) end
      if c == "\\" and q == '"' then i = i + 1; c = p:sub(i, i) end
      out[#out + 1] = c
      i = i + 1
    end
    bad(p, start, "unterminated quote", 3)
  end
  while i <= n do
    local c = p:sub(i, i)
    if c == "." then
      if i == 1 then bad(p, i, "empty segment before '.'", 2) end
      if i == n then bad(p, i, "empty segment after '.'", 2) end
      i = i + 1
      c = p:sub(i, i)
      if c == "." or c == "[" then bad(p, i, "empty segment", 2) end
    end
    if c == "[" then
      i = i + 1
      local c2 = p:sub(i, i)
      if c2 == '"' or c2 == "'" then
        local k = quoted()
        if p:sub(i, i) == "=" then
          i = i + 1
          local c3 = p:sub(i, i)
          local v
          if c3 == '"' or c3 == "'" then v = quoted()
          else v = p:match("^[^%]]*", i); i = i + #v end
          segs[#segs + 1] = {filter = {k, v}}
        else
          segs[#segs + 1] = {key = k}
        end
      else
        local num = p:match("^%-?%d+", i)
        if num and p:sub(i + #num, i + #num) == "]" then
          local index = math.tointeger(tonumber(num))
          if not index then bad(p, i, "index out of range", 2) end
          segs[#segs + 1] = {index = index}
          i = i + #num
        else
          local k = p:match("^[^=%]\"']+", i)
          if not k then bad(p, i, "expected an index, a quoted key or key=value", 2) end
          i = i + #k
          if p:sub(i, i) ~= "=" then bad(p, i, "expected '=' or ']'", 2) end
          i = i + 1
          local v
          local c3 = p:sub(i, i)
          if c3 == '"' or c3 == "'" then v = quoted()
          else
            v = p:match("^[^%]]*", i)
            i = i + #v
          end
          segs[#segs + 1] = {filter = {k, v}}
        end
      end
      if p:sub(i, i) ~= "]" then bad(p, i, "expected ']'", 2) end
      i = i + 1
      if i <= n and not p:sub(i, i):match("[%.%[]") then bad(p, i, "expected '.' or '[' after ']'", 2) end
    else
      local k = p:match("^[^%.%[]+", i)
      if not k then bad(p, i, "empty segment", 2) end
      local j = k:find("]", 1, true) or (k:find("^[\"']") and 1)
      if j then bad(p, i + j - 1, "put a key with ] or a leading quote in brackets: [\"...\"]", 2) end
      i = i + #k
      -- a number too large for an index can only be a mapping key
      local num = k:match("^%-?%d+$") and math.tointeger(tonumber(k))
      if num then segs[#segs + 1] = {num = num, key = k}
      else segs[#segs + 1] = {key = k} end
    end
  end
  return segs
end

--- path.check(p) -> nil when p parses, else the reason ('bad path "a..b"
-- at column 3: empty segment', without a file:line in front) and the column.
function M.check(p)
  local ok, err = pcall(M.parse, p)
  if ok then return nil end
  if type(err) ~= "table" then error(err, 0) end
  return err.reason, err.column
end

local function quote(s)
  return '"' .. s:gsub('[\\"]', "\\%0") .. '"'
end

-- whether key s reads back as itself without quotes
local function bare_ok(s)
  if s == "" or s:find("[%.%[%]\"'=]") then return false end
  return not s:match("^%-?%d+$")  -- a bare number would read as an index
end

--- path.segment(seg) -> the text of one segment, with its leading "." or
-- brackets: ".key", "[3]", '["example.com/x"]', "[name=hub]".
function M.segment(seg)
  if seg.filter then
    local k, v = seg.filter[1], tostring(seg.filter[2])
    local kt = bare_ok(k) and k or quote(k)
    local vt = (v == "" or v:find("[%]\"']") or v:match("^%s") or v:match("%s$")) and quote(v) or v
    return "[" .. kt .. "=" .. vt .. "]"
  end
  if seg.index then return "[" .. seg.index .. "]" end
  if seg.num then return "." .. seg.key end
  if bare_ok(seg.key) then return "." .. seg.key end
  return "[" .. quote(seg.key) .. "]"
end

--- path.format(segs [, upto]) -> the path text of segments (the first
-- `upto` of them), such that path.parse(path.format(s)) equals s. A string
-- or a table of keys and indices is parsed first.
function M.format(segs, upto)
  if type(segs) == "string" or (type(segs) == "table" and segs[1] ~= nil and type(segs[1]) ~= "table") then
    segs = M.parse(segs)
  end
  local out = {}
  for i = 1, upto or #segs do out[#out + 1] = M.segment(segs[i]) end
  return (table.concat(out):gsub("^%.", ""))
end

-- a table whose keys are exactly 1..n (n > 0): a loaded sequence
local function is_list(v)
  local n = #v
  if n == 0 then return false end
  local c = 0
  for _ in pairs(v) do c = c + 1 end
  return c == n
end

-- the value of mapping v at key text k: a string key, else a key whose
-- canonical text is k (an integer key 3 for "3", true for "true")
local function map_get(v, k)
  local x = v[k]
  if x ~= nil then return x end
  for kk, vv in pairs(v) do
    if type(kk) ~= "string" and keystr(kk) == k then return vv end
  end
  return nil
end

--- path.get(tree, p) -> the value at p in a loaded tree (yaml.load,
-- json.decode), with the editor's semantics: indices are 0-based, negative
-- from the end; a bare number indexes a sequence and is a key of a mapping;
-- a filter needs exactly one matching item (values compared as YAML key
-- text, so 3 matches "3"). Returns nil, why when nothing is there.
function M.get(tree, p)
  local segs = M.parse(p)
  local v = tree
  for si, seg in ipairs(segs) do
    local here = si == 1 and "the root" or M.format(segs, si - 1)
    if type(v) ~= "table" then
      return nil, string.format("%s is a %s, not a mapping or sequence", here, type(v))
    end
    if seg.index or (seg.num and is_list(v)) then
      local ix = seg.index or seg.num
      local k = ix < 0 and #v + ix + 1 or ix + 1
      local nv = k >= 1 and v[k] or nil
      if nv == nil then return nil, string.format("%s has %d items; no index %d", here, #v, ix) end
      v = nv
    elseif seg.filter then
      local fk, fv = seg.filter[1], seg.filter[2]
      local hits = {}
      for _, it in ipairs(v) do
        if type(it) == "table" and keystr(map_get(it, fk)) == fv then hits[#hits + 1] = it end
      end
      if #hits ~= 1 then
        return nil, string.format("%d items of %s have %s=%s", #hits, here, fk, fv)
      end
      v = hits[1]
    else
      local nv = map_get(v, seg.key)
      if nv == nil then return nil, string.format("no key %q in %s", seg.key, here) end
      v = nv
    end
  end
  return v
end

return M
