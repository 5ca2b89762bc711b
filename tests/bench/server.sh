#!/bin/bash
# http.serve against nginx: `wrk -c 50 -d 5s` on 127.0.0.1 against
#   1. slipway's server with a trivial handler (a fixed 13-byte body), and
#   2. nginx (nginx-light) serving the same 13 bytes from a file,
# then serve_files against nginx on a 100 KB and a 10 MB file (goal, issue
# 17: >= 1.0x nginx on both; 8 connections for 10 MB, so that a response is
# not timed out by wrk). The CPU time each server used per request (from
# /proc, user + system) is printed too: it is what a loaded machine disturbs
# least. nginx runs one worker (slipway is one thread)
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

cpu_ticks() {  # utime + stime of process $1 (and its children), in clock ticks
  awk '{print $14 + $15 + $16 + $17}' "/proc/$1/stat"
}
ng_worker=$(pgrep -P "$ng_pid" nginx | head -1 || true)
[ -n "$ng_worker" ] || ng_worker=$ng_pid
hz=$(getconf CLK_TCK)

bench() {  # pid conns url -> "rps latency_avg cpu_us_per_request"
  local pid=$1 conns=$2 url=$3 c0 c1
  c0=$(cpu_ticks "$pid")
  wrk -t 2 -c "$conns" -d "$dur" --timeout 30s "$url" > "$work/wrk.out" 2>&1
  c1=$(cpu_ticks "$pid")
  local rps lat errs n
  rps=$(awk '/^Requests\/sec/ {print $2}' "$work/wrk.out")
  lat=$(awk '$1 == "Latency" {print $2}' "$work/wrk.out")
  n=$(awk '/requests in/ {print $1}' "$work/wrk.out")
  errs=$(awk '/Non-2xx|Socket errors/' "$work/wrk.out")
  [ -n "$errs" ] && echo "  ($url: $errs)" >&2
  echo "$rps $lat $(awk -v a="$c0" -v b="$c1" -v n="$n" -v hz="$hz" 'BEGIN {printf "%.1f", (b - a) / hz * 1e6 / n}')"
}

# label goal conns slipway_url nginx_url: TRIES alternating runs; the best
# requests/s of each, and the least server CPU per request
pair() {
  local label=$1 goal=$2 conns=$3 su=$4 nu=$5 sb=0 nb=0 sl= nl= sc=1e9 nc=1e9 r l c
  for ((k = 0; k < tries; k++)); do
    read -r r l c < <(bench "$sw_pid" "$conns" "$su")
    if awk -v a="$r" -v b="$sb" 'BEGIN {exit !(a > b)}'; then sb=$r; sl=$l; fi
    sc=$(awk -v a="$c" -v b="$sc" 'BEGIN {print (a < b) ? a : b}')
    read -r r l c < <(bench "$ng_worker" "$conns" "$nu")
    if awk -v a="$r" -v b="$nb" 'BEGIN {exit !(a > b)}'; then nb=$r; nl=$l; fi
    nc=$(awk -v a="$c" -v b="$nc" 'BEGIN {print (a < b) ? a : b}')
  done
  printf '  %-30s %11s req/s  latency %-9s server CPU %8s us/request\n' "slipway $label" "$sb" "$sl" "$sc"
  printf '  %-30s %11s req/s  latency %-9s server CPU %8s us/request\n' "nginx $label" "$nb" "$nl" "$nc"
  awk -v a="$sb" -v b="$nb" -v l="$label" -v g="$goal" -v sc="$sc" -v nc="$nc" 'BEGIN {
    r = a / b
    if (g == "") printf "ratio: slipway/nginx %s = %.2fx (shown, no goal)", l, r
    else printf "ratio: slipway/nginx %s = %.2fx  goal >= %.1fx: %s", l, r, g, (r >= g) ? "met" : "NOT met"
    printf "; CPU per request %.2fx of nginx\n", sc / nc
  }'
}

echo "wrk -t 2 -d $dur (-c 50; -c 8 for 10 MB), 127.0.0.1, $(nproc) cores, best of $tries" \
  "alternating runs; nginx: 1 worker, sendfile ${SLIPWAY_BENCH_NGINX_SENDFILE:-off}"
[ -n "${SLIPWAY_BENCH_ONLY_FILES:-}" ] ||
  pair "handler, 13 B" "" 50 "http://127.0.0.1:$sw_port/" "http://127.0.0.1:$ng_port/hello.txt"
pair "serve_files, 100 KB" 1.0 50 "http://127.0.0.1:$files_port/big.bin" "http://127.0.0.1:$ng_port/big.bin"
pair "serve_files, 10 MB" 1.0 8 "http://127.0.0.1:$files_port/huge.bin" "http://127.0.0.1:$ng_port/huge.bin"
