---@meta slipway.args
-- The one command-line parser (docs/args.md).

---An option declaration.
---@class slipway.args.Option
---@field name string letters, digits, dashes: --name
---@field type? "string"|"number"|"integer"|"boolean"|string[] (a list: the allowed values)
---@field default? any
---@field help? string
---@field metavar? string the value's name in the help
---@field short? string one letter: -n
---@field optional_value? boolean --resume [RUN]
---@field repeatable? boolean values collected in a list
---@field stop? boolean leave the words after it unparsed (in .rest)
---@field group? "global"

---A positional argument declaration.
---@class slipway.args.Positional
---@field name string
---@field type? "string"|"number"|"integer"|"boolean"|string[]
---@field optional? boolean
---@field variadic? boolean the remaining words, a list
---@field help? string
---@field default? any

---@class slipway.args.Spec
---@field prog? string e.g. "slipway deploy"
---@field description? string
---@field options? slipway.args.Option[]
---@field positionals? slipway.args.Positional[]
---@field rest? boolean leave the words after the last positional in .rest
---@field epilog? string

---@class slipway.args.Parser
local Parser = {}

---Parse argv: the values by name (dashes -> underscores), positionals also
---at [1..n]; {help = true} for --help/-h; raises a "usage" error.
---@param argv string[]
---@param opts? {stop_at_positional: boolean?}
---@return table
function Parser:parse(argv, opts) end

---The --help text.
---@return string
function Parser:help() end

---The usage line(s); opts.bare: only the options and positionals.
---@param opts? {bare: boolean?}
---@return string
function Parser:synopsis(opts) end

---Declare one more option.
---@param o slipway.args.Option
---@return slipway.args.Parser
function Parser:add(o) end

---Raise the usage error for an unknown option (with its suggestion).
---@param word string
function Parser:unknown(word) end

---Every option spelling (suggestions are chosen from these).
---@return string[]
function Parser:spellings() end

---@class slipway.args
---@field GLOBAL slipway.args.Option[] the global options
local args = {}

---A parser for one command line.
---@param spec slipway.args.Spec
---@return slipway.args.Parser
function args.parser(spec) end

---The near miss of word among candidates (unique prefix, or edit distance <= 2).
---@param word string
---@param candidates string[]
---@return string?
function args.suggest(word, candidates) end

---The edit (Levenshtein) distance of two strings.
---@param a string
---@param b string
---@return integer
function args.distance(a, b) end

---The help lines of a list of option declarations.
---@param options slipway.args.Option[]
---@return string
function args.options_help(options) end

---One list of the declarations of several lists.
---@param ... slipway.args.Option[]
---@return slipway.args.Option[]
function args.concat(...) end

---Store the global options found in values in slipway.runtime.options;
---removes them from values.
---@param values table
---@return table
function args.set_global(values) end

return args
