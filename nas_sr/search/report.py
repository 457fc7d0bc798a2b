"""Reading results: the Pareto front over any objectives, tables/CSV/JSON, an interactive plot."""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path
from typing import TYPE_CHECKING, Any, Mapping, Sequence

from nas_sr.search.objectives import Objective

if TYPE_CHECKING:
    import optuna
    from optuna.trial import FrozenTrial


def dominates(a: Sequence[float], b: Sequence[float], directions: Sequence[str]) -> bool:
    """Whether ``a`` is at least as good as ``b`` everywhere and better somewhere.

    >>> dominates([30.0, 1.0], [29.0, 1.0], ["maximize", "minimize"])
    True
    >>> dominates([30.0, 2.0], [29.0, 1.0], ["maximize", "minimize"])
    False
    """
    sign = [1.0 if d == "minimize" else -1.0 for d in directions]
    pa = [s * v for s, v in zip(sign, a)]
    pb = [s * v for s, v in zip(sign, b)]
    return all(x <= y for x, y in zip(pa, pb)) and any(x < y for x, y in zip(pa, pb))


def non_dominated(points: Sequence[Sequence[float]], directions: Sequence[str],
                  margins: Sequence[float] | None = None) -> list[int]:
    """Indices of the points no other point dominates (equal points all stay). With ``margins``
    (one per objective, in its units) the front is taken with its uncertainty: a point goes only
    when another is better by more than the margin on some objective and by at least it on all.

    >>> non_dominated([[1, 1], [2, 0], [0, 0], [2, 0]], ["maximize", "maximize"])
    [0, 1, 3]
    >>> non_dominated([[32.00, 100], [32.04, 100], [31.0, 100]], ["maximize", "minimize"], [0.05, 0])
    [0, 1]
    """
    import numpy as np
    from optuna.study._multi_objective import _is_pareto_front  # numpy, O(n log n) in 2-D

    if len(points) == 0:
        return []
    sign = np.array([1.0 if d == "minimize" else -1.0 for d in directions])
    loss = np.asarray(points, dtype=float).reshape(len(points), len(directions)) * sign
    if not margins or not any(margins):
        return [int(i) for i in np.flatnonzero(_is_pareto_front(loss, assume_unique_lexsorted=False))]
    lowered = loss - np.asarray(margins, dtype=float)  # each point's loss, less its margin
    # A point that beats another by the margins is dominated by (or is) a point of the strict front,
    # which beats it too: testing against the strict front alone gives the same answer in O(n |front|)
    # (a 100,000-trial study: not 10^10 pairs).
    strict = loss[_is_pareto_front(loss, assume_unique_lexsorted=False)]
    beaten = np.zeros(len(loss), dtype=bool)
    for start in range(0, len(loss), 4096):  # in blocks: memory of 4096 x |front| x objectives
        low = lowered[start:start + 4096, None, :]
        beaten[start:start + 4096] = ((strict[None, :, :] <= low).all(axis=2)
                                      & (strict[None, :, :] < low).any(axis=2)).any(axis=1)
    return [int(i) for i in np.flatnonzero(~beaten)]


def margins(objectives: Sequence[Objective], tolerance: float) -> list[float]:
    """The front's margin per objective: ``tolerance`` dB on PSNR objectives, none on the others.

    >>> margins([Objective("psnr@val", "psnr_val", "maximize"), Objective("params", "params", "minimize")], 0.05)
    [0.05, 0.0]
    """
    return [tolerance if o.key.startswith("psnr") else 0.0 for o in objectives]


def feasible(trial: "FrozenTrial") -> bool:
    return all(v <= 0 for v in trial.constraints.values())


def pareto_front(study: "optuna.Study", objectives: Sequence[Objective] | None = None,
                 tolerance: float | None = None) -> list["FrozenTrial"]:
    """Non-dominated feasible COMPLETE trials, by number: the study's own ``best_trials`` for its
    objectives, else computed over the trials' user attributes for ``objectives``.

    ``tolerance`` (dB; default: the study's ``front_tolerance``, which ``nas-sr search`` records,
    else 0) reports the front with its uncertainty: a trial stays unless another beats its PSNR by
    more than that and is no worse on every other objective. Brief training ranks near-ties at
    random (its seeds differ by a median 0.05 dB at 4000 steps), so a strict front drops truly better
    configurations for overrated neighbours (``docs/esr_bench.md``, proxy mode)."""
    from optuna.trial import TrialState

    from nas_sr.search.objectives import objectives_of_study

    if tolerance is None:
        tolerance = float(study.user_attrs.get("front_tolerance", 0.0))
    own = list(study.metric_names or [])
    if not tolerance and (objectives is None or [o.name for o in objectives] == own):
        return sorted(study.best_trials, key=lambda t: t.number)
    if objectives is None:
        objectives = objectives_of_study(study.metric_names, study.directions)
    trials = [t for t in study.get_trials(deepcopy=False, states=(TrialState.COMPLETE,)) if feasible(t)]
    trials = [t for t in trials if all(o.key in t.user_attrs for o in objectives)]
    points = [[o.value(t.user_attrs) for o in objectives] for t in trials]
    return [trials[i] for i in non_dominated(points, [o.direction for o in objectives], margins(objectives, tolerance))]


def trial_row(trial: "FrozenTrial", objectives: Sequence[Objective]) -> dict[str, Any]:
    """Number, state, objective values, a few attributes and the config of one trial."""
    attrs = trial.user_attrs
    row: dict[str, Any] = {"number": trial.number, "state": trial.state.name}
    for o in objectives:
        row[o.name] = attrs.get(o.key)
    row.update(family=attrs.get("family"), steps=attrs.get("steps"), seconds=attrs.get("seconds"),
               feasible=feasible(trial))
    if "fail_reason" in attrs:
        row["fail_reason"] = attrs["fail_reason"]
    if "duplicate_of" in attrs:
        row["duplicate_of"] = attrs["duplicate_of"]
    row["config"] = attrs.get("config")
    return row


def render(rows: Sequence[Mapping[str, Any]], fmt: str) -> str:
    """Rows as an aligned ``table``, ``csv`` or ``json`` text."""
    if fmt == "json":
        return json.dumps(list(rows), indent=1)
    columns: list[str] = []
    for row in rows:
        columns += [c for c in row if c not in columns]
    if fmt == "csv":
        out = io.StringIO()
        writer = csv.DictWriter(out, columns, lineterminator="\n")
        writer.writeheader()
        writer.writerows(rows)
        return out.getvalue().rstrip("\n")
    if fmt != "table":
        raise ValueError(f"unknown format {fmt!r} (expected table, csv or json)")
    cells = [[_cell(row.get(c)) for c in columns] for row in rows]
    widths = [max([len(c)] + [len(r[i]) for r in cells]) for i, c in enumerate(columns)]
    lines = ["  ".join(c.ljust(w) for c, w in zip(columns, widths))]
    lines += ["  ".join(v.ljust(w) for v, w in zip(r, widths)) for r in cells]
    return "\n".join(line.rstrip() for line in lines)


def _cell(value: Any) -> str:
    if value is None:
        return "-"
    if isinstance(value, float):
        return f"{value:.4g}" if abs(value) < 1e4 else f"{value:.0f}"
    return str(value)


def write_front_html(study: "optuna.Study", objectives: Sequence[Objective], path: str | Path) -> Path:
    """A self-contained interactive page of the COMPLETE trials, coloured by family as ``nas-sr report``
    and ``nas-sr serve`` colour them, the front on ``objectives`` highlighted
    (:func:`nas_sr.browse.report.front_page`)."""
    from nas_sr.browse.query import StudyView
    from nas_sr.browse.report import front_page

    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(front_page(StudyView(study), objectives), encoding="utf-8")
    return path
