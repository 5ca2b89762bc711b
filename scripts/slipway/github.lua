--- slipway.github: a small client of GitHub's REST API, for the pull
-- requests of `slipway bump --pr` (docs/bump.md).
--
--   local github = require "slipway.github"
--   local gh = github.client{token = env.secret("GITHUB_TOKEN")}   -- GITHUB_API_URL honoured
--   local pr = gh:find_pull("jupyterhub", "mybinder.org-deploy", "slipway/bump-binderhub")
--   local prs = gh:merged_pulls("jupyterhub", "binderhub", "383374de", "1a2b3c4d")
--
-- Every request carries `Authorization: Bearer <token>` (the token is a
-- registered secret: never in a log, an error or the journal). Lists follow
-- `Link: <...>; rel="next"`. Rate limits: a 403 or 429 with
-- `x-ratelimit-remaining: 0` waits until `x-ratelimit-reset`, a
-- `retry-after` is honoured, both within a budget (max_wait, default 300 s);
-- beyond it the error names the reset time. Other answers >= 400 raise code
-- "github" with fields status, method, path and GitHub's message.
local core = require "slipway.core"
local M = {}

local function http() return require "slipway.http" end
local function json() return require "slipway.json" end

--- github.repo_of(url) -> owner, repo for "https://github.com/o/r(.git)",
-- "git@github.com:o/r.git", "ssh://git@host/o/r" or "o/r"; nil when none.
function M.repo_of(url)
  if type(url) ~= "string" then return nil end
  local s = url:gsub("%.git/*$", ""):gsub("/+$", "")
  local o, r = s:match("^([%w_.-]+)/([%w_.-]+)$")
  if o then return o, r end
  o, r = s:match("^%a[%w+.-]*://[^/]+/([^/]+)/([^/]+)$")
  if o then return o, r end
  o, r = s:match("^[^@/]+@[^:/]+:([^/]+)/([^/]+)$")
  return o, r
end

local Client = {}
Client.__index = Client

--- github.client(opts) -> client. opts: token (required; registered as a
-- secret), api (default $GITHUB_API_URL or https://api.github.com), timeout,
-- retries (transport errors and 5xx of reads), max_wait (seconds a rate
-- limit may be waited for in all, default 300), on_request(rec) called with
-- {method, url, status} after every answer, on_wait(seconds, reset) before a
-- rate-limit wait.
function M.client(opts)
  opts = opts or {}
  if type(opts.token) ~= "string" or opts.token == "" then
    error("github.client: a token is required", 2)
  end
  core.secret(opts.token)
  local api = opts.api or os.getenv("GITHUB_API_URL")
  if api == nil or api == "" then api = "https://api.github.com" end
  return setmetatable({api = (api:gsub("/+$", "")), token = opts.token, timeout = opts.timeout or 30,
    retries = opts.retries, max_wait = opts.max_wait or 300, waited = 0,
    on_request = opts.on_request, on_wait = opts.on_wait}, Client)
end

local function utc(t) return os.date("!%Y-%m-%dT%H:%M:%SZ", math.floor(t)) end

-- seconds to wait before asking again, and the reset time; nil when the
-- answer is not a rate limit
local function rate_limited(res)
  if res.status ~= 403 and res.status ~= 429 then return nil end
  local h = res.headers
  local ra = http().retry_after(h["retry-after"])
  if ra then return ra, os.time() + ra end
  if h["x-ratelimit-remaining"] == "0" then
    local reset = tonumber(h["x-ratelimit-reset"])
    if reset then return math.max(0, reset - os.time()) + 1, reset end
    return 60, os.time() + 60
  end
  return nil
end

local function message_of(res)
  local ok, body = pcall(json().decode, res.body or "")
  if not ok or type(body) ~= "table" then return nil end
  local msg = type(body.message) == "string" and body.message or nil
  local details = {}
  if type(body.errors) == "table" then
    for _, e in ipairs(body.errors) do
      if type(e) == "table" and type(e.message) == "string" then details[#details + 1] = e.message end
    end
  end
  if #details > 0 then msg = (msg and (msg .. ": ") or "") .. table.concat(details, "; ") end
  return msg, body
end

--- client:request(method, path_or_url [, body]) -> decoded JSON (or nil), res.
-- path is "/repos/o/r/..." (the API URL is prepended) or a full URL (a Link).
function Client:request(method, path, body)
  local url = path:find("^%a+://") and path or (self.api .. path)
  local sleep = require("slipway.task").sleep
  while true do
    local read = method == "GET"
    local ok, res = pcall(http().request, {method = method, url = url, json = body,
      timeout = self.timeout, retries = read and self.retries or 0,
      retry_on = {"connect", "dns", "timeout", "transfer", 500, 502, 503, 504},
      headers = {["Accept"] = "application/vnd.github+json", ["X-GitHub-Api-Version"] = "2022-11-28",
                 ["Authorization"] = "Bearer " .. self.token, ["User-Agent"] = "slipway"}})
    if not ok then
      core.raise(type(res) == "table" and res.code or "http",
        "GitHub API " .. method .. " " .. path .. ": " .. (type(res) == "table" and res.message or tostring(res)),
        {method = method, path = path}, 0)
    end
    if self.on_request then self.on_request({method = method, url = res.url or url, status = res.status}) end
    local wait, reset = rate_limited(res)
    if not wait then
      if res.status >= 400 then
        local msg = message_of(res)
        core.raise("github", string.format("GitHub API %s %s answered HTTP %d%s", method, path, res.status,
          msg and (": " .. msg) or ""), {status = res.status, method = method, path = path, detail = msg}, 0)
      end
      if res.status == 204 or res.body == nil or res.body == "" then return nil, res end
      local okj, data = pcall(json().decode, res.body)
      if not okj then
        core.raise("github", string.format("GitHub API %s %s: the answer is not JSON", method, path),
          {status = res.status}, 0)
      end
      return data, res
    end
    if self.waited + wait > self.max_wait then
      core.raise("rate_limit", string.format("GitHub API rate limit exhausted (%s %s, HTTP %d); it resets at %s, " ..
        "%d s from now, beyond the wait budget of %d s", method, path, res.status, utc(reset), wait,
        self.max_wait), {status = res.status, reset = reset}, 0)
    end
    if self.on_wait then self.on_wait(wait, reset) end
    require("slipway.log").warn("GitHub API rate limit (%s %s): waiting %d s, until %s", method, path, wait, utc(reset))
    self.waited = self.waited + wait
    sleep(wait)
  end
end

local function with_query(path, q)
  return path .. (path:find("?", 1, true) and "&" or "?") .. q
end

--- client:list(path [, field]) -> every item of every page (Link rel="next";
-- per_page=100). field: the list inside each page's object ("commits" for a
-- compare); the first page's object is returned second.
function Client:list(path, field)
  local next_link = require("slipway.sources.registry").next_link
  local all, first, pages = {}, nil, 0
  local url = with_query(path, "per_page=100")
  while url do
    pages = pages + 1
    if pages > 100 then core.raise("github", "GitHub API " .. path .. ": more than 100 pages", {}, 0) end
    local data, res = self:request("GET", url)
    first = first or data
    local items = data
    if field then items = type(data) == "table" and data[field] or nil end
    if type(items) ~= "table" then
      core.raise("github", "GitHub API GET " .. path .. ": expected a list" .. (field and (" in " .. field) or ""), {}, 0)
    end
    for _, it in ipairs(items) do all[#all + 1] = it end
    local nxt = next_link(res)
    if nxt and not nxt:find("^%a+://") then nxt = self.api .. (nxt:sub(1, 1) == "/" and "" or "/") .. nxt end
    if nxt == url then break end
    url = nxt
  end
  return all, first
end

local function enc(s) return http().urlencode(s) end

--- client:find_pull(owner, repo, branch) -> the open pull request whose head
-- is owner:branch, or nil.
function Client:find_pull(owner, repo, branch)
  local list = self:list(string.format("/repos/%s/%s/pulls?state=open&head=%s", enc(owner), enc(repo),
    enc(owner .. ":" .. branch)))
  for _, pr in ipairs(list) do
    if type(pr) == "table" and type(pr.head) == "table" and pr.head.ref == branch then return pr end
  end
  return list[1]
end

--- client:upsert_pull(owner, repo, {head, base, title, body, labels}) ->
-- pr, action ("created" | "updated"). An open pull request from the same
-- branch is updated (PATCH), not duplicated; a 422 on create (one exists)
-- is answered by looking it up and updating it. Labels are added after.
function Client:upsert_pull(owner, repo, p)
  local base = string.format("/repos/%s/%s", enc(owner), enc(repo))
  local pr, action = self:find_pull(owner, repo, p.head), "updated"
  if not pr then
    local ok, res = pcall(self.request, self, "POST", base .. "/pulls",
      {title = p.title, head = p.head, base = p.base, body = p.body, maintainer_can_modify = true})
    if ok then
      pr, action = res, "created"
    elseif type(res) == "table" and res.status == 422 then
      pr = self:find_pull(owner, repo, p.head)
      if not pr then error(res, 0) end
    else
      error(res, 0)
    end
  end
  if action == "updated" then
    pr = self:request("PATCH", string.format("%s/pulls/%d", base, pr.number),
      {title = p.title, body = p.body, base = p.base})
  end
  if p.labels and #p.labels > 0 then
    self:request("POST", string.format("%s/issues/%d/labels", base, pr.number), {labels = p.labels})
  end
  return pr, action
end

--- client:merged_pulls(owner, repo, base, head [, opts]) -> list of
-- {number, title, html_url, labels = {names}}, by number, or nil and a
-- reason when there are more than opts.max_commits (default 100) commits.
-- The commits between base and head (GET compare/base...head, every page);
-- for each commit with one parent (merge commits are skipped, as
-- mybinder's get-prs.py does) the merged pull requests that contain it
-- (GET commits/SHA/pulls).
function Client:merged_pulls(owner, repo, a, b, opts)
  opts = opts or {}
  local max = opts.max_commits or 100
  local base = string.format("/repos/%s/%s", enc(owner), enc(repo))
  local commits, first = self:list(string.format("%s/compare/%s...%s", base, enc(a), enc(b)), "commits")
  local total = type(first) == "table" and math.tointeger(first.total_commits) or #commits
  if total > max then
    return nil, string.format("%d commits between %s and %s, not searching for pull requests", total, a, b)
  end
  local seen, out = {}, {}
  for _, c in ipairs(commits) do
    if type(c) == "table" and type(c.sha) == "string" and (type(c.parents) ~= "table" or #c.parents <= 1) then
      for _, pr in ipairs((self:list(string.format("%s/commits/%s/pulls", base, enc(c.sha))))) do
        if type(pr) == "table" and math.type(pr.number) == "integer" and not seen[pr.number]
           and type(pr.merged_at) == "string" then
          seen[pr.number] = true
          local labels = {}
          for _, l in ipairs(type(pr.labels) == "table" and pr.labels or {}) do
            if type(l) == "table" and type(l.name) == "string" then labels[#labels + 1] = l.name end
          end
          out[#out + 1] = {number = pr.number, title = tostring(pr.title or ""), html_url = pr.html_url,
                           labels = labels}
        end
      end
    end
  end
  table.sort(out, function(x, y) return x.number < y.number end)
  return out
end

return M
