---@meta slipway.yaml
-- YAML on libyaml: loading, deterministic dumping, Helm's merge, and
-- lossless verified edits (docs/yaml.md). Bad input raises code "yaml" with
-- file, line and column.

---@class slipway.yaml
---@field null lightuserdata the sentinel for YAML null inside sequences and mappings
---@field sequence_mt table metatable marking an (empty) table as a sequence
local yaml = {}

---@class slipway.YamlLoadOpts
---@field schema? "helm"|"core"|"json"|"failsafe" default "helm"
---@field merge? boolean merge keys (<<), default on for helm
---@field max_depth? integer (1000)
---@field max_aliases? integer nodes an alias expansion may copy (100000)
---@field max_size? integer bytes (256 MiB)
---@field file? string name for errors

---@class slipway.YamlDumpOpts
---@field order? string[] mapping keys written first, in this order
---@field indent? integer (2)

---A path: "a.b[0].c", "deps[name=x].version", 'a["k.with.dots"]', or a list of segments.
---@alias slipway.YamlPath string|(string|integer)[]

---@class slipway.YamlEditOpts
---@field doc? integer|table which document of a multi-document text (1-based, or {kind = "Deployment"})
---@field shared? boolean allow editing an anchored node that aliases use
---@field file? string name in errors and path for :save()
---@field schema? string schema the edit is verified with (default "helm")

---A document open for lossless edits: comments, layout, quoting and anchors
---elsewhere stay byte for byte; every edit is verified by re-parsing.
---@class slipway.YamlDoc
local YamlDoc = {}

---The value at path (aliases and merge keys followed); raises code "path" when nothing is there.
---@param path slipway.YamlPath
---@param opts? slipway.YamlEditOpts
---@return any
function YamlDoc:get(path, opts) end

---Whether path names a node.
---@param path slipway.YamlPath
---@param opts? slipway.YamlEditOpts
---@return boolean
function YamlDoc:has(path, opts) end

---Replace the value at path, keeping its quoting when the value allows it.
---Returns the alias paths that change with it.
---@param path slipway.YamlPath
---@param value any
---@param opts? slipway.YamlEditOpts
---@return string[]
function YamlDoc:set(path, value, opts) end

---Add an item at the end of the sequence at path.
---@param path slipway.YamlPath
---@param value any
---@param opts? slipway.YamlEditOpts
function YamlDoc:append(path, value, opts) end

---Add `key: value` at the end of the mapping at path (the key must not exist).
---@param path slipway.YamlPath
---@param key string
---@param value any
---@param opts? slipway.YamlEditOpts
function YamlDoc:insert(path, key, value, opts) end

---Remove a mapping entry or a sequence item (its lines).
---@param path slipway.YamlPath
---@param opts? slipway.YamlEditOpts
function YamlDoc:delete(path, opts) end

---Number of documents in the text.
---@return integer
function YamlDoc:documents() end

---The current text.
---@return string
function YamlDoc:text() end

---Unified diff from the text as opened ("" when unchanged); secrets masked.
---@return string
function YamlDoc:diff() end

---Whether the text differs from the one opened.
---@return boolean
function YamlDoc:changed() end

---Write the text atomically to path or to the file it was opened from.
---@param path? string
function YamlDoc:save(path) end

---@class slipway.YamlNode
---@field kind "scalar"|"mapping"|"sequence"|"alias"
---@field style? string
---@field line integer
---@field col integer
---@field start integer 1-based byte position in doc:text()
---@field vstart integer start without an anchor or tag
---@field stop integer
---@field parent? integer
---@field last integer the last node id of the subtree
---@field value? any
---@field tag? string
---@field anchor? string
---@field alias? string

---Node-level access: the node ids at path (mode "get" follows aliases,
---"edit" refuses them). Ids change after every edit.
---@param path slipway.YamlPath
---@param opts? slipway.YamlEditOpts
---@param mode? "get"|"edit"
---@param level? integer
---@return {node: integer, key: integer?, parent: integer?, segs: table}
function YamlDoc:resolve(path, opts, mode, level) end

---The node with id i.
---@param i integer
---@return slipway.YamlNode
function YamlDoc:node(i) end

---Child ids (a mapping's are key, value, key, value, ...).
---@param i integer
---@return integer[]
function YamlDoc:children(i) end

---A path of node i, for messages.
---@param i integer
---@return string
function YamlDoc:path_of(i) end

---The one document of text (nil for an empty text).
---@param text string
---@param opts? slipway.YamlLoadOpts
---@return any
function yaml.load(text, opts) end

---Every document, in order.
---@param text string
---@param opts? slipway.YamlLoadOpts
---@return any[]
function yaml.load_all(text, opts) end

---Load a file (errors name the path).
---@param path string
---@param opts? slipway.YamlLoadOpts
---@return any
function yaml.load_file(path, opts) end

---Every document of a file.
---@param path string
---@param opts? slipway.YamlLoadOpts
---@return any[]
function yaml.load_all_file(path, opts) end

---Block-style YAML, keys sorted (or opts.order first), strings quoted when
---any schema would read them as something else.
---@param value any
---@param opts? slipway.YamlDumpOpts
---@return string
function yaml.dump(value, opts) end

---Each value as a document after "---".
---@param list any[]
---@param opts? slipway.YamlDumpOpts
---@return string
function yaml.dump_all(list, opts) end

---Merge like `helm -f a -f b`: mappings recursively, sequences and scalars
---replace, null deletes a key. The inputs are not modified.
---@param base any
---@param ... any overlays
---@return any
function yaml.merge(base, ...) end

---A deep copy (metatables kept).
---@generic T
---@param v T
---@return T
function yaml.copy(v) end

---Whether a table is written as a sequence.
---@param t table
---@return boolean
function yaml.is_sequence(t) end

---The YAML text of a scalar value (nil for a table).
---@param v any
---@return string?
function yaml.scalar_text(v) end

---Open a file for lossless edits.
---@param path string
---@param opts? slipway.YamlEditOpts
---@return slipway.YamlDoc
function yaml.open(path, opts) end

---The same for a string (doc:save needs a path).
---@param text string
---@param opts? slipway.YamlEditOpts
---@return slipway.YamlDoc
function yaml.edit(text, opts) end

return yaml
