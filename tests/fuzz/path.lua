-- Fuzz slipway.path: every text either parses or raises code "path" with a
-- column inside the text; a parsed path formats to text that parses to the
-- same segments, and formatting is a fixed point.
local path = require "slipway.path"
local sw = require "slipway.core"
local F = require "fuzzlib"

return function(data)
  local ok, segs = F.try("path.parse", path.parse, data)
  if not ok then
    F.check(sw.is_error(segs) and segs.code == "path",
      "path.parse raised something else than a structured 'path' error: %s", tostring(segs))
    F.check(math.type(segs.column) == "integer" and segs.column >= 1 and segs.column <= #data + 1,
      "column %s outside the path (%d bytes)", tostring(segs.column), #data)
    local reason, col = path.check(data)
    F.check(reason ~= nil and col == segs.column, "path.check disagrees with path.parse")
    return
  end
  F.check(path.check(data) == nil, "path.check refuses what path.parse accepts")
  local fok, text = F.try("path.format", path.format, segs)
  if not fok then F.fail("path.format refused parsed segments: %s", tostring(text)) end
  local pok, back = F.try("path.parse", path.parse, text)
  if not pok then F.fail("path.format wrote %q, which does not parse: %s", text, tostring(back)) end
  local same, why = F.equal(segs, back)
  if not same then F.fail("parse(format(parse(%q))) differs: %s (formatted %q)", data, why, text) end
  F.check(path.format(back) == text, "format is not a fixed point: %q", text)
end
