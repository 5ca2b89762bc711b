--- slipway.yaml.edit: lossless, verified edits of YAML text.
--
--   local doc = yaml.open("mybinder/Chart.yaml")
--   doc:get("dependencies[name=binderhub].version")
--   doc:set("dependencies[name=binderhub].version", "1.0.0-0.dev.git.4000.habc")
--   doc:append("binderhub.ingress.hosts", "new.example.org")
--   doc:insert("binderhub.config.BinderHub", "pod_quota", 10)
--   doc:delete("binderhub.hpa")
--   print(doc:diff()); doc:save()
--
-- How: libyaml gives every node's byte range (core.index); an edit splices
-- new text over exactly the bytes of the node it changes, so comments,
-- blank lines, indentation, quoting elsewhere, anchors, CRLF, a BOM and the
-- final newline stay as they were. Then the new text is indexed again and
-- compared with the old one node by node (core.compare): outside the edited
-- region every node must be identical, and the region must load as exactly
-- the intended value; otherwise the edit raises (code "edit") and the
-- document is unchanged.
--
-- Paths: `a.b.c`, `list[3].x` and `list.3.x` (0-based indices; -1 is the
-- last item), `deps[name=binderhub].version` (the one item whose `name` is
-- binderhub), `annotations["example.com/x"]` (quoted keys), or a table of
-- segments {"a", "b", 0}. opts.doc = N (1-based) or {kind = "Deployment"}
-- picks a document of a multi-document file.
--
-- Anchors and aliases (docs/yaml.md): a path that goes through an alias is
-- refused for edits (the error names the anchored node to edit instead);
-- setting or deleting an alias node itself is fine. Editing a node that
-- carries an anchor (or lies inside one) that aliases use is refused unless
-- opts.shared = true: then the anchored node is edited, and the call returns
-- the paths of the aliases that change with it.
local core = require "slipway.yaml.core"
local score = require "slipway.core"
local yaml = require "slipway.yaml"
local spath = require "slipway.path"

local null = core.null
local E = {}
local Doc = {}
Doc.__index = Doc

local function raise(code, msg, fields, level)
  score.raise(code, msg, fields, (level or 1) + 1)
end

-- Misuse raises a plain error in the form of luaL_argerror (arguments of a
-- method counted after self): "bad argument #3 to 'set' (table expected,
-- got number)".
local function argerror(n, fname, msg, level)
  error(string.format("bad argument #%d to '%s' (%s)", n, fname, msg), level + 1)
end

local function check_arg(v, n, fname, want, level)
  local t = type(v)
  for w in want:gmatch("[^|]+") do
    if t == w then return v end
  end
  argerror(n, fname, want:gsub("|", " or ") .. " expected, got " .. (v == nil and "no value" or t), level + 1)
end

-- opts of a public call: nil or a table
local function check_opts(opts, n, fname, level)
  if opts ~= nil then check_arg(opts, n, fname, "table", level + 1) end
  return opts
end

-- ---- paths -------------------------------------------------------------------
-- The path syntax has one reader, slipway.path (docs/path.md).

local parse_path = spath.parse
E.parse_path = parse_path
local path_text = spath.format

-- a name for a message: at most 60 bytes (cut on a character boundary), so
-- that a hostile 70,000-character anchor cannot fill the terminal
local function cut(name)
  name = tostring(name)
  if #name <= 60 then return name end
  local n = 57
  while n > 0 and ((name:byte(n + 1) or 0) & 0xC0) == 0x80 do n = n - 1 end
  return name:sub(1, n) .. "... (" .. #name .. " bytes)"
end

-- at most the first `max` items of a list, then "and N more"
local function some(list, max)
  if #list <= max then return table.concat(list, ", ") end
  return table.concat(list, ", ", 1, max) .. string.format(" and %d more", #list - max)
end

-- ---- the document ------------------------------------------------------------

-- the options of yaml.open/yaml.edit that core.index reads (thread: the
-- parser thread for big texts, as yaml.load)
local function index_opts(opts)
  return {schema = opts.schema, merge = opts.merge, max_depth = opts.max_depth,
          max_aliases = opts.max_aliases, max_size = opts.max_size, thread = opts.thread}
end

local function new_index(text, opts, file)
  local idx, err = core.index(text, index_opts(opts))
  if not idx then yaml._raise(err, text, file, 4) end
  return idx
end

local function newline_of(text)
  local i = text:find("\n", 1, true)
  if i and i > 1 and text:byte(i - 1) == 13 then return "\r\n" end
  return "\n"
end

--- doc = edit.edit(text, opts): opts.file (name in errors, path for save),
-- schema (default "helm", used to verify), doc (default document).
function E.edit(text, opts)
  check_arg(text, 1, "edit", "string", 2)
  opts = check_opts(opts, 2, "edit", 2) or {}
  local d = setmetatable({
    orig = text, src = text, file = opts.file or opts.path, opts = opts,
    nl = newline_of(text), cache = {},
  }, Doc)
  d.idx = new_index(text, opts, d.file)
  return d
end

--- doc = edit.open(path, opts)
function E.open(path, opts)
  check_arg(path, 1, "open", "string", 2)
  check_opts(opts, 2, "open", 2)
  local o = {}
  for k, v in pairs(opts or {}) do o[k] = v end
  o.file = path
  return E.edit(require("slipway.fs").read(path), o)
end

function Doc:node(i)
  local n = self.cache[i]
  if not n then
    n = self.idx:node(i)
    self.cache[i] = n
  end
  return n
end

function Doc:children(i) return self.idx:children(i) end

local function key_matches(self, kn, key)
  local n = self:node(kn)
  if n.kind ~= "scalar" then return false end
  if n.value == key then return true end
  local v = self.idx:data(kn)
  return yaml._keystr(v) == key
end

-- the key node of node i, a value in a mapping (nil when i is not one)
local function key_index(self, i)
  local n = self:node(i)
  if not n.parent then return nil end
  local kids = self:children(n.parent)
  for k = 2, #kids, 2 do if kids[k] == i then return kids[k - 1] end end
  return nil
end

-- the path of node i, for messages
function Doc:path_of(i)
  local segs = {}
  while true do
    local n = self:node(i)
    local p = n.parent and self:node(n.parent)
    if not p or p.kind == "document" then break end
    local kids = self:children(p.index)
    if p.kind == "mapping" then
      local key = key_index(self, i)
      if key then table.insert(segs, 1, {key = self:node(key).value or "?"}) end
    else
      for k = 1, #kids do
        if kids[k] == i then table.insert(segs, 1, {index = k - 1}) end
      end
    end
    i = p.index
  end
  local s = path_text(segs)
  return s == "" and "(root)" or s
end

function Doc:where(i)
  return string.format("%s:%d", self.file or "<yaml>", self:node(i).line)
end

-- the document node to work in
function Doc:pick_doc(opts, path)
  local docs = self.idx:docs()
  local sel = opts and opts.doc
  if sel == nil then sel = self.opts.doc end
  if sel == nil then
    if #docs == 1 then return docs[1] end
    if #docs == 0 then raise("path", (self.file or "<yaml>") .. ": the text has no document", {path = path}, 4) end
    raise("path", string.format("%s: %d documents; pass {doc = N} (1-based) or {doc = {kind = ...}} "
      .. "to pick one for %q", self.file or "<yaml>", #docs, tostring(path)), {path = path}, 4)
  end
  if math.type(sel) == "integer" then
    if not docs[sel] then
      raise("path", string.format("%s: no document %d (the text has %d)", self.file or "<yaml>", sel, #docs),
        {path = path}, 4)
    end
    return docs[sel]
  end
  if type(sel) == "table" then
    local found = {}
    for _, di in ipairs(docs) do
      local v = self.idx:data(di)
      local ok = type(v) == "table"
      for k, want in pairs(sel) do
        if not ok then break end
        ok = spath.get(v, tostring(k)) == want
      end
      if ok then found[#found + 1] = di end
    end
    if #found ~= 1 then
      raise("path", string.format("%s: %d documents match the document filter", self.file or "<yaml>", #found),
        {path = path}, 4)
    end
    return found[1]
  end
  error("yaml: opts.doc must be an integer or a table", 4)
end

-- Walk a path. Returns a table {node=, key=(key node), parent=, segs=} or
-- raises a "path" error that lists what was there. mode "get" follows
-- aliases; "edit" refuses to go through one.
function Doc:resolve(path, opts, mode, level)
  level = (level or 1) + 1
  local segs = parse_path(path)
  local doc = self:pick_doc(opts, path)
  local cur = self:children(doc)[1]
  local key, parent
  local function fail(i, msg)
    raise("path", string.format("%s: path %q: %s", self.file or "<yaml>", path_text(segs), msg),
      {path = path_text(segs), segment = i, file = self.file}, level + 1)
  end
  for si, seg in ipairs(segs) do
    local n = self:node(cur)
    if n.kind == "alias" then
      local t = self.idx:target(cur)
      if mode == "edit" then
        fail(si, string.format("%s (line %d) is the alias *%s: edits do not go through aliases; "
          .. "edit the anchored node &%s at %q (line %d) instead",
          cut(path_text(segs, si - 1)), n.line, cut(n.alias), cut(n.alias), t and cut(self:path_of(t)) or "?",
          t and self:node(t).line or 0))
      end
      if not t then fail(si, "alias *" .. cut(n.alias) .. " has no anchor") end
      cur = t
      n = self:node(cur)
    end
    local here = path_text(segs, si - 1)
    if here == "" then here = "the root" end
    if seg.filter or seg.index or (seg.num and n.kind == "sequence") then
      if n.kind ~= "sequence" then
        fail(si, string.format("%s (line %d) is a %s, not a sequence", here, n.line,
          n.kind == "scalar" and ("scalar " .. string.format("%q", n.value)) or n.kind))
      end
      local kids = self:children(cur)
      if seg.filter then
        local fk, fv = seg.filter[1], seg.filter[2]
        local found, seen = {}, {}
        for _, item in ipairs(kids) do
          local it = self:node(item)
          local val
          if it.kind == "mapping" then
            local ik = self:children(item)
            for k = 1, #ik, 2 do
              if key_matches(self, ik[k], fk) then
                local vn = self:node(ik[k + 1])
                val = vn.value or yaml._keystr(self.idx:data(ik[k + 1]))
                if val == fv or yaml._keystr(self.idx:data(ik[k + 1])) == fv then
                  found[#found + 1] = item
                end
              end
            end
          end
          seen[#seen + 1] = val and string.format("%q", val) or ("(" .. it.kind .. ")")
        end
        if #found ~= 1 then
          fail(si, string.format("%d items of %s (line %d) have %s=%s; their %s values: %s",
            #found, here, n.line, fk, fv, fk, table.concat(seen, ", ")))
        end
        parent, key, cur = cur, nil, found[1]
      else
        local ix = seg.index or seg.num
        local k = ix < 0 and #kids + ix + 1 or ix + 1
        if not kids[k] then
          fail(si, string.format("%s (line %d) has %d items; no index %d", here, n.line, #kids, ix))
        end
        parent, key, cur = cur, nil, kids[k]
      end
    else
      if n.kind ~= "mapping" then
        fail(si, string.format("%s (line %d) is a %s, not a mapping", here, n.line,
          n.kind == "scalar" and ("scalar " .. string.format("%q", n.value)) or n.kind))
      end
      -- the key nodes that read as seg.key (core: no table per key)
      local found, merge = self.idx:find(cur, seg.key)
      if #found == 0 then
        if merge and mode == "get" then
          -- the key may come from a merge key: finish on the data
          return {data = self.idx:data(cur), rest = {table.unpack(segs, si)}, segs = segs}
        end
        local names, kids = {}, self:children(cur)
        for k = 1, #kids, 2 do
          local kn = self:node(kids[k])
          names[#names + 1] = kn.value or ("(" .. kn.kind .. ")")
        end
        local msg = string.format("no key %q in %s (line %d); keys there: %s", seg.key, here, n.line,
          #names > 0 and table.concat(names, ", ") or "(none)")
        if merge then
          msg = msg .. string.format("; it may come from the merge key (<<) at line %d: edit the merged mapping",
            self:node(merge).line)
        end
        fail(si, msg)
      elseif #found > 1 then
        local lines = {}
        for _, k in ipairs(found) do lines[#lines + 1] = tostring(self:node(k).line) end
        fail(si, string.format("key %q appears %d times in %s (lines %s)", seg.key, #found, here,
          table.concat(lines, ", ")))
      end
      parent, key, cur = cur, found[1], self:node(found[1]).last + 1
    end
  end
  return {node = cur, key = key, parent = parent, segs = segs, doc = doc}
end

--- v = doc:get(path, opts): the value at path (aliases and merge keys
-- followed, as yaml.load reads them). Raises "path" when nothing is there.
function Doc:get(path, opts)
  if path ~= nil then check_arg(path, 1, "get", "string|table", 2) end
  check_opts(opts, 2, "get", 2)
  local r = self:resolve(path or "", opts, "get", 2)
  if r.data then
    local v = spath.get(r.data, r.rest)
    if v == nil then
      raise("path", string.format("%s: path %q: nothing there (also not from merge keys)",
        self.file or "<yaml>", path_text(r.segs)), {path = path_text(r.segs)}, 2)
    end
    return v
  end
  local v, err = self.idx:data(r.node)
  if v == nil then raise("yaml", (self.file or "<yaml>") .. ": " .. tostring(err), {}, 2) end
  return v
end

--- b = doc:has(path, opts): whether path names a node.
function Doc:has(path, opts)
  if path ~= nil then check_arg(path, 1, "has", "string|table", 2) end
  check_opts(opts, 2, "has", 2)
  return (pcall(self.get, self, path, opts))
end

--- n = doc:documents(): number of documents in the text.
function Doc:documents() return #self.idx:docs() end

--- s = doc:text(): the current text.
function Doc:text() return self.src end

-- ---- anchors ------------------------------------------------------------------

-- aliases elsewhere that point into node i (or at an ancestor of it)
function Doc:shared_users(i)
  local anchored = {}
  local a = i
  while a do
    local n = self:node(a)
    if n.anchor then anchored[#anchored + 1] = a end
    a = n.parent
  end
  if #anchored == 0 then return {} end
  local users = {}
  local di = i
  while self:node(di).parent do di = self:node(di).parent end
  local dn = self:node(di)
  for k = di, dn.last do
    local n = self.idx:node(k)
    if n.kind == "alias" then
      local t = self.idx:target(k)
      for _, an in ipairs(anchored) do
        if t == an then users[#users + 1] = {alias = k, anchor = an, name = n.alias, line = n.line} end
      end
    end
  end
  return users
end

function Doc:check_shared(i, opts, what, level)
  local users = self:shared_users(i)
  if #users == 0 then return {} end
  local shared = (opts and opts.shared) or self.opts.shared
  local paths = {}
  for _, u in ipairs(users) do paths[#paths + 1] = cut(self:path_of(u.alias)) .. " (line " .. u.line .. ")" end
  if not shared then
    local u = users[1]
    raise("edit", string.format("%s: cannot %s %s: it is %s the anchored node &%s (line %d), "
      .. "which is also used through aliases at %s; that edit would change them too. "
      .. "Pass {shared = true} to edit the anchored node and every alias with it, or edit the alias sites",
      self.file or "<yaml>", what, cut(self:path_of(i)), u.anchor == i and "" or "inside", cut(u.name),
      self:node(u.anchor).line, some(paths, 5)),
      {file = self.file, aliases = paths}, level + 1)
  end
  return paths
end

-- ---- text helpers ---------------------------------------------------------------

local BOM = "\xEF\xBB\xBF"

-- start of the line holding pos; the first line starts after a BOM (it is
-- no part of the line: columns, indentation and deleted lines exclude it)
local function line_start(text, pos)
  while pos > 1 and text:byte(pos - 1) ~= 10 do pos = pos - 1 end
  if pos == 1 and text:sub(1, 3) == BOM then return 4 end
  return pos
end

-- the end of the line holding pos (where its "\r\n" or "\n" starts, or
-- #text + 1) and whether the rest of that line from pos is blank: an empty
-- value's line keeps its comment but not spaces after the new value
local function line_rest(text, pos)
  local eol = text:find("\r?\n", pos) or (#text + 1)
  return eol, not text:sub(pos, eol - 1):find("[^ \t]")
end

-- position just after the line holding the end of node i's content
function Doc:after_line(i)
  local n = self:node(i)
  local p = n.stop
  local text = self.src
  while p > n.vstart and text:sub(p, p):match("[ \t\r\n]") do p = p - 1 end
  local nl = text:find("\n", p + 1, true)
  if nl then return nl + 1, true end
  return #text + 1, false
end

-- column (0-based bytes) of the indentation of the line holding pos
local function col_of(text, pos)
  return pos - line_start(text, pos)
end

local function only_space_before(text, pos)
  local ls = line_start(text, pos)
  return not text:sub(ls, pos - 1):find("[^ \t]")
end

-- position just after node n's properties (its anchor and tag tokens, all
-- before n.vstart: an empty node's "&x" must not take the next key's tag)
local function props_end(text, n)
  local p, after = n.start, n.start
  while p < n.vstart do
    local c = text:sub(p, p)
    if c ~= "&" and c ~= "!" then break end
    after = text:find("[ \t\r\n]", p) or (#text + 1)
    p = text:find("[^ \t\r\n]", after) or (#text + 1)
  end
  return after
end

-- Where a new block value of node n starts being written. With properties
-- (`key: &x` then the old value on the next lines, or `key: &x [1]`) the
-- properties stay and the value follows them directly: replacing from the
-- last line break before the old value keeps comments on the lines between
-- and leaves no line of only spaces (or a space before the line break).
-- (break_before: where the line break before the line holding pos starts)
local function break_before(text, pos)
  local from = line_start(text, pos) - 1
  if text:byte(from - 1) == 13 then from = from - 1 end
  return from
end

local function block_from(text, n)
  local pe = props_end(text, n)
  if n.vstart > pe and line_start(text, n.vstart) > pe then return break_before(text, n.vstart) end
  return pe
end

-- the ":" that starts the value of key node k (after spaces, line breaks
-- and comments), or nil (an explicit "? key" without a value)
function Doc:value_colon(k)
  local text = self.src
  local p = self:node(k).stop + 1
  while p <= #text do
    local c = text:sub(p, p)
    if c == ":" then return p end
    if c == "#" then
      p = text:find("\n", p, true)
      if not p then return nil end
    elseif not c:match("[ \t\r\n]") then
      return nil
    end
    p = p + 1
  end
  return nil
end

-- raise a structured error for a document shape an edit does not handle
function Doc:unsupported(i, what, level)
  local n = self:node(i)
  raise("edit", string.format("%s:%d:%d: %s", self.file or "<yaml>", n.line, n.col, what),
    {file = self.file, line = n.line, column = n.col}, level + 1)
end

function Doc:indent_unit()
  if self._unit then return self._unit end
  local unit = 2
  local idx = self.idx
  for i = 1, math.min(idx:count(), 2000) do
    local n = self:node(i)
    if n.kind == "mapping" and n.style == "block" and n.parent then
      local p = self:node(n.parent)
      local key = p.kind == "mapping" and key_index(self, i)
      if key then
        local kn = self:node(key)
        if n.line > kn.line and n.col > kn.col then unit = n.col - kn.col; goto done end
      end
    end
  end
  ::done::
  self._unit = unit
  return unit
end

-- how far sequences under a mapping key are indented (0 or unit)
function Doc:seq_indent()
  if self._seqind then return self._seqind end
  local ind = self:indent_unit()
  local idx = self.idx
  for i = 1, math.min(idx:count(), 2000) do
    local n = self:node(i)
    local key = n.kind == "sequence" and n.style == "block" and n.parent
      and self:node(n.parent).kind == "mapping" and key_index(self, i)
    if key then
      local kn = self:node(key)
      local first = self:children(i)[1]
      local dash = first and self:dash_pos(first)
      if dash then ind = col_of(self.src, dash) - (kn.col - 1); goto done end
    end
  end
  ::done::
  if ind < 0 then ind = 0 end
  self._seqind = ind
  return ind
end

-- byte position of the "-" before a block sequence item
function Doc:dash_pos(item)
  local n = self:node(item)
  local p = n.start - 1
  local text = self.src
  while p >= 1 do
    local c = text:sub(p, p)
    if c == "-" then return p end
    if c ~= " " and c ~= "\t" and c ~= "\n" and c ~= "\r" then return nil end
    p = p - 1
  end
  return nil
end

-- flow text of a value (one line)
local function flow_text(v)
  if type(v) == "string" and v:find("[:#]") then return core.quote(v) end
  local s = yaml.scalar_text(v)
  if s then return s end
  local parts = {}
  if yaml.is_sequence(v) then
    for _, x in ipairs(v) do parts[#parts + 1] = flow_text(x) end
    return "[" .. table.concat(parts, ", ") .. "]"
  end
  local keys = {}
  for k in pairs(v) do
    if type(k) ~= "string" then error("yaml: mapping keys must be strings", 0) end
    keys[#keys + 1] = k
  end
  table.sort(keys)
  for _, k in ipairs(keys) do
    local kt, explicit = yaml._key_text(k)
    parts[#parts + 1] = (explicit and "? " .. kt .. " " or kt) .. ": " .. flow_text(v[k])
  end
  return "{" .. table.concat(parts, ", ") .. "}"
end

local function is_collection(v)
  return type(v) == "table" and next(v) ~= nil
end

-- block lines of a non-empty table at indentation ind
function Doc:block_lines(v, ind)
  local out = {}
  yaml._emit(v, ind, out, {indent = self:indent_unit()}, {})
  return out
end

local function in_flow(self, i)
  local n = self:node(i)
  local p = n.parent and self:node(n.parent)
  return (p and p.style == "flow") or false
end

-- Lines of v as a block scalar ("|" literal or ">" folded at width
-- columns) with content indentation pad, header first; nil when v cannot be
-- written that way without changing it or leaving trailing whitespace.
local function block_scalar(v, style, pad, width)
  if v == "" or v:find("^[ \t\n]") or v:find("[\r%z\1-\8\11-\31\127]") or v:find("[ \t]\n")
      or v:find("[ \t]$") or not core.utf8(v) then
    return nil
  end
  -- a folded line that starts with white space is "more indented": its
  -- line breaks would not fold; such text stays literal
  if style == ">" and v:find("\n[ \t]") then return nil end
  local body, trail = v:match("^(.-)(\n*)$")
  local out = {style .. (#trail == 0 and "-" or (#trail == 1 and "" or "+"))}
  if style == "|" then
    for line in (body .. "\n"):gmatch("(.-)\n") do
      out[#out + 1] = line == "" and "" or pad .. line
    end
  else
    local avail = math.max(width - #pad, 20)
    local breaks = 0
    for line in (body .. "\n"):gmatch("(.-)\n") do
      if line == "" then
        breaks = breaks + 1
      else
        -- n line breaks of the value between two lines are n empty lines
        if #out > 1 then
          for _ = 1, breaks + 1 do out[#out + 1] = "" end
        end
        breaks = 0
        -- break long lines at single spaces between two other characters
        -- (a line break there folds back into that space)
        local cur, from = nil, 1
        for at in line:gmatch("%S() %f[^ \t]") do
          local word = line:sub(from, at - 1)
          if cur and utf8.len(cur) + 1 + utf8.len(word) > avail then
            out[#out + 1] = pad .. cur
            cur = word
          else
            cur = cur and (cur .. " " .. word) or word
          end
          from = at + 1
        end
        local word = line:sub(from)
        if cur and utf8.len(cur) + 1 + utf8.len(word) > avail then
          out[#out + 1] = pad .. cur
          cur = nil
        end
        out[#out + 1] = pad .. (cur and (cur .. " " .. word) or word)
      end
    end
  end
  for _ = 2, #trail do out[#out + 1] = "" end
  return out
end

-- the text of a scalar replacing node n (a scalar) with value v
function Doc:scalar_for(n, v, flow)
  if type(v) == "table" then return yaml.is_sequence(v) and "[]" or "{}" end  -- empty
  if type(v) ~= "string" then return yaml.scalar_text(v) end
  local st = n.style
  if st == "single" and not v:find("[%c]") and core.utf8(v) then
    return "'" .. v:gsub("'", "''") .. "'"
  elseif st == "double" then
    return core.quote(v)
  elseif st == "plain" and core.plain_ok(v, true) then
    return v  -- also "--log-level=info": plain stays plain where it can
  end
  return yaml._str_text(v)
end

-- one-line text of a new value next to the sibling node `like`: a string
-- is written plain like a plain sibling when it can be (also "-x")
function Doc:text_like(v, like)
  local ln = like and self:node(like)
  if type(v) == "string" and ln and ln.kind == "scalar" and ln.style == "plain" and ln.value ~= ""
      and core.plain_ok(v, true) then
    return v
  end
  return flow_text(v)
end

-- ---- verification ------------------------------------------------------------------

local function same(a, b)
  if type(a) ~= type(b) then return false end
  if type(a) == "number" then
    return math.type(a) == math.type(b) and (a == b or (a ~= a and b ~= b))
  end
  if type(a) ~= "table" then return a == b end
  for k, v in pairs(a) do if not same(v, b[k]) then return false end end
  for k in pairs(b) do if a[k] == nil then return false end end
  return true
end

-- Apply (new text, region) after checking it: the old nodes [i0, i1) are
-- replaced by subtrees that must load as `expect` (a list of {key=} or
-- {value=}), everything else identical.
function Doc:commit(text, i0, i1, expect, what, level)
  level = (level or 1) + 1
  local idx, undo, j1
  local function refuse(why)
    if undo then core.undo(idx, undo) end
    raise("edit", string.format("%s: %s refused, nothing changed: %s", self.file or "<yaml>", what, why),
      {file = self.file}, level + 1)
  end
  -- the part of the text around the edit is indexed again and spliced into
  -- the index (core.reindex); when no such part applies, the whole text
  local st, a, b = core.reindex(self.idx, text, i0, i1)
  if st == "spliced" then
    idx, undo, j1 = self.idx, a, b
  elseif st == "differs" then
    refuse(string.format("the re-parsed text differs outside the edit (old line %s, new line %s)", a, b))
  else
    local err
    idx, err = core.index(text, index_opts(self.opts))
    if not idx then
      refuse("the new text would not parse (" .. tostring(err.problem) .. " at line " .. tostring(err.line) .. ")")
    end
    j1 = i1 + idx:count() - self.idx:count()
    if j1 < i0 then refuse("the new text has fewer nodes than expected") end
    local ok, ea, eb = core.compare(self.idx, idx, i0, i1, j1)
    if not ok then
      local an = ea <= self.idx:count() and self.idx:node(ea)
      local bn = eb <= idx:count() and idx:node(eb)
      refuse(string.format("the re-parsed text differs outside the edit (old line %s, new line %s)",
        an and an.line or "end", bn and bn.line or "end"))
    end
  end
  local j = i0
  for _, e in ipairs(expect) do
    if j >= j1 then refuse("the re-parsed text lacks the new node") end
    local n = idx:node(j)
    local v = idx:data(j)
    if e.key ~= nil then
      if n.kind ~= "scalar" or yaml._keystr(v) ~= e.key then
        refuse(string.format("the new key reads back as %q", tostring(yaml._keystr(v))))
      end
    elseif not same(v, e.value) then
      refuse(string.format("the new value reads back differently (%s)", yaml.dump(v):gsub("\n$", "")))
    end
    if e.parent and n.parent ~= e.parent then refuse("the new node landed in another place") end
    j = n.last + 1
  end
  if j ~= j1 then refuse("the re-parsed text has extra nodes") end
  self.src, self.idx, self.cache = text, idx, {}
  self._unit, self._seqind = nil, nil
  return true
end

local splice = core.splice  -- replace bytes [s, e] (inclusive) of text by new

-- ---- set -----------------------------------------------------------------------------

-- new text for replacing node i (its value slot) with v
function Doc:replace_text(i, v)
  local n = self:node(i)
  local text, nl = self.src, self.nl
  local flow = in_flow(self, i) or (n.style == "flow" and not is_collection(v))
  local p = n.parent and self:node(n.parent)
  if n.kind == "scalar" and (n.style == "literal" or n.style == "folded") and type(v) == "string" and not flow then
    -- keep a block scalar: same content indentation, same tail
    local s = text:sub(n.vstart, n.stop)
    local header_end = s:find("\n", 1, true)
    local ind
    if header_end then
      for line in s:sub(header_end + 1):gmatch("([^\n]*)\n") do
        if line:find("[^ \r]") then ind = #line:match("^ *"); break end
      end
    end
    ind = ind or (col_of(text, n.start) + self:indent_unit())
    local last = s:match("^.*()[^ \t\r\n]")  -- last content character
    local tail_from = last and s:find("\r?\n", last + 1)
    if header_end and tail_from and tail_from > header_end then
      local tail = s:sub(tail_from)
      -- whitespace-only lines after the content belong to the old scalar
      -- (with more spaces than its indentation they would be content)
      tail = tail:gsub("[ \t]+(\r?\n)", "%1")
      if not text:find("[^ \t\r\n]", n.stop + 1) then tail = tail:gsub("[ \t]+$", "") end
      local pad = (" "):rep(ind)
      -- a comment after the header stays
      local comment = s:sub(1, header_end - 1):gsub("\r$", ""):match("^[|>][%d+-]*([ \t]+#.*)$") or ""
      local out
      if n.style == "folded" then
        -- fold at the block's own width (its longest line), at least 80 columns
        local width = 80
        for line in s:sub(header_end + 1):gmatch("([^\n]*)\n") do
          width = math.max(width, utf8.len(line) or #line)
        end
        out = block_scalar(v, ">", pad, width)
      end
      out = out or block_scalar(v, "|", pad)
      if out then
        out[1] = out[1] .. comment
        if v:find("\n\n$") then tail = tail:match("\n[^\n]*$") end  -- "+": the breaks are content
        return n.vstart, n.stop, table.concat(out, nl) .. tail
      end
      return n.vstart, n.stop, core.quote(v) .. tail
    end
  end
  -- the end of the old value's content: a block scalar's (or a collection's
  -- last block scalar's) trailing line breaks stay after the new value
  local stop = n.stop
  while stop > n.vstart and text:sub(stop, stop):match("[ \t\r\n]") do stop = stop - 1 end
  if n.kind == "scalar" and (n.style == "literal" or n.style == "folded") then
    -- another type over a block scalar: keep the tail (line breaks after it)
    local s = text:sub(n.vstart, n.stop)
    local last = s:match("^.*()[^ \t\r\n]")
    local tail_from = last and s:find("\r?\n", last + 1)
    local tail = tail_from and s:sub(tail_from) or ""
    if not is_collection(v) then  -- (a collection is written below, as block lines)
      local body = flow and flow_text(v) or yaml.scalar_text(v) or (yaml.is_sequence(v) and "[]" or "{}")
      return n.vstart, n.stop, body .. tail
    end
  end
  if flow or not is_collection(v) then
    local body
    if n.kind == "scalar" and not is_collection(v) then
      body = self:scalar_for(n, v, flow)
      local from = n.vstart
      if n.tag then
        -- the tag would contradict the new value: write it without, keep the anchor
        from = n.start
        if n.anchor then body = "&" .. n.anchor .. " " .. body end
      end
      if n.stop < n.vstart and not n.tag then
        if n.anchor then return n.vstart, n.stop, " " .. body end
        return self:empty_value(i, body)
      end
      if n.anchor and from > n.start and not text:sub(from - 1, from - 1):match("[ \t\r\n]") then
        body = " " .. body
      end
      return from, stop, body
    else
      body = flow and flow_text(v) or yaml.scalar_text(v) or (yaml.is_sequence(v) and "[]" or "{}")
    end
    if n.kind ~= "scalar" and n.kind ~= "alias" and n.style == "block" and p and p.kind == "mapping"
        and not n.anchor and not n.tag then
      -- a block collection under a key: the value goes after the colon
      local colon = self:value_colon(self:key_of(i))
      if not colon then self:unsupported(i, "cannot find the ':' before this value", 2) end
      if text:sub(colon + 1, n.vstart - 1):find("#", 1, true) then
        -- comments between the key and the old value stay ("key: # c");
        -- the value goes below them, indented under the key
        local ind = math.max(col_of(text, n.vstart), col_of(text, self:node(self:key_of(i)).start) + self:indent_unit())
        return break_before(text, n.vstart), stop, nl .. (" "):rep(ind) .. body
      end
      return colon + 1, stop, " " .. body
    end
    return n.vstart, stop, body
  end
  -- a block collection in block context
  if p and p.kind == "mapping" then
    local k = self:key_of(i)
    local key = self:node(k)
    local ls = line_start(text, key.start)
    local qpos = text:find("?", ls, true)
    local base = qpos and qpos < key.start and (qpos - ls) or col_of(text, key.start)
    local ind = base + (yaml.is_sequence(v) and self:seq_indent() or self:indent_unit())
    local lines = self:block_lines(v, ind)
    if n.anchor or n.tag then
      return block_from(text, n), stop, nl .. table.concat(lines, nl)
    end
    local colon = self:value_colon(k)
    if colon and n.stop < n.vstart then
      -- an empty value: the lines go after the key's line (and its comment)
      local eol, blank = line_rest(text, colon + 1)
      return blank and colon + 1 or eol, eol - 1, nl .. table.concat(lines, nl)
    end
    if colon then
      -- comments between the key and the old value stay
      local from = line_rest(text, colon + 1) < n.vstart and break_before(text, n.vstart) or colon + 1
      return from, stop, nl .. table.concat(lines, nl)
    end
    if n.stop < n.vstart then
      -- an explicit "? key" without a value: add ":" and the value below it
      local at, had_nl = self:after_line(k)
      local entry = (" "):rep(base) .. ":" .. nl .. table.concat(lines, nl)
      if had_nl then return at, at - 1, entry .. nl end
      return #text + 1, #text, nl .. entry
    end
    self:unsupported(i, "cannot find the ':' before this value", 2)
  elseif p and p.kind == "sequence" then
    -- content column of the item: after "- " (or where the node starts)
    local dash = self:dash_pos(i)
    if dash and n.stop < n.vstart and not n.anchor and not n.tag then
      -- an empty item: "- " then the value, or below a comment on its line
      local ind = col_of(text, dash) + 2
      local lines = self:block_lines(v, ind)
      local eol, blank = line_rest(text, dash + 1)
      if not blank then return eol, eol - 1, nl .. table.concat(lines, nl) end
      lines[1] = lines[1]:sub(ind + 1)
      return dash + 1, eol - 1, " " .. table.concat(lines, nl)
    end
    local ind = col_of(text, n.vstart)
    if dash and not text:sub(dash, n.vstart):find("\n") then ind = col_of(text, dash) + (n.vstart - dash) end
    local lines = self:block_lines(v, ind)
    if n.anchor or n.tag then
      -- "- &x" keeps its properties on the dash line, the value below
      if dash then ind = col_of(text, dash) + 2; lines = self:block_lines(v, ind) end
      return block_from(text, n), stop, nl .. table.concat(lines, nl)
    end
    lines[1] = lines[1]:sub(ind + 1)
    return n.vstart, stop, table.concat(lines, nl)
  else
    local ind = col_of(text, n.vstart)
    local lines = self:block_lines(v, ind)
    lines[1] = lines[1]:sub(ind + 1)
    return n.vstart, stop, table.concat(lines, nl)
  end
end

-- Where to write a value over an empty (zero-width) node: after the ":" or
-- "-" that precedes it, after a document's "---", after a flow key, or on a
-- new ": " line under an explicit "? key".
function Doc:empty_value(i, body)
  local n = self:node(i)
  local text = self.src
  local p = n.vstart
  local q = p - 1
  while q >= 1 and text:sub(q, q):match("[ \t\r\n]") do q = q - 1 end
  local c = q >= 1 and text:sub(q, q) or ""
  local prev = q >= 1 and text:sub(q - 1, q - 1) or ""
  if c == ":" or (c == "-" and (prev == "" or prev:match("[ \t\r\n%-]"))) then
    local eol, blank = line_rest(text, q + 1)
    if blank then return q + 1, eol - 1, " " .. body end
    return q + 1, q, " " .. body
  end
  local par = self:node(n.parent)
  if par.kind == "document" then
    if text:sub(par.start, par.start + 2) == "---" then
      return par.start + 3, par.start + 2, " " .. body
    end
    return n.vstart, n.stop, body
  end
  if par.kind == "mapping" then
    local key = key_index(self, i)
    if key then
      local kn = self:node(key)
      if par.style == "flow" then
        local ktext = text:sub(kn.start, kn.stop)
        if ktext:find("\n") then  -- a multi-line key needs "? key : value"
          return kn.start, kn.stop, "? " .. ktext .. " : " .. body
        end
        return kn.stop + 1, kn.stop, ": " .. body
      end
      -- an explicit "? key" without a value: add ": value" on its own line
      local at, had_nl = self:after_line(key)
      local ls = line_start(text, kn.start)
      local qpos = text:find("?", ls, true)
      local pad = (" "):rep(qpos and qpos < kn.start and (qpos - ls) or col_of(text, kn.start))
      if had_nl then return at, at - 1, pad .. ": " .. body .. self.nl end
      return #text + 1, #text, self.nl .. pad .. ": " .. body
    end
  end
  return n.vstart, n.stop, body
end

function Doc:key_of(i)
  return key_index(self, i) or error("yaml: internal: no key for node " .. i)
end

local function check_value(v, n, fname, level)
  local t = type(v)
  if t == "nil" then argerror(n, fname, "value expected, got nil; use yaml.null for null", level + 1) end
  if t == "function" or t == "thread" or (t == "userdata" and v ~= null) then
    argerror(n, fname, "cannot write a " .. t, level + 1)
  end
end

-- the checks of a public edit call: path, value (n = its position), opts
local function check_call(fname, path, opts, nopts, value, nvalue)
  check_arg(path, 1, fname, "string|table", 3)
  if nvalue then check_value(value, nvalue, fname, 3) end
  check_opts(opts, nopts, fname, 3)
end

--- paths = doc:set(path, value, opts): replace the value at path. Keeps the
-- scalar's quoting when the value allows it; quotes when needed to keep the
-- type (a string "1.10" stays a string). Returns the alias paths that change
-- with it ({} unless opts.shared allowed editing an anchored node).
function Doc:set(path, value, opts)
  check_call("set", path, opts, 3, value, 2)
  local r = self:resolve(path, opts, "edit", 2)
  local i = r.node
  local shared = self:check_shared(i, opts, "set", 2)
  local s, e, new = self:replace_text(i, value)
  local text = splice(self.src, s, e, new)
  local n = self:node(i)
  self:commit(text, i, n.last + 1, {{value = value, parent = n.parent}},
    "set " .. path_text(r.segs), 2)
  return shared
end

--- doc:append(path, value, opts): add an item at the end of the sequence at
-- path, indented like its siblings.
function Doc:append(path, value, opts)
  check_call("append", path, opts, 3, value, 2)
  local r = self:resolve(path, opts, "edit", 2)
  local i = r.node
  local n = self:node(i)
  if n.kind ~= "sequence" then
    raise("edit", string.format("%s: cannot append to %s (line %d): it is a %s, not a sequence%s",
      self.file or "<yaml>", path_text(r.segs), n.line, n.kind,
      n.kind == "scalar" and n.value == "" and " (empty: set it to a list instead)" or ""),
      {path = path_text(r.segs)}, 2)
  end
  local shared = self:check_shared(i, opts, "append to", 2)
  local text, nl = self.src, self.nl
  local kids = self:children(i)
  local new
  if n.style == "flow" then
    local ft = self:text_like(value, kids[#kids])
    if #kids == 0 then
      local close = n.stop
      new = splice(text, close, close - 1, ft)
    else
      local last = self:node(kids[#kids])
      new = splice(text, last.stop + 1, last.stop, ", " .. ft)
    end
  else
    local first = kids[1]
    local dash = self:dash_pos(first)
    if not dash then raise("edit", "cannot find the '-' of the first item", {}, 2) end
    local dcol = col_of(text, dash)
    local off = self:node(first).start - dash  -- "- " width
    if off < 2 then off = 2 end
    local item
    if is_collection(value) then
      local lines = self:block_lines(value, dcol + off)
      lines[1] = (" "):rep(dcol) .. "-" .. (" "):rep(off - 1) .. lines[1]:sub(dcol + off + 1)
      item = table.concat(lines, nl)
    else
      local lit = type(value) == "string" and yaml._literal(value, (" "):rep(dcol + off))
      local body = lit and table.concat(lit, nl) or self:text_like(value, kids[#kids])
      item = (" "):rep(dcol) .. "-" .. (" "):rep(off - 1) .. body
    end
    local at, had_nl = self:after_line(kids[#kids])
    if had_nl then new = splice(text, at, at - 1, item .. nl)
    else new = text .. nl .. item end
  end
  self:commit(new, n.last + 1, n.last + 1, {{value = value, parent = i}},
    "append to " .. path_text(r.segs), 2)
  return shared
end

--- doc:insert(path, key, value, opts): add key: value at the end of the
-- mapping at path (the key must not exist), indented like its siblings.
function Doc:insert(path, key, value, opts)
  check_arg(key, 2, "insert", "string", 2)
  check_call("insert", path, opts, 4, value, 3)
  local r = self:resolve(path, opts, "edit", 2)
  local i = r.node
  local n = self:node(i)
  if n.kind ~= "mapping" then
    raise("edit", string.format("%s: cannot insert into %s (line %d): it is a %s, not a mapping",
      self.file or "<yaml>", path_text(r.segs), n.line, n.kind), {path = path_text(r.segs)}, 2)
  end
  local kids = self:children(i)
  for k = 1, #kids, 2 do
    if key_matches(self, kids[k], key) then
      raise("edit", string.format("%s: cannot insert %q into %s: the key exists (line %d); use set",
        self.file or "<yaml>", key, path_text(r.segs), self:node(kids[k]).line), {path = path_text(r.segs)}, 2)
    end
  end
  local shared = self:check_shared(i, opts, "insert into", 2)
  local text, nl = self.src, self.nl
  -- (a key too long to be implicit is written "? KEY" with its ":" after
  -- it, on the next line in block style, as yaml.dump writes it)
  local kt, long = yaml._key_text(key)
  local new
  if n.style == "flow" then
    local entry = (long and "? " .. kt .. " " or kt) .. ": " .. self:text_like(value, kids[#kids])
    if #kids == 0 then new = splice(text, n.stop, n.stop - 1, entry)
    else
      local last = self:node(kids[#kids])
      new = splice(text, last.stop + 1, last.stop, ", " .. entry)
    end
  else
    local first = self:node(kids[1])
    local kcol = col_of(text, first.start)
    local pad = (" "):rep(kcol)
    if long then kt = "? " .. kt .. nl .. pad end
    local entry
    if is_collection(value) then
      local ind = kcol + (yaml.is_sequence(value) and self:seq_indent() or self:indent_unit())
      local lines = self:block_lines(value, ind)
      entry = pad .. kt .. ":" .. nl .. table.concat(lines, nl)
    else
      local lit = type(value) == "string" and yaml._literal(value, pad .. (" "):rep(self:indent_unit()))
      entry = pad .. kt .. ": " .. (lit and table.concat(lit, nl) or self:text_like(value, kids[#kids]))
    end
    local at, had_nl = self:after_line(kids[#kids])
    if had_nl then new = splice(text, at, at - 1, entry .. nl)
    else new = text .. nl .. entry end
  end
  self:commit(new, n.last + 1, n.last + 1, {{key = key, parent = i}, {value = value, parent = i}},
    "insert " .. key .. " into " .. path_text(r.segs), 2)
  return shared
end

-- The last byte of the entry's own comment lines after byte e (the end of
-- its last line): comment lines indented deeper than column col, with any
-- blank lines between them. e when there are none.
local function own_comments_end(text, e, col)
  local p, last = e + 1, e
  while p <= #text do
    local line = text:match("^[^\n]*\n?", p)
    if not line:find("^[ \t\r]*\n?$") then
      local ind = #line:match("^ *")
      if line:sub(ind + 1, ind + 1) ~= "#" or ind <= col then break end
      last = p + #line - 1
    end
    p = p + #line
  end
  return last
end

-- the start of the blank lines just before byte s (s when none)
local function blanks_before(text, s)
  while s > 1 do
    local ls = line_start(text, s - 1)
    if ls >= s or not text:sub(ls, s - 1):find("^[ \t\r]*\n$") then break end
    s = ls
  end
  return s
end

-- the last byte of the blank lines just after byte e (e when none)
local function blanks_after(text, e)
  while e < #text do
    local line = text:match("^[^\n]*\n?", e + 1)
    if not line:find("^[ \t\r]*\n?$") then break end
    e = e + #line
  end
  return e
end

--- doc:delete(path, opts): remove a mapping entry or a sequence item: its
-- lines and its own comments (on its lines, and after it indented deeper
-- than its key or dash); comments above it stay. Of the blank lines around
-- it one separator stays, and none is left at the end of the text. The
-- last entry of a block collection leaves {} or [].
function Doc:delete(path, opts)
  check_call("delete", path, opts, 2)
  local r = self:resolve(path, opts, "edit", 2)
  local i = r.node
  local pn = r.parent and self:node(r.parent)
  if not pn then raise("edit", "cannot delete the root of a document", {path = path_text(r.segs)}, 2) end
  local shared = self:check_shared(i, opts, "delete", 2)
  local text = self.src
  local kids = self:children(r.parent)
  local first = r.key or i
  local n = self:node(i)
  local what = "delete " .. path_text(r.segs)
  local per = pn.kind == "mapping" and 2 or 1
  if #kids == per then
    -- the only entry: the collection becomes empty
    local empty = pn.kind == "mapping" and {} or setmetatable({}, yaml.sequence_mt)
    local s, e, new = self:replace_text(r.parent, empty)
    local at = pn.kind == "sequence" and self:dash_pos(first) or self:node(first).start
    if e == pn.stop and pn.style == "block" and at then
      -- the entry's comments go with it: on its last line, and below it
      local eol = text:find("\r?\n", e + 1) or (#text + 1)
      if text:sub(e + 1, eol - 1):find("^[ \t]*#") or text:sub(e + 1, eol - 1):find("^[ \t]*$") then
        local lb = text:match("^\r?\n", eol) or ""
        local oe = own_comments_end(text, eol + #lb - 1, col_of(text, at))
        if oe > eol + #lb - 1 then e, new = oe, new .. lb else e = eol - 1 end
      end
    end
    self:commit(splice(text, s, e, new), r.parent, pn.last + 1,
      {{value = empty, parent = pn.parent}}, what, 2)
    return shared
  end
  local pos
  for k = 1, #kids do if kids[k] == first then pos = k end end
  local s, e
  if pn.style == "flow" then
    if pos + per <= #kids then
      s, e = self:node(first).start, self:node(kids[pos + per]).start - 1
    else
      s, e = self:node(kids[pos - 1]).stop + 1, n.stop
    end
  else
    local fs = self:node(first).start
    local anchor_pos = pn.kind == "sequence" and self:dash_pos(first) or fs
    if anchor_pos and only_space_before(text, anchor_pos) then
      s = line_start(text, anchor_pos)
      local at, had_nl = self:after_line(i)
      e = at - 1
      if had_nl then e = own_comments_end(text, e, col_of(text, anchor_pos)) end
      local b, q = blanks_before(text, s), blanks_after(text, e)
      local ps = b > 1 and line_start(text, b - 1)
      if q >= #text then
        s, e = b, q  -- at the end of the text no blank line is left
      elseif q > e and (b < s or (pos == 1 and not (ps and ps < b and text:sub(ps, b - 1):find("^[ \t]*#")))) then
        -- blank lines on both sides keep one separator; after the first
        -- entry (with no comment above it) the blank lines go with it
        e = q
      end
      if not had_nl and s > 1 then s = s - #self.nl end
    elseif pn.kind == "mapping" and pos + per <= #kids then
      s, e = fs, self:node(kids[pos + per]).start - 1
    else
      raise("edit", string.format("%s: cannot delete %s (line %d): it shares its line with another node",
        self.file or "<yaml>", path_text(r.segs), n.line), {path = path_text(r.segs)}, 2)
    end
  end
  self:commit(splice(text, s, e, ""), first, n.last + 1, {}, what, 2)
  return shared
end

-- ---- diff and save ----------------------------------------------------------------------

--- s = edit.diff(old, new, label_a, label_b): a unified diff (3 lines of
-- context); slipway.diff.unified.
E.diff = require("slipway.diff").unified

--- s = doc:diff(): unified diff from the text as opened to the current text
-- ("" when unchanged); secrets registered with slipway are masked.
function Doc:diff()
  local name = (self.file or "yaml"):gsub("^/+", "")
  return score.redact(E.diff(self.orig, self.src, "a/" .. name, "b/" .. name))
end

--- b = doc:changed(): whether the text differs from the one opened.
function Doc:changed() return self.orig ~= self.src end

--- doc:save(path): write the text atomically (temp file + rename, the
-- file's mode kept) to path or the file it was opened from.
function Doc:save(path)
  if path ~= nil then check_arg(path, 1, "save", "string", 2) end
  path = path or self.file
  if not path then error("yaml: doc:save needs a path (the document was made from a string)", 2) end
  require("slipway.fs").write(path, self.src)
  return self
end

return E
