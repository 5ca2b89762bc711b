-- A typo never runs: every command of slipway.cli's list (a new command is
-- covered by being listed), `slipway run` of the standard playbook and a
-- runbook are run with an unknown option and with a near miss, in a
-- temporary copy of the example deployment whose environments are deployed
-- and running, plus a kubernetes environment on the recording stand-in
-- (tests/standin). Each must exit 2, suggest the option for the near miss,
-- and change nothing: HEAD, `git status`, every file of the working tree and
-- of the state directory (journals, pid files, locks), the service
-- processes and the stand-in's log of kubectl/helm calls.
local T = require "slipway.testing"
local D = require "deploytest"
local S = require "standin"
local fs = require "slipway.fs"
local json = require "slipway.json"
local core = require "slipway.core"
local cli = require "slipway.cli"
local args = require "slipway.args"

local k = S.new{helm = false}

-- the example deployment plus `kube`, a kubernetes environment on the
-- stand-in that no stage touches (only the commands naming it do)
local function add_kube(dir)
  local p = dir .. "/slipway.yaml"
  local kopts = json.encode({kubectl = k.kubectl, helm = k.helm, env = k.env, dependency_update = false})
  local s = fs.read(p)
  local a, b = s:find("\nenvironments:\n", 1, true)
  assert(a, "slipway.yaml has no environments")
  fs.write(p, s:sub(1, b) .. "  kube:\n    driver: kubernetes\n    chart: mybinder\n" ..
    "    values: [mybinder/values.yaml]\n    namespace: kube\n    kubernetes: " .. kopts .. "\n" ..
    s:sub(b + 1))
end

local function log_of_standin()
  return fs.exists(k.log) and fs.read(k.log) or ""
end

-- everything a command could change
local function state(dir)
  return {tree = D.snapshot(dir), pids = table.concat(D.service_pids(dir), " "),
          journals = #fs.glob(dir .. "/.slipway/journal/*.jsonl"), standin = log_of_standin()}
end

local function same(dir, before, what)
  local now = state(dir)
  T.eq(now.pids, before.pids, what .. ": the service processes changed")
  T.eq(now.journals, before.journals, what .. ": a journal was written")
  T.eq(now.standin, before.standin, what .. ": kubectl/helm was called")
  T.truthy(now.tree == before.tree, what .. ": the working tree or the state directory changed")
end

-- a near miss of option `name`: its last letter replaced
local function near(name)
  return "--" .. name:sub(1, -2) .. (name:sub(-1) == "x" and "z" or "x")
end

-- the standard playbook, as a file outside the repository
local pbdir = fs.tempdir()
local standard = pbdir .. "/deploy.lua"
fs.write(standard, core.embedded("playbooks/deploy.lua"))

T.test("near(): the suggestion the spec expects is the one args makes", function()
  local p = args.parser{options = {{name = "dry-run", type = "boolean"}, {name = "json", type = "boolean"}}}
  T.eq(args.suggest(near("dry-run"), p:spellings()), "--dry-run")
  T.eq(args.suggest("--dryrun", p:spellings()), "--dry-run")
  T.eq(args.suggest("--dry", p:spellings()), "--dry-run", "a unique prefix is suggested")
  T.eq(args.suggest("--zzzz", p:spellings()), nil)
  T.raises(function() p:parse({"--dry"}) end, "unknown option %-%-dry; did you mean %-%-dry%-run%?")
end)

T.test("every command, the standard playbook and a runbook refuse unknown options and touch nothing", function()
  D.with_repo(add_kube, function(dir)
    -- deployed and running: there is something to break
    local r = D.slipway(dir, {"deploy"})
    T.eq(r.code, 0, r.stderr)
    T.truthy(#D.service_pids(dir) > 0, "services run")
    local before = state(dir)
    local ran = 0

    local function refuse(argv, suggestion)
      local rr = D.slipway(dir, argv, {env = k.env})
      local what = "slipway " .. table.concat(argv, " ")
      T.eq(rr.code, 2, what .. "\n" .. rr.stdout .. rr.stderr)
      T.match(rr.stderr, "unknown option", what)
      if suggestion then
        T.match(rr.stderr, "did you mean " .. suggestion:gsub("%p", "%%%0") .. "%?", what)
      end
      same(dir, before, what)
      ran = ran + 1
    end

    for _, name in ipairs(cli.names) do
      local decl = T.truthy(cli.command(name), name)
      local heads = {{name}}
      if name == "run" then heads = {{"run", standard}, {standard}} end
      if name == "runbook" then heads = {{"runbook"}, {"runbook", "restart", "kube"}, {"runbook", "restart"}} end
      for _, p in ipairs(decl.positionals or {}) do
        if p.name == "env" then heads = {{name}, {name, "staging"}, {name, "kube"}} end
      end
      for _, head in ipairs(heads) do
        local h = table.move(head, 1, #head, 1, {})
        -- the option a near miss should suggest: --dry-run where there is
        -- one (a playbook, a runbook), else the first declared, else --help
        local target = (decl.options and decl.options[1]) and decl.options[1].name or "help"
        for _, o in ipairs(decl.options or {}) do if o.name == "dry-run" then target = o.name end end
        if name == "run" or (name == "runbook" and #head > 1) then target = "dry-run" end
        h[#h + 1] = "--bogus-option"
        refuse(h)
        h[#h] = near(target)
        refuse(h, "--" .. target)
        -- after a valid option, and with the value form
        h[#h] = "--no-such=1"
        refuse(h)
      end
    end
    T.truthy(ran >= 3 * #cli.names, "every command ran")
    -- the classic typos of the issue
    refuse({"deploy", "--dryrun"}, "--dry-run")
    refuse({"stage", "staging", "--dry-rn"}, "--dry-run")
    refuse({"promote", "--dryrun"}, "--dry-run")
    refuse({"revert", "--dry-rnu"}, "--dry-run")
    refuse({"-v", "deploy", "--verison=1.3"})
    refuse({"stop", "--all", "--dryrun"}, "--dry-run")

    -- an unknown command, with its near miss
    local rr = D.slipway(dir, {"deplyo", "--dry-run"})
    T.eq(rr.code, 2)
    T.match(rr.stderr, "unknown command 'deplyo'; did you mean deploy%?")
    same(dir, before, "slipway deplyo")

    -- misuse that looks like use
    for _, argv in ipairs{{"--version", "1.3"}, {"bump", "--version", "1.3"}, {"deploy", "--dry-run", "1.3"},
                          {"history", "--limit", "many"}, {"--log-format", "yaml", "status"},
                          {"deploy", "--no-dry-run=1"}, {"deploy", "--no-junit"}, {"stop", "--all=maybe"}} do
      rr = D.slipway(dir, argv)
      T.eq(rr.code, 2, table.concat(argv, " ") .. ": " .. rr.stderr)
      same(dir, before, table.concat(argv, " "))
    end

    -- the checks above can fail: the same commands without the typo change things
    rr = D.slipway(dir, {"status", "kube"}, {env = k.env})
    T.truthy(log_of_standin() ~= before.standin, "status kube calls the stand-in")
    rr = D.slipway(dir, {"stop", "prod-b", "-q"})
    T.eq(rr.code, 0, rr.stderr)
    T.truthy(state(dir).pids ~= before.pids, "stop changes the services")
  end)
end, {timeout = 280})

T.test("--help anywhere prints the declared options and runs nothing", function()
  D.with_repo(add_kube, function(dir)
    local before = state(dir)
    for _, name in ipairs(cli.names) do
      local decl = cli.command(name)
      for _, argv in ipairs{{name, "--help"}, {name, "-h"}, {name, "--bogus", "--help"},
                            {"-q", name, "--help", "--dry-run"}, {"help", name}} do
        if name == "run" and argv[1] ~= "help" then
          for i, w in ipairs(argv) do if w == "run" then table.insert(argv, i + 1, standard) break end end
        end
        local r = D.slipway(dir, argv, {env = k.env})
        local what = table.concat(argv, " ")
        T.eq(r.code, 0, what .. ": " .. r.stderr)
        T.match(r.stdout, "^usage: slipway " .. name, what)
        for _, o in ipairs(decl.options or {}) do
          T.match(r.stdout, "%-%-" .. o.name:gsub("%p", "%%%0"), what .. " lists --" .. o.name)
        end
        same(dir, before, what)
      end
    end
    -- a playbook's --help: its description, its options and the engine's
    local r = D.slipway(dir, {"run", standard, "--dry-run", "--help"})
    T.eq(r.code, 0, r.stderr)
    T.match(r.stdout, "stage %-> test %(revert on failure%) %-> promote")
    T.match(r.stdout, "%-%-no%-revert")
    T.match(r.stdout, "%-%-resume %[RUN%]")
    -- a runbook's
    r = D.slipway(dir, {"runbook", "restart", "kube", "--help"}, {env = k.env})
    T.eq(r.code, 0, r.stderr)
    T.match(r.stdout, "%-%-deployment STRING")
    same(dir, before, "runbook restart --help")
  end)
end, {timeout = 120})

T.test("slipway deploy runs the standard playbook, not a playbooks/deploy.lua in the cwd", function()
  D.with_repo(function(dir)
    fs.mkdir(dir .. "/playbooks")
    fs.write(dir .. "/playbooks/deploy.lua", [[
local playbook = require "slipway.playbook"
return playbook.define{name = "impostor", steps = {
  {name = "mark", run = function(ctx)
    local f = assert(io.open(ctx.root .. "/MARKER", "w")); f:write("ran"); f:close()
  end}}}
]])
  end, function(dir)
    local r = D.slipway(dir, {"deploy", "--dry-run"})
    T.eq(r.code, 0, r.stderr)
    T.falsy(fs.exists(dir .. "/MARKER"), "the cwd's playbooks/deploy.lua ran")
    T.match(r.stderr, "==> stage")
    T.match(r.stderr, "==> promote")
    -- asked for by name, it runs: the marker is how this spec would see it
    r = D.slipway(dir, {"deploy", "--dry-run", "--playbook", "playbooks/deploy.lua"})
    T.eq(r.code, 0, r.stderr)
    T.truthy(fs.exists(dir .. "/MARKER"), "--playbook FILE runs FILE")
  end)
end, {timeout = 120})

T.run()
