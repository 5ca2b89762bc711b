--- slipway.digest: SHA-256 on GNU Nettle.
--
--   local digest = require "slipway.digest"
--   digest.sha256("abc")
--     --> "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
--   digest.sha256_file("mybinder/values.yaml")  --> 64 hex digits
--
-- The hashing is Nettle's (slipway.digest.core, runtime/digest.c; Debian's
-- libnettle8, loaded on the first digest: a missing library raises code
-- "unavailable" naming it), which uses the CPU's SHA instructions
-- where there are (1.6 GB/s here, 4.7x coreutils' sha256sum; without them
-- about as fast as sha256sum: docs/digest.md). Both functions run to the
-- end on the calling task without yielding, as slipway.fs reads files: a
-- big file holds the loop while it is hashed (under a second a gigabyte
-- with the SHA instructions). Digests are 64 lowercase hex digits, as
-- sha256sum prints them.
local core = require "slipway.digest.core"
local sw = require "slipway.core"
local errors = require "slipway.errors"

local M = {}

--- digest.sha256(s) -> the SHA-256 of the string s, 64 lowercase hex
-- digits. Any bytes (NUL too). A non-string raises (misuse).
function M.sha256(s)
  if type(s) ~= "string" then
    error("bad argument #1 to 'sha256' (string expected, got " .. type(s) .. ")", 2)
  end
  return (core.sha256(s))
end

--- digest.sha256_file(path) -> the SHA-256 of the file's content, read in
-- chunks (never whole in memory). A file that cannot be read raises a
-- structured error as fs.read does: code the errno name ("ENOENT",
-- "EACCES", "EISDIR"), fields path and op ("sha256_file"), the message
-- naming the path ("digest.sha256_file: cannot read PATH: No such file or
-- directory"). A path that is not a non-empty string raises (misuse).
function M.sha256_file(path)
  if type(path) ~= "string" or path == "" then
    error("bad argument #1 to 'sha256_file' (path expected, got " ..
      (path == "" and "empty string" or type(path)) .. ")", 2)
  end
  local hex, code, msg = core.sha256_file(path)
  if hex == nil then
    sw.raise(code, string.format("digest.sha256_file: cannot read %s: %s", path, msg),
      {path = path, op = "sha256_file", retryable = errors.retryable_code(code)})
  end
  return hex
end

return M
