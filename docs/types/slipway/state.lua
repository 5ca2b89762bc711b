---@meta slipway.state
-- The shared record of deploys and the deploy locks (docs/state.md).

---@class slipway.state
---@field FORMAT integer the record format this slipway writes and the newest it reads
local state = {}

---One field of an environment's state: last-writer-wins by `at`.
---@class slipway.StateField
---@field at number unix seconds: the run's end (or the event's time); set to now when missing
---@field run? string the run id that wrote it
---@field sha? string commit
---@field versions? table<string, string>
---@field outputs? table build-output digests (opaque; the promote gate compares them)
---@field ok? boolean (tested) whether the checks passed
---@field failed? string[] (tested) names of the failed checks
---@field revision? integer|string (deployed) the driver's release revision

---The state of one environment.
---@class slipway.StateEnv
---@field good? slipway.StateField the last commit and versions that passed test (revert target)
---@field tested? slipway.StateField the last test (promote gate: commit, versions, outputs, ok)
---@field deployed? slipway.StateField what runs there now

---The summary of one run, as the record keeps it.
---@class slipway.StateRun
---@field id string run id (letters, digits, '.', '-', '_')
---@field command string deploy, stage, test, promote, revert, ...
---@field envs string[] environments it touched
---@field started? number unix seconds
---@field ended? number unix seconds (absent while running or when it was killed)
---@field outcome? string success, failed, reverted, revert_failed, locked, cancelled, ...
---@field status? integer exit status (slipway.exit)
---@field sha? string the commit it ran at
---@field steps? {name: string, ok: boolean, duration?: number, skipped?: boolean}[]
---@field checks? {env: string, name: string, ok: boolean, detail?: string, duration?: number}[]
---@field versions? {attempted?: table<string, string>, final?: table<string, string>}
---@field revert? {from?: string, to?: string, commits?: string[], ok?: boolean, why?: string, commit?: string, pushed?: string}
---@field user? string who ran it
---@field confirmed_by? string who confirmed it
---@field host? string
---@field ci_url? string the CI run (state.ci_url())
---@field journal? {host?: string, path?: string} where the full local journal is
---@field updated number set by the store on every write

---A record: what state.read returns.
---@class slipway.StateDoc
---@field format integer
---@field envs table<string, slipway.StateEnv>
---@field runs table<string, slipway.StateRun>

---A record store (git, kubernetes or local).
---@class slipway.StateStore
---@field backend string "git", "kubernetes" or "local"
local Store = {}

---Where the record lives, for messages.
---@return string
function Store:where() end

---The record (of one environment and its runs, when env is given). Raises
---code "state" when it cannot be read.
---@param env? string
---@return slipway.StateDoc
function Store:read(env) end

---Merge runs and env fields into the record, with optimistic concurrency.
---@param delta {runs?: slipway.StateRun[], envs?: table<string, table<string, slipway.StateField>>}
---@return slipway.StateDoc doc the record (of the parts written) after the write
function Store:write(delta) end

---Add or update one run's summary.
---@param summary slipway.StateRun
---@return slipway.StateRun
function Store:append_run(summary) end

---Update fields of one environment's state.
---@param env string
---@param fields table<string, slipway.StateField>
---@return slipway.StateEnv
function Store:update_env(env, fields) end

---Open the record store named by the `state:` setting.
---@param cfg? string|{backend: "git"|"kubernetes"|"local", remote?: string, ref?: string, retries?: integer, timeout?: number, prefix?: string, keep_runs?: integer, home?: string, wait?: number}
---@param opts? {root?: string, state_dir?: string, envs?: table<string, {namespace: string, kubectl?: string, context?: string, env?: table}>, log?: fun(level: string, fmt: string, ...)}
---@return slipway.StateStore
function state.open(cfg, opts) end

---Run summaries of a record, newest first.
---@param doc slipway.StateDoc
---@param opts? {env?: string, limit?: integer}
---@return slipway.StateRun[]
function state.runs(doc, opts) end

---The run with this id (or the newest whose id starts with it).
---@param doc slipway.StateDoc
---@param id string
---@return slipway.StateRun?
function state.find_run(doc, id) end

---The URL of this CI run (GitHub Actions), or nil.
---@param getenv? fun(name: string): string?
---@return string?
function state.ci_url(getenv) end

---The holder of a lock.
---@class slipway.StateHolder
---@field identity? string (lease) holderIdentity
---@field user? string
---@field host? string
---@field pid? integer
---@field run? string
---@field command? string
---@field note? string (file)
---@field since? number
---@field renewed? number (lease)
---@field expires? number (lease)
---@field expired? boolean (lease)
---@field transitions? integer (lease) leaseTransitions

---A Kubernetes Lease lock.
---@class slipway.StateLease
---@field held boolean
---@field broke? slipway.StateHolder the live holder acquire{break_lock} displaced (journal it)
---@field took_expired? slipway.StateHolder the expired holder acquire replaced
---@field lost? table the error when the lease was lost
local Lease = {}

---Take the lease (waiting up to opts.wait seconds); starts renewing it.
---@param opts? {wait?: number, break_lock?: boolean, give_up?: fun(): any}
---@return slipway.StateLease
function Lease:acquire(opts) end

---The current holder, or nil when free or released.
---@return slipway.StateHolder?
function Lease:holder() end

---Renew now (raises "lock_lost" when someone else holds it).
function Lease:renew() end

---Start the background renewal (acquire does); on_lost(err) when lost.
---@param on_lost? fun(err: table)
function Lease:start(on_lost) end

---Stop renewing without releasing (the lease then expires).
function Lease:stop() end

---Stop renewing and free the lease if it is still ours.
function Lease:release() end

---The flock of a file, behind the same interface.
---@class slipway.StateFileLock
local FileLock = {}

---Take the lock (waiting up to opts.wait seconds); break_lock raises.
---@param opts? {wait?: number, break_lock?: boolean, give_up?: fun(): any}
---@return slipway.StateFileLock
function FileLock:acquire(opts) end

---The holder {pid, host, since, note}, or nil.
---@return slipway.StateHolder?
function FileLock:holder() end

---Nothing to renew: a flock lives as long as its holder.
function FileLock:renew() end

---Release the lock.
function FileLock:release() end

---A lock with the one interface: kind "kubernetes" (a Lease) or "file" (a flock).
---@param cfg {kind: "kubernetes"|"file", namespace?: string, name?: string, kubectl?: string, context?: string, env?: table, duration?: number, renew?: number, poll?: number, identity?: string, info?: table, log?: function, path?: string, note?: string}
---@return slipway.StateLease|slipway.StateFileLock
function state.lock(cfg) end

return state
