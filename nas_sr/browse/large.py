"""Queries that stay fast on studies of 100,000 trials: read only the columns asked for, and build
records (:class:`Shown`, what the commands print of a ``FrozenTrial``) only for the trials shown.

``study.get_trials()`` builds every trial with every attribute (a search records about 25 per
trial): over a minute for 100,000 trials. ``nas-sr pareto`` needs the objective values of the
COMPLETE trials and their feasibility; ``nas-sr trials --limit N`` needs N trials. On an RDB
storage (SQLite, PostgreSQL) these functions read just that with SQL on Optuna's tables (its
models, through :func:`nas_sr.study._optuna.rdb_models`), the trials shown in three queries whatever their count; on other
storages they return None and the caller reads through Optuna as before.
"""

from __future__ import annotations

import json
import math
from typing import TYPE_CHECKING, Any, NamedTuple, Sequence

from nas_sr.search.objectives import Objective

if TYPE_CHECKING:
    import optuna


def _tables() -> tuple[Any, Any, Any]:
    from nas_sr.study._optuna import rdb_models

    models = rdb_models()
    return (models.TrialModel.__table__, models.TrialUserAttributeModel.__table__,
            models.TrialSystemAttributeModel.__table__)


def _states(column: Any, states: Sequence[str]) -> Any:
    import sqlalchemy as sa

    # Untyped literals: PostgreSQL compares them with its enum type, SQLite with the stored text.
    return column.in_([sa.literal_column(f"'{s}'") for s in states if s.isalpha()])


class Shown(NamedTuple):
    """A trial as the commands show it (what :func:`nas_sr.search.report.trial_row` reads of a
    ``FrozenTrial``), read for a few trials at once."""

    number: int
    state: Any  # optuna.trial.TrialState
    values: "list[float] | None"
    user_attrs: dict[str, Any]
    constraints: dict[str, float]


def shown(conn: Any, ids: Sequence[int]) -> list[Shown]:
    """The trials of ``ids`` (trial ids) with their values and attributes, by number: three
    queries whatever their count."""
    import sqlalchemy as sa
    from optuna.trial import TrialState

    trials, users, systems = _tables()
    from nas_sr.study._optuna import rdb_models

    values_table = rdb_models().TrialValueModel.__table__
    rows = conn.execute(sa.select(trials.c.trial_id, trials.c.number, trials.c.state)
                        .where(trials.c.trial_id.in_(list(ids)))).all()
    attrs: dict[int, dict[str, Any]] = {r[0]: {} for r in rows}
    limits: dict[int, dict[str, float]] = {r[0]: {} for r in rows}
    values: dict[int, dict[int, float]] = {}
    for trial_id, key, text in conn.execute(sa.select(users.c.trial_id, users.c.key, users.c.value_json)
                                            .where(users.c.trial_id.in_(list(ids)))):
        attrs[trial_id][key] = json.loads(text)
    for trial_id, key, text in conn.execute(sa.select(systems.c.trial_id, systems.c.key, systems.c.value_json)
                                            .where(systems.c.trial_id.in_(list(ids)),
                                                   systems.c.key.like("constraints:%"))):
        limits[trial_id][key.removeprefix("constraints:")] = float(json.loads(text))
    for trial_id, objective, value in conn.execute(
            sa.select(values_table.c.trial_id, values_table.c.objective, values_table.c.value)
            .where(values_table.c.trial_id.in_(list(ids)))):
        values.setdefault(trial_id, {})[int(objective)] = float(value) if value is not None else math.nan
    return sorted((Shown(int(number), TrialState[str(state).rsplit(".", 1)[-1]],
                         [v for _, v in sorted(values[i].items())] if i in values else None, attrs[i], limits[i])
                   for i, number, state in rows), key=lambda t: t.number)


def front_trials(study: "optuna.Study", objectives: Sequence[Objective], tolerance: float) -> "list[Shown] | None":
    """The non-dominated feasible COMPLETE trials for ``objectives`` (values from the user attributes,
    as :func:`nas_sr.search.report.pareto_front` takes them; near-ties within ``tolerance`` dB of
    PSNR kept), by number; None when the storage is not an RDB one."""
    import sqlalchemy as sa

    from nas_sr.study._optuna import rdb_backend, study_id
    from nas_sr.study.front import margins, non_dominated

    storage = rdb_backend(study)
    if storage is None:
        return None
    trials, users, systems = _tables()
    keys = [o.key for o in objectives]
    where = [trials.c.study_id == study_id(study), _states(trials.c.state, ["COMPLETE"])]
    # One row per trial: the objectives' attributes pivoted in SQL (JSON numbers are their text).
    pivot = [sa.func.max(sa.case((users.c.key == sa.literal(k), users.c.value_json))).label(f"v{j}")
             for j, k in enumerate(keys)]
    with storage.engine.connect() as conn:
        infeasible = {i for (i,) in conn.execute(
            sa.select(systems.c.trial_id).join(trials, trials.c.trial_id == systems.c.trial_id)
            .where(*where, systems.c.key.like("constraints:%"),
                   sa.cast(systems.c.value_json, sa.Float) > 0))}
        rows = conn.execute(sa.select(trials.c.trial_id, trials.c.number, *pivot)
                            .join(users, users.c.trial_id == trials.c.trial_id)
                            .where(*where, users.c.key.in_(keys)).group_by(trials.c.trial_id, trials.c.number)
                            .order_by(trials.c.number)).all()
        rows = [r for r in rows if r[0] not in infeasible and all(v is not None for v in r[2:])]
        points = [[float(v) for v in r[2:]] for r in rows]
        front = non_dominated(points, [o.direction for o in objectives], margins(objectives, tolerance))
        return shown(conn, [rows[j][0] for j in front])


def latest_trials(study: "optuna.Study", states: Sequence[str] | None, limit: int) -> "list[Shown] | None":
    """The ``limit`` trials of highest number (in ``states``, when given), by number; None when
    the storage is not an RDB one."""
    import sqlalchemy as sa

    from nas_sr.study._optuna import rdb_backend, study_id

    storage = rdb_backend(study)
    if storage is None:
        return None
    trials, _, _ = _tables()
    where = [trials.c.study_id == study_id(study)]
    if states is not None:
        where.append(_states(trials.c.state, states))
    with storage.engine.connect() as conn:
        ids = [i for (i,) in conn.execute(sa.select(trials.c.trial_id).where(*where)
                                          .order_by(trials.c.number.desc()).limit(max(0, limit)))]
        return shown(conn, ids)
