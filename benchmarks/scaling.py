"""Trials per minute of the search engine with 1 and 2 workers on CPU-bound trials, and its overhead.

Each trial is a fixed amount of CPU work in its Ray task (``--work`` seconds of single-threaded
torch matrix products, calibrated once in this process), the real cost step (params and
multiply-adds, cached; no latency) and a trivial result, so the search's own costs (ask/tell,
duplicate check, Ray task, user attributes, weights artifact) are what is left over. Every search
runs the tiny demo space with the random sampler into a fresh SQLite study, on a local Ray
instance of its own with as many CPUs as workers.

Printed per worker count: COMPLETE trials per minute, and the engine overhead per trial: wall
time x workers minus the trials' own busy time, over the trials (with 1 worker: the time the
driver and Ray add to each trial). The speed-up goal is >= 1.8x from 1 to 2 workers on 2 cores;
on a machine whose cores other processes use, the figures are noisy.

    python benchmarks/scaling.py [--trials 24] [--work 1.0] [--workers 1 2]
"""

from __future__ import annotations

import argparse
import io
import tempfile
import time
from pathlib import Path
from typing import Any

SPACE = {
    "name": "scaling", "scales": [2], "color": "y",
    "branches": [
        {"family": "esr-max", "params": {"kernel_size": [3, 5, 7], "channels": [1, 2, 4, 8]}},
        {"family": "esr-tm", "params": {"kernel_size": [3, 5, 7], "channels": [2, 4, 8]}},
        {"family": "esr-tr", "params": {"kernel_size": [3, 5, 7], "channels": [2, 4, 8]}},
        {"family": "espcn", "params": {"width1": [0, 1, 2, 3], "width2": [3, 9]}},
    ],
}


def burn(products: int) -> None:
    import torch

    torch.set_num_threads(1)
    a = torch.ones(256, 256)
    for _ in range(products):
        a = (a @ a) * (1.0 / 256)


def calibrate(seconds: float) -> int:
    """Matrix products that take ``seconds`` on one thread here."""
    burn(5)
    start = time.perf_counter()
    burn(50)
    return max(1, int(50 * seconds / (time.perf_counter() - start)))


def cpu_trial(config: dict[str, Any], settings: dict[str, Any], data: Any) -> dict[str, Any]:
    """CPU work, the real cost step, constant metrics, empty weights; ``busy`` is its own time."""
    import torch

    from nas_sr.search.worker import measure_cost

    start = time.perf_counter()
    burn(int(settings["products"]))
    cost = measure_cost(config, settings)
    buffer = io.BytesIO()
    torch.save({}, buffer)
    busy = time.perf_counter() - start
    return {"state": "complete", "cost": cost, "metrics": {"psnr_val": 30.0 + config.get("kernel_size", 0) * 0.01,
            "ssim_val": 0.9}, "steps": 1, "seconds": busy, "curve": [], "final_loss": 0.0,
            "weights": buffer.getvalue()}


def run(trials: int, workers: int, products: int, folder: Path) -> tuple[float, float]:
    import ray

    from nas_sr.search.driver import SearchOptions, run_search
    from nas_sr.space import SearchSpace

    ray.init(address="local", num_cpus=workers, include_dashboard=False, log_to_driver=False,
             logging_level="ERROR")
    try:
        opts = SearchOptions(space=SearchSpace.from_dict(SPACE), train_images=[], val_sets={"val": []},
                             study=f"w{workers}", storage=f"sqlite:///{folder}/w{workers}.db", trials=trials,
                             workers=workers, sampler="random", progress=False, trial_fn=cpu_trial,
                             settings={"resolution": [64, 64], "latency": False, "products": products,
                                       "cost_cache": str(folder / "costs.json")},
                             objectives="psnr,flops,params")
        start = time.perf_counter()
        outcome = run_search(opts)
        wall = time.perf_counter() - start
        busy = sum(float(t.user_attrs["seconds"]) for t in outcome.study.trials if "seconds" in t.user_attrs)
        return 60.0 * outcome.complete / wall, (wall * workers - busy) / outcome.complete
    finally:
        ray.shutdown()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--trials", type=int, default=24)
    parser.add_argument("--work", type=float, default=1.0, help="CPU seconds per trial (default 1)")
    parser.add_argument("--workers", type=int, nargs="+", default=[1, 2])
    args = parser.parse_args()
    products = calibrate(args.work)
    print(f"{args.trials} COMPLETE trials of ~{args.work:g} s single-threaded CPU work ({products} 256x256 "
          f"matrix products) each", flush=True)
    rates = {}
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        for workers in args.workers:
            rate, overhead = run(args.trials, workers, products, folder)
            rates[workers] = rate
            print(f"{workers} worker(s): {rate:6.1f} trials/min, engine overhead {overhead:.3f} s per trial",
                  flush=True)
    if 1 in rates and len(rates) > 1:
        best = max(rates)
        print(f"speed-up {best} vs 1 worker: {rates[best] / rates[1]:.2f}x (goal >= 1.8x on 2 cores)")


if __name__ == "__main__":
    main()
