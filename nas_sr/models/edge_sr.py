"""The edge-SR family (Navarrete Michelini et al., WACV 2022): one-layer and tiny CNN upscalers.

All four families end the same way: a convolution at LR produces ``s*s`` phases of several
channel groups, a pixel shuffle lays them out at HR, and the groups are merged per pixel:

- ``esr-max``: the maximum over ``C`` filter outputs;
- ``esr-tm`` (template matching): a softmax over ``C`` keys weights ``C`` values;
- ``esr-tr`` (transformer): a softmax over ``C`` query*key products weights ``C`` values;
- ``esr-cnn``: a softmax over squared keys weights the values, fed by a 5x5 and a 3x3 hidden
  convolution (tanh) instead of the input (squared keys: so the released weights were trained).

Parameter names follow the authors' released state_dicts, so their weights load as they are.
"""

from __future__ import annotations

from typing import Any, Mapping

import torch
from torch import nn

from nas_sr.models.base import Family
from nas_sr.models.registry import register_family


def _colors(config: Mapping[str, Any]) -> int:
    return 1 if config["color"] == "y" else 3


class _EdgeSR(nn.Module):
    """LR convolution(s) -> pixel shuffle -> merge of ``groups`` channel groups per pixel."""

    def __init__(self, filter: nn.Module, scale: int, colors: int, groups: int, channels: int,
                 merge: str) -> None:
        super().__init__()
        self.filter = filter
        self.shuffle = nn.PixelShuffle(scale)
        self.colors, self.groups, self.channels, self.merge = colors, groups, channels, merge

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = self.shuffle(self.filter(x))
        b, _, h, w = y.shape
        y = y.view(b, self.colors, self.groups, self.channels, h, w)
        if self.merge == "max":
            return y[:, :, 0].amax(dim=2)
        if self.merge in ("tm", "tm-squared"):
            value, key = y[:, :, 0], y[:, :, 1]
            key = key * key if self.merge == "tm-squared" else key
            return (value * torch.softmax(key, dim=2)).sum(dim=2)
        value, query, key = y[:, :, 0], y[:, :, 1], y[:, :, 2]
        return (value * torch.softmax(query * key, dim=2)).sum(dim=2)


class _OneLayer(Family):
    hyperparameters = {"kernel_size": int, "channels": int}
    groups: int
    merge: str

    def check(self, config: Mapping[str, Any]) -> list[str]:
        if config["kernel_size"] % 2 == 0:
            return [f"kernel_size={config['kernel_size']} must be odd"]
        return []

    def build(self, config: Mapping[str, Any]) -> nn.Module:
        s, k, c, n = config["scale"], config["kernel_size"], config["channels"], _colors(config)
        conv = nn.Conv2d(n, n * self.groups * s * s * c, k, padding=k // 2, bias=False)
        if self.merge == "max":
            # Start every filter as identity, so that training begins from nearest upscaling.
            nn.init.xavier_normal_(conv.weight)
            with torch.no_grad():
                for color in range(n):
                    rows = slice(color * s * s * c, (color + 1) * s * s * c)
                    conv.weight[rows, color, k // 2, k // 2] = 1.0
        return _EdgeSR(conv, s, n, self.groups, c, self.merge)


@register_family
class ESRMax(_OneLayer):
    """eSR-MAX: the maximum of ``channels`` ``kernel_size``x``kernel_size`` sub-pixel filters."""

    name = "esr-max"
    groups, merge = 1, "max"


@register_family
class ESRTM(_OneLayer):
    """eSR-TM: template matching, a softmax over keys weights the values."""

    name = "esr-tm"
    groups, merge = 2, "tm"


@register_family
class ESRTR(_OneLayer):
    """eSR-TR: transformer-like, a softmax over query*key weights the values."""

    name = "esr-tr"
    groups, merge = 3, "tr"


@register_family
class ESRCNN(Family):
    """eSR-CNN: 5x5 (``width1``) and 3x3 (``width2``) tanh layers feeding a template-matching head."""

    name = "esr-cnn"
    hyperparameters = {"channels": int, "width1": int, "width2": int}

    def build(self, config: Mapping[str, Any]) -> nn.Module:
        s, c, n = config["scale"], config["channels"], _colors(config)
        d, w = config["width1"], config["width2"]
        body = nn.Sequential(
            nn.Conv2d(n, d, 5, padding=2),
            nn.Tanh(),
            nn.Conv2d(d, w, 3, padding=1),
            nn.Tanh(),
            nn.Conv2d(w, n * 2 * s * s * c, 3, padding=1, bias=False),
        )
        return _EdgeSR(body, s, n, 2, c, "tm-squared")
