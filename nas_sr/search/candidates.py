"""A candidate's costs before training: what the cost-aware strategy knows of every configuration."""

from __future__ import annotations

from typing import Any, Callable, Mapping


#: Candidates' FLOPs are counted on an LR input of this side and scaled by the pixel ratio.
CANDIDATE_LR_SIDE = 64


def candidate_cost_fn(settings: Mapping[str, Any],
                      flops: bool = True) -> Callable[[Mapping[str, Any]], dict[str, float]]:
    """Parameters and (with ``flops``) multiply-adds of a candidate before training
    (``nas_sr.cost.model_cost`` through the cost cache); latency is measured by the trial itself.

    Multiply-adds are counted on a ``CANDIDATE_LR_SIDE``-square LR input and scaled by the pixel
    ratio to the search's resolution: convolutions (and attention in windows that tile the input)
    cost the same per pixel, so the estimate is their count at that resolution, in a fraction of
    the time (a cost-aware search prepares up to 2000 candidates). Each trial counts its own
    FLOPs at the search's resolution. Without ``flops`` (no objective or constraint needs them)
    only the parameters are counted: no forward pass at all.
    """
    from nas_sr.cost import CostCache, count_parameters, model_cost
    from nas_sr.models.registry import build_model, canonical_config, deploy_model

    resolution = tuple(settings.get("resolution", (1920, 1080)))
    cache = CostCache(settings.get("cost_cache"))

    def cost(config: Mapping[str, Any]) -> dict[str, float]:
        full = canonical_config(config)
        if not flops:
            return {"params": float(count_parameters(deploy_model(full, build_model(full))))}
        side = CANDIDATE_LR_SIDE * int(full["scale"])
        small = (side, side) if side * side < resolution[0] * resolution[1] else resolution
        found = model_cost(full, small, cache=cache)  # type: ignore[arg-type]
        ratio = resolution[0] * resolution[1] / (small[0] * small[1])
        return {"params": float(found.params), "flops": float(found.flops) * ratio}

    return cost
