---@meta slipway.notify
-- Notifications of a run (slipway.yaml `notify`): webhook, Slack, Grafana
-- annotation regions. They never fail or hang a run.

---@class slipway.notify
---@field timeout number per-request timeout in seconds (5)
---@field retries integer attempts after the first (2)
---@field deadline number seconds for one round to every target (15)
local notify = {}

---@class slipway.Notifier: slipway.notify
---@field targets table[]

---Validate the `notify` list (raises code "manifest"); returns a notifier.
---@param list? table[]
---@param where? string names the list in errors (default "slipway.yaml: notify")
---@return slipway.Notifier
function notify.new(list, where) end

---Announce the start of a run (Grafana: opens the annotation region).
---Call as n:start{run_id =, command =, env =, versions =}. Returns failures.
---@param self slipway.Notifier
---@param info table
---@return table[]
function notify.start(self, info) end

---Announce the end of a run with its outcome; returns the failures (never raises).
---Call as n:finish{outcome =, summary =, ...}.
---@param self slipway.Notifier
---@param info table
---@return table[]
function notify.finish(self, info) end

return notify
