"""The values one hyper-parameter may take in a branch: fixed, a list of choices, or a range.

Each kind lists its values (``None`` when continuous), samples with an Optuna trial, and
describes itself. :func:`parse_param` builds one from its YAML value and the registry's type.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Sequence, Union

from nas_sr.space.errors import FieldError, Loc
from nas_sr.space.schema import RangeSpec, validate

if TYPE_CHECKING:
    from optuna.trial import BaseTrial

Value = Union[bool, int, float]


@dataclass(frozen=True)
class Fixed:
    """One value, written as a plain scalar (or a family default): never suggested."""

    value: Value
    default: bool = False

    def values(self) -> Sequence[Value] | None:
        return (self.value,)

    def suggest(self, trial: BaseTrial, name: str) -> Value:
        return self.value

    def describe(self) -> str:
        return f"{self.value!r}" + (" (default)" if self.default else "")


@dataclass(frozen=True)
class Choice:
    """A list of values: a categorical choice."""

    choices: tuple[Value, ...]

    def values(self) -> Sequence[Value] | None:
        return self.choices

    def suggest(self, trial: BaseTrial, name: str) -> Value:
        return trial.suggest_categorical(name, list(self.choices))

    def describe(self) -> str:
        return f"{list(self.choices)}"


@dataclass(frozen=True)
class IntRange:
    """``{low, high, step, log}``: the integers ``low, low + step, ..., high``.

    >>> list(IntRange(2, 8, step=2).values())
    [2, 4, 6, 8]
    """

    low: int
    high: int
    step: int = 1
    log: bool = False

    def values(self) -> Sequence[Value] | None:
        return range(self.low, self.high + 1, self.step)

    def suggest(self, trial: BaseTrial, name: str) -> Value:
        return trial.suggest_int(name, self.low, self.high, step=self.step, log=self.log)

    def describe(self) -> str:
        return f"{self.low}..{self.high}" + (f" step {self.step}" if self.step != 1 else "") + (
            " log" if self.log else ""
        )


@dataclass(frozen=True)
class FloatRange:
    """``{low, high, step?, log?}``: continuous without a step, else ``low + i * step`` up to ``high``.

    >>> FloatRange(0.0, 1.0, step=0.25).values(), FloatRange(0.1, 1.0).values()
    ([0.0, 0.25, 0.5, 0.75, 1.0], None)
    """

    low: float
    high: float
    step: float | None = None
    log: bool = False

    def values(self) -> Sequence[Value] | None:
        if self.step is None:
            return None
        # The same arithmetic as Optuna's stepped float distributions.
        return [i * self.step + self.low for i in range(round((self.high - self.low) / self.step) + 1)]

    def suggest(self, trial: BaseTrial, name: str) -> Value:
        return trial.suggest_float(name, self.low, self.high, step=self.step, log=self.log)

    def describe(self) -> str:
        text = f"{self.low!r}..{self.high!r}"
        return text + (f" step {self.step!r}" if self.step is not None else " continuous") + (
            " log" if self.log else ""
        )


Param = Union[Fixed, Choice, IntRange, FloatRange]


def check_value(value: Any, kind: type, minimum: float, loc: Loc) -> Value:
    """``value`` as a value of type ``kind`` (ints are accepted for floats), or a :class:`FieldError`.

    >>> check_value(3, float, 1, ["x"])
    3.0
    >>> check_value(True, int, 1, ["x"])
    Traceback (most recent call last):
    ...
    nas_sr.space.errors.FieldError: x: expected an int, not a bool (got True)
    """
    if isinstance(value, bool) and kind is not bool:
        raise FieldError(loc, f"expected {_a(kind)}, not a bool", value)
    if kind is float and isinstance(value, int):
        value = float(value)
    if not isinstance(value, kind):
        hint = ""
        if kind is float and isinstance(value, str) and _is_number(value):
            hint = " (YAML reads 1e-3 as a string: write 1.0e-3)"
        raise FieldError(loc, f"expected {_a(kind)}{hint}", value)
    if kind is float and not math.isfinite(value):
        raise FieldError(loc, "expected a finite float", value)
    if kind is int and value < minimum:
        raise FieldError(loc, f"below the minimum {minimum}", value)
    return value


def parse_param(raw: Any, kind: type, minimum: int, loc: Loc) -> Param:
    """The :data:`Param` that a YAML value describes, for a hyper-parameter of type ``kind``.

    >>> parse_param({"low": 1, "high": 16}, int, 1, ["channels"])
    IntRange(low=1, high=16, step=1, log=False)
    >>> parse_param([3, 5, 3], int, 1, ["kernel_size"])
    Traceback (most recent call last):
    ...
    nas_sr.space.errors.FieldError: kernel_size[2]: duplicate value (got 3)
    """
    if isinstance(raw, list):
        if not raw:
            raise FieldError(loc, "empty list", raw)
        values = [check_value(v, kind, minimum, (*loc, i)) for i, v in enumerate(raw)]
        for i, value in enumerate(values):
            if value in values[:i]:
                raise FieldError((*loc, i), "duplicate value", raw[i])
        return Choice(tuple(values))
    if isinstance(raw, dict):
        return _parse_range(raw, kind, minimum, loc)
    return Fixed(check_value(raw, kind, minimum, loc))


def _parse_range(raw: dict, kind: type, minimum: int, loc: Loc) -> Param:
    if kind not in (int, float):
        raise FieldError(loc, f"a range needs an int or float hyper-parameter, not {_a(kind)}", raw)
    spec = validate(RangeSpec, raw, loc)
    low = check_value(spec.low, kind, minimum, (*loc, "low"))
    high = check_value(spec.high, kind, minimum, (*loc, "high"))
    if low > high:
        raise FieldError(loc, "low > high", raw)
    step = None if spec.step is None else check_value(spec.step, kind, -math.inf, (*loc, "step"))
    if step is not None and step <= 0:
        raise FieldError((*loc, "step"), "step must be > 0", step)
    if spec.log and step not in (None, 1):
        raise FieldError(loc, "log cannot be combined with a step", raw)
    if spec.log and (low < 1 if kind is int else low <= 0):
        raise FieldError((*loc, "low"), f"log needs low {'>= 1' if kind is int else '> 0'}", low)
    if kind is int:
        if (high - low) % (step or 1):
            raise FieldError(loc, "high - low must be a multiple of step", raw)
        return IntRange(low, high, step or 1, spec.log)
    if step is not None and not math.isclose((high - low) / step, round((high - low) / step), abs_tol=1e-9):
        raise FieldError(loc, "high - low must be a multiple of step", raw)
    return FloatRange(low, high, step, spec.log)


def _a(kind: type) -> str:
    return f"an {kind.__name__}" if kind.__name__[0] in "aeiou" else f"a {kind.__name__}"


def _is_number(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return True
