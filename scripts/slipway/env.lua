--- slipway.env: environment variables.
--
--   local env = require "slipway.env"
--   local ns = env.get("NAMESPACE", "staging")
--   local kube = env.require("KUBECONFIG")          -- raises when unset
--   local token = env.secret("GRAFANA_TOKEN")       -- and masks it everywhere
--   local vars = env.read_file("cert-manager.env")  -- KEY=value files
--   local doc = env.open_file("cert-manager.env")   -- edit one value, keep the rest
--
-- An empty variable counts as unset for require and secret (a CI system
-- that passes an undefined secret gives an empty string).
local sw = require "slipway.core"

local M = {}

local function check_name(name, fname)
  if type(name) ~= "string" or name == "" or name:find("[=%z]") then
    error(string.format("bad argument #1 to '%s' (a variable name expected, got %s)",
      fname, type(name) == "string" and string.format("%q", name) or type(name)), 3)
  end
end

--- env.get(name [, default]) -> the value, or default (nil) when unset.
function M.get(name, default)
  check_name(name, "get")
  local v = os.getenv(name)
  if v == nil then return default end
  return v
end

--- env.require(name [, why]) -> the value; raises a structured error with
-- code "env" and field `name` when it is unset or empty. why is added to the
-- message ("GRAFANA_TOKEN is not set (needed for the deploy annotation)").
function M.require(name, why)
  check_name(name, "require")
  local v = os.getenv(name)
  if v == nil or v == "" then
    sw.raise("env", string.format("environment variable %s is %s%s", name,
      v == nil and "not set" or "empty", why and " (" .. why .. ")" or ""),
      {name = name})
  end
  return v
end

--- env.secret(name [, why | {why =, optional = true}]) -> the value, like
-- env.require, and registers it as a secret: from then on it is shown as
-- *** in every output slipway produces (logs, errors, tracebacks, print,
-- echoed commands, journals). With optional, an unset or empty variable
-- gives nil instead of an error.
function M.secret(name, opts)
  check_name(name, "secret")
  if type(opts) ~= "table" then opts = {why = opts} end
  local v = os.getenv(name)
  if v == nil or v == "" then
    if opts.optional then return nil end
    sw.raise("env", string.format("environment variable %s is %s%s", name,
      v == nil and "not set" or "empty", opts.why and " (" .. opts.why .. ")" or ""),
      {name = name})
  end
  return sw.secret(v)
end

-- ---- KEY=value files ("env files": cert-manager.env, .env) ----------------
--
-- One assignment a line, as a POSIX shell reads it when the file is sourced
-- (`. cert-manager.env`): optional `export `, NAME=VALUE, the value plain
-- (up to a ` #` comment), 'single-quoted' or "double-quoted" (no expansion:
-- a `$` in a value is kept as it is). Blank lines and `#` lines are skipped;
-- anything else is an error naming file:line.

local function parse_env_line(line)
  local body = line:gsub("^%s+", ""):gsub("%s+$", "")
  if body == "" or body:sub(1, 1) == "#" then return nil end
  local exp, name, rest = body:match("^(export%s+)([%a_][%w_]*)=(.*)$")
  if not name then
    exp = ""
    name, rest = body:match("^([%a_][%w_]*)=(.*)$")
  end
  if not name then return false end
  local q = rest:sub(1, 1)
  local value, quote, tail
  if q == "'" or q == '"' then
    local close = rest:find(q, 2, true)
    if not close then return false end
    value, quote = rest:sub(2, close - 1), q
    tail = rest:sub(close + 1)
    if not (tail == "" or tail:match("^%s+#") or tail:match("^%s*$")) then return false end
  else
    value = rest:gsub("%s+#.*$", "")
    tail = rest:sub(#value + 1)
    if value:find("%s") then return false end
  end
  return {name = name, value = value, quote = quote, export = exp ~= "", tail = tail}
end

--- env.parse_file(text [, name]) -> vars {NAME = value}, order {NAME...}:
-- the assignments of a KEY=value file's text (name: for messages). A line
-- that is not an assignment, a comment or blank raises code "env" naming
-- name:line.
function M.parse_file(text, name)
  local vars, order = {}, {}
  local n = 0
  for line in (text .. (text:sub(-1) == "\n" and "" or "\n")):gmatch("([^\n]*)\n") do
    n = n + 1
    local a = parse_env_line(line)
    if a == false then
      error(sw.error("env", string.format("%s:%d: not a NAME=value line: %s", name or "env file", n, line),
        {file = name, line = n}), 0)
    elseif a then
      if vars[a.name] == nil then order[#order + 1] = a.name end
      vars[a.name] = a.value
    end
  end
  return vars, order
end

--- env.read_file(path) -> vars, order: env.parse_file of the file at path.
function M.read_file(path)
  return M.parse_file(require("slipway.fs").read(path), path)
end

local EnvDoc = {}
EnvDoc.__index = EnvDoc

local function find_assignment(self, name)
  local n, pos = 0, 1
  local found
  while pos <= #self.src do
    local e = self.src:find("\n", pos, true) or (#self.src + 1)
    n = n + 1
    local a = parse_env_line(self.src:sub(pos, e - 1))
    if a and a.name == name then found = {a = a, first = pos, last = e - 1, line = n} end
    pos = e + 1
  end
  return found   -- the last assignment wins, as in a shell
end

--- doc:has(name) -> whether the file assigns name.
function EnvDoc:has(name) return find_assignment(self, name) ~= nil end

--- doc:get(name) -> the value assigned to name (nil when none).
function EnvDoc:get(name)
  local f = find_assignment(self, name)
  return f and f.a.value
end

--- doc:set(name, value): rewrite that one line (its `export `, quotes and
-- indentation kept); raises when name is not assigned or the value cannot be
-- written in the line's quoting.
function EnvDoc:set(name, value)
  value = tostring(value)
  local f = find_assignment(self, name)
  if not f then error("env: " .. (self.file or "env file") .. " does not assign " .. name, 2) end
  local q = f.a.quote
  if (q and value:find(q, 1, true)) or value:find("\n", 1, true) or
     (not q and (value:find("[%s#'\"$`\\]") or value == "")) then
    error(string.format("env: cannot write %q as the value of %s in %s", value, name, self.file or "env file"), 2)
  end
  local line = self.src:sub(f.first, f.last)
  local indent = line:match("^%s*")
  -- a trailing comment stays
  local new = indent .. (f.a.export and "export " or "") .. name .. "=" .. (q or "") .. value .. (q or "") ..
    (f.a.tail or "")
  self.src = self.src:sub(1, f.first - 1) .. new .. self.src:sub(f.last + 1)
  return self
end

--- doc:diff() -> the unified diff of the edits ("" when none).
function EnvDoc:diff()
  local name = (self.file or "env"):gsub("^/+", "")
  return sw.redact(require("slipway.diff").unified(self.orig, self.src, "a/" .. name, "b/" .. name))
end

--- doc:changed() -> whether the text differs from the one opened.
function EnvDoc:changed() return self.orig ~= self.src end

--- doc:text() -> the current text (as a YAML document's doc:text()).
function EnvDoc:text() return self.src end

--- doc:save([path]): write the text atomically (slipway.fs.write).
function EnvDoc:save(path)
  require("slipway.fs").write(path or self.file, self.src)
  return self
end

--- env.open_file(path) -> doc: a KEY=value file opened for editing with the
-- interface of a YAML document (yaml.open) that slipway bump uses: has, get,
-- set, text, diff, changed, save. An edit changes exactly one line.
function M.open_file(path)
  local text = require("slipway.fs").read(path)
  M.parse_file(text, path)   -- refuse a file that is not KEY=value lines
  return setmetatable({file = path, orig = text, src = text}, EnvDoc)
end

return M
