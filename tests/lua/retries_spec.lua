-- One retry budget per operation (docs/playbook.md, "Retries"): a check's
-- `retries: N` is N + 1 requests in all, a step's retries wrap requests that
-- do not retry on their own, and an error that retrying cannot help is not
-- retried. Counted on a real server on 127.0.0.1; counts, never durations.
local T = require "slipway.testing"
local server = require "slipway.server"
local checks = require "slipway.checks"
local playbook = require "slipway.playbook"
local errors = require "slipway.errors"
local fs = require "slipway.fs"
local task = require "slipway.task"

-- a server that counts requests per path: /hang never answers, /busy is 503
local function counting()
  local n = {}
  local srv = server.serve{handler = function(req)
    n[req.path] = (n[req.path] or 0) + 1
    if req.path == "/hang" then task.sleep(60) end
    if req.path == "/busy" then return {status = 503, body = "busy\n"} end
    return {status = 404, body = "no\n"}
  end}
  return srv, n
end

local function check(spec)
  return checks.validate({spec}, "checks")[1]
end

T.test("a check with retries: 0 against a URL that hangs makes one request", function()
  local srv <close>, n = counting()
  local r = checks.run_one(nil, check{name = "hang", get = "/hang", retries = 0, timeout = 0.2,
                                       deadline = 30}, {url = srv:url("")})
  T.falsy(r.ok)
  T.match(r.detail, "timed out")
  T.eq(r.attempts, 1)
  T.eq(n["/hang"], 1, "one request, no hidden retries inside")
end)

T.test("a check with retries: 2 makes three requests in all", function()
  local srv <close>, n = counting()
  local r = checks.run_one(nil, check{name = "busy", get = "/busy", retries = 2, interval = 0.01,
                                       deadline = 30}, {url = srv:url("")})
  T.falsy(r.ok)
  T.eq(r.attempts, 3)
  T.eq(n["/busy"], 3)
end)

local function run(steps)
  return playbook.run({name = "t", steps = steps}, {root = fs.tempdir()})
end

T.test("a step's retries wrap its requests: attempts add, they do not multiply", function()
  local srv <close>, n = counting()
  local r = run{{name = "call", retries = 2, retry_delay = 0.01, run = function(ctx)
    ctx:get(srv:url("/busy"), {check = true, backoff = 0.01})
  end}}
  T.falsy(r.ok)
  T.eq(r.steps[1].attempts, 3)
  T.eq(n["/busy"], 3, "one request per attempt of the step")
  -- a step without retries leaves the request its own (http's default: 3 more)
  n["/busy"] = 0
  r = run{{name = "once", run = function(ctx)
    ctx:get(srv:url("/busy"), {check = true, backoff = 0.01})
  end}}
  T.falsy(r.ok)
  T.eq(r.steps[1].attempts, 1)
  T.eq(n["/busy"], 4)
  -- a request that asks for its own retries keeps them
  n["/busy"] = 0
  r = run{{name = "own", retries = 1, retry_delay = 0.01, run = function(ctx)
    ctx:get(srv:url("/busy"), {check = true, retries = 1, backoff = 0.01})
  end}}
  T.eq(n["/busy"], 4)
end)

T.test("a step does not retry an error that retrying cannot help", function()
  local dir = fs.tempdir()
  local tries = 0
  -- retry_delay 600: were it retried, the test would time out
  local r = run{{name = "read", retries = 3, retry_delay = 600, run = function()
    tries = tries + 1
    fs.read(dir .. "/missing.yaml")
  end}}
  T.falsy(r.ok)
  T.eq(tries, 1)
  T.eq(r.steps[1].attempts, 1)
  T.eq(r.error.code, "ENOENT")
  T.eq(r.error.retryable, false)
  local skipped
  for _, x in ipairs(require("slipway.journal").read(r.ctx.journal.path)) do
    if x.type == "retry" then skipped = x.skipped end
  end
  T.eq(skipped, "retrying cannot help", "journalled as not retried")
  -- a 4xx answer is not retried either; a timeout and a 5xx are
  local srv <close>, n = counting()
  tries = 0
  r = run{{name = "404", retries = 3, retry_delay = 600, run = function(ctx)
    tries = tries + 1
    ctx:get(srv:url("/nothing"), {check = true})
  end}}
  T.eq(tries, 1)
  T.eq(r.error.status, 404)
  tries = 0
  r = run{{name = "slow", retries = 2, retry_delay = 0.01, run = function()
    tries = tries + 1
    task.timeout(0.01, task.sleep, 5)
  end}}
  T.eq(tries, 3, "a timeout is retried")
end)

T.test("errors say whether retrying can help", function()
  T.eq(errors.retryable(select(2, pcall(fs.read, "/nonexistent/x"))), false)
  T.eq(errors.retryable(select(2, pcall(task.timeout, 0.001, task.sleep, 1))), true)
  T.eq(errors.retryable(select(2, pcall(require("slipway.proc").run, {"no-such-command-xyz"}))), false)
  T.eq(errors.retryable(select(2, pcall(require("slipway.proc").run, {"false"}))), nil)
  T.eq(errors.retryable("bad argument #1 to 'read' (path expected, got nil)"), false)
  T.eq(errors.retryable("service not ready yet"), nil)
  local srv <close> = counting()
  local function code_of(path)
    return select(2, pcall(require("slipway.http").get, srv:url(path),
      {check = true, retries = 0}))
  end
  T.eq(code_of("/busy").retryable, true)
  T.eq(code_of("/nothing").retryable, false)
  -- a port nobody listens on: connection refused
  local s2 = server.serve{handler = function() return "x" end}
  local url = s2:url("/")
  s2:close()
  T.eq(select(2, pcall(require("slipway.http").get, url, {retries = 0})).retryable, true)
end)

T.run()
