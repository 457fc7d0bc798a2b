"""The SR evaluation protocol: HR -> LR -> model -> uint8 -> Y -> border crop -> PSNR/SSIM.

Every step follows the SR literature (see the module docstrings of ``resize``, ``color``,
``metrics``). The one choice that differs between published tables, how Y is computed, is the
named setting ``y_convention``, recorded with every result:

- ``"uint8"`` (MATLAB, the edge-SR table and the classic bicubic table): Y = ``rgb2ycbcr`` of
  uint8 RGB, rounded; a greyscale file (e.g. Set14 ``bridge``) is its own Y, as the MATLAB test
  scripts convert colour images only (this alone moves Set14 bicubic x2 from 30.31 to 30.24).
- ``"float"`` (BasicSR: VapSR, EMT, PAN, HiT-SR tables): Y unrounded from uint8 RGB; a greyscale
  file is read as three equal channels first, as ``cv2.imread`` does.
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


def luma(image: np.ndarray, y_convention: YConvention) -> np.ndarray:
    """Y of an image by a convention (see the module docstring): uint8 or float64."""
    if image.ndim == 2:
        if y_convention == "uint8":
            return image
        image = np.repeat(image[:, :, None], 3, axis=2)
    return rgb_to_y(image, rounded=y_convention == "uint8")


def make_lr(hr: np.ndarray, scale: int, color: Color, y_convention: YConvention = "uint8",
            quantize: bool = True) -> np.ndarray:
    """The LR input of a model: MATLAB bicubic downscaling of the mod-cropped HR.

    Y models get the downscaled uint8 Y plane, RGB models the downscaled RGB image.
    ``quantize=False`` downscales in floating point and leaves the LR unrounded.
    """
    hr = mod_crop(hr, scale)
    if color == "y":
        source = luma(hr, y_convention)
        source = source if source.dtype == np.uint8 else to_uint8(source)
    else:
        source = hr if hr.ndim == 3 else np.repeat(hr[:, :, None], 3, axis=2)
    return imresize(source if quantize else source.astype(np.float64), 1 / scale)


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
    quantize: bool
    psnr: float
    ssim: float
    images: tuple[ImageScore, ...]

    def as_dict(self) -> dict:
        return dataclasses.asdict(self)


def score_image(sr: np.ndarray, hr: np.ndarray, scale: int, y_convention: YConvention,
                with_ssim: bool = True, quantize: bool = True) -> tuple[float, float]:
    """PSNR and SSIM on Y of one SR image (Y plane or RGB) against its HR image.

    ``quantize=False`` scores the SR values as they are instead of rounding them to uint8.
    """
    hr = mod_crop(hr, scale)
    sr = to_uint8(sr) if quantize else np.asarray(sr, dtype=np.float64)
    if sr.shape[:2] != hr.shape[:2]:
        raise ValueError(f"SR image is {sr.shape[1]}x{sr.shape[0]}, HR is {hr.shape[1]}x{hr.shape[0]}")
    hr_y = luma(hr, y_convention)
    sr_y = sr if sr.ndim == 2 else luma(sr, y_convention)
    return psnr(sr_y, hr_y, scale), ssim(sr_y, hr_y, scale) if with_ssim else float("nan")


def evaluate(
    upscale: Upscaler,
    images: Sequence[tuple[str, np.ndarray]] | Iterable[tuple[str, np.ndarray]],
    scale: int,
    color: Color,
    y_convention: YConvention = "float",
    dataset: str = "",
    with_ssim: bool = True,
    quantize: bool = True,
) -> Evaluation:
    """Evaluate an upscaler on (name, HR uint8 image) pairs by the protocol.

    ``quantize=False`` is the float pipeline of the classic bicubic table: LR and SR are
    neither rounded nor clamped (the upscaler then receives float LR images).

    >>> import numpy as np
    >>> from nas_sr.protocol.resize import imresize
    >>> ramp = np.add.outer(np.arange(24), np.arange(20)).astype(np.uint8) * 5
    >>> hr = np.stack([ramp, ramp, ramp], axis=2)
    >>> result = evaluate(matlab_bicubic(2), [("ramp", hr)], scale=2, color="y",
    ...                   y_convention="uint8")
    >>> round(result.psnr, 2), result.images[0].name
    (53.99, 'ramp')
    """
    scores = []
    for name, hr in images:
        sr = upscale(make_lr(hr, scale, color, y_convention, quantize))
        p, s = score_image(sr, hr, scale, y_convention, with_ssim, quantize)
        scores.append(ImageScore(name, p, s))
    if not scores:
        raise ValueError(f"no images to evaluate in {dataset or 'the given set'}")
    return Evaluation(
        dataset=dataset,
        scale=scale,
        color=color,
        y_convention=y_convention,
        quantize=quantize,
        psnr=float(np.mean([s.psnr for s in scores])),
        ssim=float(np.mean([s.ssim for s in scores])),
        images=tuple(scores),
    )


def evaluate_folder(upscale: Upscaler, folder: str | Path, scale: int, color: Color,
                    y_convention: YConvention = "float", with_ssim: bool = True,
                    quantize: bool = True) -> Evaluation:
    """Evaluate on every image of an HR folder (e.g. ``Set5``)."""
    from nas_sr.protocol.images import list_images, read_image

    folder = Path(folder)
    images = ((p.stem, read_image(p)) for p in list_images(folder))
    return evaluate(upscale, images, scale, color, y_convention, folder.name, with_ssim, quantize)


def matlab_bicubic(scale: int) -> Upscaler:
    """MATLAB ``imresize(LR, scale, 'bicubic')`` as an upscaler.

    The published bicubic table is this upscaler on Y with ``y_convention="uint8"`` and
    ``quantize=False``.
    """
    return lambda lr: imresize(lr, scale)
