---@meta slipway.gha
-- GitHub Actions output: step groups, error annotations with file:line, a
-- job summary from the journal (docs/gha.md).

---@class slipway.gha
local gha = {}

---Whether slipway runs under GitHub Actions (GITHUB_ACTIONS=true).
---@return boolean
function gha.enabled() end

---Escape a workflow command's message (% CR LF).
---@param s string
---@return string
function gha.escape_data(s) end

---Escape a workflow command's property value (also : and ,).
---@param s string
---@return string
function gha.escape_prop(s) end

---Print `::error file=..,line=..,title=..::message`.
---@param kind "error"|"warning"|"notice"
---@param message string
---@param props? {file?: string, line?: integer, col?: integer, title?: string}
function gha.annotate(kind, message, props) end

---Markdown summary of one run from its journal records.
---@param records table[]
---@return string
function gha.summary(records) end

---Append markdown to $GITHUB_STEP_SUMMARY (no-op when it is not set).
---@param markdown string
function gha.write_summary(markdown) end

---An observer for journal records (journal.observe): groups, annotations, the summary.
---@return fun(record: table)
function gha.observer() end

---A path relative to $GITHUB_WORKSPACE when inside it, else unchanged.
---@param path string
---@return string
function gha.workspace_path(path) end

return gha
