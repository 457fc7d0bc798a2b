"""Proxy fidelity: does brief training rank edge-SR candidates as the authors' full training does?

Brief-trains ``--n`` configurations of one scale of ``search_spaces/edge_sr.yaml``, sampled evenly
across the trainable families (bicubic left out: it has nothing to train; ESPCN rows of the table
listed in ``esr/stale_espcn.txt`` left out: they do not describe the released models), on T91 with
the project's own trainer, at each step budget of ``--budgets``. Each run is validated on Set5 and
Set14 by the protocol (uint8 Y); its PSNR (mean over the two sets) is compared with the table's
mean of ``psnr_Set5`` and ``psnr_Set14`` of the same model (the official fully trained results).

Printed per budget: Kendall tau and Spearman rho between brief and table PSNR (over all sampled
configurations, and within each family), the mean gap to the table, and the training time per
candidate (mean and max, seconds). The last line is a JSON object with these figures.

Step budgets, not time budgets, so that a loaded machine changes the time, not the result.
Batches are ``TrainSettings``' (8 LR patches of 12 px) unless ``--batch-size`` / ``--patch-size``
say otherwise (``nas-sr search`` trains on 16 of 24 px). Runs ``--workers`` candidates at once,
one torch thread each.

    python benchmarks/proxy_fidelity.py [--scale 2] [--n 42] [--budgets 250,1000,3000] [--workers 2]
        [--batch-size 16 --patch-size 24] [--train-seeds 1]
"""

from __future__ import annotations

import argparse
import json
import os
import pickle
import random
import statistics
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
SHARED = Path(os.environ.get("NAS_SR_SHARED", ROOT.parent / "shared"))
VAL_SETS = ("Set5", "Set14")


def sample_configs(scale: int, n: int, seed: int, stale: set[str]) -> list[dict[str, Any]]:
    """``n`` configurations of ``scale``, drawn round-robin over the families in a seeded order."""
    from nas_sr.models.esr_ids import esr_id_from_config
    from nas_sr.space import load_space

    space = load_space(ROOT / "search_spaces" / "edge_sr.yaml")
    by_family: dict[str, list[dict[str, Any]]] = {}
    for config in space.enumerate():
        if config["scale"] == scale and config["family"] != "bicubic" and esr_id_from_config(config) not in stale:
            by_family.setdefault(config["family"], []).append(config)
    rng = random.Random(seed)
    for configs in by_family.values():
        rng.shuffle(configs)
    chosen: list[dict[str, Any]] = []
    while len(chosen) < n and any(by_family.values()):
        for family in sorted(by_family):
            if by_family[family] and len(chosen) < n:
                chosen.append(by_family[family].pop())
    return chosen


_DATA: dict[str, Any] = {}


def _train_one(job: tuple[dict[str, Any], int, int, dict[str, int]]) -> dict[str, Any]:
    import torch

    from nas_sr.data import load_folder
    from nas_sr.train import TrainSettings, train

    config, steps, seed, batches = job
    settings = TrainSettings(max_steps=steps, seed=seed, threads=1, **batches)
    torch.set_num_threads(1)
    if not _DATA:  # once per worker process
        _DATA["train"] = load_folder(SHARED / "datasets" / "T91", config["scale"], settings.patch_size)
        _DATA["val"] = {name: load_folder(SHARED / "datasets" / name) for name in VAL_SETS}
    result = train(config, _DATA["train"], _DATA["val"], settings)
    psnr = statistics.fmean(result.metrics[f"psnr_{name}"] for name in VAL_SETS)
    return {"config": config, "steps": steps, "psnr": psnr, "seconds": result.seconds}


def _mean_over_seeds(runs: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """One run per configuration: PSNR the mean over its training seeds, seconds their sum."""
    from nas_sr.models.registry import config_key

    by_config: dict[str, list[dict[str, Any]]] = {}
    for run in runs:
        by_config.setdefault(config_key(run["config"]), []).append(run)
    return [{"config": group[0]["config"], "steps": group[0]["steps"],
             "psnr": statistics.fmean(r["psnr"] for r in group), "seconds": sum(r["seconds"] for r in group),
             "psnr_first_seed": group[0]["psnr"]} for group in by_config.values()]


def fidelity(pairs: list[tuple[float, float]]) -> tuple[float, float]:
    """(Kendall tau, Spearman rho) of (brief, table) pairs."""
    from scipy.stats import kendalltau, spearmanr

    brief, table = zip(*pairs)
    return float(kendalltau(brief, table).statistic), float(spearmanr(brief, table).statistic)


def main() -> None:
    from nas_sr.models.esr_ids import esr_id_from_config

    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--scale", type=int, default=2, choices=(2, 3, 4))
    parser.add_argument("--n", type=int, default=42, help="configurations (default 42)")
    parser.add_argument("--budgets", default="250,1000,3000", help="step budgets, comma-separated")
    parser.add_argument("--workers", type=int, default=2, help="candidates trained at once")
    parser.add_argument("--batch-size", type=int, help="LR patches a step (default: TrainSettings')")
    parser.add_argument("--patch-size", type=int, help="LR patch side (default: TrainSettings')")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--train-seeds", type=int, default=1,
                        help="train each candidate this many times (seeds seed, seed+1, ...) and rank by the "
                             "mean PSNR; its time is the sum (default 1)")
    parser.add_argument("--json", type=Path, help="also write every run here")
    args = parser.parse_args()
    budgets = [int(b) for b in args.budgets.split(",")]
    batches = {k: v for k, v in (("batch_size", args.batch_size), ("patch_size", args.patch_size)) if v}
    if not (SHARED / "esr" / "tests.pkl").is_file():
        raise SystemExit(f"proxy_fidelity: the edge-SR table is not at {SHARED}/esr (set NAS_SR_SHARED)")
    with open(SHARED / "esr" / "tests.pkl", "rb") as f:
        table = pickle.load(f)  # the official results, trusted data beside the project
    stale = set((SHARED / "esr" / "stale_espcn.txt").read_text().split()) - {"#"}
    configs = sample_configs(args.scale, args.n, args.seed, stale)
    families = sorted({c["family"] for c in configs})
    counts = ", ".join(f"{f} {sum(c['family'] == f for c in configs)}" for f in families)
    print(f"{len(configs)} x{args.scale} configurations ({counts}), "
          f"step budgets {budgets}, {args.workers} at once, validation {'+'.join(VAL_SETS)}"
          f"{', ' + str(batches) if batches else ''}", flush=True)
    jobs = [(c, b, args.seed + k, batches) for b in budgets for c in configs for k in range(args.train_seeds)]
    runs: list[dict[str, Any]] = []
    started = time.perf_counter()
    with ProcessPoolExecutor(args.workers) as pool:
        for run in pool.map(_train_one, jobs):
            runs.append(run)
            if len(runs) % 10 == 0:
                print(f"  {len(runs)}/{len(jobs)} runs, {time.perf_counter() - started:.0f} s", flush=True)
    reference = {esr_id_from_config(c): statistics.fmean(table[esr_id_from_config(c)][f"psnr_{s}"] for s in VAL_SETS)
                 for c in configs}
    summary: dict[str, Any] = {"scale": args.scale, "n": len(configs), **batches, "budgets": {}}
    print(f"\n{'steps':>6} {'kendall':>8} {'spearman':>9} {'gap dB':>7} {'s/cand':>7} {'max s':>6}   per-family tau")
    for budget in budgets:
        done = _mean_over_seeds([r for r in runs if r["steps"] == budget])
        pairs = [(r["psnr"], reference[esr_id_from_config(r["config"])]) for r in done]
        tau, rho = fidelity(pairs)
        per_family = {}
        for family in families:
            part = [p for r, p in zip(done, pairs) if r["config"]["family"] == family]
            if len(part) >= 3:
                per_family[family] = round(fidelity(part)[0], 3)
        gap = statistics.fmean(t - b for b, t in pairs)
        seconds = [r["seconds"] for r in done]
        first_tau = fidelity([(r["psnr_first_seed"], t) for r, (_, t) in zip(done, pairs)])[0]
        summary["budgets"][str(budget)] = {"kendall_tau": round(tau, 4), "spearman_rho": round(rho, 4),
                                           "kendall_tau_one_seed": round(first_tau, 4),
                                           "mean_gap_db": round(gap, 3), "mean_s": round(statistics.fmean(seconds), 1),
                                           "max_s": round(max(seconds), 1), "family_tau": per_family}
        print(f"{budget:>6} {tau:>8.3f} {rho:>9.3f} {gap:>7.2f} {statistics.fmean(seconds):>7.1f} {max(seconds):>6.1f}   "
              + ", ".join(f"{f} {t:.2f}" for f, t in per_family.items())
              + (f"   (one seed: tau {first_tau:.3f})" if args.train_seeds > 1 else ""))
    if args.json:
        args.json.write_text(json.dumps(runs, indent=1))
    print(json.dumps(summary))


if __name__ == "__main__":
    main()
