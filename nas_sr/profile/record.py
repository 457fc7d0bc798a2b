"""Per-device latency user attributes, written onto finished trials.

Optuna's ``storage.set_trial_user_attr`` refuses trials that are no longer RUNNING (Optuna 5:
``check_trial_is_updatable``), and a study's finished trials cannot be changed through its API. A
profile is measured after the search, so for RDB storages (SQLite, PostgreSQL, MySQL) the rows of
``trial_user_attributes`` are written directly through Optuna's own SQLAlchemy model
(``optuna.storages._rdb.models.TrialUserAttributeModel``), with the value JSON-encoded as Optuna
does: one transaction that deletes the (trial, key) rows and inserts the new ones, so it is the
same on every SQL dialect. Journal storages replay an append-only log that drops such writes;
they are refused, naming the way round (export to SQLite, profile, merge into an RDB study).
"""

from __future__ import annotations

import json
import re
from typing import TYPE_CHECKING, Any, Mapping

if TYPE_CHECKING:
    import optuna

#: Attribute-name prefixes of a profile; the device label follows.
PROFILE_PREFIXES = ("latency_ms@", "latency_iqr_ms@", "latency_cv@", "latency_device@")
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


def is_profile_key(key: str) -> bool:
    return key.startswith(PROFILE_PREFIXES)


def profile_labels(attrs: Mapping[str, Any]) -> list[str]:
    """The device labels profiled in a trial's user attributes, sorted.

    >>> profile_labels({"latency_ms": 3.0, "latency_ms@rpi4": 9.0, "latency_cv@rpi4": 0.01, "latency_ms@agx": 1.0})
    ['agx', 'rpi4']
    """
    return sorted({k.removeprefix(PROFILE_PREFIXES[0]) for k in attrs if k.startswith(PROFILE_PREFIXES[0])})


def rdb_storage(study: "optuna.Study") -> Any:
    """The study's RDBStorage (under nas-sr's retrying and Optuna's caching wrappers); ValueError else."""
    from optuna.storages import RDBStorage

    storage = study._storage
    for _ in range(3):
        if isinstance(storage, RDBStorage):
            return storage
        storage = getattr(storage, "_backend", None) or getattr(storage, "_inner", None)
    raise ValueError(f"study {study.study_name!r}: profiles are written to finished trials of SQL storages "
                     "(sqlite:///..., postgresql+psycopg://...) only; for a journal: storage, profile an exported "
                     "copy (nas-sr study export) and merge it into a SQL study")


def set_finished_user_attrs(study: "optuna.Study", attrs_by_number: Mapping[int, Mapping[str, Any]]) -> int:
    """Set user attributes on trials (any state), ``{trial number: {key: JSON value}}``, in one
    transaction; returns how many attributes were written."""
    import sqlalchemy as sa
    from optuna.storages._rdb import models

    storage = rdb_storage(study)
    table = models.TrialUserAttributeModel.__table__
    trials = models.TrialModel.__table__
    rows = []
    with storage.engine.begin() as conn:
        ids = dict(conn.execute(sa.select(trials.c.number, trials.c.trial_id)
                                .where(trials.c.study_id == study._study_id)).all())
        for number, attrs in attrs_by_number.items():
            if number not in ids:
                raise ValueError(f"no trial {number} in study {study.study_name!r}")
            rows += [{"trial_id": ids[number], "key": k, "value_json": json.dumps(v)} for k, v in attrs.items()]
        for row in rows:
            conn.execute(sa.delete(table).where(table.c.trial_id == row["trial_id"], table.c.key == row["key"]))
        if rows:
            conn.execute(sa.insert(table), rows)
    return len(rows)
