-- The command line of the real binary: forms, `arg`, global options, exit
-- codes and what an uncaught error prints.
local T = require "slipway.testing"
local fs = require "slipway.fs"
local cmd = require "slipway_cmd"

local dir = fs.tempdir()
local function script(name, text)
  local p = dir .. "/" .. name
  fs.write(p, text)
  return p
end

T.test("--version and -v alone print the version, the commit and the libraries found", function()
  for _, a in ipairs{"--version", "-v"} do
    local r = cmd.run({a})
    T.eq(r.code, 0)
    T.match(r.stdout, "^slipway %d+%.%d+%.%d+ %(commit [%x]+[%-%w]*%)\n")
    T.match(r.stdout, "\n  Lua 5%.4%.%d+[^\n]*\n")
    T.match(r.stdout, "\n  libuv %d+%.%d+%.%d+\n")
    T.match(r.stdout, "\n  libyaml %d+%.%d+%.%d+[^\n]*\n")
    -- loaded with dlopen on first use, as libcurl is (runtime/digest.c)
    T.match(r.stdout, "\n  Nettle %d+%.%d+ %(loaded on first digest use%)\n")
  end
end)

T.test("--help shows the usage and lists the commands", function()
  local r = cmd.run({"--help"})
  T.eq(r.code, 0, r.stderr)
  T.match(r.stdout, "usage: slipway FILE %[ARGS%.%.%.%]")
  T.match(r.stdout, "slipway %-e CODE")
  T.match(r.stdout, "Commands:\n  run ")
  T.match(r.stdout, "\n  help ")
  T.match(r.stdout, "%-%-log%-format text|json")
  T.eq(cmd.run({"help"}).code, 0)
  T.eq(cmd.run({"-h"}).code, 0)
end)

T.test("-e runs code; arguments go to ... and arg", function()
  local r = cmd.run({"-e", "print(select('#', ...), arg[1], arg[2], arg[-1], ...)", "a", "b c"})
  T.eq(r.code, 0, r.stderr)
  T.eq(r.stdout, "2\ta\tb c\t-e\ta\tb c\n")
end)

-- start-up (docs/runtime.md): -e, FILE and --version do not compile the
-- command-line parser or the command table; global options before them do
T.test("-e and FILE start without loading slipway.args or slipway.cli", function()
  local probe = "io.write(tostring(package.loaded['slipway.args'] ~= nil), ' ', " ..
                "tostring(package.loaded['slipway.cli'] ~= nil))"
  T.eq(cmd.run({"-e", probe}).stdout, "false false")
  T.eq(cmd.run({script("probe.lua", probe)}).stdout, "false false")
  T.eq(cmd.run({"-q", "-e", probe}).stdout, "true true")
  T.eq(cmd.run({"run", script("probe2.lua", probe)}).stdout, "true true")
end)

T.test("FILE and run FILE: arg as lua.c builds it", function()
  local p = script("args.lua", "print(arg[0], arg[1], arg[2], #arg, arg[-1] ~= nil, ...)")
  local r = cmd.run({p, "x", "y"})
  T.eq(r.code, 0, r.stderr)
  T.eq(r.stdout, p .. "\tx\ty\t2\ttrue\tx\ty\n")
  r = cmd.run({"run", p, "x"})
  T.eq(r.stdout, p .. "\tx\tnil\t1\ttrue\tx\n")
  T.eq(r.stdout, p .. "\tx\tnil\t1\ttrue\tx\n")
  T.eq(cmd.run({"run", p}).stdout, p .. "\tnil\tnil\t0\ttrue\n")
end)

T.test("a script's own directory is searched for its modules", function()
  script("helper_mod.lua", "return {v = 42}")
  local p = script("uses.lua", "print(require('helper_mod').v)")
  local r = cmd.run({p})
  T.eq(r.stdout, "42\n", r.stderr)
end)

T.test("global options work before -e, FILE and run", function()
  local p = script("opts.lua", "local o = require('slipway.runtime').options print(o.log_format, o.log_level, o.no_color, ...)")
  local r = cmd.run({"--log-format=json", "-e", "local o = require('slipway.runtime').options print(o.log_format, ...)", "z"})
  T.eq(r.code, 0, r.stderr)
  T.eq(r.stdout, "json\tz\n")
  r = cmd.run({"--log-format=json", "-v", "--no-color", p, "1"})
  T.eq(r.stdout, "json\tdebug\ttrue\t1\n", r.stderr)
  r = cmd.run({"-q", "run", p})
  T.eq(r.stdout, "nil\twarn\tnil\n", r.stderr)
  r = cmd.run({p})
  T.eq(r.stdout, "nil\tnil\tnil\n", r.stderr)
end)

T.test("global options after the command and after a playbook; a plain script keeps its args", function()
  local pb = script("globals_pb.lua", [[
local playbook = require "slipway.playbook"
return playbook.define{name = "g", steps = {{name = "show", run = function(ctx)
  local o = require("slipway.runtime").options
  print(o.log_format, o.log_level, o.no_color, ctx.args.verbose, ctx.args.color)
end}}}
]])
  local r = cmd.run({"run", pb, "--log-format", "json", "-v", "--no-color"})
  T.eq(r.code, 0, r.stderr)
  T.match(r.stdout, "^json\tdebug\ttrue\tnil\tnil\n")
  r = cmd.run({pb, "--log-level=warn"})
  T.match(r.stdout, "^nil\twarn\tnil")
  -- after a command: history parses -q and --log-format=json as its own
  r = cmd.run({"history", "--json", "-q", "--log-format=json"}, {cwd = dir})
  T.eq(r.code, 0, r.stderr)
  -- a plain script: its arguments as they are, --bogus included
  local p = script("plain.lua", "print(...)")
  r = cmd.run({p, "--bogus", "-v", "--help"})
  T.eq(r.code, 0, r.stderr)
  T.eq(r.stdout, "--bogus\t-v\t--help\n")
  -- a bad value of a global option is misuse, naming the option
  r = cmd.run({"--log-format=yaml", "-e", "print(1)"})
  T.eq(r.code, 2)
  T.match(r.stderr, "%-%-log%-format needs one of text, json, got \"yaml\"")
  r = cmd.run({"--verison"})
  T.eq(r.code, 2)
  T.match(r.stderr, "unknown option %-%-verison; did you mean %-%-version%?")
end)

T.test("exit 1 for a script error, with file:line and a traceback", function()
  local p = script("boom.lua", "local function inner()\n  error('it broke')\nend\ninner()\n")
  local r = cmd.run({p})
  T.eq(r.code, 1)
  T.eq(r.stdout, "")
  T.match(r.stderr, "^slipway: " .. p:gsub("%p", "%%%0") .. ":2: it broke\nstack traceback:\n")
  T.match(r.stderr, "boom%.lua:2: in local 'inner'")
  T.match(r.stderr, "boom%.lua:4: in main chunk")
  -- a structured error prints its message
  r = cmd.run({"-e", "require('slipway.core').raise('http', 'the server said no')"})
  T.eq(r.code, 1)
  T.match(r.stderr, "^slipway: %(command line%):1: the server said no\n")
  -- a syntax error names file:line
  p = script("syntax.lua", "local x = \n")
  r = cmd.run({p})
  T.eq(r.code, 1)
  T.match(r.stderr, "syntax%.lua:2: unexpected symbol near <eof>")
  -- an error in a task waited for with join
  r = cmd.run({"-e", "require('slipway.task').spawn(function() error('in child') end):join()"})
  T.eq(r.code, 1)
  T.match(r.stderr, "in child")
end)

T.test("exit 2 for misuse of the command line", function()
  local cases = {
    {{}, "Commands:"},
    {{"-e"}, "%-e needs a value"},
    {{"run"}, "missing FILE"},
    {{"no-such-command"}, "unknown command 'no%-such%-command'"},
    {{"help", "no-such-command"}, "unknown command"},
    {{dir .. "/missing.lua"}, "cannot open .*missing%.lua"},
    {{"run", dir .. "/missing.lua"}, "cannot open .*missing%.lua"},
  }
  for _, c in ipairs(cases) do
    local r = cmd.run(c[1])
    T.eq(r.code, 2, table.concat(c[1], " ") .. ": " .. r.stderr)
    T.match(r.stderr, c[2], table.concat(c[1], " "))
  end
end)

T.test("a directory named like a command does not shadow it", function()
  fs.mkdir(dir .. "/repo/help")
  local r = cmd.run({"help"}, {cwd = dir .. "/repo"})
  T.eq(r.code, 0, r.stderr)
  T.match(r.stdout, "Commands:")
end)

T.test("os.exit: status, booleans, cleanup runs first", function()
  T.eq(cmd.run({"-e", "os.exit(3)"}).code, 3)
  T.eq(cmd.run({"-e", "os.exit(true)"}).code, 0)
  T.eq(cmd.run({"-e", "os.exit(false)"}).code, 1)
  local r = cmd.run({"-e", [[
    local task = require "slipway.task"
    local c <close> = setmetatable({}, {__close = function() print("main cleanup") end})
    task.spawn(function()
      local k <close> = setmetatable({}, {__close = function() print("child cleanup") end})
      task.sleep(30)
    end)
    task.spawn(function() task.sleep(0.02); os.exit(7) end)
    task.sleep(30)
  ]]})
  T.eq(r.code, 7)
  T.match(r.stdout, "child cleanup")
  T.match(r.stdout, "main cleanup")
end)

T.test("the main task ending ends the program; other tasks are cancelled", function()
  local r = cmd.run({"-e", [[
    local task = require "slipway.task"
    task.spawn(function()
      local ok, e = pcall(task.sleep, 30)
      print("child:", e.code)
    end)
    task.sleep(0.01)
    print("main done")
  ]]})
  T.eq(r.code, 0, r.stderr)
  T.eq(r.stdout, "main done\nchild:\tcancelled\n")
end)

T.test("a deadlock is reported and exits 1", function()
  local r = cmd.run({"-e", [[
    local task = require "slipway.task"
    local main = task.current()
    task.spawn(function() main:wait() end):wait()
  ]]})
  T.eq(r.code, 1)
  T.match(r.stderr, "^slipway: deadlock: the main task waits on something that can never happen")
end)

T.test("a module that is not found lists where it was looked for", function()
  local r = cmd.run({"-e", "require 'no_such_module_x'"})
  T.eq(r.code, 1)
  T.match(r.stderr, "module 'no_such_module_x' not found")
  T.match(r.stderr, "no embedded module 'no_such_module_x'")
  T.nomatch(r.stderr, "no file ''", "no empty search path entry")
end)

T.run()
