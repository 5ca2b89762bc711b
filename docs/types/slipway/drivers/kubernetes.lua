---@meta slipway.drivers.kubernetes
-- The kubernetes driver: helm upgrade + kubectl rollout status
-- (docs/kubernetes.md).

---@class slipway.drivers.kubernetes: slipway.Driver
---@field HELM_BUSY string the pattern of helm's "another operation is in progress"
local kubernetes = {}

---helm dependency update, helm upgrade --install (no --wait), then every
---workload's rollout status, concurrently.
---@param ctx slipway.Ctx
---@param env slipway.Environment
---@return slipway.DeployResult
function kubernetes.deploy(ctx, env) end

---helm status RELEASE -o json.
---@param ctx slipway.Ctx
---@param env slipway.Environment
---@return slipway.EnvStatus
function kubernetes.status(ctx, env) end

---The deploy lock: a Lease slipway-lock-RELEASE in the namespace (renewed while the run lives); raises "locked" with the holder.
---@param ctx slipway.Ctx
---@param env slipway.Environment
---@param opts? {break_lock?: boolean, wait?: number}
---@return {unlock: fun(self)}
function kubernetes.lock(ctx, env, opts) end

---helm template, Secret data masked.
---@param ctx slipway.Ctx
---@param env slipway.Environment
---@return string
function kubernetes.render(ctx, env) end

---helm get manifest (what runs now), Secret data masked; nil when not installed.
---@param ctx slipway.Ctx
---@param env slipway.Environment
---@return string?
function kubernetes.rendered(ctx, env) end

---helm uninstall (a missing release is fine).
---@param ctx slipway.Ctx
---@param env slipway.Environment
function kubernetes.stop(ctx, env) end

---helm lint CHART -f ... (read-only); raises code "deploy".
---@param ctx slipway.Ctx
---@param env slipway.Environment
function kubernetes.lint(ctx, env) end

---The environment's kubernetes options with defaults.
---@param env slipway.Environment
---@return table
function kubernetes.settings(env) end

---The deployments and daemonsets of the namespace ("deployment/hub", ...).
---@param ctx slipway.Ctx
---@param env slipway.Environment
---@return string[]
function kubernetes.workloads(ctx, env) end

---kubectl rollout status for every workload, concurrently; raises when one did not roll out.
---@param ctx slipway.Ctx
---@param env slipway.Environment
---@param workloads string[]
---@return table[]
function kubernetes.wait_rollouts(ctx, env, workloads) end

---helm dependency update CHART (once per run).
---@param ctx slipway.Ctx
---@param env slipway.Environment
function kubernetes.dependencies(ctx, env) end

---Replace Secret data values with '<masked #N>' (memo numbers the values; = kube.mask_secrets).
---@param text string
---@param memo? table
---@return string
function kubernetes.mask_secrets(text, memo) end

---Seconds since the epoch of an RFC 3339 time, or nil (= kube.time; any local time zone).
---@param t string
---@return number?
function kubernetes.parse_time(t) end

---Decode base64.
---@param s string
---@return string
function kubernetes.b64decode(s) end

---A lock holder for people ("user@host pid N since ...").
---@param h table
---@return string
function kubernetes.holder_text(h) end

---The environment's login, once per context: its login.run commands (also in
---a dry run); login.kubeconfig is the KUBECONFIG of every command. Tasks that
---call it at once all wait for the one login and raise its error.
---@param ctx table
---@param env table
function kubernetes.prepare(ctx, env) end

---The login, then the environment's `before` hooks marked dry_run (they write
---only files the repository ignores and need no lock): stage runs it while it
---takes the deploy lock; deploy then runs the other hooks.
---@param ctx table
---@param env table
function kubernetes.prepare_files(ctx, env) end

---The releases of env in order, resolved now (values globs, optional files,
---${VAR} from env_files): kube.settings plus release, namespace, chart, repo,
---version, values, set, flags, wait, cleanup_on_fail, before, after, is_local.
---@param ctx table
---@param env table
---@return table[]
function kubernetes.releases(ctx, env) end

return kubernetes
