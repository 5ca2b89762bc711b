-- slipway.log: formats, levels, sinks, steps, redaction; the command-line
-- options through the real binary, and colour on a real terminal (a
-- pseudo-terminal from python3's pty module).
local T = require "slipway.testing"
local log = require "slipway.log"
local json = require "slipway.json"
local fs = require "slipway.fs"
local task = require "slipway.task"
local cmd = require "slipway_cmd"
local pty = require "pty"

local dir = fs.tempdir()
local n = 0

-- Run fn with the log written to a file in the given settings; return the text.
local function capture(settings, fn)
  n = n + 1
  local path = dir .. "/log" .. n
  local f = assert(io.open(path, "w"))
  log.reset()
  local c = {stream = f, human = false, color = false, format = "text", level = "info"}
  for k, v in pairs(settings) do c[k] = v end
  log.configure(c)
  local ok, err = pcall(fn)
  f:close()
  log.reset()
  log.configure({stream = false})  -- keep the test output clean
  if not ok then error(err, 0) end
  return fs.read(path)
end

local function lines(s)
  local out = {}
  for l in s:gmatch("[^\n]+") do out[#out + 1] = l end
  return out
end

T.test("bidirectional controls and line separators are shown, not obeyed", function()
  -- "Trojan Source": U+202E reverses the rest of the line on a terminal, so
  -- a check named "ok \u{202E}LIAF" would read "ok FAIL" backwards
  local evil = "check \u{202E}deliaf\u{202C} \u{2066}x\u{2069} a\u{2028}b\u{2029}c \u{200F}\u{061C}"
  for _, human in ipairs{false, true} do
    local out = capture({human = human, color = human}, function()
      log.info(evil, {field = evil})
    end)
    for _, cp in ipairs{0x202E, 0x202C, 0x2066, 0x2069, 0x2028, 0x2029, 0x200F, 0x061C} do
      T.falsy(out:find(utf8.char(cp), 1, true), string.format("a raw U+%04X", cp))
    end
    T.match(out, "check \\u{202E}deliaf\\u{202C} \\u{2066}x\\u{2069} a\\u{2028}b\\u{2029}c \\u{200F}\\u{061C}")
  end
  T.eq(require("slipway.core").escape("é ü → 日本"), "é ü → 日本", "other text is kept")
end)

T.test("control characters from a message, a step name or a field are escaped", function()
  local evil = "x\27]0;TITLE\7\27[2K\rforged\n12:00:00 info  <== deploy ok \255\194\155"
  for _, human in ipairs{false, true} do
    local out = capture({human = human, color = human}, function()
      log.info("msg " .. evil, {field = evil})
      log.step(evil):done()
      log.error("traceback:\n\tin function 'x'")
    end)
    -- slipway's own colours stay; nothing else acts on the terminal
    local no_colour = out:gsub("\27%[%d*m", "")
    T.falsy(no_colour:find("[\0-\8\11-\31\127]"), "a raw control character: " .. no_colour)
    T.falsy(out:find("\194\155", 1, true), "a raw C1 CSI")
    T.truthy(utf8.len(out), "valid UTF-8")
    T.match(out, "msg x\\x1B%]0;TITLE\\x07\\x1B%[2K\\rforged\n    12:00:00 info  <== deploy ok \\xFF\\u{9B} ")
    T.match(out, 'field="x\\x1B%]0;TITLE\\x07\\x1B%[2K\\rforged\\n12:00:00')
    for line in out:gmatch("[^\n]+") do
      T.falsy(line:find("^[%d:]+ info  <=="), "a forged log line: " .. line)
      T.falsy(line:find("^12:00:00"), "a forged log line: " .. line)
    end
    T.match(out, "traceback:\n    \tin function 'x'")
    if human then T.match(out, "\27%[36minfo ") end
  end
end)

T.test("plain text lines: UTC timestamp, level, message, fields", function()
  local out = capture({}, function()
    log.info("deploying %s to %s", "chart", "staging")
    log.warn("retrying", {attempt = 2, reason = "http 503"})
    log.error("failed: %s", require("slipway.core").error("exit", "helm exited 1"))
  end)
  local l = lines(out)
  T.eq(#l, 3)
  T.match(l[1], "^%d%d%d%d%-%d%d%-%d%dT%d%d:%d%d:%d%d%.%d%d%dZ INFO  deploying chart to staging$")
  T.match(l[2], "Z WARN  retrying attempt=2 reason=\"http 503\"$")
  T.match(l[3], "Z ERROR failed: helm exited 1$")
  T.nomatch(out, "\27", "no escape codes")
end)

T.test("levels: below the threshold nothing is written", function()
  local out = capture({level = "warn"}, function()
    log.debug("d"); log.info("i"); log.warn("w"); log.error("e")
    T.falsy(log.enabled("info")); T.truthy(log.enabled("error"))
  end)
  T.eq(#lines(out), 2)
  out = capture({level = "debug"}, function() log.debug("d %d", 1) end)
  T.match(out, "DEBUG d 1")
  T.raises(function() log.configure({level = "loud"}) end, "unknown level")
  T.raises(function() log.write("loud", "x") end, "unknown level")
end)

T.test("messages: no format without arguments, bad formats do not raise", function()
  local out = capture({}, function()
    log.info("100% done")
    log.info("%d items", "not a number")
    log.info("tables %s %s", {}, "x")  -- a table not in last place is shown
  end)
  local l = lines(out)
  T.match(l[1], "INFO  100%% done$")
  T.match(l[2], "log format error")
  T.match(l[3], "tables table: 0x%x+ x$")
end)

T.test("json lines: one valid object per line, fields included", function()
  local out = capture({format = "json"}, function()
    log.info("hello %s", "world", {env = "prod", n = 3, ok = true})
    log.warn("second")
  end)
  local l = lines(out)
  T.eq(#l, 2)
  local a = json.decode(l[1])
  T.eq(a.level, "info"); T.eq(a.message, "hello world")
  T.eq(a.env, "prod"); T.eq(a.n, 3); T.eq(a.ok, true)
  T.match(a.time, "^%d%d%d%d%-%d%d%-%d%dT[%d:.]+Z$")
  T.eq(json.decode(l[2]).level, "warn")
end)

T.test("secrets are masked in lines, fields and sink records", function()
  log.secret("hunter2-log-secret")
  local got
  local remove = log.add_sink(function(rec) got = rec end)
  local text = capture({}, function()
    log.info("password is hunter2-log-secret", {token = "Bearer hunter2-log-secret"})
  end)
  local js = capture({format = "json"}, function()
    log.warn("again %s", "hunter2-log-secret", {nested = {deep = "hunter2-log-secret"}})
  end)
  remove()
  T.nomatch(text, "hunter2", "text")
  T.match(text, "password is %*%*%* token=\"Bearer %*%*%*\"")
  T.nomatch(js, "hunter2", "json")
  T.eq(json.decode(js).nested.deep, "***")
  T.eq(got.message, "again ***")
  T.eq(got.fields.nested.deep, "***")
  T.raises(function() log.secret(42) end, "string expected")
end)

T.test("sinks get records; remove unsubscribes; a failing sink is dropped", function()
  local recs = {}
  local remove = log.add_sink(function(r) recs[#recs + 1] = r end)
  local bad_calls = 0
  log.add_sink(function() bad_calls = bad_calls + 1; error("sink broke") end)
  capture({level = "info"}, function()
    log.debug("not passed on")
    log.info("one", {k = "v"})
    log.error("two")
  end)
  remove()
  capture({}, function() log.info("after remove") end)
  T.eq(#recs, 2)
  T.eq(recs[1].level, "info"); T.eq(recs[1].message, "one"); T.eq(recs[1].fields.k, "v")
  T.eq(type(recs[1].time), "number")
  T.eq(recs[2].level, "error")
  T.eq(bad_calls, 1, "removed after its first error")
end)

T.test("steps log start and end with a duration", function()
  local recs = {}
  local remove = log.add_sink(function(r) recs[#recs + 1] = r end)
  local out = capture({}, function()
    local s = log.step("helm upgrade", {env = "staging"})
    task.sleep(0.05)
    local d = s:done({revision = 7})
    T.truthy(d >= 0.05, "the step lasted at least its sleep: " .. d)
    s:fail("ignored: already done")
    local f = log.step("tests")
    f:fail(require("slipway.core").error("exit", "3 checks failed"))
    do
      local c <close> = log.step("scoped")
    end
    pcall(function()
      local c <close> = log.step("scoped-error")
      error("inside", 0)
    end)
  end)
  remove()
  local l = lines(out)
  T.eq(#l, 8, out)
  T.match(l[1], "INFO  helm upgrade env=staging status=start step=\"helm upgrade\"$")
  -- durations as printed: "12 ms", or "1.03 s" on a loaded machine
  T.match(l[2], "INFO  helm upgrade %([%d.]+ m?s%) duration=[%d.]+ env=staging revision=7 status=done")
  T.match(l[4], "ERROR tests %([%d.]+ m?s%): 3 checks failed duration=")
  T.match(l[6], "INFO  scoped %([%d.]+ m?s%) duration=.* status=done")
  T.match(l[8], "ERROR scoped%-error %([%d.]+ m?s%): inside duration=.* status=failed")
  T.eq(recs[2].fields.status, "done")
  T.eq(recs[2].fields.step, "helm upgrade")
  T.truthy(recs[2].fields.duration >= 0.05)
  T.eq(recs[4].fields.error, "3 checks failed")
end)

T.test("human lines on a terminal: colour, step marks; NO_COLOR", function()
  local out = capture({human = true, color = true}, function()
    log.warn("careful")
    log.step("build"):done()
  end)
  T.match(out, "^%d%d:%d%d:%d%d \27%[33mwarn \27%[0m careful\n")
  T.match(out, "\27%[32m✓\27%[0m build %([%d.]+ m?s%)")
  out = capture({human = true, color = false}, function() log.warn("careful") end)
  T.match(out, "^%d%d:%d%d:%d%d warn  careful\n$")
end)

-- ---- the real binary ----

local script = dir .. "/logs.lua"
fs.write(script, [[
  local log = require "slipway.log"
  log.debug("dbg")
  log.info("inf")
  log.warn("wrn")
]])

T.test("--log-format=json and SLIPWAY_LOG_FORMAT select JSON on stderr", function()
  for _, args in ipairs{{"--log-format=json", script}, {script}} do
    local r = cmd.run(args, {env = #args == 1 and {SLIPWAY_LOG_FORMAT = "json"} or nil})
    T.eq(r.code, 0, r.stderr)
    T.eq(r.stdout, "")
    local l = lines(r.stderr)
    T.eq(#l, 2, r.stderr)
    T.eq(json.decode(l[1]).message, "inf")
    T.eq(json.decode(l[2]).level, "warn")
  end
  local r = cmd.run({"--log-format=json", "-e", "require('slipway.log').info('from -e')"})
  T.eq(r.code, 0, r.stderr)
  T.eq(json.decode(r.stderr).message, "from -e")
end)

T.test("-v, -q, --log-level and SLIPWAY_LOG_LEVEL set the threshold", function()
  T.eq(#lines(cmd.run({"-v", script}).stderr), 3)
  T.eq(#lines(cmd.run({"-q", script}).stderr), 1)
  T.eq(#lines(cmd.run({"--log-level=warn", script}).stderr), 1)
  T.eq(#lines(cmd.run({script}, {env = {SLIPWAY_LOG_LEVEL = "debug"}}).stderr), 3)
  T.match(cmd.run({script}).stderr, "^%d%d%d%d%-[^\n]+ INFO  inf\n")
end)

T.test("a terminal gets colour unless NO_COLOR or --no-color", function()
  if not pty.available() then
    T.skip("python3 is not installed: no pseudo-terminal to test with")
  end
  local function on_tty(no_color, args)
    local argv = {cmd.bin}
    for _, a in ipairs(args) do argv[#argv + 1] = a end
    argv[#argv + 1] = script
    local r = pty.run(argv, {env = {NO_COLOR = no_color or false}})
    T.eq(r.code, 0, "on a terminal: " .. r.stdout .. r.stderr)
    return r.stdout
  end
  local coloured = on_tty(nil, {})
  T.match(coloured, "\27%[36minfo \27%[0m inf")
  T.match(coloured, "^%d%d:%d%d:%d%d ")
  T.nomatch(on_tty("1", {}), "\27%[")
  T.match(on_tty("1", {}), "info  inf")
  T.nomatch(on_tty(nil, {"--no-color"}), "\27%[")
end)

T.run()
