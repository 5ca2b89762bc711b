-- Secrets: once registered (env.secret, log.secret, core.secret) a value is
-- written as *** on every output path slipway has. Each test runs a real
-- slipway and checks both that the output is there and that the secret is not.
local T = require "slipway.testing"
local fs = require "slipway.fs"
local json = require "slipway.json"
local sw = require "slipway.core"
local cmd = require "slipway_cmd"

local SECRET = "s3cr3t-Tok3n-value"
local dir = fs.tempdir()

-- run `code` with SECRET registered from the environment (as a playbook would)
local function run(code, args, extra_env)
  local path = dir .. "/script" .. math.random(1, 1e9) .. ".lua"
  fs.write(path, 'local TOKEN = require("slipway.env").secret("DEPLOY_TOKEN")\n' .. code)
  local env = {DEPLOY_TOKEN = SECRET}
  for k, v in pairs(extra_env or {}) do env[k] = v end
  local argv = {}
  for _, a in ipairs(args or {}) do argv[#argv + 1] = a end
  argv[#argv + 1] = path
  local r = cmd.run(argv, {env = env})
  r.all = r.stdout .. r.stderr
  return r
end

local function no_secret(r)
  T.nomatch(r.all, SECRET, "the secret leaked")
  T.nomatch(r.all, "s3cr3t", "part of the secret leaked")
end

T.test("print", function()
  local r = run('print("token:", TOKEN, {}, 1)')
  T.eq(r.code, 0, r.stderr)
  T.match(r.stdout, "^token:\t%*%*%*\ttable: 0x%x+\t1\n$")
  no_secret(r)
end)

T.test("log, text and json, message and fields", function()
  local code = [[
    local log = require "slipway.log"
    log.warn("using %s", TOKEN, {header = "Authorization: Bearer " .. TOKEN})
  ]]
  local r = run(code)
  T.match(r.stderr, "WARN  using %*%*%* header=\"Authorization: Bearer %*%*%*\"")
  no_secret(r)
  r = run(code, {"--log-format=json"})
  local rec = json.decode(r.stderr)
  T.eq(rec.message, "using ***")
  T.eq(rec.header, "Authorization: Bearer ***")
  no_secret(r)
end)

T.test("log.secret registers a value that was never in the environment", function()
  local r = run([[
    local log = require "slipway.log"
    local pw = log.secret("generated-" .. "pw-1234")
    print(pw)
    log.info("pw=%s", pw)
    error("could not use " .. pw)
  ]])
  T.eq(r.code, 1)
  T.nomatch(r.all, "generated%-pw")
  T.match(r.stdout, "^%*%*%*\n$")
  T.match(r.stderr, "pw=%*%*%*")
  T.match(r.stderr, "could not use %*%*%*")
end)

T.test("an uncaught error of the main task: message and traceback", function()
  local r = run([[
    local function deploy(t) error("helm failed with token " .. t) end
    deploy(TOKEN)
  ]])
  T.eq(r.code, 1)
  T.match(r.stderr, "^slipway: [^\n]*script%d+%.lua:2: helm failed with token %*%*%*\n")
  T.match(r.stderr, "stack traceback:")
  T.match(r.stderr, "in local 'deploy'")
  no_secret(r)
end)

T.test("an uncaught structured error", function()
  local r = run([[
    require("slipway.core").raise("http", "POST https://x/?token=" .. TOKEN .. " failed")
  ]])
  T.eq(r.code, 1)
  T.match(r.stderr, "POST https://x/%?token=%*%*%* failed")
  no_secret(r)
end)

T.test("a failed child task nobody waited for", function()
  local r = run([[
    local task = require "slipway.task"
    task.spawn(function() error("child saw " .. TOKEN) end)
    task.sleep(0.01)
    print("main done")
  ]])
  T.eq(r.code, 0, r.stderr)
  T.match(r.stdout, "main done")
  T.match(r.stderr, "failed and nobody waited for it")
  T.match(r.stderr, "child saw %*%*%*")
  no_secret(r)
end)

T.test("a child's error re-raised by join in the main task", function()
  local r = run([[
    local task = require "slipway.task"
    task.spawn(function() error({message = "table error " .. TOKEN}) end):join()
  ]])
  T.eq(r.code, 1)
  T.match(r.stderr, "table error %*%*%*")
  no_secret(r)
end)

T.test("structured errors built in Lua and raised by fs", function()
  local r = run([[
    local sw = require "slipway.core"
    local fs = require "slipway.fs"
    print(sw.error("x", "msg " .. TOKEN).message)
    local ok, e = pcall(fs.read, "/nonexistent/" .. TOKEN)
    print(e.message)
    print(tostring(e))
  ]])
  T.eq(r.code, 0, r.stderr)
  T.match(r.stdout, "^msg %*%*%*\n[^\n]+: fs%.read: cannot read /nonexistent/%*%*%*: No such file")
  no_secret(r)
end)

T.test("json written through fs: append (journals) and write with redact", function()
  local out = dir .. "/out" .. math.random(1, 1e9)
  fs.mkdir(out)
  local path = dir .. "/jw.lua"
  fs.write(path, 'local TOKEN = require("slipway.env").secret("DEPLOY_TOKEN")\n' .. [[
    local fs = require "slipway.fs"
    local json = require "slipway.json"
    local rec = {step = "annotate", headers = {Authorization = "Bearer " .. TOKEN}}
    fs.append(arg[1] .. "/journal.jsonl", json.encode(rec) .. "\n")
    fs.write(arg[1] .. "/report.json", json.encode(rec, {indent = 2}), {redact = true})
    json.write(arg[1] .. "/state.json", rec, {redact = true})
  ]])
  local r = cmd.run({path, out}, {env = {DEPLOY_TOKEN = SECRET}})
  T.eq(r.code, 0, r.stderr)
  for _, name in ipairs{"journal.jsonl", "report.json", "state.json"} do
    local text = fs.read(out .. "/" .. name)
    T.nomatch(text, "s3cr3t", name)
    T.eq(json.decode(text).headers.Authorization, "Bearer ***", name)
  end
end)

T.test("commands echoed and named in errors by slipway.proc", function()
  local r = run([[
    local proc = require "slipway.proc"
    local res = proc.run({"echo", "--token=" .. TOKEN})
    io.write(#res.stdout, "\n")   -- the child really got the value (19 + 8 + 1)
    proc.run({"sh", "-c", "echo failing with $0 >&2; exit 3", TOKEN})
  ]])
  T.eq(r.code, 1)
  T.match(r.stdout, "^27\n$")
  T.match(r.stderr, "%$ echo %-%-token=%*%*%*")
  T.match(r.stderr, "failing with %*%*%*")
  no_secret(r)
end)

T.test("a secret inside another secret is masked whole; order does not matter", function()
  local r = run([[
    local sw = require "slipway.core"
    sw.secret("abcdef")
    sw.secret("xxabcdefxx")
    print("xxabcdefxx abcdef " .. TOKEN .. TOKEN)
  ]])
  T.eq(r.stdout, "*** *** ******\n")
end)

T.test("a secret shorter than 6 bytes is masked where it is a whole string only", function()
  local r = run([[
    local sw = require "slipway.core"
    for _, s in ipairs{"ok", "true", "1", '"', ":"} do sw.secret(s) end
    print(sw.redact("ok"), sw.redact("true"), sw.redact('"'), sw.redact("1"))
    print(sw.redact('{"ok":true,"n":1}'), sw.redact("looks ok: 1 " .. TOKEN))
  ]])
  T.eq(r.code, 0, r.stderr)
  T.eq(r.stdout, '***\t***\t***\t***\n{"ok":true,"n":1}\tlooks ok: 1 ***\n')
end)

-- no piece of SECRET of 4 bytes or more at the start or the end
local function no_piece(text, what)
  for n = 4, #SECRET do
    T.falsy(text:find(SECRET:sub(1, n), 1, true), what .. ": the secret's head (" .. n .. ")")
    T.falsy(text:find(SECRET:sub(-n), 1, true), what .. ": the secret's end (" .. n .. ")")
  end
end

T.test("a secret at the 400-byte cut of a stderr line is masked, not cut", function()
  local r = run([[
    local proc = require "slipway.proc"
    -- the secret starts at byte 393 of the line: the cut at 400 falls in it
    local ok, e = pcall(proc.run, {"sh", "-c", 'printf "%s%s tail\\n" "$1" "$2" >&2; exit 1',
      "sh", string.rep("0", 392), TOKEN}, {echo = false})
    print(e.message)
    print(e.stderr_tail)
  ]])
  T.eq(r.code, 0, r.stderr)
  T.match(r.stdout, "command failed")
  T.match(r.stdout, "0000%*%*%*")
  no_piece(r.all, "stderr tail")
end)

T.test("a secret across max_output's drop point: neither part shows", function()
  local r = run([[
    local proc = require "slipway.proc"
    -- h * a, the secret, t * b: 1000 bytes kept of 1300 (head 500, tail 500)
    local function output(a, b)
      return proc.run({"sh", "-c", 'printf "%s%s%s" "$1" "$2" "$3"', "sh", string.rep("h", a),
        TOKEN, string.rep("t", b)}, {max_output = 1000, echo = false})
    end
    local res = output(490, 792)  -- the head ends inside the secret
    print(res.stdout_dropped)
    print(res.stdout)
    print(output(792, 490).stdout)  -- the tail starts inside it
  ]])
  T.eq(r.code, 0, r.stderr)
  T.match(r.stdout, "^300\n")
  T.match(r.stdout, "h%*%*%*\n%[%.%.%. 300 bytes dropped %.%.%.%]\nttt")
  T.match(r.stdout, "dropped %.%.%.%]\n%*%*%*ttt")
  no_piece(r.all, "max_output")
end)

T.test("a secret with a newline: each line is masked when output is logged line by line", function()
  local r = run([[
    local proc = require "slipway.proc"
    local log = require "slipway.log"
    local pem = log.secret("-----BEGIN KEY-----\nMIIsecretline1xyz\nMIIsecretline2xyz\n-----END KEY-----")
    proc.run({"printf", "%s\\n", pem}, {echo = false, stdout = function(l) log.info("out: %s", l) end})
  ]])
  T.eq(r.code, 0, r.stderr)
  T.match(r.stderr, "out: %*%*%*")
  T.nomatch(r.stderr, "secretline")
end)

T.test("a secret slipway URL-encodes itself is masked in that form too", function()
  local pw = "p@ss w/rd+s3cr3t&x"
  local r = run(string.format([[
    local http = require "slipway.http"
    local gha = require "slipway.gha"
    local pw = require("slipway.log").secret(%q)
    -- a port nothing listens on (a server's, closed): the request fails
    local server = require("slipway.server").serve{host = "127.0.0.1", port = 0, log = false,
      handler = function() return "" end}
    local port = server.port
    server:close()
    local ok, e = pcall(http.get, "http://127.0.0.1:" .. port .. "/x",
      {query = {token = pw}, retries = 0})
    assert(not ok)
    print(e.message)
    print(e.url)
    -- the URL as a playbook might pass it on; Actions escaping encodes it again
    gha.annotate("error", "GET /x?token=" .. http.urlencode(pw), {title = http.urlencode(pw)})
  ]], pw), {}, {GITHUB_ACTIONS = "true"})
  T.eq(r.code, 0, r.stderr)
  T.match(r.stdout, "token=%*%*%*: cannot connect")
  T.match(r.stdout, "\nhttp://127%.0%.0%.1:%d+/x%?token=%*%*%*\n")
  T.match(r.stderr, "::error title=%*%*%*::GET /x%?token=%*%*%*")
  T.nomatch(r.all, "s3cr3t")
end)

T.test("in this process too: redact and error messages", function()
  sw.secret("in-process-secret-42")
  T.eq(sw.redact("a in-process-secret-42 b"), "a *** b")
  local e = sw.error("code", "has in-process-secret-42")
  T.eq(e.message, "has ***")
  local err = T.raises(function() fs.read(dir .. "/in-process-secret-42") end)
  T.nomatch(err.message, "in%-process")
end)

T.run()
