-- The parser thread of yaml.load and yaml.open (runtime/yaml.c, evsrc;
-- docs/yaml.md "Big texts are parsed on a second thread"): from 256 KiB on,
-- libyaml runs on a thread of its own and hands its events over in batches
-- ("tapes") while the calling thread builds the values or the edit index.
-- Whatever the text, the thread must give exactly what parsing in line
-- gives: the same values (types, metatables, aliases, merges, tags), the
-- same index (every node's kind, style, positions, flags), or the same error
-- at the same place; and it must be joined on every way out. core.threads()
-- counts the threads started, so each check also proves the thread was used.
local T = require "slipway.testing"
local yaml = require "slipway.yaml"
local core = require "slipway.yaml.core"
local fs = require "slipway.fs"

local SUITE = (os.getenv("SLIPWAY_SHARED") or "/work/shared") .. "/yaml-test-suite"

-- A canonical text of a value: types kept apart (1 and 1.0, "1" and 1),
-- metatables named (yaml.sequence marks empty sequences), table keys by
-- their own canonical text, in sorted order.
local function canon(v)
  local t = type(v)
  if t == "table" then
    local parts = {}
    for k, x in pairs(v) do parts[#parts + 1] = canon(k) .. "=" .. canon(x) end
    table.sort(parts)
    local mt = getmetatable(v)
    return (mt == yaml.sequence_mt and "seq" or mt and "mt?" or "") .. "{" .. table.concat(parts, ",") .. "}"
  elseif t == "number" then
    if v ~= v then return "nan" end
    return math.type(v) .. ":" .. string.format("%.17g", v)
  elseif v == yaml.null then
    return "null"
  end
  return t .. ":" .. tostring(v)
end

-- {ok = true, value = canon} or {ok = false, message = text of the error}
local function outcome(text, opts)
  local ok, docs = pcall(yaml.load_all, text, opts)
  if ok then return {ok = true, value = canon(docs)} end
  return {ok = false, message = tostring(docs)}
end

-- load text in line and on the thread (opts merged in); they must agree
-- (started: threads the two loads start, 1 unless the text is refused
-- before parsing)
local function agree(text, opts, what, started)
  local a, b = {}, {}
  for k, v in pairs(opts or {}) do a[k], b[k] = v, v end
  a.thread, b.thread = false, true
  local before = core.threads()
  local inline = outcome(text, a)
  local mid = core.threads()
  local threaded = outcome(text, b)
  -- (an error's message may index the text again to point at a first
  -- definition: that index takes the thread by size, in both loads)
  T.eq(core.threads() - mid - (mid - before), started or 1, (what or "") .. ": the thread was used")
  T.eq(threaded.ok, inline.ok, (what or "") .. ": both load or both fail: "
       .. tostring(inline.message or threaded.message))
  if inline.ok then
    T.truthy(threaded.value == inline.value, (what or "") .. ": the same values")
  else
    T.eq(threaded.message, inline.message, (what or "") .. ": the same error")
  end
  return inline
end

-- the whole index of text (every node's fields) as one canonical text, or
-- the error's problem, line and column
local function index_canon(text, thread)
  local idx, err = core.index(text, {thread = thread})
  if not idx then return "error " .. err.problem .. " " .. err.line .. ":" .. err.column end
  local parts = {}
  for i = 1, idx:count() do parts[#parts + 1] = canon(idx:node(i)) end
  return table.concat(parts, "\n")
end

local function index_agrees(text, what)
  local before = core.threads()
  local inline = index_canon(text, false)
  T.eq(core.threads(), before, what .. ": in line")
  local threaded = index_canon(text, true)
  T.eq(core.threads(), before + 1, what .. ": the thread was used")
  T.truthy(threaded == inline, what .. ": the same index")
end

-- threads of this process now (/proc/self/task)
local function threads_alive()
  return #fs.list("/proc/self/task")
end

-- A big text of every kind of node: block and flow collections, anchors,
-- aliases and merge keys, tags, block scalars, quoted scalars with escapes,
-- numbers, nulls, booleans, several documents, and scalars and an anchor
-- name longer than a tape (64 KiB) so that one event fills a batch alone.
local function big_text(docs, long)
  local out = {}
  for d = 1, docs do
    out[#out + 1] = "---\n"
    out[#out + 1] = string.format("base%d: &base%d {cpu: %dm, memory: %dMi, tags: [a, 'b', \"c\\t\"]}\n",
                                  d, d, d * 10, d * 64)
    for i = 1, 40 do
      out[#out + 1] = string.format([[
item%d:
  <<: *base%d
  name: svc-%d-%d
  port: %d
  ratio: %d.5
  enabled: %s
  nothing: ~
  tagged: !!str %d
  quoted: "line\nnext \u00e9 %d"
  single: 'it''s %d'
  list:
    - %d
    - {k: v%d}
    - [x, y, *base%d]
  block: |
    first %d
      indented
  folded: >-
    folded %d
    text
]], i, d, d, i, 8000 + i, i, i % 2 == 0 and "true" or "false", i, i, i, i, i, d, i, i)
    end
  end
  if long then
    local name = ("a"):rep(70000)
    out[#out + 1] = "---\n"
    out[#out + 1] = "long: |\n" .. ("  " .. ("x"):rep(99) .. "\n"):rep(1500)
    out[#out + 1] = "quoted: \"" .. ("q\\n"):rep(40000) .. "\"\n"
    out[#out + 1] = "anchored: &" .. name .. " {deep: [1, 2, 3]}\n"
    out[#out + 1] = "again: *" .. name .. "\n"
  end
  return table.concat(out)
end

T.test("every case of the YAML test suite loads the same on the parser thread", function()
  local n, loaded = 0, 0
  for _, name in ipairs(fs.list(SUITE)) do
    local dirs = {SUITE .. "/" .. name}
    if not fs.isfile(dirs[1] .. "/in.yaml") then
      dirs = {}
      for _, sub in ipairs(fs.isdir(SUITE .. "/" .. name) and fs.list(SUITE .. "/" .. name) or {}) do
        if fs.isfile(SUITE .. "/" .. name .. "/" .. sub .. "/in.yaml") then
          dirs[#dirs + 1] = SUITE .. "/" .. name .. "/" .. sub
        end
      end
    end
    for _, dir in ipairs(dirs) do
      local text = fs.read(dir .. "/in.yaml")
      for _, schema in ipairs({"helm", "core"}) do
        local r = agree(text, {schema = schema, file = dir .. "/in.yaml"}, dir .. " (" .. schema .. ")")
        n = n + 1
        if r.ok then loaded = loaded + 1 end
      end
      index_agrees(text, dir .. " (index)")
    end
  end
  T.truthy(n > 600, "the suite's cases were found: " .. n)
  T.truthy(loaded > n / 2 and loaded < n, "both loads and errors were compared: " .. loaded .. " of " .. n)
end)

T.test("a big text takes the thread by default and loads as in line", function()
  local text = big_text(60, true)
  T.truthy(#text >= 1024 * 1024, "over a megabyte: " .. #text)
  local before = core.threads()
  local docs = yaml.load_all(text)
  T.eq(core.threads(), before + 1, "the default used the thread")
  T.eq(docs[2].item3.name, "svc-2-3")
  T.eq(docs[2].item3.cpu, "20m", "merged from the anchor")
  T.eq(math.type(docs[2].item3.ratio), "float")
  T.eq(docs[2].item3.tagged, "3")
  T.eq(docs[2].item3.quoted, "line\nnext é 3")
  T.eq(docs[61].again.deep[3], 3, "an alias of a 70,000-character anchor")
  T.eq(#docs[61].long, 1500 * 100, "a block scalar bigger than a tape")
  T.eq(docs[61].quoted, ("q\n"):rep(40000))
  agree(text, nil, "1 MB of every kind of node")
  index_agrees(text, "1 MB of every kind of node (index)")
  -- a text below the threshold stays in line unless asked
  before = core.threads()
  yaml.load_all(big_text(1, false))
  T.eq(core.threads(), before, "a small text is parsed in line")
end)

T.test("errors through the thread: the same message at the same place", function()
  local body = big_text(40, false)
  local cases = {
    {"a syntax error at the end", body .. "bad: [unclosed\n"},
    {"a syntax error in the middle", body:sub(1, #body // 2) .. "\n  - : : [\n" .. body},
    {"a duplicate key early (the thread still has most to parse)", "a: 1\na: 2\n" .. body},
    {"a duplicate key at the end", body .. "---\nx: 1\nx: 2\n"},
    {"an undefined alias", body .. "---\nref: *nowhere\n"},
    {"a tag that does not fit its value", body .. "---\nn: !!int abc\n"},
    {"an error right after a scalar bigger than a tape",
     body .. "---\nlong: \"" .. ("z"):rep(100000) .. "\"\nbad: [\n"},
  }
  for _, c in ipairs(cases) do
    local r = agree(c[2], {file = "big.yaml"}, c[1])
    T.falsy(r.ok, c[1] .. " fails")
    T.match(r.message, "big%.yaml:%d+:%d+: ", c[1] .. " names file, line and column")
  end
  -- limits apply on the thread as in line
  agree(("[" ):rep(1200) .. ("]"):rep(1200) .. "\n" .. body, {file = "deep.yaml"}, "max_depth")
  agree(body, {file = "small.yaml", max_size = 1000}, "max_size (refused before parsing)", 0)
end)

T.test("yaml.open of a big file takes the thread and edits as in line", function()
  local text = big_text(60, true)
  local dir = fs.tempdir()
  local saved = {}
  for _, thread in ipairs({false, true}) do
    local path = dir .. "/values-" .. tostring(thread) .. ".yaml"
    fs.write(path, text)
    local before = core.threads()
    local doc = yaml.open(path, {thread = thread})
    T.eq(core.threads(), before + (thread and 1 or 0), "yaml.open's thread option")
    doc:set("item7.port", 9999, {doc = 3})
    doc:set("quoted", "edited", {doc = 61})
    doc:save()
    saved[thread] = fs.read(path)
  end
  T.truthy(saved[true] == saved[false], "the same edits give the same file")
  T.truthy(saved[true] ~= text, "the edits were made")
  local docs = yaml.load_all(saved[true])
  T.eq(docs[3].item7.port, 9999)
  T.eq(docs[61].quoted, "edited", "a scalar bigger than a tape was replaced")
  -- by default a big file takes the thread
  local before = core.threads()
  yaml.open(dir .. "/values-true.yaml")
  T.eq(core.threads(), before + 1, "yaml.open of a big file used the thread by default")
end)

T.test("every load joins its thread, whichever way it ends", function()
  local good = big_text(1, false)
  local bad = "a: 1\na: 2\n" .. big_text(20, false)
  local before_threads, before = threads_alive(), core.threads()
  for i = 1, 100 do
    if i % 2 == 0 then
      yaml.load_all(good, {thread = true})
    else
      T.falsy(pcall(yaml.load_all, bad, {thread = true}), "the duplicate key is an error")
    end
  end
  T.eq(core.threads(), before + 100, "each load used a thread")
  T.eq(threads_alive(), before_threads, "no parser thread is left running")
end)

T.run()
