"""Fewer database round trips per trial: a trial's attribute writes in one transaction.

(A proposed trial starts in one transaction too: :func:`nas_sr.study.record.start_trial`.)

Optuna's ``RDBStorage`` commits every ``set_trial_user_attr`` / ``set_trial_system_attr`` on its
own (a session, a trial lookup, an upsert, a commit): a search records some 35 attributes per
trial, which made attribute writes a third of the driver's time per trial (profiled with
``benchmarks/scale.py``). :class:`BatchedAttrStorage` holds attribute writes back and writes them
all in one transaction (one trial-state check, one delete, one multi-row insert per table) at the
next call of any other storage method, so every read, ``tell`` and ``ask`` sees them: the study
reads exactly as if each had been written at once; the SQL fast paths of this package reach the
database through :func:`nas_sr.study._optuna.rdb_backend`, which flushes it first. Writers keep
going through :mod:`nas_sr.study.record`.

A write to a trial this storage has not seen unfinished since its last state change reads the
trial's state first and fails at the call on a finished one (Optuna's ``UpdateFinishedTrialError``),
as Optuna's setters do; one finished meanwhile by another process fails at the flush instead. Optuna's tables are reached through its models
(:func:`nas_sr.study._optuna.rdb_models`), like every SQL path of nas-sr.
"""

from __future__ import annotations

import json
import threading
from typing import Any

#: Optuna's models of trial attributes, by the storage method that writes them.
TABLES = {"set_trial_user_attr": "TrialUserAttributeModel", "set_trial_system_attr": "TrialSystemAttributeModel"}
#: Storage methods that neither read nor write trials: no flush needed before them.
NO_FLUSH = frozenset({"get_study_id_from_name", "get_study_name_from_id", "get_study_directions",
                      "get_study_user_attrs", "get_study_system_attrs", "get_all_studies"})


def _batched_method(name: str) -> Any:
    def method(self: Any, *args: Any, **kwargs: Any) -> Any:
        if name not in NO_FLUSH:
            self.flush()
        return getattr(self._inner, name)(*args, **kwargs)

    method.__name__ = name
    return method


def _make_class() -> type:
    import optuna

    base = optuna.storages.BaseStorage
    names = [n for n, v in vars(base).items() if callable(v) and not n.startswith("_") and n not in TABLES]
    namespace: dict[str, Any] = {n: _batched_method(n) for n in names}

    def __init__(self: Any, inner: Any, engine: Any) -> None:
        self._inner, self._engine = inner, engine
        self._pending: dict[tuple[str, int], dict[str, str]] = {}
        self._open: set[int] = set()  # trials seen unfinished since their last state change
        self._lock = threading.RLock()  # a storage may be shared by threads (Optuna allows it)

    def hold(table: str) -> Any:
        def setter(self: Any, trial_id: int, key: str, value: Any) -> None:
            text = json.dumps(value)  # not serialisable: fails here, at the caller, as Optuna would
            if trial_id not in self._open:  # finished: fails here too (one state read per trial)
                _check_open(self._engine, trial_id)
                self._open.add(trial_id)
            with self._lock:
                self._pending.setdefault((table, trial_id), {})[key] = text

        return setter

    def flush(self: Any) -> None:
        """Write every held attribute (one transaction); no-op when none are held."""
        from optuna.exceptions import UpdateFinishedTrialError

        with self._lock:
            if not self._pending:
                return
            finished = _write(self._engine, self._pending)
            self._pending = {}
        if finished:  # written: the others; raised: as Optuna would have for these
            raise UpdateFinishedTrialError(f"trial_id {finished[0]} is finished (or gone): its attributes "
                                           "cannot be updated")

    def create_new_trial(self: Any, study_id: int, template_trial: Any = None) -> int:
        self.flush()
        trial_id = self._inner.create_new_trial(study_id, template_trial)
        if template_trial is None or not template_trial.state.is_finished():  # no state read needed
            self._open.add(trial_id)
        return trial_id

    def set_trial_state_values(self: Any, trial_id: int, *args: Any, **kwargs: Any) -> Any:
        self.flush()
        self._open.discard(trial_id)  # finished, maybe: the next write reads its state again
        return self._inner.set_trial_state_values(trial_id, *args, **kwargs)

    def __getattr__(self: Any, name: str) -> Any:  # anything else the inner storage has
        if name in ("_inner", "_pending", "_engine", "_lock", "_open"):
            raise AttributeError(name)
        return getattr(self._inner, name)

    namespace.update({method: hold(table) for method, table in TABLES.items()})
    namespace.update(__init__=__init__, flush=flush, create_new_trial=create_new_trial,
                     set_trial_state_values=set_trial_state_values,
                     holds_writes=True, __getattr__=__getattr__, __module__=__name__,
                     __doc__="An Optuna storage whose trial attribute writes are batched (see the module).")
    return type("BatchedAttrStorage", (base,), namespace)


def _check_open(engine: Any, trial_id: int) -> None:
    """Raise Optuna's ``UpdateFinishedTrialError`` (``KeyError`` when there is no such trial) unless
    the trial is RUNNING or WAITING, as Optuna's own attribute setters do."""
    import sqlalchemy as sa
    from optuna.exceptions import UpdateFinishedTrialError

    from nas_sr.study._optuna import rdb_models

    trials = rdb_models().TrialModel.__table__
    with engine.connect() as conn:
        state = conn.execute(sa.select(trials.c.state).where(trials.c.trial_id == trial_id)).scalar()
    if state is None:
        raise KeyError(f"no trial with trial_id {trial_id}")
    if str(state).rsplit(".", 1)[-1] not in ("RUNNING", "WAITING"):
        raise UpdateFinishedTrialError(f"trial_id {trial_id} is finished: its attributes cannot be updated")


def _write(engine: Any, pending: dict[tuple[str, int], dict[str, str]]) -> list[int]:
    """Write the attributes of the unfinished trials; returns the finished (or missing) ones."""
    import sqlalchemy as sa

    from nas_sr.study._optuna import rdb_models

    models = rdb_models()
    trials = models.TrialModel.__table__
    ids = sorted({trial_id for _, trial_id in pending})
    with engine.begin() as conn:
        states = dict(conn.execute(sa.select(trials.c.trial_id, trials.c.state)
                                   .where(trials.c.trial_id.in_(ids))).all())
        finished = [i for i in ids if str(states.get(i, "")).rsplit(".", 1)[-1] not in ("RUNNING", "WAITING")]
        for name in sorted({model for model, _ in pending}):
            table = getattr(models, name).__table__
            rows = [{"trial_id": trial_id, "key": k, "value_json": v}
                    for (t, trial_id), attrs in pending.items() if t == name and trial_id not in finished
                    for k, v in attrs.items()]
            if not rows:
                continue
            for trial_id in {r["trial_id"] for r in rows}:  # upsert: the old values of these keys go
                keys = [r["key"] for r in rows if r["trial_id"] == trial_id]
                conn.execute(table.delete().where(table.c.trial_id == trial_id, table.c.key.in_(keys)))
            conn.execute(table.insert(), rows)
    return finished


def batched_storage(inner: Any, engine: Any) -> Any:
    """``inner`` (an RDB storage, Optuna's cached one included) with attribute writes batched,
    written through ``engine`` (the ``RDBStorage``'s SQLAlchemy engine)."""
    cls = globals().get("_BatchedAttrStorage") or _make_class()
    globals()["_BatchedAttrStorage"] = cls
    return cls(inner, engine)
