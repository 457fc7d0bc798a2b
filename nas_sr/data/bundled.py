"""The default training set: real photos that ship inside the scikit-image wheel (no download).

Only natural photos at least 256 px on each side, files present in the installed wheel itself
(``skimage/data/``), so loading needs no network and no ``pooch``. Scans, textures,
microscopy and astronomy images of ``skimage.data`` are left out. Greyscale photos stay HxW,
as ``read_image`` keeps a greyscale file.

The split is fixed: validation is ``BUNDLED_VAL`` (two RGB photos), training the rest.
"""

from __future__ import annotations

from typing import Literal

import numpy as np

#: name -> ``skimage.data`` loader: 5 RGB and 3 greyscale photos (width x height noted).
BUNDLED = {
    "astronaut": "astronaut",  # 512x512 RGB, portrait
    "rocket": "rocket",  # 640x427 RGB, launch pad
    "motorcycle": "stereo_motorcycle",  # 741x500 RGB, left view of the Middlebury pair
    "camera": "camera",  # 512x512 grey, cameraman
    "coins": "coins",  # 384x303 grey
    "moon": "moon",  # 512x512 grey, lunar surface
    "chelsea": "chelsea",  # 451x300 RGB, cat
    "coffee": "coffee",  # 600x400 RGB, cup
}
BUNDLED_VAL = ("chelsea", "coffee")
BUNDLED_TRAIN = tuple(name for name in BUNDLED if name not in BUNDLED_VAL)


def bundled_images(split: Literal["train", "val"]) -> list[tuple[str, np.ndarray]]:
    """(name, HR uint8) photos of a split: HxWx3 RGB, or HxW for the greyscale ones.

    >>> [(name, image.shape) for name, image in bundled_images("val")]
    [('chelsea', (300, 451, 3)), ('coffee', (400, 600, 3))]
    """
    import skimage.data

    if split not in ("train", "val"):
        raise ValueError(f"bundled split must be 'train' or 'val', got {split!r}")
    images = []
    for name in BUNDLED_TRAIN if split == "train" else BUNDLED_VAL:
        image = getattr(skimage.data, BUNDLED[name])()
        image = image[0] if isinstance(image, tuple) else image  # stereo_motorcycle: (left, right, disp)
        images.append((name, np.ascontiguousarray(image, dtype=np.uint8)))
    return images
