-- Fuzz slipway.json: decode any text; whatever decodes must encode (keys
-- are strings, numbers finite), and encode -> decode gives the value back
-- (an integral number that a double holds exactly is an integer either way).
local json = require "slipway.json"
local F = require "fuzzlib"

return function(data)
  local ok, v = F.try("json.decode", json.decode, data)
  if not ok then return end
  for _, opts in ipairs{{}, {indent = 2}} do
    local eok, text = F.try("json.encode", json.encode, v, opts)
    if not eok then F.fail("json.encode refused what json.decode returned: %s", tostring(text)) end
    local dok, back = F.try("json.decode", json.decode, text)
    if not dok then F.fail("json.decode refused json.encode's output %q: %s", text, tostring(back)) end
    local same, why = F.equal(v, back)
    if not same then F.fail("decode -> encode -> decode changed the value: %s\nencoded: %s", why, text) end
    local again = json.encode(back, opts)
    F.check(again == text, "encoding is not stable: %q then %q", text, again)
  end
end
