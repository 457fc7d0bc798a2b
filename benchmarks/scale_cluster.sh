#!/usr/bin/env bash
# benchmarks/scale.py on a local multi-node Ray cluster: a head node with no CPUs for trials and
# NODES worker nodes of WORKERS/NODES logical CPUs each, all on this machine (`ray start`), then the
# engine joins it with --address; the nodes are stopped at the end (by their own process ids: other
# Ray instances on the machine are left alone).
#
#   benchmarks/scale_cluster.sh [NODES=2] [WORKERS=32] [scale.py arguments...]
#   e.g. benchmarks/scale_cluster.sh 2 32 --trial-seconds 5 --trials 320 --storage postgresql
set -euo pipefail
NODES=${1:-2}; WORKERS=${2:-32}; shift $(( $# > 2 ? 2 : $# ))
PY=${PYTHON:-python}
RAY="$(dirname "$(command -v "$PY")")/ray"
PORT=${PORT:-6390}
# A private single-user cluster: no token authentication to propagate between its nodes.
export RAY_AUTH_MODE=disabled
TMP=$(mktemp -d /tmp/nsr-ray-XXXX)   # this cluster's sessions and sockets: its processes are found by it
stop() {
  # Every process of this cluster names $TMP in its command line; end those, by id.
  pids=$(pgrep -f -- "$TMP" || true)
  [ -n "$pids" ] && kill $pids 2>/dev/null || true
  sleep 2
  pids=$(pgrep -f -- "$TMP" || true)
  [ -n "$pids" ] && kill -9 $pids 2>/dev/null || true
  rm -rf "$TMP"
}
trap stop EXIT
"$RAY" start --head --port="$PORT" --num-cpus=0 --num-gpus=0 --temp-dir="$TMP" --include-dashboard=false \
  --disable-usage-stats >/dev/null
for i in $(seq 1 "$NODES"); do
  "$RAY" start --address="127.0.0.1:$PORT" --num-cpus=$(( WORKERS / NODES )) --num-gpus=0 --temp-dir="$TMP" \
    --disable-usage-stats >/dev/null
done
"$PY" benchmarks/scale.py --address "127.0.0.1:$PORT" --workers "$WORKERS" "$@"
