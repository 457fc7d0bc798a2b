"""eSR-Bench problems: the edge-SR table as an oracle for the 395 configurations of one scale.

PSNR is the mean of ``psnr_Set5``, ``psnr_Set14`` and ``psnr_BSDS100``. Problems: ``A`` = max PSNR,
max ``speed_AGX``; ``B`` = max PSNR, min ``parameters``; ``C`` = max PSNR, max ``speed_RPI``, min
``parameters``. The study sees log10 of speeds and parameters (objectives ``log10_speed_AGX``,
``log10_params``...). The measure maps each objective to a bigger-is-better unit scale with the
scale's table (PSNR: 0 at bicubic, 1 at the best; speed and parameters: log, 0 at the worst, 1 at
the best) and takes the hypervolume from the reference point 0 on the PSNR axis and -0.1 on each
cost axis, as a ratio to the hypervolume of all 395.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Mapping, Sequence

if TYPE_CHECKING:
    import numpy as np

    from nas_sr.search.objectives import Objective
    from nas_sr.space import SearchSpace

PSNR_SETS = ("Set5", "Set14", "BSDS100")
#: problem -> (table column, direction) per objective; "psnr" is the mean over PSNR_SETS.
PROBLEMS: dict[str, tuple[tuple[str, str], ...]] = {
    "A": (("psnr", "maximize"), ("speed_AGX", "maximize")),
    "B": (("psnr", "maximize"), ("parameters", "minimize")),
    "C": (("psnr", "maximize"), ("speed_RPI", "maximize"), ("parameters", "minimize")),
}
SCALES = (2, 3, 4)
CONFIGS_PER_SCALE = 395
#: Reference point on the unit scales: PSNR axis, then every cost axis.
PSNR_REFERENCE, COST_REFERENCE = 0.0, -0.1
SPACE_FILE = Path(__file__).resolve().parents[2] / "search_spaces" / "edge_sr.yaml"


def objective_key(column: str) -> str:
    """The study objective (and user attribute) of a table column: log10 of costs.

    >>> objective_key("psnr"), objective_key("parameters"), objective_key("speed_RPI")
    ('psnr', 'log10_params', 'log10_speed_RPI')
    """
    if column == "psnr":
        return "psnr"
    return "log10_params" if column == "parameters" else f"log10_{column}"


def unit_scale(values: "np.ndarray", columns: Sequence[str], table: "np.ndarray") -> "np.ndarray":
    """Raw table values (rows x columns) on the bigger-is-better unit scales of the measure, with
    ``table`` (the scale's rows, first row bicubic, same columns) as the yardstick.

    >>> import numpy as np
    >>> table = np.array([[30.0, 10.0], [32.0, 100.0], [31.0, 1000.0]])
    >>> unit_scale(np.array([[31.0, 100.0]]), ["psnr", "parameters"], table).round(6).tolist()
    [[0.5, 0.5]]
    >>> unit_scale(np.array([[31.0, 100.0]]), ["psnr", "speed_AGX"], table).round(6).tolist()
    [[0.5, 0.5]]
    """
    import numpy as np

    values, table = np.asarray(values, dtype=float), np.asarray(table, dtype=float)
    out = np.empty_like(values)
    for j, column in enumerate(columns):
        if column == "psnr":
            low, high = table[0, j], table[:, j].max()  # bicubic, the best
            out[:, j] = (values[:, j] - low) / (high - low)
        else:
            logs, all_logs = np.log(values[:, j]), np.log(table[:, j])
            low, high = all_logs.min(), all_logs.max()
            out[:, j] = (logs - low) / (high - low) if column.startswith("speed_") else (high - logs) / (high - low)
    return out


def hypervolume(points: "np.ndarray") -> float:
    """The hypervolume of unit-scale points (bigger is better) from the measure's reference point
    (Optuna's exact hypervolume); points beyond the reference on any axis add nothing.

    >>> import numpy as np
    >>> round(hypervolume(np.array([[1.0, 0.0], [0.5, 1.0]])), 10)  # 1 x 0.1 + 0.5 x 1.0
    0.6
    """
    import numpy as np

    from nas_sr.study.front import hypervolume as loss_hypervolume

    points = np.asarray(points, dtype=float)
    if points.size == 0:
        return 0.0
    reference = np.array([PSNR_REFERENCE] + [COST_REFERENCE] * (points.shape[1] - 1))
    return loss_hypervolume(-points, -reference)


@dataclass(frozen=True)
class EsrInstance:
    """One problem at one scale: the space, the study objectives and every configuration's row."""

    problem: str
    scale: int
    space: "SearchSpace"
    objectives: tuple["Objective", ...]
    columns: tuple[str, ...]
    #: config key -> raw values of ``columns`` (PSNR in dB, speed in fps, parameters).
    rows: Mapping[str, tuple[float, ...]]
    #: config key -> unit-scale point.
    units: Mapping[str, tuple[float, ...]]
    exhaustive_hv: float
    #: config key -> parameter count (known before training whatever the problem).
    parameters: Mapping[str, float]

    def attrs(self, key: str) -> dict[str, float]:
        """A trial's results for config ``key``: the study objectives and the raw columns."""
        raw = self.rows[key]
        out = {f"table_{c}": v for c, v in zip(self.columns, raw)}
        out.update({objective_key(c): (v if c == "psnr" else math.log10(v)) for c, v in zip(self.columns, raw)})
        return out

    def cost_attrs(self, config: Mapping[str, Any]) -> dict[str, float]:
        """What a search knows of a candidate before training (from the table): its cost objectives
        and, as a real search always does (:func:`nas_sr.search.driver.candidate_cost_fn`), its
        parameter count, ``log10_params``."""
        from nas_sr.models.registry import config_key

        key = config_key(config)
        costs = {k: v for k, v in self.attrs(key).items() if k.startswith("log10_")}
        costs["log10_params"] = math.log10(self.parameters[key])
        return costs

    def hv_ratio(self, keys: Sequence[str]) -> float:
        """HV of the configurations ``keys`` / HV of all of them."""
        import numpy as np

        return hypervolume(np.array([self.units[k] for k in dict.fromkeys(keys)])) / self.exhaustive_hv

    def hv_curve(self, keys: Sequence[str]) -> list[float]:
        """The HV ratio after each evaluation of ``keys`` (repeats included: they spend an evaluation)."""
        import numpy as np

        from nas_sr.study.front import pareto_mask

        curve: list[float] = []
        front = np.empty((0, len(self.columns)))
        value = 0.0
        for key in keys:
            point = np.asarray(self.units[key])
            if not ((front >= point).all(axis=1)).any():  # not dominated (nor equal): the HV grows
                front = np.vstack([front, point])
                front = front[pareto_mask(-front)]
                value = hypervolume(front) / self.exhaustive_hv
            curve.append(value)
        return curve


    def reported_curve(self, keys: Sequence[str | None], seen: Sequence[Sequence[float] | None],
                       tolerance: float = 0.0) -> list[float]:
        """The HV ratio, after each evaluation, of the front a search would report: the evaluated
        configurations that no other one dominates by the values it saw (``seen[i]``: the
        objectives of evaluation ``i``, bigger is better on every axis; None for an evaluation that
        added no result: a repeat or a failure). With the table's own values this is
        :meth:`hv_curve`; with proxy values a configuration the proxy overrates can push a truly
        better one off the reported front, and the ratio falls. ``tolerance`` (in the units of the
        first objective, PSNR in dB) reports the front with its uncertainty: a configuration stays
        unless another beats it by more than that on the first objective and is no worse on the others.

        >>> import types
        >>> inst = types.SimpleNamespace(hv_ratio=lambda keys: {"a": 0.5, "b": 0.9}.get("".join(sorted(keys)), 1.0))
        >>> EsrInstance.reported_curve(inst, ["a", "b", None], [[1.0, 1.0], [2.0, 2.0], None])
        [0.5, 0.9, 0.9]
        """
        from nas_sr.study.front import non_dominated

        curve: list[float] = []
        done: list[str] = []
        points: list[Sequence[float]] = []
        value, front_keys = 0.0, ()
        for key, values in zip(keys, seen):
            if key is not None and values is not None:
                done.append(key)
                points.append(values)
                margins = [tolerance] + [0.0] * (len(values) - 1)
                reported = tuple(sorted({done[i] for i in non_dominated(points, ["maximize"] * len(values),
                                                                         margins)}))
                if reported != front_keys:
                    front_keys, value = reported, self.hv_ratio(list(reported))
            curve.append(value)
        return curve


def load_instance(table: "str | Path | Mapping[str, Mapping[str, Any]]", problem: str, scale: int,
                  space_file: "str | Path | None" = None, trust_pickle: bool = False) -> EsrInstance:
    """Problem ``problem`` (A, B or C) at ``scale`` over the space of ``space_file`` restricted to
    that scale (default: ``edge_sr.yaml``), answered by ``table``: the edge-SR ``tests.pkl`` (read
    only with ``trust_pickle``: :func:`nas_sr.data.esr_table.load_table`) or its loaded dict.
    ValueError naming the table and the missing model when the two do not match."""
    import dataclasses

    import numpy as np

    from nas_sr.data.esr_table import load_table
    from nas_sr.models.esr_ids import esr_id_from_config
    from nas_sr.models.registry import config_key
    from nas_sr.search.objectives import Objective
    from nas_sr.space import load_space

    if problem not in PROBLEMS:
        raise ValueError(f"unknown problem {problem!r} (expected one of {', '.join(PROBLEMS)})")
    if scale not in SCALES:
        raise ValueError(f"unknown scale {scale!r} (expected one of {', '.join(map(str, SCALES))})")
    space_file = SPACE_FILE if space_file is None else space_file
    source = str(table) if isinstance(table, (str, Path)) else "the table"
    rows_by_id = load_table(table, trust_pickle) if isinstance(table, (str, Path)) else table
    space = load_space(space_file)
    space = dataclasses.replace(space, scales=(scale,))
    columns = tuple(c for c, _ in PROBLEMS[problem])
    rows: dict[str, tuple[float, ...]] = {}
    parameters: dict[str, float] = {}
    for config in space.enumerate():
        model_id = esr_id_from_config(config)
        row = rows_by_id.get(model_id)
        if row is None:
            raise ValueError(f"{source}: no row for {model_id} (is it the edge-SR tests.pkl?)")
        try:
            rows[config_key(config)] = tuple(_column(row, c) for c in columns)
            parameters[config_key(config)] = _column(row, "parameters")
        except (KeyError, TypeError, ValueError) as exc:
            raise ValueError(f"{source}: {model_id}: bad or missing {exc}") from None
    bicubic = config_key({"family": "bicubic", "scale": scale, "color": space.color})
    if bicubic not in rows:
        raise ValueError(f"{space_file}: the space has no bicubic configuration (the PSNR yardstick)")
    keys = [bicubic] + [k for k in rows if k != bicubic]
    raw = np.array([rows[k] for k in keys])
    unit = unit_scale(raw, columns, raw)
    objectives = tuple(Objective(objective_key(c), objective_key(c), d) for c, d in PROBLEMS[problem])
    units = {k: tuple(map(float, u)) for k, u in zip(keys, unit)}
    return EsrInstance(problem, scale, space, objectives, columns, rows, units, hypervolume(unit), parameters)


def _column(row: Mapping[str, Any], column: str) -> float:
    if column == "psnr":
        value = sum(float(row[f"psnr_{s}"]) for s in PSNR_SETS) / len(PSNR_SETS)
    else:
        value = float(row[column])
        if not value > 0:
            raise ValueError(f"{column} = {value!r} (must be positive)")
    if not math.isfinite(value):
        raise ValueError(f"{column} = {value!r}")
    return value
