"""Training and evaluation images: reading, in-memory sets, bundled photos, patch banks.

``PatchBank`` (which needs torch) is imported on first use.
"""

from __future__ import annotations

from typing import Any

from nas_sr.data.bundled import BUNDLED_TRAIN, BUNDLED_VAL, bundled_images
from nas_sr.data.datasets import ImageSet, check_size, load_bundled, load_folder, load_paired
from nas_sr.protocol.images import ImageError, list_images, read_image, read_rgb

__all__ = [
    "BUNDLED_TRAIN", "BUNDLED_VAL", "ImageError", "ImageSet", "PatchBank", "bundled_images",
    "check_size", "list_images", "load_bundled", "load_folder", "load_paired", "read_image",
    "read_rgb",
]


def __getattr__(name: str) -> Any:
    if name == "PatchBank":
        from nas_sr.data.patches import PatchBank

        return PatchBank
    raise AttributeError(f"module 'nas_sr.data' has no attribute {name!r}")
