---@meta slipway.kube
-- Kubernetes helpers shared by the driver, the runbook engine and runbooks (docs/kubernetes.md).

---@class slipway.KubeSettings
---@field helm string
---@field kubectl string
---@field namespace string
---@field release string
---@field chart? string
---@field values string[]
---@field context? string
---@field rollout_timeout string
---@field lock_name string
---@field dependency_update boolean
---@field extra_args string[]
---@field env? table<string, string>

---@class slipway.kube
local kube = {}

---The kubernetes options of env with their defaults (no chart needed).
---@param env slipway.Environment
---@return slipway.KubeSettings
function kube.settings(env) end

---argv {s.helm, ..., "--kube-context=CTX"} (the context only when set).
---@param s slipway.KubeSettings
---@param ... string
---@return string[]
function kube.helm(s, ...) end

---argv {s.kubectl, ..., "--context=CTX", "--namespace=NS"}; a first argument {all_namespaces = true} leaves out --namespace.
---@param s slipway.KubeSettings
---@param ... string|{all_namespaces?: boolean}
---@return string[]
function kube.kubectl(s, ...) end

---A copy of opts (for ctx:run) with the settings' env option.
---@param s slipway.KubeSettings
---@param opts? table
---@return table
function kube.run_opts(s, opts) end

---Mask every Secret's data/stringData values (also in a List) with '<masked #N>'; registers them as secrets.
---@param text string
---@param memo? table
---@return string
function kube.mask_secrets(text, memo) end

---Seconds since the epoch of an API server timestamp (RFC 3339), or nil; the same in every time zone.
---@param t string?
---@return number?
function kube.time(t) end

---Seconds since timestamp t (now: default os.time()), or nil.
---@param t string?
---@param now? number
---@return number?
function kube.age(t, now) end

---A duration as kubectl and helm write it: "10m" for 600, "90s", "1h".
---@param seconds number
---@return string
function kube.duration(seconds) end

return kube
