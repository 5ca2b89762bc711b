--- slipway.bump: keep the versions a deployment pins current.
--
--   local bump = require "slipway.bump"
--   local m = require("slipway.manifest").load(".")
--   for _, r in ipairs(bump.run(m, {components = {"binderhub"}, dry_run = true})) do
--     print(r.component, r.old, r.new, r.changed)
--   end
--
-- The pieces, for playbooks that want their own flow (docs/bump.md):
--   bump.current(m, name)                  -> version now in the files (all must agree)
--   bump.candidates(m, name [, opts])      -> qualifying versions, best first
--   bump.pick(m, name [, opts])            -> {current, latest, item, note, ...}
--   bump.apply(m, name, new [, opts])      -> files changed (all edits or none)
--   bump.commit(m, result)                 -> one git commit for one component
--   bump.summary(results)                  -> Markdown pull-request body
--   bump.run(m, opts)                      -> list of results
-- A result is {component, old, new, changed, files, note, compare_url,
-- commit, item_old, item_new, error}. Failures are structured errors
-- (codes "manifest", "source", "version", "bump", "http", ...).
local core = require "slipway.core"
local fs = require "slipway.fs"
local version = require "slipway.version"
local M = {}

local function log()
  return require "slipway.log"
end

local function errmsg(e) return type(e) == "table" and e.message or tostring(e) end

--- bump.clean(message) -> the message without the "[slipway]/x.lua:N: "
-- locations of slipway's own modules (they say nothing to an operator).
function M.clean(msg)
  return (tostring(msg):gsub("%[slipway%][^:%s]*:%d+: ", ""))
end

local function component(m, name)
  local c = m.components[name]
  if not c then
    local names = table.concat(m.order or {}, ", ")
    core.raise("manifest", string.format("no component %q in %s (components: %s)", tostring(name),
      m.path or "slipway.yaml", names ~= "" and names or "none"), {component = name}, 3)
  end
  return c
end

--- bump.context(m [, opts]) -> a context shared by the sources of one run:
-- caches (each chart repository index is fetched and parsed once), the
-- state directory for the on-disk cache, timeouts.
function M.context(m, opts)
  opts = opts or {}
  return {manifest = m, state_dir = m and m.state_dir, indexes = {}, timeout = opts.timeout,
          retries = opts.retries}
end

-- ---- reading and writing the files ------------------------------------------

-- an image reference's tag part: "quay.io/a/b:TAG" -> prefix "quay.io/a/b:", "TAG"
local function split_tag(ref)
  if ref:find("@", 1, true) then return nil, "is pinned by digest (" .. ref .. ")" end
  local slash = ref:match("^.*()/") or 0
  local colon = ref:match("^.*():")
  if not colon or colon < slash or colon == #ref then return nil, "has no tag (" .. ref .. ")" end
  return ref:sub(1, colon), ref:sub(colon + 1)
end
M._split_tag = split_tag

-- what the yaml module said about a path, without its "<file>: path "...": "
-- prefix (the caller names the relative file and the path itself)
local function path_detail(e, loc)
  local msg = errmsg(e)
  local rest = msg:match('^.-: path "[^"]*": (.*)$')
  return rest or msg:gsub(loc.file:gsub("%p", "%%%0"), loc.relfile)
end

-- the yaml module's "nothing there" answers (everything else -- two items
-- matching a filter, a scalar where a mapping was expected -- is said as it is)
local MISSING = {"^no key ", "^0 items ", " has %d+ items; no index ", "^nothing there"}

local function read_location(doc, loc)
  local ok, v = pcall(doc.get, doc, loc.path)
  if not ok then
    local detail = (path_detail(v, loc))
    local missing = false
    for _, p in ipairs(MISSING) do if detail:find(p) then missing = true end end
    core.raise("manifest", string.format("%s: %s %s: %s", loc.relfile, loc.path,
      missing and "does not exist" or "cannot be read", detail), {file = loc.file, key = loc.path}, 0)
  end
  if v == nil then
    core.raise("manifest", string.format("%s: %s does not exist", loc.relfile, loc.path),
      {file = loc.file, key = loc.path}, 0)
  end
  if type(v) ~= "string" and type(v) ~= "number" then
    core.raise("manifest", string.format("%s: %s is a %s, not a version", loc.relfile, loc.path, type(v)),
      {file = loc.file, key = loc.path}, 0)
  end
  v = tostring(v)
  if loc.part == "tag" then
    local prefix, tag = split_tag(v)
    if not prefix then
      core.raise("manifest", string.format("%s: %s %s", loc.relfile, loc.path, tag), {file = loc.file, key = loc.path}, 0)
    end
    return tag, prefix
  end
  return v, ""
end

local function open_docs(comp)
  local yaml = require "slipway.yaml"
  local docs, order = {}, {}
  for _, loc in ipairs(comp.locations) do
    if not docs[loc.file] then
      if not fs.isfile(loc.file) then
        core.raise("manifest", string.format("%s: file %s does not exist", comp.name, loc.relfile),
          {file = loc.file}, 0)
      end
      local ok, doc = pcall(loc.format == "env" and require("slipway.env").open_file or yaml.open, loc.file)
      if not ok then
        core.raise("manifest", string.format("%s: cannot open %s: %s", comp.name, loc.relfile, errmsg(doc)),
          {file = loc.file}, 0)
      end
      docs[loc.file] = doc
      order[#order + 1] = loc.file
    end
  end
  return docs, order
end

--- bump.current(m, name) -> version, details
-- The version at every location of the component (for part=tag the tag of
-- the image reference). Raises code "bump" when the locations disagree
-- (a federation that drifted) and "manifest" when a file or path is missing.
-- details.locations = {{file, path, value, prefix}}.
function M.current(m, name)
  local comp = component(m, name)
  local docs = open_docs(comp)
  local cur, first
  local details = {locations = {}}
  for _, loc in ipairs(comp.locations) do
    local v, prefix = read_location(docs[loc.file], loc)
    details.locations[#details.locations + 1] = {file = loc.relfile, path = loc.path, value = v, prefix = prefix}
    if cur == nil then cur, first = v, loc
    elseif v ~= cur then
      core.raise("bump", string.format("%s: the locations disagree: %s %s is %s but %s %s is %s",
        name, first.relfile, first.path, cur, loc.relfile, loc.path, v), {component = name}, 0)
    end
  end
  return cur, details
end

--- bump.candidates(m, name [, opts]) -> qualifying, skipped, info
-- Asks the component's source, then keeps the versions its scheme reads,
-- its pattern/exclude allow, its constraint and devel setting admit; best
-- first. opts.ctx shares caches between components (bump.context).
-- qualifying: list of items {version, created, app_version, digest, sha};
-- skipped: {item, text, reason}; info: what the source reported (url, ...)
-- plus `all` (every item the source listed).
function M.candidates(m, name, opts)
  opts = opts or {}
  local comp = component(m, name)
  local ctx = opts.ctx or M.context(m, opts)
  local src = comp.source
  local mod = require("slipway.sources." .. src.kind)
  local items, info = mod.candidates(comp, ctx)
  info = info or {}
  info.all = items
  local keep, skipped = {}, {}
  for _, it in ipairs(items) do
    if src.pattern and not it.version:find(src.pattern) then
      skipped[#skipped + 1] = {item = it, text = it.version, reason = "pattern"}
    elseif src.exclude and it.version:find(src.exclude) then
      skipped[#skipped + 1] = {item = it, text = it.version, reason = "exclude"}
    else
      keep[#keep + 1] = it
    end
  end
  local ok, sk = version.sort(keep, {scheme = comp.scheme, constraint = src.constraint, devel = src.devel})
  for _, s in ipairs(sk) do skipped[#skipped + 1] = s end
  local unreadable = 0
  for _, s in ipairs(skipped) do
    if s.reason == "unreadable" then unreadable = unreadable + 1 end
  end
  if unreadable > 0 then
    log().debug("%s: %d of %d versions from %s skipped as unreadable by %s", name, unreadable, #items,
      tostring(info.url or src.kind), type(comp.scheme) == "table" and table.concat(comp.scheme, "+") or comp.scheme)
  end
  return ok, skipped, info
end

local function by_created(list)
  local best, bt
  for _, it in ipairs(list) do
    local t = version.timestamp(it.created)
    if t and (not bt or t > bt) then best, bt = it, t end
  end
  return best
end

--- bump.pick(m, name [, opts]) -> pick
-- pick = {component, current, latest (string or nil), item (the source's
-- entry for latest), current_item, candidates (qualifying list), skipped,
-- info, note, newer (latest is newer than current)}.
-- opts: ctx, to (a version to move to, in any direction, that the source
-- must offer). A chart source can order by the index's `created` time
-- (source.order = created); when the semantic-version pick and the newest
-- build by time disagree, `note` says so (and a warning is logged).
-- Raises code "source" when no version qualifies.
function M.pick(m, name, opts)
  opts = opts or {}
  local comp = component(m, name)
  local current = M.current(m, name)
  local list, skipped, info = M.candidates(m, name, opts)
  local p = {component = name, current = current, candidates = list, skipped = skipped, info = info}
  for _, it in ipairs(info.all) do
    if it.version == current then p.current_item = it end
  end
  if opts.to then
    local target
    for _, it in ipairs(info.all) do if it.version == opts.to then target = it end end
    if not target then
      core.raise("source", string.format("%s: %s is not offered by %s", name, opts.to,
        tostring(info.url or comp.source.kind)), {component = name}, 0)
    end
    local okp, why = version.parse(opts.to, comp.scheme)
    if not okp then
      core.raise("version", string.format("%s: %s cannot be read as %s (%s)", name, opts.to,
        type(comp.scheme) == "table" and table.concat(comp.scheme, " or ") or comp.scheme, why), {component = name}, 0)
    end
    p.latest, p.item = opts.to, target
    p.newer = opts.to ~= current
    return p
  end
  if #list == 0 then
    local counts = {}
    for _, s in ipairs(skipped) do counts[s.reason] = (counts[s.reason] or 0) + 1 end
    local parts = {}
    for reason, n in pairs(counts) do parts[#parts + 1] = n .. " " .. reason end
    table.sort(parts)
    core.raise("source", string.format("%s: no version from %s qualifies (%d listed%s)", name,
      tostring(info.url or comp.source.kind), #info.all,
      #parts > 0 and (", skipped: " .. table.concat(parts, ", ")) or ""), {component = name}, 0)
  end
  local best = list[1]
  if comp.source.kind == "helm" then
    local newest = by_created(list)
    if newest and newest ~= best and newest.version ~= best.version then
      p.note = string.format("semantic-version order picks %s (created %s); the newest build by created time is %s (created %s)",
        best.version, tostring(best.created), newest.version, tostring(newest.created))
      if comp.source.order == "created" then best = newest end
    end
  end
  p.latest, p.item = best.version, best
  local okc, c = pcall(version.compare, current, best.version, comp.scheme)
  if not okc then
    core.raise("version", string.format("%s: the current version %s cannot be read as %s; use --to to set one",
      name, current, type(comp.scheme) == "table" and table.concat(comp.scheme, " or ") or comp.scheme),
      {component = name}, 0)
  end
  if comp.source.order == "created" and comp.source.kind == "helm" and p.current_item then
    local tc, tb = version.timestamp(p.current_item.created), version.timestamp(best.created)
    p.newer = tc ~= nil and tb ~= nil and tb > tc
  else
    p.newer = c < 0
  end
  return p
end

--- bump.apply(m, name, new [, opts]) -> files, diff
-- Sets `new` at every location of the component with the lossless edit of
-- slipway.yaml (doc:set, verified by re-reading). All edits or none: every
-- document is edited and checked in memory first, then saved; if a save
-- fails, the files already written get their old text back.
-- opts.dry_run: edit in memory only. Returns the relative paths changed and
-- the unified diff.
function M.apply(m, name, new, opts)
  opts = opts or {}
  local comp = component(m, name)
  local docs, order = open_docs(comp)
  for _, loc in ipairs(comp.locations) do
    local doc = docs[loc.file]
    local _, prefix = read_location(doc, loc)
    local ok, err = pcall(doc.set, doc, loc.path, prefix .. new)
    if not ok then
      core.raise("bump", string.format("%s: cannot set %s in %s: %s", name, loc.path, loc.relfile, errmsg(err)),
        {component = name, file = loc.file}, 0)
    end
    local back = read_location(doc, loc)
    if back ~= new then
      core.raise("bump", string.format("%s: %s in %s reads %s after the edit, not %s", name, loc.path,
        loc.relfile, tostring(back), new), {component = name, file = loc.file}, 0)
    end
  end
  local files, diffs = {}, {}
  local rel = {}
  for _, loc in ipairs(comp.locations) do rel[loc.file] = loc.relfile end
  for _, file in ipairs(order) do
    -- paths relative to the deployment's root, as `git apply` wants them
    local d = core.redact(require("slipway.diff").unified(fs.read(file), docs[file]:text(),
      "a/" .. rel[file], "b/" .. rel[file]))
    if d and d ~= "" then
      files[#files + 1] = rel[file]
      diffs[#diffs + 1] = d
    end
  end
  if opts.dry_run then return files, table.concat(diffs) end
  local saved = {}
  local ok, err = pcall(function()
    for _, file in ipairs(order) do
      local before = fs.read(file)
      docs[file]:save()
      saved[#saved + 1] = {file = file, text = before}
    end
  end)
  if not ok then
    for _, s in ipairs(saved) do pcall(fs.write, s.file, s.text) end
    core.raise("bump", string.format("%s: writing the new version failed, %d file(s) restored: %s", name,
      #saved, errmsg(err)), {component = name}, 0)
  end
  return files, table.concat(diffs)
end

-- ---- git and pull-request text --------------------------------------------------

--- bump.compare_url(comp, old, new [, old_item, new_item]) -> URL or nil:
-- <repository>/compare/<old sha>...<new sha> when both versions carry a git
-- sha (chartpress ".h383374de", setuptools-scm "+g97bb4e45a"), or the two
-- tags for a git source.
function M.compare_url(comp, old, new, old_item, new_item)
  local repo = comp.repository
  if not repo then return nil end
  repo = repo:gsub("%.git$", ""):gsub("/+$", "")
  local a = version.sha(old) or (old_item and old_item.sha and comp.source.kind ~= "git" and old_item.sha)
  local b = version.sha(new) or (new_item and new_item.sha and comp.source.kind ~= "git" and new_item.sha)
  if a and b then return repo .. "/compare/" .. a .. "..." .. b end
  if comp.source.kind == "git" then return repo .. "/compare/" .. old .. "..." .. new end
  return nil
end

-- git in root; raises code "exit" with git's own words on failure
-- (opts.check = false: return the result instead)
local function git(root, args, opts)
  opts = opts or {}
  local proc = require "slipway.proc"
  local argv = {"git", "-C", root}
  for _, a in ipairs(args) do argv[#argv + 1] = a end
  local r = proc.run(argv, {check = false, stdin = opts.stdin, timeout = opts.timeout or 120,
    readonly = opts.readonly, env = {GIT_TERMINAL_PROMPT = "0"}})
  if opts.check == false then return r end
  if r.code ~= 0 then
    local why = ((r.stderr or "") .. (r.stdout or "")):gsub("%s+$", "")
    core.raise("exit", "git " .. table.concat(args, " ") .. " failed: " .. why, {status = r.code}, 0)
  end
  return r.stdout
end

local function trim(s) return (s:gsub("%s+$", "")) end

--- bump.commit(m, result [, opts]) -> the new commit's sha
-- One commit with only the component's files: message
-- "<component>: <old>...<new>", and the compare URL in the body when known
-- (opts.one_line: the subject only). The repository's hooks (pre-commit,
-- commit-msg) run and may refuse the commit; opts.no_verify skips them.
-- A refused commit leaves the edit in the files, unstaged (opts.scratch:
-- the checkout is a throwaway worktree, not worth saying so).
function M.commit(m, r, opts)
  opts = opts or {}
  local title = string.format("%s: %s...%s", r.component, r.old, r.new)
  local body = (r.compare_url and not opts.one_line) and ("\n\n" .. r.compare_url) or ""
  local args = {"commit", "--quiet", "-F", "-", "--"}
  if opts.no_verify then table.insert(args, 2, "--no-verify") end
  for _, f in ipairs(r.files) do args[#args + 1] = f end
  git(m.root, {"add", "--", table.unpack(r.files)})
  local ok, err = pcall(git, m.root, args, {stdin = title .. body .. "\n"})
  if not ok then
    -- a hook said no: unstage, keep the edit in the files, say so
    git(m.root, {"reset", "--quiet", "--", table.unpack(r.files)}, {check = false})
    core.raise("bump", string.format("%s: the commit was refused%s: %s", r.component,
      opts.scratch and "" or (" (" .. table.concat(r.files, ", ") .. " changed, not committed)"),
      M.clean(errmsg(err))), {component = r.component}, 0)
  end
  return (git(m.root, {"rev-parse", "HEAD"}, {readonly = true}):gsub("%s+$", ""))
end

local function cell(s)
  if s == nil or s == "" then return "" end
  return "`" .. tostring(s):gsub("|", "\\|"):gsub("`", "'") .. "`"
end

-- the before/after table of one changed result
local function table_rows(r, out)
  local a, b = r.item_old or {}, r.item_new or {}
  out[#out + 1] = "| | before | after |\n|---|---|---|"
  out[#out + 1] = string.format("| version | %s | %s |", cell(r.old), cell(r.new))
  if a.app_version or b.app_version then
    out[#out + 1] = string.format("| appVersion | %s | %s |", cell(a.app_version), cell(b.app_version))
  end
  if a.digest or b.digest then
    out[#out + 1] = string.format("| %s | %s | %s |", r.kind == "helm" and "chart digest" or "image digest",
      cell(a.digest), cell(b.digest))
  end
  if a.created or b.created then
    out[#out + 1] = string.format("| created | %s | %s |", cell(a.created), cell(b.created))
  end
  out[#out + 1] = ""
end

--- bump.summary(results) -> Markdown: per changed component a before/after
-- table (version, appVersion, digest, created where known) and the compare
-- link. Suitable as a pull-request body.
function M.summary(results)
  local out = {}
  local changed = 0
  for _, r in ipairs(results) do
    if r.changed then
      changed = changed + 1
      out[#out + 1] = string.format("## %s: `%s` → `%s`\n", r.component, r.old, r.new)
      table_rows(r, out)
      if r.compare_url then out[#out + 1] = "Changes: " .. r.compare_url .. "\n" end
      if r.note then out[#out + 1] = "Note: " .. r.note .. "\n" end
      out[#out + 1] = "Files: " .. table.concat(r.files or {}, ", ") .. "\n"
    end
  end
  if changed == 0 then out[#out + 1] = "Everything is up to date.\n" end
  return table.concat(out, "\n")
end

local function md_text(s)
  return (tostring(s):gsub("[\r\n]+", " "):gsub("([\\`*_%[%]<>|])", "\\%1"))
end

--- bump.pr_body(comp, result [, pulls, why]) -> the Markdown body of a bump
-- pull request: the version table, the merged pull requests between the two
-- upstream commits (pulls: list of {number, title, html_url, labels}; why:
-- the reason when they could not be listed), the compare, source and
-- changelog links.
function M.pr_body(comp, r, pulls, why)
  local out = {string.format("Updates `%s` from `%s` to `%s`.\n", r.component, r.old, r.new)}
  table_rows(r, out)
  if pulls or why then
    out[#out + 1] = "## Merged pull requests\n"
    if pulls and #pulls == 0 then out[#out + 1] = "None found between the two commits." end
    for _, p in ipairs(pulls or {}) do
      local labels = #p.labels > 0 and (" (" .. md_text(table.concat(p.labels, ", ")) .. ")") or ""
      out[#out + 1] = string.format("- [#%d](%s) %s%s", p.number, tostring(p.html_url), md_text(p.title), labels)
    end
    if why then out[#out + 1] = md_text(why) end
    out[#out + 1] = ""
  end
  out[#out + 1] = "## Related\n"
  if r.compare_url then out[#out + 1] = "- Compare: " .. r.compare_url end
  if comp.repository then out[#out + 1] = "- Source code: " .. comp.repository end
  if comp.changelog then out[#out + 1] = "- Changelog: " .. comp.changelog end
  out[#out + 1] = "- Files: " .. table.concat(r.files or {}, ", ")
  if r.note then out[#out + 1] = "\nNote: " .. md_text(r.note) end
  out[#out + 1] = "\n<sub>Opened by `slipway bump --pr`; updated in place when a newer version appears.</sub>\n"
  return table.concat(out, "\n")
end

-- ---- waiting on a slow source -----------------------------------------------------

--- bump.source_label(comp) -> what an operator knows the source by: the
-- chart repository URL, the image, the git URL or the Lua module.
function M.source_label(comp)
  local s = comp.source
  local label = s.kind == "helm" and (s.repo:gsub("/+$", "") .. " (" .. s.chart .. ")")
    or s.kind == "registry" and s.image or s.kind == "git" and s.url or ("lua " .. tostring(s.module))
  return require("slipway.http").redact_url(label)
end

-- run fn(); while it runs, call notice(seconds) after `first` seconds and
-- then every `every` seconds
local function with_notice(first, every, notice, fn)
  if not notice then return fn() end
  local task = require "slipway.task"
  local t0 = task.now()
  local watcher = task.spawn(function()
    task.sleep(first)
    while true do
      notice(task.now() - t0)
      task.sleep(every)
    end
  end)
  local res = table.pack(pcall(fn))
  watcher:cancel()
  if not res[1] then error(res[2], 0) end
  return table.unpack(res, 2, res.n)
end

-- ---- pull requests ------------------------------------------------------------------

--- bump.branch(component) -> the bot's branch for a component: "slipway/bump-NAME".
function M.branch(name) return "slipway/bump-" .. name end

-- the upstream ref a version stands for: the sha it carries (chartpress,
-- setuptools-scm, git describe), a git source's tag, else the version itself
-- (a release tag), as mybinder's get-prs.py reads them
local function upstream_ref(comp, v, item)
  return version.sha(v) or (item and item.sha and comp.source.kind ~= "git" and item.sha) or v
end

local PR = {}
PR.__index = PR

-- a private worktree at the base commit, the GitHub client, the names
local function pr_open(m, opts, ctx)
  local env = require "slipway.env"
  local github = require "slipway.github"
  local self = setmetatable({m0 = m, remote = opts.remote or "origin", opts = opts}, PR)
  local top = trim(git(m.root, {"rev-parse", "--show-toplevel"}, {readonly = true}))
  self.base_sha = trim(git(m.root, {"rev-parse", "HEAD"}, {readonly = true}))
  self.base = opts.base
  if not self.base then
    local r = git(m.root, {"symbolic-ref", "--quiet", "--short", "HEAD"}, {readonly = true, check = false})
    if r.code ~= 0 then
      core.raise("usage", "slipway bump --pr: HEAD is detached; name the pull requests' base with --base BRANCH", {}, 0)
    end
    self.base = trim(r.stdout)
  end
  local repo = opts.github_repository or os.getenv("GITHUB_REPOSITORY")
  if repo == nil or repo == "" then
    repo = trim(git(m.root, {"remote", "get-url", self.remote}, {readonly = true}))
  end
  self.owner, self.repo = github.repo_of(repo)
  if not self.owner then
    core.raise("usage", "slipway bump --pr: cannot tell the GitHub repository from " .. repo ..
      "; set GITHUB_REPOSITORY=OWNER/REPO", {}, 0)
  end
  if not opts.dry_run then
    local token = env.secret(opts.token_env or "GITHUB_TOKEN", {optional = true})
    if not token then
      core.raise("usage", "slipway bump --pr needs a GitHub token in " .. (opts.token_env or "GITHUB_TOKEN") ..
        " (contents: write and pull-requests: write)", {}, 0)
    end
    self.gh = github.client{token = token, timeout = ctx.timeout, retries = ctx.retries,
      max_wait = opts.rate_limit_wait,
      on_request = opts.journal and function(rec)
        opts.journal:record{type = "http", method = rec.method, url = rec.url, status = rec.status}
      end}
  end
  -- the bot works in its own worktree: the operator's checkout is not touched
  self.dir = fs.tempdir() .. "/worktree"
  git(m.root, {"worktree", "add", "--quiet", "--detach", self.dir, self.base_sha})
  local rel = m.path:sub(#top + 2)
  local ok, m2 = pcall(require("slipway.manifest").load, fs.join(self.dir, rel))
  if not ok then self:close(); error(m2, 0) end
  self.m = m2
  return self
end

function PR:close()
  if self.dir then
    git(self.m0.root, {"worktree", "remove", "--force", self.dir}, {check = false})
    self.dir = nil
  end
end

-- a fresh branch for the component at the base commit
function PR:start(name)
  git(self.dir, {"checkout", "--quiet", "--force", "-B", M.branch(name), self.base_sha})
end

-- push the branch (force-with-lease on the bot's own branch; nothing when
-- the remote branch already holds the same tree) and open or update the
-- pull request
function PR:publish(comp, r)
  local branch = M.branch(r.component)
  local ref = "refs/heads/" .. branch
  local ls = git(self.dir, {"ls-remote", "--", self.remote, ref}, {readonly = true})
  local remote_sha = ls:match("^(%x+)")
  local pushed = true
  if remote_sha then
    git(self.dir, {"fetch", "--quiet", "--", self.remote, ref})
    local theirs = trim(git(self.dir, {"rev-parse", "FETCH_HEAD^{tree}"}, {readonly = true}))
    local ours = trim(git(self.dir, {"rev-parse", "HEAD^{tree}"}, {readonly = true}))
    local parent = trim(git(self.dir, {"rev-parse", "FETCH_HEAD^"}, {readonly = true, check = false}).stdout or "")
    if theirs == ours and parent == self.base_sha then pushed = false end
  end
  if pushed then
    local args = {"push", "--quiet", "--force-with-lease=" .. ref .. ":" .. (remote_sha or "")}
    if self.opts.no_verify then args[#args + 1] = "--no-verify" end
    args[#args + 1] = "--"
    args[#args + 1] = self.remote
    args[#args + 1] = "HEAD:" .. ref
    git(self.dir, args)
  end
  r.pr = {branch = branch, base = self.base, pushed = pushed}
  local pulls, why
  local owner, repo = require("slipway.github").repo_of(comp.repository)
  if owner and self.gh then
    local a, b = upstream_ref(comp, r.old, r.item_old), upstream_ref(comp, r.new, r.item_new)
    local ok, res, reason = pcall(self.gh.merged_pulls, self.gh, owner, repo, a, b)
    if ok then pulls, why = res, reason
    else
      why = "The merged pull requests could not be listed: " .. M.clean(errmsg(res))
      log().warn("%s: %s", r.component, why)
    end
  end
  local body = M.pr_body(comp, r, pulls, why)
  local title = string.format("%s: %s...%s", r.component, r.old, r.new)
  local labels = comp.labels or self.opts.labels or {"dependencies"}
  local pr, action = self.gh:upsert_pull(self.owner, self.repo,
    {head = branch, base = self.base, title = title, body = body, labels = labels})
  r.pr.number, r.pr.url, r.pr.action = pr.number, pr.html_url, action
  r.pr.pulls = pulls and #pulls or nil
  if self.opts.journal then
    self.opts.journal:record{type = "pull_request", component = r.component, branch = branch,
      number = pr.number, url = pr.html_url, action = action, pushed = pushed}
  end
end

-- ---- the whole bump ---------------------------------------------------------------

-- one component: pick, apply, commit (and for --pr, publish)
local function bump_one(m, name, ctx, opts, r, pr)
  local comp = component(m, name)
  r.kind = comp.source.kind
  local p = with_notice(opts.notice_after or 2, opts.notice_every or 10,
    opts.on_wait and function(secs) opts.on_wait(name, M.source_label(comp), secs) end,
    function() return M.pick(m, name, {ctx = ctx, to = opts.to}) end)
  r.old, r.note = p.current, p.note
  r.item_old, r.item_new = p.current_item, p.item
  if p.note then log().warn("%s: %s", name, p.note) end
  if not p.newer then
    r.new = p.current
    if p.latest ~= p.current then r.newest = p.latest end
    return
  end
  r.new = p.latest
  r.files, r.diff = M.apply(m, name, p.latest, {dry_run = opts.dry_run})
  r.changed = #r.files > 0
  r.compare_url = M.compare_url(comp, r.old, r.new, p.current_item, p.item)
  local want_digests = opts.digests
  if want_digests == nil then want_digests = opts.summary ~= nil or pr ~= nil end
  if want_digests and p.info.client then
    -- registries (and oci:// charts): the manifest digest of each tag
    r.item_old = r.item_old or {version = r.old}
    local c = p.info.client
    pcall(function() r.item_old.digest = r.item_old.digest or c:digest(r.item_old.tag or r.old) end)
    pcall(function() r.item_new.digest = r.item_new.digest or c:digest(r.item_new.tag or r.new) end)
  end
  if (opts.commit or pr) and r.changed and not opts.dry_run then
    r.commit = M.commit(m, r, {no_verify = opts.no_verify, one_line = pr ~= nil, scratch = pr ~= nil})
  end
  if pr and r.changed then
    if opts.dry_run then
      r.pr = {branch = M.branch(name), base = pr.base, planned = true}
    else
      pr:publish(comp, r)
    end
  end
end

--- bump.run(m, opts) -> results
-- opts: components (list of names; default all, in the file's order), to
-- (a version; needs exactly one component), dry_run (a playbook passes its
-- own dry-run flag here: files are written otherwise), commit, no_verify
-- (skip the repository's git hooks), summary (a path: write the Markdown
-- there), digests (look image digests up for the summary; default when
-- summary is set), timeout, retries, on_wait(name, source, seconds) (called
-- after notice_after = 2 s of waiting on a source, then every notice_every
-- = 10 s), and for pull requests: pr = true, remote (default origin), base
-- (default the current branch), labels (default {"dependencies"}; a
-- component's own `labels` win), token_env (default GITHUB_TOKEN),
-- github_repository ("owner/repo"; default $GITHUB_REPOSITORY or the
-- remote's URL), rate_limit_wait (seconds, default 300), journal (records
-- every GitHub request and pull request). Components are processed in
-- order; one failing does not stop the others, but run then raises code
-- "bump" with the field `results` (every result, failed ones with `error`)
-- after the others are done, so that no failure is swallowed.
function M.run(m, opts)
  opts = opts or {}
  local names = opts.components
  if not names or #names == 0 then names = m.order or {} end
  if opts.to and #names ~= 1 then
    error("bump.run: `to` needs exactly one component", 2)
  end
  local ctx = opts.ctx or M.context(m, opts)
  local pr = opts.pr and pr_open(m, opts, ctx) or nil
  local results, failed = {}, 0
  for _, name in ipairs(names) do
    local r = {component = name, changed = false, files = {}}
    results[#results + 1] = r
    local ok, err = pcall(function()
      if pr then pr:start(name) end
      bump_one(pr and pr.m or m, name, ctx, opts, r, pr)
    end)
    if not ok then
      failed = failed + 1
      -- name the component in the message (once)
      if type(err) == "table" and type(err.message) == "string" then
        local msg = M.clean(err.message)
        if msg:sub(1, #name + 2) ~= name .. ": " then msg = name .. ": " .. msg end
        err.message = msg
        err.component = name
      end
      r.error = err
    end
  end
  if pr then pr:close() end
  if opts.summary then fs.write(opts.summary, M.summary(results)) end
  if failed > 0 then
    local msgs = {}
    for _, r in ipairs(results) do
      if r.error then msgs[#msgs + 1] = errmsg(r.error) end
    end
    core.raise("bump", table.concat(msgs, "; "), {results = results}, 2)
  end
  return results
end

return M
