--- slipway bump: move pinned versions to the newest that qualifies.
-- A thin layer over slipway.bump (docs/bump.md).
local exit = require "slipway.exit"
local M = {}

M.summary = "update the versions slipway.yaml lists: slipway bump [COMPONENT...] [--to V] [--dry-run] [--commit]"

M.description = [[
For each component of slipway.yaml (all, or those named), read the version
in its files, ask its source for the newest version that qualifies, and if
that is newer, write it to every location listed (all or none).

Output: one line per component, "NAME OLD → NEW" or "NAME OLD up to date".
Exit status: 0 done, whether or not something changed; 7 something changed
(or would change with --dry-run) and --exit-code was given; 1 a component
failed (the others are still done); 2 bad usage or an invalid slipway.yaml.]]

M.options = {
  {name = "to", metavar = "VERSION", help = "move the one named component to VERSION (may go back)"},
  {name = "dry-run", short = "n", type = "boolean", help = "change nothing; say what would change"},
  {name = "diff", type = "boolean", help = "print the diff of each change"},
  {name = "commit", type = "boolean", help = 'one git commit per component: "<name>: <old>...<new>"'},
  {name = "summary", metavar = "FILE", help = "write a Markdown pull-request body (before/after table)"},
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

--- Run with the parsed options (slipway.args).
function M.run(a)
  local opts = {to = a.to, dry_run = a.dry_run, commit = a.commit, show_diff = a.diff,
                summary = a.summary}
  local names, manifest_path = a.component, a.manifest
  if opts.to and #names ~= 1 then return usage_error("--to needs exactly one COMPONENT") end
  if opts.commit and opts.dry_run then return usage_error("--commit and --dry-run exclude each other") end

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
  local results
  local okr, err = pcall(function()
    results = bump.run(m, {components = names, to = opts.to, dry_run = opts.dry_run,
      commit = opts.commit, summary = opts.summary})
  end)
  if not okr then
    if type(err) == "table" and err.results then results = err.results
    else
      io.stderr:write("slipway bump: ", bump.clean(errmsg(err)), "\n")
      return M.EXIT_FAILED
    end
  end
  local changed, failed = false, false
  for _, r in ipairs(results) do
    if r.error then
      failed = true
      io.stdout:write(string.format("%s failed\n", r.component))
      io.stderr:write("slipway bump: ", bump.clean(errmsg(r.error)), "\n")
    elseif r.changed then
      changed = true
      io.stdout:write(string.format("%s %s → %s%s\n", r.component, r.old, r.new,
        opts.dry_run and " (dry run)" or (r.commit and (" (" .. r.commit:sub(1, 12) .. ")") or "")))
      if opts.show_diff and r.diff then io.stdout:write(r.diff) end
    else
      io.stdout:write(string.format("%s %s up to date%s\n", r.component, tostring(r.old),
        r.newest and (" (newest offered: " .. r.newest .. ")") or ""))
    end
  end
  io.stdout:flush()
  if failed then return M.EXIT_FAILED end
  return (changed and a.exit_code) and M.EXIT_CHANGED or M.EXIT_UNCHANGED
end

return M
