---@meta slipway.exit
-- The exit statuses of every command (docs/deploy.md, "Exit status").

---@class slipway.exit
---@field ok 0
---@field failed 1
---@field usage 2
---@field reverted 3
---@field revert_failed 4
---@field locked 5
---@field revert_unpushed 6
---@field changes 7
---@field interrupted 130
---@field terminated 143
local exit = {}

---The exit status for an error a step or command raised.
---@param err any
---@return integer
function exit.for_error(err) end

return exit
