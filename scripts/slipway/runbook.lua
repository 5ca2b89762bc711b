--- slipway.runbook: reviewed-in-daylight scripts for 3 a.m. (docs/runbooks.md).
--
-- A runbook is a Lua file `runbooks/NAME.lua` in the deployment repository
-- (or one of the examples shipped in slipway, scripts/runbooks/) returning:
--
--   return {
--     description = "restart the hub (or a named deployment) and wait for it",
--     args = {
--       {name = "env", positional = true, required = true, help = "environment"},
--       {name = "deployment", default = "hub", help = "deployment to restart"},
--       {name = "hours", type = "number", default = 6, help = "..."},
--       {name = "force", type = "boolean", help = "..."},
--       {name = "direction", type = "choice", choices = {"in", "out"}, ...},
--     },
--     run = function(rb, args) ... end,
--   }
--
-- `slipway runbook NAME [--dry-run] [--yes] [ARGS]` validates the arguments
-- against `args` (bad input: exit 2 with the usage), opens a journal
-- (slipway.playbook's context), and calls run(rb, args). The runbook
-- context `rb`:
--   rb.args, rb.dry_run, rb.root, rb.manifest, rb.journal, rb.ctx (the
--   playbook context), rb.name
--   rb:run(argv, opts)  rb:write(path, data)  rb:get(url)  rb:request(opts)
--                       the playbook context's helpers: journalled, and under
--                       --dry-run only readonly commands run
--   rb:confirm(question, {plan =})  rb:choose(q, options)  rb:input(q, opts)
--                       slipway.ui, answers journalled with user and time
--   rb:environment(name) -> the validated environment of slipway.yaml
--   rb:kubectl(env, {args...}, opts) -> result of kubectl ARGS with env's
--                       namespace/context (--namespace=, --context=)
--   rb:kubectl_json(env, {args...}) -> decoded `-o json` output (read-only)
--   rb:git({args...}, opts) -> git -C ROOT ARGS
--   rb:deploy(envname)  `slipway stage ENV` (lock, deploy through the
--                       driver, wait for the rollout) as a child process;
--                       planned in a dry run
--   rb:changed(text)    one line of the final summary of what changed
--   rb:print(...)       output for the operator (stdout), rb:table(rows, cols)
--   rb:fail(msg, code)  raise a structured error (default code "runbook")
-- run returns nothing (success) or false (the operator declined: exit 1).
local core = require "slipway.core"
local args = require "slipway.args"
local ui = require "slipway.ui"

local M = {}

-- ---- finding and loading -----------------------------------------------------

local function fs() return require "slipway.fs" end

--- The process's working directory. $PWD is only what the parent shell
-- thought (a child started with another cwd inherits a stale one), so ask
-- the kernel: fs.cwd().
function M.cwd()
  return fs().cwd()
end

--- The deployment repository: the nearest directory holding slipway.yaml
-- (upward from the cwd), else nil.
function M.root()
  local d = M.cwd()
  while d and d ~= "" do
    if fs().exists(d .. "/slipway.yaml") then return d end
    if d == "/" then break end
    d = fs().dirname(d)
  end
  return nil
end

--- All runbooks: {name -> {name, path | embedded, source = "repository" |
-- "slipway"}}, the repository's overriding the shipped examples.
function M.available(root)
  local out = {}
  for _, p in ipairs(core.embedded_list("runbooks/") or {}) do
    local name = p:match("^runbooks/([%w_%-]+)%.lua$")
    if name then out[name] = {name = name, embedded = p, source = "slipway"} end
  end
  if root and fs().isdir(root .. "/runbooks") then
    for _, f in ipairs(fs().list(root .. "/runbooks")) do
      local name = f:match("^([%w_%-]+)%.lua$")
      if name then out[name] = {name = name, path = root .. "/runbooks/" .. f, source = "repository"} end
    end
  end
  return out
end

local TYPES = {string = true, number = true, boolean = true, choice = true}

--- Validate a runbook definition (where names the file in errors).
function M.validate(def, where)
  local function bad(msg) core.raise("playbook", where .. ": " .. msg) end
  if type(def) ~= "table" then bad("a runbook returns a table {description =, args =, run =}") end
  if type(def.description) ~= "string" or def.description == "" then bad("no description") end
  if type(def.run) ~= "function" then bad("run must be a function(rb, args)") end
  if def.driver ~= nil and (type(def.driver) ~= "string" or not def.driver:match("^[%w_%-]+$")) then
    bad("driver must be the name of a driver (\"kubernetes\")")
  end
  def.args = def.args or {}
  local seen = {}
  for i, a in ipairs(def.args) do
    if type(a) ~= "table" or type(a.name) ~= "string" or not a.name:match("^[%a][%w%-]*$") then
      bad("args[" .. i .. "] needs a name (letters, digits, dashes)")
    end
    if seen[a.name] then bad("argument " .. a.name .. " is declared twice") end
    seen[a.name] = true
    a.type = a.type or (a.choices and "choice") or (type(a.default) == "number" and "number") or
             (type(a.default) == "boolean" and "boolean") or "string"
    if not TYPES[a.type] then bad("argument " .. a.name .. ": unknown type " .. tostring(a.type)) end
    if a.type == "choice" and type(a.choices) ~= "table" then bad("argument " .. a.name .. ": choices missing") end
  end
  return def
end

--- Load a runbook by name: the definition, validated, with .name and .where.
function M.load(name, root)
  local all = M.available(root)
  local entry = all[name]
  if not entry then
    local names = {}
    for n in pairs(all) do names[#names + 1] = n end
    table.sort(names)
    core.raise("usage", string.format("no runbook '%s' (have: %s)", name, table.concat(names, ", ")))
  end
  local chunk, err
  if entry.path then
    chunk, err = loadfile(entry.path, "t")
  else
    chunk, err = load(core.embedded(entry.embedded), "=[slipway]/" .. entry.embedded, "t")
  end
  if not chunk then core.raise("playbook", tostring(err)) end
  local def = chunk()
  M.validate(def, entry.path or entry.embedded)
  def.name, def.where, def.source = name, entry.path or entry.embedded, entry.source
  return def
end

-- ---- arguments ----------------------------------------------------------------

-- The runbook's own declared arguments as slipway.args declarations:
-- options and positionals ("choice" becomes a list of values).
local function declarations(def)
  local options, positionals = {}, {}
  for _, a in ipairs(def.args) do
    local d = {name = a.name, help = a.help, default = a.default, required = a.required,
               type = a.type == "choice" and a.choices or a.type}
    if a.positional then
      d.optional = not a.required
      positionals[#positionals + 1] = d
    else
      options[#options + 1] = d
    end
  end
  return options, positionals
end

local ENGINE_OPTIONS = {
  {name = "dry-run", short = "n", type = "boolean", help = "rehearse: show what would change, change nothing"},
  {name = "yes", short = "y", type = "boolean", help = "answer yes to every question (CI: SLIPWAY_ASSUME_YES=1)"},
}

-- the parser of a runbook's command line: --dry-run, --yes, its arguments
-- and the global options
local function parser(def, bare)
  local options, positionals = declarations(def)
  local desc = def.description .. (def.usage and ("\n\n" .. def.usage) or "")
  return args.parser{prog = "slipway runbook " .. def.name, description = desc,
    options = bare and options or args.concat(ENGINE_OPTIONS, options, args.GLOBAL),
    positionals = positionals,
    epilog = string.format("(%s: %s)", def.source or "runbook", def.where or "?")}
end

--- One-line synopsis of a runbook's arguments.
function M.synopsis(def)
  return parser(def, true):synopsis{bare = true}
end

--- The --help text of a runbook.
function M.help(def)
  return parser(def):help()
end

--- Parse argv against def.args (slipway.args: unknown options are usage
-- errors with a "did you mean"): returns args (by name, dashes kept, also
-- with underscores) and the runbook's own flags {dry_run, yes, help}.
function M.parse(def, argv)
  local v = parser(def):parse(argv)
  if v.help then return {}, {help = true} end
  args.set_global(v)
  local flags = {dry_run = v.dry_run, yes = v.yes}
  local out = {}
  for _, a in ipairs(def.args) do
    local val = v[(a.name:gsub("%-", "_"))]
    if val == nil and a.required then
      core.raise("usage", string.format("slipway runbook %s: missing --%s", def.name, a.name))
    end
    out[a.name] = val
    out[(a.name:gsub("%-", "_"))] = val
  end
  return out, flags
end

-- ---- the runbook context ------------------------------------------------------

local RB = {}
RB.__index = RB

function RB:run(argv, opts) return self.ctx:run(argv, opts) end
function RB:write(path, data, opts) return self.ctx:write(path, data, opts) end
function RB:request(opts) return self.ctx:request(opts) end
function RB:get(url, opts) return self.ctx:get(url, opts) end
function RB:plan(text, fields) return self.ctx:plan(text, fields) end
function RB:log(level, fmt, ...) return self.ctx:log(level, fmt, ...) end
function RB:confirm(q, opts) return ui.confirm(q, opts) end
function RB:choose(q, options, opts) return ui.choose(q, options, opts) end
function RB:input(q, opts) return ui.input(q, opts) end
function RB:table(rows, cols) return ui.table(rows, cols) end

function RB:print(...)
  local t = {}
  for i = 1, select("#", ...) do t[i] = tostring(select(i, ...)) end
  local f = self.out or io.stdout
  f:write(core.redact(table.concat(t, " ")), "\n")
  if f.flush then f:flush() end
end

function RB:fail(msg, code, fields)
  core.raise(code or "runbook", msg, fields, 2)
end

--- A line for the final summary (and the journal).
function RB:changed(text)
  self.changes[#self.changes + 1] = text
  self.journal:record{type = "changed", text = text, planned = self.dry_run or nil}
end

local function envs_of(self)
  if not self.manifest then
    self:fail("no slipway.yaml in " .. tostring(self.root) .. ": run the runbook from the deployment repository", "manifest")
  end
  self._envs = self._envs or require("slipway.environments").load(self.manifest)
  return self._envs
end

-- refuse (code usage, exit 2) an environment that is not on `driver`:
-- kubectl for an environment of the local driver would talk to whatever
-- cluster the current kubeconfig context names
local function need_driver(self, env, driver, what)
  if env.driver ~= driver then
    self:fail(string.format("%s needs an environment on the %s driver; %s is on the %s driver (slipway.yaml)",
      what, driver, tostring(env.name), tostring(env.driver)), "usage")
  end
end

--- The validated environment `name` of slipway.yaml (journalled as a
-- target of the run). A runbook that declares `driver = "kubernetes"`
-- refuses an environment on another driver (code usage, exit 2).
function RB:environment(name)
  local envs = envs_of(self)
  local e = envs.by_name and envs.by_name[name]
  if not e then
    local names = {}
    for _, x in ipairs(envs.list or {}) do names[#names + 1] = x.name end
    local near = require("slipway.args").suggest(tostring(name), names)
    self:fail(string.format("no environment '%s' in slipway.yaml (%shave: %s)", tostring(name),
      near and ("did you mean " .. near .. "? ") or "", table.concat(names, ", ")), "usage")
  end
  if self.def and self.def.driver then need_driver(self, e, self.def.driver, "runbook " .. self.name) end
  self.journal:record{type = "target", env = e.name, driver = e.driver}
  return e
end

--- All environments, in the order of slipway.yaml; and the stages.
function RB:environments()
  local envs = envs_of(self)
  return envs.list, envs.stages
end

--- The command rb:kubectl(env, args, opts) runs, as a plan entry for
-- rb:confirm: {argv = the full argv (kubectl, ARGS, --context=,
-- --namespace=), env = its extra environment (KUBECONFIG, ...) or nil}.
-- Refuses (code usage) an environment that is not on the kubernetes driver.
function RB:kubectl_plan(env, args, opts)
  need_driver(self, env, "kubernetes", "kubectl")
  local kube = require "slipway.kube"
  local s = kube.settings(env)
  return {argv = kube.kubectl(s, {all_namespaces = opts and opts.all_namespaces}, table.unpack(args)),
          env = s.env}, s
end

--- kubectl ARGS for env (its namespace and context, the kubernetes options'
-- kubectl and env: slipway.kube). opts as ctx:run (readonly = true for
-- reads; all_namespaces = true leaves out --namespace). An environment on
-- another driver is refused (code usage) before anything runs.
function RB:kubectl(env, args, opts)
  local p, s = self:kubectl_plan(env, args, opts)
  local o = require("slipway.kube").run_opts(s, opts)
  o.all_namespaces = nil
  return self.ctx:run(p.argv, o)
end

--- Decoded JSON of a read-only kubectl command (adds -o json).
function RB:kubectl_json(env, args, opts)
  local a = {}
  for i, x in ipairs(args) do a[i] = x end
  a[#a + 1] = "-o"
  a[#a + 1] = "json"
  local o = {readonly = true}
  for k, v in pairs(opts or {}) do o[k] = v end
  local r = self:kubectl(env, a, o)
  return require("slipway.json").decode(r.stdout, {name = "kubectl " .. table.concat(args, " ")})
end

local function git_argv(self, args)
  local argv = {"git", "-C", self.root}
  for _, a in ipairs(args) do argv[#argv + 1] = a end
  return argv
end

--- git -C ROOT ARGS (mutations planned in a dry run unless readonly).
function RB:git(args, opts)
  return self.ctx:run(git_argv(self, args), opts)
end

--- Edit a YAML file of the repository losslessly (slipway.yaml's editor):
-- fn(doc) changes it. Returns a change {path, rel, before, after, diff}
-- (nothing written yet: show change.diff, confirm, then rb:apply(change)).
function RB:edit_yaml(rel, fn)
  local fs = require "slipway.fs"
  local yaml = require "slipway.yaml"
  local path = rel:sub(1, 1) == "/" and rel or (self.root .. "/" .. rel)
  if not fs.exists(path) then self:fail(path .. ": no such file", "ENOENT") end
  local before = fs.read(path)
  local doc = yaml.edit(before, {file = path})
  fn(doc)
  local after = doc:text()
  local diff = require("slipway.playbook").diff(before, after, "a/" .. rel, "b/" .. rel)
  return {path = path, rel = rel, before = before, after = after, diff = diff, doc = doc}
end

--- Write a change made by edit_yaml (planned in a dry run).
function RB:apply(change)
  self:write(change.path, change.after)
end

--- runbook.segments(path) -> the segments of a path in slipway's path
-- syntax (docs/path.md: `a.b.c`, `hosts["gesis.org"].weight`, `list[-1]`),
-- as runbook.ensure and the yaml editor take them (slipway.path.parse).
function M.segments(path)
  return require("slipway.path").parse(path)
end

--- Set the value at path (a path string or its segments) in doc, creating
-- the missing mappings on the way (doc:insert of a nested table at the
-- deepest existing one). Returns the old value (nil when there was none).
function M.ensure(doc, path, value)
  local spath = require "slipway.path"
  local segs = spath.parse(path)
  if doc:has(segs) then
    local old = doc:get(segs)
    doc:set(segs, value)
    return old
  end
  local i = #segs - 1
  while i > 0 and not doc:has({table.unpack(segs, 1, i)}) do i = i - 1 end
  if i == 0 then core.raise("edit", "cannot create " .. spath.format(segs) .. " at the top level") end
  local nested = value
  for k = #segs, i + 1, -1 do
    if segs[k].index or segs[k].filter then
      core.raise("edit", string.format("cannot create %s: %s is missing and is not a mapping key",
        spath.format(segs), spath.format(segs, k)))
    end
    if k > i + 1 then nested = {[segs[k].key] = nested} end
  end
  doc:insert({table.unpack(segs, 1, i)}, segs[i + 1].key, nested)
  return nil
end

--- git add FILES && git commit -m MESSAGE in the repository, with the
-- runbook, run id and the confirming user in the message (planned in a dry
-- run). Returns the new commit's sha (nil in a dry run).
-- the git arguments of rb:commit: add, then commit with the message body
local function commit_args(self, files, message)
  local add = {"add", "--"}
  for _, f in ipairs(files) do add[#add + 1] = f end
  local who = require("slipway.journal").whoami()
  local body = string.format("%s\n\nslipway runbook %s, run %s, confirmed by %s@%s", message, self.name,
    tostring(self.ctx.run_id), tostring(who.user), tostring(who.host))
  local c = {"commit", "-q", "-m", body, "--"}
  for _, f in ipairs(files) do c[#c + 1] = f end
  return add, c
end

--- The commands rb:commit(files, message) runs, as plan entries for
-- rb:confirm ({argv = git -C ROOT add ...}, {argv = git -C ROOT commit ...}).
function RB:commit_plan(files, message)
  local add, c = commit_args(self, files, message)
  return {argv = git_argv(self, add)}, {argv = git_argv(self, c)}
end

function RB:commit(files, message)
  local add, c = commit_args(self, files, message)
  self:git(add)
  self:git(c)
  if self.dry_run then return nil end
  local r = self:git({"rev-parse", "HEAD"}, {readonly = true})
  local sha = r.stdout:gsub("%s+$", "")
  self:changed("committed " .. sha:sub(1, 12) .. ": " .. message)
  return sha
end

local function self_exe()
  local bin = os.getenv("SLIPWAY_BIN")
  if bin then return bin end
  -- the binary's own path, so a plan names what really runs
  local ok, real = pcall(fs().realpath, "/proc/self/exe")
  return ok and real or "/proc/self/exe"
end

--- Deploy one environment with `slipway stage ENV` (a child process:
-- the deploy lock, the driver, the rollout wait, the journal; planned in a
-- dry run). Raises when the deploy fails.
--- The command rb:deploy(envname) runs, as a plan entry for rb:confirm.
function RB:deploy_plan(envname)
  return {argv = {self_exe(), "stage", envname}, cwd = self.root}
end

function RB:deploy(envname)
  local r = self.ctx:run(self:deploy_plan(envname).argv, {cwd = self.root, env = {PWD = self.root},
                                                          check = false})
  if r.code ~= 0 then
    self:fail(string.format("slipway stage %s failed (exit %s): %s", envname, tostring(r.code),
      ((r.stderr or "") .. (r.stdout or "")):gsub("%s+$", ""):sub(-2000)), "deploy")
  end
  self:changed("deployed " .. envname .. (self.dry_run and "" or " (slipway stage " .. envname .. ")"))
  return r
end

-- ---- running --------------------------------------------------------------------

--- Run runbook `name` with argv. opts: root, input (fn(prompt) -> line),
-- out (operator output file), tty, journal_path. Returns the exit status
-- (0 done, 1 failed or declined, 2 bad input, 5 locked) and the rb.
function M.run(name, argv, opts)
  opts = opts or {}
  local playbook = require "slipway.playbook"
  local root = opts.root or M.root() or M.cwd()
  local ok, def = pcall(M.load, name, root)
  if not ok then
    io.stderr:write("slipway runbook: ", playbook.errmsg(def), "\n")
    return require("slipway.exit").for_error(def)
  end
  local ok2, args, flags = pcall(M.parse, def, argv)
  if not ok2 then
    io.stderr:write(playbook.errmsg(args), "\ntry: slipway runbook ", name, " --help\n")
    return 2
  end
  if flags.help then
    io.stdout:write(M.help(def), "\n")
    return 0
  end
  local ctx = playbook.context{root = root, command = "runbook " .. name, argv = argv,
                               dry_run = flags.dry_run, args = args, journal_path = opts.journal_path}
  local rb = setmetatable({ctx = ctx, args = args, dry_run = ctx.dry_run, root = ctx.root,
                           manifest = ctx.manifest, journal = ctx.journal, name = name, def = def,
                           changes = {}, out = opts.out}, RB)
  -- the run goes to the shared record of slipway.yaml's `state:` as a
  -- deploy does (not under --dry-run), so whoever looks next -- from another
  -- machine, `slipway history`, the dashboard -- sees who ran what and what
  -- it changed. The first write goes on while the runbook starts; a record
  -- that cannot be written is said, and never stops an incident runbook.
  local deploy = require "slipway.deploy"
  local rok, rerr = pcall(deploy.record_start, ctx, {overlap = true})
  if not rok then
    require("slipway.log").warn("state: runbook %s is not in the shared record: %s", name, playbook.errmsg(rerr))
  end
  local prev = ui.setup{yes = flags.yes or nil, dry_run = ctx.dry_run, input = opts.input,
                        out = opts.ui_out, tty = opts.tty, journal = ctx.journal,
                        name = "runbook " .. name}
  local ok3, res = xpcall(def.run, function(e)
    if type(e) == "table" then return e end
    return debug.traceback(tostring(e), 2)
  end, rb, args)
  ui.setup(prev)
  local status, outcome
  if not ok3 then
    status = require("slipway.exit").for_error(res)
    -- nobody could be asked (no terminal, no --yes): refused, not failed
    outcome = type(res) == "table" and res.code == "refused" and "refused" or "failed"
    io.stderr:write("slipway runbook ", name, ": ", playbook.errmsg(res), "\n")
  elseif res == false then
    status, outcome = 1, "declined"
  else
    status, outcome = 0, "done"
  end
  -- the summary: what changed (or would have)
  local f = opts.out or io.stdout
  local head
  if ctx.dry_run then head = "Dry run, nothing was changed. Would have:"
  elseif outcome == "declined" then head = "Declined."
  elseif outcome == "refused" then head = "Refused (nobody to answer)."
  elseif outcome == "failed" then head = #rb.changes > 0 and "Failed; changed before the failure:" or "Failed."
  else head = "Summary:" end
  f:write(head, "\n")
  if #rb.changes == 0 then
    f:write(outcome == "done" and "  nothing changed\n" or "  nothing was changed\n")
  else
    for _, c in ipairs(rb.changes) do f:write("  - ", core.redact(c), "\n") end
  end
  if f.flush then f:flush() end
  -- (its end, with what changed, to the shared record; an error there is
  -- logged, the runbook's outcome stands)
  deploy.finish(ctx, {ok = status == 0, status = status, outcome = outcome, error = not ok3 and res or nil})
  ctx.journal:finish{ok = status == 0, status = status, outcome = outcome, changes = rb.changes,
                     error = not ok3 and playbook.errmsg(res) or nil}
  return status, rb
end

--- Lines for `slipway runbook --list`.
function M.list_text(root)
  local all = M.available(root)
  local names = {}
  for n in pairs(all) do names[#names + 1] = n end
  table.sort(names)
  local rows = {}
  for _, n in ipairs(names) do
    local ok, def = pcall(M.load, n, root)
    if ok then
      rows[#rows + 1] = {name = n, description = def.description, arguments = M.synopsis(def),
                         from = all[n].source}
    else
      rows[#rows + 1] = {name = n, description = "(broken: " .. require("slipway.playbook").errmsg(def) .. ")",
                         arguments = "", from = all[n].source}
    end
  end
  return ui.table(rows, {"NAME", "DESCRIPTION", "ARGUMENTS", "FROM"})
end

return M
