-- drain-node: cordon a node, drain it with the usual flags, wait, and report
-- what is left on it (the incident action "cordon, drain and recycle old
-- nodes").
local function ready(n)
  for _, c in ipairs(n.status and n.status.conditions or {}) do
    if c.type == "Ready" then return c.status == "True" and "Ready" or "NotReady" end
  end
  return "?"
end

return {
  description = "cordon and drain a node (--ignore-daemonsets --delete-emptydir-data), wait, report",
  args = {
    {name = "env", positional = true, required = true, help = "environment (its cluster)"},
    {name = "node", positional = true, help = "node to drain (asked for when missing)"},
    {name = "timeout", default = "15m", help = "how long kubectl drain may take"},
    {name = "grace-period", type = "number", default = 60, help = "seconds each pod gets to stop"},
  },
  driver = "kubernetes",
  run = function(rb, args)
    local ui = require "slipway.ui"
    local kube = require "slipway.kube"
    local env = rb:environment(args.env)
    local nodes = rb:kubectl_json(env, {"get", "nodes"}, {all_namespaces = true})
    local rows, names = {}, {}
    for _, n in ipairs(nodes.items or {}) do
      rows[#rows + 1] = {name = n.metadata.name, status = ready(n) .. (n.spec.unschedulable and ",SchedulingDisabled" or ""),
                         age = ui.age(kube.age(n.metadata.creationTimestamp) or 0),
                         pool = (n.metadata.labels or {})["cloud.google.com/gke-nodepool"] or "",
                         version = n.status.nodeInfo and n.status.nodeInfo.kubeletVersion or ""}
      names[#names + 1] = n.metadata.name
    end
    rb:print(rb:table(rows, {"NAME", "STATUS", "AGE", "POOL", "VERSION"}))
    local node = args.node or rb:choose("Which node should be drained?", names)
    local known = false
    for _, n in ipairs(names) do if n == node then known = true end end
    if not known then rb:fail("no node " .. node .. " in the cluster of " .. env.name, "usage") end
    local drain = {"drain", node, "--ignore-daemonsets", "--delete-emptydir-data", "--force",
                   "--grace-period=" .. math.floor(args.grace_period), "--timeout=" .. args.timeout}
    if not rb:confirm(string.format("Cordon and drain %s?", node), {plan = {
        rb:kubectl_plan(env, {"cordon", node}, {all_namespaces = true}),
        rb:kubectl_plan(env, drain, {all_namespaces = true})}}) then
      return false
    end
    rb:kubectl(env, {"cordon", node}, {all_namespaces = true})
    rb:changed("cordoned " .. node)
    local r = rb:kubectl(env, drain, {all_namespaces = true, check = false})
    if r.code ~= 0 then
      rb:fail(string.format("kubectl drain %s failed (the node stays cordoned): %s", node,
        (r.stderr or ""):gsub("%s+$", "")), "drain")
    end
    rb:changed("drained " .. node)
    if rb.dry_run then return end
    -- report what is left on the node (DaemonSet pods stay)
    local pods = rb:kubectl_json(env, {"get", "pods", "--all-namespaces", "--field-selector",
                                       "spec.nodeName=" .. node}, {all_namespaces = true})
    local left = {}
    for _, p in ipairs(pods.items or {}) do
      if p.spec and p.spec.nodeName == node then
        local owner = p.metadata.ownerReferences and p.metadata.ownerReferences[1]
        left[#left + 1] = {namespace = p.metadata.namespace, name = p.metadata.name,
                           owner = owner and owner.kind or "", phase = p.status.phase}
      end
    end
    if #left == 0 then
      rb:print("Node " .. node .. " is empty.")
    else
      rb:print("Still on " .. node .. ":")
      rb:print(rb:table(left, {"NAMESPACE", "NAME", "OWNER", "PHASE"}))
    end
  end,
}
