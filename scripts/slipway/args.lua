--- slipway.args: the one command-line parser of slipway (docs/args.md).
--
-- The top-level command line, every command, `slipway run PLAYBOOK` (the
-- options a playbook declares) and runbooks' arguments are all declared with
-- it; the same declaration drives parsing, validation and the --help text.
--
--   local args = require "slipway.args"
--   local p = args.parser{
--     prog = "slipway stage",
--     description = "Deploys ...",            -- prose for --help
--     options = {
--       {name = "dry-run", short = "n", type = "boolean", help = "change nothing"},
--       {name = "resume", metavar = "RUN", optional_value = true, help = "..."},
--       {name = "limit", type = "integer", default = 50, help = "..."},
--       {name = "log-format", type = {"text", "json"}, help = "..."},
--     },
--     positionals = {{name = "env", optional = true, help = "..."}},
--   }
--   local a = p:parse(argv)   -- raises a "usage" error for bad input
--   if a.help then io.stdout:write(p:help(), "\n") return 0 end
--
-- Rules: `--opt value` and `--opt=value`; `--no-X` only for declared boolean
-- options; `--` ends the options; an unknown option (or one of the wrong
-- type) is a usage error naming it, with "did you mean --dry-run?" for a near
-- miss (edit distance <= 2, or a unique prefix: suggested, never guessed);
-- `--help`/`-h` anywhere before `--` makes parse return {help = true} and
-- nothing else. Values are keyed by name with dashes turned into
-- underscores; positionals are a[1..n] and also a[name] (a list when
-- variadic); with `rest = true`, everything after the last positional is
-- left unparsed in a.rest (a command that hands its tail to another parser).
local core = require "slipway.core"

local M = {}

local TYPES = {string = true, number = true, integer = true, boolean = true}

local function usage_error(msg, fields)
  error(core.error("usage", msg, fields), 0)
end

--- Levenshtein distance between two strings (byte-wise).
function M.distance(a, b)
  local la, lb = #a, #b
  if la == 0 then return lb end
  if lb == 0 then return la end
  local prev, cur = {}, {}
  for j = 0, lb do prev[j] = j end
  for i = 1, la do
    cur[0] = i
    local ca = a:byte(i)
    for j = 1, lb do
      local cost = (ca == b:byte(j)) and 0 or 1
      cur[j] = math.min(prev[j] + 1, cur[j - 1] + 1, prev[j - 1] + cost)
    end
    prev, cur = cur, prev
  end
  return prev[lb]
end

--- The candidate `word` is a near miss of: the only one it is a prefix of,
-- else the closest within edit distance 2 (ties: the first listed); nil when
-- none is near.
function M.suggest(word, candidates)
  local prefixed = {}
  for _, c in ipairs(candidates) do
    if #word >= 2 and c:sub(1, #word) == word and c ~= word then prefixed[#prefixed + 1] = c end
  end
  if #prefixed == 1 then return prefixed[1] end
  local best, bestd
  local lw = word:lower()
  for _, c in ipairs(candidates) do
    local d = M.distance(lw, c:lower())
    if d <= 2 and d < #c and (not bestd or d < bestd) then best, bestd = c, d end
  end
  return best
end

-- ---- declarations -------------------------------------------------------------

local function type_name(o)
  if type(o.type) == "table" then return table.concat(o.type, "|") end
  return o.type
end

local function check_decl(o, what)
  if type(o) ~= "table" or type(o.name) ~= "string" or not o.name:match("^[%a][%w%-]*$") then
    error(what .. " needs a name (letters, digits, dashes)", 3)
  end
  o.type = o.type or (type(o.default) == "number" and "number") or
           (type(o.default) == "boolean" and "boolean") or "string"
  if type(o.type) == "table" then
    if #o.type == 0 then error(what .. " " .. o.name .. ": an empty list of values", 3) end
  elseif not TYPES[o.type] then
    error(what .. " " .. o.name .. ": unknown type " .. tostring(o.type), 3)
  end
  if o.short ~= nil and (type(o.short) ~= "string" or not o.short:match("^%a$")) then
    error(what .. " " .. o.name .. ": short must be one letter", 3)
  end
end

local Parser = {}
Parser.__index = Parser

--- A parser for one command line. spec: prog (e.g. "slipway deploy"),
-- description (prose shown by --help), options, positionals, rest (leave
-- what follows the positionals unparsed, in result.rest), epilog (text at
-- the end of --help).
function M.parser(spec)
  local self = setmetatable({prog = spec.prog or "slipway", description = spec.description,
                             epilog = spec.epilog, rest = spec.rest, options = {},
                             positionals = {}, long = {}, short = {}}, Parser)
  for _, o in ipairs(spec.options or {}) do self:add(o) end
  for _, p in ipairs(spec.positionals or {}) do
    check_decl(p, "positional")
    if #self.positionals > 0 and self.positionals[#self.positionals].variadic then
      error("positional " .. p.name .. " after a variadic one", 2)
    end
    self.positionals[#self.positionals + 1] = p
  end
  return self
end

--- Declare one more option (the engine adds its own to a playbook's).
function Parser:add(o)
  check_decl(o, "option")
  if self.long[o.name] or o.name == "help" then error("option --" .. o.name .. " is declared twice", 2) end
  if o.short and (self.short[o.short] or o.short == "h") then
    error("option -" .. o.short .. " is declared twice", 2)
  end
  self.options[#self.options + 1] = o
  self.long[o.name] = o
  if o.short then self.short[o.short] = o end
  if o.stop then self.stops = true end
  return self
end

-- every spelling a user may type, for suggestions
function Parser:spellings()
  local t = {"--help"}
  for _, o in ipairs(self.options) do
    t[#t + 1] = "--" .. o.name
    if o.type == "boolean" then t[#t + 1] = "--no-" .. o.name end
  end
  return t
end

-- ---- parsing ------------------------------------------------------------------

local BOOL = {["true"] = true, yes = true, ["1"] = true, on = true,
              ["false"] = false, no = false, ["0"] = false, off = false}

local function convert(self, o, v, label)
  local function bad(want)
    usage_error(string.format("%s: %s %s, got %q", self.prog, label, want, tostring(v)),
                {option = label})
  end
  if o.type == "boolean" then
    if type(v) == "boolean" then return v end
    local b = BOOL[v:lower()]
    if b == nil then bad("takes no value (or true/false)") end
    return b
  elseif o.type == "number" then
    local n = tonumber(v)
    if not n then bad("needs a number") end
    return n
  elseif o.type == "integer" then
    local n = math.tointeger(tonumber(v))
    if not n then bad("needs an integer") end
    return n
  elseif type(o.type) == "table" then
    for _, c in ipairs(o.type) do if c == v then return v end end
    bad("needs one of " .. table.concat(o.type, ", "))
  end
  return v
end

local function key(name) return (name:gsub("%-", "_")) end

local function set(out, o, v)
  local k = key(o.name)
  if o.repeatable then
    out[k] = out[k] or {}
    table.insert(out[k], v)
  else
    out[k] = v
  end
end

function Parser:unknown(word)
  local name = word:match("^([^=]*)")
  local msg = string.format("%s: unknown option %s", self.prog, name)
  local s = name:sub(1, 2) == "--" and M.suggest(name, self:spellings())
  if s then msg = msg .. "; did you mean " .. s .. "?" end
  usage_error(msg, {option = name, suggestion = s or nil})
end

--- Parse argv (a list of strings). Returns the values (see the module
-- comment); raises a structured "usage" error naming the option for bad
-- input. opts.stop_at_positional: stop at the first positional and return
-- the words from there in result.rest (the top-level command line).
function Parser:parse(argv, opts)
  local ok, v = pcall(self._parse_words, self, argv, opts or {})
  if ok then return v end
  -- --help anywhere wins over what is wrong around it
  if type(v) == "table" and v.code == "usage" then
    for _, a in ipairs(argv) do
      if a == "--" then break end
      if a == "--help" or a == "-h" then return {help = true} end
    end
  end
  error(v, 0)
end

function Parser:_parse_words(argv, opts)
  local out, pos = {}, {}
  local i, n = 1, #argv
  local function rest_from(k)
    out.rest = table.move(argv, k, n, 1, {})
  end
  local stopped = false
  while i <= n do
    local a = argv[i]
    if a == "--" then
      for k = i + 1, n do pos[#pos + 1] = argv[k] end
      break
    elseif a == "--help" or a == "-h" then
      return {help = true}
    elseif a:sub(1, 2) == "--" then
      local name, v = a:match("^%-%-([^=]+)=(.*)$")
      name = name or a:sub(3)
      local o = self.long[name]
      if not o then
        local b = name:match("^no%-(.+)$")
        o = b and self.long[b]
        if not o or o.type ~= "boolean" then self:unknown(a) end
        if v then usage_error(string.format("%s: --%s takes no value", self.prog, name), {option = "--" .. name}) end
        v = false
      end
      local label = "--" .. o.name
      if v == nil then
        if o.type == "boolean" then v = true
        elseif o.optional_value then
          local nxt = argv[i + 1]
          if nxt ~= nil and nxt:sub(1, 1) ~= "-" then v = nxt; i = i + 1 else v = true end
        else
          local nxt = argv[i + 1]
          if nxt == nil or (nxt:sub(1, 2) == "--" and #nxt > 2) then
            usage_error(string.format("%s: %s needs a value (%s)", self.prog, label,
              o.metavar or type_name(o):upper()), {option = label})
          end
          v = nxt; i = i + 1
        end
      end
      set(out, o, v == true and o.type ~= "boolean" and true or convert(self, o, v, label))
      if o.stop then rest_from(i + 1); stopped = true; break end
    elseif a:match("^%-%a$") then
      local o = self.short[a:sub(2)]
      if not o then self:unknown(a) end
      local v = true
      if o.type ~= "boolean" then
        v = argv[i + 1]
        if v == nil then usage_error(string.format("%s: %s needs a value", self.prog, a), {option = a}) end
        i = i + 1
      end
      set(out, o, convert(self, o, v, a))
      if o.stop then rest_from(i + 1); stopped = true; break end
    elseif a:sub(1, 1) == "-" and #a > 1 and not tonumber(a) then
      self:unknown(a)
    else
      if opts.stop_at_positional then rest_from(i); stopped = true; break end
      pos[#pos + 1] = a
      if self.rest and #pos >= #self.positionals then rest_from(i + 1); stopped = true; break end
    end
    i = i + 1
  end
  if not stopped and (self.rest or opts.stop_at_positional or self.stops) then out.rest = {} end
  -- positionals
  local k = 1
  for _, p in ipairs(self.positionals) do
    if p.variadic then
      local list = {}
      while k <= #pos do list[#list + 1] = convert(self, p, pos[k], p.name:upper()); k = k + 1 end
      if #list == 0 and not p.optional then
        usage_error(string.format("%s: missing %s", self.prog, p.name:upper()), {positional = p.name})
      end
      out[key(p.name)] = list
      for _, v in ipairs(list) do out[#out + 1] = v end
    elseif pos[k] ~= nil then
      local v = convert(self, p, pos[k], p.name:upper())
      out[key(p.name)] = v
      out[k] = v
      k = k + 1
    elseif not p.optional then
      usage_error(string.format("%s: missing %s", self.prog, p.name:upper()), {positional = p.name})
    end
  end
  if k <= #pos and not (#self.positionals > 0 and self.positionals[#self.positionals].variadic) then
    usage_error(string.format("%s: unexpected argument %q", self.prog, pos[k]), {argument = pos[k]})
  end
  for _, o in ipairs(self.options) do
    local kk = key(o.name)
    if out[kk] == nil and o.default ~= nil then out[kk] = o.default end
  end
  return out
end

-- ---- help ---------------------------------------------------------------------

local function opt_synopsis(o)
  local s = "--" .. o.name
  if o.type == "boolean" then
    if o.default == true then s = "--no-" .. o.name end
  else
    local mv = o.metavar or (type(o.type) == "table" and table.concat(o.type, "|")) or o.type:upper()
    s = o.optional_value and (s .. " [" .. mv .. "]") or (s .. " " .. mv)
  end
  return "[" .. s .. "]"
end

local function pos_synopsis(p)
  local s = p.name:upper()
  if p.variadic then s = s .. "..." end
  return p.optional and "[" .. s .. "]" or s
end

--- The usage line(s): "usage: PROG [options...] POSITIONALS", wrapped;
-- with opts.bare only the options and positionals, on one line.
function Parser:synopsis(opts)
  local words = {}
  for _, p in ipairs(self.positionals) do words[#words + 1] = pos_synopsis(p) end
  for _, o in ipairs(self.options) do
    if o.group ~= "global" then words[#words + 1] = opt_synopsis(o) end
  end
  if self.rest then words[#words + 1] = "[ARGS...]" end
  if opts and opts.bare then return table.concat(words, " ") end
  local head = "usage: " .. self.prog
  local lines, line = {}, head
  local indent = string.rep(" ", #head)
  for _, w in ipairs(words) do
    if #line + 1 + #w > 78 and line ~= head and line ~= indent then
      lines[#lines + 1] = line
      line = indent
    end
    line = line .. " " .. w
  end
  lines[#lines + 1] = line
  return table.concat(lines, "\n")
end

local function left(o)
  local s = (o.short and ("-" .. o.short .. ", ") or "    ") .. "--" .. o.name
  if o.type == "boolean" then
    if o.default == true then s = s .. ", --no-" .. o.name end
  else
    local mv = o.metavar or (type(o.type) == "table" and table.concat(o.type, "|")) or o.type:upper()
    s = s .. (o.optional_value and (" [" .. mv .. "]") or (" " .. mv))
  end
  return s
end

-- words of text in lines of at most 78 columns, the first after `first`,
-- the others indented by 26
local function wrap(first, text)
  local indent = string.rep(" ", 26)
  local lines, line = {}, first
  for w in text:gmatch("%S+") do
    if #line + 1 + #w > 78 and #line > 26 then
      lines[#lines + 1] = line
      line = indent .. w
    else
      line = (#line >= 26 and line:sub(-1) ~= " ") and (line .. " " .. w) or (line .. w)
    end
  end
  lines[#lines + 1] = line
  return table.concat(lines, "\n")
end

local function item(l, help, extra)
  local text = help or ""
  if extra then text = text .. (text ~= "" and " " or "") .. "(" .. extra .. ")" end
  if #l > 22 then return "  " .. l .. "\n" .. wrap(string.rep(" ", 26), text) end
  return wrap(string.format("  %-22s  ", l), text)
end

--- The help lines of a list of option declarations ("  -n, --dry-run  help
-- (default x)"), one string.
function M.options_help(options)
  local out = {}
  for _, o in ipairs(options) do
    local extra = {}
    if o.default ~= nil and o.type ~= "boolean" then extra[#extra + 1] = "default " .. tostring(o.default) end
    if o.repeatable then extra[#extra + 1] = "repeatable" end
    out[#out + 1] = item(left(o), o.help, #extra > 0 and table.concat(extra, ", ") or nil)
  end
  return table.concat(out, "\n")
end

--- The --help text: usage line, description, the declared options with
-- their help and defaults, the positionals, and the epilog.
function Parser:help()
  local out = {self:synopsis()}
  if self.description then out[#out + 1] = ""; out[#out + 1] = self.description end
  if #self.positionals > 0 then
    out[#out + 1] = ""
    out[#out + 1] = "Arguments:"
    for _, p in ipairs(self.positionals) do
      local extra = p.default ~= nil and ("default " .. tostring(p.default)) or nil
      if type(p.type) == "table" then extra = "one of " .. table.concat(p.type, ", ") end
      out[#out + 1] = item(pos_synopsis(p), p.help, extra)
    end
  end
  local globals, own = {}, {}
  for _, o in ipairs(self.options) do
    if o.group == "global" then
      globals[#globals + 1] = (o.short and ("-" .. o.short .. "/") or "") .. "--" ..
        ((o.type == "boolean" and o.default == true) and ("no-" .. o.name) or o.name)
    else
      own[#own + 1] = o
    end
  end
  out[#out + 1] = ""
  out[#out + 1] = "Options:"
  if #own > 0 then out[#out + 1] = M.options_help(own) end
  out[#out + 1] = item("-h, --help", "show this help; run nothing")
  if #globals > 0 then
    out[#out + 1] = "Global options (slipway --help): " .. table.concat(globals, ", ")
  end
  if self.epilog then out[#out + 1] = ""; out[#out + 1] = self.epilog end
  return table.concat(out, "\n")
end

-- ---- the global options ------------------------------------------------------

--- The options every slipway command line accepts, before or after the
-- command (group "global"). They go to require("slipway.runtime").options
-- (set_global), which slipway.log reads.
M.GLOBAL = {
  {name = "verbose", short = "v", type = "boolean", group = "global", help = "log debug lines"},
  {name = "quiet", short = "q", type = "boolean", group = "global", help = "log warnings and errors only"},
  {name = "log-format", type = {"text", "json"}, group = "global", help = "log lines as text or JSON"},
  {name = "log-level", type = {"debug", "info", "warn", "error"}, group = "global", help = "the lowest level logged"},
  {name = "color", type = "boolean", default = true, group = "global", help = "colour (--no-color: none)"},
}

--- A list of the option declarations of the given lists, in order.
function M.concat(...)
  local t = {}
  for _, list in ipairs{...} do
    for _, o in ipairs(list) do t[#t + 1] = o end
  end
  return t
end

--- Store the global options found in parsed values (what set them, not
-- defaults) in runtime.options; removes them from values.
function M.set_global(values)
  local opts = require("slipway.runtime").options
  if values.verbose then opts.log_level = "debug" end
  if values.quiet then opts.log_level = "warn" end
  if values.log_level then opts.log_level = values.log_level end
  if values.log_format then opts.log_format = values.log_format end
  if values.color == false then opts.no_color = true end
  values.verbose, values.quiet, values.log_level, values.log_format, values.color = nil, nil, nil, nil, nil
  return values
end

return M
