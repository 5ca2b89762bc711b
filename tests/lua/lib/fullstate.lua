--- fullstate: the fault matrix's full state directory (faults_full_*_spec):
-- `slipway deploy --state-dir` on a small tmpfs, filled up at every point a
-- deploy writes, each deploy checked (docs/testing.md, "The fault matrix").
local T = require "slipway.testing"
local D = require "deploytest"
local F = require "faulttest"
local fs = require "slipway.fs"
local json = require "slipway.json"
local proc = require "slipway.proc"

local M = {}

local function mount_tmpfs(opts)
  local at = fs.tempdir()
  local m = proc.run({"mount", "-t", "tmpfs", "-o", opts, "tmpfs", at}, {check = false, echo = false})
  if m.code ~= 0 then return nil, F.trim(m.stderr) end
  return at
end

local function umount(at)
  for _, pid in ipairs(D.service_pids(at .. "/")) do pcall(proc.kill, pid, "KILL") end
  proc.run({"umount", at}, {check = false, echo = false})
end

-- the journal of the newest run in a state directory: every complete line
-- valid JSON; returns its records and whether the last line is torn
local function journal_of(state)
  local paths = fs.glob(state .. "/journal/*.jsonl")
  if #paths == 0 then return nil end
  table.sort(paths)
  local text = fs.read(paths[#paths])
  local recs, n = {}, 0
  for line in text:gmatch("([^\n]*)\n") do
    n = n + 1
    local ok, v = pcall(json.decode, line)
    T.truthy(ok and type(v) == "table", paths[#paths] .. ":" .. n .. ": not a JSON object: " .. line)
    recs[#recs + 1] = v
  end
  return recs, text ~= "" and text:sub(-1) ~= "\n"
end

-- one deploy on a tmpfs mounted with `opts`; returns the first failure's path
-- (nil when the deploy succeeded)
local function deploy_on(dir, opts)
  local state, why = mount_tmpfs(opts)
  if not state then T.skip("mount -t tmpfs not permitted here: " .. tostring(why)) end
  local failed_at
  local ok, err = pcall(function()
    local r = D.slipway(dir, {"deploy", "--state-dir", state})
    local what = opts .. ": deploy exit " .. r.code .. "\n" .. r.stderr
    T.truthy(r.code == 0 or r.code == 1, what)
    -- (slipway's own traceback: the service's, in its log's tail, is indented)
    T.nomatch("\n" .. r.stderr, "\nstack traceback", what)
    T.nomatch(r.stderr, "nobody waited", what)
    local id = r.stderr:match("slipway deploy: %S+ %(exit %d+, run (%S+),")
    T.truthy(id, "the outcome line names the run\n" .. what)
    if r.code == 1 then
      -- the message names the path under the state directory
      local outcome = r.stderr:match("slipway deploy: failed %(exit 1.*$") or ""
      failed_at = outcome:match("(" .. state:gsub("%p", "%%%0") .. "/[^%s:'%)]+)")
      T.truthy(failed_at, "the error names a path in the state directory\n" .. what)
    end
    -- the journal, as far as it could be written
    local recs, torn = journal_of(state)
    if recs and recs[1] and recs[1].run == id then
      local e = F.run_end(recs)
      if e then T.eq(e.status, r.code, opts .. ": the journal's status")
      else
        T.match(r.stderr, "the journal cannot be written any more", what)
        T.truthy(r.code == 1)
      end
      T.falsy(torn, opts .. ": no torn line in the journal")
    end
    -- the shared record has the run with its status
    local s = T.truthy(F.record(dir).runs[id], "run " .. id .. " is in the shared record\n" .. what)
    T.eq(s.status, r.code, opts .. ": the record's status")
    T.truthy(s.ended, opts .. ": the record says it ended")
    -- every service that runs is the current release of its environment
    local tracked = {}
    for _, env in ipairs{"staging", "prod", "prod-b"} do
      local p = state .. "/envs/" .. env .. "/current.json"
      if fs.exists(p) then tracked[json.decode(fs.read(p)).pid] = true end
    end
    for _, pid in ipairs(D.service_pids(state .. "/")) do
      T.truthy(tracked[pid], opts .. ": service " .. pid .. " is tracked by a current.json\n" .. what)
    end
    -- stop works on the full directory and finds every service
    local st = D.slipway(dir, {"stop", "--all", "--state-dir", state})
    T.eq(st.code, 0, opts .. ": stop --all\n" .. st.stderr)
    T.nomatch(st.stderr, "stack traceback")
    F.no_processes(state .. "/", {})
  end)
  umount(state)
  if not ok then error(err, 0) end
  return failed_at
end

-- deploy with each of `opts` in turn until one succeeds; returns the paths
-- it failed at
function M.matrix(list)
  local at = {}
  F.case(nil, function(dir)
    local succeeded = false
    for _, o in ipairs(list) do
      local p = deploy_on(dir, o)
      if not p then succeeded = true; break end
      at[#at + 1] = p:gsub("^/tmp/[^/]+/", "STATE/"):gsub("%d%d%d%d%d%d%d%dT[%w%.%-]+", "RUN")
    end
    T.truthy(succeeded, "a deploy succeeds once there is room enough")
    io.stderr:write("# failed at: ", table.concat(at, ", "), "\n")
  end)
  return at
end

function M.distinct(list)
  local set, n = {}, 0
  for _, p in ipairs(list) do if not set[p] then set[p], n = true, n + 1 end end
  return n
end


return M
