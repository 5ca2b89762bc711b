--- slipway stop ENV...|--all: end an environment's processes or release.
local deploy = require "slipway.deploy"
local drivers = require "slipway.drivers"
local environments = require "slipway.environments"

return {
  summary = "stop environments (local: end their processes)",
  usage = [==[
usage: slipway stop ENV... | --all

Takes each environment's deploy lock and stops it through its driver (the
local driver ends the service processes it started and forgets the current
release). Idempotent. Works on a full or read-only state directory: the
journal (and the local driver's lock and current-release file) are then
skipped with a warning, the processes are stopped all the same.
]==] .. deploy.common_usage,
  run = function(argv)
    return deploy.run_command("stop", argv, function(ctx, args)
      local names = {}
      if args.all then
        for _, e in ipairs(ctx.envs.list) do names[#names + 1] = e.name end
      else
        for _, n in ipairs(args) do names[#names + 1] = n end
      end
      if #names == 0 then require("slipway.core").raise("usage", "stop: which environment? (or --all)") end
      return {{name = "stop", run = function(c)
        for _, n in ipairs(names) do
          local env = environments.get(c.envs, n)
          local d = drivers.of(env)
          local lk = d.lock(c, env, {wait = tonumber(c.args.lock_wait), best_effort = true})
          local ok, err = pcall(d.stop, c, env)
          lk:unlock()
          if not ok then error(err, 0) end
          c.journal:record{type = "stopped", env = n}
          c:log("info", "%s stopped", n)
        end
      end}}
    end, {journal_best_effort = true})
  end,
}
