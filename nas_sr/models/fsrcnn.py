"""FSRCNN (Dong et al., ECCV 2016): feature extraction, shrinking, mapping, expanding, deconvolution."""

from __future__ import annotations

from typing import Any, Mapping

from torch import nn

from nas_sr.models.base import Family
from nas_sr.models.espcn import _Net
from nas_sr.models.registry import register_family


@register_family
class FSRCNN(Family):
    """FSRCNN(d=``features``, s=``shrink``, m=``mapping_layers``), PReLU after each convolution."""

    name = "fsrcnn"
    hyperparameters = {"features": int, "shrink": int, "mapping_layers": int}

    def build(self, config: Mapping[str, Any]) -> nn.Module:
        s, d, k, m = config["scale"], config["features"], config["shrink"], config["mapping_layers"]
        n = 1 if config["color"] == "y" else 3
        layers: list[nn.Module] = [nn.Conv2d(n, d, 5, padding=2), nn.PReLU(), nn.Conv2d(d, k, 1), nn.PReLU()]
        for _ in range(m):
            layers += [nn.Conv2d(k, k, 3, padding=1), nn.PReLU()]
        layers += [
            nn.Conv2d(k, d, 1),
            nn.PReLU(),
            # Padding and output padding that give s*H x s*W outputs, aligned as the
            # edge-SR release's weights were trained.
            nn.ConvTranspose2d(d, n, 9, stride=s, padding=(10 - s) // 2,
                               output_padding=2 * ((10 - s) // 2) - 9 + s),
        ]
        return _Net(nn.Sequential(*layers))
