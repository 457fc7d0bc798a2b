"""Can the search engine keep dozens of workers busy? The real engine against Ray Tune, same workload.

Both run the edge-SR space (``search_spaces/edge_sr.yaml``, 1185 configurations) with a stand-in
trainer that sleeps ``--trial-seconds`` and returns plausible metrics (PSNR rising with the log of
the parameters, per-family offsets, seeded noise; latency from the parameters), so many workers run
on a few cores. Ray's logical resources set the concurrency: one Ray instance with ``--workers``
logical CPUs, each trial asking for one. Ray's start-up and its worker processes (warmed by one
task per worker) are outside the timed part.

* engine: ``nas_sr.search.driver.run_search`` with the default strategy (cost-aware), the default
  objectives (psnr, latency_ms, params) and a real study database (``--storage sqlite``: a temp
  file; ``postgresql``: a throw-away server of ``nas_sr.testing``, as the tests start). Timed:
  the whole ``run_search`` call. Engine seconds per trial: the driver's own time between one result
  and the next wait (recording it, proposing, asking and submitting the next trial).
* Ray Tune: ``Tuner`` with ``OptunaSearch`` (TPE, the same space define-by-run, the same
  objectives), the same stand-in trainer, ``max_concurrent_trials = --workers``. Timed: ``fit()``.
* proposal: the default strategy's ``propose`` on a study pre-filled with 100 / 1000 / 5000
  COMPLETE trials shaped like a search's (the same storage kind): ``first_s``, a search resumed on
  it (its first read of the trials and the model's first fit), then p50/p95 of
  ``--proposal-repeats`` proposals of the running search, each proposed trial told COMPLETE
  before the next proposal.
  The space holds 1185 configurations, so beyond that the pre-filled trials repeat configurations
  (as repeated trainings with other seeds would).

Utilisation: busy trial seconds / (workers x timed wall seconds). Lost: trials a worker ran that
the study does not hold COMPLETE; duplicated: COMPLETE trials of an already COMPLETE configuration;
RUNNING: trials left RUNNING. The last line is one JSON object with every figure.

    python benchmarks/scale.py --workers 32 --trial-seconds 5 --trials 320 --storage postgresql
    python benchmarks/scale.py --address auto ...   # an existing (multi-node) Ray cluster
    benchmarks/scale_cluster.sh 2 32 --trials 320 ... # a 3-node cluster on this machine, then the above
"""

from __future__ import annotations

import argparse
import json
import math
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable

if TYPE_CHECKING:
    from nas_sr.testing import PostgresServer

ROOT = Path(__file__).resolve().parents[1]
SPACE_FILE = ROOT / "search_spaces" / "edge_sr.yaml"
OBJECTIVES = "psnr,latency_ms,params"
#: Family offsets of the stand-in PSNR (dB): the families differ as in the edge-SR table.
OFFSETS = {"bicubic": -1.0, "esr-max": -0.6, "esr-tm": 0.0, "esr-tr": -0.1, "esr-cnn": 0.2, "espcn": 0.3,
           "fsrcnn": 0.4}


def config_text(config: dict[str, Any]) -> str:
    return json.dumps(config, sort_keys=True, separators=(",", ":"))


def stand_in_metrics(config: dict[str, Any], params: float, seed: int = 0) -> dict[str, float]:
    """Plausible metrics of ``config``: deterministic per configuration and seed."""
    import random
    import zlib

    rng = random.Random(zlib.crc32(f"{config_text(config)}|{seed}".encode()))
    psnr = 33.0 + 1.1 * math.log10(max(params, 1.0)) + OFFSETS.get(config["family"], 0.0) \
        - 0.5 * (int(config["scale"]) - 2) + rng.gauss(0, 0.05)
    latency = 0.05 + params / 4000 * (1 + 0.1 * rng.random())
    return {"psnr_val": round(psnr, 4), "ssim_val": round(0.9 + (psnr - 36) / 100, 4), "latency_ms": round(latency, 4)}


def make_stand_in(seconds: float, params: dict[str, float], log_dir: str) -> Callable[..., dict[str, Any]]:
    """The engine's trial body (``SearchOptions.trial_fn``): sleep, then a result like a training's.
    A closure, so Ray ships it (and the parameter table) by value; no torch in the workers."""

    def stand_in(config: dict[str, Any], settings: dict[str, Any], data: Any) -> dict[str, Any]:
        import os
        import time

        start = time.perf_counter()
        time.sleep(seconds)
        count = params[config_text(config)]
        metrics = stand_in_metrics(config, count, int(settings.get("seed", 0)))
        latency = metrics.pop("latency_ms")
        with open(os.path.join(log_dir, f"{os.getpid()}-{time.monotonic_ns()}"), "w") as f:
            f.write(config_text(config))
        device = {"kind": "cpu", "name": "stand-in", "threads": 1, "dtype": "float32", "torch_version": "-"}
        return {"state": "complete", "metrics": metrics, "steps": 100, "seconds": time.perf_counter() - start,
                "curve": [[s, 0.1 / (1 + s)] for s in range(0, 100, 10)], "final_loss": 0.01, "weights": b"",
                "cost": {"params": count, "flops": count * 2.0 * 1920 * 1080, "resolution": [1920, 1080],
                         "latency": {"median_ms": latency, "iqr_ms": latency * 0.05, "device": device}}}

    return stand_in


def percentiles(values: list[float]) -> dict[str, float | None]:
    if not values:
        return {"p50": None, "p95": None}
    ordered = sorted(values)
    return {"p50": round(statistics.median(ordered), 4),
            "p95": round(ordered[min(len(ordered) - 1, math.ceil(0.95 * len(ordered)) - 1)], 4)}


# --- storage ---------------------------------------------------------------------------------------


def start_postgres() -> PostgresServer:
    """A throw-away PostgreSQL server (:class:`nas_sr.testing.PostgresServer`, as the tests' own); exits
    with a one-line reason when none can start here."""
    from nas_sr.testing import PostgresServer, PostgresUnavailable

    try:
        return PostgresServer(prefix="nsr-scale-pg-")
    except PostgresUnavailable as error:
        sys.exit(f"scale.py: --storage postgresql: {error}")


def exit_on_sigterm() -> None:
    """SIGTERM ends the run as ``sys.exit`` does (Python's default ends it at once), so ``finally``
    blocks and ``atexit`` run: the PostgreSQL server started here is stopped, the temp folders go."""
    import signal

    signal.signal(signal.SIGTERM, lambda signum, frame: sys.exit(128 + signum))


# --- the engine ------------------------------------------------------------------------------------


def run_engine(args: argparse.Namespace, url: str, folder: Path, params: dict[str, float]) -> dict[str, Any]:
    """One ``run_search`` of ``args.trials`` COMPLETE trials; its timings and bookkeeping checks."""
    from optuna.trial import TrialState

    from nas_sr.search import driver
    from nas_sr.search.runner import TrialRunner
    from nas_sr.space import load_space

    marks: list[tuple[float, float]] = []  # (entered wait_one, got a result)

    class TimedRunner(TrialRunner):
        def wait_one(self, refs: list[Any], poll: Callable[[], None]) -> tuple[Any, dict[str, Any]]:
            entered = time.perf_counter()
            out = super().wait_one(refs, poll)
            marks.append((entered, time.perf_counter()))
            return out

    log_dir = folder / "runs"
    log_dir.mkdir()
    opts = driver.SearchOptions(
        space=load_space(SPACE_FILE), train_images=[], val_sets={"val": []}, study="scale", storage=url,
        trials=args.trials, workers=args.workers, objectives=OBJECTIVES, seed=args.seed, progress=False,
        sampler=args.sampler,
        trial_fn=make_stand_in(args.trial_seconds, params, str(log_dir)), ray_address=args.address,
        settings={"cost_cache": str(folder / "costs.json"), "resolution": [1920, 1080], "max_steps": 100})
    previous, driver._Runner = driver._Runner, TimedRunner
    try:
        start = time.perf_counter()
        outcome = driver.run_search(opts)
        wall = time.perf_counter() - start
    finally:
        driver._Runner = previous
    trials = outcome.study.get_trials(deepcopy=False)
    complete = [t for t in trials if t.state == TrialState.COMPLETE]
    keys = [t.user_attrs.get("config") for t in complete]
    # Every run a worker finished must be a COMPLETE trial of its configuration (keys are canonical
    # configs, runs the space's: compared through their canonical form).
    from collections import Counter

    from nas_sr.models.registry import config_key

    held = Counter(k for k in keys if k)
    runs = Counter(config_key(json.loads(p.read_text())) for p in log_dir.iterdir())
    lost = sum((runs - held).values())
    engine = [marks[i][0] - marks[i - 1][1] for i in range(1, len(marks))]
    busy = sum(float(t.user_attrs.get("seconds", 0.0)) for t in complete)
    return {
        "wall_s": round(wall, 2), "trials_per_min": round(60 * len(complete) / wall, 1),
        "utilisation": round(busy / (args.workers * wall), 3),
        "engine_s_per_trial": percentiles(engine),
        "engine_first_fill_s": round(marks[0][0] - start, 2) if marks else None,
        "complete": len(complete), "failed": outcome.failed, "duplicate_proposals": outcome.duplicates,
        "lost": lost,
        "duplicated": len(keys) - len(set(keys)),
        "running": sum(1 for t in trials if t.state == TrialState.RUNNING),
        "nodes_used": len({t.user_attrs.get("ray_node_id") for t in complete})}


# --- Ray Tune --------------------------------------------------------------------------------------


class _DefineByRun:
    """OptunaSearch's define-by-run space: the search space's own ``suggest`` (picklable: Tune
    saves its searcher)."""

    def __init__(self, path: str) -> None:
        self.path = path
        self._space: Any = None

    def __getstate__(self) -> dict[str, Any]:
        return {"path": self.path, "_space": None}

    def __call__(self, trial: Any) -> dict[str, Any]:
        from nas_sr.space import load_space

        if self._space is None:
            self._space = load_space(self.path)
        return {"config_json": config_text(self._space.suggest(trial))}


def run_tune(args: argparse.Namespace, folder: Path, params: dict[str, float]) -> dict[str, Any]:
    """The same workload through ``Tuner`` + ``OptunaSearch`` (TPE)."""
    import optuna
    from ray import tune
    from ray.tune.search.optuna import OptunaSearch

    seconds, seed = args.trial_seconds, args.seed

    def trainable(config: dict[str, Any]) -> None:
        import time

        from ray import tune as _tune

        start = time.perf_counter()
        time.sleep(seconds)
        chosen = json.loads(config["config_json"])
        count = params[config_text(chosen)]
        metrics = stand_in_metrics(chosen, count, seed)
        _tune.report({"psnr": metrics["psnr_val"], "latency_ms": metrics["latency_ms"], "params": count,
                      "busy_s": time.perf_counter() - start})

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    sampler = optuna.samplers.TPESampler(seed=seed, multivariate=True, group=True)
    searcher = OptunaSearch(space=_DefineByRun(str(SPACE_FILE)), metric=["psnr", "latency_ms", "params"],
                            mode=["max", "min", "min"],
                            sampler=sampler)
    tuner = tune.Tuner(
        tune.with_resources(trainable, {"cpu": 1}),
        tune_config=tune.TuneConfig(search_alg=searcher, num_samples=args.trials,
                                    max_concurrent_trials=args.workers, reuse_actors=True),
        run_config=tune.RunConfig(storage_path=str(folder / "tune"), name="scale", verbose=0))
    start = time.perf_counter()
    results = tuner.fit()
    wall = time.perf_counter() - start
    frame = results.get_dataframe()
    done = frame[frame["busy_s"].notna()] if "busy_s" in frame else frame.iloc[:0]
    keys = list(done["config/config_json"]) if "config/config_json" in done else []
    return {"wall_s": round(wall, 2), "trials_per_min": round(60 * len(done) / wall, 1),
            "utilisation": round(float(done["busy_s"].sum()) / (args.workers * wall), 3),
            "complete": len(done), "errors": len(results.errors), "duplicated": len(keys) - len(set(keys))}


# --- the proposal model as the study grows -----------------------------------------------------------


def proposal_seconds(args: argparse.Namespace, url: str, folder: Path, params: dict[str, float],
                     cost_fn: Callable[..., Any]) -> dict[str, Any]:
    """``propose`` of the default strategy on one study filled to each size in turn."""
    import optuna
    import random
    from optuna.trial import TrialState, create_trial

    from nas_sr.models.registry import config_key
    from nas_sr.study.bulk import bulk_add_trials
    from nas_sr.search.candidates import candidates
    from nas_sr.search.objectives import parse_objectives
    from nas_sr.search.strategy import make_strategy
    from nas_sr.space import load_space

    space = load_space(SPACE_FILE)
    objectives = parse_objectives(OBJECTIVES, ["val"])
    pool = candidates(space, cost_fn, args.seed)
    rng = random.Random(args.seed)
    order = list(range(len(pool)))
    rng.shuffle(order)
    study = optuna.create_study(storage=url, study_name="proposals", directions=[o.direction for o in objectives])
    out: dict[str, Any] = {}
    filled = 0

    def trial_of(n: int, c: Any) -> Any:
        metrics = stand_in_metrics(c.config, c.costs["params"], n // len(pool))
        attrs = {"config": c.key, "family": c.config["family"], "scale": c.config["scale"], "seed": n // len(pool),
                 "nas_sr_version": "bench", "sampler": "cost-aware", "params": c.costs["params"],
                 "flops": c.costs["params"] * 2.0 * 1920 * 1080, "resolution": [1920, 1080], "steps": 100,
                 "seconds": args.trial_seconds, "final_loss": 0.01, **metrics, "latency_iqr_ms": 0.01,
                 "device": "cpu|stand-in|1 threads|float32|torch -", "curve": [[s, 0.1] for s in range(0, 100, 10)]}
        return create_trial(state=TrialState.COMPLETE, user_attrs=attrs,
                            values=[metrics["psnr_val"], metrics["latency_ms"], c.costs["params"]])

    for size in args.proposal_sizes:
        bulk_add_trials(study, [trial_of(n, pool[order[n % len(pool)]]) for n in range(filled, size)])
        filled = size
        # Known: every configuration held, but a few left free to propose from.
        known = {pool[order[n]].key: n for n in range(min(size, len(pool) - 50))}
        by_key = {c.key: c for c in pool}
        strategy = make_strategy("cost-aware", space, objectives, seed=args.seed, trials=size + 10, cost_fn=cost_fn)
        # The one-off start of a search resumed on this study: reading its trials (later reads are
        # incremental: Optuna's cache of an RDB storage) and the model's first fit. Then the steady
        # state of a running search: a proposal, its trial told COMPLETE, the next proposal (the
        # model's hyper-parameters refitted on their schedule, every 5 % more trials).
        t0 = time.perf_counter()
        first = strategy.propose(study, known)
        first_s = time.perf_counter() - t0
        times: list[float] = []
        deadline = time.perf_counter() + args.proposal_budget
        for _ in range(args.proposal_repeats):
            key = config_key(space.suggest(optuna.trial.FixedTrial(first.params)))
            known[key] = filled
            bulk_add_trials(study, [trial_of(filled, by_key[key])])
            filled += 1
            t0 = time.perf_counter()
            first = strategy.propose(study, known)
            times.append(time.perf_counter() - t0)
            if time.perf_counter() > deadline:
                break
        out[str(size)] = {**percentiles(times), "n": len(times), "first_s": round(first_s, 3)}
    return out


# --- main ------------------------------------------------------------------------------------------


def warm_workers(workers: int) -> None:
    """Start Ray's worker processes before the timed part: one short task per worker at once."""
    import ray

    @ray.remote(num_cpus=1)
    def ready() -> int:
        time.sleep(1.0)
        return os.getpid()

    ray.get([ready.remote() for _ in range(workers)])


def main(argv: list[str] | None = None) -> dict[str, Any]:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--workers", type=int, default=32)
    parser.add_argument("--trial-seconds", type=float, default=5.0)
    parser.add_argument("--trials", type=int, default=320)
    parser.add_argument("--storage", choices=("sqlite", "postgresql"), default="sqlite")
    parser.add_argument("--address", default=None, help="an existing Ray cluster (auto, HOST:PORT); default: start one")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--sampler", default="cost-aware", help="the engine's strategy (default: cost-aware, "
                        "nas-sr search's default; tpe: the sampler Ray Tune runs here)")
    parser.add_argument("--no-tune", action="store_true", help="skip the Ray Tune run")
    parser.add_argument("--proposal-sizes", type=int, nargs="*", default=[100, 1000, 5000],
                        help="study sizes of the proposal timing (none: skip it)")
    parser.add_argument("--proposal-repeats", type=int, default=10)
    parser.add_argument("--proposal-budget", type=float, default=60.0, help="seconds per size at most (after one)")
    args = parser.parse_args(argv)

    import logging

    import ray

    from nas_sr.search.candidates import candidates
    from nas_sr.search.driver import candidate_cost_fn
    from nas_sr.space import load_space

    server = start_postgres() if args.storage == "postgresql" else None
    result: dict[str, Any] = {"workers": args.workers, "trial_seconds": args.trial_seconds, "trials": args.trials,
                              "storage": args.storage, "sampler": args.sampler,
                              "cpus": os.cpu_count(), "load_avg": round(os.getloadavg()[0], 1), "ray_address": args.address}
    try:
        with tempfile.TemporaryDirectory() as tmp:
            folder = Path(tmp)
            settings = {"cost_cache": str(folder / "costs.json"), "resolution": [1920, 1080]}
            cost_fn = candidate_cost_fn(settings, flops=False)
            pool = candidates(load_space(SPACE_FILE), cost_fn)  # fills the cost cache the search reads
            params = {config_text(c.config): float(c.costs["params"]) for c in pool}

            def url(name: str) -> str:
                return server.new_database(name) if server else f"sqlite:///{folder}/{name}.db"

            kwargs: dict[str, Any] = dict(include_dashboard=False, log_to_driver=False, logging_level=logging.WARNING)
            if args.address:
                ray.init(address=args.address, **kwargs)
                result["ray_nodes"] = sum(1 for n in ray.nodes() if n.get("Alive"))
            else:
                ray.init(address="local", num_cpus=args.workers, **kwargs)
            try:
                warm_workers(args.workers)
                result["engine"] = run_engine(args, url("engine"), folder, params)
                print(json.dumps({"engine": result["engine"]}), file=sys.stderr)
                if not args.no_tune:
                    result["ray_tune"] = run_tune(args, folder, params)
                    print(json.dumps({"ray_tune": result["ray_tune"]}), file=sys.stderr)
            finally:
                ray.shutdown()
            if args.proposal_sizes:
                result["proposal_s"] = proposal_seconds(args, url("proposals"), folder, params, cost_fn)
    finally:
        if server:
            server.close()
    engine, tune = result.get("engine", {}), result.get("ray_tune")
    result["load_avg_end"] = round(os.getloadavg()[0], 1)  # other processes on the machine
    result["acceptance"] = {
        "utilisation>=0.85": engine.get("utilisation", 0) >= 0.85,
        "no_lost_duplicated_running": not (engine.get("lost") or engine.get("duplicated") or engine.get("running")),
        "engine_p95<0.15s": (engine.get("engine_s_per_trial", {}).get("p95") or 1.0) < 0.15,
        "engine>=ray_tune": None if tune is None else engine.get("trials_per_min", 0) >= tune["trials_per_min"]}
    print(json.dumps(result))
    return result


if __name__ == "__main__":
    exit_on_sigterm()
    main()
