"""The study: where every result of nas-sr lives (an Optuna study), and the one way to reach it.

Everything that opens, writes or reads a study goes through this package; it sits below the search,
the browser, profiling, export and the benchmark, and above the models and costs it never imports.

* storage (:mod:`nas_sr.study.storage`): :func:`open_storage` of a URL (SQLite, PostgreSQL, journal
  file) with retries and a trial's attribute writes batched into one transaction
  (:mod:`nas_sr.study.batched`), :func:`writer_lock` (SQLite's one writer), :data:`DEFAULT_STORAGE`, the
  folders a study's files go to, :func:`load_existing_study`;
* the trial record (:mod:`nas_sr.study.record`): :class:`TrialRecord` and its one writer
  :func:`write_record` / reader :func:`read_record`; :func:`write_attrs` (plain attributes of a running
  trial or a study), :func:`write_finished_attrs` (onto finished trials), :func:`start_trial` (a
  proposed trial RUNNING in one transaction), :func:`fail_trial`;
* a trial's config and weights (:mod:`nas_sr.study.trial`): :func:`find_trial`, :func:`trial_model`...;
* the front and the hypervolume (:mod:`nas_sr.study.front`): :func:`non_dominated`,
  :func:`hypervolume`, :func:`non_domination_ranks`, :func:`crowding_distances`...;
* the trials as a table (:mod:`nas_sr.study.table`): :func:`trials_frame`, :func:`read_trial_rows`;
* :func:`bulk_add_trials` (:mod:`nas_sr.study.bulk`): many finished trials in one transaction;
* Optuna's private API, used nowhere else: :mod:`nas_sr.study._optuna`.

Importing this package is light: Optuna, SQLAlchemy, numpy and pandas load on first use of a name.
"""

from __future__ import annotations

import importlib
from typing import Any

_LAZY = {
    # storage
    "DEFAULT_STORAGE": "nas_sr.study.storage",
    "StorageUnavailable": "nas_sr.study.storage",
    "open_storage": "nas_sr.study.storage",
    "hide_password": "nas_sr.study.storage",
    "writer_lock": "nas_sr.study.storage",
    "WriterLock": "nas_sr.study.storage",
    "output_dir": "nas_sr.study.storage",
    "artifact_dir": "nas_sr.study.storage",
    "output_file": "nas_sr.study.storage",
    "existing_studies": "nas_sr.study.storage",
    "load_existing_study": "nas_sr.study.storage",
    # the trial record
    "TrialRecord": "nas_sr.study.record",
    "write_record": "nas_sr.study.record",
    "read_record": "nas_sr.study.record",
    "write_attrs": "nas_sr.study.record",
    "write_finished_attrs": "nas_sr.study.record",
    "write_sampled_attrs": "nas_sr.study.record",
    "start_trial": "nas_sr.study.record",
    "require_sql": "nas_sr.study.record",
    "fail_trial": "nas_sr.study.record",
    "fail_stale_trials": "nas_sr.study.record",
    "STALE_REASON": "nas_sr.study.record",
    # a trial's config and weights
    "find_trial": "nas_sr.study.trial",
    "trial_config": "nas_sr.study.trial",
    "trial_state_dict": "nas_sr.study.trial",
    "trial_model": "nas_sr.study.trial",
    # front and hypervolume
    "dominates": "nas_sr.study.front",
    "non_dominated": "nas_sr.study.front",
    "pareto_mask": "nas_sr.study.front",
    "margins": "nas_sr.study.front",
    "feasible": "nas_sr.study.front",
    "hypervolume": "nas_sr.study.front",
    "default_reference": "nas_sr.study.front",
    "non_domination_ranks": "nas_sr.study.front",
    "crowding_distances": "nas_sr.study.front",
    # the trials as a table
    "trials_frame": "nas_sr.study.table",
    "read_trial_rows": "nas_sr.study.table",
    "state_counts": "nas_sr.study.table",
    "trial_attrs": "nas_sr.study.table",
    "bulk_add_trials": "nas_sr.study.bulk",
}

__all__ = sorted(_LAZY)


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'nas_sr.study' has no attribute {name!r}")
