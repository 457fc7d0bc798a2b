"""End-to-end search: Optuna ask/tell in the driver, one Ray task per trial.

Modules: :mod:`~nas_sr.search.objectives` (what is optimised), :mod:`~nas_sr.search.constraints`
(``latency_ms<=33``), :mod:`~nas_sr.search.options` (what a search is asked to do),
:mod:`~nas_sr.search.driver` (the loop: ask, propose, dedupe, tell), :mod:`~nas_sr.search.strategy`
(what to try next; a registry), :mod:`~nas_sr.search.runner` (Ray tasks), :mod:`~nas_sr.search.spec`
(``TrialSpec``/``TrialResult``, what crosses to the workers), :mod:`~nas_sr.search.worker` (one trial's
work), :mod:`~nas_sr.search.record` (the recorder), :mod:`~nas_sr.search.report` (the reported front,
tables). The study itself (storage, records, front) is :mod:`nas_sr.study`. Heavy libraries load on use.
"""

# The built-in strategies register themselves on import (nas_sr.search.strategy.register_strategy);
# a new strategy module is imported here too.
import nas_sr.search.cost_aware  # noqa: F401
from nas_sr.search.constraints import Constraint, parse_constraint
from nas_sr.search.objectives import DEFAULT_OBJECTIVES, Objective, parse_objectives

__all__ = ["Constraint", "DEFAULT_OBJECTIVES", "Objective", "parse_constraint", "parse_objectives"]
