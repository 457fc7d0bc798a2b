"""Reading images as the protocol wants them (its step 1): uint8, greyscale files kept as HxW, colour
as HxWx3. (``nas_sr.data`` re-exports these for training and evaluation sets.)"""

from __future__ import annotations

from pathlib import Path

import numpy as np

IMAGE_SUFFIXES = (".png", ".bmp", ".jpg", ".jpeg", ".tif", ".tiff", ".webp", ".ppm", ".pgm")


class ImageError(ValueError):
    """An image file that cannot be used, with the file named in the message."""


def read_rgb(path: str | Path) -> np.ndarray:
    """Read an image file as an HxWx3 uint8 RGB array (greyscale as three equal channels)."""
    image = read_image(path)
    return np.repeat(image[:, :, None], 3, axis=2) if image.ndim == 2 else image


def read_image(path: str | Path) -> np.ndarray:
    """Read an image file as uint8: HxW for a greyscale file, HxWx3 RGB otherwise.

    Greyness is kept because the protocol treats a greyscale file as its own Y (the MATLAB
    test scripts behind the published tables convert only colour images). Alpha is dropped;
    16-bit files are scaled to 8 bits.
    """
    from PIL import Image, UnidentifiedImageError

    path = Path(path)
    try:
        with Image.open(path) as img:
            img.load()
            if img.mode in ("I;16", "I;16B", "I;16L", "I"):
                array = np.asarray(img, dtype=np.float64)
                peak = 65535.0 if array.max(initial=0) > 255 or img.mode.startswith("I;16") else 255.0
                return np.clip(np.floor(array * 255.0 / peak + 0.5), 0, 255).astype(np.uint8)
            if img.mode in ("L", "LA", "1"):
                return np.asarray(img.convert("L"), dtype=np.uint8).copy()
            rgb = img.convert("RGB")
    except FileNotFoundError:
        raise ImageError(f"{path}: no such image file") from None
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError) as exc:
        raise ImageError(f"{path}: not a readable image ({exc})") from None
    return np.asarray(rgb, dtype=np.uint8).copy()


def list_images(folder: str | Path) -> list[Path]:
    """Image files of a folder, sorted by name."""
    folder = Path(folder)
    if not folder.is_dir():
        raise ImageError(f"{folder}: no such image folder")
    files = sorted(p for p in folder.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES)
    if not files:
        raise ImageError(f"{folder}: no image files (looked for {', '.join(IMAGE_SUFFIXES)})")
    return files
