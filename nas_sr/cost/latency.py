"""Measured latency of one forward pass, and a description of the device it was measured on.

Peak memory: on CUDA, ``torch.cuda.max_memory_allocated`` over the timed passes (weights, input
and activations). On CPU it is ``None``: torch's CPU allocator keeps no peak statistic, and
summing module outputs via hooks would both miss functional ops and ignore freed tensors.
"""

from __future__ import annotations

import platform
import statistics
import time
from dataclasses import asdict, dataclass
from typing import TYPE_CHECKING, Any, Literal

from nas_sr.cost.counting import Resolution, lr_resolution

if TYPE_CHECKING:
    from torch import nn

Dtype = Literal["fp32", "fp16"]
_DTYPES = ("fp32", "fp16")


@dataclass(frozen=True)
class DeviceDescription:
    """Where a latency was measured: ``kind`` ("cpu" | "cuda"), processor or GPU ``name``,
    torch's intra-op ``threads``, ``dtype`` and ``torch_version``."""

    kind: str
    name: str
    threads: int
    dtype: str
    torch_version: str

    def key(self) -> str:
        """A compact string that identifies the description (used as cache key).

        >>> DeviceDescription("cpu", "AMD EPYC", 4, "fp32", "2.13.0").key()
        'cpu|AMD EPYC|4 threads|fp32|torch 2.13.0'
        """
        return f"{self.kind}|{self.name}|{self.threads} threads|{self.dtype}|torch {self.torch_version}"


@dataclass(frozen=True)
class LatencyResult:
    """Median and inter-quartile range (ms) over ``repeats`` timed passes, and peak memory."""

    median_ms: float
    iqr_ms: float
    repeats: int
    peak_memory_bytes: int | None
    device: DeviceDescription

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> "LatencyResult":
        return cls(**{**data, "device": DeviceDescription(**data["device"])})


def _cpu_name() -> str:
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as file:
            for line in file:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine() or "unknown cpu"


def describe_device(device: str = "cpu", threads: int | None = None, dtype: str = "fp32") -> DeviceDescription:
    """Describe ``device`` ("cpu", "cuda", "cuda:N") as :func:`measure_latency` would use it.

    >>> d = describe_device("cpu", threads=1)
    >>> d.kind, d.threads, d.dtype
    ('cpu', 1, 'fp32')
    """
    import torch

    if dtype not in _DTYPES:
        raise ValueError(f"dtype {dtype!r} is not one of {', '.join(_DTYPES)}")
    if threads is not None and threads < 1:
        raise ValueError(f"threads={threads} must be at least 1")
    kind = device.split(":", 1)[0]
    if kind == "cpu" and device == "cpu":
        name = _cpu_name()
    elif kind == "cuda":
        if not torch.cuda.is_available():
            raise ValueError(f"device {device!r}: CUDA is not available in this torch build/machine")
        name = torch.cuda.get_device_name(torch.device(device))
    else:
        raise ValueError(f"device {device!r} is not 'cpu', 'cuda' or 'cuda:N'")
    return DeviceDescription(kind, name, threads or torch.get_num_threads(), dtype, torch.__version__)


def measure_latency(
    model: "nn.Module",
    resolution: Resolution,
    scale: int,
    colors: int,
    device: str = "cpu",
    threads: int | None = None,
    dtype: str = "fp32",
    warmup: int = 3,
    repeats: int = 10,
) -> LatencyResult:
    """Time ``repeats`` forward passes (after ``warmup`` untimed ones) outputting ``resolution``.

    The model is copied to ``device``/``dtype`` and run in eval mode under ``torch.inference_mode``;
    ``threads`` sets torch's intra-op threads for the measurement only (restored afterwards).

    >>> from torch import nn
    >>> r = measure_latency(nn.Conv2d(1, 1, 3, padding=1), (16, 16), 1, 1, threads=1, repeats=3)
    >>> r.median_ms > 0, r.repeats, r.device.threads, r.peak_memory_bytes
    (True, 3, 1, None)
    """
    import copy

    import torch

    if warmup < 0 or repeats < 1:
        raise ValueError(f"need warmup >= 0 and repeats >= 1, got warmup={warmup}, repeats={repeats}")
    width, height = lr_resolution(resolution, scale)
    description = describe_device(device, threads, dtype)
    cuda = description.kind == "cuda"
    torch_dtype = torch.float16 if dtype == "fp16" else torch.float32
    net = copy.deepcopy(model).to(device=device, dtype=torch_dtype).eval()
    x = torch.rand(1, colors, height, width, device=device, dtype=torch_dtype)

    def sync() -> None:
        if cuda:
            torch.cuda.synchronize(device)

    saved_threads = torch.get_num_threads()
    times: list[float] = []
    try:
        torch.set_num_threads(description.threads)
        with torch.inference_mode():
            try:
                net(x)
            except RuntimeError as exc:  # e.g. an op without a half kernel on this device
                if dtype == "fp32":
                    raise
                raise ValueError(f"{dtype} is not supported on {device} for this model: {exc}".splitlines()[0]) from None
            for _ in range(max(warmup - 1, 0)):
                net(x)
            sync()
            if cuda:
                torch.cuda.reset_peak_memory_stats(device)
            for _ in range(repeats):
                start = time.perf_counter()
                net(x)
                sync()
                times.append((time.perf_counter() - start) * 1e3)
    finally:
        torch.set_num_threads(saved_threads)
    quartiles = statistics.quantiles(times, n=4, method="inclusive") if len(times) > 1 else [times[0]] * 3
    peak = int(torch.cuda.max_memory_allocated(device)) if cuda else None
    return LatencyResult(statistics.median(times), quartiles[2] - quartiles[0], repeats, peak, description)
