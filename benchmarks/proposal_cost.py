"""Seconds per proposal of the default (cost-aware) strategy as the study grows.

    python benchmarks/proposal_cost.py [--trials 100 1000 5000] [--proposals 30] [--max-fit-rows 400]

A finite space of 2000 ESPCN configurations (the most the strategy scores exhaustively: every
trial of the study can count for its model), synthetic costs and PSNR (a smooth function of the
sizes plus noise), and an in-memory study that already holds N trials: min(N, 1900) COMPLETE
on distinct configurations, the rest PRUNED repeats, as a search's duplicates are. Then
``--proposals`` proposals, one COMPLETE trial told after each (so the model's hyper-parameters are
refitted every fifth, as in a search); the candidates' preparation (once per search) is not timed.
Prints one JSON line: p50/p95/max seconds per proposal at each N, wall clock and CPU (the process's
own CPU time: on a shared machine the wall clock also counts the other processes' turns).
"""

from __future__ import annotations

import argparse
import json
import math
import time


def main() -> None:
    import numpy as np
    import optuna
    from optuna.distributions import CategoricalDistribution
    from optuna.trial import TrialState, create_trial

    from nas_sr.models.registry import config_key
    from nas_sr.search.cost_aware import CostAwareStrategy
    from nas_sr.search.objectives import Objective
    from nas_sr.space import SearchSpace

    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--trials", type=int, nargs="+", default=[100, 1000, 5000])
    parser.add_argument("--proposals", type=int, default=30)
    parser.add_argument("--max-fit-rows", type=int, default=CostAwareStrategy.max_fit_rows)
    args = parser.parse_args()
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    widths1, widths2 = list(range(1, 41)), list(range(3, 53))
    space = SearchSpace.from_dict({"name": "cost", "scales": [2], "branches": [
        {"family": "espcn", "params": {"width1": widths1, "width2": widths2}}]})
    objectives = [Objective("psnr", "psnr", "maximize"), Objective("params", "params", "minimize")]

    def cost(config):
        return {"params": math.log10(9 * config["width1"] + config["width1"] * config["width2"] * 9 + 4)}

    def psnr(config, rng):
        smooth = 2 * (1 - math.exp(-cost(config)["params"] / 3)) + 0.3 * math.sin(config["width1"])
        return 30 + smooth + rng.normal(0, 0.05)

    out: dict[str, dict[str, float]] = {}
    for n in args.trials:
        rng = np.random.default_rng(0)
        strategy = CostAwareStrategy(space, objectives, cost, seed=0, trials=n + args.proposals)
        strategy.max_fit_rows = args.max_fit_rows
        pool = strategy._prepare()
        order = rng.permutation(len(pool))
        study = optuna.create_study(storage=optuna.storages.InMemoryStorage(), directions=["maximize", "minimize"])
        dist = {k: CategoricalDistribution(widths1 if k.endswith("width1") else widths2)
                for k in pool[0].params if k != "branch"}
        dist["branch"] = CategoricalDistribution([pool[0].params["branch"]])
        known: dict[str, int] = {}

        def tell(c, number, state=TrialState.COMPLETE):
            values = [psnr(c.config, rng), cost(c.config)["params"]] if state == TrialState.COMPLETE else None
            study.add_trial(create_trial(params=c.params, distributions=dist, values=values, state=state,
                                         user_attrs={"config": c.key}))
            if state == TrialState.COMPLETE:
                known[c.key] = number

        distinct = min(n, 1900)
        for t in range(n):
            c = pool[order[t]] if t < distinct else pool[order[t % distinct]]
            tell(c, t, TrialState.COMPLETE if t < distinct else TrialState.PRUNED)
        times, cpu = [], []
        for p in range(args.proposals):
            start, start_cpu = time.perf_counter(), time.process_time()
            proposal = strategy.propose(study, known)
            times.append(time.perf_counter() - start)
            cpu.append(time.process_time() - start_cpu)
            chosen = next(c for c in pool if c.params == proposal.params)
            assert config_key(chosen.config) not in known
            tell(chosen, n + p)
        q, qc = np.quantile(times, [0.5, 0.95]), np.quantile(cpu, [0.5, 0.95])
        out[str(n)] = {"p50": round(float(q[0]), 3), "p95": round(float(q[1]), 3), "max": round(max(times), 3),
                       "cpu_p50": round(float(qc[0]), 3), "cpu_p95": round(float(qc[1]), 3),
                       "cpu_max": round(max(cpu), 3), "fit_rows": int(min(distinct, args.max_fit_rows))}
    print(json.dumps({"strategy": "cost-aware", "candidates": len(pool), "max_fit_rows": args.max_fit_rows,
                      "proposal_seconds": out}))


if __name__ == "__main__":
    main()
