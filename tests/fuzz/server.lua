-- Fuzz the HTTP server's request handling (runtime/server.c over
-- http-parser, issue 19): raw bytes from a real TCP client on 127.0.0.1
-- (fuzzhost.exchange) to a slipway.server in the same process whose
-- handler records every request it is given.
--
-- What must hold, whatever the bytes:
--   * the server answers and closes (a bad request gets an error status
--     and the connection is closed; an unfinished one times out: 408 or
--     a plain close), within seconds: no hang;
--   * every request a handler sees is framed consistently: a body only
--     with Content-Length (exactly that many bytes, taken verbatim from
--     the input) or Transfer-Encoding ending in chunked, never both;
--     header names are tokens (no "Transfer-Encoding : chunked" that the
--     parser honours while the handler sees no such header), no CR, LF
--     or NUL in a header value, a token method, a target without spaces;
--   * one 2xx answer per handled request, and nothing is served after an
--     error answer (no smuggled request behind a bad chunk terminator,
--     "5\r\nhelloXX0\r\n\r\n").
local server = require "slipway.server"
local fuzzhost = require "fuzzhost"
local F = require "fuzzlib"

local ERRORS = {[400] = true, [408] = true, [413] = true, [414] = true, [417] = true,
  [431] = true, [501] = true, [503] = true, [505] = true}

local srv, seen

local function start()
  seen = {}
  srv = server.serve{idle_timeout = 0.002, max_body = 4096, max_header = 2048,
    handler = function(req)
      seen[#seen + 1] = req
      return "ok"
    end}
end

local function is_token(s)
  return s ~= "" and not s:find("[^!#$%%&'*+%-.^_`|~%w]")
end

local function check_request(req, data)
  F.check(is_token(req.method), "method %q is not a token", req.method)
  F.check(not req.target:find("[%s%c]"), "target %q has spaces or controls", req.target)
  local h = req.headers
  for name, value in pairs(h) do
    F.check(is_token(name), "header name %q is not a token", name)
    F.check(not value:find("[\r\n%z]"), "header %s has CR, LF or NUL in %q", name, value)
  end
  local te, cl = h["transfer-encoding"], h["content-length"]
  F.check(not (te and cl), "both Transfer-Encoding (%q) and Content-Length (%q) were accepted",
    tostring(te), tostring(cl))
  if te then
    F.check(te:lower():match("chunked%s*$"),
      "Transfer-Encoding %q accepted, but its last coding is not chunked", te)
  elseif cl then
    F.check(cl:match("^%d+$"), "Content-Length %q accepted", cl)
    F.check(#req.body == tonumber(cl), "Content-Length %s but a body of %d bytes", cl, #req.body)
    F.check(data:find(req.body, 1, true), "the body is not a piece of what was sent")
  else
    F.check(req.body == "", "a body of %d bytes without Content-Length or Transfer-Encoding " ..
      "(framing the handler cannot see: %q)", #req.body, req.body:sub(1, 60))
  end
end

return function(data)
  if not srv then start() end
  seen = {}
  srv.handler = function(req)
    seen[#seen + 1] = req
    return "ok"
  end
  local got, err = fuzzhost.exchange(srv.port, data, 10000)
  F.check(err == nil, "the exchange did not end (%s): the server neither answered nor closed",
    tostring(err))
  if os.getenv("SLIPWAY_FUZZ_VERBOSE") then
    io.stderr:write(string.format("sent %d bytes; %d handled; answer:\n%s\n", #data, #seen, got))
  end
  local statuses = {}
  for code in got:gmatch("HTTP/1%.%d (%d%d%d) ") do statuses[#statuses + 1] = tonumber(code) end
  local ok200 = 0
  for i, code in ipairs(statuses) do
    if code == 200 or code == 100 then
      if code == 200 then ok200 = ok200 + 1 end
    else
      F.check(ERRORS[code], "unexpected status %d", code)
      F.check(i == #statuses, "status %d, then more answers on the same connection", code)
    end
  end
  F.check(ok200 == #seen, "%d requests handled but %d answered 200 (responses: %q)", #seen,
    ok200, got:sub(1, 300))
  for _, req in ipairs(seen) do check_request(req, data) end
end
