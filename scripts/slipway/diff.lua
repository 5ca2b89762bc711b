--- slipway.diff: unified diffs of two texts (the dry-run plan, doc:diff()).
--
--   local diff = require "slipway.diff"
--   io.write(diff.unified(before, after, "a/values.yaml", "b/values.yaml"))
--
-- Myers' O(ND) algorithm on the lines between the common head and tail, so
-- a one-line change in a 10 MB file costs about as much as reading it.
local M = {}

local function line_start(text, pos)
  while pos > 1 and text:byte(pos - 1) ~= 10 do pos = pos - 1 end
  return pos
end

local function split_lines(s)
  local t = {}
  for line in s:gmatch("[^\n]*\n?") do
    if line ~= "" then t[#t + 1] = line end
  end
  return t
end

-- Myers' O(ND) diff of two line arrays: a list of {op, line} (" ", "-", "+")
local function myers(a, b)
  local n, m = #a, #b
  local v = {[1] = 0}
  local trace = {}
  local done
  for d = 0, n + m do
    local snapshot = {}
    for k, x in pairs(v) do snapshot[k] = x end
    trace[d] = snapshot
    for k = -d, d, 2 do
      local x
      if k == -d or (k ~= d and (v[k - 1] or -1) < (v[k + 1] or -1)) then x = v[k + 1] or 0
      else x = (v[k - 1] or 0) + 1 end
      local y = x - k
      while x < n and y < m and a[x + 1] == b[y + 1] do x, y = x + 1, y + 1 end
      v[k] = x
      if x >= n and y >= m then done = d; break end
    end
    if done then break end
  end
  local out = {}
  local x, y = n, m
  for d = done, 1, -1 do
    local vv = trace[d]
    local k = x - y
    local pk
    if k == -d or (k ~= d and (vv[k - 1] or -1) < (vv[k + 1] or -1)) then pk = k + 1 else pk = k - 1 end
    local px = vv[pk] or 0
    local py = px - pk
    while x > px and y > py do
      out[#out + 1] = {" ", a[x]}
      x, y = x - 1, y - 1
    end
    if x == px then out[#out + 1] = {"+", b[y]} else out[#out + 1] = {"-", a[x]} end
    x, y = px, py
  end
  while x > 0 and y > 0 do
    out[#out + 1] = {" ", a[x]}
    x, y = x - 1, y - 1
  end
  local r = {}
  for i = #out, 1, -1 do r[#r + 1] = out[i] end
  return r
end

--- diff.unified(old, new [, label_a, label_b]) -> a unified diff of two
-- texts with 3 lines of context ("" when they are equal), as `diff -u`
-- writes it, including "\\ No newline at end of file".
function M.unified(old, new, la, lb)
  if old == new then return "" end
  -- common prefix/suffix at line granularity, then diff the middle
  -- (compared a block at a time -- string equality is a memcmp -- and
  -- byte by byte only inside the block that differs)
  local B = 256
  local p = 1
  local lim = math.min(#old, #new)
  while p + B - 1 <= lim and old:sub(p, p + B - 1) == new:sub(p, p + B - 1) do p = p + B end
  while p <= lim and old:byte(p) == new:byte(p) do p = p + 1 end
  p = line_start(old, p)
  local q = 0
  local qlim = lim - p + 1
  while q + B <= qlim and old:sub(#old - q - B + 1, #old - q) == new:sub(#new - q - B + 1, #new - q) do
    q = q + B
  end
  while q < qlim and old:byte(#old - q) == new:byte(#new - q) do q = q + 1 end
  -- keep the suffix starting at a line start
  while q > 0 and old:byte(#old - q) ~= 10 do q = q - 1 end
  local pre = old:sub(1, p - 1)
  local pre_lines = select(2, pre:gsub("\n", ""))
  -- three lines of context on each side
  local ctx_from = p
  for _ = 1, 3 do
    if ctx_from > 1 then ctx_from = line_start(old, ctx_from - 1) end
  end
  local ctx_lines = select(2, old:sub(ctx_from, p - 1):gsub("\n", ""))
  local sufo, sufn = #old - q + 1, #new - q + 1
  local ctx_to = sufo
  for _ = 1, 3 do
    local nl = old:find("\n", ctx_to, true)
    if nl then ctx_to = nl + 1 else ctx_to = #old + 1 end
  end
  local extra = old:sub(sufo, ctx_to - 1)
  local a = split_lines(old:sub(ctx_from, sufo - 1) .. extra)
  local b = split_lines(new:sub(ctx_from, sufn - 1) .. extra)
  local script = myers(a, b)
  -- hunks
  local out = {"--- " .. (la or "a"), "+++ " .. (lb or "b")}
  local i = 1
  local aline, bline = pre_lines - ctx_lines + 1, pre_lines - ctx_lines + 1
  local positions = {}
  local ai, bi = aline, bline
  for k, s in ipairs(script) do
    positions[k] = {ai, bi}
    if s[1] ~= "+" then ai = ai + 1 end
    if s[1] ~= "-" then bi = bi + 1 end
  end
  local function text_of(op, line)
    local s = op .. line
    if s:sub(-1) == "\n" then return s:sub(1, -2) end
    return s .. "\n\\ No newline at end of file"
  end
  while i <= #script do
    while i <= #script and script[i][1] == " " do i = i + 1 end
    if i > #script then break end
    local hs = math.max(1, i - 3)
    local he = i
    local j = i
    while j <= #script do
      if script[j][1] ~= " " then he = j; j = j + 1
      else
        local run = j
        while run <= #script and script[run][1] == " " do run = run + 1 end
        if run > #script or run - j > 6 then break end
        j = run
      end
    end
    he = math.min(#script, he + 3)
    local acount, bcount = 0, 0
    local body = {}
    for k = hs, he do
      local s = script[k]
      if s[1] ~= "+" then acount = acount + 1 end
      if s[1] ~= "-" then bcount = bcount + 1 end
      body[#body + 1] = text_of(s[1], s[2])
    end
    local a0, b0 = positions[hs][1], positions[hs][2]
    out[#out + 1] = string.format("@@ -%d,%d +%d,%d @@", acount == 0 and a0 - 1 or a0, acount,
      bcount == 0 and b0 - 1 or b0, bcount)
    for _, l in ipairs(body) do out[#out + 1] = l end
    i = he + 1
  end
  return table.concat(out, "\n") .. "\n"
end

return M
