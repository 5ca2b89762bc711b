-- The live status line: on a terminal a running step and its checks show
-- with a spinner and their elapsed time, below the log lines; off a terminal
-- there is no such line, only plain timestamped log lines.
local T = require "slipway.testing"
local fs = require "slipway.fs"
local proc = require "slipway.proc"
local pty = require "pty"

local bin = os.getenv("SLIPWAY_BIN") or "build/slipway"

local PLAYBOOK = [[
local playbook = require "slipway.playbook"
local task = require "slipway.task"
local progress = require "slipway.progress"
return playbook.define{name = "live", steps = {
  {name = "warm-up", run = function(ctx)
    local id = progress.begin("check slow-endpoint (staging)")
    task.sleep(0.6)
    progress.finish(id)
    ctx:log("info", "warmed up")
  end},
}}
]]

local function setup()
  local dir = fs.tempdir()
  fs.write(dir .. "/live.lua", PLAYBOOK)
  return dir
end

T.test("on a terminal: spinner, step and check names, elapsed time; cleared at the end", function()
  if not pty.available() then T.skip("python3 is not installed") end
  local dir = setup()
  local r = pty.run({bin, "live.lua"}, {cwd = dir, env = {NO_COLOR = "1", COLUMNS = "200"}})
  T.eq(r.code, 0, r.stdout)
  local out = r.stdout
  T.match(out, "[⠋⠙⠹⠸⠼⠴⠦⠧⠇⠏] warm%-up %d+%.%ds · check slow%-endpoint %(staging%) %d+%.%ds")
  T.match(out, "\r\27%[K", "the line is cleared before log lines")
  -- the elapsed time grows while the step runs
  local last = 0
  for t in out:gmatch("check slow%-endpoint %(staging%) (%d+%.%d)s") do last = math.max(last, tonumber(t)) end
  T.truthy(last >= 0.3, "elapsed time shown up to " .. last)
  -- the log line is whole on its own line, after the live line was cleared
  T.match(out, "\r\27%[K[^\r\n]*warmed up")
  -- nothing of the live line is left at the very end
  T.nomatch(out:match("[^\n]*$"), "warm%-up")
end)

T.test("off a terminal (and with SLIPWAY_PROGRESS=0): plain lines only", function()
  local dir = setup()
  local r = proc.run({bin, "live.lua"}, {cwd = dir, check = false, echo = false})
  T.eq(r.code, 0, r.stderr)
  T.nomatch(r.stderr, "\27%[K")
  T.nomatch(r.stderr, "[⠋⠙⠹⠸⠼⠴⠦⠧⠇⠏]")
  T.match(r.stderr, "%d%d%d%d%-%d%d%-%d%dT[%d:.]+Z INFO  ==> warm%-up")
  if pty.available() then
    local p = pty.run({bin, "live.lua"}, {cwd = dir, env = {SLIPWAY_PROGRESS = "0"}})
    T.eq(p.code, 0, p.stdout)
    T.nomatch(p.stdout, "[⠋⠙⠹⠸⠼⠴⠦⠧⠇⠏]")
  end
end)

T.run()
