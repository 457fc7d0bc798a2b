"""eSR-Bench's ``botorch`` peer: BoTorch's multi-objective Bayesian optimisation, set up fairly.

What the field reaches for when evaluations are expensive and there are several objectives, over
exactly what the ``cost-aware`` strategy sees:

- the same candidate pool (:func:`nas_sr.search.cost_aware.candidates`) and the same model inputs
  (:func:`nas_sr.search.cost_aware.features`: one-hot family, log costs, the family's sizes);
- 10 random starts (a seeded permutation of the pool), then BoTorch proper:
- every objective unknown before training (PSNR; latency when it is measured) gets a
  ``SingleTaskGP`` with the library's defaults (dimension-scaled log-normal length-scale prior,
  ``Standardize`` outcome transform, inferred noise), fitted by ``fit_gpytorch_mll`` (from the
  previous proposal's hyper-parameters: the same optimum, reached in far fewer L-BFGS steps);
- every objective known before training (parameters, FLOPs, eSR-Bench's speeds) is given exactly, as
  it is to cost-aware: a ``GenericDeterministicModel`` that looks the candidate up, joined to the
  GPs in a ``ModelList``. A tiny-noise GP fitted on the trained candidates would only interpolate
  costs the search knows for certain, so it would be the weaker, unfair set-up;
- ``qLogNoisyExpectedHypervolumeImprovement`` with its defaults (128 quasi-MC samples, baseline: the
  trained candidates, pruned of the surely dominated ones), reference point by the library's
  ``infer_reference_point`` on the trained front (the nadir minus 0.1 of the range), evaluated on
  every untried candidate (``optimize_acqf_discrete``), the best one proposed;
- candidates in flight (running trials) are BoTorch's ``X_pending``: the acquisition integrates
  over their outcomes, so concurrent proposals spread.

Failed trainings (FAIL) are not in the data, as in a plain BoTorch loop. Runs are deterministic for
a seed (torch's generator is forked and seeded per proposal).
"""

from __future__ import annotations

import warnings
from typing import TYPE_CHECKING, Any, Mapping, Sequence

from nas_sr.search.candidates import MAX_CANDIDATES, Candidate, candidates, features, pool_state
from nas_sr.search.strategy import CostFn, Proposal, Strategy

if TYPE_CHECKING:
    import optuna
    import torch

    from nas_sr.search.objectives import Objective
    from nas_sr.space import SearchSpace


class BotorchStrategy(Strategy):
    """SingleTaskGP + known costs exact + qLogNEHVI over the untried candidates (see the module)."""

    name = "botorch"
    #: Random starts before the first model.
    initial = 10

    def __init__(self, space: "SearchSpace", objectives: Sequence["Objective"], cost_fn: CostFn, *,
                 seed: int = 0, max_candidates: int = MAX_CANDIDATES) -> None:
        super().__init__(seed)
        self.space, self.objectives, self.cost_fn = space, list(objectives), cost_fn
        self.max_candidates = max_candidates
        self._pool: list[Candidate] | None = None
        self._fitted: dict[int, dict[str, Any]] = {}

    def _prepare(self) -> list[Candidate]:
        if self._pool is not None:
            return self._pool
        import numpy as np
        import torch

        pool = candidates(self.space, self.cost_fn, self.seed, self.max_candidates)
        known = set.intersection(*(set(c.costs) for c in pool)) if pool else set()
        self._sign = np.array([1.0 if o.direction == "maximize" else -1.0 for o in self.objectives])
        self._known_axes = [j for j, o in enumerate(self.objectives) if o.key in known]
        self._x = torch.tensor(features([c.config for c in pool], [c.costs for c in pool]), dtype=torch.float64)
        self._costs = torch.tensor([[self._sign[j] * float(c.costs[self.objectives[j].key])
                                     for j in self._known_axes] for c in pool], dtype=torch.float64)
        # A candidate is looked up by a random projection of its features (the pool's rows are distinct).
        generator = torch.Generator().manual_seed(12345)
        self._direction = torch.rand(self._x.shape[1], generator=generator, dtype=torch.float64) + 0.5
        hashes = self._x @ self._direction
        self._hash_sorted, self._hash_order = torch.sort(hashes)
        self._order = [int(i) for i in np.random.default_rng(self.seed).permutation(len(pool))]
        self._pool = pool
        return pool

    def _lookup(self, x: "torch.Tensor") -> "torch.Tensor":
        """Pool rows of feature vectors ``x`` (any batch shape; each is a pool row)."""
        import torch

        h = x @ self._direction
        right = torch.searchsorted(self._hash_sorted, h).clamp(max=len(self._hash_sorted) - 1)
        left = (right - 1).clamp(min=0)
        pick = torch.where((self._hash_sorted[left] - h).abs() <= (self._hash_sorted[right] - h).abs(), left, right)
        return self._hash_order[pick]

    def propose(self, study: "optuna.Study", known: Mapping[str, int]) -> Proposal | None:
        pool = self._prepare()
        index, free, rows = pool_state("botorch", pool, study, known)
        trained = {i: values for i, values, _ in rows}
        if len([k for k in known if k in index]) < self.initial or len(trained) < 2:
            i = next(i for i in self._order if pool[i].key not in known)
            return Proposal(dict(pool[i].params), {"proposal": "initial design"})
        running = [index[k] for k in known if k in index and index[k] not in trained]
        i, value = self._best(free, trained, running)
        return Proposal(dict(pool[i].params), {"proposal": "qLogNEHVI", "acquisition": value})

    def _best(self, free: list[int], trained: Mapping[int, Sequence[float]], running: list[int]) -> tuple[int, float]:
        import torch
        from botorch.acquisition.multi_objective.logei import qLogNoisyExpectedHypervolumeImprovement
        from botorch.fit import fit_gpytorch_mll
        from botorch.models import ModelList, SingleTaskGP
        from botorch.models.deterministic import GenericDeterministicModel
        from botorch.optim.optimize import optimize_acqf_discrete
        from botorch.utils.multi_objective.hypervolume import infer_reference_point
        from botorch.utils.multi_objective.pareto import is_non_dominated
        from gpytorch.mlls import ExactMarginalLogLikelihood

        rows = torch.tensor(list(trained))
        y = torch.tensor([list(v) for v in trained.values()], dtype=torch.float64) * torch.tensor(self._sign)
        x = self._x[rows]
        with torch.random.fork_rng(), warnings.catch_warnings():
            warnings.simplefilter("ignore")  # BoTorch's input-scaling and numerical notes on small data
            torch.manual_seed(self.seed * 100_003 + len(trained))
            models: list[Any] = []
            for j in range(len(self.objectives)):
                if j in self._known_axes:
                    column = self._known_axes.index(j)
                    models.append(GenericDeterministicModel(
                        lambda X, c=column: self._costs[self._lookup(X), c].unsqueeze(-1), num_outputs=1))
                else:
                    gp = SingleTaskGP(x, y[:, j:j + 1])
                    if j in self._fitted:  # start from the last fit's hyper-parameters (data statistics excluded)
                        gp.load_state_dict(self._fitted[j], strict=False)
                    fit_gpytorch_mll(ExactMarginalLogLikelihood(gp.likelihood, gp))
                    self._fitted[j] = {k: v for k, v in gp.state_dict().items()
                                       if not k.startswith("outcome_transform")}
                    models.append(gp)
            model = ModelList(*models)
            ref_point = infer_reference_point(y[is_non_dominated(y)])
            acquisition = qLogNoisyExpectedHypervolumeImprovement(
                model, ref_point=ref_point.tolist(), X_baseline=x, prune_baseline=True,
                X_pending=self._x[running] if running else None)
            choice, value = optimize_acqf_discrete(acquisition, q=1, choices=self._x[free])
        i = int(self._lookup(choice)[0])
        return i, float(value.reshape(-1)[0])
