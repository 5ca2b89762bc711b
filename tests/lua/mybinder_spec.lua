-- The mybinder.org port (scripts/examples/mybinder/): in copies of the real
-- repository (/work/shared/fixtures/mybinder.org-deploy-full, secrets/
-- synthetic), `slipway stage M` runs the same external commands as the real
-- `CI=1 python3 deploy.py M`, member by member. Both run against the
-- RECORDING STAND-IN (tests/standin/standin as helm, kubectl, gcloud and
-- aws: there is no cluster and no cloud here), which logs each call's argv
-- with the kubeconfig and context it ran under and the values files that
-- were missing when helm ran.
local T = require "slipway.testing"
local fs = require "slipway.fs"
local proc = require "slipway.proc"
local core = require "slipway.core"
local S = require "standin"
local D = require "deploytest"

local MB = require "mybindertest"
local PREFIX, skip = MB.PREFIX, MB.skip
local repository, standin = MB.repository, MB.standin

local function deploy_py(dir, k, args)
  local env = {CI = "1"}
  for key, v in pairs(k.env) do env[key] = v end
  -- as cd.yml runs it: chartpress first (--push on staging, --skip-build
  -- for production: the stand-in), then `. cert-manager.env`
  local build = args[1] == "staging" and "--push" or "--skip-build"
  local argv = {"sh", "-c", 'chartpress ' .. build .. ' >&2 && . ./cert-manager.env && exec python3 ./deploy.py "$@"',
                "deploy.py"}
  for _, a in ipairs(args) do argv[#argv + 1] = a end
  return proc.run(argv, {cwd = dir, env = env, check = false, echo = false, timeout = 120})
end

-- ---- normalising the recorded calls --------------------------------------------

-- the allowed differences, explicitly: paths under the copy are relative,
-- ~ stands for HOME; --namespace=X, --namespace X and -n X are one thing;
-- --values=F and -f F too; helm's boolean flags are a set; the rollout
-- waits of one namespace are a set (slipway waits in parallel); slipway's
-- own calls (lock and record objects, helm status/get/history/template/dependency) are
-- left out.
local function rel(dir, home, p)
  if p == nil then return nil end
  if p:sub(1, #dir + 1) == dir .. "/" then return p:sub(#dir + 2) end
  if home and p:sub(1, #home + 1) == home .. "/" then return "~/" .. p:sub(#home + 2) end
  return p
end

local function own_call(c)
  local a = c.argv
  if c.tool == "helm" then
    return a[1] == "status" or a[1] == "get" or a[1] == "history" or a[1] == "template" or
      a[1] == "dependency" or a[1] == "list"
  end
  if c.tool == "kubectl" then
    local what = a[2]
    for i, x in ipairs(a) do
      if x == "configmap" or x == "configmaps" or x == "lease" or x == "leases" then return true end
      -- the Lease and the record go in on stdin (`create|replace -f -`), the
      -- Lease's guarded release too (`delete --raw PATH -f -`); deploy.py
      -- never pipes anything to kubectl
      if x == "-f" and a[i + 1] == "-" and (a[1] == "create" or a[1] == "replace" or a[1] == "delete") then
        return true
      end
    end
    return a[1] == "create" and (what == "namespace" or what == "ns")
  end
  return false
end

-- fn(key, arg, value) for each argument from a[from]: key is the flag's
-- name of --k=v, else the argument; value() takes the flag's value (after
-- the = or the next argument)
local function walk(a, from, fn)
  local i = from
  while i <= #a do
    local x = a[i]
    local k, v = x:match("^(%-%-[%w-]+)=(.*)$")
    fn(k or x, x, function() if v then return v end i = i + 1; return a[i] end)
    i = i + 1
  end
end

local function normalise(c, dir, home)
  local a = c.argv
  local out = {tool = c.tool, kubeconfig = rel(dir, home, c.kubeconfig), context = c.context}
  if c.tool == "helm" and (a[1] == "upgrade" or a[1] == "install") then
    local flags, values, sets, pos = {}, {}, {}, {}
    walk(a, 2, function(k, x, val)
      if k == "--namespace" or k == "-n" then out.namespace = val()
      elseif k == "-f" or k == "--values" then values[#values + 1] = rel(dir, home, val())
      elseif k == "--set" then sets[#sets + 1] = val()
      elseif k == "--version" then out.version = val()
      elseif k == "--repo" then out.repo = val()
      elseif k:sub(1, 1) == "-" then flags[#flags + 1] = x
      else pos[#pos + 1] = rel(dir, home, x) end
    end)
    table.sort(flags)
    out.what = "helm " .. a[1]
    out.flags, out.values, out.set = table.concat(flags, " "), values, sets
    out.release, out.chart = pos[1], pos[2]
    out.missing = c.missing
    return out
  end
  if c.tool == "kubectl" then
    local rest = {}
    walk(a, 1, function(k, x, val)
      if k == "--namespace" or k == "-n" then out.namespace = val()
      elseif k == "-o" or k == "--output" then out.output = val()
      elseif k == "--context" then out.context = val()
      else rest[#rest + 1] = x end
    end)
    out.what = "kubectl " .. table.concat(rest, " ")
    if rest[1] == "rollout" then out.what, out.wait = "kubectl rollout", true end
    return out
  end
  out.what = c.tool .. " " .. table.concat(a, " ")
  return out
end

local function show(n)
  local t = {n.what}
  for _, k in ipairs{"namespace", "release", "chart", "version", "repo", "flags", "output", "kubeconfig", "context"} do
    if n[k] and n[k] ~= "" then t[#t + 1] = k .. "=" .. tostring(n[k]) end
  end
  if n.values then t[#t + 1] = "values=[" .. table.concat(n.values, " ") .. "]" end
  if n.set and #n.set > 0 then t[#t + 1] = "set=[" .. table.concat(n.set, " ") .. "]" end
  return table.concat(t, " ")
end

-- the calls as lines; the rollout waits of one namespace become one sorted line
local function lines_of(k, dir)
  local out, waits = {}, nil
  local function flush()
    if waits then
      table.sort(waits.names)
      out[#out + 1] = "kubectl rollout status --timeout=" .. waits.timeout .. " namespace=" .. waits.ns ..
        " kubeconfig=" .. tostring(waits.kubeconfig) .. " context=" .. tostring(waits.context) ..
        " {" .. table.concat(waits.names, " ") .. "}"
      waits = nil
    end
  end
  local missing = {}
  for _, c in ipairs(k:calls()) do
    if not own_call(c) then
      local n = normalise(c, dir, k.home)
      for _, f in ipairs(n.missing or {}) do missing[#missing + 1] = f end
      if n.wait then
        local a = c.argv
        local name, timeout
        for _, x in ipairs(a) do
          if x:find("^%-%-timeout=") then timeout = x:sub(11)
          elseif not x:find("^%-") and x ~= "rollout" and x ~= "status" and x ~= n.namespace then name = x end
        end
        if not (waits and waits.ns == n.namespace) then
          flush()
          waits = {ns = n.namespace, names = {}, timeout = timeout, kubeconfig = n.kubeconfig, context = n.context}
        end
        waits.names[#waits.names + 1] = name
      else
        flush()
        out[#out + 1] = show(n)
      end
    end
  end
  flush()
  return out, missing
end

local function assert_same(want, got, what)
  if #want ~= #got then
    error(string.format("%s: %d calls from deploy.py, %d from slipway\n--- deploy.py:\n%s\n--- slipway:\n%s", what,
      #want, #got, table.concat(want, "\n"), table.concat(got, "\n")))
  end
  for i = 1, #want do
    T.eq(got[i], want[i], what .. ": call " .. i)
  end
end

-- ---- member by member --------------------------------------------------------

local GENERATED = {"secrets/config/common/bans.yaml", "secrets/config/common/cryptnono-bannedips.yaml"}

local MEMBERS = MB.MEMBERS

for _, member in ipairs(MEMBERS) do
  local name, args = member[1], member[2]
  T.test("stage " .. name .. ": the same helm releases, kubectl calls, logins and waits as deploy.py", function()
    local a, b = repository(), repository()
    for _, f in ipairs(GENERATED) do T.falsy(fs.exists(a .. "/" .. f), f .. " is generated, not committed") end
    local ka, kb = standin(), standin()
    local r = deploy_py(a, ka, args)
    T.eq(r.code, 0, "deploy.py " .. name .. ": " .. r.stdout .. r.stderr)
    local s = D.slipway(b, {"stage", name}, {env = kb.env})
    T.eq(s.code, 0, "slipway stage " .. name .. ": " .. s.stdout .. s.stderr)
    local want, missing_a = lines_of(ka, a)
    local got, missing_b = lines_of(kb, b)
    if os.getenv("MYBINDER_SPEC_SHOW") then print(table.concat(got, "\n")) end
    assert_same(want, got, name)
    -- the ban scripts ran before helm: every values file existed when helm ran
    T.eq(missing_a, {}, "deploy.py: values files missing when helm ran")
    T.eq(missing_b, {}, "slipway: values files missing when helm ran")
    for _, f in ipairs(GENERATED) do
      T.eq(fs.read(b .. "/" .. f), fs.read(a .. "/" .. f), f .. " written the same")
    end
    -- what the comparison rests on is there
    local text = table.concat(got, "\n")
    T.match(text, "helm upgrade namespace=" .. name:gsub("%-", "%%-") .. " release=" .. name:gsub("%-", "%%-") ..
      " chart=mybinder")
    T.match(text, "bans%.yaml")
    T.match(text, "kubectl rollout status %-%-timeout=10m namespace=" .. name:gsub("%-", "%%-"))
    T.match(text, "chart=oci://quay%.io/jetstack/charts/cert%-manager version=v1%.20%.2")
    if name == "curvenote" then
      T.match(text, "namespace=kube%-system release=curvenote chart=mybinder%-kube%-system")
      T.match(text, "namespace=tigera%-operator release=curvenote chart=mybinder%-tigera%-operator")
      T.match(text, "aws eks update%-kubeconfig %-%-name binderhub")
      T.match(text, "context=arn:aws:eks:")
    elseif name == "prod" then
      T.match(text, "gcloud container clusters get%-credentials prod")
      T.match(text, "context=gke_binderhub%-288415_us%-central1_prod")
    else
      T.match(text, "kubeconfig=secrets/" .. name:gsub("%-", "%%-") .. "%-kubeconfig%.yaml")
      T.match(text, "kubectl set resources deployments/coredns")
    end
  end, {skip = skip})
end

T.test("localhost: deploy.py crashes (list.extend returns None); the port runs the argv it means", function()
  local IP = "192.0.2.10"
  local a, b = repository(), repository()
  local ka, kb = standin(), standin()
  local r = deploy_py(a, ka, {"localhost", "--local-ip", IP})
  T.truthy(r.code ~= 0, "deploy.py localhost fails")
  T.match(r.stderr, "TypeError")
  T.eq(#ka:argvs("helm", "upgrade"), 0, "deploy.py never reached helm")
  -- what deploy.py means for localhost: no login, no cert-manager, the ban
  -- scripts, then this helm upgrade and the waits in namespace localhost
  local values = {"secrets/config/common/bans.yaml", "secrets/config/common/common.yaml",
                  "secrets/config/common/cryptnono-bannedips.yaml", "secrets/config/common/cryptnono.yaml",
                  "config/localhost.yaml"}
  local meant = {"upgrade", "--install", "--cleanup-on-fail", "--create-namespace", "--namespace=localhost",
                 "localhost", "mybinder"}
  for _, v in ipairs(values) do meant[#meant + 1] = "-f"; meant[#meant + 1] = v end
  for _, x in ipairs{
    "binderhub.config.BinderHub.hub_url=http://jupyterhub.mybinder." .. IP .. ".nip.io",
    "binderhub.ingress.hosts={mybinder." .. IP .. ".nip.io}",
    "binderhub.jupyterhub.ingress.hosts={jupyterhub.mybinder." .. IP .. ".nip.io}",
    "static.ingress.hosts={static." .. IP .. ".nip.io}"} do
    meant[#meant + 1] = "--set"; meant[#meant + 1] = x
  end
  local want = {show(normalise({tool = "helm", argv = meant, kubeconfig = "", context = ""}, a, ka.home)),
                "kubectl get deployments,daemonsets namespace=localhost output=name"}
  local s = D.slipway(b, {"stage", "localhost"}, {env = kb.env})
  T.eq(s.code, 2, "without LOCAL_IP: bad input")
  T.match(s.stderr, "LOCAL_IP")
  local env = {LOCAL_IP = IP}
  for k, v in pairs(kb.env) do env[k] = v end
  kb:clear()
  s = D.slipway(b, {"stage", "localhost"}, {env = env})
  T.eq(s.code, 0, s.stdout .. s.stderr)
  local got, missing = lines_of(kb, b)
  T.eq(missing, {})
  T.eq(#got, 4, table.concat(got, "\n"))
  T.eq(got[1], "chartpress --skip-build", "the build: the tags of the images staging pushed")
  T.eq(got[2], want[1])
  T.eq(got[3], want[2])
  T.match(got[4], "^kubectl rollout status %-%-timeout=10m namespace=localhost kubeconfig= context= " ..
    "{daemonset%.apps/staging%-image%-cleaner deployment%.apps/binder ")
end, {skip = skip})

-- ---- the dry run ---------------------------------------------------------------

local offline_cert_manager = MB.offline_cert_manager

local HELM = S.helm()

T.test("stage staging --dry-run: a plan naming every release, hook and values file, with rendered-manifest diffs", function()
  local dir = repository(offline_cert_manager)
  local k = standin({helm = HELM})
  local r = D.slipway(dir, {"stage", "staging", "--dry-run"}, {env = k.env})
  T.eq(r.code, 0, r.stdout .. r.stderr)
  local out = r.stdout
  if os.getenv("MYBINDER_SPEC_SHOW") then print(out) end
  local plan = out:match("Plan %(dry run.-\n(.*)$")
  T.truthy(plan, "a plan is printed: " .. out)
  -- the build: said, not run (chartpress --push pushes images)
  T.match(plan, "build chartpress %(staging%): chartpress %-%-push; it may change mybinder/values%.yaml")
  T.eq(#k:argvs("chartpress"), 0)
  -- the hooks: the ban scripts ran (they write only ignored files), the others are planned
  T.match(plan, "run before hook network%-bans now %(dry_run: true")
  T.match(plan, "run kubectl set resources %-n kube%-system deployments/coredns")
  T.match(plan, "run kubectl apply %-f https://github%.com/jetstack/cert%-manager/releases/download/v1%.20%.2/")
  -- every release, with its values files in deploy.py's order
  local cm = plan:match("run helm upgrade [^\n]*cert%-manager[^\n]*")
  T.match(cm, "%-%-namespace cert%-manager cert%-manager " .. dir:gsub("%p", "%%%0") .. "/stubs/cert%-manager " ..
    "%-%-version v1%.20%.2 %-f " .. dir:gsub("%p", "%%%0") .. "/config/cert%-manager%.yaml")
  local mb = plan:match("run helm upgrade [^\n]*%-%-namespace staging staging[^\n]*")
  T.truthy(mb, plan)
  local files = {}
  for f in mb:gmatch("%-f (%S+)") do files[#files + 1] = f:sub(#dir + 2) end
  T.eq(files, {"secrets/config/common/bans.yaml", "secrets/config/common/common.yaml",
               "secrets/config/common/cryptnono-bannedips.yaml", "secrets/config/common/cryptnono.yaml",
               "config/staging.yaml", "secrets/config/staging.yaml"})
  T.match(plan, "wait for every deployment and daemonset of namespace staging")
  T.nomatch(plan, "namespace cert%-manager to roll out", "cert-manager is not waited for, as in deploy.py")
  -- the rendered manifests of both releases, as a diff against nothing deployed
  T.match(out, "%+# %-%-%-%- release cert%-manager %(namespace cert%-manager")
  T.match(out, "%+# %-%-%-%- release staging %(namespace staging, chart mybinder%)")
  T.match(out, "\n%+kind: Deployment\n")
  -- nothing the repository tracks changed; the generated files are there
  T.eq(D.git(dir, "status", "--porcelain").stdout, "")
  T.truthy(fs.exists(dir .. "/secrets/config/common/bans.yaml"))
  -- and nothing was changed in the cluster
  T.eq(#k:argvs("helm", "upgrade"), 0)
  for _, c in ipairs(k:calls()) do
    T.truthy(c.argv[1] ~= "apply" and c.argv[1] ~= "set" and c.argv[1] ~= "create", table.concat(c.argv, " "))
  end
end, {skip = skip or ((not HELM) and "no real helm")})

T.test("deploy --dry-run: the build, then staging and every production member, each release, hook and values file, with diffs", function()
  local FB = require "fakebinder"
  local fake = FB.start()
  local dir = repository(function(d)
    offline_cert_manager(d)
    -- the port's checks request mybinder.org (off loopback): the dry run's
    -- test of staging GETs the fake instead (mybinder_tests_spec tests them)
    MB.one_check(fake)(d)
    -- SYNTHETIC secrets/ gap: the real secrets/config/prod.yaml sets the key
    -- prod's analytics-publisher Secret encodes (its template needs a string)
    fs.append(d .. "/secrets/config/prod.yaml", "analyticsPublisher:\n  serviceAccountKey: '{\"type\": \"service_account\"}'\n")
  end)
  local k = standin({helm = HELM})
  local r = D.slipway(dir, {"deploy", "--dry-run"}, {env = k.env, timeout = 300})
  T.eq(r.code, 0, r.stdout .. r.stderr)
  local out = r.stdout
  if os.getenv("MYBINDER_SPEC_SHOW") then print(out) end
  local plan = out:match("Plan %(dry run.-\n(.-)\n%-%-%- a/") or ""
  T.truthy(plan ~= "", "a plan is printed: " .. out)
  local function count(pat) return select(2, plan:gsub(pat, "")) end
  local D_ = dir:gsub("%p", "%%%0")
  -- the build: said once per kind, with what it would change, not run
  T.eq(count("build chartpress %(staging%): chartpress %-%-push; it may change mybinder/values%.yaml, " ..
    "mybinder/Chart%.yaml, mybinder%-kube%-system/Chart%.yaml, mybinder%-tigera%-operator/Chart%.yaml %-%- " ..
    "not run in a dry run"), 1, plan)
  T.eq(count("build chartpress %(production%): chartpress %-%-skip%-build;"), 1, plan)
  T.eq(#k:argvs("chartpress"), 0, "chartpress did not run")
  -- the gate, said
  T.match(plan, "promote requires a passed test on staging %(nothing has been tested on staging yet")
  -- every member: its login, its hooks, cert-manager and its own release with
  -- the values files in deploy.py's order, its rollout waits
  T.match(plan, "run login hook gcloud auth activate%-service%-account now")
  T.match(plan, "run login hook gcloud container clusters now")
  for _, m in ipairs{"staging", "prod", "hetzner-2i2c", "hetzner-gesis", "bids-ovh"} do
    local M_ = m:gsub("%p", "%%%0")
    local line = plan:match("run helm upgrade [^\n]*%-%-namespace " .. M_ .. " " .. M_ .. " [^\n]*")
    T.truthy(line, m .. ": its release in the plan")
    local files = {}
    for f in line:gmatch("%-f (%S+)") do files[#files + 1] = f:sub(#dir + 2) end
    T.eq(files, {"secrets/config/common/bans.yaml", "secrets/config/common/common.yaml",
                 "secrets/config/common/cryptnono-bannedips.yaml", "secrets/config/common/cryptnono.yaml",
                 "config/" .. m .. ".yaml", "secrets/config/" .. m .. ".yaml"}, m)
    T.match(plan, "wait for every deployment and daemonset of namespace " .. M_ .. " to roll out")
    if m ~= "prod" then
      T.match(plan, "use KUBECONFIG=secrets/" .. M_ .. "%-kubeconfig%.yaml for every command")
    end
    T.match(out, "\n%-%-%- a/%[" .. M_ .. "%] manifests\n")
    T.match(out, "%+# %-%-%-%- release " .. M_ .. " %(namespace " .. M_ .. ", chart mybinder%)")
  end
  T.eq(count("run before hook network%-bans now %(dry_run: true"), 5, "the ban scripts, per member")
  T.eq(count("run kubectl set resources %-n kube%-system deployments/coredns"), 4, "kubeconfig members only")
  T.eq(count("run helm upgrade [^\n]*%-%-namespace cert%-manager cert%-manager " .. D_ .. "/stubs/cert%-manager " ..
    "%-%-version v1%.20%.2 "), 5, "cert-manager for each")
  -- nothing changed: the tree, the cluster
  T.eq(D.git(dir, "status", "--porcelain").stdout, "")
  T.eq(#k:argvs("helm", "upgrade"), 0)
  for _, c in ipairs(k:calls()) do
    T.truthy(c.argv[1] ~= "apply" and c.argv[1] ~= "set" and c.argv[1] ~= "create", table.concat(c.argv, " "))
  end
  fake:close()
end, {skip = skip or ((not HELM) and "no real helm")})

T.test("dry run: a hook marked dry_run that changes a tracked file is refused, naming the file", function()
  local dir = repository(function(d)
    local y = d .. "/slipway.yaml"
    local text = fs.read(y):gsub("        %- %*network%-bans\n", "        - *network-bans\n" ..
      "        - {name: sneaky, dry_run: true, run: [python3, -c, \"open('config/staging.yaml', 'a').write('# x')\"]}\n", 1)
    fs.write(y, text)
  end)
  local k = standin({helm = HELM})
  local r = D.slipway(dir, {"stage", "staging", "--dry-run"}, {env = k.env})
  T.eq(r.code, 1, r.stdout .. r.stderr)
  T.match(r.stderr, "before hook sneaky changed files the repository does not ignore: config/staging%.yaml")
end, {skip = skip or ((not HELM) and "no real helm")})

-- ---- versions pinned outside YAML ------------------------------------------------

T.test("cert-manager's version comes from cert-manager.env; bump rewrites that one line", function()
  local dir = repository()
  local manifest = require "slipway.manifest"
  local environments = require "slipway.environments"
  local bump = require "slipway.bump"
  local m = manifest.load(dir)
  T.eq(environments.versions(m)["cert-manager"], "v1.20.2")
  local files, diff = bump.apply(m, "cert-manager", "v1.21.0")
  T.eq(files, {"cert-manager.env"})
  local minus, plus = 0, 0
  for l in diff:gmatch("[^\n]+") do
    if l:find("^%-[^%-]") then minus = minus + 1 end
    if l:find("^%+[^%+]") then plus = plus + 1 end
  end
  T.eq({minus, plus}, {1, 1}, diff)
  T.match(fs.read(dir .. "/cert-manager.env"), "\nexport CERT_MANAGER_VERSION=v1%.21%.0\n")
  T.match(fs.read(dir .. "/cert-manager.env"), "^# cert%-manager versions at")
  T.eq(environments.versions(m)["cert-manager"], "v1.21.0")
  -- the release follows
  D.git(dir, "commit", "-qam", "cert-manager: v1.20.2...v1.21.0")
  local k = standin()
  local r = D.slipway(dir, {"stage", "prod"}, {env = k.env})
  T.eq(r.code, 0, r.stdout .. r.stderr)
  local up = k:argvs("helm", "upgrade")[1]
  T.match(table.concat(up, " "), "cert%-manager oci://quay%.io/jetstack/charts/cert%-manager %-%-version v1%.21%.0 ")
  T.match(table.concat(k:argvs("kubectl", "apply")[1], " "), "/download/v1%.21%.0/cert%-manager%.crds%.yaml")
end, {skip = skip})

T.test("a mistake in a release, hook or template names slipway.yaml's line", function()
  local manifest = require "slipway.manifest"
  local environments = require "slipway.environments"
  local text = core.embedded(PREFIX .. "slipway.yaml")
  local function err_of(from, to)
    local t, n = text:gsub(from, to, 1)
    assert(n == 1, from)
    local ok, e = pcall(environments.load, manifest.parse(t, "slipway.yaml"))
    T.falsy(ok)
    return e.message, t
  end
  local function line_of(t, pat)
    local n = 0
    for l in (t .. "\n"):gmatch("([^\n]*)\n") do n = n + 1; if l:find(pat) then return n end end
  end
  -- (environments are checked in name order: bids-ovh first; its key comes
  -- from a template, so the line is that of the environment using it)
  local msg, t = err_of("cleanup_on_fail: false", "cleanup_on_fial: false")
  local env, rest = msg:match("^slipway%.yaml:%d+:%d+: environments%.([%w-]+)%.releases%[%d%]%.(.*)$")
  T.eq(env, "bids-ovh", msg)
  T.match(msg, "^slipway%.yaml:" .. line_of(t, "^  " .. env:gsub("%-", "%%-") .. ":") .. ":")
  T.eq(rest, "cleanup_on_fial: unknown key (known: name, chart, version, repo, " ..
    "namespace, values, set, flags, wait, cleanup_on_fail, before, after, description)")
  msg, t = err_of("template: kubeconfig%-member\n    url", "template: kubeconfig-membr\n    url")
  T.match(msg, "^slipway%.yaml:" .. line_of(t, "kubeconfig%-membr") ..
    ":%d+: environments%.staging%.template: no template 'kubeconfig%-membr' %(known: kubeconfig%-member, member%)")
  msg = err_of("fn: network_bans, dry_run: true", "fn: network_bans, dry_run: yes please")
  T.match(msg, "dry_run: expected true or false")
end)

T.run()
