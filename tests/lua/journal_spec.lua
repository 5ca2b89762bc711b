-- The journal: JSON lines appended as the run goes, redacted, readable after
-- a success, a failure and a kill -9 (torn last line skipped).
local T = require "slipway.testing"
local sync = require "sync"
local journal = require "slipway.journal"
local fs = require "slipway.fs"
local json = require "slipway.json"
local core = require "slipway.core"
local proc = require "slipway.proc"
local task = require "slipway.task"

local function lines_valid(path)
  local text = fs.read(path)
  local n = 0
  for line in text:gmatch("([^\n]*)\n") do
    n = n + 1
    local ok, v = pcall(json.decode, line)
    T.truthy(ok and type(v) == "table", path .. ":" .. n .. " is not JSON: " .. line)
  end
  return n
end

T.test("records are appended at once, with run id and time", function()
  local dir = fs.tempdir()
  local j = journal.open(dir, {command = "deploy", sha = "abc"})
  T.match(j.id, "^%d+T%d+%.%d%d%dZ%-%x%x%x%x$")
  local path = dir .. "/journal/" .. j.id .. ".jsonl"
  T.eq(lines_valid(path), 1, "the run record is on disk before anything else happens")
  j:record{type = "step_start", step = "stage"}
  T.eq(lines_valid(path), 2)
  j:finish{ok = true, status = 0, outcome = "success"}
  local recs = journal.read(path)
  T.eq(#recs, 3)
  T.eq(recs[1].type, "run"); T.eq(recs[1].command, "deploy"); T.eq(recs[1].sha, "abc")
  T.truthy(recs[1].user and recs[1].host and recs[1].pid)
  T.eq(recs[2].run, j.id)
  T.truthy(recs[3].ts >= recs[1].ts)
  local s = journal.summary(recs, path)
  T.eq(s.outcome, "success"); T.truthy(s.finished)
end)

T.test("two runs never share a journal: an id whose file exists is drawn again", function()
  local dir = fs.tempdir()
  local new_id, ids = journal.new_id, {"20260101T000000.000Z-aaaa", "20260101T000000.000Z-aaaa",
                                       "20260101T000000.000Z-bbbb"}
  local n = 0
  journal.new_id = function() n = n + 1; return ids[n] end
  local ok, err = pcall(function()
    local a = journal.open(dir, {command = "deploy"})
    local b = journal.open(dir, {command = "deploy"})
    T.eq(a.id, "20260101T000000.000Z-aaaa")
    T.eq(b.id, "20260101T000000.000Z-bbbb", "the second run drew again")
    T.eq(#journal.read(dir .. "/journal/" .. a.id .. ".jsonl"), 1, "the first journal holds its own run only")
  end)
  journal.new_id = new_id
  if not ok then error(err, 0) end
end)

T.test("separate processes draw different random numbers (the run id's suffix, retry jitter)", function()
  local bin = os.getenv("SLIPWAY_BIN") or "build/slipway"
  local seen = {}
  for _ = 1, 4 do
    local r = proc.run({bin, "-e", "print(math.random(0, 2^40))"}, {echo = false})
    seen[r.stdout] = true
  end
  local distinct = 0
  for _ in pairs(seen) do distinct = distinct + 1 end
  T.eq(distinct, 4, "four processes started within a second drew four numbers")
end)

T.test("secrets never reach the journal", function()
  local dir = fs.tempdir()
  core.secret("hunter2-token")
  local j = journal.open(dir, {command = "x"})
  j:record{type = "cmd", argv = "curl -H 'Authorization: Bearer hunter2-token'"}
  local text = fs.read(j.path)
  T.nomatch(text, "hunter2")
  T.match(text, "Bearer %*%*%*")
end)

T.test("a torn last line is skipped; any other bad line is skipped and listed", function()
  local dir = fs.tempdir()
  local p = dir .. "/x.jsonl"
  fs.write(p, '{"type":"run","run":"r1","ts":1}\n{"type":"step_st')
  local recs = journal.read(p)
  T.eq(#recs, 1); T.truthy(recs.torn)
  fs.write(p, '{"type":"run"}\nnot json\n\n{"type":"x"}\n')
  recs = journal.read(p)
  T.eq(#recs, 2); T.eq(recs[2].type, "x")
  T.eq(recs.bad, {2, 3}, "line numbers count every line, empty ones too")
end)

T.test("an empty or torn first line: the run is listed with what can be read", function()
  local dir = fs.tempdir()
  fs.mkdir(dir .. "/journal")
  local a = dir .. "/journal/20250101T000000.000Z-aaaa.jsonl"
  fs.write(a, '\n{"type":"step_end","step":"stage","ok":false,"ts":5}\n'
    .. '{"type":"run_end","ok":false,"status":1,"outcome":"failed","ts":6}\n')
  local b = dir .. "/journal/20250101T000001.000Z-bbbb.jsonl"
  fs.write(b, '{"type":"run","command":"dep')
  local runs = journal.runs(dir)
  T.eq(#runs, 2)
  T.eq(runs[1].id, "20250101T000001.000Z-bbbb"); T.eq(runs[1].torn_line, 1)
  T.eq(runs[1].outcome, "unfinished")
  T.eq(runs[2].id, "20250101T000000.000Z-aaaa"); T.eq(runs[2].bad_lines, {1})
  T.eq(runs[2].outcome, "failed"); T.eq(runs[2].failed_step, "stage")
end)

T.test("values that are not UTF-8 are written as U+FFFD: every line is strict JSON", function()
  local dir = fs.tempdir()
  local j = journal.open(dir, {command = "x"})
  j:record{type = "step_start", step = "bad \255\254 name", ["k\192"] = "\237\160\128 surrogate"}
  local text = fs.read(j.path)
  T.truthy(utf8.len(text), "the file is valid UTF-8")
  local recs = journal.read(j.path)
  T.eq(recs[2].step, "bad \u{FFFD}\u{FFFD} name")
  T.eq(recs[2]["k\u{FFFD}"], "\u{FFFD}\u{FFFD}\u{FFFD} surrogate")
  T.eq(journal.clean({a = {"ok \255"}}), {a = {"ok \u{FFFD}"}})
end)

T.test("runs: newest first, filtered by environment; unfinished runs show", function()
  local dir = fs.tempdir()
  local a = journal.open(dir, {command = "stage"})
  a:record{type = "state", env = "staging", before = {versions = {x = "1"}}}
  a:record{type = "deployed", env = "staging", versions = {x = "2"}}
  a:finish{ok = true, status = 0, outcome = "success"}
  task.sleep(0.002)
  local b = journal.open(dir, {command = "deploy"})
  b:record{type = "state", env = "prod"}
  local runs = journal.runs(dir)
  T.eq(#runs, 2)
  T.eq(runs[1].id, b.id); T.eq(runs[1].outcome, "unfinished")
  T.eq(runs[2].versions_before, {x = "1"}); T.eq(runs[2].versions_after, {x = "2"})
  T.eq(#journal.runs(dir, {env = "staging"}), 1)
  local s = journal.find(dir, a.id:sub(1, 18))
  T.truthy(s)
  local r = journal.last(dir, function(rec) return rec.type == "deployed" end)
  T.eq(r.versions, {x = "2"})
end)

T.test("a run killed with SIGKILL leaves a valid journal", function()
  local dir = fs.tempdir()
  local script = dir .. "/writer.lua"
  fs.write(script, string.format([[
local journal = require "slipway.journal"
local task = require "slipway.task"
local j = journal.open(%q, {command = "loop"})
for i = 1, 100000 do
  j:record{type = "log", message = string.rep("x", 200), i = i}
  if i %% 50 == 0 then task.sleep(0.001) end
end
]], dir))
  local h = proc.spawn({os.getenv("SLIPWAY_BIN"), script}, {stdin = "null", echo = false})
  -- killed once more than 10 records are on disk (the run would write
  -- 100,000): they were flushed as the run went
  local function on_disk()
    local p = fs.glob(dir .. "/journal/*.jsonl")[1]
    return p and select(2, fs.read(p):gsub("\n", "")) > 10
  end
  sync.wait_until(on_disk, "records on disk while the run goes on")
  h:kill("KILL")
  T.eq(h:wait().signal, 9, "killed while still writing")
  local p = fs.glob(dir .. "/journal/*.jsonl")[1]
  local n = lines_valid(p)
  T.truthy(n > 10, "records were flushed as the run went (" .. n .. ")")
  local recs = journal.read(p)
  T.eq(journal.summary(recs).outcome, "unfinished")
end)

T.run()
