-- Hostile input (issue 19): what an attacker sends to slipway's HTTP server
-- (raw sockets from python3, all on 127.0.0.1), through slipway's HTTP
-- client (a real local server), and in process arguments. Each case
-- asserts the safe outcome: a 400, a misuse error, a redacted URL.
local T = require "slipway.testing"
local task = require "slipway.task"
local proc = require "slipway.proc"
local server = require "slipway.server"
local fs = require "slipway.fs"

local http = require "slipway.http"
local playbook = require "slipway.playbook"
local H = require "httptest"

-- Log records and the text written to the log (to look for secrets in).
local log = require "slipway.log"
local sync = require "sync"
local tmp_log = fs.tempdir() .. "/log.txt"
local log_stream = assert(io.open(tmp_log, "w"))
log.configure{level = "debug", stream = log_stream, format = "text", color = false}
local records = {}
log.add_sink(function(rec) records[#records + 1] = rec end)
local function log_text()
  log_stream:flush()
  return H.read(tmp_log)
end

local tmp = fs.tempdir()

-- python3 script (text) with args; returns stdout (raises on failure)
local function python(script, ...)
  local r = proc.run({"python3", "-c", script, ...}, {check = false, timeout = 60, echo = false})
  if r.code ~= 0 then error("python failed: " .. r.stderr .. r.stdout, 2) end
  return r.stdout
end

local wait_until = sync.wait_until

-- Send each message (Lua string) on its own connection, in pieces of
-- `step` bytes (all at once when nil); returns, per message, the status
-- lines of every response received until the server closed.
local SEND = [[
import re, socket, sys, time
port, step = int(sys.argv[1]), int(sys.argv[2])
for msg in sys.argv[3:]:
    msg = msg.encode("latin-1")
    s = socket.create_connection(("127.0.0.1", port), timeout=10)
    if step <= 0:
        s.sendall(msg)
    else:
        for i in range(0, len(msg), step):
            s.sendall(msg[i:i + step])
            time.sleep(0.001)
    data = b""
    while True:
        d = s.recv(65536)
        if not d: break
        data += d
    s.close()
    print(" | ".join(l.decode() for l in re.findall(rb"HTTP/1\.\d \d\d\d [^\r]*", data)))
]]
local function exchange(srv, msgs, step)
  local out = python(SEND, tostring(srv.port), tostring(step or 0), table.unpack(msgs))
  local lines = {}
  for l in out:gmatch("([^\n]*)\n") do lines[#lines + 1] = l end
  return lines
end

local function recording_server()
  local seen = {}
  local srv = server.serve{handler = function(req)
    seen[#seen + 1] = req.method .. " " .. req.path .. " [" .. req.body .. "]"
    return "ok"
  end}
  return srv, seen
end

local NEXT = "GET /next HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"
local BAD_400 = "HTTP/1.1 400 Bad Request"

T.test("whitespace before a header's colon, or a name that is no token, gets 400", function()
  local srv <close>, seen = recording_server()
  local res = exchange(srv, {
    "POST /te HTTP/1.1\r\nHost: x\r\nTransfer-Encoding : chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n" .. NEXT,
    "POST /cl HTTP/1.1\r\nHost: x\r\nContent-Length : 5\r\n\r\nhello" .. NEXT,
    "GET /tab HTTP/1.1\r\nHost\t: x\r\n\r\n" .. NEXT,
    "GET /sp HTTP/1.1\r\nX A: 1\r\n\r\n" .. NEXT,
    "GET /sep HTTP/1.1\r\nX(A): 1\r\n\r\n" .. NEXT,
  })
  for i = 1, 5 do T.eq(res[i], BAD_400, "message " .. i) end
  T.eq(#seen, 0, "no handler saw any of them, nor the pipelined request after one")
  -- the same names written correctly are served
  res = exchange(srv, {
    "POST /te HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n" .. NEXT,
    "POST /cl HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\nX-Odd!#$%&'*+.^_`|~: 1\r\n\r\nhello" .. NEXT,
  })
  T.eq(res, {"HTTP/1.1 200 OK | HTTP/1.1 200 OK", "HTTP/1.1 200 OK | HTTP/1.1 200 OK"})
  T.eq(seen, {"POST /te [hello]", "GET /next []", "POST /cl [hello]", "GET /next []"})
end)

T.test("controls in the target or a header value, or a request line without a version: 400", function()
  -- found by tests/fuzz/server.lua: the lenient parser took a TAB or FF in
  -- the target and a line with no version (HTTP/0.9, yet with headers)
  local srv <close>, seen = recording_server()
  local res = exchange(srv, {
    "GET /a\tb HTTP/1.1\r\nHost: x\r\n\r\n" .. NEXT,
    "GET /a\fb HTTP/1.1\r\nHost: x\r\n\r\n" .. NEXT,
    "GET /ab\r\nHost: x\r\nContent-Length: 3\r\n\r\nabc" .. NEXT,
    "GET /ab\nHost: x\n\n" .. NEXT,
    "GET /x HTTP/2.0\r\nHost: x\r\n\r\n" .. NEXT,
    "GET /ctl HTTP/1.1\r\nHost:\1 x\r\n\r\n" .. NEXT,   -- controls in a header value (NUL:
    -- tests/fuzz/corpus/server/regress-nul-in-header-value.http; argv cannot hold one)
    "GET /esc HTTP/1.1\r\nHost: x\r\nX-A: a\27[2Kb\r\n\r\n" .. NEXT,
  })
  T.eq(res, {BAD_400, BAD_400, BAD_400, BAD_400, "HTTP/1.1 505 HTTP Version Not Supported",
    BAD_400, BAD_400})
  T.eq(#seen, 0, "no handler saw any of them, nor the request after one")
  -- a percent-encoded target, bytes above 127 and HTTP/1.0 still pass
  -- ("\195\169" reaches python as U+00E9, which it sends as the byte 233)
  res = exchange(srv, {"GET /a%09b/\195\169 HTTP/1.1\r\nHost: x\r\n\r\n" .. NEXT,
    "GET /old HTTP/1.0\r\n\r\n"})
  T.eq(res, {"HTTP/1.1 200 OK | HTTP/1.1 200 OK", "HTTP/1.1 200 OK"})
  T.eq(seen, {"GET /a\tb/\233 []", "GET /next []", "GET /old []"})
  -- a header value reaches the handler without the whitespace after it
  -- (the fuzz harness saw Content-Length "1 ")
  local headers = {}
  srv.handler = function(req) headers[#headers + 1] = req.headers; return "ok" end
  res = exchange(srv, {"POST /w HTTP/1.1\r\nHost: x \r\nContent-Length: 2  \r\n" ..
    "X-T:  a\tb \r\nConnection: close\r\n\r\nok"})
  T.eq(res, {"HTTP/1.1 200 OK"})
  T.eq({headers[1]["content-length"], headers[1]["x-t"], headers[1].host}, {"2", "a\tb", "x"})
end)

T.test("trailer fields are checked but never merged into the headers a handler sees", function()
  -- found by tests/fuzz/server.lua: a Content-Length in the trailers of a
  -- chunked request reached the handler beside Transfer-Encoding: chunked
  local CHUNKED = "POST /c HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n"
  local got = {}
  local srv <close> = server.serve{handler = function(req)
    got[#got + 1] = {req.headers["content-length"], req.headers.host, req.headers["x-t"],
      req.headers["transfer-encoding"], req.body}
    return "ok"
  end}
  local res = exchange(srv, {
    CHUNKED .. "5\r\nhello\r\n0\r\nContent-Length: 2\r\nHost: evil\r\nX-T: 1\r\n\r\n" .. NEXT,
    CHUNKED .. "5\r\nhello\r\n0\r\nX-T : 1\r\n\r\n" .. NEXT,
    CHUNKED .. "5\r\nhello\r\n0\r\nX-T: \1\r\n\r\n" .. NEXT,
  })
  T.eq(res, {"HTTP/1.1 200 OK | HTTP/1.1 200 OK", BAD_400, BAD_400})
  T.eq(got[1], {nil, "x", nil, "chunked", "hello"})
  T.eq(#got, 2, "the next request only after the good one")
end)

local CHUNKED = "POST /c HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n"

T.test("a chunked body's line ends are checked: no bytes in place of CR LF", function()
  local srv <close>, seen = recording_server()
  local bad = {
    CHUNKED .. "5\r\nhelloXX0\r\n\r\n" .. NEXT,          -- after a chunk's data
    CHUNKED .. "5\r\nhello\rX0\r\n\r\n" .. NEXT,
    CHUNKED .. "5\r\nhelloX\n0\r\n\r\n" .. NEXT,
    CHUNKED .. "5\rXhello\r\n0\r\n\r\n" .. NEXT,          -- a chunk-size line
    CHUNKED .. "5\r\nhello\r\n0\rX\r\n" .. NEXT,          -- the last chunk's
    CHUNKED .. "5\r\nhello\r\n0\r\n\rX" .. NEXT,          -- the end of the trailers
    "POST /c HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\rX5\r\nhello\r\n0\r\n\r\n",
    "GET /h HTTP/1.1\r\nHost: x\r\n\rX" .. NEXT,            -- the end of a head
    "POST /l HTTP/1.1\r\nHost: x\r\nContent-Length: 2\r\n\rXab" .. NEXT,
  }
  for _, step in ipairs{0, 1, 3} do  -- at once, and cut at every byte
    local res = exchange(srv, bad, step)
    for i = 1, #bad do T.eq(res[i], BAD_400, "message " .. i .. " in pieces of " .. step) end
  end
  T.eq(#seen, 0, "no handler ran, and the request after the bad one was not served")
  -- well-framed bodies with CRs and LFs in their data, chunk extensions
  -- and trailers still pass, however they are cut
  local good = {
    CHUNKED .. "2\r\n\r\r\r\n3;ext=1\r\n\n\r\n\r\n0\r\nX-Trailer: 1\r\n\r\n" .. NEXT,
    "POST /l HTTP/1.1\r\nHost: x\r\nContent-Length: 2\r\n\r\n\r\r" .. NEXT,
  }
  for _, step in ipairs{0, 1, 2, 5} do
    seen = {}
    srv.handler = function(req)
      seen[#seen + 1] = req.method .. " " .. req.path .. " [" .. req.body .. "]"
      return "ok"
    end
    local res = exchange(srv, good, step)
    T.eq(res, {"HTTP/1.1 200 OK | HTTP/1.1 200 OK", "HTTP/1.1 200 OK | HTTP/1.1 200 OK"})
    T.eq(seen, {"POST /c [\r\r\n\r\n]", "GET /next []", "POST /l [\r\r]", "GET /next []"})
  end
end)

T.test("a directory redirect never names another host", function()
  local root = fs.tempdir()
  fs.mkdir(root .. "/sub")
  fs.write(root .. "/sub/index.html", "in sub\n")
  local srv <close> = server.serve_files(root)
  local out = python([[
import socket, sys
for target in sys.argv[2:]:
    s = socket.create_connection(("127.0.0.1", int(sys.argv[1])), timeout=10)
    s.sendall(b"GET " + target.encode() + b" HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
    data = b""
    while True:
        d = s.recv(65536)
        if not d: break
        data += d
    head = data.split(b"\r\n\r\n")[0].split(b"\r\n")
    loc = [h for h in head if h.lower().startswith(b"location:")]
    print(head[0].decode(), loc[0].decode() if loc else "-")
]], tostring(srv.port), "//sub", "///sub?x=1", "/./sub", "http://evil.example/sub",
    "/%2Fsub", "/sub")
  T.eq(out, table.concat({
    "HTTP/1.1 301 Moved Permanently location: /sub/",
    "HTTP/1.1 301 Moved Permanently location: /sub/?x=1",
    "HTTP/1.1 301 Moved Permanently location: /sub/",
    "HTTP/1.1 301 Moved Permanently location: /sub/",
    "HTTP/1.1 301 Moved Permanently location: /sub/",
    "HTTP/1.1 301 Moved Permanently location: /sub/",
  }, "\n") .. "\n")
end)

T.test("max_connections: the client over the cap gets 503, later ones are served", function()
  T.eq(select(2, pcall(server.serve, {max_connections = 0, handler = print})):match(
    "max_connections.-positive integer") ~= nil, true)
  local srv <close> = server.serve{max_connections = 3, handler = function() return "ok" end}
  local out = python([[
import socket, sys
port = int(sys.argv[1])
def get(s):
    s.sendall(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
    data = b""
    while b"\r\n\r\n" not in data or not data.endswith(b"ok"):
        d = s.recv(65536)
        if not d: break
        data += d
    return data
held = []
for i in range(3):
    s = socket.create_connection(("127.0.0.1", port), timeout=10)
    print(get(s).split(b"\r\n")[0].decode())
    held.append(s)
s = socket.create_connection(("127.0.0.1", port), timeout=10)
data = get(s)
print(data.split(b"\r\n")[0].decode(), b"Connection: close" in data)
print(s.recv(100) == b"")  # and the server closed it
for s in held: s.close()
]], tostring(srv.port))
  T.eq(out, "HTTP/1.1 200 OK\nHTTP/1.1 200 OK\nHTTP/1.1 200 OK\n"
    .. "HTTP/1.1 503 Service Unavailable True\nTrue\n")
  T.eq(srv:stats().refused, 1)
  wait_until(function() return srv:stats().connections == 0 end, "the connections to close")
  local r = proc.run({"curl", "-sS", "--max-time", "10", srv:url("/")}, {echo = false})
  T.eq(r.stdout, "ok")
end)

-- ---- the client -----------------------------------------------------------

T.test("a method that is not a token is a misuse error; nothing is sent", function()
  local srv <close>, seen = recording_server()
  for _, m in ipairs{"GET /x HTTP/1.1\r\nX-I: 1\r\n\r\nGET", "GET /evil", "GE T", "", "G\0ET",
                     "GET\r\n"} do
    local err = T.raises(function() http.request{method = m, url = srv:url("/")} end,
      "http: method must be a token %(RFC 9110")
    T.eq(type(err), "string", "a misuse error, not a failure of the world")
    T.match(err, "hostile_spec.lua:%d+: ", "it names the caller's line")
  end
  T.raises(function() http.request{method = 42, url = srv:url("/")} end, "method must be a token")
  T.eq(#seen, 0, "nothing reached the server")
  T.eq(http.request{method = "patch", url = srv:url("/p")}.status, 200)
  T.eq(http.request{method = "PROPFIND", url = srv:url("/q")}.status, 200)
  T.eq(seen, {"PATCH /p []", "PROPFIND /q []"})
end)

T.test("header names must be tokens; values hold no CR, LF or NUL", function()
  local srv <close>, seen = recording_server()
  for _, name in ipairs{"X A", "X:Y", "X\r\nY", "", "X(1)", "X\0"} do
    T.raises(function() http.get(srv:url("/"), {headers = {[name] = "1"}}) end,
      "http: header name .* is not a token")
  end
  for _, value in ipairs{"a\r\nX-Injected: 1", "a\nb", "a\0b"} do
    T.raises(function() http.get(srv:url("/"), {headers = {["X-V"] = value}}) end,
      "http: header X%-V contains a line break or NUL")
  end
  T.raises(function() http.get(srv:url("/\r\nX: 1")) end, "url contains a line break or NUL")
  T.raises(function() http.get(srv:url("/a\0b")) end, "url contains a line break or NUL")
  T.eq(#seen, 0, "nothing reached the server")
  T.eq(http.get(srv:url("/ok"), {headers = {["X-Odd!#$%&'*+.^_`|~"] = "v: \t ok"}}).status, 200)
end)

T.test("a password in a URL is shown as *** in errors, res.url, the log and the journal",
function()
  local srv <close> = server.serve{handler = function(req)
    if req.path == "/missing" then return {status = 404, body = "no"} end
    if req.path == "/moved" then
      return {status = 302, headers = {location = "http://u2:Moved4Secret@127.0.0.1:"
        .. req.headers.host:match(":(%d+)") .. "/ok"}}
    end
    return "ok " .. (req.headers.authorization or "-")
  end}
  local base = "http://deployer:Hunter2Secret@127.0.0.1:" .. srv.port
  local res = http.get(base .. "/ok")
  T.eq(res.body, "ok Basic " .. require("slipway.codec").base64("deployer:Hunter2Secret"),
    "the credentials were sent")
  T.eq(res.url, "http://deployer:***@127.0.0.1:" .. srv.port .. "/ok")
  local err = T.raises(function() http.get(base .. "/missing", {check = true}) end)
  T.eq(err.url, "http://deployer:***@127.0.0.1:" .. srv.port .. "/missing")
  T.match(tostring(err), "GET http://deployer:%*%*%*@127%.0%.0%.1:%d+/missing: HTTP 404")
  err = T.raises(function() http.get("http://deployer:Hunter2Secret@127.0.0.1:1/", {retries = 0}) end)
  T.eq(err.code, "connect")
  T.match(tostring(err), "http://deployer:%*%*%*@127%.0%.0%.1:1/")
  -- a redirect to a URL with another password
  res = http.get(base .. "/moved")
  T.eq(res.url, "http://u2:***@127.0.0.1:" .. srv.port .. "/ok")
  T.eq(http.redact_url("https://a:b:c@h/p?q=x@y"), "https://a:***@h/p?q=x@y")
  T.eq(http.redact_url("http://only-user@h/"), "http://only-user@h/")
  -- the journal of a playbook that makes a request (with a password not
  -- seen before: the journal records the URL before the request is made)
  local root = fs.tempdir()
  local r = playbook.run({name = "t", steps = {
    {name = "call", run = function(ctx)
      ctx:get("http://deployer:Journal9Secret@127.0.0.1:" .. srv.port .. "/ok")
    end},
  }}, {root = root})
  T.truthy(r.ok)
  local journal = H.read(r.ctx.journal.path)
  T.match(journal, "deployer:%*%*%*@127", "the journal has the URL")
  T.nomatch(journal, "Journal9Secret", "the journal has no password")
  -- a request only planned (--dry-run): the URL is recorded and logged,
  -- and the request never made
  r = playbook.run({name = "t", steps = {
    {name = "plan", run = function(ctx)
      ctx:request{method = "POST", url = "http://deployer:Planned7Secret@127.0.0.1:1/x"}
    end},
  }}, {root = root, dry_run = true})
  T.truthy(r.ok)
  T.nomatch(T.show(r.ctx.journal.records), "Planned7Secret",
    "the dry run's (in-memory) journal has no password")
  T.match(log_text(), "would send POST http://deployer:%*%*%*@127%.0%.0%.1:1/x")
  log.info("url %s", base)  -- and any later log line masks it too
  local text = log_text()
  T.match(text, "deployer:%*%*%*@127")
  T.nomatch(text, "Hunter2Secret")
  T.nomatch(text, "Moved4Secret")
  T.nomatch(text, "Journal9Secret")
  T.nomatch(text, "Planned7Secret")
  for _, rec in ipairs(records) do T.nomatch(T.show(rec), "Hunter2Secret") end
end)

T.test("http.defaults.insecure = true is honoured, with the per-request warning", function()
  local dir = fs.tempdir()
  local cert, key = H.selfsigned(dir)
  local tls = H.fixture{tls = {cert, key}}
  local ok, err = pcall(function()
    T.eq(T.raises(function() http.get(tls.url .. "/json", {retries = 0}) end).code, "tls")
    http.defaults.insecure = true
    local before = #records
    T.eq(http.get(tls.url .. "/json").status, 200)
    local warned = false
    for i = before + 1, #records do
      if records[i].level == "warn" and records[i].message:find("TLS verification is off", 1, true) then
        warned = true
      end
    end
    T.truthy(warned, "a warning was logged")
    -- a request may still turn verification back on
    T.eq(T.raises(function() http.get(tls.url .. "/json", {insecure = false, retries = 0}) end).code,
      "tls")
  end)
  http.defaults.insecure = false
  tls:stop()
  if not ok then error(err, 0) end
end)

-- ---- processes --------------------------------------------------------------

T.test("a NUL byte in argv, the environment, cwd or a file path is a misuse error", function()
  local out = tmp .. "/nul-ran"
  local cases = {
    {{"sh", "-c", 'printf "<%s>" "$@" > ' .. out, "sh", "keep.tmp\0.bak"}, {},
      "bad argument: argv%[5%] contains a NUL byte"},
    {{"sh", "-c", "echo ran > " .. out}, {env = {X = "a\0b"}},
      "bad argument: opts%.env%.X contains a NUL byte"},
    {{"sh", "-c", "echo ran > " .. out}, {env = {["X\0Y"] = "1"}},
      'opts%.env: bad variable name "X\\0Y"'},
    {{"sh", "-c", "echo ran > " .. out}, {cwd = "/tmp\0/etc"},
      "bad argument: opts%.cwd contains a NUL byte"},
    {{"sh", "-c", "echo ran"}, {stdout = {file = out .. "\0x"}},
      "bad argument: opts%.stdout%.file contains a NUL byte"},
    {{"cat"}, {stdin = {file = "/etc/hostname\0x"}},
      "bad argument: opts%.stdin%.file contains a NUL byte"},
  }
  for i, c in ipairs(cases) do
    c[2].echo = false
    local err = T.raises(function() proc.run(c[1], c[2]) end, c[3], "case " .. i)
    T.eq(type(err), "string", "a misuse error")
    T.match(err, "hostile_spec.lua:%d+: proc%.run: ", "names the caller's line and the function")
    T.raises(function() proc.spawn(c[1], c[2]) end, c[3], "spawn, case " .. i)
  end
  T.falsy(fs.exists(out), "nothing ran")
  -- the C core refuses them too, whoever calls it
  T.raises(function()
    require("slipway.proc.core").spawn{path = "/bin/echo", argv = {"echo", "a\0b"}}
  end, "proc: argv%[2%] contains a NUL byte")
end)

T.test("an executable file that is no binary and has no #! line: ENOEXEC, named", function()
  local script = tmp .. "/no-shebang"
  H.write(script, "echo hello\n")
  T.truthy(proc.run({"chmod", "+x", script}, {echo = false}).code == 0)
  local err = T.raises(function() proc.run({script}, {echo = false}) end)
  T.eq(err.code, "ENOEXEC")
  T.match(err.message, "proc%.run: cannot run .*no%-shebang: exec format error: not a binary and no #! line")
  T.nomatch(err.message, "Unknown system error")
end)

T.run()
