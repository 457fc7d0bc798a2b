"""Brief training of one candidate network: L1 on a patch bank, Adam + cosine, protocol validation.

``train`` is deterministic for a seed on CPU (same weights for the same seed and thread count,
without ``max_seconds``): the network is initialised from the CPU generator seeded with
``seed`` inside a forked RNG (the caller's global RNG state is left as it was), the patch bank
is cut with ``seed`` and the batches are drawn from their own ``torch.Generator``.

Failures raise a ``TrainingFailed`` whose message is one line: ``TrainingDiverged`` (a NaN or
infinite loss, or one above ``TrainSettings.divergence_loss``) or ``TrainingOutOfMemory``
(CUDA or CPU allocation failure). A reporter stops training early by returning ``False`` from
``progress`` or raising ``TrainingStopped``; the result then has ``completed=False``.
"""

from __future__ import annotations

import contextlib
import dataclasses
import math
import time
from typing import Any, Callable, Iterable, Iterator, Mapping, Sequence

import numpy as np
import torch

from nas_sr.data.patches import PatchBank
from nas_sr.models.registry import build_model, canonical_config, get_family
from nas_sr.models.upscaler import torch_upscaler
from nas_sr.models.weights import load_checkpoint
from nas_sr.protocol import evaluate, make_lr
from nas_sr.train.settings import MEAN, TrainSettings

Images = Iterable[tuple[str, np.ndarray]]
#: ``progress(step, loss)``: called at every curve point; returning False stops training.
Progress = Callable[[int, float], "bool | None"]
#: ``on_validation(step, metrics)``: called at every ``validate_every`` checkpoint.
OnValidation = Callable[[int, "dict[str, float]"], "bool | None"]

_OOM_PHRASES = ("out of memory", "not enough memory", "can't allocate memory",
                "cannot allocate memory")


class TrainingFailed(Exception):
    """Training a candidate failed; the message is a one-line reason."""


class TrainingDiverged(TrainingFailed, ValueError):
    """The training loss became NaN, infinite or above ``TrainSettings.divergence_loss``
    (``step`` and ``loss``, on the [0, 1] pixel scale, say where)."""

    def __init__(self, message: str, step: int, loss: float) -> None:
        super().__init__(message)
        self.step, self.loss = step, loss


class TrainingOutOfMemory(TrainingFailed, MemoryError):
    """The device (CUDA) or the host (CPU) could not allocate memory for the run."""


class TrainingStopped(Exception):
    """Raised by a ``progress`` or ``on_validation`` callback to end training early."""


@dataclasses.dataclass
class TrainingResult:
    """What one run produced: plain data, weights as CPU tensors.

    ``seconds`` is the training time (what ``max_seconds`` limits: the steps, not cutting
    patches, callbacks or validating); ``total_seconds`` the whole call. ``completed`` is True
    when training ended by its budget (all ``max_steps``, or ``max_seconds`` of training when
    that is set) and False when a callback stopped it; ``stop_reason`` is ``"steps"``,
    ``"time"`` or ``"stopped"``. ``curve`` holds ``(step, seconds, mean loss since the previous
    point)``, losses as L1 on the [0, 1] pixel scale; ``final_loss`` is its last loss.
    ``metrics`` are ``psnr_<set>`` and ``ssim_<set>`` of the final weights on each validation
    set by the protocol (uint8 Y for Y models, float Y for RGB ones), and ``psnr_mean`` /
    ``ssim_mean`` over two or more sets; ``validation`` holds
    ``(step, seconds, {"psnr_<set>": ...})`` checkpoints when ``validate_every`` is set.
    """

    config: dict[str, Any]
    steps: int
    seconds: float
    completed: bool
    final_loss: float
    curve: list[tuple[int, float, float]]
    metrics: dict[str, float]
    state_dict: dict[str, torch.Tensor]
    settings: TrainSettings
    stop_reason: str = "steps"
    total_seconds: float = 0.0
    validation: list[tuple[int, float, dict[str, float]]] = dataclasses.field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        """Everything but the weights, as JSON-ready data."""
        return {
            "config": dict(self.config),
            "steps": self.steps,
            "seconds": self.seconds,
            "total_seconds": self.total_seconds,
            "completed": self.completed,
            "stop_reason": self.stop_reason,
            "final_loss": self.final_loss,
            "curve": [list(point) for point in self.curve],
            "metrics": dict(self.metrics),
            "validation": [[step, seconds, dict(m)] for step, seconds, m in self.validation],
            "settings": self.settings.as_dict(),
        }


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return text.splitlines()[0] if text else exc.__class__.__name__


def _is_oom(exc: BaseException) -> bool:
    if isinstance(exc, (MemoryError, torch.cuda.OutOfMemoryError)):
        return True
    return isinstance(exc, RuntimeError) and any(p in str(exc).lower() for p in _OOM_PHRASES)


def _resolve_device(name: str) -> torch.device:
    device = torch.device(name)
    if device.type == "cuda":
        if not torch.cuda.is_available():
            raise ValueError(f"TrainSettings.device is {name!r} but CUDA is not available")
        if device.index is None:
            device = torch.device("cuda", torch.cuda.current_device())
        if device.index >= torch.cuda.device_count():
            raise ValueError(f"TrainSettings.device is {name!r} but only "
                             f"{torch.cuda.device_count()} CUDA device(s) exist")
    elif device.type == "mps" and not torch.backends.mps.is_available():
        raise ValueError(f"TrainSettings.device is {name!r} but MPS is not available")
    return device


@contextlib.contextmanager
def _cpu_backend(threads: int | None, onednn: bool) -> Iterator[None]:
    """Torch's CPU thread count and oneDNN switch for the run, restored afterwards."""
    before = torch.get_num_threads(), torch.backends.mkldnn.enabled
    if threads is not None:
        torch.set_num_threads(threads)
    torch.backends.mkldnn.enabled = onednn
    try:
        yield
    finally:
        if torch.get_num_threads() != before[0]:
            torch.set_num_threads(before[0])
        torch.backends.mkldnn.enabled = before[1]


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


class _Clock:
    """Training time that can be paused (while validating)."""

    def __init__(self, device: torch.device) -> None:
        self.device, self.spent, self.started = device, 0.0, time.perf_counter()

    def now(self) -> float:
        """Training seconds so far (frozen while paused)."""
        return self.spent + (time.perf_counter() - self.started if self.started else 0.0)

    @contextlib.contextmanager
    def paused(self) -> Iterator[None]:
        _sync(self.device)
        self.spent, self.started = self.now(), 0.0
        try:
            yield
        finally:
            self.started = time.perf_counter()


def validate(model: torch.nn.Module, config: Mapping[str, Any], val_sets: Mapping[str, Images],
             device: torch.device, with_ssim: bool) -> dict[str, float]:
    """``psnr_<set>`` (and ``ssim_<set>``) of ``model`` on each validation set, as a trial records
    them; the model is left in training mode."""
    metrics: dict[str, float] = {}
    upscale = torch_upscaler(model, config, str(device))
    y_convention = "uint8" if config["color"] == "y" else "float"
    try:
        for name, images in val_sets.items():
            result = evaluate(upscale, images, config["scale"], config["color"], y_convention,
                              dataset=name, with_ssim=with_ssim)
            metrics[f"psnr_{name}"] = result.psnr
            if with_ssim:
                metrics[f"ssim_{name}"] = result.ssim
    finally:
        model.train()
    if len(val_sets) >= 2 and MEAN not in val_sets:  # the search objective psnr@mean
        for metric in ("psnr", "ssim") if with_ssim else ("psnr",):
            metrics[f"{metric}_{MEAN}"] = sum(metrics[f"{metric}_{name}"] for name in val_sets) / len(val_sets)
    return metrics


def _patch_bank(images: Sequence[tuple[str, np.ndarray]], config: Mapping[str, Any],
                settings: TrainSettings, device: torch.device,
                lr_images: Sequence[np.ndarray] | None) -> PatchBank:
    """The ``patches`` most detailed of ``oversample * patches`` random patch pairs.

    Patches are cut ``patches`` at a time (the first draw with ``seed`` itself, the others with
    seeds derived from it) and only the most detailed so far are kept, so memory stays at two
    banks whatever ``oversample`` is; the LR images are degraded once for all draws.
    """
    scale, color, count = config["scale"], config["color"], settings.patches
    if lr_images is None and settings.oversample > 1:
        lr_images = [make_lr(image, scale, color) for _, image in images]
    bank = PatchBank.from_images(images, scale, settings.patch_size, color, count, settings.seed,
                                 device, lr_images=lr_images)
    if settings.oversample == 1:
        return bank
    lr, hr = bank.lr, bank.hr
    for draw in range(1, settings.oversample):
        seed = int(np.random.SeedSequence([settings.seed, draw]).generate_state(1)[0])
        more = PatchBank.from_images(images, scale, settings.patch_size, color, count, seed,
                                     device, lr_images=lr_images)
        lr, hr = torch.cat([lr, more.lr]), torch.cat([hr, more.hr])
        keep = torch.argsort(hr.flatten(1).std(dim=1), descending=True, stable=True)[:count]
        lr, hr = lr[keep], hr[keep]
    return PatchBank(lr.contiguous(), hr.contiguous())


def _cosine(done: float, start: float, end: float) -> float:
    """The learning rate a cosine schedule from ``start`` to ``end`` gives at ``done`` in [0, 1]."""
    return end + (start - end) * 0.5 * (1.0 + math.cos(math.pi * done))


def _signal_stop(callback: Callable[..., Any] | None, *args: Any) -> bool:
    """Call a reporter; True when it asks to stop."""
    if callback is None:
        return False
    try:
        return callback(*args) is False
    except TrainingStopped:
        return True


def train(
    config: Mapping[str, Any],
    train_images: Images,
    val_sets: Mapping[str, Images],
    settings: TrainSettings | None = None,
    *,
    progress: Progress | None = None,
    on_validation: OnValidation | None = None,
) -> TrainingResult:
    """Train the network of ``config`` briefly and validate it on each of ``val_sets``.

    ``train_images`` are (name, HR uint8) pairs (an ``ImageSet``; a paired set's own LR images
    are used). The loss is L1 in the network's pixel range (``Family.input_range``).
    ``progress(step, loss)`` is called at every curve point with the mean loss since the
    previous one, ``on_validation(step, metrics)`` at every ``validate_every`` checkpoint;
    either stops training (``completed=False``) by returning False or raising
    ``TrainingStopped``. Raises ``TrainingDiverged`` or ``TrainingOutOfMemory`` (both
    ``TrainingFailed``), ``ValueError`` for bad inputs (config, images, unavailable device).
    """
    settings = TrainSettings() if settings is None else settings
    if not isinstance(settings, TrainSettings):
        raise TypeError(f"settings must be a TrainSettings, got {type(settings).__name__}")
    config = canonical_config(config)
    device = _resolve_device(settings.device)
    val_sets = {name: list(images) for name, images in val_sets.items()}
    forked = [device.index] if device.type == "cuda" else []
    started = time.perf_counter()
    try:
        with _cpu_backend(settings.threads, settings.onednn), torch.random.fork_rng(devices=forked):
            torch.random.default_generator.manual_seed(settings.seed)  # initialisation (on CPU)
            if device.type == "cuda":
                torch.cuda.default_generators[device.index].manual_seed(settings.seed)
            return _run(config, train_images, val_sets, settings, device, progress,
                        on_validation, started)
    except TrainingFailed:
        raise
    except (RuntimeError, MemoryError) as exc:
        if not _is_oom(exc):
            raise
        if device.type == "cuda":
            torch.cuda.empty_cache()
        raise TrainingOutOfMemory(
            f"out of memory on {device} training {config['family']} x{config['scale']} "
            f"(batch {settings.batch_size} of {settings.patch_size} px LR patches, "
            f"{settings.patches} in the bank): {_first_line(exc)}"
        ) from None


def _run(
    config: dict[str, Any],
    train_images: Images,
    val_sets: dict[str, Sequence[tuple[str, np.ndarray]]],
    settings: TrainSettings,
    device: torch.device,
    progress: Progress | None,
    on_validation: OnValidation | None,
    started: float,
) -> TrainingResult:
    images = train_images if isinstance(train_images, Sequence) else list(train_images)
    model = build_model(config)
    if settings.init_weights is not None:
        load_checkpoint(model, config, settings.init_weights)
    model = model.to(device).train()
    bank = _patch_bank(images, config, settings, device, getattr(train_images, "lr", None))
    value_range = get_family(config["family"]).input_range
    generator = torch.Generator(device=device).manual_seed(settings.seed)
    # The fused kernel saves ~0.5 ms a step on CPU: most of a tiny network's step.
    optimizer = torch.optim.Adam(model.parameters(), lr=settings.lr,
                                 fused=device.type in ("cpu", "cuda"))
    amp_dtype = {"fp32": None, "bf16": torch.bfloat16, "fp16": torch.float16}[settings.precision]
    # fp16 gradients underflow without loss scaling; bf16 has fp32's exponent range
    scaler = torch.amp.GradScaler(device.type, enabled=settings.precision == "fp16")
    by_time = settings.anneal == "budget" and settings.max_seconds is not None
    check_every = 1 if device.type == "cpu" else settings.log_every
    window = torch.zeros(min(settings.log_every, settings.max_steps), device=device)

    curve: list[tuple[int, float, float]] = []
    validation: list[tuple[int, float, dict[str, float]]] = []
    stop_reason, step, logged = "steps", 0, 0
    clock = _Clock(device)

    bound = math.inf if settings.divergence_loss is None else settings.divergence_loss

    def check_finite(first: int, losses: torch.Tensor) -> None:
        for offset, loss in enumerate(losses.detach().cpu().tolist()):
            loss /= value_range
            if not math.isfinite(loss) or loss > bound:
                what = f"{loss:.4g}" if math.isfinite(loss) else str(loss)
                raise TrainingDiverged(
                    f"training diverged at step {first + offset}: loss {what}"
                    f"{' > divergence_loss ' + format(bound, 'g') if math.isfinite(loss) else ''} "
                    f"(lr {settings.lr:g}, {config['family']} x{config['scale']})",
                    first + offset, loss)

    while step < settings.max_steps:
        if step and settings.max_seconds is not None and clock.now() >= settings.max_seconds:
            stop_reason = "time"
            break
        done = step / settings.max_steps
        if by_time:
            done = min(1.0, max(done, clock.now() / settings.max_seconds))
        for group in optimizer.param_groups:
            group["lr"] = _cosine(done, settings.lr, settings.lr_min)
        lr, hr = bank.batch(settings.batch_size, generator)
        if value_range != 1.0:
            lr, hr = lr * value_range, hr * value_range
        with torch.autocast(device.type, dtype=amp_dtype, enabled=amp_dtype is not None):
            loss = torch.nn.functional.l1_loss(model(lr).float(), hr)
        optimizer.zero_grad(set_to_none=True)
        scaler.scale(loss).backward()
        scaler.step(optimizer)
        scaler.update()
        window[step - logged] = loss.detach()
        step += 1
        if check_every == 1:
            check_finite(step, window[step - logged - 1 : step - logged])
        stop = False
        if step - logged == settings.log_every or step == settings.max_steps:
            losses = window[: step - logged]
            if check_every != 1:
                check_finite(logged + 1, losses)
            mean = float(losses.mean()) / value_range
            _sync(device)
            curve.append((step, clock.now(), mean))
            logged = step
            with clock.paused():
                stop = _signal_stop(progress, step, mean)
        if settings.validate_every and step % settings.validate_every == 0 and val_sets:
            with clock.paused():
                metrics = validate(model, config, val_sets, device, with_ssim=False)
                validation.append((step, clock.now(), metrics))
                stop = _signal_stop(on_validation, step, metrics) or stop
        if stop:
            stop_reason = "stopped"
            break
    _sync(device)
    seconds = clock.now()
    if step > logged:  # the partial window when time or a stop ended training between points
        losses = window[: step - logged]
        check_finite(logged + 1, losses)
        curve.append((step, seconds, float(losses.mean()) / value_range))

    metrics = validate(model, config, val_sets, device, with_ssim=True) if val_sets else {}
    completed = stop_reason == "time" or (stop_reason == "steps" and step == settings.max_steps)
    return TrainingResult(
        config=config,
        steps=step,
        seconds=seconds,
        completed=completed,
        final_loss=curve[-1][2] if curve else float("nan"),
        curve=curve,
        metrics=metrics,
        state_dict={k: v.detach().to("cpu", copy=True) for k, v in model.state_dict().items()},
        settings=settings,
        stop_reason=stop_reason,
        total_seconds=time.perf_counter() - started,
        validation=validation,
    )
