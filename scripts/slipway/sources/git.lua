--- slipway.sources.git: versions from the tags of a git remote.
--
--   source: {git: {url: https://github.com/jupyterhub/repo2docker}}
--
-- Runs `git ls-remote --tags --refs URL` (no clone); each tag becomes a
-- candidate {version = tag name, sha = the commit it points at (or the tag
-- object for annotated tags)}.
local core = require "slipway.core"
local M = {}

--- git.tags(url [, opts]) -> list of {version, sha}. opts.timeout (default 60 s).
function M.tags(url, opts)
  opts = opts or {}
  local proc = require "slipway.proc"
  local ok, r = pcall(proc.run, {"git", "ls-remote", "--tags", "--refs", "--", url},
    {timeout = opts.timeout or 60, env = {GIT_TERMINAL_PROMPT = "0"}, check = false, readonly = true})
  if not ok then
    core.raise(type(r) == "table" and r.code or "exit",
      "git ls-remote " .. url .. " failed: " .. (type(r) == "table" and r.message or tostring(r)), {url = url}, 0)
  end
  if r.code ~= 0 or r.timed_out then
    local why = (r.stderr or ""):gsub("%s+$", "")
    core.raise(r.timed_out and "timeout" or "exit",
      "git ls-remote " .. url .. " failed" .. (why ~= "" and (": " .. why) or (" with status " .. tostring(r.code))),
      {url = url}, 0)
  end
  local out = {}
  for sha, name in r.stdout:gmatch("(%x+)\trefs/tags/([^\n]+)\n") do
    out[#out + 1] = {version = name, sha = sha}
  end
  return out
end

--- git.candidates(component, ctx) -> list of {version, sha}
function M.candidates(comp, ctx)
  return M.tags(comp.source.url, {timeout = ctx and ctx.timeout}), {url = comp.source.url}
end

return M
