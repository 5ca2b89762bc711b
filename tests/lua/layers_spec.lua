-- The layers of docs/ARCHITECTURE.md hold: no module of scripts/ (as
-- compiled into the binary) requires one from a layer above its own, every
-- module has a layer, and no `pcall(require` hides a load error.
local T = require "slipway.testing"
local core = require "slipway.core"
local fs = require "slipway.fs"

local SRC = os.getenv("SLIPWAY_SRC") or "."

-- {{layer, pattern}, ...} from the table in docs/ARCHITECTURE.md
local function layer_table(text)
  local rules = {}
  for n, mods in text:gmatch("\n| (%d+) | [^|]+ | ([^\n]+) |") do
    for name in mods:gmatch("`([^`]+)`") do
      local pat = "^" .. name:gsub("%.", "%%."):gsub("%*", ".*") .. "$"
      rules[#rules + 1] = {tonumber(n), pat, name}
    end
  end
  return rules
end

local function layer_of(rules, name)
  for _, r in ipairs(rules) do if name:match(r[2]) then return r[1] end end
end

-- the code of a Lua file without its comments and long strings (usage texts)
local function code_of(text)
  text = text:gsub("%-%-%[(=*)%[.-%]%1%]", ""):gsub("%[(=*)%[.-%]%1%]", '""')
  local lines = {}
  for line in (text .. "\n"):gmatch("([^\n]*)\n") do
    lines[#lines + 1] = line:match("^%s*%-%-") and "" or line
  end
  return lines
end

-- the modules a file requires by name (slipway.x -> "x"), with line numbers
local function requires(lines)
  local out = {}
  for i, line in ipairs(lines) do
    for name in (" " .. line):gmatch("[^%w_.:]require%s*%(?%s*[\"']([^\"']+)[\"']") do
      out[#out + 1] = {name = name, line = i}
    end
  end
  return out
end

-- every Lua file of scripts/: {module, path, lines}
local function sources()
  local out = {}
  for _, p in ipairs(core.embedded_list("")) do
    local m = p:match("^(.*)%.lua$")
    if m then
      m = m:gsub("/init$", ""):gsub("^slipway/", ""):gsub("/", ".")
      out[#out + 1] = {module = m, path = p, lines = code_of(core.embedded(p))}
    end
  end
  T.truthy(#out > 50, "the scripts are embedded")
  return out
end

local RULES = layer_table(fs.read(SRC .. "/docs/ARCHITECTURE.md"))

T.test("the layer table is read from docs/ARCHITECTURE.md", function()
  T.truthy(#RULES > 20)
  T.eq(layer_of(RULES, "core"), 0)
  T.eq(layer_of(RULES, "fs.core"), 0)
  T.eq(layer_of(RULES, "engine.runner"), 6)
  T.eq(layer_of(RULES, "cmd.deploy"), 9)
  T.eq(layer_of(RULES, "no.such.module"), nil)
  -- and the checker sees what it must: a require in code, not in a comment
  local reqs = requires(code_of('local a = require "slipway.x"\n-- require "slipway.y"\n' ..
    'local b = require("slipway.z").f\nlocal u = [[require "slipway.w"]]\nenv.require "X"\n'))
  T.eq(#reqs, 2)
  T.eq(reqs[1].name, "slipway.x"); T.eq(reqs[2].name, "slipway.z")
end)

T.test("no module requires one from a layer above it; every module has a layer", function()
  local bad = {}
  for _, src in ipairs(sources()) do
    local mine = layer_of(RULES, src.module)
    if not mine then
      bad[#bad + 1] = src.path .. ": module " .. src.module .. " has no layer in docs/ARCHITECTURE.md"
    else
      for _, r in ipairs(requires(src.lines)) do
        local target = r.name:match("^slipway%.(.+)$")
        local theirs = target and layer_of(RULES, target)
        if target and not theirs then
          bad[#bad + 1] = string.format("%s:%d: requires %s, which has no layer", src.path, r.line, r.name)
        elseif theirs and theirs > mine then
          bad[#bad + 1] = string.format("%s:%d: %s (layer %d) requires %s (layer %d)", src.path,
            r.line, src.module, mine, r.name, theirs)
        end
      end
    end
  end
  table.sort(bad)
  T.eq(bad, {})
end)

T.test("no pcall(require, ...): a module compiled in is required, an optional one found", function()
  local bad = {}
  for _, src in ipairs(sources()) do
    for i, line in ipairs(src.lines) do
      if line:find("pcall%s*%(%s*require%s*[,%)]") then
        bad[#bad + 1] = string.format("%s:%d: %s", src.path, i, line:match("^%s*(.-)%s*$"))
      end
    end
  end
  T.eq(bad, {})
end)

T.run()
