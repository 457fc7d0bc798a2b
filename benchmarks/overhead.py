"""Per-trial overhead of the search engine, next to a plain Optuna loop doing the same.

Both run the tiny demo space with a trivial trainable (no training: constant metrics) and the
cost model (params and multiply-adds, cached; no latency), into a fresh SQLite study:

* engine: ``nas_sr.search.driver.run_search`` — ask/tell, duplicate check, one Ray task per
  trial, user attributes, weights artifact;
* plain: ``study.optimize`` with an objective that suggests the config, computes its cost and
  sets the same user attributes, in this process.

Prints seconds per COMPLETE trial (Ray start-up excluded: a Ray cluster is started first).

    python benchmarks/overhead.py [--trials 30] [--workers 2]
"""

from __future__ import annotations

import argparse
import io
import tempfile
import time
from pathlib import Path
from typing import Any

SPACE = {
    "name": "overhead", "scales": [2], "color": "y",
    "branches": [
        {"family": "esr-max", "params": {"kernel_size": [3, 5, 7], "channels": [1, 2, 4, 8]}},
        {"family": "esr-tm", "params": {"kernel_size": [3, 5, 7], "channels": [2, 4, 8]}},
        {"family": "esr-tr", "params": {"kernel_size": [3, 5, 7], "channels": [2, 4, 8]}},
        {"family": "espcn", "params": {"width1": [0, 1, 2, 3], "width2": [3, 9]}},
    ],
}
RESOLUTION = (64, 64)


def trivial_trial(config: dict[str, Any], settings: dict[str, Any], data: Any) -> dict[str, Any]:
    """A stand-in for training: the real cost step, constant metrics, empty weights."""
    import torch

    from nas_sr.search.worker import measure_cost

    buffer = io.BytesIO()
    torch.save({}, buffer)
    return {"state": "complete", "cost": measure_cost(config, settings), "metrics": {"psnr_val": 30.0,
            "ssim_val": 0.9}, "steps": 1, "seconds": 0.0, "curve": [], "final_loss": 0.0,
            "weights": buffer.getvalue()}


def engine(trials: int, workers: int, folder: Path) -> float:
    import ray

    from nas_sr.search.driver import SearchOptions, run_search
    from nas_sr.space import SearchSpace

    ray.init(num_cpus=workers, include_dashboard=False, log_to_driver=False, logging_level="ERROR")
    try:
        opts = SearchOptions(space=SearchSpace.from_dict(SPACE), train_images=[], val_sets={"val": []},
                             study="engine", storage=f"sqlite:///{folder}/engine.db", trials=trials,
                             workers=workers, sampler="random", progress=False, trial_fn=trivial_trial,
                             settings={"resolution": list(RESOLUTION), "latency": False,
                                       "cost_cache": str(folder / "costs.json")},
                             objectives="psnr,flops,params")
        start = time.perf_counter()
        outcome = run_search(opts)
        return (time.perf_counter() - start) / outcome.complete
    finally:
        ray.shutdown()


def plain(trials: int, folder: Path) -> float:
    import optuna

    from nas_sr.cost import CostCache, model_cost
    from nas_sr.models.registry import config_key
    from nas_sr.space import SearchSpace

    space = SearchSpace.from_dict(SPACE)
    cache = CostCache(folder / "plain_costs.json")

    def objective(trial: optuna.Trial) -> tuple[float, float, float]:
        config = space.suggest(trial)
        cost = model_cost(config, RESOLUTION, cache=cache)
        for key, value in {"config": config_key(config), "family": config["family"], "flops": cost.flops,
                           "params": cost.params, "psnr_val": 30.0}.items():
            trial.set_user_attr(key, value)
        return 30.0, cost.flops, cost.params

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    study = optuna.create_study(storage=f"sqlite:///{folder}/plain.db", study_name="plain",
                                sampler=optuna.samplers.RandomSampler(seed=0),
                                directions=["maximize", "minimize", "minimize"])
    start = time.perf_counter()
    study.optimize(objective, n_trials=trials)
    return (time.perf_counter() - start) / trials


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--trials", type=int, default=30)
    parser.add_argument("--workers", type=int, default=2)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        plain_s = plain(args.trials, folder)
        engine_s = engine(args.trials, args.workers, folder)
    print(f"plain optuna loop : {plain_s:.3f} s per trial ({args.trials} trials, 1 process)")
    print(f"nas-sr engine     : {engine_s:.3f} s per trial ({args.trials} COMPLETE trials, {args.workers} Ray workers)")


if __name__ == "__main__":
    main()
