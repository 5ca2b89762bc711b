#!/bin/bash
# Picking the newest binderhub development version from the real JupyterHub
# chart index (1.7 MB, /work/shared/fixtures/helm-chart-index): slipway
# against the real helm, both reading the same index from a loopback HTTP
# server, each run a new process that fetches, parses and picks.
#
#   tests/bench/bump.sh [SLIPWAY_BIN]      (default build/slipway)
#
#   helm:    helm repo update local && helm search repo --devel local/binderhub
#   slipway: slipway pick.lua URL   (slipway.sources.helm + slipway.version)
# Prints both picks (they must agree), the mean wall time per run, the ratio,
# and slipway's own in-process split (fetch+parse / pick).
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
src=$(cd "$here/../.." && pwd)
bin=${1:-build/slipway}
case "$bin" in /*) ;; *) bin="$PWD/$bin" ;; esac
shared=${SLIPWAY_SHARED:-$(cd "$src/../shared" 2>/dev/null && pwd || echo /work/shared)}
index="$shared/fixtures/helm-chart-index/index.yaml"
runs=${BUMP_BENCH_RUNS:-10}
helm=$("$src/vendor/get-helm")

tmp=$(mktemp -d /tmp/slipway-bench-bump.XXXXXX)
srv_pid=
cleanup() { [ -n "$srv_pid" ] && kill "$srv_pid" 2>/dev/null; rm -rf "$tmp"; }
trap cleanup EXIT
mkdir -p "$tmp/www"
cp "$index" "$tmp/www/index.yaml"
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
python3 -m http.server "$port" --bind 127.0.0.1 --directory "$tmp/www" >/dev/null 2>&1 &
srv_pid=$!
python3 - "$port" <<'PY'
import sys, time, urllib.request
for _ in range(200):
    try:
        urllib.request.urlopen("http://127.0.0.1:%s/index.yaml" % sys.argv[1]).read(1); break
    except Exception:
        time.sleep(0.05)
PY
url="http://127.0.0.1:$port/"

export HELM_CACHE_HOME="$tmp/helm/cache" HELM_CONFIG_HOME="$tmp/helm/config" HELM_DATA_HOME="$tmp/helm/data"
"$helm" repo add local "$url" >/dev/null

cat > "$tmp/pick.lua" <<'LUA'
local helm = require "slipway.sources.helm"
local version = require "slipway.version"
local task = require "slipway.task"
local t0 = task.now()
local items = helm.candidates({name = "binderhub", scheme = "semver",
  source = {kind = "helm", repo = arg[1], chart = "binderhub"}}, {})
local t1 = task.now()
local best = version.latest(items, {devel = true})
local t2 = task.now()
print(best, string.format("%.1f", (t1 - t0) * 1000), string.format("%.2f", (t2 - t1) * 1000), #items)
LUA

now() { date +%s%N; }
helm_pick=$("$helm" search repo --devel local/binderhub -o json | python3 -c 'import json,sys; print(json.load(sys.stdin)[0]["version"])')
read -r sw_pick sw_fetch sw_pick_ms sw_n < <(SLIPWAY_LOG_LEVEL=warn "$bin" "$tmp/pick.lua" "$url")
echo "pick: helm $helm_pick, slipway $sw_pick ($sw_n binderhub versions)"
if [ "$helm_pick" != "$sw_pick" ]; then echo "bench: the picks differ" >&2; exit 1; fi

t0=$(now)
for _ in $(seq "$runs"); do
  "$helm" repo update local >/dev/null
  "$helm" search repo --devel local/binderhub -o json >/dev/null
done
t1=$(now)
for _ in $(seq "$runs"); do
  SLIPWAY_LOG_LEVEL=warn "$bin" "$tmp/pick.lua" "$url" >/dev/null
done
t2=$(now)
helm_ms=$(( (t1 - t0) / runs / 1000000 ))
sw_ms=$(( (t2 - t1) / runs / 1000000 ))
# search alone, on helm's cached index (no download), for reference
t3=$(now)
for _ in $(seq "$runs"); do "$helm" search repo --devel local/binderhub -o json >/dev/null; done
t4=$(now)
search_ms=$(( (t4 - t3) / runs / 1000000 ))
echo "helm repo update + search --devel: ${helm_ms} ms/run   (search alone on its cache: ${search_ms} ms)"
echo "slipway fetch + parse + pick:      ${sw_ms} ms/run   (in process: fetch+parse ${sw_fetch} ms, pick ${sw_pick_ms} ms)"
python3 -c "import sys; h,s,q=map(float,sys.argv[1:]); print('ratio helm/slipway: %.1fx (search alone vs slipway end to end: %.1fx)' % (h/max(s,1), q/max(s,1)))" "$helm_ms" "$sw_ms" "$search_ms"
