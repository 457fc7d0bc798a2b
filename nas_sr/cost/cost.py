"""The :class:`Cost` of a network config, and :func:`model_cost` that computes (and caches) it."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Mapping

from nas_sr.cost.counting import Resolution, count_flops, count_parameters
from nas_sr.cost.latency import LatencyResult, describe_device, measure_latency

if TYPE_CHECKING:
    from nas_sr.cost.cache import CostCache


@dataclass(frozen=True)
class Cost:
    """Parameters, multiply-adds at output ``resolution`` = ``(width, height)``, optional latency,
    all of the deploy form; ``params_train``: the training form's parameters where the family
    trains another (re-parameterisable) form, else None."""

    params: int
    flops: int
    resolution: Resolution
    latency: LatencyResult | None = None
    params_train: int | None = None

    def as_dict(self) -> dict[str, Any]:
        """A JSON-ready dict.

        >>> Cost(36, 829440, (1280, 720)).as_dict()
        {'params': 36, 'flops': 829440, 'resolution': [1280, 720], 'latency': None}
        """
        data = {
            "params": self.params,
            "flops": self.flops,
            "resolution": list(self.resolution),
            "latency": self.latency.as_dict() if self.latency else None,
        }
        return data if self.params_train is None else {**data, "params_train": self.params_train}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> "Cost":
        """Inverse of :meth:`as_dict`.

        >>> Cost.from_dict(Cost(36, 829440, (1280, 720)).as_dict())
        Cost(params=36, flops=829440, resolution=(1280, 720), latency=None, params_train=None)
        """
        latency = data.get("latency")
        width, height = data["resolution"]
        return cls(
            int(data["params"]), int(data["flops"]), (int(width), int(height)),
            LatencyResult.from_dict(latency) if latency else None,
            int(data["params_train"]) if data.get("params_train") is not None else None,
        )


def model_cost(
    config: Mapping[str, Any],
    resolution: Resolution = (1280, 720),
    *,
    latency: bool = False,
    device: str = "cpu",
    threads: int | None = None,
    dtype: str = "fp32",
    warmup: int = 3,
    repeats: int = 10,
    cache: "CostCache | None" = None,
    backend: str = "torch",
) -> Cost:
    """Build ``config`` and return the :class:`Cost` of its deploy form
    (:func:`~nas_sr.models.registry.deploy_model`); with ``cache``, look it up / store it first.
    ``backend`` runs the latency measurement (``"torch"`` or ``"onnxruntime"``, see
    :func:`~nas_sr.cost.measure_latency`).

    >>> model_cost({"family": "esr-max", "scale": 2, "kernel_size": 3, "channels": 1}, (128, 72))
    Cost(params=36, flops=82944, resolution=(128, 72), latency=None, params_train=None)
    """
    from nas_sr.models.registry import build_model, canonical_config, deploy_model

    full = canonical_config(config)
    resolution = (int(resolution[0]), int(resolution[1]))
    described = describe_device(device, threads, dtype, backend) if latency else None
    if cache is not None and (hit := cache.get(full, resolution, described)) is not None:
        return hit
    trained = build_model(full)
    model = deploy_model(full, trained)
    scale, colors = full["scale"], 1 if full["color"] == "y" else 3
    measured = (
        measure_latency(model, resolution, scale, colors, device, threads, dtype, warmup, repeats, backend)
        if latency else None
    )
    params_train = count_parameters(trained) if model is not trained else None
    cost = Cost(count_parameters(model), count_flops(model, resolution, scale, colors), resolution, measured,
                params_train)
    if cache is not None:
        cache.put(full, cost)
    return cost
