"""Kernel-level costs of one forward pass: what each operator the network runs reads, writes and
computes, summed per kernel kind (nn-Meter's view of latency: a sum over kernels).

Every ATen operator of a forward pass is seen once (``TorchDispatchMode``), so functional code
(``amax``, ``softmax``, element-wise ``mul``, views) counts as well as modules. Each one is put in a
kind by what bounds its time on a device:

- ``conv``: convolutions (transposed ones too): multiply-adds, and the bytes of input, output
  and weights;
- ``conv1x1``: the same for 1x1 convolutions (no neighbourhood: a plain GEMM on every device);
- ``deconv``: the same for transposed convolutions (strided scatter: slow kernels on some devices);
- ``pointwise``: element-wise and reduction operators (activations, ``mul``, ``softmax``,
  ``amax``, ``sum``, ``add``): bytes read and written;
- ``shuffle``: data movement (pixel shuffle, copies, concatenation, padding): bytes moved.

Views (``view``, ``slice``, ``select``...) move nothing and are not counted. Per-pixel figures
grow with the pixel count, so they are counted on a small input and scaled; the number of kernels
launched does not (it is what a GPU's per-kernel overhead multiplies).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import TYPE_CHECKING, Any, Mapping

from nas_sr.cost.counting import Resolution, lr_resolution

if TYPE_CHECKING:
    from torch import nn

#: LR side of the input the operators are counted on (any size gives the same per-pixel counts).
COUNT_SIDE = 32
_BYTES = 4  # fp32
# Operators that only re-describe memory: no kernel runs.
_VIEWS = {"view", "_unsafe_view", "reshape", "slice", "select", "unsqueeze", "squeeze", "permute", "transpose",
          "t", "expand", "as_strided", "alias", "detach", "unbind", "split", "chunk", "lift_fresh"}
_MOVES = {"pixel_shuffle", "pixel_unshuffle", "cat", "stack", "clone", "copy_", "constant_pad_nd", "reflection_pad2d",
          "replication_pad2d", "contiguous", "repeat", "upsample_nearest2d", "index", "roll"}


@dataclass(frozen=True)
class KernelCosts:
    """Per-kernel-kind totals of one forward pass at ``resolution`` (output width, height):
    multiply-adds and bytes moved (``*_bytes``: input + output + weights, fp32), ``kernels``
    launched, ``params`` and the convolutions' largest channel count ``max_channels``."""

    conv_macs: float
    conv_bytes: float
    conv1x1_macs: float
    conv1x1_bytes: float
    deconv_macs: float
    deconv_bytes: float
    pointwise_bytes: float
    shuffle_bytes: float
    unfold_bytes: float
    kernels: int
    params: int
    max_channels: int
    resolution: Resolution

    def as_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["resolution"] = list(self.resolution)
        return data

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> "KernelCosts":
        values = dict(data)
        values["resolution"] = tuple(values["resolution"])
        return cls(**values)

    @property
    def macs(self) -> float:
        return self.conv_macs + self.conv1x1_macs + self.deconv_macs

    @property
    def bytes(self) -> float:
        return self.conv_bytes + self.conv1x1_bytes + self.deconv_bytes + self.pointwise_bytes + self.shuffle_bytes


def kernel_costs(model: "nn.Module", resolution: Resolution, scale: int, colors: int) -> KernelCosts:
    """The :class:`KernelCosts` of ``model`` producing an output of ``resolution`` = (width, height).

    >>> from torch import nn
    >>> k = kernel_costs(nn.Sequential(nn.Conv2d(1, 4, 3, padding=1, bias=False), nn.ReLU()), (64, 32), 1, 1)
    >>> k.conv_macs == 4 * 9 * 64 * 32, k.kernels, k.pointwise_bytes == 2 * 4 * 64 * 32 * 4
    (True, 2, True)
    """
    import torch
    from torch.utils._python_dispatch import TorchDispatchMode

    totals = {f"{kind}_{what}": 0.0 for kind in ("conv", "conv1x1", "deconv") for what in ("macs", "bytes", "weights")}
    totals.update(pointwise_bytes=0.0, shuffle_bytes=0.0, unfold_bytes=0.0)
    counted = {"kernels": 0, "max_channels": 0}

    def nbytes(values: Any) -> int:
        flat = values if isinstance(values, (list, tuple)) else [values]
        return sum(v.numel() * _BYTES for v in flat if isinstance(v, torch.Tensor))

    class _Count(TorchDispatchMode):
        def __torch_dispatch__(self, func, types, args=(), kwargs=None):  # noqa: ANN001
            out = func(*args, **(kwargs or {}))
            name = func.overloadpacket.__name__
            if name in _VIEWS:
                return out
            moved = sum(nbytes(a) for a in args) + nbytes(out)
            counted["kernels"] += 1
            if name in ("convolution", "_convolution", "conv2d", "mkldnn_convolution", "_slow_conv2d_forward"):
                x, w = args[0], args[1]
                transposed = len(args) > 6 and bool(args[6])
                groups = int(args[8]) if len(args) > 8 else 1
                c_out = w.shape[1] * groups if transposed else w.shape[0]
                # Every weight meets every input pixel (transposed) or every output pixel (plain).
                grid = x if transposed else out
                kind = "deconv" if transposed else "conv1x1" if w.shape[2] * w.shape[3] == 1 else "conv"
                pixels = grid.shape[0] * grid.shape[2] * grid.shape[3]
                totals[f"{kind}_macs"] += float(w.numel() * pixels)
                if kind != "conv1x1":  # im2col (col2im) matrix of a GEMM convolution: a kernel-area copy
                    totals["unfold_bytes"] += float(w.numel() / (c_out if not transposed else w.shape[0]) * pixels
                                                    * _BYTES) if not transposed else float(
                        w.shape[1] * w.shape[2] * w.shape[3] * pixels * _BYTES)
                # Weights are read once per pass, whatever the size: kept apart from the per-pixel bytes.
                weights = nbytes(w) + nbytes(args[2] if len(args) > 2 else None)
                totals[f"{kind}_bytes"] += moved - weights
                totals[f"{kind}_weights"] += weights
                counted["max_channels"] = max(counted["max_channels"], int(c_out), int(x.shape[1]))
            elif name in _MOVES:
                totals["shuffle_bytes"] += moved
            else:
                totals["pointwise_bytes"] += moved
            return out

    lr = COUNT_SIDE
    x = torch.zeros(1, colors, lr, lr)
    was_training = model.training
    model.eval()
    try:
        with torch.no_grad(), _Count():
            model(x)
    finally:
        model.train(was_training)
    width, height = lr_resolution(resolution, scale)
    ratio = width * height / (lr * lr)
    scaled = {k: v * ratio for k, v in totals.items() if not k.endswith("_weights")}
    for kind in ("conv", "conv1x1", "deconv"):
        scaled[f"{kind}_bytes"] += totals[f"{kind}_weights"]
    return KernelCosts(**scaled, kernels=counted["kernels"], params=sum(p.numel() for p in model.parameters()),
                       max_channels=counted["max_channels"], resolution=(int(resolution[0]), int(resolution[1])))


def config_kernel_costs(config: Mapping[str, Any], resolution: Resolution = (1920, 1080)) -> KernelCosts:
    """:func:`kernel_costs` of a config's deploy form (what is shipped)."""
    from nas_sr.models.registry import build_model, canonical_config, deploy_model

    full = canonical_config(config)
    model = deploy_model(full, build_model(full))
    return kernel_costs(model, resolution, int(full["scale"]), 1 if full["color"] == "y" else 3)
