"""MATLAB-compatible ``imresize`` with the bicubic kernel, the LR generator of the SR literature.

MATLAB's algorithm: Keys' cubic kernel (a = -0.5), stretched by ``1/scale`` when downscaling
(antialiasing), out-of-image taps mirrored (symmetric padding), one dimension after the other
(rows first when both scales are equal), and for uint8 input the result of EACH one-dimensional
pass rounded half away from zero and saturated to uint8. Rounding only once at the end, as
BasicSR's port does, moves set means by up to 0.02 dB.
"""

from __future__ import annotations

import math

import numpy as np

_KERNEL_WIDTH = 4.0


def _cubic(x: np.ndarray) -> np.ndarray:
    ax = np.abs(x)
    ax2, ax3 = ax * ax, ax * ax * ax
    return (1.5 * ax3 - 2.5 * ax2 + 1) * (ax <= 1) + (-0.5 * ax3 + 2.5 * ax2 - 4 * ax + 2) * (
        (ax > 1) & (ax <= 2)
    )


def _contributions(in_length: int, out_length: int, scale: float) -> tuple[np.ndarray, np.ndarray]:
    """Weights and (mirrored, 0-based) source indices, one row per output sample."""
    antialias = scale < 1
    width = _KERNEL_WIDTH / scale if antialias else _KERNEL_WIDTH
    x = np.arange(1, out_length + 1, dtype=np.float64)
    # Output sample x (1-based) maps to input coordinate u (1-based).
    u = x / scale + 0.5 * (1 - 1 / scale)
    left = np.floor(u - width / 2)
    taps = int(math.ceil(width)) + 2
    indices = left[:, None] + np.arange(taps)[None, :]
    distance = u[:, None] - indices
    weights = scale * _cubic(distance * scale) if antialias else _cubic(distance)
    weights /= weights.sum(axis=1, keepdims=True)
    mirror = np.concatenate([np.arange(in_length), np.arange(in_length - 1, -1, -1)])
    indices = mirror[np.mod(indices.astype(np.int64) - 1, 2 * in_length)]
    keep = np.any(weights != 0, axis=0)
    return weights[:, keep], indices[:, keep]


def _resize_axis(image: np.ndarray, axis: int, out_length: int, scale: float) -> np.ndarray:
    weights, indices = _contributions(image.shape[axis], out_length, scale)
    moved = np.moveaxis(image.astype(np.float64), axis, 0)
    out = np.einsum("ot,ot...->o...", weights, moved[indices])
    return np.moveaxis(out, 0, axis)


def imresize(image: np.ndarray, scale: float) -> np.ndarray:
    """Resize an HxW or HxWxC image by ``scale`` as MATLAB's ``imresize(image, scale, 'bicubic')``.

    uint8 input gives uint8 output, rounded after each one-dimensional pass as MATLAB does;
    float input gives float64 output, unrounded.

    >>> import numpy as np
    >>> hr = np.arange(64, dtype=np.uint8).reshape(8, 8)
    >>> lr = imresize(hr, 1 / 2)
    >>> lr.shape, lr.dtype.name
    ((4, 4), 'uint8')
    >>> bool(np.array_equal(imresize(np.full((6, 5), 7, np.uint8), 3), np.full((18, 15), 7)))
    True
    """
    if scale <= 0:
        raise ValueError(f"imresize: scale must be positive, got {scale}")
    is_uint8 = image.dtype == np.uint8
    out = image
    for axis in (0, 1):
        length = int(math.ceil(image.shape[axis] * scale))
        out = _resize_axis(out, axis, length, scale)
        if is_uint8:
            out = np.clip(np.floor(out + 0.5), 0, 255).astype(np.uint8)
    return out
