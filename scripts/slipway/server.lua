--- slipway.server: an HTTP/1.1 server for example services, fake chart
-- repositories and registries, and tests. (Also re-exported by slipway.http
-- as http.serve / http.serve_files.)
--
--   local server = require "slipway.server"
--   local srv <close> = server.serve{
--     port = 0,                              -- any free port (the default)
--     handler = function(req)
--       -- req.method, req.path, req.query, req.headers, req.body, ...
--       return {status = 200, headers = {["content-type"] = "text/plain"},
--               body = "hello " .. (req.query.name or "world") .. "\n"}
--     end,
--   }
--   print(srv:url("/?name=you"))             -- http://127.0.0.1:40123/?name=you
--   srv:close()
--
-- Every request runs in its own task, so a handler may wait (task.sleep,
-- proc.run, http.get) while other requests are served. See docs/server.md.
local codec = require "slipway.codec"
local core = require "slipway.server.core"
local task = require "slipway.task"
local sw = require "slipway.core"

local M = {}

local log_mod = require "slipway.log"
local json_mod = require "slipway.json"
local function log(level, fmt, ...) log_mod[level](fmt, ...) end
local function json_encode(v) return json_mod.encode(v) end

local function is_cancel(e)
  return type(e) == "table" and e.code == "cancelled"
end

local function on_error(e)
  if is_cancel(e) then return e end
  return {failure = e, traceback = debug.traceback(tostring(e), 2)}
end

local function closed_error()
  return sw.error("closed", "the client closed the connection")
end

-- Send the handler's answer.
local function send(ex, req, res)
  local tr = type(res)
  if tr == "string" then
    core.respond(ex, 200, nil, res)
    return 200
  end
  if tr ~= "table" then
    error("the handler must return a table {status=, headers=, body=} or a string, got "
      .. tr, 0)
  end
  local status = res.status or 200
  if math.type(status) ~= "integer" then
    error("the response status must be an integer, got " .. tostring(status), 0)
  end
  local headers = res.headers
  if headers ~= nil and type(headers) ~= "table" then
    error("the response headers must be a table", 0)
  end
  if res.file ~= nil then
    local f = res.file
    if type(f) == "string" then f = {path = f} end
    if type(f) ~= "table" or type(f.path) ~= "string" then
      error("res.file must be a path or {path =, offset =, length =}", 0)
    end
    local sent = core.sendfile(ex, status, headers, f.path, f.offset, f.length)
    if sent == nil then  -- gone or unreadable since the handler looked: nothing sent
      core.respond(ex, 404, {["cache-control"] = "no-store"}, "not found\n")
      return 404
    end
    if not sent then error(closed_error(), 0) end
    return status
  end
  if res.stream ~= nil then
    if type(res.stream) ~= "function" then
      error("res.stream must be a function(write)", 0)
    end
    if core.start(ex, status, headers) then
      res.stream(function(data)
        if type(data) ~= "string" then data = tostring(data) end
        if not core.write(ex, data) then error(closed_error(), 2) end
      end)
    end
    core.finish(ex)
    return status
  end
  local body, ctype = res.body, nil
  if res.json ~= nil then
    body, ctype = json_encode(res.json), "application/json"
  end
  if body ~= nil and type(body) ~= "string" then
    error("the response body must be a string, got " .. type(body), 0)
  end
  core.respond(ex, status, headers, body, ctype)
  return status
end

local function answer(srv, ex, req)
  return send(ex, req, srv.handler(req))
end

-- The body of every request's task.
local function drive(srv, ex0)
  local ex <close> = ex0  -- releases the connection however this ends
  local t0 = srv.access_log and task.now()
  local got, req = pcall(core.request, ex)
  if not got then return end  -- the client has gone already
  local ok, status = xpcall(answer, on_error, srv, ex, req)
  if not ok then
    local err = status
    if is_cancel(err) or core.state(ex) == "closed" then
      core.abort(ex)  -- the client left, or the server is closing
      return
    end
    log("error", "%s", "server " .. srv:url() .. ": the handler failed on "
      .. req.method .. " " .. req.target .. ": " .. err.traceback)
    if core.state(ex) ~= "open" then
      core.abort(ex)  -- the head is out already: cut the body short
      return
    end
    status = 500
    core.respond(ex, 500, {["cache-control"] = "no-store"}, "internal server error\n")
  end
  if t0 then
    log("info", "%s %s %d %.1f ms", req.method, req.target, status, (task.now() - t0) * 1000)
  end
end

local Server = {}
Server.__index = Server
Server.__close = function(self) self:close() end
Server.__name = "slipway.server"

--- srv:url([path]): "http://HOST:PORT" followed by path (default "").
function Server:url(path)
  local host = self.host
  if host == "0.0.0.0" then host = "127.0.0.1" end
  if host == "::" then host = "::1" end
  if host:find(":", 1, true) then host = "[" .. host .. "]" end
  return "http://" .. host .. ":" .. self.port .. (path or "")
end

--- srv:stats(): {connections, inflight, requests, refused}: open connections,
-- requests being handled, requests received so far, connections refused
-- (503) for being over max_connections.
function Server:stats()
  if self.closed then
    return {connections = 0, inflight = 0, requests = self._requests, refused = self._refused}
  end
  return core.stats(self._core)
end

--- srv:close{grace = seconds}: stop accepting now, close idle connections,
-- give requests in flight `grace` seconds (default 0) to finish, then cancel
-- their handler tasks and close their connections. Waits (when called from a
-- task) until those handler tasks have ended. Calling it again does nothing.
-- A handler may close its own server: its own response is still sent.
function Server:close(opts)
  if self.closed then return end
  local grace = opts and opts.grace or 0
  if type(grace) ~= "number" or grace < 0 then
    error("bad argument #1 to 'close' (grace must be a number of seconds >= 0)", 2)
  end
  local last = core.stats(self._core)
  self._requests, self._refused = last.requests, last.refused
  self.closed = true
  local tasks = core.close(self._core)
  local can_wait = task.current() ~= nil and coroutine.isyieldable()
  local ok, err = true, nil
  if can_wait and grace > 0 and #tasks > 0 then
    local tcore = require "slipway.task.core"
    local timer = task.spawn(task.sleep, grace)
    local pending = {timer}
    for _, t in ipairs(tasks) do pending[#pending + 1] = t end
    ok, err = pcall(function()
      while #pending > 1 do
        local i = tcore.waitany(pending)
        if i == 1 then break end
        table.remove(pending, i)
      end
    end)
    timer:cancel()
  end
  core.abort_all(self._core)
  if can_wait and ok then
    for _, t in ipairs(tasks) do
      if not t:done() then
        ok, err = pcall(t.wait, t)  -- only fails when we are cancelled ourselves
        if not ok then break end
      end
    end
  end
  if not ok then error(err, 0) end
end

local OPTS = {host = true, port = true, handler = true, max_body = true,
  max_header = true, idle_timeout = true, log = true, max_connections = true}

--- server.serve{handler = fn, host = "127.0.0.1", port = 0, max_body = bytes,
-- max_header = bytes, idle_timeout = seconds, max_connections = n,
-- log = bool} -> srv
--
-- handler(req) is called in a new task for every request, with
--   req.method   "GET", "POST", ...
--   req.path     the path, percent-decoded ("/charts/a b.tgz")
--   req.query    the query string decoded into a table (first of repeated
--                names wins; "+" is a space); req.raw_query as sent
--   req.target   the request target as sent ("/charts/a%20b.tgz?x=1")
--   req.headers  lower-case names; repeated fields joined with ", "
--   req.body     the request body ("" when none)
--   req.version  "1.1" or "1.0"; req.remote "127.0.0.1:54321"
-- and returns a table {status = 200, headers = {}, body = "..."} (or
-- json = value instead of body, or stream = function(write) ... end for a
-- body written piece by piece: chunked for HTTP/1.1 clients, unless the
-- headers give a content-length, or file = path or {path =, offset =,
-- length =} for a body sent from a file with sendfile(2); 404 when it
-- cannot be opened), or just a body string.
-- Content-Length, Date and Connection are set by the server. Framing is
-- strict: whitespace before a header's colon, a header name that is not a
-- token, or a line of the head or of a chunked body not ending in CR LF
-- (a chunk's data not followed by CR LF) gets 400 and the connection is
-- closed, pipelined requests after it unserved. More than max_connections
-- (default 1000, at most half the open-file limit) connections at once:
-- the next client gets 503 with Connection: close. An error in
-- the handler answers 500 and is logged with its traceback; a client that
-- disconnects cancels its handler's task.
-- The server runs until srv:close() or the end of the program.
function M.serve(opts)
  if type(opts) ~= "table" then
    error("bad argument #1 to 'serve' (table expected, got " .. type(opts) .. ")", 2)
  end
  for k in pairs(opts) do
    if not OPTS[k] then error("serve: unknown option '" .. tostring(k) .. "'", 2) end
  end
  if type(opts.handler) ~= "function" then
    error("serve: option 'handler' must be a function(req) -> response", 2)
  end
  local host = opts.host or "127.0.0.1"
  local port = opts.port or 0
  if type(host) ~= "string" then error("serve: option 'host' must be a string", 2) end
  if math.type(port) ~= "integer" or port < 0 or port > 65535 then
    error("serve: option 'port' must be an integer 0..65535", 2)
  end
  local limits = {max_body = opts.max_body, max_header = opts.max_header,
    max_connections = opts.max_connections}
  if opts.idle_timeout ~= nil then
    if type(opts.idle_timeout) ~= "number" or opts.idle_timeout <= 0 then
      error("serve: option 'idle_timeout' must be a number of seconds > 0", 2)
    end
    limits.idle_ms = math.max(1, math.floor(opts.idle_timeout * 1000 + 0.5))
  end
  local srv = setmetatable({host = host, handler = opts.handler,
    access_log = opts.log and true or false}, Server)
  local ok, c, p = pcall(core.listen, host, port, function(ex) return drive(srv, ex) end,
    limits)
  if not ok then
    if sw.is_error(c) then error(c, 0) end  -- e.g. EADDRINUSE, with the caller's line
    error("serve: " .. tostring(c), 2)
  end
  srv._core, srv.port = c, p
  return srv
end

-- ---- static files --------------------------------------------------------

local TYPES = {
  yaml = "application/yaml", yml = "application/yaml", json = "application/json",
  tgz = "application/gzip", gz = "application/gzip", tar = "application/x-tar",
  zip = "application/zip", txt = "text/plain; charset=utf-8",
  md = "text/markdown; charset=utf-8", html = "text/html; charset=utf-8",
  htm = "text/html; charset=utf-8", css = "text/css; charset=utf-8",
  js = "text/javascript; charset=utf-8", svg = "image/svg+xml", png = "image/png",
  jpg = "image/jpeg", jpeg = "image/jpeg", gif = "image/gif", ico = "image/x-icon",
  xml = "application/xml", prov = "application/pgp-signature", sh = "text/x-shellscript",
  lua = "text/x-lua; charset=utf-8", pem = "application/x-pem-file",
}
M.types = TYPES

local DAYS = {"Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat"}
local MONTHS = {"Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct",
  "Nov", "Dec"}
local MONTH_NUM = {}
for i, m in ipairs(MONTHS) do MONTH_NUM[m] = i end

--- server.http_date(epoch_seconds) -> "Sun, 06 Nov 1994 08:49:37 GMT"
local last_t, last_date  -- serve_files asks for the same mtime again and again
function M.http_date(t)
  if t == last_t and t ~= nil then return last_date end
  local d = os.date("!*t", t)
  local s = string.format("%s, %02d %s %04d %02d:%02d:%02d GMT", DAYS[d.wday], d.day,
    MONTHS[d.month], d.year, d.hour, d.min, d.sec)
  last_t, last_date = t, s
  return s
end


--- server.parse_http_date(s) -> epoch seconds, or nil (IMF-fixdate, RFC 850
-- and asctime forms, as RFC 9110 asks a recipient to accept).
function M.parse_http_date(s)
  if type(s) ~= "string" then return nil end
  local d, mon, y, H, Mi, S = s:match("^%a+, (%d%d) (%a%a%a) (%d%d%d%d) (%d%d):(%d%d):(%d%d) GMT$")
  if not d then
    d, mon, y, H, Mi, S = s:match("^%a+, (%d%d)%-(%a%a%a)%-(%d%d) (%d%d):(%d%d):(%d%d) GMT$")
    if y then y = tonumber(y) + (tonumber(y) < 70 and 2000 or 1900) end
  end
  if not d then
    mon, d, H, Mi, S, y = s:match("^%a+ (%a%a%a) +(%d+) (%d%d):(%d%d):(%d%d) (%d%d%d%d)$")
  end
  local m = mon and MONTH_NUM[mon]
  if not m then return nil end
  return codec.timegm(tonumber(y), m, tonumber(d), tonumber(H), tonumber(Mi), tonumber(S))
end

local function etag_matches(header, etag)
  local bare = etag:gsub("^W/", "")
  for tag in header:gmatch("[^,]+") do
    tag = tag:match("^%s*(.-)%s*$"):gsub("^W/", "")
    if tag == "*" or tag == bare then return true end
  end
  return false
end

-- The byte range a Range header asks of a file of `size` bytes (RFC 9110
-- 14.2): "range", first, last for one satisfiable range; "none" when none
-- of them is satisfiable (416); nil when the header is to be ignored (not
-- bytes, bad syntax, or several ranges: the whole file is sent then).
local function byte_range(header, size)
  local spec = header:match("^%s*[Bb][Yy][Tt][Ee][Ss]%s*=%s*(.-)%s*$")
  if not spec or spec == "" then return nil end
  local found, first, last
  for part in (spec .. ","):gmatch("(.-),") do
    part = part:match("^%s*(.-)%s*$")
    if part ~= "" then
      local a, b = part:match("^(%d*)%-(%d*)$")
      if not a or (a == "" and b == "") or #a > 18 or #b > 18 then return nil end
      local f, l
      if a == "" then  -- a suffix: the last b bytes
        local n = tonumber(b)
        if n > 0 and size > 0 then f, l = math.max(0, size - n), size - 1 end
      else
        f = tonumber(a)
        l = b == "" and size - 1 or math.min(tonumber(b), size - 1)
        if b ~= "" and tonumber(b) < f then return nil end
        if f >= size then f = nil end
      end
      if f then
        if found then return nil end  -- several: the whole file instead
        found, first, last = true, f, l
      end
    end
  end
  if not found then return "none" end
  return "range", first, last
end

-- If-Range (RFC 9110 13.1.5): does the validator name this version? An
-- entity tag compares strongly; a date must be the Last-Modified exactly.
local function if_range_matches(v, etag, mtime)
  if v:match('^%s*"') then return v:match("^%s*(.-)%s*$") == etag end
  if v:match("^%s*W/") then return false end
  local t = M.parse_http_date(v:match("^%s*(.-)%s*$"))
  return t ~= nil and t == mtime
end

-- A path segment percent-encoded for a Location (RFC 3986 pchar kept).
local function escape_segment(seg)
  return (seg:gsub("[^%w%-%._~!$&'()*+,;=:@]", function(ch)
    return string.format("%%%02X", ch:byte())
  end))
end

--- server.files(dir, opts) -> handler(req): serves the files below dir
-- (what serve_files uses; combine it with your own routes). opts:
--   index = "index.html"   the file answering for a directory ("/x/")
--   dotfiles = false       serve names starting with "." (never "..")
--   types = {ext = "type"} more or other Content-Types by extension
--   headers = {}           added to every file response (e.g. cache-control)
-- GET and HEAD only (405 otherwise). Answers with Content-Type,
-- Content-Length, ETag, Last-Modified and Accept-Ranges: bytes, and 304 when
-- If-None-Match (or, without it, If-Modified-Since) shows the client's copy
-- is current. A Range of one byte range is answered 206 with Content-Range
-- (bytes=0-99, bytes=100-, bytes=-500), one that no byte of the file
-- satisfies 416 with Content-Range: bytes */SIZE; several ranges, or an
-- If-Range that does not name this version, get the whole file (200). The
-- body is sent with sendfile(2). Paths that leave dir, also through
-- symbolic links, are 404s.
function M.files(dir, opts)
  if type(dir) ~= "string" then
    error("bad argument #1 to 'files' (directory path expected, got " .. type(dir) .. ")", 2)
  end
  opts = opts or {}
  local root = core.realpath(dir)
  local st = root and core.stat(root)
  if not st or st.type ~= "directory" then
    sw.raise("ENOENT", "serve_files: " .. dir .. " is not a directory", {path = dir}, 2)
  end
  local index = opts.index == nil and "index.html" or opts.index
  local types = setmetatable(opts.types or {}, {__index = TYPES})
  local extra = opts.headers or {}

  local function not_found()
    return {status = 404, headers = {["content-type"] = "text/plain; charset=utf-8"},
      body = "not found\n"}
  end

  local function file_response(req, path, st)
    local etag = string.format('"%x-%x%08x"', st.size, st.mtime, st.mtime_ns)
    local headers = {["etag"] = etag, ["last-modified"] = M.http_date(st.mtime)}
    for k, v in pairs(extra) do headers[k] = v end
    local inm = req.headers["if-none-match"]
    local fresh
    if inm then
      fresh = etag_matches(inm, etag)
    else
      local ims = M.parse_http_date(req.headers["if-modified-since"])
      fresh = ims ~= nil and st.mtime <= ims
    end
    if fresh then return {status = 304, headers = headers} end
    local ext = path:match("%.([%w]+)$")
    headers["content-type"] = ext and types[ext:lower()] or "application/octet-stream"
    headers["accept-ranges"] = "bytes"
    local status, offset, length = 200, 0, st.size
    local range = req.headers.range
    local ifr = req.headers["if-range"]
    if range and not (ifr and not if_range_matches(ifr, etag, st.mtime)) then
      local kind, first, last = byte_range(range, st.size)
      if kind == "none" then
        headers["content-type"] = "text/plain; charset=utf-8"
        headers["content-range"] = "bytes */" .. st.size
        return {status = 416, headers = headers, body = "range not satisfiable\n"}
      elseif kind == "range" then
        status, offset, length = 206, first, last - first + 1
        headers["content-range"] = string.format("bytes %d-%d/%d", first, last, st.size)
      end
    end
    return {status = status, headers = headers,
            file = {path = path, offset = offset, length = length}}
  end

  return function(req)
    if req.method ~= "GET" and req.method ~= "HEAD" then
      return {status = 405, headers = {allow = "GET, HEAD",
        ["content-type"] = "text/plain; charset=utf-8"}, body = "method not allowed\n"}
    end
    local p = req.path
    if p:sub(1, 1) ~= "/" or p:find("\0", 1, true) or p:find("\\", 1, true) then
      return not_found()
    end
    local parts = {}
    for seg in p:gmatch("[^/]+") do
      if seg == ".." then return not_found() end
      if seg ~= "." then
        if seg:sub(1, 1) == "." and not opts.dotfiles then return not_found() end
        parts[#parts + 1] = seg
      end
    end
    local rel = table.concat(parts, "/")
    local real = core.realpath(rel == "" and root or root .. "/" .. rel)
    if not real or (real ~= root and real:sub(1, #root + 1) ~= root .. "/"
                    and root ~= "/") then
      return not_found()
    end
    local fst = core.stat(real)
    if not fst then return not_found() end
    if fst.type == "directory" then
      if p:sub(-1) ~= "/" then
        -- the canonical path, never the target: "//sub" or an absolute-form
        -- "http://other/sub" must not send the browser to another host
        local loc = {}
        for i, seg in ipairs(parts) do loc[i] = escape_segment(seg) end
        loc = "/" .. table.concat(loc, "/") .. "/"
        if req.raw_query ~= "" then loc = loc .. "?" .. req.raw_query end
        return {status = 301, headers = {location = loc}, body = "moved\n"}
      end
      if not index then return not_found() end
      real = real .. "/" .. index
      fst = core.stat(real)
      if not fst or fst.type ~= "file" then return not_found() end
    elseif fst.type ~= "file" then
      return not_found()
    end
    return file_response(req, real, fst)
  end
end

--- server.serve_files(dir, opts) -> srv: serve{handler = files(dir, opts)}
-- with opts host, port and the others of serve and files.
function M.serve_files(dir, opts)
  opts = opts or {}
  local sopts, fopts = {}, {}
  for k, v in pairs(opts) do
    if OPTS[k] then sopts[k] = v else fopts[k] = v end
  end
  local ok, h = pcall(M.files, dir, fopts)
  if not ok then error(h, 0) end
  sopts.handler = h
  return M.serve(sopts)
end

return M
