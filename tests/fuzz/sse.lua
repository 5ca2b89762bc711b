-- Fuzz the server-sent events parser of slipway.http (http.stream in
-- "sse" mode): the input (after its first byte) is served as a
-- text/event-stream body by a slipway.server on 127.0.0.1, written in
-- pieces of 1 + (first byte % 16) bytes, and read back with http.stream.
-- The events must be exactly those of a reference reading of the whole
-- body by the rules of the WHATWG "event stream interpretation": lines end
-- at CR LF, LF or CR; a leading BOM is skipped; "event", "data", "id"
-- (ignored when it holds a NUL) and "retry" (digits only) fields; an
-- event is dispatched at an empty line when it has data, with the type
-- "message" when none (or an empty one) was given; an unfinished event at
-- the end is dropped. However the body is cut, the same events arrive.
local server = require "slipway.server"
local http = require "slipway.http"
local F = require "fuzzlib"

local srv, body, piece

local function reference(text)
  local events, data, etype, last_id, retry = {}, nil, "", nil, nil
  text = text:gsub("^\239\187\191", "")
  local pos, n = 1, #text
  while pos <= n do
    local s, e = text:find("\r\n", pos, true)
    local cr, lf = text:find("\r", pos, true), text:find("\n", pos, true)
    local stop = math.min(cr or n + 1, lf or n + 1)
    if stop > n then break end  -- an unfinished last line: never a complete event
    local line = text:sub(pos, stop - 1)
    pos = (s == stop) and e + 1 or stop + 1
    if line == "" then
      if data then
        events[#events + 1] = {event = etype ~= "" and etype or "message",
          data = table.concat(data, "\n"), id = last_id, retry = retry}
      end
      data, etype, retry = nil, "", nil
    elseif line:sub(1, 1) ~= ":" then
      local field, value = line, ""
      local colon = line:find(":", 1, true)
      if colon then
        field, value = line:sub(1, colon - 1), line:sub(colon + 1)
        if value:sub(1, 1) == " " then value = value:sub(2) end
      end
      if field == "data" then
        data = data or {}
        data[#data + 1] = value
      elseif field == "event" then etype = value
      elseif field == "id" then
        if not value:find("\0", 1, true) then last_id = value end
      elseif field == "retry" then
        if value:match("^%d+$") then retry = tonumber(value) end
      end
    end
  end
  return events
end

local function start()
  srv = server.serve{handler = function()
    return {status = 200, headers = {["content-type"] = "text/event-stream"},
      stream = function(write)
        for i = 1, #body, piece do write(body:sub(i, i + piece - 1)) end
      end}
  end}
end

return function(data)
  if #data < 1 then return end
  if not srv then start() end
  piece = 1 + data:byte(1) % 16
  body = data:sub(2)
  local want = reference(body)
  local got = {}
  local ok, err = F.try("http.stream", function()
    for ev in http.stream(srv:url("/events"), {retries = 0, timeout = 20}) do
      got[#got + 1] = {event = ev.event, data = ev.data, id = ev.id, retry = ev.retry}
    end
  end)
  F.check(ok, "http.stream failed on a served stream: %s", tostring(err))
  local same, why = F.equal(want, got, {nomt = true})
  if not same then
    F.fail("events differ from the reference reading: %s\nbody: %q", why, body)
  end
end
