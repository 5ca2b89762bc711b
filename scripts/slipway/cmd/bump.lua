--- slipway bump: move pinned versions to the newest that qualifies.
-- A thin layer over slipway.bump (docs/bump.md).
local exit = require "slipway.exit"
local M = {}

M.summary = "update the versions slipway.yaml lists: slipway bump [COMPONENT...] [--to V] [--dry-run] [--commit] [--pr]"

M.description = [[
For each component of slipway.yaml (all, or those named), read the version
in its files, ask its source for the newest version that qualifies, and if
that is newer, write it to every location listed (all or none).

With --pr, each component with a newer version gets its own branch
(slipway/bump-NAME, from the current commit, in a private worktree), a
one-line commit, a push (force-with-lease) and a pull request opened or
updated through the GitHub REST API: token in GITHUB_TOKEN, API at
GITHUB_API_URL (default https://api.github.com), repository from
GITHUB_REPOSITORY or the remote's URL.

Output: one line per component, "NAME OLD → NEW" or "NAME OLD up to date"
(--json: one JSON document instead). A source that has not answered after
2 s gets a "waiting for SOURCE (Ns)..." line on stderr.
Exit status: 0 done, whether or not something changed; 7 something changed
(or would change with --dry-run) and --exit-code was given; 1 a component
failed (the others are still done); 2 bad usage or an invalid slipway.yaml.]]

M.options = {
  {name = "to", metavar = "VERSION", help = "move the one named component to VERSION (may go back)"},
  {name = "dry-run", short = "n", type = "boolean", help = "change nothing; say what would change"},
  {name = "diff", type = "boolean", help = "print the diff of each change (paths relative to the repository, " ..
   "for git apply)"},
  {name = "commit", type = "boolean", help = 'one git commit per component: "<name>: <old>...<new>"'},
  {name = "pr", type = "boolean", help = "one branch, push and GitHub pull request per component"},
  {name = "no-verify", type = "boolean", help = "skip the repository's git hooks (commit and push)"},
  {name = "remote", metavar = "NAME", default = "origin", help = "--pr: the remote to push to"},
  {name = "base", metavar = "BRANCH", help = "--pr: the pull requests' base (default: the current branch)"},
  {name = "label", metavar = "NAME", repeatable = true, help = "--pr: a label for pull requests of " ..
   "components that declare none (default: dependencies)"},
  {name = "rate-limit-wait", metavar = "SECONDS", type = "number", default = 300,
   help = "--pr: the longest the GitHub API's rate limit is waited for, in all"},
  {name = "summary", metavar = "FILE", help = "write a Markdown pull-request body (before/after table)"},
  {name = "json", type = "boolean", help = "print one JSON document (components: old, new, changed, " ..
   "commit, pr, error)"},
  {name = "timeout", metavar = "SECONDS", type = "number", default = 60,
   help = "the longest one request to a source may take"},
  {name = "retries", metavar = "N", type = "integer", default = 3,
   help = "extra attempts after a source's connection error, timeout or 5xx"},
  {name = "manifest", metavar = "PATH", help = "the slipway.yaml (default: found from the current directory)"},
  {name = "exit-code", type = "boolean", help = "exit 7 when something changed or would change " ..
   "(as git diff --exit-code)"},
}
M.positionals = {{name = "component", optional = true, variadic = true, help = "components of slipway.yaml"}}

M.EXIT_UNCHANGED, M.EXIT_CHANGED, M.EXIT_FAILED, M.EXIT_USAGE = exit.ok, exit.changes, exit.failed, exit.usage

local function usage_error(msg)
  io.stderr:write("slipway bump: ", msg, "\n", "try: slipway bump --help\n")
  return M.EXIT_USAGE
end

local function errmsg(e) return type(e) == "table" and e.message or tostring(e) end

local function or_null(v)
  if v == nil then return require("slipway.json").null end
  return v
end

--- The --json document of a run's results (docs/bump.md).
function M.json_document(results, opts)
  local json = require "slipway.json"
  local bump = require "slipway.bump"
  local doc = {dry_run = opts.dry_run and true or false, changed = false, failed = false, components = {}}
  for _, r in ipairs(results) do
    if r.changed then doc.changed = true end
    if r.error then doc.failed = true end
    local files = r.files or {}
    if #files == 0 then files = json.array() end
    doc.components[#doc.components + 1] = {
      component = r.component, kind = or_null(r.kind), old = or_null(r.old), new = or_null(r.new),
      changed = r.changed and true or false, files = files, newest = or_null(r.newest),
      compare_url = or_null(r.compare_url), note = or_null(r.note), commit = or_null(r.commit),
      diff = opts.show_diff and or_null(r.diff) or nil,
      pr = or_null(r.pr),
      error = r.error and {code = type(r.error) == "table" and r.error.code or "error",
                           message = bump.clean(errmsg(r.error))} or json.null,
    }
  end
  if #doc.components == 0 then doc.components = json.array() end
  return json.encode(doc, {indent = 2})
end

--- Run with the parsed options (slipway.args).
function M.run(a)
  local opts = {to = a.to, dry_run = a.dry_run, commit = a.commit, show_diff = a.diff,
                summary = a.summary, pr = a.pr, no_verify = a.no_verify, remote = a.remote, base = a.base,
                labels = a.label, rate_limit_wait = a.rate_limit_wait, timeout = a.timeout,
                retries = a.retries}
  local names, manifest_path = a.component, a.manifest
  if opts.to and #names ~= 1 then return usage_error("--to needs exactly one COMPONENT") end
  if opts.commit and opts.dry_run then return usage_error("--commit and --dry-run exclude each other") end
  if opts.pr and opts.commit then return usage_error("--pr makes its own commits; leave out --commit") end
  if not (opts.timeout > 0) then return usage_error("--timeout must be a number of seconds > 0") end
  if opts.retries < 0 then return usage_error("--retries must be 0 or more") end

  local manifest = require "slipway.manifest"
  local bump = require "slipway.bump"
  local ok, m = pcall(manifest.load, manifest_path)
  if not ok then
    io.stderr:write("slipway bump: ", bump.clean(errmsg(m)), "\n")
    return M.EXIT_USAGE
  end
  for _, n in ipairs(names) do
    if not m.components[n] then
      return usage_error(string.format("no component %q in %s (components: %s)", n, m.path,
        table.concat(m.order, ", ")))
    end
  end
  local j
  if opts.pr and not opts.dry_run then
    j = require("slipway.journal").open(m.state_dir, {command = "bump", args = {pr = true, components = names,
      remote = opts.remote, base = opts.base}, root = m.root})
  end
  local results
  local okr, err = pcall(function()
    results = bump.run(m, {components = names, to = opts.to, dry_run = opts.dry_run,
      commit = opts.commit, summary = opts.summary, pr = opts.pr, no_verify = opts.no_verify,
      remote = opts.remote, base = opts.base, labels = opts.labels and #opts.labels > 0 and opts.labels or nil,
      rate_limit_wait = opts.rate_limit_wait, journal = j,
      ctx = bump.context(m, {timeout = opts.timeout, retries = opts.retries}),
      on_wait = function(_, source, secs)
        io.stderr:write(string.format("waiting for %s (%ds)...\n", source, math.floor(secs + 0.5)))
        io.stderr:flush()
      end})
  end)
  if not okr then
    if type(err) == "table" and err.results then results = err.results
    else
      io.stderr:write("slipway bump: ", bump.clean(errmsg(err)), "\n")
      local status = exit.for_error(err)
      if j then j:finish{ok = false, status = status, error = bump.clean(errmsg(err))} end
      return status
    end
  end
  local changed, failed = false, false
  for _, r in ipairs(results) do
    if r.error then
      failed = true
      if not a.json then io.stdout:write(string.format("%s failed\n", r.component)) end
      io.stderr:write("slipway bump: ", bump.clean(errmsg(r.error)), "\n")
    elseif r.changed then
      changed = true
      if not a.json then
        local how = opts.dry_run and " (dry run)" or (r.commit and (" (" .. r.commit:sub(1, 12) .. ")") or "")
        if r.pr and r.pr.url then
          how = how .. string.format(" %s #%s %s", r.pr.action or "", tostring(r.pr.number), tostring(r.pr.url))
        elseif r.pr and r.pr.planned then
          how = how .. " would open a pull request from " .. r.pr.branch
        end
        io.stdout:write(string.format("%s %s → %s%s\n", r.component, r.old, r.new, how))
        if opts.show_diff and r.diff then io.stdout:write(r.diff) end
      end
    elseif not a.json then
      io.stdout:write(string.format("%s %s up to date%s\n", r.component, tostring(r.old),
        r.newest and (" (newest offered: " .. r.newest .. ")") or ""))
    end
  end
  if a.json then io.stdout:write(M.json_document(results, opts), "\n") end
  io.stdout:flush()
  local status = failed and M.EXIT_FAILED or ((changed and a.exit_code) and M.EXIT_CHANGED or M.EXIT_UNCHANGED)
  if j then j:finish{ok = not failed, status = status} end
  return status
end

return M
