#!/usr/bin/env bash
# Example: an nas-sr search over a Ray cluster of GPU nodes, the study in PostgreSQL.
# Copy it, set the variables below, then run each part on the machine it names
# (see README.md, "Running on a cluster"). Every node needs the same Python environment:
#     pip install -e ".[postgres]"        (plus the torch build matching the node's CUDA)
# and the same data paths (--train/--val) when you give them.
set -euo pipefail

HEAD_IP="${HEAD_IP:-10.0.0.1}"          # the head node's address, reachable from every node
RAY_PORT="${RAY_PORT:-6379}"
DB_URL="${DB_URL:-postgresql+psycopg://nas:secret@${HEAD_IP}:5432/nas}"  # createdb nas; any PG 12+
# Or, with a file system every node shares (NFS...), no database server at all:
#   DB_URL="journal:/shared/studies/esr_x4.log"

case "${1:-}" in
head)   # on the head node (it schedules trials; give it --num-gpus=0 so none train here)
    ray start --head --port="$RAY_PORT" --num-gpus=0 --dashboard-host=0.0.0.0
    ;;
worker) # on each GPU node: it offers its GPUs and CPUs to the cluster
    ray start --address="${HEAD_IP}:${RAY_PORT}"
    ;;
search) # on the head node (or any node of the cluster): the driver, the study's only writer
    nas-sr search --address auto \
        --storage "$DB_URL" --study esr_x4 \
        --space search_spaces/efficient_sr.yaml --device cuda --precision bf16 \
        --workers 8 --gpus-per-trial 0.5 --cpus-per-trial 4 --max-retries 2 \
        --trials 400 --budget-seconds 300 --seed 0 --no-progress
    # Stopped (Ctrl-C, a lost database, a killed driver)? The same command with --resume goes on.
    ;;
stop)   # on every node
    ray stop
    ;;
*)
    echo "usage: $0 head|worker|search|stop" >&2
    exit 2
    ;;
esac
