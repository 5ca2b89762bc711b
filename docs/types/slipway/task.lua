---@meta slipway.task
-- Tasks (docs/tasks.md): cooperative, one thread; waiting suspends only the
-- calling task.

---@class slipway.task
local task = {}

---@alias slipway.TaskStatus "ready"|"running"|"waiting"|"done"|"failed"|"cancelled"

---A task (a coroutine driven by slipway's scheduler).
---@class slipway.Task
local Task = {}

---Wait until the task ends; `true, results...` or `false, err`.
---@return boolean ok
---@return any ...
function Task:wait() end

---Wait and return its results, re-raising its error.
---@return any ...
function Task:join() end

---Cancel the task (no-op when it has ended): it gets a "cancelled" error where it waits.
function Task:cancel() end

---@return slipway.TaskStatus
function Task:status() end

---Whether the task has ended, in any way.
---@return boolean
function Task:done() end

---@return {id: integer, parent: integer?, where: string, traceback: string}
function Task:info() end

---Start `fn(...)` in a new task (it runs from the next loop turn).
---@param fn fun(...): ...
---@param ... any
---@return slipway.Task
function task.spawn(fn, ...) end

---Wait at least `seconds` (`sleep(0)` lets the others run).
---@param seconds number
function task.sleep(seconds) end

---Let the other ready tasks run, then continue.
function task.yield() end

---Monotonic clock, in seconds.
---@return number
function task.now() end

---The running task.
---@return slipway.Task
function task.current() end

---Run every function concurrently; the list of their first results. The
---first error cancels the others and is raised.
---@param fns (fun(): any)[]
---@return any[]
function task.all(fns) end

---The first function to succeed wins (its index and results); the others are
---cancelled. When all fail, the last error is raised.
---@param fns (fun(): any)[]
---@return integer index
---@return any ...
function task.any(fns) end

---The first function to end (success or error) wins; the others are cancelled.
---@param fns (fun(): any)[]
---@return integer index
---@return any ...
function task.race(fns) end

---`fn(...)` with a deadline: when it passes, fn's task is cancelled and an
---error with code "timeout" is raised.
---@param seconds number
---@param fn fun(...): ...
---@param ... any
---@return any ...
function task.timeout(seconds, fn, ...) end

return task
