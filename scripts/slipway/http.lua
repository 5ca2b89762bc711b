--- slipway.http: an HTTP client that does not hang a deploy.
--
--   local http = require "slipway.http"
--   local res = http.get("https://staging.example.org/health", {timeout = 10})
--   print(res.status, res.headers["content-type"], res:json().status)
--   http.post(url, {json = {tags = {"deploy"}}, auth = {bearer = env.secret("GRAFANA_TOKEN")}})
--   for ev in http.stream(url) do if ev:json().phase == "ready" then break end end
--   http.download(url, "chart.tgz")
--
-- Every request has a total timeout (30 s) and a connect timeout (10 s);
-- idempotent methods retry connection errors, timeouts, 429 and 5xx with
-- exponential backoff and jitter, honouring Retry-After. Transport failures
-- raise structured errors (code "timeout", "connect", "dns", "tls",
-- "transfer", "too_large", "http", ...; fields method, url, status,
-- attempts); a 4xx/5xx answer is a normal response unless `check = true`
-- (or the retries for it ran out). TLS is verified unless `insecure = true`.
-- Runs on libcurl, loaded on first use (docs/http.md).
local codec = require "slipway.codec"
local core = require "slipway.http.core"
local sw = require "slipway.core"
local task = require "slipway.task"
local errors = require "slipway.errors"

local M = {}

--- Defaults of every request; a playbook may change them (http.defaults.timeout = 60).
M.defaults = {
  timeout = 30,             -- seconds for the whole request (false: none)
  connect_timeout = 10,     -- seconds to connect (TCP + TLS)
  retries = 3,              -- extra attempts for idempotent methods
  backoff = 0.5,            -- first retry delay; doubles each time, with jitter
  max_backoff = 30,         -- longest delay between attempts
  max_retry_after = 120,    -- longest Retry-After honoured (longer is capped)
  follow = true,            -- follow redirects
  max_redirects = 10,
  max_body = 64 * 1024 * 1024,  -- buffered bodies larger than this are an error
  stream_timeout = 3600,    -- total timeout of http.stream
  stream_idle_timeout = 60, -- http.stream: no data for this long is an error
  download_timeout = 600,   -- total timeout of http.download
  download_idle_timeout = 30,
  max_line = 1024 * 1024,   -- longest line or event http.stream accepts
  insecure = false,         -- true: no TLS verification (logs a warning per request)
}

-- Loopback never goes through a proxy; the rest of no_proxy is the user's.
local NOPROXY = (function()
  local np = os.getenv("no_proxy") or os.getenv("NO_PROXY") or ""
  if np == "*" then return "*" end
  return (np ~= "" and np .. "," or "") .. "localhost,127.0.0.1,::1"
end)()

local IDEMPOTENT = {GET = true, HEAD = true, PUT = true, DELETE = true,
                    OPTIONS = true, TRACE = true}
local DEFAULT_RETRY_CODES = {connect = true, dns = true, timeout = true, transfer = true}

local OPTIONS = {method = true, url = true, headers = true, query = true, body = true,
  json = true, form = true, timeout = true, connect_timeout = true, retries = true,
  retry_on = true, follow = true, max_redirects = true, max_body = true, auth = true,
  insecure = true, ca = true, check = true, backoff = true, max_backoff = true,
  max_retry_after = true, idle_timeout = true, compressed = true, user_agent = true,
  mode = true, max_line = true}

-- ---- logging and JSON -----------------------------------------------------

local log_mod = require "slipway.log"
local json_mod = require "slipway.json"
local function log(level, fmt, ...) return log_mod[level](fmt, ...) end
-- Whether debug lines are written (skips building them when not).
local function debug_on() return log_mod.enabled("debug") end
local function json() return json_mod end

-- ---- encoding helpers -----------------------------------------------------

local function urlencode(v)
  v = tostring(v)
  local e = v:gsub("[^%w%-%._~]", function(c)
    return string.format("%%%02X", c:byte())
  end)
  -- a value holding a secret is masked in its encoded form too (as Basic
  -- auth's base64 is): errors, the journal and logs show the encoded URL
  if e ~= v and sw.redact(v) ~= v then sw.secret(e) end
  return e
end
M.urlencode = urlencode

--- "a=1&b=x%20y" from a table (keys sorted; a list value repeats the key).
function M.encode_query(t)
  local keys, parts = {}, {}
  for k in pairs(t) do keys[#keys + 1] = tostring(k) end
  table.sort(keys)
  for _, k in ipairs(keys) do
    local v = t[k]
    if v == nil then v = t[tonumber(k)] end
    if type(v) == "table" then
      for _, x in ipairs(v) do parts[#parts + 1] = urlencode(k) .. "=" .. urlencode(x) end
    elseif v ~= false then
      parts[#parts + 1] = urlencode(k) .. "=" .. urlencode(v == true and "" or v)
    end
  end
  return table.concat(parts, "&")
end

-- ---- the response ---------------------------------------------------------

local Headers = {__index = function(t, k)
  if type(k) == "string" then return rawget(t, k:lower()) end
end}

-- The C core gives {lower-case name = value}; lookups ignore case.
local function make_headers(h) return setmetatable(h, Headers) end

local Response = {}
Response.__index = Response

local function snippet(s, n)
  s = s:sub(1, n or 200):gsub("[%c]", function(c)
    return c == "\n" and "\\n" or string.format("\\x%02x", c:byte())
  end)
  return s
end

--- The body decoded as JSON; raises code "json" with a snippet when it is not.
function Response:json()
  local ok, v = pcall(json().decode, self.body)
  if ok then return v end
  local why = type(v) == "table" and (v.message or tostring(v)) or tostring(v)
  why = why:gsub("^[^:]*:%d+: ", ""):gsub("^json%.decode: ", "")
  sw.raise("json", string.format("%s %s: response is not JSON (%s; %s, %d bytes): %q",
    self.method or "GET", self.url, why,
    tostring(self.headers["content-type"] or "no content-type"), #self.body,
    snippet(self.body)), {status = self.status, url = self.url}, 2)
end

--- True for a 2xx status.
function Response:ok() return self.status >= 200 and self.status < 300 end

-- ---- options --------------------------------------------------------------

local function opt(o, k, default)
  local v = o[k]
  if v == nil then v = M.defaults[k] end
  if v == nil then v = default end
  return v
end

--- http.redact_url(url) -> url as it may be shown: the password of its
-- userinfo replaced by "***" ("http://user:***@host/") and registered as a
-- secret, so that it is masked wherever else it appears; other secrets
-- masked too. Errors, res.url, logs and the journal show URLs this way.
function M.redact_url(url)
  url = tostring(url)
  -- the authority ends at the first / ? or #; its userinfo at its last @
  local scheme, userinfo, rest = url:match("^(%a[%w+.-]*://)([^/?#]*)(@.*)$")
  local user, pass = (userinfo or ""):match("^([^:]*):(.+)$")
  if pass then
    sw.secret(pass)
    url = scheme .. user .. ":***" .. rest
  end
  return sw.redact(url)
end
local redact_url = M.redact_url

-- RFC 9110 token: a method or a header name.
local function is_token(s)
  return s:find("^[%w!#$%%&'*+%-.^_`|~]+$") ~= nil
end

local function check_header_text(s, what)
  if s:find("[\r\n%z]") then
    -- levels: check_header_text, add, build, the API function, its caller
    error("http: " .. what .. " contains a line break or NUL: " .. string.format("%q", s), 5)
  end
end

-- The spec for the C core from the user's options.
local function build(method, url, o, kind)
  for k in pairs(o) do
    if not OPTIONS[k] then error("http: unknown option '" .. tostring(k) .. "'", 3) end
  end
  method = method or o.method or "GET"
  if type(method) ~= "string" or not is_token(method) then
    error("http: method must be a token (RFC 9110: letters, digits and !#$%&'*+-.^_`|~), got "
      .. (type(method) == "string" and string.format("%q", method) or type(method)), 3)
  end
  method = method:upper()
  if type(url) ~= "string" or not (url:find("^[hH][tT][tT][pP][sS]?://")) then
    error("http: url must be a string starting with http:// or https://, got "
      .. (type(url) == "string" and string.format("%q", redact_url(url)) or type(url)), 3)
  end
  redact_url(url)  -- registers a password in it as a secret
  if url:find("[%z\r\n]") then
    error("http: url contains a line break or NUL: " .. string.format("%q", redact_url(url)), 3)
  end
  if o.query then
    local q = type(o.query) == "table" and M.encode_query(o.query) or tostring(o.query)
    if q ~= "" then
      local base, frag = url:match("^([^#]*)(.*)$")
      url = base .. (base:find("?", 1, true) and "&" or "?") .. q .. frag
    end
  end
  local headers, have = {}, {}
  local function add(name, value)
    name, value = tostring(name), tostring(value)
    if not is_token(name) then
      -- levels: add, build, the API function, its caller
      error("http: header name " .. string.format("%q", name)
        .. " is not a token (RFC 9110: letters, digits and !#$%&'*+-.^_`|~)", 4)
    end
    check_header_text(value, "header " .. name)
    local lname = name:lower()
    if lname == "authorization" or lname == "proxy-authorization" or lname == "cookie" then
      sw.secret(value)
    end
    have[lname] = true
    headers[#headers + 1] = name .. ": " .. value
  end
  if o.headers then
    local names = {}
    for k in pairs(o.headers) do names[#names + 1] = k end
    table.sort(names, function(a, b) return tostring(a) < tostring(b) end)
    for _, k in ipairs(names) do
      local v = o.headers[k]
      if type(v) == "table" then for _, x in ipairs(v) do add(k, x) end
      elseif v ~= false then add(k, v) end
    end
  end
  local body
  local nbody = (o.body ~= nil and 1 or 0) + (o.json ~= nil and 1 or 0) + (o.form ~= nil and 1 or 0)
  if nbody > 1 then error("http: give only one of body, json and form", 3) end
  if o.body ~= nil then
    body = tostring(o.body)
  elseif o.json ~= nil then
    body = json().encode(o.json)
    if not have["content-type"] then add("Content-Type", "application/json") end
  elseif o.form ~= nil then
    body = M.encode_query(o.form)
    if not have["content-type"] then add("Content-Type", "application/x-www-form-urlencoded") end
  end
  if body and #body > 1024 then add("Expect", "") end  -- no 100-continue round trip
  if o.auth then
    local a = o.auth
    if type(a) ~= "table" then error("http: auth must be {bearer = token} or {user =, password =}", 3) end
    if a.bearer then
      add("Authorization", "Bearer " .. sw.secret(tostring(a.bearer)))
    elseif a.user or a.basic then
      local user = a.user or a.basic[1]
      local pass = a.password or (a.basic and a.basic[2]) or ""
      sw.secret(tostring(pass))
      add("Authorization", "Basic " .. sw.secret(codec.base64(tostring(user) .. ":" .. tostring(pass))))
    else
      error("http: auth must be {bearer = token} or {user =, password =}", 3)
    end
  end
  if o.mode == "sse" and not have.accept then add("Accept", "text/event-stream") end
  local timeout = o.timeout
  if timeout == nil then
    timeout = kind == "stream" and M.defaults.stream_timeout
      or kind == "download" and M.defaults.download_timeout or M.defaults.timeout
  end
  local idle = o.idle_timeout
  if idle == nil then
    idle = kind == "stream" and M.defaults.stream_idle_timeout
      or kind == "download" and M.defaults.download_idle_timeout or nil
    -- no total timeout: still no request that can wait for ever
    if not timeout and not idle then idle = M.defaults.stream_idle_timeout end
  end
  for _, k in ipairs{"connect_timeout", "max_body", "retries", "backoff"} do
    local v = o[k]
    if v ~= nil and (type(v) ~= "number" or v < 0) then
      error("http: " .. k .. " must be a number >= 0", 3)
    end
  end
  if timeout and (type(timeout) ~= "number" or timeout <= 0) then
    error("http: timeout must be a number of seconds > 0, or false for none", 3)
  end
  local retries = o.retries
  if retries == nil then retries = IDEMPOTENT[method] and M.defaults.retries or 0 end
  local retry_codes, retry_status = DEFAULT_RETRY_CODES, nil
  if o.retry_on ~= nil and o.retry_on ~= "always" then
    if type(o.retry_on) ~= "table" then
      error("http: retry_on must be a list of error codes and statuses, or \"always\"", 3)
    end
    retry_codes, retry_status = {}, {}
    for _, v in ipairs(o.retry_on) do
      if type(v) == "number" then retry_status[v] = true else retry_codes[v] = true end
    end
  end
  local insecure = opt(o, "insecure") == true
  if insecure then
    log("warn", "http: TLS verification is off for %s %s (insecure = true)", method, redact_url(url))
  end
  local max_body = o.max_body
  -- buffered bodies only: a stream buffers at most 256 KiB (then pauses)
  -- and may run for hours; a download goes to disk
  if max_body == nil and kind == "request" then max_body = M.defaults.max_body end
  return {
    method = method, url = url, headers = headers, body = body,
    timeout = timeout or nil, connect_timeout = opt(o, "connect_timeout"),
    idle_timeout = idle or nil,
    follow = opt(o, "follow") and true or false, max_redirects = opt(o, "max_redirects"),
    max_body = max_body, insecure = insecure, ca = o.ca, user_agent = o.user_agent,
    compressed = kind ~= "download" and o.compressed ~= false, noproxy = NOPROXY,
  }, {
    retries = retries, retry_codes = retry_codes, retry_status = retry_status,
    backoff = opt(o, "backoff"), max_backoff = opt(o, "max_backoff"),
    max_retry_after = opt(o, "max_retry_after"), check = o.check,
  }
end

-- ---- retries --------------------------------------------------------------

local MONTHS = {Jan = 1, Feb = 2, Mar = 3, Apr = 4, May = 5, Jun = 6, Jul = 7,
                Aug = 8, Sep = 9, Oct = 10, Nov = 11, Dec = 12}

--- Seconds to wait from a Retry-After value (delta-seconds or an HTTP date).
function M.retry_after(v)
  if type(v) ~= "string" then return nil end
  local n = v:match("^%s*(%d+)%s*$")
  if n then return tonumber(n) end
  local d, mon, y, hh, mm, ss = v:match("(%d+) (%a+) (%d+) (%d+):(%d+):(%d+)")
  if d and MONTHS[mon] then
    local t = codec.timegm(tonumber(y), MONTHS[mon], tonumber(d), tonumber(hh),
      tonumber(mm), tonumber(ss))
    return math.max(0, t - os.time())
  end
  return nil
end

local function retryable(r, res, err)
  if err then
    if err.status then
      return r.retry_status and r.retry_status[err.status]
        or (not r.retry_status and (err.status == 429 or err.status >= 500))
    end
    return r.retry_codes[err.code]
  end
  local s = res.status
  if r.retry_status then return r.retry_status[s] end
  return s == 429 or s >= 500
end

local function fmt_s(x) return string.format("%.3g", x) end

local function what(res, err)
  return err and (err.code .. ": " .. err.reason) or ("HTTP " .. res.status)
end

-- Run one attempt function until it succeeds or retries run out.
-- Returns res, err, attempts.
local function with_retries(spec, r, attempt)
  local n = 0
  while true do
    n = n + 1
    local res, err = attempt(spec)
    if res then res.headers = make_headers(res.headers) end
    local again = n <= r.retries and retryable(r, res, err)
    if not again then
      if debug_on() then
        log("debug", "http: %s %s: attempt %d: %s", spec.method, redact_url(spec.url), n, what(res, err))
      end
      return res, err, n
    end
    local delay = math.min(r.max_backoff, r.backoff * 2 ^ (n - 1))
    delay = delay * (0.5 + math.random() * 0.5)
    local ra = res and res.headers and M.retry_after(res.headers["retry-after"])
    if ra then delay = math.max(delay, math.min(ra, r.max_retry_after)) end
    log("debug", "http: %s %s: attempt %d of %d: %s; retrying in %s s", spec.method,
      redact_url(spec.url), n, r.retries + 1, what(res, err), fmt_s(delay))
    task.sleep(delay)
  end
end

local function fail(spec, err, attempts, extra)
  local fields = {method = spec.method, url = redact_url(spec.url), status = err.status,
    attempts = attempts, timings = err.timings, bytes = err.bytes,
    detail = err.detail and sw.redact(err.detail), curl = err.curl,
    retryable = errors.retryable_code(err.code, err.status)}
  for k, v in pairs(extra or {}) do fields[k] = v end
  local msg = spec.method .. " " .. fields.url .. ": " .. err.reason
  if attempts > 1 then
    msg = msg .. (err.code == "http" and " after " or "; gave up after ") .. attempts .. " attempts"
  end
  sw.raise(err.code, msg, fields, 3)
end

local function finish(spec, r, res, err, attempts)
  if err then fail(spec, err, attempts) end
  res.method = spec.method
  res.attempts = attempts
  res.url = redact_url(res.url)
  setmetatable(res, Response)
  if (attempts > 1 and retryable(r, res, nil)) or (r.check and res.status >= 400) then
    fail(spec, {code = "http", reason = "HTTP " .. res.status
      .. (res.reason ~= "" and (" " .. res.reason) or ""), status = res.status,
      timings = res.timings, bytes = res.bytes}, attempts, {response = res})
  end
  return res
end

-- ---- the API --------------------------------------------------------------

--- Make a request. opts: method, url, headers, query, body | json | form,
-- timeout, connect_timeout, retries, retry_on, follow, max_redirects,
-- max_body, auth ({bearer=} or {user=, password=}), insecure, ca, check,
-- backoff, max_backoff, max_retry_after, compressed, user_agent.
-- Returns res {status, reason, headers, body, url, timings, bytes, attempts}
-- with res:json() and res:ok().
function M.request(opts)
  if type(opts) ~= "table" then error("http.request: expected a table of options", 2) end
  local spec, r = build(nil, opts.url, opts, "request")
  local res, err, n = with_retries(spec, r, core.request)
  return finish(spec, r, res, err, n)
end

local function shortcut(method)
  return function(url, opts)
    opts = opts or {}
    if type(opts) ~= "table" then error("http." .. method:lower() .. ": opts must be a table", 2) end
    local spec, r = build(method, url, opts, "request")
    local res, err, n = with_retries(spec, r, core.request)
    return finish(spec, r, res, err, n)
  end
end

--- http.get/post/put/patch/delete/head(url, opts): http.request with that method.
M.get = shortcut("GET")
M.post = shortcut("POST")
M.put = shortcut("PUT")
M.patch = shortcut("PATCH")
M.delete = shortcut("DELETE")
M.head = shortcut("HEAD")

--- Download url to path atomically: the body goes to a temporary file next
-- to path, renamed over it only when complete (a failure leaves path as it
-- was). A non-2xx status is an error (code "http"). opts as http.request
-- (default timeout 600 s, idle_timeout 30 s, no max_body).
function M.download(url, path, opts)
  opts = opts or {}
  if type(path) ~= "string" or path == "" then error("http.download: path must be a string", 2) end
  local spec, r = build(opts.method, url, opts, "download")
  spec.path = path
  local res, err, n = with_retries(spec, r, core.request)
  if err then fail(spec, err, n, {path = path}) end
  res.method = spec.method
  res.attempts = n
  res.url = redact_url(res.url)
  return setmetatable(res, Response)
end

-- ---- streams --------------------------------------------------------------

local Stream = {}
Stream.__index = Stream

local Event = {}
Event.__index = Event
--- The event's data decoded as JSON (code "json" when it is not).
function Event:json()
  local ok, v = pcall(json().decode, self.data)
  if ok then return v end
  sw.raise("json", string.format("%s: event data is not JSON: %q", self.url or "stream",
    snippet(self.data)), {url = self.url}, 2)
end

local function stream_fail(self, err)
  self:close()
  fail(self._spec, err, 1)
end

-- The next line (without its end of line), or nil at the end. Lines end
-- at LF or CR LF; with cr (server-sent events) at a lone CR too.
local function next_line(self, cr)
  while true do
    local buf, pos = self._buf, self._pos
    local nl = buf:find(cr and "[\r\n]" or "\n", pos)
    -- a CR last in the buffer may be the first half of a CR LF: read on
    if nl and (buf:byte(nl) == 10 or nl < #buf or self._eof) then
      local line = buf:sub(pos, nl - 1)
      if buf:byte(nl) == 13 then
        if buf:byte(nl + 1) == 10 then nl = nl + 1 end
      elseif line:sub(-1) == "\r" then
        line = line:sub(1, -2)
      end
      self._pos = nl + 1
      return line
    end
    if #buf - pos + 1 > self._max_line then
      stream_fail(self, {code = "too_large", reason = "a line longer than max_line ("
        .. self._max_line .. " bytes)", bytes = #buf})
    end
    if self._eof then
      if pos <= #buf then
        self._pos = #buf + 1
        return buf:sub(pos)
      end
      return nil
    end
    local chunk, err = self._s:read()
    if chunk == false then stream_fail(self, err) end
    if chunk == nil then
      self._eof = true
    else
      self._buf = buf:sub(pos) .. chunk
      self._pos = 1
    end
  end
end

-- The next server-sent event {event, data, id, retry}, or nil at the end
-- (the WHATWG "event stream interpretation": a BOM first is skipped, an id
-- holding a NUL is ignored, retry is digits only, an empty event type is
-- "message").
local function next_event(self)
  local data, event, id, retry, size = nil, nil, nil, nil, 0
  while true do
    local line = next_line(self, true)
    if line == nil then return nil end  -- an unfinished event is dropped
    if not self._started then
      self._started = true
      if line:sub(1, 3) == "\239\187\191" then line = line:sub(4) end
    end
    if line == "" then
      if data then
        return setmetatable({event = event or "message", data = table.concat(data, "\n"),
          id = id or self.last_id, retry = retry, url = self.url}, Event)
      end
      event, retry = nil, nil
    elseif line:sub(1, 1) ~= ":" then
      local field, value = line:match("^([^:]*):? ?(.*)$")
      if field == "data" then
        size = size + #value
        if size > self._max_line then
          stream_fail(self, {code = "too_large", reason = "an event larger than max_line ("
            .. self._max_line .. " bytes)"})
        end
        data = data or {}
        data[#data + 1] = value
      elseif field == "event" then event = value ~= "" and value or nil
      elseif field == "id" then
        if not value:find("\0", 1, true) then id = value; self.last_id = value end
      elseif field == "retry" then
        if value:match("^%d+$") then retry = tonumber(value) end
      end
    end
  end
end

--- The next item: a line, an event ("sse" mode) or a chunk ("chunks" mode);
-- nil at the end (the stream is then closed).
function Stream:next()
  if self._closed then return nil end
  local v
  if self.mode == "sse" then v = next_event(self)
  elseif self.mode == "lines" then v = next_line(self)
  else
    if self._pos <= #self._buf then
      v = self._buf:sub(self._pos)
      self._buf, self._pos = "", 1
    else
      local err
      v, err = self._s:read()
      if v == false then stream_fail(self, err) end
    end
  end
  if v == nil then self:close() end
  return v
end

--- Stop the transfer (idempotent; also on `<close>` and at the end).
function Stream:close()
  if not self._closed then
    self._closed = true
    self._s:close()
  end
end

Stream.__call = function(self) return self:next() end
Stream.__close = function(self) self:close() end

--- Open a streaming GET and iterate what arrives:
--   for ev in http.stream(url) do ... end          (server-sent events)
--   for line in http.stream(url, {mode = "lines"}) do ... end
-- mode: "sse" (default when the response is text/event-stream; each item
-- is {event, data, id, retry} with ev:json()), "lines" (default otherwise)
-- or "chunks". Raises like http.request, and code "http" for a status >= 400.
-- opts as http.request plus mode, max_line, idle_timeout (default 60 s;
-- timeout defaults to 3600 s). Returns the stream object (fields status,
-- headers, url; :next(), :close()) in the form a generic for closes on break.
function M.stream(url, opts)
  opts = opts or {}
  if opts.mode and opts.mode ~= "sse" and opts.mode ~= "lines" and opts.mode ~= "chunks" then
    error("http.stream: mode must be \"sse\", \"lines\" or \"chunks\"", 2)
  end
  local spec, r = build(opts.method, url, opts, "stream")
  if spec.method ~= "GET" and spec.method ~= "HEAD" and opts.retries == nil then r.retries = 0 end
  local res, err, n = with_retries(spec, r, function(sp)
    local s, head = core.open(sp)
    if s == nil then return nil, head end
    if retryable(r, head, nil) and r.retries > 0 then s:close() end
    head.stream = s
    return head
  end)
  if err then fail(spec, err, n) end
  local s = res.stream
  res.stream = nil
  if res.status >= 400 then
    if s then s:close() end
    fail(spec, {code = "http", reason = "HTTP " .. res.status, status = res.status}, n)
  end
  local mode = opts.mode
  if not mode then
    local ct = res.headers["content-type"] or ""
    mode = ct:lower():find("^text/event%-stream") and "sse" or "lines"
  end
  local self = setmetatable({status = res.status, headers = res.headers, url = redact_url(res.url),
    mode = mode, attempts = n, _s = s, _spec = spec, _buf = "", _pos = 1,
    _max_line = opts.max_line or M.defaults.max_line}, Stream)
  return self, nil, nil, self
end

--- libcurl's version, TLS library, features and resolver ("threaded",
-- "c-ares x.y" or "blocking"). Loads libcurl.
function M.version() return core.version() end

return M
