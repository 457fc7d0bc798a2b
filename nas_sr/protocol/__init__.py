"""The SR evaluation protocol of the literature, step by step (numpy only)."""

from nas_sr.protocol.color import rgb_to_y
from nas_sr.protocol.evaluate import (
    Evaluation,
    ImageScore,
    Upscaler,
    evaluate,
    evaluate_folder,
    luma,
    make_lr,
    matlab_bicubic,
    mod_crop,
    score_image,
    to_uint8,
)
from nas_sr.protocol.metrics import crop_border, psnr, ssim
from nas_sr.protocol.resize import imresize

__all__ = [
    "Evaluation", "ImageScore", "Upscaler", "crop_border", "evaluate", "evaluate_folder",
    "imresize", "luma", "make_lr", "matlab_bicubic", "mod_crop", "psnr", "rgb_to_y", "score_image",
    "ssim", "to_uint8",
]
