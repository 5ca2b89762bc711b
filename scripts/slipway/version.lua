--- slipway.version: reading, ordering and picking version strings.
--
--   local version = require "slipway.version"
--   version.compare("1.0.0-0.dev.git.9.habc", "1.0.0-0.dev.git.12.hdef")  --> -1
--   version.latest(tags, {scheme = "pep440", devel = true})              --> "2026.4.1.dev44-g97bb4e45a"
--
-- Schemes (docs/version.md):
--   "helm"        what Helm reads in a chart index (Masterminds/semver v3):
--                 semver with MINOR/PATCH optional ("v0.4" is 0.4.0) and
--                 leading zeros allowed; ordered and constrained as semver.
--                 The default for a component with a helm source.
--   "semver"      Semantic Versioning 2.0.0 exactly (an optional leading "v" is
--                 allowed and kept); pre-release identifiers compare numerically
--                 when both are digits, else as ASCII text; build metadata is
--                 ignored for order. Constraints in Helm's syntax
--                 (Masterminds/semver v3): ">=1.0.0-0 <2", "^1.2", "~1.2.3",
--                 "1.x", "1.2 - 1.4", "a || b".
--   "pep440"      PEP 440 (epoch, release, a/b/rc, post, dev, +local), with the
--                 spellings PEP 440 normalises; the local part may be written
--                 with "-" as container tags must ("2026.4.1.dev44-g97bb4e45a").
--   "gitdescribe" `git describe` output: TAG-N-gSHA or TAG-N.gSHA, N commits
--                 after TAG (read as PEP 440); the bare TAG is distance 0.
--                 "2024.07.0-9.gabc" < "2024.07.0-12.gdef" < "2024.07.1".
-- "pep440" and "gitdescribe" order against each other (one family), so a
-- component whose tags changed format declares {"pep440", "gitdescribe"}.
-- A string the declared schemes cannot read is never sorted as text: compare
-- raises (code "version"), latest/sort skip it and log it at debug level.
-- Bare git shas (7 to 40 hex digits, no dot) are never read as versions.
local codec = require "slipway.codec"
local core = require "slipway.core"
local M = {}

local log = require "slipway.log"
local function debug_log(fmt, ...) log.debug(fmt, ...) end

-- digit strings compared as numbers of any size
local function numcmp(a, b)
  a = a:gsub("^0+(%d)", "%1"); b = b:gsub("^0+(%d)", "%1")
  if #a ~= #b then return #a < #b and -1 or 1 end
  if a == b then return 0 end
  return a < b and -1 or 1
end
M.numcmp = numcmp

local function strcmp(a, b)
  if a == b then return 0 end
  return a < b and -1 or 1
end

local function split(s, sep)
  local out = {}
  for part in (s .. sep):gmatch("(.-)%" .. sep) do out[#out + 1] = part end
  return out
end

local function is_sha(s)
  return #s >= 7 and #s <= 40 and s:find("^%x+$") ~= nil
end

-- ---- semver ---------------------------------------------------------------

local function semver_ident_ok(id, numeric_rule)
  if id == "" or not id:find("^[0-9A-Za-z-]+$") then return false end
  if numeric_rule and id:find("^%d+$") and #id > 1 and id:sub(1, 1) == "0" then return false end
  return true
end

local function parse_semver(s)
  local body = s:match("^v(.*)$") or s
  local maj, min, pat, rest = body:match("^(%d+)%.(%d+)%.(%d+)(.*)$")
  if not maj then return nil, "not MAJOR.MINOR.PATCH" end
  for _, n in ipairs({maj, min, pat}) do
    if #n > 1 and n:sub(1, 1) == "0" then return nil, "leading zero" end
  end
  local pre, build
  if rest ~= "" then
    local p, b = rest:match("^%-([^+]*)(.*)$")
    if p then pre = p; rest = b end
    if rest ~= "" then
      build = rest:match("^%+(.*)$")
      if not build then return nil, "unexpected " .. rest end
    end
  end
  local ids
  if pre then
    ids = split(pre, ".")
    for _, id in ipairs(ids) do
      if not semver_ident_ok(id, true) then return nil, "bad pre-release identifier '" .. id .. "'" end
    end
  end
  if build then
    for _, id in ipairs(split(build, ".")) do
      if not semver_ident_ok(id, false) then return nil, "bad build identifier '" .. id .. "'" end
    end
  end
  return {scheme = "semver", family = "semver", text = s, major = maj, minor = min, patch = pat,
          pre = ids, prerelease = ids ~= nil, build = build}
end

-- Helm's reading (Masterminds/semver v3 NewVersion, what `helm` runs on a
-- chart index): "v" optional, MINOR and PATCH optional ("v0.4" is 0.4.0),
-- leading zeros allowed in the numbers; pre-release and build identifiers
-- as in SemVer (a numeric pre-release identifier has no leading zero).
local function parse_helm(s)
  local maj, min, pat, rest = s:match("^v?(%d+)%.?(%d*)%.?(%d*)(.*)$")
  if not maj then return nil, "not [v]MAJOR[.MINOR[.PATCH]]" end
  -- "1..2" and "1.2." are not versions; neither is "1.2.3.4"
  local nums = s:match("^v?([%d.]*)")
  if nums:find("%.%.") or nums:find("%.$") or select(2, nums:gsub("%.", "")) > 2 then
    return nil, "not [v]MAJOR[.MINOR[.PATCH]]"
  end
  if min == "" then min = "0" end
  if pat == "" then pat = "0" end
  local v, why = parse_semver("0.0.0" .. rest)
  if not v then return nil, why end
  v.scheme, v.text = "helm", s
  v.major, v.minor, v.patch = maj:gsub("^0+(%d)", "%1"), min:gsub("^0+(%d)", "%1"), pat:gsub("^0+(%d)", "%1")
  return v
end

-- Compare two lists of dot-separated identifiers: numbers numerically, text
-- as text, a shorter list first when it is a prefix of the other. SemVer puts
-- numeric identifiers before text (numeric_first = -1); PEP 440's local
-- versions put them after (numeric_first = 1).
local function idents_cmp(a, b, numeric_first)
  for i = 1, math.max(#a, #b) do
    local x, y = a[i], b[i]
    if x == nil then return -1 end
    if y == nil then return 1 end
    local xn, yn = x:find("^%d+$") ~= nil, y:find("^%d+$") ~= nil
    local c
    if xn and yn then c = numcmp(x, y)
    elseif xn then c = numeric_first
    elseif yn then c = -numeric_first
    else c = strcmp(x, y) end
    if c ~= 0 then return c end
  end
  return 0
end

local function semver_cmp_pre(a, b)
  if a == nil and b == nil then return 0 end
  if a == nil then return 1 end      -- a release is after its pre-releases
  if b == nil then return -1 end
  return idents_cmp(a, b, -1)        -- numeric identifiers sort before text
end

local function semver_cmp(a, b)
  local c = numcmp(a.major, b.major)
  if c == 0 then c = numcmp(a.minor, b.minor) end
  if c == 0 then c = numcmp(a.patch, b.patch) end
  if c == 0 then c = semver_cmp_pre(a.pre, b.pre) end
  return c
end

-- ---- PEP 440 --------------------------------------------------------------

local pre_words = {alpha = "a", a = "a", beta = "b", b = "b", c = "rc", rc = "rc", pre = "rc", preview = "rc"}
local pre_order = {"preview", "alpha", "beta", "pre", "rc", "a", "b", "c"}  -- longest first where prefixes clash
local pre_rank = {a = 1, b = 2, rc = 3}
local post_order = {"post", "rev", "r"}

-- parse the public part of a PEP 440 version at the start of s (lower case);
-- returns the table and the unread rest
local function pep440_public(s)
  local v = {epoch = "0"}
  local i = 1
  if s:sub(1, 1) == "v" then i = 2 end
  local e, j = s:match("^(%d+)!()", i)
  if e then v.epoch = e; i = j end
  local rel, j2 = s:match("^(%d+[%.%d]*)()", i)
  if not rel then return nil, "no release number" end
  -- release: digits separated by single dots; a trailing dot belongs to the next part
  local parts = {}
  local k = 1
  while true do
    local d, nk = rel:match("^(%d+)()", k)
    if not d then break end
    parts[#parts + 1] = d
    k = nk
    if rel:sub(k, k) == "." and rel:sub(k + 1, k + 1):find("%d") then k = k + 1 else break end
  end
  i = i + k - 1
  v.release = parts
  -- pre-release
  do
    local sep = s:match("^[-_.]?", i)
    local at = i + #sep
    for _, w in ipairs(pre_order) do
      if s:sub(at, at + #w - 1) == w then
        local nxt = s:sub(at + #w, at + #w)
        -- "pre"/"preview" must not eat "post"; a word must not run into letters
        if not nxt:find("%a") then
          local j3 = at + #w
          local sep2 = s:match("^[-_.]?", j3)
          local n = s:match("^%d+", j3 + #sep2)
          if n then j3 = j3 + #sep2 + #n else n = "0" end
          v.pre = {pre_words[w], n}
          i = j3
          break
        end
      end
    end
  end
  -- post-release: "-N" or [-_.]?(post|rev|r)[-_.]?N?
  do
    local n = s:match("^%-(%d+)", i)
    if n then
      v.post = n; i = i + 1 + #n
    else
      local sep = s:match("^[-_.]?", i)
      local at = i + #sep
      for _, w in ipairs(post_order) do
        if s:sub(at, at + #w - 1) == w and not s:sub(at + #w, at + #w):find("%a") then
          local j3 = at + #w
          local sep2 = s:match("^[-_.]?", j3)
          local m = s:match("^%d+", j3 + #sep2)
          if m then j3 = j3 + #sep2 + #m else m = "0" end
          v.post = m; i = j3
          break
        end
      end
    end
  end
  -- dev release
  do
    local sep = s:match("^[-_.]?", i)
    local at = i + #sep
    if s:sub(at, at + 2) == "dev" and not s:sub(at + 3, at + 3):find("%a") then
      local j3 = at + 3
      local sep2 = s:match("^[-_.]?", j3)
      local m = s:match("^%d+", j3 + #sep2)
      if m then j3 = j3 + #sep2 + #m else m = "0" end
      v.dev = m; i = j3
    end
  end
  return v, s:sub(i)
end

local function parse_pep440(s)
  local low = s:lower()
  if is_sha(low) and not low:find("%.") then return nil, "a bare git sha" end
  if low:find("%-%d+[-.]g%x+$") then return nil, "git describe output (declare gitdescribe)" end
  local v, rest = pep440_public(low)
  if not v then return nil, rest end
  if rest ~= "" then
    -- "+local", or "-local" as written in container tags (no "+" allowed there)
    local loc = rest:match("^[+-]([a-z0-9]+[a-z0-9._-]*)$")
    if not loc or loc:find("[._-]$") or loc:find("[._-][._-]") then
      return nil, "unexpected '" .. rest .. "'"
    end
    v.local_ = split(loc:gsub("[_-]", "."), ".")
  end
  v.scheme = "pep440"; v.family = "pep440"; v.text = s; v.distance = "0"
  v.prerelease = v.pre ~= nil or v.dev ~= nil
  return v
end

local function parse_gitdescribe(s)
  local low = s:lower()
  local base, n, sha = low:match("^(.-)%-(%d+)[-.]g(%x+)$")
  if not base then
    if is_sha(low) and not low:find("%.") then return nil, "a bare git sha" end
    base, n = low, "0"
  end
  if base == "" then return nil, "no tag before the distance" end
  local v, rest = pep440_public(base)
  if not v then return nil, rest end
  if rest ~= "" then return nil, "unexpected '" .. rest .. "'" end
  v.scheme = "gitdescribe"; v.family = "pep440"; v.text = s; v.distance = n; v.sha = sha
  v.prerelease = v.pre ~= nil or v.dev ~= nil or n ~= "0"
  return v
end

local NEG, POS = -1, 1   -- -infinity / +infinity markers in sort keys

local function release_cmp(a, b)
  local na, nb = #a, #b
  while na > 1 and a[na]:find("^0+$") do na = na - 1 end   -- trailing zeros do not count
  while nb > 1 and b[nb]:find("^0+$") do nb = nb - 1 end
  for i = 1, math.max(na, nb) do
    local x, y = a[i], b[i]
    if i > na then x = nil end
    if i > nb then y = nil end
    if x == nil then return -1 end
    if y == nil then return 1 end
    local c = numcmp(x, y)
    if c ~= 0 then return c end
  end
  return 0
end

-- compare two optional values where nil means `nilrank` (NEG or POS infinity)
local function optcmp(x, y, nilx, nily, cmp)
  if x == nil and y == nil then
    return nilx == nily and 0 or (nilx < nily and -1 or 1)
  end
  if x == nil then return nilx end
  if y == nil then return -nily end
  return cmp(x, y)
end

local function pre_key(v)
  if v.pre == nil and v.post == nil and v.dev ~= nil then return nil, NEG end
  if v.pre == nil then return nil, POS end
  return v.pre, 0
end

local function local_cmp(a, b)
  return idents_cmp(a, b, 1)  -- numeric segments sort after alphanumeric ones
end

local function pep440_cmp(a, b)
  local c = numcmp(a.epoch, b.epoch)
  if c ~= 0 then return c end
  c = release_cmp(a.release, b.release)
  if c ~= 0 then return c end
  local pa, ra = pre_key(a)
  local pb, rb = pre_key(b)
  c = optcmp(pa, pb, ra, rb, function(x, y)
    local r = pre_rank[x[1]] - pre_rank[y[1]]
    if r ~= 0 then return r < 0 and -1 or 1 end
    return numcmp(x[2], y[2])
  end)
  if c ~= 0 then return c end
  c = optcmp(a.post, b.post, NEG, NEG, numcmp)
  if c ~= 0 then return c end
  c = optcmp(a.dev, b.dev, POS, POS, numcmp)
  if c ~= 0 then return c end
  c = numcmp(a.distance, b.distance)
  if c ~= 0 then return c end
  return optcmp(a.local_, b.local_, NEG, NEG, local_cmp)
end

-- ---- schemes ----------------------------------------------------------------

local parsers = {semver = parse_semver, helm = parse_helm, pep440 = parse_pep440,
                 gitdescribe = parse_gitdescribe}
local families = {semver = "semver", helm = "semver", pep440 = "pep440", gitdescribe = "pep440"}
M.schemes = {"semver", "helm", "pep440", "gitdescribe"}

--- Normalise a scheme argument (nil, a name or a list of names) to a list;
-- raises a plain error for an unknown name or for schemes that cannot be
-- ordered against each other (semver with pep440/gitdescribe).
function M.schemes_of(scheme)
  if scheme == nil then return {"semver"} end
  local list = type(scheme) == "table" and scheme or {scheme}
  if #list == 0 then error("version: empty scheme list", 3) end
  local fam
  for _, s in ipairs(list) do
    if not parsers[s] then
      error("version: unknown scheme '" .. tostring(s) .. "' (semver, helm, pep440, gitdescribe)", 3)
    end
    if fam and families[s] ~= fam then
      error("version: schemes " .. table.concat(list, ", ") .. " cannot be ordered against each other", 3)
    end
    fam = families[s]
  end
  return list
end

--- version.parse(s [, scheme]) -> parsed table, or nil and the reason.
-- The table has `text` (s unchanged), `scheme` (the first declared scheme
-- that reads s), `prerelease` (true for pre-releases, dev builds and
-- describe distances > 0) and scheme-specific fields.
function M.parse(s, scheme)
  local list = M.schemes_of(scheme)
  if type(s) ~= "string" then return nil, "not a string" end
  local why = {}
  for _, name in ipairs(list) do
    local v, err = parsers[name](s)
    if v then return v end
    why[#why + 1] = name .. ": " .. err
  end
  return nil, table.concat(why, "; ")
end

local function cmp_parsed(a, b)
  if a.family == "semver" then return semver_cmp(a, b) end
  return pep440_cmp(a, b)
end

local function must_parse(s, list)
  local v, why = M.parse(s, list)
  if not v then
    core.raise("version", string.format("version %q cannot be read as %s (%s)",
      tostring(s), table.concat(list, " or "), why), {version = s}, 3)
  end
  return v
end

--- version.compare(a, b [, scheme]) -> -1, 0 or 1.
-- scheme: "semver" (default), "pep440", "gitdescribe" or a list of them.
-- Raises code "version" when a or b cannot be read by the scheme.
function M.compare(a, b, scheme)
  local list = M.schemes_of(scheme)
  local c = cmp_parsed(must_parse(a, list), must_parse(b, list))
  return c < 0 and -1 or (c > 0 and 1 or 0)
end

--- version.sha(s) -> the git commit sha a version string carries, or nil:
-- chartpress "…git.3983.h383374de", "0.2.0-n471.hf76e37e", setuptools-scm
-- "…dev44+g97bb4e45a" / "…dev44-g97bb4e45a", git describe "…-9-gabc1234".
function M.sha(s)
  if type(s) ~= "string" then return nil end
  return s:match("[.+-][gh](%x%x%x%x%x%x%x+)$")
end

-- ---- constraints (Helm / Masterminds semver v3 syntax) ----------------------

local function is_x(s) return s == "x" or s == "X" or s == "*" end

local ops = {["="] = true, ["!="] = true, [">"] = true, ["<"] = true, [">="] = true, ["=>"] = true,
             ["<="] = true, ["=<"] = true, ["~"] = true, ["~>"] = true, ["^"] = true}

-- one comparison: operator + a possibly partial, possibly wildcard version
local function parse_comparison(op, ver, whole)
  local body = ver:match("^v(.*)$") or ver
  local a, b, c, tail = body:match("^([%dxX*]+)(%.?[%dxX*]*)(%.?[%dxX*]*)(.*)$")
  if not a or (b ~= "" and b:sub(1, 1) ~= ".") or (c ~= "" and c:sub(1, 1) ~= ".") then
    error("bad version '" .. ver .. "' in constraint '" .. whole .. "'", 0)
  end
  b = b:sub(2); c = c:sub(2)
  local pre = tail:match("^%-([^+]*)") or nil
  if tail ~= "" and not tail:find("^%-[0-9A-Za-z.-]+") and not tail:find("^%+") then
    error("bad version '" .. ver .. "' in constraint '" .. whole .. "'", 0)
  end
  local con = {op = op, dirty = false, minor_dirty = false, patch_dirty = false}
  local maj, min, pat
  if is_x(a) then
    maj, min, pat = "0", "0", "0"; con.dirty = true
  elseif b == "" or is_x(b) then
    maj, min, pat = a, "0", "0"; con.minor_dirty = true; con.dirty = true
  elseif c == "" or is_x(c) then
    maj, min, pat = a, b, "0"; con.patch_dirty = true; con.dirty = true
  else
    maj, min, pat = a, b, c
  end
  for _, n in ipairs({maj, min, pat}) do
    if not n:find("^%d+$") then error("bad version '" .. ver .. "' in constraint '" .. whole .. "'", 0) end
  end
  local ids = pre and split(pre, ".") or nil
  con.v = {major = maj, minor = min, patch = pat, pre = ids}
  return con
end

-- the checks, following Masterminds/semver v3 (what Helm runs)
local function lt(v, c) return semver_cmp(v, c.v) < 0 end
local check = {}
local function tilde(v, c)
  if lt(v, c) then return false end
  local cv = c.v
  if cv.major == "0" and cv.minor == "0" and cv.patch == "0" and not c.minor_dirty and not c.patch_dirty then
    return true
  end
  if numcmp(v.major, cv.major) ~= 0 then return false end
  if numcmp(v.minor, cv.minor) ~= 0 and not c.minor_dirty then return false end
  return true
end
check["~"] = tilde
check["~>"] = tilde
check["="] = function(v, c)
  if c.dirty then return tilde(v, c) end
  return semver_cmp(v, c.v) == 0
end
check["!="] = function(v, c)
  local cv = c.v
  if c.dirty then
    if numcmp(cv.major, v.major) ~= 0 then return true end
    if numcmp(cv.minor, v.minor) ~= 0 and not c.minor_dirty then return true
    elseif c.minor_dirty then return false
    elseif numcmp(cv.patch, v.patch) ~= 0 and not c.patch_dirty then return true
    elseif c.patch_dirty then
      if v.pre or cv.pre then return semver_cmp_pre(v.pre, cv.pre) ~= 0 end
      return false
    end
  end
  return semver_cmp(v, cv) ~= 0
end
check[">"] = function(v, c)
  local cv = c.v
  if not c.dirty then return semver_cmp(v, cv) > 0 end
  local m = numcmp(v.major, cv.major)
  if m > 0 then return true elseif m < 0 then return false
  elseif c.minor_dirty then return false
  elseif c.patch_dirty then return numcmp(v.minor, cv.minor) > 0 end
  return semver_cmp(v, cv) > 0
end
check["<"] = function(v, c) return semver_cmp(v, c.v) < 0 end
check[">="] = function(v, c) return semver_cmp(v, c.v) >= 0 end
check["=>"] = check[">="]
check["<="] = function(v, c)
  local cv = c.v
  if not c.dirty then return semver_cmp(v, cv) <= 0 end
  local m = numcmp(v.major, cv.major)
  if m > 0 then return false end
  if m == 0 and numcmp(v.minor, cv.minor) > 0 and not c.minor_dirty then return false end
  return true
end
check["=<"] = check["<="]
check["^"] = function(v, c)
  local cv = c.v
  if lt(v, c) then return false end
  if cv.major ~= "0" or c.minor_dirty then return numcmp(v.major, cv.major) == 0 end
  if v.major ~= "0" then return false end
  if cv.minor ~= "0" or c.patch_dirty then return numcmp(v.minor, cv.minor) == 0 end
  if v.minor ~= "0" then return false end
  return numcmp(cv.patch, v.patch) == 0
end

local VER = "v?[%dxX*]+[%.%dxX*]*[-+]?[0-9A-Za-z.+-]*"

local function parse_semver_constraint(s)
  local groups = {}
  for _, g in ipairs(split(s, "|")) do
    if g:find("^%s*$") then goto continue end    -- "a || b" splits into a, "", b
    do
      -- hyphen ranges "1.2 - 1.4.5" become ">= 1.2, <= 1.4.5"
      g = g:gsub("(" .. VER .. ")%s+%-%s+(" .. VER .. ")", ">=%1 <=%2")
      local list = {}
      local pos = 1
      while true do
        local ws, op, spc, ver, nxt = g:match("^([%s,]*)([=!<>~^]*)(%s*)([^%s,]*)()", pos)
        if ver == "" and op == "" then
          if g:sub(pos):find("^[%s,]*$") then break end
          error("improper constraint '" .. s .. "'", 0)
        end
        if ver == "" then error("improper constraint '" .. s .. "' (operator without a version)", 0) end
        if op ~= "" and not ops[op] then error("unknown operator '" .. op .. "' in constraint '" .. s .. "'", 0) end
        if #list > 0 and ws == "" then error("improper constraint '" .. s .. "'", 0) end
        local _ = spc
        list[#list + 1] = parse_comparison(op == "" and "=" or op, ver, s)
        pos = nxt
      end
      if #list == 0 then error("empty constraint '" .. s .. "'", 0) end
      groups[#groups + 1] = list
    end
    ::continue::
  end
  if s:find("|") and not s:find("||") then error("improper constraint '" .. s .. "' (use ||)", 0) end
  if #groups == 0 then
    groups[1] = {parse_comparison("=", "*", s)}   -- "" means any version, like Helm
  end
  return groups
end

-- for pep440/gitdescribe: comparisons joined by spaces or commas, "||" for or;
-- operators < <= > >= == != (and = as ==), ordered by the scheme itself
local function parse_generic_constraint(s, list)
  local groups = {}
  for _, g in ipairs(split(s, "|")) do
    if not g:find("^%s*$") then
      local cs = {}
      for op, ver in g:gsub("([=!<>~]+)%s+", "%1"):gmatch("([=!<>~]*)([^%s,=!<>~][^%s,]*)") do
        if op == "" or op == "=" then op = "==" end
        if not ({["<"] = 1, ["<="] = 1, [">"] = 1, [">="] = 1, ["=="] = 1, ["!="] = 1})[op] then
          error("unknown operator '" .. op .. "' in constraint '" .. s .. "' (" .. list[1] .. " allows < <= > >= == !=)", 0)
        end
        local v, why = M.parse(ver, list)
        if not v then error("bad version '" .. ver .. "' in constraint '" .. s .. "': " .. why, 0) end
        cs[#cs + 1] = {op = op, v = v}
      end
      if #cs == 0 then error("empty constraint '" .. s .. "'", 0) end
      groups[#groups + 1] = cs
    end
  end
  return groups
end

-- parsed constraints by scheme list and text: a bump checks the same few
-- against hundreds of versions. Bounded: a long-running playbook (the
-- dashboard, a watch loop) may see ever new texts; past CACHE_MAX the cache
-- starts again.
local constraint_cache, cached = {}, 0
local CACHE_MAX = 512

--- version.constraint(s [, scheme]) -> a constraint object with
-- :check(v [, devel]) -> boolean (v a string or a parsed version).
-- For semver the syntax and the rules are Helm's: a pre-release version only
-- satisfies a comparison whose own version has a pre-release (">=1.0.0-0"),
-- unless devel is true. Raises a plain error for a malformed constraint.
function M.constraint(s, scheme)
  local list = M.schemes_of(scheme)
  local key = table.concat(list, ",") .. "\0" .. s
  local c = constraint_cache[key]
  if c then return c end
  local ok, groups = pcall(families[list[1]] == "semver" and parse_semver_constraint or parse_generic_constraint, s, list)
  if not ok then error("version: " .. tostring(groups), 2) end
  c = {text = s, groups = groups, schemes = list, family = families[list[1]]}
  function c.check(self, v, devel)
    if type(v) == "string" then
      v = M.parse(v, self.schemes)
      if not v then return false end
    end
    for _, group in ipairs(self.groups) do
      local all = true
      for _, cmp in ipairs(group) do
        local ok2
        if self.family == "semver" then
          -- Helm's pre-release gate: every operator but a plain "!=" has it
          if v.pre and not cmp.v.pre and not devel and (cmp.op ~= "!=" or cmp.dirty) then ok2 = false
          else ok2 = check[cmp.op](v, cmp) end
        else
          local r = cmp_parsed(v, cmp.v)
          local op = cmp.op
          ok2 = (op == "<" and r < 0) or (op == "<=" and r <= 0) or (op == ">" and r > 0) or
                (op == ">=" and r >= 0) or (op == "==" and r == 0) or (op == "!=" and r ~= 0)
        end
        if not ok2 then all = false; break end
      end
      if all then return true end
    end
    return false
  end
  if cached >= CACHE_MAX then constraint_cache, cached = {}, 0 end
  constraint_cache[key] = c
  cached = cached + 1
  return c
end

-- ---- picking ------------------------------------------------------------------

local function text_of(item, field)
  if type(item) == "string" then return item end
  if type(item) == "table" then return item[field or "version"] end
  return nil
end

-- does parsed v qualify? semver: Helm's rules (a pre-release passes only a
-- comparison that names a pre-release, or any when devel); pep440 family:
-- pre-releases, dev builds and describe distances only with devel.
local function qualifies(v, con, devel)
  if con and con.family == "semver" then
    if con:check(v, devel) then return true end
    return false, (v.prerelease and not devel) and "pre-release" or "constraint"
  end
  if v.prerelease and not devel then return false, "pre-release" end
  if con and not con:check(v, devel) then return false, "constraint" end
  return true
end

--- version.sort(list [, opts]) -> qualifying, skipped
-- list: version strings, or tables with a `version` field (opts.field names
-- another). opts: scheme, constraint, devel (pre-releases qualify),
-- descending (default true). Returns the qualifying items, best first, and
-- the skipped ones as {item=, text=, reason=} ("unreadable", "pre-release",
-- "constraint"). Unreadable strings are logged at debug level.
function M.sort(list, opts)
  opts = opts or {}
  local schemes = M.schemes_of(opts.scheme)
  local con = opts.constraint and opts.constraint ~= "" and M.constraint(opts.constraint, schemes) or nil
  local keep, skipped = {}, {}
  for _, item in ipairs(list) do
    local s = text_of(item, opts.field)
    local v, why = M.parse(s, schemes)
    if not v then
      skipped[#skipped + 1] = {item = item, text = s, reason = "unreadable", detail = why}
      debug_log("version: skipped %q: %s", tostring(s), why)
    else
      local ok, reason = qualifies(v, con, opts.devel)
      if ok then keep[#keep + 1] = {item = item, v = v}
      else skipped[#skipped + 1] = {item = item, text = s, reason = reason} end
    end
  end
  local desc = opts.descending ~= false
  table.sort(keep, function(x, y)
    local c = cmp_parsed(x.v, y.v)
    if c == 0 then return x.v.text < y.v.text end   -- stable across equal builds
    if desc then return c > 0 end
    return c < 0
  end)
  local out = {}
  for i, k in ipairs(keep) do out[i] = k.item end
  return out, skipped
end

--- version.latest(list [, opts]) -> the best version string or nil, and the
-- item it came from (the table, for lists of tables).
-- opts as version.sort: {scheme =, constraint =, devel =, field =}.
-- Pre-releases qualify when devel is true or (semver) when a comparison of
-- the constraint carries a pre-release itself, as in Helm.
function M.latest(list, opts)
  opts = opts or {}
  local schemes = M.schemes_of(opts.scheme)
  local con = opts.constraint and opts.constraint ~= "" and M.constraint(opts.constraint, schemes) or nil
  local best, bestv
  for _, item in ipairs(list) do
    local s = text_of(item, opts.field)
    local v, why = M.parse(s, schemes)
    if not v then
      debug_log("version: skipped %q: %s", tostring(s), why)
    elseif qualifies(v, con, opts.devel) and (not bestv or cmp_parsed(v, bestv) > 0) then
      best, bestv = item, v
    end
  end
  if not best then return nil end
  return bestv.text, best
end

--- version.newer(a, b [, scheme]) -> true when b is strictly newer than a.
function M.newer(a, b, scheme)
  return M.compare(a, b, scheme) < 0
end

-- ---- time stamps (index.yaml `created`) -------------------------------------


--- version.timestamp(s) -> seconds since the epoch (a float) for an RFC 3339
-- time such as "2024-08-08T18:05:34.413844784Z", or nil.
function M.timestamp(s)
  if type(s) ~= "string" then return nil end
  local y, mo, d, h, mi, sec, frac, tz = s:match("^(%d%d%d%d)-(%d%d)-(%d%d)[Tt ](%d%d):(%d%d):(%d%d)(%.?%d*)(.*)$")
  if not y then return nil end
  local t = codec.timegm(tonumber(y), tonumber(mo), tonumber(d), tonumber(h),
                         tonumber(mi), tonumber(sec))
  if frac ~= "" and frac ~= "." then t = t + tonumber("0" .. frac) end
  if tz == "Z" or tz == "z" or tz == "" then return t end
  local sign, oh, om = tz:match("^([+-])(%d%d):?(%d%d)$")
  if not sign then return nil end
  local off = tonumber(oh) * 3600 + tonumber(om) * 60
  return sign == "+" and t - off or t + off
end

return M
