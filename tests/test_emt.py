"""EMT: released sizes and cost, shift rules, shapes, config checks and the released weights."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from nas_sr.cost import count_flops, count_parameters
from nas_sr.models import ConfigError, build_model, canonical_config, get_family, preset_config
from nas_sr.models.weights import load_weights, read_state_dict

# Authors' network (spec): total parameters (71,280 frozen shift-mask elements and 24 MeanShift
# values included), trainable ones, fvcore GFLOPs and conv+matmul GFLOPs at ~1280x720 output.
RELEASED = {2: (741_876, 670_572, 256.69, 255.36), 3: (749_991, 678_687, 116.17, 115.58),
            4: (761_352, 690_048, 65.53, 65.20)}
OUTPUT = {2: (1280, 720), 3: (1281, 720), 4: (1280, 720)}
# Released weights under the protocol (RGB LR by MATLAB bicubic, float Y, whole images, fp32).
TARGETS = {(2, "Set5"): (38.2901, 0.9615), (3, "Set5"): (34.7934, 0.9303),
           (4, "Set5"): (32.6391, 0.9003), (4, "Set14"): (28.9680, 0.7901)}
# CPU-heavy cases (x4 Set5 is ~40 G multiply-adds; x4 Set14 ~6x and x2 Set5 ~4x that).
SLOW = {(2, "Set5"), (3, "Set5"), (4, "Set14")}


pytestmark = pytest.mark.usefixtures("one_torch_thread")


def emt(scale: int, **overrides) -> torch.nn.Module:
    return build_model({"family": "emt", "scale": scale, **overrides})


def small(**overrides) -> dict:
    return {"family": "emt", "scale": 2, "dim": 30, "n_blocks": 1, "n_layers": 3, "num_heads": 1,
            "window_long": 8, "window_short": 2, **overrides}


@pytest.mark.parametrize("scale", [2, 3, 4])
def test_released_parameter_counts(scale):
    model = emt(scale)
    trainable = sum(p.numel() for p in model.parameters() if p.requires_grad)
    assert (count_parameters(model), trainable) == RELEASED[scale][:2]


@pytest.mark.parametrize("scale", [2, 3, 4])
@pytest.mark.slow
def test_conv_matmul_flops_at_720p(scale):
    # torch's counter (conv/linear/matmul only) runs on meta tensors, so full size costs nothing.
    from torch.utils.flop_counter import FlopCounterMode

    width, height = OUTPUT[scale][0] // scale, OUTPUT[scale][1] // scale
    model = emt(scale).to("meta").eval()
    with FlopCounterMode(display=False) as counter, torch.no_grad():
        out = model(torch.zeros(1, 3, height, width, device="meta"))
    assert out.shape == (1, 3, 720, OUTPUT[scale][0])
    assert counter.get_total_flops() / 2e9 == pytest.approx(RELEASED[scale][3], abs=0.01)


@pytest.mark.parametrize("scale", [pytest.param(2, marks=pytest.mark.slow),
                                   pytest.param(3, marks=pytest.mark.slow), 4])
@pytest.mark.slow
def test_fvcore_flops_at_720p(scale):
    # A real forward pass at full size: window padding makes the count non-linear in the size.
    # Measured: x2 256.69 G, x3 116.17 G, x4 65.53 G, with 4.11 G (x4) of frozen shift convs.
    gflops = count_flops(emt(scale), OUTPUT[scale], scale, 3) / 1e9
    assert gflops == pytest.approx(RELEASED[scale][2], rel=0.03)


@pytest.mark.parametrize("scale", [2, 3, 4])
@pytest.mark.slow
def test_output_size_for_odd_inputs(scale):
    with torch.no_grad():
        out = emt(scale).eval()(torch.rand(1, 3, 61, 47) * 255)
    assert out.shape == (1, 3, 61 * scale, 47 * scale)


@pytest.mark.parametrize("overrides", [{}, {"n_gtls": 0}, {"n_gtls": 3, "mlp_ratio": 1.5},
                                       {"window_long": 4, "window_short": 4, "num_heads": 3}])
def test_variants_run_on_tiny_and_odd_inputs(overrides):
    # 3x5 is smaller than a window: reflect padding then goes in steps.
    model = build_model(small(**overrides)).eval()
    with torch.no_grad():
        for size in ((3, 5), (13, 9)):
            assert model(torch.rand(1, 3, *size)).shape == (1, 3, 2 * size[0], 2 * size[1])


def test_shift_rules():
    from nas_sr.models.emt import _Shift

    x = torch.arange(10 * 4 * 6, dtype=torch.float32).view(1, 10, 4, 6)
    mixer = _Shift(10, interleaved=True, circular=True)(x)  # Pixel-Mixer: c mod 5, wraps around
    for c, (dy, dx) in enumerate([(0, 1), (0, -1), (1, 0), (-1, 0), (0, 0)] * 2):
        assert torch.equal(mixer[0, c], torch.roll(x[0, c], (-dy, -dx), dims=(0, 1)))
    mlp = _Shift(10, interleaved=False, circular=False)(x)  # ShiftConv: chunks of 2, zero borders
    assert torch.equal(mlp[0, 0, :, :-1], x[0, 0, :, 1:]) and not mlp[0, 0, :, -1].any()
    assert torch.equal(mlp[0, 3, :, 1:], x[0, 3, :, :-1]) and not mlp[0, 3, :, 0].any()
    assert torch.equal(mlp[0, 4, :-1], x[0, 4, 1:]) and torch.equal(mlp[0, 7, 1:], x[0, 7, :-1])
    assert torch.equal(mlp[0, 8:], x[0, 8:])


def test_defaults_preset_and_frozen_parameters():
    assert preset_config("emt") == {"family": "emt", "dim": 60, "n_blocks": 6, "n_layers": 6,
                                    "n_gtls": 2, "num_heads": 3, "mlp_ratio": 2.0,
                                    "window_long": 32, "window_short": 8}
    assert canonical_config({"family": "emt", "scale": 4})["color"] == "rgb"
    assert get_family("emt").input_range == 255.0
    frozen = [n for n, p in build_model(small()).named_parameters() if not p.requires_grad]
    assert all(".shift" in n or n.startswith("mean_") for n in frozen)
    assert len(frozen) == 4 + 3 * 2 + 1  # 2 MeanShift convs x 2, 3 MLPs x 2 shifts, 1 Pixel-Mixer


@pytest.mark.parametrize("overrides, message", [
    ({"dim": 36, "num_heads": 2}, r"dim=36 must be divisible by 5 \(five shift groups\)"),
    ({"dim": 50}, r"dim=50 must be divisible by 2\*num_heads=6"),
    ({"num_heads": 4}, r"dim=60 must be divisible by 2\*num_heads=8"),
    ({"mlp_ratio": 1.3}, r"dim\*mlp_ratio=78 must be a positive multiple of 5"),
    ({"mlp_ratio": 1.01}, r"dim\*mlp_ratio=60.6 must be a positive multiple of 5"),
    ({"n_gtls": 7}, r"n_gtls=7 must not exceed n_layers=6"),
    ({"window_long": 8, "window_short": 32}, r"window_short=32 must not exceed window_long=8"),
    ({"color": "y"}, r"color='y' is not one of \('rgb',\)"),
    ({"n_blocks": 0}, r"n_blocks=0 is below its minimum 1"),
])
def test_check_rejects_invalid_configs(overrides, message):
    with pytest.raises(ConfigError, match=message):
        canonical_config({"family": "emt", "scale": 4, **overrides})


def _released(shared: Path, scale: int) -> torch.nn.Module:
    path = shared / "weights" / "EMT" / f"EMT_LSR_x{scale}.pth"
    if not path.is_file():
        pytest.skip(f"{path} not found")
    model = emt(scale)
    built = model.state_dict()
    state = get_family("emt").convert_weights(read_state_dict(path, "params"))
    load_weights(model, state, source=str(path))
    # The frozen masks and MeanShift values we build are the ones the authors shipped.
    frozen = [n for n, p in model.named_parameters() if not p.requires_grad]
    assert len(frozen) == 4 + 6 * (4 + 12) and all(torch.equal(built[n], state[n]) for n in frozen)
    return model


@pytest.mark.shared
@pytest.mark.parametrize("scale", [2, 3, 4])
def test_released_weights_load_strictly(shared, scale):
    _released(shared, scale)


@pytest.mark.shared
@pytest.mark.parametrize("scale, dataset", [
    pytest.param(*key, marks=pytest.mark.slow) if key in SLOW else key for key in TARGETS])
@pytest.mark.slow
def test_released_weights_reproduce_psnr(shared, scale, dataset):
    from nas_sr.models.upscaler import torch_upscaler
    from nas_sr.protocol import evaluate_folder

    config = {"family": "emt", "scale": scale}
    upscale = torch_upscaler(_released(shared, scale), config)
    result = evaluate_folder(upscale, shared / "datasets" / dataset, scale, "rgb", "float")
    psnr, ssim = TARGETS[scale, dataset]
    assert result.psnr == pytest.approx(psnr, abs=0.02), result.psnr
    assert result.ssim == pytest.approx(ssim, abs=0.001), result.ssim
