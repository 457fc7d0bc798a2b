"""Predicted latency on a device label, for every trial of a study: the device's measurements
(``latency_ms@LABEL``, written by ``nas-sr profile`` or merged from an exported copy, and/or a CSV
file of measured models) fit a :class:`~nas_sr.cost.predictor.LatencyPredictor`, which predicts the
others from their kernel-level costs.

Trials carry the prediction as ``latency_pred_ms@LABEL`` (mean), ``latency_pred_sd_ms@LABEL``
(standard deviation) and ``latency_pred_n@LABEL`` (how many measurements the fit had), next to the
measured ``latency_ms@LABEL`` where there is one. A search objective ``latency_ms@LABEL`` is the
predicted value (:func:`nas_sr.search.objectives.parse_objective`); when a profile of that label is
written or merged, :func:`refresh_predictions` refits and rewrites every trial's prediction.

A measurement file (``nas-sr search --device-latency LABEL=FILE.csv``) has a ``latency_ms``
column and a ``config`` (JSON) or ``model_id`` (edge-SR id, e.g. ``eSR-TM_s2_K7_C8``) column.
"""

from __future__ import annotations

import csv
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Mapping, Sequence

if TYPE_CHECKING:
    import optuna

    from nas_sr.cost.predictor import Candidate, LatencyPredictor
    from nas_sr.space import SearchSpace

#: Attribute-name prefixes of a prediction; the device label follows.
PREDICTED_PREFIXES = ("latency_pred_ms@", "latency_pred_sd_ms@", "latency_pred_n@")
#: Output resolution of a device's measurements unless its profile records another (the edge-SR
#: table's and ``nas-sr profile``'s default).
DEVICE_RESOLUTION = (1920, 1080)
#: Fewest measurements a predictor is fitted to; a search with fewer says which models to measure.
MIN_MEASUREMENTS = 3
#: How many models a search without measurements asks for.
SUGGESTED = 10


def predicted_keys(label: str) -> dict[str, str]:
    """The prediction's attribute names of one device label.

    >>> predicted_keys("rpi")["mean"]
    'latency_pred_ms@rpi'
    """
    return dict(zip(("mean", "sd", "n"), (p + label for p in PREDICTED_PREFIXES)))


def candidate(config: Mapping[str, Any], resolution: tuple[int, int] = DEVICE_RESOLUTION) -> "Candidate":
    """What the predictor knows of ``config`` without the device (its deploy form's kernel costs)."""
    from nas_sr.cost.kernels import config_kernel_costs
    from nas_sr.cost.predictor import Candidate
    from nas_sr.models.registry import canonical_config, config_key

    full = canonical_config(config)
    return Candidate(config_key(full), full["family"], config_kernel_costs(full, resolution))


@dataclass
class DeviceModel:
    """A fitted predictor of device ``label``, its ``measured`` latencies (config key -> ms) and a
    cache of candidates' costs."""

    label: str
    predictor: "LatencyPredictor"
    measured: dict[str, float]
    resolution: tuple[int, int] = DEVICE_RESOLUTION
    _cache: dict[str, "Candidate"] = field(default_factory=dict, repr=False)

    def predict(self, configs: Sequence[Mapping[str, Any]]) -> list[dict[str, Any]]:
        """The prediction attributes of each config (mean and sd in ms, measurement count)."""
        from nas_sr.models.registry import config_key

        found = []
        for config in configs:
            key = config_key(config)
            if key not in self._cache:
                self._cache[key] = candidate(config, self.resolution)
            found.append(self._cache[key])
        mean, sd = self.predictor.predict(found)
        keys = predicted_keys(self.label)
        return [{keys["mean"]: round(float(m), 4), keys["sd"]: round(float(s), 4), keys["n"]: self.predictor.n_measured}
                for m, s in zip(mean, sd)]


def fit_device(label: str, measured: Mapping[str, float], resolution: tuple[int, int] = DEVICE_RESOLUTION,
               seed: int = 0) -> DeviceModel:
    """Fit the predictor of ``label`` to ``measured`` latencies (canonical config key -> ms)."""
    from nas_sr.cost.predictor import LatencyPredictor

    if len(measured) < MIN_MEASUREMENTS:
        raise ValueError(f"device {label!r}: {len(measured)} measured model(s), a prediction needs "
                         f"{MIN_MEASUREMENTS} or more")
    found = [candidate(json.loads(key), resolution) for key in measured]
    predictor = LatencyPredictor(seed=seed).fit(found, [measured[key] for key in measured])
    return DeviceModel(label, predictor, dict(measured), resolution, {c.key: c for c in found})


def read_measurements(path: str | Path) -> dict[str, float]:
    """A measurement file's latencies, canonical config key -> ms (see the module's docstring)."""
    from nas_sr.models.esr_ids import config_from_esr_id
    from nas_sr.models.registry import canonical_config, config_key

    out: dict[str, float] = {}
    try:
        with open(path, newline="") as f:
            for line, row in enumerate(csv.DictReader(f), 2):
                if row.get("config"):
                    config = json.loads(row["config"])
                elif row.get("model_id"):
                    config = config_from_esr_id(row["model_id"])
                else:
                    raise ValueError(f"{path}:{line}: needs a config (JSON) or model_id column")
                out[config_key(canonical_config(config))] = float(row["latency_ms"])
    except FileNotFoundError:
        raise ValueError(f"{path}: no such measurement file") from None
    except (KeyError, TypeError) as exc:
        raise ValueError(f"{path}: needs columns latency_ms and config or model_id ({exc})") from None
    return out


def study_measurements(study: "optuna.Study", label: str) -> tuple[dict[str, float], tuple[int, int]]:
    """``latency_ms@LABEL`` of the study's COMPLETE trials (config key -> ms), and the output
    resolution they were measured at (from ``latency_device@LABEL``)."""
    from optuna.trial import TrialState

    from nas_sr.study.record import profile_keys

    keys = profile_keys(label)
    measured, resolution = {}, DEVICE_RESOLUTION
    for trial in study.get_trials(deepcopy=False, states=(TrialState.COMPLETE,)):
        value, config = trial.user_attrs.get(keys["median"]), trial.user_attrs.get("config")
        if isinstance(value, (int, float)) and isinstance(config, str):
            measured[config] = float(value)
            described = json.loads(trial.user_attrs.get(keys["device"]) or "{}")
            if "resolution" in described:
                width, _, height = described["resolution"].partition("x")
                resolution = (int(width), int(height))
    return measured, resolution


def device_labels(names: Sequence[str]) -> list[str]:
    """The labels of predicted-latency objective names.

    >>> device_labels(["psnr@val", "latency_ms@rpi", "latency_ms"])
    ['rpi']
    """
    return [n.partition("@")[2] for n in names if n.startswith("latency_ms@")]


def device_model(study: "optuna.Study", label: str, sources: Mapping[str, str] | None = None,
                 space: "SearchSpace | None" = None, seed: int = 0) -> DeviceModel:
    """The predictor of ``label`` fitted to the study's measurements of it and, if ``sources``
    names a file for it, that file's; too few: ValueError naming the models to measure (chosen
    from ``space``)."""
    measured, resolution = study_measurements(study, label)
    source = (sources or {}).get(label)
    if source:
        measured = {**read_measurements(source), **measured}
    if len(measured) < MIN_MEASUREMENTS:
        suggestion = ""
        if space is not None:
            chosen = suggest(space, SUGGESTED, seed=seed)
            suggestion = (f"; measure these {len(chosen)} on the device and list them in a CSV file (columns "
                          "config,latency_ms): " + " ".join(chosen))
        raise ValueError(f"device {label!r}: {len(measured)} measured model(s), the predicted objective latency_ms@"
                         f"{label} needs {MIN_MEASUREMENTS} or more: nas-sr profile --label {label} on trials of this "
                         f"study, or --device-latency {label}=FILE.csv{suggestion}")
    return fit_device(label, measured, resolution, seed)


def suggest(space: "SearchSpace", k: int, measured: Sequence[str] = (), seed: int = 0,
            limit: int = 2000) -> list[str]:
    """Config keys of ``k`` models of ``space`` to measure next (the most informative, see
    :func:`nas_sr.cost.predictor.select`; ``measured``: config keys already measured); a space of
    more than ``limit`` configurations is sampled."""
    import itertools
    import random

    from nas_sr.cost.predictor import select

    configs = list(itertools.islice(space.enumerate(), 20 * limit))
    if len(configs) > limit:
        configs = random.Random(seed).sample(configs, limit)
    pool = [candidate(c) for c in configs]
    known = [c.key for c in pool]
    pool += [candidate(json.loads(key)) for key in measured if key not in known]
    done = [i for i, c in enumerate(pool) if c.key in set(measured)]
    return [pool[i].key for i in select(pool, k, measured=done, seed=seed)]


def informative_trials(study: "optuna.Study", label: str, k: int, seed: int = 0) -> list[Any]:
    """The ``k`` COMPLETE trials of ``study`` to measure next on ``label``: the most informative for
    its predictor (:func:`nas_sr.cost.predictor.select`), those already measured excluded."""
    from optuna.trial import TrialState

    from nas_sr.cost.predictor import select

    trials = [t for t in study.get_trials(deepcopy=False, states=(TrialState.COMPLETE,))
              if isinstance(t.user_attrs.get("config"), str)]
    measured, _ = study_measurements(study, label)
    pool = [candidate(json.loads(t.user_attrs["config"])) for t in trials]
    done = [i for i, t in enumerate(trials) if t.user_attrs["config"] in measured]
    return [trials[i] for i in select(pool, k, measured=done, seed=seed)]


def refresh_predictions(study: "optuna.Study", label: str) -> int:
    """Refit ``label``'s predictor to the study's measurements (and the search's measurement file,
    recorded in its settings) and rewrite every COMPLETE trial's prediction; returns how many trials
    were written (0 when the study has no ``latency_ms@LABEL`` objective or too few measurements)."""
    import optuna
    from optuna.trial import TrialState

    from nas_sr.study.record import require_sql, write_finished_attrs

    if label not in device_labels(list(study.metric_names or [])):
        return 0
    # Read past the storage's cache of finished trials: their profile was just written beside it.
    study = optuna.load_study(study_name=study.study_name, storage=require_sql(study))
    sources = (study.user_attrs.get("settings") or {}).get("device_latency") or {}
    try:
        model = device_model(study, label, sources)
    except ValueError:
        return 0
    trials = [t for t in study.get_trials(deepcopy=False, states=(TrialState.COMPLETE,))
              if isinstance(t.user_attrs.get("config"), str)]
    predicted = model.predict([json.loads(t.user_attrs["config"]) for t in trials])
    write_finished_attrs(study, {t.number: attrs for t, attrs in zip(trials, predicted)})
    return len(trials)
