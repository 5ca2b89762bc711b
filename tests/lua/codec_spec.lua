-- slipway.codec: base64 both ways (RFC 4648 test vectors) and UTC times.
local T = require "slipway.testing"
local codec = require "slipway.codec"

T.test("base64 of the RFC 4648 vectors, and back", function()
  local vectors = {[""] = "", f = "Zg==", fo = "Zm8=", foo = "Zm9v", foob = "Zm9vYg==",
    fooba = "Zm9vYmE=", foobar = "Zm9vYmFy"}
  for plain, enc in pairs(vectors) do
    T.eq(codec.base64(plain), enc, plain)
    T.eq(codec.unbase64(enc), plain, enc)
  end
  local bytes = {}
  for i = 0, 255 do bytes[#bytes + 1] = string.char(i) end
  bytes = table.concat(bytes)
  T.eq(codec.unbase64(codec.base64(bytes)), bytes, "every byte value")
  T.eq(codec.unbase64("Zm9v\nYmFy "), "foobar", "white space is ignored")
end)

T.test("not base64 is nil, not garbage", function()
  T.eq(codec.unbase64("Zm9"), nil, "length")
  T.eq(codec.unbase64("Zm=v"), nil, "padding in the middle")
  T.eq(codec.unbase64("Zm9*"), nil, "a character outside the alphabet")
end)

T.test("timegm is UTC whatever the local time zone", function()
  T.eq(codec.timegm(1970, 1, 1, 0, 0, 0), 0)
  T.eq(codec.timegm(2000, 2, 29, 12, 30, 15), 951827415)
  T.eq(codec.timegm(2026, 11, 26), 1795651200)
end)

T.run()
