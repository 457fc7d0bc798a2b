"""Queries that stay fast on studies of 100,000 trials: read only the columns asked for, and build
Optuna's ``FrozenTrial`` only for the trials shown.

``study.get_trials()`` builds every trial with every attribute (a search records about 25 per
trial): over a minute for 100,000 trials. ``nas-sr pareto`` needs the objective values of the
COMPLETE trials and their feasibility; ``nas-sr trials --limit N`` needs N trials. On an RDB
storage (SQLite, PostgreSQL) these functions read just that with SQL on Optuna's tables (by their
documented names) and fetch the trials shown through the storage's ``get_trial``; on other
storages they return None and the caller reads through Optuna as before.
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any, Sequence

from nas_sr.search.objectives import Objective

if TYPE_CHECKING:
    import optuna
    from optuna.trial import FrozenTrial


def rdb_storage(study: "optuna.Study") -> Any:
    """The ``RDBStorage`` under ``study``'s storage wrappers, or None."""
    from optuna.storages import RDBStorage

    storage = getattr(study._storage, "_backend", study._storage)
    return storage if isinstance(storage, RDBStorage) else None


def _tables() -> tuple[Any, Any, Any]:
    import sqlalchemy as sa

    trials = sa.table("trials", sa.column("trial_id"), sa.column("number"), sa.column("study_id"),
                      sa.column("state"))
    users = sa.table("trial_user_attributes", sa.column("trial_id"), sa.column("key"), sa.column("value_json"))
    systems = sa.table("trial_system_attributes", sa.column("trial_id"), sa.column("key"), sa.column("value_json"))
    return trials, users, systems


def _states(column: Any, states: Sequence[str]) -> Any:
    import sqlalchemy as sa

    # Untyped literals: PostgreSQL compares them with its enum type, SQLite with the stored text.
    return column.in_([sa.literal_column(f"'{s}'") for s in states if s.isalpha()])


def front_trials(study: "optuna.Study", objectives: Sequence[Objective],
                 tolerance: float) -> "list[FrozenTrial] | None":
    """The non-dominated feasible COMPLETE trials for ``objectives`` (values from the user attributes,
    as :func:`nas_sr.search.report.pareto_front` takes them; near-ties within ``tolerance`` dB of
    PSNR kept), by number; None when the storage is not an RDB one."""
    import sqlalchemy as sa

    from nas_sr.search.report import margins, non_dominated

    storage = rdb_storage(study)
    if storage is None:
        return None
    trials, users, systems = _tables()
    keys = sorted({o.key for o in objectives})
    where = [trials.c.study_id == study._study_id, _states(trials.c.state, ["COMPLETE"])]
    values: dict[int, dict[str, Any]] = {}
    infeasible: set[int] = set()
    with storage.engine.connect() as conn:
        numbers = dict(conn.execute(sa.select(trials.c.trial_id, trials.c.number).where(*where)).all())
        for trial_id, key, text in conn.execute(
                sa.select(users.c.trial_id, users.c.key, users.c.value_json)
                .join(trials, trials.c.trial_id == users.c.trial_id).where(*where, users.c.key.in_(keys))):
            values.setdefault(trial_id, {})[key] = json.loads(text)
        for trial_id, text in conn.execute(
                sa.select(systems.c.trial_id, systems.c.value_json)
                .join(trials, trials.c.trial_id == systems.c.trial_id)
                .where(*where, systems.c.key.like("constraints:%"))):
            if float(json.loads(text)) > 0:
                infeasible.add(trial_id)
    rows = sorted((numbers[i], i) for i, attrs in values.items()
                  if i in numbers and i not in infeasible and all(k in attrs for k in keys))
    points = [[float(values[i][o.key]) for o in objectives] for _, i in rows]
    front = non_dominated(points, [o.direction for o in objectives], margins(objectives, tolerance))
    return [storage.get_trial(rows[j][1]) for j in front]


def latest_trials(study: "optuna.Study", states: Sequence[str] | None, limit: int) -> "list[FrozenTrial] | None":
    """The ``limit`` trials of highest number (in ``states``, when given), by number; None when
    the storage is not an RDB one."""
    import sqlalchemy as sa

    storage = rdb_storage(study)
    if storage is None:
        return None
    trials, _, _ = _tables()
    where = [trials.c.study_id == study._study_id]
    if states is not None:
        where.append(_states(trials.c.state, states))
    with storage.engine.connect() as conn:
        ids = [i for (i,) in conn.execute(sa.select(trials.c.trial_id).where(*where)
                                          .order_by(trials.c.number.desc()).limit(max(0, limit)))]
    return sorted((storage.get_trial(i) for i in ids), key=lambda t: t.number)
