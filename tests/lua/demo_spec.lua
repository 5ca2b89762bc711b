-- `slipway demo` (the README's first command) run for real: it must pass its
-- own checks, leave no process running and write nothing outside its
-- temporary directory (which it removes unless --keep).
local T = require "slipway.testing"
local fs = require "slipway.fs"
local proc = require "slipway.proc"

local bin = os.getenv("SLIPWAY_BIN") or "build/slipway"

local function list(dir)
  local r = fs.list(dir)
  table.sort(r)
  return r
end

local function processes_mentioning(s)
  local found = {}
  for _, name in ipairs(fs.list("/proc")) do
    if tonumber(name) then
      local f = io.open("/proc/" .. name .. "/cmdline", "rb")
      local cmd = f and f:read("a") or ""
      if f then f:close() end
      local e = io.open("/proc/" .. name .. "/environ", "rb")
      local env = e and e:read("a") or ""
      if e then e:close() end
      if cmd:find(s, 1, true) or env:find(s, 1, true) then found[#found + 1] = name end
    end
  end
  return found
end

T.test("the demo tells the whole story and cleans up after itself", function()
  local sandbox = fs.tempdir()
  local tmp, home = sandbox .. "/tmp", sandbox .. "/home"
  fs.mkdir(tmp); fs.mkdir(home)
  local r = proc.run({bin, "demo"}, {cwd = sandbox, check = false, timeout = 240,
    env = {TMPDIR = tmp, HOME = home, XDG_CACHE_HOME = home .. "/.cache", NO_COLOR = "1"}})
  T.eq(r.code, 0, r.stdout .. r.stderr)
  local out = r.stdout
  for _, line in ipairs{
    "bump found newer versions", "one commit per component", "each bump is a one%-line change",
    "deploy succeeded", "production runs the bumped binderhub",
    "bump moved binderhub to the broken version", "deploy reported 'test failed, reverted'",
    "the revert commit is in the repository", "the revert commit restores the last good commit",
    "staging is back on the good version",
    "production never changed", "no process left"} do
    T.match(out, "\n  " .. line .. "[^\n]* ok\n", "summary line")
  end
  T.match(out, "%$ slipway bump %-%-commit")
  T.match(out, "%$ slipway deploy")
  T.match(out, "%$ slipway history")
  T.match(out, "Summary %(%d+%.%d s%)")
  -- "reverted to" names the same commit in the banner, the revert commit's
  -- message and the demo's check: the good one, not the revert commit
  local revert, good = out:match("revert commit (%x+) has the tree of (%x+), the commit deployed in step 3")
  T.truthy(revert, out)
  T.match(r.stdout .. r.stderr, "REVERTED to " .. good .. " %(revert commit " .. revert .. "%)")
  T.match(out, "Revert to " .. good)
  -- nothing outside: HOME untouched, TMPDIR empty again, the sandbox holds
  -- only what the test made
  T.eq(list(home), {}, "HOME is untouched")
  T.eq(list(tmp), {}, "the demo's directory is removed")
  T.eq(list(sandbox), {"home", "tmp"})
  T.eq(processes_mentioning(tmp), {}, "no process left")
end, {timeout = 280})

T.test("--keep keeps the repository with its history and journal", function()
  local tmp = fs.tempdir()
  local r = proc.run({bin, "demo", "--keep"}, {check = false, timeout = 240,
    env = {TMPDIR = tmp, NO_COLOR = "1"}})
  T.eq(r.code, 0, r.stdout .. r.stderr)
  local kept = r.stdout:match("kept (%S+)")
  T.truthy(kept and fs.exists(kept .. "/deployment/slipway.yaml"), "kept the repository")
  local log = proc.run({"git", "log", "--format=%s"}, {cwd = kept .. "/deployment"}).stdout
  T.match(log, "^Revert")
  T.truthy(#fs.list(kept .. "/deployment/.slipway/journal") >= 2, "journals of both deploys")
  T.eq(processes_mentioning(kept), {}, "environments stopped even when kept")
end, {timeout = 280})

T.test("bad arguments are misuse (exit 2)", function()
  local r = proc.run({bin, "demo", "--frobnicate"}, {check = false})
  T.eq(r.code, 2)
  T.match(r.stderr, "unknown option %-%-frobnicate")
end)

T.run()
