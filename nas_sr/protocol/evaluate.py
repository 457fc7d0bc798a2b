"""The SR evaluation protocol: HR -> LR -> model -> uint8 -> Y -> border crop -> PSNR/SSIM.

Every step follows the SR literature (see the module docstrings of ``resize``, ``color``,
``metrics``); the one choice that differs between published tables, how Y is computed, is the
named setting ``y_convention`` and is recorded with every result.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Callable, Iterable, Literal, Sequence

import numpy as np

from nas_sr.protocol.color import rgb_to_y
from nas_sr.protocol.metrics import psnr, ssim
from nas_sr.protocol.resize import imresize

Color = Literal["y", "rgb"]
YConvention = Literal["float", "uint8"]
#: An upscaler takes an LR uint8 image (HxW for Y, HxWx3 for RGB) and returns its SR image
#: with values in [0, 255] (any dtype; it is clamped and rounded to uint8 by the protocol).
Upscaler = Callable[[np.ndarray], np.ndarray]


def mod_crop(image: np.ndarray, scale: int) -> np.ndarray:
    """Crop height and width down to multiples of ``scale`` (dropping the last rows/columns)."""
    h, w = image.shape[0] - image.shape[0] % scale, image.shape[1] - image.shape[1] % scale
    return image[:h, :w]


def make_lr(hr_rgb: np.ndarray, scale: int, color: Color) -> np.ndarray:
    """The LR input of a model: MATLAB bicubic downscaling of the mod-cropped HR.

    Y models get the downscaled uint8 Y plane, RGB models the downscaled RGB image.
    """
    hr = mod_crop(hr_rgb, scale)
    source = rgb_to_y(hr, rounded=True) if color == "y" else hr
    return imresize(source, 1 / scale)


def to_uint8(image: np.ndarray) -> np.ndarray:
    """Clamp to [0, 255] and round half up, as saving the SR image to PNG does."""
    if image.dtype == np.uint8:
        return image
    return np.clip(np.floor(np.asarray(image, dtype=np.float64) + 0.5), 0, 255).astype(np.uint8)


@dataclasses.dataclass(frozen=True)
class ImageScore:
    """Scores of one image."""

    name: str
    psnr: float
    ssim: float


@dataclasses.dataclass(frozen=True)
class Evaluation:
    """Mean PSNR/SSIM on Y over a set of images, with the settings that produced them."""

    dataset: str
    scale: int
    color: Color
    y_convention: YConvention
    psnr: float
    ssim: float
    images: tuple[ImageScore, ...]

    def as_dict(self) -> dict:
        return dataclasses.asdict(self)


def score_image(sr: np.ndarray, hr_rgb: np.ndarray, scale: int, y_convention: YConvention,
                with_ssim: bool = True) -> tuple[float, float]:
    """PSNR and SSIM on Y of one SR image (Y plane or RGB) against its HR RGB image."""
    hr = mod_crop(hr_rgb, scale)
    sr = to_uint8(sr)
    if sr.shape[:2] != hr.shape[:2]:
        raise ValueError(f"SR image is {sr.shape[1]}x{sr.shape[0]}, HR is {hr.shape[1]}x{hr.shape[0]}")
    rounded = y_convention == "uint8"
    hr_y = rgb_to_y(hr, rounded)
    sr_y = sr if sr.ndim == 2 else rgb_to_y(sr, rounded)
    if sr.ndim == 2 and not rounded:
        sr_y = sr.astype(np.float64)
    return psnr(sr_y, hr_y, scale), ssim(sr_y, hr_y, scale) if with_ssim else float("nan")


def evaluate(
    upscale: Upscaler,
    images: Sequence[tuple[str, np.ndarray]] | Iterable[tuple[str, np.ndarray]],
    scale: int,
    color: Color,
    y_convention: YConvention = "float",
    dataset: str = "",
    with_ssim: bool = True,
) -> Evaluation:
    """Evaluate an upscaler on (name, HR RGB uint8) images by the protocol.

    >>> import numpy as np
    >>> from nas_sr.protocol.resize import imresize
    >>> rng = np.random.default_rng(0)
    >>> hr = rng.integers(0, 256, (24, 20, 3), dtype=np.uint8)
    >>> result = evaluate(lambda lr: imresize(lr, 2), [("noise", hr)], scale=2, color="y",
    ...                   y_convention="uint8")
    >>> 9 < result.psnr < 15
    True
    """
    scores = []
    for name, hr in images:
        sr = upscale(make_lr(hr, scale, color))
        p, s = score_image(sr, hr, scale, y_convention, with_ssim)
        scores.append(ImageScore(name, p, s))
    if not scores:
        raise ValueError(f"no images to evaluate in {dataset or 'the given set'}")
    return Evaluation(
        dataset=dataset,
        scale=scale,
        color=color,
        y_convention=y_convention,
        psnr=float(np.mean([s.psnr for s in scores])),
        ssim=float(np.mean([s.ssim for s in scores])),
        images=tuple(scores),
    )


def evaluate_folder(upscale: Upscaler, folder: str | Path, scale: int, color: Color,
                    y_convention: YConvention = "float", with_ssim: bool = True) -> Evaluation:
    """Evaluate on every image of an HR folder (e.g. ``Set5``)."""
    from nas_sr.data.images import list_images, read_rgb

    folder = Path(folder)
    images = ((p.stem, read_rgb(p)) for p in list_images(folder))
    return evaluate(upscale, images, scale, color, y_convention, folder.name, with_ssim)


def matlab_bicubic(scale: int) -> Upscaler:
    """The published bicubic baseline: MATLAB ``imresize(LR, scale, 'bicubic')``."""
    return lambda lr: imresize(lr, scale)
