-- The image build before stage and promote's gate on its outputs, in a copy
-- of the real mybinder.org-deploy with the port (scripts/examples/mybinder/):
-- `build: chartpress` (`--push` before staging, `--skip-build` before
-- production) rewrites the image tags in mybinder/values.yaml and the
-- charts' versions; what staging tested holds their sha256 and changed
-- lines; promote runs its own build and refuses other outputs.
--
-- Stand-ins: tests/standin/chartpress (the STAND-IN for chartpress: tags
-- from the commit, nothing built or pushed) and tests/standin/standin
-- (helm, kubectl, gcloud, aws: no cluster here). The port's own checks
-- request mybinder.org's live services; the gate does not depend on which
-- checks pass, so this copy replaces them by ONE check against the fake
-- BinderHub (tests/lua/lib/fakebinder.lua) whose URL is a value of
-- config/staging.yaml and config/prod.yaml -- so a commit can break it
-- (the revert case). mybinder_tests_spec.lua tests the port's checks.
local T = require "slipway.testing"
local fs = require "slipway.fs"
local proc = require "slipway.proc"
local json = require "slipway.json"
local build = require "slipway.build"
local D = require "deploytest"
local MB = require "mybindertest"
local FB = require "fakebinder"

local skip = MB.skip

local one_check = MB.one_check

local function record(dir, env)
  local r = proc.run({"git", "-C", dir, "show", "refs/slipway/state:envs/" .. env .. ".json"},
    {check = false, echo = false})
  T.eq(r.code, 0, "the shared record of " .. env .. ": " .. r.stderr)
  return json.decode(r.stdout).state
end

local function head(dir) return (D.git(dir, "rev-parse", "HEAD").stdout:gsub("%s+$", "")) end

local function calls(k, tool)
  local out = {}
  for _, a in ipairs(k:argvs(tool)) do out[#out + 1] = table.concat(a, " ") end
  return out
end

local function with_env(k, extra)
  local env = {}
  for key, v in pairs(k.env) do env[key] = v end
  for key, v in pairs(extra or {}) do env[key] = v end
  return env
end

T.test("staging builds and tests the tags; promote builds again, accepts the same outputs, refuses others", function()
  local fake = FB.start()
  local dir = MB.repository(one_check(fake))
  local k = MB.standin()
  local sha = head(dir)
  local tag = "0.0.1-0.dev.git.1.h" .. sha:sub(1, 7)

  -- stage: chartpress --push before helm, the tags written into values.yaml
  local r = D.slipway(dir, {"stage", "staging"}, {env = k.env})
  T.eq(r.code, 0, r.stdout .. r.stderr)
  T.eq(calls(k, "chartpress"), {"--push"})
  local first = k:calls()[1]
  T.eq(first.tool, "chartpress", "the build runs before any helm or kubectl call")
  local values = fs.read(dir .. "/mybinder/values.yaml")
  T.match(values, "image: jupyterhub/mybinder%.org%-minesweeper:" .. tag:gsub("%p", "%%%0") .. "\n")
  T.match(values, '\n    name: jupyterhub/mybinder%.org%-federation%-redirect\n    tag: "' .. tag:gsub("%p", "%%%0") .. '"\n')
  T.match(D.git(dir, "status", "--porcelain").stdout, " M mybinder/values%.yaml")

  -- test (another process, as the workflow runs it): the outputs of what
  -- was deployed go into `tested`; the build's changes do not make it dirty
  r = D.slipway(dir, {"test", "staging"}, {env = k.env})
  T.eq(r.code, 0, r.stdout .. r.stderr)
  local rec = record(dir, "staging")
  T.eq(rec.tested.sha, sha)
  T.eq(rec.tested.ok, true)
  T.falsy(rec.tested.dirty, "the build's outputs are not uncommitted changes")
  T.eq(rec.good.sha, sha, "and it is a good deploy (the revert target)")
  local out = rec.tested.outputs["mybinder/values.yaml"]
  T.eq(out.sha256, build.sha256(values), "sha256 of what was deployed")
  local tc = false
  for _, l in ipairs(out.changed) do
    if l:match("^%d+:%s+image: jupyterhub/mybinder%.org%-tc%-init:" .. tag:gsub("%p", "%%%0") .. "$") then tc = true end
  end
  T.truthy(tc, "the changed lines name the tags: " .. table.concat(out.changed, " | "))
  T.eq(#out.changed, 5, "five images")
  T.eq(rec.tested.outputs["mybinder/Chart.yaml"].changed, {'4: version: "' .. tag .. '"'})

  -- production's build yields another tag: refused, naming the file and the tags
  k:clear()
  r = D.slipway(dir, {"promote", "--only", "prod"}, {env = with_env(k, {CHARTPRESS_STANDIN_TAG = "0.0.1-rebuilt"})})
  T.eq(r.code, 2, r.stdout .. r.stderr)
  T.eq(calls(k, "chartpress"), {"--skip-build"})
  T.match(r.stderr, "promote refused: staging %(run [^)]+%) %-%- the build's outputs are not those staging tested")
  T.match(r.stderr, "mybinder/values%.yaml differs %(tested: sha256 " .. out.sha256:sub(1, 12) .. ", this build: sha256 ")
  T.match(r.stderr, "tested:%s+%d+:%s+tag: \"" .. tag:gsub("%p", "%%%0") .. "\"")
  T.match(r.stderr, "this build: %d+:%s+tag: \"0%.0%.1%-rebuilt\"")
  T.match(r.stderr, "mybinder/Chart%.yaml differs")
  T.eq(#k:argvs("helm", "upgrade"), 0, "nothing was deployed")

  -- the same build outputs: accepted, although the tree holds the build's changes
  k:clear()
  r = D.slipway(dir, {"promote", "--only", "prod"}, {env = k.env})
  T.eq(r.code, 0, r.stdout .. r.stderr)
  T.eq(calls(k, "chartpress"), {"--skip-build"})
  T.eq(#k:argvs("helm", "upgrade"), 2, "cert-manager and prod")
  T.eq(record(dir, "prod").deployed.outputs["mybinder/values.yaml"].sha256, out.sha256)

  -- a fresh checkout (a CI runner of the production job): the record comes
  -- from the remote, the build makes the same tags
  local clone = MB.runner(dir, "runner")
  k:clear()
  r = D.slipway(clone, {"promote", "--only", "hetzner-2i2c"}, {env = k.env})
  T.eq(r.code, 0, r.stdout .. r.stderr)
  T.eq(calls(k, "chartpress"), {"--skip-build"})
  T.eq(fs.read(clone .. "/mybinder/values.yaml"), values)

  -- any other uncommitted change is still refused
  fs.append(dir .. "/config/prod.yaml", "\n# an edit\n")
  k:clear()
  r = D.slipway(dir, {"promote", "--only", "prod"}, {env = k.env})
  T.eq(r.code, 2, r.stdout .. r.stderr)
  T.match(r.stderr, "promote refused: the working tree has uncommitted changes")
  fake:close()
end, {skip = skip, timeout = 600})

T.test("a failed staging test reverts past the build's changes; the redeploy builds again", function()
  local fake = FB.start()
  local dir = MB.repository(one_check(fake))
  local k = MB.standin()
  local good = head(dir)
  T.eq(D.slipway(dir, {"stage", "staging"}, {env = k.env}).code, 0)
  T.eq(D.slipway(dir, {"test", "staging"}, {env = k.env}).code, 0)
  T.eq(record(dir, "staging").good.sha, good)
  -- a commit that breaks staging's check (the build's changes are not part of it)
  D.git(dir, "checkout", "--", ".")
  D.commit_edit(dir, "config/staging.yaml", fake.binder_url .. "/health", fake.binder_url .. "/nothing-here",
    "staging: a broken URL")
  local bad = head(dir)
  k:clear()
  local r = D.slipway(dir, {"deploy"}, {env = k.env})
  T.eq(r.code, 3, "failed, reverted: " .. r.stdout .. r.stderr)
  T.match(D.git(dir, "log", "-1", "--format=%s").stdout, "^Revert to " .. good:sub(1, 12))
  T.eq(calls(k, "chartpress"), {"--push", "--push"}, "the redeploy built the revert commit's images")
  local rec = record(dir, "staging")
  T.eq(rec.tested.ok, true)
  T.eq(rec.tested.sha, head(dir))
  T.truthy(head(dir) ~= bad)
  T.match(fs.read(dir .. "/mybinder/values.yaml"), "%.h" .. head(dir):sub(1, 7), "the revert commit's tags")
  T.eq(D.git(dir, "status", "--porcelain", "--", "config").stdout, "", "nothing else left over")
  fake:close()
end, {skip = skip, timeout = 600})

T.test("a build that changes a file it does not declare fails the stage, naming the file", function()
  local dir = MB.repository(function(d)
    local y = d .. "/slipway.yaml"
    local text, n = fs.read(y):gsub("    %- mybinder/Chart%.yaml\n", "", 1)
    assert(n == 1)
    fs.write(y, text)
  end)
  local k = MB.standin()
  local r = D.slipway(dir, {"stage", "staging"}, {env = k.env})
  T.eq(r.code, 1, r.stdout .. r.stderr)
  T.match(r.stderr, "build chartpress %(staging%) changed files it does not declare in build%.outputs: mybinder/Chart%.yaml")
  T.eq(#k:argvs("helm", "upgrade"), 0, "nothing deployed")
  -- (the check runs while the deploy lock is taken: a lock it took is released)
  T.eq(#k:argvs("kubectl", "delete"), #k:argvs("kubectl", "create"), "every deploy lock taken is released")
  -- with --lock-wait (the lock may take long) the check comes first: no lock is tried
  D.git(dir, "checkout", "-q", "--", ".")  -- (the first build's changes undone)
  local k2 = MB.standin()
  r = D.slipway(dir, {"stage", "staging", "--lock-wait", "30"}, {env = k2.env})
  T.eq(r.code, 1, r.stdout .. r.stderr)
  T.match(r.stderr, "changed files it does not declare in build%.outputs: mybinder/Chart%.yaml")
  T.eq(#k2:argvs("kubectl", "create"), 0, "no deploy lock tried")
end, {skip = skip})

T.test("a build marked dry_run runs in a dry run: its diffs and the manifests it changes are shown, its outputs put back", function()
  local S = require "standin"
  local helm = S.helm()
  if not helm then T.skip("no real helm") end
  local dir = MB.repository(function(d)
    MB.offline_cert_manager(d)
    local y = d .. "/slipway.yaml"
    local text, n = fs.read(y):gsub("  production: %[chartpress, %-%-skip%-build%]\n",
      "  production: [chartpress, --skip-build]\n  dry_run: true\n", 1)
    assert(n == 1)
    fs.write(y, text)
  end)
  local k = MB.standin({helm = helm})
  local before = fs.read(dir .. "/mybinder/values.yaml")
  local r = D.slipway(dir, {"stage", "hetzner-2i2c", "--dry-run"}, {env = k.env, timeout = 300})
  T.eq(r.code, 0, r.stdout .. r.stderr)
  local tag = "0.0.1-0.dev.git.1.h" .. head(dir):sub(1, 7)
  T.eq(calls(k, "chartpress"), {"--skip-build"}, "it ran")
  T.match(r.stdout, "run build chartpress %(production%): chartpress %-%-skip%-build; it may change [^\n]* now " ..
    "%(dry_run: true; its outputs are put back afterwards%)")
  T.match(r.stdout, "\n%-%-%- a/build chartpress: mybinder/values%.yaml\n")
  T.match(r.stdout, "\n%+  image: jupyterhub/mybinder%.org%-minesweeper:" .. tag:gsub("%p", "%%%0") .. "\n")
  -- the render saw the tags: the minesweeper image of the rendered manifests
  T.match(r.stdout, "\n%+%s+image: \"?jupyterhub/mybinder%.org%-minesweeper:" .. tag:gsub("%p", "%%%0"))
  T.eq(fs.read(dir .. "/mybinder/values.yaml"), before, "put back")
  T.eq(D.git(dir, "status", "--porcelain").stdout, "")
  T.eq(#k:argvs("helm", "upgrade"), 0)
end, {skip = skip})

T.test("build: mistakes name slipway.yaml's line", function()
  local manifest = require "slipway.manifest"
  local function err(text)
    local ok, e = pcall(manifest.parse, text, "slipway.yaml")
    T.falsy(ok)
    return e.message
  end
  T.eq(err("name: x\nbuild:\n  run: [make]\n"), "slipway.yaml:2:1: build.outputs: is required (the files the build may change)")
  T.eq(err("name: x\nbuild:\n  run: [make]\n  outputs: [../x]\n"),
    "slipway.yaml:4:13: build.outputs[0]: expected a file inside the repository (no globs or control characters), got ../x")
  T.eq(err('name: x\nbuild:\n  run: [make]\n  outputs: ["a\\nb"]\n'),
    "slipway.yaml:4:13: build.outputs[0]: expected a file inside the repository (no globs or control characters), got a\\nb",
    "a name that would break git cat-file --batch's one name a line")
  T.eq(err("name: x\nbuild:\n  run: [make]\n  outputs: [a]\n  dry_run: sometimes\n"),
    "slipway.yaml:5:3: build.dry_run: expected true or false")
  T.match(err("name: x\nbuild:\n  run: [make]\n  outputs: [a]\n  prod: [x]\n"),
    "^slipway%.yaml:5:3: build%.prod: unknown key %(expected one of: description, dry_run, name, outputs, production, run%)")
  local m = manifest.parse("name: x\nbuild:\n  run: [[make, a], [make, b]]\n  outputs: v.yaml\n", "slipway.yaml")
  T.eq(m.build.run, {{"make", "a"}, {"make", "b"}})
  T.eq(m.build.production, m.build.run, "production defaults to run")
  T.eq(m.build.outputs[1].rel, "v.yaml")
  T.eq(build.sha256("abc"), "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad")
  T.eq(build.sha256(string.rep("a", 1000)), "41edece42d63e8d9bf515a9ba6932e1c20cbc9f5a5d134645adb5db1b9737ea3")
end)

T.test("with a build, stage writes its start while the build runs, and takes no lock until it is in", function()
  local dir = MB.repository()
  local k = MB.standin()
  -- a good stage: the run is in the remote's record (its start, then its end)
  local r = D.slipway(dir, {"stage", "staging"}, {env = k.env})
  T.eq(r.code, 0, r.stdout .. r.stderr)
  local remote = fs.dirname(dir) .. "/remote.git"
  local log = proc.run({"git", "-C", remote, "log", "--format=%s", "refs/slipway/state"}, {echo = false}).stdout
  T.match(log, "^slipway state: run %S+ stage success[^\n]*\nslipway state: run %S+ stage\n",
    "the end on top of the start, both on the remote")

  -- the remote gone: the build runs, then the run stops before any lock or
  -- cluster call, saying the record cannot be written
  D.git(dir, "remote", "set-url", "origin", fs.dirname(dir) .. "/gone.git")
  local k2 = MB.standin()
  r = D.slipway(dir, {"stage", "staging"}, {env = k2.env})
  T.eq(r.code, 1, r.stdout .. r.stderr)
  T.match(r.stderr, "cannot fetch the record from remote origin")
  T.eq(calls(k2, "chartpress"), {"--push"}, "the build ran beside the write")
  for _, c in ipairs(k2:calls()) do
    T.eq(c.tool, "chartpress", "no helm or kubectl call (no lock) without the record: " .. table.concat(c.argv, " "))
  end

  -- a playbook of one's own (--playbook) may do anything first: no overlap,
  -- it does not start without the record
  fs.write(dir .. "/own.lua", [[
local playbook = require "slipway.playbook"
return playbook.define{name = "own", steps = {
  {name = "mark", run = function(ctx)
    local f = assert(io.open(ctx.root .. "/MARKER", "w")); f:write("ran"); f:close()
  end}}}
]])
  r = D.slipway(dir, {"deploy", "--playbook", dir .. "/own.lua"}, {env = k2.env})
  T.eq(r.code, 1, r.stdout .. r.stderr)
  T.match(r.stderr, "cannot fetch the record from remote origin")
  T.falsy(fs.exists(dir .. "/MARKER"), "the playbook's first step ran without the record")
end, {skip = skip})

T.run()
