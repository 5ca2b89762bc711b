-- slipway side of tests/bench/http.sh: COUNT GETs of URL, CONCURRENCY at a
-- time (one task per lane, each making its share in turn).
--   slipway tests/bench/http_client.lua URL COUNT CONCURRENCY
-- Prints "requests seconds bytes".
local http = require "slipway.http"
local task = require "slipway.task"
local url, count, conc = arg[1], tonumber(arg[2]), tonumber(arg[3])
http.version()  -- load libcurl before the clock starts, as curl has it loaded
local bytes, done = 0, 0
local t0 = task.now()
local lanes = {}
for lane = 1, conc do
  lanes[lane] = task.spawn(function()
    local n = count // conc + (lane <= count % conc and 1 or 0)
    for _ = 1, n do
      local res = http.get(url, {retries = 0})
      if res.status ~= 200 then error("HTTP " .. res.status) end
      bytes = bytes + #res.body
      done = done + 1
    end
  end)
end
for _, t in ipairs(lanes) do t:join() end
print(done, task.now() - t0, bytes)
