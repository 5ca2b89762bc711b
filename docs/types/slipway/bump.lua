---@meta slipway.bump
-- Keeping pinned versions current (docs/bump.md); `slipway bump` is a thin
-- layer over these.

---@class slipway.bump
local bump = {}

---@class slipway.BumpResult
---@field component string
---@field old string?
---@field new string?
---@field changed boolean
---@field files string[]
---@field diff? string
---@field note? string
---@field newest? string
---@field compare_url? string
---@field commit? string
---@field kind? string the source kind
---@field pr? {branch: string, base: string, pushed?: boolean, number?: integer, url?: string, action?: "created"|"updated", pulls?: integer, planned?: boolean}
---@field error? slipway.Error|string

---@class slipway.BumpOpts
---@field components? string[] default: all, in the file's order
---@field to? string move the one named component to this version
---@field dry_run? boolean
---@field commit? boolean one git commit per changed component
---@field summary? string path of the Markdown pull-request body
---@field digests? boolean
---@field timeout? number
---@field retries? integer
---@field no_verify? boolean skip the repository's git hooks
---@field on_wait? fun(name: string, source: string, seconds: number) called while a source is waited on
---@field notice_after? number seconds before the first on_wait (default 2)
---@field notice_every? number seconds between on_wait calls (default 10)
---@field pr? boolean one branch, push and GitHub pull request per changed component
---@field remote? string default "origin"
---@field base? string default: the current branch
---@field labels? string[] default {"dependencies"} (a component's own labels win)
---@field token_env? string default "GITHUB_TOKEN"
---@field github_repository? string "owner/repo"
---@field rate_limit_wait? number seconds, default 300
---@field journal? table a journal (slipway.journal) recording the GitHub requests

---Bump each component; raises code "bump" (with `results`) after processing
---the others when any failed.
---@param m slipway.Manifest
---@param opts? slipway.BumpOpts
---@return slipway.BumpResult[]
function bump.run(m, opts) end

---The version at the component's locations (they must agree), and details.
---@param m slipway.Manifest
---@param name string
---@return string
---@return table details
function bump.current(m, name) end

---Qualifying items best first, the skipped ones, and info.
---@param m slipway.Manifest
---@param name string
---@param opts? {ctx?: table}
---@return table[]
---@return table[] skipped
---@return table info
function bump.candidates(m, name, opts) end

---{current, latest, item, current_item, candidates, skipped, note, newer};
---raises code "source" when no version qualifies.
---@param m slipway.Manifest
---@param name string
---@param opts? {ctx?: table, to?: string}
---@return table
function bump.pick(m, name, opts) end

---Set `new` at every location (all edits or none): changed files, diff.
---@param m slipway.Manifest
---@param name string
---@param new string
---@param opts? {dry_run?: boolean}
---@return string[] files
---@return string diff
function bump.apply(m, name, new, opts) end

---Commit one component's files (hooks run unless no_verify); the new commit's sha.
---@param m slipway.Manifest
---@param r slipway.BumpResult
---@param opts? {no_verify?: boolean, one_line?: boolean, scratch?: boolean}
---@return string
function bump.commit(m, r, opts) end

---The Markdown body of one component's pull request.
---@param comp slipway.Component
---@param r slipway.BumpResult
---@param pulls? {number: integer, title: string, html_url: string, labels: string[]}[]
---@param why? string why the merged pull requests are not listed
---@return string
function bump.pr_body(comp, r, pulls, why) end

---The bot's branch for a component: "slipway/bump-NAME".
---@param name string
---@return string
function bump.branch(name) end

---What the waiting line names the component's source by.
---@param comp slipway.Component
---@return string
function bump.source_label(comp) end

---The Markdown pull-request body for results.
---@param results slipway.BumpResult[]
---@return string
function bump.summary(results) end

---<repository>/compare/<old sha>...<new sha>, or nil.
---@param comp slipway.Component
---@param old string
---@param new string
---@param old_item? table
---@param new_item? table
---@return string?
function bump.compare_url(comp, old, new, old_item, new_item) end

---A context shared by the sources of one run (each index parsed once).
---@param m slipway.Manifest
---@param opts? table
---@return table
function bump.context(m, opts) end

---The message without slipway's own "[slipway]/x.lua:N: " locations.
---@param msg string
---@return string
function bump.clean(msg) end

return bump
