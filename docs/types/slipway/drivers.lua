---@meta slipway.drivers
-- Where an environment runs (docs/drivers.md). A driver is a module with
-- these functions; `local` and `kubernetes` are built in.

---@class slipway.drivers
---@field builtin string[]
---@field required string[] the functions every driver has
local drivers = {}

---@class slipway.DeployResult
---@field revision any
---@field versions table<string, string>
---@field url? string
---@field detail? table
---@field planned? boolean a dry run

---@class slipway.EnvStatus
---@field running boolean
---@field revision? any
---@field versions? table
---@field url? string
---@field since? number
---@field detail? table

---The driver interface.
---@class slipway.Driver
---@field deploy fun(ctx: slipway.Ctx, env: slipway.Environment): slipway.DeployResult
---@field status fun(ctx: slipway.Ctx, env: slipway.Environment): slipway.EnvStatus
---@field lock fun(ctx: slipway.Ctx, env: slipway.Environment, opts: {break_lock: boolean?, wait: number?}?): {unlock: fun(self)}
---@field render fun(ctx: slipway.Ctx, env: slipway.Environment): string?
---@field rendered? fun(ctx: slipway.Ctx, env: slipway.Environment): string?
---@field stop fun(ctx: slipway.Ctx, env: slipway.Environment)

---Load and validate a driver (code "driver" when unknown or incomplete).
---@param name string
---@return slipway.Driver
function drivers.get(name) end

---The driver of an environment (its options checked: drivers.check).
---@param env slipway.Environment
---@return slipway.Driver
function drivers.of(env) end

---env.options validated against the declared options of its driver, once.
---@param env slipway.Environment
---@return slipway.Environment
function drivers.check(env) end

return drivers
