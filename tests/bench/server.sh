#!/bin/bash
# http.serve against nginx: `wrk -c 50 -d 5s` on 127.0.0.1 against
#   1. slipway's server with a trivial handler (a fixed 13-byte body), and
#   2. nginx (nginx-light) serving the same 13 bytes from a file,
# then the same for a 100 KB file (serve_files vs nginx). Prints requests per
# second, latency, and slipway/nginx ratios (reported, no target).
#
#   tests/bench/server.sh [SLIPWAY_BIN] [DURATION]   (default build/slipway, 5s)
set -euo pipefail
bin=${1:-build/slipway}
dur=${2:-5s}
case "$bin" in /*) ;; *) bin="$PWD/$bin" ;; esac
[ -x "$bin" ] || { echo "server.sh: no slipway binary at $bin (build first)" >&2; exit 2; }
if ! command -v wrk >/dev/null; then
  echo "server.sh: installing wrk" >&2
  apt-get install -y wrk >/dev/null 2>&1 || { apt-get update >/dev/null && apt-get install -y wrk >/dev/null; }
fi
nginx_bin=$(command -v nginx || echo /usr/sbin/nginx)
[ -x "$nginx_bin" ] || { echo "server.sh: nginx not installed (apt-get install nginx-light)" >&2; exit 2; }

work=$(mktemp -d)
sw_pid=; ng_pid=
cleanup() {
  set +e
  if [ -n "$sw_pid" ]; then kill "$sw_pid" 2>/dev/null; wait "$sw_pid" 2>/dev/null; fi
  if [ -n "$ng_pid" ]; then kill "$ng_pid" 2>/dev/null; wait "$ng_pid" 2>/dev/null; fi
  rm -rf "$work"
}
trap cleanup EXIT

chmod 755 "$work"  # nginx's worker runs as nobody
mkdir -p "$work/www" "$work/nginx"
printf 'hello, world\n' > "$work/www/hello.txt"
head -c 102400 /dev/urandom > "$work/www/big.bin"

# ---- slipway: two servers in one process, ports written to a file ---------
cat > "$work/serve.lua" <<'EOF'
local server = require "slipway.server"
local task = require "slipway.task"
local www = arg[1]
local hello = server.serve{handler = function(req)
  return {status = 200, headers = {["content-type"] = "text/plain"}, body = "hello, world\n"}
end}
local files = server.serve_files(www)
local f = assert(io.open(arg[2] .. ".tmp", "w"))
f:write(hello.port, " ", files.port, "\n")
f:close()
os.rename(arg[2] .. ".tmp", arg[2])
while true do task.sleep(3600) end
EOF
"$bin" "$work/serve.lua" "$work/www" "$work/ports" </dev/null >/dev/null &
sw_pid=$!

# ---- nginx: one worker (slipway is one thread too), access log off ---------
ng_port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
cat > "$work/nginx/nginx.conf" <<EOF
daemon off;
worker_processes 1;
pid $work/nginx/nginx.pid;
error_log $work/nginx/error.log;
events { worker_connections 1024; }
http {
  access_log off;
  client_body_temp_path $work/nginx/body;
  proxy_temp_path $work/nginx/proxy;
  fastcgi_temp_path $work/nginx/fastcgi;
  uwsgi_temp_path $work/nginx/uwsgi;
  scgi_temp_path $work/nginx/scgi;
  keepalive_requests 1000000;
  server {
    listen 127.0.0.1:$ng_port;
    root $work/www;
    default_type text/plain;
  }
}
EOF
"$nginx_bin" -p "$work/nginx" -c "$work/nginx/nginx.conf" </dev/null >/dev/null 2>&1 &
ng_pid=$!

for _ in $(seq 100); do
  [ -s "$work/ports" ] && curl -s -o /dev/null "http://127.0.0.1:$ng_port/hello.txt" && break
  sleep 0.05
done
read -r sw_port files_port < "$work/ports"
# same bytes from both
[ "$(curl -s "http://127.0.0.1:$sw_port/")" = "$(curl -s "http://127.0.0.1:$ng_port/hello.txt")" ] \
  || { echo "server.sh: the two servers do not answer the same body" >&2; exit 1; }

bench() {  # url -> "rps latency_avg"
  wrk -t 2 -c 50 -d "$dur" "$1" > "$work/wrk.out" 2>&1
  local rps lat errs
  rps=$(awk '/^Requests\/sec/ {print $2}' "$work/wrk.out")
  lat=$(awk '$1 == "Latency" {print $2}' "$work/wrk.out")
  errs=$(awk '/Non-2xx|Socket errors/' "$work/wrk.out")
  [ -n "$errs" ] && echo "  ($1: $errs)" >&2
  echo "$rps $lat"
}

echo "wrk -t 2 -c 50 -d $dur, 127.0.0.1, $(nproc) cores"
read -r s_rps s_lat < <(bench "http://127.0.0.1:$sw_port/")
read -r n_rps n_lat < <(bench "http://127.0.0.1:$ng_port/hello.txt")
printf '%-34s %12s req/s  latency %s\n' "slipway http.serve (handler)" "$s_rps" "$s_lat"
printf '%-34s %12s req/s  latency %s\n' "nginx (same 13 bytes, 1 worker)" "$n_rps" "$n_lat"
awk -v a="$s_rps" -v b="$n_rps" 'BEGIN { printf "ratio slipway/nginx (13 B): %.2f\n", a / b }'

read -r f_rps f_lat < <(bench "http://127.0.0.1:$files_port/big.bin")
read -r m_rps m_lat < <(bench "http://127.0.0.1:$ng_port/big.bin")
printf '%-34s %12s req/s  latency %s\n' "slipway serve_files (100 KB)" "$f_rps" "$f_lat"
printf '%-34s %12s req/s  latency %s\n' "nginx (100 KB, 1 worker)" "$m_rps" "$m_lat"
awk -v a="$f_rps" -v b="$m_rps" 'BEGIN { printf "ratio slipway/nginx (100 KB file): %.2f\n", a / b }'
