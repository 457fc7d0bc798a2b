"""A synthetic study shaped like one ``nas-sr search`` writes (same user attributes, objectives
``psnr@val, latency_ms, params``, constraint ``latency_ms<=LIMIT``, some FAIL and duplicate PRUNED
trials), for tests, the notebook and the dashboard benchmark. No training: the metrics are made up.
"""

from __future__ import annotations

import math
import random
import warnings
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import optuna

OBJECTIVES = ["psnr@val", "latency_ms", "params"]
DIRECTIONS = ["maximize", "minimize", "minimize"]
FAMILIES = {
    "esr-max": lambda r: {"kernel_size": r.choice([3, 5, 7]), "channels": r.choice([1, 2, 4, 8])},
    "esr-tm": lambda r: {"kernel_size": r.choice([3, 5, 7]), "channels": r.choice([2, 4, 8])},
    "espcn": lambda r: {"width1": r.choice([4, 8, 16, 32]), "width2": r.choice([8, 16, 32])},
    "fsrcnn": lambda r: {"features": r.choice([16, 25, 56]), "shrink": r.choice([5, 12]),
                         "mapping_layers": r.choice([1, 2, 4])},
}


def demo_trial_attrs(rng: random.Random, scale: int = 2) -> dict[str, Any]:
    """User attributes of one made-up COMPLETE trial."""
    import json

    family = rng.choice(sorted(FAMILIES))
    config = {"family": family, "scale": scale, "color": "y", **FAMILIES[family](rng)}
    params = int(10 ** rng.uniform(2, 5))
    psnr = 33.0 + 1.2 * math.log10(params) + {"esr-max": -0.6, "esr-tm": 0.0, "espcn": 0.2, "fsrcnn": 0.4}[family]
    psnr += rng.gauss(0, 0.25)
    latency = params / 2000 * (1 + rng.random()) + 0.05
    steps = 200
    return {"config": json.dumps(config, sort_keys=True, separators=(",", ":")), "family": family, "scale": scale,
            "seed": 0, "nas_sr_version": "0.1.0", "psnr_val": round(psnr, 4),
            "ssim_val": round(0.9 + (psnr - 36) / 100, 4), "params": params, "flops": params * 2 * 64 * 64,
            "resolution": [64, 64], "steps": steps, "seconds": round(rng.uniform(1, 5), 3),
            "final_loss": round(rng.uniform(0.01, 0.05), 5), "latency_ms": round(latency, 4),
            "latency_iqr_ms": round(latency * 0.05, 4), "device": "cpu|demo|1 threads|float32|torch 2",
            "curve": [[s, 0.1 / (1 + s)] for s in range(0, steps, 50)]}


def make_demo_study(storage: "str | optuna.storages.BaseStorage", name: str = "demo", trials: int = 60,
                    seed: int = 0, latency_limit: float = 40.0) -> "optuna.Study":
    """Create study ``name`` with ``trials`` trials: about 90 % COMPLETE (those over
    ``latency_limit`` ms infeasible), 5 % FAIL, 5 % duplicates PRUNED.

    >>> study = make_demo_study("sqlite:///:memory:", trials=20)
    >>> len(study.trials), study.metric_names
    (20, ['psnr@val', 'latency_ms', 'params'])
    """
    import optuna
    from optuna.trial import TrialState

    from nas_sr.study.bulk import bulk_add_trials
    from nas_sr.study.record import write_attrs

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    rng = random.Random(seed)
    study = optuna.create_study(storage=storage, study_name=name, directions=DIRECTIONS)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
        study.set_metric_names(OBJECTIVES)
    constraint = f"latency_ms<={latency_limit:g}"
    write_attrs(study, {"constraints": [constraint], "space": "demo"})
    out = []
    for number in range(trials):
        attrs = demo_trial_attrs(rng)
        draw = rng.random()
        if draw < 0.05 and number:
            out.append(optuna.trial.create_trial(state=TrialState.PRUNED, user_attrs={
                "config": attrs["config"], "duplicate_of": rng.randrange(number)}))
        elif draw < 0.10:
            keep = {k: attrs[k] for k in ("config", "family", "scale", "seed", "nas_sr_version")}
            out.append(optuna.trial.create_trial(state=TrialState.FAIL, user_attrs={
                **keep, "fail_reason": "training diverged (loss is NaN)"}))
        else:
            out.append(optuna.trial.create_trial(
                values=[attrs["psnr_val"], attrs["latency_ms"], attrs["params"]], user_attrs=attrs,
                constraints={constraint: attrs["latency_ms"] - latency_limit}))
    bulk_add_trials(study, out)
    return study
