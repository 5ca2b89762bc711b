--- slipway.build: the build step of slipway.yaml (`build:`), run before a
-- deploy, and the digests of its outputs that the promote gate compares.
--
--   build:
--     name: chartpress
--     run: [chartpress, --push]                 # before staging is staged
--     production: [chartpress, --skip-build]    # before production (default: run)
--     outputs: [mybinder/values.yaml]           # the files it may change
--     dry_run: false                            # true: safe to run in a dry run
--
-- A build may change its declared outputs (tracked files: image tags written
-- into values) and nothing else the repository tracks. What it produced is
-- recorded as {[file] = {sha256 = HEX, changed = {"LINE: text", ...}}}: the
-- digest of each output's content and its lines that differ from the
-- committed file (the image tags), so the gate can say what differs.
-- docs/deploy.md, "Builds".
local diff = require "slipway.diff"
local digest = require "slipway.digest"
local fs = require "slipway.fs"
local task = require "slipway.task"
local errors = require "slipway.errors"

local M = {}

--- At most this many changed lines are kept per output (the digest covers
-- the whole file either way).
M.MAX_CHANGED = 40

--- build.sha256(s) -> the SHA-256 of the string s, 64 hex digits
-- (digest.sha256: Nettle's, docs/digest.md).
M.sha256 = digest.sha256

-- ---- outputs ---------------------------------------------------------------------

--- build.config(m) -> the `build:` of a loaded manifest, or nil.
function M.config(m)
  return m and m.build or nil
end

--- build.kind(ctx, env) -> "staging" for stages.staging, else "production":
-- which of the build's commands runs before env is staged.
function M.kind(ctx, env)
  return (ctx.envs and ctx.envs.stages.staging == env) and "staging" or "production"
end

-- the lines of new that old does not have, "LINE: text" (LINE in new)
local function changed_lines(old, new)
  local out, n = {}, nil
  for l in diff.unified(old, new):gmatch("[^\n]*") do
    local start = l:match("^@@ %-%d+,?%d* %+(%d+)")
    if start then n = tonumber(start)
    elseif n and l:sub(1, 1) == "+" and l:sub(1, 3) ~= "+++" then
      out[#out + 1] = n .. ": " .. l:sub(2)
      n = n + 1
    elseif n and l:sub(1, 1) == " " then n = n + 1 end
  end
  return out
end

-- the committed contents (HEAD) of the files rels, in one `git cat-file
-- --batch`: {[rel] = text}, "" for a file HEAD does not have (or outside git)
local function committed(ctx, rels)
  local out = {}
  for _, rel in ipairs(rels) do out[rel] = "" end
  if #rels == 0 then return out end
  local names = {}
  for i, rel in ipairs(rels) do names[i] = "HEAD:" .. rel end
  local r = ctx:run({"git", "-C", ctx.root, "cat-file", "--batch"},
    {readonly = true, check = false, echo = false, stdin = {data = table.concat(names, "\n") .. "\n"}})
  if r.code ~= 0 then return out end
  local objs = require("slipway.state.git").batch(r.stdout, names) or {}
  for i, rel in ipairs(rels) do
    local o = objs[i]
    if o and o.type == "blob" then out[rel] = o.text end
  end
  return out
end

--- build.digest(ctx [, head]) -> the outputs as they are in the working tree:
-- {[file] = {sha256, changed = {"LINE: text"} (against HEAD), more = N?,
-- missing = true?}}; nil when slipway.yaml declares no build. head: the
-- outputs' committed texts {[rel] = text} when the caller read them already.
function M.digest(ctx, head)
  local cfg = M.config(ctx.manifest)
  if not cfg then return nil end
  local out, rels = {}, {}
  for _, o in ipairs(cfg.outputs) do rels[#rels + 1] = o.rel end
  head = head or committed(ctx, rels)
  for _, o in ipairs(cfg.outputs) do
    if fs.isfile(o.file) then
      local text = fs.read(o.file)
      local changed = changed_lines(head[o.rel], text)
      local more = #changed - M.MAX_CHANGED
      for i = #changed, M.MAX_CHANGED + 1, -1 do changed[i] = nil end
      out[o.rel] = {sha256 = M.sha256(text), changed = changed, more = more > 0 and more or nil}
    else
      out[o.rel] = {sha256 = "", changed = {}, missing = true}
    end
  end
  return out
end

local function short(o)
  if not o then return "nothing" end
  if o.missing then return "no file" end
  return "sha256 " .. tostring(o.sha256):sub(1, 12)
end

--- build.compare(tested, now) -> nil when the outputs are the same, else a
-- text naming each file that differs and its lines on both sides.
-- tested: what staging's test recorded (nil or empty: nothing recorded).
function M.compare(tested, now)
  if not now or not next(now) then return nil end
  if type(tested) ~= "table" or not next(tested) then
    return "staging's test recorded no build outputs (was it staged without the build?)"
  end
  local files = {}
  for f in pairs(now) do files[#files + 1] = f end
  for f in pairs(tested) do if not now[f] then files[#files + 1] = f end end
  table.sort(files)
  -- (a playbook's own ctx.vars.outputs may hold plain digests)
  local function norm(v)
    if v == nil or type(v) == "table" then return v end
    return {sha256 = tostring(v), changed = {}}
  end
  local parts = {}
  for _, f in ipairs(files) do
    local a, b = norm(tested[f]), norm(now[f])
    if not a or not b or a.sha256 ~= b.sha256 then
      local p = {string.format("%s differs (tested: %s, this build: %s)", f, short(a), short(b))}
      local seen = {}
      for _, l in ipairs(b and b.changed or {}) do seen[l] = true end
      local gone = {}
      for _, l in ipairs(a and a.changed or {}) do
        if seen[l] then seen[l] = nil else gone[#gone + 1] = l end
      end
      for _, l in ipairs(gone) do p[#p + 1] = "    tested:     " .. l end
      for _, l in ipairs(b and b.changed or {}) do
        if seen[l] then p[#p + 1] = "    this build: " .. l end
      end
      parts[#parts + 1] = "  " .. table.concat(p, "\n")
    end
  end
  if #parts == 0 then return nil end
  return "the build's outputs are not those staging tested:\n" .. table.concat(parts, "\n")
end

-- ---- running it ------------------------------------------------------------------

--- build.changes(ctx, root [, {untracked = true}]) -> {[path] = text or
-- false (deleted)}, res: the files `git status` reports as changed in root
-- (tracked ones; untracked ones too when asked), with their contents now;
-- res is the git run (res.code ~= 0: nothing could be read). What the
-- build and a dry-run hook may change is checked against it.
function M.changes(ctx, root, opts)
  local res = ctx:run({"git", "-C", root, "status", "--porcelain=v1", "-z",
    (opts and opts.untracked) and "--untracked-files=all" or "--untracked-files=no"},
    {readonly = true, check = false, echo = false})
  local out = {}
  if res.code ~= 0 then return out, res end
  local rename = false
  for entry in res.stdout:gmatch("([^%z]+)%z") do
    local path = rename and entry or entry:sub(4)
    rename = not rename and entry:sub(1, 1) == "R"
    local p = root .. "/" .. path
    out[path] = fs.isfile(p) and fs.read(p) or false
  end
  return out, res
end

-- the tracked files that differ from HEAD, with their contents
local function tracked(ctx) return (M.changes(ctx, ctx.root)) end

local Built = {}
Built.__index = Built
-- (a dry run of a build marked dry_run puts its outputs back when the step
-- that ran it ends: `local b <close> = build.run(...)`; a deferred check
-- still running then is cancelled)
local function restore(self)
  local saved = self._restore
  if not saved then return end
  self._restore = nil
  for file, text in pairs(saved) do
    if text then fs.write(file, text) else fs.remove(file, {missing_ok = true}) end
  end
end
Built.__close = function(self)
  local pending = self._finish
  if pending then  -- (a deferred check the run never came back for)
    self._finish = nil
    pending:cancel()
    pending:wait()
  end
  restore(self)
end

local function argv_text(argv) return table.concat(argv, " ") end

--- build.run(ctx, kind [, opts]) -> {outputs, kind, ran} (a to-be-closed value):
-- run the build's commands for kind ("staging": `run`, "production":
-- `production`) in the repository, once per context, kind and commit; check
-- that they changed no tracked file but the declared outputs; journal a
-- `build` record with the outputs' digests. nil without `build:` in
-- slipway.yaml. A failing command raises code "build". In a dry run the
-- commands are planned (outputs nil) unless the build is marked dry_run:
-- then they run, their outputs' diffs join the plan, and the files are put
-- back when the value is closed. opts.defer (not in a dry run): return once
-- the commands ran; the check of what they changed and the outputs'
-- digests go on in a task, which `built:settle()` waits for (raising the
-- build's error) -- stage takes its lock meanwhile.
function M.run(ctx, kind, opts)
  local cfg = M.config(ctx.manifest)
  if not cfg then return nil end
  ctx._built = ctx._built or {}
  local key = kind .. " " .. tostring(ctx.sha)
  if ctx._built[key] then return setmetatable({outputs = ctx._built[key].outputs, kind = kind}, Built) end
  local list = kind == "staging" and cfg.run or cfg.production
  local environments = require "slipway.environments"
  local cmds = {}
  for i, argv in ipairs(list) do
    local c = {}
    for j, a in ipairs(argv) do
      c[j] = environments.expand(a, "build." .. (kind == "staging" and "run" or "production"), ctx.manifest)
    end
    cmds[i] = c
  end
  local rels = {}
  for _, o in ipairs(cfg.outputs) do rels[#rels + 1] = o.rel end
  local shown = {}
  for i, c in ipairs(cmds) do shown[i] = argv_text(c) end
  local what = string.format("build %s (%s): %s; it may change %s", cfg.name, kind,
    table.concat(shown, "; "), table.concat(rels, ", "))
  local live = not ctx.dry_run or cfg.dry_run
  if not live then
    ctx:plan(what .. " -- not run in a dry run (not marked dry_run: true): the plan renders the committed outputs")
    for _, c in ipairs(cmds) do ctx:run(c, {cwd = ctx.root}) end
    ctx._built[key] = {}
    return setmetatable({kind = kind}, Built)
  end
  local b = setmetatable({kind = kind, ran = true}, Built)
  if ctx.dry_run then
    ctx:plan("run " .. what .. " now (dry_run: true; its outputs are put back afterwards)")
    b._restore = {}
    for _, o in ipairs(cfg.outputs) do b._restore[o.file] = fs.isfile(o.file) and fs.read(o.file) or false end
  end
  ctx:log("info", "%s", what)
  local before = tracked(ctx)
  -- the outputs' committed text does not depend on the build: read beside it
  local reading = task.spawn(committed, ctx, rels)
  local _ <close> = setmetatable({}, {__close = function(_, err) if err ~= nil then reading:cancel() end end})
  local declared = {}
  for _, o in ipairs(cfg.outputs) do declared[o.rel] = true end
  for _, c in ipairs(cmds) do
    local r = ctx:run(c, {cwd = ctx.root, check = false, readonly = ctx.dry_run or nil})
    if r.code ~= 0 then
      restore(b)
      errors.fail("build", string.format("build %s (%s) failed: `%s` exited with %s%s", cfg.name, kind,
        argv_text(c), tostring(r.code), r.stderr ~= "" and (": " .. (r.stderr:gsub("%s+$", ""):match("[^\n]*$"))) or ""))
    end
  end
  local function finish()
    local after = tracked(ctx)
    local bad = {}
    for p, v in pairs(after) do if not declared[p] and before[p] ~= v then bad[#bad + 1] = p end end
    for p in pairs(before) do if not declared[p] and after[p] == nil then bad[#bad + 1] = p end end
    if #bad > 0 then
      table.sort(bad)
      restore(b)
      errors.fail("build", string.format("build %s (%s) changed files it does not declare in build.outputs: %s",
        cfg.name, kind, table.concat(bad, ", ")), {files = bad})
    end
    b.outputs = M.digest(ctx, reading:join())
    if ctx.dry_run then
      for _, o in ipairs(cfg.outputs) do
        local old = b._restore[o.file]
        ctx:diff("build " .. cfg.name .. ": " .. o.rel, old or "", fs.isfile(o.file) and fs.read(o.file) or "")
      end
    end
    ctx.journal:record{type = "build", name = cfg.name, kind = kind, sha = ctx.sha, outputs = b.outputs,
                       dry_run = ctx.dry_run or nil}
    for _, rel in ipairs(rels) do
      local o = b.outputs[rel]
      ctx:log("info", "build %s: %s %s (%d line(s) differ from HEAD)", cfg.name, rel, short(o), #o.changed + (o.more or 0))
    end
    ctx._built[key] = {outputs = b.outputs}
  end
  if opts and opts.defer and not ctx.dry_run then
    b._finish = task.spawn(finish)
  else
    finish()
  end
  return b
end

--- built:settle() -> outputs: wait for a deferred build's check and
-- digests (build.run with defer); raises the build's error (code "build").
function Built:settle()
  local pending = self._finish
  if pending then
    self._finish = nil
    local ok, err = pending:wait()
    if not ok then error(err, 0) end
  end
  return self.outputs
end

--- build.reset(ctx): put the declared outputs back to HEAD (`git checkout
-- HEAD -- FILES`) -- what a revert does before `git revert`: they are the
-- build's, made again by the redeploy. Nothing without `build:`; planned in
-- a dry run.
function M.reset(ctx)
  local cfg = M.config(ctx.manifest)
  if not cfg then return end
  local argv = {"git", "-C", ctx.root, "checkout", "HEAD", "--"}
  local any = false
  for _, o in ipairs(cfg.outputs) do
    local r = ctx:run({"git", "-C", ctx.root, "cat-file", "-e", "HEAD:" .. o.rel}, {readonly = true, check = false, echo = false})
    if r.code == 0 then argv[#argv + 1] = o.rel; any = true end
  end
  if any then ctx:run(argv, {check = true}) end
end

--- build.paths(m) -> the declared outputs, relative to the repository ({} without `build:`).
function M.paths(m)
  local out = {}
  for _, o in ipairs(((M.config(m) or {}).outputs) or {}) do out[#out + 1] = o.rel end
  return out
end

return M
