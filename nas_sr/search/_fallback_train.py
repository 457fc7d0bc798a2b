"""A minimal stand-in for ``nas_sr.train`` (used only while that package is absent).

Same interface: ``train(config, train_images, val_sets, settings) -> TrainingResult`` and the
``TrainingFailed`` family. Adam + L1 on a seeded patch bank, evaluated by the SR protocol.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass, field
from typing import Any, Callable, Mapping, Sequence


class TrainingFailed(RuntimeError):
    """Training stopped early; the message is the one-line reason."""


class TrainingDiverged(TrainingFailed):
    """The loss became NaN or infinite."""


class TrainingOutOfMemory(TrainingFailed):
    """The device ran out of memory."""


@dataclass
class TrainSettings:
    max_steps: int | None = 200
    max_seconds: float | None = None
    batch_size: int = 16
    patch_size: int = 24
    patches: int = 1024
    lr: float = 1e-3
    seed: int = 0
    device: str = "cpu"
    threads: int | None = None
    log_every: int = 10
    divergence_loss: float | None = 10.0


@dataclass
class TrainingResult:
    metrics: dict[str, float]
    steps: int
    seconds: float
    completed: bool
    curve: list[tuple[int, float]] = field(default_factory=list)
    state_dict: dict[str, Any] = field(default_factory=dict)
    final_loss: float = math.nan


def train(config: Mapping[str, Any], train_images: Sequence[tuple[str, Any]],
          val_sets: Mapping[str, Sequence[tuple[str, Any]]], settings: TrainSettings,
          progress: Callable[[int, float], None] | None = None) -> TrainingResult:
    import torch

    from nas_sr.data.patches import PatchBank
    from nas_sr.models.registry import build_model, get_family
    from nas_sr.models.upscaler import torch_upscaler
    from nas_sr.protocol import evaluate

    torch.manual_seed(settings.seed)
    model = build_model(dict(config)).to(settings.device)
    scale, color = config["scale"], config["color"]
    bank = PatchBank.from_images(train_images, scale, settings.patch_size, color, settings.patches,
                                 settings.seed, settings.device)
    gain = get_family(config["family"]).input_range
    params = [p for p in model.parameters() if p.requires_grad]
    optimizer = torch.optim.Adam(params, lr=settings.lr) if params else None
    generator = torch.Generator(settings.device).manual_seed(settings.seed)
    start, step, loss_value, curve = time.perf_counter(), 0, math.nan, []
    while optimizer is not None:
        if settings.max_steps is not None and step >= settings.max_steps:
            break
        if settings.max_seconds is not None and time.perf_counter() - start >= settings.max_seconds:
            break
        lr, hr = bank.batch(settings.batch_size, generator)
        loss = torch.nn.functional.l1_loss(model(lr * gain) / gain, hr)
        loss_value = float(loss.detach())
        if not math.isfinite(loss_value) or loss_value > (settings.divergence_loss or math.inf):
            raise TrainingDiverged(f"training diverged at step {step}: loss {loss_value:.4g} (lr {settings.lr:g})")
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        step += 1
        if step % settings.log_every == 0:
            curve.append((step, loss_value))
            if progress:
                progress(step, loss_value)
    seconds = time.perf_counter() - start
    completed = optimizer is None or settings.max_steps is None or step >= settings.max_steps
    upscale = torch_upscaler(model, config, settings.device)
    metrics: dict[str, float] = {}
    for name, images in val_sets.items():
        result = evaluate(upscale, images, scale, color, "uint8" if color == "y" else "float", name)
        metrics[f"psnr_{name}"], metrics[f"ssim_{name}"] = result.psnr, result.ssim
    state = {k: v.detach().cpu() for k, v in model.state_dict().items()}
    return TrainingResult(metrics, step, seconds, completed, curve, state, loss_value)
