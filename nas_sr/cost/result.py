"""The :class:`Cost` of a network: what :func:`nas_sr.cost.model_cost` returns and the cost cache stores."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Mapping

from nas_sr.cost.counting import Resolution
from nas_sr.cost.latency import LatencyResult


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
