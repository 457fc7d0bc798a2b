"""nas-sr: neural-architecture search and Pareto exploration for efficient image super-resolution.

The pipeline, one sub-package per stage: search space (``nas_sr.space``) -> candidate network
(``nas_sr.models``) -> data, training, evaluation and cost (``nas_sr.data``, ``nas_sr.protocol``,
``nas_sr.cost``) -> study. Heavy libraries are imported on first use of an attribute.
"""

from __future__ import annotations

import importlib
from typing import Any

__version__ = "0.1.0"

_LAZY = {
    "build_model": "nas_sr.models",
    "canonical_config": "nas_sr.models",
    "deploy_model": "nas_sr.models",
    "family_names": "nas_sr.models",
    "register_family": "nas_sr.models",
    "Family": "nas_sr.models",
    "ConfigError": "nas_sr.models",
    "config_from_esr_id": "nas_sr.models.esr_ids",
    "esr_id_from_config": "nas_sr.models.esr_ids",
    "imresize": "nas_sr.protocol",
    "evaluate": "nas_sr.protocol",
    "evaluate_folder": "nas_sr.protocol",
    "open_study": "nas_sr.browse.query",
}

__all__ = ["__version__", *_LAZY]


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'nas_sr' has no attribute {name!r}")
