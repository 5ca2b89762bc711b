-- tests/test_build.py as a slipway Lua test: push a new branch (a dummy
-- commit) to the CI repository with the deploy key, build and launch it
-- (an image BinderHub has not built yet), use the started server's API with
-- its token, shut it down, and delete the branch again, whatever happened.
--
-- Skipped (reported as skipped, not passed) where the deploy key
-- secrets/binderhub-ci-repos-key does not exist or is still encrypted
-- (git-crypt). BUILD_TEST_REMOTE overrides where the branch is pushed
-- (default: the real repository on GitHub, over ssh).
local t = ...
local fs = require "slipway.fs"
local proc = require "slipway.proc"

local REPO = "binderhub-ci-repos/cached-minimal-dockerfile"
local key = t.root .. "/secrets/binderhub-ci-repos-key"
if not fs.exists(key) then t.skip("no deploy key (secrets/binderhub-ci-repos-key)") end
if not fs.read(key):find("PRIVATE KEY", 1, true) then
  t.skip("the deploy key secrets/binderhub-ci-repos-key is encrypted (git-crypt unlock)")
end
local remote = t.template("${BUILD_TEST_REMOTE:-git@github.com:/" .. REPO .. ".git}")

-- journalled (and planned under --dry-run) when run by slipway test/deploy
local function run(argv, opts)
  opts = opts or {}
  opts.env = {GIT_SSH_COMMAND = "ssh -i " .. key}
  opts.echo = false
  if t.ctx then return t.ctx:run(argv, opts) end
  return proc.run(argv, opts)
end

local branch = string.format("%.6f", require("slipway.task").now() + os.time())
local dir = fs.tempdir()
run({"git", "clone", "-q", remote, dir .. "/repo"})
local gitdir = dir .. "/repo"
fs.write(gitdir .. "/branchname", branch)
run({"git", "add", "branchname"}, {cwd = gitdir})
run({"git", "-c", "user.name=mybinder build test", "-c", "user.email=build-test@mybinder.invalid",
     "commit", "-q", "-m", "Dummy update for " .. branch}, {cwd = gitdir})
run({"git", "push", "-q", "origin", "HEAD:" .. branch}, {cwd = gitdir})

local ok, detail = pcall(t.launch,
  t.template("${CHECK_SCHEME:-https}://{{values.binderhub.ingress.hosts[0]}}/build/gh/" .. REPO .. "/" .. branch),
  {["then"] = {get = "api", has = {"version"}}, stop = true, deadline = 498})
-- delete the branch so we don't clutter, whatever the launch did
run({"git", "push", "-q", "origin", ":" .. branch}, {cwd = gitdir})
if not ok then error(detail, 0) end
return "built " .. REPO .. "@" .. branch .. ": " .. detail
