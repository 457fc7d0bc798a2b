"""ESPCN (Shi et al., CVPR 2016): tanh convolutions at LR, a sub-pixel layer and a sigmoid."""

from __future__ import annotations

from typing import Any, Mapping

import torch
from torch import nn

from nas_sr.models.base import Family
from nas_sr.models.registry import register_family

#: DC gain of the first layer's filters at initialisation, times PyTorch's default: enough for
#: each tanh unit to bend within the pixel range (1: near-linear; 6 started worse than 3).
FIRST_LAYER_GAIN = 3.0


@register_family
class ESPCN(Family):
    """ESPCN with a 5x5 layer of ``width1`` filters (0 drops it) and a 3x3 layer of ``width2``.

    With ``width1=0`` the first layer is a 3x3 convolution of ``width2`` filters, as in the
    edge-SR release's ``ESPCN_s#_D0_S#`` models. Parameter names follow that release.

    Initialisation: PyTorch's default, except that the first layer's filters are scaled by
    ``FIRST_LAYER_GAIN`` and its biases set so that unit ``j`` of ``J`` crosses zero on a flat
    input of intensity ``(j + 0.5) / J``. Under the default alone every tanh unit is nearly
    linear on [0, 1], the network starts as ``sigmoid(linear filter)`` and brief training stays
    on that plateau: an S-shaped tone curve (Y 16 -> 30, 235 -> 222) near 30 dB at x2, below
    bicubic. Units whose kinks cover the pixel range let it learn the identity through the
    sigmoid at once.

    >>> model = ESPCN().build({"family": "espcn", "scale": 2, "color": "y", "width1": 4, "width2": 9})
    >>> first = model.net[0]
    >>> [round(float(-b / w.sum()), 3) for w, b in zip(first.weight.detach(), first.bias.detach())]
    [0.125, 0.375, 0.625, 0.875]
    """

    name = "espcn"
    hyperparameters = {"width1": int, "width2": int}
    minimum = {"width1": 0}

    def build(self, config: Mapping[str, Any]) -> nn.Module:
        s, d, w = config["scale"], config["width1"], config["width2"]
        n = 1 if config["color"] == "y" else 3
        layers: list[nn.Module] = []
        if d:
            layers += [nn.Conv2d(n, d, 5, padding=2), nn.Tanh(), nn.Conv2d(d, w, 3, padding=1)]
        else:
            layers += [nn.Conv2d(n, w, 3, padding=1)]
        layers += [nn.Tanh(), nn.Conv2d(w, n * s * s, 3, padding=1), nn.PixelShuffle(s), nn.Sigmoid()]
        _spread_kinks(layers[0])
        return _Net(nn.Sequential(*layers))


def _spread_kinks(conv: nn.Conv2d) -> None:
    """Scale ``conv``'s filters and place each unit's zero crossing on flat inputs evenly in (0, 1)."""
    with torch.no_grad():
        conv.weight.mul_(FIRST_LAYER_GAIN)
        dc_gain = conv.weight.sum(dim=(1, 2, 3))
        crossing = (torch.arange(conv.out_channels, dtype=dc_gain.dtype) + 0.5) / conv.out_channels
        conv.bias.copy_(-dc_gain * crossing)


class _Net(nn.Module):
    def __init__(self, net: nn.Module) -> None:
        super().__init__()
        self.net = net

    def forward(self, x):  # type: ignore[no-untyped-def]
        return self.net(x)
