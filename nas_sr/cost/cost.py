"""The :class:`~nas_sr.cost.result.Cost` of a network config: :func:`model_cost` computes (and caches) it."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Mapping

from nas_sr.cost.counting import Resolution, count_flops, count_parameters
from nas_sr.cost.latency import describe_device, measure_latency
from nas_sr.cost.result import Cost

if TYPE_CHECKING:
    from nas_sr.cost.cache import CostCache


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
