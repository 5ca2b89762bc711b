#!/bin/bash
# 100,000 tasks spawned and joined: CPU time and peak RSS of slipway, next
# to plain Lua coroutines doing the same steps in lua5.4 (create, run to a
# yield, resume to the end, collect the result) -- the floor any scheduler on
# Lua pays. Prints the ratios with their goal (issue 17: within 2x in time
# and in memory; the HTTP server runs one task per request).
#
#   tests/bench/tasks.sh [SLIPWAY_BIN] [N] [TRIES]  (default build/slipway, 100000, 5)
#
# Both sides are timed with os.clock() (CPU time of the process: a loaded
# machine disturbs it less than wall time) and each is run TRIES times,
# alternating; the best time and the lowest peak RSS are compared.
set -euo pipefail
bin=${1:-build/slipway}
n=${2:-100000}
tries=${3:-5}
export BENCH_N=$n
[ -x "$bin" ] || { echo "tasks.sh: no slipway binary at $bin (build first)" >&2; exit 2; }
command -v lua5.4 >/dev/null || { echo "tasks.sh: lua5.4 not installed" >&2; exit 2; }

sw_code='
local task = require "slipway.task"
local n = tonumber(os.getenv("BENCH_N"))
local t0 = os.clock()
local ts = {}
for i = 1, n do ts[i] = task.spawn(function(x) task.yield(); return x end, i) end
local sum = 0
for i = 1, n do local ok, v = ts[i]:wait(); sum = sum + v end
assert(sum == n * (n + 1) // 2, "wrong sum")
io.write(string.format("%.4f\n", os.clock() - t0))'

lua_code='
local n = tonumber(os.getenv("BENCH_N"))
local t0 = os.clock()
local cs = {}
for i = 1, n do
  cs[i] = coroutine.create(function(x) coroutine.yield(); return x end)
  coroutine.resume(cs[i], i)
end
local sum = 0
for i = 1, n do local ok, v = coroutine.resume(cs[i]); sum = sum + v end
assert(sum == n * (n + 1) // 2, "wrong sum")
io.write(string.format("%.4f\n", os.clock() - t0))'

measure() {  # prints "inner_seconds peak_rss_kb"
  local out
  out=$( { /usr/bin/time -f "RSS %M" "$@" ; } 2>&1 )
  local inner rss
  inner=$(echo "$out" | grep -v '^RSS' | tail -1)
  rss=$(echo "$out" | awk '/^RSS/ {print $2}')
  echo "$inner $rss"
}

if [ ! -x /usr/bin/time ]; then
  echo "tasks.sh: GNU time (/usr/bin/time) is needed for the peak RSS" >&2; exit 2
fi
best() {  # best "time rss" of two: the lower of each
  awk -v a="$1" -v b="$2" -v c="$3" -v d="$4" 'BEGIN {printf "%s %s\n", (c < a) ? c : a, (d < b) ? d : b}'
}
sw_t=999 sw_rss=999999999 lua_t=999 lua_rss=999999999
for ((k = 0; k < tries; k++)); do
  read -r t r < <(measure "$bin" -e "$sw_code"); read -r sw_t sw_rss < <(best "$sw_t" "$sw_rss" "$t" "$r")
  read -r t r < <(measure lua5.4 -e "$lua_code"); read -r lua_t lua_rss < <(best "$lua_t" "$lua_rss" "$t" "$r")
done
awk -v n="$n" -v st="$sw_t" -v sr="$sw_rss" -v lt="$lua_t" -v lr="$lua_rss" -v k="$tries" 'BEGIN {
  printf "%d tasks spawned and joined (best of %d runs each, CPU time)\n", n, k
  printf "  %-30s %8.1f ms  peak RSS %7.1f MB  (%.2f us and %.0f bytes per task)\n",
    "slipway task.spawn + wait", st * 1000, sr / 1024, st * 1e6 / n, sr * 1024 / n
  printf "  %-30s %8.1f ms  peak RSS %7.1f MB  (%.2f us and %.0f bytes per coroutine)\n",
    "lua5.4 coroutines (floor)", lt * 1000, lr / 1024, lt * 1e6 / n, lr * 1024 / n
  if (lt < 0.0001) lt = 0.0001
  printf "ratio: time %.2fx of plain coroutines  goal <= 2x: %s\n", st / lt, (st / lt <= 2) ? "met" : "NOT met"
  printf "ratio: peak RSS %.2fx of plain coroutines  goal <= 2x: %s\n", sr / lr, (sr / lr <= 2) ? "met" : "NOT met"
}'
