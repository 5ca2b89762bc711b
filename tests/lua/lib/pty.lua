--- Run a command on a pseudo-terminal, for tests of what a program does
-- when a person is at the keyboard (colour, prompts). python3's pty.spawn
-- takes an argv list, so no shell string is built (script(1) -c needs one).
--
--   local pty = require "pty"
--   if not pty.available() then T.skip("python3 is not installed") end
--   local r = pty.run({bin, "runbook", "restart"}, {cwd = dir, stdin = "y\n"})
--   r.code (the command's exit code), r.stdout (what the terminal showed,
--   with \r\n line ends and the echo of what was typed)
local proc = require "slipway.proc"

local M = {}

-- pty.spawn copies our stdin to the terminal and the terminal to our
-- stdout; its result is the child's wait status
local WRAPPER = "import os, pty, sys\n"
  .. "c = os.waitstatus_to_exitcode(pty.spawn(sys.argv[1:]))\n"
  .. "sys.exit(c if c >= 0 else 128 - c)\n"

--- available() -> whether python3 is on PATH
function M.available()
  return proc.which("python3") ~= nil
end

--- run(argv [, opts]) -> proc.run's result for argv run on a new terminal.
-- opts as proc.run (cwd, env, stdin = what is typed, timeout); check is
-- false and the timeout 30 s unless given.
function M.run(argv, opts)
  local o = {check = false, echo = false, timeout = 30}
  for k, v in pairs(opts or {}) do o[k] = v end
  local full = {"python3", "-c", WRAPPER}
  for _, a in ipairs(argv) do full[#full + 1] = a end
  return proc.run(full, o)
end

return M
