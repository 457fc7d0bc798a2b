"""End-to-end search: Optuna ask/tell in the driver, one Ray task per trial, SQLite storage.

Modules: :mod:`~nas_sr.search.objectives` (what is optimised), :mod:`~nas_sr.search.constraints`
(``latency_ms<=33``), :mod:`~nas_sr.search.worker` (one trial's work, plain data in and out),
:mod:`~nas_sr.search.driver` (the ask/tell loop), :mod:`~nas_sr.search.study` (storage helpers),
:mod:`~nas_sr.search.report` (Pareto front, tables, plot). Heavy libraries load on use.
"""

from nas_sr.search.constraints import Constraint, parse_constraint
from nas_sr.search.objectives import DEFAULT_OBJECTIVES, Objective, parse_objectives

__all__ = ["Constraint", "DEFAULT_OBJECTIVES", "Objective", "parse_constraint", "parse_objectives"]
