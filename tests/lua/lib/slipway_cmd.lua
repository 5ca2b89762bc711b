--- Run the real slipway binary (env SLIPWAY_BIN) for CLI, exit-code and
-- output tests, through slipway.proc: an argv list, no shell. The calling
-- task waits; other tasks (a server the child talks to) keep running.
--
--   local cmd = require "slipway_cmd"
--   local r = cmd.run({"-e", "print(1)"}, {env = {X = "1"}})
--   r.code, r.stdout, r.stderr
--   local pid, h = cmd.start({"x.lua"})   -- background; h:wait(), h:kill()
local proc = require "slipway.proc"

local M = {}

M.bin = os.getenv("SLIPWAY_BIN") or "build/slipway"

-- A child that hangs fails its test instead of the whole ctest run.
M.TIMEOUT = 60

local function argv_of(args, opts)
  local argv = {opts.bin or M.bin}
  for _, a in ipairs(args) do argv[#argv + 1] = a end
  return argv
end

--- run(args [, {env = {}, stdin = "text", bin = path, cwd = dir, timeout = s}])
-- -> {code, signal, stdout, stderr, ok}. code is 128 + the signal number
-- when the child was killed by a signal (as a shell reports it).
function M.run(args, opts)
  opts = opts or {}
  local r = proc.run(argv_of(args, opts), {env = opts.env, cwd = opts.cwd,
    stdin = opts.stdin or "null", check = false, echo = false,
    timeout = opts.timeout or M.TIMEOUT})
  local code = r.signal ~= 0 and 128 + r.signal or r.code
  return {code = code, signal = r.signal, stdout = r.stdout, stderr = r.stderr,
          ok = code == 0, timed_out = r.timed_out}
end

--- start(args [, opts]) -> pid, handle: runs in the background (a
-- proc.spawn handle: h:wait() raises when it failed unless opts.check ==
-- false, h:kill(sig)). stdin is /dev/null, stdout and stderr are captured.
-- opts: env, cwd, bin, check, timeout.
function M.start(args, opts)
  opts = opts or {}
  local h = proc.spawn(argv_of(args, opts), {env = opts.env, cwd = opts.cwd,
    stdin = "null", check = opts.check, echo = false,
    timeout = opts.timeout or M.TIMEOUT})
  return h.pid, h
end

return M
