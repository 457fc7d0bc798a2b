"""Search objectives: quality on a named validation set, latency, parameters or multiply-adds.

An objective is named ``psnr@SET`` / ``ssim@SET`` (``psnr`` alone means the first validation
set; ``psnr@mean``, with two or more sets, their mean), ``latency_ms``, ``params`` or ``flops``, or
``latency_ms@LABEL``: the latency on device LABEL predicted from its measurements
(:mod:`nas_sr.search.predicted`, user attribute ``latency_pred_ms@LABEL``). Its value is read from
a trial's user attributes.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Mapping, Sequence

QUALITY = ("psnr", "ssim")
COSTS = ("latency_ms", "params", "flops")
DEFAULT_OBJECTIVES = "psnr,latency_ms,params"


@dataclass(frozen=True)
class Objective:
    """``name`` as the study's metric name, user attribute ``key``, ``direction``."""

    name: str
    key: str
    direction: str  # "maximize" | "minimize"

    def value(self, attrs: Mapping[str, Any]) -> float:
        """The objective's value from a trial's user attributes (KeyError when absent)."""
        return float(attrs[self.key])


def parse_objective(text: str, val_sets: Sequence[str]) -> Objective:
    """``"psnr@val"`` -> Objective("psnr@val", "psnr_val", "maximize"); ValueError if unknown.

    >>> parse_objective("psnr", ["val"])
    Objective(name='psnr@val', key='psnr_val', direction='maximize')
    >>> parse_objective("params", ["val"]).direction
    'minimize'
    >>> parse_objective("psnr@mean", ["Set5", "Set14"])
    Objective(name='psnr@mean', key='psnr_mean', direction='maximize')
    >>> parse_objective("latency_ms@rpi", ["val"])
    Objective(name='latency_ms@rpi', key='latency_pred_ms@rpi', direction='minimize')
    """
    name, _, where = text.strip().partition("@")
    if name in COSTS and not where:
        return Objective(name, name, "minimize")
    if name == "latency_ms":  # a device label: the latency predicted for that device
        from nas_sr.study.record import check_label

        check_label(where)
        return Objective(f"{name}@{where}", f"latency_pred_ms@{where}", "minimize")
    if name in QUALITY:
        if not val_sets and not where:
            raise ValueError(f"objective {text!r} needs a validation set")
        where = where or val_sets[0]
        if where == "mean" and len(val_sets) >= 2 and "mean" not in val_sets:
            return Objective(f"{name}@mean", f"{name}_mean", "maximize")
        if val_sets and where not in val_sets:
            raise ValueError(f"objective {text!r}: no validation set {where!r} (have: {', '.join(val_sets)}"
                             f"{'; mean needs two or more' if where == 'mean' else ''})")
        return Objective(f"{name}@{where}", f"{name}_{where}", "maximize")
    raise ValueError(f"unknown objective {text!r} (expected psnr[@SET], ssim[@SET], {', '.join(COSTS)}, "
                     "latency_ms@DEVICE)")


def parse_objectives(text: str, val_sets: Sequence[str]) -> list[Objective]:
    """A comma-separated list of objectives, without repeats."""
    objectives = [parse_objective(part, val_sets) for part in text.split(",") if part.strip()]
    if not objectives:
        raise ValueError("no objectives given")
    names = [o.name for o in objectives]
    if len(set(names)) != len(names):
        raise ValueError(f"repeated objective in {text!r}")
    return objectives


def objectives_of_study(metric_names: Sequence[str] | None, directions: Sequence[Any]) -> list[Objective]:
    """The objectives a study was created with (from its metric names)."""
    if not metric_names:
        raise ValueError("the study has no metric names (was it created by nas-sr search?)")
    out = []
    for name in metric_names:
        base, _, where = name.partition("@")
        out.append(parse_objective(name, [where] if where else []))
    return out
