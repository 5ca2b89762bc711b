---@meta slipway.environments
-- environments and stages of slipway.yaml (docs/environments.md).

---@class slipway.environments
---@field DRIVER_KEYS table<string, boolean> keys holding a driver's own options
local environments = {}

---A validated environment.
---@class slipway.Environment
---@field name string
---@field driver string "local", "kubernetes" or a module of yours
---@field chart string absolute chart directory
---@field values string[] absolute paths, merged in order (helm -f)
---@field url? string
---@field context? string kube context
---@field namespace string
---@field release string
---@field experimental boolean
---@field timeout? number
---@field checks table[] validated checks
---@field options table the driver's block (local: / kubernetes:), ${VAR} expanded
---@field raw table

---@class slipway.Environments
---@field list slipway.Environment[] sorted by name
---@field by_name table<string, slipway.Environment>
---@field stages {staging: string?, production: string[], revert: {push: boolean, remote: string, branch: string?}}

---Validate the environments and stages of a loaded manifest.
---@param m slipway.Manifest
---@return slipway.Environments
function environments.load(m) end

---Load slipway.yaml of the repository at dir.
---@param dir? string
---@return slipway.Manifest
function environments.load_manifest(dir) end

---The environment `name`, or raise code "usage" listing the known ones.
---@param envs slipway.Environments
---@param name string
---@return slipway.Environment
function environments.get(envs, name) end

---The environment's values files merged in order, as helm -f does.
---@param env slipway.Environment
---@return table
function environments.merged_values(env) end

---{component = version} from each component's first location.
---@param m slipway.Manifest
---@return table<string, string>
function environments.versions(m) end

---The chart's Chart.yaml as a table (nil when there is none).
---@param env slipway.Environment
---@return table?
function environments.chart(env) end

---Helm's merge of two values tables; a new table.
---@param a table
---@param b table
---@return table
function environments.merge(a, b) end

---The value at a location path ("dependencies[name=binderhub].version"), slipway.path's reading; nil when nothing is there.
---@param doc table
---@param path slipway.Path
---@return any
function environments.get_path(doc, path) end

---Apply a location's part to an image reference: "tag", "image", or nil (whole).
---@param value string
---@param part? string
---@return string
function environments.part(value, part) end

---Expand ${VAR} and ${VAR:-default}; `where` names the key in errors.
---@param s string
---@param where? string
---@param m? slipway.Manifest
---@return string
function environments.expand(s, where, m) end

---expand applied to every string in a table (a copy).
---@param v any
---@param where? string
---@param m? slipway.Manifest
---@return any
function environments.expand_deep(v, where, m) end

---The environment e with its `template:` merged under its own keys (maps
---merge, lists and scalars replace) and {{env}} replaced by its name.
---@param m slipway.Manifest
---@param name string
---@param e table
---@return table
function environments.apply_templates(m, name, e) end

---The variables of the manifest's env_files, read now: {NAME = value}.
---@param m slipway.Manifest
---@return table<string, string>
function environments.file_vars(m) end

---Absolute paths of a release's values files, in order, resolved now: ${VAR},
---globs (sorted; none is fine), optional entries only when they exist.
---@param m slipway.Manifest
---@param entries {file: string, optional?: boolean, keys?: table}[]
---@param where? string the key path, for messages
---@return string[]
function environments.resolve_values(m, entries, where) end

return environments
