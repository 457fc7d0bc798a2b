"""Per-device latency user attributes: their names (``latency_ms@LABEL``...) and labels.

They are written onto finished trials by :func:`nas_sr.study.record.write_finished_attrs` (Optuna's
API refuses trials that are no longer RUNNING, so SQL storages are written through Optuna's table
model; journal storages are refused, naming the way round: export to SQLite, profile, merge).
"""

from __future__ import annotations

from typing import Any, Mapping

# The names are the trial record's (nas_sr.study.record); these are their names in nas_sr.profile.
from nas_sr.study.record import PROFILE_PREFIXES, check_label, profile_keys, write_finished_attrs

__all__ = ["PROFILE_PREFIXES", "check_label", "profile_keys", "is_profile_key", "profile_labels",
           "set_finished_user_attrs"]


def is_profile_key(key: str) -> bool:
    return key.startswith(PROFILE_PREFIXES)


def profile_labels(attrs: Mapping[str, Any]) -> list[str]:
    """The device labels profiled in a trial's user attributes, sorted.

    >>> profile_labels({"latency_ms": 3.0, "latency_ms@rpi4": 9.0, "latency_cv@rpi4": 0.01, "latency_ms@agx": 1.0})
    ['agx', 'rpi4']
    """
    return sorted({k.removeprefix(PROFILE_PREFIXES[0]) for k in attrs if k.startswith(PROFILE_PREFIXES[0])})


#: The study layer writes attributes onto finished trials (``nas_sr.study.write_finished_attrs``);
#: this is its name in ``nas_sr.profile``.
set_finished_user_attrs = write_finished_attrs
