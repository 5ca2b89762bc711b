-- The YAML test suite (shared/yaml-test-suite, one folder per case) against
-- slipway.yaml:
--   * every case with in.json loads, with the core schema, to that data;
--   * every case with an `error` file is rejected;
--   * every case that parses is opened and saved unchanged byte for byte,
--     and dumped and loaded again to the same data (core and helm schemas;
--     documents with collection keys cannot be dumped and are left out);
--   * in every case, each value scalar in turn is set to a new string and
--     exactly that value changes (the editor's own verification, then an
--     independent load of both texts compared here).
-- libyaml 0.2.5 deviates from the suite in known places: those cases are
-- listed in KNOWN below with the reason, reported by id, and do not fail the
-- run; any other failure does. Keys are not set (paths address values).
local T = require "slipway.testing"
local yaml = require "slipway.yaml"
local json = require "slipway.json"
-- lua-cjson itself for in.json (plain decoding is all the comparison needs)
local cjson = require "slipway.json.core"
local fs = require "slipway.fs"

local SUITE = (os.getenv("SLIPWAY_SHARED") or "/work/shared") .. "/yaml-test-suite"
local null = yaml.null

-- Cases where libyaml 0.2.5 itself disagrees with the suite (checked by
-- running libyaml's own event parser on them). kind: "rejects" = libyaml
-- fails on valid YAML; "accepts" = libyaml parses a case the suite marks as
-- an error; "differs" = libyaml parses valid YAML to other data.
local KNOWN = {
  ["2JQS"] = "rejects valid YAML: did not find expected key at line 1 column 1 -- Block Mapping with Missing Keys",
  ["2LFX"] = "rejects valid YAML: found unknown directive name at line 1 column 5 -- Spec Example 6.13. Reserved Directives [1.3]",
  ["2SXE"] = "rejects valid YAML: mapping values are not allowed in this context at line 1 column 8 -- Anchors With Colon in Name",
  ["4ABK"] = "rejects valid YAML: found unexpected ':' at line 4 column 14 -- Flow Mapping Separate Values",
  ["4MUZ/00"] = "rejects valid YAML: did not find expected ',' or '}' at line 2 column 1 -- Flow mapping colon on line after key",
  ["4MUZ/01"] = "rejects valid YAML: did not find expected ',' or '}' at line 2 column 1 -- Flow mapping colon on line after key",
  ["4MUZ/02"] = "rejects valid YAML: did not find expected ',' or '}' at line 2 column 1 -- Flow mapping colon on line after key",
  ["58MP"] = "rejects valid YAML: did not find expected node content at line 1 column 5 -- Flow mapping edge cases",
  ["5MUD"] = "rejects valid YAML: did not find expected ',' or '}' at line 3 column 3 -- Colon and adjacent value on next line",
  ["5T43"] = "rejects valid YAML: did not find expected node content at line 2 column 11 -- Colon at the beginning of adjacent flow scalar",
  ["652Z"] = "differs: reads the flow key '?foo' as an explicit key 'foo' -- Question mark at start of flow key",
  ["6BCT"] = "rejects valid YAML: found character that cannot start any token at line 3 column 4 -- Spec Example 6.3. Separation Spaces",
  ["6CA3"] = "rejects valid YAML: found character that cannot start any token at line 1 column 1 -- Tab indented top flow",
  ["6LVF"] = "rejects valid YAML: found unknown directive name at line 1 column 5 -- Spec Example 6.13. Reserved Directives",
  ["6M2F"] = "rejects valid YAML: did not find expected key at line 3 column 1 -- Aliases in Explicit Block Mapping",
  ["7Z25"] = "rejects valid YAML: did not find expected <document start> at line 4 column 1 -- Bare document after document end marker",
  ["8XYN"] = "rejects valid YAML: did not find expected alphabetic or numeric character at line 2 column 4 -- Anchor with unicode character",
  ["96NN/00"] = "rejects valid YAML: found a tab character where an indentation space is expected at line 2 column 2 -- Leading tab content in literals",
  ["96NN/01"] = "rejects valid YAML: found a tab character where an indentation space is expected at line 2 column 2 -- Leading tab content in literals",
  ["9C9N"] = "accepts invalid YAML (the suite expects an error) -- Wrong indented flow sequence",
  ["9HCY"] = "accepts invalid YAML (the suite expects an error) -- Need document footer before directives",
  ["9JBA"] = "accepts invalid YAML (the suite expects an error) -- Invalid comment after end of flow sequence",
  ["9SA2"] = "rejects valid YAML: did not find expected ',' or '}' at line 4 column 8 -- Multiline double quoted flow mapping key",
  ["A2M4"] = "rejects valid YAML: found character that cannot start any token at line 2 column 4 -- Spec Example 6.2. Indentation Indicators",
  ["BEC7"] = "rejects valid YAML: found incompatible YAML document at line 1 column 1 -- Spec Example 6.14. “YAML” directive",
  ["CFD4"] = "rejects valid YAML: did not find expected node content at line 1 column 5 -- Empty implicit key in single pair flow sequences",
  ["CVW2"] = "accepts invalid YAML (the suite expects an error) -- Invalid comment after comma",
  ["DBG4"] = "rejects valid YAML: did not find expected node content at line 8 column 5 -- Spec Example 7.10. Plain Characters",
  ["DK3J"] = "rejects valid YAML: did not find expected <document start> at line 2 column 1 -- Zero indented block scalar with line that looks like a comment",
  ["DK95/00"] = "rejects valid YAML: found character that cannot start any token at line 2 column 2 -- Tabs that look like indentation",
  ["DK95/01"] = "accepts invalid YAML (the suite expects an error) -- Tabs that look like indentation",
  ["DK95/03"] = "rejects valid YAML: found character that cannot start any token at line 1 column 2 -- Tabs that look like indentation",
  ["DK95/04"] = "rejects valid YAML: found a tab character that violates indentation at line 2 column 1 -- Tabs that look like indentation",
  ["EB22"] = "accepts invalid YAML (the suite expects an error) -- Missing document-end marker before directive",
  ["FP8R"] = "rejects valid YAML: did not find expected <document start> at line 2 column 1 -- Zero indented block scalar",
  ["FRK4"] = "rejects valid YAML: found unexpected ':' at line 2 column 9 -- Spec Example 7.3. Completely Empty Flow Nodes",
  ["G5U8"] = "accepts invalid YAML (the suite expects an error) -- Plain dashes in flow sequence",
  ["HM87/00"] = "rejects valid YAML: did not find expected node content at line 1 column 2 -- Scalars in flow start with syntax char",
  ["HM87/01"] = "differs: reads the flow scalar '?x' as an explicit key x with an empty value -- Scalars in flow start with syntax char",
  ["HWV9"] = "rejects valid YAML: did not find expected node content at line 1 column 1 -- Document-end marker",
  ["JEF9/02"] = "differs: gives '' for a literal block whose content is only trailing empty lines (the suite: one line break) -- Trailing whitespace in streams",
  ["K3WX"] = "rejects valid YAML: did not find expected ',' or '}' at line 3 column 3 -- Colon and adjacent value after comment on next line",
  ["L24T/01"] = "differs: drops the final line break of a literal block ending in a line of spaces -- Trailing line of spaces",
  ["M2N8/00"] = "rejects valid YAML: did not find expected key at line 1 column 5 -- Question mark edge cases",
  ["M7A3"] = "rejects valid YAML: did not find expected <document start> at line 6 column 1 -- Spec Example 9.3. Bare Documents",
  ["MUS6/00"] = "accepts invalid YAML (the suite expects an error) -- Directive variants",
  ["MUS6/01"] = "accepts invalid YAML (the suite expects an error) -- Directive variants",
  ["MUS6/05"] = "rejects valid YAML: found unknown directive name at line 1 column 5 -- Directive variants",
  ["MUS6/06"] = "rejects valid YAML: found unknown directive name at line 1 column 7 -- Directive variants",
  ["NHX8"] = "rejects valid YAML: did not find expected key at line 1 column 1 -- Empty Lines at End of Document",
  ["NJ66"] = "rejects valid YAML: did not find expected ',' or '}' at line 4 column 7 -- Multiline plain flow mapping key",
  ["NKF9"] = "rejects valid YAML: did not find expected key at line 3 column 1 -- Empty keys in block and flow mapping",
  ["Q5MG"] = "rejects valid YAML: found character that cannot start any token at line 1 column 1 -- Tab at beginning of line followed by a flow mapping",
  ["QB6E"] = "accepts invalid YAML (the suite expects an error) -- Wrong indented multiline quoted scalar",
  ["QT73"] = "rejects valid YAML: did not find expected node content at line 2 column 1 -- Comment and document-end marker",
  ["R4YG"] = "rejects valid YAML: found a tab character where an indentation space is expected at line 10 column 2 -- Spec Example 8.2. Block Indentation Indicator",
  ["RHX7"] = "accepts invalid YAML (the suite expects an error) -- YAML directive without document end marker",
  ["S3PD"] = "rejects valid YAML: did not find expected key at line 2 column 1 -- Spec Example 8.18. Implicit Block Mapping Entries",
  ["S98Z"] = "accepts invalid YAML (the suite expects an error) -- Block scalar with more spaces than first content line",
  ["SM9W/01"] = "rejects valid YAML: did not find expected key at line 1 column 1 -- Single character streams",
  ["SU5Z"] = "accepts invalid YAML (the suite expects an error) -- Comment without whitespace after doublequoted scalar",
  ["UKK6/00"] = "rejects valid YAML: did not find expected key at line 1 column 3 -- Syntax character edge cases",
  ["UT92"] = "rejects valid YAML: did not find expected ',' or '}' at line 3 column 3 -- Spec Example 9.4. Explicit Documents",
  ["VJP3/01"] = "rejects valid YAML: did not find expected ',' or '}' at line 3 column 2 -- Flow collections over many lines",
  ["W4TN"] = "rejects valid YAML: could not find expected directive name at line 3 column 2 -- Spec Example 9.5. Directives Documents",
  ["W5VH"] = "rejects valid YAML: did not find expected alphabetic or numeric character at line 1 column 5 -- Allowed characters in alias",
  ["X4QW"] = "accepts invalid YAML (the suite expects an error) -- Comment without whitespace after block scalar indicator",
  ["Y2GN"] = "differs: ends the anchor name at ':' (reads the anchor 'an' and the value ':chor value') -- Anchor with colon in the middle",
  ["Y79Y/001"] = "rejects valid YAML: found a tab character where an indentation space is expected at line 2 column 2 -- Tabs in various contexts",
  ["Y79Y/003"] = "accepts invalid YAML (the suite expects an error) -- Tabs in various contexts",
  ["Y79Y/010"] = "rejects valid YAML: found character that cannot start any token at line 1 column 2 -- Tabs in various contexts",
  ["YJV2"] = "accepts invalid YAML (the suite expects an error) -- Dash in flow sequence",
}

-- Valid cases slipway.yaml refuses by its own rule (not libyaml's): the
-- load fails with the reason given, and only that way.
local POLICY = {
  ["X38W"] = {"duplicate key", "the alias key *a repeats the key &a [a, b]: duplicate keys are an "
    .. "error, collection keys compared by value (as {&k a: 1, *k : 2} is) -- Aliases in Flow Objects"},
}

-- ---- helpers ---------------------------------------------------------------

-- split a stream of JSON values ("one per document") and decode each
local function json_stream(s)
  local out, i, n = {}, 1, #s
  while true do
    i = s:find("[^ \t\r\n]", i)
    if not i then break end
    local c = s:sub(i, i)
    local j
    if c == "{" or c == "[" then
      local depth, k, instr = 0, i, false
      while k <= n do
        local ch = s:sub(k, k)
        if instr then
          if ch == "\\" then k = k + 1 elseif ch == '"' then instr = false end
        elseif ch == '"' then instr = true
        elseif ch == "{" or ch == "[" then depth = depth + 1
        elseif ch == "}" or ch == "]" then
          depth = depth - 1
          if depth == 0 then break end
        end
        k = k + 1
      end
      j = k
    elseif c == '"' then
      local k = i + 1
      while k <= n do
        local ch = s:sub(k, k)
        if ch == "\\" then k = k + 1 elseif ch == '"' then break end
        k = k + 1
      end
      j = k
    else
      j = (s:find("[ \t\r\n]", i) or (n + 1)) - 1
    end
    out[#out + 1] = cjson.decode(s:sub(i, j))
    i = j + 1
  end
  return out
end

-- structural equality; table keys (complex YAML keys) match structurally
local function same(a, b)
  if a == b then return true end
  if type(a) == "number" and type(b) == "number" then return a == b or (a ~= a and b ~= b) end
  if type(a) ~= "table" or type(b) ~= "table" then return false end
  local used = {}
  for k, v in pairs(a) do
    if type(k) == "table" then
      local hit = false
      for k2, v2 in pairs(b) do
        if type(k2) == "table" and not used[k2] and same(k, k2) and same(v, v2) then
          used[k2], hit = true, true
          break
        end
      end
      if not hit then return false end
    elseif not same(v, b[k]) then
      return false
    end
  end
  for k in pairs(b) do
    if type(k) == "table" then
      if not used[k] then return false end
    elseif a[k] == nil then
      return false
    end
  end
  return true
end

local function cases()
  local out = {}
  for _, name in ipairs(fs.list(SUITE)) do
    local dir = SUITE .. "/" .. name
    if fs.isfile(dir .. "/in.yaml") then
      out[#out + 1] = {id = name, dir = dir}
    elseif fs.isdir(dir) and name ~= "name" and name ~= "tags" then
      for _, sub in ipairs(fs.list(dir)) do
        if fs.isfile(dir .. "/" .. sub .. "/in.yaml") then
          out[#out + 1] = {id = name .. "/" .. sub, dir = dir .. "/" .. sub}
        end
      end
    end
  end
  return out
end

-- the value scalars of a document as paths (segment tables) + node ids;
-- values under aliases are not reachable by a path for editing
local function value_scalars(doc, di)
  local idx = doc.idx
  local out = {}
  local function walk(i, segs)
    local n = idx:node(i)
    if n.kind == "scalar" or n.kind == "alias" then
      if n.kind == "scalar" then out[#out + 1] = {segs = segs, node = i} end
      return
    end
    local kids = idx:children(i)
    if n.kind == "sequence" then
      for k, c in ipairs(kids) do
        local s = table.move(segs, 1, #segs, 1, {})
        s[#s + 1] = k - 1
        walk(c, s)
      end
    elseif n.kind == "mapping" then
      local seen = {}
      for k = 1, #kids, 2 do
        local kn = idx:node(kids[k])
        if kn.kind ~= "scalar" then goto next end
        local key = yaml._keystr(idx:data(kids[k]))
        if not key or seen[key] or (key == "<<" and kn.style == "plain") then goto next end
        seen[key] = true
        do
          local s = table.move(segs, 1, #segs, 1, {})
          s[#s + 1] = key
          walk(kids[k + 1], s)
        end
        ::next::
      end
    end
  end
  local root = idx:children(di)[1]
  if root then walk(root, {}) end
  return out
end

local function set_in(v, segs, new)
  if #segs == 0 then return new end
  local cur = v
  for i = 1, #segs - 1 do
    local s = segs[i]
    cur = cur[math.type(s) == "integer" and s + 1 or s]
  end
  local s = segs[#segs]
  cur[math.type(s) == "integer" and s + 1 or s] = new
  return v
end

-- ---- the run -----------------------------------------------------------------

T.test("the YAML test suite", function()
  local stats = {pass = 0, fail = 0, skip = 0, known = 0}
  local failures, known_hits = {}, {}
  local sets, set_ok, dumps = 0, 0, 0
  local tmp = fs.tempdir()
  local policy_hits = {}
  local function fail(id, what)
    local p = POLICY[id]
    if p and what:find("^rejected:") and what:find(p[1], 1, true) then
      policy_hits[id] = true
      return
    end
    local k = KNOWN[id]
    -- a known deviation excuses only its own kind of failure
    if k and ((k:find("^rejects") and what:find("^rejected:"))
        or (k:find("^accepts") and what:find("^an error case was accepted"))
        or (k:find("^differs") and what:find("^data differs"))) then
      known_hits[id] = true
      return
    end
    failures[#failures + 1] = id .. ": " .. what
  end
  local all = cases()
  for _, c in ipairs(all) do
    local text = fs.read(c.dir .. "/in.yaml")
    local is_error = fs.exists(c.dir .. "/error")
    local nfail = #failures
    local nknown = 0
    for _ in pairs(known_hits) do nknown = nknown + 1 end
    local ok, docs = pcall(yaml.load_all, text, {schema = "core"})
    if is_error then
      if ok then fail(c.id, "an error case was accepted") end
    elseif not ok then
      fail(c.id, "rejected: " .. tostring(docs):gsub("\n.*", ""))
    else
      if fs.exists(c.dir .. "/in.json") then
        local want = json_stream(fs.read(c.dir .. "/in.json"))
        if not same(docs, want) then
          fail(c.id, "data differs from in.json: got " .. json.encode(docs) .. " want " .. json.encode(want))
        end
      end
      -- dump and load again: the same data, under core and helm
      for _, schema in ipairs {"core", "helm"} do
        local data = yaml.load_all(text, {schema = schema})
        local okd, out = pcall(yaml.dump_all, data)
        if okd then
          dumps = dumps + 1
          local okl, back = pcall(yaml.load_all, out, {schema = schema})
          if not okl or not same(back, data) then
            fail(c.id, "dump round trip (" .. schema .. ") differs")
          end
        elseif not tostring(out):find("keys must be strings") then
          fail(c.id, "dump failed: " .. tostring(out))
        end
      end
      -- open and save unchanged: byte-identical
      local okd, doc = pcall(yaml.edit, text, {schema = "core"})
      if not okd then
        fail(c.id, "yaml.edit failed: " .. tostring(doc))
      else
        local path = tmp .. "/case.yaml"
        fs.write(path, text)
        local d2 = yaml.open(path, {schema = "core"})
        d2:save()
        if fs.read(path) ~= text or d2:diff() ~= "" then fail(c.id, "save changed the bytes") end
        -- set each value scalar in turn
        for di_n, di in ipairs(doc.idx:docs()) do
          for k, sc in ipairs(value_scalars(doc, di)) do
            local d = yaml.edit(text, {schema = "core"})
            local new = "slipway new " .. k
            sets = sets + 1
            local oks, err = pcall(d.set, d, sc.segs, new, {doc = di_n, shared = true})
            if not oks then
              fail(c.id, string.format("set %s (doc %d) refused: %s", table.concat(sc.segs, "."),
                di_n, (tostring(err):gsub("\n", " | "))))
            else
              -- independent check: the re-loaded data is the old data with
              -- exactly that value changed (when no alias shares it)
              local before = yaml.load_all(text, {schema = "core"})
              local after = yaml.load_all(d:text(), {schema = "core"})
              local users = doc:shared_users(sc.node)
              if #users == 0 then
                before[di_n] = set_in(before[di_n], sc.segs, new)
                if not same(before, after) then
                  fail(c.id, ("set " .. table.concat(sc.segs, ".") .. " changed more than that value"):gsub("\n", "\\n"))
                else
                  set_ok = set_ok + 1
                end
              else
                set_ok = set_ok + 1
              end
            end
          end
        end
      end
    end
    local nknown2 = 0
    for _ in pairs(known_hits) do nknown2 = nknown2 + 1 end
    if #failures > nfail then stats.fail = stats.fail + 1
    elseif nknown2 > nknown or KNOWN[c.id] and known_hits[c.id] then stats.known = stats.known + 1
    elseif policy_hits[c.id] then stats.policy = (stats.policy or 0) + 1
    else stats.pass = stats.pass + 1 end
  end
  print(string.format("# yaml-test-suite: %d cases: %d pass, %d fail, %d skipped as known libyaml "
    .. "limitations; %d of %d scalar sets verified; %d dump round trips", #all, stats.pass, stats.fail,
    stats.known, set_ok, sets, dumps))
  local ids = {}
  for id in pairs(known_hits) do ids[#ids + 1] = id end
  table.sort(ids)
  for _, id in ipairs(ids) do print("# skip " .. id .. ": libyaml 0.2.5 " .. KNOWN[id]) end
  for id, p in pairs(POLICY) do
    if policy_hits[id] then print("# refused by slipway " .. id .. ": " .. p[2])
    else failures[#failures + 1] = id .. ": expected the refusal (" .. p[2] .. ")" end
  end
  for id, why in pairs(KNOWN) do
    if not known_hits[id] then print("# note: known case " .. id .. " passes now (" .. why .. ")") end
  end
  for _, f in ipairs(failures) do print("# FAIL " .. f) end
  T.eq(#failures, 0, "suite failures outside the known libyaml deviations")
end, {timeout = 240})

T.run()
