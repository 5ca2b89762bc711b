#!/bin/bash
# Start-up time of `slipway -e ''` against `lua5.4 -e ''` and `python3 -c pass`,
# as ratios. Target: slipway within 1.5x of bare lua5.4.
#
#   tests/bench/startup.sh [SLIPWAY_BIN] [RUNS]     (default build/slipway, 200)
#
# Each command runs RUNS times in a loop, alternating rounds so that a noisy
# neighbour hurts all of them alike; the cost of fork+exec itself, measured
# with /bin/true, is shown and subtracted ("net"). With hyperfine installed
# its mean is shown too.
set -euo pipefail
bin=${1:-build/slipway}
runs=${2:-200}
[ -x "$bin" ] || { echo "startup.sh: no slipway binary at $bin (build first)" >&2; exit 2; }
command -v lua5.4 >/dev/null || { echo "startup.sh: lua5.4 not installed" >&2; exit 2; }

# Debian's python3, not a version-manager shim (pyenv's is a shell script)
py=/usr/bin/python3
[ -x "$py" ] || py=$(command -v python3 || echo python3)

names=(true lua slipway python)
cmds=("/bin/true" "lua5.4 -e ''" "$bin -e ''" "$py -c pass")
declare -A total
for n in "${names[@]}"; do total[$n]=0; done

loop() {  # loop N CMD...: seconds (float) for N runs
  local n=$1; shift
  local t0=$EPOCHREALTIME
  for ((i = 0; i < n; i++)); do "$@" >/dev/null 2>&1; done
  local t1=$EPOCHREALTIME
  echo "$t0 $t1" | awk '{printf "%.6f", $2 - $1}'
}

# warm the page cache, then 4 alternating rounds of runs/4
for k in "${!names[@]}"; do eval "${cmds[$k]}" >/dev/null 2>&1 || true; done
rounds=4
per=$(( (runs + rounds - 1) / rounds ))
for ((r = 0; r < rounds; r++)); do
  total[true]=$(awk -v a="${total[true]}" -v b="$(loop $per /bin/true)" 'BEGIN{print a+b}')
  total[lua]=$(awk -v a="${total[lua]}" -v b="$(loop $per lua5.4 -e '')" 'BEGIN{print a+b}')
  total[slipway]=$(awk -v a="${total[slipway]}" -v b="$(loop $per "$bin" -e '')" 'BEGIN{print a+b}')
  total[python]=$(awk -v a="${total[python]}" -v b="$(loop $per "$py" -c pass)" 'BEGIN{print a+b}')
done
n=$((per * rounds))

awk -v n="$n" -v t="${total[true]}" -v l="${total[lua]}" -v s="${total[slipway]}" \
    -v p="${total[python]}" -v bin="$bin" 'BEGIN {
  mt = t / n * 1000; ml = l / n * 1000; ms = s / n * 1000; mp = p / n * 1000
  nl = ml - mt; ns = ms - mt; np = mp - mt
  if (nl < 0.001) nl = 0.001
  printf "start-up, mean of %d runs each (ms per run; net = minus fork+exec of /bin/true)\n", n
  printf "  %-22s %8.3f ms\n", "/bin/true", mt
  printf "  %-22s %8.3f ms  net %7.3f ms\n", "lua5.4 -e \047\047", ml, nl
  printf "  %-22s %8.3f ms  net %7.3f ms\n", "slipway -e \047\047", ms, ns
  printf "  %-22s %8.3f ms  net %7.3f ms\n", "python3 -c pass", mp, np
  printf "ratios: slipway/lua5.4 = %.2fx (net %.2fx), python3/lua5.4 = %.2fx (net %.2fx), python3/slipway = %.2fx\n",
    ms / ml, ns / nl, mp / ml, np / nl, mp / ms
  printf "target: slipway within 1.5x of lua5.4: %s\n", (ms / ml <= 1.5) ? "met" : "NOT met"
}'

if command -v hyperfine >/dev/null; then
  hyperfine -N --warmup 20 --runs "$runs" "lua5.4 -e ''" "$bin -e ''" "$py -c pass" 2>/dev/null |
    grep -E "Time|±|faster" || true
fi
