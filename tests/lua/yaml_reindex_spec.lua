-- slipway.yaml edits re-index only a window of the text around the edit and
-- splice it into the index (core.reindex, issue 17). After every edit the
-- spliced index must be exactly the index of the whole new text; a refused
-- edit must leave the index as it was; and where no window applies the
-- whole text is indexed as before.
local T = require "slipway.testing"
local yaml = require "slipway.yaml"
local core = require "slipway.yaml.core"
local fs = require "slipway.fs"

local SHARED = os.getenv("SLIPWAY_SHARED") or "/work/shared"
local FULL = SHARED .. "/fixtures/mybinder.org-deploy-full"

-- every field of every node of two indexes equal
local function same_index(a, b, what)
  T.eq(a:count(), b:count(), what .. ": node count")
  for i = 1, a:count() do
    local x, y = a:node(i), b:node(i)
    for k, v in pairs(x) do
      if y[k] ~= v then T.eq(v, y[k], string.format("%s: node %d (line %s) field %s", what, i, x.line, k)) end
    end
    for k in pairs(y) do
      if x[k] == nil then T.eq(nil, y[k], string.format("%s: node %d field %s", what, i, k)) end
    end
  end
end

-- count what core.reindex answered while fn runs
local function counting(fn)
  local real, seen = core.reindex, {}
  core.reindex = function(...)
    local st, a, b = real(...)
    seen[st] = (seen[st] or 0) + 1
    return st, a, b
  end
  local ok, err = pcall(fn)
  core.reindex = real
  if not ok then error(err, 0) end
  return seen
end

-- apply each edit (some may be refused) and check the index after each
local function check_edits(text, edits, what)
  local doc = yaml.edit(text)
  for k, e in ipairs(edits) do
    pcall(e, doc)
    same_index(doc.idx, assert(core.index(doc:text())), string.format("%s, edit %d", what, k))
  end
  return doc
end

local MANIFESTS = [[
# leading comment
apiVersion: v1
kind: ConfigMap
metadata:
  name: one
data:
  a: "1"
  block: |
    line one
    line two
---
apiVersion: apps/v1
kind: Deployment
metadata:
  name: two
  labels: {app: two}
spec:
  replicas: 1
  template:
    spec:
      containers:
      - name: c
        args: ["--x", y]
        ports:
          - containerPort: 80
---
# third
apiVersion: v1
kind: Service
metadata:
  name: three
spec:
  ports:
  - port: 80
]]

T.test("edits of a multi-document text index like the whole new text, through the window", function()
  local seen = counting(function()
    check_edits(MANIFESTS, {
      function(d) d:set("metadata.name", "uno", {doc = 1}) end,
      function(d) d:set("data.block", "new\nblock\n", {doc = 1}) end,
      function(d) d:set("apiVersion", "v2", {doc = 1}) end,
      function(d) d:insert("", "zzz", {1, 2}, {doc = 1}) end,
      function(d) d:delete("zzz", {doc = 1}) end,
      function(d) d:append("spec.template.spec.containers[0].args", "--z", {doc = 2}) end,
      function(d) d:set("spec.template.spec.containers[0].ports[0].containerPort", 8080, {doc = 2}) end,
      function(d) d:insert("metadata.labels", "tier", "web", {doc = 2}) end,
      function(d) d:set("spec.replicas", {a = 1, b = {2, 3}}, {doc = 2}) end,
      function(d) d:delete("apiVersion", {doc = 3}) end,
      function(d) d:insert("", "apiVersion", "v9", {doc = 3}) end,
      function(d) d:set("spec.ports", {}, {doc = 3}) end,
      function(d) d:delete("metadata", {doc = 2}) end,
      function(d) d:set("kind", "first: not a key", {doc = 2}) end,
    }, "manifests")
  end)
  T.eq(seen.full, nil, "every edit of this text has a window")
  T.truthy((seen.spliced or 0) >= 14, "spliced edits")
end)

T.test("edits of one big mapping index like the whole new text, through the window", function()
  local parts = {"# values\n"}
  for c = 1, 6 do
    parts[#parts + 1] = string.format(
      "component%d:\n  enabled: true\n  image:\n    tag: \"v%d\"\n  hosts: [a%d.org, b.org]\n  # note\n  list:\n  - x\n\n", c, c, c)
  end
  local edits = {}
  for c = 1, 5 do
    local p = "component" .. c
    edits[#edits + 1] = function(d) d:set(p .. ".image.tag", "t" .. c) end
    edits[#edits + 1] = function(d) d:append(p .. ".hosts", "h.example.org") end
    edits[#edits + 1] = function(d) d:append(p .. ".list", {k = "v"}) end
    edits[#edits + 1] = function(d) d:delete(p .. ".image") end
    edits[#edits + 1] = function(d) d:insert(p, "image", {tag = "x"}) end
    edits[#edits + 1] = function(d) d:set(p, "scalar now") end
    edits[#edits + 1] = function(d) d:delete(p) end  -- the first key each time
  end
  local doc
  local seen = counting(function() doc = check_edits(table.concat(parts), edits, "values") end)
  T.eq(seen.full, nil, "every edit of this text has a window")
  T.truthy((seen.spliced or 0) >= 35, "spliced edits")
  T.eq(doc:get("component6.image.tag"), "v6")
  T.eq(doc:has("component1"), false)
end)

T.test("a text with anchors, directives and flow roots re-indexes whole documents or the whole text", function()
  local text = "%YAML 1.1\n---\nbase: &b {x: 1}\nuse: *b\nother: 2\n...\n---\n[1, 2, 3]\n---\nk: v\n"
  local seen = counting(function()
    check_edits(text, {
      function(d) d:set("other", 3, {doc = 1}) end,
      function(d) d:set("base.x", 5, {doc = 1, shared = true}) end,
      function(d) d:append("", 4, {doc = 2}) end,
      function(d) d:set("k", "w", {doc = 3}) end,
    }, "anchors")
  end)
  T.truthy((seen.full or 0) + (seen.spliced or 0) >= 4, "re-indexed")
end)

T.test("the real mybinder.org-deploy files: a value set in every file indexes like the whole text", function()
  local files = {"/config/prod.yaml", "/config/staging.yaml", "/mybinder/values.yaml"}
  local n = 0
  for _, f in ipairs(files) do
    local path = FULL .. f
    if fs.exists(path) then
      local doc = yaml.edit(fs.read(path))
      local root = doc:get("")
      for k, v in pairs(root) do
        if type(v) ~= "table" then
          doc:set(k, "edited-" .. k)
          n = n + 1
        end
      end
      for k in pairs(root) do
        if doc:has(k) and type(doc:get(k)) == "table" then
          -- shared: pairs() may pick an anchored mapping (prod.yaml's
          -- &coreNodeSelector), which a plain insert refuses by design
          doc:insert(k, "zz_added", 1, {shared = true})
          n = n + 1
          break
        end
      end
      same_index(doc.idx, assert(core.index(doc:text())), f)
    end
  end
  if n == 0 then T.skip("no mybinder.org-deploy fixture at " .. FULL) end
end)

T.test("core.undo puts a spliced index back exactly", function()
  local idx = assert(core.index(MANIFESTS))
  local before = assert(core.index(MANIFESTS))
  local new = MANIFESTS:gsub("name: two", "name: deux")
  -- the scalar "two" is node i (1-based): find it
  local i
  for k = 1, idx:count() do
    local n = idx:node(k)
    if n.value == "two" and not i then i = k end
  end
  local st, undo, j1 = core.reindex(idx, new, i, i + 1)
  T.eq(st, "spliced")
  T.eq(j1, i + 1)
  same_index(idx, assert(core.index(new)), "spliced")
  T.eq(idx:node(i).value, "deux")
  core.undo(idx, undo)
  same_index(idx, before, "undone")
  T.raises(function() core.undo(idx, undo) end, "already undone")
end)

T.test("a node that changed outside the edit is named; a window that does not parse falls back", function()
  local idx = assert(core.index(MANIFESTS))
  local i
  for k = 1, idx:count() do if idx:node(k).value == "two" and not i then i = k end end
  -- two values changed, the edit claims one: the other differs
  local new = MANIFESTS:gsub("name: two", "name: deux"):gsub("replicas: 1", "replicas: 2")
  local st, la, lb = core.reindex(idx, new, i, i + 1)
  T.eq(st, "differs")
  T.eq(la, 18)
  T.eq(lb, 18)
  -- an unclosed flow sequence: the whole text decides (and fails to parse)
  st = core.reindex(idx, (MANIFESTS:gsub("labels: {app: two}", "labels: [app")), i, i + 1)
  T.eq(st, "full")
  same_index(idx, assert(core.index(MANIFESTS)), "untouched")
end)

-- The index keeps most values as slices of the text (no copy) and the rest
-- (escapes, folded lines, block scalars), tags, anchors and long columns in
-- a record of its own: every kind reads back the same, also after edits
-- that move them.
local MIXED = table.concat({
  "\xEF\xBB\xBFplain: value here",
  "single: 'quoted'",
  "doubled: 'it''s'",
  'double: "two words"',
  'escaped: "tab\\there"',
  "multi: first",
  "  second",
  "block: |",
  "  line one",
  "  line two",
  "folded: >-",
  "  a",
  "  b",
  "anchored: &anc value",
  "tagged: !!str 12",
  "both: &b2 !custom text",
  "alias: *anc",
  "empty:",
  "quoted_empty: ''",
  "map: &m {k: v}",
  "long: [" .. ("x, "):rep(22000) .. "last]",
  "tail: end",
  "",
}, "\r\n")

T.test("index values: slices of the text and the ones kept apart read back the same", function()
  local idx = assert(core.index(MIXED))
  local by = {}
  for i = 1, idx:count() do
    local n = idx:node(i)
    if n.kind == "scalar" and idx:node(n.parent).kind == "mapping" then
      local kids = idx:children(n.parent)
      for k = 1, #kids, 2 do if kids[k + 1] == i then by[idx:node(kids[k]).value] = n end end
    end
    if n.kind == "alias" then by["*"] = n end
  end
  T.eq(by.plain.value, "value here")
  T.eq(by.plain.col, 8)
  T.eq(by.single.value, "quoted")
  T.eq(by.doubled.value, "it's")
  T.eq(by.double.value, "two words")
  T.eq(by.escaped.value, "tab\there")
  T.eq(by.multi.value, "first second")
  T.eq(by.block.value, "line one\nline two\n")
  T.eq(by.folded.value, "a b")
  T.eq(by.anchored.value, "value")
  T.eq(by.anchored.anchor, "anc")
  T.eq(MIXED:sub(by.anchored.vstart, by.anchored.stop), "value")
  T.eq(by.tagged.value, "12")
  T.eq(by.tagged.tag, "tag:yaml.org,2002:str")
  T.eq(by.both.tag, "!custom")
  T.eq(by.both.anchor, "b2")
  T.eq(by.both.value, "text")
  T.eq(by["*"].alias, "anc")
  T.eq(by.empty.value, "")
  T.eq(by.quoted_empty.value, "")
  T.eq(by.tail.value, "end")
  -- the last item of the long flow sequence: a column past 65535
  local last
  for i = 1, idx:count() do if idx:node(i).value == "last" then last = idx:node(i) end end
  T.eq(last.col, #"long: [" + #("x, "):rep(22000) + 1)
  T.eq(yaml.load(MIXED, {schema = "failsafe"}).long[22001], "last")
  T.eq(idx:data(last.index), "last")
end)

T.test("edits before kept-apart values move them with the text", function()
  local doc = check_edits(MIXED, {
    function(d) d:set("plain", "a much longer value than before") end,
    function(d) d:set("single", "x") end,
    function(d) d:set("escaped", "new\tvalue") end,
    function(d) d:set("anchored", "changed", {shared = true}) end,
    function(d) d:set("tail", "finish") end,
  }, "mixed")
  local v = yaml.load(doc:text())
  T.eq(v.plain, "a much longer value than before")
  T.eq(v.escaped, "new\tvalue")
  T.eq(v.alias, "changed")
  T.eq(v.both, "text")
  T.eq(v.long[22001], "last")
  T.eq(v.tail, "finish")
end)

T.test("idx:find names the keys that read as a key, as the loader makes them", function()
  local text = "1: int\n'1': quoted\ntrue: bool\nTrue: bool2\n~: null\nplain: p\n<<: {m: 1}\n"
  local idx = assert(core.index(text))
  local map = idx:children(1)[1]
  local function lines(key)
    local found, merge = idx:find(map, key)
    local out = {}
    for _, k in ipairs(found) do out[#out + 1] = idx:node(k).line end
    return table.concat(out, ","), merge and idx:node(merge).line
  end
  T.eq((lines("1")), "1,2")
  T.eq((lines("true")), "3,4")
  T.eq((lines("null")), "5")
  T.eq((lines("plain")), "6")
  T.eq((lines("absent")), "")
  T.eq(select(2, lines("plain")), 7)
  -- a scalar has no keys; the merged mapping has its own
  T.eq(#idx:find(idx:children(map)[12], "m"), 0)
  T.eq(#idx:find(idx:children(map)[14], "m"), 1)
end)

T.run()
