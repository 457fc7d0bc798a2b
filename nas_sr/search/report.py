"""Reading results: the Pareto front a search reports over any objectives, and tables/CSV/JSON of trials.

(The front and domination themselves are :mod:`nas_sr.study.front`'s; the front's page is
:func:`nas_sr.browse.report.write_front_html`.)"""

from __future__ import annotations

import csv
import io
import json
from typing import TYPE_CHECKING, Any, Mapping, Sequence

from nas_sr.search.objectives import Objective
from nas_sr.study.front import dominates, feasible, margins, non_dominated

__all__ = ["dominates", "feasible", "margins", "non_dominated", "pareto_front", "render", "trial_row"]

if TYPE_CHECKING:
    import optuna
    from optuna.trial import FrozenTrial


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
