"""Latency on a target device, predicted from a few measured models, with an uncertainty.

The model is nn-Meter's view of latency, a sum over kernels, fitted per device: latency =
non-negative weights x the candidate's kernel-level costs (:class:`~nas_sr.cost.kernels.KernelCosts`:
an intercept, kernels launched, multiply-adds and bytes per kernel kind, the im2col copy), optionally
this machine's native-path latency as one more column. Ten measurements cannot fit more than that
low-dimensional a model, and the non-negativity keeps it physical (no kernel makes a network faster).
It is fitted to relative errors (a latency table spans 100x; a fixed error in ms would ignore the
fast models) by NNLS.

Families: a device often runs one family's kernels at a different speed than its costs say (on the
edge-SR table's Raspberry Pi, ESPCN is 1.3x slower than the kernel sums of the other families
predict). Each family gets a multiplicative random effect, its measured models' mean log residual
shrunk towards 0 (``n / (n + shrink)``): a family with one measured model moves half way.

Uncertainty: the fit is repeated on bootstrap resamples of the measured models; the spread of their
log predictions (large where the measured models do not pin the weights the candidate depends on),
plus the residual noise and, for a family without a measured model, the spread of the family
effects, is the predicted log-latency's standard deviation.

Which models to measure (:func:`select`): medoids of a k-means clustering of the candidates'
standardized log costs, clusters that already hold a measured model skipped: each measurement stands
for a group of similar candidates, and together they span the kinds of kernels the space has.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Sequence

from nas_sr.cost.kernels import KernelCosts

if TYPE_CHECKING:
    import numpy as np

#: Kernel-level cost columns (after the intercept), and the unit each is counted in.
FEATURES = ("kernels", "conv_macs", "conv_bytes", "conv1x1_macs", "conv1x1_bytes", "deconv_macs", "deconv_bytes",
            "pointwise_bytes", "shuffle_bytes", "unfold_bytes")
_UNIT = {"kernels": 1.0}
_GIGA = 1e9
#: Ridge on the per-kind columns, between "every kind its own weight" (0) and "one throughput and one
#: bandwidth for all kernels" (large); 0.1 was best on each table device (0.01-10 tried; choosing it
#: by leave-one-out from ten models was worse than any fixed value).
RIDGE = 0.1
#: Log-sd added per unit of distance from the nearest measured model (root-mean-square over the
#: standardized log costs): on the edge-SR table the log error of models 0.6 or more away was
#: 0.4-0.7, against 0.05-0.09 within 0.3.
EXTRAPOLATION = 0.5
#: Residual log-sd floor: the repeatability of a latency measurement on a device (about 2 %).
NOISE_FLOOR = 0.02


@dataclass(frozen=True)
class Candidate:
    """What is known of a network without its device: ``key`` (its canonical config), ``family``,
    kernel-level ``costs`` and, optionally, this machine's native-path latency ``native_ms``."""

    key: str
    family: str
    costs: KernelCosts
    native_ms: float | None = None


#: Columns shared by every kernel kind (one throughput for all multiply-adds, one bandwidth for all
#: bytes); the per-kind columns after them only add to these, and are penalized (``ridge``).
SHARED = ("intercept", "kernels", "macs", "bytes")


def design_row(candidate: Candidate, native: bool = False) -> list[float]:
    """The candidate's row of the design matrix: :data:`SHARED` columns (1, kernels, all
    multiply-adds, all bytes), then the per-kind :data:`FEATURES` but ``kernels`` (in G), then
    ``native_ms / 100`` with ``native``."""
    costs = candidate.costs
    row = [1.0, float(costs.kernels), costs.macs / _GIGA, costs.bytes / _GIGA]
    row += [float(getattr(costs, name)) / _UNIT.get(name, _GIGA) for name in FEATURES[1:]]
    if native:
        if candidate.native_ms is None:
            raise ValueError(f"{candidate.key}: no native-path latency, and the predictor uses it")
        row.append(candidate.native_ms / 100.0)
    return row


@dataclass
class _Fit:
    """Weights and family effects (log factors) of one fit."""

    weights: "np.ndarray"
    effects: dict[str, float]


def _fit(x: "np.ndarray", y: "np.ndarray", families: Sequence[str], shrink: float, ridge: float,
         rows: "np.ndarray | None" = None) -> _Fit:
    """NNLS on relative errors (each row weighted by ``rows``) with a ridge on the per-kind columns,
    alternating with the shrunk per-family log residuals."""
    import numpy as np
    from scipy.optimize import nnls

    fam = np.asarray(families)
    factor = np.ones(len(y))
    effects: dict[str, float] = {}
    kinds = len(FEATURES) - 1  # the per-kind columns; a native-path column after them is shared
    penalty = np.zeros((kinds, x.shape[1]))
    penalty[:, len(SHARED):len(SHARED) + kinds] = math.sqrt(ridge) * np.eye(kinds)
    for _ in range(3):  # converges in two: the effects are small next to the weights
        target = y / factor
        rel = x / target[:, None] * (1.0 if rows is None else rows[:, None])
        # Columns on the scale of their share of the latency, so one ridge suits every column.
        scale = np.maximum(np.abs(rel).max(axis=0), 1e-12)
        stacked = np.vstack([rel / scale, penalty])
        ones = np.ones(len(y)) if rows is None else rows
        weights, _ = nnls(stacked, np.r_[ones, np.zeros(kinds)], maxiter=50 * x.shape[1])
        weights = weights / scale
        residual = np.log(y / np.maximum(x @ weights, 1e-12))
        effects = {f: float(residual[fam == f].sum() / ((fam == f).sum() + shrink)) for f in set(families)}
        factor = np.exp([effects[f] for f in families])
    return _Fit(weights, effects)


def _loo(x: "np.ndarray", y: "np.ndarray", families: Sequence[str], shrink: float, ridge: float) -> "np.ndarray":
    """Leave-one-out log residuals ``log(measured / predicted)``."""
    import numpy as np

    out = np.zeros(len(y))
    for i in range(len(y)):
        keep = np.arange(len(y)) != i
        fit = _fit(x[keep], y[keep], [f for j, f in enumerate(families) if j != i], shrink, ridge)
        out[i] = math.log(y[i] / max(float(x[i] @ fit.weights), 1e-9)) - fit.effects.get(families[i], 0.0)
    return out


def _robust_rows(x: "np.ndarray", y: "np.ndarray", families: Sequence[str], shrink: float,
                 ridge: float) -> "np.ndarray":
    """Row weights from leave-one-out residuals: one model that the kernel sums cannot describe (a
    device's own path for it) must not bend the weights of all the others."""
    import numpy as np

    if len(y) < 4:
        return np.ones(len(y))
    r = np.abs(_loo(x, y, families, shrink, ridge))
    # Left out, a typical model is mispredicted by the median error; one mispredicted by more than
    # three times that keeps a small weight only.
    limit = 3.0 * max(NOISE_FLOOR, float(np.median(r)))
    return np.where(r > limit, 0.05, 1.0)


@dataclass
class LatencyPredictor:
    """Latency on one device from measured candidates (:meth:`fit`), for any candidate
    (:meth:`predict`: mean and standard deviation in ms). ``native``: use this machine's native-path
    latency as a column; ``bootstrap`` resamples for the uncertainty; ``shrink``: the family effects'
    pseudo-count; ``ridge`` on the per-kind columns; ``seed`` of the resampling."""

    native: bool = False
    bootstrap: int = 64
    shrink: float = 1.0
    ridge: float = RIDGE
    seed: int = 0
    n_measured: int = field(default=0, init=False)
    _main: _Fit | None = field(default=None, init=False, repr=False)
    _boots: list[_Fit] = field(default_factory=list, init=False, repr=False)
    _noise: float = field(default=NOISE_FLOOR, init=False, repr=False)
    _family_sd: float = field(default=0.1, init=False, repr=False)
    _measured_logs: "np.ndarray | None" = field(default=None, init=False, repr=False)

    def fit(self, candidates: Sequence[Candidate], latencies_ms: Sequence[float]) -> "LatencyPredictor":
        """Fit to measured ``latencies_ms`` of ``candidates`` (two or more, each latency > 0)."""
        import numpy as np

        if len(candidates) != len(latencies_ms):
            raise ValueError(f"{len(candidates)} candidates but {len(latencies_ms)} latencies")
        if len(candidates) < 2:
            raise ValueError(f"a latency predictor needs two or more measured models, got {len(candidates)}")
        y = np.asarray(latencies_ms, dtype=float)
        if not np.all(np.isfinite(y)) or np.any(y <= 0):
            raise ValueError("measured latencies must be finite and positive")
        x = np.array([design_row(c, self.native) for c in candidates])
        families = [c.family for c in candidates]
        ridge = self.ridge
        rows = _robust_rows(x, y, families, self.shrink, ridge)
        self._main = main = _fit(x, y, families, self.shrink, ridge, rows)
        residual = np.log(y / self._mean(x, families, main)) * rows
        active = int((main.weights > 0).sum()) + len(main.effects) / (1 + self.shrink)
        # Unbiased residual sd over what the fit spent; with as many parameters as points, the floor.
        dof = len(y) - active
        self._noise = max(NOISE_FLOOR, math.sqrt(float((residual ** 2).sum()) / dof) if dof >= 1 else NOISE_FLOOR)
        effects = np.array(list(main.effects.values()))
        self._family_sd = max(NOISE_FLOOR, float(np.sqrt((effects ** 2).mean() * (1 + self.shrink))))
        rng = np.random.default_rng(self.seed)
        self._boots = []
        for _ in range(self.bootstrap):
            # Bayesian bootstrap: every model kept, weighted by Dirichlet draws (a resample that
            # drops a family's only model would spread the weights more than the data warrant).
            draw = rng.dirichlet(np.ones(len(y))) * len(y)
            self._boots.append(_fit(x, y, families, self.shrink, ridge, rows * np.sqrt(draw)))
        self._measured_logs = _log_costs(x)
        self.n_measured = len(y)
        return self

    def distance(self, x: "np.ndarray") -> "np.ndarray":
        """Each design row's distance from the nearest measured model: root-mean-square over the log
        costs, standardized by the measured models' spread (at least 1, so a column they all share
        does not make every small difference far)."""
        import numpy as np

        measured = self._measured_logs
        centre, spread = measured.mean(axis=0), np.maximum(measured.std(axis=0), 1.0)
        a, b = (_log_costs(x) - centre) / spread, (measured - centre) / spread
        return np.sqrt(((a[:, None, :] - b[None, :, :]) ** 2).mean(axis=-1).min(axis=1))

    @staticmethod
    def _mean(x: "np.ndarray", families: Sequence[str], fit: _Fit) -> "np.ndarray":
        import numpy as np

        return np.maximum(x @ fit.weights, 1e-9) * np.exp([fit.effects.get(f, 0.0) for f in families])

    def predict(self, candidates: Sequence[Candidate]) -> tuple["np.ndarray", "np.ndarray"]:
        """Mean latency (ms) of each candidate and its standard deviation (ms): the mean times the
        log-latency's sd (resampling spread, residual noise, unmeasured family, distance from the
        measured models)."""
        import numpy as np

        if self._main is None:
            raise ValueError("the latency predictor is not fitted (fit it to measured models first)")
        x = np.array([design_row(c, self.native) for c in candidates])
        families = [c.family for c in candidates]
        mean = self._mean(x, families, self._main)
        logs = np.log([self._mean(x, families, b) for b in self._boots]) if self._boots else np.zeros((1, len(x)))
        unmeasured = np.array([0.0 if f in self._main.effects else self._family_sd ** 2 for f in families])
        far = (EXTRAPOLATION * self.distance(x)) ** 2
        sd_log = np.sqrt(logs.var(axis=0) + self._noise ** 2 + unmeasured + far)
        return mean, mean * sd_log

    @property
    def weights(self) -> dict[str, float]:
        """The fitted weights by column name (ms per unit; ``intercept`` first)."""
        if self._main is None:
            return {}
        names = (*SHARED, *FEATURES[1:], *(("native_ms_per_100",) if self.native else ()))
        return {n: float(w) for n, w in zip(names, self._main.weights)}


def _log_costs(x: "np.ndarray") -> "np.ndarray":
    """Design rows as log costs (intercept dropped; log1p of thousandths, so 0 stays 0)."""
    import numpy as np

    return np.log1p(x[:, 1:] * 1e3)


def _standardized(candidates: Sequence[Candidate], native: bool) -> "np.ndarray":
    import numpy as np

    x = _log_costs(np.array([design_row(c, native) for c in candidates]))
    return (x - x.mean(axis=0)) / np.maximum(x.std(axis=0), 1e-9)


def select(candidates: Sequence[Candidate], k: int, measured: Sequence[int] = (), seed: int = 0,
           native: bool = False) -> list[int]:
    """Indices of ``k`` candidates to measure next (none of ``measured``, the indices already
    measured): medoids of the clusters of a k-means (``len(measured) + k`` clusters) over the
    candidates' standardized log costs that hold no measured candidate, largest clusters first.

    >>> from nas_sr.cost.kernels import KernelCosts
    >>> def c(i, macs): return Candidate(str(i), "f", KernelCosts(macs, macs, 0, 0, 0, 0, 0, 0, 0, 1, 1, 1, (8, 8)))
    >>> pool = [c(i, m) for i, m in enumerate([1e6, 1.1e6, 1.2e6, 1e9, 1.1e9, 1.2e9])]
    >>> sorted(select(pool, 2)) in ([1, 4], [0, 4], [1, 3], [1, 5], [0, 3], [0, 5], [2, 4], [2, 3], [2, 5])
    True
    """
    import numpy as np
    from sklearn.cluster import KMeans

    free = [i for i in range(len(candidates)) if i not in set(measured)]
    k = min(k, len(free))
    if k <= 0:
        return []
    z = _standardized(candidates, native)
    clusters = min(len(measured) + k, len(candidates))
    labels = KMeans(clusters, n_init=4, random_state=seed).fit(z)
    taken = {int(labels.labels_[i]) for i in measured}
    sizes = np.bincount(labels.labels_, minlength=clusters)
    chosen: list[int] = []
    for cluster in sorted(set(range(clusters)) - taken, key=lambda c: -sizes[c]):
        members = [i for i in free if labels.labels_[i] == cluster]
        if members and len(chosen) < k:
            centre = labels.cluster_centers_[cluster]
            chosen.append(min(members, key=lambda i: float(((z[i] - centre) ** 2).sum())))
    # Fewer empty clusters than k (measured ones shared a cluster): the farthest points from the rest.
    picked = list(measured) + chosen
    while len(chosen) < k:
        gaps = np.min(((z[:, None, :] - z[None, picked, :]) ** 2).sum(-1), axis=1) if picked else np.ones(len(z))
        nxt = max((i for i in free if i not in chosen), key=lambda i: gaps[i])
        chosen.append(nxt)
        picked.append(nxt)
    return chosen
