"""One trial's work, run as a Ray task: cost, then training and validation of one config.

Plain data in (config dict, settings dict, images), plain data out (a dict with the metrics,
cost, curve and the weights as ``torch.save`` bytes). The worker never touches the study.
"""

from __future__ import annotations

import dataclasses
import io
import os
import traceback
from typing import Any, Mapping

#: Settings the worker reads itself; the rest go to the trainer's ``TrainSettings``.
#: ``max_steps`` for a time budget alone (the trainer stops on time first).
UNBOUNDED_STEPS = 10**9
COST_KEYS = ("resolution", "latency", "latency_repeats", "threads", "cost_cache", "device")


def trainer() -> tuple[Any, Any, type[Exception]]:
    """``(train, TrainSettings, TrainingFailed)`` of ``nas_sr.train``."""
    from nas_sr.train import TrainingFailed, TrainSettings, train

    return train, TrainSettings, TrainingFailed


def train_settings(settings: Mapping[str, Any]) -> Any:
    """The trainer's settings object from the keys of ``settings`` it knows."""
    _, settings_type, _ = trainer()
    known = {f.name for f in dataclasses.fields(settings_type)}
    chosen = {k: v for k, v in settings.items() if k in known and v is not None}
    if "max_steps" not in chosen and chosen.get("max_seconds"):
        chosen["max_steps"] = UNBOUNDED_STEPS  # a time budget alone
    return settings_type(**chosen)


def measure_cost(config: Mapping[str, Any], settings: Mapping[str, Any]) -> dict[str, Any]:
    """Params, multiply-adds and latency of ``config`` (through the cost cache)."""
    from nas_sr.cost import CostCache, model_cost

    cost = model_cost(config, tuple(settings.get("resolution", (1920, 1080))),
                      latency=settings.get("latency", True), device=settings.get("device", "cpu"),
                      threads=settings.get("threads"), repeats=settings.get("latency_repeats", 5),
                      warmup=1, cache=CostCache(settings.get("cost_cache")))
    return cost.as_dict()


def run_trial(config: Mapping[str, Any], settings: Mapping[str, Any], data: Mapping[str, Any]) -> dict[str, Any]:
    """Evaluate one config; returns ``{"state": "complete"|"fail", ...}`` and never raises."""
    import torch

    if settings.get("threads"):
        torch.set_num_threads(int(settings["threads"]))
    train, _, training_failed = trainer()
    try:
        cost = measure_cost(config, settings)
    except Exception as exc:  # noqa: BLE001 - a bad candidate fails its trial, not the search
        return {"state": "fail", "reason": f"cost: {type(exc).__name__}: {exc}".splitlines()[0]}
    out: dict[str, Any] = {"cost": cost, "pid": os.getpid()}
    rungs = None
    if settings.get("early_stopping"):  # MO-ASHA: ask the rung board at each rung (early_stopping.py)
        from nas_sr.search.early_stopping import RungReporter, cost_attrs

        rungs = RungReporter(settings["early_stopping"], {**cost_attrs(cost), "family": config["family"]})
    try:
        result = train(dict(config), data["train"], data["val"], train_settings(settings),
                       on_validation=rungs.at_validation if rungs else None)
    except training_failed as exc:
        return {**out, "state": "fail", "reason": str(exc).splitlines()[0] if str(exc) else type(exc).__name__}
    except Exception as exc:  # noqa: BLE001
        last = traceback.format_exception_only(exc)[-1].strip()
        return {**out, "state": "fail", "reason": f"error: {last}".splitlines()[0]}
    buffer = io.BytesIO()
    torch.save(result.state_dict, buffer)
    out.update(metrics=dict(result.metrics), steps=int(result.steps), seconds=float(result.seconds),
               curve=[list(map(float, point)) for point in (result.curve or [])],
               final_loss=float(result.final_loss), weights=buffer.getvalue())
    if rungs is not None:
        out.update(rungs.outcome())
        if rungs.stopped_at is not None:
            return out
    if not result.completed:
        return {**out, "state": "fail", "reason": f"budget not reached: stopped after {result.steps} steps"}
    return {**out, "state": "complete"}
