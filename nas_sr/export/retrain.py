"""Re-train a chosen trial with a full schedule, recorded as a new trial of the same study.

The new trial runs the search's own trial body (:func:`nas_sr.search.worker.run_trial`, in this
process) with the study's recorded worker settings and the budget given here, and is recorded by
the driver's :func:`nas_sr.search.record.record_complete` (objectives, constraints, weights
artifact). It carries the original's params and user attributes ``retrain_of`` (the original's
number) and ``retrain_budget`` (steps, seconds).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Mapping, Sequence

if TYPE_CHECKING:
    from optuna.trial import FrozenTrial


def retrain_trial(study_name: str, storage_url: str, number: int, steps: int, seconds: float | None,
                  train_images: Sequence[tuple[str, Any]], val_sets: Mapping[str, Sequence[tuple[str, Any]]],
                  overrides: Mapping[str, Any] | None = None) -> "FrozenTrial":
    """Train trial ``number``'s config for ``steps`` steps (or ``seconds``, whichever ends first);
    returns the new trial (COMPLETE, or FAIL with its ``fail_reason``). ``overrides`` replace
    worker settings the study recorded (e.g. ``device``, ``threads``)."""

    from nas_sr import __version__
    from nas_sr.study.trial import find_trial, trial_config
    from nas_sr.models.registry import config_key
    from nas_sr.search.constraints import parse_constraint
    from nas_sr.search.objectives import parse_objectives
    from nas_sr.search.record import record_complete
    from nas_sr.study.record import TrialRecord, fail_trial, write_record
    from nas_sr.study.storage import artifact_dir, load_existing_study, writer_lock
    from nas_sr.search.worker import run_trial

    if steps < 1 or (seconds is not None and seconds <= 0):
        raise ValueError(f"need --steps >= 1 and --seconds > 0, got {steps} and {seconds}")
    study = load_existing_study(study_name, storage_url)
    original = find_trial(study, number)
    config = trial_config(original)
    val_names = list(val_sets)
    if not study.metric_names:
        raise ValueError(f"study {study_name!r} has no metric names (was it created by nas-sr search?)")
    objectives = parse_objectives(",".join(study.metric_names), val_names)
    constraints = [parse_constraint(text, val_names) for text in study.user_attrs.get("constraints", [])]
    settings = {**(study.user_attrs.get("settings") or {}), **(overrides or {}),
                "max_steps": int(steps), "max_seconds": seconds}
    settings.setdefault("seed", original.user_attrs.get("seed", 0))
    lock = writer_lock(storage_url)  # one writer per SQLite file, as for a search
    try:
        study.enqueue_trial(dict(original.params), skip_if_exists=False)
        trial = study.ask(fixed_distributions=dict(original.distributions))
        write_record(trial, TrialRecord(config=config_key(config), family=config["family"], scale=config["scale"],
                                        provenance={"seed": settings["seed"], "nas_sr_version": __version__,
                                                    "retrain_of": original.number,
                                                    "retrain_budget": {"steps": int(steps), "seconds": seconds}}))
        try:
            result = run_trial(config, settings, {"train": list(train_images),
                                                  "val": {k: list(v) for k, v in val_sets.items()}})
            reason = result.get("reason", "unknown failure")
            if result.get("state") == "complete":
                reason = record_complete(study, trial, config, result, objectives, constraints,
                                         artifact_dir(storage_url))
        except BaseException as exc:
            fail_trial(study, trial.number, "interrupted" if isinstance(exc, KeyboardInterrupt)
                       else f"error: {type(exc).__name__}: {exc}".splitlines()[0])
            raise
        if reason:
            fail_trial(study, trial.number, reason)
    finally:
        if lock is not None:
            lock.close()
    return find_trial(study, trial.number)
