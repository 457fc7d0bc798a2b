"""What no strategy can beat on eSR-Bench: an oracle that knows the table, with trials in flight.

The oracle proposes greedily, each time the configuration of largest hypervolume gain over
everything it has proposed (finished or not: it knows their values). With ``parallel`` trials in
flight the results return in :func:`nas_sr.bench.runner.run_strategy`'s seeded random order, so
even the oracle waits for its best trials, and from scratch its count grows with ``parallel``.

:func:`evals_in_flight` also takes a fixed start: a strategy's first ``parallel`` proposals are
made before any result returns, and the oracle continuing from them bounds what any strategy can
do after that blind start (``benchmarks/parallel_bound.py``).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Sequence

if TYPE_CHECKING:
    from nas_sr.bench.esr import EsrInstance


class Oracle:
    """Greedy proposals by exact hypervolume gain on the instance's unit scales."""

    def __init__(self, instance: "EsrInstance", start: Sequence[str] = ()) -> None:
        import numpy as np

        from nas_sr.bench.esr import COST_REFERENCE, PSNR_REFERENCE

        self.keys = list(instance.units)
        self._index = {k: i for i, k in enumerate(self.keys)}
        self._points = np.array([instance.units[k] for k in self.keys])
        self._reference = np.array([PSNR_REFERENCE] + [COST_REFERENCE] * (self._points.shape[1] - 1))
        self._proposed: list[int] = []  # indices into keys
        self._start = list(start)

    def next(self) -> str | None:
        """The next proposal: the rest of the start, then the configuration of largest gain (None
        when every configuration is proposed)."""
        import numpy as np

        from nas_sr.search.ehvi import non_dominated, uncovered

        if len(self._proposed) < len(self._start):
            i = self._index[self._start[len(self._proposed)]]
        else:
            free = np.setdiff1d(np.arange(len(self.keys)), self._proposed)
            if not len(free):
                return None
            front = non_dominated(self._points[self._proposed])
            i = int(free[np.argmax(uncovered(front, self._points[free], self._reference))])
        self._proposed.append(i)
        return self.keys[i]


def evals_in_flight(instance: "EsrInstance", parallel: int, seed: int, level: float = 0.98,
                    start: Sequence[str] = (), budget: int = 1000) -> int | None:
    """Evaluations (in the order they finish) until the HV ratio reaches ``level``, for the oracle
    after ``start``, with ``parallel`` trials in flight finishing in ``run_strategy``'s order
    (``numpy.random.default_rng([seed, parallel])`` picks which of them finishes next); None if
    it does not within ``budget``."""
    import numpy as np

    oracle = Oracle(instance, start)
    order = np.random.default_rng([seed, parallel])
    in_flight: list[str] = []
    done: list[str] = []
    while len(done) < budget:
        while len(in_flight) < parallel:
            key = oracle.next()
            if key is None:
                break
            in_flight.append(key)
        if not in_flight:
            return None
        done.append(in_flight.pop(int(order.integers(len(in_flight))) if len(in_flight) > 1 else 0))
        if instance.hv_ratio(done) >= level - 1e-12:
            return len(done)
    return None
