"""Search strategies: what configuration a search evaluates next.

A :class:`Strategy` gives the study its Optuna sampler and may :meth:`~Strategy.propose` the next
trial's parameters itself; a proposal is enqueued (``study.enqueue_trial``) and asked like any trial,
so the study stays a plain Optuna study whatever the strategy. Optuna's samplers (``tpe``,
``nsga2``, ``random``) propose nothing: their sampler chooses in ``study.ask``. ``grid`` walks every
configuration; ``cost-aware`` (:mod:`nas_sr.search.cost_aware`, the default of ``nas-sr search``)
spends trainings where the front can still grow.

Strategies register themselves by name, as timm's models and Optuna's samplers do: a class decorated
``@register_strategy("name")`` is what :func:`make_strategy` builds for that name (through its
:meth:`Strategy.create`); :mod:`nas_sr.search` imports the built-in ones, so every name is known once
any of it is imported. A new strategy is a new module that registers itself, imported there too. :func:`next_trial` is the one "ask for the next configuration" step of the search driver
and of the benchmark (:mod:`nas_sr.bench`).

>>> from nas_sr.space import SearchSpace
>>> space = SearchSpace.from_dict({"name": "t", "scales": [2],
...                                "branches": [{"family": "espcn", "params": {"width1": 0, "width2": [3, 9]}}]})
>>> [p["espcn.width2"] for p in grid_params(space)]
[3, 9]
"""

from __future__ import annotations

import itertools
import warnings
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Callable, Iterator, Mapping, Sequence

if TYPE_CHECKING:
    import optuna

    from nas_sr.search.constraints import Constraint
    from nas_sr.search.objectives import Objective
    from nas_sr.space import SearchSpace

#: A candidate's cost attributes (``params``, ``flops``, ...: what is known without training).
CostFn = Callable[[Mapping[str, Any]], Mapping[str, float]]


class SpaceExhausted(Exception):
    """The strategy has no configuration left to propose (the message says why)."""


@dataclass(frozen=True)
class Proposal:
    """Optuna parameters of the next trial (as :meth:`SearchSpace.suggest` names them) and the user
    attributes that explain the choice."""

    params: dict[str, Any]
    user_attrs: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class NextTrial:
    """An asked trial, its canonical config and key, and ``twin``: the trial number that already
    holds (or is running) that config, or None."""

    trial: "optuna.Trial"
    config: dict[str, Any]
    key: str
    twin: int | None


_REGISTRY: dict[str, type["Strategy"]] = {}


def register_strategy(*names: str) -> Callable[[type["Strategy"]], type["Strategy"]]:
    """Class decorator: :func:`make_strategy` builds the class for each of ``names``."""
    def register(cls: type["Strategy"]) -> type["Strategy"]:
        for name in names:
            if name in _REGISTRY and _REGISTRY[name] is not cls:
                raise ValueError(f"strategy {name!r} is registered already ({_REGISTRY[name].__qualname__})")
            _REGISTRY[name] = cls
        return cls
    return register


def strategy_names() -> tuple[str, ...]:
    """The registered strategies, in registration order (importing this module imports
    :mod:`nas_sr.search` first, which registers the built-in ones)."""
    return tuple(_REGISTRY)


def __getattr__(name: str) -> Any:
    if name == "STRATEGIES":  # the registered names (a tuple, as it was when the list was fixed)
        return strategy_names()
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


class Strategy:
    """Chooses configurations; the base class leaves every choice to its Optuna sampler."""

    name = "random"

    def __init__(self, seed: int = 0) -> None:
        self.seed = seed

    @classmethod
    def create(cls, name: str, space: "SearchSpace", objectives: Sequence["Objective"], *, seed: int = 0,
               trials: int = 20, constraints: Sequence["Constraint"] = (), cost_fn: "CostFn | None" = None,
               front_tolerance: float = 0.0) -> "Strategy":
        """The strategy registered as ``name`` for a search (see :func:`make_strategy`)."""
        return cls(seed)

    def sampler(self) -> "optuna.samplers.BaseSampler":
        """The study's sampler (it fills whatever a proposal leaves open)."""
        import optuna

        return optuna.samplers.RandomSampler(seed=self.seed)

    def propose(self, study: "optuna.Study", known: Mapping[str, int]) -> Proposal | None:
        """The next trial's parameters, or None to let the sampler choose; ``known`` maps the config
        key of every evaluated or running configuration to its trial. Raises :class:`SpaceExhausted`."""
        return None


@register_strategy("tpe", "nsga2", "random")
class SamplerStrategy(Strategy):
    """One of Optuna's samplers: ``tpe`` (multivariate, grouped: the space is conditional on the
    branch), ``nsga2`` or ``random``."""

    def __init__(self, name: str, seed: int = 0, trials: int = 20) -> None:
        super().__init__(seed)
        self.name, self.trials = name, trials

    @classmethod
    def create(cls, name: str, space: "SearchSpace", objectives: Sequence["Objective"], *, seed: int = 0,
               trials: int = 20, **context: Any) -> Strategy:
        return cls(name, seed, trials)

    def sampler(self) -> "optuna.samplers.BaseSampler":
        import optuna

        if self.name == "tpe":
            with warnings.catch_warnings():  # multivariate/group are "experimental" in Optuna's words
                warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
                return optuna.samplers.TPESampler(seed=self.seed, n_startup_trials=min(10, max(2, self.trials // 2)),
                                                  multivariate=True, group=True)
        if self.name == "nsga2":
            return optuna.samplers.NSGAIISampler(seed=self.seed, population_size=max(4, min(50, self.trials // 2)))
        return optuna.samplers.RandomSampler(seed=self.seed)


@register_strategy("grid")
class GridStrategy(Strategy):
    """Every configuration once, in :func:`grid_params` order (finite spaces only)."""

    name = "grid"

    def __init__(self, space: "SearchSpace", seed: int = 0) -> None:
        super().__init__(seed)
        self.space = space
        self._grid = iter(list(grid_params(space)))  # a continuous range fails here, before any trial

    @classmethod
    def create(cls, name: str, space: "SearchSpace", objectives: Sequence["Objective"], *, seed: int = 0,
               **context: Any) -> Strategy:
        return cls(space, seed)

    def propose(self, study: "optuna.Study", known: Mapping[str, int]) -> Proposal | None:
        from optuna.trial import FixedTrial

        from nas_sr.models.registry import config_key

        for params in self._grid:
            if config_key(self.space.suggest(FixedTrial(params))) not in known:
                return Proposal(params)
        raise SpaceExhausted("grid: every configuration is evaluated")


def make_strategy(name: str, space: "SearchSpace", objectives: Sequence["Objective"], *, seed: int = 0,
                  trials: int = 20, constraints: Sequence["Constraint"] = (),
                  cost_fn: CostFn | None = None, front_tolerance: float = 0.0) -> Strategy:
    """The strategy registered as ``name`` (:func:`strategy_names`); ``cost_fn`` gives a candidate's
    costs before training (needed by ``cost-aware``); ``front_tolerance``: the margin (in the
    modelled objective's units, dB of PSNR) within which a trial counts as on the reported front."""
    names = strategy_names()
    if name not in names:
        raise ValueError(f"unknown sampler {name!r} (expected one of {', '.join(names)})")
    return _REGISTRY[name].create(name, space, objectives, seed=seed, trials=trials, constraints=constraints,
                                  cost_fn=cost_fn, front_tolerance=front_tolerance)


def next_trial(study: "optuna.Study", space: "SearchSpace", strategy: Strategy | None,
               known: Mapping[str, int]) -> NextTrial:
    """Ask the study for the next trial: the strategy's proposal (enqueued first, with its user
    attributes) or, without one, the sampler's choice. A proposal of every parameter starts RUNNING in
    one transaction (:func:`nas_sr.study.record.start_trial`), its sampler not asked.
    ``strategy=None`` asks for a trial already enqueued (a retry). Raises :class:`SpaceExhausted` from the strategy."""
    from optuna.trial import FixedTrial

    from nas_sr.models.registry import config_key
    from nas_sr.study.record import start_trial

    proposal = strategy.propose(study, known) if strategy is not None else None
    fixed = FixedTrial(proposal.params) if proposal is not None else None
    try:
        config = space.suggest(fixed) if fixed is not None else None
    except ValueError:  # the proposal leaves parameters to the sampler
        config = None
    if proposal is not None and fixed is not None and config is not None and set(fixed.params) == set(proposal.params):
        # Every parameter proposed: the trial starts in one transaction, its sampler not asked.
        trial = start_trial(study, fixed.params, fixed.distributions, proposal.user_attrs)
    else:
        if proposal is not None:
            study.enqueue_trial(proposal.params, user_attrs=proposal.user_attrs or None, skip_if_exists=False)
        trial = study.ask()
        config = space.suggest(trial)
    key = config_key(config)
    return NextTrial(trial, config, key, known.get(key))


def tell_duplicate(study: "optuna.Study", step: NextTrial) -> None:
    """Record a proposal of a known configuration: PRUNED, ``duplicate_of`` its twin's trial."""
    from optuna.trial import TrialState

    from nas_sr.study.record import TrialRecord, write_record

    write_record(step.trial, TrialRecord(config=step.key, extra={"duplicate_of": step.twin}))
    study.tell(step.trial, state=TrialState.PRUNED)


def grid_params(space: "SearchSpace") -> Iterator[dict[str, Any]]:
    """The Optuna parameters (as :meth:`SearchSpace.suggest` names them) of every configuration."""
    from nas_sr.space import Fixed

    for branch in space.branches:
        free = {k: p.values() for k, p in branch.params.items() if not isinstance(p, Fixed)}
        for key, values in free.items():
            if values is None:
                raise ValueError(f"grid sampler: {branch.name}.{key} is continuous; give it a step or a list")
        for scale in space.scales:
            for values in itertools.product(*free.values()):
                params: dict[str, Any] = {"branch": branch.name}
                if len(space.scales) > 1:
                    params["scale"] = scale
                params.update({f"{branch.name}.{k}": v for k, v in zip(free, values)})
                yield params
