--- slipway.progress: a live status line on a terminal.
--
-- While steps and checks run, a person at a terminal sees one line at the
-- bottom of the output that names each of them with a spinner and the time
-- it has been running:
--
--   ⠹ stage 2.4s · check health (staging) 0.3s · check launch (staging) 0.3s
--
-- Log lines go above it (the line is cleared, the log line written, the line
-- drawn again). Off a terminal, with --log-format=json, or with
-- SLIPWAY_PROGRESS=0 there is no live line: the log's plain timestamped
-- lines say the same.
--
--   local id = progress.begin("check health (staging)")
--   ...
--   progress.finish(id)
-- The playbook engine's steps arrive through the journal (observe); checks
-- call begin/finish themselves.
local M = {}

local FRAMES = {"⠋", "⠙", "⠹", "⠸", "⠼", "⠴", "⠦", "⠧", "⠇", "⠏"}
M.interval = 0.1

local active, order, next_id = {}, {}, 0
local shown = false   -- the line is on the screen now
local ticking = false
local frame = 0
local enabled_cache

--- Whether the live line is on (stderr is a terminal, text log format).
function M.enabled()
  if enabled_cache ~= nil then return enabled_cache end
  local v = os.getenv("SLIPWAY_PROGRESS")
  if v == "0" then enabled_cache = false; return false end
  local log = require "slipway.log"
  local c = log.configure()
  enabled_cache = (v == "1") or (c.human and c.format == "text" and c.stream == io.stderr)
  return enabled_cache
end

--- Forget the cached decision (tests, or after log.configure).
function M.reset() enabled_cache = nil end

local function now() return require("slipway.task").now() end

local function text()
  local parts = {}
  local t = now()
  for _, id in ipairs(order) do
    local a = active[id]
    if a then parts[#parts + 1] = string.format("%s %.1fs", a.label, t - a.t0) end
  end
  local line = FRAMES[frame % #FRAMES + 1] .. " " .. table.concat(parts, " · ")
  local width = tonumber(os.getenv("COLUMNS") or "") or 100
  if utf8.len(line) and utf8.len(line) > width - 1 then
    line = line:sub(1, utf8.offset(line, width - 2) - 1) .. "…"
  end
  return line
end

--- Take the line off the screen (before something else is written).
function M.clear()
  if shown then
    io.stderr:write("\r\27[K")
    shown = false
  end
end

--- Draw the line (when something is running).
function M.draw()
  if not M.enabled() or next(active) == nil then return end
  io.stderr:write("\r\27[K", require("slipway.core").redact(text()))
  io.stderr:flush()
  shown = true
end

local function tick()
  while next(active) ~= nil do
    frame = frame + 1
    M.draw()
    require("slipway.task").sleep(M.interval)
  end
  M.clear()
  ticking = false
end

--- Start showing label; returns an id for finish.
function M.begin(label)
  next_id = next_id + 1
  if not M.enabled() then return next_id end
  -- a step or check name from a playbook: escaped, it must not act on the
  -- terminal (a CR or ESC would rewrite the screen under the live line)
  active[next_id] = {label = require("slipway.core").escape(tostring(label)), t0 = now()}
  order[#order + 1] = next_id
  if not ticking then
    ticking = true
    local ok = pcall(function() require("slipway.task").spawn(tick) end)
    if not ok then ticking = false end
  end
  M.draw()
  return next_id
end

--- Stop showing the item begin returned.
function M.finish(id)
  if active[id] == nil then return end
  active[id] = nil
  for i, x in ipairs(order) do if x == id then table.remove(order, i) break end end
  if next(active) == nil then M.clear() else M.draw() end
end

--- A journal observer: steps of the playbook engine.
function M.observer()
  local steps = {}
  return function(rec)
    if rec.type == "step_start" then
      steps[rec.step] = M.begin(tostring(rec.step))
    elseif rec.type == "step_end" and steps[rec.step] then
      M.finish(steps[rec.step])
      steps[rec.step] = nil
    elseif rec.type == "run_end" then
      for k, id in pairs(steps) do M.finish(id); steps[k] = nil end
    end
  end
end

return M
