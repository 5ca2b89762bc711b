-- Notifications against real receivers on 127.0.0.1 (slipway's own HTTP
-- server): a webhook, a Slack-compatible hook, a Grafana annotation API,
-- one receiver that hangs and one that answers 500. A notification must
-- never fail or hang a run, and a token never shows up in what is logged.
local T = require "slipway.testing"
local server = require "slipway.server"
local json = require "slipway.json"
local task = require "slipway.task"
local log = require "slipway.log"
local notify = require "slipway.notify"

-- set by CMake for every spec (tests cannot set environment variables)
local TOKEN = assert(os.getenv("SLIPWAY_TEST_SECRET"), "SLIPWAY_TEST_SECRET is not set")

-- a receiver recording every request; behaviour per path
local function receiver()
  local seen = {}
  local srv = server.serve{host = "127.0.0.1", port = 0, handler = function(req)
    seen[#seen + 1] = {method = req.method, path = req.path, headers = req.headers,
                       body = req.body ~= "" and json.decode(req.body) or nil}
    if req.path:find("^/hang") then task.sleep(3600); return {status = 200, body = ""} end
    if req.path:find("^/fail") then return {status = 500, body = "boom"} end
    if req.path == "/api/annotations" and req.method == "POST" then
      return {status = 200, json = {id = 42, message = "Annotation added"}}
    end
    return {status = 200, body = "ok"}
  end}
  return srv, seen
end

-- capture warnings while fn runs
local function warnings(fn)
  local got = {}
  local remove = log.add_sink(function(rec)
    if rec.level == "warn" or rec.level == "error" then got[#got + 1] = rec.message end
  end)
  local ok, err = pcall(fn)
  remove()
  if not ok then error(err, 0) end
  return table.concat(got, "\n")
end

T.test("grafana: a region from start to end, tagged with env, versions and outcome", function()
  local srv, seen = receiver()
  local _ <close> = srv
  local n = notify.new({{type = "grafana", url = srv:url() .. "/", token_env = "SLIPWAY_TEST_SECRET",
    tags = {"deploy"}}})
  T.eq(#n:start{command = "deploy", env = "staging", run_id = "r1",
    versions = {binderhub = "1.0.0-0.dev.git.3506.hba24eb2a"}}, 0)
  T.eq(#n:finish{outcome = "success"}, 0)
  T.eq(#seen, 2)
  T.eq(seen[1].method, "POST"); T.eq(seen[1].path, "/api/annotations")
  T.eq(seen[1].headers.authorization, "Bearer " .. TOKEN)
  local tags = table.concat(seen[1].body.tags, ",")
  T.match(tags, "deploy"); T.match(tags, "env:staging")
  T.match(tags, "binderhub:1%.0%.0%-0%.dev%.git%.3506%.hba24eb2a")
  T.eq(seen[2].method, "PATCH"); T.eq(seen[2].path, "/api/annotations/42")
  T.eq(seen[2].body.isRegion, true)
  T.truthy(seen[2].body.timeEnd >= seen[2].body.time, "the region ends after it starts")
  T.match(table.concat(seen[2].body.tags, ","), "outcome:success")
end)

T.test("webhook and slack get the outcome at the end only", function()
  local srv, seen = receiver()
  local _ <close> = srv
  local n = notify.new({
    {type = "webhook", url = srv:url() .. "/hook"},
    {type = "slack", url = srv:url() .. "/slack"},
  })
  n:start{command = "deploy", env = "staging"}
  T.eq(#seen, 0, "nothing at the start")
  T.eq(#n:finish{outcome = "reverted", summary = "staging: 1 of 6 checks failed"}, 0)
  local by = {}
  for _, r in ipairs(seen) do by[r.path] = r end
  T.eq(by["/hook"].body.outcome, "reverted")
  T.match(by["/hook"].body.text, "slipway deploy staging: reverted")
  T.match(by["/slack"].body.text, "^:rewind: slipway deploy staging: reverted")
  T.match(by["/slack"].body.text, "1 of 6 checks failed")
end)

T.test("a receiver that answers 500 is retried, logged, and never raises", function()
  local srv, seen = receiver()
  local _ <close> = srv
  local failures
  local warned = warnings(function()
    failures = notify.new({{type = "webhook", url = srv:url() .. "/fail"}}):finish{outcome = "success"}
  end)
  T.eq(#failures, 1)
  T.match(failures[1].error, "HTTP 500")
  T.truthy(#seen >= 2, "retried (" .. #seen .. " attempts)")
  T.match(warned, "notification webhook %(finish%) failed")
end)

-- finish with a webhook that hangs (an hour) next to a slack hook, with
-- notify's timeout, retries and deadline set for the call, and http's own
-- default timeouts at an hour too (a notify timeout not passed on would
-- otherwise still end it, at http's 30 s)
local function finish_with_hanging(timeout, deadline)
  local http = require "slipway.http"
  local srv, seen = receiver()
  local _ <close> = srv
  local saved = {notify.timeout, notify.retries, notify.deadline, http.defaults.timeout,
                 http.defaults.connect_timeout}
  notify.timeout, notify.retries, notify.deadline = timeout, 0, deadline
  http.defaults.timeout, http.defaults.connect_timeout = 3600, 3600
  local ok, failures = pcall(function()
    return notify.new({
      {type = "webhook", url = srv:url() .. "/hang"},
      {type = "slack", url = srv:url() .. "/slack"},
    }):finish{outcome = "failed"}
  end)
  notify.timeout, notify.retries, notify.deadline, http.defaults.timeout,
    http.defaults.connect_timeout = table.unpack(saved)
  T.truthy(ok, tostring(failures))
  local slack = false
  for _, r in ipairs(seen) do if r.path == "/slack" then slack = true end end
  T.truthy(slack, "the slack hook got its message anyway")
  return failures
end

-- Neither can take the hour the receiver hangs: a regression hangs the test
-- (its 60 s timeout) instead of passing it.
T.test("a receiver that hangs costs at most the request timeout; the others still arrive", function()
  local failures = finish_with_hanging(0.3, 3600)
  T.eq(#failures, 1, "only the webhook failed, and not the deadline")
  T.eq(failures[1].target, "webhook")
  T.match(failures[1].error, "timed out after")
end)

T.test("a round that outlasts the deadline is given up; the others still arrive", function()
  local failures = finish_with_hanging(3600, 1)
  local by = {}
  for _, f in ipairs(failures) do by[f.target] = f.error end
  T.match(by.all, "timed out after 1 s", "the deadline ended the round")
  T.match(by.webhook, "cancelled", "the hanging request was cancelled")
  T.eq(by.slack, nil)
end)

T.test("a deadline of a fraction of a second is said as it is", function()
  local failures
  local warned = warnings(function() failures = finish_with_hanging(3600, 0.5) end)
  T.match(warned, "notifications gave up after 0%.5 s")
  T.nomatch(warned, "format error")
  T.eq(failures[#failures].target, "all")
end)

T.test("tokens and URLs read from the environment are secrets", function()
  local srv = receiver()
  local _ <close> = srv
  local warned = warnings(function()
    notify.new({{type = "grafana", url = srv:url() .. "/fail", token_env = "SLIPWAY_TEST_SECRET"}})
      :finish{outcome = "success"}
  end)
  T.match(warned, "failed")
  T.nomatch(warned, TOKEN, "the token is masked")
  T.eq(require("slipway.core").redact("token " .. TOKEN), "token ***")
end)

T.test("a token written in slipway.yaml itself is masked too", function()
  local literal = "literal-token-in-yaml-91af"
  notify.new({{type = "webhook", url = "http://127.0.0.1:9/x", token = literal}})
  T.eq(require("slipway.core").redact("x " .. literal), "x ***")
end)

T.test("bad configuration is a clear error naming the entry", function()
  T.raises(function() notify.new({{type = "pager", url = "http://x"}}) end,
    "notify%[1%]%.type: expected webhook, slack or grafana")
  T.raises(function() notify.new({{type = "slack", url_env = "SLIPWAY_TEST_UNSET_HOOK"}}) end,
    "notify%[1%]: url_env names %$SLIPWAY_TEST_UNSET_HOOK, which is not set")
  T.raises(function() notify.new({{type = "webhook", url = "ftp://x"}}) end, "expected an http%(s%) URL")
end)

T.run()
