---@meta slipway.manifest
-- slipway.yaml, the deployment manifest (docs/manifest.md). Errors have code
-- "manifest" with fields file, key and line.

---@class slipway.manifest
---@field FILE string "slipway.yaml"
local manifest = {}

---@class slipway.Location
---@field file string absolute (joined with the root)
---@field relfile string
---@field path string
---@field part "whole"|"tag"

---@class slipway.Component
---@field name string
---@field scheme string
---@field schemes string[]
---@field source {kind: "helm"|"registry"|"git"|"lua", devel: boolean?, constraint: string?, order: string?, pattern: string?, exclude: string?, [string]: any}
---@field repository? string
---@field changelog? string URL linked from bump pull requests
---@field labels? string[] labels of bump pull requests
---@field description? string
---@field locations slipway.Location[]

---@class slipway.Manifest
---@field root string the repository (the directory holding slipway.yaml)
---@field path string
---@field name string
---@field state_dir string absolute
---@field components table<string, slipway.Component>
---@field order string[] component names in the order of the file
---@field environments? table raw; validated by slipway.environments
---@field stages? table raw
---@field notify? table raw
---@field raw table the whole file

---Load and validate; path is a directory holding slipway.yaml or the file
---(default: found from the current directory upwards).
---@param path? string
---@return slipway.Manifest
function manifest.load(path) end

---Validate a text (path names it in errors).
---@param text string
---@param path? string
---@return slipway.Manifest
function manifest.parse(text, path) end

---The nearest slipway.yaml in dir or its parents, or nil.
---@param dir? string
---@return string?
function manifest.find(dir) end

---A driver's options block checked against its declared schema
---(driver.options): unknown keys (with a did-you-mean), types, ranges;
---raises code "manifest" naming slipway.yaml:LINE:COLUMN and the key.
---@param m slipway.Manifest|nil
---@param keys (string|integer)[] the key path of the block
---@param value table|nil
---@param schema table<string, table>
---@return table
function manifest.check_options(m, keys, value, schema) end

---Line and column of a key path ("environments.staging.checks[2]", or a
---key list with 1-based positions) in the loaded manifest's file, or nil.
---@param m slipway.Manifest
---@param keypath string|(string|integer)[]
---@return integer? line
---@return integer? column
function manifest.line(m, keypath) end

---The name of names (a list or a set) closest to word, or nil.
---@param word string
---@param names string[]|table<string, any>
---@return string?
function manifest.did_you_mean(word, names) end

---path made absolute with $PWD when $PWD really is the current directory.
---@param path string
---@return string
function manifest.absolute(path) end

---Raise code "manifest" for a key path of the loaded manifest, naming
---slipway.yaml and the line of the deepest key that exists.
---@param m slipway.Manifest
---@param keys (string|integer)[] e.g. {"environments", "staging", "releases", 2}
---@param msg string
function manifest.fail(m, keys, msg) end

---Whether path names a KEY=value file (`*.env`): a location there reads and
---writes a variable.
---@param path string
---@return boolean
function manifest.is_env_file(path) end

return manifest
