"""Measured latency of one forward pass, and a description of the device it was measured on.

Backends: ``"torch"`` (the model itself, on CPU or CUDA) and ``"onnxruntime"`` (the model exported
to ONNX at the measured input size, run by ONNX Runtime's CPU execution provider with ``threads``
intra-op threads; needs ``pip install 'nas-sr[export]'``).

CPU convolution path (torch backend on CPU, ``cpu_path``): ``"default"`` lets torch choose, which on
x86 means oneDNN (mkldnn) kernels; ``"native"`` turns oneDNN off for the measurement
(``torch.backends.mkldnn.enabled = False``), so convolutions run ATen's own im2col + GEMM
kernels. oneDNN makes many-channel convolutions so cheap on x86 that they rank against memory-bound
models unlike on ARM boards; measured on the edge-SR x2 models, the native path ranks them as the
Raspberry Pi 400 of the edge-SR table does (``benchmarks/latency_fidelity.py``).

Peak memory: on CUDA, ``torch.cuda.max_memory_allocated`` over the timed passes (weights, input
and activations). On CPU it is ``None``: torch's CPU allocator keeps no peak statistic, and
summing module outputs via hooks would both miss functional ops and ignore freed tensors.
"""

from __future__ import annotations

import platform
import statistics
import time
from contextlib import contextmanager
from dataclasses import asdict, dataclass
from typing import TYPE_CHECKING, Any, Iterator, Literal

from nas_sr.cost.counting import Resolution, lr_resolution

if TYPE_CHECKING:
    from torch import nn

Dtype = Literal["fp32", "fp16"]
_DTYPES = ("fp32", "fp16")
BACKENDS = ("torch", "onnxruntime")
CPU_PATHS = ("default", "native")


@dataclass(frozen=True)
class DeviceDescription:
    """Where a latency was measured: ``kind`` ("cpu" | "cuda"), processor or GPU ``name``,
    intra-op ``threads``, ``dtype``, ``torch_version``, the ``backend`` that ran the model
    ("torch", or e.g. "onnxruntime 1.32.0") and the CPU convolution path ``cpu_path`` ("default" or
    "native", oneDNN off)."""

    kind: str
    name: str
    threads: int
    dtype: str
    torch_version: str
    backend: str = "torch"
    cpu_path: str = "default"

    def key(self) -> str:
        """A compact string that identifies the description (used as cache key).

        >>> DeviceDescription("cpu", "AMD EPYC", 4, "fp32", "2.13.0").key()
        'cpu|AMD EPYC|4 threads|fp32|torch 2.13.0'
        >>> DeviceDescription("cpu", "AMD EPYC", 1, "fp32", "2.13.0", "onnxruntime 1.32.0").key()
        'cpu|AMD EPYC|1 threads|fp32|torch 2.13.0|onnxruntime 1.32.0'
        >>> DeviceDescription("cpu", "AMD EPYC", 1, "fp32", "2.13.0", cpu_path="native").key()
        'cpu|AMD EPYC|1 threads|fp32|torch 2.13.0|native conv'
        """
        text = f"{self.kind}|{self.name}|{self.threads} threads|{self.dtype}|torch {self.torch_version}"
        text = text if self.backend == "torch" else f"{text}|{self.backend}"
        return text if self.cpu_path == "default" else f"{text}|{self.cpu_path} conv"


@dataclass(frozen=True)
class LatencyResult:
    """Median and inter-quartile range (ms) over ``repeats`` timed passes, peak memory, and the
    repeat-to-repeat coefficient of variation ``cv`` (standard deviation / mean; 0 for one repeat)."""

    median_ms: float
    iqr_ms: float
    repeats: int
    peak_memory_bytes: int | None
    device: DeviceDescription
    cv: float | None = None

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


def describe_device(device: str = "cpu", threads: int | None = None, dtype: str = "fp32",
                    backend: str = "torch", cpu_path: str = "default") -> DeviceDescription:
    """Describe ``device`` ("cpu", "cuda", "cuda:N") as :func:`measure_latency` would use it.

    >>> d = describe_device("cpu", threads=1)
    >>> d.kind, d.threads, d.dtype, d.backend, d.cpu_path
    ('cpu', 1, 'fp32', 'torch', 'default')
    >>> describe_device("cpu", threads=1, cpu_path="native").cpu_path
    'native'
    """
    import torch

    if dtype not in _DTYPES:
        raise ValueError(f"dtype {dtype!r} is not one of {', '.join(_DTYPES)}")
    if backend not in BACKENDS:
        raise ValueError(f"latency backend {backend!r} is not one of {', '.join(BACKENDS)}")
    if backend == "onnxruntime" and (device != "cpu" or dtype != "fp32"):
        raise ValueError(f"the onnxruntime latency backend measures fp32 on cpu only, not {dtype} on {device}")
    if threads is not None and threads < 1:
        raise ValueError(f"threads={threads} must be at least 1")
    if cpu_path not in CPU_PATHS:
        raise ValueError(f"cpu path {cpu_path!r} is not one of {', '.join(CPU_PATHS)}")
    if cpu_path != "default" and (device != "cpu" or backend != "torch"):
        raise ValueError(f"cpu path {cpu_path!r} applies to the torch backend on cpu only, not {backend} on {device}")
    kind = device.split(":", 1)[0]
    if kind == "cpu" and device == "cpu":
        name = _cpu_name()
    elif kind == "cuda":
        if not torch.cuda.is_available():
            raise ValueError(f"device {device!r}: CUDA is not available in this torch build/machine")
        name = torch.cuda.get_device_name(torch.device(device))
    else:
        raise ValueError(f"device {device!r} is not 'cpu', 'cuda' or 'cuda:N'")
    runner = "torch" if backend == "torch" else f"onnxruntime {_onnxruntime().__version__}"
    return DeviceDescription(kind, name, threads or torch.get_num_threads(), dtype, torch.__version__, runner,
                             cpu_path)


def _onnxruntime() -> Any:
    """The ``onnxruntime`` module, or a one-line ValueError saying how to install it."""
    try:
        import onnxruntime
    except ImportError:
        raise ValueError("the onnxruntime backend needs onnxruntime: pip install 'nas-sr[export]'") from None
    return onnxruntime


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
    backend: str = "torch",
    cpu_path: str = "default",
) -> LatencyResult:
    """Time ``repeats`` forward passes (after ``warmup`` untimed ones) outputting ``resolution``.

    The model is copied to ``device``/``dtype`` and run in eval mode under ``torch.inference_mode``;
    ``threads`` sets torch's intra-op threads for the measurement only (restored afterwards).
    ``backend="onnxruntime"``: the model is exported to ONNX for the measured input size and
    timed in an ONNX Runtime CPU session with ``threads`` intra-op threads. ``cpu_path="native"``
    (torch on CPU): oneDNN is off during the measurement, convolutions run ATen's own kernels.

    >>> from torch import nn
    >>> r = measure_latency(nn.Conv2d(1, 1, 3, padding=1), (16, 16), 1, 1, threads=1, repeats=3)
    >>> r.median_ms > 0, r.repeats, r.device.threads, r.peak_memory_bytes, r.cv >= 0
    (True, 3, 1, None, True)
    >>> measure_latency(nn.Conv2d(1, 1, 3, padding=1), (16, 16), 1, 1, threads=1, repeats=2,
    ...                 cpu_path="native").device.cpu_path
    'native'
    """
    import copy

    import torch

    if warmup < 0 or repeats < 1:
        raise ValueError(f"need warmup >= 0 and repeats >= 1, got warmup={warmup}, repeats={repeats}")
    width, height = lr_resolution(resolution, scale)
    description = describe_device(device, threads, dtype, backend, cpu_path)
    if backend == "onnxruntime":
        times = _onnxruntime_times(model, (1, colors, height, width), description.threads, warmup, repeats)
        return _result(times, repeats, None, description)
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
        with torch.inference_mode(), _onednn_off(cpu_path == "native"):
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
    peak = int(torch.cuda.max_memory_allocated(device)) if cuda else None
    return _result(times, repeats, peak, description)


@contextmanager
def _onednn_off(off: bool) -> Iterator[None]:
    """oneDNN (mkldnn) disabled inside when ``off``; torch's own setting restored on leaving.
    (``torch.backends.mkldnn.flags`` would also reset its TF32 and determinism flags.)"""
    import torch

    saved = torch.backends.mkldnn.enabled
    if off:
        torch.backends.mkldnn.enabled = False
    try:
        yield
    finally:
        torch.backends.mkldnn.enabled = saved


def _result(times: list[float], repeats: int, peak: int | None, description: DeviceDescription) -> LatencyResult:
    quartiles = statistics.quantiles(times, n=4, method="inclusive") if len(times) > 1 else [times[0]] * 3
    cv = statistics.stdev(times) / statistics.fmean(times) if len(times) > 1 else 0.0
    return LatencyResult(statistics.median(times), quartiles[2] - quartiles[0], repeats, peak, description, cv)


def _onnxruntime_times(model: "nn.Module", shape: tuple[int, int, int, int], threads: int, warmup: int,
                       repeats: int) -> list[float]:
    """Milliseconds per ``session.run`` of ``model`` exported to ONNX for inputs of ``shape``."""
    import numpy as np

    from nas_sr.models.onnx import onnx_bytes, onnx_session

    _onnxruntime()
    session = onnx_session(onnx_bytes(model, shape), threads)
    name = session.get_inputs()[0].name
    x = np.random.default_rng(0).random(shape, dtype=np.float32)
    for _ in range(max(warmup, 1)):  # the first run allocates the session's buffers
        session.run(None, {name: x})
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        session.run(None, {name: x})
        times.append((time.perf_counter() - start) * 1e3)
    return times
