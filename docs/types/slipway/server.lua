---@meta slipway.server
-- An HTTP/1.1 server on 127.0.0.1 (docs/server.md); each request runs in
-- its own task.

---@class slipway.server
---@field types table<string, string> extension -> content type of serve_files
local server = {}

---@class slipway.Request
---@field method string
---@field path string percent-decoded
---@field query table<string, string>
---@field raw_query string
---@field target string
---@field headers table<string, string> lower-case names
---@field body string
---@field version "1.1"|"1.0"
---@field remote string "127.0.0.1:54321"

---@class slipway.Response
---@field status? integer default 200
---@field headers? table<string, string|number|string[]>
---@field body? string
---@field json? any
---@field stream? fun(write: fun(s: string))
---@field file? string|{path: string, offset?: integer, length?: integer} body sent from a file (sendfile)

---@alias slipway.Handler fun(req: slipway.Request): slipway.Response|string

---@class slipway.ServeOpts
---@field handler slipway.Handler
---@field host? string default "127.0.0.1"
---@field port? integer default 0 (any free port)
---@field max_body? integer
---@field max_header? integer
---@field idle_timeout? number
---@field max_connections? integer default 1000 (at most half the open-file limit)
---@field log? boolean

---@class slipway.FilesOpts
---@field index? string|false
---@field dotfiles? boolean
---@field types? table<string, string>
---@field headers? table<string, string>

---@class slipway.Server
---@field port integer
---@field host string
local Server = {}

---"http://127.0.0.1:PORT" .. path.
---@param path? string
---@return string
function Server:url(path) end

---Stop accepting; requests in flight get `grace` seconds, then are cancelled.
---@param opts? {grace?: number}
function Server:close(opts) end

---@return {connections: integer, inflight: integer, requests: integer, refused: integer}
function Server:stats() end

---Listen and serve until srv:close() or the end of the program.
---@param opts slipway.ServeOpts
---@return slipway.Server
function server.serve(opts) end

---Serve the tree below dir (GET/HEAD, ETag, 304, no way out of dir).
---@param dir string
---@param opts? slipway.ServeOpts|slipway.FilesOpts
---@return slipway.Server
function server.serve_files(dir, opts) end

---A handler serving dir, to mix with your own routes.
---@param dir string
---@param opts? slipway.FilesOpts
---@return slipway.Handler
function server.files(dir, opts) end

---An HTTP date ("Sun, 06 Nov 1994 08:49:37 GMT").
---@param epoch number
---@return string
function server.http_date(epoch) end

---Seconds since the epoch from any of the three HTTP date forms, or nil.
---@param s string
---@return number?
function server.parse_http_date(s) end

return server
