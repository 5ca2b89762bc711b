-- tests/bench/yaml_slipway.lua load FILE | load-inline FILE | edit FILE COPY
--   load: the time of yaml.load_all on FILE: "load S docs N"
--   load-inline: the same with opts.thread = false (no parser thread)
--   edit: yaml.open of COPY (a copy of FILE), doc:set of one scalar and
--         doc:save, nothing else in the process (so that its peak RSS is
--         the editor's): "open S set S save S delta BYTES"
local yaml = require "slipway.yaml"
local fs = require "slipway.fs"
local task = require "slipway.task"
local mode, file, copy = arg[1], arg[2], arg[3]
if mode == "load" or mode == "load-inline" then
  local text = fs.read(file)
  local t0 = task.now()
  local docs = yaml.load_all(text, mode == "load-inline" and {thread = false} or nil)
  print(string.format("load %.6f docs %d", task.now() - t0, #docs))
elseif mode == "edit" then
  local t1 = task.now()
  local doc = yaml.open(copy)
  local t2 = task.now()
  local n = doc:documents()
  local path, opts = "metadata.name", {doc = n}
  if n == 1 then path, opts = "component1.image.tag", nil end
  doc:set(path, "slipway-bench-edited", opts)
  local t3 = task.now()
  doc:save()
  local t4 = task.now()
  print(string.format("open %.6f set %.6f save %.6f delta %d", t2 - t1, t3 - t2, t4 - t3,
    #doc:text() - #doc.orig))
else
  error("usage: yaml_slipway.lua load FILE | load-inline FILE | edit FILE COPY")
end
