---@meta slipway.version
-- Reading and ordering versions (docs/version.md): semver, helm, pep440, gitdescribe.

---@class slipway.version
---@field schemes table<string, table> the schemes by name
local version = {}

---@alias slipway.Scheme "semver"|"helm"|"pep440"|"gitdescribe"|("semver"|"helm")[]|("pep440"|"gitdescribe")[]

---@class slipway.ParsedVersion
---@field text string
---@field scheme string the first declared scheme that reads it
---@field family string
---@field prerelease boolean

---@class slipway.VersionOpts
---@field scheme? slipway.Scheme default "semver"
---@field constraint? string Helm syntax for semver; <, <=, >, >=, ==, != otherwise
---@field devel? boolean pre-releases qualify
---@field field? string the field of table items holding the version (default "version")
---@field descending? boolean version.sort: best first (default true)

---A parsed constraint.
---@class slipway.VersionConstraint
---@field text string
local VersionConstraint = {}

---Whether v satisfies the constraint (devel lifts Helm's pre-release gate).
---@param v string|slipway.ParsedVersion
---@param devel? boolean
---@return boolean
function VersionConstraint:check(v, devel) end

---Parse s by the scheme(s); nil and the reason when it cannot be read.
---@param s string
---@param scheme? slipway.Scheme
---@return slipway.ParsedVersion?
---@return string? reason
function version.parse(s, scheme) end

---@param a string
---@param b string
---@param scheme? slipway.Scheme
---@return -1|0|1
function version.compare(a, b, scheme) end

---True when b is strictly newer than a.
---@param a string
---@param b string
---@param scheme? slipway.Scheme
---@return boolean
function version.newer(a, b, scheme) end

---The best qualifying version string (or nil) and the item it came from.
---@param list (string|table)[]
---@param opts? slipway.VersionOpts
---@return string?
---@return any item
function version.latest(list, opts) end

---Qualifying items best first, and the skipped ones {item, text, reason, detail}.
---@param list (string|table)[]
---@param opts? slipway.VersionOpts
---@return any[]
---@return {item: any, text: string, reason: "unreadable"|"pre-release"|"constraint", detail: string?}[]
function version.sort(list, opts) end

---Parse a constraint; a plain error when it is malformed.
---@param s string
---@param scheme? slipway.Scheme
---@return slipway.VersionConstraint
function version.constraint(s, scheme) end

---The git sha a version carries (…git.3983.h383374de → 383374de), or nil.
---@param s string
---@return string?
function version.sha(s) end

---Seconds since the epoch for an RFC 3339 time, or nil.
---@param s string
---@return number?
function version.timestamp(s) end

---The list of scheme names (validates).
---@param scheme? slipway.Scheme
---@return string[]
function version.schemes_of(scheme) end

---Compare two strings of digits as numbers of any length: -1, 0, 1.
---@param a string
---@param b string
---@return -1|0|1
function version.numcmp(a, b) end

return version
