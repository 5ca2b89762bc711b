#!/bin/bash
# slipway.proc throughput: N runs (default 2,000) of /bin/true at concurrency
# 1 and 8, and of `echo hello` with its output captured, against
#   floor    a small C program: posix_spawn + waitpid (tests/bench/proc_floor.c,
#            compiled here with cc), a pipe read to EOF when capturing
#   xargs    xargs -P
#   python   Python's subprocess.run (a thread pool for concurrency 8)
# and the same at concurrency 8 with ~100 MB resident in the Lua heap (and
# in the floor's and Python's). Also shows libuv's uv_spawn (fork) for the
# record, which is why slipway does not use it (docs/proc.md).
# Prints times and ratios of throughput (floor time / time: 1.00x = the
# floor). Each contender runs REPEAT times (default 3), interleaved, and the
# best time counts: on a shared machine the noise is all on the slow side.
#
#   tests/bench/proc.sh [SLIPWAY_BIN] [N] [REPEAT]   (default build/slipway, 2000, 3)
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
bin=${1:-build/slipway}
n=${2:-2000}
repeat=${3:-3}
[ -x "$bin" ] || { echo "proc.sh: no slipway binary at $bin (build first)" >&2; exit 2; }
command -v cc >/dev/null || { echo "proc.sh: cc is needed for the floor program" >&2; exit 2; }
py=$(command -v python3 || true)

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
floor="$work/proc_floor"
if pkg-config --exists libuv 2>/dev/null; then
  cc -O2 -DWITH_UV -o "$floor" "$here/proc_floor.c" $(pkg-config --cflags --libs libuv)
  have_uv=1
else
  cc -O2 -o "$floor" "$here/proc_floor.c"
  have_uv=0
fi

cat > "$work/bench.lua" <<'EOF'
local proc = require "slipway.proc"
local task = require "slipway.task"
local n, c = tonumber(os.getenv("BENCH_N")), tonumber(os.getenv("BENCH_C"))
local mode, heap = os.getenv("BENCH_MODE"), tonumber(os.getenv("BENCH_HEAP"))
local keep = {}
for i = 1, heap * 1024 * 1024 // 128 do keep[i] = ("x"):rep(100) .. i end
-- steady state: a playbook's big heap was built long before; without this the
-- collector is still mid-cycle over the new 100 MB during the runs
if heap > 0 then collectgarbage() end
local argv = mode == "true" and {"/bin/true"} or {"echo", "hello"}
local opts = {echo = os.getenv("BENCH_ECHO") == "1"}   -- capture: the default
local i = 0
local function worker()
  while i < n do
    i = i + 1
    local r = proc.run(argv, opts)
    if mode == "echo" then assert(r.stdout == "hello\n") end
  end
end
local fns = {}
for k = 1, c do fns[k] = worker end
local t0 = task.now()
task.all(fns)
io.write(string.format("%.4f %.0f\n", task.now() - t0, collectgarbage("count") / 1024))
EOF

cat > "$work/bench.py" <<'EOF'
import os, subprocess, sys, time
from concurrent.futures import ThreadPoolExecutor
n, c = int(os.environ["BENCH_N"]), int(os.environ["BENCH_C"])
mode, heap = os.environ["BENCH_MODE"], int(os.environ["BENCH_HEAP"])
keep = [("x" * 100) + str(i) for i in range(heap * 1024 * 1024 // 160)]
argv = ["/bin/true"] if mode == "true" else ["echo", "hello"]
def one(_):
    r = subprocess.run(argv, capture_output=(mode == "echo"))
    assert r.returncode == 0 and (mode == "true" or r.stdout == b"hello\n")
t0 = time.monotonic()
if c == 1:
    for i in range(n): one(i)
else:
    with ThreadPoolExecutor(c) as ex: list(ex.map(one, range(n)))
print("%.4f" % (time.monotonic() - t0))
EOF

secs() { date +%s.%N; }

run_xargs() {  # mode c -> seconds
  local t0 t1 count
  t0=$(secs)
  if [ "$1" = true ]; then
    seq "$n" | xargs -n1 -P"$2" /bin/true
  else
    count=$(seq "$n" | xargs -P"$2" -I{} echo hello | wc -l)
    [ "$count" -eq "$n" ] || { echo "xargs: $count lines" >&2; exit 1; }
  fi
  t1=$(secs)
  awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%.4f\n", b - a }'
}

run_case() {  # label mode c heap_mb
  local label=$1 mode=$2 c=$3 heap=$4 cap=nocapture argv=(/bin/true)
  if [ "$mode" = echo ]; then cap=capture; argv=(echo hello); fi
  local f=999999 s=999999 x=999999 p=999999 u=999999 mem t i
  min() { awk -v a="$1" -v b="$2" 'BEGIN { print (b < a ? b : a) }'; }
  for ((i = 0; i < repeat; i++)); do
    t=$("$floor" spawn "$n" "$c" "$cap" "$heap" "${argv[@]}"); f=$(min "$f" "$t")
    read -r t mem < <(BENCH_N=$n BENCH_C=$c BENCH_MODE=$mode BENCH_HEAP=$heap "$bin" "$work/bench.lua")
    s=$(min "$s" "$t")
    t=$(run_xargs "$mode" "$c"); x=$(min "$x" "$t")
    if [ -n "$py" ]; then
      t=$(BENCH_N=$n BENCH_C=$c BENCH_MODE=$mode BENCH_HEAP=$heap "$py" "$work/bench.py"); p=$(min "$p" "$t")
    fi
    if [ "$have_uv" = 1 ]; then
      # with the big heap, fork is so slow that one round says enough
      if [ "$i" = 0 ] || [ "$heap" = 0 ]; then
        t=$("$floor" uv "$n" "$c" "$cap" "$heap" "${argv[@]}"); u=$(min "$u" "$t")
      fi
    fi
  done
  [ -n "$py" ] || p="-"
  [ "$have_uv" = 1 ] || u="-"
  awk -v l="$label" -v f="$f" -v s="$s" -v x="$x" -v p="$p" -v u="$u" -v m="$mem" 'BEGIN {
    r = f / s
    printf "%-34s %7.0f %7.0f %7.0f %7s %7s   slipway %.2fx floor", l, f*1000, s*1000, x*1000,
      (p == "-" ? "-" : sprintf("%.0f", p*1000)), (u == "-" ? "-" : sprintf("%.0f", u*1000)), r
    if (p != "-") printf ", %.2fx python", p / s
    printf "  (Lua heap %d MB)%s\n", m, (r < 0.8 ? "  BELOW TARGET 0.8x" : "")
  }'
}

echo "slipway.proc: $n runs per case, best of $repeat; times in ms (lower is better); ratios are throughput"
printf "%-34s %7s %7s %7s %7s %7s\n" "case" "floor" "slipway" "xargs" "python" "uv_spawn"
run_case "/bin/true, concurrency 1" true 1 0
run_case "/bin/true, concurrency 8" true 8 0
run_case "echo hello captured, concurrency 1" echo 1 0
run_case "echo hello captured, concurrency 8" echo 8 0
run_case "/bin/true, c8, 100 MB heap" true 8 100
run_case "echo hello captured, c8, 100 MB" echo 8 100
