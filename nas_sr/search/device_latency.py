"""Predicted device latency in a search: the objectives (and constraints) ``latency_ms@LABEL``.

At the start of a search each such label's predictor is fitted (:mod:`nas_sr.search.predicted`:
the study's ``latency_ms@LABEL`` measurements and the ``device_latency`` measurement file of the
search's settings). Candidates then carry the prediction as a cost known before training (so the
cost-aware strategy aims at it as at parameters), and each finished trial records it
(``latency_pred_ms@LABEL``, ``latency_pred_sd_ms@LABEL``, ``latency_pred_n@LABEL``).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Callable, Mapping, Sequence

if TYPE_CHECKING:
    import optuna

    from nas_sr.search.predicted import DeviceModel
    from nas_sr.search.constraints import Constraint
    from nas_sr.search.objectives import Objective
    from nas_sr.space import SearchSpace

CostFn = Callable[[Mapping[str, Any]], dict[str, float]]


def device_models(study: "optuna.Study", objectives: Sequence["Objective"], constraints: Sequence["Constraint"],
                  settings: Mapping[str, Any], space: "SearchSpace", seed: int = 0) -> dict[str, "DeviceModel"]:
    """The fitted predictor of each device label of the objectives and constraints (none: {})."""
    from nas_sr.search.predicted import device_labels, device_model

    names = [o.name for o in objectives] + [c.objective.name for c in constraints]
    labels = dict.fromkeys(device_labels(names))
    # A continued search without --device-latency keeps the file its study was started with.
    sources = settings.get("device_latency") or (study.user_attrs.get("settings") or {}).get("device_latency") or {}
    unknown = set(sources) - set(labels)
    if unknown:
        raise ValueError(f"--device-latency for {', '.join(sorted(unknown))}: no objective or constraint "
                         f"latency_ms@{sorted(unknown)[0]} uses it")
    return {label: device_model(study, label, sources, space, seed) for label in labels}


def predicted_attrs(models: Mapping[str, "DeviceModel"], config: Mapping[str, Any]) -> dict[str, Any]:
    """The prediction attributes of ``config`` on every device of ``models``."""
    out: dict[str, Any] = {}
    for model in models.values():
        out.update(model.predict([config])[0])
    return out


def with_predictions(cost_fn: CostFn, models: Mapping[str, "DeviceModel"]) -> CostFn:
    """``cost_fn`` with each candidate's predicted device latencies added (``models`` empty: itself)."""
    if not models:
        return cost_fn

    def cost(config: Mapping[str, Any]) -> dict[str, float]:
        predicted = predicted_attrs(models, config)
        return {**cost_fn(config), **{k: v for k, v in predicted.items() if k.startswith("latency_pred_ms@")}}

    return cost
