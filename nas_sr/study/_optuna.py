"""Optuna behind one door: every use of Optuna's private API in nas-sr, and nowhere else.

nas-sr reads and writes plain Optuna studies through Optuna's public API, except for a few things
that API does not offer: the hypervolume, the Pareto-front test and the non-dominated sort of
Optuna's multi-objective code (fast, exact, the same numbers Optuna's samplers see), NSGA-II's
crowding distance, the SQL tables of an RDB storage (reading a 10,000-trial study in one query,
writing attributes onto finished trials, bulk inserts), and a study's storage and id.

Each is one function here. When an Optuna release moves or changes one, the call raises
:class:`OptunaChanged` naming what moved and the versions tested, and ``tests/test_optuna_door.py``
fails with the same message (one test per use); ``pyproject.toml`` caps Optuna below the next
major version for that reason.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Sequence

if TYPE_CHECKING:
    import numpy as np
    import optuna

#: The Optuna major version these uses were written and tested against (pyproject.toml: optuna<6).
TESTED = "5.x"


class OptunaChanged(RuntimeError):
    """An Optuna release no longer offers a private name nas-sr relies on."""


def _private(module: str, name: str) -> Any:
    """``module.name``, or :class:`OptunaChanged` saying which private name moved."""
    import importlib

    import optuna

    try:
        return getattr(importlib.import_module(module), name)
    except (ImportError, AttributeError) as exc:
        raise OptunaChanged(
            f"nas-sr uses Optuna's private {module}.{name}, which optuna {optuna.__version__} does not have "
            f"({type(exc).__name__}: {exc}); it was tested with optuna {TESTED}: install optuna<6 or update "
            "nas_sr/study/_optuna.py") from None


# -- multi-objective arithmetic ----------------------------------------------------------------------------


def compute_hypervolume(loss: "np.ndarray", reference: "np.ndarray") -> float:
    """The hypervolume ``loss`` points (every objective minimised) dominate up to ``reference``
    (``optuna._hypervolume.compute_hypervolume``: exact, WFG in 3-D and more)."""
    return float(_private("optuna._hypervolume", "compute_hypervolume")(loss, reference))


def is_pareto_front(loss: "np.ndarray") -> "np.ndarray":
    """Boolean mask of the non-dominated rows of ``loss`` (minimised; equal rows all kept)
    (``optuna.study._multi_objective._is_pareto_front``: O(n log n) in 2-D)."""
    return _private("optuna.study._multi_objective", "_is_pareto_front")(loss, assume_unique_lexsorted=False)


def fast_non_domination_rank(loss: "np.ndarray") -> "np.ndarray":
    """Non-dominated rank of each row of ``loss`` (minimised; 0: the front)
    (``optuna.study._multi_objective._fast_non_domination_rank``)."""
    return _private("optuna.study._multi_objective", "_fast_non_domination_rank")(loss)


def crowding_distances(values: Sequence[Sequence[float]]) -> list[float]:
    """NSGA-II's crowding distance of each point (boundary points: inf)
    (``optuna.samplers.nsgaii._elite_population_selection_strategy._calc_crowding_distance``)."""
    from types import SimpleNamespace

    calc = _private("optuna.samplers.nsgaii._elite_population_selection_strategy", "_calc_crowding_distance")
    points = [SimpleNamespace(number=i, values=list(v)) for i, v in enumerate(values)]
    distances = calc(points)
    return [distances[i] for i in range(len(values))]


# -- a study's storage ---------------------------------------------------------------------------------------


def storage_of(study: "optuna.Study") -> "optuna.storages.BaseStorage":
    """The storage a loaded study reads and writes (``Study._storage``)."""
    try:
        return study._storage
    except AttributeError:
        raise OptunaChanged(f"optuna.Study has no _storage any more; tested with optuna {TESTED}") from None


def study_id(study: "optuna.Study") -> int:
    """The study's id in its storage (``Study._study_id``)."""
    try:
        return int(study._study_id)
    except AttributeError:
        raise OptunaChanged(f"optuna.Study has no _study_id any more; tested with optuna {TESTED}") from None


def trial_id(trial: Any) -> int:
    """A trial's id in its storage (``Trial._trial_id``, ``FrozenTrial._trial_id``), as the storage's
    own methods (``set_trial_user_attr``...) take it."""
    try:
        return int(trial._trial_id)
    except AttributeError:
        raise OptunaChanged(f"{type(trial).__name__} has no _trial_id any more; tested with optuna {TESTED}") from None


def rdb_backend(study: "optuna.Study") -> Any:
    """The study's ``RDBStorage`` under Optuna's cache (``_CachedStorage._backend``) and nas-sr's
    retrying and batching wrappers (whose held attribute writes it flushes first, so that SQL reads
    and writes see them), or None for other storages (journal, in-memory)."""
    from optuna.storages import RDBStorage

    storage: Any = storage_of(study)
    # nas-sr's layers hold their wrapped storage in ``_inner``, Optuna's cache in ``_backend``.
    while storage is not None and not isinstance(storage, RDBStorage):
        if getattr(type(storage), "holds_writes", False):  # nas_sr.study.batched: SQL must see them
            storage.flush()
        storage = vars(storage).get("_inner") or getattr(storage, "_backend", None)
    return storage


def rdb_models() -> Any:
    """Optuna's SQLAlchemy models of an RDB storage (``optuna.storages._rdb.models``): ``TrialModel``,
    ``TrialValueModel``, ``TrialUserAttributeModel``, ``TrialSystemAttributeModel``."""
    models = _private("optuna.storages._rdb", "models")
    for name in ("TrialModel", "TrialValueModel", "TrialUserAttributeModel", "TrialSystemAttributeModel"):
        if not hasattr(models, name):
            raise OptunaChanged(f"optuna.storages._rdb.models has no {name} any more; tested with optuna {TESTED}")
    return models


def create_running_trial(study: "optuna.Study", template: "optuna.trial.FrozenTrial") -> "optuna.Trial":
    """A new RUNNING trial of ``study`` made from ``template`` (its params, distributions, user
    attributes) in one storage call, as a live ``optuna.Trial``
    (``BaseStorage.create_new_trial(study_id, template_trial=...)`` and ``Trial(study, trial_id)``,
    what ``Study.ask`` does once the enqueued trial is popped)."""
    import optuna

    new_id = storage_of(study).create_new_trial(study_id(study), template_trial=template)
    return optuna.Trial(study, new_id)
