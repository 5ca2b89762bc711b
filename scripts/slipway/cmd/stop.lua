--- slipway stop ENV...|--all: end an environment's processes or release.
local deploy = require "slipway.deploy"
local drivers = require "slipway.drivers"
local environments = require "slipway.environments"

return {
  summary = "stop environments (local: end their processes)",
  description = [==[
Takes each environment's deploy lock and stops it through its driver (the
local driver ends the service processes it started and forgets the current
release). Idempotent. Works on a full or read-only state directory: the
journal (and the local driver's lock and current-release file) are then
skipped with a warning, the processes are stopped all the same.]==],
  options = deploy.options{
    {name = "all", type = "boolean", help = "every environment of slipway.yaml"},
  },
  positionals = {{name = "env", optional = true, variadic = true, help = "the environments"}},
  epilog = deploy.exit_help,
  run = function(a, argv)
    return deploy.run_command("stop", a, function(ctx)
      local names = {}
      if a.all then
        for _, e in ipairs(ctx.envs.list) do names[#names + 1] = e.name end
      else
        for _, n in ipairs(a.env) do names[#names + 1] = n end
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
    end, {argv = argv, journal_best_effort = true})
  end,
}
