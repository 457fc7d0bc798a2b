"""Image sets held in memory: an HR folder, a BasicSR-style HR/LR folder pair, or the bundled photos.

Images keep the form ``read_image`` gives them: HxWx3 RGB uint8, or HxW for a greyscale file
(its own Y). Sets are small, so loading is eager; errors are ``ImageError`` (a ``ValueError``)
whose one-line message starts with the file or folder at fault.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Iterator, Literal

import numpy as np

from nas_sr.protocol.images import ImageError, list_images, read_image

#: Folders with more files than this show a progress bar while loading.
PROGRESS_MIN_FILES = 20


@dataclasses.dataclass(frozen=True, eq=False)
class ImageSet:
    """Named HR images (iterates as ``(name, hr)`` pairs) and, for a paired set, their LR images.

    >>> import numpy as np
    >>> s = ImageSet("toy", (("a", np.zeros((8, 8, 3), np.uint8)),))
    >>> len(s), s.names, s.lr is None
    (1, ('a',), True)
    """

    name: str
    images: tuple[tuple[str, np.ndarray], ...]
    lr: tuple[np.ndarray, ...] | None = None

    def __len__(self) -> int:
        return len(self.images)

    def __iter__(self) -> Iterator[tuple[str, np.ndarray]]:
        return iter(self.images)

    def __getitem__(self, index: int) -> tuple[str, np.ndarray]:
        return self.images[index]

    @property
    def names(self) -> tuple[str, ...]:
        return tuple(name for name, _ in self.images)


#: SSIM's Gaussian window (sigma 1.5): a scored image keeps at least this many pixels a side
#: inside its border crop of ``scale`` pixels.
SSIM_WINDOW = 11


def check_size(image: np.ndarray, label: str | Path, scale: int, patch_size: int = 0,
               scored: bool = False) -> None:
    """Raise ``ImageError`` naming ``label`` if the image is too small for the scale, an LR
    patch of ``patch_size`` pixels (an HR patch of ``patch_size * scale``), or (``scored``) to be
    scored by the protocol: mod-cropped, less a ``scale`` border, it must hold SSIM's window.

    >>> import numpy as np
    >>> check_size(np.zeros((20, 30), np.uint8), "a.png", scale=2, patch_size=12)
    Traceback (most recent call last):
    ...
    nas_sr.protocol.images.ImageError: a.png: image is 30x20, smaller than the 24x24 needed for 12 px LR patches at x2
    >>> check_size(np.zeros((15, 40), np.uint8), "b.png", scale=2, scored=True)
    Traceback (most recent call last):
    ...
    nas_sr.protocol.images.ImageError: b.png: image is 40x15, smaller than the 16x16 needed to score it at x2 (SSIM's 11x11 window inside a 2 px border)
    """
    need = scale * max(1, patch_size)
    why = f"for {patch_size} px LR patches at x{scale}" if patch_size else f"for scale x{scale}"
    scored_need = -(-(SSIM_WINDOW + 2 * scale) // scale) * scale  # mod-crop keeps multiples of the scale
    if scored and scored_need > need:
        need, why = scored_need, (f"to score it at x{scale} (SSIM's {SSIM_WINDOW}x{SSIM_WINDOW} window inside "
                                  f"a {scale} px border)")
    h, w = image.shape[:2]
    if min(h, w) < need:
        raise ImageError(f"{label}: image is {w}x{h}, smaller than the {need}x{need} needed {why}")


def _progress(files: list[Path], folder: Path) -> list[Path] | Iterator[Path]:
    if len(files) <= PROGRESS_MIN_FILES:
        return files
    from tqdm.auto import tqdm

    return tqdm(files, desc=f"loading {folder.name}", unit="img", leave=False)


def load_folder(folder: str | Path, scale: int = 1, patch_size: int = 0, scored: bool = False) -> ImageSet:
    """Every image of an HR folder, named by file stem; each must fit ``check_size``."""
    folder = Path(folder)
    images = []
    for path in _progress(list_images(folder), folder):
        image = read_image(path)
        check_size(image, path, scale, patch_size, scored)
        images.append((path.stem, image))
    return ImageSet(folder.name, tuple(images))


def _lr_partner(hr_path: Path, lr_files: dict[str, Path], lr_folder: Path, scale: int) -> Path:
    for stem in (f"{hr_path.stem}x{scale}", hr_path.stem):
        if stem in lr_files:
            return lr_files[stem]
    raise ImageError(
        f"{hr_path}: no LR partner in {lr_folder} (looked for {hr_path.stem}x{scale}.* and {hr_path.stem}.*)"
    )


def load_paired(hr_folder: str | Path, lr_folder: str | Path, scale: int,
                patch_size: int = 0) -> ImageSet:
    """A BasicSR-style pair of folders: LR ``0001.png`` or ``0001x2.png`` for HR ``0001.png``.

    Each LR image must be the HR size divided by ``scale`` after mod-crop; the HR images are
    stored mod-cropped, so ``hr.shape[:2] == (scale * lr_h, scale * lr_w)``.
    """
    hr_folder, lr_folder = Path(hr_folder), Path(lr_folder)
    lr_files = {p.stem: p for p in list_images(lr_folder)}
    images, lrs = [], []
    for hr_path in _progress(list_images(hr_folder), hr_folder):
        lr_path = _lr_partner(hr_path, lr_files, lr_folder, scale)
        hr, lr = read_image(hr_path), read_image(lr_path)
        check_size(hr, hr_path, scale, patch_size)
        (h, w), (lh, lw) = hr.shape[:2], lr.shape[:2]
        if (lh, lw) != (h // scale, w // scale):
            raise ImageError(f"{lr_path}: LR is {lw}x{lh}, expected {w // scale}x{h // scale} "
                             f"for HR {hr_path} ({w}x{h}) at x{scale}")
        images.append((hr_path.stem, hr[: lh * scale, : lw * scale]))
        lrs.append(lr)
    return ImageSet(hr_folder.name, tuple(images), tuple(lrs))


def load_bundled(split: Literal["train", "val"], scale: int = 1, patch_size: int = 0,
                 scored: bool = False) -> ImageSet:
    """The bundled scikit-image photos of one split (see ``nas_sr.data.bundled``)."""
    from nas_sr.data.bundled import bundled_images

    images = bundled_images(split)
    for name, image in images:
        check_size(image, f"bundled:{name}", scale, patch_size, scored)
    return ImageSet(f"bundled-{split}", tuple(images))
