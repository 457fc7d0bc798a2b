"""A patch bank for brief training: aligned (LR, HR) patches cut once, kept as tensors on the device.

LR patches come from degrading each whole image once by the protocol (``make_lr``: MATLAB
bicubic of the mod-cropped image) or from the given LR images of a paired set; the HR patch is
the crop at ``scale`` times the LR position. Y mode uses the uint8 Y plane (``luma`` with the
``"uint8"`` convention: rounded ``rgb_to_y``, a greyscale image its own Y), RGB mode the RGB
image (greyscale repeated to three channels), as ``make_lr`` does.
"""

from __future__ import annotations

import dataclasses
from typing import Iterable, Literal, Sequence

import numpy as np
import torch

from nas_sr.data.datasets import check_size
from nas_sr.protocol import luma, make_lr, mod_crop

Color = Literal["y", "rgb"]


def _plane(image: np.ndarray, color: Color) -> np.ndarray:
    """HxWxC uint8 plane of an image for a colour mode (C = 1 for Y, 3 for RGB)."""
    if color == "y":
        return luma(image, "uint8")[:, :, None]
    return image if image.ndim == 3 else np.repeat(image[:, :, None], 3, axis=2)


def _to_tensor(patches: np.ndarray, device: torch.device | str) -> torch.Tensor:
    return torch.from_numpy(patches).to(device).permute(0, 3, 1, 2).float().div_(255).contiguous()


@dataclasses.dataclass(frozen=True, eq=False, repr=False)
class PatchBank:
    """``lr`` (N, C, p, p) and ``hr`` (N, C, p*s, p*s): float32 in [0, 1], on one device.

    >>> import numpy as np, torch
    >>> image = np.random.default_rng(0).integers(0, 256, (64, 48, 3), dtype=np.uint8)
    >>> bank = PatchBank.from_images([("noise", image)], scale=2, patch_size=8, color="y",
    ...                              count=16, seed=0)
    >>> bank
    PatchBank(16 patches, 1x8x8 -> 1x16x16, x2, cpu)
    >>> lr, hr = bank.batch(4, torch.Generator().manual_seed(0))
    >>> tuple(lr.shape), tuple(hr.shape), hr.dtype
    ((4, 1, 8, 8), (4, 1, 16, 16), torch.float32)
    """

    lr: torch.Tensor
    hr: torch.Tensor

    def __len__(self) -> int:
        return self.lr.shape[0]

    def __repr__(self) -> str:
        lr, hr = "x".join(map(str, self.lr.shape[1:])), "x".join(map(str, self.hr.shape[1:]))
        return f"PatchBank({len(self)} patches, {lr} -> {hr}, x{self.scale}, {self.lr.device})"

    @property
    def scale(self) -> int:
        return self.hr.shape[-1] // self.lr.shape[-1]

    @classmethod
    def from_images(
        cls,
        images: Iterable[tuple[str, np.ndarray]],
        scale: int,
        patch_size: int,
        color: Color,
        count: int,
        seed: int,
        device: torch.device | str = "cpu",
        lr_images: Sequence[np.ndarray] | None = None,
    ) -> PatchBank:
        """Cut ``count`` random aligned patch pairs from (name, HR uint8) images.

        Images are drawn with probability proportional to their area, positions uniformly;
        ``patch_size`` is the LR side. ``lr_images`` (e.g. ``ImageSet.lr`` of a paired set)
        replaces the protocol's degradation. Equal seeds give equal banks.
        """
        images = list(images)
        if color not in ("y", "rgb"):
            raise ValueError(f"color must be 'y' or 'rgb', got {color!r}")
        if scale < 1 or patch_size < 1 or count < 1:
            raise ValueError(f"scale, patch_size and count must be positive, got {scale}, {patch_size}, {count}")
        if not images:
            raise ValueError("no images to cut patches from")
        if lr_images is not None and len(lr_images) != len(images):
            raise ValueError(f"{len(lr_images)} LR images for {len(images)} HR images")
        for name, image in images:
            check_size(image, name, scale, patch_size)

        rng = np.random.default_rng(seed)
        areas = np.array([image.shape[0] * image.shape[1] for _, image in images], dtype=np.float64)
        owners = rng.choice(len(images), size=count, p=areas / areas.sum())
        p, channels = patch_size, 1 if color == "y" else 3
        lr_out = np.empty((count, p, p, channels), np.uint8)
        hr_out = np.empty((count, p * scale, p * scale, channels), np.uint8)
        for i, (name, image) in enumerate(images):
            slots = np.flatnonzero(owners == i)
            if not slots.size:
                continue
            hr = _plane(mod_crop(image, scale), color)
            lr = _plane(make_lr(image, scale, color) if lr_images is None else lr_images[i], color)
            if lr.shape[:2] != (hr.shape[0] // scale, hr.shape[1] // scale):
                raise ValueError(f"{name}: LR is {lr.shape[1]}x{lr.shape[0]}, HR {hr.shape[1]}x{hr.shape[0]} at x{scale}")
            ys = rng.integers(0, lr.shape[0] - p + 1, size=slots.size)
            xs = rng.integers(0, lr.shape[1] - p + 1, size=slots.size)
            for slot, y, x in zip(slots, ys, xs):
                lr_out[slot] = lr[y : y + p, x : x + p]
                hr_out[slot] = hr[y * scale : (y + p) * scale, x * scale : (x + p) * scale]
        return cls(_to_tensor(lr_out, device), _to_tensor(hr_out, device))

    def batch(self, batch_size: int, generator: torch.Generator) -> tuple[torch.Tensor, torch.Tensor]:
        """A random batch (drawn with replacement) of (LR, HR), each pair given the same random
        horizontal flip, vertical flip and transpose (together: all 8 flips and 90-degree turns).

        Draws come from ``generator`` (on any device), so a seeded generator repeats the batches.
        """
        index = torch.randint(len(self), (batch_size,), generator=generator, device=generator.device)
        flips = torch.rand((3, batch_size, 1, 1, 1), generator=generator, device=generator.device) < 0.5
        index, flips = index.to(self.lr.device), flips.to(self.lr.device)
        return _augment(self.lr[index], flips), _augment(self.hr[index], flips)


def _augment(x: torch.Tensor, flips: torch.Tensor) -> torch.Tensor:
    x = torch.where(flips[0], x.flip(-1), x)
    x = torch.where(flips[1], x.flip(-2), x)
    return torch.where(flips[2], x.transpose(-1, -2), x)
