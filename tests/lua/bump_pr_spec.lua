-- slipway bump --pr end to end, and the bump modes' machine-readable and
-- operator-facing output: mybinder.org-deploy's real files in a temporary
-- git repository, a bare git repository as the remote receiving the pushes,
-- real git hooks, and the GITHUB API STAND-IN below (a recording loopback
-- server: nothing real can stand in for api.github.com offline).
local T = require "slipway.testing"
local B = require "bumptest"
local fs = require "slipway.fs"
local json = require "slipway.json"
local proc = require "slipway.proc"
local server = require "slipway.server"
local task = require "slipway.task"

local BIN = os.getenv("SLIPWAY_BIN") or "build/slipway"
local TOKEN = "ghs_standinToken0123456789abcdefXYZ"
local OLD_BH = "1.0.0-0.dev.git.3983.h383374de"
local NEW_BH = "1.0.0-0.dev.git.4001.h1a2b3c4d"
local NEWER_BH = "1.0.0-0.dev.git.4010.hfeedf00d"
local OLD_R2D = "2026.4.1.dev44-g97bb4e45a"
local NEW_R2D = "2026.4.1.dev50-gabcdef12"
local OWNER, REPO = "jupyterhub", "mybinder.org-deploy"

local function esc(s) return (s:gsub("%p", "%%%0")) end

-- ---- the GitHub API stand-in -------------------------------------------------------
-- Answers the calls of docs/bump.md the way GitHub documents them: pulls
-- (list with head=/state=, create with 422 when an open one has the same
-- head, update), issue labels, compare (commits paginated with Link),
-- commits/SHA/pulls (paginated). Records every request. opts.page: page
-- size it forces; opts.upstream[owner/repo] = {compares = {["a...b"] =
-- commits}, pulls = {[sha] = prs}}; st.rate_limit[path] = reset_in (403
-- with x-ratelimit-remaining: 0 once); st.hide_open_once = true: the next
-- list of pulls answers [] (a pull request opened between list and create).
local function github_standin(opts)
  opts = opts or {}
  local page_size = opts.page or 2
  local st = {requests = {}, pulls = {}, next_number = 41, upstream = opts.upstream or {},
              rate_limit = {}}
  local function page(list, req, base_path, wrap)
    local p = tonumber(req.query.page or "1")
    local per = math.min(tonumber(req.query.per_page or "30"), page_size)
    local out = {}
    for i = (p - 1) * per + 1, math.min(#list, p * per) do out[#out + 1] = list[i] end
    local headers = {}
    if p * per < #list then
      headers.Link = string.format('<%s%s?per_page=%d&page=%d>; rel="next", <%s%s?per_page=%d&page=%d>; rel="last"',
        st.url, base_path, per, p + 1, st.url, base_path, per, math.ceil(#list / per))
    end
    local body = json.array(out)
    if wrap then body = wrap(body) end
    return {status = 200, headers = headers, json = body}
  end
  local function err(status, msg, errors)
    return {status = status, json = {message = msg, errors = errors,
      documentation_url = "https://docs.github.com/rest"}}
  end
  local function pr_json(pr)
    local labels = {}
    for _, l in ipairs(pr.labels) do labels[#labels + 1] = {name = l} end
    return {number = pr.number, state = pr.state, title = pr.title, body = pr.body,
            html_url = "https://github.com/" .. OWNER .. "/" .. REPO .. "/pull/" .. pr.number,
            head = {ref = pr.head, label = OWNER .. ":" .. pr.head}, base = {ref = pr.base},
            labels = json.array(labels)}
  end
  st.srv = server.serve{port = 0, handler = function(req)
    local body = req.body ~= "" and req.body and json.decode(req.body) or nil
    st.requests[#st.requests + 1] = {method = req.method, path = req.path, target = req.target,
      query = req.query, auth = req.headers["authorization"], body = body,
      version = req.headers["x-github-api-version"]}
    local rec = st.requests[#st.requests]
    if req.headers["authorization"] ~= "Bearer " .. TOKEN then
      rec.status = 401
      return err(401, "Bad credentials")
    end
    local reset_in = st.rate_limit[req.method .. " " .. req.path]
    if reset_in then
      st.rate_limit[req.method .. " " .. req.path] = nil
      rec.status = 403
      return {status = 403, headers = {["x-ratelimit-limit"] = "5000", ["x-ratelimit-remaining"] = "0",
        ["x-ratelimit-reset"] = tostring(os.time() + reset_in)},
        json = {message = "API rate limit exceeded for installation ID 1."}}
    end
    rec.status = 200
    local pulls_path = "/repos/" .. OWNER .. "/" .. REPO .. "/pulls"
    if req.path == pulls_path and req.method == "GET" then
      local found = {}
      if st.hide_open_once then st.hide_open_once = false
      else
        for _, pr in ipairs(st.pulls) do
          if pr.state == "open" and OWNER .. ":" .. pr.head == req.query.head then found[#found + 1] = pr_json(pr) end
        end
      end
      return page(found, req, pulls_path)
    elseif req.path == pulls_path and req.method == "POST" then
      for _, pr in ipairs(st.pulls) do
        if pr.state == "open" and pr.head == body.head then
          rec.status = 422
          return err(422, "Validation Failed", {{resource = "PullRequest", code = "custom",
            message = "A pull request already exists for " .. OWNER .. ":" .. body.head .. "."}})
        end
      end
      local pr = {number = st.next_number, state = "open", title = body.title, body = body.body,
                  head = body.head, base = body.base, labels = {}}
      st.next_number = st.next_number + 1
      st.pulls[#st.pulls + 1] = pr
      rec.status = 201
      return {status = 201, json = pr_json(pr)}
    end
    local n = req.path:match("^" .. esc(pulls_path) .. "/(%d+)$")
    if n and req.method == "PATCH" then
      for _, pr in ipairs(st.pulls) do
        if pr.number == tonumber(n) then
          pr.title, pr.body, pr.base = body.title or pr.title, body.body or pr.body, body.base or pr.base
          return {json = pr_json(pr)}
        end
      end
      rec.status = 404
      return err(404, "Not Found")
    end
    n = req.path:match("^/repos/" .. esc(OWNER) .. "/" .. esc(REPO) .. "/issues/(%d+)/labels$")
    if n and req.method == "POST" then
      for _, pr in ipairs(st.pulls) do
        if pr.number == tonumber(n) then
          for _, l in ipairs(body.labels) do
            local have = false
            for _, x in ipairs(pr.labels) do if x == l then have = true end end
            if not have then pr.labels[#pr.labels + 1] = l end
          end
          return {json = pr_json(pr).labels}
        end
      end
    end
    local o, r, a, b = req.path:match("^/repos/([^/]+)/([^/]+)/compare/(.-)%.%.%.(.+)$")
    if o and req.method == "GET" then
      local up = st.upstream[o .. "/" .. r]
      local commits = up and up.compares[a .. "..." .. b]
      if not commits then rec.status = 404; return err(404, "Not Found") end
      local resp = page(commits, req, req.path, function(list)
        return {status = "ahead", total_commits = #commits, commits = list,
                html_url = "https://github.com/" .. o .. "/" .. r .. "/compare/" .. a .. "..." .. b}
      end)
      return resp
    end
    local sha
    o, r, sha = req.path:match("^/repos/([^/]+)/([^/]+)/commits/(%x+)/pulls$")
    if o and req.method == "GET" then
      local up = st.upstream[o .. "/" .. r]
      return page((up and up.pulls[sha]) or {}, req, req.path)
    end
    rec.status = 404
    return err(404, "Not Found")
  end}
  st.url = st.srv:url()
  function st.stop() st.srv:close() end
  -- the requests as "METHOD path" lines (query left out)
  function st.log()
    local out = {}
    for _, q in ipairs(st.requests) do out[#out + 1] = q.method .. " " .. q.path .. " " .. tostring(q.status) end
    return out
  end
  return st
end

-- ---- fixtures -------------------------------------------------------------------------

local function commit(sha, parents)
  local ps = {}
  for i = 1, parents or 1 do ps[i] = {sha = string.rep(tostring(i), 40)} end
  return {sha = sha, parents = ps, commit = {message = "commit " .. sha}}
end

local function pull(number, title, labels, merged)
  local ls = {}
  for _, l in ipairs(labels or {}) do ls[#ls + 1] = {name = l} end
  return {number = number, title = title, state = "closed", labels = json.array(ls),
          html_url = "https://github.com/jupyterhub/binderhub/pull/" .. number,
          merged_at = merged == false and json.null or "2026-01-01T00:00:00Z"}
end

-- binderhub between 383374de and 1a2b3c4d: five commits (three pages of
-- two), one of them a merge commit whose pull request must not be listed
local UPSTREAM = {["jupyterhub/binderhub"] = {
  compares = {["383374de...1a2b3c4d"] = {commit("c1aaaaa"), commit("c2bbbbb"), commit("c3mergeee", 2),
                                          commit("c4ddddd"), commit("c5eeeee")},
              ["1a2b3c4d...feedf00d"] = {commit("c6fffff")}},
  pulls = {c1aaaaa = {pull(1501, "Build pods get a <timeout>", {"enhancement"})},
           c2bbbbb = {pull(1501, "Build pods get a <timeout>", {"enhancement"}),
                      pull(1490, "An abandoned attempt", {}, false)},
           c3mergeee = {pull(9999, "The merge commit's own pull request", {})},
           c4ddddd = {pull(1520, "Bump dependencies", {"dependencies"}), pull(1521, "Docs", {"documentation"}),
                      pull(1522, "Fix `foo` | bar", {"bug", "maintenance"})},
           c5eeeee = {}, c6fffff = {pull(1530, "Newer work", {})}},
}}

-- the versions the component's Lua source offers (the file is in the repo)
local function source_module(versions)
  local items = {}
  for _, v in ipairs(versions) do
    items[#items + 1] = string.format("{version = %q, app_version = %s, created = %s}", v[1],
      v[2] and string.format("%q", v[2]) or "nil", v[3] and string.format("%q", v[3]) or "nil")
  end
  return "return {versions = function() return {" .. table.concat(items, ", ") .. "} end}\n"
end

local MANIFEST = [[
name: mybinder-test
components:
  binderhub:
    source:
      lua: {module: bumpsources.binderhub}
      devel: true
    repository: https://github.com/jupyterhub/binderhub
    changelog: https://github.com/jupyterhub/binderhub/blob/HEAD/CHANGES.md
    labels: [maintenance, dependencies]
    locations:
      - {file: mybinder/Chart.yaml, path: "dependencies[name=binderhub].version"}
  repo2docker:
    scheme: [pep440, gitdescribe]
    source:
      lua: {module: bumpsources.repo2docker}
      devel: true
    repository: https://github.com/jupyterhub/repo2docker
    locations:
      - {file: mybinder/values.yaml, path: binderhub.config.KubernetesBuildExecutor.build_image, part: tag}
]]

-- a repository with a bare remote (origin) holding main
local function repo(manifest)
  local dir = B.git_repo(manifest or MANIFEST)
  fs.mkdir(dir .. "/bumpsources")
  fs.write(dir .. "/bumpsources/binderhub.lua", source_module({{OLD_BH, "1.0.0-dev", "2025-12-01T00:00:00Z"},
    {NEW_BH, "1.0.0-dev", "2026-01-01T10:00:00Z"}}))
  fs.write(dir .. "/bumpsources/repo2docker.lua", source_module({{OLD_R2D}, {NEW_R2D}, {"latest"}}))
  B.git(dir, {"add", "-A"}); B.git(dir, {"commit", "-q", "-m", "sources"})
  local remote = fs.tempdir() .. "/remote.git"
  B.run({"git", "init", "-q", "--bare", "-b", "main", remote})
  B.git(dir, {"remote", "add", "origin", remote})
  B.git(dir, {"push", "-q", "origin", "main"})
  return dir, remote
end

local function cli(dir, args, gh, extra_env)
  local argv = {BIN, "bump"}
  for _, a in ipairs(args) do argv[#argv + 1] = a end
  local env = {NO_COLOR = "1", GITHUB_TOKEN = TOKEN, GITHUB_API_URL = gh and gh.url or "http://127.0.0.1:1",
               GITHUB_REPOSITORY = OWNER .. "/" .. REPO}
  for k, v in pairs(extra_env or {}) do env[k] = v end
  return B.run(argv, {cwd = dir, check = false, env = env})
end

local function remote_branches(remote)
  local out = {}
  for sha, ref in B.git(remote, {"for-each-ref", "--format=%(objectname) %(refname)"}):gmatch("(%x+) (%S+)") do
    out[ref] = sha
  end
  return out
end

local function journals(dir)
  local text = {}
  for _, f in ipairs(fs.glob(dir .. "/.slipway/journal/*.jsonl")) do text[#text + 1] = fs.read(f) end
  return table.concat(text)
end

local function no_token(what, text)
  T.eq(text:find(TOKEN, 1, true), nil, what .. " must not contain the token")
  T.eq(text:find(TOKEN:sub(5, 20), 1, true), nil, what .. " must not contain part of the token")
end

-- run fn(gh) with a fresh stand-in, stopped afterwards whatever happens
local function with_standin(fn)
  local gh = github_standin({upstream = UPSTREAM})
  local ok, err = pcall(fn, gh)
  gh.stop()
  if not ok then error(err, 0) end
end

-- ---- pull requests ----------------------------------------------------------------------

T.test("--pr: a branch, a one-line commit, a push and a labelled pull request per component", function()
  with_standin(function(gh)
    local dir, remote = repo()
    local head = B.git(dir, {"rev-parse", "HEAD"})
    local chart = fs.read(dir .. "/mybinder/Chart.yaml")
    local r = cli(dir, {"--pr"}, gh)
    T.eq(r.code, 0, r.stdout .. r.stderr)
    T.match(r.stdout, "^binderhub " .. esc(OLD_BH) .. " → " .. esc(NEW_BH) .. " %(%x+%) created #41 https://github%.com/" ..
      esc(OWNER) .. "/" .. esc(REPO) .. "/pull/41\n")
    T.match(r.stdout, "\nrepo2docker " .. esc(OLD_R2D) .. " → " .. esc(NEW_R2D) .. " %(%x+%) created #42 ")
    -- the operator's checkout is untouched; the private worktree is gone
    T.eq(B.git(dir, {"rev-parse", "HEAD"}), head)
    T.eq(fs.read(dir .. "/mybinder/Chart.yaml"), chart)
    T.eq(B.git(dir, {"status", "--porcelain"}), "")
    T.eq(select(2, B.git(dir, {"worktree", "list"}):gsub("\n", "")), 1, "one worktree left")
    -- the remote got one branch per component, one one-line commit on main each
    local br = remote_branches(remote)
    local main = br["refs/heads/main"]
    for _, c in ipairs({{"binderhub", OLD_BH, NEW_BH, "mybinder/Chart.yaml"},
                        {"repo2docker", OLD_R2D, NEW_R2D, "mybinder/values.yaml"}}) do
      local ref = "refs/heads/slipway/bump-" .. c[1]
      T.truthy(br[ref], ref .. " pushed")
      T.eq(B.git(remote, {"rev-parse", ref .. "^"}), main .. "\n", "based on main")
      T.eq(B.git(remote, {"log", "-1", "--format=%B", ref}), c[1] .. ": " .. c[2] .. "..." .. c[3] .. "\n\n")
      T.eq(B.git(remote, {"show", "--numstat", "--format=", ref}), "1\t1\t" .. c[4] .. "\n")
    end
    -- the pull requests, as the stand-in received them
    T.eq(#gh.pulls, 2)
    local bh, r2d = gh.pulls[1], gh.pulls[2]
    T.eq({bh.head, bh.base, bh.title}, {"slipway/bump-binderhub", "main", "binderhub: " .. OLD_BH .. "..." .. NEW_BH})
    T.eq(bh.labels, {"maintenance", "dependencies"})
    T.eq(r2d.labels, {"dependencies"}, "the default label")
    T.match(bh.body, "| version | `" .. esc(OLD_BH) .. "` | `" .. esc(NEW_BH) .. "` |")
    T.match(bh.body, "| appVersion | `1%.0%.0%-dev` | `1%.0%.0%-dev` |")
    T.match(bh.body, "\n%- %[#1501%]%(https://github%.com/jupyterhub/binderhub/pull/1501%) Build pods get a \\<timeout\\> %(enhancement%)\n")
    T.match(bh.body, "#1501.*#1520.*#1521.*#1522", "merged pull requests by number, from every page")
    T.match(bh.body, "%[#1522%]%(%S+%) Fix \\`foo\\` \\| bar %(bug, maintenance%)")
    T.eq(bh.body:find("#1490", 1, true), nil, "a pull request that was not merged is left out")
    T.eq(bh.body:find("#9999", 1, true), nil, "a merge commit's pull request is left out")
    T.eq(select(2, bh.body:gsub("#1501", "")), 1, "listed once")
    T.match(bh.body, "Compare: https://github%.com/jupyterhub/binderhub/compare/383374de%.%.%.1a2b3c4d")
    T.match(bh.body, "Changelog: https://github%.com/jupyterhub/binderhub/blob/HEAD/CHANGES%.md")
    T.match(r2d.body, "could not be listed: .*HTTP 404", "an upstream lookup failing does not stop the pull request")
    -- the requests: authenticated, paginated, the merge commit never asked about
    local pages = {}
    for _, q in ipairs(gh.requests) do
      T.eq(q.auth, "Bearer " .. TOKEN, q.method .. " " .. q.path)
      T.eq(q.version, "2022-11-28")
      if q.path:find("/compare/383374de", 1, true) then pages[#pages + 1] = q.query.page or "1" end
      T.ne(q.path, "/repos/jupyterhub/binderhub/commits/c3mergeee/pulls")
    end
    T.eq(pages, {"1", "2", "3"}, "the compare's three pages, by Link")
    local seen = table.concat(gh.log(), "\n")
    T.match(seen, "GET /repos/jupyterhub/binderhub/commits/c4ddddd/pulls 200\nGET /repos/jupyterhub/binderhub/commits/c4ddddd/pulls 200",
      "a commit's pull requests, two pages")
    -- the token: never printed, journalled or committed
    local j = journals(dir)
    T.match(j, '"type":"pull_request"')
    T.match(j, '"number":41')
    for what, text in pairs({stdout = r.stdout, stderr = r.stderr, journal = j,
        ["git log"] = B.git(remote, {"log", "--all", "-p"})}) do
      no_token(what, text)
    end
  end)
end, {timeout = 120})

T.test("--pr again: pull requests updated, not duplicated; a newer version force-pushes the branch", function()
  with_standin(function(gh)
    local dir, remote = repo()
    T.eq(cli(dir, {"--pr"}, gh).code, 0)
    local before = remote_branches(remote)
    -- same versions: nothing pushed, the pull requests are refreshed in place
    local n0 = #gh.requests
    local r = cli(dir, {"--pr"}, gh)
    T.eq(r.code, 0, r.stderr)
    T.match(r.stdout, "binderhub .* updated #41 ")
    T.eq(remote_branches(remote), before, "the same change is not pushed again")
    T.eq(#gh.pulls, 2, "no duplicate")
    local methods = {}
    for i = n0 + 1, #gh.requests do
      local q = gh.requests[i]
      if q.path:find("/mybinder.org-deploy/", 1, true) then methods[#methods + 1] = q.method .. " " .. q.path:gsub("^/repos/[^/]+/[^/]+", "") end
    end
    T.eq(methods, {"GET /pulls", "PATCH /pulls/41", "POST /issues/41/labels",
                   "GET /pulls", "PATCH /pulls/42", "POST /issues/42/labels"})
    -- upstream moves on: main gets the newer offer; the bot's branch is
    -- rebuilt on the new main and force-pushed, the same pull request updated
    fs.write(dir .. "/bumpsources/binderhub.lua", source_module({{OLD_BH, "1.0.0-dev"}, {NEW_BH}, {NEWER_BH, "1.0.1-dev"}}))
    B.git(dir, {"commit", "-q", "-a", "-m", "newer"}); B.git(dir, {"push", "-q", "origin", "main"})
    local r2 = cli(dir, {"binderhub", "--pr"}, gh)
    T.eq(r2.code, 0, r2.stderr)
    T.match(r2.stdout, "^binderhub " .. esc(OLD_BH) .. " → " .. esc(NEWER_BH) .. " %(%x+%) updated #41 ")
    local after = remote_branches(remote)
    T.ne(after["refs/heads/slipway/bump-binderhub"], before["refs/heads/slipway/bump-binderhub"])
    T.eq(B.git(remote, {"rev-parse", "slipway/bump-binderhub^"}), after["refs/heads/main"] .. "\n")
    T.eq(B.git(remote, {"rev-list", "--count", "main..slipway/bump-binderhub"}), "1\n", "one commit, not a pile")
    T.eq(#gh.pulls, 2)
    T.eq(gh.pulls[1].title, "binderhub: " .. OLD_BH .. "..." .. NEWER_BH)
    T.match(gh.pulls[1].body, "appVersion | `1%.0%.0%-dev` | `1%.0%.1%-dev`")
  end)
end, {timeout = 120})

T.test("--pr: a 422 on create (opened meanwhile) is answered by finding and updating that pull request", function()
  with_standin(function(gh)
    local dir = repo()
    gh.pulls[1] = {number = 7, state = "open", title = "old title", body = "old", head = "slipway/bump-binderhub",
                   base = "main", labels = {}}
    gh.hide_open_once = true
    local r = cli(dir, {"binderhub", "--pr"}, gh)
    T.eq(r.code, 0, r.stderr)
    T.match(r.stdout, "updated #7 ")
    local seq = {}
    for _, q in ipairs(gh.requests) do
      if q.path:find("/mybinder.org-deploy/", 1, true) then seq[#seq + 1] = q.method .. " " .. q.status end
    end
    T.eq(seq, {"GET 200", "POST 422", "GET 200", "PATCH 200", "POST 200"})
    T.eq(#gh.pulls, 1)
    T.eq(gh.pulls[1].title, "binderhub: " .. OLD_BH .. "..." .. NEW_BH)
  end)
end, {timeout = 60})

T.test("--pr: a rate limit (403, x-ratelimit-remaining: 0) is waited out; beyond the budget the error names the reset", function()
  with_standin(function(gh)
    local dir = repo()
    gh.rate_limit["POST /repos/" .. OWNER .. "/" .. REPO .. "/pulls"] = 1
    local r = cli(dir, {"binderhub", "--pr"}, gh)
    T.eq(r.code, 0, r.stderr)
    T.match(r.stderr, "rate limit")
    local posts = {}
    for _, q in ipairs(gh.requests) do
      if q.method == "POST" and q.path:match("/pulls$") then posts[#posts + 1] = q.status end
    end
    T.eq(posts, {403, 201}, "refused once, then created after the reset")
    T.eq(#gh.pulls, 1)
    -- a reset an hour away is beyond a budget of 5 s: an error naming when
    local dir2 = repo()
    gh.rate_limit["GET /repos/" .. OWNER .. "/" .. REPO .. "/pulls"] = 3600
    local r2 = cli(dir2, {"repo2docker", "--pr", "--rate-limit-wait", "5"}, gh)
    T.eq(r2.code, 1)
    T.match(r2.stderr, "rate limit exhausted .* it resets at %d%d%d%d%-%d%d%-%d%dT%d%d:%d%d:%d%dZ, %d+ s from now, beyond the wait budget of 5 s")
    T.eq(#gh.pulls, 1, "no pull request for repo2docker")
  end)
end, {timeout = 60})

T.test("--pr needs a token and never prints it; a wrong token is GitHub's 401, said without the token", function()
  with_standin(function(gh)
    local dir = repo()
    local r = cli(dir, {"--pr"}, gh, {GITHUB_TOKEN = false})
    T.eq(r.code, 2, r.stderr)
    T.match(r.stderr, "needs a GitHub token in GITHUB_TOKEN")
    local wrong = "ghp_wrongWrongWrong0123456789"
    local r2 = cli(dir, {"binderhub", "--pr", "--json"}, gh, {GITHUB_TOKEN = wrong})
    T.eq(r2.code, 1)
    T.match(r2.stderr, "HTTP 401: Bad credentials")
    T.eq((r2.stdout .. r2.stderr .. journals(dir)):find(wrong, 1, true), nil)
    local doc = json.decode(r2.stdout)
    T.match(doc.components[1].error.message, "401")
  end)
end, {timeout = 60})

-- ---- git hooks ----------------------------------------------------------------------------

local function hook(dir, name, script)
  local path = dir .. "/.git/hooks/" .. name
  fs.write(path, "#!/bin/sh\n" .. script .. "\n")
  B.run({"chmod", "+x", path})
end

T.test("hooks are honoured: --commit and --pr refused by a hook; --no-verify skips them", function()
  with_standin(function(gh)
    local dir, remote = repo()
    hook(dir, "commit-msg", 'echo "commit-msg: policy says no" >&2; exit 1')
    local head = B.git(dir, {"rev-parse", "HEAD"})
    local r = cli(dir, {"binderhub", "--commit"})
    T.eq(r.code, 1)
    T.match(r.stderr, "commit was refused .*commit%-msg: policy says no")
    T.eq(B.git(dir, {"rev-parse", "HEAD"}), head, "no commit")
    T.eq(B.git(dir, {"diff", "--cached", "--name-only"}), "", "nothing left staged")
    B.git(dir, {"checkout", "-q", "--", "."})
    local r2 = cli(dir, {"binderhub", "--commit", "--no-verify"})
    T.eq(r2.code, 0, r2.stderr)
    T.ne(B.git(dir, {"rev-parse", "HEAD"}), head)
    -- the pull-request flow commits in a worktree of the same repository: same hooks
    B.git(dir, {"reset", "-q", "--hard", "HEAD~1"})
    fs.remove(dir .. "/.git/hooks/commit-msg")
    hook(dir, "pre-commit", 'echo "pre-commit: lint failed" >&2; exit 1')
    local r3 = cli(dir, {"repo2docker", "--pr"}, gh)
    T.eq(r3.code, 1)
    T.match(r3.stderr, "repo2docker: the commit was refused: .*pre%-commit: lint failed")
    T.eq(remote_branches(remote)["refs/heads/slipway/bump-repo2docker"], nil, "nothing pushed")
    T.eq(#gh.pulls, 0, "no pull request")
    local r4 = cli(dir, {"repo2docker", "--pr", "--no-verify"}, gh)
    T.eq(r4.code, 0, r4.stderr)
    T.truthy(remote_branches(remote)["refs/heads/slipway/bump-repo2docker"])
    T.eq(#gh.pulls, 1)
    -- a pre-push hook refusing stops the push too
    fs.remove(dir .. "/.git/hooks/pre-commit")
    hook(dir, "pre-push", 'echo "pre-push: not today" >&2; exit 1')
    fs.write(dir .. "/bumpsources/repo2docker.lua", source_module({{OLD_R2D}, {"2026.4.1.dev60-g0123abcd"}}))
    B.git(dir, {"commit", "-q", "--no-verify", "-a", "-m", "newer"})
    B.git(dir, {"push", "-q", "--no-verify", "origin", "main"})
    local r5 = cli(dir, {"repo2docker", "--pr"}, gh)
    T.eq(r5.code, 1)
    T.match(r5.stderr, "pre%-push: not today")
  end)
end, {timeout = 120})

-- ---- --json, --diff, errors ------------------------------------------------------------------

T.test("--json: one document for --dry-run, --commit and a failure", function()
  local dir = repo()
  local r = cli(dir, {"--dry-run", "--json", "--diff"})
  T.eq(r.code, 0, r.stderr)
  local doc = json.decode(r.stdout)
  T.eq(doc.dry_run, true); T.eq(doc.changed, true); T.eq(doc.failed, false)
  T.eq(#doc.components, 2)
  local c = doc.components[1]
  T.eq({c.component, c.old, c.new, c.changed, c.commit, c.pr, c.error},
       {"binderhub", OLD_BH, NEW_BH, true, json.null, json.null, json.null})
  T.eq(c.files, {"mybinder/Chart.yaml"})
  T.match(c.diff, "^%-%-%- a/mybinder/Chart%.yaml\n%+%+%+ b/mybinder/Chart%.yaml\n")
  local r2 = cli(dir, {"--commit", "--json"})
  T.eq(r2.code, 0, r2.stderr)
  local doc2 = json.decode(r2.stdout)
  T.eq(doc2.dry_run, false)
  T.match(doc2.components[1].commit, "^%x+$")
  T.eq(doc2.components[1].commit, B.git(dir, {"rev-parse", "HEAD~1"}):match("%x+"))
  T.eq(doc2.components[1].diff, nil, "no diff unless --diff")
  -- up to date
  local doc3 = json.decode(cli(dir, {"--json"}).stdout)
  T.eq({doc3.changed, doc3.components[1].changed, doc3.components[1].old, doc3.components[1].new},
       {false, false, NEW_BH, NEW_BH})
  T.eq(doc3.components[1].files, {})
  -- a failure: the error, and the other component still reported
  fs.write(dir .. "/bumpsources/binderhub.lua", "return {versions = function() return {'latest'} end}\n")
  local r4 = cli(dir, {"--json", "--dry-run"})
  T.eq(r4.code, 1)
  local doc4 = json.decode(r4.stdout)
  T.eq(doc4.failed, true)
  T.eq(doc4.components[1].error.code, "source")
  T.match(doc4.components[1].error.message, "^binderhub: no version from")
  T.eq(doc4.components[2].error, json.null)
  -- --pr --dry-run says what it would open, touching nothing
  local r5 = cli(repo(), {"--pr", "--dry-run", "--json"})
  T.eq(r5.code, 0, r5.stderr)
  local doc5 = json.decode(r5.stdout)
  T.eq(doc5.components[1].pr, {branch = "slipway/bump-binderhub", base = "main", planned = true})
end)

T.test("--diff prints paths relative to the repository: git apply --check accepts it", function()
  local dir = repo()
  local r = cli(dir, {"--dry-run", "--diff"})
  T.eq(r.code, 0, r.stderr)
  T.match(r.stdout, "\n%-%-%- a/mybinder/Chart%.yaml\n%+%+%+ b/mybinder/Chart%.yaml\n")
  local patch = r.stdout:gsub("[^\n]* → [^\n]*\n", "")
  local file = fs.tempdir() .. "/bump.patch"
  fs.write(file, patch)
  local check = B.run({"git", "-C", dir, "apply", "--check", "-v", file}, {check = false})
  T.eq(check.code, 0, check.stderr)
  B.run({"git", "-C", dir, "apply", file})
  T.match(fs.read(dir .. "/mybinder/Chart.yaml"), 'version: "' .. esc(NEW_BH) .. '"')
  T.match(fs.read(dir .. "/mybinder/values.yaml"), "repo2docker:" .. esc(NEW_R2D))
end)

T.test("errors keep the YAML module's detail: a filter matching two items is not 'does not exist'", function()
  local dir = repo()
  local chart = fs.read(dir .. "/mybinder/Chart.yaml")
  local dup = chart:gsub("(\n  %- name: binderhub\n)", "%1    version: \"0.1.0\"\n    repository: https://x.invalid\n  - name: binderhub\n", 1)
  T.ne(dup, chart)
  fs.write(dir .. "/mybinder/Chart.yaml", dup)
  local r = cli(dir, {"binderhub", "--dry-run"})
  T.eq(r.code, 1)
  T.match(r.stderr, "mybinder/Chart%.yaml: dependencies%[name=binderhub%]%.version cannot be read: 2 items of dependencies %(line %d+%) have name=binderhub")
  T.eq(r.stderr:find("does not exist", 1, true), nil)
  T.eq(r.stderr:find(dir, 1, true), nil, "the file is named relative to the repository")
end)

T.test("slipway.yaml: changelog and labels are checked; a helm source reads versions as helm does", function()
  local manifest = require "slipway.manifest"
  local m = manifest.parse(MANIFEST .. [[
  chart:
    source: {helm: {repo: "https://example.org/charts", chart: c}}
    locations: [{file: Chart.yaml, path: version}]
]])
  T.eq(m.components.binderhub.changelog, "https://github.com/jupyterhub/binderhub/blob/HEAD/CHANGES.md")
  T.eq(m.components.binderhub.labels, {"maintenance", "dependencies"})
  T.eq(m.components.repo2docker.labels, nil)
  T.eq(m.components.chart.scheme, "helm", "the default scheme of a helm source")
  T.eq(m.components.binderhub.scheme, "semver")
  local e = T.raises(function() manifest.parse((MANIFEST:gsub("changelog: https:", "changelog: ftp:"))) end,
    "components%.binderhub%.changelog: expected an http%(s%):// URL")
  T.eq(e.code, "manifest")
  T.raises(function() manifest.parse((MANIFEST:gsub("labels: %[maintenance, dependencies%]", "labels: maintenance"))) end,
    "components%.binderhub%.labels")
  T.raises(function() manifest.parse((MANIFEST:gsub("labels: %[maintenance, dependencies%]", "labels: [\"a,b\"]"))) end,
    "without commas")
end)

-- ---- slow and hanging sources ----------------------------------------------------------------

local function helm_manifest(url)
  return string.format([[
components:
  binderhub:
    source:
      helm: {repo: "%s", chart: binderhub}
      devel: true
    locations:
      - {file: mybinder/Chart.yaml, path: "dependencies[name=binderhub].version"}
]], url)
end

local INDEX = "apiVersion: v1\nentries:\n  binderhub:\n  - {version: " .. NEW_BH .. ", created: '2026-01-01T00:00:00Z'}\n"

T.test("a slow source: 'waiting for SOURCE (Ns)...' is printed while it is waited on", function()
  local errfile = fs.tempdir() .. "/stderr"
  local answered_after_line
  -- the server answers only once the waiting line is out: the order is the assertion
  local slow = server.serve{port = 0, handler = function()
    for _ = 1, 600 do
      if fs.isfile(errfile) and fs.read(errfile):find("waiting for", 1, true) then
        answered_after_line = true
        return {status = 200, body = INDEX}
      end
      task.sleep(0.05)
    end
    answered_after_line = false
    return {status = 200, body = INDEX}
  end}
  local ok, err = pcall(function()
    local url = slow:url()
    local dir = B.git_repo(helm_manifest(url))
    local h = proc.spawn({BIN, "bump", "--dry-run"}, {cwd = dir, env = {NO_COLOR = "1"},
      stdout = {file = errfile .. ".out"}, stderr = {file = errfile}})
    local res = h:wait()
    T.eq(res.code, 0, fs.read(errfile))
    T.eq(answered_after_line, true, "the line came while the source was waited on")
    T.match(fs.read(errfile), "waiting for " .. esc(url) .. " %(binderhub%) %(%d+s%)%.%.%.\n")
    T.match(fs.read(errfile .. ".out"), "binderhub " .. esc(OLD_BH) .. " → " .. esc(NEW_BH))
  end)
  slow:close()
  if not ok then error(err, 0) end
end, {timeout = 120})

T.test("--timeout and --retries: a source that never answers fails, and is asked retries+1 times", function()
  local asked, release = 0, false
  local hang = server.serve{port = 0, handler = function()
    asked = asked + 1
    while not release do task.sleep(0.05) end
    return {status = 200, body = INDEX}
  end}
  local ok, err = pcall(function()
    local dir = B.git_repo(helm_manifest(hang:url()))
    local r = cli(dir, {"--dry-run", "--timeout", "0.5", "--retries", "1"})
    T.eq(r.code, 1, r.stderr)
    T.match(r.stderr, "binderhub: chart repository .* unreachable: .*[Tt]ime")
    T.eq(asked, 2, "one try and one retry")
    T.eq(cli(dir, {"--timeout", "0"}).code, 2, "a timeout must be > 0")
    T.eq(cli(dir, {"--retries", "-1"}).code, 2)
  end)
  release = true
  hang:close()
  if not ok then error(err, 0) end
end, {timeout = 120})

T.run()
