"""Multi-objective early stopping: asynchronous successive halving (MO-ASHA) over step rungs.

Rungs: with ``min_steps`` r and ``reduction_factor`` eta, a trial of ``max_steps`` B steps is
judged after r, r*eta, r*eta^2, ... steps (every rung below B); B itself is not a rung.

Promotion rule (asynchronous, as ASHA): when a trial reaches a rung, its values there are
recorded beside those of every trial of its family that reached that rung so far (this search's
and, on ``--resume``, the study's); it continues when it is among the best ``max(1, n // eta)`` of
those ``n`` by the multi-objective order. Families are judged apart because they learn at
different speeds: after 135 of 1080 steps a deep eSR-CNN is still below bicubic while a one-layer
eSR-MAX is near its final PSNR, so across families an early rung would stop the deep model that
ends on the front (``benchmarks/early_stopping.py``). The order: non-dominated rank first (Optuna's fast
non-dominated sort), then crowding distance within the rank (larger first, Optuna's NSGA-II
crowding distance; the boundary points of a front are infinitely crowded); a tie with the
last place kept goes on. The values are the study's objectives at the rung: the quality metric
(``psnr_<set>`` of the rung's validation) together with the cost objectives (``params``,
``flops``, ``latency_ms``), which are known before training. An objective the rung's
validation cannot give (``ssim``) is left out of the ranking.

Protocol between driver and worker (plain data and one Ray actor, :class:`RungBoard`):

* the driver creates the board (``num_cpus=0``) and gives each trial's task the settings
  ``validate_every = min_steps`` and ``early_stopping = {"board": <actor>, "trial": <number>,
  "rungs": [...]}``;
* the worker trains the full budget in one ``train`` call; at each rung's validation
  checkpoint its ``on_validation`` callback asks the board (``report(trial, rung, attrs)``,
  one blocking actor call) and stops training when the board says no;
* the task returns ``state="pruned"`` with ``rung_values`` (every rung it reached) and
  ``stopped_at_rung``; the driver, the only writer to the study, tells the trial PRUNED with
  those user attributes. A trial that passes every rung trains to ``max_steps`` and is
  COMPLETE as without early stopping (with its ``rung_values`` too).

Because one ``train`` call runs the whole budget, the optimiser state (Adam moments) and the
learning-rate schedule are continuous across rungs: the cosine runs over the full budget
``max_steps`` whatever rung a trial stops at, so a trial stopped at rung k is exactly the
first r*eta^k steps of its full run, and every trial at a rung is compared at the same point
of the same schedule (its LR not yet annealed: a rung measures progress, not a finished
model). No weights move between tasks and a continuation needs no checkpoint. Cost: the
validations at the multiples of ``min_steps`` that are not rungs (the trainer validates every
``validate_every`` steps), which are small for the small validation sets of a search.

Time budgets: rungs are steps, so early stopping needs a steps budget (``max_steps``); a
``max_seconds`` limit may still end a run, before a rung, as without early stopping.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, Mapping, Sequence

from nas_sr.study.front import crowding_distances, non_domination_ranks
from nas_sr.study.record import write_attrs

MODES = ("none", "mo-asha")


@dataclass(frozen=True)
class EarlyStopping:
    """``mode`` (none|mo-asha), first rung ``min_steps`` and ``reduction_factor`` (eta >= 2)."""

    mode: str = "none"
    min_steps: int | None = None
    reduction_factor: int = 3

    def __post_init__(self) -> None:
        if self.mode not in MODES:
            raise ValueError(f"unknown early stopping {self.mode!r} (expected one of {', '.join(MODES)})")
        if self.min_steps is not None and (not isinstance(self.min_steps, int) or self.min_steps < 1):
            raise ValueError(f"early stopping: min_steps must be a positive integer, got {self.min_steps!r}")
        if not isinstance(self.reduction_factor, int) or self.reduction_factor < 2:
            raise ValueError(f"early stopping: reduction_factor must be an integer >= 2, got {self.reduction_factor!r}")

    @property
    def active(self) -> bool:
        return self.mode != "none"

    def rungs(self, max_steps: int | None) -> list[int]:
        """The rung steps below ``max_steps``; ValueError when there are none."""
        if not max_steps or max_steps >= 10**9:
            raise ValueError("--early-stopping mo-asha needs a steps budget (--budget-steps)")
        first = self.min_steps or max(1, max_steps // self.reduction_factor ** 2)
        out, step = [], first
        while step < max_steps:
            out.append(step)
            step *= self.reduction_factor
        if not out:
            raise ValueError(f"early stopping: --min-steps {first} leaves no rung below the budget of {max_steps} steps")
        return out

    def as_dict(self) -> dict[str, Any]:
        return {"mode": self.mode, "min_steps": self.min_steps, "reduction_factor": self.reduction_factor}


def mo_keys(losses: Sequence[Sequence[float]]) -> list[tuple[int, float]]:
    """``(non-dominated rank, -crowding distance)`` of each point (every objective minimised)."""
    if not losses:
        return []
    ranks = non_domination_ranks(losses)
    crowd = [0.0] * len(losses)
    for rank in set(ranks):
        members = [i for i in range(len(losses)) if ranks[i] == rank]
        for i, d in zip(members, crowding_distances([losses[i] for i in members])):
            crowd[i] = d
    return [(int(ranks[i]), -crowd[i]) for i in range(len(losses))]


def mo_order(losses: Sequence[Sequence[float]]) -> list[int]:
    """Indices of ``losses`` (every objective minimised) best first: rank, crowding, index."""
    keys = mo_keys(losses)
    return sorted(range(len(losses)), key=lambda i: (*keys[i], i))


def promotable(losses: Sequence[Sequence[float]], index: int, reduction_factor: int) -> bool:
    """Whether point ``index`` is among the best ``max(1, n // eta)`` of the ``n`` points.

    A tie with the last place kept counts as kept (as ASHA's ``value >= cutoff``): in two
    objectives a front's two extreme points are both infinitely crowded, and without this a
    newcomer extreme point would lose to the older one by arrival order alone.
    """
    keep = max(1, len(losses) // reduction_factor)
    keys = mo_keys(losses)
    last = sorted(keys)[keep - 1]
    return keys[index] <= last


class RungBoard:
    """The rung records of one search and the promotion decisions (run as a Ray actor).

    ``objectives`` are ``(key, direction)`` pairs; a report's ``attrs`` hold the rung's
    validation metrics and the costs under those keys.
    """

    def __init__(self, objectives: Sequence[tuple[str, str]], reduction_factor: int,
                 history: Sequence[tuple[Any, int, Mapping[str, Any]]] = ()) -> None:
        self.objectives = [tuple(o) for o in objectives]
        self.eta = reduction_factor
        #: (rung, family) -> [(trial, losses)]: a trial is judged among its family at the rung.
        self.rungs: dict[tuple[int, Any], list[tuple[Any, list[float]]]] = {}
        for trial, rung, attrs in history:
            self._record(trial, rung, attrs)

    def _losses(self, attrs: Mapping[str, Any]) -> list[float]:
        out = []
        for key, direction in self.objectives:
            if key in attrs:
                value = float(attrs[key])
                out.append(-value if direction == "maximize" else value)
        return out

    def _record(self, trial: Any, rung: int, attrs: Mapping[str, Any]) -> int:
        entries = self.rungs.setdefault((rung, attrs.get("family")), [])
        losses = self._losses(attrs)
        losses = [v if math.isfinite(v) else math.inf for v in losses]
        for i, (who, _) in enumerate(entries):
            if who == trial:  # a repeated report replaces the old one
                entries[i] = (trial, losses)
                return i
        entries.append((trial, losses))
        return len(entries) - 1

    def report(self, trial: Any, rung: int, attrs: Mapping[str, Any]) -> bool:
        """Record ``trial``'s values at ``rung``; True when it continues to the next rung."""
        index = self._record(trial, rung, attrs)
        losses = [v for _, v in self.rungs[(rung, attrs.get("family"))]]
        if any(math.isinf(x) for x in losses[index]):
            return False
        return promotable(losses, index, self.eta)

    def counts(self) -> dict[int, int]:
        """Trials recorded at each rung, all families together."""
        out: dict[int, int] = {}
        for (rung, _), entries in self.rungs.items():
            out[rung] = out.get(rung, 0) + len(entries)
        return out


def history_from_study(study: Any) -> list[tuple[Any, int, dict[str, Any]]]:
    """The rung records of a study's PRUNED and COMPLETE trials (for ``--resume``)."""
    from optuna.trial import TrialState

    out = []
    for t in study.get_trials(deepcopy=False, states=(TrialState.COMPLETE, TrialState.PRUNED)):
        for entry in t.user_attrs.get("rung_values") or []:
            out.append((t.number, int(entry["rung"]), dict(entry["attrs"])))
    return out


class RungReporter:
    """The worker's side: ``at_validation(step, metrics)`` -> False to stop at a losing rung."""

    def __init__(self, protocol: Mapping[str, Any], cost_attrs: Mapping[str, Any]) -> None:
        self.board = protocol["board"]
        self.trial = protocol["trial"]
        self.rungs = list(protocol["rungs"])
        self.cost_attrs = dict(cost_attrs)
        self.values: list[dict[str, Any]] = []
        self.stopped_at: int | None = None

    def at_validation(self, step: int, metrics: Mapping[str, float]) -> bool:
        if step not in self.rungs:
            return True
        rung = self.rungs.index(step)
        attrs = {**self.cost_attrs, **{k: float(v) for k, v in metrics.items()}}
        self.values.append({"rung": rung, "step": step, "attrs": attrs})
        go_on = self._ask(rung, attrs)
        if not go_on:
            self.stopped_at = rung
        return go_on

    def _ask(self, rung: int, attrs: Mapping[str, Any]) -> bool:
        if isinstance(self.board, RungBoard):  # in-process (tests)
            return self.board.report(self.trial, rung, attrs)
        import ray

        return bool(ray.get(self.board.report.remote(self.trial, rung, attrs)))

    def outcome(self) -> dict[str, Any]:
        """``rung_values`` and, for a stopped trial, ``stopped_at_rung``/``state="pruned"``."""
        out: dict[str, Any] = {"rung_values": self.values}
        if self.stopped_at is not None:
            out.update(state="pruned", stopped_at_rung=self.stopped_at)
        return out


def cost_attrs(cost: Mapping[str, Any]) -> dict[str, Any]:
    """The cost objectives' values from a worker's cost dict."""
    out = {"params": cost.get("params"), "flops": cost.get("flops")}
    latency = cost.get("latency") or {}
    if latency:
        out["latency_ms"] = latency.get("median_ms")
    return {k: v for k, v in out.items() if v is not None}


def start_board(objectives: Sequence[Any], es: EarlyStopping, study: Any) -> Any:
    """The Ray actor of a search's rung board, seeded with the study's earlier rung records."""
    import ray

    actor = ray.remote(num_cpus=0, max_restarts=0)(RungBoard)
    return actor.remote([(o.key, o.direction) for o in objectives], es.reduction_factor,
                        history_from_study(study))


def record_pruned(study: Any, trial: Any, key: str, result: Mapping[str, Any]) -> None:
    """Tell a trial stopped at a rung PRUNED, with its rung values and costs as user attributes."""
    from optuna.trial import TrialState

    cost = result.get("cost") or {}
    attrs = {"rung_values": result.get("rung_values") or [], "stopped_at_rung": result.get("stopped_at_rung"),
             "steps": result.get("steps"), "seconds": round(float(result.get("seconds") or 0.0), 3),
             "early_stopped": True, **cost_attrs(cost)}
    write_attrs(trial, attrs)
    study.tell(trial, state=TrialState.PRUNED)


def prepare(es: "EarlyStopping | None", study: Any, objectives: Sequence[Any],
            max_steps: int | None) -> tuple[Any, list[int], dict[str, int]]:
    """A search's MO-ASHA: the rung board (a Ray actor, seeded from the study), its rung steps
    (recorded on the study) and the configs it stopped before; ``(None, [], {})`` when off."""
    from optuna.trial import TrialState

    if es is None or not es.active:
        return None, [], {}
    rungs = es.rungs(max_steps)
    write_attrs(study, {"early_stopping": {**es.as_dict(), "rungs": rungs}})
    pruned = {t.user_attrs["config"]: t.number
              for t in study.get_trials(deepcopy=False, states=(TrialState.PRUNED,))
              if t.user_attrs.get("early_stopped") and t.user_attrs.get("config")}
    return start_board(objectives, es, study), rungs, pruned
