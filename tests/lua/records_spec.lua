-- Records people can read: `slipway history` (a header, lines that fit the
-- terminal, the versions attempted and where the run ended, one run in
-- detail, an unknown environment refused), runbook runs in history (their
-- environment, arguments and who confirmed; a refusal is "refused"), and
-- `status --junit FILE`. Real slipway processes on the example deployment
-- (local driver) in a temporary git repository.
local T = require "slipway.testing"
local D = require "deploytest"
local fs = require "slipway.fs"
local json = require "slipway.json"
local pty = require "pty"
local journal = require "slipway.journal"

local GOOD = "1.0.0-0.dev.git.3503.ha8a2e19"
local BROKEN = "1.0.0-0.dev.git.3601.h0b4d0b4d"  -- listed in known-issues.yaml
local USER = journal.whoami().user

local function lines_of(text)
  local t = {}
  for l in text:gmatch("([^\n]*)\n") do t[#t + 1] = l end
  return t
end

local function widest(lines)
  local w = 0
  for _, l in ipairs(lines) do w = math.max(w, utf8.len(l) or #l) end
  return w
end

-- `slipway history` on a terminal `columns` wide (stty sets the pty's
-- size, which slipway reads with TIOCGWINSZ; COLUMNS is not set)
local function history_on_terminal(dir, columns)
  local r = pty.run({"sh", "-c", 'stty cols "$1" && shift && exec "$@"', "sh", tostring(columns),
                     D.BIN, "-q", "history"}, {cwd = dir, env = {NO_COLOR = "1", COLUMNS = false}})
  T.eq(r.code, 0, r.stdout)
  return lines_of((r.stdout:gsub("\r\n", "\n")))
end

T.test("history: a header, lines that fit the terminal, the versions attempted and where the run ended", function()
  D.with_repo(nil, function(dir)
    T.eq(D.slipway(dir, {"deploy"}).code, 0)
    D.commit_edit(dir, "mybinder/Chart.yaml", GOOD, BROKEN, "Bump binderhub to 3601")
    local r = D.slipway(dir, {"deploy"})
    T.eq(r.code, 3, r.stderr)
    local id = r.stderr:match("%(exit 3, run (%S+),")
    T.truthy(id, "deploy names its run")
    -- not a terminal: 100 columns
    r = D.slipway(dir, {"-q", "history"})
    T.eq(r.code, 0, r.stderr)
    local lines = lines_of(r.stdout)
    T.eq(#lines, 3, r.stdout)
    T.match(lines[1], "^RUN%s+COMMAND%s+OUTCOME%s+WHERE: WHAT$")
    T.truthy(widest(lines) <= 100, "fits 100 columns:\n" .. r.stdout)
    T.eq(lines[2], string.format("%-25s %-8s %-15s %s", id, "deploy", "reverted @test",
      "staging: binderhub 3503→3601 (reverted to 3503)"))
    T.match(lines[3], "deploy%s+success%s+staging,prod,prod%-b: binderhub 1%.0%.0%-0%.dev")
    if not pty.available() then T.skip("python3 is not installed: no pseudo-terminal") end
    -- a terminal: its width, wider ones show who and the commit; nothing wraps
    for _, cols in ipairs{80, 100, 120} do
      local t = history_on_terminal(dir, cols)
      T.eq(#t, 3, table.concat(t, "\n"))
      T.truthy(widest(t) <= cols, cols .. " columns:\n" .. table.concat(t, "\n"))
      T.match(t[2], "^" .. id:gsub("%p", "%%%0") .. " deploy")
    end
    local t80 = history_on_terminal(dir, 80)
    T.match(t80[2], "staging: binderhub 3503→3601…$", "cut with an ellipsis")
    local t120 = history_on_terminal(dir, 120)
    T.match(t120[1], "^RUN%s+COMMAND%s+BY%s+COMMIT%s+OUTCOME%s+WHERE: WHAT$")
    local bad = D.git(dir, "rev-parse", "HEAD~1").stdout:sub(1, 8)
    T.match(t120[2], "deploy%s+" .. USER:gsub("%p", "%%%0") .. "@%S+%s+" .. bad .. " reverted @test")
  end)
end, {timeout = 120})

T.test("history RUN in detail; history ENV for an unknown environment is an error", function()
  D.with_repo(nil, function(dir)
    local r0 = D.slipway(dir, {"deploy"})
    T.eq(r0.code, 0, r0.stderr)
    local first = r0.stderr:match("%(exit 0, run (%S+),")
    D.commit_edit(dir, "mybinder/Chart.yaml", GOOD, BROKEN, "Bump binderhub to 3601")
    local r = D.slipway(dir, {"deploy"})
    T.eq(r.code, 3, r.stderr)
    local id = r.stderr:match("%(exit 3, run (%S+),")
    local bad = D.git(dir, "rev-parse", "HEAD~1").stdout:sub(1, 12)
    local good = D.git(dir, "rev-parse", "HEAD~2").stdout:sub(1, 12)
    local revert = D.git(dir, "rev-parse", "HEAD").stdout:sub(1, 12)
    r = D.slipway(dir, {"-q", "history", id:sub(1, 18)})
    T.eq(r.code, 0, r.stderr)
    local out = r.stdout
    T.match(out, "^run " .. id:gsub("%p", "%%%0") .. ": slipway deploy\n")
    T.match(out, "\n  versions  binderhub 3503→3601 %(reverted to 3503%)\n")
    T.match(out, "\n            before    binderhub=" .. GOOD:gsub("%p", "%%%0"))
    T.match(out, "\n    test%s+FAILED")
    T.match(out, "\n    staging%s+launch%s+FAIL")
    T.match(out, "revert commit " .. revert .. " undoes " .. bad .. ": the tree of " .. good)
    -- the local journal: steps, commands, versions deployed per environment
    T.match(out, "\n  %-%- step stage\n")
    T.match(out, "\n  deployed staging revision 2: binderhub 3503→3601, repo2docker %S+ %(unchanged%)\n")
    T.match(out, "\n  %$ git %-C %S+ revert %-%-no%-edit %-%-no%-commit ")
    -- an environment: only its runs
    r = D.slipway(dir, {"-q", "history", "prod"})
    T.eq(r.code, 0, r.stderr)
    local lines = lines_of(r.stdout)
    T.eq(#lines, 2, r.stdout)
    T.match(lines[2], "^" .. first:gsub("%p", "%%%0") .. " deploy%s+success%s+staging,prod,prod%-b: ")
    -- not an environment, not a run: exit 2, with a suggestion
    r = D.slipway(dir, {"-q", "history", "prdo"})
    T.eq(r.code, 2)
    T.eq(r.stdout, "")
    T.match(r.stderr, "no environment or run 'prdo'; did you mean prod%?")
    T.match(r.stderr, "environments: prod, prod%-b, staging")
  end)
end, {timeout = 120})

T.test("runbook runs in history: environment, arguments, who confirmed; a refusal is 'refused'", function()
  D.with_repo(nil, function(dir)
    -- the example's runbooks: a repository runbook that asks before it acts
    fs.mkdir(dir .. "/runbooks")
    fs.write(dir .. "/runbooks/note.lua", D.NOTE_RUNBOOK)
    local r = D.slipway(dir, {"runbook", "note", "staging", "--text=a b", "--yes"})
    T.eq(r.code, 0, r.stderr)
    r = D.slipway(dir, {"runbook", "note", "prod"})  -- no terminal, no --yes
    T.eq(r.code, 2)
    T.match(r.stdout, "Refused")
    r = D.slipway(dir, {"-q", "history"})
    T.eq(r.code, 0, r.stderr)
    local lines = lines_of(r.stdout)
    T.eq(#lines, 3, r.stdout)
    T.match(lines[2], "runbook%s+refused%s+note prod$")
    T.match(lines[3], "runbook%s+done%s+note staging '%-%-text=a b'; yes by " ..
      USER:gsub("%p", "%%%0") .. " %(%-%-yes%)$")
    -- --json: the answers, who gave them and how
    r = D.slipway(dir, {"-q", "history", "--json"})
    local runs = {}
    for l in r.stdout:gmatch("[^\n]+") do runs[#runs + 1] = json.decode(l) end
    T.eq(runs[1].outcome, "refused")
    T.eq(runs[1].envs, {"prod"})
    T.eq(runs[2].args, {"staging", "--text=a b", "--yes"})
    T.eq(#runs[2].answers, 1)
    local a = runs[2].answers[1]
    T.eq({a.kind, a.question, a.answer, a.how, a.user}, {"confirm", "Write the note for staging?", "yes", "--yes", USER})
    -- one run in detail
    r = D.slipway(dir, {"-q", "history", runs[2].id})
    T.match(r.stdout, "^run %S+: slipway runbook note staging '%-%-text=a b' %-%-yes\n")
    T.match(r.stdout, "\n  envs      staging\n")
    T.match(r.stdout, "\n  answers\n    confirm Write the note for staging%?: yes, by " .. USER:gsub("%p", "%%%0") .. " %(%-%-yes%)\n")
    T.match(r.stdout, "\n  changed\n    %- noted a b for staging\n")
    T.match(r.stdout, "\n  | write note\n")
  end)
end, {timeout = 120})

T.test("status --junit FILE writes FILE (it is not an environment filter)", function()
  D.with_repo(nil, function(dir)
    T.eq(D.slipway(dir, {"deploy"}).code, 0)
    local file = dir .. "/status.xml"
    local r = D.slipway(dir, {"-q", "status", "--junit", file})
    T.eq(r.code, 0, r.stderr)
    T.match(r.stdout, "^prod%s+local%s+running")
    T.match(r.stdout, "\nprod%-b%*%s+local%s+running")
    local xml = fs.read(file)
    T.match(xml, '<testsuite name="staging" tests="7" failures="0"')
    T.match(xml, '<testcase classname="staging" name="running"')
    T.match(xml, '<testcase classname="staging" name="launch"')
    T.match(xml, '<testsuite name="prod" tests="7" failures="0"')
    -- with an environment: only that one; a stopped one is a failure
    T.eq(D.slipway(dir, {"stop", "prod"}).code, 0)
    r = D.slipway(dir, {"-q", "status", "prod", "--junit", file})
    T.eq(r.code, 0, r.stderr)
    xml = fs.read(file)
    T.nomatch(xml, 'name="staging"')
    T.match(xml, '<testsuite name="prod" tests="7" failures="1"')
    T.match(xml, '<failure message="not running">')
  end)
end, {timeout = 120})

T.run()
