"""The strategies eSR-Bench runs: those of ``nas-sr search`` (:data:`nas_sr.search.strategy.STRATEGIES`)
and the peers it is measured against, which only the bench offers:

- ``botorch``: BoTorch's SingleTaskGP and qLogNoisyExpectedHypervolumeImprovement over the
  cost-aware strategy's candidates and features (:mod:`nas_sr.bench.botorch_strategy`);
- ``optuna-gp``: Optuna's ``GPSampler`` (multi-objective, 10 random starts, its defaults), which
  chooses in ``study.ask`` as ``tpe`` does. Its search space is Optuna's intersection search
  space: with the branch-conditional edge-SR space it models ``branch`` and samples each branch's
  sizes independently (at random), as it would in a user's own Optuna loop.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Sequence

from nas_sr.search.strategy import STRATEGIES, CostFn, SamplerStrategy, Strategy, make_strategy

if TYPE_CHECKING:
    import optuna

    from nas_sr.search.objectives import Objective
    from nas_sr.space import SearchSpace

PEERS = ("botorch", "optuna-gp")
BENCH_STRATEGIES = STRATEGIES + PEERS


class OptunaGpStrategy(SamplerStrategy):
    """Optuna's ``GPSampler`` (seeded, 10 random starts, the library's defaults otherwise)."""

    def __init__(self, seed: int = 0, trials: int = 20) -> None:
        super().__init__("optuna-gp", seed, trials)

    def sampler(self) -> "optuna.samplers.BaseSampler":
        import optuna

        return optuna.samplers.GPSampler(seed=self.seed, n_startup_trials=10, warn_independent_sampling=False)


def make_bench_strategy(name: str, space: "SearchSpace", objectives: Sequence["Objective"], *, seed: int = 0,
                        trials: int = 20, cost_fn: CostFn | None = None, front_tolerance: float = 0.0) -> Strategy:
    """The strategy called ``name`` (one of :data:`BENCH_STRATEGIES`), as
    :func:`nas_sr.search.strategy.make_strategy` makes those of a search."""
    if name == "optuna-gp":
        return OptunaGpStrategy(seed, trials)
    if name == "botorch":
        from nas_sr.bench.botorch_strategy import BotorchStrategy

        if cost_fn is None:
            raise ValueError("the botorch strategy needs a cost function for its candidates")
        return BotorchStrategy(space, objectives, cost_fn, seed=seed)
    return make_strategy(name, space, objectives, seed=seed, trials=trials, cost_fn=cost_fn,
                         front_tolerance=front_tolerance)
