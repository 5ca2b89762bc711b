-- Fuzz slipway.version. Input: line 1 a scheme ("semver", "pep440",
-- "gitdescribe", a comma list, or anything), lines 2-4 three versions, the
-- rest a constraint. compare must be a total order on what parses:
-- reflexive, antisymmetric (compare(a,b) == -compare(b,a)) and transitive
-- on the triple; parse and constraint never fail with a Lua runtime error,
-- and a constraint's check answers a boolean for each version.
local version = require "slipway.version"
local F = require "fuzzlib"

local function scheme_of(s)
  if s:find(",") then
    local list = {}
    for w in s:gmatch("[^,]+") do list[#list + 1] = w end
    return list
  end
  return s ~= "" and s or nil
end

return function(data)
  local f = F.fields(data, 5)
  local scheme = scheme_of(f[1])
  local sok = F.try("version.schemes_of", version.schemes_of, scheme)
  if not sok then return end  -- an unknown scheme: a plain error
  local vs = {}
  for i = 2, 4 do
    local s = f[i] or ""
    local ok, v = F.try("version.parse", version.parse, s, scheme)
    if ok and v then vs[#vs + 1] = s end
  end
  local cmp = {}
  local function c(a, b)
    local key = a .. "\0" .. b
    if cmp[key] == nil then
      local ok, r = F.try("version.compare", version.compare, a, b, scheme)
      F.check(ok, "compare refused versions that parse: %q %q: %s", a, b, tostring(r))
      F.check(r == -1 or r == 0 or r == 1, "compare returned %s", tostring(r))
      cmp[key] = r
    end
    return cmp[key]
  end
  for _, a in ipairs(vs) do
    F.check(c(a, a) == 0, "compare(%q, itself) = %d", a, c(a, a))
    for _, b in ipairs(vs) do
      F.check(c(a, b) == -c(b, a), "not antisymmetric: compare(%q, %q) = %d, compare(%q, %q) = %d",
        a, b, c(a, b), b, a, c(b, a))
      for _, d in ipairs(vs) do
        if c(a, b) <= 0 and c(b, d) <= 0 then
          F.check(c(a, d) <= 0, "not transitive: %q <= %q <= %q but compare(%q, %q) = %d",
            a, b, d, a, d, c(a, d))
        end
      end
    end
  end
  if #vs > 1 then F.try("version.sort", version.sort, vs, {scheme = scheme}) end
  local text = f[5]
  if text then
    local ok, con = F.try("version.constraint", version.constraint, text, scheme)
    if ok then
      for _, s in ipairs(vs) do
        for _, devel in ipairs{false, true} do
          local cok, r = F.try("constraint:check", con.check, con, s, devel)
          F.check(cok and type(r) == "boolean", "constraint %q :check(%q) gave %s", text, s,
            tostring(r))
        end
      end
    end
  end
end
