-- Lua hooks of the mybinder.org port (named in slipway.yaml). Each is called
-- as fn(ctx, env, h): h.run(argv) runs a command in the repository with the
-- environment's KUBECONFIG, journalled (docs/kubernetes.md "Hooks").
local M = {}

--- deploy.py's update_networkbans: ban.py (given the member's name for the
-- members it has special logic for), then the cryptnono list of banned IPs
-- for the member's namespace. Both write git-ignored values files.
function M.network_bans(ctx, env, h)
  local ban = {"python3", "secrets/ban.py"}
  if env.name == "ovh" or env.name == "ovh2" then ban[#ban + 1] = env.name end
  h.run(ban)
  h.run({"python3", "secrets/generate-banned-ips.py", "--namespace=" .. (env.release or env.name),
         "--allowed-cidrs-file=secrets/allowed_ips.txt"})
end

return M
