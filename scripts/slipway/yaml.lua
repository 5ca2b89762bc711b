--- slipway.yaml: YAML for deploy scripts (libyaml underneath).
--
--   local yaml = require "slipway.yaml"
--   local values = yaml.load_file("mybinder/values.yaml")
--   local docs = yaml.load_all(text)              -- every document
--   io.write(yaml.dump({replicas = 3, image = "x"}))
--   local merged = yaml.merge(defaults, prod, secrets)   -- like helm -f -f
--   local doc = yaml.open("mybinder/Chart.yaml")  -- lossless edits
--   doc:set("dependencies[name=binderhub].version", "1.0.0-0.dev.git.4000.habc")
--   print(doc:diff()); doc:save()
--
-- Values: mappings and sequences are Lua tables, YAML null is `yaml.null`
-- (lua-cjson's null, the same value as `json.null`), integers are Lua
-- integers, other numbers floats, booleans booleans. Mapping keys are always
-- strings (see docs/yaml.md "Schemas"). An empty sequence carries the
-- metatable `yaml.sequence_mt` so that it dumps as `[]`.
--
-- Errors: a document that does not parse raises a structured error with code
-- "yaml" and fields file, line, column, problem (see docs/yaml.md).
local core = require "slipway.yaml.core"
local score = require "slipway.core"

local M = {}

--- The null sentinel: a YAML null that keeps its key (lua-cjson's null).
M.null = core.null
local null = core.null
--- Metatable marking an empty table as a sequence (dumps as `[]`).
M.sequence_mt = core.sequence_mt

local function utf8_col_prefix(line, col)
  -- the text of `line` before character `col`, with every character but a
  -- tab turned into a space, so that a caret lines up under the column
  local out, n = {}, 0
  for _, c in utf8.codes(line, true) do
    n = n + 1
    if n >= col then break end
    out[#out + 1] = c == 9 and "\t" or " "
  end
  return table.concat(out)
end

local function line_at(text, byte)
  local s = byte
  while s > 1 and text:byte(s - 1) ~= 10 do s = s - 1 end
  local e = text:find("[\r\n]", s) or (#text + 1)
  return text:sub(s, e - 1), s
end

-- Build the message of a parse error: "FILE:LINE:COL: problem" + the line
-- with a caret under the column. `err` comes from core.load / core.index.
local function format_error(err, text, file)
  local problem = err.problem
  local line_text = ""
  if err.byte and text then
    line_text = line_at(text, math.min(err.byte, #text + 1))
    if #line_text > 300 then line_text = line_text:sub(1, 300) .. " ..." end
  end
  local ok_utf8 = utf8.len(line_text, 1, -1, true) ~= nil
  if problem:find("UTF%-8") or problem:find("not UTF") then
    problem = problem .. " (the input is not valid UTF-8)"
  elseif line_text:match("^[ ]*\t") and (problem:find("cannot start any token")
      or problem:find("tab") or problem:find("indentation")) then
    problem = problem .. " (a tab in the indentation: YAML indents with spaces only)"
  end
  local msg = string.format("%s:%d:%d: %s", file or "<yaml>", err.line, err.column, problem)
  if err.context then
    msg = msg .. string.format(" (%s at line %d column %d)", err.context, err.context_line,
                               err.context_column)
  end
  if err.first_line then
    msg = msg .. string.format(" (first defined at line %d)", err.first_line)
  end
  if line_text ~= "" and ok_utf8 then
    local num = tostring(err.line)
    msg = msg .. "\n" .. string.format(" %s | %s\n %s | %s^", num, line_text, (" "):rep(#num),
                                       utf8_col_prefix(line_text, err.column))
  end
  return msg
end
M._format_error = format_error

-- canonical text of a loaded key value (as core's keyify does)
local function keystr(v)
  local t = type(v)
  if t == "string" then return v end
  if t == "boolean" then return tostring(v) end
  if v == null then return "null" end
  if math.type(v) == "integer" then return string.format("%d", v) end
  if t == "number" then
    if v ~= v then return nil end
    if v == math.huge then return ".inf" elseif v == -math.huge then return "-.inf" end
    for p = 15, 17 do
      local s = string.format("%." .. p .. "g", v)
      if tonumber(s) == v then return s end
    end
  end
  return nil
end
M._keystr = keystr

-- For a duplicate key, find the line of its first definition.
local function first_definition(text, err, schema)
  local idx = core.index(text, {schema = "failsafe"})
  if not idx then return nil end
  for i = 1, idx:count() do
    local n = idx:node(i)
    if n.line == err.line and n.col == err.column and n.parent then
      local map = n.parent
      local kids = idx:children(map)
      for k = 1, #kids, 2 do
        if kids[k] == i then return nil end
        local kn = idx:node(kids[k])
        if kn.kind == "scalar" then
          local v = kn.value
          if kn.style == "plain" and not kn.tag then v = keystr(core.resolve(v, schema or "helm")) end
          if v == err.duplicate or kn.value == err.duplicate then return kn.line end
        end
      end
    end
  end
  return nil
end

--- Raise the structured error for a failed parse (for modules built on this one).
function M._raise(err, text, file, level, schema)
  if err.duplicate and not err.first_line then
    err.first_line = first_definition(text, err, schema)
  end
  local msg = format_error(err, text, file)
  score.raise("yaml", msg, {file = file, line = err.line, column = err.column,
                            problem = err.problem, first_line = err.first_line},
              (level or 1) + 1)
end

-- misuse: a plain error in the form of luaL_argerror
local function check_args(fname, text, opts, level)
  if type(text) ~= "string" then
    error(string.format("bad argument #1 to '%s' (string expected, got %s)", fname,
      text == nil and "no value" or type(text)), level + 1)
  end
  if opts ~= nil and type(opts) ~= "table" then
    error(string.format("bad argument #2 to '%s' (table expected, got %s)", fname, type(opts)), level + 1)
  end
end

local function load_docs(text, opts, level, fname)
  check_args(fname, text, opts, level + 1)
  opts = opts or {}
  local running = collectgarbage("isrunning")
  local ok, docs, err = pcall(core.load, text, opts)
  if not ok then
    -- core.load pauses the collector while it builds; a memory error (or
    -- misuse) escaping from it must not leave it paused
    if running then collectgarbage("restart") end
    error(docs, level + 1)
  end
  if not docs then M._raise(err, text, opts.file or opts.name, level + 1, opts.schema) end
  return docs
end

--- v = yaml.load(text, opts): the one document of text.
-- opts: schema ("helm" default, "core", "json", "failsafe"), merge (merge
-- keys, default on for helm), max_depth (1000), max_aliases (100000 nodes an
-- alias expansion may copy), max_size (256 MiB), file (name for errors),
-- thread (parse on a second thread while the values are built: by default
-- for texts of 256 KiB or more; false never, true always).
-- An empty text gives nil; more than one document is an error (load_all).
function M.load(text, opts)
  local docs = load_docs(text, opts, 2, "load")
  if #docs > 1 then
    score.raise("yaml", string.format("%s: found %d documents where one was expected "
      .. "(use yaml.load_all)", (opts and (opts.file or opts.name)) or "<yaml>", #docs),
      {file = opts and opts.file, problem = "several documents"}, 2)
  end
  return docs[1]
end

--- docs = yaml.load_all(text, opts): every document, in order.
function M.load_all(text, opts)
  return load_docs(text, opts, 2, "load_all")
end

local function read(path)
  return require("slipway.fs").read(path)
end

--- v = yaml.load_file(path, opts): load a file (errors name the path).
function M.load_file(path, opts)
  check_args("load_file", path, opts, 2)
  local o = {}
  for k, v in pairs(opts or {}) do o[k] = v end
  o.file = o.file or path
  local text = read(path)
  local docs = load_docs(text, o, 2, "load_file")
  if #docs > 1 and not o.all then
    score.raise("yaml", string.format("%s: found %d documents where one was expected "
      .. "(use yaml.load_all_file)", path, #docs), {file = path, problem = "several documents"}, 2)
  end
  return docs[1]
end

--- docs = yaml.load_all_file(path, opts): every document of a file.
function M.load_all_file(path, opts)
  check_args("load_all_file", path, opts, 2)
  local o = {}
  for k, v in pairs(opts or {}) do o[k] = v end
  o.file = o.file or path
  return load_docs(read(path), o, 2, "load_all_file")
end

-- ---- dump -------------------------------------------------------------------

local function is_seq(t)
  local n = #t
  if n == 0 then return getmetatable(t) == M.sequence_mt end
  local c = 0
  for k in pairs(t) do
    if math.type(k) ~= "integer" or k < 1 or k > n then return false end
    c = c + 1
  end
  return c == n
end
M.is_sequence = is_seq

local function float_text(v)
  if v ~= v then return ".nan" end
  if v == math.huge then return ".inf" end
  if v == -math.huge then return "-.inf" end
  local s
  for p = 15, 17 do
    s = string.format("%." .. p .. "g", v)
    if tonumber(s) == v then break end
  end
  if not s:find("[%.eEn]") then s = s .. ".0" end
  return s
end

-- s as a scalar that reads back as that string under every schema (plain
-- when safe, else double-quoted)
local function str_text(s)
  if core.plain_ok(s) then return s end
  return core.quote(s)
end
-- text of a scalar value, or nil for a table
local function scalar_text(v)
  local t = type(v)
  if t == "string" then return str_text(v) end
  if t == "boolean" then return v and "true" or "false" end
  if v == null then return "null" end
  if t == "number" then
    if math.type(v) == "integer" then return string.format("%d", v) end
    return float_text(v)
  end
  if t == "table" then return nil end
  error("yaml.dump: cannot write a " .. t, 0)
end
--- s = yaml.scalar_text(v): the YAML text of a scalar value (nil for a table).
M.scalar_text = scalar_text

-- literal block for multi-line strings, or nil when one cannot be used
local function literal(s, pad)
  if not s:find("\n", 1, true) or s:find("^[ \n]") or s:find("[\r%z\1-\8\11-\31\127]")
      or s:match("^\n*$") or s:find("[ \t]\n") or s:find("[ \t]$") or not core.utf8(s) then
    -- (a line ending in white space would leave trailing whitespace: quoted)
    return nil
  end
  local body, trail = s:match("^(.-)(\n*)$")
  local chomp = #trail == 0 and "-" or (#trail == 1 and "" or "+")
  local out = {"|" .. chomp}
  for line in (body .. "\n"):gmatch("(.-)\n") do
    out[#out + 1] = line == "" and "" or pad .. line
  end
  for _ = 2, #trail do out[#out + 1] = "" end
  return out
end

local function sorted_keys(t, order)
  local keys = {}
  for k in pairs(t) do
    if type(k) ~= "string" then
      error("yaml.dump: mapping keys must be strings, found a " .. type(k) .. " key ("
            .. tostring(k) .. ")", 0)
    end
    keys[#keys + 1] = k
  end
  if order then
    local rank = {}
    for i, k in ipairs(order) do rank[k] = rank[k] or i end
    table.sort(keys, function(a, b)
      local ra, rb = rank[a], rank[b]
      if ra and rb then return ra < rb end
      if ra or rb then return ra ~= nil end
      return a < b
    end)
  else
    table.sort(keys)
  end
  return keys
end

-- The text of mapping key k ("<<" quoted: it is no merge key here) and
-- whether it must be written as an explicit "? KEY": an implicit key has at
-- most 1024 characters (YAML 1.2, 7.4.2; libyaml: "mapping values are not
-- allowed" past it), and bytes are never fewer than characters.
local function key_text(k)
  local kt = k == "<<" and core.quote(k) or str_text(k)
  return kt, #kt > 1024
end

-- Append the lines of value v at indentation `ind` (a number) to out.
local function emit(v, ind, out, opts, seen)
  local pad = (" "):rep(ind)
  local unit = opts.indent or 2
  if seen[v] then error("yaml.dump: a table contains itself", 0) end
  seen[v] = true
  if is_seq(v) then
    for _, x in ipairs(v) do
      local s = scalar_text(x)
      if s or next(x) == nil then
        if type(x) == "string" then
          local lit = literal(x, pad .. (" "):rep(unit))
          if lit then
            out[#out + 1] = pad .. "- " .. lit[1]
            for i = 2, #lit do out[#out + 1] = lit[i] end
            goto continue
          end
        end
        out[#out + 1] = pad .. "- " .. (s or (is_seq(x) and "[]" or "{}"))
      else
        local first = #out + 1
        emit(x, ind + 2, out, opts, seen)
        out[first] = pad .. "- " .. out[first]:sub(ind + 3)
      end
      ::continue::
    end
  else
    for _, k in ipairs(sorted_keys(v, opts.order)) do
      local x = v[k]
      local kt, explicit = key_text(k)
      if explicit then  -- "? KEY" on its line, the value on a ": " line
        out[#out + 1] = pad .. "? " .. kt
        kt = ""
      end
      local s = scalar_text(x)
      if s or next(x) == nil then
        local lit = type(x) == "string" and literal(x, pad .. (" "):rep(unit))
        if lit then
          out[#out + 1] = pad .. kt .. ": " .. lit[1]
          for i = 2, #lit do out[#out + 1] = lit[i] end
        else
          out[#out + 1] = pad .. kt .. ": " .. (s or (is_seq(x) and "[]" or "{}"))
        end
      else
        out[#out + 1] = pad .. kt .. ":"
        emit(x, ind + unit, out, opts, seen)
      end
    end
  end
  seen[v] = nil
end

local function dump_one(v, opts, out)
  local s = scalar_text(v)
  if s or next(v) == nil then
    local lit = type(v) == "string" and literal(v, (" "):rep(opts.indent or 2))
    if lit then
      for _, l in ipairs(lit) do out[#out + 1] = l end
    else
      out[#out + 1] = s or (is_seq(v) and "[]" or "{}")
    end
  else
    emit(v, 0, out, opts, {})
  end
end

--- text = yaml.dump(value, opts): block-style YAML, deterministic.
-- Mapping keys sorted (or opts.order = {"apiVersion", "kind", ...} first, in
-- that order, then the rest sorted), two-space indent (opts.indent), strings
-- that any schema would read as something else quoted; multi-line strings
-- as literal blocks. Raises on functions, non-string keys, cycles and
-- strings that are not UTF-8.
function M.dump(value, opts)
  opts = opts or {}
  local out = {}
  if value == nil then value = null end
  dump_one(value, opts, out)
  return table.concat(out, "\n") .. "\n"
end

--- text = yaml.dump_all(list, opts): each value as a document after "---".
function M.dump_all(list, opts)
  opts = opts or {}
  local parts = {}
  for i = 1, #list do
    local out = {"---"}
    dump_one(list[i], opts, out)
    parts[#parts + 1] = table.concat(out, "\n") .. "\n"
  end
  return table.concat(parts)
end

M._emit = emit
M._literal = literal
M._str_text = str_text
M._key_text = key_text

-- ---- merge ------------------------------------------------------------------

local function copy(v)
  if type(v) ~= "table" then return v end
  local t = {}
  for k, x in pairs(v) do t[k] = copy(x) end
  return setmetatable(t, getmetatable(v))
end
M.copy = copy

local function is_map(v)
  return type(v) == "table" and not is_seq(v) and (next(v) ~= nil or getmetatable(v) == nil)
end

local function merge2(a, b)
  if is_map(a) and is_map(b) then
    for k, x in pairs(b) do
      if x == null then
        a[k] = nil
      elseif is_map(a[k]) and is_map(x) then
        a[k] = merge2(a[k], x)
      else
        a[k] = copy(x)
      end
    end
    return a
  end
  return copy(b)
end

--- v = yaml.merge(base, overlay, ...): values merged the way `helm -f a -f b`
-- merges them: mappings merge recursively, sequences and scalars replace,
-- a null value deletes the key. nil/null overlays are skipped. The inputs
-- are not modified.
function M.merge(base, ...)
  local r = copy(base)
  for i = 1, select("#", ...) do
    local o = select(i, ...)
    if o ~= nil and o ~= null then
      if r == nil or r == null then r = copy(o) else r = merge2(r, o) end
    end
  end
  return r
end

-- ---- lossless edits (slipway.yaml.edit) ------------------------------------

--- doc = yaml.open(path, opts): a document for lossless edits (see edit.lua).
function M.open(path, opts)
  return require("slipway.yaml.edit").open(path, opts)
end

--- doc = yaml.edit(text, opts): the same for a string (doc:save needs a path).
function M.edit(text, opts)
  return require("slipway.yaml.edit").edit(text, opts)
end

return M
