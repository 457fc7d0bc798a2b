"""PSNR and SSIM on one channel with the border crop of the SR literature."""

from __future__ import annotations

import numpy as np


def crop_border(image: np.ndarray, border: int) -> np.ndarray:
    """Drop ``border`` pixels from each side."""
    return image[border:-border, border:-border] if border else image


def psnr(sr: np.ndarray, hr: np.ndarray, border: int) -> float:
    """PSNR in dB of two single-channel images with values in [0, 255].

    >>> import numpy as np
    >>> a = np.zeros((8, 8)); b = a.copy(); b[4, 4] = 16
    >>> round(psnr(a, b, border=0), 4)
    42.1102
    """
    if sr.shape != hr.shape:
        raise ValueError(f"psnr: shapes differ: {sr.shape} vs {hr.shape}")
    diff = crop_border(sr.astype(np.float64), border) - crop_border(hr.astype(np.float64), border)
    mse = float(np.mean(diff * diff))
    return float("inf") if mse == 0 else float(10 * np.log10(255.0**2 / mse))


def ssim(sr: np.ndarray, hr: np.ndarray, border: int) -> float:
    """SSIM of Wang et al. (MATLAB ``ssim_index``): 11x11 Gaussian window, sigma 1.5, L = 255."""
    from skimage.metrics import structural_similarity

    return float(
        structural_similarity(
            crop_border(sr.astype(np.float64), border),
            crop_border(hr.astype(np.float64), border),
            gaussian_weights=True,
            sigma=1.5,
            use_sample_covariance=False,
            data_range=255.0,
        )
    )
