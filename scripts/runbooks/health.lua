-- health: check every environment's endpoints and /versions concurrently,
-- and report version skew between federation members. (The field notes:
-- federation members compare their /versions, and a skew once sent no
-- traffic to up-to-date members for nine hours.) Read-only.
local function builder_of(v)
  if type(v) ~= "table" then return nil end
  if type(v.builder) == "string" then return v.builder end
  local b = v.builder_info
  if type(b) ~= "table" then return nil end
  return b.build_image or b["repo2docker-version"] or b.repo2docker_version
end

-- where env answers: its url in slipway.yaml, else what its driver reports
-- (the local driver's services pick a free port)
local function url_of(rb, env)
  if env.url then return env.url end
  local ok, st = pcall(function()
    return require("slipway.drivers").of(env).status(rb.ctx, env)
  end)
  if ok and type(st) == "table" and st.running and st.url then return (st.url:gsub("/+$", "")) end
  return nil
end

return {
  description = "check every environment's /health and /versions concurrently; report version skew",
  args = {
    {name = "members", help = "comma-separated federation members to compare (default: the production stage)"},
    {name = "timeout", type = "number", default = 10, help = "seconds per request"},
  },
  run = function(rb, args)
    local task = require "slipway.task"
    local list, stages = rb:environments()
    local probes, urls = list, {}
    local tasks = {}
    for i, env in ipairs(probes) do
      tasks[i] = task.spawn(function()
        local url = url_of(rb, env)
        local row = {env = env.name, url = url}
        if not url then
          row.health, row.binderhub, row.builder = "not running", "-", "-"
          return row
        end
        local t0 = task.now()
        local ok, h = pcall(rb.get, rb, url .. "/health", {timeout = args.timeout})
        row.health = ok and tostring(h.status) or ("error: " .. tostring(type(h) == "table" and (h.code or h.message) or h))
        row.healthy = ok and h.status == 200
        local ok2, v = pcall(rb.get, rb, url .. "/versions", {timeout = args.timeout})
        if ok2 and v.status == 200 then
          local okj, doc = pcall(require("slipway.json").decode, v.body)
          if okj and type(doc) == "table" then
            row.binderhub = doc.binderhub and tostring(doc.binderhub) or "?"
            row.builder = builder_of(doc) or "?"
          else
            row.binderhub, row.builder = "(not JSON)", "?"
          end
        else
          row.binderhub = ok2 and ("HTTP " .. v.status) or "unreachable"
          row.builder = "?"
        end
        row.ms = string.format("%.0f", (task.now() - t0) * 1000)
        return row
      end)
    end
    local rows, by = {}, {}
    for i, t in ipairs(tasks) do
      local ok, row = t:wait()
      if not ok then row = {env = probes[i].name, health = "error", binderhub = "?", builder = "?"} end
      rows[i] = row
      by[row.env] = row
    end
    rb:print(rb:table(rows, {"ENV", "HEALTH", "BINDERHUB", "BUILDER", {"MS", key = "ms"}}))
    -- version skew between federation members
    local members = {}
    if args.members then
      for m in args.members:gmatch("[^,%s]+") do members[#members + 1] = m end
    else
      for _, m in ipairs(stages and stages.production or {}) do members[#members + 1] = m end
    end
    local unhealthy = {}
    for _, r in ipairs(rows) do if not r.healthy then unhealthy[#unhealthy + 1] = r.env end end
    local seen, skew, compared = {}, {}, 0
    for _, m in ipairs(members) do
      local r = by[m]
      if r and r.healthy then
        compared = compared + 1
        for _, field in ipairs{"binderhub", "builder"} do
          seen[field] = seen[field] or {}
          local v = r[field]
          seen[field][v] = seen[field][v] or {}
          table.insert(seen[field][v], m)
        end
      end
    end
    for field, vals in pairs(seen) do
      local n = 0
      for _ in pairs(vals) do n = n + 1 end
      if n > 1 then
        local parts = {}
        for v, ms in pairs(vals) do parts[#parts + 1] = table.concat(ms, ", ") .. ": " .. v end
        table.sort(parts)
        skew[#skew + 1] = field .. " differs: " .. table.concat(parts, "; ")
      end
    end
    table.sort(skew)
    rb.result = {rows = rows, skew = skew, unhealthy = unhealthy}
    if #skew > 0 then
      rb:fail("version skew between federation members (" .. table.concat(members, ", ") .. "):\n  " ..
        table.concat(skew, "\n  ") .. "\n  the federation redirector may send no traffic to some members; " ..
        "deploy the lagging members (slipway promote) or take them out of rotation", "skew")
    end
    if #unhealthy > 0 then
      rb:fail("unhealthy: " .. table.concat(unhealthy, ", "), "health")
    end
    rb:print(string.format("All %d environments healthy; %d federation members on the same versions.",
      #rows, compared))
  end,
}
