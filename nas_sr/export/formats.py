"""A trained network out of nas-sr, as ``pth`` (state_dict + config), ``onnx`` or ``torchscript``,
checked against PyTorch's own output on random inputs of two sizes."""

from __future__ import annotations

import json
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable, Mapping

if TYPE_CHECKING:
    import numpy as np
    import torch
    from torch import nn

FORMATS = ("pth", "onnx", "torchscript")
#: Largest absolute difference from PyTorch's output (pixels in [0, 1]) an export may show.
DEFAULT_TOLERANCE = 1e-4
#: LR height, width of the example input (rounded up to the family's size multiple).
EXAMPLE_SIZE = (40, 48)
PTH_FORMAT = "nas-sr"


@dataclass(frozen=True)
class ExportResult:
    """Where the export went and how far its outputs are from PyTorch's at each checked input shape
    (largest absolute difference, pixels on the [0, 1] scale)."""

    format: str
    path: Path
    max_abs_error: float
    tolerance: float
    checked_shapes: list[tuple[int, ...]]
    #: Which LR sizes the exported model takes, e.g. "any height and width".
    input_sizes: str
    seconds: float
    errors: list[float] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return self.max_abs_error <= self.tolerance


def check_shapes(config: Mapping[str, Any]) -> list[tuple[int, int, int, int]]:
    """Two LR input shapes (N, C, H, W) the export is checked at: the example, and one of other
    residues (sizes odd where the family allows it, else other multiples of its windows).

    >>> check_shapes({"family": "esr-tm", "scale": 2, "color": "y"})
    [(1, 1, 40, 48), (1, 1, 37, 53)]
    >>> check_shapes({"family": "emt", "scale": 2, "color": "rgb", "window_long": 16, "window_short": 4})
    [(1, 3, 48, 48), (1, 3, 32, 64)]
    """
    from nas_sr.models.onnx import size_multiple

    m = size_multiple(config)
    colors = 1 if config.get("color") == "y" else 3
    h, w = (-(-side // m) * m for side in EXAMPLE_SIZE)
    second = (h - 3, w + 5) if m == 1 else (max(m, h - m), w + m)
    return [(1, colors, h, w), (1, colors, *second)]


def sizes_rule(config: Mapping[str, Any]) -> str:
    """Which LR sizes an exported graph takes.

    >>> sizes_rule({"family": "rlfn", "scale": 4})
    'height and width of at least 21'
    """
    from nas_sr.models.onnx import min_side, size_multiple

    m, low = size_multiple(config), min_side(config)
    rule = "any height and width" if m == 1 else f"height and width multiples of {m} (its windows)"
    return rule if low == 1 else rule.replace("any height and width", "height and width") + f" of at least {low}"


def export_model(model: "nn.Module", config: Mapping[str, Any], fmt: str, path: str | Path, *,
                 tolerance: float = DEFAULT_TOLERANCE, metadata: Mapping[str, Any] | None = None) -> ExportResult:
    """Write ``model`` (built from ``config``) in its deploy form
    (:func:`~nas_sr.models.registry.deploy_model`) to ``path`` in format ``fmt``, reload it, and
    compare its outputs with PyTorch's at :func:`check_shapes` (fixed seed)."""
    import torch

    if fmt not in FORMATS:
        raise ValueError(f"unknown export format {fmt!r} (expected one of {', '.join(FORMATS)})")
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    from nas_sr.models import deploy_model, get_family

    model = deploy_model(config, model).float().eval()
    shapes = check_shapes(config)
    generator = torch.Generator().manual_seed(0)
    # Pixels as the family takes them (EMT: 0..255); errors are reported on the [0, 1] scale.
    pixel = float(get_family(config["family"]).input_range)
    inputs = [torch.rand(shape, generator=generator) * pixel for shape in shapes]
    start = time.perf_counter()
    run = _WRITERS[fmt](model, config, path, inputs[0], dict(metadata or {}))
    seconds = time.perf_counter() - start
    errors = []
    with torch.no_grad():
        for x in inputs:
            expected = model(x).numpy()
            got = run(x)
            if got.shape != expected.shape:
                raise ValueError(f"{path}: the exported model outputs shape {got.shape} for input "
                                 f"{tuple(x.shape)}, PyTorch {expected.shape}")
            errors.append(float(abs(got - expected).max()) / pixel)
    return ExportResult(fmt, path, max(errors), tolerance, [tuple(x.shape) for x in inputs],
                        "any height and width" if fmt == "pth" else sizes_rule(config), seconds, errors)


Runner = Callable[["torch.Tensor"], "np.ndarray"]


def _write_pth(model: "nn.Module", config: Mapping[str, Any], path: Path, example: "torch.Tensor",
               metadata: dict[str, Any]) -> Runner:
    import torch

    from nas_sr.models.registry import config_key

    torch.save({"format": PTH_FORMAT, "config": config_key(config), "metadata": json.dumps(metadata),
                "state_dict": model.state_dict()}, path)
    loaded, _ = load_pth(path)
    return lambda x: loaded(x).numpy()


def _write_onnx(model: "nn.Module", config: Mapping[str, Any], path: Path, example: "torch.Tensor",
                metadata: dict[str, Any]) -> Runner:
    import onnx

    from nas_sr.models.onnx import exported_program, min_side, onnx_session, require_onnx, size_multiple, to_onnx

    require_onnx()
    program = exported_program(model, example, size_multiple(config), min_side(config))
    data = to_onnx(program, example)
    proto = onnx.load_from_string(data)
    for key, value in {"nas_sr_config": json.dumps(dict(config), sort_keys=True), **metadata}.items():
        proto.metadata_props.add(key=key, value=value if isinstance(value, str) else json.dumps(value))
    data = proto.SerializeToString()
    path.write_bytes(data)
    session = onnx_session(path.read_bytes())
    name = session.get_inputs()[0].name
    return lambda x: session.run(None, {name: x.numpy()})[0]


def _write_torchscript(model: "nn.Module", config: Mapping[str, Any], path: Path, example: "torch.Tensor",
                       metadata: dict[str, Any]) -> Runner:
    import warnings

    import torch

    extra = {"nas_sr_config.json": json.dumps(dict(config), sort_keys=True), "metadata.json": json.dumps(metadata)}
    with warnings.catch_warnings(), torch.no_grad():
        # torch 2.13 marks torch.jit deprecated (it still works); trace warns about shapes as constants
        warnings.simplefilter("ignore")
        traced = torch.jit.trace(model, example)
        torch.jit.save(traced, str(path), _extra_files=extra)
        loaded = torch.jit.load(str(path), map_location="cpu").eval()
    return lambda x: loaded(x).numpy()


_WRITERS = {"pth": _write_pth, "onnx": _write_onnx, "torchscript": _write_torchscript}


def load_pth(path: str | Path) -> "tuple[nn.Module, dict[str, Any]]":
    """The network (deploy form, eval mode) and config of a ``pth`` export; ValueError naming the
    file otherwise.

    ``nas-sr evaluate --model CONFIG --weights FILE.pth`` reads the same file (its ``state_dict``).
    """
    import torch

    from nas_sr.models import build_model, deploy_model
    from nas_sr.models.weights import load_weights

    try:
        data = torch.load(Path(path), map_location="cpu", weights_only=True)
    except FileNotFoundError:
        raise ValueError(f"{path}: no such file") from None
    except Exception as exc:  # noqa: BLE001 - torch raises many types for foreign files
        raise ValueError(f"{path}: not a readable PyTorch file ({type(exc).__name__})") from None
    if not isinstance(data, dict) or data.get("format") != PTH_FORMAT:
        raise ValueError(f"{path}: not a nas-sr pth export (no format: {PTH_FORMAT!r} entry)")
    config = json.loads(data["config"])
    model = build_model(config)
    load_weights(model, data["state_dict"], source=str(path))
    return deploy_model(config, model).eval(), config
