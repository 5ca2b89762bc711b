-- The Debian package and the tarball, built by cpack from this very build
-- (what `make package` does): their contents, and the .deb's Depends checked
-- against what the packaged binary really links (ldd + dpkg -S): every linked
-- library's package is a Depends and, besides libnettle8, nothing else is;
-- Nettle, dlopen'ed on the first digest (which stage and promote make), is not
-- linked and is a Depends; libcurl, dlopen'ed on first HTTP use, is not linked
-- and is a Recommends; vendor/deps-run.txt names the same packages. Skips
-- (saying so) only where dpkg-deb is missing.
local T = require "slipway.testing"
local fs = require "slipway.fs"
local proc = require "slipway.proc"
local build = require "slipway.build.core"

local SRC = os.getenv("SLIPWAY_SRC") or "."
local BIN = fs.realpath(os.getenv("SLIPWAY_BIN") or "build/slipway")
local BUILD_DIR = fs.dirname(BIN)
local DPKG_DEB = proc.which("dpkg-deb")
if not DPKG_DEB then print("skipped: dpkg-deb not found (Debian's dpkg); the package checks need it") end

local function run(argv, opts)
  opts = opts or {}
  opts.echo = false
  return proc.run(argv, opts)
end

local function lines(s)
  local out = {}
  for l in s:gmatch("[^\n]+") do out[#out + 1] = l end
  return out
end

-- "a (>= 1), b | c, d" -> {a = true, b = true, c = true, d = true}
local function names(field)
  local set = {}
  for item in field:gmatch("[^,|]+") do
    local n = item:match("^%s*([%w.+-]+)")
    if n then set[n] = true end
  end
  return set
end

local function sorted(set)
  local out = {}
  for k in pairs(set) do out[#out + 1] = k end
  table.sort(out)
  return out
end

-- the package made once for all tests: {dir, deb, tgz, root (extracted .deb)}
local made
local function package()
  if not DPKG_DEB then T.skip("skipped: dpkg-deb not found (Debian's dpkg)") end
  if made then return made end
  local dir = fs.tempdir()
  local r = run({"cpack", "--config", BUILD_DIR .. "/CPackConfig.cmake", "-B", dir},
                {cwd = BUILD_DIR, check = false, timeout = 240})
  T.eq(r.code, 0, "cpack: " .. r.stdout .. r.stderr)
  local debs, tgzs = fs.glob(dir .. "/slipway_*.deb"), fs.glob(dir .. "/slipway-*.tar.gz")
  T.eq(#debs, 1, "one .deb")
  T.eq(#tgzs, 1, "one tarball")
  local root = dir .. "/root"
  run({DPKG_DEB, "-x", debs[1], root})
  made = {dir = dir, deb = debs[1], tgz = tgzs[1], root = root}
  return made
end

local function field(deb, name)
  return (run({DPKG_DEB, "-f", deb, name}).stdout:gsub("%s+$", ""))
end

-- the package owning a library path, trying the merged-/usr twin as well
local function owner(path)
  local tries = {path, fs.realpath(path)}
  for _, p in ipairs({path, tries[2]}) do
    if p:match("^/usr/") then tries[#tries + 1] = p:sub(5) else tries[#tries + 1] = "/usr" .. p end
  end
  for _, p in ipairs(tries) do
    local r = run({"dpkg-query", "-S", p}, {check = false})
    if r.code == 0 then return (r.stdout:match("^([^:,]+)")) end
  end
  error("no Debian package owns " .. path)
end

-- {soname = path} of what the binary loads, from ldd (its NEEDED entries and
-- theirs), and the binary's own NEEDED sonames (readelf -d)
local function linked(bin)
  local out = {}
  for _, l in ipairs(lines(run({"ldd", bin}).stdout)) do
    local so, path = l:match("^%s*(%S+) => (/%S+)")
    if so then out[so] = path end
  end
  return out
end

local function needed(bin)
  local out = {}
  for so in run({"readelf", "-d", bin}).stdout:gmatch("%(NEEDED%)%s+Shared library: %[([^%]]+)%]") do
    out[#out + 1] = so
  end
  return out
end

-- the glibc pieces: one package (libc6), always a Depends
local function is_libc(so)
  return so:match("^libc%.so") or so:match("^libm%.so") or so:match("^libdl%.so") or
         so:match("^libpthread%.so") or so:match("^librt%.so") or so:match("^ld%-linux")
end

T.test("the .deb holds the binary, its docs and the copyright notice, under /usr only", function()
  local p = package()
  local listing = run({DPKG_DEB, "-c", p.deb}).stdout
  local files = {}
  for _, l in ipairs(lines(listing)) do
    local mode, own, path = l:match("^(%S+)%s+(%S+)%s+%d+%s+%S+%s+%S+%s+(%S+)")
    T.truthy(path, "a listing line: " .. l)
    T.match(path, "^%./usr/", "everything under /usr")
    T.eq(own, "root/root", path .. " owned by root")
    files[path] = mode
  end
  T.eq(files["./usr/bin/slipway"], "-rwxr-xr-x", "the binary, executable")
  for _, f in ipairs{"copyright", "README.md", "docs/ci/install.md", "docs/ci/action.md",
                     "docs/ci/github-actions.yml", "docs/deploy.md"} do
    T.truthy(files["./usr/share/doc/slipway/" .. f], f .. " in /usr/share/doc/slipway")
  end
  T.nomatch(listing, "CMake", "no build-tree file leaks into the package")
  local notice = fs.read(p.root .. "/usr/share/doc/slipway/copyright")
  T.match(notice, "lua%-cjson", "the statically linked lua-cjson's notice is shipped")
  -- Nettle (LGPL-3+ or GPL-2+) is loaded from Debian's libnettle8 at run time:
  -- nothing of it is in the binary, and copyright does not say otherwise
  T.nomatch(notice, "libnettle%.a", "Nettle is not linked statically")
  T.match(notice, "libnettle8", "copyright says where Nettle comes from")
end)

T.test("the control fields name this build: version, architecture", function()
  local p = package()
  T.eq(field(p.deb, "Package"), "slipway")
  T.eq(field(p.deb, "Version"), build.version)
  T.eq(field(p.deb, "Architecture"), (run({"dpkg", "--print-architecture"}).stdout:gsub("%s+", "")))
  T.match(p.deb, "/slipway_" .. build.version:gsub("%p", "%%%0") .. "_")
end)

-- libraries slipway loads with dlopen on first use (dpkg-shlibdeps cannot see
-- them): soname -> package, and whether the package is a Depends
local DLOPENED = {
  ["libnettle.so.8"] = {pkg = "libnettle8", depends = true},  -- digests: stage, promote
  ["libcurl.so.4"] = {pkg = "libcurl4", depends = false},     -- HTTP only: a Recommends
}

T.test("Depends is exactly the packages of the libraries the binary links, and libnettle8", function()
  local p = package()
  local bin = p.root .. "/usr/bin/slipway"
  local depends = names(field(p.deb, "Depends"))
  local libs = linked(bin)
  T.truthy(libs["libuv.so.1"], "ldd sees libuv: " .. table.concat(sorted(libs), " "))
  -- Lua, libyaml and http-parser are inside the binary unless it was built
  -- with -DSLIPWAY_STATIC_LIBS=OFF (its build info says which)
  local static = build.describe():match("\n  Lua [%d.]+ %(static%)") ~= nil
  for _, so in ipairs({"liblua5.4.so.0", "libyaml-0.so.2", "libhttp_parser.so.2.9"}) do
    T.eq(libs[so] ~= nil, not static, so .. (static and " is linked statically, not loaded"
                                                      or " is loaded (SLIPWAY_STATIC_LIBS=OFF)"))
  end
  -- every library the binary names (NEEDED) comes from a package in Depends
  local direct = {libc6 = true}
  for _, so in ipairs(needed(bin)) do
    T.truthy(libs[so], so .. " is NEEDED and ldd resolves it")
    local pkg = owner(libs[so])
    if is_libc(so) then T.eq(pkg, "libc6", so .. " is glibc's") end
    direct[pkg] = true
    T.truthy(depends[pkg], so .. " comes from " .. pkg .. ", which Depends must name")
  end
  -- and Depends names only packages of libraries ldd shows loaded, and those
  -- of the dlopen'ed libraries that are dependencies
  local loaded = {}
  for _, path in pairs(libs) do loaded[owner(path)] = true end
  for _, d in pairs(DLOPENED) do
    if d.depends then loaded[d.pkg], direct[d.pkg] = true, true end
  end
  for pkg in pairs(depends) do T.truthy(loaded[pkg], "Depends names " .. pkg .. ", which the binary does not load") end
  T.eq(sorted(depends), sorted(direct), "Depends is the packages of the NEEDED libraries and libnettle8")
  T.match(field(p.deb, "Depends"), "libc6 %(>= [%d.]+%)", "versioned from the symbols used")
end)

T.test("the dlopen'ed libraries are not linked: Nettle a Depends, libcurl a Recommends with git", function()
  local p = package()
  local libs = linked(p.root .. "/usr/bin/slipway")
  for so in pairs(libs) do
    T.nomatch(so, "curl", "libcurl is loaded with dlopen, not linked")
    T.nomatch(so, "nettle", "Nettle is loaded with dlopen, not linked")
  end
  -- what the packaged binary maps once it has made a digest, then once it
  -- has asked for libcurl's version (each dlopen'ed then; libcurl's own
  -- dependencies map libnettle too, hence the digest first):
  -- {soname = path} from the snapshot taken after that library's use
  local r = run({p.root .. "/usr/bin/slipway", "-e", [[
    local function maps() return io.open("/proc/self/maps"):read("a") end
    require("slipway.digest").sha256("")
    local after_digest = maps()
    require("slipway.http").version()
    io.write(after_digest, "\0", maps())]]}, {check = false})
  T.eq(r.code, 0, r.stderr)
  local snapshot = {}
  snapshot["libnettle.so.8"], snapshot["libcurl.so.4"] = r.stdout:match("^(.-)%z(.*)$")
  -- the soname is a link to the file mapped: libnettle.so.8 -> libnettle.so.8.6
  local mapped = {}
  for so in pairs(DLOPENED) do
    for path in snapshot[so]:gmatch("%s(/%S+)\n") do
      local base = fs.basename(path)
      if base == so or base:sub(1, #so + 1) == so .. "." then mapped[so] = path end
    end
  end
  local depends, rec = names(field(p.deb, "Depends")), names(field(p.deb, "Recommends"))
  for so, d in pairs(DLOPENED) do
    T.falsy(libs[so], so .. " is not linked")
    T.truthy(mapped[so], so .. " is loaded on use")
    T.eq(owner(mapped[so]), d.pkg, so .. ", which slipway loads, is " .. d.pkg .. "'s")
    T.eq(depends[d.pkg] == true, d.depends, d.pkg .. (d.depends and " is a Depends" or " is not a Depends"))
    T.eq(rec[d.pkg] == true, not d.depends, d.pkg .. (d.depends and " is not a Recommends" or " is a Recommends"))
  end
  T.truthy(rec.git, "git is a Recommends")
  -- the version slipway checks when it loads libcurl (runtime/http.c: 7.85)
  T.match(field(p.deb, "Recommends"), "libcurl4 %(>= 7%.85")
end)

T.test("vendor/deps-run.txt names the packages the .deb depends on and recommends", function()
  local p = package()
  local listed = {}
  local function read_list(file)
    for _, l in ipairs(lines(fs.read(SRC .. "/vendor/" .. file))) do
      local n = l:match("^([%w.+-]+)")
      if n then listed[n] = true end
    end
  end
  read_list("deps-run.txt")
  -- a -DSLIPWAY_STATIC_LIBS=OFF build loads Lua, libyaml and http-parser
  -- from their packages: deps-run-shared.txt names them
  if not build.describe():match("\n  Lua [%d.]+ %(static%)") then read_list("deps-run-shared.txt") end
  local from_deb = names(field(p.deb, "Depends") .. "," .. field(p.deb, "Recommends"))
  from_deb.libc6 = nil  -- essential on every Debian system
  -- an ASan build (make asan) also links the sanitizer runtimes
  for n in pairs(from_deb) do
    if n:match("^lib%a*san%d") then from_deb[n] = nil end
  end
  for n in pairs(from_deb) do T.truthy(listed[n], n .. " is in vendor/deps-run.txt") end
  for n in pairs(listed) do
    if n:match("^lib") then T.truthy(from_deb[n], n .. " of deps-run.txt is in the .deb's fields") end
  end
end)

T.test("the packaged binary is this build: same version, commit and libraries", function()
  local p = package()
  local r = run({p.root .. "/usr/bin/slipway", "-e",
                 "print(require('slipway.build.core').describe())"}, {check = false})
  T.eq(r.code, 0, r.stderr)
  local first = r.stdout:match("^[^\n]*")
  T.eq(first, string.format("slipway %s (commit %s)", build.version, build.commit))
  T.match(r.stdout, "\n  libuv %d+%.%d+")
  T.match(r.stdout, "\n  libyaml %d")
  T.match(r.stdout, "\n  http%-parser %d")
  T.match(r.stdout, "\n  Lua 5%.4")
  T.match(r.stdout, "\n  Nettle %d+%.%d+")
end)

T.test("the tarball holds the binary, README, docs and copyright under one directory", function()
  local p = package()
  local top = "slipway-" .. build.version .. "-linux-"
  local entries = {}
  for _, l in ipairs(lines(run({"tar", "-tzf", p.tgz}).stdout)) do
    T.eq(l:sub(1, #top), top, "under " .. top .. "ARCH/: " .. l)
    entries[l:gsub("^[^/]+/", "")] = true
  end
  for _, f in ipairs{"bin/slipway", "share/doc/slipway/README.md", "share/doc/slipway/copyright",
                     "share/doc/slipway/docs/ci/action.md"} do
    T.truthy(entries[f], f .. " in the tarball")
  end
end)

T.run()
