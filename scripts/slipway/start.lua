--- slipway.start: what main.c calls with argv. Kept small and free of
-- requires because every run compiles it (docs/runtime.md "Start-up"):
-- `slipway -e CODE ...`, `slipway FILE ...` (FILE with a '/' or ending in
-- .lua), `--version` and `-v` alone are handled here without loading the
-- command-line parser; everything else goes to slipway.cli, which parses
-- every word with slipway.args. The short cuts take only lines that parser
-- reads the same way (the first word decides and nothing before it).
local runtime = require "slipway.runtime"
local M = {}

-- arg as lua.c builds it: arg[0] the script (or -e's code), the words
-- before it at negative indexes, its arguments at 1..n. all[0] is the
-- program, all[1..] the command line; s is the index of the script in all.
function M.set_arg(all, s)
  local t = {}
  for i = 0, #all do t[i - s] = all[i] end
  arg = t
end

--- Run Lua file `path` as the main chunk with `rest` as its arguments.
function M.run_file(path, all, s, rest)
  local fn, err = loadfile(path, "t")
  if not fn then
    local f = io.open(path, "r")
    if not f then
      io.stderr:write("slipway: ", err, "\n")
      os.exit(require("slipway.exit").usage)
    end
    f:close()
    error(err, 0)
  end
  M.host.use_script(path)
  M.set_arg(all, s)
  return fn(table.unpack(rest))
end

--- `slipway --version`: the version, the commit it was built from and the
-- libraries it found (runtime/build.c)
function M.version()
  io.stdout:write(require("slipway.build.core").describe(), "\n")
end

--- The entry point main.c calls: host = {use_script = fn(path), lua =
-- LUA_RELEASE, libuv = version}, then argv[1..n].
function M.start(host, ...)
  M.host = host
  local n, first = select("#", ...), ...
  if first == "-e" and n >= 2 then  -- -e takes the next word, whatever it is
    local code = select(2, ...)
    local fn, err = load(code, "=(command line)", "t")
    if not fn then error(err, 0) end
    M.set_arg({[0] = arg and arg[0] or runtime.argv0, ...}, 2)
    return fn(select(3, ...))
  end
  if n == 1 and (first == "--version" or first == "-v") then M.version(); return end
  if first and first:sub(1, 1) ~= "-" and (first:find("/", 1, true) or first:match("%.lua$")) then
    local all = {[0] = arg and arg[0] or runtime.argv0, ...}
    return M.run_file(first, all, 1, {select(2, ...)})
  end
  return require("slipway.cli").start(host, ...)
end

return M
