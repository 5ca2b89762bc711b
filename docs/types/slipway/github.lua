---@meta slipway.github
-- A small client of GitHub's REST API for `slipway bump --pr` (docs/bump.md):
-- Bearer token (a registered secret), Link pagination, rate limits waited out.

---@class slipway.github
local github = {}

---@class slipway.GithubPull
---@field number integer
---@field title string
---@field html_url string
---@field labels string[]

---@class slipway.GithubClient
---@field api string
local GithubClient = {}

---Make one request: decoded JSON (or nil) and the response. Raises code
---"github" for a status >= 400, "rate_limit" beyond the wait budget.
---@param method string
---@param path string "/repos/o/r/..." or a full URL
---@param body? table sent as JSON
---@return any
---@return slipway.HttpResponse
function GithubClient:request(method, path, body) end

---Every item of every page (Link rel="next").
---@param path string
---@param field? string the list inside each page's object
---@return table[]
---@return table first_page
function GithubClient:list(path, field) end

---The open pull request whose head is owner:branch, or nil.
---@param owner string
---@param repo string
---@param branch string
---@return table?
function GithubClient:find_pull(owner, repo, branch) end

---Open or update the pull request from p.head; labels added.
---@param owner string
---@param repo string
---@param p {head: string, base: string, title: string, body: string, labels?: string[]}
---@return table pr
---@return "created"|"updated"
function GithubClient:upsert_pull(owner, repo, p) end

---The merged pull requests between two commits, by number; nil and the
---reason when there are more than max_commits (default 100) commits.
---@param owner string
---@param repo string
---@param base string
---@param head string
---@param opts? {max_commits?: integer}
---@return slipway.GithubPull[]?
---@return string? why
function GithubClient:merged_pulls(owner, repo, base, head, opts) end

---A client. api defaults to $GITHUB_API_URL, then https://api.github.com.
---@param opts {token: string, api?: string, timeout?: number, retries?: integer, max_wait?: number, on_request?: fun(rec: {method: string, url: string, status: integer}), on_wait?: fun(seconds: number, reset: number)}
---@return slipway.GithubClient
function github.client(opts) end

---owner, repo of a GitHub URL, an scp-like remote or "owner/repo"; nil when none.
---@param url string
---@return string?
---@return string?
function github.repo_of(url) end

return github
