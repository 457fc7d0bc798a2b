"""Constraints on trial attributes, such as ``latency_ms<=33``, recorded with ``Trial.set_constraint``.

Grammar (strict): ``NAME OP BOUND`` with NAME an objective name (``psnr@val``, ``latency_ms``,
``params``, ``flops``...), OP one of ``<=``, ``<``, ``>=``, ``>``, and BOUND a number or a
reference model's name, optionally plus or minus a number (``psnr@val>=rlfn``,
``psnr@val>=rlfn-0.1``): that model's own value, measured by :mod:`nas_sr.search.reference` before
the search and then fixed (:meth:`Constraint.resolved`). Optuna calls a trial feasible when every
constraint value is <= 0; :meth:`Constraint.violation` gives that value.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from typing import Any, Mapping, Sequence

from nas_sr.search.objectives import Objective, parse_objective

_NUMBER = r"(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?"
_PATTERN = re.compile(rf"^\s*([A-Za-z_][\w@.-]*)\s*(<=|>=|<|>)\s*(?:([-+]?{_NUMBER})|"
                      rf"([A-Za-z_][\w.-]*?)\s*(?:([-+])\s*({_NUMBER}))?)\s*$")


@dataclass(frozen=True)
class Constraint:
    objective: Objective
    op: str
    #: The bound; with a ``reference``, the offset from that model's value until :meth:`resolved`.
    bound: float
    reference: str = ""

    @property
    def text(self) -> str:
        if self.reference:
            offset = f"{self.bound:+.10g}" if self.bound else ""
            return f"{self.objective.name}{self.op}{self.reference}{offset}"
        return f"{self.objective.name}{self.op}{self.bound:.10g}"

    def resolved(self, references: Mapping[str, Mapping[str, Any]]) -> "Constraint":
        """The constraint with a number for bound: the reference model's value (from its
        attributes in ``references``, keyed as a trial's) plus the offset.

        >>> c = parse_constraint("psnr@val>=rlfn-0.5", ["val"])
        >>> c.text, c.resolved({"rlfn": {"psnr_val": 27.5}}).text
        ('psnr@val>=rlfn-0.5', 'psnr@val>=27')
        """
        if not self.reference:
            return self
        if self.reference not in references:
            raise ValueError(f"constraint {self.text!r} names reference {self.reference!r}, which is not given "
                             f"(--reference {self.reference}=WEIGHTS)")
        value = self.objective.value(references[self.reference])
        return Constraint(self.objective, self.op, value + self.bound)

    def violation(self, attrs: Mapping[str, Any]) -> float:
        """<= 0 when satisfied; for a strict bound, equality counts as a tiny violation.

        >>> c = parse_constraint("latency_ms<=33", [])
        >>> c.violation({"latency_ms": 30.0}), c.violation({"latency_ms": 35.0})
        (-3.0, 2.0)
        """
        if self.reference:
            raise ValueError(f"constraint {self.text!r} is not resolved (its reference model's value is unknown)")
        value = self.objective.value(attrs)
        excess = value - self.bound if self.op in ("<=", "<") else self.bound - value
        if self.op in ("<", ">") and excess == 0:
            return math.ulp(1.0)
        return excess


def parse_constraint(text: str, val_sets: Sequence[str]) -> Constraint:
    """Parse ``NAME OP BOUND``; ValueError with a one-line message otherwise.

    >>> parse_constraint("params < 1e4", []).text
    'params<10000'
    >>> parse_constraint("psnr@val >= rlfn", ["val"]).reference
    'rlfn'
    >>> parse_constraint("latency_ms =< 3", [])
    Traceback (most recent call last):
    ...
    ValueError: bad constraint 'latency_ms =< 3': expected NAME OP NUMBER with OP one of <=, <, >=, > (e.g. latency_ms<=33)
    """
    match = _PATTERN.match(text)
    if not match:
        raise ValueError(f"bad constraint {text!r}: expected NAME OP NUMBER with OP one of <=, <, >=, > "
                         "(e.g. latency_ms<=33)")
    name, op, number, reference, sign, offset = match.groups()
    try:
        objective = parse_objective(name, val_sets)
    except ValueError as exc:
        raise ValueError(f"bad constraint {text!r}: {exc}") from None
    if reference:
        return Constraint(objective, op, float(f"{sign}{offset}") if offset else 0.0, reference)
    return Constraint(objective, op, float(number))
