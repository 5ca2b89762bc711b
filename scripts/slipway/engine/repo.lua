--- slipway.engine.repo: the deployment repository a run works in -- its
-- root (the directory holding slipway.yaml), git state and manifest.
--
--   local r = repo.open{}        -- from the current directory upward
--   r.root, r.manifest, r.sha, r.dirty, r.state_dir
local fs = require "slipway.fs"
local proc = require "slipway.proc"
local environments = require "slipway.environments"

local M = {}

--- The absolute current directory (fs.cwd(): not $PWD, which a parent may
-- have left behind when it started us elsewhere).
function M.cwd()
  return fs.cwd()
end

--- The nearest directory from `dir` upward that holds slipway.yaml, or nil.
function M.find_root(dir)
  local d = dir
  while d and d ~= "" do
    if fs.exists(d .. "/slipway.yaml") then return d end
    if d == "/" then break end
    d = fs.dirname(d)
  end
  return nil
end

--- git HEAD of dir (nil when dir is not in a git work tree) and whether the
-- tree is dirty (state_dir excluded: it is git-ignored; so are the paths of
-- `exclude`: a build's declared outputs, whose content the promote gate
-- compares by digest).
-- (one git process: `status --branch` names HEAD's commit too; no
-- ahead/behind count, which would walk the history to the upstream)
function M.git_state(dir, exclude)
  local argv = {"git", "-C", dir, "status", "--porcelain=v2", "--branch", "--no-ahead-behind", "-z",
                "--untracked-files=no"}
  if exclude and #exclude > 0 then
    argv[#argv + 1] = "--"
    argv[#argv + 1] = "."
    for _, p in ipairs(exclude) do argv[#argv + 1] = ":(exclude,literal)" .. p end
  end
  local ok, st = pcall(proc.run, argv, {check = false, readonly = true})
  if not ok or st.code ~= 0 then return nil, nil end
  local sha = st.stdout:match("^# branch%.oid (%x+)%z") or st.stdout:match("%z# branch%.oid (%x+)%z")
  if not sha then return nil, nil end  -- no commit yet
  -- every entry that is not a "# " header is a change
  local dirty = false
  for entry in st.stdout:gmatch("([^%z]*)%z") do
    if entry:sub(1, 2) ~= "# " then dirty = true; break end
  end
  return sha, dirty
end

--- The repository. opts: root (default: the manifest's root, else the
-- nearest directory with slipway.yaml from the cwd upward, else the cwd),
-- manifest (given, or loaded when root has slipway.yaml unless
-- no_manifest), state_dir (default: the manifest's, else ROOT/.slipway).
-- Returns {root, manifest, sha, dirty, state_dir}; raises code "manifest"
-- for an invalid slipway.yaml.
function M.open(opts)
  opts = opts or {}
  local manifest = opts.manifest
  local root = opts.root or (manifest and manifest.root)
  if not root then
    local cwd = M.cwd()
    root = M.find_root(cwd) or cwd
  end
  if not manifest and not opts.no_manifest and fs.exists(root .. "/slipway.yaml") then
    manifest = environments.load_manifest(root)
  end
  local sha, dirty = M.git_state(root, manifest and require("slipway.build").paths(manifest))
  return {root = root, manifest = manifest, sha = sha, dirty = dirty,
          state_dir = opts.state_dir or (manifest and manifest.state_dir) or (root .. "/.slipway")}
end

return M
