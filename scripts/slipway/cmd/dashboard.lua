--- slipway dashboard: a read-only web page of what runs where and what happened.
local playbook = require "slipway.playbook"
local dashboard = require "slipway.dashboard"
local exit = require "slipway.exit"
local task = require "slipway.task"

return {
  summary = "serve a read-only web page: environments, runs, live runs",
  description = [==[
Serves the deployment's dashboard until interrupted (Ctrl-C): one row per
environment (driver, versions, commit, revision, last deploy, health on
demand, version skew between production members), the runs (filter by
environment, command, outcome) with a page per run (steps as a timeline,
checks, commands, plan, revert and why, confirmations, CI link), and a run
in progress on this machine streamed as it is journalled. Data: the shared
record of deploys (slipway.yaml `state:`) and this machine's journals.
Nothing is written. The page listens on loopback by default and answers
only to that address; any other address needs a token (--token or
SLIPWAY_DASHBOARD_TOKEN), which the browser exchanges once for a cookie
(open URL/?token=TOKEN, or type it in the sign-in form).]==],
  options = {
    {name = "listen", metavar = "HOST:PORT", default = "127.0.0.1:8470",
     help = "address to listen on (PORT alone: loopback; 0: any free port)"},
    {name = "token", metavar = "TOKEN",
     help = "required to sign in (default: SLIPWAY_DASHBOARD_TOKEN); needed off loopback"},
  },
  run = function(args)
    local ok, ctx = pcall(playbook.context, {args = args, readonly = true, command = "dashboard"})
    if not ok then io.stderr:write("slipway dashboard: ", playbook.errmsg(ctx), "\n"); return exit.usage end
    local token = args.token or os.getenv("SLIPWAY_DASHBOARD_TOKEN")
    local oks, srv = pcall(dashboard.serve, {ctx = ctx, listen = args.listen, token = token})
    if not oks then
      io.stderr:write("slipway dashboard: ", playbook.errmsg(srv), "\n")
      return exit.for_error(srv)
    end
    -- the URL never carries the token: it is typed once, then a cookie
    io.stdout:write("slipway dashboard: ", srv.url, (token and " (sign in with the token)" or ""), "\n")
    io.stdout:flush()
    while true do task.sleep(3600) end
  end,
}
