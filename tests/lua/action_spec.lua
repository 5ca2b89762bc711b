-- The GitHub Action (action.yml) run here as Actions would run it: its steps
-- with the inputs passed as environment (tests/lua/lib/actionrun.lua), against
-- a STAND-IN for GitHub's REST API on 127.0.0.1 (the commits and releases
-- endpoints and a release asset; GitHub itself cannot be reached from here)
-- and a STAND-IN for actions/cache (a directory per key). Paths: no matching
-- release -> a real build of this source tree, cached; the same commit again
-- -> the cache, no build; a release for the ref -> its .deb, no build;
-- source: release without one -> an error annotation.
local T = require "slipway.testing"
local fs = require "slipway.fs"
local proc = require "slipway.proc"
local yaml = require "slipway.yaml"
local server = require "slipway.server"
local A = require "actionrun"

local SRC = fs.realpath(os.getenv("SLIPWAY_SRC") or ".")
local BIN = fs.realpath(os.getenv("SLIPWAY_BIN") or "build/slipway")
local REPO = "example-org/slipway"
local TOKEN = "ghs_actionspec0token9x8"
local COMMIT = "c0ffee00c0ffee00c0ffee00c0ffee00c0ffee00"  -- the stand-in's answer
local ARCH = proc.run({"dpkg", "--print-architecture"}, {echo = false}).stdout:gsub("%s+", "")
local DISTRO = proc.run({"sh", "-c", '. /etc/os-release && echo "$ID-$VERSION_ID"'},
                        {echo = false}).stdout:gsub("%s+", "")
local action = yaml.load_file(SRC .. "/action.yml")

-- the GitHub API stand-in: {srv, requests, releases = {tag = {assets}}, assets = {id = path}}
local function github_standin()
  local gh = {requests = {}, releases = {}, assets = {}}
  gh.srv = server.serve{handler = function(req)
    gh.requests[#gh.requests + 1] = {path = req.path, accept = req.headers.accept,
                                     auth = req.headers.authorization}
    if req.headers.authorization ~= "Bearer " .. TOKEN then return {status = 401, body = "bad token\n"} end
    local ref = req.path:match("^/repos/" .. REPO:gsub("%-", "%%-") .. "/commits/(.+)$")
    if ref then return {headers = {["content-type"] = "application/vnd.github.sha"}, body = COMMIT} end
    local tag = req.path:match("/releases/tags/(.+)$")
    if tag then
      local rel = gh.releases[tag]
      if not rel then return {status = 404, json = {message = "Not Found"}} end
      return {json = {tag_name = tag, assets = rel}}
    end
    local id = req.path:match("^/assets/(%d+)$")
    if id and gh.assets[id] then
      if req.headers.accept ~= "application/octet-stream" then return {status = 415, body = "accept\n"} end
      return {headers = {["content-type"] = "application/octet-stream"}, body = fs.read(gh.assets[id])}
    end
    return {status = 404, json = {message = "Not Found"}}
  end}
  function gh:asset(id, name, path)
    self.assets[tostring(id)] = path
    return {id = id, name = name, url = self.srv:url("/assets/" .. id),
            browser_download_url = "https://github.com/" .. REPO .. "/releases/download/x/" .. name}
  end
  return gh
end

-- actions/cache STAND-IN: restore KEY's directory into path, save it after the job
local function cache_standin(store)
  local saves = {}
  local handler = function(_, with)
    local kept = store .. "/" .. with.key
    if fs.isdir(kept) then
      proc.run({"cp", "-a", kept .. "/.", with.path}, {echo = false})
      return {["cache-hit"] = "true"}
    end
    saves[#saves + 1] = {kept, with.path}
    return {["cache-hit"] = "false"}
  end
  local function post()
    for _, s in ipairs(saves) do
      if fs.isdir(s[2]) then proc.run({"cp", "-a", s[2], s[1]}, {echo = false}) end
    end
    saves = {}
  end
  return handler, post
end

-- run action.yml once: {log, outputs = {step = outputs}, text = all output, ctx}
local function run_action(gh, cache, inputs, temp)
  local with = {source = "auto", ref = "", token = TOKEN, cache = "true", install = "extract", prefix = ""}
  for k, v in pairs(inputs) do with[k] = v end
  local handler, post = cache_standin(cache)
  local ctx = {inputs = with, runner = {temp = temp, os = "Linux", arch = "X64"},
               github = {action_ref = inputs.action_ref or "v9.9.9", action_repository = REPO,
                         token = TOKEN}}
  local log = A.run_steps(action.runs.steps, {ctx = ctx, cwd = temp, dir = fs.tempdir(),
    env = {GITHUB_ACTION_PATH = SRC, GITHUB_API_URL = gh.srv:url(""), RUNNER_TEMP = temp,
           GITHUB_ACTIONS = "true", SLIPWAY_BIN = false, SLIPWAY_PATH = false},
    uses = {["actions/cache"] = handler}})
  if not ctx.failed then post() end
  local text, ran = {}, {}
  for _, e in ipairs(log) do
    text[#text + 1] = (e.stdout or "") .. (e.stderr or "")
    if e.ran then ran[#ran + 1] = e.id end
  end
  return {log = log, ctx = ctx, text = table.concat(text), ran = table.concat(ran, " ")}
end

local function out(r, step, name) return r.ctx.steps[step].outputs[name] end

T.test("no release for the ref: a build of this tree, cached; the same commit again comes from the cache", function()
  local gh = github_standin()
  local cache, temp = fs.tempdir(), fs.tempdir()
  local r = run_action(gh, cache, {}, temp)
  T.falsy(r.ctx.failed, "the action succeeded:\n" .. r.text)
  T.eq(r.ran, "resolve cache build install", "the steps that ran, in order")
  T.match(r.text, "::notice title=slipway::no release matches v9%.9%.9; building")
  T.eq(out(r, "resolve", "commit"), COMMIT)
  T.eq(out(r, "resolve", "cache-key"):match("%-(%x+)$"), COMMIT, "the cache is keyed on the commit")
  T.match(out(r, "resolve", "cache-key"), "^slipway%-deb%-[%w.-]+%-" .. ARCH .. "%-")
  T.eq(out(r, "install", "source"), "build")
  -- the API was asked for the commit, then the release, with the token in a header
  T.eq(#gh.requests, 2)
  T.eq(gh.requests[1].path, "/repos/" .. REPO .. "/commits/v9.9.9")
  T.eq(gh.requests[1].accept, "application/vnd.github.sha")
  T.eq(gh.requests[2].path, "/repos/" .. REPO .. "/releases/tags/v9.9.9")
  T.nomatch(r.text, TOKEN, "the token is never printed")
  -- installed under the prefix, on GITHUB_PATH, naming the commit it was built for
  local bin = out(r, "install", "path")
  T.eq(bin, temp .. "/slipway/usr/bin/slipway")
  local d = proc.run({bin, "-e", "print(require('slipway.build.core').describe())"}, {echo = false})
  T.match(d.stdout, "^slipway [%d.]+ %(commit " .. COMMIT .. "%)")
  T.match(out(r, "install", "version"), "^slipway [%d.]+")

  -- a new job, same commit: the cache stand-in restores the .deb, nothing is built
  local temp2 = fs.tempdir()
  local r2 = run_action(gh, cache, {}, temp2)
  T.falsy(r2.ctx.failed, r2.text)
  T.eq(r2.ran, "resolve cache install", "no build step on a cache hit")
  T.eq(out(r2, "install", "source"), "cache")
  T.eq(proc.run({out(r2, "install", "path"), "-e", "print(require('slipway.build.core').commit)"},
                {echo = false}).stdout, COMMIT .. "\n")
end, {timeout = 300})

T.test("a release tagged with the ref: its .deb for this architecture is installed, nothing built", function()
  local gh = github_standin()
  -- the .deb of a release: cpack of this build, as `make package` makes it
  local pkg = fs.tempdir()
  proc.run({"cpack", "-G", "DEB", "--config", fs.dirname(BIN) .. "/CPackConfig.cmake", "-B", pkg},
           {cwd = fs.dirname(BIN), echo = false, timeout = 240})
  local deb = fs.glob(pkg .. "/slipway_*.deb")[1]
  local name = deb:match("[^/]+$")
  -- named for this distribution (what a release built here would carry); the
  -- decoys: another architecture, another distribution, a plain name (Debian
  -- 12's, second choice there) and a tarball -- none of them a .deb
  local named = name:gsub("_(" .. ARCH .. "%.deb)$", "_" .. DISTRO .. "_%1")
  local junk = SRC .. "/README.md"
  gh.releases["v9.9.8"] = {gh:asset(1, name:gsub("_" .. ARCH .. "%.deb$", "_other.deb"), junk),
                           gh:asset(2, name:gsub("_(" .. ARCH .. "%.deb)$", "_ubuntu-10.04_%1"), junk),
                           gh:asset(4, name, junk),
                           gh:asset(5, "slipway-src.tar.gz", junk), gh:asset(3, named, deb)}
  local temp = fs.tempdir()
  local r = run_action(gh, fs.tempdir(), {action_ref = "v9.9.8"}, temp)
  T.falsy(r.ctx.failed, r.text)
  T.eq(r.ran, "resolve release install", "no cache, no build")
  T.eq(out(r, "resolve", "asset-name"), named, "the asset for " .. DISTRO .. " " .. ARCH)
  T.eq(out(r, "install", "source"), "release")
  T.eq(gh.requests[#gh.requests].path, "/assets/3", "downloaded through the API's asset URL")
  T.nomatch(r.text, TOKEN, "the token is never printed")
  local v = proc.run({out(r, "install", "path"), "--version"}, {echo = false}).stdout
  T.eq(v, proc.run({BIN, "--version"}, {echo = false}).stdout, "the release's binary is installed")
end, {timeout = 300})

T.test("source: release without a matching release fails with an error annotation, before any build", function()
  local gh = github_standin()
  gh.releases["v9.9.7"] = {gh:asset(1, "slipway_0.0.1_not-this-arch.deb", SRC .. "/README.md")}
  for _, tag in ipairs{"v9.9.6", "v9.9.7"} do
    local r = run_action(gh, fs.tempdir(), {action_ref = tag, source = "release"}, fs.tempdir())
    T.truthy(r.ctx.failed, "the action fails for " .. tag)
    T.eq(r.ran, "resolve", "nothing after resolve ran")
    T.match(r.text, "::error title=slipway::source: release, but no release %.deb for " .. tag)
  end
end)

T.test("action.yml's inputs reach its scripts only through env:", function()
  for _, s in ipairs(A.runs(action)) do
    T.nomatch(s.run, "%${{", s.where .. " pastes an expression into its script")
  end
  -- every input is used, in env: as INPUT_NAME or in an if:
  local text = fs.read(SRC .. "/action.yml")
  for name in pairs(action.inputs) do
    T.truthy(text:find("INPUT_" .. name:upper() .. ": ${{ inputs." .. name .. " }}", 1, true) or
             text:find("if: [^\n]*inputs%." .. name:gsub("%-", "%%-") .. " "),
             "input " .. name .. " is passed as INPUT_" .. name:upper() .. " or tested in an if:")
  end
end)

T.run()
