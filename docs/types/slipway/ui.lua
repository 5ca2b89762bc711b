---@meta slipway.ui
-- Asking the operator (docs/runbooks.md): questions that refuse (code
-- "refused") instead of hanging when nobody can answer.

---@class slipway.ui
local ui = {}

---@alias slipway.Plan string|string[]|({argv: string[], env?: table<string, string>, cwd?: string}|{diff: string}|{text: string})[]

---Show the plan, ask; true to go ahead.
---@param question string
---@param opts? {plan?: slipway.Plan, default?: boolean}
---@return boolean
function ui.confirm(question, opts) end

---A numbered list; answer with the number or the label. Returns the option
---(or its value for {label =, value =} options).
---@param question string
---@param options (string|{label: string, value: any})[]
---@param opts? {default?: any}
---@return any
function ui.choose(question, options, opts) end

---A line of text; validate(s) returns true to accept (or false and a message).
---@param question string
---@param opts? {default?: string, validate?: fun(s: string): boolean}
---@return string
function ui.input(question, opts) end

---A left-aligned table with a header row.
---@param rows table[]
---@param columns (string|{[1]: string, key: string})[]
---@return string
function ui.table(rows, columns) end

---kubectl's age style: "45s", "10m", "3h", "2d".
---@param seconds number
---@return string
function ui.age(seconds) end

---The width in columns of the terminal on fd (default 1): the kernel's, else
---$COLUMNS; 100 when fd is not a terminal.
---@param fd? integer
---@return integer
function ui.width(fd) end

---s cut to width characters (UTF-8), ending in "…" when cut.
---@param s string
---@param width integer
---@return string
function ui.fit(s, width) end

---Write to the operator (stderr unless setup said otherwise), redacted.
---@param ... any
function ui.print(...) end

---Who answers: yes, dry_run, input = fn(prompt) -> line, out, tty, journal,
---name. Returns the previous settings.
---@param opts {yes?: boolean, dry_run?: boolean, input?: fun(prompt: string): string?, out?: file*, tty?: boolean, journal?: slipway.Journal, name?: string}
---@return table previous
function ui.setup(opts) end

---The answers given so far (as journalled).
---@return table[]
function ui.answers() end

return ui
