"""HiT-SR (Zhang et al., ECCV 2024; XiangZ-0/HiT-SR): hierarchical transformers, RGB in [0, 1].

Macro path: - DIV2K mean -> conv3x3(3->C) -> LayerNorm over channels -> ``n_groups`` residual
hierarchical transformer blocks (RHTBs) -> LayerNorm -> conv3x3(C->C) -> + conv3x3 output ->
conv3x3(C->3*s^2) + PixelShuffle(s) -> + mean. An RHTB is ``depth`` blocks -> conv3x3 -> + its input.

Block ``i`` of every RHTB works in square windows of ``base_window * ratio[i]`` pixels (released:
8 x [0.5, 1, 2, 4, 6, 8]); no shifts, no masks. It reflect-pads the map at the bottom/right to a
multiple of its window (twice the window for SNG), runs the spatial-channel correlation (SCC) on
the padded map and crops back. Blocks are post-norm: ``x = x + LN1(SCC(x)); x = x + LN2(FFN(x))``.

SCC: ``qv = DFE(x)`` with DFE = [1x1 C->C/5, LReLU, 3x3, LReLU, 1x1 C/5->C] * 1x1 C->C (no key);
the channels split as (q/v, head, C/(2*heads)). Its two halves, concatenated and projected:

- spatial: each window's v tokens are pooled onto (at most) a base x base grid by a Linear over
  the tokens of each cell; ``(q v'^T / head_dim + bias) v'``, no softmax. The bias comes from a
  small MLP of the (dy, dx) offset (CrossFormer's dynamic position bias, non-residual, C//16
  wide), averaged over the keys of each cell;
- channel: heads merged, ``v (q^T v / L)^T`` with L the tokens of the window, no softmax.

Variants: SIR uses the plain FFN Linear -> GELU -> Linear; SRF the ConvFFN Linear -> GELU ->
``h + GELU(dwconv5x5(h))`` -> Linear; SNG the plain FFN plus SwinIR-NG's N-gram context, which
embeds each window of qv into one token per channel pair (conv with kernel = stride = window),
runs softmax attention over the 2x2 neighbourhood of window tokens in both directions
(reflect-padded by one window on the far / near side), merges the two with a 1x1 conv and adds
the result to every qv token of the window.
"""

from __future__ import annotations

import math
import re
from typing import Any, Mapping

import torch
import torch.nn.functional as F
from torch import nn

from nas_sr.models.base import Family
from nas_sr.models.registry import register_family

DIV2K_MEAN = (0.4488, 0.4371, 0.4040)
VARIANTS = ("sir", "sng", "srf")
RELEASED_RATIOS = "0.5,1,2,4,6,8"
#: The authors' released configuration (HiT-SIR; HiT-SNG/SRF differ only in the variant).
RELEASED = {"variant": "sir", "embed_dim": 60, "n_groups": 4, "depth": 6, "num_heads": 6,
            "base_window": 8, "window_ratios": RELEASED_RATIOS, "mlp_ratio": 2.0}


def parse_ratios(text: str) -> list[float]:
    """``"0.5,1,2"`` -> ``[0.5, 1.0, 2.0]`` (ValueError for anything else)."""
    return [float(part) for part in text.split(",")]


def _reflect_pad(x: torch.Tensor, bottom: int, right: int) -> torch.Tensor:
    """Reflect-pad an NCHW map at the bottom/right, in steps when a pad exceeds the map.

    Equal to the authors' single reflect pad (SIR) and to their two-step one (SRF/SNG)
    wherever those work; a 1-pixel side, which cannot reflect, is replicated.
    """
    while bottom or right:
        b, r = min(bottom, x.shape[2] - 1), min(right, x.shape[3] - 1)
        if not (b or r):
            return F.pad(x, (0, right, 0, bottom), mode="replicate")
        x = F.pad(x, (0, r, 0, b), mode="reflect")
        bottom, right = bottom - b, right - r
    return x


class _DFE(nn.Module):
    """Dual feature extraction: a C/5 bottleneck conv branch gating a 1x1 conv (NCHW)."""

    def __init__(self, dim: int) -> None:
        super().__init__()
        mid = dim // 5
        self.conv = nn.Sequential(
            nn.Conv2d(dim, mid, 1), nn.LeakyReLU(0.2),
            nn.Conv2d(mid, mid, 3, padding=1), nn.LeakyReLU(0.2),
            nn.Conv2d(mid, dim, 1))
        self.linear = nn.Conv2d(dim, dim, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.conv(x) * self.linear(x)


def _position_mlp(hidden: int, heads: int) -> nn.Sequential:
    """(dy, dx) -> one bias per head: Linear, then 3 x (LayerNorm, ReLU, Linear)."""
    layers: list[nn.Module] = [nn.Linear(2, hidden)]
    for out in (hidden, hidden, heads):
        layers += [nn.LayerNorm(hidden), nn.ReLU(), nn.Linear(hidden, out)]
    return nn.Sequential(*layers)


class _NGramAttention(nn.Module):
    """Softmax attention inside 2x2 groups of tokens, with a learned relative-position table."""

    def __init__(self, dim: int, heads: int) -> None:
        super().__init__()
        self.heads, self.scale = heads, (dim // heads) ** -0.5
        self.table = nn.Parameter(torch.zeros(9, heads))  # (2*2-1)^2 offsets
        nn.init.trunc_normal_(self.table, std=0.02)
        # Tokens are ordered (row, column) row-major; offset (dy, dx) has table row (dy+1)*3 + dx+1.
        pos = torch.tensor([(0, 0), (0, 1), (1, 0), (1, 1)])
        rel = pos[:, None] - pos[None, :] + 1
        self.register_buffer("index", rel[..., 0] * 3 + rel[..., 1], persistent=False)
        self.qkv = nn.Linear(dim, 3 * dim)
        self.proj = nn.Linear(dim, dim)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        n, t, c = x.shape
        q, k, v = self.qkv(x).view(n, t, 3, self.heads, c // self.heads).permute(2, 0, 3, 1, 4)
        attn = (q * self.scale) @ k.transpose(-2, -1) + self.table[self.index].permute(2, 0, 1)
        out = torch.softmax(attn, dim=-1) @ v
        return self.proj(out.transpose(1, 2).reshape(n, t, c))


class _NGramContext(nn.Module):
    """SwinIR-NG's N-gram context (N = 2) of each ``window`` x ``window`` cell of an NCHW map."""

    def __init__(self, dim: int, window: int, heads: int) -> None:
        super().__init__()
        self.window = window
        # One conv shared by all channel pairs keeps the embedding small for large windows.
        self.unigram = nn.Conv2d(2, 1, window, stride=window)
        self.attn = _NGramAttention(dim // 2, heads)
        self.merge = nn.Conv2d(dim, dim, 1)

    def forward(self, qv: torch.Tensor) -> torch.Tensor:
        """(B, C, H, W) -> (B, C, H/window, W/window); needs at least 2 windows per side."""
        b, c, h, w = qv.shape
        grams = self.unigram(qv.reshape(b * c // 2, 2, h, w)).view(b, c // 2, h // self.window, -1)
        # Forward context reaches the next window (pad after), backward the previous one (pad before).
        forward = self._slide(F.pad(grams, (0, 1, 0, 1), mode="reflect"))
        backward = self._slide(F.pad(grams, (1, 0, 1, 0), mode="reflect"))
        return self.merge(torch.cat([forward, backward], dim=1))

    def _slide(self, grams: torch.Tensor) -> torch.Tensor:
        b, c, h, w = grams.shape
        h, w = h - 1, w - 1
        tokens = torch.stack([grams[:, :, dy:dy + h, dx:dx + w] for dy in (0, 1) for dx in (0, 1)], -1)
        tokens = tokens.permute(0, 2, 3, 4, 1).reshape(b * h * w, 4, c)
        out = self.attn(tokens).mean(dim=1)  # the authors' 2x2 average pool
        return out.view(b, h, w, c).permute(0, 3, 1, 2)


class _SCC(nn.Module):
    """Spatial-channel correlation in ``window`` x ``window`` windows of a padded NCHW map."""

    def __init__(self, dim: int, heads: int, window: int, base: int, ngram: bool) -> None:
        super().__init__()
        self.heads, self.window = heads, window
        self.cells = min(window, base)  # pooled grid per side
        self.dfe = _DFE(dim)
        self.pool = nn.Linear((window // self.cells) ** 2, 1)
        self.pos = _position_mlp(dim // 16, heads)
        self.ngram = _NGramContext(dim, window, heads) if ngram else None
        self.proj = nn.Linear(dim, dim)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """(B, C, Hp, Wp) -> (B, Hp, Wp, C), Hp and Wp multiples of the window."""
        qv = self.dfe(x)
        b, c, h, w = qv.shape
        ws, nh, nw = self.window, h // self.window, w // self.window
        context = None if self.ngram is None else self.ngram(qv).permute(0, 2, 3, 1)
        qv = qv.permute(0, 2, 3, 1).reshape(b, nh, ws, nw, ws, c)
        if context is not None:  # one context vector per window, added to all its tokens
            qv = qv + context[:, :, None, :, None]
        tokens = qv.permute(0, 1, 3, 2, 4, 5).reshape(b * nh * nw, ws * ws, 2, self.heads, -1)
        q, v = tokens.permute(2, 0, 3, 1, 4)  # (windows, heads, L, head_dim) each
        out = torch.cat([self._spatial(q, v), self._channel(q, v)], dim=-1)
        out = out.view(b, nh, nw, ws, ws, c).permute(0, 1, 3, 2, 4, 5).reshape(b, h, w, c)
        return self.proj(out)

    def _spatial(self, q: torch.Tensor, v: torch.Tensor) -> torch.Tensor:
        n, heads, length, d = q.shape
        g, s = self.cells, self.window // self.cells
        # Pool the s x s tokens of each of the g x g cells: (n, heads, g*g, d).
        v = v.reshape(n, heads, g, s, g, s, d).permute(0, 1, 2, 4, 6, 3, 5).reshape(n, heads, g * g, d, s * s)
        v = self.pool(v).squeeze(-1)
        corr = q @ v.transpose(-2, -1) / d + self._bias()
        return (corr @ v).transpose(1, 2).reshape(n, length, heads * d)

    def _bias(self) -> torch.Tensor:
        """(heads, L, g*g): the position bias of each (query, key) pair averaged over each cell.

        The authors gather an (L, L) table and average it; a box filter over the (2w-1)^2
        offset grid followed by an (L, g*g) gather gives the same values without the L^2 table.
        """
        ws, g, s = self.window, self.cells, self.window // self.cells
        weight = self.pool.weight  # the offsets go through the MLP in its device and dtype
        offsets = torch.arange(1 - ws, ws, device=weight.device, dtype=weight.dtype)
        grid = torch.stack(torch.meshgrid(offsets, offsets, indexing="ij"), dim=-1)
        bias = self.pos(grid).permute(2, 0, 1)  # (heads, 2w-1, 2w-1), offset = query - key
        if s > 1:
            bias = F.avg_pool2d(bias, s, stride=1)  # mean over the keys of a cell
        # Query y attends cell j whose keys are rows j*s .. j*s+s-1: the box starts at offset
        # y - j*s - s + 1, i.e. at row y - j*s + w - s of the grid.
        pos = torch.arange(ws, device=bias.device)
        rows = pos[:, None] - torch.arange(g, device=bias.device)[None] * s + ws - s  # (w, g)
        bias = bias[:, rows[:, None, :, None], rows[None, :, None, :]]  # (heads, w, w, g, g)
        return bias.reshape(bias.shape[0], ws * ws, g * g)

    @staticmethod
    def _channel(q: torch.Tensor, v: torch.Tensor) -> torch.Tensor:
        n, heads, length, d = q.shape
        q = q.transpose(1, 2).reshape(n, length, heads * d)
        v = v.transpose(1, 2).reshape(n, length, heads * d)
        corr = q.transpose(-2, -1) @ v / length
        return (corr @ v.transpose(-2, -1)).transpose(-2, -1)


class _FFN(nn.Module):
    """Linear -> GELU -> Linear; with ``conv``, ``h + GELU(dwconv5x5(h))`` after the GELU."""

    def __init__(self, dim: int, hidden: int, conv: bool) -> None:
        super().__init__()
        self.fc1 = nn.Linear(dim, hidden)
        self.dwconv = nn.Conv2d(hidden, hidden, 5, padding=2, groups=hidden) if conv else None
        self.fc2 = nn.Linear(hidden, dim)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = F.gelu(self.fc1(x))
        if self.dwconv is not None:
            h = h + F.gelu(self.dwconv(h.permute(0, 3, 1, 2))).permute(0, 2, 3, 1)
        return self.fc2(h)


class _Block(nn.Module):
    """One hierarchical transformer block on a (B, H, W, C) map."""

    def __init__(self, dim: int, heads: int, window: int, base: int, hidden: int,
                 variant: str) -> None:
        super().__init__()
        # SNG pads to two windows: its N-gram context needs a neighbour window on each side.
        self.multiple = 2 * window if variant == "sng" else window
        self.norm1 = nn.LayerNorm(dim)
        self.scc = _SCC(dim, heads, window, base, ngram=variant == "sng")
        self.norm2 = nn.LayerNorm(dim)
        self.ffn = _FFN(dim, hidden, conv=variant == "srf")

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h, w = x.shape[1:3]
        y = _reflect_pad(x.permute(0, 3, 1, 2), -h % self.multiple, -w % self.multiple)
        x = x + self.norm1(self.scc(y)[:, :h, :w])
        return x + self.norm2(self.ffn(x))


class _RHTB(nn.Module):
    def __init__(self, dim: int, windows: list[int], **block: Any) -> None:
        super().__init__()
        self.blocks = nn.Sequential(*(_Block(dim, window=w, **block) for w in windows))
        self.conv = nn.Conv2d(dim, dim, 3, padding=1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = self.blocks(x).permute(0, 3, 1, 2)
        return x + self.conv(y).permute(0, 2, 3, 1)


class _HiTNet(nn.Module):
    def __init__(self, scale: int, dim: int, n_groups: int, windows: list[int], **block: Any) -> None:
        super().__init__()
        self.register_buffer("mean", torch.tensor(DIV2K_MEAN).view(1, 3, 1, 1), persistent=False)
        self.head = nn.Conv2d(3, dim, 3, padding=1)
        self.embed_norm = nn.LayerNorm(dim)
        self.groups = nn.Sequential(*(_RHTB(dim, windows, **block) for _ in range(n_groups)))
        self.norm = nn.LayerNorm(dim)
        self.body_conv = nn.Conv2d(dim, dim, 3, padding=1)
        self.tail = nn.Conv2d(dim, 3 * scale * scale, 3, padding=1)
        self.shuffle = nn.PixelShuffle(scale)
        self.apply(self._init)

    @staticmethod
    def _init(module: nn.Module) -> None:
        # The authors' init: truncated-normal Linear weights, zero biases; convs keep torch's.
        if isinstance(module, nn.Linear):
            nn.init.trunc_normal_(module.weight, std=0.02)
            nn.init.zeros_(module.bias)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        feat = self.head(x - self.mean)
        t = self.groups(self.embed_norm(feat.permute(0, 2, 3, 1)))
        y = self.body_conv(self.norm(t).permute(0, 3, 1, 2)) + feat
        return self.shuffle(self.tail(y)) + self.mean


# Released checkpoint names (XiangZ-0/HiT-SR, BasicSR 'params' / 'params_ema') -> ours, applied in turn.
_RENAMES = (
    (r"^conv_first\.", "head."),
    (r"^patch_embed\.norm\.", "embed_norm."),
    (r"^conv_after_body\.", "body_conv."),
    (r"^upsample\.0\.", "tail."),
    (r"^layers\.(\d+)\.residual_group\.blocks\.", r"groups.\1.blocks."),
    (r"^layers\.(\d+)\.conv\.", r"groups.\1.conv."),
    (r"\.correlation\.", ".scc."),
    (r"\.scc\.qv\.", ".scc.dfe."),
    (r"\.scc\.spatial_linear\.", ".scc.pool."),
    (r"\.pos\.pos_proj\.", ".pos.0."),
    (r"\.pos\.pos([123])\.([02])\.",
     lambda m: f".pos.{3 * int(m[1]) - 2 + int(m[2]) // 2 * 2}."),
    (r"\.ngram_window_partition\.ngram_context\.", ".ngram."),
    (r"\.ngram\.unigram_embed\.", ".ngram.unigram."),
    (r"\.ngram\.ngram_attn\.relative_position_bias_table$", ".ngram.attn.table"),
    (r"\.ngram\.ngram_attn\.", ".ngram.attn."),
    (r"\.mlp\.dwconv\.depthwise_conv\.0\.", ".ffn.dwconv."),
    (r"\.mlp\.", ".ffn."),
)


@register_family
class HiTSR(Family):
    """HiT-SR with the 'pixelshuffledirect' upsampler. Hyper-parameters:

    ``variant`` sir | sng | srf; ``embed_dim`` C; ``n_groups`` RHTBs of ``depth`` blocks;
    ``num_heads`` spatial heads (C/(2*heads) channels each); ``base_window`` and
    ``window_ratios``, comma-separated window multipliers written as ``'%g'`` ("0.5,1,2,4,6,8"):
    block i uses the window ``base_window * ratio[i]``, so there must be at least ``depth``
    ratios (extra ones are unused, as in the authors' code); ``mlp_ratio``: FFN width C*ratio.
    """

    name = "hitsr"
    hyperparameters = {"variant": str, "embed_dim": int, "n_groups": int, "depth": int,
                       "num_heads": int, "base_window": int, "window_ratios": str,
                       "mlp_ratio": float}
    defaults = dict(RELEASED)
    presets = {f"hit-{v}": {**RELEASED, "variant": v} for v in VARIANTS}
    colors = ("rgb",)
    input_range = 1.0

    def check(self, config: Mapping[str, Any]) -> list[str]:
        dim, heads, base = config["embed_dim"], config["num_heads"], config["base_window"]
        problems = []
        if config["variant"] not in VARIANTS:
            problems.append(f"variant={config['variant']!r} is not one of {', '.join(VARIANTS)}")
        if dim < 16:
            problems.append(f"embed_dim={dim} must be at least 16 (the position-bias MLP is "
                            f"embed_dim//16 wide, the DFE bottleneck embed_dim//5)")
        # SNG's code rounds head_dim up here, but then cannot reshape its qv back to C channels.
        if dim % (2 * heads):
            problems.append(f"embed_dim={dim} must be divisible by 2*num_heads={2 * heads} (q and "
                            f"v of num_heads heads each)")
        if int(dim * config["mlp_ratio"] + 1e-6) < 1:
            problems.append(f"mlp_ratio={config['mlp_ratio']!r} gives an FFN without hidden units")
        text = config["window_ratios"]
        try:
            ratios = parse_ratios(text)
        except ValueError:
            return problems + [f"window_ratios={text!r} must be comma-separated numbers such as "
                               f"{RELEASED_RATIOS!r}"]
        canonical = ",".join(f"{r:g}" for r in ratios)
        if text != canonical:  # one spelling per architecture, so equal networks get equal keys
            problems.append(f"window_ratios={text!r} must be written {canonical!r}")
        if config["depth"] > len(ratios):
            problems.append(f"depth={config['depth']} exceeds the {len(ratios)} window ratios "
                            f"(one window per block)")
        for ratio in ratios:
            window = base * ratio
            if not math.isfinite(window) or window < 1 or abs(window - round(window)) > 1e-9:
                problems.append(f"window base_window*{ratio:g}={window:g} is not a whole number "
                                f"of pixels")
            elif window > base and round(window) % base:
                problems.append(f"window base_window*{ratio:g}={round(window)} must be at most "
                                f"base_window={base} or a multiple of it")
        return problems

    def build(self, config: Mapping[str, Any]) -> nn.Module:
        c = config
        windows = [round(c["base_window"] * r) for r in parse_ratios(c["window_ratios"])]
        hidden = int(c["embed_dim"] * c["mlp_ratio"] + 1e-6)  # int() like the authors; 1e-6 for float error
        return _HiTNet(c["scale"], c["embed_dim"], c["n_groups"], windows[:c["depth"]],
                       heads=c["num_heads"], base=c["base_window"], hidden=hidden,
                       variant=c["variant"])

    @staticmethod
    def convert_weights(state: Mapping[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        """Rename a released HiT-SR state_dict onto this module's names (ours pass unchanged).

        The N-gram attention's constant ``relative_position_index`` buffers are dropped.
        """
        out = {}
        for key, value in state.items():
            if key.endswith("relative_position_index"):
                continue
            for pattern, repl in _RENAMES:
                key = re.sub(pattern, repl, key)
            out[key] = value
        return out
