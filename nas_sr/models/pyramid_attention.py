"""Windowed pyramid attention: PANet's multi-scale non-local attention, cut down for efficient SR.

Re-implemented from the paper (Mei et al., "Pyramid Attention Networks for Image Restoration")
and the facts in ``shared/specs/architectures.md``; no code of the authors' repository is used.
What is kept from PANet:

- a key/value pyramid: the feature resized by bicubic interpolation to the scales
  1.0, 0.9, ... (``levels`` of them, at most 5: down to 0.6);
- a query embedding conv1x1(C->C/reduction) + PReLU on the full-resolution feature, a key
  embedding of the same shape and a value embedding conv1x1(C->C) + PReLU on every level;
- ``patch x patch`` patch matching with 'same' zero padding: scores are dot products of query
  patches with L2-normalised key patches (norm floored at 1e-4), ``softmax(10 x score)`` over
  every position of every level, and the output is the transposed-conv-like sum of the matched
  value patches;
- the residual quirk: the module returns ``attention + res_scale * input`` with res_scale 0.1,
  i.e. the identity is scaled, not the attention branch.

What differs, so that the cost is linear in the image size:

- attention is restricted to non-overlapping ``window x window`` windows: a query sees the keys
  of its own window and of that window resized (each window is resized on its own, so windows
  never read each other's pixels); global PANet costs ~30 T multiply-adds at x4 720p;
- maps are replicate-padded at the bottom/right to a multiple of the window and cropped back
  (replicate, not reflect: reflection could pull pixels of a neighbouring window into the last
  one); a map smaller than the window along a side uses one window of the map's size there, so
  small training patches do not pay for a large window;
- overlapping value patches are averaged (divided by ``patch**2``), where PANet divides by a
  fixed 4 that only suits its 3x3 patches.

fvcore counts the convolutions and the two matmuls (scores, aggregation); it does not count the
bicubic resizing, the normalisation, the softmax or the fold of overlapping patches.
"""

from __future__ import annotations

from typing import Any, Mapping

import torch
import torch.nn.functional as F
from torch import nn

MAX_LEVELS = 5
#: Values the NAS knobs take in the shipped search spaces (other positive values build too).
LEVELS = tuple(range(1, MAX_LEVELS + 1))
REDUCTIONS = (4, 8, 16)
PATCH_SIZES = (1, 3)
WINDOWS = (16, 32, 64)
SOFTMAX_SCALE = 10.0
RES_SCALE = 0.1
#: Score-matrix elements computed at once; more windows are processed in chunks (inference memory).
MAX_SCORES = 1 << 25


def level_sizes(height: int, width: int, levels: int) -> list[tuple[int, int]]:
    """Sizes of a ``height x width`` window at the scales 1.0, 0.9, ... (floored, at least 1).

    >>> level_sizes(16, 16, 5)
    [(16, 16), (14, 14), (12, 12), (11, 11), (9, 9)]
    """
    # Integer arithmetic: 16 * 0.7 in floating point is 11.199..., which is still floored to 11.
    return [(max(1, height * (10 - i) // 10), max(1, width * (10 - i) // 10)) for i in range(levels)]


def pyramid_attention_parameters(channels: int, reduction: int) -> int:
    """Parameters of :class:`PyramidAttention`: query and key conv1x1 C->C/r, value conv1x1 C->C,
    each with a bias and a one-parameter PReLU.

    >>> pyramid_attention_parameters(48, 8)
    2943
    """
    key = channels // reduction
    return 2 * (channels * key + key + 1) + channels * channels + channels + 1


def pyramid_attention_flops(channels: int, height: int, width: int, levels: int = 5,
                            reduction: int = 8, patch: int = 3, window: int = 16) -> int:
    """Multiply-adds that fvcore counts for one ``height x width`` map (batch 1).

    Per window of area A whose pyramid has L positions in all: the query embedding ``A*C*Ck``,
    key and value embeddings ``L*C*(Ck + C)``, scores ``A*L*Ck*p^2``, aggregation ``A*L*C*p^2``.

    >>> pyramid_attention_flops(48, 180, 320, patch=1) / 1e9  # x4 720p LR map, 16 px windows
    3.16168704
    """
    key = channels // reduction
    wh, ww = min(window, height), min(window, width)
    n = -(-height // wh) * -(-width // ww)
    area = wh * ww
    pyramid = sum(h * w for h, w in level_sizes(wh, ww, levels))
    per_window = (area * channels * key + pyramid * channels * (key + channels)
                  + area * pyramid * patch * patch * (key + channels))
    return n * per_window


def _embedding(channels_in: int, channels_out: int) -> nn.Sequential:
    return nn.Sequential(nn.Conv2d(channels_in, channels_out, 1), nn.PReLU())


class PyramidAttention(nn.Module):
    """Windowed pyramid attention over ``channels`` channels; any input size, output of the same size.

    ``levels`` pyramid scales (1.0, 0.9, ...), key/query width ``channels // reduction``,
    ``patch`` x ``patch`` patch matching (odd), attention within ``window`` x ``window`` windows.
    """

    def __init__(self, channels: int, levels: int = 5, reduction: int = 8, patch: int = 3,
                 window: int = 16, res_scale: float = RES_SCALE,
                 softmax_scale: float = SOFTMAX_SCALE) -> None:
        super().__init__()
        problems = check_pyramid_attention(channels, levels, reduction, patch, window)
        if problems:
            raise ValueError("PyramidAttention: " + "; ".join(problems))
        key = channels // reduction
        self.query = _embedding(channels, key)
        self.key = _embedding(channels, key)
        self.value = _embedding(channels, channels)
        self.levels, self.patch, self.window = levels, patch, window
        self.res_scale, self.softmax_scale = res_scale, softmax_scale

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        b, c, h, w = x.shape
        wh, ww = min(self.window, h), min(self.window, w)
        padded = x
        if h % wh or w % ww:
            padded = F.pad(x, (0, -w % ww, 0, -h % wh), mode="replicate")
        hp, wp = padded.shape[2:]
        nh, nw = hp // wh, wp // ww
        # (b, c, nh*wh, nw*ww) -> (b*nh*nw, c, wh, ww): one batch entry per window.
        windows = (padded.view(b, c, nh, wh, nw, ww).permute(0, 2, 4, 1, 3, 5)
                   .reshape(b * nh * nw, c, wh, ww))
        sizes = level_sizes(wh, ww, self.levels)
        scores_per_window = wh * ww * sum(lh * lw for lh, lw in sizes)
        chunk = max(1, MAX_SCORES // scores_per_window)
        out = torch.cat([self._attend(part, sizes) for part in windows.split(chunk)])
        out = out.view(b, nh, nw, c, wh, ww).permute(0, 3, 1, 4, 2, 5).reshape(b, c, hp, wp)
        return out[:, :, :h, :w] + self.res_scale * x

    def _attend(self, windows: torch.Tensor, sizes: list[tuple[int, int]]) -> torch.Tensor:
        """Attention of every pixel of each window over its own pyramid: (n, C, h, w) -> same."""
        n, c, h, w = windows.shape
        keys, values = [], []
        for size in sizes:
            level = windows if size == (h, w) else F.interpolate(
                windows, size=size, mode="bicubic", align_corners=False)
            keys.append(self._patches(self.key(level)))
            values.append(self._patches(self.value(level)))
        key = torch.cat(keys, dim=2)  # (n, Ck*p*p, L): L positions over all levels
        key = key / key.norm(dim=1, keepdim=True).clamp_min(1e-4)
        query = self._patches(self.query(windows))  # (n, Ck*p*p, h*w)
        attention = torch.softmax(self.softmax_scale * (query.transpose(1, 2) @ key), dim=-1)
        out = torch.cat(values, dim=2) @ attention.transpose(1, 2)  # (n, C*p*p, h*w)
        if self.patch == 1:
            return out.view(n, c, h, w)
        # Each pixel receives the matched value patch of every query patch that covers it.
        folded = F.fold(out, (h, w), self.patch, padding=self.patch // 2)
        return folded / (self.patch * self.patch)

    def _patches(self, t: torch.Tensor) -> torch.Tensor:
        """(n, C, h, w) -> (n, C*p*p, h*w): the zero-padded ``p x p`` patch around each pixel."""
        if self.patch == 1:
            return t.flatten(2)
        return F.unfold(t, self.patch, padding=self.patch // 2)


def check_pyramid_attention(channels: int, levels: int, reduction: int, patch: int,
                            window: int) -> list[str]:
    """Messages for settings that cannot be built (empty when they can)."""
    problems = []
    if not 1 <= levels <= MAX_LEVELS:
        problems.append(f"pa_levels={levels} must be 1..{MAX_LEVELS} (scales 1.0 down to 0.6)")
    if reduction < 1 or channels // reduction < 1:
        problems.append(f"pa_reduction={reduction} leaves no key channels for {channels} channels")
    if patch < 1 or patch % 2 == 0:
        problems.append(f"pa_patch={patch} must be odd")
    if window < 1:
        problems.append(f"pa_window={window} must be positive")
    return problems


# --- the hyper-parameters that place the block in a backbone ------------------------------------

#: Hyper-parameters a backbone family adds: ``pa_after`` 0 means no pyramid attention, k places
#: it after body block k; the others configure it.
HYPERPARAMETERS: Mapping[str, type] = {
    "pa_after": int, "pa_levels": int, "pa_reduction": int, "pa_patch": int, "pa_window": int,
}
#: PANet's levels, reduction and patch; the smallest window of the searched ones.
DEFAULTS: Mapping[str, Any] = {
    "pa_after": 0, "pa_levels": 5, "pa_reduction": 8, "pa_patch": 3, "pa_window": 16,
}
MINIMUM: Mapping[str, int] = {"pa_after": 0}


def check_placement(config: Mapping[str, Any], channels: int, blocks: int,
                    blocks_text: str) -> list[str]:
    """Messages for a config's ``pa_*`` values in a backbone of ``blocks`` body blocks, which
    ``blocks_text`` (e.g. ``"n_blocks=6"``) names in messages.

    With ``pa_after`` 0 the other ``pa_*`` values must keep their defaults: they would not change
    the network, and two configs of one network would be trained twice by a search.
    """
    after = config["pa_after"]
    if after == 0:
        unused = [f"{k}={config[k]}" for k in HYPERPARAMETERS if k != "pa_after" and config[k] != DEFAULTS[k]]
        if unused:
            verb, it = ("has", "it") if len(unused) == 1 else ("have", "them")
            return [f"{', '.join(unused)} {verb} no effect with pa_after=0 (no pyramid attention): "
                    f"leave {it} at the default, or search pyramid attention in a branch of its own"]
        return []
    problems = []
    if after > blocks:
        problems.append(f"pa_after={after} exceeds the number of blocks ({blocks_text})")
    problems += check_pyramid_attention(channels, config["pa_levels"], config["pa_reduction"],
                                        config["pa_patch"], config["pa_window"])
    return problems


def from_config(config: Mapping[str, Any], channels: int) -> PyramidAttention | None:
    """The block a validated config asks for, or None with ``pa_after`` 0."""
    if not config["pa_after"]:
        return None
    return PyramidAttention(channels, config["pa_levels"], config["pa_reduction"],
                            config["pa_patch"], config["pa_window"])


def run_blocks(blocks: nn.Sequential, x: torch.Tensor, after: int,
               attention: nn.Module | None) -> torch.Tensor:
    """``blocks(x)`` with ``attention`` applied after block ``after`` (1-based) when given.

    The block stays outside the Sequential so the blocks keep their state_dict names (released
    weights load unchanged).
    """
    if attention is None:
        return blocks(x)
    for i, block in enumerate(blocks, start=1):
        x = block(x)
        if i == after:
            x = attention(x)
    return x
