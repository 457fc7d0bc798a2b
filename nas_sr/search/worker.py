"""One trial's work, run as a Ray task: cost, then training and validation of one config.

Plain data in (config dict, the run's checked :class:`~nas_sr.search.spec.WorkerSettings`, images),
plain data out (a dict of :class:`~nas_sr.search.spec.TrialResult`'s fields: metrics, cost, curve and
the weights as ``torch.save`` bytes). The worker never touches the study.
"""

from __future__ import annotations

import io
import os
import traceback
from typing import Any, Mapping

from nas_sr.search.spec import COST_KEYS, UNBOUNDED_STEPS, WorkerSettings

__all__ = ["COST_KEYS", "UNBOUNDED_STEPS", "measure_cost", "run_trial", "train_settings", "trainer"]


def trainer() -> tuple[Any, Any, type[Exception]]:
    """``(train, TrainSettings, TrainingFailed)`` of ``nas_sr.train``."""
    from nas_sr.train import TrainingFailed, TrainSettings, train

    return train, TrainSettings, TrainingFailed


def train_settings(settings: "Mapping[str, Any] | WorkerSettings") -> Any:
    """The trainer's settings object of ``settings`` (checked once: :class:`WorkerSettings`)."""
    return WorkerSettings.of(settings).train


def measure_cost(config: Mapping[str, Any], settings: "Mapping[str, Any] | WorkerSettings") -> dict[str, Any]:
    """Params, multiply-adds and latency of ``config`` (through the cost cache)."""
    from nas_sr.cost import CostCache, model_cost

    checked = WorkerSettings.of(settings)
    cost = model_cost(config, checked.resolution, latency=checked.latency, device=checked.device,
                      threads=checked.threads, repeats=checked.latency_repeats, warmup=1,
                      cache=CostCache(checked.cost_cache))
    return cost.as_dict()


def run_trial(config: Mapping[str, Any], settings: "Mapping[str, Any] | WorkerSettings",
              data: Mapping[str, Any]) -> dict[str, Any]:
    """Evaluate one config; returns ``{"state": "complete"|"fail", ...}`` (the fields of
    :class:`nas_sr.search.spec.TrialResult`) and never raises."""
    import torch

    try:
        settings = WorkerSettings.of(settings)  # a driver's are checked already; a caller's dict now
    except Exception as exc:  # noqa: BLE001 - never raises: bad settings fail the trial, saying why
        last = traceback.format_exception_only(exc)[-1].strip()
        return {"state": "fail", "reason": f"error: {last}".splitlines()[0]}
    if settings.threads:
        torch.set_num_threads(int(settings.threads))
    train, _, training_failed = trainer()
    try:
        cost = measure_cost(config, settings)
    except Exception as exc:  # noqa: BLE001 - a bad candidate fails its trial, not the search
        return {"state": "fail", "reason": f"cost: {type(exc).__name__}: {exc}".splitlines()[0]}
    out: dict[str, Any] = {"cost": cost, "pid": os.getpid()}
    rungs = None
    if settings.early_stopping:  # MO-ASHA: ask the rung board at each rung (early_stopping.py)
        from nas_sr.search.early_stopping import RungReporter, cost_attrs

        rungs = RungReporter(settings.early_stopping, {**cost_attrs(cost), "family": config["family"]})
    try:
        result = train(dict(config), data["train"], data["val"], settings.train,
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
