"""Training time and final hypervolume of a search with and without MO-ASHA early stopping.

Both searches evaluate every configuration of the space (53 for ``search_spaces/edge_sr_small.yaml``),
in the same order (the seeded random sampler's; duplicate proposals are skipped) with the same seed, data (the bundled photos) and
full budget (``--steps`` Adam steps, real brief training), objectives ``psnr@val`` (maximise) and
``params`` (minimise; deterministic, unlike latency on a shared machine):

* without: every configuration trained the full budget (COMPLETE);
* with: ``--early-stopping mo-asha`` (rungs ``--min-steps`` x ``--eta``^k); trials stopped at a
  rung are PRUNED and only the fully trained ones are COMPLETE.

Printed: the total training time (sum of the trials' training seconds, what ``max_steps`` buys:
COMPLETE and PRUNED trials), the search's wall time, and the hypervolume of each search's
COMPLETE trials for (psnr@val, params), with the reference point (PSNR of the bicubic
configuration of the run without early stopping, 1.1 x the largest parameter count of any
trial): points not better than bicubic add nothing.

    python benchmarks/early_stopping.py [--steps 1080 --min-steps 135 --eta 2 --workers 2]

Asynchronous successive halving assumes trials arrive in no particular order: in the grid's
order (``--sampler grid``: each family's configurations smallest first) a newcomer at a rung is
usually larger than, and at few steps no better than, those before it, so nearly all are stopped.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]


def search(folder: Path, name: str, args: argparse.Namespace, early: Any) -> Any:
    import ray

    from nas_sr.data import load_bundled
    from nas_sr.search.driver import SearchOptions, run_search
    from nas_sr.space import load_space

    space = load_space(args.space)
    settings = {"max_steps": args.steps, "batch_size": args.batch_size, "patch_size": args.patch_size,
                "patches": args.patches, "oversample": args.oversample, "latency": False,
                "resolution": [640, 360], "threads": 1}
    opts = SearchOptions(space=space, train_images=list(load_bundled("train")),
                         val_sets={"val": list(load_bundled("val"))}, study=name,
                         storage=f"sqlite:///{folder}/{name}.db", trials=space.count(), workers=args.workers,
                         sampler=args.sampler, objectives="psnr,params", seed=args.seed, settings=settings,
                         progress=False, early_stopping=early)
    ray.init(address="local", num_cpus=args.workers, include_dashboard=False, log_to_driver=False,
             logging_level="ERROR")
    try:
        return run_search(opts)
    finally:
        ray.shutdown()


def summary(outcome: Any) -> dict[str, Any]:
    from optuna.trial import TrialState

    trials = outcome.study.get_trials(deepcopy=False)
    trained = [t for t in trials if t.state in (TrialState.COMPLETE, TrialState.PRUNED) and "seconds" in t.user_attrs]
    complete = [t for t in trials if t.state == TrialState.COMPLETE]
    return {"train_s": sum(float(t.user_attrs["seconds"]) for t in trained), "wall_s": outcome.seconds,
            "steps": sum(int(t.user_attrs.get("steps") or 0) for t in trained),
            "complete": complete, "pruned": [t for t in trained if t.state == TrialState.PRUNED],
            "running": sum(t.state == TrialState.RUNNING for t in trials)}


def hypervolume(trials: list[Any], ref_psnr: float, ref_params: float) -> float:
    import numpy as np

    from nas_sr.study import hypervolume as loss_hypervolume

    points = np.array([[-t.values[0], t.values[1]] for t in trials], dtype=float).reshape(-1, 2)
    return loss_hypervolume(points, np.array([-ref_psnr, ref_params]))


def main() -> None:
    from nas_sr.search.early_stopping import EarlyStopping

    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--space", type=Path, default=ROOT / "search_spaces" / "edge_sr_small.yaml")
    parser.add_argument("--steps", type=int, default=1080, help="full training budget in steps (default 1080)")
    parser.add_argument("--min-steps", type=int, default=135, help="first rung (default 135)")
    parser.add_argument("--eta", type=int, default=2, help="reduction factor (default 2)")
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--sampler", default="random", choices=("random", "grid"),
                        help="random (default): every configuration in the seeded random sampler's order, the "
                        "same for both searches; grid: the space's own order (families in turn, small first)")
    parser.add_argument("--batch-size", type=int, default=16)
    parser.add_argument("--patch-size", type=int, default=24)
    parser.add_argument("--patches", type=int, default=2000)
    parser.add_argument("--oversample", type=int, default=2)
    args = parser.parse_args()
    early = EarlyStopping("mo-asha", args.min_steps, args.eta)
    print(f"space {args.space.name}, every configuration ({args.sampler} sampler), seed {args.seed}, {args.steps} steps, "
          f"{args.workers} workers; mo-asha rungs {early.rungs(args.steps)} (eta {args.eta})", flush=True)
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        start = time.perf_counter()
        base = summary(search(folder, "none", args, None))
        print(f"  without early stopping done in {time.perf_counter() - start:.0f} s", flush=True)
        start = time.perf_counter()
        asha = summary(search(folder, "mo_asha", args, early))
        print(f"  with mo-asha done in {time.perf_counter() - start:.0f} s", flush=True)
    bicubic = [t for t in base["complete"] if t.user_attrs.get("family") == "bicubic"]
    ref_psnr = bicubic[0].values[0] if bicubic else min(t.values[0] for t in base["complete"])
    ref_params = 1.1 * max(float(t.user_attrs["params"]) for run in (base, asha)
                           for t in run["complete"] + run["pruned"])
    hv = {name: hypervolume(run["complete"], ref_psnr, ref_params) for name, run in (("none", base), ("mo-asha", asha))}
    print(f"reference point: psnr@val {ref_psnr:.3f} dB (bicubic), params {ref_params:.0f}")
    for name, run in (("none", base), ("mo-asha", asha)):
        print(f"{name:8s}: training {run['train_s']:7.1f} s ({run['steps']} steps), wall {run['wall_s']:6.1f} s, "
              f"{len(run['complete'])} COMPLETE, {len(run['pruned'])} PRUNED, {run['running']} RUNNING, "
              f"hypervolume {hv[name]:.2f}")
    speedup = base["train_s"] / asha["train_s"] if asha["train_s"] else float("inf")
    ratio = hv["mo-asha"] / hv["none"] if hv["none"] else float("nan")
    print(f"mo-asha: {speedup:.2f}x less training time, {100 * ratio:.1f}% of the hypervolume "
          f"(goal: >= 2x for >= 97%); wall {base['wall_s'] / asha['wall_s']:.2f}x")


if __name__ == "__main__":
    main()
