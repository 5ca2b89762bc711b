-- Fault matrix, a state directory that cannot be written (docs/testing.md,
-- "The fault matrix"): after a green deploy, the state directory is made
-- read-only (a read-only bind mount: needs root, skipped with the reason
-- otherwise) or a file sits where a directory must be (runs anywhere).
-- The next deploy exits 1 with a message naming the path, the running
-- services are untouched and tracked, the shared record keeps the run,
-- `history` and `status` still read, and `stop --all` stops everything.
local T = require "slipway.testing"
local D = require "deploytest"
local F = require "faulttest"
local fs = require "slipway.fs"
local proc = require "slipway.proc"

local ALL = {"staging", "prod", "prod-b"}

-- a green deploy, then a change to deploy; returns the services' pids
local function deployed(dir)
  local r = D.slipway(dir, {"deploy"})
  T.eq(r.code, 0, r.stderr)
  D.commit_edit(dir, "config/staging.yaml", "pod_quota: 20", "pod_quota: 25", "Raise staging quota")
  F.only_current(dir, ALL)
  return D.service_pids(dir)
end

-- the deploy that cannot write: exit 1 naming `path`, nothing changed
local function refused(dir, pids, path)
  local before = F.record(dir)
  local r = D.slipway(dir, {"deploy"})
  T.eq(r.code, 1, "deploy\n" .. r.stderr)
  T.match(r.stderr, path:gsub("%p", "%%%0"), "the message names the path")
  T.nomatch("\n" .. r.stderr, "\nstack traceback")
  T.eq(D.service_pids(dir), pids, "the services run on, untouched")
  -- it did not start: the shared record has no trace of it
  T.eq(F.record(dir), before, "the shared record is unchanged")
  -- what can be read still is (a file where the journals go: a warning)
  local h = D.slipway(dir, {"history"})
  T.eq(h.code, 0, "history reads\n" .. h.stderr)
  T.nomatch("\n" .. h.stderr, "\nstack traceback")
  T.eq(D.slipway(dir, {"status"}).code, 0, "status reads")
  return r
end

local function stopped(dir)
  local r = D.slipway(dir, {"stop", "--all"})
  T.eq(r.code, 0, "stop --all\n" .. r.stderr)
  F.no_processes(dir, {})
  for _, env in ipairs(ALL) do T.falsy(F.status(dir)[env], env .. " stopped") end
end

T.test("a read-only state directory: deploy exits 1 naming it, stop --all works", function()
  F.case(nil, function(dir)
    local pids = deployed(dir)
    local state = dir .. "/.slipway"
    local m = proc.run({"mount", "--bind", state, state}, {check = false, echo = false})
    if m.code ~= 0 then T.skip("mount --bind not permitted here: " .. F.trim(m.stderr)) end
    local ok, err = pcall(function()
      proc.run({"mount", "-o", "remount,bind,ro", state}, {echo = false})
      local r = refused(dir, pids, state .. "/journal")
      T.match(r.stderr, "Read%-only file system")
      stopped(dir)
    end)
    proc.run({"umount", state}, {check = false, echo = false})
    if not ok then error(err, 0) end
    -- writable again: the record and the journals agree, nothing was lost
    local runs = F.check_journals(dir, {})
    F.check_record(dir, runs)
    F.check_history(dir, runs)
  end)
end, {timeout = 120})

T.test("a file where the journal directory must be: deploy exits 1 naming it, stop --all works", function()
  F.case(nil, function(dir)
    local pids = deployed(dir)
    local jdir = dir .. "/.slipway/journal"
    local keep = fs.tempdir()
    proc.run({"mv", jdir, keep .. "/journal"}, {echo = false})
    fs.write(jdir, "not a directory\n")
    refused(dir, pids, jdir)
    stopped(dir)
    fs.remove(jdir)
    proc.run({"mv", keep .. "/journal", jdir}, {echo = false})
  end)
end, {timeout = 120})

T.run()
