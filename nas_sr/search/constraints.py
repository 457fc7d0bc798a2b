"""Constraints on trial attributes, such as ``latency_ms<=33``, recorded with ``Trial.set_constraint``.

Grammar (strict): ``NAME OP NUMBER`` with NAME an objective name (``psnr@val``, ``latency_ms``,
``params``, ``flops``...), OP one of ``<=``, ``<``, ``>=``, ``>``. Optuna calls a trial feasible
when every constraint value is <= 0; :meth:`Constraint.violation` gives that value.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from typing import Any, Mapping, Sequence

from nas_sr.search.objectives import Objective, parse_objective

_PATTERN = re.compile(r"^\s*([A-Za-z_][\w@.-]*)\s*(<=|>=|<|>)\s*([-+]?(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?)\s*$")


@dataclass(frozen=True)
class Constraint:
    objective: Objective
    op: str
    bound: float

    @property
    def text(self) -> str:
        return f"{self.objective.name}{self.op}{self.bound:g}"

    def violation(self, attrs: Mapping[str, Any]) -> float:
        """<= 0 when satisfied; for a strict bound, equality counts as a tiny violation.

        >>> c = parse_constraint("latency_ms<=33", [])
        >>> c.violation({"latency_ms": 30.0}), c.violation({"latency_ms": 35.0})
        (-3.0, 2.0)
        """
        value = self.objective.value(attrs)
        excess = value - self.bound if self.op in ("<=", "<") else self.bound - value
        if self.op in ("<", ">") and excess == 0:
            return math.ulp(1.0)
        return excess


def parse_constraint(text: str, val_sets: Sequence[str]) -> Constraint:
    """Parse ``NAME OP NUMBER``; ValueError with a one-line message otherwise.

    >>> parse_constraint("params < 1e4", []).text
    'params<10000'
    >>> parse_constraint("latency_ms =< 3", [])
    Traceback (most recent call last):
    ...
    ValueError: bad constraint 'latency_ms =< 3': expected NAME OP NUMBER with OP one of <=, <, >=, > (e.g. latency_ms<=33)
    """
    match = _PATTERN.match(text)
    if not match:
        raise ValueError(f"bad constraint {text!r}: expected NAME OP NUMBER with OP one of <=, <, >=, > "
                         "(e.g. latency_ms<=33)")
    name, op, number = match.groups()
    try:
        objective = parse_objective(name, val_sets)
    except ValueError as exc:
        raise ValueError(f"bad constraint {text!r}: {exc}") from None
    return Constraint(objective, op, float(number))
