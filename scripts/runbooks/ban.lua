-- ban: add a repository pattern to the configured list of banned specs (a
-- lossless edit of the YAML: comments and layout stay), commit it, and
-- optionally deploy. The incident action "ban a repository" as a reviewed
-- script; `unban` is its inverse.

local runbook = require "slipway.runbook"

return {
  description = "add a repository pattern to the banned list (yaml edit), commit, optionally deploy",
  args = {
    {name = "pattern", positional = true, required = true, help = "regular expression of the spec, e.g. ^evil/miner.*"},
    {name = "file", default = "config/prod.yaml", help = "values file holding the list"},
    {name = "list", default = "binderhub.config.GitHubRepoProvider.banned_specs", help = "dotted path of the list"},
    {name = "reason", help = "why (goes into the commit message)"},
    {name = "deploy", help = "environment(s) to deploy afterwards, comma-separated"},
  },
  run = function(rb, args)
    local segs = runbook.segments(args.list)
    local change = rb:edit_yaml(args.file, function(doc)
      if doc:has(segs) then
        local cur = doc:get(segs)
        if type(cur) ~= "table" then rb:fail(args.file .. ": " .. args.list .. " is not a list", "usage") end
        for _, p in ipairs(cur) do
          if p == args.pattern then rb:fail(args.pattern .. " is already banned in " .. args.file, "usage") end
        end
        doc:append(segs, args.pattern)
      else
        runbook.ensure(doc, segs, {args.pattern})
      end
    end)
    local reason = args.reason or (not rb.dry_run and rb:input("Reason for the ban", {default = "abuse"})) or "abuse"
    local msg = string.format("ban %s: %s", args.pattern, reason)
    local plan = {{diff = change.diff}, rb:commit_plan({args.file}, msg)}
    for env in (args.deploy or ""):gmatch("[^,%s]+") do plan[#plan + 1] = rb:deploy_plan(env) end
    if not rb:confirm(string.format("Ban %s?", args.pattern), {plan = plan}) then return false end
    rb:apply(change)
    rb:changed(string.format("banned %s in %s (%s)", args.pattern, args.file, args.list))
    rb:commit({args.file}, msg)
    for env in (args.deploy or ""):gmatch("[^,%s]+") do rb:deploy(env) end
  end,
}
