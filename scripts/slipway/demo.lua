--- slipway.demo: the whole story on one machine, in under a minute.
--
-- `slipway demo [--keep] [--dir DIR]` (what `make demo` runs):
--   1. copies the example deployment (scripts/examples/deployment, compiled
--      into the binary) into a new git repository in a temporary directory;
--   2. serves a Helm chart repository (index.yaml) and a container registry's
--      tag list on 127.0.0.1, and points slipway.yaml's sources at them;
--   3. `slipway bump --commit`: newer binderhub and repo2docker, one-line commits;
--   4. `slipway deploy`: stage -> test (real HTTP checks) -> promote;
--   5. publishes a binderhub release that upstream's notes list as broken,
--      `slipway bump --commit` picks it, `slipway deploy` fails its test on
--      staging and reverts by itself: staging healthy again, production untouched;
--   6. `slipway history`; then stops every environment and checks that no
--      process is left and nothing was written outside its directory.
-- Every command runs as a real `slipway` child process, printed before it
-- runs, so the demo shows exactly what a user or CI would type. The demo
-- checks its own outcomes and exits 1 when one is not as it should be.
local core = require "slipway.core"
local fs = require "slipway.fs"
local json = require "slipway.json"
local proc = require "slipway.proc"
local server = require "slipway.server"
local task = require "slipway.task"
local yaml = require "slipway.yaml"

local M = {}

local EXAMPLE = "examples/deployment/"
local BROKEN = "1.0.0-0.dev.git.3601.h0b4d0b4d"  -- in known-issues.yaml: launches fail

-- chart versions the repository offers, oldest first; `broken` ones are
-- published only in act 3
local CHARTS = {
  {version = "1.0.0-0.dev.git.3503.ha8a2e19", app = "1.0.0-0.dev.git.3503.ha8a2e19", created = "2024-10-01T10:00:00Z"},
  {version = "1.0.0-0.dev.git.3506.hba24eb2a", app = "1.0.0-0.dev.git.3506.hba24eb2a", created = "2024-10-03T10:00:00Z"},
  {version = BROKEN, app = BROKEN, created = "2024-11-20T10:00:00Z", broken = true},
}
local TAGS = {"2026.4.1.dev44-g97bb4e45a", "2026.4.1.dev52-g1c2d3e4f5", "2026.4.1", "latest",
  "2024.07.0-9.gabc1234", "2024.07.0-12.gdef5678"}

local function color(code, s)
  if os.getenv("NO_COLOR") or not require("slipway.fs.core").isatty(1) then return s end
  return "\27[" .. code .. "m" .. s .. "\27[0m"
end

local function say(fmt, ...)
  io.stdout:write(string.format(fmt, ...), "\n")
  io.stdout:flush()
end

local function act(n, title)
  say("")
  say(color("1;36", string.format("── %d. %s ", n, title) .. string.rep("─", math.max(0, 60 - #title))))
end

-- ---- the loopback chart repository and registry ----------------------------

local function index_yaml(published, base)
  local entries = {}
  for _, c in ipairs(CHARTS) do
    if not c.broken or published.broken then
      entries[#entries + 1] = {
        name = "binderhub", version = c.version, appVersion = c.app, created = c.created,
        apiVersion = "v2", description = "BinderHub (demo entry)",
        digest = ("%064x"):format(#entries + 1):gsub(" ", "0"),
        urls = {base .. "/binderhub-" .. c.version .. ".tgz"},
      }
    end
  end
  return yaml.dump({apiVersion = "v1", entries = {binderhub = entries},
    generated = "2024-11-20T10:00:00Z"})
end

local function start_sources(published)
  local srv
  srv = server.serve{host = "127.0.0.1", port = 0, handler = function(req)
    if req.path == "/charts/index.yaml" then
      return {status = 200, headers = {["content-type"] = "text/yaml"},
              body = index_yaml(published, srv:url() .. "/charts")}
    elseif req.path == "/v2/" then
      return {status = 200, headers = {["content-type"] = "application/json"}, body = "{}"}
    elseif req.path == "/v2/jupyterhub/repo2docker/tags/list" then
      return {status = 200, headers = {["content-type"] = "application/json"},
              body = json.encode({name = "jupyterhub/repo2docker", tags = TAGS})}
    end
    return {status = 404, body = "not found\n"}
  end}
  return srv
end

-- ---- running slipway and friends -------------------------------------------

local function runner(dir, env)
  local self = {}
  function self.slipway(args, opts)
    opts = opts or {}
    local argv = {M.bin}
    for _, a in ipairs(args) do argv[#argv + 1] = a end
    say(color("1", "$ slipway " .. table.concat(args, " ")))
    local r = proc.run(argv, {cwd = dir, env = env, check = false, echo = false,
      stdout = opts.quiet and "capture" or "inherit",
      stderr = opts.quiet and "capture" or "inherit", timeout = opts.timeout or 180})
    return r
  end
  function self.git(args)
    local argv = {"git"}
    for _, a in ipairs(args) do argv[#argv + 1] = a end
    return proc.run(argv, {cwd = dir, env = env, echo = false, timeout = 60})
  end
  return self
end

local function status_of(run)
  local r = run.slipway({"status", "--json"}, {quiet = true})
  if r.code ~= 0 then core.raise("demo", "slipway status failed: " .. r.stderr) end
  local by = {}
  for line in r.stdout:gmatch("[^\n]+") do  -- one JSON object per environment
    local row = json.decode(line)
    by[row.env] = row
  end
  return by
end

local function versions_at(url)
  local http = require "slipway.http"
  local res = http.get(url .. "/versions", {timeout = 5, retries = 0})
  return res:json()
end

-- pids of processes whose command line or cwd mentions dir
local function processes_under(dir)
  local found = {}
  local self_pid = proc.pid()
  for _, name in ipairs(fs.list("/proc")) do
    local pid = tonumber(name)
    if pid and pid ~= self_pid then
      local f = io.open("/proc/" .. pid .. "/cmdline", "rb")
      local cmd = f and f:read("a") or ""
      if f then f:close() end
      local env = io.open("/proc/" .. pid .. "/environ", "rb")
      local envtext = env and env:read("a") or ""
      if env then env:close() end
      if cmd:find(dir, 1, true) or envtext:find(dir, 1, true) then
        found[#found + 1] = {pid = pid, cmd = cmd:gsub("%z", " ")}
      end
    end
  end
  return found
end

-- ---- the story ------------------------------------------------------------

--- Run the demo. opts: keep (leave the directory), dir (use this parent).
-- Returns an exit status.
function M.run(opts)
  opts = opts or {}
  M.bin = require("slipway.drivers.local").slipway_bin()
  local t0 = task.now()
  local base = fs.tempdir{keep = true, dir = opts.dir}
  local repo = base .. "/deployment"
  local outcomes, failures = {}, {}
  local function expect(what, ok, detail)
    outcomes[#outcomes + 1] = {what = what, ok = ok and true or false, detail = detail}
    if not ok then failures[#failures + 1] = what end
    say("  %s %s%s", ok and color("32", "✔") or color("31", "✘"), what,
      (detail and detail ~= "") and (" — " .. detail) or "")
  end
  for _, d in ipairs{"home", "cache", "tmp"} do fs.mkdir(base .. "/" .. d) end
  local env = {
    HOME = base .. "/home", XDG_CACHE_HOME = base .. "/cache", TMPDIR = base .. "/tmp",
    GIT_AUTHOR_NAME = "slipway demo", GIT_AUTHOR_EMAIL = "demo@slipway.invalid",
    GIT_COMMITTER_NAME = "slipway demo", GIT_COMMITTER_EMAIL = "demo@slipway.invalid",
    GIT_CONFIG_NOSYSTEM = "1", SLIPWAY_LOG_LEVEL = os.getenv("SLIPWAY_LOG_LEVEL") or "info",
  }
  local published = {broken = false}
  local srv = start_sources(published)
  local run = runner(repo, env)
  local ok, err = pcall(function()
    say(color("1", "slipway demo") .. ": bump → deploy → broken bump → automatic revert, on this machine")
    say("working in %s", base)

    act(1, "an example deployment repository (mybinder-like)")
    for _, path in ipairs(core.embedded_list(EXAMPLE)) do
      local rel = path:sub(#EXAMPLE + 1)
      local dest = repo .. "/" .. rel
      fs.mkdir(dest:match("^(.*)/[^/]*$"))
      fs.write(dest, core.embedded(path))
    end
    fs.write(repo .. "/.gitignore", ".slipway/\n")
    -- point the version sources at the loopback chart repository and registry
    local m = yaml.open(repo .. "/slipway.yaml")
    m:set("components.binderhub.source.helm.repo", srv:url() .. "/charts")
    local host = srv:url():gsub("^http://", "")
    m:set("components.repo2docker.source.registry.image", host .. "/jupyterhub/repo2docker")
    m:insert("components.repo2docker.source.registry", "plain_http", true)
    m:save()
    run.git({"init", "-q", "-b", "main"})
    run.git({"add", "-A"})
    run.git({"commit", "-qm", "The example deployment"})
    say("chart repository %s/charts, registry %s", srv:url(), host)

    act(2, "bump: newer versions, one-line commits")
    local r = run.slipway({"bump", "--commit", "--exit-code"})
    expect("bump found newer versions (exit 7: changes, with --exit-code)", r.code == 7, "exit " .. r.code)
    local log = run.git({"log", "--format=%s", "-n", "2"}).stdout
    expect("one commit per component", log:find("binderhub: ", 1, true) and log:find("repo2docker: ", 1, true), (log:gsub("\n", "; ")))
    local diff = run.git({"diff", "--stat", "HEAD~2"}).stdout
    expect("each bump is a one-line change", diff:find("2 files changed, 2 insertions%(%+%), 2 deletions") ~= nil, (diff:match("[^\n]*changed[^\n]*") or diff))

    act(3, "deploy: stage → test → promote")
    r = run.slipway({"deploy"})
    expect("deploy succeeded", r.code == 0, "exit " .. r.code)
    local st = status_of(run)
    local good = st.prod and st.prod.status and st.prod.status.url and versions_at(st.prod.status.url)
    expect("production runs the bumped binderhub", good and good.binderhub == CHARTS[2].version,
      good and ("prod /versions binderhub " .. tostring(good.binderhub)) or "prod not running")

    local good_sha = run.git({"rev-parse", "HEAD"}).stdout:gsub("%s+$", "")

    act(4, "a broken release appears upstream; bump picks it")
    published.broken = true
    r = run.slipway({"bump", "--commit"})
    log = run.git({"log", "--format=%s", "-n", "1"}).stdout
    expect("bump moved binderhub to the broken version", log:find(BROKEN, 1, true) ~= nil, (log:gsub("\n", "")))

    act(5, "deploy: staging's test fails, slipway reverts by itself")
    r = run.slipway({"deploy"})
    expect("deploy reported 'test failed, reverted' (exit 3)", r.code == 3, "exit " .. r.code)
    log = run.git({"log", "--format=%s", "-n", "3"}).stdout
    local chart = run.git({"show", "HEAD:mybinder/Chart.yaml"}).stdout
    expect("the revert commit is in the repository", log:find("^Revert") ~= nil and
      chart:find(CHARTS[2].version, 1, true) ~= nil and not chart:find(BROKEN, 1, true),
      (log:match("[^\n]*")))
    -- "reverted to" means the last good commit: the revert commit is a new
    -- commit on top whose tree is that commit's
    local head = run.git({"rev-parse", "HEAD"}).stdout:gsub("%s+$", "")
    local function tree(c) return run.git({"rev-parse", c .. "^{tree}"}).stdout end
    expect("the revert commit restores the last good commit", tree(head) == tree(good_sha),
      string.format("revert commit %s has the tree of %s, the commit deployed in step 3",
        head:sub(1, 12), good_sha:sub(1, 12)))
    st = status_of(run)
    local sv = st.staging and st.staging.status and st.staging.status.url and versions_at(st.staging.status.url)
    expect("staging is back on the good version", sv and sv.binderhub == CHARTS[2].version,
      sv and ("staging /versions binderhub " .. tostring(sv.binderhub)) or "staging not running")
    local pv = st.prod and st.prod.status and st.prod.status.url and versions_at(st.prod.status.url)
    expect("production never changed", pv and good and pv.binderhub == good.binderhub and pv.builder == good.builder,
      pv and ("prod /versions binderhub " .. tostring(pv.binderhub)) or "prod not running")

    act(6, "history")
    run.slipway({"history"})
  end)
  if not ok then
    expect("the demo ran to the end", false, tostring(err))
  end

  -- stop everything and check that nothing is left
  say("")
  run.slipway({"stop", "--all"}, {quiet = true})
  srv:close()
  task.sleep(0.1)
  local left = processes_under(base)
  expect("no process left", #left == 0,
    #left > 0 and (left[1].pid .. " " .. left[1].cmd) or "checked /proc")

  local dt = task.now() - t0
  say("")
  say(color("1", "Summary") .. string.format(" (%.1f s)", dt))
  say("  %-52s %s", "outcome", "result")
  for _, o in ipairs(outcomes) do
    say("  %-52s %s", o.what, o.ok and "ok" or "FAILED")
  end
  if opts.keep then
    say("\nkept %s (the repository is %s; `cd` there and try `slipway status`)", base, repo)
  else
    fs.remove(base, {recursive = true})
    say("\nremoved %s (keep it with --keep)", base)
  end
  return #failures == 0 and 0 or 1
end

return M
