--- apidoc: the public Lua API of slipway as the running binary has it, for
-- tests/lua/docs_spec.lua and tests/tools/gen-types.lua.
--
-- MODULES lists the public modules, each with the docs pages that hold its
-- entries and the name used in those pages (`fs.read`, `kubernetes.lint`).
-- CLASSES lists the objects the modules hand out (a task, a lock, a process
-- handle, ...), each with a probe that makes one and returns its method
-- table. The rules:
--   * a module's public functions are its function-valued keys that do not
--     start with "_";
--   * a class's public methods are the function-valued keys of its method
--     table that do not start with "_" -- or, for a class marked
--     `documented_only`, those with a `---` doc comment directly above their
--     definition in the source (yaml's document keeps its editing machinery
--     on the same table).
-- Modules left out are in EXCLUDED with the reason (and slipway.runtime, a
-- C table without functions whose fields are in docs/runtime.md); docs_spec
-- fails for an embedded module that is in neither list.
local M = {}

M.MODULES = {
  {name = "task", docs = {"tasks.md"}, summary = "tasks: spawn, wait, all/any/race, timeout, sleep, cancellation"},
  {name = "fs", docs = {"fs.md"}, summary = "files: atomic write, append, glob, tempdir, locks"},
  {name = "json", docs = {"json.md"}, summary = "JSON decode/encode, stable output, read/write files"},
  {name = "env", docs = {"env.md"}, summary = "environment variables, secrets from the environment"},
  {name = "log", docs = {"log.md"}, summary = "logging to stderr (text, JSON), steps, sinks, redaction"},
  {name = "proc", docs = {"proc.md"}, summary = "subprocesses: run, spawn, timeouts, process groups, dry run"},
  {name = "http", docs = {"http.md"}, summary = "HTTP client: requests, retries, streams (SSE), downloads"},
  {name = "server", docs = {"server.md"}, summary = "HTTP/1.1 server: handlers as tasks, streaming, static files"},
  {name = "yaml", docs = {"yaml.md"}, summary = "YAML load/dump, Helm's merge, lossless verified edits"},
  {name = "path", docs = {"path.md"}, summary = "the path syntax: parse, format, get (one reader for every module)"},
  {name = "version", docs = {"version.md"}, summary = "versions: semver, PEP 440, git describe; constraints"},
  {name = "manifest", docs = {"manifest.md"}, summary = "slipway.yaml: loading and validation"},
  {name = "bump", docs = {"bump.md"}, summary = "keeping pinned versions current (slipway bump)"},
  {name = "github", docs = {"bump.md"}, summary = "GitHub REST client for bump pull requests (pagination, rate limits)"},
  {name = "args", docs = {"args.md"}, summary = "the one command-line parser: declared options, did you mean, --help"},
  {name = "playbook", docs = {"playbook.md"}, summary = "the step engine: context, dry run, resume, exit statuses"},
  {name = "journal", docs = {"journal.md"}, summary = "the run journal (JSON lines) and its readers"},
  {name = "environments", docs = {"environments.md"}, summary = "environments and stages of slipway.yaml, values merging"},
  {name = "checks", docs = {"environments.md"}, summary = "post-deploy checks: HTTP, launch, Lua; JUnit"},
  {name = "deploy", docs = {"deploy.md"}, summary = "stage, test, revert, promote (the standard playbook)"},
  {name = "drivers", docs = {"drivers.md"}, summary = "the driver interface and lookup"},
  {name = "drivers.local", prefix = "local_driver", docs = {"drivers.md"}, summary = "the local driver (processes on 127.0.0.1)"},
  {name = "kube", docs = {"kubernetes.md"}, summary = "Kubernetes settings, kubectl/helm argv, Secret masking, timestamps"},
  {name = "drivers.kubernetes", prefix = "kubernetes", docs = {"kubernetes.md"}, summary = "the kubernetes driver (helm, kubectl)"},
  {name = "notify", docs = {"notify.md"}, summary = "webhook, Slack and Grafana notifications"},
  {name = "gha", docs = {"gha.md"}, summary = "GitHub Actions output: groups, annotations, job summary"},
  {name = "ui", docs = {"runbooks.md"}, summary = "asking the operator: confirm, choose, input, tables"},
  {name = "runbook", docs = {"runbooks.md"}, summary = "runbooks: arguments, the rb context, the runner"},
  {name = "demo", docs = {"demo.md"}, summary = "the demo deployment (slipway demo)"},
  {name = "testing", docs = {"testing.md"}, summary = "the spec harness of slipway's tests"},
  {name = "core", docs = {"errors.md"}, summary = "structured errors, secrets and redaction, embedded files"},
  {name = "codec", docs = {"codec.md"}, summary = "base64 and UTC times shared by several modules"},
  {name = "digest", docs = {"digest.md"}, summary = "SHA-256 of strings and files (Nettle)"},
  {name = "diff", docs = {"diff.md"}, summary = "unified diffs of two texts (dry-run plans, doc:diff)"},
  {name = "progress", docs = {"progress.md"}, summary = "the live status line on a terminal"},
  {name = "exit", docs = {"deploy.md"}, summary = "the exit statuses of every command, in one table"},
  {name = "build", docs = {"deploy.md"}, summary = "the build step (`build:`) and the digests of its outputs for the promote gate"},
  {name = "errors", docs = {"errors.md"}, summary = "errors.fail (raise without file:line), errors.message, errors.retryable"},
  {name = "modules", docs = {"errors.md"}, summary = "modules.find: a module that may be absent, load errors raised"},
  {name = "state", docs = {"state.md"}, summary = "the shared record of deploys (git, kubernetes, local) and deploy locks"},
  {name = "dashboard", docs = {"dashboard.md"}, summary = "the read-only web page of slipway dashboard"},
}


--- Embedded modules that are not part of the documented Lua API, and why
-- (patterns on the module name after "slipway."). docs_spec fails for an
-- embedded module that is in neither list.
M.EXCLUDED = {
  {"^cli$", "the command line; checked through the binary's --help"},
  {"^start$", "main.c's entry: -e and FILE before slipway.cli (docs/runtime.md)"},
  {"^cmd%.", "commands; checked through `slipway COMMAND --help`"},
  {"^sources%.", "bump's sources, reached through slipway.bump (docs/bump.md)"},
  {"^yaml%.edit$", "the editor behind yaml.open / yaml.edit"},
  {"^engine%.", "the parts slipway.playbook composes (docs/ARCHITECTURE.md); ctx is slipway.Ctx"},
  {"^state%.", "the stores behind slipway.state (docs/state.md), reached through state.open / state.lock"},
}

local function src_root()
  return os.getenv("SLIPWAY_SRC") or "."
end

local function mt_index(v)
  local mt = getmetatable(v)
  local idx = mt and mt.__index
  assert(type(idx) == "table", "no method table")
  return idx
end

local function tmpdir()
  return require("slipway.fs").tempdir()
end

-- A throwaway local HTTP server for the response and stream probes.
local probe_srv
local function srv()
  if not probe_srv then
    probe_srv = require("slipway.server").serve{handler = function(req)
      if req.path == "/sse" then
        return {headers = {["content-type"] = "text/event-stream"}, body = "data: {}\n\n"}
      end
      return {body = "ok"}
    end}
  end
  return probe_srv
end

M.CLASSES = {
  {name = "slipway.args.Parser", docs = {"args.md"}, source = "scripts/slipway/args.lua",
   probe = function() return mt_index(require("slipway.args").parser{}) end},
  {name = "slipway.Task", docs = {"tasks.md"}, source = "scripts/slipway/task.lua",
   probe = function() return mt_index(require("slipway.task").current()) end},
  {name = "slipway.Lock", docs = {"fs.md"}, source = "scripts/slipway/fs.lua",
   probe = function()
     local lk = require("slipway.fs").lock(tmpdir() .. "/probe.lock")
     local idx = mt_index(lk); lk:unlock(); return idx
   end},
  {name = "slipway.ProcHandle", docs = {"proc.md"}, source = "scripts/slipway/proc.lua",
   probe = function()
     return mt_index(require("slipway.proc").spawn({"true"}, {dry_run = true, echo = false}))
   end},
  {name = "slipway.HttpResponse", docs = {"http.md"}, source = "scripts/slipway/http.lua",
   probe = function() return mt_index(require("slipway.http").get(srv():url("/"))) end},
  {name = "slipway.HttpStream", docs = {"http.md"}, source = "scripts/slipway/http.lua",
   probe = function()
     local s <close> = require("slipway.http").stream(srv():url("/sse"))
     return mt_index(s)
   end},
  {name = "slipway.HttpEvent", docs = {"http.md"}, source = "scripts/slipway/http.lua",
   probe = function()
     local s <close> = require("slipway.http").stream(srv():url("/sse"))
     return mt_index(s:next())
   end},
  {name = "slipway.GithubClient", docs = {"bump.md"}, source = "scripts/slipway/github.lua",
   probe = function() return mt_index(require("slipway.github").client{token = "apidoc-probe-token-not-a-secret"}) end},
  {name = "slipway.Server", docs = {"server.md"}, source = "scripts/slipway/server.lua",
   probe = function() return mt_index(srv()) end},
  {name = "slipway.YamlDoc", docs = {"yaml.md"}, source = "scripts/slipway/yaml/edit.lua",
   documented_only = "Doc",
   probe = function() return mt_index(require("slipway.yaml").edit("a: 1\n")) end},
  {name = "slipway.LogStep", docs = {"log.md"}, source = "scripts/slipway/log.lua",
   probe = function()
     local log = require "slipway.log"
     log.configure{stream = false}
     local s = log.step("probe")
     s:done()
     log.reset()
     return mt_index(s)
   end},
  {name = "slipway.Journal", docs = {"journal.md"}, source = "scripts/slipway/journal.lua",
   probe = function()
     return mt_index(require("slipway.journal").open(tmpdir(), {command = "probe"}, {memory = true}))
   end},
  {name = "slipway.Ctx", docs = {"playbook.md"}, source = "scripts/slipway/engine/context.lua",
   probe = function()
     return mt_index(require("slipway.playbook").context{root = tmpdir(), no_manifest = true,
       dry_run = true, command = "probe"})
   end},
  {name = "slipway.Runbook", docs = {"runbooks.md"}, source = "scripts/slipway/runbook.lua",
   probe = function()
     local fs = require "slipway.fs"
     local d = tmpdir()
     fs.mkdir(d .. "/runbooks")
     fs.write(d .. "/runbooks/probe.lua", "return {description = 'probe', run = function() end}\n")
     local out = io.open("/dev/null", "w")
     local _, rb = require("slipway.runbook").run("probe", {}, {root = d, out = out,
       journal_path = d .. "/journal.jsonl"})
     out:close()
     return mt_index(rb)
   end},
  {name = "slipway.StateStore", docs = {"state.md"}, source = "scripts/slipway/state.lua",
   probe = function() return mt_index(require("slipway.state").open("local", {state_dir = tmpdir()})) end},
  {name = "slipway.StateFileLock", docs = {"state.md"}, source = "scripts/slipway/state.lua",
   probe = function() return mt_index(require("slipway.state").lock{kind = "file", path = tmpdir() .. "/l"}) end},
  {name = "slipway.StateLease", docs = {"state.md"}, source = "scripts/slipway/state/kubernetes.lua",
   probe = function()
     return mt_index(require("slipway.state").lock{kind = "kubernetes", namespace = "probe", name = "probe"})
   end},
  {name = "slipway.Dashboard", docs = {"dashboard.md"}, source = "scripts/slipway/dashboard.lua",
   probe = function()
     local d = tmpdir()
     require("slipway.fs").write(d .. "/slipway.yaml", "name: probe\nenvironments:\n  staging: {driver: local, url: \"http://127.0.0.1:1\"}\n")
     return mt_index(require("slipway.dashboard").open(require("slipway.playbook").context{
       root = d, readonly = true, command = "probe"}))
   end},
  {name = "slipway.Built", docs = {"deploy.md"}, source = "scripts/slipway/build.lua",
   probe = function()
     local d = tmpdir()
     require("slipway.fs").write(d .. "/slipway.yaml", "name: probe\nbuild:\n  name: probe\n  run: [\"true\"]\n" ..
       "  production: [\"true\"]\n  outputs: [out.txt]\nenvironments:\n  staging: {driver: local}\n")
     local log = require "slipway.log"
     log.configure{stream = false}
     local ctx = require("slipway.playbook").context{root = d, dry_run = true, command = "probe"}
     local b <close> = require("slipway.build").run(ctx, "staging")
     log.reset()
     return mt_index(b)
   end},
  {name = "slipway.VersionConstraint", docs = {"version.md"}, source = "scripts/slipway/version.lua",
   probe = function() return require("slipway.version").constraint(">=1.0.0") end},
}

--- Close what the probes opened.
function M.cleanup()
  if probe_srv then probe_srv:close(); probe_srv = nil end
end

--- The names with a `---` doc comment right above `function OBJ:name(` or
-- `function OBJ.name(` in a source file.
function M.documented_in_source(path, obj)
  local f = assert(io.open(src_root() .. "/" .. path))
  local prev_doc, in_doc = false, false
  local found = {}
  for line in f:lines() do
    local name = line:match("^%s*function " .. obj .. "[:.]([%w_]+)%s*%(")
    if name and in_doc then found[name] = true end
    if line:match("^%s*%-%-%-") then in_doc = true
    elseif line:match("^%s*%-%-") and in_doc then in_doc = true
    else in_doc = false end
    prev_doc = in_doc
  end
  f:close()
  return found
end

local function fn_keys(t, filter)
  local out = {}
  for k, v in pairs(t) do
    if type(k) == "string" and type(v) == "function" and k:sub(1, 1) ~= "_" and
       (not filter or filter[k]) then
      out[#out + 1] = k
    end
  end
  table.sort(out)
  return out
end

--- The runtime API: {modules = {[name] = {fn names}}, classes = {[name] = {method names}}}
-- and the tables themselves (for parameter names).
function M.runtime()
  local api = {modules = {}, classes = {}, tables = {}}
  for _, m in ipairs(M.MODULES) do
    local mod = require("slipway." .. m.name)
    api.modules[m.name] = fn_keys(mod)
    api.tables["slipway." .. m.name] = mod
  end
  for _, c in ipairs(M.CLASSES) do
    local t = c.probe()
    local filter = c.documented_only and M.documented_in_source(c.source, c.documented_only)
    api.classes[c.name] = fn_keys(t, filter)
    api.tables[c.name] = t
  end
  M.cleanup()
  return api
end

-- ---- the declarations in docs/types ------------------------------------------

local function walk(dir, out)
  local fs = require "slipway.fs"
  for _, n in ipairs(fs.list(dir)) do
    local p = dir .. "/" .. n
    if fs.isdir(p) then walk(p, out)
    elseif n:match("%.lua$") then out[#out + 1] = p end
  end
  return out
end

--- Every type file under dir (default SLIPWAY_SRC/docs/types), sorted.
function M.type_files(dir)
  local files = walk(dir or (src_root() .. "/docs/types"), {})
  table.sort(files)
  return files
end

--- Parse the LuaLS definitions: `---@class NAME` followed by `local VAR = {}`
-- binds VAR to NAME; `function VAR.fn(params)` / `function VAR:fn(params)`
-- declares NAME's function fn. Returns {[class] = {[fn] = {file, line,
-- params = {names}, documented = {param names with ---@param}, returns =
-- bool}}} and the list of files read.
function M.declared(dir)
  local decl, files = {}, M.type_files(dir)
  for _, path in ipairs(files) do
    local f = assert(io.open(path))
    local vars, pending_class = {}, nil
    local ann_params, ann_return = {}, false
    local n = 0
    for line in f:lines() do
      n = n + 1
      local cls = line:match("^%-%-%-@class%s+([%w_.]+)")
      if cls then pending_class = cls end
      local var = line:match("^local%s+([%w_]+)%s*=%s*{")
      if var and pending_class then vars[var] = pending_class; pending_class = nil end
      local p = line:match("^%-%-%-@param%s+([%w_.]+)")
      if p then ann_params[p] = true end
      if line:match("^%-%-%-@return") then ann_return = true end
      local v, sep, fn, params = line:match("^function%s+([%w_]+)([.:])([%w_]+)%s*%(([^)]*)%)")
      if v then
        local owner = vars[v]
        if not owner then
          error(string.format("%s:%d: function %s%s%s: %s is not bound to a ---@class", path, n,
            v, sep, fn, v))
        end
        decl[owner] = decl[owner] or {}
        local names = {}
        for name in params:gmatch("[%w_.]+") do names[#names + 1] = name end
        decl[owner][fn] = {file = path, line = n, params = names, documented = ann_params,
                           returns = ann_return, method = sep == ":"}
      end
      if not line:match("^%-%-%-") then ann_params, ann_return = {}, false end
    end
    f:close()
  end
  return decl, files
end

-- ---- the command line and docs/reference.md -----------------------------------

--- Run the binary with args; {code, stdout, stderr}.
function M.slipway(args)
  local bin = os.getenv("SLIPWAY_BIN") or require("slipway.drivers.local").slipway_bin()
  local argv = {bin}
  for _, a in ipairs(args) do argv[#argv + 1] = a end
  return require("slipway.proc").run(argv, {check = false, echo = false, timeout = 30,
    env = {NO_COLOR = "1"}})
end

--- The commands as the binary describes them: the `slipway --help` text and
-- {name, summary, usage, code} for each name in slipway.cli's list.
function M.commands()
  local top = M.slipway({"--help"})
  local summaries = {}
  for name, summary in top.stdout:gmatch("\n  ([%w-]+)%s+([^\n]+)") do summaries[name] = summary end
  local list = {}
  for _, name in ipairs(require("slipway.cli").names) do
    local r = M.slipway({name, "--help"})
    list[#list + 1] = {name = name, summary = summaries[name], usage = r.stdout:gsub("\n+$", ""),
                       code = r.code, stderr = r.stderr}
  end
  return top.stdout:gsub("\n+$", ""), list
end

local function page_of(m) return m.docs[1] end

--- The text of docs/reference.md for this runtime API and these commands.
function M.reference(api, top_help, commands)
  local out = {}
  local function w(s) out[#out + 1] = s end
  w("# Reference")
  w("")
  w("Every command and every public module of slipway, with links to the pages that")
  w("document them. This page is generated from the running binary by")
  w("`tests/tools/gen-reference.lua`; `tests/lua/docs_spec.lua` fails when it is out")
  w("of date, when a public function has no entry on its module's page or no")
  w("declaration in [types/](types/), and when a command's `--help` is not the one")
  w("shown here (`tests/tools/gen-types.lua` prints declaration stubs for what")
  w("is missing). Start with the [guide](guide.md); editor support (LuaLS type")
  w("definitions) is described there, under \"Editor support\".")
  w("")
  w("## Commands")
  w("")
  w("| command | what it does |")
  w("|---|---|")
  for _, c in ipairs(commands) do
    w(string.format("| [`slipway %s`](#slipway-%s) | %s |", c.name, c.name,
      (c.summary or ""):gsub("|", "\\|")))
  end
  w("")
  w("`slipway --help`:")
  w("")
  w("```")
  w(top_help)
  w("```")
  for _, c in ipairs(commands) do
    w("")
    w(string.format("### `slipway %s`", c.name))
    w("")
    w("```")
    w(c.usage)
    w("```")
  end
  w("")
  w("## Modules")
  w("")
  w("`require \"slipway.NAME\"`; the types are in [types/slipway/](types/slipway/).")
  w("")
  w("| module | page | |")
  w("|---|---|---|")
  for _, m in ipairs(M.MODULES) do
    w(string.format("| [`slipway.%s`](#slipway%s) | [%s](%s) | %s |", m.name, m.name:gsub("%.", ""),
      page_of(m), page_of(m), m.summary))
  end
  for _, m in ipairs(M.MODULES) do
    w("")
    w(string.format("### `slipway.%s`", m.name))
    w("")
    local prefix = m.prefix or m.name:match("([%w_]+)$")
    local names = {}
    for _, n in ipairs(api.modules[m.name]) do names[#names + 1] = "`" .. prefix .. "." .. n .. "`" end
    w(string.format("%s. Documented in [%s](%s); types in [types/slipway/%s.lua](types/slipway/%s.lua).",
      m.summary:sub(1, 1):upper() .. m.summary:sub(2), page_of(m), page_of(m),
      m.name:gsub("%.", "/"), m.name:gsub("%.", "/")))
    w("")
    w(table.concat(names, ", "))
  end
  w("")
  w("## Objects")
  w("")
  w("What the modules hand out (LuaLS classes in [types/](types/)):")
  w("")
  w("| class | methods | page |")
  w("|---|---|---|")
  for _, c in ipairs(M.CLASSES) do
    local names = {}
    for _, n in ipairs(api.classes[c.name]) do names[#names + 1] = "`:" .. n .. "`" end
    w(string.format("| `%s` | %s | [%s](%s) |", c.name, table.concat(names, " "), c.docs[1], c.docs[1]))
  end
  w("")
  return table.concat(out, "\n")
end

return M
