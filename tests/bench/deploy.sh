#!/bin/bash
# Deploy benchmark (not run by ctest).
#
# 1. Per-step overhead: the same 20-step local playbook -- each step runs
#    `true` and GETs a local URL -- under slipway (`slipway run`, through the
#    playbook engine, journal on) and under ansible-playbook (connection:
#    local, no fact gathering; the step is a `command` task and a `uri`
#    task). Per-step overhead = (T(20 steps) - T(1 step)) / 19, best of N runs;
#    printed with the ratio ansible / slipway.
# 2. A full local green deploy of the example deployment (stage -> test ->
#    promote to two members, 17 checks): wall time split into slipway's own
#    CPU time and time waiting on children, services and checks (from the
#    run_end record of the journal: cpu; waiting = wall - cpu).
#
#   tests/bench/deploy.sh [SLIPWAY_BIN]       (default build/slipway)
# ansible-playbook is apt-get installed (ansible-core, the engine of Debian's
# ansible) when missing and possible; without it only slipway's figures print.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
src=$(cd "$here/../.." && pwd)
bin=${1:-build/slipway}
case "$bin" in /*) ;; *) bin="$PWD/$bin" ;; esac
runs=${BENCH_RUNS:-5}
work=$(mktemp -d)
srv_pid=
cleanup() {
  [ -n "$srv_pid" ] && kill "$srv_pid" 2>/dev/null || true
  if [ -d "$work/dep/.slipway" ]; then (cd "$work/dep" && "$bin" -q stop --all >/dev/null 2>&1) || true; fi
  rm -rf "$work"
}
trap cleanup EXIT

if ! command -v ansible-playbook >/dev/null 2>&1 && [ "$(id -u)" = 0 ]; then
  echo "installing ansible-core (apt-get) ..." >&2
  DEBIAN_FRONTEND=noninteractive apt-get install -y -q ansible-core >/dev/null 2>&1 || true
fi

# a local HTTP server (slipway's own) for the GETs
cat > "$work/serve.lua" <<'LUA'
local server = require "slipway.server"
local fs = require "slipway.fs"
local srv = server.serve{host = "127.0.0.1", port = 0, handler = function()
  return {status = 200, body = "ok"} end}
fs.write(arg[1], srv:url())
while true do require("slipway.task").sleep(3600) end
LUA
"$bin" "$work/serve.lua" "$work/url" &
srv_pid=$!
for _ in $(seq 100); do [ -s "$work/url" ] && break; sleep 0.05; done
url=$(cat "$work/url")

gen_slipway() {  # N -> playbook file
  local n=$1 f="$work/pb$1.lua"
  {
    echo 'local playbook = require "slipway.playbook"'
    echo 'local steps = {}'
    echo "for i = 1, $n do"
    echo '  steps[i] = {name = "step" .. i, run = function(ctx)'
    echo '    ctx:run({"true"}, {readonly = true})'
    echo "    local r = ctx:get(\"$url\")"
    echo '    assert(r.status == 200)'
    echo '  end}'
    echo 'end'
    echo 'return playbook.define{name = "bench", steps = steps}'
  } > "$f"
  echo "$f"
}
gen_ansible() {
  local n=$1 f="$work/pb$1.yml"
  {
    echo "- hosts: localhost"
    echo "  connection: local"
    echo "  gather_facts: false"
    echo "  tasks:"
    for i in $(seq "$n"); do
      echo "    - name: step$i true"
      echo "      command: \"true\""
      echo "    - name: step$i get"
      echo "      uri: {url: \"$url\", return_content: false}"
    done
  } > "$f"
  echo "$f"
}
now() { date +%s.%N; }
best() {  # command... -> best wall time of $runs runs
  local b=
  for _ in $(seq "$runs"); do
    local t0 t1
    t0=$(now); "$@" >/dev/null 2>&1; t1=$(now)
    b=$(awk -v a="$t0" -v z="$t1" -v b="$b" 'BEGIN{d=z-a; if (b=="" || d<b) print d; else print b}')
  done
  echo "$b"
}

mkdir -p "$work/run"
cd "$work/run"
s1=$(gen_slipway 1); s20=$(gen_slipway 20)
"$bin" run "$s20" >/dev/null 2>&1 || { echo "bench: the slipway playbook failed" >&2; "$bin" run "$s20"; exit 1; }
t_s1=$(best "$bin" -q run "$s1")
t_s20=$(best "$bin" -q run "$s20")
per_s=$(awk -v a="$t_s1" -v b="$t_s20" 'BEGIN{printf "%.2f", (b-a)/19*1000}')
echo "20-step local playbook (each step: run \`true\`, GET $url), best of $runs:"
printf "  slipway run      1 step %6.3f s   20 steps %6.3f s   per step %s ms\n" "$t_s1" "$t_s20" "$per_s"
if command -v ansible-playbook >/dev/null 2>&1; then
  a1=$(gen_ansible 1); a20=$(gen_ansible 20)
  export ANSIBLE_LOCALHOST_WARNING=False ANSIBLE_INVENTORY_UNPARSED_WARNING=False
  ansible-playbook -i localhost, "$a20" >/dev/null 2>&1 || { echo "bench: the ansible playbook failed" >&2; ansible-playbook -i localhost, "$a20"; exit 1; }
  t_a1=$(best ansible-playbook -i localhost, "$a1")
  t_a20=$(best ansible-playbook -i localhost, "$a20")
  per_a=$(awk -v a="$t_a1" -v b="$t_a20" 'BEGIN{printf "%.2f", (b-a)/19*1000}')
  printf "  ansible-playbook 1 step %6.3f s   20 steps %6.3f s   per step %s ms\n" "$t_a1" "$t_a20" "$per_a"
  awk -v s="$per_s" -v a="$per_a" -v ts="$t_s20" -v ta="$t_a20" 'BEGIN{
    printf "  ratio ansible/slipway: per-step overhead %.1fx, whole 20-step run %.1fx\n", a/s, ta/ts}'
else
  echo "  ansible-playbook: not installed (apt-get install ansible-core), no ratio"
fi

# 2. a full local green deploy of the example deployment
mkdir -p "$work/dep"
cp -r "$src/scripts/examples/deployment/." "$work/dep/"
cd "$work/dep"
git init -q && git add -A && git -c user.name=bench -c user.email=bench@localhost commit -qm example
t0=$(now)
"$bin" -q deploy >/dev/null
t1=$(now)
"$bin" -e '
local journal = require "slipway.journal"
local runs = journal.runs(".slipway")
local e
for _, r in ipairs(runs[1].records) do if r.type == "run_end" then e = r end end
local checks = 0
for _, r in ipairs(runs[1].records) do if r.type == "check" then checks = checks + 1 end end
print(string.format("full local green deploy (stage, test, promote to 2 members, %d checks):", checks))
print(string.format("  wall %.3f s (process %.3f s): slipway own CPU %.3f s (%.0f%%), waiting on children, services and checks %.3f s",
  e.duration, tonumber(arg[1]), e.cpu, 100 * e.cpu / e.duration, e.duration - e.cpu))
' "$(awk -v a="$t0" -v z="$t1" 'BEGIN{print z-a}')"
"$bin" -q stop --all >/dev/null
