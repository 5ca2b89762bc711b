-- The documentation cannot drift from the code (issue 8):
--
--  1. every public function of every public module, and every public method
--     of the objects they hand out, has an entry on its docs page and a
--     LuaLS declaration (with ---@param for each parameter) in docs/types/;
--  2. every function declared in docs/types/ exists in the running binary;
--  3. every command's `slipway COMMAND --help` exits 0 and is shown verbatim
--     in docs/reference.md, whose command list is the one `slipway --help`
--     prints; docs/reference.md is what tests/tools/gen-reference.lua makes.
--
-- The list of public modules and objects, and the rules for "public", are in
-- tests/lua/lib/apidoc.lua (MODULES, CLASSES). The entry rule: on the
-- module's page(s), `PREFIX.name` (PREFIX = the module's last name part, e.g.
-- `fs.read`, `kubernetes.lint`; `log.debug/info/warn/error` lists count for
-- each name), or `X:name` for a method (`t:wait()`, `rb:confirm`) -- also for
-- a module function whose first parameter is `self` (`n:start`).
local T = require "slipway.testing"
local fs = require "slipway.fs"
local apidoc = require "apidoc"

local SRC = os.getenv("SLIPWAY_SRC") or "."
local DOCS = SRC .. "/docs"

-- ---- the entry rule (checked on its own below, so it cannot pass vacuously) ----

local function pat_escape(s) return (s:gsub("%p", "%%%0")) end

--- The entries a page has: {["name"] = true} for `prefix.name` (and each
-- name of `prefix.a/b/c`), {[":name"] = true} for `x:name`.
local function entries(text, prefix)
  local set = {}
  for list in text:gmatch("%f[%w_]" .. pat_escape(prefix) .. "%.([%w_/]+)") do
    for n in list:gmatch("[%w_]+") do set[n] = true end
  end
  for n in text:gmatch("[%w_%)`]:([%a_][%w_]*)%f[^%w_]") do set[":" .. n] = true end
  return set
end

local function read_pages(list)
  local parts = {}
  for _, p in ipairs(list) do
    local path = DOCS .. "/" .. p
    if not fs.exists(path) then return nil, path end
    parts[#parts + 1] = fs.read(path)
  end
  return table.concat(parts, "\n")
end

local function takes_self(fn)
  return type(fn) == "function" and debug.getinfo(fn, "u").nparams > 0 and
    debug.getlocal(fn, 1) == "self"
end

local function report(what, missing)
  table.sort(missing)
  if #missing > 0 then
    error(string.format("%d %s:\n  %s", #missing, what, table.concat(missing, "\n  ")), 0)
  end
end

local api  -- the runtime API, once

local function runtime()
  api = api or apidoc.runtime()
  return api
end

T.test("the entry rule finds what a page documents and nothing else", function()
  local page = [[
| `fs.read(path)` | the file |
`log.debug/info/warn/error(fmt, ...)` and `t:wait()`; `rb:confirm`, `srv:close{grace = 1}`
http://127.0.0.1:8080/x at 23:20:03, {key: value}
]]
  local e = entries(page, "fs")
  T.truthy(e.read and e[":wait"] and e[":confirm"] and e[":close"])
  T.falsy(e.write)
  T.falsy(e[":8080"] or e[":20"] or e[":value"])
  local l = entries(page, "log")
  T.truthy(l.debug and l.info and l.warn and l.error)
  -- a prefix is a whole word: `xfs.read` is not an entry of fs
  T.falsy(entries("`xfs.stat(p)`", "fs").stat)
end)

T.test("every embedded slipway module is in the public list or excluded with a reason", function()
  local listed = {}
  for _, m in ipairs(apidoc.MODULES) do listed[m.name] = true end
  local unknown = {}
  for _, p in ipairs(require("slipway.core").embedded_list("slipway/")) do
    local name = p:match("^slipway/(.*)%.lua$")
    if name then
      name = name:gsub("/init$", ""):gsub("/", ".")
      local excluded = false
      for _, e in ipairs(apidoc.EXCLUDED) do
        if name:match(e[1]) then excluded = true end
      end
      if not listed[name] and not excluded then
        unknown[#unknown + 1] = "slipway." .. name .. " (add it to MODULES or EXCLUDED in tests/lua/lib/apidoc.lua)"
      end
    end
  end
  report("modules the docs check does not know", unknown)
end)

T.test("every public module function has an entry on its docs page", function()
  local a = runtime()
  local missing = {}
  for _, m in ipairs(apidoc.MODULES) do
    local text, absent = read_pages(m.docs)
    if not text then
      missing[#missing + 1] = string.format("slipway.%s: page %s does not exist", m.name, absent)
    else
      local prefix = m.prefix or m.name:match("([%w_]+)$")
      local e = entries(text, prefix)
      local mod = a.tables["slipway." .. m.name]
      for _, n in ipairs(a.modules[m.name]) do
        if not (e[n] or (takes_self(mod[n]) and e[":" .. n])) then
          missing[#missing + 1] = string.format("%s.%s (slipway.%s) in docs/%s", prefix, n, m.name,
            table.concat(m.docs, " or docs/"))
        end
      end
    end
  end
  report("public functions without an entry in their docs page", missing)
end)

T.test("every public method of the objects has an entry on its docs page", function()
  local a = runtime()
  local missing = {}
  for _, c in ipairs(apidoc.CLASSES) do
    local text, absent = read_pages(c.docs)
    if not text then
      missing[#missing + 1] = string.format("%s: page %s does not exist", c.name, absent)
    else
      local e = entries(text, "\0")
      for _, n in ipairs(a.classes[c.name]) do
        if not e[":" .. n] then
          missing[#missing + 1] = string.format("%s:%s in docs/%s", c.name, n, table.concat(c.docs, " or docs/"))
        end
      end
    end
  end
  report("public methods without an entry (`x:name`) in their docs page", missing)
end)

T.test("the type definitions load as Lua and bind every function to a ---@class", function()
  local decl, files = apidoc.declared()
  T.truthy(#files >= 20, "docs/types has the module files")
  for _, f in ipairs(files) do
    local env = setmetatable({}, {__index = function() return nil end})
    local chunk, err = loadfile(f, "t", env)
    T.truthy(chunk, err)
    chunk()   -- meta files only define tables and empty functions
  end
  T.truthy(decl["slipway.fs"] and decl["slipway.fs"].read, "fs.read is declared")
end)

-- The annotation tags the files use, and what each needs after it.
local TAGS = {
  meta = "^%-%-%-@meta%s*([%w_.]*)%s*$",
  class = "^%-%-%-@class%s+[%w_.]+%s*[:%w_.%s,]*$",
  field = "^%-%-%-@field%s+[%w_%[%]\"]+%??%s+%S",
  param = "^%-%-%-@param%s+[%w_.]+%??%s+%S",
  ["return"] = "^%-%-%-@return%s+%S",
  alias = "^%-%-%-@alias%s+[%w_.]+%s+%S",
  generic = "^%-%-%-@generic%s+%u",
  overload = "^%-%-%-@overload%s+fun%(",
}

T.test("the annotations are well formed, name defined types, and each module file returns its module", function()
  local defined, used, bad = {}, {}, {}
  local files = apidoc.type_files()
  for _, f in ipairs(files) do
    local text = fs.read(f)
    local n = 0
    for line in (text .. "\n"):gmatch("([^\n]*)\n") do
      n = n + 1
      local tag = line:match("^%-%-%-@(%w+)")
      if tag then
        local pat = TAGS[tag]
        if not pat then
          bad[#bad + 1] = string.format("%s:%d: unknown tag @%s", f, n, tag)
        elseif not line:match(pat) then
          bad[#bad + 1] = string.format("%s:%d: malformed @%s: %s", f, n, tag, line)
        end
        local def = line:match("^%-%-%-@class%s+([%w_.]+)") or line:match("^%-%-%-@alias%s+([%w_.]+)")
        if def then defined[def] = true end
        if tag ~= "meta" and tag ~= "class" and tag ~= "alias" or line:match("^%-%-%-@class%s+[%w_.]+%s*:") then
          local body
          if tag == "class" then body = line:match(":%s*(.*)$")
          elseif tag == "param" or tag == "field" then
            body = line:gsub("^%-%-%-@%w+%s+[%w_.%[%]\"]+%??", "", 1)
          else body = line:gsub("^%-%-%-@%w+", "", 1) end
          for ty in body:gmatch("slipway%.[%w_.]*[%w_]") do
            used[#used + 1] = {ty = ty, where = string.format("%s:%d", f, n)}
          end
        end
      end
    end
    -- slipway/NAME.lua is `---@meta slipway.NAME` and returns that module
    local rel = f:match("/docs/types/(.*)%.lua$")
    if rel and rel ~= "slipway" then
      local modname = rel:gsub("/", ".")
      local meta = text:match("^%-%-%-@meta%s+([%w_.]+)")
      if meta ~= modname then
        bad[#bad + 1] = string.format("%s: starts with ---@meta %s, expected ---@meta %s", f, tostring(meta), modname)
      end
      local var = text:match("\nreturn%s+([%w_]+)%s*$")
      local cls, pending = nil, nil
      for line in text:gmatch("[^\n]+") do
        pending = line:match("^%-%-%-@class%s+([%w_.]+)") or pending
        local v = line:match("^local%s+([%w_]+)%s*=")
        if v then
          if v == var then cls = pending end
          pending = nil
        end
      end
      if cls ~= modname then
        bad[#bad + 1] = string.format("%s: does not return its ---@class %s table", f, modname)
      end
    end
  end
  for _, u in ipairs(used) do
    if not defined[u.ty] then bad[#bad + 1] = u.where .. ": type " .. u.ty .. " is not defined" end
  end
  report("problems in docs/types", bad)
end)

T.test("every public function and method is declared in docs/types with its parameters", function()
  local a = runtime()
  local decl = apidoc.declared()
  local missing, params = {}, {}
  local function check(owner, names, method, t)
    for _, n in ipairs(names) do
      local d = decl[owner] and decl[owner][n]
      if not d then
        missing[#missing + 1] = owner .. (method and ":" or ".") .. n
      else
        for _, p in ipairs(d.params) do
          if p ~= "self" and not d.documented[p] then
            params[#params + 1] = string.format("%s:%d: %s%s%s: no ---@param %s", d.file, d.line,
              owner, method and ":" or ".", n, p)
          end
        end
      end
    end
  end
  for _, m in ipairs(apidoc.MODULES) do
    check("slipway." .. m.name, a.modules[m.name], false)
  end
  for _, c in ipairs(apidoc.CLASSES) do check(c.name, a.classes[c.name], true) end
  report("public functions not declared in docs/types (tests/tools/gen-types.lua prints stubs)", missing)
  report("parameters without ---@param", params)
end)

T.test("every function declared in docs/types exists in the runtime", function()
  local a = runtime()
  local decl = apidoc.declared()
  local known = {}
  for _, m in ipairs(apidoc.MODULES) do known["slipway." .. m.name] = true end
  for _, c in ipairs(apidoc.CLASSES) do known[c.name] = true end
  local bad = {}
  for owner, fns in pairs(decl) do
    local t = a.tables[owner]
    if not known[owner] or not t then
      bad[#bad + 1] = string.format("%s: declares functions, but apidoc.lua knows no module or object %s",
        select(2, next(fns)).file, owner)
    else
      for n, d in pairs(fns) do
        if type(t[n]) ~= "function" then
          bad[#bad + 1] = string.format("%s:%d: %s.%s does not exist in the runtime", d.file, d.line, owner, n)
        end
      end
    end
  end
  report("declarations without a runtime function", bad)
end)

T.test("the declarations of a class are checked too: a removed method would fail", function()
  -- a sandboxed copy of a type file with one extra function is caught by
  -- the same parser the test above uses
  local dir = fs.tempdir()
  fs.write(dir .. "/x.lua", "---@meta slipway.fs\n---@class slipway.fs\nlocal fs = {}\n" ..
    "---@param path string\nfunction fs.read(path) end\nfunction fs.no_such(x) end\nreturn fs\n")
  local decl = apidoc.declared(dir)
  T.truthy(decl["slipway.fs"].read.documented.path)
  T.truthy(decl["slipway.fs"].no_such)
  T.falsy(decl["slipway.fs"].no_such.documented.x)
  T.eq(type(require("slipway.fs").no_such), "nil")
end)

local top_help, commands

T.test("slipway COMMAND --help exits 0 for every command", function()
  top_help, commands = apidoc.commands()
  T.truthy(#commands >= 10)
  for _, c in ipairs(commands) do
    T.eq(c.code, 0, "slipway " .. c.name .. " --help: " .. c.stderr)
    T.match(c.usage, "^usage: slipway ", "slipway " .. c.name .. " --help starts with its usage line")
    T.truthy(c.summary, "slipway --help lists " .. c.name)
  end
end)

T.test("docs/reference.md shows every command's --help and lists what slipway --help lists", function()
  if not commands then top_help, commands = apidoc.commands() end
  local ref = fs.read(DOCS .. "/reference.md")
  local missing = {}
  for _, c in ipairs(commands) do
    local first = c.usage:match("^[^\n]*")
    if not ref:find(first, 1, true) then
      missing[#missing + 1] = string.format("slipway %s: first usage line %q", c.name, first)
    elseif not ref:find("```\n" .. c.usage .. "\n```", 1, true) then
      missing[#missing + 1] = string.format("slipway %s: the --help text differs", c.name)
    end
  end
  report("commands whose --help is not in docs/reference.md", missing)
  -- the commands reference.md has a section for are those slipway --help lists
  local in_ref, in_help = {}, {}
  for name in ref:gmatch("\n### `slipway ([%w-]+)`") do in_ref[#in_ref + 1] = name end
  for name in top_help:gmatch("\n  ([%w-]+)  ") do in_help[#in_help + 1] = name end
  table.sort(in_ref); table.sort(in_help)
  T.eq(table.concat(in_ref, " "), table.concat(in_help, " "))
end)

T.test("docs/reference.md is what tests/tools/gen-reference.lua makes", function()
  if not commands then top_help, commands = apidoc.commands() end
  local want = apidoc.reference(runtime(), top_help, commands)
  local got = fs.read(DOCS .. "/reference.md")
  if got ~= want then
    local d = require("slipway.playbook").diff(got, want, "docs/reference.md", "generated")
    error("docs/reference.md is out of date; run tests/tools/gen-reference.lua:\n" .. d, 0)
  end
end)

T.test("the guide names only commands and options that exist", function()
  if not commands then top_help, commands = apidoc.commands() end
  local guide = fs.read(DOCS .. "/guide.md")
  local usage = {}
  for _, c in ipairs(commands) do usage[c.name] = c.usage end
  local bad = {}
  -- every `slipway WORD ...` line in a shell block of the guide
  for block in guide:gmatch("```sh\n(.-)```") do
    for line in block:gmatch("[^\n]+") do
      local rest = line:match("^%$?%s*slipway%s+(.*)$")
      if rest then
        local words = {}
        for w in rest:gmatch("%S+") do words[#words + 1] = w end
        -- global options first
        local i = 1
        while words[i] and (words[i]:match("^%-%-log%-") or words[i] == "-v" or words[i] == "-q" or
                            words[i] == "--no-color") do i = i + 1 end
        local cmd = words[i]
        if cmd == "run" then
          -- `slipway run FILE ARGS`: the arguments are the playbook's own
          if not words[i + 1] then bad[#bad + 1] = string.format("`%s`: run needs a FILE", line) end
        elseif cmd and usage[cmd] then
          for j = i + 1, #words do
            local opt = words[j]:match("^(%-%-[%w-]+)")
            if opt and opt ~= "--help" and not usage[cmd]:find(opt, 1, true) then
              bad[#bad + 1] = string.format("`%s`: %s is not in `slipway %s --help`", line, opt, cmd)
            end
          end
        elseif cmd and not cmd:match("%.lua$") and cmd ~= "-e" and cmd ~= "--version" and
               cmd ~= "--help" and not cmd:find("/") then
          bad[#bad + 1] = string.format("`%s`: no command %s", line, cmd)
        end
      end
    end
  end
  report("guide lines naming what does not exist", bad)
end)

T.test("the Lua examples of the guide and the new pages compile", function()
  local bad = {}
  for _, page in ipairs{"guide.md", "demo.md", "gha.md", "notify.md", "testing.md"} do
    local text = fs.read(DOCS .. "/" .. page)
    local n = 0
    for block in text:gmatch("```lua\n(.-)```") do
      n = n + 1
      local fn, err = load(block, "=" .. page .. " block " .. n, "t")
      if not fn then bad[#bad + 1] = err end
    end
  end
  report("Lua examples that do not compile", bad)
end)

T.test("the links of the guide, the reference and the pages made for issue 8 resolve", function()
  local bad = {}
  for _, page in ipairs{"guide.md", "reference.md", "demo.md", "gha.md", "notify.md", "testing.md"} do
    local text = fs.read(DOCS .. "/" .. page)
    for target in text:gmatch("%]%(([^)#%s]+)[^)]*%)") do
      if not target:match("^%a+://") and not fs.exists(DOCS .. "/" .. target) then
        bad[#bad + 1] = string.format("docs/%s: link to %s", page, target)
      end
    end
  end
  report("broken links", bad)
end)

T.run()
