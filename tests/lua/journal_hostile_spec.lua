-- The journal and the terminal against hostile input, through real runs of
-- slipway: short secrets, SIGTERM, damaged journals, and step names and child
-- output holding escape sequences and bytes that are not UTF-8.
local T = require "slipway.testing"
local D = require "deploytest"
local fs = require "slipway.fs"
local json = require "slipway.json"
local cmd = require "slipway_cmd"

local function outcome(recs)
  for _, r in ipairs(recs or {}) do if r.type == "run_end" then return r end end
end

T.test("short secrets (ok, true, 1, \", :) corrupt neither the journal nor history", function()
  D.with_repo(function(dir)
    -- the Lua test of staging registers them, as a playbook or the
    -- kubernetes driver (every value of a Secret) might
    local p = dir .. "/tests/federation.lua"
    fs.write(p, [[
local core = require "slipway.core"
for _, s in ipairs{"ok", "true", "1", '"', ":"} do core.secret(s) end
if os.getenv("FAIL_FEDERATION") then error("federation check failed on purpose") end
]] .. fs.read(p))
  end, function(dir)
    local r = D.slipway(dir, {"stage", "staging"})
    T.eq(r.code, 0, r.stderr)
    r = D.slipway(dir, {"test", "staging"})
    T.eq(r.code, 0, r.stdout .. r.stderr)
    local js = D.journals(dir)  -- every line of every journal is JSON
    local recs = D.last_run(dir, "test")
    local e = T.truthy(outcome(recs))
    T.eq(e.ok, true); T.eq(e.status, 0); T.eq(e.outcome, "success")
    local keys_ok = false
    for _, x in ipairs(recs) do if x.type == "check" and x.ok == true then keys_ok = true end end
    T.truthy(keys_ok, "check records keep their 'ok' key and boolean")
    -- promote's gate reads the test run
    r = D.slipway(dir, {"promote"})
    T.eq(r.code, 0, "promote\n" .. r.stderr)
    -- a failing test: history says so
    r = D.slipway(dir, {"test", "staging"}, {env = {FAIL_FEDERATION = "1"}})
    T.eq(r.code, 1, r.stderr)
    D.journals(dir)
    local e2 = T.truthy(outcome(D.last_run(dir, "test")))
    T.eq(e2.ok, false); T.eq(e2.outcome, "failed")
    local hist = D.slipway(dir, {"history"}).stdout
    local first = hist:match("^[^\n]*\n([^\n]*)")  -- under the header
    T.match(first, " test .* failed")
    T.match(hist, " test .* success")
    T.eq(#js + 2, #D.journals(dir))
  end)
end, {timeout = 120})

T.test("history lists a run whose first journal line is empty or torn, and marks it", function()
  D.with_repo(nil, function(dir)
    fs.mkdir(dir .. "/.slipway/journal")
    fs.write(dir .. "/.slipway/journal/20250101T000000.000Z-aaaa.jsonl",
      '\n{"type":"step_end","step":"stage","ok":false,"ts":5}\n'
      .. '{"type":"run_end","ok":false,"status":1,"outcome":"failed","ts":6}\n')
    fs.write(dir .. "/.slipway/journal/20250101T000001.000Z-bbbb.jsonl", '{"type":"run","comm')
    local r = D.slipway(dir, {"history"})
    T.eq(r.code, 0, r.stderr)
    T.match(r.stdout, "20250101T000000%.000Z%-aaaa [^\n]* failed @stage[^\n]*%(journal line 1 unreadable%)")
    T.match(r.stdout, "20250101T000001%.000Z%-bbbb [^\n]*%(journal line 1 %(torn%) unreadable%)")
    T.nomatch(r.stdout, "nil")
  end)
end, {timeout = 60})

T.test("step names and a child's stderr with escapes and bad UTF-8: escaped on the terminal, clean in the journal", function()
  local dir = fs.tempdir()
  local script = dir .. "/evil.lua"
  fs.write(script, [[
local playbook = require "slipway.playbook"
local proc = require "slipway.proc"
local def = {name = "evil\27]0;PB\7", steps = {
  {name = "stage\27]0;TITLE\7\27[2K\r\n<== deploy ok \255", run = function()
    proc.run({"sh", "-c", "printf 'bad \\377 \\033]0;TITLE\\007\\033[2K\\rforged\\n' >&2; exit 3"})
  end},
}}
os.exit(playbook.main(def, {}, {root = arg[1], command = "evil\27[2K"}))
]])
  local state = dir .. "/.slipway"
  local r = cmd.run({script, dir}, {env = {NO_COLOR = "1"}})
  T.eq(r.code, 1, r.stderr)
  local function no_controls(text, what)
    T.falsy(text:find("[\0-\8\11-\31\127]"), what .. " holds a raw control character:\n" .. text)
    T.truthy(utf8.len(text), what .. " is not UTF-8")
  end
  no_controls(r.stderr, "the log")
  T.match(r.stderr, "stage\\x1B%]0;TITLE\\x07\\x1B%[2K\\r\n    <== deploy ok \\xFF")
  T.match(r.stderr, "bad \\xFF \\x1B%]0;TITLE\\x07\\x1B%[2K\\rforged")
  local path = fs.glob(state .. "/journal/*.jsonl")[1]
  local text = fs.read(path)
  T.truthy(utf8.len(text), "the journal is valid UTF-8")
  for line in text:gmatch("[^\n]+") do T.truthy(pcall(json.decode, line), line) end
  -- history: plain text escaped, --json valid UTF-8
  local hist = cmd.run({"history"}, {cwd = dir})
  local hj = cmd.run({"history", "--json"}, {cwd = dir})
  T.eq(hist.code, 0, hist.stderr)
  no_controls(hist.stdout, "history")
  -- the list cuts long fields (with an ellipsis), after escaping them
  T.match(hist.stdout, " evil\\x1… +failed @stage\\…")
  T.truthy(utf8.len(hj.stdout), "history --json is UTF-8")
  local one = cmd.run({"history", json.decode(hj.stdout:match("^[^\n]+")).id}, {cwd = dir})
  no_controls(one.stdout, "history RUN")
  T.match(one.stdout, "slipway evil\\x1B%[2K\n")
  T.match(one.stdout, "failed step stage\\x1B%]0;TITLE")
  T.eq(json.decode(hj.stdout:match("^[^\n]+")).failed_step,
    "stage\27]0;TITLE\7\27[2K\r\n<== deploy ok \u{FFFD}")
end)

T.run()
