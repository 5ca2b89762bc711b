---@meta slipway.http
-- The HTTP client (docs/http.md). A 4xx/5xx is a normal response unless
-- check = true; transport failures raise (timeout, connect, dns, tls, ...).

---@class slipway.http
---@field defaults table the default options; a playbook may change them
local http = {}

---@class slipway.HttpOpts
---@field method? string default "GET"
---@field url? string http:// or https://
---@field headers? table<string, string|string[]>
---@field query? table encoded and appended to the URL
---@field body? string
---@field json? any encoded as JSON (Content-Type: application/json)
---@field form? table URL-encoded
---@field timeout? number|false seconds for the whole request (30)
---@field connect_timeout? number (10)
---@field retries? integer extra attempts (3 for idempotent methods, else 0)
---@field retry_on? (string|integer)[]|"always"
---@field backoff? number first delay between attempts (0.5)
---@field max_backoff? number (30)
---@field max_retry_after? number (120)
---@field follow? boolean follow redirects (true)
---@field max_redirects? integer (10)
---@field max_body? integer bytes (64 MiB)
---@field auth? {bearer: string}|{user: string, password: string}
---@field insecure? boolean turn off TLS verification (logs a warning)
---@field ca? string a CA bundle file
---@field check? boolean raise code "http" for a status >= 400
---@field compressed? boolean (true)
---@field user_agent? string
---@field mode? "sse"|"lines"|"chunks" http.stream only
---@field idle_timeout? number http.stream / http.download only
---@field max_line? integer http.stream only

---@class slipway.HttpTimings
---@field dns number
---@field connect number
---@field tls number
---@field first_byte number
---@field total number

---@class slipway.HttpResponse
---@field status integer
---@field reason string
---@field headers table<string, string> lower-case keys, case-insensitive lookups
---@field body string
---@field url string after redirects
---@field bytes integer
---@field attempts integer
---@field timings slipway.HttpTimings
---@field path? string http.download: the file written
local HttpResponse = {}

---Decode the body as JSON; raises code "json" when it is not.
---@return any
function HttpResponse:json() end

---True for a 2xx status.
---@return boolean
function HttpResponse:ok() end

---A server-sent event from http.stream.
---@class slipway.HttpEvent
---@field event string
---@field data string
---@field id? string
---@field retry? integer
local HttpEvent = {}

---Decode the event's data as JSON.
---@return any
function HttpEvent:json() end

---A streaming response: call it (or use it in a generic for) for the next item.
---@class slipway.HttpStream
---@field status integer
---@field headers table<string, string>
---@field url string
---@overload fun(): string|slipway.HttpEvent|nil
local HttpStream = {}

---The next line, event or chunk; nil at the end.
---@return string|slipway.HttpEvent|nil
function HttpStream:next() end

---Stop the transfer and close its connection.
function HttpStream:close() end

---Make a request; opts.url and opts.method say what.
---@param opts slipway.HttpOpts
---@return slipway.HttpResponse
function http.request(opts) end

---@param url string
---@param opts? slipway.HttpOpts
---@return slipway.HttpResponse
function http.get(url, opts) end

---@param url string
---@param opts? slipway.HttpOpts
---@return slipway.HttpResponse
function http.post(url, opts) end

---@param url string
---@param opts? slipway.HttpOpts
---@return slipway.HttpResponse
function http.put(url, opts) end

---@param url string
---@param opts? slipway.HttpOpts
---@return slipway.HttpResponse
function http.patch(url, opts) end

---@param url string
---@param opts? slipway.HttpOpts
---@return slipway.HttpResponse
function http.delete(url, opts) end

---@param url string
---@param opts? slipway.HttpOpts
---@return slipway.HttpResponse
function http.head(url, opts) end

---Open a streaming request, wait for the head; iterate the result.
---@param url string
---@param opts? slipway.HttpOpts
---@return slipway.HttpStream
function http.stream(url, opts) end

---Download to path atomically (only a complete 2xx body replaces it).
---@param url string
---@param path string
---@param opts? slipway.HttpOpts
---@return slipway.HttpResponse response without body, with path
function http.download(url, path, opts) end

---libcurl's version, TLS library, features and resolver.
---@return {version: string, ssl: string, features: table<string, boolean>, resolver: string, user_agent: string}
function http.version() end

---Percent-encode a string.
---@param s string
---@return string
function http.urlencode(s) end

---A table as a query string (keys sorted).
---@param t table
---@return string
function http.encode_query(t) end

---Seconds from a Retry-After value (delta-seconds or an HTTP date), or nil.
---@param value string
---@return number?
function http.retry_after(value) end

---The URL as shown: its userinfo password replaced by "***" and registered
---as a secret; other secrets masked.
---@param url string
---@return string
function http.redact_url(url) end

return http
