"""A nas-sr search space in Optuna's terms: the distribution of every parameter that
:meth:`SearchSpace.suggest <nas_sr.space.SearchSpace.suggest>` may ask, and the space as a
define-by-run function for Ray Tune's ``OptunaSearch``.

>>> from nas_sr.space import SearchSpace
>>> space = SearchSpace.from_dict({"name": "t", "scales": [2, 3], "branches": [
...     {"family": "espcn", "params": {"width1": 0, "width2": [3, 9]}}, {"family": "bicubic"}]})
>>> sorted(distributions(space))
['branch', 'espcn.width2', 'scale']
>>> lowest_params(space, "espcn")
{'branch': 'espcn', 'scale': 2, 'espcn.width2': 3}
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Sequence

from optuna.distributions import BaseDistribution, CategoricalDistribution, FloatDistribution, IntDistribution

if TYPE_CHECKING:
    import optuna

    from nas_sr.space import SearchSpace


def distributions(space: "SearchSpace") -> dict[str, BaseDistribution]:
    """Every parameter ``space.suggest`` may ask, over all branches, with its distribution."""
    out: dict[str, BaseDistribution] = {}
    for branch in space.branches:
        out.update(_Recorder.run(space, branch.name).distributions)
    return out


def lowest_params(space: "SearchSpace", branch: str) -> dict[str, Any]:
    """The parameters of ``branch``'s configuration at every hyper-parameter's lowest value."""
    return _Recorder.run(space, branch).params


def contains(distribution: BaseDistribution, value: Any) -> bool:
    """Whether ``value`` is one of ``distribution``'s (bounds only for a stepped range)."""
    if isinstance(distribution, CategoricalDistribution):
        return value in distribution.choices
    if isinstance(distribution, (IntDistribution, FloatDistribution)):
        return isinstance(value, (int, float)) and distribution.low <= value <= distribution.high
    return False


class DefineByRun:
    """A define-by-run search space for ``OptunaSearch``: the whole configuration under ``key``."""

    def __init__(self, space: "SearchSpace", key: str = "model") -> None:
        self.space, self.key = space, key

    def __call__(self, trial: optuna.Trial) -> dict[str, Any]:
        return {self.key: self.space.suggest(trial)}


class _Recorder:
    """A stand-in trial for ``space.suggest``: records each suggestion's distribution and answers
    the given branch, else the lowest value."""

    def __init__(self, branch: str) -> None:
        self.branch = branch
        self.distributions: dict[str, BaseDistribution] = {}
        self.params: dict[str, Any] = {}

    @classmethod
    def run(cls, space: "SearchSpace", branch: str) -> "_Recorder":
        recorder = cls(branch)
        try:
            space.suggest(recorder)  # type: ignore[arg-type]
        except Exception:  # noqa: BLE001 - the lowest values may not combine; every suggestion is recorded
            pass
        return recorder

    def _answer(self, name: str, distribution: BaseDistribution, value: Any) -> Any:
        self.distributions[name], self.params[name] = distribution, value
        return value

    def suggest_categorical(self, name: str, choices: Sequence[Any]) -> Any:
        return self._answer(name, CategoricalDistribution(list(choices)), self.branch if name == "branch" else choices[0])

    def suggest_int(self, name: str, low: int, high: int, *, step: int = 1, log: bool = False) -> int:
        return self._answer(name, IntDistribution(low, high, log=log, step=step), low)

    def suggest_float(self, name: str, low: float, high: float, *, step: float | None = None,
                      log: bool = False) -> float:
        return self._answer(name, FloatDistribution(low, high, log=log, step=step), low)
