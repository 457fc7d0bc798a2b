"""HiT-SR (SIR/SNG/SRF): released sizes and cost, shapes, config checks, weight names, training."""

from __future__ import annotations

import math
from pathlib import Path

import pytest
import torch

from nas_sr.cost import count_flops, count_parameters
from nas_sr.models import ConfigError, build_model, canonical_config, get_family, preset_config

# Authors' networks (spec table): parameters and fvcore GFLOPs at ~1280x720 output.
RELEASED = {("sir", 2): (772_064, 209.89), ("sir", 3): (780_179, 94.19), ("sir", 4): (791_540, 53.84),
            ("sng", 2): (1_012_584, 213.87), ("sng", 3): (1_020_699, 99.48),
            ("sng", 4): (1_032_060, 57.73),
            ("srf", 2): (846_944, 226.48), ("srf", 3): (855_059, 101.57), ("srf", 4): (866_420, 57.99)}
OUTPUT = {2: (1280, 720), 3: (1281, 720), 4: (1280, 720)}
SEARCH_SPACE = Path(__file__).resolve().parents[1] / "search_spaces" / "hitsr.yaml"


pytestmark = pytest.mark.usefixtures("one_torch_thread")


def small(**overrides) -> dict:
    """A cheap config that still has every kind of window: below, at and above the base."""
    return {"family": "hitsr", "scale": 2, "embed_dim": 24, "n_groups": 1, "depth": 4,
            "num_heads": 2, "base_window": 4, "window_ratios": "0.5,1,2,4", **overrides}


@pytest.mark.parametrize("variant, scale", sorted(RELEASED))
def test_released_parameter_counts(variant, scale):
    model = build_model({"family": "hitsr", "scale": scale, **preset_config(f"hit-{variant}")})
    assert count_parameters(model) == RELEASED[variant, scale][0]


@pytest.mark.slow
@pytest.mark.parametrize("variant", ["sir", "sng", "srf"])
def test_fvcore_flops_at_720p(variant, scale=4):
    # A real forward pass at full size: ~15-20 s and 1.5 GB each at x4 on one thread; x3 and x2
    # take ~25 s and ~1-1.5 min, so they were measured once by hand: SIR 209.89 / 94.19 G,
    # SNG 213.87 / 99.48 G, SRF 226.48 / 101.57 G (x2 / x3), all equal to the table.
    model = build_model({"family": "hitsr", "scale": scale, "variant": variant})
    gflops = count_flops(model, OUTPUT[scale], scale, 3) / 1e9
    assert gflops == pytest.approx(RELEASED[variant, scale][1], abs=0.01)


def expected_flops(config: dict, width: int, height: int) -> int:
    """fvcore's multiply-adds for the authors' op list: convs, linears, matmuls, LayerNorms (5/elem).

    Each block pads the map to a multiple of its window (twice it for SNG) and runs the DFE,
    the correlation and the projection on the padded map; LayerNorms and the FFN see the
    unpadded one; the position-bias MLP runs on the (2w-1)^2 offsets.
    """
    c, heads, s = config["embed_dim"], config["num_heads"], config["scale"]
    m, p, hid = c // 5, c // 16, int(c * config["mlp_ratio"])
    hw, variant, base = width * height, config["variant"], config["base_window"]
    ratios = [float(r) for r in config["window_ratios"].split(",")][:config["depth"]]
    group = hw * c * c * 9  # the RHTB's conv
    for window in (round(base * r) for r in ratios):
        multiple = 2 * window if variant == "sng" else window
        n = math.ceil(height / multiple) * multiple * math.ceil(width / multiple) * multiple
        g, windows = min(window, base), n // window ** 2
        group += n * (c * m + m * m * 9 + m * c + c * c)  # DFE
        group += n * c // 2  # pooling v onto the g x g grid
        group += n * c * g * g  # q v'^T and corr v'
        offsets = (2 * window - 1) ** 2
        group += offsets * (2 * p + 2 * p * p + p * heads) + 3 * offsets * p * 5  # position MLP
        group += n * c * c // 2  # channel correlation: q^T v and corr v^T
        group += n * c * c  # proj
        if variant == "sng":  # unigram conv, 2 x (qkv, q k^T, attn v, proj) on 4 tokens, merge
            group += n * c + windows * (2 * (4 * c * c + 16 * c) + c * c)
        group += hw * (2 * c * 5 + 2 * c * hid) + (hw * hid * 25 if variant == "srf" else 0)
    # head conv, embedding LayerNorm, RHTBs, LayerNorm, body conv, tail
    return (hw * 3 * c * 9 + hw * c * 5 + config["n_groups"] * group + hw * c * 5
            + hw * c * c * 9 + hw * c * 3 * s * s * 9)


@pytest.mark.parametrize("config", [
    pytest.param(small(variant="sir", n_groups=2), id="small-sir"),
    pytest.param(small(variant="sng", scale=3), id="small-sng"),
    pytest.param(small(variant="srf", scale=4, mlp_ratio=1.5), id="small-srf"),
    pytest.param({"family": "hitsr", "scale": 4, "variant": "sir"}, id="released-sir"),
])
@pytest.mark.slow
def test_fvcore_flops_follow_the_authors_op_count(config):
    # Small odd sizes exercise the padding; the released configs match the table at 720p (slow).
    config = canonical_config(config)
    width, height = 19, 13
    flops = count_flops(build_model(config), (width * config["scale"], height * config["scale"]),
                        config["scale"], 3)
    assert flops == expected_flops(config, width, height)


@pytest.mark.parametrize("variant", ["sir", "sng", "srf"])
def test_released_output_size_for_odd_input(variant):
    # Windows up to 64 (128 padded for SNG) on a 19x13 map: reflect padding goes in steps.
    model = build_model({"family": "hitsr", "scale": 3, "variant": variant}).eval()
    with torch.no_grad():
        out = model(torch.rand(1, 3, 19, 13))
    assert out.shape == (1, 3, 57, 39) and torch.isfinite(out).all()


@pytest.mark.parametrize("variant", ["sir", "sng", "srf"])
@pytest.mark.parametrize("scale", [2, 3, 4])
def test_output_size_for_odd_inputs(variant, scale):
    model = build_model(small(variant=variant, scale=scale)).eval()
    with torch.no_grad():
        for size in ((61, 47), (3, 5), (1, 2)):  # 1-pixel sides cannot reflect: replicated
            out = model(torch.rand(1, 3, *size))
            assert out.shape == (1, 3, size[0] * scale, size[1] * scale)


def test_position_bias_equals_the_authors_gather_and_mean():
    # The authors gather an (L, L, heads) table of the MLP's biases and average it over each
    # cell of keys; we box-filter the offset grid instead.
    scc = build_model(small(window_ratios="4", depth=1, base_window=2)).groups[0].blocks[0].scc
    window, cells = 8, 2
    offsets = torch.arange(1 - window, window, dtype=torch.float32)
    table = scc.pos(torch.stack(torch.meshgrid(offsets, offsets, indexing="ij"), -1).view(-1, 2))
    ys, xs = torch.meshgrid(torch.arange(window), torch.arange(window), indexing="ij")
    dy = ys.flatten()[:, None] - ys.flatten()[None]
    dx = xs.flatten()[:, None] - xs.flatten()[None]
    full = table[(dy + window - 1) * (2 * window - 1) + dx + window - 1]  # (L, L, heads)
    cell = (ys // (window // cells) * cells + xs // (window // cells)).flatten()
    expected = torch.stack([full[:, cell == j].mean(1) for j in range(cells * cells)], 1)
    assert torch.allclose(scc._bias(), expected.permute(2, 0, 1), atol=1e-6)


def test_ngram_context_reaches_the_neighbouring_windows():
    from nas_sr.models.hitsr import _NGramContext

    torch.manual_seed(0)
    context = _NGramContext(dim=8, window=2, heads=2).eval()
    x = torch.rand(1, 8, 8, 8)
    base = context(x)
    assert base.shape == (1, 8, 4, 4)
    changed = x.clone()
    changed[:, :, 2:4, 2:4] += 1.0  # window (1, 1)
    diff = (context(changed) - base).abs().sum(dim=(0, 1)) > 1e-6
    # Forward context of (i, j) sees windows i..i+1, j..j+1; backward context i-1..i, j-1..j.
    assert diff.nonzero().tolist() == [[i, j] for i in (0, 1, 2) for j in (0, 1, 2)]


def test_defaults_and_presets():
    released = {"variant": "sir", "embed_dim": 60, "n_groups": 4, "depth": 6, "num_heads": 6,
                "base_window": 8, "window_ratios": "0.5,1,2,4,6,8", "mlp_ratio": 2.0}
    for variant in ("sir", "sng", "srf"):
        assert preset_config(f"hit-{variant}") == {"family": "hitsr", **released, "variant": variant}
    assert canonical_config({"family": "hitsr", "scale": 2})["color"] == "rgb"
    assert get_family("hitsr").input_range == 1.0
    # Extra ratios beyond depth are unused, as in the authors' code.
    assert len(build_model(small(depth=2)).groups[0].blocks) == 2


@pytest.mark.parametrize("overrides, message", [
    ({"variant": "sgn"}, r"variant='sgn' is not one of sir, sng, srf"),
    ({"embed_dim": 12, "num_heads": 1}, r"embed_dim=12 must be at least 16"),
    ({"embed_dim": 50}, r"embed_dim=50 must be divisible by 2\*num_heads=12"),
    ({"num_heads": 4, "variant": "sng"}, r"embed_dim=60 must be divisible by 2\*num_heads=8"),
    ({"mlp_ratio": 0.01}, r"mlp_ratio=0.01 gives an FFN without hidden units"),
    ({"window_ratios": "1,2,x"}, r"window_ratios='1,2,x' must be comma-separated numbers"),
    ({"window_ratios": "0.50,1,2,4,6,8"}, r"must be written '0.5,1,2,4,6,8'"),
    ({"window_ratios": "1, 2,4,6,8,8"}, r"must be written '1,2,4,6,8,8'"),
    ({"depth": 7}, r"depth=7 exceeds the 6 window ratios"),
    ({"window_ratios": "0.5,1,1.5,4,6,8"}, r"base_window\*1.5=12 must be at most base_window=8 "
                                           r"or a multiple of it"),
    ({"window_ratios": "0.3,1,2,4,6,8"}, r"base_window\*0.3=2.4 is not a whole number"),
    ({"window_ratios": "nan,1,2,4,6,8"}, r"base_window\*nan=nan is not a whole number"),
    ({"color": "y"}, r"color='y' is not one of \('rgb',\)"),
    ({"n_groups": 0}, r"n_groups=0 is below its minimum 1"),
    ({"window_ratios": 8}, r"window_ratios=8 is not of type str"),
])
def test_check_rejects_invalid_configs(overrides, message):
    with pytest.raises(ConfigError, match=message):
        canonical_config({"family": "hitsr", "scale": 4, **overrides})


def test_windows_below_the_base_need_not_divide_it():
    config = canonical_config(small(window_ratios="0.75,1,2,3", base_window=8, depth=4))
    with torch.no_grad():
        assert build_model(config).eval()(torch.rand(1, 3, 9, 7)).shape == (1, 3, 18, 14)


def test_authors_weight_names_are_mapped():
    # Names as in the authors' state_dicts (HiT_SNG / HiT_SRF, BasicSR 'params').
    block = "layers.1.residual_group.blocks.2."
    names = {
        "conv_first.weight": "head.weight",
        "patch_embed.norm.bias": "embed_norm.bias",
        "layers.1.conv.weight": "groups.1.conv.weight",
        "conv_after_body.bias": "body_conv.bias",
        "upsample.0.weight": "tail.weight",
        "norm.weight": "norm.weight",
        block + "norm1.weight": "groups.1.blocks.2.norm1.weight",
        block + "correlation.qv.conv.2.weight": "groups.1.blocks.2.scc.dfe.conv.2.weight",
        block + "correlation.qv.linear.bias": "groups.1.blocks.2.scc.dfe.linear.bias",
        block + "correlation.proj.weight": "groups.1.blocks.2.scc.proj.weight",
        block + "correlation.spatial_linear.weight": "groups.1.blocks.2.scc.pool.weight",
        block + "correlation.pos.pos_proj.bias": "groups.1.blocks.2.scc.pos.0.bias",
        block + "correlation.pos.pos1.0.weight": "groups.1.blocks.2.scc.pos.1.weight",
        block + "correlation.pos.pos2.2.weight": "groups.1.blocks.2.scc.pos.6.weight",
        block + "correlation.pos.pos3.2.bias": "groups.1.blocks.2.scc.pos.9.bias",
        block + "correlation.ngram_window_partition.ngram_context.unigram_embed.weight":
            "groups.1.blocks.2.scc.ngram.unigram.weight",
        block + "correlation.ngram_window_partition.ngram_context.ngram_attn."
                "relative_position_bias_table": "groups.1.blocks.2.scc.ngram.attn.table",
        block + "correlation.ngram_window_partition.ngram_context.ngram_attn.qkv.weight":
            "groups.1.blocks.2.scc.ngram.attn.qkv.weight",
        block + "correlation.ngram_window_partition.ngram_context.merge.bias":
            "groups.1.blocks.2.scc.ngram.merge.bias",
        block + "mlp.fc1.weight": "groups.1.blocks.2.ffn.fc1.weight",
        block + "mlp.dwconv.depthwise_conv.0.weight": "groups.1.blocks.2.ffn.dwconv.weight",
    }
    dropped = block + "correlation.ngram_window_partition.ngram_context.ngram_attn.relative_position_index"
    state = {name: torch.zeros(1) for name in [*names, dropped]}
    assert get_family("hitsr").convert_weights(state).keys() == set(names.values())
    own = build_model({"family": "hitsr", "scale": 4, "variant": "sng"}).state_dict()
    srf = build_model({"family": "hitsr", "scale": 4, "variant": "srf"}).state_dict()
    assert set(names.values()) <= own.keys() | srf.keys()
    assert get_family("hitsr").convert_weights(own).keys() == own.keys()  # ours pass unchanged


def test_brief_training_gives_finite_metrics():
    from nas_sr.data import load_bundled
    from nas_sr.train import TrainSettings, train

    photos = load_bundled("train")
    val = [(name, image[:48, :48]) for name, image in list(load_bundled("val"))[:2]]
    config = small(variant="srf", n_groups=2, depth=2)
    result = train(config, photos, {"val": val},
                   TrainSettings(max_steps=3, patch_size=16, batch_size=2, patches=16, threads=1))
    assert result.completed and result.steps == 3
    assert set(result.metrics) == {"psnr_val", "ssim_val"}
    assert all(math.isfinite(v) for v in result.metrics.values()) and math.isfinite(result.final_loss)


def test_search_space_loads_and_every_configuration_checks():
    from nas_sr.space import load_space

    space = load_space(SEARCH_SPACE)
    assert space.color == "rgb" and space.scales == (2, 3, 4)
    configs = list(space.enumerate())
    assert len(configs) == space.count() == len({str(sorted(c.items())) for c in configs})
    assert {c["variant"] for c in configs} == {"sir", "sng", "srf"}
    assert canonical_config({"scale": 4, **preset_config("hit-sir")}) in configs
