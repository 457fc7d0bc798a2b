"""eSR-Bench grid: strategies x instances x seeds (x in-flight trials), one JSON line a run, resumable;
``--report`` prints the README's markdown tables from the file.

    python benchmarks/esr_peers.py --out benchmarks/data/esr_peers.jsonl --strategies cost-aware tpe random \\
        [--seeds 10] [--budget 200] [--stop-at 0.98] [--parallel 1 8 32] [--problems ABC] [--scales 2 3 4]
    python benchmarks/esr_peers.py --out benchmarks/data/esr_peers.jsonl --report

Each line: problem, scale, strategy, parallel (trials in flight), budget, stop_at (the run ended
once its exact HV ratio reached it: evaluations to lower levels exact, the ratio at the budget a
lower bound), seed, evaluations to 90/95/98/99 % (null: not reached), the HV ratio at the end, and
the run's seconds. The report's cells: median evaluations to 98 % ("-": the median run did not
reach it), the median HV ratio at the end in brackets (">=": runs stopped at ``stop_at``), and the
number of runs (seeds) in square brackets. A run already in the file (same problem, scale, strategy, parallel, budget,
stop_at, seed) is skipped, so an interrupted grid resumes. The last line printed is one JSON
summary (runs done, seconds).
"""

from __future__ import annotations

import argparse
import json
import statistics
import time
from pathlib import Path

KEY = ("problem", "scale", "strategy", "parallel", "budget", "stop_at", "seed")


def median_evals(values: list[int | None]) -> float | None:
    """Median of evaluations to a level; None (not reached) counts as more than any budget, and a
    median that falls on a run that did not reach it is None."""
    ranked = sorted(values, key=lambda v: float("inf") if v is None else v)
    n = len(ranked)
    middle = ranked[(n - 1) // 2], ranked[n // 2]
    if None in middle:
        return None
    return (middle[0] + middle[1]) / 2


def report(rows: list[dict]) -> None:
    groups: dict[tuple, list[dict]] = {}
    for r in rows:
        groups.setdefault((r["strategy"], r["parallel"], r["problem"], r["scale"]), []).append(r)
    instances = sorted({(r["problem"], r["scale"]) for r in rows})
    print("| strategy (budget) | " + " | ".join(f"{p} x{s}" for p, s in instances) + " |")
    print("|---" * (len(instances) + 1) + "|")
    for strategy in dict.fromkeys(r["strategy"] for r in rows if r["parallel"] == 1):
        cells = []
        runs = [r for r in rows if r["strategy"] == strategy and r["parallel"] == 1]
        for p, s in instances:
            g = groups.get((strategy, 1, p, s), [])
            if not g:
                cells.append("")
                continue
            m = median_evals([r["evals_to"]["0.98"] for r in g])
            hv = statistics.median(r["hv"] for r in g)
            stopped = g[0]["stop_at"] is not None
            cells.append(f"{'-' if m is None else f'{m:g}'} ({'>=' if stopped else ''}{hv:.3f}) [{len(g)}]")
        budget = runs[0]["budget"]
        print(f"| {strategy} ({budget}) | " + " | ".join(cells) + " |")
    parallel = sorted({r["parallel"] for r in rows if r["parallel"] != 1})
    if parallel:
        print("\n| strategy | instance | " + " | ".join(f"K={k}" for k in [1, *parallel]) + " | ratio K=8 / K=32 |")
        print("|---" * (len(parallel) + 4) + "|")
        for strategy, _, p, s in sorted({(g[0], 0, g[2], g[3]) for g in groups if g[1] != 1}):
            medians = {k: median_evals([r["evals_to"]["0.98"] for r in groups.get((strategy, k, p, s), [])] or [None])
                       for k in [1, *parallel]}
            runs = {k: len(groups.get((strategy, k, p, s), [])) for k in [1, *parallel]}
            base = medians[1]
            ratios = " / ".join("-" if base is None or medians.get(k) is None else f"{medians[k] / base:.2f}"
                                for k in parallel)
            print(f"| {strategy} | {p} x{s} | " + " | ".join(("-" if v is None else f"{v:g}") + f" [{runs[k]}]"
                                                            for k, v in medians.items()) + f" | {ratios} |")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--table", type=Path,
                        default=Path(__file__).resolve().parents[2] / "shared" / "esr" / "tests.pkl")
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--strategies", nargs="+", default=["cost-aware"])
    parser.add_argument("--problems", default="ABC")
    parser.add_argument("--scales", type=int, nargs="+", default=[2, 3, 4])
    parser.add_argument("--seeds", type=int, default=10)
    parser.add_argument("--first-seed", type=int, default=0)
    parser.add_argument("--budget", type=int, default=200)
    parser.add_argument("--stop-at", type=float)
    parser.add_argument("--parallel", type=int, nargs="+", default=[1])
    parser.add_argument("--report", action="store_true", help="print the tables of --out and exit")
    args = parser.parse_args()
    rows = [json.loads(line) for line in args.out.read_text().splitlines() if line.strip()] if args.out.exists() else []
    if args.report:
        report(rows)
        return
    import torch

    from nas_sr.bench.esr import load_instance
    from nas_sr.bench.runner import THRESHOLDS, evals_to, run_strategy
    from nas_sr.browse.reference import load_table

    torch.set_num_threads(1)  # small models: more threads only wait on each other
    done = {tuple(r[k] for k in KEY) for r in rows}
    table = load_table(args.table, trust_pickle=True)  # the release's own file, named by the caller
    runs, start = 0, time.perf_counter()
    for problem in args.problems:
        for scale in args.scales:
            instance = load_instance(table, problem, scale)
            for strategy in args.strategies:
                for k in args.parallel:
                    for seed in range(args.first_seed, args.first_seed + args.seeds):
                        key = (problem, scale, strategy, k, args.budget, args.stop_at, seed)
                        if key in done:
                            continue
                        t0 = time.perf_counter()
                        extra = {"parallel": k} if k != 1 else {}
                        curve, _ = run_strategy(instance, strategy, args.budget, seed, stop_at=args.stop_at, **extra)
                        row = dict(zip(KEY, key), evals_to={f"{t:g}": evals_to(curve, t) for t in THRESHOLDS},
                                   hv=curve[-1], seconds=round(time.perf_counter() - t0, 1))
                        with args.out.open("a") as f:
                            f.write(json.dumps(row) + "\n")
                        runs += 1
    print(json.dumps({"runs": runs, "seconds": round(time.perf_counter() - start, 1)}))


if __name__ == "__main__":
    main()
