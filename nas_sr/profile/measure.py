"""Latency of a study's COMPLETE trials on this machine, recorded per device label."""

from __future__ import annotations

import dataclasses
import json
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Callable, Sequence

from nas_sr.profile.record import check_label, profile_keys

if TYPE_CHECKING:
    import optuna
    from optuna.trial import FrozenTrial


@dataclass(frozen=True)
class ProfileSettings:
    """How to measure: ``device`` ("cpu", "cuda", "cuda:N"), ``dtype``, intra-op ``threads``
    (None: torch's default), output ``resolution`` (width, height), ``backend`` ("torch" or
    "onnxruntime"), ``repeats`` timed passes after ``warmup`` untimed ones, the ``label`` the
    attributes are named by (None: :func:`default_label`) and the CPU convolution path ``cpu_path``
    ("default", or "native": oneDNN off, see :func:`~nas_sr.cost.measure_latency`)."""

    device: str = "cpu"
    dtype: str = "fp32"
    threads: int | None = None
    resolution: tuple[int, int] = (1920, 1080)
    backend: str = "torch"
    repeats: int = 10
    warmup: int = 3
    label: str | None = None
    cpu_path: str = "default"

    @property
    def name(self) -> str:
        """The device label: ``label`` or :func:`default_label`."""
        if self.label:
            return check_label(self.label)
        return default_label(self.device, self.dtype, self.backend, self.cpu_path)


def default_label(device: str, dtype: str, backend: str = "torch", cpu_path: str = "default") -> str:
    """``<device>-<dtype>`` (``cuda:1`` -> ``cuda1``), ``-ort`` added for the onnxruntime backend,
    ``-native`` for the native CPU convolution path.

    >>> default_label("cpu", "fp32"), default_label("cuda:1", "fp16"), default_label("cpu", "fp32", "onnxruntime")
    ('cpu-fp32', 'cuda1-fp16', 'cpu-fp32-ort')
    >>> default_label("cpu", "fp32", cpu_path="native")
    'cpu-fp32-native'
    """
    suffix = ("" if backend == "torch" else "-ort") + ("" if cpu_path == "default" else f"-{cpu_path}")
    return f"{device.replace(':', '')}-{dtype}{suffix}"


def select_trials(study: "optuna.Study", spec: str) -> list["FrozenTrial"]:
    """``pareto`` (the study's feasible non-dominated trials), ``all`` (every COMPLETE trial) or
    ``ID,ID,...`` (trial numbers, each COMPLETE); ValueError naming a bad or unknown number."""
    from optuna.trial import TrialState

    from nas_sr.study.trial import find_trial
    from nas_sr.search.report import pareto_front

    complete = study.get_trials(deepcopy=False, states=(TrialState.COMPLETE,))
    if spec == "all":
        return complete
    if spec == "pareto":
        return pareto_front(study) if complete else []
    chosen = []
    for part in (p.strip() for p in spec.split(",")):
        if not part.isdigit():
            raise ValueError(f"--trials {spec!r}: {part!r} is not a trial number (expected pareto, all or ID,ID,...)")
        trial = find_trial(study, int(part))
        if trial.state != TrialState.COMPLETE:
            raise ValueError(f"trial {trial.number} of study {study.study_name!r} is {trial.state.name}, not COMPLETE")
        chosen.append(trial)
    return chosen


def profile_attrs(trial: "FrozenTrial", storage_url: str, settings: ProfileSettings) -> dict[str, Any]:
    """Measure one trial's network (its trained weights when the artifact is there) and return the
    user attributes of ``settings.name``: median, IQR, CV and a JSON description of the run."""
    import datetime
    import socket

    from nas_sr.cost import measure_latency
    from nas_sr.study.trial import trial_config, trial_model

    config = trial_config(trial)
    try:
        model, weights = trial_model(trial, storage_url), True
    except ValueError:  # no artifact here: latency does not depend on the weights' values
        model, weights = trial_model(trial, storage_url, weights=False), False
    colors = 1 if config.get("color") == "y" else 3
    result = measure_latency(model, settings.resolution, config["scale"], colors, settings.device,
                             settings.threads, settings.dtype, settings.warmup, settings.repeats,
                             backend=settings.backend, cpu_path=settings.cpu_path)
    keys = profile_keys(settings.name)
    described = {"label": settings.name, **dataclasses.asdict(result.device),
                 "resolution": f"{settings.resolution[0]}x{settings.resolution[1]}",
                 "repeats": settings.repeats, "warmup": settings.warmup, "trained_weights": weights,
                 "hostname": socket.gethostname(),
                 "measured_at": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds")}
    return {keys["median"]: round(result.median_ms, 4), keys["iqr"]: round(result.iqr_ms, 4),
            keys["cv"]: round(result.cv or 0.0, 5), keys["device"]: json.dumps(described, sort_keys=True)}


def profile_study(study: "optuna.Study", storage_url: str, trials: Sequence["FrozenTrial"],
                  settings: ProfileSettings,
                  on_trial: Callable[["FrozenTrial", dict[str, Any]], None] | None = None) -> dict[int, dict[str, Any]]:
    """Measure ``trials`` and write their attributes onto them (one transaction at the end), then
    refit the study's predicted ``latency_ms@LABEL`` if it has one
    (:func:`~nas_sr.search.predicted.refresh_predictions`); returns ``{trial number: attributes}``.
    ``on_trial`` sees each trial's attributes as measured."""
    from nas_sr.cost.latency import describe_device
    from nas_sr.search.predicted import refresh_predictions
    from nas_sr.study.record import require_sql, write_finished_attrs

    require_sql(study)  # refuse a journal storage before measuring anything
    describe_device(settings.device, settings.threads, settings.dtype, settings.backend,
                    settings.cpu_path)  # bad settings: now
    if settings.repeats < 1 or settings.warmup < 0:
        raise ValueError(f"need --repeats >= 1 and --warmup >= 0, got {settings.repeats} and {settings.warmup}")
    out = {}
    for trial in trials:
        out[trial.number] = attrs = profile_attrs(trial, storage_url, settings)
        if on_trial is not None:
            on_trial(trial, attrs)
    write_finished_attrs(study, out)
    refresh_predictions(study, settings.name)  # a latency_ms@LABEL objective's predictor refits
    return out
