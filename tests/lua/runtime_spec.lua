-- The C host as a whole. Process-wide policy (umask, rlimits, malloc
-- tuning, child subreaper, SIGPIPE) is set once at start-up (main() calls
-- policy.c), never flipped later by a binding: spawns run on libuv's pool
-- threads and inherit whatever the process has at that instant (issue 14).
-- And main.c sits on top: no other file calls into it.
local T = require "slipway.testing"
local task = require "slipway.task"
local proc = require "slipway.proc"
local http = require "slipway.http"
local server = require "slipway.server"
local fs = require "slipway.fs"

local SRC = os.getenv("SLIPWAY_SRC") or "."

-- The umask of the test process as a shell reports it ("0022").
local function shell_umask()
  return (proc.run({"sh", "-c", "umask"}, {echo = false}).stdout:gsub("%s+$", ""))
end

T.test("downloads running beside many spawns never give a child umask 0", function()
  local expected = shell_umask()
  T.truthy(expected ~= "0000", "the test needs a non-zero umask, got " .. expected)
  local srv = server.serve{handler = function() return {status = 200, body = "x"} end}
  local dir = fs.tempdir()
  local stop = false
  local downloads, spawns, seen = 0, 0, {}
  local fns = {}
  http.download(srv:url() .. "/f", dir .. "/f", {retries = 0})
  -- before the fix every download flipped the umask to 0 and back as it
  -- started: refused ones start (and flip) as fast as the loop can go
  for d = 1, 16 do
    fns[#fns + 1] = function()
      while not stop do
        pcall(http.download, "http://127.0.0.1:1/f", dir .. "/r" .. d, {retries = 0})
        downloads = downloads + 1
      end
    end
  end
  local spawners = {}
  for s = 1, 24 do
    spawners[s] = function()
      for _ = 1, 40 do
        local u = proc.run({"sh", "-c", "umask"}, {echo = false}).stdout:gsub("%s+$", "")
        seen[u] = (seen[u] or 0) + 1
        spawns = spawns + 1
      end
    end
  end
  -- meanwhile another process reads slipway's umask from /proc as fast as it
  -- can: a flip is far too short for spawns alone to hit it reliably, a
  -- hundred thousand samples are not
  local SAMPLES = 150000
  local sampler = proc.spawn({SRC .. "/tests/fixtures/proc/umask_sampler.py",
                              tostring(proc.pid()), tostring(SAMPLES)}, {echo = false})
  fns[#fns + 1] = function()
    task.all(spawners)
    sampler:wait()
    stop = true
  end
  task.all(fns)
  local sampled = {}
  for line in sampler:wait().stdout:gmatch("[^\n]+") do
    local v, n = line:match("^(%S+) (%d+)$")
    sampled[v] = tonumber(n)
  end
  T.eq(sampler:wait().code, 0)
  srv:close()
  T.truthy(downloads > 0 and spawns == 24 * 40)
  T.eq(seen, {[expected] = spawns}, "umask of every child (downloads: " .. downloads .. ")")
  T.eq(sampled, {[expected] = SAMPLES}, "slipway's umask, sampled from /proc")
  -- and a downloaded file gets the mode the umask gives a new file
  local mode = fs.stat(dir .. "/f").mode
  T.eq(mode, tonumber("666", 8) & ~tonumber(expected, 8))
end)

T.test("policy is set in one place, called once by main(): no umask( elsewhere", function()
  local calls = {
    ["%f[%w_]umask%("] = "the umask", ["setrlimit%("] = "rlimits", ["mallopt%("] = "malloc tuning",
    ["PR_SET_CHILD_SUBREAPER"] = "the subreaper", ["SIGPIPE, SIG_IGN"] = "SIGPIPE",
    ["sw_policy_init%("] = "the policy",
  }
  local where = {}
  for _, path in ipairs(fs.glob(SRC .. "/runtime/*.c")) do
    local n, file = 0, path:match("[^/]+$")
    for line in io.lines(path) do
      n = n + 1
      for pat, what in pairs(calls) do
        if line:find(pat) and not line:match("^%s*/?%*") then
          where[#where + 1] = file .. ": " .. what
          if file ~= "policy.c" and not (file == "main.c" and pat == "sw_policy_init%(") then
            error(path .. ":" .. n .. ": " .. what .. " is process-wide policy, set once " ..
              "at start-up by policy.c: " .. line)
          end
        end
      end
    end
  end
  table.sort(where)
  T.eq(where, {"main.c: the policy", "policy.c: SIGPIPE", "policy.c: malloc tuning",
    "policy.c: malloc tuning", "policy.c: rlimits", "policy.c: the policy",
    "policy.c: the subreaper", "policy.c: the umask", "policy.c: the umask"})
end)

T.test("main.c is the top: it defines nothing but main() for the other files", function()
  local n, exported = 0, {}
  for line in io.lines(SRC .. "/runtime/main.c") do
    n = n + 1
    -- a function definition at column 0 that is not static
    local name = line:match("^[%a_][%w_ %*]-[%s%*]([%a_][%w_]*)%(.*%)%s*{%s*$")
    if name and not line:match("^static ") then exported[#exported + 1] = name .. ":" .. n end
    if line:match("^[%a_][%w_ %*]-[%s%*][%a_][%w_]*%s*=") and not line:match("^static ") then
      exported[#exported + 1] = "a variable:" .. n
    end
  end
  T.eq(#exported, 1, table.concat(exported, ", "))
  T.match(exported[1], "^main:")
  -- and the embedded files are still there for Lua
  local core = require "slipway.core"
  T.match(core.embedded("slipway/proc.lua"), "^%-%-%- slipway%.proc")
  T.eq(core.embedded("slipway/no-such.lua"), nil)
  local list = core.embedded_list("slipway/drivers/")
  T.truthy(#list >= 2)
  for _, path in ipairs(list) do T.match(path, "^slipway/drivers/") end
end)

-- embedded modules load from bytecode compiled at build time
-- (runtime/tools/embed_bc.c); what errors and tracebacks say is the text's
T.test("embedded modules keep their chunk names and line numbers", function()
  local core = require "slipway.core"
  local args = require "slipway.args"
  local text = core.embedded("slipway/args.lua")
  local line = 0
  for l in (text .. "\n"):gmatch("([^\n]*)\n") do
    line = line + 1
    if l:match("^function M%.distance%(") then break end
  end
  local info = debug.getinfo(args.distance, "S")
  T.eq(info.source, "=[slipway]/slipway/args.lua")
  T.eq(info.linedefined, line)
  local ok, err = pcall(args.distance, nil, "x")
  T.falsy(ok)
  T.match(err, "^%[slipway%]/slipway/args%.lua:%d+: attempt to get length of a nil value")
end)

-- Lua is linked into the binary from Debian's static archive (CMakeLists.txt,
-- SLIPWAY_STATIC_LIBS): a C module from package.cpath must still find the
-- whole Lua API in the binary. Debian's lua-cjson module is such a module
-- (linked against no liblua; it needs lua_* from the host).
T.test("a C module from package.cpath finds the Lua API in the binary", function()
  local dir = "/usr/lib/x86_64-linux-gnu/lua/5.4"
  T.truthy(fs.exists(dir .. "/cjson.so"), "lua-cjson's module is a test dependency (vendor/deps-test.txt)")
  local out = proc.run({os.getenv("SLIPWAY_BIN"), "-e", [[
    package.cpath = ... .. "/?.so"
    local cjson = require "cjson"
    local t = cjson.decode('{"a":[1,2,3],"b":"x"}')
    io.write(cjson.encode({n = #t.a, b = t.b, sum = t.a[1] + t.a[2] + t.a[3]}))
  ]], dir}, {echo = false})
  local got = require("slipway.json").decode(out.stdout)
  T.eq(got.n, 3)
  T.eq(got.b, "x")
  T.eq(got.sum, 6)
end)

T.run()
