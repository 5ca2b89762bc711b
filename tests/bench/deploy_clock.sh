#!/bin/bash
# The deploy's own clock (not run by ctest): the real mybinder.org-deploy
# (/work/shared/fixtures/mybinder.org-deploy-full) with the slipway port
# (scripts/examples/mybinder/), staging and every production member --
# staging, prod, hetzner-2i2c, hetzner-gesis, bids-ovh, curvenote -- under the
# RECORDING STAND-IN for helm, kubectl, gcloud and aws (tests/standin/standin:
# there is no cluster here), with the time a cluster takes INJECTED into
# `helm upgrade` and each `kubectl rollout status`. Against it, `CI=1
# python3 deploy.py M ...` (after `. cert-manager.env`, with cd.yml's
# arguments) for the same members with the same delays. Each tool runs as
# cd.yml runs it: one job per member, its own copy of the repository and its
# own stand-in. Each round runs every member ALONE (on GitHub Actions each job
# of the matrix has a runner of its own: the goal is judged there), then all
# members AT ONCE on this machine (six jobs on two cores: information).
# DEPLOY_CLOCK_MEMBERS=a,b runs some members; DEPLOY_CLOCK_ONLY=alone|together
# one half.
#
# Printed per member deploy, best (median) of N rounds, for both tools:
#   own CPU    CPU of the deploy process itself, every thread, not its
#              children (/proc/PID/stat of the zombie: tests/bench/ownclock.py;
#              10 ms ticks); for slipway also its run summary's cpu field
#   overhead   wall time minus the injected delays on the deploy's own path
#              (delayed calls that overlapped count once, as their longest)
#     = own        no cluster call in flight: the tool, its start-up, git, its
#                  journal, the ban scripts (both run the same two)
#     + lock/status  slipway's calls deploy.py does not make (its Lease lock
#                  taken and released: `create -f -` and a guarded `delete
#                  --raw`; helm status), inside the stand-in
#     + stand-in   the other calls' time beyond their delays: the stand-in
#                  is a shell script (awk, date: ~10 processes a call; its
#                  object store one python3 process more), where a real
#                  kubectl is one process and a round trip
#   path       the injected delays on that path: deploy.py waits for the
#              workloads one after another, slipway all of a namespace at once
# and the whole run's wall time (first start to last exit) against the
# slowest member's path. Goal: slipway's overhead per member deploy below
# deploy.py's, in absolute milliseconds.
#
# THE DELAYS ARE ESTIMATES, scaled 1:100 (a real minute is 0.6 s here). No
# real run of cd.yml can be read from here (no network); the proportions come
# from what cd.yml and deploy.py do:
#   - `helm upgrade` runs without --wait (deploy.py; kubernetes.md says why):
#     it renders and applies the chart and returns. mybinder (binderhub,
#     jupyterhub, traefik, prometheus, grafana, cryptnono: hundreds of
#     objects) estimated 30 s; cert-manager (pulled from an OCI registry
#     first, a small chart) 10 s; the small system charts (curvenote's
#     mybinder-kube-system, mybinder-tigera-operator) 5 s.
#   - `kubectl rollout status --timeout=10m` per deployment and daemonset
#     (`kubectl get deployments,daemonsets`): the 10 m bound is never reached
#     on a good deploy; every workload is assumed to roll (a change to the
#     common config): binder 45 s, hub 60 s (Recreate: the old pod stops
#     before the new one starts), proxy 30 s, user-scheduler 30 s, static and
#     federation-redirect 20 s, the image-cleaner daemonset 120 s (one node
#     after another); others 30 s. Unchanged workloads return at once on a
#     real cluster; here all roll, which is deploy.py's worst case.
#   - the stand-in lists the same seven workloads (tests/standin/data/
#     workloads.txt) in every namespace, so curvenote waits on 21 (its system
#     charts' namespaces too); a real kube-system has other workloads.
#   - cd.yml itself runs staging first and then prod, hetzner-2i2c,
#     hetzner-gesis and bids-ovh as one matrix; curvenote is not in this
#     cd.yml. In the "at once" half all six start together, the harder case
#     for a 2-core machine.
# Override with DEPLOY_CLOCK_HELM / DEPLOY_CLOCK_ROLLOUT (the stand-in's
# "DEFAULT,NAME=SECONDS,..." format); BENCH_RUNS rounds (default 5).
#
#   tests/bench/deploy_clock.sh [SLIPWAY_BIN]       (default build/slipway)
#
# The interpreter of `python3` goes first on PATH for both (as setup-python
# leaves it on CI; a pyenv shim costs ~0.2 s a call, which deploy.py pays once
# and the port three times). Other processes on a shared machine inflate
# every figure: take the best of N and the spread with it.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
src=$(cd "$here/../.." && pwd)
bin=${1:-build/slipway}
case "$bin" in /*) ;; *) bin="$PWD/$bin" ;; esac
runs=${BENCH_RUNS:-5}
fixture=${SLIPWAY_SHARED:-/work/shared}/fixtures/mybinder.org-deploy-full
for need in python3 git; do
  if ! command -v "$need" >/dev/null 2>&1; then
    echo "deploy_clock: skipped, no $need" ; exit 0
  fi
done
if [ ! -f "$fixture/deploy.py" ]; then
  echo "deploy_clock: skipped, no mybinder.org-deploy fixture at $fixture"; exit 0
fi
# the driver's own log lines (copies, symlinks) at warn; the deploys log as usual
SLIPWAY_LOG_LEVEL=warn SLIPWAY_SRC="$src" SLIPWAY_PATH="$src/tests/lua/lib" \
  "$bin" "$here/deploy_clock.lua" "$bin" "$runs"
