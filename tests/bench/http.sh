#!/bin/bash
# HTTP client benchmark: slipway's http.get against the same libcurl driven by
# `curl --parallel`, against `xargs -P N curl` and Python's thread-pool urllib,
# all fetching from one local nginx (127.0.0.1, temporary config, 1 worker).
#
#   tests/bench/http.sh SLIPWAY_BIN
#
#   case A: 20,000 GETs of a 1 KiB file at concurrency 50
#   case B:  2,000 GETs of a 1 MiB file at concurrency 8
#   case C:  2,000 GETs of the 1 MiB file at concurrency 8 with the body
#            going to a file (http.download; curl --parallel writes files
#            too) and to a loop over chunks (http.stream): peak RSS within
#            1.5x curl --parallel's is the goal (issue 17). Case B keeps each
#            body as a Lua string, which costs more (docs/http.md).
#
# xargs curl starts one process per request, so it gets 1/20 of the requests
# (1,000 and 100) to keep the run short; its rate is still requests/second.
# The clients take turns for ROUNDS rounds (default 3) and each one's best
# time counts, since the machine may be shared; peak RSS is the largest seen
# (GNU time's "Maximum resident set size"). Ratios are slipway's requests/second over
# the other's (> 1: slipway is faster). CPU per request (user + system time
# of the client, best round) is also shown: on a loaded machine it is the
# steadier comparison.
#
# Then, if slipway.server is there and wrk is installed, `wrk -c 50` against
# http.serve with a trivial handler and against nginx serving a 2-byte file.
#
# Environment: HTTP_BENCH_N1, HTTP_BENCH_N2 (request counts), HTTP_BENCH_ROUNDS.
set -euo pipefail
bin=${1:?usage: tests/bench/http.sh SLIPWAY_BIN}
case "$bin" in /*) ;; *) bin="$PWD/$bin" ;; esac
here=$(cd "$(dirname "$0")" && pwd)
N1=${HTTP_BENCH_N1:-20000}
N2=${HTTP_BENCH_N2:-2000}
ROUNDS=${HTTP_BENCH_ROUNDS:-3}
C1=50
C2=8

for tool in nginx curl python3 /usr/bin/time; do
  command -v "$tool" >/dev/null || { echo "http bench: $tool is missing" >&2; exit 2; }
done

tmp=$(mktemp -d /tmp/slipway-http-bench-XXXXXX)
srv_pid=
cleanup() {
  [ -n "$srv_pid" ] && kill "$srv_pid" 2>/dev/null || true
  [ -f "$tmp/nginx.pid" ] && kill -QUIT "$(cat "$tmp/nginx.pid")" 2>/dev/null || true
  sleep 0.2
  rm -rf "$tmp"
}
trap cleanup EXIT

mkdir -p "$tmp/www"
head -c 1024 /dev/zero | tr '\0' a >"$tmp/www/1k.bin"
head -c 1048576 /dev/zero | tr '\0' b >"$tmp/www/1m.bin"
printf ok >"$tmp/www/ok"
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
cat >"$tmp/nginx.conf" <<EOF
daemon on;
worker_processes 1;
pid $tmp/nginx.pid;
error_log $tmp/error.log;
user root;
worker_rlimit_nofile 8192;
events { worker_connections 4096; }
http {
  access_log off;
  client_body_temp_path $tmp/body;
  keepalive_requests 1000000;
  server { listen 127.0.0.1:$port backlog=4096; root $tmp/www; }
}
EOF
nginx -p "$tmp" -c "$tmp/nginx.conf"
base="http://127.0.0.1:$port"

# once KEY CMD...: one timed run; updates best[KEY] (seconds) and rss[KEY] (KB)
declare -A best rss cpu
once() {
  local key=$1
  shift
  /usr/bin/time -f "%e %M %U %S" -o "$tmp/time" "$@" >"$tmp/out" 2>"$tmp/err" || {
    echo "http bench: $key failed:" >&2
    cat "$tmp/err" >&2
    exit 1
  }
  local s m u y c
  read -r s m u y <"$tmp/time"
  c=$(awk "BEGIN{print $u + $y}")
  if [ -z "${cpu[$key]:-}" ] || awk "BEGIN{exit !($c < ${cpu[$key]})}"; then cpu[$key]=$c; fi
  if [ -z "${best[$key]:-}" ] || awk "BEGIN{exit !($s < ${best[$key]})}"; then best[$key]=$s; fi
  if [ -z "${rss[$key]:-}" ] || [ "$m" -gt "${rss[$key]}" ]; then rss[$key]=$m; fi
}

# report KEY NAME COUNT: prints the line, sets rate, rss_mb and cpu_us
report() {
  local key=$1 name=$2 count=$3 secs=${best[$1]}
  rss_mb=$(awk "BEGIN{printf \"%.1f\", ${rss[$key]}/1024}")
  rate=$(awk "BEGIN{printf \"%.0f\", $count/($secs > 0 ? $secs : 0.001)}")
  cpu_us=$(awk "BEGIN{printf \"%.0f\", ${cpu[$key]} * 1e6 / $count}")
  printf '  %-26s %7d req %7.2f s %9s req/s %6s us CPU/req  peak RSS %6s MB\n' \
    "$name" "$count" "$secs" "$rate" "$cpu_us" "$rss_mb"
}

curl_config() {  # URL COUNT -> a curl config file fetching URL COUNT times
  local f="$tmp/curl-$2.cfg"
  awk -v u="$1" -v n="$2" 'BEGIN{for(i=0;i<n;i++) printf "url = \"%s\"\noutput = \"/dev/null\"\n", u}' >"$f"
  echo "$f"
}

cat >"$tmp/pool.py" <<'EOF'
import sys, urllib.request
from concurrent.futures import ThreadPoolExecutor
url, n, c = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
def get(_):
    with urllib.request.urlopen(url, timeout=30) as r:
        return len(r.read())
with ThreadPoolExecutor(max_workers=c) as ex:
    total = sum(ex.map(get, range(n)))
print(total)
EOF

bench_case() {  # LABEL FILE COUNT CONCURRENCY
  local label=$1 file=$2 n=$3 c=$4
  local url="$base/$file" nx=$(( $3 / 20 > 0 ? $3 / 20 : 1 ))
  local cfg
  cfg=$(curl_config "$url" "$n")
  echo "$label: $n GETs of $file at concurrency $c (xargs curl: $nx)"
  # the clients take turns, round after round, so load from elsewhere on
  # the machine falls on all of them alike; each one's best time counts
  for _ in $(seq "$ROUNDS"); do
    once "$label-slipway" "$bin" "$here/http_client.lua" "$url" "$n" "$c"
    once "$label-curl" curl -s --parallel --parallel-max "$c" -K "$cfg"
    once "$label-python" python3 "$tmp/pool.py" "$url" "$n" "$c"
    once "$label-xargs" sh -c "seq $nx | xargs -P $c -I{} curl -s -o /dev/null '$url'"
  done
  report "$label-slipway" "slipway http.get" "$n"
  local s_rate=$rate s_rss=$rss_mb s_cpu=$cpu_us
  report "$label-curl" "curl --parallel-max $c" "$n"
  local c_rate=$rate c_rss=$rss_mb c_cpu=$cpu_us
  report "$label-python" "python ThreadPool urllib" "$n"
  local p_rate=$rate
  report "$label-xargs" "xargs -P $c curl" "$nx"
  local x_rate=$rate
  awk -v s="$s_rate" -v c="$c_rate" -v p="$p_rate" -v x="$x_rate" -v sr="$s_rss" -v cr="$c_rss" \
      -v sc="$s_cpu" -v cc="$c_cpu" 'BEGIN{
    printf "  ratios (slipway req/s / other): curl --parallel %.2fx, python threads %.1fx, xargs curl %.0fx\n", s/c, s/p, s/x
    printf "  CPU per request, curl --parallel / slipway: %.2fx; peak RSS slipway %s MB vs curl %s MB\n", cc/sc, sr, cr }'
}

echo "slipway: $("$bin" -e 'local v = require("slipway.http").version(); print(v.user_agent .. ", " .. v.ssl .. ", resolver " .. v.resolver)')"
echo "rounds: $ROUNDS, clients taking turns (best time kept)"
bench_case "A" 1k.bin "$N1" "$C1"
bench_case "B" 1m.bin "$N2" "$C2"

# ---- case C: 1 MiB bodies to files and to a callback: memory ---------------
mkdir -p "$tmp/dl" "$tmp/curl-dl"
cfg_files="$tmp/curl-files.cfg"
awk -v u="$base/1m.bin" -v n="$N2" -v c="$C2" -v d="$tmp/curl-dl" \
  'BEGIN{for(i=0;i<n;i++) printf "url = \"%s\"\noutput = \"%s/f%d\"\n", u, d, i % c}' >"$cfg_files"
echo "C: $N2 GETs of 1m.bin at concurrency $C2, the body to a file or a callback"
for _ in $(seq "$ROUNDS"); do
  once "C-download" "$bin" "$here/http_client.lua" "$base/1m.bin" "$N2" "$C2" download "$tmp/dl"
  once "C-stream" "$bin" "$here/http_client.lua" "$base/1m.bin" "$N2" "$C2" stream
  once "C-curl" curl -s --parallel --parallel-max "$C2" -K "$cfg_files"
done
report "C-download" "slipway http.download" "$N2"
d_rss=$rss_mb
report "C-stream" "slipway http.stream" "$N2"
s_rss=$rss_mb
report "C-curl" "curl --parallel (files)" "$N2"
awk -v d="$d_rss" -v s="$s_rss" -v c="$rss_mb" 'BEGIN {
  printf "ratio: peak RSS http.download / curl --parallel = %.2fx  goal <= 1.5x: %s\n", d / c, (d / c <= 1.5) ? "met" : "NOT met"
  printf "ratio: peak RSS http.stream / curl --parallel = %.2fx  goal <= 1.5x: %s\n", s / c, (s / c <= 1.5) ? "met" : "NOT met"
}'

# ---- the server side, when it exists -------------------------------------
if ! "$bin" -e 'require "slipway.server"' >/dev/null 2>&1; then
  echo "server: skipped (slipway.server is not available in this build)"
  exit 0
fi
if ! command -v wrk >/dev/null; then
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
    apt-get install -y -qq wrk >/dev/null 2>&1 || true
  fi
fi
if ! command -v wrk >/dev/null; then
  echo "server: skipped (wrk is not installed)"
  exit 0
fi
cat >"$tmp/serve.lua" <<'EOF'
local http = require "slipway.http"
local srv = require("slipway.server").serve{host = "127.0.0.1", port = 0,
  handler = function() return {status = 200, body = "ok"} end}
print(srv:url())
io.stdout:flush()
require("slipway.task").sleep(tonumber(arg[1]))
srv:close()
EOF
"$bin" "$tmp/serve.lua" 60 >"$tmp/serve.out" 2>"$tmp/serve.err" &
srv_pid=$!
for _ in $(seq 100); do [ -s "$tmp/serve.out" ] && break; sleep 0.05; done
surl=$(head -1 "$tmp/serve.out")
surl=${surl%/}
wrk_rate() { wrk -t 2 -c 50 -d "${HTTP_BENCH_WRK_SECONDS:-5}s" "$1" | awk '/Requests\/sec/ {print $2}'; }
echo "server: wrk -t 2 -c 50 -d ${HTTP_BENCH_WRK_SECONDS:-5}s"
s=$(wrk_rate "$surl/")
n=$(wrk_rate "$base/ok")
awk -v s="$s" -v n="$n" 'BEGIN{printf "  http.serve (trivial handler) %.0f req/s, nginx (2-byte file) %.0f req/s: ratio %.2fx\n", s, n, s/n}'
