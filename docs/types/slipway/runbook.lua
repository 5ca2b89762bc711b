---@meta slipway.runbook
-- Runbooks (docs/runbooks.md): show, ask, record, rehearse with --dry-run.

---@class slipway.runbook
local runbook = {}

---@class slipway.RunbookArg
---@field name string
---@field positional? boolean
---@field required? boolean
---@field type? "string"|"number"|"boolean"|"choice"
---@field choices? string[]
---@field default? any
---@field help? string

---What a runbook file returns.
---@class slipway.RunbookDef
---@field description string
---@field args? slipway.RunbookArg[]
---@field run fun(rb: slipway.Runbook, args: table): boolean?

---@class slipway.YamlChange
---@field path string
---@field diff string
---@field before string
---@field after string

---The runbook context.
---@class slipway.Runbook
---@field ctx slipway.Ctx
---@field args table
---@field dry_run boolean
---@field root string
---@field manifest? slipway.Manifest
---@field journal slipway.Journal
---@field name string
local Runbook = {}

---ctx:run: journalled; under --dry-run only readonly commands run.
---@param argv slipway.Argv
---@param opts? slipway.ProcOpts
---@return slipway.ProcResult
function Runbook:run(argv, opts) end

---@param path string
---@param data string
---@param opts? table
function Runbook:write(path, data, opts) end

---@param opts slipway.HttpOpts
---@return slipway.HttpResponse
function Runbook:request(opts) end

---@param url string
---@param opts? slipway.HttpOpts
---@return slipway.HttpResponse
function Runbook:get(url, opts) end

---@param text string
---@param fields? table
function Runbook:plan(text, fields) end

---@param level slipway.LogLevel
---@param fmt string
---@param ... any
function Runbook:log(level, fmt, ...) end

---ui.confirm.
---@param q string
---@param opts? {plan?: slipway.Plan, default?: boolean}
---@return boolean
function Runbook:confirm(q, opts) end

---ui.choose.
---@param q string
---@param options (string|{label: string, value: any})[]
---@param opts? {default?: any}
---@return any
function Runbook:choose(q, options, opts) end

---ui.input.
---@param q string
---@param opts? table
---@return string
function Runbook:input(q, opts) end

---ui.table.
---@param rows table[]
---@param cols table
---@return string
function Runbook:table(rows, cols) end

---Write to stdout, redacted.
---@param ... any
function Runbook:print(...) end

---Raise a structured error (exit 1; code "usage" → 2).
---@param msg string
---@param code? string
---@param fields? table
function Runbook:fail(msg, code, fields) end

---A line of the final summary, also journalled (type "changed").
---@param text string
function Runbook:changed(text) end

---The environment `name` of slipway.yaml.
---@param name string
---@return slipway.Environment
function Runbook:environment(name) end

---Every environment, and the stages.
---@return slipway.Environment[]
---@return table stages
function Runbook:environments() end

---kubectl with the environment's --namespace= and --context= (opts.all_namespaces leaves out the namespace).
---@param env slipway.Environment
---@param args string[]
---@param opts? slipway.ProcOpts|{all_namespaces?: boolean}
---@return slipway.ProcResult
function Runbook:kubectl(env, args, opts) end

---kubectl ... -o json, read-only, decoded.
---@param env slipway.Environment
---@param args string[]
---@param opts? table
---@return any
function Runbook:kubectl_json(env, args, opts) end

---The command Runbook:kubectl runs for the same arguments, as a plan entry
---(argv with --context= and --namespace=, env its extra environment); refuses
---an environment that is not on the kubernetes driver (code "usage").
---@param env slipway.Environment
---@param args string[]
---@param opts? {all_namespaces?: boolean}
---@return {argv: string[], env?: table<string, string>}
function Runbook:kubectl_plan(env, args, opts) end

---The git add and git commit entries Runbook:commit runs, for a plan.
---@param files string[]
---@param message string
---@return {argv: string[]} add
---@return {argv: string[]} commit
function Runbook:commit_plan(files, message) end

---The `slipway stage ENV` entry Runbook:deploy runs, for a plan.
---@param envname string
---@return {argv: string[], cwd: string}
function Runbook:deploy_plan(envname) end

---git in the repository.
---@param args string[]
---@param opts? slipway.ProcOpts
---@return slipway.ProcResult
function Runbook:git(args, opts) end

---A lossless edit of a repository file: fn(doc) edits a slipway.YamlDoc;
---returns the change to show, confirm and rb:apply.
---@param rel string
---@param fn fun(doc: slipway.YamlDoc)
---@return slipway.YamlChange
function Runbook:edit_yaml(rel, fn) end

---Write a change from edit_yaml (planned under --dry-run).
---@param change slipway.YamlChange
function Runbook:apply(change) end

---git add + git commit, the runbook, run id and confirming user in the
---message; the new commit's sha (nil in a dry run).
---@param files string[]
---@param message string
---@return string?
function Runbook:commit(files, message) end

---`slipway stage ENV` as a child process; fails (code "deploy") when it does.
---@param envname string
---@return slipway.ProcResult
function Runbook:deploy(envname) end

---Run runbook name with argv; the exit status and the rb.
---@param name string
---@param argv string[]
---@param opts? {root?: string, input?: fun(prompt: string): string?, out?: file*, tty?: boolean, journal_path?: string}
---@return integer
---@return slipway.Runbook?
function runbook.run(name, argv, opts) end

---Load runbooks/NAME.lua of root, or a shipped one; validated.
---@param name string
---@param root? string
---@return slipway.RunbookDef
function runbook.load(name, root) end

---Validate a runbook definition (where names it in errors).
---@param def slipway.RunbookDef
---@param where string
---@return slipway.RunbookDef
function runbook.validate(def, where) end

---Parse argv by def.args: the values and the runner's flags (yes, dry_run, help).
---@param def slipway.RunbookDef
---@param argv string[]
---@return table args
---@return {yes: boolean?, dry_run: boolean?, help: boolean?} flags
function runbook.parse(def, argv) end

---The usage line of a runbook.
---@param def slipway.RunbookDef
---@return string
function runbook.synopsis(def) end

---`slipway runbook NAME --help`.
---@param def slipway.RunbookDef
---@return string
function runbook.help(def) end

---Every runbook by name: {name, source = "repository"|"slipway", path | embedded}
---(a repository runbook replaces a shipped one of the same name).
---@param root? string
---@return table<string, {name: string, source: string, path: string?, embedded: string?}>
function runbook.available(root) end

---The lines of `slipway runbook --list`.
---@param root? string
---@return string
function runbook.list_text(root) end

---The deployment repository (nearest directory with slipway.yaml), or nil.
---@return string?
function runbook.root() end

---The absolute current directory.
---@return string
function runbook.cwd() end

---The segments of a path in slipway's path syntax (docs/path.md; slipway.path.parse).
---@param path slipway.Path
---@return slipway.PathSegment[]
function runbook.segments(path) end

---Set value at path (a path or its segments) in a YamlDoc, creating the missing
---mappings; the old value (nil when there was none).
---@param doc slipway.YamlDoc
---@param path slipway.Path
---@param value any
---@return any
function runbook.ensure(doc, path, value) end

return runbook
