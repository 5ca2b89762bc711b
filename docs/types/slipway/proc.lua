---@meta slipway.proc
-- Subprocesses (docs/proc.md): argv lists, never a shell; waiting suspends
-- only the calling task.

---@class slipway.proc
local proc = {}

---@alias slipway.ProcOutput "capture"|"inherit"|"discard"|{file: string}|file*|fun(line: string)

---@class slipway.ProcOpts
---@field cwd? string working directory of the child
---@field env? table<string, string|false> merged into slipway's environment; false removes
---@field clear_env? boolean start from an empty environment
---@field stdin? "inherit"|"pipe"|"null"|string|{data: string}|{file: string}|file* data, or a mode word (default /dev/null)
---@field stdout? slipway.ProcOutput default "capture"
---@field stderr? slipway.ProcOutput default "capture"
---@field timeout? number seconds; then the process group is terminated and "timeout" raised
---@field kill_grace? number seconds between SIGTERM and SIGKILL (5)
---@field pipe_grace? number|false seconds the output pipes may stay open after the command exited (5); then closed, their holders left running; false: no limit
---@field check? boolean raise on a non-zero exit, a signal or a timeout (default true)
---@field max_output? integer bytes kept per captured stream (4 MiB)
---@field readonly? boolean changes nothing: runs even under a dry run
---@field dry_run? boolean true: log the command and return a dry-run result; false: run it even under the dry-run hook
---@field echo? boolean log the command (default true)
---@field detach? boolean proc.spawn only: outlive slipway, return the pid

---@class slipway.ProcResult
---@field code integer exit code; 128 + N when killed by signal N; 124 on timeout
---@field signal integer the signal that ended it, or 0
---@field stdout string
---@field stderr string
---@field stdout_dropped? integer
---@field stderr_dropped? integer
---@field duration number seconds
---@field timed_out boolean
---@field pid integer
---@field cmd string the command, shell-quoted and redacted
---@field pipes_cut? string[] "stdout"/"stderr" closed after pipe_grace while a process the command started still held them
---@field dry_run? boolean

---A running process from proc.spawn.
---@class slipway.ProcHandle
---@field pid integer process id (also its process group's)
local ProcHandle = {}

---Wait for the end (stdin is closed first); raises as proc.run does unless
---check = false or the process was stopped with :kill().
---@return slipway.ProcResult
function ProcHandle:wait() end

---Without sig: terminate the group (SIGTERM, SIGKILL after kill_grace); with
---sig ("INT", "SIGHUP", 9, ...): send it to the group. Whether a signal was sent.
---@param sig? string|integer
---@return boolean
function ProcHandle:kill(sig) end

---Write to stdin; waits until the pipe took it. Raises EPIPE when the child closed it.
---@param data string
function ProcHandle:write(data) end

---The child reads EOF once pending writes are done.
function ProcHandle:close_stdin() end

---Iterator over the lines of "stdout" (default) or "stderr" as they come.
---@param stream? "stdout"|"stderr"
---@return fun(): string?
function ProcHandle:lines(stream) end

---Run to the end. Raises "exit", "signal", "timeout" or an errno code when
---it fails, unless opts.check == false.
---@param argv slipway.Argv
---@param opts? slipway.ProcOpts
---@return slipway.ProcResult
function proc.run(argv, opts) end

---Start and return at once (stdin defaults to "pipe"); with detach = true
---returns the pid of a process that outlives slipway (nil in a dry run).
---@param argv slipway.Argv
---@param opts? slipway.ProcOpts
---@return slipway.ProcHandle|integer|nil
function proc.spawn(argv, opts) end

---Whether pid is a live process (zombies count as dead) that is the one
---meant: with a number `mark`, its start time (proc.started) equals it; with
---a string, its command line or environment mentions it.
---@param pid integer|string
---@param mark? string|integer
---@return boolean
function proc.alive(pid, mark) end

---The start time of process pid (clock ticks since boot), or nil when there
---is no such process: with the pid, it names one process.
---@param pid integer|string
---@return integer|nil
function proc.started(pid) end

---The executable found on PATH (or on `path`), or nil.
---@param name string
---@param path? string a PATH-style list
---@return string?
function proc.which(name, path) end

---Send sig ("TERM", the default; "INT", "KILL", 9, ...; 0 only checks) to pid,
---or to the process group -pid. For processes slipway holds no handle for
---(a pid file, a detached process). Raises code "ESRCH" or "EPERM" with
---fields pid and signal; pid 0 and -1 are refused (plain error).
---@param pid integer|string a pid, -pgid, or digits read from a pid file
---@param sig? string|integer
---@return true
function proc.kill(pid, sig) end

---slipway's own process id (getpid()).
---@return integer
function proc.pid() end

---The command shell-quoted for reading, secrets as ***.
---@param argv slipway.Argv
---@return string
function proc.quote(argv) end

---Install a dry-run hook: true (every command not marked readonly), a
---function(argv, opts) -> boolean, or nil/false to remove. Returns the previous one.
---@param hook boolean|fun(argv: slipway.Argv, opts: slipway.ProcOpts): boolean|nil
---@return boolean|function|nil previous
function proc.set_dry_run(hook) end

return proc
