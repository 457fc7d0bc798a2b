"""Recording a finished training in the study: its attributes, objective values, constraints and
weights (an Optuna artifact), or the reason it cannot be COMPLETE."""

from __future__ import annotations

import math
import tempfile
from pathlib import Path
from typing import TYPE_CHECKING, Any, Mapping

from nas_sr.search.constraints import Constraint
from nas_sr.search.objectives import Objective

if TYPE_CHECKING:
    import optuna

#: Points of a training curve kept in the trial's ``curve`` attribute.
CURVE_POINTS = 50


def record_complete(study: "optuna.Study", trial: Any, config: Mapping[str, Any], result: Mapping[str, Any],
                    objectives: list[Objective], constraints: list[Constraint], store_dir: Path) -> str:
    """Record a finished training as COMPLETE; returns a failure reason instead when it cannot be."""
    from optuna.artifacts import FileSystemArtifactStore, upload_artifact

    cost = result["cost"]
    latency = cost.get("latency") or {}
    # Costs are the deploy form's; params_train counts what training ran (the same without re-parameterisation).
    attrs: dict[str, Any] = {**result["metrics"], "params": cost["params"], "flops": cost["flops"],
                             "params_train": cost.get("params_train") or cost["params"],
                             "resolution": cost["resolution"], "steps": result["steps"],
                             "seconds": round(result["seconds"], 3), "final_loss": result["final_loss"]}
    if latency:
        attrs.update(latency_ms=latency["median_ms"], latency_iqr_ms=latency["iqr_ms"],
                     device=device_text(latency["device"]))
    attrs.update(result.get("predicted") or {})  # latency predicted on device labels (search.device_latency)
    curve = result.get("curve") or []
    if result.get("rung_values"):  # early stopping: the values at each rung it passed
        attrs["rung_values"] = result["rung_values"]
    attrs["curve"] = curve[:: max(1, math.ceil(len(curve) / CURVE_POINTS))]
    try:
        values = [o.value(attrs) for o in objectives]
    except KeyError as exc:
        set_attrs(trial, attrs)
        return f"objective value {exc.args[0]!r} missing from the trial's results"
    bad = [o.name for o, v in zip(objectives, values) if not math.isfinite(v)]
    set_attrs(trial, attrs)
    if bad:
        return f"objective {', '.join(bad)} is not finite"
    for c in constraints:
        trial.set_constraint(c.text, c.violation(attrs))
    try:
        store_dir.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryDirectory() as tmp:
            path = Path(tmp) / f"trial{trial.number}_weights.pt"
            path.write_bytes(result["weights"])
            artifact = upload_artifact(artifact_store=FileSystemArtifactStore(str(store_dir)), file_path=str(path),
                                       study_or_trial=trial, mimetype="application/octet-stream")
    except OSError as exc:  # disk full, read-only folder...: this trial fails, the search goes on
        return f"weights not saved to {store_dir}: {type(exc).__name__}: {exc}".splitlines()[0]
    trial.set_user_attr("weights_artifact", artifact)
    study.tell(trial, values)
    return ""


def set_attrs(trial: Any, attrs: Mapping[str, Any]) -> None:
    for key, value in attrs.items():
        trial.set_user_attr(key, value)


def device_text(device: Mapping[str, Any]) -> str:
    return f"{device['kind']}|{device['name']}|{device['threads']} threads|{device['dtype']}|torch {device['torch_version']}"
