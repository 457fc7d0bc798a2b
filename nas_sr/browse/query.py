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

from typing import TYPE_CHECKING, Any, Iterable, Mapping, Sequence

from nas_sr.search.objectives import COSTS, QUALITY, Objective, objectives_of_study, parse_objective
from nas_sr.study.front import default_reference, hypervolume, margins, non_dominated
from nas_sr.study.table import read_trial_rows, state_counts, trials_frame

if TYPE_CHECKING:
    import optuna
    import pandas as pd

def open_study(name: str, storage: "str | optuna.storages.BaseStorage") -> "StudyView":
    """The study ``name`` in ``storage`` (a URL such as ``sqlite:///studies/nas.db``, or an Optuna
    storage), read-only; ValueError naming the existing studies when there is none by that name."""
    import optuna

    from nas_sr.study.storage import load_existing_study

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
        return trials_frame(read_trial_rows(self.study, wanted))

    def state_counts(self) -> dict[str, int]:
        """How many trials are in each state (``{"COMPLETE": 55, "FAIL": 4}``): one SQL count on an RDB
        storage, where ``get_n_trials`` would read every trial."""
        return state_counts(self.study)

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
        return hypervolume(loss, ref)

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
                value = hypervolume(front, ref)
            out.append(value)
        return pd.Series(out, index=data.index, name="hypervolume", dtype="float64")


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
