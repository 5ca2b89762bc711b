---@meta slipway.progress
-- The live status line on a terminal (docs/progress.md).

---@class slipway.progress
---@field interval number seconds between redraws
local progress = {}

---Show label (with a spinner and elapsed time) until finish; returns an id.
---@param label string
---@return integer
function progress.begin(label) end

---Stop showing the item begin returned.
---@param id integer
function progress.finish(id) end

---Whether the live line is on (stderr a terminal, text log format).
---@return boolean
function progress.enabled() end

---Decide again whether the live line is on.
function progress.reset() end

---Take the line off the screen.
function progress.clear() end

---Draw the line again.
function progress.draw() end

---A journal observer that shows the playbook engine's running steps.
---@return fun(record: table)
function progress.observer() end

return progress
