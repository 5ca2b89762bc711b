-- Runbooks (slipway runbook): each shipped runbook against the recording
-- kubectl/helm stand-in (tests/standin/, canned outputs in real kubectl
-- formats) in a temp deployment repository (real git, the real mybinder.org
-- config files): its dry run, its confirmed run, refusal without a terminal,
-- --yes, and the journal entries. ban/rotation edits are checked as
-- one-line diffs with git.
local T = require "slipway.testing"
local fs = require "slipway.fs"
local proc = require "slipway.proc"
local json = require "slipway.json"
local yaml = require "slipway.yaml"
local runbook = require "slipway.runbook"
local journal = require "slipway.journal"
local S = require "standin"
local sync = require "sync"
local pty = require "pty"

local BIN = os.getenv("SLIPWAY_BIN") or arg[-1]
local FIX = S.shared .. "/fixtures/mybinder.org-deploy"
local USER = journal.whoami().user

-- a deployment repository: slipway.yaml (kubernetes envs pointing at the
-- stand-in), the real config/prod.yaml and config/staging.yaml, a git repo
local function repo(k, extra_envs)
  local dir = fs.tempdir()
  fs.mkdir(dir .. "/config")
  fs.mkdir(dir .. "/mybinder")
  fs.write(dir .. "/config/prod.yaml", fs.read(FIX .. "/config/prod.yaml"))
  fs.write(dir .. "/config/staging.yaml", fs.read(FIX .. "/config/staging.yaml"))
  fs.write(dir .. "/mybinder/Chart.yaml", fs.read(FIX .. "/mybinder/Chart.yaml"))
  local kopts = {kubectl = k.kubectl, helm = k.helm, env = k.env, dependency_update = false}
  local envs = {
    prod = {driver = "kubernetes", chart = "mybinder", values = {"config/prod.yaml"}, namespace = "prod",
            kubernetes = kopts},
    staging = {driver = "kubernetes", chart = "mybinder", values = {"config/staging.yaml"},
               kubernetes = kopts},
  }
  for name, e in pairs(extra_envs or {}) do envs[name] = e end
  fs.write(dir .. "/slipway.yaml", yaml.dump({name = "runbook-test", environments = envs,
    stages = {staging = "staging", production = {"prod"}}}))
  fs.write(dir .. "/.gitignore", ".slipway/\n")
  local function git(...) proc.run({"git", "-C", dir, ...}) end
  git("init", "-q", "-b", "main")
  git("config", "user.email", "sre@example.org")
  git("config", "user.name", "SRE")
  git("add", "-A")
  git("commit", "-q", "-m", "initial")
  return dir
end

-- output sinks that collect text
local function sink()
  local buf = {}
  return setmetatable({buf = buf}, {__index = {
    write = function(self, ...) for _, s in ipairs{...} do buf[#buf + 1] = tostring(s) end return self end,
    flush = function() end,
    text = function() return table.concat(buf) end,
  }})
end

-- run a runbook in-process; answers = list of lines the operator types
-- (nil: no terminal)
local function run(dir, name, argv, answers)
  local out, uiout = sink(), sink()
  local input
  if answers then
    local i = 0
    input = function() i = i + 1; return answers[i] end
  end
  local status, rb = runbook.run(name, argv, {root = dir, out = out, ui_out = uiout, input = input,
                                              tty = false})
  return {status = status, out = out:text(), ui = uiout:text(), rb = rb}
end

local function records(rb, type_)
  local t = {}
  for _, r in ipairs(rb.journal.records) do if r.type == type_ then t[#t + 1] = r end end
  return t
end

local function numstat(dir)
  local r = proc.run({"git", "-C", dir, "show", "--numstat", "--format=", "HEAD"})
  return (r.stdout:gsub("%s+$", ""))
end

local function head_diff(dir)
  return proc.run({"git", "-C", dir, "show", "--format=", "--unified=0", "HEAD"}).stdout
end

local function commits(dir)
  return tonumber((proc.run({"git", "-C", dir, "rev-list", "--count", "HEAD"}).stdout:gsub("%s", "")))
end

-- ---- the command ------------------------------------------------------------------

T.test("--list shows every shipped runbook with its description and arguments; --help; bad args", function()
  local k = S.new{helm = false}
  local dir = repo(k)
  local r = proc.run({BIN, "runbook", "--list"}, {cwd = dir, env = {PWD = dir}})
  for _, name in ipairs{"health", "restart", "clean-pods", "drain-node", "ban", "unban", "rotation", "diagnose"} do
    T.match(r.stdout, "\n" .. name:gsub("%-", "%%-") .. "%s", name .. " listed")
  end
  T.match(r.stdout, "restart%s+restart the hub %(or a named deployment%) and wait for it to be ready%s+ENV %[%-%-deployment STRING%] %[%-%-timeout STRING%]")
  -- a repository runbook overrides / adds
  fs.mkdir(dir .. "/runbooks")
  fs.write(dir .. "/runbooks/hello.lua", 'return {description = "say hello", run = function(rb) rb:print("hi") end}')
  r = proc.run({BIN, "runbook", "--list"}, {cwd = dir, env = {PWD = dir}})
  T.match(r.stdout, "hello%s+say hello%s+repository")
  r = proc.run({BIN, "runbook", "clean-pods", "--help"}, {cwd = dir, env = {PWD = dir}})
  T.match(r.stdout, "usage: slipway runbook clean%-pods ENV %[%-%-dry%-run%] %[%-%-yes%] %[%-%-pattern STRING%]")
  T.match(r.stdout, "%-%-hours NUMBER%s+delete pods older than this many hours %(default 6%)")
  r = proc.run({BIN, "runbook", "clean-pods", "prod", "--hours=soon"}, {cwd = dir, env = {PWD = dir}, check = false})
  T.eq(r.code, 2)
  T.match(r.stderr, "%-%-hours needs a number, got \"soon\"")
  r = proc.run({BIN, "runbook", "restart"}, {cwd = dir, env = {PWD = dir}, check = false})
  T.eq(r.code, 2)
  T.match(r.stderr, "missing ENV")
  r = proc.run({BIN, "runbook", "nosuch"}, {cwd = dir, env = {PWD = dir}, check = false})
  T.eq(r.code, 2)
  T.match(r.stderr, "no runbook 'nosuch'")
end)

-- ---- slipway.ui ------------------------------------------------------------------

T.test("ui: re-asks on a bad answer, end of input is no, choose by number or label, tables align", function()
  local ui = require "slipway.ui"
  local function with(answers, fn)
    local i, out = 0, sink()
    local prev = ui.setup{input = function() i = i + 1; return answers[i] end, out = out, tty = false}
    local ok, r = pcall(fn)
    ui.setup(prev)
    if not ok then error(r, 0) end
    return r, out:text()
  end
  local r, text = with({"maybe", "YES"}, function() return ui.confirm("Go?", {plan = {{argv = {"kubectl", "delete", "pod", "a b"}}}}) end)
  T.eq(r, true)
  T.match(text, "This will:\n  %$ kubectl delete pod 'a b'\nGo%? %[y/N%] maybe\nPlease answer y or n%.")
  T.eq(with({}, function() return ui.confirm("Go?") end), false, "end of input is no")
  T.eq(with({""}, function() return ui.confirm("Go?", {default = true}) end), true, "empty takes the default")
  T.eq(with({"node-b"}, function() return ui.choose("Which?", {"node-a", "node-b"}) end), "node-b")
  T.eq(with({"9", "1"}, function() return ui.choose("Which?", {{label = "A", value = 1}, {label = "B", value = 2}}) end), 1)
  T.eq(with({"", "x"}, function() return ui.input("Why?", {validate = function(v) return #v > 0 end}) end), "x")
  local err = T.raises(function() with(nil, function() ui.setup{tty = false, out = sink()}; return ui.confirm("Go?") end) end)
  T.eq(err.code, "refused")
  T.eq(ui.table({{name = "a", age = "7h"}, {name = "longer-name", age = "2d"}}, {"NAME", "AGE"}),
    "NAME          AGE\na             7h\nlonger-name   2d\n")
  T.eq({ui.age(30), ui.age(600), ui.age(25200), ui.age(172800)}, {"30s", "10m", "7h", "2d"})
end)

-- ---- restart -------------------------------------------------------------------------

T.test("restart: dry run, refusal without a terminal, declined, confirmed, --yes; answers journalled", function()
  local k = S.new{helm = false}
  local dir = repo(k)
  -- dry run: reads, plans the restart, asks nobody
  local r = run(dir, "restart", {"prod", "--dry-run"})
  T.eq(r.status, 0)
  T.eq(k:argvs("kubectl", "rollout"), {})
  -- the plan: the command as it runs (the environment's kubectl, its
  -- environment variables, --namespace)
  T.match(r.ui, "This will:\n  %$ [^\n]*SLIPWAY_STANDIN_LOG=[^\n]* " .. k.kubectl:gsub("%p", "%%%0") ..
    " rollout restart deployment/hub %-%-namespace=prod\n")
  T.match(r.out, "Dry run, nothing was changed%. Would have:\n  %- restarted deployment/hub in prod")
  T.eq(records(r.rb, "answer")[1].how, "dry-run")
  -- no terminal, no --yes: refused, nothing changed
  k:clear()
  r = run(dir, "restart", {"prod"})
  T.eq(r.status, 2)
  T.eq(k:argvs("kubectl", "rollout"), {})
  -- declined
  r = run(dir, "restart", {"prod"}, {"n"})
  T.eq(r.status, 1)
  T.eq(k:argvs("kubectl", "rollout"), {})
  T.match(r.out, "Declined%.")
  local a = records(r.rb, "answer")[1]
  T.eq({a.answer, a.how, a.user}, {"no", "input", USER})
  -- confirmed
  r = run(dir, "restart", {"prod", "--deployment=binder", "--timeout=2m"}, {"y"})
  T.eq(r.status, 0)
  T.eq(k:argvs("kubectl", "rollout"), {
    {"rollout", "restart", "deployment/binder", "--namespace=prod"},
    {"rollout", "status", "deployment/binder", "--timeout=2m", "--watch", "--namespace=prod"}})
  T.match(r.out, "deployment/binder%s+1/1")
  T.match(r.out, "Summary:\n  %- restarted deployment/binder in prod")
  a = records(r.rb, "answer")[1]
  T.eq({a.kind, a.question, a.answer, a.how, a.user}, {"confirm", "Restart deployment/binder in prod?", "yes", "input", USER})
  T.truthy(a.ts, "answer has a time")
  T.match(a.plan[1], "^%$ .* " .. k.kubectl:gsub("%p", "%%%0") .. " rollout restart deployment/binder %-%-namespace=prod$")
  -- --yes, with a rollout that times out: exit 1, the error says so
  k:clear()
  k:set{outcome = "rollout-timeout:hub"}
  r = run(dir, "restart", {"prod", "--yes"})
  T.eq(r.status, 1)
  T.eq(records(r.rb, "answer")[1].how, "--yes")
  T.eq(#k:argvs("kubectl", "rollout"), 2)
  -- a deployment that does not exist fails before asking
  k:set{outcome = "success"}
  r = run(dir, "restart", {"prod", "--deployment=nope"}, {"y"})
  T.eq(r.status, 1)
  T.eq(#records(r.rb, "answer"), 0)
end)

T.test("plans show each command as it will run: context, namespace, environment variables", function()
  local k = S.new{helm = false}
  local kenv = {KUBECONFIG = "/etc/kube/west.yaml"}
  for n, v in pairs(k.env) do kenv[n] = v end
  local dir = repo(k, {west = {driver = "kubernetes", chart = "mybinder", values = {"config/prod.yaml"},
    namespace = "binder-ns", context = "gke-west", kubernetes = {kubectl = k.kubectl, env = kenv}}})
  local r = run(dir, "restart", {"west", "--yes"})
  T.eq(r.status, 0, r.ui .. r.out)
  local planned = records(r.rb, "answer")[1].plan[1]
  T.match(planned, "^%$ [^\n]*KUBECONFIG=/etc/kube/west%.yaml [^\n]*" .. k.kubectl:gsub("%p", "%%%0") ..
    " rollout restart deployment/hub %-%-context=gke%-west %-%-namespace=binder%-ns$")
  -- what ran is what was shown
  T.eq(k:argvs("kubectl", "rollout")[1], {"rollout", "restart", "deployment/hub", "--context=gke-west", "--namespace=binder-ns"})
  -- drain-node: cluster-wide commands, without --namespace
  k:clear()
  r = run(dir, "drain-node", {"west", "gke-prod-user-202401-b9a8f2c1-q4m9", "--yes"})
  T.eq(r.status, 0, r.ui .. r.out)
  local plan = records(r.rb, "answer")[1].plan
  T.match(plan[1], " " .. k.kubectl:gsub("%p", "%%%0") .. " cordon gke%-prod%-user%-202401%-b9a8f2c1%-q4m9 %-%-context=gke%-west$")
  T.match(plan[2], " drain gke%-prod%-user%-202401%-b9a8f2c1%-q4m9 %-%-ignore%-daemonsets .* %-%-context=gke%-west$")
  T.eq(k:argvs("kubectl", "cordon"), {{"cordon", "gke-prod-user-202401-b9a8f2c1-q4m9", "--context=gke-west"}})
  -- ban: the git commands with the message they commit, `slipway stage` as it runs
  r = run(dir, "ban", {"^evil/x$", "--dry-run", "--reason=abuse", "--deploy=prod"})
  T.eq(r.status, 0, r.ui)
  T.match(r.ui, "\n  %$ git %-C " .. dir:gsub("%p", "%%%0") .. " add %-%- config/prod%.yaml\n")
  T.match(r.ui, "\n  %$ git %-C " .. dir:gsub("%p", "%%%0") .. " commit %-q %-m 'ban %^evil/x%$: abuse\n\nslipway runbook ban, run %S+, confirmed by ")
  T.match(r.ui, "\n  %$ %S+ stage prod   %(in " .. dir:gsub("%p", "%%%0") .. "%)\n")
end)

T.test("a kubernetes runbook refuses an environment on another driver: exit 2, no kubectl call", function()
  local D = require "deploytest"
  local k = S.new{helm = false}
  D.with_repo(nil, function(dir)
    -- the stand-in is the kubectl on PATH: any call would be recorded
    for _, argv in ipairs{{"runbook", "restart", "staging", "--dry-run"}, {"runbook", "clean-pods", "prod", "--yes"},
                          {"runbook", "diagnose", "staging"}, {"runbook", "drain-node", "prod", "n1", "--yes"}} do
      local r = D.slipway(dir, argv, {env = k.env})
      T.eq(r.code, 2, table.concat(argv, " ") .. "\n" .. r.stderr)
      T.match(r.stderr, "runbook " .. argv[2]:gsub("%p", "%%%0") .. " needs an environment on the kubernetes driver; " ..
        argv[3]:gsub("%p", "%%%0") .. " is on the local driver")
    end
    -- a runbook of the repository that declares no driver: rb:kubectl refuses too
    fs.mkdir(dir .. "/runbooks")
    fs.write(dir .. "/runbooks/pods.lua", [[
return {description = "list pods", args = {{name = "env", positional = true, required = true}},
  run = function(rb, args) rb:print(rb:kubectl(rb:environment(args.env), {"get", "pods"}, {readonly = true}).stdout) end}
]])
    local r = D.slipway(dir, {"runbook", "pods", "staging"}, {env = k.env})
    T.eq(r.code, 2, r.stderr)
    T.match(r.stderr, "kubectl needs an environment on the kubernetes driver; staging is on the local driver")
    T.eq(k:calls(), {}, "kubectl was never called")
  end)
end)

T.test("restart from the CLI: a real terminal (a pty) is asked; no terminal refuses with a clear message", function()
  local k = S.new{helm = false}
  local dir = repo(k)
  -- no terminal (stdin is a pipe): exit 2 and the reason
  local r = proc.run({BIN, "runbook", "restart", "prod"}, {cwd = dir, env = {PWD = dir}, check = false, stdin = ""})
  T.eq(r.code, 2)
  T.match(r.stderr, "no terminal %(stdin is not a tty%); re%-run with %-%-yes")
  T.eq(k:argvs("kubectl", "rollout"), {})
  -- a pseudo-terminal: slipway runs on it and "y" is typed
  if not pty.available() then T.skip("python3 is not installed: no pseudo-terminal") end
  r = pty.run({BIN, "--no-color", "runbook", "restart", "prod"}, {cwd = dir, env = {PWD = dir}, stdin = "y\n"})
  T.eq(r.code, 0, "exit on the terminal: " .. r.stdout .. r.stderr)
  T.match(r.stdout, "Restart deployment/hub in prod%? %[y/N%]")
  T.eq(#k:argvs("kubectl", "rollout"), 2)
  -- the journal on disk has the answer with the user
  local files = fs.glob(dir .. "/.slipway/journal/*.jsonl")
  local found
  for _, f in ipairs(files) do
    for _, rec in ipairs(journal.read(f)) do
      if rec.type == "answer" and rec.how == "terminal" then found = rec end
    end
  end
  T.truthy(found, "terminal answer journalled")
  T.eq({found.answer, found.user}, {"yes", USER})
end)

-- ---- clean-pods --------------------------------------------------------------------------

T.test("clean-pods: lists, then deletes old user pods and force-deletes Unknown ones", function()
  local k = S.new{helm = false}
  local dir = repo(k)
  local r = run(dir, "clean-pods", {"prod", "--dry-run"})
  T.eq(r.status, 0)
  T.match(r.out, "jupyter%-ipython%-2dipython%-2din%-2ddepth%-2d3wm1x9kq%s+Running%s+7h%s+gke%-prod%-user%-202401%-b9a8f2c1%-x7k2%s+delete")
  T.match(r.out, "jupyter%-ipython%-2dipython%-2din%-2ddepth%-2dq1w2e3r4%s+Unknown%s+60m%s+%S+%s+force delete")
  T.nomatch(r.out, "k2l9v0c8", "a 10-minute-old pod is kept")
  T.nomatch(r.out, "h6p0b1t2", "a 3-hour-old pod is kept")
  T.nomatch(r.out, "hub%-7d9c", "not a user pod")
  T.eq(k:argvs("kubectl", "delete"), {}, "dry run deletes nothing")
  T.eq(k:argvs("kubectl", "get"), {{"get", "pods", "-l", "component=singleuser-server", "-o", "json", "--namespace=prod"}})
  -- no terminal: refused
  r = run(dir, "clean-pods", {"prod"})
  T.eq(r.status, 2)
  T.eq(k:argvs("kubectl", "delete"), {})
  -- --yes
  r = run(dir, "clean-pods", {"prod", "--yes"})
  T.eq(r.status, 0)
  T.eq(k:argvs("kubectl", "delete"), {
    {"delete", "pod", "--wait=false", "jupyter-ipython-2dipython-2din-2ddepth-2d3wm1x9kq",
     "jupyter-minrk-2dbinder-2dexample-2dz8y7x6w5", "--namespace=prod"},
    {"delete", "pod", "jupyter-ipython-2dipython-2din-2ddepth-2dq1w2e3r4", "--grace-period=0", "--force",
     "--namespace=prod"}})
  T.match(r.out, "%- deleted 2 pods older than 6h in prod\n  %- force%-deleted jupyter%-ipython%-2dipython%-2din%-2ddepth%-2dq1w2e3r4 %(Unknown%) in prod")
  -- a narrower pattern and age, without Unknown
  k:clear()
  r = run(dir, "clean-pods", {"prod", "--pattern=jupyter-binder-*", "--hours=2", "--no-unknown"}, {"yes"})
  T.eq(r.status, 0)
  T.eq(k:argvs("kubectl", "delete"), {{"delete", "pod", "--wait=false",
    "jupyter-binder-2dexamples-2drequirements-2dh6p0b1t2", "--namespace=prod"}})
  T.eq(records(r.rb, "answer")[1].question, "Delete 1 pods in prod (0 forced)?")
end)

-- ---- drain-node ---------------------------------------------------------------------------

T.test("drain-node: nodes table, choose a node, cordon + drain with the usual flags, report", function()
  local k = S.new{helm = false}
  local dir = repo(k)
  local r = run(dir, "drain-node", {"prod", "--dry-run", "gke-prod-user-202401-b9a8f2c1-q4m9"})
  T.eq(r.status, 0)
  T.match(r.out, "gke%-prod%-user%-202401%-b9a8f2c1%-q4m9%s+NotReady%s+2d%s+user%-202401%s+v1%.30%.5")
  T.eq(k:argvs("kubectl", "drain"), {})
  T.eq(k:argvs("kubectl", "cordon"), {})
  -- no node given: chosen by number on the "terminal"
  r = run(dir, "drain-node", {"prod"}, {"3", "y"})
  T.eq(r.status, 0, r.ui)
  T.eq(k:argvs("kubectl", "cordon"), {{"cordon", "gke-prod-user-202401-b9a8f2c1-q4m9"}})
  T.eq(k:argvs("kubectl", "drain"), {{"drain", "gke-prod-user-202401-b9a8f2c1-q4m9", "--ignore-daemonsets",
    "--delete-emptydir-data", "--force", "--grace-period=60", "--timeout=15m"}})
  T.match(r.out, "Node gke%-prod%-user%-202401%-b9a8f2c1%-q4m9 is empty%.")
  local ans = records(r.rb, "answer")
  T.eq({ans[1].kind, ans[1].answer, ans[2].kind, ans[2].answer}, {"choose", "gke-prod-user-202401-b9a8f2c1-q4m9", "confirm", "yes"})
  -- --yes cannot choose a node for you
  r = run(dir, "drain-node", {"prod", "--yes"})
  T.eq(r.status, 2)
  -- an unknown node is refused
  r = run(dir, "drain-node", {"prod", "--yes", "gke-nope"})
  T.eq(r.status, 2)
end)

-- ---- ban / unban ----------------------------------------------------------------------------

T.test("ban/unban: lossless edits of the real config/prod.yaml, one line each, committed", function()
  local k = S.new{helm = false}
  local dir = repo(k)
  local before = fs.read(dir .. "/config/prod.yaml")
  -- dry run: the diff is shown, nothing written or committed
  local r = run(dir, "ban", {"^evil/miner.*", "--dry-run"})
  T.eq(r.status, 0)
  T.match(r.ui, "%+%s+GitHubRepoProvider:")
  T.eq(fs.read(dir .. "/config/prod.yaml"), before)
  T.eq(commits(dir), 1)
  -- refused without a terminal
  r = run(dir, "ban", {"^evil/miner.*"})
  T.eq(r.status, 2)
  T.eq(commits(dir), 1)
  -- first ban: creates the list (3 new lines under binderhub.config)
  r = run(dir, "ban", {"^evil/miner.*", "--yes", "--reason=crypto mining"})
  T.eq(r.status, 0, r.ui)
  T.eq(numstat(dir), "3\t0\tconfig/prod.yaml")
  T.eq(yaml.load_file(dir .. "/config/prod.yaml").binderhub.config.GitHubRepoProvider.banned_specs, {"^evil/miner.*"})
  T.match(proc.run({"git", "-C", dir, "log", "-1", "--format=%B"}).stdout,
    "ban %^evil/miner%.%*: crypto mining\n\nslipway runbook ban, run %S+, confirmed by " .. USER)
  -- second ban: exactly one added line
  r = run(dir, "ban", {"^other/abuse$"}, {"abuse", "y"})
  T.eq(r.status, 0, r.ui)
  T.eq(numstat(dir), "1\t0\tconfig/prod.yaml")
  T.match(head_diff(dir), "\n%+        %- \"?%^other/abuse%$\"?\n")
  local a = records(r.rb, "answer")
  T.eq({a[1].kind, a[1].answer, a[2].kind, a[2].answer}, {"input", "abuse", "confirm", "yes"})
  -- banning it twice is refused
  r = run(dir, "ban", {"^other/abuse$", "--yes"})
  T.eq(r.status, 2)
  -- unban: exactly one removed line; everything else as it was
  r = run(dir, "unban", {"^evil/miner.*", "--yes"})
  T.eq(r.status, 0, r.ui)
  T.eq(numstat(dir), "0\t1\tconfig/prod.yaml")
  T.eq(yaml.load_file(dir .. "/config/prod.yaml").binderhub.config.GitHubRepoProvider.banned_specs, {"^other/abuse$"})
  local now = fs.read(dir .. "/config/prod.yaml")
  T.match(now, "# 20Gi wasn't enough to rebuild WAL on startup\n", "comments kept")
  T.match(now, "build_node_selector: %*userNodeSelector\n", "aliases kept")
  r = run(dir, "unban", {"^never/banned$", "--yes"})
  T.eq(r.status, 2)
  -- ban and deploy: committed, then `slipway stage prod` through the
  -- kubernetes driver (the stand-in records the helm upgrade)
  k:clear()
  r = run(dir, "ban", {"^third/one$", "--yes", "--deploy=prod"})
  T.eq(r.status, 0, r.ui .. r.out)
  T.eq(k:argvs("helm", "upgrade"), {{"upgrade", "--install", "--cleanup-on-fail", "--create-namespace",
    "--namespace", "prod", "prod", dir .. "/mybinder", "-f", dir .. "/config/prod.yaml"}})
  T.match(r.out, "%- deployed prod %(slipway stage prod%)")
  T.eq(#k:argvs("kubectl", "rollout"), 7)
end)

-- ---- rotation ---------------------------------------------------------------------------------

T.test("rotation: out and back in through one-line config edits, values restored from the state dir", function()
  local k = S.new{helm = false}
  local dir = repo(k)
  local before = fs.read(dir .. "/config/prod.yaml")
  local r = run(dir, "rotation", {"out", "hetzner-gesis", "--dry-run"})
  T.eq(r.status, 0)
  T.match(r.ui, "%-      weight: 50\n  %+      weight: 0")
  T.eq(fs.read(dir .. "/config/prod.yaml"), before)
  T.falsy(fs.exists(dir .. "/.slipway/rotation/hetzner-gesis.json"), "dry run saves nothing")
  r = run(dir, "rotation", {"out", "hetzner-gesis"})
  T.eq(r.status, 2, "no terminal")
  r = run(dir, "rotation", {"out", "hetzner-gesis"}, {"y"})
  T.eq(r.status, 0, r.ui)
  T.eq(numstat(dir), "1\t1\tconfig/prod.yaml")
  T.match(head_diff(dir), "\n%-      weight: 50\n%+      weight: 0\n")
  local v = yaml.load_file(dir .. "/config/prod.yaml")
  T.eq(v.federationRedirect.hosts["hetzner-gesis"].weight, 0)
  T.eq(v.federationRedirect.hosts["hetzner-2i2c"].weight, 50, "other members untouched")
  T.eq(json.read(dir .. "/.slipway/rotation/hetzner-gesis.json").weight, 50)
  -- again: already out, nothing to do
  r = run(dir, "rotation", {"out", "hetzner-gesis", "--yes"})
  T.eq(r.status, 0)
  T.match(r.out, "already out of rotation")
  -- back in: restored from the saved value
  r = run(dir, "rotation", {"in", "hetzner-gesis", "--yes"})
  T.eq(r.status, 0, r.ui)
  T.eq(numstat(dir), "1\t1\tconfig/prod.yaml")
  T.eq(fs.read(dir .. "/config/prod.yaml"), before, "back to the original text")
  -- a member with its own config file: pod_quota and weight, one line each
  r = run(dir, "rotation", {"out", "staging", "--redirect=config/staging.yaml", "--yes"})
  T.eq(r.status, 0, r.ui)
  T.eq(numstat(dir), "2\t2\tconfig/staging.yaml")
  local d = head_diff(dir)
  T.match(d, "\n%-      pod_quota: 20\n%+      pod_quota: 0\n")
  T.match(d, "\n%-      weight: 100\n%+      weight: 0\n")
  -- unknown member / no saved values
  T.eq(run(dir, "rotation", {"out", "nosuch", "--yes"}).status, 2)
  T.eq(run(dir, "rotation", {"in", "bids-ovh", "--yes"}).status, 2)
end)

-- ---- diagnose -------------------------------------------------------------------------------------

-- the files matching pattern, concatenated (as cat with a shell glob);
-- no match fails
local function cat_glob(pattern)
  local files = fs.glob(pattern)
  T.truthy(#files > 0, "no file matches " .. pattern)
  local parts = {}
  for i, f in ipairs(files) do parts[i] = fs.read(f) end
  return table.concat(parts)
end

T.test("diagnose: get/describe/logs collected concurrently into a timestamped archive, secrets redacted", function()
  local k = S.new{helm = false}
  local dir = repo(k)
  local out = fs.tempdir()
  local r = run(dir, "diagnose", {"prod", "--out=" .. out, "--dry-run"})
  T.eq(r.status, 0)
  T.eq(fs.glob(out .. "/*"), {}, "dry run writes nothing")
  k:clear()
  r = run(dir, "diagnose", {"prod", "--out=" .. out})
  T.eq(r.status, 0, r.ui)
  local archive = r.rb.result
  T.match(archive, "/diagnose%-prod%-%d%d%d%d%d%d%d%dT%d%d%d%d%d%dZ%.tar%.gz$")
  local list = proc.run({"tar", "-tzf", archive}).stdout
  for _, f in ipairs{"get-all.txt", "events.txt", "describe-pods.txt", "pods.json", "secrets.json",
                     "logs-hub.txt", "logs-binder.txt"} do
    T.match(list, f:gsub("%-", "%%-"):gsub("%.", "%%.") , f .. " in the archive")
  end
  local x = fs.tempdir()
  proc.run({"tar", "-xzf", archive, "-C", x})
  local all = cat_glob(x .. "/*/*")
  T.nomatch(all, "c2VjcmV0LWNvb2tpZS1kby1ub3QtbGVhaw", "secret data (base64)")
  T.nomatch(all, "secret%-cookie%-do%-not%-leak", "secret data (decoded)")
  T.nomatch(all, "6b1e0c9a4f2d8e7b", "a key in describe's environment")
  T.nomatch(all, "9f8e7d6c5b4a39281706", "a token in the logs")
  T.match(all, "hub%.config%.JupyterHub%.cookie_secret", "secret keys are kept")
  T.match(all, "Running JupyterHub version 4%.1%.6", "logs are there")
  -- every read ran with the namespace, logs per deployment
  local logs = {}
  for _, a in ipairs(k:argvs("kubectl", "logs")) do logs[a[2]] = a end
  T.eq(logs["deployment.apps/binder"], {"logs", "deployment.apps/binder", "--all-containers", "--timestamps",
    "--tail=2000", "--namespace=prod"})
  local n = 0
  for _ in pairs(logs) do n = n + 1 end
  T.eq(n, 6, "one logs call per deployment")
  T.eq(#fs.glob(out .. "/*"), 1, "only the archive stays")
  -- concurrency, and the stand-in's scenario rules: the logs/describe calls
  -- are answered only once all 8 run (one after the other, the first would
  -- wait for the rest), slowly (DELAY), and one deployment's logs fail
  local sc = fs.tempdir()
  fs.write(sc .. "/logs.txt", "[I 2026-11-26 23:00:00.000 JupyterHub app:1] slow log line\n")
  fs.write(sc .. "/rules", table.concat({
    "# GLOB\tEXIT\tSTDOUT\tSTDERR\tDELAY",
    "kubectl logs deployment.apps/proxy *\t1\t-\tError from server (BadRequest): container \"chp\" is waiting to start\t0.1",
    "kubectl logs *\t0\t@logs.txt\t-\t0.1",
    "kubectl describe *\t0\tName: x\\nNamespace: prod\t-\t0.1",
  }, "\n") .. "\n")
  k:set{scenario = sc .. "/rules"}
  k:clear()
  local reads_at_once = sync.proc_barrier(8, "kubectl logs/describe calls")
  k:gate("logs\\ *|describe\\ *", reads_at_once)
  r = run(dir, "diagnose", {"prod", "--out=" .. out})
  k:gate()
  k:set{scenario = false}
  reads_at_once:check()
  T.eq(r.status, 0, r.ui)
  local slow = {}
  for _, c in ipairs(k:calls()) do
    if c.argv[1] == "logs" or c.argv[1] == "describe" then slow[#slow + 1] = c end
  end
  T.eq(#slow, 8)
  x = fs.tempdir()
  proc.run({"tar", "-xzf", r.rb.result, "-C", x})
  local proxy = cat_glob(x .. "/*/logs-proxy.txt")
  T.match(proxy, "# kubectl failed %(exit 1%): Error from server %(BadRequest%): container \"chp\" is waiting to start")
  T.match(cat_glob(x .. "/*/logs-hub.txt"), "slow log line")
  T.match(cat_glob(x .. "/*/describe-pods.txt"), "^Name: x\nNamespace: prod\n")
end)

-- ---- health ------------------------------------------------------------------------------------------

T.test("health: every environment's /health and /versions concurrently; version skew between members fails", function()
  local server = require "slipway.server"
  local versions = {prod = "1.0.0-0.dev.git.3506.hba24eb2a", ["prod-b"] = "1.0.0-0.dev.git.3503.ha8a2e19",
                    staging = "1.0.0-0.dev.git.3506.hba24eb2a"}
  local servers, envs = {}, {}
  -- the three /health requests are answered only once all three arrived:
  -- asked one after the other, the first would wait for the others
  local asked_at_once = sync.barrier(3, "/health requests")
  local k = S.new{helm = false}
  for name in pairs(versions) do
    local srv = server.serve{handler = function(req)
      if req.path == "/health" then
        asked_at_once:arrive()
        return {status = 200, body = "{\"ok\": true}"}
      end
      if req.path == "/versions" then
        return {status = 200, headers = {["content-type"] = "application/json"},
                body = json.encode({binderhub = versions[name],
                                    builder_info = {build_image = "quay.io/jupyterhub/repo2docker:2024.07.0"}})}
      end
      return {status = 404, body = "no"}
    end}
    servers[#servers + 1] = srv
    envs[name] = {driver = "kubernetes", chart = "mybinder", url = srv:url():gsub("/$", ""),
                  kubernetes = {kubectl = k.kubectl}}
  end
  local dir = repo(k, envs)
  local y = yaml.load_file(dir .. "/slipway.yaml")
  y.stages.production = {"prod", "prod-b"}
  fs.write(dir .. "/slipway.yaml", yaml.dump(y))
  -- (a request timeout longer than the barrier's safety net: a client that
  -- gave up would let the next request come, one after the other)
  local r = run(dir, "health", {"--timeout=" .. 2 * sync.SAFETY})
  asked_at_once:check()
  T.eq(r.status, 1)
  T.match(r.out, "prod%-b%s+200%s+1%.0%.0%-0%.dev%.git%.3503%.ha8a2e19%s+quay%.io")
  -- the error names the skew
  local ends = records(r.rb, "run_end")
  T.match(ends[1].error, "version skew between federation members %(prod, prod%-b%)")
  T.match(ends[1].error, "binderhub differs: prod%-b: 1%.0%.0%-0%.dev%.git%.3503%.ha8a2e19; prod: 1%.0%.0%-0%.dev%.git%.3506%.hba24eb2a")
  T.nomatch(ends[1].error, "builder differs", "the builder image is the same everywhere")
  -- all on the same version: healthy, exit 0
  versions["prod-b"] = versions.prod
  r = run(dir, "health", {})
  T.eq(r.status, 0)
  T.match(r.out, "All 3 environments healthy; 2 federation members on the same versions%.")
  for _, s in ipairs(servers) do s:close() end
end)

T.test("health with the local driver: real services of the example deployment, skew after a partial promote", function()
  local D = require "deploytest"
  D.with_repo(nil, function(dir)
    for _, env in ipairs{"staging", "prod"} do
      local r = D.slipway(dir, {"stage", env})
      T.eq(r.code, 0, "stage " .. env .. ": " .. r.stderr)
    end
    -- a new builder image reaches prod-b only: the federation members disagree
    D.commit_edit(dir, "mybinder/values.yaml", "repo2docker:2026.4.1.dev44-g97bb4e45a",
      "repo2docker:2026.4.2", "bump repo2docker")
    T.eq(D.slipway(dir, {"stage", "prod-b"}).code, 0)
    local r = D.slipway(dir, {"runbook", "health"})
    T.eq(r.code, 1, r.stdout .. r.stderr)
    T.match(r.stdout, "prod%-b%s+200%s+1%.0%.0%-0%.dev%.git%.3503%.ha8a2e19%s+quay%.io/jupyterhub/repo2docker:2026%.4%.2%s")
    T.match(r.stderr, "version skew between federation members %(prod, prod%-b%)")
    T.match(r.stderr, "builder differs: prod%-b: quay%.io/jupyterhub/repo2docker:2026%.4%.2; prod: quay%.io/jupyterhub/repo2docker:2026%.4%.1%.dev44%-g97bb4e45a")
    -- prod catches up: healthy again
    T.eq(D.slipway(dir, {"stage", "prod"}).code, 0)
    r = D.slipway(dir, {"runbook", "health"})
    T.eq(r.code, 0, r.stdout .. r.stderr)
    T.match(r.stdout, "All 3 environments healthy; 2 federation members on the same versions%.")
  end)
end)

T.run()
