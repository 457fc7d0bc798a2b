"""PAN (Zhao et al., ECCV-W 2020): efficient SR with pixel attention.

Re-implemented from the paper and the facts in ``shared/specs/architectures.md`` (the authors'
repository has no licence). RGB in [0, 1], no mean shift, LeakyReLU slope 0.2 everywhere:

- conv3x3(3->nf) -> nb SCPA blocks -> conv3x3(nf->nf) -> + the first conv's output -> U-PA
  stage(s) -> conv3x3(unf->3) -> + bilinear upscaling of the input;
- SCPA (no biases but the PA gate): two conv1x1 nf->nf/2 + LeakyReLU branches; A: k x k conv ->
  LeakyReLU; B: PAConv = ``sigmoid(conv1x1(x)) * kxk(x)`` -> k x k conv -> LeakyReLU; concat A, B ->
  conv1x1 nf->nf -> + block input;
- U-PA stage: nearest upscaling (x s at x2/x3; two x2 stages at x4) -> conv3x3 -> pixel attention
  ``x * sigmoid(conv1x1(x))`` -> LeakyReLU -> conv3x3 -> LeakyReLU. No pixel shuffle.

``pa_after=k`` (k >= 1) inserts a windowed pyramid-attention block
(:mod:`nas_sr.models.pyramid_attention`) after SCPA block k; the default 0 is the released network.
"""

from __future__ import annotations

from typing import Any, Mapping

import torch
import torch.nn.functional as F
from torch import nn

from nas_sr.models import pyramid_attention as pa
from nas_sr.models.base import Family
from nas_sr.models.registry import register_family
from nas_sr.models.vapsr import rename_keys

SCPA_KERNELS = (3, 5)


def _lrelu() -> nn.Module:
    return nn.LeakyReLU(0.2)


class _PAConv(nn.Module):
    """Pixel-attention conv: a k x k conv gated by sigmoid(conv1x1), then another k x k conv."""

    def __init__(self, dim: int, k: int) -> None:
        super().__init__()
        self.gate = nn.Conv2d(dim, dim, 1)
        self.conv = nn.Conv2d(dim, dim, k, padding=k // 2, bias=False)
        self.out = nn.Conv2d(dim, dim, k, padding=k // 2, bias=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.out(self.conv(x) * torch.sigmoid(self.gate(x)))


class _SCPA(nn.Module):
    """Self-calibrated block with pixel attention: plain and PAConv branches at nf/2 channels."""

    def __init__(self, nf: int, k: int) -> None:
        super().__init__()
        half = nf // 2
        self.reduce_a = nn.Conv2d(nf, half, 1, bias=False)
        self.reduce_b = nn.Conv2d(nf, half, 1, bias=False)
        self.conv_a = nn.Conv2d(half, half, k, padding=k // 2, bias=False)
        self.pa = _PAConv(half, k)
        self.fuse = nn.Conv2d(nf, nf, 1, bias=False)
        self.act = _lrelu()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        a = self.act(self.conv_a(self.act(self.reduce_a(x))))
        b = self.act(self.pa(self.act(self.reduce_b(x))))
        return x + self.fuse(torch.cat([a, b], dim=1))


class _UPA(nn.Module):
    """Nearest upscaling -> conv3x3 -> pixel attention -> LeakyReLU -> conv3x3 -> LeakyReLU."""

    def __init__(self, in_dim: int, dim: int, factor: int) -> None:
        super().__init__()
        self.factor = factor
        self.conv = nn.Conv2d(in_dim, dim, 3, padding=1)
        self.gate = nn.Conv2d(dim, dim, 1)
        self.refine = nn.Conv2d(dim, dim, 3, padding=1)
        self.act = _lrelu()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.conv(F.interpolate(x, scale_factor=self.factor, mode="nearest"))
        x = self.act(x * torch.sigmoid(self.gate(x)))
        return self.act(self.refine(x))


class PANNet(nn.Module):
    def __init__(self, scale: int, nf: int, unf: int, nb: int, scpa_kernel: int,
                 pyramid: nn.Module | None = None, pa_after: int = 0) -> None:
        super().__init__()
        self.scale = scale
        self.head = nn.Conv2d(3, nf, 3, padding=1)
        self.blocks = nn.Sequential(*(_SCPA(nf, scpa_kernel) for _ in range(nb)))
        self.pyramid, self.pa_after = pyramid, pa_after
        self.body_conv = nn.Conv2d(nf, nf, 3, padding=1)
        factors = [2, 2] if scale == 4 else [scale]
        self.upsample = nn.Sequential(*(
            _UPA(nf if i == 0 else unf, unf, f) for i, f in enumerate(factors)))
        self.tail = nn.Conv2d(unf, 3, 3, padding=1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        f = self.head(x)
        body = pa.run_blocks(self.blocks, f, self.pa_after, self.pyramid)
        y = self.tail(self.upsample(f + self.body_conv(body)))
        return y + F.interpolate(x, scale_factor=self.scale, mode="bilinear", align_corners=False)


_RELEASED_NAMES = [
    (r"^conv_first\.", "head."),
    (r"^SCPA_trunk\.(\d+)\.conv1_a\.", r"blocks.\1.reduce_a."),
    (r"^SCPA_trunk\.(\d+)\.conv1_b\.", r"blocks.\1.reduce_b."),
    (r"^SCPA_trunk\.(\d+)\.k1\.0\.", r"blocks.\1.conv_a."),
    (r"^SCPA_trunk\.(\d+)\.PAConv\.k2\.", r"blocks.\1.pa.gate."),
    (r"^SCPA_trunk\.(\d+)\.PAConv\.k3\.", r"blocks.\1.pa.conv."),
    (r"^SCPA_trunk\.(\d+)\.PAConv\.k4\.", r"blocks.\1.pa.out."),
    (r"^SCPA_trunk\.(\d+)\.conv3\.", r"blocks.\1.fuse."),
    (r"^trunk_conv\.", "body_conv."),
    (r"^upconv1\.", "upsample.0.conv."),
    (r"^att1\.conv\.", "upsample.0.gate."),
    (r"^HRconv1\.", "upsample.0.refine."),
    (r"^upconv2\.", "upsample.1.conv."),
    (r"^att2\.conv\.", "upsample.1.gate."),
    (r"^HRconv2\.", "upsample.1.refine."),
    (r"^conv_last\.", "tail."),
]


def convert_released_weights(state: Mapping[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """The authors' state_dict (``PANx4_DF2K.pth``) with our names; ours pass unchanged."""
    return rename_keys(state, _RELEASED_NAMES)


@register_family
class PAN(Family):
    """PAN with ``nf`` trunk channels, ``unf`` upsampling channels, ``nb`` SCPA blocks
    (pyramid attention after block ``pa_after`` when it is > 0)."""

    name = "pan"
    hyperparameters = {"nf": int, "unf": int, "nb": int, "scpa_kernel": int, **pa.HYPERPARAMETERS}
    defaults = {"nf": 40, "unf": 24, "nb": 16, "scpa_kernel": 3, **pa.DEFAULTS}
    minimum = {"nf": 2, **pa.MINIMUM}
    presets = {"pan": {}}
    colors = ("rgb",)
    input_range = 1.0

    def check(self, config: Mapping[str, Any]) -> list[str]:
        problems = []
        if config["nf"] % 2:
            problems.append(f"nf={config['nf']} must be even (the SCPA branches get nf/2 each)")
        if config["scpa_kernel"] not in SCPA_KERNELS:
            problems.append(f"scpa_kernel={config['scpa_kernel']} is not one of "
                            f"{', '.join(map(str, SCPA_KERNELS))}")
        return problems + pa.check_placement(config, config["nf"], config["nb"], f"nb={config['nb']}")

    def build(self, config: Mapping[str, Any]) -> nn.Module:
        return PANNet(config["scale"], config["nf"], config["unf"], config["nb"],
                      config["scpa_kernel"], pa.from_config(config, config["nf"]), config["pa_after"])

    @staticmethod
    def convert_weights(state: Mapping[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        """Released PAN names -> ours (see :func:`convert_released_weights`)."""
        return convert_released_weights(state)
