"""VapSR (Zhou et al., ECCV-W 2022): vast-receptive-field pixel attention for efficient SR.

Re-implemented from the paper and the facts in ``shared/specs/architectures.md`` (the authors'
repository has no licence). RGB in [0, 1], no mean shift, all convolutions with bias:

- conv3x3(3->F) -> N blocks -> conv3x3(F->F, groups) -> + the first conv's output -> upsampler;
- block (VAB): conv1x1 F->A -> GELU -> attention -> conv1x1 A->F -> + block input -> LayerNorm
  over channels (post-norm: the identity path is normalised too);
- attention on A channels: ``u * dilated_dw(dw(conv1x1(u)))``, a linear, unbounded gate;
- upsampler at x4: conv3x3 F->W(64) -> PixelShuffle(2) -> LeakyReLU(0.1) -> conv3x3 W/4->12 ->
  PixelShuffle(2); at x2/x3: conv3x3 F->W(56) -> LeakyReLU(0.1) -> conv3x3 W->3s^2 ->
  PixelShuffle(s).

The releases differ per scale: N=20 at x2/x3 but 21 at x4, and W=56 at x2/x3 but 64 at x4. A config
cannot hold scale-dependent defaults, so ``num_block=0`` and ``upsampler_width=0`` (the defaults)
mean "as released for the config's scale"; any positive value is used as it is. Thus the ``vapsr``
preset (the defaults) builds the released network at every scale.

``pa_after=k`` (k >= 1) inserts a windowed pyramid-attention block
(:mod:`nas_sr.models.pyramid_attention`, configured by ``pa_levels``, ``pa_reduction``,
``pa_patch``, ``pa_window``) after block k; the default 0 leaves the released network unchanged.
"""

from __future__ import annotations

import re
from typing import Any, Mapping

import torch
from torch import nn

from nas_sr.models import pyramid_attention as pa
from nas_sr.models.base import Family
from nas_sr.models.registry import register_family

NORMS = ("layernorm", "none")
ACTIVATIONS = {"gelu": nn.GELU, "relu": nn.ReLU, "silu": nn.SiLU}


def released_num_block(scale: int) -> int:
    return 21 if scale == 4 else 20


def released_upsampler_width(scale: int) -> int:
    return 64 if scale == 4 else 56


class _Attention(nn.Module):
    """Pointwise mix -> depthwise k x k -> dilated depthwise, used as a gate on the input."""

    def __init__(self, dim: int, kernel: int, dilated_kernel: int, dilation: int) -> None:
        super().__init__()
        self.mix = nn.Conv2d(dim, dim, 1)
        self.local = nn.Conv2d(dim, dim, kernel, padding=kernel // 2, groups=dim)
        self.dilated = nn.Conv2d(dim, dim, dilated_kernel, padding=dilation * (dilated_kernel // 2),
                                 groups=dim, dilation=dilation)

    def forward(self, u: torch.Tensor) -> torch.Tensor:
        return u * self.dilated(self.local(self.mix(u)))


class _Block(nn.Module):
    """VAB: expand F->A, activation, attention gate, project A->F, residual add, then LayerNorm."""

    def __init__(self, num_feat: int, d_atten: int, kernel: int, dilated_kernel: int, dilation: int,
                 norm: str, activation: str) -> None:
        super().__init__()
        self.expand = nn.Conv2d(num_feat, d_atten, 1)
        self.act = ACTIVATIONS[activation]()
        self.attention = _Attention(d_atten, kernel, dilated_kernel, dilation)
        self.project = nn.Conv2d(d_atten, num_feat, 1)
        self.norm = nn.LayerNorm(num_feat) if norm == "layernorm" else None

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = x + self.project(self.attention(self.act(self.expand(x))))
        if self.norm is None:
            return y
        return self.norm(y.permute(0, 2, 3, 1)).permute(0, 3, 1, 2)  # LayerNorm over channels


class _Upsampler(nn.Module):
    """x4: conv, shuffle 2, LeakyReLU, conv, shuffle 2; x2/x3: conv, LeakyReLU, conv, shuffle s."""

    def __init__(self, num_feat: int, width: int, scale: int) -> None:
        super().__init__()
        self.two_step = scale == 4
        self.conv1 = nn.Conv2d(num_feat, width, 3, padding=1)
        hidden, step = (width // 4, 2) if self.two_step else (width, scale)
        self.conv2 = nn.Conv2d(hidden, 3 * step * step, 3, padding=1)
        self.shuffle = nn.PixelShuffle(step)
        self.act = nn.LeakyReLU(0.1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.conv1(x)
        if self.two_step:
            x = self.shuffle(x)
        return self.shuffle(self.conv2(self.act(x)))


class VapSRNet(nn.Module):
    def __init__(self, scale: int, num_feat: int, d_atten: int, num_block: int, conv_groups: int,
                 atten_kernel: int, dilated_kernel: int, dilation: int, norm: str, activation: str,
                 upsampler_width: int, pyramid: nn.Module | None = None, pa_after: int = 0) -> None:
        super().__init__()
        self.head = nn.Conv2d(3, num_feat, 3, padding=1)
        self.blocks = nn.Sequential(*(
            _Block(num_feat, d_atten, atten_kernel, dilated_kernel, dilation, norm, activation)
            for _ in range(num_block)))
        self.pyramid, self.pa_after = pyramid, pa_after
        self.body_conv = nn.Conv2d(num_feat, num_feat, 3, padding=1, groups=conv_groups)
        self.upsample = _Upsampler(num_feat, upsampler_width, scale)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.head(x)
        return self.upsample(x + self.body_conv(pa.run_blocks(self.blocks, x, self.pa_after,
                                                              self.pyramid)))


# Released name -> our name; the upsampler's second conv is index 3 at x4 and 2 at x2/x3.
_RELEASED_NAMES = [
    (r"^conv_first\.", "head."),
    (r"^body\.(\d+)\.proj_1\.", r"blocks.\1.expand."),
    (r"^body\.(\d+)\.atten_branch\.pointwise\.", r"blocks.\1.attention.mix."),
    (r"^body\.(\d+)\.atten_branch\.depthwise\.", r"blocks.\1.attention.local."),
    (r"^body\.(\d+)\.atten_branch\.depthwise_dilated\.", r"blocks.\1.attention.dilated."),
    (r"^body\.(\d+)\.proj_2\.", r"blocks.\1.project."),
    (r"^body\.(\d+)\.pixel_norm\.", r"blocks.\1.norm."),
    (r"^conv_body\.", "body_conv."),
    (r"^upsampler\.0\.", "upsample.conv1."),
    (r"^upsampler\.[23]\.", "upsample.conv2."),
]


def rename_keys(state: Mapping[str, torch.Tensor],
                rules: list[tuple[str, str]]) -> dict[str, torch.Tensor]:
    """Apply the first matching (pattern, replacement) rule to every name; others pass unchanged."""
    out = {}
    for name, value in state.items():
        for pattern, replacement in rules:
            new, hits = re.subn(pattern, replacement, name)
            if hits:
                name = new
                break
        out[name] = value
    return out


def convert_released_weights(state: Mapping[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """The authors' state_dict (e.g. ``params_ema`` of ``VapSR_X4.pth``) with our names.

    A state_dict that already has our names passes unchanged.
    """
    return rename_keys(state, _RELEASED_NAMES)


@register_family
class VapSR(Family):
    """VapSR; ``num_block``/``upsampler_width`` 0 mean the released value for the scale,
    ``pa_after`` > 0 adds pyramid attention after that block."""

    name = "vapsr"
    hyperparameters = {
        "num_feat": int, "d_atten": int, "num_block": int, "conv_groups": int,
        "atten_kernel": int, "dilated_kernel": int, "dilation": int,
        "norm": str, "activation": str, "upsampler_width": int, **pa.HYPERPARAMETERS,
    }
    defaults = {
        "num_feat": 48, "d_atten": 64, "num_block": 0, "conv_groups": 1,
        "atten_kernel": 5, "dilated_kernel": 5, "dilation": 3,
        "norm": "layernorm", "activation": "gelu", "upsampler_width": 0, **pa.DEFAULTS,
    }
    minimum = {"num_block": 0, "upsampler_width": 0, **pa.MINIMUM}
    presets = {
        "vapsr": {},
        "vapsr-s": {"num_feat": 32, "d_atten": 64, "num_block": 11, "conv_groups": 2},
    }
    colors = ("rgb",)
    input_range = 1.0

    def check(self, config: Mapping[str, Any]) -> list[str]:
        problems = []
        if config["num_feat"] % config["conv_groups"]:
            problems.append(f"num_feat={config['num_feat']} is not divisible by "
                            f"conv_groups={config['conv_groups']}")
        for key in ("atten_kernel", "dilated_kernel"):
            if config[key] % 2 == 0:
                problems.append(f"{key}={config[key]} must be odd")
        if config["norm"] not in NORMS:
            problems.append(f"norm={config['norm']!r} is not one of {', '.join(NORMS)}")
        if config["activation"] not in ACTIVATIONS:
            problems.append(f"activation={config['activation']!r} is not one of "
                            f"{', '.join(ACTIVATIONS)}")
        if config["scale"] == 4 and config["upsampler_width"] % 4:
            problems.append(f"upsampler_width={config['upsampler_width']} must be divisible by 4 "
                            "at x4 (it is pixel-shuffled by 2 before the last conv)")
        blocks = config["num_block"] or released_num_block(config["scale"])
        text = f"num_block={blocks}" + ("" if config["num_block"] else
                                        f" as released at x{config['scale']}")
        return problems + pa.check_placement(config, config["num_feat"], blocks, text)

    def build(self, config: Mapping[str, Any]) -> nn.Module:
        s = config["scale"]
        return VapSRNet(
            s, config["num_feat"], config["d_atten"],
            config["num_block"] or released_num_block(s), config["conv_groups"],
            config["atten_kernel"], config["dilated_kernel"], config["dilation"],
            config["norm"], config["activation"],
            config["upsampler_width"] or released_upsampler_width(s),
            pa.from_config(config, config["num_feat"]), config["pa_after"])

    @staticmethod
    def convert_weights(state: Mapping[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        """Released VapSR names -> ours (see :func:`convert_released_weights`)."""
        return convert_released_weights(state)
