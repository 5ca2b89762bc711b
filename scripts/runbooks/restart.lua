-- restart: restart the hub (or another deployment) and wait until it is ready.
-- The incident action "restart the hub pod", as a reviewed script:
--   kubectl rollout restart deployment/NAME, then
--   kubectl rollout status deployment/NAME --timeout=T --watch
return {
  description = "restart the hub (or a named deployment) and wait for it to be ready",
  args = {
    {name = "env", positional = true, required = true, help = "environment (slipway.yaml)"},
    {name = "deployment", default = "hub", help = "deployment to restart"},
    {name = "timeout", default = "5m", help = "how long to wait for the rollout"},
  },
  driver = "kubernetes",
  run = function(rb, args)
    local env = rb:environment(args.env)
    local target = "deployment/" .. args.deployment
    -- show what runs now (read-only): fails early on a wrong name
    local d = rb:kubectl_json(env, {"get", target})
    local st = d.status or {}
    rb:print(rb:table({{name = target, ready = string.format("%s/%s", st.readyReplicas or 0, st.replicas or 0),
                        generation = d.metadata and d.metadata.generation or "?"}},
                      {"NAME", "READY", "GENERATION"}))
    local restart = {"rollout", "restart", target}
    if not rb:confirm(string.format("Restart %s in %s?", target, env.name), {plan = {
        rb:kubectl_plan(env, restart),
        {text = "then wait up to " .. args.timeout .. " for the new pods to be ready"}}}) then
      return false
    end
    rb:kubectl(env, restart)
    rb:changed(string.format("restarted %s in %s", target, env.name))
    if rb.dry_run then
      rb:plan("wait for the rollout of " .. target)
      return
    end
    local r = rb:kubectl(env, {"rollout", "status", target, "--timeout=" .. args.timeout, "--watch"},
      {readonly = true, check = false})
    if r.code ~= 0 then
      rb:fail(string.format("%s did not become ready within %s: %s", target, args.timeout,
        (r.stderr ~= "" and r.stderr or r.stdout):gsub("%s+$", "")), "timeout")
    end
    rb:print((r.stdout:gsub("%s+$", "")))
  end,
}
