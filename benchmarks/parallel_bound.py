"""How few evaluations any strategy could need with K trials in flight: eSR-Bench's oracle.

Issue 19 asks the default strategy, with K = 8 and 32 trials in flight, for at most 1.25x the
evaluations it needs sequentially to reach 98 % of the exhaustive hypervolume. This script measures
what a strategy that knows the whole table would need (:mod:`nas_sr.bench.oracle`: greedy by
hypervolume gain), with results returning in ``run_strategy``'s seeded random order:

- ``oracle``: from scratch;
- ``oracle after cost-aware's first K``: after the default strategy's first K proposals, which it
  makes before any result returns; no strategy that uses results can beat this after that start.
  (K = 1: the first proposal, the same as the sequential run's.)

Per instance and K: the median over ``--seeds`` and every seed's count. The last line is JSON
``{"rows": [{"problem", "scale", "parallel", "oracle", "oracle_after_start", "oracle_runs",
"oracle_after_start_runs"}, ...]}``; ``--out`` also writes it (benchmarks/data/parallel_bound.json).

Run: ``python benchmarks/parallel_bound.py --table ../shared/esr/tests.pkl [--problems ABC]
[--scales 2] [--parallel 1 8 32] [--seeds 10] [--out benchmarks/data/parallel_bound.json]``
(about 3 min on one core; C's three objectives take most of it).
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from pathlib import Path


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--table", type=Path, required=True, help="the edge-SR table (../shared/esr/tests.pkl)")
    parser.add_argument("--problems", default="ABC")
    parser.add_argument("--scales", type=int, nargs="+", default=[2])
    parser.add_argument("--parallel", type=int, nargs="+", default=[1, 8, 32])
    parser.add_argument("--seeds", type=int, default=10)
    parser.add_argument("--level", type=float, default=0.98)
    parser.add_argument("--out", type=Path)
    args = parser.parse_args()

    import torch

    from nas_sr.bench.esr import load_instance
    from nas_sr.bench.oracle import evals_in_flight
    from nas_sr.bench.runner import run_strategy
    from nas_sr.browse.reference import load_table

    torch.set_num_threads(1)
    table = load_table(args.table, trust_pickle=True)  # the release's own file, named by the caller
    rows, start = [], time.perf_counter()
    for problem in args.problems:
        for scale in args.scales:
            instance = load_instance(table, problem, scale)
            for k in args.parallel:
                scratch, after = [], []
                for seed in range(args.seeds):
                    first = [t.user_attrs["config"] for t in run_strategy(instance, "cost-aware", k, seed,
                                                                          parallel=k)[1].trials]
                    scratch.append(evals_in_flight(instance, k, seed, args.level))
                    after.append(evals_in_flight(instance, k, seed, args.level, start=first))
                row = {"problem": problem, "scale": scale, "parallel": k, "level": args.level,
                       "oracle": statistics.median(scratch), "oracle_after_start": statistics.median(after),
                       "oracle_runs": scratch, "oracle_after_start_runs": after}
                rows.append(row)
                print(f"{problem} x{scale} K={k}: oracle {row['oracle']}, after cost-aware's first {k} "
                      f"{row['oracle_after_start']}  {after}", file=sys.stderr, flush=True)
    out = {"rows": rows, "seeds": args.seeds, "seconds": round(time.perf_counter() - start, 1)}
    if args.out:
        args.out.write_text(json.dumps(out, indent=1) + "\n")
    print(json.dumps(out))


if __name__ == "__main__":
    main()
