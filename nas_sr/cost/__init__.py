"""Cost of a candidate network: parameters, multiply-adds and measured latency, with a cache.

Importing this package is light; torch and fvcore are imported on first use.
"""

from nas_sr.cost.cache import CostCache, default_cache_path
from nas_sr.cost.cost import Cost, model_cost
from nas_sr.cost.counting import count_flops, count_parameters, lr_resolution, parse_resolution
from nas_sr.cost.latency import DeviceDescription, LatencyResult, describe_device, measure_latency

__all__ = [
    "Cost",
    "CostCache",
    "DeviceDescription",
    "LatencyResult",
    "count_flops",
    "count_parameters",
    "default_cache_path",
    "describe_device",
    "lr_resolution",
    "measure_latency",
    "model_cost",
    "parse_resolution",
]
