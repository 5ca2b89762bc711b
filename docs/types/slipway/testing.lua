---@meta slipway.testing
-- The spec harness of slipway's own tests (docs/testing.md).

---@class slipway.testing
local testing = {}

---Register a test.
---@param name string
---@param fn fun()
---@param opts? {timeout?: number, skip?: string}
function testing.test(name, fn, opts) end

---Run the registered tests, each as a task with a timeout; prints
---"ok - name" / "not ok - name" and exits 1 when any failed.
function testing.run() end

---Skip the running test.
---@param why string
function testing.skip(why) end

---got == want (deep comparison for tables).
---@param got any
---@param want any
---@param what? string
function testing.eq(got, want, what) end

---@param got any
---@param other any
---@param what? string
function testing.ne(got, other, what) end

---@generic T
---@param v T
---@param what? string
---@return T
function testing.truthy(v, what) end

---@param v any
---@param what? string
function testing.falsy(v, what) end

---s matches the Lua pattern pat.
---@param s string
---@param pat string
---@param what? string
function testing.match(s, pat, what) end

---@param s string
---@param pat string
---@param what? string
function testing.nomatch(s, pat, what) end

---|a - b| <= eps.
---@param a number
---@param b number
---@param eps number
---@param what? string
function testing.near(a, b, eps, what) end

---fn must raise; returns the error (its message matched against pat).
---@param fn fun()
---@param pat? string
---@param what? string
---@return any
function testing.raises(fn, pat, what) end

---Deep equality.
---@param a any
---@param b any
---@return boolean
function testing.deep_eq(a, b) end

---A value as readable text (tables expanded).
---@param v any
---@return string
function testing.show(v) end

return testing
