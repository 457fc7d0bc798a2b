"""How well a device's latency is predicted from K measured models: the edge-SR table as the truth.

For each device of ``shared/esr/tests.pkl`` (Jetson AGX Xavier, GTX 1080 Max-Q, Raspberry Pi 400)
and scale, the predictor (:mod:`nas_sr.cost.predictor`) chooses K models of that scale's 395
(K = 5, 10, 20; its own choice, :func:`~nas_sr.cost.predictor.select`), is given their table latency
(1 / speed, Full-HD output), and predicts the other models. Per device, scale and K it prints the
Spearman rho against the table, the share of models within +-10 % and +-20 % of the table and the
median absolute percentage error, and the share within one predicted standard deviation (the
uncertainty's calibration: about 68 % if right), each the median over ``--seeds`` seeds (the seed starts the
k-means of the selection and the bootstrap). Kernel-level costs are counted at 1920x1080 output,
no timing. ``--native`` adds this machine's native-path latency
(``benchmarks/data/esr_native_latency.csv``, from ``benchmarks/native_latency_table.py``) as a
column, for the scales that file has. The last line is JSON:
``{"results": [{"device", "scale", "k", "spearman", "within_10", "within_20", "mape", "within_1sd"}, ...]}``.

``--random`` measures K models drawn at random instead (for comparison).

Run: ``python benchmarks/latency_predictor.py [--devices RPI,AGX] [--scales 2] [--ks 10] [--seeds 5]``.
Prints figures; asserts nothing.
"""

from __future__ import annotations

import argparse
import csv
import json
import math
import os
import pickle
import statistics
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SHARED = Path(os.environ.get("NAS_SR_SHARED", ROOT.parent / "shared"))
NATIVE = ROOT / "benchmarks" / "data" / "esr_native_latency.csv"


def table_candidates(table: dict, scale: int, native: dict[str, float] | None = None) -> list:
    """A :class:`~nas_sr.cost.predictor.Candidate` per table model of ``scale`` (ids as keys)."""
    from nas_sr.cost.kernels import config_kernel_costs
    from nas_sr.cost.predictor import Candidate
    from nas_sr.models.esr_ids import config_from_esr_id

    out = []
    for model_id in sorted(table):
        config = config_from_esr_id(model_id)
        if config["scale"] == scale and (native is None or model_id in native):
            out.append(Candidate(model_id, config["family"], config_kernel_costs(config, (1920, 1080)),
                                 None if native is None else native[model_id]))
    return out


def score(predicted: list[float], truth: list[float]) -> dict[str, float]:
    """Spearman rho, shares within +-10 % / +-20 %, median absolute percentage error.

    >>> score([1.0, 2.2, 2.7], [1.0, 2.0, 3.0])
    {'spearman': 1.0, 'within_10': 1.0, 'within_20': 1.0, 'mape': 0.1}
    """
    from scipy.stats import spearmanr

    errors = [abs(p / t - 1) for p, t in zip(predicted, truth)]
    return {"spearman": round(float(spearmanr(predicted, truth).statistic), 4),
            "within_10": round(sum(e <= 0.1 + 1e-12 for e in errors) / len(errors), 4),
            "within_20": round(sum(e <= 0.2 + 1e-12 for e in errors) / len(errors), 4),
            "mape": round(statistics.median(errors), 4)}


def run(candidates: list, latency: dict[str, float], k: int, seed: int, native: bool,
        chance: bool = False) -> dict[str, float]:
    """Select ``k`` (``chance``: at random instead), fit to their latencies, score the prediction of the others."""
    import random

    from nas_sr.cost.predictor import LatencyPredictor, select

    chosen = (random.Random(seed).sample(range(len(candidates)), k) if chance
              else select(candidates, k, seed=seed, native=native))
    measured = [candidates[i] for i in chosen]
    predictor = LatencyPredictor(native=native, seed=seed).fit(measured, [latency[c.key] for c in measured])
    rest = [c for i, c in enumerate(candidates) if i not in set(chosen)]
    mean, sd = predictor.predict(rest)
    truth = [latency[c.key] for c in rest]
    # Calibration of the uncertainty: the share within one predicted sd (about 68 % if calibrated).
    covered = sum(abs(math.log(t / m)) <= s / m for m, s, t in zip(mean, sd, truth)) / len(truth)
    return {**score(list(mean), truth), "within_1sd": round(covered, 4)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--devices", default="AGX,MaxQ,RPI")
    parser.add_argument("--scales", default="2,3,4")
    parser.add_argument("--ks", default="5,10,20")
    parser.add_argument("--seeds", type=int, default=5)
    parser.add_argument("--native", action="store_true", help=f"this machine's native-path latency as a column "
                        f"(from {NATIVE.relative_to(ROOT)})")
    parser.add_argument("--random", action="store_true", help="measure K models drawn at random instead of the "
                        "predictor's choice (for comparison)")
    parser.add_argument("--table", type=Path, default=SHARED / "esr" / "tests.pkl")
    args = parser.parse_args()
    with open(args.table, "rb") as f:
        table = pickle.load(f)  # trusted benchmark data shipped beside the project
    native = None
    if args.native:
        with open(NATIVE) as f:
            native = {r["model_id"]: float(r["median_ms"]) for r in csv.DictReader(f)}
    start = time.perf_counter()
    results = []
    print(f"{'device':<6}{'scale':>6}{'K':>4}{'n':>5}{'spearman':>10}{'within 10%':>12}{'within 20%':>12}{'MAPE':>8}"
          f"{'within 1 sd':>13}")
    for scale in (int(s) for s in args.scales.split(",")):
        candidates = table_candidates(table, scale, native)
        if not candidates:
            print(f"x{scale}: no models (with --native: not in {NATIVE.name})")
            continue
        for device in args.devices.split(","):
            latency = {c.key: 1000.0 / float(table[c.key][f"speed_{device}"]) for c in candidates}
            for k in (int(k) for k in args.ks.split(",")):
                runs = [run(candidates, latency, k, seed, args.native, args.random) for seed in range(args.seeds)]
                row = {"device": device, "scale": scale, "k": k,
                       **{m: round(statistics.median(r[m] for r in runs), 4) for m in runs[0]}}
                results.append(row)
                print(f"{device:<6}{scale:>6}{k:>4}{len(candidates) - k:>5}{row['spearman']:>10.3f}"
                      f"{100 * row['within_10']:>11.1f}%{100 * row['within_20']:>11.1f}%{100 * row['mape']:>7.1f}%"
                      f"{100 * row['within_1sd']:>12.1f}%",
                      flush=True)
    print(f"{time.perf_counter() - start:.0f} s; medians over {args.seeds} seeds; n: models predicted")
    print(json.dumps({"results": results}))


if __name__ == "__main__":
    main()
