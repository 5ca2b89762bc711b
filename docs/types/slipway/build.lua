---@meta slipway.build
-- The build step of slipway.yaml (`build:`) and the digests of its outputs
-- (docs/deploy.md, "Builds").

---@class slipway.BuildOutput
---@field sha256 string the SHA-256 of the file's content ("" when missing)
---@field changed string[] its lines that differ from HEAD, "LINE: text"
---@field more? integer changed lines left out (beyond MAX_CHANGED)
---@field missing? boolean the file does not exist

---@class slipway.Built
---@field outputs? table<string, slipway.BuildOutput> nil when not run (a dry run)
---@field kind "staging"|"production"
---@field ran? boolean
local Built = {}

---Wait for a deferred build's check of what it changed and its outputs'
---digests (build.run with defer); raise the build's error. Returns the outputs.
---@return table<string, slipway.BuildOutput>?
function Built:settle() end

---@class slipway.build
---@field MAX_CHANGED integer changed lines kept per output (40)
local build = {}

---The SHA-256 of a string, 64 hex digits (digest.sha256).
---@param s string
---@return string
function build.sha256(s) end

---The `build:` of a loaded manifest, or nil.
---@param m table
---@return table?
function build.config(m) end

---"staging" for stages.staging, else "production": which commands run before env.
---@param ctx slipway.Ctx
---@param env string
---@return "staging"|"production"
function build.kind(ctx, env) end

---The files `git status` reports as changed in root (untracked ones too when asked), with
---their contents (false: deleted), and the git run (code ~= 0: nothing read).
---@param ctx slipway.Ctx
---@param root string
---@param opts? {untracked?: boolean}
---@return table<string, string|false>
---@return table
function build.changes(ctx, root, opts) end

---The declared outputs as they are in the working tree; nil without `build:`.
---@param ctx slipway.Ctx
---@param head? table<string, string> the outputs' committed (HEAD) texts, when already read
---@return table<string, slipway.BuildOutput>?
function build.digest(ctx, head) end

---nil when the outputs are those tested, else a text naming each file that differs.
---@param tested table?
---@param now table?
---@return string?
function build.compare(tested, now) end

---Run the build's commands of kind once per context and commit (a to-be-closed value); nil without `build:`.
---opts.defer (not in a dry run): return once the commands ran; the check and digests go on in a task (`built:settle()`).
---@param ctx slipway.Ctx
---@param kind "staging"|"production"
---@param opts? {defer?: boolean}
---@return slipway.Built?
function build.run(ctx, kind, opts) end

---Put the declared outputs back to HEAD (before a revert).
---@param ctx slipway.Ctx
function build.reset(ctx) end

---The declared outputs, relative to the repository.
---@param m table
---@return string[]
function build.paths(m) end

return build
