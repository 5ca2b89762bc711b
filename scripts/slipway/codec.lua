--- slipway.codec: small encodings several modules share.
--
--   codec.base64(s)            -> standard base64 with padding
--   codec.unbase64(s)          -> the bytes, or nil when s is not base64
--                                 (white space is ignored)
--   codec.timegm(y, mo, d, h, mi, s) -> seconds since the epoch for a UTC time
local M = {}

local ALPHABET = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/"
local VALUE = {}
for i = 1, #ALPHABET do VALUE[ALPHABET:byte(i)] = i - 1 end

--- Base64 (RFC 4648, with padding) of a byte string.
function M.base64(s)
  local out, n = {}, #s
  for i = 1, n, 3 do
    local a, b, c = s:byte(i, i + 2)
    local v = (a << 16) | ((b or 0) << 8) | (c or 0)
    local q = {
      ALPHABET:sub((v >> 18) + 1, (v >> 18) + 1),
      ALPHABET:sub(((v >> 12) & 63) + 1, ((v >> 12) & 63) + 1),
      b and ALPHABET:sub(((v >> 6) & 63) + 1, ((v >> 6) & 63) + 1) or "=",
      c and ALPHABET:sub((v & 63) + 1, (v & 63) + 1) or "=",
    }
    out[#out + 1] = table.concat(q)
  end
  return table.concat(out)
end

--- The bytes a base64 string encodes; nil when it is not valid base64.
function M.unbase64(s)
  s = s:gsub("%s", "")
  if #s % 4 ~= 0 then return nil end
  local out = {}
  for i = 1, #s, 4 do
    local v, pad = 0, 0
    for j = i, i + 3 do
      local ch = s:byte(j)
      local x
      if ch == 61 and j >= #s - 1 then  -- "=" only at the end
        x, pad = 0, pad + 1
      else
        x = VALUE[ch]
        if x == nil or pad > 0 then return nil end
      end
      v = (v << 6) | x
    end
    out[#out + 1] = string.char((v >> 16) & 255, (v >> 8) & 255, v & 255):sub(1, 3 - pad)
  end
  return table.concat(out)
end

-- days since 1970-01-01 of a proleptic Gregorian date
local function days_from_civil(y, m, d)
  y = m <= 2 and y - 1 or y
  local era = (y >= 0 and y or y - 399) // 400
  local yoe = y - era * 400
  local doy = (153 * (m + (m > 2 and -3 or 9)) + 2) // 5 + d - 1
  local doe = yoe * 365 + yoe // 4 - yoe // 100 + doy
  return era * 146097 + doe - 719468
end

--- Seconds since the epoch of a UTC date and time (os.time reads local time).
function M.timegm(y, mo, d, h, mi, s)
  return days_from_civil(y, mo, d) * 86400 + (h or 0) * 3600 + (mi or 0) * 60 + (s or 0)
end

return M
