---@meta slipway.deploy
-- The standard playbook's steps (docs/deploy.md): stage, test, revert, promote.

---@class slipway.deploy
---@field common_options slipway.args.Option[] --junit, --lock-wait, --break-lock (the deploy steps' options)
---@field HEARTBEAT number seconds between writes of a running run's summary (default 60)
---@field RECORDED table<string, boolean> commands whose run must reach the shared record before it starts
---@field exit_help string the exit statuses, at the end of every deploy command's --help
local deploy = {}

---Stage env `name`: lock, journal the current state, deploy through the
---driver, wait for the rollout.
---@param ctx slipway.Ctx
---@param name string
---@return {revision: any, versions: table<string, string>, url: string?}
function deploy.stage(ctx, name) end

---Run env's checks; journals "tested"; raises code "test" when one failed.
---@param ctx slipway.Ctx
---@param name string
---@param opts? table
---@return slipway.CheckResult[]
function deploy.test(ctx, name, opts) end

---Promote the commit that passed test on staging to every production
---environment (parallel, isolated); refuses (code "refused") otherwise.
---@param ctx slipway.Ctx
---@return {name: string, ok: boolean, error: any}[]
function deploy.promote(ctx) end

---git revert back to the last good deploy (or opts.to: sha or run id),
---push when configured, redeploy and retest staging; raises "revert_failed".
---@param ctx slipway.Ctx
---@param opts? {to?: string, reason?: string}
---@return true
function deploy.revert(ctx, opts) end

---The standard playbook's steps; opts.revert = false keeps a failed staging.
---@param opts? {revert?: boolean}
---@return slipway.Step[]
function deploy.steps(opts) end

---Run a deploy command with its parsed options (slipway.args): build the
---context, run build(ctx, args)'s steps through the playbook engine,
---notify; the exit status. opts.argv: the words, for the journal.
---@param command string
---@param args table
---@param build fun(ctx: slipway.Ctx, args: table): slipway.PlaybookDef|slipway.Step[]
---@param opts? {argv: string[]?, playbook: string?, env: string?}
---@return integer
function deploy.run_command(command, args, build, opts) end

---The run function of a command on one environment (ENV, default
---stages.staging): step(ctx, env) is its one step.
---@param command string
---@param step fun(ctx: slipway.Ctx, env: string)
---@return fun(args: table, argv: string[]): integer
function deploy.env_command(command, step) end

---The options a deploy command declares: playbook.engine_options,
---deploy.common_options, then its own.
---@param own? slipway.args.Option[]
---@return slipway.args.Option[]
function deploy.options(own) end

---Load ctx.manifest's environments into ctx.envs (idempotent).
---@param ctx slipway.Ctx
function deploy.setup(ctx) end

---The sha of the newest passed test on staging (the last good commit), and its record.
---@param ctx slipway.Ctx
---@return string?
---@return table? record
function deploy.last_good(ctx) end

---The newest "tested" record of env (matching pred when given).
---@param ctx slipway.Ctx
---@param env_name string
---@param pred? fun(record: table): boolean
---@return table?
function deploy.last_tested(ctx, env_name, pred) end

---Notifications around a run (slipway.yaml notify); returns finish(result).
---@param ctx slipway.Ctx
---@param info table
---@return fun(result: table)
function deploy.notifier(ctx, info) end

---Whether two {component = version} tables are equal.
---@param a table<string, string>?
---@param b table<string, string>?
---@return boolean
function deploy.same_versions(a, b) end

---"name=version,..." for people.
---@param v table<string, string>?
---@return string
function deploy.show_versions(v) end

---The store of the shared record (slipway.state) that slipway.yaml's `state:` names.
---@param ctx slipway.Ctx
---@return table store
function deploy.store(ctx) end

---The shared record (of env only), read once per context; raises code "state" when unreadable.
---@param ctx slipway.Ctx
---@param env string?
---@return table doc
function deploy.record(ctx, env) end

---The run's summary for the shared record; result once it ended (else it carries `expires`).
---@param ctx slipway.Ctx
---@param result table?
---@return table summary
function deploy.run_summary(ctx, result) end

---Write the run to the shared record as unfinished and keep it current (heartbeat). Idempotent.
---With `opts.overlap` the first write runs in the background (see deploy.record_started).
---@param ctx slipway.Ctx
---@param opts? {overlap?: boolean}
function deploy.record_start(ctx, opts) end

---Wait for the background first write of the run (record_start with overlap); raise its error.
---@param ctx slipway.Ctx
function deploy.record_started(ctx) end

---The end of a deploy run: exit 6 for an unpushed revert, the record written, the locks released.
---@param ctx slipway.Ctx
---@param result table
function deploy.finish(ctx, result) end

---What a slipway revert commit says: {good, run, commit, parent}, or nil.
---@param ctx slipway.Ctx
---@param sha string
---@return table?
function deploy.revert_commit(ctx, sha) end

return deploy
