"""RLFN (Kong et al., CVPR-W 2022), as the NTIRE 2024 efficient-SR baseline ("RLFN_Prune").

Written from ``shared/specs/ntire_families.md`` (section 2). RGB in [0, 255] in and out, no mean
shift, no image residual, LeakyReLU slope 0.05:

- conv_1 (3x3, 3->F) -> N RLFB blocks -> conv_2 (3x3) + conv_1's output -> upsampler
  (3x3 F->3s^2, PixelShuffle s);
- RLFB: three 3x3 convs F->M->M->F, each activated, + block input -> c5 (1x1) -> ESA;
- ESA on E channels: a = conv1(u) (1x1); conv2 (3x3, stride 2, valid) -> max-pool 7/3 -> conv3
  (3x3) -> bilinear back to the input size, + conv_f(a) (1x1) -> conv4 (1x1 E->F) -> sigmoid, a
  gate on u. No activation inside.

The pooling path needs LR sides of at least 15 pixels; smaller inputs (training patches) are padded
by replication to 15 before it, so that outputs at the sizes the release accepts are unchanged.
The ``rlfn`` preset is the released baseline (F 46, M 48, E 16, N 4).
"""

from __future__ import annotations

from typing import Any, Mapping

import torch
import torch.nn.functional as F
from torch import nn

from nas_sr.models.base import Family
from nas_sr.models.registry import register_family

#: Smallest side the ESA's stride-2 conv and 7x7 max-pool take.
ESA_MIN_SIDE = 15


def _conv(cin: int, cout: int, k: int, **kw: Any) -> nn.Conv2d:
    return nn.Conv2d(cin, cout, k, padding=kw.pop("padding", k // 2), **kw)


def _pad_to(x: torch.Tensor, side: int) -> torch.Tensor:
    """``x`` padded by replication at the bottom and right to sides of at least ``side``."""
    h, w = x.shape[-2:]
    if h >= side and w >= side:
        return x
    return F.pad(x, (0, max(side - int(w), 0), 0, max(side - int(h), 0)), mode="replicate")


class ESA(nn.Module):
    """Enhanced spatial attention (RLFN's trimmed form); ``conv_f`` registered between conv1 and
    conv2, as in the release."""

    def __init__(self, channels: int, esa_channels: int) -> None:
        super().__init__()
        e = esa_channels
        self.conv1 = _conv(channels, e, 1)
        self.conv_f = _conv(e, e, 1)
        self.conv2 = _conv(e, e, 3, stride=2, padding=0)
        self.conv3 = _conv(e, e, 3)
        self.conv4 = _conv(e, channels, 1)

    def forward(self, u: torch.Tensor) -> torch.Tensor:
        a = self.conv1(u)
        h, w = a.shape[-2:]
        c = self.conv3(F.max_pool2d(self.conv2(_pad_to(a, ESA_MIN_SIDE)), 7, 3))
        c = F.interpolate(c, size=(h, w), mode="bilinear", align_corners=False)
        return u * torch.sigmoid(self.conv4(c + self.conv_f(a)))


class RLFB(nn.Module):
    """Residual local feature block: three activated 3x3 convs, residual, 1x1, ESA."""

    def __init__(self, channels: int, mid_channels: int, esa_channels: int) -> None:
        super().__init__()
        self.c1_r = _conv(channels, mid_channels, 3)
        self.c2_r = _conv(mid_channels, mid_channels, 3)
        self.c3_r = _conv(mid_channels, channels, 3)
        self.c5 = _conv(channels, channels, 1)
        self.esa = ESA(channels, esa_channels)
        self.act = nn.LeakyReLU(0.05)

    def forward(self, h: torch.Tensor) -> torch.Tensor:
        t = self.act(self.c3_r(self.act(self.c2_r(self.act(self.c1_r(h))))))
        return self.esa(self.c5(t + h))


class RLFNNet(nn.Module):
    def __init__(self, scale: int, channels: int, mid_channels: int, esa_channels: int, blocks: int) -> None:
        super().__init__()
        self.conv_1 = _conv(3, channels, 3)
        for i in range(1, blocks + 1):
            self.add_module(f"block_{i}", RLFB(channels, mid_channels, esa_channels))
        self.blocks = blocks
        self.conv_2 = _conv(channels, channels, 3)
        self.upsampler = nn.Sequential(_conv(channels, 3 * scale * scale, 3), nn.PixelShuffle(scale))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        f0 = h = self.conv_1(x)
        for i in range(1, self.blocks + 1):
            h = getattr(self, f"block_{i}")(h)
        return self.upsampler(self.conv_2(h) + f0)


@register_family
class RLFN(Family):
    """RLFN with ``channels`` F, ``mid_channels`` M inside the blocks, ``esa_channels`` E and
    ``blocks`` N RLFBs."""

    name = "rlfn"
    hyperparameters = {"channels": int, "mid_channels": int, "esa_channels": int, "blocks": int}
    defaults = {"channels": 46, "mid_channels": 48, "esa_channels": 16, "blocks": 4}
    presets = {"rlfn": {}}
    colors = ("rgb",)
    input_range = 255.0
    # The ESA's pooled map is 1 pixel high below 21 (bilinear resizing treats that size apart) and
    # padded below 15: torch.export proves the graph for sides of 21 and more.
    min_export_side = 21

    def build(self, config: Mapping[str, Any]) -> nn.Module:
        return RLFNNet(config["scale"], config["channels"], config["mid_channels"], config["esa_channels"],
                       config["blocks"])
