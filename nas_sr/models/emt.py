"""EMT, the Efficient Mixed Transformer (Zheng et al., 2023; Fried-Rice-Lab/EMT): RGB in [0, 255].

Macro path: frozen MeanShift(-255 x DF2K mean) -> conv3x3(3->dim) -> ``n_blocks`` mixed
transformer blocks (MTBs) -> + head features (the only long skip; no conv after the body, no
per-MTB residual) -> conv3x3(dim->3*s^2) + PixelShuffle(s) -> frozen MeanShift(+).

An MTB is ``n_layers`` layers ``x = x + mixer(x); x = x + mlp(x)`` without any LayerNorm:

- layers ``0..n_gtls-1`` mix tokens by striped-window self-attention (SWSA); odd ones shift
  their windows by half a window (torch.roll, no mask for wrapped pixels);
- the other layers use the Pixel-Mixer ``BN(PM(x) - x)``: channel ``c`` takes its right / left /
  lower / upper neighbour / itself by ``c mod 5`` (interleaved), with circular borders;
- the MLP is ShiftConv1x1(dim->hidden) -> Swish -> ShiftConv1x1(hidden->dim), where a
  ShiftConv shifts five contiguous channel chunks (right, left, below, above, rest unshifted)
  with zero borders before a 1x1 conv.

Both shifts are frozen depthwise 3x3 convs whose masks are ``nn.Parameter`` s with
``requires_grad=False``: the authors count them as parameters (71,280 for the released model)
and fvcore counts them as conv work, so keeping them reproduces both published numbers.

``pa_after=k`` (k >= 1) inserts a windowed pyramid-attention block
(:mod:`nas_sr.models.pyramid_attention`) after MTB k; the default 0 is the released network.
"""

from __future__ import annotations

import re
from typing import Any, Mapping

import torch
import torch.nn.functional as F
from torch import nn

from nas_sr.models import pyramid_attention as pa
from nas_sr.models.base import Family
from nas_sr.models.registry import register_family

DF2K_MEAN = (0.4690, 0.4490, 0.4036)
#: The authors' configuration (the ``emt`` preset).
RELEASED = {"dim": 60, "n_blocks": 6, "n_layers": 6, "n_gtls": 2, "num_heads": 3,
            "mlp_ratio": 2.0, "window_long": 32, "window_short": 8}
# Kernel position (row, column) of the 3x3 tap that each shift group reads: the right
# neighbour (x+1), the left one (x-1), the one below (y+1), the one above (y-1), itself.
_TAPS = ((1, 2), (1, 0), (2, 1), (0, 1), (1, 1))


class _Shift(nn.Module):
    """Frozen one-pixel shift of each channel, as a depthwise 3x3 conv with a 0/1 mask."""

    def __init__(self, channels: int, interleaved: bool, circular: bool) -> None:
        super().__init__()
        mask = torch.zeros(channels, 1, 3, 3)
        chunk = channels // 5
        for c in range(channels):
            # Interleaved: group = c mod 5. Contiguous: four chunks of channels//5, rest unshifted.
            group = c % 5 if interleaved else min(c // chunk, 4) if chunk else 4
            mask[c, 0][_TAPS[group]] = 1.0
        self.weight = nn.Parameter(mask, requires_grad=False)
        self.circular = circular

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.circular:
            return F.conv2d(F.pad(x, (1, 1, 1, 1), mode="circular"), self.weight, groups=x.shape[1])
        return F.conv2d(x, self.weight, padding=1, groups=x.shape[1])


class _PixelMixer(nn.Module):
    """Pixel-Mixer token mixer ``BN(PM(x) - x)``."""

    def __init__(self, dim: int) -> None:
        super().__init__()
        self.shift = _Shift(dim, interleaved=True, circular=True)
        self.norm = nn.BatchNorm2d(dim)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.norm(self.shift(x) - x)


class _MLP(nn.Module):
    """ShiftConv1x1 -> Swish -> ShiftConv1x1."""

    def __init__(self, dim: int, hidden: int) -> None:
        super().__init__()
        self.shift1 = _Shift(dim, interleaved=False, circular=False)
        self.fc1 = nn.Conv2d(dim, hidden, 1)
        self.shift2 = _Shift(hidden, interleaved=False, circular=False)
        self.fc2 = nn.Conv2d(hidden, dim, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc2(self.shift2(F.silu(self.fc1(self.shift1(x)))))


def _reflect_pad(x: torch.Tensor, bottom: int, right: int) -> torch.Tensor:
    """Reflect-pad at the bottom/right; in steps when a pad exceeds the map (tiny inputs)."""
    while bottom or right:
        b, r = min(bottom, x.shape[2] - 1), min(right, x.shape[3] - 1)
        if not (b or r):  # a 1-pixel side cannot reflect
            return F.pad(x, (0, right, 0, bottom), mode="replicate")
        x = F.pad(x, (0, r, 0, b), mode="reflect")
        bottom, right = bottom - b, right - r
    return x


class _SWSA(nn.Module):
    """Striped-window self-attention: ``qv = BN(conv1x1(x))``, no key, ``softmax(q q^T) v``.

    The 2*dim qv channels are split in two halves, one per window shape (``long x short`` rows x
    columns, then ``short x long``); within a half they are ordered (q/v, head, channel). No
    1/sqrt(d) scaling, no position bias. Maps are reflect-padded at the bottom/right to a
    multiple of the window and cropped back.
    """

    def __init__(self, dim: int, heads: int, long: int, short: int, shifted: bool) -> None:
        super().__init__()
        self.qv = nn.Conv2d(dim, 2 * dim, 1)
        self.norm = nn.BatchNorm2d(2 * dim)
        self.proj = nn.Conv2d(dim, dim, 1)
        self.heads, self.windows, self.shifted = heads, ((long, short), (short, long)), shifted

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        qv = self.norm(self.qv(x))
        h, w = x.shape[2:]
        parts = zip(qv.chunk(2, dim=1), self.windows)
        return self.proj(torch.cat([self._attend(p, wh, ww, h, w) for p, (wh, ww) in parts], dim=1))

    def _attend(self, qv: torch.Tensor, wh: int, ww: int, h: int, w: int) -> torch.Tensor:
        qv = _reflect_pad(qv, -h % wh, -w % ww)
        if self.shifted:  # the authors roll forward by half a window, then back
            qv = torch.roll(qv, (wh // 2, ww // 2), dims=(2, 3))
        b, c, hp, wp = qv.shape
        d = c // (2 * self.heads)
        # (b, qv, head, d, H/wh, wh, W/ww, ww) -> (b, H/wh, W/ww, qv, head, wh*ww, d)
        t = qv.view(b, 2, self.heads, d, hp // wh, wh, wp // ww, ww)
        q, v = t.permute(0, 4, 6, 1, 2, 5, 7, 3).flatten(5, 6).unbind(3)
        o = torch.softmax(q @ q.transpose(-2, -1), dim=-1) @ v
        o = o.view(b, hp // wh, wp // ww, self.heads, wh, ww, d)
        o = o.permute(0, 3, 6, 1, 4, 2, 5).reshape(b, c // 2, hp, wp)
        if self.shifted:
            o = torch.roll(o, (-(wh // 2), -(ww // 2)), dims=(2, 3))
        return o[:, :, :h, :w]


class _Layer(nn.Module):
    def __init__(self, mixer: nn.Module, mlp: nn.Module) -> None:
        super().__init__()
        self.mixer, self.mlp = mixer, mlp

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = x + self.mixer(x)
        return x + self.mlp(x)


def _mean_shift(sign: float) -> nn.Conv2d:
    """Frozen 1x1 conv adding ``sign * 255 * DF2K mean`` (its 12 values count as parameters)."""
    conv = nn.Conv2d(3, 3, 1).requires_grad_(False)
    with torch.no_grad():
        conv.weight.copy_(torch.eye(3).view(3, 3, 1, 1))
        conv.bias.copy_(sign * 255.0 * torch.tensor(DF2K_MEAN))
    return conv


class _EMTNet(nn.Module):
    def __init__(self, scale: int, dim: int, n_blocks: int, n_layers: int, n_gtls: int,
                 num_heads: int, hidden: int, long: int, short: int,
                 pyramid: nn.Module | None = None, pa_after: int = 0) -> None:
        super().__init__()
        self.mean_in = _mean_shift(-1.0)
        self.head = nn.Conv2d(3, dim, 3, padding=1)
        self.body = nn.Sequential(*(
            nn.Sequential(*(
                _Layer(_SWSA(dim, num_heads, long, short, shifted=i % 2 == 1) if i < n_gtls
                       else _PixelMixer(dim), _MLP(dim, hidden))
                for i in range(n_layers)))
            for _ in range(n_blocks)))
        self.pyramid, self.pa_after = pyramid, pa_after
        self.tail = nn.Conv2d(dim, 3 * scale * scale, 3, padding=1)
        self.shuffle = nn.PixelShuffle(scale)
        self.mean_out = _mean_shift(1.0)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.head(self.mean_in(x))
        x = x + pa.run_blocks(self.body, x, self.pa_after, self.pyramid)
        return self.mean_out(self.shuffle(self.tail(x)))


# Released checkpoint names (Fried-Rice-Lab/EMT, key 'params') -> ours.
_RENAMES = (
    (r"^sub_mean\.", "mean_in."),
    (r"^add_mean\.", "mean_out."),
    (r"^tail\.0\.", "tail."),
    (r"^body\.(\d+)\.sa_list\.(\d+)\.attn\.0\.", r"body.\1.\2.mixer.qv."),
    (r"^body\.(\d+)\.sa_list\.(\d+)\.attn\.1\.", r"body.\1.\2.mixer.norm."),
    (r"^body\.(\d+)\.sa_list\.(\d+)\.proj\.0\.", r"body.\1.\2.mixer.proj."),
    (r"^body\.(\d+)\.sa_list\.(\d+)\.token_mixer\.mask$", r"body.\1.\2.mixer.shift.weight"),
    (r"^body\.(\d+)\.sa_list\.(\d+)\.norm\.", r"body.\1.\2.mixer.norm."),
    (r"^body\.(\d+)\.mlp_list\.(\d+)\.fc([12])\.mask$", r"body.\1.\2.mlp.shift\3.weight"),
    (r"^body\.(\d+)\.mlp_list\.(\d+)\.fc([12])\.", r"body.\1.\2.mlp.fc\3."),
)


@register_family
class EMT(Family):
    """EMT (lightweight 'lsr' tail). Hyper-parameters:

    ``dim`` channels, ``n_blocks`` MTBs of ``n_layers`` layers whose first ``n_gtls`` are SWSA
    layers, ``num_heads`` per window shape, MLP hidden width ``dim * mlp_ratio``, and stripe
    windows ``window_long x window_short`` / ``window_short x window_long`` (rows x columns);
    ``pa_after`` > 0 adds pyramid attention after that MTB.
    """

    name = "emt"
    hyperparameters = {"dim": int, "n_blocks": int, "n_layers": int, "n_gtls": int,
                       "num_heads": int, "mlp_ratio": float, "window_long": int,
                       "window_short": int, **pa.HYPERPARAMETERS}
    defaults = {**RELEASED, **pa.DEFAULTS}
    minimum = {"n_gtls": 0, **pa.MINIMUM}
    presets = {"emt": RELEASED}
    colors = ("rgb",)
    input_range = 255.0

    def check(self, config: Mapping[str, Any]) -> list[str]:
        dim, heads, ratio = config["dim"], config["num_heads"], config["mlp_ratio"]
        problems = []
        if dim % 5:
            problems.append(f"dim={dim} must be divisible by 5 (five shift groups)")
        if dim % (2 * heads):
            problems.append(f"dim={dim} must be divisible by 2*num_heads={2 * heads} (each window "
                            f"shape gets dim qv channels split into q and v of num_heads heads)")
        hidden = dim * ratio
        if ratio <= 0 or abs(hidden - round(hidden)) > 1e-6 or round(hidden) % 5:
            problems.append(f"dim*mlp_ratio={hidden:g} must be a positive multiple of 5 (MLP "
                            f"hidden width, five shift groups)")
        if config["n_gtls"] > config["n_layers"]:
            problems.append(f"n_gtls={config['n_gtls']} must not exceed "
                            f"n_layers={config['n_layers']}")
        if config["window_short"] > config["window_long"]:
            problems.append(f"window_short={config['window_short']} must not exceed "
                            f"window_long={config['window_long']}")
        return problems + pa.check_placement(config, dim, config["n_blocks"],
                                             f"n_blocks={config['n_blocks']}")

    def build(self, config: Mapping[str, Any]) -> nn.Module:
        c = config
        return _EMTNet(c["scale"], c["dim"], c["n_blocks"], c["n_layers"], c["n_gtls"],
                       c["num_heads"], round(c["dim"] * c["mlp_ratio"]), c["window_long"],
                       c["window_short"], pa.from_config(c, c["dim"]), c["pa_after"])

    @staticmethod
    def convert_weights(state: Mapping[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        """Rename a released EMT state_dict onto this module's names (ours pass unchanged)."""
        out = {}
        for key, value in state.items():
            for pattern, repl in _RENAMES:
                key, n = re.subn(pattern, repl, key)
                if n:
                    break
            out[key] = value
        return out
