"""A trained network as a protocol upscaler (numpy uint8 LR in, SR in [0, 255] out)."""

from __future__ import annotations

from typing import Any, Mapping

import numpy as np
import torch
from torch import nn

from nas_sr.models.registry import get_family


def torch_upscaler(model: nn.Module, config: Mapping[str, Any], device: str = "cpu"):
    """Wrap ``model`` so that ``upscale(lr_uint8) -> sr`` runs it in its pixel range."""
    value_range = get_family(config["family"]).input_range
    model = model.to(device).eval()

    @torch.no_grad()
    def upscale(lr: np.ndarray) -> np.ndarray:
        x = torch.from_numpy(np.ascontiguousarray(lr)).to(device=device, dtype=torch.float32)
        x = x[None, None] if x.ndim == 2 else x.permute(2, 0, 1)[None]
        y = model(x * (value_range / 255.0))[0] * (255.0 / value_range)
        y = y[0] if y.shape[0] == 1 else y.permute(1, 2, 0)
        return y.double().cpu().numpy()

    return upscale
