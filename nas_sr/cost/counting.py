"""Static costs: parameter count and multiply-adds (fvcore) of one forward pass.

What :func:`count_flops` counts is fvcore's default set: convolutions (transposed ones included,
counted over the LR input grid: ``C_in * C_out / groups * k_h * k_w`` per input pixel, which is
the exact number of multiplications), ``matmul``/``linear``/``einsum``/``bmm`` and normalisation
layers, all as multiply-adds, biases and additions not counted. Element-wise and data-movement ops
(activations, PReLU, pixel shuffle, softmax, element-wise ``mul``, ``amax``, ``sum``) are not
counted; for the edge-SR families that is the papers' convention too.
"""

from __future__ import annotations

import re
import warnings
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from torch import nn

Resolution = tuple[int, int]
_RESOLUTION = re.compile(r"^\s*(\d+)\s*[xX]\s*(\d+)\s*$")


def parse_resolution(text: str) -> Resolution:
    """``"WxH"`` -> ``(width, height)``.

    >>> parse_resolution("1280x720")
    (1280, 720)
    >>> parse_resolution("12x")
    Traceback (most recent call last):
    ...
    ValueError: resolution '12x' is not of the form WIDTHxHEIGHT (e.g. 1280x720)
    """
    match = _RESOLUTION.match(text)
    if not match or 0 in (width := int(match[1]), height := int(match[2])):
        raise ValueError(f"resolution {text!r} is not of the form WIDTHxHEIGHT (e.g. 1280x720)")
    return width, height


def lr_resolution(resolution: Resolution, scale: int) -> Resolution:
    """The LR input ``(width, height)`` that gives an output of ``resolution`` at ``scale``.

    >>> lr_resolution((1280, 720), 2)
    (640, 360)
    >>> lr_resolution((1280, 720), 3)
    Traceback (most recent call last):
    ...
    ValueError: output resolution 1280x720 is not divisible by the scale 3 (try 1278x720)
    """
    width, height = resolution
    if width <= 0 or height <= 0:
        raise ValueError(f"output resolution {width}x{height} must be positive")
    if width % scale or height % scale:
        raise ValueError(
            f"output resolution {width}x{height} is not divisible by the scale {scale} "
            f"(try {width - width % scale}x{height - height % scale})"
        )
    return width // scale, height // scale


def count_parameters(model: "nn.Module") -> int:
    """All parameters of ``model``, frozen ones included (as the SR papers count them).

    >>> from torch import nn
    >>> conv = nn.Conv2d(1, 4, 3, bias=False).requires_grad_(False)
    >>> count_parameters(nn.Sequential(conv, nn.Conv2d(4, 1, 1)))
    41
    """
    return sum(p.numel() for p in model.parameters())


def count_flops(model: "nn.Module", resolution: Resolution, scale: int, colors: int) -> int:
    """Multiply-adds of one forward pass that outputs ``resolution`` = ``(width, height)``.

    The input is one ``colors``-channel image of ``resolution / scale``. See the module's
    docstring for which operations are counted.

    >>> from torch import nn
    >>> count_flops(nn.Conv2d(1, 4, 3, padding=1, bias=False), (64, 36), 1, 1)  # 4*9*64*36
    82944
    """
    import torch

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)  # fvcore's import uses torch.jit.script
        from fvcore.nn import FlopCountAnalysis

    width, height = lr_resolution(resolution, scale)
    param = next(model.parameters(), None)
    x = torch.zeros(1, colors, height, width) if param is None else param.new_zeros(1, colors, height, width)
    was_training = model.training
    model.eval()
    try:
        with warnings.catch_warnings(), torch.no_grad():
            warnings.simplefilter("ignore")  # torch.jit tracer warnings
            analysis = FlopCountAnalysis(model, x)
            analysis.unsupported_ops_warnings(False).uncalled_modules_warnings(False)
            return int(analysis.total())
    finally:
        model.train(was_training)
