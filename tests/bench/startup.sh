#!/bin/bash
# Start-up time of `slipway -e ''`, `slipway --version`, `slipway FILE` and a
# command's `--help` against `lua5.4 -e ''` (and `python3 -c pass`), as
# ratios. Goal (issue 17): -e and FILE within 1.1x of bare lua5.4;
# --version (which loads libcurl to name it) and a command's --help are
# shown beside them.
#
#   tests/bench/startup.sh [SLIPWAY_BIN] [RUNS]     (default build/slipway, 200)
#
# Each command runs RUNS times, in 8 rounds that alternate between the
# commands so that a noisy neighbour hurts all of them alike; every run is
# timed on its own. Printed per command: the fastest run, the median and the
# mean; the ratios use the fastest runs, which a loaded machine disturbs
# least (the medians' ratio is shown beside). The cost of fork+exec itself
# (/bin/true) is shown. With valgrind installed the instruction counts
# (callgrind, deterministic) are printed too; with hyperfine, its means.
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

for k in "${!cmds[@]}"; do eval "${cmds[$k]}" >/dev/null 2>&1 || true; done  # page cache
# each run timed on its own (microseconds), in rounds that alternate between
# the commands; one file of times per command
rounds=8
per=$(( (runs + rounds - 1) / rounds ))
for ((r = 0; r < rounds; r++)); do
  for k in "${!cmds[@]}"; do
    # shellcheck disable=SC2206 -- the commands are word lists on purpose
    c=(${cmds[$k]})
    [ "${c[1]:-}" = "-e" ] && c[2]=""  # the literal '' of the label: an empty chunk
    for ((i = 0; i < per; i++)); do
      t0=${EPOCHREALTIME/./}
      "${c[@]}" >/dev/null 2>&1
      t1=${EPOCHREALTIME/./}
      echo $((t1 - t0)) >>"$tmp/t$k"
    done
  done
done
n=$((per * rounds))

stats() {  # file -> "min median mean" in ms
  sort -n "$1" | awk '{v[NR] = $1; s += $1} END {printf "%.3f %.3f %.3f\n", v[1] / 1000, v[int((NR + 1) / 2)] / 1000, s / NR / 1000}'
}
printf 'start-up, %d runs each in %d alternating rounds (ms per run)\n' "$n" "$rounds"
printf '  %-22s %8s %8s %8s\n' "" min median mean
declare -a mins meds
for k in "${!cmds[@]}"; do
  read -r mn md me < <(stats "$tmp/t$k")
  mins[k]=$mn; meds[k]=$md
  printf '  %-22s %8s %8s %8s\n' "${labels[$k]}" "$mn" "$md" "$me"
done
# The ratio is of the fastest runs: what each costs when nothing else on the
# machine gets in the way (medians beside it move with the load).
# --version has no goal: it loads libcurl (and OpenSSL) to report its
# version, or that it cannot be loaded, which is what the package check and
# a user debugging HTTP ask it for (docs/runtime.md, "Start-up").
for k in 2 3 4 5; do
  goal=1.1; [ "$k" = 3 ] || [ "$k" = 5 ] && goal=""
  awk -v l="${labels[$k]}" -v s="${mins[k]}" -v b="${mins[1]}" -v sm="${meds[k]}" -v bm="${meds[1]}" -v g="$goal" 'BEGIN {
    r = s / b
    if (g == "") printf "ratio: %-22s / lua5.4 -e \047\047 = %.2fx (medians %.2fx; shown, no goal)\n", l, r, sm / bm
    else printf "ratio: %-22s / lua5.4 -e \047\047 = %.2fx (medians %.2fx)  goal <= %.1fx: %s\n", l, r, sm / bm, g, (r <= g) ? "met" : "NOT met"
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
