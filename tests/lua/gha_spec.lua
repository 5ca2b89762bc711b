-- GitHub Actions output: a real slipway runs a real playbook with
-- GITHUB_ACTIONS=true; its stderr must group steps and annotate failures,
-- and the job summary must hold the outcome, steps and checks -- with the
-- secret masked everywhere.
local T = require "slipway.testing"
local fs = require "slipway.fs"
local proc = require "slipway.proc"
local gha = require "slipway.gha"

local bin = os.getenv("SLIPWAY_BIN") or "build/slipway"
local SECRET = "gh-token-5f1e2d3c4b"

local function run_playbook(text)
  local dir = fs.tempdir()
  fs.write(dir .. "/play.lua", text)
  local summary = dir .. "/summary.md"
  fs.write(summary, "")
  local r = proc.run({bin, "play.lua"}, {cwd = dir, check = false, env = {
    GITHUB_ACTIONS = "true", GITHUB_STEP_SUMMARY = summary, DEPLOY_TOKEN = SECRET,
    NO_COLOR = "1"}})
  return r, fs.read(summary)
end

T.test("steps are grouped, a failure is an annotation with file and line", function()
  local r, summary = run_playbook([[
local playbook = require "slipway.playbook"
local env = require "slipway.env"
return playbook.define{name = "gha", steps = {
  {name = "prepare", run = function(ctx) ctx:log("info", "token is %s", env.secret("DEPLOY_TOKEN")) end},
  {name = "ship", run = function(ctx) error("ship broke with " .. os.getenv("DEPLOY_TOKEN")) end},
}}
]])
  T.ne(r.code, 0, "the playbook fails")
  local err = r.stderr
  T.match(err, "::group::prepare\n")
  T.match(err, "::group::ship\n")
  T.match(err, "::endgroup::\n")
  T.match(err, "::error file=play%.lua,line=5,title=step ship::[^\n]*ship broke with %*%*%*")
  T.nomatch(err, SECRET, "stderr never shows the secret")
  -- groups open and close in pairs, the prepare group closed before ship's
  local opens, closes = select(2, err:gsub("::group::", "")), select(2, err:gsub("::endgroup::", ""))
  T.eq(opens, closes)
  T.truthy(err:find("::group::prepare") < err:find("::endgroup::") and
           err:find("::endgroup::") < err:find("::group::ship"))
  -- the summary
  T.match(summary, "### ❌ slipway [^\n]*: failed")
  T.match(summary, "| prepare | ✅ ok |")
  T.match(summary, "| ship | ❌ [^\n]*ship broke with %*%*%*")
  T.nomatch(summary, SECRET, "the summary never shows the secret")
end)

T.test("a green run gets a success summary and no error annotation", function()
  local r, summary = run_playbook([[
local playbook = require "slipway.playbook"
return playbook.define{name = "gha", steps = {
  {name = "one", run = function() end},
}}
]])
  T.eq(r.code, 0, r.stderr)
  T.nomatch(r.stderr, "::error")
  T.match(summary, "### ✅ slipway [^\n]*: success")
  T.match(summary, "| one | ✅ ok |")
end)

T.test("a failing check is annotated with its line in slipway.yaml", function()
  local D = require "deploytest"
  D.with_repo(nil, function(dir)
    T.eq(D.slipway(dir, {"deploy"}).code, 0)
    D.commit_edit(dir, "mybinder/Chart.yaml", "1.0.0-0.dev.git.3503.ha8a2e19", "1.0.0-0.dev.git.3601.h0b4d0b4d",
      "Bump binderhub to 3601 (its launches fail)")
    local line
    local n = 0
    for l in (fs.read(dir .. "/slipway.yaml") .. "\n"):gmatch("([^\n]*)\n") do
      n = n + 1
      if not line and l:match("^%s*%- name: launch") then line = n end
    end
    T.truthy(line, "the example declares the launch check")
    local r = D.slipway(dir, {"deploy"}, {env = {GITHUB_ACTIONS = "true", GITHUB_WORKSPACE = dir}})
    T.eq(r.code, 3, r.stderr)
    T.match(r.stderr, "\n::error file=slipway%.yaml,line=" .. line .. ",title=check launch %(staging%)::launch failed")
    -- the checks that passed are not annotated
    T.nomatch(r.stderr, "title=check health")
  end)
end, {timeout = 120})

T.test("workflow command escaping", function()
  T.eq(gha.escape_data("50% done\nnext\r"), "50%25 done%0Anext%0D")
  T.eq(gha.escape_prop("a:b,c"), "a%3Ab%2Cc")
end)

T.test("summary from records: checks and deployed versions as tables", function()
  local md = gha.summary{
    {type = "run", run = "r1", command = "deploy", sha = "0123456789abcdef"},
    {type = "deployed", env = "staging", versions = {binderhub = "1.0.0-0.dev.git.2.hb", repo2docker = "2026.1.0"}, revision = 3},
    {type = "check", env = "staging", name = "health", ok = true, attempts = 1, duration = 0.05},
    {type = "check", env = "staging", name = "versions", ok = false, detail = "binderhub 1 != 2", attempts = 3, duration = 1.5},
    {type = "step_end", step = "stage", ok = true, duration = 2},
    {type = "run_end", ok = false, outcome = "reverted", duration = 12.5},
  }
  T.match(md, "### ⏪ slipway deploy: reverted")
  T.match(md, "Run `r1` at `0123456789ab`")
  T.match(md, "| staging | binderhub `1.0.0%-0.dev.git.2.hb`<br>repo2docker `2026.1.0` | 3 |")
  T.match(md, "| health | staging | ✅ passed | 1 | 50 ms |")
  T.match(md, "| versions | staging | ❌ binderhub 1 != 2 | 3 | 1.5 s |")
end)

T.run()
