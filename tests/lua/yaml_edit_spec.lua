-- slipway.yaml edits and loads, the last bytes (issue 15, items 14-20):
-- argument checks, duplicate collection keys, BOM files, no trailing
-- whitespace, kept scalar styles, deletes with their comments, empty
-- sequences through JSON; then every value of the real mybinder.org-deploy
-- files deleted and replaced, checked by the editor's re-parse, by an
-- independent load and by yamllint.
local T = require "slipway.testing"
local yaml = require "slipway.yaml"
local json = require "slipway.json"
local fs = require "slipway.fs"
local proc = require "slipway.proc"

local SHARED = os.getenv("SLIPWAY_SHARED") or "/work/shared"
local FULL = SHARED .. "/fixtures/mybinder.org-deploy-full"
local BOM = "\xEF\xBB\xBF"

local function edited(text, fn)
  local doc = yaml.edit(text)
  fn(doc)
  return doc:text()
end

-- ---- 14: misuse and unusual shapes --------------------------------------------------

T.test("misuse names the argument like luaL_argerror", function()
  local doc = yaml.edit("a: 1\nl: [1]\nm: {}\n")
  T.raises(function() doc:set("a", 2, 5) end, "^[^\n]*: bad argument #3 to 'set' %(table expected, got number%)$")
  T.raises(function() doc:set("a", nil) end, "bad argument #2 to 'set' %(value expected, got nil; use yaml.null")
  T.raises(function() doc:set(5, 1) end, "bad argument #1 to 'set' %(string or table expected, got number%)")
  T.raises(function() doc:append("l", 1, "x") end, "bad argument #3 to 'append' %(table expected, got string%)")
  T.raises(function() doc:insert("m", 3, 1) end, "bad argument #2 to 'insert' %(string expected, got number%)")
  T.raises(function() doc:insert("m", "k", 1, true) end, "bad argument #4 to 'insert' %(table expected, got boolean%)")
  T.raises(function() doc:delete("a", 1) end, "bad argument #2 to 'delete'")
  T.raises(function() doc:get("a", 1) end, "bad argument #2 to 'get'")
  T.raises(function() doc:save(3) end, "bad argument #1 to 'save'")
  T.raises(function() yaml.edit(3) end, "bad argument #1 to 'edit' %(string expected, got number%)")
  T.raises(function() yaml.edit("a: 1", "x") end, "bad argument #2 to 'edit'")
  T.raises(function() yaml.load("a: 1", 3) end, "bad argument #2 to 'load' %(table expected, got number%)")
  T.raises(function() yaml.load() end, "bad argument #1 to 'load' %(string expected, got no value%)")
  T.eq(doc:text(), "a: 1\nl: [1]\nm: {}\n", "nothing changed")
end)

T.test("a collection under an explicit key without a value gets its ':' line", function()
  T.eq(edited("? b\n", function(d) d:set("b", {x = 1}) end), "? b\n:\n  x: 1\n")
  T.eq(edited("x: 0\n? b\nc: 2\n", function(d) d:set("b", {1, 2}) end), "x: 0\n? b\n:\n  - 1\n  - 2\nc: 2\n")
  T.eq(edited("? b", function(d) d:set("b", {x = 1}) end), "? b\n:\n  x: 1")
  T.eq(yaml.load(edited("? b\n", function(d) d:set("b", {x = 1}) end)), {b = {x = 1}})
end)

-- ---- 15: duplicate collection keys --------------------------------------------------

T.test("duplicate collection keys are an error naming both lines", function()
  local e = T.raises(function() yaml.load("? [a]\n: 1\n? [a]\n: 2\n", {file = "k.yaml"}) end)
  T.eq(e.code, "yaml")
  T.eq({e.line, e.column, e.first_line}, {3, 3, 1})
  T.match(e.message, '^[^\n]*k%.yaml:3:3: duplicate key %["a"%] %(first defined at line 1%)')
  -- equal whatever the style and the key order of mappings
  T.raises(function() yaml.load("? [a]\n: 1\n? - a\n: 2\n") end, "duplicate key")
  T.raises(function() yaml.load("? {x: 1, z: [2]}\n: 1\n? {z: [2], x: 1}\n: 2\n") end, "duplicate key")
  T.raises(function() yaml.load("? []\n: 1\n? []\n: 2\n") end, "duplicate key")
  e = T.raises(function() yaml.load("m:\n  ? [a, {b: c}]\n  : 1\n  x: 2\n  ? [a, {b: c}]\n  : 3\n") end)
  T.eq({e.line, e.first_line}, {5, 2})
  T.raises(function() yaml.load("? &k [a]\n: 1\n? *k\n: 2\n") end, "duplicate key")
  -- different values are different keys: type, order, kind
  T.eq(#yaml.load_all("? [1]\n: 1\n? ['1']\n: 2\n"), 1)
  T.eq(#yaml.load_all("? [a, b]\n: 1\n? [b, a]\n: 2\n"), 1)
  T.eq(#yaml.load_all("? []\n: 1\n? {}\n: 2\n"), 1)
  T.eq(#yaml.load_all("? {x: 1}\n: 1\n? {x: 1.0}\n: 2\n"), 1)
  T.eq(#yaml.load_all("- ? [a]\n  : 1\n- ? [a]\n  : 2\n"), 1, "the same key in two mappings")
end)

-- ---- 16: a BOM ------------------------------------------------------------------------

T.test("in a file with a BOM top-level inserts, appends and deletes work", function()
  T.eq(edited(BOM .. "a: 1\nb: 2\n", function(d) d:insert("", "c", 3) end), BOM .. "a: 1\nb: 2\nc: 3\n")
  T.eq(edited(BOM .. "a: 1\nb: 2\n", function(d) d:insert("", "c", {d = 1}) end), BOM .. "a: 1\nb: 2\nc:\n  d: 1\n")
  T.eq(edited(BOM .. "- a\n- b\n", function(d) d:append("", "c") end), BOM .. "- a\n- b\n- c\n")
  T.eq(edited(BOM .. "- a\n- b\n", function(d) d:delete("[0]") end), BOM .. "- b\n")
  T.eq(edited(BOM .. "a: 1\n\nb: 2\n", function(d) d:delete("a") end), BOM .. "b: 2\n")
  -- a real file with a BOM in front
  local text = fs.read(FULL .. "/config/prod.yaml")
  local doc = yaml.edit(BOM .. text)
  doc:insert("", "newTopLevel", {enabled = true})
  T.eq(doc:text(), BOM .. text .. "newTopLevel:\n  enabled: true\n")
end)

-- ---- 17: no trailing whitespace --------------------------------------------------------

T.test("a value under an anchor or tag is written without trailing whitespace", function()
  T.eq(edited("a: &x\n  b: 1\n", function(d) d:set("a", {c = 2}) end), "a: &x\n  c: 2\n")
  T.eq(edited("a: &x [1]\n", function(d) d:set("a", {c = 2}) end), "a: &x\n  c: 2\n")
  T.eq(edited("a: &x 1\n", function(d) d:set("a", {c = 2}) end), "a: &x\n  c: 2\n")
  T.eq(edited("a: !!map {q: 1}\n", function(d) d:set("a", {c = 2}) end), "a: !!map\n  c: 2\n")
  T.eq(edited("a: &x # keep\n  # this too\n  b: 1\nz: 1\n", function(d) d:set("a", {c = 2}) end),
    "a: &x # keep\n  # this too\n  c: 2\nz: 1\n")
  T.eq(edited("- &x [1]\n- 2\n", function(d) d:set("[0]", {c = 2}) end), "- &x\n  c: 2\n- 2\n")
  T.eq(edited("a: &x\r\n  b: 1\r\n", function(d) d:set("a", {c = 2}) end), "a: &x\r\n  c: 2\r\n")
  -- a string with a line ending in white space is quoted, not a literal block
  T.eq(edited("a: |-\n  x\nb: 1\n", function(d) d:set("a", "trailing \nspace") end), "a: \"trailing \\nspace\"\nb: 1\n")
  T.eq(yaml.dump({a = "x \ny\n"}), "a: \"x \\ny\\n\"\n")
end)

-- ---- 18: styles kept ---------------------------------------------------------------------

T.test("plain '-' scalars stay plain; folded blocks stay folded", function()
  T.eq(edited("args:\n  - --foo\n  - --bar\n", function(d)
    d:set("args[1]", "--log-level=info")
    d:append("args", "--x=1")
  end), "args:\n  - --foo\n  - --log-level=info\n  - --x=1\n")
  local text = edited("args: [--a, --b]\nm:\n  k: --x\n", function(d)
    d:set("args[0]", "--c=1")
    d:append("args", "--d")
    d:insert("m", "j", "--y")
    -- what would read as something else, or is no plain scalar, is quoted
    d:set("m.k", "-5")
    d:set("args[1]", "- x")
    d:append("args", "-1:20")
  end)
  T.eq(text, 'args: [--c=1, "- x", --d, "-1:20"]\nm:\n  k: "-5"\n  j: --y\n')
  for _, schema in ipairs {"helm", "core"} do
    T.eq(yaml.load(text, {schema = schema}), {args = {"--c=1", "- x", "--d", "-1:20"}, m = {k = "-5", j = "--y"}})
  end
  local long = "new folded text that is quite long and keeps going and going beyond the width of "
    .. "eighty chars surely, and more words here"
  T.eq(edited("a: >-\n  some folded\n  text\nb: 1\n", function(d) d:set("a", long) end),
    "a: >-\n  new folded text that is quite long and keeps going and going beyond the width\n"
    .. "  of eighty chars surely, and more words here\nb: 1\n")
  T.eq(edited("a: > # why\n  x\nb: 1\n", function(d) d:set("a", "p1 line\nsecond  double\n\nthird\n") end),
    "a: > # why\n  p1 line\n\n  second  double\n\n\n  third\nb: 1\n")
  -- more-indented lines would not fold back: literal
  T.eq(edited("a: >-\n  x\nb: 1\n", function(d) d:set("a", "p1\n  more") end), "a: |-\n  p1\n    more\nb: 1\n")
  local d = yaml.edit("a: >+\n  x\n\nb: 1\n")
  d:set("a", "k\n\n\n")
  T.eq(yaml.load(d:text()).a, "k\n\n\n")
end)

-- ---- 19: delete -------------------------------------------------------------------------

T.test("delete takes the entry's own comments and keeps one separator", function()
  T.eq(edited("a: 1\n\nb:\n  # about c\n  c: 1\n  # more\n\nd: 2\n", function(d) d:delete("b") end),
    "a: 1\n\nd: 2\n")
  T.eq(edited("a: 1\n\nb: 2\n", function(d) d:delete("b") end), "a: 1\n")
  T.eq(edited("a: 1\n\nb: 2", function(d) d:delete("b") end), "a: 1")
  T.eq(edited("a: 1\n\nb: 2 # own\n\n\nc: 3\n", function(d) d:delete("b") end), "a: 1\n\nc: 3\n")
  T.eq(edited("# top\na: 1\n\n# about b\nb: 2\n\nc: 3\n", function(d) d:delete("b") end),
    "# top\na: 1\n\n# about b\n\nc: 3\n", "comments above stay")
  T.eq(edited("x:\n  a: 1\n\n  b: 2\n    # b's\n  # x's\n\ny: 3\n", function(d) d:delete("x.b") end),
    "x:\n  a: 1\n\n  # x's\n\ny: 3\n")
  T.eq(edited("l:\n  - a\n    # a's\n  - b\n  # l's\nz: 1\n", function(d) d:delete("l[0]") end),
    "l:\n  - b\n  # l's\nz: 1\n")
  T.eq(edited("a:\n  b: 1 # x\n    # own\n\nz: 1\n", function(d) d:delete("a.b") end), "a: {}\n\nz: 1\n")
  T.eq(edited("x:\n  a: 1\n\n  b: 2\n", function(d) d:delete("x.a") end), "x:\n  b: 2\n")
  T.eq(edited("a: 1\r\n\r\nb: 2\r\n\r\nc: 3\r\n", function(d) d:delete("b") end), "a: 1\r\n\r\nc: 3\r\n")
  T.eq(edited("a: 1\nb: 2\n\n", function(d) d:delete("b") end), "a: 1\n")
end)

-- ---- 20: empty sequences through JSON ------------------------------------------------

T.test("empty sequences loaded from YAML stay arrays through JSON, and back", function()
  T.eq(json.encode(yaml.load("a: []\nb: {}\nc: [[]]\n")), '{"a":[],"b":{},"c":[[]]}')
  T.eq(json.encode(yaml.load("x: &e []\nw: *e\n")), '{"w":[],"x":[]}')
  T.truthy(json.is_array(yaml.load("a: []").a))
  T.eq(yaml.dump(json.decode('{"a":[],"b":{}}')), "a: []\nb: {}\n")
  T.eq(yaml.sequence_mt, getmetatable(json.array()))
end)

T.test("an empty table set over a scalar is written {} or [] (found by tests/fuzz/yaml_edit.lua)", function()
  -- raised "attempt to concatenate a nil value (local 'new')"
  T.eq(edited("x: a\n", function(d) d:set("x", {}) end), "x: {}\n")
  T.eq(edited("x: a\n", function(d) d:set("x", json.array()) end), "x: []\n")
  T.eq(edited("- 'a'\n- b\n", function(d) d:set("[0]", {}) end), "- {}\n- b\n")
  T.eq(edited("a", function(d) d:set("", {}) end), "{}")
  T.eq(edited("f: [a, b]\n", function(d) d:set("f[1]", json.array()) end), "f: [a, []]\n")
  T.eq(yaml.load(edited("x: &y a\nz: 1\n", function(d) d:set("x", {}) end)), {x = {}, z = 1})
end)

T.test("an empty node's anchor does not take the next key's tag (found by tests/fuzz/yaml_edit.lua)", function()
  -- raised "bad argument #3 to 'splice' (out of range)": the properties of
  -- the empty value of a ran on into the "!" of the next line
  T.eq(edited("a: &x\n! b: x\n", function(d) d:set("a", {x = 1}) end), "a: &x\n  x: 1\n! b: x\n")
  T.eq(edited(BOM .. "a: &x\n!t b: x\n", function(d) d:set("a", {1}) end), BOM .. "a: &x\n  - 1\n!t b: x\n")
end)

T.test("a value written over an empty one leaves no trailing spaces and keeps the line's comment", function()
  T.eq(edited("a: \nb: 2\n", function(d) d:set("a", "v") end), "a: v\nb: 2\n")
  T.eq(edited("a: \nb: 2\n", function(d) d:set("a", {x = 1}) end), "a:\n  x: 1\nb: 2\n")
  T.eq(edited("a:\t\r\nb: 2\r\n", function(d) d:set("a", {1, 2}) end), "a:\r\n  - 1\r\n  - 2\r\nb: 2\r\n")
  T.eq(edited("a:  # c\nb: 2\n", function(d) d:set("a", "v") end), "a: v  # c\nb: 2\n")
  T.eq(edited("a:  # c\nb: 2\n", function(d) d:set("a", {x = 1}) end), "a:  # c\n  x: 1\nb: 2\n")
  -- an empty sequence item: the value after "- " (it was refused)
  T.eq(edited("- \n- 2\n", function(d) d:set("[0]", {x = 1}) end), "- x: 1\n- 2\n")
  T.eq(edited("- \r\n- 2\r\n", function(d) d:set("[0]", {1}) end), "- - 1\r\n- 2\r\n")
  T.eq(edited("- # c\n- 2\n", function(d) d:set("[0]", {x = 1}) end), "- # c\n  x: 1\n- 2\n")
  T.eq(edited("- \n", function(d) d:set("[0]", "v") end), "- v\n")
end)

T.test("comments between a key and its old block value stay when the value is replaced", function()
  T.eq(edited("a: # c\n  b: 1\nz: 0\n", function(d) d:set("a", {x = 1}) end), "a: # c\n  x: 1\nz: 0\n")
  T.eq(edited("a: # c\n\n  # d\n  b: 1\n", function(d) d:set("a", {x = 2}) end), "a: # c\n\n  # d\n  x: 2\n")
  T.eq(edited("a:\n  # d\n  b: 1\n", function(d) d:set("a", {1}) end), "a:\n  # d\n  - 1\n")
  -- a scalar goes below the comments, indented under the key
  T.eq(edited("a: # c\n- 1\nz: 0\n", function(d) d:set("a", "v") end), "a: # c\n  v\nz: 0\n")
  T.eq(edited("a:\n  # d\n  b: 1\n", function(d) d:set("a", 7) end), "a:\n  # d\n  7\n")
  -- with nothing to keep, the scalar goes on the key's line
  T.eq(edited("a:\n- 1\nz: 0\n", function(d) d:set("a", "v") end), "a: v\nz: 0\n")
end)

T.test("insert of a key longer than an implicit key may be writes '? KEY' (as yaml.dump does)", function()
  local k = string.rep("q", 1100)
  T.eq(edited("x:\n  a: 1\nz: 0\n", function(d) d:insert("x", k, 1) end), "x:\n  a: 1\n  ? " .. k .. "\n  : 1\nz: 0\n")
  T.eq(edited("a: 1\n", function(d) d:insert("", k, {b = 2}) end), "a: 1\n? " .. k .. "\n:\n  b: 2\n")
  T.eq(edited("{a: 1}\n", function(d) d:insert("", k, 1) end), "{a: 1, ? " .. k .. " : 1}\n")
  -- and inside a flow collection written by set or append
  T.eq(edited("{a: 1}\n", function(d) d:set("a", {[k] = 1}) end), "{a: {? " .. k .. " : 1}}\n")
  T.eq(edited("a: [1]\n", function(d) d:append("a", {[k] = 1}) end), "a: [1, {? " .. k .. " : 1}]\n")
  local short = string.rep("q", 1024)
  T.eq(edited("a: 1\n", function(d) d:insert("", short, 1) end), "a: 1\n" .. short .. ": 1\n")
end)

-- ---- the real files ------------------------------------------------------------------

-- lines ending in white space, runs of blank lines, blank lines at the end
local function problems(text)
  local n = {trailing = 0, blank_runs = 0, end_blank = 0}
  local prev = false
  for line in (text .. "\n"):gmatch("(.-)\r?\n") do
    if line:find("[ \t]$") then n.trailing = n.trailing + 1 end
    if line == "" and prev then n.blank_runs = n.blank_runs + 1 end
    prev = line == ""
  end
  if text:find("\n[ \t\r]*\n$") then n.end_blank = 1 end
  return n
end

-- data with the value at node i of doc changed by `change(parent_data, key)`
local function data_path(doc, i)
  local segs = {}
  while true do
    local n = doc:node(i)
    local p = doc:node(n.parent)
    if p.kind == "document" then break end
    local kids = doc:children(n.parent)
    for k = 1, #kids do
      if kids[k] == i then
        if p.kind == "sequence" then table.insert(segs, 1, k)
        else table.insert(segs, 1, yaml._keystr(doc.idx:data(kids[k - 1]))) end
      end
    end
    i = n.parent
  end
  return segs
end

T.test("every value of the real mybinder.org-deploy files: delete and set are exact and lint-clean", function()
  local dir = fs.tempdir()
  local files = {}
  for line in proc.run({"find", FULL, "-name", "*.yaml", "-not", "-path", "*/templates/*"}).stdout:gmatch("[^\n]+") do
    files[#files + 1] = line
  end
  table.sort(files)
  local edits, files_done, samples = 0, 0, {}
  for fi, f in ipairs(files) do
    local text = fs.read(f)
    local ok, doc = pcall(yaml.edit, text)
    if ok and doc:documents() == 1 and not text:find("&") then  -- anchored files: prod.yaml covers them
      files_done = files_done + 1
      local before, p0 = yaml.load(text), problems(text)
      for i = 1, doc.idx:count() do
        local n = doc:node(i)
        local par = n.parent and doc:node(n.parent)
        local is_value = par and par.kind ~= "document" and (par.kind == "sequence" or doc:children(n.parent)[1] ~= i)
        if is_value and par.kind == "mapping" then
          local kids = doc:children(n.parent)
          is_value = false
          for k = 2, #kids, 2 do if kids[k] == i then is_value = true end end
        end
        if is_value and (par.style ~= "flow") then
          local segs = data_path(doc, i)
          local path = doc:path_of(i)
          -- every value deleted; set to a mapping or a "-" string in turn
          for _, op in ipairs {"delete", i % 2 == 0 and "map" or "dash"} do
            local d = yaml.edit(text)
            if op == "delete" then d:delete(path)
            elseif op == "map" then d:set(path, {k = "v", l = {1, 2}})
            else d:set(path, "--log-level=info") end
            edits = edits + 1
            -- an independent load: exactly that value changed
            local want = yaml.copy(before)
            local t = want
            for s = 1, #segs - 1 do t = t[segs[s]] end
            local last = segs[#segs]
            if op == "delete" then
              if math.type(last) == "integer" then table.remove(t, last) else t[last] = nil end
              if next(t) == nil and math.type(last) == "integer" then setmetatable(t, yaml.sequence_mt) end
            else
              t[last] = op == "map" and {k = "v", l = {1, 2}} or "--log-level=info"
            end
            T.eq(yaml.load(d:text()), want, f .. ": " .. op .. " " .. path)
            local p1 = problems(d:text())
            T.truthy(p1.trailing <= p0.trailing and p1.blank_runs <= p0.blank_runs and p1.end_blank <= p0.end_blank,
              f .. ": " .. op .. " " .. path .. " added trailing whitespace or blank lines")
            if #samples < 200 and (i % 7 == 0) then
              samples[#samples + 1] = d:text()
              fs.write(string.format("%s/f%02d-%s-%d.yaml", dir, fi, op, i), d:text())
            end
          end
        end
      end
    end
  end
  T.truthy(files_done >= 30, "files edited: " .. files_done)
  T.truthy(edits >= 3000, "edits: " .. edits)
  print(string.format("# %d edits of %d files; %d samples linted", edits, files_done, #samples))
  -- yamllint (Debian's) on a sample of the edited texts: its trailing-spaces
  -- and empty-lines rules find nothing
  local r = proc.run({"yamllint", "-f", "parsable", "-d",
    "{rules: {trailing-spaces: enable, empty-lines: enable, new-line-at-end-of-file: enable}}", dir},
    {check = false})
  T.eq(r.stdout, "", "yamllint")
  T.eq(r.code, 0)
end, {timeout = 300})

T.run()
