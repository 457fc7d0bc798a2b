"""The search's recorder: the study a search writes (created or continued, with its settings),
each trial's record as it starts (config, provenance) and ends (metrics, costs, training, weights as
an Optuna artifact, objective values and constraints), or the reason it cannot be COMPLETE.

Everything is written through :mod:`nas_sr.study.record` (the one writer of trial records); the
driver (:mod:`nas_sr.search.driver`) decides what happens, this module how it is recorded.
"""

from __future__ import annotations

import json
import math
import sys
import tempfile
import warnings
from pathlib import Path
from typing import TYPE_CHECKING, Any, Mapping

from nas_sr.search.constraints import Constraint
from nas_sr.search.objectives import Objective
from nas_sr.search.spec import TrialResult
from nas_sr.study.record import TrialRecord, write_attrs, write_record
from nas_sr.study.storage import existing_studies, hide_password

if TYPE_CHECKING:
    import optuna

    from nas_sr.search.options import SearchOptions

#: Points of a training curve kept in the trial's ``curve`` attribute.
CURVE_POINTS = 50


def record_complete(study: "optuna.Study", trial: Any, config: Mapping[str, Any],
                    result: "TrialResult | Mapping[str, Any]", objectives: list[Objective],
                    constraints: list[Constraint], store_dir: Path,
                    predicted: Mapping[str, Any] | None = None) -> str:
    """Record a finished training as COMPLETE; returns a failure reason instead when it cannot be.
    ``predicted``: its latency predicted on device labels (:mod:`nas_sr.search.device_latency`)."""
    from optuna.artifacts import FileSystemArtifactStore, upload_artifact

    if not isinstance(result, TrialResult):
        result = TrialResult.from_dict(result)
    cost = result.cost or {}
    latency = cost.get("latency") or {}
    # Costs are the deploy form's; params_train counts what training ran (the same without re-parameterisation).
    record = TrialRecord(metrics=dict(result.metrics),
                         costs={"params": cost["params"], "flops": cost["flops"],
                                "params_train": cost.get("params_train") or cost["params"],
                                "resolution": cost["resolution"]},
                         training={"steps": result.steps, "seconds": round(result.seconds, 3),
                                   "final_loss": result.final_loss})
    if latency:
        record.costs.update(latency_ms=latency["median_ms"], latency_iqr_ms=latency["iqr_ms"],
                            device=device_text(latency["device"]))
    record.costs.update(predicted or {})
    curve = result.curve or []
    if result.rung_values:  # early stopping: the values at each rung it passed
        record.training["rung_values"] = result.rung_values
    record.training["curve"] = curve[:: max(1, math.ceil(len(curve) / CURVE_POINTS))]
    attrs = record.attrs()
    try:
        values = [o.value(attrs) for o in objectives]
    except KeyError as exc:
        write_record(trial, record)
        return f"objective value {exc.args[0]!r} missing from the trial's results"
    bad = [o.name for o, v in zip(objectives, values) if not math.isfinite(v)]
    write_record(trial, record)
    if bad:
        return f"objective {', '.join(bad)} is not finite"
    for c in constraints:
        trial.set_constraint(c.text, c.violation(attrs))
    try:
        store_dir.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryDirectory() as tmp:
            path = Path(tmp) / f"trial{trial.number}_weights.pt"
            path.write_bytes(result.weights or b"")
            artifact = upload_artifact(artifact_store=FileSystemArtifactStore(str(store_dir)), file_path=str(path),
                                       study_or_trial=trial, mimetype="application/octet-stream")
    except OSError as exc:  # disk full, read-only folder...: this trial fails, the search goes on
        return f"weights not saved to {store_dir}: {type(exc).__name__}: {exc}".splitlines()[0]
    write_record(trial, TrialRecord(provenance={"weights_artifact": artifact}))
    study.tell(trial, values)
    return ""


def record_started(trial: Any, key: str, config: Mapping[str, Any], opts: "SearchOptions") -> None:
    """A trial about to run: its config and where it comes from (so a lost trial still shows them)."""
    write_record(trial, TrialRecord(config=key, family=config["family"], scale=config["scale"], provenance={
        "seed": opts.seed, "nas_sr_version": _version(), "sampler": opts.sampler, "sampler_seed": opts.seed}))


def record_node(trial: Any, result: TrialResult) -> None:
    """Where a trial ran (worker, host, Ray node, GPUs, training device)."""
    if result.node:
        write_record(trial, TrialRecord(provenance=dict(result.node)))


def set_attrs(trial: Any, attrs: Mapping[str, Any]) -> None:
    """Plain user attributes of a running trial (:func:`nas_sr.study.record.write_attrs`)."""
    write_attrs(trial, attrs)


def device_text(device: Mapping[str, Any]) -> str:
    return f"{device['kind']}|{device['name']}|{device['threads']} threads|{device['dtype']}|torch {device['torch_version']}"


def open_search_study(opts: "SearchOptions", objectives: list[Objective],
                      constraints: list[Constraint]) -> "optuna.Study":
    """The search's study: created with its objectives, space, constraints and settings, or continued
    (``resume``; or ``auto_resume`` when it searched the same space); ValueError when it may not be."""
    import optuna

    from nas_sr.study.storage import open_storage

    storage = open_storage(opts.storage)
    # The driver gives the study its strategy's sampler once the study is open (it needs the
    # study's front tolerance); till then, a seeded random sampler (nothing is sampled).
    sampler = optuna.samplers.RandomSampler(seed=opts.seed)
    names = existing_studies(storage)
    if opts.study in names:
        study = optuna.load_study(study_name=opts.study, storage=storage, sampler=sampler)
        has_trials = bool(study.get_trials(deepcopy=False))
        if has_trials and not opts.resume:
            space = study.user_attrs.get("space")
            if not (opts.auto_resume and _same_space(space, opts.space.source)):
                held = f" (a search of {space}, not {opts.space.source})" if opts.auto_resume else ""
                raise ValueError(f"study {opts.study!r} in {hide_password(opts.storage)} already has trials{held}; "
                                 "add --resume to continue it, or choose another --study")
            _say_continued(study, opts)
        old = list(study.metric_names or [])
        if opts.objectives is not None and old and old != [o.name for o in objectives]:
            raise ValueError(f"study {opts.study!r} has objectives {','.join(old)}; --objectives "
                             f"{opts.objectives!r} differs (use another --study)")
        return study
    study = optuna.create_study(storage=storage, study_name=opts.study, sampler=sampler,
                                directions=[o.direction for o in objectives])
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
        study.set_metric_names([o.name for o in objectives])
    write_attrs(study, {"space": opts.space.source, "constraints": [c.text for c in constraints],
                        "settings": _jsonable(opts.settings), "front_tolerance": float(opts.front_tolerance)})
    return study


def _same_space(recorded: Any, source: str) -> bool:
    """Whether a study's recorded space is the file ``source`` (paths compared resolved)."""
    from pathlib import Path

    if not isinstance(recorded, str):
        return False
    return recorded == source or Path(source).is_file() and Path(recorded).resolve() == Path(source).resolve()


def _say_continued(study: "optuna.Study", opts: "SearchOptions") -> None:
    """The one line that says an existing study is continued, and what is left to train."""
    from optuna.trial import TrialState

    done = len(study.get_trials(deepcopy=False, states=(TrialState.COMPLETE,)))
    left = ("nothing to train (--trials N trains more" if done >= opts.trials
            else f"training up to --trials {opts.trials} (")
    print(f"nas-sr search: continuing study {opts.study!r} of {hide_password(opts.storage)}: {done} COMPLETE "
          f"trials, {left}; --study NAME starts a fresh study)", file=sys.stderr)


def _version() -> str:
    from nas_sr import __version__

    return __version__


def _jsonable(data: Any) -> Any:
    return json.loads(json.dumps(data, default=str))
