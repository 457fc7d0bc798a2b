"""Windowed pyramid attention: shapes, window independence, the PANet formulation, parameters,
FLOPs, and its placement in the VapSR, PAN and EMT backbones."""

from __future__ import annotations

import warnings

import pytest
import torch
import torch.nn.functional as F

from nas_sr.cost import count_parameters
from nas_sr.models import ConfigError, build_model, canonical_config, get_family
from nas_sr.models.pyramid_attention import (
    PyramidAttention,
    level_sizes,
    pyramid_attention_flops,
    pyramid_attention_parameters,
)
from nas_sr.models.spec import config_from_spec


pytestmark = pytest.mark.usefixtures("one_torch_thread")


def fvcore_flops(model: torch.nn.Module, x: torch.Tensor) -> int:
    with warnings.catch_warnings(), torch.no_grad():
        warnings.simplefilter("ignore")  # fvcore's import and torch.jit's tracer warn
        from fvcore.nn import FlopCountAnalysis

        analysis = FlopCountAnalysis(model.eval(), x)
        analysis.unsupported_ops_warnings(False)
        return int(analysis.total())


@pytest.mark.parametrize("levels, reduction, patch, window", [(5, 8, 3, 16), (1, 4, 1, 16), (3, 16, 3, 32),
                                                              (2, 8, 1, 64)])
@pytest.mark.parametrize("size", [(17, 23), (5, 3), (1, 1), (33, 70)])
def test_output_has_the_input_shape(levels: int, reduction: int, patch: int, window: int,
                                    size: tuple[int, int]) -> None:
    module = PyramidAttention(16, levels, reduction, patch, window).eval()
    with torch.no_grad():
        y = module(torch.rand(2, 16, *size))
    assert y.shape == (2, 16, *size) and torch.isfinite(y).all()


@pytest.mark.parametrize("patch", [1, 3])
@pytest.mark.parametrize("height, width", [(48, 48), (40, 37)])  # 3 x 3 windows; the last ones padded
def test_windows_are_independent(patch: int, height: int, width: int) -> None:
    module = PyramidAttention(8, levels=5, reduction=4, patch=patch, window=16).eval()
    x = torch.rand(1, 8, height, width)
    for wy, wx in [(0, 0), (1, 2), (2, 2)]:  # a full window, a partial one, the padded corner
        changed = x.clone()
        rows, cols = slice(16 * wy, min(16 * wy + 16, height)), slice(16 * wx, min(16 * wx + 16, width))
        changed[:, :, rows, cols] = torch.rand_like(changed[:, :, rows, cols])
        with torch.no_grad():
            diff = (module(changed) - module(x)).abs().amax(dim=(0, 1))
        inside = torch.zeros(height, width, dtype=torch.bool)
        inside[rows, cols] = True
        assert diff[inside].amax() > 1e-3
        assert torch.equal(diff[~inside], torch.zeros_like(diff[~inside])), f"window {wy},{wx} leaks"


def _panet_reference(module: PyramidAttention, x: torch.Tensor) -> torch.Tensor:
    """PANet's own formulation for an input that is one window: scores as a convolution of the
    query with the normalised key patches of every level, output as a transposed convolution of
    the scores with the value patches (then averaged over the p*p overlaps)."""
    p, pad = module.patch, module.patch // 2
    query = module.query(x)
    scores, values = [], []
    for size in level_sizes(x.shape[2], x.shape[3], module.levels):
        level = x if size == tuple(x.shape[2:]) else F.interpolate(x, size=size, mode="bicubic",
                                                                  align_corners=False)
        key, value = module.key(level), module.value(level)
        kernels = F.unfold(key, p, padding=pad)[0].t().reshape(-1, key.shape[1], p, p)
        norms = kernels.flatten(1).norm(dim=1).clamp_min(1e-4).view(-1, 1, 1, 1)
        scores.append(F.conv2d(query, kernels / norms, padding=pad))
        values.append(F.unfold(value, p, padding=pad)[0].t().reshape(-1, value.shape[1], p, p))
    attention = torch.softmax(10 * torch.cat(scores, dim=1), dim=1)
    out = F.conv_transpose2d(attention, torch.cat(values), padding=pad) / (p * p)
    return out + 0.1 * x


@pytest.mark.parametrize("levels, patch", [(1, 1), (1, 3), (3, 3), (5, 1)])
def test_matches_the_panet_formulation_within_one_window(levels: int, patch: int) -> None:
    module = PyramidAttention(12, levels=levels, reduction=4, patch=patch, window=16).eval()
    x = torch.randn(1, 12, 13, 16)  # smaller than the window: one 13 x 16 window
    with torch.no_grad():
        assert torch.allclose(module(x), _panet_reference(module, x), atol=1e-5)


def test_reduced_levels() -> None:
    assert level_sizes(16, 16, 1) == [(16, 16)]
    assert level_sizes(32, 8, 5) == [(32, 8), (28, 7), (25, 6), (22, 5), (19, 4)]
    assert level_sizes(1, 3, 5)[-1] == (1, 1)  # never empty
    x = torch.rand(1, 16, 32, 32)
    flops = [fvcore_flops(PyramidAttention(16, levels=n, window=16), x) for n in range(1, 6)]
    assert flops == sorted(flops) and len(set(flops)) == 5
    # One level: plain windowed attention over the window itself (a 0.9 level adds 196 of 256 keys).
    assert flops[0] == pyramid_attention_flops(16, 32, 32, levels=1)


@pytest.mark.parametrize("channels", [16, 24, 48])
@pytest.mark.parametrize("reduction", [4, 8, 16])
def test_parameter_count_formula(channels: int, reduction: int) -> None:
    key = channels // reduction
    expected = 2 * (channels * key + key + 1) + channels * channels + channels + 1
    assert pyramid_attention_parameters(channels, reduction) == expected
    for levels, patch, window in [(1, 1, 16), (5, 3, 64)]:  # the other knobs add no parameters
        module = PyramidAttention(channels, levels, reduction, patch, window)
        assert count_parameters(module) == expected


@pytest.mark.parametrize("patch, window", [(3, 16), (1, 32)])
def test_fvcore_flops_scale_linearly_with_area(patch: int, window: int) -> None:
    module = PyramidAttention(16, levels=5, reduction=8, patch=patch, window=window)
    base = fvcore_flops(module, torch.rand(1, 16, 32, 64))
    assert fvcore_flops(module, torch.rand(1, 16, 64, 64)) == 2 * base
    assert fvcore_flops(module, torch.rand(1, 16, 64, 128)) == 4 * base
    assert base == pyramid_attention_flops(16, 32, 64, 5, 8, patch, window)
    # A map smaller than the window is one window of its own size: no cost for padding.
    small = torch.rand(1, 16, 8, 8)
    assert fvcore_flops(module, small) == fvcore_flops(PyramidAttention(16, 5, 8, patch, 8), small)


def test_invalid_settings_are_rejected() -> None:
    with pytest.raises(ValueError, match="pa_levels=6 must be 1..5"):
        PyramidAttention(16, levels=6)
    with pytest.raises(ValueError, match="pa_patch=2 must be odd"):
        PyramidAttention(16, patch=2)
    with pytest.raises(ValueError, match="pa_reduction=32 leaves no key channels for 16 channels"):
        PyramidAttention(16, reduction=32)


def test_gradients_reach_every_parameter() -> None:
    module = PyramidAttention(8, levels=3, reduction=4, patch=3, window=16)
    module(torch.rand(2, 8, 20, 18)).square().mean().backward()
    assert all(p.grad is not None and p.grad.abs().sum() > 0 for p in module.parameters())


# --- placement in the backbones --------------------------------------------------------------

PA = {"pa_levels": 3, "pa_reduction": 4, "pa_patch": 3, "pa_window": 16}
# (config, width of the body, its number of blocks)
BACKBONES = [
    ({"family": "vapsr", "scale": 4, "num_feat": 24, "d_atten": 32, "num_block": 4}, 24, 4),
    ({"family": "pan", "scale": 3, "nf": 24, "unf": 16, "nb": 4}, 24, 4),
    ({"family": "emt", "scale": 2, "dim": 30, "n_blocks": 3, "n_layers": 2, "n_gtls": 1, "num_heads": 1,
      "window_long": 8, "window_short": 4}, 30, 3),
]


@pytest.mark.parametrize("config, width, blocks", BACKBONES, ids=lambda v: v["family"] if isinstance(v, dict) else "")
def test_backbones_place_it_after_the_chosen_block(config: dict, width: int, blocks: int) -> None:
    plain = build_model(config)
    for after in (1, blocks):
        model = build_model({**config, "pa_after": after, **PA}).eval()
        assert count_parameters(model) == count_parameters(plain) + pyramid_attention_parameters(width, 4)
        body = model.body if config["family"] == "emt" else model.blocks
        calls: list[str] = []
        for i, block in enumerate(body, start=1):
            block.register_forward_hook(lambda *_, i=i: calls.append(f"block{i}"))
        model.pyramid.register_forward_hook(lambda *_: calls.append("pyramid"))
        with torch.no_grad():
            y = model(torch.rand(1, 3, 11, 7) * get_family(config["family"]).input_range)
        assert y.shape == (1, 3, 11 * config["scale"], 7 * config["scale"])
        assert calls.index("pyramid") == after and calls.count("pyramid") == 1
        # Names of the blocks stay those of the network without it (released weights load).
        state = model.state_dict()
        assert [k for k in state if not k.startswith("pyramid.")] == list(plain.state_dict())
        assert list(get_family(config["family"]).convert_weights(state)) == list(state)


@pytest.mark.parametrize("preset, scale", [("vapsr", 2), ("vapsr-s", 4), ("pan", 4), ("emt", 4)])
def test_presets_have_no_pyramid_attention(preset: str, scale: int) -> None:
    config = canonical_config(config_from_spec(preset, scale))
    assert config["pa_after"] == 0 and build_model(config).pyramid is None


@pytest.mark.parametrize("config, message", [
    ({"family": "vapsr", "scale": 2, "pa_after": 21},
     "pa_after=21 exceeds the number of blocks (num_block=20 as released at x2)"),
    ({"family": "vapsr", "scale": 4, "num_block": 6, "pa_after": 7},
     "pa_after=7 exceeds the number of blocks (num_block=6)"),
    ({"family": "pan", "scale": 4, "pa_after": 17}, "pa_after=17 exceeds the number of blocks (nb=16)"),
    ({"family": "emt", "scale": 4, "pa_after": 7}, "pa_after=7 exceeds the number of blocks (n_blocks=6)"),
    ({"family": "vapsr", "scale": 4, "pa_after": -1}, "pa_after=-1 is below its minimum 0"),
    ({"family": "pan", "scale": 4, "pa_levels": 3}, "pa_levels=3 has no effect with pa_after=0"),
    ({"family": "emt", "scale": 4, "pa_window": 32, "pa_patch": 1},
     "pa_patch=1, pa_window=32 have no effect with pa_after=0"),
    ({"family": "pan", "scale": 4, "pa_after": 8, "pa_levels": 6}, "pa_levels=6 must be 1..5"),
    ({"family": "vapsr", "scale": 4, "pa_after": 8, "pa_patch": 2}, "pa_patch=2 must be odd"),
    ({"family": "pan", "scale": 4, "nf": 24, "pa_after": 8, "pa_reduction": 32},
     "pa_reduction=32 leaves no key channels for 24 channels"),
    ({"family": "emt", "scale": 4, "pa_after": 2, "pa_window": 0}, "pa_window=0 is below its minimum 1"),
])
def test_invalid_placements_are_rejected(config: dict, message: str) -> None:
    with pytest.raises(ConfigError, match="^" + config["family"]) as info:
        canonical_config(config)
    assert message in str(info.value)
