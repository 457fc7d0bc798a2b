"""``nas-sr bench esr``: a search strategy measured on the edge-SR table (eSR-Bench), no training.

Each trial of a search over ``search_spaces/edge_sr.yaml`` (one scale: 395 configurations) is
answered from the table; the result is the hypervolume ratio against all 395 and the evaluations
needed to reach 90/95/98/99 % of it, over seeds.
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from nas_sr.cli.argtypes import nonnegative_float, positive


def register(subparsers: Any) -> None:
    from nas_sr.bench.esr import PROBLEMS, SCALES
    from nas_sr.bench.peers import BENCH_STRATEGIES

    p = subparsers.add_parser("bench", help="benchmark search strategies on a table of known results (eSR-Bench)",
                              description="Benchmark search strategies without training: the edge-SR table "
                              "answers every trial.")
    benches = p.add_subparsers(dest="bench", metavar="BENCH")
    esr = benches.add_parser("esr", help="eSR-Bench: the edge-SR table as an oracle (problems A, B, C)",
                             description=__doc__.split("\n\n")[1].replace("\n", " ") + " Problems: A = max PSNR, "
                             "max speed_AGX; B = max PSNR, min parameters; C = max PSNR, max speed_RPI, min "
                             "parameters (PSNR: mean of Set5, Set14, BSDS100; the study sees log10 of costs). "
                             "Reference point: 0 on the PSNR axis (0 = bicubic, 1 = best), -0.1 on each log-cost "
                             "axis (0 = worst, 1 = best).")
    esr.add_argument("--table", required=True, help="the edge-SR results table, e.g. ../shared/esr/tests.pkl")
    esr.add_argument("--trust-pickle", action="store_true",
                     help="read the table although a pickle can run code: say so for the release's own file only")
    esr.add_argument("--problem", required=True, choices=sorted(PROBLEMS))
    esr.add_argument("--scale", required=True, type=int, choices=SCALES)
    esr.add_argument("--strategy", default="tpe", choices=BENCH_STRATEGIES, help="tpe (multivariate, "
                     "grouped), nsga2, random, grid, cost-aware, or the peers botorch (BoTorch's qLogNEHVI over "
                     "cost-aware's candidates) and optuna-gp (Optuna's GPSampler) (default tpe)")
    esr.add_argument("--budget", type=positive, default=200, help="evaluations per run, repeats included (default 200)")
    esr.add_argument("--seeds", type=positive, default=10, help="runs, seeds 0..K-1 (default 10)")
    esr.add_argument("--parallel", type=positive, default=1, metavar="K", help="trials in flight, as K workers run "
                     "them: the strategy proposes while the others are pending, and results return in a seeded "
                     "random order (default 1)")
    esr.add_argument("--proxy", type=Path, metavar="CSV", help="proxy mode: trials see the brief-training PSNR of "
                     "this proxy table (e.g. benchmarks/data/esr_x2_proxy.csv, made by benchmarks/proxy_table.py) "
                     "instead of the table's; the measure stays the table's HV of the front they would report")
    esr.add_argument("--proxy-steps", type=positive, metavar="N", help="the proxy table's step budget (default: "
                     "4000 when the file has it, else its largest)")
    esr.add_argument("--front-tolerance", type=nonnegative_float, default=0.05, metavar="DB",
                     help="proxy mode: the front is reported with its uncertainty, keeping trials within this "
                     "many dB of PSNR of it, as nas-sr search does (default 0.05, its default; 0: strict)")
    esr.add_argument("--format", choices=("text", "json"), default="text")
    esr.set_defaults(handler=run)
    p.set_defaults(handler=lambda args: p.print_help() or 0)


def run(args: argparse.Namespace) -> int:
    import json

    from nas_sr.bench.esr import COST_REFERENCE, PSNR_REFERENCE, load_instance
    from nas_sr.bench.runner import bench

    from nas_sr.bench.proxy import load_proxy

    if args.proxy_steps is not None and args.proxy is None:
        raise ValueError("--proxy-steps needs --proxy FILE")
    instance = load_instance(args.table, args.problem, args.scale, trust_pickle=args.trust_pickle)
    proxy = load_proxy(args.proxy, args.proxy_steps) if args.proxy is not None else None
    result = bench(instance, args.strategy, args.budget, args.seeds, proxy, args.front_tolerance,
                   parallel=args.parallel)
    if args.format == "json":
        print(json.dumps({k: result[k] for k in ("problem", "scale", "strategy", "budget", "parallel", "seeds", "mode",
                                                   "proxy", "proxy_steps", "front_tolerance", "hv_ratio", "evals_to")
                          if k in result}))
        return 0
    hv = result["hv_ratio"]
    mode = ("exact mode (the table's PSNR)" if proxy is None else
            f"proxy mode (brief-training PSNR of {proxy.source} at {proxy.steps} steps; HV by the table of the "
            f"front reported with near-ties within {args.front_tolerance:g} dB)")
    flight = f", {args.parallel} in flight" if args.parallel > 1 else ""
    print(f"eSR-Bench {args.problem} x{args.scale}, {args.strategy}{flight}, {mode}: {args.budget} evaluations, "
          f"{args.seeds} seeds; reference point {PSNR_REFERENCE:g} (PSNR) and {COST_REFERENCE:g} (each cost) on "
          "the unit scales")
    print(f"HV ratio at {args.budget}: median {hv['median']:.4f} (IQR {hv['q25']:.4f}..{hv['q75']:.4f})")
    for level, median in result["evals_to"].items():
        q25, q75 = result["evals_to_iqr"][level]
        shown = "not reached" if median is None else f"{median:g} (IQR {_n(q25)}..{_n(q75)})"
        print(f"evaluations to {float(level):.0%} of the exhaustive HV: {shown}")
    return 0


def _n(value: float | None) -> str:
    return "-" if value is None else f"{value:g}"
