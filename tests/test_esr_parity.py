"""The edge-SR family against the official release: parameter counts, weights and PSNR."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from nas_sr import build_model, config_from_esr_id
from nas_sr.protocol.images import list_images, read_image
from nas_sr.models.upscaler import torch_upscaler
from nas_sr.models.weights import WeightsError, load_weights, read_state_dict
from nas_sr.protocol import evaluate, imresize

# PSNR (dB) of the released weights under the protocol (uint8 Y), computed by an independent
# implementation of the protocol; the official table sits above these by a near-constant offset.
REFERENCE_PSNR = {
    "Bicubic_s2": (33.6285, 30.2194, 29.5459),
    "eSR-TM_s2_K7_C8": (35.6194, 31.7667, 30.7657),
    "eSR-MAX_s3_K5_C4": (31.0601, 28.0835, 27.6102),
    "eSR-TR_s4_K3_C16": (29.5654, 26.8427, 26.4609),
    "eSR-CNN_s2_C4_D5_S9": (36.3309, 32.2149, 31.1027),
    "ESPCN_s2_D12_S24": (36.4390, 32.3177, 31.1717),
    "FSRCNN_s3_D56_S12_M4": (32.6734, 29.2026, 28.2988),
    "eSR-TM_s4_K5_C14": (29.8320, 26.9871, 26.5776),
}
DATASETS = ("Set5", "Set14", "BSDS100")


def count(model: torch.nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())


def test_parameter_counts_match_the_table(esr_table):
    learned = [k for k in esr_table if not k.startswith("Bicubic")]
    assert len(learned) == 1182
    wrong = {k: (count(build_model(config_from_esr_id(k))), int(esr_table[k]["parameters"]))
             for k in learned}
    wrong = {k: v for k, v in wrong.items() if v[0] != v[1]}
    assert not wrong


@pytest.mark.parametrize("scale,released,table", [(2, 121, 104), (3, 225, 234), (4, 361, 416)])
def test_bicubic_rows(shared, esr_table, scale, released, table):
    # The table counts 26*s^2 (a 5x5 sub-pixel convolution with biases); the release holds
    # one (4s+3)^2 kernel, which is what the model has.
    model = build_model(config_from_esr_id(f"Bicubic_s{scale}"))
    assert count(model) == released and esr_table[f"Bicubic_s{scale}"]["parameters"] == table
    load_weights(model, read_state_dict(shared / "esr" / "model-files" / f"Bicubic_s{scale}.model"))


@pytest.mark.parametrize("scale", [2, 3, 4])
def test_bicubic_model_starts_as_matlab_bicubic(scale):
    rng = np.random.default_rng(scale)
    lr = rng.uniform(0, 255, (23, 19))
    with torch.no_grad():
        out = build_model({"family": "bicubic", "scale": scale})(torch.from_numpy(lr)[None, None].float())
    # Equal away from the border, where MATLAB mirrors the image and a convolution pads zeros.
    m = 3 * scale
    np.testing.assert_allclose(out[0, 0].double().numpy()[m:-m, m:-m], imresize(lr, scale)[m:-m, m:-m],
                               atol=2e-3)


@pytest.mark.parametrize("model_id", ["eSR-MAX_s2_K3_C2", "eSR-TR_s3_K5_C4", "eSR-CNN_s4_C2_D1_S3",
                                      "ESPCN_s3_D0_S9", "ESPCN_s4_D12_S24", "FSRCNN_s2_D6_S1_M1",
                                      "FSRCNN_s4_D56_S12_M4", "Bicubic_s3"])
def test_output_size_for_odd_inputs(model_id):
    config = config_from_esr_id(model_id)
    out = build_model(config)(torch.rand(1, 1, 61, 47))
    assert out.shape == (1, 1, 61 * config["scale"], 47 * config["scale"])


def test_mismatched_weights_name_the_problem(shared, tmp_path):
    model = build_model(config_from_esr_id("eSR-TM_s2_K7_C4"))
    path = shared / "esr" / "model-files" / "eSR-TM_s2_K7_C8.model"
    with pytest.raises(WeightsError, match=r"eSR-TM_s2_K7_C8.model do not fit the model: shape "
                                           r"mismatch filter.weight \(64, 1, 7, 7\) vs \(32, 1, 7, 7\)"):
        load_weights(model, read_state_dict(path), source=str(path))
    truncated = tmp_path / "cut.model"
    truncated.write_bytes(path.read_bytes()[:200])
    with pytest.raises(WeightsError, match="cut.model: not a readable PyTorch weights file"):
        read_state_dict(truncated)


@pytest.fixture(scope="module")
def benchmark_images(shared):
    return {name: [(p.stem, read_image(p)) for p in list_images(shared / "datasets" / name)]
            for name in DATASETS}


@pytest.mark.parametrize("model_id", list(REFERENCE_PSNR))
@pytest.mark.slow
def test_released_weights_reproduce_reference_psnr(shared, benchmark_images, model_id):
    config = config_from_esr_id(model_id)
    model = build_model(config)
    load_weights(model, read_state_dict(shared / "esr" / "model-files" / f"{model_id}.model"))
    upscale = torch_upscaler(model, config)
    for dataset, expected in zip(DATASETS, REFERENCE_PSNR[model_id]):
        result = evaluate(upscale, benchmark_images[dataset], config["scale"], "y",
                          y_convention="uint8", with_ssim=False)
        assert result.psnr == pytest.approx(expected, abs=0.01), (dataset, result.psnr)
