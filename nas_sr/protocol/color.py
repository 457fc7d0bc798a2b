"""RGB -> Y (BT.601, studio range 16..235), in the two conventions SR tables use."""

from __future__ import annotations

import numpy as np

_Y_WEIGHTS = np.array([65.481, 128.553, 24.966]) / 255.0


def rgb_to_y(rgb: np.ndarray, rounded: bool) -> np.ndarray:
    """Y of an HxWx3 RGB image with values in [0, 255].

    ``rounded=False``: float64 Y, as BasicSR's ``bgr2ycbcr(y_only=True)`` (VapSR, EMT, PAN and
    HiT-SR tables). ``rounded=True``: uint8 Y, as MATLAB's ``rgb2ycbcr`` on uint8 input (the
    edge-SR table and the classic bicubic baseline).

    >>> import numpy as np
    >>> white = np.full((1, 1, 3), 255, np.uint8)
    >>> float(rgb_to_y(white, rounded=False)[0, 0]), int(rgb_to_y(white, rounded=True)[0, 0])
    (235.0, 235)
    """
    y = 16.0 + rgb.astype(np.float64) @ _Y_WEIGHTS
    if rounded:
        return np.clip(np.floor(y + 0.5), 0, 255).astype(np.uint8)
    return y
