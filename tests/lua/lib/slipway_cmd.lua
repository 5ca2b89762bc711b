--- Run the real slipway binary (env SLIPWAY_BIN) in a shell, for CLI,
-- exit-code and output tests. io.popen blocks the whole loop while the
-- child runs, which is fine for these short children.
--
--   local cmd = require "slipway_cmd"
--   local r = cmd.run({"-e", "print(1)"}, {env = {X = "1"}})
--   r.code, r.stdout, r.stderr
--   local pid, h = cmd.start({"x.lua"})   -- background; h:read/h:close
local M = {}

M.bin = os.getenv("SLIPWAY_BIN") or "build/slipway"

--- sh quoting
function M.q(s)
  return "'" .. tostring(s):gsub("'", "'\\''") .. "'"
end

local function cmdline(args, opts, exec)
  local parts = {}
  for k, v in pairs(opts.env or {}) do
    parts[#parts + 1] = k .. "=" .. M.q(v)
  end
  if exec then parts[#parts + 1] = "exec" end
  parts[#parts + 1] = M.q(opts.bin or M.bin)
  for _, a in ipairs(args) do parts[#parts + 1] = M.q(a) end
  return table.concat(parts, " ")
end

local function tmpname()
  local p = os.tmpname()
  return p
end

--- run(args [, {env = {}, stdin = "text", bin = path, cwd = dir}]) -> {code, stdout, stderr}
function M.run(args, opts)
  opts = opts or {}
  local errf, inf = tmpname(), tmpname()
  local f = assert(io.open(inf, "w"))
  f:write(opts.stdin or "")
  f:close()
  local line = cmdline(args, opts) .. " <" .. M.q(inf) .. " 2>" .. M.q(errf)
  if opts.cwd then line = "cd " .. M.q(opts.cwd) .. " && " .. line end
  local h = assert(io.popen(line, "r"))
  local out = h:read("a")
  local ok, how, code = h:close()
  local ef = assert(io.open(errf, "r"))
  local err = ef:read("a")
  ef:close()
  os.remove(errf)
  os.remove(inf)
  if how == "signal" then code = 128 + code end
  return {code = code, stdout = out, stderr = err, ok = ok}
end

--- start(args [, opts]) -> pid, handle: runs in the background (stdout
-- readable from handle after the first line, which is the pid; stderr to
-- opts.stderr or /dev/null).
function M.start(args, opts)
  opts = opts or {}
  local line = "echo $$; " .. cmdline(args, opts, true) .. " </dev/null 2>"
    .. M.q(opts.stderr or "/dev/null")
  local h = assert(io.popen("sh -c " .. M.q(line) .. " 2>/dev/null", "r"))
  local pid = tonumber(h:read("l"))
  return pid, h
end

return M
