-- slipway.kube: API server timestamps read the same in every time zone
-- (clean-pods and drain-node planned through the real binary under
-- TZ=Europe/London, America/Los_Angeles and UTC against the recording
-- kubectl stand-in, pods and nodes of known ages), and Secret masking of
-- real multi-document manifests on the YAML node index.
local T = require "slipway.testing"
local fs = require "slipway.fs"
local proc = require "slipway.proc"
local json = require "slipway.json"
local yaml = require "slipway.yaml"
local core = require "slipway.core"
local kube = require "slipway.kube"
local S = require "standin"

local BIN = os.getenv("SLIPWAY_BIN") or arg[-1]
local ZONES = {"UTC", "Europe/London", "America/Los_Angeles"}

local function stamp(ago) return os.date("!%Y-%m-%dT%H:%M:%SZ", os.time() - ago) end

local function pod(name, ago, phase)
  return {metadata = {name = name, namespace = "prod", creationTimestamp = stamp(ago),
                      labels = {component = "singleuser-server"}},
          spec = {nodeName = "node-a"}, status = {phase = phase or "Running"}}
end

local function node(name, ago)
  return {metadata = {name = name, creationTimestamp = stamp(ago), labels = {}},
          spec = {}, status = {conditions = {{type = "Ready", status = "True"}},
                               nodeInfo = {kubeletVersion = "v1.30.5"}}}
end

-- a deployment repository whose prod environment talks to a stand-in that
-- answers `get pods` and `get nodes` with the objects given
local function setup(pods, nodes)
  local sdir = fs.tempdir()
  json.write(sdir .. "/pods.json", {apiVersion = "v1", kind = "List", items = pods})
  json.write(sdir .. "/nodes.json", {apiVersion = "v1", kind = "List", items = nodes})
  fs.write(sdir .. "/rules", "kubectl get pods*\t0\t@pods.json\t-\nkubectl get nodes*\t0\t@nodes.json\t-\n")
  local k = S.new{helm = false, scenario = sdir .. "/rules"}
  local dir = fs.tempdir()
  fs.write(dir .. "/slipway.yaml", yaml.dump({name = "kube-test", environments = {
    prod = {driver = "kubernetes", chart = "mybinder", namespace = "prod",
            kubernetes = {kubectl = k.kubectl, helm = k.helm, env = k.env, dependency_update = false}}},
    stages = {staging = "prod", production = {}}}))
  return dir, k
end

local function runbook(dir, tz, argv)
  local a = {BIN, "runbook"}
  for _, x in ipairs(argv) do a[#a + 1] = x end
  return proc.run(a, {cwd = dir, env = {PWD = dir, TZ = tz, NO_COLOR = "1"}, check = false})
end

T.test("kube.time and kube.age: RFC 3339 as UTC, offsets and fractions; nil for junk", function()
  T.eq(kube.time("1970-01-01T00:00:00Z"), 0)
  T.eq(kube.time("2026-07-01T12:00:00Z"), 1782907200)
  T.eq(kube.time("2026-07-01T14:00:00+02:00"), 1782907200)
  T.eq(kube.time("2026-07-01T12:00:00.5Z"), 1782907200.5)
  T.eq(kube.time("yesterday"), nil)
  T.eq(kube.age("2026-07-01T12:00:00Z", 1782907200 + 90), 90)
  T.eq(kube.age(nil), nil)
end)

T.test("clean-pods selects the same pods in every time zone (ages from the API server's UTC stamps)", function()
  local pods = {
    pod("jupyter-keep-5h30m", 5 * 3600 + 1800),
    pod("jupyter-delete-6h30m", 6 * 3600 + 1800),
    pod("jupyter-delete-2d", 2 * 86400),
    pod("jupyter-keep-10m", 600),
    pod("jupyter-stuck", 1800, "Unknown"),
  }
  local dir, k = setup(pods, {})
  local want = {["jupyter-delete-6h30m"] = "delete", ["jupyter-delete-2d"] = "delete",
                ["jupyter-stuck"] = "force delete"}
  for _, tz in ipairs(ZONES) do
    local r = runbook(dir, tz, {"clean-pods", "prod", "--dry-run"})
    T.eq(r.code, 0, tz .. ": " .. r.stderr)
    local got = {}
    for name, action in r.stdout:gmatch("(jupyter%-%S+)%s+%S+%s+%S+%s+%S+%s+(%a[%a ]-)%s*\n") do got[name] = action end
    T.eq(got, want, tz)
    T.match(r.stdout, "jupyter%-delete%-6h30m%s+Running%s+6h%s", tz .. ": the age column")
    T.nomatch(r.stdout, "jupyter%-keep", tz .. ": younger pods are not listed")
  end
  T.eq(k:argvs("kubectl", "delete"), {}, "dry runs delete nothing")
end)

T.test("drain-node planning shows the same node ages in every time zone", function()
  local dir = setup({}, {node("node-a", 90 * 60), node("node-b", 3 * 86400 + 3600)})
  for _, tz in ipairs(ZONES) do
    local r = runbook(dir, tz, {"drain-node", "prod", "node-a", "--dry-run"})
    T.eq(r.code, 0, tz .. ": " .. r.stderr)
    T.match(r.stdout, "node%-a%s+Ready%s+90m%s", tz)
    T.match(r.stdout, "node%-b%s+Ready%s+3d%s", tz)
  end
end)

-- ---- Secret masking --------------------------------------------------------------

local function b64(s) return require("slipway.codec").base64(s) end

local SECRETS = {
  "hunter2-block-line-one", "block-line-three-secret", "quoted-secret-value", "single 'quoted' secret",
  "plain-secret-value", "folded secret text that is long", "list-item-secret-0001", "flow-secret-two",
  "anchored-secret-value", "-----BEGIN PRIVATE KEY-----",
}

local MANIFESTS = table.concat({
  "---",
  "# Source: mybinder/templates/configmap.yaml",
  "apiVersion: v1",
  "kind: ConfigMap",
  "metadata:",
  "  name: cm",
  "data:",
  "  password: not-a-secret-in-a-configmap",
  "---",
  "# Source: mybinder/templates/secret.yaml",
  "apiVersion: v1",
  "data:",
  "  grafana-api-key: " .. b64("plain-secret-value"),
  "  tls.key: " .. b64("-----BEGIN PRIVATE KEY-----\nMIIEvQIBADANBg\n-----END PRIVATE KEY-----\n"),
  "stringData:",
  "  script: |",
  "    hunter2-block-line-one",
  "",
  "    block-line-three-secret",
  "  quoted: \"quoted-secret-value\"",
  "  single: 'single ''quoted'' secret'",
  "  folded: >-",
  "    folded secret text",
  "    that is long",
  "  anchored: &a anchored-secret-value",
  "  again: *a",
  "  empty:",
  "kind: Secret   # kind after data: order does not matter",
  "metadata:",
  "  name: s1",
  "type: Opaque",
  "---",
  "apiVersion: v1",
  "kind: List",
  "items:",
  "  - apiVersion: v1",
  "    kind: Secret",
  "    metadata: {name: in-list}",
  "    data:",
  "      token: " .. b64("list-item-secret-0001"),
  "  - apiVersion: v1",
  "    kind: Secret",
  "    metadata: {name: flow}",
  "    stringData: {one: flow-secret-two, num: 12345678}",
  "  - apiVersion: v1",
  "    kind: ConfigMap",
  "    metadata: {name: cm2}",
  "    data: {keep: visible-configmap-value}",
}, "\n") .. "\n"

T.test("mask_secrets: no secret value survives (data, stringData, block scalars, a List's items)", function()
  local memo = {}
  local m = kube.mask_secrets(MANIFESTS, memo)
  for _, s in ipairs(SECRETS) do
    T.falsy(m:find(s, 1, true), "the value " .. s .. " survived")
    T.falsy(m:find(b64(s), 1, true), "the base64 of " .. s .. " survived")
  end
  T.falsy(m:find("12345678", 1, true), "a number in stringData")
  T.falsy(m:find("that is long", 1, true), "a folded line")
  T.falsy(m:find("MIIEvQIBADANBg", 1, true), "the base64 of a key file")
  -- the rest is as it was, and the result is still the same YAML with masks
  T.match(m, "password: not%-a%-secret%-in%-a%-configmap")
  T.match(m, "keep: visible%-configmap%-value")
  T.match(m, "# Source: mybinder/templates/secret%.yaml")
  T.match(m, "kind: Secret   # kind after data")
  local docs = yaml.load_all(m)
  T.eq(#docs, 3)
  local s1 = docs[2]
  T.eq(s1.stringData.script, "<masked #1>")
  T.eq(s1.stringData.quoted, "<masked #1>")
  T.eq(s1.stringData.again, "<masked #1>", "the alias shows the anchored value's mask")
  T.eq(s1.stringData.empty, yaml.null, "an empty value stays empty")
  T.eq(s1.data["grafana-api-key"], "<masked #1>")
  T.eq(docs[3].items[1].data.token, "<masked #1>")
  T.eq(docs[3].items[2].stringData, {one = "<masked #1>", num = "<masked #1>"})
  T.eq(docs[3].items[3].data.keep, "visible-configmap-value")
  -- registered as secrets: redacted from logs (values and base64 decodings)
  T.eq(core.redact("key hunter2-block-line-one leaked"), "key *** leaked")
  T.eq(core.redact("x list-item-secret-0001"), "x ***")
  -- one memo: a changed value is #2, unchanged ones stay #1
  local m2 = kube.mask_secrets(MANIFESTS:gsub("quoted%-secret%-value", "rotated-secret-value"), memo)
  T.match(m2, "quoted: '<masked #2>'")
  T.match(m2, "script: '<masked #1>'")
  T.falsy(m2:find("rotated-secret-value", 1, true))
  -- the driver masks its renders with the same function
  T.eq(require("slipway.drivers.kubernetes").mask_secrets, kube.mask_secrets)
  -- not YAML: an error that does not quote the text
  local err = T.raises(function() kube.mask_secrets("kind: Secret\ndata: {a: plain-secret-value\n") end)
  T.eq(err.code, "deploy")
  T.falsy(tostring(err):find("plain-secret-value", 1, true))
end)

T.run()
