-- slipway.path: the one reader of the path syntax (docs/path.md). Parsing,
-- the round trip parse -> format -> parse, errors with the column of the
-- bad character, and get on loaded trees agreeing with the YAML editor.
local T = require "slipway.testing"
local path = require "slipway.path"
local yaml = require "slipway.yaml"
local json = require "slipway.json"

T.test("parse: keys, indices, negative indices, bare numbers, filters, quoted keys", function()
  T.eq(path.parse("a.b.c"), {{key = "a"}, {key = "b"}, {key = "c"}})
  T.eq(path.parse("list[3].x"), {{key = "list"}, {index = 3}, {key = "x"}})
  T.eq(path.parse("containers[-1].image"), {{key = "containers"}, {index = -1}, {key = "image"}})
  T.eq(path.parse("initContainers.0.image"), {{key = "initContainers"}, {num = 0, key = "0"}, {key = "image"}})
  T.eq(path.parse("dependencies[name=binderhub].version"),
    {{key = "dependencies"}, {filter = {"name", "binderhub"}}, {key = "version"}})
  T.eq(path.parse('deps[name="a]b"]'), {{key = "deps"}, {filter = {"name", "a]b"}}})
  T.eq(path.parse('metadata.annotations["example.com/version"]'),
    {{key = "metadata"}, {key = "annotations"}, {key = "example.com/version"}})
  T.eq(path.parse("a['example.com/x'].b"), {{key = "a"}, {key = "example.com/x"}, {key = "b"}})
  T.eq(path.parse('a["q\\"uote\\\\d"]'), {{key = "a"}, {key = 'q"uote\\d'}})
  T.eq(path.parse('["a.b"]'), {{key = "a.b"}})
  T.eq(path.parse("[0]"), {{index = 0}})
  T.eq(path.parse(""), {})
  -- a table of keys and indices
  T.eq(path.parse({"spec", "containers", -1, "image"}),
    {{key = "spec"}, {key = "containers"}, {index = -1}, {key = "image"}})
  T.eq(math.type(path.parse("a[2]")[2].index), "integer")
end)

T.test("format: parse(format(parse(p))) == parse(p), and the canonical text", function()
  local cases = {
    {"a.b.c", "a.b.c"},
    {"list[3].x", "list[3].x"},
    {"list.3.x", "list.3.x"},
    {"containers[-1].image", "containers[-1].image"},
    {"dependencies[name=binderhub].version", "dependencies[name=binderhub].version"},
    {'metadata.annotations["example.com/version"]', 'metadata.annotations["example.com/version"]'},
    {"a['example.com/x']", 'a["example.com/x"]'},
    {'a["q\\"uote\\\\d"]', 'a["q\\"uote\\\\d"]'},
    {'deps[name="a]b"]', 'deps[name="a]b"]'},
    {'deps["x.y"=1]', 'deps["x.y"=1]'},
    {'a[""]', 'a[""]'},
    {"[0][1]", "[0][1]"},
    {'["a.b"].c', '["a.b"].c'},
  }
  for _, c in ipairs(cases) do
    local segs = path.parse(c[1])
    T.eq(path.format(segs), c[2], c[1])
    T.eq(path.parse(path.format(segs)), segs, "round trip of " .. c[1])
  end
  -- a string key that looks like a number stays a key (quoted), an index stays an index
  local keyed = path.parse({"hosts", "3"})
  T.eq(path.format(keyed), 'hosts["3"]')
  T.eq(path.parse(path.format(keyed)), keyed)
  T.eq(path.format({"a", 0, "b.c"}), 'a[0]["b.c"]')
  T.eq(path.format(path.parse("a.b.c"), 2), "a.b")
end)

T.test("a bare number too large for an index is a mapping key", function()
  local segs = path.parse("list.99999999999999999999.x")
  T.eq(segs, {{key = "list"}, {key = "99999999999999999999"}, {key = "x"}})
  T.eq(path.parse(path.format(segs)), segs)
  T.eq(path.get({list = {["99999999999999999999"] = {x = 1}}}, "list.99999999999999999999.x"), 1)
  T.eq(path.parse("a.-9223372036854775808"), {{key = "a"}, {num = math.mininteger, key = "-9223372036854775808"}})
end)

T.test("errors name the path and the column of the bad character", function()
  local cases = {
    {"a..b", 3, "empty segment"},
    {".a", 1, "empty segment before '.'"},
    {"a.", 2, "empty segment after '.'"},
    {"a[0", 4, "expected '=' or ']'"},
    {'a["x', 3, "unterminated quote"},
    {"a[]", 3, "expected an index, a quoted key or key=value"},
    {"a[x]", 4, "expected '=' or ']'"},
    {"a[name=x", 9, "expected ']'"},
    {"a.b]c", 4, "put a key with ] or a leading quote in brackets: [\"...\"]"},
    {"a.'b'", 3, "put a key with ] or a leading quote in brackets: [\"...\"]"},
    {"a[1]b", 5, "expected '.' or '[' after ']'"},
    -- found by tests/fuzz/path.lua: gave {index = nil}, which format failed on
    {"a[99999999999999999999]", 3, "index out of range"},
  }
  for _, c in ipairs(cases) do
    local err = T.raises(function() path.parse(c[1]) end, nil, c[1])
    T.eq(err.code, "path", c[1])
    T.eq(err.path, c[1], c[1])
    T.eq(err.column, c[2], c[1])
    T.truthy(err.message:find(string.format("bad path %q at column %d: ", c[1], c[2]), 1, true), err.message)
    T.truthy(err.message:find(c[3], 1, true), err.message)
    T.eq({path.check(c[1])}, {err.reason, c[2]})
    T.eq(err.reason, string.format("bad path %q at column %d: ", c[1], c[2]) .. c[3])
  end
  T.eq(path.check("a.b[0]"), nil)
  T.raises(function() path.parse(42) end, "must be a string or a table")
end)

local DOC = [[
metadata:
  name: hub
  annotations:
    example.com/version: "1.2.3"
    plain: x
spec:
  containers:
    - name: init
      image: quay.io/a/b:1.0
    - name: main
      image: quay.io/jupyterhub/k8s-hub:4.0.0
  hosts:
    3: three
    on: [x]
  replicas: 2
]]

T.test("get on a loaded tree reads what the YAML editor reads", function()
  local tree = yaml.load(DOC)
  local doc = yaml.edit(DOC)
  local paths = {
    'metadata.annotations["example.com/version"]', "metadata.annotations['example.com/version']",
    "spec.containers[-1].image", "spec.containers[0].image", "spec.containers.1.image",
    "spec.containers[-2].name", "spec.containers[name=main].image", "spec.hosts.3",
    'spec.hosts["3"]', "spec.replicas", "metadata",
  }
  for _, p in ipairs(paths) do
    T.eq(path.get(tree, p), doc:get(p), p)
  end
  T.eq(path.get(tree, "spec.containers[-1].image"), "quay.io/jupyterhub/k8s-hub:4.0.0")
  T.eq(path.get(tree, 'metadata.annotations["example.com/version"]'), "1.2.3")
  -- where the editor finds nothing, get returns nil and says why
  for _, c in ipairs{
    {"spec.containers[5].image", "has 2 items; no index 5"},
    {"spec.containers[-3]", "no index %-3"},
    {"spec.containers[name=nope]", "0 items of spec.containers have name=nope"},
    {"metadata.nope", 'no key "nope" in metadata'},
    {"spec.replicas.x", "spec.replicas is a number"},
  } do
    local v, why = path.get(tree, c[1])
    T.eq(v, nil, c[1])
    T.match(why, c[2], c[1])
    T.raises(function() doc:get(c[1]) end, nil, "the editor also finds nothing at " .. c[1])
  end
  -- JSON (checks): arrays from json.decode
  local j = json.decode('{"versions": [{"name": "hub", "v": "1"}, {"name": "binder", "v": "2"}]}')
  T.eq(path.get(j, "versions[-1].v"), "2")
  T.eq(path.get(j, "versions[name=hub].v"), "1")
  T.eq(path.get(j, "versions.0.name"), "hub")
end)

-- ---- through the real example deployment --------------------------------------

-- Two components whose locations need the whole syntax: a key with dots and
-- a slash, and a negative index. bump writes them with the YAML editor; the
-- versions journalled by a real `slipway deploy` (local driver) and
-- promote's same-versions check read them with environments.versions.
local HUB = [[

hub:
  metadata:
    annotations:
      example.com/version: "1.0.0"
  containers:
    - name: sidecar
      image: quay.io/example/sidecar:0.1.0
    - name: hub
      image: quay.io/jupyterhub/k8s-hub:4.0.0
]]
local COMPONENTS = [[
components:
  hubannot:
    source: {registry: {image: quay.io/jupyterhub/k8s-hub}}
    locations:
      - {file: mybinder/values.yaml, path: 'hub.metadata.annotations["example.com/version"]'}
  hubimage:
    source: {registry: {image: quay.io/jupyterhub/k8s-hub}}
    locations:
      - {file: mybinder/values.yaml, path: "hub.containers[-1].image", part: tag}
]]

T.test("the versions journalled for a deploy equal what bump wrote (keys with dots and slashes, [-1])", function()
  local D = require "deploytest"
  local fs = require "slipway.fs"
  local manifest = require "slipway.manifest"
  local bump = require "slipway.bump"
  local environments = require "slipway.environments"
  D.with_repo(function(dir)
    local v = dir .. "/mybinder/values.yaml"
    fs.write(v, fs.read(v) .. HUB)
    local y = dir .. "/slipway.yaml"
    local text, n = fs.read(y):gsub("\ncomponents:\n", "\n" .. COMPONENTS, 1)
    assert(n == 1, "slipway.yaml has no components: block")
    fs.write(y, text)
  end, function(dir)
    local m = manifest.load(dir)
    bump.apply(m, "hubannot", "1.2.3")
    bump.apply(m, "hubimage", "4.1.0")
    D.git(dir, "commit", "-q", "-am", "bump hubannot and hubimage")
    -- what bump wrote, read back from the file with the editor
    local doc = yaml.open(dir .. "/mybinder/values.yaml")
    local wrote = {
      hubannot = doc:get('hub.metadata.annotations["example.com/version"]'),
      hubimage = environments.part(doc:get("hub.containers[-1].image"), "tag"),
    }
    T.eq(wrote, {hubannot = "1.2.3", hubimage = "4.1.0"})
    T.eq(doc:get("hub.containers[0].image"), "quay.io/example/sidecar:0.1.0", "only the last container moved")
    local want = environments.versions(manifest.load(dir))
    T.eq({want.hubannot, want.hubimage}, {"1.2.3", "4.1.0"})
    -- a real deploy: stage staging, test, promote (its same-versions check) to prod and prod-b
    local r = D.slipway(dir, {"deploy"})
    T.eq(r.code, 0, r.stderr)
    local deployed = {}
    for _, rec in ipairs(D.last_run(dir, "deploy")) do
      if rec.type == "deployed" then deployed[rec.env] = rec.versions end
    end
    for _, env in ipairs{"staging", "prod", "prod-b"} do
      T.truthy(deployed[env], env .. " deployed")
      T.eq({deployed[env].hubannot, deployed[env].hubimage}, {"1.2.3", "4.1.0"}, env)
    end
    -- the next stage journals what runs (its "state" record) the same way
    r = D.slipway(dir, {"stage", "staging"})
    T.eq(r.code, 0, r.stderr)
    local state
    for _, rec in ipairs(D.last_run(dir, "stage")) do if rec.type == "state" then state = rec end end
    T.eq({state.before.versions.hubannot, state.before.versions.hubimage}, {"1.2.3", "4.1.0"})
  end)
end, {timeout = 180})

T.test("slipway.yaml: a malformed location or check path names the file, line and the path's column", function()
  local manifest = require "slipway.manifest"
  local base = "name: x\ncomponents:\n  a:\n    source: {registry: {image: quay.io/a/b}}\n    locations:\n"
  local err = T.raises(function()
    manifest.parse(base .. "      - {file: v.yaml, path: 'hub..image'}\n", "/tmp/slipway.yaml")
  end)
  T.eq(err.code, "manifest")
  T.match(err.message, '^/tmp/slipway%.yaml:6:%d+: components%.a%.locations%[0%]%.path: bad path "hub%.%.image" at column 5: empty segment')
  -- the same place written twice is one location
  T.raises(function()
    manifest.parse(base .. "      - {file: v.yaml, path: 'a.b'}\n      - {file: v.yaml, path: 'a[\"b\"]'}\n",
      "/tmp/slipway.yaml")
  end, "the same file and path twice")
end)

T.run()
