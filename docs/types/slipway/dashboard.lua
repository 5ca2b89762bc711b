---@meta slipway.dashboard
-- The read-only web page of `slipway dashboard` (docs/dashboard.md).

---@class slipway.dashboard
---@field LIMIT integer how many runs the overview lists at most
local dashboard = {}

---The dashboard's data over a read-only playbook context.
---@class slipway.Dashboard
---@field ctx slipway.Ctx
---@field state_dir string
local Dashboard = {}

---Environments and runs, as the front page shows them.
---@return table
function Dashboard:overview() end

---One run by id: `{summary, record, records, lines, bad_lines, torn_line, live}`, or nil.
---@param id string
---@return table?
function Dashboard:run(id) end

---The environment's HTTP checks, each tried once, never journalled.
---@param name string
---@return {env: string, url: string?, results: table[], at: number}
function Dashboard:health(name) end

---The record (read at most every 2 s: a git store fetches on every read) and the error reading it.
---@return table doc
---@return string? err
function Dashboard:record() end

---The runs, newest first (record and journals merged), the journal summaries, the record and its error.
---@return table[] rows
---@return table[] summaries
---@return table doc
---@return string? err
function Dashboard:runs() end

---Whether the run of a journal summary is still going on this machine (no run_end, its pid alive).
---@param summary table
---@return boolean
function Dashboard:live(summary) end

---The dashboard's data over a read-only context (`playbook.context{readonly = true}`).
---@param ctx slipway.Ctx
---@return slipway.Dashboard
function dashboard.open(ctx) end

---`s` with `& < > " '` as character references.
---@param s any
---@return string
function dashboard.html_escape(s) end

---JSON text with every string redacted (journal.clean) and `< > &` escaped as `\u003c`...
---@param v any
---@return string
function dashboard.json(v) end

---Parse `HOST:PORT`, `[::1]:PORT` or `PORT` (loopback); raises a "usage" error otherwise.
---@param s string
---@return string host
---@return integer port
function dashboard.parse_listen(s) end

---Whether a numeric address is a loopback one (127.0.0.0/8, ::1).
---@param host string
---@return boolean
function dashboard.loopback(host) end

---The request handler of the page.
---@param d slipway.Dashboard
---@param opts {token?: string, allowed_hosts?: table<string, boolean>}
---@return fun(req: table): table
function dashboard.handler(d, opts) end

---Serve the dashboard; a non-loopback `listen` needs a token.
---@param opts {ctx?: slipway.Ctx, data?: slipway.Dashboard, listen?: string, token?: string}
---@return slipway.Server srv with `srv.url`
---@return slipway.Dashboard d
function dashboard.serve(opts) end

return dashboard
