--- slipway.notify: tell people and dashboards what a run did.
--
-- Configured by `notify` in slipway.yaml, a list of targets:
--
--   notify:
--     - type: webhook            # POST a JSON document at the end of a run
--       url: https://example.org/hooks/deploy
--       token_env: HOOK_TOKEN    # optional: "Authorization: Bearer <value>"
--     - type: slack              # Slack-compatible incoming webhook
--       url_env: SLACK_WEBHOOK_URL
--     - type: grafana            # an annotation region from start to end
--       url: https://grafana.example.org
--       token_env: GRAFANA_TOKEN
--       tags: [deploy]           # added to env, versions and outcome tags
--       dashboard_uid: abc123    # optional
--
-- Values read from the environment (`*_env`) are registered as secrets, so a
-- webhook URL or token never reaches a log line, an error or the journal.
--
-- A notification never fails or hangs a run: every request has a short
-- timeout, is retried, runs concurrently with the others under one deadline,
-- and a failure is logged as a warning and returned, never raised.
--
--   local n = notify.new(manifest.notify)
--   n:start{run_id = id, command = "deploy", env = "staging", versions = {...}}
--   ...
--   n:finish{outcome = "success"|"failed"|"reverted"|"revert-failed", summary = "..."}
local core = require "slipway.core"
local task = require "slipway.task"

local M = {}

--- Per-request timeout, attempts and the deadline for a whole round.
M.timeout, M.retries, M.deadline = 5, 2, 15

local TYPES = {webhook = true, slack = true, grafana = true}

local log_mod = require "slipway.log"
local function log() return log_mod end

local function from_env(t, key, where)
  local name = t[key .. "_env"]
  if name then
    local v = os.getenv(name)
    if v == nil or v == "" then
      core.raise("manifest", where .. ": " .. key .. "_env names $" .. name ..
        ", which is not set")
    end
    core.secret(v)
    return v
  end
  -- a token written into slipway.yaml itself is still a secret
  if key == "token" and type(t.token) == "string" and t.token ~= "" then core.secret(t.token) end
  return t[key]
end

--- Validate the `notify` list; returns a notifier. `where` names it in
-- errors (default "slipway.yaml: notify").
function M.new(list, where)
  where = where or "slipway.yaml: notify"
  local self = setmetatable({targets = {}, started = false}, {__index = M})
  if list == nil then return self end
  if type(list) ~= "table" then core.raise("manifest", where .. ": expected a list") end
  for i, t in ipairs(list) do
    local w = string.format("%s[%d]", where, i)
    if type(t) ~= "table" then core.raise("manifest", w .. ": expected a mapping") end
    if not TYPES[t.type] then
      core.raise("manifest", w .. ".type: expected webhook, slack or grafana, got " ..
        tostring(t.type))
    end
    local url = from_env(t, "url", w)
    if type(url) ~= "string" or not url:match("^https?://") then
      core.raise("manifest", w .. ".url: expected an http(s) URL")
    end
    if t.type == "grafana" then url = url:gsub("/+$", "") end
    self.targets[#self.targets + 1] = {
      type = t.type, url = url,
      token = from_env(t, "token", w), tags = t.tags or {},
      dashboard_uid = t.dashboard_uid, name = t.name or t.type,
    }
  end
  return self
end

local function tags_for(info, extra)
  local tags = {}
  for _, t in ipairs(extra or {}) do tags[#tags + 1] = t end
  if info.command then tags[#tags + 1] = "slipway:" .. info.command end
  if info.env then tags[#tags + 1] = "env:" .. info.env end
  if info.outcome then tags[#tags + 1] = "outcome:" .. info.outcome end
  local names = {}
  for k in pairs(info.versions or {}) do names[#names + 1] = k end
  table.sort(names)
  for _, k in ipairs(names) do tags[#tags + 1] = k .. ":" .. tostring(info.versions[k]) end
  return tags
end

local function text_for(info)
  local parts = {}
  parts[#parts + 1] = string.format("slipway %s%s: %s", info.command or "run",
    info.env and (" " .. info.env) or "", info.outcome or "started")
  local names = {}
  for k in pairs(info.versions or {}) do names[#names + 1] = k end
  table.sort(names)
  for _, k in ipairs(names) do
    parts[#parts + 1] = string.format("%s %s", k, tostring(info.versions[k]))
  end
  if info.summary then parts[#parts + 1] = info.summary end
  if info.run_id then parts[#parts + 1] = "run " .. info.run_id end
  return table.concat(parts, "\n")
end

local function send(target, method, url, body)
  local http = require "slipway.http"
  local headers = {}
  if target.token then headers["Authorization"] = "Bearer " .. target.token end
  local res = http.request{method = method, url = url, json = body, headers = headers,
    timeout = M.timeout, connect_timeout = M.timeout, retries = M.retries,
    retry_on = "always"}
  if res.status >= 300 then
    core.raise("http", string.format("%s %s: HTTP %d", method, url, res.status),
      {status = res.status})
  end
  return res
end

local handlers = {}

function handlers.grafana(self, target, phase, info)
  local now = os.time() * 1000
  if phase == "start" then
    local res = send(target, "POST", target.url .. "/api/annotations", {
      time = now, tags = tags_for(info, target.tags), text = text_for(info),
      dashboardUID = target.dashboard_uid,
    })
    local ok, doc = pcall(res.json, res)
    target.annotation = ok and type(doc) == "table" and doc.id or nil
    target.start_ms = now
  elseif target.annotation then
    send(target, "PATCH", target.url .. "/api/annotations/" .. target.annotation, {
      time = target.start_ms, timeEnd = now, isRegion = true,
      tags = tags_for(info, target.tags), text = text_for(info),
    })
  else  -- the start was lost: post the whole region at the end
    send(target, "POST", target.url .. "/api/annotations", {
      time = self.start_info and self.start_info.time_ms or now, timeEnd = now,
      isRegion = true, tags = tags_for(info, target.tags), text = text_for(info),
      dashboardUID = target.dashboard_uid,
    })
  end
end

function handlers.webhook(_, target, phase, info)
  if phase ~= "finish" then return end
  local doc = {}
  for k, v in pairs(info) do doc[k] = v end
  doc.text = text_for(info)
  send(target, "POST", target.url, doc)
end

function handlers.slack(_, target, phase, info)
  if phase ~= "finish" then return end
  local icon = ({success = ":white_check_mark:", failed = ":x:", reverted = ":rewind:",
    ["revert-failed"] = ":rotating_light:"})[info.outcome] or ":information_source:"
  send(target, "POST", target.url, {text = icon .. " " .. text_for(info)})
end

-- Send one phase to every target concurrently; returns the list of failures.
local function round(self, phase, info)
  local failures = {}
  if #self.targets == 0 then return failures end
  local fns = {}
  for i, target in ipairs(self.targets) do
    fns[i] = function()
      local ok, err = pcall(handlers[target.type], self, target, phase, info)
      if not ok then
        failures[#failures + 1] = {target = target.name, error = tostring(err)}
        log().warn("notification %s (%s) failed: %s", target.name, phase, tostring(err))
      end
    end
  end
  local ok, err = pcall(task.timeout, M.deadline, task.all, fns)
  if not ok then
    failures[#failures + 1] = {target = "all", error = tostring(err)}
    log().warn("notifications gave up after %s s: %s", string.format("%g", M.deadline), tostring(err))
  end
  return failures
end

--- Announce the start of a run (Grafana: opens the annotation region).
function M:start(info)
  self.start_info = {time_ms = os.time() * 1000}
  for k, v in pairs(info or {}) do self.start_info[k] = v end
  return round(self, "start", info or {})
end

--- Announce the end of a run with its outcome. Returns failures (a list).
function M:finish(info)
  local merged = {}
  for k, v in pairs(self.start_info or {}) do merged[k] = v end
  for k, v in pairs(info or {}) do merged[k] = v end
  merged.time_ms = nil
  return round(self, "finish", merged)
end

return M
