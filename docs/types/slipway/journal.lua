---@meta slipway.journal
-- One JSON-lines file per run in STATE_DIR/journal/ (docs/journal.md).

---@class slipway.journal
local journal = {}

---@class slipway.RunSummary
---@field id string
---@field command string
---@field user string
---@field host string
---@field pid integer
---@field sha? string
---@field started number
---@field duration? number
---@field ok? boolean
---@field status? integer
---@field outcome? string
---@field finished boolean
---@field envs string[]
---@field versions_before? table<string, string>
---@field versions_after? table<string, string>
---@field failed_step? string
---@field records? table[]

---A run's journal.
---@class slipway.Journal
---@field id string the run id
---@field path? string
---@field records table[]
local Journal = {}

---Append a record ({type = ..., ...}; run and ts are added), redacted.
---@param rec table
function Journal:record(rec) end

---Write the run_end record.
---@param info table ok, status, outcome, ...
function Journal:finish(info) end

---Open a new run's journal (opts.memory: keep records in memory only).
---@param state_dir string
---@param info table the run record's fields (command, args, sha, ...)
---@param opts? {path?: string, memory?: boolean}
---@return slipway.Journal
function journal.open(state_dir, info, opts) end

---The records of a journal file (records.torn when the last line was cut).
---@param path string
---@return table[]
function journal.read(path) end

---Summaries of every run, newest first.
---@param state_dir string
---@param opts? {env?: string, limit?: integer}
---@return slipway.RunSummary[]
function journal.runs(state_dir, opts) end

---The summary and records of run `id` (or of the newest run with that prefix).
---@param state_dir string
---@param id string
---@return slipway.RunSummary?
---@return table[]? records
function journal.find(state_dir, id) end

---The newest record for which pred(record, summary) is true, and its summary.
---@param state_dir string
---@param pred fun(record: table, summary: slipway.RunSummary): boolean
---@return table?
---@return slipway.RunSummary?
function journal.last(state_dir, pred) end

---Summarise one journal's records.
---@param records table[]
---@param path? string
---@return slipway.RunSummary
function journal.summary(records, path) end

---Paths of every journal under state_dir, oldest first.
---@param state_dir string
---@return string[]
function journal.paths(state_dir) end

---The journal directory under state_dir.
---@param state_dir string
---@return string
function journal.dir(state_dir) end

---A copy of value as the journal writes it: strings redacted and made valid UTF-8.
---@param value any
---@return any
function journal.clean(value) end

---fn(record) for every record any journal writes (redacted copy); returns a remover.
---@param fn fun(record: table)
---@return fun()
function journal.observe(fn) end

---Who runs slipway: {user (GITHUB_ACTOR or the login), host, pid, cwd, ci}.
---@return {user: string, host: string, pid: integer, cwd: string?, ci: any}
function journal.whoami() end

---A new run id, sortable by start time.
---@return string
function journal.new_id() end

---Wall-clock time, seconds since the epoch with milliseconds.
---@return number
function journal.now() end

return journal
