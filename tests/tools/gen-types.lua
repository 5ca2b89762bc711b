-- gen-types.lua: print LuaLS (---@meta) stubs for the public functions of
-- slipway that docs/types/ does not declare yet, to paste into the right
-- file under docs/types/ and then give real types. Run from the repository:
--
--   SLIPWAY_SRC=$PWD SLIPWAY_PATH=tests/lua/lib build/slipway tests/tools/gen-types.lua [--all]
--
-- --all prints a stub for every public function, declared or not. Parameter
-- names come from the running functions (debug.getlocal), descriptions from
-- the `---` comment above the definition in scripts/slipway/. The public API
-- is what tests/lua/lib/apidoc.lua enumerates; tests/lua/docs_spec.lua fails
-- when a function is missing from docs/types or from its docs page.
local apidoc = require "apidoc"

local all = false
for _, a in ipairs({...}) do if a == "--all" then all = true end end

local src = os.getenv("SLIPWAY_SRC") or "."

local function source_of(owner)
  local m = owner:match("^slipway%.([%w_.]+)$")
  if m then
    local p = src .. "/scripts/slipway/" .. m:gsub("%.", "/") .. ".lua"
    if io.open(p) then return p end
    return src .. "/scripts/slipway/" .. m:gsub("%.", "/") .. "/init.lua"
  end
  for _, c in ipairs(apidoc.CLASSES) do
    if c.name == owner then return src .. "/" .. c.source end
  end
end

-- the comment block above `function X.name(` (a module's function) or
-- `function X:name(` (a method), any X
local function comment_for(path, name, method)
  local f = path and io.open(path)
  if not f then return nil end
  local block, found = {}, nil
  local sep = method and ":" or "%."
  for line in f:lines() do
    if line:match("^%s*function%s+[%w_]+" .. sep .. name .. "%s*%(") or
       (not method and line:match("^%s*M%." .. name .. "%s*=")) then
      found = block
      break
    end
    local c = line:match("^%s*%-%-%-?%s?(.*)$")
    if c and not line:match("^%s*%-%-%s*%-%-%-%-") then block[#block + 1] = c else block = {} end
  end
  f:close()
  return found
end

local function params_of(fn)
  local names, info = {}, debug.getinfo(fn, "u")
  for i = 1, info.nparams do
    local n = debug.getlocal(fn, i)
    if n ~= "self" then names[#names + 1] = n end
  end
  if info.isvararg then names[#names + 1] = "..." end
  return names, info.nparams
end

local api = apidoc.runtime()
local decl = apidoc.declared()

local function stub(owner, var, name, fn, method)
  local names = params_of(fn)
  local out = {}
  for _, l in ipairs(comment_for(source_of(owner), name, method) or {}) do
    out[#out + 1] = "--- " .. l
  end
  for _, n in ipairs(names) do
    out[#out + 1] = n == "..." and "---@param ... any" or ("---@param " .. n .. " any")
  end
  out[#out + 1] = "---@return any"
  out[#out + 1] = string.format("function %s%s%s(%s) end", var, method and ":" or ".", name,
    table.concat(names, ", "))
  return table.concat(out, "\n")
end

local function emit(owner, names, method)
  local t = api.tables[owner]
  local var = owner:gsub("^slipway%.", ""):gsub("%.", "_")
  local chunks = {}
  for _, n in ipairs(names) do
    if all or not (decl[owner] and decl[owner][n]) then
      chunks[#chunks + 1] = stub(owner, var, n, t[n], method)
    end
  end
  if #chunks > 0 then
    io.write("-- ", owner, "\n", table.concat(chunks, "\n\n"), "\n\n")
  end
end

for _, m in ipairs(apidoc.MODULES) do emit("slipway." .. m.name, api.modules[m.name], false) end
for _, c in ipairs(apidoc.CLASSES) do emit(c.name, api.classes[c.name], true) end
