-- The playbook engine: steps in order, retries, timeouts, when, revert,
-- exit statuses, dry runs (plans and diffs), resume, the command line.
local T = require "slipway.testing"
local playbook = require "slipway.playbook"
local journal = require "slipway.journal"
local fs = require "slipway.fs"
local json = require "slipway.json"
local proc = require "slipway.proc"
local task = require "slipway.task"

local function tmp() return fs.tempdir() end

local function run(steps, opts)
  opts = opts or {}
  opts.root = opts.root or tmp()
  local def = type(steps) == "table" and steps.steps and steps or {name = "t", steps = steps}
  return playbook.run(def, opts), opts.root
end

local function records(r)
  return journal.read(r.ctx.journal.path)
end

T.test("steps run in order and share ctx.vars; the journal has each step", function()
  local order = {}
  local r = run{
    {name = "a", run = function(ctx) order[#order + 1] = "a"; ctx.vars.x = 1 end},
    {name = "b", run = function(ctx) order[#order + 1] = "b"; ctx.vars.x = ctx.vars.x + 1 end},
  }
  T.eq(order, {"a", "b"})
  T.truthy(r.ok); T.eq(r.status, 0); T.eq(r.outcome, "success")
  local recs = records(r)
  T.eq(recs[1].type, "run")
  T.eq(recs[#recs].type, "run_end")
  local ends = {}
  for _, x in ipairs(recs) do if x.type == "step_end" then ends[#ends + 1] = x end end
  T.eq(#ends, 2)
  T.eq(ends[2].vars, {x = 2})
  T.truthy(ends[1].duration >= 0)
end)

T.test("retries, then the failure; later steps do not run", function()
  local tries, later = 0, false
  local r = run{
    {name = "flaky", retries = 2, retry_delay = 0.01, run = function()
      tries = tries + 1
      error("attempt " .. tries)
    end},
    {name = "later", run = function() later = true end},
  }
  T.eq(tries, 3)
  T.falsy(r.ok); T.eq(r.status, 1); T.eq(r.failed_step, "flaky")
  T.falsy(later)
  local n = 0
  for _, x in ipairs(records(r)) do if x.type == "retry" then n = n + 1 end end
  T.eq(n, 2)
  -- a retry that succeeds
  tries = 0
  r = run{{name = "ok-second", retries = 1, retry_delay = 0.01, run = function()
    tries = tries + 1
    if tries == 1 then error("first") end
  end}}
  T.truthy(r.ok); T.eq(tries, 2)
end)

T.test("timeout cancels a step; when skips one", function()
  -- the step would sleep an hour: only its timeout can end it, by
  -- cancelling the sleep (a step waited for hangs the test into its timeout)
  local slept
  local r = run{
    {name = "skipped", when = function() return false end, run = function() error("ran") end},
    {name = "slow", timeout = 0.05, run = function()
      local ok, err = pcall(task.sleep, 3600)
      slept = ok or err.code
      if not ok then error(err, 0) end
    end},
  }
  T.falsy(r.ok); T.eq(r.failed_step, "slow")
  T.match(tostring(r.error.message), "timed out")
  T.eq(slept, "cancelled", "the step's sleep was cancelled")
  T.eq(r.steps[1].skipped, "when")
end)

T.test("revert runs when its step fails: status 3, or 4 when it fails too", function()
  local reverted
  local r = run{{name = "test", run = function() error("checks failed") end,
                 revert = function(_, err) reverted = tostring(err) end}}
  T.eq(r.status, require("slipway.exit").reverted); T.eq(r.outcome, "reverted")
  T.match(reverted, "checks failed")
  r = run{{name = "test", run = function() error("checks failed") end,
           revert = function() error("git revert conflicts") end}}
  T.eq(r.status, require("slipway.exit").revert_failed); T.eq(r.outcome, "revert-failed")
  local last = records(r)
  T.eq(last[#last].outcome, "revert-failed")
end)

T.test("a revert hook that declines: status 1, journalled as declined, not a failed revert", function()
  local ran = false
  local r = run{{name = "test", run = function() error("checks failed") end,
                 revert = function() ran = true; return playbook.decline("--no-revert") end},
                {name = "after", run = function() error("not reached") end}}
  T.truthy(ran)
  T.eq(r.status, require("slipway.exit").failed); T.eq(r.outcome, "failed")
  T.eq(r.failed_step, "test"); T.falsy(r.revert_error)
  local ends = {}
  for _, x in ipairs(records(r)) do ends[x.type] = x end
  T.eq(ends.revert_end.ok, false); T.eq(ends.revert_end.declined, "--no-revert")
  T.eq(ends.run_end.status, 1)
end)

T.test("a read-only context runs what reads and refuses what writes; it plans nothing", function()
  local dir = tmp()
  local ctx = playbook.context{root = dir, no_manifest = true, readonly = true, command = "status"}
  T.falsy(ctx.dry_run)
  T.eq(ctx:run({"true"}, {readonly = true}).code, 0)
  for _, f in ipairs{function() ctx:run{"touch", dir .. "/x"} end,
                     function() ctx:write(dir .. "/x", "x") end,
                     function() ctx:mutate("remove x", os.remove, dir .. "/x") end} do
    local ok, err = pcall(f)
    T.falsy(ok); T.eq(err.code, "refused"); T.match(err.message, "status is read%-only")
  end
  T.falsy(fs.exists(dir .. "/x"))
  T.falsy(fs.exists(dir .. "/.slipway"), "no journal written")
end)

T.test("error codes map to exit statuses", function()
  local core = require "slipway.core"
  T.eq(require("slipway.exit").for_error(core.error("locked", "x")), 5)
  T.eq(require("slipway.exit").for_error(core.error("manifest", "x")), 2)
  T.eq(require("slipway.exit").for_error(core.error("refused", "x")), 2)
  T.eq(require("slipway.exit").for_error(core.error("revert_failed", "x")), 4)
  T.eq(require("slipway.exit").for_error("plain"), 1)
  local r = run{{name = "s", run = function() core.raise("locked", "busy") end,
                 revert = function() error("must not run") end}}
  T.eq(r.status, 5)
end)

T.test("dry run: marked commands run, others and writes are planned, with diffs", function()
  local root = tmp()
  fs.write(root .. "/values.yaml", "a: 1\nb: 2\nc: 3\n")
  local out = {}
  local r = run({
    {name = "s", run = function(ctx)
      local ro = ctx:run({"echo", "read-only"}, {readonly = true})
      out.ro = ro.stdout
      local m = ctx:run({"touch", root .. "/made"})
      out.planned = m.planned
      ctx:write(root .. "/values.yaml", "a: 1\nb: 20\nc: 3\n")
      ctx:write(root .. "/new.txt", "hello\n")
      ctx:mutate("stop something", function() out.mutated = true end)
    end},
  }, {root = root, dry_run = true})
  T.truthy(r.ok, r.error and tostring(r.error))
  T.eq(out.ro, "read-only\n")
  T.truthy(out.planned); T.falsy(out.mutated)
  T.falsy(fs.exists(root .. "/made"))
  T.falsy(fs.exists(root .. "/new.txt"))
  T.eq(fs.read(root .. "/values.yaml"), "a: 1\nb: 2\nc: 3\n")
  T.falsy(fs.exists(root .. "/.slipway"), "a dry run writes no journal into the state dir")
  -- the plan, as printed
  local buf = {}
  local f = {write = function(_, ...) for _, s in ipairs{...} do buf[#buf + 1] = s end end,
             flush = function() end}
  playbook.print_plan(r.ctx, f)
  local text = table.concat(buf)
  T.match(text, "run touch ")
  T.match(text, "%[s%] stop something")
  T.match(text, "%-b: 2\n%+b: 20\n")
  T.match(text, "%+%+%+ b/new.txt\n@@ %-0,0 %+1,1 @@\n%+hello\n")
end)

T.test("a unified diff with context and hunks", function()
  local a, b = {}, {}
  for i = 1, 30 do a[i] = "line " .. i; b[i] = "line " .. i end
  b[5] = "changed 5"; table.insert(b, 20, "inserted"); table.remove(b, 28)
  local d = playbook.diff(table.concat(a, "\n") .. "\n", table.concat(b, "\n") .. "\n", "x", "y")
  T.match(d, "^%-%-%- x\n%+%+%+ y\n@@ %-2,7 %+2,7 @@\n line 2\n")
  T.match(d, "%-line 5\n%+changed 5\n")
  T.match(d, "%+inserted\n")
  T.match(d, "%-line 27\n")
  T.eq(playbook.diff("same\n", "same\n"), "")
end)

T.test("diff.unified applies with the real patch(1): random edits, near and across block edges", function()
  local diff = require "slipway.diff"
  local dir = fs.tempdir()
  math.randomseed(17)
  local function text(n, w)
    local t = {}
    for i = 1, n do t[i] = string.rep(string.char(97 + i % 26), 1 + (i * w) % 90) end
    return table.concat(t, "\n") .. "\n"
  end
  local function applies(old, new, what)
    local d = diff.unified(old, new, "a/f", "b/f")
    fs.write(dir .. "/f", old)
    fs.write(dir .. "/f.diff", d)
    local r = proc.run({"patch", "-s", dir .. "/f", dir .. "/f.diff"}, {check = false, echo = false})
    T.eq(r.code, 0, what .. ": patch applies\n" .. r.stdout .. r.stderr .. d)
    T.eq(fs.read(dir .. "/f"), new, what .. ": patched old is new")
  end
  -- the first (last) difference at each byte around a 256-byte block edge
  local tail = "b\nc\nd\ne\n"
  for off = 250, 262 do
    applies(string.rep("a", off) .. "\n" .. tail, string.rep("a", off) .. "x\n" .. tail, "head " .. off)
    applies(tail .. "y" .. string.rep("a", off) .. "\n", tail .. "\n" .. string.rep("a", off) .. "\n", "tail " .. off)
  end
  for case = 1, 60 do
    local old = text(40 + case * 7, case)
    local lines = {}
    for l in old:gmatch("[^\n]*\n") do lines[#lines + 1] = l end
    for _ = 1, 1 + case % 4 do
      local at = math.random(#lines)
      local op = math.random(3)
      if op == 1 then lines[at] = "edited " .. case .. "\n"
      elseif op == 2 then table.insert(lines, at, "new " .. case .. "\n")
      elseif #lines > 1 then table.remove(lines, at) end
    end
    local new = table.concat(lines)
    if case % 5 == 0 then new = new:sub(1, -2) end  -- no newline at the end
    applies(old, new, "case " .. case)
  end
end)

T.test("resume skips finished steps, restores vars, refuses a moved commit", function()
  local root = tmp()
  local g = function(...) proc.run({"git", "-C", root, ...}, {echo = false, env = {
    GIT_AUTHOR_NAME = "t", GIT_AUTHOR_EMAIL = "t@t", GIT_COMMITTER_NAME = "t", GIT_COMMITTER_EMAIL = "t@t"}}) end
  g("init", "-q"); fs.write(root .. "/f", "1"); g("add", "f"); g("commit", "-qm", "one")
  local ran = {}
  local fail_b = true
  local steps = {
    {name = "a", run = function(ctx) ran[#ran + 1] = "a"; ctx.vars.from_a = "kept" end},
    {name = "b", run = function(ctx)
      ran[#ran + 1] = "b:" .. tostring(ctx.vars.from_a)
      if fail_b then error("b broke") end
    end},
  }
  local r1 = run({name = "pb", steps = steps}, {root = root, command = "pb"})
  T.falsy(r1.ok)
  fail_b = false
  ran = {}
  local r2 = run({name = "pb", steps = steps}, {root = root, command = "pb", resume = true})
  T.truthy(r2.ok, r2.error and tostring(r2.error.message or r2.error))
  T.eq(ran, {"b:kept"})
  -- nothing to resume after a success
  local r3 = run({name = "pb", steps = steps}, {root = root, command = "pb", resume = true})
  T.eq(r3.status, 2); T.match(r3.error.message, "succeeded")
  -- a failed run, then a new commit: refused
  fail_b = true
  run({name = "pb", steps = steps}, {root = root, command = "pb"})
  fs.write(root .. "/f", "2"); g("commit", "-qam", "two")
  local r4 = run({name = "pb", steps = steps}, {root = root, command = "pb", resume = true})
  T.eq(r4.status, 2); T.match(r4.error.message, "refusing to mix them")
end)

T.test("parser: the engine's options, the playbook's declared ones, positionals", function()
  local def = {where = "pb.lua", options = {
    {name = "junit", metavar = "FILE"}, {name = "to"}, {name = "revert", type = "boolean", default = true}},
    positionals = {{name = "env", optional = true}, {name = "more", optional = true}}}
  local p = playbook.parser(def)
  local a = p:parse({"staging", "--dry-run", "--junit", "out.xml", "--to=abc",
    "--no-revert", "--resume", "--", "--literal"})
  T.eq(a[1], "staging"); T.eq(a[2], "--literal"); T.eq(a.env, "staging")
  T.eq(a.dry_run, true); T.eq(a.junit, "out.xml"); T.eq(a.to, "abc")
  T.eq(a.revert, false); T.eq(a.resume, true)
  T.eq(p:parse({"--resume", "RUN1"}).resume, "RUN1")
  T.eq(p:parse({}).revert, true, "the declared default")
  T.raises(function() p:parse({"--junit"}) end, "needs a value")
  T.raises(function() p:parse({"--dryrun"}) end, "unknown option %-%-dryrun; did you mean %-%-dry%-run%?")
  T.raises(function() p:parse({"--no-junit"}) end, "unknown option %-%-no%-junit")
  T.raises(function() p:parse({"a", "b", "c"}) end, "unexpected argument \"c\"")
  T.match(p:help(), "%-%-junit FILE")
end)

T.test("bad playbooks are refused with the step named", function()
  local root = tmp()
  fs.write(root .. "/pb.lua", "return {steps = {{name = 'a', run = function() end}, {name = 'a', run = function() end}}}")
  T.raises(function() playbook.load(root .. "/pb.lua") end, "step 'a' is defined twice")
  fs.write(root .. "/pb2.lua", "return {steps = {{name = 'x', retries = 'many', run = function() end}}}")
  T.raises(function() playbook.load(root .. "/pb2.lua") end, "step 'x': retries must be a number")
  fs.write(root .. "/pb3.lua", "return {steps = {{name = 'x'}}}")
  T.raises(function() playbook.load(root .. "/pb3.lua") end, "run must be a function")
end)

T.test("slipway run PLAYBOOK uses the engine (define), with --dry-run", function()
  local root = tmp()
  fs.write(root .. "/pb.lua", [[
local playbook = require "slipway.playbook"
return playbook.define{
  name = "hello",
  description = "touch one, then maybe fail",
  positionals = {{name = "what", optional = true, help = "fail: make step two fail"}},
  steps = {
    {name = "one", run = function(ctx) ctx:run({"touch", ctx.root .. "/one"}) end},
    {name = "two", run = function(ctx) if ctx.args[1] == "fail" then error("asked to fail") end end},
  },
}
]])
  local bin = os.getenv("SLIPWAY_BIN")
  local r = proc.run({bin, "run", root .. "/pb.lua"}, {cwd = root, check = false, echo = false})
  T.eq(r.code, 0, r.stderr)
  T.truthy(fs.exists(root .. "/one"))
  T.match(r.stderr, "==> one")
  T.match(r.stderr, "<== two ok")
  -- the closing line names the run, as deploy's does: its journal, its history
  local id = r.stderr:match("slipway run hello: success %(exit 0, run (%S+), [^\n]*%)\n$")
  T.truthy(id, "the last line names the run:\n" .. r.stderr)
  T.truthy(fs.exists(root .. "/.slipway/journal/" .. id .. ".jsonl"), "that run's journal")
  local h = proc.run({bin, "-q", "history", id}, {cwd = root, check = false, echo = false})
  T.eq(h.code, 0, h.stderr)
  T.match(h.stdout, "^run " .. id:gsub("%p", "%%%0") .. ": slipway hello\n")
  fs.remove(root .. "/one")
  r = proc.run({bin, "run", root .. "/pb.lua", "--dry-run"}, {cwd = root, check = false, echo = false})
  T.eq(r.code, 0, r.stderr)
  T.falsy(fs.exists(root .. "/one"))
  T.match(r.stdout, "run touch ")
  r = proc.run({bin, "run", root .. "/pb.lua", "fail"}, {cwd = root, check = false, echo = false})
  T.eq(r.code, 1)
  T.match(r.stderr, "asked to fail")
  T.match(r.stderr, "slipway run hello: failed %(exit 1, run %S+, [^\n]*%): [^\n]*asked to fail\n$")
  local js = fs.glob(root .. "/.slipway/journal/*.jsonl")
  T.eq(#js, 2, "two journals (the dry run wrote none)")
  -- --help prints the declaration and runs nothing; an unknown option exits 2
  fs.remove(root .. "/one")
  for _, argv in ipairs{{"--help"}, {"fail", "-h"}, {"--dryrun"}, {"--version", "1.3"}} do
    r = proc.run({bin, "run", root .. "/pb.lua", table.unpack(argv)}, {cwd = root, check = false, echo = false})
    T.falsy(fs.exists(root .. "/one"), table.concat(argv, " ") .. " ran step one")
    if argv[1] == "--help" or argv[2] == "-h" then
      T.eq(r.code, 0, r.stderr)
      T.match(r.stdout, "touch one, then maybe fail")
      T.match(r.stdout, "%-%-resume %[RUN%]")
      T.match(r.stdout, "WHAT")
    else
      T.eq(r.code, 2, table.concat(argv, " "))
    end
  end
  T.eq(#fs.glob(root .. "/.slipway/journal/*.jsonl"), 2, "no journal written")
end)

T.run()
