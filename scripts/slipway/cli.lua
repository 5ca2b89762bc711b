--- slipway.cli: the command line beyond `slipway FILE` and `slipway -e`.
--
-- Global options come first: --log-format=text|json, --log-level=LEVEL,
-- -v/--verbose (debug), -q/--quiet (warnings and errors only), --no-color.
-- They are stored in require("slipway.runtime").options, which slipway.log
-- reads; SLIPWAY_LOG_FORMAT and SLIPWAY_LOG_LEVEL set the same defaults.
--
-- Each command is a module `slipway.cmd.NAME` returning
--   {summary = "one line", usage = "full help text",
--    run = function(args) return exit_status end}
local runtime = require "slipway.runtime"
local M = {}

--- Commands in the order `slipway help` lists them.
M.names = {
  "run", "deploy", "stage", "test", "promote", "revert", "bump",
  "history", "status", "stop", "runbook", "demo", "help",
}

local builtin = {
  run = "run a Lua playbook or script: slipway run FILE [ARGS...]",
  help = "list the commands, or show one: slipway help [COMMAND]",
}

-- usage texts of the built-in commands (`slipway run --help`, `slipway help --help`)
local builtin_usage = {
  run = [[
usage: slipway run FILE [ARGS...]

Runs the Lua file FILE as the main task; ARGS are its `...` and arg[1..].
`slipway FILE` is the same when FILE contains a '/', ends in .lua or is an
existing file. A playbook file (playbook.define) also takes --dry-run,
--resume [RUN] and --journal FILE.]],
  help = [[
usage: slipway help [COMMAND]

Without COMMAND, lists the commands and the global options; with one, shows
its usage (the same as `slipway COMMAND --help`).]],
}

local function load_cmd(name)
  local mod, why = require("slipway.modules").find("slipway.cmd." .. name)
  if type(mod) == "table" then return mod end
  return nil, why
end

function M.help(out)
  out = out or io.stdout
  out:write("Commands:\n")
  for _, name in ipairs(M.names) do
    local summary = builtin[name]
    if not summary then
      local mod = load_cmd(name)
      summary = mod and mod.summary
    end
    if summary then out:write(string.format("  %-10s %s\n", name, summary)) end
  end
  out:write("\nGlobal options (before the command): --log-format=text|json, --log-level=LEVEL,\n" ..
            "  -v/--verbose, -q/--quiet, --no-color\n")
end

local function run_file(path, ...)
  local fn, err = loadfile(path, "t")
  if not fn then
    io.stderr:write("slipway: ", err, "\n")
    os.exit(2)
  end
  arg = {[0] = path, ...}
  return fn(...)
end

--- Parse the global options at the front of args into runtime.options;
-- returns the rest. main.c also calls it for `slipway OPTS -e CODE` and
-- `slipway OPTS FILE`.
local function parse_global(args)
  local opts = runtime.options or {}
  runtime.options = opts
  local i = 1
  while i <= #args do
    local a = args[i]
    local k, v = a:match("^%-%-([%w-]+)=(.*)$")
    if k == "log-format" then opts.log_format = v
    elseif k == "log-level" then opts.log_level = v
    elseif a == "-v" or a == "--verbose" then opts.log_level = "debug"
    elseif a == "-q" or a == "--quiet" then opts.log_level = "warn"
    elseif a == "--no-color" then opts.no_color = true
    else break end
    i = i + 1
  end
  return table.move(args, i, #args, 1, {})
end

M.parse_global = parse_global

function M.main(...)
  local args = parse_global({...})
  local cmd = args[1]
  local rest = table.move(args, 2, #args, 1, {})
  if cmd == nil or cmd == "help" or cmd == "--help" or cmd == "-h" then
    local which = rest[1]
    if which == "--help" or which == "-h" then which = cmd == "help" and "help" or nil end
    if which and builtin_usage[which] then io.stdout:write(builtin_usage[which], "\n"); return end
    if which and builtin[which] == nil then
      local mod = load_cmd(which)
      if mod then io.stdout:write(mod.usage or mod.summary or which, "\n"); return end
      io.stderr:write("slipway: unknown command '", which, "'\n")
      M.help(io.stderr)
      os.exit(2)
    end
    if cmd == nil then  -- misuse: the help goes to stderr
      M.help(io.stderr)
      os.exit(2)
    end
    M.help()
    return
  end
  if cmd == "run" then
    if rest[1] == "--help" or rest[1] == "-h" then io.stdout:write(builtin_usage.run, "\n"); return end
    if not rest[1] then
      io.stderr:write("slipway: 'run' needs a FILE\n"); os.exit(2)
    end
    return run_file(table.unpack(rest))
  end
  if cmd:find("/") or cmd:match("%.lua$") then return run_file(cmd, table.unpack(rest)) end
  local known = false
  for _, n in ipairs(M.names) do if n == cmd then known = true end end
  local mod, err = nil, nil
  if known then mod, err = load_cmd(cmd) end
  if not mod then
    if known and err and not tostring(err):find("module 'slipway.cmd." .. cmd .. "' not found", 1, true) then
      error(err, 0)
    end
    io.stderr:write("slipway: unknown command '", cmd, "'\n")
    M.help(io.stderr)
    os.exit(2)
  end
  if rest[1] == "--help" or rest[1] == "-h" then
    io.stdout:write(mod.usage or mod.summary or cmd, "\n")
    return
  end
  local status = mod.run(rest)
  if status and status ~= 0 then os.exit(status) end
end

return M
