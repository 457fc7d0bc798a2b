"""The trial record: what a trial of a nas-sr study carries, and the one writer of it.

A trial's results live in its Optuna user attributes, one attribute a fact, under names that every
study written so far uses (they never change: old studies must read the same). :class:`TrialRecord`
groups them: the config, the metrics per validation set (``psnr_<set>``, ``ssim_<set>``), the costs
(``params``, ``flops``, ``latency_ms`` with the ``device`` that measured it, and per device label
``latency_ms@LABEL``...), the training facts (steps, seconds, loss, curve, rungs) and the provenance
(seed, sampler, version, where it ran); anything else (a strategy's reasons, ``fail_reason``,
``duplicate_of``...) stays in ``extra``.

:func:`write_record` is the one function that writes a record to a trial and :func:`read_record`
the one that reads it back; :func:`write_attrs` writes plain attributes to a running trial or a
study, :func:`write_finished_attrs` onto finished trials (profiles), :func:`fail_trial` fails a
running trial with its reason. Nothing else in nas-sr calls ``set_user_attr``.

>>> record = TrialRecord.from_attrs({"config": '{"family":"espcn","scale":2}', "family": "espcn", "scale": 2,
...                                  "psnr_val": 30.5, "params": 1000, "latency_ms@pi": 2.0, "steps": 40,
...                                  "seed": 0, "proposal": "initial design"})
>>> record.metrics, record.costs, record.training, record.provenance, record.extra
({'psnr_val': 30.5}, {'params': 1000, 'latency_ms@pi': 2.0}, {'steps': 40}, {'seed': 0}, {'proposal': 'initial design'})
>>> TrialRecord.from_attrs(record.attrs()) == record
True
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Mapping

if TYPE_CHECKING:
    import optuna
    from optuna.trial import FrozenTrial

STALE_REASON = "stale: driver stopped"

#: Cost attributes (the deploy form's), measured before or with the training.
COST_KEYS = ("params", "flops", "params_train", "resolution", "latency_ms", "latency_iqr_ms", "device")
#: Per-device latency written by ``nas-sr profile`` (the device label follows).
PROFILE_PREFIXES = ("latency_ms@", "latency_iqr_ms@", "latency_cv@", "latency_device@")
#: ... and predicted there from a few measurements (nas_sr.search.predicted).
PREDICTION_PREFIXES = ("latency_pred_ms@", "latency_pred_sd_ms@", "latency_pred_n@")
COST_PREFIXES = PROFILE_PREFIXES + PREDICTION_PREFIXES
#: What the training did.
TRAINING_KEYS = ("steps", "seconds", "final_loss", "curve", "rung_values", "stopped_at_rung", "early_stopped")
#: Where, how and from what the trial came.
PROVENANCE_KEYS = ("seed", "nas_sr_version", "sampler", "sampler_seed", "worker_pid", "hostname", "ray_node_id",
                   "ray_node_ip", "ray_gpu_ids", "train_device", "weights_artifact", "retry_of", "attempt",
                   "retrain_of", "retrain_budget", "origin_number")
METRIC_PREFIXES = ("psnr_", "ssim_")


@dataclass
class TrialRecord:
    """A trial's facts, grouped; :meth:`attrs` gives them as the user attributes on disk."""

    #: The canonical config as JSON text (``nas_sr.models.config_key``): what the trial trains.
    config: str | None = None
    family: str | None = None
    scale: int | None = None
    #: ``psnr_<set>``, ``ssim_<set>`` per validation set.
    metrics: dict[str, Any] = field(default_factory=dict)
    #: :data:`COST_KEYS` and the per-device :data:`COST_PREFIXES` attributes.
    costs: dict[str, Any] = field(default_factory=dict)
    #: :data:`TRAINING_KEYS`.
    training: dict[str, Any] = field(default_factory=dict)
    #: :data:`PROVENANCE_KEYS`.
    provenance: dict[str, Any] = field(default_factory=dict)
    #: Everything else (strategy reasons, ``fail_reason``, ``duplicate_of``, reference-model facts...).
    extra: dict[str, Any] = field(default_factory=dict)

    def attrs(self) -> dict[str, Any]:
        """The user attributes of the record, in the order written (identity first; unset ones left out)."""
        out: dict[str, Any] = {k: v for k, v in (("config", self.config), ("family", self.family),
                                                 ("scale", self.scale)) if v is not None}
        for part in (self.metrics, self.costs, self.training, self.provenance, self.extra):
            out.update(part)
        return out

    def config_dict(self) -> dict[str, Any] | None:
        """The config as a dict (None when the trial has none)."""
        return json.loads(self.config) if isinstance(self.config, str) and self.config.startswith("{") else None

    @classmethod
    def from_attrs(cls, attrs: Mapping[str, Any]) -> "TrialRecord":
        """The record of a trial's user attributes (any trial, any nas-sr release)."""
        record = cls()
        for key, value in attrs.items():
            if key in ("config", "family", "scale"):
                setattr(record, key, value)
            elif key.startswith(METRIC_PREFIXES):
                record.metrics[key] = value
            elif key in COST_KEYS or key.startswith(COST_PREFIXES):
                record.costs[key] = value
            elif key in TRAINING_KEYS:
                record.training[key] = value
            elif key in PROVENANCE_KEYS:
                record.provenance[key] = value
            else:
                record.extra[key] = value
        return record


_LABEL = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]*$")


def check_label(label: str) -> str:
    """``label`` when usable in attribute names (letters, digits, ``.``, ``_``, ``-``); else ValueError.

    >>> check_label("rpi4-fp32")
    'rpi4-fp32'
    >>> check_label("my pi")
    Traceback (most recent call last):
    ...
    ValueError: --label 'my pi': use letters, digits, '.', '_' and '-' only (e.g. rpi4-fp32)
    """
    if not _LABEL.match(label):
        raise ValueError(f"--label {label!r}: use letters, digits, '.', '_' and '-' only (e.g. rpi4-fp32)")
    return label


def profile_keys(label: str) -> dict[str, str]:
    """The attribute names of one device label.

    >>> profile_keys("rpi4")["median"]
    'latency_ms@rpi4'
    """
    return dict(zip(("median", "iqr", "cv", "device"), (p + label for p in PROFILE_PREFIXES)))


def write_record(trial: Any, record: TrialRecord) -> None:
    """Write ``record`` to a running trial (``optuna.Trial``): every attribute it holds."""
    write_attrs(trial, record.attrs())


def read_record(trial: "FrozenTrial") -> TrialRecord:
    """The record of a trial, as :func:`write_record` (or any earlier release) wrote it."""
    return TrialRecord.from_attrs(trial.user_attrs)


def write_attrs(target: Any, attrs: Mapping[str, Any]) -> None:
    """Set user attributes on a running trial or on a study (``set_user_attr`` for each, in order)."""
    for key, value in attrs.items():
        target.set_user_attr(key, value)


def start_trial(study: "optuna.Study", params: Mapping[str, Any], distributions: Mapping[str, Any],
                user_attrs: Mapping[str, Any] | None = None) -> "optuna.Trial":
    """A new RUNNING trial of ``study`` with these parameters (their distributions as the space
    suggests them) and user attributes, written in one transaction (``enqueue_trial`` then ``ask``
    then one ``set_trial_param`` per parameter took six or more, each a commit): the same trial
    as ``enqueue_trial(params, user_attrs)`` then ``ask()`` gives with a sampler that has no say over
    fixed parameters (the strategies' random sampler)."""
    from optuna.trial import TrialState, create_trial

    from nas_sr.study._optuna import create_running_trial

    template = create_trial(state=TrialState.RUNNING, params=dict(params), distributions=dict(distributions),
                            user_attrs=dict(user_attrs or {}))
    return create_running_trial(study, template)


def write_sampled_attrs(study: "optuna.Study", trial: "FrozenTrial", attrs: Mapping[str, Any]) -> None:
    """Set user attributes on a running trial a sampler holds frozen: Optuna hands samplers a
    ``FrozenTrial``, and its own samplers write to the trial through the study's storage."""
    from nas_sr.study._optuna import storage_of, trial_id

    storage, number = storage_of(study), trial_id(trial)
    for key, value in attrs.items():
        storage.set_trial_user_attr(number, key, value)


def fail_trial(study: "optuna.Study", number: int, reason: str) -> None:
    """Mark RUNNING trial ``number`` FAIL with user attribute ``fail_reason``."""
    from optuna.trial import TrialState

    from nas_sr.study._optuna import storage_of, study_id

    storage = storage_of(study)
    trial_id = storage.get_trial_id_from_study_id_trial_number(study_id(study), number)
    if storage.get_trial(trial_id).state != TrialState.RUNNING:
        return
    storage.set_trial_user_attr(trial_id, "fail_reason", reason)
    study.tell(number, state=TrialState.FAIL, skip_if_finished=True)


def fail_stale_trials(study: "optuna.Study", reason: str = STALE_REASON) -> int:
    """Fail every RUNNING trial of the study (left by a driver that was killed); returns how many."""
    from optuna.trial import TrialState

    stale = study.get_trials(deepcopy=False, states=(TrialState.RUNNING,))
    for trial in stale:
        fail_trial(study, trial.number, reason)
    return len(stale)


def require_sql(study: "optuna.Study") -> Any:
    """The study's RDBStorage (SQLite, PostgreSQL...); ValueError for a storage whose finished trials
    cannot be written (a journal file)."""
    from nas_sr.study._optuna import rdb_backend

    storage = rdb_backend(study)
    if storage is None:
        raise ValueError(f"study {study.study_name!r}: profiles are written to finished trials of SQL storages "
                         "(sqlite:///..., postgresql+psycopg://...) only; for a journal: storage, profile an "
                         "exported copy (nas-sr study export) and merge it into a SQL study")
    return storage


def write_finished_attrs(study: "optuna.Study", attrs_by_number: Mapping[int, Mapping[str, Any]]) -> int:
    """Set user attributes on trials of any state, ``{trial number: {key: JSON value}}``, in one
    transaction; returns how many attributes were written.

    Optuna's ``set_trial_user_attr`` refuses trials that are no longer RUNNING, and a profile is
    measured after the search; so for SQL storages the rows of ``trial_user_attributes`` are written
    through Optuna's own table model, the value JSON-encoded as Optuna does: one transaction that
    deletes the (trial, key) rows and inserts the new ones (the same on every SQL dialect). Journal
    storages replay an append-only log that drops such writes: :func:`require_sql` refuses them.
    """
    import sqlalchemy as sa

    from nas_sr.study._optuna import rdb_models, study_id

    storage = require_sql(study)
    models = rdb_models()
    table = models.TrialUserAttributeModel.__table__
    trials = models.TrialModel.__table__
    rows = []
    with storage.engine.begin() as conn:
        ids = dict(conn.execute(sa.select(trials.c.number, trials.c.trial_id)
                                .where(trials.c.study_id == study_id(study))).all())
        for number, attrs in attrs_by_number.items():
            if number not in ids:
                raise ValueError(f"no trial {number} in study {study.study_name!r}")
            rows += [{"trial_id": ids[number], "key": k, "value_json": json.dumps(v)} for k, v in attrs.items()]
        for row in rows:
            conn.execute(sa.delete(table).where(table.c.trial_id == row["trial_id"], table.c.key == row["key"]))
        if rows:
            conn.execute(sa.insert(table), rows)
    return len(rows)
