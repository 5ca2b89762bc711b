-- rotation: take a federation member out of rotation, or put it back, the
-- way mybinder.org does it by hand: its `pod_quota` goes to 0 in its own
-- config, and its `weight` in the federation redirector's hosts goes to 0;
-- then commit and (optionally) deploy. The values it had are kept in the
-- state directory (rotation/MEMBER.json) so that `in` restores them.
return {
  description = "take a federation member out of rotation or back in (pod_quota, redirect weight), commit, deploy",
  args = {
    {name = "direction", positional = true, required = true, type = "choice", choices = {"out", "in"},
     help = "out of rotation, or back in"},
    {name = "member", positional = true, required = true, help = "federation member (a key of federationRedirect.hosts)"},
    {name = "config", help = "the member's values file (default config/MEMBER.yaml)"},
    {name = "redirect", default = "config/prod.yaml", help = "values file with federationRedirect.hosts"},
    {name = "pod-quota", type = "number", help = "pod_quota to restore (default: the value saved by `out`)"},
    {name = "weight", type = "number", help = "redirect weight to restore (default: the value saved by `out`)"},
    {name = "deploy", help = "environment(s) to deploy afterwards, comma-separated"},
  },
  run = function(rb, args)
    local fs = require "slipway.fs"
    local json = require "slipway.json"
    local runbook = require "slipway.runbook"
    local member = args.member
    local cfg = args.config or ("config/" .. member .. ".yaml")
    local quota_path = {"binderhub", "config", "BinderHub", "pod_quota"}
    local weight_path = {"federationRedirect", "hosts", member, "weight"}
    local state_dir = rb.ctx.state_dir
    local saved_file = state_dir .. "/rotation/" .. member .. ".json"
    local saved = fs.exists(saved_file) and json.read(saved_file) or nil
    -- pod_quota lives in the member's own values file, when it has one here
    local has_cfg = cfg == args.redirect or fs.exists(rb.root .. "/" .. cfg)
    local want_quota, want_weight
    if args.direction == "out" then
      want_quota, want_weight = 0, 0
    else
      want_quota = args.pod_quota or (saved and saved.pod_quota)
      want_weight = args.weight or (saved and saved.weight)
      if want_weight == nil or (has_cfg and want_quota == nil) then
        rb:fail(string.format("no saved values for %s (%s): pass --pod-quota=N --weight=N", member, saved_file), "usage")
      end
    end
    local old = {}
    local changes = {}
    local files = {}
    local c2 = rb:edit_yaml(args.redirect, function(doc)
      if not doc:has({"federationRedirect", "hosts", member}) then
        rb:fail(string.format("%s is not a federation member in %s (federationRedirect.hosts)", member, args.redirect), "usage")
      end
      old.weight = doc:get(weight_path)
      if cfg == args.redirect and want_quota ~= nil then old.pod_quota = runbook.ensure(doc, quota_path, want_quota) end
      runbook.ensure(doc, weight_path, want_weight)
    end)
    if c2.diff ~= "" then changes[#changes + 1] = c2; files[#files + 1] = args.redirect end
    if cfg ~= args.redirect then
      if has_cfg then
        local c1 = rb:edit_yaml(cfg, function(doc) old.pod_quota = runbook.ensure(doc, quota_path, want_quota) end)
        if c1.diff ~= "" then table.insert(changes, 1, c1); table.insert(files, 1, cfg) end
      else
        rb:log("warn", "%s has no file %s: only the redirect weight changes", member, cfg)
      end
    end
    if #changes == 0 then
      rb:print(string.format("%s is already %s rotation (pod_quota %s, weight %s).", member,
        args.direction == "out" and "out of" or "in", tostring(want_quota), tostring(want_weight)))
      return
    end
    local plan = {}
    for _, c in ipairs(changes) do plan[#plan + 1] = {diff = c.diff} end
    local what = {}
    if has_cfg then what[#what + 1] = string.format("pod_quota %s -> %s", tostring(old.pod_quota), tostring(want_quota)) end
    what[#what + 1] = string.format("weight %s -> %s", tostring(old.weight), tostring(want_weight))
    local msg = string.format("rotation: %s %s (%s)", args.direction == "out" and "take" or "put",
      member .. (args.direction == "out" and " out" or " back in"), table.concat(what, ", "))
    local add, commit = rb:commit_plan(files, msg)
    plan[#plan + 1] = add
    plan[#plan + 1] = commit
    for env in (args.deploy or ""):gmatch("[^,%s]+") do plan[#plan + 1] = rb:deploy_plan(env) end
    if not rb:confirm(string.format("Take %s %s rotation?", member, args.direction == "out" and "out of" or "back into"),
        {plan = plan}) then
      return false
    end
    if args.direction == "out" then
      rb:write(saved_file, json.encode({pod_quota = old.pod_quota, weight = old.weight, member = member,
                                        at = os.date("!%Y-%m-%dT%H:%M:%SZ")}, {indent = 2, sort = true}) .. "\n")
    end
    for _, c in ipairs(changes) do rb:apply(c) end
    rb:changed(msg)
    rb:commit(files, msg)
    for env in (args.deploy or ""):gmatch("[^,%s]+") do rb:deploy(env) end
  end,
}
