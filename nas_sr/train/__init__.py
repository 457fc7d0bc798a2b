"""Brief training of one candidate network (``train``) under plain ``TrainSettings``.

``TrainSettings`` needs no torch; the rest (``train``, ``TrainingResult`` and the errors) is
imported on first use.
"""

from __future__ import annotations

import importlib
from typing import Any

from nas_sr.train.settings import TrainSettings

_LAZY = ("TrainingDiverged", "TrainingFailed", "TrainingOutOfMemory", "TrainingResult",
         "TrainingStopped", "train")

__all__ = ["TrainSettings", *_LAZY]


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        return getattr(importlib.import_module("nas_sr.train.trainer"), name)
    raise AttributeError(f"module 'nas_sr.train' has no attribute {name!r}")
