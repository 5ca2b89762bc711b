---@meta slipway.drivers.local
-- The local driver (docs/deploy.md, "The local driver"): each environment
-- is a process on 127.0.0.1 started from `local.command`.

---@class slipway.drivers.local: slipway.Driver
---@field defaults table command, health, port, startup_timeout, stop_timeout, keep
local local_driver = {}

---Deploy a new release, wait for ready + health, switch, stop the old one.
---@param ctx slipway.Ctx
---@param env slipway.Environment
---@return slipway.DeployResult
function local_driver.deploy(ctx, env) end

---@param ctx slipway.Ctx
---@param env slipway.Environment
---@return slipway.EnvStatus
function local_driver.status(ctx, env) end

---An flock on STATE_DIR/envs/ENV/lock.
---@param ctx slipway.Ctx
---@param env slipway.Environment
---@param opts? {break_lock?: boolean, wait?: number}
---@return slipway.Lock
function local_driver.lock(ctx, env, opts) end

---The release description deploy would start (JSON).
---@param ctx slipway.Ctx
---@param env slipway.Environment
---@return string
function local_driver.render(ctx, env) end

---The current release's description, or nil.
---@param ctx slipway.Ctx
---@param env slipway.Environment
---@return string?
function local_driver.rendered(ctx, env) end

---End the environment's processes (idempotent).
---@param ctx slipway.Ctx
---@param env slipway.Environment
function local_driver.stop(ctx, env) end

---Whether pid is alive and its command line or environment mentions mark.
---@param pid integer
---@param mark? string
---@return boolean
function local_driver.alive(pid, mark) end

---SIGTERM pid's group, SIGKILL after grace seconds; waits until it is gone.
---@param pid integer
---@param mark? string
---@param grace? number
function local_driver.kill(pid, mark, grace) end

---The running slipway binary ($SLIPWAY in local.command).
---@return string
function local_driver.slipway_bin() end

return local_driver
