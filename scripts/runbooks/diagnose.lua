-- diagnose: collect `kubectl get/describe/logs` of a namespace into a
-- timestamped archive, concurrently, with secrets redacted: Secret values
-- never leave the cluster (only their keys are kept), every value read from
-- the namespace's Secrets is redacted from the other files too, and
-- credential-looking lines (token=..., *_KEY: ...) are masked.
local SENSITIVE = {"token", "secret", "password", "passwd", "key", "credential", "auth"}

local function mask_line(l)
  -- NAME_KEY:  value   (kubectl describe's environment lines)
  l = l:gsub("^(%s*)([%w_%.%-]+):(%s+)(%S.*)$", function(ind, k, sp, v)
    local lk = k:lower()
    for _, w in ipairs(SENSITIVE) do
      if lk:find(w, 1, true) and not v:find("^<set to the key") then return ind .. k .. ":" .. sp .. "***" end
    end
    return nil
  end)
  -- token=abc, password=abc, ?token=abc in logs
  for _, w in ipairs(SENSITIVE) do
    l = l:gsub("([%w_]*" .. w .. "[%w_]*)=([^%s&\"',]+)", "%1=***")
  end
  return l
end

local function redact(text)
  local core = require "slipway.core"
  local out = {}
  for l in (text .. "\n"):gmatch("(.-)\n") do out[#out + 1] = mask_line(l) end
  if out[#out] == "" then out[#out] = nil end
  return core.redact(table.concat(out, "\n") .. "\n")
end

return {
  description = "collect kubectl get/describe/logs of a namespace into a timestamped archive, secrets redacted",
  args = {
    {name = "env", positional = true, required = true, help = "environment (its namespace)"},
    {name = "out", default = ".", help = "directory for the archive"},
    {name = "tail", type = "number", default = 2000, help = "log lines per deployment"},
  },
  driver = "kubernetes",
  run = function(rb, args)
    local task = require "slipway.task"
    local json = require "slipway.json"
    local core = require "slipway.core"
    local fs = require "slipway.fs"
    local kube = require "slipway.kube"
    local codec = require "slipway.codec"
    local env = rb:environment(args.env)
    local ns = kube.settings(env).namespace
    local stamp = os.date("!%Y%m%dT%H%M%SZ")
    local name = string.format("diagnose-%s-%s", ns, stamp)
    local outdir = args.out:sub(1, 1) == "/" and args.out or require("slipway.runbook").cwd() .. "/" .. args.out
    -- 1. the Secrets first: register every value so nothing below can leak it
    local secrets = rb:kubectl_json(env, {"get", "secrets"})
    local keys = {}
    for _, s in ipairs(secrets.items or {}) do
      local names = {}
      for k, v in pairs(s.data or {}) do
        names[#names + 1] = k
        core.secret(v)
        local d = codec.unbase64(v)
        if d and #d >= 4 then core.secret(d) end
      end
      table.sort(names)
      keys[#keys + 1] = {name = s.metadata.name, type = s.type, keys = names}
    end
    -- 2. everything else, concurrently (all read-only)
    local jobs = {
      {"get-all.txt", {"get", "all", "-o", "wide"}},
      {"events.txt", {"get", "events", "--sort-by=.lastTimestamp"}},
      {"describe-pods.txt", {"describe", "pods"}},
      {"describe-nodes.txt", {"describe", "nodes"}},
      {"pods.json", {"get", "pods", "-o", "json"}},
    }
    local workloads = rb:kubectl(env, {"get", "deployments", "-o", "name"}, {readonly = true})
    for w in workloads.stdout:gmatch("[^\n]+") do
      local short = w:match("/(.+)$") or w
      jobs[#jobs + 1] = {"logs-" .. short .. ".txt",
        {"logs", w, "--all-containers", "--timestamps", "--tail=" .. math.floor(args.tail)}}
    end
    local tasks = {}
    for i, j in ipairs(jobs) do
      tasks[i] = task.spawn(function()
        local r = rb:kubectl(env, j[2], {readonly = true, check = false})
        local body = r.stdout
        if r.code ~= 0 then body = body .. "\n# kubectl failed (exit " .. tostring(r.code) .. "): " .. r.stderr end
        return body
      end)
    end
    local files = {{"secrets.json", json.encode(keys, {indent = 2, sort = true}) .. "\n"}}
    for i, t in ipairs(tasks) do
      local ok, body = t:wait()
      if not ok then body = "# failed: " .. tostring(type(body) == "table" and body.message or body) .. "\n" end
      files[#files + 1] = {jobs[i][1], redact(body)}
    end
    local dir = outdir .. "/" .. name
    local rows = {}
    for _, f in ipairs(files) do
      rb:write(dir .. "/" .. f[1], f[2])
      rows[#rows + 1] = {file = name .. "/" .. f[1], bytes = #f[2]}
    end
    rb:print(rb:table(rows, {"FILE", "BYTES"}))
    local archive = outdir .. "/" .. name .. ".tar.gz"
    rb:run({"tar", "-czf", archive, "-C", outdir, name})
    if not rb.dry_run then fs.remove(dir, {recursive = true}) end
    rb:changed("wrote " .. archive .. " (" .. #files .. " files, secrets redacted)")
    rb.result = archive
  end,
}
