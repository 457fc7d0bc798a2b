"""Settings of one brief training run: plain, validated, frozen data (no torch needed)."""

from __future__ import annotations

import dataclasses
import math
import os
import re
from typing import Any, Mapping

#: Device strings a run accepts: ``cpu``, ``cuda``, ``cuda:N``, ``mps``.
#: Training precisions: fp32, or mixed precision by autocast to bf16 / fp16.
PRECISIONS = ("fp32", "bf16", "fp16")
DEVICE_PATTERN = re.compile(r"^(cpu|mps|cuda(:\d+)?)$")
#: With two or more validation sets a run also reports ``psnr_mean`` (and ``ssim_mean``): the mean
#: of the per-set figures, as SR papers average their benchmark sets.
MEAN = "mean"


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _is_number(value: Any) -> bool:
    return (isinstance(value, (int, float)) and not isinstance(value, bool)
            and math.isfinite(value))


@dataclasses.dataclass(frozen=True)
class TrainSettings:
    """How to train one candidate briefly: budget, batches, optimiser, seed, device.

    Budget: ``max_steps`` Adam steps, or fewer when ``max_seconds`` of training time pass first.
    The default 4000 steps rank 42 edge-SR x2 candidates as the authors' full training does with
    Kendall tau 0.80 (1000 steps: 0.66), at 9 s a candidate on one CPU thread
    (``benchmarks/proxy_fidelity.py``).
    The learning rate follows a cosine from ``lr`` down to ``lr_min``: over ``max_steps`` with
    ``anneal="steps"`` (a run that runs out of time stops part-way down), over whichever budget
    runs out first with ``anneal="budget"`` (the default: the schedule's progress is the larger
    of ``step / max_steps`` and ``seconds / max_seconds``, so a time-limited run still ends
    annealed). Without ``max_seconds`` the two are the same.

    Data: batches of ``batch_size`` LR patches of ``patch_size`` pixels, drawn from a bank cut
    once per run that keeps the ``patches`` most detailed (largest standard deviation of the HR
    patch) of ``oversample * patches`` random patches: flat sky teaches a network little
    (1 keeps every patch cut). The defaults are tuned for the tiny edge-SR networks on CPU:
    many small steps beat few large ones.

    Machine: ``threads`` sets torch's CPU threads for the run (None: leave them; for tiny
    networks one thread is fastest on a shared CPU, where two threads beside a busy process
    made steps 50 times slower). ``onednn`` picks oneDNN (mkldnn) CPU convolutions, faster for
    wide networks on large patches; PyTorch's native ones (the default) are 1.1-1.7x faster for
    the small edge-SR, ESPCN and FSRCNN networks on small patches.

    Precision: ``precision`` ``"bf16"`` or ``"fp16"`` runs the forward pass and loss under
    ``torch.autocast`` (fp16 with a gradient scaler); weights, optimiser and validation stay fp32.

    Warm start: ``init_weights`` names a weights file to start from instead of a random
    initialisation: a nas-sr trial artifact or a checkpoint as the family's authors distribute
    it (e.g. VapSR_X4.pth; names mapped by the family, EMA weights preferred).

    Reporting: the loss curve gets a point every ``log_every`` steps; ``validate_every`` (None:
    only at the end) adds PSNR checkpoints on the validation sets during training. A NaN or
    infinite loss, or one above ``divergence_loss`` (L1 on the [0, 1] pixel scale: 10 is ten
    times the whole pixel range; None: no bound), ends the run as diverged.

    >>> TrainSettings(max_steps=100, lr=5e-3).as_dict()["max_steps"]
    100
    >>> TrainSettings.from_dict({"batch_size": 32}) == TrainSettings(batch_size=32)
    True
    >>> TrainSettings(batch_size=0)
    Traceback (most recent call last):
    ...
    ValueError: TrainSettings.batch_size must be an integer >= 1, got 0
    """

    max_steps: int = 4000
    max_seconds: float | None = None
    batch_size: int = 8
    patch_size: int = 12
    patches: int = 8000
    oversample: int = 8
    lr: float = 1e-2
    lr_min: float = 1e-6
    anneal: str = "budget"
    seed: int = 0
    device: str = "cpu"
    threads: int | None = None
    onednn: bool = False
    log_every: int = 50
    validate_every: int | None = None
    divergence_loss: float | None = 10.0
    init_weights: str | None = None
    precision: str = "fp32"

    def __post_init__(self) -> None:
        def fail(name: str, rule: str) -> None:
            raise ValueError(f"TrainSettings.{name} must be {rule}, got {getattr(self, name)!r}")

        for name in ("max_steps", "batch_size", "patch_size", "patches", "oversample", "log_every"):
            if not _is_int(getattr(self, name)) or getattr(self, name) < 1:
                fail(name, "an integer >= 1")
        for name in ("threads", "validate_every"):
            value = getattr(self, name)
            if value is not None and (not _is_int(value) or value < 1):
                fail(name, "None or an integer >= 1")
        if not _is_int(self.seed) or self.seed < 0:
            fail("seed", "an integer >= 0")
        if self.max_seconds is not None:
            if not _is_number(self.max_seconds) or self.max_seconds <= 0:
                fail("max_seconds", "None or a finite number of seconds > 0")
            object.__setattr__(self, "max_seconds", float(self.max_seconds))
        if not _is_number(self.lr) or self.lr <= 0:
            fail("lr", "a finite number > 0")
        if not _is_number(self.lr_min) or not 0 <= self.lr_min <= self.lr:
            fail("lr_min", f"a number in [0, lr={self.lr}]")
        if self.divergence_loss is not None:
            if not _is_number(self.divergence_loss) or self.divergence_loss <= 0:
                fail("divergence_loss", "None or a finite number > 0")
            object.__setattr__(self, "divergence_loss", float(self.divergence_loss))
        object.__setattr__(self, "lr", float(self.lr))
        object.__setattr__(self, "lr_min", float(self.lr_min))
        if self.init_weights is not None:
            if not isinstance(self.init_weights, (str, os.PathLike)) or not str(self.init_weights):
                fail("init_weights", "None or the path of a weights file")
            object.__setattr__(self, "init_weights", os.fspath(self.init_weights))
        if self.precision not in PRECISIONS:
            fail("precision", " or ".join(map(repr, PRECISIONS)))
        if not isinstance(self.onednn, bool):
            fail("onednn", "True or False")
        if self.anneal not in ("steps", "budget"):
            fail("anneal", "'steps' or 'budget'")
        if not isinstance(self.device, str) or not DEVICE_PATTERN.match(self.device):
            fail("device", "'cpu', 'cuda', 'cuda:N' or 'mps'")

    def as_dict(self) -> dict[str, Any]:
        """The settings as a JSON-ready dict (every field)."""
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> TrainSettings:
        """Settings from a dict such as ``as_dict`` gives; missing fields take their defaults."""
        if not isinstance(data, Mapping):
            raise ValueError(f"TrainSettings.from_dict needs a mapping, got {data!r}")
        known = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(data) - known)
        if unknown:
            raise ValueError(f"TrainSettings: unknown field(s) {', '.join(map(str, unknown))} "
                             f"(known: {', '.join(sorted(known))})")
        return cls(**data)

    def replace(self, **changes: Any) -> TrainSettings:
        """A copy with some fields changed (validated again)."""
        return dataclasses.replace(self, **changes)
