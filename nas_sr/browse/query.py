"""A study as pandas: ``open_study(name, storage).trials()``, ``.pareto()``, ``.hypervolume()``.

One row per trial, indexed by trial number: ``state``, ``feasible``, ``family``, ``scale``, every
metric and cost the trial recorded (``psnr_val``, ``ssim_val``, ``params``, ``flops``, ``latency_ms``...),
the canonical ``config`` (JSON) and one ``cfg_<field>`` column per config field. Columns are typed:
integers ``Int64``, reals ``float64``, flags ``boolean``, texts ``string``, ``family``/``state``
``category``; a value a trial lacks is missing (``<NA>``/``NaN``).

>>> import optuna, warnings
>>> optuna.logging.set_verbosity(optuna.logging.WARNING)
>>> study = optuna.create_study(directions=["maximize", "minimize"])
>>> with warnings.catch_warnings():
...     warnings.simplefilter("ignore")
...     study.set_metric_names(["psnr@val", "params"])
>>> for psnr, params in [(30.0, 100), (31.0, 400), (29.0, 500)]:
...     study.add_trial(optuna.trial.create_trial(values=[psnr, params], user_attrs={
...         "psnr_val": psnr, "params": params, "family": "esr-tm", "scale": 2,
...         "config": '{"channels": 2, "family": "esr-tm", "scale": 2}'}))
>>> view = StudyView(study)
>>> frame = view.trials()
>>> {c: str(frame[c].dtype) for c in ["state", "family", "scale", "psnr_val", "params", "cfg_channels"]}
{'state': 'category', 'family': 'category', 'scale': 'Int64', 'psnr_val': 'float64', 'params': 'Int64', 'cfg_channels': 'Int64'}
>>> frame.loc[1, "psnr_val"]
np.float64(31.0)
>>> list(view.pareto().index)
[0, 1]
>>> view.hypervolume(reference={"psnr@val": 29.0, "params": 500})
500.0
"""

from __future__ import annotations

import json
import math
from typing import TYPE_CHECKING, Any, Iterable, Mapping, NamedTuple, Sequence

from nas_sr.search.objectives import COSTS, QUALITY, Objective, objectives_of_study, parse_objective
from nas_sr.search.report import margins, non_dominated

if TYPE_CHECKING:
    import optuna
    import pandas as pd

#: User attributes left out of :meth:`StudyView.trials` (bulky or internal).
SKIPPED_ATTRS = ("curve", "weights_artifact")
#: First columns, in this order; then the other attributes and the ``cfg_`` ones, sorted.
LEADING = ("state", "feasible", "family", "scale")
#: Columns typed ``category``.
CATEGORIES = ("family", "state")


def open_study(name: str, storage: "str | optuna.storages.BaseStorage") -> "StudyView":
    """The study ``name`` in ``storage`` (a URL such as ``sqlite:///studies/nas.db``, or an Optuna
    storage), read-only; ValueError naming the existing studies when there is none by that name."""
    import optuna

    from nas_sr.search.study import load_existing_study

    if isinstance(storage, str):
        return StudyView(load_existing_study(name, storage))
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    return StudyView(optuna.load_study(study_name=name, storage=storage))


class StudyView:
    """Read-only queries over one Optuna study of ``nas-sr search`` (or an imported reference)."""

    def __init__(self, study: "optuna.Study") -> None:
        self.study = study

    @property
    def name(self) -> str:
        return self.study.study_name

    @property
    def is_reference(self) -> bool:
        """Whether the study holds literature results (``nas-sr import-esr``) rather than a search."""
        return bool(self.study.user_attrs.get("reference"))

    @property
    def front_tolerance(self) -> float:
        """The dB of PSNR within which ``nas-sr search`` reports near-ties on the front (0: strict; a
        study from before the setting, or made otherwise)."""
        return float(self.study.user_attrs.get("front_tolerance", 0.0))

    @property
    def objectives(self) -> list[Objective]:
        """The study's own objectives (from its metric names)."""
        return objectives_of_study(self.study.metric_names, self.study.directions)

    def objective(self, spec: "str | Objective") -> Objective:
        """An objective by name (``psnr@Set5``, ``params``, ``latency_ms``...) or as given."""
        if isinstance(spec, Objective):
            return spec
        for o in self.objectives:
            if spec in (o.name, o.key):
                return o
        sets = [o.name.partition("@")[2] for o in self.objectives if "@" in o.name]
        if spec.partition("@")[0] in QUALITY or spec in COSTS:
            return parse_objective(spec, sets if "@" not in spec else [])
        # Any other numeric column: psnr_Set5 or latency_ms_AGX of the reference study, a latency that
        # `nas-sr profile` recorded (latency_ms@rpi4-fp32)...
        better = "maximize" if spec.startswith(("psnr_", "ssim_", "fps_")) else "minimize"
        return Objective(spec, spec, better)

    def _objectives(self, objectives: "Sequence[str | Objective] | str | None") -> list[Objective]:
        if objectives is None:
            return self.objectives
        if isinstance(objectives, str):
            objectives = [part for part in objectives.split(",") if part.strip()]
        return [self.objective(o) for o in objectives]

    def trials(self, states: "Iterable[str] | str | None" = None) -> "pd.DataFrame":
        """All trials (or those whose state is in ``states``, e.g. ``"COMPLETE"``), one row each."""
        from optuna.trial import TrialState

        wanted = None
        if states is not None:
            names = [states] if isinstance(states, str) else list(states)
            bad = [s for s in names if s.upper() not in TrialState.__members__]
            if bad:
                raise ValueError(f"unknown trial state {bad[0]!r} (expected {', '.join(TrialState.__members__)})")
            wanted = tuple(TrialState[s.upper()] for s in names)
        records = _read_records(self.study, wanted)
        if records is None:  # not an RDB storage: through Optuna's FrozenTrials
            records = [_Record(t.number, t.state.name, t.user_attrs, t.constraints)
                       for t in self.study.get_trials(deepcopy=False, states=wanted)]
        return trials_frame(records)

    def state_counts(self) -> dict[str, int]:
        """How many trials are in each state (``{"COMPLETE": 55, "FAIL": 4}``): one SQL count on an RDB
        storage, where ``get_n_trials`` would read every trial."""
        import sqlalchemy as sa
        from optuna.storages import RDBStorage
        from optuna.storages._rdb import models

        storage = getattr(self.study._storage, "_backend", self.study._storage)
        if not isinstance(storage, RDBStorage):
            counts: dict[str, int] = {}
            for t in self.study.get_trials(deepcopy=False):
                counts[t.state.name] = counts.get(t.state.name, 0) + 1
            return dict(sorted(counts.items()))
        trials = models.TrialModel.__table__
        with storage.engine.connect() as conn:
            rows = conn.execute(sa.select(trials.c.state, sa.func.count()).where(
                trials.c.study_id == self.study._study_id).group_by(trials.c.state)).all()
        return dict(sorted((state.name, int(n)) for state, n in rows))

    def pareto(self, objectives: "Sequence[str | Objective] | str | None" = None,
               frame: "pd.DataFrame | None" = None) -> "pd.DataFrame":
        """The non-dominated feasible COMPLETE trials for the study's objectives or those given
        (rows of :meth:`trials`, or of ``frame`` when given), by number: the front the search
        reported, near-ties within :attr:`front_tolerance` included."""
        objs = self._objectives(objectives)
        data = self.trials("COMPLETE") if frame is None else frame
        return data.loc[front_mask(data, objs, self.front_tolerance)]

    def hypervolume(self, objectives: "Sequence[str | Objective] | str | None" = None,
                    reference: "Mapping[str, float] | Sequence[float] | None" = None,
                    frame: "pd.DataFrame | None" = None) -> float:
        """The hypervolume the feasible COMPLETE trials dominate, up to ``reference`` (objective
        name -> value, or values in objective order; default: :func:`default_reference`)."""
        objs = self._objectives(objectives)
        data = self.trials("COMPLETE") if frame is None else frame
        loss = _loss(data, objs)
        ref = _reference_loss(objs, reference, loss)
        return _hypervolume(loss, ref)

    def hypervolume_history(self, objectives: "Sequence[str | Objective] | str | None" = None,
                            reference: "Mapping[str, float] | Sequence[float] | None" = None,
                            frame: "pd.DataFrame | None" = None) -> "pd.Series":
        """Hypervolume of the feasible COMPLETE trials among trials 0..n, for each COMPLETE trial n
        (same reference for all: default :func:`default_reference` of the whole study)."""
        import numpy as np
        import pandas as pd

        objs = self._objectives(objectives)
        data = (self.trials("COMPLETE") if frame is None else frame).sort_index()
        loss_all = _loss(data, objs, drop=False)
        ok = np.isfinite(loss_all).all(axis=1) & data["feasible"].fillna(False).to_numpy(bool)
        ref = _reference_loss(objs, reference, loss_all[ok])
        front = np.empty((0, len(objs)))
        value, out = 0.0, []
        for i in range(len(data)):
            point = loss_all[i]
            if ok[i] and (point < ref).all() and not (front <= point).all(axis=1).any():
                keep = ~((point <= front).all(axis=1))
                front = np.vstack([front[keep], point])
                value = _hypervolume(front, ref)
            out.append(value)
        return pd.Series(out, index=data.index, name="hypervolume", dtype="float64")


class _Record(NamedTuple):
    number: int
    state: str
    user_attrs: Mapping[str, Any]
    constraints: Mapping[str, float]


def _read_records(study: "optuna.Study", states: "tuple[Any, ...] | None") -> "list[_Record] | None":
    """The study's trials straight from an RDB storage's tables (number, state, user attributes,
    constraints): what ``get_trials`` gives of them, without building FrozenTrials (10x faster);
    None for other storages."""
    import sqlalchemy as sa
    from optuna.storages import RDBStorage
    from optuna.storages._rdb import models

    storage = getattr(study._storage, "_backend", study._storage)
    if not isinstance(storage, RDBStorage):
        return None
    trials = models.TrialModel.__table__
    users = models.TrialUserAttributeModel.__table__
    systems = models.TrialSystemAttributeModel.__table__
    where = [trials.c.study_id == study._study_id]
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
    return [_Record(r.number, r.state.name, attrs[r.trial_id], limits[r.trial_id]) for r in rows]


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


def front_mask(frame: "pd.DataFrame", objectives: Sequence[Objective], tolerance: float = 0.0) -> "Any":
    """Boolean array: rows of ``frame`` that are COMPLETE, feasible, have every objective, and that no
    such row dominates (by more than ``tolerance`` dB on PSNR objectives: the front with its
    uncertainty, as :func:`nas_sr.search.report.pareto_front` reports it)."""
    import numpy as np

    loss = _loss(frame, objectives, drop=False)
    ok = np.isfinite(loss).all(axis=1) & frame["feasible"].fillna(False).to_numpy(bool)
    if "state" in frame:
        ok &= (frame["state"].astype("string") == "COMPLETE").fillna(False).to_numpy(bool)
    mask = np.zeros(len(frame), dtype=bool)
    idx = np.flatnonzero(ok)
    on = non_dominated(loss[idx], ["minimize"] * len(objectives), margins(objectives, tolerance))
    mask[idx[on]] = True
    return mask


def _loss(frame: "pd.DataFrame", objectives: Sequence[Objective], drop: bool = True) -> "Any":
    """Objective values as a minimisation array (maximised ones negated); NaN where absent."""
    import numpy as np

    cols = []
    for o in objectives:
        if o.key in frame:
            values = frame[o.key].astype("float64").to_numpy(dtype=float, na_value=np.nan)
        else:
            values = np.full(len(frame), np.nan)
        cols.append(-values if o.direction == "maximize" else values)
    loss = np.column_stack(cols) if cols else np.empty((len(frame), 0))
    if drop:
        ok = np.isfinite(loss).all(axis=1)
        if "feasible" in frame:
            ok &= frame["feasible"].fillna(False).to_numpy(bool)
        if "state" in frame:
            ok &= (frame["state"].astype("string") == "COMPLETE").fillna(False).to_numpy(bool)
        loss = loss[ok]
    return loss


def default_reference(loss: "Any") -> "Any":
    """Reference point (minimisation space): each objective's worst value pushed out by 10 % of its
    range (by 1 when all trials agree)."""
    import numpy as np

    worst, best = loss.max(axis=0), loss.min(axis=0)
    span = np.where(worst > best, worst - best, 1.0)
    return worst + 0.1 * span


def _reference_loss(objectives: Sequence[Objective], reference: Any, loss: Any) -> Any:
    import numpy as np

    if reference is None:
        if len(loss) == 0:
            return np.full(len(objectives), np.inf)
        return default_reference(loss)
    if isinstance(reference, Mapping):
        missing = [o.name for o in objectives if o.name not in reference and o.key not in reference]
        if missing:
            raise ValueError(f"reference point lacks {', '.join(missing)}")
        values = [float(reference.get(o.name, reference.get(o.key))) for o in objectives]
    else:
        values = [float(v) for v in reference]
        if len(values) != len(objectives):
            raise ValueError(f"reference point has {len(values)} values for {len(objectives)} objectives")
    return np.array([-v if o.direction == "maximize" else v for o, v in zip(objectives, values)])


def _hypervolume(loss: Any, reference: Any) -> float:
    import numpy as np
    from optuna._hypervolume import compute_hypervolume

    if not np.isfinite(reference).all():
        return 0.0
    inside = loss[(loss < reference).all(axis=1)] if len(loss) else loss
    if len(inside) == 0:
        return 0.0
    return float(compute_hypervolume(inside, reference))
