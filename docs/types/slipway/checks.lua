---@meta slipway.checks
-- Post-deploy checks (docs/environments.md, "Checks").

---@class slipway.checks
local checks = {}

---@class slipway.CheckResult
---@field name string
---@field ok boolean
---@field detail? string
---@field duration number
---@field attempts integer
---@field skipped? boolean true: not run (`when` false, t.skip, a launch with stop under --dry-run); ok is true

---Validate a list of checks (kp names it in errors): {name, kind = "http"|"launch"|"lua", ...}.
---@param list table[]
---@param kp string
---@param m? slipway.Manifest
---@return table[]
function checks.validate(list, kp, m) end

---Run every check of env concurrently; results in declaration order.
---@param ctx? slipway.Ctx journals each result when given
---@param env slipway.Environment
---@param vars? {url?: string, versions?: table<string, string>, values?: table}
---@return slipway.CheckResult[]
function checks.run(ctx, env, vars) end

---One check with its retries and deadline.
---@param ctx? slipway.Ctx
---@param c table a validated check
---@param vars? table
---@return slipway.CheckResult
function checks.run_one(ctx, c, vars) end

---Whether every result passed.
---@param results slipway.CheckResult[]
---@return boolean
function checks.passed(results) end

---The results as a text table.
---@param results slipway.CheckResult[]
---@param env_name? string
---@return string
function checks.table(results, env_name) end

---JUnit XML for {env_name = results}.
---@param by_env table<string, slipway.CheckResult[]>
---@return string
function checks.junit(by_env) end

---Fill {{PATH}} in s: a path (docs/path.md) into vars ({versions, url, env, values, server}).
---@param s string
---@param vars table
---@return string
function checks.template(s, vars) end

---The merged values {{values.PATH}} reads: the main release's chart values.yaml, then its values files.
---@param env slipway.Environment
---@return table
function checks.values(env) end

return checks
