"""Exact expected hypervolume improvement with one uncertain objective (the ``cost-aware`` strategy's
acquisition, :mod:`nas_sr.search.cost_aware`).

With one objective normal and the others known, the improvement of a value ``p`` is a
piecewise-linear function of it, whose expectation has a closed form (:func:`expected_hvi`);
:func:`uncovered` gives each piece's measure.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import numpy as np


def uncovered(front: "np.ndarray", boxes: "np.ndarray", reference: "np.ndarray") -> "np.ndarray":
    """For each box ``[reference, boxes[i]]`` (bigger is better), its measure that no point of
    ``front`` dominates.

    >>> import numpy as np
    >>> uncovered(np.array([[1.0, 0.5]]), np.array([[1.0, 1.0], [0.5, 0.5]]), np.zeros(2)).tolist()
    [0.5, 0.0]
    """
    import numpy as np

    boxes = np.maximum(boxes, reference)
    volume = np.prod(boxes - reference, axis=1)
    if len(front) == 0 or boxes.shape[1] == 0:
        return volume if len(front) == 0 else np.zeros(len(boxes))
    clipped = np.maximum(np.minimum(front[None, :, :], boxes[:, None, :]) - reference, 0.0)  # (C, n, d)
    if boxes.shape[1] == 1:
        return volume - clipped[:, :, 0].max(axis=1)
    if boxes.shape[1] == 2:
        order = np.argsort(-front[:, 0], kind="stable")  # clipping keeps this order for every box
        x, y = clipped[:, order, 0], clipped[:, order, 1]
        before = np.concatenate([np.zeros((len(boxes), 1)), np.maximum.accumulate(y, axis=1)[:, :-1]], axis=1)
        return volume - (x * np.maximum(y - before, 0.0)).sum(axis=1)
    from nas_sr.study.front import hypervolume

    zero = np.zeros(boxes.shape[1])
    return volume - np.array([hypervolume(-c, zero) for c in clipped])  # points on an axis add nothing


def expected_hvi(front: "np.ndarray", others: "np.ndarray", mean: "np.ndarray", std: "np.ndarray",
                 reference: "np.ndarray", axis: int = 0) -> "np.ndarray":
    """Expected hypervolume improvement of candidates whose objective ``axis`` is normal
    (``mean``, ``std``) and whose other objectives are ``others`` (bigger is better, all).

    The improvement of a value ``p`` is the integral from the reference to ``p`` of the measure
    of the candidate's box (other axes) left uncovered by the front points above each level, a
    step function between the front's values on ``axis``; its expectation is exact.

    >>> import numpy as np
    >>> ehvi = expected_hvi(np.array([[0.5, 0.5]]), np.array([[1.0]]), np.array([0.5]), np.array([1e-9]),
    ...                     np.zeros(2))
    >>> round(float(ehvi[0]), 6)  # the box [0, 0.5] x [0.5, 1.0] beyond the front point
    0.25
    """
    import numpy as np
    from scipy.stats import norm

    others_ref = np.delete(reference, axis)
    levels_all = front[:, axis]
    order = np.argsort(levels_all, kind="stable")
    front, levels = front[order], levels_all[order]
    keep = levels > reference[axis]
    front, levels = front[keep], levels[keep]
    breaks = np.concatenate([[reference[axis]], levels, [np.inf]])
    std = np.maximum(std, 1e-12)

    def partial(a: float) -> "np.ndarray":  # E[(p - a)+]
        if math.isinf(a):
            return np.zeros_like(mean)
        z = (mean - a) / std
        return (mean - a) * norm.cdf(z) + std * norm.pdf(z)

    total = np.zeros(len(mean))
    upper = partial(breaks[0])
    for k in range(len(breaks) - 1):
        lower, upper = upper, partial(breaks[k + 1])
        weight = lower - upper  # E[(min(p, b_k+1) - b_k)+]
        if not (weight > 0).any():
            continue
        total += weight * uncovered(np.delete(front[k:], axis, axis=1), others, others_ref)
    return total


def non_dominated(points: "np.ndarray") -> "np.ndarray":
    """The rows of ``points`` (bigger is better) that no other row dominates; equal rows are kept
    once. The hypervolume, and so every improvement over it, is that of these rows alone.

    >>> import numpy as np
    >>> non_dominated(np.array([[1.0, 0.0], [0.5, 0.5], [0.4, 0.4], [0.5, 0.5]])).tolist()
    [[1.0, 0.0], [0.5, 0.5]]
    """
    import numpy as np

    from nas_sr.study.front import pareto_mask

    if not len(points):
        return points
    points = np.unique(points, axis=0)[::-1]
    return points[pareto_mask(-points)]

