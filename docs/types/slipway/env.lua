---@meta slipway.env
-- The process environment (docs/env.md).

---@class slipway.env
local env = {}

---The value, or `default` when unset.
---@param name string
---@param default? string
---@return string?
function env.get(name, default) end

---The value; raises code "env" when unset or empty.
---@param name string
---@param why? string added to the message
---@return string
function env.require(name, why) end

---Like require, and registers the value as a secret. With optional = true an
---unset variable gives nil.
---@param name string
---@param opts? string|{why?: string, optional?: boolean}
---@return string?
function env.secret(name, opts) end

---A KEY=value file (cert-manager.env) opened for editing with the interface
---bump uses on YAML documents: has, get, set, diff, changed, save. An edit
---changes exactly one line.
---@param path string
---@return {has: fun(self, name: string): boolean, get: fun(self, name: string): string?, set: fun(self, name: string, value: string), diff: fun(self): string, changed: fun(self): boolean, save: fun(self, path?: string)}
function env.open_file(path) end

---The assignments of a KEY=value file's text (`export NAME=value`, quotes,
---comments): vars and their order. Raises code "env" naming name:line.
---@param text string
---@param name? string the file, for messages
---@return table<string, string> vars
---@return string[] order
function env.parse_file(text, name) end

---env.parse_file of the file at path.
---@param path string
---@return table<string, string> vars
---@return string[] order
function env.read_file(path) end

return env
