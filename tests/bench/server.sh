#!/bin/bash
# http.serve against nginx: `wrk -c 50 -d 5s` on 127.0.0.1 against
#   1. slipway's server with a trivial handler (a fixed 13-byte body), and
#   2. nginx (nginx-light) serving the same 13 bytes from a file,
# then serve_files against nginx on a 100 KB and a 10 MB file (goal, issue
# 17: >= 1.0x nginx on both). nginx runs one worker (slipway is one thread)
# with its defaults (sendfile off, as nginx ships it) and access_log off;
# SLIPWAY_BENCH_NGINX_SENDFILE=on turns its sendfile on.
#
#   tests/bench/server.sh [SLIPWAY_BIN] [DURATION] [TRIES]  (default build/slipway, 5s, 3)
#
# Each pair is measured TRIES times, alternating slipway and nginx so that a
# noisy neighbour hurts both alike; the best requests/s of each is compared.
set -euo pipefail
bin=${1:-build/slipway}
dur=${2:-5s}
tries=${3:-3}
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
head -c 10485760 /dev/urandom > "$work/www/huge.bin"

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
  sendfile ${SLIPWAY_BENCH_NGINX_SENDFILE:-off};
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

pair() {  # label goal slipway_url nginx_url: TRIES alternating runs, best of each
  local label=$1 goal=$2 su=$3 nu=$4 sb=0 nb=0 sl= nl= r l
  for ((k = 0; k < tries; k++)); do
    read -r r l < <(bench "$su")
    if awk -v a="$r" -v b="$sb" 'BEGIN {exit !(a > b)}'; then sb=$r; sl=$l; fi
    read -r r l < <(bench "$nu")
    if awk -v a="$r" -v b="$nb" 'BEGIN {exit !(a > b)}'; then nb=$r; nl=$l; fi
  done
  printf '  %-34s %12s req/s  latency %s\n' "slipway $label" "$sb" "$sl"
  printf '  %-34s %12s req/s  latency %s\n' "nginx $label" "$nb" "$nl"
  awk -v a="$sb" -v b="$nb" -v l="$label" -v g="$goal" 'BEGIN {
    r = a / b
    if (g == "") printf "ratio: slipway/nginx %s = %.2fx (shown, no goal)\n", l, r
    else printf "ratio: slipway/nginx %s = %.2fx  goal >= %.1fx: %s\n", l, r, g, (r >= g) ? "met" : "NOT met"
  }'
}

echo "wrk -t 2 -c 50 -d $dur, 127.0.0.1, $(nproc) cores, best of $tries alternating runs" \
  "(nginx sendfile ${SLIPWAY_BENCH_NGINX_SENDFILE:-off})"
[ -n "${SLIPWAY_BENCH_ONLY_FILES:-}" ] || pair "handler, 13 B" "" "http://127.0.0.1:$sw_port/" "http://127.0.0.1:$ng_port/hello.txt"
pair "serve_files, 100 KB" 1.0 "http://127.0.0.1:$files_port/big.bin" "http://127.0.0.1:$ng_port/big.bin"
pair "serve_files, 10 MB" 1.0 "http://127.0.0.1:$files_port/huge.bin" "http://127.0.0.1:$ng_port/huge.bin"
