-- The deploy's own clock (run by tests/bench/deploy_clock.sh, which says
-- what is measured and what the injected delays are estimated from).
--
--   SLIPWAY_SRC=. SLIPWAY_PATH=tests/lua/lib build/slipway tests/bench/deploy_clock.lua BIN RUNS
--
-- Every deploy gets a fresh copy of the real mybinder.org-deploy with the
-- port (mybindertest.lua) and its own recording stand-in (own state, HOME
-- and kubeconfig: one CI runner each): `slipway stage M`, or chartpress +
-- `CI=1 deploy.py M` (cd.yml's stages 3 and 4; the port's build step is that
-- chartpress). Each round runs every member alone (both tools, one after the
-- other), then all members at once for each tool; the tools' order
-- alternates between rounds. Every process runs under ownclock.py (its own
-- CPU from /proc, its wall time).
local fs = require "slipway.fs"
local proc = require "slipway.proc"
local json = require "slipway.json"
local MB = require "mybindertest"

local BIN = assert(arg[1], "usage: deploy_clock.lua SLIPWAY_BIN [RUNS]")
local RUNS = tonumber(arg[2]) or 5
local HERE = fs.dirname(fs.realpath(arg[0]))
local OWNCLOCK = HERE .. "/ownclock.py"
local TIMED = HERE .. "/deploy_clock_timed"
-- The interpreter itself, first on PATH for both tools, as setup-python
-- leaves it on CI: a version manager's `python3` shim (pyenv: three bash
-- scripts per call, ~0.2 s) would be paid once by deploy.py (it runs the ban
-- scripts with sys.executable) and three times by the port (`python3` each).
local PYTHON = proc.run({"python3", "-c", "import os, sys; print(os.path.realpath(sys.executable))"},
  {echo = false}).stdout:gsub("%s+$", "")

-- the injected delays (seconds, 1:100 of the estimated real ones: see
-- deploy_clock.sh); the stand-in's knob format "DEFAULT,NAME=S,..."
local HELM = os.getenv("DEPLOY_CLOCK_HELM") or "0.05,mybinder=0.3,cert-manager=0.1"
local ROLLOUT = os.getenv("DEPLOY_CLOCK_ROLLOUT") or
  "0.3,binder=0.45,hub=0.6,proxy=0.3,static=0.2,federation-redirect=0.2,user-scheduler=0.3,staging-image-cleaner=1.2"

local MEMBERS = MB.MEMBERS
if os.getenv("DEPLOY_CLOCK_MEMBERS") then
  local want, keep = {}, {}
  for m in os.getenv("DEPLOY_CLOCK_MEMBERS"):gmatch("[^,]+") do want[m] = true end
  for _, m in ipairs(MEMBERS) do if want[m[1]] then keep[#keep + 1] = m end end
  MEMBERS = keep
end
local GIT_ENV = {GIT_AUTHOR_NAME = "Bench", GIT_AUTHOR_EMAIL = "bench@localhost",
                 GIT_COMMITTER_NAME = "Bench", GIT_COMMITTER_EMAIL = "bench@localhost"}

-- "DEFAULT,NAME=S,..." -> function(name) -> seconds (as the stand-in reads it)
local function delays(spec)
  local dflt, named = 0, {}
  for item in spec:gmatch("[^,]+") do
    local k, v = item:match("^(.-)=(.*)$")
    if k then named[k] = tonumber(v) else dflt = tonumber(item) end
  end
  return function(name) return named[name] or dflt end
end
local helm_delay, rollout_delay = delays(HELM), delays(ROLLOUT)

-- flags of helm and kubectl that take a value (as the stand-in skips them)
local VALUED = {}
for f in ("-n --namespace -o --output -f --filename --values --version --set --repo --timeout " ..
          "--context --kube-context --kubeconfig -l --selector"):gmatch("%S+") do VALUED[f] = true end
local function positional(argv)
  local out, skip = {}, false
  for _, a in ipairs(argv) do
    if skip then skip = false
    elseif VALUED[a] then skip = true
    elseif a:sub(1, 1) ~= "-" then out[#out + 1] = a end
  end
  return out
end

-- the injected delay of one recorded call (0: none)
local function delay_of(c)
  local w = positional(c.argv)
  if c.tool == "helm" and (w[1] == "upgrade" or w[1] == "install") then
    return helm_delay((w[3] or ""):match("[^/]*$"))
  end
  if c.tool == "kubectl" and w[1] == "rollout" and w[2] == "status" then
    return rollout_delay((w[3] or ""):match("[^/]*$"))
  end
  return 0
end

-- The delays on the path the deploy's own schedule allows: the delayed calls
-- as intervals [t, t + delay]; calls that overlapped ran in parallel and
-- cost their longest delay together; the groups one after another add up.
-- A tool that starts its parallel calls late pays the lag as overhead.
-- Returns that path and the plain sum of every delay (seconds).
local function path_of(calls)
  local iv, sum = {}, 0
  for _, c in ipairs(calls) do
    local d = delay_of(c)
    if d > 0 then iv[#iv + 1] = {c.t, c.t + d, d}; sum = sum + d end
  end
  table.sort(iv, function(a, b) return a[1] < b[1] end)
  local path, gend, gmax = 0, -math.huge, 0
  for _, x in ipairs(iv) do
    if x[1] < gend then
      gmax = math.max(gmax, x[3]); gend = math.max(gend, x[2])
    else
      path = path + gmax; gmax, gend = x[3], x[2]
    end
  end
  return path + gmax, sum, #iv
end

-- calls deploy.py never makes: slipway's deploy lock and record (Lease and
-- ConfigMap objects, piped in with `create|replace -f -`) and its reads of
-- the release (helm status/get/history); as mybinder_spec.lua's own_call
local function own_call(tool, words)
  if tool == "helm" then
    return words[1] == "status" or words[1] == "get" or words[1] == "history" or words[1] == "list"
  end
  if tool ~= "kubectl" then return false end
  for i, x in ipairs(words) do
    if x == "lease" or x == "leases" or x == "configmap" or x == "configmaps" then return true end
    if x == "-f" and words[i + 1] == "-" then return true end
  end
  return words[1] == "create" and (words[2] == "namespace" or words[2] == "ns")
end

-- From deploy_clock_timed's "NAME START END ARGS..." lines: the time at
-- least one cluster call (helm, kubectl, gcloud, aws) was in flight, and the
-- time spent in slipway's own extra calls (seconds)
local function in_calls(file)
  if not fs.exists(file) then return 0, 0 end
  local iv, extra = {}, 0
  for tool, a, b, rest in fs.read(file):gmatch("(%S+) (%S+) (%S+)([^\n]*)\n") do
    a, b = tonumber(a), tonumber(b)
    iv[#iv + 1] = {a, b}
    local words = {}
    for w in rest:gmatch("%S+") do words[#words + 1] = w end
    if own_call(tool, words) then extra = extra + (b - a) end
  end
  table.sort(iv, function(x, y) return x[1] < y[1] end)
  local total, s, e = 0, nil, nil
  for _, x in ipairs(iv) do
    if s and x[1] <= e then e = math.max(e, x[2])
    else
      if s then total = total + (e - s) end
      s, e = x[1], x[2]
    end
  end
  if s then total = total + (e - s) end
  return total, extra
end

local function journal_cpu(dir)
  local cpu
  for _, p in ipairs(fs.glob(dir .. "/.slipway/journal/*.jsonl")) do
    for line in fs.read(p):gmatch("[^\n]+") do
      local ok, r = pcall(json.decode, line)
      if ok and type(r) == "table" and r.type == "run_end" and r.cpu then cpu = (cpu or 0) + r.cpu end
    end
  end
  return cpu
end

-- one matrix run of one tool: every member at once; returns per-member
-- results and the run's wall time
local function matrix(tool, members)
  local jobs = {}
  for _, m in ipairs(members) do
    local dir, k = MB.repository(), MB.standin()
    local env = {NO_COLOR = "1", SLIPWAY_LOG_LEVEL = false, SLIPWAY_STANDIN_DELAY_HELM_UPGRADE = HELM,
                 SLIPWAY_STANDIN_DELAY_ROLLOUT = ROLLOUT}
    for key, v in pairs(GIT_ENV) do env[key] = v end
    for key, v in pairs(k.env) do env[key] = v end
    -- the timing wrapper in front of the stand-in
    local timed = k.dir .. "/timed"
    fs.mkdir(timed)
    for _, name in ipairs{"kubectl", "helm", "gcloud", "aws"} do
      proc.run({"ln", "-s", TIMED, timed .. "/" .. name}, {echo = false})
    end
    proc.run({"ln", "-s", PYTHON, timed .. "/python3"}, {echo = false})
    env.PATH = timed .. ":" .. env.PATH
    env.DEPLOY_CLOCK_REAL, env.DEPLOY_CLOCK_TIMES = k.bin, k.dir .. "/times"
    local argv
    if tool == "slipway" then
      argv = {BIN, "stage", m[1]}
    else
      -- as cd.yml's job runs it: "Stage 3" chartpress (--push for staging,
      -- --skip-build for the production members: cd.yml's chartpress_args
      -- are empty), then `. cert-manager.env` and deploy.py; CI=1 as on CI.
      -- The port runs the same chartpress as its build step inside `slipway
      -- stage`, so both sides pay for it.
      env.CI = "1"
      argv = {"sh", "-c", 'chartpress "$CHARTPRESS_ARG" && . ./cert-manager.env && exec python3 ./deploy.py "$@"',
              "deploy.py"}
      env.CHARTPRESS_ARG = m[1] == "staging" and "--push" or "--skip-build"
      for _, a in ipairs(m[2]) do argv[#argv + 1] = a end
    end
    local out = k.dir .. "/ownclock.json"
    local full = {PYTHON, OWNCLOCK, out, "--"}
    for _, a in ipairs(argv) do full[#full + 1] = a end
    jobs[#jobs + 1] = {member = m[1], dir = dir, k = k, out = out, argv = full, env = env,
                       log = k.dir .. "/output.log"}
  end
  for _, j in ipairs(jobs) do
    j.h = proc.spawn(j.argv, {cwd = j.dir, env = j.env, stdin = "null", echo = false,
                              stdout = {file = j.log}, stderr = {file = j.log}})
  end
  for _, j in ipairs(jobs) do j.h:wait() end
  local res, first, last = {}, math.huge, -math.huge
  for _, j in ipairs(jobs) do
    local o = json.decode(fs.read(j.out))
    if o.code ~= 0 then
      error(string.format("%s %s failed (exit %d):\n%s", tool, j.member, o.code, fs.read(j.log)))
    end
    local path, sum, n = path_of(j.k:calls())
    local busy, extra = in_calls(j.k.dir .. "/times")
    busy, extra = busy * 1000, extra * 1000
    first, last = math.min(first, o.start), math.max(last, o["end"])
    res[j.member] = {wall = o.wall_ms, cpu = o.self_cpu_ms, children = o.children_cpu_ms,
                     path = path * 1000, sum = sum * 1000, delayed = n,
                     calls = #j.k:calls(), overhead = o.wall_ms - path * 1000,
                     outside = o.wall_ms - busy, extra = extra, incalls = busy - path * 1000 - extra,
                     journal_cpu = tool == "slipway" and journal_cpu(j.dir) or nil}
    proc.run({"rm", "-rf", fs.dirname(j.dir), j.k.dir}, {echo = false})
  end
  return res, (last - first) * 1000
end

-- ---- the rounds --------------------------------------------------------------
-- Each round: every member ALONE on the machine (as on cd.yml, where each
-- job of the matrix gets a runner of its own), the two tools one after the
-- other; then all members TOGETHER on this one 2-core machine (six jobs on
-- two cores: a stress case cd.yml never meets). The tools' order alternates.
local TOOLS = {"slipway", "deploy.py"}
local alone = {slipway = {}, ["deploy.py"] = {}}
local together = {slipway = {}, ["deploy.py"] = {}}
local runs = {slipway = {}, ["deploy.py"] = {}}
local ONLY_TOGETHER = os.getenv("DEPLOY_CLOCK_ONLY") == "together"
local ONLY_ALONE = os.getenv("DEPLOY_CLOCK_ONLY") == "alone"
for r = 1, RUNS do
  local order = (r % 2 == 1) and {1, 2} or {2, 1}
  if not ONLY_TOGETHER then
    for _, i in ipairs(order) do alone[TOOLS[i]][r] = {} end
    for _, m in ipairs(MEMBERS) do
      for _, i in ipairs(order) do
        local tool = TOOLS[i]
        local res = matrix(tool, {m})
        alone[tool][r][m[1]] = res[m[1]]
      end
    end
  end
  if not ONLY_ALONE then
    for _, i in ipairs(order) do
      local tool = TOOLS[i]
      local res, wall = matrix(tool, MEMBERS)
      together[tool][#together[tool] + 1] = res
      runs[tool][#runs[tool] + 1] = wall
    end
  end
  io.stderr:write(string.format("  round %d/%d done\n", r, RUNS))
end

local function stats(xs)
  local s = {}
  for i, x in ipairs(xs) do s[i] = x end
  table.sort(s)
  local n = #s
  local med = (n % 2 == 1) and s[(n + 1) // 2] or (s[n // 2] + s[n // 2 + 1]) / 2
  return {min = s[1], med = med, max = s[n]}
end

print(string.format("mybinder port, staging and every production member; best (median) of %d rounds", RUNS))
print(string.format("injected delays, s: helm upgrade %s", HELM))
print(string.format("                    rollout status %s", ROLLOUT))
print("own CPU: the deploy process itself (helm/kubectl/ban scripts not counted). overhead = wall - injected delays on")
print("its path (overlapping calls count once) = own (no cluster call in flight: the tool, its start-up, the ban")
print("scripts) + lock/status (slipway's extra calls into the stand-in) + stand-in (the other calls beyond their delays)")

-- one table of per-member figures; returns how many members met the goal
-- (whole overhead, own)
local function report(all, title)
  local function field(tool, member, key)
    local xs = {}
    for _, res in ipairs(all[tool]) do xs[#xs + 1] = res[member][key] end
    return stats(xs)
  end
  print("")
  print(title)
  print(string.format("  %-13s %-9s %11s %23s %13s %13s %13s %5s %6s", "member", "", "own CPU ms", "overhead ms (spread)",
    "own ms", "lock/status", "stand-in ms", "calls", "path s"))
  local met, met_own = 0, 0
  for _, m in ipairs(MEMBERS) do
    local name = m[1]
    local o, w = {}, {}
    for _, tool in ipairs(TOOLS) do
      local c, ov, out, ex, inc = field(tool, name, "cpu"), field(tool, name, "overhead"),
        field(tool, name, "outside"), field(tool, name, "extra"), field(tool, name, "incalls")
      local calls, p = field(tool, name, "calls"), field(tool, name, "path")
      o[tool], w[tool] = ov, out
      print(string.format("  %-13s %-9s %4.0f (%4.0f) %5.0f (%5.0f, %5.0f-%5.0f) %5.0f (%5.0f) %5.0f (%5.0f) %5.0f (%5.0f) %5.0f %6.2f",
        tool == "slipway" and name or "", tool, c.min, c.med, ov.min, ov.med, ov.min, ov.max, out.min, out.med,
        ex.min, ex.med, inc.min, inc.med, calls.med, p.med / 1000))
    end
    if o.slipway.med < o["deploy.py"].med then met = met + 1 end
    if w.slipway.med < w["deploy.py"].med then met_own = met_own + 1 end
    print(string.format("  %-13s deploy.py - slipway, median: overhead %+.0f ms, own %+.0f ms", "",
      o["deploy.py"].med - o.slipway.med, w["deploy.py"].med - w.slipway.med))
  end
  -- the run summary's cpu (getrusage in slipway) beside /proc's, for slipway
  local jc = {}
  for _, res in ipairs(all.slipway) do
    for _, m in ipairs(MEMBERS) do jc[#jc + 1] = (res[m[1]].journal_cpu or 0) * 1000 end
  end
  local js = stats(jc)
  print(string.format("  (slipway's own CPU by its run summary's cpu field, every member and round: %.0f-%.0f ms, median %.0f)",
    js.min, js.max, js.med))
  return met, met_own, field
end

local function verdict(n) return string.format("%s (%d of %d members)", n == #MEMBERS and "met" or "NOT met", n, #MEMBERS) end
local met, met_own
if not ONLY_TOGETHER then
  met, met_own = report(alone, "EACH MEMBER ALONE (one runner per job, as cd.yml's matrix runs on GitHub Actions):")
end
if not ONLY_ALONE then
  local tmet, tmet_own, field = report(together,
    "ALL MEMBERS AT ONCE on this machine (six jobs on two cores: a stress case, not how cd.yml runs):")
  for _, tool in ipairs(TOOLS) do
    local slow = 0
    for _, m in ipairs(MEMBERS) do slow = math.max(slow, field(tool, m[1], "path").med) end
    local wr = stats(runs[tool])
    print(string.format("whole run, %-9s wall %6.2f s best (median %.2f, max %.2f); slowest member's path %5.2f s: +%.2f s",
      tool, wr.min / 1000, wr.med / 1000, wr.max / 1000, slow / 1000, (wr.min - slow) / 1000))
  end
  print("  all at once (information): own " .. verdict(tmet_own) .. ", whole overhead " .. verdict(tmet))
end
if met then
  print("goal: slipway's overhead per member deploy below deploy.py's (median, absolute ms), each member alone:")
  print("  own (outside cluster calls): " .. verdict(met_own))
  print("  whole overhead, the recording stand-in's own time included: " .. verdict(met))
end
