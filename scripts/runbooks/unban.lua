-- unban: remove a repository pattern from the configured list of banned
-- specs (lossless YAML edit), commit, optionally deploy. The inverse of ban.

local runbook = require "slipway.runbook"

return {
  description = "remove a repository pattern from the banned list (yaml edit), commit, optionally deploy",
  args = {
    {name = "pattern", positional = true, required = true, help = "the pattern exactly as listed"},
    {name = "file", default = "config/prod.yaml", help = "values file holding the list"},
    {name = "list", default = "binderhub.config.GitHubRepoProvider.banned_specs", help = "dotted path of the list"},
    {name = "deploy", help = "environment(s) to deploy afterwards, comma-separated"},
  },
  run = function(rb, args)
    local segs = runbook.segments(args.list)
    local change = rb:edit_yaml(args.file, function(doc)
      local cur = doc:has(segs) and doc:get(segs) or {}
      local at
      for i, p in ipairs(type(cur) == "table" and cur or {}) do
        if p == args.pattern then at = i end
      end
      if not at then rb:fail(args.pattern .. " is not in " .. args.list .. " of " .. args.file, "usage") end
      local item = {table.unpack(segs)}
      item[#item + 1] = at - 1   -- the editor's indices are 0-based
      doc:delete(item)
    end)
    local plan = {{diff = change.diff}, rb:commit_plan({args.file}, "unban " .. args.pattern)}
    for env in (args.deploy or ""):gmatch("[^,%s]+") do plan[#plan + 1] = rb:deploy_plan(env) end
    if not rb:confirm(string.format("Unban %s?", args.pattern), {plan = plan}) then return false end
    rb:apply(change)
    rb:changed(string.format("unbanned %s in %s (%s)", args.pattern, args.file, args.list))
    rb:commit({args.file}, "unban " .. args.pattern)
    for env in (args.deploy or ""):gmatch("[^,%s]+") do rb:deploy(env) end
  end,
}
