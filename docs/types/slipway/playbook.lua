---@meta slipway.playbook
-- Playbooks: named steps run by one engine that logs, journals, dry-runs and
-- resumes (docs/playbook.md).

---@class slipway.playbook
---@field EXIT table<string, integer> exit statuses by outcome
---@field engine_options slipway.args.Option[] --dry-run, --resume [RUN], --journal FILE, --state-dir DIR
local playbook = {}

---A step of a playbook.
---@class slipway.Step
---@field name string unique; used in logs, the journal and --resume
---@field run fun(ctx: slipway.Ctx): any the work; raise to fail
---@field retries? integer extra attempts (0)
---@field retry_delay? number seconds between attempts (1)
---@field timeout? number seconds for one attempt
---@field when? fun(ctx: slipway.Ctx): boolean skip the step when false
---@field revert? fun(ctx: slipway.Ctx, err: any) runs when the step failed for good

---@class slipway.PlaybookDef
---@field name? string
---@field steps slipway.Step[]
---@field description? string shown by `slipway run FILE --help`
---@field options? slipway.args.Option[] the options it takes (docs/args.md)
---@field positionals? slipway.args.Positional[] the arguments it takes (ctx.args[1..n])
---@field setup? fun(ctx: slipway.Ctx)
---@field finish? fun(ctx: slipway.Ctx, result: slipway.RunResult)

---@class slipway.RunResult
---@field ok boolean
---@field status integer exit status (slipway.exit)
---@field outcome "success"|"failed"|"reverted"|"revert-failed"|"error"|"interrupted"
---@field run_id string
---@field failed_step? string
---@field error? any
---@field steps table[]
---@field duration number
---@field cpu number
---@field ctx slipway.Ctx

---The playbook context handed to every step.
---@class slipway.Ctx
---@field args table command line: --flag → true, --key=v, --no-flag → false, positionals [1..]
---@field vars table shared by the steps; saved with each step, restored by --resume
---@field dry_run boolean
---@field run_id string
---@field journal slipway.Journal
---@field root string the deployment repository
---@field state_dir string
---@field manifest? slipway.Manifest
---@field sha? string git HEAD
---@field dirty? boolean uncommitted changes
---@field step? string the running step
---@field command string
---@field envs? table environments.load's result (deploy commands)
local Ctx = {}

---proc.run, journalled; under --dry-run only readonly commands run, the
---others are planned and return {code = 0, stdout = "", planned = true}.
---@param argv slipway.Argv
---@param opts? slipway.ProcOpts
---@return slipway.ProcResult
function Ctx:run(argv, opts) end

---http.request, journalled; under --dry-run only GET and HEAD are sent.
---@param opts slipway.HttpOpts
---@return slipway.HttpResponse
function Ctx:request(opts) end

---A journalled GET.
---@param url string
---@param opts? slipway.HttpOpts
---@return slipway.HttpResponse
function Ctx:get(url, opts) end

---fs.write, journalled; under --dry-run the diff is planned instead.
---@param path string
---@param data string
---@param opts? {mode?: integer, redact?: boolean}
function Ctx:write(path, data, opts) end

---Any other change (stop a process, remove a file): fn(...) runs, or under
-----dry-run `text` is planned.
---@param text string
---@param fn fun(...): ...
---@param ... any
---@return any ...
function Ctx:mutate(text, fn, ...) end

---Add a plan entry (printed in a dry run, journalled always).
---@param text string
---@param fields? table
function Ctx:plan(text, fields) end

---Add a before → after diff to the dry-run plan.
---@param label string
---@param before? string
---@param after? string
function Ctx:diff(label, before, after) end

---Log (with the environment as prefix) and journal.
---@param level slipway.LogLevel
---@param fmt string
---@param ... any
function Ctx:log(level, fmt, ...) end

---Seconds spent in child processes so far.
---@return number
function Ctx:child_time() end

---Count seconds spent waiting on the world (a rollout a driver waits for);
---ctx:child_time() sums them.
---@param seconds number
function Ctx:waited(seconds) end

---Print the dry-run plan and its diffs (playbook.print_plan(ctx)).
---@param out? file*
function Ctx:print_plan(out) end

---Define a playbook; run at once when the file is the script slipway was
---started with (`slipway run FILE`), else returned.
---@param def slipway.PlaybookDef|slipway.Step[]
---@return slipway.PlaybookDef
function playbook.define(def) end

---Load a playbook file, or with opts.embedded the one compiled into
---slipway ("playbooks/deploy.lua").
---@param path string
---@param opts? {embedded: boolean?}
---@return slipway.PlaybookDef
function playbook.load(path, opts) end

---Run a playbook: opts.ctx or what playbook.context takes, and resume.
---@param def slipway.PlaybookDef
---@param opts? table
---@return slipway.RunResult
function playbook.run(def, opts) end

---Make a context.
---@param opts? {root?: string, manifest?: slipway.Manifest, state_dir?: string, args?: table, dry_run?: boolean, command?: string, playbook?: string, journal_path?: string, no_manifest?: boolean}
---@return slipway.Ctx
function playbook.context(opts) end

---Run with a command line parsed by playbook.parser(def) (--help prints the
---help and runs nothing; bad input is exit 2); the exit status.
---@param def slipway.PlaybookDef
---@param argv string[]
---@param opts? table
---@return integer
function playbook.main(def, argv, opts) end

---The command-line parser of a playbook (slipway.args): its declared
---options and positionals, the engine's options and the global ones.
---@param def slipway.PlaybookDef
---@return slipway.args.Parser
function playbook.parser(def) end

---Unified diff of two texts, "" when equal.
---@param a string
---@param b string
---@param label_a? string
---@param label_b? string
---@return string
function playbook.diff(a, b, label_a, label_b) end

---Print a dry run's plan and diffs.
---@param ctx slipway.Ctx
---@param out? file*
function playbook.print_plan(ctx, out) end

---git HEAD of dir (nil outside a work tree) and whether the tree is dirty.
---@param dir string
---@return string?
---@return boolean dirty
function playbook.git_state(dir) end

---The absolute current directory (not a stale $PWD).
---@return string
function playbook.cwd() end

---An error's message (structured or not).
---@param err any
---@return string
function playbook.errmsg(err) end

---A duration for people: "49 ms", "1.20 s".
---@param seconds number
---@return string
function playbook.fmt_dur(seconds) end

---A command shell-quoted and redacted, for display.
---@param argv slipway.Argv
---@return string
function playbook.argv_text(argv) end

---What a step's revert hook returns to decline reverting (e.g. under
-----no-revert): the run then fails with exit 1, not 3 or 4.
---@param reason? string logged and journalled (revert_end.declined)
---@return table
function playbook.decline(reason) end

return playbook
