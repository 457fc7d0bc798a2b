"""The SR evaluation protocol against its definition and the published bicubic table."""

from __future__ import annotations

import numpy as np
import pytest

from nas_sr.protocol import (
    evaluate_folder,
    imresize,
    luma,
    make_lr,
    matlab_bicubic,
    mod_crop,
    psnr,
    rgb_to_y,
    score_image,
    ssim,
    to_uint8,
)
from nas_sr.protocol.resize import _contributions


def test_downscale_weights_are_the_stretched_cubic_kernel():
    # Halving: output sample 1 (1-based) sits at input coordinate 1.5, between pixels 1 and 2;
    # the kernel is cubic(x/2)/2 over 8 taps, and the taps left of the image mirror it.
    weights, indices = _contributions(in_length=8, out_length=4, scale=0.5)
    distances = np.array([3.5, 2.5, 1.5, 0.5, 0.5, 1.5, 2.5, 3.5]) / 2
    expected = np.where(distances > 1, -0.5 * distances**3 + 2.5 * distances**2 - 4 * distances + 2,
                        1.5 * distances**3 - 2.5 * distances**2 + 1)
    row = weights[0][np.nonzero(weights[0])]
    assert row.sum() == pytest.approx(1.0)
    np.testing.assert_allclose(row, expected / expected.sum(), atol=1e-12)
    # Symmetric padding: 1-based taps -2, -1, 0 read pixels 3, 2, 1 (0-based 2, 1, 0).
    assert list(indices[0][np.nonzero(weights[0])][:4]) == [2, 1, 0, 0]


def test_uint8_input_is_rounded_after_each_pass():
    rng = np.random.default_rng(1)
    image = rng.integers(0, 256, (40, 36), dtype=np.uint8)
    per_pass = imresize(image, 1 / 3)
    once = to_uint8(imresize(image.astype(np.float64), 1 / 3))
    assert per_pass.dtype == np.uint8 and per_pass.shape == (14, 12)
    # MATLAB rounds the intermediate image: the results differ in some pixels, by at most 1.
    differ = per_pass != once
    assert 0 < differ.mean() < 0.5
    assert np.abs(per_pass.astype(int) - once.astype(int)).max() == 1


def test_upscaling_keeps_constant_and_linear_images():
    assert np.all(imresize(np.full((5, 7), 100, np.uint8), 4) == 100)
    ramp = np.tile(np.arange(16, dtype=np.float64), (16, 1))
    up = imresize(ramp, 2)
    # Cubic convolution reproduces linear functions away from the mirrored border.
    np.testing.assert_allclose(up[:, 4:-4], np.tile(np.arange(32) / 2 - 0.25, (32, 1))[:, 4:-4], atol=1e-12)


def test_y_conventions():
    rgb = np.array([[[255, 0, 0], [0, 255, 0], [0, 0, 255]]], dtype=np.uint8)
    np.testing.assert_allclose(rgb_to_y(rgb, rounded=False)[0], [81.481, 144.553, 40.966])
    assert rgb_to_y(rgb, rounded=True)[0].tolist() == [81, 145, 41]
    grey = np.array([[0, 128, 255]], dtype=np.uint8)
    assert luma(grey, "uint8").tolist() == [[0, 128, 255]]  # a greyscale file is its own Y
    np.testing.assert_allclose(luma(grey, "float")[0], 16 + grey[0].astype(float) * 219 / 255)


def test_mod_crop_and_lr_sizes():
    hr = np.zeros((61, 47, 3), np.uint8)
    assert mod_crop(hr, 4).shape == (60, 44, 3)
    assert make_lr(hr, 4, "y").shape == (15, 11)
    assert make_lr(hr, 3, "rgb").shape == (20, 15, 3)


def test_psnr_border_and_ssim_identity():
    a = np.zeros((10, 10))
    b = a.copy()
    b[0, :] = 255  # only in the border
    assert psnr(a, b, border=1) == float("inf")
    assert psnr(a, b, border=0) == pytest.approx(10.0)
    rng = np.random.default_rng(0)
    image = rng.uniform(0, 255, (32, 32))
    assert ssim(image, image, border=2) == pytest.approx(1.0)
    assert ssim(image, image + rng.normal(0, 60, image.shape), border=2) < 0.8


def test_score_image_rejects_wrong_size():
    with pytest.raises(ValueError, match="SR image is 10x10, HR is 12x12"):
        score_image(np.zeros((10, 10)), np.zeros((12, 12, 3), np.uint8), 2, "float")


PUBLISHED_BICUBIC = {  # PSNR (dB) x2/x3/x4, the standard table of the SR literature
    "Set5": (33.66, 30.39, 28.42),
    "Set14": (30.24, 27.55, 26.00),
    "BSDS100": (29.56, 27.21, 25.96),
}


@pytest.mark.parametrize("dataset", list(PUBLISHED_BICUBIC))
@pytest.mark.slow
def test_published_bicubic_table(shared, dataset):
    for scale, published in zip((2, 3, 4), PUBLISHED_BICUBIC[dataset]):
        result = evaluate_folder(matlab_bicubic(scale), shared / "datasets" / dataset, scale, "y",
                                 y_convention="uint8", quantize=False,
                                 with_ssim=dataset == "Set5" and scale == 2)
        assert result.psnr == pytest.approx(published, abs=0.02), (dataset, scale, result.psnr)
        if dataset == "Set5" and scale == 2:
            assert result.ssim == pytest.approx(0.9299, abs=0.001)
