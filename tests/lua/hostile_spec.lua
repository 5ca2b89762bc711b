-- Hostile input (issue 19): what an attacker sends to slipway's HTTP server
-- (raw sockets from python3, all on 127.0.0.1), through slipway's HTTP
-- client (a real local server), and in process arguments. Each case
-- asserts the safe outcome: a 400, a misuse error, a redacted URL.
local T = require "slipway.testing"
local task = require "slipway.task"
local proc = require "slipway.proc"
local server = require "slipway.server"
local fs = require "slipway.fs"

local log = require "slipway.log"
log.configure{level = "warn"}

local PY = io.open("/usr/bin/python3") and "/usr/bin/python3" or "python3"
local tmp = fs.tempdir()
local nfile = 0

local function write_file(data, name)
  nfile = nfile + 1
  local path = tmp .. "/" .. (name or ("f" .. nfile))
  local f = assert(io.open(path, "wb"))
  f:write(data)
  f:close()
  return path
end

-- python3 script (text) with args; returns stdout (raises on failure)
local function python(script, ...)
  local path = write_file(script, "py" .. nfile .. ".py")
  local r = proc.run({PY, path, ...}, {check = false, timeout = 60, echo = false})
  if r.code ~= 0 then error("python failed: " .. r.stderr .. r.stdout, 2) end
  return r.stdout
end

local function wait_until(pred, what)
  local deadline = task.now() + 10
  while not pred() do
    if task.now() > deadline then error("timed out waiting for " .. what, 2) end
    task.sleep(0.01)
  end
end

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

T.run()
