--- slipway.gha: GitHub Actions output, on when GITHUB_ACTIONS=true.
--
-- Fed with the journal's records as a run writes them (journal.observe), it
--   * opens a collapsible group for each step (`::group::stage staging`) and
--     closes it when the step ends,
--   * turns a failed step, a failed check and a failed revert into an
--     annotation (`::error file=F,line=L,title=...::message`, with the file and
--     line when the error names one; a failed check names its line in
--     slipway.yaml, the file relative to $GITHUB_WORKSPACE),
--   * at the end of the run appends a Markdown summary (outcome, versions,
--     checks, step durations) to $GITHUB_STEP_SUMMARY.
-- Every string has passed the redaction point before it gets here (journal
-- records are redacted), and is redacted once more on the way out.
local core = require "slipway.core"

local M = {}

--- Whether slipway runs under GitHub Actions.
function M.enabled() return os.getenv("GITHUB_ACTIONS") == "true" end

--- Escape a workflow command's message (% CR LF).
function M.escape_data(s)
  return (tostring(s):gsub("%%", "%%25"):gsub("\r", "%%0D"):gsub("\n", "%%0A"))
end

--- Escape a workflow command's property value (also : and ,).
function M.escape_prop(s)
  return (M.escape_data(s):gsub(":", "%%3A"):gsub(",", "%%2C"))
end

--- A file's path as annotations name it: relative to $GITHUB_WORKSPACE (the
-- checked-out repository) when it is inside, else as given.
function M.workspace_path(path)
  path = tostring(path)
  local ws = os.getenv("GITHUB_WORKSPACE")
  if ws and ws ~= "" then
    ws = ws:gsub("/+$", "") .. "/"
    if path:sub(1, #ws) == ws then return path:sub(#ws + 1) end
  end
  return path
end

local out = io.stderr  -- the same stream as the log lines, so they interleave

local function emit(line)
  out:write(core.redact(line), "\n")
  out:flush()
end

--- `::error file=..,line=..,title=..::message` (kind: error|warning|notice).
-- Message and properties are redacted before they are escaped: escaping
-- turns `%` into `%25`, after which a URL-encoded secret would no longer
-- match what was registered.
function M.annotate(kind, message, props)
  local parts = {}
  message = core.redact(tostring(message))
  local given = props or {}
  props = {}
  for k, v in pairs(given) do props[k] = core.redact(tostring(v)) end
  if not props.file then
    local file, line = message:match("([%w%._/%-]+%.%a+):(%d+):")
    if file and not file:find("^%[slipway%]") then props.file, props.line = file, line end
  end
  for _, k in ipairs{"file", "line", "col", "title"} do
    if props[k] then parts[#parts + 1] = k .. "=" .. M.escape_prop(props[k]) end
  end
  emit(string.format("::%s%s::%s", kind, #parts > 0 and (" " .. table.concat(parts, ",")) or "",
    M.escape_data(message)))
end

local function md_escape(s)
  return (tostring(s):gsub("|", "\\|"):gsub("\n", " "))
end

local function fmt_dur(d)
  if type(d) ~= "number" then return "" end
  if d < 1 then return string.format("%d ms", math.floor(d * 1000 + 0.5)) end
  if d < 120 then return string.format("%.1f s", d) end
  return string.format("%dm%02ds", math.floor(d / 60), math.floor(d % 60))
end

local ICON = {success = "✅", failed = "❌", reverted = "⏪", ["revert-failed"] = "🚨",
  ["revert-unpushed"] = "⚠️", interrupted = "⏹", error = "❌"}

--- Markdown summary of one run from its journal records.
function M.summary(records)
  local run, run_end, steps, checks, deployed = {}, {}, {}, {}, {}
  local rp
  local order = {}
  for _, r in ipairs(records) do
    if r.type == "run" then run = r
    elseif r.type == "run_end" then run_end = r
    elseif r.type == "step_end" then
      if not steps[r.step] then order[#order + 1] = r.step end
      steps[r.step] = r
    elseif r.type == "check" then checks[#checks + 1] = r
    elseif r.type == "deployed" then deployed[#deployed + 1] = r
    elseif r.type == "revert_push" then rp = r
    end
  end
  local outcome = run_end.outcome or (run_end.ok and "success") or "unfinished"
  local lines = {}
  local function add(s) lines[#lines + 1] = s end
  add(string.format("### %s slipway %s: %s", ICON[outcome] or "ℹ️",
    md_escape(run.command or "run"), md_escape(outcome)))
  add("")
  add(string.format("Run `%s` at `%s`%s, %s.", md_escape(run.run or run_end.run or "?"),
    md_escape((run.sha or "?"):sub(1, 12)), run.dry_run and " (dry run)" or "",
    fmt_dur(run_end.duration)))
  if #deployed > 0 then
    add("")
    add("| environment | versions | revision |")
    add("|---|---|---|")
    for _, d in ipairs(deployed) do
      local vs = {}
      local names = {}
      for k in pairs(d.versions or {}) do names[#names + 1] = k end
      table.sort(names)
      for _, k in ipairs(names) do vs[#vs + 1] = k .. " `" .. md_escape(d.versions[k]) .. "`" end
      add(string.format("| %s | %s | %s |", md_escape(d.env or "?"), table.concat(vs, "<br>"),
        md_escape(d.revision or "")))
    end
  end
  if #checks > 0 then
    add("")
    add("| check | environment | result | attempts | time |")
    add("|---|---|---|---|---|")
    for _, c in ipairs(checks) do
      add(string.format("| %s | %s | %s | %s | %s |", md_escape(c.name or "?"),
        md_escape(c.env or ""), c.ok and "✅ passed" or ("❌ " .. md_escape(c.detail or "failed")),
        tostring(c.attempts or 1), fmt_dur(c.duration)))
    end
  end
  if #order > 0 then
    add("")
    add("| step | result | time |")
    add("|---|---|---|")
    for _, name in ipairs(order) do
      local s = steps[name]
      local res = s.skipped and ("skipped (" .. md_escape(s.skipped) .. ")")
        or (s.ok and "✅ ok" or ("❌ " .. md_escape(s.error or "failed")))
      add(string.format("| %s | %s | %s |", md_escape(name), res, fmt_dur(s.duration)))
    end
  end
  if rp and not rp.ok then
    add("")
    add(string.format("**The revert commit is not on `%s/%s`** (%s): %s. Staging runs the revert; " ..
      "the branch still holds the bad commit until a person merges it.", md_escape(rp.remote or "?"),
      md_escape(rp.branch or "?"), md_escape(rp.error or "refused"), rp.side_branch and
      ("it was pushed to branch `" .. md_escape(rp.side_branch) .. "`") or "it was not pushed anywhere"))
  elseif rp then
    add("")
    add(string.format("The revert commit was pushed to `%s/%s`.", md_escape(rp.remote or "?"), md_escape(rp.branch or "?")))
  end
  if run_end.error then
    add("")
    add("```")
    add(tostring(run_end.error))
    add("```")
  end
  add("")
  return core.redact(table.concat(lines, "\n"))
end

--- Append markdown to $GITHUB_STEP_SUMMARY (no-op when it is not set).
function M.write_summary(markdown)
  local path = os.getenv("GITHUB_STEP_SUMMARY")
  if not path or path == "" then return false end
  local f, err = io.open(path, "a")
  if not f then
    M.annotate("warning", "cannot write the job summary: " .. tostring(err))
    return false
  end
  f:write(core.redact(markdown), "\n")
  f:close()
  return true
end

--- An observer for journal records: groups, annotations, the summary.
function M.observer()
  local records, open = {}, nil
  return function(rec)
    records[#records + 1] = rec
    if rec.type == "step_start" then
      if open then emit("::endgroup::") end
      open = rec.step
      emit("::group::" .. M.escape_data(rec.step or "step"))
    elseif rec.type == "step_end" then
      if open then emit("::endgroup::"); open = nil end
      if rec.ok == false then
        M.annotate("error", rec.error or "failed", {title = "step " .. tostring(rec.step)})
      end
    elseif rec.type == "check" and rec.ok == false then
      M.annotate(rec.experimental and "warning" or "error", rec.detail or "check failed",
        {title = string.format("check %s (%s)", tostring(rec.name), tostring(rec.env)),
         file = rec.file and M.workspace_path(rec.file), line = rec.file and rec.line})
    elseif rec.type == "revert" and rec.ok == false then
      M.annotate("error", rec.error or "the revert failed", {title = "REVERT FAILED"})
    elseif rec.type == "run_end" then
      if open then emit("::endgroup::"); open = nil end
      M.write_summary(M.summary(records))
      records = {}
    end
  end
end

return M
