"""A study's trials as a table: one typed pandas row per trial (``trials_frame``), read in one SQL
query from an RDB storage (``read_trial_rows``: 10x faster than building FrozenTrials), state
counts, and every attribute of one trial whatever its state.

Columns: ``state``, ``feasible``, ``family``, ``scale``, every metric and cost the trial recorded,
the canonical ``config`` (JSON) and one ``cfg_<field>`` column per config field; integers ``Int64``,
reals ``float64``, flags ``boolean``, texts ``string``, ``family``/``state`` ``category``.
(``nas_sr.browse.StudyView`` adds the fronts and hypervolumes over it.)
"""

from __future__ import annotations

import json
import math
from typing import TYPE_CHECKING, Any, NamedTuple, Sequence

if TYPE_CHECKING:
    import optuna
    import pandas as pd

#: User attributes left out of :meth:`StudyView.trials` (bulky or internal).
SKIPPED_ATTRS = ("curve", "weights_artifact")
#: First columns, in this order; then the other attributes and the ``cfg_`` ones, sorted.
LEADING = ("state", "feasible", "family", "scale")
#: Columns typed ``category``.
CATEGORIES = ("family", "state")


class TrialRow(NamedTuple):
    """A trial as the table reads it: what ``FrozenTrial`` gives of it, cheaply."""

    number: int
    state: str
    user_attrs: Mapping[str, Any]
    constraints: Mapping[str, float]


def _read_sql(study: "optuna.Study", states: "tuple[Any, ...] | None") -> "list[TrialRow] | None":
    """The study's trials straight from an RDB storage's tables (number, state, user attributes,
    constraints): what ``get_trials`` gives of them, without building FrozenTrials (10x faster);
    None for other storages."""
    import sqlalchemy as sa

    from nas_sr.study._optuna import rdb_backend, rdb_models, study_id

    storage = rdb_backend(study)
    if storage is None:
        return None
    models = rdb_models()
    trials = models.TrialModel.__table__
    users = models.TrialUserAttributeModel.__table__
    systems = models.TrialSystemAttributeModel.__table__
    where = [trials.c.study_id == study_id(study)]
    if states is not None:
        where.append(trials.c.state.in_(list(states)))
    with storage.engine.connect() as conn:
        rows = conn.execute(sa.select(trials.c.trial_id, trials.c.number, trials.c.state).where(*where)
                            .order_by(trials.c.number)).all()
        attrs: dict[int, dict[str, Any]] = {r.trial_id: {} for r in rows}
        limits: dict[int, dict[str, float]] = {r.trial_id: {} for r in rows}
        for table, into, extra in ((users, attrs, users.c.key.notin_(SKIPPED_ATTRS)),
                                   (systems, limits, systems.c.key.like("constraints:%"))):
            query = (sa.select(table.c.trial_id, table.c.key, table.c.value_json)
                     .join(trials, trials.c.trial_id == table.c.trial_id).where(*where)
                     .order_by(table.c[table.primary_key.columns.keys()[0]]))
            query = query.where(extra)
            for trial_id, key, value in conn.execute(query):
                into[trial_id][key.removeprefix("constraints:") if table is systems else key] = json.loads(value)
    return [TrialRow(r.number, r.state.name, attrs[r.trial_id], limits[r.trial_id]) for r in rows]


def trials_frame(trials: "Sequence[Any]") -> "pd.DataFrame":
    """Typed DataFrame of trials (FrozenTrials, or anything with ``number``, ``state``,
    ``user_attrs`` and ``constraints``; see the module's description)."""
    import pandas as pd

    rows = []
    for t in trials:
        attrs = t.user_attrs
        state = t.state if isinstance(t.state, str) else t.state.name
        row: dict[str, Any] = {"number": t.number, "state": state,
                               "feasible": all(v <= 0 for v in t.constraints.values())}
        for key, value in attrs.items():
            if key in SKIPPED_ATTRS or isinstance(value, (dict, list)):
                continue
            row[key] = value
        text = attrs.get("config")
        if isinstance(text, str) and text.startswith("{"):
            for key, value in json.loads(text).items():
                if key not in ("family", "scale"):
                    row[f"cfg_{key}"] = json.dumps(value) if isinstance(value, (dict, list)) else value
        rows.append(row)
    keys = {k for row in rows for k in row} - {"number"}
    lead = [k for k in LEADING if k in keys or k in ("state", "feasible")]
    columns = lead + sorted(k for k in keys - set(lead) if not k.startswith("cfg_"))
    columns += sorted(k for k in keys if k.startswith("cfg_"))
    index = pd.Index([row["number"] for row in rows], dtype="int64", name="number")
    return pd.DataFrame({c: _typed(pd.Series([row.get(c) for row in rows], index=index, dtype=object, name=c))
                         for c in columns}, index=index)


def _typed(column: "pd.Series") -> "pd.Series":
    values = [v for v in column if v is not None and not (isinstance(v, float) and math.isnan(v))]
    name = column.name
    if name in CATEGORIES:
        return column.astype("category")
    if values and all(isinstance(v, bool) for v in values):
        return column.astype("boolean")
    if values and all(isinstance(v, int) and not isinstance(v, bool) for v in values):
        return column.astype("Int64")
    if values and all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in values):
        return column.astype("float64")
    if all(isinstance(v, str) for v in values):
        return column.astype("string")
    return column


def read_trial_rows(study: "optuna.Study", states: "tuple[Any, ...] | None" = None) -> list[TrialRow]:
    """The study's trials (those in ``states``; default all) by number: straight from the tables of an
    RDB storage, else through Optuna's FrozenTrials."""
    rows = _read_sql(study, states)
    if rows is None:  # not an RDB storage
        rows = [TrialRow(t.number, t.state.name, t.user_attrs, t.constraints)
                for t in study.get_trials(deepcopy=False, states=states)]
    return rows


def state_counts(study: "optuna.Study") -> dict[str, int]:
    """How many trials are in each state (``{"COMPLETE": 55, "FAIL": 4}``): one SQL count on an RDB
    storage, where ``get_n_trials`` would read every trial."""
    import sqlalchemy as sa

    from nas_sr.study._optuna import rdb_backend, rdb_models, study_id

    storage = rdb_backend(study)
    if storage is None:
        counts: dict[str, int] = {}
        for t in study.get_trials(deepcopy=False):
            counts[t.state.name] = counts.get(t.state.name, 0) + 1
        return dict(sorted(counts.items()))
    trials = rdb_models().TrialModel.__table__
    with storage.engine.connect() as conn:
        rows = conn.execute(sa.select(trials.c.state, sa.func.count()).where(
            trials.c.study_id == study_id(study)).group_by(trials.c.state)).all()
    return dict(sorted((state.name, int(n)) for state, n in rows))


def trial_attrs(study: "optuna.Study", number: int) -> dict[str, Any]:
    """Every user attribute of trial ``number`` (curve and weights included) and its ``state``,
    straight from storage (whatever the trial's state)."""
    from nas_sr.study._optuna import storage_of, study_id

    storage = storage_of(study)
    trial = storage.get_trial(storage.get_trial_id_from_study_id_trial_number(study_id(study), number))
    return {**trial.user_attrs, "state": trial.state.name}
