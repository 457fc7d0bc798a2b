#!/usr/bin/env bash
# Writes tests/data/old_study/: a study as `nas-sr search` and `nas-sr profile` wrote it at commit
# 143a493 (before nas_sr/study/ existed), read by tests/test_old_study.py to check that a study
# written by that release still opens, lists, fronts and serves the same. Run from the project root
# with that commit checked out; it is not re-run by the tests (the file is the point).
set -euo pipefail
out=tests/data/old_study
rm -rf "$out"
url="sqlite:///$out/study.db"
# A tiny cost-aware search: 8 COMPLETE trials of 40 steps, costs at 64x64 output, one constraint
# (so infeasible trials exist), one worker (a deterministic order).
nas-sr search --study old --storage "$url" --trials 8 --workers 1 --budget-steps 40 \
    --resolution 64x64 --latency-repeats 2 --constraint "psnr@val>=20" --seed 0 --no-progress \
    --out "$out/front.html"
# Per-device latency on the front (latency_ms@test-cpu and friends).
nas-sr profile --study old --storage "$url" --trials pareto --label test-cpu --threads 1 \
    --resolution 64x64 --repeats 2 --warmup 1
rm -f "$out/front.html" "$out"/*.lock
