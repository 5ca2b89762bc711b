--- slipway.cli: the whole command line. slipway.start hands argv to M.start
-- (after taking `-e CODE`, `FILE` with a slash or .lua and `--version`); every
-- word is parsed here, by slipway.args (docs/args.md), one parser:
--
--   slipway [GLOBAL...] FILE [ARGS...]       a Lua file (a playbook parses
--   slipway [GLOBAL...] run FILE [ARGS...]   ARGS with its declared options;
--                                            a plain script gets them as is)
--   slipway [GLOBAL...] -e CODE [ARGS...]    a string of Lua
--   slipway [GLOBAL...] COMMAND [ARGS...]    a command; GLOBAL options may
--                                            also follow it
--
-- Global options (args.GLOBAL: -v/--verbose, -q/--quiet, --log-format,
-- --log-level, --no-color) are stored in require("slipway.runtime").options,
-- which slipway.log reads; SLIPWAY_LOG_FORMAT and SLIPWAY_LOG_LEVEL set the
-- same defaults.
--
-- Each command is a module `slipway.cmd.NAME` returning its declaration
--   {summary = "one line", description = "prose for --help",
--    options = {...}, positionals = {...}, rest = bool, epilog = "...",
--    run = function(args, argv) return exit_status end}
-- (args: the parsed values; argv: the words after the command, for the
-- journal). Its --help is generated from the declaration.
local runtime = require "slipway.runtime"
local args = require "slipway.args"
local exit = require "slipway.exit"
local start = require "slipway.start"
local M = {}

--- Commands in the order `slipway help` lists them.
M.names = {
  "run", "deploy", "stage", "test", "promote", "revert", "bump",
  "history", "status", "dashboard", "stop", "runbook", "demo", "help",
}

-- the built-in commands, declared as the others are
local builtin = {
  run = {
    summary = "run a Lua playbook or script: slipway run FILE [ARGS...]",
    description = [[
Runs the Lua file FILE as the main task; ARGS are its `...` and arg[1..].
`slipway FILE` is the same when FILE contains a '/', ends in .lua or is an
existing file that is not named like a command. A playbook file
(playbook.define) parses ARGS with the options it declares plus --dry-run,
--resume [RUN], --journal FILE and --state-dir DIR (`slipway run FILE
--help` lists them); a plain script gets ARGS as they are.]],
    positionals = {{name = "file", help = "the Lua file"}},
    rest = true,
  },
  help = {
    summary = "list the commands, or show one: slipway help [COMMAND]",
    description = [[
Without COMMAND, lists the commands and the global options; with one, shows
its usage (the same as `slipway COMMAND --help`).]],
    positionals = {{name = "command", optional = true, help = "a command"}},
  },
}

local function is_command(name)
  for _, n in ipairs(M.names) do if n == name then return true end end
  return false
end

--- The declaration of command `name` (a slipway.cmd module or a built-in);
-- nil for an unknown command.
function M.command(name)
  if not is_command(name) then return nil end
  return builtin[name] or require("slipway.cmd." .. name)
end

--- The parser of command `name`: its declaration plus the global options.
function M.parser(name)
  local mod = assert(M.command(name), name)
  return args.parser{prog = "slipway " .. name, description = mod.description,
                     options = args.concat(mod.options or {}, args.GLOBAL),
                     positionals = mod.positionals, rest = mod.rest, epilog = mod.epilog}
end

local TOP_OPTIONS = args.concat(args.GLOBAL, {
  {name = "version", type = "boolean", help = "print the version (also -v alone)"},
  {name = "exec", short = "e", metavar = "CODE", stop = true, help = "run CODE, a string of Lua"},
})
local top = args.parser{prog = "slipway", options = TOP_OPTIONS}

local function global_help()
  local list = {}
  for _, o in ipairs(args.GLOBAL) do list[#list + 1] = o end
  return "Global options (before or after the command):\n" .. args.options_help(list)
end

--- The list of commands and the global options (`slipway help`).
function M.help(out)
  out = out or io.stdout
  out:write("Commands:\n")
  for _, name in ipairs(M.names) do
    out:write(string.format("  %-10s %s\n", name, M.command(name).summary))
  end
  out:write("\n", global_help(), "\n")
end

local USAGE = [[
usage: slipway FILE [ARGS...]       run a Lua playbook or script
       slipway run FILE [ARGS...]   the same
       slipway -e CODE [ARGS...]    run a string of Lua
       slipway COMMAND [ARGS...]    a standard command (see below)
       slipway --version | --help

`slipway help COMMAND` or `slipway COMMAND --help` shows one command's options.

]]

local function usage_exit(msg, help_of)
  io.stderr:write(msg, "\n")
  if help_of then io.stderr:write("try: slipway ", help_of, "--help\n") end
  os.exit(exit.usage)
end

local function errmsg(e) return type(e) == "table" and tostring(e.message or e) or tostring(e) end

-- parse with p; a usage error exits 2 naming what was wrong (nothing ran)
local function parse(p, argv, help_of, opts)
  local ok, v = pcall(p.parse, p, argv, opts)
  if not ok then
    if type(v) == "table" and v.code == "usage" then usage_exit(v.message, help_of) end
    error(v, 0)
  end
  return v
end

local set_arg, run_file = start.set_arg, start.run_file

local function looks_like_file(word)
  if word:find("/", 1, true) or word:match("%.lua$") then return true end
  return not is_command(word) and require("slipway.fs").isfile(word)
end

local function unknown_command(name)
  local s = args.suggest(name, M.names)
  io.stderr:write("slipway: unknown command '", name, "'", s and ("; did you mean " .. s .. "?") or "", "\n")
  M.help(io.stderr)
  os.exit(exit.usage)
end

local version = start.version

-- run command `name` with the words after it
local function run_command(name, rest)
  local mod = M.command(name)
  local p = M.parser(name)
  local a = parse(p, rest, name .. " ")
  if a.help then io.stdout:write(p:help(), "\n"); return 0 end
  args.set_global(a)
  return mod.run(a, rest)
end

function builtin.help.run(a)
  local which = a.command
  if which == nil then
    io.stdout:write(USAGE)
    M.help()
    return 0
  end
  if not is_command(which) then unknown_command(which) end
  io.stdout:write(M.parser(which):help(), "\n")
  return 0
end

--- The entry point main.c calls: host = {use_script = fn(path), lua =
-- LUA_RELEASE, libuv = version}, then argv[1..n].
function M.start(host, ...)
  M.host = host
  start.host = host
  return M.main(...)
end

--- Parse and run a command line (the words after the program name).
function M.main(...)
  local argv = {...}
  local all = {[0] = arg and arg[0] or runtime.argv0}
  for i, a in ipairs(argv) do all[i] = a end
  if #argv == 1 and argv[1] == "-v" then version(); return end  -- as lua -v
  local g = parse(top, argv, "", {stop_at_positional = true})
  if g.help then io.stdout:write(USAGE); M.help(); return end
  local rest = g.rest
  args.set_global(g)
  if g.version then
    if #rest > 0 then usage_exit(string.format("slipway: --version takes no arguments, got %q", rest[1]), "") end
    version()
    return
  end
  if g.exec then
    local fn, err = load(g.exec, "=(command line)", "t")
    if not fn then error(err, 0) end
    set_arg(all, #argv - #rest)
    return fn(table.unpack(rest))
  end
  local cmd = rest[1]
  if cmd == nil then
    io.stderr:write(USAGE)
    M.help(io.stderr)
    os.exit(exit.usage)
  end
  local after = table.move(rest, 2, #rest, 1, {})
  if cmd == "run" then
    local a = parse(M.parser("run"), after, "run ")
    if a.help then io.stdout:write(M.parser("run"):help(), "\n"); return end
    args.set_global(a)
    return run_file(a.file, all, #argv - #a.rest, a.rest)
  end
  if looks_like_file(cmd) then return run_file(cmd, all, #argv - #after, after) end
  if not is_command(cmd) then unknown_command(cmd) end
  local status = run_command(cmd, after)
  if status and status ~= 0 then os.exit(status) end
end

return M
