"""Per-device latency user attributes: their names (``latency_ms@LABEL``...) and labels.

They are written onto finished trials by :func:`nas_sr.study.record.write_finished_attrs` (Optuna's
API refuses trials that are no longer RUNNING, so SQL storages are written through Optuna's table
model; journal storages are refused, naming the way round: export to SQLite, profile, merge).
"""

from __future__ import annotations

import re
from typing import Any, Mapping

from nas_sr.study.record import require_sql, write_finished_attrs

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


#: The study layer writes attributes onto finished trials (``nas_sr.study.write_finished_attrs``);
#: these are its names in ``nas_sr.profile``.
rdb_storage = require_sql
set_finished_user_attrs = write_finished_attrs
