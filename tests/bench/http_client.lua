-- slipway side of tests/bench/http.sh: COUNT GETs of URL, CONCURRENCY at a
-- time (one task per lane, each making its share in turn).
--   slipway tests/bench/http_client.lua URL COUNT CONCURRENCY [MODE DIR]
-- MODE: "get" (default: http.get, the body a Lua string), "download"
-- (http.download to DIR/laneN) or "stream" (http.stream in "chunks" mode,
-- the body counted and dropped). Prints "requests seconds bytes".
local http = require "slipway.http"
local task = require "slipway.task"
local url, count, conc = arg[1], tonumber(arg[2]), tonumber(arg[3])
local mode, dir = arg[4] or "get", arg[5]
http.version()  -- load libcurl before the clock starts, as curl has it loaded
local bytes, done = 0, 0
local t0 = task.now()
local fetch = {
  get = function()
    local res = http.get(url, {retries = 0})
    if res.status ~= 200 then error("HTTP " .. res.status) end
    return #res.body
  end,
  download = function(lane)
    return http.download(url, dir .. "/lane" .. lane, {retries = 0}).bytes
  end,
  stream = function()
    local n = 0
    for chunk in http.stream(url, {mode = "chunks", retries = 0}) do n = n + #chunk end
    return n
  end,
}
local get = assert(fetch[mode], "mode: get, download or stream")
local lanes = {}
for lane = 1, conc do
  lanes[lane] = task.spawn(function()
    local n = count // conc + (lane <= count % conc and 1 or 0)
    for _ = 1, n do
      local n = get(lane)  -- it waits: add after, not around it
      bytes = bytes + n
      done = done + 1
    end
  end)
end
for _, t in ipairs(lanes) do t:join() end
print(done, task.now() - t0, bytes)
