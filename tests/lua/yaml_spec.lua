-- slipway.yaml: load/dump/merge, schemas, limits, errors and lossless edits
-- on the real mybinder.org-deploy files.
local T = require "slipway.testing"
local yaml = require "slipway.yaml"
local fs = require "slipway.fs"
local json = require "slipway.json"

local null = yaml.null
local SHARED = os.getenv("SLIPWAY_SHARED") or "/work/shared"
local SRC = os.getenv("SLIPWAY_SRC") or "."
local MB = SHARED .. "/fixtures/mybinder.org-deploy/"

local function read(p) return fs.read(p) end

-- lines that differ between two texts (assumes the same number of lines)
local function changed_lines(a, b)
  local la, lb = {}, {}
  for l in (a .. "\n"):gmatch("(.-)\n") do la[#la + 1] = l end
  for l in (b .. "\n"):gmatch("(.-)\n") do lb[#lb + 1] = l end
  T.eq(#la, #lb, "line count")
  local out = {}
  for i = 1, #la do if la[i] ~= lb[i] then out[#out + 1] = i end end
  return out
end

-- the diff's -/+ lines
local function diff_body(d)
  local minus, plus = {}, {}
  for line in d:gmatch("[^\n]+") do
    if line:sub(1, 1) == "-" and line:sub(1, 3) ~= "---" then minus[#minus + 1] = line:sub(2) end
    if line:sub(1, 1) == "+" and line:sub(1, 3) ~= "+++" then plus[#plus + 1] = line:sub(2) end
  end
  return minus, plus
end

-- ---- load: schemas ------------------------------------------------------------

T.test("helm schema reads YAML 1.1 scalars as Helm does", function()
  local v = yaml.load([[
b1: yes
b2: off
b3: y
b4: N
b5: True
s1: "yes"
n1: ~
n2: null
n3:
i1: 42
i2: -7
i3: 0o17
i4: 017
i5: 0x1F
i6: 1_000
i7: 0b101
f1: 1.10
f2: .5
f3: 1e3
f4: .inf
f5: -.Inf
f6: .nan
s2: 1.2.3
s3: 0.1.0-856e3e6
big: 123456789012345678901234567890
max: 9223372036854775807
min: -9223372036854775808
]])
  T.eq(v.b1, true); T.eq(v.b2, false); T.eq(v.b3, true); T.eq(v.b4, false); T.eq(v.b5, true)
  T.eq(v.s1, "yes")
  T.eq(v.n1, null); T.eq(v.n2, null); T.eq(v.n3, null)
  T.eq(math.type(v.i1), "integer"); T.eq(v.i1, 42); T.eq(v.i2, -7)
  T.eq(v.i3, 15); T.eq(v.i4, 15); T.eq(v.i5, 31); T.eq(v.i6, 1000); T.eq(v.i7, 5)
  T.eq(math.type(v.f1), "float"); T.eq(v.f1, 1.1); T.eq(v.f2, 0.5); T.eq(v.f3, 1000.0)
  T.eq(math.type(v.f3), "float")
  T.eq(v.f4, math.huge); T.eq(v.f5, -math.huge); T.truthy(v.f6 ~= v.f6)
  T.eq(v.s2, "1.2.3"); T.eq(v.s3, "0.1.0-856e3e6")
  T.eq(v.big, "123456789012345678901234567890", "big integers are kept exactly, as text")
  T.eq(v.max, math.maxinteger); T.eq(v.min, math.mininteger)
end)

T.test("core, json and failsafe schemas", function()
  local text = "a: yes\nb: 017\nc: 0o17\nd: 1_000\ne: True\nf: null\ng: 3\nh: 0x1F\n"
  local c = yaml.load(text, {schema = "core"})
  T.eq(c, {a = "yes", b = 17, c = 15, d = "1_000", e = true, f = null, g = 3, h = 31})
  local j = yaml.load(text, {schema = "json"})
  T.eq(j, {a = "yes", b = "017", c = "0o17", d = "1_000", e = "True", f = null, g = 3, h = "0x1F"})
  local s = yaml.load(text, {schema = "failsafe"})
  T.eq(s, {a = "yes", b = "017", c = "0o17", d = "1_000", e = "True", f = "null", g = "3", h = "0x1F"})
  T.eq(yaml.load("!!int '12'", {schema = "core"}), 12)
  T.eq(yaml.load("!!str 12"), "12")
  T.raises(function() yaml.load("x: 1", {schema = "nope"}) end, "unknown schema")
end)

T.test("mapping keys are strings, as Helm turns them", function()
  local v = yaml.load("1: a\ny: b\nnull: c\n1.5: d\n")
  T.eq(v, {["1"] = "a", ["true"] = "b", ["null"] = "c", ["1.5"] = "d"})
  T.eq(yaml.load("y: b\n", {schema = "core"}), {y = "b"})
end)

T.test("null keeps its key and sequences keep their length", function()
  local v = yaml.load("a: null\nlist: [1, null, ~, 4]\n")
  T.eq(v.a, null)
  T.eq(#v.list, 4)
  T.eq(v.list[2], null)
  T.truthy(yaml.null == json.null, "yaml.null is json.null")
  T.eq(json.encode(v), '{"a":null,"list":[1,null,null,4]}')
end)

T.test("anchors, aliases and merge keys load as Helm reads them", function()
  local v = yaml.load([[
base: &base {a: 1, b: 2}
one:
  <<: *base
  b: 3
two:
  <<: [*base, {c: 4, a: 9}]
sel: *base
list: &l [1, 2]
again: *l
]])
  T.eq(v.one, {a = 1, b = 3})
  T.eq(v.two, {a = 1, b = 2, c = 4})
  T.eq(v.sel, {a = 1, b = 2})
  T.truthy(v.sel ~= v.base, "aliases are copies")
  T.eq(v.again, {1, 2})
  -- core schema: << is an ordinary key
  T.eq(yaml.load("a: &x {k: 1}\nb:\n  <<: *x\n", {schema = "core"}).b, {["<<"] = {k = 1}})
end)

T.test("load_all, load_file and several documents", function()
  local docs = yaml.load_all("---\na: 1\n---\nb: 2\n...\n---\n")
  T.eq(#docs, 3)
  T.eq(docs[1], {a = 1}); T.eq(docs[2], {b = 2}); T.eq(docs[3], null)
  T.eq(yaml.load(""), nil)
  local e = T.raises(function() yaml.load("a: 1\n---\nb: 2\n") end, "load_all")
  T.eq(e.code, "yaml")
  local chart = yaml.load_file(MB .. "mybinder/Chart.yaml")
  T.eq(chart.dependencies[1].name, "binderhub")
  T.eq(chart.version, "0.0.1-set.by.chartpress")
  local err = T.raises(function() yaml.load_file("/nonexistent/x.yaml") end, "nonexistent")
  T.eq(err.code, "ENOENT")
end)

T.test("a NUL byte in a quoted scalar is loaded intact", function()
  local v = yaml.load('a: "x\\0y"\n')
  T.eq(#v.a, 3); T.eq(v.a, "x\0y")
  local back = yaml.load(yaml.dump(v))
  T.eq(back.a, "x\0y")
  local e = T.raises(function() yaml.load("a: x\0y\n") end, "control characters")
  T.eq(e.line, 1)
end)

-- ---- errors -------------------------------------------------------------------

T.test("a parse error names file, line, column, shows the line with a caret", function()
  local e = T.raises(function() yaml.load("a: 1\nb: c: d\n", {file = "values.yaml"}) end)
  T.eq(e.code, "yaml"); T.eq(e.file, "values.yaml"); T.eq(e.line, 2); T.eq(e.column, 5)
  T.match(e.message, "values.yaml:2:5: mapping values are not allowed")
  T.match(e.message, "\n 2 | b: c: d\n   |     %^")
  T.match(e.message, "^[^\n]*yaml_spec.lua:%d+: ", "the message starts with the caller's line")
end)

T.test("tabs in indentation", function()
  local e = T.raises(function() yaml.load("a:\n\tb: 1\n", {file = "t.yaml"}) end)
  T.eq(e.line, 2)
  T.match(e.message, "tab in the indentation")
end)

T.test("merge keys: the loader and the editor's index read them alike (one helper)", function()
  local texts = {
    "base: &base {a: 1, b: 2}\none:\n  <<: *base\n  b: 3\n",
    "base: &base {a: 1, b: 2}\ntwo:\n  <<: [*base, {c: 4, a: 9}]\n  d: 5\n",
    "b: &b {a: 1}\nm:\n  <<: *b\n  a: 2\n",
    "m:\n  <<: {}\n  x: 1\n",
  }
  for _, text in ipairs(texts) do
    T.eq(yaml.edit(text):get(""), yaml.load(text), text)
  end
  for _, bad in ipairs{"m:\n  <<: 3\n", "m:\n  <<: [{a: 1}, 2]\n", "m:\n  <<: [[1]]\n"} do
    local msg = "the value of a merge key %(<<%) must be a mapping or a list of mappings"
    T.raises(function() yaml.load(bad) end, msg)
    T.raises(function() yaml.edit(bad):get("m") end, msg)
  end
  local twice = "b: &b {a: 1}\nm:\n  <<: *b\n  a: 2\n  a: 3\n"
  T.raises(function() yaml.load(twice) end, "duplicate key")
  T.raises(function() yaml.edit(twice):get("m") end, "duplicate key")
end)

T.test("duplicate keys are reported with both lines", function()
  local e = T.raises(function() yaml.load("x: 0\nm:\n  a: 1\n  b: 2\n  a: 3\n", {file = "d.yaml"}) end)
  T.eq(e.line, 5); T.eq(e.first_line, 3)
  T.match(e.message, 'd.yaml:5:3: duplicate key "a" %(first defined at line 3%)')
  e = T.raises(function() yaml.load("on: 1\nyes: 2\n") end)
  T.match(e.message, 'duplicate key "true" %(first defined at line 1%)')
  -- a merged key may be overridden once, but not twice
  T.eq(yaml.load("b: &b {a: 1}\nm:\n  <<: *b\n  a: 2\n").m.a, 2)
end)

T.test("invalid UTF-8 and UTF-16 are clear errors", function()
  local e = T.raises(function() yaml.load("a: b\nc: \xff\xfe\n") end, "UTF%-8")
  T.eq(e.line, 2)
  T.raises(function() yaml.load("\xff\xfea\0:\0") end, "not UTF%-8")
end)

T.test("a truncated file fails where it ends", function()
  local text = read(MB .. "mybinder/values.yaml")
  local cut = text:find('"%-%-Repo2Docker') + 5
  local e = T.raises(function() yaml.load(text:sub(1, cut), {file = "values.yaml"}) end)
  T.eq(e.code, "yaml")
  T.match(e.message, "end of stream")
  T.truthy(e.line >= 238, "line of the truncation")
  T.raises(function() yaml.load("a: [1, 2\n") end, "yaml")
  T.raises(function() yaml.load("a: {b: 1\n") end)
end)

T.test("every truncation of a real file loads or fails cleanly", function()
  local text = read(MB .. "config/prod.yaml") .. read(MB .. "mybinder/Chart.yaml"):gsub("^", "---\n")
  local loaded, failed = 0, 0
  for cut = 1, #text, 37 do
    local part = text:sub(1, cut)
    local ok, err = pcall(yaml.load_all, part)
    if ok then loaded = loaded + 1 else
      failed = failed + 1
      T.eq(err.code, "yaml", "cut at " .. cut)
      T.truthy(err.line >= 1 and err.column >= 1, "position")
    end
    local ok2, doc = pcall(yaml.edit, part)
    T.eq(ok2, ok, "edit and load agree at cut " .. cut)
    if ok2 then T.eq(doc:text(), part) end
  end
  T.truthy(loaded > 0 and failed > 0, "both outcomes seen")
end)

T.test("collection keys nested to max_depth load in memory that grows with the text, not its cube (found by make fuzz)", function()
  -- "- ? - ? ... a": each level's key is all the levels inside it; their
  -- canonical texts (for duplicate keys) were made again at every level:
  -- 2 KB of text took 564 MB (the collector is paused for a load)
  local text = string.rep("- ? ", 499) .. "a\n"
  collectgarbage()
  local before = collectgarbage("count")
  collectgarbage("stop")
  local ok, v = pcall(yaml.load, text)
  local grew = collectgarbage("count") - before
  collectgarbage("restart")
  T.truthy(ok, tostring(v))
  T.truthy(grew < 32 * 1024, string.format("%.1f MB for %d bytes of YAML", grew / 1024, #text))
  -- the keys are still told apart by value, however deep
  local e = T.raises(function() yaml.load("? [[a], {b: [c]}]\n: 1\n? [[a], {b: [c]}]\n: 2\n") end,
    "duplicate key")
  T.eq(e.code, "yaml")
  T.eq(yaml.load("? [[a], {b: [c]}]\n: 1\n? [[a], {b: [d]}]\n: 2\n") ~= nil, true)
end)

T.test("billion laughs fails fast", function()
  local lines = {"a0: &a0 [lol, lol, lol, lol, lol, lol, lol, lol, lol, lol]"}
  for i = 1, 9 do
    local refs = {}
    for _ = 1, 10 do refs[#refs + 1] = "*a" .. (i - 1) end
    lines[#lines + 1] = string.format("a%d: &a%d [%s]", i, i, table.concat(refs, ", "))
  end
  local text = table.concat(lines, "\n") .. "\n"
  -- fails before expanding: 10^10 nodes would exhaust time and memory first
  local e = T.raises(function() yaml.load(text) end, "max_aliases")
  T.eq(e.code, "yaml")
  -- the edit index refuses to expand it too
  local doc = yaml.edit(text)
  T.raises(function() doc:get("a9") end, "max_aliases")
  -- a small legitimate expansion is fine, and the limit is settable
  T.eq(#yaml.load(table.concat(lines, "\n", 1, 2), {max_aliases = 1000}).a1, 10)
  T.raises(function() yaml.load(table.concat(lines, "\n", 1, 2), {max_aliases = 50}) end, "max_aliases")
end)

T.test("10,000-deep nesting is refused, the limit is settable", function()
  local flow = ("["):rep(10000) .. ("]"):rep(10000)
  local e = T.raises(function() yaml.load(flow) end, "max_depth")
  T.eq(e.line, 1)
  local block = {}
  for i = 0, 9999 do block[#block + 1] = (" "):rep(i) .. "a:" end
  T.raises(function() yaml.load(table.concat(block, "\n")) end, "max_depth")
  T.raises(function() yaml.edit(flow) end, "max_depth")
  local v = yaml.load(flow, {max_depth = 20000})
  local depth = 0
  while type(v) == "table" and v[1] do v = v[1]; depth = depth + 1 end
  T.eq(depth, 9999)
  T.raises(function() yaml.load("a: 1", {max_size = 2}) end, "max_size")
end)

-- ---- dump ----------------------------------------------------------------------

T.test("dump is deterministic, block style, quotes what would change type", function()
  local v = {
    name = "x", no = "no", ver = "1.10", oct = "0o17", nul = "null", empty = "",
    t = true, n = 3, f = 2.0, list = {"on", "y", "1e3", "a: b", "#x", " lead"},
    nested = {b = {c = {}}, a = setmetatable({}, yaml.sequence_mt)}, z = null,
    date = "2024-01-02", big = "123456789012345678901234567890",
  }
  local text = yaml.dump(v)
  T.eq(text, [[
big: "123456789012345678901234567890"
date: "2024-01-02"
empty: ""
f: 2.0
list:
  - "on"
  - "y"
  - "1e3"
  - "a: b"
  - "#x"
  - " lead"
"n": 3
name: x
nested:
  a: []
  b:
    c: {}
"no": "no"
nul: "null"
oct: "0o17"
t: true
ver: "1.10"
z: null
]])
  T.eq(yaml.dump(v), text, "same output twice")
  for _, schema in ipairs {"helm", "core"} do
    T.eq(yaml.load(text, {schema = schema}), v, "round trip under " .. schema)
  end
  T.eq(yaml.dump({kind = "Pod", apiVersion = "v1", metadata = {name = "p"}}, {order = {"apiVersion", "kind"}}),
    "apiVersion: v1\nkind: Pod\nmetadata:\n  name: p\n")
  T.eq(yaml.dump("multi\nline\n"), "|\n  multi\n  line\n")
  T.eq(yaml.dump_all({{a = 1}, {b = 2}}), "---\na: 1\n---\nb: 2\n")
  T.raises(function() yaml.dump({[1] = "a", [3] = "b"}) end, "keys must be strings")
  T.raises(function() yaml.dump({f = print}) end, "cannot write a function")
  local cyc = {}; cyc.self = cyc
  T.raises(function() yaml.dump(cyc) end, "contains itself")
  T.raises(function() yaml.dump({s = "\xff"}) end, "UTF%-8")
end)

T.test("dump writes a key longer than an implicit key may be as an explicit '? KEY' (found by make fuzz)", function()
  -- past 1024 characters libyaml reads "KEY: value" as "mapping values are
  -- not allowed in this context": the dump did not load back
  local k = string.rep("k", 1025)
  T.eq(yaml.dump({[k] = 1}), "? " .. k .. "\n: 1\n")
  T.eq(yaml.dump({{[k] = {a = {1}}}}), "- ? " .. k .. "\n  :\n    a:\n      - 1\n")
  T.eq(yaml.dump({[string.rep("k", 1024)] = 1}), string.rep("k", 1024) .. ": 1\n", "1024 still implicit")
  for _, v in ipairs{{[k] = "x\ny\n"}, {x = {[k] = {}}}, {[string.rep("é", 600)] = {1, 2}}} do
    T.eq(yaml.load(yaml.dump(v)), v)
  end
  T.eq(yaml.load(yaml.dump({{[k] = "x"}}))[1][k], "x")
end)

T.test("dump then load gives the same data for the real files", function()
  for _, f in ipairs {"mybinder/values.yaml", "mybinder/Chart.yaml", "config/prod.yaml",
                      "config/staging.yaml", "history/requirements-2020.yaml"} do
    local v = yaml.load_file(MB .. f)
    T.eq(yaml.load(yaml.dump(v)), v, f)
    T.eq(yaml.load(yaml.dump(v), {schema = "core"}), v, f .. " (core)")
  end
end)

-- ---- merge ---------------------------------------------------------------------

T.test("merge works like helm -f a -f b", function()
  local base = {a = {x = 1, y = {1, 2}, keep = true}, s = "s", gone = 1}
  local over = {a = {x = 2, y = {3}}, gone = null, new = {k = "v"}}
  local m = yaml.merge(base, over, nil, {s = "t"})
  T.eq(m, {a = {x = 2, y = {3}, keep = true}, s = "t", new = {k = "v"}})
  T.eq(base.a.x, 1, "inputs untouched")
  local values = yaml.load_file(MB .. "mybinder/values.yaml")
  local prod = yaml.load_file(MB .. "config/prod.yaml")
  local merged = yaml.merge(values, prod)
  T.eq(merged.binderhub.config.BinderHub.pod_quota, 0)
  T.eq(merged.binderhub.config.KubernetesBuildExecutor.build_image,
    values.binderhub.config.KubernetesBuildExecutor.build_image)
  T.eq(merged.binderhub.ingress.hosts, {"gke.mybinder.org", "gke2.mybinder.org"})
end)

-- ---- lossless edits on the real files --------------------------------------------------

T.test("bump the binderhub chart in Chart.yaml: one changed line", function()
  local path = MB .. "mybinder/Chart.yaml"
  local before = read(path)
  local doc = yaml.open(path)
  T.eq(doc:get("dependencies[name=binderhub].version"), "1.0.0-0.dev.git.3983.h383374de")
  doc:set("dependencies[name=binderhub].version", "1.0.0-0.dev.git.4012.h1234abcd")
  local lines = changed_lines(before, doc:text())
  T.eq(#lines, 1)
  local minus, plus = diff_body(doc:diff())
  T.eq(minus, {'    version: "1.0.0-0.dev.git.3983.h383374de"'})
  T.eq(plus, {'    version: "1.0.0-0.dev.git.4012.h1234abcd"'})
  T.eq(doc:get("dependencies[0].version"), "1.0.0-0.dev.git.4012.h1234abcd")
end)

T.test("bump binderhub in both history/requirements files (1-space list indent)", function()
  for _, f in ipairs {"history/requirements-2018.yaml", "history/requirements-2020.yaml"} do
    local before = read(MB .. f)
    local doc = yaml.open(MB .. f)
    local old = doc:get("dependencies[name=binderhub].version")
    doc:set("dependencies[name=binderhub].version", "0.2.0-n999.habcdef0")
    T.eq(#changed_lines(before, doc:text()), 1, f)
    local minus, plus = diff_body(doc:diff())
    T.eq(minus, {"   version: " .. old}, f)
    T.eq(plus, {"   version: 0.2.0-n999.habcdef0"}, f)
    -- an appended dependency follows the 1-space indent of its siblings
    doc:append("dependencies", {name = "x", version = "1.0.0", repository = "https://example.org"})
    T.match(doc:text(), "\n %- name: x\n   repository: https://example.org\n   version: 1%.0%.0\n$", f)
  end
end)

T.test("bump the repo2docker image in values.yaml: one changed line", function()
  local path = MB .. "mybinder/values.yaml"
  local before = read(path)
  local doc = yaml.open(path)
  local p = "binderhub.config.KubernetesBuildExecutor.build_image"
  T.eq(doc:get(p), "quay.io/jupyterhub/repo2docker:2026.4.1.dev44-g97bb4e45a")
  doc:set(p, "quay.io/jupyterhub/repo2docker:2026.5.0-3.gabcdef")
  local lines = changed_lines(before, doc:text())
  T.eq(#lines, 1)
  local minus, plus = diff_body(doc:diff())
  T.eq(#minus, 1); T.eq(#plus, 1)
  T.eq(plus[1], "      build_image: quay.io/jupyterhub/repo2docker:2026.5.0-3.gabcdef")
  -- the data changed at exactly that path
  local a, b = yaml.load(before), yaml.load(doc:text())
  b.binderhub.config.KubernetesBuildExecutor.build_image = a.binderhub.config.KubernetesBuildExecutor.build_image
  T.eq(a, b)
end)

T.test("append and insert in values.yaml match the hand-written expected file", function()
  local doc = yaml.open(MB .. "mybinder/values.yaml")
  doc:append("binderhub.config.KubernetesBuildExecutor.repo2docker_extra_args", "--Repo2Docker.user_id=1000")
  doc:insert("binderhub.config.KubernetesCleaner", "interval", 600)
  doc:insert("binderhub.config.KubernetesBuildExecutor.resources.limits", "nvidia.com/gpu", "1")
  doc:append("binderhub.jupyterhub.singleuser.storage.extraVolumes", {name = "scratch", emptyDir = {}})
  doc:set("binderhub.jupyterhub.singleuser.initContainers.0.image", "jupyterhub/mybinder.org-tc-init:1.2.3")
  doc:insert("federationRedirect.hosts", "gesis", {url = "https://gesis.mybinder.org", weight = 10})
  local want = read(SRC .. "/tests/fixtures/yaml/values-edited.yaml")
  T.eq(doc:text(), want)
end)

T.test("a refused edit names a huge anchor and many aliases in a message of bounded length", function()
  local name = string.rep("a", 70000)
  local lines = {"base: &" .. name .. " {x: 1}"}
  for i = 1, 8 do lines[#lines + 1] = "use" .. i .. ": *" .. name end
  local doc = yaml.edit(table.concat(lines, "\n") .. "\n")
  local e = T.raises(function() doc:set("base.x", 2) end)
  T.truthy(#e.message < 1000, "a message of " .. #e.message .. " bytes")
  T.match(e.message, "anchored node &a+%.%.%. %(70000 bytes%)")
  T.match(e.message, "use5 %(line 6%) and 3 more")
  T.eq(#e.aliases, 8, "the error's field keeps every alias")
  e = T.raises(function() doc:set("use1.x", 2) end)
  T.truthy(#e.message < 1000, "a message of " .. #e.message .. " bytes")
  T.match(e.message, "is the alias %*a+%.%.%. %(70000 bytes%)")
end)

T.test("prod.yaml: anchors and aliases have defined edit behaviour", function()
  local path = MB .. "config/prod.yaml"
  local before = read(path)
  local doc = yaml.open(path)
  -- reading through an alias follows it
  T.eq(doc:get("binderhub.nodeSelector"), {["mybinder.org/pool-type"] = "core"})
  T.eq(doc:get('binderhub.nodeSelector["mybinder.org/pool-type"]'), "core")
  -- editing through an alias is refused, naming the anchored node
  local e = T.raises(function() doc:set('binderhub.nodeSelector["mybinder.org/pool-type"]', "x") end)
  T.eq(e.code, "path")
  T.match(e.message, "alias %*coreNodeSelector")
  T.match(e.message, 'anchored node &coreNodeSelector at "coreNodeSelector" %(line 5%)')
  -- editing the anchored node is refused while aliases use it...
  e = T.raises(function() doc:set('userNodeSelector["mybinder.org/pool-type"]', "gpu") end)
  T.eq(e.code, "edit")
  T.match(e.message, "binderhub.config.BinderHub.build_node_selector %(line 24%)")
  T.eq(doc:text(), before, "nothing changed")
  -- ...unless asked: then every alias changes with it, and we are told which
  local paths = doc:set('userNodeSelector["mybinder.org/pool-type"]', "gpu", {shared = true})
  T.eq(paths, {"binderhub.config.BinderHub.build_node_selector (line 24)",
               "binderhub.jupyterhub.singleuser.nodeSelector (line 59)"})
  local v = yaml.load(doc:text())
  T.eq(v.binderhub.jupyterhub.singleuser.nodeSelector["mybinder.org/pool-type"], "gpu")
  T.eq(#changed_lines(before, doc:text()), 1)
  -- replacing an alias node itself changes only that key
  local doc2 = yaml.open(path)
  doc2:set("binderhub.config.BinderHub.build_node_selector", {["mybinder.org/pool-type"] = "builds"})
  local minus, plus = diff_body(doc2:diff())
  T.eq(minus, {"      build_node_selector: *userNodeSelector"})
  T.eq(plus, {"      build_node_selector:", '        mybinder.org/pool-type: builds'})
  local a, b = yaml.load(before), yaml.load(doc2:text())
  T.eq(b.binderhub.jupyterhub.singleuser.nodeSelector["mybinder.org/pool-type"], "users")
  a.binderhub.config.BinderHub.build_node_selector["mybinder.org/pool-type"] = "builds"
  T.eq(a, b)
  -- a plain edit in prod.yaml
  doc2:set("binderhub.config.BinderHub.pod_quota", 10)
  T.eq(doc2:get("binderhub.config.BinderHub.pod_quota"), 10)
end)

-- ---- lossless edits: the rules -------------------------------------------------------------

T.test("set keeps quoting when it can and changes it to keep the type", function()
  local doc = yaml.edit("a: 'x'\nb: \"y\"\nc: z\nd: 1\ne: \"2\"\n")
  doc:set("a", "it's")
  doc:set("b", "1.10")
  doc:set("c", "1.10")
  doc:set("d", "no")
  doc:set("e", 3)
  T.eq(doc:text(), "a: 'it''s'\nb: \"1.10\"\nc: \"1.10\"\nd: \"no\"\ne: 3\n")
  T.eq(yaml.load(doc:text()), {a = "it's", b = "1.10", c = "1.10", d = "no", e = 3})
  doc:set("c", "plain-again")  -- stays double-quoted, as it now is
  T.match(doc:text(), '\nc: "plain%-again"\n')
  doc:set("d", true)
  doc:set("e", null)
  T.eq(yaml.load(doc:text()), {a = "it's", b = "1.10", c = "plain-again", d = true, e = null})
end)

T.test("comments, blank lines, CRLF, BOM and a missing final newline stay", function()
  local text = "\xEF\xBB\xBF# c\r\na: 1 # one\r\n\r\nlist:\r\n- x\r\n- v # why\r\nb: |\r\n  k\r\n  l\r\nz: end"
  local doc = yaml.edit(text)
  doc:set("a", 2)
  doc:append("list", "w")
  doc:set("b", "m\nn\n")
  doc:insert("", "q", "r")
  T.eq(doc:text(), "\xEF\xBB\xBF# c\r\na: 2 # one\r\n\r\nlist:\r\n- x\r\n- v # why\r\n- w\r\nb: |\r\n  m\r\n  n\r\nz: end\r\nq: r")
  T.eq(yaml.load(doc:text()), {a = 2, list = {"x", "v", "w"}, b = "m\nn\n", z = "end", q = "r"})
  -- multibyte characters before the edited node (marks count characters)
  local d2 = yaml.edit("title: \"héllo wörld ✓\"\nv: 1\n")
  d2:set("v", 2)
  T.eq(d2:text(), "title: \"héllo wörld ✓\"\nv: 2\n")
end)

T.test("opening and saving unchanged is byte-identical; save is atomic and keeps the mode", function()
  local dir = fs.tempdir()
  for _, f in ipairs {"mybinder/values.yaml", "config/prod.yaml", "history/requirements-2020.yaml"} do
    local p = dir .. "/" .. f:gsub("/", "_")
    fs.write(p, read(MB .. f), {mode = tonumber("640", 8)})
    yaml.open(p):save()
    T.eq(read(p), read(MB .. f), f)
  end
  local p = dir .. "/config_prod.yaml"
  local doc = yaml.open(p)
  doc:set("binderhub.config.BinderHub.pod_quota", 5)
  doc:save()
  T.eq(fs.stat(p).mode & tonumber("777", 8), tonumber("640", 8))
  T.eq(yaml.load_file(p).binderhub.config.BinderHub.pod_quota, 5)
  T.eq(fs.list(dir), {"config_prod.yaml", "history_requirements-2020.yaml", "mybinder_values.yaml"},
    "no temp file left")
end)

T.test("paths: indices, quoted keys, filters, documents; clear errors", function()
  local doc = yaml.edit([[
spec:
  initContainers:
    - image: a
    - image: b
  annotations:
    example.com/x: "1"
deps:
  - {name: a, version: 1}
  - {name: b, version: 2}
  - {name: b, version: 3}
]], {file = "p.yaml"})
  T.eq(doc:get("spec.initContainers.1.image"), "b")
  T.eq(doc:get("spec.initContainers[0].image"), "a")
  T.eq(doc:get("spec.initContainers[-1].image"), "b")
  T.eq(doc:get('spec.annotations["example.com/x"]'), "1")
  T.eq(doc:get({"spec", "initContainers", 1, "image"}), "b")
  T.eq(doc:get("deps[name=a].version"), 1)
  doc:set("deps[name=a].version", 5)
  T.match(doc:text(), "{name: a, version: 5}")
  local e = T.raises(function() doc:get("deps[name=b].version") end)
  T.eq(e.code, "path")
  T.match(e.message, '2 items of deps %(line 8%) have name=b; their name values: "a", "b", "b"')
  e = T.raises(function() doc:get("spec.nope") end)
  T.match(e.message, 'no key "nope" in spec %(line 2%); keys there: initContainers, annotations')
  T.raises(function() doc:get("spec.initContainers[5]") end, "has 2 items; no index 5")
  T.raises(function() doc:set("spec.initContainers.0.image.x", 1) end, "not a mapping")
  local multi = yaml.edit("kind: A\nv: 1\n---\nkind: B\nv: 2\n")
  T.raises(function() multi:get("v") end, "2 documents")
  T.eq(multi:get("v", {doc = 2}), 2)
  T.eq(multi:get("v", {doc = {kind = "A"}}), 1)
  multi:set("v", 3, {doc = {kind = "B"}})
  T.eq(multi:text(), "kind: A\nv: 1\n---\nkind: B\nv: 3\n")
end)

T.test("insert, append and delete follow siblings; flow collections too", function()
  local doc = yaml.edit([[
a:
    b: 1
    c: [1, 2]
    d: {}
list:
- x
- w: 1
  z: 2
tail: 1
]])
  doc:insert("a", "e", {f = {1, 2}})
  doc:append("a.c", 3)
  doc:insert("a.d", "k", "v")
  doc:append("list", {w = 3})
  doc:delete("list[1]")
  doc:delete("a.b")
  T.eq(doc:text(), [[
a:
    c: [1, 2, 3]
    d: {k: v}
    e:
        f:
            - 1
            - 2
list:
- x
- w: 3
tail: 1
]])
  T.raises(function() doc:insert("a", "c", 1) end, "the key exists")
  T.raises(function() doc:append("tail", 1) end, "not a sequence")
  doc:delete("a.d.k")
  T.match(doc:text(), "d: {}")
  doc:delete("list[0]")
  doc:delete("list[0]")
  T.match(doc:text(), "\nlist: %[%]\n")
  T.eq(yaml.load(doc:text()).list, {})
end)

T.test("a refused edit changes nothing", function()
  -- the block scalar keeps its own trailing lines: an edit that would make
  -- the re-parse differ elsewhere is refused
  local doc = yaml.edit("a: 1\nb: 2\n")
  local before = doc:text()
  -- a key that is not a string cannot be inserted; an edit that the verifier
  -- rejects (simulated by a bad commit) leaves the text alone
  local e = T.raises(function() doc:commit("a: 1\nb: 3\nc: 4\n", 4, 6, {{value = 3}}, "test") end)
  T.eq(e.code, "edit")
  T.match(e.message, "refused, nothing changed")
  T.eq(doc:text(), before)
end)

T.run()
