--- Real HTTP servers on 127.0.0.1 for the http tests: the misbehaving
-- Python fixture (tests/fixtures/http/server.py), nginx with a temporary
-- configuration, and a self-signed certificate made with the openssl CLI.
--
--   local H = require "httptest"
--   local srv = H.fixture()            -- srv.url, srv.blackhole, srv.silent, srv:stop()
--   local ng = H.nginx(root)           -- ng.url, ng:stop(); {log_connections = true}:
--                                      -- ng:connections() counts them from its access log
--   local cert, key = H.selfsigned(dir)
--
-- Commands run as argv lists through slipway.proc (no shell); they only
-- start daemons that detach, so the wait is short. The fixture's stop()
-- (kill, remove) never yields, so it may run in a __close handler.
local proc = require "slipway.proc"
local fs = require "slipway.fs"
local task = require "slipway.task"

local H = {}

local SRC = os.getenv("SLIPWAY_SRC") or "."

--- Run argv (a list) -> true when it exits 0, and the proc result. Output
-- is captured, not discarded: the run then ends only at EOF of the pipes,
-- which a daemon closes after it moved to its own session, so proc does
-- not kill it with what is left of the starter's process group.
function H.run(argv)
  local r = proc.run(argv, {check = false, echo = false, timeout = 60})
  return r.code == 0, r
end

function H.pid()
  return proc.pid()
end

--- A new private directory under $TMPDIR or /tmp, removed when slipway
-- exits if stop() did not remove it first.
function H.tmpdir()
  return fs.tempdir()
end

function H.read(path)
  local f = io.open(path, "rb")
  if not f then return nil end
  local s = f:read("a")
  f:close()
  return s
end

function H.write(path, s)
  local f = assert(io.open(path, "wb"))
  f:write(s)
  f:close()
end

local function kill(pid, sig)
  pcall(proc.kill, pid, sig or "TERM")  -- it may have ended already
end

local function remove(dir)
  fs.remove(dir, {recursive = true, missing_ok = true})
end

--- Start the Python fixture; opts.tls = {cert, key}.
function H.fixture(opts)
  opts = opts or {}
  local dir = H.tmpdir()
  local pf = dir .. "/port"
  local argv = {"python3", SRC .. "/tests/fixtures/http/server.py", "--port-file", pf,
                "--watch", tostring(H.pid())}
  if opts.tls then
    argv[#argv + 1] = "--tls"; argv[#argv + 1] = opts.tls[1]; argv[#argv + 1] = opts.tls[2]
  end
  local ok, r = H.run(argv)
  assert(ok, "the fixture server did not start: " .. r.stdout .. r.stderr)
  local port, bh, pid, silent = assert(H.read(pf)):match("(%d+) (%d+) (%d+) (%d+)")
  local scheme = opts.tls and "https" or "http"
  local srv = {port = tonumber(port), pid = tonumber(pid), dir = dir,
    url = scheme .. "://127.0.0.1:" .. port,
    other = scheme .. "://localhost:" .. port,  -- the same server, another host name
    blackhole = "http://127.0.0.1:" .. bh,  -- connect hangs
    silent = "127.0.0.1:" .. silent}         -- accepts, never reads nor answers
  function srv:stop()
    kill(self.pid)
    remove(self.dir)
  end
  return srv
end

--- Start nginx serving root on a free port; returns {url, port, stop}.
function H.nginx(root, opts)
  opts = opts or {}
  local prefix = H.tmpdir()
  for attempt = 1, 20 do
    local port = 20000 + math.random(0, 40000)
    local conf = prefix .. "/nginx.conf"
    H.write(conf, table.concat({
      "daemon on;",
      "worker_processes " .. (opts.workers or 1) .. ";",
      "pid " .. prefix .. "/nginx.pid;",
      "error_log " .. prefix .. "/error.log;",
      "user root;",
      "worker_rlimit_nofile 8192;",
      "events { worker_connections 4096; }",
      "http {",
      opts.log_connections and ("  log_format conn '$connection';\n  access_log " .. prefix .. "/access.log conn;")
        or "  access_log off;",
      "  client_body_temp_path " .. prefix .. "/body;",
      "  proxy_temp_path " .. prefix .. "/proxy;",
      "  keepalive_requests 100000;",
      "  server {",
      "    listen 127.0.0.1:" .. port .. " backlog=4096;",
      "    root " .. root .. ";",
      "  }",
      "}", ""}, "\n"))
    if H.run({"nginx", "-p", prefix, "-c", conf}) then
      local ng = {url = "http://127.0.0.1:" .. port, port = port, prefix = prefix}
      --- With opts.log_connections: {requests = n, n = distinct connections}.
      function ng:connections()
        local seen, n, requests = {}, 0, 0
        for c in (H.read(self.prefix .. "/access.log") or ""):gmatch("%d+") do
          requests = requests + 1
          if not seen[c] then seen[c] = true; n = n + 1 end
        end
        return {requests = requests, n = n}
      end
      function ng:stop()
        local pid = H.read(self.prefix .. "/nginx.pid")
        if pid then kill(pid:match("%d+"), "QUIT") end
        for _ = 1, 100 do
          if not H.read(self.prefix .. "/nginx.pid") then break end
          task.sleep(0.02)
        end
        remove(self.prefix)
      end
      return ng
    end
  end
  error("nginx did not start (see " .. prefix .. "/error.log)")
end

--- A self-signed certificate for 127.0.0.1 and localhost: cert, key paths.
function H.selfsigned(dir)
  local cert, key = dir .. "/cert.pem", dir .. "/key.pem"
  assert(H.run({"openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2",
    "-subj", "/CN=localhost", "-addext", "subjectAltName=DNS:localhost,IP:127.0.0.1",
    "-keyout", key, "-out", cert}), "openssl could not make a certificate")
  return cert, key
end

return H
