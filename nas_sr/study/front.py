"""The Pareto front and the hypervolume: the one implementation every part of nas-sr uses (the
search's reported front, the browser, the cost-aware strategy, early stopping, eSR-Bench).

Points are lists of objective values with a direction each (``maximize``/``minimize``), or, for
:func:`hypervolume`, a loss array (every objective minimised). The arithmetic is Optuna's own
(through :mod:`nas_sr.study._optuna`), so the numbers are those Optuna's samplers see.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Sequence

if TYPE_CHECKING:
    import numpy as np
    from optuna.trial import FrozenTrial

#: Points tested against the strict front at once by :func:`non_dominated` with margins.
BLOCK = 4096


def dominates(a: Sequence[float], b: Sequence[float], directions: Sequence[str]) -> bool:
    """Whether ``a`` is at least as good as ``b`` everywhere and better somewhere.

    >>> dominates([30.0, 1.0], [29.0, 1.0], ["maximize", "minimize"])
    True
    >>> dominates([30.0, 2.0], [29.0, 1.0], ["maximize", "minimize"])
    False
    """
    sign = [1.0 if d == "minimize" else -1.0 for d in directions]
    pa = [s * v for s, v in zip(sign, a)]
    pb = [s * v for s, v in zip(sign, b)]
    return all(x <= y for x, y in zip(pa, pb)) and any(x < y for x, y in zip(pa, pb))


def non_dominated(points: Sequence[Sequence[float]], directions: Sequence[str],
                  margins: Sequence[float] | None = None) -> list[int]:
    """Indices of the points no other point dominates (equal points all stay). With ``margins``
    (one per objective, in its units) the front is taken with its uncertainty: a point goes only
    when another is better by more than the margin on some objective and by at least it on all.

    >>> non_dominated([[1, 1], [2, 0], [0, 0], [2, 0]], ["maximize", "maximize"])
    [0, 1, 3]
    >>> non_dominated([[32.00, 100], [32.04, 100], [31.0, 100]], ["maximize", "minimize"], [0.05, 0])
    [0, 1]
    """
    import numpy as np

    from nas_sr.study._optuna import is_pareto_front

    if len(points) == 0:
        return []
    sign = np.array([1.0 if d == "minimize" else -1.0 for d in directions])
    loss = np.asarray(points, dtype=float).reshape(len(points), len(directions)) * sign
    if not margins or not any(margins):
        return [int(i) for i in np.flatnonzero(is_pareto_front(loss))]
    lowered = loss - np.asarray(margins, dtype=float)  # each point's loss, less its margin
    # A point that beats another by the margins is dominated by (or is) a point of the strict front,
    # which beats it too: testing against the strict front alone gives the same answer in O(n |front|)
    # (a 100,000-trial study: not 10^10 pairs).
    strict = loss[is_pareto_front(loss)]
    beaten = np.zeros(len(loss), dtype=bool)
    for start in range(0, len(loss), BLOCK):  # in blocks: memory of BLOCK x |front| x objectives
        low = lowered[start:start + BLOCK, None, :]
        beaten[start:start + BLOCK] = ((strict[None, :, :] <= low).all(axis=2)
                                       & (strict[None, :, :] < low).any(axis=2)).any(axis=1)
    return [int(i) for i in np.flatnonzero(~beaten)]


def pareto_mask(loss: "np.ndarray") -> "np.ndarray":
    """Boolean mask of the non-dominated rows of a loss array (every objective minimised).

    >>> import numpy as np
    >>> pareto_mask(np.array([[1.0, 2.0], [2.0, 1.0], [2.0, 2.0]])).tolist()
    [True, True, False]
    """
    from nas_sr.study._optuna import is_pareto_front

    return is_pareto_front(loss)


def margins(objectives: Sequence[Any], tolerance: float) -> list[float]:
    """The front's margin per objective (anything with a ``key``): ``tolerance`` dB on PSNR
    objectives, none on the others.

    >>> from types import SimpleNamespace as O
    >>> margins([O(key="psnr_val"), O(key="params")], 0.05)
    [0.05, 0.0]
    """
    return [tolerance if o.key.startswith("psnr") else 0.0 for o in objectives]


def feasible(trial: "FrozenTrial") -> bool:
    """Whether the trial meets every constraint it recorded."""
    return all(v <= 0 for v in trial.constraints.values())


def hypervolume(loss: Any, reference: Any) -> float:
    """The hypervolume that ``loss`` points (rows; every objective minimised) dominate up to
    ``reference``; points not below the reference on every axis add nothing, and a reference that
    is not finite gives 0 (Optuna's exact hypervolume).

    >>> import numpy as np
    >>> round(hypervolume(-np.array([[1.0, 0.0], [0.5, 1.0]]), -np.array([0.0, -0.1])), 10)
    0.6
    """
    import numpy as np

    from nas_sr.study._optuna import compute_hypervolume

    loss = np.asarray(loss, dtype=float)
    reference = np.asarray(reference, dtype=float)
    if not np.isfinite(reference).all() or loss.size == 0:
        return 0.0
    inside = loss[(loss < reference).all(axis=1)]
    if len(inside) == 0:
        return 0.0
    return compute_hypervolume(inside, reference)


def default_reference(loss: Any) -> Any:
    """Reference point (minimisation space): each objective's worst value pushed out by 10 % of its
    range (by 1 when all trials agree)."""
    import numpy as np

    worst, best = loss.max(axis=0), loss.min(axis=0)
    span = np.where(worst > best, worst - best, 1.0)
    return worst + 0.1 * span


def non_domination_ranks(loss: Sequence[Sequence[float]]) -> list[int]:
    """Non-dominated rank of each point (every objective minimised; 0: the front).

    >>> non_domination_ranks([[1.0, 1.0], [2.0, 2.0], [0.0, 3.0]])
    [0, 1, 0]
    """
    import numpy as np

    from nas_sr.study._optuna import fast_non_domination_rank

    return [int(r) for r in fast_non_domination_rank(np.asarray(loss, dtype=float))]


def crowding_distances(values: Sequence[Sequence[float]]) -> list[float]:
    """NSGA-II's crowding distance of each point (boundary points: inf).

    >>> crowding_distances([[0.0, 2.0], [1.0, 1.0], [2.0, 0.0]])
    [inf, 2.0, inf]
    """
    from nas_sr.study._optuna import crowding_distances as optuna_crowding

    return optuna_crowding(values)
