--- slipway.testing: the small spec harness slipway's own tests use.
--
--   local T = require "slipway.testing"
--   T.test("sleep orders tasks", function()
--     T.eq(1 + 1, 2)
--   end)
--   T.run()   -- runs every test as its own task, prints
--             -- "ok - name" / "not ok - name", then "N passed, N failed"
--             -- and exits 1 when any failed.
--
-- Assertions raise with the caller's line: eq(a, b), ne, truthy, falsy,
-- match(s, pattern), raises(fn, pattern?) -> err, near(a, b, eps).
local task = require "slipway.task"
local T = {}
local tests = {}
local only = os.getenv("SLIPWAY_TEST_ONLY")

local function show(v)
  if type(v) == "string" then return string.format("%q", v) end
  if type(v) == "table" and not getmetatable(v) then
    local parts, n = {}, 0
    for k, x in pairs(v) do
      n = n + 1
      if n > 20 then parts[#parts + 1] = "..."; break end
      parts[#parts + 1] = tostring(k) .. "=" .. show(x)
    end
    table.sort(parts)
    return "{" .. table.concat(parts, ", ") .. "}"
  end
  return tostring(v)
end
T.show = show

local function deep_eq(a, b)
  if a == b then return true end
  if type(a) ~= "table" or type(b) ~= "table" then return false end
  for k, v in pairs(a) do if not deep_eq(v, b[k]) then return false end end
  for k in pairs(b) do if a[k] == nil then return false end end
  return true
end
T.deep_eq = deep_eq

local function fail(msg, level) error(msg, (level or 1) + 2) end

function T.eq(got, want, what)
  if not deep_eq(got, want) then
    fail((what and what .. ": " or "") .. "expected " .. show(want) .. ", got " .. show(got))
  end
end
function T.ne(got, other, what)
  if deep_eq(got, other) then fail((what and what .. ": " or "") .. "did not expect " .. show(got)) end
end
function T.truthy(v, what) if not v then fail((what or "expected a true value") .. ", got " .. show(v)) end return v end
function T.falsy(v, what) if v then fail((what or "expected a false value") .. ", got " .. show(v)) end end
function T.match(s, pat, what)
  if type(s) ~= "string" or not s:find(pat) then
    fail((what and what .. ": " or "") .. show(s) .. " does not match " .. show(pat))
  end
end
function T.nomatch(s, pat, what)
  if type(s) == "string" and s:find(pat) then
    fail((what and what .. ": " or "") .. show(s) .. " matches " .. show(pat))
  end
end
function T.near(a, b, eps, what)
  if type(a) ~= "number" or math.abs(a - b) > eps then
    fail((what and what .. ": " or "") .. "expected " .. show(b) .. " +- " .. eps .. ", got " .. show(a))
  end
end
--- Call fn, expect it to raise; returns the error (matched against pat).
function T.raises(fn, pat, what)
  local ok, err = pcall(fn)
  if ok then fail((what and what .. ": " or "") .. "expected an error") end
  if pat and not tostring(err):find(pat) then
    fail((what and what .. ": " or "") .. "error " .. show(tostring(err)) .. " does not match " .. show(pat))
  end
  return err
end

--- Register a test. opts: {timeout = seconds (default 60), skip = "why"}
function T.test(name, fn, opts)
  tests[#tests + 1] = {name = name, fn = fn, opts = opts or {}}
end

--- Skip the running test from inside it.
function T.skip(why) error({skip = why}, 0) end

--- Run the registered tests in order, each as a task with a timeout.
function T.run()
  local passed, failed, skipped = 0, 0, 0
  for _, t in ipairs(tests) do
    if only and not t.name:find(only, 1, true) then goto continue end
    if t.opts.skip then
      skipped = skipped + 1
      print("skip - " .. t.name .. " (" .. t.opts.skip .. ")")
      goto continue
    end
    do
      local t0 = task.now()
      local ok, err = pcall(task.timeout, t.opts.timeout or 60, function()
        local r = table.pack(xpcall(t.fn, function(e)
          if type(e) == "table" and e.skip then return e end
          return debug.traceback(tostring(e), 2)
        end))
        if not r[1] then error(r[2], 0) end
      end)
      local dt = string.format("%.2fs", task.now() - t0)
      if ok then
        passed = passed + 1
        print("ok - " .. t.name .. " (" .. dt .. ")")
      elseif type(err) == "table" and err.skip then
        skipped = skipped + 1
        print("skip - " .. t.name .. " (" .. tostring(err.skip) .. ")")
      else
        failed = failed + 1
        print("not ok - " .. t.name .. " (" .. dt .. ")")
        print("  " .. tostring(err):gsub("\n", "\n  "))
      end
    end
    ::continue::
  end
  print(string.format("%d passed, %d failed, %d skipped", passed, failed, skipped))
  if failed > 0 then os.exit(1) end
end

return T
