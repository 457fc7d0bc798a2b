"""Run a search strategy on an eSR-Bench instance and summarise it over seeds.

Each run is a plain Optuna study in memory that takes its trials through the search driver's own
proposal step (:func:`nas_sr.search.strategy.next_trial`: the strategy's proposal, or its
sampler's choice, then ``space.suggest``) and its duplicate rule (a known configuration is told
PRUNED: Optuna's TPE then proposes exactly what it would if the repeat were told COMPLETE again
with the same values); only training is replaced: the table answers each trial at once. Every
proposal spends one evaluation, repeats included.

In proxy mode (``proxy``: a :class:`nas_sr.bench.proxy.ProxyTable`) the trials are told the
brief-training PSNR a search would see, and the curve is the table's HV ratio of the front the
search would report from those values (:meth:`EsrInstance.reported_curve`).
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, Any, Sequence

from nas_sr.study.record import write_attrs

if TYPE_CHECKING:
    import optuna

    from nas_sr.bench.esr import EsrInstance
    from nas_sr.bench.proxy import ProxyTable

THRESHOLDS = (0.9, 0.95, 0.98, 0.99)
#: Evaluations that stand for "not reached" in quantiles (above any budget).
_NOT_REACHED = 1e12


def run_strategy(instance: "EsrInstance", strategy: str, budget: int, seed: int,
                 proxy: "ProxyTable | None" = None, tolerance: float = 0.0,
                 stop_at: float | None = None, parallel: int = 1) -> tuple[list[float], "optuna.Study"]:
    """The HV ratio after each of ``budget`` evaluations of one seeded run, and its study.

    A strategy that runs out of configurations (grid after all of them) keeps its last ratio.
    ``parallel``: trials in flight, as ``parallel`` workers would run them. The strategy proposes
    while the others are pending (RUNNING in the study, their configurations in ``known``), and the
    results come back in a random order (seeded: any of the trials in flight finishes next); the
    curve counts evaluations in the order they finish. ``stop_at`` (exact mode only, where the ratio
    never falls): the run ends once the ratio reaches it and keeps that ratio to the budget, so the
    evaluations to any level up to it are exact and the ratio at the budget is a lower bound (a slow
    strategy measured in less time). With ``proxy`` the trials see its PSNR (a failed training: the
    trial FAILs and its configuration stays untried, as in a search) and the curve is the truth of
    the front they would report.
    """
    import numpy as np
    import optuna
    from optuna.trial import TrialState

    from nas_sr.bench.peers import make_bench_strategy
    from nas_sr.search.strategy import NextTrial, SpaceExhausted, next_trial, tell_duplicate

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    if proxy is not None:
        missing = [k for k in instance.rows if k not in proxy.values]
        if missing:
            raise ValueError(f"{proxy.source}: no row at steps={proxy.steps} for {len(missing)} configurations "
                             f"of the instance, e.g. {missing[0]}")
    if stop_at is not None and proxy is not None:
        raise ValueError("stop_at is for exact mode (a proxy-mode ratio can fall)")
    if parallel < 1:
        raise ValueError(f"parallel must be at least 1 (got {parallel})")
    chosen = make_bench_strategy(strategy, instance.space, instance.objectives, seed=seed, trials=budget,
                                 cost_fn=instance.cost_attrs, front_tolerance=tolerance if proxy is not None else 0.0)
    study = optuna.create_study(storage=optuna.storages.InMemoryStorage(), sampler=chosen.sampler(),
                                directions=[o.direction for o in instance.objectives])
    sign = [1.0 if o.direction == "maximize" else -1.0 for o in instance.objectives]
    known: dict[str, int] = {}  # evaluated or running configurations -> trial
    repeats: dict[str, int] = {}
    keys: list[str] = []  # evaluations in the order they finish
    seen: list[list[float] | None] = []
    in_flight: list[NextTrial] = []
    order = np.random.default_rng([seed, parallel])  # which trial in flight finishes next
    stopper = _Stopper(instance, stop_at) if stop_at is not None else None
    proposed, exhausted = 0, False
    while True:
        while not exhausted and proposed < budget and len(in_flight) < parallel:
            if stopper is not None and stopper.reached(keys):
                exhausted = True
                break
            try:
                step = next_trial(study, instance.space, chosen, known)
            except SpaceExhausted:
                exhausted = True
                break
            proposed += 1
            if step.twin is not None:  # a repeat spends an evaluation at once, no worker
                keys.append(step.key)
                seen.append(None)
                tell_duplicate(study, step)
                continue
            known[step.key] = step.trial.number
            in_flight.append(step)
        if not in_flight or (stopper is not None and stopper.reached(keys)):
            break
        step = in_flight.pop(int(order.integers(len(in_flight))) if len(in_flight) > 1 else 0)
        keys.append(step.key)
        seen.append(None)
        attrs = instance.attrs(step.key)
        if proxy is not None:
            psnr = proxy.value(step.key, repeats.get(step.key, 0))
            repeats[step.key] = repeats.get(step.key, 0) + 1
            attrs["psnr"] = psnr if psnr is not None else math.nan  # what the search sees; table_psnr: the truth
        write_attrs(step.trial, {"config": step.key, "family": step.config["family"], **attrs})
        if math.isnan(attrs["psnr"]):  # a failed training: FAIL, and the configuration may be proposed again
            study.tell(step.trial, state=TrialState.FAIL)
            del known[step.key]
            continue
        values = [o.value(attrs) for o in instance.objectives]
        study.tell(step.trial, values)
        seen[-1] = [s * v for s, v in zip(sign, values)]
    curve = instance.hv_curve(keys) if proxy is None else instance.reported_curve(keys, seen, tolerance)
    curve = curve[:budget]
    curve += [curve[-1] if curve else 0.0] * (budget - len(curve))
    return curve, study


class _Stopper:
    """Whether the exact-mode HV ratio of the evaluated configurations has reached a level (checked
    incrementally: only after a new configuration could the ratio grow)."""

    def __init__(self, instance: "EsrInstance", level: float) -> None:
        self.instance, self.level, self.seen = instance, level, 0

    def reached(self, keys: Sequence[str]) -> bool:
        if len(keys) == self.seen or not keys:
            return False
        self.seen = len(keys)
        return self.instance.hv_ratio(list(keys)) >= self.level - 1e-12


def evals_to(curve: Sequence[float], threshold: float) -> int | None:
    """Evaluations after which the HV ratio is at least ``threshold`` and stays so to the end of the
    run; None if it never does. In exact mode a curve never falls, so this is its first reach; in
    proxy mode the reported front can lose a truly better configuration to an overrated one, and a
    search stopped during such a dip would report less.

    >>> evals_to([0.5, 0.9, 0.97, 0.99], 0.95), evals_to([0.5, 0.9], 0.95), evals_to([0.96, 0.9, 0.97], 0.95)
    (3, None, 3)
    """
    reached = None
    for n, value in enumerate(curve, 1):
        if value >= threshold - 1e-12:
            reached = reached or n
        else:
            reached = None
    return reached


def _quantiles(values: Sequence[float], qs: Sequence[float]) -> list[float]:
    import numpy as np

    return [float(v) for v in np.quantile(np.asarray(values, dtype=float), qs)]


def summarize(curves: Sequence[Sequence[float]], thresholds: Sequence[float] = THRESHOLDS) -> dict[str, Any]:
    """HV ratio at the end (median, q25, q75) and evaluations to each threshold (median, and its
    q25/q75 in ``evals_to_iqr``; None where that quantile of the runs did not reach it).

    >>> s = summarize([[0.5, 0.95, 1.0], [0.9, 0.9, 0.9], [0.96, 0.99, 0.99]], (0.9, 0.95))
    >>> s["hv_ratio"]["median"], s["evals_to"]
    (0.99, {'0.9': 1.0, '0.95': 2.0})
    """
    hv = _quantiles([c[-1] for c in curves], (0.5, 0.25, 0.75))
    evals: dict[str, float | None] = {}
    iqr: dict[str, list[float | None]] = {}
    for t in thresholds:
        reached = [evals_to(c, t) for c in curves]
        most = max((r for r in reached if r is not None), default=0)
        # A quantile between a run that reached it and one that did not is "not reached" too.
        median, q25, q75 = (None if v > most else v for v in
                            _quantiles([_NOT_REACHED if r is None else r for r in reached], (0.5, 0.25, 0.75)))
        evals[f"{t:g}"] = median
        iqr[f"{t:g}"] = [q25, q75]
    return {"hv_ratio": {"median": hv[0], "q25": hv[1], "q75": hv[2]}, "evals_to": evals, "evals_to_iqr": iqr}


def bench(instance: "EsrInstance", strategy: str, budget: int, seeds: int | Sequence[int],
          proxy: "ProxyTable | None" = None, tolerance: float = 0.0, stop_at: float | None = None,
          parallel: int = 1) -> dict[str, Any]:
    """The bench's result for ``strategy`` on ``instance``: one run per seed, summarised; ``mode`` is
    ``exact`` (the table answers) or ``proxy`` (``proxy`` answers, the table measures the front
    reported with ``tolerance`` dB, as :func:`nas_sr.search.report.pareto_front` reports it)."""
    seed_list = list(range(seeds)) if isinstance(seeds, int) else list(seeds)
    curves = [run_strategy(instance, strategy, budget, seed, proxy, tolerance, stop_at, parallel)[0]
              for seed in seed_list]
    summary = summarize(curves)
    mode = {"mode": "exact"} if proxy is None else {"mode": "proxy", "proxy": proxy.source,
                                                     "proxy_steps": proxy.steps, "front_tolerance": tolerance}
    return {"problem": instance.problem, "scale": instance.scale, "strategy": strategy, "budget": budget,
            **({"parallel": parallel} if parallel != 1 else {}),
            "seeds": len(seed_list), **mode, "hv_ratio": summary["hv_ratio"], "evals_to": summary["evals_to"],
            "evals_to_iqr": summary["evals_to_iqr"]}
