"""A network as ONNX through ``torch.export`` (torch >= 2.9's default ONNX exporter; offline, needs onnxscript),
and an onnxruntime session of it: what ``nas-sr export --format onnx`` writes and what the cost layer's
onnxruntime latency backend runs.

Input height and width are dynamic axes, at least the family's ``min_export_side`` (:func:`min_side`).
Families whose graph depends on the input size through windows (EMT's stripe windows, the windowed
pyramid attention) take sizes that are a multiple of their windows (:func:`size_multiple`): within
that rule ``torch.export`` proves the graph exact, outside it the network pads, which an exported
graph cannot express.
"""

from __future__ import annotations

import logging
import math
import warnings
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any, Iterator, Mapping

if TYPE_CHECKING:
    import torch
    from torch import nn

#: Largest LR side an exported graph accepts.
MAX_SIDE = 8192
INSTALL_HINT = "pip install 'nas-sr[export]'"


def size_multiple(config: Mapping[str, Any]) -> int:
    """The multiple LR input sides must be of: the lcm of the config's window sizes (1 without).

    >>> size_multiple({"family": "esr-tm", "kernel_size": 7})
    1
    >>> size_multiple({"family": "emt", "window_long": 32, "window_short": 8, "pa_after": 0, "pa_window": 16})
    32
    >>> size_multiple({"family": "vapsr", "pa_after": 2, "pa_window": 24})
    24
    """
    sizes = [int(config[k]) for k in ("window_long", "window_short") if k in config]
    if config.get("pa_after"):
        sizes.append(int(config["pa_window"]))
    return math.lcm(*sizes) if sizes else 1


def require_onnx() -> None:
    """A one-line ValueError naming what to install when onnx, onnxscript or onnxruntime is missing."""
    import importlib.util

    missing = [m for m in ("onnx", "onnxscript", "onnxruntime") if importlib.util.find_spec(m) is None]
    if missing:
        raise ValueError(f"ONNX export needs {', '.join(missing)}: {INSTALL_HINT}")


@contextmanager
def _quiet() -> Iterator[None]:
    """Silence the exporter's notes (torchvision ops it skips, deprecations, progress lines)."""
    import contextlib
    import io

    names = ("torch.onnx", "torch.export", "torch._export", "onnxscript", "torch.fx.experimental.symbolic_shapes")
    loggers = [logging.getLogger(n) for n in names]
    levels = [lg.level for lg in loggers]
    for lg in loggers:
        lg.setLevel(logging.ERROR)
    try:
        with warnings.catch_warnings(), contextlib.redirect_stdout(io.StringIO()):
            warnings.simplefilter("ignore")
            yield
    finally:
        for lg, level in zip(loggers, levels):
            lg.setLevel(level)


def min_side(config: Mapping[str, Any]) -> int:
    """The smallest LR side an exported graph of ``config`` takes (its family's ``min_export_side``).

    >>> min_side({"family": "esr-tm"}), min_side({"family": "rlfn"})
    (1, 21)
    """
    from nas_sr.models import get_family

    return get_family(config["family"]).min_export_side


def exported_program(model: "nn.Module", example: "torch.Tensor", multiple: int = 1, smallest: int = 1) -> Any:
    """``torch.export`` of ``model`` (eval mode) with H and W dynamic, multiples of ``multiple``, at
    least ``smallest``."""
    import torch
    from torch.export import Dim

    if multiple == 1:
        dims = {2: Dim("height", min=smallest, max=MAX_SIDE), 3: Dim("width", min=smallest, max=MAX_SIDE)}
    else:
        top, low = MAX_SIDE // multiple, -(-smallest // multiple)
        dims = {2: multiple * Dim("height_blocks", min=low, max=top),
                3: multiple * Dim("width_blocks", min=low, max=top)}
    with _quiet(), torch.no_grad():
        try:
            return torch.export.export(model.eval(), (example,), dynamic_shapes=({**dims},))
        except Exception as exc:  # noqa: BLE001 - torch.export's errors run to pages
            first = str(exc).strip().splitlines()
            raise ValueError(f"torch.export cannot trace this model with dynamic height/width: "
                             f"{type(exc).__name__}: {first[0] if first else ''}"[:400]) from None


def to_onnx(program_or_model: Any, example: "torch.Tensor", path: str | Path | None = None) -> bytes:
    """ONNX bytes of an exported program (or a module, static shape), written to ``path`` if given."""
    import torch

    require_onnx()
    for optimize in (True, False):  # onnxscript's graph optimiser fails on some graphs (pyramid attention)
        try:
            with _quiet():
                onnx_program = torch.onnx.export(program_or_model, (example,), input_names=["lr"],
                                                 output_names=["sr"], dynamo=True, external_data=False,
                                                 optimize=optimize, verbose=False)
            break
        except Exception as exc:  # noqa: BLE001
            if not optimize:
                first = str(exc).strip().splitlines()
                raise ValueError(f"ONNX export failed: {type(exc).__name__}: {first[0] if first else ''}"[:400]) from None
    data = onnx_program.model_proto.SerializeToString()
    if path is not None:
        Path(path).write_bytes(data)
    return data


def onnx_bytes(model: "nn.Module", shape: tuple[int, ...]) -> bytes:
    """ONNX bytes of ``model`` in eval mode for inputs of exactly ``shape`` (what latency measures)."""
    import copy

    import torch

    net = copy.deepcopy(model).float().eval()
    return to_onnx(net, torch.zeros(shape))


def onnx_session(data: bytes, threads: int | None = None) -> Any:
    """An ONNX Runtime CPU session of ``data`` (``threads`` intra-op threads; None: its default)."""
    require_onnx()
    import onnxruntime as ort

    options = ort.SessionOptions()
    options.log_severity_level = 3
    if threads:
        options.intra_op_num_threads = threads
    return ort.InferenceSession(data, options, providers=["CPUExecutionProvider"])
