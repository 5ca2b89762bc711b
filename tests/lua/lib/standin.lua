--- standin: test helpers around the recording kubectl/helm stand-in
-- (tests/standin/standin) and the mybinder-like fixture chart.
--
--   local S = require "standin"
--   local k = S.new{outcome = "rollout-timeout:hub", delay = 0.2}
--   k.bin        -- directory with `kubectl` and `helm` (the stand-in)
--   k.env        -- environment for commands: PATH first entry k.bin, the
--                -- SLIPWAY_STANDIN_* variables, HELM_*_HOME in a temp dir
--   k:calls()    -- the recorded calls: {{tool=, argv={...}}, ...}
--   k:argvs(tool, first) -- the argv lists of one tool (optionally only those
--                -- whose first word is `first`)
--   k:gate(glob, pb) -- kubectl calls matching glob join a sync.proc_barrier
--   S.helm()     -- path of the real helm (vendor/get-helm), or nil, why
--   S.chart_repo(helm, env) -- serve a copy of the fixture chart repository
--                -- on 127.0.0.1; returns its URL and a stop function
--   S.deployment(url) -- a temp copy of tests/fixtures/kubernetes with the
--                -- chart repository URL filled in; returns its directory
local fs = require "slipway.fs"
local proc = require "slipway.proc"
local json = require "slipway.json"

local S = {}
local src = os.getenv("SLIPWAY_SRC") or "."
S.src = src
S.shared = os.getenv("SLIPWAY_SHARED") or "/work/shared"

local helm_path, helm_why
--- The real helm 3 binary, installed by vendor/get-helm (cached).
function S.helm()
  if helm_path or helm_why then return helm_path, helm_why end
  local ok, r = pcall(proc.run, {"sh", src .. "/vendor/get-helm"}, {check = false, timeout = 300})
  if ok and r.code == 0 then
    helm_path = r.stdout:gsub("%s+$", "")
  else
    helm_why = "vendor/get-helm failed: " .. (ok and r.stderr or tostring(r))
  end
  return helm_path, helm_why
end

local K = {}
K.__index = K

--- A stand-in set-up in its own temp dir. opts: outcome, delay, scenario
-- (rules file path), helm (real helm path, default S.helm()).
function S.new(opts)
  opts = opts or {}
  local dir = fs.tempdir()
  local self = setmetatable({dir = dir, bin = dir .. "/bin", log = dir .. "/calls.jsonl",
                             state = dir .. "/state"}, K)
  fs.mkdir(self.bin)
  fs.mkdir(self.state)
  for _, name in ipairs{"kubectl", "helm"} do
    proc.run({"ln", "-s", src .. "/tests/standin/standin", self.bin .. "/" .. name})
  end
  self.kubectl = self.bin .. "/kubectl"
  self.helm = self.bin .. "/helm"
  local real = opts.helm
  if real == nil then real = S.helm() end
  self.env = {
    PATH = self.bin .. ":" .. (os.getenv("PATH") or "/usr/bin:/bin"),
    SLIPWAY_STANDIN_LOG = self.log,
    SLIPWAY_STANDIN_STATE = self.state,
    SLIPWAY_STANDIN_OUTCOME = opts.outcome or "success",
    SLIPWAY_STANDIN_DELAY = tostring(opts.delay or 0),
    SLIPWAY_STANDIN_HELM = real or "",
    SLIPWAY_STANDIN_SCENARIO = opts.scenario,
    HELM_CACHE_HOME = dir .. "/helm/cache",
    HELM_CONFIG_HOME = dir .. "/helm/config",
    HELM_DATA_HOME = dir .. "/helm/data",
  }
  return self
end

--- Change the scripted outcome for the following calls.
-- (also written to the state directory, which overrides the environment,
-- for stand-ins whose environment is fixed in a slipway.yaml)
function K:set(opts)
  if opts.outcome then
    self.env.SLIPWAY_STANDIN_OUTCOME = opts.outcome
    fs.write(self.state .. "/outcome", opts.outcome)
  end
  if opts.delay then
    self.env.SLIPWAY_STANDIN_DELAY = tostring(opts.delay)
    fs.write(self.state .. "/delay", tostring(opts.delay))
  end
  if opts.scenario ~= nil then
    self.env.SLIPWAY_STANDIN_SCENARIO = opts.scenario or nil
    if opts.scenario then fs.write(self.state .. "/scenario", opts.scenario)
    elseif fs.exists(self.state .. "/scenario") then fs.remove(self.state .. "/scenario") end
  end
end

--- The calls recorded so far, in order.
function K:calls()
  if not fs.exists(self.log) then return {} end
  local out = {}
  for line in fs.read(self.log):gmatch("[^\n]+") do out[#out + 1] = json.decode(line) end
  return out
end

--- argv lists of `tool` (whose first word is `first`, when given).
function K:argvs(tool, first)
  local out = {}
  for _, c in ipairs(self:calls()) do
    if c.tool == tool and (first == nil or c.argv[1] == first) then out[#out + 1] = c.argv end
  end
  return out
end

--- The recorded calls of tool whose first word is first.
function K:calls_of(tool, first)
  local out = {}
  for _, c in ipairs(self:calls()) do
    if c.tool == tool and (first == nil or c.argv[1] == first) then out[#out + 1] = c end
  end
  return out
end

--- Make the kubectl calls whose words ("ARG1 ARG2 ...") match glob, a sh
-- `case` pattern, first join pb, a barrier of lib/sync.lua (sync.proc_barrier):
-- they are answered only once all of its participants are running.
-- K:gate() puts the plain stand-in back.
function K:gate(glob, pb)
  fs.remove(self.kubectl)
  local standin = src .. "/tests/standin/standin"
  if not glob then
    proc.run({"ln", "-s", standin, self.kubectl})
    return
  end
  fs.write(self.kubectl, string.format(
    '#!/bin/sh\ncase "$*" in\n  %s) %s ;;\nesac\nSLIPWAY_STANDIN_TOOL=kubectl exec \'%s\' "$@"\n',
    glob, pb.sh, standin))
  proc.run({"chmod", "+x", self.kubectl})
end

--- Forget the recorded calls.
function K:clear() if fs.exists(self.log) then fs.remove(self.log) end end

--- Serve a copy of the real chart repository fixture on 127.0.0.1 and
-- index it for that URL with the real helm. Returns url, stop().
function S.chart_repo(helm, env)
  local dir = fs.tempdir()
  local repo = dir .. "/repo"
  proc.run({"cp", "-r", S.shared .. "/fixtures/helm-chart-repo", repo})
  proc.run({"chmod", "-R", "u+w", repo})
  local srv = require("slipway.server").serve_files(repo)
  local url = srv:url()
  if url:sub(-1) ~= "/" then url = url .. "/" end
  local function stop() srv:close() end
  proc.run({helm, "repo", "index", repo, "--url", url}, {env = env})
  return url, stop
end

--- A temp copy of the fixture deployment (chart + config) pointing at url.
function S.deployment(url)
  local dir = fs.tempdir()
  proc.run({"cp", "-r", src .. "/tests/fixtures/kubernetes/.", dir})
  local chart = dir .. "/mybinder/Chart.yaml"
  local text = fs.read(chart):gsub("CHART_REPO_URL", url)
  fs.write(chart, text)
  return dir
end

return S
