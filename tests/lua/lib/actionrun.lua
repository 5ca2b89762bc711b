--- actionrun: run the steps of a GitHub Actions file here, the way the
-- runner does: `${{ }}` evaluated in env:/with:/if: (a small subset of the
-- expression language: paths, 'strings', == != && || !, success() always()
-- failure(); anything else is an error so the files stay within what is
-- checked), each `run:` written to a file and run with
-- `bash --noprofile --norc -eo pipefail FILE` (what `shell: bash` does), with
-- GITHUB_OUTPUT / GITHUB_ENV / GITHUB_PATH / GITHUB_STEP_SUMMARY files read
-- back between steps. `uses:` steps go to handlers the caller passes (a
-- stand-in named as such) or are skipped with a reason the caller lists.
local fs = require "slipway.fs"
local proc = require "slipway.proc"

local A = {}

-- ---- expressions ---------------------------------------------------------

local function tokens(s)
  local out, i = {}, 1
  while i <= #s do
    local c = s:sub(i, i)
    if c:match("%s") then i = i + 1
    elseif c == "'" then
      local j, lit = i + 1, {}
      while true do
        local k = s:find("'", j, true)
        if not k then error("unterminated string in " .. s) end
        lit[#lit + 1] = s:sub(j, k - 1)
        if s:sub(k + 1, k + 1) == "'" then lit[#lit + 1] = "'"; j = k + 2
        else i = k + 1; break end
      end
      out[#out + 1] = {t = "str", v = table.concat(lit)}
    elseif s:sub(i, i + 1) == "==" or s:sub(i, i + 1) == "!=" or s:sub(i, i + 1) == "&&" or
           s:sub(i, i + 1) == "||" then
      out[#out + 1] = {t = s:sub(i, i + 1)}; i = i + 2
    elseif c == "!" or c == "(" or c == ")" then out[#out + 1] = {t = c}; i = i + 1
    else
      local w = s:match("^[%w_][%w_.%-]*", i)
      if not w then error("unsupported expression syntax at '" .. s:sub(i) .. "' in: " .. s) end
      out[#out + 1] = {t = "word", v = w}; i = i + #w
    end
  end
  return out
end

local function truthy(v) return not (v == nil or v == false or v == "" or v == 0) end

local function lookup(ctx, path)
  local v = ctx
  for part in path:gmatch("[^.]+") do
    if type(v) ~= "table" then return nil end
    v = v[part]
  end
  return v
end

--- Evaluate one expression (without the `${{ }}`) in ctx.
function A.eval(expr, ctx)
  local toks, pos = tokens(expr), 1
  local function peek() return toks[pos] and toks[pos].t end
  local orx
  local function atom()
    local t = toks[pos]
    if not t then error("expression ends early: " .. expr) end
    pos = pos + 1
    if t.t == "!" then return not truthy(atom()) end
    if t.t == "(" then
      local v = orx()
      if peek() ~= ")" then error("missing ) in " .. expr) end
      pos = pos + 1
      return v
    end
    if t.t == "str" then return t.v end
    if t.t ~= "word" then error("unexpected " .. t.t .. " in " .. expr) end
    if t.v == "true" then return true elseif t.v == "false" then return false end
    if t.v:match("^%d+$") then return tonumber(t.v) end
    if peek() == "(" then
      pos = pos + 1
      if peek() ~= ")" then error("only functions without arguments are supported: " .. expr) end
      pos = pos + 1
      if t.v == "always" then return true end
      if t.v == "success" then return not ctx.failed end
      if t.v == "failure" then return ctx.failed == true end
      if t.v == "cancelled" then return false end
      error("unsupported function " .. t.v .. "() in " .. expr)
    end
    return lookup(ctx, t.v)
  end
  local function cmp()
    local a = atom()
    local op = peek()
    if op == "==" or op == "!=" then
      pos = pos + 1
      local b = atom()
      local sa = type(a) == "string" and a:lower() or (a == nil and "" or a)
      local sb = type(b) == "string" and b:lower() or (b == nil and "" or b)
      if op == "==" then return sa == sb end
      return sa ~= sb
    end
    return a
  end
  local function andx()
    local v = cmp()
    while peek() == "&&" do
      pos = pos + 1
      local b = cmp()
      if truthy(v) then v = b end
    end
    return v
  end
  function orx()
    local v = andx()
    while peek() == "||" do
      pos = pos + 1
      local b = andx()
      if not truthy(v) then v = b end
    end
    return v
  end
  local v = orx()
  if pos <= #toks then error("unsupported expression: " .. expr) end
  return v
end

local function str(v)
  if v == nil then return "" end
  if v == true then return "true" elseif v == false then return "false" end
  return tostring(v)
end

--- Replace every `${{ expr }}` in s.
function A.interpolate(s, ctx)
  if type(s) ~= "string" then return str(s) end
  return (s:gsub("%${{(.-)}}", function(e) return str(A.eval(e, ctx)) end))
end

--- `if:` as Actions reads it: with or without `${{ }}`, success() by default.
function A.condition(cond, ctx)
  if cond == nil then return not ctx.failed end
  if type(cond) == "boolean" then return cond end
  local e = cond:match("^%s*%${{(.-)}}%s*$") or cond
  local uses_status = e:match("always%(") or e:match("failure%(") or e:match("success%(") or
                      e:match("cancelled%(")
  local v = truthy(A.eval(e, ctx))
  if not uses_status and ctx.failed then return false end
  return v
end

-- ---- files the runner hands a step ---------------------------------------

local function read_kv(path)
  local out, s = {}, fs.exists(path) and fs.read(path) or ""
  local lines = {}
  for l in s:gmatch("([^\n]*)\n?") do lines[#lines + 1] = l end
  local i = 1
  while i <= #lines do
    local l = lines[i]
    local k, delim = l:match("^([^=<]+)<<(.+)$")
    if k then
      local buf = {}
      i = i + 1
      while i <= #lines and lines[i] ~= delim do buf[#buf + 1] = lines[i]; i = i + 1 end
      out[k] = table.concat(buf, "\n")
    else
      local k2, v = l:match("^([^=]+)=(.*)$")
      if k2 then out[k2] = v end
    end
    i = i + 1
  end
  return out
end

--- Run steps (a list from a loaded YAML file). o:
--   ctx      {inputs =, github =, runner =, secrets =, matrix =, vars =, env =}
--   cwd      working directory of run: steps
--   env      base environment (merged into slipway's; false removes a name)
--   path     directories put before PATH (GITHUB_PATH adds to the front)
--   uses     {["owner/name"] = function(step, with, ctx) -> outputs}  (stand-ins)
--   skip     {[step name] = "why"}: steps not run here, each with its reason
--   dir      where the runner files go
-- Returns the log: {{id =, name =, ran = bool, why =, code =, stdout =, stderr =}, ...};
-- ctx.steps[id].outputs holds the outputs; ctx.failed is set when a step failed.
function A.run_steps(steps, o)
  local ctx = o.ctx
  ctx.steps = ctx.steps or {}
  ctx.env = ctx.env or {}
  local log = {}
  local path = o.path or {}
  local dir = o.dir or fs.tempdir()
  for i, step in ipairs(steps) do
    local id = step.id or ("__" .. i)
    local name = step.name or step.id or step.uses or ("step " .. i)
    local entry = {id = step.id, name = name, ran = false}
    log[#log + 1] = entry
    local outputs = {}
    if o.skip and o.skip[name] then
      entry.why = o.skip[name]
    elseif not A.condition(step["if"], ctx) then
      entry.why = "if: " .. tostring(step["if"])
    elseif step.uses then
      local handler = o.uses and o.uses[step.uses:match("^[^@]+")]
      if not handler then error("no stand-in or skip reason for step '" .. name .. "' (uses: " .. step.uses .. ")") end
      local with = {}
      for k, v in pairs(step.with or {}) do with[k] = A.interpolate(v, ctx) end
      entry.ran = true
      outputs = handler(step, with, ctx) or {}
    elseif step.run then
      entry.ran = true
      local files = {}
      for _, f in ipairs{"output", "env", "path", "summary"} do
        files[f] = dir .. "/" .. f .. "." .. i
        fs.write(files[f], "")
      end
      local script = dir .. "/step." .. i .. ".sh"
      fs.write(script, step.run)
      local env = {}
      for k, v in pairs(o.env or {}) do env[k] = v end
      for k, v in pairs(ctx.env) do env[k] = v end
      for k, v in pairs(step.env or {}) do env[k] = A.interpolate(v, ctx) end
      env.GITHUB_OUTPUT, env.GITHUB_ENV = files.output, files.env
      env.GITHUB_PATH, env.GITHUB_STEP_SUMMARY = files.path, o.summary or files.summary
      local base = (o.env and o.env.PATH) or os.getenv("PATH")
      env.PATH = (#path > 0 and table.concat(path, ":") .. ":" or "") .. base
      local cwd = step["working-directory"] and (o.cwd .. "/" .. A.interpolate(step["working-directory"], ctx)) or o.cwd
      local r = proc.run({"bash", "--noprofile", "--norc", "-eo", "pipefail", script},
                         {cwd = cwd, env = env, check = false, echo = false, timeout = o.timeout or 600})
      entry.code, entry.stdout, entry.stderr = r.code, r.stdout, r.stderr
      outputs = read_kv(files.output)
      for k, v in pairs(read_kv(files.env)) do ctx.env[k] = v end
      for l in fs.read(files.path):gmatch("[^\n]+") do table.insert(path, 1, l) end
      if r.code ~= 0 and not step["continue-on-error"] then ctx.failed = true end
    else
      error("step '" .. name .. "' has neither run: nor uses:")
    end
    ctx.steps[id] = {outputs = outputs, outcome = entry.ran and (entry.code or 0) == 0 and "success" or
                     (entry.ran and "failure" or "skipped")}
  end
  return log
end

--- Every `run:` of a loaded workflow or action: {{where =, run =}, ...}.
function A.runs(doc)
  local out = {}
  local function steps(list, where)
    for i, s in ipairs(list or {}) do
      if s.run then out[#out + 1] = {where = where .. " step " .. (s.name or s.id or i), run = s.run} end
    end
  end
  if doc.runs then steps(doc.runs.steps, "runs") end
  for name, job in pairs(doc.jobs or {}) do steps(job.steps, "job " .. name) end
  return out
end

return A
