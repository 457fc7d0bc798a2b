"""ESPCN (Shi et al., CVPR 2016): tanh convolutions at LR, a sub-pixel layer and a sigmoid."""

from __future__ import annotations

from typing import Any, Mapping

from torch import nn

from nas_sr.models.base import Family
from nas_sr.models.registry import register_family


@register_family
class ESPCN(Family):
    """ESPCN with a 5x5 layer of ``width1`` filters (0 drops it) and a 3x3 layer of ``width2``.

    With ``width1=0`` the first layer is a 3x3 convolution of ``width2`` filters, as in the
    edge-SR release's ``ESPCN_s#_D0_S#`` models. Parameter names follow that release.
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
        return _Net(nn.Sequential(*layers))


class _Net(nn.Module):
    def __init__(self, net: nn.Module) -> None:
        super().__init__()
        self.net = net

    def forward(self, x):  # type: ignore[no-untyped-def]
        return self.net(x)
