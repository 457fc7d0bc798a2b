"""Visual crops of a trial's network on a bundled photo: HR | bicubic | candidate, each with its PSNR.

The photo (one scikit-image ships, :mod:`nas_sr.data.bundled`) goes through the project's protocol
(:mod:`nas_sr.protocol`): MATLAB-exact bicubic LR, the network (or MATLAB bicubic) back up, uint8,
PSNR on Y with ``scale`` pixels cropped from the border over the whole photo. The crop shown is the
window where bicubic loses most (largest squared Y error), the same for all three images. Images
are PNG ``data:`` URIs. A Y network is shown in colour as SR demos show one: its Y plane (the one
scored) over the chroma of the bicubic upscale (BT.601 YCbCr, as the scoring's Y; scikit-image's
conversion); a grey photo stays grey.
"""

from __future__ import annotations

import base64
import dataclasses
import io
from typing import TYPE_CHECKING, Any, Mapping

import numpy as np

if TYPE_CHECKING:
    from torch import nn

#: Side of the square crop, in HR pixels.
CROP = 96
DEFAULT_PHOTO = "chelsea"


@dataclasses.dataclass(frozen=True)
class Crop:
    """One image of the strip: ``label``, PSNR on the whole photo (None for HR), PNG data URI."""

    label: str
    psnr: "float | None"
    uri: str


@dataclasses.dataclass(frozen=True)
class Crops:
    """The strip for one trial on ``photo``: crops and where they were cut (``box``: x, y, side)."""

    photo: str
    scale: int
    color: str
    box: tuple[int, int, int]
    crops: tuple[Crop, ...]
    note: str = ""


def bundled_photo(name: str) -> np.ndarray:
    """HR uint8 of a bundled photo by name; ValueError naming the known ones otherwise."""
    from nas_sr.data.bundled import BUNDLED, bundled_images

    for split in ("val", "train"):
        for photo, image in bundled_images(split):  # type: ignore[arg-type]
            if photo == name:
                return image
    raise ValueError(f"unknown photo {name!r} (expected one of {', '.join(sorted(BUNDLED))})")


def trial_crops(config: Mapping[str, Any], model: "nn.Module | None", photo: str = DEFAULT_PHOTO,
                hr: "np.ndarray | None" = None) -> Crops:
    """The strip for ``config`` (its ``scale`` and ``color``): with ``model`` None (no weights) only
    HR | bicubic.

    >>> strip = trial_crops({"family": "bicubic", "scale": 2, "color": "y"}, None)
    >>> [c.label for c in strip.crops], strip.crops[1].psnr > 25, strip.crops[0].uri[:22]
    (['HR', 'bicubic'], True, 'data:image/png;base64,')
    """
    from nas_sr.protocol import make_lr, matlab_bicubic, mod_crop, score_image, to_uint8

    scale, color = int(config["scale"]), str(config.get("color", "y"))
    convention = "uint8" if color == "y" else "float"  # as training scores it (nas_sr.train.trainer)
    hr = mod_crop(bundled_photo(photo) if hr is None else hr, scale)
    lr = make_lr(hr, scale, color, convention)  # type: ignore[arg-type]
    scored_hr = _scored(hr, color, convention)
    images: list[tuple[str, np.ndarray]] = [("bicubic", to_uint8(matlab_bicubic(scale)(lr)))]
    if model is not None:
        from nas_sr.models.upscaler import torch_upscaler

        images.append(("candidate", to_uint8(torch_upscaler(model, config)(lr))))
    box = _worst_window(scored_hr, images[0][1], min(CROP, *scored_hr.shape[:2]))
    coloured = color == "y" and hr.ndim == 3
    chroma = _bicubic_chroma(hr, scale) if coloured else None
    crops = [Crop("HR", None, _png_uri(_cut(hr if coloured else scored_hr, box)))]
    for label, sr in images:
        value, _ = score_image(sr, hr, scale, convention, with_ssim=False)  # type: ignore[arg-type]
        shown = _with_chroma(sr, chroma) if chroma is not None else sr
        crops.append(Crop(label, float(value), _png_uri(_cut(shown, box))))
    note = "" if model is not None else "weights missing: no candidate image"
    return Crops(photo, scale, color, box, tuple(crops), note)


def _scored(hr: np.ndarray, color: str, convention: str) -> np.ndarray:
    """What the candidate's output is compared with: the Y plane for Y networks, else RGB."""
    from nas_sr.protocol import luma, to_uint8

    if color != "y":
        return hr if hr.ndim == 3 else np.repeat(hr[:, :, None], 3, axis=2)
    y = luma(hr, convention)  # type: ignore[arg-type]
    return y if y.dtype == np.uint8 else to_uint8(y)


def _bicubic_chroma(hr: np.ndarray, scale: int) -> np.ndarray:
    """Cb and Cr (BT.601, 16-240) of the MATLAB bicubic down-and-up RGB of ``hr``."""
    from skimage.color import rgb2ycbcr

    from nas_sr.protocol import make_lr, matlab_bicubic, to_uint8

    rgb = to_uint8(matlab_bicubic(scale)(make_lr(hr, scale, "rgb")))
    return rgb2ycbcr(rgb)[:, :, 1:]


def _with_chroma(y: np.ndarray, chroma: np.ndarray) -> np.ndarray:
    """The uint8 RGB image of Y plane ``y`` (uint8, BT.601 16-235) over ``chroma``."""
    from skimage.color import ycbcr2rgb

    from nas_sr.protocol import to_uint8

    ycbcr = np.concatenate([y[:, :, None].astype(np.float64), chroma], axis=2)
    return to_uint8(np.clip(ycbcr2rgb(ycbcr), 0.0, 1.0) * 255.0)


def _worst_window(hr: np.ndarray, sr: np.ndarray, side: int) -> tuple[int, int, int]:
    """(x, y, side) of the window with the largest summed squared error (integral image, stride 8)."""
    err = (hr.astype(np.float64) - sr.astype(np.float64)) ** 2
    err = err.sum(axis=2) if err.ndim == 3 else err
    total = np.pad(err.cumsum(0).cumsum(1), ((1, 0), (1, 0)))
    ys = np.arange(0, err.shape[0] - side + 1, 8)
    xs = np.arange(0, err.shape[1] - side + 1, 8)
    sums = (total[ys[:, None] + side, xs[None, :] + side] - total[ys[:, None], xs[None, :] + side]
            - total[ys[:, None] + side, xs[None, :]] + total[ys[:, None], xs[None, :]])
    iy, ix = np.unravel_index(int(np.argmax(sums)), sums.shape)
    return int(xs[ix]), int(ys[iy]), side


def _cut(image: np.ndarray, box: tuple[int, int, int]) -> np.ndarray:
    x, y, side = box
    return image[y:y + side, x:x + side]


def _png_uri(image: np.ndarray) -> str:
    from PIL import Image

    buffer = io.BytesIO()
    Image.fromarray(np.ascontiguousarray(image)).save(buffer, format="PNG")
    return "data:image/png;base64," + base64.b64encode(buffer.getvalue()).decode("ascii")
