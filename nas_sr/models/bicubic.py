"""Bicubic upscaling as a network: a fixed (optionally trainable) transposed convolution."""

from __future__ import annotations

from typing import Any, Mapping

import torch
from torch import nn

from nas_sr.models.base import Family
from nas_sr.models.registry import register_family


def cubic(x: torch.Tensor) -> torch.Tensor:
    """Keys' cubic convolution kernel with a = -0.5, as MATLAB's ``imresize`` uses."""
    x = x.abs()
    return torch.where(
        x <= 1,
        1.5 * x**3 - 2.5 * x**2 + 1,
        torch.where(x < 2, -0.5 * x**3 + 2.5 * x**2 - 4 * x + 2, torch.zeros_like(x)),
    )


def _layout(scale: int) -> tuple[int, int]:
    """Kernel size and padding of the transposed convolution (the edge-SR release's layout)."""
    size = 4 * scale + 3
    return size, (size - 1) // 2 - (scale - 1) // 2


def cubic_upsampling_kernel(scale: int) -> torch.Tensor:
    """The ``(4s+3) x (4s+3)`` transposed-convolution kernel of bicubic upscaling by ``scale``.

    Tap ``t`` weighs LR pixel ``x`` for HR pixel ``y = s*x - padding + t``, whose centre lies
    ``(t - padding + 1/2 - s/2) / s`` LR pixels from ``x``'s centre.

    >>> k = cubic_upsampling_kernel(2)
    >>> tuple(k.shape), round(float(k.sum()), 4)
    ((11, 11), 4.0)
    """
    size, padding = _layout(scale)
    distance = (torch.arange(size, dtype=torch.float64) - padding + 0.5 - scale / 2) / scale
    line = cubic(distance)
    return torch.outer(line, line).float()


@register_family
class Bicubic(Family):
    """Bicubic x``scale`` as a transposed convolution; ``trainable`` makes the kernel learnable.

    Parameters: one ``(4s+3)^2`` kernel per colour. The edge-SR table lists 26*s^2 parameters
    for its ``Bicubic_s#`` rows (104/234/416): that is the count of an equivalent sub-pixel
    convolution with s^2 output phases of 5x5 taps plus a bias each, not of the released
    ``(4s+3)^2`` kernels (121/225/361), which are what this family holds.
    """

    name = "bicubic"
    hyperparameters = {"trainable": bool}
    defaults = {"trainable": True}

    def build(self, config: Mapping[str, Any]) -> nn.Module:
        return _BicubicNet(config["scale"], 1 if config["color"] == "y" else 3, config["trainable"])


class _BicubicNet(nn.Module):
    def __init__(self, scale: int, colors: int, trainable: bool) -> None:
        super().__init__()
        size, padding = _layout(scale)
        self.net = nn.ConvTranspose2d(
            colors, colors, size, stride=scale, padding=padding, groups=colors, bias=False,
            output_padding=scale - size + 2 * padding,
        )
        with torch.no_grad():
            self.net.weight.copy_(cubic_upsampling_kernel(scale).expand(colors, 1, size, size))
        self.net.weight.requires_grad_(trainable)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x)
