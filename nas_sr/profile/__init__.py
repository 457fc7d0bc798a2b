"""Per-device latency profiles of a study's trials: ``latency_ms@<label>`` (median),
``latency_iqr_ms@<label>``, ``latency_cv@<label>`` and ``latency_device@<label>`` (JSON: device,
backend, threads, resolution, repeats) user attributes, and a within-noise flag for neighbours.

Importing this package is light; torch and optuna are imported on first use.
"""

from nas_sr.profile.measure import ProfileSettings, default_label, profile_attrs, profile_study, select_trials
from nas_sr.profile.noise import within_noise
from nas_sr.profile.record import (
    PROFILE_PREFIXES,
    is_profile_key,
    profile_keys,
    profile_labels,
    set_finished_user_attrs,
)

__all__ = [
    "PROFILE_PREFIXES",
    "ProfileSettings",
    "default_label",
    "is_profile_key",
    "profile_attrs",
    "profile_keys",
    "profile_labels",
    "profile_study",
    "select_trials",
    "set_finished_user_attrs",
    "within_noise",
]
