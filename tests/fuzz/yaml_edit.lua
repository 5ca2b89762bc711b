-- Fuzz lossless YAML edits (slipway.yaml.edit). Input, by lines:
--   1: the operation: set, append, insert or delete (else: set)
--   2: a path (slipway.path syntax)
--   3: a value, read as YAML (flow style: {a: 1}, [x], "s"); for insert
--      "KEY VALUE" (the key up to the first space)
--   the rest: the document.
-- The document must load (yaml.load_all). An edit may be refused (a structured error or a message); an accepted
-- one must leave text that loads, whose value at the path is what was
-- written, and the same document must load the same way as the editor's
-- own view of it (doc:get after the edit).
local yaml = require "slipway.yaml"
local path = require "slipway.path"
local F = require "fuzzlib"

local function value_of(s)
  local ok, v = pcall(yaml.load, s)
  if ok and v ~= nil then return v end
  return s
end

local function get(text, p)
  local doc = yaml.edit(text)
  return doc:get(p)
end

return function(data)
  local f = F.fields(data, 4)
  if #f < 4 then return end
  local op, p, arg, text = f[1], f[2], f[3], f[4]
  -- only texts that load (yaml.edit itself accepts some that yaml.load
  -- refuses, such as duplicate keys: an edit cannot make those load)
  if not F.try("yaml.load_all", yaml.load_all, text) then return end
  local ok, doc = F.try("yaml.edit", yaml.edit, text)
  if not ok then return end
  local pok, segs = pcall(path.parse, p)
  if not pok then return end
  local key, value
  if op == "insert" then
    key, arg = arg:match("^(%S+) ?(.*)$")
    if not key then return end
  end
  value = value_of(arg)
  local eok, err
  if op == "append" then eok, err = F.try("doc:append", doc.append, doc, p, value)
  elseif op == "insert" then eok, err = F.try("doc:insert", doc.insert, doc, p, key, value)
  elseif op == "delete" then eok, err = F.try("doc:delete", doc.delete, doc, p)
  else op = "set"; eok, err = F.try("doc:set", doc.set, doc, p, value) end
  if not eok then return end
  local new = doc:text()
  local lok, lerr = F.try("yaml.load_all", yaml.load_all, new)
  if not lok then
    F.fail("%s at %q was accepted but the text no longer loads: %s\n--- before:\n%s\n--- after:\n%s",
      op, p, tostring(lerr), text, new)
  end
  local at
  if op == "set" then at = p
  elseif op == "insert" then
    segs[#segs + 1] = {key = key}
    at = segs
  elseif op == "append" then
    segs[#segs + 1] = {index = -1}
    at = segs
  end
  if at then
    local gok, got = F.try("doc:get after " .. op, get, new, at)
    if not gok then
      F.fail("%s at %q accepted, but the path cannot be read back: %s\n--- after:\n%s", op, p,
        tostring(got), new)
    end
    local same, why = F.equal(yaml.load(yaml.dump(value)), got, {nomt = true})
    if not same then
      F.fail("%s at %q wrote a value that reads back differently: %s\n--- after:\n%s", op, p,
        why, new)
    end
  end
end
