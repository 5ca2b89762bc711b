---@meta _
-- LuaLS / EmmyLua type definitions of slipway's public Lua API
-- (https://luals.github.io/wiki/annotations/), for completion and type
-- checks in VS Code (sumneko.lua) and Neovim (lua_ls).
--
-- One file per module under slipway/ (slipway/fs.lua is `---@meta slipway.fs`,
-- so `require "slipway.fs"` resolves to it); this file (`---@meta _`, not
-- requirable) holds the types they share. Point the
-- language server at this directory, e.g. in the deployment repository's
-- .luarc.json:
--
--   {"runtime.version": "Lua 5.4",
--    "workspace.library": ["/path/to/slipway/docs/types"]}
--
-- tests/lua/docs_spec.lua checks that every function declared here exists in
-- the running binary and that every public function is declared here.

---A structured error (metatable "slipway.error"): a failure of the world.
---`tostring(err)` is its message. Misuse of an API raises a plain string.
---@class slipway.Error
---@field message string what happened, starting with the caller's "file:line:"; secrets masked
---@field code string a short stable word: "ENOENT", "timeout", "exit", "http", "locked", ...
---@field [string] any fields that depend on the code (path, holder, status, ...)

---A command: an argv list, never a shell string.
---@alias slipway.Argv string[]

---@alias slipway.LogLevel "debug"|"info"|"warn"|"error"
