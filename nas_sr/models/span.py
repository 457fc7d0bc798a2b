"""SPAN (Wan et al., NTIRE 2024 efficient-SR winner): swift parameter-free attention.

Written from ``shared/specs/ntire_families.md`` (section 1). RGB in [0, 1]; the network subtracts the
DIV2K mean and multiplies by 255 first, and its upsampler output is the SR image directly:

- conv_1 (3x3, 3->C) -> N SPAB blocks -> conv_2 (3x3) -> conv_cat (1x1, 4C->C) over
  [head features, conv_2 output, block 1's output, block N's first activation] -> upsampler
  (3x3 C->3s^2, PixelShuffle s);
- SPAB: a1 = act(c1_r(h)), ..., v = c{k}_r(...) (no activation on the last), output
  ``(v + h) * (sigmoid(v) - 0.5)``: the attention has no parameters;
- every 3x3 conv is a :class:`~nas_sr.models.reparam.Conv3XC`: with ``gain`` g >= 1 it trains as
  branches and deploys as one 3x3 conv (``*.eval_conv.*``, the layout of the released file);
  ``gain=0`` builds the deploy form directly. Costs are the deploy form's whatever the gain.

The ``span`` preset is the released ch28 network (C 28, N 6, three convs per SPAB, SiLU, gain 2).
"""

from __future__ import annotations

from typing import Any, Mapping

import torch
from torch import nn

from nas_sr.models.base import Family
from nas_sr.models.registry import register_family
from nas_sr.models.reparam import Conv3XC

#: DIV2K RGB mean, subtracted before the x255 (a constant of the design, not in the state_dict).
MEAN = (0.4488, 0.4371, 0.4040)
ACTIVATIONS = {"silu": nn.SiLU, "lrelu": lambda: nn.LeakyReLU(0.05), "gelu": nn.GELU}


class SPAB(nn.Module):
    """Swift parameter-free attention block: ``convs`` 3x3 convs, the residual inside the gate.

    Returns the block output and its first activated conv output (a tap of the fusion).
    """

    def __init__(self, channels: int, convs: int, gain: int, activation: str) -> None:
        super().__init__()
        for i in range(1, convs + 1):
            self.add_module(f"c{i}_r", Conv3XC(channels, channels, gain))
        self.convs = convs
        self.act = ACTIVATIONS[activation]()

    def forward(self, h: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        first = t = self.act(self.c1_r(h))
        for i in range(2, self.convs):
            t = self.act(getattr(self, f"c{i}_r")(t))
        v = getattr(self, f"c{self.convs}_r")(t)
        return (v + h) * (torch.sigmoid(v) - 0.5), first


class SPANNet(nn.Module):
    def __init__(self, scale: int, channels: int, blocks: int, convs: int, gain: int, activation: str) -> None:
        super().__init__()
        self.register_buffer("mean", torch.tensor(MEAN).view(1, 3, 1, 1), persistent=False)
        self.conv_1 = Conv3XC(3, channels, gain)
        self.blocks = blocks
        for i in range(1, blocks + 1):
            self.add_module(f"block_{i}", SPAB(channels, convs, gain, activation))
        # Registered before conv_2 as in the release, so the state_dict keys come in its order.
        self.conv_cat = nn.Conv2d(4 * channels, channels, 1)
        self.conv_2 = Conv3XC(channels, channels, gain)
        self.upsampler = nn.Sequential(nn.Conv2d(channels, 3 * scale * scale, 3, padding=1), nn.PixelShuffle(scale))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        f0 = self.conv_1((x - self.mean) * 255.0)
        h, first_out = self.block_1(f0)
        h1 = h
        for i in range(2, self.blocks + 1):
            h, first_out = getattr(self, f"block_{i}")(h)
        t = self.conv_2(h)
        return self.upsampler(self.conv_cat(torch.cat([f0, t, h1, first_out], dim=1)))


@register_family
class SPAN(Family):
    """SPAN with ``channels`` C, ``blocks`` N SPABs of ``convs`` 3x3 convs, ``activation`` in
    the blocks and Conv3XC training ``gain`` (0: plain 3x3 convs, no re-parameterisation)."""

    name = "span"
    hyperparameters = {"channels": int, "blocks": int, "convs": int, "gain": int, "activation": str}
    defaults = {"channels": 28, "blocks": 6, "convs": 3, "gain": 2, "activation": "silu"}
    minimum = {"convs": 2, "gain": 0}
    presets = {"span": {}}
    colors = ("rgb",)
    input_range = 1.0

    def check(self, config: Mapping[str, Any]) -> list[str]:
        if config["activation"] not in ACTIVATIONS:
            return [f"activation={config['activation']!r} is not one of {', '.join(ACTIVATIONS)}"]
        return []

    def build(self, config: Mapping[str, Any]) -> nn.Module:
        return SPANNet(config["scale"], config["channels"], config["blocks"], config["convs"], config["gain"],
                       config["activation"])
