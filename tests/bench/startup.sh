#!/bin/bash
# Start-up time of `slipway -e ''`, `slipway --version`, `slipway FILE` and a
# command's `--help` against `lua5.4 -e ''` (and `python3 -c pass`), as
# ratios. Goal (issue 17): -e, --version and FILE within 1.1x of bare
# lua5.4; a command's --help is shown beside it.
#
#   tests/bench/startup.sh [SLIPWAY_BIN] [RUNS]     (default build/slipway, 200)
#
# Each command runs RUNS times, in 8 rounds that alternate between the
# commands so that a noisy neighbour hurts all of them alike. Printed per
# command: the mean of all runs and the best round's mean ("best"); the
# ratios use the best rounds, which a loaded machine disturbs least. The
# cost of fork+exec itself (/bin/true) is shown. With valgrind installed the
# instruction counts (callgrind, deterministic) are printed too; with
# hyperfine, its means.
set -euo pipefail
bin=${1:-build/slipway}
runs=${2:-200}
[ -x "$bin" ] || { echo "startup.sh: no slipway binary at $bin (build first)" >&2; exit 2; }
command -v lua5.4 >/dev/null || { echo "startup.sh: lua5.4 not installed" >&2; exit 2; }

# Debian's python3, not a version-manager shim (pyenv's is a shell script)
py=/usr/bin/python3
[ -x "$py" ] || py=$(command -v python3 || echo python3)

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
printf 'local x = 1\n' >"$tmp/script.lua"

labels=("/bin/true" "lua5.4 -e ''" "slipway -e ''" "slipway --version" "slipway FILE"
        "slipway stage --help" "python3 -c pass")
cmds=("/bin/true" "lua5.4 -e ''" "$bin -e ''" "$bin --version" "$bin $tmp/script.lua"
      "$bin stage --help" "$py -c pass")
declare -a total best
for k in "${!cmds[@]}"; do total[k]=0; best[k]=999999; done

loop() {  # loop N CMD...: seconds (float) for N runs
  local n=$1; shift
  local t0=$EPOCHREALTIME
  for ((i = 0; i < n; i++)); do "$@" >/dev/null 2>&1; done
  local t1=$EPOCHREALTIME
  echo "$t0 $t1" | awk '{printf "%.6f", $2 - $1}'
}

for k in "${!cmds[@]}"; do eval "${cmds[$k]}" >/dev/null 2>&1 || true; done  # page cache
rounds=8
per=$(( (runs + rounds - 1) / rounds ))
for ((r = 0; r < rounds; r++)); do
  for k in "${!cmds[@]}"; do
    # shellcheck disable=SC2086 -- the commands are word lists on purpose
    t=$(eval loop $per ${cmds[$k]})
    total[k]=$(awk -v a="${total[k]}" -v b="$t" 'BEGIN{print a+b}')
    best[k]=$(awk -v a="${best[k]}" -v b="$t" 'BEGIN{print (b < a) ? b : a}')
  done
done
n=$((per * rounds))

printf 'start-up, %d runs each in %d rounds (ms per run: mean of all, best round)\n' "$n" "$rounds"
for k in "${!cmds[@]}"; do
  awk -v l="${labels[$k]}" -v t="${total[k]}" -v b="${best[k]}" -v n="$n" -v p="$per" \
    'BEGIN {printf "  %-22s %8.3f ms  best %7.3f ms\n", l, t / n * 1000, b / p * 1000}'
done
lua_best=${best[1]}
for k in 2 3 4 5; do
  goal=1.1; [ "$k" = 5 ] && goal=""
  awk -v l="${labels[$k]}" -v s="${best[k]}" -v b="$lua_best" -v g="$goal" 'BEGIN {
    r = s / b
    if (g == "") printf "ratio: %-22s / lua5.4 -e \047\047 = %.2fx (shown, no goal)\n", l, r
    else printf "ratio: %-22s / lua5.4 -e \047\047 = %.2fx  goal <= %.1fx: %s\n", l, r, g, (r <= g) ? "met" : "NOT met"
  }'
done

if command -v valgrind >/dev/null; then
  icount() {  # instructions executed by CMD... (callgrind, whole process)
    valgrind --tool=callgrind --callgrind-out-file=/dev/null "$@" 2>&1 >/dev/null |
      awk '/Collected :/ {print $NF}'
  }
  base=$(icount lua5.4 -e '')
  echo "instructions (callgrind): lua5.4 -e '' $base"
  for k in 2 3 4 5; do
    # shellcheck disable=SC2086
    c=$(eval icount ${cmds[$k]})
    awk -v l="${labels[$k]}" -v c="$c" -v b="$base" \
      'BEGIN {printf "  %-22s %11d  %.2fx\n", l, c, c / b}'
  done
fi

if command -v hyperfine >/dev/null; then
  hyperfine -N --warmup 20 --runs "$runs" "lua5.4 -e ''" "$bin -e ''" "$bin --version" "$py -c pass" 2>/dev/null |
    grep -E "Time|±|faster" || true
fi
