--- slipway status: what runs where.
local playbook = require "slipway.playbook"
local deploy = require "slipway.deploy"
local drivers = require "slipway.drivers"
local journal = require "slipway.journal"
local state = require "slipway.state"
local proc = require "slipway.proc"
local core = require "slipway.core"

local function esc(s, newline) return core.escape(tostring(s), newline) end

-- JUnit XML of the status (checks.junit): per environment a testcase
-- "running" (fails when it is stopped or its driver errs) and the checks of
-- the run that last tested it (from the shared record; a retest after a
-- revert replaces the first results), written atomically to path
local function write_junit(path, rows, doc)
  local by_env = {}
  for _, r in ipairs(rows) do
    local st = r.status
    local results = {{name = "running", ok = st.running and not st.error or false,
                      detail = st.error or (st.running and ("revision " .. tostring(st.revision)) or "not running")}}
    local run = doc and r.tested and r.tested.run and state.find_run(doc, r.tested.run)
    local index = {}
    for _, c in ipairs(run and run.checks or {}) do
      if c.env == r.env then
        if not index[c.name] then
          results[#results + 1] = {}
          index[c.name] = #results
        end
        results[index[c.name]] = {name = c.name, ok = c.ok, detail = c.detail, duration = c.duration,
                                  skipped = c.skipped}
      end
    end
    by_env[r.env] = results
  end
  require("slipway.fs").write(path, require("slipway.checks").junit(by_env))
end

return {
  summary = "show what runs in each environment (driver status and last run)",
  description = [==[
For each environment: driver, running or not, revision, commit, versions,
URL, and the last run that touched it -- from the shared record (slipway.yaml
`state:`), so a run on another machine shows; a run with no end whose lease
(heartbeat) expired is "abandoned". Read-only. --junit FILE also writes
JUnit XML (a testsuite per environment: a testcase "running", then the checks
of the run that last tested it). Exit 1 when the shared record cannot be read
(the driver's status is still printed) or FILE cannot be written.]==],
  options = {{name = "json", type = "boolean", help = "one JSON object per environment"},
             {name = "junit", metavar = "FILE", help = "also write JUnit XML: per environment, whether it runs and the checks of its last test"}},
  positionals = {{name = "env", optional = true, variadic = true, help = "only these environments"}},
  run = function(args)
    local ok, ctx = pcall(function()
      local c = playbook.context{args = args, readonly = true, command = "status"}
      deploy.setup(c)
      return c
    end)
    if not ok then io.stderr:write("slipway status: ", playbook.errmsg(ctx), "\n"); return 2 end
    local want = {}
    for _, n in ipairs(args.env) do want[n] = true end
    local rows = {}
    local okr, doc = pcall(deploy.record, ctx)
    local runs = okr and state.runs(doc) or {}
    local me = journal.whoami()
    local function judged(s)
      if s.ended then return s.outcome end
      if s.host == me.host and s.pid then return proc.alive(s.pid) and "running" or "abandoned" end
      if type(s.expires) == "number" and s.expires < journal.now() then return "abandoned" end
      return "running"
    end
    for _, env in ipairs(ctx.envs.list) do
      if next(want) == nil or want[env.name] then
        local okd, st = pcall(function() return drivers.of(env).status(ctx, env) end)
        if not okd then st = {running = false, error = playbook.errmsg(st)} end
        local last
        for _, s in ipairs(runs) do
          for _, e in ipairs(s.envs) do if e == env.name then last = s break end end
          if last then break end
        end
        local rec = okr and doc.envs[env.name] or {}
        -- what the driver cannot say (kubernetes: the commit), the record does
        if rec.deployed and st.sha == nil and st.running and rec.deployed.revision == st.revision then
          st.sha = rec.deployed.sha
        end
        rows[#rows + 1] = {env = env.name, driver = env.driver, status = st, last = last and
          {id = last.id, command = last.command, outcome = judged(last), host = last.host} or nil,
          good = rec.good and {sha = rec.good.sha, run = rec.good.run} or nil,
          tested = rec.tested and {sha = rec.tested.sha, ok = rec.tested.ok, run = rec.tested.run} or nil,
          experimental = env.experimental or nil}
      end
    end
    if args.junit then
      local okw, werr = pcall(write_junit, args.junit, rows, okr and doc or nil)
      if not okw then io.stderr:write("slipway status: ", playbook.errmsg(werr), "\n"); return 1 end
    end
    if args.json then
      local json = require "slipway.json"
      for _, r in ipairs(rows) do io.stdout:write(json.encode(r), "\n") end
      if not okr then io.stderr:write("slipway status: ", playbook.errmsg(doc), "\n"); return 1 end
      return 0
    end
    for _, r in ipairs(rows) do
      local st = r.status
      -- names and errors from slipway.yaml, drivers and journals: escaped
      -- (core.escape), so nothing in them acts on the terminal
      io.stdout:write(esc(string.format("%-10s %-10s %-8s rev %-4s %-12s %-60s %s  last: %s",
        r.env .. (r.experimental and "*" or ""), r.driver,
        st.error and "error" or (st.running and "running" or "stopped"),
        tostring(st.revision or "-"), st.sha and st.sha:sub(1, 12) or "-",
        deploy.show_versions(st.versions), st.url or "-",
        r.last and (tostring(r.last.id) .. " " .. tostring(r.last.command) .. " "
          .. tostring(r.last.outcome)) or "-")), "\n")
      if st.error then io.stdout:write("           ", esc(st.error, "\n           "), "\n") end
    end
    if not okr then io.stderr:write("slipway status: ", playbook.errmsg(doc), "\n"); return 1 end
    return 0
  end,
}
