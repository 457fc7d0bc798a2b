"""The ``cost-aware`` strategy: train only the candidates that can still grow the Pareto front.

Costs (parameters, FLOPs) need no training, so the strategy knows them for every candidate: all
configurations of a finite space (up to :data:`MAX_CANDIDATES`), else a seeded random sample of
:data:`SAMPLED_CANDIDATES`. Candidates that violate a constraint on a known cost are never
proposed. After a small initial design (each family's smallest and largest candidate by the first
known cost: they bound the family's curve; then a few inner ones drawn with the seed, so that runs
with different seeds differ), each proposal is the untrained candidate of highest **expected
hypervolume improvement** (EHVI) of the front of the trained trials, under a Gaussian-process model of the
objective that needs training (PSNR), fitted on the trained candidates (scikit-learn's
``GaussianProcessRegressor``; features: one-hot family and scale, log costs, each family's
hyper-parameters, sizes that span a factor of 4 or more on a log scale). Its kernel is a Matern
term plus a linear one (within a family PSNR mostly rises with its sizes), with a noise floor
(neighbouring sizes are never exactly on a smooth curve) and length-scales of at most twice a
feature's range (else it extrapolates with false certainty); trained values below a floor (a
quantile of them: perhaps failed trainings) are raised to it and taken as censored, with a large
noise; its standard deviations are scaled so that the trained trials' leave-one-out errors are
one standard deviation typical (a calibration in closed form from the fitted kernel matrix). The
EHVI is exact, not sampled: with one uncertain objective the improvement is a piecewise-linear
function of it, whose expectation under a normal prediction has a closed form
(:func:`expected_hvi`). Other objectives unknown before training (latency when it is measured
with the trial) are predicted by their own model's mean. Running trials count on the front at
one standard deviation below their predicted mean, and the model takes them as data at that value
(a pessimistic "kriging believer"), so concurrent proposals spread rather than pile onto one
region; while fewer than two results are in, the next trial is the candidate farthest from every
one tried or running.

Each proposed trial records why (user attributes): ``proposal`` (``initial design`` or
``expected HV improvement``), ``predicted_objective``, ``predicted_mean``, ``predicted_std``
and ``acquisition`` (the EHVI, on the strategy's unit scales: each objective's range over the
candidates or the trained trials, reference point at -0.02 on every axis).
"""

from __future__ import annotations

import math
import warnings
from typing import TYPE_CHECKING, Any, Mapping, Sequence

# Re-exported: this module's API before nas_sr.search.ehvi and nas_sr.search.candidates held them.
from nas_sr.search.candidates import (MAX_CANDIDATES, SAMPLED_CANDIDATES, Candidate,  # noqa: F401
                                      candidates, features, pool_state)
from nas_sr.search.ehvi import expected_hvi, non_dominated, uncovered  # noqa: F401
from nas_sr.search.strategy import CostFn, Proposal, Strategy, register_strategy

if TYPE_CHECKING:
    import numpy as np
    import optuna

    from nas_sr.search.constraints import Constraint
    from nas_sr.search.objectives import Objective
    from nas_sr.space import SearchSpace

#: Reference point on the strategy's unit scales (every axis): just below the worst values, so that
#: the hypervolume weighs a dense front's interior, where most of its points lie, more than its
#: extremes. On eSR-Bench (10 seeds) -0.02 rather than -0.1 took C x2 from 61 to 57 evaluations to
#: 98 %, B x2 from 52.5 to 51.5, A x4 from 35.5 to 35; C x4 from 76 to 86.5 (docs/esr_bench.md).
REFERENCE = -0.02


@register_strategy("cost-aware")
class CostAwareStrategy(Strategy):
    """Propose the candidate of highest expected hypervolume improvement (see the module)."""

    name = "cost-aware"
    #: Trained values below this quantile (the floor) are raised to it before the model is fitted
    #: (the front is made of the top half; the rest says only "at most the median": 0.25 -> 0.5 took
    #: eSR-Bench's B x3 from 53.5 to 46 evaluations to 98 %, B x4 from 63 to 53, C x3 from 57 to 49.5)...
    floor_quantile = 0.5
    #: ... and taken with this noise variance (on the normalised objective: 1 is the variance of
    #: the trained values), as censored. Over 20 eSR-Bench seeds B x3's median evaluations to 98 %
    #: fall from 66 to 53.5 with 1 (62.5 with 0.3; 44 with 3, but B x4 and C x4 then lose).
    censored_noise = 1.0
    #: Shortest length-scale of the model (features are in [0, 1]): no candidate is an island.
    min_length_scale = 0.1
    #: Longest length-scale: a fitted model that calls the objective flat over a whole feature's
    #: range extrapolates with false certainty (it predicted an unexplored ESPCN width 0.6 dB
    #: low at a spread of 0.05 dB), and the search stops looking there.
    max_length_scale = 2.0
    #: Smallest noise variance of the model (on the normalised objective): neighbouring sizes of a
    #: family differ by more than a smooth curve says, so no prediction is certain.
    noise_floor = 1e-2
    #: Bounds of the factor on predicted standard deviations that makes the trained trials'
    #: leave-one-out errors one standard deviation typical (median |z| = 0.6745).
    std_scale_bounds = (0.3, 3.0)
    #: The model's hyper-parameters are fitted again every this many trained trials, every 5 %
    #: more beyond 200 (in between: the last ones, on all the data).
    refit_every = 5
    #: Initial design: this many candidates per family (its smallest, its largest, then seeded
    #: inner ones), at most ``max_initial`` in all and, beyond the extremes, half the trial budget.
    per_family = 3
    max_initial = 16
    #: The model is fitted on at most this many trained trials (:meth:`_fit_rows`): a proposal
    #: then costs about the same at 200 trials in the study as at 5000.
    max_fit_rows = 200
    #: A study's first fit of the hyper-parameters on more rows than this starts on a subsample
    #: of this many (:meth:`_predict`): a search resumed on 5000 trials proposes in a second.
    first_fit_rows = 60
    #: A running trial is taken (on the front, and as the model's data) this many of its predicted
    #: standard deviations below its predicted mean: the front is not credited with more than a
    #: pending trial is likely to show. With 8 trials in flight, 1 rather than 0 (the mean) took
    #: eSR-Bench's A x2 from 38 to 35.5 evaluations to 98 % (20 seeds; sequential: 31); 2 gave 42
    #: on seeds 10-19 (docs/esr_bench.md).
    pending_lie = 1.0

    def __init__(self, space: "SearchSpace", objectives: Sequence["Objective"], cost_fn: CostFn, *,
                 constraints: Sequence["Constraint"] = (), seed: int = 0, initial: int | None = None,
                 trials: int | None = None, max_candidates: int = MAX_CANDIDATES,
                 front_tolerance: float = 0.0) -> None:
        super().__init__(seed)
        self.front_tolerance = front_tolerance
        self.space, self.objectives, self.cost_fn, self.trials = space, list(objectives), cost_fn, trials
        self.constraints, self.initial, self.max_candidates = list(constraints), initial, max_candidates
        self._pool: list[Candidate] | None = None
        self._features: Any = None
        self._order: list[int] = []
        self._kernels: dict[int, Any] = {}
        self._fitted_at: dict[int, int] = {}

    @classmethod
    def create(cls, name: str, space: "SearchSpace", objectives: Sequence["Objective"], *, seed: int = 0,
               trials: int = 20, constraints: Sequence["Constraint"] = (), cost_fn: CostFn | None = None,
               front_tolerance: float = 0.0) -> Strategy:
        if cost_fn is None:
            raise ValueError("the cost-aware strategy needs a cost function for its candidates")
        return cls(space, objectives, cost_fn, constraints=constraints, seed=seed, trials=trials,
                   front_tolerance=front_tolerance)

    # -- the candidates and what is known of them -------------------------------------------------
    def _prepare(self) -> list[Candidate]:
        if self._pool is not None:
            return self._pool
        import numpy as np

        pool = candidates(self.space, self.cost_fn, self.seed, self.max_candidates)
        known = set.intersection(*(set(c.costs) for c in pool)) if pool else set()
        self.known_axes = [j for j, o in enumerate(self.objectives) if o.key in known]
        unknown = [j for j in range(len(self.objectives)) if j not in self.known_axes]
        self.modelled = unknown[0] if unknown else 0
        self.plugged = unknown[1:]
        cost_constraints = [c for c in self.constraints if c.objective.key in known]
        pool = [c for c in pool if all(k.violation(c.costs) <= 0 for k in cost_constraints)]
        self._pool = pool
        self._features = features([c.config for c in pool], [c.costs for c in pool])
        self._sign = np.array([1.0 if o.direction == "maximize" else -1.0 for o in self.objectives])
        self._order = self._initial_design(pool)
        return pool

    def _initial_design(self, pool: list[Candidate]) -> list[int]:
        """Candidate indices: each family's smallest and largest, then (if more are wanted) one
        drawn from each of the families' inner cost-quantile bins, families in turn."""
        import numpy as np

        rng = np.random.default_rng(self.seed)
        families = sorted({c.config["family"] for c in pool})
        wanted = self.initial
        if wanted is None:
            wanted = min(self.max_initial, max(5, self.per_family * len(families)))
            if self.trials is not None:  # a short search keeps most of its trials for the model
                wanted = min(wanted, max(2 * len(families), self.trials // 2))
        # "Size": the first known cost objective, smaller is cheaper (else the first cost there is).
        axis = self.known_axes[0] if self.known_axes else None
        key = self.objectives[axis].key if axis is not None else min(pool[0].costs, default=None) if pool else None
        sign = -1.0 if axis is not None and self.objectives[axis].direction == "maximize" else 1.0
        size = np.array([sign * float(c.costs.get(key, 0.0)) if key else 0.0 for c in pool])
        picks = max(2, math.ceil(wanted / max(1, len(families))))
        per_family = []
        for family in families:
            members = sorted((i for i, c in enumerate(pool) if c.config["family"] == family), key=lambda i: size[i])
            inner = members[1:-1]
            bins = [inner[int(j / (picks - 2) * len(inner)):max(int(j / (picks - 2) * len(inner)) + 1,
                                                                 int((j + 1) / (picks - 2) * len(inner)))]
                    for j in range(picks - 2)] if inner else []
            # The extremes bound the family's curve; inner ones are drawn (seeded) from cost-quantile bins.
            chosen = [members[0], members[-1]] + [b[int(rng.integers(len(b)))] for b in bins if b]
            per_family.append(list(dict.fromkeys(chosen)))
        order = [f[j] for j in range(picks) for f in per_family if j < len(f)]
        return order[:wanted]

    # -- proposing --------------------------------------------------------------------------------
    def propose(self, study: "optuna.Study", known: Mapping[str, int]) -> Proposal | None:
        pool = self._prepare()
        index, free, trained = pool_state(self.name, pool, study, known)
        for i in self._order:
            if len(trained) >= len(self._order):
                break
            if pool[i].key not in known:
                return Proposal(dict(pool[i].params), {"proposal": "initial design"})
        if len(trained) < 2:  # nothing to model yet (failed or pending trials): fill the space
            i = self._farthest(free, [index[k] for k in known if k in index])
            return Proposal(dict(pool[i].params), {"proposal": "initial design"})
        return self._best(pool, free, trained, [index[k] for k in known if k in index])

    def _farthest(self, free: list[int], taken: list[int]) -> int:
        """The free candidate farthest (in features) from every evaluated or running one: with many
        workers the initial design runs out before results come back, and the next trials spread."""
        import numpy as np

        if not taken:
            return free[0]
        x = self._features
        gaps = ((x[free][:, None, :] - x[taken][None, :, :]) ** 2).sum(axis=2).min(axis=1)
        return free[int(np.argmax(gaps))]

    def _best(self, pool: list[Candidate], free: list[int], trained: list[tuple[int, list[float], bool]],
              running: list[int]) -> Proposal:
        import numpy as np

        rows = np.array([i for i, _, _ in trained])
        values = np.array([v for _, v, _ in trained]) * self._sign  # bigger is better
        feasible = np.array([f for _, _, f in trained])
        n_obj = len(self.objectives)
        points = np.zeros((len(pool), n_obj))  # every candidate's (predicted) value per axis
        for j in self.known_axes:
            points[:, j] = [self._sign[j] * float(c.costs[self.objectives[j].key]) for c in pool]
        m = self.modelled
        mean = np.zeros(len(pool))
        std = np.zeros(len(pool))
        done = {int(i) for i in rows}
        pending = np.array([i for i in running if i not in done], dtype=int)
        fit = self._fit_rows(values, points[rows])
        for j in [m, *self.plugged] if m not in self.known_axes else self.plugged:
            mu, sd = self._predict(j, rows[fit], values[fit, j], pending, trained=len(rows))
            points[:, j] = mu
            if j == m:
                mean, std = mu, sd
        if m in self.known_axes:
            mean, std = points[:, m], np.zeros(len(pool))
        points[rows] = values  # trained: what was measured
        low = np.minimum(points.min(axis=0), values.min(axis=0))
        high = np.maximum(points.max(axis=0), values.max(axis=0))
        for j in [m, *self.plugged]:  # an unknown objective's scale: the trained values
            low[j], high[j] = values[:, j].min(), values[:, j].max()
        span = np.where(high > low, high - low, 1.0)
        unit = (points - low) / span
        front_rows = [int(i) for i, f in zip(rows, feasible) if f] + [i for i in running if i not in done]
        front = unit[front_rows] if front_rows else np.zeros((0, n_obj))
        if self.front_tolerance:  # the front is reported with its uncertainty: near-ties count too
            front[:, m] -= self.front_tolerance / span[m]
        front = non_dominated(front)  # the same hypervolume; EHVI's cost grows with the front's size
        reference = np.full(n_obj, REFERENCE)
        others = np.delete(unit[free], m, axis=1)
        score = expected_hvi(front, others, (mean[free] - low[m]) / span[m], std[free] / span[m], reference, m)
        best = int(np.argmax(score))
        i = free[best]
        name = self.objectives[m].name
        return Proposal(dict(pool[i].params), {
            "proposal": "expected HV improvement", "predicted_objective": name,
            "predicted_mean": float(self._sign[m] * mean[i]), "predicted_std": float(std[i]),
            "acquisition": float(score[best])})

    def _fit_rows(self, values: "np.ndarray", known: "np.ndarray") -> "np.ndarray":
        """Which trained trials the model is fitted on: all of them up to ``max_fit_rows``, so that a
        proposal's cost stays bounded as the study grows. Beyond that, half are the best (on the
        modelled objective) of each of ``max_fit_rows / 8`` bins of the first known cost, the
        neighbourhood of the front where the model must be right, and half a seeded sample of the others."""
        import numpy as np

        n, limit = len(values), self.max_fit_rows
        if n <= limit:
            return np.arange(n)
        cost = known[:, self.known_axes[0]] if self.known_axes else np.zeros(n)
        bins = np.searchsorted(np.quantile(cost, np.linspace(0, 1, limit // 8 + 1)[1:-1]), cost)
        score = values[:, self.modelled]
        front = [i for b in np.unique(bins) for i in np.flatnonzero(bins == b)[np.argsort(-score[bins == b])][:4]]
        rest = np.setdiff1d(np.arange(n), front)
        sample = np.random.default_rng([self.seed, n]).choice(rest, limit - len(front), replace=False)
        return np.sort(np.concatenate([np.asarray(front, dtype=int), sample]))

    def _refit_due(self, last: int | None, trained: int) -> bool:
        """Whether the hyper-parameters are fitted again at ``trained`` trained trials (last fit at
        ``last``): each time the count passes a multiple of ``refit_every``, of 5 % of it beyond 100."""
        step = max(self.refit_every, 5 * (trained // 100))
        return last is None or trained // step > last // step

    def _predict(self, axis: int, rows: "np.ndarray", target: "np.ndarray",
                 pending: "np.ndarray | None" = None, trained: int | None = None) -> tuple["np.ndarray", "np.ndarray"]:
        """Mean and standard deviation of objective ``axis`` (bigger-is-better sign) for every
        candidate. ``pending``: candidates being trained (running trials), fantasised at their
        predicted mean less ``pending_lie`` standard deviations (a pessimistic "kriging believer":
        the same kernel, refitted with them as data), so the model is sure of them and of their
        close neighbours, and concurrent proposals spread."""
        import numpy as np
        import scipy.linalg
        from sklearn.exceptions import ConvergenceWarning
        from sklearn.gaussian_process import GaussianProcessRegressor
        from sklearn.gaussian_process.kernels import ConstantKernel, DotProduct, Matern, WhiteKernel
        from threadpoolctl import threadpool_limits

        x = self._features
        # The front lives at the top, and a value below the floor may be a training that failed
        # (the table's ESPCN x3 with width2=3 ends under bicubic at 7 of its 10 widths, 1.3-2.1 dB
        # over it at the other 3): it says only "at most the floor". So it is raised to the floor
        # (else it widens every prediction) and taken as censored, with noise ``censored_noise``
        # (else it drags its untried neighbours down, and the search stops looking there).
        floor = np.quantile(target, self.floor_quantile)
        noise = np.where(target < floor, self.censored_noise, 1e-10)  # 1e-10: sklearn's default jitter
        target = np.maximum(target, floor)
        kernel = self._kernels.get(axis)
        # Every ``refit_every`` results while they are few; in a large study every 5 % more of them
        # (the hyper-parameters barely move, and a refit is most of a proposal's cost). Counted in
        # trained trials, not fitted rows: those stop growing at ``max_fit_rows``.
        trained = len(rows) if trained is None else trained
        refit = kernel is None or self._refit_due(self._fitted_at.get(axis), trained)
        if kernel is None:
            kernel = (ConstantKernel(1.0, (1e-2, 1e2))
                      * Matern(length_scale=np.ones(x.shape[1]), nu=2.5,
                               length_scale_bounds=(self.min_length_scale, self.max_length_scale))
                      + WhiteKernel(self.noise_floor, (self.noise_floor, 1e-1)))
            # A linear term: within a family the objective mostly rises (or falls) with its sizes.
            kernel = kernel + ConstantKernel(0.1, (1e-3, 1e2)) * DotProduct(1.0, "fixed")
        # One BLAS thread: on small matrices more threads only wait on each other (10x slower on 2 cores).
        with warnings.catch_warnings(), threadpool_limits(1):
            warnings.simplefilter("ignore", ConvergenceWarning)
            if axis not in self._kernels and len(rows) > self.first_fit_rows:
                # A first fit from the default hyper-parameters takes many L-BFGS steps, each
                # cubic in the rows (6.5 s on 200 rows): those steps are taken on a seeded
                # subsample, and the full fit starts from where they end (a few steps).
                sub = np.sort(np.random.default_rng([self.seed, len(rows)]).choice(
                    len(rows), self.first_fit_rows, replace=False))
                first = GaussianProcessRegressor(kernel, normalize_y=True, random_state=self.seed, alpha=noise[sub])
                kernel = first.fit(x[rows[sub]], target[sub]).kernel_
            model = GaussianProcessRegressor(kernel, normalize_y=True, random_state=self.seed, alpha=noise,
                                             optimizer="fmin_l_bfgs_b" if refit else None)
            model.fit(x[rows], target)
            mean, std = model.predict(x, return_std=True)
            scale = 1.0
            if len(rows) >= 8:  # calibrate: leave-one-out z-scores of the trained trials (closed form)
                inverse = scipy.linalg.cho_solve((model.L_, True), np.eye(len(rows)))
                z = model.alpha_.ravel() / np.sqrt(np.diag(inverse))
                scale = float(np.clip(np.median(np.abs(z)) / 0.6745, *self.std_scale_bounds))
            self._kernels[axis] = model.kernel_  # the next fit starts from these hyper-parameters
            if refit:
                self._fitted_at[axis] = trained
            if pending is not None and len(pending):
                believer = GaussianProcessRegressor(model.kernel_, normalize_y=True, optimizer=None,
                                                    alpha=np.concatenate([noise, np.full(len(pending), 1e-10)]))
                lie = mean[pending] - self.pending_lie * scale * std[pending]
                believer.fit(x[np.concatenate([rows, pending])], np.concatenate([target, lie]))
                mean, std = believer.predict(x, return_std=True)
        return mean, std * scale
