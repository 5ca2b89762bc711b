#!/bin/bash
# slipway.yaml throughput on ~10 MB of generated YAML (tests/bench/yaml_gen.lua):
# Kubernetes-manifest-like documents and one Helm-values-like nested mapping.
#   floor    libyaml's parser event loop alone, no values built
#            (tests/bench/yaml_floor.c, compiled here with cc)
#   slipway  yaml.load_all (a C builder of Lua tables)
#   lyaml    Debian's lua-yaml under lua5.4
#   pyyaml   Debian's python3-yaml, yaml.load_all(Loader=CSafeLoader), /usr/bin/python3
# and a lossless edit: yaml.open, then doc:set of one scalar + doc:save.
# Prints MB/s, the ratio to the floor (1.00x = the floor) and peak RSS.
#
# floor and slipway runs alternate, best of REPEAT; lyaml and PyYAML run once
# (they are 10-50x slower, noise does not change the picture).
#
#   tests/bench/yaml.sh [SLIPWAY_BIN] [MB] [REPEAT]   (default build/slipway, 10, 5)
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
bin=${1:-build/slipway}
mb=${2:-10}
rep=${3:-5}
case "$bin" in /*) ;; *) bin="$PWD/$bin" ;; esac
[ -x "$bin" ] || { echo "yaml.sh: no slipway binary at $bin (build first)" >&2; exit 2; }
command -v cc >/dev/null || { echo "yaml.sh: cc is needed for the floor program" >&2; exit 2; }
[ -x /usr/bin/time ] || { echo "yaml.sh: /usr/bin/time is needed for peak RSS (apt-get install time)" >&2; exit 2; }

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
cc -O2 -o "$work/floor" "$here/yaml_floor.c" $(pkg-config --cflags --libs yaml-0.1)
"$bin" "$here/yaml_gen.lua" "$work/manifests.yaml" "$work/values.yaml" "$mb"

have_lyaml=0
lua5.4 -e 'require "lyaml"' 2>/dev/null && have_lyaml=1
have_py=0
/usr/bin/python3 -c 'import yaml; yaml.CSafeLoader' 2>/dev/null && have_py=1

cat > "$work/lyaml.lua" <<'LUA'
local lyaml = require "lyaml"
local f = assert(io.open(arg[1], "rb")); local text = f:read("a"); f:close()
local best = math.huge
for _ = 1, tonumber(arg[2]) do
  local t0 = os.clock(); lyaml.load(text, {all = true}); local dt = os.clock() - t0
  if dt < best then best = dt end
end
print(string.format("%.6f", best))
LUA

# run CMD...: stdout to $work/out, peak RSS (KiB) to $work/rss
run() {
  /usr/bin/time -f "%M" -o "$work/rss" "$@" > "$work/out"
}

for input in manifests values; do
  f="$work/$input.yaml"
  size=$(stat -c %s "$f")
  mbs=$(awk -v s="$size" 'BEGIN { printf "%.2f", s / 1048576 }')
  echo "-- $input.yaml: $mbs MB"
  # floor and slipway alternate, best of $rep each (a shared machine is noisy)
  floor_t=1e9; sw_t=1e9; open_t=1e9; set_t=1e9; save_t=1e9; floor_rss=0; sw_rss=0
  for _ in $(seq "$rep"); do
    run "$work/floor" "$f" 1
    floor_t=$(awk -v a="$floor_t" '{ print ($4 < a ? $4 : a) }' "$work/out")
    floor_rss=$(awk -v a="$floor_rss" '{ print ($1 > a ? $1 : a) }' "$work/rss")
    run "$bin" "$here/yaml_slipway.lua" "$f"
    sw_t=$(awk -v a="$sw_t" '/^load/ { print ($2 < a ? $2 : a) }' "$work/out")
    sw_rss=$(awk -v a="$sw_rss" '{ print ($1 > a ? $1 : a) }' "$work/rss")
    run "$bin" "$here/yaml_slipway.lua" "$f" "$work/copy.yaml"
    open_t=$(awk -v a="$open_t" '/^open/ { print ($2 < a ? $2 : a) }' "$work/out")
    set_t=$(awk -v a="$set_t" '/^open/ { print ($4 < a ? $4 : a) }' "$work/out")
    save_t=$(awk -v a="$save_t" '/^open/ { print ($6 < a ? $6 : a) }' "$work/out")
    delta=$(awk '/^open/ { print $8 }' "$work/out")
    edit_rss=$(cat "$work/rss")
  done
  edit_t=$(awk -v a="$set_t" -v b="$save_t" 'BEGIN { print a + b }')
  line() {  # name seconds rss
    awk -v n="$1" -v t="$2" -v r="$3" -v s="$size" -v fl="$floor_t" \
      'BEGIN { printf "  %-26s %8.3f s %8.1f MB/s %6.2fx floor  peak RSS %7.1f MB\n", n, t, s / 1048576 / t, fl / t, r / 1024 }'
  }
  line "floor (libyaml events)" "$floor_t" "$floor_rss"
  line "slipway yaml.load_all" "$sw_t" "$sw_rss"
  ly_t=""; py_t=""
  if [ $have_lyaml = 1 ]; then
    run lua5.4 "$work/lyaml.lua" "$f" 1
    ly_t=$(cat "$work/out")
    line "lyaml (lua5.4)" "$ly_t" "$(cat "$work/rss")"
  else
    echo "  lyaml: not installed (apt-get install lua-yaml)"
  fi
  if [ $have_py = 1 ]; then
    run /usr/bin/python3 -c '
import sys, time, yaml
text = open(sys.argv[1], "rb").read()
best = 1e9
for _ in range(int(sys.argv[2])):
    t0 = time.perf_counter(); list(yaml.load_all(text, Loader=yaml.CSafeLoader)); dt = time.perf_counter() - t0
    best = min(best, dt)
print("%.6f" % best)' "$f" 1
    py_t=$(cat "$work/out")
    line "PyYAML CSafeLoader" "$py_t" "$(cat "$work/rss")"
  else
    echo "  PyYAML: not installed (apt-get install python3-yaml)"
  fi
  line "slipway yaml.open (index)" "$open_t" "$edit_rss"
  line "slipway doc:set (verified)" "$set_t" "$edit_rss"
  line "slipway doc:set + doc:save" "$edit_t" "$edit_rss"
  awk -v l="$sw_t" -v e="$edit_t" -v o="$open_t" -v d="$delta" \
    'BEGIN { printf "  time / load time: set+save %.2fx, open+set+save %.2fx (file size change: %d bytes)\n", e / l, (o + e) / l, d }'
  awk -v l="$sw_t" -v fl="$floor_t" -v ly="${ly_t:-0}" -v py="${py_t:-0}" -v e="$edit_t" 'BEGIN {
    printf "  targets: load >= 0.50x floor: %s (%.2fx); faster than lyaml: %s; faster than PyYAML: %s; set+save <= load: %s\n",
      (fl / l >= 0.5 ? "yes" : "NO"), fl / l, (ly == 0 ? "n/a" : (l < ly ? "yes" : "NO")),
      (py == 0 ? "n/a" : (l < py ? "yes" : "NO")), (e <= l ? "yes" : "NO") }'
done
