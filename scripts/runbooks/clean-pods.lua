-- clean-pods: delete user pods whose name matches a pattern and that are older
-- than N hours, and force-delete pods stuck in Unknown (their node is gone,
-- so a normal delete never completes). Lists them first, then asks.
local function glob_to_pattern(g)
  return "^" .. g:gsub("[%^%$%(%)%%%.%[%]%+%-%?]", "%%%0"):gsub("%*", ".*") .. "$"
end

return {
  description = "delete user pods matching a name pattern older than N hours, or stuck in Unknown (force)",
  args = {
    {name = "env", positional = true, required = true, help = "environment (slipway.yaml)"},
    {name = "pattern", default = "jupyter-*", help = "pod name glob (* matches anything)"},
    {name = "hours", type = "number", default = 6, help = "delete pods older than this many hours"},
    {name = "selector", default = "component=singleuser-server", help = "label selector of user pods"},
    {name = "unknown", type = "boolean", default = true, help = "also force-delete pods stuck in Unknown"},
  },
  driver = "kubernetes",
  run = function(rb, args)
    local ui = require "slipway.ui"
    local kube = require "slipway.kube"
    local env = rb:environment(args.env)
    local pat = glob_to_pattern(args.pattern)
    local list = rb:kubectl_json(env, {"get", "pods", "-l", args.selector})
    local old, stuck = {}, {}
    for _, p in ipairs(list.items or {}) do
      local name = p.metadata.name
      local phase = p.status and p.status.phase or "?"
      local age = kube.age(p.metadata.creationTimestamp) or 0
      local row = {name = name, phase = phase, age = ui.age(age), node = p.spec and p.spec.nodeName or ""}
      if name:match(pat) then
        if phase == "Unknown" then
          if args.unknown then row.action = "force delete"; stuck[#stuck + 1] = row end
        elseif age > args.hours * 3600 then
          row.action = "delete"; old[#old + 1] = row
        end
      end
    end
    local rows = {}
    for _, r in ipairs(old) do rows[#rows + 1] = r end
    for _, r in ipairs(stuck) do rows[#rows + 1] = r end
    if #rows == 0 then
      rb:print(string.format("No pods matching %s older than %gh%s in %s.", args.pattern, args.hours,
        args.unknown and " or stuck in Unknown" or "", env.name))
      return
    end
    rb:print(rb:table(rows, {"NAME", "PHASE", "AGE", "NODE", "ACTION"}))
    local plan = {}
    local del, force = nil, {}
    if #old > 0 then
      del = {"delete", "pod", "--wait=false"}
      for _, r in ipairs(old) do del[#del + 1] = r.name end
      plan[#plan + 1] = rb:kubectl_plan(env, del)
    end
    for _, r in ipairs(stuck) do
      local f = {"delete", "pod", r.name, "--grace-period=0", "--force"}
      force[#force + 1] = f
      plan[#plan + 1] = rb:kubectl_plan(env, f)
    end
    if not rb:confirm(string.format("Delete %d pods in %s (%d forced)?", #rows, env.name, #stuck), {plan = plan}) then
      return false
    end
    if del then
      rb:kubectl(env, del)
      rb:changed(string.format("deleted %d pods older than %gh in %s", #old, args.hours, env.name))
    end
    for i, f in ipairs(force) do
      rb:kubectl(env, f)
      rb:changed(string.format("force-deleted %s (Unknown) in %s", stuck[i].name, env.name))
    end
  end,
}
