--- slipway.proc: run programs. argv lists only: there is no shell and no
-- string form of a command.
--
--   local proc = require "slipway.proc"
--   local r = proc.run({"helm", "upgrade", "--install", env, "mybinder",
--                       "-f", "config/" .. env .. ".yaml"}, {timeout = 600})
--   print(r.stdout)
--
--   local h = proc.spawn({"kubectl", "logs", "-f", pod})
--   for line in h:lines() do ... end
--
-- Every child runs in its own session and process group; a timeout, the
-- cancellation of the task waiting on it, and SIGINT/SIGTERM of slipway
-- terminate the whole group (SIGTERM, then SIGKILL after `kill_grace`
-- seconds). A run ends only after the exit and EOF on its pipes; what is
-- left of its process group then is killed. Failures raise structured errors
-- (codes "exit", "signal", "timeout", "ENOENT", ...) that name the command
-- (shell-quoted, secrets redacted), the exit code or signal, the duration and
-- the last lines of stderr. See docs/proc.md.
local core = require "slipway.proc.core"
local sw = require "slipway.core"
local log = require "slipway.log"
local errors = require "slipway.errors"

local M = {}

local DEFAULT_GRACE = 5
-- seconds the output pipes may stay open after the command itself exited
-- (a daemon it started holding them): then they are closed (docs/proc.md)
local DEFAULT_PIPE_GRACE = 5
local STDERR_TAIL_LINES = 10

-- ---- display ---------------------------------------------------------------

local function quote1(s)
  if s == "" then return "''" end
  if s:find("^[%w@%%+=:,./_-]+$") then return s end
  return "'" .. s:gsub("'", [['"'"']]) .. "'"
end

--- proc.quote(argv) -> string: the command shell-quoted for reading, with
-- registered secrets shown as ***. For display only: commands are never run
-- through a shell.
function M.quote(argv)
  local parts = {}
  for i = 1, #argv do
    local a = tostring(argv[i])
    local r = sw.redact(a)
    parts[i] = r ~= a and r or quote1(a)
  end
  return sw.redact(table.concat(parts, " "))
end

local function echo(level, line)
  log[level]("%s", line)
end

-- ---- dry runs ---------------------------------------------------------------

local dry_hook = nil

--- proc.set_dry_run(hook) -> previous hook. hook(argv, opts) -> true makes
-- a command a dry-run entry (logged, not run: its result has dry_run = true).
-- `true` means "every command not marked readonly"; nil or false removes the
-- hook. The playbook engine installs it for `--dry-run`.
function M.set_dry_run(hook)
  local prev = dry_hook
  if hook == true then
    hook = function(_, opts) return not opts.readonly end
  elseif hook ~= nil and hook ~= false and type(hook) ~= "function" then
    error("bad argument #1 to 'set_dry_run' (function, boolean or nil expected)", 2)
  end
  dry_hook = hook or nil
  return prev
end

local function is_dry(argv, opts)
  if opts.dry_run then return true end
  if opts.dry_run == false then return false end
  return dry_hook ~= nil and dry_hook(argv, opts) and true or false
end

local function dry_result(display)
  return {code = 0, signal = 0, stdout = "", stderr = "", stdout_dropped = 0,
          stderr_dropped = 0, duration = 0, timed_out = false, dry_run = true,
          cmd = display}
end

-- ---- options ----------------------------------------------------------------

local KNOWN = {cwd = 1, env = 1, clear_env = 1, stdin = 1, stdout = 1, stderr = 1,
  timeout = 1, kill_grace = 1, pipe_grace = 1, check = 1, readonly = 1, dry_run = 1,
  max_output = 1, detach = 1, echo = 1}

local function argerr(fname, msg) error(sw.where(1) .. fname .. ": " .. msg, 0) end

-- A NUL would cut the string short where the C side hands it to the child
-- (or open(2)): what ran would differ from what is logged. Returns s.
local function no_nul(fname, what, s)
  if s:find("\0", 1, true) then argerr(fname, "bad argument: " .. what .. " contains a NUL byte") end
  return s
end

local function check_argv(fname, argv)
  if type(argv) == "string" then
    argerr(fname, "argv must be a list such as {\"helm\", \"upgrade\", ...}; "
      .. "there is no shell (use {\"sh\", \"-c\", script} if you need one)")
  end
  if type(argv) ~= "table" or argv[1] == nil then
    argerr(fname, "argv must be a non-empty list of strings")
  end
  local out = {}
  for i = 1, #argv do
    local a = argv[i]
    local t = type(a)
    if t == "number" then a = tostring(a)
    elseif t ~= "string" then
      argerr(fname, ("argv[%d] must be a string, got %s"):format(i, t))
    end
    out[i] = no_nul(fname, ("argv[%d]"):format(i), a)
  end
  return out
end

-- The child's PWD: what a shell would set after `cd cwd` (an inherited PWD
-- would name slipway's directory, not the child's). A relative cwd starts
-- at $PWD when it names the current directory (the path the user sees,
-- through symlinks), else at getcwd(3): whoever started slipway elsewhere
-- may have left a stale $PWD.
local function child_pwd(cwd)
  if cwd:sub(1, 1) == "/" then return cwd end
  local fscore = require "slipway.fs.core"
  local real = fscore.cwd()
  if not real then return nil end
  local here = os.getenv("PWD")
  if not (here and here:sub(1, 1) == "/" and fscore.realpath(here) == real) then here = real end
  return ((here .. "/" .. cwd):gsub("/%./", "/"):gsub("/%.$", ""))
end

local function build_env(fname, opts)
  if opts.env == nil and not opts.clear_env and opts.cwd == nil then
    return nil, os.getenv("PATH")
  end
  if opts.env ~= nil and type(opts.env) ~= "table" then
    argerr(fname, "opts.env must be a table {NAME = value}")
  end
  local env = opts.clear_env and {} or core.environ()
  if opts.cwd and not opts.clear_env then env.PWD = child_pwd(opts.cwd) end
  for k, v in pairs(opts.env or {}) do
    if type(k) ~= "string" or k == "" or k:find("[=%z]") then
      argerr(fname, "opts.env: bad variable name " .. string.format("%q", tostring(k)))
    end
    if v == false then env[k] = nil
    elseif type(v) == "string" or type(v) == "number" then env[k] = tostring(v)
    else argerr(fname, "opts.env." .. k .. " must be a string, number or false") end
    if v then no_nul(fname, "opts.env." .. k, env[k]) end
  end
  local list = {}
  for k, v in pairs(env) do list[#list + 1] = k .. "=" .. v end
  table.sort(list)
  return list, env.PATH
end

-- Fills spec.<name>, spec.<name>_file / _handle from opts[name].
local function out_mode(fname, spec, name, v, detach)
  if v == nil then
    spec[name] = detach and "discard" or "capture"
  elseif v == "capture" or v == "inherit" or v == "discard" then
    spec[name] = v
  elseif type(v) == "function" then
    spec[name] = "lines"
  elseif type(v) == "table" and type(v.file) == "string" then
    spec[name] = "file"; spec[name .. "_file"] = no_nul(fname, "opts." .. name .. ".file", v.file)
  elseif io.type(v) == "file" then
    spec[name] = "file"; spec[name .. "_handle"] = v
  else
    argerr(fname, "opts." .. name .. " must be \"capture\", \"inherit\", \"discard\", "
      .. "a function (called with each line) or {file = path}")
  end
end

local function in_mode(fname, spec, v, default)
  if v == nil then spec.stdin = default
  elseif type(v) == "string" then
    if v == "pipe" or v == "inherit" or v == "null" then spec.stdin = v
    else spec.stdin = "data"; spec.stdin_data = v end
  elseif type(v) == "table" and type(v.data) == "string" then
    spec.stdin = "data"; spec.stdin_data = v.data
  elseif type(v) == "table" and type(v.file) == "string" then
    spec.stdin = "file"; spec.stdin_file = no_nul(fname, "opts.stdin.file", v.file)
  elseif io.type(v) == "file" then
    spec.stdin = "file"; spec.stdin_handle = v
  else
    argerr(fname, "opts.stdin must be a string (the data), {data = s}, {file = path}, "
      .. "a file, \"pipe\", \"inherit\" or \"null\"")
  end
end

local function number_opt(fname, opts, name)
  local v = opts[name]
  if v ~= nil and (type(v) ~= "number" or v < 0) then
    argerr(fname, "opts." .. name .. " must be a number >= 0")
  end
  return v
end

-- Validate and translate (argv, opts) into the C core's spec.
local function make_spec(fname, argv, opts, stdin_default)
  if opts ~= nil and type(opts) ~= "table" then argerr(fname, "opts must be a table") end
  opts = opts or {}
  for k in pairs(opts) do
    if not KNOWN[k] then argerr(fname, "unknown option '" .. tostring(k) .. "'") end
  end
  argv = check_argv(fname, argv)
  if opts.cwd ~= nil and type(opts.cwd) ~= "string" then argerr(fname, "opts.cwd must be a string") end
  if opts.cwd then no_nul(fname, "opts.cwd", opts.cwd) end
  local env, path = build_env(fname, opts)
  local spec = {argv = argv, env = env, cwd = opts.cwd, detach = opts.detach and true or false,
    timeout = number_opt(fname, opts, "timeout"),
    kill_grace = number_opt(fname, opts, "kill_grace") or DEFAULT_GRACE,
    pipe_grace = opts.pipe_grace ~= false and (number_opt(fname, opts, "pipe_grace")
      or DEFAULT_PIPE_GRACE) or nil,
    max_output = number_opt(fname, opts, "max_output")}
  in_mode(fname, spec, opts.stdin, stdin_default)
  out_mode(fname, spec, "stdout", opts.stdout, spec.detach)
  out_mode(fname, spec, "stderr", opts.stderr, spec.detach)
  return spec, opts, path or "/usr/local/bin:/usr/bin:/bin"
end

-- ---- errors -----------------------------------------------------------------

local function last_lines(s, n)
  local lines = {}
  for line in s:gmatch("[^\n]+") do
    lines[#lines + 1] = line
    if #lines > n then table.remove(lines, 1) end
  end
  return lines
end

local function fmt_duration(d) return ("%.2f s"):format(d) end

local function failure(res, display, tail, timeout)
  local what, code
  if res.timed_out then
    code = "timeout"
    what = "timed out after " .. (timeout or "?") .. " s; its process group was terminated, "
      .. "ended after " .. fmt_duration(res.duration)
  elseif res.signal ~= 0 then
    code = "signal"
    what = "killed by " .. core.signame(res.signal) .. " after " .. fmt_duration(res.duration)
  else
    code = "exit"
    what = "exit code " .. res.code .. " after " .. fmt_duration(res.duration)
  end
  local msg = "command failed: " .. display .. " (" .. what .. ")"
  -- redacted whole BEFORE lines are cut to 400 bytes: a cut secret would
  -- no longer match and its head would be shown
  local stderr_tail = sw.redact(table.concat(tail, "\n"))
  if #tail > 0 then
    local shown = {}
    for l in (stderr_tail .. "\n"):gmatch("(.-)\n") do
      shown[#shown + 1] = "  " .. (#l > 400 and l:sub(1, 400) .. "..." or l)
    end
    msg = msg .. "\nstderr (last lines):\n" .. table.concat(shown, "\n")
  end
  -- a timeout may pass; whether an exit code would, nobody knows (nil)
  return code, msg, {cmd = display, exit_code = res.code, signal = res.signal,
    duration = res.duration, timed_out = res.timed_out, retryable = res.timed_out or nil,
    stderr_tail = stderr_tail, result = res}
end

local function raise_spawn_error(fname, argv, display, path, ename, emsg)
  if emsg == nil then  -- not found by which()
    sw.raise("ENOENT", argv[1] .. ": command not found in PATH=" .. path,
      {cmd = display, argv0 = argv[1], retryable = false})
  end
  sw.raise(ename, fname .. ": cannot run " .. display .. ": " .. emsg,
    {cmd = display, retryable = errors.retryable_code(ename)})
end

-- ---- handles ------------------------------------------------------------------

local Handle = {}
local state = setmetatable({}, {__mode = "k"})  -- handle -> Lua-side state

core.proc_mt.__index = function(h, k)
  if k == "pid" then return (core.info(h)) end
  return Handle[k]
end
core.proc_mt.__close = function(h) if state[h] then core.terminate(h) end end
core.proc_mt.__tostring = function(h)
  local st = state[h]
  return ("process %d (%s)"):format((core.info(h)), st and st.display or "?")
end

local function split_lines(chunk, fn, st, is_err)
  local pos, n = 1, #chunk
  while pos <= n do
    local nl = chunk:find("\n", pos, true)
    local line = chunk:sub(pos, (nl or n + 1) - 1)
    pos = (nl or n) + 1
    if is_err then
      local t = st.err_tail
      t[#t + 1] = line
      if #t > STDERR_TAIL_LINES then table.remove(t, 1) end
    end
    if fn then fn(line) end
  end
end

-- Drive the line callbacks (if any), then wait for the end.
local function finish(h, st)
  local mask = (st.out_fn and 1 or 0) + (st.err_fn and 2 or 0)
  if mask ~= 0 then
    while true do
      local o, e, done = core.poll(h, mask)
      if o then split_lines(o, st.out_fn, st, false) end
      if e then split_lines(e, st.err_fn, st, true) end
      if done then break end
    end
  end
  local res = core.wait(h)
  res.cmd = st.display
  if res.pipes_cut then
    echo("warn", ("%s exited, but processes it started kept its %s open: closed after "
      .. "pipe_grace (%s s) and left running (process group %d)"):format(st.display,
      table.concat(res.pipes_cut, " and "), st.pipe_grace, res.pid))
  end
  if st.check and not st.killed and (res.code ~= 0 or res.timed_out) then
    local tail = st.err_fn and st.err_tail or last_lines(res.stderr, STDERR_TAIL_LINES)
    local code, msg, fields = failure(res, st.display, tail, st.timeout)
    sw.raise(code, msg, fields)
  end
  return res
end

local function guarded(h, fn, ...)
  local r = table.pack(pcall(fn, ...))
  if not r[1] then
    core.terminate(h)  -- cancelled or failed while the child runs: stop it
    error(r[2], 0)
  end
  return table.unpack(r, 2, r.n)
end

--- h:wait() -> result: wait until the process has exited and its output
-- pipes are closed. Closes stdin first (after pending writes). Raises like
-- proc.run when the command failed and opts.check was not false (unless the
-- process was stopped with h:kill()). Calling it again returns the same result.
function Handle:wait()
  local st = state[self]
  if st.dry then return st.dry end
  return guarded(self, finish, self, st)
end

--- h:kill([sig]): without sig, terminate the process group (SIGTERM, then
-- SIGKILL after kill_grace); with sig ("TERM", "INT", "KILL", 9, ...), send
-- that signal to the group. Returns whether a signal was sent. A process
-- stopped this way does not make wait() raise.
function Handle:kill(sig)
  local st = state[self]
  if st.dry then return false end
  st.killed = true
  if sig == nil then
    local _, finished = core.info(self)
    core.terminate(self)
    return not finished
  end
  return core.signal(self, core.signum(sig))
end

--- h:write(data): write to the child's stdin (opts.stdin = "pipe", the
-- default for spawn); waits until the pipe took it. Raises code "EPIPE" when
-- the child closed its stdin.
function Handle:write(data)
  local st = state[self]
  if st.dry then return end
  if type(data) ~= "string" then
    error("bad argument #1 to 'write' (string expected, got " .. type(data) .. ")", 2)
  end
  local ok, ename, emsg = guarded(self, core.write, self, data)
  if not ok then
    sw.raise(ename, "writing to " .. st.display .. ": " .. emsg, {cmd = st.display})
  end
end

--- h:close_stdin(): the child reads EOF once pending writes are done.
function Handle:close_stdin()
  if not state[self].dry then core.close_stdin(self) end
end

--- h:lines([stream]) -> iterator over the lines ("\n" removed) of "stdout"
-- (default) or "stderr", as they come; the task waits between lines. The
-- stream must be captured (the default). Stops at EOF.
function Handle:lines(stream)
  local st = state[self]
  stream = stream or "stdout"
  local idx = stream == "stdout" and 1 or stream == "stderr" and 2
  if not idx then error("bad argument #1 to 'lines' (\"stdout\" or \"stderr\")", 2) end
  if st.dry then return function() return nil end end
  core.lines(self, idx)
  local buf, pos = {}, 1
  local function collect(line) buf[#buf + 1] = line end
  return function()
    while true do
      if pos <= #buf then
        pos = pos + 1
        return buf[pos - 1]
      end
      buf, pos = {}, 1
      local out, err, done = guarded(self, core.poll, self, idx)
      local chunk = idx == 1 and out or err
      if chunk then split_lines(chunk, collect, st, idx == 2) end
      if #buf == 0 and done then return nil end
    end
  end
end

-- ---- the module functions -------------------------------------------------------

local function start(fname, argv, opts, stdin_default)
  local spec, o, path = make_spec(fname, argv, opts, stdin_default)
  argv = spec.argv
  local display = M.quote(argv)
  local dry = is_dry(argv, o)
  if o.echo ~= false then
    local line = (dry and "[dry run] $ " or "$ ") .. display
    if o.cwd then line = line .. "   (in " .. o.cwd .. ")" end
    echo(o.readonly and "debug" or "info", line)
  end
  if dry then return nil, display, o end
  local exe = core.which(argv[1], path)
  if not exe then
    if argv[1]:find("/", 1, true) then exe = argv[1]  -- let spawn report it
    else raise_spawn_error(fname, argv, display, path, "ENOENT") end
  end
  spec.path = exe
  local h, ename, emsg = core.spawn(spec)
  if not h then raise_spawn_error(fname, argv, display, path, ename, emsg) end
  if o.detach then return h, display, o end
  state[h] = {display = display, check = o.check ~= false, err_tail = {}, timeout = o.timeout,
    pipe_grace = spec.pipe_grace,
    out_fn = type(o.stdout) == "function" and o.stdout or nil,
    err_fn = type(o.stderr) == "function" and o.stderr or nil}
  return h, display, o
end

--- proc.run(argv, opts) -> result {code, signal, stdout, stderr, duration,
-- timed_out, stdout_dropped, stderr_dropped, pid, cmd, pipes_cut}.
-- opts: cwd, env ({NAME = value|false}, merged into slipway's environment
-- unless clear_env), stdin (a string of data, {file = path}, a file,
-- "inherit"; default: /dev/null), stdout / stderr ("capture" (default),
-- "inherit", "discard", {file = path} (appended), or a function called with
-- each line), timeout (s; code 124 and code "timeout" when it fires),
-- kill_grace (s between SIGTERM and SIGKILL, default 5), pipe_grace (s the
-- output pipes may stay open once the command exited, default 5; false: no
-- limit; then they are closed, res.pipes_cut names them and whatever held
-- them is left running), check (default true: a failure raises),
-- max_output (bytes kept per captured stream,
-- default 4 MiB: head and tail are kept, the rest counted in *_dropped),
-- readonly (safe in a dry run), dry_run, echo (false: do not log it).
function M.run(argv, opts)
  if type(opts) == "table" and opts.detach then
    error("proc.run: use proc.spawn(argv, {detach = true}) to start a detached process", 2)
  end
  core.check_wait("proc.run")
  local h, display = start("proc.run", argv, opts, "null")
  if not h then return dry_result(display) end
  return guarded(h, finish, h, state[h])
end

--- proc.spawn(argv, opts) -> handle with :wait() :kill(sig) :write(s)
-- :close_stdin() :lines(stream) and .pid. Options as proc.run, except that
-- stdin defaults to "pipe". With opts.detach = true the process outlives
-- slipway instead: its own session, stdio to {file = path} (appended) or
-- /dev/null, never killed by slipway; returns its pid (nil in a dry run).
function M.spawn(argv, opts)
  local h, display = start("proc.spawn", argv, opts,
    type(opts) == "table" and opts.detach and "null" or "pipe")
  if type(opts) == "table" and opts.detach then return h end
  if not h then
    -- a dry run: a handle-like object whose wait() returns the dry result
    local dry = setmetatable({}, {__index = Handle})
    state[dry] = {dry = dry_result(display)}
    return dry
  end
  return h
end

--- proc.kill(pid [, sig]) -> true: send signal sig ("TERM", the default;
-- "KILL", "INT", "HUP", "SIGUSR1", 9, ...) to the process pid, or to the
-- process group -pid when pid is negative, as kill(2). sig 0 sends nothing:
-- it only checks that the process exists and may be signalled. For processes
-- slipway did not start or no longer holds a handle for (a pid file, a
-- detached process); a handle's own h:kill() knows when its process is gone.
-- Raises a structured error with code "ESRCH" (no such process) or "EPERM"
-- and fields pid and signal. pid 0 and -1 are refused (plain error): kill(2)
-- would signal slipway's own group or every process the user may signal.
function M.kill(pid, sig)
  local n = math.tointeger(pid)
  if n == nil and type(pid) == "string" then n = math.tointeger(tonumber(pid)) end
  if n == nil or n > 0x7fffffff or n < -0x7fffffff then
    error("bad argument #1 to 'kill' (process id expected, got " .. tostring(pid) .. ")", 2)
  end
  if n == 0 or n == -1 then
    error("bad argument #1 to 'kill' (" .. n .. " is not a process: kill(2) would signal "
      .. (n == 0 and "slipway's own process group" or "every process") .. ")", 2)
  end
  local signum
  if sig == nil then signum = 15
  elseif sig == 0 then signum = 0
  else
    local ok, v = pcall(core.signum, sig)
    if not ok then error("bad argument #2 to 'kill' (unknown signal " .. tostring(sig) .. ")", 2) end
    signum = v
  end
  local ok, ename, emsg = core.kill(n, signum)
  if not ok then
    local signame = signum == 0 and "signal 0" or core.signame(signum)
    sw.raise(ename, ("proc.kill: cannot send %s to %s %d: %s"):format(signame,
      n < 0 and "process group" or "process", math.abs(n), emsg), {pid = n, signal = signum})
  end
  return true
end

--- proc.pid() -> the process id of slipway itself (getpid()).
function M.pid()
  return core.pid()
end

local function read_file(path)
  local f = io.open(path, "r")
  if not f then return nil end
  local s = f:read("a")
  f:close()
  return s
end

-- state and start time (clock ticks since boot) of a process, from /proc
local function stat_of(pid)
  local stat = read_file("/proc/" .. pid .. "/stat")
  if not stat then return nil end
  local rest = stat:match("^%d+ %b() (.*)$")
  if not rest then return nil end
  local f = {}
  for w in rest:gmatch("%S+") do f[#f + 1] = w end
  return f[1], tonumber(f[20])
end

local function check_pid(pid)
  pid = math.tointeger(tonumber(pid))
  if not pid or pid <= 0 then return nil end
  return pid
end

--- proc.started(pid) -> the start time of process pid (clock ticks since
-- boot, /proc/PID/stat), or nil when there is no such process (or only its
-- zombie). Set when the
-- process is created and kept through exec: pid and start time together
-- name one process for as long as the system runs, where a pid alone may be
-- reused. Read it right after proc.spawn{detach = true} and keep it with the
-- pid; proc.alive(pid, start) then tells that process from a later one.
function M.started(pid)
  pid = check_pid(pid)
  if not pid then return nil end
  local state, start = stat_of(pid)
  if not state or state == "Z" or state == "X" then return nil end
  return start
end

--- proc.alive(pid [, mark]) -> whether pid is a live process (zombies count
-- as dead) that is the one meant (guards against a reused pid): with a
-- number `mark`, its start time (proc.started) must be `mark`; with a
-- string, its command line or environment must contain it. Prefer the
-- start time: a process that has just been spawned has an empty command
-- line and environment in /proc until its exec completes (a string mark
-- then says "dead" about a live process). Reads /proc.
function M.alive(pid, mark)
  pid = check_pid(pid)
  if not pid then return false end
  local state, start = stat_of(pid)
  if not state or state == "Z" or state == "X" then return false end
  if type(mark) == "number" then return start == mark end
  if mark then
    local cmd = read_file("/proc/" .. pid .. "/cmdline") or ""
    local envs = read_file("/proc/" .. pid .. "/environ") or ""
    if not (cmd:find(mark, 1, true) or envs:find(mark, 1, true)) then return false end
  end
  return true
end

--- proc.which(name) -> absolute path of the executable found on PATH, or nil.
function M.which(name, path)
  if type(name) ~= "string" then
    error("bad argument #1 to 'which' (string expected, got " .. type(name) .. ")", 2)
  end
  return core.which(name, path or os.getenv("PATH") or "/usr/local/bin:/usr/bin:/bin")
end

return M
