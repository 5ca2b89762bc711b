-- slipway.digest: SHA-256 on Nettle. The known answers of FIPS 180-2's
-- examples (NIST), and agreement with coreutils' sha256sum (a real tool) on
-- random bytes around the 64-byte block and the 64 KiB read chunk. Nettle
-- is loaded with dlopen on the first digest (runtime/digest.c), never at
-- start-up: checked in this process and in a fresh `slipway -e`.
local T = require "slipway.testing"
local digest = require "slipway.digest"
local core = require "slipway.digest.core"
local sw = require "slipway.core"
local fs = require "slipway.fs"
local proc = require "slipway.proc"
local cmd = require "slipway_cmd"

-- whether libnettle is mapped into this process
local function maps_has_nettle()
  return (fs.read("/proc/self/maps") or ""):find("libnettle", 1, true) ~= nil
end

-- Checked before anything else digests.
T.test("Nettle is not loaded until the first digest", function()
  T.falsy(core.loaded(), "loaded by require")
  T.falsy(maps_has_nettle(), "libnettle mapped before the first digest")
  T.eq(digest.sha256("abc"), "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad")
  T.truthy(core.loaded())
  T.truthy(maps_has_nettle(), "libnettle mapped once a digest was made")
  T.match(core.version().version, "^%d+%.%d+$")
end)

-- a fresh process: start-up maps no libnettle (nor libcurl); one digest does
T.test("a fresh slipway -e maps libnettle only after digest.sha256", function()
  local r = cmd.run({"-e", [[
    local function mapped(name)
      local f = assert(io.open("/proc/self/maps"))
      local maps = f:read("a")
      f:close()
      return maps:find(name, 1, true) ~= nil
    end
    print(mapped("libnettle"), mapped("libcurl"), mapped("libuv"))
    require("slipway.digest").sha256("")
    print(mapped("libnettle"), mapped("libcurl"))]]})
  T.eq(r.code, 0, r.stderr)
  T.eq(r.stdout, "false\tfalse\ttrue\ntrue\tfalse\n",
       "not mapped at start-up (libuv is: the check sees linked libraries), mapped after one digest")
end)

-- SLIPWAY_LIBNETTLE names another file, as SLIPWAY_LIBCURL does for http
T.test("a missing Nettle is a clear error naming the library and libnettle8", function()
  local r = cmd.run({"-e", [[
    local digest = require("slipway.digest")
    for _, f in ipairs{function() return digest.sha256("abc") end,
                       function() return digest.sha256_file("/etc/hostname") end} do
      local ok, e = pcall(f)
      print(ok, e.code, e.message)
    end
    print(require("slipway.digest.core").loaded())
    print(require("slipway.build.core").describe())]]},
    {env = {SLIPWAY_LIBNETTLE = "libnettle-missing.so.9"}})
  T.eq(r.code, 0, r.stderr)
  local lines = {}
  for l in r.stdout:gmatch("[^\n]+") do lines[#lines + 1] = l end
  for i = 1, 2 do
    T.match(lines[i], "^false\tunavailable\t%(command line%):%d+: digest: cannot load Nettle " ..
            "%(libnettle%-missing%.so%.9: [^)]*%); install Debian's libnettle8 package$")
  end
  T.eq(lines[3], "false", "not loaded")
  T.match(r.stdout, "\n  Nettle not loadable: cannot load Nettle %(libnettle%-missing%.so%.9")
  T.nomatch(r.stdout, "\n  Nettle %d", "--version names no Nettle version it could not load")
end)

T.test("the build info names the Nettle that digests: loaded on first use", function()
  local build = require "slipway.build.core"
  T.eq(build.libs().nettle, core.version().version)
  T.match(build.describe(), "\n  Nettle " .. core.version().version:gsub("%.", "%%.") ..
          " %(loaded on first digest use%)")
end)

-- random bytes, reproducible from the seed printed with a failure
local SEED = os.time()
math.randomseed(SEED)
local function random_bytes(n)
  local parts = {}
  for i = 1, n // 8 do parts[i] = string.pack("<i8", math.random(math.mininteger, math.maxinteger)) end
  local tail = {}
  for i = 1, n % 8 do tail[i] = string.char(math.random(0, 255)) end
  return table.concat(parts) .. table.concat(tail)
end

-- coreutils' digest of the file at path
local function sha256sum(path)
  return (proc.run({"sha256sum", "-b", path}, {echo = false}).stdout:match("^(%x+) "))
end

local dir = fs.tempdir()
local function file(name, data)
  local path = dir .. "/" .. name
  fs.write(path, data)
  return path
end

T.test("the NIST vectors: empty, abc, 448 bits, a million a", function()
  T.eq(digest.sha256(""), "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855")
  T.eq(digest.sha256("abc"), "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad")
  T.eq(digest.sha256("abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq"),
       "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1")
  T.eq(digest.sha256(string.rep("a", 1000000)),
       "cdc76e5c9914fb9281a1c7e284d73e67f1809a48a497200e046d39ccc7112cd0")
end)

T.test("NUL bytes are hashed, not an end of the string", function()
  local s = "a\0b\0\0c"
  local hex = digest.sha256(s)
  T.ne(hex, digest.sha256("a"), "not cut at the first NUL")
  T.eq(hex, sha256sum(file("nul.bin", s)))
  T.eq(digest.sha256("\0"), "6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d")
end)

T.test("agrees with sha256sum on random bytes around the block size and on 1 MB", function()
  for _, n in ipairs({55, 56, 63, 64, 65, 1000003}) do
    local s = random_bytes(n)
    T.eq(#s, n)
    local hex = digest.sha256(s)
    T.match(hex, "^" .. string.rep("%x", 64) .. "$", n .. " bytes: 64 hex digits")
    T.eq(hex, hex:lower(), "lowercase")
    T.eq(hex, sha256sum(file("r" .. n, s)), n .. " bytes (seed " .. SEED .. ")")
  end
end)

T.test("sha256_file reads in chunks and agrees with sha256sum and sha256", function()
  -- sizes around the 64 KiB chunk runtime/digest.c reads at a time
  for _, n in ipairs({0, 1, 65535, 65536, 65537, 3 * 65536 + 7}) do
    local s = random_bytes(n)
    local path = file("f" .. n, s)
    local hex = digest.sha256_file(path)
    T.eq(hex, sha256sum(path), n .. " bytes (seed " .. SEED .. ")")
    T.eq(hex, digest.sha256(s), n .. " bytes: the file's digest is its content's")
  end
end)

T.test("sha256_file of a missing file or a directory raises as fs.read does: code, path, op", function()
  local missing = dir .. "/no such file"
  local ok, err = pcall(digest.sha256_file, missing)
  T.eq(ok, false)
  T.truthy(sw.is_error(err), "a structured error")
  T.match(err.message, "digest_spec%.lua:%d+: digest%.sha256_file: cannot read " .. missing:gsub("%p", "%%%0")
    .. ": No such file or directory$", "the caller's position, the path")
  T.eq({err.code, err.path, err.op, err.retryable}, {"ENOENT", missing, "sha256_file", false})
  ok, err = pcall(digest.sha256_file, dir)
  T.eq(ok, false)
  T.match(err.message, "cannot read " .. dir:gsub("%p", "%%%0"), "names the directory")
  T.eq(err.code, "EISDIR")
end)

T.test("misuse raises with the caller's position", function()
  T.raises(function() digest.sha256({}) end,
           "^[^:]*digest_spec%.lua:%d+: bad argument #1 to 'sha256' %(string expected, got table%)$")
  T.raises(function() digest.sha256() end, "got nil")
  T.raises(function() digest.sha256(42) end, "got number", "a number is not a string here")
  T.raises(function() digest.sha256_file({}) end, "bad argument #1 to 'sha256_file' %(path expected, got table%)")
  T.raises(function() digest.sha256_file("") end, "got empty string")
  -- the C core checks for itself as luaL_checklstring does
  T.raises(function() core.sha256({}) end, "string expected, got table")
  T.raises(function() core.sha256_file(nil) end, "string expected, got nil")
end)

T.test("build.sha256 is digest.sha256", function()
  local build = require "slipway.build"
  T.eq(build.sha256, digest.sha256)
end)

T.run()
