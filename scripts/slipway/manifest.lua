--- slipway.manifest: load and validate a deployment's slipway.yaml.
--
--   local manifest = require "slipway.manifest"
--   local m = manifest.load("path/to/repo")        -- or the file itself
--   m.components.binderhub.locations[1].file      --> "/abs/repo/mybinder/Chart.yaml"
--
-- load() validates the top level and `components` (this module) and keeps
-- `environments`, `stages` and `notify` raw for slipway.environments (the
-- deploy side). Errors are structured, code "manifest", with fields `file`,
-- `key` (the key path, e.g. "components.binderhub.source.helm.repo") and
-- `line` when it can be found; the message reads
-- "slipway.yaml:12: components.binderhub.source.helm: repo is required".
-- The schema is documented in docs/manifest.md.
local core = require "slipway.core"
local fs = require "slipway.fs"
local version = require "slipway.version"
local spath = require "slipway.path"
local M = {}

M.FILE = "slipway.yaml"

local TOP = {name = true, state_dir = true, state = true, components = true, environments = true,
             stages = true, notify = true, templates = true, env_files = true, build = true}
-- the `state:` setting: where the record of deploys lives (slipway.state)
local STATE_OPTIONS = {
  git = {remote = "string", ref = "string", retries = "number", timeout = "number", keep_runs = "number",
         heartbeat = "number"},
  kubernetes = {prefix = "string", keep_runs = "number", home = "string", retries = "number",
                heartbeat = "number"},
  ["local"] = {wait = "number", heartbeat = "number"},
}
local COMPONENT = {scheme = true, source = true, repository = true, locations = true,
                   description = true, changelog = true, labels = true}
local SOURCE_COMMON = {devel = true, constraint = true, order = true, pattern = true,
                       exclude = true}
local SOURCE_KINDS = {"helm", "registry", "git", "lua"}
local SOURCE_FIELDS = {
  helm = {repo = true, chart = true, plain_http = true, username_env = true, password_env = true},
  registry = {image = true, plain_http = true, username_env = true, password_env = true,
              token_env = true, page_size = true},
  git = {url = true},
  lua = {module = true, fn = true},
}

-- the line of the deepest existing node on the key path, from the yaml
-- module's node index (nil when the text has none of it)
local function line_of(text, keys)
  local ok, line, col = pcall(function()
    local yaml = require "slipway.yaml"
    local doc = yaml.edit(text)
    for n = #keys, 1, -1 do
      local segs = {}
      for i = 1, n do segs[i] = type(keys[i]) == "number" and keys[i] - 1 or keys[i] end
      if doc:has(segs) then
        local r = doc:resolve(segs, nil, "get", 1)
        local node = doc:node(r.node)
        -- a mapping value: report the line of its key
        local parent = node.parent and doc:node(node.parent)
        if parent and parent.kind == "mapping" then
          local kids = doc:children(node.parent)
          for k = 2, #kids, 2 do
            if kids[k] == r.node then
              local kn = doc:node(kids[k - 1])
              return kn.line, kn.col
            end
          end
        end
        return node.line, node.col
      end
    end
    return nil
  end)
  if ok and line then return line, col end
  return nil
end

-- {KEY = line} of the keys of the mapping at keys (1-based list positions),
-- from the yaml module's node index; {} when there is none
local function key_lines(text, keys)
  local out = {}
  local yaml = require "slipway.yaml"
  local doc = yaml.edit(text)
  local segs = {}
  for i, k in ipairs(keys) do segs[i] = type(k) == "number" and k - 1 or k end
  if not doc:has(segs) then return out end
  local r = doc:resolve(segs, nil, "get", 1)
  if doc:node(r.node).kind ~= "mapping" then return out end
  local kids = doc:children(r.node)
  for k = 1, #kids, 2 do
    local kn = doc:node(kids[k])
    if kn.value ~= nil and out[kn.value] == nil then out[kn.value] = kn.line end
  end
  return out
end

local Checker = {}
Checker.__index = Checker

-- keys (numbers: 1-based list positions) as a path in the path syntax,
-- which counts list items from 0 ("checks[0]"), as users write paths
local function keystr(keys)
  local out = {}
  for _, k in ipairs(keys) do
    if type(k) == "number" then out[#out] = (out[#out] or "") .. "[" .. (k - 1) .. "]"
    else out[#out + 1] = tostring(k) end
  end
  return table.concat(out, ".")
end

-- a key path as keys: a list already, or a string in the path syntax (list
-- indexes from 0); nil when the string is not a path
local function keys_of(keypath)
  if type(keypath) ~= "string" then return keypath end
  local ok, segs = pcall(require("slipway.path").parse, keypath)
  if not ok then return nil end
  local keys = {}
  for i, sg in ipairs(segs) do
    if sg.key ~= nil then keys[i] = sg.key
    elseif math.type(sg.index) == "integer" and sg.index >= 0 then keys[i] = sg.index + 1
    else break end
  end
  return keys
end

function Checker:fail(keys, msg)
  local line, col = line_of(self.text, keys)
  local where = self.display .. (line and (":" .. line) or "") .. (line and col and (":" .. col) or "")
  local key = keystr(keys)
  -- the message names the file, line and column of slipway.yaml, not a Lua frame
  error(core.error("manifest", string.format("%s: %s%s", where, key ~= "" and (key .. ": ") or "", msg),
                   {file = self.path, key = key, line = line, column = col}), 0)
end

local function push(keys, k)
  local c = {table.unpack(keys)}
  c[#c + 1] = k
  return c
end

function Checker:map(v, keys, allowed)
  if type(v) ~= "table" or (#v > 0 and next(v, #v) == nil and v[1] ~= nil) then
    self:fail(keys, "expected a mapping, got " .. (type(v) == "table" and "a list" or type(v)))
  end
  if allowed then
    for k in pairs(v) do
      if type(k) ~= "string" or not allowed[k] then
        local names = {}
        for n in pairs(allowed) do names[#names + 1] = n end
        table.sort(names)
        self:fail(push(keys, tostring(k)), "unknown key (expected one of: " .. table.concat(names, ", ") .. ")")
      end
    end
  end
  return v
end

function Checker:str(v, keys, required)
  if v == nil then
    if required then self:fail(keys, "is required") end
    return nil
  end
  if type(v) == "number" then
    self:fail(keys, "expected a string, got the number " .. tostring(v) .. " (quote it)")
  end
  if type(v) ~= "string" or v == "" then self:fail(keys, "expected a non-empty string") end
  return v
end

function Checker:bool(v, keys)
  if v == nil then return nil end
  if type(v) ~= "boolean" then self:fail(keys, "expected true or false") end
  return v
end

function Checker:list(v, keys)
  if type(v) ~= "table" or (next(v) ~= nil and v[1] == nil) then self:fail(keys, "expected a list") end
  return v
end

-- ---- options of drivers ----------------------------------------------------------

-- the text and shown name of each parsed manifest (for check_options' lines)
local sources = setmetatable({}, {__mode = "k"})

local function distance(a, b)
  local prev = {}
  for j = 0, #b do prev[j] = j end
  for i = 1, #a do
    local cur = {[0] = i}
    for j = 1, #b do
      cur[j] = math.min(prev[j] + 1, cur[j - 1] + 1,
                        prev[j - 1] + (a:byte(i) == b:byte(j) and 0 or 1))
    end
    prev = cur
  end
  return prev[#b]
end

--- manifest.did_you_mean(word, names) -> the name of `names` (a list or a
-- set) closest to word (at most a third of its letters apart, at least 1),
-- or nil.
function M.did_you_mean(word, names)
  local best, bd
  local list = {}
  if names[1] then list = {table.unpack(names)} else for n in pairs(names) do list[#list + 1] = n end end
  table.sort(list)
  for _, n in ipairs(list) do
    local d = distance(word:lower(), n:lower())
    if d <= math.max(1, #word // 3) and (not bd or d < bd) then best, bd = n, d end
  end
  return best
end

local TYPE_WORDS = {string = "a string", number = "a number", integer = "an integer",
                    boolean = "true or false", list = "a list", map = "a mapping"}

local function is_list(v) return type(v) == "table" and (next(v) == nil or v[1] ~= nil) end

-- value converted to type t, or nil when it is not one (numbers may come
-- as strings from ${VAR} expansion)
local function as_type(v, t)
  if t == "string" then return type(v) == "string" and v or nil end
  if t == "boolean" then
    if type(v) == "boolean" then return v end
    return nil
  end
  if t == "number" or t == "integer" then
    local n = type(v) == "number" and v or (type(v) == "string" and tonumber(v) or nil)
    if t == "integer" then n = n and math.tointeger(n) end
    return n
  end
  if t == "list" then return is_list(v) and v or nil end
  if t == "map" then return type(v) == "table" and not (v[1] ~= nil) and v or nil end
end

-- "a number > 0", "an integer >= 0 and <= 65535", "a string"
local function wanted(rule, t)
  local w = TYPE_WORDS[t] or t
  if t ~= "number" and t ~= "integer" then return w end
  local lo = (rule.min and (" >= " .. rule.min)) or (rule.above and (" > " .. rule.above)) or ""
  return w .. lo .. (rule.max and ((lo ~= "" and " and" or "") .. " <= " .. rule.max) or "")
end

local function show_value(v)
  if type(v) == "string" then return string.format("%q", v) end
  if type(v) == "table" then return is_list(v) and "a list" or "a mapping" end
  return tostring(v)
end

--- manifest.check_options(m, keys, value, schema) -> a validated copy of
-- value: a driver's options block (`local:`, `kubernetes:`) checked
-- against the schema the driver declares (`driver.options`):
--   {NAME = {type = "string"|"number"|"integer"|"boolean"|"list"|"map" (or
--    a list of them), min =, max = (numbers, inclusive), above = (numbers,
--    exclusive), of = "string" (items of a list, values of a map),
--    nonempty = true (strings, lists), pattern = Lua pattern (strings)}}
-- keys is the key path of the block ({"environments", "staging", "local"}).
-- Unknown keys, wrong types and values out of range raise code "manifest"
-- naming slipway.yaml:LINE:COLUMN and the key, with a did-you-mean for a
-- misspelt key. Numbers given as strings (from ${VAR}) are converted.
function M.check_options(m, keys, value, schema)
  local src = m and sources[m] or {}
  local ck = setmetatable({text = src.text, path = m and m.path,
                           display = src.display or (m and m.path) or M.FILE},
                          Checker)
  if value == nil then return {} end
  if type(value) ~= "table" or (value[1] ~= nil) then
    ck:fail(keys, "expected a mapping of options, got " .. show_value(value))
  end
  local out, names = {}, {}
  for k in pairs(value) do names[#names + 1] = k end
  table.sort(names, function(a, b) return tostring(a) < tostring(b) end)
  for _, k in ipairs(names) do
    local v = value[k]
    local kp = push(keys, tostring(k))
    local rule = type(k) == "string" and schema[k]
    if not rule then
      local names = {}
      for n in pairs(schema) do names[#names + 1] = n end
      table.sort(names)
      local near = type(k) == "string" and M.did_you_mean(k, names)
      ck:fail(kp, "unknown option" .. (near and (" (did you mean '" .. near .. "'?)") or "")
        .. "; known: " .. table.concat(names, ", "))
    end
    local types = type(rule.type) == "table" and rule.type or {rule.type}
    local got
    for _, t in ipairs(types) do
      got = as_type(v, t)
      if got ~= nil then
        if (t == "number" or t == "integer") then
          if (rule.min and got < rule.min) or (rule.above and got <= rule.above)
             or (rule.max and got > rule.max) then
            ck:fail(kp, "must be " .. wanted(rule, t) .. ", got " .. show_value(v))
          end
        elseif t == "string" then
          if rule.nonempty and got == "" then ck:fail(kp, "must not be empty") end
          if rule.pattern and not got:find(rule.pattern) then
            ck:fail(kp, (rule.pattern_text or ("must match " .. rule.pattern)) .. ", got " .. show_value(v))
          end
        elseif (t == "list" or t == "map") then
          if rule.nonempty and next(got) == nil then ck:fail(kp, "must not be empty") end
          for ik, item in pairs(got) do
            if rule.of and as_type(item, rule.of) == nil then
              ck:fail(push(kp, t == "list" and ik or tostring(ik)),
                "must be " .. TYPE_WORDS[rule.of] .. ", got " .. show_value(item))
            end
          end
        end
        break
      end
    end
    if got == nil then
      local words = {}
      for i, t in ipairs(types) do words[i] = wanted(rule, t) end
      ck:fail(kp, "must be " .. table.concat(words, " or ") .. ", got " .. show_value(v))
    end
    out[k] = got
  end
  return out
end

-- `state: git` or `state: {backend: git, remote: upstream, ...}` -> {backend, ...}
-- (no `state:`: local, so slipway never pushes to a remote nobody named)
local function check_state(ck, v)
  if v == nil then return {backend = "local"} end
  local keys = {"state"}
  local cfg
  if type(v) == "string" then cfg = {backend = v}
  else
    ck:map(v, keys)
    cfg = {}
    for k, x in pairs(v) do cfg[k] = x end
    keys = push(keys, "backend")
    ck:str(cfg.backend, keys, true)
  end
  local allowed = STATE_OPTIONS[cfg.backend]
  if not allowed then
    ck:fail(keys, "unknown state backend '" .. tostring(cfg.backend) .. "' (expected git, kubernetes or local)")
  end
  for k, x in pairs(cfg) do
    if k ~= "backend" then
      local want = allowed[k]
      if not want then
        local names = {"backend"}
        for n in pairs(allowed) do names[#names + 1] = n end
        table.sort(names)
        ck:fail({"state", tostring(k)}, "unknown key for the " .. cfg.backend ..
          " backend (expected one of: " .. table.concat(names, ", ") .. ")")
      end
      if type(x) ~= want or (want == "number" and x <= 0) or (want == "string" and x == "") then
        ck:fail({"state", k}, want == "number" and "expected a number > 0" or "expected a non-empty string")
      end
    end
  end
  return cfg
end

-- ---- components ---------------------------------------------------------------

local function check_source(ck, src, keys, comp)
  ck:map(src, keys)
  local kind
  for _, k in ipairs(SOURCE_KINDS) do
    if src[k] ~= nil then
      if kind then ck:fail(keys, "give one of helm, registry, git, lua (found " .. kind .. " and " .. k .. ")") end
      kind = k
    end
  end
  if not kind then ck:fail(keys, "needs one of helm, registry, git, lua") end
  for k in pairs(src) do
    if k ~= kind and not SOURCE_COMMON[k] then
      ck:fail(push(keys, tostring(k)), "unknown key (expected " .. kind .. ", devel, constraint, order, pattern, exclude)")
    end
  end
  local out = {kind = kind}
  out.devel = ck:bool(src.devel, push(keys, "devel")) or false
  local spec = ck:map(src[kind], push(keys, kind), SOURCE_FIELDS[kind])
  local sk = push(keys, kind)
  for k, v in pairs(spec) do out[k] = v end
  if kind == "helm" then
    out.repo = ck:str(spec.repo, push(sk, "repo"), true)
    out.chart = ck:str(spec.chart, push(sk, "chart"), true)
    if not out.repo:find("^https?://") and not out.repo:find("^oci://") then
      ck:fail(push(sk, "repo"), "expected an http(s):// or oci:// URL, got " .. out.repo)
    end
  elseif kind == "registry" then
    out.image = ck:str(spec.image, push(sk, "image"), true)
    -- a tag or digest after the host part ("127.0.0.1:5000/" has a port, not a tag)
    local after_host = out.image:gsub("^oci://", ""):gsub("^[^/]*[.:][^/]*/", "")
    if after_host:find("[:@]") then
      ck:fail(push(sk, "image"), "expected an image name without tag or digest, got " .. out.image)
    end
    if spec.page_size ~= nil and (math.type(spec.page_size) ~= "integer" or spec.page_size < 1) then
      ck:fail(push(sk, "page_size"), "expected a positive integer")
    end
  elseif kind == "git" then
    out.url = ck:str(spec.url, push(sk, "url"), true)
  elseif kind == "lua" then
    out.module = ck:str(spec.module, push(sk, "module"), true)
    out.fn = ck:str(spec.fn, push(sk, "fn")) or "versions"
  end
  for _, k in ipairs({"plain_http"}) do ck:bool(spec[k], push(sk, k)) end
  for _, k in ipairs({"username_env", "password_env", "token_env"}) do ck:str(spec[k], push(sk, k)) end
  if src.constraint ~= nil then
    out.constraint = ck:str(src.constraint, push(keys, "constraint"))
    local ok, err = pcall(version.constraint, out.constraint, comp.scheme)
    if not ok then ck:fail(push(keys, "constraint"), tostring(err):gsub("^version: ", "")) end
  end
  if src.order ~= nil then
    out.order = ck:str(src.order, push(keys, "order"))
    if out.order ~= "version" and out.order ~= "created" then
      ck:fail(push(keys, "order"), "expected version or created")
    end
    if out.order == "created" and kind ~= "helm" then
      ck:fail(push(keys, "order"), "created order needs a helm chart repository source")
    end
  end
  out.order = out.order or "version"
  for _, k in ipairs({"pattern", "exclude"}) do
    if src[k] ~= nil then
      out[k] = ck:str(src[k], push(keys, k))
      local ok, err = pcall(string.find, "", out[k])
      if not ok then ck:fail(push(keys, k), "bad Lua pattern: " .. tostring(err)) end
    end
  end
  return out
end

local function check_component(ck, name, c, keys, root)
  ck:map(c, keys, COMPONENT)
  if not name:find("^[%w][%w_.%-]*$") then ck:fail(keys, "component names use letters, digits, - _ .") end
  local comp = {name = name}
  local scheme = c.scheme
  -- a chart's versions are read the way helm reads them ("v0.4" is 0.4.0)
  if scheme == nil then scheme = (type(c.source) == "table" and c.source.helm ~= nil) and "helm" or "semver" end
  if type(scheme) ~= "string" and type(scheme) ~= "table" then
    ck:fail(push(keys, "scheme"), "expected semver, helm, pep440, gitdescribe or a list of them")
  end
  local ok, err = pcall(version.schemes_of, scheme)
  if not ok then ck:fail(push(keys, "scheme"), tostring(err):gsub("^version: ", "")) end
  comp.scheme = scheme
  comp.schemes = err
  if c.source == nil then ck:fail(keys, "source is required") end
  comp.source = check_source(ck, c.source, push(keys, "source"), comp)
  comp.repository = ck:str(c.repository, push(keys, "repository"))
  comp.description = ck:str(c.description, push(keys, "description"))
  comp.changelog = ck:str(c.changelog, push(keys, "changelog"))
  if comp.changelog and not comp.changelog:find("^https?://[^%s]+$") then
    ck:fail(push(keys, "changelog"), "expected an http(s):// URL, got " .. comp.changelog)
  end
  if c.labels ~= nil then
    ck:list(c.labels, push(keys, "labels"))
    comp.labels = {}
    for i, l in ipairs(c.labels) do
      comp.labels[i] = ck:str(l, push(push(keys, "labels"), i), true)
      if comp.labels[i] == "" or comp.labels[i]:find("[\r\n,]") then
        ck:fail(push(push(keys, "labels"), i), "a label is a non-empty name without commas or newlines")
      end
    end
  end
  if c.locations == nil then ck:fail(keys, "locations is required (where the version lives)") end
  ck:list(c.locations, push(keys, "locations"))
  if #c.locations == 0 then ck:fail(push(keys, "locations"), "needs at least one {file, path}") end
  comp.locations = {}
  local seen = {}
  for i, loc in ipairs(c.locations) do
    local lk = push(push(keys, "locations"), i)
    ck:map(loc, lk, {file = true, path = true, part = true, format = true})
    local file = ck:str(loc.file, push(lk, "file"), true)
    local path = ck:str(loc.path, push(lk, "path"), true)
    local part = ck:str(loc.part, push(lk, "part")) or "whole"
    if part ~= "whole" and part ~= "tag" then ck:fail(push(lk, "part"), "expected whole or tag") end
    if file:find("^/") or file:find("%.%.") then
      ck:fail(push(lk, "file"), "must be a path inside the repository, got " .. file)
    end
    -- a KEY=value file (cert-manager.env): the path is the variable's name
    local format = ck:str(loc.format, push(lk, "format")) or (M.is_env_file(file) and "env" or "yaml")
    if format ~= "yaml" and format ~= "env" then ck:fail(push(lk, "format"), "expected yaml or env") end
    local bad
    if format == "env" then
      if not path:find("^[%a_][%w_]*$") then bad = "expected a variable name (NAME in NAME=value)" end
    else
      bad = spath.check(path)
    end
    if bad then ck:fail(push(lk, "path"), bad) end
    -- the same place written twice ("a.b" and 'a["b"]') is one location
    local key = file .. "\0" .. spath.format(path)
    if seen[key] then ck:fail(lk, "the same file and path twice") end
    seen[key] = true
    comp.locations[i] = {file = fs.join(root, file), relfile = file, path = path, part = part,
                         format = format == "env" and "env" or nil}
  end
  return comp
end

--- manifest.is_env_file(path) -> whether path names a KEY=value file by
-- its name (`*.env`, `.env`): a location there reads and writes a variable.
function M.is_env_file(path)
  return path:find("%.env$") ~= nil
end

--- manifest.fail(m, keys, msg): raise code "manifest" for the key path keys
-- (a list: {"environments", "staging", "releases", 2, "chart"}, numbers
-- 1-based list positions; or a path string, "environments.staging.releases[1].chart",
-- indexes from 0) of the loaded manifest m, naming slipway.yaml and the line
-- and column of the deepest key that exists, as load's own errors do; the
-- message names the key path in the path syntax.
function M.fail(m, keys, msg)
  local ck = setmetatable({text = m.text, path = m.path, display = m.display or m.path or M.FILE},
                          Checker)
  local list = keys_of(keys)
  if not list then  -- not a path: named as it is, with no line
    error(core.error("manifest", string.format("%s: %s: %s", ck.display, keys, msg),
                     {file = m.path, key = keys}), 0)
  end
  ck:fail(list, msg)
end

--- manifest.line(m, keypath) -> line, column of keypath in the loaded
-- manifest m's file (the deepest key of it that exists), or nil. keypath is
-- a path in slipway's path syntax ("environments.staging.checks[2]", list
-- indexes from 0) or a list of keys (numbers: 1-based list positions), as
-- errors name lines.
function M.line(m, keypath)
  if type(m) ~= "table" or type(m.text) ~= "string" then return nil end
  local keys = keys_of(keypath)
  if not keys then return nil end
  return line_of(m.text, keys)
end

-- ---- build -----------------------------------------------------------------

local BUILD_KEYS = {name = true, run = true, production = true, outputs = true, dry_run = true,
                    description = true}

-- a command ([prog, arg, ...]) or a list of commands -> a list of commands
local function check_commands(ck, v, keys)
  ck:list(v, keys)
  if #v == 0 then ck:fail(keys, "expected a command ([prog, arg, ...]) or a list of commands") end
  local nested = type(v[1]) == "table"
  local list = nested and v or {v}
  local out = {}
  for i, argv in ipairs(list) do
    local k = nested and push(keys, i) or keys
    ck:list(argv, k)
    if #argv == 0 then ck:fail(k, "expected a command: a list of strings ([prog, arg, ...])") end
    local c = {}
    for j, a in ipairs(argv) do
      if type(a) == "number" then a = tostring(a) end
      c[j] = ck:str(a, push(k, j), true)
    end
    out[i] = c
  end
  return out
end

-- `build:` -- the step that makes build outputs (images, rewritten tags)
-- before a deploy: {name, run = {argv...}, production = {argv...}, outputs =
-- {{file (absolute), rel}}, dry_run, description} or nil
local function check_build(ck, b, root)
  if b == nil then return nil end
  local keys = {"build"}
  ck:map(b, keys, BUILD_KEYS)
  local out = {name = ck:str(b.name, push(keys, "name")) or "build", description = b.description}
  if b.run == nil then ck:fail(push(keys, "run"), "is required (the command that builds, before staging)") end
  out.run = check_commands(ck, b.run, push(keys, "run"))
  out.production = b.production ~= nil and check_commands(ck, b.production, push(keys, "production")) or out.run
  out.dry_run = ck:bool(b.dry_run, push(keys, "dry_run")) or false
  local outs = b.outputs
  if type(outs) == "string" then outs = {outs} end
  if outs == nil then ck:fail(push(keys, "outputs"), "is required (the files the build may change)") end
  ck:list(outs, push(keys, "outputs"))
  if #outs == 0 then ck:fail(push(keys, "outputs"), "expected at least one file") end
  out.outputs = {}
  local seen = {}
  for i, f in ipairs(outs) do
    f = ck:str(f, push(push(keys, "outputs"), i), true)
    f = f:gsub("^%./", "")
    if f:find("^/") or f:find("%.%.") or f:find("[*?%[%c]") then
      ck:fail(push(push(keys, "outputs"), i), "expected a file inside the repository (no globs or control characters), got " .. core.escape(f))
    end
    if seen[f] then ck:fail(push(push(keys, "outputs"), i), f .. " is listed twice") end
    seen[f] = true
    out.outputs[i] = {file = fs.join(root, f), rel = f}
  end
  return out
end

--- manifest.absolute(path) -> path made absolute from the current
-- directory (fs.cwd(), which the kernel knows; $PWD may be stale); an
-- absolute path is returned unchanged.
function M.absolute(path)
  if path:sub(1, 1) == "/" then return path end
  return fs.join(fs.cwd(), (path:gsub("^%./", "")))
end

--- manifest.parse(text [, path]) -> manifest table (see manifest.load).
-- path is the file the text came from (for messages and `root`).
function M.parse(text, path)
  path = path or M.FILE
  local abs = M.absolute(path)
  local root = fs.dirname(abs)
  local ck = setmetatable({text = text, path = abs, display = path}, Checker)
  local yaml = require "slipway.yaml"
  local ok, raw = pcall(yaml.load, text)
  if not ok then
    local msg = type(raw) == "table" and raw.message or tostring(raw)
    error(core.error("manifest", path .. ": not valid YAML: " .. msg,
                     {file = abs, line = type(raw) == "table" and raw.line or nil}), 0)
  end
  if raw == nil then raw = {} end
  if type(raw) ~= "table" then ck:fail({}, "expected a mapping at the top level") end
  ck:map(raw, {}, TOP)
  local m = {root = root, path = abs, raw = raw, text = text, display = path}
  sources[m] = {text = text, display = path}
  m.name = ck:str(raw.name, {"name"}) or root:match("([^/]+)$")
  local sd = ck:str(raw.state_dir, {"state_dir"}) or ".slipway"
  m.state_dir = sd:find("^/") and sd or root .. "/" .. sd
  m.state = check_state(ck, raw.state)
  m.components = {}
  m.order = {}
  if raw.components ~= nil then
    ck:map(raw.components, {"components"})
    for name, c in pairs(raw.components) do
      if type(name) ~= "string" then ck:fail({"components"}, "component names must be strings") end
      m.components[name] = check_component(ck, name, c, {"components", name}, root)
      m.order[#m.order + 1] = name
    end
    -- the order of the file (keys the index cannot name -- none in a file
    -- that loaded -- go first, by name)
    local at = key_lines(text, {"components"})
    table.sort(m.order, function(a, b)
      local la, lb = at[a] or 0, at[b] or 0
      if la ~= lb then return la < lb end
      return a < b
    end)
  end
  m.env_files = {}
  if raw.env_files ~= nil then
    if type(raw.env_files) == "string" then raw.env_files = {raw.env_files} end
    ck:list(raw.env_files, {"env_files"})
    for i, f in ipairs(raw.env_files) do
      f = ck:str(f, {"env_files", i}, true)
      if f:find("^/") or f:find("%.%.") then ck:fail({"env_files", i}, "must be a path inside the repository, got " .. f) end
      m.env_files[i] = {file = fs.join(root, f), relfile = f}
    end
  end
  m.build = check_build(ck, raw.build, root)
  if raw.templates ~= nil then ck:map(raw.templates, {"templates"}) end
  m.templates = raw.templates or {}
  m.environments = raw.environments
  m.stages = raw.stages
  m.notify = raw.notify
  return m
end

--- manifest.find([dir]) -> path of the slipway.yaml in dir or its nearest
-- parent (like git finds .git), or nil.
function M.find(dir)
  if dir == nil then
    if fs.isfile(M.FILE) then return M.FILE end
    local ok, here = pcall(fs.cwd)
    if not ok then return nil end
    dir = here
  end
  while true do
    local p = fs.join(dir, M.FILE)
    if fs.isfile(p) then return p end
    local parent = fs.dirname(dir)
    if parent == dir then return nil end
    dir = parent
  end
end

--- manifest.load([path]) -> {root=, path=, name=, state_dir=, state=, components=,
-- order=, environments=, stages=, notify=, build=, raw=}
-- path: a slipway.yaml, or a directory holding one; default: found from the
-- current directory upwards. components[name] = {name, scheme, schemes,
-- source = {kind = "helm"|"registry"|"git"|"lua", devel, constraint, order,
-- pattern, exclude, ...kind fields}, repository, locations = {{file (absolute),
-- relfile, path, part = "whole"|"tag"}}}; order lists the component names
-- in the order of the file; state = the `state:` setting as {backend =
-- "git"|"kubernetes"|"local", options...} (local when absent); build = the
-- `build:` step as {name, run = {argv, ...}, production = {argv, ...},
-- outputs = {{file (absolute), rel}}, dry_run, description} or nil. Raises code
-- "manifest" (or "ENOENT").
function M.load(path)
  if path == nil then
    path = M.find()
    if not path then
      core.raise("manifest", "no " .. M.FILE .. " in the current directory or its parents", {}, 2)
    end
  elseif fs.isdir(path) then
    path = fs.join(path, M.FILE)
  end
  local ok, text = pcall(fs.read, path)
  if not ok then
    core.raise("manifest", "cannot read " .. path .. ": " .. tostring(type(text) == "table" and text.message or text),
               {file = path}, 2)
  end
  return M.parse(text, path)
end

return M
