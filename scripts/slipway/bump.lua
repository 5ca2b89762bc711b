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

local function read_location(doc, loc)
  local okh, has = pcall(doc.has, doc, loc.path)
  if okh and not has then
    core.raise("manifest", string.format("%s: %s does not exist", loc.relfile, loc.path),
      {file = loc.file, key = loc.path}, 0)
  end
  local ok, v = pcall(doc.get, doc, loc.path)
  if not ok then
    core.raise("manifest", string.format("%s: cannot read %s: %s", loc.relfile, loc.path, errmsg(v)),
      {file = loc.file, key = loc.path}, 0)
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
    local d = docs[file]:diff()
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

local function git(root, args, opts)
  local proc = require "slipway.proc"
  local argv = {"git", "-C", root}
  for _, a in ipairs(args) do argv[#argv + 1] = a end
  local r = proc.run(argv, {check = false, stdin = opts and opts.stdin, timeout = 60,
    readonly = opts and opts.readonly})
  if r.code ~= 0 then
    core.raise("exit", "git " .. table.concat(args, " ") .. " failed: " .. (r.stderr or ""):gsub("%s+$", ""),
      {status = r.code}, 0)
  end
  return r.stdout
end

--- bump.commit(m, result) -> the new commit's sha
-- One commit with only the component's files: message
-- "<component>: <old>...<new>", and the compare URL in the body when known.
function M.commit(m, r)
  local title = string.format("%s: %s...%s", r.component, r.old, r.new)
  local body = r.compare_url and ("\n\n" .. r.compare_url) or ""
  local args = {"commit", "--quiet", "--no-verify", "-F", "-", "--"}
  for _, f in ipairs(r.files) do args[#args + 1] = f end
  git(m.root, {"add", "--", table.unpack(r.files)})
  git(m.root, args, {stdin = title .. body .. "\n"})
  return (git(m.root, {"rev-parse", "HEAD"}, {readonly = true}):gsub("%s+$", ""))
end

local function cell(s)
  if s == nil or s == "" then return "" end
  return "`" .. tostring(s):gsub("|", "\\|"):gsub("`", "'") .. "`"
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
      local a, b = r.item_old or {}, r.item_new or {}
      out[#out + 1] = string.format("## %s: `%s` → `%s`\n", r.component, r.old, r.new)
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
      if r.compare_url then out[#out + 1] = "Changes: " .. r.compare_url .. "\n" end
      if r.note then out[#out + 1] = "Note: " .. r.note .. "\n" end
      out[#out + 1] = "Files: " .. table.concat(r.files or {}, ", ") .. "\n"
    end
  end
  if changed == 0 then out[#out + 1] = "Everything is up to date.\n" end
  return table.concat(out, "\n")
end

-- ---- the whole bump ---------------------------------------------------------------

--- bump.run(m, opts) -> results
-- opts: components (list of names; default all, in the file's order), to
-- (a version; needs exactly one component), dry_run (a playbook passes its
-- own dry-run flag here: files are written otherwise), commit, summary (a path:
-- write the Markdown there), digests (look image digests up for the summary;
-- default when summary is set), timeout. Components are processed in order;
-- one failing does not stop the others, but run then raises code "bump"
-- with the field `results` (every result, failed ones with `error`) after
-- the others are done, so that no failure is swallowed.
function M.run(m, opts)
  opts = opts or {}
  local names = opts.components
  if not names or #names == 0 then names = m.order or {} end
  if opts.to and #names ~= 1 then
    error("bump.run: `to` needs exactly one component", 2)
  end
  local ctx = opts.ctx or M.context(m, opts)
  local results, failed = {}, 0
  for _, name in ipairs(names) do
    local r = {component = name, changed = false, files = {}}
    results[#results + 1] = r
    local ok, err = pcall(function()
      local comp = component(m, name)
      r.kind = comp.source.kind
      local p = M.pick(m, name, {ctx = ctx, to = opts.to})
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
      if want_digests == nil then want_digests = opts.summary ~= nil end
      if want_digests and p.info.client then
        -- registries (and oci:// charts): the manifest digest of each tag
        r.item_old = r.item_old or {version = r.old}
        local c = p.info.client
        pcall(function() r.item_old.digest = r.item_old.digest or c:digest(r.item_old.tag or r.old) end)
        pcall(function() r.item_new.digest = r.item_new.digest or c:digest(r.item_new.tag or r.new) end)
      end
      if opts.commit and r.changed and not opts.dry_run then
        r.commit = M.commit(m, r)
      end
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
